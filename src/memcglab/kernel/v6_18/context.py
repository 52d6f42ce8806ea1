"""The small structs v6.18 reclaim passes around the memcg walk.

* :class:`ReclaimCookie` models ``struct mem_cgroup_reclaim_cookie`` of v6.12+
  (include/linux/memcontrol.h): ``pgdat`` (here the node id) and ``int generation``. The
  zone and priority members of the 3.x cookie are gone: one iterator per (root, node).
* :class:`ScanControl` models the fields of ``struct scan_control`` (mm/vmscan.c v6.18,
  [VS]:75-183 in docs/research/v6-reclaim.md) that the walk and the simulator's reclaim read:
  ``target_mem_cgroup``, ``priority``, ``nr_to_reclaim``, ``nr_reclaimed``,
  ``memcg_full_walk`` (6be5e186fd65); in ``memcglab run`` also ``nr_scanned``, ``may_swap``,
  the deactivation bits, the memory.low flags, the costs and the trim modes;
* :class:`TaskStruct` models the parts of ``struct task_struct`` (and of the per-CPU charge
  stock of the CPU it runs on) that charging reads.
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


DEACTIVATE_ANON = 1  # mm/vmscan.c: sc->may_deactivate bits, 1 << is_file_lru(lru)
DEACTIVATE_FILE = 2


class ScanControl:
    """The fields of ``struct scan_control`` (mm/vmscan.c v6.18) reclaim uses. The
    explorer reads the first five; the rest only change in ``memcglab run``."""

    __slots__ = ("anon_cost", "cache_trim_mode", "cache_trim_mode_failed", "file_cost",
                 "file_is_tiny", "force_deactivate", "is_kswapd", "may_deactivate", "may_swap",
                 "memcg_full_walk", "memcg_low_reclaim", "memcg_low_skipped",
                 "no_cache_trim_mode", "nr_reclaimed", "nr_scanned", "nr_to_reclaim",
                 "priority", "skipped_deactivate", "target_mem_cgroup")

    def __init__(self, target_mem_cgroup: int | None, priority: int,
                 nr_to_reclaim: int, may_swap: bool = True, is_kswapd: bool = False) -> None:
        self.target_mem_cgroup = target_mem_cgroup
        self.priority = priority
        self.nr_to_reclaim = nr_to_reclaim
        self.nr_reclaimed = 0
        self.memcg_full_walk = False
        self.nr_scanned = 0
        self.may_swap = may_swap
        # current_is_kswapd(): a flag of the caller here (the model has no `current`).
        self.is_kswapd = is_kswapd
        self.may_deactivate = 0
        self.force_deactivate = False
        self.skipped_deactivate = False
        self.memcg_low_reclaim = False
        self.memcg_low_skipped = False
        self.anon_cost = 0
        self.file_cost = 0
        self.cache_trim_mode = False
        self.cache_trim_mode_failed = False
        self.no_cache_trim_mode = False
        self.file_is_tiny = False

    def __fingerprint__(self) -> Hashable:
        return (self.target_mem_cgroup, self.priority, self.nr_to_reclaim, self.nr_reclaimed,
                self.memcg_full_walk)


class TaskStruct:
    """The parts of a task (and of the CPU it charges on) the v6.18 charge path reads.

    ``stock_memcg`` / ``stock_nr`` are the per-CPU charge stock (``struct memcg_stock_pcp``,
    mm/memcontrol.c): the model keeps one stock slot per task, as if every task had a CPU
    of its own (the kernel has ``NR_MEMCG_STOCK`` = 7 slots per CPU shared by the tasks
    that run there). ``memcg_nr_pages_over_high`` is ``current->memcg_nr_pages_over_high``.
    ``killed`` is a pending SIGKILL from the OOM killer (``fatal_signal_pending``)."""

    __slots__ = ("comm", "killed", "memcg", "memcg_nr_pages_over_high", "stock_memcg",
                 "stock_nr", "tid")

    def __init__(self, tid: int, comm: str, memcg: int) -> None:
        self.tid = tid
        self.comm = comm
        self.memcg = memcg
        self.memcg_nr_pages_over_high = 0
        self.stock_memcg = -1
        self.stock_nr = 0
        self.killed = False
