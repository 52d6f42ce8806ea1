"""``current`` plus a branch on a generation's value (not only its equality with another
generation): the explorer's renaming of generation values must refuse it, not merge states
that behave differently."""

from __future__ import annotations

from typing import ClassVar

from memcglab.kernel.iterator import Cookie, IterGen
from memcglab.kernel.v6_18.context import ReclaimCookie
from memcglab.kernel.v6_18.memcontrol import CurrentIter
from memcglab.runtime.ops import note, read_once


class CurrentGenArith(CurrentIter):
    name: ClassVar[str] = "current-gen-arith"

    def mem_cgroup_iter(self, root: int | None, prev: int | None,
                        reclaim: Cookie | None) -> IterGen:
        if isinstance(reclaim, ReclaimCookie) and prev is not None:
            it = self.k.iter_node(self.k.root_mem_cgroup if root is None else root,
                                  reclaim.pgdat)
            g = yield read_once(it.generation, "g = atomic_read(&iter->generation)")
            if g >= 1:  # a generation compared with a constant: not a name any more
                yield note("second round")
        return (yield from super().mem_cgroup_iter(root, prev, reclaim))
