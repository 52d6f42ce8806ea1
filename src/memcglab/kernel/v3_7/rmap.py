"""mm/rmap.c of Linux v3.7: the reverse map's two calls reclaim and the anon fault make.

Read in the v3.7.2 tree of :mod:`memcglab.kernel.v3_7`:

* :func:`page_referenced` (rmap.c:836-870): the young bits of the ptes that map the page,
  each tested and cleared (``ptep_clear_flush_young``); PG_referenced is not touched (it has
  not been since page_check_references() took it over, v2.6.34);
* :func:`page_add_new_anon_rmap` (rmap.c:1073-1088): a new anon page goes to the active
  anon list.

A page of the model is mapped by one pte at most: an anon page by its process's page table,
a page-cache page by none (workloads read their files, they do not mmap them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memcglab.kernel.context import KernelContext
from memcglab.kernel.v3_7.swap import lru_cache_add_lru
from memcglab.model.constants import LRU_ACTIVE_ANON
from memcglab.runtime.ops import Op

if TYPE_CHECKING:
    from memcglab.sim.machine import SimMachine


def page_referenced(mm: SimMachine, page: int) -> int:
    """The number of young ptes mapping ``page`` (0 or 1 here), cleared as they are
    counted. Unmapped page cache: 0."""
    pages = mm.pages
    if pages.anon[page] and pages.young[page]:  # page_mapped(): anon pages are mapped
        pages.young[page] = 0
        return 1
    return 0


def page_add_new_anon_rmap(k: KernelContext, page: int, memcg: int, mapping: int,
                           index: int) -> Op:
    """``page_add_new_anon_rmap()``: ``SetPageSwapBacked``, the anon rmap, then
    ``lru_cache_add_lru(page, LRU_ACTIVE_ANON)`` (rmap.c:1084-1085; an mlocked vma's page
    would go to the unevictable list: not modelled). Returns the operation to yield."""
    return lru_cache_add_lru(k, page, LRU_ACTIVE_ANON, memcg, True, mapping, index)
