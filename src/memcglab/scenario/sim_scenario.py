"""``memcglab run`` scenarios: TOML validated with pydantic, built into a frozen plan.

A scenario describes the machine, the hierarchy with limits, the workloads and how reclaim
may run; docs/scenarios.md is the reference and scenarios/ has examples. Sizes take units
(4K, 32M, 2G) and durations 100us / 500ms / 2s. Every error names the file, the line where
it can, the field, what was expected and what was found.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from memcglab.errors import ConfigError
from memcglab.kernel.registry import ITERATORS
from memcglab.model.hierarchy import GroupSpec, Topology
from memcglab.scenario.units import duration_ns, size_to_pages
from memcglab.scenario.validation import declare_group, read_toml, validate_model
from memcglab.sim.plan import Plan, WorkloadPlan, ZonePlan

MAX_PAGES = 16 << 20  # 64G of 4K pages: a few arrays of this length must fit in memory
Size = str | int
Duration = str | int


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _size(v: Any) -> Any:
    size_to_pages(v)
    return v


def _duration(v: Any) -> Any:
    duration_ns(v)
    return v


class Watermarks(_Strict):
    min: Size | None = None
    low: Size | None = None
    high: Size | None = None

    _v = field_validator("min", "low", "high")(lambda v: v if v is None else _size(v))


class MachineSection(_Strict):
    nodes: int = Field(default=1, ge=1, le=16)
    zones: int = Field(default=1, ge=1, le=4, description="zones per node")
    pages_per_zone: Size = "256M"
    watermarks: Watermarks = Watermarks()
    swap: bool = False

    _v = field_validator("pages_per_zone")(_size)


class GroupEntry(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    parent: str = "root"
    limit: Size | None = Field(default=None, description="memory.max / limit_in_bytes")
    soft_limit: Size | None = Field(default=None, description="v1 soft_limit_in_bytes")
    use_hierarchy: bool = True
    created_at: Duration | None = None
    removed_at: Duration | None = None

    _s = field_validator("limit", "soft_limit")(lambda v: v if v is None else _size(v))
    _d = field_validator("created_at", "removed_at")(lambda v: v if v is None else _duration(v))


class WorkloadEntry(_Strict):
    group: str
    pattern: Literal["stream", "loop", "random"]
    type: Literal["file", "anon"] = "file"
    size: Size
    rate: Size = Field(description="bytes touched per second, e.g. 40M")
    start: Duration = "0s"
    stop: Duration | None = None
    processes: int = Field(default=1, ge=1, le=256)

    _s = field_validator("size", "rate")(_size)
    _d = field_validator("start")(_duration)
    _e = field_validator("stop")(lambda v: v if v is None else _duration(v))


class ScenarioFile(_Strict):
    description: str = ""
    seed: int = 0
    duration: Duration = "1s"
    variant: str = "css-id"
    cpus: int = Field(default=4, ge=1, le=256)
    scheduler: Literal["random", "round-robin"] = "random"
    sample_interval: Duration = "10ms"
    kswapd: bool = True
    machine: MachineSection = MachineSection()
    group: list[GroupEntry] = []
    workload: list[WorkloadEntry] = []

    _d = field_validator("duration", "sample_interval")(_duration)


def load(path: Path, overrides: dict[str, Any] | None = None) -> Plan:
    """Load a scenario; ``overrides`` are top-level fields given as flags (--seed, ...)."""
    raw, text = read_toml(path)
    raw.update(overrides or {})
    flags = {k: "--" + k.replace("_", "-") for k in overrides or {}}
    f = validate_model(ScenarioFile, raw, str(path), text, flags)
    return build(f, str(path), path.stem)


def build(f: ScenarioFile, where: str, name: str = "scenario") -> Plan:
    from memcglab.kernel.registry import resolve_variant

    resolve_variant(f.variant)  # unknown names fail here, with the valid ones
    if f.variant not in ITERATORS and ":" not in f.variant:
        raise ConfigError(f"{where}: variant {f.variant!r} unknown")
    index = {"root": 0}
    specs = [GroupSpec("root", None)]
    limits: list[int | None] = [None]
    softs: list[int | None] = [None]
    changes: list[tuple[int, str, int]] = []
    duration = duration_ns(f.duration)
    lifetimes: dict[int, tuple[int, int]] = {0: (0, duration)}
    hierarchical = [True]
    for g in f.group:
        pi = declare_group(where, g.name, g.parent, g.use_hierarchy, index, hierarchical)
        gi = len(specs)
        born = duration_ns(g.created_at) if g.created_at is not None else 0
        # A removal scheduled at or after the end of the run (e.g. after --duration
        # shortened it) simply does not happen.
        removed = g.removed_at is not None and duration_ns(g.removed_at) < duration
        dies = duration_ns(g.removed_at) if removed else duration  # type: ignore[arg-type]
        if born >= duration:
            raise ConfigError(f"{where}: group {g.name!r}: created_at {g.created_at!r} is not "
                              f"before the end of the run ({duration / 1e6:g}ms)")
        pb, pd = lifetimes[pi]
        if born >= dies:
            raise ConfigError(f"{where}: group {g.name!r}: created_at must be before "
                              "removed_at")
        if born < pb or dies > pd:
            raise ConfigError(f"{where}: group {g.name!r} must live within its parent "
                              f"{g.parent!r} (created and removed inside its lifetime)")
        lifetimes[gi] = (born, dies)
        specs.append(GroupSpec(g.name, pi, g.use_hierarchy,
                               initially_present=g.created_at is None or born == 0))
        limits.append(size_to_pages(g.limit) if g.limit is not None else None)
        softs.append(size_to_pages(g.soft_limit) if g.soft_limit is not None else None)
        if g.created_at is not None and born > 0:
            changes.append((born, "mkdir", gi))
        if removed:
            changes.append((dies, "rmdir", gi))
    topo = Topology(tuple(specs))
    m = f.machine
    zpages = size_to_pages(m.pages_per_zone)
    total_pages = zpages * m.nodes * m.zones
    if total_pages > MAX_PAGES:
        raise ConfigError(f"{where}: machine: {m.nodes} nodes x {m.zones} zones x "
                          f"{m.pages_per_zone!r} is more than the simulator holds "
                          f"(at most 64G of pages in all)")
    if zpages < 64:
        raise ConfigError(f"{where}: machine.pages_per_zone: expected at least 256K (64 "
                          f"pages), got {m.pages_per_zone!r}")
    wm = m.watermarks
    wmin = size_to_pages(wm.min) if wm.min is not None else max(zpages // 256, 8)
    wlow = size_to_pages(wm.low) if wm.low is not None else wmin * 5 // 4
    whigh = size_to_pages(wm.high) if wm.high is not None else wmin * 3 // 2
    if not wmin <= wlow <= whigh < zpages:
        raise ConfigError(f"{where}: machine.watermarks: expected min <= low <= high < "
                          f"pages_per_zone, got {wmin} <= {wlow} <= {whigh} < {zpages} pages")
    zones = tuple(ZonePlan(n, zpages, wmin, wlow, whigh)
                  for n in range(m.nodes) for _ in range(m.zones))
    workloads = []
    for i, w in enumerate(f.workload):
        if w.group not in index:
            raise ConfigError(f"{where}: workload[{i}].group {w.group!r}: no such group; "
                              f"groups: {', '.join(index)}")
        gi = index[w.group]
        start = duration_ns(w.start)
        stop = duration_ns(w.stop) if w.stop is not None else duration
        born, dies = lifetimes[gi]
        if start < born or stop > dies or start >= stop:
            raise ConfigError(f"{where}: workload[{i}] runs {start / 1e6:g}ms..{stop / 1e6:g}ms"
                              f" but group {w.group!r} lives {born / 1e6:g}ms..{dies / 1e6:g}ms"
                              "; expected start < stop, both within the group's lifetime")
        pages = size_to_pages(w.size)
        rate = size_to_pages(w.rate)
        if pages < 1 or rate < 1:
            raise ConfigError(f"{where}: workload[{i}]: size and rate must be at least 4K")
        workloads.append(WorkloadPlan(gi, w.pattern, w.type == "anon", pages,
                                      max(1, 1_000_000_000 // rate), start, stop,
                                      w.processes))
    if not workloads:
        raise ConfigError(f"{where}: no [[workload]]: nothing would allocate memory")
    for gi, (_, dies) in lifetimes.items():
        if dies < duration:
            alive_kids = [topo.name(c) for c in topo.children(gi) if lifetimes[c][1] > dies]
            if alive_kids:
                raise ConfigError(f"{where}: group {topo.name(gi)!r} is removed while its "
                                  f"children {', '.join(alive_kids)} still exist")
    if duration <= 0:
        raise ConfigError(f"{where}: duration: expected more than 0, got {f.duration!r}")
    sample = duration_ns(f.sample_interval)
    if sample < 1000:
        raise ConfigError(f"{where}: sample_interval: expected at least 1us, got "
                          f"{f.sample_interval!r}")
    digest = f"{zlib.crc32(f.model_dump_json().encode()):08x}"
    return Plan(name=name, description=f.description, digest=digest, seed=f.seed,
                duration_ns=duration, variant=f.variant, cpus=f.cpus, scheduler=f.scheduler,
                sample_ns=duration_ns(f.sample_interval), kswapd=f.kswapd, swap=m.swap,
                topology=topo, limits=tuple(limits), soft_limits=tuple(softs),
                changes=tuple(sorted(changes)), zones=zones, zones_per_node=m.zones,
                workloads=tuple(workloads))
