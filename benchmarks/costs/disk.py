"""Items 1 and 2 of docs/research/io-cost-measurements.md.

Measures (1) /dev/vda reads through the page cache: 4 KiB read-miss latency, buffered with
POSIX_FADV_RANDOM and with O_DIRECT, and sequential read bandwidth (buffered 2 MiB and 4 KiB
reads with default readahead, O_DIRECT 2 MiB reads), and (2) the CPU cost of a cached 4 KiB
``os.preadv`` in a Python loop like memcglab's worker, against a 0-byte preadv and the bare
loop, plus ``dd bs=4k`` on the cached file and on /dev/zero.

Writes a 512 MiB file under /var/tmp/costs-<random>/, evicts it with POSIX_FADV_DONTNEED only
(needs util-linux ``fincore``) and removes it at the end. No root needed. It uses the disk:
run it on an otherwise idle machine. From benchmarks/costs/:
    python3 disk.py raw/disk-run1.json
    python3 disk.py raw/disk-run2.json      # the same again, on a new file
then summarize_disk.py. OUT.json is resolved against the current directory.
"""
import json
import mmap
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from common import PAGE, MiB, blockinfo, evict, make_dir, make_file, proc_io, resident, summary

SIZE = 512 * MiB
NPAGES = SIZE // PAGE
out: dict[str, Any] = {"block": blockinfo(), "python": sys.version, "uname": os.uname().release}
d = make_dir()
path = os.path.join(d, "data")
out["file"] = path


def rand_lat(path: str, offsets: Sequence[int], direct: bool = False) -> dict[str, Any]:
    """Time each 4 KiB pread at the given page indices."""
    buf: mmap.mmap | bytearray
    if direct:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
        buf = mmap.mmap(-1, PAGE)  # page-aligned buffer
    else:
        fd = os.open(path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        buf = bytearray(PAGE)
    bufs = [buf]
    io0 = proc_io()
    ts = []
    pc = time.perf_counter_ns
    for idx in offsets:
        t = pc()
        n = os.preadv(fd, bufs, idx * PAGE)
        ts.append(pc() - t)
        assert n == PAGE
    io1 = proc_io()
    os.close(fd)
    r = summary(ts)
    r["read_bytes"] = io1["read_bytes"] - io0["read_bytes"]
    r["raw_ns"] = ts
    return r


def seq_bw(path: str, bs: int, direct: bool = False) -> dict[str, Any]:
    flags = os.O_RDONLY | (os.O_DIRECT if direct else 0)
    fd = os.open(path, flags)
    if not direct:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_NORMAL)  # default readahead
    buf: mmap.mmap | bytearray = mmap.mmap(-1, bs) if direct else bytearray(bs)
    bufs = [buf]
    io0 = proc_io()
    t0 = time.perf_counter_ns()
    off = 0
    while off < SIZE:
        n = os.preadv(fd, bufs, off)
        assert n == bs
        off += n
    dt = time.perf_counter_ns() - t0
    io1 = proc_io()
    os.close(fd)
    return {"bs": bs, "direct": direct, "ns": dt, "MBps": SIZE / dt * 1e3,
            "MiBps": SIZE / MiB / (dt / 1e9), "read_bytes": io1["read_bytes"] - io0["read_bytes"]}


