"""``memcglab import [PATH]``: a live cgroup memory hierarchy -> a scenario (docs/import.md).

The tree is read by :func:`memcglab.live.importer.read_tree` (read-only: it never writes to
cgroupfs). This module turns it into scenario TOML with a small emitter of its own (the few
value types a scenario needs: strings, integers, booleans), checks that the text loads and
builds exactly as ``memcglab run`` would load it, and prints it or writes it to ``--out``.

The output is deterministic: the same tree and flags give the same bytes (no time, no host
name; children in name order). Its first line, ``# memcglab import: ...``, marks the file
as memcglab's: ``--out`` never replaces a file without it, and replaces one with it only
with ``--force``.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import tempfile
import textwrap
import tomllib
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TextIO

from memcglab.cli.status import ExitStatus
from memcglab.errors import ConfigError, InternalError
from memcglab.live.importer import (
    PROTECT_ALL,
    ROOT,
    ImportedTree,
    human,
    listing,
    read_tree,
)
from memcglab.live.probe import gather
from memcglab.report.outdir import signals_deferred
from memcglab.scenario.sim_scenario import (
    KERNEL_ITERATOR,
    MAX_DURATION_NS,
    MAX_DURATION_TEXT,
    MAX_PAGES,
    ScenarioFile,
    build,
)
from memcglab.scenario.units import PAGE_SIZE, duration_ns, size_to_bytes
from memcglab.scenario.validation import Locator, validate_model
from memcglab.sim.plan import Plan

MARK = "# memcglab import:"
MAX_PROCESSES = 256  # WorkloadEntry.processes: le=256
MIN_ZONE_PAGES = 256  # 1M: the machine is rounded up to whole MiB (the validator wants 256K)
HEADROOM = Fraction(5, 4)  # the machine holds the workloads with a quarter to spare
DEFAULT_RATE = "100M"  # bytes per second and process, as in scenarios/
DEFAULT_MIN_USAGE = "1M"
WIDTH = 96  # comment lines are wrapped to this width


def add_import_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", nargs="?", metavar="PATH",
                   help="the memory hierarchy to read: a cgroup v1 memory mount, a cgroup2 "
                        "mount with the memory controller, or a group under either "
                        "(default: this machine's memory hierarchy, as `memcglab kernel "
                        "probe` finds it)")
    p.add_argument("--out", metavar="FILE",
                   help="write the scenario to FILE instead of printing it: a new file, or "
                        "(with --force) one an earlier `memcglab import` wrote")
    p.add_argument("--force", action="store_true",
                   help=f"let --out replace a file whose first line is {MARK!r} (an earlier "
                        "import); any other file is never replaced")
    p.add_argument("--kernel", choices=tuple(KERNEL_ITERATOR),
                   help="whose reclaim the scenario runs: 3.7 (default for cgroup v1: the "
                        "only kernel modelled with soft-limit reclaim) or 6.18 (default and "
                        "only choice for cgroup v2; with v1 it drops soft limits)")
    p.add_argument("--depth", type=int, metavar="N",
                   help="keep groups at most N levels below PATH; deeper ones are folded "
                        "into their ancestor at depth N (their pages and processes are "
                        "counted there)")
    p.add_argument("--scale", default="1", metavar="1/N|N",
                   help="multiply every size (limits, protections, workloads, machine) by "
                        "this factor, e.g. 1/8 to simulate a big host in less memory "
                        "(default 1)")
    p.add_argument("--rate", default=DEFAULT_RATE, metavar="SIZE",
                   help="bytes each process touches per second, which a snapshot cannot "
                        f"show (default {DEFAULT_RATE})")
    p.add_argument("--duration", default="1s", metavar="D",
                   help=f"the scenario's simulated duration (default 1s, at most "
                        f"{MAX_DURATION_TEXT})")
    p.add_argument("--min-usage", default=DEFAULT_MIN_USAGE, metavar="SIZE",
                   help="a group's own file (or anon) pages become a workload only from "
                        f"this size on, measured before --scale (default {DEFAULT_MIN_USAGE}; "
                        "0: any page)")


# --- options ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """The flags that shape the scenario, checked."""

    kernel: str | None = None  # None: the interface's default (v1: 3.7, v2: 6.18)
    scale: Fraction = Fraction(1)
    rate: int = 100 << 20  # bytes per second and process
    duration: str = "1s"
    min_usage: int = 1 << 20  # bytes, before scaling


def parse_scale(text: str) -> Fraction:
    """``1/8`` or ``2``: a positive factor (integers only, so the result is exact)."""
    m = re.fullmatch(r"\s*([0-9]+)\s*(?:/\s*([0-9]+)\s*)?", text)
    if not m or int(m[1]) == 0 or (m[2] is not None and int(m[2]) == 0):
        raise ConfigError(f"--scale: expected a factor like 1/8 (shrink every size 8 times) or "
                          f"2, got {text!r}")
    return Fraction(int(m[1]), int(m[2]) if m[2] is not None else 1)


def _size_flag(flag: str, text: str, minimum: int) -> int:
    try:
        n = size_to_bytes(text)
    except ValueError as e:
        raise ConfigError(f"{flag}: {e}") from None
    if n < minimum:
        raise ConfigError(f"{flag}: expected at least {human(minimum) if minimum else 0}, "
                          f"got {text!r}")
    return n


def options(args: argparse.Namespace) -> ImportOptions:
    if args.depth is not None and args.depth < 0:
        raise ConfigError(f"--depth: expected 0 or more, got {args.depth}")
    try:
        d = duration_ns(args.duration)
    except ValueError as e:
        raise ConfigError(f"--duration: {e}") from None
    if not 0 < d <= MAX_DURATION_NS:
        raise ConfigError(f"--duration: expected more than 0 and at most {MAX_DURATION_TEXT}, "
                          f"got {args.duration!r}")
    return ImportOptions(kernel=args.kernel, scale=parse_scale(args.scale),
                         rate=_size_flag("--rate", args.rate, PAGE_SIZE),
                         duration=args.duration.strip(),
                         min_usage=_size_flag("--min-usage", args.min_usage, 0))


# --- the emitter --------------------------------------------------------------------------


def toml_string(s: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def comment_safe(s: str) -> str:
    """A path or name inside a comment: one line, printable (cgroup names can hold
    anything but '/')."""
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in s)


def size_text(pages: int) -> str:
    """Pages as an exact size: ``2G``, ``118M``, ``12K`` (always a whole number of K)."""
    nbytes = pages * PAGE_SIZE
    for unit, size in (("G", 1 << 30), ("M", 1 << 20)):
        if nbytes and nbytes % size == 0:
            return f"{nbytes // size}{unit}"
    return f"{nbytes // 1024}K"


def _comment(text: str, first: str = "# ", rest: str = "#   ") -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=first, subsequent_indent=rest,
                         break_long_words=False, break_on_hyphens=False) or [first.rstrip()]


@dataclass
class _Scaler:
    scale: Fraction
    tiny: list[str] = field(default_factory=list)

    def pages(self, nbytes: int, what: str) -> int:
        """``nbytes`` scaled, in pages, rounded up; a size that scales below one page is
        one page (and noted): 0 stays 0."""
        exact = Fraction(nbytes) * self.scale / PAGE_SIZE
        if 0 < exact < 1:
            self.tiny.append(what)
        return math.ceil(exact)


@dataclass(frozen=True, slots=True)
class _Workload:
    group: str
    kind: str  # file | anon
    pattern: str
    pages: int  # per process
    processes: int
    comment: str


def _kernel(tree: ImportedTree, opts: ImportOptions) -> str:
    if tree.interface == "v2":
        if opts.kernel == "3.7":
            raise ConfigError(f"--kernel 3.7: {tree.source} is a cgroup v2 hierarchy and "
                              "kernel 3.7 has cgroup v1 only (the v2 memory controller came "
                              "with v4.5); expected --kernel 6.18 or no --kernel")
        return "6.18"
    return opts.kernel or "3.7"


def _workloads(tree: ImportedTree, opts: ImportOptions, sc: _Scaler,
               notes: list[str]) -> list[_Workload]:
    out: list[_Workload] = []
    below: list[str] = []
    capped: list[str] = []
    no_procs: list[str] = []
    threshold = max(opts.min_usage, 1)
    for g in tree.groups:
        for kind, nbytes in (("file", g.file), ("anon", g.anon)):
            if nbytes == 0:
                continue
            if nbytes < threshold:
                below.append(f"{g.name} {kind} {human(nbytes)}")
                continue
            if kind == "file":
                # Pages read twice are activated (mark_page_accessed): a mostly active file
                # LRU is a working set that is read again; a mostly inactive one, read once.
                reused = g.own.active_file >= g.own.inactive_file
                pattern = "loop" if reused else "stream"
                why = (f"active {human(g.own.active_file)}, inactive "
                       f"{human(g.own.inactive_file)}: "
                       + ("mostly active, read again -> loop" if reused
                          else "mostly inactive, read once -> stream"))
            else:
                pattern = "random"
                why = (f"active {human(g.own.active_anon)}, inactive "
                       f"{human(g.own.inactive_anon)}: touched at random over its size")
            pages = sc.pages(nbytes, f"{g.name} {kind} workload")
            procs = min(max(g.procs, 1), MAX_PROCESSES, pages)
            if g.procs > MAX_PROCESSES:
                capped.append(f"{g.name} ({g.procs})")
            if g.procs == 0:
                no_procs.append(g.name)
            per = math.ceil(pages / procs)
            comment = (f"{g.name}: own {kind} pages {human(nbytes)} ({why}); {procs} "
                       f"process{'es' if procs > 1 else ''}"
                       + (f" of {size_text(per)} each" if procs > 1 else ""))
            out.append(_Workload(g.name, kind, pattern, per, procs, comment))
    if below:
        notes.append(f"own pages below --min-usage {human(opts.min_usage)} made no workload: "
                     + listing(below))
    if capped:
        notes.append(f"processes capped at {MAX_PROCESSES} (a workload's maximum): "
                     + listing(sorted(set(capped))))
    if no_procs:
        notes.append("no process in cgroup.procs (pages left by processes that exited or "
                     "moved, or a v2 inner group): one process each: "
                     + listing(sorted(set(no_procs))))
    return out


def no_workload_message(tree: ImportedTree, opts: ImportOptions) -> str:
    read = [f"{g.name} (file {human(g.file)}, anon {human(g.anon)})" for g in tree.groups]
    biggest = max(tree.groups, key=lambda g: max(g.file, g.anon))
    if max(biggest.file, biggest.anon) == 0:
        what = "every group read has no own file or anon pages"
    else:
        what = (f"no group's own file or anon pages reach --min-usage "
                f"{human(opts.min_usage)} (the largest: {biggest.name}, "
                f"{human(max(biggest.file, biggest.anon))})")
    return (f"{tree.source}: the scenario would have no workload, and `memcglab run` refuses "
            f"a scenario where nothing allocates memory: {what}. Groups read "
            f"({len(tree.groups)}): {listing(read, 12)}")


def scenario_text(tree: ImportedTree, opts: ImportOptions) -> str:
    """The scenario as TOML text (deterministic: the same tree and options give the same
    bytes). Raises ConfigError when there would be no workload or the machine would be too
    big for the simulator."""
    kernel = _kernel(tree, opts)
    variant = KERNEL_ITERATOR[kernel]
    sc = _Scaler(opts.scale)
    notes: list[str] = list(tree.notes)
    work = _workloads(tree, opts, sc, notes)
    if not work:
        raise ConfigError(no_workload_message(tree, opts))
    total = sum(w.pages * w.processes for w in work)
    zone = max(MIN_ZONE_PAGES, math.ceil(total * HEADROOM / MIN_ZONE_PAGES) * MIN_ZONE_PAGES)
    if zone > MAX_PAGES:
        n = math.ceil(Fraction(zone, MAX_PAGES) / opts.scale)
        raise ConfigError(f"{tree.source}: the workloads need {size_text(total)} of pages "
                          f"(a machine of {size_text(zone)}), more than the simulator holds "
                          f"(64G of pages); shrink every size with --scale 1/{n} or more, or "
                          "import less (a PATH deeper in the tree)")
    group_lines, knob_notes = _groups(tree, kernel, sc, zone)
    notes += knob_notes
    if sc.tiny:
        notes.append("sizes below one page after --scale were rounded up to 4K: "
                     + listing(sc.tiny))
    lines = _header(tree, opts, kernel, notes)
    description = f"imported from {tree.source} (cgroup {tree.interface}) by memcglab import"
    lines += [
        "",
        f"description = {toml_string(description)}",
        "seed = 0",
        f"duration = {toml_string(opts.duration)}",
        f"kernel = {toml_string(kernel)}",
        f"variant = {toml_string(variant)}",
        f"cgroup = {toml_string(tree.interface)}",
    ]
    if tree.interface == "v2" and tree.recursiveprot is not None:
        lines.append(f"memory_recursiveprot = {'true' if tree.recursiveprot else 'false'}")
    lines += [
        "",
        "# One node with one zone that holds the workloads with a quarter to spare (the",
        "# source machine's size, NUMA layout, swap and disks are not imported).",
        "[machine]",
        "nodes = 1",
        "zones = 1",
        f"pages_per_zone = {toml_string(size_text(zone))}",
    ]
    lines += group_lines
    for w in work:
        lines += ["", *_comment(w.comment), "[[workload]]",
                  f"group = {toml_string(w.group)}",
                  f"type = {toml_string(w.kind)}",
                  f"pattern = {toml_string(w.pattern)}",
                  f"size = {toml_string(size_text(w.pages))}",
                  f"rate = {toml_string(size_text(math.ceil(opts.rate / PAGE_SIZE)))}",
                  f"processes = {w.processes}"]
    return "\n".join(lines) + "\n"


def _groups(tree: ImportedTree, kernel: str, sc: _Scaler, zone: int
            ) -> tuple[list[str], list[str]]:
    lines: list[str] = []
    notes: list[str] = []
    dropped_soft: list[str] = []
    forced: list[str] = []
    protect_all: list[str] = []
    hierarchical = {ROOT: True}
    for i, g in enumerate(tree.groups):
        if i == 0 and tree.top_is_root:
            continue
        parent = g.parent if g.parent is not None else ROOT
        where = (f"{comment_safe(g.path)}" if g.path else
                 f"{comment_safe(os.path.basename(tree.source))} (the imported directory "
                 "itself)")
        lines += ["", f"# {where}", "[[group]]", f"name = {toml_string(g.name)}",
                  f"parent = {toml_string(parent)}"]
        if g.limit is not None:
            limit = sc.pages(g.limit, f"{g.name} limit")
            lines.append(f"limit = {toml_string(size_text(limit))}")
        if g.soft_limit is not None:
            if kernel == "3.7":
                soft = sc.pages(g.soft_limit, g.name + " soft_limit")
                lines.append(f"soft_limit = {toml_string(size_text(soft))}")
            else:
                dropped_soft.append(f"{g.name} ({human(g.soft_limit)})")
        for knob in ("high", "low", "min"):
            value: int | None = getattr(g, knob)
            if value is None:
                continue
            if value >= PROTECT_ALL:
                protect_all.append(f"{g.name} memory.{knob}")
                pages = zone
            else:
                pages = sc.pages(value, f"{g.name} {knob}")
            lines.append(f"{knob} = {toml_string(size_text(pages))}")
        # use_hierarchy = false is kept only where the model takes it: kernel 3.7, under a
        # parent without it (v1 children inherit a hierarchical parent's).
        use_h = g.use_hierarchy
        if not use_h and (kernel != "3.7" or (parent != ROOT and hierarchical[parent])):
            forced.append(g.name)
            use_h = True
        hierarchical[g.name] = use_h
        if not use_h:
            lines.append("use_hierarchy = false")
    if dropped_soft:
        notes.append(f"kernel {kernel}: soft limits dropped (v1 soft-limit reclaim is "
                     "modelled for kernel 3.7 only): " + listing(dropped_soft))
    if protect_all:
        notes.append("memory.low/min = max (protect everything) written as the machine's "
                     "size: " + listing(protect_all))
    if forced:
        notes.append("use_hierarchy = 0 taken as 1 (kernel 6.18 refuses 0, and a v1 child "
                     "inherits a hierarchical parent's): " + listing(forced))
    return lines, notes


def _header(tree: ImportedTree, opts: ImportOptions, kernel: str,
            notes: list[str]) -> list[str]:
    v1 = tree.interface == "v1"
    src = comment_safe(tree.source)
    out = [f"{MARK} cgroup {tree.interface} memory hierarchy {src} (a read-only snapshot)",
           "#"]
    out += _comment("Written by `memcglab import`: the groups under the source, their limits "
                    "and protections, and each group's own pages as workloads of that size. "
                    "`memcglab run` runs it unchanged. memcglab replaces this file only with "
                    "--force, and only while its first line is the mark above.")
    out.append("#")
    out.append("# Read:")
    if v1:
        read = ["groups: the directories under the source, parents first, children by name",
                "limit <- memory.limit_in_bytes, soft_limit <- memory.soft_limit_in_bytes "
                "(9223372036854771712, PAGE_COUNTER_MAX pages, is no limit), use_hierarchy "
                "<- memory.use_hierarchy",
                "own pages <- memory.stat inactive_file + active_file (file) and inactive_anon "
                "+ active_anon (anon, shmem included): v1 prints these for the group alone "
                "(memcg1_stat_format, mm/memcontrol-v1.c)",
                "processes <- the pids in cgroup.procs"]
    else:
        read = ["groups: the directories under the source, parents first, children by name",
                "limit <- memory.max, high <- memory.high, low <- memory.low, min <- "
                "memory.min ('max' is no limit; 0 is no protection)",
                "own pages <- memory.stat inactive_file + active_file (file) and inactive_anon "
                "+ active_anon (anon, shmem included), minus the children's: v2's memory.stat "
                "is hierarchical (memcg_stat_format, mm/memcontrol.c)",
                "processes <- the pids in cgroup.procs",
                "memory_recursiveprot <- the cgroup2 mount's options in /proc/mounts"
                + ("" if tree.recursiveprot is not None else
                   " (not found there: left unset, i.e. off)")]
    for r in read:
        out += _comment(r, "#   - ", "#     ")
    out.append("#")
    out.append("# Approximated:")
    scale = ("every size (limits, protections, workloads, machine) multiplied by "
             f"{opts.scale} and rounded up to whole 4K pages" if opts.scale != 1 else
             "sizes rounded up to whole 4K pages")
    approx = [
        f"kernel {kernel}, variant {KERNEL_ITERATOR[kernel]}: "
        + ("the only kernel memcglab models with v1 soft-limit reclaim" if kernel == "3.7"
           else "today's reclaim" + (" (v1 soft limits are not modelled there)" if v1
                                     else "")),
        "a file workload per group with own file pages: pattern loop when active_file >= "
        "inactive_file (pages read again are activated), else stream (read once); an anon "
        "workload per group with own anon pages: pattern random over that size",
        "processes: the pids in cgroup.procs, at least 1 and at most 256; each simulated "
        "process has a mapping of its own, so the group's pages are shared out among them "
        "(size x processes = the pages)",
        f"rate: not observable from one snapshot; every process touches {human(opts.rate)} "
        "per second (--rate)",
        f"duration {opts.duration} (--duration), seed 0",
        scale,
    ]
    for a in approx:
        out += _comment(a, "#   - ", "#     ")
    out.append("#")
    out.append("# Left out (not modelled):")
    left = ([
        "memory.memsw.* (memory+swap limits), memory.kmem.* and memory.kmem.tcp.* (kernel "
        "memory), memory.swappiness, memory.oom_control, memory.move_charge_at_immigrate, "
        "memory.pressure_level",
        "memory.stat unevictable, mapped_file, dirty, writeback, swap",
    ] if v1 else [
        "memory.swap.max/high/peak, memory.zswap.*, memory.oom.group, memory.events, "
        "memory.pressure",
        "kernel memory (memory.stat kernel, kernel_stack, pagetables, percpu, sock, slab), "
        "unevictable, file_mapped, file_dirty, file_writeback",
    ]) + ["the machine: its size, NUMA layout, swap (machine.swap = false: anon pages cannot "
          "be reclaimed), disks and readahead (the scenario's defaults)"]
    for x in left:
        out += _comment(x, "#   - ", "#     ")
    if notes:
        out.append("#")
        out.append("# This tree:")
        for n in notes:
            out += _comment(comment_safe(n), "#   - ", "#     ")
    return out


# --- checking and writing ------------------------------------------------------------------


def check_loads(text: str, where: str, name: str = "imported") -> Plan:
    """The scenario as `memcglab run` loads it; a failure is memcglab's bug, not the user's."""
    try:
        raw = tomllib.loads(text)
        loc = Locator(where, text, raw, {}, raw)
        return build(validate_model(ScenarioFile, raw, loc), where, name, loc)
    except (ConfigError, tomllib.TOMLDecodeError) as e:
        raise InternalError(f"the imported scenario does not load: {e}") from e


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_out_file(given: str, force: bool, source: str) -> Path:
    """``--out FILE``, checked before the tree is read: never a file memcglab did not write,
    never inside the hierarchy."""
    if not given.strip():
        raise ConfigError("--out '': expected a file name, e.g. --out imported.toml")
    full = os.path.abspath(given)
    target = os.path.realpath(full)
    if os.path.islink(full) and not os.path.exists(target):
        raise ConfigError(f"--out {given}: a symbolic link to {target}, which does not exist")
    if _inside(target, os.path.realpath(source)):
        raise ConfigError(f"--out {given}: inside the hierarchy being read ({source}); "
                          "memcglab import never writes there")
    if os.path.isdir(target):
        raise ConfigError(f"--out {given}: is a directory; expected a file name")
    if os.path.lexists(target):
        if not os.path.isfile(target):
            raise ConfigError(f"--out {given}: exists and is not a regular file")
        try:
            fd = os.open(target, os.O_RDONLY | os.O_CLOEXEC)
            try:
                head = os.read(fd, len(MARK))
            finally:
                os.close(fd)
        except OSError as e:
            raise ConfigError(f"--out {given}: cannot read it: {e.strerror}") from e
        if head != MARK.encode():
            raise ConfigError(f"--out {given}: exists and memcglab import did not write it (its "
                              f"first line does not start with {MARK!r}); memcglab never "
                              "replaces a file it did not write. Choose another name")
        if not force:
            raise ConfigError(f"--out {given}: holds an earlier `memcglab import`; pass --force "
                              "to replace it, or choose another name")
    elif not os.path.isdir(os.path.dirname(target)):
        raise ConfigError(f"--out {given}: its folder {os.path.dirname(target)} does not "
                          "exist")
    return Path(target)


def write_file(target: Path, text: str, given: str) -> None:
    """Write through a temporary file in the same folder and rename it into place, so the
    file is either the old one or the new one, never half written."""
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        with signals_deferred():
            os.replace(tmp, target)
            tmp = None
    except OSError as e:
        raise ConfigError(f"--out {given}: cannot write: {e.strerror}") from e
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def default_path() -> Path:
    """This machine's memory hierarchy: the v1 memory mount, or the cgroup2 mount when it
    has the memory controller (live/probe.py reads /proc/mounts and cgroup.controllers)."""
    probe = gather()
    if probe.memory_v1_mount is not None:
        return Path(probe.memory_v1_mount)
    if probe.memory_v2 and probe.cgroup_v2_mount is not None:
        return Path(probe.cgroup_v2_mount)
    raise ConfigError("no memory hierarchy is mounted here (no v1 memory mount and no cgroup2 "
                      "mount with memory in cgroup.controllers; `memcglab kernel probe` says "
                      "more); give PATH")


def run_import(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitStatus:
    opts = options(args)
    path = Path(args.path) if args.path is not None else default_path()
    if args.force and args.out is None:
        raise ConfigError("--force: only has a meaning with --out FILE")
    target = check_out_file(args.out, args.force, str(path)) if args.out is not None else None
    tree = read_tree(path, depth=args.depth)
    text = scenario_text(tree, opts)
    plan = check_loads(text, str(target) if target is not None else "<imported scenario>",
                       target.stem if target is not None else "imported")
    if target is None:
        out.write(text)
        return ExitStatus.SUCCESS
    write_file(target, text, args.out)
    out.write(f"wrote {args.out}: {plan.topology.size - 1} groups under the root, "
              f"{len(plan.workloads)} workloads "
              f"(cgroup {tree.interface}, kernel {plan.kernel}); run it with: memcglab run "
              f"{args.out}\n")
    return ExitStatus.SUCCESS
