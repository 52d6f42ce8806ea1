"""Item 3: cost of memcg (v1) limit reclaim of clean page cache, large folios.

Measures, with ftrace, every memcg limit reclaim call (mm_vmscan_memcg_reclaim_begin/end,
plus the mm_vmscan_lru_shrink_inactive events inside it) made by child_stream.py while it
streams a 256 MiB file with 4 KiB os.preadv reads inside a 16 MiB memory cgroup; also the
child's read rate and the group's memory.failcnt / max_usage / memory.stat.

Needs root, cgroup v1 with the memory controller at /sys/fs/cgroup/memory, and tracefs at
/sys/kernel/tracing (mounted here, and unmounted at the end, only if it is not mounted yet).
It creates, and removes in a `finally` block (so also after an error):
* a 256 MiB file in /var/tmp/costs-<random>/, fsync, evicted with POSIX_FADV_DONTNEED;
* a memcg v1 group /sys/fs/cgroup/memory/costs-<random>, memory.limit_in_bytes = 16M
  (memory.force_empty, then rmdir);
* a private tracefs instance /sys/kernel/tracing/instances/costs-<random>, trace_clock x86-tsc
  (raw TSC cycles; calibrated against CLOCK_MONOTONIC with two trace_marker writes), 16 MiB
  per-CPU buffer, events vmscan:mm_vmscan_memcg_reclaim_begin/end and
  vmscan:mm_vmscan_lru_shrink_inactive.
  --detail adds filemap:mm_filemap_delete_from_page_cache (folios removed, with order),
  filemap:mm_filemap_add_to_page_cache, vmscan:mm_vmscan_lru_isolate and
  vmscan:mm_vmscan_lru_shrink_active (they add their own cost to each folio: use the
  plain runs for timings, the detail run for folio counts).
  --fadv-random: the child sets POSIX_FADV_RANDOM, so every read is a 1-page miss and the
  page cache holds order-0 folios: a small-folio contrast.
child_stream.py is moved into the group between its "ready" and "go", then streams the file.

Raw trace -> raw/RUN_NAME.trace, metadata -> raw/RUN_NAME.json, in raw/ next to this script
(whatever the current directory). Then run analyze_reclaim.py and analyze_segments.py.

Usage, as root, from benchmarks/costs/:
    python3 reclaim.py RUN_NAME [--detail] [--fadv-random]
The runs in docs/research/io-cost-measurements.md:
    python3 reclaim.py reclaim-plain1 ; python3 reclaim.py reclaim-plain2
    python3 reclaim.py reclaim-plain3
    python3 reclaim.py reclaim-detail1 --detail
    python3 reclaim.py reclaim-rand-plain1 --fadv-random
    python3 reclaim.py reclaim-rand-detail1 --detail --fadv-random
"""
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import MiB, evict, make_dir, make_file

HERE = os.path.dirname(os.path.abspath(__file__))
name = sys.argv[1]
detail = "--detail" in sys.argv
fadv_random = "--fadv-random" in sys.argv
tag = "costs-" + uuid.uuid4().hex[:8]
TR = "/sys/kernel/tracing"
MEMCG_ROOT = "/sys/fs/cgroup/memory"
cg = os.path.join(MEMCG_ROOT, tag)
inst = os.path.join(TR, "instances", tag)
EVENTS = ["vmscan/mm_vmscan_memcg_reclaim_begin", "vmscan/mm_vmscan_memcg_reclaim_end",
          "vmscan/mm_vmscan_lru_shrink_inactive"]
if detail:
    EVENTS += ["filemap/mm_filemap_delete_from_page_cache",
               "filemap/mm_filemap_add_to_page_cache",
               "vmscan/mm_vmscan_lru_isolate", "vmscan/mm_vmscan_lru_shrink_active"]


def w(path: str, s: str) -> None:
    with open(path, "w") as f:
        f.write(s)


def r(path: str) -> str:
    with open(path) as f:
        return f.read()


meta: dict[str, Any] = {"name": name, "detail": detail, "fadv_random": fadv_random, "tag": tag,
                        "events": EVENTS}
