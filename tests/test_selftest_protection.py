"""The kernel selftest's protection numbers (tools/testing/selftests/cgroup/test_memcontrol.c,
test_memcg_min and test_memcg_low, v6.18), reproduced by the simulator within the selftest's
own tolerance (docs/research/v6-reclaim.md section 5; scenarios/selftest/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from memcglab.scenario.sim_scenario import load
from memcglab.sim.engine import Simulation

SELFTEST = Path(__file__).resolve().parents[1] / "scenarios" / "selftest"
MB = 1 << 20
PAGE = 4096


def values_close(a: int, b: int, err: int) -> bool:
    """cgroup_util.h: ``labs(a - b) <= (a + b) / 100 * err``, in bytes, integer division."""
    return abs(a - b) <= (a + b) // 100 * err


def _current(name: str) -> tuple[dict[str, int], dict[str, list[int]], int]:
    plan = load(SELFTEST / f"{name}.toml")
    sim = Simulation(plan)
    run = sim.run()
    topo = plan.topology
    state = run.memcg_state
    current = {topo.name(g): state.memcgs[g].memory.usage * PAGE for g in range(topo.size)}
    events = {topo.name(g): state.memcgs[g].memory_events for g in range(topo.size)}
    return current, events, run.machine.c.oom_kills


def test_values_close_is_the_selftests() -> None:
    # The selftest's windows (MiB, 4 KiB steps) follow from the formula.
    assert values_close(29 * MB, int(21.44 * MB) + PAGE, 15)
    assert not values_close(29 * MB, int(21.40 * MB), 15)
    assert values_close(50 * MB, 53 * MB, 3) and not values_close(50 * MB, 54 * MB, 3)


@pytest.mark.parametrize("knob", ["min", "low"])
def test_memcg_protection_first_phase(knob: str) -> None:
    """[TM]:571-583: after G's 148M, B ~ 50M (err 3), C ~ 29M (err 15), D ~ 21M (err 20),
    F exactly 0; E (not asserted) about 0."""
    c, events, kills = _current(f"test_memcg_{knob}")
    assert values_close(c["B"], 50 * MB, 3), c["B"] / MB
    assert values_close(c["C"], 29 * MB, 15), c["C"] / MB
    assert values_close(c["D"], 21 * MB, 20), c["D"] / MB
    assert c["F"] == 0
    assert c["E"] < 3 * MB
    assert c["G"] == 0  # its anon went with it
    assert kills == 0 and all(e[3] == 0 for e in events.values())


def test_memcg_min_second_phase_fails_the_allocation() -> None:
    """[TM]:586-597, min: G's 170M cannot fit beside B's protected 50M: the allocator is
    OOM-killed, and B keeps ~50M."""
    c, events, kills = _current("test_memcg_min_170M")
    assert kills == 1 and events["A"][3] >= 1  # memory.events oom of A
    assert values_close(c["B"], 50 * MB, 3), c["B"] / MB
    assert all(events[g][0] == 0 for g in "CDEF")  # no low events with memory.min


def test_memcg_low_second_phase_breaks_low() -> None:
    """[TM]:586-620, low: the 170M succeeds (memory.low gives way), B ~ 30M, no OOM in the
    children, low events on C and D, none on F (empty: below min, skipped before the low
    test) nor on E (no protection, no recursiveprot)."""
    c, events, kills = _current("test_memcg_low_170M")
    assert kills == 0
    assert values_close(c["B"], 30 * MB, 3), c["B"] / MB
    assert all(events[g][3] == 0 for g in "CDEF")
    assert events["C"][0] > 0 and events["D"][0] > 0
    assert events["F"][0] == 0 and events["E"][0] == 0
