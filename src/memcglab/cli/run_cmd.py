"""``memcglab run`` and ``memcglab compare``: scenario -> simulation -> report."""

from __future__ import annotations

import argparse
import json
import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from memcglab.cli import resources
from memcglab.cli.live_args import add_live_args
from memcglab.cli.status import ExitStatus
from memcglab.errors import ConfigError
from memcglab.kernel.registry import plugin_path, split_variants, variant_list
from memcglab.metrics.summary import summarize
from memcglab.report.outdir import MARKER, OutDir, check_out
from memcglab.report.sim_report import (
    print_compare,
    print_line,
    print_run,
    variant_folders,
    write_outputs,
)
from memcglab.scenario.sim_scenario import MAX_DURATION_TEXT, load
from memcglab.sim.budget import estimate
from memcglab.sim.engine import SimRun, simulate
from memcglab.sim.plan import Plan


def add_run_args(p: argparse.ArgumentParser, compare: bool) -> None:
    p.add_argument("scenario", type=Path,
                   help="a scenario TOML file (see scenarios/ and docs/scenarios.md)")
    if compare:
        p.add_argument("--variants", required=True, metavar="V1,V2,...",
                       help="two or more variants (one or more with --kernel), "
                            "comma-separated: any registered variant (css-id, seed-spinlock, "
                            "pointer-ref-lock, dead-count, strong-cursor, weak-cursor, "
                            "current), with settings (dead-count:version=3.10,rmb_fix=off; "
                            "docs/twelve-years.md), or path/to/file.py:ClassName (relative "
                            "to the current folder); each runs its own kernel's reclaim "
                            "unless the scenario names a kernel")
        p.add_argument("--kernel", action="store_true",
                       help="compare the variants with this machine's kernel: run the "
                            "scenario on it ('memcglab kernel run', root) and show model "
                            "and kernel side by side with a divergence score")
        p.add_argument("--kernel-result", metavar="DIR",
                       help="with --kernel: take the kernel's side from an earlier "
                            "'memcglab kernel run --out DIR' of the same scenario instead of "
                            "running it now (no root needed)")
        p.add_argument("--model-seeds", type=int, default=1, metavar="N",
                       help="with --kernel: simulate each variant with N seeds (the "
                            "scenario's and the next N-1) and compare their mean with the "
                            "kernel's mean over its repetitions (default 1)")
        add_live_args(p, max_memory=False)
    else:
        p.add_argument("--variant", help="override the scenario's variant: any registered "
                                         "one, with settings (docs/twelve-years.md), or "
                                         "path/to/file.py:ClassName (relative to the "
                                         "current folder); it runs its own kernel's "
                                         "reclaim unless the scenario names a kernel")
    p.add_argument("--seed", type=int,
                   help="override the scenario's seed (the scheduler and random workloads)")
    p.add_argument("--scheduler", help="override the scenario's scheduler: random or "
                                       "round-robin")
    p.add_argument("--duration", help="override the simulated duration, e.g. 500ms (at most "
                                      f"{MAX_DURATION_TEXT})")
    p.add_argument("--json", action="store_true",
                   help="print the metrics as JSON (as in metrics.json) instead of tables")
    p.add_argument("--out", metavar="DIR",
                   help="write metrics.json, time series, plots and report.html into DIR: a "
                        "new or empty folder, or one an earlier memcglab output wrote (with "
                        f"--force); memcglab marks its folders with a {MARKER} file")
    p.add_argument("--force", action="store_true",
                   help="let --out replace an earlier memcglab output: only the files listed "
                        f"in its {MARKER} are replaced, any other file there is kept")
    p.add_argument("--max-memory", metavar="SIZE",
                   help="refuse a simulation whose memory estimate exceeds SIZE, e.g. 8G "
                        f"(default: {resources.DEFAULT_SHARE * 100:.0f}%% of MemAvailable in "
                        "/proc/meminfo)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (it is drawn on stderr, and only when stderr is a "
                        "terminal and --json is not given)")


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
    with Progress(TextColumn(f"[bold]{escape(plan.name)}[/] {escape(plan.variant)}"),
                  BarColumn(), TextColumn("{task.completed:.0f}/{task.total:.0f} ms simulated"),
                  TimeRemainingColumn(), console=Console(file=err), transient=True) as prog:
        task = prog.add_task("run", total=plan.duration_ns / 1e6)
        return simulate(plan, lambda now, end: prog.update(task, completed=now / 1e6))


def replay_command(args: argparse.Namespace, plan: Plan) -> str:
    """The command that runs this simulation again, from any folder (absolute paths)."""
    ms, rest = divmod(plan.duration_ns, 1_000_000)
    duration = f"{ms}ms" if not rest else f"{plan.duration_ns}ns"
    cmd = ["memcglab", "run", os.path.abspath(args.scenario), "--variant",
           plan.variant_spec or plan.variant, "--seed", str(plan.seed), "--scheduler",
           plan.scheduler, "--duration", duration]
    return " ".join(shlex.quote(c) for c in cmd)


def _shown(folder: str) -> str:
    return folder.rstrip(os.sep) or folder  # "cmp/" is shown as "cmp/", not "cmp//"


