"""``memcglab sweep`` files: a base scenario, axes over its fields, variants, kernels and
seeds, expanded into cells (one simulation each), every cell built and checked before any
runs.

A sweep is TOML (docs/sweep.md)::

    [sweep]
    base = "../scenarios/flat-limit.toml"   # or a list: an axis over scenario files
    seeds = 3                               # or [1, 2, 3]; N: the base's seed and the next N-1
    variants = ["css-id", "seed-spinlock"]  # optional (default: the base's own)
    kernels = ["3.7", "6.18"]               # optional: the scenario's `kernel` field
    kernel = true                           # optional: also run each point on the live kernel

    [[axis]]
    path = "group.0.limit"                  # any scenario field by its dotted path
    values = ["32M", "64M"]                 # or range = {from=16, to=64, step=16, unit="M"}

    [[axis]]
    paths = ["workload.0.size", "workload.1.size"]   # several fields moved together
    values = [["16M", "16M"], ["64M", "32M"]]

Paths name a field of the scenario format (docs/scenarios.md): ``machine.pages_per_zone``,
``group.N.limit`` (``N`` counts the ``[[group]]`` entries from 0, or ``group[NAME]`` by
name), ``workload.N.rate``. Every path is checked against the scenario model before any
cell is built (an unknown field names the valid ones), then every cell is validated like a
scenario, with errors naming the sweep file's line and the axis value. Nothing here runs
a simulation: this module is pure (the files are read by the caller).
"""

from __future__ import annotations

import copy
import itertools
import os
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from memcglab.errors import ConfigError
from memcglab.kernel.registry import plugin_path, resolve_variant
from memcglab.scenario.sim_scenario import (
    KERNEL_ITERATOR,
    ScenarioFile,
    _duration,
    _size,
    build_tables,
)
from memcglab.scenario.units import duration_ns, size_to_bytes
from memcglab.scenario.validation import Loc, Locator, read_toml, toml_index, validate_model
from memcglab.sim.plan import Plan

MAX_CELLS = 100_000  # a bigger grid is a typo more often than a plan: refuse it, say why
# Fields that are not axes: renaming breaks references, and these have their own lists.
_NOT_AXES = {
    ("description",): "it only describes the scenario",
    ("seed",): "use `seeds` in [sweep]",
    ("variant",): "use `variants` in [sweep]",
    ("kernel",): "use `kernels` in [sweep]",
    ("group", "name"): "renaming a group breaks the references to it",
    ("group", "parent"): "moving a group is a different hierarchy: use a list of base "
                         "scenarios",
    ("workload", "group"): "moving a workload is a different scenario: use a list of base "
                           "scenarios",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class RangeEntry(_Strict):
    from_: int = Field(alias="from")
    to: int
    step: int = Field(default=1, ge=1)
    unit: str = ""


class AxisEntry(_Strict):
    path: str | None = None
    paths: list[str] | None = None
    values: list[Any] | None = None
    range: RangeEntry | None = None


class SweepSection(_Strict):
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    base: str | list[str]
    seeds: int | list[int] = 1
    variants: list[str] | None = None
    kernels: list[Literal["3.7", "6.18"]] | None = None
    kernel: bool = False
    skip_invalid: bool = False


class PlotSection(_Strict):
    x: str | None = None
    y: list[str] | None = None


class SweepFile(_Strict):
    sweep: SweepSection
    axis: list[AxisEntry] = []
    plot: PlotSection = PlotSection()


@dataclass(frozen=True, slots=True)
class Axis:
    """One axis: its paths (several when zipped) and its points (one value per path)."""

    names: tuple[str, ...]  # the paths as written: the dataset's column names
    # The same, resolved in each base scenario (``group[web]`` may sit at another index in
    # each): locs[base][path].
    locs: tuple[tuple[Loc, ...], ...]
    kinds: tuple[str, ...]  # "size", "duration" or "plain": how a value becomes a number
    points: tuple[tuple[Any, ...], ...]
    line: int | None  # of its [[axis]] table in the sweep file
    values_line: int | None  # of its values (or range)


@dataclass(frozen=True, slots=True)
class Cell:
    """One simulation (or one live-kernel run) of the sweep."""

    index: int
    source: str  # "model" or "kernel" (the machine that runs the cell)
    scenario: str  # the base scenario's name (file stem)
    variant: str  # as the sweep names it ("" for a kernel cell: the kernel's own)
    kernel: str  # as the sweep names it ("": the base's, or the variant's)
    seed: int
    axes: tuple[tuple[str, Any], ...]  # (column, value as written), in axis order
    plan: Plan

    def label(self) -> str:
        parts = [f"{k}={v}" for k, v in self.axes]
        parts += [self.scenario, self.variant or ("live kernel" if self.source == "kernel"
                                                  else "the base's variant")]
        parts += [f"kernel {self.kernel}"] if self.kernel else []
        parts += [f"seed {self.seed}"]
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Sweep:
    name: str
    description: str
    path: str  # the sweep file as given (or "<dict>")
    bases: tuple[str, ...]  # absolute paths of the base scenarios
    axes: tuple[Axis, ...]
    variants: tuple[str, ...]  # empty: each base's own
    kernels: tuple[str, ...]
    seeds: tuple[int, ...]
    live_kernel: bool
    cells: tuple[Cell, ...]
    skipped: tuple[tuple[str, str], ...]  # (cell label, why), with skip_invalid = true
    plot_x: str | None
    plot_y: tuple[str, ...]

    def columns(self) -> list[str]:
        """The axis columns, in order (kernels and variants are identity columns)."""
        cols = ["scenario"] if len(self.bases) > 1 else []
        return cols + [n for a in self.axes for n in a.names]

    def kind(self, column: str) -> str:
        """How an axis column's values become numbers: "size", "duration" or "plain"."""
        for a in self.axes:
            if column in a.names:
                return a.kinds[a.names.index(column)]
        return "plain"

    def points(self) -> list[str]:
        """What tells the points apart: the variant, the kernel (when several), the axes."""
        kernel = ["kernel"] if len(self.kernels) > 1 or self.live_kernel else []
        return ["variant", *kernel, *self.columns()]


# --- paths ------------------------------------------------------------------------------

_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[([A-Za-z0-9_.-]+)\])?|([0-9]+)")


