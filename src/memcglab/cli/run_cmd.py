"""``memcglab run`` and ``memcglab compare``: scenario -> simulation -> report."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from memcglab.cli.status import ExitStatus
from memcglab.errors import ConfigError
from memcglab.kernel.registry import resolve_variant
from memcglab.metrics.summary import summarize
from memcglab.report.sim_report import print_compare, print_run, write_outputs
from memcglab.scenario.sim_scenario import load
from memcglab.sim.engine import SimRun, simulate
from memcglab.sim.plan import Plan


def add_run_args(p: argparse.ArgumentParser, compare: bool) -> None:
    p.add_argument("scenario", type=Path, help="a scenario TOML file (see scenarios/)")
    if compare:
        p.add_argument("--variants", required=True,
                       help="comma list of variants, e.g. css-id,seed-spinlock")
    else:
        p.add_argument("--variant", help="override the scenario's variant")
    p.add_argument("--seed", type=int, help="override the scenario's seed")
    p.add_argument("--scheduler", help="random (default) or round-robin")
    p.add_argument("--duration", help="override the simulated duration, e.g. 500ms")
    p.add_argument("--json", action="store_true", help="print metrics JSON instead of tables")
    p.add_argument("--out", type=Path, help="write metrics.json, time series, plots and "
                                            "report.html into this directory")
    p.add_argument("--no-progress", action="store_true")


def _overrides(args: argparse.Namespace, variant: str | None) -> dict[str, Any]:
    o: dict[str, Any] = {}
    if args.seed is not None:
        o["seed"] = args.seed
    if args.scheduler is not None:
        o["scheduler"] = args.scheduler
    if args.duration is not None:
        o["duration"] = args.duration
    if variant is not None:
        o["variant"] = variant
    return o


def _simulate(plan: Plan, show: bool, err: TextIO) -> SimRun:
    if not show:
        return simulate(plan)
    with Progress(TextColumn(f"[bold]{plan.name}[/] {plan.variant}"), BarColumn(),
                  TextColumn("{task.completed:.0f}/{task.total:.0f} ms simulated"),
                  TimeRemainingColumn(), console=Console(file=err), transient=True) as prog:
        task = prog.add_task("run", total=plan.duration_ns / 1e6)
        return simulate(plan, lambda now, end: prog.update(task, completed=now / 1e6))


def replay_command(args: argparse.Namespace, plan: Plan) -> str:
    ms = plan.duration_ns / 1e6
    duration = f"{ms:g}ms" if ms == int(ms) else f"{plan.duration_ns}ns"
    cmd = ["memcglab", "run", str(args.scenario), "--variant", plan.variant, "--seed",
           str(plan.seed), "--scheduler", plan.scheduler, "--duration", duration]
    return " ".join(shlex.quote(c) for c in cmd)


def run_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitStatus:
    plan = load(args.scenario, _overrides(args, args.variant))
    if args.out is not None:
        _check_out(args.out)
    show = not args.no_progress and not args.json and err.isatty()
    run = _simulate(plan, show, err)
    metrics = summarize(run)
    if args.out is not None:
        write_outputs(args.out, {plan.variant: run}, {plan.variant: metrics})
    if args.json:
        out.write(json.dumps(metrics, indent=2) + "\n")
    else:
        console = Console(file=out, width=120, highlight=False,
                          force_terminal=False if out is not sys.stdout else None)
        print_run(console, metrics, replay_command(args, plan))
        if args.out is not None:
            console.print(f"wrote {args.out}/: metrics.json, timeseries.csv, "
                          "timeseries.parquet, usage_reclaim.png, shares.png, report.html")
    return ExitStatus.SUCCESS


def run_compare(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitStatus:
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if len(variants) < 2:
        raise ConfigError(f"--variants: expected at least two, comma-separated; got "
                          f"{args.variants!r}")
    if len(set(variants)) != len(variants):
        raise ConfigError(f"--variants: {args.variants!r} names a variant twice")
    for v in variants:
        resolve_variant(v)
    plans = {v: load(args.scenario, _overrides(args, v)) for v in variants}
    if args.out is not None:
        _check_out(args.out)
    show = not args.no_progress and not args.json and err.isatty()
    runs = {v: _simulate(p, show, err) for v, p in plans.items()}
    metrics = {v: summarize(r) for v, r in runs.items()}
    if args.out is not None:
        write_outputs(args.out, runs, metrics)
    if args.json:
        out.write(json.dumps(metrics, indent=2) + "\n")
    else:
        console = Console(file=out, width=120, highlight=False)
        first = next(iter(plans.values()))
        console.print(f"memcglab compare: {first.name}, seed {first.seed}, "
                      f"{first.duration_ns / 1e6:g} ms simulated, variants "
                      f"{', '.join(variants)}")
        print_compare(console, metrics)
        for v, p in plans.items():
            console.print(f"replay {v}: {replay_command(args, p)}")
        if args.out is not None:
            console.print(f"wrote {args.out}/: compare.json, per-variant folders, shares.png, "
                          "report.html")
    return ExitStatus.SUCCESS


def _check_out(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {path}: exists and is not a directory")
