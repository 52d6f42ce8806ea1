"""``memcglab check``: flags and file -> config -> explorer -> report."""

from __future__ import annotations

import argparse
import json
import shlex
import time
from pathlib import Path
from typing import Any, TextIO

from memcglab.cli import resources
from memcglab.cli.status import ExitStatus
from memcglab.errors import ConfigError, InternalError
from memcglab.explore.config import ExploreConfig, ModelConfig, Strategy
from memcglab.explore.crosscheck import cross_check
from memcglab.explore.result import CheckResult
from memcglab.explore.search import MemoryProbe, Progress, check
from memcglab.explore.statestore import STORES
from memcglab.explore.system import System
from memcglab.report.check_report import json_report, text_report
from memcglab.scenario.check_config import CheckFile, Loaded, build, parse_file, validate

# flag -> (section, field) in the TOML file
FLAG_FIELDS: dict[str, tuple[str | None, str]] = {
    "variant": (None, "variant"),
    "shape": ("hierarchy", "shape"),
    "groups": ("hierarchy", "groups"),
    "id_policy": ("hierarchy", "id_policy"),
    "nodes": ("machine", "nodes"),
    "zones": ("machine", "zones"),
    "mode": ("reclaim", "mode"),
    "target": ("reclaim", "target"),
    "reclaimers": ("reclaim", "reclaimers"),
    "walks": ("reclaim", "walks"),
    "priorities": ("reclaim", "priorities"),
    "strategy": ("explore", "strategy"),
    "seed": ("explore", "seed"),
    "runs": ("explore", "runs"),
    "goal": ("reclaim", "goal"),
    "pct_depth": ("explore", "pct_depth"),
    "max_steps": ("explore", "max_steps"),
    "max_preemptions": ("explore", "max_preemptions"),
    "max_states": ("explore", "max_states"),
    "time_budget": ("explore", "time_budget"),
    "state_store": ("explore", "state_store"),
}


def add_check_args(p: argparse.ArgumentParser) -> None:
    p.description = ("Explore every interleaving of concurrent reclaimers (within bounds): "
                     "PROVED when every invariant holds in every reachable state, else a "
                     "minimal counterexample drawn as CPU columns with a replay command. "
                     "Exit status: 0 proved or nothing found, 1 violation found, 2 bad "
                     "input, 3 internal error, 130 interrupted.")
    p.add_argument("--config", type=Path, help="a TOML file (flags override it)")
    p.add_argument("--variant", help="css-id (default), seed-spinlock, pointer-ref-lock, "
                                     "dead-count, strong-cursor, weak-cursor, current, "
                                     "any of them with settings (NAME:setting=value,...; "
                                     "docs/twelve-years.md), or path/to/file.py:ClassName")
    p.add_argument("--property", dest="properties", action="append", default=None,
                   metavar="NAME", help="check only this invariant (repeatable; default: "
                                        "every one that applies), e.g. unique_per_lap")
    g = p.add_argument_group("hierarchy")
    g.add_argument("--shape", help="flat (default) or nested")
    g.add_argument("--groups", type=int, help="flat: css ids in play, root included (4)")
    g.add_argument("--tree", help="nested: groups as paths, parents first, e.g. A,A/B,A/C")
    g.add_argument("--id-policy", dest="id_policy", help="lowest-free (v3.7) or monotonic")
    g.add_argument("--change", action="append", default=None, metavar="OP:GROUP",
                   help="mkdir:NAME or rmdir:NAME while reclaim runs (repeatable, in order)")
    m = p.add_argument_group("machine and reclaim")
    m.add_argument("--nodes", type=int, help="NUMA nodes (1)")
    m.add_argument("--zones", type=int, help="zones per node (1)")
    m.add_argument("--mode", help="global (walk until NULL, default) or limit (one group "
                                  "per call)")
    m.add_argument("--target", help="limit reclaim: the limited group")
    m.add_argument("--reclaimers", type=int, help="concurrent reclaimers, one CPU each (2)")
    m.add_argument("--walks", type=int, help="reclaim calls per reclaimer (1)")
    m.add_argument("--goal", type=int, help="current: groups a reclaim call reclaims before "
                                            "its goal is met and it bails out (0: never)")
    m.add_argument("--priorities", help="comma list, e.g. 12 or 12,11 (12)")
    e = p.add_argument_group("explorer")
    e.add_argument("--strategy", help="exhaustive (default), random, pct or replay")
    e.add_argument("--seed", type=int, help="seed of random and pct (0)")
    e.add_argument("--runs", type=int, help="random / pct executions (1000)")
    e.add_argument("--pct-depth", dest="pct_depth", type=int,
                   help="PCT bug depth: depth - 1 priority change points per run (2)")
    e.add_argument("--max-steps", dest="max_steps", type=int,
                   help="operations per run; a run still going after that breaks "
                        "termination (5000)")
    e.add_argument("--max-preemptions", dest="max_preemptions", type=int,
                   help="exhaustive: explore only runs with at most this many preemptions "
                        "(default: unbounded, a full proof)")
    e.add_argument("--max-states", dest="max_states", type=int,
                   help="exhaustive: stop after this many distinct states (20,000,000, or "
                        "fewer when memory is short)")
    e.add_argument("--max-memory", dest="max_memory", metavar="SIZE",
                   help="memory the search may use, e.g. 4G (default: 80%% of MemAvailable)")
    e.add_argument("--time-budget", dest="time_budget", type=float,
                   help="wall-clock seconds; the search stops and says so (none)")
    e.add_argument("--state-store", dest="state_store", choices=list(STORES),
                   help="exact (default: no two states merged) or hash-compact (128-bit "
                        "BLAKE2b digests, less memory, a printed collision bound)")
    e.add_argument("--no-symmetry", dest="symmetry", action="store_false", default=None,
                   help="do not treat identical reclaimers as interchangeable")
    e.add_argument("--no-por", dest="por", action="store_false", default=None,
                   help="no partial-order reduction: every operation is an interleaving point")
    e.add_argument("--dead-variables", dest="dead_variables", action="store_true",
                   default=None, help="tell local states apart by live variables only "
                                      "(default: on for current, off for the 3.x variants)")
    e.add_argument("--no-dead-variables", dest="no_dead_variables", action="store_true",
                   help="keep every local variable in the local states")
    e.add_argument("--first", dest="stop_on_first", action="store_true", default=None,
                   help="stop at the first violation (as Spin does)")
    e.add_argument("--no-shrink", dest="shrink", action="store_false", default=True,
                   help="report counterexamples as found, without the minimal search")
    e.add_argument("--cross-check", dest="cross_check", action="store_true",
                   help="run the search with and without each reduction and compare verdicts "
                        "and reachable violations; a difference is a memcglab bug "
                        "(docs/variants.md: run this first on a new variant)")
    e.add_argument("--replay", help="a schedule token printed with a counterexample")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=True,
                   help="no progress line on a terminal")


