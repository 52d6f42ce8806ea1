"""``memcglab compare --kernel``: the model's variants beside the live kernel.

The kernel side is either measured now (``kernel run`` with ``--repeat N``) or read from an
earlier ``memcglab kernel run --out DIR`` (``--kernel-result DIR``: its ``runs.json``; the
scenario must be the same, checked by its digest). Each variant is simulated with its visit
log, so that both sides have the same statistics (docs/kernel.md, "Comparing"): per-group
reclaim shares (the kernel's mean and spread over repetitions), Jain's index, usage at the
end, visit order (successor and repeat rates, bigram distance), completed walks, page-in
amplification, wall time, and one divergence score per variant
(:func:`memcglab.metrics.visits.divergence`).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any, TextIO

from rich.table import Table
from rich.text import Text

from memcglab.cli.status import ExitStatus
from memcglab.errors import ConfigError
from memcglab.kernel.registry import split_variants, variant_list
from memcglab.live.measure import aggregate
from memcglab.metrics.summary import summarize
from memcglab.metrics.validation import goals
from memcglab.metrics.visits import divergence, model_visit_metrics
from memcglab.report.kernel_report import (
    GROUP_COLUMNS,
    fill_kernel,
    group_rows,
    html_page,
    mean_pm,
    run_warnings,
    share_plot,
)
from memcglab.report.outdir import check_out, write_folder
from memcglab.report.sim_report import _fmt, print_line
from memcglab.scenario.sim_scenario import load
from memcglab.sim.engine import simulate

KERNEL = "kernel"


def kernel_mean(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One metrics dict for a side of the comparison (the kernel's repetitions, or a
    variant's runs with ``--model-seeds N``): run 1's, with the means over all runs of what
    the comparison uses (per group: reclaim share, usage at the end,
    scanned, reclaimed, visits; Jain's index of reclaim; successor and repeat rates and the
    bigrams; page-in; completed walks). Every other value is repetition 1's (runs.json has
    them all)."""
    m = copy.deepcopy(runs[0])
    if len(runs) == 1:
        return m

    def mean(xs: list[Any]) -> float | None:
        vals = [float(x) for x in xs if x is not None]
        return round(statistics.fmean(vals), 4) if vals else None

    for g in m["groups"]:
        same = [next(x for x in r["groups"] if x["name"] == g["name"]) for r in runs]
        for key in ("reclaim_share", "usage_pages", "scanned", "reclaimed", "visits"):
            if key in g:
                v = mean([x.get(key) for x in same])
                # page and visit counts: the mean to the nearest whole one
                g[key] = v if key == "reclaim_share" or v is None else round(v)
    m["fairness"]["jain_index_reclaim"] = mean(
        [r["fairness"]["jain_index_reclaim"] for r in runs])
    for key in ("successor_rate", "repeat_rate"):
        m["visit_order"][key] = mean([r["visit_order"].get(key) for r in runs])
    pairs: dict[str, dict[str, float]] = {}
    for r in runs:
        for a, row in (r["visit_order"].get("bigrams") or {}).items():
            for b, p in row.items():
                pairs.setdefault(a, {})[b] = pairs.get(a, {}).get(b, 0.0) + p / len(runs)
    m["visit_order"]["bigrams"] = pairs
    for key in ("amplification", "pages_read", "file_pages"):
        m["page_in"][key] = mean([r["page_in"].get(key) for r in runs])
    walks = mean([r["iterator"].get("walks_completed") for r in runs])
    m["iterator"]["walks_completed"] = None if walks is None else round(walks)
    return m


def _read_result(folder: Path, digest: str) -> list[dict[str, Any]]:
    path = folder / "runs.json"
    try:
        runs = json.loads(path.read_text())
    except OSError as e:
        raise ConfigError(f"--kernel-result {folder}: cannot read runs.json ({e.strerror}); "
                          "expected the --out folder of 'memcglab kernel run'") from None
    except ValueError as e:
        raise ConfigError(f"--kernel-result {path}: not JSON ({e})") from None
    if not (isinstance(runs, list) and runs and all(isinstance(r, dict) and
                                                    r.get("measured") == "kernel"
                                                    for r in runs)):
        raise ConfigError(f"--kernel-result {path}: expected a list of kernel-measured "
                          "metrics (runs.json of 'memcglab kernel run --out')")
    got = runs[0].get("scenario", {}).get("digest")
    if got != digest:
        raise ConfigError(f"--kernel-result {path}: recorded for another scenario (digest "
                          f"{got}), this one is {digest}; run 'memcglab kernel run' on it "
                          "again")
    return runs


