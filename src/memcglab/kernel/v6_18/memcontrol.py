"""Variant ``current``: today's reclaim iterator, ``mem_cgroup_iter()`` of v6.12+ (v6.18).

Models mm/memcontrol.c of a v6.18.y tree (6952350/linux-6.18.y @ 312d9602fe3e), read
function by function in docs/research/current-iterator.md. The design comes from Kinsey Ho's
series (v4, Message-IDs <20240905003058.1859929-{2,3,4,5}-kinseyho@google.com>, in v6.12):
"mm: don't hold css->refcnt during traversal", "mm: increment gen # before restarting
traversal", "mm: restart if multiple traversals raced" (with Hugh Dickins' fix: the result is
reset before the restart, "so that goto out_unlock does not then return an ungotten memcg")
and "mm: clean up mem_cgroup_iter()". Mainline commit ids were not confirmed (only
mm-unstable ones were found, and they differ between tags).

* one ``struct mem_cgroup_reclaim_iter`` per (root, node): ``position``, a memcg pointer
  held without a reference (valid under RCU only), and ``atomic_t generation``;
* a walker with a cookie joins the current generation on its first call (re-read on every
  restart) and returns NULL once the generation has moved on;
* the search starts at the shared position (``READ_ONCE``), walks the subtree in pre-order
  (``css_next_descendant_pre``) and takes the first group whose ``css_tryget`` succeeds
  (offline groups too; the root without a reference);
* ``cmpxchg(&iter->position, pos, next)`` claims it; a walker that loses puts its
  reference and restarts; the winner of the store of NULL bumps the generation and, if it
  had just started, restarts from the root;
* ``mem_cgroup_css_released()`` -> ``invalidate_reclaim_iterators()``: when a group is
  released, a position still pointing at it is reset to NULL with a cmpxchg, in the group's
  own iterators and every ancestor's, on every node, without a generation bump.

Every access to the iterator is an atomic operation of its own (``atomic_read``,
``READ_ONCE``, ``cmpxchg``, ``atomic_inc``); each call of ``css_next_child`` is one RCU read
of a sibling list; ``css_tryget`` and ``css_put`` are the reference count's atomics.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, ClassVar

from memcglab.kernel.context import KernelContext
from memcglab.kernel.iterator import Cookie, IterGen, MemcgIter
from memcglab.kernel.v6_18.cgroup import css_next_descendant_pre, css_put, css_tryget
from memcglab.kernel.v6_18.context import ReclaimCookie
from memcglab.model.layout import NULL, memcg_ptr, ptr_memcg
from memcglab.runtime.machine import Semantics
from memcglab.runtime.ops import (
    RCU_READ_LOCK,
    RCU_READ_UNLOCK,
    Op,
    atomic_inc,
    cmpxchg,
    note,
    read_once,
)


class CurrentIter(MemcgIter):
    """``mem_cgroup_iter`` of v6.12+: lockless, per node, cmpxchg on a weak cursor."""

    name: ClassVar[str] = "current"
    kernels: ClassVar[str] = "v6.12+ (v6.18 as reference)"
    source: ClassVar[str] = ("Linux v6.18 mm/memcontrol.c mem_cgroup_iter(); Kinsey Ho, "
                             "\"mm: don't hold css->refcnt during traversal\" series (v6.12)")
    iter_fields: ClassVar[tuple[str, ...]] = ("position", "generation")
    era: ClassVar[str] = "6.18"
    handout_by_cmpxchg: ClassVar[bool] = True
    # percpu_ref trygets (fail only at zero), rmdir does not wait for references, and the
    # last put queues css_release_work_fn (kernel/cgroup/cgroup.c v6.18).
    semantics: ClassVar[Semantics] = Semantics(tryget_fails_offline=False,
                                               rmdir_waits_for_refs=False,
                                               release_work=True)

    def mem_cgroup_iter(self, root: int | None, prev: int | None,
                        reclaim: Cookie | None) -> IterGen:
        k = self.k
        if root is None:
            root = k.root_mem_cgroup
        if k.notes:
            yield note(f"mem_cgroup_iter({k.name(root)}, prev={k.name(prev)})")
        yield RCU_READ_LOCK
        assert reclaim is None or isinstance(reclaim, ReclaimCookie)
        it = k.iter_node(root, reclaim.pgdat) if reclaim is not None else None
        while True:  # restart:
            next = None
            if it is not None and reclaim is not None:
                gen = yield read_once(it.generation, "gen = atomic_read(&iter->generation)")
                # On start, join the current reclaim iteration cycle. Exit when a
                # concurrent walker completes it.
                if prev is None:
                    reclaim.generation = gen
                elif reclaim.generation != gen:
                    if k.notes:
                        yield note(f"cookie gen {reclaim.generation} != {gen}: return NULL")
                    break  # goto out_unlock
                ptr = yield read_once(it.position, "pos = READ_ONCE(iter->position)")
                pos = ptr_memcg(ptr)
            else:
                pos = prev
            css = pos
            while True:
                css = yield from css_next_descendant_pre(k, css, root)
                if css is None:
                    break
                # The root is provided by the caller, so it is alive and kicking, and
                # takes no extra reference.
                if css == root or (yield css_tryget(k, css)):
                    break
            next = css
            if it is not None:
                # The position could have been updated by a competing thread: check that it
                # has not changed since it was read, to avoid reclaiming one cgroup twice.
                found = yield cmpxchg(it.position, memcg_ptr(pos), memcg_ptr(next),
                                      "cmpxchg(&iter->position, pos, next)")
                if found != memcg_ptr(pos):
                    if css is not None and css != root:
                        yield css_put(k, css)
                    continue  # goto restart
                if next is None:
                    yield atomic_inc(it.generation, "atomic_inc(&iter->generation)")
                    # Reclaimers share the hierarchy walk, and a new one might jump in right
                    # at the end of the hierarchy: make sure they see at least one group
                    # and restart from the beginning.
                    if prev is None:
                        continue  # goto restart
            break
        # out_unlock:
        yield RCU_READ_UNLOCK
        if prev is not None and prev != root:
            yield css_put(k, prev)
        if k.notes:
            yield note(f"return {k.name(next)}")
        return next

    def mem_cgroup_iter_break(self, root: int | None,
                              prev: int | None) -> Generator[Op, Any, None]:
        """``mem_cgroup_iter_break()``: drops the reference on ``prev``; the shared position
        stays where it is (at ``prev``, weakly)."""
        k = self.k
        if root is None:
            root = k.root_mem_cgroup
        if prev is not None and prev != root:
            yield css_put(k, prev)

    def mem_cgroup_css_released(self, memcg: int) -> Generator[Op, Any, None]:
        """``mem_cgroup_css_released()``: ``invalidate_reclaim_iterators()`` (and
        ``lru_gen_release_memcg()``, MGLRU, not modelled)."""
        yield from invalidate_reclaim_iterators(self.k, memcg)


def parent_mem_cgroup(k: KernelContext, memcg: int) -> int | None:
    """``parent_mem_cgroup()``: ``mem_cgroup_from_css(memcg->css.parent)``; v6.x always
    reaches the root (cgroup v1's non-hierarchical mode is gone since v5.11, so the
    ``use_hierarchy`` of the 3.x model does not stop it here)."""
    return k.topology.parent(memcg)


def __invalidate_reclaim_iterators(k: KernelContext, from_memcg: int,
                                   dead_memcg: int) -> Generator[Op, Any, None]:
    """``__invalidate_reclaim_iterators(from, dead_memcg)``: for each node,
    ``cmpxchg(&iter->position, dead_memcg, NULL)``. Iterators of roots no reclaimer walks
    hold NULL for ever, where the cmpxchg changes nothing, so they are not modelled."""
    for nid in k.nodes:
        it = k.layout.find_iter_node(from_memcg, nid)
        if it is not None:
            yield cmpxchg(it.position, memcg_ptr(dead_memcg), NULL,
                          f"__invalidate_reclaim_iterators({k.name(from_memcg)}, node{nid}): "
                          f"cmpxchg(&iter->position, {k.name(dead_memcg)}, NULL)")


def invalidate_reclaim_iterators(k: KernelContext, dead_memcg: int) -> Generator[Op, Any, None]:
    """``invalidate_reclaim_iterators()``: the dead group's own iterators, then every
    ancestor's up to the root; a separate pass over the root's when the parent chain stopped
    short of it (cgroup v1 non-hierarchical mode: dead code in v6.x, kept as in the C)."""
    memcg: int | None = dead_memcg
    last = dead_memcg
    while memcg is not None:
        yield from __invalidate_reclaim_iterators(k, memcg, dead_memcg)
        last = memcg
        memcg = parent_mem_cgroup(k, memcg)
    if last != k.root_mem_cgroup:
        yield from __invalidate_reclaim_iterators(k, k.root_mem_cgroup, dead_memcg)
