"""``memcglab check --cross-check``: the same bounded search with and without each reduction.

The reductions (partial-order reduction, symmetry, and the shortcut that skips cycle
detection when no program can loop) must never change what the search concludes. This
runs the configuration once per combination and compares the verdicts and the sets of
reachable violations (property and named race). Any difference is a memcglab bug.
A run that stopped at a bound (states, time, memory) cannot be compared and is reported as
such, not as a difference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from memcglab.explore.config import ExploreConfig, ModelConfig
from memcglab.explore.result import ExitReason
from memcglab.explore.search import check
from memcglab.explore.system import System

# (label, por, symmetry, force the cycle analysis, extra flags for the command)
RUNS: tuple[tuple[str, bool, bool, bool, bool | None, str], ...] = (
    ("reduced (all reductions)", True, True, False, True, " --dead-variables"),
    ("no symmetry", True, False, False, True, " --dead-variables --no-symmetry"),
    ("no POR", False, True, False, True, " --dead-variables --no-por"),
    ("no dead variables", True, True, False, False, " --no-dead-variables"),
    ("unreduced", False, False, True, False,
     " --no-por --no-symmetry --no-dead-variables"),
)


@dataclass(slots=True)
class RunOutcome:
    label: str
    flags: str
    exhausted: bool
    violations: frozenset[tuple[str, str | None]]
    states: int
    exit_reason: str

    @property
    def properties(self) -> frozenset[str]:
        return frozenset(p for p, _ in self.violations)


@dataclass(slots=True)
class CrossCheck:
    outcomes: list[RunOutcome]
    differences: list[str] = field(default_factory=list)

    def to_json(self, command: str) -> dict[str, object]:
        return {
            "cross_check": [{"run": o.label, "command": command + o.flags,
                             "complete": o.exhausted, "exit_reason": o.exit_reason,
                             "states": o.states,
                             "violations": sorted(f"{p}{'/' + r if r else ''}"
                                                  for p, r in o.violations)}
                            for o in self.outcomes],
            "agree": not self.differences,
            "differences": self.differences,
        }

    def text(self, command: str) -> str:
        lines = ["cross-check: the same bounded search with and without each reduction"]
        for o in self.outcomes:
            found = ", ".join(f"{p}{'/' + r if r else ''}" for p, r in sorted(
                o.violations, key=lambda v: (v[0], v[1] or ""))) or "none"
            lines.append(f"  {o.label:<26} {o.states:>10,} states  "
                         f"{'complete' if o.exhausted else 'INCOMPLETE: ' + o.exit_reason}"
                         f"  violations: {found}")
        if self.differences:
            lines.append("[memcglab internal bug] the reductions disagree:")
            lines += [f"  {d}" for d in self.differences]
            lines.append("  commands:")
            lines += [f"    {command}{o.flags}" for o in self.outcomes]
        elif all(o.exhausted for o in self.outcomes):
            lines.append("agree: every run gives the same verdict and the same violations")
        else:
            lines.append("agree where comparable: the incomplete runs stopped at a bound "
                         "(raise it to compare them)")
        return "\n".join(lines) + "\n"


def cross_check(model: ModelConfig, explore: ExploreConfig,
                clock: Callable[[], float]) -> CrossCheck:
    outcomes = []
    for label, por, sym, cycles, dead, flags in RUNS:
        cfg = replace(explore, por=por, symmetry=sym, force_cycle_analysis=cycles,
                      shrink=False, stop_on_first=False, dead_variables=dead)
        result = check(System(model, dead), cfg, clock)
        outcomes.append(RunOutcome(
            label, flags, result.exit_reason is ExitReason.EXHAUSTED,
            frozenset(f.key for f in result.findings), result.states,
            result.exit_reason.value))
    report = CrossCheck(outcomes)
    ref = outcomes[-1]
    for o in outcomes[:-1]:
        if not (o.exhausted and ref.exhausted):
            continue
        # Properties, not race names: which run a violation is first met on (and so how
        # it is classified) depends on the order of the search, not its reach.
        mine, theirs = o.properties, ref.properties
        if mine != theirs:
            only = sorted(mine - theirs)
            missing = sorted(theirs - mine)
            report.differences.append(
                f"{o.label}: reports {only or 'nothing more'} and misses {missing or 'nothing'}"
                " compared with the unreduced search")
    return report
