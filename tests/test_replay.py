"""Replay round trips and determinism (conventions C3, C4)."""

from __future__ import annotations

import json

from tests.conftest import check, cli, flat


def test_replay_reproduces_every_finding_exactly() -> None:
    result, _ = check(flat("css-id", 4, 2, 1))
    assert result.findings
    for f in result.findings:
        code, out, err = cli("check", "--variant", "css-id", "--json", "--replay",
                             f.schedule.token())
        assert code == 1, err
        doc = json.loads(out)
        [again] = doc["findings"]
        assert (again["property"], again["race"], again["message"]) == (
            f.prop, f.race.id if f.race else None, f.message)
        assert again["steps"] == f.steps and again["preemptions"] == f.preemptions
        assert len(again["trace"]) == len(f.trace)


def test_printed_replay_command_is_the_one_that_works() -> None:
    code, out, _ = cli("check", "--variant", "css-id", "--groups", "3", "--json")
    assert code == 1
    cmd = json.loads(out)["findings"][0]["replay"].split()
    assert cmd[:2] == ["memcglab", "check"]
    code2, out2, _ = cli(*cmd[1:], "--json")
    assert code2 == 1
    assert json.loads(out2)["findings"][0]["message"] == json.loads(out)["findings"][0][
        "message"]


def test_replay_on_another_configuration_is_refused() -> None:
    result, _ = check(flat("css-id", 4, 2, 1))
    token = result.findings[0].schedule.token()
    code, _, err = cli("check", "--variant", "css-id", "--groups", "5", "--replay", token)
    assert code == 2
    assert "made for configuration" in err


def test_bad_token_is_a_clear_error() -> None:
    code, _, err = cli("check", "--replay", "garbage")
    assert code == 2 and "expected a token like" in err


def test_same_seed_same_bytes() -> None:
    for strategy in ("exhaustive", "random", "pct"):
        args = ("check", "--variant", "css-id", "--strategy", strategy, "--runs", "50",
                "--seed", "7", "--json")
        first = cli(*args)
        assert first == cli(*args), strategy
        assert first[0] == 1


def test_different_seeds_explore_differently() -> None:
    a = check(flat("css-id", 4, 2, 1, strategy="random", runs=30, seed=1), shrink=False)[0]
    b = check(flat("css-id", 4, 2, 1, strategy="random", runs=30, seed=2), shrink=False)[0]
    assert [f.schedule for f in a.findings] != [f.schedule for f in b.findings]
