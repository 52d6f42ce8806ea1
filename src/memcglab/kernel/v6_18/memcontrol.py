"""Variant ``current``: today's reclaim iterator, ``mem_cgroup_iter()`` of v6.12+ (v6.18).

Models mm/memcontrol.c of a v6.18.y tree (6952350/linux-6.18.y @ 312d9602fe3e), read
function by function in docs/research/current-iterator.md. The design comes from Kinsey Ho's
series (v4, Message-IDs <20240905003058.1859929-{2,3,4,5}-kinseyho@google.com>, in v6.12):
"mm: don't hold css->refcnt during traversal", "mm: increment gen # before restarting
traversal", "mm: restart if multiple traversals raced" (with Hugh Dickins' fix: the result is
reset before the restart, "so that goto out_unlock does not then return an ungotten memcg")
and "mm: clean up mem_cgroup_iter()". Mainline commit ids were not confirmed (only
mm-unstable ones were found, and they differ between tags).

* one ``struct mem_cgroup_reclaim_iter`` per (root, node): ``position``, a memcg pointer
  held without a reference (valid under RCU only), and ``atomic_t generation``;
* a walker with a cookie joins the current generation on its first call (re-read on every
  restart) and returns NULL once the generation has moved on;
* the search starts at the shared position (``READ_ONCE``), walks the subtree in pre-order
  (``css_next_descendant_pre``) and takes the first group whose ``css_tryget`` succeeds
  (offline groups too; the root without a reference);
* ``cmpxchg(&iter->position, pos, next)`` claims it; a walker that loses puts its
  reference and restarts; the winner of the store of NULL bumps the generation and, if it
  had just started, restarts from the root;
* ``mem_cgroup_css_released()`` -> ``invalidate_reclaim_iterators()``: when a group is
  released, a position still pointing at it is reset to NULL with a cmpxchg, in the group's
  own iterators and every ancestor's, on every node, without a generation bump.

Every access to the iterator is an atomic operation of its own (``atomic_read``,
``READ_ONCE``, ``cmpxchg``, ``atomic_inc``); each call of ``css_next_child`` is one RCU read
of a sibling list; ``css_tryget`` and ``css_put`` are the reference count's atomics.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, ClassVar

from memcglab.kernel.context import KernelContext
from memcglab.kernel.iter_css_id import iter_generation_inc, mem_cgroup_iter_break
from memcglab.kernel.iterator import Cookie, IterGen, MemcgIter, Setting
from memcglab.kernel.v6_18.cgroup import css_next_descendant_pre, css_put, css_tryget
from memcglab.kernel.v6_18.context import ReclaimCookie, TaskStruct
from memcglab.kernel.v6_18.page_counter import (
    PageCounter,
    page_counter_calculate_protection,
    page_counter_read,
    page_counter_try_charge,
    page_counter_uncharge,
)
from memcglab.model.constants import PAGE_ALLOC_COSTLY_ORDER
from memcglab.model.layout import NULL, IterSlots, memcg_ptr, ptr_memcg
from memcglab.runtime.machine import Semantics
from memcglab.runtime.ops import (
    RCU_READ_LOCK,
    RCU_READ_UNLOCK,
    Kind,
    Op,
    atomic_inc,
    call,
    cmpxchg,
    load,
    note,
    read_once,
)


class CurrentIter(MemcgIter):
    """``mem_cgroup_iter`` of v6.12+: lockless, per node, cmpxchg on a weak cursor."""

    name: ClassVar[str] = "current"
    kernels: ClassVar[str] = "v6.12+ (v6.18 as reference)"
    source: ClassVar[str] = ("Linux v6.18 mm/memcontrol.c mem_cgroup_iter(); Kinsey Ho, "
                             "\"mm: don't hold css->refcnt during traversal\" series (v6.12)")
    iter_fields: ClassVar[tuple[str, ...]] = ("position", "generation")
    era: ClassVar[str] = "6.18"
    handout_by_cmpxchg: ClassVar[bool] = True
    # percpu_ref trygets (fail only at zero), rmdir does not wait for references, and the
    # last put queues css_release_work_fn (kernel/cgroup/cgroup.c v6.18).
    semantics: ClassVar[Semantics] = Semantics(tryget_fails_offline=False,
                                               rmdir_waits_for_refs=False,
                                               release_work=True)
    # Each fix of the 2024 series can be turned off, to bring its race back (kernel
    # behaviour before v6.12: docs/research/iterator-history.md 7.11-7.13).
    settings: ClassVar[dict[str, Setting]] = {
        "atomic_generation": Setting("on", ("on", "off"), "atomic_t generation, "
                                     "atomic_read / atomic_inc (off: unsigned int, plain "
                                     "++: a bump can be lost)"),
        "bump_before_restart": Setting("on", ("on", "off"), "the wrap stores NULL and bumps "
                                       "the generation before a new walker restarts (off: "
                                       "it wraps silently, a second traversal in one "
                                       "generation)"),
        "restart_on_lost_cas": Setting("on", ("on", "off"), "the loser of the cmpxchg puts "
                                       "its group and restarts (off: it reclaims the "
                                       "winner's group too)"),
        "full_walk_retry": Setting("on", ("on", "off"), "the callers' retry with a full walk "
                                   "before giving up (6be5e186fd65, v6.11; off: partial walks "
                                   "alone, where many reclaimers can each see too few "
                                   "groups and OOM)"),
    }
    atomic_generation: ClassVar[bool] = True
    bump_before_restart: ClassVar[bool] = True
    restart_on_lost_cas: ClassVar[bool] = True
    full_walk_retry: ClassVar[bool] = True  # read by kernel.v6_18.vmscan

    @classmethod
    def configured(cls, values: dict[str, str]) -> dict[str, Any]:
        # A plain generation is read and incremented as a number: the explorer may not
        # rename its values (runtime.ops.Gen).
        return {"generation_names": values["atomic_generation"] == "on"}

    def _read_generation(self, it: IterSlots) -> Generator[Op, Any, int]:
        if self.atomic_generation:
            gen: int = yield read_once(it.generation, "gen = atomic_read(&iter->generation)")
        else:
            gen = yield load(it.generation, "gen = iter->generation")
        return gen

    def _bump_generation(self, it: IterSlots) -> Generator[Op, Any, None]:
        if self.atomic_generation:
            yield atomic_inc(it.generation, "atomic_inc(&iter->generation)")
        else:
            yield from iter_generation_inc(it)

    def mem_cgroup_iter(self, root: int | None, prev: int | None,
                        reclaim: Cookie | None) -> IterGen:
        k = self.k
        if root is None:
            root = k.root_mem_cgroup
        if k.notes:
            yield note(f"mem_cgroup_iter({k.name(root)}, prev={k.name(prev)})")
        # A simulation in which no group is removed may leave the read section out (it
        # only delays frees: KernelContext.rcu); the explorer always has it.
        if k.rcu:
            yield RCU_READ_LOCK
        assert reclaim is None or isinstance(reclaim, ReclaimCookie)
        it = k.iter_node(root, reclaim.pgdat) if reclaim is not None else None
        while True:  # restart:
            next = None
            if it is not None and reclaim is not None:
                gen = yield from self._read_generation(it)
                # On start, join the current reclaim iteration cycle. Exit when a
                # concurrent walker completes it.
                if prev is None:
                    reclaim.generation = gen
                elif reclaim.generation != gen:
                    if k.notes:
                        yield note(f"cookie gen {reclaim.generation} != {gen}: return NULL")
                    break  # goto out_unlock
                ptr = yield read_once(it.position, "pos = READ_ONCE(iter->position)")
                pos = ptr_memcg(ptr)
            else:
                pos = prev
            css = pos
            while True:
                css = yield from css_next_descendant_pre(k, css, root)
                if css is None:
                    if not self.bump_before_restart and prev is None:
                        continue  # v6.11: wrap to the root, no NULL stored, no bump
                    break
                # The root is provided by the caller, so it is alive and kicking, and
                # takes no extra reference.
                if css == root or (yield css_tryget(k, css)):
                    break
            next = css
            if it is not None:
                # The position could have been updated by a competing thread: check that it
                # has not changed since it was read, to avoid reclaiming one cgroup twice.
                found = yield cmpxchg(it.position, memcg_ptr(pos), memcg_ptr(next),
                                      "cmpxchg(&iter->position, pos, next)")
                if found != memcg_ptr(pos) and self.restart_on_lost_cas:
                    if css is not None and css != root:
                        yield css_put(k, css)
                    continue  # goto restart
                if next is None:
                    yield from self._bump_generation(it)
                    # Reclaimers share the hierarchy walk, and a new one might jump in right
                    # at the end of the hierarchy: make sure they see at least one group
                    # and restart from the beginning.
                    if prev is None and self.bump_before_restart:
                        continue  # goto restart
            break
        # out_unlock:
        if k.rcu:
            yield RCU_READ_UNLOCK
        if prev is not None and prev != root:
            yield css_put(k, prev)
        if k.notes:
            yield note(f"return {k.name(next)}")
        return next

    def mem_cgroup_iter_break(self, root: int | None,
                              prev: int | None) -> Generator[Op, Any, None]:
        """``mem_cgroup_iter_break()``: drops the reference on ``prev``; the shared position
        stays where it is (at ``prev``, weakly)."""
        yield from mem_cgroup_iter_break(self.k, root, prev)

    def mem_cgroup_css_released(self, memcg: int) -> Generator[Op, Any, None]:
        """``mem_cgroup_css_released()``: ``invalidate_reclaim_iterators()`` (and
        ``lru_gen_release_memcg()``, MGLRU, not modelled)."""
        yield from invalidate_reclaim_iterators(self.k, memcg)


def parent_mem_cgroup(k: KernelContext, memcg: int) -> int | None:
    """``parent_mem_cgroup()``: ``mem_cgroup_from_css(memcg->css.parent)``; v6.x always
    reaches the root (cgroup v1's non-hierarchical mode is gone since v5.11, so the
    ``use_hierarchy`` of the 3.x model does not stop it here)."""
    return k.topology.parent(memcg)


def __invalidate_reclaim_iterators(k: KernelContext, from_memcg: int,
                                   dead_memcg: int) -> Generator[Op, Any, None]:
    """``__invalidate_reclaim_iterators(from, dead_memcg)``: for each node,
    ``cmpxchg(&iter->position, dead_memcg, NULL)``. Iterators of roots no reclaimer walks
    hold NULL for ever, where the cmpxchg changes nothing, so they are not modelled."""
    for nid in k.nodes:
        it = k.layout.find_iter_node(from_memcg, nid)
        if it is not None:
            yield cmpxchg(it.position, memcg_ptr(dead_memcg), NULL,
                          f"__invalidate_reclaim_iterators({k.name(from_memcg)}, node{nid}): "
                          f"cmpxchg(&iter->position, {k.name(dead_memcg)}, NULL)")


def invalidate_reclaim_iterators(k: KernelContext, dead_memcg: int) -> Generator[Op, Any, None]:
    """``invalidate_reclaim_iterators()``: the dead group's own iterators, then every
    ancestor's up to the root; a separate pass over the root's when the parent chain stopped
    short of it (cgroup v1 non-hierarchical mode: dead code in v6.x, kept as in the C)."""
    memcg: int | None = dead_memcg
    last = dead_memcg
    while memcg is not None:
        yield from __invalidate_reclaim_iterators(k, memcg, dead_memcg)
        last = memcg
        memcg = parent_mem_cgroup(k, memcg)
    if last != k.root_mem_cgroup:
        yield from __invalidate_reclaim_iterators(k, k.root_mem_cgroup, dead_memcg)


# -- charging and protection (memcglab run) ---------------------------------------------------
#
# mm/memcontrol.c and include/linux/memcontrol.h of v6.18.19, read in docs/research/
# v6-reclaim.md sections 1 and 2 ([MC], [MH] line numbers there). cgroup v2 unless said.

MEMCG_CHARGE_BATCH = 64  # [MH]:332 (32 before v6.1)
MAX_RECLAIM_RETRIES = 16  # mm/internal.h [IN]:533
MEMCG_MAX_HIGH_DELAY_JIFFIES = 2 * 1000  # 2UL*HZ, [MC]:2071 (HZ = 1000 here)
MEMCG_DELAY_PRECISION_SHIFT = 20
MEMCG_DELAY_SCALING_SHIFT = 14
HZ = 1000
NSEC_PER_JIFFY = 1_000_000

# enum memcg_memory_event (include/linux/memcontrol.h), the ones reclaim raises
MEMCG_LOW, MEMCG_HIGH, MEMCG_MAX, MEMCG_OOM, MEMCG_OOM_KILL = range(5)
MEMORY_EVENTS = ("low", "high", "max", "oom", "oom_kill")


class MemCgroup:
    """The fields of ``struct mem_cgroup`` charge and reclaim use: the ``memory`` page
    counter (with ``high``, ``max``, ``min``, ``low`` and the effective protection),
    ``memory_events`` (hierarchical) and ``memory_events_local``."""

    __slots__ = ("id", "memory", "memory_events", "memory_events_local")

    def __init__(self, memcg_id: int, parent: MemCgroup | None, on_dfl: bool) -> None:
        self.id = memcg_id
        # page_counter_init(&memcg->memory, &parent->memory, memcg_on_dfl) ([MC]:3806)
        self.memory: PageCounter = PageCounter(
            parent.memory if parent is not None else None, on_dfl)
        self.memory_events = [0] * len(MEMORY_EVENTS)
        self.memory_events_local = [0] * len(MEMORY_EVENTS)


class MemcgState:
    """Every memcg of the simulated machine and the global switches charging reads
    (kept on :attr:`KernelContext.mem` by the simulator)."""

    def __init__(self, k: KernelContext, on_dfl: bool, recursive_protection: bool,
                 swap: bool) -> None:
        topo = k.topology
        self.memcgs: list[MemCgroup] = []
        for g in range(topo.size):
            p = topo.parent(g)
            self.memcgs.append(MemCgroup(g, self.memcgs[p] if p is not None else None,
                                         on_dfl))
        # mem_cgroup_from_counter(counter, memory), container_of() in C: a failed charge
        # names the counter over its limit.
        self.memcg_of_counter = {mc.memory: mc.id for mc in self.memcgs}
        self.on_dfl = on_dfl
        # cgrp_dfl_root.flags & CGRP_ROOT_MEMORY_RECURSIVE_PROT: the memory_recursiveprot
        # mount option of cgroup2.
        self.recursive_protection = recursive_protection
        self.vm_swappiness = 60  # mm/vmscan.c [VS]:202; per memcg on v1 only
        self.total_swap_pages = swap  # the model's swap has no size: on or off
        self.tasks: list[TaskStruct] = []


def mem(k: KernelContext) -> MemcgState:
    state: MemcgState = k.mem
    return state


def mem_cgroup_is_root(k: KernelContext, memcg: int) -> bool:
    return memcg == k.root_mem_cgroup


def mem_cgroup_size(k: KernelContext, memcg: int) -> int:
    """[MC]:1624: ``page_counter_read(&memcg->memory)``."""
    return mem(k).memcgs[memcg].memory.usage


def mem_cgroup_margin(k: KernelContext, memcg: int) -> int:
    """[MC]:1307-1328 (v2: the memory counter only)."""
    c = mem(k).memcgs[memcg].memory
    count = c.usage
    limit = c.max
    return limit - count if count < limit else 0


def memcg_memory_event(k: KernelContext, memcg: int, event: int) -> None:
    """[MH]:1005-1034: the local counter of the memcg, then ``memory.events`` of it and, on
    cgroup v2, every ancestor below the root (memory_localevents not modelled); v1 counts
    the group itself only."""
    m = mem(k)
    m.memcgs[memcg].memory_events_local[event] += 1
    x: int | None = memcg
    while x is not None:
        m.memcgs[x].memory_events[event] += 1
        if not m.on_dfl:
            break
        x = k.topology.parent(x)
        if x is not None and mem_cgroup_is_root(k, x):
            break


def consume_stock(k: KernelContext, current: TaskStruct, memcg: int, nr_pages: int) -> bool:
    """[MC]:1797-1950: take pre-charged pages from this CPU's stock."""
    if nr_pages > MEMCG_CHARGE_BATCH:
        return False
    if current.stock_memcg == memcg and current.stock_nr >= nr_pages:
        current.stock_nr -= nr_pages
        return True
    return False


