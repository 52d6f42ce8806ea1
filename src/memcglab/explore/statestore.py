"""How the exhaustive search remembers the states it has seen.

Two ways, both exact about what they claim:

* ``exact`` (the default): the canonical state itself is the key. Python's dict compares
  keys with ``==`` whenever their hashes meet, so two distinct states are never merged, and
  a PROVED verdict depends on no probability at all. A collision of ``hash()`` (``hash(-1)
  == hash(-2)``, say) costs a comparison, never a state.
* ``hash-compact``: the key is a 128-bit keyed BLAKE2b digest of a canonical byte encoding
  of the state (frozensets sorted, bools and enums told apart from ints, floats by their
  exact hex form). It stores 16 bytes per state instead of the state, like Spin's ``-DHC``
  with a stronger hash; two distinct states collide with probability at most n^2 / 2^129
  over n states, which the report prints.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable
from enum import Enum
from typing import Any

EXACT = "exact"
HASH_COMPACT = "hash-compact"
STORES = (EXACT, HASH_COMPACT)
DIGEST_BITS = 128
_KEY = b"memcglab-states-v1"


def encode(value: Any) -> bytes:
    """A canonical byte encoding: equal values give equal bytes and different values (True
    and 1, 1.0 and 1, an enum member and its value included) different bytes. repr() is
    canonical for everything the state holds except sets, whose order is not: they are
    sorted."""
    return repr(_norm(value)).encode()


_FLAT: dict[type, bool] = {}


def _flat(t: type) -> bool:
    """Types whose repr() is already canonical and tells them apart from one another
    (``True`` from ``1``, ``1.0`` from ``1``, an enum member from its value)."""
    flat = _FLAT.get(t)
    if flat is None:
        flat = _FLAT[t] = t in (int, str, bool, float, type(None)) or issubclass(t, Enum)
    return flat


# Frozensets in the monitor slots are shared by many states: their sorted form is kept by
# identity (the memo holds the object, so its id cannot be reused while it is in there).
_memo: dict[int, tuple[frozenset[Any], tuple[Any, ...]]] = {}


def _norm(x: Any) -> Any:
    t = type(x)
    if t is tuple:
        if all(map(_flat, set(map(type, x)))):  # the common case, at C speed
            return x
        return tuple([v if _flat(type(v)) else _norm(v) for v in x])
    if t is frozenset:
        hit = _memo.get(id(x))
        if hit is not None and hit[0] is x:
            return hit[1]
        norm = ("<set>", *sorted([_norm(v) for v in x], key=repr))
        if len(_memo) > 1 << 16:
            _memo.clear()
        _memo[id(x)] = (x, norm)
        return norm
    if _flat(t):
        return x
    if t is set:
        return ("<set>", *sorted([_norm(v) for v in x], key=repr))
    return ("<" + t.__qualname__ + ">", repr(x))


def digest(value: Any) -> bytes:
    return hashlib.blake2b(encode(value), digest_size=DIGEST_BITS // 8, key=_KEY).digest()


def key_function(store: str) -> Callable[[Hashable], Hashable]:
    if store == EXACT:
        return lambda v: v
    if store == HASH_COMPACT:
        return digest
    raise ValueError(f"unknown state store {store!r}; valid: {', '.join(STORES)}")


def collision_bound(states: int) -> float:
    """Probability that hash compaction merged two distinct states among ``states``: at most
    the birthday bound n(n-1)/2 / 2^128."""
    return states * (states - 1) / 2 / 2.0 ** DIGEST_BITS
