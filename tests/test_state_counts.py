"""Pinned state-space sizes of tiny canonical models (convention C13).

A changed count is a reviewed event: it means a new interleaving point, lost determinism or
a reduction bug. Counts are distinct states stored by the exhaustive search (violating
states are not expanded), with and without symmetry and partial-order reduction.

The smallest case, seed-spinlock with root + A, 2 reclaimers, 1 walk each, has only these
interleavings at the lock (POR on): each reclaimer takes ``iter_lock`` 3 times (root, A, end
of round); the lock hand-offs are the only choices, so with symmetry 21 states remain.
"""

from __future__ import annotations

import pytest

from tests.conftest import check, flat

SEED = [
    # (groups, reclaimers, walks, symmetry, por) -> (states, transitions)
    ((2, 2, 1, True, True), (21, 30)),
    ((2, 2, 1, True, False), (309, 473)),
    ((2, 2, 1, False, True), (38, 56)),
    ((2, 2, 1, False, False), (614, 942)),
    ((4, 2, 1, True, True), (46, 69)),
    ((4, 2, 1, False, False), (2112, 3408)),
    ((4, 2, 2, True, True), (315, 526)),
    ((4, 2, 2, False, True), (622, 1044)),
]

CSS_ID = [
    ((2, 2, 1, True, True), (347, 569)),
    ((2, 2, 1, False, False), (2886, 5228)),
    ((4, 2, 1, True, True), (953, 1610)),
    ((4, 2, 1, False, True), (1896, 3212)),
]


@pytest.mark.parametrize(("params", "expected"), SEED)
def test_seed_spinlock_counts(params: tuple[int, int, int, bool, bool],
                              expected: tuple[int, int]) -> None:
    k, nr, walks, sym, por = params
    result, _ = check(flat("seed-spinlock", k, nr, walks), symmetry=sym, por=por)
    assert result.proved
    assert (result.states, result.transitions) == expected


@pytest.mark.parametrize(("params", "expected"), CSS_ID)
def test_css_id_counts(params: tuple[int, int, int, bool, bool],
                       expected: tuple[int, int]) -> None:
    k, nr, walks, sym, por = params
    result, _ = check(flat("css-id", k, nr, walks), symmetry=sym, por=por, shrink=False)
    assert (result.states, result.transitions) == expected


def test_symmetry_roughly_halves_two_identical_reclaimers() -> None:
    with_sym, _ = check(flat("seed-spinlock", 4, 2, 2), symmetry=True)
    without, _ = check(flat("seed-spinlock", 4, 2, 2), symmetry=False)
    # Every state but the symmetric ones has exactly one mirror image.
    assert with_sym.states < without.states <= 2 * with_sym.states


def test_por_keeps_only_the_lock_as_interleaving_point_for_the_seed() -> None:
    result, _ = check(flat("seed-spinlock", 4, 2, 1))
    assert result.interleaving_points == ["iter[root,node0/zone0,prio 12].iter_lock"]
    assert result.data_races == []


def test_por_finds_the_data_races_of_the_unlocked_iterator() -> None:
    result, _ = check(flat("css-id", 4, 2, 1), shrink=False)
    assert result.data_races == ["iter[root,node0/zone0,prio 12].position",
                                 "iter[root,node0/zone0,prio 12].generation"]
