"""The flags of a live-kernel run, shared by ``memcglab kernel run`` and ``memcglab compare
--kernel``; a module of its own so that ``memcglab run`` and ``compare`` define them without
importing the live-kernel machinery."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_WORKDIR = Path("/var/tmp/memcglab")


def add_live_args(p: argparse.ArgumentParser, max_memory: bool = True) -> None:
    """Flags of a live run, shared by ``kernel run`` and ``compare --kernel`` (compare
    has its own --max-memory, which then bounds both the simulation and the kernel run)."""
    p.add_argument("--repeat", type=int, default=1, metavar="N",
                   help="run the scenario N times on the kernel (each from evicted files and "
                        "new groups) and report the mean and spread (default 1)")
    p.add_argument("--zram", metavar="SIZE",
                   help="swap on a free zram device of SIZE for the run (e.g. 256M), removed "
                        "after: anon workloads need swap to be reclaimed")
    p.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                   help="where the workload files are written (a disk file system, not "
                        f"tmpfs; default {DEFAULT_WORKDIR}); they are removed at the end")
    p.add_argument("--bpf", choices=("auto", "on", "off"), default="auto",
                   help="the bpftrace layer (reclaim root, iterator position and "
                        "generation per visit): auto = where bpftrace works (default)")
    p.add_argument("--no-record", action="store_true",
                   help="no tracefs or bpftrace recording, only the sampled counters (the "
                        "baseline of the recorder-overhead benchmark)")
    if max_memory:
        from memcglab.live.session import MEMORY_SHARE
        p.add_argument("--max-memory", metavar="SIZE",
                       help="refuse a scenario whose groups may hold more than SIZE "
                            f"(default {MEMORY_SHARE * 100:.0f}%% of MemAvailable)")
