"""Fixtures of the integration tests. The gateway end-to-end fixtures live in
``gateway_fixtures.py`` beside this file (put on ``sys.path`` here, since the suite runs with
``--import-mode=importlib``) and are re-exported so that pytest finds them."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from store.counters import Store

sys.path.insert(0, str(Path(__file__).parent))

from gateway_fixtures import gw, server  # noqa: E402,F401
from stacks import admin_and_gateway, admin_and_gateway_processes  # noqa: E402,F401


@pytest_asyncio.fixture
async def store(redis_url: str, key_prefix: str) -> AsyncIterator[Store]:
    """The store's async client on the shared Redis, under the test's own key prefix."""
    s = Store.from_url(redis_url, prefix=key_prefix)
    try:
        yield s
    finally:
        await s.aclose()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``fuzz_cli`` tests (schemathesis's CLI, minutes each) belong to ``make fuzz``, which sets
    FUZZ_CLI=1; elsewhere they are deselected, not skipped: ``make test`` runs the bounded fuzz."""
    if os.environ.get("FUZZ_CLI", "") not in ("", "0"):
        return
    keep = [i for i in items if i.get_closest_marker("fuzz_cli") is None]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep
