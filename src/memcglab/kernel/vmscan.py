"""Reclaim paths of v3.7 over the memcg walk: explorer threads and simulation tasks.

Models Linux v3.7 mm/vmscan.c (read from a v3.7 copy, see docs/kernel-sources.md):

* ``shrink_zone()``: a cookie ``{zone, sc->priority}``; ``memcg = mem_cgroup_iter(root, NULL,
  &reclaim)``, then ``do { shrink_lruvec(); ... } while (memcg)``. Global reclaim (no target
  memcg) walks until ``mem_cgroup_iter`` returns NULL. Limit reclaim "has historically picked
  one memcg and scanned it with decreasing priority levels": it shrinks one group, calls
  ``mem_cgroup_iter_break()`` and stops (until v3.9, see kernel_iterators.md 2.g).
* ``shrink_zones()``: ``shrink_zone()`` for every zone of the zonelist.
* ``do_try_to_free_pages()``: ``do { shrink_zones(); if (nr_reclaimed >= nr_to_reclaim)
  goto out; } while (--sc->priority >= 0)`` from DEF_PRIORITY.
* ``shrink_lruvec()`` / ``get_scan_count()`` / ``shrink_list()`` (simulation only): scan
  ``lru_size >> priority`` pages of each evictable list in SWAP_CLUSTER_MAX batches (at
  least SWAP_CLUSTER_MAX with ``force_scan``, which v3.7 sets for limit reclaim), stop early
  once ``nr_to_reclaim`` is met below DEF_PRIORITY, then rebalance the anon lists.
* ``balance_pgdat()`` (kswapd, simulation only): priorities 12..0 over the zones below their
  high watermark, with v1 soft-limit reclaim first (``mem_cgroup_soft_limit_reclaim``).

In ``memcglab check`` there are no pages: ``shrink_lruvec()`` is the *claim* of the group by
this reclaimer (what the invariants are about), and the priority loop runs through the
priorities the configuration puts in play, as if the reclaim target were never met.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from memcglab.kernel.cgroup import cgroup_mkdir, cgroup_rmdir
from memcglab.kernel.context import (
    NO_TARGET,
    KernelContext,
    ReclaimCookie,
    ScanControl,
    global_reclaim,
)
from memcglab.kernel.iterator import MemcgIter
from memcglab.model.constants import (
    DEF_PRIORITY,
    LRU_ACTIVE_ANON,
    LRU_ACTIVE_FILE,
    LRU_INACTIVE_ANON,
    LRU_INACTIVE_FILE,
    SWAP_CLUSTER_MAX,
)
from memcglab.model.layout import IterSlots
from memcglab.runtime.ops import Kind, Op, note

Thread = Generator[Op, Any, None]
_new_op = tuple.__new__  # builds an Op without the NamedTuple constructor's extra frame
_CLAIM = Kind.CLAIM

ALL_PRIORITIES = tuple(range(DEF_PRIORITY, -1, -1))


@dataclass(frozen=True, slots=True)
class ReclaimerSpec:
    """What one explorer reclaimer does: ``walks`` calls of do_try_to_free_pages()."""

    target: int | None  # None: global reclaim (kswapd / direct); else limit reclaim of target
    zones: tuple[int, ...]
    priorities: tuple[int, ...]
    walks: int
    goal: int = 0  # v6.x: groups a call reclaims before its goal is met (0: never met)


@dataclass(frozen=True, slots=True)
class AdminAction:
    """One cgroup change the admin thread makes while reclaim runs."""

    op: str  # "mkdir" | "rmdir"
    memcg: int


def shrink_lruvec(k: KernelContext, it: IterSlots, memcg: int, reclaim: ReclaimCookie,
                  sc: ScanControl) -> Thread:
    """``shrink_lruvec(mem_cgroup_zone_lruvec(zone, memcg), sc)``.

    ``it`` is the iterator the walk used; only the monitor needs it (the claim)."""
    yield _new_op(Op, (_CLAIM, it, (reclaim.generation, memcg, it.shared_walk),
                       f"shrink_lruvec({k.name(memcg)}) [gen {reclaim.generation}]"
                       if k.notes else ""))
    if not k.simulating:
        return
    zone = reclaim.zone
    # get_scan_count(): v3.7 forces a minimum scan for limit reclaim.
    nr = list((yield _get_scan_count(memcg, zone, sc.priority, not global_reclaim(sc),
                                     sc.may_swap)))
    nr_reclaimed = 0
    while nr[LRU_INACTIVE_ANON] or nr[LRU_ACTIVE_FILE] or nr[LRU_INACTIVE_FILE]:
        for lru in range(4):
            if nr[lru]:
                nr_to_scan = min(nr[lru], SWAP_CLUSTER_MAX)
                nr[lru] -= nr_to_scan
                scanned, reclaimed = yield _shrink_list(memcg, zone, lru, nr_to_scan)
                sc.nr_scanned += scanned
                nr_reclaimed += reclaimed
        if nr_reclaimed >= sc.nr_to_reclaim and sc.priority < DEF_PRIORITY:
            break
    sc.nr_reclaimed += nr_reclaimed
    if sc.may_swap:
        # inactive_anon_is_low() -> shrink_active_list(SWAP_CLUSTER_MAX, ACTIVE_ANON)
        yield Op(Kind.SHRINK_LIST, (memcg, zone, LRU_ACTIVE_ANON), SWAP_CLUSTER_MAX)


@functools.cache
def _get_scan_count(memcg: int, zone: int, priority: int, force_scan: bool,
                    may_swap: bool) -> Op:
    return Op(Kind.GET_SCAN_COUNT, (memcg, zone), (priority, force_scan, may_swap))


@functools.cache
def _shrink_list(memcg: int, zone: int, lru: int, nr: int) -> Op:
    return Op(Kind.SHRINK_LIST, (memcg, zone, lru), nr)


def shrink_zone(k: KernelContext, variant: MemcgIter, zone: int, sc: ScanControl) -> Thread:
    root = sc.target_mem_cgroup
    it = k.iter(k.root_mem_cgroup if root is None else root, zone, sc.priority)
    reclaim = ReclaimCookie(zone, sc.priority)
    yield Op(Kind.WALK_START, None, None, f"shrink_zone(zone {zone}, priority {sc.priority})")
    memcg = yield from variant.mem_cgroup_iter(root, None, reclaim)
    while memcg is not None:
        yield from shrink_lruvec(k, it, memcg, reclaim, sc)
        if not global_reclaim(sc):
            yield from variant.mem_cgroup_iter_break(root, memcg)
            break
        memcg = yield from variant.mem_cgroup_iter(root, memcg, reclaim)


def shrink_zones(k: KernelContext, variant: MemcgIter, zones: tuple[int, ...],
                 sc: ScanControl) -> Thread:
    for zone in zones:
        yield from shrink_zone(k, variant, zone, sc)


def do_try_to_free_pages(k: KernelContext, variant: MemcgIter, zones: tuple[int, ...],
                         sc: ScanControl, priorities: tuple[int, ...] = ALL_PRIORITIES
                         ) -> Thread:
    for priority in priorities:  # from DEF_PRIORITY downwards
        sc.priority = priority
        yield from shrink_zones(k, variant, zones, sc)
        if sc.nr_reclaimed >= sc.nr_to_reclaim:
            break


def reclaimer(k: KernelContext, variant: MemcgIter, spec: ReclaimerSpec) -> Thread:
    """One explorer CPU: ``spec.walks`` reclaim calls one after another."""
    for _ in range(spec.walks):
        sc = ScanControl(spec.target, spec.priorities[0], NO_TARGET)
        yield from do_try_to_free_pages(k, variant, spec.zones, sc, spec.priorities)


def admin(k: KernelContext, actions: tuple[AdminAction, ...]) -> Thread:
    """A CPU running mkdir / rmdir in cgroupfs while reclaim runs, one after the other.

    An rmdir is every step the removing task takes in v3.7, through ``free_css_id()`` and
    ``call_rcu()`` (:func:`memcglab.kernel.cgroup.cgroup_rmdir`), so the next action starts
    only after them: as in a shell running ``rmdir A; mkdir E``, where ``rmdir`` returns
    after ``cgroup_diput()`` has run."""
    yield from run_admin(k, actions, cgroup_mkdir, cgroup_rmdir)


def run_admin(k: KernelContext, actions: tuple[AdminAction, ...],
              mkdir: Callable[[KernelContext, int], Generator[Op, Any, int]],
              rmdir: Callable[[KernelContext, int], Thread]) -> Thread:
    """The admin CPU's loop over its actions, with one era's mkdir and rmdir."""
    for action in actions:
        if action.op == "mkdir":
            cid = yield from mkdir(k, action.memcg)
            yield note(f"{k.name(action.memcg)} got css id {cid}")
        else:
            yield from rmdir(k, action.memcg)


# -- simulation entry points ------------------------------------------------------------------


def _reclaim_call(k: KernelContext, variant: MemcgIter, kind: str, target: int | None,
                  zones: tuple[int, ...], may_swap: bool) -> Generator[Op, Any, int]:
    """One counted do_try_to_free_pages() call with ``nr_to_reclaim = SWAP_CLUSTER_MAX``."""
    sc = ScanControl(target, DEF_PRIORITY, SWAP_CLUSTER_MAX, may_swap)
    yield Op(Kind.EVENT, "reclaim_call", (kind, SWAP_CLUSTER_MAX))
    yield from do_try_to_free_pages(k, variant, zones, sc)
    yield Op(Kind.EVENT, "reclaim_done", (kind, sc.nr_reclaimed, sc.nr_scanned))
    return sc.nr_reclaimed


def try_to_free_pages(k: KernelContext, variant: MemcgIter, zones: tuple[int, ...],
                      may_swap: bool) -> Generator[Op, Any, int]:
    """Direct reclaim (global): ``nr_to_reclaim = SWAP_CLUSTER_MAX``."""
    return _reclaim_call(k, variant, "direct", None, zones, may_swap)


def try_to_free_mem_cgroup_pages(k: KernelContext, variant: MemcgIter, memcg: int,
                                 zones: tuple[int, ...], may_swap: bool
                                 ) -> Generator[Op, Any, int]:
    """Limit reclaim of ``memcg``: v3.7 ``nr_to_reclaim = SWAP_CLUSTER_MAX``, all zones."""
    return _reclaim_call(k, variant, "limit", memcg, zones, may_swap)


def mem_cgroup_soft_limit_reclaim(k: KernelContext, variant: MemcgIter, zone: int,
                                  may_swap: bool) -> Generator[Op, Any, int]:
    """v1 soft limits, simplified: walk the group most over its soft limit (cookie at
    priority 0, as mem_cgroup_soft_reclaim() does) until a quarter of its excess is gone."""
    victim = yield Op(Kind.SOFT_VICTIM, zone)
    if victim is None:
        return 0
    group, excess = victim
    sc = ScanControl(group, 0, SWAP_CLUSTER_MAX, may_swap)
    goal = max(excess >> 2, 1)
    reclaim = ReclaimCookie(zone, 0)
    it = k.iter(group, zone, 0)
    total = 0
    yield Op(Kind.WALK_START, None, None, f"soft limit reclaim of {k.name(group)}")
    memcg = yield from variant.mem_cgroup_iter(group, None, reclaim)
    while memcg is not None:
        sc.nr_reclaimed = 0
        yield from shrink_lruvec(k, it, memcg, reclaim, sc)
        total += sc.nr_reclaimed
        if total >= goal:
            yield from variant.mem_cgroup_iter_break(group, memcg)
            break
        memcg = yield from variant.mem_cgroup_iter(group, memcg, reclaim)
    yield Op(Kind.EVENT, "soft_reclaim", (group, total))
    return total


def kswapd(k: KernelContext, variant: MemcgIter, nid: int, zones: tuple[int, ...],
           may_swap: bool, soft_limits: bool) -> Thread:
    """``kswapd()`` / ``balance_pgdat()``: sleep until woken, then reclaim the node's zones
    from DEF_PRIORITY down until every zone is above its high watermark."""
    while True:
        yield Op(Kind.KSWAPD_WAIT, nid)
        yield Op(Kind.EVENT, "reclaim_call", ("kswapd", 0))
        sc = ScanControl(None, DEF_PRIORITY, NO_TARGET, may_swap)
        for priority in ALL_PRIORITIES:
            sc.priority = priority
            unbalanced = False
            for zone in zones:
                if (yield Op(Kind.ZONE_BALANCED, zone)):
                    continue
                unbalanced = True
                if soft_limits:
                    sc.nr_reclaimed += yield from mem_cgroup_soft_limit_reclaim(
                        k, variant, zone, may_swap)
                yield from shrink_zone(k, variant, zone, sc)
            if not unbalanced:
                break
        yield Op(Kind.EVENT, "reclaim_done", ("kswapd", sc.nr_reclaimed, sc.nr_scanned))
