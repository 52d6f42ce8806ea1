"""The files that the file workloads of ``memcglab kernel run`` read, in a work directory.

Each process of a file workload reads its own file (as each simulated process has its own
mapping), so a run needs ``processes`` files of ``size`` per file workload.

* :func:`prepare` writes them: real data (one pseudo-random 1 MiB block, repeated), never
  sparse, so that ext4 allocates blocks and a read really goes to the disk. A file that the
  marker ``.memcglab-workfiles`` lists, with the same size, inode, mtime and content, is
  reused, so repeated runs start at once. While writing, every 64 MiB is synced and dropped
  from the page cache, so the tool itself never holds more than 64 MiB of dirty cache
  (charged to the cgroup memcglab runs in).
* :func:`evict` drops one file from the page cache with ``posix_fadvise(POSIX_FADV_DONTNEED)``
  on that file only; never ``drop_caches``, which would empty the cache of the whole
  machine. This matters twice: a page already cached is not read from disk, and it stays
  charged to whichever memcg first charged it (here memcglab's own), so a workload reading
  it would not be charged at all. Linux v6.18 ``mm/fadvise.c`` ``generic_fadvise``: DONTNEED
  starts writeback (``WB_SYNC_NONE``, so we ``fdatasync`` first), then
  ``mapping_try_invalidate`` drops clean, unmapped, unlocked pages, draining the per-CPU LRU
  caches (``lru_add_drain_all``) and retrying once if some failed. Pages mapped or being read
  by a process stay.
* :func:`resident_pages` checks it: ``cachestat(2)`` (Linux 6.5+, syscall 451) returns the
  number of the file's pages in the page cache without reading, faulting or mapping
  anything; on older kernels, ``mincore(2)`` on a ``PROT_READ`` shared mapping of the file
  (which faults nothing in). Both through ``ctypes``, as the standard library has neither.
  Rejected: ``preadv(RWF_NOWAIT)`` probes (a NOWAIT buffered read may still start readahead,
  changing what it measures and charging pages) and ``/proc`` (which has no per-file
  residency).
* :func:`check_space` refuses a work directory without room for the files (plus a 64 MiB
  reserve) and one on a memory file system: on tmpfs (or ramfs) a file's pages are shmem,
  swap-backed pages on the anon LRU that are never read from a block device, so a "file"
  workload there would exercise neither file-cache reclaim nor readahead.
* :func:`remove` deletes only what the marker lists and is still memcglab's (same inode and
  memcglab's data in the first page), the marker, and the directory if :func:`prepare`
  created it and it is then empty; never anything else. :func:`prepare` overwrites nothing
  else either.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import json
import mmap
import os
import random
import stat
from collections.abc import Sequence
from pathlib import Path

from memcglab.errors import LiveError
from memcglab.live.state import not_private

MARKER = ".memcglab-workfiles"
PAGE_SIZE = 4096
BLOCK = 1 << 20
FLUSH_EVERY = 64 << 20
RESERVE = 1 << 30  # free space a run always leaves (at least; see check_space)
# One content version: changing how blocks are made must change this, so that old files
# are rewritten rather than reused.
CONTENT = "rand-1MiB-block-v1"
_SEED = 0x6D656D63676C6162  # "memcglab"
# Memory-backed file systems: their "file" pages are shmem or pinned RAM, not page cache of
# a block device.
MEMORY_FS = frozenset({"tmpfs", "ramfs", "devtmpfs", "hugetlbfs"})
MOUNTINFO = "/proc/self/mountinfo"
_SYS_CACHESTAT = 451  # the same number on every architecture but alpha


@functools.cache
def _block() -> bytes:
    # Pseudo-random bytes: not all zero (a zero page could be special-cased somewhere along
    # the way) and not compressible by a disk layer that might compress; one seeded block.
    return random.Random(_SEED).randbytes(BLOCK)


def _ours(path: Path, entry: dict[str, object] | None) -> bool:
    """Whether ``path`` is still the file memcglab wrote under that name: a regular file
    (not a symlink), the marker's inode (or an entry left incomplete by a killed run), and
    memcglab's pseudo-random data in its first page. The inode alone is not enough: ext4
    hands a deleted file's inode number to the next new file."""
    if entry is None or path.is_symlink() or not path.is_file():
        return False
    st = path.lstat()
    if entry.get("complete") is not False and entry.get("ino") != st.st_ino:
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        head = os.pread(fd, PAGE_SIZE, 0)
    finally:
        os.close(fd)
    return len(head) == min(PAGE_SIZE, st.st_size) and head == _block()[:len(head)]


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def fs_type(path: Path, mountinfo: str = MOUNTINFO) -> tuple[str, str]:
    """(file system type, mount point) of the mount holding ``path`` (or its nearest
    existing ancestor): the mount whose mount point is the longest prefix of the real path,
    the last mounted one if several are stacked there."""
    p = Path(path).absolute()
    while not p.exists():
        p = p.parent
    real = os.path.realpath(p)
    best: tuple[str, str] | None = None
    try:
        with open(mountinfo, encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise LiveError(f"cannot read {mountinfo}: {e.strerror}") from None
    for line in lines:
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if not sep or len(fields) < 5 or not right.split():
            continue
        mnt = _unescape(fields[4])
        inside = real == mnt or real.startswith(mnt.rstrip("/") + "/")
        if inside and (best is None or len(mnt) >= len(best[1])):
            best = (right.split()[0], mnt)
    if best is None:
        raise LiveError(f"{path}: no mount in {mountinfo} holds it")
    return best


# Kernel interfaces, not storage: a work directory there is a mistake.
VIRTUAL_FS = {"proc", "sysfs", "cgroup", "cgroup2", "tracefs", "debugfs", "devpts",
              "securityfs", "bpf", "pstore", "configfs", "fusectl", "mqueue"}


def check_space(workdir: Path, nbytes: int, mountinfo: str = MOUNTINFO) -> None:
    """Refuse (LiveError) a work directory on a memory file system, or one whose file system
    has less than ``nbytes`` plus a 64 MiB reserve free (for an unprivileged user: root's
    reserved blocks do not count)."""
    kind, mnt = fs_type(workdir, mountinfo)
    if kind in MEMORY_FS:
        raise LiveError(
            f"work directory {workdir} is on {kind} (mounted at {mnt}): its files are shmem "
            "pages in memory (swap-backed, on the anon LRU), never read from a block device, "
            "so file workloads there would exercise neither page-cache reclaim nor "
            "readahead; choose a directory on a disk file system (ext4, xfs, ...)")
    if kind in VIRTUAL_FS:
        raise LiveError(f"work directory {workdir} is on {kind} (mounted at {mnt}): not a "
                        "disk file system; choose a directory on one (ext4, xfs, ...)")
    p = Path(workdir).absolute()
    while not p.exists():
        p = p.parent
    st = os.statvfs(p)
    free = st.f_bavail * st.f_frsize
    # keep a tenth of the file system (at least 1 GiB) free: the run must not fill the
    # machine's disk
    reserve = max(RESERVE, st.f_blocks * st.f_frsize // 10)
    if free < nbytes + reserve:
        raise LiveError(f"work directory {workdir}: {_mib(free)} free on {mnt}, the run's "
                        f"files need {_mib(nbytes)} (plus a {_mib(reserve)} reserve); free "
                        "some space or choose another directory")


def _mib(n: int) -> str:
    return f"{n / (1 << 20):,.1f} MiB"


def _read_marker(workdir: Path) -> dict[str, object] | None:
    path = workdir / MARKER
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise LiveError(f"{path}: unreadable memcglab marker ({e}); remove it by hand if "
                        "the directory holds nothing of yours") from None
    if not (isinstance(data, dict) and data.get("memcglab") == "workfiles"
            and isinstance(data.get("files"), dict)
            and all(isinstance(e, dict) for e in data["files"].values())):
        raise LiveError(f"{path}: not a memcglab work-files marker")
    return data


def _write_marker(workdir: Path, data: dict[str, object]) -> None:
    tmp = workdir / (MARKER + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, workdir / MARKER)


def _entries(marker: dict[str, object]) -> dict[str, dict[str, object]]:
    files = marker["files"]
    assert isinstance(files, dict)
    return files


def _check_names(files: Sequence[tuple[str, int]]) -> None:
    seen: set[str] = set()
    for name, size in files:
        if (not name or "/" in name or "\0" in name or name in (".", "..")
                or name.startswith(MARKER)):
            raise LiveError(f"work file name {name!r}: expected a plain file name")
        if name in seen:
            raise LiveError(f"work file {name!r} is listed twice")
        seen.add(name)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise LiveError(f"work file {name!r}: size must be a positive number of bytes, "
                            f"got {size!r}")


def _reusable(path: Path, size: int, entry: dict[str, object]) -> bool:
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    return (entry.get("complete") is True and entry.get("size") == size
            and entry.get("content") == CONTENT and entry.get("ino") == st.st_ino
            and entry.get("mtime_ns") == st.st_mtime_ns and st.st_size == size
            and st.st_blocks * 512 >= size)  # not sparse


def prepare(workdir: Path, files: Sequence[tuple[str, int]],
            mountinfo: str = MOUNTINFO) -> list[Path]:
    """Make ``files`` (name, bytes) in ``workdir`` (created if missing) and return their
    paths, in order. Files the marker lists, unchanged, are reused; a name that exists but
    is not memcglab's is refused (LiveError), as are a memory file system and too little
    space (:func:`check_space`). Every file ends synced and evicted from the page cache."""
    _check_names(files)
    workdir = Path(workdir).absolute()
    if workdir.exists() and not workdir.is_dir():
        raise LiveError(f"work directory {workdir} exists and is not a directory")
    marker = _read_marker(workdir) if workdir.is_dir() else None
    entries = _entries(marker) if marker is not None else {}
    todo: list[tuple[str, int]] = []
    need = 0
    for name, size in files:
        path = workdir / name
        entry = entries.get(name)
        if entry is not None and _reusable(path, size, entry) and _ours(path, entry):
            continue
        old = 0
        if os.path.lexists(path):
            st = path.lstat()
            if not _ours(path, entry):
                raise LiveError(f"{path} exists and is not a file memcglab wrote (see "
                                f"{workdir / MARKER}); move it or choose another work "
                                "directory")
            old = st.st_blocks * 512
        need += max(0, size - old)
        todo.append((name, size))
    check_space(workdir, need, mountinfo)
    if marker is None:
        created = not workdir.exists()
        workdir.mkdir(parents=True, exist_ok=True)
        marker = {"memcglab": "workfiles", "created_dir": created, "files": {}}
        entries = _entries(marker)
    block = memoryview(_block()) if todo else memoryview(b"")
    for name, size in todo:
        # Listed before it is written: a run killed half-way leaves a file that the marker
        # still names, so the next prepare() rewrites it and remove() deletes it.
        entries[name] = {"complete": False, "size": size, "content": CONTENT}
        _write_marker(workdir, marker)
        path = workdir / name
        _write_file(path, size, block)
        st = path.stat()
        entries[name] = {"complete": True, "size": size, "content": CONTENT,
                         "ino": st.st_ino, "mtime_ns": st.st_mtime_ns}
        _write_marker(workdir, marker)
    paths = [workdir / name for name, _ in files]
    for path in paths:
        evict(path)
    return paths


def _write_file(path: Path, size: int, block: memoryview) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW,
                 0o644)
    try:
        written = flushed = 0
        while written < size:
            n = os.write(fd, block[:min(BLOCK, size - written)])
            written += n
            if written - flushed >= FLUSH_EVERY:
                # Keep our own page cache small: sync the last stretch and drop it.
                os.fdatasync(fd)
                os.posix_fadvise(fd, flushed, written - flushed, os.POSIX_FADV_DONTNEED)
                flushed = written
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


class _CachestatRange(ctypes.Structure):
    _fields_ = (("off", ctypes.c_uint64), ("len", ctypes.c_uint64))


class _Cachestat(ctypes.Structure):
    _fields_ = (("nr_cache", ctypes.c_uint64), ("nr_dirty", ctypes.c_uint64),
                ("nr_writeback", ctypes.c_uint64), ("nr_evicted", ctypes.c_uint64),
                ("nr_recently_evicted", ctypes.c_uint64))


_libc: ctypes.CDLL | None = None


def _c() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _cachestat(fd: int) -> int | None:
    """The file's pages in the page cache, or None if the kernel lacks cachestat(2)."""
    libc = _c()
    rng, cs = _CachestatRange(0, 0), _Cachestat()  # len 0: to the end of the file
    libc.syscall.restype = ctypes.c_long
    r = libc.syscall(ctypes.c_long(_SYS_CACHESTAT), ctypes.c_int(fd), ctypes.byref(rng),
                     ctypes.byref(cs), ctypes.c_uint(0))
    if r != 0:
        err = ctypes.get_errno()
        if err in (errno.ENOSYS, errno.EPERM):  # EPERM: a seccomp filter that does not know it
            return None
        raise OSError(err, os.strerror(err))
    return int(cs.nr_cache)


def _mincore(fd: int) -> int:
    size = os.fstat(fd).st_size
    if size == 0:
        return 0
    libc = _c()
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long)
    libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
    libc.mincore.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p)
    addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
    if addr in (None, ctypes.c_void_p(-1).value):
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    try:
        npages = -(-size // PAGE_SIZE)
        vec = ctypes.create_string_buffer(npages)
        if libc.mincore(addr, size, vec) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        return sum(b & 1 for b in vec.raw)
    finally:
        libc.munmap(addr, size)


def resident_pages(path: Path, method: str = "auto") -> int:
    """How many pages of ``path`` are in the page cache (``method``: ``auto`` = cachestat,
    else mincore; ``cachestat`` or ``mincore`` to force one)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if method in ("auto", "cachestat"):
            n = _cachestat(fd)
            if n is not None:
                return n
            if method == "cachestat":
                raise LiveError("this kernel has no cachestat(2) (Linux 6.5+)")
        return _mincore(fd)
    finally:
        os.close(fd)


def evict(path: Path) -> None:
    """Drop ``path`` from the page cache (POSIX_FADV_DONTNEED on this file only) and check
    that none of its pages stayed; LiveError if some did (a process maps or reads it)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        # DONTNEED skips dirty pages and only starts their writeback: write them first.
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        left = resident_pages(path)
        if left:
            # Pages that were in flight (readahead ending, a remote CPU's LRU cache) may go
            # on a second try; mapped or locked pages will not.
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            left = resident_pages(path)
    finally:
        os.close(fd)
    if left:
        total = -(-path.stat().st_size // PAGE_SIZE)
        raise LiveError(f"{path}: {left} of {total} pages stay in the page cache after "
                        "POSIX_FADV_DONTNEED: a process maps or is reading the file (a "
                        "worker of an earlier run still alive?)")


def remove(workdir: Path) -> list[Path]:
    """Delete the files the marker in ``workdir`` lists (only if they are still the files
    memcglab wrote: same inode and memcglab's data), then the marker, then ``workdir`` itself
    if ``prepare`` created it and it is empty. Returns what was deleted; without a marker,
    nothing."""
    workdir = Path(workdir).absolute()
    marker = _read_marker(workdir) if workdir.is_dir() else None
    if marker is None:
        return []
    removed: list[Path] = []
    kept: dict[str, dict[str, object]] = {}
    for name, entry in _entries(marker).items():
        path = workdir / name
        if "/" in name or name in (".", "..") or not os.path.lexists(path):
            continue
        if _ours(path, entry):
            path.unlink()
            removed.append(path)
        else:
            kept[name] = entry
    if kept:
        # Replaced since memcglab wrote them: not ours to delete; the marker stays for them.
        marker["files"] = kept
        _write_marker(workdir, marker)
        return removed
    (workdir / MARKER).unlink()
    removed.append(workdir / MARKER)
    if marker.get("created_dir") is True:
        try:
            workdir.rmdir()
            removed.append(workdir)
        except OSError:
            pass  # not empty: something else lives there now
    return removed


# The recorders' files in a run's directory (next to the workload files, which the marker
# lists): the tracefs copy, bpftrace's output and its generated script.
TRACE_FILE = "trace.txt"
BPF_FILE = "bpftrace.out"
BPF_SCRIPT = "bpftrace.bt"


def check_workdir(workdir: Path) -> None:
    """Make ``workdir`` (mode 0700) if it does not exist, and refuse one that someone else
    could change under a root process: not a directory of this user, writable by group or
    others, or a symbolic link another user made. A root run writes and later deletes
    files in it: in a directory another user can write, they could swap the run's
    directory for a link to somewhere else between the two."""
    workdir = Path(workdir)
    try:
        workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        link = os.lstat(workdir)
        st = os.stat(workdir)
    except OSError as e:
        raise LiveError(f"--workdir {workdir}: cannot make or read it "
                        f"({e.strerror or e})") from None
    me = os.geteuid()
    if stat.S_ISLNK(link.st_mode) and link.st_uid not in (me, 0):
        raise LiveError(f"--workdir {workdir}: a symbolic link owned by uid {link.st_uid}; "
                        "give the directory itself")
    why = not_private(st)
    if why:
        raise LiveError(f"--workdir {workdir}: {why}; kernel run writes and removes files "
                        "there as root, so it must be a directory of this user that no one "
                        "else can write (chmod go-w, or give another --workdir)")


def remove_rundir(rundir: Path) -> list[str]:
    """Remove a run's directory (``<workdir>/memcglab-<runid>``, made by the run): the
    workload files its marker lists (:func:`remove`), the recorders' files of the names
    above, then the directory if nothing else is in it. Returns the problems (a file
    someone else put there stays, and is named)."""
    if rundir.is_symlink():
        return [f"{rundir}: a symbolic link, not the run's directory; left alone"]
    if not rundir.is_dir():
        return []
    remove(rundir)
    for name in (TRACE_FILE, BPF_FILE, BPF_SCRIPT):
        (rundir / name).unlink(missing_ok=True)
    left = sorted(p.name for p in rundir.iterdir())
    if left:
        return [f"{rundir}: not removed, it holds files memcglab did not write: "
                f"{', '.join(left[:5])}"]
    rundir.rmdir()
    return []
