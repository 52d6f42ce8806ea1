"""What the live recorders produce: plain records of kernel events, one type per kind.

Both recorders write these: the tracefs layer (:mod:`memcglab.live.tracefs`) and the
bpftrace layer (:mod:`memcglab.live.bpf`). Timestamps are CLOCK_MONOTONIC nanoseconds
(the tracefs instance runs with ``trace_clock = mono``, which is what bpftrace's ``nsecs``
reads), so records of the two layers can be merged by time. Cgroup ids are the kernel's
``cgroup_id()``: the inode number of the cgroup's directory (Linux 6.18,
``include/trace/events/memcg.h`` ``__entry->id = cgroup_id(memcg->css.cgroup)``), unique
within one hierarchy only.

The reclaimer classes come from the ``enum vm_event_item`` item of
``memcg:count_memcg_events`` (``PGSCAN_KSWAPD`` ... ``PGSCAN_PROACTIVE``): which counter a
scan was charged to is how the kernel itself classifies the reclaimer
(mm/vmscan.c ``shrink_inactive_list``: ``item = PGSCAN_KSWAPD + reclaimer_offset(sc)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Reclaimer = Literal["kswapd", "direct", "khugepaged", "proactive"]
RECLAIMERS: tuple[Reclaimer, ...] = ("kswapd", "direct", "khugepaged", "proactive")


@dataclass(frozen=True, slots=True)
class ShrinkRecord:
    """One ``shrink_inactive_list`` call that isolated pages, with the memcg it worked on.

    tracefs pairs ``count_memcg_events(PGSCAN_*)`` / ``(PGSTEAL_*)`` with the
    ``mm_vmscan_lru_shrink_inactive`` that follows on the same pid; bpftrace reads the same
    and adds the reclaim root (``scan_control.target_mem_cgroup``) and that root's shared
    iterator (``nodeinfo[nid]->iter.position`` / ``.generation``) at that moment.
    """

    t_ns: int
    pid: int
    comm: str
    memcg: int  # cgroup id of the memcg whose lruvec was shrunk
    reclaimer: Reclaimer
    nid: int
    priority: int
    file: bool  # the file LRU (else anon)
    scanned: int
    reclaimed: int
    # bpftrace only (None from tracefs): the reclaim root's cgroup id, 0 for global reclaim
    # (target_mem_cgroup == NULL); the root's iterator position (cgroup id, 0 = NULL) and
    # generation (-1 when there is no root).
    root: int | None = None
    position: int | None = None
    generation: int | None = None


@dataclass(frozen=True, slots=True)
class PassRecord:
    """A reclaim bracket: ``mm_vmscan_{memcg,direct,memcg_softlimit}_reclaim_{begin,end}``."""

    t_ns: int
    pid: int
    comm: str
    kind: Literal["memcg", "direct", "softlimit"]
    edge: Literal["begin", "end"]
    nr_reclaimed: int | None = None  # on "end"
    root: int | None = None  # bpftrace only, on "begin": the reclaim root's cgroup id


@dataclass(frozen=True, slots=True)
class KswapdRecord:
    """``mm_vmscan_kswapd_wake`` / ``mm_vmscan_kswapd_sleep``."""

    t_ns: int
    pid: int
    edge: Literal["wake", "sleep"]
    nid: int


@dataclass(frozen=True, slots=True)
class CgroupRecord:
    """``cgroup:cgroup_mkdir`` / ``cgroup:cgroup_rmdir`` (``hierarchy`` is the event's
    ``root``: the hierarchy id, as in /proc/cgroups)."""

    t_ns: int
    edge: Literal["mkdir", "rmdir"]
    hierarchy: int
    id: int
    path: str


@dataclass(frozen=True, slots=True)
class ActiveRecord:
    """``mm_vmscan_lru_shrink_active`` (no memcg in it: counted, attributed by pid/time)."""

    t_ns: int
    pid: int
    nid: int
    taken: int
    deactivated: int
    priority: int


@dataclass(frozen=True, slots=True)
class IterSample:
    """What bpftrace reads at one ``mm_vmscan_lru_shrink_inactive`` (the same tracepoint
    hit the tracefs instance records): the shrink's pid, time, priority and counts (to join
    it with the tracefs record of the same event), and the reclaim context the tracepoint
    does not carry: ``scan_control.target_mem_cgroup`` (the reclaim root; 0 = global) and
    that root's shared iterator ``nodeinfo[nid]->iter.position`` / ``.generation`` (0 and
    -1 when there is no root)."""

    t_ns: int
    pid: int
    nid: int
    priority: int
    scanned: int
    reclaimed: int
    root: int
    position: int
    generation: int


Record = ShrinkRecord | PassRecord | KswapdRecord | CgroupRecord | ActiveRecord


@dataclass(frozen=True, slots=True)
class Lost:
    """Events a recorder knows it lost: per CPU ring-buffer overruns and dropped events
    (tracefs ``per_cpu/cpuN/stats``), or bpftrace's "Lost N events"."""

    source: str  # "tracefs" | "bpftrace"
    overrun: int = 0
    dropped: int = 0

    @property
    def total(self) -> int:
        return self.overrun + self.dropped


@dataclass(frozen=True, slots=True)
class CounterSample:
    """The counters of every group at one sample time (``kernel run`` reads them every
    ``sample_interval``): usage in bytes, limit hits (v1 ``memory.failcnt`` / v2
    ``memory.events.local`` ``max``) and ``memory.stat`` (raw keys). Groups not present at
    that time are absent.

    The kernel's usage counter (v1 ``memory.usage_in_bytes``, v2 ``memory.current``) is
    hierarchical: a group's page counter is charged for its descendants too
    (mm/page_counter.c ``page_counter_try_charge`` walks the parents). The model's per-group
    usage is what is charged to the group itself, so ``usage`` here is the group's counter
    minus its children's (read at the same sample), and ``husage`` the counter as read (the
    one the limit applies to)."""

    t_ns: int  # since the run's start (t = 0 when the first workload may start)
    usage: dict[str, int]
    limit_hits: dict[str, int]
    stat: dict[str, dict[str, int]]
    husage: dict[str, int] = field(default_factory=dict)
    # PSI stall time since the group (or, under "", the machine) began: microseconds,
    # {"some": ..., "full": ...} of memory.pressure / /proc/pressure/memory
    psi: dict[str, dict[str, int]] = field(default_factory=dict)
    vmstat: dict[str, int] = field(default_factory=dict)  # /proc/vmstat, reclaim keys
