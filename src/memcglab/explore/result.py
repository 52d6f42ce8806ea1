"""What a check returns: findings, how the search ended, and what it covered."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from memcglab.explore.races import Race
from memcglab.explore.schedule import Schedule
from memcglab.explore.system import TraceEntry


class ExitReason(Enum):
    """How a search ended (convention C9: reports print it verbatim)."""

    EXHAUSTED = "explored every reachable state within the bounds"
    RUNS_DONE = "ran every requested execution"
    MAX_STATES = "stopped at the state budget"
    TIME_BUDGET = "stopped at the time budget"
    REPLAYED = "replayed the schedule"
    FIRST_FOUND = "stopped at the first violation"
    MEMORY_BUDGET = "stopped at the memory budget"


@dataclass(slots=True)
class Finding:
    """A broken invariant with the run that breaks it (a discovery, convention C10)."""

    prop: str
    message: str
    race: Race | None
    schedule: Schedule
    trace: list[TraceEntry]
    steps: int
    preemptions: int
    minimal: bool
    found_by: str
    minimal_over_all: bool = False
    """True: minimal over every interleaving; False: within the interleaving points."""
    loop_at: int | None = None
    """A lasso (livelock): the trace repeats forever from this operation on."""

    @property
    def key(self) -> tuple[str, str | None]:
        return self.prop, self.race.id if self.race else None

    @property
    def title(self) -> str:
        return f"{self.prop}: {self.race.title}" if self.race else self.prop


@dataclass(slots=True)
class CheckResult:
    findings: list[Finding]
    exit_reason: ExitReason
    strategy: str
    states: int = 0
    transitions: int = 0
    executions: int = 0
    por_rounds: int = 0
    interleaving_points: list[str] = field(default_factory=list)
    data_races: list[str] = field(default_factory=list)
    bounds: dict[str, object] = field(default_factory=dict)
    first_found_at: dict[str, int] = field(default_factory=dict)
    opaque_access: str | None = None
    """An access the reduction could not account for (then it was switched off)."""
    steps_caveat: str | None = None
    """What the step bound's check left out, when it could not measure every run."""
    reproduced: bool | None = None
    """Replay of a token that names its property: whether the run broke it again."""

    @property
    def proved(self) -> bool:
        """No finding and the whole bounded space explored."""
        return not self.findings and self.exit_reason is ExitReason.EXHAUSTED
