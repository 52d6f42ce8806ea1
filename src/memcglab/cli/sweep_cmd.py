"""``memcglab sweep``: a grid of scenarios x variants x kernels x seeds, run on a local pool
or Ray, into a resumable Parquet store, summarised with confidence intervals and plots."""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from memcglab.cli import resources
from memcglab.cli.status import ExitStatus
from memcglab.errors import ConfigError, Terminated
from memcglab.scenario.sweep_spec import Sweep, check_plot_x, load_sweep


def add_sweep_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep", type=Path, help="a sweep file (TOML: a base scenario, axes, "
                                            "variants, kernels, seeds; docs/sweep.md)")
    p.add_argument("--out", metavar="DIR",
                   help="the results folder (default: sweep-NAME in the current folder): one "
                        "Parquet file per finished cell, sweep.json, summary.csv, plots/, "
                        "report.html; running the sweep again resumes in it")
    p.add_argument("--jobs", type=int, metavar="N",
                   help="worker processes of the local pool (default: the cores this process "
                        "may use; 1 runs the cells in this process)")
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="run the cells as Ray tasks: on a local Ray instance started for the "
                        "run (no ADDRESS; --jobs CPUs), or on the cluster at ADDRESS "
                        "(host:port or 'auto'); needs pip install 'memcglab[ray]'")
    p.add_argument("--batch-seconds", type=float, default=1.0, metavar="S",
                   help="with --ray: about how much work one task holds (default 1.0)")
    p.add_argument("--plot-x", metavar="AXIS",
                   help="the x axis of the plots (overrides [plot] x): an axis path of the "
                        "sweep, variant, or kernel when the sweep has several")
    p.add_argument("--plot-y", metavar="M1,M2,...",
                   help="the metrics plotted and summarised (overrides [plot] y): any column "
                        "of the cells, e.g. groups.a.reclaimed (docs/sweep.md, \"Columns\"); "
                        "running a finished sweep again with other metrics only redraws")
    p.add_argument("--status", action="store_true",
                   help="show what is finished and what is left (runs nothing)")
    p.add_argument("--json", action="store_true",
                   help="print the summary (or --status) as JSON")
    p.add_argument("--max-memory", metavar="SIZE",
                   help="bound the memory of the running cells together (default "
                        f"{resources.DEFAULT_SHARE * 100:.0f}%% of MemAvailable): fewer "
                        "workers when one cell's estimate times --jobs would exceed it")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (drawn on stderr only when it is a terminal)")


def _out(args: argparse.Namespace, sweep: Sweep) -> str:
    return args.out if args.out is not None else f"sweep-{sweep.name}"


