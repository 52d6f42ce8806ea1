"""Reports of ``memcglab kernel run`` and ``memcglab compare --kernel``: terminal lines,
files (metrics.json, runs.json, timeseries, visits.parquet, plots, report.html).

The metrics are those of ``memcglab run`` (same keys), marked ``"measured": "kernel"``;
what only the kernel has (the visit sequence, lost events, the spread over repetitions)
and what only the model has (lock counts, duplicate claims) are None on the other side.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from memcglab.metrics.summary import SERIES_COLUMNS
from memcglab.metrics.visits import Visit
from memcglab.report import plots
from memcglab.report.outdir import OutDir, write_folder
from memcglab.report.sim_report import (
    _fmt,
    group_table,
    html_table,
    page,
    print_line,
    write_csv,
    write_parquet,
)

VISIT_COLUMNS = ("rep", "t_ms", "reclaimer", "group", "root", "priority", "scanned",
                 "reclaimed", "generation", "iterator")


def mean_pm(spread: dict[str, Any] | None) -> str:
    """``mean ± stdev`` of a spread (measure.aggregate), "-" without a mean."""
    if not spread or spread.get("mean") is None:
        return "-"
    sd = spread.get("stdev")
    return f"{spread['mean']:.3f}" + (f" ± {sd:.3f}" if sd is not None else "")


def kernel_lines(m: dict[str, Any], agg: dict[str, Any]) -> list[str]:
    """The summary of one kernel run (and the spread over its repetitions)."""
    f, it, vo, pi = m["fairness"], m["iterator"], m.get("visit_order") or {}, \
        m.get("page_in") or {}
    rec = m.get("recording") or {}
    layers = [x for x in ("tracefs", "bpftrace") if rec.get(x)]
    lost = m.get("lost_events")
    unjoined = rec.get("bpftrace_unjoined")
    out = [f"recorded with {' + '.join(layers) or 'counters only'}; lost events: "
           f"{_fmt(lost)}; records of other memcgs dropped: "
           f"{_fmt(rec.get('records_of_other_memcgs'))}"
           + (f"; tracefs records without a bpftrace sample (no root): {unjoined:,}"
              if unjoined else ""),
           f"fairness over {', '.join(f['groups_measured'])}: Jain(reclaim) "
           f"{_fmt(f['jain_index_reclaim'])}, Jain(reclaim/usage share) "
           f"{_fmt(f['jain_index_reclaim_per_usage'])}, stddev/mean(reclaimed) "
           f"{_fmt(f['reclaim_stddev_over_mean'])}",
           f"visits: {_fmt(sum(g['visits'] or 0 for g in m['groups']))} recorded; walks "
           f"completed (generation deltas) {_fmt(it.get('walks_completed'))}; next visit is "
           f"the walk-order successor {_fmt(vo.get('successor_rate'))}, a repeat "
           f"{_fmt(vo.get('repeat_rate'))} (over {_fmt(vo.get('pairs'))} pairs)",
           f"page-in: {_fmt(pi.get('pages_read'))} pages read for "
           f"{_fmt(pi.get('file_pages'))} distinct file pages: amplification "
           f"{_fmt(pi.get('amplification'))}" + (
               f" (readahead window of {ra['device']}: {ra['read_ahead_kb']} KB)"
               if (ra := rec.get("readahead")) and ra.get("read_ahead_kb") else "")]
    for kind, r in (m.get("reclaimers") or {}).items():
        if r.get("calls"):
            out.append(f"{kind} reclaim: {r['calls']:,} passes, {_fmt(r.get('reclaimed'))} "
                       f"pages reclaimed of {_fmt(r.get('scanned'))} scanned")
    if agg.get("runs", 1) > 1:
        shares = ", ".join(f"{g} {mean_pm(s)}" for g, s in agg["reclaim_share"].items())
        out.append(f"over {agg['runs']} repetitions: reclaim share {shares}; Jain "
                   f"{mean_pm(agg['jain_index_reclaim'])}; successor rate "
                   f"{mean_pm(agg['successor_rate'])}; amplification "
                   f"{mean_pm(agg['amplification'])}")
    return out


def run_warnings(runs: Sequence[dict[str, Any]]) -> list[str]:
    """What went wrong in any repetition: workers that ended early, memcg OOM kills, a
    tracefs mount left for another run (named with the repetition)."""
    out = []
    for i, m in enumerate(runs, start=1):
        rep = f"repetition {i}: " if len(runs) > 1 else ""
        out += [f"{rep}{p}" for p in m.get("worker_problems", [])]
        if m.get("memcg_ooms"):
            out.append(f"{rep}memcg OOM kills during the run: {m['memcg_ooms']} (the OOMs "
                       "column)")
        if (m.get("recording") or {}).get("tracefs_left_mounted"):
            out.append(f"{rep}tracefs stays mounted: another memcglab run's instance uses "
                       "it; 'memcglab kernel cleanup' unmounts it once that run is over")
    return out


def print_kernel_run(console: Console, m: dict[str, Any], agg: dict[str, Any],
                     wall_s: float, runs: Sequence[dict[str, Any]] = ()) -> None:
    s = m["scenario"]
    rec = m.get("recording") or {}
    print_line(console, f"memcglab kernel run: {s['name']} on Linux {rec.get('kernel', '?')} "
                        f"({s['duration_ms']:g} ms, {s['processes']} processes, "
                        f"{agg.get('runs', 1)} repetition(s), {wall_s:.1f} s wall)")
    if s["description"]:
        print_line(console, f"  {s['description']}")
    for d in m.get("kernel_differences", []):
        print_line(console, f"  not as in the scenario: {d}")
    for w in run_warnings(runs or [m]):
        print_line(console, f"  !! {w}")
    console.print(group_table(m, "per group, repetition 1 (pages of 4K; kernel-measured)"))
    for line in kernel_lines(m, agg):
        print_line(console, line)


def visit_rows(visits: Sequence[Sequence[Visit]]) -> list[tuple[Any, ...]]:
    return [(rep, round(v.t_ns / 1e6, 6), v.reclaimer, v.group, v.root, v.priority,
             v.scanned, v.reclaimed, v.generation, v.iterator)
            for rep, vs in enumerate(visits, start=1) for v in vs]


def usage_plot(series: Sequence[Sequence[Any]], groups: Sequence[str]) -> bytes:
    t: list[float] = []
    usage: dict[str, list[int]] = {g: [] for g in groups}
    rec: dict[str, list[int]] = {g: [] for g in groups}
    for row in series:
        if row[1] not in usage:
            continue
        if row[1] == groups[0]:
            t.append(row[0])
        usage[row[1]].append(row[2])
        rec[row[1]].append(row[4])
    return plots.usage_and_reclaim_series(t, usage, rec, "time (ms, kernel)")


def share_plot(metrics: dict[str, dict[str, Any]], kernel_agg: dict[str, Any] | None,
               kernel_key: str = "kernel") -> bytes:
    first = next(iter(metrics.values()))
    labels = [g["name"] for g in first["groups"] if g["workload"]]
    fair = [g.get("usage_share") or 0.0 for g in first["groups"] if g["workload"]]
    series: dict[str, Sequence[float]] = {}
    errors: dict[str, Sequence[float]] = {}
    for name, m in metrics.items():
        by = {g["name"]: g.get("reclaim_share") for g in m["groups"]}
        if name == kernel_key and kernel_agg and kernel_agg.get("runs", 1) > 1:
            spread = kernel_agg["reclaim_share"]
            series[name] = [(spread.get(n) or {}).get("mean") or 0.0 for n in labels]
            errors[name] = [(spread.get(n) or {}).get("stdev") or 0.0 for n in labels]
        else:
            series[name] = [by.get(n) or 0.0 for n in labels]
    return plots.shares(labels, series, fair, errors or None)


def html_page(title: str, sections: Sequence[tuple[str, Sequence[str]]],
              tables: Sequence[tuple[str, Sequence[str], Sequence[Sequence[Any]]]],
              images: dict[str, bytes]) -> str:
    """:func:`~memcglab.report.sim_report.page` with text sections (a list each), then
    tables, each under its heading."""
    body = []
    for head, lines in sections:
        body.append(f"<h2>{html.escape(head)}</h2><ul>")
        body += [f"<li>{html.escape(line)}</li>" for line in lines]
        body.append("</ul>")
    for head, cols, rows in tables:
        body += [f"<h2>{html.escape(head)}</h2>", html_table(cols, rows)]
    return page(title, body, images)


GROUP_COLUMNS = ("group", "limit", "usage", "mean usage", "scanned", "reclaimed", "visits",
                 "first", "reclaim share", "usage share")


def group_rows(m: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(g["name"], g["limit_pages"], g["usage_pages"], g["mean_usage_pages"],
             g["scanned"], g["reclaimed"], g["visits"], g["first_visits"],
             g.get("reclaim_share"), g.get("usage_share"))
            for g in m["groups"] if g["workload"] or g["visits"] or g["limit_pages"]]


def fill_kernel(tmp: Path, metrics: Sequence[dict[str, Any]], agg: dict[str, Any],
                visits: Sequence[Sequence[Visit]],
                series: Sequence[Sequence[Sequence[Any]]]) -> dict[str, bytes]:
    """Write one kernel run's files into ``tmp``; returns its plots (for a report)."""
    m = dict(metrics[0])
    m["repeat"] = agg
    (tmp / "metrics.json").write_text(json.dumps(m, indent=2) + "\n")
    (tmp / "runs.json").write_text(json.dumps(list(metrics), indent=2) + "\n")
    header = ("rep", *SERIES_COLUMNS)
    rows = [(rep, *r) for rep, s in enumerate(series, start=1) for r in s]
    write_csv(tmp / "timeseries.csv", header, rows)
    write_parquet(tmp / "timeseries.parquet", header, rows)
    write_parquet(tmp / "visits.parquet", VISIT_COLUMNS, visit_rows(visits))
    groups = [g["name"] for g in m["groups"] if g["workload"]]
    images = {"usage and reclaim over time (kernel, repetition 1)":
              usage_plot(series[0], groups) if groups and series[0] else b"",
              "reclaim share against usage share (kernel)":
              share_plot({"kernel": m}, agg)}
    images = {k: v for k, v in images.items() if v}
    names = ["usage_reclaim.png", "shares.png"]
    for name, png in zip(names, images.values(), strict=False):
        (tmp / name).write_bytes(png)
    sections = [("kernel run", kernel_lines(m, agg)),
                ("warnings", run_warnings(metrics)),
                ("not as in the scenario", m.get("kernel_differences", []))]
    page = html_page(f"memcglab kernel run: {m['scenario']['name']}", sections,
                     [("per group, repetition 1 (pages of 4K)", GROUP_COLUMNS,
                       group_rows(m))], images)
    (tmp / "report.html").write_text(page)
    return images


def write_kernel_run(out: OutDir, metrics: Sequence[dict[str, Any]], agg: dict[str, Any],
                     visits: Sequence[Sequence[Visit]],
                     series: Sequence[Sequence[Sequence[Any]]]) -> list[str]:
    def fill(tmp: Path) -> None:
        fill_kernel(tmp, metrics, agg, visits, series)

    return write_folder(out, fill)