def drain_stock(k: KernelContext, current: TaskStruct) -> None:
    """Give the stock's pre-charge back to its memcg's counters."""
    if current.stock_memcg >= 0 and current.stock_nr:
        page_counter_uncharge(mem(k).memcgs[current.stock_memcg].memory, current.stock_nr)
    current.stock_memcg = -1
    current.stock_nr = 0


def refill_stock(k: KernelContext, current: TaskStruct, memcg: int, nr_pages: int) -> None:
    """Cache ``nr_pages`` pre-charged pages of ``memcg``; a stock of another memcg is
    drained first (the model's one slot), one over the batch is drained."""
    if current.stock_memcg != memcg:
        drain_stock(k, current)
        current.stock_memcg = memcg
    current.stock_nr += nr_pages
    if current.stock_nr > MEMCG_CHARGE_BATCH:
        drain_stock(k, current)


def drain_all_stock(k: KernelContext, root_memcg: int) -> None:
    """Drain every CPU's stock of a memcg in ``root_memcg``'s subtree."""
    topo = k.topology
    for t in mem(k).tasks:
        if t.stock_memcg >= 0 and topo.is_descendant(t.stock_memcg, root_memcg):
            drain_stock(k, t)


def try_charge_memcg(k: KernelContext, variant: MemcgIter, current: TaskStruct, memcg: int,
                     nr_pages: int, zones: tuple[int, ...], noretry: bool = False
                     ) -> Generator[Op, Any, bool]:
    """[MC]:2298-2491 for a blocking GFP_KERNEL-like charge: the stock, the batch charge,
    the unbatched retry, limit reclaim of the counter that failed, the drain, the progress
    retry, MAX_RECLAIM_RETRIES no-progress retries, the memcg OOM. True: charged.
    ``noretry``: ``__GFP_NORETRY`` (readahead's folios): after the drain, give up
    ([MC]:2370-2371), so at most two reclaim calls."""
    from memcglab.kernel.v6_18.vmscan import try_to_free_mem_cgroup_pages  # mutual, as in C
    batch = max(MEMCG_CHARGE_BATCH, nr_pages)
    nr_retries = MAX_RECLAIM_RETRIES
    passed_oom = False
    drained = False
    m = mem(k)
    while True:  # retry:
        yield Op(Kind.MM_STEP, "try_charge_memcg")
        if consume_stock(k, current, memcg, nr_pages):
            return True
        counter = page_counter_try_charge(m.memcgs[memcg].memory, batch)
        if counter is None:
            break  # goto done_restock
        mem_over_limit = m.memcg_of_counter[counter]  # mem_cgroup_from_counter()
        if batch > nr_pages:
            batch = nr_pages
            continue
        memcg_memory_event(k, mem_over_limit, MEMCG_MAX)
        nr_reclaimed = yield call(try_to_free_mem_cgroup_pages(
            k, variant, mem_over_limit, nr_pages, zones, True))  # MEMCG_RECLAIM_MAY_SWAP
        if mem_cgroup_margin(k, mem_over_limit) >= nr_pages:
            continue
        if not drained:
            drain_all_stock(k, mem_over_limit)
            drained = True
            continue
        if noretry:
            return False  # goto nomem
        if nr_reclaimed and nr_pages <= (1 << PAGE_ALLOC_COSTLY_ORDER):
            continue  # progress: retry without using up a retry
        if nr_retries:
            nr_retries -= 1
            continue
        if passed_oom and current.killed:
            return False
        if (yield from mem_cgroup_oom(k, mem_over_limit)):
            passed_oom = True
            nr_retries = MAX_RECLAIM_RETRIES
            continue
        return False  # nomem: -ENOMEM (no __GFP_NOFAIL here)
    # done_restock:
    if batch > nr_pages:
        refill_stock(k, current, memcg, batch - nr_pages)
    # memory.high: the first level over high (the root included in this walk) makes the
    # task reclaim on its way back to user space.
    x: int | None = memcg
    while x is not None:
        c = m.memcgs[x].memory
        if c.usage > c.high:
            current.memcg_nr_pages_over_high += batch
            break
        x = k.topology.parent(x)
    # The synchronous variant: too much over high to wait for the return to user mode.
    if current.memcg_nr_pages_over_high > MEMCG_CHARGE_BATCH:
        yield from __mem_cgroup_handle_over_high(k, variant, current, zones)
    return True


