"""What to check and how: the model configuration and the explorer's bounds.

Both are frozen values built by the shell (flags or a TOML file, :mod:`memcglab.scenario`);
the core never reads the environment.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from memcglab.kernel.vmscan import AdminAction, ReclaimerSpec
from memcglab.model.hierarchy import Topology


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """The system under check: hierarchy, zones, reclaimers, cgroup changes, variant."""

    variant: str
    topology: Topology
    nodes: int = 1
    zones_per_node: int = 1
    reclaimers: tuple[ReclaimerSpec, ...] = ()
    admin: tuple[AdminAction, ...] = ()
    empty: tuple[int, ...] = ()
    """Groups with nothing to reclaim: their claim reclaims nothing (the premature-OOM
    entries of the race suite)."""
    properties: tuple[str, ...] = ()
    """The invariants to check (empty: every one that applies to the variant). A property
    left out is not monitored: its violations neither end a run nor are reported."""

    def describe(self) -> str:
        r = self.reclaimers
        kinds = sorted({"global" if x.target is None else "limit" for x in r})
        walks = sorted({x.walks for x in r})
        prios = sorted({p for x in r for p in x.priorities}, reverse=True)
        goals = sorted({x.goal for x in r if x.goal})
        parts = [f"variant {self.variant}", f"{self.topology.size} groups",
                 f"{len(r)} reclaimers ({'/'.join(kinds)})",
                 f"{'/'.join(map(str, walks))} walk(s) each",
                 f"{self.nodes * self.zones_per_node} zone(s)",
                 f"priorities {','.join(map(str, prios))}"]
        if goals:
            parts.append(f"goal met after {'/'.join(map(str, goals))} group(s)")
        if self.admin:
            parts.append("cgroup changes: " + ", ".join(
                f"{a.op} {self.topology.name(a.memcg)}" for a in self.admin))
        if self.properties:
            parts.append("checking " + ", ".join(self.properties))
        return ", ".join(parts)

    def digest(self) -> str:
        """A short stable hash: schedules carry it so that a replay on another
        configuration is refused instead of silently diverging. A variant from a file
        counts by its class name and the file's contents, not by how its path was spelled,
        so a token replays from any folder."""
        plain = _plain(self)
        assert isinstance(plain, dict)
        plain["variant"] = variant_identity(self.variant)
        if not plain["properties"]:
            del plain["properties"]  # so that the digests of older tokens stay valid
        if not plain["empty"]:
            del plain["empty"]
        for r in plain["reclaimers"]:
            if not r["goal"]:
                del r["goal"]
            if not r["outside"]:
                del r["outside"]
        blob = json.dumps(plain, sort_keys=True).encode()
        return f"{zlib.crc32(blob):08x}"


def variant_identity(spec: str) -> str:
    """``css-id`` stays itself; ``path/to/file.py:Class`` becomes ``Class@<sha256 of the
    file>`` (the path as given when the file cannot be read: loading it fails anyway)."""
    path, sep, cls = spec.rpartition(":")
    if not sep or not path.endswith(".py"):
        return spec
    try:
        return f"{cls}@{hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]}"
    except OSError:
        return spec


def _plain(x: object) -> object:
    if hasattr(x, "__dataclass_fields__"):
        return {k: _plain(getattr(x, k)) for k in x.__dataclass_fields__
                if not k.startswith("_")}
    if isinstance(x, tuple | list):
        return [_plain(v) for v in x]
    return x


class Strategy(Enum):
    EXHAUSTIVE = "exhaustive"
    RANDOM = "random"
    PCT = "pct"
    REPLAY = "replay"


@dataclass(frozen=True, slots=True, kw_only=True)
class ExploreConfig:
    """Explorer settings (convention C9). Every bound is reported with the result."""

    strategy: Strategy = Strategy.EXHAUSTIVE
    seed: int = 0
    """Seed of the random and PCT strategies (same seed, same runs, same output)."""
    runs: int = 1000
    """Executions for random and PCT."""
    pct_depth: int = 2
    """PCT bug depth d: d - 1 priority change points per run."""
    max_steps: int = 5000
    """Operations per execution; a run still going after that breaks `termination`."""
    max_preemptions: int | None = None
    """Preemption bound for exhaustive search (None: unbounded, a full proof)."""
    max_states: int = 20_000_000
    """Stop an exhaustive search after this many distinct states."""
    time_budget_s: float | None = None
    """Wall-clock budget; the search stops and says so when it runs out."""
    stop_on_first: bool = False
    """Stop at the first violation (as Spin does) instead of collecting one of each kind."""
    stop_on: str | None = None
    """Stop once a violation of this kind (``property:race``, race empty when unnamed) is
    found (the race suite: the named race, past violations of other kinds)."""
    symmetry: bool = True
    """Treat reclaimers with identical parameters as interchangeable."""
    por: bool = True
    """Interleave only at operations that can conflict (docs/internals.md); off: every
    operation is an interleaving point."""
    shrink: bool = True
    """Search for the counterexample with fewest steps, then fewest preemptions."""
    shrink_states: int = 2_000_000
    """State budget of that search."""
    replay: str | None = field(default=None)
    """A schedule token to replay (strategy REPLAY)."""
    state_store: str = "exact"
    """How visited states are stored: ``exact`` or ``hash-compact`` (128-bit BLAKE2b),
    see :mod:`memcglab.explore.statestore`."""
    dead_variables: bool | None = None
    """Tell local states apart by their live variables only (docs/internals.md, "Dead
    variables"); None: on for the lockless era's variants, off for the 3.x ones."""
    force_cycle_analysis: bool = False
    """Look for non-progress cycles even where no program can loop (tests compare the
    shortcut with the full analysis)."""
