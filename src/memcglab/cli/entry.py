"""The console script and ``python -m memcglab``: imports the CLI, then runs it.

Kept apart from :mod:`memcglab.cli.main` so that a Ctrl-C while the heavy libraries are
still being imported (rich, pydantic: a few hundred ms, before anything is made) ends like
any other interrupt, with exit 130 and one line, not a traceback."""

from __future__ import annotations

import sys


def entry() -> None:
    try:
        from memcglab.cli.main import main
    except KeyboardInterrupt:
        sys.stderr.write("memcglab: interrupted\n")
        raise SystemExit(130) from None
    raise SystemExit(int(main()))
