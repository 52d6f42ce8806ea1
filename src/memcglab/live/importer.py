"""Read a cgroup memory hierarchy (v1 or v2) into plain data, for ``memcglab import``.

:func:`read_tree` takes a directory, the mount of a memory hierarchy or a group under it
(a fixture tree in tests), and returns an :class:`ImportedTree`: the groups, parents first,
with their limits, protections, own LRU pages and process counts, and notes that say what
had to be approximated. It only reads: every file is opened with ``os.open(O_RDONLY)``,
directories are listed with ``os.scandir``, and nothing is created, written or removed
(cgroupfs acts on writes: a write to ``memory.force_empty`` reclaims a group, one to
``memory.limit_in_bytes`` can reclaim it or fail). Turning the tree into a scenario is the
shell's job (``memcglab.cli.import_cmd``).

Files read, and where their meaning comes from (Linux v6.18 unless marked):

cgroup v1 (Documentation/admin-guide/cgroup-v1/memory.rst; mm/memcontrol-v1.c,
``mem_cgroup_legacy_files[]``):

* ``memory.stat`` (``memcg1_stat_format``): the LRU lines ``inactive_anon active_anon
  inactive_file active_file`` are printed from ``memcg_page_state_local(memcg, NR_LRU_BASE +
  i) * PAGE_SIZE``: **this group's own** pages, without its children (the ``total_*`` lines
  are the hierarchical sums). So a group's own usage is read directly.
* ``memory.limit_in_bytes``, ``memory.soft_limit_in_bytes``: bytes; "no limit" reads
  ``PAGE_COUNTER_MAX * PAGE_SIZE`` = 9223372036854771712 on 64-bit.
* ``memory.use_hierarchy``: 0 or 1 (always 1 since v5.11).
* ``memory.usage_in_bytes``: hierarchical usage (only for the note on what the LRU pages
  do not cover).
* ``cgroup.procs``: one pid per line.
* ``cgroup.sane_behavior`` / ``release_agent`` exist only at the root of a v1 hierarchy
  (``CFTYPE_ONLY_ON_ROOT`` in kernel/cgroup/cgroup-v1.c): how a mount root is recognised
  when ``/proc/mounts`` does not list the directory (fixture trees).

cgroup v2 (Documentation/admin-guide/cgroup-v2.rst; mm/memcontrol.c):

* ``memory.stat`` (``memcg_stat_format``): the same four LRU keys, but from
  ``memcg_page_state()``, which is **hierarchical** (rstat sums of the subtree). A group's
  own pages are its values minus the sum of its children's; rstat is flushed lazily, so a
  difference can come out slightly negative: it is taken as 0 and said in the notes.
* ``memory.max``, ``memory.high``: bytes or ``max`` (no limit); ``memory.low``,
  ``memory.min``: bytes or ``max`` (protect everything: :data:`PROTECT_ALL`).
* ``memory.current``: hierarchical usage (for the note, as v1's usage_in_bytes).
* ``cgroup.controllers``: the controllers this group has (at the root: the hierarchy's);
  ``cgroup.subtree_control``: those its children have. A child has ``memory.*`` files only
  when its parent's ``subtree_control`` lists ``memory``.
* The root has no ``memory.current/max/high/low/min`` (``CFTYPE_NOT_ON_ROOT``): a
  ``memory.stat`` without ``memory.current`` marks a v2 mount root.
* ``/proc/mounts``: the cgroup2 mount's options (``memory_recursiveprot``), and whether the
  directory is a mount point.

The file/anon split uses the LRU lists, as the simulator has them: file = inactive_file +
active_file, anon = inactive_anon + active_anon, which includes shmem (tmpfs pages are
swap-backed and sit on the anon LRU). ``unevictable`` is neither and is left out.
"""

from __future__ import annotations

import abc
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from memcglab.errors import ConfigError

Interface = Literal["v1", "v2"]

