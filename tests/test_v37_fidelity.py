"""The simulator against the v3.7 source, one test per item of the v3.7 audit (W1-W7).

Each test sets up a tiny machine by hand (pages put straight on the LRU lists, watermarks
and limits chosen so that the expected figures can be worked out on paper, in the
docstring), runs the simulator and compares with what the v3.7.2 source does. The first
assertions of each test use only interfaces the simulator had before the fixes (the plan,
``Simulation``, the machine's pages, counters and visit log), so the file can be run
against commit 7a3b9ed to see each of them fail there; the kernel functions the fixes added
are imported inside the tests that also check them directly.

Line numbers are of the v3.7.2 tree (robacklin/linux-3.7.2 @ 47011c3d), as in the audit
(shared docs, review-v37-simulator.md).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace
from typing import Any

import pytest

from memcglab.model.constants import LRU_ACTIVE_ANON, LRU_ACTIVE_FILE, LRU_INACTIVE_FILE
from memcglab.runtime.ops import Op
from memcglab.scenario.sim_scenario import ScenarioFile, build
from memcglab.sim.engine import SimRun, Simulation
from memcglab.sim.machine import SimMachine
from memcglab.sim.plan import Plan

PAGE = 4096


def _plan(raw: dict[str, Any]) -> Plan:
    # The variant named: a v3.7 iterator, so a v3.7 simulation whatever the default kernel.
    base: dict[str, Any] = {"duration": "100ms", "seed": 1, "cpus": 4, "variant": "css-id",
                            "workload": [{"group": "root", "pattern": "stream",
                                          "size": "4K", "rate": "4K"}]}
    return build(ScenarioFile.model_validate({**base, **raw}), "test", "t")


def _quiet(plan: Plan) -> Simulation:
    """A simulation of ``plan`` without its workloads: only kswapd (and the admin) run."""
    return Simulation(replace(plan, workloads=()), record_visits=True)


def _fill(sim: Simulation, memcg: int, n: int, zone: int = 0, lru: int = LRU_INACTIVE_FILE,
          anon: bool = False) -> list[int]:
    """Put ``n`` pages of ``memcg`` on ``lru`` of ``zone``, charged, in no mapping."""
    m = sim.machine
    out = []
    for i in range(n):
        page = m.pages.alloc(zone)
        assert page is not None
        m.pages.add_folio(page, memcg, anon, -1, i, lru)
        m.usage[memcg] += 1
        for x in m.chain[memcg]:
            m.husage[x] += 1
        out.append(page)
    return out


def _group(sim: Simulation, name: str) -> int:
    topo = sim.plan.topology
    return next(g for g in range(topo.size) if topo.name(g) == name)


def _kswapd_priorities(run: SimRun, group: str) -> list[int]:
    assert run.visits is not None
    return [v.priority for v in run.visits if v.group == group]


def test_w1_kswapd_passes_restart_at_def_priority_and_balanced_means_above_high() -> None:
    """W1, ``balance_pgdat()`` (vmscan.c:2546-2843).

    One 16M zone (4,096 pages), watermarks min 128, low 160, high 195 pages. Group ``a``
    holds 4,000 unreferenced page-cache pages on its inactive list, so 96 pages are free:
    kswapd must free 100 to have more than 195. Each priority p frees ``size >> p`` pages
    (global reclaim, no force_scan):

    * pass 1: p12 4000>>12 = 0, p11 1, p10 3 (3999>>10), p9 7, p8 15, p7 31: 57 pages, at
      least SWAP_CLUSTER_MAX, so the pass ends (2774-2775) and, the zone still below high,
      kswapd goes back to ``loop_again`` at DEF_PRIORITY (2784-2806);
    * pass 2: p12 0 (3943>>12), p11 1, p10 3, p9 7, p8 15 (83 in all, 179 free: not yet),
      p7 30: 113 in all, 209 free > 195: balanced, done.

    So kswapd shrinks ``a`` at priorities 12..7 twice. The model before the fix went on to
    priority 6 in one pass (12..6, 118 pages). Second, "balanced" is ``free > high``
    (``__zone_watermark_ok``: ``free_pages <= min`` fails, page_alloc.c:1629): with exactly
    195 free kswapd still reclaims (p12 0, p11 1); the old model took 195 as balanced.
    Third, soft-limit reclaim runs for every zone 0..end_zone at every priority, before the
    watermark test (2643-2664): with two zones, zone 0 balanced and zone 1 not, kswapd
    calls it for zone 0 too (the old model only for the zones below high).
    """
    raw = {"machine": {"pages_per_zone": "16M",
                       "watermarks": {"min": "512K", "low": "640K", "high": "780K"}},
           "group": [{"name": "a"}]}
    sim = _quiet(_plan(raw))
    _fill(sim, _group(sim, "a"), 4000)
    sim.machine.kswapd_wake[0] = True
    run = sim.run()
    assert _kswapd_priorities(run, "a") == [12, 11, 10, 9, 8, 7] * 2
    assert run.machine.pages.free_pages(0) == 209
    assert run.machine.c.calls["kswapd"].reclaimed == 113

    sim = _quiet(_plan(raw))
    _fill(sim, _group(sim, "a"), 4096 - 195)
    sim.machine.kswapd_wake[0] = True
    run = sim.run()
    assert _kswapd_priorities(run, "a") == [12, 11]
    assert run.machine.pages.free_pages(0) == 196

    two = {"machine": {"pages_per_zone": "1M", "zones": 2},  # 256 pages, high 12 each
           "group": [{"name": "a"}, {"name": "s", "soft_limit": "4K"}]}
    sim = _quiet(_plan(two))
    _fill(sim, _group(sim, "a"), 100, zone=0)
    _fill(sim, _group(sim, "s"), 250, zone=1)
    sim.machine.kswapd_wake[0] = True
    run = sim.run()
    assert run.visits is not None
    iters = sim.machine.layout.iter_list
    soft_zones = {iters[v.iterator].key.zone for v in run.visits if v.priority == 0}
    assert soft_zones == {0, 1}

    from memcglab.kernel.v3_7.vmscan import zone_balanced
    m = sim.machine
    gap = m.pages.free_pages(0) - m.zone_specs[0].high
    assert not zone_balanced(m, 0, gap)  # free == high + gap: not above the mark
    assert zone_balanced(m, 0, gap - 1)


def test_w2_the_faulting_read_counts_as_the_first_access() -> None:
    """W2, ``do_generic_file_read()`` (filemap.c:1081-1291) and ``shrink_active_list()``
    (vmscan.c:1429-1526).

    A process reads pages 0..3 of its file, one read per ms (a 1,000-page/s rate), no
    memory pressure. Each first read faults the page in: ``no_cached_page`` ->
    ``add_to_page_cache_lru()`` -> ``readpage`` -> ``goto page_ok`` (1267-1286, 1259), and
    ``page_ok`` calls ``mark_page_accessed()`` (1175-1176). So after the first pass (reads at
    0, 1, 2, 3 ms) every page is on the inactive file list with PG_referenced set; after the
    second pass (4..7 ms) every page is active (swap.c:437-446). The model before the fix
    left a faulted page unreferenced: inactive after two reads, active only after three.

    Then ``shrink_active_list()`` deactivates a used page: ``page_referenced()`` clears the
    ptes' young bits only (1486), ``ClearPageActive`` (1504), PG_referenced stays; so the
    page's next read activates it again. The old model cleared PG_referenced there.
    """
    raw = {"machine": {"pages_per_zone": "16M"}, "kswapd": False,
           "workload": [{"group": "root", "pattern": "loop", "size": "16K",
                         "rate": "4000K"}]}
    for duration, (lru, ref) in (("3500us", (LRU_INACTIVE_FILE, 1)),
                                 ("7500us", (LRU_ACTIVE_FILE, 0))):
        run = Simulation(_plan({**raw, "duration": duration})).run()
        m = run.machine
        pages = [m.mappings[0][i] for i in range(4)]
        assert [(m.pages.lru[p], m.pages.ref[p]) for p in pages] == [(lru, ref)] * 4

    from memcglab.kernel.context import ScanControl
    from memcglab.kernel.v3_7.swap import mark_page_accessed
    from memcglab.kernel.v3_7.vmscan import shrink_active_list

    sim = _quiet(_plan({"machine": {"pages_per_zone": "16M"}}))
    m = sim.machine
    [page] = _fill(sim, 0, 1, lru=LRU_ACTIVE_FILE)  # active file
    m.pages.ref[page] = 1  # read again since it was activated
    vec = m.pages.lruvec(0, 0)
    assert shrink_active_list(m, 32, 0, 0, vec, ScanControl(None, 12, 32), LRU_ACTIVE_FILE) == 1
    assert (m.pages.lru[page], m.pages.ref[page]) == (LRU_INACTIVE_FILE, 1)
    mark_page_accessed(m, page)
    assert (m.pages.lru[page], m.pages.ref[page]) == (LRU_ACTIVE_FILE, 0)


def test_w3_with_swap_anon_and_file_are_balanced_by_swappiness_and_rotation() -> None:
    """W3, ``get_scan_count()`` (vmscan.c:1638-1751) and the ``reclaim_stat`` it reads.

    Scenario: group ``g`` limited to 16M, with swap; an anon working set of 8M (2,048 pages)
    touched for the first 20 ms, and a use-once 64M file stream all along. In v3.7 every
    new anon page joins the active anon list counted as rotated (swap.c:789-805), the
    stream's pages are scanned and never rotated, so ``fp = 140 * (recent_scanned[1] + 1) /
    (recent_rotated[1] + 1)`` grows and ``ap`` stays near 60: reclaim falls on the stream,
    and after 100 ms nearly all of the idle anon set is still resident. The model before the
    fix scanned anon and file alike (``size >> priority``) and had swapped out 1,424 of the
    2,048 anon pages by then.

    Hand-computed, limit reclaim at priority 2 of a lruvec with 1,000 pages on each list
    and ``recent_scanned = [400, 300]``, ``recent_rotated = [200, 10]``: ``ap = 60 * 401 //
    201 = 119``, ``fp = 140 * 301 // 11 = 3830``, denominator 3,950; each list 1000 >> 2 =
    250 -> anon 250 * 119 // 3950 = 7, file 250 * 3830 // 3950 = 242. With
    ``recent_scanned[0] = 600`` (above a quarter of the 2,000 anon pages) both anon counts
    are halved first (1711-1714): ``ap = 60 * 301 // 101 = 178``, denominator 4,009 -> anon
    11, file 238. force_scan is scaled too: at priority 12, 1000 >> 12 = 0 -> 32 -> anon 0,
    file 32 * 3830 // 3950 = 31. Priority 0 scans every list whole (1742). Global reclaim
    with file + free <= high scans only anon (1680-1688).
    """
    raw = {"duration": "100ms", "seed": 2, "machine": {"pages_per_zone": "64M", "swap": True},
           "group": [{"name": "g", "limit": "16M"}],
           "workload": [{"group": "g", "type": "anon", "pattern": "loop", "size": "8M",
                         "rate": "400M", "stop": "20ms"},
                        {"group": "g", "pattern": "stream", "size": "64M", "rate": "200M"}]}
    run = Simulation(_plan(raw)).run()
    assert run.machine.c.calls["limit"].calls > 0
    assert len(run.machine.mappings[0]) >= 2000  # resident anon pages of the 2,048

    from memcglab.kernel.context import ScanControl
    from memcglab.kernel.v3_7.vmscan import get_scan_count

    sim = _quiet(_plan({"machine": {"pages_per_zone": "16M", "swap": True,
                                    "watermarks": {"min": "512K", "low": "640K",
                                                   "high": "780K"}},
                        "group": [{"name": "g"}, {"name": "h"}]}))
    m = sim.machine
    g, h = _group(sim, "g"), _group(sim, "h")
    for lru in range(4):
        _fill(sim, g, 1000, lru=lru, anon=lru < LRU_INACTIVE_FILE)
    vec = m.pages.lruvec(g, 0)

    def scan(scanned: list[int], rotated: list[int], priority: int,
             target: int | None) -> list[int]:
        vec.recent_scanned, vec.recent_rotated = list(scanned), list(rotated)
        return get_scan_count(m, vec, 0, ScanControl(target, priority, 32))

    assert scan([400, 300], [200, 10], 2, g) == [7, 7, 242, 242]
    assert scan([600, 300], [200, 10], 2, g) == [11, 11, 238, 238]
    assert (vec.recent_scanned, vec.recent_rotated) == ([300, 300], [100, 10])
    assert scan([400, 300], [200, 10], 12, g) == [0, 0, 31, 31]
    assert scan([400, 300], [200, 10], 0, g) == [1000, 1000, 1000, 1000]
    # 46 pages free and no file pages in h: file + free <= high (195), anon only
    _fill(sim, h, 50, lru=LRU_ACTIVE_ANON, anon=True)
    assert get_scan_count(m, m.pages.lruvec(h, 0), 0, ScanControl(None, 2, 32)) == [0, 12, 0, 0]


def test_w4_allocation_takes_zones_above_low_first_and_wakes_every_kswapd() -> None:
    """W4, ``__alloc_pages_nodemask()`` (page_alloc.c:2590-2653) and
    ``__alloc_pages_slowpath()`` (2382-2584).

    Zones of 256 pages, watermarks min 8, low 10, high 12 (the defaults), kswapd off so
    that its wake-up flags stay as the allocation left them. A process reads one page.

    * One node, two zones; its zonelist is zone 1 then zone 0. Zone 1 has 10 free pages (=
      low), zone 0 has 156. The first attempt is at the low watermark (2598): zone 1 is
      not above it and is skipped (``this_zone_full``), zone 0 gives the page, and kswapd is
      not woken (the fast path succeeded). The model before the fix took zone 1's page
      (above min) and woke kswapd.
    * Two nodes of one zone, both with 10 free pages: the first attempt fails in both, the
      slow path wakes kswapd for every zone of the zonelist (2419-2421), so both nodes',
      then takes node 0's page at the min watermark (2438-2443). The old model woke only
      node 0's kswapd.
    """
    base = {"duration": "1ms", "kswapd": False,
            "workload": [{"group": "root", "pattern": "stream", "size": "4K",
                          "rate": "4K"}]}

    def read_one_page(machine: dict[str, Any], used: tuple[int, int]) -> SimMachine:
        """Zones 0 and 1 with ``used`` pages taken; the process reads one page."""
        sim = Simulation(_plan({**base, "machine": {"pages_per_zone": "1M", **machine}}))
        for zone, n in enumerate(used):
            _fill(sim, 0, n, zone=zone)
        return sim.run().machine

    m = read_one_page({"zones": 2}, (100, 246))
    assert m.pages.zone_of[m.mappings[0][0]] == 0
    assert m.kswapd_wake == [False]
    assert (m.pages.free_pages(0), m.pages.free_pages(1)) == (155, 10)
    m = read_one_page({"nodes": 2}, (246, 246))
    assert m.pages.zone_of[m.mappings[0][0]] == 0
    assert m.kswapd_wake == [True, True]


def test_w5_only_charge_rounds_that_free_nothing_count_towards_the_memcg_oom(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """W5, ``__mem_cgroup_try_charge()`` (memcontrol.c:2342-2474), ``mem_cgroup_do_charge()``
    (2253-2319) and ``mem_cgroup_reclaim()`` (1568-1602).

    Group ``g`` is limited to 64 pages and holds 64 anon pages without swap: nothing can be
    reclaimed. A process in ``g`` reads one file page. Each charge round's
    ``mem_cgroup_reclaim()`` calls ``try_to_free_mem_cgroup_pages()`` twice ("If nothing was
    reclaimed after two attempts", 1595-1599) and returns CHARGE_NOMEM, which uses up one of
    the 5 retries (2454); the sixth round runs with ``oom_check`` (2431-2434) and ends in the
    memcg OOM: 6 x 2 = 12 limit-reclaim calls, one OOM. The model before the fix made 5
    calls, then the OOM.

    Then reclaim that reports progress without making room: the first three calls report
    one page each (nothing is freed). The first round's ``mem_cgroup_reclaim()`` goes on
    until its 100-call bound (MEM_CGROUP_MAX_RECLAIM_LOOPS: some progress, no margin) and
    returns CHARGE_RETRY (``nr_pages == 1 && ret``, 2301), which costs no retry; then five
    rounds of two fruitless calls and the OOM round's two: 100 + 12 = 112 calls, one OOM.
    """
    raw = {"duration": "1ms", "machine": {"pages_per_zone": "16M"}, "kswapd": False,
           "group": [{"name": "g", "limit": "256K"}],
           "workload": [{"group": "g", "pattern": "stream", "size": "4K", "rate": "4K"}]}

    def charge_once() -> Simulation:
        sim = Simulation(_plan(raw))
        _fill(sim, _group(sim, "g"), 64, lru=LRU_ACTIVE_ANON, anon=True)
        return sim

    sim = charge_once()
    c = sim.run().machine.c
    assert c.calls["limit"].calls == 12
    assert c.ooms[_group(sim, "g")] == 1

    from memcglab.kernel.v3_7 import vmscan

    calls: list[int] = []

    def reports_progress(*args: Any) -> Generator[Op, Any, int]:
        calls.append(1)
        yield from ()
        return 1 if len(calls) <= 3 else 0

    monkeypatch.setattr(vmscan, "try_to_free_mem_cgroup_pages", reports_progress)
    sim = charge_once()
    c = sim.run().machine.c
    assert len(calls) == 112
    assert c.ooms[_group(sim, "g")] == 1


def test_w6_soft_limit_reclaim_works_in_rounds_until_the_excess_is_gone() -> None:
    """W6, ``mem_cgroup_soft_reclaim()`` (memcontrol.c:1741-1792) and
    ``mem_cgroup_soft_limit_reclaim()`` (3623-3713), from ``balance_pgdat()``.

    One 16M zone, high watermark 195 pages, 194 free: kswapd has 2 pages to free. Group
    ``s`` has a soft limit of 100 pages and 500 page-cache pages (excess 400); its child
    ``s2`` has none; ``a`` fills the rest. kswapd's soft-limit reclaim walks ``s``'s subtree
    through the (s, zone, priority 0) iterator: each ``mem_cgroup_shrink_node_zone()`` of
    ``s`` frees 32 pages (priority 0, ``nr_to_reclaim`` SWAP_CLUSTER_MAX), ``s2`` has
    nothing reclaimable and is skipped (1782), and the goal ``excess >> 2`` = 100 is tested
    only at the end of a walk, from the second end on (1762-1778): s 32, end, s 64, end (64
    < 100), s 96, end, s 128, end: 128 pages, and the zone is balanced without a
    ``shrink_zone()``. The model before the fix stopped after one walk (32 pages) and
    claimed ``s2``. With a soft limit of 460 pages (excess 40) the walk stops when the
    excess reaches 0 (1787): s 32, end, s 64 (the old model: 32, its goal 10 met).
    """
    def soft_reclaim(soft_limit: str) -> tuple[int, list[str]]:
        raw = {"machine": {"pages_per_zone": "16M",
                           "watermarks": {"min": "512K", "low": "640K", "high": "780K"}},
               "group": [{"name": "a"}, {"name": "s", "soft_limit": soft_limit},
                         {"name": "s2", "parent": "s"}]}
        sim = _quiet(_plan(raw))
        _fill(sim, _group(sim, "a"), 4096 - 194 - 500)
        _fill(sim, _group(sim, "s"), 500)
        sim.machine.kswapd_wake[0] = True
        run = sim.run()
        assert run.visits is not None
        return run.machine.c.soft_reclaimed, [v.group for v in run.visits]

    assert soft_reclaim("400K") == (128, ["s"] * 4)
    assert soft_reclaim("1840K") == (64, ["s"] * 2)


def test_w7_rmdir_moves_pages_to_the_res_counter_parent_or_root() -> None:
    """W7, ``mem_cgroup_force_empty()`` -> ``mem_cgroup_move_parent()`` (memcontrol.c:
    2736-2779, 3772-3846) and ``parent_mem_cgroup()`` (4900-4905).

    ``p`` has ``use_hierarchy = false``, so its child ``c`` gets a res_counter without a
    parent (``res_counter_init(&memcg->res, NULL)``, 5001) and ``parent_mem_cgroup(c)`` is
    NULL: at rmdir, ``c``'s 10 pages and their charge go to the root memcg ("If no parent,
    move charges to root cgroup"), and ``p`` keeps nothing. The model before the fix moved
    them to ``p``, charging ``p``'s counter with pages v3.7 never charges to it. Under a
    hierarchical parent the pages go to that parent, whose counter already held them.
    """
    def rmdir(use_hierarchy: bool) -> tuple[list[int], list[int]]:
        raw = {"duration": "2ms", "machine": {"pages_per_zone": "16M"},
               "group": [{"name": "p", "use_hierarchy": use_hierarchy},
                         {"name": "c", "parent": "p", "use_hierarchy": use_hierarchy,
                          "removed_at": "1ms"}]}
        sim = _quiet(_plan(raw))
        _fill(sim, _group(sim, "c"), 10)
        m = sim.run().machine
        return m.usage, m.husage

    usage, husage = rmdir(False)
    assert (usage, husage) == ([10, 0, 0], [10, 0, 0])
    usage, husage = rmdir(True)
    assert (usage, husage) == ([0, 10, 0], [10, 10, 0])
