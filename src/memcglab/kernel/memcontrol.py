"""The memcg side of cgroup removal: ``->destroy`` and the free of a ``struct mem_cgroup``.

Models Linux v3.7 mm/memcontrol.c (read at x86-8/linux-3.7 @ 30159e2cc505, see
docs/kernel-sources.md): ``mem_cgroup_destroy()``, ``mem_cgroup_put()`` /
``__mem_cgroup_put()`` and ``__mem_cgroup_free()``. ``cgroup_diput()``
(:mod:`memcglab.kernel.cgroup`) calls :func:`mem_cgroup_destroy` in the removing task after
its ``synchronize_rcu()``.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from memcglab.kernel.cgroup import free_css_id
from memcglab.kernel.context import KernelContext
from memcglab.runtime.ops import Kind, Op


def mem_cgroup_destroy(k: KernelContext, memcg: int) -> Generator[Op, Any, None]:
    """v3.7 ``mem_cgroup_destroy()``: ``kmem_cgroup_destroy()`` (kernel memory accounting,
    not modelled), then ``mem_cgroup_put()`` of the memcg's own reference."""
    yield from mem_cgroup_put(k, memcg)


def mem_cgroup_put(k: KernelContext, memcg: int) -> Generator[Op, Any, None]:
    """v3.7 ``mem_cgroup_put()`` -> ``__mem_cgroup_put(memcg, 1)``: when ``memcg->refcnt``
    drops to zero, ``__mem_cgroup_free()``, then ``mem_cgroup_put()`` of the parent.

    ``memcg->refcnt`` (distinct from the css count) starts at 1 and is also taken by swap
    records and by each child of a ``use_hierarchy`` parent. Neither outlives the groups
    here (a removed child drops its reference on the parent here, in the rmdir task, before
    the admin can remove the parent), so this put always frees, and the parent's count,
    never the last one, is not modelled."""
    yield from __mem_cgroup_free(k, memcg)


def __mem_cgroup_free(k: KernelContext, memcg: int) -> Generator[Op, Any, None]:
    """v3.7 ``__mem_cgroup_free()``: ``mem_cgroup_remove_from_trees()`` (soft-limit trees),
    ``free_css_id()`` (the id leaves the IDR), the per-zone info and per-cpu statistics
    freed, then ``call_rcu(&memcg->rcu_freeing, free_rcu)``: after a grace period
    ``free_rcu`` schedules ``free_work``, which ``kfree``s the memcg. The machine runs that
    callback when the readers it waits for have left."""
    yield free_css_id(k, memcg)
    yield Op(Kind.CALL_RCU_FREE, memcg, None,
             f"call_rcu(free_rcu) [{k.name(memcg)}]" if k.notes else "")
