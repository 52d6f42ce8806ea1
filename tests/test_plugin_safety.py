"""A variant plugin cannot fake a result: whatever it does wrong is a user error (exit 2)
that names it, alike in ``run`` and ``check``; never exit 0, never an internal error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import cli

ROOT = Path(__file__).resolve().parents[1]
FLAT = str(ROOT / "scenarios" / "flat-limit.toml")
CHECK = ("--groups", "3", "--reclaimers", "2", "--walks", "1")
RUN = ("--no-progress",)
# Limit reclaim within the first milliseconds: the variant's code runs at once.
QUICK = """duration = "5ms"
[machine]
pages_per_zone = "16M"
[[group]]
name = "a"
limit = "1M"
[[workload]]
group = "a"
pattern = "stream"
size = "8M"
rate = "4G"
"""


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> str:
    f = tmp_path_factory.mktemp("scenario") / "quick.toml"
    f.write_text(QUICK)
    return str(f)

HEAD = ("import sys\n"
        "from memcglab.kernel.iter_css_id import CssIdIter\n"
        "from memcglab.kernel.iter_seed_spinlock import SeedSpinlockIter\n"
        "from memcglab.kernel.iterator import Invariant, MemcgIter\n"
        "from memcglab.runtime.ops import note\n")

PLUGINS: dict[str, tuple[str, str]] = {
    # name: (class body after HEAD, what the message says)
    "exit0_import": ("sys.exit(0)\n", "called sys.exit(0) while being imported"),
    "exit3_import": ("sys.exit(3)\n", "called sys.exit(3) while being imported"),
    "abstract": ("class P(MemcgIter):\n    name = 'abstract'\n",
                 "does not implement mem_cgroup_iter, mem_cgroup_iter_break"),
    "init_raises": ("class P(CssIdIter):\n    name = 'x'\n"
                    "    def __init__(self, k):\n        raise RuntimeError('no')\n",
                    "__init__ raised RuntimeError: no"),
    "init_exits": ("class P(CssIdIter):\n    name = 'x'\n"
                   "    def __init__(self, k):\n        sys.exit(0)\n",
                   "__init__ called sys.exit(0)"),
    "exit_in_iter": ("class P(CssIdIter):\n    name = 'x'\n"
                     "    def mem_cgroup_iter(self, root, prev, reclaim):\n"
                     "        yield note('x')\n        sys.exit(0)\n",
                     "mem_cgroup_iter called sys.exit(0)"),
    "invariants_5": ("class P(SeedSpinlockIter):\n    name = 'x'\n"
                     "    def invariants(self):\n        return 5\n",
                     "invariants() must return a tuple of memcglab.kernel.iterator.Invariant"),
    "invariants_raise": ("class P(SeedSpinlockIter):\n    name = 'x'\n"
                         "    def invariants(self):\n        return 1 / 0\n",
                         "invariants() raised ZeroDivisionError"),
    "negative_index": ("class P(CssIdIter):\n    name = 'x'\n"
                       "    def mem_cgroup_iter(self, root, prev, reclaim):\n"
                       "        yield note('x')\n        return -1\n",
                       "mem_cgroup_iter returned -1; it must return None or a group index"),
    "bool_index": ("class P(CssIdIter):\n    name = 'x'\n"
                   "    def mem_cgroup_iter(self, root, prev, reclaim):\n"
                   "        yield note('x')\n        return True\n",
                   "mem_cgroup_iter returned True"),
    "string_fields": ("class P(CssIdIter):\n    name = 'x'\n"
                      "    iter_fields = 'position generation'\n",
                      "iter_fields must be a tuple of field names"),
    "duplicate_fields": ("class P(CssIdIter):\n    name = 'x'\n"
                         "    iter_fields = ('position', 'generation', 'position')\n",
                         "iter_fields names position more than once"),
    "not_a_generator": ("class P(CssIdIter):\n    name = 'x'\n"
                        "    def mem_cgroup_iter(self, root, prev, reclaim):\n"
                        "        return None\n",
                        "mem_cgroup_iter must be a generator function"),
}


@pytest.fixture(params=sorted(PLUGINS))
def plugin(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    body, needle = PLUGINS[request.param]
    f = tmp_path / f"{request.param}.py"
    f.write_text(HEAD + body)
    return f"{f}:P", needle


def test_check_refuses_the_plugin_with_exit_2(plugin: tuple[str, str]) -> None:
    spec, needle = plugin
    for extra in ((), ("--json",)):
        code, out, err = cli("check", "--variant", spec, *CHECK, *extra)
        assert code == 2 and needle in err, err
        assert out == "" and "internal bug" not in err


def test_run_refuses_the_plugin_with_exit_2(plugin: tuple[str, str], quick: str) -> None:
    spec, needle = plugin
    code, out, err = cli("run", quick, "--variant", spec, *RUN, "--json")
    assert code == 2 and needle in err, err
    assert out == "" and "internal bug" not in err


@pytest.mark.parametrize(("pred", "needle"), [
    ("1 / 0", "invariant 'bad' raised ZeroDivisionError: division by zero"),
    ("123", "invariant 'bad' returned 123; it must return None"),
    ("sys.exit(0)", "invariant 'bad' called sys.exit(0)"),
])
def test_a_broken_invariant_predicate_is_a_model_error(pred: str, needle: str,
                                                       tmp_path: Path) -> None:
    f = tmp_path / "inv.py"
    f.write_text(HEAD + "class P(SeedSpinlockIter):\n    name = 'x'\n"
                 "    def invariants(self):\n"
                 f"        return (Invariant('bad', 'toy', lambda view: {pred}),)\n")
    code, out, err = cli("check", "--variant", f"{f}:P", *CHECK)
    assert code == 2 and "memcglab: model error:" in err and needle in err, err
    assert f"{f}:P" in err and out == ""


def test_a_plugin_that_only_notes_hits_the_step_bound_in_run(tmp_path: Path,
                                                             quick: str) -> None:
    f = tmp_path / "spin.py"
    f.write_text(HEAD + "class P(CssIdIter):\n    name = 'spin'\n"
                 "    def mem_cgroup_iter(self, root, prev, reclaim):\n"
                 "        while True:\n            yield note('spin')\n")
    code, _, err = cli("run", quick, "--variant", f"{f}:P", *RUN)
    assert code == 2 and "without an interleaving point" in err and "step bound" in err


def test_a_plugin_named_like_a_builtin_is_reported_with_its_file(tmp_path: Path) -> None:
    f = tmp_path / "fake.py"
    f.write_text(HEAD + "class P(CssIdIter):\n    pass\n")  # inherits name = 'css-id'
    code, out, _ = cli("check", "--variant", f"{f}:P", *CHECK, "--json")
    assert code == 1
    assert json.loads(out)["variant"]["name"] == f"css-id ({f}:P)"
    code, out, _ = cli("check", "--variant", f"{f}:P", *CHECK)
    assert f"variant css-id ({f}:P)" in out


def test_a_printing_plugin_does_not_corrupt_json(tmp_path: Path, quick: str) -> None:
    f = tmp_path / "loud.py"
    f.write_text(HEAD + "print('HELLO FROM PLUGIN')\nclass P(SeedSpinlockIter):\n"
                 "    name = 'loud'\n"
                 "    def invariants(self):\n        print('INVARIANTS')\n        return ()\n")
    printed: list[str] = []
    for argv in (("check", "--variant", f"{f}:P", *CHECK, "--json"),
                 ("run", quick, "--variant", f"{f}:P", *RUN, "--json")):
        code, out, err = cli(*argv)
        assert code in (0, 1), err
        json.loads(out)
        assert "INVARIANTS" in err and "HELLO" not in out and "INVARIANTS" not in out
        printed.append(err)
    assert "HELLO FROM PLUGIN" in printed[0]  # imported once, by the first command


def test_memory_error_is_a_resource_limit_not_a_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    def oom(*a: object, **k: object) -> None:
        raise MemoryError

    monkeypatch.setattr("memcglab.cli.run_cmd.simulate", oom)
    code, _, err = cli("run", FLAT, *RUN)
    assert code == 2 and "out of memory (a resource limit" in err and "internal" not in err
    monkeypatch.setattr("memcglab.cli.check_cmd.check", oom)
    code, _, err = cli("check", *CHECK)
    assert code == 2 and "out of memory" in err and "--max-states" in err
