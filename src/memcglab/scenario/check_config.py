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

Flags given on the command line override the file. Types are strict (``reclaimers = true``
or ``"2"`` is refused, not read as 1 or 2). Every error names the file and line of the value
(or the flag that gave it), the field, what was expected and what was found.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from memcglab.errors import ConfigError
from memcglab.explore.config import ExploreConfig, ModelConfig, Strategy
from memcglab.explore.system import checked_properties
from memcglab.kernel.registry import resolve_variant
from memcglab.kernel.vmscan import AdminAction, ReclaimerSpec
from memcglab.model.constants import DEF_PRIORITY
from memcglab.model.hierarchy import GroupSpec, Topology, flat
from memcglab.scenario.validation import Loc, Locator, declare_group, read_toml, validate_model

# Where a flag puts its value in the file's tables (for messages about flag values).
FLAGS: dict[Loc, str] = {
    ("variant",): "--variant", ("hierarchy", "shape"): "--shape",
    ("hierarchy", "groups"): "--groups", ("hierarchy", "id_policy"): "--id-policy",
    ("hierarchy", "group"): "--tree", ("machine", "nodes"): "--nodes",
    ("machine", "zones"): "--zones", ("reclaim", "mode"): "--mode",
    ("reclaim", "target"): "--target", ("reclaim", "reclaimers"): "--reclaimers",
    ("reclaim", "walks"): "--walks", ("reclaim", "priorities"): "--priorities",
    ("change",): "--change", ("explore", "strategy"): "--strategy",
    ("explore", "seed"): "--seed", ("explore", "runs"): "--runs",
    ("explore", "pct_depth"): "--pct-depth", ("explore", "max_steps"): "--max-steps",
    ("explore", "max_preemptions"): "--max-preemptions",
    ("explore", "max_states"): "--max-states", ("explore", "time_budget"): "--time-budget",
    ("explore", "symmetry"): "--no-symmetry", ("explore", "por"): "--no-por",
    ("explore", "stop_on_first"): "--first", ("explore", "state_store"): "--state-store",
}


class _Strict(BaseModel):
    # strict: no lax coercion (true is not 1, "2" is not 2, 2.0 is not 2, "yes" is not true).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


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
    goal: int = Field(default=0, ge=0, le=64)
    outside: bool = False
    empty: list[str] = []
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
    time_budget: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    symmetry: bool = True
    por: bool = True
    stop_on_first: bool = False
    state_store: Literal["exact", "hash-compact"] = "exact"
    dead_variables: bool | None = None


class CheckFile(_Strict):
    variant: str = "css-id"
    properties: list[str] = []
    hierarchy: HierarchySection = HierarchySection()
    machine: MachineSection = MachineSection()
    reclaim: ReclaimSection = ReclaimSection()
    change: list[ChangeEntry] = []
    explore: ExploreSection = ExploreSection()
    # Where each value came from (file line or flag), for the messages of build().
    _locator: Locator | None = PrivateAttr(default=None)


@dataclass(frozen=True, slots=True)
class Loaded:
    model: ModelConfig
    explore: ExploreConfig
    file: CheckFile


def parse_file(path: Path) -> tuple[CheckFile, str]:
    raw, text = read_toml(path)
    return validate(raw, str(path), text), text


def validate(raw: dict[str, Any], where: str, text: str = "") -> CheckFile:
    """Validate ``raw`` (the file's tables, with flags applied). A value that differs from
    the file's own came from a flag and is blamed on the command line, not on a file line."""
    # Field names stay dotted in type errors: the command adds the flag's name to them.
    f = validate_model(CheckFile, raw, Locator(where, text, raw))
    f._locator = Locator(where, text, raw, FLAGS)
    return f


