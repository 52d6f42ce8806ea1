"""Exit statuses (convention C11)."""

from enum import IntEnum, unique


@unique
class ExitStatus(IntEnum):
    SUCCESS = 0
    VIOLATION_FOUND = 1
    CONFIG_ERROR = 2
    INTERNAL_ERROR = 3
    HANGUP = 129  # SIGHUP (128 + 1): the terminal went away
    INTERRUPTED = 130
    TERMINATED = 143  # SIGTERM (128 + 15), as a shell reports a process killed by it
