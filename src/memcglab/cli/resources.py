"""The machine's memory and cores, read at the shell's edge: what is available, what this
process uses and may use, and the ``--max-memory`` budget. The core gets only the answers
(convention: pure core, I/O at the edges)."""

from __future__ import annotations

import os
from pathlib import Path

from memcglab.errors import ConfigError
from memcglab.scenario.units import PAGE_SIZE, size_to_pages

DEFAULT_SHARE = 0.8  # of MemAvailable, when --max-memory is not given


def mem_available_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (None where there is no such file)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def usable_cores() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def rss_bytes() -> int:
    """This process's resident size (/proc/self/statm), 0 where unknown."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * (
            os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else PAGE_SIZE)
    except (OSError, ValueError, IndexError):
        return 0


def memory_budget(flag_value: str | None, flag: str = "--max-memory") -> int | None:
    """Bytes this run may hold: the flag's size, else 80% of MemAvailable plus what the
    process already holds; None when neither is known."""
    if flag_value is not None:
        try:
            nbytes = size_to_pages(flag_value) * PAGE_SIZE
        except ValueError as e:
            raise ConfigError(f"{flag}: {e}") from None
        if nbytes <= 0:
            raise ConfigError(f"{flag}: expected a size above 0, got {flag_value!r}")
        return nbytes
    avail = mem_available_bytes()
    return None if avail is None else int(avail * DEFAULT_SHARE) + rss_bytes()


def text(nbytes: float) -> str:
    for unit, size in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if nbytes >= size:
            return f"{nbytes / size:.1f}{unit}"
    return f"{int(nbytes)}B"


class RssProbe:
    """``exceeded()`` once the process's resident size passes the budget."""

    def __init__(self, budget: int) -> None:
        self.budget = budget

    def exceeded(self) -> bool:
        return rss_bytes() > self.budget
