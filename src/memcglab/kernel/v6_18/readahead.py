"""Readahead windows and folio orders of Linux v6.18, mm/readahead.c.

Read in a v6.18.19 tree (6952350/linux-6.18.y @ f3fce0151d48; docs/research/
v6-readahead-folios.md section 1, [RA] line numbers there), for a file read with 4 KiB
``read(2)`` calls:

* ``struct file_ra_state``: the window (``start``, ``size``, ``async_size``), its largest
  size ``ra_pages`` (the device's ``read_ahead_kb``; doubled by POSIX_FADV_SEQUENTIAL),
  the folio ``order`` and ``prev_pos`` (in pages: the page just after the last read, as
  ``ra->prev_pos >> PAGE_SHIFT`` is; [FM]:2808, 2826);
* ``page_cache_sync_ra()``: a read that missed starts a window (``get_init_ra_size``) at
  a sequential miss, or reads the request alone for a small random read; FMODE_RANDOM
  (POSIX_FADV_RANDOM) reads the request alone;
* ``page_cache_async_ra()``: a read reaching the folio marked PG_readahead moves the window
  on (``get_next_ra_size``), raises the order by 2 and trims the window's end to an
  alignment; ``async_size = size``, so the next window's first folio carries the mark;
* ``page_cache_ra_order()``: the folios of a window, as large as the order, the alignment
  of the index, the end of the window and the end of the file allow (``min_order`` 0 and
  ``max_order`` 9 on ext4 with transparent hugepages, as on this machine).

The window arithmetic is pure: :func:`page_cache_sync_ra`, :func:`page_cache_async_ra`
and :func:`page_cache_ra_order` return the folios to add as ``(index, order, marked)``
(tests/test_readahead.py holds them against the folio list measured on this machine, ext4
on vda, read_ahead_kb 8192). :func:`ra_submit` then does what ``page_cache_ra_order()``
does with them in the simulator: ``ra_alloc_folio()`` for each (allocate, charge with
``__GFP_NORETRY``, add to the page cache: -ENOMEM or -EEXIST ends the loop),
``read_pages()`` (one read request to the device), and on an error the fallback
``do_page_cache_ra()`` -> ``page_cache_ra_unbounded()``: order-0 folios for the rest of the
window, present ones skipped, stopping at the first -ENOMEM. Not modelled:
``blk_cgroup_congested``, oversized reads, ``mapping_align_index`` (min order 0).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from memcglab.kernel.context import KernelContext
from memcglab.kernel.iterator import MemcgIter
from memcglab.kernel.v6_18.context import TaskStruct
from memcglab.runtime.ops import Op

MAX_PAGECACHE_ORDER = 9  # include/linux/pagemap.h: HPAGE_PMD_ORDER on x86-64
ENOMEM, EEXIST = -12, -17
Folio = tuple[int, int, bool]  # (first page index, order, PG_readahead)


@dataclass(slots=True)
class FileRaState:
    """``struct file_ra_state`` ([RA]:409-412), in pages."""

    ra_pages: int
    start: int = 0
    size: int = 0
    async_size: int = 0
    order: int = 0
    prev_pos: int = -1  # the page after the last read (-1: none yet, the kernel's -1)
    random: bool = False  # FMODE_RANDOM (POSIX_FADV_RANDOM)


def file_ra_state_init(read_ahead_kb: int, fadvise: str = "normal") -> FileRaState:
    """``file_ra_state_init()`` and ``generic_fadvise()`` ([FA]:78-95): NORMAL takes the
    device's window, SEQUENTIAL twice it, RANDOM the device's window with FMODE_RANDOM."""
    ra_pages = read_ahead_kb >> 2
    if fadvise == "sequential":
        return FileRaState(ra_pages * 2)
    return FileRaState(ra_pages, random=fadvise == "random")


def _roundup_pow_of_two(n: int) -> int:
    return 1 << (n - 1).bit_length()


def _ffs0(x: int) -> int:
    """``__ffs(x)``: the index of the lowest set bit."""
    return (x & -x).bit_length() - 1


def get_init_ra_size(size: int, max_pages: int) -> int:
    """[RA]:373-385: the first window of a sequential stream."""
    newsize = _roundup_pow_of_two(size)
    if newsize <= max_pages // 32:
        return newsize * 4
    if newsize <= max_pages // 4:
        return newsize * 2
    return max_pages


def get_next_ra_size(ra: FileRaState, max_pages: int) -> int:
    """[RA]:391-401: the window grows fourfold while small, then twofold, up to the max."""
    cur = ra.size
    if cur < max_pages // 16:
        return 4 * cur
    if cur <= max_pages // 2:
        return 2 * cur
    return max_pages


def page_cache_ra_order(ra: FileRaState, eof: int, max_order: int = MAX_PAGECACHE_ORDER,
                        min_order: int = 0) -> list[Folio]:
    """[RA]:464-537: the folios of the window ``ra.start .. ra.start + ra.size - 1``
    (not past the end of the file, ``eof`` pages), with PG_readahead on the folio holding
    ``start + size - async_size``."""
    index = ra.start
    mark = index + ra.size - ra.async_size
    limit = min(eof - 1, index + ra.size - 1)
    new_order = max(min(max_order, ra.order, ra.size.bit_length() - 1), min_order)
    ra.order = new_order
    folios: list[Folio] = []
    while index <= limit:
        order = new_order
        # Align with smaller pages if needed.
        if index & ((1 << order) - 1):
            order = _ffs0(index)
        # Don't allocate pages past EOF (or past the window).
        while order > min_order and index + (1 << order) - 1 > limit:
            order -= 1
        folios.append((index, order, index == mark >> order << order))
        index += 1 << order
    return folios


def page_cache_sync_ra(ra: FileRaState, index: int, req_count: int, eof: int,
                       cached: Callable[[int], bool]) -> tuple[list[Folio], bool]:
    """[RA]:554-627: the read of ``index`` missed the cache. Returns the folios and whether
    they are a window (``page_cache_ra_order``) or the request read alone
    (``force_page_cache_ra`` / ``do_page_cache_ra(ractl, req_count, 0)``)."""
    if ra.random or not ra.ra_pages:
        # force_page_cache_ra(): the request alone, order 0, the state untouched.
        return [(i, 0, False) for i in range(index, min(index + req_count, eof))], False
    max_pages = ra.ra_pages
    prev_index = ra.prev_pos
    # ``index - prev_index <= 1UL`` is unsigned: a read before prev_index (or prev_pos -1,
    # whose shift is a huge index) is no sequential miss.
    if (not index or req_count > max_pages
            or (prev_index >= 0 and 0 <= index - prev_index <= 1)):
        # A start of file, oversized read, or sequential cache miss: trivial case.
        ra.start = index
        ra.size = get_init_ra_size(req_count, max_pages)
        ra.async_size = ra.size - req_count if ra.size > req_count else ra.size >> 1
    else:
        # page_cache_prev_miss(mapping, index - 1, max_pages) ([FM]:1850-1864): the first
        # gap before the read (-1 for ULONG_MAX: cached from page 0); a scan that finds
        # max_pages pages stops on the last of them, a present page.
        miss = index - 1
        for n in range(max_pages):
            if miss < 0 or not cached(miss) or n == max_pages - 1:
                break
            miss -= 1
        contig = index - miss - 1
        if contig <= req_count:
            # Standalone, small random read. Read as is, and do not pollute the readahead
            # state.
            return [(i, 0, False) for i in range(index, min(index + req_count, eof))], False
        if miss < 0:
            contig *= 2  # file cached from the beginning
        ra.start = index
        ra.size = min(contig + req_count, max_pages)
        ra.async_size = 1
    ra.order = 0
    return page_cache_ra_order(ra, eof), True


def page_cache_async_ra(ra: FileRaState, index: int, folio_nr_pages: int, req_count: int,
                        eof: int, cached: Callable[[int], bool]) -> list[Folio]:
    """[RA]:630-698: the read of ``index`` found a folio of ``folio_nr_pages`` marked
    PG_readahead (the caller clears the mark)."""
    if not ra.ra_pages:
        return []
    max_pages = ra.ra_pages
    expected = (ra.start + ra.size - ra.async_size) // folio_nr_pages * folio_nr_pages
    if index == expected:
        # Assume sequential access: move the window on.
        ra.start += ra.size
        ra.size = max(ra.size, get_next_ra_size(ra, max_pages))
    else:
        # Hit a marked folio without valid readahead state (interleaved reads): the
        # window starts at the next page not cached.
        # page_cache_next_miss(): past the end of the file it finds no page, a miss.
        start = index + 1
        while start < eof and start - index <= max_pages and cached(start):
            start += 1
        if start - index > max_pages:
            return []
        ra.start = start
        ra.size = start - index + req_count
        ra.size = get_next_ra_size(ra, max_pages)
    ra.order += 2
    align = 1 << min(ra.order, _ffs0(max_pages))
    end = ra.start + ra.size
    aligned_end = end // align * align
    if aligned_end > ra.start:
        ra.size -= end - aligned_end
    ra.async_size = ra.size
    return page_cache_ra_order(ra, eof)


@dataclass(slots=True)
class File:
    """The parts of ``struct file`` a read uses: its page cache (``mapping``, the model's
    mapping number), ``i_size`` in pages (``eof``) and ``f_ra``."""

    mapping: int
    eof: int
    ra: FileRaState


def ra_alloc_folio(k: KernelContext, variant: MemcgIter, current: TaskStruct, file: File,
                   index: int, marked: bool, order: int, zones: tuple[int, ...],
                   batch: list[int]) -> Generator[Op, Any, int]:
    """[RA]:442-462: allocate a folio, mark it PG_readahead if it holds the window's mark
    (``marked``, from :func:`page_cache_ra_order`), add it to the page cache
    (``filemap_add_folio`` with ``readahead_gfp_mask``: ``__GFP_NORETRY``,
    [PG]:684-687). 0, or -ENOMEM / -EEXIST."""
    from memcglab.kernel.v6_18.filemap import filemap_add_folio  # mutual, as in C
    page = yield from filemap_add_folio(k, variant, current, file.mapping, index, order,
                                        zones, noretry=True)
    if page < 0:
        return page
    pages = k.mm.pages
    if marked:
        pages.ra_mark[page] = 1
    pages.ready_at[page] = LOCKED
    batch.append(page)
    return 0


# ``ready_at`` of a folio added to the page cache and not yet submitted: locked (it was
# added locked, __filemap_add_folio's __folio_set_locked), so reclaim keeps it.
LOCKED = 1 << 62


def read_pages(k: KernelContext, batch: list[int]) -> None:
    """[RA]:148-193: start the read of the folios added (the device splits it into
    requests; each folio stays locked, not uptodate, until its request completes:
    ``ready_at``)."""
    if not batch:
        return
    pages = k.mm.pages
    requests = k.mm.submit_read(sum(pages.nr[f] for f in batch))
    r = 0
    left, done = requests[0]
    for f in batch:
        pages.ready_at[f] = done  # a folio across two requests waits for the second
        left -= pages.nr[f]
        while left <= 0 and r + 1 < len(requests):
            r += 1
            extra, done = requests[r]
            left += extra
    batch.clear()


def page_cache_ra_unbounded(k: KernelContext, variant: MemcgIter, current: TaskStruct,
                            file: File, index: int, nr_to_read: int, lookahead_size: int,
                            zones: tuple[int, ...]) -> Generator[Op, Any, None]:
    """[RA]:210-305 with min order 0: order-0 folios from ``index``; a present folio starts
    a new batch, -ENOMEM stops; PG_readahead on the page ``nr_to_read - lookahead_size``
    in."""
    from memcglab.kernel.v6_18.filemap import filemap_add_folio  # mutual, as in C
    mark = nr_to_read - lookahead_size if lookahead_size <= nr_to_read else -1
    present = k.mm.mappings[file.mapping]
    pages = k.mm.pages
    batch: list[int] = []
    for i in range(nr_to_read):
        if index + i in present:
            read_pages(k, batch)
            continue
        page = yield from filemap_add_folio(k, variant, current, file.mapping, index + i, 0,
                                            zones, noretry=True)
        if page == ENOMEM:
            break
        if page < 0:
            read_pages(k, batch)
            continue
        if i == mark:
            pages.ra_mark[page] = 1
        pages.ready_at[page] = LOCKED
        batch.append(page)
    read_pages(k, batch)


def do_page_cache_ra(k: KernelContext, variant: MemcgIter, current: TaskStruct, file: File,
                     index: int, nr_to_read: int, lookahead_size: int,
                     zones: tuple[int, ...]) -> Generator[Op, Any, None]:
    """[RA]:311-333: not past the last page of the file."""
    end_index = file.eof - 1
    if index > end_index:
        return
    nr_to_read = min(nr_to_read, end_index - index + 1)
    yield from page_cache_ra_unbounded(k, variant, current, file, index, nr_to_read,
                                       lookahead_size, zones)


def ra_submit(k: KernelContext, variant: MemcgIter, current: TaskStruct, file: File,
              folios: list[Folio], windowed: bool, zones: tuple[int, ...]
              ) -> Generator[Op, Any, None]:
    """What ``page_cache_ra_order()`` ([RA]:464-537) does with the folios it chose
    (``windowed``): add them one by one until an error, ``read_pages()``, then the
    fallback for the rest of the window. A request read alone (FMODE_RANDOM, a small
    random read: not ``windowed``) is ``do_page_cache_ra(ractl, req_count, 0)``."""
    if not folios:
        return
    if not windowed:
        yield from do_page_cache_ra(k, variant, current, file, folios[0][0], len(folios), 0,
                                    zones)
        return
    ra = file.ra
    start = index = folios[0][0]
    err = 0
    batch: list[int] = []
    for f_index, order, marked in folios:
        err = yield from ra_alloc_folio(k, variant, current, file, f_index, marked, order,
                                        zones, batch)
        if err:
            break
        index = f_index + (1 << order)
    read_pages(k, batch)
    # If there were already pages in the page cache, then we may have left some gaps.
    # Let the regular readahead code take care of this situation below.
    if err and ra.size > index - start:
        yield from do_page_cache_ra(k, variant, current, file, index,
                                    ra.size - (index - start), ra.async_size, zones)
