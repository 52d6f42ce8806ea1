"""Today's iterator (variant ``current``, v6.12+): pinned state counts, what it guarantees and
what it does not, its findings' replays, and the dead-variable reduction's soundness.

The findings (docs/current-iterator.md): the seed's invariant (``unique_claim``: no group
twice within one cookie generation) fails three ways (``late-bump``, ``stale-cursor``,
``invalidated``); the lap invariant (``unique_per_lap``: no group twice between two resets
of the position) holds, with groups removed and created, within the bounds below.
"""

from __future__ import annotations

import re
from collections import deque
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memcglab.errors import ModelError
from memcglab.explore.system import State, System
from memcglab.scenario.check_config import CheckFile, build
from tests.conftest import check, cli, flat

VARIANTS = Path(__file__).parent / "variants"


def current(groups: int = 2, reclaimers: int = 2, walks: int = 1, *, props: tuple[str, ...] = (),
            goal: int = 0, change: tuple[str, ...] = (), tree: tuple[str, ...] = ()
            ) -> dict[str, Any]:
    raw = flat("current", groups, reclaimers, walks)
    raw["properties"] = list(props)
    raw["reclaim"]["goal"] = goal
    if tree:
        raw["hierarchy"] = {"shape": "nested", "group": [
            {"name": p.rsplit("/", 1)[-1], "parent": p.rsplit("/", 1)[0] if "/" in p
             else "root"} for p in tree]}
    raw["change"] = [{"op": c.split(":")[0], "group": c.split(":")[1]} for c in change]
    return raw


# (groups, reclaimers, walks, properties, symmetry, por, dead variables) -> (states, transitions)
PINNED = [
    ((2, 2, 1, (), True, True, True), (168, 298)),
    ((2, 2, 1, (), True, True, False), (354, 620)),
    ((2, 2, 1, (), True, False, True), (967, 1829)),
    ((2, 2, 1, (), False, True, True), (330, 588)),
    ((2, 2, 1, (), False, False, False), (3795, 7174)),
    ((4, 2, 1, ("unique_per_lap",), True, True, True), (736, 1360)),
    ((4, 2, 1, ("unique_per_lap",), True, True, False), (1591, 2910)),
    ((4, 2, 1, ("unique_per_lap",), True, False, True), (6511, 12667)),
    ((4, 2, 1, ("unique_per_lap",), False, True, True), (1989, 3518)),
    ((4, 2, 1, ("unique_per_lap",), False, False, False), (32480, 62164)),
]


@pytest.mark.parametrize(("params", "expected"), PINNED)
def test_pinned_counts(params: tuple[Any, ...], expected: tuple[int, int]) -> None:
    k, nr, walks, props, sym, por, dead = params
    result, _ = check(current(k, nr, walks, props=props), symmetry=sym, por=por,
                      dead_variables=dead, shrink=False)
    assert result.exit_reason.name == "EXHAUSTED"
    assert (result.states, result.transitions) == expected
    # The seed's invariant fails from root + A on; the lap invariant holds.
    assert result.proved == bool(props)


def test_dead_variables_default_on_for_current_only() -> None:
    for variant, on in (("current", True), ("css-id", False), ("seed-spinlock", False)):
        system = System(build(CheckFile.model_validate(flat(variant)), "t").model)
        assert system.dead_variables is on


# -- what today's design does and does not guarantee ------------------------------------


def _races(result: Any) -> set[tuple[str, str | None]]:
    return {(f.prop, f.race.id if f.race else None) for f in result.findings}


def test_two_findings_without_any_removal() -> None:
    """The wrap stores NULL and bumps the generation in two steps: a starting walker in
    between joins the old generation at the root; and a starting walker's cmpxchg from NULL
    succeeds after another walker went round the whole tree (ABA)."""
    result, _ = check(current(4, 2, 1), shrink=True)
    assert _races(result) == {("unique_claim", "late-bump"), ("unique_claim", "stale-cursor")}
    for f in result.findings:
        assert f.minimal and "root handed out twice in generation 0" in f.message


