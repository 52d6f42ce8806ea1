"""Reclaim of v6.18 (mm/vmscan.c): the memcg walk for the explorer, and the whole of
limit, direct and kswapd reclaim for the simulator.

The walk was read in torvalds/linux @ 538d5baacd8a mm/vmscan.c (v6.12 or later; the partial
walk is Johannes Weiner's 6be5e186fd65, "mm: vmscan: restore incremental cgroup iteration",
v6.11); the simulator's rules in a v6.18.19 tree (6952350/linux-6.18.y @ f3fce0151d48),
function by function in docs/research/v6-reclaim.md section 3 and docs/research/
v6-alloc-v1.md section 2 ([VS] line numbers there). The classic two-list LRU
(``lru_gen_enabled()`` false), order-0 folios of one page, clean page cache (no writeback,
no dirty pages), one zone per node as far as watermarks go, memcg statistics read exact
(the kernel flushes them at a limited rate), no slab shrinkers, no vmpressure, no
throttling (``reclaim_throttle``, ``too_many_isolated``, ``throttle_direct_reclaim``):
they change timing, not which pages go.

* ``shrink_node_memcgs()``: a cookie ``{pgdat}``, ``memcg = mem_cgroup_iter(target, NULL,
  partial)``, then ``do { shrink_lruvec(); ...; if (partial && nr_reclaimed >=
  nr_to_reclaim) { mem_cgroup_iter_break(); break; } } while ((memcg =
  mem_cgroup_iter(target, memcg, partial)))``. Direct and limit reclaim share the cursor
  (``partial``); kswapd and a ``memcg_full_walk`` retry walk privately (``partial = NULL``).
  The memory.min / memory.low checks come before ``shrink_lruvec()`` and skip a group with a
  ``continue`` that still advances the shared cursor; the explorer has no protection set, so
  they never skip (the simulator has them: :func:`shrink_node_memcgs` below);
* ``shrink_node()``: ``shrink_node_memcgs()`` (MGLRU's ``lru_gen_shrink_node()`` for root
  reclaim is not modelled: it does not use ``mem_cgroup_iter()``);
* ``shrink_zones()``: ``shrink_node()`` once per node of the zonelist (``if
  (zone->zone_pgdat == last_pgdat) continue``);
* ``do_try_to_free_pages()``: ``do { shrink_zones(); if (nr_reclaimed >= nr_to_reclaim)
  break; } while (--sc->priority >= 0)``, then ``if (sc->nr_reclaimed) return``, else one
  retry with ``memcg_full_walk`` from the initial priority (Shakeel Butt's "mm: vmscan: reset
  sc->priority on retry").

In ``memcglab check`` there are no pages: ``shrink_lruvec()`` is the claim of the group by
this reclaimer (what the invariants are about). By default it reclaims "some but never
enough": the reclaim target is never met (so no walk bails out early) and ``nr_reclaimed`` is
non-zero after the first claim (so the full-walk retry, which needs a loop that reclaimed
nothing, does not run). With a goal (``[reclaim] goal = N``) each claimed group counts as one
unit and ``nr_to_reclaim = N``: a partial walk bails out with ``mem_cgroup_iter_break()``
after N groups, leaving the shared position at the last one, as direct and limit reclaim do
once they have reclaimed enough. The priority loop runs through the priorities the
configuration puts in play.
"""

from __future__ import annotations

from collections.abc import Generator
from math import isqrt
from typing import Any

from memcglab.kernel.context import NO_TARGET, KernelContext
from memcglab.kernel.iterator import MemcgIter
from memcglab.kernel.v6_18.cgroup import cgroup_mkdir, cgroup_rmdir
from memcglab.kernel.v6_18.context import (
    DEACTIVATE_ANON,
    DEACTIVATE_FILE,
    ReclaimCookie,
    ScanControl,
)
from memcglab.kernel.v6_18.memcontrol import (
    MEMCG_LOW,
    mem,
    mem_cgroup_below_low,
    mem_cgroup_below_min,
    mem_cgroup_calculate_protection,
    mem_cgroup_get_nr_swap_pages,
    mem_cgroup_online,
    mem_cgroup_protection,
    mem_cgroup_size,
    mem_cgroup_swappiness,
    mem_cgroup_uncharge,
    memcg_memory_event,
)
from memcglab.kernel.v6_18.swap import lru_note_cost
from memcglab.kernel.v6_18.workingset import workingset_eviction
from memcglab.kernel.vmscan import (
    ALL_PRIORITIES,
    AdminAction,
    ReclaimerSpec,
    reclaim_done,
    run_admin,
    zonelist_nodes,
)
from memcglab.model.constants import (
    DEF_PRIORITY,
    LRU_ACTIVE_ANON,
    LRU_ACTIVE_FILE,
    LRU_INACTIVE_ANON,
    LRU_INACTIVE_FILE,
    SWAP_CLUSTER_MAX,
)
from memcglab.model.layout import IterSlots
from memcglab.runtime.ops import Kind, Op

Thread = Generator[Op, Any, None]


