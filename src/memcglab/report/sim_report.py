"""Reports of ``memcglab run`` and ``memcglab compare``: terminal tables, files, HTML.

``write_outputs`` writes everything through :mod:`memcglab.report.outdir`: into a temporary
folder first, moved into place at the end, and never over a file memcglab did not write.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import re
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from memcglab.metrics.summary import SERIES_COLUMNS, series_rows
from memcglab.report import plots
from memcglab.report.outdir import MARKER, OutDir, check_out, write_folder
from memcglab.sim.engine import SimRun


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.3f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def group_table(m: dict[str, Any], title: str) -> Table:
    t = Table(title=title, title_justify="left")
    for col in ("group", "limit", "usage", "mean usage", "scanned", "reclaimed", "visits",
                "first", "reclaim share", "usage share", "OOMs"):
        t.add_column(col, justify="left" if col == "group" else "right")
    for g in m["groups"]:
        if not (g["workload"] or g["visits"] or g["limit_pages"]):
            continue
        t.add_row(g["name"], _fmt(g["limit_pages"]), _fmt(g["usage_pages"]),
                  f"{g['mean_usage_pages']:,.0f}", _fmt(g["scanned"]), _fmt(g["reclaimed"]),
                  _fmt(g["visits"]), _fmt(g["first_visits"]), _fmt(g.get("reclaim_share")),
                  _fmt(g.get("usage_share")), _fmt(g["ooms"]))
    return t


def cgroup_table(m: dict[str, Any], title: str) -> Table | None:
    """Kernel 6.18: what each group's cgroup files would read at the end (the settings,
    memory.current and memory.events), for the groups with a setting, pages or events."""
    if not any("memory_current_pages" in g for g in m["groups"]):
        return None
    t = Table(title=title, title_justify="left")
    events = ("low", "high", "max", "oom", "oom_kill")
    for col in ("group", "max", "high", "low", "min", "memory.current", *events):
        t.add_column(col, justify="left" if col == "group" else "right")
    for g in m["groups"]:
        settings = (g["limit_pages"], g["high_pages"], g["low_pages"], g["min_pages"])
        ev = g["memory_events"]
        if not (any(x is not None for x in settings) or g["memory_current_pages"]
                or any(ev.values())):
            continue
        t.add_row(g["name"], *(_fmt(x) for x in settings), _fmt(g["memory_current_pages"]),
                  *(_fmt(ev[e]) for e in events))
    return t


def summary_lines(m: dict[str, Any]) -> list[str]:
    f, it = m["fairness"], m["iterator"]
    out = [f"fairness over {', '.join(f['groups_measured'])}: "
           f"Jain(reclaim/usage share) {_fmt(f['jain_index_reclaim_per_usage'])}, "
           f"stddev/mean(reclaimed) {_fmt(f['reclaim_stddev_over_mean'])}, "
           f"reclaimed/requested {_fmt(f['reclaimed_over_requested'])}",
           f"iterator: {it['walks_completed']:,} walks completed, "
           f"{it['duplicate_claims']:,} duplicate claims in a generation, "
           f"{it['restarts_from_root']:,} restarts from the root, "
           f"{it['lock_acquisitions']:,} lock acquisitions, {it['lock_waits']:,} lock waits"]
    for kind, r in m["reclaimers"].items():
        if r["calls"]:
            out.append(f"{kind} reclaim: {r['calls']:,} calls, {r['reclaimed']:,} pages "
                       f"reclaimed of {r['requested']:,} requested, "
                       f"{_fmt(r['visits_per_call'])} visits per call "
                       f"(max {r['max_visits_per_call']})")
    out.append(f"allocation stalls {m['allocation_stalls']:,}, global OOMs "
               f"{m['global_ooms']:,}, memcg OOMs {m['memcg_ooms']:,}"
               + (f", OOM kills {m['oom_kills']:,}, memory.high throttling "
                  f"{m['high_throttled_ms']:,} ms" if m["scenario"].get("kernel") == "6.18"
                  else ""))
    if m.get("cgroup_change_pending"):
        out.append(f"!! the cgroup changes did not finish: at the end the admin still waits "
                   f"on '{m['cgroup_change_pending']}' (a reference nobody puts: the later "
                   "changes never happened)")
    return out


def print_line(console: Console, line: str) -> None:
    """One line as it is: never wrapped at the console's width (a command line must stay
    one line to be copied), never read as rich markup (paths may hold brackets)."""
    console.print(line, soft_wrap=True, markup=False, highlight=False)


def print_run(console: Console, m: dict[str, Any], replay: str) -> None:
    s = m["scenario"]
    print_line(console, f"memcglab run: {s['name']} (kernel {s['kernel']}, cgroup "
                        f"{s['cgroup']}, variant {s['variant']}, seed {s['seed']}, "
                        f"{s['duration_ms']:g} ms simulated, {s['cpus']} CPUs, "
                        f"{s['processes']} processes)")
    if s["description"]:
        print_line(console, f"  {s['description']}")
    console.print(group_table(m, "per group (pages of 4K)"))
    cg = cgroup_table(m, "cgroup files at the end (pages of 4K; memory.events hierarchical "
                         "on v2)")
    if cg is not None:
        console.print(cg)
    for line in summary_lines(m):
        print_line(console, line)
    print_line(console, f"replay: {replay}")


def print_compare(console: Console, results: dict[str, dict[str, Any]]) -> None:
    t = Table(title="variants side by side", title_justify="left")
    t.add_column("metric")
    for v in results:
        t.add_column(Text(v), justify="right")  # a variant path may hold brackets
    rows: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
        ("kernel (reclaim rules)", lambda m: m["scenario"]["kernel"]),
        ("Jain(reclaim/usage share)", lambda m: m["fairness"]["jain_index_reclaim_per_usage"]),
        ("stddev/mean(reclaimed)", lambda m: m["fairness"]["reclaim_stddev_over_mean"]),
        ("reclaimed/requested", lambda m: m["fairness"]["reclaimed_over_requested"]),
        ("walks completed", lambda m: m["iterator"]["walks_completed"]),
        ("duplicate claims", lambda m: m["iterator"]["duplicate_claims"]),
        ("restarts from the root", lambda m: m["iterator"]["restarts_from_root"]),
        ("lock acquisitions", lambda m: m["iterator"]["lock_acquisitions"]),
        ("lock waits", lambda m: m["iterator"]["lock_waits"]),
        ("allocation stalls", lambda m: m["allocation_stalls"]),
        ("memcg OOMs", lambda m: m["memcg_ooms"]),
    ]
    for label, get in rows:
        t.add_row(label, *[_fmt(get(m)) for m in results.values()])
    first = next(iter(results.values()))
    for g in first["groups"]:
        if g["workload"]:
            t.add_row(f"reclaim share {g['name']}",
                      *[_fmt(next(x for x in m["groups"] if x["name"] == g["name"])
                             .get("reclaim_share")) for m in results.values()])
    console.print(t)


def _share_plot(results: dict[str, dict[str, Any]]) -> bytes:
    first = next(iter(results.values()))
    wl = [g for g in first["groups"] if g["workload"]]
    labels = [g["name"] for g in wl]
    fair = [g.get("usage_share", 0.0) for g in wl]
    series: dict[str, Sequence[float]] = {
        v: [next(x for x in m["groups"] if x["name"] == n).get("reclaim_share", 0.0)
            for n in labels] for v, m in results.items()}
    return plots.shares(labels, series, fair)


def page(title: str, body: Sequence[str], images: dict[str, bytes],
         after: Sequence[str] = ()) -> str:
    """A self-contained page (images inline as data URIs, no script or font from outside):
    the title, the ``body`` parts (HTML), each image under its name, the ``after`` parts."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
             "</title><style>body{font-family:sans-serif;margin:2em;max-width:70em}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
             "padding:2px 8px;text-align:right}th:first-child,td:first-child{text-align:left}"
             "img{max-width:100%}</style></head><body>", f"<h1>{html.escape(title)}</h1>",
             *body]
    for name, png in images.items():
        b64 = base64.b64encode(png).decode()
        parts.append(f"<h2>{html.escape(name)}</h2><img class='plot' alt='{html.escape(name)}'"
                     f" src='data:image/png;base64,{b64}'>")
    parts += after
    # Marks the page once every plot has decoded: a headless browser test reads it.
    parts.append("<script>window.addEventListener('load',function(){var i=document."
                 "querySelectorAll('img.plot'),ok=0;i.forEach(function(x){if(x.complete&&"
                 "x.naturalWidth>0)ok++});document.body.setAttribute('data-plots-rendered',"
                 "ok+'/'+i.length)});</script></body></html>")
    return "\n".join(parts)


