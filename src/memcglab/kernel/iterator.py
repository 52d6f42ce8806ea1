"""The protocol every ``mem_cgroup_iter`` variant implements (built-in or user-written).

A variant is a class with

* ``name``: the registry name (``css-id``, ``seed-spinlock``, or your own);
* ``kernels`` and ``source``: which kernels it models and the citation it follows;
* ``iter_fields``: the fields of ``struct mem_cgroup_reclaim_iter`` it needs, each one slot
  of shared memory per (root, zone, priority) iterator;
* ``mem_cgroup_iter(root, prev, reclaim)`` and ``mem_cgroup_iter_break(root, prev)``:
  generators that yield :class:`~memcglab.runtime.ops.Op` values for every shared access and
  return the result, exactly like the kernel functions of the same names;
* optionally ``semantics`` (era rules of the cgroup core) and ``invariants()`` (extra named
  state predicates checked after every step).

docs/variants.md shows how to write one in your own file and pass it to every command with
``--variant path/to/file.py:ClassName``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from memcglab.kernel.context import KernelContext, ReclaimCookie
from memcglab.kernel.v6_18.context import ReclaimCookie as NodeCookie
from memcglab.model.hierarchy import Topology
from memcglab.model.layout import Layout, Zone
from memcglab.runtime.machine import Semantics
from memcglab.runtime.ops import Op

IterGen = Generator[Op, Any, int | None]
Cookie = ReclaimCookie | NodeCookie
"""The 3.x cookie (zone, priority, generation) or the v6.x one (pgdat, generation)."""


class StateView:
    """Read-only access to one explored state, for variant invariants."""

    def __init__(self, k: KernelContext, shared: Sequence[Any]) -> None:
        self._k = k
        self._shared = shared

    def iter_field(self, root: int, zone: int, priority: int, field: str) -> Any:
        return self._shared[self._k.iter(root, zone, priority)[field]]

    def refcount(self, memcg: int) -> int:
        return int(self._shared[self._k.layout.refcnt[memcg]])

    def group_state(self, memcg: int) -> int:
        return int(self._shared[self._k.layout.gstate[memcg]])

    def css_id(self, memcg: int) -> int:
        return int(self._shared[self._k.layout.cssid[memcg]])

    @property
    def iterators(self) -> list[tuple[int, int, int]]:
        return [(i.key.root, i.key.zone, i.key.priority) for i in self._k.layout.iter_list]


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting of a built-in variant, chosen as ``NAME:setting=value,...``: a kernel
    version whose code the variant follows, or a fix that can be turned off to bring its
    bug back. The class attribute of the same name holds the chosen value (a bool for
    ``on`` / ``off`` settings, else the string)."""

    default: str
    choices: tuple[str, ...]
    description: str

    def value(self, text: str) -> bool | str:
        return text == "on" if self.choices == ("on", "off") else text


@dataclass(frozen=True, slots=True)
class Invariant:
    """A named state predicate a variant adds: ``check`` returns a message when it fails."""

    name: str
    description: str
    check: Callable[[StateView], str | None]