def run_sweep_cmd(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitStatus:
    from memcglab.grid.runner import cell_ids, check_executor, plan_workers, run_sweep, status
    from memcglab.grid.store import Store

    sweep = load_sweep(args.sweep)
    if args.plot_x is not None or args.plot_y is not None:
        ys = tuple(y.strip() for y in (args.plot_y or "").split(",") if y.strip())
        if args.plot_y is not None and not ys:
            raise ConfigError(f"--plot-y: expected metric names, comma-separated; got "
                              f"{args.plot_y!r}")
        sweep = dataclasses.replace(
            sweep, plot_x=check_plot_x(args.plot_x, sweep.points(), "--plot-x")
            if args.plot_x is not None else sweep.plot_x, plot_y=ys or sweep.plot_y)
    inputs = [args.sweep, *(Path(b) for b in sweep.bases)]
    given = _out(args, sweep)
    if args.status:
        store = Store.read(given)
        st = status(sweep, store)
        out.write(json.dumps(st, indent=2) + "\n" if args.json else _status_text(st))
        return ExitStatus.SUCCESS
    if args.batch_seconds <= 0:
        raise ConfigError(f"--batch-seconds: expected more than 0, got {args.batch_seconds}")
    if args.ray is None and args.batch_seconds != 1.0:
        raise ConfigError("--batch-seconds: only with --ray")
    if args.ray is not None:
        from memcglab.grid.executors import RAY_MISSING, ray_available
        if not ray_available():
            raise ConfigError(RAY_MISSING)

    def note(msg: str) -> None:
        err.write(f"memcglab sweep: note: {msg}\n")

    workers = plan_workers(sweep, args.jobs, args.max_memory, note)
    executor = "ray" if args.ray is not None else ("pool" if workers > 1 else "serial")
    address = None if args.ray in (None, "local") else args.ray
    ids = cell_ids(sweep)  # every refusal before the folder is made
    check_executor(sweep, executor, address)
    store = Store.open(given, inputs)
    console = Console(file=err)
    show = not args.no_progress and err.isatty()
    for label, why in sweep.skipped:
        err.write(f"memcglab sweep: skipped ({label}): {why.splitlines()[0]}\n")

    def say(msg: str) -> None:
        err.write(f"memcglab sweep: {msg}\n")

    err.write(f"memcglab sweep: {len(sweep.cells)} cells into {given}/ ({executor}"
              + (f", {workers} workers" if executor != "serial" else "") + ")\n")
    try:
        if show:
            with Progress(TextColumn(f"[bold]{sweep.name}[/]"), BarColumn(),
                          MofNCompleteColumn(), TextColumn("cells"), TimeElapsedColumn(),
                          TimeRemainingColumn(), console=console, transient=True,
                          auto_refresh=False) as prog:
                # No refresh thread: the local pool forks its workers (grid/executors.py).
                task = prog.add_task("sweep", total=len(sweep.cells))

                def progress(done: int, total: int) -> None:
                    prog.update(task, completed=done, total=total, refresh=True)

                report = run_sweep(sweep, store, executor=executor, workers=workers,
                                   ray_address=address, batch_seconds=args.batch_seconds,
                                   progress=progress, say=say, ids=ids)
        else:
            report = run_sweep(sweep, store, executor=executor, workers=workers,
                               ray_address=address, batch_seconds=args.batch_seconds,
                               say=say, ids=ids)
    except KeyboardInterrupt as e:
        n = len(store.done() & set(ids))
        what = "terminated" if isinstance(e, Terminated) else "interrupted"
        err.write(f"memcglab sweep: {what} with {n} of {len(sweep.cells)} cells "
                  f"written in {given}/; run the same command again to resume\n")
        raise
    from memcglab.report.sweep_report import finish, metrics_of, print_summary

    frame, table, imgs, st = finish(sweep, store, ids)
    for m in metrics_of(sweep):
        if m not in frame.columns:
            close = difflib.get_close_matches(m, [str(c) for c in frame.columns], n=3)
            err.write(f"memcglab sweep: note: {m!r} is not a column of these cells"
                      + (f"; did you mean {', '.join(close)}?" if close else "") + "\n")
    if args.json:
        doc: dict[str, Any] = {"status": st, "computed": report.computed,
                               "already_done": report.already_done,
                               "summary": json.loads(table.to_json(orient="records"))}
        out.write(json.dumps(doc, indent=2) + "\n")
    else:
        from memcglab.cli.run_cmd import _console
        c = _console(out)
        print_summary(c, sweep, frame, table)
        c.print(f"{report.computed} cells computed, {report.already_done} already done, in "
                f"{report.wall_s:.1f} s ({report.executor}); wrote {given}/: cells/*.parquet, "
                "sweep.json, summary.csv, " + ("plots/, " if imgs else "") + "report.html",
                highlight=False)
    return ExitStatus.SUCCESS


def _status_text(st: dict[str, Any]) -> str:
    lines = [f"sweep {st['sweep']} in {st['folder']}: {st['done']} of {st['total']} cells "
             f"done, {st['left']} left"
             + (f", {st['skipped_invalid']} skipped (cannot be built)"
                if st["skipped_invalid"] else "")
             + (f"; {st['stale']} files of another sweep or memcglab build (kept, not read)"
                if st["stale"] else "")]
    for v, c in st["by_variant"].items():
        lines.append(f"  {v}: {c['done']}/{c['total']}")
    if st["mean_cell_s"] is not None and st["left"]:
        eta = st["left_cpu_s"] / st["cores"]
        lines.append(f"  mean cell {st['mean_cell_s']:.3g} s; about {eta:.1f} s left on "
                     f"{st['cores']} cores" if eta < 99.5 else
                     f"  mean cell {st['mean_cell_s']:.3g} s; about {eta / 60:.0f} min left "
                     f"on {st['cores']} cores")
    return "\n".join(lines) + "\n"
