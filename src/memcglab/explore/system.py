"""The system under check: threads running model code over the machine, one step at a time.

A state is ``(shared, threads)``: the tuple of shared slot values (kernel state plus monitor
slots) and one component per thread (:data:`~memcglab.runtime.machine.ThreadComp`). A *step*
runs one thread from an interleaving point up to the next one (:meth:`System.block`); the
strategies in :mod:`.search` decide which thread steps.

This module never chooses; it only says what can run and what happens (convention C2).
"""

from __future__ import annotations

import random
import sys
import types
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from itertools import compress
from operator import is_not
from typing import Any

from memcglab.errors import ConfigError, ModelError
from memcglab.explore.config import ModelConfig
from memcglab.explore.visibility import (
    AccessSummary,
    monitor_slots,
    op_objects,
    op_visible,
)
from memcglab.kernel.context import KernelContext
from memcglab.kernel.iterator import MemcgIter, StateView
from memcglab.kernel.registry import instantiate_variant, resolve_variant, variant_invariants
from memcglab.kernel.v3_7 import vmscan as vmscan_3_7
from memcglab.kernel.v3_10 import vmscan as vmscan_3_10
from memcglab.kernel.v4_8 import vmscan as vmscan_4_8
from memcglab.kernel.v5_5 import vmscan as vmscan_5_5
from memcglab.kernel.v6_18 import vmscan as vmscan_6_18
from memcglab.kernel.v6_18.cgroup import css_release_work
from memcglab.kernel.vmscan import AdminAction, Thread
from memcglab.model.hierarchy import ROOT
from memcglab.model.layout import GroupState, Zone
from memcglab.runtime.machine import (
    HELD,
    LSID,
    NO_DEADLOCK,
    NO_PREMATURE_OOM,
    PROPERTY_DOCS,
    REFERENCE_SAFETY,
    ROUND_COMPLETE,
    TERMINATION,
    UNIQUE_CLAIM,
    UNIQUE_PER_LAP,
    Machine,
    ThreadComp,
    Violation,
)
from memcglab.runtime.ops import Kind, Op
from memcglab.runtime.program import Program

State = tuple[tuple[Any, ...], tuple[ThreadComp, ...]]
_BLOCKING = frozenset({Kind.LOCK, Kind.RMDIR, Kind.CLEAR_CSS_REFS, Kind.SYNC_RCU_WAIT})
_STATEFUL_REF = frozenset({Kind.TRYGET, Kind.GET, Kind.PUT, Kind.RMDIR})
# Operations whose writes depend on the state (a put that releases, an unlock that ends a
# grace period, the cgroup changes): while the reduction learns, every slot one of them
# changed is recorded as a write, whatever the op's own rule in
# visibility.py says, so a write the rules miss still makes its object an interleaving
# point. The others write exactly the slot their rule names.
_DIFFED = frozenset(Kind) - {Kind.NOTE, Kind.WALK_START, Kind.LOAD, Kind.STORE, Kind.LOCK,
                             Kind.UNLOCK, Kind.RCU_LOCK, Kind.CSS_GET_NEXT, Kind.CLAIM,
                             Kind.READ_ONCE, Kind.CMPXCHG, Kind.ATOMIC_INC,
                             Kind.CSS_NEXT_CHILD, Kind.CSS_ONLINE_TEST, Kind.RECLAIM_DONE}
_SLOT_OPS = frozenset({Kind.LOAD, Kind.STORE, Kind.LOCK, Kind.UNLOCK, Kind.READ_ONCE,
                       Kind.CMPXCHG, Kind.ATOMIC_INC})
_WRITES = frozenset({Kind.STORE, Kind.CMPXCHG, Kind.ATOMIC_INC})
_GROUP_OPS = frozenset({Kind.TRYGET, Kind.GET, Kind.PUT, Kind.MKDIR, Kind.RMDIR,
                        Kind.CLEAR_CSS_REFS, Kind.SYNC_RCU_START, Kind.SYNC_RCU_WAIT,
                        Kind.FREE_CSS_ID, Kind.CALL_RCU_FREE, Kind.KILL_CSS,
                        Kind.CSS_RELEASE, Kind.CSS_OFFLINE, Kind.PUT_BASE, Kind.CSS_LINK,
                        Kind.CSS_ONLINE, Kind.CSS_ONLINE_TEST})


