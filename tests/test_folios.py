"""Kernel 6.18 in the simulator: large folios on the LRU lists, readahead wired into
read(2), the charge of a readahead folio (``__GFP_NORETRY``), the device's I/O time, the
live worker's pacing, and the batching of reads inside one folio (docs/io-cost.md)."""

from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path

from memcglab.metrics.summary import summarize
from memcglab.metrics.visits import model_visit_metrics
from memcglab.model.constants import LRU_INACTIVE_FILE
from memcglab.scenario.sim_scenario import ScenarioFile, build, load
from memcglab.sim.engine import simulate
from memcglab.sim.pages import Pages
from memcglab.sim.plan import Plan
from tests.test_readahead import MEASURED_48M

ROOT = Path(__file__).resolve().parent.parent


def _plan(**raw: object) -> Plan:
    base: dict[str, object] = {
        "duration": "1s", "cpus": 2, "cgroup": "v1",
        "machine": {"read_ahead_kb": 8192},
        "group": [{"name": "g", "limit": "512M"}],
        "workload": [{"group": "g", "pattern": "stream", "size": "48M", "rate": "48M"}]}
    base.update(raw)
    return build(ScenarioFile.model_validate(base), "t")


def _folios(run: object, mapping: int = 0) -> list[tuple[int, int]]:
    pages = run.machine.pages  # type: ignore[attr-defined]
    heads = sorted(set(run.machine.mappings[mapping].values()),  # type: ignore[attr-defined]
                   key=lambda f: pages.index[f])
    return [(pages.index[f], pages.nr[f].bit_length() - 1) for f in heads]


# -- Pages: folios on the lists ------------------------------------------------------------

def test_a_folio_takes_its_pages_and_isolation_counts_pages() -> None:
    pages = Pages((2048,), 1, (0,), (None,))
    big = pages.alloc(0, 9)
    small = [pages.alloc(0) for _ in range(3)]
    assert big is not None and pages.nr[big] == 512 and pages.free_pages(0) == 2048 - 515
    for i, f in enumerate([*small[:2], big, small[2]]):
        assert f is not None
        pages.add_folio(f, 0, False, 0, i * 512, LRU_INACTIVE_FILE)
    assert pages.lru_size(0, 0, LRU_INACTIVE_FILE) == 515
    # isolate_lru_folios(): the test comes before each folio, so asking for 3 pages takes
    # the two small ones and then the whole large one.
    taken = pages.isolate(0, 0, LRU_INACTIVE_FILE, 3)
    assert taken == [small[0], small[1], big]
    assert pages.lru_size(0, 0, LRU_INACTIVE_FILE) == 1
    pages.release(big)
    assert pages.free_pages(0) == 2048 - 3 and pages.nr[big] == 1


def test_a_stream_reads_the_measured_folios_through_the_simulator() -> None:
    """filemap_read -> readahead in the simulator: a 48 MiB file read once with 4 KiB reads
    and no memory pressure ends up in exactly the 44 folios measured on this machine
    (docs/research/v6-readahead-folios.md 1.6)."""
    run = simulate(_plan())
    assert _folios(run) == MEASURED_48M
    assert run.machine.usage[1] == 12288
    assert run.machine.touched[0] == 12288
    assert run.machine.device.pages_read == 12288  # readahead stops at the end of the file


