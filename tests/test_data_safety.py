"""--out never destroys data: memcglab's marker, --force, inputs and the current folder,
fail-fast checks, signals, failed writes, symbolic links, compare folders; replay lines."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memcglab.report.outdir import MARKER, read_marker
from memcglab.report.sim_report import variant_folders
from tests.conftest import cli

ROOT = Path(__file__).resolve().parents[1]
FLAT = str(ROOT / "scenarios" / "flat-limit.toml")
MANY = str(ROOT / "scenarios" / "many-reclaimers.toml")
HALF = ROOT / "examples" / "variants" / "half_locked.py"
RUN = ("--duration", "10ms", "--no-progress")
OUTPUTS = {"metrics.json", "timeseries.csv", "timeseries.parquet", "usage_reclaim.png",
           "shares.png", "report.html", MARKER}


def _user_files(d: Path) -> dict[str, str]:
    """A folder of the user's own: files memcglab must never touch."""
    (d / "sub").mkdir(parents=True)
    files = {"notes.txt": "my notes\n", "sub/data.csv": "1,2\n"}
    for name, body in files.items():
        (d / name).write_text(body)
    return files


def _intact(d: Path, files: dict[str, str]) -> bool:
    return all((d / n).read_text() == body for n, body in files.items())


def _debris(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_folder_memcglab_did_not_write_is_refused(tmp_path: Path) -> None:
    mine = tmp_path / "mydir"
    files = _user_files(mine)
    for extra in ((), ("--force",)):
        code, out, err = cli("run", FLAT, *RUN, "--out", str(mine), *extra)
        assert code == 2 and out == ""
        assert "memcglab did not write it" in err and MARKER in err and "--force" in err
        assert _intact(mine, files) and sorted(os.listdir(mine)) == ["notes.txt", "sub"]
    code, _, err = cli("compare", MANY, "--variants", "css-id,seed-spinlock", *RUN,
                       "--out", str(mine))
    assert code == 2 and _intact(mine, files)
    assert _debris(tmp_path) == []


def test_the_current_folder_its_parents_and_inputs_are_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    proj = home / "proj"
    files = _user_files(proj)
    (home / ".bashrc").write_text("x\n")
    scen = proj / "s.toml"
    shutil.copy(FLAT, scen)
    monkeypatch.chdir(proj)
    for out, why in ((".", "the current folder"), ("", "expected a folder name"),
                     ("..", "a parent of the current folder"),
                     (str(home), "a parent of the current folder"),
                     (str(proj), "the current folder"), ("./", "the current folder")):
        code, _, err = cli("run", str(scen), *RUN, "--out", out)
        assert code == 2 and why in err, (out, err)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    for out in (str(proj), str(home)):  # they hold the scenario
        code, _, err = cli("run", str(scen), *RUN, "--out", out)
        assert code == 2 and f"holds the input {scen}" in err
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    shutil.copy(HALF, plugin_dir / "h.py")
    code, _, err = cli("run", FLAT, *RUN, "--variant", f"{plugin_dir}/h.py:HalfLockedIter",
                       "--out", str(plugin_dir))
    assert code == 2 and "holds the input" in err and "h.py" in err
    assert _intact(proj, files) and (home / ".bashrc").read_text() == "x\n"
    assert _debris(tmp_path) == [] and _debris(home) == [".bashrc"]


def test_marker_lists_the_files_and_force_replaces_only_those(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert cli("run", FLAT, *RUN, "--out", str(out))[0] == 0
    assert set(os.listdir(out)) == OUTPUTS
    first, listed = read_marker(out)  # type: ignore[misc]
    assert "memcglab run" in first and set(listed) == OUTPUTS - {MARKER}
    code, _, err = cli("run", FLAT, *RUN, "--out", str(out))
    assert code == 2 and "earlier `memcglab run`" in err and "--force" in err
    (out / "mine.txt").write_text("keep me\n")
    (out / "metrics.json").write_text("old")
    assert cli("run", FLAT, *RUN, "--seed", "7", "--out", str(out), "--force")[0] == 0
    assert (out / "mine.txt").read_text() == "keep me\n"
    assert json.loads((out / "metrics.json").read_text())["scenario"]["seed"] == 7
    # compare over it: run's files go, compare's come, the user's file stays
    code, _, err = cli("compare", MANY, "--variants", "css-id,seed-spinlock", *RUN,
                       "--out", str(out), "--force")
    assert code == 0, err
    assert not (out / "metrics.json").exists() and (out / "compare.json").exists()
    (out / "css-id" / "mine-too.txt").write_text("also mine\n")
    assert cli("run", FLAT, *RUN, "--out", str(out), "--force")[0] == 0
    assert not (out / "seed-spinlock").exists() and not (out / "compare.json").exists()
    assert sorted(os.listdir(out / "css-id")) == ["mine-too.txt"]
    assert set(os.listdir(out)) == OUTPUTS | {"mine.txt", "css-id"}
    assert _debris(out) == [MARKER] and _debris(tmp_path) == []


def test_a_forged_marker_cannot_delete_anything_outside(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (out / "link").symlink_to(tmp_path)
    (out / MARKER).write_text("memcglab output folder: written by `memcglab run`\nfiles:\n"
                              f"../victim.txt\n{victim}\nlink/victim.txt\n")
    code, _, err = cli("run", FLAT, *RUN, "--out", str(out), "--force")
    assert code == 0, err
    assert victim.read_text() == "precious\n" and (out / "link").is_symlink()


def test_out_is_checked_before_simulating(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*a: object, **k: object) -> None:
        raise AssertionError("simulated before checking --out")

    monkeypatch.setattr("memcglab.cli.run_cmd.simulate", never)
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out, why in (("/dev/null/x", "/dev/null is not a directory"),
                     (str(afile), "exists and is not a directory"),
                     (f"{afile}/deeper/x", "is not a directory"),
                     ("/proc/memcglab-no/x", "cannot create it")):
        code, _, err = cli("run", FLAT, *RUN, "--out", out)
        assert code == 2 and why in err, (out, err)
    code, _, err = cli("run", FLAT, *RUN, "--force")
    assert code == 2 and "--force" in err and "--out" in err
    assert _debris(tmp_path) == []


def test_a_failed_write_leaves_no_debris_and_no_parents_it_made(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*a: object, **k: object) -> bytes:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("memcglab.report.plots.usage_and_reclaim", full)
    code, _, err = cli("run", FLAT, *RUN, "--out", str(tmp_path / "deep" / "x" / "out"))
    assert code == 2 and "cannot write: No space left on device" in err
    assert os.listdir(tmp_path) == []
    old = tmp_path / "old"
    monkeypatch.undo()
    assert cli("run", FLAT, *RUN, "--out", str(old))[0] == 0
    before = {p.name: p.read_bytes() for p in old.iterdir()}
    monkeypatch.setattr("memcglab.report.plots.usage_and_reclaim", full)
    assert cli("run", FLAT, *RUN, "--seed", "3", "--out", str(old), "--force")[0] == 2
    assert {p.name: p.read_bytes() for p in old.iterdir()} == before  # the old output stays


def test_a_symlinked_out_is_written_through_never_replaced(tmp_path: Path) -> None:
    (tmp_path / "target").mkdir()
    link = tmp_path / "link"
    link.symlink_to("target")
    assert cli("run", FLAT, *RUN, "--out", str(link))[0] == 0
    assert link.is_symlink() and os.readlink(link) == "target"
    assert set(os.listdir(tmp_path / "target")) == OUTPUTS
    (tmp_path / "dangling").symlink_to("nowhere")
    code, _, err = cli("run", FLAT, *RUN, "--out", str(tmp_path / "dangling"))
    assert code == 2 and "does not exist" in err and (tmp_path / "dangling").is_symlink()


def test_compare_variants_never_share_a_folder(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(set(variant_folders(["a/b.py:C", "a_b.py:C", "A_b.py:C"]).values())) == 3
    assert variant_folders(["css-id", "seed-spinlock"]) == {"css-id": "css-id",
                                                            "seed-spinlock": "seed-spinlock"}
    (tmp_path / "a").mkdir()
    shutil.copy(HALF, tmp_path / "a" / "b.py")
    shutil.copy(HALF, tmp_path / "a_b.py")
    monkeypatch.chdir(tmp_path)
    code, text, err = cli("compare", MANY, "--variants",
                          "a/b.py:HalfLockedIter,a_b.py:HalfLockedIter", *RUN, "--out", "oc")
    assert code == 0, err
    folders = sorted(p for p in (tmp_path / "oc").iterdir() if p.is_dir())
    assert len(folders) == 2
    seen = {json.loads((f / "metrics.json").read_text())["scenario"]["variant"]
            for f in folders}
    assert seen == {"a/b.py:HalfLockedIter", "a_b.py:HalfLockedIter"}
    assert all(f"{f.name}/" in text for f in folders)


# -- signals: a real process, SIGTERM at a known moment ------------------------------------

CHILD = """
import sys, time, pathlib
from memcglab.cli.main import main
from memcglab.report import sim_report
import memcglab.cli.run_cmd as run_cmd
flag, where = pathlib.Path(sys.argv[1]), sys.argv[2]
def stall():
    flag.write_text("now")
    time.sleep(60)
if where == "write":
    orig = sim_report.write_parquet
    def slow(path, header, rows):
        orig(path, header, rows)
        stall()
    sim_report.write_parquet = slow
else:
    orig_sim = run_cmd.simulate
    def slow_sim(plan, *a):
        stall()
    run_cmd.simulate = slow_sim
raise SystemExit(int(main(sys.argv[3:])))
"""


def _terminate_at(where: str, tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    flag = tmp_path / "flag"
    p = subprocess.Popen([sys.executable, "-c", CHILD, str(flag), where, *argv],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    deadline = time.monotonic() + 60
    while not flag.exists() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert flag.exists(), p.communicate()
    flag.unlink()
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def test_sigterm_while_writing_leaves_nothing_behind(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    r = _terminate_at("write", tmp_path, "run", FLAT, *RUN, "--out", str(base / "new" / "out"))
    assert r.returncode == 143 and "memcglab: terminated (SIGTERM)" in r.stderr
    assert os.listdir(base) == []  # no .out.XXXX folder, no parent it created
    old = base / "old"
    assert cli("run", FLAT, *RUN, "--out", str(old))[0] == 0
    before = {p.name: p.read_bytes() for p in old.iterdir()}
    r = _terminate_at("write", tmp_path, "compare", MANY, "--variants",
                      "css-id,seed-spinlock", *RUN, "--out", str(old), "--force")
    assert r.returncode == 143
    assert {p.name: p.read_bytes() for p in old.iterdir()} == before
    assert os.listdir(base) == ["old"]


def test_sigterm_while_simulating_exits_143_with_a_message(tmp_path: Path) -> None:
    r = _terminate_at("simulate", tmp_path, "run", FLAT, *RUN, "--json",
                      "--out", str(tmp_path / "out"))
    assert r.returncode == 143 and r.stderr.endswith("memcglab: terminated (SIGTERM)\n")
    assert r.stdout == "" and not (tmp_path / "out").exists()


# -- printed command lines ---------------------------------------------------------------


def test_replay_lines_are_never_wrapped(tmp_path: Path) -> None:
    deep = tmp_path / ("a-rather-long-folder-name-" * 4) / "and-another-one-for-good-measure"
    deep.mkdir(parents=True)
    scen = deep / "flat-limit.toml"
    shutil.copy(FLAT, scen)
    code, text, _ = cli("run", str(scen), *RUN)
    assert code == 0
    replay = [ln for ln in text.splitlines() if ln.startswith("replay:")]
    assert len(replay) == 1 and len(replay[0]) > 120
    assert replay[0].endswith("--scheduler random --duration 10ms")
    code, text, _ = cli("compare", str(scen), "--variants", f"css-id,{HALF}:HalfLockedIter",
                        *RUN)
    assert code == 0
    lines = [ln for ln in text.splitlines() if ln.startswith("replay ")]
    assert len(lines) == 2 and all(ln.endswith("--duration 10ms") for ln in lines)


def test_the_scenarios_variant_path_is_relative_to_the_scenario(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "s"
    d.mkdir()
    shutil.copy(HALF, d / "half_locked.py")
    body = Path(FLAT).read_text()
    assert body.splitlines()[3] == 'variant = "css-id"'
    (d / "s.toml").write_text(body.replace('"css-id"', '"half_locked.py:HalfLockedIter"'))
    (d / "bad.toml").write_text(body.replace('"css-id"', '"nope.py:X"'))
    monkeypatch.chdir(tmp_path)
    code, text, err = cli("run", "s/s.toml", *RUN)
    assert code == 0, err
    assert f"--variant {d}/half_locked.py:HalfLockedIter" in text  # replays from anywhere
    code, _, err = cli("run", "s/bad.toml", *RUN)
    assert code == 2 and "s/bad.toml:4:" in err and f"'{d}/nope.py' does not exist" in err
