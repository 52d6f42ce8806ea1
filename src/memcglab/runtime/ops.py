"""Operations: every shared-memory access of model code, as a value.

A reclaimer never reads or writes shared state itself; it yields an :data:`Op` and receives
the result. This is what makes every access an interleaving point (convention C8), and what
lets the explorer treat a thread's code as a pure function of the results it received.

Each op carries the kernel-level text shown in counterexample diagrams, for example
``pos = iter->position``; the machine appends the value read.
"""

from __future__ import annotations

import functools
from enum import IntEnum
from typing import Any, NamedTuple


class Kind(IntEnum):
    """What an operation does. The machine dispatches on it."""

    NOTE = 0  # no effect: a line in the diagram (function entry, return, ...)
    LOAD = 1  # plain load of a slot (C: x = iter->position)
    STORE = 2  # plain store (C: iter->position = x)
    LOCK = 3  # spin_lock(); blocks while held
    UNLOCK = 4  # spin_unlock()
    RCU_LOCK = 5  # rcu_read_lock()
    RCU_UNLOCK = 6  # rcu_read_unlock(); may end a grace period
    CSS_GET_NEXT = 7  # css_get_next(): one RCU read of the css id IDR
    TRYGET = 8  # css_tryget()
    GET = 9  # css_get()
    PUT = 10  # css_put(); may release the group
    CLAIM = 11  # monitor: a group was handed out to reclaim (shrink_lruvec on it)
    WALK_START = 12  # monitor: a new mem_cgroup_iter() walk starts
    MKDIR = 13  # cgroup creation (css id allocated, online)
    RMDIR = 14  # whole cgroup removal in one step, the rest of the destroy path left to the
    # machine (simulator's admin); the explorer's admin runs the steps below instead
    CLEAR_CSS_REFS = 15  # cgroup_clear_css_refs(): blocks until only the base reference is
    # left (v3.7), marks the css removed, drops the base reference; returns True if it was
    # the last one (the removing task then runs the destroy path itself)
    SYNC_RCU_START = 16  # synchronize_rcu() begins: the readers inside a read section now
    SYNC_RCU_WAIT = 17  # synchronize_rcu() returns; blocks until those readers have left
    FREE_CSS_ID = 18  # free_css_id(): the css id leaves the IDR and may be reused
    CALL_RCU_FREE = 19  # call_rcu(free_rcu): the memcg is freed once current readers leave
    # Simulation only (memcglab run): pages, LRU lists, time. See memcglab.sim.machine: the
    # page operations only do what the kernel-mirror code decided, and count.
    SHRINK_LIST = 21  # counts one SWAP_CLUSTER_MAX batch of a shrink: (memcg, zone, lru),
    # (pages taken, pages reclaimed); the engine charges the time of the pages taken
    SLEEP = 22  # the task waits (workload think time, kswapd between passes)
    ACCESS = 23  # look up one page of a process's file / working set (page cache, pte)
    ALLOC_PAGE = 25  # take a free page of the zone the caller chose (None: no zone qualified)
    ADD_PAGE = 26  # a new page joins its mapping and the LRU list the caller chose (or, with
    # no list, goes back to its zone unused)
    KSWAPD_WAIT = 27  # kswapd sleeps until woken below the low watermark
    EVENT = 29  # a metrics event (allocation stall, OOM, reclaim call)
    CALL = 31  # run a sub-generator on the task's own stack (simulation engine trampoline)
    # Marked accesses and atomics (v4.4+ iterators; LKMM: marked accesses never race).
    READ_ONCE = 32  # READ_ONCE(x) / atomic_read(&x): a marked load of a slot
    CMPXCHG = 33  # cmpxchg(&x, old, new): yields the value found; stores new if it was old
    ATOMIC_INC = 34  # atomic_inc(&x)
    # The cgroup core of v5.x-v6.x (kernel/cgroup/cgroup.c; memcglab.kernel.v6_18.cgroup).
    CSS_NEXT_CHILD = 35  # css_next_child(pos, parent): one RCU read of a sibling list
    KILL_CSS = 36  # kill_css() + offline_css(): CSS_DYING, offline, base reference dropped
    RELEASE_WAIT = 37  # cgroup_release_wq's worker takes the next queued css_release work
    CSS_RELEASE = 38  # css_release_work_fn(): CSS_RELEASED set and list_del_rcu(&sibling)
    # memcglab run: the kernel-mirror code reads and writes the page state (charge counters,
    # LRU lists, page flags) itself, between two operations; this one is a point where
    # another task may run (a charge attempt, a lock taken) and costs one step.
    MM_STEP = 39
    # memcglab run, kernel 6.18: time in absolute simulated ns.
    SLEEP_UNTIL = 40  # sleep until time a (the process's next read is due; I/O completes)
    FOLIO_READ = 41  # a reader's reads inside one folio, batched until time a; b = (folio,
    # mapping, index, CPU ns): woken early, at the time its folio is freed (the engine sends
    # the wake time)
    NOW = 42  # the task's own simulated time (its time step's plus what it used since)
    # The cgroup core of v3.10-v3.18 (kernel/cgroup.c; memcglab.kernel.v3_10.cgroup): removal
    # and creation in the steps the iterators of that era can observe.
    CSS_OFFLINE = 43  # the css is killed (trygets that fail on a dying css fail from now on);
    # the base reference is still held while ss->css_offline() runs
    PUT_BASE = 44  # the reference the kill kept is dropped; may release the group
    CSS_LINK = 45  # css linked into its parent's children (walkers see it), count 1, css id;
    # not yet through ss->css_online()
    CSS_ONLINE = 46  # ss->css_online() done: the memcg is initialised
    RECLAIM_DONE = 48  # monitor: a reclaim call gives up; a = its target (None: global),
    # b = what it reclaimed (explorer units)
    CSS_ONLINE_TEST = 47  # css->flags & CSS_ONLINE (v3.12-v3.18): yields whether the group is
    # online (created, initialised and not killed)


