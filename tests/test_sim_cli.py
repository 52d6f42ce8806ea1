"""memcglab run / compare as a user runs them: outputs, the HTML report, bad scenarios."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from memcglab.scenario.units import duration_ns, pages_to_text, size_to_pages
from tests.conftest import cli

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
FLAT = str(SCENARIOS / "flat-limit.toml")


def test_run_writes_every_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, text, err = cli("run", FLAT, "--duration", "200ms", "--out", str(out))
    assert code == 0, err
    for f in ("metrics.json", "timeseries.csv", "timeseries.parquet", "usage_reclaim.png",
              "shares.png", "report.html"):
        assert (out / f).stat().st_size > 0, f
    m = json.loads((out / "metrics.json").read_text())
    assert m["scenario"]["name"] == "flat-limit" and m["scenario"]["duration_ms"] == 200
    assert [g["name"] for g in m["groups"]][:3] == ["root", "parent", "a"]
    csv_lines = (out / "timeseries.csv").read_text().splitlines()
    assert csv_lines[0] == "t_ms,group,usage_pages,scanned,reclaimed,visits,first_visits"
    assert len(csv_lines) == 1 + 21 * 6  # samples every 10 ms from 0 to 200 ms, 6 groups
    assert "replay: memcglab run" in text and "--seed 42" in text


def test_parquet_holds_the_same_series(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    out = tmp_path / "o"
    assert cli("run", FLAT, "--duration", "50ms", "--out", str(out))[0] == 0
    table = pq.read_table(out / "timeseries.parquet")
    assert table.column_names == ["t_ms", "group", "usage_pages", "scanned", "reclaimed",
                                  "visits", "first_visits"]
    assert table.num_rows == len((out / "timeseries.csv").read_text().splitlines()) - 1


def test_json_matches_metrics_file(tmp_path: Path) -> None:
    out = tmp_path / "o"
    code, text, _ = cli("run", FLAT, "--duration", "50ms", "--json", "--out", str(out))
    assert code == 0
    assert text == (out / "metrics.json").read_text()


def test_compare_side_by_side(tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    code, text, err = cli("compare", str(SCENARIOS / "many-reclaimers.toml"), "--variants",
                          "css-id,seed-spinlock", "--duration", "150ms", "--out", str(out))
    assert code == 0, err
    assert "variants side by side" in text and "duplicate claims" in text
    both = json.loads((out / "compare.json").read_text())
    assert both["seed-spinlock"]["iterator"]["duplicate_claims"] == 0
    assert both["seed-spinlock"]["iterator"]["lock_acquisitions"] > 0
    assert both["css-id"]["iterator"]["lock_acquisitions"] == 0
    assert (out / "css-id" / "metrics.json").exists()
    assert (out / "seed-spinlock" / "usage_reclaim.png").exists()


@pytest.mark.parametrize(("body", "needle"), [
    ('duration = "soon"\n[[workload]]\ngroup="root"\npattern="loop"\nsize="1M"\nrate="1M"\n',
     ":1: field 'duration': expected a duration like 100us, 500ms or 2s, got 'soon'"),
    ('[[group]]\nname = "a"\nlimit = "12Q"\n',
     ":3: field 'group.0.limit': expected a size like 4K, 32M or 2G, got '12Q'"),
    ('[[workload]]\ngroup = "nope"\npattern = "loop"\nsize = "1M"\nrate = "1M"\n',
     "workload[0].group 'nope': no such group; groups: root"),
    ('[[workload]]\ngroup = "root"\npattern = "zigzag"\nsize = "1M"\nrate = "1M"\n',
     ":3: field 'workload.0.pattern': Input should be 'stream', 'loop' or 'random'"),
    ('cpu = 4\n', "unknown field 'cpu'; valid fields here: description, seed, duration"),
    ('[machine]\nwatermarks = { min = "8M", low = "4M" }\n[[workload]]\ngroup="root"\n'
     'pattern="loop"\nsize="1M"\nrate="1M"\n', "expected min <= low <= high"),
    ('variant = "nope"\n', "unknown variant 'nope'; valid: css-id, seed-spinlock"),
    ('seed = [1\n', "malformed TOML"),
    ('', "no [[workload]]"),
])
def test_bad_scenarios_exit_2_and_write_nothing(body: str, needle: str,
                                                tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(body)
    out = tmp_path / "never"
    code, text, err = cli("run", str(f), "--out", str(out))
    assert code == 2
    assert needle in err, err
    assert text == "" and not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".never")]


def test_compare_needs_two_known_variants() -> None:
    code, _, err = cli("compare", FLAT, "--variants", "css-id")
    assert code == 2 and "at least two" in err
    code, _, err = cli("compare", FLAT, "--variants", "css-id,bogus")
    assert code == 2 and "unknown variant 'bogus'" in err


def test_units() -> None:
    assert size_to_pages("4K") == 1 and size_to_pages("32M") == 8192
    assert size_to_pages("2G") == 524288 and size_to_pages(5000) == 2
    assert duration_ns("500ms") == 500_000_000 and duration_ns("2s") == 2_000_000_000
    assert duration_ns("100us") == 100_000
    assert pages_to_text(8192) == "32M"
    with pytest.raises(ValueError):
        size_to_pages("lots")


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _rendered(page: Path) -> str:
    """The DOM of ``page`` after headless Chromium loaded it (scripts run)."""
    html = page.read_text()
    assert "http://" not in html and "https://" not in html  # self-contained
    profile = tempfile.mkdtemp()
    dom = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom",
         page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True).stdout
    shutil.rmtree(profile, ignore_errors=True)
    return dom


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install "
                    "chromium) to open the HTML report headless")
def test_html_report_renders_its_plots_in_chromium(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert cli("run", FLAT, "--duration", "100ms", "--out", str(out))[0] == 0
    dom = _rendered(out / "report.html")
    assert 'data-plots-rendered="2/2"' in dom
    assert "<table>" in dom and "flat-limit" in dom


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install "
                    "chromium) to open the HTML report headless")
def test_kernel_comparison_report_renders_in_chromium(tmp_path: Path) -> None:
    here = Path(__file__).resolve().parent
    out = tmp_path / "cmp"
    code, _, err = cli("compare", "--kernel", str(here / "live" / "flat.toml"), "--variants",
                       "css-id", "--kernel-result",
                       str(here / "fixtures" / "kernel-runs" / "flat"), "--out", str(out))
    assert code == 0, err
    dom = _rendered(out / "report.html")
    assert 'data-plots-rendered="1/1"' in dom
    assert "model and kernel side by side" in dom and "divergence score" in dom


def test_run_compare_and_compare_kernel_accept_current(tmp_path: Path) -> None:
    """Issue 9: today's iterator runs today's reclaim from every simulation command."""
    code, out, err = cli("run", str(SCENARIOS / "nested.toml"), "--variant", "current",
                         "--duration", "100ms", "--no-progress")
    assert code == 0, err
    assert "(kernel 6.18, cgroup v2, variant current" in out
    assert "cgroup files at the end" in out and "memory.current" in out
    code, out, err = cli("compare", str(SCENARIOS / "nested.toml"), "--variants",
                         "css-id,current", "--duration", "100ms", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["css-id"]["scenario"]["kernel"] == "3.7"
    assert doc["current"]["scenario"]["kernel"] == "6.18"
    assert "memory_current_pages" in doc["current"]["groups"][1]
    assert "memory_current_pages" not in doc["css-id"]["groups"][1]
    fixture = Path(__file__).resolve().parent / "fixtures" / "kernel-runs" / "flat"
    live = Path(__file__).resolve().parent / "live" / "flat.toml"
    code, out, err = cli("compare", "--kernel", str(live), "--variants", "css-id,current",
                         "--kernel-result", str(fixture), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["models"]["current"]["scenario"]["kernel"] == "6.18"
    assert 0 < doc["divergence"]["current"]["score"] <= 1
