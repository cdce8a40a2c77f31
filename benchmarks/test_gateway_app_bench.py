"""The gateway's own cost per request, without an HTTP server: the ASGI app driven in process.

`make bench-gateway` measures the whole stack (uvicorn, the event loop, the sockets) against an
echo app; this isolates what promogate itself spends: the fast path, auth, decode, evaluate,
the Redis round trip through the auto-pipeliner (real Redis), render, encode, metrics. Each
round sends BATCH requests, CONCURRENCY at a time, through ``app(scope, receive, send)``, the
way uvicorn would call it. The figures to read are per request, in ``extra_info`` (the JSON,
and printed by ``-s``): ``us_per_request``, the round's wall time / BATCH (the app also waits on
Redis), and ``cpu_us_per_request``, this process's CPU time / BATCH (what promogate itself
spends; Redis runs in its own process). Same data as the ceiling benchmark: the load-test ruleset
(1,000 promotions) and a 5-item cart with the generic code ``LTBENCH``.

    .venv/bin/pytest benchmarks/test_gateway_app_bench.py --benchmark-only

Under ``make test`` each endpoint runs once and must answer 200 (validate: ``valid: true``).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

BATCH = 256
CONCURRENCY = 32
ENDPOINTS = ("validate", "redeem", "qualifications")


@pytest.fixture(scope="module")
def seeded(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from loadtests import seed as seedmod

    mp = pytest.MonkeyPatch()
    mp.setenv("REDIS_URL", redis_url)
    mp.setenv("PROMOGATE_KEY_PREFIX", "pgappbench:")
    mp.setenv("LOADTEST_SEED", "direct")
    mp.setenv("LOADTEST_UNIQUE_CODES", "0")
    mp.setenv("LOADTEST_FLASH_LIMIT", "10")
    mp.setenv("LOADTEST_MANIFEST", str(tmp_path_factory.mktemp("appbench") / "manifest.json"))
    manifest = seedmod.seed()
    try:
        yield manifest
    finally:
        seedmod.cleanup(manifest.redis_url, manifest.prefix)
        mp.undo()


class _Driver:
    """The app on its own event loop (uvloop, as served), started through its lifespan."""

    def __init__(self, manifest: Any) -> None:
        import uvloop

        from gateway.app import create_app
        from loadtests import ceiling
        from store.settings import Settings

        self.loop = uvloop.new_event_loop()
        self.cpu: list[float] = []  # this process's CPU seconds of each batch
        self.app = create_app(Settings(redis_url=manifest.redis_url, key_prefix=manifest.prefix))
        self.headers = [
            (b"x-app-id", manifest.app_id.encode()),
            (b"x-app-token", manifest.app_token.encode()),
            (b"content-type", b"application/json"),
        ]
        cart = ceiling._body(manifest)
        qual = {"customer": cart["customer"], "order": cart["order"]}
        self.requests = {
            "validate": ("/v1/validations", orjson.dumps(cart)),
            "redeem": ("/v1/redemptions", orjson.dumps(cart)),
            "qualifications": ("/v1/qualifications", orjson.dumps(qual)),
        }
        self.loop.run_until_complete(self._lifespan("startup"))

    async def _lifespan(self, phase: str) -> None:
        sent: list[dict] = []
        msgs = [{"type": f"lifespan.{phase}"}]

        async def receive() -> dict:
            if msgs:
                return msgs.pop()
            await asyncio.sleep(3600)  # pragma: no cover - the app returns first
            return {}

        async def send(msg: dict) -> None:
            sent.append(msg)

        # Litestar's lifespan handler returns after startup.complete only once it sees the
        # next message; run it until the completion shows, then leave it waiting
        task = asyncio.ensure_future(self.app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                                              receive, send))  # fmt: skip
        while not any(m["type"].startswith(f"lifespan.{phase}.") for m in sent):
            await asyncio.sleep(0.01)
        assert sent[-1]["type"] == f"lifespan.{phase}.complete", sent
        task.cancel()

    async def _one(self, path: str, body: bytes, out: list) -> None:
        scope = {"type": "http", "method": "POST", "path": path, "headers": self.headers,
                 "query_string": b"", "state": {}}  # fmt: skip
        got: dict[str, Any] = {}

        async def receive() -> dict:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(msg: dict) -> None:
            if msg["type"] == "http.response.start":
                got["status"] = msg["status"]
            else:
                got["body"] = msg.get("body", b"")

        await self.app(scope, receive, send)
        out.append(got)

    async def _batch(self, endpoint: str) -> list[dict]:
        path, body = self.requests[endpoint]
        out: list[dict] = []

        async def lane(n: int) -> None:
            for _ in range(n):
                await self._one(path, body, out)

        await asyncio.gather(*(lane(BATCH // CONCURRENCY) for _ in range(CONCURRENCY)))
        return out

    def batch(self, endpoint: str) -> list[dict]:
        c0 = time.process_time()
        out = self.loop.run_until_complete(self._batch(endpoint))
        self.cpu.append(time.process_time() - c0)
        return out

    def close(self) -> None:
        gw = self.app.state.gateway
        self.loop.run_until_complete(gw.stop())
        self.loop.close()


@pytest.fixture(scope="module")
def driver(seeded: Any) -> Iterator[_Driver]:
    d = _Driver(seeded)
    try:
        yield d
    finally:
        d.close()


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_gateway_app_per_request(benchmark: Any, driver: _Driver, endpoint: str) -> None:
    driver.batch(endpoint)  # warm: caches, script loads, the first connection
    driver.cpu.clear()
    answers = benchmark(driver.batch, endpoint)
    assert len(answers) == BATCH
    assert {a["status"] for a in answers} == {200}, answers[0]
    if endpoint == "validate":
        assert all(json.loads(a["body"])["valid"] is True for a in answers)
    if endpoint == "redeem":
        assert all(json.loads(a["body"])["redemptions"] for a in answers)
    # the figures to read, per request: wall time (the app waits on Redis too) and this
    # process's CPU time (what the app itself spends; Redis runs in its own process)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        benchmark.extra_info["us_per_request"] = round(stats.stats.median / BATCH * 1e6, 1)
    benchmark.extra_info["cpu_us_per_request"] = round(statistics.median(driver.cpu) / BATCH * 1e6, 1)
    print(f"\n{endpoint}: {benchmark.extra_info}")
