"""The explorer's word is trustworthy: one regression variant per class of unsoundness
(tests/variants/), each of which the explorer used to get wrong."""

from __future__ import annotations

import json
import shlex
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from memcglab.cli.check_cmd import fit_to_memory
from memcglab.errors import ConfigError
from memcglab.explore import statestore
from memcglab.explore.config import ExploreConfig
from memcglab.explore.crosscheck import RUNS, cross_check
from memcglab.explore.cycles import local_cycles_possible
from memcglab.explore.result import ExitReason
from memcglab.explore.schedule import Schedule
from memcglab.explore.search import check as search_check
from memcglab.explore.system import System
from memcglab.scenario.check_config import CheckFile, build
from tests.conftest import check, cli, flat

VARIANTS = Path(__file__).resolve().parent / "variants"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def v(file: str, cls: str) -> str:
    return f"{VARIANTS / file}:{cls}"


PLUGIN_HEAD = """\
import random
from dataclasses import dataclass, field
from memcglab.kernel.cgroup import css_get, css_get_next
from memcglab.kernel.iter_css_id import CssIdIter
from memcglab.kernel.iter_seed_spinlock import SeedSpinlockIter
from memcglab.runtime.ops import Kind, Op, load, note
"""


def refused(tmp_path: Path, body: str, *args: str, prelude: str = "",
            base: str = "SeedSpinlockIter") -> str:
    """Write a variant whose mem_cgroup_iter runs ``body`` before the base's walk, check
    it, assert it is refused as bad input (exit 2), and return the message."""
    f = tmp_path / "plugin.py"
    f.write_text(PLUGIN_HEAD + prelude + f"class P({base}):\n    name = 'plugin'\n"
                 "    def mem_cgroup_iter(self, root, prev, reclaim):\n"
                 + textwrap.indent(body, " " * 8) + "\n"
                 "        return (yield from super().mem_cgroup_iter(root, prev, reclaim))\n")
    code, _, err = cli("check", "--variant", f"{f}:P", *args)
    assert code == 2, err
    return err


def replay_args(cmd: str) -> list[str]:
    args = shlex.split(cmd)
    assert args[:2] == ["memcglab", "check"]
    return args[1:]


# -- 1. partial-order reduction and plain reads of cgroup-core state ------------------------


@pytest.mark.parametrize("por", [True, False])
def test_plain_read_of_a_refcount_is_an_interleaving_point(por: bool) -> None:
    result, _ = check(flat(v("refpeek.py", "RefPeek"), 3, 2, 1), por=por, shrink=False)
    assert {f.prop for f in result.findings} == {"round_complete"}
    if por:
        assert "A.css.refcnt" in result.interleaving_points


def test_loads_of_lifecycle_state_and_css_ids_count_as_reads_of_those_objects() -> None:
    from memcglab.explore.visibility import GSTATE, IDR, slot_object

    _, system = check(flat("css-id", 3, 2, 1), shrink=False)
    lay = system.layout
    assert slot_object(lay.gstate[1], lay) == GSTATE
    assert {slot_object(s, lay) for s in (lay.cssid[1], lay.idr[2], lay.next_id)} == {IDR}


@pytest.mark.parametrize(("body", "needle"), [
    ("yield load(self.k.layout.iter_list[0].claims, 'x = claims')", "monitors' bookkeeping"),
    ("yield load(-1, 'x = *bad')", "no such slot"),
])
def test_loads_of_what_is_not_kernel_state_are_refused(tmp_path: Path, body: str,
                                                       needle: str) -> None:
    assert needle in refused(tmp_path, body, base="CssIdIter")


# -- 2. state fingerprints ----------------------------------------------------------------------


def test_states_python_hash_merges_are_kept_apart() -> None:
    a, b = ((-1, 0), ((0,),)), ((-2, 0), ((0,),))
    assert hash(a) == hash(b)  # the collision the old 64-bit fingerprints suffered
    for store in statestore.STORES:
        key = statestore.key_function(store)
        assert key(a) != key(b)


def test_canonical_encoding_tells_values_apart_and_ignores_set_order() -> None:
    enc = statestore.encode
    assert enc((True,)) != enc((1,))
    assert enc((1.0,)) != enc((1,))
    assert enc(frozenset({(2, 1), (1, 9)})) == enc(frozenset({(1, 9), (2, 1)}))
    assert enc((frozenset({1}),)) != enc(((1,),))


