"""``memcglab import``: fixture trees (v1 and v2, tests/fixtures/cgroup-import) and trees
made in tmp_path -> scenarios that load and run; read-only; names, --depth, --scale; every
error; --out never replaces a file memcglab did not write; determinism; this machine's live
hierarchy, read-only."""

from __future__ import annotations

import argparse
import builtins
import hashlib
import io
import os
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

from memcglab.cli.import_cmd import add_import_args, run_import
from memcglab.cli.main import main
from memcglab.errors import ConfigError
from memcglab.live import importer
from memcglab.live.importer import PROTECT_ALL, ImportedTree, read_tree
from memcglab.live.probe import gather
from memcglab.scenario.sim_scenario import load

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "cgroup-import"
V1 = FIXTURES / "v1"
V2 = FIXTURES / "v2"
M = 1 << 20
UNL = 9223372036854771712
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def imp(*argv: str) -> tuple[int, str, str]:
    """``memcglab import ARGV`` in-process, as main() runs a command: argparse errors and
    ConfigError are exit 2 with the message on stderr."""
    p = argparse.ArgumentParser(prog="memcglab import", allow_abbrev=False)
    add_import_args(p)
    out, err = io.StringIO(), io.StringIO()
    try:
        args = p.parse_args(list(argv))
    except SystemExit as e:
        return int(e.code or 0) and 2, "", ""
    try:
        code = int(run_import(args, out, err))
    except ConfigError as e:
        err.write(f"memcglab: error: {e}\n")
        code = 2
    return code, out.getvalue(), err.getvalue()


def toml_of(*argv: str) -> dict[str, Any]:
    code, out, err = imp(*argv)
    assert code == 0, err
    return tomllib.loads(out)


def tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in sorted(os.walk(root)):
        dirnames.sort()
        for name in [*sorted(filenames), "/"]:
            p = Path(dirpath) / name if name != "/" else Path(dirpath)
            st = p.lstat()
            h.update(f"{p.relative_to(root)}\0{st.st_mode:o}\0".encode())
            if name != "/":
                h.update(p.read_bytes())
    return h.hexdigest()


