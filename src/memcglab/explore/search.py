"""Search strategies over a :class:`~memcglab.explore.system.System`.

* exhaustive: stateful breadth-first search. States are stored exactly (or as 128-bit
  digests, :mod:`.statestore`), identical reclaimers are interchangeable (symmetry), and
  threads are interleaved only where they can conflict (:mod:`.visibility`); a fair
  non-progress cycle of the state graph is a livelock, reported as a lasso (:mod:`.cycles`);
* minimal counterexample: best-first search ordered by (steps, preemptions) for the first
  run that breaks a given invariant the same way (same race), so every reported
  counterexample is the smallest one, not merely the first one found;
* random: a uniformly random runnable thread at each interleaving point, seeded;
* PCT (Burckhardt et al., ASPLOS 2010): random thread priorities with ``d - 1`` priority
  change points; finds a depth-d bug with probability >= 1/(n k^(d-1)) per run;
* replay: one operation-level schedule, as printed with every counterexample, under the
  same step bound; a lasso must close and be fair to reproduce.
"""

from __future__ import annotations

import gc
import heapq
import random
from array import array
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Protocol

from memcglab.errors import ConfigError, InternalError
from memcglab.explore.config import ExploreConfig, Strategy
from memcglab.explore.cycles import (
    cyclic_components,
    find_fair_cycle,
    has_cycle,
    local_cycles_possible,
)
from memcglab.explore.races import ALL_RACES, Race, classify
from memcglab.explore.result import CheckResult, ExitReason, Finding
from memcglab.explore.schedule import Schedule
from memcglab.explore.statestore import key_function
from memcglab.explore.system import State, System, TraceEntry
from memcglab.explore.visibility import AccessSummary, object_name
from memcglab.runtime.machine import TERMINATION, Violation
from memcglab.runtime.program import Program

Clock = Callable[[], float]
Progress = Callable[[int, int, int], None]  # (states, transitions, frontier), about 1/s
LIVELOCK = "livelock"  # the finding key of a fair non-progress cycle


class MemoryProbe(Protocol):
    """Tells the search when the process has used the memory it may use (the shell reads
    the process's size; the core never does I/O)."""

    def exceeded(self) -> bool: ...

FindingKey = tuple[str, str | None]
CLASSIFY_CAP = 5000
FULL_SHRINK_STATES = 200_000  # budget of the unreduced minimal-counterexample search


@dataclass(slots=True)
class _Raw:
    """A violation found by a search, with the block-level path that reaches it."""

    violation: Violation
    path: list[int]
    loop_at: int | None = None  # a lasso: the path repeats forever from this block on


def check(system: System, cfg: ExploreConfig, clock: Clock, progress: Progress | None = None,
          memory: MemoryProbe | None = None) -> CheckResult:
    """Run the configured strategy; shrink every finding to a minimal one."""
    system.max_block_steps = cfg.max_steps
    if cfg.strategy is Strategy.REPLAY:
        return replay(system, cfg)
    start = clock()
    deadline = None if cfg.time_budget_s is None else start + cfg.time_budget_s
    if cfg.strategy is Strategy.EXHAUSTIVE:
        result, raws = _exhaustive(system, cfg, clock, deadline, progress, memory)
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
                deadline: float | None, progress: Progress | None = None,
                memory: MemoryProbe | None = None,
                ) -> tuple[CheckResult, dict[FindingKey, _Raw]]:
    por = _por(system, cfg)
    visible: frozenset[int] | None = frozenset() if por else None
    rounds = 0
    opaque = None
    # The stored states are long-lived tuples the cyclic garbage collector would walk again
    # and again (a 50% slower search at 100k states); the search makes no reference cycles
    # (states are tuples of values), so it runs with the collector paused.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        while True:
            system.set_visible(visible)
            system.reset_summary(visible is not None)
            result, raws, restart, graph = _bfs(system, cfg, clock, deadline, visible,
                                                progress=progress, memory=memory)
            if restart is None:
                break
            visible, opaque = restart.visible, restart.opaque or opaque
            rounds += 1
        result.por_rounds = rounds
        result.opaque_access = opaque
        if result.exit_reason is ExitReason.EXHAUSTED and not (
                raws and cfg.stop_on_first) and TERMINATION in system.properties:
            long_run, result.steps_caveat = _longest_run(system, cfg, clock, deadline,
                                                         visible, graph)
            if long_run is not None and not any(k[0] == TERMINATION for k in raws):
                raws[(TERMINATION, None)] = long_run
            lasso = _livelock(system, cfg, clock, deadline, visible, graph)
            if lasso is not None:
                raws[(TERMINATION, LIVELOCK)] = lasso
    finally:
        if was_enabled:
            gc.enable()
    _describe_points(system, result, visible)
    return result, raws