def try_charge(k: KernelContext, variant: MemcgIter, current: TaskStruct, memcg: int,
               nr_pages: int, zones: tuple[int, ...], noretry: bool = False
               ) -> Generator[Op, Any, bool]:
    """[MC]:2493-2500: the root memcg is never charged."""
    if mem_cgroup_is_root(k, memcg):
        return True
    return (yield from try_charge_memcg(k, variant, current, memcg, nr_pages, zones,
                                        noretry))


def mem_cgroup_uncharge(k: KernelContext, memcg: int, nr_pages: int = 1) -> None:
    """``uncharge_batch()``: straight to the page counters (no stock)."""
    if not mem_cgroup_is_root(k, memcg):
        page_counter_uncharge(mem(k).memcgs[memcg].memory, nr_pages)


def mem_cgroup_oom(k: KernelContext, memcg: int) -> Generator[Op, Any, bool]:
    """[MC]:1629-1679, order 0: ``MEMCG_OOM``, then ``mem_cgroup_out_of_memory()``: true
    without a kill if there is margin now, else ``out_of_memory()`` in the subtree (true:
    a task was killed, or one is already on its way out)."""
    from memcglab.kernel.v6_18.oom_kill import out_of_memory  # mutual, as in C
    memcg_memory_event(k, memcg, MEMCG_OOM)
    yield Op(Kind.EVENT, "oom", memcg)
    if mem_cgroup_margin(k, memcg) >= 1:
        return True
    victim = out_of_memory(k, memcg)
    if victim is not None and victim >= 0:
        yield Op(Kind.EVENT, "oom_kill", (memcg, victim))
    return victim is not None


