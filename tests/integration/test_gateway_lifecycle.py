"""Starting and stopping a worker's background tasks (the definitions listener and poller)."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aredis

from gateway.live import Live


@pytest.mark.parametrize("delay", [0, 0, 0, 0.001, 0.01, 0.2])
async def test_live_stops_promptly_whenever_it_is_stopped(redis_url: str, key_prefix: str, delay: float) -> None:
    # A cancellation that lands while redis-py is connecting used to be swallowed, leaving the
    # listener on pubsub.listen() for ever: the worker then never finished shutting down.
    client = aredis.Redis.from_url(redis_url)
    live = Live(client, key_prefix)
    try:
        await live.start()
        await asyncio.sleep(delay)
        t0 = time.monotonic()
        await asyncio.wait_for(live.stop(), 4)
        assert time.monotonic() - t0 < 3
        assert all(t.done() for t in live._tasks)
        assert live.ready  # it had loaded a ruleset (an empty one: nothing is published here)
    finally:
        await client.aclose()
