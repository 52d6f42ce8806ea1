"""Running the race suite: every entry's "before" and "after" variant under each strategy.

An outcome says whether the entry's invariant broke, after how much search (states for the
exhaustive search, which stops at the first violation; executions for random and PCT,
which stop at their first too) and how long it took. A "before" counts as found only when
the violation is the entry's (its property, and its race when the entry names one). Only
the entry's invariant is monitored, so the search stops at its bug and not at another one
the same configuration may hold; an "after" is proved when the exhaustive search covers
every reachable state within the bounds without breaking it.
"""

from __future__ import annotations

import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, replace

from memcglab.explore.config import ExploreConfig, ModelConfig, Strategy
from memcglab.explore.result import CheckResult, ExitReason, Finding
from memcglab.explore.search import check
from memcglab.explore.system import System
from memcglab.scenario.check_config import build, validate
from memcglab.suite.catalog import Entry

STRATEGIES = ("exhaustive", "random", "pct")


@dataclass(frozen=True, slots=True)
class Bounds:
    """The bounds every outcome is measured within (the table prints them)."""

    max_states: int = 2_000_000
    runs: int = 2_000
    pct_depth: int = 3
    seed: int = 0
    time_budget_s: float = 120.0


@dataclass(frozen=True, slots=True)
class Outcome:
    entry: str
    side: str  # "before" | "after"
    variant: str
    strategy: str
    found: bool  # the entry's invariant broke
    named: str  # how the explorer named the violation ("" when none)
    effort: int  # states (exhaustive) or executions (random, PCT) to the first violation,
    # or explored in all when none was found
    proved: bool  # exhaustive, every reachable state explored without the entry's violation
    seconds: float
    exit_reason: str
    others: tuple[str, ...] = ()  # violations of other kinds met on the way (an entry that
    # names a race: the same invariant broken another way)

    @property
    def expected(self) -> bool:
        """A "before" must break the invariant; an "after" must not."""
        return self.found if self.side == "before" else not self.found


def model_config(e: Entry, variant: str) -> ModelConfig:
    """The entry's configuration with ``variant``, monitoring the entry's invariant."""
    raw = tomllib.loads(e.config)
    raw["variant"] = variant
    raw["properties"] = [e.prop]
    loaded = build(validate(raw, f"suite entry {e.id}", e.config), f"suite entry {e.id}")
    return loaded.model


def explore_config(strategy: str, bounds: Bounds) -> ExploreConfig:
    # shrink off: the time measured is the search's to its first violation; --show shrinks
    # the counterexample it draws.
    return ExploreConfig(strategy=Strategy(strategy), seed=bounds.seed, runs=bounds.runs,
                         pct_depth=bounds.pct_depth, max_states=bounds.max_states,
                         time_budget_s=bounds.time_budget_s, stop_on_first=True,
                         shrink=False)


def matching(e: Entry, result: CheckResult) -> Finding | None:
    for f in result.findings:
        if f.prop == e.prop and (not e.race or (f.race is not None and f.race.id == e.race)):
            return f
    return None


def run_one(e: Entry, side: str, strategy: str, bounds: Bounds, shrink: bool = False
            ) -> tuple[Outcome, CheckResult, System]:
    variant = e.before if side == "before" else e.after
    model = model_config(e, variant)
    cfg = replace(explore_config(strategy, bounds), shrink=shrink)
    if e.race:
        # The named race is one of several ways to break the property: search on past
        # violations of other kinds until it is found.
        cfg = replace(cfg, stop_on_first=False, stop_on=f"{e.prop}:{e.race}")
    system = System(model, cfg.dead_variables)
    t0 = time.perf_counter()
    result = check(system, cfg, time.perf_counter)
    seconds = time.perf_counter() - t0
    f = matching(e, result)
    if f is not None:
        key = f"{f.prop}:{f.race.id if f.race else ''}"
        effort = result.first_found_at.get(
            key, result.executions if strategy != "exhaustive" else result.states)
    else:
        effort = result.states if strategy == "exhaustive" else result.executions
    named = f.title if f is not None else ""
    exhausted = result.exit_reason is ExitReason.EXHAUSTED
    out = Outcome(e.id, side, variant, strategy, f is not None, named, effort,
                  strategy == "exhaustive" and exhausted and f is None, seconds,
                  result.exit_reason.value,
                  tuple(x.title for x in result.findings if x is not f))
    return out, result, system


def run_suite(entries: tuple[Entry, ...], strategies: tuple[str, ...], bounds: Bounds,
              on_outcome: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Every entry, before and after, under each strategy, in order."""
    out = []
    for e in entries:
        for side in ("before", "after"):
            for strategy in strategies:
                o = run_one(e, side, strategy, bounds)[0]
                out.append(o)
                if on_outcome is not None:
                    on_outcome(o)
    return out
