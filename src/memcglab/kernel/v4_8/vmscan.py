"""The reclaim callers of v4.8-v5.4 as the explorer runs them (mm/vmscan.c).

Read in a v4.8.15 tree (vmscan.c:2509-2570); docs/research/iterator-history.md 6.2.
``shrink_node()`` is v3.10's ``shrink_zone()`` loop per node: a ``{pgdat, priority}``
cookie, limit reclaim bails at ``nr_to_reclaim``, global reclaim walks the shared round.
"""

from __future__ import annotations

from memcglab.kernel.context import KernelContext, NodeReclaimCookie, ScanControl
from memcglab.kernel.iterator import MemcgIter
from memcglab.kernel.v3_10 import vmscan as vmscan_3_10
from memcglab.kernel.v3_10.vmscan import admin, shrink_memcgs
from memcglab.kernel.vmscan import ReclaimerSpec, Thread, zonelist_nodes
from memcglab.runtime.ops import Kind, Op

__all__ = ["admin", "reclaimer"]


def shrink_node(k: KernelContext, variant: MemcgIter, pgdat: int, sc: ScanControl,
                zone: int | None = None) -> Thread:
    """``shrink_node()``: one walk with a ``{pgdat, priority}`` cookie. ``zone``: whose
    lruvecs ``memcglab run``'s v3.7 page reclaim shrinks (it keeps per-zone LRU lists;
    v4.8 moved them to the node); the explorer's claim is the node's first zone."""
    root = sc.target_mem_cgroup
    reclaim = NodeReclaimCookie(pgdat, sc.priority)
    it = k.layout.iter_node_prio(k.root_mem_cgroup if root is None else root, pgdat,
                                 sc.priority)
    if zone is None:
        zone = next(z for z, spec in enumerate(k.layout.zones) if spec.nid == pgdat)
    yield Op(Kind.WALK_START, None, None, f"shrink_node(node{pgdat}, priority {sc.priority})")
    yield from shrink_memcgs(k, variant, root, reclaim, it, sc, zone)


def shrink_zones(k: KernelContext, variant: MemcgIter, zones: tuple[int, ...],
                 sc: ScanControl) -> Thread:
    """One ``shrink_node()`` per node of the zonelist."""
    for pgdat in zonelist_nodes(k, zones):
        yield from shrink_node(k, variant, pgdat, sc)


def reclaimer(k: KernelContext, variant: MemcgIter, spec: ReclaimerSpec) -> Thread:
    """One explorer CPU: ``spec.walks`` calls of the v3.9+ priority loop over nodes."""
    yield from vmscan_3_10.reclaimer(k, variant, spec, shrink_zones)
