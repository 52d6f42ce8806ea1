"""Child process of reclaim.py (item 3): the streaming reader that runs inside the memcg.

Measures the wall time (CLOCK_MONOTONIC) and /proc/self/io read_bytes/rchar of one pass over
FILE with 4 KiB ``os.preadv`` reads into one bytearray, as memcglab's worker does, with
default readahead (POSIX_FADV_NORMAL) or, with --fadv-random, POSIX_FADV_RANDOM (no
readahead: every read is a 1-page miss and the page cache holds order-0 folios).

Protocol: prints "ready", waits for a "go" line on stdin (the parent moves it into the memcg in
between), reads the whole file once, prints one JSON line, exits.

Not run by hand: reclaim.py starts it with its own interpreter (sys.executable) as
    python3 child_stream.py FILE [--fadv-random]
"""
import json
import os
import sys
import time

PAGE = 4096
path = sys.argv[1]
fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
size = os.fstat(fd).st_size
RANDOM = "--fadv-random" in sys.argv  # POSIX_FADV_RANDOM: no readahead, order-0 folios
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM if RANDOM else os.POSIX_FADV_NORMAL)
buf = bytearray(PAGE)
buf[0] = 0
bufs = [buf]
preadv = os.preadv


def io() -> dict[str, int]:
    with open("/proc/self/io") as f:
        return {k.strip(): int(v) for k, v in (line.split(":") for line in f)}


sys.stdout.write("ready\n")
sys.stdout.flush()
if sys.stdin.readline().strip() != "go":
    sys.exit(1)
io0 = io()
t0 = time.monotonic_ns()
n = size // PAGE
for i in range(n):
    if preadv(fd, bufs, i * PAGE) != PAGE:
        raise OSError("short read")
t1 = time.monotonic_ns()
io1 = io()
print(json.dumps({"pid": os.getpid(), "reads": n, "t0_mono_ns": t0, "t1_mono_ns": t1,
                  "wall_ns": t1 - t0, "MBps": size / (t1 - t0) * 1e3,
                  "reads_per_s": n / (t1 - t0) * 1e9,
                  "read_bytes": io1["read_bytes"] - io0["read_bytes"],
                  "rchar": io1["rchar"] - io0["rchar"]}), flush=True)
