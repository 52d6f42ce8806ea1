"""What this machine offers to ``memcglab kernel run``, read from files only.

``gather(root, workdir)`` reads, under the prefix ``root`` (``/`` on a live machine, a fake
tree in tests):

* ``/proc/self/status`` (``Uid:``): the effective uid. ``kernel run`` must create memcgs and
  enable tracing, which needs root.
* ``/proc/cgroups``, ``/proc/mounts`` and ``<cgroup2 mount>/cgroup.controllers``: whether the
  memory controller is on a v1 hierarchy (and where it is mounted) or on v2. Without it
  there is nothing to limit or to reclaim from.
* ``/proc/filesystems`` and ``/proc/mounts``: whether tracefs is built in and where it is
  mounted; if mounted, whether ``events/memcg``, ``events/vmscan`` and ``kprobe_events``
  exist. Nothing is mounted here.
* ``/proc/config.gz`` (if present): a few options (``CONFIG_KPROBES``, ``CONFIG_BPF_SYSCALL``,
  ``CONFIG_DEBUG_INFO_BTF``, ``CONFIG_LRU_GEN``, ``CONFIG_ZRAM``).
* ``/proc/sys/kernel/unprivileged_bpf_disabled``: present iff the ``bpf()`` syscall is built.
* ``/sys/kernel/btf/vmlinux``: BTF, which typed (tp_btf) and CO-RE BPF programs need.
* ``which("bpftrace")`` on ``PATH`` (injectable).
* ``/proc/swaps`` and ``/sys/block/zram*/disksize``: swap, and whether zram can provide it
  (anonymous memory cannot be reclaimed without swap).
* ``/sys/kernel/mm/lru_gen/enabled``: with MGLRU on, global reclaim no longer walks memcgs
  with ``mem_cgroup_iter``.
* ``stat(workdir).st_dev`` -> ``/sys/dev/block/MAJ:MIN`` -> ``queue/read_ahead_kb`` (of the
  parent disk for a partition): the readahead window of the device that backs the work
  directory, which sets how many file pages one fault brings in and charges.
* ``/proc/meminfo`` ``MemAvailable``: how much the workloads may use.

``verdicts(probe)`` is pure: one ``Line`` per fact, saying what follows for ``kernel run``.
Nothing here writes a file or changes the machine.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

CONFIG_KEYS = ("CONFIG_KPROBES", "CONFIG_BPF_SYSCALL", "CONFIG_DEBUG_INFO_BTF",
               "CONFIG_LRU_GEN", "CONFIG_ZRAM")
TRACEFS_DEFAULT = "/sys/kernel/tracing"


@dataclass(frozen=True)
class Swap:
    name: str
    kind: str
    size_kb: int


@dataclass(frozen=True)
class Zram:
    name: str
    disksize: int  # bytes; 0 = not set up


@dataclass(frozen=True)
class Readahead:
    workdir: str
    dev: str  # "MAJ:MIN" of the file system holding workdir
    device: str | None  # block device name (the parent disk for a partition)
    partition: str | None  # the partition's name, when workdir is on one
    read_ahead_kb: int | None


@dataclass(frozen=True)
class Probe:
    euid: int | None
    memory_v1_enabled: bool  # /proc/cgroups lists memory with enabled=1 on a v1 hierarchy
    memory_v1_hierarchy: int | None
    memory_v1_mount: str | None
    cgroup_v2_mount: str | None
    cgroup_v2_controllers: tuple[str, ...]
    tracefs_in_kernel: bool
    tracefs_mount: str | None
    tracefs_events: tuple[str, ...]  # of memcg, vmscan, cgroup: the categories present
    kprobe_events: bool | None  # None: tracefs not mounted, so unknown from tracefs
    config: tuple[tuple[str, str], ...] = ()  # (key, value) of CONFIG_KEYS; "n" if unset
    bpf_syscall: bool = False
    btf_size: int | None = None
    bpftrace: str | None = None
    swaps: tuple[Swap, ...] = ()
    zram: tuple[Zram, ...] = ()
    lru_gen: str | None = None  # content of lru_gen/enabled; None if absent
    readahead: Readahead | None = None
    mem_available_kb: int | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["config"] = dict(self.config)
        return d

    def cfg(self, key: str) -> str | None:
        """A kernel config option from /proc/config.gz; None if unknown."""
        return dict(self.config).get(key)

    @property
    def root(self) -> bool:
        return self.euid == 0

    @property
    def memory_v2(self) -> bool:
        return "memory" in self.cgroup_v2_controllers

    @property
    def memory_controller(self) -> str | None:
        """"v1" or "v2": where kernel run finds the memory controller; None if nowhere."""
        if self.memory_v1_mount is not None:
            return "v1"
        if self.memory_v2:
            return "v2"
        return None


@dataclass(frozen=True)
class Line:
    name: str
    value: str
    then: str  # what follows for kernel run
    ok: bool  # False: something kernel run needs or would use is missing


# --- gathering (reads files, never writes) ------------------------------------------------


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _is(path: Path, test: Callable[[Path], bool]) -> bool:
    """``path.exists()`` / ``is_dir()`` that says False where it may not look (tracefs is
    root-only: a non-root user gets EACCES, which pathlib raises)."""
    try:
        return test(path)
    except OSError:
        return False


def _under(root: Path, path: str) -> Path:
    return root / path.lstrip("/")


def _mounts(root: Path) -> list[tuple[str, str, str]]:
    """(mount point, fs type, options) from /proc/mounts; octal escapes decoded."""
    text = _read(_under(root, "/proc/mounts")) or ""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4:
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), parts[1])
            out.append((point, parts[2], parts[3]))
    return out


def _euid(root: Path) -> int | None:
    for line in (_read(_under(root, "/proc/self/status")) or "").splitlines():
        if line.startswith("Uid:"):
            fields = line.split()
            if len(fields) >= 3 and fields[2].isdigit():
                return int(fields[2])
    return None


def _memory_v1(root: Path, mounts: list[tuple[str, str, str]]
               ) -> tuple[bool, int | None, str | None]:
    enabled, hierarchy = False, None
    for line in (_read(_under(root, "/proc/cgroups")) or "").splitlines():
        f = line.split()
        if len(f) == 4 and f[0] == "memory" and f[1].isdigit():
            hierarchy = int(f[1]) or None  # 0: not on a v1 hierarchy (v2 or unmounted)
            enabled = f[3] == "1" and hierarchy is not None
    mount = next((p for p, t, o in mounts if t == "cgroup" and "memory" in o.split(",")), None)
    return enabled, hierarchy, mount


def _config(root: Path) -> tuple[tuple[str, str], ...]:
    try:
        text = gzip.decompress(_under(root, "/proc/config.gz").read_bytes()).decode()
    except (OSError, EOFError, UnicodeDecodeError):
        return ()
    out: dict[str, str] = {}
    for line in text.splitlines():
        for key in CONFIG_KEYS:
            if line.startswith(key + "="):
                out[key] = line.split("=", 1)[1]
            elif line == f"# {key} is not set":
                out[key] = "n"
    return tuple(sorted(out.items()))


def _int(text: str | None) -> int | None:
    try:
        return int(text.strip()) if text is not None else None
    except ValueError:
        return None


def _swaps(root: Path) -> tuple[Swap, ...]:
    out = []
    for line in (_read(_under(root, "/proc/swaps")) or "").splitlines()[1:]:
        f = line.split()
        if len(f) >= 3 and f[2].isdigit():
            out.append(Swap(f[0], f[1], int(f[2])))
    return tuple(out)


def _zram(root: Path) -> tuple[Zram, ...]:
    block = _under(root, "/sys/block")
    try:
        names = sorted(p.name for p in block.iterdir() if p.name.startswith("zram"))
    except OSError:
        return ()
    return tuple(Zram(n, _int(_read(block / n / "disksize")) or 0) for n in names)


def _readahead(root: Path, workdir: Path, st_dev: Callable[[Path], int]) -> Readahead:
    dev = st_dev(workdir)
    majmin = f"{os.major(dev)}:{os.minor(dev)}"
    link = _under(root, f"/sys/dev/block/{majmin}")
    if not _is(link, Path.exists):  # e.g. tmpfs, overlayfs, NFS: no block device behind it
        return Readahead(str(workdir), majmin, None, None, None)
    node = Path(os.path.realpath(link))
    partition = None
    if _is(node / "partition", Path.exists):  # walk up to the disk, which owns the queue
        partition, node = node.name, node.parent
    kb = _int(_read(node / "queue" / "read_ahead_kb"))
    return Readahead(str(workdir), majmin, node.name, partition, kb)


def _mem_available(root: Path) -> int | None:
    for line in (_read(_under(root, "/proc/meminfo")) or "").splitlines():
        if line.startswith("MemAvailable:"):
            return _int(line.split()[1])
    return None


def _default_st_dev(path: Path) -> int:
    return os.stat(path).st_dev


def gather(root: Path = Path("/"), workdir: Path | None = None,
           which: Callable[[str], str | None] = shutil.which,
           st_dev: Callable[[Path], int] = _default_st_dev) -> Probe:
    """Read the facts under ``root``. ``workdir`` (default: the current directory) is
    stat'ed with ``st_dev`` to find its block device. Reads only; changes nothing."""
    mounts = _mounts(root)
    v1_enabled, v1_hier, v1_mount = _memory_v1(root, mounts)
    v2_mount = next((p for p, t, _ in mounts if t == "cgroup2"), None)
    v2_controllers: tuple[str, ...] = ()
    if v2_mount is not None:
        text = _read(_under(root, v2_mount) / "cgroup.controllers") or ""
        v2_controllers = tuple(text.split())
    filesystems = _read(_under(root, "/proc/filesystems")) or ""
    tracefs_in_kernel = any(line.split()[-1:] == ["tracefs"]
                            for line in filesystems.splitlines())
    tracefs_mount = next((p for p, t, _ in mounts if t == "tracefs"), None)
    events: tuple[str, ...] = ()
    kprobe_events: bool | None = None
    if tracefs_mount is not None:
        tdir = _under(root, tracefs_mount)
        events = tuple(c for c in ("memcg", "vmscan", "cgroup")
                       if _is(tdir / "events" / c, Path.is_dir))
        kprobe_events = _is(tdir / "kprobe_events", Path.exists)
    try:
        btf_size: int | None = _under(root, "/sys/kernel/btf/vmlinux").stat().st_size
    except OSError:
        btf_size = None
    lru = _read(_under(root, "/sys/kernel/mm/lru_gen/enabled"))
    return Probe(
        euid=_euid(root),
        memory_v1_enabled=v1_enabled, memory_v1_hierarchy=v1_hier, memory_v1_mount=v1_mount,
        cgroup_v2_mount=v2_mount, cgroup_v2_controllers=v2_controllers,
        tracefs_in_kernel=tracefs_in_kernel, tracefs_mount=tracefs_mount,
        tracefs_events=events, kprobe_events=kprobe_events,
        config=_config(root),
        bpf_syscall=_is(_under(root, "/proc/sys/kernel/unprivileged_bpf_disabled"),
                        Path.exists),
        btf_size=btf_size,
        bpftrace=which("bpftrace"),
        swaps=_swaps(root), zram=_zram(root),
        lru_gen=lru.strip() if lru is not None else None,
        readahead=_readahead(root, workdir if workdir is not None else Path.cwd(), st_dev),
        mem_available_kb=_mem_available(root),
    )