def guard_writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on (until the test ends), any open with a write flag, by os.open or
    builtins.open, fails and is recorded in the list returned. Warm up first: Python's
    first import of a module may try to write its .pyc (it shrugs off the refusal, but it
    would be recorded)."""
    attempts: list[str] = []
    real_os_open = os.open
    real_open = builtins.open

    def guarded_os_open(path: Any, flags: int, *a: Any, **k: Any) -> int:
        if flags & WRITE_FLAGS:
            attempts.append(f"os.open({path!r}, {flags:#o})")
            raise PermissionError(f"write attempted: {path}")
        return real_os_open(path, flags, *a, **k)

    def guarded_open(file: Any, mode: str = "r", *a: Any, **k: Any) -> Any:
        if any(c in mode for c in "wax+"):
            attempts.append(f"open({file!r}, {mode!r})")
            raise PermissionError(f"write attempted: {file}")
        return real_open(file, mode, *a, **k)

    monkeypatch.setattr(os, "open", guarded_os_open)
    monkeypatch.setattr(builtins, "open", guarded_open)
    return attempts


# --- small trees made in tmp_path ---------------------------------------------------------


def put(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def stat_text(ia: int = 0, aa: int = 0, if_: int = 0, af: int = 0) -> str:
    return (f"cache {if_ + af}\nrss {ia + aa}\nshmem 0\ninactive_anon {ia}\nactive_anon {aa}\n"
            f"inactive_file {if_}\nactive_file {af}\nunevictable 0\n")


def v1_group(d: Path, *, limit: int = UNL, soft: int = UNL, use_hierarchy: int = 1,
             lru: tuple[int, int, int, int] = (0, 0, 0, 0), procs: int = 0,
             root: bool = False) -> None:
    put(d / "memory.limit_in_bytes", f"{limit}\n")
    put(d / "memory.soft_limit_in_bytes", f"{soft}\n")
    put(d / "memory.use_hierarchy", f"{use_hierarchy}\n")
    put(d / "memory.stat", stat_text(*lru))
    put(d / "cgroup.procs", "".join(f"{1000 + i}\n" for i in range(procs)))
    if root:
        put(d / "cgroup.sane_behavior", "0\n")


def v2_group(d: Path, *, lru: tuple[int, int, int, int] = (0, 0, 0, 0),
             subtree: str = "memory", procs: int = 0, root: bool = False,
             knobs: dict[str, str] | None = None) -> None:
    put(d / "cgroup.controllers", "cpu memory\n" if root else "memory\n")
    put(d / "cgroup.subtree_control", subtree + "\n")
    put(d / "memory.stat", stat_text(*lru))
    put(d / "cgroup.procs", "".join(f"{1000 + i}\n" for i in range(procs)))
    if not root:
        for f, v in {"memory.max": "max", "memory.high": "max", "memory.low": "0",
                     "memory.min": "0", "memory.current": "0", **(knobs or {})}.items():
            put(d / f, v + "\n")


def copy_fixture(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    return dst


def groups_by_name(tree: ImportedTree) -> dict[str, importer.ImportedGroup]:
    return {g.name: g for g in tree.groups}


# --- the fixtures -------------------------------------------------------------------------


def test_v1_fixture_reads_local_stats_limits_and_processes() -> None:
    tree = read_tree(V1)
    assert tree.interface == "v1" and tree.top_is_root and tree.recursiveprot is None
    assert [(g.name, g.parent, g.path) for g in tree.groups] == [
        ("root", None, ""), ("batch", "root", "batch"), ("idle", "root", "idle"),
        ("web", "root", "web"), ("cache", "web", "web/cache")]
    g = groups_by_name(tree)
    assert (g["web"].limit, g["web"].soft_limit, g["web"].use_hierarchy) == (512 * M, 256 * M,
                                                                             True)
    assert (g["batch"].limit, g["batch"].soft_limit) == (128 * M, None)
    assert g["cache"].limit is None and g["idle"].limit is None
    # v1's plain memory.stat keys are the group's own: nothing is subtracted.
    assert (g["web"].file, g["web"].anon, g["web"].procs) == (120 * M, 50 * M, 2)
    assert (g["web"].own.active_file, g["web"].own.inactive_file) == (20 * M, 100 * M)
    assert (g["cache"].file, g["cache"].anon, g["cache"].procs) == (192 * M, 0, 1)
    assert (g["batch"].file, g["idle"].file, g["root"].file) == (64 * M, 0, 0)
    assert any("usage reads 430M" in n and "add up to 426M" in n for n in tree.notes)


def test_v2_fixture_subtracts_the_children() -> None:
    tree = read_tree(V2)
    assert tree.interface == "v2" and tree.top_is_root
    g = groups_by_name(tree)
    # web's memory.stat is hierarchical: own file = 325,058,560 - 201,326,592 = 118M.
    assert (g["web"].file, g["web"].anon) == (325_058_560 - 201_326_592, 50 * M)
    assert g["web"].file == 118 * M
    assert (g["web"].own.active_file, g["web"].own.inactive_file) == (20 * M, 98 * M)
    assert (g["web"].limit, g["web"].high, g["web"].low, g["web"].min) == (512 * M, None,
                                                                           128 * M, None)
    assert (g["cache"].limit, g["cache"].min, g["cache"].file) == (None, 64 * M, 192 * M)
    assert (g["batch"].high, g["batch"].file, g["batch"].procs) == (256 * M, 64 * M, 1)
    assert g["root"].own.total == 0  # root = web + batch exactly


def _entries(doc: dict[str, Any], table: str, keys: tuple[str, ...]) -> list[tuple[Any, ...]]:
    return [tuple(e.get(k) for k in keys) for e in doc.get(table, [])]


def test_v1_scenario_groups_workloads_and_a_run(tmp_path: Path) -> None:
    out = tmp_path / "v1.toml"
    code, text, err = imp(str(V1), "--out", str(out))
    assert code == 0, err
    assert "wrote" in text and "4 groups under the root, 4 workloads" in text
    doc = tomllib.loads(out.read_text())
    assert (doc["kernel"], doc["variant"], doc["cgroup"], doc["duration"]) == (
        "3.7", "css-id", "v1", "1s")
    assert _entries(doc, "group", ("name", "parent", "limit", "soft_limit")) == [
        ("batch", "root", "128M", None), ("idle", "root", None, None),
        ("web", "root", "512M", "256M"), ("cache", "web", None, None)]
    # web: 120M of file over 2 processes (60M each, each process has its own mapping).
    assert _entries(doc, "workload", ("group", "type", "pattern", "size", "processes",
                                      "rate")) == [
        ("batch", "file", "stream", "64M", 1, "100M"),
        ("web", "file", "stream", "60M", 2, "100M"),
        ("web", "anon", "random", "25M", 2, "100M"),
        ("cache", "file", "loop", "192M", 1, "100M")]
    assert doc["machine"]["pages_per_zone"] == "533M"  # 426M x 5/4, rounded up to 1M
    plan = load(out)
    assert len(plan.workloads) == 4 and plan.kernel == "3.7"
    code = main(["run", str(out), "--duration", "20ms"], io.StringIO(), io.StringIO())
    assert code == 0


def test_v2_scenario_protections_and_a_run(tmp_path: Path) -> None:
    out = tmp_path / "v2.toml"
    assert imp(str(V2), "--out", str(out))[0] == 0
    doc = tomllib.loads(out.read_text())
    assert (doc["kernel"], doc["variant"], doc["cgroup"]) == ("6.18", "current", "v2")
    assert "memory_recursiveprot" not in doc  # the fixture is not in /proc/mounts
    assert _entries(doc, "group", ("name", "parent", "limit", "high", "low", "min")) == [
        ("batch", "root", None, "256M", None, None),
        ("web", "root", "512M", None, "128M", None),
        ("cache", "web", None, None, None, "64M")]
    assert _entries(doc, "workload", ("group", "type", "pattern", "size", "processes")) == [
        ("batch", "file", "stream", "64M", 1), ("web", "file", "stream", "118M", 1),
        ("web", "anon", "random", "50M", 1), ("cache", "file", "loop", "192M", 1)]
    text = out.read_text()
    assert "own file pages 118M" in text and "one process each: web" in text
    err = io.StringIO()
    assert main(["run", str(out), "--duration", "20ms"], io.StringIO(), err) == 0, \
        err.getvalue()


def test_main_knows_import(tmp_path: Path) -> None:
    """Through main(): the command is wired into cli/main.py."""
    out = tmp_path / "s.toml"
    stdout, stderr = io.StringIO(), io.StringIO()
    assert main(["import", str(V2), "--out", str(out)], stdout, stderr) == 0, \
        stderr.getvalue()
    assert main(["run", str(out), "--duration", "20ms"], io.StringIO(), io.StringIO()) == 0
    stderr = io.StringIO()
    assert main(["import", str(tmp_path / "nope")], io.StringIO(), stderr) == 2
    assert "nope" in stderr.getvalue()


def test_header_says_what_was_read_approximated_and_left_out() -> None:
    code, text, _ = imp(str(V1))
    assert code == 0
    assert text.startswith("# memcglab import: cgroup v1 memory hierarchy ")
    for part in ("# Read:", "# Approximated:", "# Left out (not modelled):", "memory.memsw",
                 "memory.kmem", "memory.swappiness", "memory.oom_control",
                 "rate: not observable from one snapshot"):
        assert part in text, part
    code, text, _ = imp(str(V2))
    for part in ("memory.swap.max", "memory.zswap", "memory.oom.group", "kernel memory",
                 "minus the children's"):
        assert part in text, part


# --- read-only ----------------------------------------------------------------------------


def test_import_never_opens_for_writing_and_leaves_the_tree_as_it_was(
        monkeypatch: pytest.MonkeyPatch) -> None:
    before = (tree_hash(V1), tree_hash(V2))
    assert imp(str(V1))[0] == 0 and imp(str(V2))[0] == 0  # warm-up: every module imported
    no_writes = guard_writes(monkeypatch)
    for src in (V1, V2):
        for extra in ((), ("--depth", "0"), ("--scale", "1/4")):
            code, text, err = imp(str(src), *extra)
            assert code == 0, err
            assert text.startswith("# memcglab import:")
    assert no_writes == []
    assert (tree_hash(V1), tree_hash(V2)) == before


def test_the_guard_catches_a_write(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The read-only proof above would notice a write: the guard refuses and records it."""
    no_writes = guard_writes(monkeypatch)
    with pytest.raises(PermissionError):
        os.open(tmp_path / "x", os.O_WRONLY | os.O_CREAT)
    with pytest.raises(PermissionError):
        open(tmp_path / "y", "w")  # noqa: SIM115
    assert len(no_writes) == 2


