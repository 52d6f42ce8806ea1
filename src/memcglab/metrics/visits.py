"""Reclaim visits, and how to compare the model's with the kernel's.

A *visit* is one memcg handed to ``shrink_lruvec`` by one reclaimer. The simulator logs every
visit it makes (``simulate(plan, record_visits=True)``); ``memcglab kernel run`` rebuilds
visits from ``shrink_inactive_list`` records (:func:`memcglab.live.measure.merge_visits`).
The two sources do not see the same things, so everything here is defined on what both can
see (/work/shared/docs/kernel-observability.md §8 "Limits of this observation", §9
"Comparing with the mem_cgroup_iter model"):

* the kernel leaves no record for a visit that isolates no page, so the model's visits are
  *projected* the same way before comparing (only those that scanned a page);
* the kernel's generation is sampled when a record is written, not when the walk handed the
  memcg out, so grouping visits into walks across reclaimers is approximate; what is exact
  is each reclaimer's own sequence of visits, which is what :func:`order_stats` measures;
* a walk in which no memcg isolated anything leaves no record at all, but it still bumps
  the iterator's generation: :func:`walks_from_generations` counts those too.

:func:`divergence` folds the comparable metrics of the two sides into one score.
Everything here is pure: no I/O, and nothing from ``memcglab.live`` or ``memcglab.cli``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only for the annotation: memcglab.sim.engine imports this module
    from memcglab.sim.engine import SimRun

ND = 4  # digits kept in the metric dicts, as in metrics.summary


@dataclass(frozen=True, slots=True)
class Visit:
    """One memcg handed to ``shrink_lruvec`` by one reclaimer.

    ``t_ns`` is on the source's clock: simulated time for the model (the start of the
    task's turn on its CPU plus the time it had used then, so within a few operations of
    the claim), CLOCK_MONOTONIC of the first record for the kernel. ``reclaimer`` is the
    simulated task id or the kernel pid; ``root`` the reclaim root's group name (None for
    global reclaim). ``scanned`` / ``reclaimed`` are pages isolated from and freed off the
    inactive lists during the visit (what ``shrink_inactive_list`` reports).
    ``generation`` is the root iterator's generation (None when not known: tracefs, or a
    variant without generations) and ``iterator`` says which of the root's iterators it
    counts on: the kernel has one per root and NUMA node (the node id goes here), the v3.7
    model one per root, zone and priority (its iterator index goes here).
    """

    t_ns: int
    reclaimer: int
    group: str
    root: str | None
    priority: int
    scanned: int
    reclaimed: int
    generation: int | None
    iterator: int = 0


@dataclass(frozen=True, slots=True)
class OrderStats:
    """See :func:`order_stats`."""

    successor_rate: float | None
    repeat_rate: float | None
    bigrams: dict[tuple[str, str], float]
    pairs: int

    def to_json(self) -> dict[str, Any]:
        """The ``visit_order`` block of a metrics dict; ``bigrams`` nested as
        ``{prev: {next: share}}`` (JSON keys must be strings)."""
        nested: dict[str, dict[str, float]] = {}
        for (a, b), p in sorted(self.bigrams.items()):
            nested.setdefault(a, {})[b] = round(p, ND)
        return {"successor_rate": _r(self.successor_rate), "repeat_rate": _r(self.repeat_rate),
                "pairs": self.pairs, "bigrams": nested}


def _r(x: float | None, nd: int = ND) -> float | None:
    return None if x is None else round(x, nd)


def walk_orders(groups: Sequence[tuple[str, str | None]]) -> dict[str | None, list[str]]:
    """Pre-order walks (``css_next_descendant_pre``) from ``(name, parent)`` pairs given in
    creation order: for every group the walk of its subtree (itself first), and under
    ``None`` (global reclaim) the walk of the whole hierarchy. Children are walked in the
    order they appear, which is the kernel's order when that is their creation order."""
    children: dict[str | None, list[str]] = {}
    names = {n for n, _ in groups}
    for name, parent in groups:
        # a parent outside the list (the run's own parent cgroup) makes a top-level group
        children.setdefault(parent if parent in names else None, []).append(name)

    def walk(g: str) -> list[str]:
        out = [g]
        for c in children.get(g, ()):
            out += walk(c)
        return out

    orders: dict[str | None, list[str]] = {name: walk(name) for name, _ in groups}
    orders[None] = [g for top in children.get(None, ()) for g in orders[top]]
    return orders


