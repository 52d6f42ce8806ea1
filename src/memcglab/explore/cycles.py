"""Non-progress cycles (livelock) in an explored state graph, under weak fairness.

Every thread of a model is meant to finish. A run that never finishes returns, in a finite
state space, to a state it has been in: a cycle of the state graph. Not every cycle is a
livelock. One in which a thread that could run all along never runs is an artefact of
scheduling (weak fairness: a thread that stays enabled is eventually scheduled), so only
*fair* cycles are reported.

The search (:mod:`.search`) gives this module the graph as parent pointers plus the extra
edges to states already seen, with the set of enabled threads of each expanded state.

**When cycles cannot exist.** Every step of a thread moves its local state (lsid) one edge
along its program's transition table (:class:`~memcglab.runtime.program.Program`). If that
table has no cycle for any program, each thread's lsid sequence never repeats, so no global
state repeats along a run and the state graph is acyclic. :func:`local_cycles_possible`
checks exactly that on the tables the search built (every local transition a run can take
was taken while the search expanded the states it reached), and then the graph analysis is
skipped. tests/test_cycles.py compares this shortcut with the full analysis.

**Fairness on a strongly connected component S.** A closed walk through all of S passes
every state and every edge of S. If some thread is enabled in every state of S and has no
edge inside S, every cycle in S leaves it waiting forever: S holds no fair cycle. Otherwise
the walk below, which takes one edge of each thread that moves in S and passes a state
where each other thread enabled somewhere in S is disabled, is fair.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from memcglab.runtime.program import Program


@dataclass(frozen=True, slots=True)
class Lasso:
    """A run that reaches ``prefix``'s end and then repeats ``cycle`` forever (state
    indices of the search and the thread of each step)."""

    start: int  # the state the cycle leaves from and returns to
    prefix: list[int]  # threads, from the initial state to ``start``
    cycle: list[int]  # threads, from ``start`` back to ``start``
    movers: frozenset[int]  # threads that run in the cycle
    waiting: frozenset[int]  # threads enabled somewhere in the cycle that never run in it


def local_cycles_possible(programs: Sequence[Program]) -> bool:
    """Whether any program's table of local transitions has a cycle."""
    for prog in {id(p): p for p in programs}.values():
        succ: dict[int, set[int]] = {}
        for (src, _), dst in prog.transitions():
            succ.setdefault(src, set()).add(dst)
        if _has_cycle(succ):
            return True
    return False


def _has_cycle(succ: dict[int, set[int]]) -> bool:
    colour: dict[int, int] = {}  # 1 on the stack, 2 done
    for root in succ:
        if root in colour:
            continue
        colour[root] = 1
        stack = [(root, iter(succ.get(root, ())))]
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                colour[node] = 2
                stack.pop()
                continue
            c = colour.get(nxt)
            if c == 1:
                return True
            if c is None:
                colour[nxt] = 1
                stack.append((nxt, iter(succ.get(nxt, ()))))
    return False


def _successors(n: int, parent: Sequence[int], parent_tid: Sequence[int],
                extra: Sequence[tuple[int, int, int]]) -> list[list[tuple[int, int]]]:
    succ: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for i in range(1, n):
        succ[parent[i]].append((i, parent_tid[i]))
    for src, dst, tid in extra:
        succ[src].append((dst, tid))
    return succ


def has_cycle(n: int, parent: Sequence[int], parent_tid: Sequence[int],
              extra: Sequence[tuple[int, int, int]], expanded: int) -> bool:
    """Whether the graph has any cycle at all. Under symmetry this is asked of the graph of
    canonical states first: a cycle of concrete states maps onto a closed walk of their
    canonical forms, so a quotient graph without cycles rules them out."""
    succ = _successors(n, parent, parent_tid, extra)
    return any(len(c) > 1 or any(v == c[0] for v, _ in succ[c[0]])
               for c in _sccs(n, succ, expanded))