@pytest.mark.parametrize("cls", ["Sentinel", "SentinelOther"])
def test_sentinel_values_do_not_merge_states(cls: str) -> None:
    """Pinned: hash() fingerprints merged these down to 1,548 / 1,532 states."""
    counts = set()
    for store in statestore.STORES:
        result, _ = check(flat(v("sentinel.py", cls), 2, 2, 1), por=False, symmetry=False,
                          shrink=False, state_store=store)
        assert {f.prop for f in result.findings} == {"reference_safety"}
        counts.add((result.states, result.transitions))
    assert counts == ({(2679, 4342)} if cls == "Sentinel" else {(2689, 4362)})


def test_report_states_how_states_were_stored() -> None:
    _, out, _ = cli("check", "--variant", "seed-spinlock", "--groups", "2")
    assert "states are stored exactly" in out
    _, out, _ = cli("check", "--variant", "seed-spinlock", "--groups", "2",
                    "--state-store", "hash-compact")
    assert "128-bit BLAKE2b" in out and "merged is below" in out


# -- 3. livelock ------------------------------------------------------------------------------


@pytest.mark.parametrize(("por", "sym"), [(True, True), (False, False), (True, False)])
def test_a_walker_spinning_forever_is_a_livelock(por: bool, sym: bool) -> None:
    result, _ = check(flat(v("spinner.py", "Spinner"), 2, 2, 1), por=por, symmetry=sym)
    [f] = result.findings
    assert f.prop == "termination"
    assert f.message.startswith("livelock: a fair non-progress cycle")
    assert f.loop_at is not None and 0 < f.loop_at < len(f.trace)
    assert f.schedule.loop_at == f.loop_at and "@" in f.schedule.token()


def test_the_livelock_lasso_replays_and_is_drawn_with_its_cycle() -> None:
    code, out, _ = cli("check", "--variant", v("spinner.py", "Spinner"), "--groups", "2")
    assert code == 1
    assert "cycle: from here the run repeats forever" in out
    cmd = next(line.split("replay: ", 1)[1] for line in out.splitlines() if "replay:" in line)
    code, again, _ = cli(*replay_args(cmd))
    assert code == 1
    assert "livelock: a fair non-progress cycle" in again


def test_an_unfair_or_open_cycle_does_not_replay_as_a_livelock() -> None:
    result, _ = check(flat(v("spinner.py", "Spinner"), 2, 2, 1))
    sched = result.findings[0].schedule
    assert sched.loop_at is not None
    cycle = sched.tids[sched.loop_at:]
    assert set(cycle) == {0, 1}
    # The cycle with one of the two spinning walkers left out: the other stays enabled
    # throughout and never runs, so the loop is not weakly fair.
    only0 = Schedule(sched.digest, (*sched.tids[:sched.loop_at], 0), sched.prop,
                     sched.loop_at)
    code, out, err = cli("check", "--variant", v("spinner.py", "Spinner"), "--groups", "2",
                         "--replay", only0.token())
    assert code == 3
    assert "DID NOT REPRODUCE" in out and "must always replay" in err


def test_no_livelock_in_the_built_in_variants_and_the_shortcut_agrees() -> None:
    for variant, walks in (("css-id", 1), ("seed-spinlock", 2)):
        result, system = check(flat(variant, 3, 2, walks), shrink=False)
        # css-id's code can loop (a racing walker is handed the same group again), but
        # every such run breaks unique_claim first; the seed's cannot.
        assert local_cycles_possible(system.programs) == (variant == "css-id")
        forced, _ = check(flat(variant, 3, 2, walks), shrink=False, force_cycle_analysis=True)
        assert {f.key for f in forced.findings} == {f.key for f in result.findings}
        assert all("livelock" not in f.message for f in forced.findings)


def test_the_cycle_shortcut_agrees_with_the_full_analysis_on_a_looping_variant() -> None:
    _, system = check(flat(v("spinner.py", "Spinner"), 2, 2, 1))
    assert local_cycles_possible(system.programs)


def test_first_does_not_report_before_the_reduction_reached_its_fixpoint() -> None:
    """--first used to return a violation found while the interleaving points were still
    being learned; it must agree with the unreduced search."""
    for variant in ("css-id", "seed-spinlock", v("refpeek.py", "RefPeek")):
        quick, _ = check(flat(variant, 3, 2, 1), stop_on_first=True, shrink=False)
        full, _ = check(flat(variant, 3, 2, 1), por=False, symmetry=False, shrink=False)
        assert bool(quick.findings) == bool(full.findings)
        assert {f.prop for f in quick.findings} <= {f.prop for f in full.findings}