def hidden_state_guard(variant: MemcgIter) -> Callable[[], Hashable] | None:
    """For a user's variant: a snapshot of the state its code could keep outside local
    variables (attributes of the object and of its classes, globals of its modules), which
    the program compares before and after every step it compiles. Built-in variants are
    reviewed code and get none (it would cost every compile)."""
    user = [c for c in type(variant).__mro__
            if c.__module__ not in ("builtins", "abc") and not c.__module__.startswith(
                "memcglab.")]
    if not user:
        return None
    modules = [m for m in {c.__module__: sys.modules.get(c.__module__) for c in user}.values()
               if m is not None]
    holders = [*vars(variant).items(), *(kv for c in user for kv in vars(c).items()),
               *(kv for m in modules for kv in vars(m).items())]
    for name, v in holders:
        if isinstance(v, random.SystemRandom):
            raise ModelError(f"{type(variant).__name__}: {name} is a random.SystemRandom: "
                             "model code must be a deterministic function of the results "
                             "it receives (draws from the operating system cannot be "
                             "replayed)")

    def plain(name: str, value: object) -> bool:
        return not (name.startswith("__") or callable(value) or isinstance(
            value, (types.ModuleType, staticmethod, classmethod, property)))

    def value(v: object) -> str:
        # A random generator's repr never changes: its state does.
        if isinstance(v, random.Random):
            return str(hash(v.getstate()))
        return repr(v)

    def snapshot() -> Hashable:
        items = [(f"self.{k}", value(v)) for k, v in vars(variant).items()]
        for c in user:
            items += [(f"{c.__qualname__}.{k}", value(v)) for k, v in vars(c).items()
                      if plain(k, v)]
        for m in modules:
            items += [(f"global {k} of {m.__name__}", value(v)) for k, v in vars(m).items()
                      if plain(k, v)]
        # Drawing from the random module is state kept outside the locals too (the draws
        # differ from one process to the next, and so would the verdict).
        items.append(("the random module's state (model code drew random numbers)",
                      str(hash(random.getstate()))))
        return tuple(items)

    return snapshot



ERAS = {"3.7": vmscan_3_7, "3.10": vmscan_3_10, "4.8": vmscan_4_8, "5.5": vmscan_5_5,
        "6.18": vmscan_6_18}
"""The reclaim callers (``reclaimer``) of each era a variant can run in
(``MemcgIter.callers``)."""


def admin_program(k: KernelContext, variant: MemcgIter,
                  actions: tuple[AdminAction, ...]) -> Thread:
    """The admin CPU on the variant's cgroup core, told by its rules (Semantics): the v3.7
    core (rmdir waits for the css references), the v3.10-v3.18 one (rmdir kills, runs
    ``css_offline``, puts the base reference) or the v3.19+ one (the kill, and a release
    work per removed group)."""
    sem = type(variant).semantics
    if sem.release_work:
        return vmscan_6_18.admin(k, actions)
    if sem.rmdir_waits_for_refs:
        return vmscan_3_7.admin(k, actions)
    return vmscan_3_10.admin(k, variant, actions)


def applicable_properties(variant_cls: type[MemcgIter]) -> tuple[str, ...]:
    """The machine's invariants that mean something for the variant (``unique_per_lap``
    only where a cmpxchg on the position hands groups out)."""
    return tuple(p for p in PROPERTY_DOCS
                 if (p != UNIQUE_PER_LAP or getattr(variant_cls, "handout_by_cmpxchg", False))
                 and (p != NO_PREMATURE_OOM or variant_cls.caller_era() != "3.7"))


def checked_properties(variant_cls: type[MemcgIter],
                       selected: tuple[str, ...]) -> frozenset[str]:
    """The properties a check monitors: the selected ones (all that apply by default)."""
    valid = applicable_properties(variant_cls)
    for p in selected:
        if p not in valid:
            why = ("no such property" if p not in PROPERTY_DOCS else
                   f"{variant_cls.name or variant_cls.__name__} runs the v3.7 callers, whose "
                   "limit reclaim takes one group a call" if p == NO_PREMATURE_OOM else
                   f"{variant_cls.name or variant_cls.__name__} does not hand groups out by "
                   "cmpxchg")
            raise ConfigError(f"property {p!r}: {why}; valid: {', '.join(valid)}")
    return frozenset(selected or valid)