def build(f: CheckFile, where: str) -> Loaded:
    """Check cross-field rules and build the frozen configs."""
    loc = f._locator or Locator(where)
    at = loc.at
    try:
        resolve_variant(f.variant)  # an unknown name or a broken plugin: say where it is set
    except ConfigError as err:
        raise ConfigError(f"{at('variant')}: {err}") from None
    h = f.hierarchy
    if h.shape == "flat":
        if h.group:
            raise ConfigError(f"{at('hierarchy', 'group', 0)}: [hierarchy] shape 'flat' takes "
                              "'groups', not [[hierarchy.group]] entries; use shape = 'nested'")
        topo = flat(h.groups, use_hierarchy=h.use_hierarchy)
        topo = Topology(topo.groups, h.id_policy)
    else:
        if not h.group:
            raise ConfigError(f"{at('hierarchy', 'shape')}: [hierarchy] shape 'nested' needs "
                              "[[hierarchy.group]] entries (name, parent)")
        index = {"root": 0}
        created = {c.group for c in f.change if c.op == "mkdir"}
        specs = [GroupSpec("root", None, h.use_hierarchy)]
        hierarchical = [h.use_hierarchy]
        for i, g in enumerate(h.group):
            def gat(field: str, i: int = i) -> str:
                return at("hierarchy", "group", i, field)

            pi = declare_group(gat, g.name, g.parent, g.use_hierarchy, index, hierarchical)
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
    others = ", ".join(n for n in names if n != "root") or "(none besides the root)"
    actions = []
    seen: set[tuple[str, str]] = set()
    for i, c in enumerate(f.change):
        if c.group not in names or c.group == "root":
            raise ConfigError(f"{at('change', i, 'group')}: change {c.op} {c.group!r}: no such "
                              f"group; groups: {others}")
        if (c.op, c.group) in seen:
            raise ConfigError(f"{at('change', i)}: change {c.op} {c.group!r} given twice")
        if c.op == "rmdir" and ("mkdir", c.group) not in seen and c.group in created_names:
            raise ConfigError(f"{at('change', i)}: rmdir {c.group!r} comes before its mkdir")
        seen.add((c.op, c.group))
        actions.append(AdminAction(c.op, names[c.group]))

    def group_at(gi: int) -> str:
        return at("hierarchy", "group", gi - 1, "name") if h.shape == "nested" else \
            at("hierarchy", "groups")

    # Replay the changes against the tree: cgroupfs refuses to remove a group with
    # children and cannot create a group whose parent does not exist.
    alive = {g for g in range(topo.size) if topo.groups[g].initially_present}
    for gi in sorted(alive):
        p = topo.parent(gi)
        if p is not None and p not in alive:
            raise ConfigError(f"{group_at(gi)}: group {topo.name(gi)!r} exists from the start "
                              f"but its parent {topo.name(p)!r} is only created later")
    for i, a in enumerate(actions):
        name = topo.name(a.memcg)
        if a.op == "mkdir":
            p = topo.parent(a.memcg)
            if p is not None and p not in alive:
                raise ConfigError(f"{at('change', i)}: mkdir {name!r} before its parent "
                                  f"{topo.name(p)!r} exists")
            alive.add(a.memcg)
        else:
            kids = [topo.name(x) for x in topo.children(a.memcg) if x in alive]
            if kids:
                raise ConfigError(f"{at('change', i)}: cannot rmdir {name!r}: it still has "
                                  f"children ({', '.join(kids)}); cgroupfs refuses that")
            alive.discard(a.memcg)

    r = f.reclaim
    target: int | None = None
    if r.mode == "limit":
        if r.target is None and topo.size < 2:
            raise ConfigError(f"{at('reclaim', 'mode')}: [reclaim] mode 'limit' reclaims a "
                              "limited group below the root, and the hierarchy has none; add "
                              "groups (groups = 2 or more, or [[hierarchy.group]] entries)")
        tname = r.target or topo.name(1)
        if tname not in names:
            raise ConfigError(f"{at('reclaim', 'target')}: [reclaim] target {r.target!r}: no "
                              f"such group; groups: {', '.join(names)}")
        target = names[tname]
    elif r.target is not None:
        raise ConfigError(f"{at('reclaim', 'target')}: [reclaim] target is for mode = 'limit' "
                          "(got mode 'global')")
    bad = [p for p in r.priorities if not 0 <= p <= DEF_PRIORITY]
    if bad or not r.priorities:
        raise ConfigError(f"{at('reclaim', 'priorities')}: [reclaim] priorities: expected "
                          f"values in 0..{DEF_PRIORITY} (DEF_PRIORITY), got {r.priorities}")
    prios = tuple(sorted(set(r.priorities), reverse=True))
    nzones = f.machine.nodes * f.machine.zones
    zones = tuple(r.zones) if r.zones is not None else tuple(range(nzones))
    badz = [z for z in zones if not 0 <= z < nzones]
    if badz or not zones:
        raise ConfigError(f"{at('reclaim', 'zones')}: [reclaim] zones: expected indexes in "
                          f"0..{nzones - 1}, got {list(zones)}")
    variant_cls = resolve_variant(f.variant)
    callers = variant_cls.caller_era()
    if r.outside and (r.mode != "limit" or callers not in ("3.10", "4.8", "5.5")):
        raise ConfigError(f"{at('reclaim', 'outside')}: field 'reclaim.outside': expected "
                          f"false: a reclaimer outside its target is limit reclaim (mode = "
                          f"'limit') with the v3.10-v6.10 callers; {f.variant} runs the "
                          f"{callers} callers and mode is {r.mode!r}")
    if target is not None and not r.outside:
        for i, a in enumerate(actions):
            if a.op == "rmdir" and topo.is_descendant(target, a.memcg):
                raise ConfigError(
                    f"{at('change', i)}: cannot rmdir {topo.name(a.memcg)!r} while limit "
                    f"reclaim of {topo.name(target)!r} runs: limit reclaim runs in a task "
                    "charged to that subtree, and cgroupfs refuses to remove a cgroup with "
                    "tasks (set [reclaim] outside = true for a reclaimer outside it)")
    if r.goal and callers == "3.7":
        raise ConfigError(f"{at('reclaim', 'goal')}: field 'reclaim.goal': expected 0 for "
                          f"variant {f.variant}, got {r.goal}: a goal makes the v6.x reclaim "
                          f"callers bail out of a partial walk, and {f.variant} runs the v3.7 "
                          "callers (whose limit reclaim, mode = 'limit', takes one group)")
    if len(set(f.properties)) != len(f.properties):
        dup = sorted({p for p in f.properties if f.properties.count(p) > 1})
        raise ConfigError(f"{at('properties')}: field 'properties': each property once; "
                          f"got {', '.join(dup)} more than once")
    if target is not None and not topo.groups[target].initially_present:
        raise ConfigError(f"{at('reclaim', 'target')}: [reclaim] target {topo.name(target)!r} "
                          "is created by a [[change]] mkdir while reclaim runs: limit reclaim "
                          "runs in a task charged to an existing group; pick a group present "
                          "from the start")
    empty: list[int] = []
    for i, name in enumerate(r.empty):
        if name not in names:
            raise ConfigError(f"{at('reclaim', 'empty', i)}: [reclaim] empty: no group "
                              f"{name!r}; groups: {', '.join(names)}")
        if names[name] in empty:
            raise ConfigError(f"{at('reclaim', 'empty', i)}: [reclaim] empty: {name!r} "
                              "given twice")
        empty.append(names[name])
    spec = ReclaimerSpec(target, zones, prios, r.walks, r.goal, r.outside)
    model = ModelConfig(variant=f.variant, topology=topo, nodes=f.machine.nodes,
                        zones_per_node=f.machine.zones,
                        reclaimers=tuple(spec for _ in range(r.reclaimers)),
                        admin=tuple(actions), properties=tuple(sorted(f.properties)),
                        empty=tuple(sorted(empty)))
    try:
        checked_properties(variant_cls, model.properties)
    except ConfigError as err:
        raise ConfigError(f"{at('properties')}: {err}") from None
    e = f.explore
    explore = ExploreConfig(strategy=Strategy(e.strategy), seed=e.seed, runs=e.runs,
                            pct_depth=e.pct_depth, max_steps=e.max_steps,
                            max_preemptions=e.max_preemptions, max_states=e.max_states,
                            time_budget_s=e.time_budget, symmetry=e.symmetry, por=e.por,
                            stop_on_first=e.stop_on_first, state_store=e.state_store,
                            dead_variables=e.dead_variables)
    return Loaded(model, explore, f)
