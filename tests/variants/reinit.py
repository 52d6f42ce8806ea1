from memcglab.kernel.iter_seed_spinlock import SeedSpinlockIter
from memcglab.runtime.ops import store


class ReinitLock(SeedSpinlockIter):
    """seed-spinlock, but every walk start re-initialises the iterator's lock
    (spin_lock_init(&iter->iter_lock), a plain store of 0 to the lock word), which
    breaks a lock another CPU holds: two CPUs can then be inside the critical section."""
    name = "reinit-lock"

    def mem_cgroup_iter(self, root, prev, reclaim):
        if prev is None and reclaim is not None:
            it = self.k.iter(root if root is not None else self.k.root_mem_cgroup,
                             reclaim.zone, reclaim.priority)
            yield store(it.iter_lock, 0, "spin_lock_init(&iter->iter_lock)")
        return (yield from super().mem_cgroup_iter(root, prev, reclaim))
