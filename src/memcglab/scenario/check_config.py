"""``memcglab check`` configurations: a small TOML file and/or flags -> frozen config values.

The file format (docs/configuration.md has the reference and examples)::

    variant = "css-id"

    [hierarchy]
    shape = "flat"          # flat: root + groups-1 children; nested: [[hierarchy.group]]
    groups = 4              # css ids in play, root included (flat only)
    id_policy = "lowest-free"

    [reclaim]
    mode = "global"         # global: walk until NULL; limit: one group per call (v3.7)
    reclaimers = 2
    walks = 1
    priorities = [12]

    [explore]
    strategy = "exhaustive"

Flags given on the command line override the file. Every error names the file, the line
where it can, the field, what was expected and what was found.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from memcglab.errors import ConfigError
from memcglab.explore.config import ExploreConfig, ModelConfig, Strategy
from memcglab.kernel.vmscan import AdminAction, ReclaimerSpec
from memcglab.model.constants import DEF_PRIORITY
from memcglab.model.hierarchy import GroupSpec, Topology, flat
from memcglab.scenario.validation import declare_group, read_toml, validate_model


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GroupEntry(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    parent: str = "root"
    use_hierarchy: bool = True


class HierarchySection(_Strict):
    shape: Literal["flat", "nested"] = "flat"
    groups: int = Field(default=4, ge=1, le=64)
    id_policy: Literal["lowest-free", "monotonic"] = "lowest-free"
    use_hierarchy: bool = True
    group: list[GroupEntry] = []


class MachineSection(_Strict):
    nodes: int = Field(default=1, ge=1, le=8)
    zones: int = Field(default=1, ge=1, le=4)


class ReclaimSection(_Strict):
    mode: Literal["global", "limit"] = "global"
    target: str | None = None
    reclaimers: int = Field(default=2, ge=1, le=8)
    walks: int = Field(default=1, ge=1, le=16)
    priorities: list[int] = [DEF_PRIORITY]
    zones: list[int] | None = None


class ChangeEntry(_Strict):
    op: Literal["mkdir", "rmdir"]
    group: str


class ExploreSection(_Strict):
    strategy: Literal["exhaustive", "random", "pct", "replay"] = "exhaustive"
    seed: int = 0
    runs: int = Field(default=1000, ge=1)
    pct_depth: int = Field(default=2, ge=1, le=8)
    max_steps: int = Field(default=5000, ge=1)
    max_preemptions: int | None = Field(default=None, ge=0)
    max_states: int = Field(default=20_000_000, ge=1)
    time_budget: float | None = Field(default=None, gt=0)
    symmetry: bool = True
    por: bool = True
    stop_on_first: bool = False


class CheckFile(_Strict):
    variant: str = "css-id"
    hierarchy: HierarchySection = HierarchySection()
    machine: MachineSection = MachineSection()
    reclaim: ReclaimSection = ReclaimSection()
    change: list[ChangeEntry] = []
    explore: ExploreSection = ExploreSection()


@dataclass(frozen=True, slots=True)
class Loaded:
    model: ModelConfig
    explore: ExploreConfig
    file: CheckFile


def parse_file(path: Path) -> tuple[CheckFile, str]:
    raw, text = read_toml(path)
    return validate(raw, str(path), text), text


def validate(raw: dict[str, Any], where: str, text: str = "") -> CheckFile:
    return validate_model(CheckFile, raw, where, text)


def build(f: CheckFile, where: str) -> Loaded:
    """Check cross-field rules and build the frozen configs."""
    h = f.hierarchy
    if h.shape == "flat":
        if h.group:
            raise ConfigError(f"{where}: [hierarchy] shape 'flat' takes 'groups', not "
                              "[[hierarchy.group]] entries; use shape = 'nested'")
        topo = flat(h.groups, use_hierarchy=h.use_hierarchy)
        topo = Topology(topo.groups, h.id_policy)
    else:
        if not h.group:
            raise ConfigError(f"{where}: [hierarchy] shape 'nested' needs [[hierarchy.group]] "
                              "entries (name, parent)")
        index = {"root": 0}
        created = {c.group for c in f.change if c.op == "mkdir"}
        specs = [GroupSpec("root", None, h.use_hierarchy)]
        hierarchical = [h.use_hierarchy]
        for g in h.group:
            pi = declare_group(where, g.name, g.parent, g.use_hierarchy, index, hierarchical)
            specs.append(GroupSpec(g.name, pi, g.use_hierarchy,
                                   initially_present=g.name not in created))
        topo = Topology(tuple(specs), h.id_policy)
    names = {topo.name(i): i for i in range(topo.size)}
    created_names = {c.group for c in f.change if c.op == "mkdir"}
    if h.shape == "flat" and created_names:
        # flat hierarchies mark groups created later by name
        topo = Topology(tuple(GroupSpec(g.name, g.parent, g.use_hierarchy,
                                        initially_present=g.name not in created_names)
                              for g in topo.groups), h.id_policy)
    actions = []
    seen: set[tuple[str, str]] = set()
    for c in f.change:
        if c.group not in names or c.group == "root":
            raise ConfigError(f"{where}: change {c.op} {c.group!r}: no such group; groups: "
                              f"{', '.join(n for n in names if n != 'root')}")
        if (c.op, c.group) in seen:
            raise ConfigError(f"{where}: change {c.op} {c.group!r} given twice")
        if c.op == "rmdir" and ("mkdir", c.group) not in seen and c.group in created_names:
            raise ConfigError(f"{where}: rmdir {c.group!r} comes before its mkdir")
        seen.add((c.op, c.group))
        actions.append(AdminAction(c.op, names[c.group]))
    # Replay the changes against the tree: cgroupfs refuses to remove a group with
    # children and cannot create a group whose parent does not exist.
    alive = {g for g in range(topo.size) if topo.groups[g].initially_present}
    for gi in sorted(alive):
        p = topo.parent(gi)
        if p is not None and p not in alive:
            raise ConfigError(f"{where}: group {topo.name(gi)!r} exists from the start but "
                              f"its parent {topo.name(p)!r} is only created later")
    for a in actions:
        name = topo.name(a.memcg)
        if a.op == "mkdir":
            p = topo.parent(a.memcg)
            if p is not None and p not in alive:
                raise ConfigError(f"{where}: mkdir {name!r} before its parent "
                                  f"{topo.name(p)!r} exists")
            alive.add(a.memcg)
        else:
            kids = [topo.name(x) for x in topo.children(a.memcg) if x in alive]
            if kids:
                raise ConfigError(f"{where}: cannot rmdir {name!r}: it still has children "
                                  f"({', '.join(kids)}); cgroupfs refuses that")
            alive.discard(a.memcg)

    r = f.reclaim
    target: int | None = None
    if r.mode == "limit":
        tname = r.target or (topo.name(1) if topo.size > 1 else None)
        if tname is None or tname not in names:
            raise ConfigError(f"{where}: [reclaim] target {r.target!r}: no such group; "
                              f"groups: {', '.join(names)}")
        target = names[tname]
    elif r.target is not None:
        raise ConfigError(f"{where}: [reclaim] target is for mode = 'limit' (got mode 'global')")
    bad = [p for p in r.priorities if not 0 <= p <= DEF_PRIORITY]
    if bad or not r.priorities:
        raise ConfigError(f"{where}: [reclaim] priorities: expected values in 0..{DEF_PRIORITY}"
                          f" (DEF_PRIORITY), got {r.priorities}")
    prios = tuple(sorted(set(r.priorities), reverse=True))
    nzones = f.machine.nodes * f.machine.zones
    zones = tuple(r.zones) if r.zones is not None else tuple(range(nzones))
    badz = [z for z in zones if not 0 <= z < nzones]
    if badz or not zones:
        raise ConfigError(f"{where}: [reclaim] zones: expected indexes in 0..{nzones - 1}, "
                          f"got {list(zones)}")
    if target is not None:
        for a in actions:
            if a.op == "rmdir" and topo.is_descendant(target, a.memcg):
                raise ConfigError(
                    f"{where}: cannot rmdir {topo.name(a.memcg)!r} while limit reclaim of "
                    f"{topo.name(target)!r} runs: limit reclaim runs in a task charged to "
                    "that subtree, and cgroupfs refuses to remove a cgroup with tasks")
    spec = ReclaimerSpec(target, zones, prios, r.walks)
    model = ModelConfig(variant=f.variant, topology=topo, nodes=f.machine.nodes,
                        zones_per_node=f.machine.zones,
                        reclaimers=tuple(spec for _ in range(r.reclaimers)),
                        admin=tuple(actions))
    e = f.explore
    explore = ExploreConfig(strategy=Strategy(e.strategy), seed=e.seed, runs=e.runs,
                            pct_depth=e.pct_depth, max_steps=e.max_steps,
                            max_preemptions=e.max_preemptions, max_states=e.max_states,
                            time_budget_s=e.time_budget, symmetry=e.symmetry, por=e.por,
                            stop_on_first=e.stop_on_first)
    return Loaded(model, explore, f)
