"""How a workload process paces its touches: the schedule of ``memcglab kernel run``'s
worker (src/memcglab/live/worker.py), which the kernel 6.18 simulation follows
(src/memcglab/sim/workloads.py), kept in one place. Standard library only: the worker
imports it and must start fast.

Touch ``k`` is due at ``t0 + k * interval``. The worker works in ticks of ``TICK_NS``: a tick
makes every touch due so far, at most ``default_chunk`` of them, then sleeps until the next
tick or the next due touch, whichever is later. Touches more than ``MAX_LAG_NS`` overdue are
forgiven (the page sequence goes on, the time is dropped).
"""

from __future__ import annotations

TICK_NS = 1_000_000
MAX_LAG_NS = 100_000_000
# A tick touches at most CHUNK_FACTOR ticks' worth of due pages (so a late tick catches up
# over the next few) and never more than CHUNK_MAX: with a backlog or a rate the machine
# cannot reach, a tick then lasts about 1 ms of cached reads, so SIGTERM and the end of the
# duration are seen promptly (uncached random reads make a tick longer: CHUNK_MAX disk reads
# at most).
CHUNK_FACTOR = 4
CHUNK_MIN = 16
CHUNK_MAX = 1024


def default_chunk(interval_ns: int, tick_ns: int = TICK_NS) -> int:
    """The most touches one tick makes, for touches ``interval_ns`` apart."""
    per_tick = -(-tick_ns // interval_ns)
    return max(CHUNK_MIN, min(CHUNK_MAX, CHUNK_FACTOR * per_tick))
