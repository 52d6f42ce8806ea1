from memcglab.kernel.iter_seed_spinlock import SeedSpinlockIter
from memcglab.runtime.ops import load, store


class BoolMerge(SeedSpinlockIter):
    """Before a walk: a flag protocol that stores True (a bool) or 1 (an int) into
    iter->flag, then counts finishers; the last one checks whether the flag is a bool
    and, if so, corrupts the generation (a generation_monotonic violation).
    Sequentially the flag ends as int 1; when both read 0 first it ends as True."""
    name = "bool-merge"
    iter_fields = ("position", "generation", "iter_lock", "flag", "cnt")
    merged = True  # a value equal to 1 (True == 1) but not an int

    def mem_cgroup_iter(self, root, prev, reclaim):
        if prev is None:
            it = self.k.iter(root if root is not None else self.k.root_mem_cgroup,
                             reclaim.zone, reclaim.priority)
            v = yield load(it["flag"], "v = iter->flag")
            if v == 0:
                v = None
                yield store(it["flag"], self.merged, f"iter->flag ({self.merged!r})")
            else:
                v = None
                yield store(it["flag"], 1, "iter->flag (int 1)")
            c = yield load(it["cnt"], "c = iter->cnt")
            yield store(it["cnt"], c + 1, "iter->cnt")
            if c == 1:
                f = yield load(it["flag"], "f = iter->flag")
                if type(f) is type(self.merged):
                    g = yield load(it.generation, "g = iter->generation")
                    yield store(it.generation, g + 7, "iter->generation")
            c = None
        return (yield from super().mem_cgroup_iter(root, prev, reclaim))


class FloatMerge(BoolMerge):
    """Same with 1.0 (float) against 1 (int)."""
    name = "float-merge"
    merged = 1.0
