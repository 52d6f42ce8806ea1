"""Readahead of v6.18 (mm/readahead.c) against the folio list measured on this machine
(docs/research/v6-readahead-folios.md 1.6: a 48 MiB file on ext4, read with 4 KiB reads,
its folios read back from /proc/self/pagemap and /proc/kpageflags)."""

from __future__ import annotations

import pytest

from memcglab.kernel.v6_18.readahead import (
    FileRaState,
    Folio,
    file_ra_state_init,
    get_init_ra_size,
    get_next_ra_size,
    page_cache_async_ra,
    page_cache_sync_ra,
)


def read_file(ra: FileRaState, pages: int) -> list[Folio]:
    """filemap_read() of every page of a ``pages``-page file, 4 KiB at a time, through an
    empty page cache: a miss runs page_cache_sync_ra(), a folio marked PG_readahead
    page_cache_async_ra() (and loses the mark). Returns the folios in the order made."""
    folio_of: dict[int, tuple[int, int]] = {}
    marked: set[int] = set()
    made: list[Folio] = []

    def add(folios: list[Folio]) -> None:
        for start, order, mark in folios:
            made.append((start, order, mark))
            for i in range(start, start + (1 << order)):
                folio_of[i] = (start, order)
            if mark:
                marked.add(start)

    for i in range(pages):
        if i not in folio_of:
            add(page_cache_sync_ra(ra, i, 1, pages, folio_of.__contains__)[0])
        start, order = folio_of[i]
        if start in marked:
            marked.discard(start)
            add(page_cache_async_ra(ra, start, 1 << order, i + 1 - start, pages,
                                    folio_of.__contains__))
        ra.prev_pos = i + 1
    return made


MEASURED_48M = ([(i, 0) for i in range(4)] + [(4, 2), (8, 2), (12, 2), (16, 2), (20, 2),
                (24, 3), (32, 4), (48, 4), (64, 4), (80, 4), (96, 5), (128, 6), (192, 6),
                (256, 6), (320, 6), (384, 7), (512, 8), (768, 8)]
                + [(i, 9) for i in range(1024, 12288, 512)])


def test_a_sequential_read_gives_the_measured_folios() -> None:
    made = read_file(file_ra_state_init(8192), 12288)
    assert [(s, o) for s, o, _ in made] == MEASURED_48M
    assert len(made) == 44
    # Each window's first folio carries the mark, except the first window's (page 1).
    assert [s for s, _, m in made if m][:4] == [1, 4, 20, 80]


def test_windows_ramp_up_to_the_device_window() -> None:
    """get_init_ra_size / get_next_ra_size ([RA]:373-401) with read_ahead_kb 8192
    (2048 pages): 4 for a 4 KiB read, then x4 below max/16, x2 up to max/2, then max."""
    assert get_init_ra_size(1, 2048) == 4
    assert get_init_ra_size(32, 2048) == 128 and get_init_ra_size(200, 2048) == 512
    assert get_init_ra_size(600, 2048) == 2048
    sizes = []
    ra = FileRaState(2048, size=4)
    for _ in range(6):
        ra.size = get_next_ra_size(ra, 2048)
        sizes.append(ra.size)
    assert sizes == [16, 64, 256, 512, 1024, 2048]


def test_fadvise_sequential_doubles_and_random_reads_one_page() -> None:
    assert file_ra_state_init(8192, "sequential").ra_pages == 4096
    made = read_file(file_ra_state_init(8192, "random"), 64)
    assert made == [(i, 0, False) for i in range(64)]


@pytest.mark.parametrize("fadvise", ["normal", "sequential"])
def test_every_page_is_read_once_and_folios_tile_the_file(fadvise: str) -> None:
    made = read_file(file_ra_state_init(8192, fadvise), 20000)
    pages = [i for s, o, _ in made for i in range(s, s + (1 << o))]
    assert pages == list(range(20000))
    assert max(o for _, o, _ in made) == 9


def test_a_small_random_read_after_a_gap_reads_alone() -> None:
    """[RA]:590-613: a miss that is neither at the start, nor right after the last read,
    nor after a cached run longer than the request reads the page alone."""
    ra = file_ra_state_init(8192)
    ra.prev_pos = 11  # the last read was page 10
    assert page_cache_sync_ra(ra, 500, 1, 1000, lambda i: False) == ([(500, 0, False)], False)
    assert ra.size == 0  # the state untouched


def test_a_read_after_a_cached_run_reads_that_run_s_length_ahead() -> None:
    """[RA]:590-621 with page_cache_prev_miss ([FM]:1850-1864): a non-sequential miss after
    a cached run of `contig` pages reads contig + 1 with async_size 1; a run from page 0
    counts double."""
    ra = file_ra_state_init(64)  # 16 pages
    cached = set(range(100, 110))
    _, windowed = page_cache_sync_ra(ra, 110, 1, 1000, cached.__contains__)
    assert windowed and (ra.start, ra.size, ra.async_size) == (110, 11, 1)
    ra = file_ra_state_init(64)
    ra.prev_pos = 3  # not sequential with the read at 5
    page_cache_sync_ra(ra, 5, 1, 1000, {0, 1, 2, 3, 4}.__contains__)
    assert ra.size == 11  # cached from the beginning: contig 5 doubled, + 1
