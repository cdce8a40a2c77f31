"""promogate core: definitions model, rule compiler and evaluator (pure, no I/O).

The evaluator lives in ``core/_engine.py``. Built with Cython (``setup.py``) it
becomes the extension ``core._engine``, which is what this package loads by
default. ``PROMOGATE_PURE=1`` in the environment forces the pure-Python twin: the
very same source file, loaded as ``core._engine_py``. ``core.COMPILED`` says which
one is in use; ``core.engines()`` gives both, for tests that must run against each.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

_SOURCE = Path(__file__).with_name("_engine.py")


def _load_pure() -> ModuleType:
    """Load ``_engine.py`` as plain Python, even where the compiled module sits beside it."""
    name = "core._engine_py"
    mod = sys.modules.get(name)
    if mod is None:
        spec = importlib.util.spec_from_file_location(name, _SOURCE)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return mod


def _load_compiled() -> ModuleType | None:
    try:
        from . import _engine
    except ImportError:
        return None
    # A source-only checkout resolves `_engine` to the .py file: that is not the compiled one.
    if getattr(_engine, "__file__", "").endswith(".py"):
        return None
    return _engine


def engines() -> dict[str, ModuleType]:
    """Every engine that can be loaded here: ``{"pure": ..., "compiled": ...}``."""
    found = {"pure": _load_pure()}
    compiled = _load_compiled()
    if compiled is not None:
        found["compiled"] = compiled
    return found


if os.environ.get("PROMOGATE_PURE", "") not in ("", "0"):
    engine = _load_pure()
    COMPILED = False
else:
    _c = _load_compiled()
    if _c is None:
        if os.environ.get("PROMOGATE_REQUIRE_COMPILED", "") not in ("", "0"):
            raise ImportError(
                "core._engine is not compiled: run `make build` (or set PROMOGATE_PURE=1)"
            )
        engine = _load_pure()
        COMPILED = False
    else:
        engine = _c
        COMPILED = True

__all__ = ["COMPILED", "engine", "engines"]