# --- verdicts (pure) ----------------------------------------------------------------------


def _size(kb: int) -> str:
    if kb >= 1024 * 1024:
        return f"{kb / (1024 * 1024):.1f} GiB"
    if kb >= 1024:
        return f"{kb / 1024:.1f} MiB"
    return f"{kb} KiB"


def _cgroups(p: Probe) -> Line:
    parts = []
    if p.memory_v1_hierarchy is not None or p.memory_v1_mount is not None:
        parts.append("v1")
    if p.cgroup_v2_mount is not None:
        ctl = " ".join(p.cgroup_v2_controllers) or "none"
        parts.append(f"v2 at {p.cgroup_v2_mount} (controllers: {ctl})")
    value = " + ".join(parts) or "none mounted"
    if p.memory_controller == "v1":
        then = "hybrid: memory is on v1, so v2-only files (memory.reclaim, memory.events) "\
               "are unavailable" if p.cgroup_v2_mount is not None else "v1 only"
    elif p.memory_controller == "v2":
        then = "unified: memory is on v2"
    else:
        then = "no hierarchy carries the memory controller"
    return Line("cgroups", value, then, p.memory_controller is not None)


def _memory(p: Probe) -> Line:
    if p.memory_v1_mount is not None:
        hier = f" (hierarchy {p.memory_v1_hierarchy})" if p.memory_v1_hierarchy else ""
        return Line("memory controller", f"cgroup v1 at {p.memory_v1_mount}{hier}",
                    "kernel run uses v1 files (limit_in_bytes, soft_limit_in_bytes, "
                    "use_hierarchy, force_empty)", True)
    if p.memory_v2:
        return Line("memory controller", f"cgroup v2 at {p.cgroup_v2_mount}",
                    "kernel run uses v2 files (memory.max, memory.high, memory.reclaim, "
                    "memory.stat pgscan/pgsteal)", True)
    if p.memory_v1_enabled:
        return Line("memory controller", "enabled in /proc/cgroups but not mounted",
                    "kernel run cannot work: mount it (mount -t cgroup -o memory cgroup "
                    "/sys/fs/cgroup/memory) or add +memory to a cgroup2 subtree_control",
                    False)
    return Line("memory controller", "none (not on v1, not in cgroup.controllers of v2)",
                "kernel run cannot work: the kernel needs CONFIG_MEMCG and the controller "
                "must not be disabled (cgroup_disable=memory)", False)


