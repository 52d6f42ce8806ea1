"""The pure core imports nothing from the shell (convention C1)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "memcglab"
CORE = ("model", "runtime", "kernel", "explore", "sim", "metrics")
# memcglab.live is an edge too: the live kernel's I/O (cgroupfs, tracefs, processes); so are
# memcglab.grid (sweeps: processes, Ray, files) and memcglab.api (notebooks).
SHELL = ("memcglab.scenario", "memcglab.report", "memcglab.cli", "memcglab.live",
         "memcglab.grid", "memcglab.api")


def test_core_does_not_import_the_shell() -> None:
    offenders = []
    for pkg in CORE:
        for path in (SRC / pkg).rglob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                offenders += [f"{path.relative_to(SRC)}: {n}" for n in names
                              if n.startswith(SHELL)]
    assert offenders == []


def test_core_reads_no_environment_or_clock() -> None:
    for pkg in CORE:
        for path in (SRC / pkg).rglob("*.py"):
            text = path.read_text()
            assert "os.environ" not in text, path
            assert "time.time(" not in text and "perf_counter" not in text, path


def test_the_live_edge_does_not_import_the_reports_or_the_cli() -> None:
    """memcglab.live measures; the report and the CLI present what it measured."""
    for path in (SRC / "live").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(("memcglab.report", "memcglab.cli")), path


def test_the_package_root_imports_no_api_until_asked() -> None:
    """``import memcglab`` stays cheap for the command line: the API (pandas) comes on first
    use of memcglab.run / sweep / results."""
    import subprocess
    import sys

    code = ("import sys, memcglab; assert 'memcglab.api' not in sys.modules; "
            "assert 'pandas' not in sys.modules; memcglab.run; "
            "assert 'memcglab.api' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True,
                   env={"PYTHONPATH": str(SRC.parent)})
