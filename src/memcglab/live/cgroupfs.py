"""Every cgroupfs read and write of ``memcglab kernel run``, for cgroup v1 and v2.

One small interface, :class:`Cgroups`, with :class:`V1Cgroups` and :class:`V2Cgroups`
behind it; :func:`open_memory_hierarchy` picks one from a :class:`~memcglab.live.probe.Probe`.
Every path is taken relative to the ``mount`` given to the constructor (and ``/proc`` is a
parameter), so tests point it at a fixture tree in a temporary directory.

Files used, and where their meaning comes from (Linux v6.18 unless marked):

cgroup v1 (Documentation/admin-guide/cgroup-v1/memory.rst; mm/memcontrol-v1.c,
``mem_cgroup_legacy_files[]``):

* ``memory.limit_in_bytes``: the hard limit (``mem_cgroup_write`` -> ``mem_cgroup_resize_max``;
  it reclaims down to the new value and answers EBUSY if it cannot).
* ``memory.soft_limit_in_bytes``: the soft limit that global reclaim aims at first
  (``memcg1_soft_limit_reclaim``). Deprecated in 6.x (``pr_warn_once`` on write) but works.
* ``memory.use_hierarchy``: reads 1 always (``mem_cgroup_hierarchy_read`` returns 1).
  ``mem_cgroup_hierarchy_write`` is ``if (val == 1) return 0; pr_warn_once("Non-hierarchical
  mode is deprecated. ..."); return -EINVAL;`` since Linux 5.11 (Roman Gushchin, "mm:
  memcontrol: deprecate memory.use_hierarchy"). Measured on this 6.18.44 machine: ``echo 0 >
  memory.use_hierarchy`` fails with EINVAL and dmesg shows that warning. So ``use_hierarchy=
  False`` cannot be had; :func:`unsupported` says so, and :meth:`Cgroups.mkdir` still writes
  it (an older kernel may accept it) and turns the refusal into a :class:`LiveError`.
* ``memory.usage_in_bytes``, ``memory.max_usage_in_bytes``, ``memory.failcnt``: usage, its
  watermark, and how often a charge hit this group's limit (``page_counter_try_charge``
  counts ``failcnt`` on the counter that refused, i.e. locally).
* ``memory.stat``: ``memcg1_stat_format``: ``cache rss ... pgpgin pgpgout pgfault pgmajfault
  inactive_anon ... hierarchical_memory_limit ... total_*``. No ``pgscan``/``pgsteal``: those
  must come from the event recorder.
* ``memory.force_empty``: ``mem_cgroup_force_empty`` reclaims every page of the group
  (it is itself a reclaimer: ``try_to_free_mem_cgroup_pages``, visible in traces), so that
  ``rmdir`` does not leave an offline "zombie" memcg pinned by page charges.
* ``cgroup.procs``: move a process in (and read the group's processes).

cgroup v2 (Documentation/admin-guide/cgroup-v2.rst; mm/memcontrol.c):

* ``cgroup.controllers`` / ``cgroup.subtree_control``: a group only has ``memory.*`` files if
  its parent has ``memory`` in ``cgroup.subtree_control``. So the mount root must delegate
  memory (checked, never changed), the run's parent gets ``+memory``, and so does every
  inner group (:meth:`Cgroups.enable_children`). The "no internal process" rule then applies:
  a group with controllers in ``subtree_control`` cannot hold processes (writing
  ``cgroup.procs`` fails with EBUSY), so on v2 workloads go into leaves only.
* ``memory.max`` (hard limit), ``memory.high`` (throttle and reclaim above it),
  ``memory.low`` (best-effort protection), ``memory.min`` (hard protection): bytes or "max".
* ``memory.current``, ``memory.peak`` (v5.19+): usage and its watermark.
* ``memory.stat``: flat-keyed, bytes for sizes and counts for events; carries ``pgscan``,
  ``pgsteal`` and their ``_kswapd``/``_direct``/``_khugepaged``/``_proactive`` splits (the
  ``_proactive`` pair since v6.15).
* ``memory.events``: ``low high max oom oom_kill oom_group_kill``, counted in this group
  *and its ancestors* (``__memcg_memory_event`` walks up unless the ``memory_localevents``
  mount option is set); ``memory.events.local`` counts only this group. v1's ``failcnt`` is
  local, so :attr:`GroupSample.limit_hits` reads ``memory.events.local`` ``max`` when it
  exists and falls back to ``memory.events``.
* ``memory.pressure``: per-cgroup PSI (Documentation/accounting/psi.rst).
* ``memory.reclaim`` (v5.19+): proactive reclaim of N bytes; EAGAIN if it fell short.
  Cleanup writes the usage to it before ``rmdir``, the v2 analogue of ``force_empty``.
* ``cgroup.procs``, ``cgroup.kill`` (v5.14+: kills every process of the subtree).

``/proc/vmstat`` and ``/proc/pressure/memory`` (Documentation/accounting/psi.rst): global
counters and global memory pressure; :func:`vmstat` and :func:`pressure`.

Cgroup ids: ``os.stat(dir).st_ino`` of a cgroup directory is ``cgroup_id()``, the id the
``memcg:*`` tracepoints and BPF's ``kn->id`` report (verified on this machine, see
shared/docs/kernel-observability.md §9). Ids are unique within one hierarchy only.

Hybrid machines (memory on v1, a controller-less or hugetlb-only v2 tree): PSI groups follow
a task's *default hierarchy* (v2) cgroup, so per-cgroup memory pressure can still be had by
mirroring the run's tree in v2 and moving each workload into both: :class:`PressureMirror`.

Nothing here kills processes: that is the runner's job (:meth:`Cgroups.procs` lists them,
:meth:`Cgroups.kill` uses ``cgroup.kill`` where v2 has it).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from memcglab.errors import ConfigError, LiveError
from memcglab.live.probe import Probe

Version = Literal["v1", "v2"]
RmdirFn = Callable[[Path], None]

RMDIR_RETRY_S = 0.02  # between rmdir attempts while a group is still busy


# --- plain data ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """Limits of one memcg, in bytes; None = leave the kernel's default (no limit, no
    protection). ``soft`` exists on v1 only; ``high``, ``low`` and ``min`` on v2 only."""

    max: int | None = None
    soft: int | None = None
    high: int | None = None
    low: int | None = None
    min: int | None = None
    use_hierarchy: bool = True

    def __post_init__(self) -> None:
        for field in ("max", "soft", "high", "low", "min"):
            value = getattr(self, field)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 0):
                raise ConfigError(f"limit {field}: expected a byte count >= 0 or nothing, "
                                  f"found {value!r}")


@dataclass(frozen=True, slots=True)
class Psi:
    """One line of a PSI file: ``some``/``full`` ``avg10 avg60 avg300`` (percent of wall
    time stalled, averaged) and ``total`` (microseconds stalled since boot or creation)."""

    avg10: float
    avg60: float
    avg300: float
    total: int


@dataclass(frozen=True)
class GroupSample:
    """What one memcg looked like at ``t_ns`` (CLOCK_MONOTONIC, as the trace records)."""

    t_ns: int
    rel: str
    usage: int  # bytes: v1 memory.usage_in_bytes, v2 memory.current
    peak: int | None  # bytes: v1 memory.max_usage_in_bytes, v2 memory.peak (None if absent)
    limit_hits: int  # v1 memory.failcnt; v2 memory.events.local "max" (else memory.events)
    stat: dict[str, int]  # memory.stat, raw keys (v1 has no pgscan/pgsteal)
    events: dict[str, int]  # v2 memory.events (hierarchical); {} on v1
    pressure: dict[str, Psi] | None  # v2 memory.pressure ("some", "full"); None if absent


# --- pure helpers -------------------------------------------------------------------------


def unsupported(version: Version, limits: Limits) -> list[str]:
    """The limits of ``limits`` that ``version`` does not have, each as "field: why".
    ``mkdir`` leaves those out (except v1 ``use_hierarchy``, see below); the caller reports
    them before the run starts."""
    out = []
    if version == "v1":
        for field, v2file in (("high", "memory.high"), ("low", "memory.low"),
                              ("min", "memory.min")):
            if getattr(limits, field) is not None:
                out.append(f"{field}: cgroup v1 has no {v2file} (a v2-only file); not set")
        if not limits.use_hierarchy:
            out.append("use_hierarchy: Linux >= 5.11 refuses 0 (mem_cgroup_hierarchy_write "
                       "returns -EINVAL unless the value is 1; every v1 memcg is "
                       "hierarchical); creating the group will fail on such a kernel")
    else:
        if limits.soft is not None:
            out.append("soft: cgroup v2 has no soft limit (memory.soft_limit_in_bytes is "
                       "v1 only; memory.low or memory.high are the nearest v2 knobs); not set")
        if not limits.use_hierarchy:
            out.append("use_hierarchy: cgroup v2 is always hierarchical; ignored")
    return out


def parse_flat(text: str) -> dict[str, int]:
    """A flat-keyed cgroup file ("key value" per line) with integer values; other lines
    are skipped."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                continue
    return out


