"""Regression variant (adversarial review of the explorer): see tests/test_soundness.py."""

from memcglab.kernel.iter_seed_spinlock import SeedSpinlockIter
from memcglab.runtime.ops import load


class RefWait(SeedSpinlockIter):
    """After getting a group, wait until no other reclaimer holds a reference on it
    (spin on atomic_read(&css->refcnt) > 2)."""
    name = "ref-wait"

    def mem_cgroup_iter(self, root, prev, reclaim):
        memcg = yield from super().mem_cgroup_iter(root, prev, reclaim)
        if memcg is not None and memcg != self.k.root_mem_cgroup:
            while (yield load(self.k.layout.refcnt[memcg], "atomic_read(&css->refcnt)")) > 2:
                pass
        return memcg