def order_stats(visits: Sequence[Visit],
                walk_order: Mapping[str | None, Sequence[str]]) -> OrderStats:
    """How each reclaimer moves from one memcg to the next.

    Visits are taken in the order given, which must be each reclaimer's own order (time
    order). A *pair* is two consecutive visits of one reclaimer on the same reclaim root;
    a change of root (e.g. kswapd's soft-limit walk between two global walks) starts a new
    chain and makes no pair. Over all pairs ``(prev, next)``:

    * ``successor_rate``: the fraction where ``next`` is the walk-order successor of
      ``prev``. The walk order of a root is ``walk_order[root]`` (pre-order of its
      subtree) *restricted to the groups that appear in some visit on that root*, and is
      cyclic: the last group's successor is the first. The restriction is what the kernel
      allows: a memcg that never isolates pages never shows, so the kernel's visible walk
      skips it, and the model's projected walk must be compared on the same terms. A pair
      whose ``prev`` is not in the order has no successor (counts as not-successor).
      With a single visible group its successor is itself.
    * ``repeat_rate``: the fraction where ``next == prev`` (the same memcg twice in a row:
      a walk with one visible group, or limit reclaim that "picked one memcg and scanned it
      with decreasing priority").
    * ``bigrams``: the distribution of ``(prev, next)`` over pairs (sums to 1).
    * ``pairs``: the number of pairs; both rates are None when it is 0.

    Raises ValueError when a root of ``visits`` has no entry in ``walk_order``.
    """
    visible: dict[str | None, set[str]] = {}
    for v in visits:
        visible.setdefault(v.root, set()).add(v.group)
    successor: dict[str | None, dict[str, str]] = {}
    for root, seen in visible.items():
        if root not in walk_order:
            raise ValueError(f"order_stats: no walk order for reclaim root {root!r}")
        order = [g for g in walk_order[root] if g in seen]
        successor[root] = {g: order[(i + 1) % len(order)] for i, g in enumerate(order)}
    last: dict[int, Visit] = {}
    counts: Counter[tuple[str, str]] = Counter()
    succ = repeat = 0
    for v in visits:
        prev = last.get(v.reclaimer)
        last[v.reclaimer] = v
        if prev is None or prev.root != v.root:
            continue
        counts[(prev.group, v.group)] += 1
        repeat += prev.group == v.group
        succ += successor[v.root].get(prev.group) == v.group
    pairs = sum(counts.values())
    if not pairs:
        return OrderStats(None, None, {}, 0)
    return OrderStats(succ / pairs, repeat / pairs,
                      {k: n / pairs for k, n in sorted(counts.items())}, pairs)


def bigram_distance(p: Mapping[tuple[str, str], float],
                    q: Mapping[tuple[str, str], float]) -> float:
    """Total variation distance ``1/2 * sum_k |p(k) - q(k)|`` (0 = the same distribution,
    1 = disjoint supports) between two bigram distributions, a bigram missing from one side
    having probability 0 there. Raises ValueError on an empty distribution (no pairs: no
    distribution to compare)."""
    if not p or not q:
        raise ValueError("bigram_distance: an empty distribution")
    return min(1.0, 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in p.keys() | q.keys()))


def _generation(v: Visit) -> int | None:
    # the kernel recorder writes -1 when the reclaim has no root iterator
    return v.generation if v.generation is not None and v.generation >= 0 else None


