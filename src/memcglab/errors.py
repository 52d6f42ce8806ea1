"""One exception tree for memcglab.

User errors (:class:`ConfigError`) are raised early with the file, the field, what was
expected and what was found; the shell turns them into exit code 2. Property violations are
never exceptions: they are results. :class:`InternalError` marks a bug in memcglab itself.
"""

from __future__ import annotations


class MemcglabError(Exception):
    """Base class of every error memcglab raises on purpose."""


class ConfigError(MemcglabError, ValueError):
    """Bad input: a flag, a configuration file or a variant plugin.

    The message names where (file, line, field), what was expected and what was found.
    """


class ModelError(MemcglabError):
    """Model code broke the rules of the runtime (for example a mutable local variable)."""


class NondeterminismError(MemcglabError):
    """Replaying the same choices gave a different run."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"{detail}. Is the model fully deterministic?")


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived. Raised by the shell's signal handler so that the program
    unwinds as it does on Ctrl-C (temporary output is removed, a live run is torn down on
    the way), then exits with 143 (SIGTERM) or 129 (SIGHUP)."""

    def __init__(self, signal_name: str = "SIGTERM") -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


class LiveError(MemcglabError):
    """The live kernel refused or lacks something ``memcglab kernel`` needs (root, a memory
    controller, tracefs, a free zram device, ...). The message says what and where; the
    shell turns it into exit code 2 after cleaning up whatever the run had made."""


class InternalError(MemcglabError):
    """A bug in memcglab itself."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"[memcglab internal bug] {detail}")