def load(args: argparse.Namespace) -> Loaded:
    raw: dict[str, Any] = {}
    text = ""
    where = "command line"
    if args.config is not None:
        f, text = parse_file(args.config)
        raw = f.model_dump(exclude_unset=True)
        where = str(args.config)
    for flag, (section, field) in FLAG_FIELDS.items():
        value = getattr(args, flag, None)
        if value is None:
            continue
        if flag == "priorities":
            try:
                value = [int(x) for x in str(value).split(",") if x]
            except ValueError:
                raise ConfigError(f"--priorities: expected a comma list of integers like "
                                  f"12,11; got {value!r}") from None
        dest = raw if section is None else raw.setdefault(section, {})
        dest[field] = value
    if getattr(args, "no_dead_variables", False):
        if args.dead_variables:
            raise ConfigError("--dead-variables and --no-dead-variables contradict each other; "
                              "give one of them")
        args.dead_variables = False
    if args.replay and getattr(args, "cross_check", False):
        raise ConfigError("--replay replays one schedule; --cross-check runs whole searches: "
                          "give one of them")
    for flag in ("symmetry", "por", "stop_on_first", "dead_variables"):
        if getattr(args, flag, None) is not None:
            raw.setdefault("explore", {})[flag] = getattr(args, flag)
    if args.tree is not None:
        if args.groups is not None:
            raise ConfigError("--groups and --tree: --groups sizes a flat hierarchy and "
                              "--tree lists a nested one's groups; give one of them")
        if not _tree(args.tree):
            raise ConfigError(f"--tree: expected group paths like A,A/B,A/C; got "
                              f"{args.tree!r}")
        h = raw.setdefault("hierarchy", {})
        h["shape"] = "nested"
        h["group"] = _tree(args.tree)
    if args.change:
        raw["change"] = [_change(c) for c in args.change]
    if args.properties:
        raw["properties"] = list(args.properties)
    if args.replay:
        if args.strategy not in (None, "replay"):
            raise ConfigError(f"--replay replays one schedule; it cannot be combined with "
                              f"--strategy {args.strategy}")
        raw.setdefault("explore", {})["strategy"] = "replay"
    if args.groups is not None and raw.get("hierarchy", {}).get("shape") == "nested":
        raise ConfigError(f"--groups {args.groups}: the hierarchy of {where} is nested (its "
                          "groups are listed there); --groups applies to a flat one")
    variant = raw.get("variant")
    if args.variant is None and args.config is not None and isinstance(variant, str):
        raw["variant"] = _relative_to(variant, args.config)
    try:
        f = validate(raw, where, text)
    except ConfigError as e:
        raise ConfigError(_flag_hint(str(e))) from None
    try:
        loaded = build(f, where)
    except ConfigError as e:
        raise ConfigError(_flag_hint(str(e))) from None
    explore = loaded.explore
    if args.replay or not args.shrink:
        explore = ExploreConfig(**{**_fields(explore), "replay": args.replay,
                                   "shrink": args.shrink})
    return Loaded(loaded.model, explore, f)


