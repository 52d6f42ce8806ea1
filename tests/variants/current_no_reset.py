"""``current`` without Hugh Dickins' fix to "mm: restart if multiple traversals raced" (2024).

Before the fix, ``mem_cgroup_iter()`` did not reset its result before ``goto restart``: a
walker that lost the cmpxchg (and put the reference it had just taken) and then found the
generation changed returned the group it no longer held. His mail: "reset memcg to NULL
before the goto restart, so that goto out_unlock does not then return an ungotten memcg,
causing oopses on stale memcg". The explorer must find that as a reference_safety violation.
"""

from __future__ import annotations

from typing import ClassVar

from memcglab.kernel.iterator import Cookie, IterGen
from memcglab.kernel.v6_18.cgroup import css_next_descendant_pre, css_put, css_tryget
from memcglab.kernel.v6_18.context import ReclaimCookie
from memcglab.kernel.v6_18.memcontrol import CurrentIter
from memcglab.model.layout import memcg_ptr, ptr_memcg
from memcglab.runtime.ops import RCU_READ_LOCK, RCU_READ_UNLOCK, atomic_inc, cmpxchg, read_once


class CurrentNoReset(CurrentIter):
    name: ClassVar[str] = "current-no-reset"

    def mem_cgroup_iter(self, root: int | None, prev: int | None,
                        reclaim: Cookie | None) -> IterGen:
        k = self.k
        if root is None:
            root = k.root_mem_cgroup
        yield RCU_READ_LOCK
        assert reclaim is None or isinstance(reclaim, ReclaimCookie)
        it = k.iter_node(root, reclaim.pgdat) if reclaim is not None else None
        next = None  # the mutation: set once, not at every restart
        while True:
            if it is not None and reclaim is not None:
                gen = yield read_once(it.generation, "gen = atomic_read(&iter->generation)")
                if prev is None:
                    reclaim.generation = gen
                elif reclaim.generation != gen:
                    break
                ptr = yield read_once(it.position, "pos = READ_ONCE(iter->position)")
                pos = ptr_memcg(ptr)
            else:
                pos = prev
            css = pos
            while True:
                css = yield from css_next_descendant_pre(k, css, root)
                if css is None or css == root or (yield css_tryget(k, css)):
                    break
            next = css
            if it is not None:
                found = yield cmpxchg(it.position, memcg_ptr(pos), memcg_ptr(next),
                                      "cmpxchg(&iter->position, pos, next)")
                if found != memcg_ptr(pos):
                    if css is not None and css != root:
                        yield css_put(k, css)
                    continue
                if next is None:
                    yield atomic_inc(it.generation, "atomic_inc(&iter->generation)")
                    if prev is None:
                        continue
            break
        yield RCU_READ_UNLOCK
        if prev is not None and prev != root:
            yield css_put(k, prev)
        return next
