"""``memcglab kernel probe | run | cleanup``: the live kernel (docs/kernel.md).

``probe`` (:mod:`memcglab.live.probe`) only reads files under /proc and /sys and ``PATH``
and prints one verdict line per fact (exit 0 whenever it could probe). ``run`` runs a
scenario on this machine's kernel (:mod:`memcglab.live.session`), prints its metrics and
writes them with ``--out``. ``cleanup`` undoes what killed runs left
(:mod:`memcglab.live.cleanup`). Exit 2 on bad input and on what the machine lacks.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TextIO

from memcglab.cli import resources
from memcglab.cli.live_args import add_live_args
from memcglab.cli.status import ExitStatus
from memcglab.errors import ConfigError
from memcglab.live import cleanup
from memcglab.live.probe import Line, Probe, gather, missing, verdicts
from memcglab.live.runner import Options
from memcglab.live.session import MEMORY_SHARE, Measured, measure_kernel, zram_size
from memcglab.report.kernel_report import print_kernel_run, write_kernel_run
from memcglab.report.outdir import MARKER, check_out
from memcglab.scenario.sim_scenario import MAX_DURATION_TEXT, load


def add_kernel_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="kernel_command", required=True, metavar="SUBCOMMAND",
                           help="probe: what this machine offers; run: a scenario on the "
                                "live kernel; cleanup: undo what a killed run left")
    probe = sub.add_parser(
        "probe", help="what this machine offers to 'kernel run', one line each",
        description="Report root, cgroups and the memory controller, tracefs, BPF, BTF, "
                    "bpftrace, swap/zram, MGLRU, readahead of --workdir's device and "
                    "MemAvailable, each with what follows for 'kernel run'. Reads files "
                    "only. Exit 0 when it could probe (even if things are missing), 2 on "
                    "bad flags.",
        allow_abbrev=False)
    probe.add_argument("--workdir", type=Path, default=None,
                       help="the directory kernel run would put its files in; its block "
                            "device's readahead is reported (default: current directory)")
    probe.add_argument("--json", action="store_true", help="print JSON instead of text")
    run = sub.add_parser(
        "run", help="run a scenario on this machine's kernel and record its reclaim",
        description="Run a scenario (the same TOML files as 'memcglab run') on the live "
                    "kernel: memcgs under a parent of its own with the scenario's limits, "
                    "real processes reading files or touching memory at the scenario's "
                    "rates and times, every reclaim visit recorded (tracefs; bpftrace adds "
                    "the reclaim root and the iterator), counters sampled; then everything "
                    "is removed. Prints the metrics of 'memcglab run' measured on the "
                    "kernel. Needs root and a memory controller; exit 2 says what is "
                    "missing. docs/kernel.md.",
        allow_abbrev=False)
    run.add_argument("scenario", type=Path, help="a scenario TOML file (scenarios/)")
    run.add_argument("--seed", type=int, help="override the scenario's seed (the random "
                                              "workloads' pages)")
    run.add_argument("--duration", help="override the scenario's duration, e.g. 500ms (at "
                                        f"most {MAX_DURATION_TEXT})")
    add_live_args(run)
    run.add_argument("--json", action="store_true", help="print metrics.json instead of "
                                                         "tables")
    run.add_argument("--out", metavar="DIR",
                     help="write metrics.json (repetition 1 and the spread), runs.json, "
                          "timeseries.csv/.parquet, visits.parquet, plots and report.html "
                          f"into DIR (new, empty, or an earlier output with --force; marked "
                          f"with {MARKER})")
    run.add_argument("--force", action="store_true",
                     help="let --out replace an earlier memcglab output")
    clean = sub.add_parser(
        "cleanup", help="undo what a killed 'kernel run' left (and nothing else)",
        description="Remove what earlier runs that did not finish left on the machine: "
                    "their processes, tracefs instances, cgroups (force_empty, then rmdir), "
                    "zram swap, tracefs mount and work files, as named by their state files "
                    "in /run/memcglab. Runs still alive are left alone; memcglab-* cgroups "
                    "no state file names are reported, never removed. Exit 0 when nothing "
                    "is left, 2 when something could not be removed.",
        allow_abbrev=False)
    clean.add_argument("--dry-run", action="store_true",
                       help="say what would be removed, remove nothing")


def text_lines(lines: list[Line]) -> str:
    width = max(len(ln.name) for ln in lines)
    return "".join(f"{'  ' if ln.ok else '!!'} {ln.name:<{width}}  {ln.value} -> {ln.then}\n"
                   for ln in lines)


def run_kernel(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitStatus:
    if args.kernel_command == "run":
        return run_kernel_run(args, out, err)
    if args.kernel_command == "cleanup":
        return run_cleanup(args, out)
    workdir: Path | None = args.workdir
    if workdir is not None and not workdir.is_dir():
        raise ConfigError(f"--workdir {workdir}: not a directory")
    probe = gather(workdir=workdir)
    lines = verdicts(probe)
    if args.json:
        doc = {"ready": not missing(probe), "missing": missing(probe),
               "lines": [{"name": ln.name, "value": ln.value, "then": ln.then, "ok": ln.ok}
                         for ln in lines],
               "facts": probe.to_json()}
        out.write(json.dumps(doc, indent=2) + "\n")
    else:
        out.write(text_lines(lines))
    return ExitStatus.SUCCESS


def live_budget(max_memory: str | None) -> int | None:
    """Bytes a live run's groups may hold: ``--max-memory``, else MEMORY_SHARE of
    MemAvailable (None when unknown)."""
    if max_memory is not None:
        return resources.memory_budget(max_memory)
    avail = resources.mem_available_bytes()
    return None if avail is None else int(avail * MEMORY_SHARE)


def probe_near(workdir: Path) -> Probe:
    """The machine's probe, reading the device of the work directory (or of its nearest
    existing parent: the directory itself is made by the run, as root)."""
    existing = next((p for p in (workdir, *workdir.parents) if p.is_dir()), None)
    return gather(workdir=existing)


def live_options(args: argparse.Namespace) -> tuple[Options, int | None]:
    """The live flags, checked: (options, the memory budget in bytes)."""
    if args.repeat < 1 or args.repeat > 100:
        raise ConfigError(f"--repeat: expected 1 to 100, got {args.repeat}")
    workdir = Path(os.path.abspath(args.workdir))
    return Options(workdir=workdir, zram_bytes=zram_size(args.zram), bpf=args.bpf,
                   record=not args.no_record), live_budget(args.max_memory)


def measure_scenario(args: argparse.Namespace, overrides: dict[str, object], err: TextIO,
                     probe: Probe | None = None) -> Measured:
    """Load the scenario and run it on the kernel ``--repeat`` times."""
    plan = load(args.scenario, overrides)
    opts, budget = live_options(args)
    if probe is None:
        # The probe reads the work directory's device (readahead); its files are removed
        # at the end of the run.
        probe = probe_near(opts.workdir)
    show = err.isatty()

    def say(msg: str) -> None:
        if show:
            err.write(f"memcglab kernel run: {msg}\n")

    why = ("--max-memory" if args.max_memory is not None else
           f"{MEMORY_SHARE:.0%} of MemAvailable; --max-memory SIZE sets another bound")
    return measure_kernel(plan, opts, args.repeat, probe, budget, say, why)


def _root() -> bool:
    return os.geteuid() == 0 if hasattr(os, "geteuid") else False


def run_kernel_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitStatus:
    overrides: dict[str, object] = {}
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.duration is not None:
        overrides["duration"] = args.duration
    if args.force and args.out is None:
        raise ConfigError("--force: only has a meaning with --out DIR")
    outdir = (check_out(args.out, "kernel run", args.force, [args.scenario])
              if args.out is not None else None)
    measured = measure_scenario(args, overrides, err)
    agg = measured.aggregate()
    first = measured.metrics[0]
    if outdir is not None:
        write_kernel_run(outdir, measured.metrics, agg, measured.visits, measured.series)
    if args.json:
        out.write(json.dumps({**first, "repeat": agg}, indent=2) + "\n")
    else:
        from memcglab.cli.run_cmd import _console
        console = _console(out)
        print_kernel_run(console, first, agg, measured.wall_s, measured.metrics)
        if outdir is not None:
            out.write(f"wrote {args.out.rstrip(os.sep) or args.out}/: metrics.json, runs.json, "
                      "timeseries.csv, timeseries.parquet, visits.parquet, usage_reclaim.png, "
                      "shares.png, report.html\n")
    return ExitStatus.SUCCESS


def run_cleanup(args: argparse.Namespace, out: TextIO) -> ExitStatus:
    if not _root():
        raise ConfigError("kernel cleanup: needs root (it removes cgroups and tracefs "
                          "instances)")
    rep = cleanup.cleanup(dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for line in rep.done:
        out.write(f"{verb}: {line}\n")
    for line in rep.running:
        out.write(f"left alone (still running): {line}\n")
    for line in rep.kept:
        out.write(f"kept: {line}\n")
    for line in rep.unknown:
        out.write(f"not named by any memcglab state file, left alone: {line}\n")
    for line in rep.problems:
        out.write(f"problem: {line}\n")
    if not rep.done and not rep.problems:
        out.write("nothing to clean up\n")
    if rep.problems:
        return ExitStatus.CONFIG_ERROR
    return ExitStatus.SUCCESS
