"""The registry of iterator variants, and loading of user-written ones.

``--variant NAME`` picks a registered variant; ``--variant path/to/file.py:ClassName`` loads a
class from the user's own file (docs/variants.md).
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Mapping
from pathlib import Path

from memcglab.errors import ConfigError
from memcglab.kernel.iter_css_id import CssIdIter
from memcglab.kernel.iter_seed_spinlock import SeedSpinlockIter
from memcglab.kernel.iterator import MemcgIter

ITERATORS: Mapping[str, type[MemcgIter]] = {
    CssIdIter.name: CssIdIter,
    SeedSpinlockIter.name: SeedSpinlockIter,
}


def resolve_variant(spec: str) -> type[MemcgIter]:
    """A variant class from a registry name or ``path.py:ClassName``."""
    if spec in ITERATORS:
        return ITERATORS[spec]
    if ":" not in spec or not spec.split(":", 1)[0].endswith(".py"):
        raise ConfigError(
            f"unknown variant {spec!r}; valid: {', '.join(ITERATORS)}, "
            "or path/to/file.py:ClassName for your own")
    path_s, cls_name = spec.rsplit(":", 1)
    path = Path(path_s)
    if not path.is_file():
        raise ConfigError(f"variant file {path_s!r} does not exist")
    mod_name = f"memcglab_user_variant_{abs(hash(path.resolve())) % 10**8}"
    loader_spec = importlib.util.spec_from_file_location(mod_name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise ConfigError(f"variant file {path_s!r} cannot be imported")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[mod_name] = module
    try:
        loader_spec.loader.exec_module(module)
    except Exception as e:  # the user's file: report, do not hide
        raise ConfigError(f"variant file {path_s!r} failed to import: "
                          f"{type(e).__name__}: {e}") from e
    cls = getattr(module, cls_name, None)
    if cls is None:
        found = [n for n, v in vars(module).items()
                 if inspect.isclass(v) and issubclass(v, MemcgIter) and v is not MemcgIter]
        raise ConfigError(f"{path_s}: no class {cls_name!r}; variant classes there: "
                          f"{', '.join(found) or 'none'}")
    if not (inspect.isclass(cls) and issubclass(cls, MemcgIter)):
        raise ConfigError(f"{path_s}:{cls_name} is not a subclass of "
                          "memcglab.kernel.iterator.MemcgIter")
    missing = [f for f in ("position", "generation") if f not in cls.iter_fields]
    if not cls.name:
        raise ConfigError(f"{path_s}:{cls_name}: set the class attribute name = '...'")
    if missing and not getattr(cls, "custom_fields_ok", False):
        raise ConfigError(f"{path_s}:{cls_name}: iter_fields must include {missing}")
    return cls