def find_fair_cycle(n: int, parent: Sequence[int], parent_tid: Sequence[int],
                    extra: Sequence[tuple[int, int, int]], enabled: Sequence[int]
                    ) -> Lasso | None:
    """A fair cycle of the graph, with the shortest known prefix to it, or None.

    ``parent[i]``/``parent_tid[i]``: the tree edge into state i; ``extra``: the other edges
    (src, dst, tid); ``enabled[i]``: bit mask of the threads enabled in state i (states at
    index >= len(enabled) were not expanded and belong to no cycle)."""
    succ = _successors(n, parent, parent_tid, extra)
    for comp in _sccs(n, succ, len(enabled)):
        members = set(comp)
        inner = [(u, v, t) for u in comp for v, t in succ[u] if v in members]
        if not inner:
            continue
        moving = 0
        for _, _, t in inner:
            moving |= 1 << t
        always = somewhere = enabled[comp[0]]
        for u in comp:
            always &= enabled[u]
            somewhere |= enabled[u]
        if always & ~moving:
            continue  # a thread enabled throughout never runs: no fair cycle here
        return _lasso(min(comp), members, inner, succ, enabled, moving, somewhere & ~moving,
                      parent, parent_tid)
    return None


def _sccs(n: int, succ: list[list[tuple[int, int]]], expanded: int) -> list[list[int]]:
    """Tarjan's strongly connected components, iteratively, over the expanded states."""
    index = [-1] * n
    low = [0] * n
    on_stack = [False] * n
    stack: list[int] = []
    out: list[list[int]] = []
    counter = 0
    for root in range(expanded):
        if index[root] >= 0:
            continue
        work = [(root, 0)]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        while work:
            node, i = work[-1]
            edges = succ[node] if node < expanded else []
            if i < len(edges):
                work[-1] = (node, i + 1)
                nxt = edges[i][0]
                if index[nxt] < 0:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack[nxt] = True
                    work.append((nxt, 0))
                elif on_stack[nxt]:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack[w] = False
                    comp.append(w)
                    if w == node:
                        break
                out.append(sorted(comp))
    out.sort(key=lambda c: c[0])
    return out


def _lasso(start: int, members: set[int], inner: list[tuple[int, int, int]],
           succ: list[list[tuple[int, int]]], enabled: Sequence[int], moving: int,
           waiting: int, parent: Sequence[int], parent_tid: Sequence[int]) -> Lasso:
    # Stops: one edge of each moving thread, one state where each waiting thread is
    # disabled; then back to the start.
    walk: list[int] = []
    here = start
    bits = list(range((moving | waiting).bit_length()))
    for t in bits:
        if moving >> t & 1:
            u, v, _ = next(e for e in inner if e[2] == t)
            walk += _route(here, u, members, succ)
            walk.append(t)
            here = v
        elif waiting >> t & 1:
            target = next(u for u in sorted(members) if not enabled[u] >> t & 1)
            walk += _route(here, target, members, succ)
            here = target
    walk += _route(here, start, members, succ)
    if not walk:  # start == here all along: a self-loop
        walk = [next(t for v, t in succ[start] if v == start)]
    prefix: list[int] = []
    x = start
    while parent[x] >= 0:
        prefix.append(parent_tid[x])
        x = parent[x]
    return Lasso(start, prefix[::-1], walk,
                 frozenset(t for t in bits if moving >> t & 1),
                 frozenset(t for t in bits if waiting >> t & 1))


def _route(src: int, dst: int, members: set[int],
           succ: list[list[tuple[int, int]]]) -> list[int]:
    """Threads of a shortest path from ``src`` to ``dst`` inside the component."""
    if src == dst:
        return []
    back: dict[int, tuple[int, int]] = {src: (-1, -1)}
    queue = deque([src])
    while queue:
        u = queue.popleft()
        for v, t in succ[u]:
            if v in members and v not in back:
                back[v] = (u, t)
                if v == dst:
                    path = []
                    while v != src:
                        v, t = back[v]
                        path.append(t)
                    return path[::-1]
                queue.append(v)
    raise AssertionError("a strongly connected component is not connected")
