"""Sequential behaviour of the v3.7 walk: order, wrap, limit reclaim, use_hierarchy."""

from __future__ import annotations

from typing import Any

from memcglab.explore.search import replay_ops
from memcglab.explore.system import TraceEntry
from memcglab.runtime.ops import Kind
from tests.conftest import check


def _claims(raw: dict[str, Any]) -> list[tuple[str, int]]:
    """(group, generation) of every hand-out of the only run of one reclaimer."""
    result, system = check(raw)
    assert result.proved, [f.message for f in result.findings]
    trace: list[TraceEntry] = []
    state = system.initial()
    while system.enabled(state):
        state, _, _ = system.block(state, 0, trace, single=True)
    assert replay_ops(system, [e.tid for e in trace])[1] is None
    names = [system.layout.topology.name(g) for g in range(system.layout.topology.size)]
    return [(names[e.op.b[1]], e.op.b[0]) for e in trace if e.op.kind is Kind.CLAIM]


def test_global_walk_visits_in_css_id_order_and_wraps() -> None:
    raw = {"variant": "css-id", "hierarchy": {"groups": 3},
           "reclaim": {"reclaimers": 1, "walks": 2}}
    assert _claims(raw) == [("root", 0), ("A", 0), ("B", 0),
                            ("root", 1), ("A", 1), ("B", 1)]


def test_order_is_css_id_order_not_tree_order() -> None:
    # mkdir -p a/b/c then a/d: ids a=2, b=3, c=4, d=5 -> walk a, b, c, d
    raw = {"variant": "css-id",
           "hierarchy": {"shape": "nested", "group": [
               {"name": "a"}, {"name": "b", "parent": "a"}, {"name": "c", "parent": "b"},
               {"name": "d", "parent": "a"}]},
           "reclaim": {"mode": "limit", "target": "a", "reclaimers": 1, "walks": 5}}
    # limit reclaim (v3.7): one group per call, round-robin over a's subtree
    assert [n for n, _ in _claims(raw)] == ["a", "b", "c", "d", "a"]


def test_limit_reclaim_of_a_non_hierarchical_group_reclaims_only_it() -> None:
    raw = {"variant": "css-id",
           "hierarchy": {"shape": "nested", "group": [
               {"name": "a", "use_hierarchy": False}, {"name": "b", "parent": "a"}]},
           "reclaim": {"mode": "limit", "target": "a", "reclaimers": 1, "walks": 2}}
    assert [n for n, _ in _claims(raw)] == ["a", "a"]


def test_every_zone_and_priority_has_its_own_iterator() -> None:
    raw = {"variant": "css-id", "hierarchy": {"groups": 2},
           "machine": {"zones": 2},
           "reclaim": {"mode": "limit", "target": "A", "reclaimers": 1, "walks": 1,
                       "priorities": [12, 11]}}
    # limit reclaim from A (no children): each (zone, priority) iterator starts fresh at A
    assert _claims(raw) == [("A", 0)] * 4
