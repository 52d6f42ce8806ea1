"""The simulation loop: tasks on CPUs, a scheduler choosing interleavings, simulated time.

Tasks are generators of :class:`~memcglab.runtime.ops.Op` (workload processes, kswapd per
node, a cgroup admin), the same kernel-mirror code ``memcglab check`` explores. At most
``cpus`` tasks are runnable at a time (ready at the current simulated time); the scheduler
picks which of them performs its next operation: seeded random by default, or round-robin.
So two reclaimers interleave operation by operation, and the races ``memcglab check`` finds
happen here at their natural rate.

Time: memory operations cost ``OP_NS`` each, scanning a page ``SCAN_NS``, a spinning lock
attempt ``SPIN_NS``; a task leaves its CPU when it has used ``QUANTUM_NS`` (never while it
holds a spinlock) or sleeps, and the CPU stays busy for the time the task used, so ``cpus``
bounds the CPU time available. The costs are round figures for the model's sake, not
measurements of any machine.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from memcglab.errors import ConfigError, MemcglabError, ModelError
from memcglab.kernel.context import KernelContext
from memcglab.kernel.registry import (
    instantiate_variant,
    is_builtin,
    resolve_variant,
    variant_invariants,
)
from memcglab.metrics.visits import Visit
from memcglab.model.layout import Zone
from memcglab.runtime.ops import Kind, Op
from memcglab.sim.eras import (
    cgroup_admin,
    kswapd_thread,
    release_workers,
    setup,
    user_entry,
)
from memcglab.sim.machine import SimMachine, ZoneSpec
from memcglab.sim.plan import Plan
from memcglab.sim.workloads import LCG_A, LCG_C, MASK, ProcessSpec, process

OP_NS = 20
SCAN_NS = 1000  # kernel 3.7: per page scanned (a round figure)
# Kernel 6.18: reclaim's CPU per folio scanned and per page in it, measured on the
# development machine (docs/io-cost.md: a call ~6 us + 0.8 us per folio + 9-10 ns per page).
SCAN_FOLIO_NS = 800
SCAN_PAGE_NS = 10
SPIN_NS = 50
QUANTUM_NS = 2_000
RELEASE_POLL_NS = 100_000  # how often an idle release kworker looks for its work
# The step bound: operations one task may run in a row without reaching an interleaving
# point (only notes and monitors). Notes cost no simulated time, so a variant looping over
# them would hang the run; the kernel-mirror code needs a few per group handed out.
MAX_PRIVATE_STREAK = 1_000_000

# Operations that touch nothing another task can observe in between: monitors, and, while
# no group is created or removed, RCU sections, the IDR scan, the sibling lists (v6.x
# css_next_child) and reference counts (nothing can drop to zero). Iterator loads and
# stores, locks and page-level operations remain interleaving points.
PRIVATE_WITH_CHURN = frozenset({Kind.NOTE, Kind.WALK_START, Kind.CLAIM, Kind.EVENT,
                                Kind.NOW})
PRIVATE = PRIVATE_WITH_CHURN | {Kind.RCU_LOCK, Kind.RCU_UNLOCK, Kind.CSS_GET_NEXT,
                                Kind.CSS_NEXT_CHILD, Kind.TRYGET, Kind.GET, Kind.PUT}



@dataclass(slots=True)
class Task:
    tid: int
    name: str
    kind: str  # process | kswapd | admin
    gen: Generator[Op, Any, Any]
    group: int = -1  # a process's cgroup (-1 for kernel threads)
    pending: Op | None = None
    debt: int = 0
    stack: list[Generator[Op, Any, Any]] = field(default_factory=list)
    wait_seq: int = -1  # in FOLIO_READ: the heap entry that wakes it (others are stale)


def _enter(task: Task, op: Op | None) -> Op | None:
    """Start the callee of a CALL op on the task's stack; returns the task's next op."""
    while op is not None and op.kind is Kind.CALL:
        task.stack.append(task.gen)
        task.gen = op.a
        try:
            op = next(task.gen)
        except StopIteration as stop:
            op = _unwind(task, stop.value)
    return op


def _resume(task: Task, value: Any) -> Op | None:
    """Send ``value`` to the task's running generator; its next op (None: finished)."""
    try:
        op = task.gen.send(value)
    except StopIteration as stop:
        return _unwind(task, stop.value)
    return _enter(task, op) if op.kind is Kind.CALL else op


