"""Variants that keep state outside local variables (the explorer must refuse them)."""

from memcglab.kernel.iter_seed_spinlock import SeedSpinlockIter

SEEN = []


class CountsCalls(SeedSpinlockIter):
    """Counts its calls on ``self``: a later run sees what an earlier one did."""

    name = "counts-calls"

    def mem_cgroup_iter(self, root, prev, reclaim):
        self.calls = getattr(self, "calls", 0) + 1
        return (yield from super().mem_cgroup_iter(root, prev, reclaim))


class RemembersGroups(SeedSpinlockIter):
    """Remembers the groups it handed out in a module global."""

    name = "remembers-groups"

    def mem_cgroup_iter(self, root, prev, reclaim):
        memcg = yield from super().mem_cgroup_iter(root, prev, reclaim)
        SEEN.append(memcg)
        return memcg


class YieldsNone(SeedSpinlockIter):
    """A bare ``yield``: not an operation, and not a way to finish."""

    name = "yields-none"

    def mem_cgroup_iter(self, root, prev, reclaim):
        yield None
        return None
