"""``memcglab kernel probe``: facts read from fake /proc and /sys trees, their verdict lines,
the JSON shape, and one live run on this machine."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from memcglab.live.probe import Probe, gather, missing, verdicts
from tests.conftest import cli

CGROUPS_V1 = ("#subsys_name\thierarchy\tnum_cgroups\tenabled\n"
              "cpu\t1\t1\t1\nmemory\t4\t32\t1\nhugetlb\t0\t1\t1\n")
CGROUPS_V2 = "#subsys_name\thierarchy\tnum_cgroups\tenabled\nmemory\t0\t5\t1\n"
MOUNTS_V1 = ("cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n"
             "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n")
MOUNTS_V2 = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n"


def put(root: Path, rel: str, text: str) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def tree(root: Path, *, uid: int = 0, cgroups: str = CGROUPS_V1, mounts: str = MOUNTS_V1,
         v2_controllers: str = "hugetlb", v2_at: str = "sys/fs/cgroup/unified") -> Path:
    """A fake machine like this one: root, v1 memory, v2 without memory, tracefs built in,
    no swap, no zram, no MGLRU."""
    put(root, "proc/self/status", f"Name:\tpy\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n")
    put(root, "proc/cgroups", cgroups)
    put(root, "proc/mounts", "/dev/vda / ext4 rw 0 0\n" + mounts)
    put(root, f"{v2_at}/cgroup.controllers", v2_controllers + "\n")
    put(root, "proc/filesystems", "nodev\tsysfs\nnodev\ttracefs\n\text4\n")
    put(root, "proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n")
    put(root, "proc/meminfo", "MemTotal:  24000000 kB\nMemAvailable:   2097152 kB\n")
    put(root, "sys/kernel/btf/vmlinux", "x" * 2048)
    put(root, "proc/sys/kernel/unprivileged_bpf_disabled", "2\n")
    (root / "sys/block").mkdir(parents=True, exist_ok=True)
    return root


def probe_of(root: Path, bpftrace: str | None = None, dev: int = os.makedev(0, 30)) -> Probe:
    return gather(root, workdir=root, which=lambda _: bpftrace, st_dev=lambda _: dev)


def line(p: Probe, name: str) -> str:
    found = [f"{ln.value} -> {ln.then}" for ln in verdicts(p) if ln.name == name]
    assert len(found) == 1, name
    return found[0]


def test_v1_memory_only(tmp_path: Path) -> None:
    p = probe_of(tree(tmp_path))
    assert p.root and p.memory_v1_mount == "/sys/fs/cgroup/memory"
    assert p.memory_v1_hierarchy == 4 and p.cgroup_v2_controllers == ("hugetlb",)
    assert p.memory_controller == "v1" and missing(p) == []
    assert line(p, "memory controller") == (
        "cgroup v1 at /sys/fs/cgroup/memory (hierarchy 4) -> kernel run uses v1 files "
        "(limit_in_bytes, soft_limit_in_bytes, use_hierarchy, force_empty)")
    assert "hybrid: memory is on v1" in line(p, "cgroups")
    assert line(p, "kernel run").startswith("requirements met (root, memory controller on "
                                            "cgroup v1)")
    assert line(p, "tracefs").startswith("built in, not mounted -> kernel run mounts it")
    assert line(p, "btf").startswith("/sys/kernel/btf/vmlinux (2 KiB) -> tp_btf")
    assert line(p, "bpftrace") == ("not installed -> recording falls back to tracefs only "
                                   "(apt-get install bpftrace)")
    assert line(p, "swap").startswith("none; no zram -> anon workloads cannot be reclaimed")
    assert line(p, "mglru").startswith("not built -> global reclaim walks memcgs with "
                                       "mem_cgroup_iter")
    assert line(p, "MemAvailable").startswith("2.0 GiB -> ")


def test_v2_with_memory(tmp_path: Path) -> None:
    root = tree(tmp_path, cgroups=CGROUPS_V2, mounts=MOUNTS_V2, v2_at="sys/fs/cgroup",
                v2_controllers="cpuset cpu io memory pids")
    p = probe_of(root, bpftrace="/usr/bin/bpftrace")
    assert p.memory_v1_mount is None and p.memory_v1_hierarchy is None
    assert p.memory_controller == "v2"
    assert line(p, "memory controller").startswith("cgroup v2 at /sys/fs/cgroup -> kernel run "
                                                   "uses v2 files (memory.max")
    assert line(p, "cgroups").endswith("unified: memory is on v2")
    assert line(p, "bpftrace").startswith("/usr/bin/bpftrace -> the BPF recorder can run")
    assert missing(p) == []


def test_no_memory_controller_and_not_root_says_exactly_what_is_missing(tmp_path: Path
                                                                        ) -> None:
    root = tree(tmp_path, uid=1000, cgroups="#subsys_name\thierarchy\tnum_cgroups\tenabled\n",
                mounts=MOUNTS_V2, v2_at="sys/fs/cgroup", v2_controllers="cpu io")
    p = probe_of(root)
    assert missing(p) == ["root", "memory controller"]
    assert line(p, "root") == "no (euid 1000) -> kernel run needs root: run it as root (sudo)"
    assert line(p, "memory controller").startswith("none (not on v1, not in cgroup.controllers")
    assert line(p, "kernel run").startswith("NOT ready: missing root, memory controller")
    assert [ln.ok for ln in verdicts(p) if ln.name in ("root", "memory controller")] == [
        False, False]


def test_swap_present(tmp_path: Path) -> None:
    root = tree(tmp_path)
    put(root, "proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n"
                            "/swapfile                               file\t\t1048572\t0\t-2\n")
    p = probe_of(root)
    assert [(s.name, s.kind, s.size_kb) for s in p.swaps] == [("/swapfile", "file", 1048572)]
    assert line(p, "swap").startswith("/swapfile (1024.0 MiB) -> anon pages can be reclaimed")


def test_zram_present(tmp_path: Path) -> None:
    root = tree(tmp_path)
    put(root, "sys/block/zram0/disksize", "0\n")
    p = probe_of(root)
    assert [(z.name, z.disksize) for z in p.zram] == [("zram0", 0)]
    assert line(p, "swap").startswith(
        "none; zram available (1 device(s); zram0 unused) -> anon workloads need --zram SIZE")


def test_mglru_enabled_and_disabled(tmp_path: Path) -> None:
    root = tree(tmp_path)
    put(root, "sys/kernel/mm/lru_gen/enabled", "0x0007\n")
    p = probe_of(root)
    assert p.lru_gen == "0x0007"
    assert line(p, "mglru").startswith("enabled (0x0007) -> global reclaim uses the memcg LRU "
                                       "(shrink_many), not mem_cgroup_iter")
    put(root, "sys/kernel/mm/lru_gen/enabled", "0x0000\n")
    assert line(probe_of(root), "mglru").startswith("built, disabled (0x0000) -> global "
                                                    "reclaim walks memcgs")


def test_readahead_of_a_partition_is_its_parent_disk(tmp_path: Path) -> None:
    root = tree(tmp_path)
    disk = root / "sys/devices/pci0000:00/block/sda"
    put(root, "sys/devices/pci0000:00/block/sda/queue/read_ahead_kb", "128\n")
    put(root, "sys/devices/pci0000:00/block/sda/sda1/partition", "1\n")
    (root / "sys/dev/block").mkdir(parents=True)
    (root / "sys/dev/block/8:1").symlink_to("../../devices/pci0000:00/block/sda/sda1")
    assert disk.is_dir()
    p = probe_of(root, dev=os.makedev(8, 1))
    assert p.readahead is not None
    assert (p.readahead.dev, p.readahead.device, p.readahead.partition,
            p.readahead.read_ahead_kb) == ("8:1", "sda", "sda1", 128)
    assert line(p, "readahead") == (
        f"{root}: sda (via partition sda1) read_ahead_kb=128 -> a sequential file reader "
        "charges up to 32 pages (4 KiB) per readahead; kernel run records this beside its "
        "results")


def test_workdir_without_block_device(tmp_path: Path) -> None:
    p = probe_of(tree(tmp_path), dev=os.makedev(0, 27))
    assert line(p, "readahead").startswith(f"{tmp_path}: no block device (0:27) -> ")


def test_tracefs_mounted_and_kernel_config(tmp_path: Path) -> None:
    root = tree(tmp_path)
    with (root / "proc/mounts").open("a") as f:
        f.write("tracefs /sys/kernel/tracing tracefs rw 0 0\n")
    for cat in ("memcg", "vmscan"):
        (root / "sys/kernel/tracing/events" / cat).mkdir(parents=True)
    (root / "proc/config.gz").write_bytes(gzip.compress(
        b"CONFIG_BPF_SYSCALL=y\n# CONFIG_KPROBES is not set\n# CONFIG_LRU_GEN is not set\n"))
    p = probe_of(root)
    assert p.tracefs_mount == "/sys/kernel/tracing" and p.kprobe_events is False
    assert p.cfg("CONFIG_KPROBES") == "n" and p.cfg("CONFIG_LRU_GEN") == "n"
    assert line(p, "tracefs").startswith(
        "mounted at /sys/kernel/tracing (events: memcg, vmscan) -> recording can use")
    assert line(p, "bpf").startswith("bpf() syscall present; kprobes: no -> BPF on "
                                     "tracepoints only: mem_cgroup_iter cannot be hooked")
    assert line(p, "mglru").startswith("not built (CONFIG_LRU_GEN not set)")


def test_probe_only_reads(tmp_path: Path) -> None:
    root = tree(tmp_path)
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    probe_of(root)
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == before


def test_json_shape(tmp_path: Path) -> None:
    p = probe_of(tree(tmp_path))
    doc = json.loads(json.dumps(p.to_json()))
    assert doc["memory_v1_mount"] == "/sys/fs/cgroup/memory"
    assert doc["readahead"]["dev"] == "0:30" and isinstance(doc["config"], dict)
    code, out, err = cli("kernel", "probe", "--json", "--workdir", str(tmp_path))
    assert code == 0, err
    live = json.loads(out)
    assert set(live) == {"ready", "missing", "lines", "facts"}
    assert isinstance(live["ready"], bool) and isinstance(live["missing"], list)
    assert all(set(ln) == {"name", "value", "then", "ok"} for ln in live["lines"])
    assert [ln["name"] for ln in live["lines"]] == [ln.name for ln in verdicts(p)]
    assert live["facts"]["readahead"]["workdir"] == str(tmp_path)


@pytest.mark.parametrize("args", [("kernel",), ("kernel", "probe", "--work", "/"),
                                  ("kernel", "probe", "--workdir", "/no/such/dir"),
                                  ("kernel", "prob")])
def test_bad_flags_exit_2(args: tuple[str, ...]) -> None:
    code, out, _ = cli(*args)
    assert code == 2 and out == ""


def test_text_output_one_plain_line_per_fact() -> None:
    code, out, err = cli("kernel", "probe")
    assert code == 0, err
    names = [ln.split()[0] if not ln.startswith("!!") else ln.split()[1]
             for ln in out.splitlines()]
    assert names[0] == "root" and len(names) == 12
    assert all(" -> " in ln for ln in out.splitlines())


LIVE_SKIP = ("not root" if os.geteuid() != 0 else
             "no cgroup v1 memory at /sys/fs/cgroup/memory"
             if not Path("/sys/fs/cgroup/memory").is_dir() else None)


@pytest.mark.skipif(LIVE_SKIP is not None, reason=f"live probe: {LIVE_SKIP}")
def test_live_probe_on_this_machine() -> None:
    p = gather()
    assert p.root
    assert p.memory_v1_mount == "/sys/fs/cgroup/memory" and p.memory_controller == "v1"
    assert p.btf_size is not None and p.btf_size > 0
    assert missing(p) == []
    assert line(p, "kernel run").startswith("requirements met")
