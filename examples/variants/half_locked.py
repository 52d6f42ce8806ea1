"""A user-written variant: the seed's lock, but the generation check left outside it.

A plausible "cheaper" patch: serialise only the position update, and read
``iter->generation`` before taking the lock. memcglab shows that this fixes race 1 but not
race 2: a reclaimer can still pass the generation check with the old generation, then read
the position another reclaimer just reset, and restart from the root inside the old round.

Run it with any command::

    memcglab check --variant examples/variants/half_locked.py:HalfLockedIter

It also adds its own invariant (``position_in_range``) to show the hook.
"""

from __future__ import annotations

from typing import ClassVar

from memcglab.kernel.cgroup import css_get_next, css_put, css_tryget
from memcglab.kernel.context import ReclaimCookie
from memcglab.kernel.iterator import Invariant, IterGen, MemcgIter, StateView
from memcglab.runtime.ops import (
    RCU_READ_LOCK,
    RCU_READ_UNLOCK,
    load,
    note,
    spin_lock,
    spin_unlock,
    store,
)


class HalfLockedIter(MemcgIter):
    name: ClassVar[str] = "half-locked"
    kernels: ClassVar[str] = "none (an example of a user-written variant)"
    source: ClassVar[str] = "examples/variants/half_locked.py"
    iter_fields: ClassVar[tuple[str, ...]] = ("position", "generation", "iter_lock")

    def mem_cgroup_iter(self, root: int | None, prev: int | None,
                        reclaim: ReclaimCookie | None) -> IterGen:
        k = self.k
        if root is None:
            root = k.root_mem_cgroup
        yield note(f"mem_cgroup_iter({k.name(root)}, prev={k.name(prev)})")
        if reclaim is None:
            raise ValueError("this example only supports cookie walks")
        if prev is not None and prev != root:
            yield css_put(k, prev)
        it = k.iter(root, reclaim.zone, reclaim.priority)
        memcg: int | None = None
        while memcg is None:
            if prev is not None:
                # The "optimisation": check the generation before taking the lock.
                gen = yield load(it.generation, "gen = iter->generation")
                if gen != reclaim.generation:
                    return None
            yield spin_lock(it.iter_lock)
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
            yield store(it.position, id, "iter->position")
            if css is None:
                g = yield load(it.generation, "g = iter->generation")
                yield store(it.generation, g + 1, "iter->generation")
            elif prev is None and memcg is not None:
                reclaim.generation = yield load(it.generation,
                                                "cookie->generation = iter->generation")
            yield spin_unlock(it.iter_lock)
            if prev is not None and css is None:
                return None
        yield note(f"return {k.name(memcg)}")
        return memcg

    def mem_cgroup_iter_break(self, root: int | None, prev: int | None):  # type: ignore[no-untyped-def]
        if prev is not None and prev != (root if root is not None else 0):
            yield css_put(self.k, prev)

    def invariants(self) -> tuple[Invariant, ...]:
        def position_in_range(view: StateView) -> str | None:
            for root, zone, prio in view.iterators:
                pos = view.iter_field(root, zone, prio, "position")
                if not 0 <= pos <= 64:
                    return f"iterator position {pos} is not a css id"
            return None

        return (Invariant("position_in_range", "the cursor always holds 0 or a css id",
                          position_in_range),)
