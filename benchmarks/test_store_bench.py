"""The redeem script under concurrency: auto-pipelined against one round trip per call.

Issue 3 asks for auto-pipelining because it "alone doubles throughput over one call per
request". Both sides here run the same ``redeem.lua`` for the same number of concurrent
callers on the same Redis, in one run: through :class:`store.counters.Store` (its
auto-pipeliner flushes every call of one event-loop turn as one pipeline) and through plain
redis-py ``EVALSHA`` calls on a connection pool (one round trip per call).
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import redis
import redis.asyncio as aredis

from store.counters import Store
from store.redis_server import delete_prefixed

CALLS = 2000
CONCURRENCY = 200


def _ops(i: int) -> list[tuple]:
    return [
        ("{c:bench}:v:CODE:uses", 1, -1, "quantity_exceeded", 0, 1),
        ("{c:bench}:uses", 1, -1, "quantity_exceeded", 0, 0),
        ("{c:bench}:disc", 100 + i % 7, -1, "redemption_rules_violated", 0, 0),
    ]


async def _autopipelined(url: str, prefix: str, n: int) -> float:
    store = Store.from_url(url, prefix=prefix, timeout=10.0)
    try:
        await store.load_scripts()
        sem = asyncio.Semaphore(CONCURRENCY)

        async def one(i: int) -> None:
            async with sem:
                r = await store.redeem(_ops(i), [(f"r_{uuid.uuid4().hex}", b"{}")], 1_800_000_000_000)
                assert r.ok

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return time.perf_counter() - t0
    finally:
        await store.aclose()


async def _one_call_each(url: str, prefix: str, n: int) -> float:
    # the same script and arguments as Store.redeem builds them, sent one call at a time
    store = Store.from_url(url, prefix=prefix, timeout=10.0)
    client = aredis.Redis.from_url(url, max_connections=CONCURRENCY)
    try:
        await store.load_scripts()
        script = store.scripts["redeem"]
        captured: list[tuple] = []

        async def capture(s, keys, args):  # record what Store.redeem would send, then send it ourselves
            captured.append((keys, args))
            fut = asyncio.get_running_loop().create_future()
            fut.set_result([b"ok", b"0-0"])
            return await fut

        store.pipe.evalsha = capture  # type: ignore[method-assign]
        for i in range(n):
            await store.redeem(_ops(i), [(f"r_{uuid.uuid4().hex}", b"{}")], 1_800_000_000_000)
        sem = asyncio.Semaphore(CONCURRENCY)

        async def one(keys, args) -> None:
            async with sem:
                r = await client.execute_command(*script.head, len(keys), *keys, *args)
                assert r[0] == b"ok"

        t0 = time.perf_counter()
        await asyncio.gather(*(one(k, a) for k, a in captured))
        return time.perf_counter() - t0
    finally:
        await client.aclose()
        await store.aclose()


@pytest.mark.parametrize("mode", ["autopipelined", "one_call_each"])
def test_redeem_script_throughput(benchmark, redis_url: str, mode: str) -> None:
    n = 200 if benchmark.disabled else CALLS
    prefix = f"pgbench:{uuid.uuid4().hex[:8]}:"
    run = _autopipelined if mode == "autopipelined" else _one_call_each
    seconds: list[float] = []

    def go() -> None:
        seconds.append(asyncio.run(run(redis_url, prefix, n)))

    benchmark.group = f"redeem.lua, {n} calls, {CONCURRENCY} concurrent callers"
    try:
        benchmark.pedantic(go, rounds=3, iterations=1)
        client = redis.Redis.from_url(redis_url)
        try:
            # every call counted exactly once, whichever way it was sent
            assert int(client.get(prefix + "{c:bench}:uses")) == n * len(seconds)
        finally:
            client.close()
    finally:
        client = redis.Redis.from_url(redis_url)
        try:
            delete_prefixed(client, prefix)
        finally:
            client.close()
    benchmark.extra_info["calls_per_second"] = round(n / min(seconds))
