from memcglab.kernel.iter_seed_spinlock import SeedSpinlockIter
from memcglab.runtime.ops import load


class RefPeek(SeedSpinlockIter):
    """Skips a group that another reclaimer still holds (peeks at the count, no lock)."""
    name = "ref-peek"

    def mem_cgroup_iter(self, root, prev, reclaim):
        memcg = yield from super().mem_cgroup_iter(root, prev, reclaim)
        if memcg is not None and memcg != self.k.root_mem_cgroup:
            ref = yield load(self.k.layout.refcnt[memcg], "ref = atomic_read(&css->refcnt)")
            if ref > 2:
                memcg = yield from super().mem_cgroup_iter(root, memcg, reclaim)
        return memcg
