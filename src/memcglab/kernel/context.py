"""Per-configuration kernel context and the small structs reclaim passes around.

* :class:`ReclaimCookie` models ``struct mem_cgroup_reclaim_cookie`` (include/linux/
  memcontrol.h v3.7: ``zone``, ``priority``, ``generation``).
* :class:`ScanControl` models the part of ``struct scan_control`` (mm/vmscan.c v3.7) that the
  walk uses: ``target_mem_cgroup`` (None for global reclaim) and ``priority``; in ``memcglab
  run`` also ``nr_to_reclaim``, ``nr_reclaimed``, ``nr_scanned``, ``may_swap`` and whether
  the caller is kswapd.
* :class:`KernelContext` is static: the slot layout and the hierarchy, shared by all threads.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from memcglab.model.hierarchy import ROOT, Topology
from memcglab.model.layout import IterSlots, Layout


class KernelContext:
    """What kernel-mirror code may look up without an op: the static shape of the system."""

    _static_ = True

    def __init__(self, layout: Layout, *, simulating: bool = False, rcu: bool = True) -> None:
        self.layout = layout
        self.topology: Topology = layout.topology
        self.root_mem_cgroup = ROOT
        # memcglab run: shrink_lruvec() scans pages, and diagram notes are skipped (they
        # cost a generator round trip each and nobody draws a diagram of a simulation).
        self.simulating = simulating
        self.notes = not simulating
        # RCU read sections only delay frees. A simulation in which no group is ever removed
        # frees nothing, so it may leave them out (two operations per mem_cgroup_iter call).
        self.rcu = rcu
        self._use_hierarchy = tuple(g.use_hierarchy for g in self.topology.groups)
        self.nodes = layout.nodes  # for_each_node()
        # memcglab run only: the simulation machine (page-level data: pages, LRU lists,
        # zones, v3.7's res_counters) and the era's memcg state (v6.18:
        # memcontrol.MemcgState), which the kernel-mirror code of both eras reads and writes
        # between two operations.
        self.mm: Any = None
        self.mem: Any = None
        # memcglab check: groups with nothing to reclaim ([reclaim] empty); their claim
        # counts nothing towards a goal.
        self.empty: frozenset[int] = frozenset()

    def iter(self, root: int, zone: int, priority: int) -> IterSlots:
        """``&mem_cgroup_zoneinfo(root, nid, zid)->reclaim_iter[priority]``."""
        return self.layout._by_tuple[(root, zone, priority)]

    def iter_node(self, root: int, nid: int) -> IterSlots:
        """v6.x ``&root->nodeinfo[nid]->iter`` (one iterator per root and node)."""
        return self.layout.iter_node(root, nid)

    def name(self, memcg: int | None) -> str:
        return "NULL" if memcg is None else self.topology.name(memcg)

    def use_hierarchy(self, memcg: int) -> bool:
        return self._use_hierarchy[memcg]


class ReclaimCookie:
    """Models ``struct mem_cgroup_reclaim_cookie``: owned by one reclaimer, mutated by
    ``mem_cgroup_iter`` (it records the generation a fresh walk started in)."""

    __slots__ = ("generation", "priority", "zone")

    def __init__(self, zone: int, priority: int, generation: int = 0) -> None:
        self.zone = zone
        self.priority = priority
        self.generation = generation

    def __fingerprint__(self) -> Hashable:
        return (self.zone, self.priority, self.generation)

    def __repr__(self) -> str:
        return f"cookie(zone={self.zone}, prio={self.priority}, gen={self.generation})"


class NodeReclaimCookie(ReclaimCookie):
    """v4.8-v5.4 ``struct mem_cgroup_reclaim_cookie`` {``pgdat``, ``priority``,
    ``generation``} (include/linux/memcontrol.h v4.8.15:62-66): the node takes the zone's
    place (``zone`` holds the node id)."""

    __slots__ = ()

    @property
    def pgdat(self) -> int:
        return self.zone

    def __repr__(self) -> str:
        return f"cookie(node={self.zone}, prio={self.priority}, gen={self.generation})"


NO_TARGET = 1 << 62
"""``nr_to_reclaim`` that is never met: the explorer's reclaimers (they reclaim no pages) and
kswapd (v3.7 ``balance_pgdat()``'s ``.nr_to_reclaim = ULONG_MAX``)."""


class ScanControl:
    """Models the fields of ``struct scan_control`` (mm/vmscan.c v3.7) that reclaim uses."""

    __slots__ = ("is_kswapd", "may_swap", "nr_reclaimed", "nr_scanned", "nr_to_reclaim",
                 "priority", "target_mem_cgroup")

    def __init__(self, target_mem_cgroup: int | None, priority: int,
                 nr_to_reclaim: int = NO_TARGET, may_swap: bool = True,
                 is_kswapd: bool = False) -> None:
        self.target_mem_cgroup = target_mem_cgroup
        self.priority = priority
        self.nr_to_reclaim = nr_to_reclaim
        self.nr_reclaimed = 0
        self.nr_scanned = 0
        self.may_swap = may_swap
        # current_is_kswapd(): a flag of the caller here (the model has no `current`).
        self.is_kswapd = is_kswapd

    def __fingerprint__(self) -> Hashable:
        return (self.target_mem_cgroup, self.priority, self.nr_to_reclaim, self.nr_reclaimed,
                self.nr_scanned, self.may_swap, self.is_kswapd)


def global_reclaim(sc: ScanControl) -> bool:
    """mm/vmscan.c v3.7 ``global_reclaim()``: no target memcg."""
    return sc.target_mem_cgroup is None
