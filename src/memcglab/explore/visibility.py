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
  reads them; RCU read sections matter when group states do (grace periods);
* atomics (``READ_ONCE``, ``atomic_read``, ``cmpxchg``, ``atomic_inc``) access their slot
  like plain loads and stores do, so a slot two threads reach with them, one writing, is an
  interleaving point; but they are synchronisation, not data races (LKMM: marked accesses
  never race), so the report lists a slot as a data race only if a plain access races.

An exhaustive search starts with nothing visible, records every access, and restarts with
the conflicting objects visible until nothing new turns up (a fixpoint). docs/internals.md
gives the argument; ``--no-por`` makes every operation an interleaving point.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from memcglab.model.layout import GroupState, Layout
from memcglab.runtime.ops import Kind, Op

IDR = -1
GSTATE = -2
RCU = -3
_UNLOCK = -16  # _UNLOCK - slot: the release of the spinlock at slot is an interleaving point


def unlock_point(slot: int) -> int:
    return _UNLOCK - slot


# Op kinds whose accesses this module accounts for. Any other kind (a new op, or one a
# variant makes up) is opaque: the search then gives up the reduction altogether.
KNOWN_KINDS = frozenset({
    Kind.NOTE, Kind.LOAD, Kind.STORE, Kind.LOCK, Kind.UNLOCK, Kind.RCU_LOCK, Kind.RCU_UNLOCK,
    Kind.CSS_GET_NEXT, Kind.TRYGET, Kind.GET, Kind.PUT, Kind.CLAIM, Kind.WALK_START,
    Kind.MKDIR, Kind.RMDIR, Kind.CLEAR_CSS_REFS, Kind.SYNC_RCU_START, Kind.SYNC_RCU_WAIT,
    Kind.FREE_CSS_ID, Kind.CALL_RCU_FREE, Kind.READ_ONCE, Kind.CMPXCHG, Kind.ATOMIC_INC,
    Kind.CSS_NEXT_CHILD, Kind.KILL_CSS, Kind.RELEASE_WAIT, Kind.CSS_RELEASE,
    Kind.CSS_OFFLINE, Kind.PUT_BASE, Kind.CSS_LINK, Kind.CSS_ONLINE, Kind.CSS_ONLINE_TEST,
    Kind.RECLAIM_DONE})
# The removing task's steps (kernel/cgroup.c v3.7 cgroup_rmdir -> cgroup_diput): each is an
# interleaving point of its own, and these are the objects each one touches.
_REMOVAL_WRITES: dict[Kind, tuple[int, ...]] = {
    Kind.SYNC_RCU_START: (RCU,),  # reads every reader's RCU depth, counts them
    Kind.SYNC_RCU_WAIT: (RCU,),  # waits on the readers' count
    Kind.FREE_CSS_ID: (IDR,),  # unpublishes the css id
    Kind.CALL_RCU_FREE: (RCU, GSTATE),  # registers with the readers; may free the group now
}


