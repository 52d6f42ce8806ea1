"""Group removal as the steps of the removing task (v3.7), and the css reference discipline.

v3.7's rmdir runs cgroup_clear_css_refs(), then (cgroup_diput) synchronize_rcu(), then
(mem_cgroup_destroy -> __mem_cgroup_free) free_css_id() and call_rcu(free_rcu). Until
free_css_id(), css_get_next() still returns the dead group and css_tryget() on it fails, so a
walker stores its css id as the position: interleavings the one-step removal never produced.
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any

import pytest

from memcglab.explore.system import State, System
from memcglab.model.hierarchy import GroupSpec, Topology
from memcglab.model.layout import GroupState, Layout, Zone
from memcglab.runtime.machine import (
    NO_DEADLOCK,
    REFERENCE_SAFETY,
    Machine,
    Semantics,
    ThreadComp,
)
from memcglab.runtime.ops import RCU_READ_LOCK, RCU_READ_UNLOCK, Kind, Op
from memcglab.scenario.check_config import CheckFile, build
from tests.conftest import check, cli

A, B = 1, 2


def _machine(sem: Semantics | None = None) -> tuple[Machine, Layout, list[Any],
                                                    list[ThreadComp]]:
    topo = Topology((GroupSpec("root", None), GroupSpec("A", 0), GroupSpec("B", 0),
                     GroupSpec("C", 0, initially_present=False)))
    lay = Layout(topo, (Zone(0, 0),), (12,), (0,), ("position", "generation"))
    m = Machine(lay, sem or Semantics())
    return m, lay, m.initial_shared(), [(0, (), 0, (), 0) for _ in range(3)]


def _apply(m: Machine, shared: list[Any], threads: list[ThreadComp], tid: int,
           op: Op) -> Any:
    assert m.enabled(shared, op), op
    result, v = m.apply(shared, threads, tid, op)
    assert v is None, v
    return result


# -- the machine: one removal step at a time -----------------------------------------------


def test_clear_css_refs_waits_for_the_base_reference_then_removes_and_drops_it() -> None:
    m, lay, shared, threads = _machine()
    _apply(m, shared, threads, 0, Op(Kind.TRYGET, A))
    assert not m.enabled(shared, Op(Kind.CLEAR_CSS_REFS, A))  # v3.7: rmdir sleeps, retries
    _apply(m, shared, threads, 0, Op(Kind.PUT, A))
    assert _apply(m, shared, threads, 2, Op(Kind.CLEAR_CSS_REFS, A)) is True
    assert shared[lay.refcnt[A]] == 0 and shared[lay.gstate[A]] == GroupState.RELEASED
    # Still in the IDR: css_get_next() finds it, css_tryget() on it fails.
    _apply(m, shared, threads, 0, RCU_READ_LOCK)
    assert _apply(m, shared, threads, 0, Op(Kind.CSS_GET_NEXT, 2, 0)) == (A, 2)
    assert _apply(m, shared, threads, 0, Op(Kind.TRYGET, A)) is False
    _apply(m, shared, threads, 0, RCU_READ_UNLOCK)


def test_synchronize_rcu_waits_only_for_readers_inside_when_it_starts() -> None:
    m, lay, shared, threads = _machine()
    _apply(m, shared, threads, 0, RCU_READ_LOCK)
    _apply(m, shared, threads, 2, Op(Kind.CLEAR_CSS_REFS, A))
    assert _apply(m, shared, threads, 2, Op(Kind.SYNC_RCU_START, A)) == 1  # one reader
    wait = Op(Kind.SYNC_RCU_WAIT, A)
    assert not m.enabled(shared, wait)
    _apply(m, shared, threads, 1, RCU_READ_LOCK)  # a later reader is not waited for
    _apply(m, shared, threads, 0, RCU_READ_LOCK)  # nested: still inside
    _apply(m, shared, threads, 0, RCU_READ_UNLOCK)
    assert not m.enabled(shared, wait)
    _apply(m, shared, threads, 0, RCU_READ_UNLOCK)
    assert m.enabled(shared, wait) and shared[lay.gp_readers[A]] == 0
    _apply(m, shared, threads, 2, wait)
    assert threads[1][2] == 1  # CPU1 is still reading; synchronize_rcu() returned anyway


def test_free_css_id_unpublishes_and_the_free_waits_for_current_readers() -> None:
    m, lay, shared, threads = _machine()
    _apply(m, shared, threads, 2, Op(Kind.CLEAR_CSS_REFS, A))
    _apply(m, shared, threads, 2, Op(Kind.SYNC_RCU_START, A))
    _apply(m, shared, threads, 2, Op(Kind.SYNC_RCU_WAIT, A))
    _apply(m, shared, threads, 0, RCU_READ_LOCK)
    assert _apply(m, shared, threads, 2, Op(Kind.FREE_CSS_ID, A)) == 2
    assert shared[lay.idr[2]] == -1
    assert _apply(m, shared, threads, 0, Op(Kind.CSS_GET_NEXT, 2, 0)) == (B, 3)
    assert _apply(m, shared, threads, 2, Op(Kind.MKDIR, 3)) == 2  # the id is reused at once
    _apply(m, shared, threads, 2, Op(Kind.CALL_RCU_FREE, A))
    assert shared[lay.gstate[A]] == GroupState.RELEASED  # CPU0 may still dereference it
    _apply(m, shared, threads, 0, RCU_READ_UNLOCK)
    assert shared[lay.gstate[A]] == GroupState.FREED


def test_synchronize_rcu_inside_a_read_section_is_a_deadlock() -> None:
    m, _lay, shared, threads = _machine()
    _apply(m, shared, threads, 2, Op(Kind.CLEAR_CSS_REFS, A))
    _apply(m, shared, threads, 2, RCU_READ_LOCK)
    _, v = m.apply(shared, threads, 2, Op(Kind.SYNC_RCU_START, A))
    assert v is not None and v.prop == NO_DEADLOCK


def test_without_waiting_rmdir_the_last_put_starts_the_asynchronous_destroy() -> None:
    m, lay, shared, threads = _machine(Semantics(rmdir_waits_for_refs=False))
    _apply(m, shared, threads, 0, Op(Kind.TRYGET, A))
    assert _apply(m, shared, threads, 2, Op(Kind.CLEAR_CSS_REFS, A)) is False
    assert shared[lay.gstate[A]] == GroupState.OFFLINE and shared[lay.refcnt[A]] == 1
    _apply(m, shared, threads, 0, Op(Kind.PUT, A))  # the walker's put is the last one
    assert shared[lay.gstate[A]] == GroupState.FREED and shared[lay.idr[2]] == -1


# -- item 6: a reference put twice -----------------------------------------------------------


def test_a_put_below_an_online_groups_base_reference_is_a_violation() -> None:
    m, _lay, shared, threads = _machine()
    _apply(m, shared, threads, 0, Op(Kind.TRYGET, A))
    _apply(m, shared, threads, 0, Op(Kind.PUT, A))
    _, v = m.apply(shared, threads, 0, Op(Kind.PUT, A))
    assert v is not None and v.prop == REFERENCE_SAFETY
    assert v.message == ("css_put(A) drops the base reference of an online group: "
                         "a reference put twice")


def test_a_put_by_a_thread_holding_no_reference_is_a_violation() -> None:
    """The count stays at 2 (base + CPU1's reference), but CPU0 put CPU1's reference."""
    m, lay, shared, threads = _machine()
    _apply(m, shared, threads, 0, Op(Kind.TRYGET, A))
    _apply(m, shared, threads, 1, Op(Kind.TRYGET, A))
    _apply(m, shared, threads, 0, Op(Kind.PUT, A))
    _, v = m.apply(shared, threads, 0, Op(Kind.PUT, A))
    assert v is not None and v.prop == REFERENCE_SAFETY and shared[lay.refcnt[A]] == 1
    assert v.message == "css_put(A) by CPU0, which holds no reference on A: a reference put twice"
    # A variant that hands references over through shared state opts out of that rule.
    m, _lay, shared, threads = _machine(Semantics(refs_owned_by_threads=False))
    _apply(m, shared, threads, 0, Op(Kind.TRYGET, A))
    _apply(m, shared, threads, 1, Op(Kind.TRYGET, A))
    _apply(m, shared, threads, 0, Op(Kind.PUT, A))
    _apply(m, shared, threads, 0, Op(Kind.PUT, A))


def test_root_puts_are_not_counted() -> None:
    m, _lay, shared, threads = _machine()
    _apply(m, shared, threads, 0, Op(Kind.PUT, 0))  # CSS_ROOT: css_put() is a no-op


DOUBLE_PUT = """
from memcglab.kernel.cgroup import css_put
from memcglab.kernel.iter_css_id import CssIdIter

class DoublePut(CssIdIter):
    name = "double-put"
    def mem_cgroup_iter(self, root, prev, reclaim):
        if prev is not None and prev != (self.k.root_mem_cgroup if root is None else root):
            yield css_put(self.k, prev)  # one put too many: the call below puts prev too
        return (yield from super().mem_cgroup_iter(root, prev, reclaim))
"""


@pytest.mark.parametrize("reclaimers", ["1", "2"])
def test_a_variant_that_puts_twice_breaks_reference_safety(tmp_path: Path,
                                                           reclaimers: str) -> None:
    f = tmp_path / "double_put.py"
    f.write_text(DOUBLE_PUT)
    code, out, _ = cli("check", "--variant", f"{f}:DoublePut", "--groups", "2",
                       "--reclaimers", reclaimers, "--json")
    found = [x for x in json.loads(out)["findings"] if x["property"] == "reference_safety"]
    assert code == 1 and found, out
    assert "a reference put twice" in found[0]["message"]


@pytest.mark.parametrize("variant", ["css-id", "seed-spinlock"])
def test_built_in_variants_keep_the_reference_discipline(variant: str) -> None:
    for change in ([], [{"op": "rmdir", "group": "B"}, {"op": "mkdir", "group": "C"}]):
        raw = {"variant": variant,
               "hierarchy": {"shape": "nested",
                             "group": [{"name": n} for n in ("A", "B", "C")]},
               "reclaim": {"reclaimers": 2, "walks": 1}, "change": change}
        result, _ = check(raw, shrink=False, por=False)
        assert not [x for x in result.findings if x.prop == "reference_safety"], change


# -- the explorer: interleavings of the removal steps with the walkers ----------------------


def _system(reclaimers: int) -> System:
    raw = {"variant": "css-id", "hierarchy": {"groups": 2},
           "reclaim": {"reclaimers": reclaimers, "walks": 1},
           "change": [{"op": "rmdir", "group": "A"}]}
    system = System(build(CheckFile.model_validate(raw), "test").model)
    system.set_visible(None)  # every operation an interleaving point
    system.reset_summary(False)
    return system


def test_a_walker_stores_the_removed_groups_id_after_its_tryget_failed() -> None:
    """One reclaimer and the admin: the walker enters its read section only after
    cgroup_clear_css_refs(A), so no reader held up anything, and still css_get_next()
    returns A (free_css_id has not run), css_tryget(A) fails and A's id becomes the
    position. With the removal as one step, A left the IDR at once here."""
    system = _system(1)
    walker, admin = 0, 1
    lay = system.layout
    position = lay.iter_list[0].position

    def advance(phase: int, tid: int, op: Op, result: Any) -> int:
        k = op.kind
        if phase == 0:
            return 1 if k is Kind.CLEAR_CSS_REFS and tid == admin else 0
        if tid != walker:
            return phase
        if phase == 1:
            return 2 if k is Kind.RCU_LOCK else 1
        if phase == 2:
            return 3 if k is Kind.CSS_GET_NEXT and result == (A, 2) else (
                1 if k is Kind.CSS_GET_NEXT else 2)
        if phase == 3:
            return 4 if k is Kind.TRYGET and result is False else 1
        if phase == 4 and k is Kind.STORE and op.a == position:
            return 5 if op.b == 2 else 1
        return phase

    start: tuple[State, int] = (system.initial(), 0)
    seen = {start}
    queue: deque[tuple[State, int]] = deque([start])
    found = False
    while queue and not found:
        state, phase = queue.popleft()
        for tid in system.enabled(state):
            trace: list[Any] = []
            new, _, v = system.block(state, tid, trace, single=True)
            assert v is None, v
            nphase = phase
            for e in trace:
                nphase = advance(nphase, e.tid, e.op, e.result)
            if nphase == 5:
                assert new[0][lay.gstate[A]] == GroupState.RELEASED
                assert new[0][lay.idr[2]] == A  # free_css_id() still to come
                found = True
                break
            if (new, nphase) not in seen:
                seen.add((new, nphase))
                queue.append((new, nphase))
    assert found


def _outcomes(system: System) -> set[Any]:
    """Final outcomes of every run, continued through violations: what each reclaimer was
    handed out (group and cookie generation, in order) and the final kernel state."""
    lay = system.layout
    kernel = [i for i, name in enumerate(lay.names)
              if "<" not in name and "synchronize_rcu" not in name]
    start = (system.initial(), ((),) * system.nthreads)
    seen = {start}
    queue = deque([start])
    out = set()
    while queue:
        state, claims = queue.popleft()
        enabled = system.enabled(state)
        if not enabled:
            out.add((claims, tuple(state[0][i] for i in kernel)))
            continue
        for tid in enabled:
            trace: list[Any] = []
            new, _, _ = system.block(state, tid, trace, single=True)
            nclaims = list(claims)
            for e in trace:
                if e.op.kind is Kind.CLAIM:
                    gen, g, _shared = e.op.b
                    nclaims[tid] = (*nclaims[tid], (g, gen))
            key = (new, tuple(nclaims))
            if key not in seen:
                seen.add(key)
                queue.append(key)
    return out


@pytest.mark.slow
def test_outcomes_match_the_v37_c_code_under_every_interleaving() -> None:
    """A differential check ran the v3.7 C code (mem_cgroup_iter, css_get_next, the css
    reference calls, css id allocation, rmdir and the destroy path) under every
    interleaving: root + A, 2 global reclaimers, 1 walk, rmdir A reaches 626 outcomes.
    The one-step removal reached 574 of them (52 missing, none extra)."""
    assert len(_outcomes(_system(2))) == 626
