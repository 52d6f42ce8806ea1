"""The machine: applies one :class:`~memcglab.runtime.ops.Op` to shared state.

This is where the cgroup core's semantics live (v3.7 unless said otherwise; read in a v3.7
tree for mm/memcontrol.c and a v3.7.2 stable tree for kernel/cgroup.c, see
docs/kernel-sources.md):

* ``css_tryget()``: kernel/cgroup.c v3.7 ``__css_tryget`` fails once rmdir has removed the
  css (``cgroup_clear_css_refs`` set ``CSS_REMOVED`` and dropped the base reference); until
  then it succeeds (while rmdir's ``CSS_DEACT_BIAS`` is on the count it spins until rmdir
  has decided, so it is atomic here). The root (``CSS_ROOT``) always succeeds.
  ``tryget_fails_offline=False`` gives the later rule (percpu_ref, v3.14+: tryget fails
  only once the count is zero).
* ``css_put()``: see :meth:`Machine._put` for the reference discipline it checks.
* ``css_get_next()``: the ascending IDR scan from a start id for the first published css in
  the root's subtree, root included; one atomic RCU read (a concurrent mkdir or free is
  ordered wholly before or after the scan).
* cgroup creation allocates the lowest free css id (or a monotonic one, see
  :mod:`memcglab.model.hierarchy`).
* removal, v3.7 (memcg sets ``__DEPRECATED_clear_css_refs``), is a sequence of operations of
  the removing task, each its own interleaving point (:mod:`memcglab.kernel.cgroup`
  ``cgroup_rmdir``): ``CLEAR_CSS_REFS`` (enabled only while the base reference is the last
  one: rmdir sleeps on ``cgroup_rmdir_waitq`` and retries otherwise; it marks the css
  removed and drops the base reference, so the count reaches zero), ``SYNC_RCU_START`` /
  ``SYNC_RCU_WAIT`` (``cgroup_diput``'s ``synchronize_rcu()``: the second is enabled only
  once every reader that was inside a read section at the first has left it),
  ``FREE_CSS_ID`` (``__mem_cgroup_free``'s ``free_css_id()``: the css leaves the IDR, its
  id may be reused) and ``CALL_RCU_FREE`` (``call_rcu(free_rcu)``: the machine frees the
  memcg when the readers present at that moment have left, as the RCU callback would).
  Until ``FREE_CSS_ID``, ``css_get_next()`` still finds the removed group and
  ``css_tryget()`` on it fails. (The separate ``memcg->refcnt``, held by swap records and
  by children, is not modelled: nothing here holds it longer, so ``mem_cgroup_put()`` in
  ``mem_cgroup_destroy()`` always frees.)
* ``RMDIR``, the whole removal as one operation (the simulator's admin), and a last
  ``css_put()`` of a group removed with references left (``rmdir_waits_for_refs=False``)
  run the destroy path asynchronously instead: release, then after a grace period
  unpublish the css id, then after a second one free the memcg.

The cgroup core of v5.x-v6.x (``Semantics(release_work=True)``; kernel/cgroup/cgroup.c as
read in a v6.18.y tree, docs/research/current-iterator.md section 2):

* ``css_tryget()`` is ``percpu_ref_tryget()``: it fails only once the count has reached
  zero, offline or not;
* ``KILL_CSS`` (``cgroup_rmdir()`` -> ``kill_css()``, then ``css_killed_work_fn()`` ->
  ``offline_css()``): the group goes offline and its base reference is dropped. The last
  ``css_put()`` (there or in a reclaimer) runs ``css_release()``, which queues
  ``css_release_work_fn`` on ``cgroup_release_wq`` (max_active 1): the release queue slot.
  The kworker thread takes the work in order (``RELEASE_WAIT``), then ``CSS_RELEASE`` sets
  ``CSS_RELEASED`` and unlinks the css from its siblings (``list_del_rcu``), after which the
  memcg's ``css_released`` callback runs as ordinary model code, and ``CALL_RCU_FREE``
  (``queue_rcu_work(css_free_rwork_fn)``) frees it after a grace period, which puts the
  reference the child held on its parent since ``init_and_link_css()`` (so a parent is
  released only after its children are freed);
* ``CSS_NEXT_CHILD``: ``css_next_child(pos, parent)`` is the first child of ``parent``
  still on the sibling list whose serial number (creation order) is above ``pos``'s, or the
  first one for a NULL ``pos``; both branches of the C (``pos->sibling.next`` while ``pos``
  is not ``CSS_RELEASED``, the rescan by ``serial_nr`` once it is) give that child, so one
  RCU read models it. Dereferencing a freed ``pos`` or ``parent`` is a use after free.

Atomics (``READ_ONCE``, ``CMPXCHG``, ``ATOMIC_INC``) are single steps. A successful
``cmpxchg`` into an iterator's position is what hands a group out in the v6.x iterator, so
the lap monitor lives there: between two resets of the position to NULL no group may be
stored into it twice (``unique_per_lap``).

It also runs the monitors: it sees every group handed out to reclaim (``CLAIM``) and every
store to an iterator's generation, and reports violations of the invariants.

Thread components (per-thread machine state, part of the explored state) are tuples
``(lsid, held_locks, rcu_depth, book, walk_len)``; see :data:`ThreadComp`. ``book`` is a
sorted tuple of ints: one ``~g`` (negative) per css reference the thread holds on group
``g``, then ``(g << 2) | tag`` for each grace period that waits for the thread to leave its
read section (tags ``GP_UNPUBLISH``, ``GP_FREE``, ``GP_SYNC``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from memcglab.errors import InternalError
from memcglab.model.layout import NULL, GroupState, IterSlots, Layout, ptr_memcg
from memcglab.runtime.ops import Gen, Kind, Op

# css_next_child() still finds them (LINKED: v3.10-v3.13 groups not yet through css_online)
_LIVE = (GroupState.ONLINE, GroupState.OFFLINE, GroupState.LINKED)

ThreadComp = tuple[int, tuple[int, ...], int, tuple[int, ...], int]
LSID: Final = 0
HELD: Final = 1
RCU: Final = 2
PENDING: Final = 3  # the thread's book: grace periods waiting for it, references it holds
WALK_LEN: Final = 4

# Book entries: ``~g`` for a css reference held on g (negative, so they sort first), and
# ``(g << 2) | tag`` for a grace period waiting for this reader, with these tags:
GP_UNPUBLISH: Final = 0  # the asynchronous destroy path unpublishes g's css id after it
GP_FREE: Final = 1  # the RCU-deferred free of g's memcg waits for it
GP_SYNC: Final = 2  # a synchronize_rcu() for g's removal waits for it
_TAG: Final = 3

# Invariant names (convention C10). Each violation carries one of these.
UNIQUE_CLAIM = "unique_claim"
ROUND_COMPLETE = "round_complete"
TERMINATION = "termination"
REFERENCE_SAFETY = "reference_safety"
NO_DEADLOCK = "no_deadlock"
GENERATION_MONOTONIC = "generation_monotonic"
UNIQUE_PER_LAP = "unique_per_lap"
NO_PREMATURE_OOM = "no_premature_oom"

PROPERTY_DOCS: dict[str, str] = {
    UNIQUE_CLAIM: "within one generation of one iterator no group is handed out twice",
    ROUND_COMPLETE: "a completed round handed out every group online throughout it",
    TERMINATION: "every walk and every reclaimer ends: no livelock (fair non-progress "
                 "cycle), no run longer than max_steps",
    REFERENCE_SAFETY: "no use of a released or freed group; every css reference put",
    NO_DEADLOCK: "some thread can always run until all have finished",
    GENERATION_MONOTONIC: "an iterator's generation only ever grows by one",
    UNIQUE_PER_LAP: "between two consecutive resets of an iterator's position to NULL, no "
                    "group is stored into it twice (cmpxchg-based iterators: a successful "
                    "cmpxchg is the hand-out)",
    NO_PREMATURE_OOM: "a reclaim call does not give up with nothing reclaimed while a group "
                      "under its target has pages to reclaim (a false OOM; configurations "
                      "with [reclaim] empty groups, v3.9+ callers)",
}


@dataclass(frozen=True, slots=True)
class Violation:
    """A broken invariant, found while applying an op (or at the end of a run)."""

    prop: str
    message: str
    overrun: bool = False  # a block of one thread ran past the step bound (the explorer's)


@dataclass(frozen=True, slots=True)
class Semantics:
    """Era-dependent rules of the cgroup core that the machine applies."""

    tryget_fails_offline: bool = True
    rmdir_waits_for_refs: bool = True  # v3.7 cgroup_clear_css_refs(); see module docstring
    walk_bound: int = 0  # 0 = derived: 2 * groups + 2 hand-outs per walk
    # Every css reference is put by the thread that took it (true of the built-in variants).
    # A variant whose shared iterator keeps a reference that another thread drops (the
    # pointer-caching design of kernel_iterators.md 2.c) sets this to False; a put below an
    # online group's base reference is still caught then. See Machine._put.
    refs_owned_by_threads: bool = True
    # v5.x-v6.x cgroup core: the last css_put() queues css_release_work_fn on
    # cgroup_release_wq (the kworker thread runs it); see the module docstring.
    release_work: bool = False


class Machine:
    """Applies ops to a list of slot values and a list of thread components."""

    _static_ = True

    def __init__(self, layout: Layout, semantics: Semantics,
                 serial: tuple[int, ...] | None = None,
                 properties: frozenset[str] | None = None) -> None:
        self.layout = layout
        self.sem = semantics
        # The invariants checked: the monitors of the others keep no state and report
        # nothing (a smaller state space when only one property is to be proved).
        self.props = frozenset(PROPERTY_DOCS) if properties is None else properties
        self._claims_on = bool({UNIQUE_CLAIM, ROUND_COMPLETE} & self.props)
        self._rounds_on = ROUND_COMPLETE in self.props
        self._laps_on = UNIQUE_PER_LAP in self.props
        self._walks_on = TERMINATION in self.props
        # v6.x generations: atomic_read() yields Gen values (see memcglab.runtime.ops.Gen).
        self.gen_slots = frozenset(layout.generation_iter) if layout.per_node else frozenset()
        # Creation order of the groups (css->serial_nr): the order of sibling lists. The
        # groups present at the start come in index order, then the admin's mkdirs.
        n = layout.topology.size
        self.serial = serial if serial is not None else tuple(range(n))
        by_serial = sorted(range(n), key=lambda g: self.serial[g])
        kids: list[list[int]] = [[] for _ in range(n)]
        for c in by_serial:
            if (p := layout.topology.parent(c)) is not None:
                kids[p].append(c)
        self._children: tuple[tuple[int, ...], ...] = tuple(tuple(k) for k in kids)
        # Their serials, for a binary search of the next sibling (a flat tree of thousands
        # of groups would otherwise cost a scan of the sibling list per step of a walk).
        self._child_serials = tuple(tuple(self.serial[c] for c in k) for k in kids)
        self.walk_bound = semantics.walk_bound or 2 * layout.topology.size + 2
        self.check_rcu = True  # off only when the kernel context elides RCU sections
        # Each thread's book of the references it holds (for "a reference put twice"). The
        # simulator, which counts instead of checking, turns it off: it costs every
        # tryget, get and put.
        self.track_refs = True
        self._dispatch: dict[Kind, Callable[[list[Any], list[ThreadComp], int, Op],
                                            tuple[Any, Violation | None]]] = {
            Kind.NOTE: self._note,
            Kind.LOAD: self._load,
            Kind.STORE: self._store,
            Kind.LOCK: self._lock,
            Kind.UNLOCK: self._unlock,
            Kind.RCU_LOCK: self._rcu_lock,
            Kind.RCU_UNLOCK: self._rcu_unlock,
            Kind.CSS_GET_NEXT: self._css_get_next,
            Kind.TRYGET: self._tryget,
            Kind.GET: self._get,
            Kind.PUT: self._put,
            Kind.CLAIM: self._claim,
            Kind.WALK_START: self._walk_start,
            Kind.MKDIR: self._mkdir,
            Kind.RMDIR: self._rmdir,
            Kind.CLEAR_CSS_REFS: self._clear_css_refs,
            Kind.SYNC_RCU_START: self._sync_rcu_start,
            Kind.SYNC_RCU_WAIT: self._sync_rcu_wait,
            Kind.FREE_CSS_ID: self._free_css_id,
            Kind.CALL_RCU_FREE: self._call_rcu_free,
            Kind.READ_ONCE: self._read_once,
            Kind.CMPXCHG: self._cmpxchg,
            Kind.ATOMIC_INC: self._atomic_inc,
            Kind.CSS_NEXT_CHILD: self._css_next_child,
            Kind.KILL_CSS: self._kill_css,
            Kind.RELEASE_WAIT: self._release_wait,
            Kind.CSS_RELEASE: self._css_release,
            Kind.CSS_OFFLINE: self._css_offline,
            Kind.PUT_BASE: self._put_base,
            Kind.CSS_LINK: self._css_link,
            Kind.CSS_ONLINE: self._css_online,
            Kind.CSS_ONLINE_TEST: self._css_online_test,
            Kind.RECLAIM_DONE: self._reclaim_done,
        }
        # Groups with nothing to reclaim ([reclaim] empty): set by the system.
        self.empty: frozenset[int] = frozenset()

    # -- set-up -------------------------------------------------------------------------

    def initial_shared(self) -> list[Any]:
        lay = self.layout
        shared = self._create_initial(list(lay.initial))
        for it in lay.iter_list:
            shared[it.baseline] = self._online_under(shared, it.key.root)
        return shared

    def _create_initial(self, shared: list[Any]) -> list[Any]:
        # Groups present at the start are created in order into an empty IDR: ids 1, 2, ...
        created = 0
        for g, spec in enumerate(self.layout.topology.groups):
            if spec.initially_present:
                created += 1
                self._create(shared, g, hint=created)
        return shared

    def enabled(self, shared: list[Any] | tuple[Any, ...], op: Op) -> bool:
        """Whether ``op`` can run now: a held spinlock blocks; so does a v3.7 rmdir while
        anyone but the cgroup itself holds a css reference, and a ``synchronize_rcu()``
        while a reader it waits for is still inside its read section."""
        k = op.kind
        if k is Kind.LOCK:
            return not shared[op.a]
        if k is Kind.CLEAR_CSS_REFS or k is Kind.RMDIR:
            return not self.sem.rmdir_waits_for_refs or shared[self.layout.refcnt[op.a]] == 1
        if k is Kind.SYNC_RCU_WAIT:
            return not shared[self.layout.gp_readers[op.a]]
        if k is Kind.RELEASE_WAIT:
            return op.a in shared[self.layout.release_queue]
        return True

    @property
    def kinds(self) -> frozenset[Kind]:
        """The operation kinds this machine applies."""
        return frozenset(self._dispatch)

    def apply(self, shared: list[Any], threads: list[ThreadComp], tid: int,
              op: Op) -> tuple[Any, Violation | None]:
        return self._dispatch[op.kind](shared, threads, tid, op)

    def end_checks(self, shared: tuple[Any, ...] | list[Any],
                   threads: tuple[ThreadComp, ...] | list[ThreadComp]) -> Violation | None:
        """Checks made once every thread has finished: references balanced, locks free
        (those of the properties checked)."""
        return next((v for v in self._end_checks(shared, threads) if v.prop in self.props),
                    None)

    def _end_checks(self, shared: tuple[Any, ...] | list[Any],
                    threads: tuple[ThreadComp, ...] | list[ThreadComp]) -> Iterator[Violation]:
        lay = self.layout
        for tid, t in enumerate(threads):
            if t[HELD]:
                yield Violation(TERMINATION, f"CPU{tid} finished holding a lock")
            if t[RCU]:
                yield Violation(REFERENCE_SAFETY, f"CPU{tid} finished inside rcu_read_lock()")
        for it in lay.iter_list:
            for gen, owed in sorted(shared[it.rounds], key=lambda r: r[0]):
                claimed = {g for (cgen, g) in shared[it.claims] if cgen == gen}
                missing = sorted(owed - claimed)
                if missing:
                    names = ", ".join(self._name(g) for g in missing)
                    yield Violation(ROUND_COMPLETE,
                                    f"round {gen} of {self._iter_name(it)} ended without "
                                    f"visiting {names}")
        for g in range(lay.topology.size):
            state = shared[lay.gstate[g]]
            # v6.x: each child not yet freed holds a reference on its parent.
            kids = sum(1 for c in self._children[g] if shared[lay.gstate[c]] in (
                GroupState.ONLINE, GroupState.OFFLINE, GroupState.RELEASED)
            ) if self.sem.release_work else 0
            ref = shared[lay.refcnt[g]] - kids
            if state == GroupState.ONLINE and not self.sem.refs_owned_by_threads:
                # An iterator that owns a reference on the group its cursor points to
                # (strong cursor, cached pointer) legitimately keeps it on a live group;
                # on a removed one it is the leak reported below.
                ref -= sum(1 for s in lay.pointer_slots if shared[s] == g + 1)
            name = lay.topology.name(g)
            if state == GroupState.ONLINE and ref != 1:
                yield Violation(REFERENCE_SAFETY,
                                f"css reference leak: {name} ends with refcount {ref}, "
                                "expected 1 (its base reference)")
            if state == GroupState.OFFLINE and ref != 0:
                yield Violation(REFERENCE_SAFETY,
                                f"css reference leak: removed group {name} still has "
                                f"{ref} references, so it is never freed")

    # -- helpers ------------------------------------------------------------------------

    def _online_under(self, shared: list[Any], root: int) -> frozenset[int]:
        lay = self.layout
        return frozenset(g for g in lay.topology.subtree(root)
                         if shared[lay.gstate[g]] == GroupState.ONLINE)

    def _create(self, shared: list[Any], g: int, hint: int = 1) -> None:
        """Create ``g`` with the lowest free css id at or above ``hint`` (callers that know
        every id below ``hint`` is taken pass it to skip the scan)."""
        lay = self.layout
        if lay.topology.id_policy == "monotonic":
            cid = shared[lay.next_id]
            shared[lay.next_id] = cid + 1
        else:
            cid = next((i for i in range(hint, lay.max_id + 1) if shared[lay.idr[i]] < 0), 0)
        if not 1 <= cid <= lay.max_id or shared[lay.idr[cid]] >= 0:
            raise InternalError(f"no free css id for {lay.topology.name(g)}")
        shared[lay.idr[cid]] = g
        shared[lay.cssid[g]] = cid
        shared[lay.refcnt[g]] = 1
        shared[lay.gstate[g]] = GroupState.ONLINE
        parent = lay.topology.parent(g)
        if self.sem.release_work and parent is not None:
            # v6.x init_and_link_css(): css_get(css->parent), put by css_free_rwork_fn()
            # once the child is freed: a parent is never released before its children.
            shared[lay.refcnt[parent]] += 1

    def _release(self, shared: list[Any], threads: list[ThreadComp], g: int) -> None:
        """The asynchronous destroy path (``RMDIR`` in one step, or the last ``css_put()``
        of a group removed with references left): after a grace period the css id is
        unpublished, after a second one the memcg is freed. Until the first ends,
        ``css_get_next()`` still finds the group and ``css_tryget()`` on it fails."""
        shared[self.layout.gstate[g]] = GroupState.RELEASED
        self._after_grace_period(shared, threads, g << 2 | GP_UNPUBLISH)

    def _after_grace_period(self, shared: list[Any], threads: list[ThreadComp],
                            entry: int) -> None:
        """Run the stage ``entry`` (a ``GP_UNPUBLISH`` or ``GP_FREE`` book entry) once every
        current RCU reader has left its read section; at once if there is none."""
        waiting = False
        for i, t in enumerate(threads):
            if t[RCU]:
                waiting = True
                threads[i] = (t[0], t[1], t[2], tuple(sorted((*t[PENDING], entry))), t[4])
        if not waiting:
            self._grace_period_over(shared, threads, entry)

    def _grace_period_over(self, shared: list[Any], threads: list[ThreadComp],
                           entry: int) -> None:
        g = entry >> 2
        if entry & _TAG == GP_UNPUBLISH:
            self._unpublish(shared, g)
            self._after_grace_period(shared, threads, g << 2 | GP_FREE)
        else:
            self._free(shared, g)
            parent = self.layout.topology.parent(g)
            if self.sem.release_work and parent is not None:
                self._put_parent(shared, threads, parent)

    def _put_parent(self, shared: list[Any], threads: list[ThreadComp], parent: int) -> None:
        """v6.x ``css_free_rwork_fn()``: ``css_put(css->parent)`` once the child is freed."""
        ref = shared[self.layout.refcnt[parent]] - 1
        shared[self.layout.refcnt[parent]] = ref
        if ref == 0:
            self._last_put(shared, threads, parent)

    def _unpublish(self, shared: list[Any], g: int) -> int:
        """kernel/cgroup.c v3.7 ``free_css_id()``: the id leaves the IDR (``id->css``
        cleared, ``idr_remove``) and may be reused from now on. Returns the id. The group's
        css id slot keeps the id it had: v3.7 clears ``css->id`` too, but nothing reads it
        after (``css_id(prev)`` is read only with a reference held)."""
        lay = self.layout
        cid: int = shared[lay.cssid[g]]
        if cid and shared[lay.idr[cid]] == g:
            shared[lay.idr[cid]] = -1
        return cid

    def _free(self, shared: list[Any], g: int) -> None:
        shared[self.layout.gstate[g]] = GroupState.FREED

    def _name(self, g: int) -> str:
        return self.layout.topology.name(g)

    # -- op semantics ---------------------------------------------------------------------

    def _note(self, shared: list[Any], threads: list[ThreadComp], tid: int,
              op: Op) -> tuple[Any, Violation | None]:
        return None, None

    def _load(self, shared: list[Any], threads: list[ThreadComp], tid: int,
              op: Op) -> tuple[Any, Violation | None]:
        return shared[op.a], None

    def _read_once(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                   op: Op) -> tuple[Any, Violation | None]:
        v = shared[op.a]
        return (Gen(v) if op.a in self.gen_slots else v), None

    def _store(self, shared: list[Any], threads: list[ThreadComp], tid: int,
               op: Op) -> tuple[Any, Violation | None]:
        slot, new = op.a, op.b
        it = self.layout.generation_iter.get(slot)
        violation = None
        if it is not None:
            violation = self._generation_store(shared, it, shared[slot], new)
        shared[slot] = new
        return None, violation

    def _generation_store(self, shared: list[Any], it: IterSlots, old: int,
                          new: int) -> Violation | None:
        if new != old + 1 and GENERATION_MONOTONIC in self.props:
            return Violation(GENERATION_MONOTONIC,
                             f"generation of {self._iter_name(it)} went from {old} to {new}"
                             " (a lost or out-of-order update)")
        if not self._rounds_on:
            return None
        # The round's hand-outs may still be in flight (returned by mem_cgroup_iter but not
        # yet reclaimed), so what the round owes is recorded now and checked at the end.
        still_online = self._online_under(shared, it.key.root)
        owed = shared[it.baseline] & still_online
        shared[it.rounds] = shared[it.rounds] | {(old, owed)}
        shared[it.baseline] = still_online
        return None

    def _iter_name(self, it: IterSlots) -> str:
        k = it.key
        if self.layout.per_node or self.layout.node_priority:
            return it.label
        return f"iter[{self._name(k.root)}, {self.layout.zones[k.zone]}, prio {k.priority}]"

    def _lock(self, shared: list[Any], threads: list[ThreadComp], tid: int,
              op: Op) -> tuple[Any, Violation | None]:
        if shared[op.a]:
            raise InternalError("LOCK applied while held (the scheduler must not pick it)")
        shared[op.a] = 1
        t = threads[tid]
        threads[tid] = (t[0], tuple(sorted((*t[HELD], op.a))), t[2], t[3], t[4])
        return None, None

    def _unlock(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                op: Op) -> tuple[Any, Violation | None]:
        t = threads[tid]
        if op.a not in t[HELD]:
            return None, Violation(REFERENCE_SAFETY, f"CPU{tid} unlocks a lock it does not hold")
        shared[op.a] = 0
        threads[tid] = (t[0], tuple(x for x in t[HELD] if x != op.a), t[2], t[3], t[4])
        return None, None

    def _rcu_lock(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                  op: Op) -> tuple[Any, Violation | None]:
        t = threads[tid]
        threads[tid] = (t[0], t[1], t[2] + 1, t[3], t[4])
        return None, None

    def _rcu_unlock(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                    op: Op) -> tuple[Any, Violation | None]:
        t = threads[tid]
        if t[RCU] <= 0:
            return None, Violation(REFERENCE_SAFETY, f"CPU{tid}: unbalanced rcu_read_unlock()")
        depth = t[RCU] - 1
        book = t[PENDING]
        if depth or not book or book[-1] < 0:  # nested, or no grace period waits for it
            threads[tid] = (t[0], t[1], depth, book, t[4])
            return None, None
        # The outermost unlock: this reader no longer holds up any grace period.
        threads[tid] = (t[0], t[1], depth, tuple(e for e in book if e < 0), t[4])
        for entry in book:
            if entry < 0:
                continue  # a reference it holds
            tag = entry & _TAG
            if tag == GP_SYNC:  # one reader fewer for that synchronize_rcu() to wait for
                shared[self.layout.gp_readers[entry >> 2]] -= 1
            elif not any(entry in u[PENDING] for u in threads):
                # The grace period ends when no reader that could see the group remains.
                self._grace_period_over(shared, threads, entry)
        return None, None

    def _css_get_next(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                      op: Op) -> tuple[Any, Violation | None]:
        lay = self.layout
        if not threads[tid][RCU] and self.check_rcu:
            return None, Violation(REFERENCE_SAFETY,
                                   f"CPU{tid}: css_get_next() outside rcu_read_lock()")
        start, root = op.a, op.b
        topo = lay.topology
        for cid in range(max(start, 1), lay.max_id + 1):
            g = shared[lay.idr[cid]]
            if g >= 0 and topo.is_descendant(g, root):
                return (g, cid), None
        return None, None

    def _tryget(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                op: Op) -> tuple[Any, Violation | None]:
        lay, g = self.layout, op.a
        state = shared[lay.gstate[g]]
        if state == GroupState.FREED:
            return False, Violation(REFERENCE_SAFETY,
                                    f"use after free: css_tryget({self._name(g)}) on a freed "
                                    "memcg")
        if g == 0:
            return True, None  # CSS_ROOT: the root is never refcounted
        if state == GroupState.RELEASED or shared[lay.refcnt[g]] == 0 or (
                state == GroupState.OFFLINE and self.sem.tryget_fails_offline):
            return False, None  # percpu_ref_tryget(): fails once the count is zero
        shared[lay.refcnt[g]] += 1
        if self.track_refs:
            self._hold(threads, tid, g)
        return True, None

    def _get(self, shared: list[Any], threads: list[ThreadComp], tid: int,
             op: Op) -> tuple[Any, Violation | None]:
        lay, g = self.layout, op.a
        state = shared[lay.gstate[g]]
        if state in (GroupState.RELEASED, GroupState.FREED):
            return None, Violation(REFERENCE_SAFETY,
                                   f"css_get({self._name(g)}) on a {state.name.lower()} memcg")
        if g and shared[lay.refcnt[g]] == 0:
            return None, Violation(REFERENCE_SAFETY,
                                   f"css_get({self._name(g)}) on a memcg whose count already "
                                   "reached zero (its release is under way)")
        if g:
            shared[lay.refcnt[g]] += 1
            if self.track_refs:
                self._hold(threads, tid, g)
        return None, None

    @staticmethod
    def _hold(threads: list[ThreadComp], tid: int, g: int) -> None:
        t = threads[tid]
        book = t[PENDING]
        threads[tid] = (t[0], t[1], t[2], tuple(sorted((*book, ~g))) if book else (~g,),
                        t[4])

    def _put(self, shared: list[Any], threads: list[ThreadComp], tid: int,
             op: Op) -> tuple[Any, Violation | None]:
        """``css_put()``, and the reference discipline it must keep.

        A reference put twice is a reference_safety violation in any of three forms:

        * the group is already released or freed: the put touches a dead css;
        * the group is online and the put takes its count below 1: it drops the base
          reference, which belongs to the cgroup itself until rmdir (kernel/cgroup.c v3.7
          ``init_cgroup_css`` sets it, ``cgroup_clear_css_refs`` drops it). The count then
          no longer covers the reclaimer that still uses the group, and a later rmdir would
          find nothing to wait for;
        * the putting thread holds no reference on the group (per-thread count of its
          successful trygets and gets minus its puts). The count may stay at or above 1 on
          another thread's reference, but that thread is walking with a reference that no
          longer exists: a concurrent rmdir (``CLEAR_CSS_REFS`` waits only for the count)
          would remove and free the group under it. This catches the bug where it happens,
          not only in runs that also remove the group. ``refs_owned_by_threads=False``
          (a variant that hands references over through shared state) turns this form off.
        """
        lay, g = self.layout, op.a
        if g == 0:
            return None, None  # CSS_ROOT: never refcounted, css_put() is a no-op
        state = shared[lay.gstate[g]]
        if state in (GroupState.RELEASED, GroupState.FREED):
            return None, Violation(REFERENCE_SAFETY,
                                   f"css_put({self._name(g)}) on a {state.name.lower()} "
                                   "memcg (a reference put twice)")
        ref = shared[lay.refcnt[g]] - 1
        shared[lay.refcnt[g]] = ref
        held = True
        if self.track_refs:
            t = threads[tid]
            book = t[PENDING]
            held = ~g in book
            if held:
                i = book.index(~g)
                threads[tid] = (t[0], t[1], t[2], book[:i] + book[i + 1:], t[4])
        if state in (GroupState.ONLINE, GroupState.LINKED) and ref < 1:
            return None, Violation(REFERENCE_SAFETY,
                                   f"css_put({self._name(g)}) drops the base reference of "
                                   "an online group: a reference put twice")
        if not held and self.sem.refs_owned_by_threads:
            name = self._name(g)
            return None, Violation(REFERENCE_SAFETY,
                                   f"css_put({name}) by CPU{tid}, which holds no reference "
                                   f"on {name}: a reference put twice")
        if ref == 0:
            self._last_put(shared, threads, g)
        return None, None

    def _last_put(self, shared: list[Any], threads: list[ThreadComp], g: int) -> None:
        """The count of a removed group reached zero: v6.x ``css_release()`` queues the
        release work for the kworker; before, the machine runs the destroy path itself."""
        if self.sem.release_work:
            q = self.layout.release_queue
            shared[q] = (*shared[q], g)
        else:
            self._release(shared, threads, g)

    def _claim(self, shared: list[Any], threads: list[ThreadComp], tid: int,
               op: Op) -> tuple[Any, Violation | None]:
        lay = self.layout
        it: IterSlots = op.a
        gen, g, shared_walk = op.b
        t = threads[tid]
        walk_len = t[WALK_LEN] + 1 if self._walks_on else 0
        if walk_len:
            threads[tid] = (t[0], t[1], t[2], t[3], walk_len)
        state = shared[lay.gstate[g]]
        if state in (GroupState.RELEASED, GroupState.FREED):
            return None, Violation(REFERENCE_SAFETY,
                                   f"CPU{tid} reclaims {self._name(g)}, a "
                                   f"{state.name.lower()} memcg")
        if state == GroupState.LINKED:
            return None, Violation(REFERENCE_SAFETY,
                                   f"CPU{tid} reclaims {self._name(g)} before css_online() "
                                   "initialised it (a group only linked into the tree)")
        if shared_walk and self._claims_on:
            claims = shared[it.claims]
            if (gen, g) in claims and UNIQUE_CLAIM in self.props:
                return None, Violation(UNIQUE_CLAIM,
                                       f"{self._name(g)} handed out twice in generation {gen} "
                                       f"of {self._iter_name(it)}")
            shared[it.claims] = claims | {(gen, g)}
        # The walk bound holds for every walk, whatever else is monitored (a walk that
        # hands out its root for ever, checked for termination alone, must not run on
        # until max_steps).
        if walk_len > self.walk_bound:
            return None, Violation(TERMINATION,
                                   f"CPU{tid}'s walk handed out {walk_len} groups, more than "
                                   f"the bound {self.walk_bound}")
        return None, None

    def _walk_start(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                    op: Op) -> tuple[Any, Violation | None]:
        t = threads[tid]
        threads[tid] = (t[0], t[1], t[2], t[3], 0)
        return None, None

    def _mkdir(self, shared: list[Any], threads: list[ThreadComp], tid: int,
               op: Op) -> tuple[Any, Violation | None]:
        g = op.a
        if shared[self.layout.gstate[g]] != GroupState.ABSENT:
            raise InternalError(f"mkdir of existing group {self._name(g)}")
        self._create(shared, g)
        return shared[self.layout.cssid[g]], None

    def _rmdir(self, shared: list[Any], threads: list[ThreadComp], tid: int,
               op: Op) -> tuple[Any, Violation | None]:
        """The whole removal in one operation (the simulator's admin): the base reference
        dropped as ``cgroup_clear_css_refs()`` does, the rest of the destroy path left to
        the machine (:meth:`_release`)."""
        self._clear_css_refs(shared, threads, tid, op)
        return None, None

    def _clear_css_refs(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                        op: Op) -> tuple[Any, Violation | None]:
        """kernel/cgroup.c v3.7 ``cgroup_clear_css_refs()`` (from ``cgroup_rmdir()``).

        Enabled (v3.7) only while the base reference is the last one; then ``CSS_REMOVED``
        is set (every later ``css_tryget()`` fails) and ``css_put()`` drops the base
        reference, so the count reaches zero in this step and ``__css_put`` neither wakes
        anybody nor schedules work (``CSS_CLEAR_CSS_REFS``). Returns True: the removing task
        itself goes on to ``cgroup_diput()`` (from ``vfs_rmdir()``'s ``d_delete()``, see
        ``kernel.cgroup.cgroup_rmdir``). Under ``rmdir_waits_for_refs=False`` references
        may remain; it returns False then, and the last ``css_put()`` starts the
        asynchronous destroy path.
        """
        lay, g = self.layout, op.a
        if shared[lay.gstate[g]] != GroupState.ONLINE:
            raise InternalError(f"rmdir of group {self._name(g)} that is not online")
        if not self.enabled(shared, op):
            raise InternalError(f"rmdir of {self._name(g)} applied while references are held "
                                "(the scheduler must not pick it)")
        shared[lay.gstate[g]] = GroupState.OFFLINE
        ref = shared[lay.refcnt[g]] - 1
        shared[lay.refcnt[g]] = ref
        if ref:
            return False, None
        if op.kind is Kind.RMDIR:
            self._release(shared, threads, g)
        else:
            shared[lay.gstate[g]] = GroupState.RELEASED
        return True, None

    def _sync_rcu_start(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                        op: Op) -> tuple[Any, Violation | None]:
        """``synchronize_rcu()`` begins: it will return once every reader inside a read
        section now has left it (readers that enter later are not waited for)."""
        g = op.a
        if threads[tid][RCU]:
            return None, Violation(NO_DEADLOCK, f"CPU{tid} calls synchronize_rcu() inside "
                                                "rcu_read_lock()")
        entry = g << 2 | GP_SYNC
        readers = 0
        for i, t in enumerate(threads):
            if t[RCU]:
                readers += 1
                threads[i] = (t[0], t[1], t[2], tuple(sorted((*t[PENDING], entry))), t[4])
        shared[self.layout.gp_readers[g]] = readers
        return readers, None

    def _sync_rcu_wait(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                       op: Op) -> tuple[Any, Violation | None]:
        if not self.enabled(shared, op):
            raise InternalError("synchronize_rcu() returned while readers it waits for are "
                                "inside (the scheduler must not pick it)")
        return None, None

    def _free_css_id(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                     op: Op) -> tuple[Any, Violation | None]:
        g = op.a
        if shared[self.layout.gstate[g]] != GroupState.RELEASED:
            raise InternalError(f"free_css_id() of {self._name(g)}, which is not released")
        return self._unpublish(shared, g), None

    def _call_rcu_free(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                       op: Op) -> tuple[Any, Violation | None]:
        """``call_rcu(&memcg->rcu_freeing, free_rcu)``: the memcg is freed (``free_work``,
        ``kfree``) once every reader inside a read section now has left it."""
        self._after_grace_period(shared, threads, op.a << 2 | GP_FREE)
        return None, None

    # -- atomics ---------------------------------------------------------------------------

    def _cmpxchg(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                 op: Op) -> tuple[Any, Violation | None]:
        slot = op.a
        old, new = op.b
        cur = shared[slot]
        if cur != old:
            return cur, None
        violation = None
        it = self.layout.generation_iter.get(slot)
        if it is not None:
            violation = self._generation_store(shared, it, cur, new)
        shared[slot] = new
        it = self.layout.position_iter.get(slot)
        if it is not None and self._laps_on:
            violation = violation or self._lap_store(shared, it, new)
        return cur, violation

    def _lap_store(self, shared: list[Any], it: IterSlots, new: int) -> Violation | None:
        """The lap monitor: a store of NULL ends the lap; a group stored twice in one lap
        was handed out twice between two resets of the position."""
        if new == NULL:
            shared[it.lap] = frozenset()
            return None
        lap = shared[it.lap]
        if new in lap:
            g = ptr_memcg(new)
            name = self._name(g) if g is not None else "NULL"
            return Violation(UNIQUE_PER_LAP,
                             f"{name} handed out twice in one lap of {self._iter_name(it)} "
                             "(no reset of the position to NULL in between)")
        shared[it.lap] = lap | {new}
        return None

    def _atomic_inc(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                    op: Op) -> tuple[Any, Violation | None]:
        slot = op.a
        old = shared[slot]
        violation = None
        it = self.layout.generation_iter.get(slot)
        if it is not None:
            violation = self._generation_store(shared, it, old, old + 1)
        shared[slot] = old + 1
        return None, violation

    # -- the cgroup core of v5.x-v6.x ---------------------------------------------------------

    def _css_next_child(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                        op: Op) -> tuple[Any, Violation | None]:
        """``css_next_child(pos, parent)`` (kernel/cgroup/cgroup.c v6.18), one RCU read."""
        lay = self.layout
        pos, parent = op.a, op.b
        if not threads[tid][RCU] and self.check_rcu:
            return None, Violation(REFERENCE_SAFETY,
                                   f"CPU{tid}: css_next_child() outside rcu_read_lock()")
        for g in (pos, parent):
            if g is not None and shared[lay.gstate[g]] == GroupState.FREED:
                return None, Violation(REFERENCE_SAFETY,
                                       f"use after free: css_next_child() dereferences "
                                       f"{self._name(g)}, a freed memcg")
        return self._next_child(shared, pos, parent), None

    def _next_child(self, shared: list[Any], pos: int | None, parent: int) -> int | None:
        """The first child of ``parent`` created after ``pos`` (the first for None) that is
        not released: what ``css_next_child()`` returns, without its checks."""
        after = -1 if pos is None else self.serial[pos]
        children = self._children[parent]
        gstate = self.layout.gstate
        for i in range(bisect_right(self._child_serials[parent], after), len(children)):
            c = children[i]
            if shared[gstate[c]] in _LIVE:
                return c
        return None

    def _kill_css(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                  op: Op) -> tuple[Any, Violation | None]:
        """``kill_css()`` and ``css_killed_work_fn()`` -> ``offline_css()``: the group goes
        offline and its base reference is dropped (``percpu_ref_kill_and_confirm``)."""
        lay, g = self.layout, op.a
        if shared[lay.gstate[g]] != GroupState.ONLINE:
            raise InternalError(f"rmdir of group {self._name(g)} that is not online")
        shared[lay.gstate[g]] = GroupState.OFFLINE
        ref = shared[lay.refcnt[g]] - 1
        shared[lay.refcnt[g]] = ref
        if ref == 0:
            self._last_put(shared, threads, g)
        return None, None

    def _css_offline(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                     op: Op) -> tuple[Any, Violation | None]:
        """v3.10-v3.18 removal, first step (kernel/cgroup.c ``cgroup_destroy_locked()`` ->
        ``kill_css()``): the css is dying (``css_tryget()`` fails on it from now on under
        ``tryget_fails_offline``); the reference the kill keeps is dropped by ``PUT_BASE``
        after ``ss->css_offline()`` has run."""
        lay, g = self.layout, op.a
        if shared[lay.gstate[g]] != GroupState.ONLINE:
            raise InternalError(f"rmdir of group {self._name(g)} that is not online")
        shared[lay.gstate[g]] = GroupState.OFFLINE
        return None, None

    def _put_base(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                  op: Op) -> tuple[Any, Violation | None]:
        lay, g = self.layout, op.a
        if shared[lay.gstate[g]] != GroupState.OFFLINE:
            raise InternalError(f"base reference of {self._name(g)} put before its kill")
        ref = shared[lay.refcnt[g]] - 1
        shared[lay.refcnt[g]] = ref
        if ref == 0:
            self._last_put(shared, threads, g)
        return None, None

    def _reclaim_done(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                      op: Op) -> tuple[Any, Violation | None]:
        """The premature-OOM monitor: a call that gives up with nothing reclaimed while a
        live group under its target has pages (is not one of the empty groups)."""
        target, reclaimed = op.a, op.b
        if reclaimed or NO_PREMATURE_OOM not in self.props:
            return None, None
        lay = self.layout
        root = 0 if target is None else target
        full = [g for g in lay.topology.subtree(root) if g not in self.empty
                and shared[lay.gstate[g]] in (GroupState.ONLINE, GroupState.OFFLINE)]
        if not full:
            return None, None
        return None, Violation(NO_PREMATURE_OOM,
                               f"CPU{tid}'s reclaim of {self._name(root)} gave up with "
                               f"nothing reclaimed while {self._name(full[0])} had pages "
                               "to reclaim (a premature OOM)")

    def _css_online_test(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                         op: Op) -> tuple[Any, Violation | None]:
        """``css->flags & CSS_ONLINE``: set by ``online_css()``, cleared by the kill."""
        state = shared[self.layout.gstate[op.a]]
        if state == GroupState.FREED:
            return False, Violation(REFERENCE_SAFETY, f"use after free: CSS_ONLINE test of "
                                                      f"{self._name(op.a)}, a freed memcg")
        return state == GroupState.ONLINE, None

    def _css_link(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                  op: Op) -> tuple[Any, Violation | None]:
        """v3.12-v3.13 ``cgroup_mkdir()`` -> ``create_css()``: the css is linked into its
        parent's children (``list_add_tail_rcu``) with its count and id before
        ``online_css()`` runs ``ss->css_online()``."""
        g = op.a
        if shared[self.layout.gstate[g]] != GroupState.ABSENT:
            raise InternalError(f"mkdir of existing group {self._name(g)}")
        self._create(shared, g)
        shared[self.layout.gstate[g]] = GroupState.LINKED
        return shared[self.layout.cssid[g]], None

    def _css_online(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                    op: Op) -> tuple[Any, Violation | None]:
        g = op.a
        if shared[self.layout.gstate[g]] != GroupState.LINKED:
            raise InternalError(f"css_online() of {self._name(g)}, which is not linked")
        shared[self.layout.gstate[g]] = GroupState.ONLINE
        return None, None

    def _release_wait(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                      op: Op) -> tuple[Any, Violation | None]:
        q, g = self.layout.release_queue, op.a
        if g not in shared[q]:
            raise InternalError("a release work ran before it was queued "
                                "(the scheduler must not pick it)")
        shared[q] = tuple(x for x in shared[q] if x != g)
        return g, None

    def _css_release(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                     op: Op) -> tuple[Any, Violation | None]:
        """``css_release_work_fn()`` under ``cgroup_mutex``: ``CSS_RELEASED`` set and the
        css unlinked from its parent's children (``list_del_rcu``: its own next pointer
        stays, readers inside a read section may still walk from it)."""
        lay, g = self.layout, op.a
        if shared[lay.gstate[g]] != GroupState.OFFLINE:
            raise InternalError(f"css_release_work_fn() of {self._name(g)}, which is not "
                                "offline")
        shared[lay.gstate[g]] = GroupState.RELEASED
        if shared[lay.refcnt[g]]:
            # Its count reached zero (the work was queued) and went up again: a css_get()
            # on a dying css, reported where it happened when reference_safety is checked;
            # the release goes on as the kernel's would, under the holder's feet.
            return None, Violation(REFERENCE_SAFETY,
                                   f"css_release_work_fn({self._name(g)}) runs while "
                                   f"{shared[lay.refcnt[g]]} reference(s) were taken after "
                                   "its count reached zero")
        return None, None
