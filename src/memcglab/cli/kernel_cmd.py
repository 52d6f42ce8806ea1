"""``memcglab kernel probe``: what this machine offers to ``kernel run`` (issue 7).

The probe (``memcglab.live.probe``) only reads files under /proc and /sys and
``PATH``; this module parses flags and prints its verdict lines as plain text or JSON.
Exit 0 whenever the probe ran (it is a report, even when things are missing), 2 on bad
flags or a --workdir that does not exist.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TextIO

from memcglab.cli.status import ExitStatus
from memcglab.errors import ConfigError
from memcglab.live.probe import Line, gather, missing, verdicts

DESCRIPTION = ("Live-kernel side (issue 7). 'probe' reports what this machine offers, one "
               "line each, with what follows for 'kernel run': root, cgroup v1/v2 and the "
               "memory controller, tracefs, BPF and BTF, bpftrace, swap and zram, MGLRU, "
               "the readahead window of the work directory's device, MemAvailable. It only "
               "reads files; it mounts and changes nothing.")


def add_kernel_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="kernel_command", required=True, metavar="SUBCOMMAND",
                           help="probe: what this machine offers the live-kernel commands")
    probe = sub.add_parser(
        "probe", help="what this machine offers to 'kernel run', one line each",
        description="Report root, cgroups and the memory controller, tracefs, BPF, BTF, "
                    "bpftrace, swap/zram, MGLRU, readahead of --workdir's device and "
                    "MemAvailable, each with what follows for 'kernel run'. Reads files "
                    "only. Exit 0 when it could probe (even if things are missing), 2 on "
                    "bad flags.",
        allow_abbrev=False)
    probe.add_argument("--workdir", type=Path, default=None,
                       help="the directory kernel run would put its files in; its block "
                            "device's readahead is reported (default: current directory)")
    probe.add_argument("--json", action="store_true", help="print JSON instead of text")


def text_lines(lines: list[Line]) -> str:
    width = max(len(ln.name) for ln in lines)
    return "".join(f"{'  ' if ln.ok else '!!'} {ln.name:<{width}}  {ln.value} -> {ln.then}\n"
                   for ln in lines)


def run_kernel(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitStatus:
    # only 'probe' exists so far (argparse refuses anything else)
    workdir: Path | None = args.workdir
    if workdir is not None and not workdir.is_dir():
        raise ConfigError(f"--workdir {workdir}: not a directory")
    probe = gather(workdir=workdir)
    lines = verdicts(probe)
    if args.json:
        doc = {"ready": not missing(probe), "missing": missing(probe),
               "lines": [{"name": ln.name, "value": ln.value, "then": ln.then, "ok": ln.ok}
                         for ln in lines],
               "facts": probe.to_json()}
        out.write(json.dumps(doc, indent=2) + "\n")
    else:
        out.write(text_lines(lines))
    return ExitStatus.SUCCESS
