"""The validation scenarios (scenarios/validation/): the model against the live kernel, in
wall time and in agreement, side by side in one run.

For each scenario:

* kernel wall: the workload on the live kernel, from the first process's start to the end
  of the timeline (``recording.timeline_s`` of ``memcglab kernel run``; set-up, file
  writing and teardown excluded). With root and a memory controller the scenario is run
  now (``--repeat`` times, the median taken); without them, or with ``--fixtures``, the
  recorded repetitions in tests/fixtures/kernel-runs/validation/ are used (their median),
  and the table says so;
* model wall: ``memcglab run SCENARIO`` as a subprocess, the whole command, interpreter
  start included (``--model-runs`` times, the median);
* the ratio model / kernel (goal: below 1 on every row);
* the divergence figures of ``memcglab compare --kernel --model-seeds 10`` against the
  kernel's repetitions (the fixtures', or the ones just run): per-group reclaim share MAE,
  |Δ Jain|, |Δ successor rate|, page-in amplification error, each against its goal
  (memcglab.metrics.validation).

    .venv/bin/python benchmarks/bench_kernel_vs_model.py                # fixtures' kernel
    sudo .venv/bin/python benchmarks/bench_kernel_vs_model.py --repeat 3  # live kernel
    .venv/bin/python benchmarks/bench_kernel_vs_model.py --json out.json --markdown out.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios" / "validation"
FIXTURES = ROOT / "tests" / "fixtures" / "kernel-runs" / "validation"
sys.path.insert(0, str(ROOT / "src"))

from memcglab.metrics.validation import GOALS  # noqa: E402


def command(*argv: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run ``memcglab ARGV`` as a user would (a new interpreter): (wall seconds, result)."""
    t = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "memcglab", *argv], capture_output=True,
                          text=True, cwd=ROOT)
    wall = time.monotonic() - t
    if proc.returncode != 0:
        raise SystemExit(f"memcglab {' '.join(argv)} failed ({proc.returncode}):\n"
                         f"{proc.stderr}")
    return wall, proc


def live_ready() -> bool:
    return os.geteuid() == 0 and Path("/proc/cgroups").exists() and any(
        line.split()[0] == "memory" and line.split()[-1] == "1"
        for line in Path("/proc/cgroups").read_text().splitlines()[1:])


def kernel_side(name: str, live: bool, repeat: int, workdir: Path, keep: Path
                ) -> tuple[str, Path]:
    """Where the kernel's runs.json is: the fixture, or a run made now."""
    if not live:
        return "fixture", FIXTURES / name
    out = keep / name
    command("kernel", "run", str(SCENARIOS / f"{name}.toml"), "--repeat", str(repeat),
            "--workdir", str(workdir), "--out", str(out))
    return "live", out


def bench(name: str, live: bool, repeat: int, model_runs: int, workdir: Path,
          keep: Path) -> dict[str, Any]:
    source, result = kernel_side(name, live, repeat, workdir, keep)
    runs = json.loads((result / "runs.json").read_text())
    kernel_s = statistics.median(r["recording"]["timeline_s"] for r in runs)
    walls = [command("run", str(SCENARIOS / f"{name}.toml"))[0] for _ in range(model_runs)]
    model_s = statistics.median(walls)
    _, proc = command("compare", "--kernel", str(SCENARIOS / f"{name}.toml"), "--variants",
                      "current", "--kernel-result", str(result), "--model-seeds", "10",
                      "--json")
    doc = json.loads(proc.stdout)
    k, m = doc["kernel"]["mean"], doc["models"]["current"]
    sides = {key: (get(k), get(m)) for key, get in (
        ("jain", lambda x: x["fairness"]["jain_index_reclaim"]),
        ("successor", lambda x: x["visit_order"]["successor_rate"]),
        ("amplification", lambda x: x["page_in"]["amplification"]),
        ("walks", lambda x: x["iterator"]["walks_completed"]))}
    return {"scenario": name, "kernel_source": source, "kernel_runs": len(runs),
            "kernel_s": round(kernel_s, 3), "model_s": round(model_s, 3),
            "model_walls": [round(w, 3) for w in walls],
            "ratio": round(model_s / kernel_s, 3), "goals": doc["goals"]["current"],
            "kernel_vs_model": sides}


