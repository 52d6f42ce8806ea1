"""Mutants of the built-in iterators, for the reduction property tests (test_por_property.py).

A mutant is a variant class that runs the built-in ``mem_cgroup_iter`` /
``mem_cgroup_iter_break`` (``css-id`` or ``seed-spinlock``) and transforms the stream of
operations it yields. The class attributes choose the mutation:

* ``mutation``: what to do with the ``nth`` (1-based) operation of kind ``op_kind`` (-1: any
  kind but a diagram note) of each call of ``target`` (``"iter"`` or ``"break"``):

  - ``drop``: skip it (its result, always None, is sent back to the parent);
  - ``drop_pair``: skip a spin_lock / rcu_read_lock and the unlock that closes it;
  - ``dup``: perform it twice;
  - ``load``: perform a plain load of slot ``slot_kind`` (``refcnt``, ``gstate``,
    ``cssid`` of group ``index``, or ``idr`` slot ``index``; the index is taken modulo the
    number of slots) first, and, with ``branch = "return_none"``, return None at once when
    the value read is greater than ``threshold`` (abandoning whatever the parent holds);
    with ``branch = "reread"``, load it again and return None when the value changed;
  - ``swap``: perform it after the operation that follows it (it must be an operation
    whose result is None, so the parent's next operation is known without performing it);
  - ``replace_store``: store ``how`` (``inc``: value + 1, ``dec``: max(value - 1, 0),
    ``zero``: 0) instead of the value;

* ``skip`` (``mem_cgroup_iter`` only): once the parent returns a group, load its
  ``slot_kind`` slot (``refcnt``, ``gstate`` or ``cssid``) and, when the value is greater
  than ``threshold``, skip the group: return the parent's next one instead (once).

Model-code rules hold: every shared access is a yielded Op, all state is in local variables
(the parent's generator is kept in a local through :class:`Driven`, which fingerprints it by
its own local state), and nothing is written to the object, the classes or this module.

:func:`mutant_source` writes a self-contained variant file: this module's text plus one
class, loadable with ``memcglab check --variant FILE.py:ClassName``.
"""

from __future__ import annotations

from collections.abc import Generator, Hashable
from pathlib import Path
from typing import Any, ClassVar

from memcglab.kernel.context import ReclaimCookie
from memcglab.kernel.iter_css_id import CssIdIter
from memcglab.kernel.iter_seed_spinlock import SeedSpinlockIter
from memcglab.kernel.iterator import IterGen
from memcglab.runtime.ops import Kind, Op, load, store
from memcglab.runtime.program import fingerprint

BASES = {"css-id": "CssIdIter", "seed-spinlock": "SeedSpinlockIter"}
_ = (CssIdIter, SeedSpinlockIter)  # the bases of the classes mutant_source() appends
ANY = -1  # op_kind: any operation but a diagram note
_CLOSE = {Kind.LOCK: Kind.UNLOCK, Kind.RCU_LOCK: Kind.RCU_UNLOCK}


class Driven:
    """A parent generator kept in a local variable of the mutant's generator: the explorer
    fingerprints it by the generator's own local state (code, offset, locals)."""

    __slots__ = ("gen",)

    def __init__(self, gen: Generator[Op, Any, Any]) -> None:
        self.gen = gen

    def __fingerprint__(self) -> Hashable:
        return fingerprint(self.gen)


