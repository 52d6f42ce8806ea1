"""The ``--out DIR`` folders of ``memcglab run`` and ``memcglab compare``, written safely.

memcglab never deletes or replaces a file it did not write:

* every output folder gets a marker file, ``.memcglab-output``, that says which command
  wrote the folder and lists the files it wrote;
* an existing folder is written into only when it is empty, or when it holds that marker
  and ``--force`` is given; then only the files the marker lists are replaced, and every
  other file is left alone;
* ``--out`` may not be the current folder, one of its parents, or a folder holding an input
  (the scenario, a variant's file); a symbolic link is followed, never replaced;
* :func:`check_out` runs before the simulation, so a folder that cannot be written is
  refused at once;
* the files are written into a temporary folder and moved into place at the end, with
  SIGINT and SIGTERM held off during those few renames, so an interrupted or failed write
  leaves no half-written folder, no temporary folder and no parent folder it created.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from memcglab import __version__
from memcglab.errors import ConfigError

MARKER = ".memcglab-output"
_MAGIC = "memcglab output folder"


@dataclass(frozen=True, slots=True)
class OutDir:
    """A checked ``--out``: where to write, and what an earlier memcglab output left there."""

    given: str  # as the user typed it, for messages
    target: Path  # the real folder (symbolic links resolved)
    command: str  # "run" or "compare"
    exists: bool
    previous: tuple[str, ...]  # files an earlier output listed in its marker (replaced)


def _safe_rel(name: str) -> bool:
    p = PurePosixPath(name)
    return (bool(name) and not p.is_absolute() and "\\" not in name and name != MARKER
            and all(part not in ("", ".", "..") for part in name.split("/")))


def read_marker(folder: Path) -> tuple[str, tuple[str, ...]] | None:
    """``(first line, files listed)`` of the folder's marker, or None when it has none."""
    p = folder / MARKER
    if p.is_symlink() or not p.is_file():
        return None
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    if not lines or not lines[0].startswith(_MAGIC):
        return None
    files = lines[lines.index("files:") + 1:] if "files:" in lines else []
    return lines[0], tuple(f for f in files if _safe_rel(f))


def marker_text(command: str, files: Sequence[str]) -> str:
    return (f"{_MAGIC}: written by `memcglab {command}` (memcglab {__version__}).\n"
            "memcglab replaces the files listed below when --out is given this folder again "
            "with --force,\nand never touches any other file here.\nfiles:\n"
            + "".join(f"{f}\n" for f in files))


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_out(given: str, command: str, force: bool, inputs: Sequence[Path] = (),
              cwd: Path | None = None) -> OutDir:
    """Check ``--out`` before anything runs; raise :class:`ConfigError` saying why not."""
    if not given.strip():
        raise ConfigError("--out '': expected a folder name, e.g. --out out/")
    base = str(cwd) if cwd is not None else os.getcwd()
    full = os.path.join(base, given)
    target = os.path.realpath(full)
    if os.path.islink(full.rstrip(os.sep)) and not os.path.exists(target):
        raise ConfigError(f"--out {given}: a symbolic link to {target}, which does not exist")
    here = os.path.realpath(base)
    if _inside(here, target):
        what = "the current folder" if here == target else "a parent of the current folder"
        raise ConfigError(f"--out {given}: that is {what}; memcglab writes its outputs into "
                          "a folder of their own, e.g. --out out/")
    for f in inputs:
        real = os.path.realpath(f)
        if _inside(real, target):
            raise ConfigError(f"--out {given}: it holds the input {f}; choose a folder that "
                              "holds no input, e.g. a new one")
    t = Path(target)
    if os.path.lexists(target):
        if not t.is_dir():
            raise ConfigError(f"--out {given}: exists and is not a directory")
        return _check_existing(given, t, command, force)
    anc = t.parent
    while not os.path.lexists(anc):
        anc = anc.parent
    if not anc.is_dir():
        raise ConfigError(f"--out {given}: {anc} is not a directory")
    _probe(given, anc, "cannot create it")
    return OutDir(given, t, command, False, ())


