"""Variant ``weak-cursor``: ``mem_cgroup_iter()`` of v4.4-v6.11 (6df38689e0e9, Vladimir
Davydov; kernel_iterators.md 2.e2), in the four forms its iterator took.

Read in v4.4.1 (zanpocc/linux-4.4.1 @ d4321c96f179, mm/memcontrol.c:871-1024, 4351-4356),
v4.8.15 (squirrel20/linux-4.8.15 @ 6870c69a7d05, :764-906), v5.6.4 (shmily1012/linux-5.6.4
@ 93830a5cf2aa, :1020-1174) and v6.11.11 (segzix/linux-6.11.11 @ 323e1467a22a, :985-1138)
trees; docs/research/iterator-history.md section 5 and 7.9-7.13.

* ``iter->position`` is a memcg pointer without a reference, valid under RCU only; a reader
  ``css_tryget``s it and, when its count reached zero, clears it with a ``cmpxchg`` instead
  of waiting for ``css_released``;
* the walk (``css_next_descendant_pre``) wraps to the root for a starting walker without
  storing NULL or bumping the generation (the 2024 "double traversal" race);
* ``(void)cmpxchg(&iter->position, pos, memcg)``: the result is ignored, so the loser of
  the race returns the same group as the winner (the 2024 "double reclaim" race);
  ``iter->generation++`` is a plain increment (the 2024 "non-atomic generation" race);
* ``mem_cgroup_css_released()`` -> ``invalidate_reclaim_iterators()`` resets a position
  still pointing at the released group.

``version`` picks the form: ``4.4`` (one iterator per zone and priority; invalidation of
the ancestors' iterators only, from the parent up; the ``initialized`` test; the v3.x
callers that walk until ``nr_to_reclaim``), ``4.8`` (per node and priority, ef8f2327996b;
``initialized`` gone by v4.8.15; ``shrink_node``), ``5.5`` (per node, 9da83f3fc74b; the
callers walk every group without a cookie, 1ba6fc9af35b; the 2019 invalidation of the dead
group's own iterators and of the root's in cgroup v1 non-hierarchical mode, as in v5.6.4),
``6.11`` (default: the cookie joins the current generation on the first call, no
``use_hierarchy`` shortcut (gone with cgroup v1's non-hierarchical mode in v5.11), the
callers of 6be5e186fd65 with the full-walk retry, as v6.11.11). ``uaf_fix`` turns the 2019
invalidation on or off whatever the version (default: on from 5.5).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, ClassVar

from memcglab.kernel.cgroup import css_put, css_tryget
from memcglab.kernel.context import KernelContext, NodeReclaimCookie, ReclaimCookie
from memcglab.kernel.iter_css_id import (
    iter_generation_inc,
    mem_cgroup_iter_break,
    mem_cgroup_iter_out,
    use_hierarchy_shortcut,
)
from memcglab.kernel.iterator import Cookie, IterGen, MemcgIter, Setting
from memcglab.kernel.v3_10.memcontrol import parent_mem_cgroup
from memcglab.kernel.v3_19.memcontrol import cursor_walk
from memcglab.kernel.v6_18.context import ReclaimCookie as NodeCookie
from memcglab.model.layout import NULL, IterSlots, memcg_ptr, ptr_memcg
from memcglab.runtime.machine import Semantics
from memcglab.runtime.ops import (
    RCU_READ_LOCK,
    Op,
    cmpxchg,
    load,
    note,
    read_once,
)

# version -> (iterator scope, reclaim callers, simulator era)
_FORMS = {"4.4": ("zone", "3.10", "3.7"), "4.8": ("node-priority", "4.8", "3.7"),
          "5.5": ("node", "5.5", "6.18"), "6.11": ("node", "6.18", "6.18")}


class WeakCursorIter(MemcgIter):
    """``mem_cgroup_iter`` of v4.4-v6.11: a cmpxchg'd position without a reference."""

    name: ClassVar[str] = "weak-cursor"
    kernels: ClassVar[str] = "v4.4-v6.11 (version=4.4|4.8|5.5|6.11; default 6.11.11)"
    source: ClassVar[str] = ("Linux v4.4-v6.11 mm/memcontrol.c mem_cgroup_iter(); "
                             "6df38689e0e9, ef8f2327996b, 9da83f3fc74b")
    iter_fields: ClassVar[tuple[str, ...]] = ("position", "generation")
    pointer_fields: ClassVar[tuple[str, ...]] = ("position",)
    era: ClassVar[str] = "6.18"
    callers: ClassVar[str] = "6.18"
    iter_scope: ClassVar[str] = "node"
    generation_names: ClassVar[bool] = False  # a plain unsigned int, ++
    semantics: ClassVar[Semantics] = Semantics(tryget_fails_offline=False,
                                               rmdir_waits_for_refs=False,
                                               release_work=True)
    settings: ClassVar[dict[str, Setting]] = {
        "version": Setting("6.11", tuple(_FORMS), "which kernel's form: the iterator's "
                           "scope, the callers, the invalidation"),
        "uaf_fix": Setting("auto", ("auto", "on", "off"), "2019: invalidate the dead "
                           "group's own iterators and the root's (auto: on from 5.5)"),
    }
    version: ClassVar[str] = "6.11"
    uaf_fix: ClassVar[str] = "auto"
    full_walk_retry: ClassVar[bool] = True  # v6.11 (read by kernel.v6_18.vmscan)

    @classmethod
    def configured(cls, values: dict[str, str]) -> dict[str, Any]:
        scope, callers, era = _FORMS[values["version"]]
        # memcg_full_walk and its retry came with 6be5e186fd65 (v6.11): the v5.5-v6.10
        # callers give up after the priority loop and their own retries (memcglab run's
        # v6.18 do_try_to_free_pages reads this).
        return {"iter_scope": scope, "callers": callers, "era": era,
                "full_walk_retry": values["version"] == "6.11"}

    def _uaf_fixed(self) -> bool:
        return self.uaf_fix == "on" or (self.uaf_fix == "auto"
                                        and self.version in ("5.5", "6.11"))

    def _iter(self, root: int, reclaim: Cookie) -> IterSlots:
        k = self.k
        if self.version == "4.4":
            assert isinstance(reclaim, ReclaimCookie)
            return k.iter(root, reclaim.zone, reclaim.priority)
        if self.version == "4.8":
            assert isinstance(reclaim, ReclaimCookie)
            # A zone's cookie (memcglab run's v3.7 soft-limit reclaim): the zone's node.
            nid = reclaim.pgdat if isinstance(reclaim, NodeReclaimCookie) else \
                k.layout.zones[reclaim.zone].nid
            return k.layout.iter_node_prio(root, nid, reclaim.priority)
        assert isinstance(reclaim, NodeCookie)
        return k.iter_node(root, reclaim.pgdat)

    def mem_cgroup_iter(self, root: int | None, prev: int | None,
                        reclaim: Cookie | None) -> IterGen:
        k = self.k
        memcg: int | None = None
        pos: int | None = None
        if root is None:
            root = k.root_mem_cgroup
        if k.notes:
            yield note(f"mem_cgroup_iter({k.name(root)}, prev={k.name(prev)})")
        if prev is not None and reclaim is None:
            pos = prev
        if self.version != "6.11":  # gone with cgroup v1's non-hierarchical mode (v5.11)
            taken, result = yield from use_hierarchy_shortcut(k, root, prev)
            if taken:
                return result
        yield RCU_READ_LOCK
        it = self._iter(root, reclaim) if reclaim is not None else None
        if it is not None and reclaim is not None:
            if self.version == "6.11" and prev is None:
                reclaim.generation = yield load(it.generation,
                                                "reclaim->generation = iter->generation")
            elif prev is not None and reclaim.generation != (
                    yield load(it.generation, "iter->generation")):
                return (yield from self._out_unlock(root, prev, None))
            while True:
                pos = ptr_memcg((yield read_once(it.position,
                                                 "pos = READ_ONCE(iter->position)")))
                if pos is None or (yield css_tryget(k, pos)):
                    break
                # css reference reached zero, so iter->position will be cleared by
                # ->css_released. However, we should not rely on this happening soon,
                # because ->css_released is called from a work queue, and by busy-waiting
                # we might block it. So we clear iter->position right away.
                yield cmpxchg(it.position, memcg_ptr(pos), NULL,
                              "(void)cmpxchg(&iter->position, pos, NULL)")
        memcg = yield from cursor_walk(k, pos, root, prev)
        if it is not None and reclaim is not None:
            # The position could have already been updated by a competing thread, so check
            # that the value hasn't changed since we read it to avoid reclaiming from the
            # same cgroup twice.
            yield cmpxchg(it.position, memcg_ptr(pos), memcg_ptr(memcg),
                          "(void)cmpxchg(&iter->position, pos, memcg)")
            if pos is not None:
                yield css_put(k, pos)
            if memcg is None:
                yield from iter_generation_inc(it)
            elif prev is None and self.version != "6.11":
                reclaim.generation = yield load(it.generation,
                                                "reclaim->generation = iter->generation")
        return (yield from self._out_unlock(root, prev, memcg))

    def _out_unlock(self, root: int, prev: int | None,
                    memcg: int | None) -> Generator[Op, Any, int | None]:
        return (yield from mem_cgroup_iter_out(self.k, root, prev, memcg))

    def mem_cgroup_iter_break(self, root: int | None,
                              prev: int | None) -> Generator[Op, Any, None]:
        yield from mem_cgroup_iter_break(self.k, root, prev)

    def mem_cgroup_css_released(self, memcg: int) -> Generator[Op, Any, None]:
        """``mem_cgroup_css_released()`` -> ``invalidate_reclaim_iterators()``."""
        yield from invalidate_reclaim_iterators(self.k, self, memcg)


