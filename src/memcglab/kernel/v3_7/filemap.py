"""mm/filemap.c of Linux v3.7: a process's ``read()`` of one page of its file.

Read in the v3.7.2 tree of :mod:`memcglab.kernel.v3_7`. :func:`do_generic_file_read`
(filemap.c:1081-1291) for a read of one whole page:

* ``find_get_page()`` (1108): the page is in the page cache -> ``page_ok`` (1136), where
  ``mark_page_accessed()`` marks it (1175-1176);
* ``no_cached_page`` (1267-1286): ``page_cache_alloc_cold()`` (a page from the page
  allocator, :mod:`.page_alloc`), ``add_to_page_cache_lru()`` (the memcg charge, the page
  cache, the inactive file list), ``readpage`` (1220-1259; I/O is not modelled: the page is
  up to date at once).

Readahead is not modelled (one page per read). The ``prev_index != index`` test before
``mark_page_accessed()`` (a second read of the same page in a row does not mark it again)
is not modelled either: each touch of a workload is a new read.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from memcglab.kernel.context import KernelContext
from memcglab.kernel.iterator import MemcgIter
from memcglab.kernel.v3_7.memcontrol import mem_cgroup_charge_common
from memcglab.kernel.v3_7.page_alloc import __alloc_pages_nodemask, __free_page
from memcglab.kernel.v3_7.swap import lru_cache_add_lru, mark_page_accessed
from memcglab.model.constants import LRU_INACTIVE_FILE
from memcglab.runtime.ops import Kind, Op

_new_op = tuple.__new__  # builds an Op without the NamedTuple constructor's extra frame


def find_get_page(mapping: int, index: int) -> Op:
    """``find_get_page(mapping, index)``: yields the page cached at ``index``, or None."""
    return _new_op(Op, (Kind.ACCESS, mapping, index, ""))


def add_to_page_cache_lru(k: KernelContext, variant: MemcgIter, page: int, memcg: int,
                          mapping: int, index: int, zones: tuple[int, ...],
                          may_swap: bool) -> Generator[Op, Any, bool]:
    """filemap.c:482-491: ``add_to_page_cache()`` (its ``mem_cgroup_cache_charge()`` first,
    filemap.c:450, then the radix tree), then ``lru_cache_add_file()``: the inactive file
    list. False: the charge failed (-ENOMEM)."""
    if not (yield from mem_cgroup_charge_common(k, variant, memcg, zones, may_swap)):
        return False
    yield lru_cache_add_lru(k, page, LRU_INACTIVE_FILE, memcg, False, mapping, index)
    return True


def do_generic_file_read(k: KernelContext, variant: MemcgIter, memcg: int, mapping: int,
                         index: int, zones: tuple[int, ...], may_swap: bool
                         ) -> Generator[Op, Any, None]:
    """A ``read()`` of page ``index`` of file ``mapping`` by a process in ``memcg``, whose
    allocations use the zonelist ``zones``.

    Both ways end at ``page_ok`` and ``mark_page_accessed()``: a page found in the page
    cache (filemap.c:1108 -> 1136 -> 1175-1176), and a page just read in
    (``no_cached_page``, 1267-1286, ``add_to_page_cache_lru()`` -> ``readpage`` -> ``goto
    page_ok``, 1259). So a new page-cache page is inactive and referenced after its first
    read, and active after its second (swap.c:437-446)."""
    page = yield find_get_page(mapping, index)
    if page is None:
        # no_cached_page: page_cache_alloc_cold() + add_to_page_cache_lru().
        page = yield from __alloc_pages_nodemask(k, variant, zones, may_swap)
        if page is None:
            return  # -ENOMEM
        if not (yield from add_to_page_cache_lru(k, variant, page, memcg, mapping, index,
                                                 zones, may_swap)):
            yield __free_page(page)  # page_cache_release()
            return
        # readpage: the page is read in and up to date; goto page_ok (filemap.c:1259).
    # page_ok: the first read of a page counts as an access too (filemap.c:1175-1176).
    mark_page_accessed(k.mm, page)
