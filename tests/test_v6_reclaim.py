"""Rules of today's reclaim (kernel = "6.18"), each against a case computed by hand from the
v6.18.19 source (docs/research/v6-reclaim.md, the section in each docstring)."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from memcglab.kernel.v6_18 import vmscan
from memcglab.kernel.v6_18.context import ScanControl
from memcglab.kernel.v6_18.page_alloc import ALLOC_WMARK_LOW, get_page_from_freelist
from memcglab.kernel.v6_18.page_counter import (
    PageCounter,
    effective_protection,
    page_counter_calculate_protection,
    page_counter_set_low,
    page_counter_try_charge,
)
from memcglab.kernel.v6_18.swap import folio_mark_accessed, lru_note_cost
from memcglab.kernel.v6_18.workingset import workingset_eviction, workingset_refault
from memcglab.model.constants import (
    LRU_ACTIVE_ANON,
    LRU_ACTIVE_FILE,
    LRU_INACTIVE_ANON,
    LRU_INACTIVE_FILE,
)
from memcglab.runtime.ops import Kind, Op
from memcglab.scenario.sim_scenario import load
from memcglab.sim.engine import Simulation

MB = 256  # pages


def _sim(tmp_path: Path, body: str) -> Simulation:
    f = tmp_path / "s.toml"
    f.write_text('kernel = "6.18"\nkswapd = false\nduration = "2s"\n' + body
                 + '[[workload]]\ngroup = "root"\npattern = "loop"\nsize = "4K"\n'
                 'rate = "4K"\nstart = "1s"\n')
    return Simulation(load(f))


SMALL = ('[machine]\npages_per_zone = "256K"\nwatermarks = { min = "64K", low = "96K", '
         'high = "128K" }\n')  # 64 pages: min 16, low 24, high 32


def _small(tmp_path: Path, anon: int, file: int, swap: bool = False) -> Simulation:
    """A 64-page machine whose group A holds ``anon`` inactive anon pages, then ``file``
    inactive file pages."""
    sim = _sim(tmp_path, SMALL + f"swap = {str(swap).lower()}\n" + '[[group]]\nname = "A"\n')
    for i in range(anon):
        _page(sim, 1, LRU_INACTIVE_ANON, anon=True, index=i)
    for i in range(anon, anon + file):
        _page(sim, 1, LRU_INACTIVE_FILE, index=i)
    return sim


def _drive(sim: Simulation, gen: Generator[Op, Any, Any], tid: int = 0) -> Any:
    """Run kernel-mirror code to its end outside the engine: each op through the machine,
    CALL ops inline."""
    d = sim.machine._dispatch
    value: Any = None
    while True:
        try:
            op = gen.send(value)
        except StopIteration as stop:
            return stop.value
        if op.kind is Kind.CALL:
            value = _drive(sim, op.a, tid)
            continue
        value = d[op.kind](sim.shared, sim.threads, tid, op)[0]


def _page(sim: Simulation, memcg: int, lru: int, anon: bool = False, index: int = 0) -> int:
    pages = sim.machine.pages
    page = pages.alloc(0)
    assert page is not None
    pages.add_folio(page, memcg, anon, 0, index, lru)
    sim.machine.mappings[0][index] = page
    sim.machine.usage[memcg] += 1
    return page


# -- mm/page_counter.c ---------------------------------------------------------------------


def test_effective_protection_overcommitted_and_recursive() -> None:
    """[PC]:337-410. The selftest's first walk: C holds 50M of B's 150M with memory.low 75M;
    the siblings claim min(50,75) + min(50,25) + 0 = 75M of B's 50M: C gets 50*50/75."""
    c = effective_protection(50 * MB, 150 * MB, 75 * MB, 50 * MB, 75 * MB, False)
    assert c == 12800 * 12800 // 19200 == 8533
    # Not overcommitted: the child's own protected usage; recursive protection adds the
    # unclaimed (60M - 20M) in proportion of unprotected usage (30M - 10M) / (100M - 20M).
    assert effective_protection(30 * MB, 100 * MB, 10 * MB, 60 * MB, 20 * MB, False) == 10 * MB
    assert effective_protection(30 * MB, 100 * MB, 10 * MB, 60 * MB, 20 * MB, True) == (
        10 * MB + (40 * MB) * (20 * MB) // (80 * MB))


def test_calculate_protection_is_top_down_and_skips_target_and_empty() -> None:
    """[PC]:424-464: the target is left alone, an empty counter keeps its old values, the
    first level below the target gets its own settings."""
    root = PageCounter(None, True)
    a = PageCounter(root, True)
    b = PageCounter(a, True)
    page_counter_set_low(a, 100)
    page_counter_set_low(b, 500)
    page_counter_calculate_protection(root, root, False)
    assert root.elow == 0
    page_counter_calculate_protection(root, b, False)
    assert b.elow == 0  # empty: not computed
    assert page_counter_try_charge(b, 300) is None
    page_counter_calculate_protection(root, a, False)
    assert a.elow == 100  # parent == root: its own setting
    page_counter_calculate_protection(root, b, False)
    assert b.elow == 100  # min(300, 500) = 300 claimed of a's 100: 300 * 100 // 300
    assert a.children_low_usage == 300


def test_try_charge_fails_at_the_first_level_over_max_and_undoes() -> None:
    """[PC]:118-172: ``new > max`` fails (usage may reach max), lower levels uncharged."""
    root = PageCounter(None, True)
    a = PageCounter(root, True)
    b = PageCounter(a, True)
    a.max = 10
    assert page_counter_try_charge(b, 10) is None and a.usage == 10
    assert page_counter_try_charge(b, 1) is a
    assert (b.usage, a.usage, root.usage) == (10, 10, 10)


# -- mm/vmscan.c -----------------------------------------------------------------------------


def test_apply_proportional_protection_worked_example(tmp_path: Path) -> None:
    """[VS]:2496-2557, the worked example of v6-reclaim.md 3.7: 12800 pages with elow 8533
    scan 12800 - 12800*8533/12801 = 4268, then >> 12 = 1; unprotected: 12800 >> 12 = 3. The
    SWAP_CLUSTER_MAX floor comes before the shift."""
    sim = _sim(tmp_path, '[[group]]\nname = "A"\nlimit = "1G"\n'
               '[[group]]\nname = "C"\nparent = "A"\nlow = "75M"\n')
    k = sim.k
    c = k.mem.memcgs[2].memory
    c.usage, c.elow = 12800, 8533
    sc = ScanControl(1, 12, 32)
    assert vmscan.apply_proportional_protection(k, 2, sc, 12800) == 4268
    assert sc.memcg_low_skipped  # low-scaling arms the low retry rung
    assert 4268 >> 12 == 1
    c.elow = 12799
    assert vmscan.apply_proportional_protection(k, 2, sc, 12800) == 32  # the floor
    sc.memcg_low_reclaim = True  # the low pass: protection = min = 0
    assert vmscan.apply_proportional_protection(k, 2, sc, 12800) == 12800


def test_get_scan_count_has_no_floor_but_for_offline_groups(tmp_path: Path) -> None:
    """[VS]:2566-2680: a 100-page list at priority 12 is scanned 0 pages (v3.7 forced 32 in
    limit reclaim); without swap anon is never scanned (SCAN_FILE); an offline group's
    list gets min(size, SWAP_CLUSTER_MAX)."""
    sim = _sim(tmp_path, '[[group]]\nname = "A"\nlimit = "1G"\n')
    for i in range(100):
        _page(sim, 1, LRU_INACTIVE_FILE, index=i)
    for i in range(100, 5000):
        _page(sim, 1, LRU_ACTIVE_ANON, anon=True, index=i)
    k = sim.k
    sc = ScanControl(1, 12, 32)
    assert vmscan.get_scan_count(k, 1, 0, sc) == [0, 0, 0, 0]
    sc.priority = 2
    assert vmscan.get_scan_count(k, 1, 0, sc) == [0, 0, 25, 0]
    sc.priority = 12
    sim.shared[sim.machine.layout.gstate[1]] = 2  # GroupState.OFFLINE
    assert vmscan.get_scan_count(k, 1, 0, sc) == [0, 0, 32, 0]


def test_calculate_pressure_balance() -> None:
    """[VS]:2459-2494 with anon_cost 10, file_cost 30, swappiness 60: total 40, a = 50,
    f = 70, total 120; ap = 60*121/51 = 142, fp = 140*121/71 = 238."""
    sc = ScanControl(None, 12, 32)
    sc.anon_cost, sc.file_cost = 10, 30
    assert vmscan.calculate_pressure_balance(sc, 60) == ((142, 238), 380)


def test_inactive_is_low_ratio(tmp_path: Path) -> None:
    """[VS]:2329-2346: below 1 GiB the ratio is 1 (inactive < active)."""
    sim = _sim(tmp_path, '[[group]]\nname = "A"\n')
    for i in range(3):
        _page(sim, 1, LRU_INACTIVE_FILE, index=i)
    for i in range(3, 7):
        _page(sim, 1, LRU_ACTIVE_FILE, index=i)
    assert vmscan.inactive_is_low(sim.k, 1, 0, LRU_INACTIVE_FILE)
    assert vmscan.inactive_is_low(sim.k, 0, 0, LRU_INACTIVE_FILE)  # the root: hierarchical
    _page(sim, 1, LRU_INACTIVE_FILE, index=7)
    assert not vmscan.inactive_is_low(sim.k, 1, 0, LRU_INACTIVE_FILE)


@pytest.mark.parametrize(("anon", "young", "referenced", "expect", "after_ref"), [
    (False, 0, 1, vmscan.FOLIOREF_RECLAIM_CLEAN, 0),  # unmapped cache: reclaimed anyway
    (False, 0, 0, vmscan.FOLIOREF_RECLAIM, 0),
    (True, 1, 0, vmscan.FOLIOREF_KEEP, 1),  # look twice: PG_referenced set
    (True, 1, 1, vmscan.FOLIOREF_ACTIVATE, 1),
    (True, 0, 1, vmscan.FOLIOREF_RECLAIM, 0),
])
def test_folio_check_references(tmp_path: Path, anon: bool, young: int, referenced: int,
                                expect: int, after_ref: int) -> None:
    """[VS]:908-976, the table of v6-reclaim.md 3.12."""
    sim = _sim(tmp_path, '[[group]]\nname = "A"\n')
    page = _page(sim, 1, LRU_INACTIVE_ANON if anon else LRU_INACTIVE_FILE, anon)
    pages = sim.machine.pages
    pages.young[page], pages.ref[page] = young, referenced
    assert vmscan.folio_check_references(sim.k, page, ScanControl(1, 12, 32)) == expect
    assert pages.ref[page] == after_ref and pages.young[page] == 0


def test_shrink_active_list_keeps_pg_referenced(tmp_path: Path) -> None:
    """[VS]:2136-2227: deactivation clears the young bits and sets PG_workingset, and leaves
    PG_referenced alone (v3.7's model cleared it: review W2)."""
    sim = _sim(tmp_path, '[[group]]\nname = "A"\n')
    page = _page(sim, 1, LRU_ACTIVE_FILE)
    pages = sim.machine.pages
    pages.ref[page] = 1
    _drive(sim, vmscan.shrink_active_list(sim.k, 32, 1, 0, ScanControl(1, 12, 32),
                                          LRU_ACTIVE_FILE))
    assert pages.lru[page] == LRU_INACTIVE_FILE
    assert pages.ref[page] == 1 and pages.workingset[page] == 1


# -- mm/swap.c, mm/workingset.c ------------------------------------------------------------


def test_folio_mark_accessed_transitions(tmp_path: Path) -> None:
    """[SW]:455-488: the first read of a new folio leaves it inactive and referenced, the
    second activates it (unreferenced), the third references it on the active list."""
    sim = _sim(tmp_path, '[[group]]\nname = "A"\n')
    page = _page(sim, 1, LRU_INACTIVE_FILE)
    pages = sim.machine.pages
    folio_mark_accessed(sim.k, page)
    assert (pages.lru[page], pages.ref[page]) == (LRU_INACTIVE_FILE, 1)
    folio_mark_accessed(sim.k, page)
    assert (pages.lru[page], pages.ref[page]) == (LRU_ACTIVE_FILE, 0)
    assert pages.lruvec(1, 0).nonresident_age == 1  # workingset_activation
    folio_mark_accessed(sim.k, page)
    assert (pages.lru[page], pages.ref[page]) == (LRU_ACTIVE_FILE, 1)


def test_lru_note_cost_propagates_and_decays(tmp_path: Path) -> None:
    """[SW]:240-292: cost = nr_io * 32 + nr_rotated, in the lruvec and each parent; both
    costs halve once above a quarter of the level's LRU pages."""
    sim = _sim(tmp_path, '[[group]]\nname = "A"\n')
    for i in range(400):
        _page(sim, 1, LRU_INACTIVE_FILE, index=i)
    lru_note_cost(sim.k, 1, 0, True, 1, 10)
    vec, root = sim.machine.pages.lruvec(1, 0), sim.machine.pages.lruvec(0, 0)
    assert vec.file_cost == root.file_cost == 42
    lru_note_cost(sim.k, 1, 0, False, 2, 0)  # anon 64: 106 > 400 / 4: halved
    assert (vec.file_cost, vec.anon_cost) == (21, 32)


def test_refault_within_the_workingset_activates(tmp_path: Path) -> None:
    """[WS]:381-583: a page evicted and read again before the lruvec aged by more than its
    workingset (active file, plus inactive file for anon) starts active; one evicted
    longer ago starts inactive."""
    sim = _sim(tmp_path, '[[group]]\nname = "A"\n')
    for i in range(10):
        _page(sim, 1, LRU_ACTIVE_FILE, index=i)
    page = _page(sim, 1, LRU_INACTIVE_FILE, index=10)
    k = sim.k
    shadow = workingset_eviction(k, page, 1)
    assert shadow.eviction == 0 and sim.machine.pages.lruvec(1, 0).nonresident_age == 1
    assert workingset_refault(k, 1, 0, True, shadow) == (True, False)
    assert sim.machine.pages.lruvec(1, 0).activate[1] == 1
    sim.machine.pages.lruvec(1, 0).nonresident_age += 20  # 20 more evictions since
    assert workingset_refault(k, 1, 0, True, shadow) == (False, False)


# -- allocation, charging, OOM ---------------------------------------------------------------


def test_fast_path_allocates_above_low_only(tmp_path: Path) -> None:
    """[PA]:3602-3664: the fast path takes a page while free > low."""
    sim = _sim(tmp_path, '[machine]\npages_per_zone = "256K"\nwatermarks = { min = "64K", '
               'low = "128K", high = "192K" }\n[[group]]\nname = "A"\n')
    got = 0
    while _drive(sim, get_page_from_freelist(sim.k, (0,), ALLOC_WMARK_LOW)) is not None:
        got += 1
    assert got == 64 - 32 and sim.machine.pages.free_pages(0) == 32  # free == low fails


def test_memcg_oom_after_eighteen_reclaims_without_progress(tmp_path: Path) -> None:
    """[MC]:2298-2491 (v6-reclaim.md 1.1): with nothing reclaimable (anon, no swap) a charge
    makes 1 reclaim call, the drain retry's, and 16 that use up MAX_RECLAIM_RETRIES: 18
    calls, then mem_cgroup_oom kills the task with the most anon memory (here the
    charger). The dying charger goes on (retries reset after the OOM): 17 more calls until
    ``passed_oom && task_is_dying()`` gives up; its memory goes with it."""
    f = tmp_path / "s.toml"
    f.write_text('kernel = "6.18"\nkswapd = false\nduration = "200ms"\n'
                 '[[group]]\nname = "A"\nlimit = "1M"\n'
                 '[[workload]]\ngroup = "A"\npattern = "stream"\ntype = "anon"\nsize = "2M"\n'
                 'rate = "100M"\n')
    sim = Simulation(load(f))
    run = sim.run()
    c = run.machine.c
    assert c.calls["limit"].calls == 18 + 17
    assert c.ooms[1] == 1 and c.oom_kills == 1
    assert run.memcg_state.memcgs[1].memory.usage == 0 and run.machine.usage[1] == 0


def test_calculate_high_delay_is_the_kernel_table() -> None:
    """[MC]:2093-2201, the table in the comment (high = 100M, a batch of 64 pages): 6 ms at
    101M; from 118M the penalty exceeds the 2 s clamp applied by the caller."""
    from memcglab.kernel.v6_18.memcontrol import calculate_high_delay, calculate_overage

    high = 100 * MB
    assert calculate_overage(high, high) == 0
    assert calculate_high_delay(0, 64, calculate_overage(101 * MB, high)) == 6
    assert calculate_high_delay(0, 64, calculate_overage(118 * MB, high)) >= 2000
    assert calculate_high_delay(0, 32, calculate_overage(101 * MB, high)) == 3


def test_memory_high_reclaims_on_the_way_back_to_user(tmp_path: Path) -> None:
    """[MC]:2433-2491, 2208-2296: a reader over its memory.high reclaims its own group on
    return to user mode (MEMCG_HIGH each time), so memory.current stays within a charge
    batch of high; anon that cannot be reclaimed (no swap) is throttled instead."""
    f = tmp_path / "s.toml"
    f.write_text('kernel = "6.18"\nkswapd = false\nduration = "300ms"\n'
                 '[[group]]\nname = "A"\nhigh = "8M"\n'
                 '[[workload]]\ngroup = "A"\npattern = "stream"\nsize = "32M"\n'
                 'rate = "200M"\n')
    run = Simulation(load(f)).run()
    a = run.memcg_state.memcgs[1]
    assert a.memory_events[1] > 0  # high
    # within a charge batch either side (reclaim asks for the pages charged over high)
    assert 8 * MB - 128 <= a.memory.usage <= 8 * MB + 64, a.memory.usage
    assert run.machine.c.high_throttled_ms == 0
    f.write_text(f.read_text().replace('size = "32M"', 'size = "32M"\ntype = "anon"'))
    run = Simulation(load(f)).run()
    assert run.machine.c.high_throttled_ms > 0
    assert run.memcg_state.memcgs[1].memory.usage > 8 * MB  # nothing to reclaim: it grows


# -- control flow of the reclaim loops, with their callees scripted -----------------------


def test_balance_pgdat_keeps_the_priority_after_a_pass_that_scanned_enough(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """[VS]:7007-7230: the priority drops after a pass unless kswapd_shrink_node() says it
    scanned the high watermark's worth (raise_priority = false) and something was
    reclaimed; the loop stops once the node is balanced (checked first every time)."""
    sim = _sim(tmp_path, '[[group]]\nname = "A"\n')
    script = iter([(False, 5), (True, 40), (True, 0), (False, 3), (True, 9)])
    seen: list[int] = []
    balanced = iter([False] * 5 + [True])

    def fake_shrink(k: Any, variant: Any, pgdat: int, sc: ScanControl
                    ) -> Generator[Op, Any, bool]:
        seen.append(sc.priority)
        enough, reclaimed = next(script)
        sc.nr_reclaimed += reclaimed
        return enough
        yield

    monkeypatch.setattr(vmscan, "kswapd_shrink_node", fake_shrink)
    monkeypatch.setattr(vmscan, "pgdat_balanced", lambda k, pgdat: next(balanced))
    assert _drive(sim, vmscan.balance_pgdat(sim.k, sim.variant, 0)) == 57
    # 12 (not enough: down), 11 (enough and reclaimed: stays), 11 (enough, nothing: down),
    # 10 (not enough: down), 9, then balanced.
    assert seen == [12, 11, 11, 10, 9]
    assert sim.machine.kswapd_failures[0] == 0


def test_do_try_to_free_pages_retry_ladder(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """[VS]:6393-6495: only when nothing at all was reclaimed, from the initial priority: a
    full walk, then forced deactivation (if an active list was skipped), then breaking
    memory.low (if a group was skipped for it), then 0. The flags stay as the rungs left
    them: the low rung clears force_deactivate, so it skips an active list again and the
    ladder forces deactivation once more (the C's order of tests), memcg_low_reclaim on."""
    sim = _sim(tmp_path, '[[group]]\nname = "A"\nlimit = "1G"\n')
    passes: list[tuple[int, bool, bool, bool]] = []

    def fake_zones(k: Any, variant: Any, zones: Any, sc: ScanControl
                   ) -> Generator[Op, Any, None]:
        passes.append((sc.priority, sc.memcg_full_walk, sc.force_deactivate,
                       sc.memcg_low_reclaim))
        sc.skipped_deactivate = sc.skipped_deactivate or not sc.force_deactivate
        sc.memcg_low_skipped = sc.memcg_low_skipped or not sc.memcg_low_reclaim
        return
        yield

    monkeypatch.setattr(vmscan, "shrink_zones", fake_zones)
    sc = ScanControl(1, 12, 32)
    assert _drive(sim, vmscan.do_try_to_free_pages(sim.k, sim.variant, (0,), sc,
                                                   vmscan.ALL_PRIORITIES)) == 0
    rungs = [passes[i * 13:(i + 1) * 13] for i in range(len(passes) // 13)]
    assert len(passes) == 5 * 13
    assert [p[0] for p in rungs[0]] == list(range(12, -1, -1))
    assert [r[0][1:] for r in rungs] == [(False, False, False), (True, False, False),
                                         (True, True, False), (True, False, True),
                                         (True, True, True)]
    # Something reclaimed in the first loop: no retry at all.
    passes.clear()

    def reclaims(k: Any, variant: Any, zones: Any, sc: ScanControl
                 ) -> Generator[Op, Any, None]:
        passes.append((sc.priority, False, False, False))
        sc.nr_reclaimed += 1
        return
        yield

    monkeypatch.setattr(vmscan, "shrink_zones", reclaims)
    assert _drive(sim, vmscan.do_try_to_free_pages(
        sim.k, sim.variant, (0,), ScanControl(1, 12, 32), vmscan.ALL_PRIORITIES)) == 13


@pytest.mark.parametrize(("target", "kswapd", "priority", "scanned"), [
    (1, False, 12, 32),     # limit reclaim: stops once this lruvec reclaimed 32
    (None, False, 12, 100),  # direct reclaim at DEF_PRIORITY: proportional, no early exit
    (None, False, 11, 32),   # direct reclaim below DEF_PRIORITY: early exit again
    (None, True, 12, 32),    # kswapd: early exit
])
def test_shrink_lruvec_early_exit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  target: int | None, kswapd: bool, priority: int,
                                  scanned: int) -> None:
    """[VS]:5816-5932 with nr = [0, 0, 100, 0] (file only) and nr_to_reclaim 32: after the
    first batch of 32, reclaimed 32, nr_anon is 0, so the loop breaks, unless the
    reclaim is global direct reclaim at DEF_PRIORITY (proportional_reclaim)."""
    sim = _sim(tmp_path, '[[group]]\nname = "A"\nlimit = "1G"\n')
    monkeypatch.setattr(vmscan, "get_scan_count", lambda k, m, p, sc: [0, 0, 100, 0])
    batches: list[int] = []

    def fake_list(k: Any, lru: int, nr: int, memcg: int, pgdat: int, sc: ScanControl
                  ) -> Generator[Op, Any, int]:
        batches.append(nr)
        return nr
        yield

    monkeypatch.setattr(vmscan, "shrink_list", fake_list)
    sc = ScanControl(target, priority, 32, is_kswapd=kswapd)
    it = sim.k.iter_node(0 if target is None else target, 0)
    _drive(sim, vmscan.shrink_lruvec(sim.k, it, 1, None, sc, 0))
    assert sum(batches) == scanned and sc.nr_reclaimed == scanned


def test_prepare_scan_control_at_the_target(tmp_path: Path) -> None:
    """[VS]:2355-2457: no deactivation while the target's inactive list is not low and no
    refault moved; cache-trim mode while its inactive file >> priority is non-zero; a
    refault (WORKINGSET_ACTIVATE moved since snapshot_refaults) deactivates file."""
    sim = _sim(tmp_path, '[[group]]\nname = "A"\nlimit = "1G"\n')
    for i in range(4096):
        _page(sim, 1, LRU_INACTIVE_FILE, index=i)
    k = sim.k
    sc = ScanControl(1, 12, 32)
    vmscan.prepare_scan_control(k, 0, sc)
    assert sc.may_deactivate == 0 and sc.cache_trim_mode
    sim.machine.pages.lruvec(1, 0).activate[1] += 1
    vmscan.prepare_scan_control(k, 0, sc)
    assert sc.may_deactivate == 2 and not sc.cache_trim_mode  # DEACTIVATE_FILE
    vmscan.snapshot_refaults(k, 1, 0)
    vmscan.prepare_scan_control(k, 0, sc)
    assert sc.may_deactivate == 0
    sc.force_deactivate = True
    vmscan.prepare_scan_control(k, 0, sc)
    assert sc.may_deactivate == 3


def test_file_is_tiny_in_global_reclaim(tmp_path: Path) -> None:
    """[VS]:2435-2456: global reclaim with the node's file pages plus free ones at most the
    high watermark, and anon to scan at this priority: anon only."""
    sim = _small(tmp_path, 40, 10, swap=True)
    sc = ScanControl(None, 1, 32)
    vmscan.prepare_scan_control(sim.k, 0, sc)
    # free 14 + file 10 <= high 32, 40 anon >> 1 != 0
    assert sc.file_is_tiny
    assert vmscan.get_scan_count(sim.k, 1, 0, sc)[LRU_INACTIVE_FILE] == 0


def test_pgdat_balanced_and_wakeup_kswapd(tmp_path: Path) -> None:
    """[VS]:6812-6876, 7417-7460: balanced is free > high; a hopeless node (16 failed
    runs) or a balanced one is not woken."""
    sim = _sim(tmp_path, '[machine]\npages_per_zone = "256K"\nwatermarks = { min = "64K", '
               'low = "96K", high = "128K" }\n[[group]]\nname = "A"\n')
    k = sim.k
    for i in range(31):
        _page(sim, 1, LRU_INACTIVE_FILE, index=i)
    assert vmscan.pgdat_balanced(k, 0)  # 64 - 31 = 33 free > high 32
    _page(sim, 1, LRU_INACTIVE_FILE, index=99)
    assert not vmscan.pgdat_balanced(k, 0)  # 32 free: not above high
    vmscan.wakeup_kswapd(k, 0)
    assert sim.machine.kswapd_wake[0]
    sim.machine.kswapd_wake[0] = False
    sim.machine.kswapd_failures[0] = vmscan.MAX_RECLAIM_RETRIES
    vmscan.wakeup_kswapd(k, 0)
    assert not sim.machine.kswapd_wake[0]


def test_should_reclaim_retry(tmp_path: Path) -> None:
    """[PA]:4555-4629: progress resets the count; more than 16 passes without progress, or
    no zone that could pass min with all its reclaimable pages, gives up."""
    from memcglab.kernel.v6_18.page_alloc import should_reclaim_retry

    # 4 free + 0 reclaimable (anon, no swap) <= min 16: no point
    assert should_reclaim_retry(_small(tmp_path, 60, 0).k, (0,), True, 5) == (False, 0)
    sim = _small(tmp_path, 40, 10)
    # 14 free + 10 reclaimable file pages > min 16: worth retrying
    assert should_reclaim_retry(sim.k, (0,), False, 3) == (True, 4)
    assert should_reclaim_retry(sim.k, (0,), False, 16) == (False, 17)


def test_oom_victim_is_the_highest_badness(tmp_path: Path) -> None:
    """mm/oom_kill.c: the task of the subtree with the highest RSS + swap entries + page
    tables (one page here), the later of equal scores; MEMCG_OOM_KILL on its memcg and
    ancestors; a victim still dying makes the OOM wait (-1)."""
    from memcglab.kernel.v6_18.context import TaskStruct
    from memcglab.kernel.v6_18.oom_kill import out_of_memory

    sim = _sim(tmp_path, '[[group]]\nname = "A"\n[[group]]\nname = "B"\nparent = "A"\n'
               '[[group]]\nname = "C"\n')
    k, mm = sim.k, sim.machine
    tasks = [TaskStruct(10, "b0", 2), TaskStruct(11, "b1", 2), TaskStruct(12, "c", 3)]
    k.mem.tasks[:] = tasks
    mm.task_anon.update({10: 5, 11: 5, 12: 50})
    assert out_of_memory(k, 1) == 11  # in A's subtree; 10 and 11 tie: the later one
    assert tasks[1].killed and k.mem.memcgs[2].memory_events[4] == 1
    assert k.mem.memcgs[1].memory_events[4] == 1  # hierarchical (v2)
    assert out_of_memory(k, 1) == -1  # 11 is still dying
    mm.task_done.add(11)
    assert out_of_memory(k, None) == 12  # global: the biggest anywhere


@pytest.mark.parametrize("swap", [False, True])
def test_shrink_folio_list_swaps_out_or_activates_anon(tmp_path: Path, swap: bool) -> None:
    """[VS]:1109-1650: an unreferenced anon folio is swapped out (freed, uncharged, its
    shadow left at its index for workingset_refault) when there is swap; without swap
    add_to_swap() fails and it is activated."""
    sim = _sim(tmp_path, f'[machine]\nswap = {str(swap).lower()}\n'
               '[[group]]\nname = "A"\nlimit = "1G"\n')
    mm = sim.machine
    page = _page(sim, 1, LRU_INACTIVE_ANON, anon=True, index=7)
    mm.mapping_task[0], mm.task_anon[0] = 0, 1
    sim.k.mem.memcgs[1].memory.usage = 1
    folios = mm.pages.isolate(1, 0, LRU_INACTIVE_ANON, 32)
    reclaimed, pageout, activate, keep = vmscan.shrink_folio_list(
        sim.k, folios, 0, ScanControl(1, 12, 32))
    if swap:
        assert (reclaimed, pageout, activate, keep) == (1, 1, [], [])
        assert mm.shadows[0][7].memcgid == 1 and 7 not in mm.mappings[0]
        assert sim.k.mem.memcgs[1].memory.usage == 0 and mm.task_anon[0] == 0
    else:
        assert (reclaimed, activate) == (0, [page]) and mm.mappings[0][7] == page


def test_exit_frees_anon_and_keeps_page_cache(tmp_path: Path) -> None:
    """mm/mmap.c exit_mmap(): a process's anonymous pages are uncharged and freed when it
    exits; page cache stays charged to the memcg that read it."""
    f = tmp_path / "s.toml"
    f.write_text('kernel = "6.18"\nkswapd = false\nduration = "50ms"\n'
                 '[[group]]\nname = "A"\n'
                 '[[workload]]\ngroup = "A"\npattern = "stream"\ntype = "anon"\nsize = "1M"\n'
                 'rate = "100M"\nstop = "30ms"\n'
                 '[[workload]]\ngroup = "A"\npattern = "stream"\nsize = "1M"\nrate = "100M"\n'
                 'stop = "30ms"\n')
    run = Simulation(load(f)).run()
    assert run.machine.usage[1] == run.memcg_state.memcgs[1].memory.usage == 256  # the file
    peak = max(s.usage[1] for s in run.samples)
    assert peak == 512  # both while they ran


def test_memory_recursiveprot_reaches_the_simulation() -> None:
    """memory_recursiveprot: in test_memcg_low's second phase E (memory.low 0) gets floating
    protection once its siblings claim less than B's 50M, so the low-reclaim pass raises
    low events on it; without the option it gets none (the selftest skips E's check with
    recursiveprot for this reason)."""
    from memcglab.cli.demo import selftest_scenario
    from memcglab.scenario.sim_scenario import ScenarioFile, build

    def e_low(recursive: bool) -> int:
        raw = selftest_scenario("low", True) | {"memory_recursiveprot": recursive}
        run = Simulation(build(ScenarioFile.model_validate(raw), "t")).run()
        names = {run.plan.topology.name(g): m for g, m in enumerate(run.memcg_state.memcgs)}
        return int(names["E"].memory_events[0])

    assert e_low(False) == 0 and e_low(True) > 0