class AccessSummary:
    """Accesses seen across a whole search, per object.

    Three kinds of access: a *read*, a *write*, and an *add* (css_get / css_tryget /
    css_put that neither fails nor reaches zero: additions commute with one another, but
    not with a read of the count)."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.readers: dict[int, set[int]] = {}
        self.writers: dict[int, set[int]] = {}
        self.locksets: dict[int, frozenset[int]] = {}
        self.acquirers: dict[int, set[int]] = {}
        self.ref_users: dict[int, set[int]] = {}
        self.ref_readers: dict[int, set[int]] = {}
        self.zero_touched: set[int] = set()
        self.plain: set[int] = set()  # objects reached by a plain load or store
        self.opaque: str | None = None  # the first access the reduction cannot account for
        self._ref_slots = frozenset(layout.refcnt)

    def _access(self, obj: int, tid: int, write: bool, held: Iterable[int]) -> None:
        (self.writers if write else self.readers).setdefault(obj, set()).add(tid)
        ls = frozenset(held)
        old = self.locksets.get(obj)
        self.locksets[obj] = ls if old is None else old & ls

    def _slot_access(self, slot: int, tid: int, write: bool, held: Iterable[int],
                     marked: bool = False) -> None:
        """A load or store of any slot, whatever it holds (``marked``: an atomic)."""
        if slot in self._ref_slots:
            # A reference count read or written as memory: it conflicts with every
            # get / tryget / put of another thread, locks or not (those are atomics).
            (self.ref_readers if not write else self.ref_users).setdefault(
                slot, set()).add(tid)
            if write:
                self.zero_touched.add(slot)
            return
        obj = slot_object(slot, self.layout)
        if not marked:
            self.plain.add(obj)
        self._access(obj, tid, write, held)

    def record(self, op: Op, tid: int, held: tuple[int, ...], result: object,
               shared: list[object]) -> None:
        """Note the objects ``op`` touched (called after it was applied)."""
        k = op.kind
        lay = self.layout
        if k is Kind.LOAD:
            self._slot_access(op.a, tid, False, held)
        elif k is Kind.STORE:
            self._slot_access(op.a, tid, True, held)
            if op.a in lay.generation_iter:
                self._access(GSTATE, tid, False, ())
        elif k is Kind.READ_ONCE:
            self._slot_access(op.a, tid, False, held, marked=True)
        elif k is Kind.CMPXCHG or k is Kind.ATOMIC_INC:
            # A failed cmpxchg writes nothing, but whether it fails depends on the order.
            self._slot_access(op.a, tid, True, held, marked=True)
            if op.a in lay.generation_iter:
                self._access(GSTATE, tid, False, ())
        elif k in (Kind.CSS_NEXT_CHILD, Kind.CSS_ONLINE_TEST, Kind.RECLAIM_DONE):
            self._access(GSTATE, tid, False, ())
        elif k is Kind.LOCK:
            self.acquirers.setdefault(op.a, set()).add(tid)
        elif k is Kind.CSS_GET_NEXT:
            self._access(IDR, tid, False, ())
        elif k in (Kind.TRYGET, Kind.GET, Kind.PUT, Kind.RMDIR, Kind.CLEAR_CSS_REFS):
            g = op.a
            slot = lay.refcnt[g]
            self.ref_users.setdefault(slot, set()).add(tid)
            if (result is False or shared[slot] == 0
                    or shared[lay.gstate[g]] != GroupState.ONLINE
                    or k in (Kind.RMDIR, Kind.CLEAR_CSS_REFS)):
                self.zero_touched.add(slot)
                self._access(GSTATE, tid, True, ())
                self._access(IDR, tid, True, ())
        elif k is Kind.MKDIR:
            self._access(GSTATE, tid, True, ())
            self._access(IDR, tid, True, ())
        elif k in (Kind.KILL_CSS, Kind.RELEASE_WAIT, Kind.CSS_RELEASE, Kind.CSS_OFFLINE,
                   Kind.PUT_BASE, Kind.CSS_LINK, Kind.CSS_ONLINE):
            # Always interleaving points (op_objects); their writes are recorded too.
            self._access(GSTATE, tid, True, ())
            if k is Kind.CSS_LINK:
                self._access(IDR, tid, True, ())
        elif k is Kind.CLAIM:
            self._access(GSTATE, tid, False, ())
        elif k in (Kind.RCU_LOCK, Kind.RCU_UNLOCK):
            self._access(RCU, tid, False, ())
        elif k in _REMOVAL_WRITES:
            for obj in _REMOVAL_WRITES[k]:
                self._access(obj, tid, True, ())
        elif k not in KNOWN_KINDS and self.opaque is None:
            self.opaque = f"{k.name} ({op.text or 'no text'})"

    def record_writes(self, op: Op, tid: int, slots: Iterable[int]) -> None:
        """The slots ``op`` actually changed (the system diffs the state around it): each
        is a write of its object, except a get / tryget / put's own count (an addition,
        recorded by :meth:`record`) and the monitors' bookkeeping."""
        lay = self.layout
        own = lay.refcnt[op.a] if op.kind in (Kind.TRYGET, Kind.GET, Kind.PUT) else -1
        monitors = monitor_slots(lay)
        for slot in slots:
            if slot == own or slot in monitors:
                continue
            if slot in self._ref_slots:
                self.ref_users.setdefault(slot, set()).add(tid)
                self.zero_touched.add(slot)
            else:
                self._access(slot_object(slot, lay), tid, True, ())

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
        # A plain load or store of a spinlock's word (spin_is_locked(), say) conflicts with
        # another thread's spin_lock / spin_unlock of it: the word must be seen held, so
        # the release becomes an interleaving point too.
        for s, takers in self.acquirers.items():
            plain = self.readers.get(s, set()) | self.writers.get(s, set())
            if any(t != u for t in plain for u in takers):
                out.update((s, unlock_point(s)))
        # A plain read of a count conflicts with another thread's get / tryget / put.
        for s, readers in self.ref_readers.items():
            if any(r != u for r in readers for u in self.ref_users.get(s, ())):
                out.add(s)
        if GSTATE in out:
            out.add(RCU)
        return frozenset(out)

    def racy_slots(self) -> list[int]:
        """Plain slots with a data race (for the report)."""
        return sorted(o for o in self.conflicting() if o >= 0 and o not in self.acquirers
                      and o not in self.zero_touched and o not in self.ref_readers
                      and o in self.plain)


