"""A ``kernel run`` command: check the machine, run the repetitions, make the metrics.

:func:`preflight` is pure (a probe and a plan in, the list of what is missing out): every
reason the run cannot start is named at once, before anything is made. :func:`measure`
runs the repetitions one after another (each builds and removes its own hierarchy, so
each starts from evicted files and empty groups) and turns each into the metrics of
``memcglab run`` (:func:`memcglab.live.measure.kernel_metrics`), then aggregates them
(mean and spread over repetitions).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from memcglab import __version__
from memcglab.errors import ConfigError, LiveError
from memcglab.live import measure, workfiles
from memcglab.live.liveplan import PAGE, LivePlan, differences, live_plan, memory_need
from memcglab.live.probe import Probe
from memcglab.live.records import CounterSample, KswapdRecord, PassRecord, ShrinkRecord
from memcglab.live.runner import LiveResult, LiveRun, Options
from memcglab.live.state import Proc, RunState, new_run_id
from memcglab.metrics.summary import scenario_block
from memcglab.metrics.visits import Visit
from memcglab.scenario.units import size_to_pages
from memcglab.sim.plan import Plan

# "Comfortably" in MemAvailable: the groups together may hold at most this share of it,
# so the run never pushes the machine into global reclaim (which would reclaim from every
# other memcg of the machine and change what is measured).
MEMORY_SHARE = 0.5


def _human(nbytes: int) -> str:
    return f"{nbytes / (1 << 20):.0f}M" if nbytes < 1 << 30 else f"{nbytes / (1 << 30):.1f}G"


def preflight(plan: Plan, lp: LivePlan, probe: Probe, opts: Options,
              budget: int | None, budget_why: str = "") -> list[str]:
    """Everything that stops this run on this machine, each with what to do about it."""
    out = []
    if not probe.root:
        out.append(f"root: kernel run creates cgroups, writes their limits and enables "
                   f"tracing; run it as root (effective uid {probe.euid})")
    if probe.memory_controller is None:
        out.append("memory controller: not on a mounted cgroup v1 hierarchy and not in "
                   "cgroup v2's cgroup.controllers; nothing to limit or reclaim from "
                   "(see memcglab kernel probe)")
    anon = [(i, p) for i, p in enumerate(lp.processes) if p.anon]
    if anon and not probe.swaps and not opts.zram_bytes:
        p = anon[0][1]
        out.append(f"workload {p.workload} (type anon, group {p.group!r}): anonymous memory "
                   "can only be reclaimed to swap and this machine has none; give "
                   "--zram SIZE (swap on zram for the run, removed after)"
                   + ("" if probe.zram else ", but this kernel has no zram device either"))
    if opts.zram_bytes:
        if probe.swaps:
            out.append("--zram: the machine already has swap "
                       f"({', '.join(s.name for s in probe.swaps)}); anon workloads use it; "
                       "drop --zram")
        elif not [z for z in probe.zram if z.disksize == 0]:
            out.append("--zram: no free zram device (/sys/block/zram*/disksize 0)")
    if opts.record and not probe.tracefs_in_kernel:
        out.append("tracefs: not in this kernel; recording needs it (or give --no-record)")
    if opts.bpf == "on" and probe.bpftrace is None:
        out.append("--bpf on: bpftrace is not installed (Debian: apt-get install bpftrace)")
    if probe.memory_controller == "v2":
        inner = sorted({p.group for p in lp.processes if lp.group(p.group).has_children})
        if inner:
            out.append(f"groups {', '.join(inner)} run workloads and have children: cgroup "
                       "v2 allows processes only in leaves (the no-internal-process rule)")
    need = memory_need(lp)
    if budget is not None and need > budget:
        out.append(f"memory: the groups and workers may hold up to {_human(need)}, more "
                   f"than {_human(budget)} ({budget_why or 'the budget'}); lower the "
                   "workloads' sizes or the limits")
    return out


@dataclass
class Measured:
    """All repetitions of a kernel run and their metrics."""

    plan: Plan
    lp: LivePlan
    differences: list[str]
    results: list[LiveResult] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    visits: list[list[Visit]] = field(default_factory=list)
    series: list[list[tuple[Any, ...]]] = field(default_factory=list)
    wall_s: float = 0.0

    def aggregate(self) -> dict[str, Any]:
        return measure.aggregate(self.metrics)


def metrics_of(plan: Plan, lp: LivePlan, res: LiveResult, diffs: list[str],
               repeat: int) -> tuple[dict[str, Any], list[Visit], list[tuple[Any, ...]]]:
    topo = plan.topology
    groups = [measure.GroupInfo(topo.name(g),
                                topo.name(p) if (p := topo.parent(g)) is not None else None,
                                plan.limits[g], plan.soft_limits[g])
              for g in range(topo.size)]
    shrinks = [r for r in res.records if isinstance(r, ShrinkRecord)]
    passes = [r for r in res.records if isinstance(r, PassRecord)]
    kswapd = [r for r in res.records if isinstance(r, KswapdRecord)]
    # Visits keep the records' clock (CLOCK_MONOTONIC), on which the passes are too; the
    # samples count from the timeline's start (t0_ns on that clock).
    visits = measure.merge_visits(shrinks, res.ids, passes)
    dropped = sum(measure.dropped_records(shrinks, res.ids).values())
    workers = [{"group": w["group"], "anon": w["anon"],
                "read_bytes": int(w.get("read_bytes") or 0),
                "distinct_pages": int(w.get("distinct") or 0)} for w in res.workers]
    recording = dict(res.recording)
    recording["run_id"] = res.run_id
    recording["wall_s"] = round(res.wall_s, 3)
    recording["timeline_s"] = round(res.timeline_s, 3)
    recording["workers"] = [{k: w.get(k) for k in ("key", "group", "touches", "distinct",
                                                   "kept_rate", "rate_pages_s", "read_bytes",
                                                   "majflt", "stopped", "error")
                             if k in w} for w in res.workers]
    recording["events"] = res.events
    recording["teardown_problems"] = res.problems
    m = measure.kernel_metrics(
        scenario=scenario_block(plan, variant="kernel", cpus=os.cpu_count() or 0,
                                scheduler="kernel", repeat=repeat,
                                kernel=os.uname().release),
        groups=groups, workload_groups={topo.name(w.group) for w in plan.workloads},
        visits=visits, samples=res.samples, passes=passes, kswapd=kswapd, workers=workers,
        lost=res.lost, dropped=dropped, recording=recording, page_size=PAGE,
        ooms=res.recording.get("ooms"))
    m["memcglab"] = __version__
    m["kernel_differences"] = diffs
    m["worker_problems"] = worker_problems(res.workers)
    m.update(counter_deltas(res.samples))
    series = measure.series_rows(res.samples, visits, [g.name for g in groups],
                                 t0_ns=res.t0_ns)
    # the visit sequence as written (visits.parquet): times from the timeline's start
    return m, [replace(v, t_ns=v.t_ns - res.t0_ns) for v in visits], series


def worker_problems(workers: list[dict[str, Any]]) -> list[str]:
    """Workers that did not end as planned (killed, OOM-killed, failed): their groups'
    numbers are then not the scenario's, so every such worker is named."""
    out = []
    for w in workers:
        code = w.get("returncode")
        if w.get("error") or code not in (0, None):
            why = w.get("error") or f"exit status {code}"
            hint = " (killed: a memcg OOM kill?)" if code == -9 else ""
            out.append(f"worker {w['key']} of group {w['group']!r} ended early: {why}{hint}")
    return out


