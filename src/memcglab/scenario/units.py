"""Sizes and durations as cgroup tools write them: ``4K``, ``32M``, ``2G``; ``500ms``, ``2s``.

Sizes are bytes with an optional binary suffix (K, M, G, T, as ``memory.max`` accepts);
memcglab counts in 4 KiB pages and rounds up. Durations take ns, us, ms, s or min.
"""

from __future__ import annotations

import re

PAGE_SIZE = 4096
# ASCII digits only: Python's \d also matches other scripts' digits ("１" is 1).
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(?:i?B)?\s*$", re.IGNORECASE)
_MULT = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_DUR = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ns|us|ms|s|min)\s*$")
_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "min": 60_000_000_000}


def size_to_pages(value: str | int) -> int:
    """``"32M"`` -> 8192 pages. Integers are bytes."""
    return -(-size_to_bytes(value) // PAGE_SIZE)


def size_to_bytes(value: str | int) -> int:
    """``"32M"`` -> 33554432. Integers are bytes."""
    if isinstance(value, bool):
        raise ValueError("expected a size like 4K, 32M or 2G")
    if isinstance(value, int):
        nbytes = value
    else:
        m = _SIZE.match(value)
        if not m:
            raise ValueError(f"expected a size like 4K, 32M or 2G, got {value!r}")
        nbytes = int(float(m.group(1)) * _MULT[m.group(2).upper()])
    if nbytes < 0:
        raise ValueError("a size cannot be negative")
    return nbytes


def duration_ns(value: str | int) -> int:
    """``"500ms"`` -> 500000000. Integers are nanoseconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 500ms or 2s")
    if isinstance(value, int):
        return value
    m = _DUR.match(value)
    if not m:
        raise ValueError(f"expected a duration like 100us, 500ms or 2s, got {value!r}")
    return int(float(m.group(1)) * _NS[m.group(2)])


def pages_to_text(pages: int) -> str:
    nbytes = pages * PAGE_SIZE
    for unit in ("G", "M", "K"):
        if nbytes >= _MULT[unit] and nbytes % _MULT[unit] == 0:
            return f"{nbytes // _MULT[unit]}{unit}"
    return f"{nbytes / _MULT['M']:.1f}M"
