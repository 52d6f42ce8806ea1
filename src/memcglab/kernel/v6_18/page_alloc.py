"""Page allocation of Linux v6.18, mm/page_alloc.c, as far as reclaim goes.

Read in a v6.18.19 tree (6952350/linux-6.18.y @ f3fce0151d48; docs/research/
v6-alloc-v1.md section 1, [PA] line numbers there):

* the fast path tries the zonelist at the LOW watermark, a zone at or below it is skipped
  for the next (``free > mark`` passes; node_reclaim is off by default); it wakes no kswapd;
* the slow path wakes kswapd on every node of the zonelist (``wake_all_kswapds``), tries at
  MIN, then loops: wake kswapd again, try at MIN, direct reclaim (``try_to_free_pages``)
  and a try at MIN, ``should_reclaim_retry`` (progress resets the no-progress count; more
  than MAX_RECLAIM_RETRIES in a row, or no zone that could pass MIN even with all its
  reclaimable pages, gives up), then ``__alloc_pages_may_oom`` (a last try at HIGH, then
  the global OOM killer; a kill means retry).

No watermark boost, no lowmem_reserve, no highatomic reserves, no compaction, no
PF_MEMALLOC reserves for an OOM victim (a killed task's allocation fails instead).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from memcglab.kernel.context import KernelContext
from memcglab.kernel.iterator import MemcgIter
from memcglab.kernel.v6_18.context import TaskStruct
from memcglab.kernel.v6_18.oom_kill import out_of_memory
from memcglab.kernel.v6_18.vmscan import (
    MAX_RECLAIM_RETRIES,
    try_to_free_pages,
    wakeup_kswapd,
    zone_reclaimable_pages,
)
from memcglab.model.constants import PAGE_ALLOC_COSTLY_ORDER
from memcglab.runtime.ops import Kind, Op, call

ALLOC_WMARK_MIN, ALLOC_WMARK_LOW, ALLOC_WMARK_HIGH, ALLOC_NO_WATERMARKS = range(4)


def _mark(k: KernelContext, zone: int, which: int) -> int:
    spec = k.mm.zone_specs[zone]
    return int((spec.min, spec.low, spec.high, -1)[which])


def get_page_from_freelist(k: KernelContext, zones: tuple[int, ...], alloc_flags: int,
                           order: int = 0) -> Generator[Op, Any, int | None]:
    """[PA]:3764-3959: the first zone of the zonelist above the watermark."""
    for zone in zones:
        if not zone_watermark_ok(k, zone, _mark(k, zone, alloc_flags), order):
            continue
        page: int | None = yield Op(Kind.ALLOC_PAGE, zone, order)
        if page is not None:
            return page
    return None


def wake_all_kswapds(k: KernelContext, zones: tuple[int, ...]) -> Generator[Op, Any, None]:
    """[PA]:4425-4447: ``wakeup_kswapd`` once per node of the zonelist."""
    last_pgdat = -1
    for zone in zones:
        pgdat = k.layout.zones[zone].nid
        if pgdat != last_pgdat:
            wakeup_kswapd(k, zone)
            last_pgdat = pgdat
    yield Op(Kind.MM_STEP, "wake_all_kswapds")


def zone_watermark_ok(k: KernelContext, zone: int, mark: int, order: int = 0) -> bool:
    """``__zone_watermark_ok()``: ``free - (2^order - 1) > mark`` ([PA]:3602, 3624, 3664; no
    lowmem_reserve, no boost; for order > 0 the model has no fragmentation, so the
    free-area search that follows always finds a block)."""
    return int(k.mm.pages.free_pages(zone)) - ((1 << order) - 1) > mark


def should_reclaim_retry(k: KernelContext, zones: tuple[int, ...], did_some_progress: bool,
                         no_progress_loops: int) -> tuple[bool, int]:
    """[PA]:4555-4629 for order 0. Returns (retry, the new no-progress count)."""
    no_progress_loops = 0 if did_some_progress else no_progress_loops + 1
    if no_progress_loops > MAX_RECLAIM_RETRIES:
        return False, no_progress_loops
    # Keep reclaiming pages while there is a chance this will lead somewhere.
    for zone in zones:
        available = zone_reclaimable_pages(k, zone) + int(k.mm.pages.free_pages(zone))
        if available > _mark(k, zone, ALLOC_WMARK_MIN):
            return True, no_progress_loops
    return False, no_progress_loops


def __alloc_pages_may_oom(k: KernelContext, zones: tuple[int, ...]
                          ) -> Generator[Op, Any, tuple[int | None, bool]]:
    """[PA]:4025-4100: a last try at the high watermark, then the global OOM killer.
    Returns (page, did_some_progress)."""
    page = yield from get_page_from_freelist(k, zones, ALLOC_WMARK_HIGH)
    if page is not None:
        return page, True
    yield Op(Kind.EVENT, "oom", None)
    victim = out_of_memory(k, None)
    if victim is not None and victim >= 0:
        yield Op(Kind.EVENT, "oom_kill", (None, victim))
    return None, victim is not None


def __alloc_pages_slowpath(k: KernelContext, variant: MemcgIter, current: TaskStruct,
                           zones: tuple[int, ...]) -> Generator[Op, Any, int | None]:
    """[PA]:4665-4940, order 0, a blocking GFP_HIGHUSER_MOVABLE-like allocation."""
    no_progress_loops = 0
    yield from wake_all_kswapds(k, zones)
    page = yield from get_page_from_freelist(k, zones, ALLOC_WMARK_MIN)
    if page is not None:
        return page
    while True:  # retry:
        # Ensure kswapd doesn't accidentally go to sleep as long as we loop.
        yield from wake_all_kswapds(k, zones)
        page = yield from get_page_from_freelist(k, zones, ALLOC_WMARK_MIN)
        if page is not None:
            return page
        if current.killed:
            # An OOM victim may dip into the reserves below min (ALLOC_OOM) and does not
            # loop: it takes any free page or fails.
            return (yield from get_page_from_freelist(k, zones, ALLOC_NO_WATERMARKS))
        # __alloc_pages_direct_reclaim()
        did_some_progress = bool((yield call(try_to_free_pages(k, variant, zones))))
        if did_some_progress:
            page = yield from get_page_from_freelist(k, zones, ALLOC_WMARK_MIN)
            if page is not None:
                return page
        retry, no_progress_loops = should_reclaim_retry(k, zones, did_some_progress,
                                                        no_progress_loops)
        if retry:
            continue
        page, did_some_progress = yield from __alloc_pages_may_oom(k, zones)
        if page is not None:
            return page
        if did_some_progress and not current.killed:
            no_progress_loops = 0
            continue
        return None


def alloc_pages(k: KernelContext, variant: MemcgIter, current: TaskStruct,
                zones: tuple[int, ...], order: int = 0) -> Generator[Op, Any, int | None]:
    """``__alloc_frozen_pages_noprof()`` [PA]:5195: the fast path at LOW, else the slow
    path. A large folio (order > 0: readahead's, with ``__GFP_NORETRY``) goes the
    ``__GFP_NORETRY`` way through the slow path ([PA]:4665-4890): wake kswapd, try at MIN;
    a costly order (> PAGE_ALLOC_COSTLY_ORDER) then gives up, as its compaction is skipped
    when free memory is short ("costly_order && NORETRY", 4776-4793; the model has no
    fragmentation, so free memory is the only reason to be here); a smaller one makes one
    round of direct reclaim, tries again and gives up (4876). Readahead then falls back to
    order 0."""
    page = yield from get_page_from_freelist(k, zones, ALLOC_WMARK_LOW, order)
    if page is not None:
        return page
    if not order:
        return (yield from __alloc_pages_slowpath(k, variant, current, zones))
    yield from wake_all_kswapds(k, zones)
    page = yield from get_page_from_freelist(k, zones, ALLOC_WMARK_MIN, order)
    if page is not None or order > PAGE_ALLOC_COSTLY_ORDER:
        return page
    if (yield call(try_to_free_pages(k, variant, zones))):
        page = yield from get_page_from_freelist(k, zones, ALLOC_WMARK_MIN, order)
    return page
