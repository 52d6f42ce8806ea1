"""User-written variants through --variant path.py:ClassName."""

from __future__ import annotations

from pathlib import Path

from memcglab.explore.races import RACE_1, RACE_2
from tests.conftest import check, cli, flat

EXAMPLE = str(Path(__file__).resolve().parents[1] / "examples/variants/half_locked.py")


def test_half_locked_example_fixes_race_1_but_not_race_2() -> None:
    result, system = check(flat(f"{EXAMPLE}:HalfLockedIter", 4, 2, 1), shrink=False)
    races = {f.race.id for f in result.findings if f.race}
    assert RACE_2.id in races and RACE_1.id not in races
    assert system.variant_cls.name == "half-locked"
    assert [i.name for i in system.invariants] == ["position_in_range"]


def test_plugin_errors_are_clear(tmp_path: Path) -> None:
    code, _, err = cli("check", "--variant", f"{EXAMPLE}:Nope")
    assert code == 2 and "no class 'Nope'; variant classes there: HalfLockedIter" in err
    code, _, err = cli("check", "--variant", str(tmp_path / "missing.py") + ":X")
    assert code == 2 and "does not exist" in err
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    code, _, err = cli("check", "--variant", f"{broken}:X")
    assert code == 2 and "failed to import: RuntimeError: boom" in err


def test_a_plugin_invariant_can_fail(tmp_path: Path) -> None:
    src = tmp_path / "strict.py"
    src.write_text(
        "from memcglab.kernel.iter_seed_spinlock import SeedSpinlockIter\n"
        "from memcglab.kernel.iterator import Invariant\n"
        "class Strict(SeedSpinlockIter):\n"
        "    name = 'strict'\n"
        "    def invariants(self):\n"
        "        def never_past_b(view):\n"
        "            pos = view.iter_field(0, 0, 12, 'position')\n"
        "            return f'position {pos} passed B' if pos > 3 else None\n"
        "        return (Invariant('never_past_b', 'toy', never_past_b),)\n")
    result, _ = check(flat(f"{src}:Strict", 4, 1, 1))
    assert [f.prop for f in result.findings] == ["never_past_b"]
    assert result.findings[0].message == "position 4 passed B"