def _relative_to(spec: str, config: Path) -> str:
    """A file's ``variant = "x.py:Class"`` names a path relative to the file's folder."""
    path, sep, cls = spec.rpartition(":")
    if not sep or not path.endswith(".py") or Path(path).is_absolute():
        return spec
    beside = config.parent / path
    return f"{beside}:{cls}" if beside.is_file() else spec


def _fields(c: ExploreConfig) -> dict[str, Any]:
    return {k: getattr(c, k) for k in c.__dataclass_fields__}


def _flag_hint(msg: str) -> str:
    for flag, (section, field) in FLAG_FIELDS.items():
        dotted = field if section is None else f"{section}.{field}"
        msg = msg.replace(f"field '{dotted}'", f"field '{dotted}' (--{flag.replace('_', '-')})")
    return msg


def _tree(spec: str) -> list[dict[str, str]]:
    out = []
    for path in filter(None, (x.strip() for x in spec.split(","))):
        parts = path.strip("/").split("/")
        out.append({"name": parts[-1], "parent": parts[-2] if len(parts) > 1 else "root"})
    return out


def _change(spec: str) -> dict[str, str]:
    op, _, group = spec.partition(":")
    if op not in ("mkdir", "rmdir") or not group:
        raise ConfigError(f"--change: expected mkdir:GROUP or rmdir:GROUP, got {spec!r}")
    return {"op": op, "group": group}


def replay_command(f: CheckFile, token: str, config: Path | None = None) -> str:
    """A command line that rebuilds this configuration and replays ``token``.

    With ``--config FILE`` it carries the file and, as flags, only what differs from the
    file (so settings only a file can hold, such as a group's use_hierarchy, come from the
    file); without one, every setting that differs from the defaults. The variant is
    printed as a registry name or an absolute path, so the command works from any folder.
    """
    base = CheckFile().model_dump()
    if config is not None:
        base = parse_file(config)[0].model_dump()
    cur = f.model_dump()
    args = ["memcglab", "check"]
    if config is not None:
        args += ["--config", str(config.resolve())]
    args += ["--variant", _variant_arg(f.variant)]
    for flag, (section, field) in FLAG_FIELDS.items():
        if section is None or (section == "explore" and field != "max_steps"):
            continue
        if cur[section][field] != base[section][field]:
            v = cur[section][field]
            if isinstance(v, list):
                v = ",".join(map(str, v))
            args += [f"--{flag.replace('_', '-')}", str(v)]
    if cur["hierarchy"]["group"] != base["hierarchy"]["group"]:
        # Only --tree can have changed the groups, and --tree is what rebuilds them.
        paths = []
        parent_of = {g["name"]: g["parent"] for g in cur["hierarchy"]["group"]}
        for g in cur["hierarchy"]["group"]:
            chain = [g["name"]]
            while parent_of.get(chain[-1], "root") != "root":
                chain.append(parent_of[chain[-1]])
            paths.append("/".join(reversed(chain)))
        args = [a for a in args if a not in ("--shape", "nested")]
        args += ["--tree", ",".join(paths)]
    if cur["change"] != base["change"]:
        for c in cur["change"]:
            args += ["--change", f"{c['op']}:{c['group']}"]
    if cur["properties"] != base["properties"]:
        for prop in cur["properties"]:
            args += ["--property", prop]
    args += ["--replay", token]
    return " ".join(shlex.quote(a) for a in args)