def parse_path(text: str) -> list[str | int | tuple[str]]:
    """``group[web].limit`` -> ["group", ("web",), "limit"]; ``group.0.limit`` ->
    ["group", 0, "limit"]. A ``(name,)`` tuple is a ``[[group]]`` chosen by name."""
    out: list[str | int | tuple[str]] = []
    pos = 0
    while True:
        m = _PART.match(text, pos)
        if not m:
            raise ValueError(f"expected a dotted field path like group.0.limit or "
                             f"machine.pages_per_zone, got {text!r}")
        if m.group(3) is not None:
            out.append(int(m.group(3)))
        else:
            out.append(m.group(1))
            if m.group(2) is not None:
                out.append((m.group(2),))
        pos = m.end()
        if pos == len(text):
            return out
        if text[pos] != ".":
            raise ValueError(f"expected '.' at character {pos + 1} of {text!r}")
        pos += 1


def _unwrap(ann: Any) -> tuple[str, Any]:
    """("list", item model) | ("model", model) | ("leaf", annotation) of a field."""
    if typing.get_origin(ann) is list:
        return "list", typing.get_args(ann)[0]
    for a in (ann, *typing.get_args(ann)):
        if isinstance(a, type) and issubclass(a, BaseModel):
            return "model", a
    return "leaf", ann


def _kind(field: Any) -> str:
    """"size", "duration" or "plain": by the field's validator (pydantic keeps a required
    field's Annotated validators in ``metadata``, an optional one's in its annotation)."""
    options = (field.annotation, *typing.get_args(field.annotation))
    validators = {getattr(m, "func", None) for m in field.metadata}
    for a in options:
        validators |= {getattr(m, "func", None) for m in getattr(a, "__metadata__", ())}
    if _size in validators:
        return "size"
    if _duration in validators:
        return "duration"
    return "plain"


