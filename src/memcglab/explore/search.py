"""Search strategies over a :class:`~memcglab.explore.system.System`.

* exhaustive: stateful breadth-first search. States are stored as 64-bit fingerprints
  (hash compaction, as Spin's ``-DHC``), identical reclaimers are interchangeable (symmetry),
  and threads are interleaved only where they can conflict (:mod:`.visibility`);
* minimal counterexample: best-first search ordered by (steps, preemptions) for the first
  run that breaks a given invariant the same way (same race), so every reported
  counterexample is the smallest one, not merely the first one found;
* random: a uniformly random runnable thread at each interleaving point, seeded;
* PCT (Burckhardt et al., ASPLOS 2010): random thread priorities with ``d - 1`` priority
  change points; finds a depth-d bug with probability >= 1/(n k^(d-1)) per run;
* replay: one operation-level schedule, as printed with every counterexample.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from memcglab.errors import ConfigError
from memcglab.explore.config import ExploreConfig, Strategy
from memcglab.explore.races import ALL_RACES, Race, classify
from memcglab.explore.result import CheckResult, ExitReason, Finding
from memcglab.explore.schedule import Schedule
from memcglab.explore.system import State, System, TraceEntry
from memcglab.explore.visibility import object_name
from memcglab.runtime.machine import TERMINATION, Violation

Clock = Callable[[], float]
FindingKey = tuple[str, str | None]
CLASSIFY_CAP = 5000
FULL_SHRINK_STATES = 200_000  # budget of the unreduced minimal-counterexample search


@dataclass(slots=True)
class _Raw:
    """A violation found by a search, with the block-level path that reaches it."""

    violation: Violation
    path: list[int]


def check(system: System, cfg: ExploreConfig, clock: Clock) -> CheckResult:
    """Run the configured strategy; shrink every finding to a minimal one."""
    system.max_block_steps = cfg.max_steps
    if cfg.strategy is Strategy.REPLAY:
        return replay(system, cfg)
    start = clock()
    deadline = None if cfg.time_budget_s is None else start + cfg.time_budget_s
    if cfg.strategy is Strategy.EXHAUSTIVE:
        result, raws = _exhaustive(system, cfg, clock, deadline)
    else:
        result, raws = _random_runs(system, cfg, cfg.strategy is Strategy.PCT, clock,
                                    deadline)
    result.findings = _findings(system, cfg, raws, result.strategy, clock, deadline)
    return result


# -- exhaustive -------------------------------------------------------------------------------


def _por(system: System, cfg: ExploreConfig) -> bool:
    # A variant's own invariants may read any state, including objects the reduction would
    # not interleave at: with them, every operation is an interleaving point.
    return cfg.por and not system.invariants


def _exhaustive(system: System, cfg: ExploreConfig, clock: Clock,
                deadline: float | None) -> tuple[CheckResult, dict[FindingKey, _Raw]]:
    por = _por(system, cfg)
    visible: frozenset[int] | None = frozenset() if por else None
    rounds = 0
    while True:
        system.set_visible(visible)
        system.reset_summary(por)
        result, raws, restart = _bfs(system, cfg, clock, deadline, visible)
        if restart is None:
            break
        visible = restart
        rounds += 1
    result.por_rounds = rounds
    _describe_points(system, result, visible)
    return result, raws


def _describe_points(system: System, result: CheckResult,
                     visible: frozenset[int] | None) -> None:
    if visible is None:
        why = "the variant's invariants may read any state" if system.invariants else "--no-por"
        result.interleaving_points = [f"every operation ({why})"]
    else:
        names = [object_name(o, system.layout) for o in sorted(visible)]
        result.interleaving_points = names or ["none: the threads never conflict"]
    if system.summary is not None:
        result.data_races = [system.layout.names[s] for s in system.summary.racy_slots()]


def _bfs(system: System, cfg: ExploreConfig, clock: Clock, deadline: float | None,
         visible: frozenset[int] | None
         ) -> tuple[CheckResult, dict[FindingKey, _Raw], frozenset[int] | None]:
    """One breadth-first pass. Returns a grown visible set when the pass learned that more
    objects conflict (the caller restarts), else None."""
    sym = cfg.symmetry
    bound = cfg.max_preemptions
    canon = system.canonical if sym else (lambda s, last=-1: (s, last))
    init = system.initial()
    ikey = hash(canon(init, -1))
    parent: dict[int, tuple[int, int]] = {ikey: (0, -1)}
    # With a preemption bound a state is keyed with the thread that ran last and the
    # preemptions used: a path stored for a key always reaches that key's concrete state,
    # so the thread ids of its successors stay valid under symmetry.
    frontier: deque[tuple[State, int, int, int, int]] = deque([(init, ikey, 0, -1, 0)])
    raws: dict[FindingKey, _Raw] = {}
    transitions = classified = 0
    reason = ExitReason.EXHAUSTED
    summary = system.summary
    check_every = 64

    def path_to(key: int) -> list[int]:
        out: list[int] = []
        while True:
            pk, tid = parent[key]
            if tid < 0:
                return out[::-1]
            out.append(tid)
            key = pk

    def found(v: Violation, path: list[int]) -> None:
        nonlocal classified
        if classified >= CLASSIFY_CAP and any(k[0] == v.prop for k in raws):
            return
        classified += 1
        race = _classify_path(system, path, v)
        key = (v.prop, race.id if race else None)
        if key not in raws:
            raws[key] = _Raw(v, path)

    n_expanded = 0
    while frontier:
        state, key, depth, last, pre = frontier.popleft()
        n_expanded += 1
        if n_expanded % check_every == 0:
            if summary is not None and visible is not None:
                grown = summary.conflicting()
                if not grown <= visible:
                    return CheckResult([], reason, "exhaustive"), {}, visible | grown
            if deadline is not None and clock() > deadline:
                reason = ExitReason.TIME_BUDGET
                break
            if len(parent) > cfg.max_states:
                reason = ExitReason.MAX_STATES
                break
        if raws and cfg.stop_on_first:
            reason = ExitReason.FIRST_FOUND
            break
        enabled = system.enabled(state)
        if not enabled:
            v = system.stuck(state)
            if v is not None:
                found(v, path_to(key))
            continue
        for tid in enabled:
            npre = pre
            if bound is not None:
                npre += 1 if last >= 0 and tid != last and last in enabled else 0
                if npre > bound:
                    continue
            new, n, v = system.block(state, tid)
            transitions += 1
            if v is None and depth + n > cfg.max_steps:
                v = Violation(TERMINATION, f"a run exceeded max_steps={cfg.max_steps}")
            if v is not None:
                found(v, [*path_to(key), tid])
                continue
            nlast = tid if bound is not None else -1
            nkey = hash(canon(new, nlast) if bound is None else (canon(new, nlast), npre))
            if nkey in parent:
                continue
            parent[nkey] = (key, tid)
            frontier.append((new, nkey, depth + n, nlast, npre))
    if summary is not None and visible is not None and reason is not ExitReason.FIRST_FOUND:
        grown = summary.conflicting()
        if not grown <= visible:
            return CheckResult([], reason, "exhaustive"), {}, visible | grown
    result = CheckResult([], reason, "exhaustive", states=len(parent), transitions=transitions)
    result.bounds = {"max_steps": cfg.max_steps, "symmetry": sym, "por": cfg.por,
                     "max_states": cfg.max_states}
    if bound is not None:
        result.bounds["max_preemptions"] = bound
    return result, raws, None


def _classify_path(system: System, path: list[int], v: Violation) -> Race | None:
    trace = _run_blocks(system, path)
    return classify(trace, v)


def _run_blocks(system: System, path: list[int]) -> list[TraceEntry]:
    """Replay a block-level path under the current visible set, recording every op."""
    state = system.initial()
    trace: list[TraceEntry] = []
    saved, system.summary = system.summary, None
    try:
        for tid in path:
            state, _, _ = system.block(state, tid, trace)
    finally:
        system.summary = saved
    return trace


# -- minimal counterexamples ----------------------------------------------------------------


def minimal(system: System, target: FindingKey, budget: int,
            max_preemptions: int | None = None, clock: Clock | None = None,
            deadline: float | None = None) -> tuple[list[int], Violation] | None:
    """The block path breaking ``target`` with fewest steps, then fewest preemptions.

    Best-first (Dijkstra) over (steps, preemptions); a violation is pushed as a goal node
    with its cost and returned when it comes off the heap, so it is minimal among all runs
    within the visible set. Returns None if the budget runs out first.
    """
    init = system.initial()
    seq = 0
    heap: list[tuple[int, int, int, int, State | None, Violation | None]] = [
        (0, 0, seq, -1, init, None)]  # (steps, preemptions, seq, last tid, state, goal)
    parents: list[tuple[int, int]] = [(-1, -1)]  # node id -> (parent node, tid)
    node_of_seq = {0: 0}
    settled: set[int] = set()
    while heap:
        steps, pre, s, last, state, goal = heapq.heappop(heap)
        node = node_of_seq.pop(s)
        if goal is not None:
            return _node_path(parents, node), goal
        assert state is not None
        ckey = hash(system.canonical(state, last))
        if ckey in settled:
            continue
        settled.add(ckey)
        if len(settled) > budget:
            return None
        if deadline is not None and clock is not None and len(settled) % 64 == 0 \
                and clock() > deadline:
            return None
        enabled = system.enabled(state)
        if not enabled:
            v = system.stuck(state)
            if v is not None and _matches(system, _node_path(parents, node), v, target):
                return _node_path(parents, node), v
            continue
        for tid in enabled:
            cost = pre + (1 if last >= 0 and tid != last and last in enabled else 0)
            if max_preemptions is not None and cost > max_preemptions:
                continue
            new, n, v = system.block(state, tid)
            parents.append((node, tid))
            seq += 1
            node_of_seq[seq] = len(parents) - 1
            if v is not None:
                if _matches(system, _node_path(parents, len(parents) - 1), v, target):
                    heapq.heappush(heap, (steps + n, cost, seq, tid, None, v))
                else:
                    node_of_seq.pop(seq)
                continue
            heapq.heappush(heap, (steps + n, cost, seq, tid, new, None))
    return None


def _node_path(parents: list[tuple[int, int]], node: int) -> list[int]:
    out = []
    while node > 0:
        node, tid = parents[node]
        out.append(tid)
    return out[::-1]


def _matches(system: System, path: list[int], v: Violation, target: FindingKey) -> bool:
    if v.prop != target[0]:
        return False
    race = _classify_path(system, path, v)
    return (race.id if race else None) == target[1]


# -- random and PCT ---------------------------------------------------------------------------


def _pick(rng: random.Random, n: int) -> int:
    # Draw only through random() (Python guarantees its sequence across versions).
    return min(int(rng.random() * n), n - 1)


def _random_runs(system: System, cfg: ExploreConfig, pct: bool, clock: Clock,
                 deadline: float | None) -> tuple[CheckResult, dict[FindingKey, _Raw]]:
    rng = random.Random(cfg.seed)
    por = _por(system, cfg)
    visible: frozenset[int] | None = frozenset() if por else None
    system.reset_summary(por)
    raws: dict[FindingKey, _Raw] = {}
    first_at: dict[str, int] = {}
    k_est = 1
    n = system.nthreads
    done = 0
    reason = ExitReason.RUNS_DONE
    for run in range(1, cfg.runs + 1):
        if deadline is not None and clock() > deadline:
            reason = ExitReason.TIME_BUDGET
            break
        done = run
        system.set_visible(visible)
        state = system.initial()
        path: list[int] = []
        steps = 0
        if pct:
            prio = list(range(cfg.pct_depth, cfg.pct_depth + n))
            for i in range(n - 1, 0, -1):  # Fisher-Yates through random()
                j = _pick(rng, i + 1)
                prio[i], prio[j] = prio[j], prio[i]
            changes = sorted(1 + _pick(rng, k_est) for _ in range(cfg.pct_depth - 1))
        v: Violation | None = None
        while True:
            enabled = system.enabled(state)
            if not enabled:
                v = system.stuck(state)
                break
            if pct:
                tid = max(enabled, key=lambda t: prio[t])
                point = len(path) + 1
                for c, at in enumerate(changes):
                    if at == point:
                        prio[tid] = cfg.pct_depth - 1 - c
                tid = max(enabled, key=lambda t: prio[t])
            else:
                tid = enabled[_pick(rng, len(enabled))]
            state, nops, v = system.block(state, tid)
            path.append(tid)
            steps += nops
            if v is None and steps > cfg.max_steps:
                v = Violation(TERMINATION, f"a run exceeded max_steps={cfg.max_steps}")
            if v is not None:
                break
        k_est = max(k_est, len(path))
        if v is not None:
            # Store as an operation-level schedule: block boundaries change as V grows.
            trace = _run_blocks(system, path)
            race = classify(trace, v)
            key = (v.prop, race.id if race else None)
            if key not in raws:
                raws[key] = _Raw(v, [e.tid for e in trace])
                first_at[f"{v.prop}:{race.id if race else ''}"] = run
        if system.summary is not None and visible is not None:
            visible = visible | system.summary.conflicting()
    name = "pct" if pct else "random"
    result = CheckResult([], reason, name, executions=done)
    result.first_found_at = first_at
    result.bounds = {"runs": cfg.runs, "seed": cfg.seed, "max_steps": cfg.max_steps,
                     **({"pct_depth": cfg.pct_depth} if pct else {})}
    for raw in raws.values():  # op-level paths: mark them so _findings replays them singly
        raw.path = [-1, *raw.path]
    _describe_points(system, result, visible)
    return result, raws


# -- findings -------------------------------------------------------------------------------


def _findings(system: System, cfg: ExploreConfig, raws: dict[FindingKey, _Raw],
              found_by: str, clock: Clock, deadline: float | None) -> list[Finding]:
    out = []
    # Named races first, then the other properties, each in a stable order.
    order = {r.id: i for i, r in enumerate(ALL_RACES)}
    for key in sorted(raws, key=lambda k: (k[1] is None, order.get(k[1] or "", 0), k[0])):
        raw = raws[key]
        path, v, is_min = raw.path, raw.violation, False
        over_all = False
        op_level = bool(path) and path[0] == -1
        trace: list[TraceEntry] | None = None
        if cfg.shrink:
            # First over every interleaving (no reduction), so that "minimal" holds for
            # all runs; where that is too big, within the interleaving points in force.
            reduced = system.visible
            for visible, budget in ((None, min(cfg.shrink_states, FULL_SHRINK_STATES)),
                                    (reduced, cfg.shrink_states)):
                system.set_visible(visible)
                best = minimal(system, key, budget, cfg.max_preemptions, clock, deadline)
                if best is not None:
                    path, v = best
                    is_min, op_level, over_all = True, False, visible is None
                    trace = _run_blocks(system, path)
                    break
            system.set_visible(reduced)
        if trace is None and op_level:
            trace = replay_ops(system, [t for t in path if t >= 0])[0]
        elif trace is None:
            trace = _run_blocks(system, path)
        race = classify(trace, v)
        out.append(Finding(
            prop=v.prop, message=v.message, race=race,
            schedule=Schedule(system.config.digest(), tuple(e.tid for e in trace)),
            trace=trace, steps=sum(1 for e in trace if e.op.kind.name != "NOTE"),
            preemptions=count_preemptions(system, trace), minimal=is_min,
            found_by=found_by, minimal_over_all=over_all))
    return out


def count_preemptions(system: System, trace: list[TraceEntry]) -> int:
    """Switches away from a thread that could have gone on."""
    state = system.initial()
    count = 0
    saved, system.summary = system.summary, None
    try:
        for i, e in enumerate(trace):
            if i and e.tid != trace[i - 1].tid:
                prev = trace[i - 1].tid
                if prev in system.enabled(state):
                    count += 1
            state, _, _ = system.block(state, e.tid, single=True)
    finally:
        system.summary = saved
    return count


# -- replay ---------------------------------------------------------------------------------


def replay_ops(system: System, tids: list[int]) -> tuple[list[TraceEntry], Violation | None]:
    """Run an operation-level schedule exactly; refuse one that does not fit."""
    state = system.initial()
    trace: list[TraceEntry] = []
    saved, system.summary = system.summary, None
    try:
        for i, tid in enumerate(tids):
            if not 0 <= tid < system.nthreads:
                raise ConfigError(f"--replay: step {i} names CPU{tid}; this configuration "
                                  f"has CPU0..CPU{system.nthreads - 1}")
            if tid not in system.enabled(state):
                raise ConfigError(f"--replay: at step {i} CPU{tid} cannot run (it has "
                                  "finished or is blocked); the token does not fit this "
                                  "configuration")
            state, _, v = system.block(state, tid, trace, single=True)
            if v is not None:
                return trace, v
        if not system.enabled(state):
            return trace, system.stuck(state)
    finally:
        system.summary = saved
    return trace, None


def replay(system: System, cfg: ExploreConfig) -> CheckResult:
    if cfg.replay is None:
        raise ConfigError("--strategy replay needs --replay TOKEN")
    sched = Schedule.parse(cfg.replay)
    if sched.digest != system.config.digest():
        raise ConfigError(
            f"--replay: the token was made for configuration {sched.digest}, this one is "
            f"{system.config.digest()}; pass the same configuration flags or file")
    trace, v = replay_ops(system, list(sched.tids))
    findings = []
    if v is not None:
        findings.append(Finding(
            prop=v.prop, message=v.message, race=classify(trace, v), schedule=sched,
            trace=trace, steps=sum(1 for e in trace if e.op.kind.name != "NOTE"),
            preemptions=count_preemptions(system, trace), minimal=False, found_by="replay"))
    result = CheckResult(findings, ExitReason.REPLAYED, "replay", executions=1)
    result.bounds = {"schedule steps": len(sched.tids)}
    return result