# -- 4. every printed counterexample replays ----------------------------------------------------


@pytest.mark.parametrize("strategy", ["exhaustive", "random", "pct"])
def test_termination_by_the_step_bound_replays(strategy: str) -> None:
    code, out, _ = cli("check", "--variant", "seed-spinlock", "--max-steps", "30",
                       "--strategy", strategy, "--runs", "5", "--json")
    assert code == 1
    doc = json.loads(out)
    f = next(x for x in doc["findings"] if x["property"] == "termination")
    assert "--max-steps 30" in f["replay"]
    code, again, _ = cli(*replay_args(f["replay"]), "--json")
    assert code == 1
    assert json.loads(again)["findings"][0]["property"] == "termination"
    assert json.loads(again)["reproduced"] is True


def test_a_plugin_looping_without_interleaving_points_replays() -> None:
    code, out, _ = cli("check", "--variant", v("notes.py", "NotesForever"), "--max-steps",
                       "200", "--json")
    [f] = json.loads(out)["findings"]
    assert code == 1 and f["property"] == "termination"
    rc, again, _ = cli(*replay_args(f["replay"]), "--json")
    assert rc == 1 and json.loads(again)["reproduced"] is True


@pytest.mark.parametrize("por", [True, False])
def test_every_finding_replays_from_its_printed_command(por: bool) -> None:
    flags = [] if por else ["--no-por", "--no-shrink"]
    for args in (["--variant", "css-id", "--groups", "2"],
                 ["--variant", "css-id", "--groups", "3", "--change", "rmdir:B", "--no-shrink"],
                 ["--variant", v("spinner.py", "Spinner"), "--groups", "2"],
                 ["--variant", v("refpeek.py", "RefPeek"), "--groups", "3"]):
        code, out, _ = cli("check", *args, *flags, "--json")
        doc = json.loads(out)
        assert code == 1 and doc["findings"], args
        for f in doc["findings"]:
            rc, again, err = cli(*replay_args(f["replay"]), "--json")
            assert rc == 1, (f["replay"], err)
            assert json.loads(again)["findings"][0]["message"] == f["message"]


def test_replay_of_a_nested_file_with_use_hierarchy_false(tmp_path: Path) -> None:
    cfg = tmp_path / "uh.toml"
    cfg.write_text('variant = "css-id"\n[hierarchy]\nshape = "nested"\n'
                   '[[hierarchy.group]]\nname = "A"\nuse_hierarchy = false\n'
                   '[[hierarchy.group]]\nname = "B"\nuse_hierarchy = false\n'
                   '[[hierarchy.group]]\nname = "C"\nparent = "B"\nuse_hierarchy = false\n'
                   '[reclaim]\nreclaimers = 2\nwalks = 1\n')
    code, out, _ = cli("check", "--config", str(cfg), "--json")
    assert code == 1
    for f in json.loads(out)["findings"]:
        assert "--tree" not in f["replay"]
        assert cli(*replay_args(f["replay"]))[0] == 1


def test_replay_tokens_do_not_depend_on_how_the_variant_path_is_spelled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = EXAMPLES / "variants" / "half_locked.py"
    _, out1, _ = cli("check", "--variant", f"{plugin}:HalfLockedIter", "--json")
    monkeypatch.chdir(EXAMPLES)
    _, out2, _ = cli("check", "--variant", "variants/half_locked.py:HalfLockedIter", "--json")
    t1 = [f["schedule"] for f in json.loads(out1)["findings"]]
    t2 = [f["schedule"] for f in json.loads(out2)["findings"]]
    assert t1 == t2
    monkeypatch.chdir(tmp_path)  # the printed command works from elsewhere too
    cmd = json.loads(out2)["findings"][0]["replay"]
    assert cli(*replay_args(cmd))[0] == 1


# -- 5. hidden state ---------------------------------------------------------------------------


@pytest.mark.parametrize(("cls", "needle"), [("CountsCalls", "self.calls"),
                                             ("RemembersGroups", "global SEEN")])
def test_state_kept_outside_locals_is_refused(cls: str, needle: str) -> None:
    code, _, err = cli("check", "--variant", v("hidden.py", cls))
    assert code == 2
    assert needle in err and "local variables" in err


