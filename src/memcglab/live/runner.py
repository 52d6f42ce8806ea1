"""``memcglab kernel run``: one scenario on the live kernel, recorded, then undone.

Order of a run (docs/kernel.md, "What a run does"), each step written to the run's state
file (:mod:`memcglab.live.state`) before it is taken so that ``kernel cleanup`` can undo a
run that was killed at any point:

1. the run's own directory ``<workdir>/memcglab-<runid>`` is made (the work directory
   checked to be this user's alone), and the workload files are prepared in it and
   evicted from the page cache (per file, ``POSIX_FADV_DONTNEED``; never a global
   drop_caches);
2. zram swap is set up if ``--zram`` asked for it;
3. tracefs is mounted if it is not (and only then unmounted at the end);
4. the run's parent cgroup ``memcglab-<runid>`` and the groups present at t=0 are made,
   with their limits (and their PSI mirror in the v2 hierarchy on a v1 machine);
5. the worker processes start and wait (``ready``) outside the groups: their interpreter's
   memory stays charged to memcglab's own cgroup;
6. recording starts: a private tracefs instance, and bpftrace where it works;
7. the timeline runs: groups made and removed, workers moved into their groups and let go,
   stopped, counters sampled every interval;
8. recording stops (before teardown: ``force_empty`` is itself a reclaimer) and its lost
   events are read;
9. teardown: workers and bpftrace stopped, then everything the state file names is undone
   by :func:`memcglab.live.cleanup.undo`, the code ``kernel cleanup`` runs for a killed
   run: the tracefs instance removed, the PSI mirror and every group force-emptied then
   removed (leaves first), zram reset and tracefs unmounted if the run made them, the
   run's directory removed.

Step 9 runs on every exit path: normal end, an error, Ctrl-C, SIGTERM (the shell turns it
into an exception, see cli/main.py); signals are blocked while it runs so a second Ctrl-C
cannot cut it short. Workers also get ``PR_SET_PDEATHSIG``: if memcglab is killed with
SIGKILL they die with it, and ``kernel cleanup`` removes the rest.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from memcglab.errors import LiveError
from memcglab.live import bpf, cgroupfs, cleanup, tracefs, workfiles, zram
from memcglab.live.btf import KernelLayout, kernel_layout, read_btf
from memcglab.live.liveplan import PAGE, LivePlan, LiveProcess
from memcglab.live.probe import Probe
from memcglab.live.records import (
    CounterSample,
    IterSample,
    Lost,
    PassRecord,
    Record,
    ShrinkRecord,
)
from memcglab.live.state import PREFIX, RunState, die_with_parent
from memcglab.sim.plan import Plan

# /proc/vmstat counters kept with every sample (reclaim, swap, refaults, stalls)
VMSTAT_KEYS = ("pgscan", "pgsteal", "pgrefill", "pgactivate", "pgdeactivate", "pswp",
               "workingset_", "allocstall", "pgmajfault", "pgpgin", "pgpgout", "oom_kill")


@dataclass(frozen=True)
class Options:
    workdir: Path
    zram_bytes: int | None = None
    bpf: str = "auto"  # auto | on | off
    record: bool = True  # False: counters only (the recorder-overhead benchmark's baseline)
    tracefs_path: Path = Path("/sys/kernel/tracing")


@dataclass
class LiveResult:
    """What one repetition measured (raw; :mod:`memcglab.live.measure` makes metrics)."""

    run_id: str
    records: list[Record]
    lost: list[Lost]
    samples: list[CounterSample]
    workers: list[dict[str, Any]]
    ids: dict[int, str]  # cgroup id -> scenario group name (ids outlive rmdir here)
    root_ids: dict[int, str]  # the machine's root memcg -> "(machine root)" etc.
    wall_s: float  # the whole repetition: set-up, timeline, teardown
    timeline_s: float  # from the first workload's go to the end of the timeline
    recording: dict[str, Any]
    events: list[tuple[float, str, str]]  # (t_ms, action, subject) as they happened
    t0_ns: int  # CLOCK_MONOTONIC at the timeline's t = 0 (the records' clock)
    problems: list[str] = field(default_factory=list)  # teardown problems (reported)


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """Teardown must finish: a second Ctrl-C or SIGTERM waits until it has."""
    sigs = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class _Worker:
    def __init__(self, proc: LiveProcess, path: Path | None, popen: subprocess.Popen[str]):
        self.spec = proc
        self.path = path
        self.popen = popen
        self.result: dict[str, Any] | None = None

    def send(self, line: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(line)
        self.popen.stdin.flush()

    def collect(self, timeout: float) -> None:
        """Wait for the worker's exit and read its result line."""
        if self.result is not None:
            return
        try:
            out, err = self.popen.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            out, err = self.popen.communicate()
        lines = [ln for ln in (out or "").splitlines() if ln.startswith("{")]
        if lines:
            self.result = json.loads(lines[-1])
        else:
            self.result = {"error": (err or "").strip()[-500:] or
                           f"exit status {self.popen.returncode}"}


