"""Split each memcg reclaim call of a --detail reclaim.py trace into segments (item 3).

Runs no measurement: it reads raw/NAME.trace and raw/NAME.json (made by
``reclaim.py NAME --detail``) from raw/ next to this script (whatever the current directory)
and times, from the event timestamps of the child's pid:
  setup   = reclaim_begin -> first mm_vmscan_lru_isolate   (memcg walk, get_scan_count, isolate)
  shrink  = each lru_isolate -> the next lru_shrink_inactive (shrink_folio_list of that batch:
            trylock, references, __remove_mapping, uncharge, free; + putback)
  tail    = last lru_shrink_inactive -> reclaim_end          (shrink_slab for the memcg, exit)
Prints medians for one-2-MiB-folio calls, order-0 calls and all clean calls as JSON.

From benchmarks/costs/:
    python3 analyze_segments.py reclaim-detail1 > raw/segments-detail1.json
    python3 analyze_segments.py reclaim-rand-detail1 > raw/segments-rand-detail1.json
"""
import json
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from analyze_reclaim import KV, LINE

RAW = Path(__file__).resolve().parent / "raw"
name = sys.argv[1]
with open(RAW / f"{name}.json") as f:
    meta = json.load(f)
child = meta["child"]["pid"]
ev: list[tuple[int, str, dict[str, str]]] = []
cal: dict[str, tuple[int, int]] = {}
with open(RAW / f"{name}.trace") as f:
    for line in f:
        m = LINE.match(line)
        if not m:
            continue
        if m["ev"] == "tracing_mark_write":
            t, mono = m["rest"].split()
            cal[t] = (int(m["ts"]), int(mono))
            continue
        if int(m["pid"]) == child:
            ev.append((int(m["ts"]), m["ev"], dict(KV.findall(m["rest"]))))
ghz = (cal["CAL1"][0] - cal["CAL0"][0]) / (cal["CAL1"][1] - cal["CAL0"][1])
calls: list[dict[str, Any]] = []
cur: dict[str, Any] | None = None
for ts, e, kv in ev:
    if e == "mm_vmscan_memcg_reclaim_begin":
        cur = {"t0": ts, "ev": []}
    elif cur is not None and e == "mm_vmscan_memcg_reclaim_end":
        cur["t1"] = ts
        cur["nr"] = int(kv["nr_reclaimed"])
        calls.append(cur)
        cur = None
    elif cur is not None:
        cur["ev"].append((ts, e, kv))
rows: list[dict[str, Any]] = []
for c in calls:
    iso = [x for x in c["ev"] if x[1] == "mm_vmscan_lru_isolate"]
    si = [x for x in c["ev"] if x[1] == "mm_vmscan_lru_shrink_inactive"]
    dels = [x for x in c["ev"] if x[1] == "mm_filemap_delete_from_page_cache"]
    if not iso or not si:
        continue
    scanned = sum(int(x[2]["nr_scanned"]) for x in si)
    reclaimed = sum(int(x[2]["nr_reclaimed"]) for x in si)
    # shrink segments: pair each inactive-list isolate with the next shrink_inactive
    shrink = 0.0
    for k, (ts, e, kv) in enumerate(c["ev"]):
        if e == "mm_vmscan_lru_isolate" and kv.get("lru") == "inactive_file":
            nxt = next((x for x in c["ev"][k:] if x[1] == "mm_vmscan_lru_shrink_inactive"), None)
            if nxt:
                shrink += nxt[0] - ts
    rows.append({"ns": (c["t1"] - c["t0"]) / ghz, "nr": c["nr"], "folios": len(dels),
                 "clean": scanned == reclaimed and c["nr"] > 0,
                 "passes": len(si), "setup": (iso[0][0] - c["t0"]) / ghz,
                 "shrink": shrink / ghz, "tail": (c["t1"] - si[-1][0]) / ghz})
out: dict[str, Any] = {"name": name, "calls_with_isolate": len(rows)}


def med(xs: Sequence[float]) -> float | None:
    return statistics.median(xs) if xs else None


selections: tuple[tuple[str, Callable[[dict[str, Any]], bool]], ...] = (
    ("one_2MiB_folio_calls",
     lambda r: r["clean"] and r["folios"] == 1 and r["nr"] == 512 and r["passes"] == 1),
    ("order0_calls", lambda r: r["clean"] and r["folios"] == r["nr"] and r["folios"] > 1),
    ("all_clean", lambda r: r["clean"]))
for label, sel in selections:
    g = [r for r in rows if sel(r)]
    if not g:
        continue
    out[label] = {"calls": len(g), "median_total_ns": med([r["ns"] for r in g]),
                  "median_setup_ns": med([r["setup"] for r in g]),
                  "median_shrink_ns": med([r["shrink"] for r in g]),
                  "median_tail_ns": med([r["tail"] for r in g]),
                  "median_folios": med([r["folios"] for r in g]),
                  "median_passes": med([r["passes"] for r in g]),
                  "median_shrink_ns_per_folio": med([r["shrink"] / r["folios"]
                                                     for r in g if r["folios"]])}
print(json.dumps(out, indent=1))
