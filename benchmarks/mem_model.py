"""Measure the constants of memcglab run's memory estimate (memcglab.sim.budget).

Each measurement runs a scenario in a child process (simulation, metrics, JSON and, with
--out, every output file) and reads its peak RSS (ru_maxrss). Two sizes of one dimension,
everything else fixed, give the bytes per unit of that dimension:

* per page of the machine, with every page in use (one stream workload fills the zone);
* per group (flat hierarchy, one small workload);
* per group with a limit (each limited group is the root of its own iterators);
* per process (workload processes, each with its own generator and mapping);
* per (sample, group): time-series samples, the CSV/Parquet rows and plots built from them.

    .venv/bin/python benchmarks/mem_model.py          # about a minute

It prints each slope next to the constant memcglab.sim.budget uses; the constants there
are these measurements rounded up (docs/scenarios.md, "Limits").
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

try:
    from memcglab.sim import budget
except ModuleNotFoundError:
    sys.exit("memcglab is not importable: run this with the virtualenv's python, e.g. "
             ".venv/bin/python benchmarks/mem_model.py")

CHILD = textwrap.dedent("""
    import json, resource, sys, tempfile
    from pathlib import Path
    from memcglab.metrics.summary import summarize
    from memcglab.report.sim_report import write_outputs
    from memcglab.scenario.sim_scenario import load
    from memcglab.sim.engine import simulate
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    plan = load(Path(sys.argv[1]))
    run = simulate(plan)
    m = summarize(run)
    json.dumps(m, indent=2)
    if sys.argv[2] == "out":
        with tempfile.TemporaryDirectory() as d:
            write_outputs(Path(d) / "o", {plan.variant: run}, {plan.variant: m})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"base": base, "peak": peak}))
""")


def scenario(groups: int = 2, limits: bool = False, processes: int = 1,
             zone: str = "64M", size: str = "1M", duration: str = "10ms",
             sample: str = "10ms") -> str:
    lines = [f'duration = "{duration}"', f'sample_interval = "{sample}"', "kswapd = false",
             "[machine]", f'pages_per_zone = "{zone}"']
    for i in range(1, groups):
        lines += ["[[group]]", f'name = "g{i}"'] + (['limit = "64M"'] if limits else [])
    wl_group = "g1" if groups > 1 else "root"
    left = processes
    while left > 0:
        n = min(left, 256)
        lines += ["[[workload]]", f'group = "{wl_group}"', 'pattern = "stream"',
                  f'size = "{size}"', 'rate = "4G"', f"processes = {n}"]
        left -= n
    return "\n".join(lines) + "\n"


def peak(text: str, out: bool = True) -> int:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "s.toml"
        path.write_text(text)
        res = subprocess.run([sys.executable, "-c", CHILD, str(path), "out" if out else "-"],
                             check=True, capture_output=True, text=True).stdout
    r: dict[str, int] = json.loads(res)
    return r["peak"]


def slope(name: str, small: tuple[str, int], large: tuple[str, int], used: int,
          out: bool = True) -> None:
    a, b = peak(small[0], out), peak(large[0], out)
    per = (b - a) / (large[1] - small[1])
    print(f"{name:<32} {per:>10,.0f} B   (budget uses {used:,} B)")


def main() -> int:
    print("bytes per unit, from peak RSS of two sizes each (python "
          f"{sys.version.split()[0]})")
    print(f"{'base (a small run, with --out)':<32} {peak(scenario()):>10,} B   (budget uses "
          f"{budget.BASE_BYTES:,} B)")
    slope("page (free)", (scenario(zone="256M"), 65536), (scenario(zone="4G"), 1 << 20),
          budget.BYTES_PER_PAGE)
    # The zone is filled by a stream as large as the zone (every page in use).
    slope("page (in use)",
          (scenario(zone="64M", size="64M", duration="50ms", sample="50ms"), 16384),
          (scenario(zone="512M", size="512M", duration="200ms", sample="200ms"), 131072),
          budget.BYTES_PER_PAGE + budget.BYTES_PER_USED_PAGE)
    slope("group", (scenario(groups=1_000), 1_000), (scenario(groups=20_000), 20_000),
          budget.BYTES_PER_GROUP)
    slope("group with a limit", (scenario(groups=200, limits=True), 200),
          (scenario(groups=2_000, limits=True), 2_000),
          budget.BYTES_PER_GROUP + budget.PRIORITIES * budget.BYTES_PER_ITER)
    slope("process", (scenario(processes=16), 16), (scenario(processes=2_048), 2_048),
          budget.BYTES_PER_PROCESS)
    slope("(sample, group)",
          (scenario(groups=500, duration="100ms", sample="10ms"), 500 * 11),
          (scenario(groups=500, duration="100ms", sample="100us"), 500 * 1001),
          budget.BYTES_PER_SAMPLE_GROUP + budget.BYTES_PER_SAMPLE_GROUP_OUT)
    slope("(sample, group) without --out",
          (scenario(groups=500, duration="100ms", sample="10ms"), 500 * 11),
          (scenario(groups=500, duration="100ms", sample="100us"), 500 * 1001),
          budget.BYTES_PER_SAMPLE_GROUP, out=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
