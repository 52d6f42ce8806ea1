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
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from memcglab.runtime.ops import Kind, Op

_LCG_A = 6364136223846793005
_LCG_C = 1442695040888963407
_MASK = (1 << 64) - 1


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


def process(p: ProcessSpec, kern: Any) -> Generator[Op, Any, None]:
    """A process's user-space loop; ``kern`` (:class:`memcglab.sim.eras.UserEntry`) is the
    kernel it calls into: a touch of each page, the return to user mode after it, the exit
    (also when the OOM killer has killed it)."""
    now: int = yield Op(Kind.SLEEP, p.start_ns)
    i = 0
    x = p.seed & _MASK
    index = -1
    while now < p.stop_ns and not kern.killed():
        if index < 0:
            if p.pattern == "random":
                x = (x * _LCG_A + _LCG_C) & _MASK
                index = (x >> 33) % p.pages
            else:
                index = i % p.pages
                i += 1
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
