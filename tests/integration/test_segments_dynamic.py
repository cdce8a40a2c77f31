"""Dynamic customer segments end to end: created through admin's HTTP API (``AdminServer``),
their metrics driven by real gateway orders (the in-process gateway, clock injected and shared
with admin), membership read back from admin (``GET /v1/customers/{id}/segments``) and seen by
``customer.segment`` validation rules at the gateway's checkout.

Membership is judged at read time: it follows the orders (and their cancellations) and the
clock, with no job running ("no order for 30 days" becomes true 31 days after the last order).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from gateway_fixtures import HEADERS, InProcess, in_process

from admin.testing import AdminServer
from core import model as m

DAY = 86_400

MORE_THAN_5_IN_90_DAYS = {
    "junction": "and",
    "summary.orders.count_in_days.90": {"conditions": {"$more_than": [5]}},
}
LONDON_BIG_SPENDER = {
    "junction": "and",
    "address.city": {"conditions": {"$is": ["London"]}},
    "summary.orders.total_amount": {"conditions": {"$more_than": [100_000]}},
}
NO_ORDER_FOR_30_DAYS = {"summary.orders.last_order_date": {"conditions": {"$older_than": ["P30D"]}}}


@pytest.fixture
def stack(redis_url: str, key_prefix: str) -> Iterator[tuple[AdminServer, InProcess]]:
    """Admin and an in-process gateway on one key prefix, on ONE injected clock."""
    with in_process(redis_url, key_prefix, m.Definitions()) as g:
        # the gateway's Live judges dynamic segments at its own clock; gateway/app.py does not
        # hand Live the injected clock (yet), so the test does
        g.client.app.state.gateway.live.clock = g.clock
        with AdminServer(redis_url, key_prefix, clock=g.clock) as srv:
            yield srv, g


def _segment(srv: AdminServer, name: str, flt: dict[str, Any], **extra: Any) -> dict[str, Any]:
    r = srv.request(
        "POST", "/v1/segments", json={"name": name, "type": "auto-update", "filter": flt, **extra}
    )
    assert r.status_code == 200, r.text
    return r.json()


def _member_of(srv: AdminServer, customer: str) -> list[str]:
    r = srv.request("GET", f"/v1/customers/{customer}/segments")
    assert r.status_code == 200, r.text
    return [s["id"] for s in r.json()["data"]]


def _order(g: InProcess, order: str, customer: str, amount: int) -> None:
    r = g.post("/v1/orders", {"source_id": order, "status": "PAID", "amount": amount,
                              "customer": {"source_id": customer}})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "PAID"


def _cancel(g: InProcess, order: str) -> None:
    r = g.client.put(f"/v1/orders/{order}", json={"status": "CANCELED"}, headers=HEADERS)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "CANCELED"


def test_membership_follows_orders_cancellations_and_the_clock(
    stack: tuple[AdminServer, InProcess],
) -> None:
    srv, g = stack
    r = srv.request(
        "POST",
        "/v1/customers",
        json={"source_id": "ada", "name": "Ada", "address": {"city": "London"}},
    )
    assert r.status_code == 200, r.text
    frequent = _segment(srv, "More than 5 orders in 90 days", MORE_THAN_5_IN_90_DAYS)["id"]
    big = _segment(srv, "Londoners who spent over 1,000.00", LONDON_BIG_SPENDER)["id"]
    lapsed = _segment(srv, "No order for 30 days", NO_ORDER_FOR_30_DAYS)["id"]
    static = srv.request(
        "POST", "/v1/segments", json={"name": "Hand-picked", "customers": ["ada"]}
    ).json()["id"]

    # never ordered: lapsed (a customer who never ordered counts), and the static one first
    assert _member_of(srv, "ada") == [static, lapsed]

    _order(g, "o-1", "ada", 60_000)
    assert _member_of(srv, "ada") == [static]
    _order(g, "o-2", "ada", 50_000)  # 1,100.00 in all
    assert _member_of(srv, "ada") == [static, big]
    for i in range(3, 7):  # one order a day: the 6th makes "more than 5 in 90 days"
        g.clock.advance(DAY)
        _order(g, f"o-{i}", "ada", 1_000)
        want = [static, big, frequent] if i == 6 else [static, big]
        assert sorted(_member_of(srv, "ada")) == sorted(want), i

    # a cancelled order leaves the counts (on the day it was paid), so the segment too
    _cancel(g, "o-6")
    assert sorted(_member_of(srv, "ada")) == sorted([static, big])
    _order(g, "o-7", "ada", 1_000)
    assert sorted(_member_of(srv, "ada")) == sorted([static, big, frequent])

    # time alone: 30 days after the last order, not yet lapsed; 31 days, lapsed (no job ran)
    g.clock.advance(30 * DAY)
    assert lapsed not in _member_of(srv, "ada")
    g.clock.advance(DAY)
    assert sorted(_member_of(srv, "ada")) == sorted([static, big, frequent, lapsed])
    # 90 days on, the first orders have left the window
    g.clock.advance(60 * DAY)
    assert sorted(_member_of(srv, "ada")) == sorted([static, big, lapsed])

    # the segment objects: shown, listed, deleted
    got = srv.request("GET", f"/v1/segments/{lapsed}").json()
    assert got["type"] == "auto-update" and got["filter"] == NO_ORDER_FOR_30_DAYS
    assert got["object"] == "segment" and got["name"] == "No order for 30 days"
    listed = srv.request("GET", "/v1/segments", params={"limit": 100}).json()
    assert listed["total"] == 4 and {s["id"] for s in listed["data"]} == {
        frequent,
        big,
        lapsed,
        static,
    }
    assert srv.request("DELETE", f"/v1/segments/{lapsed}").status_code == 204
    assert srv.request("GET", f"/v1/segments/{lapsed}").status_code == 404
    assert lapsed not in _member_of(srv, "ada")
    assert srv.request("GET", "/v1/segments").json()["total"] == 3


def _vip_campaign(srv: AdminServer, segment_id: str) -> None:
    """A coupon campaign whose rule is ``customer.segment $in [segment_id]``, code VIP5."""
    rule = srv.request("POST", "/v1/validation-rules", json={
        "name": "in the segment",
        "rules": {"1": {"name": "customer.segment", "conditions": {"$in": [segment_id]}}, "logic": "1"},
    })  # fmt: skip
    assert rule.status_code == 200, rule.text
    camp = srv.request("POST", "/v1/campaigns", json={
        "name": "Segment only", "campaign_type": "DISCOUNT_COUPONS", "validation_rules": [rule.json()["id"]],
        "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 500}},
    })  # fmt: skip
    assert camp.status_code == 200, camp.text
    r = srv.request("POST", "/v1/vouchers/VIP5", json={"campaign_id": camp.json()["id"]})
    assert r.status_code == 200, r.text


def _applies(g: InProcess, customer: str) -> bool:
    body = {"redeemables": [{"object": "voucher", "id": "VIP5"}], "order": {"amount": 10_000},
            "customer": {"source_id": customer}}  # fmt: skip
    r = g.validate(body)
    assert r.status_code == 200, r.text
    out = r.json()
    if out["valid"]:
        assert out["order"]["total_discount_amount"] == 500
    else:
        red = (out.get("redeemables") or out.get("inapplicable_redeemables"))[0]
        assert red["result"]["error"]["key"] == "customer_rules_violated", red
    return bool(out["valid"])


def test_per_day_metrics_older_than_any_window_leave_with_the_next_order(
    stack: tuple[AdminServer, InProcess], redis_sync: redis.Redis, key_prefix: str
) -> None:
    """The metrics hash keeps one od:/oa: pair per day with orders; a day older than the
    longest window a segment may ask for (MAX_WINDOW_DAYS) is dropped by the next paid order,
    in the same call, so the hash stays bounded and every window still counts right."""
    from core.segments import MAX_WINDOW_DAYS, day_of

    srv, g = stack
    longest = _segment(srv, "10 years, 2 orders", {
        f"summary.orders.count_in_days.{MAX_WINDOW_DAYS}": {"conditions": {"$more_than_or_equal": [2]}}})["id"]  # fmt: skip
    _order(g, "p-1", "bea", 1_000)
    (key,) = [k.decode() for k in redis_sync.scan_iter(f"{key_prefix}custmetrics:*")]
    today = day_of(g.clock())
    edge, stale = today - MAX_WINDOW_DAYS + 1, today - MAX_WINDOW_DAYS
    # as if bea had also ordered on the window's first day and on the day before it
    redis_sync.hset(key, mapping={f"od:{edge}": 1, f"oa:{edge}": 500, f"od:{stale}": 1, f"oa:{stale}": 700})
    _order(g, "p-2", "bea", 1_000)
    fields = {k.decode() for k in redis_sync.hkeys(key)}
    assert {f"od:{edge}", f"oa:{edge}", f"od:{today}", f"oa:{today}"} <= fields
    assert not {f"od:{stale}", f"oa:{stale}"} & fields
    assert longest in _member_of(srv, "bea")  # 3 orders in the window (edge day + 2 today)


def test_a_segment_rule_applies_at_checkout_only_while_the_customer_is_in_it(
    stack: tuple[AdminServer, InProcess],
) -> None:
    srv, g = stack
    seg = _segment(srv, "Spent over 1,000.00 in 30 days",
                   {"summary.orders.amount_in_days.30": {"conditions": {"$more_than": [100_000]}}})["id"]  # fmt: skip
    _vip_campaign(srv, seg)
    g.clock.advance(10)  # past any cached answer (SEGMENTS_TTL of the request clock)
    _order(g, "b-1", "bob", 80_000)  # bob exists now (the gateway's order created him)
    g.clock.advance(10)
    assert not _applies(g, "bob")
    _order(g, "b-2", "bob", 30_000)
    g.clock.advance(10)  # a worker may keep its answer for SEGMENTS_TTL (5 s)
    assert _applies(g, "bob")
    assert _member_of(srv, "bob") == [seg]  # admin agrees
    assert not _applies(g, "nobody-knows-me")  # an unknown customer is in no segment
    # 31 days later the orders have left the 30-day window: no longer in it, no discount
    g.clock.advance(31 * DAY)
    assert not _applies(g, "bob")
    assert _member_of(srv, "bob") == []
    # a client that names the segment itself is taken at its word (as for static segments)
    sent = {"redeemables": [{"object": "voucher", "id": "VIP5"}], "order": {"amount": 10_000},
            "customer": {"source_id": "bob", "segments": [seg]}}  # fmt: skip
    assert g.validate(sent).json()["valid"] is True


def test_points_filters_read_the_live_wallet(stack: tuple[AdminServer, InProcess]) -> None:
    """``loyalty.points`` is judged from the customer's cards (admin and gateway alike)."""
    srv, g = stack
    prog = srv.request("POST", "/v1/loyalties", json={
        "name": "Club", "auto_join": True, "join_once": True,
        "voucher": {"loyalty_card": {"points": 0}, "code_config": {"pattern": "CLUB-#####"}},
    })  # fmt: skip
    assert prog.status_code == 200, prog.text
    rule = srv.request("POST", f"/v1/loyalties/{prog.json()['id']}/earning-rules", json=[{
        "event": "order.paid", "loyalty": {"type": "PROPORTIONAL", "calculation_type": "ORDER_AMOUNT",
                                           "order": {"amount": {"every": 100, "points": 1}}},
    }])  # fmt: skip
    assert rule.status_code == 200, rule.text
    seg = _segment(
        srv, "Point holders", {"loyalty.points": {"conditions": {"$more_than_equal": [500]}}}
    )["id"]
    _vip_campaign(srv, seg)
    g.clock.advance(10)
    _order(g, "c-1", "cleo", 40_000)  # 400 points
    g.clock.advance(10)
    assert _member_of(srv, "cleo") == [] and not _applies(g, "cleo")
    _order(g, "c-2", "cleo", 10_000)  # 500 points
    g.clock.advance(10)
    assert _member_of(srv, "cleo") == [seg] and _applies(g, "cleo")