def resolve_path(text: str, base: dict[str, Any], base_name: str) -> tuple[Loc, str]:
    """The location a path names in ``base`` (a scenario's TOML tables) and the kind of its
    value; ``ValueError`` says what is wrong in words a user can act on."""
    parts = parse_path(text)
    model: Any = ScenarioFile
    loc: list[str | int] = []
    raw: Any = base
    i = 0
    while i < len(parts):
        part = parts[i]
        if not isinstance(part, str):
            raise ValueError(f"{text!r}: {'.'.join(map(str, loc)) or 'the scenario'} is not "
                             "a list of tables; expected a field name here")
        fields = model.model_fields
        if part not in fields:
            raise ValueError(f"{text!r}: unknown field {part!r} in "
                             f"{'.'.join(str(x) for x in loc) or 'the scenario'}; valid "
                             f"fields: {', '.join(fields)}")
        loc.append(part)
        shape, inner = _unwrap(fields[part].annotation)
        raw = raw.get(part) if isinstance(raw, dict) else None
        i += 1
        if shape == "leaf":
            if i != len(parts):
                raise ValueError(f"{text!r}: {'.'.join(map(str, loc))} is a value, not a "
                                 "table; the path ends there")
            generic = tuple(x for x in loc if isinstance(x, str))
            if generic in _NOT_AXES:
                raise ValueError(f"{text!r}: not an axis: {_NOT_AXES[generic]}")
            return tuple(loc), _kind(fields[part])
        if shape == "model":
            model = inner
            continue
        entries = raw if isinstance(raw, list) else []
        if i == len(parts):
            raise ValueError(f"{text!r}: {part} is a list of [[{part}]] tables: name one, "
                             f"e.g. {part}.0.{next(iter(inner.model_fields))}")
        sel = parts[i]
        if isinstance(sel, tuple):
            names = [e.get("name") for e in entries if isinstance(e, dict)]
            if "name" not in inner.model_fields:
                raise ValueError(f"{text!r}: [[{part}]] entries have no names; use an index "
                                 f"0..{len(entries) - 1}")
            if sel[0] not in names:
                raise ValueError(f"{text!r}: {base_name} has no [[{part}]] named {sel[0]!r}; "
                                 f"named: {', '.join(str(n) for n in names) or 'none'}")
            index = names.index(sel[0])
        elif isinstance(sel, int):
            if not 0 <= sel < len(entries):
                have = (f"{len(entries)} [[{part}]] entries (0..{len(entries) - 1})"
                        if entries else f"no [[{part}]] entries")
                raise ValueError(f"{text!r}: {base_name} has {have}, got index {sel}")
            index = sel
        else:
            raise ValueError(f"{text!r}: after {part!r} expected an index (0, 1, ...) or "
                             f"[NAME], got {sel!r}")
        loc.append(index)
        raw = entries[index]
        model = inner
        i += 1
    raise ValueError(f"{text!r}: names a table, not a value; add a field, e.g. "
                     f"{text}.{next(iter(model.model_fields))}")


def _set(raw: dict[str, Any], loc: Loc, value: Any) -> None:
    d: Any = raw
    for part in loc[:-1]:
        d = d[part] if isinstance(part, int) else d.setdefault(part, {})
    d[loc[-1]] = value


def numeric(kind: str, value: Any) -> float | None:
    """An axis value as a number (bytes, ns, or the number itself) for plots; None when it
    is not one."""
    try:
        if kind == "size":
            return float(size_to_bytes(value))
        if kind == "duration":
            return float(duration_ns(value))
    except (ValueError, TypeError):
        return None
    if isinstance(value, bool):  # true/false are categories, not a scale
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


# --- loading ----------------------------------------------------------------------------

def load_sweep(path: Path) -> Sweep:
    """Read, check and expand a sweep file (every cell's plan built)."""
    raw, text = read_toml(path)
    return expand(raw, str(path), text, path.parent)


