"""Pay with points at checkout: a loyalty card of a wallet program (a LOYALTY_PROGRAM with
rewards) as a redeemable of validations, redemptions, session locks and both rollbacks, its
points debited and refunded in the gateway's own Lua calls (VOUCHERIFY-LOYALTY.md §8, §15a
steps 16, 17 and 19), against the real app and a real Redis.

A card is stored as a member's card is (``core.model.Voucher`` in its bucket hash, the
program as ``campaign_id``, the holder as ``customer_id``); its points are credited with
``store.wallet.Wallet``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio as aredis
import voucherify as v
from gateway_fixtures import (
    APP_ID,
    APP_TOKEN,
    DEFS,
    HEADERS,
    InProcess,
    Server,
    body,
    in_process,
    running_server,
    voucher,
)

from core import model as m
from store.defs import put_codes_sync
from store.keys import Keys
from store.wallet import Credit, Transaction, Wallet

CLUB = "camp_club"
CARD = "CLUB-AB12C"
HOLDER = "cust_A"  # alice
DAY_MS = 86_400_000

PROGRAM: dict[str, Any] = {
    "campaigns": [
        {"id": CLUB, "name": "Club", "campaign_type": "LOYALTY_PROGRAM",
         "voucher": {"type": "LOYALTY_CARD", "loyalty_card": {"points": 0}}},
    ],
    "rewards": [
        {"id": "rew_P", "name": "Pay with points",
         "parameters": {"coin": {"exchange_ratio": 1, "points_ratio": "10"}}},
        {"id": "rew_M", "name": "Club mug", "parameters": {"product": {"id": "prod_a"}}, "stock": 10},
    ],
    "reward_assignments": [
        {"id": "rewa_P", "reward_id": "rew_P", "campaign_id": CLUB},
        {"id": "rewa_M", "reward_id": "rew_M", "campaign_id": CLUB, "points": 250},
    ],
}  # fmt: skip


def definitions() -> m.Definitions:
    data = json.loads(json.dumps(DEFS))
    for k, items in PROGRAM.items():
        data.setdefault(k, []).extend(json.loads(json.dumps(items)))
    return m.load_definitions(data)


def pay(
    points: int | None = None, reward: str | None = "rew_P", code: str = CARD
) -> dict[str, Any]:
    rw: dict[str, Any] = {}
    if reward is not None:
        rw["id"] = reward
    if points is not None:
        rw["points"] = points
    return voucher(code, reward=rw)


def alice(*redeemables: dict[str, Any], amount: int = 10000, **kw: Any) -> dict[str, Any]:
    return body(*redeemables, amount=amount, customer="alice", **kw)


# -- cards --------------------------------------------------------------------------------------


def add_card(r: redis.Redis, prefix: str, code: str = CARD, holder: str = HOLDER) -> None:
    """A member's card as the members' code stores it, and the holder's source_id -> id."""
    k = Keys(prefix)
    card = m.Voucher(code=code, campaign_id=CLUB, id="v_" + code.lower(), customer_id=holder)
    put_codes_sync(r, prefix, [card])
    r.set(k.customer_src("alice"), HOLDER)


