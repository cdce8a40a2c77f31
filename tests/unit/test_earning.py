"""The earning planner (core.earning), on both twins: which points a paid order or an event
earns on each card, with tiers, windows, validation rules, pending points, expiry and limits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
from loyalty_helpers import (
    CARDS,
    alice,
    custom,
    day_ms,
    earn,
    ern,
    fixed,
    ldefs,
    line,
    ltier,
    months,
    multiply,
    paid,
    points,
    program,
    prop,
)
from unit_helpers import DAY_MS, NOW_MS, iso, ms, rule, vrule

import core
from core import model as m

# ----------------------------------------------------------------------------- calculation types


def _one(earning: Any, loyalty: dict, order: m.Order, customer: m.Customer | None = None,
         products: list | tuple = ()) -> int:  # fmt: skip
    """Points of a single rule ``ern_1`` on ``order`` (0 when it gives nothing)."""
    plan = earn(earning, ldefs([program()], [ern("ern_1", loyalty)], products=products), order,
                customer=customer)  # fmt: skip
    got = points(plan)
    assert set(got) <= {"ern_1"}
    return got.get("ern_1", 0)


def test_fixed(earning) -> None:
    assert _one(earning, fixed(25), paid(100)) == 25


@pytest.mark.parametrize(
    ("amount", "every", "per", "expected"),
    [
        (20000, 100, 1, 200),
        (19999, 100, 1, 199),  # rounds down
        (99, 100, 1, 0),  # not one whole `every`: nothing
        (12345, 1000, 5, 60),
        (0, 100, 1, 0),
    ],
)
def test_order_amount_is_before_discounts(earning, amount, every, per, expected) -> None:
    order = paid(amount, discount_amount=amount // 2, total_amount=amount // 2)
    assert _one(earning, prop("ORDER_AMOUNT", every, per), order) == expected


def test_order_amount_defaults_to_the_items_sum(earning) -> None:
    order = paid(None, line("p1", 2, 1000), line("p2", 1, 550))
    assert _one(earning, prop("ORDER_AMOUNT", 100, 1), order) == 25


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (paid(20000, total_amount=15050), 150),
        (paid(20000, discount_amount=3000, items_discount_amount=1000), 160),
        (paid(20000, total_discount_amount=5001), 149),  # wins over the parts
        (paid(20000, total_discount_amount=5001, discount_amount=1), 149),
        (paid(20000), 200),
        (paid(2000, discount_amount=5000), 0),  # never below zero
    ],
)
def test_order_total_amount_is_after_discounts(earning, order, expected) -> None:
    assert _one(earning, prop("ORDER_TOTAL_AMOUNT", 100, 1), order) == expected


@pytest.mark.parametrize(
    ("md", "expected"),
    [
        ({"litres": 15}, 30),
        ({"litres": 15.9}, 30),  # rounds down
        ({"litres": "15.9"}, 30),  # numeric strings count
        ({"litres": "lots"}, 0),
        ({"litres": -3}, 0),
        ({"litres": True}, 0),  # a boolean is not a number
        ({"litres": None}, 0),
        ({}, 0),
        (None, 0),
        ({"litres": 10**30}, 10**12),  # capped at the wallet's largest op
    ],
)
def test_order_metadata(earning, md, expected) -> None:
    loyalty = prop("ORDER_METADATA", 1, 2, property="litres")
    assert _one(earning, loyalty, paid(1000, metadata=md)) == expected


def test_customer_metadata(earning) -> None:
    loyalty = prop("CUSTOMER_METADATA", 10, 3, property="visits")
    assert _one(earning, loyalty, paid(1000), alice(metadata={"visits": 47})) == 12
    assert _one(earning, loyalty, paid(1000), alice()) == 0


CATALOGUE = [
    {"id": "prod_fuel", "collections": ["col_fuel"], "skus": [{"id": "sku_diesel"}, {"id": "sku_e10"}]},
    {"id": "prod_shop", "source_id": "shop-1", "collections": ["col_shop"]},
]


def _cart() -> m.Order:
    return paid(
        None,
        line(None, 30, 180, sku="sku_diesel"),  # 5400
        line(None, 10, 175, sku="sku_e10", subtotal_amount=1500),  # 1750, 250 off
        line("prod_shop", 3, 250, discount_amount=100),  # 750
        line("prod_shop", 1, 0),  # a free line
        line("prod_other", 2, 400, subtotal_amount=0),  # fully discounted
    )


@pytest.mark.parametrize(
    ("calc", "block", "expected"),
    [
        ("ORDER_ITEMS_QUANTITY", {}, 30 + 10 + 3),  # free lines count no quantity
        ("ORDER_ITEMS_QUANTITY", {"object": "sku", "id": "sku_diesel"}, 30),
        ("ORDER_ITEMS_QUANTITY", {"object": "products_collection", "id": "col_fuel"}, 40),
        ("ORDER_ITEMS_QUANTITY", {"applicable_to": [{"object": "sku", "id": "sku_e10"},
                                                    {"object": "product", "id": "prod_shop"}]}, 13),  # fmt: skip
        ("ORDER_ITEMS_QUANTITY", {"object": "product", "id": "prod_fuel"}, 40),  # its SKUs' lines
        ("ORDER_ITEMS_QUANTITY", {"object": "product", "id": "prod_shop"}, 3),  # not the free line
        ("ORDER_ITEMS_AMOUNT", {}, 5400 + 1750 + 750 + 0 + 800),  # before discounts
        ("ORDER_ITEMS_AMOUNT", {"object": "products_collection", "id": "col_fuel"}, 7150),
        ("ORDER_ITEMS_SUBTOTAL_AMOUNT", {}, 5400 + 1500 + 650),  # after line discounts
        ("ORDER_ITEMS_SUBTOTAL_AMOUNT", {"object": "sku", "id": "sku_e10"}, 1500),
    ],
)
def test_items(earning, calc, block, expected) -> None:
    every = 1 if calc == "ORDER_ITEMS_QUANTITY" else 100
    got = _one(earning, prop(calc, every, 1, **block), _cart(), products=CATALOGUE)
    assert got == expected // every


def test_items_without_lines_earn_nothing(earning) -> None:
    assert _one(earning, prop("ORDER_ITEMS_QUANTITY", 1, 1), paid(5000)) == 0


def test_every_matching_rule_adds(earning) -> None:
    d = ldefs(
        [program()],
        [
            ern("ern_a", prop("ORDER_AMOUNT", 100, 1), source={"banner": "1 pt / 1.00"}),
            ern("ern_b", fixed(50)),
            ern("ern_c", prop("ORDER_AMOUNT", 1000, 3)),
            ern("ern_z", fixed(0)),  # gives nothing: no accrual
            ern("ern_off", fixed(1000), active=False),
        ],
    )
    plan = earn(earning, d, paid(12345, id="ord_1", source_id="o-1"))
    assert points(plan) == {"ern_a": 123, "ern_b": 50, "ern_c": 36}
    assert plan.total_points == 209
    a = plan.accruals[0]
    assert (a.campaign_id, a.code, a.event, a.source_id, a.banner) == (
        "camp_L", "CLUB-1", "customer.order.paid", "ord_1", "1 pt / 1.00",
    )  # fmt: skip


def test_only_a_paid_order_earns(earning) -> None:
    d = ldefs([program()], [ern("ern_1", fixed(5))])
    for status in ("CREATED", "CANCELED", "FULFILLED"):
        assert earn(earning, d, m.Order(status=status, amount=100)).accruals == []
    assert points(earn(earning, d, m.Order(amount=100))) == {"ern_1": 5}  # no status: paid


def test_only_programs_with_a_card_earn(earning) -> None:
    d = ldefs(
        [program("camp_A"), program("camp_B"), program("camp_J", auto_join=True),
         program("camp_K", auto_join=True, active=False)],
        [ern("ern_a", fixed(1), cid="camp_A"), ern("ern_b", fixed(2), cid="camp_B"),
         ern("ern_j", fixed(3), cid="camp_J"), ern("ern_k", fixed(4), cid="camp_K")],
    )  # fmt: skip
    plan = earn(earning, d, paid(100), cards={"camp_B": ("B-1", None)})
    assert [(a.campaign_id, a.code, a.points) for a in plan.accruals] == [("camp_B", "B-1", 2)]
    # auto_join programs without a card are reported (an inactive one is not)
    assert plan.join == ["camp_J"]
    plan = earn(earning, d, paid(100), cards={"camp_J": "J-1"})
    assert points(plan) == {"ern_j": 3} and plan.join == []


def test_programs_and_rules_are_planned_in_definition_order(earning) -> None:
    d = ldefs(
        [program("camp_A"), program("camp_B")],
        [ern("ern_b1", fixed(1), cid="camp_B"), ern("ern_a1", fixed(2), cid="camp_A"),
         ern("ern_b2", fixed(3), cid="camp_B")],
    )  # fmt: skip
    plan = earn(earning, d, paid(100), cards={"camp_A": "A", "camp_B": "B"})
    assert [a.rule_id for a in plan.accruals] == ["ern_b1", "ern_b2", "ern_a1"]


# ----------------------------------------------------------------------------- validation rules


def test_validation_rules_through_the_rule_engine(earning) -> None:
    d = ldefs(
        [program()],
        [
            ern("ern_big", fixed(10), validation_rule_id="val_big"),
            ern("ern_fuel", fixed(20), validation_rule_id="val_fuel"),
            ern("ern_gold", fixed(30), validation_rule_id="val_gold"),
            ern("ern_any", fixed(40), validation_rule_id="val_any"),
        ],
        vrules=[
            vrule("val_big", rule("order.amount", "$more_than_or_equal", 15000)),
            vrule("val_fuel", rule("order.items.any", "$in", "sku_diesel",
                                   rules={"1": rule("order.items.quantity", "$more_than", 15)})),  # fmt: skip
            vrule("val_gold", rule("customer.metadata", "$is", "gold", prop="level")),
            vrule("val_any", rule("order.amount", "$more_than", 10**6),
                  rule("customer.segment", "$in", "vip"), logic="1 or 2"),  # fmt: skip
        ],
    )
    small = paid(5000, line(None, 10, 500, sku="sku_diesel"))
    big = paid(20000, line(None, 20, 1000, sku="sku_diesel"))
    assert points(earn(earning, d, small)) == {}
    assert points(earn(earning, d, big)) == {"ern_big": 10, "ern_fuel": 20}
    gold_vip = alice(metadata={"level": "gold"}, segments=["vip"])
    assert points(earn(earning, d, small, customer=gold_vip)) == {"ern_gold": 30, "ern_any": 40}


def test_one_validation_rule_shared_by_many_earning_rules(earning) -> None:
    d = ldefs(
        [program("camp_A"), program("camp_B")],
        [ern("ern_a", fixed(1), cid="camp_A", validation_rule_id="v"),
         ern("ern_b", fixed(2), cid="camp_B", validation_rule_id="v")],
        vrules=[vrule("v", rule("order.amount", "$more_than", 100))],
    )  # fmt: skip
    cards = {"camp_A": "A", "camp_B": "B"}
    assert points(earn(earning, d, paid(101), cards=cards)) == {"ern_a": 1, "ern_b": 2}
    assert points(earn(earning, d, paid(100), cards=cards)) == {}


def _metrics(count: int | None) -> m.Customer:
    return alice(summary=m.CustomerSummary(orders=m.CustomerOrdersSummary(total_count=count)))


def test_customer_order_metrics_in_earning_rules(earning) -> None:
    d = ldefs(
        [program()],
        [ern("ern_welcome", fixed(100), validation_rule_id="val_first")],
        vrules=[vrule("val_first", rule("customer.orders.count", "$is", 0))],
    )
    assert points(earn(earning, d, paid(100), customer=_metrics(0))) == {"ern_welcome": 100}
    assert points(earn(earning, d, paid(100), customer=_metrics(1))) == {}
    assert points(earn(earning, d, paid(100), customer=alice())) == {}  # unknown: fail closed


# ----------------------------------------------------------------------------- windows


@pytest.mark.parametrize(
    ("kw", "now", "earns"),
    [
        ({"start_date": iso(2026, 3, 5)}, ms(2026, 3, 4, 23, 59), False),
        ({"start_date": iso(2026, 3, 5)}, ms(2026, 3, 5), True),
        ({"expiration_date": iso(2026, 3, 5)}, ms(2026, 3, 4, 23, 59), True),
        ({"expiration_date": iso(2026, 3, 5)}, ms(2026, 3, 5), False),
        ({"start_date": "2026-03-05T00:00:00"}, ms(2026, 3, 5), True),  # naive is UTC
        ({"start_date": "2026-03-05T00:00:00"}, ms(2026, 3, 4, 23), False),
        # 2026-03-04 is a Wednesday (3); 0 = Sunday
        ({"validity_day_of_week": [3]}, ms(2026, 3, 4, 12), True),
        ({"validity_day_of_week": [0, 6]}, ms(2026, 3, 4, 12), False),
        ({"validity_day_of_week": [0, 6]}, ms(2026, 3, 8, 12), True),
        ({"validity_hours": {"daily": [{"start_time": "06:00", "expiration_time": "09:00"}]}},
         ms(2026, 3, 4, 8, 59), True),  # fmt: skip
        ({"validity_hours": {"daily": [{"start_time": "06:00", "expiration_time": "09:00"}]}},
         ms(2026, 3, 4, 9), False),  # fmt: skip
        # Voucherify's daily[].days_of_week become the rule's days
        ({"validity_hours": {"daily": [{"start_time": "00:00", "expiration_time": "24:00",
                                        "days_of_week": [6]}]}}, ms(2026, 3, 4, 12), False),  # fmt: skip
        ({"validity_hours": [{"start": "22:00", "end": "02:00"}]}, ms(2026, 3, 4, 1, 30), True),
        ({"validity_hours": [{"start": "22:00", "end": "02:00"}]}, ms(2026, 3, 4, 2), False),
        ({"start_date": iso(2026, 3, 2), "validity_timeframe": {"interval": "P2D", "duration": "P1D"}},
         ms(2026, 3, 4, 12), True),  # fmt: skip
        ({"start_date": iso(2026, 3, 2), "validity_timeframe": {"interval": "P2D", "duration": "P1D"}},
         ms(2026, 3, 5, 12), False),  # fmt: skip
    ],
)
def test_rule_windows(earning, kw, now, earns) -> None:
    d = ldefs([program()], [ern("ern_1", fixed(7), **kw)])
    assert points(earn(earning, d, paid(100), now_ms=now)) == ({"ern_1": 7} if earns else {})


def test_a_rule_also_follows_its_program(earning) -> None:
    rules = [ern("ern_1", fixed(7))]
    late = ldefs([program(start_date=iso(2026, 4, 1))], rules)
    assert earn(earning, late, paid(100)).accruals == []
    weekend = ldefs([program(validity_day_of_week=[0, 6])], rules)
    assert earn(earning, weekend, paid(100)).accruals == []
    off = ldefs([program(active=False, auto_join=True)], rules)
    plan = earn(earning, off, paid(100))
    assert plan.accruals == [] and plan.join == []


# ----------------------------------------------------------------------------- tiers


def _tiered() -> m.Definitions:
    return ldefs(
        [program()],
        [ern("ern_amt", prop("ORDER_AMOUNT", 100, 1)), ern("ern_fix", fixed(10)),
         ern("ern_meta", prop("ORDER_METADATA", 1, 1, property="litres"))],
        [
            ltier("ltr_silver", 0, 499, earning={"ern_amt": multiply(1.5), "ern_fix": multiply(0.29)}),
            ltier("ltr_gold", 500, 999, earning={"ern_fix": custom(25), "ern_meta": custom(3)}),
            ltier("ltr_zero", 1000, earning={"ern_amt": multiply(0)}),
        ],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("tier", "expected"),
    [
        (None, {"ern_amt": 101, "ern_fix": 10, "ern_meta": 7}),
        # MULTIPLY rounds down (151.5 -> 151; 10 * 0.29 = 2.9 -> 2, exactly: not 2.8999...)
        ("ltr_silver", {"ern_amt": 151, "ern_fix": 2, "ern_meta": 7}),
        # CUSTOM replaces the FIXED points, or the points per `every` (7 litres * 3)
        ("ltr_gold", {"ern_amt": 101, "ern_fix": 25, "ern_meta": 21}),
        ("ltr_zero", {"ern_fix": 10, "ern_meta": 7}),
        ("ltr_unknown", {"ern_amt": 101, "ern_fix": 10, "ern_meta": 7}),
    ],
)
def test_tier_mappings(earning, tier, expected) -> None:
    plan = earn(earning, _tiered(), paid(10150, metadata={"litres": 7.5}), cards={"camp_L": ("C", tier)})
    assert points(plan) == expected
    base = {"ern_amt": 101, "ern_fix": 10, "ern_meta": 7}
    for a in plan.accruals:
        assert a.base_points == base[a.rule_id]
        assert a.tier_id == (tier if tier in ("ltr_silver", "ltr_gold", "ltr_zero") else "")


def test_a_tier_of_another_program_maps_nothing(earning) -> None:
    d = ldefs(
        [program(), program("camp_M")],
        [ern("ern_1", fixed(10)), ern("ern_m", fixed(1), cid="camp_M")],
        [ltier("ltr_m", 0, cid="camp_M", earning={"ern_m": multiply(5)})],
    )
    plan = earn(earning, d, paid(100), cards={"camp_L": ("C", "ltr_m")})
    assert points(plan) == {"ern_1": 10} and plan.accruals[0].tier_id == ""


@pytest.mark.parametrize(
    ("pts", "tier", "next_tier", "to_next"),
    [
        (0, "", "ltr_1", 1),
        (1, "ltr_1", "ltr_2", 249),
        (249, "ltr_1", "ltr_2", 1),
        (250, "ltr_2", "ltr_4", 750),  # a gap after ltr_2 (500-999 is no tier)
        (600, "", "ltr_4", 400),
        (1000, "ltr_4", "", -1),
        (10**9, "ltr_4", "", -1),
    ],
)
def test_tier_for_points(earning, pts, tier, next_tier, to_next) -> None:
    ix = earning.compile_earning(
        ldefs([program()], tiers=[ltier("ltr_4", 1000), ltier("ltr_1", 1, 249), ltier("ltr_2", 250, 499)])
    )
    st = earning.tier_for_points(ix, "camp_L", pts)
    assert (st.tier_id, st.next_tier_id, st.points_to_next) == (tier, next_tier, to_next)
    assert st.tier_name == tier
    assert earning.tier_for_points(ix, "camp_X", pts).tier_id == ""


def test_reward_prices_per_tier(earning) -> None:
    ix = earning.compile_earning(
        ldefs(
            [program()],
            tiers=[ltier("ltr_s", 0, 499, rewards={"rewa_m": multiply(0.75)}),
                   ltier("ltr_g", 500, rewards={"rewa_m": custom(100), "rewa_c": multiply(0.5)})],
            rewards=[{"id": "rew_m", "parameters": {"product": {"id": "p"}}},
                     {"id": "rew_c", "parameters": {"campaign": {"id": "camp_D"}}},
                     {"id": "rew_p", "parameters": {"coin": {"exchange_ratio": 1, "points_ratio": "10"}}}],
            assignments=[{"id": "rewa_m", "reward_id": "rew_m", "campaign_id": "camp_L", "points": 250},
                         {"id": "rewa_c", "reward_id": "rew_c", "campaign_id": "camp_L", "points": 101},
                         {"id": "rewa_p", "reward_id": "rew_p", "campaign_id": "camp_L"}],
            campaigns=[{"id": "camp_D", "name": "D", "voucher": {"discount": {"type": "AMOUNT", "amount_off": 500}}}],
        )
    )  # fmt: skip
    price = earning.reward_price
    assert price(ix, "rewa_m") == 250
    assert price(ix, "rewa_m", "ltr_s") == 187  # 187.5 rounds down
    assert price(ix, "rewa_m", "ltr_g") == 100
    assert price(ix, "rewa_c", "ltr_g") == 50  # 50.5
    assert price(ix, "rewa_c", "ltr_s") == 101
    assert price(ix, "rewa_p", "ltr_g") is None  # COIN: no price
    assert price(ix, "rewa_x") is None
    assert earning.rewards_for(ix, "camp_L", "ltr_g") == [
        ("rewa_m", "rew_m", 100), ("rewa_c", "rew_c", 50), ("rewa_p", "rew_p", None),
    ]  # fmt: skip


# ----------------------------------------------------------------------------- expiry and pending points

# NOW is 2026-03-04 12:30 UTC
END_OF_MARCH_2027 = day_ms(2027, 4, 1)


def test_the_program_expiry_applies_unless_the_rule_has_its_own(earning) -> None:
    d = ldefs(
        [program(expiration=months(12, "END_OF_MONTH"))],
        [ern("ern_p", fixed(1)), ern("ern_r", fixed(2), expiration_rules=months(1))],
    )
    plan = earn(earning, d, paid(100))
    by = {a.rule_id: a for a in plan.accruals}
    assert by["ern_p"].expires_at_ms == END_OF_MARCH_2027
    assert by["ern_r"].expires_at_ms == day_ms(2026, 4, 5)  # through April 4th
    assert by["ern_p"].credit()["expires_at_ms"] == END_OF_MARCH_2027


def test_points_never_expire_without_rules(earning) -> None:
    plan = earn(earning, ldefs([program()], [ern("ern_1", fixed(1))]), paid(100))
    a = plan.accruals[0]
    assert a.expires_at_ms == -1 and a.credit()["expires_at_ms"] is None
    assert not a.pending and "activates_at_ms" not in a.credit()


def test_pending_points(earning) -> None:
    d = ldefs(
        [program(expiration=months(1))],
        [ern("ern_pend", fixed(5), pending_points={"period_type": "DAY", "period_value": 14}),
         ern("ern_pend2", fixed(6), pending_points={"period_value": 14}),
         ern("ern_now", fixed(7))],
    )  # fmt: skip
    plan = earn(earning, d, paid(100, source_id="o-9"))
    by = {a.rule_id: a for a in plan.accruals}
    p = by["ern_pend"]
    assert p.pending and p.activates_at_ms == day_ms(2026, 3, 18)  # 00:00 UTC, 14 days on
    assert p.expires_at_ms == day_ms(2026, 4, 19)  # a month after the activation, end of day
    assert by["ern_now"].expires_at_ms == day_ms(2026, 4, 5)
    assert p.pending_id.startswith("lopp_") and p.pending_id != by["ern_pend2"].pending_id
    # the same order planned again gets the same pending ids (idempotent applies)
    again = earn(earning, d, paid(100, source_id="o-9"), now_ms=NOW_MS + 3_600_000)
    assert [a.pending_id for a in again.accruals] == [a.pending_id for a in plan.accruals]
    c = p.credit()
    assert (c["pending_id"], c["activates_at_ms"], c["expires_at_ms"]) == (
        p.pending_id, day_ms(2026, 3, 18), day_ms(2026, 4, 19),
    )  # fmt: skip


def test_credit_fits_the_wallet_store(earning) -> None:
    """The store's ``Credit`` op takes these keyword arguments (core cannot import store)."""
    d = ldefs([program(expiration=months(6))], [ern("ern_1", fixed(5), source={"banner": "hi"})],
              [ltier("ltr_1", 0, name="Base")])  # fmt: skip
    a = earn(earning, d, paid(100, id="ord_1", source_id="o-1"), cards={"camp_L": ("C-1", "ltr_1")}).accruals[0]
    c = a.credit()
    assert set(c) <= {"campaign_id", "code", "points", "type", "expires_at_ms", "pending_id",
                      "activates_at_ms", "expires_after_ms", "source_id", "reason", "details"}  # fmt: skip
    assert (c["campaign_id"], c["code"], c["points"], c["type"], c["source_id"]) == (
        "camp_L", "C-1", 5, "POINTS_ACCRUAL", "ord_1",
    )  # fmt: skip
    # the exact text, keys in Voucherify's order (joined from parts encoded once per call)
    assert c["details"] == msgspec.json.encode({
        "order": {"id": "ord_1", "source_id": "o-1"},
        "event": {"type": "customer.order.paid"},
        "earning_rule": {"id": "ern_1", "source": {"banner": "hi"}},
        "loyalty_tier": {"id": "ltr_1", "name": "Base"},
        "holder_loyalty_tier": {"id": "ltr_1", "name": "Base"},
    })  # fmt: skip
    # no tier, an order known by its source id only, text that JSON must escape
    d2 = ldefs([program()], [ern("ern_\"q", fixed(5), source={"banner": 'say "hi"\n'})])
    a2 = earn(earning, d2, paid(100, source_id="o-é"), cards={"camp_L": "C-1"}).accruals[0]
    assert a2.details_json() == msgspec.json.encode({
        "order": {"id": None, "source_id": "o-é"},
        "event": {"type": "customer.order.paid"},
        "earning_rule": {"id": 'ern_"q', "source": {"banner": 'say "hi"\n'}},
    })  # fmt: skip


