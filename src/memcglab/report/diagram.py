"""Counterexamples drawn as CPU columns, the way kernel commit messages draw races::

    CPU0                                 CPU1
    pos = iter->position (0)
                                         pos = iter->position (0)

One row per operation, in the order they ran, so reading down the page is reading time.
"""

from __future__ import annotations

from collections.abc import Sequence

from memcglab.explore.system import TraceEntry
from memcglab.model.layout import ptr_memcg
from memcglab.runtime.ops import Kind

_BOOL = {True: "true", False: "false"}
MAX_COL = 58


def step_text(e: TraceEntry, names: Sequence[str],
              pointers: frozenset[int] = frozenset()) -> str:
    """The kernel-level text of one step, with what it returned. ``pointers``: the slots
    that hold memcg pointers (shown by group name)."""
    op, r = e.op, e.result
    k = op.kind

    def value(slot: int, v: int) -> str:
        if slot not in pointers:
            return str(v)
        g = ptr_memcg(v)
        return "NULL" if g is None else names[g]

    if k is Kind.LOAD:
        return f"{op.text} ({r})"
    if k is Kind.READ_ONCE:
        return f"{op.text} -> {value(op.a, r)}"
    if k is Kind.CMPXCHG:
        old, new = op.b
        if r == old:
            return f"{op.text}: {value(op.a, old)} -> {value(op.a, new)}"
        return f"{op.text}: fails ({value(op.a, r)}, not {value(op.a, old)})"
    if k is Kind.CSS_NEXT_CHILD:
        return f"{op.text} -> {'NULL' if r is None else names[r]}"
    if k is Kind.CSS_GET_NEXT:
        return f"{op.text} -> NULL" if r is None else f"{op.text} -> {names[r[0]]} (id {r[1]})"
    if k is Kind.TRYGET:
        return f"{op.text} -> {_BOOL[bool(r)]}"
    if k is Kind.MKDIR:
        return f"{op.text} (css id {r})"
    if k is Kind.STORE:
        return f"{op.text} = {op.b}"
    return op.text


def draw(trace: Sequence[TraceEntry], names: Sequence[str], labels: dict[int, str],
         failure: str, loop_at: int | None = None,
         pointers: frozenset[int] = frozenset()) -> str:
    """The diagram of a trace; ``failure`` is printed under the last step. A lasso
    (``loop_at``) is drawn with its cycle between two marks."""
    tids = sorted({e.tid for e in trace})
    col = {t: i for i, t in enumerate(tids)}
    texts = []
    for e in trace:
        text = step_text(e, names, pointers)
        if e.op.kind is not Kind.NOTE and e.op.kind is not Kind.WALK_START:
            text = "  " + text
        texts.append(text)
    width = min(MAX_COL, max([len(t) for t in texts] + [len(labels.get(t, "")) for t in tids]))
    width += 2
    lines = ["".join(labels.get(t, f"CPU{t}").ljust(width) for t in tids).rstrip(),
             "".join(("-" * (width - 2)).ljust(width) for _ in tids).rstrip()]
    full = width * len(tids)
    for i, (e, text) in enumerate(zip(trace, texts, strict=True)):
        if i == loop_at:
            lines.append(" cycle: from here the run repeats forever ".center(full, "~").rstrip())
        if len(text) > width - 1:
            text = text[:width - 4] + "..."
        lines.append((" " * (width * col[e.tid]) + text).rstrip())
    if loop_at is not None:
        lines.append(" back to the start of the cycle ".center(full, "~").rstrip())
    marker = " " * (width * col[trace[-1].tid]) + "^^^ " if trace else ""
    lines.append(marker + failure)
    return "\n".join(lines)
