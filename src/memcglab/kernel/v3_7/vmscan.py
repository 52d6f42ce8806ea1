"""mm/vmscan.c of Linux v3.7: reclaim over the memcg walk, for the explorer and the simulator.

Read in the v3.7.2 tree of :mod:`memcglab.kernel.v3_7` (``shrink_zone()`` and
``shrink_lruvec()`` also match the "-" side of J. Weiner's Dec-2012 patch,
kernel_iterators.md 2.g); line numbers are of that tree.

The walk (explorer and simulator):

* ``shrink_zone()`` (vmscan.c:1888-1919): a cookie ``{zone, sc->priority}``; ``memcg =
  mem_cgroup_iter(root, NULL, &reclaim)``, then ``do { shrink_lruvec(); ... } while
  (memcg)``. Global reclaim (no target memcg) walks until ``mem_cgroup_iter`` returns NULL.
  Limit reclaim "has historically picked one memcg and scanned it with decreasing priority
  levels": it shrinks one group, calls ``mem_cgroup_iter_break()`` and stops (until v3.9).
* ``shrink_zones()`` (1978-2042): ``shrink_zone()`` for every zone of the zonelist.
* ``do_try_to_free_pages()`` (2085-2178): ``do { shrink_zones(); if (nr_reclaimed >=
  nr_to_reclaim) goto out; } while (--sc->priority >= 0)`` from DEF_PRIORITY.

In ``memcglab check`` there are no pages: ``shrink_lruvec()`` is the *claim* of the group by
this reclaimer (what the invariants are about), and the priority loop runs through the
priorities the configuration puts in play, as if the reclaim target were never met.

The pages (simulator only), reading and writing the machine's page-level data
(``KernelContext.mm``) between two operations:

* ``shrink_lruvec()`` (1830-1886) with ``get_scan_count()`` (1638-1750), ``shrink_list()``
  (1610-1620), ``shrink_inactive_list()`` (1263-1369) with ``shrink_page_list()`` (674-965)
  and ``page_check_references()`` (616-669), ``shrink_active_list()`` (1429-1526),
  ``inactive_list_is_low()`` (1549-1608). Each SWAP_CLUSTER_MAX batch ends with one
  ``SHRINK_LIST`` operation that counts it (an interleaving point; the engine charges the
  time of the pages scanned).
* ``try_to_free_pages()`` (2275-2311), ``try_to_free_mem_cgroup_pages()`` (2354-2395),
  ``wakeup_kswapd()`` (3010-3031),
  ``mem_cgroup_shrink_node_zone()`` (2315-2352).
* ``kswapd()`` (2914-3005) and ``balance_pgdat()`` (2546-2844): passes from DEF_PRIORITY
  down, each ended once it reclaimed SWAP_CLUSTER_MAX pages, until every zone is above its
  high watermark, with v1 soft-limit reclaim first
  (:func:`memcglab.kernel.v3_7.memcontrol.mem_cgroup_soft_limit_reclaim`); ``all_unreclaimable``
  zones and ``age_active_anon()``.

Not modelled: writeback, dirty and mapped file pages, slab shrinking, lumpy reclaim and
compaction (order 0 only), the congestion naps (``wait_iff_congested``,
``congestion_wait``, ``throttle_direct_reclaim``).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from memcglab.kernel.cgroup import cgroup_mkdir, cgroup_rmdir
from memcglab.kernel.context import (
    NO_TARGET,
    KernelContext,
    ReclaimCookie,
    ScanControl,
    global_reclaim,
)
from memcglab.kernel.iterator import MemcgIter
from memcglab.kernel.v3_7.memcontrol import (
    mem_cgroup_inactive_anon_is_low,
    mem_cgroup_inactive_file_is_low,
    mem_cgroup_soft_limit_reclaim,
    mem_cgroup_uncharge_pages,
)
from memcglab.kernel.v3_7.page_alloc import free_hot_cold_page_list
from memcglab.kernel.v3_7.rmap import page_referenced
from memcglab.kernel.vmscan import ALL_PRIORITIES, AdminAction, ReclaimerSpec, run_admin
from memcglab.model.constants import (
    DEF_PRIORITY,
    LRU_ACTIVE,
    LRU_ACTIVE_ANON,
    LRU_ACTIVE_FILE,
    LRU_INACTIVE_ANON,
    LRU_INACTIVE_FILE,
    SWAP_CLUSTER_MAX,
)
from memcglab.model.layout import IterSlots
from memcglab.runtime.ops import Kind, Op

if TYPE_CHECKING:
    from memcglab.sim.machine import SimMachine
    from memcglab.sim.pages import Lruvec

Thread = Generator[Op, Any, None]
_new_op = tuple.__new__  # builds an Op without the NamedTuple constructor's extra frame
_CLAIM = Kind.CLAIM
_SHRINK = Kind.SHRINK_LIST

# enum page_references (vmscan.c:609-614)
PAGEREF_RECLAIM, PAGEREF_RECLAIM_CLEAN, PAGEREF_KEEP, PAGEREF_ACTIVATE = range(4)
VM_SWAPPINESS = 60  # mm/vmscan.c: int vm_swappiness = 60


def is_file_lru(lru: int) -> bool:
    return lru >= LRU_INACTIVE_FILE


def is_active_lru(lru: int) -> bool:
    return lru in (LRU_ACTIVE_ANON, LRU_ACTIVE_FILE)


# -- the page side of a shrink (memcglab run) ------------------------------------------------


def page_check_references(mm: SimMachine, page: int, sc: ScanControl) -> int:
    """vmscan.c:616-669: what ``shrink_page_list()`` does with an inactive page.

    A young pte activates an anon page (``PageSwapBacked``); an unmapped page-cache page is
    reclaimed even if PG_referenced (``PAGEREF_RECLAIM_CLEAN``: it is clean here). Mapped
    file pages and VM_EXEC / VM_LOCKED vmas are not modelled."""
    pages = mm.pages
    referenced_ptes = page_referenced(mm, page)
    referenced_page = pages.ref[page]  # TestClearPageReferenced()
    pages.ref[page] = 0
    if referenced_ptes:
        if pages.anon[page]:
            return PAGEREF_ACTIVATE
        # All mapped pages start out with page table references from the instantiating
        # fault, so we need to look twice if a mapped file page is used more than once.
        pages.ref[page] = 1
        if referenced_page or referenced_ptes > 1:
            return PAGEREF_ACTIVATE
        return PAGEREF_KEEP
    # Reclaim if clean, defer dirty pages to writeback.
    if referenced_page and not pages.anon[page]:
        return PAGEREF_RECLAIM_CLEAN
    return PAGEREF_RECLAIM


def shrink_page_list(mm: SimMachine, memcg: int, page_list: list[int], sc: ScanControl
                     ) -> tuple[int, list[tuple[int, int]]]:
    """vmscan.c:674-965 for clean pages: returns the number reclaimed and the pages to put
    back, each with the list it goes to (``SetPageActive`` for ``PAGEREF_ACTIVATE``).

    A page to reclaim leaves its mapping and is uncharged (``__remove_mapping()``; an anon
    page is swapped out at once: ``add_to_swap()``, ``try_to_unmap()`` and ``pageout()``
    are one step, without writeback) and freed (``free_hot_cold_page_list()``). Without
    swap, ``add_to_swap()`` fails and the anon page is activated. The pages are all
    ``memcg``'s (they come off one lruvec)."""
    anon_of = mm.pages.anon
    swap = mm.swap
    ret_pages: list[tuple[int, int]] = []
    free_pages: list[int] = []
    sc.nr_scanned += len(page_list)
    for page in page_list:
        references = page_check_references(mm, page, sc)
        anon = anon_of[page]
        if references == PAGEREF_ACTIVATE or (anon and not swap):  # activate_locked
            ret_pages.append((page, LRU_ACTIVE_ANON if anon else LRU_ACTIVE_FILE))
        elif references == PAGEREF_KEEP:  # keep_locked
            ret_pages.append((page, LRU_INACTIVE_ANON if anon else LRU_INACTIVE_FILE))
        else:
            free_pages.append(page)  # free_it
    mem_cgroup_uncharge_pages(mm, memcg, len(free_pages))  # mem_cgroup_uncharge_end()
    free_hot_cold_page_list(mm, free_pages)
    return len(free_pages), ret_pages


