"""Loyalty races: hundreds of REAL concurrent HTTP requests against ``python -m gateway`` with
two worker processes, checked against what Redis holds afterwards.

- the same order marked PAID 50 times at once (POST and PUT mixed) earns once, the customer's
  metrics count it once, and one card is published (auto-join, join once);
- 30 redemptions of a reward with 9 left in stock: exactly 9 succeed, 9 prices debited;
- 400 random transfers between 5 cards (admin's transfer op, through the wallet store) never
  create or lose a point;
- 60 first orders of 60 new customers at once: 60 customers, 60 cards, points right;
- rollbacks of coupon rewards racing checkouts with those coupons: one side wins per coupon.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis
from gateway_fixtures import Server, running_server
from test_gateway_loyalty import DEFS
from test_gateway_races import _fire

from core import model as m
from store import codebook
from store.keys import Keys
from store.wallet import Transfer, Wallet

pytestmark = pytest.mark.slow

RACE_DEFS = msgspec.convert(
    {**DEFS, "rewards": [{**DEFS["rewards"][0], "stock": 9}, DEFS["rewards"][1]]}, m.Definitions
)


@pytest.fixture(scope="module")
def lsrv(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("gateway-loyalty")
    with running_server(redis_url, Path(workdir), RACE_DEFS, PROMOGATE_REDIS_TIMEOUT="10") as srv:
        yield srv


@pytest.fixture
def rc(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def _customer_id(rc: redis.Redis, prefix: str, source_id: str) -> str:
    return rc.get(prefix + "customer:src:" + source_id).decode()


def _card(rc: redis.Redis, prefix: str, source_id: str) -> str:
    return rc.get(prefix + "{c:camp_L}:lc:holder:" + _customer_id(rc, prefix, source_id)).decode()


def _figures(rc: redis.Redis, prefix: str, code: str) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in rc.hgetall(prefix + "{c:camp_L}:lc:" + code).items()}


def _tx_types(rc: redis.Redis, prefix: str, code: str) -> list[str]:
    """The card's transaction types, in order (an entry holding a run of n credits is n)."""
    entries = rc.xrange(prefix + "{c:camp_L}:lc:" + code + ":tx")
    return [f[b"type"].decode() for _, f in entries for _ in range(int(f.get(b"n", 1)))]


async def test_the_same_order_paid_50_times_at_once_earns_once(
    lsrv: Server, rc: redis.Redis
) -> None:
    body = {
        "source_id": "race-o-1",
        "status": "PAID",
        "amount": 20000,
        "customer": {"source_id": "racer"},
    }
    calls: list[tuple[str, str, Any, dict[str, str]]] = []
    for i in range(50):
        if i % 2:
            calls.append(("POST", "/v1/orders", body, {}))
        else:
            calls.append(("PUT", "/v1/orders/race-o-1", body, {}))
    resps = await _fire(lsrv, calls)
    # a PUT that lands before any POST created the order is a 404; every other answer is PAID
    assert {r.status_code for r in resps} <= {200, 404}
    assert sum(r.status_code == 200 for r in resps) >= 25
    assert all(r.json()["status"] == "PAID" for r in resps if r.status_code == 200)
    code = _card(rc, lsrv.prefix, "racer")
    f = _figures(rc, lsrv.prefix, code)
    assert f["points"] == 400 and f["balance"] == 400
    assert _tx_types(rc, lsrv.prefix, code) == ["POINTS_ACCRUAL", "POINTS_ACCRUAL"]
    cid = _customer_id(rc, lsrv.prefix, "racer")
    metrics = rc.hgetall(lsrv.prefix + "custmetrics:" + cid)
    assert int(metrics[b"count"]) == 1 and int(metrics[b"amount"]) == 20000
    assert rc.llen(lsrv.prefix + "campcodes:camp_L") >= 1
    holders = [k for k in rc.scan_iter(match=lsrv.prefix + "{c:camp_L}:lc:holder:*")]
    assert len([h for h in holders if h.endswith(cid.encode())]) == 1


async def test_60_new_customers_first_orders_at_once(lsrv: Server, rc: redis.Redis) -> None:
    calls = [("POST", "/v1/orders", {"source_id": f"first-{i}", "status": "PAID", "amount": 1000 + i,
                                     "customer": {"source_id": f"newbie-{i}"}}, {}) for i in range(60)]  # fmt: skip
    resps = await _fire(lsrv, calls)
    assert all(r.status_code == 200 for r in resps), [
        r.text for r in resps if r.status_code != 200
    ][:3]
    for i in range(60):
        code = _card(rc, lsrv.prefix, f"newbie-{i}")
        assert _figures(rc, lsrv.prefix, code)["balance"] == (1000 + i) // 100