def expand(raw: dict[str, Any], where: str, text: str = "", folder: Path | None = None
           ) -> Sweep:
    """``raw``: the sweep's tables; ``where``/``text`` name them in messages; ``folder``:
    what relative paths (base scenarios, variant files) are relative to."""
    folder = folder if folder is not None else Path(".")
    locator = Locator(where, text)
    f = validate_model(SweepFile, raw, locator)
    index = toml_index(text) if text else {}

    def line(*loc: str | int) -> str:
        for n in range(len(loc), 0, -1):
            if loc[:n] in index:
                return f"{where}:{index[loc[:n]]}"
        return where

    s = f.sweep
    base_list = [s.base] if isinstance(s.base, str) else list(s.base)
    if not base_list:
        raise ConfigError(f"{line('sweep', 'base')}: sweep.base: expected a scenario file or a "
                          "non-empty list of them")
    bases: list[tuple[Path, dict[str, Any], str]] = []
    for b in base_list:
        p = Path(b) if os.path.isabs(b) else folder / b
        try:
            braw, btext = read_toml(p)
        except ConfigError as e:
            raise ConfigError(f"{line('sweep', 'base')}: sweep.base: {e}") from None
        bases.append((Path(os.path.abspath(p)), braw, btext))
    stems = [p.stem for p, _, _ in bases]
    if len(set(stems)) != len(stems):
        raise ConfigError(f"{line('sweep', 'base')}: sweep.base: two scenario files have one "
                          f"name ({', '.join(stems)}); the cells would not tell them apart")
    seeds = _seeds(s.seeds, bases, line)
    variants = _variants(s.variants, folder, line)
    kernels = tuple(s.kernels or ())
    if len(set(kernels)) != len(kernels):
        raise ConfigError(f"{line('sweep', 'kernels')}: sweep.kernels: a kernel is named twice")
    axes = tuple(_axis(i, a, bases, line) for i, a in enumerate(f.axis))
    for bi, (bpath, _, _) in enumerate(bases):  # group[NAME] resolves per base
        seen: dict[Loc, tuple[str, int | None]] = {}
        for ax in axes:
            for n, loc in zip(ax.names, ax.locs[bi], strict=True):
                if loc in seen:
                    other, at = seen[loc]
                    raise ConfigError(
                        f"{_at(where, ax.line)}: axis {n!r} moves the field axis {other!r} "
                        f"already moves" + (f" (line {at})" if at else "")
                        + (f" in {bpath.name}" if len(bases) > 1 else "")
                        + "; one axis per field")
                seen[loc] = (n, ax.line)
    n_model = (len(bases) * _product_size(axes) * max(1, len(variants)) * max(1, len(kernels))
               * len(seeds))
    n_kernel = len(bases) * _product_size(axes) * len(seeds) if s.kernel else 0
    if n_model + n_kernel > MAX_CELLS:
        raise ConfigError(f"{line('sweep')}: the sweep has {n_model + n_kernel:,} cells; at most "
                          f"{MAX_CELLS:,} (split it into several sweeps)")
    cells: list[Cell] = []
    skipped: list[tuple[str, str]] = []
    # Base-, then variant-major: the summary lists a variant's points together.
    for (bi, (bpath, braw, btext)), variant, kernel, point, seed in itertools.product(
            enumerate(bases), variants or ("",), kernels or ("",),
            itertools.product(*(a.points for a in axes)), seeds):
        _add_cell(cells, skipped, "model", bi, bpath, braw, btext, axes, point, variant,
                  kernel, seed, line, s.skip_invalid)
    if s.kernel:
        for (bi, (bpath, braw, btext)), point, seed in itertools.product(
                enumerate(bases), itertools.product(*(a.points for a in axes)), seeds):
            _add_cell(cells, skipped, "kernel", bi, bpath, braw, btext, axes, point, "", "",
                      seed, line, s.skip_invalid)
    if not cells:
        raise ConfigError(f"{where}: no cell of the sweep can run (skip_invalid = true "
                          f"skipped all {len(skipped)}; the first: {skipped[0][1]})")
    name = s.name or (Path(where).stem if text else "sweep")
    columns = (["variant"] + (["kernel"] if len(kernels) > 1 or s.kernel else [])
               + (["scenario"] if len(bases) > 1 else []) + [n for a in axes for n in a.names])
    plot_x = check_plot_x(f.plot.x, columns, f"{line('plot', 'x')}: plot.x")
    return Sweep(name=name, description=s.description, path=where,
                 bases=tuple(str(p) for p, _, _ in bases), axes=axes, variants=variants,
                 kernels=kernels, seeds=seeds, live_kernel=s.kernel, cells=tuple(cells),
                 skipped=tuple(skipped), plot_x=plot_x, plot_y=tuple(f.plot.y or ()))


