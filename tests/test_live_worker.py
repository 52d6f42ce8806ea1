"""The live workload worker (``python -m memcglab.live.worker``), run for real (no root
needed): its page sequences against the simulator's, the ready/go protocol, rate pacing,
signals, anon and file touches, readahead advice; and the work files it reads
(``memcglab.live.workfiles``: prepare, evict, remove, the refusals)."""

from __future__ import annotations

import json
import mmap
import os
import signal
import subprocess
import sys
import time
from itertools import islice
from pathlib import Path
from typing import Any

import pytest

from memcglab.errors import LiveError
from memcglab.live import worker as w
from memcglab.live import workfiles as wf

ROOT = Path(__file__).resolve().parent.parent
PAGE = 4096


# -- the page sequences are the simulator's ----------------------------------------------

def _sim_indices(pattern: str, pages: int, seed: int, n: int) -> list[int]:
    """Drive the simulator's own process generator: every access finds its page (True), so
    no fault path (and no kernel context) is needed."""
    from collections.abc import Generator

    from memcglab.runtime.ops import Kind, Op
    from memcglab.sim.eras import UserEntry
    from memcglab.sim.workloads import ProcessSpec, process

    spec = ProcessSpec(memcg=1, pattern=pattern, anon=False, pages=pages, interval_ns=1,
                       start_ns=0, stop_ns=1 << 62, mapping=0, seed=seed, zones=(0,),
                       may_swap=False)

    def touch(index: int) -> Generator[Op, Any, None]:
        yield Op(Kind.ACCESS, 0, index)

    gen = process(spec, UserEntry(touch, None, None, lambda: False, [0]))
    out: list[int] = []
    op = next(gen)
    now = 0
    while len(out) < n:
        if op.kind == Kind.ACCESS:
            out.append(op.b)
            op = gen.send(True)
        else:
            now += 1
            op = gen.send(now)
    return out


def test_lcg_constants_are_the_simulators() -> None:
    from memcglab.sim import workloads

    assert (w.LCG_A, w.LCG_C, w.MASK) == (workloads.LCG_A, workloads.LCG_C, workloads.MASK)


@pytest.mark.parametrize(("pattern", "pages", "seed"), [
    ("random", 1000, 0), ("random", 7, 12345), ("random", 65536, (1 << 64) - 1),
    ("stream", 10, 0), ("loop", 3, 99), ("loop", 1, 0)])
def test_page_indices_match_simulator(pattern: str, pages: int, seed: int) -> None:
    n = 2500
    assert list(islice(w.page_indices(pattern, pages, seed), n)) == _sim_indices(
        pattern, pages, seed, n)


def test_seed_and_interval_match_the_simulations() -> None:
    from memcglab.scenario.sim_scenario import load
    from memcglab.sim.engine import Simulation

    plan = load(ROOT / "scenarios" / "uneven.toml")
    sim = Simulation(plan)
    specs = [t.gen.gi_frame.f_locals["p"] for t in sim.tasks if t.kind == "process"]
    rates = {"stream": 200 << 20, "loop": 60 << 20, "random": 20 << 20}  # uneven.toml
    assert len(specs) == 4
    for spec in specs:
        assert spec.seed == w.process_seed(plan.seed, spec.mapping)
        assert spec.interval_ns == w.interval_from_rate(rates[spec.pattern])


# -- running the worker --------------------------------------------------------------------

def spawn(spec: dict[str, Any], via_stdin: bool = False) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "memcglab.live.worker"]
    if not via_stdin:
        args.append(json.dumps(spec))
    p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=ROOT)
    if via_stdin:
        assert p.stdin is not None
        p.stdin.write(json.dumps(spec).encode() + b"\n")
        p.stdin.flush()
    return p


def ready(p: subprocess.Popen[bytes]) -> None:
    assert p.stdout is not None
    line = p.stdout.readline()
    assert line == b"ready\n", (line, p.stderr.read() if p.stderr else b"")


