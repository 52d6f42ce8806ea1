"""Regression tests for problems a review found (each test names the problem)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from memcglab.errors import ConfigError
from memcglab.scenario.sim_scenario import ScenarioFile, build
from memcglab.sim.engine import simulate
from tests.conftest import cli

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"

REFCOUNT_INVARIANT = """
from memcglab.kernel.iter_seed_spinlock import SeedSpinlockIter
from memcglab.kernel.iterator import Invariant

class SeedRefInv(SeedSpinlockIter):
    name = "seed-refinv"
    def invariants(self):
        def at_most_two(view):
            for g in range(4):
                if view.refcount(g) > 2:
                    return f"group {g} has {view.refcount(g)} references"
            return None
        return (Invariant("refcount_at_most_two", "toy", at_most_two),)
"""


def test_variant_invariants_see_every_state(tmp_path: Path) -> None:
    """The reduction used to hide states from a variant's own invariants (false PROVED)."""
    f = tmp_path / "refinv.py"
    f.write_text(REFCOUNT_INVARIANT)
    code, out, _ = cli("check", "--variant", f"{f}:SeedRefInv", "--walks", "2", "--json",
                       "--no-shrink")
    doc = json.loads(out)
    assert code == 1
    assert "refcount_at_most_two" in {x["property"] for x in doc["findings"]}
    assert doc["interleaving_points"] == [
        "every operation (the variant's invariants may read any state)"]


def test_preemption_bounded_counterexamples_replay() -> None:
    """Under symmetry a re-parented state used to give paths with the wrong thread ids."""
    code, out, _ = cli("check", "--reclaimers", "3", "--groups", "3", "--change", "rmdir:B",
                       "--max-preemptions", "2", "--no-shrink", "--json")
    assert code == 1
    for f in json.loads(out)["findings"]:
        again = json.loads(cli(*f["replay"].split()[1:], "--json")[1])
        assert again["findings"][0]["message"] == f["message"], f["title"]


@pytest.mark.parametrize(("args", "needle"), [
    (("--tree", "A,A/B", "--change", "rmdir:A", "--change", "rmdir:B"),
     "cannot rmdir 'A': it still has children (B)"),
    (("--tree", "A,A/B", "--change", "mkdir:B", "--change", "mkdir:A"),
     "mkdir 'B' before its parent 'A' exists"),
    (("--tree", "A,A/B", "--change", "mkdir:A"),
     "group 'B' exists from the start but its parent 'A' is only created later"),
    (("--mode", "limit", "--target", "A", "--tree", "A,A/B", "--change", "rmdir:B",
      "--change", "rmdir:A"), "cannot rmdir 'A' while limit reclaim of 'A' runs"),
    (("--replay", "v1:64fa2d60:0x500"), "at step 53 CPU0 cannot run"),
    (("--replay", "v1:64fa2d60:0x999999999"), "more than 10,000,000 steps"),
])
def test_impossible_inputs_exit_2(args: tuple[str, ...], needle: str) -> None:
    code, _, err = cli("check", *args)
    assert code == 2 and needle in err, err


def test_errors_in_user_variants_are_model_errors(tmp_path: Path) -> None:
    f = tmp_path / "bad.py"
    f.write_text("from memcglab.kernel.iter_css_id import CssIdIter\n"
                 "class Boom(CssIdIter):\n    name = 'boom'\n"
                 "    def mem_cgroup_iter(self, root, prev, reclaim):\n"
                 "        yield 1 / 0\n"
                 "class BadOp(CssIdIter):\n    name = 'badop'\n"
                 "    def mem_cgroup_iter(self, root, prev, reclaim):\n"
                 "        yield 42\n")
    code, _, err = cli("check", "--variant", f"{f}:Boom")
    assert code == 2 and "model error" in err and "ZeroDivisionError" in err
    code, _, err = cli("check", "--variant", f"{f}:BadOp")
    assert code == 2 and "yielded 42" in err


