"""The small structs v6.18 reclaim passes around the memcg walk.

* :class:`ReclaimCookie` models ``struct mem_cgroup_reclaim_cookie`` of v6.12+
  (include/linux/memcontrol.h): ``pgdat`` (here the node id) and ``int generation``. The
  zone and priority members of the 3.x cookie are gone: one iterator per (root, node).
* :class:`ScanControl` models the fields of ``struct scan_control`` (mm/vmscan.c v6.12+)
  that the walk reads: ``target_mem_cgroup``, ``priority``, ``nr_to_reclaim``,
  ``nr_reclaimed`` and ``memcg_full_walk`` (6be5e186fd65).
"""

from __future__ import annotations

from collections.abc import Hashable


class ReclaimCookie:
    """``struct mem_cgroup_reclaim_cookie``: private to one walker, on its stack."""

    __slots__ = ("generation", "pgdat")

    def __init__(self, pgdat: int, generation: int = 0) -> None:
        self.pgdat = pgdat  # the node id: reclaim->pgdat->node_id
        self.generation = generation

    def __fingerprint__(self) -> Hashable:
        return (self.pgdat, self.generation)

    def __repr__(self) -> str:
        return f"cookie(node={self.pgdat}, gen={self.generation})"


class ScanControl:
    """The fields of ``struct scan_control`` (mm/vmscan.c v6.12+) the memcg walk uses."""

    __slots__ = ("memcg_full_walk", "nr_reclaimed", "nr_to_reclaim", "priority",
                 "target_mem_cgroup")

    def __init__(self, target_mem_cgroup: int | None, priority: int,
                 nr_to_reclaim: int) -> None:
        self.target_mem_cgroup = target_mem_cgroup
        self.priority = priority
        self.nr_to_reclaim = nr_to_reclaim
        self.nr_reclaimed = 0
        self.memcg_full_walk = False

    def __fingerprint__(self) -> Hashable:
        return (self.target_mem_cgroup, self.priority, self.nr_to_reclaim, self.nr_reclaimed,
                self.memcg_full_walk)