def test_three_findings_with_partial_walks_and_a_removal() -> None:
    result, _ = check(current(4, 2, 2, goal=2, change=("rmdir:A",)), shrink=False)
    assert {"late-bump", "stale-cursor", "invalidated"} <= {
        r for p, r in _races(result) if p == "unique_claim"}


def test_lap_uniqueness_proved_with_removal_and_creation() -> None:
    props = ("unique_per_lap", "reference_safety", "termination", "no_deadlock")
    result, _ = check(current(reclaimers=2, walks=2, props=props, goal=2,
                              tree=("A", "B", "A/D", "E"), change=("rmdir:B", "mkdir:E")))
    assert result.proved, [f.message for f in result.findings]


def test_a_parent_removed_after_its_child_outlives_it() -> None:
    """Each css holds a reference on its parent until it is freed (v6.x
    init_and_link_css / css_free_rwork_fn), and the release works of two groups run in any
    order: removing A/B then A while walkers hold B is safe (no use after free of A)."""
    props = ("unique_per_lap", "reference_safety", "termination", "no_deadlock")
    result, system = check(current(reclaimers=2, walks=2, props=props, goal=1,
                                   tree=("A", "A/B"), change=("rmdir:B", "rmdir:A")))
    assert result.proved, [f.message for f in result.findings]
    assert [p.name for p in system.programs].count("kworker") == 2


def test_aba_before_the_bump_is_named_too() -> None:
    """The cursor comes round to NULL while the wrap's bump is still pending: the late
    walker's cmpxchg from NULL succeeds under the old generation (stale-cursor)."""
    result, _ = check(current(3, 2, 1), symmetry=False, shrink=False)
    assert {r for _, r in _races(result)} == {"late-bump", "stale-cursor"}


def test_findings_replay_from_their_printed_commands() -> None:
    code, out, _ = cli("check", "--variant", "current", "--groups", "4", "--walks", "2",
                       "--goal", "2", "--change", "rmdir:A", "--no-progress")
    assert code == 1
    commands = re.findall(r"replay: (memcglab check .*)", out)
    assert len(commands) >= 3
    for command in commands:
        argv = command.split()[1:]
        rcode, rout, _ = cli(*argv)
        assert rcode == 1 and "DID NOT REPRODUCE" not in rout, rout


def test_hugh_dickins_fix_is_needed() -> None:
    """Without the reset of the result before ``goto restart`` the walker returns a group
    whose reference it has put: the explorer finds the 2024 bug."""
    raw = current(3, 2, 1, props=("reference_safety",))
    raw["variant"] = f"{VARIANTS / 'current_no_reset.py'}:CurrentNoReset"
    result, _ = check(raw)
    assert [f.prop for f in result.findings] == ["reference_safety"]
    assert "css_put(A)" in result.findings[0].message
    fixed, _ = check(current(3, 2, 1, props=("reference_safety",)))
    assert fixed.proved


@pytest.mark.parametrize(("argv", "message"), [
    (("--variant", "css-id", "--property", "unique_per_lap"),
     "css-id does not hand groups out by cmpxchg"),
    (("--variant", "current", "--property", "nope"), "no such property"),
    (("--variant", "css-id", "--goal", "1"), "field 'reclaim.goal' (--goal): expected 0"),
    (("--variant", "current", "--property", "unique_per_lap", "--property", "unique_per_lap"),
     "each property once"),
    (("--variant", "current", "--tree", "A,A/B", "--mode", "limit", "--target", "A",
      "--change", "mkdir:A", "--change", "mkdir:B"), "created by a [[change]] mkdir"),
    (("--variant", "current", "--dead-variables", "--no-dead-variables"), "contradict"),
    (("--variant", "current", "--replay", "v2:00000000:unique_claim:0x1", "--cross-check"),
     "give one of them"),
])
def test_bad_selections(argv: tuple[str, ...], message: str) -> None:
    code, _, err = cli("check", *argv, "--no-progress")
    assert code == 2 and message in err, err


