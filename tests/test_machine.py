"""cgroup-core semantics of the machine (v3.7): ids, tryget, rmdir, RCU grace periods."""

from __future__ import annotations

from typing import Any

from memcglab.model.hierarchy import GroupSpec, Topology
from memcglab.model.layout import GroupState, Layout, Zone
from memcglab.runtime.machine import (
    REFERENCE_SAFETY,
    Machine,
    Semantics,
    ThreadComp,
)
from memcglab.runtime.ops import RCU_READ_LOCK, RCU_READ_UNLOCK, Kind, Op


def _machine(policy: str = "lowest-free") -> tuple[Machine, Layout, list[Any],
                                                   list[ThreadComp]]:
    topo = Topology((GroupSpec("root", None), GroupSpec("A", 0), GroupSpec("B", 0),
                     GroupSpec("C", 0, initially_present=False)), policy)  # type: ignore[arg-type]
    lay = Layout(topo, (Zone(0, 0),), (12,), (0,), ("position", "generation"))
    m = Machine(lay, Semantics())
    return m, lay, m.initial_shared(), [(0, (), 0, (), 0), (0, (), 0, (), 0)]


def test_initial_groups_get_css_ids_in_creation_order_root_first() -> None:
    _, lay, shared, _ = _machine()
    assert [shared[lay.cssid[g]] for g in range(3)] == [1, 2, 3]
    assert shared[lay.gstate[3]] == GroupState.ABSENT


def test_lowest_free_css_id_is_reused_after_free() -> None:
    m, lay, shared, threads = _machine()
    m.apply(shared, threads, 0, Op(Kind.RMDIR, 1))  # A: id 2 released and freed (no readers)
    assert shared[lay.gstate[1]] == GroupState.FREED
    cid, _ = m.apply(shared, threads, 0, Op(Kind.MKDIR, 3))
    assert cid == 2  # C takes A's id: idr_get_new_above(..., 1, ...) gives the lowest free


def test_monotonic_policy_never_reuses_ids() -> None:
    m, _lay, shared, threads = _machine("monotonic")
    m.apply(shared, threads, 0, Op(Kind.RMDIR, 1))
    cid, _ = m.apply(shared, threads, 0, Op(Kind.MKDIR, 3))
    assert cid == 4


def test_rmdir_waits_while_a_reference_is_held_then_tryget_fails() -> None:
    m, lay, shared, threads = _machine()
    ok, _ = m.apply(shared, threads, 0, Op(Kind.TRYGET, 1))
    assert ok and shared[lay.refcnt[1]] == 2
    assert not m.enabled(shared, Op(Kind.RMDIR, 1))  # cgroup_clear_css_refs() would fail
    m.apply(shared, threads, 0, Op(Kind.PUT, 1))
    assert m.enabled(shared, Op(Kind.RMDIR, 1))
    m.apply(shared, threads, 1, Op(Kind.RMDIR, 1))
    ok, v = m.apply(shared, threads, 0, Op(Kind.TRYGET, 1))
    assert v is not None and v.prop == REFERENCE_SAFETY  # freed already: use after free


def test_release_unpublishes_and_frees_after_two_grace_periods() -> None:
    m, lay, shared, threads = _machine()
    m.apply(shared, threads, 0, RCU_READ_LOCK)
    found, _ = m.apply(shared, threads, 0, Op(Kind.CSS_GET_NEXT, 2, 0))
    assert found == (1, 2)
    m.apply(shared, threads, 1, Op(Kind.RMDIR, 1))
    assert shared[lay.gstate[1]] == GroupState.RELEASED
    # Still published until a grace period has passed (cgroup_diput's synchronize_rcu) ...
    again, _ = m.apply(shared, threads, 0, Op(Kind.CSS_GET_NEXT, 2, 0))
    assert again == (1, 2)
    # ... and a reader that finds it may tryget it safely: it fails.
    ok, v = m.apply(shared, threads, 0, Op(Kind.TRYGET, 1))
    assert (ok, v) == (False, None)
    m.apply(shared, threads, 1, RCU_READ_LOCK)  # a second reader arrives
    m.apply(shared, threads, 0, RCU_READ_UNLOCK)  # first grace period over: free_css_id
    assert shared[lay.idr[2]] == -1 and shared[lay.gstate[1]] == GroupState.RELEASED
    m.apply(shared, threads, 1, RCU_READ_UNLOCK)  # second one over: kfree_rcu
    assert shared[lay.gstate[1]] == GroupState.FREED


def test_css_get_next_outside_rcu_is_reported() -> None:
    m, _, shared, threads = _machine()
    _, v = m.apply(shared, threads, 0, Op(Kind.CSS_GET_NEXT, 1, 0))
    assert v is not None and "outside rcu_read_lock" in v.message


def test_put_underflow_and_leak_are_reference_safety_violations() -> None:
    m, _lay, shared, threads = _machine()
    m.apply(shared, threads, 0, Op(Kind.TRYGET, 2))
    v = m.end_checks(shared, threads)
    assert v is not None and "leak" in v.message
    m.apply(shared, threads, 0, Op(Kind.PUT, 2))
    assert m.end_checks(shared, threads) is None
    m.apply(shared, threads, 1, Op(Kind.RMDIR, 2))  # base reference dropped: B freed
    _, v = m.apply(shared, threads, 0, Op(Kind.PUT, 2))
    assert v is not None and "put twice" in v.message
