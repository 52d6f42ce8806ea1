"""A page fault's allocation and charge in v3.7, simplified to what reclaim needs.

* ``__alloc_pages_nodemask()`` (mm/page_alloc.c v3.7): the fast path takes a page from the
  first zone above its min watermark (and wakes kswapd below the low one); the slow path
  enters direct reclaim (``try_to_free_pages``, SWAP_CLUSTER_MAX pages) and retries while
  reclaim makes progress; no progress means the OOM killer (counted, nobody is killed).
* ``__mem_cgroup_try_charge()`` (mm/memcontrol.c v3.7): charge the page up the res_counter
  hierarchy; if a group would exceed its limit, reclaim that group
  (``try_to_free_mem_cgroup_pages``) and retry, ``MEM_CGROUP_RECLAIM_RETRIES`` = 5 times,
  then a memcg OOM (counted for that group; the page is given back).

Reclaim is entered with ``yield call(...)`` (:func:`memcglab.runtime.ops.call`): the
engine runs it on the task's own stack, so each reclaim step does not re-enter the fault
path's frames. The page is allocated first and charged second, as v3.7 does for both anon
(``do_anonymous_page`` -> ``mem_cgroup_newpage_charge``) and page cache
(``add_to_page_cache_locked`` -> ``mem_cgroup_cache_charge``).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from memcglab.kernel.context import KernelContext
from memcglab.kernel.iterator import MemcgIter
from memcglab.kernel.vmscan import try_to_free_mem_cgroup_pages, try_to_free_pages
from memcglab.runtime.ops import Kind, Op, call

MEM_CGROUP_RECLAIM_RETRIES = 5  # mm/memcontrol.c v3.7
MAX_DIRECT_RETRIES = 16  # a bound on should_alloc_retry() looping while progress is made


def alloc_pages(k: KernelContext, variant: MemcgIter, zones: tuple[int, ...],
                may_swap: bool) -> Generator[Op, Any, int | None]:
    page: int | None = yield Op(Kind.ALLOC_PAGE, zones)
    if page is not None:
        return page
    for _ in range(MAX_DIRECT_RETRIES):
        progress = yield call(try_to_free_pages(k, variant, zones, may_swap))
        page = yield Op(Kind.ALLOC_PAGE, zones)
        if page is not None:
            return page
        if not progress:
            break
    yield Op(Kind.EVENT, "oom", None)
    return None


def mem_cgroup_try_charge(k: KernelContext, variant: MemcgIter, memcg: int,
                          zones: tuple[int, ...], may_swap: bool
                          ) -> Generator[Op, Any, bool]:
    nr_retries = MEM_CGROUP_RECLAIM_RETRIES
    while True:
        over = yield Op(Kind.TRY_CHARGE, memcg)
        if over is None:
            return True
        if nr_retries == 0:
            yield Op(Kind.EVENT, "oom", memcg)
            return False
        nr_retries -= 1
        yield call(try_to_free_mem_cgroup_pages(k, variant, over, zones, may_swap))


def handle_mm_fault(k: KernelContext, variant: MemcgIter, memcg: int, anon: bool,
                    mapping: int, index: int, zones: tuple[int, ...],
                    may_swap: bool) -> Generator[Op, Any, bool]:
    """Fault in page ``index`` of ``mapping`` for a process in ``memcg``."""
    page = yield from alloc_pages(k, variant, zones, may_swap)
    if page is None:
        return False
    if not (yield from mem_cgroup_try_charge(k, variant, memcg, zones, may_swap)):
        yield Op(Kind.ADD_PAGE, page, None)
        return False
    yield Op(Kind.ADD_PAGE, page, (memcg, anon, mapping, index))
    return True
