"""``memcglab sweep``: sweep files (paths, axes, errors naming the sweep's line), cell ids,
the results store, the local pool against a serial loop, resume after SIGINT, Ray against
the pool, the report, live-kernel cells, and the Python API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from memcglab.errors import ConfigError
from memcglab.grid.cells import cell_id, flatten, plan_key
from memcglab.grid.runner import cell_ids
from memcglab.grid.store import Store
from memcglab.scenario.sweep_spec import load_sweep, parse_path
from tests.conftest import cli
from tests.test_kernel_run import _live_skip

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FLAT = ROOT / "scenarios" / "flat-limit.toml"
EXAMPLE = ROOT / "examples" / "sweeps" / "limit-fairness.toml"
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def sweep_file(tmp_path: Path, body: str, base: Path = FLAT) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(f'[sweep]\nbase = "{base}"\n' + body)
    return p


SMALL = """seeds = 2
variants = ["css-id", "seed-spinlock"]

[[axis]]
path = "group[parent].limit"
values = ["16M", "32M"]

[[axis]]
path = "duration"
values = ["30ms"]
"""


# -- sweep files ---------------------------------------------------------------------------


def test_paths_parse_indices_and_names() -> None:
    assert parse_path("group.0.limit") == ["group", 0, "limit"]
    assert parse_path("group[web.1].low") == ["group", ("web.1",), "low"]
    assert parse_path("machine.watermarks.min") == ["machine", "watermarks", "min"]
    with pytest.raises(ValueError, match=r"expected '\.'"):
        parse_path("group.0limit")


def test_grid_expands_variant_major_with_seeds_from_the_base(tmp_path: Path) -> None:
    sw = load_sweep(sweep_file(tmp_path, SMALL))
    assert len(sw.cells) == 2 * 2 * 1 * 2
    assert sw.seeds == (42, 43)  # seeds = 2: the base's seed and the next
    assert [(c.variant, c.axes[0][1], c.seed) for c in sw.cells[:4]] == [
        ("css-id", "16M", 42), ("css-id", "16M", 43), ("css-id", "32M", 42),
        ("css-id", "32M", 43)]
    # the axis reached the plan: group "parent" is index 1 (the root is 0)
    assert sw.cells[0].plan.limits[1] == 4096 and sw.cells[2].plan.limits[1] == 8192
    assert sw.cells[0].plan.duration_ns == 30_000_000
    assert sw.columns() == ["group[parent].limit", "duration"]


def test_range_and_zipped_axes(tmp_path: Path) -> None:
    sw = load_sweep(sweep_file(tmp_path, """
