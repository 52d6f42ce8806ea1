"""The registry of iterator variants, and loading of user-written ones.

``--variant NAME`` picks a registered variant; ``--variant path/to/file.py:ClassName`` loads a
class from the user's own file (docs/variants.md).

A user's variant is code memcglab does not control, so every way into it goes through this
module and turns what the plugin does wrong into a user error that names the file and the
class (never an internal error, never a silent exit):

* :func:`resolve_variant` imports the file and checks the class (a subclass of
  :class:`~memcglab.kernel.iterator.MemcgIter` with both methods written as generators,
  ``iter_fields`` a tuple of distinct names, a ``name`` of its own);
* :func:`instantiate_variant` constructs it; a user variant's ``mem_cgroup_iter`` then also
  checks what it returns (None or a group index of the hierarchy);
* :func:`variant_invariants` checks what ``invariants()`` returns and guards each predicate.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
import traceback
import zlib
from collections.abc import Callable, Generator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from memcglab.errors import ConfigError, ModelError
from memcglab.kernel.context import KernelContext, ReclaimCookie
from memcglab.kernel.iter_css_id import CssIdIter
from memcglab.kernel.iter_seed_spinlock import SeedSpinlockIter
from memcglab.kernel.iterator import Invariant, IterGen, MemcgIter, StateView
from memcglab.kernel.v3_10.memcontrol import DeadCountIter, PointerRefLockIter
from memcglab.kernel.v3_19.memcontrol import StrongCursorIter
from memcglab.kernel.v4_4.memcontrol import WeakCursorIter
from memcglab.kernel.v6_18.memcontrol import CurrentIter
from memcglab.runtime.machine import Semantics
from memcglab.runtime.ops import Op

ITERATORS: Mapping[str, type[MemcgIter]] = {
    CssIdIter.name: CssIdIter,
    SeedSpinlockIter.name: SeedSpinlockIter,
    PointerRefLockIter.name: PointerRefLockIter,
    DeadCountIter.name: DeadCountIter,
    StrongCursorIter.name: StrongCursorIter,
    WeakCursorIter.name: WeakCursorIter,
    CurrentIter.name: CurrentIter,
}

# Classes loaded from users' files -> "path.py:ClassName" (absolute path), for messages.
_SPECS: dict[type[MemcgIter], str] = {}
# (real path, size, mtime, class) -> class: a file is imported once per process even when
# several commands or layers resolve it (the scenario loader, then the simulator).
_LOADED: dict[tuple[str, int, int, str], type[MemcgIter]] = {}
# Exceptions that are never the plugin's fault to report: the user pressed Ctrl-C (or
# memcglab was terminated), or the machine ran out of memory (reported as a resource limit).
_PASS_THROUGH = (KeyboardInterrupt, MemoryError)


def is_builtin(spec: str) -> bool:
    return spec.split(":", 1)[0] in ITERATORS


def split_variants(text: str) -> list[str]:
    """A comma-separated list of variants (``--variants``), where a variant with several
    settings keeps its own commas: ``current,current:a=off,b=off`` is two variants. A
    piece of the form ``setting=value`` after a variant with settings belongs to it."""
    out: list[str] = []
    for piece in (x.strip() for x in text.split(",")):
        if not piece:
            continue
        if out and "=" in piece and ":" not in piece and ":" in out[-1] and \
                is_builtin(out[-1]):
            out[-1] = f"{out[-1]},{piece}"
        else:
            out.append(piece)
    return out


def variant_list(text: str, flag: str = "--variants") -> list[str]:
    """``--variants``: the list, each variant resolved (a bad one says why), none twice
    however it is spelled (``current:a=off`` and ``current: a=off`` are one variant)."""
    variants = split_variants(text)
    if len(set(variants)) != len(variants):
        raise ConfigError(f"{flag}: {text!r} names a variant twice")
    classes = [resolve_variant(v) for v in variants]
    if len(set(classes)) != len(classes):
        raise ConfigError(f"{flag}: {text!r} names one variant twice (spelled differently)")
    return variants


# Built-in variants with settings chosen, by canonical spec.
_CONFIGURED: dict[str, type[MemcgIter]] = {}


def configure_variant(spec: str) -> type[MemcgIter]:
    """``NAME:setting=value,...``: the registered variant with those settings (each
    checked: a known setting, given once, one of its values)."""
    name, _, rest = spec.partition(":")
    base = ITERATORS[name]
    if not base.settings:
        raise ConfigError(f"variant {name!r} has no settings (got {spec!r})")
    valid = ", ".join(f"{k}=<{'|'.join(v.choices)}>" for k, v in base.settings.items())
    values: dict[str, str] = {}
    for item in rest.split(","):
        key, eq, value = item.strip().partition("=")
        if not eq or not key:
            raise ConfigError(f"variant {spec!r}: expected setting=value, got {item!r}; "
                              f"settings of {name}: {valid}")
        if key not in base.settings:
            raise ConfigError(f"variant {spec!r}: {name} has no setting {key!r}; "
                              f"settings: {valid}")
        if key in values:
            raise ConfigError(f"variant {spec!r}: setting {key!r} given twice")
        choices = base.settings[key].choices
        if value not in choices:
            raise ConfigError(f"variant {spec!r}: setting {key}: expected one of "
                              f"{', '.join(choices)}, got {value!r}")
        values[key] = value
    canonical = f"{name}:" + ",".join(f"{k}={values[k]}" for k in base.settings
                                      if k in values)
    if canonical in _CONFIGURED:
        return _CONFIGURED[canonical]
    full = {k: values.get(k, v.default) for k, v in base.settings.items()}
    attrs: dict[str, Any] = {k: base.settings[k].value(v) for k, v in full.items()}
    attrs.update(base.configured(full))
    attrs.update(name=canonical, __module__=base.__module__, __qualname__=base.__qualname__,
                 __doc__=base.__doc__)
    meta: Any = type(base)
    cls: type[MemcgIter] = meta(base.__name__, (base,), attrs)
    _CONFIGURED[canonical] = cls
    return cls


def plugin_path(spec: str) -> Path | None:
    """The file of a ``path.py:ClassName`` spec (None for a registered name)."""
    if is_builtin(spec) or ":" not in spec:
        return None
    path_s = spec.rsplit(":", 1)[0]
    return Path(path_s) if path_s.endswith(".py") else None


def describe_exit(e: SystemExit) -> str:
    """``sys.exit(3)`` as the user wrote it."""
    return f"sys.exit({e.code!r})" if e.code is not None else "sys.exit()"


def _where(e: BaseException) -> str:
    frames = traceback.extract_tb(e.__traceback__)
    return f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""


def resolve_variant(spec: str) -> type[MemcgIter]:
    """A variant class from a registry name or ``path.py:ClassName``."""
    if spec in ITERATORS:
        return ITERATORS[spec]
    if spec.split(":", 1)[0] in ITERATORS:
        return configure_variant(spec)
    if ":" not in spec or not spec.split(":", 1)[0].endswith(".py"):
        raise ConfigError(
            f"unknown variant {spec!r}; valid: {', '.join(ITERATORS)}, "
            "or path/to/file.py:ClassName for your own")
    path_s, cls_name = spec.rsplit(":", 1)
    path = Path(path_s)
    if not path.is_file():
        raise ConfigError(f"variant file {path_s!r} does not exist")
    if not cls_name.isidentifier():
        raise ConfigError(f"variant {spec!r}: {cls_name!r} is not a class name")
    real = os.path.realpath(path)
    st = path.stat()
    key = (real, st.st_size, st.st_mtime_ns, cls_name)
    if key in _LOADED:
        return _LOADED[key]
    cls = _check_class(path_s, cls_name, _import(path_s, real, st.st_mtime_ns))
    _LOADED[key] = cls
    _SPECS[cls] = f"{real}:{cls_name}"
    return cls


def _import(path_s: str, real: str, stamp: int) -> Any:
    mod_name = f"memcglab_user_variant_{zlib.crc32(f'{real}:{stamp}'.encode()):08x}"
    loader_spec = importlib.util.spec_from_file_location(mod_name, real)
    if loader_spec is None or loader_spec.loader is None:
        raise ConfigError(f"variant file {path_s!r} cannot be imported")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[mod_name] = module
    try:
        loader_spec.loader.exec_module(module)
    except _PASS_THROUGH:
        sys.modules.pop(mod_name, None)
        raise
    except SystemExit as e:  # the file ends the process on import: refuse, never obey
        sys.modules.pop(mod_name, None)
        raise ConfigError(f"variant file {path_s!r} called {describe_exit(e)} while being "
                          f"imported{_where(e)}; a variant file must only define classes") from e
    except BaseException as e:  # the user's file: report, do not hide
        sys.modules.pop(mod_name, None)
        raise ConfigError(f"variant file {path_s!r} failed to import: "
                          f"{type(e).__name__}: {e}") from e
    return module


def _check_class(path_s: str, cls_name: str, module: Any) -> type[MemcgIter]:
    where = f"{path_s}:{cls_name}"
    cls = getattr(module, cls_name, None)
    if cls is None:
        found = [n for n, v in vars(module).items()
                 if inspect.isclass(v) and issubclass(v, MemcgIter) and v is not MemcgIter]
        raise ConfigError(f"{path_s}: no class {cls_name!r}; variant classes there: "
                          f"{', '.join(found) or 'none'}")
    if not (inspect.isclass(cls) and issubclass(cls, MemcgIter)):
        raise ConfigError(f"{where} is not a subclass of memcglab.kernel.iterator.MemcgIter")
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
        raise ConfigError(f"{where}: the class does not implement {missing} (see "
                          "docs/variants.md: both kernel functions are generators)")
    for meth in ("mem_cgroup_iter", "mem_cgroup_iter_break"):
        if not inspect.isgeneratorfunction(getattr(cls, meth, None)):
            raise ConfigError(f"{where}: {meth} must be a generator function (it yields "
                              "memcglab.runtime.ops.Op values and returns its result)")
    if not isinstance(cls.name, str) or not cls.name:
        raise ConfigError(f"{where}: set the class attribute name = '...'")
    fields = cls.iter_fields
    if (not isinstance(fields, tuple) or not all(isinstance(x, str) and x for x in fields)):
        raise ConfigError(f"{where}: iter_fields must be a tuple of field names, e.g. "
                          f"('position', 'generation'); got {fields!r}")
    dup = sorted({x for x in fields if fields.count(x) > 1})
    if dup:
        raise ConfigError(f"{where}: iter_fields names {', '.join(dup)} more than once")
    missing_fields = [f for f in ("position", "generation") if f not in fields]
    if missing_fields and not getattr(cls, "custom_fields_ok", False):
        raise ConfigError(f"{where}: iter_fields must include {missing_fields}")
    if not isinstance(cls.semantics, Semantics):
        raise ConfigError(f"{where}: semantics must be a memcglab.runtime.machine.Semantics, "
                          f"got {type(cls.semantics).__name__}")
    if cls.name in ITERATORS:
        # A report must never pass a user's variant off as the built-in one: the name the
        # reports print carries the file.
        meta: Any = type(cls)
        cls = meta(cls.__name__, (cls,), {
            "name": f"{cls.name} ({where})", "__module__": cls.__module__,
            "__qualname__": cls.__qualname__, "__doc__": cls.__doc__})
    return cls


def variant_label(cls: type[MemcgIter]) -> str:
    """``path.py:ClassName`` for a user's variant, the registry name for a built-in one."""
    return _SPECS.get(cls, cls.name)