def _unwind(task: Task, value: Any) -> Op | None:
    """The running generator returned ``value``: resume its caller (None: task finished)."""
    while task.stack:
        task.gen = task.stack.pop()
        try:
            op = task.gen.send(value)
        except StopIteration as stop:
            value = stop.value
            continue
        return _enter(task, op) if op.kind is Kind.CALL else op
    return None


@dataclass(slots=True)
class Sample:
    t_ns: int
    usage: list[int]
    cumulative: list[list[int]]  # per group [scanned, reclaimed, visits, first]


@dataclass(slots=True)
class SimRun:
    """What a simulation produced: counters, samples and where it ended."""

    plan: Plan
    machine: SimMachine
    samples: list[Sample] = field(default_factory=list)
    end_ns: int = 0
    ops: int = 0
    tasks: list[Task] = field(default_factory=list)
    # Every claim, in the order made (None unless simulated with record_visits=True).
    visits: list[Visit] | None = None
    # The kernel's own memcg state at the end (v6.18: memcontrol.MemcgState), or None.
    memcg_state: Any = None


class Simulation:
    """One run of one scenario with one variant."""

    def __init__(self, plan: Plan, record_visits: bool = False,
                 batch_reads: bool = True) -> None:
        self.plan = plan
        variant_cls = resolve_variant(plan.variant_spec or plan.variant)
        topo = plan.topology
        zones = tuple(Zone(z.nid, i % plan.zones_per_node) for i, z in enumerate(plan.zones))
        if getattr(variant_cls, "era", "3.7") != plan.kernel:
            raise ConfigError(f"variant {plan.variant} is an iterator of kernel "
                              f"{getattr(variant_cls, 'era', '3.7')}, the plan runs kernel "
                              f"{plan.kernel}")
        walks = {"3.7": ("3.7", "3.10", "4.8"), "6.18": ("5.5", "6.18")}[plan.kernel]
        if variant_cls.caller_era() not in walks:
            raise ConfigError(f"variant {plan.variant}: callers {variant_cls.caller_era()!r} "
                              f"do not run on memcglab's kernel {plan.kernel} page reclaim "
                              f"(its walks: {', '.join(walks)})")
        # Reclaim roots: every group a limit (or v2 memory.high) can make a target.
        roots = tuple(sorted({0} | {g for g, lim in enumerate(plan.limits) if lim is not None}
                             | {g for g, s in enumerate(plan.soft_limits) if s is not None}
                             | {g for g, pr in enumerate(plan.protections)
                                if pr and pr[0] is not None}))
        layout = variant_cls.make_layout(topo, zones, tuple(range(12, -1, -1)), roots)
        self.k = KernelContext(layout, simulating=True, rcu=bool(plan.changes))
        self.variant = instantiate_variant(variant_cls, self.k)
        # The simulator counts instead of checking invariants, but a variant whose
        # invariants() is broken is refused here as in memcglab check.
        variant_invariants(self.variant)
        nmap = sum(w.processes for w in plan.workloads)
        self.machine = SimMachine(
            layout, variant_cls.semantics,
            tuple(ZoneSpec(z.pages, z.min, z.low, z.high, z.nid) for z in plan.zones),
            list(plan.limits), list(plan.soft_limits), plan.swap, nmap, plan.kernel)
        self.machine.check_rcu = self.k.rcu
        self.machine.device.latency_ns = plan.disk_latency_ns
        self.machine.device.ns_per_page = plan.disk_ns_per_page
        self.machine.device.rng = (plan.seed * 2_862_933_555_777_941_757 + 3) & MASK
        self.shared = self.machine.initial_shared()
        self.machine.shared = self.shared
        self.k.mm = self.machine
        setup(self.k, plan)
        self.tasks: list[Task] = []
        all_zones = tuple(range(len(plan.zones)))
        mapping = 0
        for wi, w in enumerate(plan.workloads):
            for p in range(w.processes):
                nid = (wi + p) % max(1, len(plan.zones) // plan.zones_per_node)
                # the local node's zones first, highest zone first (zonelist order)
                local = tuple(z for z in reversed(all_zones) if plan.zones[z].nid == nid)
                order = local + tuple(z for z in all_zones if z not in local)
                spec = ProcessSpec(w.group, w.pattern, w.anon, w.pages, w.interval_ns,
                                   w.start_ns, w.stop_ns, mapping,
                                   (plan.seed * 1_000_003 + mapping * 7919 + 1) & MASK,
                                   order, plan.swap, w.readahead)
                name = f"{topo.name(w.group)}/p{p}"
                kern = user_entry(self.k, self.variant, plan, spec, len(self.tasks), name,
                                  batch_reads)
                self._add(name, "process", process(spec, kern), w.group)
                mapping += 1
        if plan.kswapd:
            nodes = sorted({z.nid for z in plan.zones})
            for nid in nodes:
                zs = tuple(z for z in all_zones if plan.zones[z].nid == nid)
                self._add(f"kswapd{nid}", "kswapd",
                          kswapd_thread(self.k, self.variant, plan, nid, zs))
        if plan.changes:
            self._add("cgroup-admin", "admin", cgroup_admin(self.k, self.variant, plan))
            for name, gen in release_workers(self.k, self.variant, plan):
                self._add(name, "kworker", gen)
        self.threads = [(0, (), 0, (), 0) for _ in self.tasks]
        self._rng = plan.seed & MASK
        if record_visits:
            tasks = self.tasks
            # A task's debt is what it used in its turn so far (stored when the turn ends or
            # pauses, so within a few private operations of the claim).
            self.machine.enable_visit_log(lambda tid: tasks[tid].debt)

    def _finished(self, task: Task) -> None:
        self.machine.task_done.add(task.tid)
        if task.group >= 0:
            self.machine.live_procs[task.group] -= 1

    def _add(self, name: str, kind: str, gen: Generator[Op, Any, None],
             group: int = -1) -> None:
        t = Task(len(self.tasks), name, kind, gen, group=group)
        if group >= 0:
            self.machine.live_procs[group] += 1
        t.pending = _enter(t, next(gen))
        self.tasks.append(t)

    def run(self, progress: Callable[[int, int], None] | None = None) -> SimRun:
        plan, machine, shared, threads = self.plan, self.machine, self.shared, self.threads
        tasks = self.tasks
        end = plan.duration_ns
        cpus = plan.cpus
        rr = plan.scheduler == "round-robin"
        heap: list[tuple[int, int, int]] = [(0, t.tid, t.tid) for t in tasks]
        heapq.heapify(heap)
        seq = len(tasks)
        parked: list[int] = []  # kswapd tasks asleep until woken
        runnable: list[int] = []  # tasks on a CPU at time `now`
        free_cpus = cpus
        cpu_heap: list[int] = []  # when each CPU that a task left becomes free again
        now = 0
        next_sample = 0
        next_progress = 0
        run = SimRun(plan, machine, tasks=tasks, memcg_state=self.k.mem)
        rr_next = 0
        ops = 0
        counters = machine.c
        usage = machine.usage

        def take_sample(t: int) -> None:
            run.samples.append(Sample(t, list(usage),
                                      [list(row) for row in counters.group]))

        handlers = machine._dispatch
        blocking = (Kind.LOCK, Kind.RMDIR, Kind.KSWAPD_WAIT, Kind.KILL_CSS, Kind.RELEASE_WAIT,
                    Kind.CSS_OFFLINE, Kind.SYNC_RCU_WAIT)
        private = PRIVATE if not plan.changes else PRIVATE_WITH_CHURN
        kswapd_wake = machine.kswapd_wake
        rng = self._rng
        woke = False
        # Enum members as locals: attribute lookups on the Kind class cost in a hot loop.
        k_sleep, k_kswapd_wait, k_lock = Kind.SLEEP, Kind.KSWAPD_WAIT, Kind.LOCK
        k_release_wait, k_mm = Kind.RELEASE_WAIT, Kind.MM_STEP
        k_shrink, k_alloc, k_call = Kind.SHRINK_LIST, Kind.ALLOC_PAGE, Kind.CALL
        k_until, k_folio_read, k_now = Kind.SLEEP_UNTIL, Kind.FOLIO_READ, Kind.NOW
        folio_readers = machine.folio_readers
        stale: set[int] = set()  # heap entries (by seq) replaced by an early wake
        scan_ns, scan_page_ns = (SCAN_NS, 0) if plan.kernel == "3.7" else (SCAN_FOLIO_NS,
                                                                          SCAN_PAGE_NS)
        woken = machine.woken
        heappush, heappop = heapq.heappush, heapq.heappop
        while True:
            if woke and parked:
                woke = False
                for tid in list(parked):
                    if kswapd_wake[tasks[tid].pending.a]:  # type: ignore[union-attr]
                        parked.remove(tid)
                        heappush(heap, (now, seq, tid))
                        seq += 1
            while cpu_heap and cpu_heap[0] <= now:
                heappop(cpu_heap)
                free_cpus += 1
            while free_cpus and heap and heap[0][0] <= now:
                _, s, tid = heappop(heap)
                if s in stale:
                    stale.discard(s)  # the FOLIO_READ's own end, after an early wake
                    continue
                task = tasks[tid]
                if task.wait_seq >= 0:
                    # The end of a FOLIO_READ: at its time, or early (its folio was freed).
                    task.wait_seq = -1
                    head = task.pending.b[0]  # type: ignore[union-attr]
                    if folio_readers.get(head) == tid:
                        del folio_readers[head]
                    task.pending = _resume(task, now)
                    if task.pending is None:
                        self._finished(task)
                        continue
                runnable.append(tid)
                free_cpus -= 1
            nrun = len(runnable)
            if not nrun:
                if not heap:
                    break
                nxt = heap[0][0] if free_cpus else max(heap[0][0], cpu_heap[0])
                while next_sample <= min(nxt, end):
                    take_sample(next_sample)
                    next_sample += plan.sample_ns
                if nxt >= end:
                    break
                # Only here does simulated time move: the visit log reads it (one store per
                # time step, none per operation).
                now = machine.now = nxt
                if progress is not None and now >= next_progress:
                    progress(now, end)
                    next_progress = now + end // 200
                continue
            if nrun == 1:
                i = 0
            elif rr:
                i = rr_next % nrun
                rr_next += 1
            else:
                # A 64-bit LCG: integer-only, so identical on every Python version.
                rng = (rng * LCG_A + LCG_C) & MASK
                i = (rng >> 33) % nrun
            tid = runnable[i]
            task = tasks[tid]
            op = task.pending
            kind = op.kind  # type: ignore[union-attr]
            if kind is k_sleep or kind is k_until:
                # The CPU stays busy for the time the task has used; then it sleeps.
                busy = now + task.debt
                if kind is k_sleep:
                    wake = busy + op.a  # type: ignore[union-attr]
                else:
                    busy += op.b or 0  # type: ignore[union-attr]  # CPU used before it
                    wake = max(busy, op.a)  # type: ignore[union-attr]
                runnable.pop(i)
                heappush(cpu_heap, busy)
                task.debt = 0
                after = _resume(task, wake)
                task.pending = after
                if after is None:
                    self._finished(task)
                    continue
                heappush(heap, (wake, seq, tid))
                seq += 1
                continue
            if kind is k_folio_read:
                # Reads of one folio, batched (docs/io-cost.md): the CPU is busy for the
                # copies, the task sleeps until its last read is due, or until the folio
                # is freed (machine.free_folio wakes it). Already gone: it wakes now.
                head, mp, index, cpu_ns = op.b  # type: ignore[union-attr]
                busy = now + task.debt + cpu_ns
                runnable.pop(i)
                heappush(cpu_heap, busy)
                task.debt = 0
                if machine.mappings[mp].get(index) == head:
                    folio_readers[head] = tid
                    wake = max(busy, op.a)  # type: ignore[union-attr]
                else:
                    wake = busy
                task.wait_seq = seq
                heappush(heap, (wake, seq, tid))
                seq += 1
                continue
            if kind in blocking and not machine.enabled(shared, op):  # type: ignore[arg-type]
                runnable.pop(i)
                busy = now + task.debt
                task.debt = 0
                if kind is k_kswapd_wait:
                    parked.append(tid)
                    heappush(cpu_heap, busy)
                elif kind is k_release_wait:
                    # A kworker with no work queued yet: the workqueue runs it when the
                    # work is queued; the model looks again after RELEASE_POLL_NS, idle.
                    heappush(cpu_heap, busy)
                    heappush(heap, (busy + RELEASE_POLL_NS, seq, tid))
                    seq += 1
                else:  # spinning on iter_lock (or rmdir waiting): the CPU spins too
                    if kind is k_lock:
                        counters.lock_waits += 1
                    heappush(cpu_heap, busy + SPIN_NS)
                    heappush(heap, (busy + SPIN_NS, seq, tid))
                    seq += 1
                continue
            debt = task.debt
            gen = task.gen
            streak = 0
            while True:
                result: Any
                if kind is k_now:
                    result = now + debt
                else:
                    result = handlers[kind](shared, threads, tid, op)[0]  # type: ignore
                ops += 1
                if kind is k_shrink:
                    # (pages scanned, reclaimed[, folios]): v3.7's pages are folios.
                    debt += (OP_NS + (result[2] if len(result) > 2 else result[0]) * scan_ns
                             + result[0] * scan_page_ns)
                else:
                    debt += OP_NS
                    if kind is k_alloc or kind is k_mm:
                        woke = True  # the allocator may have woken a kswapd
                try:
                    op = gen.send(result)
                except StopIteration as stop:
                    op = _unwind(task, stop.value)
                    gen = task.gen
                    if op is None:
                        break
                kind = op.kind
                if kind is k_call:
                    op = _enter(task, op)
                    gen = task.gen
                    if op is None:
                        break
                    kind = op.kind
                # Operations no other task can observe run on without a scheduling
                # decision (the simulator's counterpart of the explorer's reduction).
                if kind not in private:
                    break
                streak += 1
                if streak > MAX_PRIVATE_STREAK:
                    raise ModelError(
                        f"task {task.name} ran {MAX_PRIVATE_STREAK:,} operations in a row "
                        f"without an interleaving point (the last: {op.text or op.kind.name})"
                        "; the simulator's step bound stops it here. Does the variant loop "
                        "without a shared access (load, store, lock)?")
            if woken:
                # Readers whose folio this turn freed wake now (their next read misses).
                for w in woken:
                    wt = tasks[w]
                    if wt.wait_seq >= 0:
                        stale.add(wt.wait_seq)
                        wt.wait_seq = seq
                        heappush(heap, (now + debt, seq, w))
                        seq += 1
                woken.clear()
            task.pending = op
            if op is None:
                runnable.pop(i)
                heappush(cpu_heap, now + debt)
                self._finished(task)
                continue
            # The quantum ends the task's turn on its CPU, but never inside a spinlock:
            # spinlock holders are not preempted.
            if debt >= QUANTUM_NS and not threads[tid][1]:
                runnable.pop(i)
                heappush(cpu_heap, now + debt)
                heappush(heap, (now + debt, seq, tid))
                seq += 1
                debt = 0
            task.debt = debt
        while next_sample <= end:
            take_sample(next_sample)
            next_sample += plan.sample_ns
        run.end_ns = end
        run.ops = ops
        if machine.visit_log is not None:
            run.visits = machine.visit_log.visits(plan.topology.name)
        return run


def simulate(plan: Plan, progress: Callable[[int, int], None] | None = None,
             record_visits: bool = False, batch_reads: bool = True) -> SimRun:
    """Run ``plan``. ``record_visits`` also logs every claim as a
    :class:`~memcglab.metrics.visits.Visit` (``SimRun.visits``) and counts page-ins
    (``SimRun.machine.visit_log``); the run itself is the same either way.
    ``batch_reads=False`` makes every read of a folio one by one (the reference the
    batching is tested against, docs/io-cost.md)."""
    if plan.cpus < 1:
        raise ConfigError("cpus must be at least 1")
    sim = Simulation(plan, record_visits, batch_reads)
    try:
        return sim.run(progress)
    except (MemcglabError, MemoryError):
        raise  # already says what went wrong (MemoryError: reported as a resource limit)
    except Exception as e:
        if not is_builtin(plan.variant_spec or plan.variant):
            # a user-written variant failed: the user's error
            hint = ""
            if isinstance(e, AttributeError) and "'kind'" in str(e):
                hint = " (did the variant yield something that is not a " \
                       "memcglab.runtime.ops.Op, e.g. a bare yield or yield None?)"
            raise ModelError(f"variant {plan.variant}: {type(e).__name__}: {e}{hint}") from e
        raise