def check_plot_x(x: str | None, columns: list[str], what: str) -> str | None:
    """The x axis of the plots: what tells the sweep's points apart (``columns``: its axes,
    ``variant``, and ``kernel`` when the sweep has several); the seeds are what each point's
    mean and interval are taken over, so they are no axis."""
    if x is not None and x not in columns:
        raise ConfigError(f"{what} {x!r}: not an axis of this sweep; valid: "
                          f"{', '.join(columns)}")
    return x


def _at(where: str, line: int | None) -> str:
    return f"{where}:{line}" if line else where


def _product_size(axes: tuple[Axis, ...]) -> int:
    n = 1
    for a in axes:
        n *= len(a.points)
    return n


def _seeds(spec: int | list[int], bases: list[tuple[Path, dict[str, Any], str]],
           line: Any) -> tuple[int, ...]:
    if isinstance(spec, int):
        if spec < 1:
            raise ConfigError(f"{line('sweep', 'seeds')}: sweep.seeds: expected a count of 1 or "
                              f"more, or a list of seeds, got {spec}")
        first = {b.get("seed", 0) for _, b, _ in bases}
        if len(first) != 1 or not isinstance(next(iter(first)), int):
            raise ConfigError(f"{line('sweep', 'seeds')}: sweep.seeds = {spec}: the base "
                              "scenarios have different seeds; list the seeds instead")
        s0 = next(iter(first))
        return tuple(range(s0, s0 + spec))
    if not spec or len(set(spec)) != len(spec):
        raise ConfigError(f"{line('sweep', 'seeds')}: sweep.seeds: expected a non-empty list "
                          f"of distinct seeds, got {spec}")
    return tuple(spec)


def _variants(spec: list[str] | None, folder: Path, line: Any) -> tuple[str, ...]:
    if spec is None:
        return ()
    if not spec:
        raise ConfigError(f"{line('sweep', 'variants')}: sweep.variants: expected at least one "
                          "variant (or leave it out: each base scenario's own)")
    out: list[str] = []
    classes = []
    for v in spec:
        path = plugin_path(v)
        if path is not None and not path.is_absolute():
            v = f"{os.path.abspath(folder / path)}:{v.rsplit(':', 1)[1]}"
        try:
            classes.append(resolve_variant(v))
        except ConfigError as e:
            raise ConfigError(f"{line('sweep', 'variants')}: sweep.variants: {e}") from None
        out.append(v)
    if len(set(classes)) != len(classes):
        raise ConfigError(f"{line('sweep', 'variants')}: sweep.variants: names one variant "
                          "twice (perhaps spelled differently)")
    return tuple(out)