MAX_RECLAIM_RETRIES = 16  # mm/internal.h
SWAPPINESS_ANON_ONLY = 201  # include/linux/swap.h: proactive reclaim only (not modelled)
LRU_EVICTABLE = (LRU_INACTIVE_ANON, LRU_ACTIVE_ANON, LRU_INACTIVE_FILE, LRU_ACTIVE_FILE)
# enum scan_balance
SCAN_EQUAL, SCAN_FRACT, SCAN_ANON, SCAN_FILE = range(4)
# enum folio_references
FOLIOREF_RECLAIM, FOLIOREF_RECLAIM_CLEAN, FOLIOREF_KEEP, FOLIOREF_ACTIVATE = range(4)


def current_is_kswapd(sc: ScanControl | None = None) -> bool:
    """The explorer's reclaimers are direct or limit reclaimers, never kswapd; in the
    simulator kswapd's scan_control says so (the model has no ``current``)."""
    return sc is not None and sc.is_kswapd


def cgroup_reclaim(sc: ScanControl) -> bool:
    return sc.target_mem_cgroup is not None


def root_reclaim(k: KernelContext, sc: ScanControl) -> bool:
    return sc.target_mem_cgroup is None or sc.target_mem_cgroup == k.root_mem_cgroup


def is_file_lru(lru: int) -> bool:
    return lru in (LRU_INACTIVE_FILE, LRU_ACTIVE_FILE)


def is_active_lru(lru: int) -> bool:
    return lru in (LRU_ACTIVE_ANON, LRU_ACTIVE_FILE)


def lruvec_lru_size(k: KernelContext, memcg: int, pgdat: int, lru: int) -> int:
    """This memcg's own list on the node (``lruvec_lru_size``, exact)."""
    return int(k.mm.pages.lru_size(memcg, pgdat, lru))


def lruvec_page_state(k: KernelContext, memcg: int, pgdat: int, lru: int) -> int:
    """``lruvec_page_state(lruvec, NR_LRU_BASE + lru)``: the memcg's list summed over its
    subtree (the hierarchical memcg statistic; the root's is the node's)."""
    return int(k.mm.pages.lruvec(memcg, pgdat).hsizes[lru])


def can_reclaim_anon_pages(k: KernelContext, memcg: int | None, sc: ScanControl) -> bool:
    """[VS]:364-387, without demotion."""
    if memcg is None:
        return bool(mem(k).total_swap_pages)
    return mem_cgroup_get_nr_swap_pages(k, memcg) > 0


def can_age_anon_pages(k: KernelContext, sc: ScanControl) -> bool:
    """[VS]:2686-2696: ``total_swap_pages > 0`` (global swap, not the memcg's limit)."""
    return bool(mem(k).total_swap_pages)


def inactive_is_low(k: KernelContext, memcg: int, pgdat: int, inactive_lru: int) -> bool:
    """[VS]:2329-2346: the inactive list is low when ``inactive * inactive_ratio <
    active``, the ratio ``int_sqrt(10 * gb)`` for a lruvec of ``gb`` GiB (1 below 1 GiB).
    The same rule for anon and file (v3.7 had two)."""
    active_lru = inactive_lru + 1
    inactive = lruvec_page_state(k, memcg, pgdat, inactive_lru)
    active = lruvec_page_state(k, memcg, pgdat, active_lru)
    gb = (inactive + active) >> (30 - 12)
    inactive_ratio = isqrt(10 * gb) if gb else 1
    return inactive * inactive_ratio < active


def _workingset_activate(k: KernelContext, memcg: int, pgdat: int, file: int) -> int:
    """``lruvec_page_state(target_lruvec, WORKINGSET_ACTIVATE_BASE + file)``."""
    return int(k.mm.pages.lruvec(memcg, pgdat).activate[file])


def snapshot_refaults(k: KernelContext, target_memcg: int | None, pgdat: int) -> None:
    """[VS]:6362-6375: remember the target's activation counts, for the next
    prepare_scan_control to compare."""
    target = k.root_mem_cgroup if target_memcg is None else target_memcg
    vec = k.mm.pages.lruvec(target, pgdat)
    vec.refaults[0] = vec.activate[0]
    vec.refaults[1] = vec.activate[1]


