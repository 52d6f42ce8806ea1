"""Swap on zram for a ``memcglab kernel run`` with anon workloads (``--zram SIZE``).

Without swap, anonymous pages cannot be reclaimed (the kernel does not even scan the anon
LRU: ``get_scan_count`` with no swap space), so an anon scenario would only end in OOMs. A
zram device is a compressed block device in RAM: swap on it needs no disk and no
partition, and ``reset`` takes it all back.

* :func:`setup` picks a zram device that nobody uses (disksize 0 and not in ``/proc/swaps``;
  one in use is never touched), writes its ``disksize``, runs ``mkswap`` with a fresh UUID
  and ``swapon -p 5``, and returns a :class:`ZramSwap` record for the run's state file.
  Writing ``disksize`` claims the device: the kernel refuses it with EBUSY once the device
  is initialised (Linux ``drivers/block/zram/zram_drv.c`` ``disksize_store``: "Cannot
  change disksize for initialized device"), so two runs cannot both take one device. Any
  failure after that undoes what was done.
* :func:`free_device` names the device :func:`setup` would take, so that a caller can
  write it into its state file before ``setup(size, device)``: a run killed half-way
  through setup still knows what to undo.
* :func:`teardown` undoes it: ``swapoff`` (which first swaps every page back in, so it
  needs that much free memory and can take a while), then ``echo 1 > reset`` (disksize back
  to 0, memory freed). It acts only on the given device, and only while that device is
  still memcglab's: given the :class:`ZramSwap` record, its swap header must carry the
  record's UUID; given only the device name (from a state file written before setup
  returned), its swap header must carry the label ``memcglab``, or the device must still be
  blank (its first page all zeros, not a swap area: a setup killed between ``disksize`` and
  ``mkswap``). A device someone else has set up since is left alone (LiveError). Both
  functions are idempotent: setup on a device in use is refused, teardown of what is gone
  (disksize 0, or the device removed) does nothing.

Swap is global: while it is on, any process of the machine may be swapped out to it under
global memory pressure, not only the run's workloads. Keep it on only during a run (the
run's cleanup calls :func:`teardown`, also after a failure). Its priority 5 is above the
default (negative) priorities, so it is used before any other swap already present.
zram stores each page compressed (a page that is one repeated byte, such as all zeros,
takes no data at all), so the memory it takes is far below ``SIZE`` for the worker's
mostly-zero pages.

Paths (``/sys/block``, ``/proc/swaps``, ``/dev``) are parameters, for tests.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import subprocess
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from memcglab.errors import LiveError

SYS_BLOCK = Path("/sys/block")
PROC_SWAPS = Path("/proc/swaps")
DEV = Path("/dev")
PRIORITY = 5
MIN_SIZE = 1 << 20
_NAME = re.compile(r"zram[0-9]+")
LABEL = "memcglab"
# union swap_header (include/linux/swap.h): info.sws_uuid[16] after bootbits[1024] and three
# __u32 (version, last_page, nr_badpages), then sws_volume[16] (the label); "SWAPSPACE2"
# ends the first 4 KiB page.
_UUID_AT = 1024 + 12
_LABEL_AT = _UUID_AT + 16
_MAGIC = b"SWAPSPACE2"
_MAGIC_AT = 4096 - len(_MAGIC)


@dataclass(frozen=True)
class ZramSwap:
    """The swap a run set up: what the state file keeps for :func:`teardown`."""

    device: str  # "zram0"
    size_bytes: int  # the disksize the kernel reported after setup
    uuid: str  # the swap UUID given to mkswap
    priority: int = PRIORITY

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, object]) -> ZramSwap:
        device, size, uid, prio = (d.get("device"), d.get("size_bytes"), d.get("uuid"),
                                   d.get("priority", PRIORITY))
        if not (isinstance(device, str) and _NAME.fullmatch(device)
                and isinstance(size, int) and not isinstance(size, bool)
                and isinstance(uid, str) and isinstance(prio, int)):
            raise LiveError(f"state file: not a zram swap record: {d!r}")
        return cls(device, size, uid, prio)


def active_swaps(proc_swaps: Path = PROC_SWAPS) -> list[str]:
    """The swap areas in use: the first column of ``/proc/swaps`` (``\\040`` unescaped)."""
    try:
        lines = proc_swaps.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    except FileNotFoundError:
        return []  # CONFIG_SWAP unset: no swap at all
    out = []
    for line in lines[1:]:
        if line.split():
            out.append(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)),
                              line.split()[0]))
    return out


def _disksize(sys_block: Path, name: str) -> int:
    try:
        return int((sys_block / name / "disksize").read_text().strip())
    except (OSError, ValueError) as e:
        raise LiveError(f"{sys_block / name / 'disksize'}: cannot read it ({e})") from None


def _in_swaps(name: str, proc_swaps: Path, dev: Path) -> bool:
    return str(dev / name) in active_swaps(proc_swaps)


def zram_devices(sys_block: Path = SYS_BLOCK) -> list[str]:
    """zram devices present, in numeric order."""
    try:
        names = [p.name for p in sys_block.iterdir() if _NAME.fullmatch(p.name)]
    except FileNotFoundError:
        return []
    return sorted(names, key=lambda n: int(n[4:]))


def free_devices(sys_block: Path = SYS_BLOCK, proc_swaps: Path = PROC_SWAPS,
                 dev: Path = DEV) -> list[str]:
    """zram devices nobody uses: disksize 0 and not a swap area."""
    swaps = active_swaps(proc_swaps)
    return [n for n in zram_devices(sys_block)
            if _disksize(sys_block, n) == 0 and str(dev / n) not in swaps]


def _check_free(name: str, sys_block: Path, proc_swaps: Path, dev: Path) -> None:
    if not _NAME.fullmatch(name):
        raise LiveError(f"zram device {name!r}: expected a name like zram0")
    if not (sys_block / name).is_dir():
        raise LiveError(f"zram device {name}: no {sys_block / name} (present: "
                        f"{', '.join(zram_devices(sys_block)) or 'none'})")
    size = _disksize(sys_block, name)
    if size != 0 or _in_swaps(name, proc_swaps, dev):
        raise LiveError(f"zram device {name} is in use (disksize {size}"
                        f"{', a swap area' if _in_swaps(name, proc_swaps, dev) else ''}); "
                        "memcglab uses only a free one (disksize 0)")


def _tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if path is None:
        raise LiveError(f"{name} not found (util-linux); it is needed to use zram as swap")
    return path


def _run(args: list[str], what: str, timeout: float | None = 60) -> None:
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise LiveError(f"{what}: {' '.join(args)}: {e}") from None
    if r.returncode != 0:
        msg = (r.stderr or r.stdout).strip() or f"exit {r.returncode}"
        raise LiveError(f"{what}: {' '.join(args)}: {msg}")


def _write(path: Path, text: str, what: str) -> None:
    try:
        with open(path, "w", encoding="ascii") as f:
            f.write(text)
    except OSError as e:
        raise LiveError(f"{what}: writing {text!r} to {path}: {e.strerror}") from None


def _head(name: str, dev: Path) -> bytes:
    try:
        with open(dev / name, "rb") as f:
            return f.read(4096)
    except OSError as e:
        raise LiveError(f"{dev / name}: cannot read it ({e.strerror})") from None


def swap_header(name: str, dev: Path = DEV) -> tuple[str, str] | None:
    """(UUID, label) from the swap header of ``/dev/<name>``, or None if it holds none."""
    head = _head(name, dev)
    if len(head) < 4096 or head[_MAGIC_AT:] != _MAGIC:
        return None
    label = head[_LABEL_AT:_LABEL_AT + 16].split(b"\0")[0].decode("utf-8", "replace")
    return str(uuid.UUID(bytes=head[_UUID_AT:_UUID_AT + 16])), label


def swap_uuid(name: str, dev: Path = DEV) -> str | None:
    """The UUID in the swap header of ``/dev/<name>``, or None if it holds no swap header."""
    header = swap_header(name, dev)
    return header[0] if header else None


def free_device(sys_block: Path = SYS_BLOCK, proc_swaps: Path = PROC_SWAPS,
                dev: Path = DEV) -> str:
    """The first free zram device (what :func:`setup` would take); LiveError if none."""
    free = free_devices(sys_block, proc_swaps, dev)
    if not free:
        present = zram_devices(sys_block)
        raise LiveError(
            "no free zram device (disksize 0, not a swap area): "
            + (f"{', '.join(present)} are in use" if present else
               f"none in {sys_block} (the kernel needs CONFIG_ZRAM)")
            + "; as root, 'cat /sys/class/zram-control/hot_add' adds one")
    return free[0]


def setup(size_bytes: int, device: str | None = None, *, sys_block: Path = SYS_BLOCK,
          proc_swaps: Path = PROC_SWAPS, dev: Path = DEV) -> ZramSwap:
    """Swap of ``size_bytes`` on a free zram device (``device``, or the first free one)."""
    if os.geteuid() != 0:
        raise LiveError("zram swap needs root (it writes /sys/block/zram*/disksize and runs "
                        "swapon)")
    if size_bytes < MIN_SIZE:
        raise LiveError(f"zram size {size_bytes} bytes: expected at least 1M")
    tools = {t: _tool(t) for t in ("mkswap", "swapon", "swapoff")}
    if device is not None:
        _check_free(device, sys_block, proc_swaps, dev)
        candidates = [device]
    else:
        free_device(sys_block, proc_swaps, dev)  # LiveError with the reason if none
        candidates = free_devices(sys_block, proc_swaps, dev)
    for name in candidates:
        try:
            with open(sys_block / name / "disksize", "w", encoding="ascii") as f:
                f.write(str(size_bytes))
        except OSError as e:
            if e.errno == errno.EBUSY and device is None:  # another process took it
                continue
            raise LiveError(f"zram {name}: writing disksize {size_bytes}: {e.strerror}"
                            ) from None
        break
    else:
        raise LiveError(f"no free zram device: {', '.join(candidates)} were taken meanwhile")
    # The device is ours from here: undo on any failure.
    uid = str(uuid.uuid4())
    path = str(dev / name)
    try:
        if not stat.S_ISBLK(os.stat(path).st_mode):
            raise LiveError(f"{path} is not a block device")
        _run([tools["mkswap"], "-U", uid, "-L", LABEL, path], f"zram {name}: mkswap")
        _run([tools["swapon"], "-p", str(PRIORITY), path], f"zram {name}: swapon")
        if not _in_swaps(name, proc_swaps, dev):
            raise LiveError(f"zram {name}: swapon succeeded but {proc_swaps} does not list "
                            f"{path}")
        return ZramSwap(name, _disksize(sys_block, name), uid)
    except BaseException as e:
        try:
            _undo(name, tools["swapoff"], sys_block, proc_swaps, dev)
        except LiveError as undo:
            raise LiveError(f"{e}; undoing it failed too: {undo}") from e
        raise


def _undo(name: str, swapoff: str, sys_block: Path, proc_swaps: Path, dev: Path) -> None:
    if _in_swaps(name, proc_swaps, dev):
        _run([swapoff, str(dev / name)], f"zram {name}: swapoff", timeout=None)
    if _disksize(sys_block, name) != 0:
        _write(sys_block / name / "reset", "1", f"zram {name}: reset")


def teardown(swap: ZramSwap | str, *, sys_block: Path = SYS_BLOCK,
             proc_swaps: Path = PROC_SWAPS, dev: Path = DEV) -> None:
    """swapoff and reset the device of ``swap`` (a record, or a device name), if it is still
    memcglab's (see the module docstring); nothing if it is already gone. LiveError if the
    device is now someone else's, or if swapoff or reset fails."""
    name = swap if isinstance(swap, str) else swap.device
    if not _NAME.fullmatch(name):
        raise LiveError(f"zram device {name!r}: expected a name like zram0")
    if not (sys_block / name).is_dir():
        return  # the device itself is gone (hot_remove): nothing of ours is left
    size = _disksize(sys_block, name)
    if size == 0:
        return  # reset already; a swap area cannot live on a 0-size device
    header = swap_header(name, dev)
    if isinstance(swap, ZramSwap):
        ours = header is not None and header[0] == swap.uuid
        expected = f"UUID {swap.uuid}"
    elif header is not None:
        ours = header[1] == LABEL
        expected = f"label {LABEL!r}"
    else:
        # No swap header: a setup killed before mkswap left it blank (zram reads zeros).
        ours = not _in_swaps(name, proc_swaps, dev) and not any(_head(name, dev))
        expected = "a blank device"
    if not ours:
        found = (f"UUID {header[0]}, label {header[1]!r}" if header else
                 "no swap header, data written")
        raise LiveError(f"zram {name} (disksize {size}) is no longer memcglab's swap "
                        f"(expected {expected}, found {found}): someone else set it up; "
                        "left alone")
    _undo(name, _tool("swapoff"), sys_block, proc_swaps, dev)
