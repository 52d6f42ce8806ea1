from memcglab.kernel.iter_seed_spinlock import SeedSpinlockIter
from memcglab.runtime.ops import load


class Spinner(SeedSpinlockIter):
    """At the end of a round, waits for another walker to start the next one."""
    name = "spinner"

    def mem_cgroup_iter(self, root, prev, reclaim):
        memcg = yield from super().mem_cgroup_iter(root, prev, reclaim)
        if memcg is None and reclaim is not None:
            it = self.k.iter(self.k.root_mem_cgroup, reclaim.zone, reclaim.priority)
            while True:
                pos = yield load(it.position, "pos = iter->position")
                if pos != 0:
                    break
        return memcg
