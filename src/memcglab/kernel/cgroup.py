"""The cgroup-core calls the memcg iterator makes, as operations.

Models kernel/cgroup.c v3.7: ``css_get_next()``, ``css_tryget()``, ``css_get()``,
``css_put()`` and the cgroup creation / removal the admin thread performs. Each helper
returns the :class:`~memcglab.runtime.ops.Op`; model code yields it and receives the
result, so a call reads like the C: ``ok = yield css_tryget(k, memcg)``. The semantics
(what fails when, what releases and frees) live in :mod:`memcglab.runtime.machine`.
"""

from __future__ import annotations

import functools
from collections.abc import Generator
from typing import Any

from memcglab.kernel.context import KernelContext
from memcglab.runtime.ops import Kind, Op


@functools.cache
def css_get_next(k: KernelContext, start_id: int, root: int) -> Op:
    """``css_get_next(&mem_cgroup_subsys, start_id, &root->css, &id)``.

    Yields (memcg, css id) of the first group with id >= ``start_id`` in ``root``'s subtree
    (root included), or None. Caller must hold rcu_read_lock().
    """
    return Op(Kind.CSS_GET_NEXT, start_id, root,
              f"css = css_get_next(id {start_id}, {k.name(root)})" if k.notes else "")


@functools.cache
def css_tryget(k: KernelContext, memcg: int) -> Op:
    """``css_tryget()``: yields True if a reference was taken."""
    return Op(Kind.TRYGET, memcg, None, f"css_tryget({k.name(memcg)})" if k.notes else "")


@functools.cache
def css_get(k: KernelContext, memcg: int) -> Op:
    return Op(Kind.GET, memcg, None, f"css_get({k.name(memcg)})" if k.notes else "")


@functools.cache
def css_put(k: KernelContext, memcg: int) -> Op:
    return Op(Kind.PUT, memcg, None, f"css_put({k.name(memcg)})" if k.notes else "")


def cgroup_mkdir(k: KernelContext, memcg: int) -> Generator[Op, Any, int]:
    """``mkdir`` of a memcg directory: css id allocated, group online. Returns the id."""
    cid: int = yield Op(Kind.MKDIR, memcg, None, f"mkdir {k.name(memcg)}")
    return cid


def cgroup_rmdir(k: KernelContext, memcg: int) -> Generator[Op, Any, None]:
    """``rmdir``: in v3.7 it waits until only the base reference remains."""
    yield Op(Kind.RMDIR, memcg, None, f"rmdir {k.name(memcg)}")