# A v1 "no limit" reads PAGE_COUNTER_MAX * PAGE_SIZE (9223372036854771712 with 4K pages);
# anything this large is treated the same, whatever the page size of the machine was.
UNLIMITED_FROM = 1 << 62
# memory.low / memory.min = "max": protect the group's whole usage. Kept as a number (not
# None, which means "no protection") for the shell to cap at the machine's size.
PROTECT_ALL = UNLIMITED_FROM
LRU_KEYS = ("inactive_anon", "active_anon", "inactive_file", "active_file")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")  # the scenario's GroupEntry.name
_NOT_NAME = re.compile(r"[^A-Za-z0-9_.-]")
_DIGITS = re.compile(r"^[0-9]+$")
ROOT = "root"  # the scenario's root group: never the name of an imported [[group]]
MAX_LISTED = 8  # notes name at most this many groups, then "and N more"


@dataclass(frozen=True, slots=True)
class Lru:
    """Bytes on the four LRU lists (memory.stat ``inactive_anon`` ... ``active_file``)."""

    inactive_anon: int = 0
    active_anon: int = 0
    inactive_file: int = 0
    active_file: int = 0

    @property
    def file(self) -> int:
        return self.inactive_file + self.active_file

    @property
    def anon(self) -> int:
        return self.inactive_anon + self.active_anon

    @property
    def total(self) -> int:
        return self.file + self.anon

    def plus(self, other: Lru) -> Lru:
        return Lru(*(getattr(self, k) + getattr(other, k) for k in LRU_KEYS))

    def minus(self, other: Lru) -> tuple[Lru, tuple[tuple[str, int], ...]]:
        """``self - other`` per list, clamped at 0; also the lists that went below 0 and by
        how much (v2: a parent's lazily flushed stat minus its children's)."""
        values, clamped = [], []
        for k in LRU_KEYS:
            v = getattr(self, k) - getattr(other, k)
            if v < 0:
                clamped.append((k, v))
            values.append(max(v, 0))
        return Lru(*values), tuple(clamped)


@dataclass(frozen=True, slots=True)
class ImportedGroup:
    """One group as read. Sizes are bytes; None is "not set" (no limit, no protection)."""

    name: str  # sanitised and unique; "root" only for a top that is the mount root
    parent: str | None  # the parent's name; None for the top
    path: str  # relative to the imported directory ("" for the top, "web/cache")
    limit: int | None = None  # v1 memory.limit_in_bytes, v2 memory.max
    soft_limit: int | None = None  # v1 memory.soft_limit_in_bytes
    high: int | None = None  # v2 memory.high
    low: int | None = None  # v2 memory.low (PROTECT_ALL for "max")
    min: int | None = None  # v2 memory.min (PROTECT_ALL for "max")
    use_hierarchy: bool = True  # v1 memory.use_hierarchy
    own: Lru = Lru()  # this group's own pages, with those of groups folded into it
    procs: int = 0  # pids in cgroup.procs, with those of groups folded into it
    usage: int | None = None  # hierarchical usage_in_bytes / memory.current, if any
    folded: tuple[str, ...] = ()  # paths of the descendants folded into it (--depth)

    @property
    def file(self) -> int:
        return self.own.file

    @property
    def anon(self) -> int:
        return self.own.anon


@dataclass(frozen=True, slots=True)
class ImportedTree:
    source: str  # the directory read (absolute)
    interface: Interface
    top_is_root: bool  # the directory is the hierarchy's root (scenario group "root")
    recursiveprot: bool | None  # v2 mount option memory_recursiveprot; None: unknown / v1
    depth: int | None  # the --depth cut, None for none
    groups: tuple[ImportedGroup, ...]  # parents first; groups[0] is the top
    notes: tuple[str, ...]  # what was approximated, in reading order


# --- reading (O_RDONLY only) ----------------------------------------------------------------