def putback_inactive_pages(mm: SimMachine, lruvec: Lruvec, page_list: list[tuple[int, int]]
                           ) -> None:
    """vmscan.c:1204-1256: the pages ``shrink_page_list()`` kept go back to the head of the
    list their flags say; one that goes to an active list counts as rotated (1232-1236)."""
    rotated = lruvec.recent_rotated
    for page, lru in page_list:
        mm.pages.putback(page, lru)
        if is_active_lru(lru):
            rotated[is_file_lru(lru)] += 1


def shrink_inactive_list(mm: SimMachine, nr_to_scan: int, memcg: int, zone: int,
                         lruvec: Lruvec, sc: ScanControl, lru: int) -> tuple[int, int]:
    """vmscan.c:1263-1369: isolate up to ``nr_to_scan`` pages from the tail of an inactive
    list, ``shrink_page_list()`` them, count them in ``reclaim_stat->recent_scanned``
    (1317), put the rest back. Returns (pages taken, pages reclaimed)."""
    page_list = mm.pages.isolate(memcg, zone, lru, nr_to_scan)  # isolate_lru_pages()
    nr_taken = len(page_list)
    if global_reclaim(sc):
        mm.pages_scanned[zone] += nr_taken
    if nr_taken == 0:
        return 0, 0
    nr_reclaimed, ret_pages = shrink_page_list(mm, memcg, page_list, sc)
    lruvec.recent_scanned[is_file_lru(lru)] += nr_taken
    putback_inactive_pages(mm, lruvec, ret_pages)
    return nr_taken, nr_reclaimed