# --- names, --depth, --scale, kernels -----------------------------------------------------


def test_names_are_sanitised_and_made_unique(tmp_path: Path) -> None:
    top = tmp_path / "mnt"
    v1_group(top, root=True)
    for rel in ("a", "a/x", "b", "b/x", "c:d", "c_d", "root", "user@0.service"):
        v1_group(top / rel, lru=(0, 0, 4 * M, 0), procs=1)
    tree = read_tree(top)
    names = [(g.name, g.path) for g in tree.groups]
    assert names == [("root", ""), ("a", "a"), ("a-x", "a/x"), ("b", "b"), ("b-x", "b/x"),
                     ("root-c_d", "c:d"), ("root-c_d-2", "c_d"), ("root-root", "root"),
                     ("user_0.service", "user@0.service")]
    assert all(importer.NAME_PATTERN.match(n) for n, _ in names)
    code, text, err = imp(str(top))
    assert code == 0, err
    assert "# user@0.service\n[[group]]\nname = \"user_0.service\"" in text
    assert "# a/x\n[[group]]\nname = \"a-x\"\nparent = \"a\"" in text
    assert "renamed" in text and "c:d -> root-c_d" in text
    load_text(text, tmp_path)


def load_text(text: str, tmp_path: Path) -> None:
    f = tmp_path / "loaded.toml"
    f.write_text(text)
    load(f)