[[axis]]
path = "group.0.limit"
range = {from = 16, to = 48, step = 16, unit = "M"}
[[axis]]
paths = ["workload.0.size", "workload.1.size"]
values = [["8M", "16M"], ["32M", "64M"]]
"""))
    assert [c.axes for c in sw.cells[:2]] == [
        (("group.0.limit", "16M"), ("workload.0.size", "8M"), ("workload.1.size", "16M")),
        (("group.0.limit", "16M"), ("workload.0.size", "32M"), ("workload.1.size", "64M"))]
    assert len(sw.cells) == 3 * 2
    assert sw.cells[1].plan.workloads[1].pages == 64 * 256


@pytest.mark.parametrize(("axis", "message"), [
    ('path = "group.0.limt"\nvalues = [1]', "unknown field 'limt' in group.0; valid fields: "
                                             "name, parent, limit, soft_limit"),
    ('path = "group.9.limit"\nvalues = [1]', "has 5 [[group]] entries (0..4), got index 9"),
    ('path = "group[nope].limit"\nvalues = [1]', "no [[group]] named 'nope'; named: parent, a"),
    ('path = "machine.disks"\nvalues = [1]', "unknown field 'disks' in machine; valid fields: "
                                              "nodes, zones"),
    ('path = "seed"\nvalues = [1]', "not an axis: use `seeds` in [sweep]"),
    ('path = "group.1.name"\nvalues = ["x"]', "not an axis: renaming a group"),
    ('path = "machine"\nvalues = [1]', "names a table, not a value"),
    ('path = "group"\nvalues = [1]', "name one, e.g. group.0.name"),
    ('path = "duration"\nvalues = ["1s", "1s"]', "a value is listed twice"),
    ('path = "duration"', "expected `values = [...]` or `range"),
])
def test_bad_axes_name_the_sweep_line_and_the_valid_choices(tmp_path: Path, axis: str,
                                                           message: str) -> None:
    p = sweep_file(tmp_path, f"\n[[axis]]\n{axis}\n")
    code, _, err = cli("sweep", str(p), "--out", str(tmp_path / "o"))
    assert code == 2
    # the [[axis]] table's line, or its values' line for a fault in the values
    assert (f"{p}:4: [[axis]] 0" in err or f"{p}:6: [[axis]] 0" in err) and message in err, err
    assert not (tmp_path / "o").exists()  # nothing written


def test_a_bad_value_names_the_axis_line_and_value(tmp_path: Path) -> None:
    p = sweep_file(tmp_path, '\n[[axis]]\npath = "group.0.limit"\nvalues = ["32M", "12Q"]\n')
    code, _, err = cli("sweep", str(p), "--out", str(tmp_path / "o"))
    assert code == 2
    assert (f"{p}:6 (axis group.0.limit = '12Q'): field 'group.0.limit': expected a size "
            "like 4K, 32M or 2G") in err, err
    assert "in the sweep's cell group.0.limit=12Q" in err


def test_variants_against_kernels_are_refused_or_skipped(tmp_path: Path) -> None:
    body = 'variants = ["css-id", "current"]\nkernels = ["3.7", "6.18"]\n'
    code, _, err = cli("sweep", str(sweep_file(tmp_path, body)), "--out", str(tmp_path / "o"))
    assert code == 2 and "variant 'css-id' runs on memcglab's kernel 3.7" in err, err
    assert "(in the sweep's cell flat-limit, css-id, kernel 6.18, seed 42; skip_invalid = " \
        "true in [sweep] skips" in err
    sw = load_sweep(sweep_file(tmp_path, body + "skip_invalid = true\n"))
    assert [(c.variant, c.plan.kernel) for c in sw.cells] == [("css-id", "3.7"),
                                                                ("current", "6.18")]
    assert len(sw.skipped) == 2


def test_kernels_alone_run_each_kernels_own_iterator(tmp_path: Path) -> None:
    sw = load_sweep(sweep_file(tmp_path, 'kernels = ["3.7", "6.18"]\n'))
    assert [(c.plan.kernel, c.plan.variant) for c in sw.cells] == [("3.7", "css-id"),
                                                                    ("6.18", "current")]


def test_cells_are_keyed_by_plan_and_named_by_plan_and_labels(tmp_path: Path) -> None:
    a = load_sweep(sweep_file(tmp_path, '[[axis]]\npath = "duration"\nvalues = ["1s"]\n'))
    b = load_sweep(sweep_file(tmp_path, '[[axis]]\npath = "duration"\nvalues = [1000000000]'
                                        "\n"))
    # one simulation (the plan), two rows (the labels differ: a row keeps its own)
    assert plan_key(a.cells[0]) == plan_key(b.cells[0])
    assert cell_id(a.cells[0]) != cell_id(b.cells[0])
    dup = sweep_file(tmp_path, '[[axis]]\npath = "duration"\nvalues = ["1s", "1000ms"]\n')
    with pytest.raises(ConfigError, match="are one simulation"):
        cell_ids(load_sweep(dup))
    code, _, err = cli("sweep", str(dup), "--out", str(tmp_path / "o"))
    assert code == 2 and "are one simulation" in err
    assert not (tmp_path / "o").exists()  # refused before the folder is made
    other = load_sweep(sweep_file(tmp_path, 'seeds = [7]\n'))
    assert cell_id(other.cells[0]) != cell_id(a.cells[0])


def test_sweep_file_errors(tmp_path: Path) -> None:
    code, _, err = cli("sweep", str(sweep_file(tmp_path, "seeds = 0\n")))
    assert code == 2 and "sweep.seeds: expected a count of 1 or more" in err
    code, _, err = cli("sweep", str(sweep_file(tmp_path, 'variants = ["nope"]\n')))
    assert code == 2 and "unknown variant 'nope'" in err and ":3: sweep.variants" in err
    code, _, err = cli("sweep", str(sweep_file(tmp_path, "colour = 1\n")))
    assert code == 2 and "unknown field 'sweep.colour'" in err
    code, _, err = cli("sweep", str(sweep_file(tmp_path, "", base=tmp_path / "none.toml")))
    assert code == 2 and "sweep.base:" in err and "cannot read" in err
    code, _, err = cli("sweep", str(sweep_file(tmp_path, '[plot]\nx = "seedz"\n')))
    assert code == 2 and "plot.x 'seedz': not an axis" in err


# -- the store ------------------------------------------------------------------------------


def test_store_reads_cells_of_different_kernels_with_every_column(tmp_path: Path) -> None:
    store = Store.open(str(tmp_path / "o"))
    store.write_cell("a" * 32, {"cell_id": "a", "kernel": "3.7", "x": 1.0})
    store.write_cell("b" * 32, {"cell_id": "b", "kernel": "6.18", "x": 2.0,
                                "memory_events.max": 3.0})
    (tmp_path / "o" / "cells" / ".c.parquet.tmp").write_bytes(b"half")  # a torn write
    table = store.load(["b" * 32, "a" * 32, "c" * 32])
    assert table.to_pylist() == [
        {"cell_id": "b", "kernel": "6.18", "x": 2.0, "memory_events.max": 3.0},
        {"cell_id": "a", "kernel": "3.7", "x": 1.0, "memory_events.max": None}]
    assert store.done() == {"a" * 32, "b" * 32}


def test_store_refuses_folders_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(ConfigError, match="memcglab did not write it"):
        Store.open(str(tmp_path / "mine"))
    assert cli("run", str(FLAT), "--duration", "20ms", "--out", str(tmp_path / "r"))[0] == 0
    with pytest.raises(ConfigError, match="holds the output of `memcglab run`"):
        Store.open(str(tmp_path / "r"))


def test_flatten_keeps_every_metric_by_dotted_name() -> None:
    row = flatten({"memcglab": "0.1.0", "fairness": {"jain": 0.5, "groups": ["a"]},
                   "groups": [{"name": "a", "reclaimed": 3, "ev": {"max": 1}}], "x": None})
    assert row == {"memcglab": "0.1.0", "fairness.jain": 0.5, "fairness.groups": '["a"]',
                   "groups.a.reclaimed": 3.0, "groups.a.ev.max": 1.0, "x": None}


# -- running --------------------------------------------------------------------------------


def _rows(folder: Path) -> dict[str, dict[str, Any]]:
    """Every cell file's row, without what depends on where and how fast it ran."""
    out = {}
    for f in sorted((folder / "cells").glob("*.parquet")):
        row = pq.read_table(f).to_pylist()[0]
        row.pop("wall_s")
        row.pop("host")
        out[f.name] = row
    return out


