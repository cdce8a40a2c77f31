"""Benchmarks (pytest-benchmark), kept apart from the tests.

``make bench`` runs them for timing (``--benchmark-only``, JSON into bench-results/);
``make test`` runs them once as plain tests (``--benchmark-disable``) so they stay correct.
Performance claims are ratios measured in one run (DESIGN.md, Performance): benchmark the
compiled engine beside its pure-Python twin with the ``engine`` fixture.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import ModuleType

import pytest

import core
from store.redis_server import ensure_redis

_ENGINES = core.engines()


@pytest.fixture(params=sorted(_ENGINES), ids=lambda name: name)
def engine(request: pytest.FixtureRequest) -> ModuleType:
    """The evaluator module, once per implementation: ``pure`` and (when built) ``compiled``."""
    return _ENGINES[request.param]


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """``$REDIS_URL`` or the local server if it answers, else a private one for the session."""
    url, private = ensure_redis(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    try:
        yield url
    finally:
        if private is not None:
            private.close()