def parse_psi(text: str) -> dict[str, Psi]:
    """A PSI file: "some avg10=0.00 avg60=0.00 avg300=0.00 total=0" and a "full" line."""
    out: dict[str, Psi] = {}
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        fields = dict(f.split("=", 1) for f in rest.split() if "=" in f)
        try:
            out[kind] = Psi(float(fields["avg10"]), float(fields["avg60"]),
                            float(fields["avg300"]), int(fields["total"]))
        except (KeyError, ValueError):
            continue
    return out


def _check_name(name: str) -> str:
    if not name or "/" in name or name in (".", "..") or "\0" in name:
        raise LiveError(f"cgroup name {name!r}: expected one path component")
    return name


def _check_rel(rel: str) -> tuple[str, ...]:
    """A group's path under the run's parent: "" (the parent itself), "a", "a/b"; no
    absolute path, no empty, "." or ".." part. This is what keeps every write of this
    module inside the run's parent."""
    if rel == "":
        return ()
    parts = tuple(rel.split("/"))
    if rel.startswith("/") or "\0" in rel or any(p in ("", ".", "..") for p in parts):
        raise LiveError(f"cgroup path {rel!r}: expected '' (the run's parent) or a "
                        "relative path like 'a' or 'a/b'")
    return parts


# --- file access --------------------------------------------------------------------------