def test_pool_and_serial_give_the_same_rows_and_a_rerun_computes_nothing(
        tmp_path: Path) -> None:
    p = sweep_file(tmp_path, SMALL)
    code, out, err = cli("sweep", str(p), "--out", str(tmp_path / "pool"), "--jobs", "2")
    assert code == 0, err
    assert "8 cells computed, 0 already done" in out and "(pool)" in out
    assert "seed-spinlock" in out and "16M" in out  # the summary table
    code, out, err = cli("sweep", str(p), "--out", str(tmp_path / "serial"), "--jobs", "1")
    assert code == 0 and "(serial)" in out, err
    pool, serial = _rows(tmp_path / "pool"), _rows(tmp_path / "serial")
    assert len(pool) == 8 and pool == serial
    row = next(iter(pool.values()))
    assert {"cell_id", "variant", "seed", "group[parent].limit", "group[parent].limit:value",
            "fairness.jain_index_reclaim_per_usage", "groups.a.reclaimed",
            "iterator.duplicate_claims"} <= set(row)
    code, out, err = cli("sweep", str(p), "--out", str(tmp_path / "pool"), "--json",
                         "--plot-y", "groups.a.reclaimed,iterator.duplicate_claims,jain")
    assert "'jain' is not a column of these cells" in err, err
    doc = json.loads(out)
    assert code == 0 and doc["computed"] == 0 and doc["already_done"] == 8
    assert doc["status"]["done"] == 8 and doc["status"]["left"] == 0
    # the summary: a mean and CI per (variant, point, metric) over the two seeds
    s = [r for r in doc["summary"] if r["metric"] == "iterator.duplicate_claims"]
    assert len(s) == 4 and all(r["n"] == 2 and r["ci_low"] <= r["mean"] <= r["ci_high"]
                               for r in s)
    folder = tmp_path / "pool"
    assert (folder / "report.html").is_file() and (folder / "summary.csv").is_file()
    # the rerun only redrew: the two metrics asked for (jain is not one)
    assert sorted(p.name for p in (folder / "plots").glob("*.png")) == [
        "01-groups.a.reclaimed.png", "02-iterator.duplicate_claims.png"]
    code, _, err = cli("sweep", str(p), "--out", str(folder), "--plot-x", "limit")
    assert code == 2 and "--plot-x 'limit': not an axis of this sweep; valid: " \
        "variant, group[parent].limit, duration" in err
    sweep_json = json.loads((folder / "sweep.json").read_text())
    assert sorted(c["id"] + ".parquet" for c in sweep_json["cells"]) == sorted(pool)


