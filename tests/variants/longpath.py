from memcglab.kernel.iter_seed_spinlock import SeedSpinlockIter
from memcglab.runtime.ops import load, store


class LongPath(SeedSpinlockIter):
    """Before its first walk a reclaimer reads iter->flag; if 0, it does 20 extra
    loads of iter->dummy (a slow path), then sets the flag.  Both reclaimers can take
    the slow path (both read 0 first), and those runs are 20 operations longer than
    any other; the local states after the slow path equal those after the fast one."""
    name = "long-path"
    iter_fields = ("position", "generation", "iter_lock", "flag", "dummy")

    def mem_cgroup_iter(self, root, prev, reclaim):
        if prev is None:
            it = self.k.iter(root if root is not None else self.k.root_mem_cgroup,
                             reclaim.zone, reclaim.priority)
            v = yield load(it["flag"], "v = iter->flag")
            if v == 0:
                i = 0
                while i < 20:
                    yield load(it["dummy"], "slow path")
                    i += 1
                i = None  # the slow path ends in the fast one's local state
            v = None
            yield store(it["flag"], 1, "iter->flag")
        return (yield from super().mem_cgroup_iter(root, prev, reclaim))


class LongPathThenSpin(LongPath):
    """The same long path, and at the end of a round a wait for another walker to start
    the next one (a livelock once the other has finished): a graph with a cycle in one
    place and a long acyclic run in another."""
    name = "long-path-then-spin"

    def mem_cgroup_iter(self, root, prev, reclaim):
        memcg = yield from super().mem_cgroup_iter(root, prev, reclaim)
        if memcg is None and reclaim is not None:
            it = self.k.iter(self.k.root_mem_cgroup, reclaim.zone, reclaim.priority)
            while (yield load(it.position, "pos = iter->position")) == 0:
                pass
        return memcg
