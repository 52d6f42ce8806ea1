"""Shared helpers for the I/O cost measurements in benchmarks/costs/ (standard library only).

Measures nothing by itself. disk.py, bw_order.py and reclaim.py import it, and
cached_c.sh / cached_c_alignment.sh call ``make_file`` through ``python3 -c``. It creates
scratch files under /var/tmp/costs-<random>/ (ext4 on /dev/vda, not tmpfs) and evicts them
with POSIX_FADV_DONTNEED only (no drop_caches). It needs util-linux ``fincore`` on PATH.

Not meant to be run. To check that it imports, from benchmarks/costs/:
    python3 -c "import common"
"""
import contextlib
import os
import statistics
import subprocess
import tempfile
from collections.abc import Sequence
from typing import Any

PAGE = 4096
MiB = 1 << 20


def make_dir() -> str:
    # /var/tmp is on / (ext4 on /dev/vda), not tmpfs.
    return tempfile.mkdtemp(prefix="costs-", dir="/var/tmp")


def make_file(path: str, size: int, chunk: int = MiB) -> None:
    """Write `size` bytes of random data (1 MiB random blocks, each distinct), fsync."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for _ in range(size // chunk):
            os.write(fd, os.urandom(chunk))
        os.fsync(fd)
    finally:
        os.close(fd)


def evict(path: str) -> int:
    """Drop the file's (clean) page cache with POSIX_FADV_DONTNEED only."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return resident(path)


def resident(path: str) -> int:
    """Bytes of the file in the page cache (util-linux fincore)."""
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "-o", "RES", path],
                         capture_output=True, text=True, check=True).stdout.strip()
    return int(out)


def proc_io() -> dict[str, int]:
    d: dict[str, int] = {}
    with open("/proc/self/io") as f:
        for line in f:
            k, v = line.split(":")
            d[k.strip()] = int(v)
    return d


def pct(xs: Sequence[float], p: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summary(xs: Sequence[float]) -> dict[str, Any]:
    return {"n": len(xs), "min": min(xs), "median": statistics.median(xs),
            "p90": pct(xs, 90), "p99": pct(xs, 99), "max": max(xs),
            "mean": statistics.fmean(xs)}


def blockinfo(dev: str = "vda") -> dict[str, str]:
    q = f"/sys/block/{dev}/queue/"
    out = {}
    for k in ("read_ahead_kb", "max_sectors_kb", "max_hw_sectors_kb", "rotational",
              "nr_requests", "scheduler", "logical_block_size", "physical_block_size"):
        with contextlib.suppress(OSError), open(q + k) as f:
            out[k] = f.read().strip()
    return out