def __invalidate_reclaim_iterators(k: KernelContext, variant: WeakCursorIter,
                                   from_memcg: int, dead_memcg: int
                                   ) -> Generator[Op, Any, None]:
    """v5.6+ ``__invalidate_reclaim_iterators(from, dead_memcg)`` (v4.4 / v4.8: the body of
    the loop): ``cmpxchg(&iter->position, dead_memcg, NULL)`` for every iterator of
    ``from`` (each zone and priority, each node and priority, or each node). Iterators of
    roots no reclaimer walks hold NULL for ever and are not modelled."""
    lay = k.layout
    for it in lay.iter_list:
        if it.key.root == from_memcg:
            yield cmpxchg(it.position, memcg_ptr(dead_memcg), NULL,
                          f"__invalidate_reclaim_iterators({k.name(from_memcg)}): "
                          f"cmpxchg(&{it.label}.position, {k.name(dead_memcg)}, NULL)")


def invalidate_reclaim_iterators(k: KernelContext, variant: WeakCursorIter,
                                 dead_memcg: int) -> Generator[Op, Any, None]:
    """v4.4-v5.3: ``while ((memcg = parent_mem_cgroup(memcg)))``, the ancestors only
    (v4.4.1 :1004-1024); the 2019 fix (v5.6.4 :1155-1174): ``do { ... } while``, the dead
    group's own iterators too, then the root's when the parent chain stopped short of it
    (cgroup v1 non-hierarchical mode)."""
    memcg: int | None = dead_memcg
    if not variant._uaf_fixed():
        while (memcg := parent_mem_cgroup(k, memcg)) is not None:  # type: ignore[arg-type]
            yield from __invalidate_reclaim_iterators(k, variant, memcg, dead_memcg)
        return
    last = dead_memcg
    while memcg is not None:
        yield from __invalidate_reclaim_iterators(k, variant, memcg, dead_memcg)
        last = memcg
        memcg = parent_mem_cgroup(k, memcg)
    if last != k.root_mem_cgroup:
        yield from __invalidate_reclaim_iterators(k, variant, k.root_mem_cgroup, dead_memcg)