def _read(path: Path) -> str:
    """The whole file, read-only. FileNotFoundError is left to the caller (it decides whether
    the file is optional); other errors name the file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    finally:
        os.close(fd)
    data = b"".join(chunks)
    try:
        return data.decode("ascii")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: expected a cgroup control file (ASCII text), got "
                          f"byte 0x{data[e.start]:02x}") from None


def _read_opt(path: Path) -> str | None:
    try:
        return _read(path)
    except FileNotFoundError:
        return None


def _exists(path: Path) -> bool:
    return os.path.lexists(path)


def _one_line(path: Path, text: str) -> str:
    lines = text.splitlines()
    if len(lines) != 1:
        raise ConfigError(f"{path}:1: expected one line, got {len(lines)} lines")
    return lines[0].strip()


def _bytes(path: Path, text: str, *, max_word: bool) -> int | None:
    """A size file: bytes, None for "no limit" (v1's sentinel, v2's ``max``)."""
    value = _one_line(path, text)
    if max_word and value == "max":
        return None
    if not _DIGITS.match(value):
        expected = "an integer number of bytes" + (" or 'max'" if max_word else "")
        raise ConfigError(f"{path}:1: expected {expected}, got {value!r}")
    n = int(value)
    return None if n >= UNLIMITED_FROM else n


def _protection(path: Path, text: str) -> int | None:
    """memory.low / memory.min: 0 is no protection (None), ``max`` protects everything."""
    value = _one_line(path, text)
    if value == "max":
        return PROTECT_ALL
    if not _DIGITS.match(value):
        raise ConfigError(f"{path}:1: expected an integer number of bytes or 'max', got "
                          f"{value!r}")
    n = int(value)
    return PROTECT_ALL if n >= UNLIMITED_FROM else (n or None)


def parse_stat(path: Path, text: str) -> Lru:
    """``memory.stat``: every line ``KEY INTEGER`` (checked: a garbled file is refused, not
    half read); the four LRU keys must be there."""
    seen: dict[str, int] = {}
    for no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ConfigError(f"{path}:{no}: expected 'KEY INTEGER' (the format of "
                              f"memory.stat), got {line!r}")
        key, value = parts
        if not _DIGITS.match(value):
            raise ConfigError(f"{path}:{no}: key {key!r}: expected an integer (bytes or a "
                              f"count), got {value!r}")
        seen.setdefault(key, int(value))
    missing = [k for k in LRU_KEYS if k not in seen]
    if missing:
        raise ConfigError(f"{path}: expected the LRU keys {', '.join(LRU_KEYS)}; missing: "
                          f"{', '.join(missing)}")
    return Lru(*(seen[k] for k in LRU_KEYS))


def _procs(group: Path, notes: list[str]) -> int:
    path = group / "cgroup.procs"
    text = _read_opt(path)
    if text is None:
        if _exists(group):  # else removed since it was read: nothing to say twice
            notes.append(f"{path}: missing; taken as no process")
        return 0
    n = 0
    for no, line in enumerate(text.splitlines(), 1):
        pid = line.strip()
        if not pid:
            continue
        if not _DIGITS.match(pid):
            raise ConfigError(f"{path}:{no}: expected a process id (an integer), got {pid!r}")
        n += 1
    return n


def _controllers(path: Path) -> tuple[str, ...]:
    text = _read_opt(path)
    return tuple(text.split()) if text is not None else ()


def _mounts(mounts: Path) -> list[tuple[str, str, str]]:
    """(mount point, fs type, options) of the cgroup file systems in ``mounts``."""
    text = _read_opt(mounts) or ""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2] in ("cgroup", "cgroup2"):
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), parts[1])
            out.append((point, parts[2], parts[3]))
    return out


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


# --- the walk -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Node:
    rel: str
    parent: int | None  # index in the walk
    level: int
    children: list[int]


def _subdirs(path: Path) -> list[str] | None:
    """Child group names, sorted (cgroupfs lists in creation order, a fixture in any order:
    sorting makes the import the same for the same tree). None: the directory is gone."""
    try:
        with os.scandir(path) as it:
            return sorted(e.name for e in it if e.is_dir(follow_symlinks=False))
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ConfigError(f"{path}: cannot list the directory: {e.strerror}") from e


def _walk(top: Path) -> tuple[list[_Node], list[str]]:
    """Every directory under ``top``, parents first (pre-order, children by name), and the
    directories that disappeared while they were listed (a live machine's groups come and
    go; those are left out, and said so)."""
    nodes: list[_Node] = []
    gone: list[str] = []

    def visit(rel: str, parent: int | None, level: int) -> None:
        names = _subdirs(_dir(top, rel))
        if names is None:
            if parent is None:
                raise ConfigError(f"{top}: no such directory")
            gone.append(rel)
            return
        i = len(nodes)
        nodes.append(_Node(rel, parent, level, []))
        if parent is not None:
            nodes[parent].children.append(i)
        # Explicit work list instead of recursion: a deep tree must not hit Python's limit.
        todo.extend((f"{rel}/{n}" if rel else n, i, level + 1) for n in reversed(names))

    todo: list[tuple[str, int | None, int]] = [("", None, 0)]
    while todo:
        visit(*todo.pop())
    return nodes, gone


def _prune(nodes: list[_Node], drop: set[int]) -> list[_Node]:
    """``nodes`` without ``drop`` and their descendants, re-indexed (still parents first)."""
    keep: list[int] = []
    dropped = set(drop)
    for i, n in enumerate(nodes):
        if i in dropped or (n.parent is not None and n.parent in dropped):
            dropped.add(i)
        else:
            keep.append(i)
    pos = {old: new for new, old in enumerate(keep)}
    return [_Node(nodes[i].rel, pos[p] if (p := nodes[i].parent) is not None else None,
                  nodes[i].level, [pos[c] for c in nodes[i].children if c in pos])
            for i in keep]


def listing(items: Iterable[str], limit: int = MAX_LISTED) -> str:
    """``a, b, c and 4 more``: notes stay short on a host with hundreds of groups."""
    items = list(items)
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _interface(top: Path) -> Interface:
    if _exists(top / "cgroup.controllers"):
        ctl = _controllers(top / "cgroup.controllers")
        if "memory" not in ctl:
            raise ConfigError(
                f"{top / 'cgroup.controllers'}:1: expected 'memory' among the controllers "
                f"(a cgroup v2 hierarchy with the memory controller, or a group whose parent "
                f"delegates it), got {' '.join(ctl)!r}; `memcglab kernel probe` shows where "
                "this machine's memory controller is")
        return "v2"
    if _exists(top / "memory.stat"):
        return "v1"
    other = (" (it is a cgroup hierarchy of other controllers)"
             if _exists(top / "cgroup.procs") else "")
    raise ConfigError(f"{top}: not a cgroup memory hierarchy{other}: expected memory.stat "
                      "(cgroup v1 memory controller) or cgroup.controllers listing memory "
                      "(cgroup v2), found neither; `memcglab kernel probe` shows where this "
                      "machine's memory controller is")


def _is_root(top: Path, interface: Interface, mount: tuple[str, str, str] | None) -> bool:
    if mount is not None:
        return os.path.realpath(top) == os.path.realpath(mount[0])
    if interface == "v1":  # CFTYPE_ONLY_ON_ROOT files
        return _exists(top / "cgroup.sane_behavior") or _exists(top / "release_agent")
    # v2: memory.current is CFTYPE_NOT_ON_ROOT; memory.stat is everywhere.
    return not _exists(top / "memory.current")


def sanitise(name: str) -> str:
    """A directory name as a scenario group name: anything outside ``[A-Za-z0-9_.-]``
    becomes ``_`` (``user@0.service`` -> ``user_0.service``)."""
    return _NOT_NAME.sub("_", name) or "_"


def unique_names(bases: list[str], parents: list[int | None], top_is_root: bool) -> list[str]:
    """Names for groups in pre-order: ``bases[i]`` (sanitised), except that a base two groups
    share (or ``root``) is prefixed with the parent's name (``a/x``, ``b/x`` -> ``a-x``,
    ``b-x``), and a name still taken gets ``-2``, ``-3``... in walk order."""
    counts: dict[str, int] = {}
    for i, b in enumerate(bases):
        if not (i == 0 and top_is_root):
            counts[b] = counts.get(b, 0) + 1
    used = {ROOT}
    out: list[str] = []
    for i, b in enumerate(bases):
        if i == 0 and top_is_root:
            out.append(ROOT)
            continue
        p = parents[i]
        name = b
        if (counts[b] > 1 or b == ROOT) and p is not None:
            name = f"{out[p]}-{b}"
        k = 2
        cand = name
        while cand in used:
            cand = f"{name}-{k}"
            k += 1
        used.add(cand)
        out.append(cand)
    return out


def read_tree(path: Path, *, depth: int | None = None,
              mounts: Path = Path("/proc/mounts")) -> ImportedTree:
    """Read the memory hierarchy at ``path`` (see the module docstring). Groups deeper than
    ``depth`` levels below ``path`` are folded into their ancestor at that level. Raises
    :class:`ConfigError` naming the file, line, expected and found for a missing or garbled
    file, or a directory that is not a memory hierarchy."""
    if depth is not None and depth < 0:
        raise ConfigError(f"--depth: expected 0 or more, got {depth}")
    top = Path(os.path.abspath(path))
    try:
        st = os.stat(top)
    except OSError as e:
        raise ConfigError(f"{top}: cannot read: {e.strerror}; expected the directory of a "
                          "cgroup memory hierarchy") from None
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"{top}: not a directory; expected the directory of a cgroup "
                          "memory hierarchy")
    interface = _interface(top)
    real = os.path.realpath(top)
    fstype = "cgroup2" if interface == "v2" else "cgroup"
    mount = max((m for m in _mounts(mounts)
                 if m[1] == fstype and _inside(real, os.path.realpath(m[0]))),
                key=lambda m: len(m[0]), default=None)
    top_is_root = _is_root(top, interface, mount)
    recursiveprot: bool | None = None
    if interface == "v2" and mount is not None:
        recursiveprot = "memory_recursiveprot" in mount[2].split(",")
    notes: list[str] = []
    walk, gone = _walk(top)
    cut = depth

    def kept(n: _Node) -> bool:
        return cut is None or n.level <= cut

    reader: _Reader = (_V1Reader if interface == "v1" else _V2Reader)(top, notes)
    # The v2 check: a group whose children are read needs memory in its subtree_control.
    if interface == "v2":
        for n in walk:
            if kept(n) and any(kept(walk[c]) for c in n.children):
                _check_delegated(top, n.rel)
    # v1 stats are local, so a folded group's are needed too; v2's group at the cut already
    # counts its subtree.
    stats = {n.rel: reader.stat(n.rel) if (interface == "v1" or kept(n)) else Lru()
             for n in walk}
    vanished = {i for i, n in enumerate(walk) if stats[n.rel] is None}
    if vanished:
        gone += [walk[i].rel for i in sorted(vanished)]
        walk = _prune(walk, vanished)
    if gone:
        notes.append("removed while they were read (left out): " + listing(sorted(gone)))
    own = [stats[n.rel] or Lru() for n in walk]
    procs = [_procs(_dir(top, n.rel), notes) for n in walk]
    groups_own: list[Lru] = []
    for i, n in enumerate(walk):
        if not kept(n):
            groups_own.append(Lru())
            continue
        mine = own[i]
        if interface == "v2" and not (cut is not None and n.level == cut):
            kids = Lru()
            for c in n.children:
                kids = kids.plus(own[c])
            mine, clamped = mine.minus(kids)
            if clamped:
                notes.append(
                    f"{n.rel or top.name}: own pages (memory.stat minus the children's) came "
                    "out below 0 for "
                    + ", ".join(f"{k} ({v:+d} bytes)" for k, v in clamped)
                    + ": v2 statistics are flushed lazily (rstat), so they can lag; taken "
                    "as 0")
        groups_own.append(mine)
    # Fold what lies below the cut into its ancestor at the cut.
    anchor = list(range(len(walk)))
    folded: dict[int, list[str]] = {}
    if cut is not None:
        for i, n in enumerate(walk):
            if n.level > cut:
                a = anchor[n.parent] if n.parent is not None else 0
                a = a if walk[a].level <= cut else anchor[a]
                anchor[i] = a
                folded.setdefault(a, []).append(n.rel)
                procs[a] += procs[i]
                if interface == "v1":  # v1 stats are local: add them up
                    groups_own[a] = groups_own[a].plus(own[i])
    kept_idx = [i for i, n in enumerate(walk) if kept(n)]
    originals = [(ROOT if top_is_root else top.name) if i == 0
                 else os.path.basename(walk[i].rel) for i in kept_idx]
    parents = [kept_idx.index(p) if (p := walk[i].parent) is not None else None
               for i in kept_idx]
    names = unique_names([sanitise(o) for o in originals], parents, top_is_root)
    renamed = [f"{walk[i].rel or top.name} -> {names[k]}"
               for k, i in enumerate(kept_idx) if names[k] != originals[k]]
    if renamed:
        notes.append("group names are [A-Za-z0-9_.-] and unique in a scenario; renamed "
                     "(the path is kept in a comment above each group): " + listing(renamed))
    if folded:
        moved = [f"{rel} into {names[kept_idx.index(a)]}"
                 for a in sorted(folded) for rel in folded[a]]
        notes.append(f"--depth {cut}: {len(moved)} groups below depth {cut} were folded into "
                     f"their ancestor at depth {cut} (their pages and processes are counted "
                     "there): " + listing(moved))
    groups = []
    for k, i in enumerate(kept_idx):
        n = walk[i]
        kn = reader.knobs(n.rel) if not (i == 0 and top_is_root) else _Knobs()
        if i == 0 and top_is_root and interface == "v1":
            kn = _Knobs(usage=reader.knobs(n.rel).usage)  # the v1 root has no limits
        groups.append(ImportedGroup(
            name=names[k], parent=names[p] if (p := parents[k]) is not None else None,
            path=n.rel, limit=kn.limit, soft_limit=kn.soft_limit, high=kn.high, low=kn.low,
            min=kn.min, use_hierarchy=kn.use_hierarchy, own=groups_own[i], procs=procs[i],
            usage=kn.usage, folded=tuple(folded.get(i, ()))))
    _usage_gap(groups, notes)
    return ImportedTree(source=str(top), interface=interface, top_is_root=top_is_root,
                        recursiveprot=recursiveprot, depth=depth, groups=tuple(groups),
                        notes=tuple(notes))


def _dir(top: Path, rel: str) -> Path:
    return top / rel if rel else top


def _check_delegated(top: Path, rel: str) -> None:
    path = _dir(top, rel) / "cgroup.subtree_control"
    text = _read_opt(path)
    if text is None:
        raise ConfigError(f"{path}: missing; expected the cgroup v2 file that lists the "
                          "controllers of this group's children")
    if "memory" not in text.split():
        raise ConfigError(
            f"{path}:1: expected 'memory' among the controllers enabled for the children "
            f"(their memory.* files exist only then), got {' '.join(text.split())!r}; import "
            "a group whose subtree has the memory controller, or stop above this one with "
            "--depth")


def _usage_gap(groups: list[ImportedGroup], notes: list[str]) -> None:
    """Say how much of the top's usage the LRU pages read do not cover."""
    usage = groups[0].usage
    if usage is None:
        return
    lru = sum(g.own.total for g in groups)
    if usage > lru:
        notes.append(f"the top's usage reads {human(usage)} but the LRU pages of the groups "
                     f"read add up to {human(lru)}: the other {human(usage - lru)} (kernel "
                     "memory, unevictable pages, the per-cpu charge stock, pages still "
                     "charged to removed groups) is left out")


