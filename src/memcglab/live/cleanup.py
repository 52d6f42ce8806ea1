"""``memcglab kernel cleanup``: undo what killed runs left, and only that.

What a run made is named by its state file (:mod:`memcglab.live.state`); a run whose owner
process is still alive is never touched. For each leftover run, in the order that leaves no
zombie memcg and no dangling recorder (the order of kernel-observability.md §9 "Cleanup"):

1. its processes (workers, bpftrace, the trace reader) are killed, each only if the pid
   still has the start time recorded (a reused pid belongs to someone else);
2. its tracefs instance is removed (events disabled, filters cleared, rmdir);
3. its cgroup tree is force-emptied and removed, leaves first (and its PSI mirror in the
   v2 hierarchy, on machines whose memory controller is on v1);
4. its zram device is swapped off and reset;
5. tracefs is unmounted if the run mounted it and no other memcglab instance is left;
6. its work files are removed (only files memcglab wrote: the work directory's marker);
7. the state file goes last, once everything above is gone.

Cgroups or instances named ``memcglab-*`` that no state file names are reported, never
removed: memcglab cannot know they are its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from memcglab.errors import LiveError
from memcglab.live import cgroupfs, tracefs, workfiles, zram
from memcglab.live.state import PREFIX, Proc, RunState, check_state_dir, state_dir


@dataclass
class Report:
    done: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    running: list[str] = field(default_factory=list)  # runs still alive: left alone
    kept: list[str] = field(default_factory=list)  # left on purpose, for a later cleanup


def _kill(p: Proc, report: Report, dry_run: bool) -> None:
    if not p.alive():
        return
    if not p.is_what_it_was():
        report.problems.append(f"pid {p.pid}: recorded as the run's {p.what}, but its "
                               "command line is something else now; not killed")
        return
    report.done.append(f"kill {p.what} pid {p.pid}")
    if dry_run:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(p.pid, signal.SIGKILL)
    for _ in range(100):
        if not p.alive():
            return
        time.sleep(0.02)
    report.problems.append(f"{p.what} pid {p.pid} did not die")


def undo(st: RunState, report: Report, dry_run: bool = False) -> bool:
    """Undo one run; True when everything it made is gone."""
    before = len(report.problems)

    def step(what: str, fn: object) -> None:
        report.done.append(what)
        if dry_run:
            return
        try:
            res = fn()  # type: ignore[operator]
        except (OSError, LiveError) as e:
            report.problems.append(f"{what}: {e}")
            return
        if isinstance(res, list):
            report.problems.extend(f"{what}: {p}" for p in res)

    for p in st.procs:
        _kill(p, report, dry_run)
    tpath = Path(st.tracefs) if st.tracefs else None
    if tpath is not None and st.trace_instance and (tpath / "instances" /
                                                    st.trace_instance).exists():
        step(f"remove tracefs instance {st.trace_instance}",
             lambda: tracefs.remove_instance(tpath, st.trace_instance))
    if st.cgroup_parent and (Path(st.cgroup_mount) / st.cgroup_parent).exists():
        cg: cgroupfs.Cgroups = (cgroupfs.V1Cgroups(Path(st.cgroup_mount)) if
                                st.cgroup_version == 1 else
                                cgroupfs.V2Cgroups(Path(st.cgroup_mount)))
        step(f"remove cgroup {Path(st.cgroup_mount) / st.cgroup_parent} (force_empty, rmdir)",
             lambda: cg.remove_tree(st.cgroup_parent))
    if st.psi_mirror and (Path(st.psi_mirror) / st.cgroup_parent).exists():
        mirror = cgroupfs.PressureMirror(Path(st.psi_mirror), st.cgroup_parent)
        step(f"remove the PSI mirror {Path(st.psi_mirror) / st.cgroup_parent}",
             mirror.remove)
    if st.zram:  # set up: its swap is the one with this UUID, nobody else's
        swap = zram.ZramSwap.from_json(st.zram)
        step(f"swapoff and reset {swap.device}", lambda: zram.teardown(swap))
    elif st.zram_device:
        # killed before the swap area was made: only a device still blank is its own
        if zram.swap_header(st.zram_device) is None:
            step(f"reset {st.zram_device}", lambda: zram.teardown(st.zram_device))
        else:
            report.problems.append(
                f"{st.zram_device}: holds a swap area this run did not record; left alone "
                "(another run's?)")
    keep = False
    if tpath is not None and st.tracefs_mounted_by_us and tracefs.is_mounted(tpath):
        others = sorted(p.name for p in (tpath / "instances").iterdir()
                        if p.name != st.trace_instance)
        if others:
            # still in use: leave it mounted, and this state file naming it, for later
            keep = True
            report.kept.append(f"{tpath} stays mounted for now (instances "
                               f"{', '.join(others[:3])} use it); run cleanup again later")
        else:
            step(f"unmount {tpath}", lambda: _unmount(tpath))
    if st.workdir and Path(st.workdir).is_dir():
        if Path(st.workdir).name != PREFIX + st.run_id:
            report.problems.append(f"{st.workdir}: not this run's directory name; left alone")
        else:
            step(f"remove {st.workdir}", lambda: workfiles.remove_rundir(Path(st.workdir)))
    ok = len(report.problems) == before
    if ok and not dry_run and not keep:
        st.forget()
    elif ok and keep and not dry_run:
        RunState(st.run_id, st.owner, tracefs=st.tracefs, tracefs_mounted_by_us=True).save()
    return ok


def _unmount(path: Path) -> None:
    if not tracefs.unmount(path):
        raise LiveError(f"{path}: could not be unmounted (busy, or an instance appeared)")


def cleanup(dry_run: bool = False) -> Report:
    report = Report()
    named_cgroups: set[str] = set()
    d = state_dir()
    check_state_dir(d)
    for path in sorted(d.glob("*.json")) if d.is_dir() else []:
        try:
            st = RunState.load(path)
        except LiveError as e:
            report.problems.append(str(e))
            continue
        named_cgroups.add(PREFIX + st.run_id)
        if st.owner.alive():
            report.running.append(f"{st.run_id} (memcglab pid {st.owner.pid} is running)")
            continue
        undo(st, report, dry_run)
    report.unknown = unnamed(named_cgroups)
    return report


def unnamed(named: set[str]) -> list[str]:
    """``memcglab-*`` cgroups and tracefs instances no state file names (reported only)."""
    out = []
    roots = [Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup/unified"),
             Path("/sys/fs/cgroup")]
    for r in roots:
        if r.is_dir():
            out += [str(p) for p in sorted(r.glob(PREFIX + "*"))
                    if p.is_dir() and p.name not in named]
    inst = Path("/sys/kernel/tracing/instances")
    if inst.is_dir():
        out += [str(p) for p in sorted(inst.glob(PREFIX + "*")) if p.name not in named]
    return out
