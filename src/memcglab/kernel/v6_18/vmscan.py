"""Reclaim of v6.12+ over the memcg walk, for the explorer (mm/vmscan.c).

Models torvalds/linux @ 538d5baacd8a mm/vmscan.c (v6.12 or later; the partial walk is
Johannes Weiner's 6be5e186fd65, "mm: vmscan: restore incremental cgroup iteration", v6.11):

* ``shrink_node_memcgs()``: a cookie ``{pgdat}``, ``memcg = mem_cgroup_iter(target, NULL,
  partial)``, then ``do { shrink_lruvec(); ...; if (partial && nr_reclaimed >=
  nr_to_reclaim) { mem_cgroup_iter_break(); break; } } while ((memcg =
  mem_cgroup_iter(target, memcg, partial)))``. Direct and limit reclaim share the cursor
  (``partial``); kswapd and a ``memcg_full_walk`` retry walk privately (``partial = NULL``).
  The memory.min / memory.low checks come before ``shrink_lruvec()`` and skip a group with a
  ``continue`` that still advances the shared cursor; the explorer has no protection set, so
  they never skip (issue 9 brings them to the simulator);
* ``shrink_node()``: ``shrink_node_memcgs()`` (MGLRU's ``lru_gen_shrink_node()`` for root
  reclaim is not modelled: it does not use ``mem_cgroup_iter()``);
* ``shrink_zones()``: ``shrink_node()`` once per node of the zonelist (``if
  (zone->zone_pgdat == last_pgdat) continue``);
* ``do_try_to_free_pages()``: ``do { shrink_zones(); if (nr_reclaimed >= nr_to_reclaim)
  break; } while (--sc->priority >= 0)``, then ``if (sc->nr_reclaimed) return``, else one
  retry with ``memcg_full_walk`` from the initial priority (Shakeel Butt's "mm: vmscan: reset
  sc->priority on retry").

In ``memcglab check`` there are no pages: ``shrink_lruvec()`` is the claim of the group by
this reclaimer (what the invariants are about). By default it reclaims "some but never
enough": the reclaim target is never met (so no walk bails out early) and ``nr_reclaimed`` is
non-zero after the first claim (so the full-walk retry, which needs a loop that reclaimed
nothing, does not run). With a goal (``[reclaim] goal = N``) each claimed group counts as one
unit and ``nr_to_reclaim = N``: a partial walk bails out with ``mem_cgroup_iter_break()``
after N groups, leaving the shared position at the last one, as direct and limit reclaim do
once they have reclaimed enough. The priority loop runs through the priorities the
configuration puts in play.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from memcglab.kernel.context import NO_TARGET, KernelContext
from memcglab.kernel.iterator import MemcgIter
from memcglab.kernel.v6_18.cgroup import cgroup_mkdir, cgroup_rmdir
from memcglab.kernel.v6_18.context import ReclaimCookie, ScanControl
from memcglab.kernel.vmscan import AdminAction, ReclaimerSpec, run_admin
from memcglab.model.layout import IterSlots
from memcglab.runtime.ops import Kind, Op

Thread = Generator[Op, Any, None]


def current_is_kswapd() -> bool:
    """The explorer's reclaimers are direct or limit reclaimers, never kswapd."""
    return False


def shrink_lruvec(k: KernelContext, it: IterSlots, memcg: int,
                  reclaim: ReclaimCookie | None, sc: ScanControl) -> Thread:
    """``shrink_lruvec(mem_cgroup_lruvec(memcg, pgdat), sc)``: the claim of ``memcg``.
    ``it`` is the iterator of the walk, for the monitor; a private (cookie-less) walk's
    hand-outs belong to no round."""
    shared_walk = reclaim is not None and it.shared_walk
    gen = reclaim.generation if reclaim is not None else -1
    yield Op(Kind.CLAIM, it, (gen, memcg, shared_walk),
             f"shrink_lruvec({k.name(memcg)}) [gen {gen}]" if shared_walk
             else f"shrink_lruvec({k.name(memcg)}) [full walk]")
    # One unit per group towards a goal; else some pages, never enough (module docstring).
    sc.nr_reclaimed = sc.nr_reclaimed + 1 if sc.nr_to_reclaim != NO_TARGET else 1