def _console(out: TextIO) -> Console:
    # A terminal only when stdout is one (never for a file or a test's buffer).
    return Console(file=out, width=120, highlight=False,
                   force_terminal=None if out.isatty() else False)


def _check_out(args: argparse.Namespace, command: str, plans: Sequence[Plan]) -> OutDir | None:
    """--out, checked before anything is simulated (docs/scenarios.md, "Output folder")."""
    if args.out is None:
        if args.force:
            raise ConfigError("--force: only has a meaning with --out DIR")
        return None
    inputs = [args.scenario] + [p for plan in plans
                                if (p := plugin_path(plan.variant_spec)) is not None]
    return check_out(args.out, command, args.force, inputs)


def _check_memory(args: argparse.Namespace, plans: Sequence[Plan]) -> None:
    """Refuse, before it starts, a simulation that would not fit in memory."""
    limit = resources.memory_budget(args.max_memory)
    if limit is None:  # no --max-memory, and no /proc/meminfo to read
        return
    estimates = [estimate(p, outputs=args.out is not None) for p in plans]
    need = sum(e.total for e in estimates)
    if need <= limit:
        return
    parts = ", ".join(f"{name} {resources.text(b)}" for name, b in estimates[0].parts if b)
    if len(plans) > 1:
        parts += f"; for each of {len(plans)} variants"
    source = ("--max-memory" if args.max_memory is not None else
              f"{resources.DEFAULT_SHARE:.0%} of MemAvailable; raise it with --max-memory SIZE")
    raise ConfigError(
        f"{args.scenario}: the simulation would need about {resources.text(need)} of memory "
        f"({parts}); the limit is {resources.text(limit)} ({source}). Lower the groups, "
        "processes, pages_per_zone or duration, or raise sample_interval "
        "(docs/scenarios.md, \"Limits\")")


def _notes(plan: Plan, err: TextIO) -> None:
    for note in plan.simulator_notes():
        err.write(f"memcglab: note: {note}\n")


def run_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitStatus:
    plan = load(args.scenario, _overrides(args, args.variant))
    _notes(plan, err)
    outdir = _check_out(args, "run", [plan])
    _check_memory(args, [plan])
    show = not args.no_progress and not args.json and err.isatty()
    run = _simulate(plan, show, err)
    metrics = summarize(run)
    if outdir is not None:
        write_outputs(outdir, {plan.variant: run}, {plan.variant: metrics})
    if args.json:
        out.write(json.dumps(metrics, indent=2) + "\n")
    else:
        console = _console(out)
        print_run(console, metrics, replay_command(args, plan))
        if outdir is not None:
            print_line(console, f"wrote {_shown(args.out)}/: metrics.json, timeseries.csv, "
                                "timeseries.parquet, usage_reclaim.png, shares.png, report.html")
    return ExitStatus.SUCCESS


def run_compare(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitStatus:
    if args.kernel or args.kernel_result is not None:
        if not args.kernel:
            raise ConfigError("--kernel-result: only with --kernel")
        if args.scheduler is not None:
            raise ConfigError("--scheduler: the kernel side has no simulated scheduler; "
                              "drop it with --kernel")
        from memcglab.cli.compare_kernel import run_compare_kernel
        return run_compare_kernel(args, out, err)
    live = [f for f, default in (("--zram", None), ("--bpf", "auto"), ("--repeat", 1),
                                  ("--no-record", False), ("--model-seeds", 1))
            if getattr(args, f[2:].replace("-", "_")) != default]
    if live:
        raise ConfigError(f"{live[0]}: only with --kernel")
    if len(split_variants(args.variants)) < 2:
        raise ConfigError(f"--variants: expected at least two, comma-separated; got "
                          f"{args.variants!r}")
    variants = variant_list(args.variants)
    plans = {v: load(args.scenario, _overrides(args, v)) for v in variants}
    specs = [p.variant_spec for p in plans.values()]
    if len(set(specs)) != len(specs):
        raise ConfigError(f"--variants: {args.variants!r} names one variant file and class "
                          "twice (spelled differently)")
    _notes(next(iter(plans.values())), err)
    outdir = _check_out(args, "compare", list(plans.values()))
    _check_memory(args, list(plans.values()))
    show = not args.no_progress and not args.json and err.isatty()
    runs = {v: _simulate(p, show, err) for v, p in plans.items()}
    metrics = {v: summarize(r) for v, r in runs.items()}
    if outdir is not None:
        write_outputs(outdir, runs, metrics)
    if args.json:
        out.write(json.dumps(metrics, indent=2) + "\n")
    else:
        console = _console(out)
        first = next(iter(plans.values()))
        print_line(console, f"memcglab compare: {first.name}, seed {first.seed}, "
                            f"{first.duration_ns / 1e6:g} ms simulated, variants "
                            f"{', '.join(variants)}")
        print_compare(console, metrics)
        for v, p in plans.items():
            print_line(console, f"replay {v}: {replay_command(args, p)}")
        if outdir is not None:
            folders = variant_folders(variants)
            print_line(console, f"wrote {_shown(args.out)}/: compare.json, shares.png, "
                                "report.html, and per variant: "
                                + ", ".join(f"{folders[v]}/" for v in variants))
    return ExitStatus.SUCCESS
