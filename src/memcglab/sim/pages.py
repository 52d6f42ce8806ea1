"""Pages on per-lruvec LRU lists, and the page flags reclaim reads: data only.

Models the data, not the rules: ``struct lruvec`` (include/linux/mmzone.h) with its four
evictable lists, inactive / active x anon / file, in the order of ``enum lru_list``; the
page flags reclaim reads (``ref``: PG_referenced, ``young``: the young bit of the page's
PTE, ``workingset``: PG_workingset, ``anon``: PageAnon / PageSwapBacked); each zone's free
pages. The rules that move pages between the lists (which list a new page goes to,
``mark_page_accessed()``, ``page_check_references()``, ``shrink_active_list()`` ...) are
kernel-mirror code of each era (:mod:`memcglab.kernel.v3_7`, :mod:`memcglab.kernel.v6_18`),
which reads and writes this state between two operations through the primitives below:
:meth:`Pages.add_folio`, :meth:`Pages.isolate` (from the tail), :meth:`Pages.putback` and
:meth:`Pages.move` (to the head), :meth:`Pages.release`, :meth:`Pages.reparent`.

Lists are deques of (page, stamp) with lazy deletion: a page moved elsewhere leaves a stale
entry that scanning skips, so activation is O(1). Heads are the right end, tails the left
(the mirror image of ``list_add()`` / ``lru_to_page()``).

Folios. An entry on a list is a folio: its head page, with ``nr[head]`` = 2^order pages
(v6.18 page cache comes in large folios, docs/research/v6-readahead-folios.md). A large
folio takes ``nr`` pages of its zone's free list (the head and its tails, kept in
``tails``); flags live on the head. List sizes (``sizes``, ``hsizes``) count pages, as the
kernel's ``lruvec_lru_size`` does, and :meth:`Pages.isolate` takes folios until it has
taken the pages asked for, the first one whole whatever its size (``isolate_lru_folios``).
v3.7 has order-0 pages only: every ``nr`` is 1 and nothing changes for it.
"""

from __future__ import annotations

from collections import deque

NONE = -1


class Lruvec:
    """``struct lruvec``: the four evictable lists and the per-lruvec numbers reclaim keeps
    (plain data: the kernel-mirror code of each era reads and writes them).

    ``anon_cost`` / ``file_cost`` are v6.x ``lruvec->anon_cost`` / ``file_cost``
    (lru_note_cost), ``nonresident_age`` is v6.x ``lruvec->nonresident_age`` (workingset),
    ``refaults`` the snapshot of ``WORKINGSET_ACTIVATE_ANON/FILE`` taken by
    snapshot_refaults() and ``activate`` those counters themselves, hierarchical (the
    lruvec's and its descendants', as the kernel's memcg stats read).

    ``recent_scanned`` / ``recent_rotated`` are v3.x ``lruvec->reclaim_stat`` (``struct
    zone_reclaim_stat``, [anon, file]): pages scanned and pages rotated back to an active
    list, which get_scan_count() turns into the anon/file balance.

    ``sizes`` are this lruvec's own list lengths (``lruvec_lru_size``); ``hsizes`` the
    same summed over the memcg's subtree (``lruvec_page_state(NR_LRU_BASE + lru)``, the
    hierarchical memcg statistic), kept only when :class:`Pages` is given the parents."""

    __slots__ = ("activate", "anon_cost", "file_cost", "hsizes", "lists", "nonresident_age",
                 "parent", "recent_rotated", "recent_scanned", "refaults", "sizes")

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
        self.recent_scanned = [0, 0]  # [anon, file]
        self.recent_rotated = [0, 0]


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
        self.nr = [1] * total  # pages in the folio this page heads (2^order)
        self.tails: dict[int, list[int]] = {}  # a large folio's head -> its tail pages
        # When a folio's read I/O completes (simulated ns; 0: uptodate). A folio under
        # read I/O is locked: reclaim keeps it (folio_trylock fails).
        self.ready_at = [0] * total
        self.ra_mark = bytearray(total)  # PG_readahead
        # A reference held by a reader between finding a folio and copying from it
        # (filemap_get_read_batch's): reclaim cannot free the folio (__remove_mapping's
        # folio_ref_freeze fails), it keeps it.
        self.pinned = bytearray(total)
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
        n = self.nr[page]
        vec.sizes[lru] += n
        if self.parents is not None:
            x: Lruvec | None = vec
            while x is not None:
                x.hsizes[lru] += n
                x = x.parent

    def alloc(self, zone: int, order: int = 0) -> int | None:
        """Take a free folio of 2^order pages from ``zone`` (its head page), or None if the
        zone has fewer free pages (the model has no fragmentation)."""
        free = self.free[zone]
        if not order:
            return free.pop() if free else None
        n = 1 << order
        if len(free) < n:
            return None
        head = free.pop()
        self.tails[head] = [free.pop() for _ in range(n - 1)]
        self.nr[head] = n
        return head

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
        """Take folios off the tail (the oldest end) of a list while fewer than ``nr``
        pages were taken, as ``isolate_lru_folios()`` does (v6.18 mm/vmscan.c:1786-1788,
        "Account all pages in a folio": the test comes before each folio, so the last one
        is taken whole); they are on no list until put back or freed."""
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
        """Give back a folio that was never committed (the charge failed)."""
        self._free(page)

    def _free(self, page: int) -> None:
        free = self.free[self.zone_of[page]]
        if self.nr[page] > 1:
            free.extend(self.tails.pop(page))
            self.nr[page] = 1
        self.ready_at[page] = 0
        self.ra_mark[page] = 0
        self.pinned[page] = 0
        free.append(page)

    def reparent(self, memcg: int, parent: int) -> list[int]:
        """Move every page of ``memcg`` to ``parent``'s lruvec, on the same list, each list
        tail first to the head (what v3.7 ``mem_cgroup_force_empty()`` does page by page;
        the caller chose ``parent``). Returns the pages moved."""
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
        n = self.nr[page]
        vec.sizes[lru] -= n
        if self.parents is not None:
            x: Lruvec | None = vec
            while x is not None:
                x.hsizes[lru] -= n
                x = x.parent
        self.lru[page] = NONE
        self.stamp[page] += 1

    def release(self, page: int) -> None:
        """Free a page (reclaimed, or its group removed): off the LRU, back to its zone."""
        if self.lru[page] != NONE:
            self._unlink(page)
        self.owner[page] = NONE
        self.mapping[page] = NONE
        self._free(page)

    def _isolate(self, vec: Lruvec, lru: int, nr: int) -> list[int]:
        out: list[int] = []
        lst = vec.lists[lru]
        lru_of, stamp, nr_of = self.lru, self.stamp, self.nr
        taken = 0
        while taken < nr and lst:
            page, s = lst.popleft()
            if lru_of[page] == lru and stamp[page] == s:
                out.append(page)
                taken += nr_of[page]
        return out