# -- the dead-variable reduction never changes what is reachable --------------------------


CONFIGS = st.one_of(
    st.builds(lambda k, nr, w, goal, rm: current(k, nr, w, goal=goal,
                                                 change=("rmdir:A",) if rm else ()),
              st.integers(2, 3), st.integers(1, 2), st.integers(1, 2), st.integers(0, 2),
              st.booleans()),
    st.builds(lambda v, k, nr, w: flat(v, k, nr, w),
              st.sampled_from(["css-id", "seed-spinlock"]), st.integers(2, 3),
              st.integers(1, 2), st.integers(1, 2)),
)


LAP = ("unique_per_lap", "reference_safety", "termination", "no_deadlock")


def _canonical_outcomes(system: System, reduced: bool) -> tuple[frozenset[Any], bool]:
    """Final shared states, with generations renamed to their ranks, reached by a search
    that stores canonical states (``reduced``: thread symmetry and generation renaming) or
    concrete ones; every operation an interleaving point."""
    system.set_visible(None)
    init = system.initial()
    key = system.canonical if reduced else (lambda s: s)
    seen = {key(init)}
    queue: deque[State] = deque([init])
    finals: set[Any] = set()
    violated = False
    while queue:
        state = queue.popleft()
        enabled = system.enabled(state)
        if not enabled:
            finals.add(system.canonical(state)[0])  # type: ignore[index]
            continue
        for tid in enabled:
            new, _, v = system.block(state, tid)
            if v is not None:
                violated = True
                continue
            k = key(new)
            if k not in seen:
                seen.add(k)
                queue.append(new)
    return frozenset(finals), violated


@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(k=st.integers(2, 3), nr=st.integers(1, 2), walks=st.integers(1, 3),
       goal=st.integers(0, 2), rm=st.booleans())
def test_generation_renaming_keeps_outcomes_and_verdicts(k: int, nr: int, walks: int,
                                                          goal: int, rm: bool) -> None:
    """Merging states up to a renaming of generations (part of symmetry) reaches the same
    final states and verdicts as the search without it."""
    raw = current(k, nr, walks, props=LAP, goal=goal, change=("rmdir:A",) if rm else ())
    model = build(CheckFile.model_validate(raw), "t").model
    system = System(model)
    assert system._gen_slots
    assert _canonical_outcomes(system, True) == _canonical_outcomes(System(model), False)
    on, _ = check(raw, shrink=False)
    off, _ = check(raw, symmetry=False, shrink=False)
    assert on.proved == off.proved and on.states <= off.states
    assert {f.prop for f in on.findings} == {f.prop for f in off.findings}


def test_generation_renaming_refuses_a_model_that_computes_with_generations() -> None:
    raw = current(3, 2, 2, props=("unique_per_lap",))
    raw["variant"] = f"{VARIANTS / 'current_gen_arith.py'}:CurrentGenArith"
    with pytest.raises(ModelError, match="renaming them consistently led to another"):
        check(raw, shrink=False)
    result, _ = check(raw, symmetry=False, shrink=False)
    assert result.proved


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(raw=CONFIGS)
def test_dead_variables_keep_outcomes_and_verdicts(raw: dict[str, Any]) -> None:
    """Final states reached and verdicts are the same with and without the reduction, for
    every variant; the reduced search stores no more local states."""
    model = build(CheckFile.model_validate(raw), "t").model
    on, off = System(model, dead_variables=True), System(model, dead_variables=False)
    assert _canonical_outcomes(on, False) == _canonical_outcomes(off, False)
    assert sum(p.local_states for p in on.programs) <= sum(
        p.local_states for p in off.programs)
    results = [check(raw, dead_variables=dead, shrink=False)[0] for dead in (True, False)]
    assert results[0].proved == results[1].proved
    assert {f.prop for f in results[0].findings} == {f.prop for f in results[1].findings}
