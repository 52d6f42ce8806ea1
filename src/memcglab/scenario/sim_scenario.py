"""``memcglab run`` scenarios: TOML validated with pydantic, built into a frozen plan.

A scenario describes the machine, the hierarchy with limits, the workloads and how reclaim
may run; docs/scenarios.md is the reference and scenarios/ has examples. Sizes take units
(4K, 32M, 2G) and durations 100us / 500ms / 2s. Types are strict (``kswapd = "yes"`` or
``cpus = "12"`` is refused, not guessed). Every error names the file and the line of the key
at fault (or the flag that gave the value), the field, what was expected and what was found.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator

from memcglab.errors import ConfigError
from memcglab.kernel.registry import plugin_path, resolve_variant
from memcglab.model.hierarchy import GroupSpec, Topology
from memcglab.scenario.units import duration_ns, size_to_bytes, size_to_pages
from memcglab.scenario.validation import Loc, Locator, declare_group, read_toml, validate_model
from memcglab.sim.plan import DEFAULT_READ_AHEAD_KB, Plan, WorkloadPlan, ZonePlan

MAX_PAGES = 16 << 20  # 64G of 4K pages: a few arrays of this length must fit in memory
# The longest simulated time a scenario or --duration may ask for. The simulator runs from a
# few ms (busy reclaim, benchmarks/bench_sim.py) to a few hundred ms (scenarios/) of
# simulated time per second, so 10min can be hours of computing already; longer runs are
# refused rather than left to run for days.
MAX_DURATION_NS = 10 * 60 * 1_000_000_000
MAX_DURATION_TEXT = "10min"


def _size(v: Any) -> Any:
    # Strict: a string with a unit or an integer number of bytes; true or 1.5 are refused.
    if isinstance(v, bool) or not isinstance(v, str | int):
        raise ValueError(f"expected a size like 4K, 32M or 2G (a string) or an integer "
                         f"number of bytes, got {v!r}")
    size_to_pages(v)
    return v


def _duration(v: Any) -> Any:
    if isinstance(v, bool) or not isinstance(v, str | int):
        raise ValueError(f"expected a duration like 100us, 500ms or 2s (a string) or an "
                         f"integer number of nanoseconds, got {v!r}")
    duration_ns(v)
    return v


# One validator per type instead of a union: a wrong value gets one clear message (not one
# per union branch), and the stored value is what the file says (the digest depends on it).
Size = Annotated[str | int, PlainValidator(_size)]
Duration = Annotated[str | int, PlainValidator(_duration)]


class _Strict(BaseModel):
    # strict: no lax coercion (true is not 1, "2" is not 2, 2.0 is not 2, "yes" is not true).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Watermarks(_Strict):
    min: Size | None = None
    low: Size | None = None
    high: Size | None = None


class MachineSection(_Strict):
    nodes: int = Field(default=1, ge=1, le=16)
    zones: int = Field(default=1, ge=1, le=4, description="zones per node")
    pages_per_zone: Size = "256M"
    watermarks: Watermarks = Watermarks()
    swap: bool = False
    # The block device under the workloads' files (kernel 6.18; docs/io-cost.md): its
    # readahead window (/sys/block/DEV/queue/read_ahead_kb), the latency of one read
    # request and its bandwidth (bytes per second). Unset: DEFAULT_DEVICE.
    read_ahead_kb: int | None = Field(default=None, ge=0, le=1 << 20)
    disk_latency: Duration | None = None
    disk_bandwidth: Size | None = None


class GroupEntry(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    parent: str = "root"
    limit: Size | None = Field(default=None, description="memory.max / limit_in_bytes")
    soft_limit: Size | None = Field(default=None, description="v1 soft_limit_in_bytes")
    # cgroup v2 protection and throttling (Documentation/admin-guide/cgroup-v2.rst, v6.18).
    # Simulated by kernel 6.18 (cgroup v2 scenarios; refused in v1 ones); `kernel run` sets
    # them on a v2 memory controller and reports them as impossible on v1.
    high: Size | None = Field(default=None, description="v2 memory.high")
    low: Size | None = Field(default=None, description="v2 memory.low")
    min: Size | None = Field(default=None, description="v2 memory.min")
    use_hierarchy: bool = True
    created_at: Duration | None = None
    removed_at: Duration | None = None


class WorkloadEntry(_Strict):
    group: str
    pattern: Literal["stream", "loop", "random"]
    type: Literal["file", "anon"] = "file"
    size: Size
    rate: Size = Field(description="bytes touched per second, e.g. 40M")
    start: Duration = "0s"
    stop: Duration | None = None
    processes: int = Field(default=1, ge=1, le=256)
    # How the process asks the kernel to read its file (posix_fadvise on its own file;
    # kernel 6.18 scenarios and the live kernel): default = NORMAL, sequential =
    # SEQUENTIAL (twice the device's window), off = RANDOM (no readahead).
    readahead: Literal["default", "sequential", "off"] = "default"


class ScenarioFile(_Strict):
    description: str = ""
    seed: int = 0
    duration: Duration = "1s"
    # Unset: the kernel's own iterator (KERNEL_ITERATOR), or the kernel of the variant.
    variant: str | None = None
    cpus: int = Field(default=4, ge=1, le=256)
    scheduler: Literal["random", "round-robin"] = "random"
    sample_interval: Duration = "10ms"
    kswapd: bool = True
    machine: MachineSection = MachineSection()
    group: list[GroupEntry] = []
    workload: list[WorkloadEntry] = []
    # Whose reclaim rules run (docs/scenarios.md "Kernels"); unset: the variant's kernel,
    # or DEFAULT_KERNEL when no variant is named either.
    kernel: Literal["3.7", "6.18"] | None = None
    # The memory controller's interface: v1 (the only one of 3.7) or v2 (default of 6.18).
    cgroup: Literal["v1", "v2"] | None = None
    # cgroup2's memory_recursiveprot mount option (v2 only; off unless set).
    memory_recursiveprot: bool | None = None


# The device of a scenario that names none: the kernel's default readahead window
# (VM_READAHEAD_PAGES, 128 KiB: include/linux/pagemap.h) and the development machine's
# virtio disk as measured (docs/io-cost.md). `memcglab compare --kernel` takes the window
# of the kernel run's device when the scenario leaves it unset.
DEFAULT_DEVICE = {"read_ahead_kb": DEFAULT_READ_AHEAD_KB, "disk_latency": "50us",
                  "disk_bandwidth": "800M"}
DEVICE_FIELDS = tuple(DEFAULT_DEVICE)
DEFAULT_KERNEL = "6.18"
KERNEL_ITERATOR = {"3.7": "css-id", "6.18": "current"}
"""Each kernel's own iterator: the variant a scenario runs when it names none."""
# Per-group knobs of one cgroup interface only: (field, the interface's file).
V1_ONLY = (("soft_limit", "memory.soft_limit_in_bytes"),)
V2_ONLY = (("high", "memory.high"), ("low", "memory.low"), ("min", "memory.min"))