def shrink_active_list(mm: SimMachine, nr_to_scan: int, memcg: int, zone: int,
                       lruvec: Lruvec, sc: ScanControl, lru: int) -> int:
    """vmscan.c:1429-1526: isolate up to ``nr_to_scan`` pages from the tail of an active
    list and move them to the head of the inactive one (``ClearPageActive``, 1504).
    ``page_referenced()`` (1486) tests and clears the young bits of the ptes that map a
    page; PG_referenced is left as it is, so a page that was used before it was deactivated
    is activated again by its next ``mark_page_accessed()``. Referenced executable file
    pages stay active (1498-1501): not modelled (no mapped file pages). The pages taken
    count in ``reclaim_stat->recent_scanned`` (1461), the referenced ones in
    ``recent_rotated`` (1488, 1518: "even though only some of them are actually
    re-activated"). Returns the pages taken."""
    pages = mm.pages
    l_hold = pages.isolate(memcg, zone, lru, nr_to_scan)  # isolate_lru_pages()
    nr_taken = len(l_hold)
    if global_reclaim(sc):
        mm.pages_scanned[zone] += nr_taken
    file = is_file_lru(lru)
    lruvec.recent_scanned[file] += nr_taken
    nr_rotated = 0
    for page in l_hold:
        if page_referenced(mm, page):
            nr_rotated += 1
        pages.putback(page, lru - LRU_ACTIVE)  # move_active_pages_to_lru()
    lruvec.recent_rotated[file] += nr_rotated
    return len(l_hold)


def inactive_anon_is_low(mm: SimMachine, lruvec: Lruvec) -> bool:
    """vmscan.c:1549-1562: anon deactivation is pointless without swap
    (``total_swap_pages``)."""
    if not mm.swap:
        return False
    return mem_cgroup_inactive_anon_is_low(lruvec)


def inactive_file_is_low(lruvec: Lruvec) -> bool:
    """vmscan.c:1594-1600."""
    return mem_cgroup_inactive_file_is_low(lruvec)


def inactive_list_is_low(mm: SimMachine, lruvec: Lruvec, lru: int) -> bool:
    """vmscan.c:1602-1608."""
    if is_file_lru(lru):
        return inactive_file_is_low(lruvec)
    return inactive_anon_is_low(mm, lruvec)


def shrink_list(mm: SimMachine, lru: int, nr_to_scan: int, memcg: int, zone: int,
                lruvec: Lruvec, sc: ScanControl) -> tuple[int, int]:
    """vmscan.c:1610-1620: an active list is shrunk only while its inactive list is low.
    Returns (pages taken, pages reclaimed); the C returns the second only."""
    if is_active_lru(lru):
        if inactive_list_is_low(mm, lruvec, lru):
            return shrink_active_list(mm, nr_to_scan, memcg, zone, lruvec, sc, lru), 0
        return 0, 0
    return shrink_inactive_list(mm, nr_to_scan, memcg, zone, lruvec, sc, lru)


