"""Loyalty at the gateway, in process on a real Redis: orders that earn (once), cancellations
that give back, events, member reads, rewards bought with points (stock, price and code in one
call). The SDK flow of VOUCHERIFY-LOYALTY.md §15a is test_loyalty_sdk_flow.py; races across
workers are in test_gateway_loyalty_races.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import orjson
import pytest
from gateway_fixtures import HEADERS, InProcess, in_process
from stacks import functions_called

from core import model as m
from store.keys import Keys

VAL_150 = {"id": "val_150", "name": "order >= 150.00", "context_type": "earning_rule.order.paid",
           "rules": {"1": {"name": "order.amount", "conditions": {"$more_than_or_equal": [15000]}},
                     "logic": "1"}}  # fmt: skip

PROPORTIONAL = {"type": "PROPORTIONAL", "calculation_type": "ORDER_AMOUNT",
                "order": {"amount": {"every": 100, "points": 1}}}  # fmt: skip

DEFS: dict[str, Any] = {
    "validation_rules": [VAL_150],
    "products": [{"id": "prod_mug", "source_id": "mug", "name": "Club mug", "price": 1500}],
    "campaigns": [
        {"id": "camp_L", "name": "Club", "campaign_type": "LOYALTY_PROGRAM", "auto_join": True,
         "join_once": True,
         "voucher": {"type": "LOYALTY_CARD", "loyalty_card": {"points": 0},
                     "code_config": {"pattern": "CLUB-#####"}}},
        {"id": "camp_D", "name": "5 off reward", "campaign_type": "DISCOUNT_COUPONS",
         "voucher": {"type": "DISCOUNT_VOUCHER",
                     "discount": {"type": "AMOUNT", "amount_off": 500, "effect": "APPLY_TO_ORDER"},
                     "code_config": {"pattern": "FIVE-#####"}}},
    ],
    "earning_rules": [
        {"id": "ern_1", "campaign_id": "camp_L", "event": "order.paid", "loyalty": PROPORTIONAL,
         "source": {"banner": "1 pt / 1.00"}},
        {"id": "ern_2", "campaign_id": "camp_L", "event": "order.paid", "loyalty": PROPORTIONAL,
         "validation_rule_id": "val_150", "source": {"banner": "+1 pt / 1.00 from 150.00"}},
        {"id": "ern_bday", "campaign_id": "camp_L", "event": "birthday",
         "loyalty": {"type": "FIXED", "points": 50}},
    ],
    "rewards": [
        {"id": "rew_M", "name": "Club mug", "parameters": {"product": {"id": "prod_mug"}}, "stock": 2},
        {"id": "rew_C", "name": "5.00 coupon", "parameters": {"campaign": {"id": "camp_D"}}},
    ],
    "reward_assignments": [
        {"id": "rewa_M", "reward_id": "rew_M", "campaign_id": "camp_L",
         "parameters": {"loyalty": {"points": 250}}},
        {"id": "rewa_C", "reward_id": "rew_C", "campaign_id": "camp_L",
         "parameters": {"loyalty": {"points": 100}}},
    ],
}  # fmt: skip


@pytest.fixture
def lgw(redis_url: str, key_prefix: str) -> Iterator[InProcess]:
    with in_process(redis_url, key_prefix, msgspec.convert(DEFS, m.Definitions)) as g:
        yield g


def _get(g: InProcess, path: str, **params: Any) -> Any:
    r = g.client.get(path, headers=HEADERS, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _order(g: InProcess, source_id: str, amount: int, status: str = "PAID", customer: str = "alice",
           method: str = "post") -> dict[str, Any]:  # fmt: skip
    body = {"source_id": source_id, "status": status, "amount": amount,
            "customer": {"source_id": customer}}  # fmt: skip
    if method == "post":
        r = g.post("/v1/orders", body)
    else:
        r = g.client.put(f"/v1/orders/{source_id}", json={"status": status}, headers=HEADERS)
    assert r.status_code == 200, r.text
    return r.json()


def _card_of(g: InProcess, customer: str = "alice") -> str:
    cid = g.redis.get(g.prefix + "customer:src:" + customer).decode()
    return g.redis.get(g.prefix + "{c:camp_L}:lc:holder:" + cid).decode()


def test_a_paid_order_auto_joins_and_earns_every_matching_rule(lgw: InProcess) -> None:
    o = _order(lgw, "o-1", 20000)
    assert o["status"] == "PAID" and o["object"] == "order" and o["id"].startswith("ord_")
    code = _card_of(lgw)
    assert code.startswith("CLUB-") and len(code) == 10
    card = _get(lgw, f"/v1/loyalties/members/{code}")
    assert card["loyalty_card"]["points"] == 400 and card["loyalty_card"]["balance"] == 400
    assert card["type"] == "LOYALTY_CARD" and card["holder_id"].startswith("cust_")
    tx = _get(lgw, f"/v1/loyalties/members/{code}/transactions")["data"]
    assert [(t["type"], t["details"]["balance"]["points"]) for t in tx] == [
        ("POINTS_ACCRUAL", 200), ("POINTS_ACCRUAL", 200)]  # fmt: skip
    assert {t["details"]["earning_rule"]["id"] for t in tx} == {"ern_1", "ern_2"}
    assert (
        tx[0]["details"]["balance"]["balance"] == 400
        and tx[1]["details"]["balance"]["balance"] == 200
    )
    # below 150.00 only ern_1 matches
    _order(lgw, "o-2", 10000)
    assert _get(lgw, f"/v1/loyalties/members/{code}")["loyalty_card"]["balance"] == 500


def test_an_order_earns_once_whatever_the_retries_and_paths(lgw: InProcess) -> None:
    _order(lgw, "o-1", 20000, status="CREATED")
    code = None
    for _ in range(3):
        _order(lgw, "o-1", 20000, method="put")
        _order(lgw, "o-1", 20000)
        code = code or _card_of(lgw)
    assert _get(lgw, f"/v1/loyalties/members/{code}")["loyalty_card"]["points"] == 400
    got = _get(lgw, "/v1/orders/o-1")
    assert got["status"] == "PAID" and got["amount"] == 20000 and got["source_id"] == "o-1"
    metrics = lgw.redis.hgetall(lgw.prefix + "custmetrics:" + got["customer_id"])
    assert int(metrics[b"count"]) == 1 and int(metrics[b"amount"]) == 20000


def test_a_cancelled_paid_order_gives_back_what_it_earned_once(
    lgw: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    _order(lgw, "o-1", 20000)
    code = _card_of(lgw)
    _order(lgw, "o-2", 10000)
    with functions_called(monkeypatch) as called:
        for _ in range(2):
            _order(lgw, "o-1", 20000, status="CANCELED", method="put")
    # a PUT naming no customer reads the stored order once: its customer only matters to earn
    assert called.count("loyalty_read") == 2
    got = _get(lgw, "/v1/orders/o-1")
    assert got["status"] == "CANCELED" and got["customer_id"]
    metrics = lgw.redis.hgetall(lgw.prefix + "custmetrics:" + got["customer_id"])
    assert int(metrics[b"count"]) == 1 and int(metrics[b"amount"]) == 10000
    card = _get(lgw, f"/v1/loyalties/members/{code}")["loyalty_card"]
    assert card["balance"] == 100 and card["points"] == 100
    types = [t["type"] for t in _get(lgw, f"/v1/loyalties/members/{code}/transactions")["data"]]
    assert types == [
        "POINTS_REMOVAL",
        "POINTS_REMOVAL",
        "POINTS_ACCRUAL",
        "POINTS_ACCRUAL",
        "POINTS_ACCRUAL",
    ]


def test_an_event_earns_on_its_rules_once_per_idempotency_key(lgw: InProcess) -> None:
    _order(lgw, "o-1", 100)
    code = _card_of(lgw)
    body = {"event": "birthday", "customer": {"source_id": "alice"}, "metadata": {"age": 30}}
    for _ in range(2):
        r = lgw.post("/v1/events", body, headers={"Idempotency-Key": "bday-2026"})
        assert r.status_code == 200, r.text
        assert r.json()["customer"]["source_id"] == "alice" and r.json()["type"] == "birthday"
    assert _get(lgw, f"/v1/loyalties/members/{code}")["loyalty_card"]["balance"] == 51
    r = lgw.post(
        "/v1/events", {**body, "metadata": {"age": 31}}, headers={"Idempotency-Key": "bday-2026"}
    )
    assert r.status_code == 409
    assert _get(lgw, f"/v1/loyalties/members/{code}")["loyalty_card"]["balance"] == 51


def test_buying_rewards_takes_points_stock_and_issues_the_code(lgw: InProcess) -> None:
    _order(lgw, "o-1", 60000)  # 1,200 points
    code = _card_of(lgw)
    rewards = _get(lgw, f"/v1/loyalties/members/{code}/rewards", affordable_only="true")["data"]
    assert sorted((x["reward"]["id"], x["assignment"]["parameters"]["loyalty"]["points"]) for x in rewards) == [
        ("rew_C", 100), ("rew_M", 250)]  # fmt: skip
    r = lgw.post(f"/v1/loyalties/members/{code}/redemption", {"reward": {"id": "rew_C"}})
    assert r.status_code == 200, r.text
    red = r.json()
    coupon = red["reward"]["voucher"]["code"]
    assert (
        coupon.startswith("FIVE-")
        and red["amount"] == 100
        and red["voucher"]["loyalty_card"]["balance"] == 1100
    )
    # the issued coupon works at checkout
    v = lgw.validate({"customer": {"source_id": "alice"}, "order": {"amount": 10000},
                      "redeemables": [{"object": "voucher", "id": coupon}]})  # fmt: skip
    assert v.json()["valid"] is True and v.json()["order"]["discount_amount"] == 500
    for _ in range(2):
        r = lgw.post(f"/v1/loyalties/members/{code}/redemption", {"reward": {"id": "rew_M"}})
        assert r.status_code == 200, r.text
        assert r.json()["reward"]["type"] == "MATERIAL"
    before = lgw.keyspace()
    r = lgw.post(f"/v1/loyalties/members/{code}/redemption", {"reward": {"id": "rew_M"}})
    assert r.status_code == 400 and r.json()["key"] == "quantity_exceeded"
    assert lgw.keyspace() == before
    assert _get(lgw, f"/v1/loyalties/members/{code}")["loyalty_card"]["balance"] == 600
    for _ in range(6):
        assert (
            lgw.post(
                f"/v1/loyalties/members/{code}/redemption", {"reward": {"id": "rew_C"}}
            ).status_code
            == 200
        )
    r = lgw.post(f"/v1/loyalties/members/{code}/redemption", {"reward": {"id": "rew_C"}})
    assert r.status_code == 400 and r.json()["key"] == "loyalty_card_points_exceeded"
    assert _get(lgw, f"/v1/loyalties/members/{code}")["loyalty_card"]["balance"] == 0


def test_unknown_cards_and_rewards_are_404_and_change_nothing(lgw: InProcess) -> None:
    _order(lgw, "o-1", 40000)
    code = _card_of(lgw)
    before = lgw.keyspace()
    assert lgw.client.get("/v1/loyalties/members/NOPE", headers=HEADERS).status_code == 404
    assert (
        lgw.client.get(f"/v1/loyalties/camp_D/members/{code}", headers=HEADERS).status_code == 404
    )
    r = lgw.post(f"/v1/loyalties/members/{code}/redemption", {"reward": {"id": "rew_nope"}})
    assert r.status_code == 404 and r.json()["key"] == "not_found"
    r = lgw.post(f"/v1/loyalties/members/{code}/redemption", {"reward": {}})
    assert r.status_code == 400 and r.json()["key"] == "missing_reward"
    r = lgw.post("/v1/orders", {"source_id": "o-9", "status": "PAID", "amount": -5})
    assert r.status_code == 400
    r = lgw.post("/v1/events", {"event": "", "customer": {"source_id": "alice"}})
    assert r.status_code == 400
    assert lgw.keyspace() == before


def test_the_customer_wallet_lists_cards_and_codes_with_live_balances(lgw: InProcess) -> None:
    import voucherify as v

    _order(lgw, "o-1", 60000)
    code = _card_of(lgw)
    coupon = lgw.post(
        f"/v1/loyalties/members/{code}/redemption", {"reward": {"id": "rew_C"}}
    ).json()
    body = _get(lgw, "/v1/customers/alice/redeemables")
    parsed = v.CustomersRedeemablesListResponseBody.from_dict(body)  # the SDK's strict model
    assert parsed.total == 2 and not parsed.has_more
    rows = {d.voucher_type: d for d in parsed.data}
    assert rows["LOYALTY_CARD"].redeemable.voucher.code == code
    assert rows["LOYALTY_CARD"].redeemable.voucher.loyalty_card.balance == 1100
    assert (
        rows["LOYALTY_CARD"].campaign_type == "LOYALTY_PROGRAM"
        and rows["LOYALTY_CARD"].holder_role == "OWNER"
    )
    assert rows["DISCOUNT_VOUCHER"].redeemable.voucher.code == coupon["reward"]["voucher"]["code"]
    first = _get(lgw, "/v1/customers/alice/redeemables", limit=1)
    assert first["has_more"] is True and len(first["data"]) == 1
    rest = _get(
        lgw,
        "/v1/customers/alice/redeemables",
        limit=1,
        starting_after_id=first["more_starting_after"],
    )
    assert [d["redeemable"]["voucher"]["code"] for d in first["data"] + rest["data"]] == sorted(
        [code, coupon["reward"]["voucher"]["code"]])  # fmt: skip
    assert lgw.client.get("/v1/customers/nobody/redeemables", headers=HEADERS).status_code == 404


def test_answers_parse_through_the_sdk_models(lgw: InProcess) -> None:
    import warnings

    import voucherify as v

    o = _order(lgw, "o-1", 60000)
    v.OrdersCreateResponseBody.from_dict(o)
    code = _card_of(lgw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        card = v.LoyaltiesMembersGetResponseBody.from_dict(
            _get(lgw, f"/v1/loyalties/members/{code}")
        )
        assert card.loyalty_card.balance == 1200
        tx = v.LoyaltiesMembersTransactionsListResponseBody.from_dict(
            _get(lgw, f"/v1/loyalties/members/{code}/transactions"))  # fmt: skip
        assert [t.type for t in tx.data] == ["POINTS_ACCRUAL", "POINTS_ACCRUAL"]
        red = lgw.post(
            f"/v1/loyalties/members/{code}/redemption", {"reward": {"id": "rew_M"}}
        ).json()
        parsed = v.LoyaltiesMembersRedemptionRedeemResponseBody.from_dict(red)
        assert parsed.reward.type == "MATERIAL" and parsed.voucher.loyalty_card.balance == 950
        rw = v.LoyaltiesMembersRewardsListResponseBody.from_dict(
            _get(lgw, f"/v1/loyalties/members/{code}/rewards")
        )
        assert {x.reward.id for x in rw.data} == {"rew_M", "rew_C"}
        ev = lgw.post(
            "/v1/events", {"event": "birthday", "customer": {"source_id": "alice"}}
        ).json()
        v.EventsCreateResponseBody.from_dict(ev)


TIERED = {
    **DEFS,
    "earning_rules": [
        *DEFS["earning_rules"],
        {"id": "ern_join", "campaign_id": "camp_L", "event": "customer.loyalty.tier.joined",
         "loyalty_tier": {"id": "__ANY__"}, "loyalty": {"type": "FIXED", "points": 25}},
        {"id": "ern_gold", "campaign_id": "camp_L", "event": "customer.loyalty.tier.upgraded",
         "loyalty_tier": {"id": "ltr_gold"}, "loyalty": {"type": "FIXED", "points": 50}},
    ],
    "loyalty_tiers": [
        {"id": "ltr_silver", "campaign_id": "camp_L", "name": "Silver", "points": {"from": 100, "to": 499}},
        {"id": "ltr_gold", "campaign_id": "camp_L", "name": "Gold", "points": {"from": 500},
         "earning_rules": {"ern_1": {"type": "MULTIPLY", "multiplier": 2}},
         "rewards": {"rewa_M": {"type": "CUSTOM", "points": 200}}},
    ],
}  # fmt: skip


def test_tiers_multiply_earning_price_rewards_and_fire_tier_events(
    redis_url: str, key_prefix: str
) -> None:
    with in_process(redis_url, key_prefix, msgspec.convert(TIERED, m.Definitions)) as g:
        _order(g, "o-1", 20000)  # 400 -> Silver: joined +25
        code = _card_of(g)
        assert _get(g, f"/v1/loyalties/members/{code}")["loyalty_card"]["balance"] == 425
        tiers = _get(g, f"/v1/loyalties/members/{code}/tiers")["data"]
        assert [(t["id"], t["points_to_next_tier"]) for t in tiers] == [("ltr_silver", 75)]
        _order(g, "o-2", 10000)  # +100 -> 525: Gold, upgraded +50
        assert _get(g, f"/v1/loyalties/members/{code}")["loyalty_card"]["balance"] == 575
        _order(g, "o-3", 10000)  # Gold: ern_1 x2 = 200
        assert _get(g, f"/v1/loyalties/members/{code}")["loyalty_card"]["balance"] == 775
        tx = _get(g, f"/v1/loyalties/members/{code}/transactions", limit=100)["data"]
        rules = [t["details"]["earning_rule"]["id"] for t in reversed(tx)]
        assert rules == ["ern_1", "ern_2", "ern_join", "ern_1", "ern_gold", "ern_1"]
        rewards = {x["reward"]["id"]: x["assignment"]["parameters"]["loyalty"]["points"]
                   for x in _get(g, f"/v1/loyalties/members/{code}/rewards")["data"]}  # fmt: skip
        assert rewards == {"rew_M": 200, "rew_C": 100}  # the Gold price of the mug
        red = g.post(f"/v1/loyalties/members/{code}/redemption", {"reward": {"id": "rew_M"}}).json()
        assert red["amount"] == 200 and red["voucher"]["loyalty_card"]["balance"] == 575


EXPIRING = {
    **DEFS,
    "campaigns": [
        {**DEFS["campaigns"][0],
         "voucher": {**DEFS["campaigns"][0]["voucher"],
                     "loyalty_card": {"points": 0, "expiration_rules": {"period_type": "MONTH", "period_value": 1}}}},
        DEFS["campaigns"][1],
    ],
    "earning_rules": [
        {"id": "ern_1", "campaign_id": "camp_L", "event": "order.paid", "loyalty": PROPORTIONAL},
        {"id": "ern_wait", "campaign_id": "camp_L", "event": "order.paid",
         "loyalty": {"type": "FIXED", "points": 40}, "pending_points": {"period_type": "DAY", "period_value": 7}},
    ],
}  # fmt: skip


def test_pending_points_activate_and_points_expire_on_time_without_a_job(
    redis_url: str, key_prefix: str
) -> None:
    import datetime as dt

    with in_process(redis_url, key_prefix, msgspec.convert(EXPIRING, m.Definitions)) as g:
        g.clock.now = int(dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC).timestamp() * 1000)
        _order(g, "o-1", 10000)  # 100 now, 40 pending for 7 days
        code = _card_of(g)
        card = _get(g, f"/v1/loyalties/members/{code}")["loyalty_card"]
        assert (card["balance"], card["pending_points"]) == (100, 40)
        assert (
            card["next_expiration_date"] == "2026-04-10" and card["next_expiration_points"] == 100
        )
        pend = _get(g, f"/v1/loyalties/members/{code}/pending-points")["data"]
        assert [(p["points"], p["activates_at"]) for p in pend] == [(40, "2026-03-17")]
        g.clock.advance(8 * 86400)  # the pending points have activated, no job ran
        card = _get(g, f"/v1/loyalties/members/{code}")["loyalty_card"]
        assert (card["balance"], card["pending_points"]) == (140, 0)
        g.clock.advance(30 * 86400)  # 2026-04-15: the first 100 expired on 2026-04-10
        card = _get(g, f"/v1/loyalties/members/{code}")["loyalty_card"]
        assert (card["balance"], card["expired_points"]) == (40, 100)
        assert (
            card["next_expiration_date"] == "2026-04-17"
        )  # activated 03-17: a month from activation
        types = [t["type"] for t in _get(g, f"/v1/loyalties/members/{code}/transactions")["data"]]
        assert types == ["POINTS_EXPIRATION", "PENDING_POINTS_ACTIVATION", "POINTS_ACCRUAL"]
        exp = _get(g, f"/v1/loyalties/camp_L/members/{code}/points-expiration")["data"]
        assert [(e["bucket"]["total_points"], e["expires_at"]) for e in exp] == [(40, "2026-04-17")]
        g.clock.advance(10 * 86400)
        assert _get(g, f"/v1/loyalties/members/{code}")["loyalty_card"]["balance"] == 0


def test_member_activity_follows_the_cards_transactions(lgw: InProcess) -> None:
    import warnings

    import voucherify as v

    _order(lgw, "o-1", 60000)
    code = _card_of(lgw)
    lgw.post(f"/v1/loyalties/members/{code}/redemption", {"reward": {"id": "rew_M"}})
    body = _get(lgw, f"/v1/loyalties/members/{code}/activity")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        parsed = v.LoyaltiesMemberActivityListResponseBody.from_dict(body)  # the SDK's closed enum
    assert [a.type for a in parsed.data] == ["customer.reward_redemptions.created",
                                             "customer.voucher.loyalty_card.points_added",
                                             "customer.voucher.loyalty_card.points_added"]  # fmt: skip
    assert parsed.data[0].data.data.balance.balance == 950
    page = _get(lgw, f"/v1/loyalties/camp_L/members/{code}/activity", limit=1)
    assert page["has_more"] is True
    nxt = _get(
        lgw,
        f"/v1/loyalties/members/{code}/activity",
        limit=5,
        starting_after_id=page["more_starting_after"],
    )
    assert [a["id"] for a in page["data"] + nxt["data"]] == [a.id for a in parsed.data]


def test_a_reward_redemption_rolls_back_points_and_stock(lgw: InProcess) -> None:
    import voucherify as v

    _order(lgw, "o-1", 60000)  # 1,200
    code = _card_of(lgw)
    red = lgw.post(f"/v1/loyalties/members/{code}/redemption", {"reward": {"id": "rew_M"}}).json()
    assert red["voucher"]["loyalty_card"]["balance"] == 950
    assert int(lgw.redis.get(lgw.prefix + "{rw:rew_M}:redeemed")) == 1
    r = lgw.rollback(red["id"])
    assert r.status_code == 200, r.text
    rb = v.RedemptionRollback.from_dict(r.json())
    assert rb.amount == -250 and rb.loyalty_card.points == -250 and rb.status == "SUCCEEDED"
    assert _get(lgw, f"/v1/loyalties/members/{code}")["loyalty_card"]["balance"] == 1200
    assert int(lgw.redis.get(lgw.prefix + "{rw:rew_M}:redeemed")) == 0
    types = [t["type"] for t in _get(lgw, f"/v1/loyalties/members/{code}/transactions")["data"]]
    assert types[:2] == ["POINTS_REFUND", "POINTS_REDEMPTION"]
    again = lgw.rollback(red["id"])
    assert again.status_code == 400 and again.json()["key"] == "already_rolled_back"
    assert _get(lgw, f"/v1/loyalties/members/{code}")["loyalty_card"]["balance"] == 1200


def test_a_reward_redemption_cut_short_after_its_wallet_call_can_still_be_rolled_back(
    lgw: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The redemption record the rollback reads is written IN the wallet call that spends the
    points (naming the debit it makes), not after it: a worker that dies (here: the request cut
    short as soon as the call answers) right after it leaves a redemption that rolls back."""
    from store.autopipe import StoreUnavailable
    from store.loyalty import Loyalty

    _order(lgw, "o-1", 60000)  # 1,200
    code = _card_of(lgw)
    real = Loyalty._apply

    async def cut(self: Loyalty, *args: Any, **kw: Any) -> Any:
        await real(self, *args, **kw)
        raise StoreUnavailable("the worker died here")

    monkeypatch.setattr(Loyalty, "_apply", cut)
    r = lgw.post(f"/v1/loyalties/members/{code}/redemption", {"reward": {"id": "rew_M"}})
    assert r.status_code == 503, r.text
    monkeypatch.setattr(Loyalty, "_apply", real)
    assert _get(lgw, f"/v1/loyalties/members/{code}")["loyalty_card"]["balance"] == 950  # spent
    (key,) = [k.decode() for k in lgw.redis.scan_iter(lgw.prefix + "rd:*")]
    rec = {k.decode(): val.decode() for k, val in lgw.redis.hgetall(key).items()}
    debit = [t for t in _get(lgw, f"/v1/loyalties/members/{code}/transactions")["data"]
             if t["type"] == "POINTS_REDEMPTION"]  # fmt: skip
    assert orjson.loads(rec["wallet"])[0]["t"] == debit[0]["id"]
    data = orjson.loads(rec["data"])
    assert data["transaction_id"] == debit[0]["id"] and data["voucher"]["loyalty_card"]["balance"] == 950
    rb = lgw.rollback(rec["id"])
    assert rb.status_code == 200, rb.text
    assert _get(lgw, f"/v1/loyalties/members/{code}")["loyalty_card"]["balance"] == 1200
    assert int(lgw.redis.get(lgw.prefix + "{rw:rew_M}:redeemed")) == 0