class Gen(int):
    """A value read from an iterator's atomic generation (``atomic_read``). Model code may
    only compare such values for equality and store them; the explorer then treats states
    that differ by a consistent renaming of the generation values as one (docs/internals.md,
    "Generation values"), and checks that the model keeps to the rule."""

    __slots__ = ()


class Op(NamedTuple):
    """One operation. ``a`` and ``b`` are kind-specific operands; ``text`` is for humans."""

    kind: Kind
    a: Any = None
    b: Any = None
    text: str = ""


# Ops are immutable values, so the frequent ones are built once and reused: building a
# NamedTuple costs more than the operation it describes (measured in benchmarks/bench_sim.py).


def note(text: str) -> Op:
    return Op(Kind.NOTE, None, None, text)


@functools.cache
def load(slot: int, text: str) -> Op:
    return Op(Kind.LOAD, slot, None, text)


@functools.cache
def store(slot: int, value: int, lvalue: str) -> Op:
    """``lvalue = value``; the diagram shows ``iter->position = 2`` from ``iter->position``."""
    return Op(Kind.STORE, slot, value, lvalue)


def spin_lock(slot: int, text: str = "spin_lock(&iter->iter_lock)") -> Op:
    return Op(Kind.LOCK, slot, None, text)


def spin_unlock(slot: int, text: str = "spin_unlock(&iter->iter_lock)") -> Op:
    return Op(Kind.UNLOCK, slot, None, text)


def call(gen: Any) -> Op:
    """``result = yield call(f(...))`` is ``result = yield from f(...)`` run by the simulation
    engine on the task's own stack: later steps resume ``f`` directly instead of passing
    through every caller's frame. Used on the fault path's entry into reclaim (sim only)."""
    return Op(Kind.CALL, gen)


@functools.cache
def read_once(slot: int, text: str) -> Op:
    """``READ_ONCE(x)`` or ``atomic_read(&x)``: a marked load (not a data race)."""
    return Op(Kind.READ_ONCE, slot, None, text)


@functools.cache
def cmpxchg(slot: int, old: int, new: int, text: str) -> Op:
    """``cmpxchg(&x, old, new)``: atomically stores ``new`` if ``x == old``; yields the value
    it found (equal to ``old`` exactly when the store happened)."""
    return Op(Kind.CMPXCHG, slot, (old, new), text)


@functools.cache
def atomic_inc(slot: int, text: str) -> Op:
    return Op(Kind.ATOMIC_INC, slot, None, text)


RCU_READ_LOCK = Op(Kind.RCU_LOCK, None, None, "rcu_read_lock()")
RCU_READ_UNLOCK = Op(Kind.RCU_UNLOCK, None, None, "rcu_read_unlock()")