def _read(path: Path) -> str:
    # os.open/os.read instead of Path.read_text: this runs every sample interval for every
    # group, and seq files come back whole in one read; the second read returns b"".
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode()


def _read_opt(path: Path) -> str | None:
    try:
        return _read(path)
    except FileNotFoundError:
        return None


def _read_int(path: Path) -> int:
    text = _read(path).strip()
    try:
        return int(text)
    except ValueError:
        raise LiveError(f"{path}: expected an integer, found {text!r}") from None


def _write(path: Path, value: str) -> None:
    """One write(2) of ``value``: kernfs parses a single write. O_CREAT makes the fixture
    trees work (their mkdir makes empty directories); on a real cgroupfs the file exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
    except OSError as e:
        absent = "" if path.exists() else " (no such file)"
        raise LiveError(f"cannot write {value!r} to {path}{absent}: "
                        f"{os.strerror(e.errno or 0)}") from e


def _rmdir_retry(path: Path, rmdir_fn: RmdirFn, timeout: float) -> None:
    """rmdir, retrying EBUSY until ``timeout``: killed tasks take a moment to leave, and a
    v1 group stays busy until its last task has exited."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            rmdir_fn(path)
            return
        except OSError as e:
            if e.errno != errno.EBUSY or time.monotonic() >= deadline:
                raise LiveError(f"cannot remove cgroup {path}: "
                                f"{os.strerror(e.errno or 0)}") from e
        time.sleep(RMDIR_RETRY_S)


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def _remove_bottom_up(top: Path, dev: int, before: Callable[[Path], str | None],
                      rmdir_fn: RmdirFn, timeout: float) -> list[str]:
    """Remove ``top`` and every directory below it, children first. Symlinks are never
    followed and directories on another file system (st_dev) are never entered, so this
    cannot leave the mount. ``before(dir)`` empties a group first (force_empty / reclaim)
    and returns a problem or None. Problems are collected, not raised: cleanup goes on."""
    problems: list[str] = []
    try:
        st = os.lstat(top)
    except FileNotFoundError:
        return problems
    except OSError as e:
        return [f"{top}: {os.strerror(e.errno or 0)}"]
    if not stat.S_ISDIR(st.st_mode):
        return [f"{top}: not a directory (symlink or file); left alone"]
    if st.st_dev != dev:
        return [f"{top}: on another file system; left alone"]
    try:
        with os.scandir(top) as it:
            children = sorted(Path(e.path) for e in it if e.is_dir(follow_symlinks=False))
    except OSError as e:
        problems.append(f"cannot list {top}: {os.strerror(e.errno or 0)}")
        children = []
    for child in children:
        problems += _remove_bottom_up(child, dev, before, rmdir_fn, timeout)
    note = before(top)
    if note is not None:
        problems.append(note)
    try:
        _rmdir_retry(top, rmdir_fn, timeout)
    except LiveError as e:
        problems.append(str(e))
    return problems