# ----------------------------------------------------------------------------- limits


def test_limits_per_customer_and_period(earning) -> None:
    d = ldefs(
        [program()],
        [ern("ern_day", fixed(5), limits={"per_customer": {"count": 2, "period": "DAY"}}),
         ern("ern_month", fixed(6), limits={"per_customer": {"count": 1, "period": "MONTH"}}),
         ern("ern_ever", fixed(7), limits={"per_customer": {"count": 1}}),
         ern("ern_free", fixed(8))],
    )  # fmt: skip
    plan = earn(earning, d, paid(100))
    assert points(plan) == {"ern_day": 5, "ern_month": 6, "ern_ever": 7, "ern_free": 8}
    keys = plan.keys()
    assert keys == [
        "{c:camp_L}:ern:ern_day:c:alice:d:20260304",
        "{c:camp_L}:ern:ern_month:c:alice:m:202603",
        "{c:camp_L}:ern:ern_ever:c:alice",
    ]
    day_op = plan.limits[0]
    assert day_op[1:4] == (1, 2, "earning_rule_limit_exceeded") and day_op[5] == 0
    assert 86_400 < day_op[4] <= 2 * 86_400  # the rest of the day, plus a day
    assert plan.limits[2][4] == 0  # lifetime: no TTL
    assert {a.rule_id: a.limit for a in plan.accruals}["ern_free"] is None
    # with the live counters: a reached limit leaves its rule out
    counters = {keys[0]: 1, keys[1]: "1", keys[2]: 0}
    plan = earn(earning, d, paid(100), counters=counters)
    assert points(plan) == {"ern_day": 5, "ern_ever": 7, "ern_free": 8}
    assert plan.skipped == [("camp_L", "ern_month", "limit_reached")]
    assert plan.keys() == [keys[0], keys[2]]