def vmscan_swappiness(sc: ScanControl) -> int:
    """vmscan.c:1622-1627: ``vm_swappiness`` for global reclaim, the target memcg's
    ``memory.swappiness`` for limit reclaim; both are 60 here (a memcg inherits its
    parent's at creation, the root's is ``vm_swappiness``)."""
    return VM_SWAPPINESS


def get_scan_count(mm: SimMachine, lruvec: Lruvec, zone: int, sc: ScanControl
                   ) -> list[int]:
    """vmscan.c:1638-1750: how many pages of each list to scan at ``sc->priority``.

    ``lru_size >> priority``, lifted from 0 to SWAP_CLUSTER_MAX by ``force_scan`` (limit
    reclaim; kswapd on an ``all_unreclaimable`` zone: 1661-1664), then scaled by the list type's
    ``fraction / denominator``:

    * no swap (``!sc->may_swap || nr_swap_pages <= 0``): anon 0, file 1 (1667-1672);
    * global reclaim with ``file + free <= high_wmark_pages(zone)``: anon 1, file 0
      (1680-1688);
    * otherwise anon ``anon_prio = swappiness``, file ``file_prio = 200 - anon_prio``, each
      times ``(recent_scanned + 1) / (recent_rotated + 1)`` of the lruvec's
      ``reclaim_stat``, which is halved when ``recent_scanned`` is above a quarter of the
      list (1696-1735); ``denominator = ap + fp + 1``.

    At priority 0 with swap the lists are scanned whole, unscaled (1742: ``if
    (sc->priority || noswap || !vmscan_swappiness(sc))``). Swap has no size here: it is on
    or off."""
    sizes = lruvec.sizes
    force_scan = not global_reclaim(sc) or (sc.is_kswapd and mm.all_unreclaimable[zone])
    noswap = False
    if not sc.may_swap or not mm.swap:
        # If we have no swap space, do not bother scanning anon pages.
        noswap = True
        fraction = (0, 1)
        denominator = 1
    else:
        anon = sizes[LRU_ACTIVE_ANON] + sizes[LRU_INACTIVE_ANON]
        file = sizes[LRU_ACTIVE_FILE] + sizes[LRU_INACTIVE_FILE]
        if global_reclaim(sc) and file + mm.pages.free_pages(zone) <= mm.zone_specs[zone].high:
            # If we have very few page cache pages, force-scan anon pages.
            fraction = (1, 0)
            denominator = 1
        else:
            anon_prio = vmscan_swappiness(sc)
            file_prio = 200 - anon_prio
            scanned, rotated = lruvec.recent_scanned, lruvec.recent_rotated
            if scanned[0] > anon // 4:
                scanned[0] //= 2
                rotated[0] //= 2
            if scanned[1] > file // 4:
                scanned[1] //= 2
                rotated[1] //= 2
            # The amount of pressure on anon vs file pages is inversely proportional to the
            # fraction of recently scanned pages on each list that were recently referenced
            # and in active use.
            ap = anon_prio * (scanned[0] + 1) // (rotated[0] + 1)
            fp = file_prio * (scanned[1] + 1) // (rotated[1] + 1)
            fraction = (ap, fp)
            denominator = ap + fp + 1
    scale = bool(sc.priority) or noswap or not vmscan_swappiness(sc)
    nr = []
    for lru in range(4):  # for_each_evictable_lru()
        scan = sizes[lru]
        if scale:
            scan >>= sc.priority
            if not scan and force_scan:
                scan = SWAP_CLUSTER_MAX
            scan = scan * fraction[lru >= LRU_INACTIVE_FILE] // denominator
        nr.append(scan)
    return nr


def _counted(memcg: int, zone: int, lru: int, taken: int, reclaimed: int) -> Op:
    """The operation that ends one batch of a shrink: counts it (``SHRINK_LIST``)."""
    return _new_op(Op, (_SHRINK, (memcg, zone, lru), (taken, reclaimed), ""))


# -- the walk ----------------------------------------------------------------------------------


