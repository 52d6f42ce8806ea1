"""Kernel run metrics: from recorded reclaim events and counter samples to the dicts and rows
``memcglab run`` writes for the simulator.

Pure: the recorders (tracefs, bpftrace) and the counter sampler produce the records of
:mod:`memcglab.live.records`; this module turns them into

* visits (:func:`merge_visits`): one per memcg handed to ``shrink_lruvec``, rebuilt from the
  ``shrink_inactive_list`` records it left;
* ``metrics.json`` (:func:`kernel_metrics`): the schema of
  :func:`memcglab.metrics.summary.summarize`, each key with its kernel meaning, None where
  the kernel does not show it, plus ``measured``, ``visit_order``, ``page_in``,
  ``lost_events`` and ``recording``;
* ``timeseries.csv`` rows (:func:`series_rows`), the columns of
  :data:`memcglab.metrics.summary.SERIES_COLUMNS`;
* the summary of repeated runs (:func:`aggregate`, ``--repeat N``).

What the records can and cannot show (/work/shared/docs/kernel-observability.md §8,
"Limits of this observation"):

1. a visit leaves a record only if ``shrink_inactive_list`` isolated pages, so ``visits``
   here counts *visible* visits (the model's side is projected the same way, see
   :func:`memcglab.metrics.visits.model_visit_metrics`), and walks in which nothing was
   isolated show only as generation increases (``iterator.walks_completed``);
2. one visit gives several consecutive records (anon and file lists, SWAP_CLUSTER_MAX
   batches), merged here by (pid, memcg, priority, generation, node);
3. the generation is sampled when a record is written, so splitting visits into walks
   (``first_visits``) is approximate under concurrent reclaimers; per-reclaimer sequences
   (``visit_order``) are exact;
4. tracefs records have no reclaim root and no generation: then ``first_visits`` and
   ``walks_completed`` are None and the root is :data:`UNKNOWN_ROOT`.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from memcglab import __version__
from memcglab.live.records import CounterSample, KswapdRecord, Lost, PassRecord, ShrinkRecord
from memcglab.metrics.fairness import cv, jain, ratio, shares
from memcglab.metrics.visits import (
    Visit,
    order_stats,
    page_in,
    walk_orders,
    walk_starts,
    walks_from_generations,
)

PAGE_SIZE = 4096
UNKNOWN_ROOT = "?"
"""The root of visits rebuilt from tracefs records, which do not carry it. Its walk order is
the whole hierarchy's: in a run whose reclaim all has one root (the usual scenario: one
limited parent) this gives that root's visible walk."""

# PassRecord kinds -> the reclaimer names of the simulator's metrics ("limit": a memcg's
# limit reclaim, try_to_free_mem_cgroup_pages).
_PASS_KIND = {"memcg": "limit", "direct": "direct", "softlimit": "softlimit"}


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(x, nd)


def _root_name(root: int | None, names: Mapping[int, str]) -> str | None:
    if root is None:
        return UNKNOWN_ROOT  # tracefs: not recorded
    if root == 0:
        return None  # target_mem_cgroup == NULL: global reclaim
    # A root outside the run's groups (an ancestor with its own limit) walks them too.
    return names.get(root, f"cgroup:{root}")


def merge_visits(records: Sequence[ShrinkRecord], names: Mapping[int, str],
                 passes: Sequence[PassRecord] = ()) -> list[Visit]:
    """Visits from ``shrink_inactive_list`` records, in time order (of their first record).

    Records are taken in time order (stable). A pid's record continues its previous visit
    when that pid's previous record has the same memcg, priority, generation and node, and
    the pid began no reclaim pass in between (``passes``: their "begin" records split
    visits, which matters for tracefs records, which have no generation to tell two passes'
    visits of one memcg apart). Records of other pids in between do not split: per-pid
    sequences are exact (§8 limit 3). Scanned and reclaimed pages are summed; the visit
    keeps the first record's time.

    ``names`` maps cgroup ids to the run's group names; records of other memcgs (the
    machine's own, reclaimed by global reclaim or their own limits) are dropped
    (:func:`dropped_records` counts them). Roots: 0 is global reclaim (None), an id of
    ``names`` its name, another id ``"cgroup:<id>"``, no root (tracefs)
    :data:`UNKNOWN_ROOT`.
    """
    events: list[tuple[int, int, int, ShrinkRecord | None]] = [
        (r.t_ns, 1, i, r) for i, r in enumerate(records)]
    # a pass beginning at the same time as a record comes first: it splits before it
    events += [(p.t_ns, 0, i, None) for i, p in enumerate(passes) if p.edge == "begin"]
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    out: list[list[Any]] = []  # [t, pid, group, root, prio, scanned, reclaimed, gen, nid]
    open_: dict[int, tuple[tuple[int, int, int | None, int], list[Any]]] = {}
    for _t, _order, i, rec in events:
        if rec is None:
            open_.pop(passes[i].pid, None)
            continue
        group = names.get(rec.memcg)
        if group is None:
            continue
        key = (rec.memcg, rec.priority, rec.generation, rec.nid)
        cur = open_.get(rec.pid)
        if cur is not None and cur[0] == key:
            cur[1][5] += rec.scanned
            cur[1][6] += rec.reclaimed
            continue
        row = [rec.t_ns, rec.pid, group, _root_name(rec.root, names), rec.priority,
               rec.scanned, rec.reclaimed, rec.generation, rec.nid]
        out.append(row)
        open_[rec.pid] = (key, row)
    return [Visit(t, pid, g, root, prio, sc, rc, gen, nid)
            for t, pid, g, root, prio, sc, rc, gen, nid in out]