def creation_order(config: ModelConfig) -> tuple[int, ...]:
    """Each group's rank in creation order (``css->serial_nr``): the groups present at the
    start in index order, then the admin's mkdirs in the order it makes them."""
    topo = config.topology
    order = [g for g in range(topo.size) if topo.groups[g].initially_present]
    order += [a.memcg for a in config.admin if a.op == "mkdir" and a.memcg not in order]
    order += [g for g in range(topo.size) if g not in order]
    rank = [0] * topo.size
    for i, g in enumerate(order):
        rank[g] = i
    return tuple(rank)


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """One operation as it happened: who, what, what it returned."""

    tid: int
    op: Op
    result: Any


class System:
    """Threads, machine and layout for one :class:`ModelConfig`."""

    def __init__(self, config: ModelConfig, dead_variables: bool | None = None) -> None:
        """``dead_variables``: tell local states apart by their live variables only
        (docs/internals.md); None: on for the lockless era's variants (era "6.18"), off for
        the 3.x ones, whose state counts stay those published before the reduction."""
        self.config = config
        self.variant_cls: type[MemcgIter] = resolve_variant(config.variant)
        topo = config.topology
        zones = tuple(Zone(n, z) for n in range(config.nodes)
                      for z in range(config.zones_per_node))
        if not config.reclaimers:
            raise ConfigError("no reclaimers: nothing to check")
        for r in config.reclaimers:
            bad = [z for z in r.zones if not 0 <= z < len(zones)]
            if bad:
                raise ConfigError(f"reclaimer zone {bad[0]} does not exist; "
                                  f"zones are 0..{len(zones) - 1}")
        roots = tuple(sorted({ROOT if r.target is None else r.target
                              for r in config.reclaimers}))
        prios = tuple(sorted({p for r in config.reclaimers for p in r.priorities},
                             reverse=True))
        cls = self.variant_cls
        era = cls.era
        callers = cls.caller_era()
        if callers not in ERAS:
            raise ConfigError(f"variant {config.variant}: callers {callers!r} is not one of "
                              f"{', '.join(ERAS)}")
        vmscan = ERAS[callers]
        self.dead_variables = era != "3.7" or callers != "3.7" \
            if dead_variables is None else dead_variables
        dvr = self.dead_variables
        self.layout = cls.make_layout(topo, zones, prios, roots)
        self.k = KernelContext(self.layout)
        self.variant = instantiate_variant(self.variant_cls, self.k)
        self.properties = checked_properties(self.variant_cls, config.properties)
        if not config.empty and not config.properties:
            # Without empty groups every call reclaims from the first group it is handed
            # (a new walk always returns one): nothing to monitor.
            self.properties -= {NO_PREMATURE_OOM}
        self.k.empty = frozenset(config.empty)
        self.machine = Machine(self.layout, self.variant_cls.semantics,
                               creation_order(config), self.properties)
        self.machine.empty = frozenset(config.empty)
        if not cls.generation_names:
            self.machine.gen_slots = frozenset()  # a plain generation++: no renaming
        self.invariants = variant_invariants(self.variant)

        # One Program per distinct reclaimer spec: identical reclaimers share code and
        # transition table, and form one symmetry class.
        self.programs: list[Program] = []
        self.classes: list[list[int]] = []
        by_spec: dict[Hashable, tuple[Program, list[int]]] = {}
        k, var = self.k, self.variant
        guard = hidden_state_guard(var)
        for spec in config.reclaimers:
            if spec not in by_spec:
                prog = Program(f"reclaimer{len(by_spec)}",
                               lambda s=spec: vmscan.reclaimer(k, var, s),  # type: ignore[misc]
                               guard, dvr)
                by_spec[spec] = (prog, [])
                self.classes.append(by_spec[spec][1])
            prog, members = by_spec[spec]
            members.append(len(self.programs))
            self.programs.append(prog)
        if config.admin:
            actions = config.admin
            self.programs.append(Program("admin", lambda: admin_program(k, var, actions),
                                         None, dvr))
            self.classes.append([len(self.programs) - 1])
            if self.variant_cls.semantics.release_work:
                # v6.x: each removed group's release work runs on a kworker.
                for a in actions:
                    if a.op == "rmdir":
                        self.programs.append(Program(
                            "kworker", lambda g=a.memcg: css_release_work(  # type: ignore[misc]
                                k, var, g), guard, dvr))
                        self.classes.append([len(self.programs) - 1])
        self.nthreads = len(self.programs)
        # Generation values are names (equality only) unless a monitor keeps them: the
        # claims and rounds monitors record absolute generations, so the renaming is off then.
        self._gen_slots = (tuple(self.machine.gen_slots)
                           if not {UNIQUE_CLAIM, ROUND_COMPLETE} & self.properties else ())
        self.summary: AccessSummary | None = None
        self.visible: frozenset[int] | None = frozenset()
        self._vis_lists: dict[int, list[bool | None]] = {}
        self.max_block_steps = 5000
        self._recorded: set[tuple[int, int, int, tuple[int, ...]]] = set()
        self._monitor_slots = monitor_slots(self.layout)
        self._lock_slots: set[int] = set()
        self._stored_slots: set[int] = set()

    # -- states -----------------------------------------------------------------------------

    def initial(self) -> State:
        shared = tuple(self.machine.initial_shared())
        threads = tuple((p.initial, (), 0, (), 0) for p in self.programs)
        return shared, threads

    def set_visible(self, visible: frozenset[int] | None) -> None:
        self.visible = visible
        self._vis_lists.clear()

    def reset_summary(self, enabled: bool) -> None:
        self.summary = AccessSummary(self.layout) if enabled else None
        self._recorded = set()

    def is_visible(self, tid: int, lsid: int) -> bool:
        prog = self.programs[tid]
        lst = self._visible_list(prog)
        while len(lst) <= lsid:
            lst.append(None)
        v = lst[lsid]
        if v is None:
            op = prog.pending[lsid]
            if op is not None:
                self.check_op(op)
            v = lst[lsid] = op is not None and op_visible(op, self.visible, self.layout)
        return v

    def pending(self, state: State, tid: int) -> Op | None:
        return self.programs[tid].pending[state[1][tid][LSID]]

    def enabled(self, state: State) -> list[int]:
        shared, threads = state
        out = []
        for tid, prog in enumerate(self.programs):
            op = prog.pending[threads[tid][LSID]]
            if op is not None and self.machine.enabled(shared, op):
                out.append(tid)
        return out

    def finished(self, state: State) -> bool:
        return all(p.pending[t[LSID]] is None for p, t in zip(self.programs, state[1],
                                                               strict=True))

    def canonical(self, state: State, last: int = -1) -> Hashable:
        """The state with interchangeable reclaimers sorted (symmetry reduction) and, for
        the lockless era, every generation value renamed to its rank among those present
        (data symmetry: only their equality matters, docs/internals.md). ``last`` marks the
        thread that ran last, for preemption-counting searches."""
        shared, threads = state
        if self._gen_slots:
            shared, threads = self._rename_generations(shared, threads)
        if last < 0:
            return shared, tuple(tuple(sorted(threads[t] for t in cls))
                                 for cls in self.classes)
        return shared, tuple(tuple(sorted((*threads[t], t == last) for t in cls))
                             for cls in self.classes)

    def _rename_generations(self, shared: tuple[Any, ...], threads: tuple[ThreadComp, ...]
                           ) -> State:
        """Generation values renamed to their rank among those present (data symmetry)."""
        progs = self.programs
        present = {shared[s] for s in self._gen_slots}
        for prog, t in zip(progs, threads, strict=True):
            present.update(prog.gens[t[LSID]])
        ranks = {v: i for i, v in enumerate(sorted(present))}
        if all(ranks[v] == v for v in present):
            return shared, threads
        lst = list(shared)
        for s in self._gen_slots:
            lst[s] = ranks[lst[s]]
        out = []
        for prog, t in zip(progs, threads, strict=True):
            gens = prog.gens[t[LSID]]
            lsid = prog.renamed(t[LSID], tuple(ranks[v] for v in gens)) if gens else t[LSID]
            out.append((lsid, *t[1:]))
        return tuple(lst), tuple(out)

    def block(self, state: State, tid: int, trace: list[TraceEntry] | None = None,
              single: bool = False) -> tuple[State, int, Violation | None]:
        """Run ``tid`` from its (enabled) next operation up to its next interleaving point.

        Returns the new state, the number of operations run and the first violation.
        ``single`` runs exactly one operation (replay of an operation-level schedule).
        """
        shared_t, threads_t = state
        shared = list(shared_t)
        threads = list(threads_t)
        prog = self.programs[tid]
        pending = prog.pending
        vis = self._visible_list(prog)
        machine = self.machine
        summary = self.summary
        recorded = self._recorded
        lsid = threads[tid][LSID]
        if lsid >= len(vis) or vis[lsid] is None:
            self.is_visible(tid, lsid)  # checks the first op too
        steps = 0
        violation: Violation | None = None
        while True:
            op = pending[lsid]
            if op is None:
                break
            if steps:
                if single:
                    break
                v = vis[lsid] if lsid < len(vis) else None
                if v is None:
                    v = self.is_visible(tid, lsid)
                if v or (op.kind in _BLOCKING and not machine.enabled(shared, op)):
                    break
            held = threads[tid][HELD]
            before = shared[:] if summary is not None and op.kind in _DIFFED else None
            result, violation = machine.apply(shared, threads, tid, op)
            if summary is not None:
                # Accesses are idempotent for the summary, except those of operations whose
                # effect depends on the state: record each (thread, op, locks) once.
                key = (tid, id(prog), lsid, held)
                if before is not None or key not in recorded:
                    recorded.add(key)
                    summary.record(op, tid, held, result, shared)
                if before is not None:
                    # The slots whose object changed, found at C speed, then compared.
                    changed = compress(range(len(shared)), map(is_not, before, shared))
                    summary.record_writes(op, tid, [i for i in changed
                                                    if before[i] != shared[i]])
            if violation is not None and not violation.overrun and \
                    violation.prop not in self.properties:
                violation = None  # a property this check does not monitor
            if trace is not None:
                trace.append(TraceEntry(tid, op, result))
            lsid = prog.step(lsid, result)
            steps += 1
            if violation is None and self.invariants:
                violation = self._check_invariants(shared)
            if violation is None and steps > self.max_block_steps:
                # A thread that never reaches an interleaving point (a walk that never ends)
                # must not hang the search.
                violation = Violation(TERMINATION, f"CPU{tid} ran {steps} operations without "
                                                   "reaching an interleaving point",
                                      overrun=True)
            if violation is not None:
                break
        t = threads[tid]
        threads[tid] = (lsid, t[1], t[2], t[3], t[4])
        return (tuple(shared), tuple(threads)), steps, violation

    def check_op(self, op: Op) -> None:
        """Refuse an operation model code may not make: a kind the explorer's machine does
        not apply, a slot that does not exist or belongs to the monitors, a group that does
        not exist, a stored value that is not an integer, a plain store to a spinlock's
        word. (Each op is checked once, the first time a thread is about to run it.)"""
        kind = op.kind
        if not isinstance(kind, Kind) or kind not in self.machine.kinds:
            name = kind.name if isinstance(kind, Kind) else repr(kind)
            raise ModelError(f"{name} is not an operation of the explorer's machine "
                             "(simulation-only kinds such as SLEEP or CALL are for memcglab "
                             "run's own tasks); a variant yields load, store, spin_lock, "
                             "the cgroup calls and notes")
        what = kind.name.lower()
        if kind in _SLOT_OPS:
            slot = op.a
            if type(slot) is not int or not 0 <= slot < self.layout.size:
                raise ModelError(f"{what} of slot {slot!r}: no such slot "
                                 f"(0..{self.layout.size - 1}); use the slot numbers of "
                                 "the layout (it.position, k.layout.refcnt[g], ...)")
            if slot in self._monitor_slots:
                raise ModelError(f"{what} of {self.layout.names[slot]}: "
                                 "that slot is the invariant monitors' bookkeeping, not "
                                 "kernel state; model code may not access it")
            values = (op.b,) if kind is Kind.STORE else op.b if kind is Kind.CMPXCHG else ()
            if kind is Kind.CMPXCHG and (type(values) is not tuple or len(values) != 2):
                raise ModelError(f"cmpxchg of {self.layout.names[slot]}: expected (old, new), "
                                 f"got {values!r}")
            for v in values:
                if type(v) is not int:
                    raise ModelError(f"{what} of {v!r} ({type(v).__name__}) to "
                                     f"{self.layout.names[slot]}: kernel memory holds "
                                     "integers (True, 1.0 and 1 would be told apart by "
                                     "nothing in C)")
            (self._lock_slots if kind in (Kind.LOCK, Kind.UNLOCK)
             else self._stored_slots if kind in _WRITES else set()).add(slot)
            both = self._lock_slots & self._stored_slots
            if both:
                raise ModelError(f"a plain store to {self.layout.names[min(both)]}, a "
                                 "spinlock's word: take and release it with spin_lock / "
                                 "spin_unlock (re-initialising a lock in use is not "
                                 "modelled)")
        elif kind in _GROUP_OPS:
            g = op.a
            if type(g) is not int or not 0 <= g < self.layout.topology.size:
                raise ModelError(f"{what} of group {g!r}: no such group "
                                 f"(0..{self.layout.topology.size - 1})")
        elif kind is Kind.CSS_NEXT_CHILD and not (
                type(op.b) is int and 0 <= op.b < self.layout.topology.size
                and (op.a is None or (type(op.a) is int
                                      and 0 <= op.a < self.layout.topology.size))):
            raise ModelError(f"css_next_child({op.a!r}, {op.b!r}): expected a group of the "
                             "hierarchy or None, and a group")
        elif kind is Kind.CSS_GET_NEXT and (
                type(op.a) is not int or type(op.b) is not int or op.a < 0
                or not 0 <= op.b < self.layout.topology.size):
            raise ModelError(f"css_get_next({op.a!r}, {op.b!r}): expected a css id "
                                 ">= 0 and a group of the hierarchy")

    def objects_of(self, trace: list[TraceEntry]) -> frozenset[int]:
        """Every object that makes an operation of ``trace`` an interleaving point: what a
        loop that never reached one reads and writes."""
        return frozenset(o for e in trace for o in op_objects(e.op, self.layout) or ())

    def _visible_list(self, prog: Program) -> list[bool | None]:
        lst = self._vis_lists.get(id(prog))
        if lst is None:
            lst = self._vis_lists[id(prog)] = []
        return lst

    def _check_invariants(self, shared: list[Any]) -> Violation | None:
        view = StateView(self.k, shared)
        for inv in self.invariants:
            msg = inv.check(view)
            if msg:
                return Violation(inv.name, msg)
        return None

    def stuck(self, state: State) -> Violation | None:
        """End-of-run checks when no thread can run: deadlock, or the final invariants."""
        if self.finished(state):
            return self.machine.end_checks(*state)
        shared = state[0]
        waiting = [t for t in range(self.nthreads) if self.pending(state, t) is not None]
        if waiting and all(self.programs[t].name == "kworker" for t in waiting):
            # Only the release worker is left, waiting for a removed group's count to reach
            # zero: a reference was never put.
            lay = self.layout
            leaked = [g for g in range(lay.topology.size)
                      if shared[lay.gstate[g]] == GroupState.OFFLINE and shared[lay.refcnt[g]]]
            if leaked and REFERENCE_SAFETY in self.properties:
                g = leaked[0]
                return Violation(REFERENCE_SAFETY,
                                 f"css reference leak: removed group {lay.topology.name(g)} "
                                 f"still has {shared[lay.refcnt[g]]} references, so its "
                                 "release work never runs")
        if NO_DEADLOCK not in self.properties:
            return None
        blocked = [f"CPU{t}: {self.pending(state, t).text}"  # type: ignore[union-attr]
                   for t in range(self.nthreads) if self.pending(state, t) is not None]
        return Violation(NO_DEADLOCK, "no thread can run; blocked: " + "; ".join(blocked))
