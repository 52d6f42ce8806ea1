"""Means over seeds with Student-t confidence intervals, per sweep point (a combination of
axis values, variant and kernel)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

CONFIDENCE = 0.95


def interval(values: Sequence[float]) -> tuple[int, float, float, float]:
    """(n, mean, low, high): the two-sided 95% Student-t interval of the mean; with one
    value the interval is the value itself (nothing to say about the spread)."""
    from scipy import stats  # type: ignore[import-untyped]

    xs = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    n = len(xs)
    if n == 0:
        return 0, math.nan, math.nan, math.nan
    mean = sum(xs) / n
    if n == 1:
        return 1, mean, mean, mean
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = float(stats.t.ppf((1 + CONFIDENCE) / 2, n - 1)) * sd / math.sqrt(n)
    return n, mean, mean - half, mean + half


def ci_table(frame: Any, by: Sequence[str], metrics: Sequence[str]) -> Any:
    """One row per (point, metric): the ``by`` columns, ``metric``, ``n``, ``mean``,
    ``ci_low``, ``ci_high``; points in the order they first appear in ``frame``."""
    import pandas as pd  # type: ignore[import-untyped]

    rows: list[dict[str, Any]] = []
    present = [m for m in metrics if m in frame.columns]
    for keys, g in frame.groupby(list(by), sort=False, dropna=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        for m in present:
            n, mean, lo, hi = interval(pd.to_numeric(g[m], errors="coerce").tolist())
            rows.append({**dict(zip(by, keys, strict=True)), "metric": m, "n": n,
                         "mean": mean, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows, columns=[*by, "metric", "n", "mean", "ci_low", "ci_high"])