async def test_30_redemptions_of_a_reward_with_9_in_stock(lsrv: Server, rc: redis.Redis) -> None:
    import httpx
    from gateway_fixtures import HEADERS

    async with httpx.AsyncClient(base_url=lsrv.url, headers=HEADERS) as c:
        for i in range(30):
            r = await c.post("/v1/orders", json={"source_id": f"stock-{i}", "status": "PAID", "amount": 15000,
                                                 "customer": {"source_id": f"collector-{i}"}})  # fmt: skip
            assert r.status_code == 200, r.text
    codes = [_card(rc, lsrv.prefix, f"collector-{i}") for i in range(30)]
    calls = [
        ("POST", f"/v1/loyalties/members/{code}/redemption", {"reward": {"id": "rew_M"}}, {})
        for code in codes
    ]
    resps = await _fire(lsrv, calls)
    ok = [r for r in resps if r.status_code == 200]
    refused = [r for r in resps if r.status_code != 200]
    assert len(ok) == 9
    assert {r.status_code for r in refused} == {400} and {r.json()["key"] for r in refused} == {
        "quantity_exceeded"
    }
    assert int(rc.get(lsrv.prefix + "{rw:rew_M}:redeemed")) == 9
    debited = [c for c in codes if "POINTS_REDEMPTION" in _tx_types(rc, lsrv.prefix, c)]
    assert len(debited) == 9
    for c in codes:
        f = _figures(rc, lsrv.prefix, c)
        assert f["balance"] == (50 if c in debited else 300) and f["redeemed"] == (
            250 if c in debited else 0
        )


async def test_concurrent_transfers_never_create_or_lose_points(
    lsrv: Server, redis_url: str
) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    w = Wallet(client, lsrv.prefix)
    try:
        from store.wallet import Credit

        codes = [f"POOL-{i}" for i in range(5)]
        now = 1_800_000_000_000
        for c in codes:
            await w.apply([Credit(campaign_id="camp_L", code=c, points=1000)], now)
        rnd = random.Random(7)

        async def one(i: int) -> str:
            a, b = rnd.sample(codes, 2)
            res = await w.apply([Transfer(campaign_id="camp_L", code=a, to_campaign_id="camp_L", to_code=b,
                                          points=rnd.randint(1, 400))], now + i)  # fmt: skip
            return res.status

        statuses = await asyncio.gather(*(one(i) for i in range(400)))
        assert set(statuses) <= {"ok", "failed"} and statuses.count("ok") > 100
        cards = [await w.card("camp_L", c, now + 1000) for c in codes]
        assert sum(c.balance for c in cards) == 5000
        assert all(c.balance >= 0 for c in cards)
    finally:
        await w.aclose()
        await client.aclose()


async def test_rollbacks_racing_reward_redemptions_keep_the_card_consistent(
    lsrv: Server, rc: redis.Redis
) -> None:
    import httpx
    from gateway_fixtures import HEADERS

    async with httpx.AsyncClient(base_url=lsrv.url, headers=HEADERS) as c:
        r = await c.post(
            "/v1/orders",
            json={
                "source_id": "rb-race-1",
                "status": "PAID",
                "amount": 75000,
                "customer": {"source_id": "rb-racer"},
            },
        )  # 1,500 points
        assert r.status_code == 200, r.text
        code = _card(rc, lsrv.prefix, "rb-racer")
        first = []
        for _ in range(6):
            r = await c.post(
                f"/v1/loyalties/members/{code}/redemption", json={"reward": {"id": "rew_C"}}
            )
            assert r.status_code == 200, r.text
            first.append(r.json()["id"])
    # 900 left; at once: the 6 rollbacks (each twice) and 15 new redemptions of 100
    calls: list[tuple[str, str, Any, dict[str, str]]] = []
    for rid in first:
        calls += [("POST", f"/v1/redemptions/{rid}/rollback", None, {})] * 2
    calls += [
        ("POST", f"/v1/loyalties/members/{code}/redemption", {"reward": {"id": "rew_C"}}, {})
    ] * 15
    random.Random(3).shuffle(calls)
    resps = await _fire(lsrv, calls)
    rollbacks = [r for (_, p, _, _), r in zip(calls, resps, strict=True) if p.endswith("/rollback")]
    assert sum(r.status_code == 200 for r in rollbacks) == 6  # each once
    assert {r.json()["key"] for r in rollbacks if r.status_code != 200} == {"already_rolled_back"}
    buys = [r for (_, p, _, _), r in zip(calls, resps, strict=True) if p.endswith("/redemption")]
    bought = sum(r.status_code == 200 for r in buys)
    assert {r.json()["key"] for r in buys if r.status_code != 200} <= {
        "loyalty_card_points_exceeded"
    }
    # the card agrees with its transactions, whatever the interleaving
    tx = rc.xrange(lsrv.prefix + "{c:camp_L}:lc:" + code + ":tx")
    f = _figures(rc, lsrv.prefix, code)
    assert f["balance"] == sum(int(e[b"points"]) for _, e in tx) == int(tx[-1][1][b"balance"])
    assert f["balance"] == 1500 - 100 * bought >= 0
    assert f["balance"] == f["points"] - f["expired"] - f["subtracted"] - f["redeemed"]
    assert [e[b"type"] for _, e in tx].count(b"POINTS_REFUND") == 6