def test_status_and_an_extended_axis_reuse_finished_cells(tmp_path: Path) -> None:
    p = sweep_file(tmp_path, SMALL)
    code, out, _ = cli("sweep", str(p), "--out", str(tmp_path / "o"), "--status")
    assert code == 0 and "0 of 8 cells done, 8 left" in out, out
    assert not (tmp_path / "o").exists()  # --status writes nothing
    assert cli("sweep", str(p), "--out", str(tmp_path / "o"), "--jobs", "1")[0] == 0
    p.write_text(p.read_text().replace('values = ["16M", "32M"]', 'values = ["16M", "32M", '
                                                                  '"48M"]'))
    code, out, _ = cli("sweep", str(p), "--out", str(tmp_path / "o"), "--status")
    assert code == 0
    assert "8 of 12 cells done, 4 left" in out and "css-id: 4/6" in out, out
    code, out, _ = cli("sweep", str(p), "--out", str(tmp_path / "o"), "--jobs", "1")
    assert code == 0 and "4 cells computed, 8 already done" in out


def _signal_after(proc: subprocess.Popen[str], out: Path, cells: int,
                  sig: signal.Signals) -> tuple[str, str]:
    """Send ``sig`` once ``cells`` cell files exist (sent from Python: a process started in
    the background by a non-interactive shell ignores SIGINT)."""
    deadline = time.monotonic() + 120
    while len(list((out / "cells").glob("*.parquet"))) < cells and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(sig)
    return proc.communicate(timeout=120)


@pytest.mark.parametrize("jobs", ["2", "1"])
def test_resume_after_sigint_loses_nothing_and_computes_nothing_twice(
        tmp_path: Path, jobs: str) -> None:
    p = sweep_file(tmp_path, """seeds = 8
[[axis]]
path = "duration"
values = ["300ms"]
""")
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "memcglab", "sweep", str(p), "--out", str(out), "--jobs", jobs,
           "--json"]
    with subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:
        try:
            _, err = _signal_after(proc, out, 2, signal.SIGINT)
        finally:
            proc.kill()
    assert proc.returncode == 130, err
    k = len(list((out / "cells").glob("*.parquet")))
    assert 2 <= k < 8, err
    # the first Ctrl-C drains: the running cells are finished and written, not killed
    assert ("interrupted: finishing the" in err if jobs == "2" else
            "interrupted: the running cell was finished and written" in err), err
    assert f"interrupted with {k} of 8 cells written" in err
    assert not list((out / "cells").glob(".*"))  # no temporary file left
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["computed"] == 8 - k and doc["already_done"] == k
    table = Store.read(str(out)).load(cell_ids(load_sweep(p)))
    ids = table.column("cell_id").to_pylist()
    assert len(ids) == 8 and len(set(ids)) == 8
    assert sorted(table.column("seed").to_pylist()) == list(range(42, 50))


