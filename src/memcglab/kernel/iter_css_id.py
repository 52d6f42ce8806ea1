"""Variant ``css-id``: the unlocked css-id reclaim iterator of v3.3 - v3.9.

Models Linux v3.7 mm/memcontrol.c ``mem_cgroup_iter()`` and ``mem_cgroup_iter_break()``
(read at x86-8/linux-3.7 @ 30159e2cc505, a v3.7 tree; the body matches the context lines of
the seed patch), introduced by commits 5660048ccac8 ("mm: move memcg hierarchy reclaim to
generic reclaim code") and 527a5ec9a534 ("mm: memcg: per-priority per-zone hierarchy scan
generations"), v3.3.

Every load and store of ``iter->position`` and ``iter->generation`` is a plain,
unsynchronised access and therefore its own interleaving point. ``iter->generation++`` is a
load and a store. This is the code whose two races the seed patch describes:

* race 1: two reclaimers read the same ``position`` and both reclaim the group after it;
* race 2: a reclaimer sees the reset ``position`` (0) with the old ``generation`` and
  restarts the walk from the root inside the old round.

The ``use_iter_lock`` class attribute adds the seed patch's spinlock
(:mod:`memcglab.kernel.iter_seed_spinlock`); everything else is shared.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, ClassVar

from memcglab.kernel.cgroup import css_get_next, css_put, css_tryget
from memcglab.kernel.context import KernelContext, ReclaimCookie
from memcglab.kernel.iterator import Cookie, IterGen, MemcgIter
from memcglab.model.layout import IterSlots
from memcglab.runtime.ops import (
    RCU_READ_LOCK,
    RCU_READ_UNLOCK,
    Op,
    load,
    note,
    spin_lock,
    spin_unlock,
    store,
)


class CssIdIter(MemcgIter):
    """``mem_cgroup_iter`` of v3.7: css-id cursor, no lock."""

    name: ClassVar[str] = "css-id"
    kernels: ClassVar[str] = "v3.3-v3.9 (v3.7 as reference)"
    source: ClassVar[str] = ("Linux v3.7 mm/memcontrol.c mem_cgroup_iter(); "
                             "commits 5660048ccac8, 527a5ec9a534")
    iter_fields: ClassVar[tuple[str, ...]] = ("position", "generation")
    use_iter_lock: ClassVar[bool] = False

    def mem_cgroup_iter(self, root: int | None, prev: int | None,
                        reclaim: Cookie | None) -> IterGen:
        k = self.k
        memcg: int | None = None
        id = 0
        if root is None:
            root = k.root_mem_cgroup
        if k.notes:
            yield note(f"mem_cgroup_iter({k.name(root)}, prev={k.name(prev)})")
        if prev is not None and reclaim is None:
            id = yield load(k.layout.cssid[prev], "id = css_id(prev)")
        # v3.7 drops the caller's reference on prev first (moved to the exit by the seed
        # series' patch 2/6).
        if prev is not None and prev != root:
            yield css_put(k, prev)
        if not k.use_hierarchy(root) and root != k.root_mem_cgroup:
            return None if prev is not None else root

        assert reclaim is None or isinstance(reclaim, ReclaimCookie)
        while memcg is None:
            it = None
            if reclaim is not None:
                it = k.iter(root, reclaim.zone, reclaim.priority)
                if self.use_iter_lock:
                    yield spin_lock(it.iter_lock)
                if prev is not None:
                    gen = yield load(it.generation, "gen = iter->generation")
                    if reclaim.generation != gen:
                        if self.use_iter_lock:
                            yield spin_unlock(it.iter_lock)
                        if k.notes:
                            yield note(f"cookie gen {reclaim.generation} != {gen}: "
                                       "return NULL")
                        return None
                id = yield load(it.position, "pos = iter->position")

            if k.rcu:
                yield RCU_READ_LOCK
            css = yield css_get_next(k, id + 1, root)
            if css is not None:
                found, id = css
                if found == root or (yield css_tryget(k, found)):
                    memcg = found
            else:
                id = 0
            if k.rcu:
                yield RCU_READ_UNLOCK

            if it is not None and reclaim is not None:
                yield store(it.position, id, "iter->position")
                if css is None:
                    # iter_generation_inc(it), inline: the 3.x variants' states keep their
                    # dead locals (no dead-variable reduction), so a helper frame would
                    # change the published state counts of css-id and seed-spinlock.
                    g = yield load(it.generation, "g = iter->generation")
                    yield store(it.generation, g + 1, "iter->generation")
                elif prev is None and memcg is not None:
                    reclaim.generation = yield load(it.generation,
                                                    "cookie->generation = iter->generation")
                if self.use_iter_lock:
                    yield spin_unlock(it.iter_lock)

            if prev is not None and css is None:
                if k.notes:
                    yield note("end of round: return NULL")
                return None
        if k.notes:
            yield note(f"return {k.name(memcg)}")
        return memcg

    def mem_cgroup_iter_break(self, root: int | None,
                              prev: int | None) -> Generator[Op, Any, None]:
        yield from mem_cgroup_iter_break(self.k, root, prev)


def iter_generation_inc(it: IterSlots) -> Generator[Op, Any, None]:
    """``iter->generation++`` on a plain ``unsigned int`` (v3.3-v6.11): a load and a store,
    two steps another walker can come between (the 2024 lost bump)."""
    g = yield load(it.generation, "g = iter->generation")
    yield store(it.generation, g + 1, "iter->generation")


def mem_cgroup_iter_break(k: KernelContext, root: int | None,
                          prev: int | None) -> Generator[Op, Any, None]:
    """``mem_cgroup_iter_break()``: the caller's reference on ``prev`` dropped (the root
    holds none). The same code from v3.3 to v6.18; every variant's method calls this."""
    if root is None:
        root = k.root_mem_cgroup
    if prev is not None and prev != root:
        yield css_put(k, prev)


