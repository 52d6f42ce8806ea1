"""The state file of a live run: everything ``kernel run`` made on the machine, so that
``kernel cleanup`` can undo exactly that after the run was killed (and nothing else).

One JSON file per run in ``/run/memcglab/`` (``$MEMCGLAB_STATE_DIR`` overrides it, for
tests): ``/run`` is a tmpfs, so the files vanish at reboot together with the cgroups,
tracefs instances and zram swap they describe. The file is rewritten (atomically: a
temporary file renamed over it) *before* each thing is made, so a crash at any moment
leaves a file that names everything that may exist. Processes are named with their start
time (``/proc/PID/stat`` field 22) so a pid reused by an unrelated process is never killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from memcglab.errors import LiveError

DEFAULT_DIR = Path("/run/memcglab")
PREFIX = "memcglab-"  # cgroup parents and tracefs instances: memcglab-<runid>


def state_dir() -> Path:
    return Path(os.environ.get("MEMCGLAB_STATE_DIR", str(DEFAULT_DIR)))


def not_private(st: os.stat_result) -> str | None:
    """What makes a directory not this user's alone (owned by another uid, or writable by
    group or others), said as "owned by uid U with mode M"; None when it is private. The
    rule for every directory a root run trusts: its state files, its work directory."""
    if st.st_uid != os.geteuid() or st.st_mode & 0o022:
        return f"owned by uid {st.st_uid} with mode {st.st_mode & 0o777:o}"
    return None


def check_state_dir(d: Path) -> None:
    """A state file decides what ``kernel cleanup`` kills and removes, so only files in a
    directory that no one else could have written are believed."""
    try:
        why = not_private(d.stat())
    except FileNotFoundError:
        return
    if why:
        raise LiveError(f"{d}: {why}; memcglab trusts state files only in a directory of "
                        "its own user that no one else can write (chmod go-w, or remove it)")


def new_run_id() -> str:
    # Sortable by time, unique across concurrent runs and machines sharing nothing.
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}"


def proc_start_time(pid: int, proc: Path = Path("/proc")) -> int | None:
    """Field 22 of /proc/PID/stat (start time in clock ticks since boot), None if gone."""
    try:
        text = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'.
    rest = text[text.rfind(")") + 2:].split()
    if rest[0] in ("Z", "X"):  # a zombie has exited; only its parent has not reaped it yet
        return None
    return int(rest[19])


PR_SET_PDEATHSIG = 1  # include/uapi/linux/prctl.h


def die_with_parent() -> None:
    """``preexec_fn`` of every process a run starts: SIGKILL when memcglab dies
    (``PR_SET_PDEATHSIG``), so a run killed with SIGKILL leaves no worker or recorder
    running; ``kernel cleanup`` still checks for them by the state file. SIGINT and SIGTERM
    get their default action back: memcglab stops bpftrace with SIGINT and the workers with
    SIGTERM, and a memcglab started where they are ignored (a background job of a
    non-interactive shell ignores SIGINT) would pass that on, and its children would not
    stop until killed."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@dataclass(frozen=True)
class Proc:
    """A process the run started, named by pid and start time."""

    pid: int
    start: int
    what: str  # "worker" | "bpftrace" | "trace reader"

    @classmethod
    def of(cls, pid: int, what: str) -> Proc:
        return cls(pid, proc_start_time(pid) or -1, what)

    def alive(self, proc: Path = Path("/proc")) -> bool:
        return self.start >= 0 and proc_start_time(self.pid, proc) == self.start

    def is_what_it_was(self, proc: Path = Path("/proc")) -> bool:
        """Alive, and still the program it was recorded as (its command line says so):
        what ``kernel cleanup`` checks before it kills anything."""
        if not self.alive(proc):
            return False
        try:
            argv = (proc / str(self.pid) / "cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        if argv == [b""]:
            # exiting (its memory is gone, so is its command line); same pid and start
            # time, so it is still the process that was recorded
            return True
        token = {"worker": b"memcglab.live.worker", "bpftrace": b"bpftrace",
                 "trace reader": b"trace_pipe", "memcglab": b"memcglab"}.get(self.what)
        return token is not None and any(token in a for a in argv)


@dataclass
class RunState:
    """What one run made; every field is filled before the thing it names is made."""

    run_id: str
    owner: Proc
    cgroup_version: int = 0
    cgroup_mount: str = ""
    cgroup_parent: str = ""  # a name directly under cgroup_mount, always PREFIX + run_id
    tracefs: str = ""
    tracefs_mounted_by_us: bool = False
    trace_instance: str = ""
    psi_mirror: str = ""  # the v2 mount holding a mirror cgroup_parent (per-group PSI on v1)
    zram_device: str = ""
    zram: dict[str, Any] = field(default_factory=dict)  # the swap set up: its UUID (zram.py)
    workdir: str = ""  # the run's own directory, <--workdir>/memcglab-<runid>
    files: list[str] = field(default_factory=list)
    procs: list[Proc] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return state_dir() / f"{self.run_id}.json"

    def save(self) -> None:
        d = state_dir()
        try:
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
            check_state_dir(d)
            tmp = d / f".{self.run_id}.json.tmp"
            tmp.write_text(json.dumps(asdict(self), indent=1) + "\n")
            os.replace(tmp, self.path)
        except OSError as e:
            raise LiveError(f"cannot write the run's state file in {d}: {e.strerror}") from None

    def add_proc(self, pid: int, what: str) -> None:
        self.procs.append(Proc.of(pid, what))
        self.save()

    def forget(self) -> None:
        self.path.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path) -> RunState:
        try:
            raw: dict[str, Any] = json.loads(path.read_text())
            raw["owner"] = Proc(**raw["owner"])
            raw["procs"] = [Proc(**p) for p in raw.get("procs", [])]
            st = cls(**raw)
        except (OSError, ValueError, TypeError, KeyError) as e:
            raise LiveError(f"{path}: not a memcglab run state file ({e})") from None
        # Never act on a name that is not ours: a state file is root-owned, but a damaged
        # one must not make cleanup remove somebody else's cgroup.
        if st.cgroup_parent and st.cgroup_parent != PREFIX + st.run_id:
            raise LiveError(f"{path}: cgroup_parent {st.cgroup_parent!r} is not "
                            f"{PREFIX + st.run_id!r}; refusing to touch it")
        if st.trace_instance and st.trace_instance != PREFIX + st.run_id:
            raise LiveError(f"{path}: trace_instance {st.trace_instance!r} is not "
                            f"{PREFIX + st.run_id!r}; refusing to touch it")
        return st
