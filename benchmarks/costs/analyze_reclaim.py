"""Analyse raw/NAME.trace and raw/NAME.json from reclaim.py (item 3). Runs no measurement.

Per memcg reclaim call (begin..end of the child's pid): duration (TSC cycles converted to ns
with the two CAL trace_marker lines), nr_reclaimed (end event), sums of the
lru_shrink_inactive events inside it, and (detail runs) the folios deleted from the page
cache inside it with their orders. Fits duration = a + b*x by least squares, and splits the
calls into "clean" (reclaimed all they scanned) and "stalled" ones.

Reads raw/NAME.trace and raw/NAME.json, writes raw/NAME.calls.json (one record per call),
all in raw/ next to this script (whatever the current directory); prints a JSON list with
one summary per NAME. From benchmarks/costs/:
    python3 analyze_reclaim.py reclaim-plain1 reclaim-plain2 reclaim-plain3 reclaim-detail1 \
        reclaim-rand-plain1 reclaim-rand-detail1 > raw/reclaim-analysis.json
then summarize_reclaim.py. analyze_segments.py imports LINE and KV from here.
"""
import json
import re
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RAW = Path(__file__).resolve().parent / "raw"
LINE = re.compile(r"^\s*(?P<comm>.+?)-(?P<pid>\d+)\s+\[(?P<cpu>\d+)\]\s+\S+\s+(?P<ts>\d+):\s+"
                  r"(?P<ev>\w+):\s*(?P<rest>.*)$")
KV = re.compile(r"(\w+)=(\S+)")


def fit(xs: Sequence[float], ys: Sequence[float]) -> dict[str, float | None] | None:
    n = len(xs)
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=False))
    if sxx == 0:
        return None
    b = sxy / sxx
    a = my - b * mx
    ss_res = sum((y - a - b * x) ** 2 for x, y in zip(xs, ys, strict=False))
    ss_tot = sum((y - my) ** 2 for y in ys)
    return {"intercept_ns": a, "slope_ns": b, "r2": 1 - ss_res / ss_tot if ss_tot else None, "n": n}


def fit2(x1: Sequence[float], x2: Sequence[float],
         ys: Sequence[float]) -> dict[str, float | None] | None:
    """y = a + b1*x1 + b2*x2 (normal equations, 3x3 Gaussian elimination)."""
    rows = [[1.0, float(a), float(b)] for a, b in zip(x1, x2, strict=False)]
    A = [[sum(r[i] * r[j] for r in rows) for j in range(3)] for i in range(3)]
    v = [sum(r[i] * y for r, y in zip(rows, ys, strict=False)) for i in range(3)]
    M = [A[i] + [v[i]] for i in range(3)]
    for c in range(3):
        p = max(range(c, 3), key=lambda i: abs(M[i][c]))
        M[c], M[p] = M[p], M[c]
        if abs(M[c][c]) < 1e-9:
            return None
        for i in range(3):
            if i != c:
                f = M[i][c] / M[c][c]
                M[i] = [x - f * y for x, y in zip(M[i], M[c], strict=False)]
    sol = [M[i][3] / M[i][i] for i in range(3)]
    my = statistics.fmean(ys)
    ss_res = sum((y - sol[0] - sol[1] * a - sol[2] * b) ** 2
                 for a, b, y in zip(x1, x2, ys, strict=False))
    ss_tot = sum((y - my) ** 2 for y in ys)
    return {"intercept_ns": sol[0], "per_folio_ns": sol[1], "per_page_ns": sol[2],
            "r2": 1 - ss_res / ss_tot if ss_tot else None}


