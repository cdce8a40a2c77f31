"""Fixtures shared by every test (unit, integration, e2e).

Redis: tests use ``$REDIS_URL`` or ``redis://127.0.0.1:6379/0`` when it answers, else a private
``redis-server`` started for the session. That server may be shared with other people and runs,
so tests write only under their own ``key_prefix`` and delete exactly those keys afterwards.
Nothing here flushes a database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

from store.redis_server import PrivateRedis, delete_prefixed, ensure_redis

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a reachable Redis for the whole session (configured one, else a private server)."""
    url, private = ensure_redis(os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL)
    try:
        yield url
    finally:
        if private is not None:
            private.close()


@pytest.fixture
def key_prefix(redis_url: str) -> Iterator[str]:
    """A unique ``pgtest:<hex8>:`` key prefix; every key under it is deleted at teardown."""
    prefix = f"pgtest:{uuid.uuid4().hex[:8]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        delete_prefixed(client, prefix)
    finally:
        client.close()


@pytest.fixture
def redis_sync(redis_url: str) -> Iterator[redis.Redis]:
    """A synchronous ``redis.Redis`` client on ``redis_url``, closed at teardown."""
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A started private ``redis-server`` of this test's own (for outage tests), closed after."""
    with PrivateRedis() as server:
        yield server


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests (marker ``browser``, tests/browser) run after every other test: Playwright's
    sync API keeps an event loop running that breaks pytest-asyncio tests collected after it."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
