"""Sweep executors side by side on the same cells: a serial loop, the local process pool and
a local Ray instance (issue 12's goals: pool >= 0.8 x cores the serial cells/s; Ray's time
per cell <= 1.2 x the pool's on one machine).

Every executor runs the same cells (flat-limit, distinct seeds) through the sweep's own
code (memcglab.grid.executors) and writes every result into a results store, as
`memcglab sweep` does. Ray's start, its workers' warm-up (one task per CPU, each importing
memcglab) and its shutdown are measured and printed apart: they are paid once per sweep,
not per cell. The metric columns of all three are compared: they must be equal.

    python benchmarks/bench_sweep.py [--cells 48] [--duration 100ms] [--repeat 3] [--quick]
                                     [--no-ray]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from memcglab.cli.resources import usable_cores  # noqa: E402
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
    ap.add_argument("--repeat", type=int, default=3,
                    help="rounds of serial, pool and Ray, interleaved; the medians are "
                         "compared (a virtual machine's neighbours make single runs vary "
                         "by 20%%)")
    ap.add_argument("--quick", action="store_true", help="16 cells of 50ms, one round")
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.cells, args.duration, args.repeat = 16, "50ms", 1
    cores = usable_cores()
    work = jobs(args.cells, args.duration)
    say = print
    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep."))
    use_ray = not args.no_ray and ray_available()
    print(f"{len(work)} cells of flat-limit, {args.duration} simulated each, {cores} cores, "
          f"{args.repeat} rounds")
    times: dict[str, list[float]] = {"serial": [], "pool": [], "ray": []}
    ray_once: dict[str, float] = {}
    reference: dict[str, dict[str, Any]] | None = None

    def check(rows: dict[str, dict[str, Any]], what: str) -> None:
        nonlocal reference
        reference = reference or rows
        assert rows == reference, f"{what}'s metrics differ from the serial loop's"

    def timed(name: str, run: Any) -> None:
        done, rows = collector(str(tmp / f"{name}-{len(times[name])}"))
        t = time.perf_counter()
        run(done)
        times[name].append(time.perf_counter() - t)
        check(rows, name)

    # Serial and pool rounds interleaved, then Ray's rounds in one Ray session: Ray's own
    # processes (GCS, raylet, ...) take CPU while it is up, which a pool never pays.
    for _ in range(args.repeat):
        timed("serial", lambda done: run_serial(work, done, say))
        timed("pool", lambda done: run_pool(work, done, say, cores))
    ray = None
    if use_ray:
        t = time.perf_counter()
        with ray_session(None, cores) as ray:
            ray_once["start"] = time.perf_counter() - t
            t = time.perf_counter()
            warm, _ = collector(str(tmp / "warm"))
            ray_cells(ray, jobs(cores, "1ms"), warm, say, cores, 1.0)  # a task per worker
            ray_once["warm-up"] = time.perf_counter() - t
            for _ in range(args.repeat):
                timed("ray", lambda done: ray_cells(ray, work, done, say, cores, 1.0))
            t = time.perf_counter()
        ray_once["shutdown"] = time.perf_counter() - t

    def line(name: str, label: str, extra: str = "") -> float:
        xs = times[name]
        med = statistics.median(xs)
        spread = f" (rounds {min(xs):.2f}-{max(xs):.2f} s)" if len(xs) > 1 else ""
        print(f"{label:<13} {med:7.2f} s  {len(work) / med:6.2f} cells/s{spread}{extra}")
        return med

    serial = line("serial", "serial loop")
    pool = line("pool", "local pool", f"  ({cores} workers, start included)")
    speedup = serial / pool
    ok = speedup >= 0.8 * cores
    print(f"pool / serial (medians): {speedup:.2f}x = {speedup / cores:.2f} x cores "
          f"(goal >= 0.8 x cores): {'MET' if ok else 'MISSED'}")
    if ray is None:
        print("Ray: skipped" + ("" if args.no_ray else " (not installed: pip install "
                                                        "'memcglab[ray]')"))
        return 0 if ok else 1
    cells = line("ray", "Ray (local)", "  (start {start:.2f} s, worker warm-up {warm:.2f} s, "
                 "shutdown {stop:.2f} s, once, apart)".format(
                     start=ray_once["start"], warm=ray_once["warm-up"],
                     stop=ray_once["shutdown"]))
    per_ray, per_pool = cells / len(work), pool / len(work)
    ratio = per_ray / per_pool
    print(f"Ray / pool per cell (medians): {per_ray * 1e3:.1f} ms / {per_pool * 1e3:.1f} ms = "
          f"{ratio:.2f}x (goal <= 1.2x): {'MET' if ratio <= 1.2 else 'MISSED'}")
    print("metric columns: serial == pool == Ray for every cell, every round")
    return 0 if ok and ratio <= 1.2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
