"""The model against the live kernel on the validation scenarios (scenarios/validation/),
from their recorded kernel runs (tests/fixtures/kernel-runs/validation/NAME: ``memcglab
kernel run --repeat 5 --out``, on the development machine: Linux 6.18, ext4 on virtio,
read_ahead_kb 8192, 2 CPUs). The comparison is recomputed here as ``memcglab compare
--kernel --kernel-result DIR --model-seeds 10`` makes it, and held to the goals of
:mod:`memcglab.metrics.validation` (docs/io-cost.md, "Validation")."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from memcglab.metrics.validation import GOALS
from tests.conftest import cli

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios" / "validation"
FIXTURES = ROOT / "tests" / "fixtures" / "kernel-runs" / "validation"
NAMES = sorted(p.stem for p in SCENARIOS.glob("*.toml"))

# Goals missed on a scenario, with the reason (docs/io-cost.md, "Validation"): strict, so a
# goal that starts being met fails the test until it is taken off this list.
MISSED: dict[tuple[str, str], str] = {
    ("uneven", "jain_delta"): "Jain 0.559 against the kernel's 0.592 +- 0.013: the model "
    "reclaims the looping group a little less (share 0.056 against 0.075; its reader "
    "re-reads 6-8k pages where the kernel's re-reads 11k) and the fast stream more; "
    "activations, deactivations and refaults agree in total, the mechanism is not "
    "identified (docs/io-cost.md, Validation)",
}


def test_every_validation_scenario_has_its_kernel_fixture() -> None:
    assert sorted(p.name for p in FIXTURES.iterdir()) == NAMES
    assert len(NAMES) == 8
    for name in NAMES:
        runs = json.loads((FIXTURES / name / "runs.json").read_text())
        assert len(runs) == 5 and all(r["measured"] == "kernel" for r in runs)


@pytest.fixture(scope="module")
def compared() -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for name in NAMES:
        code, text, err = cli("compare", "--kernel", str(SCENARIOS / f"{name}.toml"),
                              "--variants", "current", "--kernel-result",
                              str(FIXTURES / name), "--model-seeds", "10", "--json")
        assert code == 0, err
        out[name] = json.loads(text)
    return out


@pytest.mark.parametrize("goal", list(GOALS))
@pytest.mark.parametrize("name", NAMES)
def test_the_model_meets_the_goal(compared: dict[str, dict[str, object]], name: str,
                                  goal: str, request: pytest.FixtureRequest) -> None:
    if (name, goal) in MISSED:
        request.applymarker(pytest.mark.xfail(reason=MISSED[(name, goal)], strict=True))
    g = compared[name]["goals"]["current"][goal]  # type: ignore[index]
    assert g["met"], f"{name}: {goal} = {g['value']} > {g['limit']}"


def _live_skip() -> str | None:
    if os.geteuid() != 0:
        return "needs root (kernel run creates cgroups and enables tracing)"
    if not Path("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists():
        return "needs the cgroup v1 memory controller at /sys/fs/cgroup/memory"
    return None


@pytest.mark.skipif(_live_skip() is not None, reason=_live_skip() or "")
def test_the_live_kernel_agrees_with_the_model_again(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    """scenarios/validation/flat.toml on this machine's kernel now (2 repetitions: wider
    bounds than the goals, which hold for 5), against the model; and the workers were
    released together (they join their cgroups before the clock starts)."""
    monkeypatch.setenv("MEMCGLAB_STATE_DIR", str(tmp_path / "state"))
    scenario = str(SCENARIOS / "flat.toml")
    code, _, err = cli("kernel", "run", scenario, "--repeat", "2", "--workdir",
                       str(tmp_path / "work"), "--out", str(tmp_path / "kernel"))
    assert code == 0, err
    runs = json.loads((tmp_path / "kernel" / "runs.json").read_text())
    for r in runs:
        starts = [t for t, action, _ in r["recording"]["events"] if action == "start"]
        assert len(starts) == 2
        assert all(w["touches"] > 40_000 for w in r["recording"]["workers"])
    code, text, err = cli("compare", "--kernel", scenario, "--variants", "current",
                          "--kernel-result", str(tmp_path / "kernel"), "--model-seeds", "3",
                          "--json")
    assert code == 0, err
    got = {k: v["value"] for k, v in json.loads(text)["goals"]["current"].items()}
    assert got["share_mae"] <= 0.06 and got["jain_delta"] <= 0.03, got
    assert got["successor_delta"] <= 0.15 and got["amplification_error"] <= 0.2, got
