"""Issue 3, races: hundreds of REAL concurrent HTTP requests against ``python -m gateway`` with
two worker processes (fixture ``server``), checked against what Redis holds afterwards.

- 1,000 redeems of a code limited to 100: exactly 100 succeed; use counter, ledger entries and
  success records all say 100;
- a 10,000-cent discounted-amount budget is never exceeded by a cent;
- a gift card's balance never goes negative;
- 200 simultaneous rollbacks (single and stacked) of one redemption: exactly one succeeds;
- 100 concurrent retries with one Idempotency-Key count once and all get the same answer;
- both workers served requests.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

import httpx
import pytest
import redis
from gateway_fixtures import (
    HEADERS,
    Server,
    body,
    counter,
    ledger_touching,
    metric_samples,
    sample,
    tier,
    voucher,
)

from core import model as m
from gateway.metrics import FLUSH_SECONDS
from store.defs import put_codes_sync

pytestmark = pytest.mark.slow
CONCURRENCY = 200


async def _fire(
    srv: Server, calls: list[tuple[str, str, Any, dict[str, str]]]
) -> list[httpx.Response]:
    """Send every ``(method, path, json, headers)`` over up to 200 concurrent connections.

    One ``httpx.AsyncClient`` per connection (httpcore's pool is quadratic in the number of
    queued requests x connections: one pool of 200 connections with 1,000 queued requests
    spends its time in pool bookkeeping, not on the wire). Every connection is opened first,
    then all start at once."""
    n = min(CONCURRENCY, len(calls))
    # plain http: verify=False spares each client loading the CA bundle (~50 ms apiece)
    clients = [httpx.AsyncClient(base_url=srv.url, limits=httpx.Limits(max_connections=1), timeout=60.0,
                                 verify=False) for _ in range(n)]  # fmt: skip
    out: list[httpx.Response | None] = [None] * len(calls)
    go = asyncio.Event()
    warm = [0]

    async def worker(k: int) -> None:
        c = clients[k]
        assert (await c.get("/health")).status_code == 200  # the connection is open
        warm[0] += 1
        if warm[0] == n:
            go.set()
        await go.wait()
        for i in range(k, len(calls), n):
            method, path, js, headers = calls[i]
            out[i] = await c.request(method, path, json=js, headers={**HEADERS, **headers})

    try:
        await asyncio.gather(*[worker(k) for k in range(n)])
    finally:
        await asyncio.gather(*[c.aclose() for c in clients])
    assert all(r is not None for r in out)
    return out  # type: ignore[return-value]


def _keys(resps: list[httpx.Response]) -> dict[Any, int]:
    out: dict[Any, int] = {}
    for r in resps:
        k = 200 if r.status_code == 200 else (r.status_code, r.json().get("key"))
        out[k] = out.get(k, 0) + 1
    return out


def _odd(resps: list[httpx.Response]) -> list[str]:
    """Bodies of the answers that are neither 200 nor 400 (for failure messages)."""
    return [r.text[:300] for r in resps if r.status_code not in (200, 400)][:5]


@pytest.fixture
def rc(server: Server) -> Any:
    c = redis.Redis.from_url(server.redis_url)
    yield c
    c.close()


async def test_1000_redeems_of_a_code_limited_to_100(server: Server, rc: redis.Redis) -> None:
    P = server.prefix
    uses = "{c:camp_lim}:v:LIMITED100:uses"
    calls = [
        ("POST", "/v1/redemptions", body(voucher("LIMITED100"), customer=f"cus_{i}"), {})
        for i in range(1000)
    ]
    resps = await _fire(server, calls)
    got = _keys(resps)
    assert counter(rc, P, uses) == 100
    assert got == {200: 100, (400, "quantity_exceeded"): 900}, (got, _odd(resps))
    assert counter(rc, P, "{c:camp_lim}:uses") == 100
    assert counter(rc, P, "{c:camp_lim}:disc") == 100 * 100
    entries = ledger_touching(rc, P, uses)
    assert len(entries) == 100
    # one success record per 200, each SUCCEEDED, and no other record of that code
    ok_ids = {r.json()["redemptions"][0]["id"] for r in resps if r.status_code == 200}
    assert len(ok_ids) == 100
    for rid in ok_ids:
        assert rc.hget(P + f"rd:{rid}", "status") == b"SUCCEEDED"
    stored = set()
    for k in rc.scan_iter(match=P + "rd:*", count=1000):
        data = rc.hget(k, "data") or b""
        if b'"related_object_id":"LIMITED100"' in data:
            stored.add(k.decode().rsplit(":", 1)[1])
    assert stored == ok_ids
    ledger_ids = {rid for e in entries for rid in json.loads(e["redemptions"])}
    assert ok_ids <= ledger_ids


async def test_discounted_amount_budget_is_never_exceeded(server: Server, rc: redis.Redis) -> None:
    P = server.prefix
    rnd = random.Random(1234)
    amounts = [rnd.randrange(1000, 10000, 10) for _ in range(300)]  # 10 % of each is exact
    calls = [("POST", "/v1/redemptions", body(voucher("BUDGET10"), amount=a, customer=f"cb_{i}"), {})
             for i, a in enumerate(amounts)]  # fmt: skip
    resps = await _fire(server, calls)
    got = _keys(resps)
    assert set(got) <= {200, (400, "redemption_rules_violated")}, got
    ok = [r.json()["order"]["total_discount_amount"] for r in resps if r.status_code == 200]
    failed = [a // 10 for a, r in zip(amounts, resps, strict=True) if r.status_code != 200]
    for a, r in zip(amounts, resps, strict=True):
        if r.status_code == 200:
            assert r.json()["order"]["total_discount_amount"] == a // 10
    total = sum(ok)
    assert total <= 10_000, total
    assert counter(rc, P, "{c:camp_budget}:disc") == total
    assert failed, "300 requests of up to 999 each must exhaust a 10,000 budget"
    # each refusal saw less budget left than it asked; the budget only shrinks
    assert 10_000 - total < min(failed), (total, min(failed))


async def test_gift_card_balance_never_goes_negative(server: Server, rc: redis.Redis) -> None:
    P = server.prefix
    rnd = random.Random(99)
    credits = [rnd.randrange(100, 1500) for _ in range(200)]
    calls = [("POST", "/v1/redemptions", body(voucher("GIFTRACE", gift={"credits": c}), amount=20000,
                                               customer=f"cg_{i}"), {})
             for i, c in enumerate(credits)]  # fmt: skip
    resps = await _fire(server, calls)
    got = _keys(resps)
    assert set(got) <= {200, (400, "gift_amount_exceeded")}, got
    spent = [r.json()["redemptions"][0]["amount"] for r in resps if r.status_code == 200]
    failed = [c for c, r in zip(credits, resps, strict=True) if r.status_code != 200]
    assert sum(spent) <= 10_000
    assert counter(rc, P, "{c:camp_gift}:v:GIFTRACE:spent") == sum(spent)
    assert failed and 10_000 - sum(spent) < min(failed)
    # and the API agrees: what is left is the balance
    async with httpx.AsyncClient(base_url=server.url) as c:
        r = await c.post(
            "/v1/validations", json=body(voucher("GIFTRACE"), amount=20000), headers=HEADERS
        )
    left = 10_000 - sum(spent)
    if left > 0:
        assert r.json()["redeemables"][0]["result"]["gift"] == {"credits": left, "balance": left}
    else:
        assert r.json()["valid"] is False


async def test_simultaneous_rollbacks_of_one_redemption(server: Server, rc: redis.Redis) -> None:
    P = server.prefix
    async with httpx.AsyncClient(base_url=server.url) as c:
        one = (await c.post("/v1/redemptions", json=body(voucher("GEN5")), headers=HEADERS)).json()
        stacked = (await c.post("/v1/redemptions", json=body(voucher("GEN5B"), tier("promo_5pct")),
                                headers=HEADERS)).json()  # fmt: skip
    rid = one["redemptions"][0]["id"]
    pid = stacked["parent_redemption"]["id"]
    gen_before = counter(rc, P, "{c:camp_gen}:uses")
    tier_before = counter(rc, P, "{c:camp_promo}:t:promo_5pct:uses")
    calls = [("POST", f"/v1/redemptions/{rid}/rollback", None, {}) for _ in range(200)]
    calls += [("POST", f"/v1/redemptions/{pid}/rollbacks", None, {}) for _ in range(200)]
    resps = await _fire(server, calls)
    assert _keys(resps[:200]) == {200: 1, (400, "already_rolled_back"): 199}
    assert _keys(resps[200:]) == {200: 1, (400, "already_rolled_back"): 199}
    # each rollback took back exactly once: GEN5 and GEN5B share the campaign's use counter
    assert counter(rc, P, "{c:camp_gen}:uses") == gen_before - 2
    assert counter(rc, P, "{c:camp_promo}:t:promo_5pct:uses") == tier_before - 1
    assert len(ledger_touching(rc, P, "{c:camp_gen}:v:GEN5:uses", kind="rollback")) == 1
    assert len(ledger_touching(rc, P, "{c:camp_gen}:v:GEN5B:uses", kind="rollback")) == 1


async def test_concurrent_idempotent_retries_count_once(server: Server, rc: redis.Redis) -> None:
    P = server.prefix
    before = counter(rc, P, "{c:camp_lock}:v:LOCK2:uses")
    b = body(voucher("LOCK2"), customer="cus_idem")
    resps = await _fire(
        server, [("POST", "/v1/redemptions", b, {"Idempotency-Key": "order-777"})] * 100
    )
    assert _keys(resps) == {200: 100}, _keys(resps)
    assert len({r.content for r in resps}) == 1, "every retry gets the same stored answer"
    assert counter(rc, P, "{c:camp_lock}:v:LOCK2:uses") == before + 1
    assert len(ledger_touching(rc, P, "{c:camp_lock}:v:LOCK2:uses")) == 1
    # and one idempotent rollback of it, retried 100 times at once
    rid = resps[0].json()["redemptions"][0]["id"]
    rbs = await _fire(
        server,
        [("POST", f"/v1/redemptions/{rid}/rollback", None, {"Idempotency-Key": "rb-777"})] * 100,
    )
    assert _keys(rbs) == {200: 100}, _keys(rbs)
    assert len({r.json()["id"] for r in rbs}) == 1
    assert counter(rc, P, "{c:camp_lock}:v:LOCK2:uses") == before


async def test_burst_of_unique_code_lookups_never_503s(server: Server, rc: redis.Redis) -> None:
    """400 different unique codes at once: every one is a cache miss looked up in Redis, far
    more at once than a connection pool holds (the default asyncio pool refused past 100 with
    "Too many connections", answered as 503)."""
    codes = [f"UNQ-B-{i:04d}" for i in range(400)]
    put_codes_sync(rc, server.prefix, [m.Voucher(code=c, campaign_id="camp_unique") for c in codes])
    resps = await _fire(server, [("POST", "/v1/redemptions", body(voucher(c), customer=f"cu_{i}"), {})
                                 for i, c in enumerate(codes)])  # fmt: skip
    assert _keys(resps) == {200: 400}, (_keys(resps), _odd(resps))
    assert {r.json()["redemptions"][0]["voucher"]["code"] for r in resps} == set(codes)
    assert counter(rc, server.prefix, "{c:camp_unique}:uses") == 400


def test_both_workers_served_and_metrics_add_up(server: Server) -> None:
    """Runs after the races above (same module server): both workers counted requests, and
    /metrics sums them across workers (each worker hands its tallies over every second)."""
    time.sleep(FLUSH_SECONDS + 0.5)
    per_worker = server.requests_by_worker()
    busy = {pid: n for pid, n in per_worker.items() if n > 0}
    assert len(busy) >= 2, per_worker
    text = httpx.get(server.url + "/metrics").text
    s = metric_samples(text)
    assert sample(s, "promogate_requests_total", endpoint="redemptions", status="200") >= 100
    assert sample(s, "promogate_redemptions_total", result="SUCCESS") >= 100
    assert sample(s, "promogate_failures_total", key="quantity_exceeded") >= 900
    assert sample(s, "promogate_rollbacks_total", result="already_rolled_back") >= 398
    assert sample(s, "promogate_ruleset_version") >= 1
    total = sum(v for (name, labels), v in s.items() if name == "promogate_requests_total")
    assert total == pytest.approx(sum(per_worker.values()))
