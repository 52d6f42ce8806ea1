#!/usr/bin/env python3
"""What the ``memcglab kernel run`` recorders cost the workload they record, side by side.

One workload, the one of the live tests: ``dd`` reads a file (256M by default) that was
evicted from the page cache, from inside a child memcg whose parent is limited to 16M, so
that dd reclaims (limit reclaim) all the way. Its wall time is measured (fork of the ``sh``
that joins the child memcg to the exit of ``dd``) under each recording variant:

* ``none``: nothing recorded;
* ``tracefs``: a tracefs instance, deferred (nothing reads during the run; the buffer is
  copied out after it) - :class:`memcglab.live.tracefs.TraceInstance` ``start(live=False)``;
* ``tracefs+join``: that, plus bpftrace in join mode (samples in a map, printed at exit);
* ``tracefs-live``: the instance read during the run by ``cat trace_pipe`` (reference);
* ``bpf-print``: bpftrace alone in print mode, one line per shrink (reference);
* ``bpf-join``: bpftrace alone in join mode (to tell its cost from tracefs's).

Besides the wall time, the CPU time of dd (user + system, from the rusage of the waited
child) is reported: the probes run in dd's context and add to it, while other work on the
machine mostly does not, so it is the steadier measure of the probes' own cost; a reader
running during the run shows in the wall time only.

Setting a recorder up (allocating the ring buffer, starting bpftrace) and taking it down
(copying the buffer, bpftrace printing its maps) are outside the timed span and reported
apart. Variants are run in turn (one round = every variant once, in a rotated order), so a
change of the machine's load hits them alike; the table gives medians, the ratio of each
median to ``none``'s, and the median of the per-round ratios to that round's ``none``
("paired"). The load average is printed before and after.

For each recorded repetition it also checks what was recorded: tracefs events and the
kernel's lost counts; for ``tracefs+join`` the share of tracefs shrink records that
:func:`memcglab.live.bpf.join` could fill, whether their root is the limited parent's inode,
and the distribution of (bpftrace time - tracefs time) of the joined pairs (tracefs prints
microseconds: the same instant gives 0..999 ns when both use CLOCK_MONOTONIC).

Needs root, a cgroup v1 memory controller at /sys/fs/cgroup/memory and bpftrace (variants
that need it are left out otherwise). Everything made is removed at the end (the memcgs
``memcglab-test-bench-<pid>``, the tracefs instance, bpftrace, the data file; tracefs is
unmounted only if this script mounted it).

Usage::

    .venv/bin/python benchmarks/recorder_overhead_probe.py [--reps 5] [--mb 256]
        [--variants none,tracefs,...] [--copy-check MB] [--json PATH]
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memcglab.live import bpf
from memcglab.live import tracefs as tf
from memcglab.live.btf import KernelLayout, kernel_layout, read_btf
from memcglab.live.records import IterSample, ShrinkRecord

MEMCG_V1 = Path("/sys/fs/cgroup/memory")
VARIANTS = ("none", "tracefs", "tracefs+join", "tracefs-live", "bpf-print", "bpf-join")


@dataclass
class Rep:
    variant: str
    round: int
    wall_s: float
    cpu_s: float = 0.0
    setup_s: float = 0.0
    teardown_s: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def mem_available() -> int:
    for row in Path("/proc/meminfo").read_text().splitlines():
        if row.startswith("MemAvailable:"):
            return int(row.split()[1]) * 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def evict(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def make_file(path: Path, mb: int) -> None:
    chunk = os.urandom(1 << 20)
    with path.open("wb") as f:
        for _ in range(mb):
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())  # clean pages only: reclaim needs no writeback


def rm_memcg(path: Path) -> None:
    if path.is_dir():
        # v1: rmdir with charges left leaves a zombie memcg; force_empty reclaims them first
        with contextlib.suppress(OSError):
            (path / "memory.force_empty").write_text("0")
        path.rmdir()


def run_dd(child: Path, data: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of dd reading ``data`` (evicted first) from ``child``."""
    evict(data)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    subprocess.run(["sh", "-c", f"echo $$ > {child}/cgroup.procs; "
                    f"exec dd if={data} of=/dev/null bs=1M status=none"],
                   check=True, timeout=120)
    wall = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime


