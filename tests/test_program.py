"""Thread programs: fingerprints, the lazily compiled transition table, the model rules."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from memcglab.errors import ModelError, NondeterminismError
from memcglab.runtime.ops import Op, load, store
from memcglab.runtime.program import Program


def counter(n: int) -> Generator[Op, Any, None]:
    # A while loop with a local index: a for loop's iterator would sit on the stack, where
    # no fingerprint sees it (the explorer refuses that, test_soundness.py).
    i = 0
    while i < n:
        x = yield load(0, "x")
        yield store(0, x + 1, "x++")
        i += 1


def test_same_local_state_gets_the_same_id() -> None:
    p = Program("c", lambda: counter(3))
    s1 = p.step(p.initial, 5)  # after load returned 5: pending store 6
    s2 = p.step(p.initial, 5)
    assert s1 == s2
    assert p.pending[s1] == store(0, 6, "x++")
    s3 = p.step(p.initial, 7)
    assert s3 != s1 and p.pending[s3] == store(0, 8, "x++")


def test_states_are_rebuilt_by_replay_when_no_live_generator_is_left() -> None:
    p = Program("c", lambda: counter(2))
    a = p.step(p.initial, 1)
    b = p.step(a, None)  # consumes the spare generator of `a`
    c = p.step(b, 10)
    # Stepping `a` again with another result needs a generator in `a`: rebuilt by replay.
    assert p.step(a, None) == b
    assert p.pending[c] == store(0, 11, "x++")
    done = p.step(c, None)
    assert p.pending[done] is None


def mutable_local() -> Generator[Op, Any, None]:
    seen: list[int] = []
    x = yield load(0, "x")
    seen.append(x)
    yield load(0, "x")


def test_mutable_locals_are_refused() -> None:
    with pytest.raises(ModelError, match="local 'seen'"):
        Program("bad", mutable_local)


_calls = {"n": 0}


def nondeterministic() -> Generator[Op, Any, None]:
    _calls["n"] += 1
    yield load(0, "x")
    yield load(_calls["n"], "y")


def test_hidden_state_is_caught_as_nondeterminism() -> None:
    p = Program("nd", nondeterministic)
    a = p.step(p.initial, 0)
    p.step(a, 0)
    with pytest.raises(NondeterminismError, match="deterministic"):
        # a fresh generator (replay) reaches a different op from the same local state
        p.step(p.initial, 1)
        p.step(p.step(p.initial, 1), 0)
        p._materialize(a)
