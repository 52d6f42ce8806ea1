"""Pages on per-lruvec LRU lists, with the reference state that drives aging (v3.7).

Models, simplified and per page:

* ``struct lruvec`` per (memcg, zone): four evictable lists, inactive / active x anon / file
  (include/linux/mmzone.h). New file pages go to the inactive file list
  (``add_to_page_cache_lru``), new anon pages to the active anon list
  (``page_add_new_anon_rmap`` -> ``lru_cache_add_lru(page, LRU_ACTIVE_ANON)``).
* ``mark_page_accessed()`` (mm/swap.c v3.7) for page-cache reads: an unreferenced inactive
  page becomes referenced; a referenced inactive page is activated. Anon accesses set the
  pte young bit.
* ``shrink_inactive_list()`` with ``page_check_references()`` (mm/vmscan.c v3.7): an
  unmapped page-cache page is reclaimed even if PG_referenced (PAGEREF_RECLAIM_CLEAN); a
  young anon page is activated; others are reclaimed (anon only with swap: swapped out).
* ``shrink_active_list()``: pages leave the active tail for the inactive head, reference
  cleared (v3.7 keeps only referenced executable file pages active: not modelled).
* ``inactive_file_is_low()``: active > inactive; ``inactive_anon_is_low()``: ratio 1.

Lists are deques of (page, stamp) with lazy deletion: a page moved elsewhere leaves a stale
entry that scanning skips, so activation is O(1). Heads are the right end, tails the left.
"""

from __future__ import annotations

from collections import deque

from memcglab.model.constants import (
    LRU_ACTIVE_ANON,
    LRU_ACTIVE_FILE,
    LRU_INACTIVE_ANON,
    LRU_INACTIVE_FILE,
)

NONE = -1


class Lruvec:
    """``struct lruvec``: the four evictable lists and the per-lruvec numbers reclaim keeps
    (plain data: the kernel-mirror code of each era reads and writes them).

    ``anon_cost`` / ``file_cost`` are v6.x ``lruvec->anon_cost`` / ``file_cost``
    (lru_note_cost), ``nonresident_age`` is v6.x ``lruvec->nonresident_age`` (workingset),
    ``refaults`` the snapshot of ``WORKINGSET_ACTIVATE_ANON/FILE`` taken by
    snapshot_refaults() and ``activate`` those counters themselves, hierarchical (the
    lruvec's and its descendants', as the kernel's memcg stats read).

    ``sizes`` are this lruvec's own list lengths (``lruvec_lru_size``); ``hsizes`` the
    same summed over the memcg's subtree (``lruvec_page_state(NR_LRU_BASE + lru)``, the
    hierarchical memcg statistic), kept only when :class:`Pages` is given the parents."""

    __slots__ = ("activate", "anon_cost", "file_cost", "hsizes", "lists", "nonresident_age",
                 "parent", "refaults", "sizes")

    def __init__(self, parent: Lruvec | None = None) -> None:
        self.lists: list[deque[tuple[int, int]]] = [deque() for _ in range(4)]
        self.sizes = [0, 0, 0, 0]
        self.hsizes = [0, 0, 0, 0]
        self.parent = parent  # the parent memcg's lruvec on the same node
        self.anon_cost = 0
        self.file_cost = 0
        self.nonresident_age = 0
        self.refaults = [0, 0]  # [anon, file]
        self.activate = [0, 0]  # WORKINGSET_ACTIVATE_ANON / _FILE