def _axis(i: int, a: AxisEntry, bases: list[tuple[Path, dict[str, Any], str]],
          line: Any) -> Axis:
    where = line("axis", i)
    if (a.path is None) == (a.paths is None):
        raise ConfigError(f"{where}: [[axis]] {i}: expected `path = \"...\"` (one field) or "
                          "`paths = [...]` (fields moved together), not both or neither")
    if (a.values is None) == (a.range is None):
        raise ConfigError(f"{where}: [[axis]] {i}: expected `values = [...]` or `range = "
                          "{ from = ..., to = ..., step = ... }`, not both or neither")
    names = [a.path] if a.path is not None else list(a.paths or [])
    if not names or len(set(names)) != len(names):
        raise ConfigError(f"{where}: [[axis]] {i}: paths: expected distinct field paths")
    locs: list[list[Loc]] = [[] for _ in bases]
    kinds: list[str] = []
    for n in names:
        for b, (bpath, braw, _) in enumerate(bases):
            try:
                loc, kind = resolve_path(n, braw, bpath.name)
            except ValueError as e:
                raise ConfigError(f"{where}: [[axis]] {i}: path {e}") from None
            locs[b].append(loc)
        kinds.append(kind)
    if a.range is not None:
        r = a.range
        count = (r.to - r.from_) // r.step + 1 if r.to >= r.from_ else 0
        if count > MAX_CELLS:  # refused before a list of that length is built
            raise ConfigError(f"{line('axis', i, 'range')}: [[axis]] {i}: range: {count:,} "
                              f"values; at most {MAX_CELLS:,} cells in a sweep")
        if r.to < r.from_:
            raise ConfigError(f"{line('axis', i, 'range')}: [[axis]] {i}: range: expected "
                              f"from <= to, got from = {r.from_}, to = {r.to}")
        if len(names) != 1:
            raise ConfigError(f"{line('axis', i, 'range')}: [[axis]] {i}: a range moves one "
                              "path; for several, list the values")
        nums = range(r.from_, r.to + 1, r.step)
        points: list[tuple[Any, ...]] = [(f"{v}{r.unit}" if r.unit else v,) for v in nums]
    else:
        vals = a.values or []
        if not vals:
            raise ConfigError(f"{line('axis', i, 'values')}: [[axis]] {i}: values: expected at "
                              "least one value")
        if len(names) == 1:
            points = [(v,) for v in vals]
        else:
            points = []
            for v in vals:
                if not isinstance(v, list) or len(v) != len(names):
                    raise ConfigError(
                        f"{line('axis', i, 'values')}: [[axis]] {i}: values: each value of "
                        f"a {len(names)}-path axis is a list of {len(names)} ({', '.join(names)}),"
                        f" got {v!r}")
                points.append(tuple(v))
    if len(set(map(repr, points))) != len(points):
        raise ConfigError(f"{line('axis', i, 'values')}: [[axis]] {i}: a value is listed twice")
    def number(at: str) -> int | None:
        tail = at.rsplit(":", 1)[-1]
        return int(tail) if ":" in at and tail.isdigit() else None

    return Axis(tuple(names), tuple(tuple(x) for x in locs), tuple(kinds), tuple(points),
                number(where),
                number(line("axis", i, "values" if a.values is not None else "range")))


def _add_cell(cells: list[Cell], skipped: list[tuple[str, str]], source: str,
              base_index: int, bpath: Path,
              braw: dict[str, Any], btext: str, axes: tuple[Axis, ...],
              point: tuple[tuple[Any, ...], ...], variant: str, kernel: str, seed: int,
              line: Any, skip_invalid: bool) -> None:
    raw = copy.deepcopy(braw)
    places: dict[Loc, str] = {}
    values: list[tuple[str, Any]] = []
    for ax, vals in zip(axes, point, strict=True):
        for name, loc, v in zip(ax.names, ax.locs[base_index], vals, strict=True):
            _set(raw, loc, v)
            places[loc] = f"{line('axis', axes.index(ax), 'values')} (axis {name} = {v!r})"
            values.append((name, v))
    raw["seed"] = seed
    places[("seed",)] = f"{line('sweep', 'seeds')} (seeds)"
    if variant:
        raw["variant"] = variant
        places[("variant",)] = f"{line('sweep', 'variants')} (variant {variant!r})"
    if kernel:
        raw["kernel"] = kernel
        places[("kernel",)] = f"{line('sweep', 'kernels')} (kernel {kernel!r})"
        if not variant:
            # A kernel named with no variant runs that kernel's own iterator (a base's
            # variant belongs to its own kernel: the sweep asks for the other era).
            raw["variant"] = KERNEL_ITERATOR[kernel]
            places[("variant",)] = (f"{line('sweep', 'kernels')} (kernel {kernel!r} runs "
                                    f"{KERNEL_ITERATOR[kernel]!r})")
    cell = Cell(len(cells), source, bpath.stem, variant, kernel, seed, tuple(values),
                None)  # type: ignore[arg-type]
    try:
        plan = build_tables(raw, braw, btext, str(bpath), bpath.stem, bpath.parent,
                            places=places)
    except ConfigError as e:
        if skip_invalid:
            skipped.append((cell.label(), str(e)))
            return
        raise ConfigError(f"{e}\n  (in the sweep's cell {cell.label()}; skip_invalid = true "
                          "in [sweep] skips cells that cannot be built)") from None
    cells.append(Cell(cell.index, source, bpath.stem, variant, kernel, seed, tuple(values),
                      plan))
