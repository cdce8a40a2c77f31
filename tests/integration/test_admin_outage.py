"""Issue 9, admin fails closed like the gateway: while Redis is unreachable (killed, restarting,
LOADING its data set, or frozen) every admin route answers 503 ``service_unavailable`` in
Voucherify's error shape within PROMOGATE_REDIS_TIMEOUT (plus a small margin), never a 500 and
never a hang; when Redis is back, admin serves again by itself, from the very first call.

The admin app runs for real (``AdminServer``) on a private ``redis-server`` (``private_redis``),
seeded and SAVEd before the outage so that it comes back with its data, as AOF would bring it
back in production. Concurrent clients keep calling several routes throughout; the test
SIGKILLs Redis (a crash, not a clean shutdown) and restarts it on the same port about 2 s later,
slowed down while it loads its snapshot so that it answers LOADING for a while.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis

from admin.testing import AdminServer
from store.redis_server import PrivateRedis

TIMEOUT = 0.5  # PROMOGATE_REDIS_TIMEOUT of this test
BOUND = TIMEOUT + 0.5  # "within the timeout, plus a small margin"
CODE = "OUTAGE1"
FILLER_KEYS = 3000  # with the load delay below: ~1.5 s of LOADING after the restart


@dataclass
class Answer:
    route: str
    t0: float
    t1: float
    status: int
    body: Any

    @property
    def took(self) -> float:
        return self.t1 - self.t0


def _seed(srv: AdminServer) -> str:
    """A campaign with a generated code, one standalone code; the id of the generation."""
    camp = srv.request(
        "POST",
        "/v1/campaigns",
        json={
            "name": "Outage",
            "campaign_type": "DISCOUNT_COUPONS",
            "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 500}},
            "vouchers_count": 3,
        },
    )
    assert camp.status_code == 200, camp.text
    action_id = camp.json()["async_action_id"]
    assert srv.wait_action(action_id)["status"] == "DONE"
    r = srv.request("POST", f"/v1/vouchers/{CODE}", json={"campaign_id": camp.json()["id"]})
    assert r.status_code == 200, r.text
    return action_id


def _routes(action_id: str) -> dict[str, Callable[[AdminServer, httpx.Client], httpx.Response]]:
    def h(srv: AdminServer) -> dict[str, str]:
        return srv.headers()

    return {
        "GET voucher": lambda s, c: c.get(f"/v1/vouchers/{CODE}", headers=h(s)),
        "GET campaigns": lambda s, c: c.get("/v1/campaigns", headers=h(s)),
        "POST customer": lambda s, c: c.post(
            "/v1/customers", headers=h(s), json={"source_id": "out-" + uuid.uuid4().hex[:12]}
        ),
        "GET async-action": lambda s, c: c.get(f"/v1/async-actions/{action_id}", headers=h(s)),
        "GET ready": lambda s, c: c.get("/ready"),
    }


class Drivers:
    """Two client threads per route, calling it in a loop until stopped."""

    def __init__(self, srv: AdminServer, action_id: str, per_route: int = 2) -> None:
        self.srv = srv
        self.routes = _routes(action_id)
        self.answers: list[Answer] = []
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, args=(name,), daemon=True)
            for name in self.routes
            for _ in range(per_route)
        ]

    def _loop(self, route: str) -> None:
        call = self.routes[route]
        with httpx.Client(base_url=self.srv.url, timeout=30) as client:
            while not self._stop.is_set():
                t0 = time.monotonic()
                try:
                    resp = call(self.srv, client)
                except httpx.HTTPError as exc:  # no answer at all is a failure too
                    with self._lock:
                        self.failures.append(f"{route}: {exc!r}")
                    continue
                t1 = time.monotonic()
                try:
                    body: Any = resp.json()
                except ValueError:
                    body = resp.text
                with self._lock:
                    self.answers.append(Answer(route, t0, t1, resp.status_code, body))
                time.sleep(0.02)

    def __enter__(self) -> Drivers:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)

    def snapshot(self) -> list[Answer]:
        with self._lock:
            return list(self.answers)


def _assert_503(a: Answer) -> None:
    assert a.status == 503, (a.route, a.status, a.body)
    if a.route == "GET ready":
        assert a.body["ready"] is False and a.body["reason"], a.body
        return
    body = a.body
    assert isinstance(body, dict), (a.route, body)
    assert body["code"] == 503 and body["key"] == "service_unavailable", (a.route, body)
    for f in ("message", "details", "request_id"):
        assert isinstance(body.get(f), str) and body[f], (a.route, f, body)


def _fill(url: str, prefix: str) -> None:
    """Keys that make the snapshot slow to load (with ``key-load-delay``), then SAVE."""
    client = redis.Redis.from_url(url)
    try:
        pipe = client.pipeline(transaction=False)
        for i in range(FILLER_KEYS):
            pipe.set(f"{prefix}fill:{i}", b"x" * 64)
        pipe.execute()
        client.save()
    finally:
        client.close()


@pytest.mark.slow
def test_redis_killed_and_restarted_gives_quick_503s_never_500_and_admin_recovers(
    private_redis: PrivateRedis,
) -> None:
    prefix = f"pgtest:{uuid.uuid4().hex[:8]}:"
    with AdminServer(private_redis.url, prefix, redis_timeout=TIMEOUT) as srv:
        action_id = _seed(srv)
        _fill(private_redis.url, prefix)
        with Drivers(srv, action_id) as drivers:
            time.sleep(0.8)  # healthy load first
            t_killing = time.monotonic()
            private_redis.kill()  # returns once the process is reaped: Redis is gone from here
            t_kill = time.monotonic()
            time.sleep(2.0)
            # the restarted server loads its snapshot slowly and serves clients meanwhile:
            # they get LOADING until it is done (start() returns once PING answers)
            private_redis.extra_args = (
                "--key-load-delay", "500",
                "--loading-process-events-interval-bytes", "1024",
            )  # fmt: skip
            t_spawn = time.monotonic()
            private_redis.start()
            t_up = time.monotonic()
            time.sleep(1.5)
        answers = drivers.snapshot()

    assert not drivers.failures, drivers.failures[:5]
    errors = [a for a in answers if a.status not in (200, 503)]
    assert not errors, [(a.route, a.status, a.body) for a in errors[:5]]

    before = [a for a in answers if a.t1 < t_killing]
    # dead: no server process at all; loading: the restarted server answers LOADING until its
    # snapshot is in, then serves; start() notices that by polling, a moment later, so a call
    # in that moment may already be a 200 (never a 500: checked above for every answer)
    during = [a for a in answers if a.t0 >= t_kill and a.t1 <= t_spawn]
    restarting = [a for a in answers if a.t0 >= t_spawn and a.t1 <= t_up]
    after = [a for a in answers if a.t0 >= t_up]
    assert before and all(a.status == 200 for a in before), [
        (a.route, a.status, a.body) for a in before if a.status != 200
    ][:5]

    # during the outage: every answer a quick 503 in the error shape, on every route
    for a in during:
        _assert_503(a)
    slow = [(a.route, round(a.took, 3)) for a in during + restarting if a.took >= BOUND]
    assert not slow, slow[:10]
    for route in drivers.routes:
        assert sum(a.route == route for a in during) >= 5, route
    # the restarted server answered LOADING for a while: that is a 503 too, never a 500
    for a in restarting:
        if a.status != 200:
            _assert_503(a)  # not listening yet, or LOADING
    loading = [a for a in restarting if a.status == 503 and "loading" in str(a.body).lower()]
    assert loading, "no LOADING answer was seen while the snapshot loaded"

    # after the restart: 200 again by itself, the first calls included
    for route in drivers.routes:
        mine = sorted((a for a in after if a.route == route), key=lambda a: a.t0)
        assert mine, route
        assert all(a.status == 200 for a in mine), (route, [(a.status, a.body) for a in mine][:3])

    took = sorted(a.took for a in during)
    first_after = sorted(after, key=lambda a: a.t0)[: len(drivers.routes)]
    print(
        f"\nbefore: {len(before)} answers, all 200"
        f"\nduring ({t_up - t_kill:.2f}s, of which loading {t_up - t_spawn:.2f}s): "
        f"{len(during)} answers while down, all 503, then {len(restarting)} while restarting "
        f"({len(loading)} LOADING 503s); latency median "
        f"{took[len(took) // 2] * 1000:.1f} ms, max {took[-1] * 1000:.1f} ms"
        f"\nafter: {len(after)} answers, all 200; first: "
        + ", ".join(f"{a.route} {a.status} in {a.took * 1000:.1f} ms" for a in first_after)
    )


@pytest.mark.slow
def test_frozen_redis_gives_503s_within_the_timeout_then_admin_serves_again(
    private_redis: PrivateRedis,
) -> None:
    """SIGSTOP: the server accepts connections but never answers; only the timeout can end a
    call."""
    prefix = f"pgtest:{uuid.uuid4().hex[:8]}:"
    with AdminServer(private_redis.url, prefix, redis_timeout=TIMEOUT) as srv:
        action_id = _seed(srv)
        routes = _routes(action_id)
        pid = private_redis.pid
        assert pid is not None
        with httpx.Client(base_url=srv.url, timeout=30) as client:
            for route, call in routes.items():
                assert call(srv, client).status_code == 200, route
            os.kill(pid, signal.SIGSTOP)
            try:
                for route, call in routes.items():
                    t0 = time.monotonic()
                    resp = call(srv, client)
                    t1 = time.monotonic()
                    try:
                        body: Any = resp.json()
                    except ValueError:
                        body = resp.text
                    a = Answer(route, t0, t1, resp.status_code, body)
                    _assert_503(a)
                    assert a.took < BOUND, (route, a.took)
            finally:
                os.kill(pid, signal.SIGCONT)
            for route, call in routes.items():
                resp = call(srv, client)
                assert resp.status_code == 200, (route, resp.status_code, resp.text[:300])


@pytest.mark.slow
def test_a_generation_cut_by_a_crash_of_redis_resumes_by_itself_and_ends_exact(
    private_redis: PrivateRedis,
) -> None:
    """Redis with AOF ``appendfsync always`` (no acknowledged write lost) is SIGKILLed while a
    bulk generation runs: the action is not marked FAILED; when Redis is back the same admin
    takes it up again by itself, and every code is stored exactly once."""
    private_redis.stop()
    private_redis.extra_args = ("--appendonly", "yes", "--appendfsync", "always")
    private_redis.start()
    prefix = f"pgtest:{uuid.uuid4().hex[:8]}:"
    count = 300_000
    with AdminServer(private_redis.url, prefix, redis_timeout=TIMEOUT) as srv:
        ready = srv.http.get("/ready").json()
        assert ready["durability"]["appendfsync"] == "always", ready
        assert ready["durability"]["loses"] == "no acknowledged write", ready
        camp = srv.request(
            "POST",
            "/v1/campaigns",
            json={
                "name": "Crash",
                "campaign_type": "DISCOUNT_COUPONS",
                "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 5}},
                "vouchers_count": count,
            },
        )
        assert camp.status_code == 200, camp.text
        aid = camp.json()["async_action_id"]
        deadline = time.monotonic() + 60
        while srv.request("GET", f"/v1/async-actions/{aid}").json()["processed"] == 0:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        private_redis.kill()
        r = srv.request("GET", f"/v1/async-actions/{aid}")
        assert r.status_code == 503 and r.json()["key"] == "service_unavailable", r.text
        time.sleep(1.0)
        private_redis.start()
        after_restart = srv.request("GET", f"/v1/async-actions/{aid}").json()
        assert after_restart["status"] == "IN_PROGRESS", after_restart  # not FAILED
        assert 0 < after_restart["processed"] < count, after_restart
        done = srv.wait_action(aid, timeout=120)
        assert done["status"] == "DONE" and done["processed"] == count, done
        check = redis.Redis.from_url(private_redis.url)
        try:
            codes = check.lrange(f"{prefix}campcodes:{camp.json()['id']}", 0, -1)
        finally:
            check.close()
        assert len(codes) == len(set(codes)) == count
