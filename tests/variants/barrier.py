"""Regression variant (adversarial review of the explorer): see tests/test_soundness.py."""

from memcglab.kernel.iter_seed_spinlock import SeedSpinlockIter
from memcglab.runtime.ops import load, spin_lock, spin_unlock, store


class Barrier(SeedSpinlockIter):
    """A fresh walk registers in iter->arrived under iter_lock, then waits (polling
    under the lock) until two walkers have arrived."""
    name = "barrier"
    iter_fields = ("position", "generation", "iter_lock", "arrived")

    def mem_cgroup_iter(self, root, prev, reclaim):
        if prev is None and reclaim is not None:
            r = self.k.root_mem_cgroup if root is None else root
            it = self.k.iter(r, reclaim.zone, reclaim.priority)
            yield spin_lock(it.iter_lock)
            c = yield load(it["arrived"], "c = iter->arrived")
            yield store(it["arrived"], c + 1, "iter->arrived")
            yield spin_unlock(it.iter_lock)
            while True:
                yield spin_lock(it.iter_lock)
                c = yield load(it["arrived"], "c = iter->arrived")
                yield spin_unlock(it.iter_lock)
                if c >= 2:
                    break
        return (yield from super().mem_cgroup_iter(root, prev, reclaim))
