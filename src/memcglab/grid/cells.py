"""A sweep's cells as work: the id that names a cell's result, the function a worker runs
(in the local pool, on Ray, or in this process), and a result flattened into one row.

A cell's result depends only on its plan (the simulator is deterministic: no clock, no
global state; tests/test_layering.py), so the id is a hash of the built plan (units
normalised: ``"1s"`` and ``1000000000`` are one cell) and of memcglab's own source files
(a changed model is a new result). The scenario's name, description and spelling are not in
it. A ``path.py:Class`` variant is hashed by its file's bytes, not its path.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memcglab.kernel.registry import plugin_path
from memcglab.scenario.sweep_spec import Cell, Sweep, numeric
from memcglab.sim.plan import Plan

SCHEMA_VERSION = 1  # of the rows below: a new version recomputes every cell
LIVE_VARIANT = "live-kernel"


@functools.cache
def code_fingerprint() -> str:
    """sha256 of memcglab's Python sources (names and bytes): which model computed a row."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        h.update(p.read_bytes() + b"\0")
    return h.hexdigest()


def cell_id(cell: Cell) -> str:
    """32 hex digits naming this cell's result (module docstring)."""
    key = dataclasses.asdict(cell.plan)
    for k in ("name", "description", "digest"):
        key.pop(k)
    path = plugin_path(cell.plan.variant_spec)
    if path is not None:
        key["variant_spec"] = (hashlib.sha256(path.read_bytes()).hexdigest() + ":"
                               + cell.plan.variant_spec.rsplit(":", 1)[1])
    key["source"] = cell.source
    key["schema"] = SCHEMA_VERSION
    key["code"] = code_fingerprint()
    text = json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Job:
    """What a worker needs: the id, where it runs (model or kernel) and the plan."""

    cell_id: str
    source: str
    plan: Plan


@dataclass(frozen=True, slots=True)
class Outcome:
    cell_id: str
    metrics: dict[str, Any]
    wall_s: float
    host: str
    code: str  # the fingerprint of the memcglab that computed it (a Ray node's own)


def run_job(job: Job) -> Outcome:
    """Run one cell where this process is: the simulator, or the live kernel of this
    machine (one kernel cell at a time per machine: a lock file, since two would share
    its memory and CPUs and disturb each other's measurements)."""
    start = time.monotonic()
    if job.source == "kernel":
        metrics = _run_kernel(job.plan)
    else:
        from memcglab.metrics.summary import summarize
        from memcglab.sim.engine import simulate
        metrics = summarize(simulate(job.plan))
    return Outcome(job.cell_id, metrics, round(time.monotonic() - start, 4),
                   socket.gethostname(), code_fingerprint())


def run_batch(jobs: list[Job]) -> list[Outcome]:
    return [run_job(j) for j in jobs]


KERNEL_LOCK = Path("/var/tmp/memcglab/.sweep-kernel.lock")


def _run_kernel(plan: Plan) -> dict[str, Any]:
    import fcntl

    from memcglab.cli import resources
    from memcglab.cli.live_args import DEFAULT_WORKDIR
    from memcglab.live.probe import gather
    from memcglab.live.runner import Options
    from memcglab.live.session import MEMORY_SHARE, measure_kernel

    KERNEL_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(KERNEL_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        existing = next((p for p in (DEFAULT_WORKDIR, *DEFAULT_WORKDIR.parents)
                         if p.is_dir()), None)
        avail = resources.mem_available_bytes()
        budget = None if avail is None else int(avail * MEMORY_SHARE)
        measured = measure_kernel(plan, Options(workdir=DEFAULT_WORKDIR, zram_bytes=None,
                                                bpf="auto", record=True),
                                  1, gather(workdir=existing), budget, lambda _: None)
        return measured.metrics[0]


def flatten(metrics: dict[str, Any]) -> dict[str, Any]:
    """metrics.json as one row: nested tables joined with dots
    (``fairness.jain_index_reclaim_per_usage``), the per-group list by group name
    (``groups.a.reclaimed``), numbers as floats (a column is then one type in every cell),
    other lists as JSON text."""
    row: dict[str, Any] = {}

    def walk(prefix: str, v: Any) -> None:
        if isinstance(v, dict):
            for k, x in v.items():
                walk(f"{prefix}.{k}" if prefix else str(k), x)
        elif prefix == "groups" and isinstance(v, list) and all(
                isinstance(g, dict) and "name" in g for g in v):
            for g in v:
                walk(f"groups.{g['name']}", {k: x for k, x in g.items() if k != "name"})
        elif isinstance(v, list):
            row[prefix] = json.dumps(v, sort_keys=True)
        elif isinstance(v, bool) or v is None or isinstance(v, str):
            row[prefix] = v
        elif isinstance(v, int | float):
            row[prefix] = float(v)
        else:
            row[prefix] = str(v)

    walk("", metrics)
    return row


def identity(cell: Cell, cid: str, sweep: Sweep, out: Outcome) -> dict[str, Any]:
    """The columns that say which cell a row is: its id, the sweep, model or kernel, base
    scenario, variant, kernel, cgroup interface, seed, and each axis twice: the value as the
    sweep wrote it (text) and as a number (``AXIS:value``: bytes, ns, or the number) for
    plots; then where and how long it ran."""
    plan = cell.plan
    live = cell.source == "kernel"
    kernel = str(out.metrics.get("scenario", {}).get("kernel", "")) if live else plan.kernel
    row: dict[str, Any] = {
        "cell_id": cid, "sweep": sweep.name, "source": cell.source, "scenario": cell.scenario,
        "variant": LIVE_VARIANT if live else (cell.variant or plan.variant_spec or plan.variant),
        "kernel": kernel, "cgroup": plan.cgroup, "seed": cell.seed}
    kinds = {n: k for a in sweep.axes for n, k in zip(a.names, a.kinds, strict=True)}
    for name, value in cell.axes:
        row[name] = value if isinstance(value, str) else json.dumps(value)
        row[f"{name}:value"] = numeric(kinds[name], value)
    row["wall_s"] = out.wall_s
    row["host"] = out.host
    row["memcglab"] = code_fingerprint()[:12]
    return row