def test_a_limited_rule_needs_a_customer(earning) -> None:
    d = ldefs([program()], [ern("ern_1", fixed(5), limits={"per_customer": {"count": 1}})])
    plan = earn(earning, d, paid(100), customer=m.Customer())
    assert plan.accruals == [] and plan.skipped == [("camp_L", "ern_1", "missing_customer")]


# ----------------------------------------------------------------------------- events


def _events() -> m.Definitions:
    return ldefs(
        [program(), program("camp_M")],
        [
            ern("ern_bday", fixed(50), event="birthday", custom_event={"schema_id": "ms_bd"}),
            ern("ern_steps", prop("CUSTOM_EVENT_METADATA", 1000, 1, property="steps"), event="walked"),
            ern("ern_age", prop("CUSTOMER_METADATA", 10, 1, property="age"), event="walked"),
            ern("ern_vip", fixed(30), event="customer.segment.entered", segment={"id": "seg_vip"}),
            ern("ern_big", prop("CUSTOMER_METADATA", 1, 2, property="age"),
                event="customer.segment.entered", segment={"id": "seg_big"}),  # fmt: skip
            ern("ern_gold", fixed(100), event="customer.loyalty.tier.joined", loyalty_tier={"id": "ltr_g"}),
            ern("ern_any", fixed(5), event="customer.loyalty.tier.joined", loyalty_tier={"id": "__ANY__"}),
            ern("ern_m_any", fixed(9), event="customer.loyalty.tier.joined", loyalty_tier={"id": "__ANY__"},
                cid="camp_M"),  # fmt: skip
            ern("ern_order", fixed(1)),
        ],
        [ltier("ltr_s", 0, 499), ltier("ltr_g", 500), ltier("ltr_m", 0, cid="camp_M")],
    )