# -- memory.high ---------------------------------------------------------------------------


def reclaim_high(k: KernelContext, variant: MemcgIter, memcg: int, nr_pages: int,
                 zones: tuple[int, ...]) -> Generator[Op, Any, int]:
    """[MC]:2031-2056: every level below the root that is over high is reclaimed."""
    from memcglab.kernel.v6_18.vmscan import try_to_free_mem_cgroup_pages  # mutual, as in C
    nr_reclaimed = 0
    x: int | None = memcg
    m = mem(k)
    while x is not None and not mem_cgroup_is_root(k, x):
        c = m.memcgs[x].memory
        if c.usage > c.high:
            memcg_memory_event(k, x, MEMCG_HIGH)
            nr_reclaimed += yield call(try_to_free_mem_cgroup_pages(
                k, variant, x, nr_pages, zones, True))  # MEMCG_RECLAIM_MAY_SWAP
        x = k.topology.parent(x)
    return nr_reclaimed


def calculate_overage(usage: int, high: int) -> int:
    """[MC]:2119-2130."""
    if usage <= high:
        return 0
    # Prevent division by 0 in overage calculation by acting as if it was a threshold of 1
    # page.
    high = max(high, 1)
    overage = usage - high
    overage <<= MEMCG_DELAY_PRECISION_SHIFT
    return overage // high