def _check_existing(given: str, t: Path, command: str, force: bool) -> OutDir:
    try:
        entries = os.listdir(t)
    except OSError as e:
        raise ConfigError(f"--out {given}: cannot read the folder: {e.strerror}") from e
    previous: tuple[str, ...] = ()
    if entries:
        marker = read_marker(t)
        if marker is None:
            raise ConfigError(
                f"--out {given}: the folder is not empty and memcglab did not write it (it "
                f"has no {MARKER}); memcglab never deletes or replaces files it did not "
                "write. Choose a new or empty folder (--force only replaces the files of an "
                "earlier memcglab output)")
        if not force:
            by = marker[0].split("`")[1] if marker[0].count("`") >= 2 else "memcglab"
            raise ConfigError(
                f"--out {given}: holds the output of an earlier `{by}`; pass --force to "
                f"replace the files its {MARKER} lists (any other file there is kept), or "
                "choose another folder")
        previous = marker[1]
    _probe(given, t, "cannot write into it")
    return OutDir(given, t, command, True, previous)


def _probe(given: str, folder: Path, what: str) -> None:
    """Create and remove a temporary folder: the only sure test that writing will work."""
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".memcglab-probe.", dir=folder))
    except OSError as e:
        raise ConfigError(f"--out {given}: {what}: {e.strerror} ({folder})") from e


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM off while the block runs, then act on them.

    The Python handlers are swapped for recording ones (blocking the signals in this thread
    would not do: another thread of a library may receive them)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []

    def record(signum: int, frame: Any) -> None:
        got.append(signum)

    old = {s: signal.signal(s, record) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        for signum in dict.fromkeys(got):
            h = old[signal.Signals(signum)]
            if callable(h):
                h(signum, None)
            elif h == signal.SIG_DFL:
                os.kill(os.getpid(), signum)


def _files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and p.name != MARKER)


def write_folder(out: OutDir, fill: Callable[[Path], None]) -> list[str]:
    """``fill(tmp)`` writes the outputs into a temporary folder; they are then moved into
    ``out.target`` (see the module docstring). Returns the files written."""
    created: list[Path] = []
    tmp: Path | None = None
    try:
        if out.exists:
            tmp = Path(tempfile.mkdtemp(prefix=".memcglab-tmp.", dir=out.target))
        else:
            parent = out.target.parent
            missing = [parent, *parent.parents]
            missing = [p for p in missing if not os.path.lexists(p)]
            for p in reversed(missing):
                p.mkdir()
                created.append(p)
            tmp = Path(tempfile.mkdtemp(prefix=f".{out.target.name}.memcglab-tmp.",
                                        dir=parent))
        tmp.chmod(0o755)
        fill(tmp)
        files = _files_under(tmp)
        (tmp / MARKER).write_text(marker_text(out.command, files), encoding="utf-8")
        with signals_deferred():
            if out.exists:
                _install_into(out, tmp, files)
            else:
                os.rename(tmp, out.target)
            tmp = None
        return files
    except BaseException as e:
        with signals_deferred():
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            for p in reversed(created):
                with contextlib.suppress(OSError):
                    p.rmdir()
        if isinstance(e, OSError):
            raise ConfigError(f"--out {out.given}: cannot write: {e.strerror}") from e
        raise


def _install_into(out: OutDir, tmp: Path, files: Sequence[str]) -> None:
    """Move the new files into an existing folder, replacing only memcglab's own files."""
    target = out.target
    real = os.path.realpath(target)
    previous = set(out.previous)
    for rel in files:
        dst = target / rel
        for parent in reversed(PurePosixPath(rel).parents[:-1]):
            d = target / parent
            if d.is_symlink() or (os.path.lexists(d) and not d.is_dir()):
                raise ConfigError(f"--out {out.given}: {parent} is in the way of {rel} (a link "
                                  "or a file memcglab did not write); nothing was replaced")
        if os.path.lexists(dst) and rel not in previous:
            raise ConfigError(f"--out {out.given}: {rel} exists and memcglab did not write it "
                              f"(it is not listed in {MARKER}); nothing was replaced")
    for rel in sorted(previous):
        p = target / rel
        if (_inside(os.path.realpath(p), real) and not p.is_symlink() and p.is_file()):
            p.unlink()
    dirs = {str(d) for rel in previous for d in PurePosixPath(rel).parents[:-1]}
    for name in sorted(dirs, key=lambda x: x.count("/"), reverse=True):
        with contextlib.suppress(OSError):
            (target / name).rmdir()  # only when empty: a user's file in it keeps it
    for rel in files:
        dst = target / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp / rel, dst)
    os.replace(tmp / MARKER, target / MARKER)
    shutil.rmtree(tmp)
