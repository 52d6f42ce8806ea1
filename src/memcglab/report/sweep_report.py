"""A sweep's results as a table of means with 95% confidence intervals over seeds, plots of
metrics against an axis faceted by variant, and a self-contained report.html."""

from __future__ import annotations

import html
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from memcglab.grid.stats import ci_table
from memcglab.grid.store import Store
from memcglab.report import plots
from memcglab.report.outdir import write_folder
from memcglab.report.sim_report import page
from memcglab.scenario.sweep_spec import Sweep

DEFAULT_METRICS = ("fairness.jain_index_reclaim_per_usage", "iterator.duplicate_claims",
                   "fairness.reclaimed_over_requested", "allocation_stalls", "memcg_ooms")
SHOWN = 4  # metrics in the terminal table


def metrics_of(sweep: Sweep) -> list[str]:
    return list(sweep.plot_y) or list(DEFAULT_METRICS)


def point_columns(sweep: Sweep, frame: Any) -> list[str]:
    """What tells the points of the sweep apart (everything but the seed)."""
    return [c for c in sweep.points() if c in frame.columns]


def summary(sweep: Sweep, frame: Any) -> Any:
    return ci_table(frame, point_columns(sweep, frame), metrics_of(sweep))


def _fmt(mean: float, lo: float, hi: float, n: int) -> str:
    if math.isnan(mean):
        return "-"
    if n < 2 or math.isnan(lo):
        return f"{mean:.4g}"
    return f"{mean:.4g} ± {(hi - lo) / 2:.2g}"


def wide(sweep: Sweep, frame: Any, table: Any) -> tuple[list[str], list[list[str]]]:
    """The summary as rows of text: one per point, a column per metric (mean ± half CI)."""
    by = point_columns(sweep, frame)
    metrics = [m for m in metrics_of(sweep) if m in set(table["metric"])]
    cols = [*by, "seeds", *metrics]
    seeds = frame.groupby(by, sort=False, dropna=False).size()  # cells per point
    rows: list[list[str]] = []
    for keys, g in table.groupby(by, sort=False, dropna=False):
        cells = {r["metric"]: _fmt(r["mean"], r["ci_low"], r["ci_high"], r["n"])
                 for _, r in g.iterrows()}
        keys = keys if isinstance(keys, tuple) else (keys,)
        n = int(seeds.get(keys if len(by) > 1 else keys[0], 0))
        rows.append([*(str(k) for k in keys), str(n), *(cells.get(m, "-") for m in metrics)])
    return cols, rows


def print_summary(console: Console, sweep: Sweep, frame: Any, table: Any) -> None:
    cols, rows = wide(sweep, frame, table)
    keep = len(cols) - max(0, len(cols) - len(point_columns(sweep, frame)) - 1 - SHOWN)
    t = Table(title=f"{sweep.name}: mean ± half the 95% CI over seeds", title_justify="left")
    points = point_columns(sweep, frame)
    for c in cols[:keep]:
        # A metric by its last part (jain_index_reclaim_per_usage): the table stays narrow.
        t.add_column(escape(c if c in points else c.rsplit(".", 1)[-1]),
                     justify="left" if c in points else "right")
    for r in rows:
        t.add_row(*(escape(x) for x in r[:keep]))
    console.print(t)


def _x_column(sweep: Sweep) -> str:
    cols = sweep.columns()
    return sweep.plot_x or (cols[0] if cols else "variant")


