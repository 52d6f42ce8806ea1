"""Kernel run metrics (live.measure) on hand-made records: visits, metrics.json, series."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from memcglab.live.measure import (
    UNKNOWN_ROOT,
    GroupInfo,
    aggregate,
    dropped_records,
    kernel_metrics,
    merge_visits,
    series_rows,
)
from memcglab.live.records import CounterSample, KswapdRecord, Lost, PassRecord, ShrinkRecord
from memcglab.metrics.summary import SERIES_COLUMNS, summarize
from memcglab.metrics.visits import Visit, divergence, model_visit_metrics
from memcglab.scenario.sim_scenario import load
from memcglab.sim.engine import simulate

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
NAMES = {50: "p", 100: "a", 101: "b"}
MB = 1 << 20


def rec(t: int, pid: int, memcg: int, scanned: int, reclaimed: int, *, file: bool = True,
        prio: int = 12, gen: int | None = 5, root: int | None = 50, nid: int = 0
        ) -> ShrinkRecord:
    return ShrinkRecord(t, pid, "dd", memcg, "direct", nid, prio, file, scanned, reclaimed,
                        root, None if root is None else memcg, gen)


def test_merge_visits() -> None:
    records = [
        rec(10, 7, 100, 32, 30, file=False),  # pid 7 visits a: anon, then file batches
        rec(11, 8, 101, 4, 4),  # pid 8 in between: does not split pid 7's visit
        rec(12, 7, 100, 32, 32),
        rec(13, 7, 100, 3, 1, file=False),
        rec(14, 7, 999, 32, 32),  # another memcg of the machine: dropped
        rec(15, 7, 101, 8, 8),  # pid 7 moves to b: a new visit
        rec(16, 7, 100, 2, 2, gen=6),  # a again, next generation: a new visit
        rec(17, 7, 100, 2, 2, gen=6, prio=11),  # next priority: a new visit
        rec(18, 7, 100, 2, 2, gen=6, prio=11, nid=1),  # other node: a new visit
        rec(19, 9, 100, 1, 0, root=0, gen=-1),  # global reclaim
        rec(20, 9, 101, 1, 0, root=77, gen=3),  # a root outside the run's groups
        rec(21, 9, 101, 1, 1, root=None, gen=None),  # tracefs: no root, no generation
    ]
    # records come in any order: merged in time order
    visits = merge_visits(list(reversed(records)), NAMES)
    assert visits == [
        Visit(10, 7, "a", "p", 12, 67, 63, 5, 0),
        Visit(11, 8, "b", "p", 12, 4, 4, 5, 0),
        Visit(15, 7, "b", "p", 12, 8, 8, 5, 0),
        Visit(16, 7, "a", "p", 12, 2, 2, 6, 0),
        Visit(17, 7, "a", "p", 11, 2, 2, 6, 0),
        Visit(18, 7, "a", "p", 11, 2, 2, 6, 1),
        Visit(19, 9, "a", None, 12, 1, 0, -1, 0),
        Visit(20, 9, "b", "cgroup:77", 12, 1, 0, 3, 0),
        Visit(21, 9, "b", UNKNOWN_ROOT, 12, 1, 1, None, 0),
    ]
    assert dropped_records(records, NAMES) == {999: 1}


def test_a_pass_begin_splits_tracefs_visits() -> None:
    """tracefs records have no generation: two passes visiting a at the same priority look
    alike but for the pass bracket between them."""
    records = [rec(10, 7, 100, 32, 32, gen=None, root=None),
               rec(20, 7, 100, 32, 32, gen=None, root=None),
               rec(30, 7, 100, 32, 32, gen=None, root=None)]
    passes = [PassRecord(t, 7, "dd", "memcg", edge)
              for t, edge in ((5, "begin"), (15, "end"), (20, "begin"), (40, "end"))]
    assert [x.t_ns for x in merge_visits(records, NAMES, passes)] == [10, 20]
    assert len(merge_visits(records, NAMES)) == 1


GROUPS = [GroupInfo("p", None, 256), GroupInfo("a", "p"), GroupInfo("b", "p"),
          GroupInfo("idle", "p", soft_limit_pages=10)]


def sample(t: int, a: int, b: int, idle: int | None = None) -> CounterSample:
    usage = {"p": (a + b) * MB, "a": a * MB, "b": b * MB}
    if idle is not None:
        usage["idle"] = idle * MB
    return CounterSample(t, usage, {}, {})


def tiny() -> dict[str, Any]:
    # pid 7 reclaims p in three passes; generations 5 -> 5 -> 6 -> 9 (two invisible walks)
    visits = [Visit(100, 7, "a", "p", 12, 32, 30, 5), Visit(110, 7, "b", "p", 12, 32, 10, 5),
              Visit(200, 7, "a", "p", 12, 32, 20, 6), Visit(300, 7, "b", "p", 11, 32, 20, 9),
              Visit(310, 7, "a", "p", 11, 10, 0, 9)]
    passes = [PassRecord(t, 7, "dd", "memcg", e) for t, e in
              ((90, "begin"), (120, "end"), (190, "begin"), (210, "end"), (290, "begin"))]
    samples = [sample(0, 0, 0), sample(150, 40, 20, 1), sample(300, 60, 30)]
    workers = [{"group": "a", "read_bytes": 96 * MB, "distinct_pages": 16384, "anon": False},
               {"group": "b", "read_bytes": 0, "distinct_pages": 0, "anon": True}]
    return kernel_metrics(
        scenario={"name": "tiny", "variant": "kernel 6.18"}, groups=GROUPS,
        workload_groups={"a", "b"}, visits=visits, samples=samples, passes=passes,
        kswapd=[KswapdRecord(50, 40, "wake", 0)], workers=workers, ooms={"b": 1},
        lost=[Lost("tracefs", overrun=3), Lost("bpftrace", dropped=2)], dropped=4,
        recording={"layers": ["tracefs", "bpftrace"]})


def test_kernel_metrics_tiny() -> None:
    m = tiny()
    g = {x["name"]: x for x in m["groups"]}
    assert m["measured"] == "kernel"
    assert sum(g[n]["reclaim_share"] for n in ("a", "b")) == pytest.approx(1)
    assert sum(g[n]["usage_share"] for n in ("a", "b")) == pytest.approx(1)
    assert (g["a"]["reclaimed"], g["b"]["reclaimed"]) == (50, 30)
    assert g["a"]["reclaim_share"] == 0.625
    assert g["a"]["usage_share"] == pytest.approx(100 / 150, abs=1e-4)
    assert (g["a"]["peak_usage_pages"], g["a"]["usage_pages"]) == (60 * 256, 60 * 256)
    assert g["a"]["mean_usage_pages"] == pytest.approx(100 * 256 / 3, abs=0.01)
    assert g["idle"]["peak_usage_pages"] == 256 and g["idle"]["usage_pages"] == 0
    assert "reclaim_share" not in g["p"] and not g["p"]["workload"]
    assert (g["p"]["limit_pages"], g["idle"]["soft_limit_pages"]) == (256, 10)
    assert (g["a"]["visits"], g["b"]["visits"], g["p"]["visits"]) == (3, 2, 0)
    # first visible visit of each generation: a@5, a@6, b@9
    assert (g["a"]["first_visits"], g["b"]["first_visits"]) == (2, 1)
    assert (g["a"]["ooms"], g["b"]["ooms"]) == (0, 1) and m["memcg_ooms"] == 1
    assert m["iterator"]["walks_completed"] == 4
    assert m["iterator"]["duplicate_claims"] is None
    lim = m["reclaimers"]["limit"]
    assert (lim["calls"], lim["scanned"], lim["reclaimed"]) == (3, 138, 80)
    assert (lim["visits_per_call"], lim["max_visits_per_call"]) == (1.5, 2)
    assert m["reclaimers"]["kswapd"]["calls"] == 1 and m["allocation_stalls"] == 0
    assert m["fairness"]["jain_index_reclaim"] == pytest.approx(
        (80 ** 2) / (2 * (50 ** 2 + 30 ** 2)), abs=1e-4)
    assert m["visit_order"]["pairs"] == 4
    assert m["visit_order"]["successor_rate"] == 1.0  # a b a b a
    assert m["page_in"] == {"pages_read": 24576, "file_pages": 16384, "amplification": 1.5}
    assert m["lost_events"] == 5
    assert m["recording"]["lost_by_source"] == {"bpftrace": 2, "tracefs": 3}
    assert m["recording"]["records_of_other_memcgs"] == 4
    assert m["recording"]["layers"] == ["tracefs", "bpftrace"]


def test_without_generations_walks_are_unknown() -> None:
    visits = [Visit(100, 7, "a", UNKNOWN_ROOT, 12, 32, 30, None)]
    m = kernel_metrics(scenario={}, groups=GROUPS, workload_groups=["a", "b"], visits=visits,
                       samples=[])
    assert m["iterator"]["walks_completed"] is None
    assert all(x["first_visits"] is None for x in m["groups"])
    assert m["groups"][1]["reclaim_share"] == 1.0
    assert m["page_in"]["amplification"] is None
    assert m["reclaimers"]["unattributed"]["reclaimed"] == 30
    assert m["visit_order"]["pairs"] == 0


def test_kernel_metrics_have_the_model_s_schema() -> None:
    run = simulate(load(SCENARIOS / "flat-limit.toml", {"duration": "250ms"}),
                   record_visits=True)
    model = {**summarize(run), **model_visit_metrics(run)}
    kernel = tiny()
    assert set(model) - set(kernel) == {"simulation"}
    assert set(kernel) - set(model) == {"measured", "lost_events", "recording"}
    for block in ("fairness", "iterator", "visit_order", "page_in"):
        assert set(model[block]) == set(kernel[block]), block
    first_workload = [next(g for g in m["groups"] if g["workload"]) for m in (model, kernel)]
    assert set(first_workload[0]) == set(first_workload[1])
    assert set(model["reclaimers"]["limit"]) == set(kernel["reclaimers"]["limit"])
    d = divergence(model, kernel)
    assert 0 <= d["score"] <= 1 and d["missing"] == []


def test_series_rows() -> None:
    visits = [Visit(1_000 + 100, 7, "a", "p", 12, 32, 30, 5),
              Visit(1_000 + 300, 7, "b", "p", 12, 4, 4, 6)]
    samples = [sample(0, 0, 0), sample(150, 4, 2), sample(300, 6, 3)]
    rows = series_rows(samples, visits, ["a", "b", "idle"], t0_ns=1_000)
    assert all(len(r) == len(SERIES_COLUMNS) for r in rows)
    assert rows[3:6] == [(0.00015, "a", 1024, 32, 30, 1, 1), (0.00015, "b", 512, 0, 0, 0, 0),
                         (0.00015, "idle", 0, 0, 0, 0, 0)]
    assert rows[-2] == (0.0003, "b", 768, 4, 4, 1, 1)
    assert series_rows(samples, [Visit(0, 7, "a", None, 12, 1, 1, None)], ["a"])[0][-1] is None


def test_aggregate() -> None:
    runs = [{"groups": [{"name": "a", "reclaim_share": s}, {"name": "b", "reclaim_share": 1 - s},
                        {"name": "p"}],
             "fairness": {"jain_index_reclaim": j}, "visit_order": {"successor_rate": r},
             "page_in": {"amplification": amp}}
            for s, j, r, amp in ((0.5, 1.0, 0.9, 1.0), (0.7, 0.8, 0.7, None),
                                 (0.6, 0.9, 0.8, 2.0))]
    agg = aggregate(runs)
    assert agg["runs"] == 3
    assert agg["reclaim_share"]["a"] == {"n": 3, "mean": 0.6, "stdev": 0.1, "min": 0.5,
                                         "max": 0.7}
    assert agg["reclaim_share"]["b"]["mean"] == 0.4
    assert "p" not in agg["reclaim_share"]
    assert agg["jain_index_reclaim"] == {"n": 3, "mean": 0.9, "stdev": 0.1}
    assert agg["successor_rate"]["mean"] == 0.8
    assert agg["amplification"] == {"n": 2, "mean": 1.5, "stdev": 0.7071}
    assert aggregate([runs[0]])["jain_index_reclaim"] == {"n": 1, "mean": 1.0, "stdev": 0.0}
    assert aggregate([])["successor_rate"] == {"n": 0, "mean": None, "stdev": None}