def shrink_lruvec(k: KernelContext, it: IterSlots, memcg: int, reclaim: ReclaimCookie,
                  sc: ScanControl) -> Thread:
    """``shrink_lruvec(mem_cgroup_zone_lruvec(zone, memcg), sc)``.

    ``it`` is the iterator the walk used; only the monitor needs it (the claim)."""
    yield _new_op(Op, (_CLAIM, it, (reclaim.generation, memcg, it.shared_walk),
                       f"shrink_lruvec({k.name(memcg)}) [gen {reclaim.generation}]"
                       if k.notes else ""))
    if not k.simulating:
        return
    mm: SimMachine = k.mm
    zone = reclaim.zone
    lruvec = mm.pages.lruvecs.get((memcg, zone))
    if lruvec is None:
        # No page of this memcg was ever on this zone's lists. Global reclaim scans nothing
        # there (size >> priority is 0 without force_scan; kswapd's force_scan of an
        # all_unreclaimable zone would only scan empty lists): skip it, not to make a lruvec
        # for every group walked. Limit reclaim's force_scan still goes through the lists.
        if global_reclaim(sc):
            return
        lruvec = mm.pages.lruvec(memcg, zone)
    nr = get_scan_count(mm, lruvec, zone, sc)
    nr_reclaimed = 0
    while nr[LRU_INACTIVE_ANON] or nr[LRU_ACTIVE_FILE] or nr[LRU_INACTIVE_FILE]:
        for lru in range(4):  # for_each_evictable_lru()
            if nr[lru]:
                nr_to_scan = min(nr[lru], SWAP_CLUSTER_MAX)
                nr[lru] -= nr_to_scan
                taken, reclaimed = shrink_list(mm, lru, nr_to_scan, memcg, zone, lruvec, sc)
                yield _counted(memcg, zone, lru, taken, reclaimed)
                nr_reclaimed += reclaimed
        # On large memory systems, scan >> priority can become really large. This is fine
        # for the starting priority; we want to put equal scanning pressure on each zone.
        # However, if the VM has a harder time of freeing pages, with multiple processes
        # reclaiming pages, the total freeing target can get unreasonably large.
        if nr_reclaimed >= sc.nr_to_reclaim and sc.priority < DEF_PRIORITY:
            break
    sc.nr_reclaimed += nr_reclaimed
    # Even if we did not try to evict anon pages at all, we want to rebalance the anon lru
    # active/inactive ratio.
    if inactive_anon_is_low(mm, lruvec):
        taken = shrink_active_list(mm, SWAP_CLUSTER_MAX, memcg, zone, lruvec, sc,
                                   LRU_ACTIVE_ANON)
        yield _counted(memcg, zone, LRU_ACTIVE_ANON, taken, 0)


def shrink_zone(k: KernelContext, variant: MemcgIter, zone: int, sc: ScanControl) -> Thread:
    callers = variant.caller_era()
    if callers != "3.7":
        # A later era's walk (memcglab run of a v3.9-v5.4 variant) on v3.7's page reclaim:
        # v3.9+ limit reclaim walks until nr_to_reclaim (kernel.v3_10.vmscan), v4.8+ walks
        # once per node (kernel.v4_8.vmscan; here once per zone of it, on that zone's lists).
        yield from _LATER_WALKS[callers](k, variant, zone, sc)
        return
    root = sc.target_mem_cgroup
    it = k.iter(k.root_mem_cgroup if root is None else root, zone, sc.priority)
    reclaim = ReclaimCookie(zone, sc.priority)
    yield Op(Kind.WALK_START, None, None, f"shrink_zone(zone {zone}, priority {sc.priority})")
    memcg = yield from variant.mem_cgroup_iter(root, None, reclaim)
    while memcg is not None:
        yield from shrink_lruvec(k, it, memcg, reclaim, sc)
        # Limit reclaim has historically picked one memcg and scanned it with decreasing
        # priority levels until nr_to_reclaim had been reclaimed. This priority cycle is
        # thus over after a single memcg.
        if not global_reclaim(sc):
            yield from variant.mem_cgroup_iter_break(root, memcg)
            break
        memcg = yield from variant.mem_cgroup_iter(root, memcg, reclaim)


def _v3_10_walk(k: KernelContext, variant: MemcgIter, zone: int, sc: ScanControl) -> Thread:
    from memcglab.kernel.v3_10.vmscan import shrink_zone as shrink_zone_3_10  # later era

    yield from shrink_zone_3_10(k, variant, zone, sc)


def _v4_8_walk(k: KernelContext, variant: MemcgIter, zone: int, sc: ScanControl) -> Thread:
    from memcglab.kernel.v4_8.vmscan import shrink_node  # later era

    yield from shrink_node(k, variant, k.layout.zones[zone].nid, sc, zone)


