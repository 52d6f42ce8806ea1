"""Page-cache reads of Linux v6.18, mm/filemap.c: a process reading its file with read(2).

Read in a v6.18.19 tree (6952350/linux-6.18.y @ f3fce0151d48; docs/research/v6-reclaim.md
section 4.2, [FM] line numbers there):

* ``filemap_read()``: find the folio in the page cache; if absent, create it
  (``filemap_create_folio`` -> ``filemap_add_folio``), then ``folio_mark_accessed()``: the
  first read leaves a new folio inactive and referenced, a second read activates it;
* ``filemap_add_folio()``: charge the folio to the reader's memcg (``mem_cgroup_charge``
  with no mm: the current task's memcg), find the shadow entry an earlier eviction left at
  that index and let ``workingset_refault()`` decide whether it starts active, then
  ``folio_add_lru()``.

Readahead is issue 10: each read brings in one 4 KiB folio.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from memcglab.kernel.context import KernelContext
from memcglab.kernel.iterator import MemcgIter
from memcglab.kernel.v6_18.context import TaskStruct
from memcglab.kernel.v6_18.memcontrol import try_charge
from memcglab.kernel.v6_18.page_alloc import alloc_pages
from memcglab.kernel.v6_18.swap import folio_add_lru, folio_mark_accessed
from memcglab.kernel.v6_18.workingset import workingset_refault
from memcglab.runtime.ops import Kind, Op


def add_folio(k: KernelContext, variant: MemcgIter, current: TaskStruct, anon: bool,
              mapping: int, index: int, zones: tuple[int, ...]
              ) -> Generator[Op, Any, int | None]:
    """Allocate, charge, and put a folio at ``index`` of ``mapping``: the part
    ``filemap_add_folio()`` (page cache) and ``do_swap_page()`` / ``do_anonymous_page()``
    (anon) share. A shadow entry at the index is a refault (``workingset_refault``)."""
    page = yield from alloc_pages(k, variant, current, zones)
    if page is None:
        return None
    memcg = current.memcg
    if not (yield from try_charge(k, variant, current, memcg, 1, zones)):
        yield Op(Kind.ADD_PAGE, page, None)  # folio_put(): the page goes back unused
        return None
    mm = k.mm
    shadow = mm.shadows[mapping].pop(index, None)
    active = workingset = False
    if shadow is not None:
        pgdat = mm.pages.vec_of[mm.pages.zone_of[page]]
        active, workingset = workingset_refault(k, memcg, pgdat, not anon, shadow)
    yield Op(Kind.ADD_PAGE, page, (memcg, anon, mapping, index,
                                   folio_add_lru(k, anon, active)))
    if workingset:
        mm.pages.workingset[page] = 1
    return page


def filemap_read(k: KernelContext, variant: MemcgIter, current: TaskStruct, mapping: int,
                 index: int, zones: tuple[int, ...]) -> Generator[Op, Any, bool]:
    """``read(2)`` of one 4 KiB page at ``index``: [FM]:2716-2800."""
    page: int | None = yield Op(Kind.ACCESS, mapping, index)
    if page is None:
        page = yield from add_folio(k, variant, current, False, mapping, index, zones)
        if page is None:
            return False
    folio_mark_accessed(k, page)
    return True
