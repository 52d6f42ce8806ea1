"""Bad input is refused precisely: strict types, the file line (or the flag) of every
message, one message per mistake, bounds on time and memory, help for every flag."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from memcglab.cli.main import parser
from memcglab.scenario.validation import toml_index
from memcglab.sim.budget import estimate
from tests.conftest import cli

ROOT = Path(__file__).resolve().parents[1]
FLAT = str(ROOT / "scenarios" / "flat-limit.toml")
WORKLOAD = '[[workload]]\ngroup = "a"\npattern = "loop"\nsize = "1M"\nrate = "1M"\n'
GROUP_A = '[[group]]\nname = "a"\n'


def _write(tmp_path: Path, body: str | bytes, name: str = "x.toml") -> str:
    f = tmp_path / name
    if isinstance(body, bytes):
        f.write_bytes(body)
    else:
        f.write_text(body)
    return str(f)


# -- strict types ---------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "needle"), [
    ("[reclaim]\nreclaimers = true\n", ":2: field 'reclaim.reclaimers': expected an integer, "
                                       "got true (a boolean)"),
    ('[reclaim]\nreclaimers = "2"\n', ":2: field 'reclaim.reclaimers': expected an integer, "
                                      "got '2' (a string)"),
    ("[reclaim]\nreclaimers = 2.0\n", "expected an integer, got 2.0 (a float)"),
    ('[hierarchy]\nuse_hierarchy = "yes"\n', ":2: field 'hierarchy.use_hierarchy': expected "
                                             "true or false, got 'yes'"),
    ("[explore]\nsymmetry = 1\n", "expected true or false, got 1 (an integer)"),
    ("hierarchy = 5\n", ":1: field 'hierarchy': expected a table, got 5 (an integer)"),
    ('[explore]\ntime_budget = "5"\n', "field 'explore.time_budget': expected a number"),
    ("[explore]\ntime_budget = inf\n", "expected a finite number, got inf"),
])
def test_check_config_types_are_strict(body: str, needle: str, tmp_path: Path) -> None:
    code, _, err = cli("check", "--config", _write(tmp_path, body))
    assert code == 2 and needle in err, err


@pytest.mark.parametrize(("body", "needle"), [
    ('kswapd = "yes"\n' + GROUP_A + WORKLOAD, ":1: field 'kswapd': expected true or false, "
                                              "got 'yes' (a string)"),
    ('cpus = "12"\n' + GROUP_A + WORKLOAD, ":1: field 'cpus': expected an integer, got '12'"),
    ("cpus = 2.0\n" + GROUP_A + WORKLOAD, "expected an integer, got 2.0 (a float)"),
    ("seed = true\n" + GROUP_A + WORKLOAD, ":1: field 'seed': expected an integer, got true"),
    ("[machine]\nswap = 1\n" + GROUP_A + WORKLOAD, ":2: field 'machine.swap': expected true "
                                                   "or false, got 1"),
    (GROUP_A + "limit = true\n" + WORKLOAD, ":3: field 'group.0.limit': expected a size"),
    ("duration = 1.5\n" + GROUP_A + WORKLOAD, ":1: field 'duration': expected a duration"),
    (GROUP_A + "limit = 1.5\n" + WORKLOAD, ":3: field 'group.0.limit': expected a size"),
    (GROUP_A + WORKLOAD + "processes = true\n", ":8: field 'workload.0.processes': expected "
                                                "an integer"),
    ('sample_interval = "１ms"\n' + GROUP_A + WORKLOAD, ":1: field 'sample_interval': "
                                                       "expected a duration"),
])
def test_scenario_types_are_strict(body: str, needle: str, tmp_path: Path) -> None:
    code, out, err = cli("run", _write(tmp_path, body), "--no-progress")
    assert code == 2 and needle in err, err
    assert out == ""


def test_a_union_mistake_is_one_message(tmp_path: Path) -> None:
    code, _, err = cli("run", _write(tmp_path, "duration = 1.5\n" + GROUP_A + WORKLOAD))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert ".str'" not in err and ".int'" not in err


# -- where: file line or flag ---------------------------------------------------------------

@pytest.mark.parametrize(("body", "needle"), [
    # run: the semantic checks name the line of the key or table at fault
    (GROUP_A + WORKLOAD + WORKLOAD.replace('"a"', '"nope"'),
     ":9: workload[1].group 'nope': no such group"),
    (GROUP_A + GROUP_A + WORKLOAD, ":4: group 'a' declared twice"),
    ('[[group]]\nname = "b"\nparent = "a"\n' + GROUP_A + WORKLOAD,
     ":3: group 'b': parent 'a' is not declared before it"),
    ('kernel = "3.7"\n' + GROUP_A
     + '[[group]]\nname = "b"\nparent = "a"\nuse_hierarchy = false\n' + WORKLOAD,
     ":7: group 'b': use_hierarchy = false under 'a'"),
    (GROUP_A + '[[group]]\nname = "b"\nparent = "a"\nuse_hierarchy = false\n' + WORKLOAD,
     ":6: group 'b': use_hierarchy = false: kernel 6.18 refuses it"),
    ('kernel = "3.7"\n' + GROUP_A + 'low = "1M"\n' + WORKLOAD,
     ":4: group 'a': low (memory.low) is a cgroup v2 knob; this scenario is cgroup v1"),
    ('cgroup = "v1"\n' + GROUP_A + 'min = "1M"\n' + WORKLOAD,
     ":4: group 'a': min (memory.min) is a cgroup v2 knob; this scenario is cgroup v1 "
     "(kernel 6.18); valid here: limit, soft_limit"),
    (GROUP_A + 'soft_limit = "1M"\n' + WORKLOAD,
     ":3: group 'a': soft_limit (memory.soft_limit_in_bytes) is a cgroup v1 knob; this "
     "scenario is cgroup v2 (kernel 6.18); valid here: limit, high, low, min"),
    ('cgroup = "v1"\n' + GROUP_A + 'soft_limit = "1M"\n' + WORKLOAD,
     ":4: group 'a': soft_limit: v1 soft-limit reclaim of kernel 6.18"),
    ('kernel = "3.7"\ncgroup = "v2"\n' + GROUP_A + WORKLOAD,
     ":2: cgroup \"v2\": kernel 3.7 has cgroup v1 only"),
    ('kernel = "3.7"\nmemory_recursiveprot = true\n' + GROUP_A + WORKLOAD,
     ":2: memory_recursiveprot is a mount option of cgroup v2; this scenario is cgroup v1"),
    ('kernel = "6.18"\nvariant = "css-id"\n' + GROUP_A + WORKLOAD,
     ":2: variant 'css-id' runs on memcglab's kernel 3.7 page reclaim"),
    ('kernel = "5.4"\n' + GROUP_A + WORKLOAD,
     ":1: field 'kernel': Input should be '3.7' or '6.18'"),
    ('[machine]\nwatermarks = { min = "8M", low = "4M" }\n' + GROUP_A + WORKLOAD,
     ":2: machine.watermarks: expected min <= low <= high"),
    (GROUP_A + 'created_at = "5s"\n' + WORKLOAD, ":3: group 'a': created_at '5s' is not before"),
    (GROUP_A + 'removed_at = "10ms"\n[[group]]\nname = "b"\nparent = "a"\n' + WORKLOAD,
     ":4: group 'b' must live within its parent 'a'"),
    (GROUP_A + WORKLOAD + 'start = "2s"\n', ":8: workload[0] runs 2000ms..1000ms"),
    ("duration = 0\n" + GROUP_A + WORKLOAD, ":1: duration: expected more than 0, got 0"),
    ("duration = -1\n" + GROUP_A + WORKLOAD, ":1: duration: expected more than 0, got -1"),
    ('duration = "0.0000001ms"\n' + GROUP_A + WORKLOAD, ":1: duration: expected more than 0"),
    ('duration = "11min"\n' + GROUP_A + WORKLOAD, ":1: duration: expected at most 10min"),
    ('variant = ""\n' + GROUP_A + WORKLOAD, ":1: unknown variant ''"),
    ('variant = "nope.py:X"\n' + GROUP_A + WORKLOAD, ":1: variant file"),
])
def test_scenario_messages_name_the_line(body: str, needle: str, tmp_path: Path) -> None:
    code, _, err = cli("run", _write(tmp_path, body), "--no-progress")
    assert code == 2 and needle in err, err
    assert "created_at None" not in err


@pytest.mark.parametrize(("body", "needle"), [
    ('[hierarchy]\nshape = "nested"\n[[hierarchy.group]]\nname = "A"\n'
     '[[hierarchy.group]]\nname = "B"\nparent = "Q"\n', ":7: group 'B': parent 'Q' is not"),
    ('[hierarchy]\nshape = "nested"\n[[hierarchy.group]]\nname = "A"\n[[hierarchy.group]]\n'
     'name = "B"\nparent = "A"\nuse_hierarchy = false\n', ":8: group 'B': use_hierarchy"),
    ("[hierarchy]\ngroups = 3\n[reclaim]\npriorities = [12, 13]\n", ":4: [reclaim] priorities"),
    ("[reclaim]\nzones = [3]\n", ":2: [reclaim] zones"),
    ('[reclaim]\nmode = "limit"\ntarget = "Q"\n', ":3: [reclaim] target 'Q': no such group"),
    ('[reclaim]\ntarget = "A"\n', ":2: [reclaim] target is for mode = 'limit'"),
    ('[[change]]\nop = "rmdir"\ngroup = "A"\n[[change]]\nop = "rmdir"\ngroup = "Z"\n',
     ":6: change rmdir 'Z': no such group"),
    ('[[change]]\nop = "rmdir"\ngroup = "A"\n[[change]]\nop = "rmdir"\ngroup = "A"\n',
     ":4: change rmdir 'A' given twice"),
    ('variant = ""\n', ":1: unknown variant ''"),
])
def test_check_messages_name_the_line(body: str, needle: str, tmp_path: Path) -> None:
    code, _, err = cli("check", "--config", _write(tmp_path, body))
    assert code == 2 and needle in err, err


def test_flag_values_are_blamed_on_the_flag_not_the_file() -> None:
    cfg = str(ROOT / "examples" / "check" / "limit-nested-churn.toml")
    code, _, err = cli("check", "--config", cfg, "--walks", "0")
    assert code == 2 and "command line: field 'reclaim.walks' (--walks)" in err
    assert f"{cfg}:" not in err
    code, _, err = cli("check", "--config", cfg, "--target", "nope")
    assert code == 2 and "command line (--target): [reclaim] target 'nope'" in err
    code, _, err = cli("run", FLAT, "--duration", "0ms")
    assert code == 2 and "command line (--duration): duration: expected more than 0" in err
    code, _, err = cli("run", FLAT, "--duration", "1h")
    assert code == 2 and "command line: field '--duration'" in err


def test_clear_messages_for_degenerate_configurations() -> None:
    code, _, err = cli("check", "--mode", "limit", "--groups", "1")
    assert code == 2 and "None" not in err and "the hierarchy has none" in err
    code, _, err = cli("check", "--groups", "1", "--change", "mkdir:root")
    assert code == 2 and "groups: (none besides the root)" in err


def test_time_budget_inf_and_nan_are_refused() -> None:
    for value in ("inf", "nan", "1e999"):
        code, _, err = cli("check", "--time-budget", value)
        assert code == 2 and "(--time-budget)" in err, err


def test_non_utf8_input_is_a_user_error(tmp_path: Path) -> None:
    f = _write(tmp_path, b"\xff\xfe x\n", "m.toml")
    for argv in (("check", "--config", f), ("run", f),
                 ("compare", f, "--variants", "css-id,seed-spinlock")):
        code, _, err = cli(*argv)
        assert code == 2 and f"{f}:1: not UTF-8 text" in err and "Traceback" not in err


def test_toml_index_finds_keys_tables_and_skips_strings() -> None:
    text = ('a = 1\n[t]\nb = """\nc = 2\n"""\nd = [\n  1,\n]\ne = { f = 1 }\n'
            '[[arr]]\ng = 1\n[[arr]]\ng = 2\n[t.sub]\nh = "x = 1"\n')
    idx = toml_index(text)
    assert idx[("a",)] == 1 and idx[("t",)] == 2 and idx[("t", "b")] == 3
    assert ("t", "c") not in idx and idx[("t", "d")] == 6 and idx[("t", "e")] == 9
    assert idx[("arr", 0, "g")] == 11 and idx[("arr", 1, "g")] == 13
    assert idx[("t", "sub", "h")] == 15 and ("t", "sub", "x") not in idx


# -- flags -----------------------------------------------------------------------------------

def test_no_flag_is_an_abbreviation_of_another() -> None:
    code, _, _ = cli("compare", FLAT, "--variants", "css-id,seed-spinlock",
                     "--variant", "css-id")
    assert code == 2  # "unrecognized arguments: --variant", not a silent replacement
    code, _, _ = cli("run", FLAT, "--dur", "10ms")
    assert code == 2


def test_every_flag_and_subcommand_says_what_it_does() -> None:
    sub = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        assert p.description, name
        if name == "check":
            continue  # check's flags are documented by check_cmd
        for action in p._actions:
            assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)
    assert "races" in sub.choices["demo"].description


# -- limits ---------------------------------------------------------------------------------

def test_a_simulation_that_would_not_fit_is_refused_with_the_estimate(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*a: object, **k: object) -> None:
        raise AssertionError("simulated although it does not fit")

    monkeypatch.setattr("memcglab.cli.run_cmd.simulate", never)
    code, _, err = cli("run", FLAT, "--max-memory", "100M")
    assert code == 2
    assert re.search(r"would need about [0-9.]+M of memory \(base", err), err
    assert "the limit is 100.0M (--max-memory)" in err and "sample_interval" in err
    code, _, err = cli("compare", FLAT, "--variants", "css-id,seed-spinlock",
                       "--max-memory", "200M")
    assert code == 2 and "for each of 2 variants" in err
    code, _, err = cli("run", FLAT, "--max-memory", "lots")
    assert code == 2 and "--max-memory" in err


def test_the_estimate_grows_with_each_dimension() -> None:
    from memcglab.scenario.sim_scenario import load

    base = load(Path(FLAT), {"duration": "100ms"})
    longer = load(Path(FLAT), {"duration": "1000ms"})
    assert estimate(longer).total > estimate(base).total
    assert estimate(base, outputs=True).total > estimate(base, outputs=False).total


def test_readme_benchmark_commands_use_the_virtualenv() -> None:
    for doc in (ROOT / "README.md", ROOT / "benchmarks" / "README.md"):
        for line in doc.read_text().splitlines():
            for m in re.finditer(r"(\S+) benchmarks/\w+\.py", line):
                assert m.group(1).endswith(".venv/bin/python"), (doc.name, line)
                assert shlex.split(m.group(0))
