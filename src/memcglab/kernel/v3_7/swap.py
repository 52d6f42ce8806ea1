"""mm/swap.c of Linux v3.7: the LRU-list side of a page's use.

Read in the v3.7.2 tree of :mod:`memcglab.kernel.v3_7`:

* :func:`mark_page_accessed` (swap.c:437-446): inactive,unreferenced -> inactive,referenced
  -> active,unreferenced -> active,referenced;
* :func:`activate_page` (swap.c:375-427);
* :func:`lru_cache_add_lru` (swap.c:457-486): a new page joins an LRU list;
* :func:`update_page_reclaim_stat` (swap.c:365-373): both count in the lruvec's
  ``reclaim_stat``, which ``get_scan_count()`` reads.

The per-cpu pagevecs that batch these moves (``lru_add_pvecs``, ``activate_page_pvecs``, 14
pages each) are not modelled: a page joins its list at once, so ``PageLRU`` holds from then
on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memcglab.kernel.context import KernelContext
from memcglab.model.constants import (
    LRU_ACTIVE,
    LRU_ACTIVE_ANON,
    LRU_ACTIVE_FILE,
    LRU_INACTIVE_ANON,
    LRU_INACTIVE_FILE,
)
from memcglab.runtime.ops import Kind, Op
from memcglab.sim.pages import NONE

if TYPE_CHECKING:
    from memcglab.sim.machine import SimMachine
    from memcglab.sim.pages import Lruvec

_new_op = tuple.__new__  # builds an Op without the NamedTuple constructor's extra frame


def update_page_reclaim_stat(lruvec: Lruvec, file: int, rotated: bool) -> None:
    """swap.c:365-373: one page scanned, and rotated if it went to an active list."""
    lruvec.recent_scanned[file] += 1
    if rotated:
        lruvec.recent_rotated[file] += 1


def activate_page(mm: SimMachine, page: int) -> None:
    """``activate_page()`` -> ``__activate_page()`` (swap.c:375-390): a page on an inactive
    list moves to the head of the active one (``SetPageActive``), counted as rotated."""
    pages = mm.pages
    lru = pages.lru[page]
    if lru in (LRU_INACTIVE_ANON, LRU_INACTIVE_FILE):  # PageLRU && !PageActive
        pages.move(page, lru + LRU_ACTIVE)
        update_page_reclaim_stat(pages.lruvec(pages.owner[page], pages.zone_of[page]),
                                 lru == LRU_INACTIVE_FILE, True)


def mark_page_accessed(mm: SimMachine, page: int) -> None:
    """swap.c:437-446::

        if (!PageActive(page) && !PageUnevictable(page) &&
                PageReferenced(page) && PageLRU(page)) {
            activate_page(page);
            ClearPageReferenced(page);
        } else if (!PageReferenced(page)) {
            SetPageReferenced(page);
        }
    """
    pages = mm.pages
    lru = pages.lru[page]
    if pages.ref[page] and lru != NONE and lru in (LRU_INACTIVE_ANON, LRU_INACTIVE_FILE):
        activate_page(mm, page)
        pages.ref[page] = 0
    elif not pages.ref[page]:
        pages.ref[page] = 1


def lru_cache_add_lru(k: KernelContext, page: int, lru: int, memcg: int, anon: bool,
                      mapping: int, index: int) -> Op:
    """``lru_cache_add_lru(page, lru)`` (swap.c:474-486): the page joins the head of ``lru``
    of its memcg's lruvec (``__pagevec_lru_add_fn()``, swap.c:789-805), counted in the
    lruvec's ``reclaim_stat`` (scanned, and rotated if the list is active).

    One operation, ``ADD_PAGE``, does it together with what the caller did just before: the
    page's entry in its mapping (the page cache's radix tree, ``add_to_page_cache()``, or the
    process's page table, ``set_pte_at()``) and the commit of its charge to ``memcg``
    (``pc->mem_cgroup``). Returns that operation, for the caller to yield."""
    pages = k.mm.pages
    update_page_reclaim_stat(pages.lruvec(memcg, pages.zone_of[page]), lru >= LRU_INACTIVE_FILE,
                             lru in (LRU_ACTIVE_ANON, LRU_ACTIVE_FILE))
    return _new_op(Op, (Kind.ADD_PAGE, page, (memcg, anon, mapping, index, lru), ""))