CARDS2 = {"camp_L": "L-1", "camp_M": "M-1"}


def _event(earning, name, md=None, related="", customer=None, **kw):
    ix = earning.compile_earning(_events())
    return earning.plan_event(ix, CARDS2, customer or alice(metadata={"age": 42}), name, md, NOW_MS,
                              related, **kw)  # fmt: skip


def test_custom_events(earning) -> None:
    plan = _event(earning, "birthday", event_id="evt_1")
    assert points(plan) == {"ern_bday": 50}
    a = plan.accruals[0]
    assert (a.event, a.source_id, a.related_id) == ("customer.custom_event", "evt_1", "birthday")
    assert a.details_json() == msgspec.json.encode({
        "event": {"type": "customer.custom_event"},
        "earning_rule": {"id": "ern_bday", "source": {"banner": ""}},
        "custom_event": {"type": "birthday"},
        "event_schema": {"id": "ms_bd"},
    })  # fmt: skip
    assert a.details() == msgspec.json.decode(a.details_json())
    assert points(_event(earning, "walked", {"steps": 12_345})) == {"ern_steps": 12, "ern_age": 4}
    assert points(_event(earning, "walked", None, customer=alice())) == {}
    assert points(_event(earning, "unknown-event")) == {}


def test_segment_entered_earns_for_that_segment_only(earning) -> None:
    assert points(_event(earning, "customer.segment.entered", related="seg_vip")) == {"ern_vip": 30}
    assert points(_event(earning, "customer.segment.entered", related="seg_big")) == {"ern_big": 84}
    plan = _event(earning, "customer.segment.entered", related="seg_other")
    assert plan.accruals == []
    a = _event(earning, "customer.segment.entered", related="seg_vip").accruals[0]
    assert a.details_json() == msgspec.json.encode({
        "event": {"type": "customer.segment.entered"},
        "earning_rule": {"id": "ern_vip", "source": {"banner": ""}},
        "segment": {"id": "seg_vip"},
    })  # fmt: skip


