"""mm/memory.c of Linux v3.7: a process's touch of its anonymous memory, and the fault.

Read in the v3.7.2 tree of :mod:`memcglab.kernel.v3_7`:

* a load or store to a mapped page: the MMU sets the young (accessed) bit of its pte;
* :func:`handle_mm_fault` -> ``do_anonymous_page()`` (memory.c:3134-3195) for a page not
  mapped yet: ``alloc_zeroed_user_highpage_movable()`` (the page allocator,
  :mod:`.page_alloc`), ``mem_cgroup_newpage_charge()``, ``mk_pte()``,
  ``page_add_new_anon_rmap()`` (the active anon list), ``set_pte_at()``.

:func:`touch_page` is what one touch of a workload (:mod:`memcglab.sim.workloads`) does in
the kernel: a ``read()`` of one page of its file (:mod:`.filemap`) or a touch of one page of
its anonymous memory. The fault path enters reclaim through ``yield call(...)``
(:func:`memcglab.runtime.ops.call`): the engine runs it on the task's own stack, so each
reclaim step does not re-enter the fault path's frames.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from memcglab.kernel.context import KernelContext
from memcglab.kernel.iterator import MemcgIter
from memcglab.kernel.v3_7.filemap import do_generic_file_read
from memcglab.kernel.v3_7.memcontrol import mem_cgroup_charge_common
from memcglab.kernel.v3_7.page_alloc import __alloc_pages_nodemask, __free_page
from memcglab.kernel.v3_7.rmap import page_add_new_anon_rmap
from memcglab.runtime.ops import Kind, Op

_new_op = tuple.__new__  # builds an Op without the NamedTuple constructor's extra frame


def do_anonymous_page(k: KernelContext, variant: MemcgIter, memcg: int, mapping: int,
                      index: int, zones: tuple[int, ...], may_swap: bool
                      ) -> Generator[Op, Any, None]:
    """memory.c:3134-3195 for a write fault (a new zeroed page, not the zero page)."""
    page = yield from __alloc_pages_nodemask(k, variant, zones, may_swap)
    if page is None:
        return  # goto oom
    if not (yield from mem_cgroup_charge_common(k, variant, memcg, zones, may_swap)):
        yield __free_page(page)  # oom_free_page: page_cache_release()
        return
    yield page_add_new_anon_rmap(k, page, memcg, mapping, index)
    # set_pte_at() of mk_pte(page, vma->vm_page_prot): the new pte is young (x86's page
    # protections carry _PAGE_ACCESSED, arch/x86/include/asm/pgtable_types.h:84-92), "All
    # mapped pages start out with page table references from the instantiating fault"
    # (vmscan.c:637-640).
    k.mm.pages.young[page] = 1


def handle_mm_fault(k: KernelContext, variant: MemcgIter, memcg: int, mapping: int,
                    index: int, zones: tuple[int, ...], may_swap: bool
                    ) -> Generator[Op, Any, None]:
    """A fault on page ``index`` of anonymous mapping ``mapping``, not mapped yet (no swap-in:
    a page swapped out is gone, its next touch faults a new one)."""
    return do_anonymous_page(k, variant, memcg, mapping, index, zones, may_swap)


def access_anon(k: KernelContext, variant: MemcgIter, memcg: int, mapping: int, index: int,
                zones: tuple[int, ...], may_swap: bool) -> Generator[Op, Any, None]:
    """A load or store to page ``index`` of anonymous mapping ``mapping``."""
    page = yield _new_op(Op, (Kind.ACCESS, mapping, index, ""))  # the MMU's page-table walk
    if page is None:
        yield from handle_mm_fault(k, variant, memcg, mapping, index, zones, may_swap)
    else:
        k.mm.pages.young[page] = 1  # the accessed bit of the pte


def touch_page(k: KernelContext, variant: MemcgIter, memcg: int, anon: bool, mapping: int,
               index: int, zones: tuple[int, ...], may_swap: bool
               ) -> Generator[Op, Any, None]:
    """One touch of page ``index`` of a process's file or anonymous memory (``mapping``),
    by a process in ``memcg`` whose allocations use the zonelist ``zones``. (Returns the
    generator of the path taken rather than being one: one frame fewer per operation.)"""
    if anon:
        return access_anon(k, variant, memcg, mapping, index, zones, may_swap)
    return do_generic_file_read(k, variant, memcg, mapping, index, zones, may_swap)