# -- construction and the checks around the user's code ------------------------------------


def _checked_iter(self: Any, root: int | None, prev: int | None,
                  reclaim: ReclaimCookie | None) -> IterGen:
    try:
        memcg = yield from self._memcglab_user_cls.mem_cgroup_iter(self, root, prev, reclaim)
    except SystemExit as e:
        raise ModelError(f"variant {self._memcglab_label}: mem_cgroup_iter called "
                         f"{describe_exit(e)}{_where(e)}") from e
    if memcg is not None and (type(memcg) is not int
                              or not 0 <= memcg < self._memcglab_ngroups):
        raise ModelError(
            f"variant {self._memcglab_label}: mem_cgroup_iter returned {memcg!r}; it must "
            f"return None or a group index 0..{self._memcglab_ngroups - 1} of the hierarchy")
    return memcg


def _checked_break(self: Any, root: int | None,
                   prev: int | None) -> Generator[Op, Any, None]:
    try:
        yield from self._memcglab_user_cls.mem_cgroup_iter_break(self, root, prev)
    except SystemExit as e:
        raise ModelError(f"variant {self._memcglab_label}: mem_cgroup_iter_break called "
                         f"{describe_exit(e)}{_where(e)}") from e


_CHECKED: dict[tuple[type[MemcgIter], int], type[MemcgIter]] = {}


