"""Fixtures of the core unit tests: every test runs against each engine.

``engine`` is parametrized over ``core.engines()``: the pure-Python twin (id ``pure``) and
the Cython extension (id ``compiled``) when it is built; ``earning`` likewise over
``core.twins("earning")``, the loyalty earning planner. With
``PROMOGATE_REQUIRE_COMPILED=1`` a missing extension FAILS the ``compiled`` tests rather
than leaving them out. Builders live in ``unit_helpers.py`` beside this file (put on
``sys.path`` here, since the suite runs with ``--import-mode=importlib``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import core  # noqa: E402

ENGINES: dict[str, ModuleType] = core.engines()
EARNINGS: dict[str, ModuleType] = core.twins("earning")
REQUIRE_COMPILED = os.environ.get("PROMOGATE_REQUIRE_COMPILED", "") not in ("", "0")
ENGINE_IDS = ["pure", "compiled"] if REQUIRE_COMPILED else sorted(ENGINES, key=["pure", "compiled"].index)


@pytest.fixture(scope="session", params=ENGINE_IDS)
def engine(request: pytest.FixtureRequest) -> ModuleType:
    """One engine module (``compile_ruleset``, ``evaluate``, ``qualify``, ``percent_of``, ...)."""
    name = request.param
    mod = ENGINES.get(name)
    if mod is None:
        pytest.fail(
            f"engine {name!r} is not available but PROMOGATE_REQUIRE_COMPILED=1: run `make build`",
            pytrace=False,
        )
    return mod


@pytest.fixture(scope="session")
def both_engines() -> tuple[ModuleType, ModuleType] | None:
    """``(pure, compiled)`` when both are loadable, else None (failing if compiled is required)."""
    if "compiled" not in ENGINES:
        if REQUIRE_COMPILED:
            pytest.fail("the compiled engine is required but missing: run `make build`", pytrace=False)
        return None
    return ENGINES["pure"], ENGINES["compiled"]


@pytest.fixture(scope="session", params=ENGINE_IDS)
def earning(request: pytest.FixtureRequest) -> ModuleType:
    """One earning planner (``compile_earning``, ``plan_order_paid``, ``plan_event``, ...):
    the pure twin (which runs on the pure engine) or the compiled one."""
    name = request.param
    mod = EARNINGS.get(name)
    if mod is None:
        pytest.fail(
            f"earning planner {name!r} is not available but PROMOGATE_REQUIRE_COMPILED=1: "
            "run `make build`",
            pytrace=False,
        )
    return mod


@pytest.fixture(scope="session")
def both_earnings() -> tuple[ModuleType, ModuleType] | None:
    """``(pure, compiled)`` earning planners when both load, else None (failing if required)."""
    if "compiled" not in EARNINGS:
        if REQUIRE_COMPILED:
            pytest.fail("the compiled earning planner is required but missing: run `make build`",
                        pytrace=False)  # fmt: skip
        return None
    return EARNINGS["pure"], EARNINGS["compiled"]