class Pages:
    """All pages of the machine and their LRU placement. Mutable; simulation only."""

    def __init__(self, pages_per_zone: tuple[int, ...], ngroups: int,
                 lruvec_of_zone: tuple[int, ...] | None = None,
                 parents: tuple[int | None, ...] | None = None) -> None:
        total = sum(pages_per_zone)
        # Which lruvec a zone's pages go to, per memcg: the zone itself (v3.7: one lruvec per
        # memcg and zone) or its node (v4.8+: one lruvec per memcg and node).
        self.vec_of = lruvec_of_zone or tuple(range(len(pages_per_zone)))
        self.zone_of = [0] * total
        start = 0
        self.free: list[list[int]] = []
        for z, n in enumerate(pages_per_zone):
            self.zone_of[start:start + n] = [z] * n
            self.free.append(list(range(start + n - 1, start - 1, -1)))
            start += n
        self.owner = [NONE] * total  # memcg charged
        self.lru = [NONE] * total
        self.stamp = [0] * total
        self.ref = bytearray(total)  # PG_referenced
        self.young = bytearray(total)  # the young (accessed) bit of the page's PTE
        self.workingset = bytearray(total)  # PG_workingset (v3.15+)
        self.anon = bytearray(total)  # PageAnon / folio_test_anon
        self.mapping = [NONE] * total  # which mapping (process file / working set)
        self.index = [0] * total
        self.lruvecs: dict[tuple[int, int], Lruvec] = {}
        self.ngroups = ngroups
        # The memcg parents: given, the lruvecs keep hierarchical sizes (hsizes).
        self.parents = parents

    def lruvec(self, memcg: int, zone: int) -> Lruvec:
        """The lruvec of ``memcg`` for a zone (or a node, see ``lruvec_of_zone``)."""
        v = self.lruvecs.get((memcg, zone))
        if v is None:
            parent = None
            if self.parents is not None and (p := self.parents[memcg]) is not None:
                parent = self.lruvec(p, zone)
            v = self.lruvecs[(memcg, zone)] = Lruvec(parent)
        return v

    def free_pages(self, zone: int) -> int:
        return len(self.free[zone])

    def _put(self, page: int, memcg: int, zone: int, lru: int) -> None:
        vec = self.lruvec(memcg, self.vec_of[zone])
        self.lru[page] = lru
        s = self.stamp[page] + 1
        self.stamp[page] = s
        vec.lists[lru].append((page, s))
        vec.sizes[lru] += 1
        if self.parents is not None:
            x: Lruvec | None = vec
            while x is not None:
                x.hsizes[lru] += 1
                x = x.parent

    def alloc(self, zone: int) -> int | None:
        return self.free[zone].pop() if self.free[zone] else None

    def commit(self, page: int, memcg: int, anon: bool, mapping: int, index: int) -> None:
        """Charge an allocated page to ``memcg`` and put it on the right list."""
        self.owner[page] = memcg
        self.mapping[page] = mapping
        self.index[page] = index
        self.ref[page] = 0
        self._put(page, memcg, self.zone_of[page],
                  LRU_ACTIVE_ANON if anon else LRU_INACTIVE_FILE)

    def add_folio(self, page: int, memcg: int, anon: bool, mapping: int, index: int,
                  lru: int) -> None:
        """Charge an allocated page to ``memcg`` and add it at the head of ``lru`` (the list
        the caller chose). Flags start clear."""
        self.owner[page] = memcg
        self.mapping[page] = mapping
        self.index[page] = index
        self.ref[page] = self.young[page] = self.workingset[page] = 0
        self.anon[page] = anon
        self._put(page, memcg, self.zone_of[page], lru)

    def lru_size(self, memcg: int, vec: int, lru: int) -> int:
        v = self.lruvecs.get((memcg, vec))
        return v.sizes[lru] if v is not None else 0

    def isolate(self, memcg: int, vec: int, lru: int, nr: int) -> list[int]:
        """Take up to ``nr`` pages off the tail (the oldest end) of a list, as
        ``isolate_lru_folios()`` does; they are on no list until put back or freed."""
        v = self.lruvecs.get((memcg, vec))
        if v is None:
            return []
        pages = self._isolate(v, lru, nr)
        for page in pages:
            self._unlink(page)
        return pages

    def putback(self, page: int, lru: int) -> None:
        """Put an isolated page at the head of ``lru`` of its own lruvec."""
        self._put(page, self.owner[page], self.zone_of[page], lru)

    def move(self, page: int, lru: int) -> None:
        """Move a page on a list to the head of ``lru`` (activation, deactivation)."""
        if self.lru[page] != NONE:
            self._unlink(page)
        self._put(page, self.owner[page], self.zone_of[page], lru)

    def unalloc(self, page: int) -> None:
        """Give back a page that was never committed (the charge failed)."""
        self.free[self.zone_of[page]].append(page)

    def reparent(self, memcg: int, parent: int) -> list[int]:
        """``mem_cgroup_force_empty()`` at rmdir (v3.7): move every page of ``memcg`` to
        its parent's lruvec, on the same list. Returns the pages moved."""
        moved = []
        for (g, _), vec in list(self.lruvecs.items()):
            if g != memcg:
                continue
            for lru in range(4):
                for page in self._isolate(vec, lru, vec.sizes[lru]):
                    self._unlink(page)
                    self.owner[page] = parent
                    self._put(page, parent, self.zone_of[page], lru)
                    moved.append(page)
        return moved

    def _unlink(self, page: int) -> None:
        vec = self.lruvec(self.owner[page], self.vec_of[self.zone_of[page]])
        lru = self.lru[page]
        vec.sizes[lru] -= 1
        if self.parents is not None:
            x: Lruvec | None = vec
            while x is not None:
                x.hsizes[lru] -= 1
                x = x.parent
        self.lru[page] = NONE
        self.stamp[page] += 1

    def release(self, page: int) -> None:
        """Free a page (reclaimed, or its group removed): off the LRU, back to its zone."""
        if self.lru[page] != NONE:
            self._unlink(page)
        self.owner[page] = NONE
        self.mapping[page] = NONE
        self.free[self.zone_of[page]].append(page)

    def mark_accessed(self, page: int) -> None:
        lru = self.lru[page]
        if lru == LRU_INACTIVE_FILE:
            if self.ref[page]:
                memcg, zone = self.owner[page], self.zone_of[page]
                self._unlink(page)
                self.ref[page] = 0
                self._put(page, memcg, zone, LRU_ACTIVE_FILE)
            else:
                self.ref[page] = 1
        else:
            self.ref[page] = 1

    def _isolate(self, vec: Lruvec, lru: int, nr: int) -> list[int]:
        out: list[int] = []
        lst = vec.lists[lru]
        lru_of, stamp = self.lru, self.stamp
        while len(out) < nr and lst:
            page, s = lst.popleft()
            if lru_of[page] == lru and stamp[page] == s:
                out.append(page)
        return out

    def shrink_list(self, memcg: int, zone: int, lru: int, nr: int, may_swap: bool
                    ) -> tuple[int, list[int]]:
        """``shrink_list()``: returns (pages scanned, pages to reclaim). The caller frees the
        returned pages (uncharge, unmap)."""
        vec = self.lruvec(memcg, zone)
        if lru in (LRU_ACTIVE_FILE, LRU_ACTIVE_ANON):
            inactive = LRU_INACTIVE_FILE if lru == LRU_ACTIVE_FILE else LRU_INACTIVE_ANON
            if lru == LRU_ACTIVE_ANON and not may_swap:
                return 0, []
            if vec.sizes[inactive] >= vec.sizes[lru]:  # inactive_list_is_low() is false
                return 0, []
            pages = self._isolate(vec, lru, nr)
            for page in pages:
                self._unlink(page)
                self.ref[page] = 0
                self._put(page, memcg, zone, inactive)
            return len(pages), []
        pages = self._isolate(vec, lru, nr)
        victims = []
        for page in pages:
            if lru == LRU_INACTIVE_ANON and self.ref[page]:
                self._unlink(page)
                self.ref[page] = 0
                self._put(page, memcg, zone, LRU_ACTIVE_ANON)
            else:
                victims.append(page)
        return len(pages), victims