@dataclass(frozen=True, slots=True)
class _Knobs:
    limit: int | None = None
    soft_limit: int | None = None
    high: int | None = None
    low: int | None = None
    min: int | None = None
    use_hierarchy: bool = True
    usage: int | None = None


class _Reader(abc.ABC):
    """What v1 and v2 read alike; each interface reads its own knobs."""

    interface: Interface

    def __init__(self, top: Path, notes: list[str]) -> None:
        self.top = top
        self.notes = notes

    def stat(self, rel: str) -> Lru | None:
        path = _dir(self.top, rel) / "memory.stat"
        text = _read_opt(path)
        if text is None and rel and not _exists(path.parent):
            return None  # removed since it was listed
        if text is None:
            why = ("the cgroup v1 memory controller's statistics of every group"
                   if self.interface == "v1" else
                   "the memory controller's statistics (a cgroup v2 group has them when its "
                   "parent's cgroup.subtree_control lists memory)")
            raise ConfigError(f"{path}: missing; expected {why}")
        return parse_stat(path, text)

    def _size(self, d: Path, file: str, *, max_word: bool, protection: bool = False,
              note: bool = True) -> int | None:
        text = _read_opt(d / file)
        if text is None:
            if note:
                self.notes.append(f"{d / file}: missing; taken as not set")
            return None
        if protection:
            return _protection(d / file, text)
        return _bytes(d / file, text, max_word=max_word)

    @abc.abstractmethod
    def knobs(self, rel: str) -> _Knobs:
        """A group's limits and protections, by its interface's files."""


