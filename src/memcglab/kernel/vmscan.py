"""Reclaim paths of v3.7 over the memcg walk, as explorer threads.

Models Linux v3.7 mm/vmscan.c (read from a v3.7 copy, see docs/kernel-sources.md):

* ``shrink_zone()``: a cookie ``{zone, sc->priority}``; ``memcg = mem_cgroup_iter(root, NULL,
  &reclaim)``, then ``do { shrink_lruvec(); ... } while (memcg)``. Global reclaim (no target
  memcg) walks until ``mem_cgroup_iter`` returns NULL. Limit reclaim "has historically picked
  one memcg and scanned it with decreasing priority levels": it shrinks one group, calls
  ``mem_cgroup_iter_break()`` and stops (until v3.9, see kernel_iterators.md 2.g).
* ``shrink_zones()``: ``shrink_zone()`` for every zone of the zonelist.
* ``do_try_to_free_pages()``: ``do { shrink_zones(); if (nr_reclaimed >= nr_to_reclaim)
  goto out; } while (--sc->priority >= 0)`` from DEF_PRIORITY.

The explorer has no pages: ``shrink_lruvec()`` is the *claim* of the group by this reclaimer
(what the invariants are about), and the priority loop runs through the priorities the
configuration puts in play, as if the reclaim target were met only after the last one.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from memcglab.kernel.cgroup import cgroup_mkdir, cgroup_rmdir
from memcglab.kernel.context import KernelContext, ReclaimCookie, ScanControl, global_reclaim
from memcglab.kernel.iterator import MemcgIter
from memcglab.runtime.ops import Kind, Op, note

Thread = Generator[Op, Any, None]


@dataclass(frozen=True, slots=True)
class ReclaimerSpec:
    """What one reclaimer does: ``walks`` calls of do_try_to_free_pages()."""

    target: int | None  # None: global reclaim (kswapd / direct); else limit reclaim of target
    zones: tuple[int, ...]
    priorities: tuple[int, ...]
    walks: int


@dataclass(frozen=True, slots=True)
class AdminAction:
    """One cgroup change the admin thread makes while reclaim runs."""

    op: str  # "mkdir" | "rmdir"
    memcg: int


def shrink_lruvec(k: KernelContext, it_root: int, memcg: int, reclaim: ReclaimCookie,
                  sc: ScanControl) -> Thread:
    """``shrink_lruvec(mem_cgroup_zone_lruvec(zone, memcg), sc)``: here, the claim."""
    it = k.iter(it_root, reclaim.zone, reclaim.priority)
    # A limit-reclaim root without use_hierarchy never uses the shared iterator (the
    # shortcut in mem_cgroup_iter): its hand-outs belong to no round.
    shared = it_root == k.root_mem_cgroup or k.use_hierarchy(it_root)
    yield Op(Kind.CLAIM, it, (reclaim.generation, memcg, shared),
             f"shrink_lruvec({k.name(memcg)}) [gen {reclaim.generation}]")


def shrink_zone(k: KernelContext, variant: MemcgIter, zone: int, sc: ScanControl) -> Thread:
    root = sc.target_mem_cgroup
    it_root = k.root_mem_cgroup if root is None else root
    reclaim = ReclaimCookie(zone, sc.priority)
    yield Op(Kind.WALK_START, None, None, f"shrink_zone(zone {zone}, priority {sc.priority})")
    memcg = yield from variant.mem_cgroup_iter(root, None, reclaim)
    while memcg is not None:
        yield from shrink_lruvec(k, it_root, memcg, reclaim, sc)
        if not global_reclaim(sc):
            yield from variant.mem_cgroup_iter_break(root, memcg)
            break
        memcg = yield from variant.mem_cgroup_iter(root, memcg, reclaim)


def shrink_zones(k: KernelContext, variant: MemcgIter, zones: tuple[int, ...],
                 sc: ScanControl) -> Thread:
    for zone in zones:
        yield from shrink_zone(k, variant, zone, sc)


def do_try_to_free_pages(k: KernelContext, variant: MemcgIter, spec: ReclaimerSpec) -> Thread:
    for priority in spec.priorities:  # from DEF_PRIORITY downwards, as configured
        sc = ScanControl(spec.target, priority)
        yield from shrink_zones(k, variant, spec.zones, sc)


def reclaimer(k: KernelContext, variant: MemcgIter, spec: ReclaimerSpec) -> Thread:
    """One reclaiming CPU: ``spec.walks`` reclaim calls one after another."""
    for _ in range(spec.walks):
        yield from do_try_to_free_pages(k, variant, spec)


def admin(k: KernelContext, actions: tuple[AdminAction, ...]) -> Thread:
    """A CPU running mkdir / rmdir in cgroupfs while reclaim runs."""
    for action in actions:
        if action.op == "mkdir":
            cid = yield from cgroup_mkdir(k, action.memcg)
            yield note(f"{k.name(action.memcg)} got css id {cid}")
        else:
            yield from cgroup_rmdir(k, action.memcg)
