"""Turning pydantic validation errors into messages with file, line, field, expected, got.

Every message about an input says where the input is: ``file.toml:LINE`` for a value from a
file (:class:`Locator` finds the line of a key or table in the TOML text), or the flag for a
value given on the command line.
"""

from __future__ import annotations

import datetime
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from memcglab.errors import ConfigError

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]

_KEY_PART = r'(?:[A-Za-z0-9_-]+|"[^"\n]*"|\'[^\'\n]*\')'
_KEY = re.compile(r"^\s*(" + _KEY_PART + r"(?:\s*\.\s*" + _KEY_PART + r")*)\s*=")
_HEADER = re.compile(r"^\s*(\[\[?)\s*(" + _KEY_PART + r"(?:\s*\.\s*" + _KEY_PART +
                     r")*)\s*\]\]?\s*(?:#.*)?$")


def _key_parts(key: str) -> tuple[str, ...]:
    return tuple(p.strip("\"'") for p in re.findall(_KEY_PART, key))


def _scan(s: str, depth: int) -> tuple[int, str | None]:
    """Bracket depth after ``s`` (strings and comments skipped), and the delimiter of a
    multi-line string left open at its end."""
    i, n = 0, len(s)
    while i < n:
        if s.startswith('"""', i) or s.startswith("'''", i):
            j = s.find(s[i:i + 3], i + 3)
            if j < 0:
                return depth, s[i:i + 3]
            i = j + 3
            continue
        c = s[i]
        if c == '"':
            i += 1
            while i < n and s[i] != '"':
                i += 2 if s[i] == "\\" else 1
            i += 1
            continue
        if c == "'":
            j = s.find("'", i + 1)
            i = j + 1 if j >= 0 else n
            continue
        if c == "#":
            break
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth = max(depth - 1, 0)
        i += 1
    return depth, None


def toml_index(text: str) -> dict[Loc, int]:
    """Line numbers (1-based) of the tables and keys of a TOML text, by pydantic-style
    location: ``("group", 2, "limit")`` is ``limit`` in the third ``[[group]]``."""
    index: dict[Loc, int] = {}
    counts: dict[tuple[str, ...], int] = {}
    table: Loc = ()
    depth = 0
    open_string: str | None = None
    for no, line in enumerate(text.splitlines(), 1):
        if open_string is not None:
            j = line.find(open_string)
            if j < 0:
                continue
            depth, open_string = _scan(line[j + 3:], depth)
            continue
        if depth:
            depth, open_string = _scan(line, depth)
            continue
        h = _HEADER.match(line)
        if h:
            names = _key_parts(h.group(2))
            if h.group(1) == "[[":
                counts[names] = counts.get(names, -1) + 1
            path: Loc = ()
            for i in range(len(names)):
                path += (names[i],)
                if names[:i + 1] in counts:
                    path += (counts[names[:i + 1]],)
            index.setdefault(path, no)
            table = path
            continue
        k = _KEY.match(line)
        if k:
            parts = _key_parts(k.group(1))
            for i in range(len(parts)):
                index.setdefault(table + parts[:i + 1], no)
            depth, open_string = _scan(line[k.end():], 0)
    return index


_MISSING = object()


def _get(d: Any, loc: Loc) -> Any:
    for part in loc:
        if isinstance(d, dict) and isinstance(part, str):
            d = d.get(part, _MISSING)
        elif isinstance(d, list) and isinstance(part, int) and 0 <= part < len(d):
            d = d[part]
        else:
            return _MISSING
    return d


class Locator:
    """Where a value of the input came from: ``file:LINE``, the file, or the flag.

    ``raw`` is the input as validated (the file's tables with the flags applied); a value that
    differs from the file's own is blamed on the command line, with its flag from
    ``flags`` (location -> flag) when known, or on the place ``places`` names for it (a
    sweep's axis: ``sweep.toml:12 (axis group.0.limit = '32M')``).
    """

    def __init__(self, where: str, text: str = "", raw: Mapping[str, Any] | None = None,
                 flags: Mapping[Loc, str] | None = None,
                 file: Mapping[str, Any] | None = None,
                 places: Mapping[Loc, str] | None = None) -> None:
        self.where = where
        self.text = text
        self.raw = raw
        self.flags = dict(flags or {})
        self.places = dict(places or {})
        self._index: dict[Loc, int] | None = None
        self._file: Any = file  # the file's own tables (parsed from text when not given)

    def from_command_line(self, loc: Loc) -> bool:
        """Whether the value at ``loc`` was given outside the file (a flag, or a place such
        as a sweep's axis: that one is blamed even where it equals the file's own)."""
        if self.raw is None:
            return False
        if self.place(loc):
            return True
        if self.where == "command line":
            return True
        if self._file is None:
            try:
                self._file = tomllib.loads(self.text)
            except tomllib.TOMLDecodeError:
                self._file = {}
        for i in range(1, len(loc) + 1):
            mine, theirs = _get(self.raw, loc[:i]), _get(self._file, loc[:i])
            if isinstance(mine, dict) and isinstance(theirs, dict):
                continue
            return bool(mine != theirs)
        return False

    def flag(self, loc: Loc) -> str | None:
        for n in range(len(loc), 0, -1):
            if loc[:n] in self.flags:
                return self.flags[loc[:n]]
        return None

    def place(self, loc: Loc) -> str | None:
        """Where a value that is not the file's own was given, when it was not a flag."""
        for n in range(len(loc), 0, -1):
            if loc[:n] in self.places:
                return self.places[loc[:n]]
        return None

    def line(self, loc: Loc) -> int | None:
        if not self.text:
            return None
        if self._index is None:
            self._index = toml_index(self.text)
        for n in range(len(loc), 0, -1):
            if loc[:n] in self._index:
                return self._index[loc[:n]]
        return None

    def at(self, *loc: str | int) -> str:
        """``file:LINE`` of the key (or of its table), or ``command line (--flag)``."""
        if self.from_command_line(loc):
            place = self.place(loc)
            if place:
                return place
            flag = self.flag(loc)
            return f"command line ({flag})" if flag else "command line"
        line = self.line(loc)
        return f"{self.where}:{line}" if line else self.where