async def test_a_reward_rollback_racing_checkouts_with_its_coupon_lets_one_side_win(
    lsrv: Server, rc: redis.Redis
) -> None:
    """20 coupons bought with points; then at once, for each, its reward's rollback twice and
    two checkouts with it, across both workers: per coupon, either the rollback wins (points
    back, no checkout used the coupon) or a checkout does (the rollback refused), never both."""
    import httpx
    from gateway_fixtures import HEADERS

    async with httpx.AsyncClient(base_url=lsrv.url, headers=HEADERS) as c:
        r = await c.post("/v1/orders", json={"source_id": "coupon-race-1", "status": "PAID", "amount": 100000,
                                             "customer": {"source_id": "coupon-racer"}})  # fmt: skip
        assert r.status_code == 200, r.text  # 2,000 points
        code = _card(rc, lsrv.prefix, "coupon-racer")
        bought = []
        for _ in range(20):
            r = await c.post(f"/v1/loyalties/members/{code}/redemption", json={"reward": {"id": "rew_C"}})
            assert r.status_code == 200, r.text
            bought.append((r.json()["id"], r.json()["reward"]["voucher"]["code"]))
    assert _figures(rc, lsrv.prefix, code)["balance"] == 0
    # every coupon in both workers' code caches: a checkout racing the rollback may still find
    # it there, and must then be refused by its own atomic count (the code's uses at USES_MAX)
    warm = [("POST", "/v1/validations", {"redeemables": [{"object": "voucher", "id": coupon}],
                                         "customer": {"source_id": "coupon-racer"},
                                         "order": {"amount": 10000}}, {}) for _, coupon in bought] * 4  # fmt: skip
    assert all(r.status_code == 200 and r.json()["valid"] for r in await _fire(lsrv, warm))
    calls: list[tuple[str, str, Any, dict[str, str]]] = []
    for rid, coupon in bought:
        calls += [("POST", f"/v1/redemptions/{rid}/rollback", None, {})] * 2
        calls += [("POST", "/v1/redemptions", {"customer": {"source_id": "coupon-racer"}, "order": {"amount": 10000},
                                               "redeemables": [{"object": "voucher", "id": coupon}]}, {})] * 2  # fmt: skip
    random.Random(7).shuffle(calls)
    resps = await _fire(lsrv, calls)
    assert all(r.status_code < 500 for r in resps), [r.text for r in resps if r.status_code >= 500][:3]
    rolled, refused = 0, set()
    for rid, coupon in bought:
        rbs = [r for (_, p, _, _), r in zip(calls, resps, strict=True) if p == f"/v1/redemptions/{rid}/rollback"]
        uses = [r for (_, p, b, _), r in zip(calls, resps, strict=True)
                if p == "/v1/redemptions" and b["redeemables"][0]["id"] == coupon]  # fmt: skip
        won = sum(r.status_code == 200 for r in rbs)
        used = sum(r.status_code == 200 for r in uses)
        assert won <= 1 and {r.json()["key"] for r in rbs if r.status_code != 200} <= {
            "already_rolled_back", "reward_already_used"}  # fmt: skip
        k_uses = lsrv.prefix + "{c:camp_D}:v:" + coupon + ":uses"
        if won:
            assert used == 0, (coupon, [r.text for r in uses])
            refused.update(r.json()["key"] for r in uses)
            assert int(rc.get(k_uses)) == m.USES_MAX and not codebook.read_sync(rc, Keys(lsrv.prefix), [coupon])[0]
            rolled += 1
        else:
            assert used >= 1 and int(rc.get(k_uses)) == used
            assert {r.json()["key"] for r in rbs} == {"reward_already_used"}
    # the member got back exactly the points of the rewards rolled back (its card agrees with
    # its transactions; the checkouts that won earned on it too)
    tx = rc.xrange(lsrv.prefix + "{c:camp_L}:lc:" + code + ":tx")
    assert [e[b"type"] for _, e in tx].count(b"POINTS_REFUND") == rolled
    f = _figures(rc, lsrv.prefix, code)
    assert f["balance"] == f["points"] - f["expired"] - f["subtracted"] - f["redeemed"]
    assert f["redeemed"] == 100 * (20 - rolled)
    # a checkout that lost: the coupon unknown, or (still in a worker's cache) its uses spent
    assert refused <= {"resource_not_found", "quantity_exceeded"}, refused