mounted_by_us = False
d = make_dir()
path = os.path.join(d, "data")
child: subprocess.Popen[str] | None = None
try:
    make_file(path, 256 * MiB)
    meta["resident_after_evict"] = evict(path)

    if not os.path.isdir(os.path.join(TR, "instances")):
        subprocess.run(["mount", "-t", "tracefs", "nodev", TR], check=True)
        mounted_by_us = True

    os.mkdir(cg)
    w(os.path.join(cg, "memory.limit_in_bytes"), str(16 * MiB))
    meta["limit_in_bytes"] = int(r(os.path.join(cg, "memory.limit_in_bytes")))

    os.mkdir(inst)
    w(os.path.join(inst, "tracing_on"), "0")
    w(os.path.join(inst, "buffer_size_kb"), "16384")
    w(os.path.join(inst, "trace_clock"), "x86-tsc")
    for ev in EVENTS:
        w(os.path.join(inst, "events", ev, "enable"), "1")
    w(os.path.join(inst, "trace"), "")

    child = subprocess.Popen([sys.executable, os.path.join(HERE, "child_stream.py"), path]
                             + (["--fadv-random"] if fadv_random else []),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None  # both are PIPEs (for mypy)
    assert child.stdout.readline().strip() == "ready"
    w(os.path.join(cg, "cgroup.procs"), str(child.pid))
    meta["child_pid"] = child.pid
    meta["usage_before_go"] = int(r(os.path.join(cg, "memory.usage_in_bytes")))

    w(os.path.join(inst, "tracing_on"), "1")
    marker = os.path.join(inst, "trace_marker")
    w(marker, f"CAL0 {time.monotonic_ns()}")
    t_go = time.monotonic_ns()
    child.stdin.write("go\n")
    child.stdin.flush()
    result = json.loads(child.stdout.readline())
    child.wait()
    t_done = time.monotonic_ns()
    time.sleep(0.2)
    w(marker, f"CAL1 {time.monotonic_ns()}")
    w(os.path.join(inst, "tracing_on"), "0")
    meta["child"] = result
    meta["child_rc"] = child.returncode
    meta["parent_go_to_exit_ns"] = t_done - t_go
    for k in ("memory.failcnt", "memory.max_usage_in_bytes", "memory.usage_in_bytes"):
        meta[k] = int(r(os.path.join(cg, k)))
    meta["memory.stat"] = dict(line.split()
                               for line in r(os.path.join(cg, "memory.stat")).splitlines())
    meta["dropped_events"] = {}
    for cpu in sorted(os.listdir(os.path.join(inst, "per_cpu"))):
        st = r(os.path.join(inst, "per_cpu", cpu, "stats"))
        meta["dropped_events"][cpu] = [line for line in st.splitlines()
                                       if line.startswith(("overrun", "dropped"))]
    os.makedirs(os.path.join(HERE, "raw"), exist_ok=True)
    with open(os.path.join(HERE, "raw", name + ".trace"), "w") as f:
        f.write(r(os.path.join(inst, "trace")))
finally:
    if child is not None and child.poll() is None:
        child.kill()
        child.wait()
    if os.path.isdir(inst):
        w(os.path.join(inst, "tracing_on"), "0")
        for ev in EVENTS:
            with contextlib.suppress(OSError):
                w(os.path.join(inst, "events", ev, "enable"), "0")
        os.rmdir(inst)
    if os.path.isdir(cg):
        # the child has exited, so no task is left; uncharge what remains, then remove.
        meta["tasks_left"] = r(os.path.join(cg, "cgroup.procs")).split()
        w(os.path.join(cg, "memory.force_empty"), "0")
        os.rmdir(cg)
    if mounted_by_us:
        subprocess.run(["umount", TR], check=True)
    shutil.rmtree(d, ignore_errors=True)
    meta["cleanup"] = {"cgroup_gone": not os.path.exists(cg),
                       "instance_gone": not os.path.exists(inst),
                       "dir_gone": not os.path.exists(d), "unmounted_tracefs": mounted_by_us}
    with open(os.path.join(HERE, "raw", name + ".json"), "w") as f:
        json.dump(meta, f, indent=1)
print(json.dumps({k: meta.get(k) for k in ("child", "memory.failcnt", "memory.max_usage_in_bytes",
                                           "cleanup", "dropped_events")}))