def _plan(cpus: int, variant: str = "css-id", **extra: Any):  # type: ignore[no-untyped-def]
    raw = {"duration": "20ms", "cpus": cpus, "variant": variant, "kswapd": False,
           "machine": {"pages_per_zone": "16M"},
           "group": [{"name": "p", "limit": "2M"}, {"name": "a", "parent": "p"}],
           "workload": [{"group": "a", "pattern": "stream", "size": "8M", "rate": "4G",
                         "processes": 8}], **extra}
    return build(ScenarioFile.model_validate(raw), "test", "t")


def test_cpus_bound_the_cpu_time() -> None:
    """With more tasks than CPUs, one CPU used to do the work of many."""
    one = simulate(_plan(1)).machine.c.group
    four = simulate(_plan(4)).machine.c.group
    assert sum(r[0] for r in one) < sum(r[0] for r in four)


def test_spinlock_holders_are_not_preempted() -> None:
    run = simulate(_plan(1, "seed-spinlock"))
    assert run.machine.c.lock_acquisitions > 0
    assert run.machine.c.lock_waits == 0  # one CPU, no preemption inside the lock


def test_children_inherit_use_hierarchy() -> None:
    raw = {"kernel": "3.7",
           "group": [{"name": "a"}, {"name": "b", "parent": "a", "use_hierarchy": False}],
           "workload": [{"group": "b", "pattern": "loop", "size": "1M", "rate": "1M"}]}
    with pytest.raises(ConfigError, match="v1 children inherit it"):
        build(ScenarioFile.model_validate(raw), "test")


def test_bad_outputs_and_intervals_exit_2(tmp_path: Path) -> None:
    code, _, err = cli("run", str(SCENARIOS / "flat-limit.toml"), "--duration", "10ms",
                       "--out", "/proc/memcglab-cannot-write-here")
    assert code == 2 and "cannot create it" in err
    f = tmp_path / "s.toml"
    f.write_text('sample_interval = "0s"\n[[workload]]\ngroup = "root"\npattern = "loop"\n'
                 'size = "1M"\nrate = "1M"\n')
    code, _, err = cli("run", str(f))
    assert code == 2 and "sample_interval: expected at least 1us" in err


def test_minimal_means_minimal_over_all_interleavings() -> None:
    """The reduced search once reported 38 steps as minimal where 37 exist."""
    code, out, _ = cli("check", "--mode", "limit", "--target", "A", "--tree", "A,A/B,A/C",
                       "--change", "rmdir:B", "--walks", "2", "--json")
    plain = [f for f in json.loads(out)["findings"]
             if f["property"] == "unique_claim" and f["race"] is None]
    # 40 since rmdir is the removing task's own steps (v3.7): the run needs B's css id out
    # of the IDR, which now takes cgroup_clear_css_refs, both halves of synchronize_rcu()
    # and free_css_id (4 operations) where one RMDIR operation did it before (37).
    assert code == 1 and plain[0]["steps"] == 40
    assert plain[0]["minimal_over"] == "all interleavings"


def test_compare_writes_folders_for_variants_given_as_paths(tmp_path: Path) -> None:
    plugin = Path(__file__).resolve().parents[1] / "examples/variants/half_locked.py"
    out = tmp_path / "cmp"
    code, _, err = cli("compare", str(SCENARIOS / "many-reclaimers.toml"), "--variants",
                       f"css-id,{plugin}:HalfLockedIter", "--duration", "30ms", "--out",
                       str(out))
    assert code == 0, err
    folders = {p.name for p in out.iterdir() if p.is_dir()}
    assert "css-id" in folders and len(folders) == 2
    assert any(f.endswith("half_locked.py_HalfLockedIter") for f in folders)


def test_flag_errors_name_the_flag() -> None:
    code, _, err = cli("run", str(SCENARIOS / "flat-limit.toml"), "--duration", "5xs")
    assert code == 2
    assert "command line: field '--duration': expected a duration" in err
    assert "got '5xs'; got" not in err