def load(path: Path, overrides: dict[str, Any] | None = None,
         places: dict[Loc, str] | None = None) -> Plan:
    """Load a scenario; ``overrides`` are top-level fields given as flags (--seed, ...), or
    given where ``places`` says (``memcglab.run(seed=...)``)."""
    file, text = read_toml(path)
    raw = {**file, **(overrides or {})}
    flags: dict[Loc, str] = {(k,): "--" + k.replace("_", "-") for k in overrides or {}}
    return build_tables(raw, file, text, str(path), path.stem, path.parent, flags, places)


def build_tables(raw: dict[str, Any], file: dict[str, Any], text: str, where: str, name: str,
                 base: Path, flags: dict[Loc, str] | None = None,
                 places: dict[Loc, str] | None = None) -> Plan:
    """Validate and build a scenario's tables: ``raw`` as given (the file's ``file``, whose
    ``text`` is ``where``, with values set by flags or by ``places``: a sweep's axes, the
    API's arguments), so that each error names where its value came from; ``base`` is the
    folder a variant file is relative to."""
    locator = Locator(where, text, raw, flags or {}, file, places)
    f = validate_model(ScenarioFile, raw, locator)
    return build(f, where, name, locator, base=base)


def _variant_spec(variant: str, loc: Locator, base: Path | None) -> str:
    """The variant to load: a registered name, or ``path.py:Class`` with a path relative to
    the scenario's folder when the scenario names it (to the current folder for --variant)."""
    path = plugin_path(variant)
    if path is None:
        spec = variant
    else:
        if (base is not None and not path.is_absolute()
                and not loc.from_command_line(("variant",))):
            path = base / path
        spec = f"{os.path.abspath(path)}:{variant.rsplit(':', 1)[1]}"
    try:
        resolve_variant(spec)  # unknown names and broken plugins fail here, with the file
    except ConfigError as e:
        raise ConfigError(f"{loc.at('variant')}: {e}") from None
    return spec


