"""Shared helpers: build configurations from TOML-shaped dicts and run checks in-process."""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

import pytest

from memcglab.cli.check_cmd import run_loaded
from memcglab.cli.main import main
from memcglab.explore.result import CheckResult
from memcglab.explore.system import System
from memcglab.scenario.check_config import CheckFile, build


def check(raw: dict[str, Any], **explore: Any) -> tuple[CheckResult, System]:
    loaded = build(CheckFile.model_validate(raw), "test")
    result, system, _ = run_loaded(loaded.model, replace(loaded.explore, **explore))
    return result, system


def flat(variant: str, groups: int = 4, reclaimers: int = 2, walks: int = 1,
         **explore: Any) -> dict[str, Any]:
    return {"variant": variant, "hierarchy": {"groups": groups},
            "reclaim": {"reclaimers": reclaimers, "walks": walks}, "explore": explore}


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return int(code), out.getvalue(), err.getvalue()


@pytest.fixture
def run_cli():  # type: ignore[no-untyped-def]
    return cli


# Tests that touch the live kernel (cgroups, tracefs, bpftrace, zram, a kernel run) share
# this machine's global state: with pytest-xdist they all run on one worker, one after
# another (--dist loadgroup), while the pure tests spread over the others.
_LIVE_MODULES = ("test_kernel_run", "test_kernel_probe", "test_live_", "test_validation",
                 "test_data_safety", "test_selftest_protection")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        name = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        if name.startswith(_LIVE_MODULES) or "kernel_cells" in item.name:
            item.add_marker(pytest.mark.xdist_group("live"))