try:
    t = time.perf_counter()
    make_file(path, SIZE)
    out["create_s"] = time.perf_counter() - t
    out["resident_after_evict"] = evict(path)

    # (a) latency: 200 scattered 4 KiB reads, three disjoint offset sets.
    rng = random.Random(12345)
    sample = rng.sample(range(NPAGES), 600)
    A, B, C = sample[:200], sample[200:400], sample[400:]
    lat: dict[str, dict[str, Any]] = {}
    lat["buffered_random_A"] = rand_lat(path, A)
    lat["direct_B"] = rand_lat(path, B, direct=True)
    out["resident_after_lat_A_B"] = resident(path)
    lat["buffered_random_C"] = rand_lat(path, C)
    lat["direct_A_reread"] = rand_lat(path, A, direct=True)  # same blocks as A (O_DIRECT)
    out["latency"] = lat

    # (b) bandwidth: 3 rounds of (buffered 2 MiB, buffered 4 KiB, O_DIRECT 2 MiB).
    bw: list[dict[str, Any]] = []
    for rnd in range(3):
        for bs, direct in ((2 * MiB, False), (PAGE, False), (2 * MiB, True)):
            res0 = evict(path)
            r = seq_bw(path, bs, direct)
            r["round"] = rnd
            r["resident_before"] = res0
            r["resident_after"] = resident(path)
            bw.append(r)
            print(json.dumps(r), flush=True)
    out["bandwidth"] = bw

    # Item 2: cached 4 KiB preadv CPU cost.
    fd = os.open(path, os.O_RDONLY)
    b = bytearray(2 * MiB)
    off = 0
    while off < SIZE:
        off += os.preadv(fd, [b], off)
    out["resident_before_cached"] = resident(path)
    buf = bytearray(PAGE)
    for o in range(0, len(buf), PAGE):
        buf[o] = 0
    bufs = [buf]
    empty = [bytearray(0)]
    N = 100_000
    preadv = os.preadv
    pc = time.perf_counter_ns

    def loop_read() -> int:  # as worker.py's touch loop (stream pattern, file)
        i = 0
        t = pc()
        for _ in range(N):
            if preadv(fd, bufs, i * PAGE) != PAGE:
                raise OSError("short")
            i += 1  # noqa: SIM113 (timed loop: kept as measured)
        return pc() - t

    def loop_null_syscall() -> int:  # same call, 0-byte iovec: syscall entry/exit + fdget, no copy
        i = 0
        t = pc()
        for _ in range(N):
            if preadv(fd, empty, i * PAGE) != 0:
                raise OSError("?")
            i += 1  # noqa: SIM113 (timed loop: kept as measured)
        return pc() - t

    def loop_python() -> int:  # the loop's arithmetic and compare, no call
        i = 0
        t = pc()
        for _ in range(N):
            if i * PAGE < 0:
                raise OSError("?")
            i += 1  # noqa: SIM113 (timed loop: kept as measured)
        return pc() - t

    cached: dict[str, Any] = {"read": [], "null_syscall": [], "python_only": []}
    io0 = proc_io()
    for _ in range(7):
        cached["read"].append(loop_read() / N)
        cached["null_syscall"].append(loop_null_syscall() / N)
        cached["python_only"].append(loop_python() / N)
    io1 = proc_io()
    os.close(fd)
    cached["read_bytes_during"] = io1["read_bytes"] - io0["read_bytes"]
    out["cached_ns_per_call"] = cached

    # dd (C loop of read(4096)+write(/dev/null)) on the cached file, and on /dev/zero.
    dd: dict[str, list[float]] = {"file": [], "devzero": []}
    for _ in range(5):
        for key, src in (("file", path), ("devzero", "/dev/zero")):
            t = time.perf_counter_ns()
            subprocess.run(["dd", f"if={src}", "of=/dev/null", "bs=4k", "count=100000"],
                           check=True, capture_output=True)
            dd[key].append((time.perf_counter_ns() - t) / 100_000)
    # dd's process start-up is included above; measure it with count=0.
    dd["startup_ns_total"] = []
    for _ in range(5):
        t = time.perf_counter_ns()
        subprocess.run(["dd", f"if={path}", "of=/dev/null", "bs=4k", "count=0"],
                       check=True, capture_output=True)
        dd["startup_ns_total"].append(time.perf_counter_ns() - t)
    out["dd_ns_per_block"] = dd
    out["resident_end"] = resident(path)
finally:
    shutil.rmtree(d, ignore_errors=True)
    out["removed"] = not os.path.exists(d)

with open(sys.argv[1], "w") as f:
    json.dump(out, f, indent=1)