def test_tier_events_earn_in_the_tier_s_program(earning) -> None:
    ev = "customer.loyalty.tier.joined"
    assert points(_event(earning, ev, related="ltr_g")) == {"ern_gold": 100, "ern_any": 5}
    assert points(_event(earning, ev, related="ltr_s")) == {"ern_any": 5}
    assert points(_event(earning, ev, related="ltr_m")) == {"ern_m_any": 9}
    assert points(_event(earning, ev, related="ltr_gone")) == {}
    assert points(_event(earning, "customer.loyalty.tier.left", related="ltr_g")) == {}
    a = _event(earning, ev, related="ltr_g", event_id="tier:o1").accruals[0]
    assert (a.event, a.related_id, a.source_id, a.tier_id) == (ev, "ltr_g", "tier:o1", "")
    assert a.details()["event"] == {"type": ev, "loyalty_tier": {"id": "ltr_g"}}


def test_an_order_is_planned_by_plan_order_paid(earning) -> None:
    ix = earning.compile_earning(_events())
    with pytest.raises(ValueError, match="plan_order_paid"):
        earning.plan_event(ix, CARDS2, alice(), "order.paid", None, NOW_MS)


# ----------------------------------------------------------------------------- acceptance: 15a and issue 10


def test_acceptance_15a(earning) -> None:
    """VOUCHERIFY-LOYALTY.md 15a steps 3, 6 and 17: 1 pt per 1.00, +1 pt per 1.00 from 150.00."""
    d = ldefs(
        [program(auto_join=True, join_once=True)],
        [
            ern("ern_1", prop("ORDER_AMOUNT", 100, 1), source={"banner": "1 pt / 1.00"}),
            ern("ern_2", prop("ORDER_AMOUNT", 100, 1), validation_rule_id="val_150",
                source={"banner": "+1 pt / 1.00 from 150.00"}),  # fmt: skip
        ],
        vrules=[vrule("val_150", rule("order.amount", "$more_than_or_equal", 15000))],
    )
    o1 = paid(20000, m.OrderItem(source_id="tee", related_object="product", quantity=2, price=10000,
                                 amount=20000), source_id="o-1")  # fmt: skip
    plan = earn(earning, d, o1)
    assert [(a.rule_id, a.points) for a in plan.accruals] == [("ern_1", 200), ("ern_2", 200)]
    # step 17: 100.00 paid with 3.00 of points; ORDER_AMOUNT is before the discount
    o2 = paid(10000, source_id="o-2", discount_amount=300, total_amount=9700)
    assert [(a.rule_id, a.points) for a in earn(earning, d, o2).accruals] == [("ern_1", 100)]
    # alice without a card: auto_join says publish one first
    assert earn(earning, d, o1, cards={}).join == ["camp_L"]