def go(p: subprocess.Popen[bytes], text: bytes = b"go\n") -> None:
    assert p.stdin is not None
    p.stdin.write(text)
    p.stdin.flush()


def result(p: subprocess.Popen[bytes], timeout: float = 30) -> dict[str, Any]:
    assert p.stdout is not None
    out, err = p.communicate(timeout=timeout)
    assert p.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert len(lines) == 1, lines
    r: dict[str, Any] = json.loads(lines[0])
    return r


def run(spec: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
    p = spawn(spec)
    ready(p)
    go(p)
    return result(p, timeout)


@pytest.fixture
def disk_dir(tmp_path: Path) -> Path:
    """tmp_path if it is on a disk file system; prepare() refuses tmpfs (and should)."""
    kind, _ = wf.fs_type(tmp_path)
    if kind in wf.MEMORY_FS:
        pytest.skip(f"{tmp_path} is on {kind}; the work-file tests need a disk file system")
    return tmp_path


@pytest.fixture
def small_file(disk_dir: Path) -> Path:
    return wf.prepare(disk_dir / "work", [("f0", 256 * PAGE)])[0]


def file_spec(file: Path, **kw: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"pattern": "stream", "anon": False, "path": str(file),
                            "pages": 256, "rate": 2000 * PAGE, "duration_ns": 200_000_000}
    if "interval_ns" in kw and "rate" not in kw:
        del spec["rate"]
    spec.update(kw)
    return spec


def test_rate_pacing(small_file: Path) -> None:
    # 2000 pages/s for 0.5 s: 1000 touches due (touch k at k * 500 us, k < 1000)
    r = run(file_spec(small_file, duration_ns=500_000_000))
    assert r["due"] == 1000
    assert abs(r["touches"] - 1000) <= 150, r
    assert 0.45e9 <= r["elapsed_ns"] <= 0.75e9, r
    assert r["interval_ns"] == 500_000
    assert r["stopped"] == "duration"
    assert r["busy_fraction"] < 0.5  # it slept most of the time
    # a stream over 256 pages touched 1000 times touches them all, from the page cache
    assert r["distinct"] == 256


@pytest.mark.parametrize("pattern", ["stream", "loop", "random"])
def test_distinct_pages_follow_the_sequence(small_file: Path, pattern: str) -> None:
    # 0.5 s at 3000 pages/s owes 1,500 touches; a loaded CI machine may run far fewer, and
    # the sequence is checked for however many there were (enough to repeat pages)
    r = run(file_spec(small_file, pattern=pattern, seed=7, pages=200, rate=3000 * PAGE,
                      duration_ns=500_000_000))
    assert r["touches"] > 30
    seq = list(islice(w.page_indices(pattern, 200, 7), r["touches"]))
    assert r["distinct"] == len(set(seq))
    assert r["rchar"] >= r["touches"] * PAGE  # every touch is one 4 KiB read


def test_anon_touches_fault_pages_in() -> None:
    r = run({"pattern": "stream", "anon": True, "path": None, "pages": 300,
             "interval_ns": 100_000, "duration_ns": 100_000_000})
    assert r["touches"] >= 300
    assert r["distinct"] == 300
    assert r["minflt"] >= 300  # one fault per new page: the mapping was not populated
    assert r["read_bytes"] in (0, None)


def test_ready_then_nothing_until_go(small_file: Path) -> None:
    p = spawn(file_spec(small_file, duration_ns=100_000_000), via_stdin=True)
    ready(p)
    time.sleep(0.3)
    io = Path(f"/proc/{p.pid}/io").read_text() if os.path.exists(f"/proc/{p.pid}/io") else ""
    rchar = int(io.split("rchar:")[1].split()[0]) if io else 0
    assert rchar < 256 * PAGE  # not a page of the file yet (imports read far less)
    before = time.monotonic_ns()
    go(p)
    r = result(p)
    assert r["t0_ns"] >= before
    assert r["touches"] > 0


def test_go_at_a_given_time(small_file: Path) -> None:
    p = spawn(file_spec(small_file, duration_ns=50_000_000))
    ready(p)
    t = time.monotonic_ns() + 300_000_000
    go(p, f"go {t}\n".encode())
    r = result(p)
    assert r["t0_ns"] == t


def test_sigterm_stops_gracefully(small_file: Path) -> None:
    p = spawn(file_spec(small_file, duration_ns=60_000_000_000, rate=1000 * PAGE))
    ready(p)
    go(p)
    time.sleep(0.4)
    p.send_signal(signal.SIGTERM)
    r = result(p, timeout=10)
    assert r["stopped"] == "signal"
    assert r["elapsed_ns"] < 5e9
    assert 200 <= r["touches"] <= 1000
    assert r["shortfall"] <= 1  # it kept the rate up to the signal


def test_sigterm_before_go() -> None:
    p = spawn({"pattern": "stream", "anon": True, "path": None, "pages": 4, "rate": PAGE,
               "duration_ns": 10_000_000_000})
    ready(p)
    p.send_signal(signal.SIGTERM)
    r = result(p, timeout=10)
    assert (r["touches"], r["due"], r["stopped"]) == (0, 0, "signal")


def test_eof_before_go() -> None:
    p = spawn({"pattern": "stream", "anon": True, "path": None, "pages": 4, "rate": PAGE,
               "duration_ns": 1_000_000})
    ready(p)
    out, err = p.communicate(b"", timeout=10)
    assert p.returncode == 1 and b"before 'go'" in err and out == b""


def test_rate_beyond_the_machine_runs_flat_out() -> None:
    r = run({"pattern": "loop", "anon": True, "path": None, "pages": 64, "interval_ns": 1,
             "duration_ns": 300_000_000})
    assert r["kept_rate"] is False
    assert r["dropped"] > 0 and r["shortfall"] > 0
    assert r["busy_fraction"] > 0.9
    assert r["elapsed_ns"] < 1.5e9  # the debt is bounded: it stops on time
    assert r["touches"] > 10_000


@pytest.mark.parametrize(("spec", "message"), [
    ({"pattern": "zigzag"}, "'pattern'"),
    ({"anon": True, "path": "/x"}, "'path' must be null"),
    ({"path": None}, "needs its file"),
    ({"rate": 4096, "interval_ns": 5}, "exactly one"),
    ({"pages": 0}, "'pages': expected at least 1"),
    ({"pages": True}, "'pages': expected an integer"),
    ({"readahead": "lots"}, "'readahead'"),
    ({"anon": True, "path": None, "readahead": "off"}, "file workloads only"),
    ({"page_size": 2 << 20}, "page_size"),
    ({"bogus": 1}, "unknown keys bogus"),
    ({"path": "/nonexistent/memcglab"}, "No such file"),
    ({"pages": 1 << 20}, "shorter than"),
])
def test_bad_spec_exits_2(small_file: Path, spec: dict[str, Any], message: str) -> None:
    p = spawn(file_spec(small_file, **spec))
    out, err = p.communicate(timeout=10)
    assert p.returncode == 2 and out == b""
    assert message in err.decode(), err


def test_worker_imports_stay_light() -> None:
    code = ("import sys, memcglab.live.worker; "
            "print(sorted(m for m in sys.modules if m.startswith('memcglab') or m in "
            "('pydantic', 'rich', 'matplotlib', 'pyarrow', 'numpy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    assert out.strip() == ("['memcglab', 'memcglab.live', 'memcglab.live.worker', "
                           "'memcglab.model', 'memcglab.model.pacing']")


def test_readahead_advice(disk_dir: Path) -> None:
    """posix_fadvise on the worker's own file: RANDOM ("off") reads only the touched pages,
    NORMAL ("default") reads ahead. read_bytes counts what this task made the disk read."""
    path = wf.prepare(disk_dir / "work", [("ra", 1024 * PAGE)])[0]
    got = {}
    for ra in ("off", "default", "sequential"):
        wf.evict(path)
        r = run(file_spec(path, pages=1024, readahead=ra, interval_ns=1_000_000,
                          duration_ns=20_000_000))
        if r["read_bytes"] is None:
            pytest.skip("no /proc/self/io (CONFIG_TASK_IO_ACCOUNTING)")
        got[ra] = (r["touches"], r["read_bytes"])
    touches, read = got["off"]
    assert read == touches * PAGE, got
    assert got["default"][1] >= 16 * PAGE + got["default"][0] * PAGE, got
    assert got["sequential"][1] >= got["default"][1], got
    assert wf.resident_pages(path) > 0
    wf.evict(path)


# -- work files --------------------------------------------------------------------------

def test_prepare_writes_real_files_and_evicts_them(disk_dir: Path) -> None:
    d = disk_dir / "work"
    sizes = [("a", 3 << 20), ("b", (1 << 20) + PAGE), ("c", PAGE)]
    paths = wf.prepare(d, sizes)
    assert [p.name for p in paths] == ["a", "b", "c"]
    for p, (_, size) in zip(paths, sizes, strict=True):
        st = p.stat()
        assert st.st_size == size and st.st_blocks * 512 >= size  # not sparse
        assert wf.resident_pages(p) == 0
        assert wf.resident_pages(p, "mincore") == 0
        head = p.read_bytes()[:PAGE]
        assert head.count(0) < PAGE // 16  # pseudo-random, not zeros
    a = paths[0].read_bytes()
    assert a[:1 << 20] == a[1 << 20:2 << 20]  # one block, repeated
    marker = json.loads((d / wf.MARKER).read_text())
    assert marker["memcglab"] == "workfiles" and sorted(marker["files"]) == ["a", "b", "c"]
    assert marker["created_dir"] is True


def test_prepare_reuses_unchanged_files(disk_dir: Path) -> None:
    d = disk_dir / "work"
    a = wf.prepare(d, [("a", 2 << 20)])[0]
    before = a.stat()
    a.read_bytes()  # now cached: prepare must evict it again
    assert wf.resident_pages(a) == 512
    wf.prepare(d, [("a", 2 << 20), ("b", PAGE)])
    after = a.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert wf.resident_pages(a) == 0
    wf.prepare(d, [("a", 1 << 20)])  # another size: rewritten
    assert a.stat().st_size == 1 << 20


def test_prepare_refuses_a_file_that_is_not_its_own(disk_dir: Path) -> None:
    d = disk_dir / "work"
    d.mkdir()
    (d / "a").write_text("mine")
    with pytest.raises(LiveError, match="not a file memcglab wrote"):
        wf.prepare(d, [("a", PAGE)])
    assert (d / "a").read_text() == "mine"
    wf.prepare(d, [("b", PAGE)])
    os.unlink(d / "b")
    (d / "b").write_text("replaced")  # another file under memcglab's name
    with pytest.raises(LiveError, match="not a file memcglab wrote"):
        wf.prepare(d, [("b", PAGE)])
    marker = json.loads((d / wf.MARKER).read_text())
    marker["files"]["b"]["ino"] = (d / "b").stat().st_ino  # even with a reused inode number
    (d / wf.MARKER).write_text(json.dumps(marker))
    with pytest.raises(LiveError, match="not a file memcglab wrote"):
        wf.prepare(d, [("b", PAGE)])
    assert (d / "b").read_text() == "replaced"


@pytest.mark.parametrize("name", ["", ".", "..", "x/y", wf.MARKER, "a\0b"])
def test_prepare_refuses_bad_names(disk_dir: Path, name: str) -> None:
    with pytest.raises(LiveError, match="plain file name"):
        wf.prepare(disk_dir, [(name, PAGE)])


def test_evict_reports_pages_it_cannot_drop(disk_dir: Path) -> None:
    p = wf.prepare(disk_dir / "work", [("m", 64 * PAGE)])[0]
    with open(p, "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as m:
        for off in range(0, 64 * PAGE, PAGE):
            m[off]  # mapped pages stay in the page cache
        with pytest.raises(LiveError, match=r"of 64 pages"):
            wf.evict(p)
    wf.evict(p)
    assert wf.resident_pages(p) == 0


def test_remove_deletes_only_its_own(disk_dir: Path) -> None:
    d = disk_dir / "work"
    wf.prepare(d, [("a", PAGE), ("b", PAGE)])
    (d / "other").write_text("keep")
    removed = wf.remove(d)
    assert sorted(p.name for p in removed) == sorted(["a", "b", wf.MARKER])
    assert sorted(os.listdir(d)) == ["other"]  # not empty: the directory stays
    assert wf.remove(d) == []  # no marker: nothing to do
    (d / "other").unlink()
    wf.prepare(d, [("a", PAGE)])  # d existed: prepare did not create it
    wf.remove(d)
    assert d.is_dir() and os.listdir(d) == []


def test_remove_leaves_a_replaced_file_and_removes_a_created_dir(disk_dir: Path) -> None:
    d = disk_dir / "new" / "work"
    wf.prepare(d, [("a", PAGE), ("b", PAGE)])
    os.unlink(d / "b")
    (d / "b").write_text("someone else's")
    # ext4 may give the new file the old inode number: make it so, the data still differs
    marker = json.loads((d / wf.MARKER).read_text())
    marker["files"]["b"]["ino"] = (d / "b").stat().st_ino
    (d / wf.MARKER).write_text(json.dumps(marker))
    wf.remove(d)
    assert (d / "b").read_text() == "someone else's"
    assert not (d / "a").exists()
    assert json.loads((d / wf.MARKER).read_text())["files"].keys() == {"b"}
    (d / "b").unlink()
    wf.remove(d)
    assert not d.exists()  # prepare made it, and it is empty now


def test_check_space_refuses_too_little_room(disk_dir: Path) -> None:
    free = os.statvfs(disk_dir).f_bavail * os.statvfs(disk_dir).f_frsize
    with pytest.raises(LiveError, match="free"):
        wf.check_space(disk_dir, free + (1 << 30))
    wf.check_space(disk_dir, PAGE)


def test_refuses_tmpfs_dev_shm() -> None:
    if not os.path.isdir("/dev/shm") or wf.fs_type(Path("/dev/shm"))[0] != "tmpfs":
        pytest.skip("/dev/shm is not a tmpfs here")
    with pytest.raises(LiveError, match=r"tmpfs.*shmem"):
        wf.prepare(Path("/dev/shm/memcglab-test-never-created"), [("a", PAGE)])
    assert not os.path.exists("/dev/shm/memcglab-test-never-created")


def test_refuses_a_memory_fs_from_mountinfo(tmp_path: Path) -> None:
    mi = tmp_path / "mountinfo"
    mi.write_text(f"22 1 8:1 / / rw - ext4 /dev/vda rw\n"
                  f"40 22 0:50 / {tmp_path} rw - ramfs none rw\n"
                  r"41 22 0:51 / /mnt/with\040space rw - tmpfs tmpfs rw" "\n")
    assert wf.fs_type(tmp_path / "x" / "y", str(mi)) == ("ramfs", str(tmp_path))
    with pytest.raises(LiveError, match="ramfs"):
        wf.check_space(tmp_path / "x", PAGE, str(mi))
    assert wf.fs_type(Path("/"), str(mi)) == ("ext4", "/")
    assert wf._unescape(r"/mnt/with\040space") == "/mnt/with space"
