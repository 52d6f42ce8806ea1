"""The cgroup-core calls the memcg iterator makes, as op-yielding helpers.

Models kernel/cgroup.c v3.7: ``css_get_next()``, ``css_tryget()``, ``css_get()``,
``css_put()``, ``css_id()`` and the cgroup creation / removal the admin thread performs. The
semantics (what fails when, what releases and frees) live in
:mod:`memcglab.runtime.machine`; these helpers only name the operation and its diagram text.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from memcglab.kernel.context import KernelContext
from memcglab.runtime.ops import Kind, Op


def css_get_next(k: KernelContext, start_id: int,
                 root: int) -> Generator[Op, Any, tuple[int, int] | None]:
    """``css_get_next(&mem_cgroup_subsys, start_id, &root->css, &id)``.

    Returns (memcg, css id) of the first group with id >= ``start_id`` in ``root``'s subtree
    (root included), or None. Caller must hold rcu_read_lock().
    """
    found: tuple[int, int] | None = yield Op(
        Kind.CSS_GET_NEXT, start_id, root,
        f"css = css_get_next(id {start_id}, {k.name(root)})")
    return found


def css_tryget(k: KernelContext, memcg: int) -> Generator[Op, Any, bool]:
    ok: bool = yield Op(Kind.TRYGET, memcg, None, f"css_tryget({k.name(memcg)})")
    return ok


def css_get(k: KernelContext, memcg: int) -> Generator[Op, Any, None]:
    yield Op(Kind.GET, memcg, None, f"css_get({k.name(memcg)})")


def css_put(k: KernelContext, memcg: int) -> Generator[Op, Any, None]:
    yield Op(Kind.PUT, memcg, None, f"css_put({k.name(memcg)})")


def cgroup_mkdir(k: KernelContext, memcg: int) -> Generator[Op, Any, int]:
    """``mkdir`` of a memcg directory: css id allocated, group online. Returns the id."""
    cid: int = yield Op(Kind.MKDIR, memcg, None, f"mkdir {k.name(memcg)}")
    return cid


def cgroup_rmdir(k: KernelContext, memcg: int) -> Generator[Op, Any, None]:
    """``rmdir``: in v3.7 it waits until only the base reference remains."""
    yield Op(Kind.RMDIR, memcg, None, f"rmdir {k.name(memcg)}")
