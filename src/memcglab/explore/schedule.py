"""Schedules: a run as a value, and its one-line replay token (convention C3).

A schedule is the thread id of every operation, in order. The token run-length encodes it
and carries the configuration digest, so that replaying on another configuration is refused:
``v1:<digest>:0x5.1x3.0x2`` means CPU0 runs 5 operations, CPU1 3, CPU0 2.
"""

from __future__ import annotations

from dataclasses import dataclass

from memcglab.errors import ConfigError

MAX_REPLAY_STEPS = 10_000_000


@dataclass(frozen=True, slots=True)
class Schedule:
    digest: str
    tids: tuple[int, ...]

    def token(self) -> str:
        runs: list[str] = []
        prev, count = -1, 0
        for t in self.tids:
            if t == prev:
                count += 1
                continue
            if count:
                runs.append(f"{prev}x{count}")
            prev, count = t, 1
        if count:
            runs.append(f"{prev}x{count}")
        return f"v1:{self.digest}:{'.'.join(runs)}"

    @staticmethod
    def parse(token: str) -> Schedule:
        parts = token.split(":")
        if len(parts) != 3 or parts[0] != "v1":
            raise ConfigError(f"--replay: expected a token like v1:DIGEST:0x5.1x3, got {token!r}")
        tids: list[int] = []
        for run in filter(None, parts[2].split(".")):
            t, _, n = run.partition("x")
            if not (t.isdigit() and n.isdigit()):
                raise ConfigError(f"--replay: bad run {run!r} in token (expected TIDxCOUNT)")
            if len(tids) + int(n) > MAX_REPLAY_STEPS:
                raise ConfigError(f"--replay: the token asks for more than "
                                  f"{MAX_REPLAY_STEPS:,} steps")
            tids.extend([int(t)] * int(n))
        return Schedule(parts[1], tuple(tids))
