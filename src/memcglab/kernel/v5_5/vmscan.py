"""The reclaim callers of v5.5-v6.10 as the explorer runs them (mm/vmscan.c).

Read in a v5.6.4 tree (vmscan.c:2629-2685); docs/research/iterator-history.md 6.3.
1ba6fc9af35b ("mm: vmscan: do not share cgroup iteration between reclaimers") made
``shrink_node_memcgs()`` walk the whole subtree with no cookie and no bail-out: every
reclaimer, limit, direct or kswapd, visits every group; the shared iterator is unused.
"""

from __future__ import annotations

from memcglab.kernel.context import KernelContext, ScanControl
from memcglab.kernel.iterator import MemcgIter
from memcglab.kernel.v3_10 import vmscan as vmscan_3_10
from memcglab.kernel.v6_18.cgroup import cgroup_mkdir, cgroup_rmdir
from memcglab.kernel.v6_18.vmscan import shrink_lruvec
from memcglab.kernel.vmscan import AdminAction, ReclaimerSpec, Thread, run_admin, zonelist_nodes
from memcglab.runtime.ops import Kind, Op


def shrink_node_memcgs(k: KernelContext, variant: MemcgIter, pgdat: int,
                       sc: ScanControl) -> Thread:
    target_memcg = sc.target_mem_cgroup
    it = k.iter_node(k.root_mem_cgroup if target_memcg is None else target_memcg, pgdat)
    yield Op(Kind.WALK_START, None, None,
             f"shrink_node_memcgs(node{pgdat}, priority {sc.priority}, full walk)")
    memcg = yield from variant.mem_cgroup_iter(target_memcg, None, None)
    while memcg is not None:
        yield from shrink_lruvec(k, it, memcg, None, sc, pgdat)  # type: ignore[arg-type]
        memcg = yield from variant.mem_cgroup_iter(target_memcg, memcg, None)


def shrink_zones(k: KernelContext, variant: MemcgIter, zones: tuple[int, ...],
                 sc: ScanControl) -> Thread:
    for pgdat in zonelist_nodes(k, zones):
        yield from shrink_node_memcgs(k, variant, pgdat, sc)


def reclaimer(k: KernelContext, variant: MemcgIter, spec: ReclaimerSpec) -> Thread:
    yield from vmscan_3_10.reclaimer(k, variant, spec, shrink_zones)


def admin(k: KernelContext, variant: MemcgIter, actions: tuple[AdminAction, ...]) -> Thread:
    yield from run_admin(k, actions, cgroup_mkdir, cgroup_rmdir)

