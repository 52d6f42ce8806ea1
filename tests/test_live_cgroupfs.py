"""``memcglab.live.cgroupfs``: cgroup v2 against fixture trees (this machine has no v2
memory), cgroup v1 against a recorded fixture and, as root, against the live v1 hierarchy.

The fixture trees (tests/fixtures/cgroup-v{1,2}, see their README.md) are copied into a
temporary directory that stands in for the mount. There ``mkdir`` makes an empty directory
(the fake kernel does not populate control files), writes create the files they write, and
``rmdir`` is :func:`kernfs_rmdir`, which removes a group with its control files as kernfs
does and refuses with EBUSY while child groups exist.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from memcglab.errors import ConfigError, LiveError
from memcglab.live import cgroupfs
from memcglab.live.cgroupfs import (
    Limits,
    PressureMirror,
    V1Cgroups,
    V2Cgroups,
    open_memory_hierarchy,
    parse_flat,
    parse_psi,
    unsupported,
)
from memcglab.live.probe import Probe

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MiB = 1 << 20


def kernfs_rmdir(path: Path) -> None:
    """rmdir as cgroupfs does it: EBUSY while child groups exist, else the directory goes
    together with its control files (symlinks are unlinked, never followed)."""
    entries = list(path.iterdir())
    if any(p.is_dir() and not p.is_symlink() for p in entries):
        raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(path))
    for p in entries:
        p.unlink()
    os.rmdir(path)


def mount(tmp_path: Path, version: str) -> Path:
    dst = tmp_path / f"mnt-{version}"
    shutil.copytree(FIXTURES / f"cgroup-{version}", dst)
    return dst


def v2(tmp_path: Path, **kw: object) -> V2Cgroups:
    return V2Cgroups(mount(tmp_path, "v2"), rmdir_fn=kernfs_rmdir, **kw)  # type: ignore[arg-type]


def v1(tmp_path: Path, **kw: object) -> V1Cgroups:
    return V1Cgroups(mount(tmp_path, "v1"), rmdir_fn=kernfs_rmdir, **kw)  # type: ignore[arg-type]


def probe(**kw: object) -> Probe:
    base: dict[str, object] = dict(
        euid=0, memory_v1_enabled=False, memory_v1_hierarchy=None, memory_v1_mount=None,
        cgroup_v2_mount=None, cgroup_v2_controllers=(), tracefs_in_kernel=True,
        tracefs_mount=None, tracefs_events=(), kprobe_events=None)
    base.update(kw)
    return Probe(**base)  # type: ignore[arg-type]


# --- pure parts ---------------------------------------------------------------------------


def test_unsupported_notes_per_version() -> None:
    lim = Limits(max=64 * MiB, soft=16 * MiB, high=48 * MiB, low=MiB, min=MiB,
                 use_hierarchy=False)
    v1_notes = unsupported("v1", lim)
    assert [n.split(":")[0] for n in v1_notes] == ["high", "low", "min", "use_hierarchy"]
    assert "EINVAL" in v1_notes[-1]
    v2_notes = unsupported("v2", lim)
    assert [n.split(":")[0] for n in v2_notes] == ["soft", "use_hierarchy"]
    assert unsupported("v1", Limits(max=1, soft=1)) == []
    assert unsupported("v2", Limits(max=1, high=1, low=1, min=1)) == []


@pytest.mark.parametrize("bad", [-1, 1.5, True, "64M"])
def test_limits_reject_non_byte_counts(bad: object) -> None:
    with pytest.raises(ConfigError, match="limit max"):
        Limits(max=bad)  # type: ignore[arg-type]


def test_parse_psi_and_flat() -> None:
    psi = parse_psi("some avg10=0.50 avg60=0.10 avg300=0.00 total=1234\n"
                    "full avg10=0.25 avg60=0.05 avg300=0.00 total=99\n")
    assert psi["some"].total == 1234 and psi["full"].avg10 == 0.25
    assert cgroupfs.parse_flat("a 1\nb x\nc 2 3\nd 4\n") == {"a": 1, "d": 4}


def test_global_vmstat_and_pressure_from_a_fake_proc(tmp_path: Path) -> None:
    (tmp_path / "pressure").mkdir()
    (tmp_path / "vmstat").write_text("nr_free_pages 3558045\npgscan_direct 12\n"
                                     "pgsteal_direct 10\n")
    (tmp_path / "pressure" / "memory").write_text(
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=17\n"
        "full avg10=0.00 avg60=0.00 avg300=0.00 total=5\n")
    assert cgroupfs.vmstat(tmp_path)["pgscan_direct"] == 12
    assert cgroupfs.pressure(tmp_path)["full"].total == 5
    assert cgroupfs.pressure(tmp_path / "nowhere") == {}


def test_open_memory_hierarchy_follows_the_probe(tmp_path: Path) -> None:
    cg = open_memory_hierarchy(probe(cgroup_v2_mount="/sys/fs/cgroup",
                                     cgroup_v2_controllers=("cpu", "memory")), tmp_path)
    assert isinstance(cg, V2Cgroups) and cg.mount == tmp_path / "sys/fs/cgroup"
    cg = open_memory_hierarchy(probe(memory_v1_mount="/sys/fs/cgroup/memory",
                                     cgroup_v2_mount="/sys/fs/cgroup/unified",
                                     cgroup_v2_controllers=("hugetlb",)))
    assert isinstance(cg, V1Cgroups) and cg.mount == Path("/sys/fs/cgroup/memory")
    assert cg.version == "v1"
    with pytest.raises(LiveError, match="no memory controller"):
        open_memory_hierarchy(probe(cgroup_v2_mount="/sys/fs/cgroup/unified",
                                    cgroup_v2_controllers=("hugetlb",)))


@pytest.mark.parametrize("rel", ["/abs", "../x", "a/../b", "a//b", "a/.", "a\0b"])
def test_paths_never_leave_the_run_parent(tmp_path: Path, rel: str) -> None:
    cg = v2(tmp_path, parent="memcglab-t")
    with pytest.raises(LiveError, match="cgroup path"):
        cg.path(rel)
    assert cg.path("") == cg.mount / "memcglab-t"
    assert cg.path("a/b") == cg.mount / "memcglab-t" / "a" / "b"


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "/abs"])
def test_names_are_one_component(tmp_path: Path, name: str) -> None:
    cg = v2(tmp_path)
    with pytest.raises(LiveError, match="one path component"):
        cg.remove_tree(name)
    with pytest.raises(LiveError, match="one path component"):
        cg.create_parent(name)
    with pytest.raises(LiveError, match="one path component"):
        PressureMirror(cg.mount, name)


def test_no_parent_no_paths(tmp_path: Path) -> None:
    with pytest.raises(LiveError, match="create_parent"):
        v2(tmp_path).path("a")


# --- cgroup v2 on the fixture tree --------------------------------------------------------


def test_v2_create_parent_enables_memory_for_children(tmp_path: Path) -> None:
    cg = v2(tmp_path)
    ino = cg.create_parent("memcglab-t")
    parent = cg.mount / "memcglab-t"
    assert ino == parent.stat().st_ino and cg.parent == "memcglab-t"
    assert (parent / "cgroup.subtree_control").read_text() == "+memory"


def test_v2_create_parent_refuses_an_existing_directory(tmp_path: Path) -> None:
    cg = v2(tmp_path)
    (cg.mount / "memcglab-t").mkdir()
    with pytest.raises(LiveError, match="already exists: it is not ours"):
        cg.create_parent("memcglab-t")
    assert list((cg.mount / "memcglab-t").iterdir()) == []  # untouched
    assert cg.parent is None


def test_v2_create_parent_needs_the_root_to_delegate_memory(tmp_path: Path) -> None:
    cg = v2(tmp_path)
    (cg.mount / "cgroup.subtree_control").write_text("cpu io pids\n")
    with pytest.raises(LiveError, match=r"does not enable memory .*echo \+memory"):
        cg.create_parent("memcglab-t")
    assert not (cg.mount / "memcglab-t").exists()


def test_v2_mkdir_writes_the_v2_limits_only(tmp_path: Path) -> None:
    cg = v2(tmp_path)
    cg.create_parent("memcglab-t")
    ino = cg.mkdir("a", Limits(max=64 * MiB, soft=16 * MiB, high=48 * MiB, low=MiB))
    a = cg.path("a")
    assert ino == a.stat().st_ino
    assert (a / "memory.max").read_text() == "67108864"
    assert (a / "memory.high").read_text() == "50331648"
    assert (a / "memory.low").read_text() == "1048576"
    assert sorted(p.name for p in a.iterdir()) == ["memory.high", "memory.low", "memory.max"]
    cg.enable_children("a")
    assert (a / "cgroup.subtree_control").read_text() == "+memory"
    cg.mkdir("a/b", Limits())
    assert list(cg.path("a/b").iterdir()) == []
    cg.attach("a/b", 4242)
    assert (cg.path("a/b") / "cgroup.procs").read_text() == "4242"
    assert cg.procs("a/b") == [4242]
    with pytest.raises(LiveError, match="already exists"):
        cg.mkdir("a", Limits())
    with pytest.raises(LiveError, match="create_parent"):
        cg.mkdir("", Limits())


def test_v2_write_error_names_file_value_and_errno_and_undoes_mkdir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cg = v2(tmp_path)
    cg.create_parent("memcglab-t")
    real_write = os.write

    def refusing_write(fd: int, data: bytes) -> int:  # what memory_max_write says to junk
        if os.readlink(f"/proc/self/fd/{fd}").endswith("memory.max"):
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", refusing_write)
    with pytest.raises(LiveError) as e:
        cg.mkdir("a", Limits(max=64 * MiB))
    assert "memory.max" in str(e.value) and "'67108864'" in str(e.value)
    assert "Invalid argument" in str(e.value)
    assert not cg.path("a").exists()


def test_v2_sample_parses_the_fixture(tmp_path: Path) -> None:
    cg = v2(tmp_path, parent="sample")
    s = cg.sample("")
    assert s.rel == "" and s.t_ns > 0
    assert s.usage == 65200128 and s.peak == 67104768
    assert s.limit_hits == 1154  # memory.events.local: this group's own limit
    assert s.events["max"] == 1187 and s.events["oom_kill"] == 0
    assert s.stat["pgscan"] == sum(s.stat[f"pgscan_{r}"] for r in
                                   ("kswapd", "direct", "khugepaged", "proactive"))
    assert s.stat["pgsteal_direct"] == 47688
    assert s.stat["file"] == s.stat["inactive_file"] + s.stat["active_file"]
    assert s.pressure is not None
    assert s.pressure["some"].total == 734112 and s.pressure["full"].avg10 == 1.60


def test_v2_sample_without_optional_files(tmp_path: Path) -> None:
    cg = v2(tmp_path, parent="sample")
    for name in ("memory.events.local", "memory.pressure", "memory.peak"):
        cg.path(name).unlink()
    s = cg.sample("")
    assert s.limit_hits == 1187 and s.pressure is None and s.peak is None


def test_sample_of_a_missing_group_is_a_live_error(tmp_path: Path) -> None:
    cg = v2(tmp_path, parent="sample")
    with pytest.raises(LiveError, match=r"cannot sample .*memory\.\w+: No such file"):
        cg.sample("gone")


def test_v2_kill_uses_cgroup_kill_when_present(tmp_path: Path) -> None:
    cg = v2(tmp_path, parent="sample")
    assert not cg.kill("")
    cg.path("cgroup.kill").write_text("0")
    assert cg.kill("")
    assert cg.path("cgroup.kill").read_text() == "1"
    assert not v1(tmp_path, parent="sample").kill("")


def test_v2_empty_and_remove_reclaims_then_removes_deepest_first(tmp_path: Path) -> None:
    seen: list[tuple[str, str | None]] = []

    def recording_rmdir(path: Path) -> None:
        rc = path / "memory.reclaim"
        seen.append((path.name, rc.read_text() if rc.exists() else None))
        kernfs_rmdir(path)

    cg = V2Cgroups(mount(tmp_path, "v2"), rmdir_fn=recording_rmdir)
    cg.create_parent("memcglab-t")
    cg.mkdir("a", Limits(max=64 * MiB))
    cg.enable_children("a")
    cg.mkdir("a/b", Limits())
    cg.mkdir("c", Limits())
    for rel, cur in (("a/b", "8192\n"), ("c", "0\n")):
        (cg.path(rel) / "memory.current").write_text(cur)
        (cg.path(rel) / "memory.reclaim").write_text("")
    assert cg.empty_and_remove(["c", "a/b"]) == []  # "a" is an ancestor: removed too
    assert seen == [("b", "8192"), ("a", None), ("c", ""), ("memcglab-t", None)]
    assert not (cg.mount / "memcglab-t").exists()


def test_empty_and_remove_collects_problems_and_goes_on(tmp_path: Path) -> None:
    def stuck_b(path: Path) -> None:
        if path.name == "b":
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(path))
        kernfs_rmdir(path)

    cg = V2Cgroups(mount(tmp_path, "v2"), rmdir_fn=stuck_b, rmdir_timeout=0.05)
    cg.create_parent("memcglab-t")
    for rel in ("a", "a/b", "c"):
        cg.mkdir(rel, Limits())
    problems = cg.empty_and_remove(["a/b", "a", "c", "missing"])
    assert len(problems) == 3, problems  # b busy, so a and the parent are busy too
    assert all("Device or resource busy" in p for p in problems)
    assert [p.split(": ")[0].rsplit("/", 1)[-1] for p in problems] == ["b", "a", "memcglab-t"]
    assert not cg.path("c").exists()  # removed although b failed


def test_rmdir_retries_ebusy_then_gives_up(tmp_path: Path) -> None:
    calls: list[Path] = []

    def busy_twice(path: Path) -> None:
        calls.append(path)
        if len(calls) <= 2:
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(path))
        kernfs_rmdir(path)

    cg = V2Cgroups(mount(tmp_path, "v2"), rmdir_fn=busy_twice)
    cg.create_parent("memcglab-t")
    cg.mkdir("a", Limits())
    cg.rmdir("a")
    assert len(calls) == 3 and not cg.path("a").exists()

    def always_busy(path: Path) -> None:
        raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(path))

    cg.mkdir("a", Limits())
    cg2 = V2Cgroups(cg.mount, parent="memcglab-t", rmdir_fn=always_busy, rmdir_timeout=0.1)
    t = time.monotonic()
    with pytest.raises(LiveError, match=r"cannot remove cgroup .*/a: Device or resource busy"):
        cg2.rmdir("a")
    assert 0.1 <= time.monotonic() - t < 2
    with pytest.raises(LiveError, match="No such file"):  # not retried
        cg.rmdir("never-made")


def test_remove_tree_is_bottom_up_and_never_follows_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "victim").mkdir(parents=True)
    (outside / "victim" / "memory.force_empty").write_text("keep")
    emptied: list[str] = []

    def recording_rmdir(path: Path) -> None:
        if (path / "memory.force_empty").exists():
            emptied.append(path.name + "=" + (path / "memory.force_empty").read_text())
        kernfs_rmdir(path)

    cg = V1Cgroups(mount(tmp_path, "v1"), rmdir_fn=recording_rmdir)
    top = cg.mount / "memcglab-old"
    (top / "a" / "b").mkdir(parents=True)
    (top / "c").mkdir()
    (top / "a" / "memory.stat").write_text("cache 0\n")
    (top / "a" / "link").symlink_to(outside)
    (top / "escape").symlink_to(outside / "victim")
    assert cg.remove_tree("memcglab-old") == []
    assert not top.exists()
    assert emptied == ["b=0", "a=0", "c=0", "memcglab-old=0"]
    assert (outside / "victim" / "memory.force_empty").read_text() == "keep"
    assert cg.remove_tree("memcglab-old") == []  # nothing left: nothing to do
    (cg.mount / "memcglab-link").symlink_to(outside)
    assert cg.remove_tree("memcglab-link") == [
        f"{cg.mount / 'memcglab-link'}: not a directory (symlink or file); left alone"]
    assert (outside / "victim").is_dir()


# --- cgroup v1 on the recorded fixture ----------------------------------------------------


def test_v1_sample_parses_the_recorded_fixture(tmp_path: Path) -> None:
    s = v1(tmp_path, parent="sample").sample("")
    assert s.usage == 31805440 and s.peak == 33546240 and s.limit_hits == 96
    assert s.stat["cache"] == 31494144 and s.stat["hierarchical_memory_limit"] == 32 * MiB
    assert s.stat["inactive_file"] + s.stat["active_file"] <= s.usage
    assert "pgscan" not in s.stat and "pgsteal" not in s.stat  # v1 has none
    assert s.events == {} and s.pressure is None


def test_v1_mkdir_writes_the_v1_limits_only(tmp_path: Path) -> None:
    cg = v1(tmp_path)
    cg.create_parent("memcglab-t")
    assert list(cg.path("").iterdir()) == []  # v1: no subtree_control to write
    cg.mkdir("a", Limits(max=32 * MiB, soft=16 * MiB, high=1, low=1, min=1))
    a = cg.path("a")
    assert sorted(p.name for p in a.iterdir()) == ["memory.limit_in_bytes",
                                                   "memory.soft_limit_in_bytes"]
    assert (a / "memory.limit_in_bytes").read_text() == "33554432"
    assert (a / "memory.soft_limit_in_bytes").read_text() == "16777216"
    cg.enable_children("a")  # nothing on v1
    assert not (a / "cgroup.subtree_control").exists()
    cg.mkdir("b", Limits(use_hierarchy=False))  # the fixture accepts what 6.18 refuses
    assert (cg.path("b") / "memory.use_hierarchy").read_text() == "0"


def test_pressure_mirror_on_a_fixture(tmp_path: Path) -> None:
    m = PressureMirror(mount(tmp_path, "v2"), "memcglab-t", rmdir_fn=kernfs_rmdir)
    ino = m.mkdir("")
    assert ino == (m.mount / "memcglab-t").stat().st_ino
    m.mkdir("a")
    with pytest.raises(LiveError, match="already exists"):
        m.mkdir("a")
    m.attach("a", 77)
    assert (m.path("a") / "cgroup.procs").read_text() == "77"
    assert m.pressure("a") == {}
    (m.path("a") / "memory.pressure").write_text(
        "some avg10=1.00 avg60=0.00 avg300=0.00 total=10\n"
        "full avg10=0.00 avg60=0.00 avg300=0.00 total=4\n")
    assert m.pressure("a")["some"].total == 10
    assert m.remove() == []
    assert not (m.mount / "memcglab-t").exists()


# --- live, cgroup v1 on this machine ------------------------------------------------------

V1_MOUNT = Path("/sys/fs/cgroup/memory")
V2_MOUNT = Path("/sys/fs/cgroup/unified")
LIVE_SKIP = ("not root" if os.geteuid() != 0 else
             f"no cgroup v1 memory at {V1_MOUNT}"
             if not (V1_MOUNT / "memory.limit_in_bytes").exists() else None)
live = pytest.mark.skipif(LIVE_SKIP is not None, reason=f"live cgroup v1: {LIVE_SKIP}")


def _leftovers(root: Path, prefix: str) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith(prefix))


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(10)


@live
def test_live_v1_group_lifecycle(tmp_path: Path) -> None:
    name = f"memcglab-test-cgfs-{os.getpid()}"
    cg = V1Cgroups(V1_MOUNT)
    # A disk-backed tmp_path lets the writer go past the limit (page cache is reclaimable);
    # on tmpfs (major 0) the pages are shmem without swap, so stay under it.
    on_disk = os.major(tmp_path.stat().st_dev) != 0
    mib = 48 if on_disk else 8
    proc = subprocess.Popen(
        ["sh", "-c", f"read go; dd if=/dev/zero of={tmp_path / 'f'} bs=1M count={mib} "
                     "status=none; exec sleep 60"], stdin=subprocess.PIPE)
    try:
        parent_ino = cg.create_parent(name)
        ino = cg.mkdir("a", Limits(max=32 * MiB))
        assert parent_ino == (V1_MOUNT / name).stat().st_ino != ino
        assert (V1_MOUNT / name / "a" / "memory.limit_in_bytes").read_text() == "33554432\n"
        cg.attach("a", proc.pid)
        assert cg.procs("a") == [proc.pid]
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        proc.stdin.close()
        deadline = time.monotonic() + 20
        while not (tmp_path / "f").exists() or (tmp_path / "f").stat().st_size < mib * MiB:
            assert time.monotonic() < deadline, "the writer did not finish"
            time.sleep(0.05)
        s = cg.sample("a")
        assert 0 < s.usage <= 32 * MiB and s.stat["cache"] > 0
        assert s.stat["hierarchical_memory_limit"] == 32 * MiB
        assert "pgscan" not in s.stat and s.events == {} and s.pressure is None
        if on_disk:
            assert s.limit_hits > 0 and s.peak is not None and s.peak <= 32 * MiB
        assert cg.sample("").usage >= s.usage  # hierarchical
        _stop(proc)
        assert cg.empty_and_remove(["a"]) == []
        assert _leftovers(V1_MOUNT, "memcglab-test-cgfs-") == []
    finally:
        _stop(proc)
        if (V1_MOUNT / name).exists():
            cg.remove_tree(name)
    assert not (V1_MOUNT / name).exists()


@live
def test_live_v1_refuses_use_hierarchy_zero() -> None:
    """Linux >= 5.11 (mm/memcontrol-v1.c mem_cgroup_hierarchy_write): only 1 is accepted."""
    name = f"memcglab-test-cgfs-{os.getpid()}-uh"
    cg = V1Cgroups(V1_MOUNT)
    try:
        cg.create_parent(name)
        with pytest.raises(LiveError, match=r"'0' to .*memory\.use_hierarchy: Invalid argument"):
            cg.mkdir("a", Limits(use_hierarchy=False))
        assert not (V1_MOUNT / name / "a").exists()  # undone
        assert (V1_MOUNT / name / "memory.use_hierarchy").read_text() == "1\n"
        assert cg.empty_and_remove([]) == []
    finally:
        if (V1_MOUNT / name).exists():
            cg.remove_tree(name)
    assert not (V1_MOUNT / name).exists()


MIRROR_SKIP = (LIVE_SKIP or (f"no cgroup2 at {V2_MOUNT}"
                             if not (V2_MOUNT / "cgroup.procs").exists() else None))


@pytest.mark.skipif(MIRROR_SKIP is not None, reason=f"live v2 mirror: {MIRROR_SKIP}")
def test_live_pressure_mirror() -> None:
    name = f"memcglab-test-cgfs-{os.getpid()}-psi"
    m = PressureMirror(V2_MOUNT, name)
    proc = subprocess.Popen(["sleep", "60"])
    try:
        m.mkdir("")
        m.mkdir("a")
        m.attach("a", proc.pid)
        psi = m.pressure("a")
        assert set(psi) == {"some", "full"} and psi["some"].total >= 0
        _stop(proc)
        assert m.remove() == []
    finally:
        _stop(proc)
        if (V2_MOUNT / name).exists():
            m.remove()
    assert _leftovers(V2_MOUNT, "memcglab-test-cgfs-") == []


def test_oom_kills_are_the_groups_own(tmp_path: Path) -> None:
    # v2: memory.events.local (memory.events counts the descendants' too)
    cg = v2(tmp_path, parent="sample")
    local = parse_flat(cg.path("memory.events.local").read_text())["oom_kill"]
    cg.path("memory.events").write_text("oom_kill 99\n")
    assert cg.oom_kills("") == local
    # v1: memory.oom_control, in the format of Linux 6.18
    c1 = v1(tmp_path, parent="sample")
    c1.path("memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    assert c1.oom_kills("") == 3
    c1.path("memory.oom_control").unlink()
    with pytest.raises(LiveError, match=r"memory\.oom_control"):
        c1.oom_kills("")
