"""A sweep's results store: a folder with one Parquet file per finished cell.

Layout of ``--out DIR`` (docs/sweep.md)::

    DIR/.memcglab-output       marker: written by `memcglab sweep`, lists the report files
    DIR/sweep.json             the resolved sweep: axes, variants, seeds, cells and their ids
    DIR/cells/<id>.parquet     one row per finished cell (identity, axes, every metric)
    DIR/summary.csv, DIR/plots/*.png, DIR/report.html   rewritten at the end of each run

A cell file is written to a temporary name, flushed to disk and renamed into place (with
SIGINT and SIGTERM held off for those few calls), so a file under its final name is always
whole: that name is the "done" mark. Re-running the sweep skips every cell whose file
exists, so an interrupted sweep (Ctrl-C, SIGTERM, a crash, a lost Ray node) resumes with
nothing lost and nothing computed twice. A cell's id hashes its plan and memcglab's code
(:func:`memcglab.grid.cells.cell_id`): files of another sweep or another memcglab build
stay in cells/ ("stale", never deleted) and are not read.

Each file has its own schema (a 3.7 cell has no ``memory_events`` columns); reading
unifies them (missing columns are null), since a dataset opened without one declared
schema silently drops the columns its first file lacks (docs/research/sweep-and-import.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.dataset as ds  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from memcglab.errors import ConfigError
from memcglab.report.outdir import (
    MARKER,
    OutDir,
    check_out,
    marker_text,
    read_marker,
    signals_deferred,
)

CELLS = "cells"


_TMP = re.compile(r"^\.[0-9a-f]{32}\.parquet\.tmp$")  # a cell being written (store.py)


def _check_marker(label: str, target: Path) -> None:
    """An existing, non-empty folder must be an earlier sweep's."""
    if not os.listdir(target):
        return
    marker = read_marker(target)
    if marker is None:
        raise ConfigError(f"{label}: the folder is not empty and memcglab did not write it "
                          f"(it has no {MARKER}); a sweep needs a new or empty folder, or "
                          "one of an earlier sweep to resume in")
    if "`memcglab sweep`" not in marker[0]:
        by = marker[0].split("`")[1] if marker[0].count("`") >= 2 else "memcglab"
        raise ConfigError(f"{label}: holds the output of `{by}`, not of a sweep; choose a "
                          "new folder (a sweep keeps its folder to resume in)")


@dataclass(frozen=True, slots=True)
class Store:
    folder: Path
    given: str  # the folder as the user named it
    label: str  # how messages name it: "--out DIR", or the folder given to the API

    @staticmethod
    def open(given: str, inputs: Sequence[Path] = (), label: str | None = None) -> Store:
        """Check the folder (memcglab's rules: docs/scenarios.md, "Output folder"): new,
        empty, or an earlier sweep's (resumed). Creates it, its marker and cells/, checks
        that cells/ takes files, and removes the half-written cell files a killed run left
        (its own: ``.<id>.parquet.tmp``)."""
        label = label or f"--out {given}"
        if os.path.isdir(given):
            _check_marker(label, Path(given))
        out = check_out(given, "sweep", force=True, inputs=inputs)
        store = Store(out.target, given, label)
        cells = out.target / CELLS
        try:
            cells.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".probe.", dir=cells)
            os.close(fd)
            os.unlink(probe)
            for name in os.listdir(cells):
                if _TMP.match(name):
                    (cells / name).unlink()
        except OSError as e:
            raise ConfigError(f"{label}: cannot write into {CELLS}/ there: "
                              f"{e.strerror or e}") from e
        if read_marker(out.target) is None:
            store._write_atomic(MARKER, marker_text("sweep", ["sweep.json"]))
        return store

    @staticmethod
    def read(given: str, label: str | None = None) -> Store:
        """A sweep folder to read (``--status``, ``memcglab.results``): checked, never
        written to; a folder that does not exist yet reads as empty."""
        label = label or f"--out {given}"
        target = Path(os.path.realpath(given))
        if target.exists():
            if not target.is_dir():
                raise ConfigError(f"{label}: exists and is not a directory")
            _check_marker(label, target)
        return Store(target, given, label)

    def outdir(self) -> OutDir:
        """The folder as :func:`memcglab.report.outdir.write_folder` takes it (to replace
        the report files listed in the marker and nothing else)."""
        marker = read_marker(self.folder)
        return OutDir(self.given, self.folder, "sweep", True,
                      marker[1] if marker is not None else ())

    def path(self, cid: str) -> Path:
        return self.folder / CELLS / f"{cid}.parquet"

    def done(self) -> set[str]:
        """Ids of the finished cells (every whole file in cells/, of this sweep or not)."""
        try:
            names = os.listdir(self.folder / CELLS)
        except FileNotFoundError:
            return set()
        except OSError as e:
            raise ConfigError(f"{self.label}: cannot read {CELLS}/: {e.strerror}") from e
        return {n[:-8] for n in names if n.endswith(".parquet") and not n.startswith(".")}

    def _write_atomic(self, rel: str, text: str | None = None, table: Any = None) -> None:
        final = self.folder / rel
        tmp = final.with_name(f".{final.name}.tmp")
        try:
            if table is not None:
                # One row: no dictionaries or statistics to gain from (and half the time).
                pq.write_table(table, tmp, use_dictionary=False, write_statistics=False)
            else:
                tmp.write_text(text or "", encoding="utf-8")
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            with signals_deferred():
                os.replace(tmp, final)
        except OSError as e:  # a full disk, a read-only folder: not a memcglab bug
            raise ConfigError(f"{self.label}: cannot write {rel}: "
                              f"{e.strerror or e}") from e
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def write_cell(self, cid: str, row: dict[str, Any]) -> None:
        self._write_atomic(f"{CELLS}/{cid}.parquet",
                           table=pa.Table.from_pylist([row]))  # 5x from_pydict's speed

    def write_json(self, rel: str, doc: Any) -> None:
        self._write_atomic(rel, json.dumps(doc, indent=1, sort_keys=True) + "\n")

    def walls(self, ids: Iterable[str]) -> list[float]:
        """The ``wall_s`` of these finished cells (that column alone: --status need not
        read every metric of every cell)."""
        done = self.done()
        files = [str(self.path(c)) for c in ids if c in done]
        if not files:
            return []
        column = ds.dataset(files, format="parquet").to_table(columns=["wall_s"])
        return [w for w in column.column("wall_s").to_pylist() if w is not None]

    def load(self, ids: Iterable[str]) -> Any:
        """The rows of these cells (those finished), in the order given, as one pyarrow
        Table with every file's columns (null where a cell has none)."""
        done = self.done()
        files = [str(self.path(c)) for c in ids if c in done]
        if not files:
            return pa.table({})
        schema = pa.unify_schemas([pq.read_schema(f) for f in files],
                                  promote_options="permissive")
        return ds.dataset(files, schema=schema, format="parquet").to_table()