def residuals(shrinks: list[ShrinkRecord], samples: list[IterSample]) -> list[int]:
    """bpftrace time - tracefs time of each joined record's nearest matching sample."""
    by_pid: dict[int, list[IterSample]] = {}
    for s in samples:
        by_pid.setdefault(s.pid, []).append(s)
    times = {pid: [s.t_ns for s in v] for pid, v in by_pid.items()}
    out = []
    for r in shrinks:
        if r.root is None or r.pid not in by_pid:
            continue
        cand, ts = by_pid[r.pid], times[r.pid]
        k = bisect.bisect_left(ts, r.t_ns - 100_000)
        best: int | None = None
        while k < len(cand) and ts[k] < r.t_ns + 100_000:
            s = cand[k]
            if (s.priority, s.scanned, s.reclaimed) == (r.priority, r.scanned, r.reclaimed):
                d = s.t_ns - r.t_ns
                best = d if best is None or abs(d - 500) < abs(best - 500) else best
            k += 1
        if best is not None:
            out.append(best)
    return out


class Bench:
    def __init__(self, args: argparse.Namespace, layout: KernelLayout) -> None:
        self.args = args
        self.layout = layout
        pid = os.getpid()
        self.work = Path(f"/var/tmp/memcglab-test-bench-{pid}")
        self.parent = MEMCG_V1 / f"memcglab-test-bench-{pid}"
        self.child = self.parent / "a"
        self.data = self.work / "data"
        self.seq = 0
        self.expected_s = 3.0  # the recording's length given to the sizing functions

    def instance(self, live: bool) -> tuple[tf.TraceInstance, Path]:
        self.seq += 1
        name = f"memcglab-test-bench-{os.getpid()}-{self.seq}"
        inst = tf.TraceInstance(tf.TRACEFS, name)
        lo, hi = self.layout.item_range()
        kb = tf.buffer_kb_for(self.expected_s, os.cpu_count() or 1, mem_available())
        inst.create(tf.EVENTS, tf.filters(lo, hi), buffer_kb=kb, overwrite=False)
        return inst, self.work / f"{name}.trace"

    def recorder(self, mode: bpf.Mode) -> bpf.BpftraceRecorder:
        keys = bpf.map_keys_for(self.expected_s, os.cpu_count() or 1, mem_available())
        return bpf.BpftraceRecorder(self.layout, self.work / f"bpf-{self.seq}.{mode}",
                                    mode=mode, map_keys=keys)

    def once(self, variant: str, rnd: int) -> Rep:
        inst: tf.TraceInstance | None = None
        rec: bpf.BpftraceRecorder | None = None
        out: Path | None = None
        info: dict[str, Any] = {}
        try:
            t0 = time.monotonic()
            if variant in ("tracefs", "tracefs+join", "tracefs-live"):
                inst, out = self.instance(live=variant == "tracefs-live")
            if variant in ("tracefs+join", "bpf-print", "bpf-join"):
                rec = self.recorder("print" if variant == "bpf-print" else "join")
                rec.start()
            if inst is not None and out is not None:
                inst.start(out, live=variant == "tracefs-live")
            setup = time.monotonic() - t0
            wall, cpu = run_dd(self.child, self.data)
            t1 = time.monotonic()
            if inst is not None:
                inst.stop()
                info["copy_s"] = round(time.monotonic() - t1, 3)
            if rec is not None:
                t2 = time.monotonic()
                info["bpftrace_exit"] = rec.stop()
                info["bpftrace_stop_s"] = round(time.monotonic() - t2, 3)
            teardown = time.monotonic() - t1
            self.check(variant, inst, out, rec, info)
            return Rep(variant, rnd, wall, cpu, setup, teardown, info)
        finally:
            if rec is not None:
                rec.stop()
                rec.out.unlink(missing_ok=True)
            if inst is not None:
                inst.remove()
            if out is not None:
                out.unlink(missing_ok=True)

    def check(self, variant: str, inst: tf.TraceInstance | None, out: Path | None,
              rec: bpf.BpftraceRecorder | None, info: dict[str, Any]) -> None:
        shrinks: list[ShrinkRecord] = []
        if inst is not None and out is not None:
            lost = inst.lost()
            parsed = tf.parse_trace(tf.read_trace(out), self.layout.items)
            shrinks = [r for r in parsed.records if isinstance(r, ShrinkRecord)]
            info.update(events=parsed.lines, tracefs_lost=lost.total,
                        unpaired=parsed.unpaired, tracefs_shrinks=len(shrinks))
        if rec is not None:
            p = bpf.parse_file(rec.out, self.layout)
            info.update(bpf_lost=p.lost.dropped, bpf_skipped=p.skipped)
            if rec.mode == "print":
                info["bpf_records"] = len(p.records)
                return
            info.update(samples=len(p.samples), seen=p.seen, map_lost=p.map_lost)
            joined, unjoined = bpf.join(shrinks, p.samples)
            root = self.parent.stat().st_ino
            mine = [r for r in joined if r.root is not None]
            info.update(joined=len(mine), unjoined=unjoined,
                        root_ok=sum(r.root == root for r in mine))
            res = residuals(joined, p.samples)
            if res:
                q = statistics.quantiles(res, n=100, method="inclusive")
                info["dt_ns"] = {"min": min(res), "p1": round(q[0]), "p50": round(q[49]),
                                 "p99": round(q[98]), "max": max(res)}

    def copy_check(self, mb: int) -> dict[str, Any]:
        """One deferred recording of dd over ``mb`` MB, to time the buffer copy on ~100k
        events: trace_pipe (what stop() uses) against the ``trace`` file. A second buffer
        of the same size is filled by the same dd run again for the ``trace`` file."""
        result: dict[str, Any] = {}
        big = self.work / "big"
        make_file(big, mb)
        try:
            for how in ("trace_pipe", "trace"):
                inst, out = self.instance(live=False)
                try:
                    inst.start(out)
                    run_dd(self.child, big)
                    tf_path = inst.path
                    (tf_path / "tracing_on").write_text("0")
                    stats = [tf.parse_stats(s.read_text())
                             for s in sorted(tf_path.glob("per_cpu/cpu*/stats"))]
                    entries = sum(s[0] for s in stats)
                    t0 = time.monotonic()
                    if how == "trace_pipe":
                        inst.stop()
                    else:
                        with (tf_path / "trace").open("rb") as f, out.open("wb") as o:
                            while chunk := f.read(1 << 16):
                                o.write(chunk)
                    dt = time.monotonic() - t0
                    text = tf.read_trace(out)
                    lines = sum(1 for ln in text if not ln.startswith("#"))
                    result[how] = {"entries": entries, "lines": lines, "s": round(dt, 3),
                                   "events_per_s": round(lines / dt)}
                finally:
                    inst.remove()
                    out.unlink(missing_ok=True)
        finally:
            big.unlink(missing_ok=True)
        return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--mb", type=int, default=256)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--copy-check", type=int, default=0, metavar="MB",
                    help="also time copying a buffer filled by dd over MB megabytes")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    bad = set(variants) - set(VARIANTS)
    if bad:
        ap.error(f"unknown variants {sorted(bad)}; known: {', '.join(VARIANTS)}")
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 2
    if not (MEMCG_V1 / "memory.limit_in_bytes").exists():
        print(f"no cgroup v1 memory controller at {MEMCG_V1}", file=sys.stderr)
        return 2
    if subprocess.run(["sh", "-c", "command -v bpftrace"], capture_output=True).returncode:
        variants = [v for v in variants if v not in ("tracefs+join", "bpf-print")]
        print("no bpftrace: bpftrace variants left out", file=sys.stderr)
    layout = kernel_layout(read_btf())
    mounted = tf.ensure_mounted(tf.TRACEFS)
    bench = Bench(args, layout)
    reps: list[Rep] = []
    load0 = loadavg()
    undo: list[Callable[[], object]] = []
    try:
        bench.work.mkdir()
        undo.append(lambda: bench.work.rmdir())
        make_file(bench.data, args.mb)
        undo.append(lambda: bench.data.unlink(missing_ok=True))
        bench.parent.mkdir()
        undo.append(lambda: rm_memcg(bench.parent))
        (bench.parent / "memory.limit_in_bytes").write_text("16M")
        bench.child.mkdir()
        undo.append(lambda: rm_memcg(bench.child))
        run_dd(bench.child, bench.data)  # warm-up: binaries, page tables, the memcgs
        for rnd in range(args.reps):
            k = rnd % len(variants)
            for v in variants[k:] + variants[:k]:
                r = bench.once(v, rnd)
                reps.append(r)
                print(f"round {rnd + 1} {v:13s} {r.wall_s:6.3f} s cpu {r.cpu_s:6.3f} s  "
                      f"setup {r.setup_s:.2f} teardown {r.teardown_s:.2f}  "
                      f"{json.dumps(r.info)}", flush=True)
        copy = bench.copy_check(args.copy_check) if args.copy_check else None
    finally:
        for fn in reversed(undo):
            with contextlib.suppress(OSError):
                fn()
        if mounted:
            tf.unmount(tf.TRACEFS)
    load1 = loadavg()
    base = statistics.median(r.wall_s for r in reps if r.variant == "none") \
        if "none" in variants else None
    cbase = statistics.median(r.cpu_s for r in reps if r.variant == "none") \
        if "none" in variants else None
    print(f"\ndd of {args.mb}M through a 16M limit, {args.reps} rounds, "
          f"{os.cpu_count()} CPUs; load average before: {load0}, after: {load1}")
    print("| variant | wall median s | wall min-max s | wall ratio | paired wall ratio | "
          "dd CPU median s | CPU ratio | setup s | teardown s |")
    print("|---|---|---|---|---|---|---|---|---|")
    none_of = {r.round: r for r in reps if r.variant == "none"}
    table = {}
    for v in variants:
        w = [r.wall_s for r in reps if r.variant == v]
        med = statistics.median(w)
        ratio = f"{med / base:.3f}" if base else "-"
        cpu = statistics.median(r.cpu_s for r in reps if r.variant == v)
        cratio = f"{cpu / cbase:.3f}" if cbase else "-"
        # the same round's none: a slow spell of the machine hits both
        pairs = [r.wall_s / none_of[r.round].wall_s for r in reps
                 if r.variant == v and r.round in none_of]
        paired = f"{statistics.median(pairs):.3f}" if pairs else "-"
        setup = statistics.median(r.setup_s for r in reps if r.variant == v)
        down = statistics.median(r.teardown_s for r in reps if r.variant == v)
        table[v] = {"median_s": med, "walls": w, "ratio": med / base if base else None,
                    "cpu_median_s": cpu, "cpu_ratio": cpu / cbase if cbase else None,
                    "paired_ratio": statistics.median(pairs) if pairs else None}
        print(f"| {v} | {med:.3f} | {min(w):.3f}-{max(w):.3f} | {ratio} | {paired} | "
              f"{cpu:.3f} | {cratio} | {setup:.2f} | {down:.2f} |")
    if copy:
        print(f"\nbuffer copy: {json.dumps(copy)}")
    if args.json:
        args.json.write_text(json.dumps({
            "argv": sys.argv, "load_before": load0, "load_after": load1, "table": table,
            "reps": [r.__dict__ for r in reps], "copy": copy}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