def wallet_call(redis_url: str, prefix: str, fn: Callable[[Wallet], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        c = aredis.Redis.from_url(redis_url)
        w = Wallet(c, prefix)
        try:
            return await fn(w)
        finally:
            await w.aclose()
            await c.aclose()

    return asyncio.run(go())


def credit(redis_url: str, prefix: str, points: int, now_ms: int, code: str = CARD,
           expires_at_ms: int | None = None) -> None:  # fmt: skip
    res = wallet_call(redis_url, prefix, lambda w: w.apply(
        [Credit(campaign_id=CLUB, code=code, points=points, type="POINTS_ADDITION",
                expires_at_ms=expires_at_ms)], now_ms))  # fmt: skip
    assert res.ok, res


def card(redis_url: str, prefix: str, now_ms: int, code: str = CARD) -> Any:
    return wallet_call(redis_url, prefix, lambda w: w.card(CLUB, code, now_ms))


def transactions(redis_url: str, prefix: str, now_ms: int, code: str = CARD) -> list[Transaction]:
    page = wallet_call(redis_url, prefix, lambda w: w.transactions(
        CLUB, code, now_ms, limit=1000, newest_first=False))  # fmt: skip
    return page.transactions


def assert_consistent(txs: list[Transaction], balance: int) -> None:
    """Running balances add up, and the last one is the card's balance."""
    run = 0
    for t in txs:
        run += t.points
        assert t.balance == run, (t, run)
        assert t.balance >= 0
    assert run == balance


@pytest.fixture
def club(redis_url: str, key_prefix: str) -> Iterator[InProcess]:
    """The real app in process with the club program, alice's card holding 50 points."""
    with in_process(redis_url, key_prefix, definitions()) as g:
        add_card(g.redis, key_prefix)
        credit(redis_url, key_prefix, 50, g.clock.now)
        yield g


def _result(resp: httpx.Response, i: int = 0) -> dict[str, Any]:
    data = resp.json()
    return data["redeemables"][i]


# -- validation -----------------------------------------------------------------------------------


def test_validate_pays_with_points_as_an_order_level_discount(club: InProcess) -> None:
    """§15a step 16: balance 50, 10 points = 1.00: 30 points take 3.00 off 100.00."""
    r = club.validate(alice(pay(30)))
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["valid"] is True
    red = data["redeemables"][0]
    assert red["status"] == "APPLICABLE"
    assert red["result"]["loyalty_card"]["points"] == 30
    assert red["campaign_id"] == CLUB
    o = data["order"]
    assert (o["discount_amount"], o["items_discount_amount"]) == (300, 0)
    assert (o["total_discount_amount"], o["total_amount"]) == (300, 9700)
    assert "stacking_rules" in data

    r = club.validate(alice(pay(60)))
    data = r.json()
    assert data["valid"] is False
    err = data["redeemables"][0]["result"]["error"]
    assert err["key"] == "loyalty_card_points_exceeded", err
    assert data["order"]["total_amount"] == 10000


def test_validate_without_points_spends_what_the_order_needs_up_to_the_balance(
    club: InProcess,
) -> None:
    r = club.validate(alice(pay()))
    assert _result(r)["result"]["loyalty_card"]["points"] == 50
    assert r.json()["order"]["total_amount"] == 10000 - 500
    # an order of 2.34 needs 23.4 points at 10 = 1.00: 24 points (worth 2.40, capped at 2.34)
    r = club.validate(alice(pay(), amount=234))
    assert _result(r)["result"]["loyalty_card"]["points"] == 24  # 23.4 -> 24 points pay 2.34
    assert r.json()["order"]["total_amount"] == 0
    # asking for more than the order needs spends only what it needs
    r = club.validate(alice(pay(45), amount=234))
    assert _result(r)["result"]["loyalty_card"]["points"] == 24


def test_validate_stacks_after_a_discount(club: InProcess) -> None:
    r = club.validate(alice(voucher("GEN5"), pay(30)))
    data = r.json()
    assert [x["status"] for x in data["redeemables"]] == ["APPLICABLE", "APPLICABLE"]
    assert data["order"]["total_amount"] == 10000 - 500 - 300


@pytest.mark.parametrize(
    ("redeemable", "key"),
    [
        (pay(30, reward=None), "missing_reward"),
        (voucher(CARD), "missing_reward"),
        (pay(30, reward="rew_nope"), "not_found"),
        (pay(30, reward="rew_M"), "missing_reward"),  # a MATERIAL reward: the member endpoint's
        (pay(0), "invalid_amount"),
    ],
)
def test_card_refusals(club: InProcess, redeemable: dict[str, Any], key: str) -> None:
    r = club.validate(alice(redeemable))
    err = _result(r)["result"]["error"]
    assert err["key"] == key, err
    before = club.keyspace()
    r = club.redeem(alice(redeemable))
    assert r.status_code == 400 and r.json()["key"] == key, r.text
    club.assert_refused_without_writes(before, key)


def test_a_card_pays_for_its_holder_or_an_unnamed_customer_only(club: InProcess) -> None:
    r = club.validate(body(pay(10), customer="bob"))
    err = _result(r)["result"]["error"]
    assert err["key"] == "customer_rules_violated", err
    assert "another customer" in err["details"] or "another customer" in err["message"]
    r = club.validate(body(pay(10), customer=None))
    assert _result(r)["status"] == "APPLICABLE"
    r = club.validate(
        {"redeemables": [pay(10)], "order": {"amount": 1000}, "customer": {"id": HOLDER}}
    )
    assert _result(r)["status"] == "APPLICABLE"


def test_expired_points_are_not_spendable(club: InProcess, redis_url: str) -> None:
    now = club.clock.now
    credit(redis_url, club.prefix, 40, now, expires_at_ms=now + DAY_MS)  # 90 now, 40 expire
    assert _result(club.validate(alice(pay(90))))["status"] == "APPLICABLE"
    club.clock.advance(2 * 86_400)
    r = club.validate(alice(pay(90)))
    assert _result(r)["result"]["error"]["key"] == "loyalty_card_points_exceeded"
    assert _result(club.validate(alice(pay())))["result"]["loyalty_card"]["points"] == 50
    # the validation normalised the card: the expiry is a transaction now
    txs = transactions(redis_url, club.prefix, club.clock.now)
    assert [t.type for t in txs][-1] == "POINTS_EXPIRATION"
    r = club.redeem(alice(pay(60)))
    assert r.status_code == 400 and r.json()["key"] == "loyalty_card_points_exceeded"
    assert club.redeem(alice(pay(50))).status_code == 200
    assert card(redis_url, club.prefix, club.clock.now).balance == 0


# -- redeem and rollback ---------------------------------------------------------------------------


def test_redeem_debits_the_card_and_rollback_refunds_it(club: InProcess, redis_url: str) -> None:
    """§15a steps 17 and 19 (without the earning, which is the order's)."""
    b = alice(pay(30))
    b["order"]["source_id"] = "o-2"
    r = club.redeem(b)
    assert r.status_code == 200, r.text
    data = r.json()
    child = data["redemptions"][0]
    assert child["amount"] == 30
    assert child["loyalty_card"] == {"points": 30}
    assert child["reward"]["id"] == "rew_P" and child["reward"]["type"] == "COIN"
    assert child["reward"]["parameters"]["coin"] == {"exchange_ratio": 1, "points_ratio": 10}
    assert child["voucher"]["type"] == "LOYALTY_CARD" and child["voucher"]["code"] == CARD
    assert child["voucher"]["loyalty_card"] == {"points": 50, "balance": 20}
    assert child["voucher"]["holder_id"] == HOLDER
    assert data["order"]["status"] == "PAID"
    assert (data["order"]["discount_amount"], data["order"]["total_amount"]) == (300, 9700)
    now = club.clock.now
    assert card(redis_url, club.prefix, now).balance == 20
    txs = transactions(redis_url, club.prefix, now)
    red = txs[-1]
    assert (red.type, red.points, red.balance, red.total) == ("POINTS_REDEMPTION", -30, 20, 50)
    details = json.loads(red.details)
    assert details["redemption"] == {"id": child["id"]}
    assert details["reward"] == {"id": "rew_P", "name": "Pay with points"}
    assert details["order"] == {"id": None, "source_id": "o-2"}
    # the stored record and GET show the same figures (placeholders filled in by the script)
    got = club.client.get(f"/v1/redemptions/{child['id']}", headers=HEADERS).json()
    assert got["voucher"]["loyalty_card"] == {"points": 50, "balance": 20}
    assert b'"loyalty_card":{"points":50,"balance":20}' in club.redis.hget(
        club.prefix + f"rd:{child['id']}", "data"
    )

    club.clock.advance(1)
    rb = club.rollbacks(data["parent_redemption"]["id"])
    assert rb.status_code == 200, rb.text
    out = rb.json()
    one = out["rollbacks"][0]
    assert one["amount"] == -30 and one["loyalty_card"] == {"points": -30}
    assert one["voucher"]["loyalty_card"] == {"points": 50, "balance": 50}
    assert one["reward"]["id"] == "rew_P"
    assert out["order"]["status"] == "CANCELED"
    now = club.clock.now
    assert card(redis_url, club.prefix, now).balance == 50
    txs = transactions(redis_url, club.prefix, now)
    ref = txs[-1]
    assert (ref.type, ref.points, ref.balance) == ("POINTS_REFUND", 30, 50)
    assert ref.related_transaction_id == red.id
    rdet = json.loads(ref.details)
    assert rdet["redemption"] == {"id": child["id"]}
    assert rdet["rollback"] == {"id": out["parent_rollback"]["id"]}
    assert rdet["reward"]["id"] == "rew_P"
    assert_consistent(txs, 50)
    # once
    again = club.rollback(child["id"])
    assert again.status_code == 400 and again.json()["key"] == "already_rolled_back"
    assert card(redis_url, club.prefix, now).balance == 50


def test_single_rollback_of_the_card_child(club: InProcess, redis_url: str) -> None:
    r = club.redeem(alice(voucher("GEN5"), pay(20)))
    assert r.status_code == 200, r.text
    child = [c for c in r.json()["redemptions"] if c["voucher"]["code"] == CARD][0]
    assert card(redis_url, club.prefix, club.clock.now).balance == 30
    rb = club.rollback(child["id"], reason="refund")
    assert rb.status_code == 200, rb.text
    assert rb.json()["amount"] == -20 and rb.json()["voucher"]["loyalty_card"]["balance"] == 50
    assert card(redis_url, club.prefix, club.clock.now).balance == 50


def test_a_short_balance_refuses_the_whole_redemption(club: InProcess) -> None:
    before = club.keyspace()
    r = club.redeem(alice(voucher("GEN5"), pay(51)))
    assert r.status_code == 400 and r.json()["key"] == "loyalty_card_points_exceeded", r.text
    club.assert_refused_without_writes(before, "loyalty_card_points_exceeded")


def test_idempotent_redeem_replays_the_filled_answer(club: InProcess, redis_url: str) -> None:
    first = club.redeem(alice(pay(10)), idem="pwp-1")
    again = club.redeem(alice(pay(10)), idem="pwp-1")
    assert first.status_code == again.status_code == 200
    assert first.content == again.content
    assert first.json()["redemptions"][0]["voucher"]["loyalty_card"]["balance"] == 40
    assert card(redis_url, club.prefix, club.clock.now).balance == 40


def test_refund_into_an_expired_bucket_expires_again(club: InProcess, redis_url: str) -> None:
    now = club.clock.now
    credit(redis_url, club.prefix, 40, now, expires_at_ms=now + DAY_MS)
    r = club.redeem(alice(pay(30)))  # soonest-expiring first: the 40 that expire
    assert r.status_code == 200
    club.clock.advance(2 * 86_400)  # the other 10 of that bucket expire
    rb = club.rollbacks(r.json()["parent_redemption"]["id"])
    assert rb.status_code == 200, rb.text
    now = club.clock.now
    txs = transactions(redis_url, club.prefix, now)
    assert [t.type for t in txs[-3:]] == ["POINTS_EXPIRATION", "POINTS_REFUND", "POINTS_EXPIRATION"]
    assert card(redis_url, club.prefix, now).balance == 50
    assert_consistent(txs, 50)


# -- session locks ----------------------------------------------------------------------------------


def test_a_session_lock_holds_the_points(club: InProcess, redis_url: str) -> None:
    r = club.validate(alice(pay(40), session={"type": "LOCK", "key": "ssn_a"}))
    assert r.json()["valid"] is True and r.json()["session"]["key"] == "ssn_a"
    # another session (or none) sees 10 spendable points
    r = club.validate(alice(pay(20), session={"type": "LOCK", "key": "ssn_b"}))
    assert _result(r)["result"]["error"]["key"] == "loyalty_card_points_exceeded"
    assert _result(club.validate(alice(pay())))["result"]["loyalty_card"]["points"] == 10
    r = club.redeem(alice(pay(20)))
    assert r.status_code == 400 and r.json()["key"] == "loyalty_card_points_exceeded"
    # the session itself still sees its own points
    assert (
        _result(club.validate(alice(pay(40), session={"type": "LOCK", "key": "ssn_a"})))["status"]
        == "APPLICABLE"
    )
    # releasing gives them back
    d = club.client.delete(f"/v1/vouchers/{CARD}/sessions/ssn_a", headers=HEADERS)
    assert d.status_code == 204
    assert _result(club.validate(alice(pay())))["result"]["loyalty_card"]["points"] == 50
    # a redeem consuming its session releases the hold
    club.validate(alice(pay(40), session={"type": "LOCK", "key": "ssn_c"}))
    r = club.redeem(alice(pay(40), session={"type": "LOCK", "key": "ssn_c"}))
    assert r.status_code == 200, r.text
    assert card(redis_url, club.prefix, club.clock.now).balance == 10
    assert _result(club.validate(alice(pay())))["result"]["loyalty_card"]["points"] == 10
    # a lock expires
    club.validate(
        alice(pay(10), session={"type": "LOCK", "key": "ssn_d", "ttl": 1, "ttl_unit": "SECONDS"})
    )
    assert _result(club.validate(alice(pay(10))))["status"] == "INAPPLICABLE"
    club.clock.advance(2)
    assert _result(club.validate(alice(pay(10))))["status"] == "APPLICABLE"


# -- the official SDK and real concurrency against `python -m gateway` (2 workers) -----------------


@pytest.fixture(scope="module")
def srv(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir: Path = tmp_path_factory.mktemp("pwp")
    with running_server(redis_url, workdir, definitions(), PROMOGATE_REDIS_TIMEOUT="10") as s:
        yield s


@pytest.fixture
def rc(srv: Server) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(srv.redis_url)
    yield c
    c.close()


def _now() -> int:
    return int(time.time() * 1000)


@pytest.mark.slow
def test_sdk_validate_redeem_rollback_with_points(srv: Server, rc: redis.Redis) -> None:
    code = "CLUB-SDK01"
    add_card(rc, srv.prefix, code)
    credit(srv.redis_url, srv.prefix, 50, _now(), code=code)
    cfg = v.Configuration(host=srv.url, api_key={"X-App-Id": APP_ID, "X-App-Token": APP_TOKEN})
    req = {
        "customer": {"source_id": "alice"},
        "order": {"source_id": "o-2", "amount": 10000,
                  "items": [{"product_id": "prod_a", "quantity": 10, "price": 1000, "amount": 10000}]},
        "redeemables": [{"object": "voucher", "id": code, "reward": {"id": "rew_P", "points": 30}}],
    }  # fmt: skip
    with v.ApiClient(cfg) as api:
        val = v.ValidationsApi(api).validate_stacked_discounts(
            v.ValidationsValidateRequestBody.from_dict(req)
        )
        assert val.valid is True
        assert val.redeemables[0].result.loyalty_card.points == 30
        assert (val.order.discount_amount, val.order.total_amount) == (300, 9700)
        over = dict(
            req,
            redeemables=[
                {"object": "voucher", "id": code, "reward": {"id": "rew_P", "points": 60}}
            ],
        )
        bad = v.ValidationsApi(api).validate_stacked_discounts(
            v.ValidationsValidateRequestBody.from_dict(over)
        )
        assert bad.valid is False
        assert bad.redeemables[0].result.error.key == "loyalty_card_points_exceeded"

        red = v.RedemptionsApi(api).redeem_stacked_discounts(
            v.RedemptionsRedeemRequestBody.from_dict(req)
        )
        child = red.redemptions[0]
        assert child.amount == 30 and child.loyalty_card.points == 30
        assert child.reward.id == "rew_P" and child.reward.type == "COIN"
        assert child.reward.parameters.coin.points_ratio == 10
        assert child.voucher.loyalty_card.balance == 20
        assert red.order.status == "PAID" and red.order.discount_amount == 300
        assert card(srv.redis_url, srv.prefix, _now(), code).balance == 20
        assert transactions(srv.redis_url, srv.prefix, _now(), code)[-1].type == "POINTS_REDEMPTION"

        rbs = v.RedemptionsApi(api).rollback_stacked_redemptions(red.parent_redemption.id)
        assert rbs.rollbacks[0].amount == -30 and rbs.rollbacks[0].loyalty_card.points == -30
        assert rbs.order.status == "CANCELED"
        assert card(srv.redis_url, srv.prefix, _now(), code).balance == 50

        # single rollback of a child through the SDK
        red = v.RedemptionsApi(api).redeem_stacked_discounts(
            v.RedemptionsRedeemRequestBody.from_dict(req)
        )
        rb = v.RedemptionsApi(api).rollback_redemption(red.redemptions[0].id, reason="refund")
        assert rb.amount == -30 and rb.loyalty_card.points == -30
        assert rb.voucher.loyalty_card.balance == 50
        txs = transactions(srv.redis_url, srv.prefix, _now(), code)
    assert [t.type for t in txs][-4:] == ["POINTS_REDEMPTION", "POINTS_REFUND"] * 2
    assert_consistent(txs, 50)


async def _fire(srv: Server, calls: list[tuple[str, Any]]) -> list[httpx.Response]:
    """Every ``(path, json)`` at once, one connection each, all opened before any is sent."""
    clients = [httpx.AsyncClient(base_url=srv.url, timeout=60.0, verify=False) for _ in calls]
    go = asyncio.Event()
    warm = [0]

    async def one(c: httpx.AsyncClient, path: str, js: Any) -> httpx.Response:
        assert (await c.get("/health")).status_code == 200
        warm[0] += 1
        if warm[0] == len(calls):
            go.set()
        await go.wait()
        return await c.post(path, json=js, headers=HEADERS)

    try:
        return list(
            await asyncio.gather(*[one(c, p, j) for c, (p, j) in zip(clients, calls, strict=True)])
        )
    finally:
        await asyncio.gather(*[c.aclose() for c in clients])


@pytest.mark.slow
def test_40_concurrent_redemptions_of_100_points_from_1000(srv: Server, rc: redis.Redis) -> None:
    code = "CLUB-RACE1"
    add_card(rc, srv.prefix, code)
    credit(srv.redis_url, srv.prefix, 1000, _now(), code=code)
    resps = asyncio.run(
        _fire(srv, [("/v1/redemptions", alice(pay(100, code=code))) for _ in range(40)])
    )
    got: dict[Any, int] = {}
    for r in resps:
        k = 200 if r.status_code == 200 else (r.status_code, r.json().get("key"))
        got[k] = got.get(k, 0) + 1
    assert got == {200: 10, (400, "loyalty_card_points_exceeded"): 30}, (
        got,
        [r.text[:200] for r in resps][:3],
    )
    balances = sorted(r.json()["redemptions"][0]["voucher"]["loyalty_card"]["balance"] for r in resps
                      if r.status_code == 200)  # fmt: skip
    assert balances == list(range(0, 1000, 100))  # each answer shows the balance it left
    assert card(srv.redis_url, srv.prefix, _now(), code).balance == 0
    txs = transactions(srv.redis_url, srv.prefix, _now(), code)
    assert [t.type for t in txs].count("POINTS_REDEMPTION") == 10
    assert_consistent(txs, 0)


@pytest.mark.slow
def test_rollbacks_racing_redemptions_stay_consistent(srv: Server, rc: redis.Redis) -> None:
    code = "CLUB-RACE2"
    add_card(rc, srv.prefix, code)
    credit(srv.redis_url, srv.prefix, 1000, _now(), code=code)
    first = asyncio.run(
        _fire(srv, [("/v1/redemptions", alice(pay(100, code=code))) for _ in range(6)])
    )
    assert all(r.status_code == 200 for r in first)
    parents = [r.json()["parent_redemption"]["id"] for r in first]
    calls = [(f"/v1/redemptions/{p}/rollbacks", None) for p in parents]
    calls += [(f"/v1/redemptions/{parents[0]}/rollbacks", None)] * 4  # the same one, again
    calls += [("/v1/redemptions", alice(pay(100, code=code))) for _ in range(12)]
    resps = asyncio.run(_fire(srv, calls))
    # each parent rolls back exactly once: the five calls on parents[0] race each other (any of
    # them may arrive first), so one of them succeeds and four are already_rolled_back
    assert all(r.status_code == 200 for r in resps[1:6])
    same = [resps[0], *resps[6:10]]
    assert sum(r.status_code == 200 for r in same) == 1
    assert all(r.json()["key"] == "already_rolled_back" for r in same if r.status_code != 200)
    won = [r for r in resps[10:] if r.status_code == 200]
    lost = [r for r in resps[10:] if r.status_code != 200]
    assert all(r.json()["key"] == "loyalty_card_points_exceeded" for r in lost)
    # 400 were left, 600 came back while the 12 raced: at least 4, at most 10 got through
    assert 4 <= len(won) <= 10
    balance = 1000 - 100 * len(won)
    assert card(srv.redis_url, srv.prefix, _now(), code).balance == balance
    txs = transactions(srv.redis_url, srv.prefix, _now(), code)
    types = [t.type for t in txs]
    assert types.count("POINTS_REDEMPTION") == 6 + len(won)
    assert types.count("POINTS_REFUND") == 6
    refunded = [t.related_transaction_id for t in txs if t.type == "POINTS_REFUND"]
    assert len(set(refunded)) == 6
    assert_consistent(txs, balance)
