"""A scenario as the live kernel runs it: cgroup paths, limits in bytes, the timeline, and
what the kernel cannot do as the scenario asks (pure; no I/O).

``memcglab kernel run`` takes the same scenario files as ``memcglab run``. Most of a
scenario maps onto the kernel directly: groups become memcgs under the run's own parent
(the scenario's ``root`` is that parent), limits become ``memory.limit_in_bytes`` (v1) or
``memory.max`` (v2), workloads become processes. Some of it is the simulator's machine and
has no kernel counterpart: zones and their watermarks, the number of CPUs, the scheduler,
the iterator variant, css ids. Those are listed by :func:`differences` and reported with
the run (metrics.json ``kernel_differences``), never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from memcglab.sim.plan import Plan

PAGE = 4096
# The memory one worker process costs outside its group (the Python interpreter; measured
# with `memcglab.live.worker` at start-up). It is charged to the cgroup memcglab runs in.
WORKER_OVERHEAD = 16 << 20


@dataclass(frozen=True, slots=True)
class LiveGroup:
    index: int  # the scenario's group index (0 = root = the run's parent cgroup)
    name: str
    rel: str  # path under the run's parent ("" for root, "parent/a" for a nested group)
    max: int | None  # bytes
    soft: int | None
    high: int | None
    low: int | None
    min: int | None
    created_ns: int
    removed_ns: int | None  # None: lives until the end
    has_children: bool


@dataclass(frozen=True, slots=True)
class LiveProcess:
    """One worker process (a workload with N processes gives N of these, each with its
    own file or anonymous mapping, as in the simulator)."""

    key: str  # "w<workload>.p<process>", also the file's name
    workload: int
    group: str
    pattern: str
    anon: bool
    pages: int
    rate_pages: int  # pages per second
    interval_ns: int  # between touches, exactly the simulator's
    start_ns: int
    stop_ns: int
    readahead: str
    seed: int
    file_bytes: int  # how much of the file exists: what the run can touch, plus readahead


@dataclass(frozen=True, slots=True)
class LivePlan:
    groups: tuple[LiveGroup, ...]
    processes: tuple[LiveProcess, ...]
    duration_ns: int
    sample_ns: int
    # (time, order, action, subject): mkdir/start before stop/rmdir at the same time.
    timeline: tuple[tuple[int, int, str, str], ...]

    def group(self, name: str) -> LiveGroup:
        return next(g for g in self.groups if g.name == name)

    def file_bytes(self) -> int:
        return sum(p.file_bytes for p in self.processes if not p.anon)


# The shortest sampling interval on the live kernel: every sample reads a few files per
# group; below this the sampler itself would be a workload (docs/kernel.md, "Sampling").
MIN_SAMPLE_NS = 20_000_000
_LCG_SEED_MUL = 1_000_003  # as the simulator derives per-process seeds (sim/engine.py)


def _bytes(pages: int | None) -> int | None:
    return None if pages is None else pages * PAGE


# Readahead may read this far past the last page a sequential reader touches: measured
# 22M past it with an 8M read_ahead_kb doubled by POSIX_FADV_SEQUENTIAL (async readahead
# runs ahead of the synchronous window), so a margin well above that.
READAHEAD_MARGIN = 64 << 20


def _file_bytes(pattern: str, pages: int, interval_ns: int, running_ns: int) -> int:
    """The part of a workload's file the run can reach: a stream or loop touches pages
    0, 1, ... in order, at most one per interval, so a 64G stream at 100M/s for 1s reads the
    first ~100M (and what readahead brings past it); random touches anywhere."""
    if pattern == "random":
        return pages * PAGE
    touches = running_ns // interval_ns + 1
    return min(pages * PAGE, touches * PAGE + READAHEAD_MARGIN)


def live_plan(plan: Plan) -> LivePlan:
    topo = plan.topology
    rels: list[str] = []
    for g in range(topo.size):
        p = topo.parent(g)
        rels.append("" if p is None else (f"{rels[p]}/{topo.name(g)}" if rels[p]
                                          else topo.name(g)))
    groups = []
    timeline: list[tuple[int, int, str, str]] = []
    for g in range(topo.size):
        born, dies = plan.lifetimes[g]
        removed = dies if dies < plan.duration_ns else None
        high, low, mn = plan.protections[g]
        groups.append(LiveGroup(g, topo.name(g), rels[g], _bytes(plan.limits[g]),
                                _bytes(plan.soft_limits[g]), _bytes(high), _bytes(low),
                                _bytes(mn), born, removed, bool(topo.children(g))))
        if g and born > 0:
            timeline.append((born, 0, "mkdir", topo.name(g)))
        if removed is not None:
            timeline.append((removed, 3, "rmdir", topo.name(g)))
    procs = []
    mapping = 0  # numbered as the simulator numbers its mappings (same random seeds)
    for wi, w in enumerate(plan.workloads):
        for pi in range(w.processes):
            key = f"w{wi}.p{pi}"
            seed = (plan.seed * _LCG_SEED_MUL + mapping * 7919 + 1) & ((1 << 64) - 1)
            procs.append(LiveProcess(key, wi, topo.name(w.group), w.pattern, w.anon, w.pages,
                                     w.rate_pages, w.interval_ns, w.start_ns, w.stop_ns,
                                     w.readahead, seed, _file_bytes(w.pattern, w.pages,
                                                                    w.interval_ns,
                                                                    w.stop_ns - w.start_ns)))
            timeline.append((w.start_ns, 1, "start", key))
            if w.stop_ns < plan.duration_ns:
                timeline.append((w.stop_ns, 2, "stop", key))
            mapping += 1
    sample = max(plan.sample_ns, MIN_SAMPLE_NS)
    return LivePlan(tuple(groups), tuple(procs), plan.duration_ns, sample,
                    tuple(sorted(timeline)))


def memory_need(lp: LivePlan) -> int:
    """The most memory the run's groups can hold at once (bytes): per top-level group, the
    smaller of its limit and everything its workloads touch; plus the workers themselves."""
    by_top: dict[str, int] = {}
    for p in lp.processes:
        top = lp.group(p.group).rel.split("/")[0]
        by_top[top] = by_top.get(top, 0) + p.pages * PAGE
    need = 0
    for top, touched in by_top.items():
        g = lp.group(top) if top else lp.groups[0]
        need += min(touched, g.max) if g.max is not None else touched
    return need + WORKER_OVERHEAD * len(lp.processes)


def differences(plan: Plan, version: int, cpus: int, swap_for_anon: bool,
                read_ahead_kb: int | None = None) -> list[str]:
    """What the scenario asks that this kernel cannot do (or does by its own rules): each
    line names the field and what the live run does instead. ``read_ahead_kb``: the work
    directory's device's window (``kernel probe``), None if unknown."""
    out = [f"variant {plan.variant!r}: the kernel walks with its own mem_cgroup_iter "
           "(compare it with the model's variants: memcglab compare --kernel)"]
    if plan.kernel != "6.18":
        out.append(f"kernel = {plan.kernel!r}: the machine runs its own kernel's reclaim "
                   "rules (Linux 6.18 here; the model's kernel = \"6.18\" follows them)")
    if plan.cgroup != f"v{version}":
        out.append(f"cgroup = {plan.cgroup!r}: the machine's memory controller is cgroup "
                   f"v{version}; the groups are made there")
    if plan.cpus != cpus:
        out.append(f"cpus = {plan.cpus}: the machine has {cpus} CPUs; the processes share "
                   "them as the kernel schedules")
    out.append(f"scheduler {plan.scheduler!r} and seed {plan.seed}: the kernel's own "
               "scheduling decides the interleaving (the seed still picks the random "
               "workloads' pages)")
    z = plan.zones[0]
    out.append(f"machine: {len(plan.zones) // plan.zones_per_node} node(s) x "
               f"{plan.zones_per_node} zone(s) of {z.pages * PAGE >> 20}M and their "
               "watermarks are the simulator's machine; the kernel uses its own memory, "
               "zones and watermarks (global reclaim happens only under the machine's own "
               "pressure, which kernel run does not create)")
    if plan.sample_ns < MIN_SAMPLE_NS:
        out.append(f"sample_interval = {plan.sample_ns / 1e6:g}ms: the live run samples the "
                   f"counters every {MIN_SAMPLE_NS // 1_000_000}ms at most often (each sample "
                   "reads a few files per group)")
    if any(not w.anon for w in plan.workloads):
        if plan.read_ahead_kb is not None and plan.read_ahead_kb != read_ahead_kb:
            out.append(f"machine.read_ahead_kb = {plan.read_ahead_kb}: the device's window "
                       f"is {'unknown' if read_ahead_kb is None else read_ahead_kb} (a "
                       "global setting of the device, not changed by kernel run)")
        out.append("machine.disk_latency and disk_bandwidth: the model's device; the files "
                   "are read from the work directory's own device")
    if not plan.kswapd:
        out.append("kswapd = false: kswapd cannot be switched off on a live kernel")
    if plan.swap and not swap_for_anon:
        out.append("machine.swap = true: the machine has no swap (give --zram SIZE)")
    topo = plan.topology
    for g in range(1, topo.size):
        name = topo.name(g)
        if not topo.groups[g].use_hierarchy:
            out.append(f"group {name!r}: use_hierarchy = false: Linux 6.18 has no "
                       "non-hierarchical mode (v1 memory.use_hierarchy cannot be set to 0 "
                       "since v5.11; the group is hierarchical)")
        high, low, mn = plan.protections[g]
        if version == 1:
            for field, v in (("high", high), ("low", low), ("min", mn)):
                if v is not None:
                    out.append(f"group {name!r}: {field}: memory.{field} is cgroup v2 only; "
                               "not set on this v1 memory controller")
        elif plan.soft_limits[g] is not None:
            out.append(f"group {name!r}: soft_limit: v1 only (soft_limit_in_bytes); cgroup "
                       "v2 has no soft limit (not set)")
    if not any(v is not None for v in plan.limits):
        out.append("no group has a limit: limit reclaim never runs, and the machine's own "
                   "memory is far larger than the scenario's, so expect no reclaim")
    return out
