"""``python -m memcglab``."""

from memcglab.cli.main import entry

entry()
