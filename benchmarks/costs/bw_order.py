"""Why is the first buffered sequential read of a fresh file slow? (item 1, caveats)

Measures sequential read bandwidth of one new 512 MiB file with the order of the passes
varied: O_DIRECT 2 MiB, buffered 2 MiB, buffered 2 MiB, O_DIRECT 2 MiB, buffered 2 MiB, with
a POSIX_FADV_DONTNEED eviction before each pass. Prints one JSON line: MB/s (10^6 B/s) per
pass, in order, and MemFree at the end.

Writes the file under /var/tmp/costs-<random>/ and removes it at the end (needs util-linux
``fincore``). It uses the disk. From benchmarks/costs/:
    python3 bw_order.py > raw/bw_order-run1.txt ; python3 bw_order.py > raw/bw_order-run2.txt
"""
import json
import mmap
import os
import shutil
import time

from common import MiB, evict, make_dir, make_file

SIZE = 512 * MiB
d = make_dir()
path = os.path.join(d, "data")


def seq(bs: int, direct: bool) -> int:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECT if direct else 0))
    buf: mmap.mmap | bytearray = mmap.mmap(-1, bs) if direct else bytearray(bs)
    t = time.perf_counter_ns()
    off = 0
    while off < SIZE:
        off += os.preadv(fd, [buf], off)
    dt = time.perf_counter_ns() - t
    os.close(fd)
    return round(SIZE / dt * 1e3)


try:
    make_file(path, SIZE)
    res = []
    for label, bs, direct in (("direct2M", 2*MiB, True), ("buf2M", 2*MiB, False),
                              ("buf2M", 2*MiB, False), ("direct2M", 2*MiB, True),
                              ("buf2M", 2*MiB, False)):
        evict(path)
        res.append((label, seq(bs, direct)))
    with open("/proc/meminfo") as f:
        memfree_kb = next(line for line in f if line.startswith("MemFree")).split()[1]
    print(json.dumps({"MBps_in_order": res, "MemFree_kB_end": memfree_kb}))
finally:
    shutil.rmtree(d)
