"""Twelve years of the iterator: the variants between the seed and today (issue 11).

Settings parse strictly; each variant's sequential walk order is the hand-computed one;
state counts of the smallest configuration are pinned; the reductions agree with the
unreduced search on every new variant with a group removed; every race suite entry breaks
its invariant before its fix and keeps it after (exhaustive search, the suite's bounds).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from memcglab.errors import ConfigError
from memcglab.explore.system import TraceEntry
from memcglab.kernel.registry import resolve_variant
from memcglab.runtime.ops import Kind
from memcglab.suite.catalog import ENTRIES
from memcglab.suite.runner import Bounds, run_one
from tests.conftest import check, cli

NEW = ("pointer-ref-lock", "dead-count", "dead-count:version=3.10", "strong-cursor",
       "weak-cursor:version=4.4", "weak-cursor:version=4.8", "weak-cursor:version=5.5",
       "weak-cursor")

# -- settings -----------------------------------------------------------------------------------


def test_settings_pick_the_kernel_form() -> None:
    cls = resolve_variant("weak-cursor:version=4.8")
    assert (cls.scope(), cls.caller_era(), cls.name) == ("node-priority", "4.8",
                                                          "weak-cursor:version=4.8")
    assert resolve_variant("weak-cursor:version=4.8") is cls  # built once
    off = resolve_variant("current:restart_on_lost_cas=off")
    assert off.restart_on_lost_cas is False  # type: ignore[attr-defined]
    assert resolve_variant("current").restart_on_lost_cas is True  # type: ignore[attr-defined]


@pytest.mark.parametrize(("spec", "needle"), [
    ("dead-count:rmb=off", "no setting 'rmb'; settings: version=<3.10|3.14>"),
    ("dead-count:rmb_fix=maybe", "expected one of on, off, got 'maybe'"),
    ("dead-count:rmb_fix=off,rmb_fix=on", "given twice"),
    ("css-id:x=1", "has no settings"),
    ("dead-count:version", "expected setting=value"),
])
def test_bad_settings_are_refused_precisely(spec: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle.replace("|", r"\|").replace("(", r"\(")):
        resolve_variant(spec)
    code, _, err = cli("check", "--variant", spec, "--groups", "2")
    assert code == 2 and needle in err


# -- sequential walks, hand-computed --------------------------------------------------------------

# root's children created in the order A, D, then B and C under A: css ids root 1, A 2, D 3,
# B 4, C 5. Pre-order (cgroup_next_descendant_pre, css_next_descendant_pre): root, A, B, C,
# D; the css-id iterator: root, A, D, B, C.
_TREE = {"shape": "nested", "group": [{"name": "A"}, {"name": "D"},
                                      {"name": "B", "parent": "A"},
                                      {"name": "C", "parent": "A"}]}


def _walk(variant: str) -> list[str]:
    raw = {"variant": variant, "hierarchy": _TREE, "reclaim": {"reclaimers": 1, "walks": 1}}
    _result, system = check(raw)
    trace: list[TraceEntry] = []
    state = system.initial()
    while system.enabled(state):
        state, _, _ = system.block(state, 0, trace, single=True)
    names = [system.layout.topology.name(g) for g in range(system.layout.topology.size)]
    return [names[e.op.b[1]] for e in trace if e.op.kind is Kind.CLAIM]


@pytest.mark.parametrize("variant", (*NEW, "current"))
def test_sequential_walk_is_the_pre_order(variant: str) -> None:
    assert _walk(variant) == ["root", "A", "B", "C", "D"]


def test_css_id_walk_is_id_order() -> None:
    assert _walk("css-id") == ["root", "A", "D", "B", "C"]


# -- pinned state counts: flat, 3 groups, 2 global reclaimers, 1 walk ------------------------

PINNED = {"pointer-ref-lock": 44, "dead-count": 1444, "dead-count:version=3.10": 1444,
          "strong-cursor": 435, "weak-cursor:version=4.4": 343, "weak-cursor:version=4.8": 343,
          "weak-cursor:version=5.5": 3, "weak-cursor": 259}


@pytest.mark.parametrize("variant", NEW)
def test_state_counts_of_the_smallest_configuration(variant: str) -> None:
    result, _ = check({"variant": variant, "hierarchy": {"groups": 3}})
    assert result.states == PINNED[variant]


def test_full_walks_share_nothing() -> None:
    # v5.5-v6.10 callers: no cookie, every reclaimer walks every group on its own.
    result, _ = check({"variant": "weak-cursor:version=5.5", "hierarchy": {"groups": 3}})
    assert result.proved


# -- the reductions against the unreduced search --------------------------------------------


@pytest.mark.parametrize("args", [
    ["--variant", "pointer-ref-lock", "--groups", "3", "--change", "rmdir:B"],
    ["--variant", "dead-count:version=3.10", "--groups", "3", "--change", "rmdir:A"],
    ["--variant", "dead-count", "--groups", "3", "--change", "rmdir:A"],
    ["--variant", "strong-cursor", "--groups", "3", "--change", "rmdir:A"],
    ["--variant", "weak-cursor:version=4.8", "--groups", "3", "--change", "rmdir:A"],
    ["--variant", "weak-cursor", "--groups", "3", "--change", "rmdir:A"],
    ["--variant", "current:atomic_generation=off", "--groups", "3"],
], ids=lambda a: f"{a[1]} {' '.join(a[4:])}")
def test_cross_check_agrees_on_the_new_variants(args: list[str]) -> None:
    _code, out, err = cli("check", *args, "--cross-check", "--max-states", "200000")
    assert out.startswith("cross-check:")
    assert "agree" in out and "disagree" not in out, out + err


# -- the race suite ------------------------------------------------------------------------------

# The CI bounds: the table in docs/race-suite.md uses the defaults (benchmarks/bench_suite.py).
CI = Bounds(max_states=400_000, time_budget_s=60)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_suite_entry_before_is_found_and_after_holds(entry: Any) -> None:
    before = run_one(entry, "before", "exhaustive", CI)[0]
    # found: the entry's invariant, and its race when it names one (runner.matching)
    assert before.found, before
    after = run_one(entry, "after", "exhaustive", CI)[0]
    assert not after.found, after


def test_suite_cli_list_config_show_and_json(tmp_path: Any) -> None:
    code, out, _ = cli("suite", "--list")
    assert code == 0 and all(e.id in out for e in ENTRIES)
    code, out, _ = cli("suite", "--config", "root-css-leak")
    assert code == 0
    cfg = tmp_path / "c.toml"
    cfg.write_text('variant = "dead-count:root_leak_fix=off"\n' + out)
    code, out2, err = cli("check", "--config", str(cfg))
    assert code == 1 and "css reference leak" in out2, out2 + err
    code, out, _ = cli("suite", "--show", "uninitialised-group")
    assert code == 0 and "before css_online()" in out and "PROVED within the bounds" in out
    code, out, _ = cli("suite", "--only", "plain-generation", "--json",
                       "--strategies", "exhaustive,pct", "--runs", "200")
    doc = json.loads(out)
    assert code == 0 and {o["strategy"] for o in doc["outcomes"]} == {"exhaustive", "pct"}
    assert all(o["expected"] for o in doc["outcomes"] if o["strategy"] == "exhaustive")


@pytest.mark.parametrize(("args", "needle"), [
    (["--only", "nope"], "--only: no entry 'nope'"),
    (["--show", "nope"], "--show: no entry 'nope'"),
    (["--strategies", "dfs"], "--strategies: expected some of exhaustive, random, pct"),
    (["--runs", "0"], "--runs: expected a positive number"),
])
def test_suite_bad_flags_exit_2(args: list[str], needle: str) -> None:
    code, _, err = cli("suite", *args)
    assert code == 2 and needle in err


# -- the cgroup cores the variants run on -------------------------------------------------------


def _torn(variant: str) -> Any:
    from memcglab.suite.catalog import entry

    e = entry("dead-count-torn-update")
    return check({**__import__("tomllib").loads(e.config), "variant": variant,
                  "properties": ["reference_safety"]})[0]


def test_torn_update_needs_the_synchronous_offline_of_v3_10() -> None:
    # v3.10 offlines in rmdir itself: the torn pair is reachable. v3.11+ offlines after the
    # sched-RCU grace period of the kill: every walker that could hold the stale pair has
    # left its read section first, and the same configuration is proved.
    assert any(f.race is not None and f.race.id == "torn-update"
               for f in _torn("dead-count:version=3.10").findings)
    assert _torn("dead-count").proved


def test_pointer_ref_lock_hangs_rmdir_on_the_v3_7_core_and_leaks_on_v3_8() -> None:
    from memcglab.suite.catalog import entry

    cfg = __import__("tomllib").loads(entry("pinned-by-iterator").config)
    hang, _ = check({**cfg, "variant": "pointer-ref-lock:core=3.7",
                     "properties": ["no_deadlock"]})
    assert [f.prop for f in hang.findings] == ["no_deadlock"]
    assert "cgroup_clear_css_refs(B)" in hang.findings[0].message
    leak, _ = check({**cfg, "variant": "pointer-ref-lock", "properties": ["no_deadlock"]})
    assert leak.proved  # rmdir does not wait on the 3.8 core: nothing blocks ...
    leak, _ = check({**cfg, "variant": "pointer-ref-lock",
                     "properties": ["reference_safety"]})
    assert any(f.race is not None and f.race.id == "pinned" for f in leak.findings)


def test_memcglab_run_and_compare_accept_every_variant() -> None:
    variants = ",".join(["css-id", "pointer-ref-lock", "dead-count", "strong-cursor",
                         "weak-cursor:version=4.4", "weak-cursor:version=4.8",
                         "weak-cursor:version=5.5", "weak-cursor", "current"])
    code, out, err = cli("compare", "scenarios/churn.toml", "--variants", variants,
                         "--duration", "600ms", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert list(doc) == variants.split(",")


def test_compare_kernel_takes_the_historical_designs() -> None:
    # The recorded v6.18 kernel run against a v6.11 and a v5.5 design and today's.
    code, out, err = cli("compare", "--kernel", "scenarios/validation/flat.toml",
                         "--variants", "weak-cursor,weak-cursor:version=5.5,current",
                         "--kernel-result", "tests/fixtures/kernel-runs/validation/flat",
                         "--json")
    assert code == 0, err
    doc = json.loads(out)
    text = json.dumps(doc)
    assert "weak-cursor:version=5.5" in text and "goals" in text


def test_variants_with_several_settings_in_a_list() -> None:
    from memcglab.kernel.registry import split_variants

    assert split_variants("current,current:full_walk_retry=off,restart_on_lost_cas=off,"
                          "css-id") == ["current",
                                        "current:full_walk_retry=off,restart_on_lost_cas=off",
                                        "css-id"]


def test_a_stuck_rmdir_is_reported_by_memcglab_run(tmp_path: Any) -> None:
    # pointer-ref-lock on the v3.7 core: the iterator's reference keeps rmdir waiting for
    # ever (Ying Han's hang); the run says so instead of ending quietly.
    scenario = tmp_path / "hang.toml"
    scenario.write_text("""seed = 11