def _root(p: Probe) -> Line:
    if p.euid is None:
        return Line("root", "unknown (no Uid line in /proc/self/status)",
                    "kernel run needs root; could not tell", False)
    if p.root:
        return Line("root", "yes (euid 0)",
                    "kernel run can create memcgs, set limits and enable tracing", True)
    return Line("root", f"no (euid {p.euid})",
                "kernel run needs root: run it as root (sudo)", False)


def _tracefs(p: Probe) -> Line:
    if p.tracefs_mount is not None:
        ev = ", ".join(p.tracefs_events) or "none of memcg/vmscan/cgroup"
        ok = "memcg" in p.tracefs_events and "vmscan" in p.tracefs_events
        then = ("recording can use a private instance on memcg:count_memcg_events and "
                "vmscan:mm_vmscan_*" if ok else
                "recording lacks the memcg/vmscan events it needs from tracefs")
        return Line("tracefs", f"mounted at {p.tracefs_mount} (events: {ev})", then, ok)
    if p.tracefs_in_kernel:
        return Line("tracefs", "built in, not mounted",
                    f"kernel run mounts it (mount -t tracefs nodev {TRACEFS_DEFAULT}) and "
                    "uses a private instance", True)
    return Line("tracefs", "not in the kernel (no tracefs in /proc/filesystems)",
                "no event recording: kernel run can only read memory.stat counters", False)