def mem_cgroup_iter_start(k: KernelContext, root: int | None, prev: int | None,
                          reclaim: object) -> Generator[Op, Any, tuple[int, int | None, bool,
                                                                        int | None]]:
    """The opening every ``mem_cgroup_iter()`` from v3.10 to v5.10 shares: ``if (!root)
    root = root_mem_cgroup; if (prev && !reclaim) pos = prev;`` and the ``use_hierarchy``
    shortcut. Returns (root, the cookie-less walk's start, taken, result)."""
    if root is None:
        root = k.root_mem_cgroup
    if k.notes:
        yield note(f"mem_cgroup_iter({k.name(root)}, prev={k.name(prev)})")
    pos = prev if prev is not None and reclaim is None else None
    taken, result = yield from use_hierarchy_shortcut(k, root, prev)
    return root, pos, taken, result


def mem_cgroup_iter_out(k: KernelContext, root: int, prev: int | None,
                        memcg: int | None) -> Generator[Op, Any, int | None]:
    """The closing they share: ``out_unlock: rcu_read_unlock(); out: if (prev && prev !=
    root) css_put(&prev->css); return memcg;``."""
    yield RCU_READ_UNLOCK
    if prev is not None and prev != root:
        yield css_put(k, prev)
    if k.notes:
        yield note(f"return {k.name(memcg)}")
    return memcg


def use_hierarchy_shortcut(k: KernelContext, root: int, prev: int | None
                           ) -> Generator[Op, Any, tuple[bool, int | None]]:
    """v3.10-v5.10 ``if (!root->use_hierarchy && root != root_mem_cgroup) { if (prev) goto
    out; return root; }``: a limit-reclaim root without hierarchy is its own only group.
    Returns (taken, result); when taken, ``out`` has put ``prev``."""
    if k.use_hierarchy(root) or root == k.root_mem_cgroup:
        return False, None
    if prev is not None:
        if prev != root:
            yield css_put(k, prev)
        return True, None
    return True, root