def _streams(visits: Sequence[Visit]) -> dict[tuple[str | None, int], list[int]]:
    """Indices of the visits with a generation, per iterator ``(root, iterator)``, in time
    order (stable: equal times keep the given order)."""
    out: dict[tuple[str | None, int], list[int]] = {}
    for i in sorted(range(len(visits)), key=lambda i: visits[i].t_ns):
        if _generation(visits[i]) is not None:
            out.setdefault((visits[i].root, visits[i].iterator), []).append(i)
    return out


def walks_from_generations(visits: Sequence[Visit]) -> int:
    """Completed walks seen through the iterators' generations, invisible ones included.

    Per iterator (``(root, iterator)``), visits in time order: the sum of the generation
    increases between consecutive visits. The generation goes up by one each time a walk
    of that iterator completes, so this counts every walk completed between the first and
    the last visible visit, also those in which no memcg isolated a page (and so left no
    record). Not counted: walks completed before the first or after the last visible
    visit of an iterator. A decrease (a reset: the iterator's memcg was freed and
    recreated, or a wrap) adds nothing and the count goes on from the new value, so a
    reset can only make the count lower, never nonsense. This is why the sum of increases
    is used instead of ``max - min``. Visits without a generation (tracefs records, -1 for
    "no root") are ignored.
    """
    total = 0
    for idx in _streams(visits).values():
        gens = [_generation(visits[i]) for i in idx]
        total += sum(b - a for a, b in pairwise(gens)
                     if a is not None and b is not None and b > a)
    return total


def walk_starts(visits: Sequence[Visit]) -> list[bool] | None:
    """Per visit: is it the first visible visit of a walk, i.e. the first visit of its
    iterator, or one whose generation differs from that of the previous visible visit of
    the same iterator (in time order)? None when no visit has a generation (then walks
    cannot be told apart). Visits without a generation are never first."""
    streams = _streams(visits)
    if not streams:
        return None
    first = [False] * len(visits)
    for idx in streams.values():
        prev: int | None = None
        for i in idx:
            g = _generation(visits[i])
            first[i] = g != prev
            prev = g
    return first


# -- one score --------------------------------------------------------------------------------

COMPONENTS = ("reclaim_share_tv", "jain_delta", "successor_rate_delta", "bigram_tv",
              "page_in_rel_error")


def _reclaim_shares(m: Mapping[str, Any]) -> dict[str, float] | None:
    shares = {g["name"]: float(g["reclaim_share"]) for g in m.get("groups", ())
              if g.get("reclaim_share") is not None}
    return shares if sum(shares.values()) > 0 else None


def _bigrams(m: Mapping[str, Any]) -> dict[tuple[str, str], float] | None:
    nested = (m.get("visit_order") or {}).get("bigrams") or {}
    flat = {(a, b): float(p) for a, row in nested.items() for b, p in row.items()}
    return flat or None


def _get(m: Mapping[str, Any], block: str, key: str) -> float | None:
    v = (m.get(block) or {}).get(key)
    return None if v is None else float(v)