def mem_find_max_overage(k: KernelContext, memcg: int) -> int:
    """[MC]:2132-2145: the largest overage of the memcg and its ancestors below the root."""
    max_overage = 0
    x: int | None = memcg
    m = mem(k)
    while x is not None and not mem_cgroup_is_root(k, x):
        c = m.memcgs[x].memory
        max_overage = max(calculate_overage(c.usage, c.high), max_overage)
        x = k.topology.parent(x)
    return max_overage


def calculate_high_delay(memcg: int, nr_pages: int, max_overage: int) -> int:
    """[MC]:2165-2201: the penalty in jiffies, quadratic in the overage, clamped to 2 s."""
    if not max_overage:
        return 0
    # unsigned long arithmetic: the product wraps at 64 bits for huge overages.
    penalty_jiffies = (max_overage * max_overage * HZ) & ((1 << 64) - 1)
    penalty_jiffies >>= MEMCG_DELAY_PRECISION_SHIFT
    penalty_jiffies >>= MEMCG_DELAY_SCALING_SHIFT
    # Factor in the task's own contribution to the overage.
    return penalty_jiffies * nr_pages // MEMCG_CHARGE_BATCH


def __mem_cgroup_handle_over_high(k: KernelContext, variant: MemcgIter, current: TaskStruct,
                                  zones: tuple[int, ...]) -> Generator[Op, Any, None]:
    """[MC]:2208-2296: reclaim the task's own memcg down towards high, then sleep the
    penalty (``schedule_timeout_killable``) if the overage is still large."""
    nr_pages = current.memcg_nr_pages_over_high
    nr_retries = MAX_RECLAIM_RETRIES
    in_retry = False
    memcg = current.memcg  # get_mem_cgroup_from_mm(current->mm)
    current.memcg_nr_pages_over_high = 0
    while True:  # retry_reclaim:
        if current.killed:
            return
        nr_reclaimed = yield from reclaim_high(
            k, variant, memcg, 32 if in_retry else nr_pages, zones)
        penalty_jiffies = calculate_high_delay(memcg, nr_pages,
                                               mem_find_max_overage(k, memcg))
        # Clamp the max delay per usermode return so as to still keep the application
        # moving forwards and also permit diagnostics, albeit extremely slowly.
        penalty_jiffies = min(penalty_jiffies, MEMCG_MAX_HIGH_DELAY_JIFFIES)
        # Don't sleep if the amount of jiffies this memcg owes us is so low that it's
        # not even worth doing, in an attempt to be nice to those who go over their
        # high threshold by a small margin.
        if penalty_jiffies <= HZ // 100:
            return
        if nr_reclaimed or nr_retries:
            if not nr_reclaimed:
                nr_retries -= 1
            in_retry = True
            continue
        break
    yield Op(Kind.EVENT, "high_throttle", (memcg, penalty_jiffies))
    yield Op(Kind.SLEEP, penalty_jiffies * NSEC_PER_JIFFY)