def images(sweep: Sweep, frame: Any, table: Any) -> dict[str, bytes]:
    """One PNG per metric: the metric against the x axis, a panel per variant, a line per
    combination of the other axes."""
    x = _x_column(sweep)
    by = point_columns(sweep, frame)
    facet_col = "variant" if x != "variant" else None
    # Lines for the other axes that move (one that holds a single value is no distinction,
    # nor does a path moved together with x on one zipped axis).
    partners = next((a.names for a in sweep.axes if x in a.names), (x,))
    others = [c for c in by if c not in (*partners, facet_col)
              and frame[c].nunique(dropna=False) > 1]
    order = list(dict.fromkeys(frame[x].tolist())) if x in frame.columns else []
    num_col = f"{x}:value"
    numeric = num_col in frame.columns and bool(frame[num_col].notna().all())
    kind = sweep.kind(x)
    scale, unit = ((1 << 20, " (MiB)") if kind == "size" else
                   (1_000_000, " (ms)") if kind == "duration" else (1, ""))
    if numeric:
        xnum = {v: n / scale for v, n in zip(frame[x], frame[num_col], strict=True)}
    else:  # text (or mixed): the values in the sweep's order, not joined by lines
        xnum = {v: float(i) for i, v in enumerate(order)}
    out: dict[str, bytes] = {}
    for metric in metrics_of(sweep):
        t = table[table["metric"] == metric]
        if t.empty or bool(t["mean"].isna().all()):  # not a column, or no numbers in it
            continue
        facets: dict[str, dict[str, plots.Line]] = {}
        for _, r in t.iterrows():
            facet = str(r[facet_col]) if facet_col else "all variants"
            label = ", ".join(f"{c}={r[c]}" for c in others)
            xs, ms, lo, hi = facets.setdefault(facet, {}).setdefault(label, ([], [], [], []))
            xs.append(xnum[r[x]])  # type: ignore[attr-defined]
            ms.append(r["mean"])  # type: ignore[attr-defined]
            lo.append(r["ci_low"])  # type: ignore[attr-defined]
            hi.append(r["ci_high"])  # type: ignore[attr-defined]
        for lines in facets.values():
            for label, (xs, ms, lo, hi) in list(lines.items()):
                order_ix = sorted(range(len(xs)), key=lambda i: xs[i])
                lines[label] = tuple([s[i] for i in order_ix]  # type: ignore[assignment]
                                     for s in (xs, ms, lo, hi))
        label = x + (unit if numeric else "")
        out[metric] = plots.sweep_metric(metric, label, facets,
                                         None if numeric else [str(v) for v in order],
                                         connect=numeric)
    return out


def html_report(sweep: Sweep, frame: Any, table: Any, imgs: dict[str, bytes],
                status: dict[str, Any]) -> str:
    cols, rows = wide(sweep, frame, table)
    body = [f"<p>{html.escape(sweep.description)}</p>" if sweep.description else "",
            f"<p>{status['done']} of {status['total']} cells finished"
            + (f", {status['skipped_invalid']} skipped (cannot be built)"
               if status["skipped_invalid"] else "")
            + f"; base: {html.escape(', '.join(Path(b).name for b in sweep.bases))}; seeds: "
            f"{html.escape(', '.join(map(str, sweep.seeds)))}. Each value is the mean over "
            "seeds ± half its 95% Student-t confidence interval.</p>",
            "<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                      for r in rows) + "</table>"]
    missing = [m for m in metrics_of(sweep) if m not in imgs]
    after = ([f"<p>No plot for: {html.escape(', '.join(missing))} (not a column of these "
              "cells, or no numbers in it; docs/sweep.md lists the columns)</p>"]
             if missing else [])
    return page(f"memcglab sweep: {sweep.name}", body, imgs, after)


def write_report(store: Store, sweep: Sweep, sweep_json: dict[str, Any], frame: Any,
                 table: Any, imgs: dict[str, bytes], status: dict[str, Any]) -> list[str]:
    import json

    def fill(tmp: Path) -> None:
        (tmp / "sweep.json").write_text(json.dumps(sweep_json, indent=1, sort_keys=True)
                                        + "\n")
        buf = io.StringIO()
        table.to_csv(buf, index=False)
        (tmp / "summary.csv").write_text(buf.getvalue())
        (tmp / "plots").mkdir()
        for i, (metric, png) in enumerate(imgs.items()):
            (tmp / "plots" / f"{i + 1:02d}-{_file_name(metric)}.png").write_bytes(png)
        (tmp / "report.html").write_text(html_report(sweep, frame, table, imgs, status))

    return write_folder(store.outdir(), fill)


def _file_name(metric: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in metric)[:80]


__all__: Sequence[str] = ("print_summary", "summary", "write_report")


def finish(sweep: Sweep, store: Store, ids: list[str] | None = None
           ) -> tuple[Any, Any, dict[str, bytes], dict[str, Any]]:
    """Read the finished cells, summarise them and rewrite the report files: (cells frame,
    summary table, plots by metric, status)."""
    from memcglab.grid.runner import cell_ids, describe, status

    ids = ids if ids is not None else cell_ids(sweep)
    frame = store.load(ids).to_pandas()
    table = summary(sweep, frame)
    imgs = images(sweep, frame, table)
    walls = ([float(w) for w in frame["wall_s"].dropna()] if "wall_s" in frame.columns
             else [])
    st = status(sweep, store, ids, walls)
    write_report(store, sweep, describe(sweep, ids), frame, table, imgs, st)
    return frame, table, imgs, st
