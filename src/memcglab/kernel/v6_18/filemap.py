"""Page-cache reads of Linux v6.18, mm/filemap.c: a process reading its file with read(2).

Read in a v6.18.19 tree (6952350/linux-6.18.y @ f3fce0151d48; docs/research/v6-reclaim.md
section 4.2 and docs/research/v6-readahead-folios.md section 2, [FM] line numbers there):

* ``filemap_read()`` -> ``filemap_get_pages()``: find the folio holding the page; if none,
  ``page_cache_sync_ra()`` and look again, and if still none ``filemap_create_folio()``
  (one order-0 folio, read at once, charged without ``__GFP_NORETRY``); a folio marked
  PG_readahead starts ``page_cache_async_ra()`` (mm/readahead.c,
  :mod:`memcglab.kernel.v6_18.readahead`); a folio whose read I/O is still in flight is
  waited for (``filemap_update_page``); then ``folio_mark_accessed()`` only when the read
  is not in the folio the previous read ended in (``pos_same_folio``, [FM]:2776-2782): a
  sequential reader marks each folio once, whatever its size;
* ``filemap_add_folio()``: charge the whole folio to the reader's memcg
  (``mem_cgroup_charge`` with no mm: the current task's memcg), -EEXIST if a folio is
  already in its range, find the shadow entry an earlier eviction left there and let
  ``workingset_refault()`` decide whether it starts active, then ``folio_add_lru()``.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from memcglab.kernel.context import KernelContext
from memcglab.kernel.iterator import MemcgIter
from memcglab.kernel.v6_18.context import TaskStruct
from memcglab.kernel.v6_18.memcontrol import mem_cgroup_uncharge, try_charge
from memcglab.kernel.v6_18.page_alloc import alloc_pages
from memcglab.kernel.v6_18.readahead import (
    EEXIST,
    ENOMEM,
    File,
    page_cache_async_ra,
    page_cache_sync_ra,
    ra_submit,
)
from memcglab.kernel.v6_18.swap import folio_add_lru, folio_mark_accessed
from memcglab.kernel.v6_18.workingset import workingset_refault
from memcglab.runtime.ops import Kind, Op


def add_folio(k: KernelContext, variant: MemcgIter, current: TaskStruct, anon: bool,
              mapping: int, index: int, zones: tuple[int, ...], order: int = 0,
              noretry: bool = False) -> Generator[Op, Any, int]:
    """Allocate, charge, and put a folio of 2^order pages at ``index`` of ``mapping``: the
    part ``filemap_add_folio()`` (page cache) and ``do_swap_page()`` /
    ``do_anonymous_page()`` (anon, order 0) share. A shadow entry in its range is a
    refault (``workingset_refault``). Returns the folio, or -ENOMEM / -EEXIST."""
    page = yield from alloc_pages(k, variant, current, zones, order)
    if page is None:
        return ENOMEM
    memcg = current.memcg
    nr = 1 << order
    if not (yield from try_charge(k, variant, current, memcg, nr, zones, noretry)):
        yield Op(Kind.ADD_PAGE, page, None)  # folio_put(): the page goes back unused
        return ENOMEM
    mm = k.mm
    shadows = mm.shadows[mapping]
    present = mm.mappings[mapping]
    if any(i in present for i in range(index, index + nr)):
        # __filemap_add_folio(): the range is taken; the charge is undone.
        mem_cgroup_uncharge(k, memcg, nr)
        yield Op(Kind.ADD_PAGE, page, None)
        return EEXIST
    # One multi-index shadow may cover the range, or several smaller ones:
    # __filemap_add_folio keeps the last one it walks over (``old = entry`` for each
    # conflicting entry, [FM]:886-893) and the store replaces them all.
    shadow = None
    for i in range(index, index + nr):
        s = shadows.pop(i, None)
        if s is not None:
            shadow = s
    active = workingset = False
    if shadow is not None:
        pgdat = mm.pages.vec_of[mm.pages.zone_of[page]]
        active, workingset = workingset_refault(k, memcg, pgdat, not anon, shadow, nr)
    yield Op(Kind.ADD_PAGE, page, (memcg, anon, mapping, index,
                                   folio_add_lru(k, anon, active)))
    if workingset:
        mm.pages.workingset[page] = 1
    return page


def filemap_add_folio(k: KernelContext, variant: MemcgIter, current: TaskStruct,
                      mapping: int, index: int, order: int, zones: tuple[int, ...],
                      noretry: bool = False) -> Generator[Op, Any, int]:
    """[FM]:961-1001: a page-cache folio (readahead's carry ``__GFP_NORETRY``)."""
    return (yield from add_folio(k, variant, current, False, mapping, index, zones, order,
                                 noretry))


def filemap_create_folio(k: KernelContext, variant: MemcgIter, current: TaskStruct,
                         file: File, index: int, zones: tuple[int, ...]
                         ) -> Generator[Op, Any, int]:
    """[FM]:2548-2599: one min-order (0) folio with ``mapping_gfp_mask`` (the full charge
    retry ladder), read synchronously (``filemap_read_folio``)."""
    page = yield from filemap_add_folio(k, variant, current, file.mapping, index, 0, zones)
    if page >= 0:
        k.mm.pages.ready_at[page] = k.mm.submit_read(1)[0][1]
    return page


def filemap_read(k: KernelContext, variant: MemcgIter, current: TaskStruct, file: File,
                 index: int, zones: tuple[int, ...]) -> Generator[Op, Any, int | None]:
    """``read(2)`` of one 4 KiB page at ``index``: [FM]:2615-2682 (filemap_get_pages) and
    2716-2828. Returns the folio read (its head page), or None if it could not be
    added (-ENOMEM: the read fails)."""
    ra = file.ra
    mm = k.mm
    pages = mm.pages
    present = mm.mappings[file.mapping]
    page: int | None = yield Op(Kind.ACCESS, file.mapping, index)
    if page is not None:
        # filemap_get_read_batch() takes a reference: reclaim (its own async readahead's
        # included) cannot free the folio until the copy is done.
        pages.pinned[page] = 1
    if page is None:
        folios, windowed = page_cache_sync_ra(ra, index, 1, file.eof, present.__contains__)
        yield from ra_submit(k, variant, current, file, folios, windowed, zones)
        page = present.get(index)  # look again (its own file: only reclaim removes)
        if page is None:
            created = yield from filemap_create_folio(k, variant, current, file, index,
                                                      zones)
            if created < 0:
                return None
            page = created
        pages.pinned[page] = 1
    elif pages.ra_mark[page]:
        # filemap_readahead(): the batch ended on a folio marked PG_readahead.
        pages.ra_mark[page] = 0  # folio_clear_readahead()
        head = pages.index[page]
        folios = page_cache_async_ra(ra, head, pages.nr[page], index + 1 - head, file.eof,
                                     present.__contains__)
        yield from ra_submit(k, variant, current, file, folios, True, zones)
    if pages.ready_at[page] > mm.now:
        # filemap_update_page(): wait for the folio's read to complete.
        yield Op(Kind.SLEEP_UNTIL, pages.ready_at[page])
        # (Reclaim keeps a folio whose read is in flight: folio_trylock() fails.)
    # When a read accesses the same folio several times, only mark it as accessed the
    # first time.
    head = pages.index[page]
    if not head <= ra.prev_pos - 1 < head + pages.nr[page]:
        folio_mark_accessed(k, page)
    ra.prev_pos = index + 1
    pages.pinned[page] = 0  # folio_put() after the copy
    return page


def filemap_read_same_folio(file: File, index: int) -> None:
    """The reads after the first one into a folio, up to ``index``, all found in it: the
    only state they change is the file's ``ra->prev_pos`` ([FM]:2826); no
    ``folio_mark_accessed`` (the same folio, [FM]:2776-2782), no readahead (the first read
    into the folio cleared its PG_readahead). The simulator's batched reads end with
    this."""
    file.ra.prev_pos = index + 1
