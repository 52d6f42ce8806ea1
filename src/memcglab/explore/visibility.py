"""Which operations must be interleaving points, learned from the accesses a search makes.

Scheduling only before operations that can conflict with another thread's is sound as long
as every other access is race-free (Musuvathi and Qadeer, CHESS: for a data-race-free
program, preempting only at synchronisation operations reaches every state, and the first
data race of any execution shows up in such a schedule). memcglab generalises this to the
objects of the model:

* a plain slot (``iter->position``) is *racy* when two threads access it, one writing, and no
  lock is held at all of its accesses (a lockset check in Eraser's style, which
  over-approximates races: never misses one);
* a spinlock matters when two threads take it;
* a css reference count matters once any run takes it to zero, fails a tryget or removes the
  group; until then get / tryget / put only add and subtract and commute;
* the css id IDR and group lifecycle states matter when one thread changes them and another
  reads them; RCU read sections matter when group states do (grace periods).

An exhaustive search starts with nothing visible, records every access, and restarts with
the conflicting objects visible until nothing new turns up (a fixpoint). docs/internals.md
gives the argument; ``--no-por`` makes every operation an interleaving point.
"""

from __future__ import annotations

from collections.abc import Iterable

from memcglab.model.layout import GroupState, Layout
from memcglab.runtime.ops import Kind, Op

IDR = -1
GSTATE = -2
RCU = -3


class AccessSummary:
    """Accesses seen across a whole search, per object."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.readers: dict[int, set[int]] = {}
        self.writers: dict[int, set[int]] = {}
        self.locksets: dict[int, frozenset[int]] = {}
        self.acquirers: dict[int, set[int]] = {}
        self.ref_users: dict[int, set[int]] = {}
        self.zero_touched: set[int] = set()
        self._ref_slot = {s: g for g, s in enumerate(layout.refcnt)}

    def _access(self, obj: int, tid: int, write: bool, held: Iterable[int]) -> None:
        (self.writers if write else self.readers).setdefault(obj, set()).add(tid)
        ls = frozenset(held)
        old = self.locksets.get(obj)
        self.locksets[obj] = ls if old is None else old & ls

    def record(self, op: Op, tid: int, held: tuple[int, ...], result: object,
               shared: list[object]) -> None:
        """Note the objects ``op`` touched (called after it was applied)."""
        k = op.kind
        lay = self.layout
        if k is Kind.LOAD:
            self._access(op.a, tid, False, held)
        elif k is Kind.STORE:
            self._access(op.a, tid, True, held)
            if op.a in lay.generation_iter:
                self._access(GSTATE, tid, False, ())
        elif k is Kind.LOCK:
            self.acquirers.setdefault(op.a, set()).add(tid)
        elif k is Kind.CSS_GET_NEXT:
            self._access(IDR, tid, False, ())
        elif k in (Kind.TRYGET, Kind.GET, Kind.PUT, Kind.RMDIR):
            g = op.a
            slot = lay.refcnt[g]
            self.ref_users.setdefault(slot, set()).add(tid)
            if (result is False or shared[slot] == 0
                    or shared[lay.gstate[g]] != GroupState.ONLINE or k is Kind.RMDIR):
                self.zero_touched.add(slot)
                self._access(GSTATE, tid, True, ())
                self._access(IDR, tid, True, ())
        elif k is Kind.MKDIR:
            self._access(GSTATE, tid, True, ())
            self._access(IDR, tid, True, ())
        elif k is Kind.CLAIM:
            self._access(GSTATE, tid, False, ())
        elif k in (Kind.RCU_LOCK, Kind.RCU_UNLOCK):
            self._access(RCU, tid, False, ())

    def conflicting(self) -> frozenset[int]:
        """Objects on which two threads' operations may not commute."""
        out: set[int] = set()
        for obj in set(self.readers) | set(self.writers):
            w = self.writers.get(obj, set())
            users = w | self.readers.get(obj, set())
            if w and len(users) > 1 and not self.locksets.get(obj):
                out.add(obj)
        out.update(s for s, ts in self.acquirers.items() if len(ts) > 1)
        out.update(s for s in self.zero_touched if len(self.ref_users.get(s, ())) > 1
                   or GSTATE in out)
        if GSTATE in out:
            out.add(RCU)
        return frozenset(out)

    def racy_slots(self) -> list[int]:
        """Plain slots with a data race (for the report)."""
        return sorted(o for o in self.conflicting() if o >= 0 and o not in self.acquirers
                      and o not in self.zero_touched)


def op_visible(op: Op, visible: frozenset[int] | None, layout: Layout) -> bool:
    """Whether ``op`` is an interleaving point given the conflicting objects."""
    if visible is None:  # no reduction: every operation is a point
        return op.kind not in (Kind.NOTE, Kind.WALK_START)
    k = op.kind
    if k is Kind.LOAD or k is Kind.LOCK:
        return op.a in visible
    if k is Kind.STORE:
        return op.a in visible or (op.a in layout.generation_iter and GSTATE in visible)
    if k in (Kind.TRYGET, Kind.GET, Kind.PUT):
        return layout.refcnt[op.a] in visible
    if k is Kind.CSS_GET_NEXT:
        return IDR in visible
    if k is Kind.CLAIM:
        return GSTATE in visible
    if k in (Kind.RCU_LOCK, Kind.RCU_UNLOCK):
        return RCU in visible
    return k in (Kind.MKDIR, Kind.RMDIR)


def object_name(obj: int, layout: Layout) -> str:
    special = {IDR: "css id IDR", GSTATE: "group lifecycle states", RCU: "RCU read sections"}
    return special.get(obj) or layout.names[obj]
