"""Visit statistics (metrics.visits) on hand-made sequences, and the simulator's visit log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from memcglab.metrics.summary import series_rows, summarize
from memcglab.metrics.visits import (
    Visit,
    bigram_distance,
    divergence,
    model_visit_metrics,
    order_stats,
    visible,
    walk_orders,
    walk_starts,
    walks_from_generations,
)
from memcglab.scenario.sim_scenario import load
from memcglab.sim.engine import simulate
from memcglab.sim.machine import RECLAIMED, SCANNED, VISITS

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"

ORDERS: dict[str | None, list[str]] = {None: ["root", "p", "a", "b", "c"],
                                       "p": ["p", "a", "b", "c"]}


def v(reclaimer: int, group: str, root: str | None = "p", t: int = 0, gen: int | None = None,
      iterator: int = 0, scanned: int = 1) -> Visit:
    return Visit(t, reclaimer, group, root, 12, scanned, scanned, gen, iterator)


def test_walk_orders_are_pre_order_in_creation_order() -> None:
    orders = walk_orders([("root", None), ("p", "root"), ("a", "p"), ("q", "root"),
                          ("b", "p"), ("c", "q")])
    assert orders[None] == ["root", "p", "a", "b", "q", "c"]
    assert orders["root"] == orders[None]
    assert orders["p"] == ["p", "a", "b"]
    assert orders["c"] == ["c"]
    # a parent outside the list (the run's own parent cgroup): its children are top-level
    assert walk_orders([("a", "memcglab-run"), ("b", "memcglab-run")])[None] == ["a", "b"]


def test_successor_and_repeat_rates_per_reclaimer() -> None:
    # Reclaimer 1 walks a b a a b; reclaimer 2 interleaves b c b. Visible under p: a, b, c
    # (p itself never shows), so the cyclic order is a -> b -> c -> a.
    seq = [v(1, "a"), v(2, "b"), v(1, "b"), v(2, "c"), v(1, "a"), v(1, "a"), v(2, "b"),
           v(1, "b")]
    st = order_stats(seq, ORDERS)
    # reclaimer 1: (a,b) succ, (b,a) no, (a,a) repeat, (a,b) succ
    # reclaimer 2: (b,c) succ, (c,b) no
    assert st.pairs == 6
    assert st.successor_rate == pytest.approx(3 / 6)
    assert st.repeat_rate == pytest.approx(1 / 6)
    assert st.bigrams == pytest.approx({("a", "b"): 2 / 6, ("b", "a"): 1 / 6,
                                        ("a", "a"): 1 / 6, ("b", "c"): 1 / 6,
                                        ("c", "b"): 1 / 6})
    assert sum(st.bigrams.values()) == pytest.approx(1)
    assert st.to_json() == {"successor_rate": 0.5, "repeat_rate": 0.1667, "pairs": 6,
                            "bigrams": {"a": {"a": 0.1667, "b": 0.3333}, "b": {"a": 0.1667,
                                                                              "c": 0.1667},
                                        "c": {"b": 0.1667}}}


def test_invisible_groups_are_skipped_and_the_walk_is_cyclic() -> None:
    # b never shows under p: the visible walk is a -> c -> a
    st = order_stats([v(1, "a"), v(1, "c"), v(1, "a"), v(1, "c")], ORDERS)
    assert (st.successor_rate, st.repeat_rate, st.pairs) == (1.0, 0.0, 3)
    # one visible group: its successor is itself
    st = order_stats([v(1, "a"), v(1, "a")], ORDERS)
    assert (st.successor_rate, st.repeat_rate) == (1.0, 1.0)


def test_a_change_of_root_makes_no_pair() -> None:
    seq = [v(1, "a"), v(1, "b", root=None), v(1, "c", root=None), v(1, "a")]
    st = order_stats(seq, ORDERS)
    assert st.pairs == 1  # only (b, c) under the global root
    assert st.bigrams == {("b", "c"): 1.0}
    assert st.successor_rate == 1.0  # visible globally: b, c


def test_no_pairs_and_unknown_roots() -> None:
    st = order_stats([v(1, "a"), v(2, "b")], ORDERS)
    assert (st.successor_rate, st.repeat_rate, st.pairs, st.bigrams) == (None, None, 0, {})
    with pytest.raises(ValueError, match="no walk order"):
        order_stats([v(1, "a", root="x")], ORDERS)


def test_bigram_distance() -> None:
    p = {("a", "b"): 0.5, ("b", "a"): 0.5}
    assert bigram_distance(p, p) == 0
    assert bigram_distance(p, {("a", "a"): 1.0}) == 1
    assert bigram_distance(p, {("a", "b"): 1.0}) == pytest.approx(0.5)
    assert bigram_distance({("a", "b"): 0.25, ("b", "c"): 0.75},
                           {("a", "b"): 0.5, ("c", "a"): 0.5}) == pytest.approx(0.75)
    with pytest.raises(ValueError):
        bigram_distance({}, p)


def test_walks_from_generations() -> None:
    seq = [v(1, "a", t=1, gen=3), v(2, "b", t=2, gen=3), v(1, "c", t=3, gen=4),
           v(1, "a", t=4, gen=None), v(2, "a", t=5, gen=6)]
    assert walks_from_generations(seq) == 3  # 3 -> 3 -> 4 -> 6, including 1 invisible walk
    # time order, not list order
    assert walks_from_generations(list(reversed(seq))) == 3
    # a reset (the iterator's memcg recreated) adds nothing: 3 -> 5, reset, 2 -> 3
    reset = [v(1, "a", t=t, gen=g) for t, g in enumerate([3, 5, 2, 3])]
    assert walks_from_generations(reset) == 3
    # iterators count separately: interleaving two must not give differences across them
    two = [v(1, "a", t=t, gen=g, iterator=t % 2) for t, g in enumerate([10, 100, 11, 101])]
    assert walks_from_generations(two) == 2
    # roots too; -1 ("no root") and None are ignored
    assert walks_from_generations([v(1, "a", t=0, gen=1), v(1, "a", root=None, t=1, gen=9),
                                   v(1, "a", t=2, gen=-1), v(1, "a", t=3, gen=2)]) == 1
    assert walks_from_generations([v(1, "a"), v(1, "b")]) == 0


def test_walk_starts() -> None:
    seq = [v(1, "a", t=1, gen=3), v(2, "b", t=2, gen=3), v(1, "c", t=3, gen=4),
           v(1, "a", t=4, gen=None), v(2, "a", t=5, gen=4), v(2, "b", t=6, gen=4, iterator=1)]
    assert walk_starts(seq) == [True, False, True, False, False, True]
    assert walk_starts([v(1, "a"), v(1, "b")]) is None


def _metrics(shares: dict[str, float], jain: float | None, succ: float | None,
             bigrams: dict[str, dict[str, float]], amp: float | None) -> dict[str, Any]:
    return {"groups": [{"name": "p", "workload": False}]
            + [{"name": g, "reclaim_share": s} for g, s in shares.items()],
            "fairness": {"jain_index_reclaim": jain},
            "visit_order": {"successor_rate": succ, "bigrams": bigrams},
            "page_in": {"amplification": amp}}


def test_divergence_of_identical_inputs_is_zero() -> None:
    m = _metrics({"a": 0.6, "b": 0.4}, 0.96, 0.7, {"a": {"b": 1.0}}, 1.3)
    d = divergence(m, m)
    assert d["score"] == 0
    assert d["missing"] == []
    assert set(d["components"].values()) == {0}


def test_divergence_of_disjoint_shares() -> None:
    d = divergence(_metrics({"a": 1.0, "b": 0.0}, None, None, {}, None),
                   _metrics({"a": 0.0, "b": 1.0}, None, None, {}, None))
    assert d["components"]["reclaim_share_tv"] == 1
    assert d["score"] == 1
    assert d["missing"] == ["jain_delta", "successor_rate_delta", "bigram_tv",
                            "page_in_rel_error"]


def test_divergence_by_hand() -> None:
    model = _metrics({"a": 0.75, "b": 0.25}, 0.8, 0.5, {"a": {"b": 1.0}}, 1.0)
    kernel = _metrics({"a": 0.5, "b": 0.5}, 1.0, 0.75, {"a": {"b": 0.5}, "b": {"a": 0.5}},
                      1.25)
    d = divergence(model, kernel)
    # TV shares 1/2 (.25 + .25) = .25; |.8 - 1| = .2; |.5 - .75| = .25; bigrams TV .5;
    # page-in |1 - 1.25| / 1.25 = .2; mean (.25 + .2 + .25 + .5 + .2) / 5 = .28
    assert d["components"] == {"reclaim_share_tv": 0.25, "jain_delta": 0.2,
                               "successor_rate_delta": 0.25, "bigram_tv": 0.5,
                               "page_in_rel_error": 0.2}
    assert d["score"] == pytest.approx(0.28)
    # a component missing on one side is left out of the mean and listed
    del model["page_in"]
    d = divergence(model, kernel)
    assert d["missing"] == ["page_in_rel_error"]
    assert d["score"] == pytest.approx(0.3)
    # the relative error is capped at 1; a kernel amplification of 0 gives 0 or 1
    assert divergence(_metrics({}, None, None, {}, 5.0),
                      _metrics({}, None, None, {}, 1.0))["score"] == 1
    assert divergence(_metrics({}, None, None, {}, 0.0),
                      _metrics({}, None, None, {}, 0.0))["score"] == 0
    assert divergence({}, {}) == {"score": None, "components": dict.fromkeys(d["components"]),
                                  "missing": list(d["components"])}


# -- the simulator's visit log ----------------------------------------------------------------


def test_the_visit_log_counts_every_claim_and_changes_nothing() -> None:
    plan = load(SCENARIOS / "flat-limit.toml", {"duration": "300ms"})
    plain = simulate(plan)
    logged = simulate(plan, record_visits=True)
    assert plain.visits is None and logged.visits is not None
    # determinism: the log observes, it does not take part
    assert json.dumps(summarize(plain)) == json.dumps(summarize(logged))
    assert series_rows(plain) == series_rows(logged)
    c = logged.machine.c
    topo = plan.topology
    assert len(logged.visits) == sum(r[VISITS] for r in c.group) > 100
    for g in range(topo.size):
        mine = [x for x in logged.visits if x.group == topo.name(g)]
        assert len(mine) == c.group[g][VISITS]
        # inactive-list pages only: at most the group's counters (which add active rotation)
        assert sum(x.scanned for x in mine) <= c.group[g][SCANNED]
        assert sum(x.reclaimed for x in mine) == c.group[g][RECLAIMED]
    # limit reclaim of "parent" at its iterators' priorities, per task in time order
    assert {x.root for x in logged.visits} == {"parent"}
    assert all(0 <= x.priority <= 12 and x.generation is not None for x in logged.visits)
    for task in {x.reclaimer for x in logged.visits}:
        ts = [x.t_ns for x in logged.visits if x.reclaimer == task]
        assert ts == sorted(ts) and ts[-1] <= plan.duration_ns
    m = model_visit_metrics(logged)
    assert m["visit_order"]["pairs"] == len(visible(logged.visits)) - len(
        {x.reclaimer for x in visible(logged.visits)})
    assert set(m["visit_order"]) == {"successor_rate", "repeat_rate", "pairs", "bigrams"}
    assert m["page_in"]["pages_read"] >= m["page_in"]["file_pages"] > 0
    with pytest.raises(ValueError, match="record_visits"):
        model_visit_metrics(plain)


def test_walks_from_the_model_s_generations() -> None:
    """Global reclaim: the cookie generations of the logged visits account for the model's
    completed walks, but for those before the first or after the last visit of each
    iterator."""
    plan = load(SCENARIOS / "global-kswapd.toml", {"duration": "60ms"})
    run = simulate(plan, record_visits=True)
    assert run.visits is not None
    walks = run.machine.c.walks_completed
    assert walks > 0
    assert walks - len({x.iterator for x in run.visits}) <= walks_from_generations(
        run.visits) <= walks