def test_depth_folds_deeper_groups_into_their_ancestor(tmp_path: Path) -> None:
    tree = read_tree(V1, depth=0)
    assert [g.name for g in tree.groups] == ["root"]
    root = tree.groups[0]
    # v1 stats are local: the folded groups' pages are added up.
    assert (root.file, root.anon, root.procs) == ((120 + 192 + 64) * M, 50 * M, 4)
    assert root.folded == ("batch", "idle", "web", "web/cache")
    assert any("--depth 0: 4 groups" in n for n in tree.notes)
    tree = read_tree(V2, depth=1)
    g = groups_by_name(tree)
    assert list(g) == ["root", "batch", "web"]
    # v2 at the cut: its hierarchical stat already counts the subtree.
    assert (g["web"].file, g["web"].procs, g["web"].folded) == ((118 + 192) * M, 1,
                                                                ("web/cache",))
    assert g["web"].min is None and g["web"].low == 128 * M
    code, text, _ = imp(str(V2), "--depth", "1")
    assert code == 0 and "web/cache into web" in text
    load_text(text, tmp_path)


def test_depth_stops_above_a_group_without_memory_delegation(tmp_path: Path) -> None:
    top = tmp_path / "v2"
    v2_group(top, root=True)
    v2_group(top / "a", lru=(0, 0, 8 * M, 0), subtree="cpu")
    (top / "a" / "b").mkdir()  # no memory.* files: a does not delegate memory
    put(top / "a" / "b" / "cgroup.procs", "7\n")
    code, _, err = imp(str(top))
    assert code == 2 and f"{top / 'a' / 'cgroup.subtree_control'}:1:" in err
    assert "expected 'memory'" in err and "got 'cpu'" in err and "--depth" in err
    tree = read_tree(top, depth=1)
    a = groups_by_name(tree)["a"]
    assert (a.file, a.procs, a.folded) == (8 * M, 1, ("a/b",))


