"""store.keys names every Redis key; core's planner spells the counter keys of its plans. These
tests hold the two to one spelling, for both engines: a plan whose keys drifted from the schema
would count in keys that admin's reports never read."""

from __future__ import annotations

from unit_helpers import (
    campaign,
    customer,
    defs,
    gift_campaign,
    item,
    loyalty_campaign,
    order,
    red,
    reds,
    run,
    voucher,
)

from core import model as m
from store.keys import CAMPAIGN_COUNTERS, Keys, campaign_tag, voucher_counter_keys, voucher_tag

CART = order(item("a", 10000))


def _code(d: m.Definitions, code: str) -> m.Voucher:
    return next(v for v in d.vouchers if v.code == code)


def test_a_gift_cards_plan_uses_the_schemas_counter_keys(engine) -> None:
    d = defs(
        campaigns=[gift_campaign("g", 5000, limits={"gift_credits": 100000})],
        vouchers=[voucher("GIFT", campaign_id="g")],
    )
    ev = run(engine, d, [red("GIFT", credits=1200)], CART)
    keys = [op[0] for op in ev.plan]
    uses, spent, _points = voucher_counter_keys(_code(d, "GIFT"))
    assert keys[:2] == [uses, spent]
    campaign_keys = [campaign_tag("g") + s for s in CAMPAIGN_COUNTERS]
    assert keys[2:] == campaign_keys
    assert Keys("pg:").campaign_counters("g") == ["pg:" + k for k in campaign_keys]


def test_a_loyalty_cards_points_key_is_the_schemas(engine) -> None:
    d = defs(
        campaigns=[loyalty_campaign("l", 1000)],
        vouchers=[voucher("CARD", campaign_id="l")],
    )
    ev = run(engine, d, [red("CARD", points=300)], CART)
    _uses, _spent, points = voucher_counter_keys(_code(d, "CARD"))
    assert (points, 300) in [(op[0], op[1]) for op in ev.plan]


def test_a_standalone_code_and_per_customer_keys_carry_the_schemas_tags(engine) -> None:
    d = defs(
        campaigns=[campaign("c", {"type": "AMOUNT", "amount_off": 100},
                            limits={"per_customer": 2})],  # fmt: skip
        vouchers=[voucher("SOLO", {"type": "AMOUNT", "amount_off": 100}, redemption={"quantity": 3}),
                  voucher("A", campaign_id="c")],  # fmt: skip
    )
    solo = run(engine, d, reds("SOLO"), CART, customer("cu"))
    assert solo.plan[0][0] == voucher_counter_keys(_code(d, "SOLO"))[0]
    assert voucher_tag(_code(d, "SOLO")) == "{v:SOLO}"
    camp = run(engine, d, reds("A"), CART, customer("cu"))
    assert all(op[0].startswith(campaign_tag("c") + ":") for op in camp.plan)
