"""Benchmarks (pytest-benchmark), kept apart from the tests.

``make bench`` runs them for timing (``--benchmark-only``, JSON into bench-results/);
``make test`` runs them once as plain tests (``--benchmark-disable``) so they stay correct.
Performance claims are ratios measured in one run (DESIGN.md, Performance): benchmark the
compiled engine beside its pure-Python twin with the ``engine`` fixture.
"""

from __future__ import annotations

from types import ModuleType

import pytest

import core

_ENGINES = core.engines()


@pytest.fixture(params=sorted(_ENGINES), ids=lambda name: name)
def engine(request: pytest.FixtureRequest) -> ModuleType:
    """The evaluator module, once per implementation: ``pure`` and (when built) ``compiled``."""
    return _ENGINES[request.param]
