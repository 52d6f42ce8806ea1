"""Fairness measures, as used on linux-mm (kernel_iterators.md section 5).

* Jain's index ``(sum x)^2 / (n * sum x^2)``: 1 when all equal, 1/n when one takes all;
* ``stddev / mean`` of per-group reclaim (Yu Zhao's MGLRU memcg-LRU cover letter, 2022, and
  Chen Ridong's 2025 comparison use stddev(pgsteal)/mean(pgsteal));
* ``reclaimed / requested`` (overreclaim: sum(pgsteal) / sum(requested)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def jain(xs: Sequence[float]) -> float | None:
    if not xs:
        return None
    s = sum(xs)
    sq = sum(x * x for x in xs)
    return None if sq == 0 else (s * s) / (len(xs) * sq)


def cv(xs: Sequence[float]) -> float | None:
    """Population stddev / mean."""
    if not xs:
        return None
    mean = sum(xs) / len(xs)
    if mean == 0:
        return None
    var = sum((x - mean) ** 2 for x in xs) / len(xs)
    return math.sqrt(var) / mean


def shares(xs: Sequence[float]) -> list[float]:
    total = sum(xs)
    return [x / total if total else 0.0 for x in xs]


def ratio(a: float, b: float) -> float | None:
    return None if b == 0 else a / b