def dropped_records(records: Sequence[ShrinkRecord], names: Mapping[int, str]
                    ) -> dict[int, int]:
    """Records :func:`merge_visits` drops, per cgroup id not in ``names``."""
    return dict(Counter(r.memcg for r in records if r.memcg not in names))


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """A group of the scenario as the run created it (creation order = list order)."""

    name: str
    parent: str | None
    limit_pages: int | None = None
    soft_limit_pages: int | None = None


def _usage_pages(samples: Sequence[CounterSample], name: str, page_size: int) -> list[int]:
    # A group absent at a sample (not created yet, or removed) counts 0, as in the model.
    return [s.usage.get(name, 0) // page_size for s in samples]


@dataclass(slots=True)
class _Reclaimer:
    calls: int = 0
    scanned: int = 0
    reclaimed: int = 0
    finished: int = 0  # passes that ended
    visits_finished: int = 0  # visits of the passes that ended
    max_visits: int = 0


def _reclaimers(visits: Sequence[Visit], passes: Sequence[PassRecord],
                kswapd: Sequence[KswapdRecord]) -> dict[str, _Reclaimer]:
    """Per reclaimer kind: passes begun, and the visits made inside them. A visit belongs
    to the innermost pass of its pid open at its time (soft-limit reclaim runs inside
    kswapd's); kswapd's wake..sleep is its pass. Visits in no pass: ``unattributed``."""
    # per pid, a time-ordered stream: (t, order, kind, edge or visit index)
    streams: dict[int, list[tuple[int, int, str, int]]] = {}
    for p in passes:
        order = 0 if p.edge == "begin" else 2  # at equal times: begin, visits, end
        streams.setdefault(p.pid, []).append((p.t_ns, order, _PASS_KIND[p.kind], -1))
    for k in kswapd:
        streams.setdefault(k.pid, []).append((k.t_ns, 0 if k.edge == "wake" else 2,
                                              "kswapd", -1))
    for i, v in enumerate(visits):
        streams.setdefault(v.reclaimer, []).append((v.t_ns, 1, "", i))
    out = {k: _Reclaimer() for k in ("direct", "limit", "kswapd")}
    for events in streams.values():
        events.sort(key=lambda e: (e[0], e[1]))
        stack: list[list[Any]] = []  # [kind, visits]
        for _, order, kind, i in events:
            if order == 0:
                out.setdefault(kind, _Reclaimer()).calls += 1
                stack.append([kind, 0])
            elif order == 2:
                # the innermost open pass of this kind ends (an end without begin: ignored)
                for j in range(len(stack) - 1, -1, -1):
                    if stack[j][0] == kind:
                        st = out[kind]
                        st.finished += 1
                        st.visits_finished += stack[j][1]
                        st.max_visits = max(st.max_visits, stack[j][1])
                        del stack[j]
                        break
            else:
                kind = stack[-1][0] if stack else "unattributed"
                if stack:
                    stack[-1][1] += 1
                st = out.setdefault(kind, _Reclaimer())
                st.scanned += visits[i].scanned
                st.reclaimed += visits[i].reclaimed
    return out


def kernel_metrics(*, scenario: Mapping[str, Any], groups: Sequence[GroupInfo],
                   workload_groups: Collection[str], visits: Sequence[Visit],
                   samples: Sequence[CounterSample], passes: Sequence[PassRecord] = (),
                   kswapd: Sequence[KswapdRecord] = (),
                   workers: Sequence[Mapping[str, Any]] = (),
                   ooms: Mapping[str, int] | None = None, lost: Sequence[Lost] = (),
                   dropped: int = 0, recording: Mapping[str, Any] | None = None,
                   page_size: int = PAGE_SIZE) -> dict[str, Any]:
    """``metrics.json`` of a kernel run, in the schema of ``summarize()``.

    ``scenario`` is the ``scenario`` block as is (name, digest, seed, ...); ``groups`` the
    run's groups in creation order; ``workload_groups`` the names of the groups that ran
    workloads (fairness is measured over them, as in the model); ``visits`` from
    :func:`merge_visits`; ``samples`` the counter samples; ``passes`` and ``kswapd`` the
    reclaim brackets; ``workers`` one dict per workload process ``{group, read_bytes,
    distinct_pages, anon}``; ``ooms`` per group if measured; ``lost`` what the recorders
    lost; ``dropped`` the records of other memcgs :func:`merge_visits` dropped;
    ``recording`` what the caller wants said about the recording (layers, tools).

    Per group: usage from the samples (``usage_pages`` the last, absent = 0), scanned /
    reclaimed / visits from the visible visits, ``first_visits`` the visits that were the
    first visible one of a walk (:func:`memcglab.metrics.visits.walk_starts`; None without
    generations). ``iterator.walks_completed`` is
    :func:`memcglab.metrics.visits.walks_from_generations` (None without generations); the
    model-only counters (duplicate claims, restarts, the iterator lock) are None.
    ``reclaimers``: per kind (``limit`` = memcg limit reclaim, ``direct``, ``kswapd``,
    ``softlimit``), passes begun (``calls``) and the pages of the visits inside them; the
    kernel does not show ``nr_to_reclaim``, so ``requested`` and
    ``reclaimed_over_requested`` are None. ``visit_order`` and ``page_in`` have the keys of
    :func:`memcglab.metrics.visits.model_visit_metrics`; ``page_in`` counts the file
    workers' ``read_bytes`` (readahead included) over their distinct pages.
    """
    names = [g.name for g in groups]
    per_scanned: Counter[str] = Counter()
    per_reclaimed: Counter[str] = Counter()
    per_visits: Counter[str] = Counter()
    per_first: Counter[str] = Counter()
    starts = walk_starts(visits)
    for i, v in enumerate(visits):
        per_scanned[v.group] += v.scanned
        per_reclaimed[v.group] += v.reclaimed
        per_visits[v.group] += 1
        if starts is not None and starts[i]:
            per_first[v.group] += 1
    usage = {n: _usage_pages(samples, n, page_size) for n in names}
    mean_usage = {n: sum(u) / len(u) if u else 0.0 for n, u in usage.items()}
    wl = [n for n in names if n in workload_groups]
    reclaimed = [per_reclaimed[n] for n in wl]
    usage_share = shares([mean_usage[n] for n in wl])
    reclaim_share = shares(reclaimed)
    rel = [rs / us for rs, us in zip(reclaim_share, usage_share, strict=True) if us > 0]
    rows = []
    for g in groups:
        u = usage[g.name]
        entry: dict[str, Any] = {
            "name": g.name, "parent": g.parent, "limit_pages": g.limit_pages,
            "soft_limit_pages": g.soft_limit_pages, "usage_pages": u[-1] if u else 0,
            "mean_usage_pages": round(mean_usage[g.name], 2),
            "peak_usage_pages": max(u, default=0), "scanned": per_scanned[g.name],
            "reclaimed": per_reclaimed[g.name], "visits": per_visits[g.name],
            "first_visits": per_first[g.name] if starts is not None else None,
            "ooms": ooms.get(g.name, 0) if ooms is not None else None,
            "workload": g.name in wl,
        }
        if g.name in wl:
            i = wl.index(g.name)
            entry["reclaim_share"] = round(reclaim_share[i], 4)
            entry["usage_share"] = round(usage_share[i], 4)
        rows.append(entry)
    orders = walk_orders([(g.name, g.parent) for g in groups])
    for v in visits:  # roots the topology does not name walk all of it (see UNKNOWN_ROOT)
        if v.root not in orders:
            orders[v.root] = orders[None]
    with_gen = any(v.generation is not None and v.generation >= 0 for v in visits)
    rec = _reclaimers(visits, passes, kswapd)
    file_workers = [w for w in workers if not w.get("anon")]
    soft = [p.nr_reclaimed or 0 for p in passes if p.kind == "softlimit" and p.edge == "end"]
    lost_by: Counter[str] = Counter()
    for x in lost:
        lost_by[x.source] += x.total
    return {
        "memcglab": __version__,
        "scenario": dict(scenario),
        "measured": "kernel",
        "groups": rows,
        "fairness": {
            "groups_measured": wl,
            "jain_index_reclaim_per_usage": _r(jain(rel)),
            "jain_index_reclaim": _r(jain(reclaimed)),
            "reclaim_stddev_over_mean": _r(cv(reclaimed)),
            "reclaimed_over_requested": None,
        },
        "iterator": {"walks_completed": walks_from_generations(visits) if with_gen else None,
                     "handouts": None,  # mem_cgroup_iter() itself cannot be traced here
                     "duplicate_claims": None, "restarts_from_root": None,
                     "lock_acquisitions": None, "lock_waits": None},
        "reclaimers": {k: {"calls": s.calls, "requested": None, "reclaimed": s.reclaimed,
                           "scanned": s.scanned,
                           "visits_per_call": _r(ratio(s.visits_finished, s.finished), 2),
                           "max_visits_per_call": s.max_visits}
                       for k, s in rec.items()},
        "allocation_stalls": rec["direct"].calls,
        "global_ooms": None,
        "memcg_ooms": sum(ooms.values()) if ooms is not None else None,
        "oom_kills": None,
        "high_throttled_ms": None,
        "soft_limit_reclaimed": sum(soft),
        "visit_order": order_stats(visits, orders).to_json(),
        "page_in": page_in(sum(int(w.get("read_bytes", 0)) for w in file_workers) // page_size,
                           sum(int(w.get("distinct_pages", 0)) for w in file_workers)),
        "lost_events": sum(lost_by.values()),
        "recording": {**(recording or {}), "lost_by_source": dict(sorted(lost_by.items())),
                      "records_of_other_memcgs": dropped, "samples": len(samples),
                      "visits": len(visits)},
    }


def series_rows(samples: Sequence[CounterSample], visits: Sequence[Visit],
                groups: Sequence[str], t0_ns: int = 0, page_size: int = PAGE_SIZE
                ) -> list[tuple[float, str, int, int, int, int, int | None]]:
    """Long-format time series, one row per (sample, group), in the columns of
    ``SERIES_COLUMNS``: usage at the sample (absent = 0) and the group's scanned, reclaimed,
    visits and first visits of the visits made up to the sample's time (cumulative;
    ``first_visits`` None without generations). ``t0_ns`` is the samples' t = 0 on the
    visits' clock (CLOCK_MONOTONIC): a visit counts at a sample when
    ``visit.t_ns - t0_ns <= sample.t_ns``."""
    starts = walk_starts(visits)
    order = sorted(range(len(visits)), key=lambda i: visits[i].t_ns)
    cum = {g: [0, 0, 0, 0] for g in groups}
    rows = []
    j = 0
    for s in samples:
        while j < len(order) and visits[order[j]].t_ns - t0_ns <= s.t_ns:
            v = visits[order[j]]
            c = cum.get(v.group)
            if c is not None:
                c[0] += v.scanned
                c[1] += v.reclaimed
                c[2] += 1
                c[3] += bool(starts is not None and starts[order[j]])
            j += 1
        for g in groups:
            c = cum[g]
            rows.append((s.t_ns / 1e6, g, s.usage.get(g, 0) // page_size, c[0], c[1], c[2],
                         c[3] if starts is not None else None))
    return rows


def _spread(xs: Sequence[float], full: bool = False) -> dict[str, Any]:
    """Mean and sample standard deviation (0 for one run, None for none); with ``full``
    also min and max."""
    out: dict[str, Any] = {
        "n": len(xs), "mean": _r(statistics.fmean(xs)) if xs else None,
        "stdev": _r(statistics.stdev(xs)) if len(xs) > 1 else (0.0 if xs else None)}
    if full:
        out["min"] = _r(min(xs)) if xs else None
        out["max"] = _r(max(xs)) if xs else None
    return out


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and math.isfinite(x) else None


def aggregate(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The spread of ``--repeat N`` runs' metrics dicts: per workload group the reclaim
    share (mean, stdev, min, max), and the mean and stdev of Jain's index of reclaim, the
    successor rate and the page-in amplification. ``stdev`` is the sample standard
    deviation (n - 1); ``n`` says how many runs had the value (a run where it is None, e.g.
    no reclaim, is left out)."""
    per_group: dict[str, list[float]] = {}
    for m in runs:
        for g in m.get("groups", ()):
            if (x := _num(g.get("reclaim_share"))) is not None:
                per_group.setdefault(g["name"], []).append(x)

    def vals(block: str, key: str) -> list[float]:
        return [x for m in runs if (x := _num((m.get(block) or {}).get(key))) is not None]

    return {"runs": len(runs),
            "reclaim_share": {g: _spread(xs, full=True) for g, xs in per_group.items()},
            "jain_index_reclaim": _spread(vals("fairness", "jain_index_reclaim")),
            "successor_rate": _spread(vals("visit_order", "successor_rate")),
            "amplification": _spread(vals("page_in", "amplification"))}