def test_sigterm_exits_143_with_the_cells_written_kept(tmp_path: Path) -> None:
    p = sweep_file(tmp_path, 'seeds = 6\n[[axis]]\npath = "duration"\nvalues = ["400ms"]\n')
    out = tmp_path / "o"
    with subprocess.Popen([sys.executable, "-m", "memcglab", "sweep", str(p), "--out",
                           str(out), "--jobs", "2"], env=ENV, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as proc:
        try:
            _, err = _signal_after(proc, out, 1, signal.SIGTERM)
        finally:
            proc.kill()
    assert proc.returncode == 143, err
    rows = list((out / "cells").glob("*.parquet"))
    assert rows and all(pq.read_table(f).num_rows == 1 for f in rows)


def test_ray_missing_is_a_clear_message(tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from memcglab.grid import executors
    monkeypatch.setattr(executors, "ray_available", lambda: False)
    code, _, err = cli("sweep", str(sweep_file(tmp_path, SMALL)), "--ray")
    assert code == 2 and "pip install 'memcglab[ray]'" in err
    assert not (tmp_path / "sweep-s").exists()


CHROMIUM = __import__("shutil").which("chromium")


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install "
                    "chromium) to open the HTML report headless")
def test_sweep_report_renders_its_plots_in_chromium(tmp_path: Path) -> None:
    from tests.test_sim_cli import _rendered

    out = tmp_path / "o"
    assert cli("sweep", str(sweep_file(tmp_path, SMALL)), "--out", str(out))[0] == 0
    dom = _rendered(out / "report.html")
    n = len(list((out / "plots").glob("*.png")))  # 30 ms: no reclaim yet, so no Jain plot
    assert n == 3 and f'data-plots-rendered="{n}/{n}"' in dom
    assert "No plot for: fairness.jain_index_reclaim_per_usage" in dom
    assert "memcglab sweep: s" in dom and "seed-spinlock" in dom


# -- Ray ------------------------------------------------------------------------------------

def _ray_or_skip() -> None:
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'memcglab[ray]'")


def test_ray_on_a_local_instance_gives_the_pools_rows(tmp_path: Path) -> None:
    _ray_or_skip()
    p = sweep_file(tmp_path, SMALL)
    assert cli("sweep", str(p), "--out", str(tmp_path / "pool"), "--jobs", "2")[0] == 0
    code, out, err = cli("sweep", str(p), "--out", str(tmp_path / "ray"), "--ray", "--jobs",
                         "2", "--batch-seconds", "0.05")
    assert code == 0, err
    assert "(ray)" in out
    assert _rows(tmp_path / "ray") == _rows(tmp_path / "pool")
    # memcglab's SIGTERM handler is back after ray.init replaced it
    assert signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, signal.default_int_handler) \
        or callable(signal.getsignal(signal.SIGTERM))


