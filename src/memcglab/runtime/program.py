"""Thread programs: generator code compiled lazily into a transition table.

A thread's code is a generator that yields :class:`~memcglab.runtime.ops.Op` values and
receives their results. It touches no shared state itself, so what it does next depends only
on where it is suspended and on its local variables. :class:`Program` names that *local
state* by a fingerprint of the suspended frames (code, instruction offset and local values of
every frame in the ``yield from`` chain) and numbers it (an ``lsid``).

The explorer then needs the generator only the first time it meets a pair (lsid, result):
``step(lsid, result) -> lsid'`` is remembered in a table, and every later visit is a dict
lookup. This is what lets readable, kernel-shaped generator code be explored like a compiled
state machine (docs/internals.md has the argument and its limits).

Rules for model code, checked here: local variables must hold values (None, bool, int, str,
tuples, frozensets, enums, frozen dataclasses), objects with a ``__fingerprint__()``
method, or static objects (class attribute ``_static_ = True``, functions, classes). A local
holding anything else makes the fingerprint unsound, so it is refused with
:class:`~memcglab.errors.ModelError`.
"""

from __future__ import annotations

import dataclasses
import dis
import functools
import types
from collections.abc import Callable, Generator, Hashable
from enum import Enum
from pathlib import Path
from typing import Any

from memcglab.errors import MemcglabError, ModelError, NondeterminismError
from memcglab.runtime.ops import Gen, Kind, Op

ThreadGen = Generator[Op, Any, None]
DONE_FP: tuple[str] = ("<done>",)

_PLAIN = (int, str, float, type(None), Enum)
_STATIC_TYPES = (types.FunctionType, types.MethodType, types.BuiltinFunctionType, type,
                 types.ModuleType, types.CodeType)


_GENS: list[int] | None = None  # set by fingerprint(): the generation values met


_SELF = frozenset({int, str, type(None)})  # types that are their own frozen form
_STATIC_KIND: dict[type, bool] = {}  # type -> its instances freeze as ("<static>", id)


def _static_kind(t: type) -> bool:
    """Whether instances of ``t`` are static objects: checked once per type, in the order
    :func:`_freeze` would otherwise test them."""
    kind = _STATIC_KIND.get(t)
    if kind is None:
        params = getattr(t, "__dataclass_params__", None)
        kind = _STATIC_KIND[t] = (
            not issubclass(t, (bool, float, Gen, *_PLAIN, tuple, frozenset))
            and not (params is not None and params.frozen)
            and getattr(t, "__fingerprint__", None) is None
            and (bool(getattr(t, "_static_", False)) or issubclass(t, _STATIC_TYPES)))
    return kind


def _freeze(value: Any, where: str) -> Hashable:
    t = type(value)
    if t in _SELF:
        return value  # type: ignore[no-any-return]
    if t is tuple:
        return tuple(_freeze(v, where) for v in value)
    if _static_kind(t):
        return ("<static>", id(value))
    if t is Gen:
        if _GENS is not None:
            _GENS.append(int(value))
        return ("<gen>", int(value))
    if isinstance(value, bool):
        return ("<bool>", value)
    if type(value) is float:  # 1.0 == 1 in Python, but not in a fingerprint
        return ("<float>", value.hex())
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, tuple):
        return tuple(_freeze(v, where) for v in value)
    if isinstance(value, frozenset):
        return frozenset(_freeze(v, where) for v in value)
    params = getattr(type(value), "__dataclass_params__", None)
    if params is not None and params.frozen:
        # A frozen dataclass is a value when its fields are: freeze them too.
        return (type(value), tuple(_freeze(getattr(value, f.name), f"{where}.{f.name}")
                                   for f in dataclasses.fields(value)))
    fp = getattr(value, "__fingerprint__", None)
    if fp is not None:
        return (type(value).__name__, _freeze(fp(), f"{where}.__fingerprint__()"))
    if getattr(type(value), "_static_", False) or isinstance(value, _STATIC_TYPES):
        return ("<static>", id(value))
    raise ModelError(
        f"{where} holds a {type(value).__name__}; model code may keep only values, objects "
        "with __fingerprint__() or static objects (_static_ = True) in local variables")


def _where(e: BaseException) -> str:
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return "" if tb is None else f" (at {tb.tb_frame.f_code.co_filename}:{tb.tb_lineno})"


