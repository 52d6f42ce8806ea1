"""The text and JSON reports of ``memcglab check``."""

from __future__ import annotations

import json
from typing import Any

from memcglab import __version__
from memcglab.explore.config import ExploreConfig, ModelConfig
from memcglab.explore.result import CheckResult, Finding
from memcglab.explore.statestore import HASH_COMPACT, collision_bound
from memcglab.explore.system import System
from memcglab.report.diagram import draw, step_text
from memcglab.runtime.machine import PROPERTY_DOCS


def _labels(system: System) -> dict[int, str]:
    out = {}
    for t, prog in enumerate(system.programs):
        out[t] = (f"CPU{t} ({prog.name})" if prog.name in ("admin", "kworker")
                  else f"CPU{t}")
    return out


def finding_text(system: System, f: Finding, replay_cmd: str) -> str:
    names = [system.layout.topology.name(g) for g in range(system.layout.topology.size)]
    head = f"{f.title}"
    what = f.race.description if f.race else PROPERTY_DOCS.get(f.prop, f.prop)
    size = (f"{f.steps} steps, {f.preemptions} preemption"
            f"{'' if f.preemptions == 1 else 's'}")
    if f.loop_at is not None:
        minimal = ("a lasso: the shortest prefix to the cycle found breadth-first, then the "
                   "cycle")
    elif not f.minimal:
        minimal = "as found (not shrunk)"
    elif f.minimal_over_all:
        minimal = ("minimal: no run breaks it this way in fewer steps, or in as few steps "
                   "with fewer preemptions")
    else:
        minimal = ("minimal among runs that interleave at the interleaving points: none "
                   "breaks it this way in fewer steps, or in as few with fewer preemptions")
    body = draw(f.trace, names, _labels(system), f.message, f.loop_at,
                system.layout.pointer_slots)
    return (f"{head}\n  {what}\n  {f.message}\n  {size} ({minimal})\n\n"
            + "\n".join("  " + line for line in body.splitlines())
            + f"\n\n  replay: {replay_cmd}\n")


def text_report(system: System, model: ModelConfig, cfg: ExploreConfig, result: CheckResult,
                replay_cmds: list[str], elapsed: float) -> str:
    out = [f"memcglab check: {model.describe()}",
           f"variant {system.variant_cls.name}: {system.variant_cls.kernels}",
           f"  source: {system.variant_cls.source}"]
    strat = result.strategy
    if strat == "exhaustive":
        out.append(f"strategy exhaustive: {result.states:,} states, "
                   f"{result.transitions:,} transitions in {elapsed:.2f} s "
                   f"(symmetry {'on' if cfg.symmetry else 'off'}, "
                   f"partial-order reduction {_por_state(system, cfg, result)})")
    elif strat in ("random", "pct"):
        extra = f", depth {cfg.pct_depth}" if strat == "pct" else ""
        out.append(f"strategy {strat}: {result.executions:,} runs, seed {cfg.seed}{extra}, "
                   f"in {elapsed:.2f} s")
    else:
        out.append(f"strategy replay: {result.bounds.get('schedule steps')} scheduled steps")
        if result.reproduced is False:
            out.append("DID NOT REPRODUCE: the token names a violation this run does not "
                       "show (a counterexample that does not replay is a memcglab bug)")
    if result.interleaving_points and strat != "replay":
        out.append("interleaving points: " + ", ".join(result.interleaving_points))
    if result.data_races:
        out.append("data races (plain accesses without a common lock): "
                   + ", ".join(result.data_races))
    if result.first_found_at:
        # Random and PCT: the execution; exhaustive: the states stored when first met.
        where = ("first found at (states stored): " if strat == "exhaustive"
                 else "first found at run: ")
        out.append(where + ", ".join(
            f"{k.rstrip(':')} #{v:,}" if strat == "exhaustive" else f"{k.rstrip(':')} #{v}"
            for k, v in sorted(result.first_found_at.items(), key=lambda kv: kv[1])))
    out.append(f"search ended: {result.exit_reason.value}")
    out.append("")
    if not result.findings:
        if result.proved:
            every = ("every invariant holds" if not model.properties
                     else "the invariants checked hold")
            out.append(f"PROVED within the bounds: {every} in every reachable state:")
            out += [f"  {p}: {d}" for p, d in PROPERTY_DOCS.items() if p in system.properties]
            out += [f"  {i.name}: {i.description}" for i in system.invariants]
            out.append(f"  bounds: {_bounds(result)}")
            if result.steps_caveat:
                out.append(f"  ({result.steps_caveat})")
            if "max_preemptions" in result.bounds:
                out.append("  (with a preemption bound, a livelock whose cycle needs a "
                           "preemption in every round repeats past any bound: such cycles "
                           "are not covered; drop --max-preemptions to cover them)")
            out.append("  " + store_line(cfg, result))
        else:
            out.append(f"no violation found ({result.exit_reason.value}; not a proof)")
        return "\n".join(out) + "\n"
    out.append(f"{len(result.findings)} finding(s):")
    out.append("")
    for i, (f, cmd) in enumerate(zip(result.findings, replay_cmds, strict=True), start=1):
        out.append(f"[{i}] " + finding_text(system, f, cmd))
    return "\n".join(out)