def _checked_class(cls: type[MemcgIter], ngroups: int) -> type[MemcgIter]:
    """A subclass of the user's class whose generators check what the user's code returns.

    Its generator frames hold only values (self is static), so the explorer's fingerprints
    stay sound; it adds one frame to each call of the user's code.
    """
    key = (cls, ngroups)
    if key not in _CHECKED:
        meta: Any = type(cls)
        _CHECKED[key] = meta(cls.__name__, (cls,), {
            "__module__": cls.__module__, "__qualname__": cls.__qualname__,
            "__doc__": cls.__doc__, "_memcglab_user_cls": cls,
            "_memcglab_label": variant_label(cls), "_memcglab_ngroups": ngroups,
            "mem_cgroup_iter": _checked_iter, "mem_cgroup_iter_break": _checked_break})
    return _CHECKED[key]


T = TypeVar("T")


def _call_user(fn: Callable[[], T], label: str, what: str,
               error: type[ConfigError] | type[ModelError]) -> T:
    """``fn()``, the user's code: anything it raises (``sys.exit()`` too) becomes ``error``,
    naming the variant, what it was doing and where."""
    try:
        return fn()
    except _PASS_THROUGH:
        raise
    except SystemExit as e:
        raise error(f"variant {label}: {what} called {describe_exit(e)}{_where(e)}") from e
    except BaseException as e:
        raise error(f"variant {label}: {what} raised {type(e).__name__}: {e}{_where(e)}") from e