def _concrete(system: System, cfg: ExploreConfig, clock: Clock, deadline: float | None,
              visible: frozenset[int] | None, graph: _Graph) -> _Graph:
    """The graph with concrete thread ids on every edge. Under symmetry an edge to a state
    seen before leads to a permutation of that state's stored representative, so a path
    through such edges names the wrong threads: search again without symmetry (only the
    rare configurations that need a path through them get here)."""
    if not cfg.symmetry:
        return graph
    saved, system.summary = system.summary, None
    try:
        return _bfs(system, cfg, clock, deadline, visible, symmetry=False)[3]
    finally:
        system.summary = saved


def _longest_run(system: System, cfg: ExploreConfig, clock: Clock, deadline: float | None,
                 visible: frozenset[int] | None, graph: _Graph
                 ) -> tuple[_Raw | None, str | None]:
    """A run longer than ``max_steps`` operations, if the graph has one.

    The breadth-first pass checks the bound along the first path that reaches each state;
    a state reached again by a longer run is not expanded again, so that check alone can
    miss a long run (and reductions, which reach states by other first paths, would then
    disagree). Here the bound is checked exactly: if each thread's longest path through its
    own program cannot add up to more than ``max_steps``, no run can; otherwise the longest
    run is found by dynamic programming over a topological order. Runs that go round a
    cycle have any length: whether they matter is the fairness analysis's question
    (:func:`_livelock`), not the bound's, so edges inside a cycle-bearing component are
    left out and the rest is a DAG (a long run that only passes by a cycle is still found).
    Lengths do not depend on thread names, so the graph of canonical states answers
    whether there is such a run; its path is then taken from the graph without symmetry.

    The second value is a caveat for the report when the bound could not be checked on
    every run: a run that passes through the states of a cycle without going round it (a
    longest simple path, in general a hard problem) is not measured."""
    if _program_bound(system) <= cfg.max_steps:
        return None, None
    caveat = None
    if has_cycle(len(graph.parent), graph.parent, graph.parent_tid, graph.extra,
                 len(graph.enabled)):
        caveat = ("the step bound was checked on runs outside cycles of the state graph; "
                  "a run through a cycle's states is judged by the livelock analysis")
    if _longest_path(graph, cfg.max_steps) is None:
        return None, caveat
    path = _longest_path(_concrete(system, cfg, clock, deadline, visible, graph),
                         cfg.max_steps)
    if path is None:
        return None, caveat
    return (_Raw(Violation(TERMINATION, f"a run exceeded max_steps={cfg.max_steps}"), path),
            caveat)


def _longest_path(graph: _Graph, bound: int) -> list[int] | None:
    """The threads of a longest run outside cycles, if it is longer than ``bound``."""
    n = len(graph.parent)
    comp = cyclic_components(n, graph.parent, graph.parent_tid, graph.extra,
                             len(graph.enabled))
    succ: list[list[tuple[int, int, int]]] = [[] for _ in range(n)]
    indeg = [0] * n
    edges = [(graph.parent[v], v, graph.parent_tid[v], graph.parent_ops[v])
             for v in range(1, n)]
    edges += [(u, v, t, ops) for (u, v, t), ops in zip(graph.extra, graph.extra_ops,
                                                       strict=True)]
    for u, v, t, ops in edges:
        if comp[u] >= 0 and comp[u] == comp[v]:
            continue
        succ[u].append((v, t, ops))
        indeg[v] += 1
    # Longest paths from the initial state (-1: not reached without going round a cycle).
    dist = [-1] * n
    dist[0] = 0
    best: list[tuple[int, int]] = [(-1, -1)] * n
    ready = deque(i for i in range(n) if not indeg[i])
    while ready:
        u = ready.popleft()
        for v, t, ops in succ[u]:
            if dist[u] >= 0 and dist[u] + ops > dist[v]:
                dist[v], best[v] = dist[u] + ops, (u, t)
            indeg[v] -= 1
            if not indeg[v]:
                ready.append(v)
    far = max(range(n), key=lambda i: (dist[i], -i))
    if dist[far] <= bound:
        return None
    path: list[int] = []
    while best[far][0] >= 0:
        far, t = best[far]
        path.append(t)
    return path[::-1]