def prepare_scan_control(k: KernelContext, pgdat: int, sc: ScanControl) -> None:
    """[VS]:2355-2457: what may be deactivated is decided once per shrink_node, from the
    reclaim target's lruvec (not per visited memcg)."""
    target = k.root_mem_cgroup if sc.target_mem_cgroup is None else sc.target_mem_cgroup
    target_lruvec = k.mm.pages.lruvec(target, pgdat)
    # Determine the scan balance between anon and file LRUs.
    sc.anon_cost = target_lruvec.anon_cost
    sc.file_cost = target_lruvec.file_cost
    # Target desirable inactive:active list ratios for the anon and file LRU lists.
    if not sc.force_deactivate:
        sc.may_deactivate = 0
        refaults = _workingset_activate(k, target, pgdat, 0)
        if refaults != target_lruvec.refaults[0] or inactive_is_low(
                k, target, pgdat, LRU_INACTIVE_ANON):
            sc.may_deactivate |= DEACTIVATE_ANON
        refaults = _workingset_activate(k, target, pgdat, 1)
        if refaults != target_lruvec.refaults[1] or inactive_is_low(
                k, target, pgdat, LRU_INACTIVE_FILE):
            sc.may_deactivate |= DEACTIVATE_FILE
    else:
        sc.may_deactivate = DEACTIVATE_ANON | DEACTIVATE_FILE
    # If we have plenty of inactive file pages that aren't thrashing, try to reclaim those
    # first before touching anonymous pages.
    file = lruvec_page_state(k, target, pgdat, LRU_INACTIVE_FILE)
    sc.cache_trim_mode = (bool(file >> sc.priority)
                          and not (sc.may_deactivate & DEACTIVATE_FILE)
                          and not sc.no_cache_trim_mode)
    # Prevent the reclaimer from falling into the cache trap: as cache pages start out
    # inactive, every cache fault will tip the scan balance towards the file LRU. Global
    # reclaim only.
    sc.file_is_tiny = False
    if not cgroup_reclaim(sc):
        mm = k.mm
        zones = _node_zones(k, pgdat)
        free = sum(mm.pages.free_pages(z) for z in zones)
        total_high_wmark = sum(mm.zone_specs[z].high for z in zones)
        file = (lruvec_page_state(k, target, pgdat, LRU_ACTIVE_FILE)
                + lruvec_page_state(k, target, pgdat, LRU_INACTIVE_FILE))
        anon = lruvec_page_state(k, target, pgdat, LRU_INACTIVE_ANON)
        sc.file_is_tiny = (file + free <= total_high_wmark
                           and not (sc.may_deactivate & DEACTIVATE_ANON)
                           and bool(anon >> sc.priority))


def _node_zones(k: KernelContext, pgdat: int) -> tuple[int, ...]:
    return tuple(z for z, zone in enumerate(k.layout.zones) if zone.nid == pgdat)


def calculate_pressure_balance(sc: ScanControl, swappiness: int) -> tuple[tuple[int, int], int]:
    """[VS]:2459-2494: ``fraction[anon, file]`` and the denominator, from the rotation and
    refault costs ("at least a third of the pressure is applied, before swappiness")."""
    total_cost = sc.anon_cost + sc.file_cost
    anon_cost = total_cost + sc.anon_cost
    file_cost = total_cost + sc.file_cost
    total_cost = anon_cost + file_cost
    ap = swappiness * (total_cost + 1) // (anon_cost + 1)
    fp = (200 - swappiness) * (total_cost + 1) // (file_cost + 1)
    return (ap, fp), ap + fp


def apply_proportional_protection(k: KernelContext, memcg: int, sc: ScanControl,
                                  scan: int) -> int:
    """[VS]:2496-2557: scan a protected memcg in proportion to its unprotected usage, with
    a SWAP_CLUSTER_MAX floor applied before the priority shift (so it vanishes at high
    priorities)."""
    mn, low = mem_cgroup_protection(k, sc.target_mem_cgroup, memcg)
    if mn or low:
        cgroup_size = mem_cgroup_size(k, memcg)
        # If there is no reclaimable memory, OOM. memory.low can be broken once the
        # low-reclaim pass runs.
        if not sc.memcg_low_reclaim and low > mn:
            protection = low
            sc.memcg_low_skipped = True
        else:
            protection = mn
        # Avoid TOCTOU with earlier protection check.
        cgroup_size = max(cgroup_size, protection)
        scan -= scan * protection // (cgroup_size + 1)
        # Minimally target SWAP_CLUSTER_MAX pages to keep reclaim moving forwards.
        scan = max(scan, SWAP_CLUSTER_MAX)
    return scan


