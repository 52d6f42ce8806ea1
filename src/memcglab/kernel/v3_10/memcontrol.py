"""Variants ``pointer-ref-lock`` and ``dead-count``: ``mem_cgroup_iter()`` of the seed series
as it landed (v3.10 merge window) and of v3.10-v3.18.

Both cache a ``struct mem_cgroup *last_visited`` in the shared iterator instead of a css id,
and walk the cgroup tree in pre-order (``cgroup_next_descendant_pre`` /
``css_next_descendant_pre``, :mod:`memcglab.kernel.v3_10.cgroup`). Sources and every line
cited: docs/research/iterator-history.md sections 2, 3 and 7.3-7.8.

``pointer-ref-lock`` ("[patch v2 3/6] memcg: rework mem_cgroup_iter to use cgroup
iterators", Michal Hocko 2012-11-26, quoted in full in
<CALWz4iwrJtG-YUkA8ZpQC=JDMs3_ZRqwjrg+OEEO+_HA_KM9UA@mail.gmail.com>; with the seed's
``iter_lock`` folded in: v4 2/6, 542f85f9ae4a). The iterator owns a css reference on the
group it caches (``css_get`` before the store, ``css_put`` of the old one), taken under
``iter_lock`` so that two walkers cannot both drop the old one (the commit message: "two
racing walkers could both take a references and only one release it leading to a css
leak"). Setting ``iter_lock=off`` brings that leak back. Ying Han tested it on 3.7-rc6 with
the two cgroup patches it needs, so it runs on the v3.7 cgroup core: rmdir waits for the
css references, and the one the iterator keeps makes it wait for ever (her "ls hangs",
kernel_iterators.md 2.c). Never in a release.

``dead-count`` (5f5781619718 "memcg: relax memcg iter caching", v3.10; v3.10.99 and v3.14.1
trees): no reference is kept; ``last_visited`` is validated by a sequence count,
``root->dead_count``, which ``mem_cgroup_css_offline()`` bumps in every ancestor of a
dying group; the reader compares ``iter->last_dead_count`` with it, then (``smp_rmb``) loads
the pointer and ``css_tryget``s it under RCU. Settings:

* ``version=3.10``: ``__mem_cgroup_iter_next`` visits the root by hand and walks with
  ``cgroup_next_descendant_pre`` (v3.10.99 mm/memcontrol.c:1113-1151, 1169-1255);
  ``version=3.14`` (default): ``mem_cgroup_iter_load`` / ``_update`` and the v3.12
  ``css_next_descendant_pre`` that yields the root itself (v3.14.1 :1106-1284);
* ``rmb_fix`` (Johannes Weiner, "mm: memcontrol: fix lockless reclaim hierarchy iterator",
  <1370472826-29959-1-git-send-email-hannes@cmpxchg.org>, stable 3.10+): off, the v3.10-rc
  load reads the pointer before it compares ``iter->last_dead_count``;
* ``root_tryget_fix`` (ecc736fc3c71, 2014): off, the load ``css_tryget``s the root too, and
  a removed root makes the walk return the root for ever;
* ``root_leak_fix`` (0eef615665ed, 3.14 form only): off, the walk ``css_tryget``s the root
  it now yields, and nobody puts that reference;
* ``online_check`` (d8ad30559715, 3.14 form only): off, a group linked but not yet through
  ``css_online()`` is returned; ``online_check_order`` (Hugh Dickins, 2014-02-12, Fixes
  0eef615665ed): off, the ``CSS_ONLINE`` test comes before the root test and an offline
  root makes a starting walker loop for ever. (2f7dd7a4100a's acquire / release on
  ``memcg->initialized`` orders the initialising stores against the flag; the model is
  sequentially consistent, so that refinement has nothing to show here.)

Barriers: ``smp_rmb`` / ``smp_wmb`` order the loads and stores around them; each access is
its own operation here, in program order, which is what those barriers guarantee.
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
from memcglab.kernel.iterator import Cookie, IterGen, MemcgIter, Setting
from memcglab.kernel.v3_10.cgroup import cgroup_next_descendant_pre, css_online_test
from memcglab.kernel.v6_18.cgroup import css_next_descendant_pre
from memcglab.model.layout import NULL, IterSlots, memcg_ptr, ptr_memcg
from memcglab.runtime.machine import Semantics
from memcglab.runtime.ops import (
    RCU_READ_LOCK,
    Op,
    atomic_inc,
    load,
    read_once,
    spin_lock,
    spin_unlock,
    store,
)

_ON_OFF = ("on", "off")


def parent_mem_cgroup(k: KernelContext, memcg: int) -> int | None:
    """v3.x ``parent_mem_cgroup()``: the memcg of ``memcg->res.parent``, which is NULL when
    the cgroup parent is not hierarchical (cgroup v1 ``use_hierarchy = 0``)."""
    parent = k.topology.parent(memcg)
    if parent is None or not k.use_hierarchy(parent):
        return None
    return parent


class PointerRefLockIter(MemcgIter):
    """``mem_cgroup_iter`` of the seed series' 3/6 (542f85f9ae4a): a cached pointer that
    holds a css reference, under ``iter_lock``."""

    name: ClassVar[str] = "pointer-ref-lock"
    kernels: ClassVar[str] = "the seed series v2 3/6 = 542f85f9ae4a (v3.10 merge window)"
    source: ClassVar[str] = ("[patch v2 3/6] memcg: rework mem_cgroup_iter to use cgroup "
                             "iterators (Michal Hocko, 2012-11-26); 542f85f9ae4a")
    iter_fields: ClassVar[tuple[str, ...]] = ("last_visited", "generation", "iter_lock")
    pointer_fields: ClassVar[tuple[str, ...]] = ("last_visited",)
    callers: ClassVar[str] = "3.10"
    generation_names: ClassVar[bool] = False  # a plain unsigned int, ++
    # The v3.8+ cgroup core (542f85f9ae4a's): rmdir kills and does not wait for css
    # references ("cgroup: kill CSS_REMOVED"), so a cached reference leaks the group; the
    # iterator keeps a reference that another thread drops (Machine._put).
    semantics: ClassVar[Semantics] = Semantics(rmdir_waits_for_refs=False,
                                               refs_owned_by_threads=False)
    settings: ClassVar[dict[str, Setting]] = {
        "iter_lock": Setting("on", _ON_OFF, "the seed's spinlock around the cached pointer "
                             "(off: two walkers both put the cached group: 542f85f9ae4a)"),
        "core": Setting("3.8", ("3.8", "3.7"), "the cgroup core: 3.8 (rmdir does not wait; "
                        "a pinned group leaks) or 3.7 (rmdir waits for the css references: "
                        "Ying Han's 3.7-rc6 test, where it hangs)"),
    }
    iter_lock: ClassVar[bool] = True
    core: ClassVar[str] = "3.8"

    @classmethod
    def configured(cls, values: dict[str, str]) -> dict[str, Any]:
        waits = values["core"] == "3.7"
        return {"semantics": Semantics(rmdir_waits_for_refs=waits,
                                       refs_owned_by_threads=False)}

    def mem_cgroup_iter(self, root: int | None, prev: int | None,
                        reclaim: Cookie | None) -> IterGen:
        k = self.k
        memcg: int | None = None
        root, last_visited, taken, result = yield from mem_cgroup_iter_start(k, root, prev, reclaim)
        if taken:
            return result
        assert reclaim is None or isinstance(reclaim, ReclaimCookie)
        yield RCU_READ_LOCK
        while memcg is None:
            css: int | None = None
            it: IterSlots | None = None
            if reclaim is not None:
                it = k.iter(root, reclaim.zone, reclaim.priority)
                if self.iter_lock:
                    yield spin_lock(it.iter_lock)
                last_visited = ptr_memcg((yield load(it["last_visited"],
                                                     "last_visited = iter->last_visited")))
                if prev is not None:
                    gen = yield load(it.generation, "iter->generation")
                    if reclaim.generation != gen:
                        if last_visited is not None:
                            yield css_put(k, last_visited)
                            yield store(it["last_visited"], NULL, "iter->last_visited")
                        if self.iter_lock:
                            yield spin_unlock(it.iter_lock)
                        break  # goto out_unlock
            # Root is not visited by cgroup iterators so it needs an explicit visit.
            if last_visited is None:
                css = root
            else:
                prev_cgroup = None if last_visited == root else last_visited
                css = yield from cgroup_next_descendant_pre(k, prev_cgroup, root)
            # Even if we found a group we have to make sure it is alive.
            if css == root or (css is not None and (yield css_tryget(k, css))):
                memcg = css
            if it is not None and reclaim is not None:
                curr = memcg
                if last_visited is not None:
                    yield css_put(k, last_visited)
                if css is not None and memcg is None:
                    curr = css
                # make sure that the cached memcg is not removed
                if curr is not None:
                    yield css_get(k, curr)
                yield store(it["last_visited"], memcg_ptr(curr), "iter->last_visited")
                if css is None:
                    yield from iter_generation_inc(it)
                elif prev is None and memcg is not None:
                    reclaim.generation = yield load(it.generation,
                                                    "cookie->generation = iter->generation")
                if self.iter_lock:
                    yield spin_unlock(it.iter_lock)
            elif css is not None and memcg is None:
                last_visited = css
            if prev is not None and css is None:
                break  # goto out_unlock
        # out_unlock: / out_css_put:
        return (yield from mem_cgroup_iter_out(k, root, prev, memcg))

    def mem_cgroup_iter_break(self, root: int | None,
                              prev: int | None) -> Generator[Op, Any, None]:
        yield from mem_cgroup_iter_break(self.k, root, prev)


class DeadCountIter(MemcgIter):
    """``mem_cgroup_iter`` of v3.10-v3.18: a weak cached pointer checked by
    ``root->dead_count``."""

    name: ClassVar[str] = "dead-count"
    kernels: ClassVar[str] = "v3.10-v3.18 (v3.14.1 as reference; version=3.10: v3.10.99)"
    source: ClassVar[str] = ("Linux v3.14 mm/memcontrol.c mem_cgroup_iter(); 5f5781619718 "
                             "memcg: relax memcg iter caching")
    iter_fields: ClassVar[tuple[str, ...]] = ("last_visited", "last_dead_count",
                                              "generation")
    group_fields: ClassVar[tuple[str, ...]] = ("dead_count",)
    pointer_fields: ClassVar[tuple[str, ...]] = ("last_visited",)
    callers: ClassVar[str] = "3.10"
    generation_names: ClassVar[bool] = False  # a plain unsigned int, ++
    # The v3.10-v3.18 cgroup core: rmdir does not wait; tryget fails once killed; the last
    # put frees after a grace period (kernel/cgroup.c v3.14 css_release()).
    semantics: ClassVar[Semantics] = Semantics(rmdir_waits_for_refs=False)
    settings: ClassVar[dict[str, Setting]] = {
        "version": Setting("3.14", ("3.10", "3.14"),
                           "3.10: the root visited by hand, cgroup_next_descendant_pre; "
                           "3.14: mem_cgroup_iter_load/_update, css_next_descendant_pre"),
        "rmb_fix": Setting("on", _ON_OFF, "compare last_dead_count before loading the "
                           "pointer (off: the v3.10-rc order, a stale pointer passes)"),
        "root_tryget_fix": Setting("on", _ON_OFF, "ecc736fc3c71: no css_tryget on the walk's "
                                   "root (off: a removed root is returned for ever)"),
        "root_leak_fix": Setting("on", _ON_OFF, "0eef615665ed (3.14): no reference on the "
                                 "root the walker yields (off: it leaks)"),
        "online_check": Setting("on", _ON_OFF, "d8ad30559715 (3.14): skip groups not yet "
                                "through css_online() (off: return them)"),
        "online_check_order": Setting("on", _ON_OFF, "Hugh Dickins 2014 (3.14): the root "
                                      "test before the CSS_ONLINE test (off: an offline "
                                      "root makes a new walk loop for ever)"),
        "loop_reset": Setting("on", _ON_OFF, "519ebea3bf6d (v3.11, backported to 3.10.y in "
                              "2017): each pass of the loop loads last_visited afresh (off: "
                              "the v3.10.99 code keeps the group the previous pass put, and "
                              "puts it again: Wenwei Tao's double css_put)"),
    }
    version: ClassVar[str] = "3.14"
    rmb_fix: ClassVar[bool] = True
    root_tryget_fix: ClassVar[bool] = True
    root_leak_fix: ClassVar[bool] = True
    online_check: ClassVar[bool] = True
    online_check_order: ClassVar[bool] = True
    loop_reset: ClassVar[bool] = True
    # The cgroup core's removal (kernel.v3_10.cgroup.cgroup_rmdir): v3.10 offlines in rmdir
    # itself; v3.11+ only after the sched-RCU grace period of percpu_ref_kill_and_confirm().
    offline_after_grace_period: ClassVar[bool] = True

    @classmethod
    def configured(cls, values: dict[str, str]) -> dict[str, Any]:
        return {"offline_after_grace_period": values["version"] != "3.10"}

    # -- v3.10: mm/memcontrol.c:1113-1151 -------------------------------------------------

    def _iter_next_310(self, root: int, last_visited: int | None
                       ) -> Generator[Op, Any, int | None]:
        """v3.10 ``__mem_cgroup_iter_next(root, last_visited)``."""
        k = self.k
        # Root is not visited by cgroup iterators so it needs an explicit visit.
        if last_visited is None:
            return root
        prev_cgroup = None if last_visited == root else last_visited
        while True:  # skip_node:
            next_cgroup = yield from cgroup_next_descendant_pre(k, prev_cgroup, root)
            if next_cgroup is None:
                return None
            if (yield css_tryget(k, next_cgroup)):
                return next_cgroup
            prev_cgroup = next_cgroup

    # -- v3.14: mm/memcontrol.c:1106-1201 -------------------------------------------------

    def __mem_cgroup_iter_next(self, root: int, last_visited: int | None
                               ) -> Generator[Op, Any, int | None]:
        """v3.14 ``__mem_cgroup_iter_next(root, last_visited)``."""
        k = self.k
        prev_css = last_visited
        while True:  # skip_node:
            next_css = yield from css_next_descendant_pre(k, prev_css, root)
            if next_css is None:
                return None
            # 0eef615665ed exempts the root from css_tryget (the caller holds it).
            exempt = next_css == root and self.root_leak_fix
            if self.online_check_order:
                # (next_css == &root->css) ||
                # ((next_css->flags & CSS_ONLINE) && css_tryget(next_css))
                if exempt:
                    return next_css
                if (not self.online_check or (yield css_online_test(k, next_css))) and (
                        yield css_tryget(k, next_css)):
                    return next_css
            # (next_css->flags & CSS_ONLINE) &&
            # (next_css == &root->css || css_tryget(next_css))
            elif (not self.online_check or (yield css_online_test(k, next_css))) and (
                    exempt or (yield css_tryget(k, next_css))):
                return next_css
            prev_css = next_css

    def mem_cgroup_iter_load(self, it: IterSlots, root: int
                             ) -> Generator[Op, Any, tuple[int | None, int, bool]]:
        """v3.14 ``mem_cgroup_iter_load()`` (v3.10: inline, the same code). Returns the
        position (with a reference unless it is the root), the sequence read, and whether
        the position was loaded (v3.10 assigns ``last_visited`` only then)."""
        k = self.k
        position: int | None = None
        dead_count_slot = k.layout.group_fields["dead_count"][root]
        sequence: int = yield read_once(dead_count_slot,
                                        f"sequence = atomic_read(&{k.name(root)}->dead_count)")
        skip_root = self.root_tryget_fix
        if self.rmb_fix:
            last = yield load(it["last_dead_count"], "iter->last_dead_count")
            if last == sequence:
                # smp_rmb()
                position = ptr_memcg((yield load(it["last_visited"],
                                                 "position = iter->last_visited")))
                if position is not None and not (skip_root and position == root) and \
                        not (yield css_tryget(k, position)):
                    position = None
                return position, sequence, True
            return position, sequence, False
        # The v3.10-rc order: smp_rmb(), the pointer, then the count compared.
        position = ptr_memcg((yield load(it["last_visited"], "position = iter->last_visited")))
        if position is not None:
            last = yield load(it["last_dead_count"], "iter->last_dead_count")
            if last != sequence or (not (skip_root and position == root)
                                    and not (yield css_tryget(k, position))):
                position = None
        return position, sequence, True

    def mem_cgroup_iter_update(self, it: IterSlots, last_visited: int | None,
                               new_position: int | None, root: int,
                               sequence: int) -> Generator[Op, Any, None]:
        """v3.14 ``mem_cgroup_iter_update()``."""
        # root reference counting symmetric to mem_cgroup_iter_load
        if last_visited is not None and not (self.root_tryget_fix and last_visited == root):
            yield css_put(self.k, last_visited)
        # We store the sequence count from the time @last_visited was loaded successfully
        # instead of rereading it here so that we don't lose destruction events in between.
        yield store(it["last_visited"], memcg_ptr(new_position), "iter->last_visited")
        # smp_wmb()
        yield store(it["last_dead_count"], sequence, "iter->last_dead_count")

    def mem_cgroup_iter(self, root: int | None, prev: int | None,
                        reclaim: Cookie | None) -> IterGen:
        k = self.k
        memcg: int | None = None
        root, last_visited, taken, result = yield from mem_cgroup_iter_start(k, root, prev, reclaim)
        if taken:
            return result
        assert reclaim is None or isinstance(reclaim, ReclaimCookie)
        yield RCU_READ_LOCK
        while memcg is None:
            it: IterSlots | None = None
            seq = 0
            if reclaim is not None:
                it = k.iter(root, reclaim.zone, reclaim.priority)
                if prev is not None:
                    gen = yield load(it.generation, "iter->generation")
                    if reclaim.generation != gen:
                        yield store(it["last_visited"], NULL, "iter->last_visited")
                        break  # goto out_unlock
                position, seq, loaded = yield from self.mem_cgroup_iter_load(it, root)
                # v3.10.99 (loop_reset=off): a pass whose count does not match keeps the
                # last_visited of the pass before, which that pass's update already put.
                if loaded or self.loop_reset or self.version != "3.10":
                    last_visited = position
            if self.version == "3.10":
                memcg = yield from self._iter_next_310(root, last_visited)
            else:
                memcg = yield from self.__mem_cgroup_iter_next(root, last_visited)
            if it is not None and reclaim is not None:
                yield from self.mem_cgroup_iter_update(it, last_visited, memcg, root, seq)
                if memcg is None:
                    yield from iter_generation_inc(it)
                elif prev is None:
                    reclaim.generation = yield load(it.generation,
                                                    "cookie->generation = iter->generation")
            if prev is not None and memcg is None:
                break  # goto out_unlock
        # out_unlock: / out_css_put:
        return (yield from mem_cgroup_iter_out(k, root, prev, memcg))

    def mem_cgroup_iter_break(self, root: int | None,
                              prev: int | None) -> Generator[Op, Any, None]:
        yield from mem_cgroup_iter_break(self.k, root, prev)

    def mem_cgroup_css_offline(self, memcg: int) -> Generator[Op, Any, None]:
        """``mem_cgroup_css_offline()`` -> ``mem_cgroup_invalidate_reclaim_iterators()``
        (v3.14 :6579-6592): every ancestor's ``dead_count`` bumped (not the group's own),
        and the root's when it is not hierarchical."""
        k = self.k
        parent: int | None = memcg
        while (parent := parent_mem_cgroup(k, parent)) is not None:  # type: ignore[arg-type]
            yield atomic_inc(k.layout.group_fields["dead_count"][parent],
                             f"atomic_inc(&{k.name(parent)}->dead_count)")
        # if the root memcg is not hierarchical we have to check it explicitely.
        if not k.use_hierarchy(k.root_mem_cgroup):
            yield atomic_inc(k.layout.group_fields["dead_count"][k.root_mem_cgroup],
                             f"atomic_inc(&{k.name(k.root_mem_cgroup)}->dead_count)")