def html_table(cols: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    return "\n".join(["<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in cols)
                      + "</tr>",
                      *("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in r)
                        + "</tr>" for r in rows), "</table>"])


def _html(title: str, metrics: dict[str, dict[str, Any]], images: dict[str, bytes],
          series_note: str) -> str:
    body = []
    for variant, m in metrics.items():
        s = m["scenario"]
        body.append(f"<h2>{html.escape(variant)}</h2><p>{html.escape(s['description'])}</p>"
                    f"<p>seed {s['seed']}, {s['duration_ms']:g} ms simulated, {s['cpus']} CPUs,"
                    f" scheduler {s['scheduler']}</p><ul>")
        body += [f"<li>{html.escape(line)}</li>" for line in summary_lines(m)]
        body.append("</ul>")
        body.append(html_table(
            ("group", "limit", "usage", "mean usage", "scanned", "reclaimed", "visits",
             "first", "reclaim share", "usage share", "OOMs"),
            [(g["name"], g["limit_pages"], g["usage_pages"], g["mean_usage_pages"],
              g["scanned"], g["reclaimed"], g["visits"], g["first_visits"],
              g.get("reclaim_share"), g.get("usage_share"), g["ooms"])
             for g in m["groups"] if g["workload"] or g["visits"] or g["limit_pages"]]))
    return page(title, body, images, [f"<p>{html.escape(series_note)}</p>"])


# Names the top of a compare folder uses for itself: no variant folder may take them.
_RESERVED = {"compare.json", "shares.png", "report.html", MARKER}


def variant_folders(variants: Sequence[str]) -> dict[str, str]:
    """A folder name per variant of a compare: the variant made filename-safe (a path
    ``dir/file.py:Class`` becomes ``dir_file.py_Class``); when two would share a name, each
    of them gets a checksum of its spelling, so no variant ever writes over another."""
    base = {v: re.sub(r"[^A-Za-z0-9_.-]+", "_", v).lstrip("._-") or "variant"
            for v in variants}
    taken = [b.lower() for b in base.values()]
    out = {}
    for v, b in base.items():
        if taken.count(b.lower()) > 1 or b in _RESERVED:
            b = f"{b}-{zlib.crc32(v.encode()):08x}"
        out[v] = b
    return out


def write_outputs(out: OutDir | Path, runs: dict[str, SimRun],
                  metrics: dict[str, dict[str, Any]], parquet: bool = True) -> list[str]:
    """Write metrics, series, plots and report.html into ``out`` (a folder checked by
    :func:`~memcglab.report.outdir.check_out`), atomically; returns the files written."""
    single = len(runs) == 1
    if isinstance(out, Path):
        out = check_out(str(out), "run" if single else "compare", force=False)
    folders = variant_folders(list(runs))

    def fill(tmp: Path) -> None:
        images: dict[str, bytes] = {}
        for variant, run in runs.items():
            sub = tmp if single else tmp / folders[variant]
            sub.mkdir(mode=0o755, exist_ok=True)
            (sub / "metrics.json").write_text(json.dumps(metrics[variant], indent=2) + "\n")
            rows = series_rows(run)
            write_csv(sub / "timeseries.csv", SERIES_COLUMNS, rows)
            if parquet:
                write_parquet(sub / "timeseries.parquet", SERIES_COLUMNS, rows)
            png = plots.usage_and_reclaim(run)
            (sub / "usage_reclaim.png").write_bytes(png)
            images[f"usage and reclaim over time ({variant})"] = png
        share = _share_plot(metrics)
        (tmp / "shares.png").write_bytes(share)
        images["reclaim share against usage share"] = share
        if not single:
            (tmp / "compare.json").write_text(json.dumps(metrics, indent=2) + "\n")
        title = ("memcglab run: " if single else "memcglab compare: ") + \
            next(iter(metrics.values()))["scenario"]["name"]
        (tmp / "report.html").write_text(_html(title, metrics, images,
                                               "Time series: timeseries.csv / .parquet"))

    return write_folder(out, fill)


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def write_parquet(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    cols: list[Sequence[Any]] = (list(zip(*rows, strict=True)) if rows
                                 else [[] for _ in header])
    table = pa.table({name: list(col) for name, col in zip(header, cols, strict=True)})
    pq.write_table(table, path)