def test_a_bare_yield_is_refused_not_taken_as_the_end() -> None:
    code, out, err = cli("check", "--variant", v("hidden.py", "YieldsNone"))
    assert code == 2
    assert "yielded None" in err
    assert "PROVED" not in out


# -- 8. cross-check -----------------------------------------------------------------------------


def _configs() -> list[tuple[str, list[str]]]:
    out = [("css-id", ["--variant", "css-id", "--groups", "3"]),
           ("seed-spinlock", ["--variant", "seed-spinlock", "--groups", "3", "--walks", "2"])]
    out += [("css-id rmdir", ["--variant", "css-id", "--groups", "2", "--change", "rmdir:A"]),
            ("seed-spinlock rmdir",
             ["--variant", "seed-spinlock", "--groups", "3", "--change", "rmdir:B"])]
    out += [(p.name, ["--config", str(p), "--max-states", "100000"])
            for p in sorted((EXAMPLES / "check").glob("*.toml"))]
    out += [(p.name, ["--variant", f"{p}:HalfLockedIter", "--groups", "3"])
            for p in sorted((EXAMPLES / "variants").glob("half_locked.py"))]
    out += [(name, ["--variant", v(file, cls), "--groups", "3"]) for name, file, cls in (
        ("refpeek", "refpeek.py", "RefPeek"), ("spinner", "spinner.py", "Spinner"),
        ("sentinel", "sentinel.py", "Sentinel"))]
    return out


@pytest.mark.parametrize(("label", "args"), _configs(), ids=[c[0] for c in _configs()])
def test_cross_check_agrees_on_every_built_in_variant_and_example(label: str,
                                                                   args: list[str]) -> None:
    code, out, err = cli("check", *args, "--cross-check")
    assert out.startswith("cross-check:")
    assert "agree" in out and "disagree" not in out, out + err
    found = any(not line.endswith("violations: none") for line in out.splitlines()
                if "violations:" in line)
    assert code == (1 if found else 0), out + err


def test_cross_check_reports_a_disagreement_as_an_internal_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import memcglab.explore.crosscheck as cc

    real = cc.check

    def broken(system: System, cfg: ExploreConfig, clock: object) -> object:
        result = real(system, cfg, clock)  # type: ignore[arg-type]
        if cfg.por:  # a "reduction" that loses every violation
            result.findings = []
        return result

    monkeypatch.setattr(cc, "check", broken)
    code, out, _ = cli("check", "--variant", "css-id", "--groups", "2", "--cross-check")
    assert code == 3
    assert "[memcglab internal bug] the reductions disagree" in out
    assert "--no-por --no-symmetry" in out


def test_cross_check_in_process() -> None:
    loaded = build(CheckFile.model_validate(flat("css-id", 2, 2, 1)), "test")
    report = cross_check(loaded.model, loaded.explore, lambda: 0.0)
    assert not report.differences
    assert len(report.outcomes) == len(RUNS) and all(o.exhausted for o in report.outcomes)


# -- 12. size and time bounded before they are spent ----------------------------------------


def test_an_explicit_state_budget_that_cannot_fit_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"--max-states 10,000,000.*raise --max-memory"):
        fit_to_memory(ExploreConfig(max_states=10_000_000), 1 << 30)
    assert fit_to_memory(ExploreConfig(), 1 << 30) == ExploreConfig()  # same bytes anywhere
    code, _, err = cli("check", "--max-states", "10000000", "--max-memory", "1G")
    assert code == 2 and "--max-memory" in err


def test_the_search_stops_at_the_memory_budget_and_says_so() -> None:
    class Full:
        def exceeded(self) -> bool:
            return True

    loaded = build(CheckFile.model_validate(flat("seed-spinlock", 6, 3, 2)), "test")
    result = search_check(System(loaded.model), replace(loaded.explore, shrink=False),
                          lambda: 0.0, memory=Full())
    assert result.exit_reason is ExitReason.MEMORY_BUDGET
    assert not result.proved


def test_progress_is_reported_during_a_search() -> None:
    seen: list[tuple[int, int, int]] = []
    ticks = iter(range(10**9))
    loaded = build(CheckFile.model_validate(flat("seed-spinlock", 4, 3, 2)), "test")
    search_check(System(loaded.model), loaded.explore, lambda: float(next(ticks)),
                 progress=lambda *a: seen.append(a))
    assert seen and all(s > 0 for s, _, _ in seen)
    assert [s for s, _, _ in seen] == sorted(s for s, _, _ in seen)


