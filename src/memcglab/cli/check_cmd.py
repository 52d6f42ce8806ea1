"""``memcglab check``: flags and file -> config -> explorer -> report."""

from __future__ import annotations

import argparse
import shlex
import time
from pathlib import Path
from typing import Any, TextIO

from memcglab.cli.status import ExitStatus
from memcglab.errors import ConfigError
from memcglab.explore.config import ExploreConfig, ModelConfig
from memcglab.explore.result import CheckResult
from memcglab.explore.search import check
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
    "pct_depth": ("explore", "pct_depth"),
    "max_steps": ("explore", "max_steps"),
    "max_preemptions": ("explore", "max_preemptions"),
    "max_states": ("explore", "max_states"),
    "time_budget": ("explore", "time_budget"),
}


def add_check_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="a TOML file (flags override it)")
    p.add_argument("--variant", help="css-id, seed-spinlock, or path/to/file.py:ClassName")
    g = p.add_argument_group("hierarchy")
    g.add_argument("--shape", help="flat (default) or nested")
    g.add_argument("--groups", type=int, help="flat: css ids in play, root included (4)")
    g.add_argument("--tree", help="nested: groups as paths, parents first, e.g. A,A/B,A/C")
    g.add_argument("--id-policy", dest="id_policy", help="lowest-free (v3.7) or monotonic")
    g.add_argument("--change", action="append", default=None, metavar="OP:GROUP",
                   help="mkdir:NAME or rmdir:NAME while reclaim runs (repeatable, in order)")
    m = p.add_argument_group("machine and reclaim")
    m.add_argument("--nodes", type=int)
    m.add_argument("--zones", type=int, help="zones per node")
    m.add_argument("--mode", help="global (walk until NULL) or limit (one group per call)")
    m.add_argument("--target", help="limit reclaim: the limited group")
    m.add_argument("--reclaimers", type=int)
    m.add_argument("--walks", type=int, help="reclaim calls per reclaimer")
    m.add_argument("--priorities", help="comma list, e.g. 12 or 12,11")
    e = p.add_argument_group("explorer")
    e.add_argument("--strategy", help="exhaustive, random, pct or replay")
    e.add_argument("--seed", type=int)
    e.add_argument("--runs", type=int, help="random / pct executions")
    e.add_argument("--pct-depth", dest="pct_depth", type=int)
    e.add_argument("--max-steps", dest="max_steps", type=int)
    e.add_argument("--max-preemptions", dest="max_preemptions", type=int)
    e.add_argument("--max-states", dest="max_states", type=int)
    e.add_argument("--time-budget", dest="time_budget", type=float, help="seconds")
    e.add_argument("--no-symmetry", dest="symmetry", action="store_false", default=None)
    e.add_argument("--no-por", dest="por", action="store_false", default=None)
    e.add_argument("--first", dest="stop_on_first", action="store_true", default=None,
                   help="stop at the first violation (as Spin does)")
    e.add_argument("--no-shrink", dest="shrink", action="store_false", default=True)
    e.add_argument("--replay", help="a schedule token printed with a counterexample")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


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
    for flag in ("symmetry", "por", "stop_on_first"):
        if getattr(args, flag, None) is not None:
            raw.setdefault("explore", {})[flag] = getattr(args, flag)
    if args.tree:
        h = raw.setdefault("hierarchy", {})
        h["shape"] = "nested"
        h["group"] = _tree(args.tree)
    if args.change:
        raw["change"] = [_change(c) for c in args.change]
    if args.replay:
        raw.setdefault("explore", {})["strategy"] = "replay"
    try:
        f = validate(raw, where, text)
    except ConfigError as e:
        raise ConfigError(_flag_hint(str(e))) from None
    loaded = build(f, where)
    explore = loaded.explore
    if args.replay or not args.shrink:
        explore = ExploreConfig(**{**_fields(explore), "replay": args.replay,
                                   "shrink": args.shrink})
    return Loaded(loaded.model, explore, f)


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
    """A command line that rebuilds this configuration and replays: every setting a flag can
    carry as a flag, after ``--config FILE`` when the run came from a file (for settings only
    the file holds, such as use_hierarchy or reclaim zones)."""
    d = CheckFile().model_dump()
    cur = f.model_dump()
    args = ["memcglab", "check"]
    if config is not None:
        args += ["--config", str(config.resolve())]
    args += ["--variant", f.variant]
    for flag, (section, field) in FLAG_FIELDS.items():
        if section in (None, "explore"):
            continue
        if cur[section][field] != d[section][field]:
            v = cur[section][field]
            if isinstance(v, list):
                v = ",".join(map(str, v))
            args += [f"--{flag.replace('_', '-')}", str(v)]
    if cur["hierarchy"]["shape"] == "nested":
        paths = []
        parent_of = {g["name"]: g["parent"] for g in cur["hierarchy"]["group"]}
        for g in cur["hierarchy"]["group"]:
            chain = [g["name"]]
            while parent_of.get(chain[-1], "root") != "root":
                chain.append(parent_of[chain[-1]])
            paths.append("/".join(reversed(chain)))
        args = [a for a in args if a not in ("--shape", "nested")]
        args += ["--tree", ",".join(paths)]
    for c in cur["change"]:
        args += ["--change", f"{c['op']}:{c['group']}"]
    args += ["--replay", token]
    return " ".join(shlex.quote(a) for a in args)


def run_check(args: argparse.Namespace, out: TextIO) -> ExitStatus:
    loaded = load(args)
    result, system, elapsed = run_loaded(loaded.model, loaded.explore)
    cmds = [replay_command(loaded.file, f.schedule.token(), args.config)
            for f in result.findings]
    if args.json:
        out.write(json_report(system, loaded.model, loaded.explore, result, cmds))
    else:
        out.write(text_report(system, loaded.model, loaded.explore, result, cmds, elapsed))
    return ExitStatus.VIOLATION_FOUND if result.findings else ExitStatus.SUCCESS


def run_loaded(model: ModelConfig, explore: ExploreConfig
               ) -> tuple[CheckResult, System, float]:
    system = System(model)
    t0 = time.perf_counter()
    result = check(system, explore, time.perf_counter)
    return result, system, time.perf_counter() - t0
