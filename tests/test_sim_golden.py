"""Golden outputs of the example scenarios, and determinism of every output file."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from tests.conftest import cli

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
NAMES = sorted(p.stem for p in SCENARIOS.glob("*.toml"))


def test_there_are_six_documented_scenarios() -> None:
    assert len(NAMES) == 6
    readme = (SCENARIOS / "README.md").read_text()
    for name in NAMES:
        assert f"`{name}.toml`" in readme
        assert 'description = "' in (SCENARIOS / f"{name}.toml").read_text()


@pytest.mark.parametrize("name", NAMES)
def test_golden_metrics(name: str) -> None:
    code, out, err = cli("run", str(SCENARIOS / f"{name}.toml"), "--json")
    assert code == 0, err
    assert out == (SCENARIOS / f"{name}.golden.json").read_text()


@pytest.mark.parametrize("name", ["test_memcg_min"])
def test_golden_metrics_kernel_6_18(name: str) -> None:
    """Today's reclaim pinned byte for byte too (the selftest's numbers are also checked
    against the selftest's tolerance in test_selftest_protection.py)."""
    code, out, err = cli("run", str(SCENARIOS / "selftest" / f"{name}.toml"), "--json")
    assert code == 0, err
    assert out == (SCENARIOS / "selftest" / f"{name}.golden.json").read_text()


@pytest.mark.parametrize("variant", ["css-id", "current"])
def test_same_scenario_same_seed_same_bytes(tmp_path: Path, variant: str) -> None:
    scen = str(SCENARIOS / "many-reclaimers.toml")
    for d in ("a", "b"):
        code, _, err = cli("run", scen, "--duration", "100ms", "--variant", variant,
                           "--out", str(tmp_path / d))
        assert code == 0, err
    for f in ("metrics.json", "timeseries.csv", "usage_reclaim.png", "shares.png",
              "report.html"):
        assert filecmp.cmp(tmp_path / "a" / f, tmp_path / "b" / f, shallow=False), f


@pytest.mark.parametrize("variant", ["css-id", "current"])
def test_another_seed_gives_another_run(variant: str) -> None:
    scen = str(SCENARIOS / "many-reclaimers.toml")
    a = cli("run", scen, "--duration", "100ms", "--json", "--seed", "1", "--variant", variant)[1]
    b = cli("run", scen, "--duration", "100ms", "--json", "--seed", "2", "--variant", variant)[1]
    assert a != b
