"""Takes spin_is_locked() as a licence to walk without the lock (the v3.7 code then)."""

from memcglab.kernel.cgroup import css_get_next, css_put, css_tryget
from memcglab.kernel.iter_seed_spinlock import SeedSpinlockIter
from memcglab.runtime.ops import RCU_READ_LOCK, RCU_READ_UNLOCK, load, spin_lock, spin_unlock, store


class PeekLock(SeedSpinlockIter):
    """seed-spinlock, but 'if (spin_is_locked(&iter->iter_lock))' walk without the lock
    instead of waiting (a plain load of the lock word, then the unlocked v3.7 code)."""
    name = "peek-lock"

    def mem_cgroup_iter(self, root, prev, reclaim):
        k = self.k
        memcg = None
        id = 0
        if root is None:
            root = k.root_mem_cgroup
        if prev is not None and prev != root:
            yield css_put(k, prev)
        while memcg is None:
            it = k.iter(root, reclaim.zone, reclaim.priority)
            busy = yield load(it.iter_lock, "spin_is_locked(&iter->iter_lock)")
            lock = not busy
            if lock:
                yield spin_lock(it.iter_lock)
            if prev is not None:
                gen = yield load(it.generation, "gen = iter->generation")
                if reclaim.generation != gen:
                    if lock:
                        yield spin_unlock(it.iter_lock)
                    return None
            id = yield load(it.position, "pos = iter->position")
            yield RCU_READ_LOCK
            css = yield css_get_next(k, id + 1, root)
            if css is not None:
                found, id = css
                if found == root or (yield css_tryget(k, found)):
                    memcg = found
            else:
                id = 0
            yield RCU_READ_UNLOCK
            yield store(it.position, id, "iter->position")
            if css is None:
                g = yield load(it.generation, "g = iter->generation")
                yield store(it.generation, g + 1, "iter->generation")
            elif prev is None and memcg is not None:
                reclaim.generation = yield load(it.generation, "cookie->generation")
            if lock:
                yield spin_unlock(it.iter_lock)
            if prev is not None and css is None:
                return None
        return memcg