def divergence(model: Mapping[str, Any], kernel: Mapping[str, Any]) -> dict[str, Any]:
    """How far the model's run is from the kernel's: one score in [0, 1], 0 = no difference
    on anything both sides measured.

    Inputs are two metric dicts: the model's ``metrics.json`` (``summarize``) merged with
    ``model_visit_metrics``, and the kernel's (``kernel_metrics``). Components, each in
    [0, 1]:

    * ``reclaim_share_tv``: half the L1 distance between the per-group reclaim share
      vectors (``groups[].reclaim_share``, a group missing on one side counted as 0), i.e.
      their total variation distance;
    * ``jain_delta``: ``|Δ fairness.jain_index_reclaim|`` (Jain's index is in [1/n, 1]);
    * ``successor_rate_delta``: ``|Δ visit_order.successor_rate|``;
    * ``bigram_tv``: total variation distance between the ``visit_order.bigrams``
      distributions (:func:`bigram_distance`);
    * ``page_in_rel_error``: ``|a_model - a_kernel| / a_kernel`` for the page-in
      amplifications ``page_in.amplification``, capped at 1 (the kernel is the reference;
      when ``a_kernel`` is 0 the error is 0 if ``a_model`` is 0 too, else 1).

    A component that either side lacks (no reclaim, no visit pairs, no file workload,
    a None value) is left out and listed in ``missing``. ``score`` is the mean of the
    components present (None if none is). Returns ``{"score", "components", "missing"}``
    with values rounded to 4 digits.
    """
    comp: dict[str, float | None] = dict.fromkeys(COMPONENTS)
    sm, sk = _reclaim_shares(model), _reclaim_shares(kernel)
    if sm is not None and sk is not None:
        comp["reclaim_share_tv"] = min(1.0, 0.5 * sum(abs(sm.get(g, 0.0) - sk.get(g, 0.0))
                                                      for g in sm.keys() | sk.keys()))
    jm, jk = (_get(m, "fairness", "jain_index_reclaim") for m in (model, kernel))
    if jm is not None and jk is not None:
        comp["jain_delta"] = abs(jm - jk)
    rm, rk = (_get(m, "visit_order", "successor_rate") for m in (model, kernel))
    if rm is not None and rk is not None:
        comp["successor_rate_delta"] = abs(rm - rk)
    bm, bk = _bigrams(model), _bigrams(kernel)
    if bm is not None and bk is not None:
        comp["bigram_tv"] = bigram_distance(bm, bk)
    am, ak = (_get(m, "page_in", "amplification") for m in (model, kernel))
    if am is not None and ak is not None:
        comp["page_in_rel_error"] = (min(1.0, abs(am - ak) / ak) if ak
                                     else float(am != 0))
    present = [v for v in comp.values() if v is not None]
    return {"score": _r(sum(present) / len(present)) if present else None,
            "components": {k: _r(v) for k, v in comp.items()},
            "missing": [k for k, v in comp.items() if v is None]}


# -- the model's side -------------------------------------------------------------------------


def page_in(pages_read: int, file_pages: int) -> dict[str, Any]:
    """The ``page_in`` block: file pages read into the page cache, distinct file pages the
    workloads touched, and their ratio (1 = every page read once; above 1 = pages read
    again after reclaim took them, or, on the kernel, read ahead and never used)."""
    amp = pages_read / file_pages if file_pages else None
    return {"pages_read": pages_read, "file_pages": file_pages, "amplification": _r(amp)}


def visible(visits: Iterable[Visit]) -> list[Visit]:
    """The visits the kernel would have recorded: those that isolated at least one page
    from an inactive list (§8 limit 1: no ``shrink_inactive_list`` event otherwise)."""
    return [v for v in visits if v.scanned > 0]


def model_visit_metrics(run: SimRun) -> dict[str, Any]:
    """The model's ``visit_order`` and ``page_in`` blocks, with the kernel side's keys.

    ``visit_order`` is :func:`order_stats` over the *projected* visits: only those that
    scanned at least one page of an inactive list, as the kernel only records those
    (:func:`visible`); the walk orders are the pre-order of the scenario's hierarchy.
    ``page_in`` counts the file pages added to the page cache (every page of every non-anon
    folio committed to an LRU: read from the device, readahead included) over the distinct
    file pages the workloads read, as the kernel side counts ``read_bytes`` over the
    worker's distinct touches. Needs a run made with ``simulate(plan,
    record_visits=True)``.
    """
    log = run.machine.visit_log
    if run.visits is None or log is None:
        raise ValueError("model_visit_metrics: the run was simulated without "
                         "record_visits=True")
    topo = run.plan.topology
    orders = walk_orders([(topo.name(g), topo.name(p) if (p := topo.parent(g)) is not None
                           else None) for g in range(topo.size)])
    return {"visit_order": order_stats(visible(run.visits), orders).to_json(),
            "page_in": page_in(log.file_adds, sum(
                n for m, n in enumerate(run.machine.touched)
                if m not in run.machine.mapping_anon))}