def _fuel_station() -> m.Definitions:
    """Issue 10's fuel station: 1 point per litre of fuel (litres are the fuel lines' quantity),
    x2 over 15 litres in one visit, a welcome bonus on the first paid order, a birthday bonus."""
    return ldefs(
        [program("camp_F", expiration=months(12, "END_OF_YEAR"), auto_join=True)],
        [
            ern("ern_litre", prop("ORDER_ITEMS_QUANTITY", 1, 1, object="products_collection", id="col_fuel"),
                cid="camp_F", source={"banner": "1 point per litre"}),  # fmt: skip
            ern("ern_15l", prop("ORDER_ITEMS_QUANTITY", 1, 1, object="products_collection", id="col_fuel"),
                cid="camp_F", validation_rule_id="val_15l", source={"banner": "x2 over 15 litres"}),  # fmt: skip
            # the first paid order: the customer's metrics say no order yet; the lifetime
            # limit keeps two racing first orders from both getting it (counted by Lua)
            ern("ern_welcome", fixed(100), cid="camp_F", validation_rule_id="val_first",
                limits={"per_customer": {"count": 1}}),  # fmt: skip
            ern("ern_bday", fixed(50), cid="camp_F", event="birthday",
                limits={"per_customer": {"count": 1, "period": "MONTH"}}),  # fmt: skip
        ],
        vrules=[
            vrule("val_15l", rule("order.items.any", "$in", "col_fuel",
                                  rules={"1": rule("order.items.quantity", "$more_than", 15)})),  # fmt: skip
            vrule("val_first", rule("customer.orders.count", "$is", 0)),
        ],
        products=[{"id": "prod_fuel", "collections": ["col_fuel"],
                   "skus": [{"id": "sku_diesel", "price": 179}, {"id": "sku_e10", "price": 185}]},
                  {"id": "prod_coffee", "price": 250}],  # fmt: skip
    )