_LATER_WALKS = {"3.10": _v3_10_walk, "4.8": _v4_8_walk}


def shrink_zones(k: KernelContext, variant: MemcgIter, zones: tuple[int, ...],
                 sc: ScanControl) -> Thread:
    """Global reclaim leaves a zone reclaim gave up on to kswapd below DEF_PRIORITY
    (vmscan.c:2005-2007). Soft-limit reclaim from here (global reclaim, vmscan.c:2026-2036)
    is not modelled: only kswapd runs it."""
    for zone in zones:
        if (k.simulating and global_reclaim(sc) and k.mm.all_unreclaimable[zone]
                and sc.priority != DEF_PRIORITY):
            continue  # Let kswapd poll it
        yield from shrink_zone(k, variant, zone, sc)


def do_try_to_free_pages(k: KernelContext, variant: MemcgIter, zones: tuple[int, ...],
                         sc: ScanControl, priorities: tuple[int, ...] = ALL_PRIORITIES
                         ) -> Thread:
    """The priority loop. Returns nothing: the callers read ``sc.nr_reclaimed`` (v3.7 also
    reports progress when global reclaim found nothing but some zone is still reclaimable,
    vmscan.c:2170-2175; the model's direct reclaim counts only pages reclaimed)."""
    for priority in priorities:  # from DEF_PRIORITY downwards
        sc.priority = priority
        yield from shrink_zones(k, variant, zones, sc)
        if sc.nr_reclaimed >= sc.nr_to_reclaim:
            break


def reclaimer(k: KernelContext, variant: MemcgIter, spec: ReclaimerSpec) -> Thread:
    """One explorer CPU: ``spec.walks`` reclaim calls one after another."""
    for _ in range(spec.walks):
        sc = ScanControl(spec.target, spec.priorities[0], NO_TARGET)
        yield from do_try_to_free_pages(k, variant, spec.zones, sc, spec.priorities)


def admin(k: KernelContext, actions: tuple[AdminAction, ...]) -> Thread:
    """A CPU running mkdir / rmdir in cgroupfs while reclaim runs, one after the other.

    An rmdir is every step the removing task takes in v3.7, through ``free_css_id()`` and
    ``call_rcu()`` (:func:`memcglab.kernel.cgroup.cgroup_rmdir`), so the next action starts
    only after them: as in a shell running ``rmdir A; mkdir E``, where ``rmdir`` returns
    after ``cgroup_diput()`` has run."""
    yield from run_admin(k, actions, cgroup_mkdir, cgroup_rmdir)


# -- simulation entry points ------------------------------------------------------------------


def _reclaim_call(k: KernelContext, variant: MemcgIter, kind: str, target: int | None,
                  zones: tuple[int, ...], may_swap: bool) -> Generator[Op, Any, int]:
    """One counted do_try_to_free_pages() call with ``nr_to_reclaim = SWAP_CLUSTER_MAX``."""
    sc = ScanControl(target, DEF_PRIORITY, SWAP_CLUSTER_MAX, may_swap)
    yield Op(Kind.EVENT, "reclaim_call", (kind, SWAP_CLUSTER_MAX))
    yield from do_try_to_free_pages(k, variant, zones, sc)
    yield Op(Kind.EVENT, "reclaim_done", (kind, sc.nr_reclaimed, sc.nr_scanned))
    return sc.nr_reclaimed


def try_to_free_pages(k: KernelContext, variant: MemcgIter, zones: tuple[int, ...],
                      may_swap: bool) -> Generator[Op, Any, int]:
    """Direct reclaim (global): ``nr_to_reclaim = SWAP_CLUSTER_MAX``."""
    return _reclaim_call(k, variant, "direct", None, zones, may_swap)


def try_to_free_mem_cgroup_pages(k: KernelContext, variant: MemcgIter, memcg: int,
                                 zones: tuple[int, ...], may_swap: bool
                                 ) -> Generator[Op, Any, int]:
    """Limit reclaim of ``memcg``: ``nr_to_reclaim = SWAP_CLUSTER_MAX``, all zones. v3.7
    starts at the node ``mem_cgroup_select_victim_node()`` picks round-robin
    (vmscan.c:2382); the model takes the charging process's zonelist."""
    return _reclaim_call(k, variant, "limit", memcg, zones, may_swap)