def _row(label: str, kernel: Any, models: list[Any]) -> list[str]:
    return [label, kernel if isinstance(kernel, str) else _fmt(kernel),
            *[_fmt(x) for x in models]]


def run_compare_kernel(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitStatus:
    if not split_variants(args.variants):
        raise ConfigError(f"--variants: expected at least one, got {args.variants!r}")
    variants = variant_list(args.variants)
    nseeds = getattr(args, "model_seeds", 1)
    if nseeds < 1 or nseeds > 100:
        raise ConfigError(f"--model-seeds: expected 1 to 100, got {nseeds}")
    overrides: dict[str, Any] = {}
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.duration is not None:
        overrides["duration"] = args.duration
    plans = {v: load(args.scenario, {**overrides, "variant": v}) for v in variants}
    first = next(iter(plans.values()))
    if args.force and args.out is None:
        raise ConfigError("--force: only has a meaning with --out DIR")
    outdir = (check_out(args.out, "compare --kernel", args.force, [args.scenario])
              if args.out is not None else None)
    measured = None
    if args.kernel_result is not None:
        # The scenario as the kernel run saw it: without the variants given here.
        runs = _read_result(Path(args.kernel_result), load(args.scenario, overrides).digest)
    else:
        from memcglab.cli.kernel_cmd import measure_scenario  # the live machinery
        measured = measure_scenario(args, overrides, err)
        runs = measured.metrics
    # A scenario that names no readahead window is simulated with the kernel run's device's
    # (the scenario is then taken from that machine).
    recorded_ra = ((runs[0].get("recording") or {}).get("readahead") or {}).get(
        "read_ahead_kb")
    if isinstance(recorded_ra, int):
        plans = {v: (dataclasses.replace(p, read_ahead_kb=recorded_ra)
                     if p.read_ahead_kb is None else p) for v, p in plans.items()}
    # The kernel's time is its workload's: from the first process's start to the end of
    # the timeline (mean over the repetitions), what the model's simulation stands for.
    timelines = [t for r in runs if isinstance(
        t := (r.get("recording") or {}).get("timeline_s"), int | float)]
    kernel_wall = round(statistics.fmean(timelines), 3) if timelines else None
    agg = aggregate(runs)
    kernel = kernel_mean(runs)
    models: dict[str, dict[str, Any]] = {}
    spreads: dict[str, dict[str, Any]] = {}
    walls: dict[str, float] = {}
    for v, plan in plans.items():
        seeded = []
        wall = 0.0
        for i in range(nseeds):
            started = time.monotonic()
            run = simulate(dataclasses.replace(plan, seed=plan.seed + i) if i else plan,
                           record_visits=True)
            m = summarize(run)
            m.update(model_visit_metrics(run))
            m["wall_s"] = round(time.monotonic() - started, 3)
            wall += m["wall_s"]
            seeded.append(m)
        walls[v] = round(wall / nseeds, 3)
        models[v] = kernel_mean(seeded)
        models[v]["wall_s"] = walls[v]
        if nseeds > 1:
            models[v]["seeds"] = [plan.seed + i for i in range(nseeds)]
            spreads[v] = aggregate(seeded)
    div = {v: divergence(m, kernel) for v, m in models.items()}
    met = {v: goals(m, kernel) for v, m in models.items()}
    doc = {"scenario": first.name, "digest": first.digest, "warnings": run_warnings(runs),
           "kernel": {
        "runs": len(runs), "spread": agg, "mean": kernel, "wall_s": kernel_wall},
        "models": models, "divergence": div,
        "goals": {v: {x.name: x.to_json() for x in gs} for v, gs in met.items()}}
    if spreads:
        doc["model_spread"] = spreads
    rows = _table_rows(kernel, agg, models, kernel_wall, walls, div, spreads)
    if outdir is not None:
        _write(outdir, doc, rows, variants, measured)
    if args.json:
        out.write(json.dumps(doc, indent=2) + "\n")
        return ExitStatus.SUCCESS
    from memcglab.cli.run_cmd import _console
    console = _console(out)
    source = f" from {args.kernel_result}" if args.kernel_result else ""
    print_line(console, f"memcglab compare --kernel: {first.name}, kernel ({len(runs)} "
                        f"repetition(s){source}) against {', '.join(variants)}")
    t = Table(title="model and kernel side by side", title_justify="left")
    t.add_column("metric")
    t.add_column("kernel", justify="right")
    for v in variants:
        t.add_column(Text(v), justify="right")
    for r in rows:
        t.add_row(*r)
    console.print(t)
    for v, gs in met.items():
        print_line(console, f"goals for {v}: " + ", ".join(
            f"{x.name} {_fmt(x.value)} {'<=' if x.met else '>'} {x.limit:g}"
            f"{'' if x.met else ' (missed)'}" for x in gs))
    for line in kernel.get("kernel_differences", []):
        print_line(console, f"not as in the scenario on the kernel: {line}")
    for w in run_warnings(runs):
        print_line(console, f"!! kernel {w}")
    if outdir is not None:
        print_line(console, f"wrote {args.out.rstrip(os.sep) or args.out}/: compare.json, "
                            "shares.png, report.html" + (", kernel/" if measured else ""))
    return ExitStatus.SUCCESS


def _table_rows(kernel: dict[str, Any], agg: dict[str, Any], models: dict[str, Any],
                kernel_wall: Any, walls: dict[str, float],
                div: dict[str, Any], spreads: dict[str, Any] | None = None
                ) -> list[list[str]]:
    ms = list(models.values())
    sp = [(spreads or {}).get(v) for v in models]
    rows = []

    def model_cells(values: list[Any], key: str, group: str | None = None) -> list[Any]:
        """A variant's value, or its mean ± stdev over its seeds."""
        out = []
        for x, s in zip(values, sp, strict=True):
            spread = None if s is None else (s["reclaim_share"].get(group) if group
                                             else s.get(key))
            out.append(mean_pm(spread) if spread else x)
        return out

    for g in kernel["groups"]:
        if not g["workload"]:
            continue
        s = agg["reclaim_share"].get(g["name"]) or {}
        rows.append(_row(f"reclaim share {g['name']}", mean_pm(s), model_cells(
            [next(x for x in m["groups"] if x["name"] == g["name"]).get("reclaim_share")
             for m in ms], "reclaim_share", g["name"])))
    for g in kernel["groups"]:
        if g["workload"] or g["limit_pages"]:
            rows.append(_row(f"usage at end {g['name']} (pages)", g["usage_pages"],
                             [next(x for x in m["groups"] if x["name"] == g["name"])
                              ["usage_pages"] for m in ms]))
    j = agg["jain_index_reclaim"]
    rows.append(_row("Jain(reclaim)", mean_pm(j), model_cells(
        [m["fairness"]["jain_index_reclaim"] for m in ms], "jain_index_reclaim")))
    sr = agg["successor_rate"]
    rows.append(_row("next visit = walk successor", mean_pm(sr), model_cells(
        [m["visit_order"]["successor_rate"] for m in ms], "successor_rate")))
    rows.append(_row("next visit = same group", kernel["visit_order"].get("repeat_rate"),
                     [m["visit_order"]["repeat_rate"] for m in ms]))
    # the bigram distance is divergence()'s own component: computed once, there
    has_bigrams = bool(kernel["visit_order"].get("bigrams"))
    rows.append(_row("bigram distance to the kernel", 0.0 if has_bigrams else None,
                     [div[v]["components"]["bigram_tv"] for v in models]))
    rows.append(_row("walks completed", kernel["iterator"].get("walks_completed"),
                     [m["iterator"]["walks_completed"] for m in ms]))
    am = agg["amplification"]
    rows.append(_row("page-in amplification", mean_pm(am), model_cells(
        [m["page_in"]["amplification"] for m in ms], "amplification")))
    rows.append(_row("wall time (s): workload / simulation", kernel_wall,
                     [walls[v] for v in models]))
    rows.append(_row("divergence score (0 = same)", "-",
                     [div[v]["score"] for v in models]))
    return rows


def _write(outdir: Any, doc: dict[str, Any], rows: list[list[str]], variants: list[str],
           measured: Any) -> None:
    def fill(tmp: Path) -> None:
        (tmp / "compare.json").write_text(json.dumps(doc, indent=2) + "\n")
        metrics = {KERNEL: doc["kernel"]["mean"], **doc["models"]}
        share = share_plot(metrics, doc["kernel"]["spread"], KERNEL)
        (tmp / "shares.png").write_bytes(share)
        if measured is not None:
            sub = tmp / "kernel"
            sub.mkdir()
            fill_kernel(sub, measured.metrics, doc["kernel"]["spread"], measured.visits,
                        measured.series)
        k = doc["kernel"]["mean"]
        page = html_page(
            f"memcglab compare --kernel: {doc['scenario']}",
            [("not as in the scenario on the kernel", k.get("kernel_differences", []))],
            [("model and kernel side by side", ["metric", KERNEL, *variants], rows),
             ("kernel, per group (pages of 4K; mean over repetitions where averaged)",
              GROUP_COLUMNS, group_rows(k))],
            {"reclaim share: kernel (mean ± stdev over repetitions) and the model": share})
        (tmp / "report.html").write_text(page)

    write_folder(outdir, fill)
