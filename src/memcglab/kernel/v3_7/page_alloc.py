"""mm/page_alloc.c of Linux v3.7: an order-0 page for a user fault or a page-cache read.

Read in the v3.7.2 tree of :mod:`memcglab.kernel.v3_7`.

* :func:`__alloc_pages_nodemask`: the fast path takes a page from the first zone of the
  zonelist above its min watermark (and wakes kswapd below the low one); the slow path
  enters direct reclaim (``try_to_free_pages``, SWAP_CLUSTER_MAX pages) and retries while
  reclaim makes progress; no progress means the OOM killer (counted, nobody is killed).
* :func:`free_hot_cold_page_list`: pages freed by reclaim go back to their zone.

A zone's free count is read before the operation that takes the page (``ALLOC_PAGE`` of
the zone chosen), as ``zone_watermark_ok()`` and ``buffered_rmqueue()`` are two steps in
the kernel too; an attempt that finds no zone is one operation as well (``ALLOC_PAGE`` of
no zone), so every allocation attempt is one interleaving point.
"""

from __future__ import annotations

import functools
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from memcglab.kernel.context import KernelContext
from memcglab.kernel.iterator import MemcgIter
from memcglab.runtime.ops import Kind, Op, call

if TYPE_CHECKING:
    from memcglab.sim.machine import SimMachine

MAX_DIRECT_RETRIES = 16  # a bound on should_alloc_retry() looping while progress is made


@functools.cache
def _rmqueue(zone: int | None) -> Op:
    """``buffered_rmqueue()``: a free page of ``zone`` (None: the attempt found no zone)."""
    return Op(Kind.ALLOC_PAGE, zone)


def __free_page(page: int) -> Op:
    """``__free_page()`` / ``page_cache_release()`` of a page that never joined an LRU list
    (its charge failed): back to its zone."""
    return Op(Kind.ADD_PAGE, page, None)


def free_hot_cold_page_list(mm: SimMachine, pages: list[int]) -> None:
    """``free_hot_cold_page_list()`` (page_alloc.c:1341): pages reclaim freed (uncharged,
    out of their mapping) go back to their zones; a zone that gets pages back is reclaimable
    again (``free_pcppages_bulk()``, page_alloc.c:635-636: ``zone->all_unreclaimable = 0;
    zone->pages_scanned = 0``; the per-cpu lists are not modelled)."""
    zone_of = mm.pages.zone_of
    for page in pages:
        zone = zone_of[page]
        mm.all_unreclaimable[zone] = False
        mm.pages_scanned[zone] = 0
        mm.free_folio(page)


def wakeup_all(mm: SimMachine, zonelist: tuple[int, ...]) -> None:
    for z in zonelist:
        mm.kswapd_wake[mm.zone_specs[z].nid] = True


def get_page_from_freelist(k: KernelContext, zonelist: tuple[int, ...]
                           ) -> Generator[Op, Any, int | None]:
    """The first zone of the zonelist above its min watermark; wakes kswapd of a zone that
    falls below its low watermark."""
    mm: SimMachine = k.mm
    for z in zonelist:
        spec = mm.zone_specs[z]
        if mm.pages.free_pages(z) > spec.min:
            page: int | None = yield _rmqueue(z)
            if page is None:
                continue
            if mm.pages.free_pages(z) < spec.low:
                mm.kswapd_wake[spec.nid] = True
            return page
    wakeup_all(mm, zonelist)
    yield _rmqueue(None)
    return None


def __alloc_pages_nodemask(k: KernelContext, variant: MemcgIter, zonelist: tuple[int, ...],
                           may_swap: bool) -> Generator[Op, Any, int | None]:
    """An order-0 page from ``zonelist``, or None (an OOM)."""
    from memcglab.kernel.v3_7.vmscan import try_to_free_pages  # mutual, as in C
    page = yield from get_page_from_freelist(k, zonelist)
    if page is not None:
        return page
    for _ in range(MAX_DIRECT_RETRIES):
        progress = yield call(try_to_free_pages(k, variant, zonelist, may_swap))
        page = yield from get_page_from_freelist(k, zonelist)
        if page is not None:
            return page
        if not progress:
            break
    yield Op(Kind.EVENT, "oom", None)
    return None
