#!/usr/bin/env python3
"""Side-by-side benchmark: ``memcglab check`` against the Spin model checker.

Both tools explore the same configurations of the seed's reclaim iterator (flat hierarchy,
global reclaim, one zone, one priority) and check the same invariant (unique claim: within one
generation the shared iterator hands out each group at most once). Spin runs the Promela
yardstick in ``shared/anchors/spin/memcg_iter.pml`` the way its ``run.sh`` does.

Per row the runner reports

* the search time of each tool: ``memcglab``'s ``check()`` timed in-process with
  ``time.perf_counter`` (model construction excluded) and Spin's ``./pan`` run (``spin -a`` and
  the gcc compile excluded), and their ratio;
* the end-to-end wall time of each tool: the ``memcglab check ... --json`` CLI in a subprocess
  (interpreter start-up and imports included) and ``spin -a`` + ``gcc`` + ``./pan``;
* states: ``memcglab``'s distinct states (after its symmetry and partial-order reductions) and
  Spin's "states, stored" (after Spin's own partial-order reduction) - not the same unit;
* a verdict: both tools must reach the expected outcome (a violation or a full proof).

A second table prices the soundness work of issue 6 in the same run: per row, the search
time of a baseline commit (``--baseline``, default 5ace5d5: 64-bit ``hash()`` fingerprints, no
cycle detection), run from a temporary ``git worktree`` in a subprocess, against this tree's
default (exact state storage, livelock detection), ``--state-store hash-compact``, and the
full cycle analysis forced on; each as a ratio to the baseline.

Usage::

    .venv/bin/python benchmarks/bench_check.py [--quick] [--json PATH] [--repeat N] [--install]
        [--baseline COMMIT | --no-baseline]

Exit status: 0 when every row agrees and matches its expectation, 1 when one does not, 2 when
Spin, gcc or the Spin model is missing.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memcglab import __version__ as MEMCGLAB_VERSION
from memcglab.cli.check_cmd import run_loaded
from memcglab.explore.config import ExploreConfig
from memcglab.scenario.check_config import CheckFile, ExploreSection, build

SPIN_ENV = "MEMCGLAB_SPIN_DIR"
SPIN_MODEL = "memcg_iter.pml"
CURRENT_MODEL = "memcg_iter_current.pml"
CAP_S = 600.0  # per tool on the large current rows (Spin had not finished K=4 NR=3 W=2
# after 9.5 minutes, 250 million states and 12 GB on this kind of machine)
NOT_FINISHED = "not finished"
SPIN_MEMLIM_MB = 12288
PAN_DEPTH = 1_000_000  # run.sh: ./pan -m1000000
HAS_STOP_ON_FIRST = ("stop_on_first" in ExploreSection.model_fields
                     and "stop_on_first" in ExploreConfig.__dataclass_fields__)

VIOLATION = "violation"
VERIFIED = "verified"


@dataclass(frozen=True, slots=True)
class Row:
    """One configuration, run by both tools."""

    variant: str  # memcglab variant name
    locked: int  # Spin -DLOCKED
    groups: int  # K: css ids including the root
    reclaimers: int  # NR
    walks: int  # WALKS per reclaimer
    first: bool  # stop at the first counterexample (Spin always does)
    expected: str  # VIOLATION or VERIFIED
    slow: bool = False  # skipped by --quick
    spin_model: str = SPIN_MODEL
    spin_define: str = "LOCKED"  # memcg_iter_current.pml takes -DINV instead
    properties: tuple[str, ...] = ()  # memcglab --property (the invariant Spin checks)
    cap_s: float | None = None  # both tools stop after this many seconds

    @property
    def label(self) -> str:
        mode = "first cex" if self.first else "verify"
        inv = f" INV={self.locked}" if self.spin_define == "INV" else ""
        return (f"{self.variant}{inv} K={self.groups} NR={self.reclaimers} "
                f"W={self.walks} ({mode})")


ROWS: tuple[Row, ...] = (
    Row("css-id", 0, 4, 2, 1, first=True, expected=VIOLATION),
    Row("seed-spinlock", 1, 4, 2, 2, first=False, expected=VERIFIED),
    Row("seed-spinlock", 1, 4, 3, 2, first=False, expected=VERIFIED),
    Row("seed-spinlock", 1, 8, 3, 2, first=False, expected=VERIFIED, slow=True),
    # Today's iterator against memcg_iter_current.pml: INV=0 the seed's per-generation
    # invariant (unique_claim), INV=1 per-lap uniqueness (unique_per_lap).
    Row("current", 0, 4, 2, 1, first=True, expected=VIOLATION,
        spin_model=CURRENT_MODEL, spin_define="INV", properties=("unique_claim",)),
    Row("current", 1, 4, 2, 2, first=False, expected=VERIFIED,
        spin_model=CURRENT_MODEL, spin_define="INV", properties=("unique_per_lap",)),
    Row("current", 1, 4, 3, 2, first=False, expected=VERIFIED, slow=True,
        spin_model=CURRENT_MODEL, spin_define="INV", properties=("unique_per_lap",),
        cap_s=CAP_S),
    Row("current", 1, 8, 3, 2, first=False, expected=VERIFIED, slow=True,
        spin_model=CURRENT_MODEL, spin_define="INV", properties=("unique_per_lap",),
        cap_s=CAP_S),
)


@dataclass(slots=True)
class MemcglabRun:
    search_s: float  # median of the in-process check() times
    samples_s: list[float]
    states: int
    transitions: int
    findings: list[str]
    exit_reason: str
    proved: bool
    outcome: str
    cli_s: float  # end-to-end wall time of the CLI subprocess
    cli_states: int | None
    cli_exit: int
    cli_command: list[str]
    shrink: bool
    stop_on_first: bool


@dataclass(slots=True)
class SpinRun:
    pan_s: float  # median of the ./pan run times
    samples_s: list[float]
    generate_s: float  # spin -a
    compile_s: float  # gcc
    end_to_end_s: float  # spin -a + gcc + first ./pan run
    states: int | None
    errors: int | None
    assertion: str | None
    memory_mb: float | None  # pan's "total actual memory usage"
    warnings: list[str]
    pan_exit: int
    outcome: str
    commands: list[list[str]]


@dataclass(slots=True)
class Result:
    row: Row
    memcglab: MemcglabRun
    spin: SpinRun
    verdict: str
    ok: bool
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.memcglab.search_s / self.spin.pan_s if self.spin.pan_s > 0 else float("inf")

    @property
    def ratio_end_to_end(self) -> float:
        s = self.spin.end_to_end_s
        return self.memcglab.cli_s / s if s > 0 else float("inf")


# -- locating the tools ---------------------------------------------------------------------


def spin_dir() -> Path:
    env = os.environ.get(SPIN_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return Path(__file__).resolve().parents[2] / "shared" / "anchors" / "spin"


def ensure_spin(install: bool) -> bool:
    """True when spin and gcc are on PATH; with ``install``, try apt-get first."""
    if shutil.which("spin") is None and install:
        cmd = ["apt-get", "install", "-y", "spin"]
        if os.geteuid() != 0 and shutil.which("sudo"):
            cmd.insert(0, "sudo")
        print("$ " + " ".join(cmd), flush=True)
        rc = subprocess.run(cmd, check=False).returncode
        if rc != 0:
            print(f"apt-get failed (exit {rc}); try `apt-get update` first", file=sys.stderr)
    missing = [t for t in ("spin", "gcc") if shutil.which(t) is None]
    if "spin" in missing:
        print("spin is not installed. Install it with:\n"
              "    apt-get install spin        (Debian/Ubuntu; as root, or with sudo)\n"
              "or rerun this script with --install to do that.", file=sys.stderr)
    if "gcc" in missing:
        print("gcc is not installed (Spin compiles its verifier): apt-get install gcc",
              file=sys.stderr)
    return not missing


def memcglab_cli() -> list[str]:
    script = Path(sys.executable).parent / "memcglab"
    if script.exists():
        return [str(script)]
    found = shutil.which("memcglab")
    return [found] if found else [sys.executable, "-m", "memcglab"]


def _first_line(cmd: list[str]) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError:
        return "unavailable"
    lines = (p.stdout or p.stderr).strip().splitlines()
    return lines[0].strip() if lines else "unavailable"


def _git_head() -> str:
    repo = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}{' (uncommitted changes)' if dirty else ''}"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "spin": _first_line(["spin", "-V"]),
        "gcc": _first_line(["gcc", "--version"]),
        "memcglab": MEMCGLAB_VERSION,
        "git": _git_head(),
    }


# -- memcglab ---------------------------------------------------------------------------------


def check_dict(row: Row) -> dict[str, Any]:
    explore: dict[str, Any] = {"strategy": "exhaustive"}
    if row.first and HAS_STOP_ON_FIRST:
        explore["stop_on_first"] = True
    if row.cap_s is not None:
        explore["time_budget"] = row.cap_s
    extra: dict[str, Any] = {"properties": list(row.properties)} if row.properties else {}
    return {
        **extra,
        "variant": row.variant,
        "hierarchy": {"shape": "flat", "groups": row.groups},
        "machine": {"nodes": 1, "zones": 1},
        "reclaim": {"mode": "global", "reclaimers": row.reclaimers, "walks": row.walks,
                    "priorities": [12]},
        "explore": explore,
    }


def cli_args(row: Row, shrink: bool) -> list[str]:
    args = ["check", "--variant", row.variant, "--shape", "flat", "--groups", str(row.groups),
            "--nodes", "1", "--zones", "1", "--mode", "global",
            "--reclaimers", str(row.reclaimers), "--walks", str(row.walks),
            "--priorities", "12", "--strategy", "exhaustive"]
    if row.first and HAS_STOP_ON_FIRST:
        args.append("--first")
    for prop in row.properties:
        args += ["--property", prop]
    if not shrink:
        args.append("--no-shrink")
    return [*args, "--json"]


def run_memcglab(row: Row, repeat: int, shrink: bool) -> MemcglabRun:
    loaded = build(CheckFile.model_validate(check_dict(row)), "bench")
    explore = loaded.explore if shrink else dataclasses.replace(loaded.explore, shrink=False)
    samples: list[float] = []
    for _ in range(repeat):
        gc.collect()
        result, _system, elapsed = run_loaded(loaded.model, explore)
        samples.append(elapsed)
    if result.findings:
        outcome = VIOLATION
    elif result.proved:
        outcome = VERIFIED
    elif result.exit_reason.name == "TIME_BUDGET":
        outcome = NOT_FINISHED
    else:
        outcome = f"incomplete ({result.exit_reason.name.lower()})"

    cmd = [*memcglab_cli(), *cli_args(row, shrink)]
    if row.cap_s is not None:
        # The capped rows are too long to run twice: the CLI is not timed there.
        p = subprocess.CompletedProcess(cmd, 0 if outcome == VERIFIED else 1, "{}", "")
        cli_s = float("nan")
    else:
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, check=False)
        cli_s = time.perf_counter() - t0
    cli_states: int | None = None
    with contextlib.suppress(ValueError, KeyError, TypeError):
        cli_states = int(json.loads(p.stdout)["states"])
    return MemcglabRun(
        search_s=statistics.median(samples), samples_s=samples, states=result.states,
        transitions=result.transitions, findings=[f.title for f in result.findings],
        exit_reason=result.exit_reason.name.lower(), proved=result.proved, outcome=outcome,
        cli_s=cli_s, cli_states=cli_states, cli_exit=p.returncode, cli_command=cmd,
        shrink=explore.shrink, stop_on_first=bool(getattr(explore, "stop_on_first", False)))


# -- Spin ---------------------------------------------------------------------------------------

_ERRORS = re.compile(r"errors:\s*(\d+)")
_STATES = re.compile(r"^\s*([0-9.eE+]+)\s+states, stored", re.MULTILINE)
_ASSERT = re.compile(r"assertion violated\s*(.*)")
_MEMORY = re.compile(r"^\s*([0-9.]+)\s+total actual memory usage", re.MULTILINE)
# lines that mean the search did not cover the whole space (pan also says "Search not completed"
# after an error, which is expected when it stops at its first counterexample)
_INCOMPLETE = ("max search depth too small", "out of memory", "reached -dmemlim",
               "search not completed", "aborted")


def _timed(cmd: list[str], cwd: Path, timeout: float | None = None
           ) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False,
                       timeout=timeout)
    return time.perf_counter() - t0, p


def _must(p: subprocess.CompletedProcess[str], what: str) -> None:
    if p.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {p.returncode}):\n{p.stdout}{p.stderr}")


def run_spin(row: Row, model_dir: Path, repeat: int) -> SpinRun:
    gen = ["spin", f"-D{row.spin_define}={row.locked}", f"-DK={row.groups}",
           f"-DNR={row.reclaimers}", f"-DWALKS={row.walks}", "-a", row.spin_model]
    # run_current.sh compiles with -DCOLLAPSE (memory) for today's model; MEMLIM stops pan
    # at the 12 GB the anchor's README reports instead of letting the machine run out.
    collapse = (["-DCOLLAPSE", f"-DMEMLIM={SPIN_MEMLIM_MB}"] if row.spin_model == CURRENT_MODEL
                else [])
    cc = ["gcc", "-O2", "-DSAFETY", *collapse, "-w", "-o", "pan", "pan.c"]
    pan = ["./pan", f"-m{PAN_DEPTH}"]
    with tempfile.TemporaryDirectory(prefix="bench-spin-") as tmp:
        d = Path(tmp)
        shutil.copy(model_dir / row.spin_model, d / row.spin_model)
        gen_s, p = _timed(gen, d)
        _must(p, "spin -a")
        cc_s, p = _timed(cc, d)
        _must(p, "gcc")
        samples: list[float] = []
        out = ""
        rc = 0
        capped = False
        for _ in range(repeat):
            try:
                s, p = _timed(pan, d, row.cap_s)
            except subprocess.TimeoutExpired:
                samples.append(row.cap_s or 0.0)
                capped = True
                break
            samples.append(s)
            out, rc = p.stdout + p.stderr, p.returncode
    errors = int(m.group(1)) if (m := _ERRORS.search(out)) else None
    states = int(float(m.group(1))) if (m := _STATES.search(out)) else None
    assertion = m.group(1).strip() if (m := _ASSERT.search(out)) else None
    memory_mb = float(m.group(1)) if (m := _MEMORY.search(out)) else None
    warnings = [line.strip() for line in out.splitlines()
                if any(w in line.lower() for w in _INCOMPLETE)]
    if capped:
        outcome = NOT_FINISHED
    elif errors is None or states is None:
        outcome = "unparsed pan output"
    elif errors > 0:
        outcome = VIOLATION
    elif warnings:
        outcome = "incomplete"
    else:
        outcome = VERIFIED
    return SpinRun(pan_s=statistics.median(samples), samples_s=samples, generate_s=gen_s,
                   compile_s=cc_s, end_to_end_s=gen_s + cc_s + samples[0], states=states,
                   errors=errors, assertion=assertion, memory_mb=memory_mb,
                   warnings=warnings, pan_exit=rc,
                   outcome=outcome, commands=[gen, cc, pan])


# -- verdicts and output --------------------------------------------------------------------


def judge(row: Row, m: MemcglabRun, s: SpinRun) -> tuple[str, bool, list[str]]:
    notes: list[str] = []
    if m.cli_states is not None and m.cli_states != m.states:
        notes.append(f"CLI states {m.cli_states:,} != in-process {m.states:,}")
    expected_exit = 1 if row.expected == VIOLATION else 0
    if m.cli_exit != expected_exit:
        notes.append(f"memcglab CLI exit {m.cli_exit}, expected {expected_exit}")
    if row.first and not m.stop_on_first:
        notes.append("memcglab has no stop_on_first: full search timed")
    if row.expected == VIOLATION and m.findings and not any(
            t.startswith("unique_claim") for t in m.findings):
        notes.append(f"memcglab found {m.findings[0]}, not unique_claim")
    if s.outcome == NOT_FINISHED:
        notes.append(f"Spin stopped after {row.cap_s:.0f} s: the ratio is an upper bound")
    elif row.cap_s is not None and s.outcome == "incomplete":
        notes.append(f"Spin stopped at its memory limit after {s.pan_s:.0f} s: the ratio is "
                     "an upper bound")
    if s.assertion and "claimed" not in s.assertion:
        notes.append(f"Spin broke a different assertion: {s.assertion}")
    if s.errors == 0:
        notes += [f"Spin: {w}" for w in s.warnings]
    if m.outcome == row.expected and row.cap_s is not None and (
            s.outcome == NOT_FINISHED or (s.outcome == "incomplete" and s.errors == 0)):
        why = (f"in {row.cap_s:.0f} s" if s.outcome == NOT_FINISHED
               else f"within {SPIN_MEMLIM_MB // 1024} GB")
        verdict, ok = f"memcglab {row.expected}; Spin not finished {why}", True
        return verdict, ok, notes
    if m.outcome == NOT_FINISHED:
        return f"memcglab not finished in {row.cap_s:.0f} s; Spin {s.outcome}", False, notes
    if m.outcome == s.outcome == row.expected:
        verdict, ok = f"agree: {row.expected}", not notes
        if notes:
            verdict += " (see notes)"
    elif m.outcome == s.outcome:
        verdict, ok = f"agree, UNEXPECTED: {m.outcome}", False
    else:
        verdict, ok = f"DISAGREE: memcglab {m.outcome}, Spin {s.outcome}", False
    return verdict, ok, notes


def _secs(x: float) -> str:
    if x != x:  # nan: not measured
        return "-"
    return f"{x:.3f} s" if x < 10 else f"{x:.1f} s"


def _num(x: int | None) -> str:
    return "?" if x is None else f"{x:,}"


def _ratio(x: float) -> str:
    if x != x:  # nan: not measured
        return "-"
    return f"{x:.2f}x" if x < 10 else f"{x:.1f}x"


TABLE_HEAD = ("configuration", "memcglab time", "memcglab states", "Spin time", "Spin states",
              "ratio m/S", "verdict", "memcglab e2e", "Spin e2e (gen+cc+pan)", "e2e ratio")
RIGHT = {1, 2, 3, 4, 5, 7, 8, 9}


def table_rows(results: Sequence[Result]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for r in results:
        s = r.spin
        out.append((
            r.row.label, _secs(r.memcglab.search_s), _num(r.memcglab.states), _secs(s.pan_s),
            _num(s.states), _ratio(r.ratio), r.verdict, _secs(r.memcglab.cli_s),
            f"{_secs(s.end_to_end_s)} ({s.generate_s:.2f}+{s.compile_s:.2f}+{s.samples_s[0]:.2f})",
            _ratio(r.ratio_end_to_end)))
    return out


def render_table(results: Sequence[Result]) -> str:
    rows = [TABLE_HEAD, *table_rows(results)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(TABLE_HEAD))]

    def fmt(r: tuple[str, ...]) -> str:
        cells = [c.rjust(w) if i in RIGHT else c.ljust(w)
                 for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        return "| " + " | ".join(cells) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([fmt(TABLE_HEAD), rule, *(fmt(r) for r in rows[1:])])


def header(info: dict[str, Any], args: argparse.Namespace, model_dir: Path) -> str:
    return "\n".join([
        "memcglab check vs Spin: flat hierarchy, global reclaim, 1 zone, 1 priority",
        f"machine: nproc={info['nproc']} ({info['cpu']}), {info['platform']}",
        f"python {info['python']}; {info['spin']}; {info['gcc']}",
        f"memcglab {info['memcglab']} at {info['git']}; Spin model {model_dir / SPIN_MODEL}",
        f"repeat={args.repeat} (times are medians); "
        f"memcglab shrink={'on' if args.shrink else 'off'}; pan -m{PAN_DEPTH}, gcc -O2 -DSAFETY",
    ])


LEGEND = """\
time: memcglab = check() in-process (perf_counter); Spin = ./pan run (spin -a and gcc excluded).
e2e: memcglab = `memcglab check ... --json` subprocess; Spin = spin -a + gcc + ./pan.
states: memcglab distinct states after symmetry + POR; Spin "states, stored" (not one unit).
ratio m/S: memcglab time / Spin time (>1: memcglab slower)."""


def to_json(info: dict[str, Any], args: argparse.Namespace, model_dir: Path,
            results: Sequence[Result]) -> dict[str, Any]:
    return {
        "machine": info,
        "options": {"quick": args.quick, "repeat": args.repeat, "shrink": args.shrink,
                    "spin_dir": str(model_dir), "pan_depth": PAN_DEPTH,
                    "stop_on_first_available": HAS_STOP_ON_FIRST},
        "rows": [{
            "configuration": r.row.label,
            "row": dataclasses.asdict(r.row),
            "memcglab": dataclasses.asdict(r.memcglab),
            "spin": dataclasses.asdict(r.spin),
            "ratio_time": r.ratio,
            "ratio_end_to_end": r.ratio_end_to_end,
            "verdict": r.verdict,
            "ok": r.ok,
            "notes": r.notes,
        } for r in results],
        "ok": all(r.ok for r in results),
    }


# -- the price of soundness: this tree against a baseline commit --------------------------

BASELINE = "5ace5d5"
_TIMER = """
import gc, json, statistics, sys
from dataclasses import replace
from memcglab.cli.check_cmd import run_loaded
from memcglab.scenario.check_config import CheckFile, build
raw, repeat, extra = json.loads(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
loaded = build(CheckFile.model_validate(raw), "bench")
explore = replace(loaded.explore, shrink=False, **extra)
times, states = [], 0
for _ in range(repeat):
    gc.collect()
    result, _, secs = run_loaded(loaded.model, explore)
    times.append(secs)
    states = result.states
print(json.dumps({"s": statistics.median(times), "states": states,
                  "findings": len(result.findings)}))
"""


def _timed_check(src: Path, row: Row, repeat: int, extra: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    p = subprocess.run([sys.executable, "-c", _TIMER, json.dumps(check_dict(row)), str(repeat),
                        json.dumps(extra)], capture_output=True, text=True, env=env,
                       check=False)
    if p.returncode != 0:
        raise RuntimeError(f"timing run failed ({src}): {p.stderr.strip()[-400:]}")
    out: dict[str, Any] = json.loads(p.stdout.strip().splitlines()[-1])
    return out


def cost_table(rows: Sequence[Row], baseline: str, repeat: int) -> list[dict[str, Any]]:
    repo = Path(__file__).resolve().parents[1]
    here = repo / "src"
    with tempfile.TemporaryDirectory(prefix="memcglab-baseline-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(tree),
                        baseline], check=True, capture_output=True)
        try:
            out = []
            for row in rows:
                base = _timed_check(tree / "src", row, repeat, {})
                exact = _timed_check(here, row, repeat, {})
                compact = _timed_check(here, row, repeat, {"state_store": "hash-compact"})
                forced = _timed_check(here, row, repeat, {"force_cycle_analysis": True})
                out.append({"configuration": row.label, "baseline": base, "exact": exact,
                            "hash_compact": compact, "forced_cycles": forced})
                print(f"  {row.label}: done", flush=True)
        finally:
            subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)],
                           check=False, capture_output=True)
    return out


def render_costs(costs: Sequence[dict[str, Any]]) -> str:
    head = ("configuration", "baseline", "states", "exact (default)", "ratio",
            "hash-compact", "ratio", "cycles forced", "ratio")
    rows = [head]
    for c in costs:
        b = c["baseline"]["s"]
        cells = [c["configuration"], _secs(b), _num(c["baseline"]["states"])]
        for k in ("exact", "hash_compact", "forced_cycles"):
            cells += [_secs(c[k]["s"]), _ratio(c[k]["s"] / b if b > 0 else float("inf"))]
        rows.append(tuple(cells))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["| " + " | ".join(c.rjust(w) if i else c.ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths, strict=True))) + " |"
             for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true",
                   help="skip the slow row (K=8, NR=3, WALKS=2: Spin needs minutes)")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON")
    p.add_argument("--variant", help="only the rows of this variant (css-id, seed-spinlock, "
                                     "current)")
    p.add_argument("--repeat", type=int, default=1, metavar="N",
                   help="search runs per tool and row; the median is reported (default 1)")
    p.add_argument("--no-shrink", dest="shrink", action="store_false",
                   help="memcglab: skip minimising the counterexample (Spin does not minimise)")
    p.add_argument("--install", action="store_true",
                   help="if spin is missing, run `apt-get install -y spin`")
    p.add_argument("--baseline", default=BASELINE, metavar="COMMIT",
                   help=f"commit to price the soundness work against (default {BASELINE})")
    p.add_argument("--no-baseline", dest="baseline", action="store_const", const=None,
                   help="skip the cost table")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not ensure_spin(args.install):
        return 2
    model_dir = spin_dir()
    if not (model_dir / SPIN_MODEL).is_file():
        print(f"Spin model not found: {model_dir / SPIN_MODEL}\n"
              f"set {SPIN_ENV} to the folder holding {SPIN_MODEL}", file=sys.stderr)
        return 2
    info = machine()
    print(header(info, args, model_dir), flush=True)
    rows = [r for r in ROWS if not (args.quick and r.slow)
            and (args.variant is None or r.variant == args.variant)]
    results: list[Result] = []
    for i, row in enumerate(rows, 1):
        print(f"[{i}/{len(rows)}] {row.label}: memcglab ...", end="", flush=True)
        m = run_memcglab(row, args.repeat, args.shrink)
        print(f" {_secs(m.search_s)}; Spin ...", end="", flush=True)
        s = run_spin(row, model_dir, args.repeat)
        print(f" {_secs(s.pan_s)}", flush=True)
        verdict, ok, notes = judge(row, m, s)
        results.append(Result(row, m, s, verdict, ok, notes))
    print()
    print(render_table(results))
    print()
    print(LEGEND)
    for r in results:
        for n in r.notes:
            print(f"note: {r.row.label}: {n}")
    if args.quick:
        print("--quick: skipped " + ", ".join(r.label for r in ROWS if r.slow))
    costs: list[dict[str, Any]] = []
    if args.baseline:
        print(f"\ncost of exact states and livelock detection against {args.baseline} "
              "(search time, medians):", flush=True)
        # Today's iterator did not exist at the baseline commit.
        costs = cost_table([r for r in rows if r.spin_model == SPIN_MODEL], args.baseline,
                           args.repeat)
        print(render_costs(costs))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        doc = to_json(info, args, model_dir, results)
        doc["costs"] = costs
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