def analyse(name: str) -> dict[str, Any]:
    with open(RAW / f"{name}.json") as f:
        meta = json.load(f)
    child = meta["child"]["pid"]
    cal: dict[str, tuple[int, int]] = {}
    calls: list[dict[str, Any]] = []
    cur: dict[str, Any] | None = None
    adds: list[int] = []
    with open(RAW / f"{name}.trace") as f:
        for line in f:
            if line.startswith("#"):
                continue
            m = LINE.match(line)
            if not m:
                continue
            ts, ev, rest, pid = int(m["ts"]), m["ev"], m["rest"], int(m["pid"])
            if ev == "tracing_mark_write":
                tag, mono = rest.split()
                cal[tag] = (ts, int(mono))
                continue
            if pid != child:
                continue
            kv = dict(KV.findall(rest))
            if ev == "mm_vmscan_memcg_reclaim_begin":
                cur = {"t0": ts, "order": int(kv["order"]), "si_scanned": 0, "si_reclaimed": 0,
                       "si_events": 0, "folios": 0, "folio_pages": 0, "orders": {},
                       "sa_events": 0, "iso_taken": 0}
            elif ev == "mm_vmscan_memcg_reclaim_end" and cur is not None:
                cur["t1"] = ts
                cur["nr_reclaimed"] = int(kv["nr_reclaimed"])
                calls.append(cur)
                cur = None
            elif cur is not None and ev == "mm_vmscan_lru_shrink_inactive":
                cur["si_scanned"] += int(kv["nr_scanned"])
                cur["si_reclaimed"] += int(kv["nr_reclaimed"])
                cur["si_events"] += 1
            elif cur is not None and ev == "mm_vmscan_lru_shrink_active":
                cur["sa_events"] += 1
            elif cur is not None and ev == "mm_vmscan_lru_isolate":
                cur["iso_taken"] += int(kv["nr_taken"])
            elif ev == "mm_filemap_delete_from_page_cache" and cur is not None:
                o = int(kv["order"])
                cur["folios"] += 1
                cur["folio_pages"] += 1 << o
                cur["orders"][o] = cur["orders"].get(o, 0) + 1
            elif ev == "mm_filemap_add_to_page_cache":
                adds.append(int(kv["order"]))
    (c0, m0), (c1, m1) = cal["CAL0"], cal["CAL1"]
    ghz = (c1 - c0) / (m1 - m0)  # TSC cycles per ns
    for c in calls:
        c["ns"] = (c["t1"] - c["t0"]) / ghz
    durs = [c["ns"] for c in calls]
    pages = [c["nr_reclaimed"] for c in calls]
    out = {"name": name, "detail": meta["detail"], "tsc_cycles_per_ns": ghz,
           "child": meta["child"], "failcnt": meta["memory.failcnt"], "calls": len(calls),
           "call_ns": {"median": statistics.median(durs), "mean": statistics.fmean(durs),
                       "min": min(durs), "max": max(durs),
                       "p10": sorted(durs)[len(durs) // 10],
                       "p90": sorted(durs)[len(durs) * 9 // 10]},
           "total_reclaim_ns": sum(durs),
           "fraction_of_wall_in_reclaim": sum(durs) / meta["child"]["wall_ns"],
           "pages_reclaimed_total": sum(pages),
           "nr_reclaimed_per_call": {"median": statistics.median(pages),
                                     "mean": statistics.fmean(pages),
                                     "min": min(pages), "max": max(pages)},
           "ns_per_page_total": sum(durs) / sum(pages),
           "fit_ns_vs_pages": fit(pages, durs),
           "fit_ns_vs_inactive_scanned": fit([c["si_scanned"] for c in calls], durs),
           "shrink_inactive_events_per_call": statistics.fmean(c["si_events"] for c in calls),
           "fit_ns_vs_shrink_inactive_events": fit([c["si_events"] for c in calls], durs)}
    # Two regimes: "clean" calls reclaim everything they scan; "stalled" calls scan folios
    # they cannot reclaim (locked / under readahead I/O) and cycle through the priorities.
    clean = [c for c in calls if c["nr_reclaimed"] > 0 and c["si_scanned"] == c["si_reclaimed"]]
    stalled = [c for c in calls if c not in clean]
    for label, grp in (("clean", clean), ("stalled", stalled)):
        if not grp:
            continue
        ds = [c["ns"] for c in grp]
        ps = [c["nr_reclaimed"] for c in grp]
        out[label] = {"calls": len(grp), "median_ns": statistics.median(ds),
                      "mean_ns": statistics.fmean(ds), "total_ns": sum(ds),
                      "pages": sum(ps), "ns_per_page": sum(ds) / max(1, sum(ps)),
                      "nr_reclaimed_hist": {str(k): ps.count(k) for k in sorted(set(ps))},
                      "fit_ns_vs_pages": fit(ps, ds) if len(set(ps)) > 1 else None,
                      # passes = lru_shrink_inactive events in the call (LRU batches tried)
                      "median_passes": statistics.median(c["si_events"] for c in grp)}
        if meta["detail"]:
            fs = [c["folios"] for c in grp]
            out[label].update({"folios": sum(fs), "ns_per_folio": sum(ds) / max(1, sum(fs)),
                               "folios_hist": {str(k): fs.count(k) for k in sorted(set(fs))},
                               "fit_ns_vs_folios": fit(fs, ds) if len(set(fs)) > 1 else None,
                               "fit_ns_vs_folios_and_pages": fit2(fs, ps, ds)})
        # the median call of each nr_reclaimed value
        out[label]["median_ns_by_nr_reclaimed"] = {
            str(k): statistics.median([c["ns"] for c in grp if c["nr_reclaimed"] == k])
            for k in sorted(set(ps))}
    if meta["detail"]:
        folios = [c["folios"] for c in calls]
        orders: dict[int, int] = {}
        for c in calls:
            for o, k in c["orders"].items():
                orders[o] = orders.get(o, 0) + k
        add_orders: dict[int, int] = {}
        for o in adds:
            add_orders[o] = add_orders.get(o, 0) + 1
        out.update({"folios_total": sum(folios),
                    "deleted_folio_orders": dict(sorted(orders.items())),
                    "added_folio_orders": dict(sorted(add_orders.items())),
                    "folio_pages_total": sum(c["folio_pages"] for c in calls),
                    "fit_ns_vs_folios": fit(folios, durs),
                    "fit_ns_vs_folios_and_pages": fit2(folios, pages, durs),
                    "ns_per_folio_total": sum(durs) / max(1, sum(folios))})
    with open(RAW / f"{name}.calls.json", "w") as f:
        json.dump(calls, f)
    return out


if __name__ == "__main__":
    res = [analyse(n) for n in sys.argv[1:]]
    print(json.dumps(res, indent=1))
