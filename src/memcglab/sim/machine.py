"""The simulation machine: the explorer's machine plus pages, charges, zones and metrics.

Adds the simulation-only operations (:class:`~memcglab.runtime.ops.Kind` 20+) and replaces
the explorer's invariant monitors by counters: where ``memcglab check`` reports a violation
of ``unique_claim``, ``memcglab run`` counts a *duplicate claim*; a continuing walker handed
the root of its iterator counts as a *restart from the root*.

The page-level machinery keeps data only, for both eras (``era = "3.7"`` or ``"6.18"``):
the pages and LRU lists (:class:`~memcglab.sim.pages.Pages`), each zone's watermarks and
the kswapd wake-up flags, the charge counters of v3.7 (``usage``, ``husage``, ``limits``,
``soft_limits``, ``chain``: the data of ``struct res_counter``) and the metrics. Every rule
(which zone to allocate from, whether a charge fits, which page a shrink step frees, when
kswapd stops) is kernel-mirror code of the era (:mod:`memcglab.kernel.v3_7`,
:mod:`memcglab.kernel.v6_18`), which reads and writes this state between two operations
through ``KernelContext.mm``. The page operations themselves only do what the caller
decided and count: take a page of the zone the caller chose (``ALLOC_PAGE``), add a page to
the list the caller chose (``ADD_PAGE``), look a page up (``ACCESS``), count a shrink step
the caller did (``SHRINK_LIST``: the engine charges the time of the pages it scanned).
They stay operations, each an interleaving point of the engine: one per allocation attempt,
one per charge attempt (``MM_STEP``), one per SWAP_CLUSTER_MAX batch of a shrink.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from memcglab.kernel.v3_7.memcontrol import mem_cgroup_force_empty
from memcglab.metrics.visits import Visit
from memcglab.model.constants import LRU_INACTIVE_ANON, LRU_INACTIVE_FILE
from memcglab.model.layout import GroupState, IterSlots, Layout
from memcglab.runtime.machine import WALK_LEN, Machine, Semantics, ThreadComp, Violation
from memcglab.runtime.ops import Kind, Op
from memcglab.sim.pages import NONE, Pages
from memcglab.sim.workloads import LCG_A, LCG_C, MASK

SCANNED, RECLAIMED, VISITS, FIRST = range(4)
_NONE2: tuple[None, None] = (None, None)


@dataclass(frozen=True, slots=True)
class ZoneSpec:
    pages: int
    min: int
    low: int
    high: int
    nid: int


@dataclass(slots=True)
class Device:
    """The block device under the workloads' files: one queue, ``latency_ns`` per request
    and ``ns_per_page`` of transfer (its bandwidth), requests served one after another.
    The defaults were measured on the development machine's virtio disk (docs/io-cost.md);
    a scenario sets them in ``[machine]``."""

    latency_ns: int = 50_000
    ns_per_page: int = 5_120
    # requests of at most max_sectors_kb (4 MiB on vda), served one after another
    max_request_pages: int = 1024
    busy_until: int = 0
    pages_read: int = 0
    rng: int = 1  # the latency's spread: a 64-bit LCG, seeded by the scenario


@dataclass(slots=True)
class CallStats:
    """Per reclaimer kind (direct, limit, kswapd): what its reclaim calls did."""

    calls: int = 0
    requested: int = 0
    reclaimed: int = 0
    scanned: int = 0
    visits: int = 0  # over the calls that finished
    max_visits: int = 0
    finished: int = 0  # calls that have returned


@dataclass(slots=True)
class SimCounters:
    """Everything the machine counts; the engine samples it over time."""

    ngroups: int
    group: list[list[int]] = field(default_factory=list)  # [scanned, reclaimed, visits, first]
    walks_completed: int = 0
    duplicate_claims: int = 0
    restarts_from_root: int = 0
    lock_acquisitions: int = 0
    lock_waits: int = 0
    stalls: int = 0  # allocations that entered direct reclaim
    ooms: list[int] = field(default_factory=list)  # per group
    global_ooms: int = 0
    calls: dict[str, CallStats] = field(default_factory=dict)
    soft_reclaimed: int = 0
    oom_kills: int = 0  # v6.18: tasks the OOM killer killed (memcg or global)
    # v6.18: groups mem_cgroup_iter() handed to shrink_node_memcgs(), the protected (and
    # empty) ones it skips before shrink_lruvec() included; v3.7 hands out only to claim.
    handouts: int = 0
    high_throttled_ms: int = 0  # v6.18: memory.high penalty sleeps, in all

    def __post_init__(self) -> None:
        self.group = [[0, 0, 0, 0] for _ in range(self.ngroups)]
        self.ooms = [0] * self.ngroups
        self.calls = {k: CallStats() for k in ("direct", "limit", "kswapd")}


class VisitLog:
    """The opt-in record of every claim (``simulate(plan, record_visits=True)``).

    Installed by :meth:`SimMachine.enable_visit_log`, which wraps the claim, shrink-list and
    add-page handlers: a run without the log runs the unwrapped handlers and pays nothing.
    The wrappers only read what the handlers were given and returned, so the run itself
    (every counter, every scheduling decision) is the same with or without the log.

    ``rows`` holds one ``[t_ns, task, group, root, priority, generation, scanned,
    reclaimed, iterator]`` per claim (group indices; ``generation`` -1 when the variant has
    none); the pages a task scans and frees off the inactive lists count on its latest
    claim (the ``shrink_list`` calls of a ``shrink_lruvec`` follow its claim). ``file_adds``
    counts file pages committed to an LRU (page-ins: every page of each folio).
    """

    __slots__ = ("debt_of", "file_adds", "open", "rows")

    def __init__(self, debt_of: Callable[[int], int]) -> None:
        self.debt_of = debt_of  # task id -> simulated ns used in its current turn so far
        self.rows: list[list[int]] = []
        self.open: dict[int, list[int]] = {}  # task id -> its latest row
        self.file_adds = 0

    def visits(self, name: Callable[[int], str]) -> list[Visit]:
        """The rows as :class:`Visit` values (root group 0, the root memcg, is global
        reclaim: ``root=None``)."""
        return [Visit(t, task, name(g), None if root == 0 else name(root), prio, scanned,
                      reclaimed, None if gen < 0 else gen, it)
                for t, task, g, root, prio, gen, scanned, reclaimed, it in self.rows]


class SimMachine(Machine):
    """Applies explorer ops and simulation ops to mutable state, counting as it goes."""

    def __init__(self, layout: Layout, semantics: Semantics, zones: tuple[ZoneSpec, ...],
                 limits: list[int | None], soft_limits: list[int | None], swap: bool,
                 nmappings: int, era: str = "3.7") -> None:
        super().__init__(layout, semantics)
        self.track_refs = False  # the simulator counts duplicate claims; it checks nothing
        self._laps_on = False  # nor laps (unique_per_lap is the explorer's monitor)
        topo = layout.topology
        self.zone_specs = zones
        self.era = era
        if era == "3.7":
            self.pages = Pages(tuple(z.pages for z in zones), topo.size)
        else:
            # v4.8+: one lruvec per memcg and node, with hierarchical list sizes.
            self.pages = Pages(tuple(z.pages for z in zones), topo.size,
                               tuple(z.nid for z in zones),
                               tuple(topo.parent(g) for g in range(topo.size)))
        # v3.7 struct res_counter of each memcg, in pages: ``limit`` (None: RESOURCE_MAX),
        # ``soft_limit``, ``usage`` (husage: the group and its hierarchy) and the parent
        # pointers (chain); kernel/res_counter.c works on them (kernel.v3_7.res_counter).
        self.limits = limits
        self.soft_limits = soft_limits
        self.swap = swap  # total_swap_pages: the model's swap has no size, it is on or off
        n = topo.size
        self.usage = [0] * n  # pages on the group's own LRU lists (its own charge)
        self.husage = [0] * n  # res_counter usage: the group and its hierarchy
        # res_counter parents: a group's charges propagate to its parent when the parent has
        # use_hierarchy (v3.7 mem_cgroup_create: res_counter_init(&memcg->res,
        # &parent->res) if parent->use_hierarchy).
        self.chain: list[tuple[int, ...]] = []
        for g in range(n):
            c = [g]
            x = g
            while (p := topo.parent(x)) is not None and topo.groups[p].use_hierarchy:
                x = p
                c.append(x)
            self.chain.append(tuple(c))
        self.mappings: list[dict[int, int]] = [{} for _ in range(nmappings)]
        # Shadow entries left in a mapping by evicted pages (v6.18 workingset.c): index ->
        # the packed shadow (an opaque value of the kernel-mirror code).
        self.shadows: list[dict[int, Any]] = [{} for _ in range(nmappings)]
        # struct zone's reclaim state (v3.7): pages scanned since a page was last freed to
        # the zone, and whether reclaim gave up on it (zone->all_unreclaimable).
        self.pages_scanned = [0] * len(zones)
        self.all_unreclaimable = [False] * len(zones)
        self.kswapd_wake = [False] * (max(z.nid for z in zones) + 1)
        self.kswapd_failures = [0] * len(self.kswapd_wake)  # pgdat->kswapd_failures
        # Tasks that have ended (their generators finished), by task id, and the anon
        # pages each process has mapped (its RSS for the OOM killer).
        self.task_done: set[int] = set()
        self.task_anon: dict[int, int] = {}
        self.mapping_task: dict[int, int] = {}  # mapping -> the task that maps it
        self.mapping_anon: set[int] = set()  # the anonymous mappings
        self.shared: list[Any] = []  # the engine's shared state (set by initial_shared)
        self.live_procs = [0] * n  # processes not yet finished, per group
        self.c = SimCounters(n)
        self._iter_claims: dict[int, dict[int, set[int]]] = {}
        self._call_visits: dict[int, int] = {}
        self._call_stats: dict[int, CallStats] = {}  # the reclaim call a task is in
        # Simulated time of the engine's current step (the engine stores it when time
        # advances) and the visit log; only read when the log is enabled.
        self.now = 0
        self.visit_log: VisitLog | None = None
        self.device = Device()
        # Readers batching their reads of one folio (FOLIO_READ): folio -> task; a task
        # whose folio was freed is put on ``woken`` for the engine to wake now.
        self.folio_readers: dict[int, int] = {}
        self.woken: list[int] = []
        # Distinct file pages each mapping's process has read (page-in amplification).
        self.touched: list[int] = [0] * nmappings
        self._dispatch.update({
            Kind.SHRINK_LIST: self._shrink_counted,
            Kind.SLEEP: self._note,
            Kind.ACCESS: self._lookup,
            Kind.ALLOC_PAGE: self._alloc_from,
            Kind.ADD_PAGE: self._add_folio,
            Kind.KSWAPD_WAIT: self._kswapd_wait,
            Kind.EVENT: self._event,
            Kind.MM_STEP: self._note,
        })

    def initial_shared(self) -> list[Any]:
        # The simulation counts instead of checking rounds: no per-iterator baselines. The
        # engine applies every operation to this list, which the kernel-mirror code reads
        # through the machine (group_online()).
        self.shared = self._create_initial(list(self.layout.initial))
        return self.shared

    def enabled(self, shared: list[Any] | tuple[Any, ...], op: Op) -> bool:
        if op.kind is Kind.KSWAPD_WAIT:
            return bool(self.kswapd_wake[op.a])
        if op.kind in (Kind.RMDIR, Kind.KILL_CSS, Kind.CSS_OFFLINE) and self.live_procs[op.a]:
            return False  # cgroupfs refuses to remove a cgroup with tasks: the admin retries
        return super().enabled(shared, op)

    def enable_visit_log(self, debt_of: Callable[[int], int]) -> VisitLog:
        """Record every claim from now on (see :class:`VisitLog`). ``debt_of(task)`` is the
        simulated time a task has used in its turn, added to :attr:`now` for the claim's
        time. Call before the engine reads the handlers (before ``Simulation.run``)."""
        log = self.visit_log = VisitLog(debt_of)
        d = self._dispatch
        claim, shrink, add = d[Kind.CLAIM], d[Kind.SHRINK_LIST], d[Kind.ADD_PAGE]
        rows, open_ = log.rows, log.open

        def logged_claim(shared: list[Any], threads: list[ThreadComp], tid: int,
                         op: Op) -> tuple[Any, Violation | None]:
            it: IterSlots = op.a
            gen, g, _ = op.b
            key = it.key
            # The cookie's generation when the variant has one; the iterator key's priority
            # (the walk's own: shrink_zone keys the iterator by sc->priority).
            row = [self.now + debt_of(tid), tid, g, key.root, key.priority,
                   gen if it.generation >= 0 else -1, 0, 0, it.index]
            rows.append(row)
            open_[tid] = row
            return claim(shared, threads, tid, op)

        def logged_shrink(shared: list[Any], threads: list[ThreadComp], tid: int,
                          op: Op) -> tuple[Any, Violation | None]:
            out = shrink(shared, threads, tid, op)
            # Inactive lists only: what shrink_inactive_list reports on the kernel; the
            # active lists' rotation (shrink_active_list) frees nothing and has no record.
            if op.a[2] in (LRU_INACTIVE_ANON, LRU_INACTIVE_FILE):
                row = open_.get(tid)
                if row is not None:
                    row[6] += out[0][0]
                    row[7] += out[0][1]
            return out

        def logged_add(shared: list[Any], threads: list[ThreadComp], tid: int,
                       op: Op) -> tuple[Any, Violation | None]:
            if op.b is not None and not op.b[1]:  # (memcg, anon, mapping, index)
                log.file_adds += self.pages.nr[op.a]
            return add(shared, threads, tid, op)

        d[Kind.CLAIM], d[Kind.SHRINK_LIST], d[Kind.ADD_PAGE] = (logged_claim, logged_shrink,
                                                                logged_add)
        return log

    # -- monitors become counters --------------------------------------------------------

    def _claim(self, shared: list[Any], threads: list[ThreadComp], tid: int,
               op: Op) -> tuple[Any, Violation | None]:
        it: IterSlots = op.a
        gen, g, shared_walk = op.b
        t = threads[tid]
        wl = t[WALK_LEN]
        threads[tid] = (t[0], t[1], t[2], t[3], wl + 1)
        row = self.c.group[g]
        row[VISITS] += 1
        if not wl:
            row[FIRST] += 1
        cv = self._call_visits
        cv[tid] = cv.get(tid, 0) + 1
        if shared_walk:
            gens = self._iter_claims.get(it.index)
            if gens is None:
                gens = self._iter_claims[it.index] = {}
            seen = gens.get(gen)
            if seen is None:
                seen = gens[gen] = set()
                for old in [x for x in gens if x < gen - 2]:
                    del gens[old]
            if g in seen:
                self.c.duplicate_claims += 1
            else:
                seen.add(g)
            if wl and g == it.key.root:  # a continuing walker handed the root
                self.c.restarts_from_root += 1
        return _NONE2

    def _generation_store(self, shared: list[Any], it: IterSlots, old: int,
                          new: int) -> Violation | None:
        if new > old:
            self.c.walks_completed += 1
        return None

    def _lock(self, shared: list[Any], threads: list[ThreadComp], tid: int,
              op: Op) -> tuple[Any, Violation | None]:
        self.c.lock_acquisitions += 1
        return super()._lock(shared, threads, tid, op)

    def _css_offline(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                     op: Op) -> tuple[Any, Violation | None]:
        """v3.8-v3.18 removal on the v3.7 page model: the group's pages and charges move
        to its parent as v3.7's ``pre_destroy`` moved them (v3.10's ``css_offline`` ->
        ``mem_cgroup_reparent_charges()`` does the same), then the kill."""
        if self.era == "3.7":
            mem_cgroup_force_empty(self, op.a)
        return super()._css_offline(shared, threads, tid, op)

    def _kill_css(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                  op: Op) -> tuple[Any, Violation | None]:
        if self.era == "3.7":
            # A v3.19+ core's variant on the v3.7 page model: the pages move to the parent
            # at the kill (v3.19 stopped reparenting; charged pages pinned the memcg), so
            # that the v3.7 reclaim finds them where it looks.
            mem_cgroup_force_empty(self, op.a)
        return super()._kill_css(shared, threads, tid, op)

    def _rmdir(self, shared: list[Any], threads: list[ThreadComp], tid: int,
               op: Op) -> tuple[Any, Violation | None]:
        """The simulator's one-step rmdir (v3.7): the memcg's ``pre_destroy``,
        ``mem_cgroup_force_empty()`` (kernel-mirror code: it moves the pages and charges),
        then the removal (:meth:`Machine._rmdir`)."""
        mem_cgroup_force_empty(self, op.a)
        return super()._rmdir(shared, threads, tid, op)

    # -- pages and charges -----------------------------------------------------------------

    def _kswapd_wait(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                     op: Op) -> tuple[Any, Violation | None]:
        self.kswapd_wake[op.a] = False
        return None, None

    def _event(self, shared: list[Any], threads: list[ThreadComp], tid: int,
               op: Op) -> tuple[Any, Violation | None]:
        name, data = op.a, op.b
        c = self.c
        if name == "reclaim_call":
            kind, requested = data
            st = c.calls[kind]
            st.calls += 1
            st.requested += requested
            self._call_visits[tid] = 0
            self._call_stats[tid] = st
            if kind == "direct":
                c.stalls += 1
        elif name == "reclaim_done":
            # Pages are counted as they are scanned and reclaimed (_shrink_list), so a call
            # still running when the simulation ends is counted too; visits per call only
            # for calls that finished.
            kind = data[0]
            st = c.calls[kind]
            self._call_stats.pop(tid, None)
            v = self._call_visits.get(tid, 0)
            st.finished += 1
            st.visits += v
            st.max_visits = max(st.max_visits, v)
        elif name == "oom":
            if data is None:
                c.global_ooms += 1
            else:
                c.ooms[data] += 1
        elif name == "soft_reclaim":
            c.soft_reclaimed += data[1]
        elif name == "oom_kill":
            c.oom_kills += 1
        elif name == "high_throttle":
            c.high_throttled_ms += data[1]  # jiffies of 1 ms
        return None, None

    # -- data for the kernel-mirror code (no policy) -----------------------------------------

    def group_online(self, g: int) -> bool:
        return bool(self.shared[self.layout.gstate[g]] == GroupState.ONLINE)

    def task_alive(self, tid: int) -> bool:
        return tid not in self.task_done

    def anon_rss(self, tid: int) -> int:
        return self.task_anon.get(tid, 0)

    def anon_swapped(self, tid: int) -> int:
        """The task's anonymous pages out on swap (their shadows: MM_SWAPENTS)."""
        return sum(len(self.shadows[m]) for m, t in self.mapping_task.items()
                   if t == tid and m in self.mapping_anon)

    def free_folio(self, page: int) -> None:
        """The folio leaves its mapping, its group's count and the LRU, back to its zone
        (the caller has uncharged it). A reader inside it (``FOLIO_READ``) is woken: its
        next read misses."""
        pages = self.pages
        g = pages.owner[page]
        n = pages.nr[page]
        self.usage[g] -= n
        if not self.usage[g]:
            self._pages_put(g)
        m = pages.mapping[page]
        if m != NONE:
            mp = self.mappings[m]
            index = pages.index[page]
            if n == 1:
                mp.pop(index, None)
            else:
                for i in range(index, index + n):
                    del mp[i]
            if pages.anon[page]:
                tid = self.mapping_task[m]
                self.task_anon[tid] -= 1
        reader = self.folio_readers.pop(page, None)
        if reader is not None:
            self.woken.append(reader)
        pages.release(page)

    def wake_task(self, tid: int) -> None:
        """Wake a task sleeping through a folio's reads (``FOLIO_READ``) now; other sleeps
        end as they were going to (the model's other waits are short)."""
        self.woken.append(tid)

    def submit_read(self, nr_pages: int) -> list[tuple[int, int]]:
        """Queue a read of ``nr_pages`` on the machine's block device, in requests of at
        most ``max_request_pages``; returns ``(pages, completion time)`` per request, in
        order. See :class:`Device`."""
        dev = self.device
        dev.pages_read += nr_pages
        out = []
        while nr_pages > 0:
            n = min(nr_pages, dev.max_request_pages)
            nr_pages -= n
            start = max(self.now, dev.busy_until)
            transfer = n * dev.ns_per_page
            dev.busy_until = start + transfer
            # Each request's latency is drawn uniformly from 1/2 to 3/2 of the median: the
            # measured 4 KiB misses spread so (median 43-54 us, p90 up to 100 us), and
            # without a spread identical readers started together would stay in lockstep.
            dev.rng = (dev.rng * LCG_A + LCG_C) & MASK
            latency = dev.latency_ns // 2 + (dev.rng >> 33) * dev.latency_ns // (1 << 31)
            out.append((n, start + latency + transfer))
        return out

    def _css_next_child(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                        op: Op) -> tuple[Any, Violation | None]:
        """``css_next_child()`` without the explorer's checks (the simulator checks
        nothing)."""
        return self._next_child(shared, op.a, op.b), None

    def _pages_put(self, g: int) -> None:
        """The last page of group ``g`` is gone: drop the pages' reference (v6.x)."""
        if not g or self.era == "3.7":
            return
        shared = self.shared
        ref = shared[self.layout.refcnt[g]] - 1
        shared[self.layout.refcnt[g]] = ref
        if ref == 0:
            self._last_put(shared, [], g)

    def _shrink_counted(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                        op: Op) -> tuple[Any, Violation | None]:
        """A shrink step the kernel-mirror code did: ``a = (memcg, node, lru)``, ``b =
        (scanned, reclaimed)``; counted, and returned for the engine's time."""
        scanned, reclaimed = op.b[0], op.b[1]
        memcg, _, lru = op.a
        row = self.c.group[memcg]
        if lru in (LRU_INACTIVE_ANON, LRU_INACTIVE_FILE):
            row[SCANNED] += scanned
        row[RECLAIMED] += reclaimed
        st = self._call_stats.get(tid)
        if st is not None:
            if lru in (LRU_INACTIVE_ANON, LRU_INACTIVE_FILE):
                st.scanned += scanned
            st.reclaimed += reclaimed
        return op.b, None

    def _lookup(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                op: Op) -> tuple[Any, Violation | None]:
        """The page at ``index`` of mapping ``a`` (or None): ``filemap_get_folio`` / the
        page table entry."""
        return self.mappings[op.a].get(op.b), None

    def _alloc_from(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                    op: Op) -> tuple[Any, Violation | None]:
        """Take a free page of zone ``a`` (the caller checked the watermark); None if the
        zone has none left. ``a`` None: an allocation attempt that found no zone above its
        watermark, still one operation (an interleaving point, and the engine looks at the
        kswapd wake-ups after it)."""
        return (None if op.a is None else self.pages.alloc(op.a, op.b or 0)), None

    def _add_folio(self, shared: list[Any], threads: list[ThreadComp], tid: int,
                   op: Op) -> tuple[Any, Violation | None]:
        """``a`` = page, ``b`` = (memcg, anon, mapping, index, lru) or None (the page goes
        back to its zone unused)."""
        page = op.a
        if op.b is None:
            self.pages.unalloc(page)
            return None, None
        memcg, anon, mapping, index, lru = op.b
        pages = self.pages
        pages.add_folio(page, memcg, anon, mapping, index, lru)
        n = pages.nr[page]
        if n == 1:
            self.mappings[mapping][index] = page
        else:
            self.mappings[mapping].update(dict.fromkeys(range(index, index + n), page))
        if not self.usage[memcg] and memcg and self.era != "3.7":
            # v3.7 moves a removed group's pages to its parent (mem_cgroup_force_empty) and
            # takes no reference for them. Later, charged folios pin their memcg
            # (charge_memcg() takes a css reference per folio; the model holds one for all
            # of a group's pages): a removed group with pages stays offline, not
            # released, until they are gone.
            shared[self.layout.refcnt[memcg]] += 1
        self.usage[memcg] += n
        self.mapping_task[mapping] = tid
        if anon:
            self.mapping_anon.add(mapping)
            self.task_anon[tid] = self.task_anon.get(tid, 0) + 1
        return None, None
