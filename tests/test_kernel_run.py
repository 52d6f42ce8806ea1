"""``memcglab kernel run`` / ``cleanup`` / ``compare --kernel``: the plan of a live run, the
refusals (injected machines), and live runs on this machine's kernel (root and a cgroup v1
memory controller; skipped with the reason elsewhere)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from memcglab.live import liveplan, session, state
from memcglab.live.probe import Probe, Swap, Zram, gather
from memcglab.live.runner import Options
from memcglab.scenario.sim_scenario import load
from tests.conftest import cli

HERE = Path(__file__).resolve().parent
LIVE = HERE / "live"
V1 = Path("/sys/fs/cgroup/memory")


def _probe(**kw: object) -> Probe:
    base = Probe(euid=0, memory_v1_enabled=True, memory_v1_hierarchy=4,
                 memory_v1_mount=str(V1), cgroup_v2_mount=None, cgroup_v2_controllers=(),
                 tracefs_in_kernel=True, tracefs_mount=None, tracefs_events=(),
                 kprobe_events=None, bpftrace=None, zram=(Zram("zram0", 0),),
                 mem_available_kb=8 << 20)
    return replace(base, **kw)  # type: ignore[arg-type]


# -- the live plan (pure) -------------------------------------------------------------------


def test_live_plan_maps_groups_timeline_and_seeds() -> None:
    plan = load(LIVE / "nested.toml")
    lp = liveplan.live_plan(plan)
    assert [(g.name, g.rel) for g in lp.groups] == [
        ("root", ""), ("top", "top"), ("web", "top/web"), ("fe", "top/web/fe"),
        ("batch", "top/batch"), ("tmp", "top/tmp"), ("late", "top/late")]
    assert lp.group("top").max == 24 << 20 and lp.group("fe").max is None
    assert lp.group("tmp").removed_ns == 400_000_000
    assert lp.group("late").created_ns == 450_000_000
    # mkdir and start before stop and rmdir; times in order
    assert [(t // 1_000_000, a, s) for t, _, a, s in lp.timeline] == [
        (0, "start", "w0.p0"), (0, "start", "w1.p0"), (0, "start", "w2.p0"),
        (350, "stop", "w2.p0"), (400, "rmdir", "tmp"), (450, "mkdir", "late"),
        (500, "start", "w3.p0")]
    # the simulator's per-process seeds and touch intervals (sim/engine.py)
    w = plan.workloads[3]
    p = lp.processes[3]
    assert p.interval_ns == w.interval_ns and p.pages == w.pages
    assert p.seed == (plan.seed * 1_000_003 + 3 * 7919 + 1) & ((1 << 64) - 1)
    assert lp.sample_ns == liveplan.MIN_SAMPLE_NS  # 10ms asked, 20ms is the floor
    assert any(d.startswith("sample_interval = 10ms: the live run samples the counters "
                            "every 20ms") for d in liveplan.differences(plan, 1, 4, False))
    # a stream's file is only as long as the run can read (plus readahead's reach)
    batch = lp.processes[1]
    assert batch.file_bytes == min(batch.pages * 4096,
                                   (900_000_000 // batch.interval_ns + 1) * 4096
                                   + liveplan.READAHEAD_MARGIN)
    assert lp.processes[3].file_bytes == lp.processes[3].pages * 4096  # random: all of it


def test_memory_need_is_the_limit_or_the_sizes_plus_workers() -> None:
    lp = liveplan.live_plan(load(LIVE / "nested.toml"))
    # top is limited to 24M although its workloads touch 24+64+32+16M
    assert liveplan.memory_need(lp) == (24 << 20) + 4 * liveplan.WORKER_OVERHEAD


def test_differences_name_what_the_kernel_cannot_do(tmp_path: Path) -> None:
    body = ('[[workload]]\ngroup = "a"\npattern = "loop"\nsize = "4M"\nrate = "1M"\n')
    f = tmp_path / "s.toml"
    f.write_text('kswapd = false\n[machine]\nswap = true\n'
                 '[[group]]\nname = "a"\nhigh = "8M"\n' + body)
    plan = load(f)  # kernel 6.18, cgroup v2
    v1 = "\n".join(liveplan.differences(plan, 1, 2, swap_for_anon=False))
    assert "kswapd = false" in v1 and "machine.swap = true" in v1
    assert "group 'a': high: memory.high is cgroup v2 only" in v1
    assert "cgroup = 'v2': the machine's memory controller is cgroup v1" in v1
    assert "no group has a limit" in v1 and "kernel = " not in v1
    assert "cpus = 4: the machine has 2 CPUs" in v1
    f.write_text('kernel = "3.7"\n[[group]]\nname = "a"\nsoft_limit = "4M"\n'
                 '[[group]]\nname = "b"\nuse_hierarchy = false\n' + body)
    plan = load(f)  # kernel 3.7, cgroup v1
    v2 = "\n".join(liveplan.differences(plan, 2, 4, swap_for_anon=True))
    assert "soft_limit: v1 only" in v2 and "memory.high" not in v2 and "cpus" not in v2
    assert "use_hierarchy = false" in v2 and "kernel = '3.7'" in v2


# -- refusals (pure preflight, and the CLI with an injected machine) ------------------------


def _preflight(probe: Probe, scenario: Path = LIVE / "flat.toml", budget: int | None = None,
               **opts: object) -> list[str]:
    plan = load(scenario)
    return session.preflight(plan, liveplan.live_plan(plan), probe,
                             Options(workdir=Path("/var/tmp/x"), **opts),  # type: ignore[arg-type]
                             budget)


def test_preflight_names_every_missing_requirement(tmp_path: Path) -> None:
    assert _preflight(_probe()) == []
    out = _preflight(_probe(euid=1000, memory_v1_mount=None))
    assert len(out) == 2
    assert out[0].startswith("root:") and "effective uid 1000" in out[0]
    assert out[1].startswith("memory controller:")
    assert "memory: the groups and workers may hold up to" in _preflight(_probe(),
                                                                         budget=1 << 20)[0]
    anon = tmp_path / "anon.toml"
    anon.write_text('[[group]]\nname = "a"\nlimit = "8M"\n[[workload]]\ngroup = "a"\n'
                    'pattern = "loop"\ntype = "anon"\nsize = "16M"\nrate = "1M"\n')
    msg = _preflight(_probe(), anon)
    assert len(msg) == 1 and "give --zram SIZE" in msg[0]
    assert _preflight(_probe(), anon, zram_bytes=64 << 20) == []
    assert _preflight(_probe(swaps=(Swap("/dev/x", "partition", 1024),)), anon) == []
    busy = _probe(zram=(Zram("zram0", 1 << 20),))
    assert "no free zram device" in _preflight(busy, anon, zram_bytes=64 << 20)[0]
    v2 = _probe(memory_v1_mount=None, cgroup_v2_mount="/sys/fs/cgroup",
                cgroup_v2_controllers=("memory",))
    nested = tmp_path / "inner.toml"
    nested.write_text('[[group]]\nname = "a"\nlimit = "8M"\n[[group]]\nname = "b"\n'
                      'parent = "a"\n[[workload]]\ngroup = "a"\npattern = "loop"\n'
                      'size = "4M"\nrate = "1M"\n')
    assert "no-internal-process rule" in _preflight(v2, nested)[0]
    assert _preflight(_probe(), nested) == []  # v1 allows it


def test_cli_refuses_without_root_or_memory_controller_and_makes_nothing(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MEMCGLAB_STATE_DIR", str(tmp_path / "state"))
    fake = _probe(euid=1000, memory_v1_mount=None)
    monkeypatch.setattr("memcglab.cli.kernel_cmd.gather", lambda **_: fake)
    code, out, err = cli("kernel", "run", str(LIVE / "flat.toml"), "--workdir",
                         str(tmp_path / "w"), "--out", str(tmp_path / "o"))
    assert code == 2, err
    assert "kernel run cannot start on this machine" in err
    assert "- root:" in err and "- memory controller:" in err
    assert out == ""
    assert not (tmp_path / "state").exists() and not (tmp_path / "w").exists()
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("argv,msg", [
    (["--repeat", "0"], "--repeat: expected 1 to 100, got 0"),
    (["--zram", "1M"], "--zram '1M': expected at least 16M"),
    (["--zram", "lots"], "--zram 'lots'"),
    (["--force"], "--force: only has a meaning with --out DIR"),
])
def test_cli_bad_flags(argv: list[str], msg: str) -> None:
    code, _, err = cli("kernel", "run", str(LIVE / "flat.toml"), *argv)
    assert code == 2 and msg in err, err


def test_compare_live_flags_need_kernel() -> None:
    code, _, err = cli("compare", str(LIVE / "flat.toml"), "--variants", "css-id,seed-spinlock",
                       "--repeat", "2")
    assert code == 2 and "--repeat: only with --kernel" in err
    code, _, err = cli("compare", str(LIVE / "flat.toml"), "--variants", "css-id",
                       "--kernel-result", "x")
    assert code == 2 and "--kernel-result: only with --kernel" in err
    code, _, err = cli("compare", str(LIVE / "flat.toml"), "--variants", "css-id,seed-spinlock",
                       "--model-seeds", "3")
    assert code == 2 and "--model-seeds: only with --kernel" in err


# -- state file and cleanup (no root needed for these) ---------------------------------------


def test_state_file_refuses_names_that_are_not_its_own(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    monkeypatch.setenv("MEMCGLAB_STATE_DIR", str(tmp_path))
    st = state.RunState("r1", state.Proc.of(os.getpid(), "memcglab"))
    st.cgroup_parent = "memcglab-r1"
    st.save()
    assert state.RunState.load(st.path).cgroup_parent == "memcglab-r1"
    raw = json.loads(st.path.read_text())
    raw["cgroup_parent"] = "system.slice"
    st.path.write_text(json.dumps(raw))
    with pytest.raises(Exception, match="refusing to touch it"):
        state.RunState.load(st.path)


def test_a_reused_pid_is_not_the_process_that_was_recorded() -> None:
    me = state.Proc.of(os.getpid(), "memcglab")
    assert me.alive()
    assert not state.Proc(os.getpid(), me.start + 1, "memcglab").alive()


# -- live runs -------------------------------------------------------------------------------


def _live_skip() -> str | None:
    if os.geteuid() != 0:
        return "needs root (kernel run creates cgroups and enables tracing)"
    if not (V1 / "memory.limit_in_bytes").exists():
        return "needs the cgroup v1 memory controller at /sys/fs/cgroup/memory"
    return None


live = pytest.mark.skipif(_live_skip() is not None, reason=_live_skip() or "")


def _nothing_left(state_dir: Path, run_id: str) -> None:
    """Nothing of that run is left (other runs may be going on: only its own names)."""
    assert not (V1 / f"memcglab-{run_id}").exists(), "the run's cgroup was left"
    assert not Path(f"/sys/fs/cgroup/unified/memcglab-{run_id}").exists(), \
        "its PSI mirror was left"
    assert not Path(f"/sys/kernel/tracing/instances/memcglab-{run_id}").exists(), \
        "its tracefs instance was left"
    assert not list(state_dir.glob("*.json")), "a state file was left"


def _kernel_run(tmp_path: Path, scenario: str, *extra: str) -> dict[str, object]:
    code, out, err = cli("kernel", "run", str(LIVE / scenario), "--json", "--workdir",
                         str(tmp_path / "work"), "--out", str(tmp_path / "out"), *extra)
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def _spy_samples(monkeypatch: pytest.MonkeyPatch) -> list[list[object]]:
    """The counter samples of each repetition, as the runner read them."""
    captured: list[list[object]] = []
    real = session.metrics_of

    def spy(plan, lp, res, diffs, repeat):  # type: ignore[no-untyped-def]
        captured.append(res.samples)
        return real(plan, lp, res, diffs, repeat)

    monkeypatch.setattr(session, "metrics_of", spy)
    return captured


@live
def test_flat_limit_reclaim_end_to_end(monkeypatch: pytest.MonkeyPatch,
                                       tmp_path: Path) -> None:
    monkeypatch.setenv("MEMCGLAB_STATE_DIR", str(tmp_path / "state"))
    captured = _spy_samples(monkeypatch)
    m = _kernel_run(tmp_path, "flat.toml")
    # the limited parent's page counter never above its limit, and it did reach it
    husage = [s.husage["parent"] for s in captured[0]]  # type: ignore[attr-defined]
    assert husage and max(husage) <= 16 << 20 and max(husage) > 12 << 20, husage
    groups = {g["name"]: g for g in m["groups"]}  # type: ignore[attr-defined]
    assert m["measured"] == "kernel"
    # every sample: the limited parent's counter never above its limit
    runs = json.loads((tmp_path / "out" / "runs.json").read_text())
    assert len(runs) == 1
    for g in ("a", "b"):  # every group under the limit was reclaimed from
        assert groups[g]["visits"] > 0 and groups[g]["reclaimed"] > 0, groups[g]
    assert groups["parent"]["peak_usage_pages"] is not None
    rec = m["recording"]  # type: ignore[index]
    assert rec["tracefs"] is True
    assert m["lost_events"] == 0
    import pyarrow.parquet as pq  # type: ignore[import-untyped]
    visits = pq.read_table(tmp_path / "out" / "visits.parquet").to_pylist()
    assert visits and {v["group"] for v in visits} == {"a", "b"}
    if rec["bpftrace"]:
        # the recorded reclaim root is the limited parent, for every visit bpftrace saw
        # (a tracefs record bpftrace did not see has no root: "?"; counted and reported)
        unjoined = rec["bpftrace_unjoined"]
        roots = [v["root"] for v in visits]
        assert set(roots) - {"?"} == {"parent"}, roots
        assert roots.count("?") <= max(2, len(roots) // 20), (roots.count("?"), unjoined)
        assert m["iterator"]["walks_completed"] > 0  # type: ignore[index]
    # machine counters over the run: the limit reclaim shows in /proc/vmstat, and memory
    # PSI per group (a v2 mirror on this hybrid machine) where PSI is on
    vm = m["vmstat"]  # type: ignore[index]
    assert sum(v for k, v in vm.items() if k.startswith("pgsteal")) > 0, vm
    if Path("/proc/pressure/memory").exists() and Path("/sys/fs/cgroup/unified").is_dir():
        assert {"a", "b", "(machine)"} <= set(m["pressure"]), m["pressure"]  # type: ignore[index]
    series = (tmp_path / "out" / "timeseries.csv").read_text().splitlines()
    assert series[0] == "rep,t_ms,group,usage_pages,scanned,reclaimed,visits,first_visits"
    _nothing_left(tmp_path / "state", rec["run_id"])


@live
def test_usage_never_above_the_limit_and_groups_come_and_go(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MEMCGLAB_STATE_DIR", str(tmp_path / "state"))
    captured = _spy_samples(monkeypatch)
    m = _kernel_run(tmp_path, "nested.toml")
    samples: list[Any] = captured[0]
    limit = 24 << 20
    assert samples and all(s.husage["top"] <= limit for s in samples if "top" in s.husage)
    assert any(s.husage.get("top", 0) > limit // 2 for s in samples)  # it did fill up
    # tmp existed before 400ms and not after; late only after 450ms
    assert any("tmp" in s.usage for s in samples)
    assert all("tmp" not in s.usage for s in samples if s.t_ns > 450_000_000)
    assert all("late" not in s.usage for s in samples if s.t_ns < 440_000_000)
    assert any("late" in s.usage for s in samples)
    events = [e[1:] for e in m["recording"]["events"]]  # type: ignore[index]
    assert ["rmdir", "tmp"] in events and ["mkdir", "late"] in events
    groups = {g["name"]: g for g in m["groups"]}  # type: ignore[attr-defined]
    assert groups["batch"]["reclaimed"] > 0 and groups["fe"]["visits"] > 0
    import pyarrow.parquet as pq  # type: ignore[import-untyped]
    visits = pq.read_table(tmp_path / "out" / "visits.parquet").to_pylist()
    if m["recording"]["bpftrace"]:  # type: ignore[index]
        roots = [v["root"] for v in visits]  # "?": not joined with bpftrace (reported)
        assert set(roots) - {"?"} == {"top"}
        assert roots.count("?") <= len(roots) // 20
    _nothing_left(tmp_path / "state", m["recording"]["run_id"])  # type: ignore[index]


def _default_sigint() -> None:
    # As from a terminal: a test run started in the background (where SIGINT is ignored,
    # and stays ignored in children) must still be able to send the run a Ctrl-C.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _spawn_run(tmp_path: Path, duration: str) -> subprocess.Popen[str]:
    env = {**os.environ, "MEMCGLAB_STATE_DIR": str(tmp_path / "state")}
    return subprocess.Popen(
        [sys.executable, "-m", "memcglab", "kernel", "run", str(LIVE / "flat.toml"),
         "--duration", duration, "--workdir", str(tmp_path / "work")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_default_sigint)


def _wait_for_workers(tmp_path: Path, timeout: float = 30) -> state.RunState:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in (tmp_path / "state").glob("*.json"):
            st = state.RunState.load(p)
            if sum(1 for x in st.procs if x.what == "worker") == 2 and (
                    V1 / st.cgroup_parent / "parent" / "a").exists():
                time.sleep(1.5)  # recording has started and the timeline runs
                return state.RunState.load(p)
        time.sleep(0.05)
    raise AssertionError("the run did not get going")


@live
def test_kill_9_then_cleanup_leaves_nothing(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.setenv("MEMCGLAB_STATE_DIR", str(tmp_path / "state"))
    proc = _spawn_run(tmp_path, "20s")
    try:
        st = _wait_for_workers(tmp_path)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert (V1 / st.cgroup_parent).exists()  # left behind by the killed run
        code, out, err = cli("kernel", "cleanup", "--dry-run")
        assert code == 0, out + err
        assert f"would remove: remove cgroup {V1 / st.cgroup_parent}" in out
        assert (V1 / st.cgroup_parent).exists()  # a dry run removes nothing
        code, out, err = cli("kernel", "cleanup")
        assert code == 0, out + err
        assert f"removed: remove cgroup {V1 / st.cgroup_parent}" in out
        assert not (V1 / st.cgroup_parent).exists()
        assert all(not p.alive() for p in st.procs)
        assert not (tmp_path / "work" / f"memcglab-{st.run_id}").exists()
        _nothing_left(tmp_path / "state", st.run_id)
        code, out, _ = cli("kernel", "cleanup")
        assert code == 0 and "nothing to clean up" in out
    finally:
        if proc.poll() is None:
            proc.kill()
        cli("kernel", "cleanup")


@live
@pytest.mark.parametrize("signals,status", [
    ((signal.SIGTERM,), 143), ((signal.SIGINT,), 130), ((signal.SIGHUP,), 129),
    # a second Ctrl-C right after the first lands in the teardown: it must wait for it
    ((signal.SIGINT, signal.SIGINT), 130),
    # the Ctrl-C held back during teardown is delivered after it: either status is right
    ((signal.SIGTERM, signal.SIGINT), 0)])
def test_signals_clean_up_on_the_way_out(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                         signals: tuple[signal.Signals, ...],
                                         status: int) -> None:
    monkeypatch.setenv("MEMCGLAB_STATE_DIR", str(tmp_path / "state"))
    proc = _spawn_run(tmp_path, "20s")
    try:
        st = _wait_for_workers(tmp_path)
        for i, sig in enumerate(signals):
            if i:
                time.sleep(0.01)
            proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == status or (not status and proc.returncode in (130, 143)), err
        assert "Traceback" not in err
        assert not (V1 / st.cgroup_parent).exists()
        assert all(not p.alive() for p in st.procs)
        assert not Path(st.workdir).exists()
        _nothing_left(tmp_path / "state", st.run_id)
    finally:
        if proc.poll() is None:
            proc.kill()
        cli("kernel", "cleanup")


def test_cleanup_kills_only_what_it_recorded(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    d = tmp_path / "state"
    monkeypatch.setenv("MEMCGLAB_STATE_DIR", str(d))
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        dead = subprocess.Popen(["true"])
        dead.wait()
        st = state.RunState("r2", state.Proc(dead.pid, 1, "memcglab"))  # owner gone
        st.procs.append(state.Proc.of(sleeper.pid, "worker"))  # not a worker: never killed
        st.save()
        assert not st.procs[0].is_what_it_was()
        if os.geteuid() != 0:
            pytest.skip("kernel cleanup needs root")
        code, out, _ = cli("kernel", "cleanup")
        assert code == 2
        assert f"pid {sleeper.pid}: recorded as the run's worker, but its command line" in out
        assert sleeper.poll() is None  # still running
        assert st.path.exists()  # something was not undone: the state file stays
        d.chmod(0o777)
        code, _, err = cli("kernel", "cleanup")
        assert code == 2 and "no one else can write" in err
    finally:
        sleeper.kill()
        sleeper.wait()


def test_worker_problems_and_refused_workdirs() -> None:
    from memcglab.errors import LiveError
    from memcglab.live import workfiles
    probs = session.worker_problems([
        {"key": "w0.p0", "group": "a", "returncode": 0},
        {"key": "w1.p0", "group": "b", "returncode": -9},
        {"key": "w2.p0", "group": "c", "returncode": 1, "error": "boom"}])
    assert probs == ["worker w1.p0 of group 'b' ended early: exit status -9 (killed: a memcg "
                     "OOM kill?)", "worker w2.p0 of group 'c' ended early: boom"]
    with pytest.raises(LiveError, match=r"is on proc .*not a disk file system"):
        workfiles.check_space(Path("/proc/memcglab-nope"), 1)


def test_probe_of_this_machine_agrees_with_the_live_marker() -> None:
    # the live tests' skip reason and the probe say the same thing about this machine
    p = gather()
    assert (p.root and p.memory_controller == "v1") == (_live_skip() is None) or (
        p.memory_controller == "v2")


# -- compare --kernel from a recorded kernel run (no root needed) ----------------------------

FIXTURE = HERE / "fixtures" / "kernel-runs" / "flat"  # kernel run --repeat 3 of live/flat.toml


def test_compare_kernel_from_a_recorded_run(tmp_path: Path) -> None:
    code, out, err = cli("compare", "--kernel", str(LIVE / "flat.toml"), "--variants",
                         "css-id,seed-spinlock", "--kernel-result", str(FIXTURE), "--json",
                         "--out", str(tmp_path / "cmp"))
    assert code == 0, err
    doc = json.loads(out)
    runs = json.loads((FIXTURE / "runs.json").read_text())
    assert doc["kernel"]["runs"] == len(runs) == 3
    # the kernel's side is the mean of the recorded repetitions
    shares = [next(g for g in r["groups"] if g["name"] == "a")["reclaim_share"] for r in runs]
    mean = doc["kernel"]["spread"]["reclaim_share"]["a"]["mean"]
    assert mean == pytest.approx(sum(shares) / 3, abs=1e-4)
    for v in ("css-id", "seed-spinlock"):
        d = doc["divergence"][v]
        assert 0 < d["score"] <= 1
        present = [x for x in d["components"].values() if x is not None]
        assert d["score"] == pytest.approx(sum(present) / len(present), abs=1e-3)
        assert doc["models"][v]["visit_order"]["pairs"] > 0
    assert {p.name for p in (tmp_path / "cmp").iterdir()} == {
        ".memcglab-output", "compare.json", "shares.png", "report.html"}
    code, text, err = cli("compare", "--kernel", str(LIVE / "flat.toml"), "--variants",
                          "css-id", "--kernel-result", str(FIXTURE))
    assert code == 0, err
    spread = doc["kernel"]["spread"]["reclaim_share"]["a"]
    assert "divergence score (0 = same)" in text
    assert f"{spread['mean']:.3f} ± {spread['stdev']:.3f}" in text


def test_compare_kernel_refuses_a_result_of_another_scenario(tmp_path: Path) -> None:
    code, _, err = cli("compare", "--kernel", str(LIVE / "nested.toml"), "--variants",
                       "css-id", "--kernel-result", str(FIXTURE))
    assert code == 2 and "recorded for another scenario" in err
    code, _, err = cli("compare", "--kernel", str(LIVE / "flat.toml"), "--variants",
                       "css-id", "--kernel-result", str(tmp_path))
    assert code == 2 and "cannot read runs.json" in err


# -- cgroup v2: kernel run's cgroup side against a fixture tree ------------------------------


def test_v2_hierarchy_and_limits_are_written_as_v2_files(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    import shutil

    from memcglab.live.runner import LiveRun
    mount = tmp_path / "cg2"
    shutil.copytree(HERE / "fixtures" / "cgroup-v2", mount,
                    ignore=shutil.ignore_patterns("README.md"))
    scen = tmp_path / "v2.toml"
    scen.write_text('[[group]]\nname = "top"\nlimit = "64M"\nhigh = "48M"\n'
                    '[[group]]\nname = "a"\nparent = "top"\nlow = "8M"\nmin = "4M"\n'
                    '[[workload]]\ngroup = "a"\npattern = "loop"\nsize = "4M"\nrate = "1M"\n')
    plan = load(scen)
    probe = _probe(memory_v1_mount=None, cgroup_v2_mount=str(mount),
                   cgroup_v2_controllers=("cpu", "io", "memory", "pids"))
    st = state.RunState("v2test", state.Proc.of(os.getpid(), "memcglab"))
    run = LiveRun(plan, liveplan.live_plan(plan), probe, Options(workdir=tmp_path), st)
    monkeypatch.setenv("MEMCGLAB_STATE_DIR", str(tmp_path / "state"))
    run._cgroups()  # no teardown: the fake tree cannot be rmdir'ed like kernfs
    parent = mount / "memcglab-v2test"
    assert (parent / "cgroup.subtree_control").read_text().strip() == "+memory"
    assert (parent / "top" / "memory.max").read_text().strip() == str(64 << 20)
    assert (parent / "top" / "memory.high").read_text().strip() == str(48 << 20)
    assert (parent / "top" / "cgroup.subtree_control").read_text().strip() == "+memory"
    assert (parent / "top" / "a" / "memory.low").read_text().strip() == str(8 << 20)
    assert (parent / "top" / "a" / "memory.min").read_text().strip() == str(4 << 20)
    assert not (parent / "top" / "a" / "memory.soft_limit_in_bytes").exists()
    assert st.cgroup_version == 2 and st.cgroup_parent == "memcglab-v2test"
    assert set(run.ids.values()) == {"root", "top", "a"}


def _free_zram() -> bool:
    return any(p.read_text().strip() == "0" for p in Path("/sys/block").glob("zram*/disksize")
               ) and not Path("/proc/swaps").read_text().strip().count("\n")


@live
@pytest.mark.skipif(not _free_zram(), reason="needs a free zram device and no swap on")
def test_anon_workload_swaps_to_zram_set_up_for_the_run(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    monkeypatch.setenv("MEMCGLAB_STATE_DIR", str(tmp_path / "state"))
    code, _, err = cli("kernel", "run", str(LIVE / "anon.toml"), "--workdir",
                       str(tmp_path / "work"))
    assert code == 2 and "give --zram SIZE" in err  # no swap: refused, nothing made
    assert not list((tmp_path / "state").glob("*.json"))
    m = _kernel_run(tmp_path, "anon.toml", "--zram", "64M")
    groups = {g["name"]: g for g in m["groups"]}  # type: ignore[attr-defined]
    assert groups["x"]["reclaimed"] > 0, groups["x"]  # anon pages went to swap
    assert m["vmstat"].get("pswpout", 0) > 0  # type: ignore[attr-defined]
    # the swap is gone with the run
    assert Path("/proc/swaps").read_text().strip().count("\n") == 0
    assert all(p.read_text().strip() == "0" for p in Path("/sys/block").glob("zram*/disksize"))
    _nothing_left(tmp_path / "state", m["recording"]["run_id"])  # type: ignore[index]


@pytest.mark.parametrize("argv", [["kernel"], ["kernel", "probe"], ["kernel", "run"],
                                  ["kernel", "cleanup"], ["compare"], ["run"], ["check"],
                                  ["demo"]])
def test_every_help_text_prints(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(*argv, "--help")  # argparse prints help on sys.stdout itself
    assert code == 0 and "usage: memcglab" in capsys.readouterr().out, err


@live
def test_a_workdir_others_can_write_is_refused(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setenv("MEMCGLAB_STATE_DIR", str(tmp_path / "state"))
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    code, _, err = cli("kernel", "run", str(LIVE / "flat.toml"), "--workdir", str(shared))
    assert code == 2 and "no one else can write" in err, err
    assert list(shared.iterdir()) == [] and not list((tmp_path / "state").glob("*"))
    made = tmp_path / "new" / "work"
    from memcglab.live import workfiles
    workfiles.check_workdir(made)  # made, private
    assert made.stat().st_mode & 0o777 == 0o700


def test_warnings_name_every_repetition() -> None:
    from memcglab.report.kernel_report import run_warnings
    runs = [{"worker_problems": [], "memcg_ooms": 0},
            {"worker_problems": ["worker w0.p0 of group 'x' ended early: exit status -9"],
             "memcg_ooms": 2, "recording": {"tracefs_left_mounted": True}}]
    w = run_warnings(runs)
    assert w[0] == "repetition 2: worker w0.p0 of group 'x' ended early: exit status -9"
    assert w[1].startswith("repetition 2: memcg OOM kills during the run: 2")
    assert w[2].startswith("repetition 2: tracefs stays mounted")
    assert run_warnings(runs[:1]) == []