def read_toml(path: Path) -> tuple[dict[str, Any], str]:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x} at "
                          f"offset {e.start}); TOML files must be UTF-8") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as e:  # the message ends with "(at line L, column C)"
        raise ConfigError(f"{path}: malformed TOML: {e}") from None


_TOML_TYPES: list[tuple[type | tuple[type, ...], str]] = [
    (bool, "a boolean"), (int, "an integer"), (float, "a float"), (str, "a string"),
    (list, "an array"), (dict, "a table"),
    ((datetime.datetime, datetime.date, datetime.time), "a date or time"),
]


def toml_type(value: Any) -> str:
    return next((name for t, name in _TOML_TYPES if isinstance(value, t)),
                type(value).__name__)


# pydantic's strict type errors, said the way a TOML user reads them
_EXPECTED = {
    "int_type": "expected an integer", "bool_type": "expected true or false",
    "string_type": "expected a string", "float_type": "expected a number",
    "finite_number": "expected a finite number", "list_type": "expected an array",
    "model_type": "expected a table", "dict_type": "expected a table",
    "model_attributes_type": "expected a table",
}


def validate_model(cls: type[M], raw: dict[str, Any], locator: Locator) -> M:
    """Validate ``raw``; each message says where the value is (``locator``): the file's
    line, or the command line and the flag (a flag's name replaces the field's name when
    the locator knows it)."""
    try:
        return cls.model_validate(raw)
    except ValidationError as e:
        msgs = []
        for err in e.errors():
            loc = tuple(err["loc"])
            field = ".".join(str(x) for x in loc)
            place = locator.place(loc)
            if place and locator.from_command_line(loc):
                at = place
            elif locator.from_command_line(loc):
                at = "command line"
                field = locator.flag(loc) or field
            else:
                at = locator.at(*loc)
            if err["type"] == "extra_forbidden":
                valid = ", ".join(_fields_at(cls, loc[:-1]))
                msgs.append(f"{at}: unknown field {field!r}; valid fields here: {valid}")
                continue
            value = err.get("input")
            if err["type"] in _EXPECTED:
                shown = str(value).lower() if isinstance(value, bool) else repr(value)
                msgs.append(f"{at}: field {field!r}: {_EXPECTED[err['type']]}, got "
                            f"{shown} ({toml_type(value)})")
                continue
            msg = err["msg"].removeprefix("Value error, ")
            # Our own validators already say what they got.
            got = ("" if err["type"] == "missing" or ", got " in msg
                   else f"; got {value!r}")
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
    # A field's name in the file: its alias when it has one (a range's `from`).
    return [f.alias or name for name, f in getattr(model, "model_fields", {}).items()]


def declare_group(at: Callable[[str], str], name: str, parent: str, use_hierarchy: bool,
                  index: dict[str, int], hierarchical: list[bool]) -> int:
    """Check one ``[[group]]`` entry against those before it and return its parent's index.

    ``at(field)`` says where the entry's field is (``file:LINE``). Names are unique, parents
    come first, and (cgroup v1) a child cannot turn use_hierarchy off under a parent that has
    it: children inherit it.
    """
    if name in index:
        raise ConfigError(f"{at('name')}: group {name!r} declared twice")
    if parent not in index:
        raise ConfigError(f"{at('parent')}: group {name!r}: parent {parent!r} is not declared "
                          f"before it; declared: {', '.join(index)}")
    pi = index[parent]
    if pi and hierarchical[pi] and not use_hierarchy:
        raise ConfigError(f"{at('use_hierarchy')}: group {name!r}: use_hierarchy = false "
                          f"under {parent!r}, which has it: v1 children inherit it")
    index[name] = len(hierarchical)
    hierarchical.append(use_hierarchy)
    return pi
