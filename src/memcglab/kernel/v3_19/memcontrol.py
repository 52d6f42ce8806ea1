"""Variant ``strong-cursor``: ``mem_cgroup_iter()`` of v3.19-v4.3 (5ac8fb31ad2e, Johannes
Weiner, "mm: memcontrol: fix reclaim iterator ... "; kernel_iterators.md 2.e1).

Read in a v3.19.8 tree (yuanguohuo/linux-3.19.8 @ a38bf8b12dbc) mm/memcontrol.c:1049-1164;
docs/research/iterator-history.md section 4 and 7.9.

* one ``struct reclaim_iter {position, generation}`` per (root, zone, priority); the
  position is a memcg pointer that owns a css reference;
* the reader spins ``do { pos = ACCESS_ONCE(iter->position); } while (pos &&
  !css_tryget(&pos->css));``;
* the walk (``css_next_descendant_pre``) wraps to the root for a starting walker
  (``if (!prev) continue;``) without touching the position or the generation;
* ``cmpxchg(&iter->position, pos, memcg)``: the winner moves the iterator's reference from
  ``pos`` to ``memcg``; the loser returns ``memcg`` all the same; ``iter->generation++`` is a
  plain increment;
* nothing clears the position when a group dies (no ``css_released`` in v3.19): a removed
  group stays pinned by the iterator's reference until another walk of the same iterator
  moves it on (fixed by 6df38689e0e9, the weak cursor).

The ``smp_load_acquire(&memcg->initialized)`` test (2f7dd7a4100a) is kept as an operation
free check: the v3.19+ cgroup core of the model links and onlines a group in one step, so
every group the walk meets is initialised. The cgroup core: ``css_tryget()`` is
``percpu_ref_tryget()`` (fails only at zero; include/linux/cgroup.h v3.19.8:139-144), and the
last put queues ``css_release_work_fn`` (kernel/cgroup.c v3.19.8:4423-4466), which frees the
memcg after a grace period.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, ClassVar

from memcglab.kernel.cgroup import css_get, css_put, css_tryget
from memcglab.kernel.context import KernelContext, ReclaimCookie
from memcglab.kernel.iter_css_id import (
    iter_generation_inc,
    mem_cgroup_iter_break,
    mem_cgroup_iter_out,
    mem_cgroup_iter_start,
)
from memcglab.kernel.iterator import Cookie, IterGen, MemcgIter
from memcglab.kernel.v6_18.cgroup import css_next_descendant_pre
from memcglab.model.layout import memcg_ptr, ptr_memcg
from memcglab.runtime.machine import Semantics
from memcglab.runtime.ops import (
    RCU_READ_LOCK,
    Op,
    cmpxchg,
    load,
    read_once,
)


def cursor_walk(k: KernelContext, pos: int | None, root: int,
                prev: int | None) -> Generator[Op, Any, int | None]:
    """The search of v3.19-v6.11 ``mem_cgroup_iter()`` from ``pos``: the first group after
    it in pre-order whose ``css_tryget`` succeeds (the root without a reference); a
    starting walker (no ``prev``) that reaches the end wraps to the root without touching
    the iterator (v3.19.8 :1097-1134, v4.4.1 :928-960, v6.11.11 :1043-1064). The
    ``initialized`` test of v3.19-v4.7 is always true here: the model's v3.19+ core makes a
    group in one step."""
    css = pos
    while True:
        css = yield from css_next_descendant_pre(k, css, root)
        if css is None:
            # Reclaimers share the hierarchy walk, and a new one might jump in right at the
            # end of the hierarchy - make sure they see at least one group and restart from
            # the beginning.
            if prev is None:
                continue
            return None
        # Verify the css and acquire a reference. The root is provided by the caller, so
        # we know it's alive and kicking, and don't take an extra reference.
        if css == root or (yield css_tryget(k, css)):
            return css


class StrongCursorIter(MemcgIter):
    """``mem_cgroup_iter`` of v3.19-v4.3: a cmpxchg'd position that holds a reference."""

    name: ClassVar[str] = "strong-cursor"
    kernels: ClassVar[str] = "v3.19-v4.3 (v3.19.8 as reference)"
    source: ClassVar[str] = ("Linux v3.19 mm/memcontrol.c mem_cgroup_iter(); 5ac8fb31ad2e")
    iter_fields: ClassVar[tuple[str, ...]] = ("position", "generation")
    pointer_fields: ClassVar[tuple[str, ...]] = ("position",)
    callers: ClassVar[str] = "3.10"
    generation_names: ClassVar[bool] = False  # a plain unsigned int, ++
    # The iterator's reference is taken by one walker and dropped by another.
    semantics: ClassVar[Semantics] = Semantics(tryget_fails_offline=False,
                                               rmdir_waits_for_refs=False,
                                               release_work=True,
                                               refs_owned_by_threads=False)

    def mem_cgroup_iter(self, root: int | None, prev: int | None,
                        reclaim: Cookie | None) -> IterGen:
        k = self.k
        memcg: int | None = None
        root, pos, taken, result = yield from mem_cgroup_iter_start(k, root, prev, reclaim)
        if taken:
            return result
        assert reclaim is None or isinstance(reclaim, ReclaimCookie)
        yield RCU_READ_LOCK
        it = k.iter(root, reclaim.zone, reclaim.priority) if reclaim is not None else None
        if it is not None and reclaim is not None:
            if prev is not None and reclaim.generation != (
                    yield load(it.generation, "iter->generation")):
                return (yield from mem_cgroup_iter_out(k, root, prev, None))  # out_unlock
            while True:
                pos = ptr_memcg((yield read_once(it.position,
                                                 "pos = ACCESS_ONCE(iter->position)")))
                if pos is None or (yield css_tryget(k, pos)):
                    break
        memcg = yield from cursor_walk(k, pos, root, prev)
        if it is not None and reclaim is not None:
            found = yield cmpxchg(it.position, memcg_ptr(pos), memcg_ptr(memcg),
                                  "cmpxchg(&iter->position, pos, memcg)")
            if found == memcg_ptr(pos):
                if memcg is not None:
                    yield css_get(k, memcg)
                if pos is not None:
                    yield css_put(k, pos)
            if pos is not None:
                yield css_put(k, pos)
            if memcg is None:
                yield from iter_generation_inc(it)
            elif prev is None:
                reclaim.generation = yield load(it.generation,
                                                "cookie->generation = iter->generation")
        # out_unlock: / out:
        return (yield from mem_cgroup_iter_out(k, root, prev, memcg))

    def mem_cgroup_iter_break(self, root: int | None,
                              prev: int | None) -> Generator[Op, Any, None]:
        yield from mem_cgroup_iter_break(self.k, root, prev)