class _V1Reader(_Reader):
    interface = "v1"

    def knobs(self, rel: str) -> _Knobs:
        d = _dir(self.top, rel)
        use_hierarchy = True
        text = _read_opt(d / "memory.use_hierarchy")
        if text is not None:
            value = _one_line(d / "memory.use_hierarchy", text)
            if value not in ("0", "1"):
                raise ConfigError(f"{d / 'memory.use_hierarchy'}:1: expected 0 or 1, got "
                                  f"{value!r}")
            use_hierarchy = value == "1"
        return _Knobs(limit=self._size(d, "memory.limit_in_bytes", max_word=False),
                      soft_limit=self._size(d, "memory.soft_limit_in_bytes", max_word=False),
                      use_hierarchy=use_hierarchy,
                      usage=self._size(d, "memory.usage_in_bytes", max_word=False,
                                       note=False))


class _V2Reader(_Reader):
    interface = "v2"

    def knobs(self, rel: str) -> _Knobs:
        d = _dir(self.top, rel)
        return _Knobs(limit=self._size(d, "memory.max", max_word=True),
                      high=self._size(d, "memory.high", max_word=True),
                      low=self._size(d, "memory.low", max_word=True, protection=True),
                      min=self._size(d, "memory.min", max_word=True, protection=True),
                      usage=self._size(d, "memory.current", max_word=False, note=False))


def human(nbytes: int) -> str:
    """``125829120`` -> ``120M``; exact when a whole number of G, M or K, else one decimal."""
    for unit, size in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if nbytes >= size:
            if nbytes % size == 0:
                return f"{nbytes // size}{unit}"
            return f"{nbytes / size:.1f}{unit}"
    return f"{nbytes}B" if nbytes else "0"