def _program_bound(system: System) -> int | float:
    """The most operations all threads together can run: the sum of each thread's longest
    path through its program's transition table (infinite where a table has a cycle)."""
    longest: dict[int, int | float] = {}
    for prog in system.programs:
        if id(prog) not in longest:
            longest[id(prog)] = _longest_local(prog)
    return sum(longest[id(p)] for p in system.programs)


def _longest_local(prog: Program) -> int | float:
    succ: dict[int, set[int]] = {}
    for (src, _), dst in prog.transitions():
        succ.setdefault(src, set()).add(dst)
    memo: dict[int, int] = {}
    on_path: set[int] = set()
    # Iterative DFS with post-order: the longest path from each local state.
    stack: list[tuple[int, bool]] = [(prog.initial, False)]
    while stack:
        node, done = stack.pop()
        if done:
            on_path.discard(node)
            memo[node] = max((1 + memo[d] for d in succ.get(node, ())), default=0)
            continue
        if node in memo:
            continue
        if node in on_path:
            return float("inf")
        on_path.add(node)
        stack.append((node, True))
        for d in succ.get(node, ()):
            if d in on_path:
                return float("inf")
            if d not in memo:
                stack.append((d, False))
    return memo[prog.initial]


def _livelock(system: System, cfg: ExploreConfig, clock: Clock, deadline: float | None,
              visible: frozenset[int] | None, graph: _Graph) -> _Raw | None:
    """A fair non-progress cycle, as a lasso (docs/internals.md, :mod:`.cycles`)."""
    if not cfg.force_cycle_analysis and not local_cycles_possible(system.programs):
        return None
    if not has_cycle(len(graph.parent), graph.parent, graph.parent_tid, graph.extra,
                     len(graph.enabled)):
        return None
    # Under symmetry a cycle of canonical states need not close on concrete thread ids.
    graph = _concrete(system, cfg, clock, deadline, visible, graph)
    lasso = find_fair_cycle(len(graph.parent), graph.parent, graph.parent_tid, graph.extra,
                            graph.enabled)
    if lasso is None:
        return None
    return _Raw(livelock(len(lasso.cycle), lasso.movers), [*lasso.prefix, *lasso.cycle],
                loop_at=len(lasso.prefix))


def livelock(length: int, movers: Iterable[int]) -> Violation:
    """The termination violation of a fair cycle of ``length`` steps."""
    return Violation(TERMINATION,
                     f"livelock: a fair non-progress cycle of {length} operation(s) that "
                     f"repeats forever ({', '.join(f'CPU{t}' for t in sorted(movers))} run "
                     "in it; no other CPU can run at any point of it)")


def _describe_points(system: System, result: CheckResult,
                     visible: frozenset[int] | None) -> None:
    if visible is None:
        why = ("the variant's invariants may read any state" if system.invariants
               else f"the reduction cannot account for {result.opaque_access}"
               if result.opaque_access else "--no-por")
        result.interleaving_points = [f"every operation ({why})"]
    else:
        names = [object_name(o, system.layout) for o in sorted(visible)]
        result.interleaving_points = names or ["none: the threads never conflict"]
    if system.summary is not None:
        result.data_races = [system.layout.names[s] for s in system.summary.racy_slots()]


@dataclass(frozen=True, slots=True)
class _Restart:
    visible: frozenset[int] | None  # None: every operation is an interleaving point
    opaque: str | None = None


