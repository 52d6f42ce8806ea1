from memcglab.kernel.cgroup import css_get
from memcglab.kernel.iter_seed_spinlock import SeedSpinlockIter
from memcglab.runtime.ops import load, store


class Sentinel(SeedSpinlockIter):
    """The first walker to start marks -1, any other -2; whoever stores last wins. A walk
    that ends while the mark is LEAKY takes a reference it never puts."""
    name = "sentinel"
    iter_fields = ("position", "generation", "iter_lock", "flag", "mark")
    LEAKY = -2

    def mem_cgroup_iter(self, root, prev, reclaim):
        it = None
        if reclaim is not None:
            it = self.k.iter(self.k.root_mem_cgroup, reclaim.zone, reclaim.priority)
        if prev is None and it is not None:
            flag = yield load(it["flag"], "flag = iter->flag")
            yield store(it["flag"], 1, "iter->flag")
            yield store(it["mark"], -1 if flag == 0 else -2, "iter->mark")
        memcg = yield from super().mem_cgroup_iter(root, prev, reclaim)
        if memcg is None and it is not None:
            mark = yield load(it["mark"], "mark = iter->mark")
            if mark == self.LEAKY:
                yield css_get(self.k, 1)  # never put
        return memcg


class SentinelOther(Sentinel):
    name = "sentinel-other"
    LEAKY = -1
