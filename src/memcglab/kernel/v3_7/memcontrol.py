"""mm/memcontrol.c of Linux v3.7: charging, soft-limit reclaim, rmdir's force_empty, the free.

Read in the v3.7.2 tree of :mod:`memcglab.kernel.v3_7` (the functions of the destroy path
also at x86-8/linux-3.7 @ 30159e2cc505, docs/kernel-sources.md); line numbers are of the
v3.7.2 tree. Modelled:

* the charge of a new page (``mem_cgroup_newpage_charge()`` / ``mem_cgroup_cache_charge()``
  -> ``mem_cgroup_charge_common()`` -> ``__mem_cgroup_try_charge()`` ->
  ``mem_cgroup_do_charge()`` -> ``mem_cgroup_reclaim()``): a charge retries as long as
  reclaim frees pages, and a memcg OOM comes after the sixth round in a row that freed
  nothing (see :func:`__mem_cgroup_try_charge`). One page at a time: the per-cpu charge
  stock (``CHARGE_BATCH`` = 32, ``consume_stock()``) is not modelled;
* the uncharge of a freed page (``mem_cgroup_uncharge_cache_page()`` /
  ``mem_cgroup_uncharge_page()``);
* ``mem_cgroup_inactive_anon_is_low()`` / ``mem_cgroup_inactive_file_is_low()``;
* v1 soft-limit reclaim from kswapd: :func:`mem_cgroup_soft_limit_reclaim`,
  :func:`mem_cgroup_soft_reclaim`, with the victim the group most over its soft limit
  (no per-zone RB tree: :func:`mem_cgroup_largest_soft_limit_node`);
* rmdir's ``pre_destroy``, ``mem_cgroup_force_empty()``: :func:`mem_cgroup_force_empty`;
* the free of a ``struct mem_cgroup``: ``mem_cgroup_destroy()``, ``mem_cgroup_put()`` /
  ``__mem_cgroup_put()`` and ``__mem_cgroup_free()``; ``cgroup_diput()``
  (:mod:`memcglab.kernel.cgroup`) calls :func:`mem_cgroup_destroy` in the removing task after
  its ``synchronize_rcu()``.

A memcg OOM is counted (an ``oom`` event for the charging group) and kills nothing: the
charge fails and the page is given back.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from memcglab.kernel.cgroup import free_css_id
from memcglab.kernel.context import KernelContext, ReclaimCookie
from memcglab.kernel.iterator import MemcgIter
from memcglab.kernel.v3_7.res_counter import (
    res_counter_charge,
    res_counter_margin,
    res_counter_soft_limit_excess,
    res_counter_uncharge,
)
from memcglab.model.constants import (
    LRU_ACTIVE_ANON,
    LRU_ACTIVE_FILE,
    LRU_INACTIVE_ANON,
    LRU_INACTIVE_FILE,
)
from memcglab.model.hierarchy import ROOT
from memcglab.runtime.ops import Kind, Op, call

if TYPE_CHECKING:
    from memcglab.sim.machine import SimMachine
    from memcglab.sim.pages import Lruvec

MEM_CGROUP_RECLAIM_RETRIES = 5  # memcontrol.c:62
MEM_CGROUP_MAX_RECLAIM_LOOPS = 100  # memcontrol.c:377
MEM_CGROUP_MAX_SOFT_LIMIT_RECLAIM_LOOPS = 2  # memcontrol.c:378

# The interleaving points of the charge path and of the soft-limit tree (each an operation:
# another task may run before it).
_CHARGE = Op(Kind.MM_STEP, "res_counter_charge(&memcg->res)")
_SOFT_LIMIT_TREE = Op(Kind.MM_STEP, "spin_lock(&mctz->lock)")


# -- charge and uncharge -------------------------------------------------------------------


def mem_cgroup_margin(k: KernelContext, memcg: int) -> int:
    """memcontrol.c:1261-1269: ``res_counter_margin(&memcg->res)`` in pages (no memsw)."""
    return res_counter_margin(k.mm, memcg)


# mem_cgroup_do_charge()'s results (memcontrol.c:2245-2251); CHARGE_WOULDBLOCK (no
# __GFP_WAIT) does not happen for user pages.
CHARGE_OK, CHARGE_RETRY, CHARGE_NOMEM, CHARGE_OOM_DIE = range(4)


def mem_cgroup_reclaim(k: KernelContext, variant: MemcgIter, memcg: int,
                       zones: tuple[int, ...], noswap: bool) -> Generator[Op, Any, int]:
    """memcontrol.c:1568-1602: ``try_to_free_mem_cgroup_pages()`` up to
    MEM_CGROUP_MAX_RECLAIM_LOOPS (100) times, until ``memcg`` has margin, or after the
    second call if nothing at all was reclaimed ("If nothing was reclaimed after two
    attempts, there may be no reclaimable pages in this hierarchy"). Returns the pages
    reclaimed. (``drain_all_stock_async()`` between calls: no stock here.)"""
    from memcglab.kernel.v3_7.vmscan import try_to_free_mem_cgroup_pages  # mutual, as in C
    total = 0
    for loop in range(MEM_CGROUP_MAX_RECLAIM_LOOPS):
        total += yield call(try_to_free_mem_cgroup_pages(k, variant, memcg, zones,
                                                         not noswap))
        if mem_cgroup_margin(k, memcg):
            break
        if loop and not total:
            break
    return total


def mem_cgroup_do_charge(k: KernelContext, variant: MemcgIter, memcg: int,
                         zones: tuple[int, ...], may_swap: bool, oom_check: bool
                         ) -> Generator[Op, Any, int]:
    """memcontrol.c:2253-2319 for one page: ``res_counter_charge()``; over a limit, reclaim
    the memcg whose counter failed (``mem_over_limit``) with :func:`mem_cgroup_reclaim`.
    CHARGE_RETRY if it now has margin, or if reclaim freed anything (``nr_pages == 1 &&
    ret``, 2301); else CHARGE_NOMEM, or, on the round that checks for OOM, the memcg OOM
    (``mem_cgroup_handle_oom()``: counted for the charging group here, nobody is killed;
    the charge then fails, as for a task the OOM killer chose, CHARGE_OOM_DIE)."""
    yield _CHARGE
    mem_over_limit = res_counter_charge(k.mm, memcg)
    if mem_over_limit is None:
        return CHARGE_OK
    ret = yield from mem_cgroup_reclaim(k, variant, mem_over_limit, zones, not may_swap)
    if mem_cgroup_margin(k, mem_over_limit) >= 1:
        return CHARGE_RETRY
    # Even though the limit is exceeded at this point, reclaim may have been able to free
    # some pages. Retry the charge before killing the task.
    if ret:
        return CHARGE_RETRY
    if not oom_check:
        return CHARGE_NOMEM
    yield Op(Kind.EVENT, "oom", memcg)
    return CHARGE_OOM_DIE


def __mem_cgroup_try_charge(k: KernelContext, variant: MemcgIter, memcg: int,
                            zones: tuple[int, ...], may_swap: bool
                            ) -> Generator[Op, Any, bool]:
    """memcontrol.c:2342-2474 for one page, ``oom = true``. True: charged.

    Only a round whose reclaim freed nothing and left no margin (CHARGE_NOMEM) uses up one
    of the MEM_CGROUP_RECLAIM_RETRIES (2454); a round that made progress retries for free
    (CHARGE_RETRY, ``goto again``, 2440-2444). When the retries are used up, the next round
    runs with ``oom_check`` (2431-2434): a memcg OOM after the sixth round in a row that
    freed nothing. (The root memcg is charged here, and the charge stock is not modelled,
    so ``batch`` is one page: see :mod:`.res_counter`.)"""
    nr_oom_retries = MEM_CGROUP_RECLAIM_RETRIES
    while True:  # again:
        oom_check = False
        if not nr_oom_retries:
            oom_check = True
            nr_oom_retries = MEM_CGROUP_RECLAIM_RETRIES
        ret = yield from mem_cgroup_do_charge(k, variant, memcg, zones, may_swap, oom_check)
        if ret == CHARGE_OK:
            return True
        if ret == CHARGE_NOMEM:
            nr_oom_retries -= 1
        elif ret == CHARGE_OOM_DIE:
            return False


def mem_cgroup_charge_common(k: KernelContext, variant: MemcgIter, memcg: int,
                             zones: tuple[int, ...], may_swap: bool
                             ) -> Generator[Op, Any, bool]:
    """memcontrol.c:2787-2810 for an order-0 page: ``__mem_cgroup_try_charge(..., oom =
    true)``; the commit (``pc->mem_cgroup``) is the page's owner, set when it joins the LRU.
    (Returns the generator rather than being one: one frame fewer per operation.)"""
    return __mem_cgroup_try_charge(k, variant, memcg, zones, may_swap)


def mem_cgroup_uncharge_pages(mm: SimMachine, memcg: int, nr_pages: int) -> None:
    """``mem_cgroup_uncharge_page()`` / ``mem_cgroup_uncharge_cache_page()``
    (memcontrol.c:3118-3134) of ``nr_pages`` pages of ``memcg`` leaving memory, batched as
    between ``mem_cgroup_uncharge_start()`` and ``mem_cgroup_uncharge_end()`` (one
    ``res_counter_uncharge()`` of the batch at the end): its ``res`` and parents."""
    if nr_pages:
        res_counter_uncharge(mm, memcg, nr_pages)


# -- LRU list balance --------------------------------------------------------------------


def mem_cgroup_inactive_anon_is_low(lruvec: Lruvec) -> bool:
    """memcontrol.c:1221-1238: the inactive anon list is low when ``inactive *
    inactive_ratio < active``, the ratio 1 below 1 GiB of anon in the lruvec and
    ``int_sqrt(10 * gb)`` from there."""
    inactive = lruvec.sizes[LRU_INACTIVE_ANON]
    active = lruvec.sizes[LRU_ACTIVE_ANON]
    gb = (inactive + active) >> (30 - 12)  # PAGE_SHIFT 12
    inactive_ratio = math.isqrt(10 * gb) if gb else 1
    return inactive * inactive_ratio < active


def mem_cgroup_inactive_file_is_low(lruvec: Lruvec) -> bool:
    """memcontrol.c:1240-1249: ``active > inactive``."""
    return lruvec.sizes[LRU_ACTIVE_FILE] > lruvec.sizes[LRU_INACTIVE_FILE]


# -- soft-limit reclaim (v1 soft_limit_in_bytes) ---------------------------------------------


def mem_cgroup_largest_soft_limit_node(k: KernelContext, zone: int, skip: int | None = None
                                       ) -> Generator[Op, Any, int | None]:
    """memcontrol.c:632-669, simplified: the online group most over its soft limit (other
    than ``skip``, which is off the tree while it is being reclaimed), or None.

    v3.7 keeps one RB tree per zone of the memcgs over their soft limit, keyed by the
    excess at their last update (every 1024 page events, memcontrol.c:581-612); the model
    has no tree: it takes the exact excess of every group with a soft limit, whatever the
    zone. The tree's lock is the interleaving point."""
    yield _SOFT_LIMIT_TREE
    mm: SimMachine = k.mm
    best: int | None = None
    best_excess = 0
    for g, soft in enumerate(mm.soft_limits):
        if soft is None or g == skip or not mm.group_online(g):  # css_tryget() fails
            continue
        excess = res_counter_soft_limit_excess(mm, g)
        if excess > best_excess:
            best, best_excess = g, excess
    return best


def mem_cgroup_reclaimable(k: KernelContext, memcg: int, noswap: bool) -> bool:
    """memcontrol.c:1700-1739 (``test_mem_cgroup_node_reclaimable()``, 1613-1625): the memcg
    has file pages on its own LRU lists, or anon pages and swap."""
    mm: SimMachine = k.mm
    anon = False
    for (g, _), vec in mm.pages.lruvecs.items():
        if g != memcg:
            continue
        sizes = vec.sizes
        if sizes[LRU_INACTIVE_FILE] or sizes[LRU_ACTIVE_FILE]:
            return True
        anon = anon or bool(sizes[LRU_INACTIVE_ANON] or sizes[LRU_ACTIVE_ANON])
    return anon and not noswap and mm.swap


def mem_cgroup_soft_reclaim(k: KernelContext, variant: MemcgIter, root_memcg: int, zone: int,
                            may_swap: bool) -> Generator[Op, Any, int]:
    """memcontrol.c:1741-1792: reclaim ``root_memcg``'s subtree on ``zone`` through the
    iterator of (root_memcg, zone, priority 0), ``mem_cgroup_shrink_node_zone()`` on each
    group it hands out, SWAP_CLUSTER_MAX pages each, skipping groups with nothing
    reclaimable (1782). It stops as soon as the root is no longer over its soft limit
    (1787); otherwise only when the walk ends (``mem_cgroup_iter`` returns NULL), from the
    second end on (1762: at least two rounds): with nothing reclaimed, with a quarter of
    the excess the call started with reclaimed (``excess >> 2``), or after
    MEM_CGROUP_MAX_RECLAIM_LOOPS ends (1776). Returns the pages reclaimed."""
    from memcglab.kernel.v3_7.vmscan import mem_cgroup_shrink_node_zone  # mutual, as in C
    mm: SimMachine = k.mm
    victim: int | None = None
    total = 0
    loop = 0
    reclaim = ReclaimCookie(zone, 0)
    # The iterator the variant will use, for the claims (a v4.8-v5.4 design keeps one per
    # node and priority: memcglab run of such a variant on this page model).
    it = (k.layout.iter_node_prio(root_memcg, k.layout.zones[zone].nid, 0)
          if k.layout.node_priority else k.iter(root_memcg, zone, 0))
    excess = res_counter_soft_limit_excess(mm, root_memcg)
    while True:
        if victim is None:
            yield Op(Kind.WALK_START, None, None,
                     f"soft limit reclaim of {k.name(root_memcg)}" if k.notes else "")
        victim = yield from variant.mem_cgroup_iter(root_memcg, victim, reclaim)
        if victim is None:
            loop += 1
            if loop >= 2:
                # If we have not been able to reclaim anything, it might because there are
                # no reclaimable pages under this hierarchy.
                if not total:
                    break
                # We want to do more targeted reclaim. excess >> 2 is not to excessive so as
                # to reclaim too much, nor too less that we keep coming back to reclaim
                # from this cgroup.
                if total >= (excess >> 2) or loop > MEM_CGROUP_MAX_RECLAIM_LOOPS:
                    break
            continue
        if not mem_cgroup_reclaimable(k, victim, False):
            continue
        total += yield from mem_cgroup_shrink_node_zone(k, it, victim, reclaim, may_swap)
        if not res_counter_soft_limit_excess(mm, root_memcg):
            break
    yield from variant.mem_cgroup_iter_break(root_memcg, victim)
    return total


def mem_cgroup_soft_limit_reclaim(k: KernelContext, variant: MemcgIter, zone: int,
                                  may_swap: bool) -> Generator[Op, Any, int]:
    """memcontrol.c:3623-3713, kswapd's v1 soft-limit reclaim of one zone: soft-reclaim the
    group most over its soft limit (:func:`mem_cgroup_soft_reclaim`); if that freed
    nothing, the next one, and so on, while nothing at all was freed, at most
    MEM_CGROUP_MAX_SOFT_LIMIT_RECLAIM_LOOPS + 1 groups (3689-3709). Returns the pages
    reclaimed. Victims come from :func:`mem_cgroup_largest_soft_limit_node` (no per-zone
    tree)."""
    nr_reclaimed = 0
    next_mz: int | None = None
    loop = 0
    while True:
        if next_mz is not None:
            mz: int | None = next_mz
        else:
            mz = yield from mem_cgroup_largest_soft_limit_node(k, zone)
        if mz is None:
            break
        reclaimed = yield from mem_cgroup_soft_reclaim(k, variant, mz, zone, may_swap)
        nr_reclaimed += reclaimed
        yield Op(Kind.EVENT, "soft_reclaim", (mz, reclaimed))
        # If we failed to reclaim anything from this memory cgroup it is time to move on to
        # the next cgroup.
        next_mz = None
        if not reclaimed:
            next_mz = yield from mem_cgroup_largest_soft_limit_node(k, zone, skip=mz)
        loop += 1
        # Could not reclaim anything and there are no more mem cgroups to try or we seem to
        # be looping without reclaiming anything.
        if not nr_reclaimed and (next_mz is None
                                 or loop > MEM_CGROUP_MAX_SOFT_LIMIT_RECLAIM_LOOPS):
            break
        if nr_reclaimed:
            break
    return nr_reclaimed


# -- rmdir ---------------------------------------------------------------------------------


def parent_mem_cgroup(mm: SimMachine, memcg: int) -> int | None:
    """memcontrol.c:4900-4905: the memcg of ``memcg->res.parent``, the res_counter parent:
    None when the cgroup parent does not have ``use_hierarchy`` (``mem_cgroup_create()``
    gives the counter no parent then, 4990-5002)."""
    chain = mm.chain[memcg]
    return chain[1] if len(chain) > 1 else None


def mem_cgroup_force_empty(mm: SimMachine, memcg: int) -> None:
    """``mem_cgroup_pre_destroy()`` -> ``mem_cgroup_force_empty(memcg, false)``
    (memcontrol.c:3772-3846): every page on the group's LRU lists moves, on the same list,
    with its charge, to ``parent_mem_cgroup()``, or to the root memcg when that is NULL (a
    cgroup parent without ``use_hierarchy``): ``mem_cgroup_force_empty_list()`` ->
    ``mem_cgroup_move_parent()`` (2736-2779, "If no parent, move charges to root cgroup").
    The group's counter is uncharged up to the parent's
    (``__mem_cgroup_cancel_local_charge()``, 2497-2509); a hierarchical parent's counters
    already held the charge, and the root, which has no parent counter, gets it here (the
    model charges the root, see :mod:`.res_counter`).

    Run by the simulator's one-step rmdir (:meth:`memcglab.sim.machine.SimMachine._rmdir`),
    ``mm`` the simulation machine, when rmdir is enabled, i.e. once the references other
    than the base one are gone: v3.7 runs ``pre_destroy`` first and then waits for them
    (cgroup.c:4300, 4314-4330), a simplification of the timing only."""
    parent = parent_mem_cgroup(mm, memcg)
    if parent is None:
        parent = ROOT  # root_mem_cgroup
    moved = len(mm.pages.reparent(memcg, parent))
    mm.usage[memcg] -= moved
    mm.usage[parent] += moved
    for x in mm.chain[memcg]:
        mm.husage[x] -= moved
    for x in mm.chain[parent]:
        mm.husage[x] += moved


# -- the free of a struct mem_cgroup ---------------------------------------------------------


def mem_cgroup_destroy(k: KernelContext, memcg: int) -> Generator[Op, Any, None]:
    """v3.7 ``mem_cgroup_destroy()``: ``kmem_cgroup_destroy()`` (kernel memory accounting,
    not modelled), then ``mem_cgroup_put()`` of the memcg's own reference."""
    yield from mem_cgroup_put(k, memcg)


def mem_cgroup_put(k: KernelContext, memcg: int) -> Generator[Op, Any, None]:
    """v3.7 ``mem_cgroup_put()`` -> ``__mem_cgroup_put(memcg, 1)``: when ``memcg->refcnt``
    drops to zero, ``__mem_cgroup_free()``, then ``mem_cgroup_put()`` of the parent.

    ``memcg->refcnt`` (distinct from the css count) starts at 1 and is also taken by swap
    records and by each child of a ``use_hierarchy`` parent. Neither outlives the groups
    here (a removed child drops its reference on the parent here, in the rmdir task, before
    the admin can remove the parent), so this put always frees, and the parent's count,
    never the last one, is not modelled."""
    yield from __mem_cgroup_free(k, memcg)


def __mem_cgroup_free(k: KernelContext, memcg: int) -> Generator[Op, Any, None]:
    """v3.7 ``__mem_cgroup_free()``: ``mem_cgroup_remove_from_trees()`` (soft-limit trees),
    ``free_css_id()`` (the id leaves the IDR), the per-zone info and per-cpu statistics
    freed, then ``call_rcu(&memcg->rcu_freeing, free_rcu)``: after a grace period
    ``free_rcu`` schedules ``free_work``, which ``kfree``s the memcg. The machine runs that
    callback when the readers it waits for have left."""
    yield free_css_id(k, memcg)
    yield Op(Kind.CALL_RCU_FREE, memcg, None,
             f"call_rcu(free_rcu) [{k.name(memcg)}]" if k.notes else "")
