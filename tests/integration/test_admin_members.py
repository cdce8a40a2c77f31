"""Loyalty members at admin, through the official SDK (voucherify 6.1.1) and raw HTTP against
the real admin app and a real Redis: add a member (join once), read the card, adjust its balance
with a reason, transfer points, pending points, points expiration, the members list; bad input
refused with nothing changed.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
import redis
import voucherify as v
from stacks import keyspace
from voucherify.exceptions import ApiException

from admin.testing import AdminServer
from core import model as m
from store.defs import publish_definitions_sync
from store.wallet import Credit, Wallet

DEFS: dict[str, Any] = {
    "campaigns": [
        {"id": "camp_L", "name": "Club", "campaign_type": "LOYALTY_PROGRAM", "join_once": True,
         "voucher": {"type": "LOYALTY_CARD",
                     "loyalty_card": {"points": 0, "expiration_rules": {"period_type": "MONTH", "period_value": 12}},
                     "code_config": {"pattern": "CLUB-#####"}}},
        {"id": "camp_F", "name": "Fuel club", "campaign_type": "LOYALTY_PROGRAM",
         "voucher": {"type": "LOYALTY_CARD", "loyalty_card": {"points": 25}}},
        {"id": "camp_D", "name": "Coupons", "voucher": {"discount": {"type": "AMOUNT", "amount_off": 100}}},
    ],
}  # fmt: skip


@pytest.fixture
def srv(redis_url: str, key_prefix: str) -> Iterator[AdminServer]:
    r = redis.Redis.from_url(redis_url)
    publish_definitions_sync(r, key_prefix, msgspec.convert(DEFS, m.Definitions))
    r.close()
    with AdminServer(redis_url, key_prefix) as s:
        yield s


@pytest.fixture
def api(srv: AdminServer) -> Iterator[v.LoyaltiesApi]:
    with srv.sdk() as c, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # every LoyaltiesApi call warns (SDK)
        yield v.LoyaltiesApi(c)


def _keyspace(srv: AdminServer) -> dict[bytes, Any]:
    r = redis.Redis.from_url(srv.redis_url)
    try:
        return keyspace(r, srv.prefix, skip=(b"audit",))
    finally:
        r.close()


def _add(api: v.LoyaltiesApi, customer: str, camp: str = "camp_L", **kw: Any) -> Any:
    body = v.LoyaltiesMembersCreateRequestBody.from_dict(
        {"customer": {"source_id": customer}, **kw}
    )
    return api.add_member(camp, body)


def test_add_member_publishes_one_card_per_customer(api: v.LoyaltiesApi) -> None:
    card = _add(api, "alice")
    assert card.code.startswith("CLUB-") and card.type == "LOYALTY_CARD"
    assert card.loyalty_card.points == 0 and card.loyalty_card.balance == 0
    assert card.holder_id.startswith("cust_") and card.campaign_id == "camp_L"
    again = _add(api, "alice")  # join once: the same card
    assert again.code == card.code
    bob = _add(api, "bob")
    assert bob.code != card.code
    got = api.get_member(card.code)
    assert got.code == card.code and got.holder_id == card.holder_id
    assert api.get_member(card.id).code == card.code  # by voucher id too
    assert api.get_member1("camp_L", card.code).code == card.code
    assert api.get_member1("Club", card.code).code == card.code  # program by name
    with pytest.raises(ApiException) as exc:
        api.get_member1("camp_F", card.code)
    assert exc.value.status == 404
    listed = api.list_members("camp_L")
    assert listed.total == 2 and sorted(x.code for x in listed.vouchers) == sorted(
        [card.code, bob.code]
    )


def test_initial_points_of_the_program_are_added_on_join(api: v.LoyaltiesApi) -> None:
    card = _add(api, "carol", camp="camp_F")
    assert card.loyalty_card.balance == 25 and card.loyalty_card.points == 25
    tx = api.list_loyalty_card_transactions(card.code).data
    assert [t.type for t in tx] == ["POINTS_ADDITION"]


def test_balance_adjustments_with_reasons_and_expiry(api: v.LoyaltiesApi, srv: AdminServer) -> None:
    card = _add(api, "alice")
    up = api.update_loyalty_card_balance(
        card.code,
        v.LoyaltiesMembersBalanceUpdateRequestBody.from_dict({"points": 100, "reason": "goodwill"}),
    )
    assert (up.points, up.balance, up.total, up.operation_type) == (100, 100, 100, "MANUAL")
    keep = api.update_loyalty_card_balance1("camp_L", card.code, v.LoyaltiesMembersBalanceUpdateRequestBody.from_dict(
        {"points": 50, "expiration_type": "NON_EXPIRING", "reason": "forever"}))  # fmt: skip
    assert keep.balance == 150
    down = api.update_loyalty_card_balance(
        card.code,
        v.LoyaltiesMembersBalanceUpdateRequestBody.from_dict(
            {"points": -30, "reason": "correction"}
        ),
    )
    assert (down.points, down.balance, down.total) == (-30, 120, 120)
    got = api.get_member(card.code).loyalty_card
    assert got.balance == 120 and got.points == 120
    # the program's rules: 12 months, so the 100 added first expire in a year (spent first: 70 left)
    assert got.next_expiration_points == 70
    today = dt.datetime.now(dt.UTC).date()
    assert isinstance(got.next_expiration_date, dt.date)  # date-only, as the SDK needs
    assert 364 <= (got.next_expiration_date - today).days <= 366
    tx = api.list_loyalty_card_transactions(card.code).data
    assert [(t.type, t.details.balance.points, t.details.balance.balance, t.reason) for t in tx] == [
        ("POINTS_REMOVAL", -30, 120, "correction"), ("POINTS_ADDITION", 50, 150, "forever"),
        ("POINTS_ADDITION", 100, 100, "goodwill")]  # fmt: skip
    exp = api.list_points_expiration("camp_L", card.code)
    assert [d.bucket.total_points for d in exp.data] == [70] and exp.data[0].status == "ACTIVE"
    before = _keyspace(srv)
    with pytest.raises(ApiException) as exc:  # never below zero
        api.update_loyalty_card_balance(
            card.code, v.LoyaltiesMembersBalanceUpdateRequestBody.from_dict({"points": -500})
        )
    assert exc.value.status == 400 and "loyalty_card_points_exceeded" in exc.value.body
    for bad in ({"points": 0}, {"points": "7"}, {"points": 5, "expiration_type": "CUSTOM_DATE",
                                                 "expiration_date": "2001-01-01"}):  # fmt: skip
        r = srv.request("POST", f"/v1/loyalties/members/{card.code}/balance", json=bad)
        assert r.status_code == 400, (bad, r.text)
    assert (
        srv.request("POST", "/v1/loyalties/members/NOPE/balance", json={"points": 5}).status_code
        == 404
    )
    assert _keyspace(srv) == before


def test_transfers_move_points_between_cards(api: v.LoyaltiesApi, srv: AdminServer) -> None:
    a, b = _add(api, "alice"), _add(api, "bob")
    api.update_loyalty_card_balance(
        a.code, v.LoyaltiesMembersBalanceUpdateRequestBody.from_dict({"points": 300})
    )
    out = api.transfer_points("camp_L", b.code, [v.LoyaltiesTransferPoints.from_dict(
        {"code": a.code, "points": 120, "reason": "family pooling", "source_id": "tr-1"})])  # fmt: skip
    assert out.code == b.code and out.loyalty_card.balance == 120
    assert api.get_member(a.code).loyalty_card.balance == 180
    ta = api.list_loyalty_card_transactions(a.code).data[0]
    tb = api.list_loyalty_card_transactions(b.code).data[0]
    assert ta.type == "POINTS_TRANSFER_OUT" and tb.type == "POINTS_TRANSFER_IN"
    assert ta.related_transaction_id == tb.id and tb.related_transaction_id == ta.id
    before = _keyspace(srv)
    r = srv.request("POST", f"/v1/loyalties/camp_L/members/{b.code}/transfers",
                    json=[{"code": a.code, "points": 1000}])  # fmt: skip
    assert r.status_code == 400 and r.json()["key"] == "loyalty_card_points_exceeded"
    r = srv.request(
        "POST", f"/v1/loyalties/camp_L/members/{b.code}/transfers", json={"code": a.code}
    )
    assert r.status_code == 400
    assert _keyspace(srv) == before


def test_pending_points_activate_adjust_cancel(api: v.LoyaltiesApi, srv: AdminServer) -> None:
    import asyncio

    card = _add(api, "alice")
    now = srv.clock() if srv.clock else int(dt.datetime.now(dt.UTC).timestamp() * 1000)

    async def credit() -> None:
        client = redis.asyncio.Redis.from_url(srv.redis_url)
        w = Wallet(client, srv.prefix)
        for pid, pts in (("lopp_a", 40), ("lopp_b", 60), ("lopp_c", 10)):
            await w.apply([Credit(campaign_id="camp_L", code=card.code, points=pts, pending_id=pid,
                                  activates_at_ms=now + 7 * 86_400_000,
                                  details=b'{"order":{"id":"ord_1","source_id":"o-1"}}')], now)  # fmt: skip
        await w.aclose()
        await client.aclose()

    asyncio.run(credit())
    pend = api.list_member_pending_points(card.code)
    assert sorted((p.id, p.points) for p in pend.data) == [
        ("lopp_a", 40),
        ("lopp_b", 60),
        ("lopp_c", 10),
    ]
    assert pend.data[0].details.order.id == "ord_1"
    act = api.activate_member_pending_points(card.code, "lopp_a")
    assert (act.points, act.balance) == (40, 40)
    adj = api.adjust_member_pending_points(
        card.code,
        "lopp_b",
        v.LoyaltiesMembersPendingPointsBalanceRequestBody.from_dict({"points": -15}),
    )
    assert adj.points == 45
    api.cancel_member_pending_points(card.code, "lopp_c")
    assert [p.id for p in api.list_member_pending_points1("camp_L", card.code).data] == ["lopp_b"]
    with pytest.raises(ApiException) as exc:
        api.activate_member_pending_points(card.code, "lopp_c")
    assert exc.value.status == 400 and "invalid_pending_points_state" in exc.value.body
    got = api.get_member(card.code).loyalty_card
    assert got.balance == 40 and got.pending_points == 45
    tx = api.list_loyalty_card_transactions(card.code).data
    assert [t.type for t in tx] == ["PENDING_POINTS_ACTIVATION"]


def test_add_member_bad_input_changes_nothing(srv: AdminServer, api: v.LoyaltiesApi) -> None:
    card = _add(api, "alice")
    before = _keyspace(srv)
    for path, body, status in (
        ("/v1/loyalties/camp_nope/members", {"customer": {"source_id": "x"}}, 404),
        ("/v1/loyalties/camp_D/members", {"customer": {"source_id": "x"}}, 404),
        ("/v1/loyalties/camp_L/members", {}, 400),
        ("/v1/loyalties/camp_L/members", {"customer": "alice"}, 400),
        (
            "/v1/loyalties/camp_L/members",
            {"customer": {"source_id": "bob"}, "voucher": card.code},
            400,
        ),
    ):
        r = srv.request("POST", path, json=body)
        assert r.status_code == status, (path, body, r.text)
        assert set(r.json()) >= {"code", "key", "message", "details"}
    assert _keyspace(srv) == before


def test_the_customer_object_carries_live_loyalty_and_order_figures(
    api: v.LoyaltiesApi, srv: AdminServer
) -> None:
    card = _add(api, "alice")
    api.update_loyalty_card_balance(
        card.code, v.LoyaltiesMembersBalanceUpdateRequestBody.from_dict({"points": 70})
    )
    r = redis.Redis.from_url(srv.redis_url)
    try:  # what the gateway's order calls keep (test_gateway_loyalty.py writes them through orders)
        r.hset(srv.prefix + "custmetrics:" + card.holder_id, mapping={"count": 2, "amount": 30000})
    finally:
        r.close()
    with srv.sdk() as c:
        cust = v.CustomersApi(c).get_customer("alice")
    assert cust.loyalty.points == 70 and cust.loyalty.campaigns["Club"]["points"] == 70
    assert cust.summary.orders.total_count == 2 and cust.summary.orders.average_amount == 15000
    assert cust.summary.redemptions.loyalty_card.points_to_go == 70


def test_customer_activity_lists_what_orders_events_and_rewards_did(
    redis_url: str, srv: AdminServer
) -> None:
    from gateway_fixtures import in_process
    from test_gateway_loyalty import DEFS as GW_DEFS

    with in_process(redis_url, srv.prefix, msgspec.convert(GW_DEFS, m.Definitions)) as g:
        for body in ({"source_id": "o-1", "status": "PAID", "amount": 20000, "customer": {"source_id": "dana"}},
                     {"source_id": "o-1", "status": "CANCELED"}):  # fmt: skip
            r = (
                g.post("/v1/orders", body)
                if body["status"] == "PAID"
                else g.client.put(
                    "/v1/orders/o-1",
                    json=body,
                    headers={"X-App-Id": "app_checkout", "X-App-Token": "tok_checkout_secret"},
                )
            )
            assert r.status_code == 200, r.text
        assert (
            g.post(
                "/v1/events", {"event": "birthday", "customer": {"source_id": "dana"}}
            ).status_code
            == 200
        )
    with srv.sdk() as c:
        acts = v.CustomersApi(c).list_customer_activity("dana")
        assert [a.type for a in acts.data] == ["customer.custom_event", "customer.order.canceled",
                                               "customer.rewarded.loyalty_points", "customer.order.paid"]  # fmt: skip
        rewarded = acts.data[2].data
        assert (
            rewarded["points"] == 400 and rewarded["pending_points"] == 0
        )  # both rules' points, one entry
        paid = v.CustomersApi(c).list_customer_activity("dana", type="customer.order.paid")
        assert len(paid.data) == 1 and paid.data[0].data["order"]["amount"] == 20000
    r = srv.request("GET", "/v1/customers/nobody/activity")
    assert r.status_code == 404


def test_entering_a_static_segment_earns_on_its_rule_once(redis_url: str, key_prefix: str) -> None:
    defs = {**DEFS, "earning_rules": [
        {"id": "ern_vip", "campaign_id": "camp_L", "event": "customer.segment.entered",
         "segment": {"id": "seg_vip"}, "loyalty": {"type": "FIXED", "points": 75}}]}  # fmt: skip
    r = redis.Redis.from_url(redis_url)
    publish_definitions_sync(r, key_prefix, msgspec.convert(defs, m.Definitions))
    r.close()
    with AdminServer(redis_url, key_prefix) as srv, srv.sdk() as c, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        api = v.LoyaltiesApi(c)
        card = _add(api, "erin")
        other = srv.request("POST", "/v1/segments", json={"name": "Others", "customers": ["erin"]})
        assert other.status_code == 200, other.text
        assert api.get_member(card.code).loyalty_card.balance == 0  # no rule names that segment
        vip = srv.request(
            "POST", "/v1/segments", json={"id": "seg_vip", "name": "VIP", "customers": ["erin"]}
        )
        assert vip.status_code == 200 and vip.json()["id"] == "seg_vip", vip.text
        assert api.get_member(card.code).loyalty_card.balance == 75
        tx = api.list_loyalty_card_transactions(card.code).data[0]
        assert tx.type == "POINTS_ACCRUAL" and tx.details.segment.id == "seg_vip"
        again = srv.request(
            "POST", "/v1/segments", json={"id": "seg_vip", "name": "VIP", "customers": ["erin"]}
        )
        assert again.status_code == 409
        assert api.get_member(card.code).loyalty_card.balance == 75
        with srv.sdk() as c2:
            acts = v.CustomersApi(c2).list_customer_activity(
                "erin", type="customer.segment.entered"
            )
        # both entries are recorded; the one the rule names earned
        assert [(a.data["segment"]["id"], a.data["points"]) for a in acts.data][0] == (
            "seg_vip",
            75,
        )
        assert len(acts.data) == 2


def test_400_concurrent_transfers_over_http_never_create_or_lose_points(
    redis_url: str, key_prefix: str
) -> None:
    """A 10 s Redis timeout, as the gateway race tests: a burst of hundreds of calls on one
    admin process on a busy 2-core machine can make a call wait over the default second, and
    answering 503 then is the designed behaviour (test_admin_outage.py), not what this counts."""

    r = redis.Redis.from_url(redis_url)
    publish_definitions_sync(r, key_prefix, msgspec.convert(DEFS, m.Definitions))
    r.close()
    with (
        AdminServer(redis_url, key_prefix, redis_timeout=10.0) as srv,
        srv.sdk() as c,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", DeprecationWarning)
        _transfers_race(v.LoyaltiesApi(c), srv)


def _transfers_race(api: v.LoyaltiesApi, srv: AdminServer) -> None:
    import asyncio
    import random

    import httpx

    cards = [_add(api, f"pool-{i}").code for i in range(5)]
    for code in cards:
        api.update_loyalty_card_balance(
            code, v.LoyaltiesMembersBalanceUpdateRequestBody.from_dict({"points": 1000})
        )
    rnd = random.Random(11)
    moves = [(*rnd.sample(cards, 2), rnd.randint(1, 400)) for _ in range(400)]

    calls = [(f"/v1/loyalties/camp_L/members/{dst}/transfers", [{"code": src, "points": pts}])
             for src, dst, pts in moves]  # fmt: skip

    async def fire() -> list[int]:
        # 200 connections, each opened and checked first, then one burst of 200 calls at once:
        # more than redis-py's default pool of 100 (admin's Redis client raised "Too many
        # connections", a 503, before store.client's blocking pool)
        clients = [httpx.AsyncClient(base_url=srv.url, headers=srv.headers(), timeout=60,
                                     limits=httpx.Limits(max_connections=1)) for _ in range(200)]  # fmt: skip
        out: list[int] = [0] * len(calls)
        try:
            for c in clients:
                assert (await c.get("/health")).status_code == 200

            async def worker(k: int) -> None:
                for n in range(k, len(calls), len(clients)):
                    path, body = calls[n]
                    r = await clients[k].post(path, json=body)
                    assert r.status_code < 500, r.text
                    out[n] = r.status_code

            await asyncio.gather(*(worker(k) for k in range(len(clients))))
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))
        return out

    statuses = asyncio.run(fire())
    assert set(statuses) <= {200, 400} and statuses.count(200) > 100, statuses
    balances = [api.get_member(code).loyalty_card.balance for code in cards]
    assert sum(balances) == 5000 and min(balances) >= 0
    for code in cards:  # every card's balance is what its transactions say
        tx = api.list_loyalty_card_transactions(code, limit=100).data
        assert tx[0].details.balance.balance == api.get_member(code).loyalty_card.balance


def _balances_through_a_segment(redis_url: str, key_prefix: str, segment: dict[str, Any], points: int,
                                amounts: list[int], customer: str) -> list[int]:  # fmt: skip
    """The club card's balance after each of ``customer``'s paid ``amounts``, with ``segment``
    (an auto-update one, created through admin) paying ``points`` on its entered rule."""
    from gateway_fixtures import in_process
    from test_gateway_loyalty import DEFS as GW_DEFS

    defs = {**GW_DEFS, "earning_rules": [*GW_DEFS["earning_rules"],
            {"id": "ern_seg", "campaign_id": "camp_L", "event": "customer.segment.entered",
             "segment": {"id": segment["id"]}, "loyalty": {"type": "FIXED", "points": points}}]}  # fmt: skip
    with AdminServer(redis_url, key_prefix) as srv:
        seg = srv.request("POST", "/v1/segments", json={"type": "auto-update", **segment})
        assert seg.status_code == 200, seg.text
        with in_process(redis_url, key_prefix, msgspec.convert(defs, m.Definitions)) as g:
            balances = []
            for i, amount in enumerate(amounts):
                r = g.post("/v1/orders", {"source_id": f"{customer}-{i}", "status": "PAID", "amount": amount,
                                          "customer": {"source_id": customer}})  # fmt: skip
                assert r.status_code == 200, r.text
                cid = g.redis.get(g.prefix + "customer:src:" + customer).decode()
                code = g.redis.get(g.prefix + "{c:camp_L}:lc:holder:" + cid).decode()
                balances.append(int(g.redis.hget(g.prefix + "{c:camp_L}:lc:" + code, "balance")))
    return balances


def test_an_order_that_moves_a_customer_into_a_dynamic_segment_earns_on_its_rule(
    redis_url: str, key_prefix: str
) -> None:
    regulars = {"id": "seg_regulars", "name": "Regulars",
                "filter": {"summary.orders.total_count": {"conditions": {"$more_than": [1]}}}}  # fmt: skip
    # 10 per order; the second order makes two: she enters "Regulars" (+75) once
    assert _balances_through_a_segment(redis_url, key_prefix, regulars, 75, [1000] * 3, "fay") == [10, 95, 105]


def test_points_that_cross_a_segment_s_threshold_earn_on_its_entered_rule(
    redis_url: str, key_prefix: str
) -> None:
    """A segment on ``loyalty.points`` is judged on the points before and after the order that
    earns them: the order that takes the member over 250 points enters it (+40), once."""
    rich = {"id": "seg_rich", "name": "Point holders",
            "filter": {"loyalty.points": {"conditions": {"$more_than": [250]}}}}  # fmt: skip
    # 100.00 each: 100 points (under 150.00 only ern_1 earns); the third order takes her from
    # 200 to 300 points: she enters (+40); the fourth does not
    assert _balances_through_a_segment(redis_url, key_prefix, rich, 40, [10000] * 4, "gus") == [100, 200, 340, 440]


def test_publishing_a_join_once_program_gives_the_member_s_one_card(
    srv: AdminServer, api: v.LoyaltiesApi
) -> None:
    """``POST /v1/publications`` of a loyalty programme is a join: the customer's one card, the
    same as ``add_member`` gives, with the programme's initial points once, however often."""
    codes = set()
    for _ in range(3):
        r = srv.request("POST", "/v1/publications", json={"campaign": {"id": "camp_F"},
                                                          "customer": {"source_id": "hana"}})  # fmt: skip
        assert r.status_code == 200, r.text
        codes.add(r.json()["voucher"]["code"])
    member = api.add_member("camp_F", v.LoyaltiesMembersCreateRequestBody.from_dict({"customer": {"source_id": "hana"}}))
    assert codes == {member.code}
    assert api.get_member(member.code).loyalty_card.balance == 25  # initial points, once
