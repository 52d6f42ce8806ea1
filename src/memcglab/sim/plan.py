"""A simulation plan: a validated scenario in pages and nanoseconds (built by
:mod:`memcglab.scenario.sim_scenario`, consumed by :mod:`memcglab.sim.engine`)."""

from __future__ import annotations

from dataclasses import dataclass

from memcglab.model.hierarchy import Topology


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
    # The variant to load: the registered name, or ``/absolute/path.py:Class`` (``variant``
    # keeps the spelling of the scenario or flag, for reports).
    variant_spec: str = ""
