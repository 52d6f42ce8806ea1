"""Anonymous memory of Linux v6.18, mm/memory.c, as a simulated process touches it.

Read in a v6.18.19 tree (6952350/linux-6.18.y @ f3fce0151d48; docs/research/v6-reclaim.md
section 4.1, [MM] line numbers there):

* a store to a page not present faults: ``do_anonymous_page()`` allocates, charges
  (``mem_cgroup_charge``) and adds the folio with ``folio_add_lru_vma()``: new anonymous
  folios start on the **inactive** anon list (classic LRU, no ``folio_set_active``); a page
  that was swapped out comes back through ``do_swap_page()``, where its shadow entry makes
  ``workingset_refault()`` decide whether it starts active;
* a store to a present page sets its PTE's accessed (young) bit: the hardware's doing, which
  ``folio_referenced()`` later tests and clears. The faulting store itself leaves the PTE
  young (the CPU sets the bit when it retries the store).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from memcglab.kernel.context import KernelContext
from memcglab.kernel.iterator import MemcgIter
from memcglab.kernel.v6_18.context import TaskStruct
from memcglab.kernel.v6_18.filemap import add_folio
from memcglab.runtime.ops import Kind, Op


def handle_mm_fault(k: KernelContext, variant: MemcgIter, current: TaskStruct,
                    mapping: int, index: int, zones: tuple[int, ...]
                    ) -> Generator[Op, Any, bool]:
    """A store to anonymous page ``index``: present (young bit) or a fault
    (``do_anonymous_page`` / ``do_swap_page``, both through :func:`add_folio`)."""
    page: int | None = yield Op(Kind.ACCESS, mapping, index)
    if page is None:
        page = yield from add_folio(k, variant, current, True, mapping, index, zones)
        if page < 0:
            return False  # VM_FAULT_OOM
    k.mm.pages.young[page] = 1
    return True
