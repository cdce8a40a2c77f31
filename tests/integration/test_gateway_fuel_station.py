"""The fuel station of issue 10 (``make run``'s demo programme "Fuel Rewards", ``store.demo``),
against the real gateway in process and a real Redis: 1 point per litre of fuel, twice the
points over 15 litres in one visit, a welcome bonus on the first paid order, a birthday bonus
through a custom event, three gifts with stock bought with points.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from gateway_fixtures import HEADERS, InProcess, in_process

from store import demo


@pytest.fixture
def station(redis_url: str, key_prefix: str) -> Iterator[InProcess]:
    with in_process(redis_url, key_prefix, demo.definitions()) as g:
        yield g


def _fill(g: InProcess, order: str, litres: int, sku: str = "sku_diesel", driver: str = "driver-1",
          shop: list[dict[str, Any]] | None = None) -> dict[str, Any]:  # fmt: skip
    price = 179 if sku == "sku_diesel" else 189
    items = [{"sku_id": sku, "product_id": "prod_fuel", "quantity": litres, "price": price,
              "amount": price * litres}, *(shop or [])]  # fmt: skip
    r = g.post("/v1/orders", {"source_id": order, "status": "PAID", "items": items,
                              "customer": {"source_id": driver}})  # fmt: skip
    assert r.status_code == 200, r.text
    return r.json()


def _card(g: InProcess, driver: str = "driver-1") -> dict[str, Any]:
    cid = g.redis.get(g.prefix + "customer:src:" + driver).decode()
    code = g.redis.get(g.prefix + "{c:camp_fuel}:lc:holder:" + cid).decode()
    r = g.client.get(f"/v1/loyalties/members/{code}", headers=HEADERS)
    assert r.status_code == 200, r.text
    return r.json()


def test_points_per_litre_double_over_15_and_a_welcome_bonus(station: InProcess) -> None:
    _fill(station, "fill-1", 20)  # 20 litres: 20 + 20 (over 15) + 100 welcome
    card = _card(station)
    assert card["code"].startswith("FUEL-") and card["loyalty_card"]["balance"] == 140
    _fill(station, "fill-2", 10, sku="sku_petrol95")  # 10 litres: 10, no bonus, no welcome again
    assert _card(station)["loyalty_card"]["balance"] == 150
    # a coffee bought with the fuel earns nothing: only fuel litres count
    _fill(
        station,
        "fill-3",
        16,
        shop=[{"product_id": "prod_coffee", "quantity": 3, "price": 250, "amount": 750}],
    )
    assert _card(station)["loyalty_card"]["balance"] == 182
    r = station.client.get(
        f"/v1/loyalties/members/{_card(station)['code']}/transactions", headers=HEADERS
    )
    rules = [t["details"]["earning_rule"]["id"] for t in reversed(r.json()["data"])]
    assert rules == ["ern_fuel_litre", "ern_fuel_over_15", "ern_welcome", "ern_fuel_litre",
                     "ern_fuel_litre", "ern_fuel_over_15"]  # fmt: skip


def test_birthday_bonus_through_a_custom_event_once_a_year(station: InProcess) -> None:
    _fill(station, "fill-1", 5)
    for _ in range(3):  # the app retries; the key names the year
        r = station.post("/v1/events", {"event": "birthday", "customer": {"source_id": "driver-1"}},
                         headers={"Idempotency-Key": "birthday-2026"})  # fmt: skip
        assert r.status_code == 200, r.text
    assert _card(station)["loyalty_card"]["balance"] == 5 + 100 + 200


def test_three_gifts_with_stock_bought_with_points(station: InProcess) -> None:
    _fill(station, "fill-1", 300)  # 300 + 300 + 100 = 700
    code = _card(station)["code"]
    gifts = station.client.get(f"/v1/loyalties/members/{code}/rewards", headers=HEADERS,
                               params={"affordable_only": "true"}).json()["data"]  # fmt: skip
    assert sorted((g["reward"]["name"], g["assignment"]["parameters"]["loyalty"]["points"], g["reward"]["stock"])
                  for g in gifts) == [("Free car wash", 300, 50), ("Free coffee", 100, 200),
                                      ("Screenwash 5 l", 250, 30)]  # fmt: skip
    for reward, left in (("rew_car_wash", 400), ("rew_coffee", 300), ("rew_screenwash", 50)):
        r = station.post(f"/v1/loyalties/members/{code}/redemption", {"reward": {"id": reward}})
        assert r.status_code == 200, r.text
        assert r.json()["voucher"]["loyalty_card"]["balance"] == left
    assert int(station.redis.get(station.prefix + "{rw:rew_coffee}:redeemed")) == 1
    r = station.post(f"/v1/loyalties/members/{code}/redemption", {"reward": {"id": "rew_coffee"}})
    assert r.status_code == 400 and r.json()["key"] == "loyalty_card_points_exceeded"


def test_pay_part_of_a_fill_up_with_points_at_the_till(station: InProcess) -> None:
    _fill(station, "fill-1", 20)  # 140 points
    code = _card(station)["code"]
    body = {"customer": {"source_id": "driver-1"},
            "order": {"source_id": "fill-2", "amount": 1790,
                      "items": [{"sku_id": "sku_diesel", "product_id": "prod_fuel", "quantity": 10, "price": 179,
                                 "amount": 1790}]},
            "redeemables": [{"object": "voucher", "id": code, "reward": {"id": "rew_fuel_pwp", "points": 100}}]}  # fmt: skip
    r = station.redeem(body)
    assert r.status_code == 200, r.text
    red = r.json()
    assert red["order"]["discount_amount"] == 100 and red["order"]["total_amount"] == 1690
    # 140 - 100 paid, + 10 earned on the 10 litres of this (PAID) order
    assert _card(station)["loyalty_card"]["balance"] == 50
    r = station.rollbacks(red["parent_redemption"]["id"])
    assert r.status_code == 200, r.text
    assert _card(station)["loyalty_card"]["balance"] == 140  # refunded, and the 10 taken back


def test_refer_a_driver_pays_the_friend_and_the_member_and_a_car_wash_at_the_third(
    station: InProcess, redis_url: str
) -> None:
    """The demo's referral programme "Refer a driver": a member's code gives a new driver 5.00
    off and 200 points; the member earns 500 points per friend, a car wash once at the third; a
    driver who bought fuel before is not a new customer."""
    from admin.testing import AdminServer

    g = station
    with AdminServer(redis_url, g.prefix, clock=g.clock) as adm:
        _fill(g, "o-ann", 10, driver="ann")  # ann is a member (10 points + 100 welcome)
        pub = adm.request("POST", "/v1/publications", json={"campaign": {"id": "camp_refer"},
                                                             "customer": {"source_id": "ann"}})  # fmt: skip
        assert pub.status_code == 200, pub.text
        code = pub.json()["voucher"]["code"]
        assert code.startswith("DRIVE-")
        for i, friend in enumerate(("ben", "cat", "dan")):
            items = [{"sku_id": "sku_diesel", "product_id": "prod_fuel", "quantity": 20, "price": 179, "amount": 3580}]
            r = g.redeem({"customer": {"source_id": friend}, "order": {"source_id": f"o-{friend}", "items": items},
                          "redeemables": [{"object": "voucher", "id": code}]})  # fmt: skip
            assert r.status_code == 200, r.text
            assert r.json()["order"]["total_discount_amount"] == 500
            # 20 litres x 2 + welcome 100 + 200 referee points
            assert _card(g, friend)["loyalty_card"]["balance"] == 40 + 100 + 200
            assert _card(g, "ann")["loyalty_card"]["balance"] == 110 + 500 * (i + 1)
        act = adm.request("GET", "/v1/customers/ann/activity", params={"type": "customer.rewarded", "limit": 20}).json()
        names = sorted(a["data"]["reward"]["name"] for a in act["data"])
        assert names == ["500 Fuel Rewards points"] * 3 + ["Free car wash"], names
        # ann herself, and a driver who bought fuel before, cannot use it
        out = g.validate({"customer": {"source_id": "ann"}, "order": {"amount": 3000},
                          "redeemables": [{"object": "voucher", "id": code}]}).json()  # fmt: skip
        # (the demo runs in PARTIAL mode: a refused code is listed in inapplicable_redeemables)
        assert out["inapplicable_redeemables"][0]["result"]["error"]["key"] == "referrer_not_permitted_to_redeem"
        _fill(g, "o-eve", 5, driver="eve")
        out = g.validate({"customer": {"source_id": "eve"}, "order": {"amount": 3000},
                          "redeemables": [{"object": "voucher", "id": code}]}).json()  # fmt: skip
        assert out["inapplicable_redeemables"][0]["result"]["error"]["key"] == "customer_not_new"