def test_ray_address_joins_a_running_cluster(tmp_path: Path) -> None:
    _ray_or_skip()
    import tempfile

    env = {**ENV, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    temp = tempfile.mkdtemp(prefix="rayh", dir="/tmp")
    head = subprocess.Popen(
        [sys.executable, "-c",
         "import ray, sys, time\n"
         f"ray.init(num_cpus=2, include_dashboard=False, _temp_dir={temp!r}, "
         "object_store_memory=80 << 20)\n"
         "print(ray.get_runtime_context().gcs_address, flush=True)\n"
         "sys.stdin.read()\n"],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True)
    try:
        assert head.stdout is not None
        address = head.stdout.readline().strip()
        assert address
        p = sweep_file(tmp_path, SMALL)
        run = subprocess.run([sys.executable, "-m", "memcglab", "sweep", str(p), "--out",
                              str(tmp_path / "ray"), "--ray", address, "--json"],
                             env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["computed"] == 8
    finally:
        head.communicate(input="", timeout=60)
        __import__("shutil").rmtree(temp, ignore_errors=True)
    assert cli("sweep", str(p), "--out", str(tmp_path / "pool"))[0] == 0
    assert _rows(tmp_path / "ray") == _rows(tmp_path / "pool")


# -- live-kernel cells ----------------------------------------------------------------------


@pytest.mark.skipif(_live_skip() is not None, reason=_live_skip() or "")
def test_kernel_cells_run_on_this_machines_kernel_beside_the_model(tmp_path: Path) -> None:
    base = tmp_path / "base.toml"
    base.write_text('seed = 1\nduration = "300ms"\n[[group]]\nname = "parent"\nlimit = "8M"\n'
                    '[[group]]\nname = "a"\nparent = "parent"\n[[workload]]\ngroup = "a"\n'
                    'pattern = "stream"\nsize = "24M"\nrate = "100M"\n')
    p = sweep_file(tmp_path, "kernel = true\n", base=base)
    v1 = Path("/sys/fs/cgroup/memory")
    before = {d for d in os.listdir(v1) if d.startswith("memcglab-")}
    code, _, err = cli("sweep", str(p), "--out", str(tmp_path / "o"), "--json")
    assert code == 0, err
    rows = _rows(tmp_path / "o")
    by_source = {r["source"]: r for r in rows.values()}
    assert set(by_source) == {"model", "kernel"}
    live = by_source["kernel"]
    assert live["variant"] == "live-kernel" and live["kernel"] == os.uname().release
    assert live["groups.a.reclaimed"] > 0  # the kernel reclaimed the 8M-limited group
    assert {d for d in os.listdir(v1) if d.startswith("memcglab-")} <= before  # torn down


# -- the Python API -------------------------------------------------------------------------


def test_api_run_matches_the_command_line(tmp_path: Path) -> None:
    import memcglab

    code, out, _ = cli("run", str(FLAT), "--duration", "50ms", "--seed", "3", "--json")
    r = memcglab.run(FLAT, duration="50ms", seed=3)
    assert code == 0 and json.loads(out) == json.loads(json.dumps(r.metrics))
    assert list(r.timeseries.columns) == ["t_ms", "group", "usage_pages", "scanned",
                                          "reclaimed", "visits", "first_visits"]
    assert r.groups["name"].tolist() == ["root", "parent", "a", "b", "c", "d"]
    assert r.summary.shape[0] == 1 and "fairness.jain_index_reclaim_per_usage" in r.summary
    assert set(r.to_arrow()) == {"groups", "timeseries", "summary"}
    text = FLAT.read_text()
    assert memcglab.run(text, duration="50ms", seed=3).metrics["groups"] == r.metrics["groups"]
    with pytest.raises(ConfigError, match=r"memcglab.run\(duration=...\): field 'duration'"):
        memcglab.run(text, duration="5x")


def test_api_sweep_from_a_dict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import memcglab

    monkeypatch.chdir(tmp_path)
    res = memcglab.sweep({"sweep": {"name": "api", "base": str(FLAT), "seeds": 2},
                          "axis": [{"path": "duration", "values": ["20ms", "40ms"]}]},
                         jobs=1)
    assert res.path == tmp_path / "sweep-api" and res.computed == 4
    assert len(res.cells) == 4 and set(res.cells["duration"]) == {"20ms", "40ms"}
    assert set(res.summary["metric"]) >= {"iterator.duplicate_claims"}
    again = memcglab.sweep({"sweep": {"name": "api", "base": str(FLAT), "seeds": 2},
                            "axis": [{"path": "duration", "values": ["20ms", "40ms"]}]})
    assert again.computed == 0 and again.cells.equals(res.cells)
    every = memcglab.results(res.path)
    assert sorted(every["cell_id"]) == sorted(res.cells["cell_id"])
    with pytest.raises(ConfigError, match="not a memcglab sweep folder"):
        memcglab.results(tmp_path)


def test_the_api_tour_script_runs(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "api_tour.py"),
                          "--out", str(tmp_path / "tour"), "--quick"], env=ENV,
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "cells" in run.stdout and (tmp_path / "tour" / "report.html").is_file()


def test_the_notebook_is_the_script_twin() -> None:
    nb = json.loads((ROOT / "examples" / "api_tour.ipynb").read_text())
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"
             and "setup" not in c["metadata"].get("tags", [])]  # paths differ in the setup
    script = (ROOT / "examples" / "api_tour.py").read_text()
    assert len(cells) >= 4
    for cell in cells:
        assert cell.strip() in script, cell


