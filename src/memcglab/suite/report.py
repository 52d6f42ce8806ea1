"""The race suite's table: text for the terminal, Markdown for docs/, JSON."""

from __future__ import annotations

import json
from typing import Any

from memcglab.suite.catalog import Entry
from memcglab.suite.runner import Bounds, Outcome


def cell(o: Outcome) -> str:
    unit = "states" if o.strategy == "exhaustive" else "runs"
    if o.found:
        where = (f"at {o.effort:,} states" if o.strategy == "exhaustive"
                 else f"in run {o.effort:,}")
        return f"found {where}, {o.seconds:.2f} s"
    if o.proved:
        also = f" (still broken another way: {'; '.join(o.others)})" if o.others else ""
        return f"proved, {o.effort:,} states, {o.seconds:.2f} s{also}"
    return f"not found in {o.effort:,} {unit}, {o.seconds:.2f} s"


def _rows(entries: tuple[Entry, ...], outcomes: list[Outcome], strategies: tuple[str, ...]
          ) -> list[tuple[Entry, str, str, list[Outcome]]]:
    by = {(o.entry, o.side, o.strategy): o for o in outcomes}
    rows = []
    for e in entries:
        for side, variant in (("before", e.before), ("after", e.after)):
            got = [by[(e.id, side, s)] for s in strategies if (e.id, side, s) in by]
            if got:
                rows.append((e, side, variant, got))
    return rows


def text_table(entries: tuple[Entry, ...], outcomes: list[Outcome],
               strategies: tuple[str, ...], bounds: Bounds) -> str:
    head = ["bug", "side", "variant", *strategies]
    body = []
    for e, side, variant, got in _rows(entries, outcomes, strategies):
        mark = "" if all(o.expected or (o.side == "before" and o.strategy != "exhaustive")
                         for o in got) else "  <-- unexpected"
        body.append([e.id if side == "before" else "", side, variant,
                     *[cell(o) for o in got]])
        body[-1][-1] += mark
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(head, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
              for r in body]
    lines.append("")
    lines.append(bounds_line(bounds))
    return "\n".join(lines) + "\n"


def bounds_line(bounds: Bounds) -> str:
    return (f"bounds: exhaustive up to {bounds.max_states:,} states; random and PCT "
            f"(depth {bounds.pct_depth}) up to {bounds.runs:,} runs, seed {bounds.seed}; "
            f"{bounds.time_budget_s:g} s per search; each search stops at its first "
            "violation of the entry's invariant")


def markdown_table(entries: tuple[Entry, ...], outcomes: list[Outcome],
                   strategies: tuple[str, ...], bounds: Bounds) -> str:
    lines = ["| bug | lived in | fixed by | invariant | side | variant | "
             + " | ".join(strategies) + " |",
             "|" + "---|" * (6 + len(strategies))]
    for e, side, variant, got in _rows(entries, outcomes, strategies):
        first = side == "before"
        lines.append("| " + " | ".join([
            f"**{e.id}**: {e.title}" if first else "", e.kernels if first else "",
            e.fix if first else "", f"`{e.prop}`" + (f" ({e.race})" if e.race else "")
            if first else "", side, f"`{variant}`", *[cell(o) for o in got]]) + " |")
    lines.append("")
    lines.append(bounds_line(bounds) + ".")
    return "\n".join(lines) + "\n"


def json_report(entries: tuple[Entry, ...], outcomes: list[Outcome], bounds: Bounds) -> str:
    doc: dict[str, Any] = {
        "bounds": {"max_states": bounds.max_states, "runs": bounds.runs,
                   "pct_depth": bounds.pct_depth, "seed": bounds.seed,
                   "time_budget_s": bounds.time_budget_s},
        "entries": [{"id": e.id, "title": e.title, "kernels": e.kernels, "fix": e.fix,
                     "property": e.prop, "race": e.race or None, "before": e.before,
                     "after": e.after} for e in entries],
        "outcomes": [{"entry": o.entry, "side": o.side, "variant": o.variant,
                      "strategy": o.strategy, "found": o.found, "named": o.named or None,
                      "effort": o.effort, "effort_unit": "states" if o.strategy ==
                      "exhaustive" else "runs", "proved": o.proved,
                      "seconds": round(o.seconds, 3), "expected": o.expected,
                      "exit_reason": o.exit_reason, "other_violations": list(o.others)}
                     for o in outcomes],
    }
    return json.dumps(doc, indent=2) + "\n"