# Operations only memcglab's own code yields: the invariant monitors' and the cgroup
# changes of the admin CPU.
MONITOR_KINDS = frozenset({Kind.CLAIM, Kind.WALK_START, Kind.MKDIR, Kind.RMDIR,
                           Kind.CLEAR_CSS_REFS, Kind.SYNC_RCU_START, Kind.SYNC_RCU_WAIT,
                           Kind.FREE_CSS_ID, Kind.CALL_RCU_FREE, Kind.KILL_CSS,
                           Kind.RELEASE_WAIT, Kind.CSS_RELEASE})
_PACKAGE = str(Path(__file__).resolve().parents[1])


@functools.cache
def _ours(filename: str) -> bool:
    """Whether a code object's file is part of memcglab itself."""
    return str(Path(filename).resolve()).startswith(_PACKAGE)


def _from_memcglab(gen: Any) -> bool:
    """Whether the innermost generator of a ``yield from`` chain is memcglab's own code."""
    while getattr(gen, "gi_yieldfrom", None) is not None:
        gen = gen.gi_yieldfrom
    code = getattr(gen, "gi_code", None)
    return code is not None and _ours(code.co_filename)


_UNCONDITIONAL = frozenset({"JUMP_FORWARD", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT"})
_TERMINAL = frozenset({"RETURN_VALUE", "RAISE_VARARGS", "RERAISE"})
_JUMPS = frozenset(dis.hasjrel) | frozenset(dis.hasjabs)


@functools.cache
def _yield_stack_items(code: types.CodeType) -> dict[int, tuple[int, bool]]:
    """For each ``yield`` of ``code``: how many values the frame's stack holds while it is
    suspended there, and whether it is the yield of a ``yield from``.

    A fingerprint sees a frame's locals, not its value stack, so a value kept on the stack
    across a yield (the left operand of ``(yield a) + (yield b)``, the iterator of a ``for``
    loop, a pending ``return`` inside ``try/finally``) would let two different local states
    merge. This finds them from the bytecode (a stack-depth pass over the control flow,
    exception handlers included), so model code can be refused before it misleads."""
    instrs = list(dis.get_instructions(code))
    at = {ins.offset: i for i, ins in enumerate(instrs)}
    depth: dict[int, int] = {}
    # Start after the generator prologue (RETURN_GENERATOR, POP_TOP) at the first RESUME,
    # where the stack is empty: the exception table counts depths from there too.
    start = next((ins.offset for ins in instrs if ins.opname == "RESUME"), instrs[0].offset)
    work = [(start, 0)]
    for e in dis.Bytecode(code).exception_entries:  # type: ignore[attr-defined]
        work.append((e.target, e.depth + (1 if e.lasti else 0) + 1))
    while work:
        off, d = work.pop()
        if off in depth:
            continue
        depth[off] = d
        i = at[off]
        ins = instrs[i]
        arg = ins.arg if ins.opcode >= dis.HAVE_ARGUMENT else None
        if ins.opcode in _JUMPS:
            work.append((ins.argval, d + dis.stack_effect(ins.opcode, arg, jump=True)))
        if ins.opname in _UNCONDITIONAL or ins.opname in _TERMINAL or i + 1 >= len(instrs):
            continue
        work.append((instrs[i + 1].offset, d + dis.stack_effect(ins.opcode, arg, jump=False)))
    return {ins.offset: (depth[ins.offset], instrs[at[ins.offset] - 1].opname == "SEND")
            for ins in instrs if ins.opname == "YIELD_VALUE" and ins.offset in depth}


_READS = frozenset({"LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_FAST_AND_CLEAR"})
_KILLS = frozenset({"STORE_FAST", "DELETE_FAST"})


@functools.cache
def _live_at_yields(code: types.CodeType) -> dict[int, frozenset[str]]:
    """For each ``yield`` of ``code``: the local variables that may be read after the frame
    resumes there before being written again (live variables, a backward data-flow pass
    over the control flow, exception handlers included). The others are dead: no future
    of the frame depends on them, so its local state is the same whatever they hold
    (docs/internals.md, "Dead variables"). Cell and free variables (closures) are always
    live; a code object with an instruction this pass does not know reports every
    variable live."""
    instrs = list(dis.get_instructions(code))
    always = frozenset(code.co_cellvars) | frozenset(code.co_freevars)
    names = frozenset(code.co_varnames) | always
    if any((ins.opname.startswith(("LOAD_FAST", "STORE_FAST")) and ins.opname not in
           _READS | _KILLS) or ins.opname in ("LOAD_LOCALS", "IMPORT_STAR") for ins in instrs):
        return {ins.offset: names for ins in instrs if ins.opname == "YIELD_VALUE"}
    at = {ins.offset: i for i, ins in enumerate(instrs)}
    handlers = [(e.start, e.end, e.target)
                for e in dis.Bytecode(code).exception_entries]  # type: ignore[attr-defined]
    succ: list[list[int]] = []
    for i, ins in enumerate(instrs):
        out: list[int] = []
        if ins.opcode in _JUMPS:
            out.append(at[ins.argval])
        if not (ins.opname in _UNCONDITIONAL or ins.opname in _TERMINAL) and i + 1 < len(instrs):
            out.append(i + 1)
        out += [at[t] for lo, hi, t in handlers if lo <= ins.offset < hi]
        succ.append(out)
    live_in: list[frozenset[str]] = [frozenset()] * len(instrs)
    changed = True
    while changed:  # to the fixpoint; model code is small
        changed = False
        for i in range(len(instrs) - 1, -1, -1):
            ins = instrs[i]
            after: frozenset[str] = frozenset().union(*(live_in[j] for j in succ[i]))
            if ins.opname in _READS:
                new = after | {ins.argval}
            elif ins.opname in _KILLS:
                new = after - {ins.argval}
            else:
                new = after
            if new != live_in[i]:
                live_in[i] = new
                changed = True
    return {ins.offset: (live_in[i + 1] if i + 1 < len(instrs) else frozenset()) | always
            for i, ins in enumerate(instrs) if ins.opname == "YIELD_VALUE"}


def _rename_gens(fp: Hashable, mapping: dict[int, int]) -> Hashable:
    if isinstance(fp, tuple):
        if len(fp) == 2 and fp[0] == "<gen>" and type(fp[1]) is int:
            return ("<gen>", mapping[fp[1]])
        return tuple(_rename_gens(x, mapping) for x in fp)
    if isinstance(fp, frozenset):
        return frozenset(_rename_gens(x, mapping) for x in fp)
    return fp


def _rename_results(results: list[Hashable], mapping: dict[int, int]) -> list[Hashable]:
    """Results with their generation values renamed: by ``mapping``, and every value it
    does not name to a fresh negative one (distinct from each other and from every image),
    so that every equality between them is kept."""
    fresh: dict[int, int] = {}
    out: list[Hashable] = []
    for v in results:
        if type(v) is Gen:
            k = int(v)
            v = Gen(mapping[k]) if k in mapping else Gen(fresh.setdefault(k, -1 - len(fresh)))
        out.append(v)
    return out


def _check_stack(frame: types.FrameType, where: str) -> None:
    code = frame.f_code
    if _ours(code.co_filename):
        return  # memcglab's own code is written to the rule (and reviewed)
    items, in_yield_from = _yield_stack_items(code).get(frame.f_lasti, (1, False))
    if items > (2 if in_yield_from else 1):
        raise ModelError(
            f"{where}() keeps a value on Python's stack across a yield (line "
            f"{frame.f_lineno}): a left operand such as in (yield a) + (yield b), the "
            "iterator of a for loop, or a pending return inside try/finally. The explorer "
            "recognises states by their local variables, so keep such values in locals: "
            "x = yield a; y = yield b; loop with while and a local index")


def fingerprint(gen: ThreadGen, dead_variables: bool = False,
                gens: list[int] | None = None) -> Hashable:
    """The local state of a suspended generator chain, as a hashable value. With
    ``dead_variables`` the frames' dead locals are left out (:func:`_live_at_yields`);
    ``gens`` collects the generation values in it."""
    global _GENS
    _GENS = gens
    try:
        return _fingerprint(gen, dead_variables)
    finally:
        _GENS = None


def _fingerprint(gen: ThreadGen, dead_variables: bool) -> Hashable:
    parts: list[Hashable] = []
    g: Any = gen
    while g is not None:
        frame = g.gi_frame
        if frame is None:
            break
        code = frame.f_code
        live = _live_at_yields(code).get(frame.f_lasti) if dead_variables else None
        if live is not None:
            # A value on the frame's stack (a for loop's iterator) is state the locals do
            # not show: there every local is kept, as before the dead-variable reduction
            # (the loop variable then tells the iterations apart).
            items, in_yield_from = _yield_stack_items(code).get(frame.f_lasti, (1, False))
            if items > (2 if in_yield_from else 1):
                live = None
        local_items = sorted(((k, v) for k, v in frame.f_locals.items()
                              if live is None or k in live), key=lambda kv: kv[0])
        where = code.co_qualname
        _check_stack(frame, where)
        parts.append((code, frame.f_lasti,
                      tuple((k, _freeze(v, f"local {k!r} of {where}()")) for k, v in local_items)))
        g = getattr(g, "gi_yieldfrom", None)
    return tuple(parts)


class Program:
    """One thread's code, with its lazily built transition table.

    ``pending[lsid]`` is the op the thread will perform next in that local state (None once
    it has finished); ``step(lsid, result)`` is the local state after that op returned
    ``result``. Threads running the same program share the table.
    """

    _static_ = True

    def __init__(self, name: str, factory: Callable[[], ThreadGen],
                 guard: Callable[[], Hashable] | None = None,
                 dead_variables: bool = False) -> None:
        self.name = name
        self.dead_variables = dead_variables
        self.factory = factory
        # ``guard()`` snapshots state the model code must not keep (a variant's attributes,
        # its module's globals): it must be the same after every step as before, or runs
        # would depend on what earlier runs did (replays fail, distinct states merge).
        self.guard = guard
        self._ids: dict[Hashable, int] = {}
        self._fps: list[Hashable] = []
        self.pending: list[Op | None] = []
        self._trans: dict[tuple[Any, ...], int] = {}
        self._recipe: list[tuple[int, Hashable] | None] = []
        # Generation values in each local state (sorted), and local states with their
        # generations renamed: (lsid, images) -> lsid (see renamed()).
        self.gens: list[tuple[int, ...]] = []
        self._renamed: dict[tuple[int, tuple[int, ...]], int] = {}
        self._spares: dict[int, ThreadGen] = {}
        before = guard() if guard is not None else None
        gen = factory()
        op = self._advance(gen, None, first=True)
        self._check_guard(before)
        # A second start must reach the same local state: catches code that draws random
        # numbers or reads the clock before its first operation (later steps are checked
        # whenever a generator is rebuilt by replaying its results).
        again = factory()
        op2 = self._advance(again, None, first=True)
        if op2 != op or (op is not None and fingerprint(again, dead_variables) != fingerprint(
                gen, dead_variables)):
            raise NondeterminismError(f"{name}: two starts of the same thread reached "
                                      "different states")
        again.close()
        self.initial = self._intern(gen, op, None)

    @property
    def local_states(self) -> int:
        return len(self.pending)

    def transitions(self) -> list[tuple[tuple[int, Hashable], int]]:
        """Every local transition compiled so far: ((lsid, result), next lsid)."""
        return [((key[0], key[-1]), nxt) for key, nxt in self._trans.items()]

    def step(self, lsid: int, result: Hashable) -> int:
        t = type(result)
        # True == 1 == 1.0 in Python: a result of another type must not reuse the
        # transition compiled for an equal one.
        key = (lsid, result) if t is int or result is None else (lsid, t, result)
        nxt = self._trans.get(key)
        if nxt is None:
            nxt = self._compile(lsid, result)
            self._trans[key] = nxt
        return nxt

    def _compile(self, lsid: int, result: Hashable) -> int:
        gen = self._spares.pop(lsid, None) or self._materialize(lsid)
        before = self.guard() if self.guard is not None else None
        op = self._advance(gen, result)
        self._check_guard(before)
        return self._intern(gen, op, (lsid, result))

    def _advance(self, gen: ThreadGen, result: Hashable, first: bool = False) -> Op | None:
        """The next op of ``gen`` (None once it has returned)."""
        try:
            op = next(gen) if first else gen.send(result)
        except StopIteration:
            return None
        except (MemoryError, MemcglabError):
            raise  # a resource limit, or memcglab's own precise message: not the model's
        except Exception as e:  # the model code itself failed: say where
            raise ModelError(f"{self.name}: the model code raised {type(e).__name__}: {e}"
                             f"{_where(e)}") from e
        if type(op) is not Op:  # None included: a bare yield is not a way to finish
            raise ModelError(f"{self.name}: model code yielded {op!r}; it must yield "
                             "memcglab.runtime.ops.Op values (load, store, spin_lock, ...)")
        if op.kind in MONITOR_KINDS and not _from_memcglab(gen):
            raise ModelError(f"{self.name}: model code yielded a {op.kind.name} operation; "
                             "those are the invariant monitors' own or the admin CPU's, "
                             "yielded by memcglab's reclaim callers and cgroup changes, "
                             "never by a variant")
        return op

    def _check_guard(self, before: Hashable) -> None:
        if self.guard is None:
            return
        after = self.guard()
        if after != before:
            assert isinstance(before, tuple) and isinstance(after, tuple)
            changed = sorted({k for k, _ in set(before) ^ set(after)})
            raise ModelError(
                f"{self.name}: the model code changed {', '.join(changed)} while it ran. "
                "Model code must be a deterministic function of the results it receives, "
                "keeping state only in local variables and in shared memory (yielded ops): "
                "state kept on the variant object, in module globals or in a random "
                "generator survives from one explored run into the next, so replays would "
                "not reproduce and distinct states would be merged")

    def _intern(self, gen: ThreadGen, op: Op | None, recipe: tuple[int, Hashable] | None) -> int:
        # The pending op is part of the local state: it was computed from values that may
        # be dead once the frame is suspended (a css_put(prev) whose prev is not read again).
        gens: list[int] = []
        fp = (fingerprint(gen, self.dead_variables, gens), op) if op is not None else DONE_FP
        lsid = self._ids.get(fp)
        if lsid is None:
            lsid = len(self.pending)
            self._ids[fp] = lsid
            self._fps.append(fp)
            self.pending.append(op)
            self._recipe.append(recipe)
            self.gens.append(tuple(sorted(set(gens))))
        elif self.pending[lsid] != op:
            raise NondeterminismError(
                f"{self.name}: two runs reached the same local state but then did "
                f"{self.pending[lsid]} and {op}")
        if op is not None and lsid not in self._spares:
            self._spares[lsid] = gen
        return lsid

    def _results(self, lsid: int) -> list[Hashable]:
        """The results that lead from the start to ``lsid``, in order (a renamed state's
        are its source's, with the generation values renamed)."""
        tail: list[Hashable] = []
        x = lsid
        while (r := self._recipe[x]) is not None and r[0] >= 0:
            tail.append(r[1])
            x = r[0]
        tail.reverse()
        if r is None:
            return tail
        # A renamed state: (~source, images of the source's generations).
        src = ~r[0]
        images: tuple[int, ...] = r[1]  # type: ignore[assignment]
        head = _rename_results(self._results(src), dict(zip(self.gens[src], images,
                                                            strict=True)))
        return head + tail

    def _replay(self, results: list[Hashable]) -> tuple[ThreadGen, Op | None]:
        before = self.guard() if self.guard is not None else None
        gen = self.factory()
        try:
            op = next(gen)
            for result in results:
                op = gen.send(result)
            self._check_guard(before)
        except StopIteration:
            raise NondeterminismError(f"{self.name}: replaying its results ended the thread "
                                      "early") from None
        return gen, op

    def _materialize(self, lsid: int) -> ThreadGen:
        """A live generator in local state ``lsid``, rebuilt by replaying its results."""
        gen, op = self._replay(self._results(lsid))
        if (fingerprint(gen, self.dead_variables), op) != self._fps[lsid]:
            raise NondeterminismError(f"{self.name}: replaying its results reached another state")
        return gen

    def renamed(self, lsid: int, images: tuple[int, ...]) -> int:
        """The local state ``lsid`` with its generation values (``gens[lsid]``, in order)
        renamed to ``images``: reached by replaying its results with those values renamed
        (and every other generation value it read renamed to a fresh one). Checks that the
        model treats generation values as names (compares and stores them only): the
        replay must reach exactly the renamed state, else the model is refused."""
        mine = self.gens[lsid]
        if images == mine:
            return lsid
        key = (lsid, images)
        out = self._renamed.get(key)
        if out is not None:
            return out
        mapping = dict(zip(mine, images, strict=True))
        gen, op = self._replay(_rename_results(self._results(lsid), mapping))
        want = _rename_gens(self._fps[lsid][0], mapping)  # type: ignore[index]
        if fingerprint(gen, self.dead_variables) != want:
            raise ModelError(
                f"{self.name}: the model code does more with iterator generation values than "
                "compare and store them (renaming them consistently led to another local "
                "state), so states cannot be merged up to a renaming of generations; run "
                "with --no-symmetry")
        out = self._intern(gen, op, (~lsid, images))
        if self._spares.get(out) is gen:
            # A renamed state only keys canonical states; it is never stepped, so its
            # generator is not kept (the memory of a large search).
            del self._spares[out]
            gen.close()
        self._renamed[key] = out
        return out