class Mutant:
    """Mixin placed before CssIdIter or SeedSpinlockIter; see the module docstring."""

    mutation: ClassVar[str] = "none"
    target: ClassVar[str] = "iter"
    op_kind: ClassVar[int] = ANY
    nth: ClassVar[int] = 1
    slot_kind: ClassVar[str] = "refcnt"
    index: ClassVar[int] = 1
    branch: ClassVar[str] = "none"
    threshold: ClassVar[int] = 1
    how: ClassVar[str] = "inc"

    def mem_cgroup_iter(self, root: int | None, prev: int | None,
                        reclaim: ReclaimCookie | None) -> IterGen:
        memcg = yield from self._mutate(
            Driven(super().mem_cgroup_iter(root, prev, reclaim)),  # type: ignore[misc]
            "iter")
        if self.mutation == "skip" and memcg is not None:
            slot = getattr(self.k.layout, self.slot_kind)[memcg]  # type: ignore[attr-defined]
            value = yield load(slot, f"mutant: v = {self.slot_kind} of the group found")
            if value > self.threshold:
                memcg = yield from super().mem_cgroup_iter(  # type: ignore[misc]
                    root, memcg, reclaim)
        return memcg  # type: ignore[no-any-return]

    def mem_cgroup_iter_break(self, root: int | None,
                              prev: int | None) -> Generator[Op, Any, None]:
        yield from self._mutate(
            Driven(super().mem_cgroup_iter_break(root, prev)),  # type: ignore[misc]
            "break")

    def _slot(self) -> int:
        if self.slot_kind == "iter_lock":  # the spinlock's word (seed-spinlock only)
            return int(self.k.layout.iter_list[0].iter_lock)  # type: ignore[attr-defined]
        slots = getattr(self.k.layout, self.slot_kind)  # type: ignore[attr-defined]
        return int(slots[self.index % len(slots)])

    def _mutate(self, p: Driven, fn: str) -> Generator[Op, Any, Any]:
        """Yield the parent's operations, transformed; return what the parent returns."""
        mutation = self.mutation if self.target == fn else "none"
        try:
            op = next(p.gen)
        except StopIteration as stop:
            return stop.value
        seen = 0  # operations of kind op_kind met so far in this call (capped)
        closing = None  # drop_pair: the unlock still to drop, as (kind, slot)
        while True:
            hit = False
            if mutation not in ("none", "skip") and op.kind is not Kind.NOTE and (
                    self.op_kind == ANY or op.kind == self.op_kind) and seen <= self.nth:
                seen += 1
                hit = seen == self.nth
            result = None
            if closing is not None and (op.kind, op.a) == closing:
                closing = None  # the matching unlock of a dropped lock: drop it too
            elif not hit:
                result = yield op
            elif mutation == "drop":
                pass
            elif mutation == "drop_pair":
                closing = (_CLOSE[op.kind], op.a) if op.kind in _CLOSE else None
            elif mutation == "dup":
                yield op
                result = yield op
            elif mutation == "load":
                text = f"mutant: v = {self.slot_kind}[{self.index}]"
                value = yield load(self._slot(), text)
                if self.branch == "return_none" and value > self.threshold:
                    return None
                if self.branch == "reread" and (yield load(self._slot(), text)) != value:
                    return None
                result = yield op
            elif mutation == "replace_store" and op.kind is Kind.STORE:
                value = {"inc": op.b + 1, "dec": max(op.b - 1, 0), "zero": 0}[self.how]
                result = yield store(op.a, value, op.text)
            elif mutation == "swap" and op.kind in (Kind.STORE, Kind.UNLOCK, Kind.PUT,
                                                    Kind.RCU_UNLOCK):
                # The parent's next operation, as if this one had been performed (its
                # result is None); notes in between pass through.
                nxt = None
                ret = None
                try:
                    nxt = p.gen.send(None)
                    while nxt.kind is Kind.NOTE:
                        yield nxt
                        nxt = p.gen.send(None)
                except StopIteration as stop:
                    ret = stop.value  # the parent returned after it: no next operation
                if nxt is None or nxt.kind is Kind.NOTE:
                    yield op
                    return ret
                result = yield nxt
                yield op
            else:
                result = yield op
            try:
                op = p.gen.send(result)
            except StopIteration as stop:
                return stop.value


def class_source(cls_name: str, base: str, attrs: dict[str, Any]) -> str:
    """The definition of one mutant class over ``base`` (a registry name)."""
    lines = [f"class {cls_name}(Mutant, {BASES[base]}):",
             f"    name = {cls_name.lower().replace('_', '-')!r}"]
    lines += [f"    {k} = {v!r}" for k, v in sorted(attrs.items())]
    return "\n".join(lines) + "\n"


def mutant_source(cls_name: str, base: str, attrs: dict[str, Any]) -> str:
    """A self-contained variant file: this module plus the class."""
    return Path(__file__).read_text() + "\n\n" + class_source(cls_name, base, attrs)