def _kprobes(p: Probe) -> str:
    cfg = p.cfg("CONFIG_KPROBES")
    if p.kprobe_events or cfg == "y":
        return "kprobes: yes"
    if p.kprobe_events is False or cfg == "n":
        return "kprobes: no"
    return "kprobes: unknown"


def _bpf(p: Probe) -> Line:
    kp = _kprobes(p)
    if not p.bpf_syscall and p.cfg("CONFIG_BPF_SYSCALL") != "y":
        return Line("bpf", f"no bpf() syscall; {kp}",
                    "recording falls back to tracefs only: no reclaim root, no iterator "
                    "cursor", False)
    if kp == "kprobes: yes":
        then = "BPF can hook mem_cgroup_iter itself (kprobe) as well as the tracepoints"
    else:
        then = ("BPF on tracepoints only: mem_cgroup_iter cannot be hooked; the recorder "
                "reads root and iterator cursor from tracepoints")
    return Line("bpf", f"bpf() syscall present; {kp}", then, True)


def _btf(p: Probe) -> Line:
    if p.btf_size is not None:
        return Line("btf", f"/sys/kernel/btf/vmlinux ({_size(p.btf_size // 1024)})",
                    "tp_btf programs and CO-RE field offsets work (scan_control, "
                    "mem_cgroup iter)", True)
    return Line("btf", "absent (no /sys/kernel/btf/vmlinux)",
                "no typed BPF: recording falls back to tracefs only (no reclaim root, no "
                "iterator cursor)", False)


def _bpftrace(p: Probe) -> Line:
    if p.bpftrace is not None:
        return Line("bpftrace", p.bpftrace,
                    "the BPF recorder can run (tracepoints with BTF casts)", True)
    return Line("bpftrace", "not installed",
                "recording falls back to tracefs only (apt-get install bpftrace)", False)