def build(f: ScenarioFile, where: str, name: str = "scenario", locator: Locator | None = None,
          base: Path | None = None) -> Plan:
    """Check the cross-field rules and build the plan. ``locator`` says where each field is
    (file line or flag) for the messages; ``base`` is the scenario's folder (a plugin path
    in the file is relative to it)."""
    loc = locator or Locator(where)
    at = loc.at
    variant, kernel, cgroup = _kernel_and_variant(f, loc, base)
    spec = _variant_spec(variant, loc, base)
    # The run's own length first: every lifetime below is checked against it.
    duration = duration_ns(f.duration)
    if duration <= 0:
        raise ConfigError(f"{at('duration')}: duration: expected more than 0, got "
                          f"{f.duration!r}")
    if duration > MAX_DURATION_NS:
        raise ConfigError(f"{at('duration')}: duration: expected at most "
                          f"{MAX_DURATION_TEXT} of simulated time, got {f.duration!r}")
    sample = duration_ns(f.sample_interval)
    if sample < 1000:
        raise ConfigError(f"{at('sample_interval')}: sample_interval: expected at least 1us, "
                          f"got {f.sample_interval!r}")
    index = {"root": 0}
    specs = [GroupSpec("root", None)]
    limits: list[int | None] = [None]
    softs: list[int | None] = [None]
    protections: list[tuple[int | None, int | None, int | None]] = [(None, None, None)]
    changes: list[tuple[int, str, int]] = []
    lifetimes: dict[int, tuple[int, int]] = {0: (0, duration)}
    hierarchical = [True]
    for i, g in enumerate(f.group):
        def gat(field: str, i: int = i) -> str:
            return at("group", i, field)

        _check_knobs(g, gat, kernel, cgroup)
        pi = declare_group(gat, g.name, g.parent, g.use_hierarchy, index, hierarchical)
        gi = len(specs)
        for field in ("created_at", "removed_at"):
            v = getattr(g, field)
            if v is not None and duration_ns(v) < 0:
                raise ConfigError(f"{gat(field)}: group {g.name!r}: {field}: expected 0 or "
                                  f"more, got {v!r}")
        born = duration_ns(g.created_at) if g.created_at is not None else 0
        # A removal scheduled at or after the end of the run (e.g. after --duration
        # shortened it) simply does not happen.
        removed = g.removed_at is not None and duration_ns(g.removed_at) < duration
        dies = duration_ns(g.removed_at) if removed else duration  # type: ignore[arg-type]
        if born >= duration:
            raise ConfigError(f"{gat('created_at')}: group {g.name!r}: created_at "
                              f"{g.created_at!r} is not before the end of the run "
                              f"({duration / 1e6:g}ms)")
        pb, pd = lifetimes[pi]
        if born >= dies:
            raise ConfigError(f"{gat('removed_at')}: group {g.name!r}: created_at must be "
                              "before removed_at")
        if born < pb or dies > pd:
            raise ConfigError(f"{gat('created_at' if born < pb else 'removed_at')}: group "
                              f"{g.name!r} must live within its parent {g.parent!r} (created "
                              "and removed inside its lifetime)")
        lifetimes[gi] = (born, dies)
        specs.append(GroupSpec(g.name, pi, g.use_hierarchy,
                               initially_present=g.created_at is None or born == 0))
        limits.append(size_to_pages(g.limit) if g.limit is not None else None)
        softs.append(size_to_pages(g.soft_limit) if g.soft_limit is not None else None)
        protections.append(tuple(size_to_pages(v) if v is not None else None  # type: ignore[arg-type]
                                 for v in (g.high, g.low, g.min)))
        if g.created_at is not None and born > 0:
            changes.append((born, "mkdir", gi))
        if removed:
            changes.append((dies, "rmdir", gi))
    topo = Topology(tuple(specs))
    m = f.machine
    zpages = size_to_pages(m.pages_per_zone)
    total_pages = zpages * m.nodes * m.zones
    if total_pages > MAX_PAGES:
        raise ConfigError(f"{at('machine', 'pages_per_zone')}: machine: {m.nodes} nodes x "
                          f"{m.zones} zones x {m.pages_per_zone!r} is more than the simulator "
                          "holds (at most 64G of pages in all)")
    if zpages < 64:
        raise ConfigError(f"{at('machine', 'pages_per_zone')}: machine.pages_per_zone: "
                          f"expected at least 256K (64 pages), got {m.pages_per_zone!r}")
    wm = m.watermarks
    wmin = size_to_pages(wm.min) if wm.min is not None else max(zpages // 256, 8)
    wlow = size_to_pages(wm.low) if wm.low is not None else wmin * 5 // 4
    whigh = size_to_pages(wm.high) if wm.high is not None else wmin * 3 // 2
    if not wmin <= wlow <= whigh < zpages:
        raise ConfigError(f"{at('machine', 'watermarks')}: machine.watermarks: expected min <= "
                          f"low <= high < pages_per_zone, got {wmin} <= {wlow} <= {whigh} < "
                          f"{zpages} pages")
    if kernel != "3.7" and m.zones > 1:
        raise ConfigError(f"{at('machine', 'zones')}: machine.zones = {m.zones}: kernel "
                          f"{kernel} is modelled with one zone per node (its lruvecs are per "
                          "node, the watermark checks per zone); expected 1, or kernel = "
                          "\"3.7\"")
    zones = tuple(ZonePlan(n, zpages, wmin, wlow, whigh)
                  for n in range(m.nodes) for _ in range(m.zones))
    workloads = []
    for i, w in enumerate(f.workload):
        if w.group not in index:
            raise ConfigError(f"{at('workload', i, 'group')}: workload[{i}].group "
                              f"{w.group!r}: no such group; groups: {', '.join(index)}")
        gi = index[w.group]
        start = duration_ns(w.start)
        stop = duration_ns(w.stop) if w.stop is not None else duration
        born, dies = lifetimes[gi]
        if start < born or stop > dies or start >= stop:
            field = "start" if start < born or w.stop is None else "stop"
            raise ConfigError(f"{at('workload', i, field)}: workload[{i}] runs "
                              f"{start / 1e6:g}ms..{stop / 1e6:g}ms but group {w.group!r} "
                              f"lives {born / 1e6:g}ms..{dies / 1e6:g}ms; expected start < "
                              "stop, both within the group's lifetime")
        pages = size_to_pages(w.size)
        rate = size_to_pages(w.rate)
        if pages < 1 or rate < 1:
            raise ConfigError(f"{at('workload', i, 'size' if pages < 1 else 'rate')}: "
                              f"workload[{i}]: size and rate must be at least 4K")
        if w.type == "anon" and w.readahead != "default":
            raise ConfigError(f"{at('workload', i, 'readahead')}: workload[{i}].readahead "
                              f"{w.readahead!r}: only file workloads read ahead; expected "
                              "\"default\" for type = \"anon\"")
        workloads.append(WorkloadPlan(gi, w.pattern, w.type == "anon", pages,
                                      max(1, 1_000_000_000 // rate), start, stop,
                                      w.processes, w.readahead, rate))
    if not workloads:
        raise ConfigError(f"{where}: no [[workload]]: nothing would allocate memory")
    for gi, (_, dies) in lifetimes.items():
        if dies < duration:
            alive_kids = [topo.name(c) for c in topo.children(gi) if lifetimes[c][1] > dies]
            if alive_kids:
                raise ConfigError(f"{at('group', gi - 1, 'removed_at')}: group "
                                  f"{topo.name(gi)!r} is removed while its children "
                                  f"{', '.join(alive_kids)} still exist")
    # The kernel fields a scenario leaves unset stay out of the digest (older files keep
    # theirs).
    unset: dict[str, Any] = {x: True for x in ("variant", "kernel", "cgroup",
                                               "memory_recursiveprot")
                             if getattr(f, x) is None}
    unset["machine"] = {x: True for x in DEVICE_FIELDS if getattr(m, x) is None}
    digest = f"{zlib.crc32(f.model_dump_json(exclude=unset).encode()):08x}"
    latency_ns = duration_ns(m.disk_latency if m.disk_latency is not None
                             else str(DEFAULT_DEVICE["disk_latency"]))
    bandwidth = size_to_bytes(m.disk_bandwidth if m.disk_bandwidth is not None
                              else str(DEFAULT_DEVICE["disk_bandwidth"]))
    if bandwidth < 4096:
        raise ConfigError(f"{at('machine', 'disk_bandwidth')}: machine.disk_bandwidth: "
                          f"expected at least 4K (bytes per second), got {m.disk_bandwidth!r}")
    return Plan(name=name, description=f.description, digest=digest, seed=f.seed,
                duration_ns=duration, variant=variant, cpus=f.cpus, scheduler=f.scheduler,
                sample_ns=sample, kswapd=f.kswapd, swap=m.swap,
                topology=topo, limits=tuple(limits), soft_limits=tuple(softs),
                protections=tuple(protections), lifetimes=tuple(lifetimes[g] for g in
                                                                 range(len(specs))),
                changes=tuple(sorted(changes)), zones=zones, zones_per_node=m.zones,
                workloads=tuple(workloads), variant_spec=spec, kernel=kernel, cgroup=cgroup,
                recursive_protection=bool(f.memory_recursiveprot),
                read_ahead_kb=m.read_ahead_kb, disk_latency_ns=latency_ns,
                disk_ns_per_page=max(1, 4096 * 1_000_000_000 // bandwidth))


def _kernel_and_variant(f: ScenarioFile, loc: Locator, base: Path | None
                        ) -> tuple[str, str, str]:
    """The variant, kernel and cgroup interface a scenario runs: a variant runs with the
    reclaim rules and cgroup core of its own kernel (``era``)."""
    at = loc.at
    kernel: str | None = f.kernel
    variant = f.variant
    if variant is None:
        kernel = kernel or DEFAULT_KERNEL
        variant = KERNEL_ITERATOR[kernel]
    # _variant_spec() names the file and line of an unknown or broken variant.
    era = getattr(resolve_variant(_variant_spec(variant, loc, base)), "era", "3.7")
    if kernel is None:
        kernel = era
    elif era != kernel:
        raise ConfigError(
            f"{at('variant')}: variant {variant!r} runs on memcglab's kernel {era} page "
            f"reclaim (with its own era's walk: docs/twelve-years.md); kernel = {kernel!r} "
            f"expects a variant of that model (its iterator: {KERNEL_ITERATOR[kernel]!r}), "
            f"or set kernel = {era!r} (kernels: "
            f"{', '.join(repr(x) for x in KERNEL_ITERATOR)})")
    cgroup: str = f.cgroup or ("v1" if kernel == "3.7" else "v2")
    if kernel == "3.7" and cgroup == "v2":
        raise ConfigError(f"{at('cgroup')}: cgroup \"v2\": kernel 3.7 has cgroup v1 only "
                          "(the v2 memory controller came with v4.5); expected \"v1\"")
    if f.memory_recursiveprot is not None and cgroup != "v2":
        raise ConfigError(f"{at('memory_recursiveprot')}: memory_recursiveprot is a mount "
                          f"option of cgroup v2; this scenario is cgroup {cgroup} (kernel "
                          f"{kernel}); remove it, or set cgroup = \"v2\""
                          + (" with kernel = \"6.18\"" if kernel == "3.7" else ""))
    return variant, kernel, cgroup


def _check_knobs(g: GroupEntry, gat: Any, kernel: str, cgroup: str) -> None:
    """A knob of the other cgroup interface, or one this kernel refuses, names its field."""
    wrong = V2_ONLY if cgroup == "v1" else V1_ONLY
    for field, file in wrong:
        if getattr(g, field) is not None:
            raise ConfigError(
                f"{gat(field)}: group {g.name!r}: {field} ({file}) is a cgroup "
                f"{'v2' if cgroup == 'v1' else 'v1'} knob; this scenario is cgroup {cgroup} "
                f"(kernel {kernel}); valid here: "
                + ", ".join(["limit"] + [x for x, _ in (V1_ONLY if cgroup == "v1"
                                                       else V2_ONLY)]))
    if kernel != "3.7" and cgroup == "v1" and g.soft_limit is not None:
        raise ConfigError(
            f"{gat('soft_limit')}: group {g.name!r}: soft_limit: v1 soft-limit reclaim of "
            "kernel 6.18 (memcg1_soft_limit_reclaim, CONFIG_MEMCG_V1) is not modelled; "
            "remove it, or run kernel = \"3.7\"")
    if not g.use_hierarchy and kernel != "3.7":
        raise ConfigError(
            f"{gat('use_hierarchy')}: group {g.name!r}: use_hierarchy = false: kernel "
            f"{kernel} refuses it (v1 memory.use_hierarchy writes of 0 fail with EINVAL "
            "since v5.11; v2 is always hierarchical); expected true, or kernel = \"3.7\"")
