"""How much memory a simulation needs, estimated from its plan before it runs.

``memcglab run`` and ``compare`` refuse a plan whose estimate exceeds the memory budget
(``--max-memory``; by default most of the machine's MemAvailable, see
:mod:`memcglab.cli.resources`), saying what the estimate is made of and how to lower it,
instead of running out of memory minutes later.

The constants are bytes per unit, measured with ``benchmarks/mem_model.py`` (peak RSS of
two sizes of each dimension, CPython 3.11 on x86_64) and rounded up; docs/scenarios.md
lists them. The estimate covers the simulation, the metrics and JSON, and (with ``--out``)
the time-series files and plots.
"""

from __future__ import annotations

from dataclasses import dataclass

from memcglab.sim.plan import Plan

PRIORITIES = 13  # DEF_PRIORITY 12 down to 0: one iterator per (root, zone, priority)

BASE_BYTES = 160 << 20  # interpreter, numpy/matplotlib/pyarrow, a small run's plots
BYTES_PER_PAGE = 96  # per page of the machine: the page arrays and the free lists
BYTES_PER_USED_PAGE = 150  # per page in use: LRU entry, mapping entry, counters
BYTES_PER_GROUP = 3_000  # slots, counters, hierarchy, scenario entry, metrics and JSON
BYTES_PER_ITER = 2_200  # per iterator (a root with a limit has zones x 13 of them)
BYTES_PER_PROCESS = 3_000  # generator frames, spec, mapping table
BYTES_PER_SAMPLE_GROUP = 250  # one group in one time-series sample (the run keeps them all)
BYTES_PER_SAMPLE_GROUP_OUT = 300  # ... and its CSV/Parquet row and plot point (--out)


@dataclass(frozen=True, slots=True)
class Estimate:
    """The estimate, by part, in bytes."""

    parts: tuple[tuple[str, int], ...]

    @property
    def total(self) -> int:
        return sum(b for _, b in self.parts)


def samples(plan: Plan) -> int:
    return plan.duration_ns // plan.sample_ns + 1


def estimate(plan: Plan, outputs: bool = True) -> Estimate:
    """Peak memory of simulating ``plan`` (and writing its outputs when ``outputs``)."""
    groups = plan.topology.size
    pages = sum(z.pages for z in plan.zones)
    used = min(pages, sum(w.pages * w.processes for w in plan.workloads))
    roots = 1 + sum(1 for g in range(1, groups)
                    if plan.limits[g] is not None or plan.soft_limits[g] is not None)
    procs = sum(w.processes for w in plan.workloads)
    per_sample = BYTES_PER_SAMPLE_GROUP + (BYTES_PER_SAMPLE_GROUP_OUT if outputs else 0)
    return Estimate((
        ("base", BASE_BYTES),
        (f"{pages:,} pages", pages * BYTES_PER_PAGE + used * BYTES_PER_USED_PAGE),
        (f"{groups:,} groups", groups * BYTES_PER_GROUP),
        (f"{roots * len(plan.zones) * PRIORITIES:,} iterators",
         roots * len(plan.zones) * PRIORITIES * BYTES_PER_ITER),
        (f"{procs:,} processes", procs * BYTES_PER_PROCESS),
        (f"{samples(plan):,} samples x {groups:,} groups",
         samples(plan) * groups * per_sample),
    ))
