"""Entry point: ``main(argv) -> ExitStatus`` (convention C7) and the console script."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from typing import TextIO

from memcglab import __version__
from memcglab.cli.status import ExitStatus
from memcglab.errors import (
    ConfigError,
    InternalError,
    LiveError,
    MemcglabError,
    ModelError,
    NondeterminismError,
    Terminated,
)
from memcglab.kernel.registry import describe_exit

EXIT_STATUSES = ("exit statuses: 0 success (no violation), 1 violation found, 2 bad input "
                 "(flags, files, variant plugins, resource limits), 3 internal error, "
                 "130 interrupted (Ctrl-C), 143 terminated (SIGTERM)")

DESCRIPTIONS = {
    "check": "Explore every interleaving of concurrent reclaimers on a small configuration "
             "(flags and/or --config FILE; docs/configuration.md) and check the invariants. "
             "Prints PROVED within the bounds, or each violation as a minimal counterexample "
             "drawn in CPU columns with a one-line replay command.",
    "run": "Simulate a scenario (a TOML file: scenarios/, docs/scenarios.md): pages, "
           "workloads and reclaimers on simulated CPUs, with the variant's mem_cgroup_iter. "
           "Prints per-group reclaim, fairness and iterator contention (or --json); --out "
           "writes metrics.json, time series, plots and report.html into a folder of its own.",
    "compare": "Run one scenario with several variants (same seed, same everything else) and "
               "show them side by side; --out writes compare.json, one folder per variant, "
               "shares.png and report.html.",
    "demo": "The seed patch's story in about ten seconds, on the terminal only: exhaustive "
            "search finds both races of the unlocked v3.7 iterator (css-id) and draws each "
            "minimal counterexample, then proves that the patch's spinlock (seed-spinlock) "
            "keeps every invariant on three configurations, one with a group removed and "
            "another created mid-walk. It takes no options and writes no files.",
    "suite": "The race suite: every known bug of mem_cgroup_iter() from the seed's two "
             "races (2012) to the 2024 series, each as a 'before' variant the explorer must "
             "break and an 'after' variant it must not, under exhaustive, random and PCT "
             "search. Prints the table (bug x strategy: found or not, states or runs to the "
             "first failure, time) or --json; --show ID draws one counterexample "
             "(docs/race-suite.md).",
    "sweep": "Run a grid of simulations: a base scenario with axes over any of its fields, "
             "variants, kernels and seeds (a sweep file: docs/sweep.md), on a local process "
             "pool or on Ray (--ray), into a resumable results folder (one Parquet row per "
             "cell); prints means with 95% confidence intervals over seeds and writes "
             "summary.csv, plots faceted by variant and report.html. Run it again to resume; "
             "--status shows progress.",
    "import": "Read a live cgroup hierarchy (v1 memory or v2; read-only) and write a "
              "scenario: groups, limits and protections, each group's current usage as "
              "workloads of that size, with a comment block saying what was approximated "
              "(docs/import.md).",
    "kernel": "The live kernel. 'probe' reports what this machine offers (it only reads "
              "files). 'run' runs a scenario (the same files as 'memcglab run') on this "
              "machine's kernel: real memcgs under a parent of its own, real processes, "
              "reclaim recorded with tracefs and bpftrace, everything undone at the end. "
              "'cleanup' undoes what a killed run left, and only that. Needs root and a "
              "memory controller (docs/kernel.md).",
}


def parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line. ``command``: only that subcommand's options are defined (the
    others keep their names and descriptions), so a command imports only its own modules:
    ``memcglab run`` starts in a third of the time ``memcglab check``'s imports take."""
    # allow_abbrev=False everywhere: an abbreviation must never silently stand for another
    # flag (compare's --variant was taken as --variants).
    p = argparse.ArgumentParser(
        prog="memcglab", allow_abbrev=False, epilog=EXIT_STATUSES,
        description="Model, explore and simulate the Linux memcg reclaim iterator.")
    p.add_argument("--version", action="version", version=f"memcglab {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=DESCRIPTIONS[name],
                              epilog=EXIT_STATUSES, allow_abbrev=False)

    def wants(name: str) -> bool:
        return command is None or command == name

    p_check = add("check", "explore reclaimer interleavings: prove the invariants within "
                           "bounds or print a minimal counterexample")
    if wants("check"):
        from memcglab.cli.check_cmd import add_check_args
        add_check_args(p_check)
    p_run = add("run", "simulate a scenario: per-group reclaim, fairness, iterator "
                       "contention; tables, JSON, plots, HTML")
    p_compare = add("compare", "run several variants on one scenario, side by side")
    if wants("run") or wants("compare"):
        from memcglab.cli.run_cmd import add_run_args
        add_run_args(p_run, compare=False)
        add_run_args(p_compare, compare=True)
    add("demo", "the seed patch's story: both races found and drawn, the fix proved")
    p_suite = add("suite", "the race suite: each real iterator bug found before its fix and "
                           "gone after it")
    if wants("suite"):
        from memcglab.cli.suite_cmd import add_suite_args
        add_suite_args(p_suite)
    p_sweep = add("sweep", "a grid of scenarios x variants x kernels x seeds: local pool or "
                           "Ray, resumable Parquet results, CIs, plots, report")
    if wants("sweep"):
        from memcglab.cli.sweep_cmd import add_sweep_args
        add_sweep_args(p_sweep)
    p_import = add("import", "write a scenario from a live cgroup hierarchy (read-only)")
    if wants("import"):
        from memcglab.cli.import_cmd import add_import_args
        add_import_args(p_import)
    p_kernel = add("kernel", "the live kernel: probe the machine, run a scenario on it with "
                             "recording, clean up")
    if wants("kernel"):
        from memcglab.cli.kernel_cmd import add_kernel_args
        add_kernel_args(p_kernel)
    return p


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """While a command runs, SIGTERM and SIGHUP (a closed terminal, a dropped ssh session)
    unwind the program like Ctrl-C (so temporary output is removed and a live kernel run is
    torn down), then main() exits with 143 or 129. A second one during that cleanup is
    ignored. Python only delivers signals to the main thread: elsewhere nothing is
    installed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = False

    def handler(signum: int, frame: object) -> None:
        nonlocal fired
        if not fired:
            fired = True
            raise Terminated(signal.Signals(signum).name)

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def _memory_hint(command: str) -> str:
    if command == "check":
        return ("lower --max-states (or the groups, reclaimers and walks), or set "
                "--time-budget")
    return ("lower the scenario's groups, processes, pages_per_zone or duration, or raise its "
            "sample_interval; memcglab refuses runs whose estimate exceeds --max-memory")


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> ExitStatus:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in DESCRIPTIONS else None
    try:
        args = parser(command).parse_args(argv)
    except SystemExit as e:  # argparse already printed its message
        return ExitStatus.SUCCESS if e.code == 0 else ExitStatus.CONFIG_ERROR
    try:
        # Plugin code may print: its output goes to stderr, so that stdout carries only what
        # memcglab writes (the JSON of --json stays parseable).
        with _sigterm_unwinds(), contextlib.redirect_stdout(err):
            if args.command == "check":
                from memcglab.cli.check_cmd import run_check
                return run_check(args, out, err)
            if args.command == "run":
                from memcglab.cli.run_cmd import run_run
                return run_run(args, out, err)
            if args.command == "compare":
                from memcglab.cli.run_cmd import run_compare
                return run_compare(args, out, err)
            if args.command == "kernel":
                from memcglab.cli.kernel_cmd import run_kernel
                return run_kernel(args, out, err)
            if args.command == "sweep":
                from memcglab.cli.sweep_cmd import run_sweep_cmd
                return run_sweep_cmd(args, out, err)
            if args.command == "import":
                from memcglab.cli.import_cmd import run_import
                return run_import(args, out, err)
            if args.command == "suite":
                from memcglab.cli.suite_cmd import run_suite_cmd
                return run_suite_cmd(args, out, err)
            from memcglab.cli.demo import run_demo
            return run_demo(out)
    except ConfigError as e:
        err.write(f"memcglab: error: {e}\n")
        return ExitStatus.CONFIG_ERROR
    except LiveError as e:  # what the machine lacks or refused (the run cleaned up first)
        err.write(f"memcglab: error: {e}\n")
        return ExitStatus.CONFIG_ERROR
    except Terminated as e:
        err.write(f"memcglab: terminated ({e.signal_name})\n")
        return ExitStatus.HANGUP if e.signal_name == "SIGHUP" else ExitStatus.TERMINATED
    except KeyboardInterrupt:
        err.write("memcglab: interrupted\n")
        return ExitStatus.INTERRUPTED
    except SystemExit as e:
        # memcglab itself never calls sys.exit() while a command runs: a variant did.
        err.write(f"memcglab: error: the variant called {describe_exit(e)}; a variant must "
                  "return (or raise an exception), never end the process\n")
        return ExitStatus.CONFIG_ERROR
    except MemoryError:
        err.write(f"memcglab: error: out of memory (a resource limit, not a bug): "
                  f"{_memory_hint(args.command)}\n")
        return ExitStatus.CONFIG_ERROR
    except (ModelError, NondeterminismError) as e:
        err.write(f"memcglab: model error: {e}\n")
        return ExitStatus.CONFIG_ERROR
    except InternalError as e:
        err.write(f"memcglab: {e}\n")
        return ExitStatus.INTERNAL_ERROR
    except MemcglabError as e:
        err.write(f"memcglab: error: {e}\n")
        return ExitStatus.INTERNAL_ERROR
    except Exception:  # a bug in memcglab: say so, with the traceback, never hide it
        err.write("memcglab: [memcglab internal bug] please report this with the command "
                  "line:\n" + traceback.format_exc())
        return ExitStatus.INTERNAL_ERROR

