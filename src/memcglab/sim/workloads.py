"""Workload processes: user-space behaviour that drives the kernel paths.

Each process touches one page at a time of its own mapping (a file it reads, or anonymous
memory), at a fixed rate, between a start and a stop time:

* ``stream``: pages 0, 1, ..., size-1, then again from 0 (a streaming read of a file);
* ``loop``: the same, meant for a working set that should stay resident;
* ``random``: uniformly random pages of a hot set, from a 64-bit LCG seeded per process
  (integer arithmetic only, so runs are identical across Python versions).

A touch is a ``read()`` of a file page or a touch of an anonymous page, and a missing page
faults (:func:`memcglab.kernel.v3_7.memory.touch_page`). ``SLEEP`` returns the simulated
time after the sleep, which is how a process knows when to stop.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from memcglab.kernel.context import KernelContext
from memcglab.kernel.iterator import MemcgIter
from memcglab.kernel.v3_7.memory import touch_page
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


def process(k: KernelContext, variant: MemcgIter, p: ProcessSpec) -> Generator[Op, Any, None]:
    now: int = yield Op(Kind.SLEEP, p.start_ns)
    i = 0
    x = p.seed & _MASK
    while now < p.stop_ns:
        if p.pattern == "random":
            x = (x * _LCG_A + _LCG_C) & _MASK
            index = (x >> 33) % p.pages
        else:
            index = i % p.pages
            i += 1
        yield from touch_page(k, variant, p.memcg, p.anon, p.mapping, index, p.zones,
                              p.may_swap)
        now = yield Op(Kind.SLEEP, p.interval_ns)


def cgroup_admin(k: KernelContext, changes: tuple[tuple[int, str, int], ...]
                 ) -> Generator[Op, Any, None]:
    """mkdir / rmdir at given times: (time_ns, op, memcg), sorted by time."""
    now = 0
    for at, op, memcg in changes:
        if at > now:
            now = yield Op(Kind.SLEEP, at - now)
        kind = Kind.MKDIR if op == "mkdir" else Kind.RMDIR
        yield Op(kind, memcg, None, f"{op} {k.name(memcg)}")
