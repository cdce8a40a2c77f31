"""promogate core: definitions model, rule compiler and evaluators (pure, no I/O).

Each compiled module of core is one pure-Python file, built by Cython (``setup.py``) into an
extension of the same name, which is what this package loads by default:

- ``core/_engine.py``: the checkout compiler and evaluator, exposed as ``core.engine``;
- ``core/earning.py``: the earning planner (loyalty), ``core.earning``; it shares the engine's
  types and rule evaluator through ``cimport``.

``PROMOGATE_PURE=1`` in the environment forces the pure-Python twins: the very same source
files, loaded as ``core._engine_py`` and ``core.earning_py``; a pure twin only ever works with
the other pure twins (the pure earning planner is handed the pure engine). ``core.COMPILED``
says which engine is in use (``core.EARNING_COMPILED`` which planner). ``core.twins(name)``
gives both twins of a module, for tests and benchmarks that must run against each;
``core.engines()`` is ``twins("_engine")``.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

_HERE = Path(__file__).parent
#: the compiled modules of core, each with a pure twin; later ones may cimport earlier ones
MODULES = ("_engine", "earning")
#: what each pure twin is handed (as a module global) so that it pairs with pure twins only
_PAIRS = {"earning": {"_ENGINE": "_engine"}}


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def _load_pure(name: str = "_engine") -> ModuleType:
    """Load ``core/<name>.py`` as plain Python (``core.<name>_py``), even where the compiled
    module sits beside it."""
    full = f"core.{name}_py"
    mod = sys.modules.get(full)
    if mod is None:
        spec = importlib.util.spec_from_file_location(full, _HERE / f"{name}.py")
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        for glob, other in _PAIRS.get(name, {}).items():
            setattr(mod, glob, _load_pure(other))
        sys.modules[full] = mod
        try:
            spec.loader.exec_module(mod)
        except BaseException:
            del sys.modules[full]
            raise
    return mod


_compiled: dict[str, ModuleType | None] = {}


def _load_compiled(name: str = "_engine") -> ModuleType | None:
    """The extension ``core.<name>``, or None where it is not built (or does not load)."""
    if name in _compiled:
        return _compiled[name]
    full = f"core.{name}"
    path = next(
        (p for p in (_HERE / f"{name}{s}" for s in importlib.machinery.EXTENSION_SUFFIXES)
         if p.exists()),
        None,
    )  # fmt: skip
    mod: ModuleType | None = None
    if path is not None:  # else a source-only checkout: `core.<name>` would be the bare .py
        found = sys.modules.get(full)
        try:
            if found is None:
                mod = importlib.import_module(full)
            elif not getattr(found, "__file__", "").endswith(".py"):
                mod = found
            else:  # the name is the pure twin's (PROMOGATE_PURE): load the extension beside it
                spec = importlib.util.spec_from_file_location(full, path)
                assert spec is not None and spec.loader is not None
                mod = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(mod)
        except (ImportError, ValueError):  # e.g. built against an engine that is gone or stale
            mod = None  # (Cython says a cimported type changed size with a ValueError)
    _compiled[name] = mod
    return mod


def twins(name: str) -> dict[str, ModuleType]:
    """Every twin of compiled module ``name`` that can be loaded here:
    ``{"pure": ..., "compiled": ...}``."""
    if name not in MODULES:
        raise ValueError(f"core has no compiled module {name!r} (it has {', '.join(MODULES)})")
    found = {"pure": _load_pure(name)}
    compiled = _load_compiled(name)
    if compiled is not None:
        found["compiled"] = compiled
    return found


def engines() -> dict[str, ModuleType]:
    """Every engine that can be loaded here: ``{"pure": ..., "compiled": ...}``."""
    return twins("_engine")


def _choose(name: str) -> tuple[ModuleType, bool]:
    if _flag("PROMOGATE_PURE"):
        return _load_pure(name), False
    compiled = _load_compiled(name)
    if compiled is None:
        if _flag("PROMOGATE_REQUIRE_COMPILED"):
            raise ImportError(
                f"core.{name} is not compiled: run `make build` (or set PROMOGATE_PURE=1)"
            )
        return _load_pure(name), False
    return compiled, True


engine, COMPILED = _choose("_engine")
earning, EARNING_COMPILED = _choose("earning")
# `import core.earning` / `from core import earning` give the chosen twin, never the bare .py
sys.modules["core.earning"] = earning

__all__ = ["COMPILED", "EARNING_COMPILED", "MODULES", "earning", "engine", "engines", "twins"]
