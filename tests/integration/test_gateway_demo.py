"""Issue 3, ``make run``'s demo data set (``store.demo``): the checkout flows a newcomer tries
first with curl, against the real app and Redis. The demo project runs in PARTIAL mode (an
inapplicable redeemable goes to ``inapplicable_redeemables``; the rest still applies).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from gateway_fixtures import HEADERS, InProcess, assert_error_shape, body, in_process, tier, voucher

from store import demo


@pytest.fixture
def demo_gw(redis_url: str, key_prefix: str) -> Iterator[InProcess]:
    with in_process(redis_url, key_prefix, demo.definitions()) as g:
        yield g


def _ok(resp: Any) -> dict[str, Any]:
    assert resp.status_code == 200, (resp.status_code, resp.text[:800])
    return resp.json()


def _totals(data: dict[str, Any]) -> tuple[int, int, int]:
    o = data["order"]
    return o["amount"], o["total_discount_amount"], o["total_amount"]


def test_summer20_percent_with_cap_and_minimum(demo_gw: InProcess) -> None:
    data = _ok(demo_gw.validate(body(voucher("SUMMER20"), amount=12000)))
    assert (
        data["valid"] is True
        and data["stacking_rules"]["redeemables_application_mode"] == "PARTIAL"
    )
    assert data["redeemables"][0]["result"]["discount"]["percent_off"] == 20
    assert _totals(data) == (12000, 2400, 9600)  # 20 % of 120.00, under the 50.00 cap
    assert _totals(_ok(demo_gw.validate(body(voucher("SUMMER20"), amount=30000)))) == (
        30000,
        5000,
        25000,
    )  # capped
    small = _ok(demo_gw.validate(body(voucher("SUMMER20"), amount=4000)))
    assert small["valid"] is False and small["redeemables"] == []
    (bad,) = small["inapplicable_redeemables"]
    assert bad["result"]["error"]["key"] == "order_rules_violated"
    assert bad["result"]["error"]["message"] == "Spend at least 50.00"
    # one per customer: needs a customer, and only once
    anon = _ok(demo_gw.validate(body(voucher("SUMMER20"), amount=12000, customer=None)))
    assert anon["inapplicable_redeemables"][0]["result"]["error"]["key"] == "missing_customer"
    red = _ok(demo_gw.redeem(body(voucher("SUMMER20"), amount=12000, customer="alice")))
    assert red["order"]["total_discount_amount"] == 2400
    again = demo_gw.redeem(body(voucher("SUMMER20"), amount=12000, customer="alice"))
    assert_error_shape(again, 400, "redemption_rules_violated")
    _ok(demo_gw.redeem(body(voucher("SUMMER20"), amount=12000, customer="bob")))


def test_fiveoff_and_tshirt_items(demo_gw: InProcess) -> None:
    assert _totals(_ok(demo_gw.validate(body(voucher("FIVEOFF"), amount=3000)))) == (
        3000,
        500,
        2500,
    )
    cart = {"items": [{"product_id": "prod_tshirt", "quantity": 2, "price": 2000},
                      {"product_id": "prod_mug", "quantity": 1, "price": 1200}]}  # fmt: skip
    data = _ok(demo_gw.validate({"redeemables": [voucher("TSHIRT10")], "order": cart}))
    assert _totals(data) == (5200, 400, 4800)  # 10 % of the T-shirts only
    items = {i["product_id"]: i for i in data["order"]["items"]}
    assert items["prod_tshirt"]["discount_amount"] == 400
    assert items["prod_mug"].get("discount_amount", 0) == 0


def test_promotion_tiers(demo_gw: InProcess) -> None:
    assert _totals(_ok(demo_gw.validate(body(tier("promo_spend_100"), amount=12000)))) == (
        12000,
        1000,
        11000,
    )
    three_shirts = {"items": [{"product_id": "prod_tshirt", "quantity": 3, "price": 2000}]}
    data = _ok(
        demo_gw.validate({"redeemables": [tier("promo_free_shipping")], "order": three_shirts})
    )
    # free shipping adds the shipping line and discounts it
    assert _totals(data) == (6499, 499, 6000)
    two_mugs = {"items": [{"product_id": "prod_mug", "quantity": 2, "price": 1200}]}
    data = _ok(demo_gw.validate({"redeemables": [tier("promo_mug_bogo")], "order": two_mugs}))
    assert _totals(data) == (3600, 1200, 2400)  # a third mug, free
    # qualifications find the tiers for a cart from 100.00
    q = _ok(demo_gw.post("/v1/qualifications", {"customer": {"source_id": "alice"}, "order": {"amount": 12000},
                                                "options": {"limit": 50}}))  # fmt: skip
    ids = {r["id"] for r in q["redeemables"]["data"]}
    assert {"promo_spend_100", "SUMMER20", "FIVEOFF"} <= ids, ids
    red = _ok(demo_gw.redeem(body(tier("promo_spend_100"), voucher("FIVEOFF"), amount=12000)))
    assert red["order"]["total_discount_amount"] == 1500
    rb = _ok(demo_gw.rollbacks(red["parent_redemption"]["id"]))
    assert len(rb["rollbacks"]) == 2


def test_gift_cards(demo_gw: InProcess) -> None:
    data = _ok(demo_gw.validate(body(voucher("SUMMER20"), voucher("GIFT-DEMO-2", gift={"credits": 1000}),
                                     amount=12000)))  # fmt: skip
    assert _totals(data) == (12000, 3400, 8600)  # 2400 off, then 10.00 of gift credits
    red = _ok(demo_gw.redeem(body(voucher("GIFT-DEMO-2", gift={"credits": 1000}), amount=12000)))
    assert red["redemptions"][0]["gift"] == {"amount": 1000}
    left = _ok(demo_gw.validate(body(voucher("GIFT-DEMO-2"), amount=12000)))
    assert left["redeemables"][0]["result"]["gift"] == {"credits": 1500, "balance": 1500}
    big = _ok(demo_gw.validate(body(voucher("GIFT-DEMO-1"), amount=12000)))
    assert _totals(big) == (12000, 10000, 2000)
    # PARTIAL: a bad gift request does not stop the coupon
    mixed = _ok(demo_gw.validate(body(voucher("FIVEOFF"), voucher("GIFT-DEMO-2", gift={"credits": 99999}),
                                      amount=12000)))  # fmt: skip
    assert mixed["valid"] is True and [r["id"] for r in mixed["redeemables"]] == ["FIVEOFF"]
    assert mixed["inapplicable_redeemables"][0]["result"]["error"]["key"] == "gift_amount_exceeded"
    assert demo_gw.client.get("/ready", headers=HEADERS).json()["ready"] is True


def test_readme_curl_flows(demo_gw: InProcess) -> None:
    """The README's curl examples, body for body, with the figures its comments promise."""
    c, h = demo_gw.client, HEADERS
    # 20% off (capped at 50.00) on a 120.00 order: discount 2400, total 9600
    r = c.post("/v1/validations", headers=h, content=b'{"customer":{"source_id":"cust_1"},"order":{"amount":12000},'
               b'"redeemables":[{"object":"voucher","id":"SUMMER20"}]}')  # fmt: skip
    assert _totals(_ok(r)) == (12000, 2400, 9600)
    # stacked: the coupon, then 20.00 from a gift card: discount 4400, total 7600
    redeem = (b'{"customer":{"source_id":"cust_1"},"order":{"id":"order-1001","amount":12000},'
              b'"redeemables":[{"object":"voucher","id":"SUMMER20"},'
              b'{"object":"voucher","id":"GIFT-DEMO-1","gift":{"credits":2000}}]}')  # fmt: skip
    idem = {**h, "Idempotency-Key": "order-1001"}
    first = c.post("/v1/redemptions", headers=idem, content=redeem)
    data = _ok(first)
    assert _totals(data) == (12000, 4400, 7600)
    assert data["order"]["id"] == "order-1001"
    # the same curl again: the stored answer, not a second redemption (SUMMER20 is once per customer)
    again = c.post("/v1/redemptions", headers=idem, content=redeem)
    assert again.status_code == 200 and again.content == first.content
    # refund: roll back the whole stacked redemption
    rb = _ok(c.post(f"/v1/redemptions/{data['parent_redemption']['id']}/rollbacks", headers=h))
    assert len(rb["rollbacks"]) == 2 and rb["order"]["status"] == "CANCELED"
    assert demo_gw.counter("{c:camp_gift}:v:GIFT-DEMO-1:spent") == 0
    # which promotions and codes apply to this cart, best deal first
    q = _ok(c.post("/v1/qualifications", headers=h, content=(
        b'{"customer":{"source_id":"cust_1"},"order":{"items":[{"product_id":"prod_tshirt","quantity":3,'
        b'"price":2000},{"product_id":"prod_mug","quantity":4,"price":1200}]},"options":{"sorting_rule":"BEST_DEAL"}}')))  # fmt: skip
    found = q["redeemables"]["data"]
    assert found and q["redeemables"]["total"] >= len(found)

    def applied(r: dict[str, Any]) -> int:
        return (
            r["order"].get("total_applied_discount_amount") or r["order"]["total_discount_amount"]
        )

    amounts = [applied(r) for r in found]
    assert amounts == sorted(amounts, reverse=True)
    # a 108.00 cart (60.00 of T-shirts, 48.00 of mugs), 5 per page by default: the gift cards
    # (whole balance), SUMMER20 (rolled back above, so usable again: 20 % = 21.60), the free
    # mug (12.00), then 10.00 off from 100.00
    assert [(r["id"], applied(r)) for r in found] == [
        ("GIFT-DEMO-1", 10000),
        ("GIFT-DEMO-2", 2500),
        ("SUMMER20", 2160),
        ("promo_mug_bogo", 1200),
        ("promo_spend_100", 1000),
    ]
    assert q["redeemables"]["has_more"] is True and q["redeemables"]["total"] > 5
