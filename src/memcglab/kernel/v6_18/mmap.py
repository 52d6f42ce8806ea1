"""Process exit of Linux v6.18, mm/mmap.c ``exit_mmap()``, for a simulated process's
anonymous mapping (docs/research/v6-alloc-v1.md section 4: the chain above
mm/mmu_gather.c is unconfirmed)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from memcglab.kernel.context import KernelContext
from memcglab.kernel.v6_18.context import TaskStruct
from memcglab.kernel.v6_18.memcontrol import mem_cgroup_uncharge
from memcglab.runtime.ops import Kind, Op


def exit_mmap(k: KernelContext, current: TaskStruct, mapping: int) -> Generator[Op, Any, None]:
    """mm/mmap.c ``exit_mmap()`` for the process's anonymous mapping: every page is
    unmapped, uncharged and freed at once (``folios_put_refs`` -> ``uncharge_batch``), its
    swap entries (the model's shadows) are dropped. Page cache stays charged to the memcg
    that added it (docs/research/v6-alloc-v1.md section 4)."""
    mm = k.mm
    pages = list(mm.mappings[mapping].values())
    for page in pages:
        mem_cgroup_uncharge(k, mm.pages.owner[page])
        mm.free_folio(page)
    mm.shadows[mapping].clear()
    yield Op(Kind.MM_STEP, "exit_mmap")
