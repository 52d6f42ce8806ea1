"""The seed patch's two races: found, named, minimal, by every strategy; the fix proved."""

from __future__ import annotations

import pytest

from memcglab.explore.races import RACE_1, RACE_2
from memcglab.runtime.ops import Kind
from tests.conftest import check, flat


def _by_race(result):  # type: ignore[no-untyped-def]
    return {f.race.id: f for f in result.findings if f.race is not None}


def test_exhaustive_finds_race_1_and_race_2_as_distinct_minimal_findings() -> None:
    result, _ = check(flat("css-id", 4, 2, 1))
    races = _by_race(result)
    r1, r2 = races[RACE_1.id], races[RACE_2.id]
    assert r1.prop == r2.prop == "unique_claim"
    assert r1.minimal and r2.minimal
    assert r1.minimal_over_all and r2.minimal_over_all  # not only within the reduction
    # Pinned minimal sizes (steps exclude diagram notes).
    assert (r1.steps, r1.preemptions) == (16, 2)
    assert (r2.steps, r2.preemptions) == (48, 2)
    assert r1.message == ("root handed out twice in generation 0 of "
                          "iter[root, node0/zone0, prio 12]")


def test_race_1_trace_shows_two_cpus_reading_the_same_position() -> None:
    result, _ = check(flat("css-id", 4, 2, 1))
    r1 = _by_race(result)[RACE_1.id]
    loads = [(e.tid, e.result) for e in r1.trace
             if e.op.kind is Kind.LOAD and e.op.text.startswith("pos =")]
    assert loads[:2] == [(0, 0), (1, 0)]


def test_race_2_trace_reads_the_reset_position_with_the_old_generation() -> None:
    result, _ = check(flat("css-id", 4, 2, 1))
    r2 = _by_race(result)[RACE_2.id]
    last_tid = r2.trace[-1].tid
    mine = [e for e in r2.trace if e.tid == last_tid and e.op.kind is Kind.LOAD]
    gen_check = [e for e in mine if e.op.text.startswith("gen =")][-1]
    pos = [e for e in mine if e.op.text.startswith("pos =")][-1]
    assert (gen_check.result, pos.result) == (0, 0)
    assert "root handed out twice in generation 0" in r2.message


@pytest.mark.parametrize("strategy", ["random", "pct"])
def test_random_and_pct_find_both_races_within_200_runs(strategy: str) -> None:
    result, _ = check(flat("css-id", 4, 2, 1, strategy=strategy, runs=200, seed=1))
    races = _by_race(result)
    assert {RACE_1.id, RACE_2.id} <= set(races)
    for rid in (RACE_1.id, RACE_2.id):
        assert 1 <= result.first_found_at[f"unique_claim:{rid}"] <= 200


def test_seed_spinlock_is_proved_where_css_id_fails() -> None:
    for walks, nr in ((1, 2), (2, 2), (2, 3)):
        result, _ = check(flat("seed-spinlock", 4, nr, walks))
        assert result.proved, (walks, nr)
        assert result.bounds["max_steps"] == 5000


def test_limit_reclaim_nested_tree_is_proved_with_the_lock() -> None:
    raw = {"variant": "seed-spinlock",
           "hierarchy": {"shape": "nested", "group": [
               {"name": "A"}, {"name": "B", "parent": "A"}, {"name": "C", "parent": "A"}]},
           "reclaim": {"mode": "limit", "target": "A", "reclaimers": 2, "walks": 3}}
    result, _ = check(raw)
    assert result.proved


def test_limit_reclaim_races_too_without_the_lock() -> None:
    raw = {"variant": "css-id",
           "hierarchy": {"shape": "nested", "group": [
               {"name": "A"}, {"name": "B", "parent": "A"}, {"name": "C", "parent": "A"}]},
           "reclaim": {"mode": "limit", "target": "A", "reclaimers": 2, "walks": 2}}
    result, _ = check(raw, shrink=False)
    assert any(f.prop == "unique_claim" for f in result.findings)


def test_removal_is_safe_with_css_ids_in_both_variants() -> None:
    for variant in ("css-id", "seed-spinlock"):
        raw = {"variant": variant,
               "hierarchy": {"shape": "nested",
                             "group": [{"name": n} for n in ("A", "B", "C", "E")]},
               "reclaim": {"reclaimers": 2, "walks": 1},
               "change": [{"op": "rmdir", "group": "B"}, {"op": "mkdir", "group": "E"}]}
        result, _ = check(raw, shrink=False)
        assert not [f for f in result.findings if f.prop == "reference_safety"], variant
        if variant == "seed-spinlock":
            assert result.proved


def test_stop_on_first_stops_early() -> None:
    full, _ = check(flat("css-id", 4, 2, 1), shrink=False)
    first, _ = check(flat("css-id", 4, 2, 1, stop_on_first=True), shrink=False)
    assert len(first.findings) == 1
    assert first.states < full.states


def test_preemption_bound_zero_finds_nothing_and_one_finds_race_1() -> None:
    none, _ = check(flat("css-id", 4, 2, 1, max_preemptions=0), shrink=False)
    assert none.proved and none.bounds["max_preemptions"] == 0
    one, _ = check(flat("css-id", 4, 2, 1, max_preemptions=1))
    r1 = _by_race(one)[RACE_1.id]
    assert r1.preemptions == 1  # shrunk within the same bound