def mem_cgroup_shrink_node_zone(k: KernelContext, it: IterSlots, memcg: int,
                                reclaim: ReclaimCookie, may_swap: bool
                                ) -> Generator[Op, Any, int]:
    """vmscan.c:2315-2352: ``shrink_lruvec()`` of ``memcg`` on the cookie's zone at priority
    0, ``nr_to_reclaim = SWAP_CLUSTER_MAX``, the memcg as target (soft-limit reclaim).
    Returns the pages reclaimed."""
    sc = ScanControl(memcg, 0, SWAP_CLUSTER_MAX, may_swap)
    yield from shrink_lruvec(k, it, memcg, reclaim, sc)
    return sc.nr_reclaimed


KSWAPD_ZONE_BALANCE_GAP_RATIO = 100  # include/linux/swap.h


def zone_reclaimable_pages(mm: SimMachine, zone: int) -> int:
    """vmscan.c ``zone_reclaimable_pages()``: the zone's file pages, and its anon pages with
    swap, over every memcg's lruvec."""
    nr = 0
    for (_, z), vec in mm.pages.lruvecs.items():
        if z == zone:
            s = vec.sizes
            nr += s[LRU_INACTIVE_FILE] + s[LRU_ACTIVE_FILE]
            if mm.swap:
                nr += s[LRU_INACTIVE_ANON] + s[LRU_ACTIVE_ANON]
    return nr


def zone_reclaimable(mm: SimMachine, zone: int) -> bool:
    """vmscan.c:2044-2047: fewer pages scanned since a page was last freed to the zone than
    six times its reclaimable pages."""
    return mm.pages_scanned[zone] < zone_reclaimable_pages(mm, zone) * 6


def zone_balanced(mm: SimMachine, zone: int, balance_gap: int) -> bool:
    """vmscan.c:2417-2428 for order 0: ``zone_watermark_ok_safe(zone, 0, high_wmark_pages(zone)
    + balance_gap, ...)``, which holds when free pages are *above* the mark
    (``__zone_watermark_ok()``: ``if (free_pages <= min + lowmem_reserve) return false``,
    page_alloc.c:1629; lowmem_reserve is not modelled)."""
    return mm.pages.free_pages(zone) > mm.zone_specs[zone].high + balance_gap


def age_active_anon(k: KernelContext, variant: MemcgIter, zone: int, sc: ScanControl
                    ) -> Thread:
    """vmscan.c:2398-2415: with swap, a cookie-less walk over every memcg that refills each
    lruvec's inactive anon list where it is low."""
    mm: SimMachine = k.mm
    if not mm.swap:  # !total_swap_pages
        return
    memcg = yield from variant.mem_cgroup_iter(None, None, None)
    while memcg is not None:
        lruvec = mm.pages.lruvecs.get((memcg, zone))
        if lruvec is not None and inactive_anon_is_low(mm, lruvec):
            taken = shrink_active_list(mm, SWAP_CLUSTER_MAX, memcg, zone, lruvec, sc,
                                       LRU_ACTIVE_ANON)
            yield _counted(memcg, zone, LRU_ACTIVE_ANON, taken, 0)
        memcg = yield from variant.mem_cgroup_iter(None, memcg, None)


