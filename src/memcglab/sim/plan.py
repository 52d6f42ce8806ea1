"""A simulation plan: a validated scenario in pages and nanoseconds (built by
:mod:`memcglab.scenario.sim_scenario`, consumed by :mod:`memcglab.sim.engine`)."""

from __future__ import annotations

from dataclasses import dataclass

from memcglab.model.hierarchy import Topology

# The kernel's default readahead window: VM_READAHEAD_PAGES, 128 KiB
# (include/linux/pagemap.h), what a device reports when nothing raises it.
DEFAULT_READ_AHEAD_KB = 128


@dataclass(frozen=True, slots=True)
class ZonePlan:
    nid: int
    pages: int
    min: int
    low: int
    high: int


@dataclass(frozen=True, slots=True)
class WorkloadPlan:
    group: int
    pattern: str
    anon: bool
    pages: int
    interval_ns: int
    start_ns: int
    stop_ns: int
    processes: int
    readahead: str = "default"  # live kernel only (posix_fadvise); see sim_scenario
    rate_pages: int = 0  # pages touched per second (interval_ns is its rounded inverse)


@dataclass(frozen=True, slots=True)
class Plan:
    """A validated scenario, in pages and nanoseconds."""

    name: str
    description: str
    digest: str
    seed: int
    duration_ns: int
    variant: str
    cpus: int
    scheduler: str
    sample_ns: int
    kswapd: bool
    swap: bool
    topology: Topology
    limits: tuple[int | None, ...]
    soft_limits: tuple[int | None, ...]
    changes: tuple[tuple[int, str, int], ...]
    zones: tuple[ZonePlan, ...]
    zones_per_node: int
    workloads: tuple[WorkloadPlan, ...]
    # Per group: (memory.high, memory.low, memory.min) in pages, v2 only; the v3.7
    # simulator ignores them (they are listed by `notes`).
    protections: tuple[tuple[int | None, int | None, int | None], ...] = ()
    # Per group: (created, removed) in ns; the root lives (0, duration).
    lifetimes: tuple[tuple[int, int], ...] = ()
    # The variant to load: the registered name, or ``/absolute/path.py:Class`` (``variant``
    # keeps the spelling of the scenario or flag, for reports).
    variant_spec: str = ""
    # Whose reclaim rules run ("3.7" or "6.18"), the cgroup interface ("v1" or "v2") and
    # cgroup2's memory_recursiveprot.
    kernel: str = "3.7"
    cgroup: str = "v1"
    recursive_protection: bool = False
    # The block device under the files (kernel 6.18): its readahead window (read_ahead_kb),
    # the latency of a read request and the transfer time of a page (its bandwidth).
    # None: the scenario names no window (DEFAULT_READ_AHEAD_KB, or the kernel run's device
    # in `compare --kernel`).
    read_ahead_kb: int | None = None
    disk_latency_ns: int = 50_000
    disk_ns_per_page: int = 5_120

    def simulator_notes(self) -> list[str]:
        """What the scenario asks that the simulator does not model (it runs without it,
        and says so)."""
        notes = []
        if self.kernel == "3.7" and any(w.readahead != "default" for w in self.workloads):
            notes.append("readahead: the kernel 3.7 model has no readahead (ignored; kernel "
                         "6.18 scenarios and the live kernel apply it)")
        return notes