def test_random_draws_in_model_code_are_refused(tmp_path: Path) -> None:
    err = refused(tmp_path, "r = random.random()\nyield note('x')\n"
                  "return None if r < 0.5 else (root or 0)", base="CssIdIter")
    assert "random module" in err


# -- conflicting or empty flags are refused, not ignored ------------------------------------


@pytest.mark.parametrize(("args", "needle"), [
    (("--groups", "4", "--tree", "A,B"), "--groups and --tree"),
    (("--tree", ""), "--tree: expected group paths"),
    (("--tree", ",,"), "--tree: expected group paths"),
    (("--replay", "v1:0:0x1", "--strategy", "random"), "cannot be combined with --strategy"),
    (("--config", str(EXAMPLES / "check" / "limit-nested-churn.toml"), "--groups", "3"),
     "applies to a flat one"),
])
def test_conflicting_check_flags_are_refused(args: tuple[str, ...], needle: str) -> None:
    code, _, err = cli("check", *args)
    assert code == 2
    assert needle in err


def test_a_config_files_variant_path_is_relative_to_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cfg").mkdir()
    plugin = (EXAMPLES / "variants" / "half_locked.py").read_text()
    (tmp_path / "cfg" / "mine.py").write_text(plugin)
    (tmp_path / "cfg" / "c.toml").write_text('variant = "mine.py:HalfLockedIter"\n')
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("check", "--config", "cfg/c.toml", "--json", "--no-shrink")
    assert code == 1, err
    cmd = json.loads(out)["findings"][0]["replay"]
    assert str(tmp_path / "cfg" / "mine.py") in cmd
    assert cli(*replay_args(cmd))[0] == 1


def test_cross_check_json_and_a_cut_replay_token() -> None:
    code, out, _ = cli("check", "--variant", "css-id", "--groups", "2", "--cross-check",
                       "--json")
    doc = json.loads(out)
    assert code == 1 and doc["agree"] and len(doc["cross_check"]) == len(RUNS)
    _, out, _ = cli("check", "--variant", "css-id", "--groups", "3", "--json", "--no-shrink")
    token = json.loads(out)["findings"][0]["schedule"]
    cut = token.rsplit(".", 1)[0]
    code, _, err = cli("check", "--variant", "css-id", "--groups", "3", "--replay", cut)
    assert code == 2 and "cut short" in err


def test_a_frozen_dataclass_local_is_a_value_only_if_its_fields_are(tmp_path: Path) -> None:
    err = refused(tmp_path, "w = Walk()", base="CssIdIter", prelude=(
        "@dataclass(frozen=True)\nclass Walk:\n    visited: list = field(default_factory=list)\n"))
    assert "local 'w'" in err and "holds a list" in err


# -- found by an adversarial review of the explorer -----------------------------------------


@pytest.mark.parametrize(("file", "cls", "props"), [
    ("peeklock.py", "PeekLock", {"unique_claim", "round_complete", "generation_monotonic"}),
    ("barrier.py", "Barrier", set()),
    ("handshake.py", "Handshake", set()),
    ("handshake.py", "HandshakeRacy", {"unique_claim", "round_complete",
                                        "generation_monotonic"}),
    ("refwait.py", "RefWait", {"termination"}),
])
def test_reduced_and_unreduced_searches_agree(file: str, cls: str, props: set[str]) -> None:
    seen = []
    for por, sym in ((True, True), (False, False)):
        result, _ = check(flat(v(file, cls), 3 if file != "barrier.py" else 2, 2, 1),
                          por=por, symmetry=sym, shrink=False)
        assert result.exit_reason is ExitReason.EXHAUSTED
        seen.append({f.prop for f in result.findings})
    assert seen[0] == seen[1] == props


def test_the_lock_word_read_makes_the_release_an_interleaving_point() -> None:
    result, _ = check(flat(v("peeklock.py", "PeekLock"), 3, 2, 1), shrink=False)
    assert "release of iter[root,node0/zone0,prio 12].iter_lock" in result.interleaving_points


def test_a_proof_under_a_preemption_bound_says_what_it_leaves_out() -> None:
    code, out, _ = cli("check", "--variant", v("refwait.py", "RefWait"), "--groups", "3",
                       "--max-preemptions", "2")
    assert code == 0
    assert "not covered; drop --max-preemptions" in out
    code, out, _ = cli("check", "--variant", v("refwait.py", "RefWait"), "--groups", "3")
    assert code == 1 and "livelock" in out