def test_posix_fadv_random_reads_page_by_page() -> None:
    raw = {"workload": [{"group": "g", "pattern": "stream", "size": "48M", "rate": "4M",
                         "readahead": "off"}]}
    run = simulate(_plan(**raw))
    assert {o for _, o in _folios(run)} == {0}
    due = -(-run.plan.duration_ns // run.plan.workloads[0].interval_ns)  # 1,025
    assert run.machine.device.pages_read == run.machine.touched[0] == due


def test_readahead_charges_give_up_instead_of_oom() -> None:
    """A limit smaller than a 2 MiB folio: every order-9 readahead charge fails
    (``__GFP_NORETRY``: reclaim, drain, then -ENOMEM), the window falls back to order-0
    folios, the reader goes on, and nothing is OOM-killed."""
    raw = {"group": [{"name": "g", "limit": "1M"}],
           "workload": [{"group": "g", "pattern": "stream", "size": "64M", "rate": "64M"}]}
    run = simulate(_plan(**raw))
    assert run.machine.c.ooms == [0, 0] and run.machine.c.oom_kills == 0
    assert run.machine.touched[0] >= 16_000  # the reader went on (at most a tick behind)
    pages = run.machine.pages
    assert max(pages.nr[f] for f in set(run.machine.mappings[0].values())) <= 256
    assert run.machine.usage[1] <= 256


def test_a_miss_waits_for_the_device() -> None:
    """Readahead off, a rate the device cannot serve: each read misses and waits the
    request's latency (drawn from 1/2 to 3/2 of 1 ms here), so about 1,000 reads in a
    second are made instead of the 25,600 asked for."""
    raw = {"machine": {"read_ahead_kb": 8192, "disk_latency": "1ms"},
           "workload": [{"group": "g", "pattern": "stream", "size": "512M", "rate": "100M",
                         "readahead": "off"}]}
    run = simulate(_plan(**raw))
    assert 800 <= run.machine.touched[0] <= 1200


def test_reads_are_paced_as_the_live_worker_paces_them() -> None:
    """Without waits, a process makes ceil(duration / interval) reads, as the worker owes
    (src/memcglab/live/worker.py: touch k due at t0 + k * interval)."""
    run = simulate(_plan())
    plan = run.plan
    interval = plan.workloads[0].interval_ns
    assert run.machine.touched[0] == min(12288, -(-plan.duration_ns // interval))


# -- batching reads inside a folio --------------------------------------------------------

def test_batched_reads_are_the_unbatched_ones_for_a_lone_reader() -> None:
    """One reader under a limit (its own reclaim evicts its own folios): with the device's
    8 MiB windows, batching the reads inside a folio changes nothing, counter for counter;
    with 128 KiB windows (folios of 32 pages at most) the unbatched reader's own operations
    (20 ns of CPU each) leave it a few reads behind at the end, and that is all."""
    for name in ("flat", "staggered"):
        plan = load(ROOT / f"scenarios/validation/{name}.toml")
        one = dataclasses.replace(plan, workloads=plan.workloads[:1])
        runs = [simulate(one, batch_reads=b) for b in (True, False)]
        a, b = (summarize(r) for r in runs)
        assert a["groups"] == b["groups"]
        assert runs[0].machine.device.pages_read == runs[1].machine.device.pages_read
        assert runs[0].machine.touched == runs[1].machine.touched
        small = dataclasses.replace(one, read_ahead_kb=128)
        runs = [simulate(small, batch_reads=b) for b in (True, False)]
        (x,), (y,) = (r.machine.touched for r in runs)
        assert 0 <= x - y <= 50, (x, y)
        px, py = (r.machine.device.pages_read for r in runs)
        assert abs(px - py) <= 64, (px, py)


def test_batched_reads_agree_with_unbatched_ones_under_contention() -> None:
    """Two readers reclaiming each other's folios: reads are woken early when their folio
    goes, so batched and unbatched runs agree in distribution over seeds (the runs differ
    in their scheduling points: each unbatched read is one)."""
    plan = load(ROOT / "scenarios/validation/flat.toml")

    def stats(batch: bool) -> tuple[float, float, float]:
        share, amp, succ = [], [], []
        for seed in range(1, 5):
            run = simulate(dataclasses.replace(plan, seed=seed), record_visits=True,
                           batch_reads=batch)
            m = summarize(run)
            m.update(model_visit_metrics(run))
            share.append(next(g for g in m["groups"] if g["name"] == "a")["reclaim_share"])
            amp.append(m["page_in"]["amplification"])
            succ.append(m["visit_order"]["successor_rate"])
        return statistics.fmean(share), statistics.fmean(amp), statistics.fmean(succ)

    (s1, a1, r1), (s0, a0, r0) = stats(True), stats(False)
    assert abs(s1 - s0) <= 0.03 and abs(a1 - a0) / a0 <= 0.1 and abs(r1 - r0) <= 0.1
