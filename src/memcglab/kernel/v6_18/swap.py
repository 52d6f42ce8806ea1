"""Page aging of Linux v6.18, mm/swap.c: ``folio_mark_accessed()``, ``folio_add_lru()`` and
the reclaim cost that balances anon against file (``lru_note_cost``).

Read in a v6.18.19 tree (6952350/linux-6.18.y @ f3fce0151d48; docs/research/v6-reclaim.md
sections 3.10 and 4.1, [SW] line numbers there). Classic two-list LRU. The per-CPU LRU
batches (``folio_batch``) are not modelled: a folio lands on its list at once.
"""

from __future__ import annotations

from memcglab.kernel.context import KernelContext
from memcglab.kernel.v6_18.workingset import workingset_activation
from memcglab.model.constants import (
    LRU_ACTIVE_ANON,
    LRU_ACTIVE_FILE,
    LRU_INACTIVE_ANON,
    LRU_INACTIVE_FILE,
    SWAP_CLUSTER_MAX,
)


def folio_mark_accessed(k: KernelContext, page: int) -> None:
    """[SW]:455-488: inactive,unreferenced -> inactive,referenced; inactive,referenced ->
    active,unreferenced (and workingset_activation); active,unreferenced ->
    active,referenced."""
    pages = k.mm.pages
    if not pages.ref[page]:
        pages.ref[page] = 1
    elif pages.lru[page] in (LRU_INACTIVE_ANON, LRU_INACTIVE_FILE):
        # folio_activate(): on the LRU, to the head of the active list
        pages.move(page, pages.lru[page] + 1)
        pages.ref[page] = 0
        workingset_activation(k, page)


def folio_add_lru(k: KernelContext, anon: bool, active: bool) -> int:
    """[SW]:500-512: the list a new folio goes to: inactive unless PG_active was set
    before (a refault that workingset_refault() activated). New anonymous folios start
    inactive too (classic LRU since v5.9)."""
    if anon:
        return LRU_ACTIVE_ANON if active else LRU_INACTIVE_ANON
    return LRU_ACTIVE_FILE if active else LRU_INACTIVE_FILE


def lru_note_cost(k: KernelContext, memcg: int, pgdat: int, file: bool, nr_io: int,
                  nr_rotated: int) -> None:
    """``lru_note_cost_unlock_irq()`` [SW]:240-292: the cost of reclaiming one type (IO is
    SWAP_CLUSTER_MAX times a rotation) is added to this lruvec and every parent lruvec;
    at each level both costs halve once they pass a quarter of the level's LRU pages."""
    cost = nr_io * SWAP_CLUSTER_MAX + nr_rotated
    if not cost:
        return
    vec = k.mm.pages.lruvec(memcg, pgdat)
    while vec is not None:
        if file:
            vec.file_cost += cost
        else:
            vec.anon_cost += cost
        # Decay previous events. Because workloads change over time (and to avoid
        # overflow) we keep these statistics as a floating average, which ends up weighing
        # recent refaults more than old ones.
        lrusize = sum(vec.hsizes)
        if vec.file_cost + vec.anon_cost > lrusize // 4:
            vec.file_cost //= 2
            vec.anon_cost //= 2
        vec = vec.parent
