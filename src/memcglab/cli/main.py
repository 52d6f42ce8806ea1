"""Entry point: ``main(argv) -> ExitStatus`` (convention C7) and the console script."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from typing import TextIO

from memcglab import __version__
from memcglab.cli.check_cmd import add_check_args, run_check
from memcglab.cli.demo import run_demo
from memcglab.cli.run_cmd import add_run_args, run_compare, run_run
from memcglab.cli.status import ExitStatus
from memcglab.errors import (
    ConfigError,
    InternalError,
    MemcglabError,
    ModelError,
    NondeterminismError,
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="memcglab",
        description="Model, explore and simulate the Linux memcg reclaim iterator.")
    p.add_argument("--version", action="version", version=f"memcglab {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="explore reclaimer interleavings: prove the invariants "
                                     "within bounds or print a minimal counterexample")
    add_check_args(c)
    r = sub.add_parser("run", help="simulate a scenario: per-group reclaim, fairness, "
                                   "iterator contention; tables, JSON, plots, HTML")
    add_run_args(r, compare=False)
    cmp = sub.add_parser("compare", help="run several variants on one scenario, side by side")
    add_run_args(cmp, compare=True)
    sub.add_parser("demo", help="the seed patch's story: both races found and drawn, the "
                                "fix proved")
    return p


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> ExitStatus:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        args = parser().parse_args(argv)
    except SystemExit as e:  # argparse already printed its message
        return ExitStatus.SUCCESS if e.code == 0 else ExitStatus.CONFIG_ERROR
    try:
        if args.command == "check":
            return run_check(args, out)
        if args.command == "run":
            return run_run(args, out, err)
        if args.command == "compare":
            return run_compare(args, out, err)
        return run_demo(out)
    except ConfigError as e:
        err.write(f"memcglab: error: {e}\n")
        return ExitStatus.CONFIG_ERROR
    except KeyboardInterrupt:
        err.write("memcglab: interrupted\n")
        return ExitStatus.INTERRUPTED
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


def entry() -> None:
    raise SystemExit(int(main()))
