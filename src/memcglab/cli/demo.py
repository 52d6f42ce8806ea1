"""``memcglab demo``: the seed patch's story end to end, in well under a minute."""

from __future__ import annotations

from typing import TextIO

from memcglab.cli.status import ExitStatus

def run_demo(out: TextIO) -> ExitStatus:
    out.write("demo: not yet\n")
    return ExitStatus.SUCCESS
