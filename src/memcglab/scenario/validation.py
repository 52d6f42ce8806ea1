"""Turning pydantic validation errors into messages with file, line, field, expected, got."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from memcglab.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line number of the field at ``loc`` in TOML text."""
    keys = [k for k in loc if isinstance(k, str)]
    if not keys:
        return None
    lines = text.splitlines()
    start = 0
    if len(keys) > 1:
        header = re.compile(r"^\s*\[+\s*" + re.escape(".".join(keys[:-1])) + r"\s*\]+")
        nth = next((k for k in loc if isinstance(k, int)), 0)
        seen = -1
        for i, line in enumerate(lines):
            if header.match(line):
                seen += 1
                start = i
                if seen == nth:
                    break
    pat = re.compile(r"^\s*" + re.escape(keys[-1]) + r"\s*=")
    for i in range(start, len(lines)):
        if pat.match(lines[i]):
            return i + 1
    return None


def read_toml(path: Path) -> tuple[dict[str, Any], str]:
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: malformed TOML: {e}") from e


def validate_model(cls: type[M], raw: dict[str, Any], where: str, text: str = "",
                   flags: dict[str, str] | None = None) -> M:
    """Validate ``raw``; ``flags`` maps top-level fields that came from the command line to
    their flag, so that errors in them are blamed on the flag, not on the file."""
    try:
        return cls.model_validate(raw)
    except ValidationError as e:
        msgs = []
        for err in e.errors():
            loc = tuple(err["loc"])
            field = ".".join(str(x) for x in loc)
            if flags and loc and loc[0] in flags:
                at, field = "command line", flags[str(loc[0])]
                line = None
            else:
                line = line_of(text, loc) if text else None
                at = f"{where}:{line}" if line else where
            if err["type"] == "extra_forbidden":
                valid = ", ".join(_fields_at(cls, loc[:-1]))
                msgs.append(f"{at}: unknown field {field!r}; valid fields here: {valid}")
                continue
            msg = err["msg"].removeprefix("Value error, ")
            # Our own validators already say what they got.
            got = ("" if err["type"] == "missing" or ", got " in msg
                   else f"; got {err.get('input')!r}")
            msgs.append(f"{at}: field {field!r}: {msg}{got}")
        raise ConfigError("\n".join(msgs)) from None


def _fields_at(cls: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    model: Any = cls
    for part in loc:
        if isinstance(part, int):
            continue
        ann = model.model_fields[part].annotation
        args = getattr(ann, "__args__", None)
        model = next((a for a in (args or (ann,)) if isinstance(a, type)
                      and issubclass(a, BaseModel)), ann)
    return list(getattr(model, "model_fields", {}))


def declare_group(where: str, name: str, parent: str, use_hierarchy: bool,
                  index: dict[str, int], hierarchical: list[bool]) -> int:
    """Check one ``[[group]]`` entry against those before it and return its parent's index.

    Names are unique, parents come first, and (cgroup v1) a child cannot turn
    use_hierarchy off under a parent that has it: children inherit it.
    """
    if name in index:
        raise ConfigError(f"{where}: group {name!r} declared twice")
    if parent not in index:
        raise ConfigError(f"{where}: group {name!r}: parent {parent!r} is not declared before "
                          f"it; declared: {', '.join(index)}")
    pi = index[parent]
    if pi and hierarchical[pi] and not use_hierarchy:
        raise ConfigError(f"{where}: group {name!r}: use_hierarchy = false under {parent!r}, "
                          "which has it: v1 children inherit it")
    index[name] = len(hierarchical)
    hierarchical.append(use_hierarchy)
    return pi
