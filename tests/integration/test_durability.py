"""Durability is visible: each service reads Redis' persistence settings at start, logs what a
crash of Redis can lose, and shows it in ``/ready`` (store.durability).

Against the shared Redis (whatever its settings are: the expectation is computed from its own
``CONFIG GET``), and against private servers set up for the cases that matter: AOF with
``appendfsync always``, ``everysec`` changed at run time, CONFIG renamed away, CONFIG denied
by an ACL.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio as aredis
from gateway_fixtures import in_process

from admin.testing import AdminServer
from store.durability import DurabilityWatch, classify, read_durability
from store.redis_server import PrivateRedis


def _expected(client: redis.Redis) -> dict:
    c = {}
    for name in ("appendonly", "appendfsync", "save"):
        c.update(client.config_get(name))
    return classify(c["appendonly"], c["appendfsync"], c["save"]).as_dict()


class Records(logging.Handler):
    """Records of the ``promogate`` loggers (the apps configure logging as they start, which
    drops pytest's caplog handler from the root logger)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def durability(self) -> list[logging.LogRecord]:
        return [r for r in self.records if "Redis persistence" in r.getMessage()]


@pytest.fixture
def logged() -> Iterator[Records]:
    handler = Records()
    logger = logging.getLogger("promogate")
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


@pytest.fixture
def no_config_redis() -> Iterator[PrivateRedis]:
    """A private server whose CONFIG command was renamed away (as hardened setups do)."""
    with PrivateRedis(extra_args=("--rename-command", "CONFIG", "")) as server:
        yield server


def test_both_services_show_the_shared_redis_durability_in_ready(
    redis_url: str, key_prefix: str, redis_sync: redis.Redis
) -> None:
    want = _expected(redis_sync)
    with AdminServer(redis_url, key_prefix) as srv:
        r = srv.http.get("/ready")
        assert r.status_code == 200, r.text
        assert r.json()["durability"] == want
    with in_process(redis_url, key_prefix) as g:
        r = g.client.get("/ready")
        assert r.status_code == 200, r.text
        assert r.json()["durability"] == want
        assert r.json()["ready"] is True


def test_aof_always_loses_nothing_and_is_logged_at_info(logged: Records) -> None:
    prefix = f"pgtest:{uuid.uuid4().hex[:8]}:"
    with PrivateRedis(extra_args=("--appendonly", "yes", "--appendfsync", "always")) as server:
        with in_process(server.url, prefix) as g:
            d = g.client.get("/ready").json()["durability"]
        assert d == {"appendonly": "yes", "appendfsync": "always", "save": "",
                     "loses": "no acknowledged write"}  # fmt: skip
        with AdminServer(server.url, prefix) as srv:
            assert srv.http.get("/ready").json()["durability"] == d
    records = logged.durability()
    assert sorted(r.name for r in records) == ["promogate.admin", "promogate.gateway"], records
    assert all(r.levelno == logging.INFO for r in records)
    assert "a crash of Redis loses no acknowledged write" in records[0].getMessage()


def test_a_server_that_refuses_config_is_unknown_warned_and_still_served(
    no_config_redis: PrivateRedis, logged: Records
) -> None:
    prefix = f"pgtest:{uuid.uuid4().hex[:8]}:"
    with AdminServer(no_config_redis.url, prefix) as srv:
        r = srv.http.get("/ready")
        assert r.status_code == 200, r.text
        d = r.json()["durability"]
        assert d["appendonly"] == d["appendfsync"] == d["save"] == "unknown", d
        assert d["loses"].startswith("unknown") and "CONFIG" in d["reason"], d
        assert srv.request("GET", "/v1/campaigns").status_code == 200
    with in_process(no_config_redis.url, prefix) as g:
        r = g.client.get("/ready")
        assert r.status_code == 200 and r.json()["durability"]["appendonly"] == "unknown", r.text
    warned = logged.durability()
    assert len(warned) == 2 and all(r.levelno == logging.WARNING for r in warned), warned


async def test_config_denied_by_an_acl_is_unknown(private_redis: PrivateRedis) -> None:
    admin = redis.Redis.from_url(private_redis.url)
    try:
        admin.acl_setuser("limited", enabled=True, passwords=["+pw"], keys=["*"], channels=["*"],
                          commands=["+@all", "-config"])  # fmt: skip
    finally:
        admin.close()
    client = aredis.Redis.from_url(f"redis://limited:pw@127.0.0.1:{private_redis.port}/0")
    try:
        d = await read_durability(client)
    finally:
        await client.aclose()
    assert d.appendonly == "unknown" and d.reason and "NOPERM" not in d.loses, d
    assert "refused" in d.reason, d


async def test_a_watch_logs_a_change_and_keeps_its_reading_while_redis_is_down(
    private_redis: PrivateRedis, logged: Records
) -> None:
    w = DurabilityWatch(logging.getLogger("promogate.test"), max_age=0.0)
    client = aredis.Redis.from_url(private_redis.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        first = await w.refresh(client, 0.5)
        assert first.appendonly == "no" and first.loses.startswith("everything")
        await w.refresh(client, 0.5)  # unchanged: logged once
        assert len(logged.durability()) == 1

        await client.config_set("appendonly", "yes")
        await client.config_set("appendfsync", "everysec")
        assert w.stale()
        w.maybe_refresh(client, 0.5)  # in the background
        deadline = time.monotonic() + 5
        while w.current.appendonly != "yes":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        assert w.current.loses == "up to about the last second of acknowledged writes"
        records = logged.durability()
        assert len(records) == 2 and records[1].levelno == logging.WARNING

        private_redis.kill()
        t0 = time.monotonic()
        kept = await w.refresh(client, 0.5)
        assert time.monotonic() - t0 < 1.0
        assert kept.appendonly == "yes"  # the last reading, not "unknown"
    finally:
        await w.stop()
        await client.aclose()