def test_fuel_station(earning) -> None:
    d = _fuel_station()
    cards = {"camp_F": "FUEL-1"}
    first = _metrics(0)
    regular = _metrics(7)
    # 12 litres of diesel and a coffee, first visit: 12 + welcome 100
    visit = paid(None, line(None, 12, 179, sku="sku_diesel"), line("prod_coffee", 1, 250))
    assert points(earn(earning, d, visit, cards, first)) == {"ern_litre": 12, "ern_welcome": 100}
    # 40 litres of E10: x2 over 15 litres; no welcome bonus any more
    visit = paid(None, line(None, 40, 185, sku="sku_e10"))
    assert points(earn(earning, d, visit, cards, regular)) == {"ern_litre": 40, "ern_15l": 40}
    # exactly 15 litres is not over 15
    visit = paid(None, line(None, 15, 185, sku="sku_e10"), line("prod_coffee", 20, 250))
    assert points(earn(earning, d, visit, cards, regular)) == {"ern_litre": 15}
    # points expire at the end of next year
    a = earn(earning, d, visit, cards, regular).accruals[0]
    assert a.expires_at_ms == day_ms(2028, 1, 1)
    # the welcome bonus counts once per customer, ever
    plan = earn(earning, d, paid(None, line(None, 5, 179, sku="sku_diesel")), cards, first)
    assert plan.keys() == ["{c:camp_F}:ern:ern_welcome:c:alice"]
    plan = earn(earning, d, paid(None, line(None, 5, 179, sku="sku_diesel")), cards, first,
                counters={"{c:camp_F}:ern:ern_welcome:c:alice": 1})  # fmt: skip
    assert points(plan) == {"ern_litre": 5}
    # a birthday, through a custom event; once a month
    ix = earning.compile_earning(d)
    plan = earning.plan_event(ix, cards, regular, "birthday", {}, NOW_MS, "", "evt_bd")
    assert points(plan) == {"ern_bday": 50}
    assert plan.keys() == ["{c:camp_F}:ern:ern_bday:c:alice:m:202603"]
    # a driver without a card joins first
    assert earn(earning, d, visit, {}, regular).join == ["camp_F"]


