"""`make bench-redis`: Redis time per script call (issue 13, target 1), measured on a quiet,
PRIVATE ``redis-server`` beside a trivial one-key script in the same run.

The real gateway app runs in this process (Litestar's test client, no HTTP server) on a private
Redis seeded with one flash-sale code (``FLASH``: 1.00 off, at most 10^9 uses, a campaign
budget and a per-customer limit, so a validation reads counters). Phases, each after
``CONFIG RESETSTAT``, then ``INFO commandstats``:

- ``trivial``:  ``EVALSHA`` of ``return redis.call('INCRBY', KEYS[1], 1)`` (the floor), and
  ``trivial_fn``: the same as a function (``FCALL``), how promogate's scripts are called;
- ``validate``: ``POST /v1/validations`` of the code (the check script reads its counters);
- ``redeem``:   ``POST /v1/redemptions`` of the code, one customer each;
- ``rollback``: ``POST /v1/redemptions/{id}/rollback`` of each of those redemptions.

For each: Redis µs per ``evalsha`` / ``fcall`` (``usec_per_call``), its ratio to the trivial script, and
every command the phase sent per request (a request may also read the definitions' version).
Environment: ``REDIS_COST_CALLS`` [2000] per phase. Writes ``bench-results/redis-cost.json``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import redis
from litestar.testing import TestClient

from core import model as m
from gateway.app import create_app
from store.defs import publish_definitions_sync, put_app_key_sync
from store.redis_server import PrivateRedis
from store.settings import Settings

OUT = Path(__file__).resolve().parent.parent / "bench-results" / "redis-cost.json"
PREFIX = "rc:"
APP_ID, APP_TOKEN = "app_cost", "cost-token-0123456789"
HEADERS = {"X-App-Id": APP_ID, "X-App-Token": APP_TOKEN}
TRIVIAL = "return redis.call('INCRBY', KEYS[1], 1)"


def _defs() -> m.Definitions:
    return m.load_definitions({
        "campaigns": [{"id": "camp_flash", "name": "Flash sale",
                       "voucher": {"discount": {"type": "AMOUNT", "amount_off": 100},
                                   "redemption": {"quantity": 10**9}},
                       "limits": {"discounted_amount": 10**12, "per_customer": 5}}],
        "vouchers": [{"code": "FLASH", "campaign_id": "camp_flash"}],
    })  # fmt: skip


def _stats(r: redis.Redis) -> dict[str, dict[str, float]]:
    return {k.removeprefix("cmdstat_"): v for k, v in r.info("commandstats").items()}


def _phase(r: redis.Redis, name: str, calls: int, run: Any) -> dict[str, Any]:
    r.config_resetstat()
    t0 = time.perf_counter()
    for i in range(calls):
        run(i)
    wall = time.perf_counter() - t0
    st = _stats(r)
    ev = st.get("fcall") or st.get("evalsha") or {}  # promogate's scripts are functions (FCALL)
    per = {c: round(v["calls"] / calls, 2) for c, v in st.items() if not c.startswith(("config", "info"))}
    return {"phase": name, "calls": calls, "evalsha_usec_per_call": ev.get("usec_per_call"),
            "evalsha_calls": ev.get("calls"), "commands_per_request": per,
            "wall_ms_per_request": round(wall * 1000 / calls, 3)}  # fmt: skip


def main() -> None:
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
    calls = int(os.environ.get("REDIS_COST_CALLS", "2000"))
    with PrivateRedis() as srv:
        r = redis.Redis.from_url(srv.url)
        publish_definitions_sync(r, PREFIX, _defs())
        put_app_key_sync(r, PREFIX, APP_ID, APP_TOKEN, "application")
        sha = r.script_load(TRIVIAL)
        app = create_app(Settings(redis_url=srv.url, key_prefix=PREFIX))
        out: list[dict[str, Any]] = []
        with TestClient(app) as c:

            def body(i: int) -> dict[str, Any]:
                return {"customer": {"source_id": f"c{i}"}, "order": {"amount": 5000},
                        "redeemables": [{"object": "voucher", "id": "FLASH"}]}  # fmt: skip

            for i in range(50):  # warm: scripts loaded, the worker's caches filled
                assert c.post("/v1/validations", json=body(i), headers=HEADERS).status_code == 200
            out.append(_phase(r, "trivial", calls, lambda i: r.evalsha(sha, 1, PREFIX + "trivial")))
            r.function_load("#!lua name=cost_trivial\nredis.register_function('cost_trivial', "
                            "function(keys, args) return redis.call('INCRBY', keys[1], 1) end)", replace=True)  # fmt: skip
            out.append(_phase(r, "trivial_fn", calls, lambda i: r.fcall("cost_trivial", 1, PREFIX + "trivial")))

            def validate(i: int) -> None:
                assert c.post("/v1/validations", json=body(i), headers=HEADERS).json()["valid"]

            out.append(_phase(r, "validate", calls, validate))
            ids: list[str] = []

            def redeem(i: int) -> None:
                resp = c.post("/v1/redemptions", json=body(i), headers=HEADERS)
                assert resp.status_code == 200, resp.text
                ids.append(resp.json()["redemptions"][0]["id"])

            out.append(_phase(r, "redeem", calls, redeem))

            def rollback(i: int) -> None:
                resp = c.post(f"/v1/redemptions/{ids[i]}/rollback", headers=HEADERS)
                assert resp.status_code == 200, resp.text

            out.append(_phase(r, "rollback", calls, rollback))
        r.close()
    floor = out[0]["evalsha_usec_per_call"] or 1
    for p in out:
        p["x_trivial"] = round((p["evalsha_usec_per_call"] or 0) / floor, 2)
    report = {"at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "phases": out}
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2))
    for p in out:
        print(f"{p['phase']:9} {p['evalsha_usec_per_call']:8.2f} us/call  x{p['x_trivial']:<6} "
              f"{p['wall_ms_per_request']:.3f} ms/request  {p['commands_per_request']}")  # fmt: skip


if __name__ == "__main__":
    main()
