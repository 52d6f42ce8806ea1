"""Era-neutral pieces of the reclaim callers: what an explorer configuration asks for.

Not a kernel file: the v3.7 reclaim code is :mod:`memcglab.kernel.v3_7.vmscan`, the v6.18
one :mod:`memcglab.kernel.v6_18.vmscan`. Both, the explorer and the configuration loaders
use these:

* :class:`ReclaimerSpec`: what one explorer reclaimer does;
* :class:`AdminAction` and :func:`run_admin`: the admin CPU's mkdir / rmdir, with one era's
  cgroup calls;
* :data:`ALL_PRIORITIES`: DEF_PRIORITY down to 0, the priority loop of every era.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from memcglab.kernel.context import KernelContext
from memcglab.model.constants import DEF_PRIORITY
from memcglab.runtime.ops import Kind, Op, note

Thread = Generator[Op, Any, None]

ALL_PRIORITIES = tuple(range(DEF_PRIORITY, -1, -1))


@dataclass(frozen=True, slots=True)
class ReclaimerSpec:
    """What one explorer reclaimer does: ``walks`` calls of do_try_to_free_pages()."""

    target: int | None  # None: global reclaim (kswapd / direct); else limit reclaim of target
    zones: tuple[int, ...]
    priorities: tuple[int, ...]
    walks: int
    goal: int = 0  # v3.9+: groups a call reclaims before its goal is met (0: never met)
    # Limit reclaim from outside the target (a write to memory.limit_in_bytes from another
    # cgroup): the target may be removed while it reclaims (v3.10+ callers only).
    outside: bool = False


@dataclass(frozen=True, slots=True)
class AdminAction:
    """One cgroup change the admin thread makes while reclaim runs."""

    op: str  # "mkdir" | "rmdir"
    memcg: int


def zonelist_nodes(k: KernelContext, zones: tuple[int, ...]) -> tuple[int, ...]:
    """The nodes of a zonelist in its order, each once (``shrink_zones()`` of v4.8+ skips
    a zone whose node it has just reclaimed: ``zone->zone_pgdat == last_pgdat``)."""
    out: list[int] = []
    for z in zones:
        nid = k.layout.zones[z].nid
        if nid not in out:
            out.append(nid)
    return tuple(out)


def reclaim_done(k: KernelContext, target: int | None, nr_reclaimed: int) -> Op:
    """The premature-OOM monitor's view of a reclaim call that ends (explorer only, where
    a configuration has empty groups)."""
    return Op(Kind.RECLAIM_DONE, target, nr_reclaimed,
              f"reclaim of {k.name(k.root_mem_cgroup if target is None else target)} ends: "
              f"{nr_reclaimed} reclaimed" if k.notes else "")


def run_admin(k: KernelContext, actions: tuple[AdminAction, ...],
              mkdir: Callable[[KernelContext, int], Generator[Op, Any, int]],
              rmdir: Callable[..., Thread], variant: Any = None) -> Thread:
    """The admin CPU's loop over its actions, with one era's mkdir and rmdir (called with
    the variant too when one is given: its ``css_offline`` runs inside rmdir)."""
    for action in actions:
        if action.op == "mkdir":
            cid = yield from mkdir(k, action.memcg)
            yield note(f"{k.name(action.memcg)} got css id {cid}")
        elif variant is None:
            yield from rmdir(k, action.memcg)
        else:
            yield from rmdir(k, variant, action.memcg)
