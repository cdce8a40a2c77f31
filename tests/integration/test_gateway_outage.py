"""Issue 3, fail closed: with Redis unreachable (stopped, or frozen so that it accepts but never
answers) the gateway answers 503 in the error shape within a bounded time, never hangs and
never pretends success; when Redis is back it serves again without a restart.

Uses a private ``redis-server`` of its own (fixture ``private_redis``), seeded before the app
starts. Its data is SAVEd before the outage so that it comes back as AOF would bring it back in
production, which lets the test check that the counters stayed exact across the outage.
"""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest
import redis
from gateway_fixtures import HEADERS, assert_error_shape, body, in_process, voucher

from store.redis_server import PrivateRedis

TIMEOUT = 0.5  # Settings.redis_timeout of this test
BOUND = TIMEOUT * 4 + 1.0  # what "bounded" means here: a few timeouts, not a hang


def _timed(fn, *a, **kw):
    t0 = time.monotonic()
    r = fn(*a, **kw)
    return r, time.monotonic() - t0


def _calls(g, rid: str):
    """One of every Redis-backed call; ``rid`` an existing redemption."""
    return [
        ("redeem", lambda: g.redeem(body(voucher("GEN5")))),
        ("redeem-new-code", lambda: g.redeem(body(voucher("GEN5B")))),
        ("validate", lambda: g.validate(body(voucher("LIMITED100")))),
        ("validate-lock", lambda: g.validate(body(voucher("LOCK2"), session={"type": "LOCK"}))),
        ("rollback", lambda: g.rollback(rid)),
        ("qualifications", lambda: g.post("/v1/qualifications", {"order": {"amount": 5000}})),
        ("get", lambda: g.client.get(f"/v1/redemptions/{rid}", headers=HEADERS)),
        ("release", lambda: g.client.delete("/v1/vouchers/LOCK2/sessions/ssn_x", headers=HEADERS)),
    ]


def _expect_503s(g, rid: str) -> None:
    for name, call in _calls(g, rid):
        resp, took = _timed(call)
        # validate of a code with a limit must read its counter; GEN5B was never looked up:
        # every call here needs Redis and must fail closed
        assert resp.status_code == 503, (name, resp.status_code, resp.text[:300])
        data = assert_error_shape(resp, 503, "service_unavailable")
        assert "Redis" in data["details"] or "redis" in data["details"].lower(), data
        assert took < BOUND, (name, took)
    # a code with no limit at all has nothing to check: validating it needs no Redis and
    # still gives the right answer (only redeem and rollback must fail closed)
    ok = g.validate(body(voucher("GEN5")))
    assert ok.status_code == 200 and ok.json()["valid"] is True
    assert ok.json()["order"]["total_discount_amount"] == 500


@pytest.mark.slow
def test_redis_outage_gives_quick_503s_then_recovers_without_restart(
    private_redis: PrivateRedis,
) -> None:
    prefix = f"pgtest:{uuid.uuid4().hex[:8]}:"
    with in_process(private_redis.url, prefix, redis_timeout=TIMEOUT, ruleset_poll=0.5) as g:
        first = g.redeem(body(voucher("GEN5")))
        assert first.status_code == 200, first.text
        rid = first.json()["redemptions"][0]["id"]
        r = g.client.get("/ready")
        assert r.status_code == 200

        # 1. stopped: connections refused
        g.redis.save()
        private_redis.stop()
        _expect_503s(g, rid)
        r, took = _timed(g.client.get, "/ready")
        assert r.status_code == 503 and r.json()["ready"] is False and took < BOUND
        assert g.client.get("/health").status_code == 200  # liveness does not need Redis

        # 2. back: the same app serves again (no restart), counters exact
        private_redis.start()
        deadline = time.monotonic() + 10
        while True:
            resp = g.redeem(body(voucher("GEN5")))
            if resp.status_code == 200 or time.monotonic() > deadline:
                break
            assert resp.status_code == 503, resp.text
            time.sleep(0.1)
        assert resp.status_code == 200, resp.text
        assert g.client.get("/ready").status_code == 200
        assert int(g.redis.get(prefix + "{c:camp_gen}:v:GEN5:uses")) == 2
        assert g.rollback(rid).status_code == 200

        # 3. frozen: the server accepts but never answers -> the timeout bounds every call
        pid = private_redis.pid
        assert pid is not None
        g.redis.save()
        uses_before = int(g.redis.get(prefix + "{c:camp_gen}:v:GEN5:uses"))
        os.kill(pid, signal.SIGSTOP)
        try:
            for name, call in _calls(g, rid)[:2]:
                resp, took = _timed(call)
                assert resp.status_code == 503, (name, resp.status_code, resp.text[:300])
                assert_error_shape(resp, 503, "service_unavailable")
                assert took < BOUND, (name, took)
        finally:
            os.kill(pid, signal.SIGCONT)
        # a redeem that timed out may or may not have been applied by Redis afterwards, but it
        # was never answered as a success; once Redis answers again the gateway serves
        deadline = time.monotonic() + 10
        while True:
            resp = g.redeem(body(voucher("GEN5")))
            if resp.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert resp.status_code == 200, resp.text
        check = redis.Redis.from_url(private_redis.url)
        try:
            uses = int(check.get(prefix + "{c:camp_gen}:v:GEN5:uses"))
            # +1 for the success above; at most +1 more for the redeem whose answer timed out
            assert uses_before + 1 <= uses <= uses_before + 2
            recs = [k for k in check.scan_iter(match=prefix + "rd:*")]
            assert len(recs) >= 2
        finally:
            check.close()


def test_redis_down_at_start_serves_503_then_recovers(private_redis: PrivateRedis) -> None:
    prefix = f"pgtest:{uuid.uuid4().hex[:8]}:"
    seeded = redis.Redis.from_url(private_redis.url)
    from gateway_fixtures import seed

    seed(seeded, prefix)
    seeded.save()
    seeded.close()
    private_redis.stop()
    from litestar.testing import TestClient

    from gateway.app import create_app
    from store.settings import Settings

    app = create_app(Settings(redis_url=private_redis.url, key_prefix=prefix, redis_timeout=TIMEOUT,
                              ruleset_poll=0.5))  # fmt: skip
    t0 = time.monotonic()
    with TestClient(app=app, raise_server_exceptions=False) as c:
        assert time.monotonic() - t0 < 10, "start must not hang on a missing Redis"
        resp, took = _timed(c.post, "/v1/redemptions", json=body(voucher("GEN5")), headers=HEADERS)
        assert_error_shape(resp, 503, "service_unavailable")
        assert took < BOUND
        assert c.get("/ready").status_code == 503
        private_redis.start()
        deadline = time.monotonic() + 10
        while c.get("/ready").status_code != 200:
            assert time.monotonic() < deadline, "not ready after Redis came back"
            time.sleep(0.1)
        resp = c.post("/v1/redemptions", json=body(voucher("GEN5")), headers=HEADERS)
        assert resp.status_code == 200, resp.text
        assert resp.json()["order"]["total_discount_amount"] == 500
