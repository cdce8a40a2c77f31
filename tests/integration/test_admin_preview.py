"""``POST /v1/preview`` (admin/preview.py): a cart judged as the checkout judges it, against the
live counters, read-only, with the reason and the numbers of every refusal; the published
definitions or an unsaved draft; a customer or a guest; "pretend it is" any time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from stacks import keyspace

from admin.testing import AdminServer, GatewayProcess

SALE = {
    "name": "Big carts",
    "campaign_type": "DISCOUNT_COUPONS",
    "type": "STATIC",
    "start_date": "2020-01-01T00:00:00Z",
    "expiration_date": "2099-01-01T00:00:00Z",
    "limits": {"per_customer": 1},
    "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 500}},
}


@pytest.fixture
def srv(redis_url: str, key_prefix: str) -> Iterator[AdminServer]:
    with AdminServer(redis_url, key_prefix) as s:
        yield s


def _snapshot(srv: AdminServer, r: Any) -> dict[bytes, Any]:
    """What a write would change."""
    return keyspace(r, srv.prefix)


def _code(srv: AdminServer, body: dict[str, Any], code: str) -> dict[str, Any]:
    camp = srv.request("POST", "/v1/campaigns", json=body).json()
    r = srv.request("POST", f"/v1/campaigns/{camp['id']}/vouchers/{code}", json={})
    assert r.status_code in (200, 201), r.text
    return camp


def _rule(srv: AdminServer, more_than: int) -> str:
    r = srv.request("POST", "/v1/validation-rules", json={
        "name": f"order above {more_than}", "error": {"message": f"orders over {more_than} only"},
        "rules": {"1": {"name": "order.amount", "conditions": {"$more_than": [more_than]}}, "logic": "1"}})  # fmt: skip
    assert r.status_code in (200, 201), r.text
    return r.json()["id"]


def _preview(srv: AdminServer, key: tuple[str, str] | None = None, **body: Any) -> Any:
    return srv.request("POST", "/v1/preview", json=body, key=key)


def _voucher(code: str) -> list[dict[str, Any]]:
    return [{"object": "voucher", "id": code}]


CART = {"amount": 3000, "items": [{"product_id": "prod_a", "quantity": 2, "price": 1500, "amount": 3000}]}


def test_a_failing_rule_and_a_used_per_customer_limit_with_their_numbers(
    srv: AdminServer, redis_url: str, key_prefix: str, redis_sync: Any
) -> None:
    rule = _rule(srv, 5000)
    _code(srv, {**SALE, "validation_rules": [rule]}, "BIG5")
    _code(srv, {**SALE, "name": "Once each"}, "ONCE5")
    with GatewayProcess(redis_url, key_prefix, workers=1) as gw:
        assert gw.redeem("ONCE5", customer="cust_a").status_code == 200
    before = _snapshot(srv, redis_sync)
    r = _preview(srv, order=CART, customer={"source_id": "cust_a"}, redeemables=_voucher("BIG5") + _voucher("ONCE5"))
    assert r.status_code == 200, r.text
    out = r.json()
    big, once = out["redeemables"]
    assert big["status"] == "INAPPLICABLE" and big["key"] == "order_rules_violated"
    assert big["reason"] == "orders over 5000 only" and big["campaign_name"] == "Big carts"
    # ALL mode: the checkout skips the rest after a failure; the preview says why it would
    # fail on its own too
    assert once["status"] == "SKIPPED" and once["key"] == "preceding_validation_failed"
    alone = once["alone"]
    assert alone["status"] == "INAPPLICABLE" and alone["key"] == "redemption_rules_violated"
    lim = alone["limit"]
    assert (lim["name"], lim["limit"], lim["used"], lim["adds"]) == ("per_customer", 1, 1, 1)
    assert alone["reason"] == "per customer 1: already used 1"
    one = _preview(srv, order=CART, customer="cust_a", redeemables=_voucher("ONCE5")).json()
    assert one["redeemables"][0]["limit"] == lim and one["customer"]["known"] is False
    assert out["valid"] is False and out["order"]["total_amount"] == 3000 and out["written"] is False
    # another customer: the same code applies, the order's figures follow
    other = _preview(srv, order=CART, customer={"source_id": "cust_b"}, redeemables=_voucher("ONCE5")).json()
    assert other["redeemables"][0]["status"] == "APPLICABLE" and other["redeemables"][0]["discount"] == 500
    assert other["order"]["total_amount"] == 2500 and other["valid"] is True
    assert other["stacking"]["applied_in_order"] == [{"object": "voucher", "id": "ONCE5"}]
    # nothing written: no counter, no ledger entry, no customer upsert, no audit entry
    assert _snapshot(srv, redis_sync) == before


def test_guest_time_and_every_candidate(srv: AdminServer, redis_sync: Any) -> None:
    _code(srv, {**SALE, "limits": {}, "name": "Generic"}, "ANY5")
    _code(srv, {**SALE, "name": "Once each"}, "ONCE5")
    before = _snapshot(srv, redis_sync)
    # a guest: a per-customer limit needs a customer, said so
    g = _preview(srv, order=CART, redeemables=_voucher("ONCE5")).json()
    assert g["customer"] is None and g["redeemables"][0]["key"] == "missing_customer"
    # pretend it is before the start, after the expiry
    early = _preview(srv, order=CART, at="2019-06-01T00:00:00Z", redeemables=_voucher("ANY5")).json()
    assert early["redeemables"][0]["key"] == "voucher_not_active" and early["at"].startswith("2019-06-01")
    late = _preview(srv, order=CART, at="2099-06-01T00:00:00+02:00", redeemables=_voucher("ANY5")).json()
    assert late["redeemables"][0]["key"] == "voucher_expired"
    # without redeemables: every generic code tried, each alone then stacked
    every = _preview(srv, order=CART, customer="cust_c").json()
    assert every["mode"] == "every_candidate"
    ids = {e["id"]: e for e in every["redeemables"]}
    assert ids["ANY5"]["status"] == "APPLICABLE" and ids["ANY5"]["alone"]["status"] == "APPLICABLE"
    assert ids["ONCE5"]["alone"]["discount"] == 500
    assert every["customer"]["known"] is False and every["customer"]["source_id"] == "cust_c"
    assert every["order"]["total_discount_amount"] == sum(e["discount"] for e in every["redeemables"]
                                                         if e["status"] == "APPLICABLE")  # fmt: skip
    assert _snapshot(srv, redis_sync) == before


def test_a_draft_overrides_the_published_definitions(srv: AdminServer, redis_sync: Any) -> None:
    camp = _code(srv, SALE, "DRAFT5")
    rule = _rule(srv, 5000)
    before = _snapshot(srv, redis_sync)
    live = _preview(srv, order=CART, customer="cust_d", redeemables=_voucher("DRAFT5")).json()
    assert live["redeemables"][0]["status"] == "APPLICABLE" and live["definitions"]["source"] == "published"
    changes = [{"method": "PUT", "path": f"/v1/campaigns/{camp['id']}", "body": {"validation_rules": [rule]}}]
    drafted = _preview(srv, order=CART, customer="cust_d", redeemables=_voucher("DRAFT5"), changes=changes).json()
    assert drafted["definitions"]["source"] == "draft"
    assert drafted["redeemables"][0]["key"] == "order_rules_violated"
    # a new campaign that exists only in the draft is found and judged
    new = [{"method": "POST", "path": "/v1/campaigns", "body": {**SALE, "name": "Draft only", "type": "AUTO_UPDATE"}}]
    out = _preview(srv, order=CART, customer="cust_d", changes=new).json()
    assert out["definitions"]["source"] == "draft" and out["mode"] == "every_candidate"
    assert _snapshot(srv, redis_sync) == before
    # a draft is run through its routes: an analyst may preview, not draft
    analyst = srv.key("analyst")
    assert _preview(srv, key=analyst, order=CART, redeemables=_voucher("DRAFT5")).status_code == 200
    assert _preview(srv, key=analyst, order=CART, changes=changes).status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"order": "x"},
        {"order": {"amount": -1}},
        {"order": CART, "at": "yesterday"},
        {"order": CART, "at": "2026-01-01T00:00:00"},
        {"order": CART, "at": 5},
        {"order": CART, "customer": 5},
        {"order": CART, "customer": ""},
        {"order": CART, "redeemables": []},
        {"order": CART, "redeemables": [{"object": "voucher"}]},
        {"order": CART, "redeemables": [{"object": "voucher", "id": "A"}, {"object": "voucher", "id": "A"}]},
        {"order": {"items": [{"quantity": 2, "price": 100, "amount": 150}]}},
        {"order": CART, "changes": []},
        {"order": CART, "changes": [{"method": "DELETE", "path": "/v1/campaigns/x"}]},
        {"order": CART, "changes": [{"method": "PUT", "path": "/v1/campaigns/nope", "body": {"name": "x"}}],
         "change_set_id": "cs_x"},
        {"order": CART, "unknown": 1},
    ],
)
def test_bad_input_is_a_4xx_and_writes_nothing(srv: AdminServer, redis_sync: Any, body: dict[str, Any]) -> None:
    before = _snapshot(srv, redis_sync)
    r = srv.request("POST", "/v1/preview", json=body)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["code"] == r.status_code and r.json()["key"]
    assert _snapshot(srv, redis_sync) == before