def mem_cgroup_handle_over_high(k: KernelContext, variant: MemcgIter, current: TaskStruct,
                                zones: tuple[int, ...]) -> Generator[Op, Any, None]:
    """[MH]:914-918, from ``resume_user_mode_work()`` on the way back to user mode."""
    if current.memcg_nr_pages_over_high:
        yield from __mem_cgroup_handle_over_high(k, variant, current, zones)


# -- protection ------------------------------------------------------------------------------


def mem_cgroup_calculate_protection(k: KernelContext, root: int | None, memcg: int) -> None:
    """[MC]:4684-4697."""
    m = mem(k)
    if root is None:
        root = k.root_mem_cgroup
    page_counter_calculate_protection(m.memcgs[root].memory, m.memcgs[memcg].memory,
                                      m.recursive_protection)


def mem_cgroup_protection(k: KernelContext, root: int | None, memcg: int) -> tuple[int, int]:
    """[MH]:557-590: the target gets no protection (``root == memcg``), others their
    ``READ_ONCE(memcg->memory.emin / elow)``."""
    if root == memcg:
        return 0, 0
    c = mem(k).memcgs[memcg].memory
    return c.emin, c.elow


def mem_cgroup_unprotected(k: KernelContext, target: int | None, memcg: int) -> bool:
    return mem_cgroup_is_root(k, memcg) or memcg == target