def counter_deltas(samples: list[CounterSample]) -> dict[str, Any]:
    """What the sampled machine counters did over the run: ``vmstat`` (the reclaim keys
    of /proc/vmstat, last sample minus first) and ``pressure`` (memory PSI stall time in
    ms, ``some`` and ``full``, per group from its first to its last sample, and of the
    machine under ``(machine)``)."""
    if not samples:
        return {"vmstat": {}, "pressure": {}}
    first, last = samples[0].vmstat, samples[-1].vmstat
    vm = {k: last[k] - first.get(k, 0) for k in sorted(last) if last[k] - first.get(k, 0)}
    seen: dict[str, tuple[dict[str, int], dict[str, int]]] = {}
    for s in samples:
        for g, v in s.psi.items():
            seen[g] = (seen[g][0] if g in seen else v, v)
    pressure = {(g or "(machine)"): {k: round((b[k] - a.get(k, 0)) / 1000, 1) for k in b}
                for g, (a, b) in seen.items()}
    return {"vmstat": vm, "pressure": pressure}


def measure_kernel(plan: Plan, opts: Options, repeat: int, probe: Probe,
                   budget: int | None, say: Callable[[str], None],
                   budget_why: str = "") -> Measured:
    lp = live_plan(plan)
    problems = preflight(plan, lp, probe, opts, budget, budget_why)
    if not problems:  # root from here on (the work directory is made as root)
        try:
            workfiles.check_workdir(opts.workdir)
            if lp.file_bytes():
                workfiles.check_space(opts.workdir, lp.file_bytes())
        except LiveError as e:
            problems.append(str(e))
    if problems:
        raise LiveError("kernel run cannot start on this machine:\n  - "
                        + "\n  - ".join(problems))
    version = 1 if probe.memory_controller == "v1" else 2
    diffs = differences(plan, version, os.cpu_count() or 1,
                        bool(probe.swaps) or bool(opts.zram_bytes),
                        probe.readahead.read_ahead_kb if probe.readahead else None)
    out = Measured(plan, lp, diffs)
    start = time.monotonic()
    for rep in range(1, repeat + 1):
        say(f"repetition {rep}/{repeat}")
        state = RunState(new_run_id(), Proc.of(os.getpid(), "memcglab"))
        state.save()
        res = LiveRun(plan, lp, probe, opts, state, say).run()
        if res.problems:
            raise LiveError("teardown left things behind (run 'memcglab kernel cleanup'):\n"
                            "  - " + "\n  - ".join(res.problems))
        m, visits, series = metrics_of(plan, lp, res, diffs, repeat)
        out.results.append(res)
        out.metrics.append(m)
        out.visits.append(visits)
        out.series.append(series)
    out.wall_s = time.monotonic() - start
    return out


def zram_size(text: str | None) -> int | None:
    """``--zram SIZE`` in bytes (None without the flag)."""
    if text is None:
        return None
    try:
        n = size_to_pages(text) * PAGE
    except ValueError as e:
        raise ConfigError(f"--zram {text!r}: {e}") from None
    if n < 16 << 20:
        raise ConfigError(f"--zram {text!r}: expected at least 16M")
    return n