# -- found by a second adversarial review ---------------------------------------------------


@pytest.mark.parametrize(("por", "sym"), [(True, True), (False, False)])
def test_the_step_bound_is_checked_on_the_longest_run(por: bool, sym: bool) -> None:
    code, out, _ = cli("check", "--variant", v("longpath.py", "LongPath"), "--groups", "2",
                       "--max-steps", "110", "--json", *([] if por else ["--no-por"]),
                       *([] if sym else ["--no-symmetry"]))
    [f] = json.loads(out)["findings"]
    assert code == 1 and f["message"] == "a run exceeded max_steps=110"
    rc, again, err = cli(*replay_args(f["replay"]), "--json")
    assert rc == 1, err
    assert json.loads(again)["reproduced"] is True


@pytest.mark.parametrize(("file", "cls", "needle"), [
    ("boolmerge.py", "BoolMerge", "kernel memory holds integers"),
    ("boolmerge.py", "FloatMerge", "kernel memory holds integers"),
    ("reinit.py", "ReinitLock", "a spinlock's word"),
])
def test_stores_the_model_cannot_tell_apart_are_refused(file: str, cls: str,
                                                        needle: str) -> None:
    code, _, err = cli("check", "--variant", v(file, cls), "--groups", "2")
    assert code == 2 and needle in err


@pytest.mark.parametrize(("body", "needle"), [
    ("yield Op(Kind.SLEEP, 1, None, 'cond_resched()')", "not an operation of the explorer"),
    ("yield Op(Kind.WALK_START, None, None, 'forged')", "invariant monitors' own"),
    ("yield css_get_next(self.k, 'x', root)", "css_get_next('x'"),
    ("yield Op(99, None, None, 'x')", "99 is not an operation"),
    ("yield Op(Kind.MKDIR, 2, None, 'mkdir')", "admin CPU's"),
    ("yield Op(Kind.FREE_CSS_ID, 1, None, 'free_css_id')", "admin CPU's"),
    ("yield css_get(self.k, -1)", "no such group"),
])
def test_operations_and_operands_a_variant_may_not_yield(tmp_path: Path, body: str,
                                                        needle: str) -> None:
    assert needle in refused(tmp_path, body, "--groups", "3")


@pytest.mark.parametrize(("make", "needle"), [
    ("random.Random(1)", "global _rng"), ("random.SystemRandom()", "SystemRandom")])
def test_a_private_random_generator_is_refused(tmp_path: Path, make: str,
                                               needle: str) -> None:
    err = refused(tmp_path, "if prev is not None and _rng.random() < 0.05:\n    return root",
                  "--groups", "3", prelude=f"_rng = {make}\n")
    assert needle in err


@pytest.mark.parametrize("por", [True, False])
def test_a_long_run_beside_a_cycle_is_still_reported(por: bool) -> None:
    code, out, _ = cli("check", "--variant", v("longpath.py", "LongPathThenSpin"), "--groups",
                       "2", "--max-steps", "110", "--json",
                       *([] if por else ["--no-por", "--no-symmetry"]))
    findings = json.loads(out)["findings"]
    assert code == 1
    assert {f["message"].split(":")[0] for f in findings} == {"livelock",
                                                             "a run exceeded max_steps=110"}
    for f in findings:
        assert cli(*replay_args(f["replay"]))[0] == 1


# -- found by a third adversarial review ----------------------------------------------------


@pytest.mark.parametrize("body", [
    "total = (yield load(it.position, 'a')) + (yield load(it.generation, 'b'))",
    "for slot in (it.generation, it.generation):\n    yield load(slot, 'x')",
    "try:\n    return (yield from super().mem_cgroup_iter(root, prev, reclaim))\n"
    "finally:\n    yield load(it.generation, 'b')",
])
def test_values_kept_on_the_stack_across_a_yield_are_refused(tmp_path: Path,
                                                             body: str) -> None:
    err = refused(tmp_path, "it = self.k.iter(self.k.root_mem_cgroup, 0, 12)\n" + body,
                  "--groups", "2")
    assert "keeps a value on Python's stack across a yield" in err


def test_a_proof_says_when_the_step_bound_left_runs_through_cycles_out() -> None:
    code, out, _ = cli("check", "--variant", v("barrier.py", "Barrier"), "--groups", "2",
                       "--max-steps", "90")
    assert code == 0
    assert "the step bound was checked on runs outside cycles" in out
