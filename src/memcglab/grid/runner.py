"""Running a sweep into its store: the cells not finished yet, on the chosen executor, each
result written as it arrives; and the store's progress (``memcglab sweep --status``)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from memcglab.cli.resources import usable_cores
from memcglab.errors import ConfigError
from memcglab.grid.cells import (
    SCHEMA_VERSION,
    Job,
    Outcome,
    cell_id,
    code_fingerprint,
    flatten,
    identity,
    plan_key,
    variant_label,
)
from memcglab.grid.executors import run_pool, run_ray, run_serial, sigint_drains
from memcglab.grid.store import Store
from memcglab.kernel.registry import plugin_path
from memcglab.scenario.sweep_spec import Cell, Sweep


def cell_ids(sweep: Sweep) -> list[str]:
    """Each cell's id; two cells that are one simulation are refused (values that differ
    only in spelling, ``"1s"`` and ``"1000ms"``; base scenarios that differ only in their
    name or description): the sweep would compute one thing twice under two labels."""
    first: dict[str, Cell] = {}
    for c in sweep.cells:
        key = plan_key(c)
        if key in first:
            raise ConfigError(f"{sweep.path}: the cells ({first[key].label()}) and "
                              f"({c.label()}) are one simulation (values that differ only in "
                              "spelling, or base scenarios that differ only in name or "
                              "description); list each once")
        first[key] = c
    return [cell_id(c) for c in sweep.cells]


def plan_workers(sweep: Sweep, jobs: int | None, max_memory: str | None,
                 note: Callable[[str], None],
                 flags: tuple[str, str] = ("--jobs", "--max-memory")) -> int:
    """How many local workers: ``jobs`` (default: the cores this process may use), fewer
    when the cells would not fit in the memory bound together (``max_memory``, default
    a share of MemAvailable; sim/budget.py estimates a cell)."""
    from memcglab.cli import resources
    from memcglab.sim.budget import estimate

    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int)
                             or not 1 <= jobs <= 1024):
        raise ConfigError(f"{flags[0]}: expected 1 to 1024, got {jobs!r}")
    want = jobs or resources.usable_cores()
    limit = resources.memory_budget(max_memory, flags[1])
    model = [c for c in sweep.cells if c.source == "model"]
    if limit is None or not model:
        return want
    biggest = max(estimate(c.plan, outputs=False).total for c in model)
    if biggest > limit:
        raise ConfigError(f"{sweep.path}: one cell may need about {resources.text(biggest)} "
                          f"of memory, more than the limit of {resources.text(limit)}; lower "
                          f"the scenario's sizes or raise the bound ({flags[1]})")
    fit = max(1, limit // max(biggest, 1))
    if fit < want:
        note(f"{fit} workers instead of {want}: each cell may need "
             f"{resources.text(biggest)} and the bound is {resources.text(limit)}")
        return int(fit)
    return want


def check_executor(sweep: Sweep, executor: str, ray_address: str | None) -> None:
    """What an executor cannot run, refused before anything is written."""
    if executor == "ray" and ray_address is not None:
        plugins = sorted({str(p) for c in sweep.cells
                          if (p := plugin_path(c.plan.variant_spec)) is not None})
        if plugins:
            raise ConfigError(f"--ray {ray_address}: the variant file {plugins[0]} exists on "
                              "this machine only; run plugin variants with the local pool or "
                              "a local Ray instance (--ray without an address)")


def describe(sweep: Sweep, ids: list[str]) -> dict[str, Any]:
    """sweep.json: the resolved sweep, with every cell's id (what --status reads)."""
    return {
        "memcglab_sweep": SCHEMA_VERSION, "name": sweep.name,
        "description": sweep.description, "file": sweep.path, "bases": list(sweep.bases),
        "axes": [{"paths": list(a.names), "values": [list(p) for p in a.points]}
                 for a in sweep.axes],
        "variants": list(sweep.variants), "kernels": list(sweep.kernels),
        "seeds": list(sweep.seeds), "live_kernel": sweep.live_kernel,
        "code": code_fingerprint(),
        "cells": [{"id": i, "source": c.source, "scenario": c.scenario, "variant": c.variant,
                   "seed": c.seed, "axes": dict(c.axes)} for c, i in zip(sweep.cells, ids,
                                                                         strict=True)],
        "skipped": [{"cell": label, "why": why} for label, why in sweep.skipped],
    }