# --- the interface ------------------------------------------------------------------------


class Cgroups(ABC):
    """The memory hierarchy of one run, rooted at ``mount`` (the memory controller's v1
    mount point or the v2 mount). All groups of a run live under one parent,
    ``<mount>/<parent>``, made by :meth:`create_parent` (or named with ``parent=`` to act on
    an existing run). Paths given to methods ("rel") are relative to that parent: "" is the
    parent itself, "a" and "a/b" are groups below it.

    ``rmdir_fn`` is ``os.rmdir``; tests pass a fake that behaves like kernfs (which removes
    a cgroup directory together with its control files)."""

    version: ClassVar[Version]

    def __init__(self, mount: Path, *, parent: str | None = None,
                 rmdir_timeout: float = 5.0, rmdir_fn: RmdirFn = os.rmdir) -> None:
        self.mount = Path(mount)
        self.parent = _check_name(parent) if parent is not None else None
        self.rmdir_timeout = rmdir_timeout
        self._rmdir_fn = rmdir_fn

    def path(self, rel: str) -> Path:
        """``<mount>/<parent>/<rel>``."""
        if self.parent is None:
            raise LiveError("no run parent: create_parent() first")
        return self.mount.joinpath(self.parent, *_check_rel(rel))

    def unsupported(self, limits: Limits) -> list[str]:
        return unsupported(self.version, limits)

    # creation

    def create_parent(self, name: str) -> int:
        """mkdir ``<mount>/<name>``, the run's parent; it must not exist (an existing one is
        not ours). From now on ``rel`` paths are under it. Returns its cgroup id."""
        path = self.mount / _check_name(name)
        self._before_parent(path)
        ino = self._mkdir(path)
        try:
            self._after_parent(path)
        except LiveError:
            self._undo_mkdir(path)
            raise
        self.parent = name
        return ino

    def mkdir(self, rel: str, limits: Limits) -> int:
        """mkdir ``<mount>/<parent>/<rel>`` and write ``limits`` (those this version has).
        Returns the cgroup id the tracepoints use. On a failed write the new group is
        removed again and :class:`LiveError` names the file, the value and the error."""
        if not _check_rel(rel):
            raise LiveError("mkdir(''): the run's parent is made by create_parent()")
        path = self.path(rel)
        ino = self._mkdir(path)
        try:
            self._write_limits(path, limits)
        except LiveError:
            self._undo_mkdir(path)
            raise
        return ino

    def enable_children(self, rel: str) -> None:  # noqa: B027 (v1: nothing to do)
        """Make ``rel``'s children get memory files (v2 ``+memory`` in its subtree_control).
        Call it before creating children. Nothing to do on v1."""

    # processes

    def attach(self, rel: str, pid: int) -> None:
        """Move process ``pid`` into ``rel`` (``cgroup.procs``)."""
        _write(self.path(rel) / "cgroup.procs", str(pid))

    def procs(self, rel: str) -> list[int]:
        """The processes in ``rel`` itself (not its children)."""
        path = self.path(rel) / "cgroup.procs"
        try:
            return [int(x) for x in _read(path).split()]
        except OSError as e:
            raise LiveError(f"cannot read {path}: {os.strerror(e.errno or 0)}") from e

    def kill(self, rel: str) -> bool:
        """Kill every process of ``rel``'s subtree through ``cgroup.kill``, where the version
        has it (v2, Linux 5.14+). False: signal :meth:`procs` yourself."""
        return False

    # sampling

    def sample(self, rel: str) -> GroupSample:
        """Usage, limit hits, memory.stat (and v2 events and pressure) of ``rel``: a few
        small reads, meant for every group at every sample interval. A group that is gone
        or unreadable gives :class:`LiveError`."""
        path = self.path(rel)
        try:
            return self._sample(rel, path)
        except OSError as e:
            raise LiveError(f"cannot sample {e.filename or path}: "
                            f"{os.strerror(e.errno or 0)}") from e

    def oom_kills(self, rel: str) -> int:
        """memcg OOM kills in ``rel`` so far (its own, not its descendants'): v1
        ``memory.oom_control`` / v2 ``memory.events.local`` ``oom_kill``; 0 where the
        kernel does not count them."""
        try:
            return parse_flat(_read(self.path(rel) / self._oom_file)).get("oom_kill", 0)
        except OSError as e:
            raise LiveError(f"cannot read {e.filename}: {os.strerror(e.errno or 0)}") from e

    _oom_file: ClassVar[str]

    # removal

    def rmdir(self, rel: str) -> None:
        """Remove one (childless) group, e.g. mid-run. EBUSY (tasks still exiting) is
        retried for ``rmdir_timeout`` seconds, then :class:`LiveError`."""
        _rmdir_retry(self.path(rel), self._rmdir_fn, self.rmdir_timeout)

    def empty_and_remove(self, rels: Sequence[str]) -> list[str]:
        """Cleanup of a run: empty (v1 force_empty, v2 memory.reclaim) and rmdir every group
        of ``rels`` and of their ancestors, deepest first, the run's parent last. Missing
        groups are skipped. Returns the problems met; never raises on one, so that cleanup
        goes on. Processes must be gone already (the runner kills them)."""
        todo = {parts[:i] for rel in rels
                for parts in [_check_rel(rel)] for i in range(len(parts) + 1)}
        todo.add(())
        problems = []
        for parts in sorted(todo, key=lambda p: (-len(p), p)):
            path = self.path("/".join(parts))
            if not _is_real_dir(path):
                continue
            note = self._empty(path)
            if note is not None:
                problems.append(note)
            try:
                _rmdir_retry(path, self._rmdir_fn, self.rmdir_timeout)
            except LiveError as e:
                problems.append(str(e))
        return problems

    def remove_tree(self, parent_name: str) -> list[str]:
        """For ``memcglab kernel cleanup``: empty and remove everything under
        ``<mount>/<parent_name>`` and it, bottom-up, without following symlinks or leaving
        the mount. The caller guarantees the name is one of ours. Returns the problems."""
        top = self.mount / _check_name(parent_name)
        try:
            dev = os.stat(self.mount).st_dev
        except OSError as e:
            return [f"{self.mount}: {os.strerror(e.errno or 0)}"]
        return _remove_bottom_up(top, dev, self._empty, self._rmdir_fn, self.rmdir_timeout)

    # version specifics

    def _before_parent(self, path: Path) -> None:  # noqa: B027 (v1: nothing to check)
        pass

    def _after_parent(self, path: Path) -> None:  # noqa: B027 (v1: nothing to enable)
        pass

    @abstractmethod
    def _write_limits(self, path: Path, limits: Limits) -> None: ...

    @abstractmethod
    def _sample(self, rel: str, path: Path) -> GroupSample: ...

    @abstractmethod
    def _empty(self, path: Path) -> str | None:
        """Free the group's pages before rmdir; a problem or None."""

    # shared

    def _mkdir(self, path: Path) -> int:
        try:
            os.mkdir(path)
        except FileExistsError:
            raise LiveError(f"{path} already exists: it is not ours (remove it with "
                            "'memcglab kernel cleanup' if an earlier run left it)") from None
        except OSError as e:
            raise LiveError(f"cannot create cgroup {path}: "
                            f"{os.strerror(e.errno or 0)}") from e
        return os.stat(path).st_ino

    def _undo_mkdir(self, path: Path) -> None:
        # The caller raises the original error; 'kernel cleanup' removes what is left.
        with contextlib.suppress(OSError):
            self._rmdir_fn(path)


