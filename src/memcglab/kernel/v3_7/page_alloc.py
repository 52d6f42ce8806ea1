"""mm/page_alloc.c of Linux v3.7: an order-0 page for a user fault or a page-cache read.

Read in the v3.7.2 tree of :mod:`memcglab.kernel.v3_7`:

* :func:`__alloc_pages_nodemask` (page_alloc.c:2590-2653): the first attempt takes a page
  from the first zone of the zonelist above its *low* watermark
  (``ALLOC_WMARK_LOW``, 2598, 2632); a zone at or below it is skipped for the next one;
* :func:`__alloc_pages_slowpath` (2382-2584) when every zone failed: wake kswapd for every
  zone of the zonelist (2419-2421), retry at the *min* watermark (2428, 2438-2443), then
  direct reclaim (:func:`__alloc_pages_direct_reclaim`, 2255-2289) and again, while
  reclaim makes progress (``should_alloc_retry()``: order 0 always retries, 2048-2088;
  here at most MAX_DIRECT_RETRIES times); no progress means the OOM killer (counted,
  nobody is killed: the allocation fails);
* :func:`get_page_from_freelist` (1854-1986) with ``zone_watermark_ok()``
  (1611-1642, 1658-1662: free pages must be *above* the mark);
* :func:`free_hot_cold_page_list`: pages freed by reclaim go back to their zone.

A zone's free count is read before the operation that takes the page (``ALLOC_PAGE`` of
the zone chosen), as ``zone_watermark_ok()`` and ``buffered_rmqueue()`` are two steps in
the kernel too; an attempt that finds no zone is one operation as well (``ALLOC_PAGE`` of
no zone), so every attempt is one interleaving point, and the engine looks at the kswapd
wake-ups after it. Not modelled: the per-cpu lists (``drain_all_pages()`` only leads to one
more attempt), ``lowmem_reserve``, NUMA's zonelist cache and ``zone_reclaim_mode``,
cpusets, compaction, ``__GFP_HIGH`` / ``ALLOC_HARDER`` callers (all callers here are user
pages).
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


# zone->watermark[] indexes, the low bits of alloc_flags (mm/internal.h, page_alloc.c)
ALLOC_WMARK_MIN, ALLOC_WMARK_LOW, ALLOC_WMARK_HIGH = range(3)


def zone_watermark_ok(mm: SimMachine, zone: int, mark: int) -> bool:
    """``zone_watermark_ok()`` for order 0: ``free_pages <= min + lowmem_reserve`` fails
    (page_alloc.c:1629), so the zone must have *more* free pages than the mark."""
    return mm.pages.free_pages(zone) > mark


def _mark(mm: SimMachine, zone: int, alloc_flags: int) -> int:
    spec = mm.zone_specs[zone]
    return (spec.min, spec.low, spec.high)[alloc_flags]  # zone->watermark[alloc_flags]


def get_page_from_freelist(k: KernelContext, zonelist: tuple[int, ...], alloc_flags: int
                           ) -> Generator[Op, Any, int | None]:
    """page_alloc.c:1854-1986: the first zone of the zonelist whose free pages are above its
    ``alloc_flags`` watermark gives the page (``try_this_zone``); a zone that is not, or
    whose free list turned out empty, is skipped for the next (``this_zone_full``)."""
    mm: SimMachine = k.mm
    for z in zonelist:
        if not zone_watermark_ok(mm, z, _mark(mm, z, alloc_flags)):
            continue  # zone_reclaim_mode == 0: goto this_zone_full
        page: int | None = yield _rmqueue(z)  # buffered_rmqueue()
        if page is not None:
            return page
    yield _rmqueue(None)
    return None


def wake_all_kswapd(mm: SimMachine, zonelist: tuple[int, ...]) -> None:
    """page_alloc.c:2315-2325: ``wakeup_kswapd()`` for every zone of the zonelist."""
    from memcglab.kernel.v3_7.vmscan import wakeup_kswapd  # mutual, as in C
    for z in zonelist:
        wakeup_kswapd(mm, z)


def __alloc_pages_direct_reclaim(k: KernelContext, variant: MemcgIter,
                                 zonelist: tuple[int, ...], may_swap: bool
                                 ) -> Generator[Op, Any, tuple[int | None, int]]:
    """page_alloc.c:2255-2289: ``try_to_free_pages()``, then, if it made progress, a page at
    the min watermark, and once more if there was none (after ``drain_all_pages()``).
    Returns (the page or None, the progress)."""
    from memcglab.kernel.v3_7.vmscan import try_to_free_pages  # mutual, as in C
    progress: int = yield call(try_to_free_pages(k, variant, zonelist, may_swap))
    if not progress:
        return None, 0
    page = yield from get_page_from_freelist(k, zonelist, ALLOC_WMARK_MIN)
    if page is None:  # drain_all_pages(); drained = true; goto retry
        page = yield from get_page_from_freelist(k, zonelist, ALLOC_WMARK_MIN)
    return page, progress


def __alloc_pages_slowpath(k: KernelContext, variant: MemcgIter, zonelist: tuple[int, ...],
                           may_swap: bool) -> Generator[Op, Any, int | None]:
    """page_alloc.c:2382-2584 for an order-0 user page (``GFP_HIGHUSER_MOVABLE``)."""
    wake_all_kswapd(k.mm, zonelist)  # restart:
    for _ in range(MAX_DIRECT_RETRIES):
        # rebalance: "This is the last chance, in general, before the goto nopage."
        page = yield from get_page_from_freelist(k, zonelist, ALLOC_WMARK_MIN)
        if page is not None:
            return page
        page, progress = yield from __alloc_pages_direct_reclaim(k, variant, zonelist,
                                                                 may_swap)
        if page is not None:
            return page
        if not progress:
            break  # __alloc_pages_may_oom(): the OOM killer
        # should_alloc_retry(): order <= PAGE_ALLOC_COSTLY_ORDER always retries
    yield Op(Kind.EVENT, "oom", None)
    return None


def __alloc_pages_nodemask(k: KernelContext, variant: MemcgIter, zonelist: tuple[int, ...],
                           may_swap: bool) -> Generator[Op, Any, int | None]:
    """An order-0 page from ``zonelist``, or None (an OOM): the first attempt at the low
    watermark (page_alloc.c:2598, 2632-2634), then the slow path."""
    page = yield from get_page_from_freelist(k, zonelist, ALLOC_WMARK_LOW)
    if page is None:
        page = yield from __alloc_pages_slowpath(k, variant, zonelist, may_swap)
    return page