@dataclass(frozen=True, slots=True)
class RunReport:
    total: int
    already_done: int
    computed: int
    wall_s: float
    executor: str


def run_sweep(sweep: Sweep, store: Store, *, executor: str = "pool", workers: int = 1,
              ray_address: str | None = None, batch_seconds: float = 1.0,
              progress: Callable[[int, int], None] = lambda done, total: None,
              say: Callable[[str], None] = lambda msg: None,
              ids: list[str] | None = None) -> RunReport:
    """Run the cells not in the store yet and write each as it finishes. ``executor``:
    "serial", "pool" (``workers`` processes) or "ray" (``ray_address``: None starts a local
    instance with ``workers`` CPUs). Raises KeyboardInterrupt / Terminated after writing
    what finished (the sweep then resumes from there)."""
    ids = ids if ids is not None else cell_ids(sweep)  # (0.5 ms a cell: computed once)
    check_executor(sweep, executor, ray_address)
    store.write_json("sweep.json", describe(sweep, ids))
    done_ids = store.done()
    by_id = dict(zip(ids, sweep.cells, strict=True))
    todo = [Job(i, c.source, c.plan) for i, c in zip(ids, sweep.cells, strict=True)
            if i not in done_ids]
    total = len(ids)
    finished = total - len(todo)
    progress(finished, total)
    start = time.monotonic()
    computed = 0

    written: set[str] = set()

    def done(out: Outcome) -> None:
        nonlocal finished, computed
        if out.cell_id in written:  # a retried Ray task may yield a finished cell again
            return
        if out.code != code_fingerprint():
            raise ConfigError(f"host {out.host} runs another memcglab (sources "
                              f"{out.code[:12]}, here {code_fingerprint()[:12]}): install the "
                              "same memcglab on every node; its result was not written")
        cell = by_id[out.cell_id]
        store.write_cell(out.cell_id, {**identity(cell, out.cell_id, sweep, out),
                                       **flatten(out.metrics)})
        written.add(out.cell_id)
        finished += 1
        computed += 1
        progress(finished, total)

    model = [j for j in todo if j.source == "model"]
    live = [j for j in todo if j.source == "kernel"]
    with sigint_drains() as stop:
        if executor == "ray":
            run_ray(model + live, done, say, ray_address, workers, batch_seconds, stop)
        else:
            if executor == "pool" and workers > 1 and len(model) > 1:
                run_pool(model, done, say, workers, stop)
            else:
                run_serial(model, done, say, stop)
            # Live-kernel cells run here, one after another: they own the machine while
            # they run, and this process tears their groups down on a second Ctrl-C or
            # SIGTERM.
            run_serial(live, done, say, stop)
    return RunReport(total, total - len(todo), computed, time.monotonic() - start, executor)


def status(sweep: Sweep, store: Store, ids: list[str] | None = None,
           walls: list[float] | None = None) -> dict[str, Any]:
    """What is finished, what is left (per variant), what is stale, and an estimate of the
    time left at the mean cell time so far (``walls``: the finished cells' times, when the
    caller has read them already)."""
    ids = ids if ids is not None else cell_ids(sweep)
    done_ids = store.done()
    mine = set(ids)
    per: dict[str, Counter[str]] = {}
    for c, i in zip(sweep.cells, ids, strict=True):
        key = variant_label(c)
        per.setdefault(key, Counter())["total"] += 1
        if i in done_ids:
            per[key]["done"] += 1
    finished = [i for i in ids if i in done_ids]
    if walls is None:
        walls = store.walls(finished)
    mean = sum(walls) / len(walls) if walls else None
    left = len(ids) - len(finished)
    return {
        "sweep": sweep.name, "folder": str(store.folder), "total": len(ids),
        "done": len(finished), "left": left, "skipped_invalid": len(sweep.skipped),
        "stale": len(done_ids - mine),
        "by_variant": {k: {"done": v["done"], "total": v["total"]} for k, v in per.items()},
        "mean_cell_s": round(mean, 4) if mean is not None else None,
        "left_cpu_s": round(mean * left, 1) if mean is not None else None,
        "cores": usable_cores(),
    }