def _swap(p: Probe) -> Line:
    zram_ready = [z for z in p.zram if z.disksize == 0]
    if p.swaps:
        names = ", ".join(f"{s.name} ({_size(s.size_kb)})" for s in p.swaps)
        return Line("swap", names,
                    "anon pages can be reclaimed; swap is global, so other processes "
                    "may be swapped too", True)
    if p.zram:
        free = f"; {zram_ready[0].name} unused" if zram_ready else ""
        return Line("swap", f"none; zram available ({len(p.zram)} device(s){free})",
                    "anon workloads need --zram SIZE (kernel run sets up zram swap and "
                    "removes it after); file workloads need nothing", True)
    if p.cfg("CONFIG_ZRAM") in ("y", "m"):
        return Line("swap", "none; zram built but no device (/sys/class/zram-control)",
                    "anon workloads need a zram device (hot_add) or a swap file", False)
    return Line("swap", "none; no zram",
                "anon workloads cannot be reclaimed: use file workloads only", False)


def _mglru(p: Probe) -> Line:
    if p.lru_gen is None:
        built = " (CONFIG_LRU_GEN not set)" if p.cfg("CONFIG_LRU_GEN") == "n" else ""
        return Line("mglru", f"not built{built}",
                    "global reclaim walks memcgs with mem_cgroup_iter, as the model does",
                    True)
    try:
        on = int(p.lru_gen, 16) != 0
    except ValueError:
        on = p.lru_gen.lower() in ("y", "1")
    if on:
        return Line("mglru", f"enabled ({p.lru_gen})",
                    "global reclaim uses the memcg LRU (shrink_many), not mem_cgroup_iter: "
                    "compare limit reclaim only, or echo n > /sys/kernel/mm/lru_gen/enabled",
                    False)
    return Line("mglru", f"built, disabled ({p.lru_gen})",
                "global reclaim walks memcgs with mem_cgroup_iter, as the model does", True)


def _readahead_line(p: Probe) -> Line:
    r = p.readahead
    if r is None:
        return Line("readahead", "not probed", "-", True)
    if r.device is None:
        return Line("readahead", f"{r.workdir}: no block device ({r.dev})",
                    "file workloads there live in RAM or on the network: readahead does "
                    "not apply; use --workdir on a disk", False)
    part = f" (via partition {r.partition})" if r.partition else ""
    if r.read_ahead_kb is None:
        return Line("readahead", f"{r.workdir}: {r.device}{part}: read_ahead_kb unreadable",
                    "file fault batch size unknown", False)
    pages = r.read_ahead_kb // 4
    return Line("readahead", f"{r.workdir}: {r.device}{part} read_ahead_kb={r.read_ahead_kb}",
                f"a sequential file reader charges up to {pages} pages (4 KiB) per "
                "readahead; kernel run records this beside its results", True)


def _meminfo(p: Probe) -> Line:
    if p.mem_available_kb is None:
        return Line("MemAvailable", "unknown (no /proc/meminfo line)",
                    "cannot size workloads", False)
    return Line("MemAvailable", _size(p.mem_available_kb),
                "workloads and limits must fit well inside this, so that only limit "
                "reclaim (not global pressure) runs", True)


def missing(p: Probe) -> list[str]:
    """What ``kernel run`` cannot do without: root and a memory controller."""
    out = []
    if not p.root:
        out.append("root")
    if p.memory_controller is None:
        out.append("memory controller")
    return out


def readiness(p: Probe) -> Line:
    lack = missing(p)
    if lack:
        return Line("kernel run", "NOT ready: missing " + ", ".join(lack),
                    "fix the lines marked !! above", False)
    return Line("kernel run", f"requirements met (root, memory controller on cgroup "
                              f"{p.memory_controller})",
                "memcglab kernel run can run scenarios here; the other lines say what "
                "its recording will and will not see", True)


def verdicts(p: Probe) -> list[Line]:
    """One line per fact, in a fixed order, then the overall readiness."""
    return [_root(p), _cgroups(p), _memory(p), _tracefs(p), _bpf(p), _btf(p), _bpftrace(p),
            _swap(p), _mglru(p), _readahead_line(p), _meminfo(p), readiness(p)]