class V1Cgroups(Cgroups):
    """cgroup v1: the memory controller's own hierarchy (here /sys/fs/cgroup/memory)."""

    version: ClassVar[Version] = "v1"
    _oom_file = "memory.oom_control"

    def _write_limits(self, path: Path, limits: Limits) -> None:
        if limits.max is not None:
            _write(path / "memory.limit_in_bytes", str(limits.max))
        if limits.soft is not None:
            _write(path / "memory.soft_limit_in_bytes", str(limits.soft))
        if not limits.use_hierarchy:  # the default is 1; Linux >= 5.11 refuses 0 (EINVAL)
            _write(path / "memory.use_hierarchy", "0")

    def _sample(self, rel: str, path: Path) -> GroupSample:
        t = time.monotonic_ns()
        return GroupSample(
            t_ns=t, rel=rel,
            usage=_read_int(path / "memory.usage_in_bytes"),
            peak=_read_int(path / "memory.max_usage_in_bytes"),
            limit_hits=_read_int(path / "memory.failcnt"),
            stat=parse_flat(_read(path / "memory.stat")),
            events={}, pressure=None)

    def _empty(self, path: Path) -> str | None:
        # force_empty reclaims every page charged to the group (and is traced as limit
        # reclaim with root = this group, priority down to 0); afterwards rmdir leaves no
        # offline memcg pinned by page cache. It fails with EBUSY/EINTR at worst.
        try:
            _write(path / "memory.force_empty", "0")
        except LiveError as e:
            return str(e)
        return None