def test_a_reward_redemption_record_holds_the_exact_figures_written_once_when_foreseen(
    lgw: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record's ``data`` (what a rollback answers with) is the answer: written once, in the
    wallet call, when the figures foreseen from the card read before it hold; written again
    with the exact ones when they do not (here: points credited to the card in between)."""
    from store.autopipe import AutoPipeline
    from store.loyalty import Loyalty
    from store.wallet import Credit

    _order(lgw, "o-1", 60000)  # 1,200
    code = _card_of(lgw)
    real_cmd, real_apply = AutoPipeline.execute_command, Loyalty._apply
    after: list[Any] = []  # the commands sent after the wallet call

    async def spy(self: AutoPipeline, *args: Any, **kw: Any) -> Any:
        after.append(args)
        return await real_cmd(self, *args, **kw)

    async def sneak(self: Loyalty, ops: Any, now_ms: int, **kw: Any) -> Any:
        if sneaking:  # another call changes the card between its read and the wallet call
            credit = Credit(campaign_id="camp_L", code=code, points=7, type="POINTS_ADDITION")
            assert (await self.wallet.apply([credit], now_ms)).ok
        res = await real_apply(self, ops, now_ms, **kw)
        monkeypatch.setattr(AutoPipeline, "execute_command", spy)
        return res

    monkeypatch.setattr(Loyalty, "_apply", sneak)
    for sneaking, balance in ((False, 950), (True, 707)):
        after.clear()
        r = lgw.post(f"/v1/loyalties/members/{code}/redemption", {"reward": {"id": "rew_M"}})
        monkeypatch.setattr(AutoPipeline, "execute_command", real_cmd)
        assert r.status_code == 200, r.text
        red = r.json()
        assert red["voucher"]["loyalty_card"]["balance"] == balance
        rec = lgw.redis.hgetall(lgw.prefix + "rd:" + red["id"])
        assert orjson.loads(rec[b"data"]) == red
        assert [a[:3] for a in after if a[0] == "HSET"] == (
            [("HSET", lgw.prefix + "rd:" + red["id"], "data")] if sneaking else []
        )


#: DEFS and a reward crediting points on another programme's card (camp_X), whose members can
#: spend them on the coupon reward there
REWARD_DEFS: dict[str, Any] = {
    **DEFS,
    "campaigns": [
        *DEFS["campaigns"],
        {"id": "camp_X", "name": "Partner points", "campaign_type": "LOYALTY_PROGRAM",
         "voucher": {"type": "LOYALTY_CARD", "loyalty_card": {"points": 0},
                     "code_config": {"pattern": "PART-#####"}}},
    ],
    "rewards": [
        *DEFS["rewards"],
        {"id": "rew_P", "name": "300 partner points", "parameters": {"campaign": {"id": "camp_X", "balance": 300}}},
    ],
    "reward_assignments": [
        *DEFS["reward_assignments"],
        {"id": "rewa_P", "reward_id": "rew_P", "campaign_id": "camp_L", "parameters": {"loyalty": {"points": 100}}},
        {"id": "rewa_CX", "reward_id": "rew_C", "campaign_id": "camp_X", "parameters": {"loyalty": {"points": 200}}},
    ],
}  # fmt: skip


def _coupon_checkout(g: InProcess, coupon: str) -> httpx.Response:
    return g.redeem({"customer": {"source_id": "alice"}, "order": {"amount": 10000},
                     "redeemables": [{"object": "voucher", "id": coupon}]})  # fmt: skip


def test_rolling_back_a_coupon_reward_revokes_the_unused_coupon(lgw: InProcess) -> None:
    """Rolling back a reward takes back what it gave: the coupon it issued is revoked (its
    record deleted, its holder's wallet without it, the gateways told) and its use counter set
    to USES_MAX, so that even a gateway still holding it in its cache cannot redeem it."""
    _order(lgw, "o-1", 60000)  # 1,200
    code = _card_of(lgw)
    red = lgw.post(f"/v1/loyalties/members/{code}/redemption", {"reward": {"id": "rew_C"}}).json()
    coupon = red["reward"]["voucher"]["code"]
    cust = red["customer_id"]
    assert lgw.validate({"customer": {"source_id": "alice"}, "order": {"amount": 10000},
                         "redeemables": [{"object": "voucher", "id": coupon}]}).json()["valid"] is True  # fmt: skip
    assert coupon.encode() in lgw.redis.smembers(lgw.prefix + "custcodes:" + cust)
    bucket = next(b for b in Keys(lgw.prefix).code_buckets(coupon) if lgw.redis.hexists(b, coupon))
    record = lgw.redis.hget(bucket, coupon)
    r = lgw.rollback(red["id"])
    assert r.status_code == 200, r.text
    assert _get(lgw, f"/v1/loyalties/members/{code}")["loyalty_card"]["balance"] == 1200
    assert not lgw.redis.hexists(bucket, coupon)
    assert coupon.encode() not in lgw.redis.smembers(lgw.prefix + "custcodes:" + cust)
    assert coupon.encode() not in lgw.redis.lrange(lgw.prefix + "campcodes:camp_D", 0, -1)
    assert lgw.counter("{c:camp_D}:v:" + coupon + ":uses") == m.USES_MAX
    # a gateway that still had the coupon (in its cache, or here: its record put back) is refused
    # by the redemption's own count
    lgw.redis.hset(bucket, coupon, record)
    before = lgw.keyspace()
    bad = _coupon_checkout(lgw, coupon)
    assert bad.status_code == 400 and bad.json()["key"] == "quantity_exceeded", bad.text
    after = lgw.keyspace()
    assert {k: v for k, v in after.items() if "ledger" not in k} == {
        k: v for k, v in before.items() if "ledger" not in k    }  # nothing counted (a refused redemption is only logged)
    # as the rollback left it: no record, the gateways told: unknown
    lgw.redis.hdel(bucket, coupon)
    lgw.redis.publish(lgw.prefix + "defs:changed", "code:" + coupon)
    for _ in range(100):
        bad = _coupon_checkout(lgw, coupon)
        if bad.json()["key"] != "quantity_exceeded":
            break
        time.sleep(0.02)
    assert bad.status_code == 400 and bad.json()["key"] == "resource_not_found", bad.text


def test_a_reward_whose_coupon_was_used_is_not_rolled_back(lgw: InProcess) -> None:
    _order(lgw, "o-1", 60000)  # 1,200
    code = _card_of(lgw)
    red = lgw.post(f"/v1/loyalties/members/{code}/redemption", {"reward": {"id": "rew_C"}}).json()
    coupon = red["reward"]["voucher"]["code"]
    used = _coupon_checkout(lgw, coupon)
    assert used.status_code == 200, used.text
    before = lgw.keyspace()
    r = lgw.rollback(red["id"])
    assert r.status_code == 400 and r.json()["key"] == "reward_already_used", r.text
    assert f"code {coupon}" in r.json()["details"]
    assert lgw.keyspace() == before  # nothing changed: points, stock, coupon, record
    # once the coupon's own redemption is rolled back, the reward's rollback goes through
    back = lgw.rollbacks(used.json()["parent_redemption"]["id"])
    assert back.status_code == 200, back.text
    r = lgw.rollback(red["id"])
    assert r.status_code == 200, r.text
    assert _get(lgw, f"/v1/loyalties/members/{code}")["loyalty_card"]["balance"] == 1200
    assert not any(lgw.redis.hexists(b, coupon) for b in Keys(lgw.prefix).code_buckets(coupon))


def test_rolling_back_a_points_reward_takes_the_points_back_unless_spent(
    redis_url: str, key_prefix: str
) -> None:
    with in_process(redis_url, key_prefix, msgspec.convert(REWARD_DEFS, m.Definitions)) as g:
        _order(g, "o-1", 60000)  # 1,200 on camp_L
        code = _card_of(g)
        red = g.post(f"/v1/loyalties/members/{code}/redemption", {"reward": {"id": "rew_P"}}).json()
        partner = red["reward"]["voucher"]["code"]
        assert partner.startswith("PART-")
        assert _get(g, f"/v1/loyalties/members/{partner}")["loyalty_card"]["balance"] == 300
        r = g.rollback(red["id"])
        assert r.status_code == 200, r.text
        assert _get(g, f"/v1/loyalties/members/{code}")["loyalty_card"]["balance"] == 1200
        card = _get(g, f"/v1/loyalties/members/{partner}")["loyalty_card"]
        assert (card["balance"], card["points"]) == (0, 0)
        tx = _get(g, f"/v1/loyalties/members/{partner}/transactions")["data"]
        assert [(t["type"], t["details"]["balance"]["points"]) for t in tx] == [
            ("POINTS_REMOVAL", -300), ("POINTS_ADDITION", 300)]  # fmt: skip
        assert tx[0]["details"]["rollback"] == {"id": r.json()["id"]}
        # bought again, and 200 of the 300 spent on the partner programme's coupon: kept
        red = g.post(f"/v1/loyalties/members/{code}/redemption", {"reward": {"id": "rew_P"}}).json()
        spent = g.post(f"/v1/loyalties/members/{partner}/redemption", {"reward": {"id": "rew_C"}})
        assert spent.status_code == 200, spent.text
        before = g.keyspace()
        r = g.rollback(red["id"])
        assert r.status_code == 400 and r.json()["key"] == "loyalty_card_points_exceeded", r.text
        assert f"points on card {partner}" in r.json()["details"]
        assert g.keyspace() == before
        assert _get(g, f"/v1/loyalties/members/{code}")["loyalty_card"]["balance"] == 1100


def test_points_of_an_event_can_move_a_member_up_a_tier(redis_url: str, key_prefix: str) -> None:
    with in_process(redis_url, key_prefix, msgspec.convert(TIERED, m.Definitions)) as g:
        _order(g, "o-1", 5000)  # 50 points: no tier yet
        code = _card_of(g)
        for year in (2026, 2027):  # +50 each: 100 -> Silver (joined +25)
            r = g.post("/v1/events", {"event": "birthday", "customer": {"source_id": "alice"}},
                       headers={"Idempotency-Key": f"bday-{year}"})  # fmt: skip
            assert r.status_code == 200, r.text
        assert _get(g, f"/v1/loyalties/members/{code}")["loyalty_card"]["balance"] == 175
        assert [t["id"] for t in _get(g, f"/v1/loyalties/members/{code}/tiers")["data"]] == [
            "ltr_silver"
        ]


def test_the_workers_code_cache_is_bounded(lgw: InProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    import gateway.live

    monkeypatch.setattr(gateway.live, "CODES_MAX", 3)
    codes = []
    for i in range(5):
        _order(lgw, f"o-{i}", 1000, customer=f"c-{i}")
        codes.append(_card_of(lgw, f"c-{i}"))
    live = lgw.client.app.state.gateway.live
    for code in codes + codes[:1]:
        r = lgw.validate({"customer": {"source_id": "c-0"}, "order": {"amount": 1000},
                          "redeemables": [{"object": "voucher", "id": code}]})  # fmt: skip
        assert r.status_code == 200, r.text
        assert r.json()["redeemables"][0]["result"]["error"]["key"] != "resource_not_found", r.text
        assert len(live._codes) <= 3
    assert codes[0] in live._codes and codes[1] not in live._codes  # the oldest went first


def test_metadata_numbers_beyond_64_bits_are_kept_not_a_500(lgw: InProcess) -> None:
    """JSON allows any integer: an order's (and a new customer's) metadata holding one beyond
    64 bits is stored and answered as it came (the fuzz run found a 500 there)."""
    big = 724591040243662589580541952
    r = lgw.post("/v1/orders", {"source_id": "big-1", "status": "PAID", "amount": 10000,
                                "customer": {"source_id": "zed", "metadata": {"n": [big]}},
                                "metadata": {"n": big, "m": -(2**100)}})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["metadata"] == {"n": big, "m": -(2**100)}
    got = lgw.client.get("/v1/orders/big-1", headers=HEADERS)
    assert got.status_code == 200, got.text
    assert got.json()["metadata"]["n"] == big
    r = lgw.client.put("/v1/orders/big-1", json={"status": "CANCELED"}, headers=HEADERS)
    assert r.status_code == 200 and r.json()["status"] == "CANCELED", r.text
