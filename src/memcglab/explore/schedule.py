"""Schedules: a run as a value, and its one-line replay token (convention C3).

A schedule is the thread id of every operation, in order. The token run-length encodes it
and carries the configuration digest, so that replaying on another configuration is refused:
``v1:<digest>:0x5.1x3.0x2`` means CPU0 runs 5 operations, CPU1 3, CPU0 2.

Tokens printed with a finding are ``v2``: they also name the property the run breaks, so a
replay that does not break it again says so, and a livelock's token marks where its cycle
starts: ``v2:<digest>:termination:0x5.1x3@1x4.0x2`` runs the part before ``@`` once and
then the cycle, which must return to the state it left for the replay to reproduce.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from memcglab.errors import ConfigError

MAX_REPLAY_STEPS = 10_000_000
_RUN = re.compile(r"([0-9]+)x([0-9]+)")  # ASCII digits only
_PROP = re.compile(r"[a-z_]+")


@dataclass(frozen=True, slots=True)
class Schedule:
    digest: str
    tids: tuple[int, ...]
    prop: str | None = None  # the property the run breaks (v2 tokens)
    loop_at: int | None = None  # a lasso: tids[loop_at:] repeats forever

    def token(self) -> str:
        if self.prop is None:
            return f"v1:{self.digest}:{_runs(self.tids)}"
        body = _runs(self.tids)
        if self.loop_at is not None:
            body = f"{_runs(self.tids[:self.loop_at])}@{_runs(self.tids[self.loop_at:])}"
        return f"v2:{self.digest}:{self.prop}:{body}"

    @staticmethod
    def parse(token: str) -> Schedule:
        parts = token.split(":")
        if not ((len(parts) == 3 and parts[0] == "v1") or (len(parts) == 4 and parts[0] == "v2")):
            raise ConfigError(f"--replay: expected a token like v2:DIGEST:PROPERTY:0x5.1x3 "
                              f"(or v1:DIGEST:0x5.1x3), got {token!r}")
        prop = None
        if parts[0] == "v2":
            prop = parts[2]
            if not _PROP.fullmatch(prop):
                raise ConfigError(f"--replay: bad property {prop!r} in token")
        body = parts[-1]
        loop_at = None
        if "@" in body and parts[0] == "v2":
            head, _, cycle = body.partition("@")
            tids = _parse_runs(head)
            loop_at = len(tids)
            tids += _parse_runs(cycle, len(tids))
            if loop_at == len(tids):
                raise ConfigError("--replay: the token's cycle (after '@') is empty")
        else:
            tids = _parse_runs(body)
        return Schedule(parts[1], tuple(tids), prop, loop_at)


def _runs(tids: tuple[int, ...]) -> str:
    runs: list[str] = []
    prev, count = -1, 0
    for t in tids:
        if t == prev:
            count += 1
            continue
        if count:
            runs.append(f"{prev}x{count}")
        prev, count = t, 1
    if count:
        runs.append(f"{prev}x{count}")
    return ".".join(runs)


def _parse_runs(text: str, already: int = 0) -> list[int]:
    tids: list[int] = []
    for run in filter(None, text.split(".")):
        m = _RUN.fullmatch(run)
        if m is None:
            raise ConfigError(f"--replay: bad run {run!r} in token (expected TIDxCOUNT)")
        t, n = int(m.group(1)), int(m.group(2))
        if already + len(tids) + n > MAX_REPLAY_STEPS:
            raise ConfigError(f"--replay: the token asks for more than "
                              f"{MAX_REPLAY_STEPS:,} steps")
        tids.extend([t] * n)
    return tids
