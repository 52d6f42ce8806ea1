"""PNG plots of simulations. The only module that imports matplotlib (lazily)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from memcglab.sim.engine import SimRun
from memcglab.sim.machine import RECLAIMED


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 100, "font.size": 9, "svg.hashsalt": "memcglab",
                         "path.simplify": True})
    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    # No timestamp or software tag: the same data gives the same bytes.
    fig.savefig(buf, format="png", metadata={"Software": None}, bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def plotted_groups(run: SimRun, limit: int = 12) -> list[int]:
    """Groups worth a line: workload groups first, then the busiest others."""
    plan = run.plan
    wl = sorted({w.group for w in plan.workloads})
    return wl[:limit]


def usage_and_reclaim(run: SimRun) -> bytes:
    t = [s.t_ns / 1e6 for s in run.samples]
    topo = run.plan.topology
    groups = plotted_groups(run)
    return usage_and_reclaim_series(
        t, {topo.name(g): [s.usage[g] for s in run.samples] for g in groups},
        {topo.name(g): [s.cumulative[g][RECLAIMED] for s in run.samples] for g in groups},
        "simulated time (ms)")


def usage_and_reclaim_series(t_ms: Sequence[float], usage: Mapping[str, Sequence[int]],
                             reclaimed: Mapping[str, Sequence[int]], xlabel: str) -> bytes:
    """Usage and cumulative reclaim per group over time (values in 4K pages)."""
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for name, ys in usage.items():
        ax1.plot(t_ms, [y * 4 / 1024 for y in ys], label=name)
    for name, ys in reclaimed.items():
        ax2.plot(t_ms, [y * 4 / 1024 for y in ys], label=name)
    ax1.set_ylabel("usage (MiB)")
    ax1.set_title("usage per group")
    ax2.set_ylabel("reclaimed (MiB, cumulative)")
    ax2.set_xlabel(xlabel)
    ax2.set_title("reclaim per group")
    ax1.legend(loc="upper left", fontsize=7, ncol=2)
    return _png(fig)


def shares(labels: Sequence[str], series: dict[str, Sequence[float]],
           fair: Sequence[float], errors: dict[str, Sequence[float]] | None = None) -> bytes:
    """Bars of reclaim share per group (one bar per series) against the fair share;
    ``errors`` gives a series error bars (the kernel's spread over repetitions)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.6))
    n = max(1, len(series))
    width = 0.8 / (n + 1)
    xs = range(len(labels))
    ax.bar([x - 0.4 + width / 2 for x in xs], fair, width, label="usage share (fair)",
           color="#bbbbbb")
    for i, (name, vals) in enumerate(series.items(), start=1):
        ax.bar([x - 0.4 + width / 2 + i * width for x in xs], vals, width,
               label=f"reclaim share: {name}",
               yerr=(errors or {}).get(name), capsize=3 if errors and name in errors else 0)
    ax.set_xticks(list(xs), list(labels), rotation=30 if len(labels) > 8 else 0)
    ax.set_ylabel("share")
    ax.set_title("reclaim share against usage share")
    ax.legend(fontsize=7)
    return _png(fig)


Line = tuple[Sequence[float], Sequence[float], Sequence[float], Sequence[float]]


def sweep_metric(metric: str, x_label: str, facets: Mapping[str, Mapping[str, Line]],
                 x_ticks: Sequence[str] | None = None, connect: bool = True) -> bytes:
    """One sweep metric against one axis: a panel per facet (variant), a line per other
    point (the other axes' values), each mean with its confidence interval as error bars.
    ``facets[variant][line] = (x, mean, ci_low, ci_high)``; ``x_ticks`` names categorical
    x positions 0, 1, ... (``connect``: lines between the points, for a numeric x)."""
    plt = _plt()
    n = max(1, len(facets))
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False,
                             sharey=True)
    for ax, (facet, lines) in zip(axes.flat, facets.items(), strict=False):
        for label, (xs, mean, lo, hi) in lines.items():
            err = [[max(0.0, m - a) for m, a in zip(mean, lo, strict=True)],
                   [max(0.0, b - m) for m, b in zip(mean, hi, strict=True)]]
            ax.errorbar(xs, mean, yerr=err, marker="o", ms=3, capsize=3, label=label or None,
                        linestyle="-" if connect else "none")
        ax.set_title(facet, fontsize=9)
        ax.set_xlabel(x_label)
        if x_ticks is not None:
            ax.set_xticks(range(len(x_ticks)), list(x_ticks), rotation=30, ha="right")
        if any(label for label in lines):
            ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    axes[0][0].set_ylabel(metric)
    fig.suptitle(f"{metric} (mean and 95% CI over seeds)", fontsize=10)
    fig.tight_layout()
    return _png(fig)