def markdown(rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table (docs/io-cost.md holds one)."""
    def pair(r: dict[str, Any], key: str, fmt: str) -> str:
        a, b = r["kernel_vs_model"][key]
        return " / ".join("-" if x is None else format(x, fmt) for x in (a, b))

    out = ["| scenario | share MAE | Jain kernel / model | successor kernel / model | "
           "amplification kernel / model | walks kernel / model | goals met | kernel s | "
           "model s | ratio |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        g = r["goals"]
        mae = g["share_mae"]["value"]
        met = sum(x["met"] for x in g.values())
        out.append(f"| {r['scenario']} | {'-' if mae is None else f'{mae:.3f}'} | "
                   f"{pair(r, 'jain', '.3f')} | {pair(r, 'successor', '.3f')} | "
                   f"{pair(r, 'amplification', '.3f')} | {pair(r, 'walks', ',')} | "
                   f"{met} of {len(g)} | {r['kernel_s']:.2f} | {r['model_s']:.2f} | "
                   f"{r['ratio']:.2f} |")
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fixtures", action="store_true",
                    help="take the kernel's side from the recorded fixtures even as root")
    ap.add_argument("--repeat", type=int, default=3,
                    help="live kernel runs per scenario (3; the median is taken)")
    ap.add_argument("--model-runs", type=int, default=3,
                    help="memcglab run commands per scenario (3; the median is taken)")
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="only this scenario (may be repeated)")
    ap.add_argument("--workdir", type=Path, default=Path("/var/tmp/memcglab-bench"))
    ap.add_argument("--json", type=Path, help="also write every figure as JSON here")
    ap.add_argument("--markdown", type=Path, help="also write the results table here")
    args = ap.parse_args()
    live = live_ready() and not args.fixtures
    names = sorted(p.stem for p in SCENARIOS.glob("*.toml"))
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            print(f"bench_kernel_vs_model: no scenario {', '.join(unknown)}; scenarios: "
                  f"{', '.join(names)}")
            return 2
        names = [n for n in names if n in args.only]
    load = os.getloadavg()[0]
    print(f"machine: {platform.node()}, Linux {platform.release()}, {os.cpu_count()} CPUs, "
          f"load average {load:.2f}; kernel side: "
          + (f"live, {args.repeat} run(s) each" if live else "recorded fixtures"))
    keep = Path(tempfile.mkdtemp(prefix="bench-kvm-"))
    try:
        rows = [bench(n, live, args.repeat, args.model_runs, args.workdir, keep)
                for n in names]
    finally:
        shutil.rmtree(keep, ignore_errors=True)
    short = {"share_mae": "share", "jain_delta": "jain", "successor_delta": "succ",
             "amplification_error": "amp"}
    print(f"\n{'scenario':<12} {'kernel':>8} {'model':>8} {'ratio':>6}   "
          + "  ".join(f"{short[g]:>12}" for g in GOALS))
    for r in rows:
        cells = []
        for g in GOALS:
            x = r["goals"][g]
            v = "-" if x["value"] is None else f"{x['value']:.3f}"
            cells.append(f"{v + (' ok' if x['met'] else ' MISS'):>12}")
        print(f"{r['scenario']:<12} {r['kernel_s']:>7.2f}s {r['model_s']:>7.2f}s "
              f"{r['ratio']:>6.2f}   " + "  ".join(cells))
    print("kernel: the workload's wall time (first start to the end of the timeline); model: "
          "the whole `memcglab run` command, interpreter start included. Goals: ratio < 1; "
          + ", ".join(f"{short[g]} <= {v:g}" for g, v in GOALS.items())
          + " (share MAE, |Δ Jain|, |Δ successor rate|, amplification relative error).")
    slowest = max(rows, key=lambda r: r["ratio"])
    print(f"speed goal: {'met' if slowest['ratio'] < 1 else 'NOT met'} (worst ratio "
          f"{slowest['ratio']:.2f}, {slowest['scenario']})")
    if args.markdown:
        args.markdown.write_text(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps({"machine": {"kernel": platform.release(),
                                                     "cpus": os.cpu_count(),
                                                     "load_before": load,
                                                     "kernel_side": "live" if live
                                                     else "fixtures"},
                                         "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
