"""The shared memory of a configuration, as numbered slots.

Shared state is one flat tuple of values so that the explorer can hash it, compare it and
copy it cheaply. This module decides which slot holds what:

* per group: its css reference count, its lifecycle state and its css id;
* per group, for its removal: how many RCU readers the removing task's ``synchronize_rcu()``
  (``cgroup_diput`` in kernel/cgroup.c v3.7) still waits for;
* the css id IDR (``ss->idr`` in kernel/cgroup.c v3.7): id -> group index, -1 when free;
* per reclaim iterator: the fields the variant declares (for the 3.x variants ``position``,
  ``generation`` and, in the seed patch, ``iter_lock``). One iterator exists per
  (root memcg, zone, priority) in play: ``mem_cgroup_per_zone.reclaim_iter[DEF_PRIORITY + 1]``
  in mm/memcontrol.c v3.7;
* monitor slots per iterator (not kernel state): the groups handed out per generation, the
  groups online when the current round began, and what each completed round owed, for the
  round invariants; and the groups stored into the position since it was last reset to NULL
  (the lap of a cmpxchg-based iterator, for ``unique_per_lap``).

Iterators of v6.x (``per_node``) are one per (root memcg, node): ``struct mem_cgroup_per_node``
holds one ``struct mem_cgroup_reclaim_iter iter`` since v6.7 removed the zone and priority
dimensions (kernel_iterators.md 2.f; include/linux/memcontrol.h). The v6 cgroup core adds one
kernel slot: the queue of ``css_release_work_fn`` work items on ``cgroup_release_wq``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from memcglab.model.hierarchy import Topology


class GroupState(IntEnum):
    """Lifecycle of a memcg (kernel_iterators.md 2.0).

    In v3.7 (memcg sets ``__DEPRECATED_clear_css_refs``) rmdir removes a group only when its
    base reference is the last one, so a removed group goes from ONLINE straight to RELEASED;
    OFFLINE with references left exists only under ``Semantics(rmdir_waits_for_refs=False)``.
    A RELEASED group stays in the IDR (``css_get_next()`` finds it, ``css_tryget()`` fails)
    until the removing task's ``free_css_id()``; it is FREED after the grace period that
    follows.
    """

    ABSENT = 0  # not created yet
    ONLINE = 1
    OFFLINE = 2  # rmdir'ed; css references remain
    RELEASED = 3  # removed and no reference left; readers may still find and dereference it
    FREED = 4  # kfree'd after an RCU grace period
    LINKED = 5  # v3.10-v3.13: linked into the tree, css_online() not run yet (not initialised)


NULL = 0
"""A NULL ``struct mem_cgroup *`` in a slot that holds a pointer (v6.x ``iter->position``)."""


def memcg_ptr(memcg: int | None) -> int:
    """The pointer to group ``memcg`` as a slot holds it: its index + 1 (NULL for None).
    Groups are never reallocated at another index, so equal pointers mean the same memcg."""
    return NULL if memcg is None else memcg + 1


def ptr_memcg(ptr: int) -> int | None:
    """The group a pointer value points to (None for NULL)."""
    return None if ptr == NULL else ptr - 1


@dataclass(frozen=True, slots=True)
class Zone:
    """A (node, zone) pair: models ``struct zone`` as far as the iterator cares."""

    nid: int
    zid: int

    def __str__(self) -> str:
        return f"node{self.nid}/zone{self.zid}"


@dataclass(frozen=True, slots=True)
class IterKey:
    """Which reclaim iterator: ``root->info.nodeinfo[nid]->zoneinfo[zid].reclaim_iter[prio]``."""

    root: int
    zone: int  # index into Layout.zones
    priority: int


class IterSlots:
    """Slot numbers of one iterator's fields. Static: model code may keep it in locals."""

    _static_ = True
    __slots__ = ("baseline", "claims", "fields", "generation", "index", "iter_lock", "key",
                 "label", "lap", "position", "rounds", "shared_walk")

    def __init__(self, index: int, key: IterKey, fields: dict[str, int], claims: int,
                 baseline: int, rounds: int, shared_walk: bool, label: str = "",
                 lap: int = -1) -> None:
        self.rounds = rounds
        self.index = index
        self.key = key
        self.fields = fields
        self.claims = claims
        self.baseline = baseline
        # Plain attributes for the common fields: model code reads them on every step.
        self.position = fields.get("position", -1)
        self.generation = fields.get("generation", -1)
        self.iter_lock = fields.get("iter_lock", -1)
        # A limit-reclaim root without use_hierarchy never uses its shared iterator (the
        # shortcut in mem_cgroup_iter): hand-outs under it belong to no round.
        self.shared_walk = shared_walk
        self.label = label
        self.lap = lap

    def __getitem__(self, name: str) -> int:
        return self.fields[name]