def _learned(summary: AccessSummary, visible: frozenset[int]) -> _Restart | None:
    if summary.opaque is not None:
        return _Restart(None, summary.opaque)
    grown = summary.conflicting()
    return None if grown <= visible else _Restart(visible | grown)


@dataclass(slots=True)
class _Graph:
    """The explored state graph: tree edges as parent pointers, the other edges apart, and
    the enabled threads of each expanded state (a bit mask), for cycle detection."""

    parent: array[int]
    parent_tid: array[int]
    extra: list[tuple[int, int, int]]
    enabled: array[int]
    parent_ops: array[int]  # operations of the tree edge into each state
    extra_ops: array[int]  # operations of each extra edge

    def path_to(self, i: int) -> list[int]:
        out: list[int] = []
        while self.parent[i] >= 0:
            out.append(self.parent_tid[i])
            i = self.parent[i]
        return out[::-1]


def _bfs(system: System, cfg: ExploreConfig, clock: Clock, deadline: float | None,
         visible: frozenset[int] | None, symmetry: bool | None = None,
         progress: Progress | None = None, memory: MemoryProbe | None = None,
         ) -> tuple[CheckResult, dict[FindingKey, _Raw], _Restart | None, _Graph]:
    """One breadth-first pass. Returns the interleaving points to restart with when the pass
    learned that more objects conflict (or met an access the reduction cannot account for:
    then every operation), else None."""
    sym = cfg.symmetry if symmetry is None else symmetry
    bound = cfg.max_preemptions
    canon = system.canonical if sym else (lambda s, last=-1: (s, last))
    keyf = key_function(cfg.state_store)
    init = system.initial()
    index: dict[Hashable, int] = {keyf(canon(init, -1)): 0}
    graph = _Graph(array("q", [-1]), array("b", [-1]), [], array("q"), array("q", [0]),
                   array("q"))
    parent, parent_tid, extra, en_masks = (graph.parent, graph.parent_tid, graph.extra,
                                           graph.enabled)
    # With a preemption bound a state is keyed with the thread that ran last and the
    # preemptions used: a path stored for a key always reaches that key's concrete state,
    # so the thread ids of its successors stay valid under symmetry.
    frontier: deque[tuple[State, int, int, int, int]] = deque([(init, 0, 0, -1, 0)])
    raws: dict[FindingKey, _Raw] = {}
    first_at: dict[str, int] = {}  # each kind of violation: states stored when first met
    transitions = classified = 0
    reason = ExitReason.EXHAUSTED
    summary = system.summary
    check_every = 64
    next_report = 0.0

    def found(v: Violation, path: list[int]) -> None:
        nonlocal classified
        if classified >= CLASSIFY_CAP and any(k[0] == v.prop for k in raws):
            return
        classified += 1
        race = _classify_path(system, path, v)
        key = (v.prop, race.id if race else None)
        if key not in raws:
            raws[key] = _Raw(v, path)
            first_at[f"{v.prop}:{race.id if race else ''}"] = len(index)

    n_expanded = 0
    while frontier:
        state, idx, depth, last, pre = frontier.popleft()
        n_expanded += 1
        if n_expanded % check_every == 0:
            if summary is not None and visible is not None:
                restart = _learned(summary, visible)
                if restart is not None:
                    return CheckResult([], reason, "exhaustive"), {}, restart, graph
            now = clock()
            if deadline is not None and now > deadline:
                reason = ExitReason.TIME_BUDGET
                break
            if len(index) > cfg.max_states:
                reason = ExitReason.MAX_STATES
                break
            if memory is not None and n_expanded % 4096 == 0 and memory.exceeded():
                reason = ExitReason.MEMORY_BUDGET
                break
            if progress is not None and now >= next_report:
                next_report = now + 1.0
                progress(len(index), transitions, len(frontier))
        if raws and (cfg.stop_on_first or cfg.stop_on in first_at):
            reason = ExitReason.FIRST_FOUND
            break
        enabled = system.enabled(state)
        mask = 0
        for tid in enabled:
            mask |= 1 << tid
        en_masks.append(mask)  # states are expanded in index order
        if not enabled:
            v = system.stuck(state)
            if v is not None:
                found(v, graph.path_to(idx))
            continue
        for tid in enabled:
            npre = pre
            if bound is not None:
                npre += 1 if last >= 0 and tid != last and last in enabled else 0
                if npre > bound:
                    continue
            new, n, v = system.block(state, tid)
            transitions += 1
            if v is not None and v.overrun and visible is not None:
                # A loop that never reached an interleaving point may wait for a write of
                # another thread that no run has made yet (it never got the chance): make
                # what the loop touches interleaving points and look again. Only a loop
                # over objects already visible is a finding.
                loop = system.objects_of(_run_blocks(system, [tid], state))
                if not loop <= visible:
                    return (CheckResult([], reason, "exhaustive"), {},
                            _Restart(visible | loop), graph)
            if v is None and depth + n > cfg.max_steps and TERMINATION in system.properties:
                v = Violation(TERMINATION, f"a run exceeded max_steps={cfg.max_steps}")
            if v is not None:
                found(v, [*graph.path_to(idx), tid])
                continue
            nlast = tid if bound is not None else -1
            nkey = keyf(canon(new, nlast) if bound is None else (canon(new, nlast), npre))
            seen = index.get(nkey)
            if seen is not None:
                extra.append((idx, seen, tid))
                graph.extra_ops.append(n)
                continue
            nidx = index[nkey] = len(parent)
            parent.append(idx)
            parent_tid.append(tid)
            graph.parent_ops.append(n)
            frontier.append((new, nidx, depth + n, nlast, npre))
    if summary is not None and visible is not None:
        # Also after --first: a violation found before the interleaving points reached
        # their fixpoint may be an artefact of the reduction.
        restart = _learned(summary, visible)
        if restart is not None:
            return CheckResult([], reason, "exhaustive"), {}, restart, graph
    result = CheckResult([], reason, "exhaustive", states=len(index), transitions=transitions)
    result.first_found_at = first_at
    result.bounds = {"max_steps": cfg.max_steps, "symmetry": sym, "por": cfg.por,
                     "max_states": cfg.max_states}
    if bound is not None:
        result.bounds["max_preemptions"] = bound
    return result, raws, None, graph


