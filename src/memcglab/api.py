"""memcglab from Python (notebooks, scripts): ``memcglab.run`` and ``memcglab.sweep``.

    import memcglab
    r = memcglab.run("scenarios/flat-limit.toml", duration="200ms", seed=1)
    r.metrics["fairness"]          # metrics.json as a dict
    r.groups                       # pandas: one row per group
    r.timeseries                   # pandas: t_ms, group, usage_pages, scanned, ...
    s = memcglab.sweep("examples/sweeps/limit-fairness.toml", out="results/")
    s.cells                        # pandas: one row per cell (axes, seed, variant, metrics)
    s.summary                      # pandas: mean and 95% CI over seeds per point and metric

The same validation as the command line: a bad scenario or sweep raises
:class:`memcglab.errors.ConfigError` with the file, line, field, expected and got. The
results are the command line's (``memcglab run --json``, ``memcglab sweep``) byte for byte.
docs/api.md and examples/api_tour.py (the notebook's twin, run by the tests).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memcglab.errors import ConfigError
from memcglab.scenario.sim_scenario import build_tables, load
from memcglab.sim.engine import SimRun, simulate
from memcglab.sim.plan import Plan

Scenario = str | os.PathLike[str] | dict[str, Any] | Plan


def _plan(scenario: Scenario, overrides: dict[str, Any]) -> Plan:
    places: dict[tuple[str | int, ...], str] = {(k,): f"memcglab.run({k}=...)"
                                                for k in overrides}
    if isinstance(scenario, Plan):
        if overrides:
            raise ConfigError(f"memcglab.run: {', '.join(overrides)}: a built Plan is run as "
                              "it is; pass a path, TOML text or a dict to change it")
        return scenario
    if isinstance(scenario, dict):
        raw, text, where = {**scenario, **overrides}, "", "<dict>"
    elif isinstance(scenario, str) and "\n" in scenario:
        try:
            file = tomllib.loads(scenario)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"<toml text>: malformed TOML: {e}") from None
        raw, text, where = {**file, **overrides}, scenario, "<toml text>"
    elif isinstance(scenario, str | os.PathLike):
        return load(Path(scenario), overrides, places)
    else:
        raise ConfigError(f"memcglab.run: expected a scenario file's path, TOML text, a dict "
                          f"of its tables or a Plan, got {type(scenario).__name__}")
    return build_tables(raw, {k: v for k, v in raw.items() if k not in overrides}, text,
                        where, "scenario", Path.cwd(), places=places)


@dataclass(frozen=True)
class Result:
    """One simulation: the plan, the raw run, metrics.json as a dict, and frames."""

    plan: Plan
    sim: SimRun
    metrics: dict[str, Any]

    @property
    def groups(self) -> Any:
        """pandas DataFrame: one row per group (metrics.json's ``groups``, nested tables
        flattened with dots: ``memory_events.max``)."""
        import pandas as pd  # type: ignore[import-untyped]

        return pd.json_normalize(self.metrics["groups"])

    @property
    def timeseries(self) -> Any:
        """pandas DataFrame in long form: one row per (sample, group)."""
        import pandas as pd

        from memcglab.metrics.summary import SERIES_COLUMNS, series_rows

        return pd.DataFrame(series_rows(self.sim), columns=list(SERIES_COLUMNS))

    @property
    def summary(self) -> Any:
        """pandas DataFrame, one row: every metric flattened (as a sweep stores a cell)."""
        import pandas as pd

        from memcglab.grid.cells import flatten

        return pd.DataFrame([flatten(self.metrics)])

    def to_arrow(self) -> dict[str, Any]:
        """The three frames as pyarrow Tables: ``groups``, ``timeseries``, ``summary``."""
        import pyarrow as pa  # type: ignore[import-untyped]

        return {k: pa.Table.from_pandas(getattr(self, k), preserve_index=False)
                for k in ("groups", "timeseries", "summary")}


def run(scenario: Scenario, *, seed: int | None = None, variant: str | None = None,
        duration: str | int | None = None, scheduler: str | None = None) -> Result:
    """Simulate a scenario: a path to a TOML file, TOML text, a dict of its tables, or a
    built Plan; the keyword arguments override its fields as the flags of ``memcglab run``
    do."""
    from memcglab.metrics.summary import summarize

    overrides = {k: v for k, v in (("seed", seed), ("variant", variant),
                                   ("duration", duration), ("scheduler", scheduler))
                 if v is not None}
    plan = _plan(scenario, overrides)
    sim = simulate(plan)
    return Result(plan, sim, summarize(sim))


@dataclass(frozen=True)
class SweepResult:
    """A finished (or resumed) sweep: its folder, cells, summary and plots."""

    path: Path
    cells: Any  # pandas DataFrame: one row per finished cell
    summary: Any  # pandas DataFrame: mean, ci_low, ci_high per point and metric
    status: dict[str, Any]
    plots: dict[str, bytes]  # PNG by metric (IPython.display.Image(data=...))
    computed: int  # cells run by this call (the others were in the folder already)


def results(folder: str | os.PathLike[str]) -> Any:
    """The finished cells of the sweep last run in a folder (those its sweep.json lists,
    not the stale files of an earlier sweep there) as a pandas DataFrame with the columns
    of all of them (null where a cell has none): for queries without the sweep file."""
    import json

    from memcglab.grid.store import Store
    from memcglab.report.outdir import read_marker

    path = Path(folder)
    marker = read_marker(path) if path.is_dir() else None
    if marker is None or "`memcglab sweep`" not in marker[0]:
        raise ConfigError(f"{folder}: not a memcglab sweep folder (no .memcglab-output "
                          "written by `memcglab sweep`)")
    try:
        cells = json.loads((path / "sweep.json").read_text())["cells"]
    except (OSError, ValueError, KeyError) as e:
        raise ConfigError(f"{folder}/sweep.json: cannot read the sweep's cells: {e}") from None
    return Store.read(str(folder), label=str(folder)).load(
        [c["id"] for c in cells]).to_pandas()


def sweep(spec: str | os.PathLike[str] | dict[str, Any], out: str | os.PathLike[str] | None
          = None, *, jobs: int | None = None, ray: str | bool = False,
          max_memory: str | None = None) -> SweepResult:
    """Run a sweep (a sweep file, or a dict of its tables with paths relative to the current
    folder) into ``out`` (default ``sweep-NAME``), resuming what is there. ``jobs``: local
    workers (default: the cores, fewer when ``max_memory`` would not hold them); ``ray``:
    True for a local Ray instance, or a cluster's address."""
    import sys

    from memcglab.grid.runner import cell_ids, check_executor, plan_workers, run_sweep
    from memcglab.grid.store import Store
    from memcglab.report.sweep_report import finish
    from memcglab.scenario.sweep_spec import expand, load_sweep

    if isinstance(spec, dict):
        sw = expand(spec, "<dict>", "", Path.cwd())
        inputs = [Path(b) for b in sw.bases]
    elif isinstance(spec, str | os.PathLike):
        sw = load_sweep(Path(spec))
        inputs = [Path(spec), *(Path(b) for b in sw.bases)]
    else:
        raise ConfigError(f"memcglab.sweep: expected a sweep file's path or a dict of its "
                          f"tables, got {type(spec).__name__}")
    if ray == "local":  # as the command line's --ray without an address
        ray = True
    if not isinstance(ray, bool | str) or ray == "":
        raise ConfigError(f"memcglab.sweep: ray: expected True, False or a cluster's address, "
                          f"got {ray!r}")
    workers = plan_workers(sw, jobs, max_memory,
                           lambda note: print(f"memcglab.sweep: {note}", file=sys.stderr),
                           flags=("memcglab.sweep(jobs=...)", "max_memory"))
    executor = "ray" if ray else ("pool" if workers > 1 else "serial")
    address = ray if isinstance(ray, str) else None
    ids = cell_ids(sw)  # refusals before the folder is made
    check_executor(sw, executor, address)
    folder = str(out) if out is not None else f"sweep-{sw.name}"
    store = Store.open(folder, inputs, label=folder)
    report = run_sweep(sw, store, executor=executor, workers=workers, ray_address=address,
                       ids=ids)
    frame, table, imgs, st = finish(sw, store, ids)
    return SweepResult(store.folder, frame, table, st, imgs, report.computed)
