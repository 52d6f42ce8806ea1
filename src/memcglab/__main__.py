"""``python -m memcglab``."""

from memcglab.cli.entry import entry

entry()