def _classify_path(system: System, path: list[int], v: Violation) -> Race | None:
    trace = _run_blocks(system, path)
    return classify(trace, v)


def _run_blocks(system: System, path: list[int], state: State | None = None
                ) -> list[TraceEntry]:
    """Replay a block-level path under the current visible set, recording every op."""
    if state is None:
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
    settled: set[Hashable] = set()  # exact states: no two ever merged
    while heap:
        steps, pre, s, last, state, goal = heapq.heappop(heap)
        node = node_of_seq.pop(s)
        if goal is not None:
            return _node_path(parents, node), goal
        assert state is not None
        ckey = system.canonical(state, last)
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
            before = state
            state, nops, v = system.block(state, tid)
            if v is not None and v.overrun and visible is not None:
                loop = system.objects_of(_run_blocks(system, [tid], before))
                if not loop <= visible:  # as in _bfs: learn, and drop this run
                    visible = visible | loop
                    v = None
                    break
            path.append(tid)
            steps += nops
            if v is None and steps > cfg.max_steps:
                if TERMINATION not in system.properties:
                    break  # the run is cut at the bound; termination is not checked
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
            if cfg.stop_on_first or cfg.stop_on in first_at:
                reason = ExitReason.FIRST_FOUND
                break
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
        loop_at: int | None = None
        if raw.loop_at is not None:
            # A lasso: its prefix is a shortest one (breadth-first), the cycle as built.
            loop_at = len(_run_blocks(system, path[:raw.loop_at]))
            trace = _run_blocks(system, path)
            # The lasso as an operation-level run, checked exactly as a replay checks it
            # (its message counts operations, not blocks).
            trace, closed = replay_ops(system, [e.tid for e in trace], None, loop_at)
            if closed is None:
                raise InternalError("a livelock found by the search does not close as a "
                                    "cycle when replayed")
            v = closed
        elif cfg.shrink:
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
            schedule=Schedule(system.config.digest(), tuple(e.tid for e in trace), v.prop,
                              loop_at),
            trace=trace, steps=sum(1 for e in trace if e.op.kind.name != "NOTE"),
            preemptions=count_preemptions(system, trace), minimal=is_min,
            found_by=found_by, minimal_over_all=over_all, loop_at=loop_at))
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


