"""Sweep executors side by side on the same cells: a serial loop, the local process pool and
a local Ray instance (issue 12's goals: pool >= 0.8 x cores the serial cells/s; Ray's time
per cell <= 1.2 x the pool's on one machine).

Every executor runs the same cells (flat-limit, distinct seeds) through the sweep's own
code (memcglab.grid.executors) and writes every result into a results store, as
`memcglab sweep` does. Ray's start, its workers' warm-up (one task per CPU, each importing
memcglab) and its shutdown are measured and printed apart: they are paid once per sweep,
not per cell. The metric columns of all three are compared: they must be equal.

    python benchmarks/bench_sweep.py [--cells 48] [--duration 100ms] [--quick] [--no-ray]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from memcglab.grid.cells import Job, Outcome, flatten  # noqa: E402
from memcglab.grid.executors import (  # noqa: E402
    ray_available,
    ray_cells,
    ray_session,
    run_pool,
    run_serial,
)
from memcglab.grid.runner import cell_ids  # noqa: E402
from memcglab.grid.store import Store  # noqa: E402
from memcglab.metrics import summary as _summary  # noqa: E402, F401  (imported before timing)
from memcglab.scenario.sweep_spec import expand  # noqa: E402
from memcglab.sim import engine as _engine  # noqa: E402, F401


def jobs(cells: int, duration: str) -> list[Job]:
    sweep = expand({"sweep": {"name": "bench", "base": str(ROOT / "scenarios" /
                                                           "flat-limit.toml"),
                              "seeds": list(range(1, cells + 1))},
                    "axis": [{"path": "duration", "values": [duration]}]}, "bench")
    return [Job(i, c.source, c.plan) for i, c in zip(cell_ids(sweep), sweep.cells,
                                                     strict=True)]


def collector(folder: str) -> tuple[Any, dict[str, dict[str, Any]]]:
    store = Store.open(folder)
    rows: dict[str, dict[str, Any]] = {}

    def done(out: Outcome) -> None:
        row = flatten(out.metrics)
        store.write_cell(out.cell_id, {"cell_id": out.cell_id, **row})
        rows[out.cell_id] = row

    return done, rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=48)
    ap.add_argument("--duration", default="100ms", help="simulated time per cell")
    ap.add_argument("--quick", action="store_true", help="16 cells of 50ms")
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.cells, args.duration = 16, "50ms"
    cores = len(os.sched_getaffinity(0))
    work = jobs(args.cells, args.duration)
    say = print
    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep."))
    print(f"{len(work)} cells of flat-limit, {args.duration} simulated each, {cores} cores")

    done, serial_rows = collector(str(tmp / "serial"))
    t = time.perf_counter()
    run_serial(work, done, say)
    serial = time.perf_counter() - t

    done, pool_rows = collector(str(tmp / "pool"))
    t = time.perf_counter()
    run_pool(work, done, say, cores)
    pool = time.perf_counter() - t
    assert pool_rows == serial_rows, "the pool's metrics differ from the serial loop's"

    print(f"serial loop   {serial:7.2f} s  {len(work) / serial:6.2f} cells/s")
    print(f"local pool    {pool:7.2f} s  {len(work) / pool:6.2f} cells/s  "
          f"({cores} workers, start included)")
    speedup = serial / pool
    ok = speedup >= 0.8 * cores
    print(f"pool / serial: {speedup:.2f}x = {speedup / cores:.2f} x cores "
          f"(goal >= 0.8 x cores): {'MET' if ok else 'MISSED'}")
    if args.no_ray or not ray_available():
        print("Ray: skipped" + ("" if args.no_ray else " (not installed: pip install "
                                                        "'memcglab[ray]')"))
        return 0 if ok else 1
    done, ray_rows = collector(str(tmp / "ray"))
    t = time.perf_counter()
    with ray_session(None, cores) as ray:
        started = time.perf_counter() - t
        t = time.perf_counter()
        warm, _ = collector(str(tmp / "warm"))
        ray_cells(ray, jobs(cores, "1ms"), warm, say, cores, 1.0)  # a first task per worker
        warmup = time.perf_counter() - t
        t = time.perf_counter()
        ray_cells(ray, work, done, say, cores, 1.0)
        cells = time.perf_counter() - t
        t = time.perf_counter()
    stopped = time.perf_counter() - t
    assert ray_rows == serial_rows, "Ray's metrics differ from the serial loop's"
    per_ray, per_pool = cells / len(work), pool / len(work)
    ratio = per_ray / per_pool
    print(f"Ray (local)   {cells:7.2f} s  {len(work) / cells:6.2f} cells/s  (start "
          f"{started:.2f} s, worker warm-up {warmup:.2f} s, shutdown {stopped:.2f} s, apart)")
    print(f"Ray / pool per cell: {per_ray * 1e3:.1f} ms / {per_pool * 1e3:.1f} ms = "
          f"{ratio:.2f}x (goal <= 1.2x): {'MET' if ratio <= 1.2 else 'MISSED'}")
    print("metric columns: serial == pool == Ray for every cell")
    return 0 if ok and ratio <= 1.2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