class MemcgIter(ABC):
    """Base class of the variants. Subclasses implement the two kernel functions."""

    _static_ = True
    name: ClassVar[str] = ""
    kernels: ClassVar[str] = ""
    source: ClassVar[str] = ""
    iter_fields: ClassVar[tuple[str, ...]] = ("position", "generation")
    semantics: ClassVar[Semantics] = Semantics()
    # Which kernel's reclaim callers and cgroup core run the variant: "3.7" (one iterator
    # per root, zone and priority; memcglab.kernel.v3_7) or "6.18" (one per root and
    # node; memcglab.kernel.v6_18).
    era: ClassVar[str] = "3.7"
    # The position is a memcg pointer that a successful cmpxchg moves, and winning that
    # cmpxchg is what hands a group out: the lap monitor (unique_per_lap) applies.
    handout_by_cmpxchg: ClassVar[bool] = False
    # Which era's reclaim callers drive the variant in ``memcglab check``
    # (memcglab.explore.system.CALLERS): "3.7" (limit reclaim takes one group per call),
    # "3.10" (walks until nr_to_reclaim, per zone), "4.8" (the same per node), "5.5" (full
    # walks without a cookie), "6.18" (partial walks and the full-walk retry). Empty: era.
    callers: ClassVar[str] = ""
    # Where the iterators live: "zone" (root, zone, priority: v3.x, v4.4-v4.7),
    # "node-priority" (root, node, priority: v4.8-v5.4), "node" (root, node: v5.5+).
    # Empty: "node" for era "6.18", else "zone".
    iter_scope: ClassVar[str] = ""
    # Fields of ``struct mem_cgroup`` the variant reads and writes (one slot per group),
    # and the iterator fields that hold memcg pointers (shown as names in diagrams).
    group_fields: ClassVar[tuple[str, ...]] = ()
    pointer_fields: ClassVar[tuple[str, ...]] = ()
    # The variant only compares and stores generation values (atomic_read, atomic_inc): the
    # explorer may rename them (runtime.ops.Gen). False for a plain ``generation++``.
    generation_names: ClassVar[bool] = True
    # Settings a user may choose (``NAME:setting=value``); see :class:`Setting`.
    settings: ClassVar[dict[str, Setting]] = {}

    @classmethod
    def configured(cls, values: dict[str, str]) -> dict[str, Any]:
        """The class attributes a choice of settings implies, beyond the settings' own
        (a kernel version sets the callers and the iterator scope, say)."""
        return {}

    @classmethod
    def make_layout(cls, topology: Topology, zones: tuple[Zone, ...],
                    priorities: tuple[int, ...], roots: tuple[int, ...]) -> Layout:
        """The shared memory the variant needs: its iterators where its kernel keeps them,
        its per-memcg fields, its pointer fields named for the diagrams."""
        scope = cls.scope()
        layout = Layout(topology, zones, priorities, roots, cls.iter_fields,
                        per_node=scope == "node", node_priority=scope == "node-priority",
                        group_fields=cls.group_fields)
        if cls.pointer_fields:
            layout.set_pointer_fields(cls.pointer_fields)
        return layout

    @classmethod
    def scope(cls) -> str:
        return cls.iter_scope or ("node" if cls.era == "6.18" else "zone")

    @classmethod
    def caller_era(cls) -> str:
        return cls.callers or cls.era

    def __init__(self, k: KernelContext) -> None:
        self.k = k

    @abstractmethod
    def mem_cgroup_iter(self, root: int | None, prev: int | None,
                        reclaim: Cookie | None) -> IterGen:
        """Return the next memcg under ``root`` after ``prev``, or None.

        Contract (mm/memcontrol.c, all versions): the caller passes the returned memcg back
        as ``prev`` on the next call, or calls :meth:`mem_cgroup_iter_break`. A reclaimer
        passing a cookie shares the walk with every other reclaimer using the same
        (root, zone, priority).
        """

    @abstractmethod
    def mem_cgroup_iter_break(self, root: int | None,
                              prev: int | None) -> Generator[Op, Any, None]:
        """Models ``mem_cgroup_iter_break()``: drop the reference on ``prev`` (not root)."""

    def mem_cgroup_css_released(self, memcg: int) -> Generator[Op, Any, None]:
        """v6.x ``mem_cgroup_css_released()``, run by the release work of a removed group
        (era "6.18" only): the variant's clean-up of its iterators. None by default."""
        return
        yield  # a generator that yields nothing

    def mem_cgroup_css_offline(self, memcg: int) -> Generator[Op, Any, None]:
        """v3.10-v3.18 ``mem_cgroup_css_offline()``, run by the removing task between the
        kill of the css and the put of the reference the kill kept (variants whose callers
        use the v3.10 cgroup core): the variant's invalidation of its iterators."""
        return
        yield  # a generator that yields nothing

    def invariants(self) -> tuple[Invariant, ...]:
        return ()
