"""Build the Cython extensions ``core._engine`` and ``core.earning``; all other metadata lives in
pyproject.toml.

``core/_engine.py`` and ``core/earning.py`` are written in Cython's pure-Python mode: the same
file is the pure-Python twin (see ``core/__init__.py``) and the source of the extension. A
``.pxd`` beside each adds C types; Cython picks it up by itself.

Environment:

``PROMOGATE_CYTHON_DEBUG=1``
    Annotated build for profiling: writes ``core/_engine.html`` (Cython's annotation of which
    lines touch the Python C-API), turns on ``linetrace`` with ``CYTHON_TRACE_NOGIL`` so that
    profilers and coverage see each line, and compiles with ``-O0 -g``. Otherwise the extension
    is compiled optimised (``-O2``, as asyncpg does) with no tracing.

``PROMOGATE_SKIP_EXT=1``
    Declare no extension at all. The Makefile sets it for the editable ``pip install`` (which
    would otherwise compile the engine a second time) and builds the extension itself with
    ``setup.py build_ext --inplace``.
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


DEBUG = _flag("PROMOGATE_CYTHON_DEBUG")
SKIP_EXT = _flag("PROMOGATE_SKIP_EXT")

if sys.platform == "win32":
    CFLAGS = ["/Od", "/Zi"] if DEBUG else ["/O2"]
else:
    CFLAGS = ["-O0", "-g"] if DEBUG else ["-O2"]

MACROS = [("CYTHON_TRACE", "1"), ("CYTHON_TRACE_NOGIL", "1")] if DEBUG else []

#: core's compiled modules (as core.MODULES): the checkout engine, then the earning planner,
#: which cimports the engine's types through core/_engine.pxd
MODULES = ("_engine", "earning")

DIRECTIVES = {
    "language_level": 3,
    "linetrace": DEBUG,
    "profile": False,
    "embedsignature": True,
}


def _extensions() -> list[Extension]:
    try:
        from Cython.Build import cythonize
    except ImportError as exc:  # pragma: no cover - build-system requires Cython
        raise SystemExit(
            "Cython>=3 is needed to build core._engine: pip install 'Cython>=3' "
            "(or use the pure-Python twin with PROMOGATE_PURE=1)"
        ) from exc

    exts = [
        Extension(
            f"core.{name}",
            [f"core/{name}.py"],
            extra_compile_args=CFLAGS,
            define_macros=MACROS,
        )
        for name in MODULES
    ]
    return cythonize(
        exts,
        compiler_directives=DIRECTIVES,
        annotate=DEBUG,
        # Regenerate the C file on every build: Cython's own staleness check looks at
        # timestamps only and would keep a C file generated with the other debug setting.
        force=True,
        quiet=not DEBUG,
    )


setup(ext_modules=[] if SKIP_EXT else _extensions())