def mem_cgroup_below_low(k: KernelContext, target: int | None, memcg: int) -> bool:
    if mem_cgroup_unprotected(k, target, memcg):
        return False
    c = mem(k).memcgs[memcg].memory
    return c.elow >= page_counter_read(c)


def mem_cgroup_below_min(k: KernelContext, target: int | None, memcg: int) -> bool:
    if mem_cgroup_unprotected(k, target, memcg):
        return False
    c = mem(k).memcgs[memcg].memory
    return c.emin >= page_counter_read(c)


def mem_cgroup_online(k: KernelContext, memcg: int) -> bool:
    return bool(k.mm.group_online(memcg))


def mem_cgroup_swappiness(k: KernelContext, memcg: int) -> int:
    """include/linux/swap.h [SH]:592-603: the global vm_swappiness on cgroup v2."""
    return mem(k).vm_swappiness


def mem_cgroup_get_nr_swap_pages(k: KernelContext, memcg: int) -> int:
    """[MC]:5226-5237, with the model's swap: unlimited when the machine has swap, else 0
    (the selftest's ``memory.swap.max = 0`` reads the same). The model's swap has no size
    and no ``memory.swap.max`` / ``swap.high``: it never fills."""
    return 1 << 30 if mem(k).total_swap_pages else 0
