"""Regression variant (adversarial review of the explorer): see tests/test_soundness.py."""

from memcglab.kernel.iter_seed_spinlock import SeedSpinlockIter
from memcglab.runtime.ops import load, spin_lock, spin_unlock, store


class Handshake(SeedSpinlockIter):
    """The first walker to arrive waits (polling iter->ack without the lock) until the
    second one has arrived and acknowledged it."""
    name = "handshake"
    iter_fields = ("position", "generation", "iter_lock", "arrived", "ack")

    def mem_cgroup_iter(self, root, prev, reclaim):
        if prev is None and reclaim is not None:
            r = self.k.root_mem_cgroup if root is None else root
            it = self.k.iter(r, reclaim.zone, reclaim.priority)
            yield spin_lock(it.iter_lock)
            a = yield load(it["arrived"], "a = iter->arrived")
            yield store(it["arrived"], a + 1, "iter->arrived")
            yield spin_unlock(it.iter_lock)
            if a == 0:
                while (yield load(it["ack"], "READ_ONCE(iter->ack)")) == 0:
                    pass
            else:
                yield store(it["ack"], 1, "WRITE_ONCE(iter->ack, 1)")
        return (yield from super().mem_cgroup_iter(root, prev, reclaim))


class HandshakeRacy(Handshake):
    """The same handshake in front of the unlocked (css-id) walk, which has real races."""
    name = "handshake-racy"
    use_iter_lock = False