class V2Cgroups(Cgroups):
    """cgroup v2: the unified hierarchy, with memory in the mount root's subtree_control."""

    version: ClassVar[Version] = "v2"
    _oom_file = "memory.events.local"

    def _before_parent(self, path: Path) -> None:
        # The parent only gets memory.* files if the mount root delegates memory to its
        # children. That is the machine's setting, not ours to change.
        root_ctl = self.mount / "cgroup.subtree_control"
        enabled = (_read_opt(root_ctl) or "").split()
        if "memory" not in enabled:
            raise LiveError(f"{root_ctl} does not enable memory (has: "
                            f"{' '.join(enabled) or 'nothing'}): run "
                            f"'echo +memory > {root_ctl}' first")

    def _after_parent(self, path: Path) -> None:
        _write(path / "cgroup.subtree_control", "+memory")

    def enable_children(self, rel: str) -> None:
        _write(self.path(rel) / "cgroup.subtree_control", "+memory")

    def kill(self, rel: str) -> bool:
        path = self.path(rel) / "cgroup.kill"
        if not path.exists():
            return False
        _write(path, "1")
        return True

    def _write_limits(self, path: Path, limits: Limits) -> None:
        for field, name in (("max", "memory.max"), ("high", "memory.high"),
                            ("low", "memory.low"), ("min", "memory.min")):
            value = getattr(limits, field)
            if value is not None:
                _write(path / name, str(value))

    def _sample(self, rel: str, path: Path) -> GroupSample:
        t = time.monotonic_ns()
        peak = _read_opt(path / "memory.peak")
        events = parse_flat(_read(path / "memory.events"))
        local = _read_opt(path / "memory.events.local")
        hits = parse_flat(local).get("max") if local is not None else None
        psi = _read_opt(path / "memory.pressure")
        return GroupSample(
            t_ns=t, rel=rel,
            usage=_read_int(path / "memory.current"),
            peak=int(peak) if peak is not None and peak.strip().isdigit() else None,
            limit_hits=hits if hits is not None else events.get("max", 0),
            stat=parse_flat(_read(path / "memory.stat")),
            events=events,
            pressure=parse_psi(psi) if psi is not None else None)

    def _empty(self, path: Path) -> str | None:
        # memory.reclaim (v5.19+) with the current usage reclaims what it can; EAGAIN means
        # it fell short, which only leaves a lingering offline memcg: not worth a problem.
        reclaim = path / "memory.reclaim"
        if not reclaim.exists():
            return None
        try:
            current = _read_int(path / "memory.current")
        except (OSError, LiveError) as e:
            return f"{path}: cannot read memory.current before reclaim: {e}"
        if current == 0:
            return None
        try:
            _write(reclaim, str(current))
        except LiveError as e:
            cause = e.__cause__
            if isinstance(cause, OSError) and cause.errno == errno.EAGAIN:
                return None
            return str(e)
        return None


