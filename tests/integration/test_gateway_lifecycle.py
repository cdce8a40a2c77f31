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


async def test_ruleset_swaps_freeze_the_new_ruleset_and_free_the_old(redis_url: str, key_prefix: str) -> None:
    # After a swap the ruleset is out of the collector's sight (gc.freeze), and the previous one
    # is collected rather than kept frozen for ever: swapping again and again must not grow.
    import gc
    import weakref

    import redis as sync_redis
    from gateway_fixtures import definitions

    from store.defs import publish_definitions_sync

    class Node:  # stands for anything cyclic the last swap froze (an old ruleset, say)
        pass

    sync = sync_redis.Redis.from_url(redis_url)
    client = aredis.Redis.from_url(redis_url)
    live = Live(client, key_prefix, poll=3600)
    cyclic = Node()
    cyclic.me = cyclic  # type: ignore[attr-defined]
    gone = weakref.ref(cyclic)
    try:
        counts = []
        for i in range(6):
            codes = [{"code": f"V{i}_{n}", "campaign_id": "camp_gen"} for n in range(3000)]
            publish_definitions_sync(sync, key_prefix, definitions(codes))
            assert await live.reload()
            assert live.ruleset is not None and live.ruleset.size >= 3000
            counts.append(gc.get_freeze_count())
            if i == 0:
                del cyclic  # garbage now, but frozen by the first swap
        assert gone() is None  # a later swap collected it
        assert counts[0] > 10_000  # the ruleset and everything alive were frozen
        assert max(counts[1:]) < counts[0] * 1.2  # ... and the old rulesets were not
    finally:
        gc.unfreeze()
        await client.aclose()
        sync.close()
