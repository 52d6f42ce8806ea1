"""The metrics of one simulation run, as a plain dict (metrics.json) and time series rows.

Per group: usage (final, mean and peak over the samples), pages scanned and reclaimed,
times visited by a walk and times first in a walk, OOMs, and its share of all reclaim
against its share of usage; with kernel 6.18 also what the group's cgroup files would read
at the end: ``memory.current`` (hierarchical, charge stock included) and ``memory.events``
(hierarchical) with ``memory.events.local``. Fairness is measured over the groups that run
workloads. Nothing here depends on wall time, so the same scenario and seed give the same bytes.
"""

from __future__ import annotations

from typing import Any

from memcglab import __version__
from memcglab.kernel.v6_18.memcontrol import MEMORY_EVENTS
from memcglab.metrics.fairness import cv, jain, ratio, shares
from memcglab.sim.engine import SimRun
from memcglab.sim.machine import FIRST, RECLAIMED, SCANNED, VISITS
from memcglab.sim.plan import Plan

SERIES_COLUMNS = ("t_ms", "group", "usage_pages", "scanned", "reclaimed", "visits",
                  "first_visits")


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(x, nd)


def scenario_block(plan: Plan, **measured: Any) -> dict[str, Any]:
    """The ``scenario`` block of metrics.json; ``measured`` replaces what a kernel run
    measures instead of taking from the scenario (variant, cpus, scheduler)."""
    return {"name": plan.name, "description": plan.description, "digest": plan.digest,
            "seed": plan.seed, "variant": plan.variant, "kernel": plan.kernel,
            "cgroup": plan.cgroup, "duration_ms": plan.duration_ns / 1e6,
            "cpus": plan.cpus, "scheduler": plan.scheduler, "groups": plan.topology.size,
            "processes": sum(w.processes for w in plan.workloads), **measured}


def summarize(run: SimRun) -> dict[str, Any]:
    plan, m = run.plan, run.machine
    topo = plan.topology
    c = m.c
    n = topo.size
    samples = run.samples
    mean_usage = [sum(s.usage[g] for s in samples) / len(samples) if samples else 0.0
                  for g in range(n)]
    peak_usage = [max((s.usage[g] for s in samples), default=0) for g in range(n)]
    workload_groups = sorted({w.group for w in plan.workloads})
    reclaimed = [c.group[g][RECLAIMED] for g in workload_groups]
    usage_share = shares([mean_usage[g] for g in workload_groups])
    reclaim_share = shares(reclaimed)
    rel = [rs / us for rs, us in zip(reclaim_share, usage_share, strict=True) if us > 0]
    groups = []
    for g in range(n):
        row = c.group[g]
        entry: dict[str, Any] = {
            "name": topo.name(g),
            "parent": topo.name(p) if (p := topo.parent(g)) is not None else None,
            "limit_pages": plan.limits[g], "soft_limit_pages": plan.soft_limits[g],
            "usage_pages": m.usage[g], "mean_usage_pages": round(mean_usage[g], 2),
            "peak_usage_pages": peak_usage[g], "scanned": row[SCANNED],
            "reclaimed": row[RECLAIMED], "visits": row[VISITS], "first_visits": row[FIRST],
            "ooms": c.ooms[g], "workload": g in workload_groups,
        }
        if run.memcg_state is not None:
            mc = run.memcg_state.memcgs[g]
            high, low, mn = plan.protections[g] if plan.protections else (None, None, None)
            entry["high_pages"], entry["low_pages"], entry["min_pages"] = high, low, mn
            entry["memory_current_pages"] = mc.memory.usage
            entry["memory_events"] = dict(zip(MEMORY_EVENTS, mc.memory_events, strict=True))
            entry["memory_events_local"] = dict(zip(MEMORY_EVENTS, mc.memory_events_local,
                                                    strict=True))
        if g in workload_groups:
            i = workload_groups.index(g)
            entry["reclaim_share"] = round(reclaim_share[i], 4)
            entry["usage_share"] = round(usage_share[i], 4)
        groups.append(entry)
    requested = sum(s.requested for k, s in c.calls.items() if k != "kswapd")
    got = sum(s.reclaimed for k, s in c.calls.items() if k != "kswapd")
    out = {
        "memcglab": __version__,
        "scenario": scenario_block(plan),
        "groups": groups,
        "fairness": {
            "groups_measured": [topo.name(g) for g in workload_groups],
            "jain_index_reclaim_per_usage": _r(jain(rel)),
            "jain_index_reclaim": _r(jain(reclaimed)),
            "reclaim_stddev_over_mean": _r(cv(reclaimed)),
            "reclaimed_over_requested": _r(ratio(got, requested)),
        },
        "iterator": {"walks_completed": c.walks_completed,
                     "handouts": (c.handouts if plan.kernel != "3.7"
                                  else sum(r[VISITS] for r in c.group)),
                     "duplicate_claims": c.duplicate_claims,
                     "restarts_from_root": c.restarts_from_root,
                     "lock_acquisitions": c.lock_acquisitions,
                     "lock_waits": c.lock_waits},
        "reclaimers": {k: {"calls": s.calls, "requested": s.requested,
                           "reclaimed": s.reclaimed, "scanned": s.scanned,
                           "visits_per_call": _r(ratio(s.visits, s.finished), 2),
                           "max_visits_per_call": s.max_visits}
                       for k, s in c.calls.items()},
        "allocation_stalls": c.stalls,
        "global_ooms": c.global_ooms,
        "memcg_ooms": sum(c.ooms),
        "oom_kills": c.oom_kills,
        "high_throttled_ms": c.high_throttled_ms,
        "soft_limit_reclaimed": c.soft_reclaimed,
        "simulation": {"operations": run.ops, "samples": len(samples),
                       "visits": sum(r[VISITS] for r in c.group)},
    }
    # A cgroup change still waiting at the end (a v3.7-core rmdir that a reference nobody
    # puts kept from completing: the changes after it never happened).
    pending = next((t.pending for t in run.tasks if t.kind == "admin"
                    and t.pending is not None and t.pending.kind.name != "SLEEP"), None)
    if pending is not None:
        out["cgroup_change_pending"] = pending.text or pending.kind.name
    return out


def series_rows(run: SimRun) -> list[tuple[float, str, int, int, int, int, int]]:
    """Long-format time series: one row per (sample, group)."""
    topo = run.plan.topology
    rows = []
    for s in run.samples:
        for g in range(topo.size):
            cu = s.cumulative[g]
            rows.append((s.t_ns / 1e6, topo.name(g), s.usage[g], cu[SCANNED], cu[RECLAIMED],
                         cu[VISITS], cu[FIRST]))
    return rows