@pytest.mark.parametrize(
    ("body", "status", "key", "needle"),
    [
        ({"name": "x", "type": "auto-update"}, 400, "invalid_payload", "needs a `filter`"),
        ({"name": "x", "type": "auto-update", "filter": {"favourite_color": {"conditions": {"$is": ["red"]}}}},
         400, "invalid_definition", "`segment.filter.favourite_color`"),
        ({"name": "x", "type": "auto-update", "filter": {"summary.orders.total_amount": {"conditions": {"$more_than": ["1000"]}}}},
         400, "invalid_definition", "`segment.filter.summary.orders.total_amount.conditions.$more_than`"),
        ({"name": "x", "type": "auto-update", "filter": {"summary.orders.last_order_date": {"conditions": {"$older_than": ["a month"]}}}},
         400, "invalid_definition", "`segment.filter.summary.orders.last_order_date.conditions.$older_than`"),
        ({"name": "x", "type": "auto-update", "filter": {"junction": "and"}}, 400, "invalid_definition", "`segment.filter`"),
        ({"name": "x", "type": "auto-update", "filter": "city is London"}, 400, "invalid_definition", "`segment.filter`"),
        ({"name": "x", "type": "auto-update", "filter": NO_ORDER_FOR_30_DAYS, "customers": ["ada"]},
         400, "invalid_payload", "`segment.customers`"),
        ({"name": "x", "type": "static", "filter": NO_ORDER_FOR_30_DAYS}, 400, "invalid_payload", "`segment.filter`"),
        ({"name": "x", "type": "dynamic", "filter": NO_ORDER_FOR_30_DAYS}, 400, "invalid_payload", "`segment.type`"),
        ({"type": "auto-update", "filter": NO_ORDER_FOR_30_DAYS}, 400, "invalid_payload", "`name`"),
    ],
)  # fmt: skip
def test_bad_filters_are_refused_and_nothing_is_stored(
    redis_url: str, key_prefix: str, body: dict[str, Any], status: int, key: str, needle: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        with AdminServer(redis_url, key_prefix) as srv:
            before = sorted(
                k for k in client.scan_iter(match=key_prefix + "*") if not k.endswith(b"audit")
            )
            r = srv.request("POST", "/v1/segments", json=body)
            assert r.status_code == status, r.text
            err = r.json()
            assert err["code"] == status and err["key"] == key, err
            assert needle in err["details"], err
            assert isinstance(err["message"], str) and err["request_id"]
            after = sorted(
                k for k in client.scan_iter(match=key_prefix + "*") if not k.endswith(b"audit")
            )
            assert after == before
            assert not client.exists(key_prefix + "segments")
            assert srv.request("GET", "/v1/segments").json()["total"] == 0
    finally:
        client.close()


def test_the_sdk_creates_and_reads_a_dynamic_segment(stack: tuple[AdminServer, InProcess]) -> None:
    import voucherify as v

    srv, _ = stack
    with srv.sdk() as client:
        api = v.SegmentsApi(client)
        made = api.create_segment(v.SegmentsCreateRequestBody.from_dict(
            {"name": "Lapsed", "type": "auto-update", "filter": NO_ORDER_FOR_30_DAYS}))  # fmt: skip
        assert made.type == "auto-update" and made.filter == NO_ORDER_FOR_30_DAYS
        assert made.initial_sync_status == "DONE"
        got = api.get_segment(made.id)
        assert got.id == made.id and got.filter == NO_ORDER_FOR_30_DAYS
        srv.request("POST", "/v1/customers", json={"source_id": "dana"}).raise_for_status()
        segs = v.CustomersApi(client).list_customer_segments("dana")
        assert [s.id for s in segs.data] == [made.id]
        api.delete_segment(made.id)
        assert v.CustomersApi(client).list_customer_segments("dana").data == []


def test_a_deleted_segment_leaves_the_gateway_at_once_by_its_notice(
    stack: tuple[AdminServer, InProcess],
) -> None:
    """Admin's ``segments`` notice drops the gateway's cached segments: no waiting for the
    SEGMENTS_TTL (5 s) of either cache, without moving the clock."""
    import time

    srv, g = stack
    srv.request("POST", "/v1/customers", json={"source_id": "eve"}).raise_for_status()
    seg = _segment(srv, "Lapsed", NO_ORDER_FOR_30_DAYS)["id"]
    _vip_campaign(srv, seg)
    assert _applies(g, "eve")  # cached now: the definitions and eve's answer
    assert srv.request("DELETE", f"/v1/segments/{seg}").status_code == 204
    t0 = time.monotonic()
    while _applies(g, "eve"):
        assert time.monotonic() - t0 < 2.0, "the gateway kept a deleted segment"
        time.sleep(0.02)