def _por_state(system: System, cfg: ExploreConfig, result: CheckResult) -> str:
    if not cfg.por:
        return "off"
    if system.invariants:
        return "off: the variant's invariants may read any state"
    if result.opaque_access:
        return f"off: the reduction cannot account for {result.opaque_access}"
    return "on"


def store_line(cfg: ExploreConfig, result: CheckResult) -> str:
    """What the verdict rests on, as far as state storage goes."""
    if cfg.state_store == HASH_COMPACT:
        return ("(hash compaction: states are stored as 128-bit BLAKE2b digests; the chance "
                "that two distinct states were merged is below "
                f"{max(collision_bound(result.states), 1e-300):.1e})")
    return "(states are stored exactly: no two distinct states were merged)"


def _bounds(result: CheckResult) -> str:
    return ", ".join(f"{k}={v}" for k, v in result.bounds.items())


def json_report(system: System, model: ModelConfig, cfg: ExploreConfig,
                result: CheckResult, replay_cmds: list[str]) -> str:
    names = [system.layout.topology.name(g) for g in range(system.layout.topology.size)]
    ptrs = system.layout.pointer_slots
    doc: dict[str, Any] = {
        "memcglab": __version__,
        "config": model.describe(),
        "config_digest": model.digest(),
        "variant": {"name": system.variant_cls.name, "kernels": system.variant_cls.kernels,
                    "source": system.variant_cls.source},
        "strategy": result.strategy,
        "exit_reason": result.exit_reason.name.lower(),
        "proved": result.proved,
        "states": result.states,
        "transitions": result.transitions,
        "executions": result.executions,
        "bounds": result.bounds,
        "interleaving_points": result.interleaving_points,
        "data_races": result.data_races,
        ("first_found_at_states" if result.strategy == "exhaustive"
         else "first_found_at_run"): result.first_found_at,
        "state_store": cfg.state_store,
        "steps_caveat": result.steps_caveat,
        "reproduced": result.reproduced,
        "findings": [
            {"property": f.prop, "race": f.race.id if f.race else None,
             "title": f.title, "message": f.message, "steps": f.steps,
             "preemptions": f.preemptions, "minimal": f.minimal,
             "minimal_over": ("all interleavings" if f.minimal_over_all
                              else "interleaving points" if f.minimal else None),
             "schedule": f.schedule.token(), "replay": cmd, "loop_at": f.loop_at,
             "trace": [{"cpu": e.tid, "step": step_text(e, names, ptrs)} for e in f.trace]}
            for f, cmd in zip(result.findings, replay_cmds, strict=True)],
    }
    return json.dumps(doc, indent=2) + "\n"