def test_scale_multiplies_every_size(tmp_path: Path) -> None:
    doc = toml_of(str(V1), "--scale", "1/8")
    assert _entries(doc, "group", ("name", "limit", "soft_limit")) == [
        ("batch", "16M", None), ("idle", None, None), ("web", "64M", "32M"),
        ("cache", None, None)]
    assert _entries(doc, "workload", ("group", "size", "processes")) == [
        ("batch", "8M", 1), ("web", "7680K", 2), ("web", "3200K", 2), ("cache", "24M", 1)]
    assert doc["machine"]["pages_per_zone"] == "67M"  # 53.25M x 5/4, rounded up to 1M
    doc = toml_of(str(V2), "--scale", "2")
    assert _entries(doc, "group", ("name", "limit", "high", "low", "min")) == [
        ("batch", None, "512M", None, None), ("web", "1G", None, "256M", None),
        ("cache", None, None, None, "128M")]
    # A size that scales below one page becomes one page, and the header says so.
    code, text, _ = imp(str(V1), "--scale", "1/100000", "--min-usage", "0")
    assert code == 0 and "rounded up to 4K" in text
    load_text(text, tmp_path)


def test_kernel_618_with_v1_drops_soft_limits(tmp_path: Path) -> None:
    code, text, err = imp(str(V1), "--kernel", "6.18")
    assert code == 0, err
    doc = tomllib.loads(text)
    assert (doc["kernel"], doc["variant"], doc["cgroup"]) == ("6.18", "current", "v1")
    assert all("soft_limit" not in g for g in doc["group"])
    assert "soft limits dropped" in text and "web (256M)" in text
    load_text(text, tmp_path)


def test_use_hierarchy_zero(tmp_path: Path) -> None:
    top = tmp_path / "mnt"
    v1_group(top, root=True)
    v1_group(top / "flat", use_hierarchy=0, lru=(0, 0, 4 * M, 0))
    v1_group(top / "h", lru=(0, 0, 4 * M, 0))
    v1_group(top / "h" / "child", use_hierarchy=0, lru=(0, 0, 4 * M, 0))
    doc = toml_of(str(top))
    assert _entries(doc, "group", ("name", "use_hierarchy")) == [
        ("flat", False), ("h", None), ("child", None)]
    _, text, _ = imp(str(top))
    assert "use_hierarchy = 0 taken as 1" in text and ": child" in text
    load_text(text, tmp_path)
    doc = toml_of(str(top), "--kernel", "6.18")
    assert all("use_hierarchy" not in g for g in doc["group"])


def test_v2_details_clamp_protect_all_recursiveprot_and_a_subtree(tmp_path: Path) -> None:
    top = tmp_path / "cg2"
    # The parent's lazily flushed stat is below its child's: own = 0, said in the notes.
    v2_group(top, root=True, lru=(0, 0, 10 * M, 0))
    v2_group(top / "p", lru=(0, 0, 10 * M, 0), knobs={"memory.low": "max"})
    v2_group(top / "p" / "c", lru=(0, 0, 12 * M, 0), subtree="", procs=1)
    mounts = tmp_path / "mounts"
    mounts.write_text(f"cgroup2 {top} cgroup2 rw,nosuid,memory_recursiveprot 0 0\n")
    tree = read_tree(top, mounts=mounts)
    g = groups_by_name(tree)
    assert tree.top_is_root and tree.recursiveprot is True
    assert g["p"].file == 0 and g["p"].low == PROTECT_ALL
    assert any("p: own pages" in n and "inactive_file (-2097152 bytes)" in n
               for n in tree.notes)
    code, text, err = imp(str(top), "--kernel", "6.18")
    assert code == 0, err
    doc = tomllib.loads(text)
    assert "memory_recursiveprot" not in doc  # this process reads the real /proc/mounts
    assert doc["group"][0]["low"] == doc["machine"]["pages_per_zone"]
    assert "protect everything" in text
    code, _, err = imp(str(top), "--kernel", "3.7")
    assert code == 2 and "kernel 3.7 has cgroup v1 only" in err
    # A group under the mount: it becomes a [[group]] with its own knobs, under root.
    doc = toml_of(str(top / "p"))
    assert doc["group"][0]["name"] == "p" and doc["group"][0]["parent"] == "root"
    assert doc["group"][1]["parent"] == "p"


