"""The system under check: threads running model code over the machine, one step at a time.

A state is ``(shared, threads)``: the tuple of shared slot values (kernel state plus monitor
slots) and one component per thread (:data:`~memcglab.runtime.machine.ThreadComp`). A *step*
runs one thread from an interleaving point up to the next one (:meth:`System.block`); the
strategies in :mod:`.search` decide which thread steps.

This module never chooses; it only says what can run and what happens (convention C2).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from memcglab.errors import ConfigError
from memcglab.explore.config import ModelConfig
from memcglab.explore.visibility import AccessSummary, op_visible
from memcglab.kernel.context import KernelContext
from memcglab.kernel.iterator import MemcgIter, StateView
from memcglab.kernel.registry import resolve_variant
from memcglab.kernel.vmscan import admin, reclaimer
from memcglab.model.hierarchy import ROOT
from memcglab.model.layout import Layout, Zone
from memcglab.runtime.machine import (
    HELD,
    LSID,
    NO_DEADLOCK,
    TERMINATION,
    Machine,
    ThreadComp,
    Violation,
)
from memcglab.runtime.ops import Kind, Op
from memcglab.runtime.program import Program

State = tuple[tuple[Any, ...], tuple[ThreadComp, ...]]
_BLOCKING = frozenset({Kind.LOCK, Kind.RMDIR})
_STATEFUL_REF = frozenset({Kind.TRYGET, Kind.GET, Kind.PUT, Kind.RMDIR})


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """One operation as it happened: who, what, what it returned."""

    tid: int
    op: Op
    result: Any


class System:
    """Threads, machine and layout for one :class:`ModelConfig`."""

    def __init__(self, config: ModelConfig) -> None:
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
        self.layout = Layout(topo, zones, prios, roots, self.variant_cls.iter_fields)
        self.k = KernelContext(self.layout)
        self.variant = self.variant_cls(self.k)
        self.machine = Machine(self.layout, self.variant_cls.semantics)
        self.invariants = self.variant.invariants()

        # One Program per distinct reclaimer spec: identical reclaimers share code and
        # transition table, and form one symmetry class.
        self.programs: list[Program] = []
        self.classes: list[list[int]] = []
        by_spec: dict[Hashable, tuple[Program, list[int]]] = {}
        k, var = self.k, self.variant
        for spec in config.reclaimers:
            if spec not in by_spec:
                prog = Program(f"reclaimer{len(by_spec)}",
                               lambda s=spec: reclaimer(k, var, s))  # type: ignore[misc]
                by_spec[spec] = (prog, [])
                self.classes.append(by_spec[spec][1])
            prog, members = by_spec[spec]
            members.append(len(self.programs))
            self.programs.append(prog)
        if config.admin:
            actions = config.admin
            self.programs.append(Program("admin", lambda: admin(k, actions)))
            self.classes.append([len(self.programs) - 1])
        self.nthreads = len(self.programs)
        self.summary: AccessSummary | None = None
        self.visible: frozenset[int] | None = frozenset()
        self._vis_lists: dict[int, list[bool | None]] = {}
        self.max_block_steps = 5000
        self._recorded: set[tuple[int, int, int, tuple[int, ...]]] = set()

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
        """The state with interchangeable reclaimers sorted (symmetry reduction). ``last``
        marks the thread that ran last, for preemption-counting searches."""
        shared, threads = state
        if last < 0:
            return shared, tuple(tuple(sorted(threads[t] for t in cls))
                                 for cls in self.classes)
        return shared, tuple(tuple(sorted((*threads[t], t == last) for t in cls))
                             for cls in self.classes)

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
            result, violation = machine.apply(shared, threads, tid, op)
            if summary is not None:
                # Accesses are idempotent for the summary, except reference-count operations
                # whose effect depends on the state: record each (thread, op, locks) once.
                key = (tid, id(prog), lsid, held)
                if op.kind in _STATEFUL_REF or key not in recorded:
                    recorded.add(key)
                    summary.record(op, tid, held, result, shared)
            if trace is not None:
                trace.append(TraceEntry(tid, op, result))
            lsid = prog.step(lsid, result)
            steps += 1
            if violation is None and self.invariants:
                violation = self._check_invariants(shared)
            if violation is None and steps >= self.max_block_steps:
                # A thread that never reaches an interleaving point (a walk that never ends)
                # must not hang the search.
                violation = Violation(TERMINATION, f"CPU{tid} ran {steps} operations without "
                                                   "reaching an interleaving point")
            if violation is not None:
                break
        t = threads[tid]
        threads[tid] = (lsid, t[1], t[2], t[3], t[4])
        return (tuple(shared), tuple(threads)), steps, violation

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
        blocked = [f"CPU{t}: {self.pending(state, t).text}"  # type: ignore[union-attr]
                   for t in range(self.nthreads) if self.pending(state, t) is not None]
        return Violation(NO_DEADLOCK, "no thread can run; blocked: " + "; ".join(blocked))