def _readline(stream: IO[str], deadline: float) -> str:
    import select
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return ""
        r, _, _ = select.select([stream], [], [], left)
        if r:
            return stream.readline()


class LiveRun:
    """One repetition. Use :meth:`run`; everything it makes is undone before it returns."""

    def __init__(self, plan: Plan, lp: LivePlan, probe: Probe, opts: Options,
                 state: RunState, on_event: Callable[[str], None] | None = None) -> None:
        self.plan = plan
        self.lp = lp
        self.probe = probe
        self.opts = opts
        self.state = state
        self.say = on_event or (lambda _msg: None)
        self.cg: cgroupfs.Cgroups | None = None
        self.workers: dict[str, _Worker] = {}
        self.ids: dict[int, str] = {}
        self.present: set[str] = set()
        self.instance: tracefs.TraceInstance | None = None
        self.recorder: bpf.BpftraceRecorder | None = None
        self.layout: KernelLayout | None = None
        self.rundir = opts.workdir / (PREFIX + state.run_id)
        self.trace_out = self.rundir / workfiles.TRACE_FILE
        self.t0_ns = 0
        self.mirror: cgroupfs.PressureMirror | None = None
        self.left_mounted = False
        self.children: dict[str, list[str]] = {g.name: [] for g in lp.groups}
        for g in lp.groups[1:]:
            parent = g.rel.rpartition("/")[0]
            self.children[next(x.name for x in lp.groups if x.rel == parent)].append(g.name)
        self.problems: list[str] = []
        self.events: list[tuple[float, str, str]] = []

    # -- set-up ----------------------------------------------------------------------------

    def _files(self) -> dict[str, Path]:
        procs = [p for p in self.lp.processes if not p.anon]
        if not procs:
            return {}
        self.state.files = [str(self.rundir / f"{p.key}.dat") for p in procs]
        self.state.save()
        try:
            paths = workfiles.prepare(self.rundir,
                                      [(f"{p.key}.dat", p.file_bytes) for p in procs])
        except OSError as e:
            raise LiveError(f"--workdir {self.opts.workdir}: cannot write the workload files "
                            f"there ({e.strerror or e})") from None
        for path in paths:
            workfiles.evict(path)
        return {p.key: path for p, path in zip(procs, paths, strict=True)}

    def _rundir(self) -> None:
        """The run's own directory under --workdir: its files, the trace copy and the
        bpftrace output and script, so that concurrent runs never share a file and
        ``kernel cleanup`` removes exactly this run's."""
        workfiles.check_workdir(self.opts.workdir)
        self.state.workdir = str(self.rundir)
        self.state.save()
        try:
            self.rundir.mkdir(mode=0o700)
        except FileExistsError:
            raise LiveError(f"{self.rundir} already exists: it is not this run's") from None
        except OSError as e:
            raise LiveError(f"--workdir {self.opts.workdir}: cannot make the run's directory "
                            f"there ({e.strerror or e})") from None

    def _undo(self, what: str, fn: Callable[[], object]) -> None:
        """One teardown step; whatever it raises is recorded (the state file then stays
        for ``kernel cleanup``) and the other steps still run."""
        try:
            res = fn()
        except Exception as e:
            self.problems.append(f"{what}: {e}")
            return
        if isinstance(res, list):
            self.problems.extend(f"{what}: {p}" for p in res)

    def _cgroups(self) -> None:
        cg = cgroupfs.open_memory_hierarchy(self.probe)
        self.cg = cg
        parent = PREFIX + self.state.run_id
        self.state.cgroup_version = 1 if cg.version == "v1" else 2
        self.state.cgroup_mount = str(cg.mount)
        self.state.cgroup_parent = parent
        self.state.save()
        root = self.lp.groups[0]
        self.ids[cg.create_parent(parent)] = root.name
        self._mirror(parent)
        self.present.add(root.name)
        if root.has_children:
            cg.enable_children("")
        for g in self.lp.groups[1:]:
            if g.created_ns == 0:
                self._mkdir(g.name)

    def _mirror(self, parent: str) -> None:
        """Per-group PSI where the memory controller is on v1 and a v2 hierarchy is
        mounted: PSI follows a task's v2 cgroup (kernel-observability.md §5), so the run's
        tree is mirrored there (no controller enabled) and each worker joins both."""
        v2 = self.probe.cgroup_v2_mount
        if self.state.cgroup_version != 1 or v2 is None:
            return
        self.state.psi_mirror = v2
        self.state.save()
        mirror = cgroupfs.PressureMirror(Path(v2), parent)
        try:
            mirror.mkdir("")
        except LiveError:
            self.state.psi_mirror = ""  # not available here: PSI of the machine only
            self.state.save()
            return
        self.mirror = mirror

    def _limits(self, name: str) -> cgroupfs.Limits:
        g = self.lp.group(name)
        return cgroupfs.Limits(max=g.max, soft=g.soft, high=g.high, low=g.low, min=g.min)

    def _mkdir(self, name: str) -> None:
        assert self.cg is not None
        g = self.lp.group(name)
        self.ids[self.cg.mkdir(g.rel, self._limits(name))] = name
        if g.has_children:
            self.cg.enable_children(g.rel)
        if self.mirror is not None:
            self.mirror.mkdir(g.rel)
        self.present.add(name)

    def _spawn(self, files: dict[str, Path]) -> None:
        for p in self.lp.processes:
            # A stream's file holds only what the run can reach (liveplan._file_bytes): it
            # wraps at the file's last page, which the run never reaches.
            spec = {"pattern": p.pattern, "anon": p.anon,
                    "path": str(files[p.key]) if not p.anon else None,
                    "pages": p.pages if p.anon else p.file_bytes // PAGE,
                    "interval_ns": p.interval_ns, "seed": p.seed, "readahead": p.readahead,
                    "duration_ns": p.stop_ns - p.start_ns}
            popen = subprocess.Popen(
                [sys.executable, "-m", "memcglab.live.worker", json.dumps(spec)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, start_new_session=True, preexec_fn=die_with_parent)
            self.workers[p.key] = _Worker(p, files.get(p.key), popen)
            self.state.add_proc(popen.pid, "worker")
        deadline = time.monotonic() + 30
        for w in self.workers.values():
            assert w.popen.stdout is not None
            line = _readline(w.popen.stdout, deadline)
            if line.strip() != "ready":
                w.collect(1)
                raise LiveError(f"worker {w.spec.key} ({w.spec.pattern} {w.spec.group}) did "
                                f"not start: {(w.result or {}).get('error', line)!r}")

    def _kill_workers(self) -> None:
        for w in self.workers.values():
            if w.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    w.popen.kill()
            w.collect(5)

    def _mount(self) -> None:
        """tracefs mounted if it is not (and unmounted at the end only then); a step of
        its own before the cgroups, so that teardown unmounts after they are gone."""
        if not self.opts.record:
            return
        path = self.opts.tracefs_path
        self.state.tracefs = str(path)
        self.state.save()
        if tracefs.ensure_mounted(path):
            self.state.tracefs_mounted_by_us = True
            self.state.save()

    def _recording(self) -> dict[str, Any]:
        """Start the recorders (tracefs always, bpftrace where it works): deferred, so
        that nothing reads or formats events while the workloads run (docs/kernel.md,
        "Recording overhead")."""
        info: dict[str, Any] = {"kernel": platform.release(), "tracefs": False,
                                "bpftrace": False}
        if not self.opts.record:
            info["why"] = "recording off (--no-record)"
            return info
        path = self.opts.tracefs_path
        layout = kernel_layout(read_btf())
        self.layout = layout
        name = PREFIX + self.state.run_id
        self.state.trace_instance = name
        self.state.save()
        inst = tracefs.TraceInstance(path, name)
        lo, hi = layout.item_range()
        ncpus = os.cpu_count() or 1
        buffer_kb = tracefs.buffer_kb_for(self.lp.duration_ns / 1e9, ncpus,
                                          (self.probe.mem_available_kb or 0) * 1024)
        inst.create(tracefs.EVENTS, tracefs.filters(lo, hi), buffer_kb=buffer_kb,
                    overwrite=False)
        self.instance = inst
        self.trace_out = self.rundir / workfiles.TRACE_FILE
        pid = inst.start(self.trace_out, live=False)
        if pid:
            self.state.add_proc(pid, "trace reader")
        info.update(tracefs=True, tracefs_buffer_kb=buffer_kb)
        if self.opts.bpf == "off" or self.probe.bpftrace is None:
            info["bpftrace_why"] = ("--bpf off" if self.opts.bpf == "off"
                                    else "bpftrace is not installed")
            return info
        out = self.rundir / workfiles.BPF_FILE
        rec = bpf.BpftraceRecorder(
            layout, out, bpftrace=self.probe.bpftrace, mode="join",
            map_keys=bpf.map_keys_for(self.lp.duration_ns / 1e9, ncpus,
                                      (self.probe.mem_available_kb or 0) * 1024))
        self.recorder = rec
        try:
            # its pid goes into the state file as soon as it exists (it takes a second to
            # compile and attach; a run killed meanwhile must not leave it unnamed)
            pid = rec.start(on_spawn=lambda p: self.state.add_proc(p, "bpftrace"))
        except LiveError as e:
            self.recorder = None
            if self.opts.bpf == "on":
                raise
            info["bpftrace_why"] = f"bpftrace did not start: {e}"
            return info
        info["bpftrace"] = True
        return info

    # -- the timeline ----------------------------------------------------------------------

    def _sample(self, t_ns: int) -> CounterSample:
        assert self.cg is not None
        usage: dict[str, int] = {}
        husage: dict[str, int] = {}
        psi: dict[str, dict[str, int]] = {}
        machine = cgroupfs.pressure()
        if machine:
            psi[""] = {k: v.total for k, v in machine.items()}
        vmstat = {k: v for k, v in cgroupfs.vmstat().items() if k.startswith(VMSTAT_KEYS)}
        hits: dict[str, int] = {}
        stat: dict[str, dict[str, int]] = {}
        for g in self.lp.groups:
            if g.name not in self.present:
                continue
            try:
                s = self.cg.sample(g.rel)
            except LiveError:
                continue  # removed between the check and the read
            husage[g.name] = s.usage
            hits[g.name] = s.limit_hits
            stat[g.name] = s.stat
            pressure = (self.mirror.pressure(g.rel) if self.mirror is not None
                        else s.pressure or {})
            if pressure:
                psi[g.name] = {k: v.total for k, v in pressure.items()}
        for g in self.lp.groups:  # own usage: the counter minus the children's counters
            if g.name in husage:
                usage[g.name] = max(0, husage[g.name] - sum(
                    husage.get(c, 0) for c in self.children[g.name]))
        return CounterSample(t_ns, usage, hits, stat, husage, psi, vmstat)

    def _act(self, action: str, subject: str, t0: float) -> None:
        assert self.cg is not None
        now_ms = (time.monotonic() - t0) * 1e3
        self.events.append((round(now_ms, 3), action, subject))
        if action == "mkdir":
            self._mkdir(subject)
        elif action == "start":
            w = self.workers[subject]
            if subject not in self.attached:
                self._attach(subject)
            # Its touches are due from the scheduled time, not from when this line is
            # written: a worker attached late (a group made during the run) catches up.
            w.send(f"go {self.t0_ns + self.start_ns[subject]}\n")
        elif action == "stop":
            w = self.workers[subject]
            if w.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    w.popen.send_signal(signal.SIGTERM)
        elif action == "rmdir":
            g = self.lp.group(subject)
            for w in self.workers.values():
                if self.lp.group(w.spec.group).rel.startswith(g.rel):
                    w.collect(5)
            self.cg.rmdir(g.rel)
            if self.mirror is not None:
                with contextlib.suppress(OSError):
                    self.mirror.path(g.rel).rmdir()
            self.present.discard(subject)

    def _attach(self, key: str) -> None:
        assert self.cg is not None
        w = self.workers[key]
        rel = self.lp.group(w.spec.group).rel
        self.cg.attach(rel, w.popen.pid)
        if self.mirror is not None:
            self.mirror.attach(rel, w.popen.pid)
        self.attached.add(key)

    def _timeline(self) -> tuple[list[CounterSample], float]:
        samples: list[CounterSample] = []
        plan = self.lp
        # Workers whose group exists now join it before the clock starts: moving a task
        # into a cgroup takes milliseconds (cgroup migration waits for RCU), and made at
        # its start time it would delay the next worker's start by as much (17 ms was
        # measured between two workers due at 0). Until "go" they only wait on stdin.
        self.attached: set[str] = set()
        self.start_ns = {subject: at for at, _, action, subject in plan.timeline
                         if action == "start"}
        for key, w in self.workers.items():
            if key in self.start_ns and w.spec.group in self.present:
                self._attach(key)
        t0 = time.monotonic()
        self.t0_ns = time.monotonic_ns()
        next_sample = 0
        for at, _, action, subject in [*plan.timeline, (plan.duration_ns, 9, "end", "")]:
            while True:
                target = min(at, next_sample)
                delay = t0 + target / 1e9 - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                if next_sample <= at:
                    samples.append(self._sample(int((time.monotonic() - t0) * 1e9)))
                    next_sample += plan.sample_ns
                    continue
                break
            if action != "end":
                self._act(action, subject, t0)
        samples.append(self._sample(int((time.monotonic() - t0) * 1e9)))
        return samples, time.monotonic() - t0

    # -- the whole repetition ----------------------------------------------------------------

    def run(self) -> LiveResult:
        start = time.monotonic()
        try:
            self._rundir()
            files = self._files()
            if self.opts.zram_bytes:
                self._zram()
            self._mount()
            self._cgroups()
            self._spawn(files)
            info = self._recording()
            ra = self.probe.readahead
            # the window of the device the files are read from (readahead is real here)
            info["readahead"] = ({"device": ra.device, "read_ahead_kb": ra.read_ahead_kb}
                                 if ra is not None else None)
            self.say("timeline")
            samples, timeline_s = self._timeline()
            for w in self.workers.values():
                if w.popen.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        w.popen.send_signal(signal.SIGTERM)
                w.collect(10)
            ooms = self._ooms()
            records, lost = self._stop_recording(info)
            self.say("teardown")
        except BaseException:
            # Signals are blocked before the first teardown step runs: a second Ctrl-C or
            # SIGTERM waits until everything is undone (and is then delivered).
            with _signals_blocked():
                self._teardown()
            raise
        with _signals_blocked():
            self._teardown()
        info["ooms"] = ooms
        info["tracefs_left_mounted"] = self.left_mounted
        return LiveResult(
            run_id=self.state.run_id, records=records, lost=lost, samples=samples,
            workers=[{"key": k, "group": w.spec.group, "anon": w.spec.anon,
                      "pages": w.spec.pages, "returncode": w.popen.returncode,
                      **(w.result or {})}
                     for k, w in self.workers.items()],
            ids=self.ids, root_ids={1: "(machine root)"},
            wall_s=time.monotonic() - start, timeline_s=timeline_s, recording=info,
            events=self.events, t0_ns=self.t0_ns, problems=self.problems)

    def _ooms(self) -> dict[str, int]:
        """memcg OOM kills per group during the run, read before teardown."""
        assert self.cg is not None
        out = {}
        for g in self.lp.groups:
            if g.name in self.present:
                with contextlib.suppress(LiveError):  # removed meanwhile: nothing to read
                    out[g.name] = self.cg.oom_kills(g.rel)
        return out

    def _teardown(self) -> None:
        """Undo the run: its own processes first (reaped here: they are our children;
        bpftrace stopped gracefully), then everything the state file names, by the same
        code and in the same order as ``kernel cleanup`` (:func:`memcglab.live.cleanup.undo`),
        which forgets the state file once all is gone (or keeps it naming what is left: a
        tracefs mount another run still uses, or what could not be undone)."""
        self._kill_workers()
        if self.recorder is not None:
            self._undo("stop bpftrace", self.recorder.stop)
        report = cleanup.Report()
        cleanup.undo(self.state, report)
        self.problems += report.problems
        self.left_mounted = bool(report.kept)

    def _zram(self) -> None:
        """Swap on a free zram device. The state file names the device before setup and
        its swap UUID after; teardown acts on that UUID only, so a run that lost the race
        for the device never takes another run's swap down."""
        assert self.opts.zram_bytes is not None
        dev = zram.free_device()
        self.state.zram_device = dev
        self.state.save()
        try:
            swap = zram.setup(self.opts.zram_bytes, dev)
        except LiveError:
            # lost the device to another run (or setup undid its own partial work): it is
            # not this run's to reset
            self.state.zram_device = ""
            self.state.save()
            raise
        self.state.zram = swap.to_json()
        self.state.save()

    def _stop_recording(self, info: dict[str, Any]) -> tuple[list[Record], list[Lost]]:
        """Stop both recorders (before teardown: force_empty would be recorded as reclaim)
        and read what they wrote. With bpftrace, its samples of the same
        ``mm_vmscan_lru_shrink_inactive`` hits are joined to the tracefs records, adding
        the reclaim root and the iterator to each."""
        records: list[Record] = []
        lost: list[Lost] = []
        samples: list[IterSample] = []
        if self.layout is None:  # recording was off
            return records, lost
        layout = self.layout
        if self.recorder is not None:
            self.recorder.stop()
            brecs, blost = bpf.parse(self.recorder.out, layout)
            # join mode: one sample per shrink (the brackets and kswapd edges come from
            # tracefs, which records them anyway)
            samples = [r for r in brecs if isinstance(r, IterSample)]
            lost.append(blost)
        if self.instance is not None:
            self.instance.stop()
            lost.append(self.instance.lost())
            parsed = tracefs.parse_trace(tracefs.read_trace(self.trace_out),
                                         layout.items)
            info["tracefs_unparsed_lines"] = parsed.unparseable
            trecs = parsed.records
            if self.recorder is not None:
                shrinks = [r for r in trecs if isinstance(r, ShrinkRecord)]
                joined, _ = bpf.join(shrinks, samples)
                # Only the run's own memcgs count: tracefs also records other runs' and the
                # machine's reclaim, before and after bpftrace's window.
                info["bpftrace_unjoined"] = sum(1 for r in joined
                                                if r.root is None and r.memcg in self.ids)
                trecs = [r for r in trecs if not isinstance(r, ShrinkRecord)] + joined
            records += trecs
        # Reclaim passes are counted for the run's own processes only: tracefs sees every
        # memcg's (another run's, the machine's), and a pass has no memcg to filter by.
        own = {w.popen.pid for w in self.workers.values()}
        records = [r for r in records if not isinstance(r, PassRecord) or r.pid in own]
        records.sort(key=lambda r: r.t_ns)
        return records, lost
