"""A sweep's cells as work: the id that names a cell's result, the function a worker runs
(in the local pool, on Ray, or in this process), and a result flattened into one row.

A cell's result depends only on its plan (the simulator is deterministic: no clock, no
global state; tests/test_layering.py), so the id hashes the built plan and the code that
computes it (:func:`plan_key`), and the labels its row carries (:func:`cell_id`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
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


# The code a row's numbers come from: the model, the kernel mirror, the simulator, the
# metrics, the scenario builder and the live-kernel runner, and this module. The command
# line, the reports and the explorer are not in it: editing them recomputes nothing.
RESULT_CODE = ("model", "runtime", "kernel", "sim", "metrics", "scenario", "live",
               "grid/cells.py")


@functools.cache
def code_fingerprint() -> str:
    """sha256 of the sources that compute a row (names and bytes)."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    files = sorted(p for part in RESULT_CODE
                   for p in ((root / part).rglob("*.py") if (root / part).is_dir()
                             else [root / part]))
    for p in files:
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        h.update(p.read_bytes() + b"\0")
    return h.hexdigest()


def plan_key(cell: Cell) -> str:
    """What the cell computes: the built plan (units normalised, so ``"1s"`` and
    ``1000000000`` are one plan; the scenario's name, description and spelling left out),
    a variant file by its bytes (not its path), model or kernel (a kernel cell: on which
    machine and kernel), and the code. Two cells of one sweep with one key are refused."""
    key = dataclasses.asdict(cell.plan)
    for k in ("name", "description", "digest"):
        key.pop(k)
    path = plugin_path(cell.plan.variant_spec)
    if path is not None:
        key["variant_spec"] = (hashlib.sha256(path.read_bytes()).hexdigest() + ":"
                               + cell.plan.variant_spec.rsplit(":", 1)[1])
    key["source"] = cell.source
    if cell.source == "kernel":
        key["machine"] = [socket.gethostname(), os.uname().release]
    key["schema"] = SCHEMA_VERSION
    key["code"] = code_fingerprint()
    text = json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def cell_id(cell: Cell) -> str:
    """32 hex digits naming this cell's row: its plan key and the labels the row carries
    (the base's name, the variant and kernel as the sweep names them, each axis's name
    and value as written). A row is never reused under other labels: renaming an axis or
    respelling a value computes the cell again; adding values or seeds does not."""
    labels = [cell.scenario, cell.variant, cell.kernel,
              [[name, repr(value)] for name, value in cell.axes]]
    text = json.dumps([plan_key(cell), labels], separators=(",", ":"))
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


KERNEL_LOCK = Path("/var/tmp/memcglab/.sweep-kernel.lock")


def _run_kernel(plan: Plan) -> dict[str, Any]:
    import fcntl

    from memcglab.cli.kernel_cmd import live_budget, probe_near
    from memcglab.cli.live_args import DEFAULT_WORKDIR
    from memcglab.live.runner import Options
    from memcglab.live.session import measure_kernel

    KERNEL_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(KERNEL_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        measured = measure_kernel(plan, Options(workdir=DEFAULT_WORKDIR, zram_bytes=None,
                                                bpf="auto", record=True),
                                  1, probe_near(DEFAULT_WORKDIR), live_budget(None),
                                  lambda _: None)
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


def variant_label(cell: Cell) -> str:
    """The row's ``variant``: as the sweep names it, else the base's own; the live kernel's
    cells are ``live-kernel``."""
    if cell.source == "kernel":
        return LIVE_VARIANT
    return cell.variant or cell.plan.variant_spec or cell.plan.variant


def identity(cell: Cell, cid: str, sweep: Sweep, out: Outcome) -> dict[str, Any]:
    """The columns that say which cell a row is: its id, the sweep, model or kernel, base
    scenario, variant, kernel, cgroup interface, seed, and each axis twice: the value as the
    sweep wrote it (text) and as a number (``AXIS:value``: bytes, ns, or the number) for
    plots; then where and how long it ran."""
    plan = cell.plan
    live = cell.source == "kernel"
    kernel = str(out.metrics.get("scenario", {}).get("kernel", "")) if live else plan.kernel
    row: dict[str, Any] = {
        "cell_id": cid, "source": cell.source, "scenario": cell.scenario,
        "variant": variant_label(cell), "kernel": kernel, "cgroup": plan.cgroup,
        "seed": cell.seed}
    for name, value in cell.axes:
        row[name] = value if isinstance(value, str) else json.dumps(value)
        row[f"{name}:value"] = numeric(sweep.kind(name), value)
    row["wall_s"] = out.wall_s
    row["host"] = out.host
    row["code"] = code_fingerprint()[:12]  # metrics.json's own "memcglab" is the version
    return row