# ----------------------------------------------------------------------------- twins and loading


def test_the_pure_twin_runs_on_the_pure_engine() -> None:
    pure = core.twins("earning")["pure"]
    assert pure._E is core.engines()["pure"]
    ix = pure.compile_earning(ldefs([program()], [ern("ern_1", fixed(1), validation_rule_id="v")],
                                    vrules=[vrule("v", rule("order.amount", "$more_than", 1))]))  # fmt: skip
    assert type(ix.rules["ern_1"].rule) is core.engines()["pure"].RuleSet_


def test_the_compiled_twin_runs_on_the_compiled_engine(both_earnings) -> None:
    if both_earnings is None:
        pytest.skip("the compiled earning planner is not built")
    _, compiled = both_earnings
    assert compiled.__file__.endswith((".so", ".pyd"))
    ix = compiled.compile_earning(ldefs([program()], [ern("ern_1", fixed(1), validation_rule_id="v")],
                                        vrules=[vrule("v", rule("order.amount", "$more_than", 1))]))  # fmt: skip
    assert type(ix.rules["ern_1"].rule) is core.engines()["compiled"].RuleSet_


def test_promogate_pure_selects_both_pure_twins() -> None:
    code = (
        "import core, core.earning\n"
        "from core import earning\n"
        "assert earning is core.earning and core.earning.__name__ == 'core.earning_py', earning\n"
        "assert core.earning._E is core.engine and not core.COMPILED and not core.EARNING_COMPILED\n"
        "print('ok')\n"
    )
    env = {**os.environ, "PROMOGATE_PURE": "1"}
    env.pop("PROMOGATE_REQUIRE_COMPILED", None)
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_twins_knows_core_s_compiled_modules() -> None:
    assert set(core.MODULES) == {"_engine", "earning"}
    with pytest.raises(ValueError, match="no compiled module"):
        core.twins("nothing")


def test_cards_may_be_codes_or_pairs(earning) -> None:
    d = ldefs([program()], [ern("ern_1", fixed(1))], [ltier("ltr_1", 0, earning={"ern_1": custom(9)})])
    for card, pts in (("C", 1), (("C",), 1), (("C", None), 1), (["C", "ltr_1"], 9)):
        assert points(earn(earning, d, paid(1), cards={"camp_L": card})) == {"ern_1": pts}
    assert CARDS == {"camp_L": "CLUB-1"}  # the helpers' default card is untouched
    for bad in ((None, "ltr_1"), ("C", 5)):
        with pytest.raises(TypeError, match="a card is its code"):
            earn(earning, d, paid(1), cards={"camp_L": bad})


def test_day_boundaries_follow_utc(earning) -> None:
    d = ldefs([program(expiration=months(1))], [ern("ern_1", fixed(1))])
    just_before = day_ms(2026, 1, 31) + DAY_MS - 1
    assert earn(earning, d, paid(1), now_ms=just_before).accruals[0].expires_at_ms == day_ms(2026, 3, 1)
    assert earn(earning, d, paid(1), now_ms=just_before + 1).accruals[0].expires_at_ms == day_ms(2026, 3, 2)