def test_two_axes_on_one_field_and_a_huge_range_are_refused(tmp_path: Path) -> None:
    p = sweep_file(tmp_path, '[[axis]]\npath = "group.0.limit"\nvalues = ["16M"]\n'
                             '[[axis]]\npath = "group[parent].limit"\nvalues = ["32M"]\n')
    code, _, err = cli("sweep", str(p))
    assert code == 2, err
    assert f"{p}:6: axis 'group[parent].limit' moves the field axis 'group.0.limit' already " \
        "moves (line 3); one axis per field" in err
    p = sweep_file(tmp_path, '[[axis]]\npath = "cpus"\nrange = {from = 1, to = 1000000000000}\n')
    code, _, err = cli("sweep", str(p))
    assert code == 2 and "range: 1,000,000,000,000 values; at most 100,000" in err


def test_a_renamed_axis_is_computed_again_not_shown_under_old_labels(tmp_path: Path) -> None:
    import memcglab

    p = sweep_file(tmp_path, SMALL)
    out = tmp_path / "o"
    assert cli("sweep", str(p), "--out", str(out), "--jobs", "1")[0] == 0
    p.write_text(p.read_text().replace("group[parent].limit", "group.0.limit"))
    code, text, err = cli("sweep", str(p), "--out", str(out), "--jobs", "1", "--json")
    assert code == 0, err
    doc = json.loads(text)
    assert doc["computed"] == 8 and doc["status"]["stale"] == 8
    assert all(r["group.0.limit"] in ("16M", "32M") for r in doc["summary"])
    cells = memcglab.results(out)  # the sweep last run there, not the stale files
    assert len(cells) == 8 and "group[parent].limit" not in cells.columns


def test_plot_axes(tmp_path: Path) -> None:
    body = ('kernels = ["3.7", "6.18"]\n[[axis]]\npath = "duration"\nvalues = ["20ms"]\n'
            '[[axis]]\npath = "kswapd"\nvalues = [true, false]\n[plot]\nx = "kernel"\n')
    code, _, err = cli("sweep", str(sweep_file(tmp_path, body)), "--out",
                       str(tmp_path / "o"), "--jobs", "1", "--plot-y",
                       "iterator.walks_completed")
    assert code == 0, err
    assert len(list((tmp_path / "o" / "plots").glob("*.png"))) == 1
    rows = _rows(tmp_path / "o")
    assert {r["kswapd"] for r in rows.values()} == {"true", "false"}
    assert {r["kswapd:value"] for r in rows.values()} == {None}  # categories, not a scale
    code, _, err = cli("sweep", str(sweep_file(tmp_path, '[plot]\nx = "seed"\n')))
    assert code == 2 and "plot.x 'seed': not an axis of this sweep; valid: variant" in err


def test_a_results_folder_that_cannot_hold_cells(tmp_path: Path) -> None:
    p = sweep_file(tmp_path, SMALL)
    out = tmp_path / "o"
    assert cli("sweep", str(p), "--out", str(out), "--jobs", "1")[0] == 0
    __import__("shutil").rmtree(out / "cells")
    (out / "cells").write_text("in the way")
    code, _, err = cli("sweep", str(p), "--out", str(out), "--status")
    assert code == 2 and "cannot read cells/" in err, err
    code, _, err = cli("sweep", str(p), "--out", str(out))
    assert code == 2 and "cannot write into cells/ there" in err, err
    assert (out / "cells").read_text() == "in the way"