def _variant_arg(spec: str) -> str:
    """A file variant as an absolute path (load() already made a file's relative path
    relative to the file)."""
    path, sep, cls = spec.rpartition(":")
    if not sep or not path.endswith(".py"):
        return spec
    return f"{Path(path).resolve()}:{cls}"


# Bytes a stored state costs, measured on the built-in variants (benchmarks/README.md):
# about 2.3 KB at 136,000 states with reductions on, 0.9 KB at 4.7 million without.
BYTES_PER_STATE = {"exact": 2500, "hash-compact": 1200}
DEFAULT_MAX_STATES = ExploreConfig().max_states


def fit_to_memory(explore: ExploreConfig, budget: int | None) -> ExploreConfig:
    """Refuse, before it starts, an exhaustive search whose explicit --max-states cannot fit
    in the memory this run may use. (The default state budget is left as it is, so that the
    same input gives the same output on every machine: the search itself stops at the
    memory budget and says so.)"""
    if budget is None or explore.strategy is not Strategy.EXHAUSTIVE:
        return explore
    per = BYTES_PER_STATE[explore.state_store]
    if explore.max_states == DEFAULT_MAX_STATES or explore.max_states * per <= budget:
        return explore
    raise ConfigError(
        f"--max-states {explore.max_states:,}: a search that large may need about "
        f"{resources.text(explore.max_states * per)} (~{per:,} bytes a state), more than "
        f"the {resources.text(budget)} this run may use; lower --max-states, use "
        "--state-store hash-compact, or raise --max-memory")


def run_check(args: argparse.Namespace, out: TextIO, err: TextIO | None = None
              ) -> ExitStatus:
    loaded = load(args)
    budget = resources.memory_budget(getattr(args, "max_memory", None))
    explore = fit_to_memory(loaded.explore, budget)
    if getattr(args, "cross_check", False):
        return run_cross_check(loaded, explore, args, out)
    progress = None
    if err is not None and getattr(args, "progress", False) and err.isatty():
        progress = _progress_line(err)
    probe = resources.RssProbe(budget) if budget is not None else None
    result, system, elapsed = run_loaded(loaded.model, explore, progress, probe)
    if progress is not None:
        err.write("\r\033[K")  # type: ignore[union-attr]
    cmds = [replay_command(loaded.file, f.schedule.token(), args.config)
            for f in result.findings]
    if args.json:
        out.write(json_report(system, loaded.model, explore, result, cmds))
    else:
        out.write(text_report(system, loaded.model, explore, result, cmds, elapsed))
    if result.reproduced is False:
        raise InternalError("the replayed run ran to its end without breaking the property "
                            "its token names; a counterexample memcglab printed must always "
                            "replay")
    return ExitStatus.VIOLATION_FOUND if result.findings else ExitStatus.SUCCESS


def _progress_line(err: TextIO) -> Progress:
    t0 = time.perf_counter()

    def show(states: int, transitions: int, frontier: int) -> None:
        secs = max(time.perf_counter() - t0, 1e-9)
        err.write(f"\r\033[Kexploring: {states:,} states, {transitions:,} transitions, "
                  f"{states / secs:,.0f} states/s, frontier {frontier:,}, "
                  f"memory {resources.text(resources.rss_bytes())}")
        err.flush()

    return show


def run_loaded(model: ModelConfig, explore: ExploreConfig, progress: Progress | None = None,
               memory: MemoryProbe | None = None) -> tuple[CheckResult, System, float]:
    system = System(model, explore.dead_variables)
    t0 = time.perf_counter()
    result = check(system, explore, time.perf_counter, progress, memory)
    return result, system, time.perf_counter() - t0


def run_cross_check(loaded: Loaded, explore: ExploreConfig, args: argparse.Namespace,
                    out: TextIO) -> ExitStatus:
    """``--cross-check``: the same bounded search with and without each reduction."""
    report = cross_check(loaded.model, explore, time.perf_counter)
    base = replay_command(loaded.file, "TOKEN", args.config).rsplit(" --replay", 1)[0]
    if args.json:
        out.write(json.dumps(report.to_json(base), indent=2) + "\n")
    else:
        out.write(report.text(base))
    if report.differences:
        raise InternalError("--cross-check: the reductions changed a verdict (above); "
                            "please report it with both commands")
    # Like check itself: 1 when the (agreeing) runs found violations.
    found = any(o.violations for o in report.outcomes)
    return ExitStatus.VIOLATION_FOUND if found else ExitStatus.SUCCESS