def get_scan_count(k: KernelContext, memcg: int, pgdat: int, sc: ScanControl) -> list[int]:
    """[VS]:2566-2680: how many pages of each list to scan: ``lru_size >> priority`` with
    proportional protection; the only floor after the shift is for offline memcgs."""
    swappiness = mem_cgroup_swappiness(k, memcg)
    fraction = (0, 0)
    denominator = 0
    # If we have no swap space, do not bother scanning anon folios.
    if (not sc.may_swap or not can_reclaim_anon_pages(k, memcg, sc)
            or (cgroup_reclaim(sc) and not swappiness)):
        scan_balance = SCAN_FILE
    elif not sc.priority and swappiness:
        # Do not apply any pressure balancing cleverness when the system is close to OOM.
        scan_balance = SCAN_EQUAL
    elif sc.file_is_tiny:
        scan_balance = SCAN_ANON
    elif sc.cache_trim_mode:
        scan_balance = SCAN_FILE
    else:
        scan_balance = SCAN_FRACT
        fraction, denominator = calculate_pressure_balance(sc, swappiness)
    online = mem_cgroup_online(k, memcg)
    nr = [0, 0, 0, 0]
    for lru in LRU_EVICTABLE:
        file = is_file_lru(lru)
        lruvec_size = lruvec_lru_size(k, memcg, pgdat, lru)
        scan = apply_proportional_protection(k, memcg, sc, lruvec_size)
        scan >>= sc.priority
        # If the cgroup's already been deleted, make sure to scrape out the remaining
        # cache.
        if not scan and not online:
            scan = min(lruvec_size, SWAP_CLUSTER_MAX)
        if scan_balance == SCAN_FRACT:
            # Scan types proportional to swappiness and their relative recent reclaim
            # efficiency. Make sure we don't miss the last page on the offlined memory
            # cgroups because of a round-down.
            if online:
                scan = scan * fraction[file] // denominator
            else:
                scan = -(-scan * fraction[file] // denominator)
        elif (scan_balance == SCAN_FILE and not file) or (scan_balance == SCAN_ANON and file):
            scan = 0
        nr[lru] = scan
    return nr


# -- the LRU lists -----------------------------------------------------------------------


def folio_referenced(k: KernelContext, page: int) -> int:
    """mm/rmap.c [RM]:968-1003: 0 for an unmapped folio (page cache read with read(2));
    else the number of mappings whose PTE was young, test-and-cleared. The model's anon
    folio has one mapping."""
    pages = k.mm.pages
    if not pages.anon[page]:
        return 0
    young = pages.young[page]
    pages.young[page] = 0
    return int(young)


def folio_check_references(k: KernelContext, page: int, sc: ScanControl) -> int:
    """[VS]:908-976, classic LRU, no VM_LOCKED / VM_EXEC mappings."""
    pages = k.mm.pages
    referenced_ptes = folio_referenced(k, page)
    referenced_folio = pages.ref[page]  # folio_test_clear_referenced()
    pages.ref[page] = 0
    if referenced_ptes:
        # All mapped folios start out with page table references from the instantiating
        # fault, so we need to look twice if a mapped file/anon folio is used more than
        # once.
        pages.ref[page] = 1
        if referenced_folio or referenced_ptes > 1:
            return FOLIOREF_ACTIVATE
        return FOLIOREF_KEEP
    # Reclaim if clean, defer dirty folios to writeback.
    if referenced_folio and not pages.anon[page]:
        return FOLIOREF_RECLAIM_CLEAN
    return FOLIOREF_RECLAIM


def shrink_folio_list(k: KernelContext, folios: list[int], pgdat: int, sc: ScanControl
                      ) -> tuple[int, int, list[int], list[int]]:
    """[VS]:1109-1650, the part the model has: references, swap-out of anon (immediate, no
    writeback), ``__remove_mapping`` with the shadow entry, the uncharge and the free.
    Returns (nr_reclaimed, nr_pageout, to the active list, back to the inactive list)."""
    mm = k.mm
    pages = mm.pages
    nr_reclaimed = nr_pageout = 0
    activate: list[int] = []
    keep: list[int] = []
    swap = mem(k).total_swap_pages
    nr_of, ready_at, pinned, now = pages.nr, pages.ready_at, pages.pinned, mm.now
    for page in folios:
        nr_pages = nr_of[page]
        if ready_at[page] > now:
            keep.append(page)  # folio_trylock() fails: its read is in flight ([VS]:1140)
            continue
        # Account the number of base pages ([VS]:1160-1163).
        sc.nr_scanned += nr_pages
        references = folio_check_references(k, page, sc)
        if references == FOLIOREF_ACTIVATE:
            activate.append(page)
            continue
        if references == FOLIOREF_KEEP:
            keep.append(page)
            continue
        if pages.anon[page]:
            if not swap:  # add_to_swap() fails: activate_locked
                activate.append(page)
                continue
            nr_pageout += 1  # pageout() to swap, done at once in the model
        if pinned[page]:
            # __remove_mapping(): a reader's reference makes folio_ref_freeze() fail
            # (keep_locked).
            keep.append(page)
            continue
        memcg = pages.owner[page]
        shadow = workingset_eviction(k, page, sc.target_mem_cgroup)
        # page_cache_delete(): one shadow over the folio's range ([FM]:136-141).
        index = pages.index[page]
        if nr_pages == 1:
            mm.shadows[pages.mapping[page]][index] = shadow
        else:
            mm.shadows[pages.mapping[page]].update(
                dict.fromkeys(range(index, index + nr_pages), shadow))
        mem_cgroup_uncharge(k, memcg, nr_pages)
        mm.free_folio(page)
        # Folio may get swapped out as a whole, need to account all pages in it
        # ([VS]:1568-1573).
        nr_reclaimed += nr_pages
    return nr_reclaimed, nr_pageout, activate, keep


def shrink_inactive_list(k: KernelContext, nr_to_scan: int, memcg: int, pgdat: int,
                         sc: ScanControl, lru: int) -> Generator[Op, Any, int]:
    """[VS]:2015-2117: isolate from the tail, shrink_folio_list, put the survivors back
    (activated ones to the active list), note the cost."""
    pages = k.mm.pages
    folios = pages.isolate(memcg, pgdat, lru, nr_to_scan)
    if not folios:
        return 0
    nr_of = pages.nr
    nr_scanned = sum(nr_of[f] for f in folios)
    nr_reclaimed, nr_pageout, activate, keep = shrink_folio_list(k, folios, pgdat, sc)
    # move_folios_to_lru()
    active_lru = lru + 1
    for page in activate:
        pages.putback(page, active_lru)
    for page in keep:
        pages.putback(page, lru)
    file = is_file_lru(lru)
    lru_note_cost(k, memcg, pgdat, file, nr_pageout, nr_scanned - nr_reclaimed)
    yield Op(Kind.SHRINK_LIST, (memcg, pgdat, lru), (nr_scanned, nr_reclaimed, len(folios)))
    return nr_reclaimed


def shrink_active_list(k: KernelContext, nr_to_scan: int, memcg: int, pgdat: int,
                       sc: ScanControl, lru: int) -> Thread:
    """[VS]:2136-2227: deactivate from the tail; PG_referenced is left alone (only the
    PTE young bits are cleared, by folio_referenced); no VM_EXEC file folio stays."""
    pages = k.mm.pages
    folios = pages.isolate(memcg, pgdat, lru, nr_to_scan)
    if not folios:
        return
    inactive = lru - 1
    for page in folios:
        folio_referenced(k, page)
        # folio_clear_active(folio); folio_set_workingset(folio);
        pages.workingset[page] = 1
        pages.putback(page, inactive)
    yield Op(Kind.SHRINK_LIST, (memcg, pgdat, lru),
             (sum(pages.nr[f] for f in folios), 0, len(folios)))


def shrink_list(k: KernelContext, lru: int, nr_to_scan: int, memcg: int, pgdat: int,
                sc: ScanControl) -> Generator[Op, Any, int]:
    """[VS]:2287-2299."""
    if is_active_lru(lru):
        if sc.may_deactivate & (1 << is_file_lru(lru)):
            yield from shrink_active_list(k, nr_to_scan, memcg, pgdat, sc, lru)
        else:
            sc.skipped_deactivate = True
        return 0
    return (yield from shrink_inactive_list(k, nr_to_scan, memcg, pgdat, sc, lru))


def shrink_lruvec(k: KernelContext, it: IterSlots, memcg: int,
                  reclaim: ReclaimCookie | None, sc: ScanControl,
                  pgdat: int = 0) -> Thread:
    """``shrink_lruvec(mem_cgroup_lruvec(memcg, pgdat), sc)``: the claim of ``memcg``, then
    (simulator) [VS]:5816-5932: the proportional scan in SWAP_CLUSTER_MAX batches, the
    early exit once this lruvec alone reclaimed ``nr_to_reclaim``, and anon aging.
    ``it`` is the iterator of the walk, for the monitor; a private (cookie-less) walk's
    hand-outs belong to no round."""
    shared_walk = reclaim is not None and it.shared_walk
    gen = reclaim.generation if reclaim is not None else -1
    yield Op(Kind.CLAIM, it, (gen, memcg, shared_walk),
             f"shrink_lruvec({k.name(memcg)}) [gen {gen}]" if shared_walk
             else f"shrink_lruvec({k.name(memcg)}) [full walk]")
    if not k.simulating:
        # One unit per group towards a goal; else some pages, never enough (module
        # docstring). A group of [reclaim] empty gives nothing.
        if memcg not in k.empty:
            sc.nr_reclaimed = sc.nr_reclaimed + 1 if sc.nr_to_reclaim != NO_TARGET else 1
        return
    nr = get_scan_count(k, memcg, pgdat, sc)
    targets = list(nr)
    nr_reclaimed = 0
    nr_to_reclaim = sc.nr_to_reclaim
    # Global reclaiming within direct reclaim at DEF_PRIORITY is a "normal" reclaim, and
    # scans proportionally (no early exit).
    proportional_reclaim = (not cgroup_reclaim(sc) and not current_is_kswapd(sc)
                            and sc.priority == DEF_PRIORITY)
    while nr[LRU_INACTIVE_ANON] or nr[LRU_ACTIVE_FILE] or nr[LRU_INACTIVE_FILE]:
        for lru in LRU_EVICTABLE:
            if nr[lru]:
                nr_to_scan = min(nr[lru], SWAP_CLUSTER_MAX)
                nr[lru] -= nr_to_scan
                nr_reclaimed += yield from shrink_list(k, lru, nr_to_scan, memcg, pgdat, sc)
        if nr_reclaimed < nr_to_reclaim or proportional_reclaim:
            continue
        # For kswapd and memcg, reclaim at least the number of pages requested. Ensure
        # that the anon and file LRUs are scanned proportionally what was requested by
        # get_scan_count(). We stop reclaiming one LRU and reduce the amount scanning
        # proportional to the original scan target.
        nr_file = nr[LRU_INACTIVE_FILE] + nr[LRU_ACTIVE_FILE]
        nr_anon = nr[LRU_INACTIVE_ANON] + nr[LRU_ACTIVE_ANON]
        # It's just vindictive to attack the larger once the smaller has gone to zero.
        if not nr_file or not nr_anon:
            break
        if nr_file > nr_anon:
            scan_target = targets[LRU_INACTIVE_ANON] + targets[LRU_ACTIVE_ANON] + 1
            percentage = nr_anon * 100 // scan_target
            lru = LRU_INACTIVE_FILE
            stop = LRU_INACTIVE_ANON
        else:
            scan_target = targets[LRU_INACTIVE_FILE] + targets[LRU_ACTIVE_FILE] + 1
            percentage = nr_file * 100 // scan_target
            lru = LRU_INACTIVE_ANON
            stop = LRU_INACTIVE_FILE
        # Stop scanning the smaller of the LRU.
        nr[stop] = 0
        nr[stop + 1] = 0
        # Recalculate the other LRU scan count based on its original scan target and the
        # percentage scanning already complete.
        for x in (lru, lru + 1):
            scanned = targets[x] - nr[x]
            nr[x] = targets[x] * (100 - percentage) // 100
            nr[x] -= min(nr[x], scanned)
    sc.nr_reclaimed += nr_reclaimed
    # Even if we did not try to evict anon pages at all, we want to rebalance the anon lru
    # active/inactive ratio.
    if can_age_anon_pages(k, sc) and inactive_is_low(k, memcg, pgdat, LRU_INACTIVE_ANON):
        yield from shrink_active_list(k, SWAP_CLUSTER_MAX, memcg, pgdat, sc,
                                      LRU_ACTIVE_ANON)


# -- the walk ----------------------------------------------------------------------------


def shrink_node_memcgs(k: KernelContext, variant: MemcgIter, pgdat: int,
                       sc: ScanControl) -> Thread:
    """[VS]:6004-6081. In the simulator with memory.min / memory.low: the effective
    protection is computed top-down as the walk goes, a memcg below min is skipped, one
    below low is skipped unless this is the low-reclaim pass (then ``MEMCG_LOW``)."""
    target_memcg = sc.target_mem_cgroup
    reclaim = ReclaimCookie(pgdat)
    partial: ReclaimCookie | None = reclaim
    # In most cases, direct reclaimers can do partial walks through the cgroup tree, using
    # an iterator state that persists across invocations. For kswapd, reliable forward
    # progress is more important than a quick return to idle: always do full walks.
    if current_is_kswapd(sc) or sc.memcg_full_walk:
        partial = None
    if variant.caller_era() == "5.5":
        # memcglab run of a v5.5-v6.10 variant: 1ba6fc9af35b's full walks for every
        # reclaimer, no cookie (kernel.v5_5.vmscan); such a variant also has no
        # memcg_full_walk retry (its full_walk_retry is off).
        partial = None
    it = k.iter_node(k.root_mem_cgroup if target_memcg is None else target_memcg, pgdat)
    yield Op(Kind.WALK_START, None, None,
             f"shrink_node_memcgs(node{pgdat}, priority {sc.priority}"
             f"{', full walk' if partial is None else ''})")
    memcg = yield from variant.mem_cgroup_iter(target_memcg, None, partial)
    while memcg is not None:  # do { ... } while ((memcg = mem_cgroup_iter(...)))
        skip = False
        if k.simulating:
            k.mm.c.handouts += 1  # instrumentation: a group handed out by the iterator
            mem_cgroup_calculate_protection(k, target_memcg, memcg)
            if mem_cgroup_below_min(k, target_memcg, memcg):
                # Hard protection. If there is no reclaimable memory, OOM.
                skip = True
            elif mem_cgroup_below_low(k, target_memcg, memcg):
                # Soft protection. Respect the protection only as long as there is an
                # unprotected supply of reclaimable memory from other cgroups.
                if not sc.memcg_low_reclaim:
                    sc.memcg_low_skipped = True
                    skip = True
                else:
                    memcg_memory_event(k, memcg, MEMCG_LOW)
        if not skip:
            yield from shrink_lruvec(k, it, memcg, partial, sc, pgdat)
            # If partial walks are allowed, bail once goal is reached.
            if partial is not None and sc.nr_reclaimed >= sc.nr_to_reclaim:
                yield from variant.mem_cgroup_iter_break(target_memcg, memcg)
                break
        memcg = yield from variant.mem_cgroup_iter(target_memcg, memcg, partial)


def shrink_node(k: KernelContext, variant: MemcgIter, pgdat: int, sc: ScanControl) -> Thread:
    """[VS]:6083-6196: one prepare_scan_control and one walk per call for order-0 reclaim
    (should_continue_reclaim needs compaction); a node that gave pages back resets its
    kswapd_failures."""
    nr_reclaimed = sc.nr_reclaimed
    if k.simulating:
        prepare_scan_control(k, pgdat, sc)
    yield from shrink_node_memcgs(k, variant, pgdat, sc)
    if not k.simulating:
        return
    # Kswapd gives up on balancing particular nodes after too many failures to reclaim
    # anything. Hopefully, one of the reclaimers made progress.
    if sc.nr_reclaimed - nr_reclaimed:
        k.mm.kswapd_failures[pgdat] = 0
    elif sc.cache_trim_mode:
        sc.cache_trim_mode_failed = True


def shrink_zones(k: KernelContext, variant: MemcgIter, zones: tuple[int, ...],
                 sc: ScanControl) -> Thread:
    """[VS]:6270-6360: ``shrink_node()`` once per node of the zonelist. (v1 soft-limit
    reclaim in global reclaim, CONFIG_MEMCG_V1, is not modelled for 6.18: scenarios with a
    soft limit are refused for this kernel.)"""
    last_pgdat = -1
    for zone in zones:
        pgdat = k.layout.zones[zone].nid
        if pgdat == last_pgdat:
            continue
        last_pgdat = pgdat
        yield from shrink_node(k, variant, pgdat, sc)


def do_try_to_free_pages(k: KernelContext, variant: MemcgIter, zones: tuple[int, ...],
                         sc: ScanControl, priorities: tuple[int, ...]
                         ) -> Generator[Op, Any, int]:
    """[VS]:6393-6495: the priority loop, then, only if nothing at all was reclaimed, the
    retries from the initial priority: a full walk, forced deactivation, breaking
    memory.low."""
    while True:  # retry:
        for priority in priorities:  # from the initial priority downwards
            sc.priority = priority
            sc.nr_scanned = 0
            yield from shrink_zones(k, variant, zones, sc)
            if sc.nr_reclaimed >= sc.nr_to_reclaim:
                break
        if k.simulating:
            for pgdat in zonelist_nodes(k, zones):
                snapshot_refaults(k, sc.target_mem_cgroup, pgdat)
        if sc.nr_reclaimed:
            return sc.nr_reclaimed
        # We make inactive:active ratio decisions based on the node's composition of
        # memory, but a restrictive reclaim_idx or a memory.low cgroup setting can exempt
        # large amounts of memory from reclaim. Neither of which are very common, so
        # instead of doing costly eligibility calculations of the entire cgroup subtree up
        # front, we assume the estimates are good, and retry with forcible deactivation if
        # that fails to return enough pages.
        #
        # High concurrency can leave a thread without enough cgroups to make progress
        # through partial walks: avoid false OOMs with one full walk first.
        if not sc.memcg_full_walk and getattr(variant, "full_walk_retry", True):
            sc.memcg_full_walk = True
            continue
        if sc.skipped_deactivate:
            sc.force_deactivate = True
            sc.skipped_deactivate = False
            continue
        # Untapped cgroup reserves? Don't OOM, retry.
        if sc.memcg_low_skipped:
            sc.force_deactivate = False
            sc.memcg_low_reclaim = True
            sc.memcg_low_skipped = False
            continue
        return 0


def try_to_free_mem_cgroup_pages(k: KernelContext, variant: MemcgIter, memcg: int,
                                 nr_pages: int, zones: tuple[int, ...], may_swap: bool
                                 ) -> Generator[Op, Any, int]:
    """[VS]:6707-6746: limit (and memory.high) reclaim of ``memcg``, ``nr_to_reclaim =
    max(nr_pages, SWAP_CLUSTER_MAX)``, from DEF_PRIORITY over the current node's
    zonelist."""
    nr_to_reclaim = max(nr_pages, SWAP_CLUSTER_MAX)
    sc = ScanControl(memcg, DEF_PRIORITY, nr_to_reclaim, may_swap)
    yield Op(Kind.EVENT, "reclaim_call", ("limit", nr_to_reclaim))
    nr_reclaimed = yield from do_try_to_free_pages(k, variant, zones, sc, ALL_PRIORITIES)
    yield Op(Kind.EVENT, "reclaim_done", ("limit", sc.nr_reclaimed, sc.nr_scanned))
    return nr_reclaimed


def try_to_free_pages(k: KernelContext, variant: MemcgIter, zones: tuple[int, ...],
                      ) -> Generator[Op, Any, int]:
    """[VS]:6622-6663: global direct reclaim, ``nr_to_reclaim = SWAP_CLUSTER_MAX``,
    ``may_swap = 1`` (whether anon can go is can_reclaim_anon_pages()'s call)."""
    sc = ScanControl(None, DEF_PRIORITY, SWAP_CLUSTER_MAX, True)
    yield Op(Kind.EVENT, "reclaim_call", ("direct", SWAP_CLUSTER_MAX))
    nr_reclaimed = yield from do_try_to_free_pages(k, variant, zones, sc, ALL_PRIORITIES)
    yield Op(Kind.EVENT, "reclaim_done", ("direct", sc.nr_reclaimed, sc.nr_scanned))
    return nr_reclaimed


# -- kswapd --------------------------------------------------------------------------------


def zone_reclaimable_pages(k: KernelContext, zone: int) -> int:
    """mm/vmscan.c: file LRU pages, and anon ones with swap, of the zone's node (one zone per node:
    the zone's; the model keeps LRU sizes per node)."""
    vec = k.mm.pages.lruvec(k.root_mem_cgroup, k.layout.zones[zone].nid)
    nr = vec.hsizes[LRU_INACTIVE_FILE] + vec.hsizes[LRU_ACTIVE_FILE]
    if mem(k).total_swap_pages:
        nr += vec.hsizes[LRU_INACTIVE_ANON] + vec.hsizes[LRU_ACTIVE_ANON]
    return int(nr)


def pgdat_balanced(k: KernelContext, pgdat: int) -> bool:
    """[VS]:6812-6876: true if any eligible zone is above its high watermark."""
    # page_alloc.c and vmscan.c call each other (as in C): imported here.
    from memcglab.kernel.v6_18.page_alloc import zone_watermark_ok
    return any(zone_watermark_ok(k, z, k.mm.zone_specs[z].high) for z in _node_zones(k, pgdat))


def kswapd_shrink_node(k: KernelContext, variant: MemcgIter, pgdat: int,
                       sc: ScanControl) -> Generator[Op, Any, bool]:
    """[VS]:6934-6965: reclaim the high watermarks' worth; true if the pass scanned or
    reclaimed that much (then balance_pgdat keeps the priority)."""
    nr_reclaimed = sc.nr_reclaimed
    sc.nr_to_reclaim = sum(max(k.mm.zone_specs[z].high, SWAP_CLUSTER_MAX)
                           for z in _node_zones(k, pgdat))
    yield from shrink_node(k, variant, pgdat, sc)
    # Fragmentation may mean that the system cannot be rebalanced for high-order
    # allocations. If twice the allocation size has been reclaimed then recheck
    # watermarks only at order-0 to prevent excessive reclaim.
    return max(sc.nr_scanned, sc.nr_reclaimed - nr_reclaimed) >= sc.nr_to_reclaim


def kswapd_age_node(k: KernelContext, variant: MemcgIter, pgdat: int,
                    sc: ScanControl) -> Thread:
    """[VS]:6758-6782 (classic LRU): with swap, if the node's inactive anon is low,
    deactivate SWAP_CLUSTER_MAX anon pages of every memcg (a cookie-less walk)."""
    if not can_age_anon_pages(k, sc):
        return
    if not inactive_is_low(k, k.root_mem_cgroup, pgdat, LRU_INACTIVE_ANON):
        return
    memcg = yield from variant.mem_cgroup_iter(None, None, None)
    while memcg is not None:
        yield from shrink_active_list(k, SWAP_CLUSTER_MAX, memcg, pgdat, sc, LRU_ACTIVE_ANON)
        memcg = yield from variant.mem_cgroup_iter(None, memcg, None)


def balance_pgdat(k: KernelContext, variant: MemcgIter, pgdat: int
                  ) -> Generator[Op, Any, int]:
    """[VS]:7007-7230 without watermark boosting: from DEF_PRIORITY, reclaim the node until
    one of its zones is above high; the priority drops only after a pass that scanned
    less than the high watermarks' worth or reclaimed nothing. ``sc.nr_reclaimed`` is
    never reset; a run that got nothing while trimming protected cache restarts once
    without the cache-trim mode; a run that reclaimed nothing counts a kswapd failure."""
    # may_swap = !nr_boost_reclaim: always without watermark boosting.
    sc = ScanControl(None, DEF_PRIORITY, 0, True, is_kswapd=True)
    while True:  # restart:
        sc.priority = DEF_PRIORITY
        balanced = False
        while True:  # do { ... } while (sc.priority >= 1)
            nr_reclaimed = sc.nr_reclaimed
            raise_priority = True
            if pgdat_balanced(k, pgdat):
                balanced = True
                break  # goto out
            yield from kswapd_age_node(k, variant, pgdat, sc)
            sc.nr_scanned = 0
            if (yield from kswapd_shrink_node(k, variant, pgdat, sc)):
                raise_priority = False
            nr_reclaimed = sc.nr_reclaimed - nr_reclaimed
            if raise_priority or not nr_reclaimed:
                sc.priority -= 1
            if sc.priority < 1:
                break
        if balanced:
            break
        # If reclaim was stuck trying to trim the page cache (it is protected), try
        # again without the cache-trim mode.
        if (not sc.nr_reclaimed and sc.priority < 1 and not sc.no_cache_trim_mode
                and sc.cache_trim_mode_failed):
            sc.no_cache_trim_mode = True
            continue
        if not sc.nr_reclaimed:
            k.mm.kswapd_failures[pgdat] += 1
        break
    snapshot_refaults(k, None, pgdat)
    return sc.nr_reclaimed


def kswapd(k: KernelContext, variant: MemcgIter, nid: int, zones: tuple[int, ...]
           ) -> Thread:
    """``kswapd()`` [VS]:7336-7408: sleep until woken (wakeup_kswapd), run balance_pgdat,
    and sleep again once the node is balanced or hopeless (kswapd_try_to_sleep,
    prepare_kswapd_sleep); the short HZ/10 nap is not modelled."""
    while True:
        yield Op(Kind.KSWAPD_WAIT, nid)
        while True:
            yield Op(Kind.EVENT, "reclaim_call", ("kswapd", 0))
            nr = yield from balance_pgdat(k, variant, nid)
            yield Op(Kind.EVENT, "reclaim_done", ("kswapd", nr, 0))
            if (k.mm.kswapd_failures[nid] >= MAX_RECLAIM_RETRIES
                    or pgdat_balanced(k, nid)):
                break  # prepare_kswapd_sleep(): back to sleep


def wakeup_kswapd(k: KernelContext, zone: int) -> None:
    """[VS]:7417-7460: wake the node's kswapd unless it is hopeless or already balanced
    (a kswapd already awake stays awake)."""
    pgdat = k.layout.zones[zone].nid
    mm = k.mm
    if mm.kswapd_failures[pgdat] >= MAX_RECLAIM_RETRIES or pgdat_balanced(k, pgdat):
        return
    mm.kswapd_wake[pgdat] = True


def reclaimer(k: KernelContext, variant: MemcgIter, spec: ReclaimerSpec) -> Thread:
    """One explorer CPU: ``spec.walks`` reclaim calls (``try_to_free_pages`` or
    ``try_to_free_mem_cgroup_pages``) one after another."""
    for _ in range(spec.walks):
        sc = ScanControl(spec.target, spec.priorities[0], spec.goal or NO_TARGET)
        yield from do_try_to_free_pages(k, variant, spec.zones, sc, spec.priorities)
        if k.empty:
            yield reclaim_done(k, spec.target, sc.nr_reclaimed)


def admin(k: KernelContext, actions: tuple[AdminAction, ...]) -> Thread:
    """A CPU running mkdir / rmdir in cgroupfs while reclaim runs, one after the other. A v6
    rmdir returns once the group is killed; its release comes later, from a kworker of
    ``cgroup_release_wq`` (:func:`memcglab.kernel.v6_18.cgroup.css_release_work`)."""
    yield from run_admin(k, actions, cgroup_mkdir, cgroup_rmdir)
