"""One line per reclaim run (item 3), from raw/reclaim-analysis.json made by analyze_reclaim.py.

Runs no measurement: prints, per run, the child's wall time, MB/s, reads/s and read_bytes,
memory.failcnt, the number of reclaim calls and their duration statistics, the time spent in
reclaim, the per-page fit, then one line for the "clean" and one for the "stalled" calls.
Reads raw/reclaim-analysis.json next to this script (whatever the current directory).
From benchmarks/costs/:
    python3 summarize_reclaim.py > raw/reclaim-summary.txt
"""
import json
from pathlib import Path

RAW = Path(__file__).resolve().parent / "raw"

with open(RAW / "reclaim-analysis.json") as f:
    runs = json.load(f)
for r in runs:
    c, cl, stl = r["child"], r.get("clean", {}), r.get("stalled", {})
    print(f"{r['name']:22s} wall {c['wall_ns']/1e6:7.1f} ms  {c['MBps']:6.0f} MB/s  "
          f"{c['reads_per_s']:8.0f} reads/s  "
          f"read_bytes {c['read_bytes']/2**20:5.0f} MiB  failcnt {r['failcnt']:5d}  "
          f"calls {r['calls']:4d}  "
          f"call median {r['call_ns']['median']/1e3:6.1f} us "
          f"mean {r['call_ns']['mean']/1e3:6.1f} us  "
          f"p10 {r['call_ns']['p10']/1e3:5.1f} p90 {r['call_ns']['p90']/1e3:6.1f}  "
          f"reclaim total {r['total_reclaim_ns']/1e6:5.1f} ms "
          f"({100*r['fraction_of_wall_in_reclaim']:.1f}% of wall)  "
          f"pages {r['pages_reclaimed_total']}  ns/page(all) {r['ns_per_page_total']:.0f}  "
          f"fit(all) {r['fit_ns_vs_pages']['intercept_ns']/1e3:.1f} us + "
          f"{r['fit_ns_vs_pages']['slope_ns']:.0f} ns/page r2 {r['fit_ns_vs_pages']['r2']:.2f}")
    if cl:
        print(f"   clean   calls {cl['calls']:4d} median {cl['median_ns']/1e3:6.1f} us "
              f"mean {cl['mean_ns']/1e3:6.1f} us  ns/page {cl['ns_per_page']:.0f}  "
              f"median@512 {cl['median_ns_by_nr_reclaimed'].get('512', float('nan'))/1e3:.1f} us"
              f"  nr hist {cl['nr_reclaimed_hist']}"
              + (f"  fit {cl['fit_ns_vs_pages']['intercept_ns']/1e3:.1f} us + "
                 f"{cl['fit_ns_vs_pages']['slope_ns']:.0f} ns/page "
                 f"r2 {cl['fit_ns_vs_pages']['r2']:.2f}" if cl.get('fit_ns_vs_pages') else ""))
    if stl:
        print(f"   stalled calls {stl['calls']:4d} median {stl['median_ns']/1e3:6.1f} us "
              f"mean {stl['mean_ns']/1e3:6.1f} us total {stl['total_ns']/1e6:.1f} ms  "
              f"nr hist {stl['nr_reclaimed_hist']}")
