"""Non-progress cycles (livelock) in an explored state graph, under strong fairness.

Every thread of a model is meant to finish. A run that never finishes returns, in a finite
state space, to a state it has been in: a cycle of the state graph. Not every cycle is a
livelock. One in which a thread that could run again and again never runs is an artefact of
scheduling, so only *fair* cycles are reported, with strong fairness: a thread enabled
infinitely often runs infinitely often. That is what the kernel gives the waits the model
has: a CPU spinning on a spinlock gets it (queued spinlocks are FIFO), and a sleeping rmdir
or synchronize_rcu() is woken once what it waits for holds. (Weak fairness, which only
forces threads enabled *all along*, would call a poll under a lock that the other CPU keeps
missing a livelock, and would disagree between the reduced and the unreduced search, whose
block boundaries see a short-lived enabling differently.)

The search (:mod:`.search`) gives this module the graph as parent pointers plus the extra
edges to states already seen, with the set of enabled threads of each expanded state.

**When cycles cannot exist.** Every step of a thread moves its local state (lsid) one edge
along its program's transition table (:class:`~memcglab.runtime.program.Program`). If that
table has no cycle for any program, each thread's lsid sequence never repeats, so no global
state repeats along a run and the state graph is acyclic. :func:`local_cycles_possible`
checks exactly that on the tables the search built (every local transition a run can take
was taken while the search expanded the states it reached), and then the graph analysis is
skipped. tests/test_soundness.py compares this shortcut with the full analysis.

**Strong fairness on a strongly connected component S** (the Emerson-Lei refinement). A
closed walk through all of S passes every state and edge of S. If every thread enabled
somewhere in S moves in S, that walk is fair. Otherwise a fair cycle in S must avoid every
state where such a starving thread is enabled: remove those states and look again in the
components of what is left.
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
    movers: frozenset[int]  # threads that run in the cycle (every one enabled in it)


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
               for c in _sccs(range(expanded), succ))


def cyclic_components(n: int, parent: Sequence[int], parent_tid: Sequence[int],
                      extra: Sequence[tuple[int, int, int]], expanded: int) -> list[int]:
    """For each state, the index of the cycle-bearing strongly connected component it lies
    in, or -1 (an edge between two states of the same such component lies on a cycle)."""
    succ = _successors(n, parent, parent_tid, extra)
    out = [-1] * n
    for i, c in enumerate(_sccs(range(expanded), succ)):
        if len(c) > 1 or any(v == c[0] for v, _ in succ[c[0]]):
            for u in c:
                out[u] = i
    return out


def find_fair_cycle(n: int, parent: Sequence[int], parent_tid: Sequence[int],
                    extra: Sequence[tuple[int, int, int]], enabled: Sequence[int]
                    ) -> Lasso | None:
    """A strongly fair cycle of the graph, with the shortest known prefix to it, or None.

    ``parent[i]``/``parent_tid[i]``: the tree edge into state i; ``extra``: the other edges
    (src, dst, tid); ``enabled[i]``: bit mask of the threads enabled in state i (states at
    index >= len(enabled) were not expanded and belong to no cycle)."""
    succ = _successors(n, parent, parent_tid, extra)
    work = _sccs(range(len(enabled)), succ)
    while work:
        comp = work.pop(0)
        members = set(comp)
        inner = [(u, v, t) for u in comp for v, t in succ[u] if v in members]
        if not inner:
            continue
        moving = somewhere = 0
        for _, _, t in inner:
            moving |= 1 << t
        for u in comp:
            somewhere |= enabled[u]
        starving = somewhere & ~moving
        if not starving:
            return _lasso(min(comp), members, inner, succ, moving, parent, parent_tid)
        keep = [u for u in comp if not enabled[u] & starving]
        work = sorted(work + _sccs(keep, succ), key=lambda c: c[0])
    return None


def _sccs(nodes: Sequence[int], succ: list[list[tuple[int, int]]]) -> list[list[int]]:
    """Tarjan's strongly connected components of the subgraph induced by ``nodes``,
    iteratively, each sorted, in order of their smallest state."""
    allowed = set(nodes)
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    out: list[list[int]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, 0)]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, i = work[-1]
            edges = succ[node]
            if i < len(edges):
                work[-1] = (node, i + 1)
                nxt = edges[i][0]
                if nxt not in allowed:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                out.append(sorted(comp))
    out.sort(key=lambda c: c[0])
    return out


def _lasso(start: int, members: set[int], inner: list[tuple[int, int, int]],
           succ: list[list[tuple[int, int]]], moving: int, parent: Sequence[int],
           parent_tid: Sequence[int]) -> Lasso:
    # One edge of each moving thread, then back to the start: every thread enabled anywhere
    # in the component moves, so the walk is fair.
    walk: list[int] = []
    here = start
    movers = [t for t in range(moving.bit_length()) if moving >> t & 1]
    for t in movers:
        u, v, _ = next(e for e in inner if e[2] == t)
        walk += _route(here, u, members, succ)
        walk.append(t)
        here = v
    walk += _route(here, start, members, succ)
    prefix: list[int] = []
    x = start
    while parent[x] >= 0:
        prefix.append(parent_tid[x])
        x = parent[x]
    return Lasso(start, prefix[::-1], walk, frozenset(movers))


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
