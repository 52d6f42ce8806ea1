"""Helpers of the live-kernel tests (tests/test_live_bpf.py, tests/test_live_tracefs.py):
the one workload they record, ``dd`` reading an evicted file from a child memcg whose parent
is limited (limit reclaim all the way), on a cgroup v1 memory controller, as root.

Everything made here is removed again: :func:`scratch_dir` its directory, :func:`limited_memcg`
the two memcgs it made (and only those), :func:`limit_reclaim` both, :func:`running_dd_in`
its dd.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

MEMCG_V1 = Path("/sys/fs/cgroup/memory")

# ``enum vm_event_item`` of Linux 6.18.44 (read from its BTF), PGSTEAL_* and PGSCAN_*: data of
# the recorded fixtures, not knowledge of memcglab
ENUM_618 = {"PGSTEAL_KSWAPD": 28, "PGSTEAL_DIRECT": 29, "PGSTEAL_KHUGEPAGED": 30,
            "PGSTEAL_PROACTIVE": 31, "PGSCAN_KSWAPD": 32, "PGSCAN_DIRECT": 33,
            "PGSCAN_KHUGEPAGED": 34, "PGSCAN_PROACTIVE": 35}


def mem_available() -> int:
    """MemAvailable of /proc/meminfo, in bytes."""
    for row in Path("/proc/meminfo").read_text().splitlines():
        if row.startswith("MemAvailable:"):
            return int(row.split()[1]) * 1024
    raise AssertionError("no MemAvailable in /proc/meminfo")


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A new directory under /var/tmp (on disk: /tmp may be tmpfs, whose pages cannot be
    evicted), removed with its contents on exit."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def cold_file(directory: Path, mb: int, name: str = "data") -> Path:
    """``directory/name``: ``mb`` MiB written, synced (clean pages only: reclaiming them needs
    no writeback) and dropped from the page cache, so that reading it charges every page."""
    path = directory / name
    chunk = os.urandom(1 << 20)
    with path.open("wb") as f:
        for _ in range(mb):
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    return path


@contextlib.contextmanager
def limited_memcg(name_prefix: str, limit_bytes: int,
                  make_child: bool = True) -> Iterator[tuple[Path, Path]]:
    """``(parent, child)``: the v1 memcg ``name_prefix-<pid>`` with ``limit_bytes`` as its
    limit, and its child ``a``, made now or (``make_child=False``) by the caller within.

    On exit, however it is left, each of the two that exists is uncharged (``force_empty``:
    an rmdir with charges left would leave a dying memcg behind) and removed, the child
    first. Tasks must have left them by then. Only these two are touched: if the parent
    already exists, nothing is made and nothing removed (``FileExistsError``).
    """
    parent = MEMCG_V1 / f"{name_prefix}-{os.getpid()}"
    child = parent / "a"
    parent.mkdir()
    try:
        (parent / "memory.limit_in_bytes").write_text(str(limit_bytes))
        if make_child:
            child.mkdir()
        yield parent, child
    finally:
        errors: list[OSError] = []
        for d in (child, parent):
            if not d.is_dir():
                continue
            with contextlib.suppress(OSError):
                (d / "memory.force_empty").write_text("0")
            try:
                d.rmdir()
            except OSError as e:  # the parent is still tried; the first error is raised
                errors.append(e)
        if errors:
            raise errors[0]


def dd_in(child: Path, file: Path, quiet: bool = True) -> list[str]:
    """The command reading ``file`` with dd from the memcg ``child``: the shell joins
    ``child`` before it becomes dd, so every page dd reads is charged there. ``quiet``:
    ``status=none`` (else dd prints its summary on stderr)."""
    return ["sh", "-c", f"echo $$ > {child}/cgroup.procs; "
            f"exec dd if={file} of=/dev/null bs=1M" + (" status=none" if quiet else "")]


@contextlib.contextmanager
def running_dd_in(child: Path, file: Path) -> Iterator[subprocess.Popen[bytes]]:
    """:func:`dd_in`, quiet, started (its pid is dd's); killed on exit if still running."""
    dd = subprocess.Popen(dd_in(child, file))
    try:
        yield dd
    finally:
        if dd.poll() is None:
            dd.kill()
            dd.wait()


def run_dd_in(child: Path, file: Path, quiet: bool = True,
              timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    """:func:`dd_in` run to its end, which must be a success; unless ``quiet``, its output
    is captured (dd's summary is on ``stderr``)."""
    return subprocess.run(dd_in(child, file, quiet), capture_output=not quiet,
                          timeout=timeout, check=True)


class LimitReclaim(NamedTuple):
    tmp: Path  # a scratch directory
    parent: Path  # the limited memcg
    child: Path  # its child ``a``
    data: Path  # a cold file in ``tmp``


@contextlib.contextmanager
def limit_reclaim(name_prefix: str, mb: int, limit_bytes: int = 16 << 20,
                  make_child: bool = True) -> Iterator[LimitReclaim]:
    """The workload's setting: a :func:`scratch_dir` ``name_prefix-*`` holding a
    :func:`cold_file` of ``mb`` MiB, and a :func:`limited_memcg` ``name_prefix-<pid>``; all
    removed on exit."""
    with (scratch_dir(f"{name_prefix}-") as tmp,
          limited_memcg(name_prefix, limit_bytes, make_child) as (parent, child)):
        yield LimitReclaim(tmp, parent, child, cold_file(tmp, mb))
