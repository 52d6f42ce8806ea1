"""``memcglab suite``: the race suite of the reclaim iterator's real bugs (docs/race-suite.md)."""

from __future__ import annotations

import argparse
from typing import TextIO

from memcglab.cli.status import ExitStatus
from memcglab.errors import ConfigError
from memcglab.suite.catalog import ENTRIES, Entry
from memcglab.suite.report import json_report, text_table
from memcglab.suite.runner import STRATEGIES, Bounds, Outcome, run_one, run_suite

_DEFAULT = Bounds()


def add_suite_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--only", metavar="ID[,ID...]",
                   help="run these entries only (--list shows them)")
    p.add_argument("--strategies", metavar="S[,S...]", default=",".join(STRATEGIES),
                   help=f"search strategies, from {', '.join(STRATEGIES)} (default: all)")
    p.add_argument("--list", action="store_true", help="list the entries and exit")
    p.add_argument("--show", metavar="ID", help="draw the entry's minimal counterexample "
                   "(its before variant) and check its after variant")
    p.add_argument("--config", metavar="ID", help="print the entry's memcglab check "
                   "configuration (TOML; add variant = ... and pass it to check --config)")
    p.add_argument("--max-states", type=int, default=_DEFAULT.max_states, metavar="N",
                   help="state budget of each exhaustive search")
    p.add_argument("--runs", type=int, default=_DEFAULT.runs, metavar="N",
                   help="executions of random and PCT")
    p.add_argument("--seed", type=int, default=_DEFAULT.seed, metavar="N",
                   help="seed of random and PCT (same seed, same table)")
    p.add_argument("--time-budget", type=float, default=_DEFAULT.time_budget_s, metavar="S",
                   help="seconds per search")
    p.add_argument("--json", action="store_true", help="the table as JSON")


def _entries(spec: str | None) -> tuple[Entry, ...]:
    if not spec:
        return ENTRIES
    ids = {e.id: e for e in ENTRIES}
    out = []
    for x in spec.split(","):
        if x not in ids:
            raise ConfigError(f"--only: no entry {x!r}; entries: {', '.join(ids)}")
        out.append(ids[x])
    return tuple(out)


def _one(entry_id: str, flag: str) -> Entry:
    return _entries_flag(entry_id, flag)[0]


def _entries_flag(spec: str, flag: str) -> tuple[Entry, ...]:
    try:
        return _entries(spec)
    except ConfigError as e:
        raise ConfigError(str(e).replace("--only", flag, 1)) from None


def run_suite_cmd(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitStatus:
    strategies = tuple(x for x in args.strategies.split(",") if x)
    bad = [x for x in strategies if x not in STRATEGIES]
    if bad or not strategies:
        raise ConfigError(f"--strategies: expected some of {', '.join(STRATEGIES)}, "
                          f"got {args.strategies!r}")
    for flag, v in (("--max-states", args.max_states), ("--runs", args.runs)):
        if v < 1:
            raise ConfigError(f"{flag}: expected a positive number, got {v}")
    if not args.time_budget > 0:
        raise ConfigError(f"--time-budget: expected seconds > 0, got {args.time_budget}")
    bounds = Bounds(max_states=args.max_states, runs=args.runs, seed=args.seed,
                    time_budget_s=args.time_budget)
    if args.list:
        for e in ENTRIES:
            out.write(f"{e.id}: {e.title}\n  lived in {e.kernels}; fixed by {e.fix}\n"
                      f"  breaks {e.prop}{f' ({e.race})' if e.race else ''}; before "
                      f"{e.before}, after {e.after}\n")
        return ExitStatus.SUCCESS
    if args.config:
        e = _one(args.config, "--config")
        out.write(f"# race suite entry {e.id}: {e.title}\n# before: variant = "
                  f"\"{e.before}\"\n# after:  variant = \"{e.after}\"\n"
                  f"properties = [\"{e.prop}\"]\n{e.config.lstrip()}")
        return ExitStatus.SUCCESS
    if args.show:
        return _show(_one(args.show, "--show"), bounds, out)
    entries = _entries(args.only)

    def progress(o: Outcome) -> None:
        if err.isatty():
            err.write(f"\r\033[K{o.entry} {o.side} {o.strategy}")
            err.flush()

    outcomes = run_suite(entries, strategies, bounds, progress)
    if err.isatty():
        err.write("\r\033[K")
    out.write(json_report(entries, outcomes, bounds) if args.json
              else text_table(entries, outcomes, strategies, bounds))
    ok = all(o.expected for o in outcomes
             if o.strategy == "exhaustive" or o.side == "after")
    return ExitStatus.SUCCESS if ok else ExitStatus.VIOLATION_FOUND


def _clipped(text: str, head: int = 80, tail: int = 30) -> str:
    """A run that loops until the step bound draws thousands of lines: its start (where the
    loop begins) and its end are what tell the story."""
    lines = text.splitlines()
    if len(lines) <= head + tail + 20:
        return text
    cut = len(lines) - head - tail
    return "\n".join([*lines[:head], f"  ... ({cut:,} lines of the same loop left out; "
                       "memcglab check --config prints them all) ...", *lines[-tail:]]) + "\n"


def _show(e: Entry, bounds: Bounds, out: TextIO) -> ExitStatus:
    from memcglab.report.check_report import finding_text
    from memcglab.suite.runner import matching

    before, result, system = run_one(e, "before", "exhaustive", bounds, shrink=True)
    out.write(f"{e.id}: {e.title}\n  lived in {e.kernels}; fixed by {e.fix}\n\n")
    f = matching(e, result)
    cmd = (f"memcglab suite --config {e.id} > {e.id}.toml && memcglab check --config "
           f"{e.id}.toml --variant {e.before}")
    if f is None:
        out.write(f"before ({e.before}): NOT found: {before.exit_reason}\n")
    else:
        out.write(f"before ({e.before}): ")
        out.write(_clipped(finding_text(system, f, cmd)))
    after = run_one(e, "after", "exhaustive", bounds)[0]
    verdict = ("PROVED within the bounds" if after.proved else
               f"broken ({after.named})" if after.found else
               f"not found ({after.exit_reason})")
    out.write(f"\nafter ({e.after}): {e.prop}: {verdict}, {after.effort:,} states, "
              f"{after.seconds:.2f} s\n")
    ok = before.found and not after.found
    return ExitStatus.SUCCESS if ok else ExitStatus.VIOLATION_FOUND