class Layout:
    """Slot allocation for one configuration. Built once; never changes during a run."""

    _static_ = True

    def __init__(self, topology: Topology, zones: tuple[Zone, ...],
                 priorities: tuple[int, ...], roots: tuple[int, ...],
                 iter_fields: tuple[str, ...], per_node: bool = False,
                 node_priority: bool = False, group_fields: tuple[str, ...] = ()) -> None:
        """``per_node``: one iterator per (root, node) (v5.5+); ``node_priority``: one per
        (root, node, priority) (v4.8-v5.4); neither: one per (root, zone, priority) (v3.x,
        v4.4-v4.7). ``group_fields``: fields a variant keeps in every ``struct mem_cgroup``
        (v3.10-v3.18 ``dead_count``), one slot each per group."""
        self.topology = topology
        self.zones = zones
        self.priorities = priorities
        self.roots = roots
        self.iter_fields = iter_fields
        self.per_node = per_node
        self.node_priority = node_priority and not per_node
        self.names: list[str] = []
        self.initial: list[object] = []
        n = topology.size
        self.refcnt = [self._slot(f"{topology.name(g)}.css.refcnt", 0) for g in range(n)]
        self.gstate = [self._slot(f"{topology.name(g)}.state", 0) for g in range(n)]
        self.cssid = [self._slot(f"{topology.name(g)}.css.id", 0) for g in range(n)]
        self.max_id = n
        # idr[0] is unused (ids start at 1) but keeps indexing direct.
        self.idr = [self._slot(f"idr[{i}]", -1) for i in range(n + 1)]
        self.next_id = self._slot("idr.next_id", 1)
        self.iters: dict[IterKey, IterSlots] = {}
        self.generation_iter: dict[int, IterSlots] = {}
        # v6.x: one iterator per (root, node); keyed (root, nid, -1).
        nids = sorted({z.nid for z in zones})
        scopes = ([(n, -1, f"node{n}") for n in nids] if per_node
                  else [(n, p, f"node{n},prio {p}") for n in nids for p in priorities]
                  if self.node_priority
                  else [(z, p, f"{zones[z]},prio {p}") for z in range(len(zones))
                        for p in priorities])
        for root in roots:
            for where, prio, text in scopes:
                key = IterKey(root, where, prio)
                label = f"iter[{topology.name(root)},{text}]"
                fields = {f: self._slot(f"{label}.{f}", 0) for f in iter_fields}
                claims = self._slot(f"{label}.<claims>", frozenset())
                baseline = self._slot(f"{label}.<round-baseline>", frozenset())
                rounds = self._slot(f"{label}.<rounds-owed>", frozenset())
                shared = root == 0 or topology.groups[root].use_hierarchy
                slots = IterSlots(len(self.iters), key, fields, claims, baseline, rounds,
                                  shared, label)
                self.iters[key] = slots
                if "generation" in fields:
                    self.generation_iter[fields["generation"]] = slots
        self.iter_list = list(self.iters.values())
        # Last, so that adding them moved no other slot.
        self.gp_readers = [self._slot(f"{topology.name(g)}.synchronize_rcu.readers", 0)
                           for g in range(n)]
        # Later still (v6.x): the lap monitors and the release work queue.
        self.position_iter: dict[int, IterSlots] = {}
        for it in self.iters.values():
            it.lap = self._slot(f"{it.label}.<lap>", frozenset())
            if "position" in it.fields:
                self.position_iter[it.position] = it
        self.release_queue = self._slot("cgroup_release_wq.<queued>", ())
        # Last of all (so that no earlier slot moves): the variant's per-memcg fields.
        self.group_fields: dict[str, list[int]] = {
            f: [self._slot(f"{topology.name(g)}.{f}", 0) for g in range(n)]
            for f in group_fields}
        # v6.x positions hold memcg pointers (memcg_ptr), the 3.x ones css ids; variants
        # that cache a pointer (v3.10+) name their pointer fields (set_pointer_fields).
        self.pointer_slots = frozenset(self.position_iter) if per_node else frozenset()
        self._by_tuple = {(k.root, k.zone, k.priority): v for k, v in self.iters.items()}
        self.size = len(self.names)

    def set_pointer_fields(self, fields: tuple[str, ...]) -> None:
        """The iterator fields that hold memcg pointers (``memcg_ptr``), for the diagrams."""
        self.pointer_slots = frozenset(it.fields[f] for it in self.iter_list for f in fields
                                       if f in it.fields)

    def iter_node_prio(self, root: int, nid: int, priority: int) -> IterSlots:
        """v4.8-v5.4: ``&mem_cgroup_nodeinfo(root, nid)->iter[priority]``."""
        return self._by_tuple[(root, nid, priority)]

    def _slot(self, name: str, initial: object) -> int:
        self.names.append(name)
        self.initial.append(initial)
        return len(self.names) - 1

    def iter(self, root: int, zone: int, priority: int) -> IterSlots:
        return self._by_tuple[(root, zone, priority)]

    def iter_node(self, root: int, nid: int) -> IterSlots:
        """v6.x: ``&root->nodeinfo[nid]->iter``."""
        return self._by_tuple[(root, nid, -1)]

    def find_iter_node(self, root: int, nid: int) -> IterSlots | None:
        """The v6.x iterator of (root, node) if a reclaimer walks from ``root``."""
        return self._by_tuple.get((root, nid, -1))

    @property
    def nodes(self) -> tuple[int, ...]:
        return tuple(sorted({z.nid for z in self.zones}))