def instantiate_variant(cls: type[MemcgIter], k: KernelContext) -> MemcgIter:
    """``cls(k)``; for a user's variant, anything its constructor raises (including
    ``sys.exit()``) is a :class:`ConfigError` naming ``file.py:Class``, and the instance
    checks what ``mem_cgroup_iter`` returns."""
    if cls in ITERATORS.values() or cls in _CONFIGURED.values():
        return cls(k)
    checked = _checked_class(cls, k.layout.topology.size)
    return _call_user(lambda: checked(k), variant_label(cls), "__init__", ConfigError)


def _guarded(inv: Invariant, label: str) -> Invariant:
    check = inv.check
    what = f"invariant {inv.name!r}"

    def guarded(view: StateView) -> str | None:
        msg = _call_user(lambda: check(view), label, what, ModelError)
        if msg is not None and not isinstance(msg, str):
            raise ModelError(f"variant {label}: {what} returned {msg!r}; it must return None "
                             "when it holds and a message (str) when not")
        return msg

    return Invariant(inv.name, inv.description, guarded)


def variant_invariants(variant: MemcgIter) -> tuple[Invariant, ...]:
    """``variant.invariants()``, checked: a tuple (or list) of distinct, named
    :class:`~memcglab.kernel.iterator.Invariant` values. A user's predicates are guarded: one
    that raises, or returns anything but None or a str, is a :class:`ModelError`."""
    cls = type(variant)
    if cls in ITERATORS.values() or cls in _CONFIGURED.values():
        return tuple(variant.invariants())
    label = variant_label(getattr(cls, "_memcglab_user_cls", cls))
    got: Any = _call_user(variant.invariants, label, "invariants()", ConfigError)
    expected = "a tuple of memcglab.kernel.iterator.Invariant"
    if not isinstance(got, tuple | list):
        raise ConfigError(f"variant {label}: invariants() must return {expected}; got "
                          f"{got!r}")
    names: set[str] = set()
    for inv in got:
        if not isinstance(inv, Invariant):
            raise ConfigError(f"variant {label}: invariants() must return {expected}; one "
                              f"of them is {inv!r}")
        if not isinstance(inv.name, str) or not inv.name or not callable(inv.check):
            raise ConfigError(f"variant {label}: invariant {inv.name!r} needs a name (str) "
                              "and a check function")
        if inv.name in names:
            raise ConfigError(f"variant {label}: two invariants are named {inv.name!r}")
        names.add(inv.name)
    return tuple(_guarded(inv, label) for inv in got)
