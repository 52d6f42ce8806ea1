"""Workload processes: user-space behaviour that drives the kernel paths.

Each process touches one page at a time of its own mapping (a file it reads, or anonymous
memory), at a fixed rate, between a start and a stop time:

* ``stream``: pages 0, 1, ..., size-1, then again from 0 (a streaming read of a file);
* ``loop``: the same, meant for a working set that should stay resident;
* ``random``: uniformly random pages of a hot set, from a 64-bit LCG seeded per process
  (integer arithmetic only, so runs are identical across Python versions).

Each touch calls into the scenario's kernel (:mod:`memcglab.sim.eras`): a read(2) of a file
page, or a store to an anonymous page; a missing page faults. ``SLEEP`` returns the
simulated time after the sleep, which is how a process knows when to stop.

Kernel 3.7 scenarios sleep ``interval`` after each touch; kernel 6.18 scenarios are paced
as the live kernel's worker is (due times, catching up, see :func:`_paced`), with the reads
inside one folio batched. Each process records how many distinct pages it touched
(``touched``: the page-in amplification's denominator, as the worker counts them).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from memcglab.model.pacing import MAX_LAG_NS, TICK_NS, default_chunk
from memcglab.runtime.ops import Kind, Op

# The simulator's 64-bit LCG (Knuth's MMIX constants; integer only, so the same on every
# Python version): the random workloads' pages, the scheduler's choices, the device's
# latencies.
LCG_A = 6364136223846793005
LCG_C = 1442695040888963407
MASK = (1 << 64) - 1
# The default timer slack of a task (include/linux/init_task.h: 50 us): how late a
# sleeping worker may wake.
TIMER_SLACK_NS = 50_000
# CPU time of a read(2) of 4 KiB that hits the page cache, as the live worker makes it
# (Python's os.preadv included: 1.04-1.05 us, measured on the development machine;
# docs/io-cost.md).
HIT_NS = 1_000
_NOW = Op(Kind.NOW)


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    memcg: int
    pattern: str  # stream | loop | random
    anon: bool
    pages: int
    interval_ns: int
    start_ns: int
    stop_ns: int
    mapping: int
    seed: int
    zones: tuple[int, ...]
    may_swap: bool
    readahead: str = "default"  # default | sequential | off (posix_fadvise, kernel 6.18)


def process(p: ProcessSpec, kern: Any) -> Generator[Op, Any, None]:
    """A process's user-space loop; ``kern`` (:class:`memcglab.sim.eras.UserEntry`) is the
    kernel it calls into: a touch of each page, the return to user mode after it, the exit
    (also when the OOM killer has killed it)."""
    now: int = yield Op(Kind.SLEEP, p.start_ns)
    if kern.paced:
        yield from _paced(p, kern, now)
        return
    i = 0
    x = p.seed & MASK
    index = -1
    touched = kern.touched
    seen: set[int] = set()
    while now < p.stop_ns and not kern.killed():
        if index < 0:
            if p.pattern == "random":
                x = (x * LCG_A + LCG_C) & MASK
                index = (x >> 33) % p.pages
                seen.add(index)
                touched[p.mapping] = len(seen)
            else:
                index = i % p.pages
                i += 1
                touched[p.mapping] = min(i, p.pages)
        done = yield from kern.touch(index)
        if kern.resume_user is not None:
            yield from kern.resume_user()
        if kern.killed():
            break
        # A store whose fault failed (VM_FAULT_OOM, only with kernel 6.18) runs again:
        # pagefault_out_of_memory() returns to user space and the instruction repeats. A
        # read(2) that failed returns an error and the reader goes on.
        if not (done is False and p.anon):
            index = -1
        now = yield Op(Kind.SLEEP, p.interval_ns)
    if kern.exit is not None:
        yield from kern.exit()


class _Pacer:
    """The live worker's schedule (src/memcglab/live/worker.py ``Worker.run``), as data:
    touch ``k`` is due at ``t0 + k * interval``; a tick makes the touches due (at most
    ``chunk``), touches more than ``max_lag`` overdue are forgiven, and the next tick starts
    ``tick`` after this one, or when the next touch is due, whichever is later, plus the
    timer's slack; a tick that could not make all it owed is followed at once."""

    __slots__ = ("backlog", "behind", "chunk", "credited", "interval", "seed", "stop", "t0",
                 "tick", "total")

    def __init__(self, p: ProcessSpec, t0: int) -> None:
        self.interval = p.interval_ns
        self.t0 = t0
        self.stop = p.stop_ns
        self.total = -(-(p.stop_ns - t0) // p.interval_ns)  # touches owed by the stop
        self.chunk = default_chunk(p.interval_ns)
        self.backlog = max(self.chunk, MAX_LAG_NS // p.interval_ns)
        self.credited = 0  # touches made or forgiven
        self.tick = 0
        self.behind = False
        self.seed = p.seed

    def copy(self) -> _Pacer:
        c = _Pacer.__new__(_Pacer)
        for name in _Pacer.__slots__:
            setattr(c, name, getattr(self, name))
        return c

    def start(self, now: int) -> int:
        """A tick begins at ``now``: how many touches it makes (credited as made)."""
        due = self.total if now >= self.stop - 1 else min(
            self.total, (now - self.t0) // self.interval + 1)
        owed = due - self.credited
        if owed > self.backlog:
            self.credited += owed - self.backlog  # forgiven: the time, not the pages
            owed = self.backlog
        n = owed if owed < self.chunk else self.chunk
        self.behind = owed > n
        self.credited += n
        self.tick += 1
        return max(0, n)

    def next_start(self, now: int) -> int:
        """When the tick after the one that began at ``now`` begins."""
        if self.behind:
            return now
        target = max(now + TICK_NS, self.t0 + self.credited * self.interval)
        if target >= self.stop - 1:
            # The last tick makes what is still owed at the stop; it runs 1 ns before it,
            # since a simulation ends at its duration (the worker's runs just after).
            return max(now, self.stop - 1)
        # The worker's sleep (select() with a timeout) wakes up to the task's timer slack
        # late (timer_slack_ns, 50 us by default, include/linux/init_task.h): by how much
        # depends on other timers; a hash of the process seed and the tick number stands
        # for it.
        h = ((self.seed ^ self.tick) * LCG_A + LCG_C) & MASK
        return min(self.stop - 1, target + (h >> 33) % TIMER_SLACK_NS)


def _paced(p: ProcessSpec, kern: Any, now: int) -> Generator[Op, Any, None]:
    """The loop of kernel 6.18 scenarios, paced as ``memcglab kernel run``'s worker is
    (:class:`_Pacer`): ticks of 1 ms, each making the touches due back to back.

    Sequential reads inside one folio are batched: after a read that found (or brought in)
    a folio, the next reads of the same folio change nothing the kernel or another task
    can see (``filemap_read`` marks a folio accessed only on the first read into it, and
    the first read clears the folio's ``PG_readahead``), so the process skips them, and when they
    run into later ticks it sleeps through those ticks in one ``FOLIO_READ``. If reclaim
    frees the folio meanwhile, the engine wakes it then: the ticks that had begun made
    their reads, the next one starts as scheduled and its reads miss, as they would one by
    one (docs/io-cost.md, "Batching")."""
    pacer = _Pacer(p, now)
    x = p.seed & MASK
    made = 0  # position in the page sequence
    touched = kern.touched
    seen: set[int] = set()
    sequential = p.pattern != "random"
    batch = kern.batch if sequential else None
    pages = p.pages
    while not kern.killed():
        final = now >= p.stop_ns - 1
        n = pacer.start(now)
        j = 0
        while j < n:
            if sequential:
                index = made % pages
            else:
                x = (x * LCG_A + LCG_C) & MASK
                index = (x >> 33) % pages
                seen.add(index)
            done = yield from kern.touch(index)
            if kern.resume_user is not None:
                yield from kern.resume_user()
            if kern.killed():
                break
            if done is False and p.anon:
                continue  # the faulting store runs again (pagefault_out_of_memory)
            made += 1
            j += 1
            if batch is None or done is None:
                continue
            head, rest = batch(index)
            rest = min(rest, pages - 1 - index)  # the stream starts again at page 0
            skip = min(rest, n - j)  # reads of this folio later in this tick
            made += skip
            j += skip
            rest -= skip
            if skip:
                index += skip
                kern.batched(index)
            if rest <= 0 or j < n or final:
                continue
            # The folio's reads go on in the next ticks: plan them as the ticks would run
            # one by one, from the time this tick's reads end (a tick starts when it is
            # due or when the CPU work before it is done, whichever is later: the engine's
            # rule for SLEEP_UNTIL), and sleep through them.
            t = yield _NOW
            plan = pacer.copy()
            ticks: list[tuple[int, _Pacer, int, int]] = []  # start, pacer, folio reads, reads
            ts, busy = now, t + j * HIT_NS
            while rest > 0:
                ts = max(busy, plan.next_start(ts))
                if ts >= p.stop_ns - 1:
                    break
                m = plan.start(ts)
                f = min(m, rest)
                ticks.append((ts, plan.copy(), f, m))
                rest -= f
                busy = ts + f * HIT_NS
            if not ticks:
                continue
            last = ticks[-1][0]
            # The CPU of the reads slept through is charged now (the CPU is busy for as long
            # as they take, before the sleep), the last tick's with that tick.
            cpu = (j + sum(f for _, _, f, _ in ticks[:-1])) * HIT_NS
            woke = yield Op(Kind.FOLIO_READ, last, (head, p.mapping, index, cpu))
            # The ticks begun by the time it woke made their reads of this folio.
            for ts, after, m, _ in ticks:
                if ts > woke:
                    break
                pacer, now = after, ts
                made += m
                index += m
            kern.batched(index)
            if woke >= last:
                # Inside the last tick: its reads of the folio are made, the rest come now.
                n, j = ticks[-1][3], ticks[-1][2]
                final = now >= p.stop_ns - 1
            else:
                n = j = 0  # woken early: the next tick reads on (and misses)
        touched[p.mapping] = min(made, pages) if sequential else len(seen)
        if final or kern.killed():
            break
        # The tick's reads copied a page each (their CPU time, before the sleep).
        now = yield Op(Kind.SLEEP_UNTIL, pacer.next_start(now), j * HIT_NS)
    if kern.exit is not None:
        yield from kern.exit()