def test_processes_are_capped(tmp_path: Path) -> None:
    top = tmp_path / "mnt"
    v1_group(top, root=True)
    v1_group(top / "many", lru=(0, 0, 8 * M, 0), procs=300)
    v1_group(top / "tiny", lru=(0, 0, 8192, 0), procs=5)
    doc = toml_of(str(top), "--min-usage", "0")
    assert _entries(doc, "workload", ("group", "size", "processes")) == [
        ("many", "32K", 256), ("tiny", "4K", 2)]
    _, text, _ = imp(str(top), "--min-usage", "0")
    assert "processes capped at 256" in text and "many (300)" in text


def test_a_group_removed_while_it_is_read_is_left_out(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    top = copy_fixture(V1, tmp_path)
    real = importer._V1Reader.stat

    def racing(self: Any, rel: str) -> Any:
        if rel == "idle":
            shutil.rmtree(top / "idle")  # rmdir by someone else, after the listing
        return real(self, rel)

    monkeypatch.setattr(importer._V1Reader, "stat", racing)
    tree = read_tree(top)
    assert [g.name for g in tree.groups] == ["root", "batch", "web", "cache"]
    assert any("removed while they were read (left out): idle" in n for n in tree.notes)


# --- no workload --------------------------------------------------------------------------


def test_no_workload_is_exit_2_naming_the_groups(tmp_path: Path) -> None:
    top = tmp_path / "mnt"
    v1_group(top, root=True)
    v1_group(top / "a")
    v1_group(top / "b")
    code, out, err = imp(str(top))
    assert code == 2 and out == ""
    assert "would have no workload" in err and "every group read has no own" in err
    assert "Groups read (3): root (file 0, anon 0), a (file 0, anon 0), b" in err
    code, _, err = imp(str(V1), "--min-usage", "1G")
    assert code == 2 and "reach --min-usage 1G (the largest: cache, 192M)" in err


# --- errors -------------------------------------------------------------------------------


def _broken(tmp_path: Path, rel: str, text: str | None) -> Path:
    top = copy_fixture(V1, tmp_path)
    if text is None:
        (top / rel).unlink()
    else:
        (top / rel).write_text(text)
    return top


@pytest.mark.parametrize(("rel", "text", "expected"), [
    ("web/memory.stat", None, "web/memory.stat: missing; expected the cgroup v1 memory"),
    ("web/memory.stat", "inactive_anon 0\nactive_anon lots\n",
     "web/memory.stat:2: key 'active_anon': expected an integer (bytes or a count), got "
     "'lots'"),
    ("web/memory.stat", "inactive_anon 0\nactive_anon 0\nhello\n",
     "web/memory.stat:3: expected 'KEY INTEGER'"),
    ("web/memory.stat", "inactive_anon 0\nactive_anon 0\n",
     "web/memory.stat: expected the LRU keys inactive_anon, active_anon, inactive_file, "
     "active_file; missing: inactive_file, active_file"),
    ("web/memory.limit_in_bytes", "512M\n",
     "web/memory.limit_in_bytes:1: expected an integer number of bytes, got '512M'"),
    ("web/memory.use_hierarchy", "yes\n", "web/memory.use_hierarchy:1: expected 0 or 1"),
    ("web/cgroup.procs", "101\nabc\n",
     "web/cgroup.procs:2: expected a process id (an integer), got 'abc'"),
])
def test_a_bad_file_names_file_line_expected_and_got(tmp_path: Path, rel: str,
                                                     text: str | None, expected: str) -> None:
    top = _broken(tmp_path, rel, text)
    code, out, err = imp(str(top))
    assert code == 2 and out == "", err
    assert f"{top}/{expected}" in err, err


def test_v2_errors(tmp_path: Path) -> None:
    top = copy_fixture(V2, tmp_path)
    (top / "web" / "memory.max").write_text("lots\n")
    code, _, err = imp(str(top))
    assert code == 2 and f"{top}/web/memory.max:1: expected an integer number of bytes or " \
                         "'max', got 'lots'" in err
    (top / "web" / "memory.max").write_text("max\n")
    (top / "cgroup.subtree_control").write_text("cpu io\n")
    code, _, err = imp(str(top))
    assert code == 2 and f"{top}/cgroup.subtree_control:1: expected 'memory'" in err
    assert "got 'cpu io'" in err
    (top / "cgroup.subtree_control").write_text("memory\n")
    (top / "cgroup.controllers").write_text("hugetlb\n")
    code, _, err = imp(str(top))
    assert code == 2 and f"{top}/cgroup.controllers:1: expected 'memory'" in err
    assert "got 'hugetlb'" in err


def test_not_a_memory_hierarchy(tmp_path: Path) -> None:
    code, _, err = imp(str(tmp_path))
    assert code == 2 and f"{tmp_path}: not a cgroup memory hierarchy" in err
    put(tmp_path / "cpu" / "cgroup.procs", "")
    code, _, err = imp(str(tmp_path / "cpu"))
    assert code == 2 and "a cgroup hierarchy of other controllers" in err
    code, _, err = imp(str(tmp_path / "missing"))
    assert code == 2 and f"{tmp_path / 'missing'}: cannot read" in err
    code, _, err = imp(str(V1 / "memory.stat"))
    assert code == 2 and "not a directory" in err


@pytest.mark.parametrize(("flags", "expected"), [
    (("--depth", "-1"), "--depth: expected 0 or more, got -1"),
    (("--scale", "0"), "--scale: expected a factor like 1/8"),
    (("--scale", "1/0"), "--scale: expected a factor like 1/8"),
    (("--scale", "half"), "--scale: expected a factor like 1/8"),
    (("--rate", "0"), "--rate: expected at least 4K, got '0'"),
    (("--rate", "fast"), "--rate: expected a size like 4K"),
    (("--duration", "0ms"), "--duration: expected more than 0"),
    (("--duration", "11min"), "at most 10min"),
    (("--min-usage", "x"), "--min-usage: expected a size"),
    (("--force",), "--force: only has a meaning with --out FILE"),
])
def test_bad_flags(flags: tuple[str, ...], expected: str) -> None:
    code, _, err = imp(str(V1), *flags)
    assert code == 2 and expected in err, err


def test_argparse_refuses_an_unknown_kernel() -> None:
    assert imp(str(V1), "--kernel", "5.10")[0] == 2


# --- --out --------------------------------------------------------------------------------


def test_out_never_replaces_a_file_memcglab_did_not_write(tmp_path: Path) -> None:
    mine = tmp_path / "notes.toml"
    mine.write_text("# my own scenario\nseed = 1\n")
    for extra in ((), ("--force",)):
        code, _, err = imp(str(V1), "--out", str(mine), *extra)
        assert code == 2 and "memcglab import did not write it" in err
        assert mine.read_text() == "# my own scenario\nseed = 1\n"
    out = tmp_path / "s.toml"
    assert imp(str(V1), "--out", str(out))[0] == 0
    first = out.read_bytes()
    code, _, err = imp(str(V2), "--out", str(out))
    assert code == 2 and "pass --force" in err and out.read_bytes() == first
    assert imp(str(V2), "--out", str(out), "--force")[0] == 0
    assert out.read_bytes() != first and b"cgroup v2" in out.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.toml", "s.toml"]  # no temp
    code, _, err = imp(str(V1), "--out", str(tmp_path))
    assert code == 2 and "is a directory" in err
    code, _, err = imp(str(V1), "--out", str(tmp_path / "no" / "such" / "x.toml"))
    assert code == 2 and "does not exist" in err


def test_out_is_never_inside_the_hierarchy(tmp_path: Path) -> None:
    top = copy_fixture(V1, tmp_path)
    before = tree_hash(top)
    code, _, err = imp(str(top), "--out", str(top / "web" / "x.toml"))
    assert code == 2 and "inside the hierarchy being read" in err
    assert tree_hash(top) == before


# --- determinism --------------------------------------------------------------------------


def test_the_same_tree_gives_the_same_bytes(tmp_path: Path) -> None:
    for src in (V1, V2):
        a = imp(str(src))[1]
        b = imp(str(src))[1]
        assert a == b and a
        out = tmp_path / f"{src.name}.toml"
        assert imp(str(src), "--out", str(out))[0] == 0
        assert out.read_text() == a


def test_creation_order_does_not_matter(tmp_path: Path) -> None:
    texts = []
    for name, order in (("one", ("b", "a", "c")), ("two", ("c", "a", "b"))):
        top = tmp_path / name / "mnt"
        v1_group(top, root=True)
        for rel in order:
            v1_group(top / rel, lru=(0, 0, 2 * M, 0), procs=1)
        code, text, err = imp(str(top))
        assert code == 0, err
        texts.append(text.replace(str(top), "SRC"))
    assert texts[0] == texts[1]


def test_a_machine_too_big_for_the_simulator_suggests_a_scale(tmp_path: Path) -> None:
    top = tmp_path / "big"
    v1_group(top, root=True)
    v1_group(top / "huge", lru=(0, 0, 60 << 30, 0), procs=1)
    code, _, err = imp(str(top))
    assert code == 2 and "more than the simulator holds" in err
    assert "--scale 1/2 or more" in err
    doc = toml_of(str(top), "--scale", "1/2")
    assert doc["machine"]["pages_per_zone"] == "38400M"  # 30G x 5/4


# --- this machine -------------------------------------------------------------------------


def _live_memory_hierarchy() -> Path | None:
    probe = gather()
    if probe.memory_v1_mount is not None:
        return Path(probe.memory_v1_mount)
    if probe.memory_v2 and probe.cgroup_v2_mount is not None:
        return Path(probe.cgroup_v2_mount)
    return None


def test_this_machines_hierarchy_read_only(monkeypatch: pytest.MonkeyPatch) -> None:
    live = _live_memory_hierarchy()
    if live is None:
        pytest.skip("no memory hierarchy is mounted on this machine (neither a cgroup v1 "
                    "memory mount nor a cgroup2 mount with the memory controller)")
    assert imp(str(V1))[0] == 0  # warm-up (see guard_writes)
    no_writes = guard_writes(monkeypatch)
    # --min-usage 0: any own page makes a workload, so a quiet machine still gives a
    # scenario to check (the root memcg always holds a few pages).
    code, text, err = imp(str(live), "--depth", "2", "--min-usage", "0",
                          "--duration", "20ms")
    assert no_writes == []
    if code == 2:  # a machine whose groups hold no page at all: the refusal is the answer
        assert "would have no workload" in err and "Groups read" in err
        return
    assert code == 0, err  # run_import has loaded and built it as `memcglab run` would
    assert text.startswith("# memcglab import: cgroup v")
    doc = tomllib.loads(text)
    assert doc["workload"] and doc["duration"] == "20ms"
    assert all(importer.NAME_PATTERN.match(g["name"]) for g in doc.get("group", []))


def test_this_machines_import_loads_and_runs(tmp_path: Path) -> None:
    live = _live_memory_hierarchy()
    if live is None:
        pytest.skip("no memory hierarchy is mounted on this machine")
    out = tmp_path / "live.toml"
    code, _, err = imp(str(live), "--depth", "2", "--min-usage", "0", "--duration", "20ms",
                       "--out", str(out))
    if code == 2:
        assert "would have no workload" in err
        return
    assert code == 0, err
    plan = load(out)
    assert plan.workloads and plan.duration_ns == 20_000_000


def test_default_path_is_this_machines_hierarchy(monkeypatch: pytest.MonkeyPatch) -> None:
    from memcglab.cli import import_cmd

    live = _live_memory_hierarchy()
    if live is None:
        with pytest.raises(ConfigError, match="no memory hierarchy is mounted"):
            import_cmd.default_path()
    else:
        assert import_cmd.default_path() == live
