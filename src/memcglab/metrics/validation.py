"""How close the model is to the live kernel, against fixed goals (docs/io-cost.md,
"Validation"): ``memcglab compare --kernel`` prints them, the fixture test and
``benchmarks/bench_kernel_vs_model.py`` hold the validation scenarios to them.

Both sides are metrics dicts (``memcglab run`` / ``kernel run`` schema), each already the
mean over its runs (the kernel's repetitions, the model's seeds):

* ``share_mae``: the mean absolute error of the per-group reclaim shares, over the groups
  the kernel measured (its ``fairness.groups_measured``), goal <= 0.03;
* ``jain_delta``: |Δ| of Jain's index of reclaim, goal <= 0.03;
* ``successor_delta``: |Δ| of the visit successor rate, goal <= 0.1;
* ``amplification_error``: |Δ| / kernel of the page-in amplification, goal <= 10%.

A goal whose value one side lacks (no reclaim, no visit pairs, no file workload) is None
and counts as met: there is nothing to disagree on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GOALS = {"share_mae": 0.03, "jain_delta": 0.03, "successor_delta": 0.1,
         "amplification_error": 0.10}


@dataclass(frozen=True, slots=True)
class Goal:
    name: str
    value: float | None
    limit: float

    @property
    def met(self) -> bool:
        return self.value is None or self.value <= self.limit

    def to_json(self) -> dict[str, Any]:
        return {"value": None if self.value is None else round(self.value, 4),
                "limit": self.limit, "met": self.met}


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else None


def goals(model: dict[str, Any], kernel: dict[str, Any]) -> list[Goal]:
    """The four goals of ``model`` against ``kernel``."""
    measured = kernel.get("fairness", {}).get("groups_measured") or []
    ks = {g["name"]: _num(g.get("reclaim_share")) for g in kernel.get("groups", [])}
    ms = {g["name"]: _num(g.get("reclaim_share")) for g in model.get("groups", [])}
    errs = [abs((ks.get(n) or 0.0) - (ms.get(n) or 0.0)) for n in measured
            if ks.get(n) is not None or ms.get(n) is not None]
    mae = sum(errs) / len(errs) if errs else None

    def delta(block: str, key: str) -> float | None:
        a = _num((kernel.get(block) or {}).get(key))
        b = _num((model.get(block) or {}).get(key))
        return None if a is None or b is None else abs(a - b)

    ka = _num((kernel.get("page_in") or {}).get("amplification"))
    ma = _num((model.get("page_in") or {}).get("amplification"))
    amp = None if ka is None or ma is None or not ka else abs(ma - ka) / ka
    values = {"share_mae": mae, "jain_delta": delta("fairness", "jain_index_reclaim"),
              "successor_delta": delta("visit_order", "successor_rate"),
              "amplification_error": amp}
    return [Goal(name, values[name], limit) for name, limit in GOALS.items()]