def shrink_node_memcgs(k: KernelContext, variant: MemcgIter, pgdat: int,
                       sc: ScanControl) -> Thread:
    target_memcg = sc.target_mem_cgroup
    reclaim = ReclaimCookie(pgdat)
    partial: ReclaimCookie | None = reclaim
    # In most cases, direct reclaimers can do partial walks through the cgroup tree, using
    # an iterator state that persists across invocations. For kswapd, reliable forward
    # progress is more important than a quick return to idle: always do full walks.
    if current_is_kswapd() or sc.memcg_full_walk:
        partial = None
    it = k.iter_node(k.root_mem_cgroup if target_memcg is None else target_memcg, pgdat)
    yield Op(Kind.WALK_START, None, None,
             f"shrink_node_memcgs(node{pgdat}, priority {sc.priority}"
             f"{', full walk' if partial is None else ''})")
    memcg = yield from variant.mem_cgroup_iter(target_memcg, None, partial)
    while memcg is not None:  # do { ... } while ((memcg = mem_cgroup_iter(...)))
        yield from shrink_lruvec(k, it, memcg, partial, sc)
        # If partial walks are allowed, bail once goal is reached.
        if partial is not None and sc.nr_reclaimed >= sc.nr_to_reclaim:
            yield from variant.mem_cgroup_iter_break(target_memcg, memcg)
            break
        memcg = yield from variant.mem_cgroup_iter(target_memcg, memcg, partial)


def shrink_node(k: KernelContext, variant: MemcgIter, pgdat: int, sc: ScanControl) -> Thread:
    yield from shrink_node_memcgs(k, variant, pgdat, sc)


def shrink_zones(k: KernelContext, variant: MemcgIter, zones: tuple[int, ...],
                 sc: ScanControl) -> Thread:
    last_pgdat = -1
    for zone in zones:
        pgdat = k.layout.zones[zone].nid
        if pgdat == last_pgdat:
            continue
        last_pgdat = pgdat
        yield from shrink_node(k, variant, pgdat, sc)


def do_try_to_free_pages(k: KernelContext, variant: MemcgIter, zones: tuple[int, ...],
                         sc: ScanControl, priorities: tuple[int, ...]) -> Thread:
    while True:  # retry:
        for priority in priorities:  # from the initial priority downwards
            sc.priority = priority
            yield from shrink_zones(k, variant, zones, sc)
            if sc.nr_reclaimed >= sc.nr_to_reclaim:
                break
        if sc.nr_reclaimed:
            return
        # High concurrency can leave a thread without enough cgroups to make progress
        # through partial walks: avoid false OOMs with one full walk.
        if not sc.memcg_full_walk:
            sc.memcg_full_walk = True
            continue
        return


def reclaimer(k: KernelContext, variant: MemcgIter, spec: ReclaimerSpec) -> Thread:
    """One explorer CPU: ``spec.walks`` reclaim calls (``try_to_free_pages`` or
    ``try_to_free_mem_cgroup_pages``) one after another."""
    for _ in range(spec.walks):
        sc = ScanControl(spec.target, spec.priorities[0], spec.goal or NO_TARGET)
        yield from do_try_to_free_pages(k, variant, spec.zones, sc, spec.priorities)


def admin(k: KernelContext, actions: tuple[AdminAction, ...]) -> Thread:
    """A CPU running mkdir / rmdir in cgroupfs while reclaim runs, one after the other. A v6
    rmdir returns once the group is killed; its release comes later, from a kworker of
    ``cgroup_release_wq`` (:func:`memcglab.kernel.v6_18.cgroup.css_release_work`)."""
    yield from run_admin(k, actions, cgroup_mkdir, cgroup_rmdir)
