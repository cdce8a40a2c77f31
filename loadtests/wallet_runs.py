"""`make bench-wallet`: what writing a run of credits as ONE stream entry saves (issue 10).

An order that earns through 10 rules on each of 10 cards makes one ``wallet.lua`` call with 100
credits. Since the "runs" change, ``store.wallet`` groups consecutive credits to one card into one
script op and one stream entry (``store/lua/_wallet.lua``, "tx"); reads expand them again. This
script measures both ways in ONE run on a PRIVATE ``redis-server`` (clean ``INFO``): the same
calls, once with runs and once with every credit an op and an entry of its own (the grouping
switched off in this process only), and prints Redis µs per call (``fcall`` of
``INFO commandstats``) and ``used_memory`` growth per call and per transaction.

Environment: ``WALLET_CALLS`` [1000] calls per mode, ``WALLET_CARDS`` [10], ``WALLET_RULES``
[10] credits per card and call. Writes ``bench-results/wallet-runs.json`` (and prints it).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aredis

import store.wallet as sw
from store.redis_server import PrivateRedis
from store.wallet import Credit, Wallet

OUT = Path(__file__).resolve().parent.parent / "bench-results" / "wallet-runs.json"
NOW = 1_800_000_000_000
#: an earning rule's transaction details, as core.earning writes them (size matters for memory)
DETAILS = (b'{"earning_rule":{"id":"ern_0123456789abcdef01234567","source":{"banner":"1 point per '
           b'litre"}},"order":{"id":"ord_0123456789abcdef01234567"}}')  # fmt: skip


async def _measure(url: str, mode: str, calls: int, cards: int, rules: int) -> dict[str, Any]:
    prefix = f"wr{mode}:"
    client = aredis.Redis.from_url(url)
    sync = redis.Redis.from_url(url)
    wallet = Wallet(client, prefix)
    grouping = sw._runs
    if mode == "single":
        sw._runs = lambda ops: [[op] for op in ops]
    try:

        def ops(i: int) -> list[Credit]:
            return [Credit(campaign_id=f"camp_{c}", code=f"CODE{c}", points=10 + j, source_id=f"ord_{i}",
                           details=DETAILS) for c in range(cards) for j in range(rules)]  # fmt: skip

        for i in range(20):  # warm: scripts loaded, cards and buckets exist
            await wallet.apply(ops(i), NOW + i)
        mem0 = sync.info("memory")["used_memory"]
        sync.config_resetstat()
        t0 = time.perf_counter()
        for i in range(20, 20 + calls):
            assert (await wallet.apply(ops(i), NOW + i)).ok
        wall = time.perf_counter() - t0
        grown = sync.info("memory")["used_memory"] - mem0
        ev = sync.info("commandstats")["cmdstat_fcall"]  # promogate's scripts are functions
        entries = sum(sync.xlen(f"{prefix}{{c:camp_{c}}}:lc:CODE{c}:tx") for c in range(cards))
        return {
            "mode": mode,
            "redis_us_per_call": ev["usec_per_call"],
            "wall_us_per_call": round(wall / calls * 1e6),
            "bytes_per_call": grown // calls,
            "bytes_per_transaction": grown // (calls * cards * rules),
            "stream_entries": entries,
            "transactions": (calls + 20) * cards * rules,
        }
    finally:
        sw._runs = grouping
        await wallet.aclose()
        await client.aclose()
        sync.close()


def main() -> int:
    calls = int(os.environ.get("WALLET_CALLS", "1000"))
    cards = int(os.environ.get("WALLET_CARDS", "10"))
    rules = int(os.environ.get("WALLET_RULES", "10"))
    private = PrivateRedis().start()
    try:
        rows = [
            asyncio.run(_measure(private.url, mode, calls, cards, rules))
            for mode in ("single", "runs")
        ]
    finally:
        private.stop()
    single, runs = rows
    doc = {
        "calls": calls, "cards": cards, "credits_per_card": rules,
        "results": rows,
        "redis_time_single_over_runs": round(single["redis_us_per_call"] / runs["redis_us_per_call"], 2),
        "memory_single_over_runs": round(single["bytes_per_call"] / max(1, runs["bytes_per_call"]), 2),
    }  # fmt: skip
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