def balance_pgdat(k: KernelContext, variant: MemcgIter, zones: tuple[int, ...],
                  sc: ScanControl, soft_limits: bool) -> Thread:
    """vmscan.c:2546-2844 for order 0: reclaim the node ``zones`` (lowest first) until every
    zone has more free pages than its high watermark.

    Each pass (``loop_again``, 2572-2576) starts at DEF_PRIORITY with ``sc.nr_reclaimed =
    0``. At each priority: the highest zone that is not balanced is ``end_zone`` (2590-2626;
    none: done); then for every zone 0..end_zone, soft-limit reclaim first (2659-2664),
    ``shrink_zone()`` if the zone is not above high + ``balance_gap`` (2675-2704), and the
    zone counts as unbalanced if it is not above high (2721-2722). All balanced: done
    (2755). Otherwise the pass ends as soon as it has reclaimed SWAP_CLUSTER_MAX pages
    (2774-2775: "so kswapd doesn't build up large priorities"), or after priority 0 (2776);
    a node still unbalanced goes back to ``loop_again`` (2784-2806).

    A zone that reclaim gave up on (``all_unreclaimable``: more than six times its
    reclaimable pages scanned with none freed since, 2703) is skipped below DEF_PRIORITY
    (2596, 2651) and does not keep the node unbalanced (2715-2719). Not modelled:
    slab shrinking, the congestion nap, the high-order checks, ``pfmemalloc_wait``."""
    mm: SimMachine = k.mm
    while True:  # loop_again:
        sc.priority = DEF_PRIORITY
        sc.nr_reclaimed = 0
        while True:  # do { ... } while (--sc.priority >= 0)
            all_zones_ok = True
            # Scan in the highmem->dma direction for the highest zone which needs scanning.
            end_zone = -1
            for i in range(len(zones) - 1, -1, -1):
                zone = zones[i]
                if mm.all_unreclaimable[zone] and sc.priority != DEF_PRIORITY:
                    continue
                # Do some background aging of the anon list, to give pages a chance to be
                # referenced before reclaiming.
                yield from age_active_anon(k, variant, zone, sc)
                if not zone_balanced(mm, zone, 0):
                    end_zone = i
                    break
            if end_zone < 0:
                break  # goto out (all_zones_ok)
            # Now scan the zone in the dma->highmem direction, stopping at the last zone
            # which needs scanning.
            i = 0
            while i <= end_zone:
                zone = zones[i]
                i += 1
                if mm.all_unreclaimable[zone] and sc.priority != DEF_PRIORITY:
                    continue
                sc.nr_scanned = 0
                # Call soft limit reclaim before calling shrink_zone.
                if soft_limits:
                    sc.nr_reclaimed += yield from mem_cgroup_soft_limit_reclaim(
                        k, variant, zone, sc.may_swap)
                # We put equal pressure on every zone, unless one zone has way too many
                # pages free already.
                spec = mm.zone_specs[zone]
                balance_gap = min(spec.low, (spec.pages + KSWAPD_ZONE_BALANCE_GAP_RATIO - 1)
                                  // KSWAPD_ZONE_BALANCE_GAP_RATIO)
                if not zone_balanced(mm, zone, balance_gap):
                    yield from shrink_zone(k, variant, zone, sc)
                    if not zone_reclaimable(mm, zone):
                        mm.all_unreclaimable[zone] = True
                if mm.all_unreclaimable[zone]:
                    if end_zone and end_zone == i - 1:
                        end_zone -= 1
                    continue
                if not zone_balanced(mm, zone, 0):
                    all_zones_ok = False
            if all_zones_ok:
                break  # kswapd: all done
            # We do this so kswapd doesn't build up large priorities for example when it is
            # freeing in parallel with allocators.
            if sc.nr_reclaimed >= SWAP_CLUSTER_MAX:
                break
            sc.priority -= 1
            if sc.priority < 0:
                break
        # out:
        if all_zones_ok:
            return
        # goto loop_again


def wakeup_kswapd(mm: SimMachine, zone: int) -> None:
    """vmscan.c:3010-3031: wake the zone's node's kswapd unless the zone is above its low
    watermark. (v3.7 also returns when kswapd is not asleep on its wait queue; the model's
    wake-up flag then just makes kswapd's next wait return at once, and ``balance_pgdat()``
    finds the node balanced or works on.)"""
    spec = mm.zone_specs[zone]
    if mm.pages.free_pages(zone) > spec.low:  # zone_watermark_ok_safe(zone, order, low)
        return
    mm.kswapd_wake[spec.nid] = True


def kswapd(k: KernelContext, variant: MemcgIter, nid: int, zones: tuple[int, ...],
           may_swap: bool, soft_limits: bool) -> Thread:
    """``kswapd()`` of node ``nid`` (whose zones are ``zones``, lowest first): sleep until
    woken, then ``balance_pgdat()``. ``soft_limits``: some group has a soft limit (else the
    soft-limit trees are empty and soft-limit reclaim is skipped)."""
    while True:
        yield Op(Kind.KSWAPD_WAIT, nid)
        yield Op(Kind.EVENT, "reclaim_call", ("kswapd", 0))
        sc = ScanControl(None, DEF_PRIORITY, NO_TARGET, may_swap, is_kswapd=True)
        yield from balance_pgdat(k, variant, zones, sc, soft_limits)
        yield Op(Kind.EVENT, "reclaim_done", ("kswapd", sc.nr_reclaimed, sc.nr_scanned))

