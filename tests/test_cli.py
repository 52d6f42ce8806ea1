"""The command line as a user runs it: errors are precise and exit with 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import cli

ROOT = Path(__file__).resolve().parents[1]


def test_unknown_variant_lists_the_valid_ones() -> None:
    code, out, err = cli("check", "--variant", "nope")
    assert code == 2 and out == ""
    assert "unknown variant 'nope'; valid: css-id, seed-spinlock" in err


@pytest.mark.parametrize(("args", "needle"), [
    (("--groups", "0"), "field 'hierarchy.groups' (--groups): Input should be greater than"),
    (("--reclaimers", "0"), "field 'reclaim.reclaimers' (--reclaimers)"),
    (("--priorities", "13"), "priorities: expected values in 0..12 (DEF_PRIORITY), got [13]"),
    (("--priorities", "x"), "--priorities: expected a comma list of integers"),
    (("--mode", "sideways"), "field 'reclaim.mode' (--mode): Input should be 'global' or"),
    (("--max-steps", "0"), "field 'explore.max_steps' (--max-steps)"),
    (("--mode", "limit", "--target", "Z"), "target 'Z': no such group"),
    (("--change", "rmdir:Q"), "change rmdir 'Q': no such group; groups: A, B, C"),
    (("--change", "explode:A"), "--change: expected mkdir:GROUP or rmdir:GROUP"),
    (("--strategy", "replay"), "--strategy replay needs --replay TOKEN"),
])
def test_impossible_settings_are_refused(args: tuple[str, ...], needle: str) -> None:
    code, out, err = cli("check", *args)
    assert code == 2, err
    assert needle in err
    assert out == ""


def test_malformed_toml_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text('variant = "css-id"\n[reclaim]\nwalks = = 2\n')
    code, _, err = cli("check", "--config", str(f))
    assert code == 2
    assert f"{f}: malformed TOML" in err and "line 3" in err


def test_bad_field_names_file_line_field_and_what_was_found(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('variant = "css-id"\n\n[reclaim]\nreclaimers = 2\nwalks = "many"\n')
    code, _, err = cli("check", "--config", str(f))
    assert code == 2
    assert f"{f}:5: field 'reclaim.walks'" in err and "got 'many'" in err


def test_unknown_field_lists_the_valid_ones(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[reclaim]\nreclaimer = 2\n')
    code, _, err = cli("check", "--config", str(f))
    assert code == 2
    assert "unknown field 'reclaim.reclaimer'; valid fields here: mode, target, reclaimers" in err


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    code, _, err = cli("check", "--config", str(tmp_path / "none.toml"))
    assert code == 2 and "cannot read" in err


def test_toml_file_and_flags_combine(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('variant = "seed-spinlock"\n[hierarchy]\ngroups = 3\n[reclaim]\nwalks = 2\n')
    code, out, _ = cli("check", "--config", str(f), "--reclaimers", "3")
    assert code == 0
    assert "variant seed-spinlock, 3 groups, 3 reclaimers (global), 2 walk(s)" in out
    assert "PROVED within the bounds" in out


def test_example_configs_in_the_repo_run() -> None:
    root = Path(__file__).resolve().parents[1] / "examples" / "check"
    files = sorted(root.glob("*.toml"))
    assert files
    for f in files:
        code, out, err = cli("check", "--config", str(f), "--time-budget", "60")
        assert code in (0, 1), (f, err)
        expect = 1 if "css-id" in f.read_text() else 0
        assert code == expect, (f, out[-500:])


def test_demo_tells_the_story() -> None:
    code, out, _ = cli("demo")
    assert code == 0
    assert "race 1: same position" in out and "race 2: restart from the root" in out
    assert out.count("PROVED:") == 5
    assert "no reference_safety finding" in out
    for title in ("race 2 today: the reset is seen before the bump",
                  "a released group resets the position", "ABA: a cursor that came round again"):
        assert title in out
    chapter4 = out[out.index("== 4. Today's reclaim"):]
    assert chapter4.count("   yes\n") == 4 and "NO" not in chapter4
    assert "as the selftest asserts" in chapter4


@pytest.mark.parametrize(("knob", "second"), [("min", False), ("low", False), ("min", True),
                                              ("low", True)])
def test_demo_runs_the_selftest_scenarios_of_the_repository(knob: str, second: bool) -> None:
    """The demo carries scenarios/selftest/ as dicts (it runs from an installed package);
    they must not drift from the files."""
    import tomllib

    from memcglab.cli.demo import selftest_scenario
    from memcglab.scenario.sim_scenario import ScenarioFile

    path = ROOT / "scenarios" / "selftest" / f"test_memcg_{knob}{'_170M' if second else ''}.toml"
    raw = tomllib.loads(path.read_text())
    raw.pop("description")
    assert (ScenarioFile.model_validate(raw)
            == ScenarioFile.model_validate(selftest_scenario(knob, second)))


def test_ctrl_c_while_importing_ends_with_130_and_one_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import builtins

    from memcglab.cli.entry import entry
    real = builtins.__import__

    def interrupted(name: str, *args: object, **kw: object) -> object:
        if name == "memcglab.cli.main":
            raise KeyboardInterrupt
        return real(name, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", interrupted)
    with pytest.raises(SystemExit) as e:
        entry()
    assert e.value.code == 130
    assert capsys.readouterr().err == "memcglab: interrupted\n"
