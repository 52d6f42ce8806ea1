"""Print the item-1/2 numbers (docs/research/io-cost-measurements.md) from disk.py outputs.

Runs no measurement: for each raw/disk-run*.json written by disk.py it prints the block queue
settings, the 4 KiB read latency summaries (µs), the sequential bandwidth of every round
(MB/s), the cached 4 KiB preadv / 0-byte preadv / bare-loop costs (ns per call) and the dd
numbers. FILES are resolved against the current directory. From benchmarks/costs/:
    python3 summarize_disk.py raw/disk-run1.json raw/disk-run2.json > raw/disk-summary.txt
"""
import json
import statistics as st
import sys

for p in sys.argv[1:]:
    with open(p) as f:
        o = json.load(f)
    print("==", p, o["block"])
    for k, v in o["latency"].items():
        print(f"  lat {k:18s} median {v['median']/1e3:6.1f} us  p90 {v['p90']/1e3:6.1f}  "
              f"p99 {v['p99']/1e3:6.1f}  min {v['min']/1e3:5.1f}  max {v['max']/1e3:6.1f}  "
              f"mean {v['mean']/1e3:5.1f}  read_bytes {v['read_bytes']}")
    for b in o["bandwidth"]:
        print(f"  bw round {b['round']} bs {b['bs']:>7} direct {b['direct']!s:5} "
              f"{b['MBps']:7.0f} MB/s  read_bytes {b['read_bytes']}")
    c = o["cached_ns_per_call"]
    for k in ("read", "null_syscall", "python_only"):
        print(f"  cached {k:13s} median {st.median(c[k]):6.0f} ns/call  "
              f"all {[round(x) for x in c[k]]}")
    d = o["dd_ns_per_block"]
    print(f"  dd file  median {st.median(d['file']):.0f} ns/block "
          f"{[round(x) for x in d['file']]}")
    print(f"  dd zero  median {st.median(d['devzero']):.0f} ns/block "
          f"{[round(x) for x in d['devzero']]}")
    print(f"  dd startup median {st.median(d['startup_ns_total'])/1e6:.2f} ms")