def test_api_input_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import memcglab

    with pytest.raises(ConfigError, match="expected a scenario file's path, TOML text, a dict"):
        memcglab.run(5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"memcglab.run\(variant=...\): unknown variant"):
        memcglab.run(FLAT, variant="nope")
    monkeypatch.chdir(tmp_path)
    spec = {"sweep": {"base": str(FLAT)}, "axis": [{"path": "duration", "values": ["20ms"]}]}
    with pytest.raises(ConfigError, match=r"memcglab.sweep\(jobs=...\): expected 1 to 1024, "
                                          "got -3"):
        memcglab.sweep(spec, jobs=-3)
    with pytest.raises(ConfigError, match="ray: expected True, False or a cluster's address"):
        memcglab.sweep(spec, ray=1)  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())
    assert memcglab.sweep(spec, jobs=1).path == tmp_path / "sweep-sweep"


def _die(job: Any) -> Any:
    os._exit(9)  # a worker killed (as by the OOM killer) in the middle of a cell


def test_a_dead_pool_worker_is_an_error_that_keeps_what_was_written(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from memcglab.errors import MemcglabError
    from memcglab.grid import executors
    from memcglab.grid.cells import Job

    sw = load_sweep(ROOT / "examples" / "sweeps" / "limit-fairness.toml")
    jobs = [Job(str(i), c.source, c.plan) for i, c in enumerate(sw.cells[:4])]
    monkeypatch.setattr(executors, "run_job", _die)
    written: list[Any] = []
    with pytest.raises(MemcglabError, match="a worker of the local pool died"):
        executors.run_pool(jobs, written.append, lambda m: None, 2)
    assert written == []


def test_bases_with_groups_in_other_orders(tmp_path: Path) -> None:
    other = tmp_path / "other.toml"  # a group before "parent"
    other.write_text('seed = 42\n[[group]]\nname = "x"\n[[group]]\nname = "parent"\n'
                     'limit = "64M"\n'
                     '[[group]]\nname = "a"\nparent = "parent"\n[[workload]]\ngroup = "a"\n'
                     'pattern = "stream"\nsize = "8M"\nrate = "100M"\n')
    p = tmp_path / "s.toml"
    p.write_text(f'[sweep]\nbase = ["{FLAT}", "{other}"]\n'
                 '[[axis]]\npath = "group[parent].limit"\nvalues = ["16M"]\n'
                 '[[axis]]\npath = "duration"\nvalues = ["20ms"]\n')
    sw = load_sweep(p)
    # group "parent" is the first [[group]] of one base and the second of the other
    names = [[c.plan.topology.name(g) for g in range(c.plan.topology.size)] for c in sw.cells]
    assert names[0].index("parent") == 1 and names[1].index("parent") == 2
    assert [c.plan.limits[n.index("parent")] for c, n in zip(sw.cells, names, strict=True)] \
        == [4096, 4096]
    p.write_text(p.read_text() + '[[axis]]\npath = "group.1.limit"\nvalues = ["8M"]\n')
    code, _, err = cli("sweep", str(p))
    assert code == 2 and "moves the field axis 'group[parent].limit' already moves (line 3) " \
        "in other.toml" in err, err


def test_size_and_duration_axes_are_numbers_and_zipped_paths_one_line(tmp_path: Path) -> None:
    sw = load_sweep(sweep_file(tmp_path, '[[axis]]\npath = "duration"\nvalues = ["20ms"]\n'
                                         '[[axis]]\npaths = ["workload.0.size", "workload.1.'
                                         'size"]\nvalues = [["8M", "8M"], ["16M", "16M"]]\n'))
    assert [a.kinds for a in sw.axes] == [("duration",), ("size", "size")]
    code, _, err = cli("sweep", str(sweep_file(tmp_path, '[[axis]]\npath = "duration"\n'
                                                         'values = ["20ms", "40ms"]\n')),
                       "--out", str(tmp_path / "o"), "--jobs", "1")
    assert code == 0, err
    rows = _rows(tmp_path / "o")
    assert {r["duration:value"] for r in rows.values()} == {20e6, 40e6}
    assert all(r["code"] != "0.1.0" and len(r["code"]) == 12 for r in rows.values())