duration = "700ms"
cpus = 2
[machine]
pages_per_zone = "256M"
[[group]]
name = "parent"
limit = "16M"
[[group]]
name = "tmp1"
parent = "parent"
removed_at = "400ms"
[[group]]
name = "other"
[[group]]
name = "tmp2"
parent = "other"
created_at = "500ms"
[[workload]]
group = "tmp1"
pattern = "stream"
size = "64M"
rate = "100M"
stop = "350ms"
""")
    code, out, err = cli("run", str(scenario), "--variant", "pointer-ref-lock:core=3.7",
                         "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc.get("cgroup_change_pending", "").startswith("rmdir"), doc.get(
        "cgroup_change_pending")


def test_a_revived_css_is_a_violation_not_an_internal_error() -> None:
    # strong-cursor-publish-before-get with termination alone: the css_get on a count that
    # reached zero is not monitored, and the release work then finds references again.
    from memcglab.suite.catalog import entry

    cfg = __import__("tomllib").loads(entry("strong-cursor-publish-before-get").config)
    result, _ = check({**cfg, "variant": "strong-cursor", "properties": ["termination"]})
    assert result.proved
    result, _ = check({**cfg, "variant": "strong-cursor",
                       "properties": ["reference_safety"]}, stop_on_first=True)
    assert result.findings and result.findings[0].prop == "reference_safety"


def test_compare_refuses_one_variant_spelled_twice() -> None:
    code, _, err = cli("compare", "scenarios/flat-limit.toml", "--variants",
                       "current:full_walk_retry=off,current: full_walk_retry=off")
    assert code == 2 and "names one variant twice (spelled differently)" in err
