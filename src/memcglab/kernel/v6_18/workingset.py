"""Workingset detection of Linux v6.18, mm/workingset.c: shadow entries of evicted pages
and the refault distance that decides whether a refaulting page is activated.

Read in a v6.18.19 tree (6952350/linux-6.18.y @ f3fce0151d48; docs/research/v6-reclaim.md
section 4.3, [WS] line numbers there). Per lruvec (memcg and node) the ``nonresident_age``
counter ages with evictions and activations, in the lruvec and all its ancestors. An
evicted page leaves a shadow: the memcg of the lruvec it was evicted from (the reclaim
target's: ``workingset_eviction(folio, target_memcg)``), the node, the age then and its
workingset bit. On a refault the distance (age now minus age then, in the eviction
lruvec) is compared with that lruvec's workingset size (hierarchical statistics, read
exact here). ``bucket_order`` is 0 (machines this small need no buckets).
"""

from __future__ import annotations

from typing import NamedTuple

from memcglab.kernel.context import KernelContext
from memcglab.kernel.v6_18.memcontrol import mem_cgroup_get_nr_swap_pages
from memcglab.model.constants import (
    LRU_ACTIVE_ANON,
    LRU_ACTIVE_FILE,
    LRU_INACTIVE_ANON,
    LRU_INACTIVE_FILE,
)


class Shadow(NamedTuple):
    """``pack_shadow(memcgid, pgdat, eviction, workingset)``."""

    memcgid: int
    pgdat: int
    eviction: int
    workingset: bool


def workingset_age_nonresident(k: KernelContext, memcg: int, pgdat: int, nr_pages: int
                               ) -> None:
    """[WS]:355-371: age the lruvec and its ancestors ("the virtual inactive lists of all
    its parents ... age as well")."""
    vec = k.mm.pages.lruvec(memcg, pgdat)
    while vec is not None:
        vec.nonresident_age += nr_pages
        vec = vec.parent


def workingset_eviction(k: KernelContext, page: int, target_memcg: int | None) -> Shadow:
    """[WS]:381-404: the shadow of a folio evicted by reclaim of ``target_memcg``; the age
    moves by ``folio_nr_pages`` ([WS]:401)."""
    pages = k.mm.pages
    pgdat = pages.vec_of[pages.zone_of[page]]
    memcg = k.root_mem_cgroup if target_memcg is None else target_memcg
    eviction = k.mm.pages.lruvec(memcg, pgdat).nonresident_age
    workingset_age_nonresident(k, memcg, pgdat, pages.nr[page])
    return Shadow(memcg, pgdat, eviction, bool(pages.workingset[page]))


def workingset_test_recent(k: KernelContext, shadow: Shadow, file: bool) -> bool:
    """[WS]:418-523: is the refault distance within the eviction lruvec's workingset?"""
    eviction_memcg = shadow.memcgid
    # The memcg the page was evicted from may be gone: its id is removed when it goes
    # offline (mem_cgroup_id_remove), mem_cgroup_from_id() finds nothing, no comparison.
    # (A swapped-out anon page's swap entry keeps its id: not modelled.)
    if not k.mm.group_online(eviction_memcg):
        return False
    vec = k.mm.pages.lruvec(eviction_memcg, shadow.pgdat)
    refault = vec.nonresident_age
    refault_distance = refault - shadow.eviction
    # Compare the distance to the existing workingset size. We don't act on pages that
    # couldn't stay resident even if all the memory was available to the workingset.
    workingset_size = vec.hsizes[LRU_ACTIVE_FILE]
    if not file:
        workingset_size += vec.hsizes[LRU_INACTIVE_FILE]
    if mem_cgroup_get_nr_swap_pages(k, eviction_memcg) > 0:
        workingset_size += vec.hsizes[LRU_ACTIVE_ANON]
        if file:
            workingset_size += vec.hsizes[LRU_INACTIVE_ANON]
    return bool(refault_distance <= workingset_size)


def workingset_refault(k: KernelContext, memcg: int, pgdat: int, file: bool,
                       shadow: Shadow, nr: int = 1) -> tuple[bool, bool]:
    """[WS]:534-583, before the new folio (of ``nr`` pages) is on a list: ``memcg`` is the
    new owner. Returns (activate: PG_active set, workingset: PG_workingset set)."""
    # swap.c and workingset.c call each other (as in C): imported here.
    from memcglab.kernel.v6_18.swap import lru_note_cost
    if not workingset_test_recent(k, shadow, file):
        return False, False
    workingset_age_nonresident(k, memcg, pgdat, nr)
    # mod_lruvec_state(lruvec, WORKINGSET_ACTIVATE_BASE + file, nr): hierarchical
    vec = k.mm.pages.lruvec(memcg, pgdat)
    x = vec
    while x is not None:
        x.activate[file] += nr
        x = x.parent
    if shadow.workingset:
        # lru_note_cost_refault(): the IO of a thrashing workingset folio
        lru_note_cost(k, memcg, pgdat, file, nr, 0)
    return True, shadow.workingset


def workingset_activation(k: KernelContext, page: int) -> None:
    """[WS]:589-597: a folio activated by folio_mark_accessed ages its own lruvec."""
    pages = k.mm.pages
    workingset_age_nonresident(k, pages.owner[page], pages.vec_of[pages.zone_of[page]],
                               pages.nr[page])