def slot_object(slot: int, layout: Layout) -> int:
    """The object a plain access of ``slot`` belongs to: lifecycle states and the css id
    machinery (IDR slots, css ids, the id counter) are single objects for the reduction,
    exactly as the cgroup-core operations record them."""
    return _slot_objects(layout).get(slot, slot)


@functools.cache
def monitor_slots(layout: Layout) -> frozenset[int]:
    """Slots that hold the invariant monitors' bookkeeping, not kernel state."""
    return frozenset(s for it in layout.iter_list
                     for s in (it.claims, it.baseline, it.rounds, it.lap))


@functools.cache
def _slot_objects(layout: Layout) -> dict[int, int]:
    out = {s: GSTATE for s in layout.gstate}
    out.update((s, RCU) for s in layout.gp_readers)
    out[layout.release_queue] = GSTATE
    out.update((s, IDR) for s in (*layout.idr, *layout.cssid, layout.next_id))
    return out


def op_objects(op: Op, layout: Layout) -> tuple[int, ...] | None:
    """The objects whose being interleaving points makes ``op`` one (empty: never; None:
    always, for mkdir, rmdir, the removal steps and any kind the reduction does not know)."""
    k = op.kind
    if k is Kind.LOAD or k is Kind.READ_ONCE:
        return (slot_object(op.a, layout),)
    if k is Kind.STORE or k is Kind.CMPXCHG or k is Kind.ATOMIC_INC:
        obj = slot_object(op.a, layout)
        # A generation store also records a round for the monitors from group states.
        return (obj, GSTATE) if op.a in layout.generation_iter else (obj,)
    if k is Kind.LOCK:
        return (op.a,)
    if k is Kind.UNLOCK:
        return (unlock_point(op.a),)
    if k in (Kind.TRYGET, Kind.GET, Kind.PUT):
        return (layout.refcnt[op.a],)
    if k is Kind.CSS_GET_NEXT:
        return (IDR,)
    if k in (Kind.CLAIM, Kind.CSS_NEXT_CHILD, Kind.CSS_ONLINE_TEST, Kind.RECLAIM_DONE):
        return (GSTATE,)
    if k in (Kind.RCU_LOCK, Kind.RCU_UNLOCK):
        return (RCU,)
    if k in (Kind.NOTE, Kind.WALK_START):
        return ()
    return None


def op_visible(op: Op, visible: frozenset[int] | None, layout: Layout) -> bool:
    """Whether ``op`` is an interleaving point given the conflicting objects."""
    if visible is None:  # no reduction: every operation is a point
        return op.kind not in (Kind.NOTE, Kind.WALK_START)
    objs = op_objects(op, layout)
    return objs is None or any(o in visible for o in objs)


def object_name(obj: int, layout: Layout) -> str:
    special = {IDR: "css id IDR", GSTATE: "group lifecycle states", RCU: "RCU read sections"}
    if obj <= _UNLOCK:
        return f"release of {layout.names[_UNLOCK - obj]}"
    return special.get(obj) or layout.names[obj]
