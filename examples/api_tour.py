"""memcglab from Python: one simulation as frames, then a small sweep with confidence
intervals. The twin of examples/api_tour.ipynb (same code, cell by cell; the tests run this
script and check that the notebook's cells are in it).

    python examples/api_tour.py --out /tmp/tour [--quick]
"""

import argparse
from pathlib import Path

import memcglab

ap = argparse.ArgumentParser()
ap.add_argument("--out", default="sweep-tour", help="the sweep's results folder")
ap.add_argument("--quick", action="store_true", help="shorter simulations (the tests)")
args = ap.parse_args()
HERE = Path(__file__).resolve().parent
SCENARIO = HERE.parent / "scenarios" / "flat-limit.toml"
DURATION = "100ms" if args.quick else "300ms"

# One run: metrics.json as a dict, and pandas frames of the groups and the time series.
r = memcglab.run(SCENARIO, duration=DURATION, seed=1)
print(r.metrics["fairness"]["jain_index_reclaim_per_usage"])
print(r.groups[["name", "limit_pages", "reclaimed", "visits"]])
print(r.timeseries.groupby("group")["reclaimed"].max())

# The same scenario with the seed patch's lock, side by side.
locked = memcglab.run(SCENARIO, duration=DURATION, seed=1, variant="seed-spinlock")
print(r.metrics["iterator"]["duplicate_claims"], locked.metrics["iterator"]["duplicate_claims"])

# A sweep: the parent's limit x two variants x three seeds, resumable in args.out.
spec = {
    "sweep": {"name": "tour", "base": str(SCENARIO), "seeds": 3,
              "variants": ["css-id", "seed-spinlock"]},
    "axis": [{"path": "group[parent].limit", "values": ["16M", "32M"]},
             {"path": "duration", "values": [DURATION]}],
}
s = memcglab.sweep(spec, out=args.out)
print(len(s.cells), "cells,", s.computed, "computed now")
print(s.summary[s.summary["metric"] == "iterator.duplicate_claims"])

# The cells as a query: mean duplicate claims per variant and limit.
q = s.cells.groupby(["variant", "group[parent].limit"])["iterator.duplicate_claims"].mean()
print(q)
print("report:", s.path / "report.html")
