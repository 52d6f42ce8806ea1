"""Simulation speed and memory: reclaim visits per second and peak memory by hierarchy size,
for both kernels side by side (v3.7 reclaim with css-id, v6.18 reclaim with current).

Each row simulates global reclaim over a flat hierarchy of N groups (root included) on a
64M zone: 8 processes in 8 of the groups stream through files faster than the zone can
hold (from an instant device: the kernel 6.18 model would otherwise wait for the disk), so 8
direct reclaimers and kswapd walk the hierarchy concurrently (8 CPUs). A *visit*
is one group handed out by mem_cgroup_iter() to the reclaim loop: v3.7 passes every one to
shrink_lruvec(); v6.18's shrink_node_memcgs() skips the protected ones, and an empty group
is "below min" (0 >= 0), so most of a 10,000-group walk never reaches shrink_lruvec (the
``lruvec`` column counts the ones that do). Each row runs in its own process so that peak
memory (ru_maxrss) is that row's alone.

    .venv/bin/python benchmarks/bench_sim.py            # 10, 1,000, 10,000 groups, both kernels
    .venv/bin/python benchmarks/bench_sim.py --groups 10000 --duration 20ms --kernel 6.18

Goal (issue 3, kept for v6.18 by issue 9): at least 100,000 visits/s at 10,000 groups,
under 1 GB.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

GOAL_VISITS = 100_000
GOAL_MB = 1024


KERNEL_VARIANT = {"3.7": "css-id", "6.18": "current"}


def scenario(groups: int, duration: str, variant: str) -> str:
    lines = [f'description = "bench: {groups} groups, 8 direct reclaimers + kswapd"',
             "seed = 1", f'duration = "{duration}"', f'variant = "{variant}"', "cpus = 8",
             'sample_interval = "1s"', "", "[machine]", 'pages_per_zone = "64M"',
             # an instant device (kernel 6.18 models the disk's time): reclaim, not the
             # disk, sets the pace, as the 3.7 model has it
             'disk_latency = "1us"', 'disk_bandwidth = "64G"', ""]
    for i in range(1, groups):
        lines += ["[[group]]", f'name = "g{i}"']
    for p in range(8):
        g = 1 + p * max(1, (groups - 1) // 8) if groups > 1 else 0
        name = f"g{g}" if groups > 1 else "root"
        lines += ["[[workload]]", f'group = "{name}"', 'pattern = "stream"', 'size = "64M"',
                  'rate = "2G"']
    return "\n".join(lines) + "\n"


CHILD = textwrap.dedent("""
    import json, resource, sys, time
    from pathlib import Path
    from memcglab.scenario.sim_scenario import load
    from memcglab.sim.engine import simulate
    from memcglab.sim.machine import VISITS
    t0 = time.perf_counter()
    plan = load(Path(sys.argv[1]))
    t1 = time.perf_counter()
    run = simulate(plan)
    t2 = time.perf_counter()
    lruvec = sum(r[VISITS] for r in run.machine.c.group)
    visits = run.machine.c.handouts if plan.kernel != "3.7" else lruvec
    print(json.dumps({"visits": visits, "lruvec": lruvec, "ops": run.ops, "setup_s": t1 - t0,
                      "run_s": t2 - t1,
                      "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")


def row(groups: int, duration: str, variant: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"bench{groups}.toml"
        path.write_text(scenario(groups, duration, variant))
        out = subprocess.run([sys.executable, "-c", CHILD, str(path)], check=True,
                             capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(out)
    return result


def main() -> int:
    # Each row runs `sys.executable -c CHILD`: the interpreter must be the one memcglab is
    # installed in (the README's .venv), or every child fails to import it.
    if importlib.util.find_spec("memcglab") is None:
        sys.exit(f"bench_sim: memcglab is not installed for {sys.executable}; run "
                 "`.venv/bin/python benchmarks/bench_sim.py` after the README's install")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, action="append",
                    help="hierarchy sizes (default 10, 1000, 10000)")
    ap.add_argument("--duration", default="100ms", help="simulated time per row")
    ap.add_argument("--kernel", action="append", choices=sorted(KERNEL_VARIANT),
                    help="the kernels to run (default both)")
    ap.add_argument("--variant", help="the iterator (default: the kernel's own)")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = ap.parse_args()
    sizes = args.groups or [10, 1000, 10_000]
    kernels = args.kernel or sorted(KERNEL_VARIANT)
    print(f"memcglab run speed: flat hierarchy, global reclaim, 8 direct reclaimers + kswapd,"
          f" 8 CPUs, {args.duration} simulated")
    print(f"machine: {platform.machine()}, python {platform.python_version()}")
    hdr = (f"{'kernel':>6} {'variant':>8} {'groups':>8} {'visits':>10} {'lruvec':>10} "
           f"{'run s':>8} {'visits/s':>10} {'goal':>8} {'ratio':>6} {'ops/s':>10} "
           f"{'peak MB':>8} {'<1GB':>5}")
    print(hdr)
    rows = []
    ok = True
    for n in sizes:
        for kernel in kernels:
            variant = args.variant or KERNEL_VARIANT[kernel]
            r = row(n, args.duration, variant)
            vps = r["visits"] / r["run_s"]
            rows.append({"kernel": kernel, "variant": variant, "groups": n, **r,
                         "visits_per_s": vps})
            good = vps >= GOAL_VISITS if n >= 10_000 else True
            ok &= good and r["maxrss_mb"] < GOAL_MB
            print(f"{kernel:>6} {variant:>8} {n:>8,} {r['visits']:>10,.0f} "
                  f"{r['lruvec']:>10,.0f} {r['run_s']:>8.2f} {vps:>10,.0f} "
                  f"{GOAL_VISITS if n >= 10_000 else '-':>8} "
                  f"{vps / GOAL_VISITS:>6.2f} {r['ops'] / r['run_s']:>10,.0f} "
                  f"{r['maxrss_mb']:>8.0f} {'yes' if r['maxrss_mb'] < GOAL_MB else 'NO':>5}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