def replay_ops(system: System, tids: list[int], max_steps: int | None = None,
               loop_at: int | None = None, open_end: list[bool] | None = None
               ) -> tuple[list[TraceEntry], Violation | None]:
    """Run an operation-level schedule exactly; refuse one that does not fit.

    ``max_steps``: the run breaks ``termination`` once it has run more operations (as in
    the search). ``loop_at``: the schedule is a lasso whose cycle starts at that operation;
    it breaks ``termination`` if the cycle returns to the state it left and is fair."""
    state = system.initial()
    trace: list[TraceEntry] = []
    saved, system.summary = system.summary, None
    loop_state: State | None = None
    enabled_each: list[list[int]] = []
    try:
        for i, tid in enumerate(tids):
            if i == loop_at:
                loop_state = state
            if not 0 <= tid < system.nthreads:
                raise ConfigError(f"--replay: step {i} names CPU{tid}; this configuration "
                                  f"has CPU0..CPU{system.nthreads - 1}")
            enabled = system.enabled(state)
            if loop_state is not None:
                enabled_each.append(enabled)
            if tid not in enabled:
                raise ConfigError(f"--replay: at step {i} CPU{tid} cannot run (it has "
                                  "finished or is blocked); the token does not fit this "
                                  "configuration")
            state, _, v = system.block(state, tid, trace, single=True)
            if v is None and max_steps is not None and len(trace) > max_steps:
                v = Violation(TERMINATION, f"a run exceeded max_steps={max_steps}")
            if v is not None:
                return trace, v
        if loop_state is not None:
            return trace, _lasso_closes(system, loop_state, state, tids[loop_at:],
                                        enabled_each)
        if not system.enabled(state):
            return trace, system.stuck(state)
        if open_end is not None:
            open_end.append(True)  # the schedule ended while threads could still run
    finally:
        system.summary = saved
    return trace, None


def _lasso_closes(system: System, start: State, end: State, cycle: list[int],
                  enabled_each: list[list[int]]) -> Violation | None:
    """A livelock, if the cycle came back to its first state and is strongly fair: every
    thread enabled at some point of it runs in it."""
    if end != start:
        return None
    movers = set(cycle)
    if set().union(*map(set, enabled_each)) - movers:
        return None
    return livelock(len(cycle), movers)


def replay(system: System, cfg: ExploreConfig) -> CheckResult:
    if cfg.replay is None:
        raise ConfigError("--strategy replay needs --replay TOKEN")
    sched = Schedule.parse(cfg.replay)
    if sched.digest != system.config.digest():
        raise ConfigError(
            f"--replay: the token was made for configuration {sched.digest}, this one is "
            f"{system.config.digest()}; pass the same configuration flags or file")
    open_end: list[bool] = []
    trace, v = replay_ops(system, list(sched.tids), cfg.max_steps, sched.loop_at, open_end)
    if sched.prop is not None and v is None and open_end:
        raise ConfigError(f"--replay: the token ends after {len(sched.tids)} steps, while the "
                          "run is still going and has broken nothing yet; was it cut short "
                          "when it was copied?")
    findings = []
    if v is not None:
        findings.append(Finding(
            prop=v.prop, message=v.message, race=classify(trace, v), schedule=sched,
            trace=trace, steps=sum(1 for e in trace if e.op.kind.name != "NOTE"),
            preemptions=count_preemptions(system, trace), minimal=False, found_by="replay",
            loop_at=sched.loop_at if sched.loop_at is not None and sched.loop_at < len(
                trace) else None))
    result = CheckResult(findings, ExitReason.REPLAYED, "replay", executions=1)
    result.bounds = {"schedule steps": len(sched.tids), "max_steps": cfg.max_steps}
    if sched.prop is not None:
        result.reproduced = v is not None and v.prop == sched.prop
    return result
