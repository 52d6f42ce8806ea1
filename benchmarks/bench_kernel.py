"""The live kernel's two figures, measured side by side in one run (needs root and a
memory controller; `memcglab kernel probe` says what is there).

1. Recorder overhead. The same workload runs with recording off (``--no-record``: only the
   sampled counters), with the tracefs layer alone (``--bpf off``) and with tracefs +
   bpftrace, alternating, ``--repeat`` times each. The workload reads flat out (a rate far
   above what the machine can do: every worker's ``kept_rate`` is false), so its
   throughput -- pages touched per second of its own running time -- is what recording
   can slow down; wall time per page is its inverse. The ratio is the median throughput
   without recording over the median with it: the wall time a fixed amount of work takes
   with recording, relative to without. Goal (issue 7): at most 1.10.
2. Model against kernel. For every example scenario (``scenarios/*.toml``), the wall time
   of ``memcglab run`` against ``memcglab kernel run`` of the same file (whole commands,
   set-up and teardown included), as a ratio (below 1: the model answers first).

    sudo .venv/bin/python benchmarks/bench_kernel.py              # both, about 3 minutes
    sudo .venv/bin/python benchmarks/bench_kernel.py --only overhead --repeat 7
    sudo .venv/bin/python benchmarks/bench_kernel.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GOAL_OVERHEAD = 1.10
MODES = {"none": ["--no-record"], "tracefs": ["--bpf", "off"],
         "tracefs+bpftrace": ["--bpf", "on"]}

OVERHEAD_SCENARIO = """\
description = "bench: two readers flat out under a 16M parent (limit reclaim all the time)"
seed = 1
duration = "{duration}"
[[group]]
name = "parent"
limit = "16M"
[[group]]
name = "a"
parent = "parent"
[[group]]
name = "b"
parent = "parent"
[[workload]]
group = "a"
pattern = "stream"
size = "128M"
rate = "16G"
[[workload]]
group = "b"
pattern = "stream"
size = "128M"
rate = "16G"
"""


def memcglab(*argv: str) -> tuple[float, dict[str, Any]]:
    """Run the CLI in a subprocess: (wall seconds, its --json output)."""
    t = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "memcglab", *argv, "--json"],
                          capture_output=True, text=True, cwd=ROOT)
    wall = time.monotonic() - t
    if proc.returncode != 0:
        raise SystemExit(f"memcglab {' '.join(argv)} failed ({proc.returncode}):\n"
                         f"{proc.stderr}")
    return wall, json.loads(proc.stdout)


def throughput(m: dict[str, Any]) -> float:
    """Pages touched per second of the workers' running time, summed over workers."""
    return float(sum(w.get("rate_pages_s") or 0.0 for w in m["recording"]["workers"]))


def overhead(repeat: int, duration: str, workdir: Path) -> dict[str, Any]:
    rows: dict[str, list[float]] = {k: [] for k in MODES}
    kept: list[bool] = []
    records: dict[str, list[int]] = {k: [] for k in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        scen = Path(tmp) / "overhead.toml"
        scen.write_text(OVERHEAD_SCENARIO.format(duration=duration))
        for i in range(repeat):
            # alternate the order so that drift of the machine hits every mode alike
            order = list(MODES) if i % 2 == 0 else list(reversed(MODES))
            for mode in order:
                _, m = memcglab("kernel", "run", str(scen), "--workdir", str(workdir),
                                *MODES[mode])
                rows[mode].append(throughput(m))
                kept += [bool(w.get("kept_rate")) for w in m["recording"]["workers"]]
                records[mode].append(sum(g["visits"] or 0 for g in m["groups"]))
    med = {k: statistics.median(v) for k, v in rows.items()}
    return {"pages_per_s": rows, "median_pages_per_s": med,
            "visits_recorded_median": {k: statistics.median(v) for k, v in records.items()},
            "ratio": {k: med["none"] / med[k] for k in MODES if k != "none"},
            "any_worker_kept_its_rate": any(kept)}


def model_vs_kernel(workdir: Path) -> list[dict[str, Any]]:
    out = []
    for scen in sorted((ROOT / "scenarios").glob("*.toml")):
        model_s, _ = memcglab("run", str(scen))
        kernel_s, m = memcglab("kernel", "run", str(scen), "--workdir", str(workdir))
        out.append({"scenario": scen.stem, "model_s": round(model_s, 3),
                    "kernel_s": round(kernel_s, 3), "ratio": round(model_s / kernel_s, 3),
                    "kernel_visits": sum(g["visits"] or 0 for g in m["groups"]),
                    "kernel_differences": len(m.get("kernel_differences", []))})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="runs per recording mode (5)")
    ap.add_argument("--duration", default="2s", help="overhead workload's duration (2s)")
    ap.add_argument("--only", choices=("overhead", "model"), help="one of the two parts")
    ap.add_argument("--workdir", type=Path, default=Path("/var/tmp/memcglab-bench"))
    ap.add_argument("--json", type=Path, help="also write every figure as JSON here")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_kernel: needs root (memcglab kernel run creates cgroups)")
        return 2
    load = os.getloadavg()[0]
    print(f"machine: {platform.node()}, Linux {platform.release()}, "
          f"{os.cpu_count()} CPUs, load average {load:.2f}")
    doc: dict[str, Any] = {"machine": {"kernel": platform.release(),
                                       "cpus": os.cpu_count(), "load_before": load}}
    if args.only in (None, "overhead"):
        o = overhead(args.repeat, args.duration, args.workdir)
        doc["overhead"] = o
        print(f"\nrecorder overhead ({args.repeat} runs per mode, {args.duration} each, two "
              "readers flat out under a 16M limit; median throughput):")
        print(f"{'recording':<18} {'pages/s':>12} {'visits':>8} {'wall ratio':>11}")
        for mode, v in o["median_pages_per_s"].items():
            ratio = "1.000" if mode == "none" else f"{o['ratio'][mode]:.3f}"
            print(f"{mode:<18} {v:>12,.0f} {o['visits_recorded_median'][mode]:>8,.0f} "
                  f"{ratio:>11}")
        worst = max(o["ratio"].values())
        print(f"goal: wall ratio <= {GOAL_OVERHEAD:.2f}: "
              f"{'met' if worst <= GOAL_OVERHEAD else 'NOT met'} (worst {worst:.3f})"
              + ("" if not o["any_worker_kept_its_rate"] else
                 "; note: some worker kept its rate, so throughput is not the limit"))
    if args.only in (None, "model"):
        rows = model_vs_kernel(args.workdir)
        doc["model_vs_kernel"] = rows
        print("\nmodel against kernel (wall time of the whole command, one run each):")
        print(f"{'scenario':<18} {'memcglab run':>13} {'kernel run':>11} {'ratio':>7} "
              f"{'kernel visits':>14}")
        for r in rows:
            print(f"{r['scenario']:<18} {r['model_s']:>12.2f}s {r['kernel_s']:>10.2f}s "
                  f"{r['ratio']:>7.2f} {r['kernel_visits']:>14,}")
        print("(below 1: the model answers before the kernel does)")
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
