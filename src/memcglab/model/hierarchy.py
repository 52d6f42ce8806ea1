"""The static shape of a memory-cgroup hierarchy, as the 3.x kernels saw it.

What is modelled (v3.7 unless said otherwise):

* groups form a tree under the root memcg (``root_mem_cgroup``), whose css id is 1;
* children are kept in creation order (``cgroup->children`` list order in kernel/cgroup.c);
* ``use_hierarchy`` per group (cgroup v1, ``memory.use_hierarchy``);
* css ids are small integers from the memory subsystem's IDR. kernel/cgroup.c v3.7
  ``get_new_cssid()`` calls ``idr_get_new_above(&ss->idr, newid, 1, &myid)``: the lowest free
  id >= 1, so ids of freed groups are reused (``lowest-free``). The ``monotonic`` policy is
  offered for comparison (later kernels' cgroup ids never reuse ids).

Groups that are created or removed while reclaim runs are declared here too, with
``initially_present = False`` for the ones created later. Which group gets which css id at
run time is dynamic state (:mod:`memcglab.runtime.machine`); the parent relation is static.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

IdPolicy = Literal["lowest-free", "monotonic"]
ID_POLICIES: tuple[IdPolicy, ...] = ("lowest-free", "monotonic")

ROOT = 0
"""Group index of the root memcg (``root_mem_cgroup``)."""


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """One memory cgroup: models the static part of ``struct mem_cgroup``."""

    name: str
    parent: int | None
    use_hierarchy: bool = True
    initially_present: bool = True


@dataclass(frozen=True, slots=True)
class Topology:
    """The tree of groups. Group index 0 is the root; parents precede children."""

    groups: tuple[GroupSpec, ...]
    id_policy: IdPolicy = "lowest-free"
    _ancestors: tuple[frozenset[int], ...] = field(default=(), init=False, repr=False,
                                                   compare=False)

    def __post_init__(self) -> None:
        if not self.groups or self.groups[0].parent is not None:
            raise ValueError("group 0 must be the root (no parent)")
        for i, g in enumerate(self.groups[1:], start=1):
            if g.parent is None or not 0 <= g.parent < i:
                raise ValueError(f"group {g.name!r}: parent must be declared before it")
        # Derived once: ancestors of every group (self first), for O(depth) subtree tests.
        ancestors: list[frozenset[int]] = []
        for g in self.groups:
            ancestors.append(frozenset({len(ancestors)}) | (
                ancestors[g.parent] if g.parent is not None else frozenset()))
        object.__setattr__(self, "_ancestors", tuple(ancestors))

    @property
    def size(self) -> int:
        return len(self.groups)

    def name(self, g: int) -> str:
        return self.groups[g].name

    def parent(self, g: int) -> int | None:
        return self.groups[g].parent

    def depth(self, g: int) -> int:
        d = 0
        p = self.groups[g].parent
        while p is not None:
            d += 1
            p = self.groups[p].parent
        return d

    def is_descendant(self, g: int, root: int) -> bool:
        """True if ``g`` is ``root`` or below it (css_is_ancestor(), inclusive)."""
        return root in self._ancestors[g]

    def subtree(self, root: int) -> tuple[int, ...]:
        return tuple(g for g in range(self.size) if self.is_descendant(g, root))

    def children(self, g: int) -> tuple[int, ...]:
        return tuple(i for i, s in enumerate(self.groups) if s.parent == g)


def flat(k: int, *, use_hierarchy: bool = True) -> Topology:
    """Root plus ``k - 1`` children named A, B, C, ... (css ids 1..k)."""
    if k < 1:
        raise ValueError("a hierarchy has at least the root")
    groups = [GroupSpec("root", None, use_hierarchy)]
    groups += [GroupSpec(_letter_name(i), 0, use_hierarchy) for i in range(k - 1)]
    return Topology(tuple(groups))


def _letter_name(i: int) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return letters[i] if i < len(letters) else f"G{i}"