def open_memory_hierarchy(probe: Probe, root: Path = Path("/")) -> Cgroups:
    """The hierarchy that carries the memory controller: v2 when ``memory`` is in the v2
    mount's cgroup.controllers, else the v1 memory mount. ``root`` prefixes the mount
    points (as in :func:`memcglab.live.probe.gather`)."""
    if probe.memory_v2 and probe.cgroup_v2_mount is not None:
        return V2Cgroups(root / probe.cgroup_v2_mount.lstrip("/"))
    if probe.memory_v1_mount is not None:
        return V1Cgroups(root / probe.memory_v1_mount.lstrip("/"))
    raise LiveError("no memory controller: not in cgroup v2's cgroup.controllers and no "
                    "cgroup v1 memory mount (see 'memcglab kernel probe')")


# --- global counters ----------------------------------------------------------------------


def vmstat(proc: Path = Path("/proc")) -> dict[str, int]:
    """/proc/vmstat: global counters (``pgscan_*``, ``pgsteal_*``, ``pswpin``...)."""
    return parse_flat(_read(proc / "vmstat"))


def pressure(proc: Path = Path("/proc")) -> dict[str, Psi]:
    """/proc/pressure/memory: global memory PSI; {} without PSI (CONFIG_PSI unset, or
    ``psi=0``/CONFIG_PSI_DEFAULT_DISABLED without ``psi=1``: the read then fails)."""
    try:
        return parse_psi(_read(proc / "pressure" / "memory"))
    except OSError:
        return {}


# --- per-cgroup PSI on hybrid machines ----------------------------------------------------


class PressureMirror:
    """A copy of the run's tree in the v2 hierarchy, only for per-cgroup PSI on machines
    whose memory controller is on v1 (shared/docs/kernel-observability.md §5: PSI follows a
    task's default-hierarchy cgroup, so ``memory.pressure`` of the mirror group measures the
    workload). ``name`` is the mirror's parent, ``<v2_mount>/<name>``; ``rel`` paths are
    under it as for :class:`Cgroups` ("" = the parent, made first with ``mkdir("")``).
    The mirror enables no controller, so processes may sit in inner groups, as on v1. Its
    cgroup ids belong to the v2 hierarchy: never mix them with the memory hierarchy's."""

    def __init__(self, v2_mount: Path, name: str, *, rmdir_timeout: float = 5.0,
                 rmdir_fn: RmdirFn = os.rmdir) -> None:
        self.mount = Path(v2_mount)
        self.name = _check_name(name)
        self.rmdir_timeout = rmdir_timeout
        self._rmdir_fn = rmdir_fn

    def path(self, rel: str) -> Path:
        return self.mount.joinpath(self.name, *_check_rel(rel))

    def mkdir(self, rel: str) -> int:
        """Create ``rel`` (the parent itself first: ``mkdir("")``); an existing directory
        is not ours. Returns the v2 cgroup id."""
        path = self.path(rel)
        try:
            os.mkdir(path)
        except FileExistsError:
            raise LiveError(f"{path} already exists: it is not ours") from None
        except OSError as e:
            raise LiveError(f"cannot create cgroup {path}: "
                            f"{os.strerror(e.errno or 0)}") from e
        return os.stat(path).st_ino

    def attach(self, rel: str, pid: int) -> None:
        _write(self.path(rel) / "cgroup.procs", str(pid))

    def pressure(self, rel: str) -> dict[str, Psi]:
        """``memory.pressure`` of ``rel``; {} if absent or unreadable (PSI off)."""
        try:
            return parse_psi(_read(self.path(rel) / "memory.pressure"))
        except OSError:
            return {}

    def remove(self) -> list[str]:
        """rmdir the whole mirror, bottom-up; the problems met (processes must be gone)."""
        try:
            dev = os.stat(self.mount).st_dev
        except OSError as e:
            return [f"{self.mount}: {os.strerror(e.errno or 0)}"]
        return _remove_bottom_up(self.mount / self.name, dev, lambda _: None,
                                 self._rmdir_fn, self.rmdir_timeout)
