"""The reclaim callers of v3.9-v4.7 as the explorer runs them (mm/vmscan.c).

Read in v3.10.99 (vmscan.c:1943-1990), v3.19.8 (:2269-2314) and v4.4.1 (:2374-2433) trees;
docs/research/iterator-history.md 6.2. ``shrink_zone()`` takes a ``{zone, priority}``
cookie for every walk, limit and global reclaim alike; limit reclaim stops the walk once
``nr_reclaimed >= nr_to_reclaim`` (Michal Hocko's Dec 2012 change: before it, limit reclaim
took one group per call), global reclaim walks to the end of the round.
``should_continue_reclaim()`` ends the loop around the walk for order-0 reclaim, so one walk
per zone and priority.

In the explorer a group reclaims one unit (``ReclaimerSpec.goal`` units meet the goal; 0:
never met). A limit reclaimer that runs outside its target (``ReclaimerSpec.outside``: a
write to ``memory.limit_in_bytes`` from another cgroup) holds a css reference on the target
for the call, as ``__mem_cgroup_try_charge()``'s ``css_tryget()`` does for the charging
task; the target may then be removed while it reclaims.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from memcglab.kernel.cgroup import css_put, css_tryget
from memcglab.kernel.context import NO_TARGET, KernelContext, ReclaimCookie, ScanControl
from memcglab.kernel.iterator import MemcgIter
from memcglab.kernel.v3_7 import vmscan as vmscan_3_7
from memcglab.kernel.v3_10.cgroup import cgroup_mkdir, cgroup_rmdir
from memcglab.kernel.vmscan import AdminAction, ReclaimerSpec, Thread, reclaim_done, run_admin
from memcglab.model.layout import IterSlots
from memcglab.runtime.ops import Kind, Op


def global_reclaim(sc: ScanControl) -> bool:
    return sc.target_mem_cgroup is None


def shrink_lruvec(k: KernelContext, it: IterSlots, memcg: int, reclaim: ReclaimCookie,
                  sc: ScanControl, zone: int) -> Thread:
    """``shrink_lruvec()`` of ``memcg``'s lruvec on ``zone``: the claim, then in ``memcglab
    run`` v3.7's page reclaim (:func:`memcglab.kernel.v3_7.vmscan.shrink_lruvec`: the
    v3.10-v4.7 scan is not modelled apart); in the explorer one unit towards the goal."""
    lru_cookie = reclaim if reclaim.zone == zone and type(reclaim) is ReclaimCookie else \
        ReclaimCookie(zone, reclaim.priority, reclaim.generation)
    yield from vmscan_3_7.shrink_lruvec(k, it, memcg, lru_cookie, sc)
    if not k.simulating and sc.nr_to_reclaim != NO_TARGET and memcg not in k.empty:
        sc.nr_reclaimed += 1


def shrink_memcgs(k: KernelContext, variant: MemcgIter, root: int | None,
                  reclaim: ReclaimCookie, it: IterSlots, sc: ScanControl, zone: int
                  ) -> Thread:
    """The memcg loop of ``shrink_zone()`` (v3.9-v4.7) and ``shrink_node()`` (v4.8-v5.4)."""
    memcg = yield from variant.mem_cgroup_iter(root, None, reclaim)
    while memcg is not None:
        yield from shrink_lruvec(k, it, memcg, reclaim, sc, zone)
        # Limit reclaim can incur significant amount of work (ref. count) and no
        # proportional reclaim is performed, so bail out once the goal is met.
        if not global_reclaim(sc) and sc.nr_reclaimed >= sc.nr_to_reclaim:
            yield from variant.mem_cgroup_iter_break(root, memcg)
            break
        memcg = yield from variant.mem_cgroup_iter(root, memcg, reclaim)


def shrink_zone(k: KernelContext, variant: MemcgIter, zone: int, sc: ScanControl) -> Thread:
    root = sc.target_mem_cgroup
    reclaim = ReclaimCookie(zone, sc.priority)
    it = k.iter(k.root_mem_cgroup if root is None else root, zone, sc.priority)
    yield Op(Kind.WALK_START, None, None, f"shrink_zone(zone {zone}, priority {sc.priority})")
    yield from shrink_memcgs(k, variant, root, reclaim, it, sc, zone)


def shrink_zones(k: KernelContext, variant: MemcgIter, zones: tuple[int, ...],
                 sc: ScanControl) -> Thread:
    for zone in zones:
        yield from shrink_zone(k, variant, zone, sc)


ShrinkZones = Callable[[KernelContext, MemcgIter, tuple[int, ...], ScanControl], Thread]


def do_try_to_free_pages(k: KernelContext, variant: MemcgIter, zones: tuple[int, ...],
                         sc: ScanControl, priorities: tuple[int, ...],
                         shrink: ShrinkZones = shrink_zones) -> Thread:
    """The priority loop of v3.9-v6.10 (``shrink`` is the era's ``shrink_zones``)."""
    for priority in priorities:
        sc.priority = priority
        yield from shrink(k, variant, zones, sc)
        if sc.nr_reclaimed >= sc.nr_to_reclaim:
            break


def reclaim_call(k: KernelContext, variant: MemcgIter, spec: ReclaimerSpec,
                 shrink: ShrinkZones = shrink_zones) -> Generator[Op, Any, None]:
    """One ``try_to_free_pages()`` / ``try_to_free_mem_cgroup_pages()`` call, with the
    target pinned for the call when the reclaimer runs outside it."""
    target = spec.target
    if spec.outside and target is not None and not (yield css_tryget(k, target)):
        return  # the target is gone: nothing to reclaim
    sc = ScanControl(target, spec.priorities[0], spec.goal or NO_TARGET)
    yield from do_try_to_free_pages(k, variant, spec.zones, sc, spec.priorities, shrink)
    if k.empty:
        yield reclaim_done(k, target, sc.nr_reclaimed)
    if spec.outside and target is not None:
        yield css_put(k, target)


def reclaimer(k: KernelContext, variant: MemcgIter, spec: ReclaimerSpec,
              shrink: ShrinkZones = shrink_zones) -> Thread:
    """One explorer CPU: ``spec.walks`` reclaim calls one after another."""
    for _ in range(spec.walks):
        yield from reclaim_call(k, variant, spec, shrink)


def admin(k: KernelContext, variant: MemcgIter, actions: tuple[AdminAction, ...]) -> Thread:
    """mkdir / rmdir on the v3.10-v3.18 cgroup core (:mod:`memcglab.kernel.v3_10.cgroup`)."""
    yield from run_admin(k, actions, cgroup_mkdir, cgroup_rmdir, variant)
