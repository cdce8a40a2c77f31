"""Every discount type and effect, item targeting, gift cards, loyalty points, tiered spend and
buy-X-get-Y, with exact cents."""

from __future__ import annotations

import pytest
from unit_helpers import (
    NOW_MS,
    amount_off,
    campaign,
    customer,
    defs,
    fixed,
    gift_campaign,
    item,
    line_discounts,
    loyalty_campaign,
    one,
    order,
    percent_off,
    promotion,
    red,
    reds,
    rule,
    run,
    status,
    target,
    tier,
    totals,
    unit,
    voucher,
    vrule,
)

from core import model as m

# a: 2 x 1000, b: 1 x 500, c: 3 x 300  ->  3400
CART = order(item("a", 1000, 2), item("b", 500, 1), item("c", 300, 3))


def _check_totals(ev) -> None:
    assert ev.total_amount == ev.amount - ev.discount_amount - ev.items_discount_amount
    assert sum(line_discounts(ev)) == ev.items_discount_amount
    assert all(0 <= it.discount <= it.amount for it in ev.items)


@pytest.mark.parametrize(
    ("discount", "order_cents", "lines"),
    [
        (amount_off(700), 700, [0, 0, 0]),
        (amount_off(700, "APPLY_TO_ITEMS"), 0, [700, 500, 700]),  # per line, capped at the line
        (amount_off(700, "APPLY_TO_ITEMS_BY_QUANTITY"), 0, [1400, 500, 900]),  # per unit, capped
        (amount_off(700, "APPLY_TO_ITEMS_PROPORTIONALLY"), 0, [412, 103, 185]),  # by line amount
        (amount_off(700, "APPLY_TO_ITEMS_PROPORTIONALLY_BY_QUANTITY"), 0, [233, 117, 350]),  # by units
        (amount_off(5000), 3400, [0, 0, 0]),  # never below zero
        (amount_off(5000, "APPLY_TO_ITEMS_PROPORTIONALLY"), 0, [2000, 500, 900]),
        (percent_off(10), 340, [0, 0, 0]),
        (percent_off(10, "APPLY_TO_ITEMS"), 0, [200, 50, 90]),
        (percent_off(10, limit=250), 250, [0, 0, 0]),  # amount_limit caps
        (percent_off(10, "APPLY_TO_ITEMS", limit=250), 0, [147, 37, 66]),  # cap split by share
        (percent_off(12.5), 425, [0, 0, 0]),
        (percent_off(100), 3400, [0, 0, 0]),
        (fixed(2000), 1400, [0, 0, 0]),  # the order now costs 2000
        (fixed(5000), 0, [0, 0, 0]),  # a fixed price above the order gives nothing
        (fixed(200, "APPLY_TO_ITEMS"), 0, [1600, 300, 300]),  # every unit now costs 200
        (fixed(0, "APPLY_TO_ITEMS"), 0, [2000, 500, 900]),
    ],
)
def test_amount_percent_fixed(engine, discount: dict, order_cents: int, lines: list[int]) -> None:
    ev = one(engine, discount, CART)
    assert status(ev) == [("CODE", "APPLICABLE", "")]
    assert ev.discount_amount == order_cents
    assert line_discounts(ev) == lines
    assert ev.total_amount == 3400 - order_cents - sum(lines)
    assert ev.outcomes[0].total_discount == order_cents + sum(lines)
    _check_totals(ev)


def test_item_discounts_never_exceed_an_explicit_smaller_order_amount(engine) -> None:
    cart = order(item("a", 1000, 2), item("b", 500, 1), amount=1000)
    ev = one(engine, percent_off(80, "APPLY_TO_ITEMS"), cart)
    assert (ev.amount, ev.items_discount_amount, ev.total_amount) == (1000, 1000, 0)
    assert line_discounts(ev) == [800, 200]  # 1600 and 400 scaled into the 1000 left
    _check_totals(ev)


def test_item_discounts_are_reported_per_line(engine) -> None:
    ev = one(engine, amount_off(700, "APPLY_TO_ITEMS_PROPORTIONALLY"), CART)
    o = ev.outcomes[0]
    assert o.item_discounts == [(0, 412), (1, 103), (2, 185)]
    assert (o.order_discount, o.items_discount) == (0, 700)
    assert (o.amount_after, o.discount_after, o.items_discount_after) == (3400, 0, 700)


# ----------------------------------------------------------------------------- UNIT


def test_unit_add_missing_when_present(engine) -> None:
    ev = one(engine, unit("a", 1), CART)  # two are in the cart: nothing added, one free
    assert ev.outcomes[0].added == []
    assert totals(ev) == {"amount": 3400, "discount_amount": 0, "items_discount_amount": 1000, "total_amount": 2400}
    assert line_discounts(ev) == [1000, 0, 0]


def test_unit_add_missing_tops_up(engine) -> None:
    ev = one(engine, unit("b", 2), CART)  # one in the cart: one added, both free
    assert ev.outcomes[0].added == [(1, 1)]
    assert ev.items[1].added == 1
    assert ev.items[1].amount == 1000
    assert totals(ev) == {"amount": 3900, "discount_amount": 0, "items_discount_amount": 1000, "total_amount": 2900}
    _check_totals(ev)


def test_unit_add_missing_when_absent_uses_catalogue_price(engine) -> None:
    d = defs(
        vouchers=[voucher("CODE", unit("mug", 1))],
        products=[{"id": "mug", "price": 250}],
    )
    ev = run(engine, d, reds("CODE"), CART)
    assert ev.outcomes[0].added == [(3, 1)]
    assert len(ev.items) == 4
    assert (ev.items[3].product_id, ev.items[3].price, ev.items[3].amount, ev.items[3].discount) == ("mug", 250, 250, 250)
    assert totals(ev) == {"amount": 3650, "discount_amount": 0, "items_discount_amount": 250, "total_amount": 3400}


def test_unit_sku_price_wins_over_product_price(engine) -> None:
    d = defs(
        vouchers=[voucher("CODE", unit("mug_red", 2))],
        products=[{"id": "mug", "price": 250, "skus": [{"id": "mug_red", "price": 300}]}],
    )
    ev = run(engine, d, reds("CODE"), CART)
    assert ev.outcomes[0].added == [(3, 2)]
    assert ev.items_discount_amount == 600
    assert ev.total_amount == 3400


def test_unit_add_new_items_adds_even_when_present(engine) -> None:
    ev = one(engine, unit("a", 1, "ADD_NEW_ITEMS"), CART)
    assert ev.outcomes[0].added == [(0, 1)]
    assert ev.items[0].quantity == 2 and ev.items[0].added == 1
    assert totals(ev) == {"amount": 4400, "discount_amount": 0, "items_discount_amount": 1000, "total_amount": 3400}


def test_free_shipping_discounts_the_shipping_line(engine) -> None:
    cart = order(item("a", 1000), item("prod_5h1pp1ng", 499))
    ev = one(engine, unit("prod_5h1pp1ng", 1), cart)
    assert ev.outcomes[0].added == []
    assert line_discounts(ev) == [0, 499]
    assert ev.total_amount == 1000


def test_free_shipping_without_a_shipping_line_adds_a_free_one(engine) -> None:
    ev = one(engine, unit("prod_5h1pp1ng", 1), order(item("a", 1000)))
    assert ev.outcomes[0].status == "APPLICABLE"
    assert ev.outcomes[0].added == [(1, 1)]
    assert ev.items[1].product_id == "prod_5h1pp1ng"
    assert ev.total_amount == 1000 and ev.items_discount_amount == 0


# ----------------------------------------------------------------------------- targeting

# a: 2 x 1000, b: 1 x 500, c: 3 x 300, d: 1 x 800  ->  4200, all in category "grp"
CART4 = order(item("a", 1000, 2), item("b", 500, 1), item("c", 300, 3), item("d", 800, 1))
GRP = [{"id": p, "categories": ["grp"]} for p in "abcd"]


def _targeted(engine, discount: dict, included=None, excluded=None, included_all=False):
    d = defs(
        vouchers=[voucher("CODE", discount, validation_rules=["r"])],
        rules=[vrule("r", included=included, excluded=excluded, included_all=included_all)],
        products=GRP,
    )
    ev = run(engine, d, reds("CODE"), CART4)
    assert ev.outcomes[0].status == "APPLICABLE"
    _check_totals(ev)
    return ev


@pytest.mark.parametrize(
    ("tgt", "lines"),
    [
        (target("grp", "category"), [1000, 250, 450, 400]),  # every unit of every line
        (target("grp", "category", "APPLY_TO_CHEAPEST"), [0, 0, 150, 0]),  # one unit of c
        (target("grp", "category", "APPLY_TO_CHEAPEST", quantity_limit=2), [0, 0, 300, 0]),
        (target("grp", "category", "APPLY_FROM_CHEAPEST", aggregated_quantity_limit=4), [0, 250, 450, 0]),
        (target("grp", "category", "APPLY_TO_MOST_EXPENSIVE"), [500, 0, 0, 0]),
        (target("grp", "category", "APPLY_FROM_MOST_EXPENSIVE", aggregated_quantity_limit=3), [1000, 0, 0, 400]),
        (target("grp", "category", quantity_limit=1), [500, 250, 150, 400]),
        (target("grp", "category", amount_limit=300), [300, 250, 300, 300]),
        (target("grp", "category", aggregated_amount_limit=1000), [1000, 0, 0, 0]),
        (target("c", "product"), [0, 0, 450, 0]),
        (target("c", "product", quantity_limit=2), [0, 0, 300, 0]),
    ],
)
def test_targets_with_half_off(engine, tgt: dict, lines: list[int]) -> None:
    ev = _targeted(engine, percent_off(50, "APPLY_TO_ITEMS"), included=[tgt])
    assert line_discounts(ev) == lines


def test_two_targets_each_by_its_own_rules(engine) -> None:
    ev = _targeted(engine, percent_off(10, "APPLY_TO_ITEMS"), included=[target("a"), target("c")])
    assert line_discounts(ev) == [200, 0, 90, 0]


def test_excluded_lines_get_nothing(engine) -> None:
    ev = _targeted(engine, percent_off(10, "APPLY_TO_ITEMS"), excluded=[target("a")])
    assert line_discounts(ev) == [0, 50, 90, 80]
    ev = _targeted(engine, percent_off(10, "APPLY_TO_ITEMS"), included=[target("grp", "category")],
                   excluded=[target("b"), target("d")])  # fmt: skip
    assert line_discounts(ev) == [200, 0, 90, 0]


def test_included_all_ignores_targets(engine) -> None:
    ev = _targeted(engine, percent_off(10, "APPLY_TO_ITEMS"), included=[target("a")], included_all=True)
    assert line_discounts(ev) == [200, 50, 90, 80]


def test_cheapest_line_free_with_amount_by_quantity(engine) -> None:
    ev = _targeted(engine, amount_off(1000, "APPLY_TO_ITEMS_BY_QUANTITY"),
                   included=[target("grp", "category", "APPLY_TO_CHEAPEST")])  # fmt: skip
    assert line_discounts(ev) == [0, 0, 300, 0]


def test_order_level_discount_on_targeted_lines_only(engine) -> None:
    ev = _targeted(engine, percent_off(10), included=[target("a")])
    assert (ev.discount_amount, ev.items_discount_amount) == (200, 0)
    ev = _targeted(engine, amount_off(5000), included=[target("b")])  # capped at b's 500
    assert ev.discount_amount == 500
    ev = _targeted(engine, fixed(1200), included=[target("a")])  # a's 2000 now costs 1200
    assert ev.discount_amount == 800
    ev = _targeted(engine, percent_off(10), excluded=[target("a")])  # 10 % of 2200
    assert ev.discount_amount == 220


def test_targeted_lines_absent_give_nothing(engine) -> None:
    ev = _targeted(engine, percent_off(50, "APPLY_TO_ITEMS"), included=[target("zzz")])
    assert ev.items_discount_amount == 0
    assert ev.total_amount == 4200


def test_sku_targets_and_source_ids(engine) -> None:
    cart = order(
        item("shoe", 4000, 1, sku="shoe_42"),
        item("shoe", 4000, 1, sku="shoe_43"),
    )
    d = defs(
        vouchers=[voucher("CODE", percent_off(25, "APPLY_TO_ITEMS"), validation_rules=["r"])],
        rules=[vrule("r", included=[target("shoe_43", "sku")])],
    )
    ev = run(engine, d, reds("CODE"), cart)
    assert line_discounts(ev) == [0, 1000]


# ----------------------------------------------------------------------------- gift cards

GIFT_DEFS = defs(
    campaigns=[gift_campaign("gc", 5000), campaign("pc", percent_off(20))],
    vouchers=[voucher("GIFT", campaign_id="gc"), voucher("P20", campaign_id="pc")],
)
SPENT = "{c:gc}:v:GIFT:spent"


def test_gift_explicit_credits(engine) -> None:
    ev = run(engine, GIFT_DEFS, [red("GIFT", credits=1200)], order(item("a", 3000)), counters={SPENT: 1000})
    o = ev.outcomes[0]
    assert (o.status, o.gift_credits, o.gift_balance, o.order_discount) == ("APPLICABLE", 1200, 2800, 1200)
    assert ev.discount_amount == 1200 and ev.total_amount == 1800


def test_gift_credits_above_balance(engine) -> None:
    ev = run(engine, GIFT_DEFS, [red("GIFT", credits=4001)], order(item("a", 9000)), counters={SPENT: 1000})
    assert status(ev) == [("GIFT", "INAPPLICABLE", "gift_amount_exceeded")]
    assert ev.valid is False
    assert ev.total_amount == 9000
    assert ev.outcomes[0].ops == []


def test_gift_credits_exactly_the_balance(engine) -> None:
    ev = run(engine, GIFT_DEFS, [red("GIFT", credits=4000)], order(item("a", 9000)), counters={SPENT: 1000})
    assert ev.outcomes[0].gift_credits == 4000
    assert ev.outcomes[0].gift_balance == 0


@pytest.mark.parametrize(
    ("spent", "order_cents", "used"),
    [(0, 3000, 3000), (0, 9000, 5000), (4000, 3000, 1000), (2000, 2500, 2500)],
)
def test_gift_without_credits_takes_min_of_balance_and_order(engine, spent, order_cents, used) -> None:
    ev = run(engine, GIFT_DEFS, [red("GIFT")], order(item("a", order_cents)), counters={SPENT: spent})
    o = ev.outcomes[0]
    assert (o.gift_credits, o.gift_balance) == (used, 5000 - spent - used)
    assert ev.total_amount == order_cents - used
    assert ev.needs_counters is False


def test_gift_without_credits_and_without_counters_asks_for_counters(engine) -> None:
    ev = run(engine, GIFT_DEFS, [red("GIFT")], order(item("a", 9000)))
    assert ev.needs_counters is True
    assert ev.outcomes[0].gift_credits == 5000  # assumes the full amount until counters are read
    assert ev.outcomes[0].gift_balance == -1  # unknown


def test_gift_spent_card(engine) -> None:
    ev = run(engine, GIFT_DEFS, [red("GIFT")], order(item("a", 3000)), counters={SPENT: 5000})
    assert status(ev) == [("GIFT", "INAPPLICABLE", "gift_amount_exceeded")]


def test_gift_then_percent_voucherify_worked_example(engine) -> None:
    """VOUCHERIFY-CONTRACT.md: 20 % after a 100-cent gift credit on 200000 gives 39980."""
    ev = run(engine, GIFT_DEFS, [red("GIFT", credits=100), red("P20")], order(item("a", 200000)))
    gift, pct = ev.outcomes
    assert gift.order_discount == 100
    assert pct.order_discount == 39980
    assert (pct.amount_after, pct.discount_after) == (200000, 40080)
    assert ev.discount_amount == 40080
    assert ev.total_discount_amount == 40080
    assert ev.total_amount == 159920


# ----------------------------------------------------------------------------- loyalty

LOYALTY_DEFS = defs(
    campaigns=[loyalty_campaign("lc", 1000, point_value=2)],
    vouchers=[voucher("CARD", campaign_id="lc")],
)
POINTS = "{c:lc}:v:CARD:points"


def test_pay_with_points(engine) -> None:
    ev = run(engine, LOYALTY_DEFS, [red("CARD", points=100, reward="rew_1")], order(item("a", 3000)),
             counters={POINTS: 300})  # fmt: skip
    o = ev.outcomes[0]
    assert (o.status, o.points, o.points_balance, o.order_discount) == ("APPLICABLE", 100, 600, 200)
    assert ev.total_amount == 2800


def test_points_worth_more_than_the_order_are_capped(engine) -> None:
    ev = run(engine, LOYALTY_DEFS, [red("CARD", points=1000, reward="rew_1")], order(item("a", 500)), counters={})
    assert ev.discount_amount == 500 and ev.total_amount == 0


def test_missing_reward(engine) -> None:
    ev = run(engine, LOYALTY_DEFS, [red("CARD")], order(item("a", 3000)))
    assert status(ev) == [("CARD", "INAPPLICABLE", "missing_reward")]
    assert ev.outcomes[0].message == "Missing reward"


def test_points_exceeded(engine) -> None:
    ev = run(engine, LOYALTY_DEFS, [red("CARD", points=701, reward="rew_1")], order(item("a", 3000)),
             counters={POINTS: 300})  # fmt: skip
    assert status(ev) == [("CARD", "INAPPLICABLE", "loyalty_card_points_exceeded")]
    assert ev.total_amount == 3000


# ----------------------------------------------------------------------------- tiered spend, BOGO

TIERED = defs(
    campaigns=[
        promotion(
            "spend",
            tier("promo_10", percent_off(10), "over_100", hierarchy=2),
            tier("promo_20", percent_off(20), "over_200", hierarchy=1),
        )
    ],
    rules=[
        vrule("over_100", rule("order.amount", "$more_than_or_equal", 10000)),
        vrule("over_200", rule("order.amount", "$more_than_or_equal", 20000)),
    ],
    stacking={"redeemables_application_mode": "PARTIAL"},
)


@pytest.mark.parametrize(
    ("cents", "tier_id", "key", "discount"),
    [
        (25000, "promo_20", "", 5000),
        (25000, "promo_10", "", 2500),
        (15000, "promo_10", "", 1500),
        (15000, "promo_20", "order_rules_violated", 0),
        (9999, "promo_10", "order_rules_violated", 0),
        (10000, "promo_10", "", 1000),
    ],
)
def test_tiered_spend(engine, cents, tier_id, key, discount) -> None:
    ev = run(engine, TIERED, [red(tier_id, "promotion_tier")], order(item("a", cents)))
    assert ev.outcomes[0].key == key
    assert ev.outcomes[0].status == ("APPLICABLE" if not key else "INAPPLICABLE")
    assert ev.discount_amount == discount


def test_tiered_spend_qualifications_offer_the_best_reachable_tier(engine) -> None:
    rs = engine.compile_ruleset(TIERED)
    got = engine.qualify(rs, customer(), order(item("a", 25000)), 0, sorting="BEST_DEAL")
    assert [(o.id, o.total_discount) for o in got] == [("promo_20", 5000), ("promo_10", 2500)]
    got = engine.qualify(rs, customer(), order(item("a", 15000)), 0, sorting="BEST_DEAL")
    assert [(o.id, o.total_discount) for o in got] == [("promo_10", 1500)]


def _bogo(engine, cart):
    d = defs(
        campaigns=[
            promotion(
                "bogo",
                tier("promo_sock", unit("sock", 1), "two_shirts"),
            )
        ],
        rules=[
            vrule(
                "two_shirts",
                rule("order.items.any", "$is", "shirt",
                     rules={"1": rule("order.items.quantity", "$more_than_or_equal", 2)}),
            )
        ],  # fmt: skip
        products=[{"id": "sock", "price": 700}, {"id": "shirt", "price": 3000}],
    )
    return run(engine, d, [red("promo_sock", "promotion_tier")], cart)


def test_buy_two_shirts_get_a_sock(engine) -> None:
    ev = _bogo(engine, order(item("shirt", 3000, 2)))
    assert status(ev) == [("promo_sock", "APPLICABLE", "")]
    assert ev.outcomes[0].added == [(1, 1)]
    assert totals(ev) == {"amount": 6700, "discount_amount": 0, "items_discount_amount": 700, "total_amount": 6000}


def test_buy_two_shirts_sock_already_in_cart(engine) -> None:
    ev = _bogo(engine, order(item("shirt", 3000, 2), item("sock", 700, 3)))
    assert ev.outcomes[0].added == []
    assert line_discounts(ev) == [0, 700]
    assert ev.total_amount == 6000 + 1400


def test_one_shirt_is_not_enough(engine) -> None:
    ev = _bogo(engine, order(item("shirt", 3000, 1), item("other", 100, 5)))
    assert status(ev) == [("promo_sock", "INAPPLICABLE", "order_rules_violated")]
    assert ev.total_amount == 3500


def test_gift_credits_above_the_card_amount_fail_even_without_counters(engine) -> None:
    d = defs(campaigns=[gift_campaign("camp_g", 5000)], vouchers=[voucher("G", campaign_id="camp_g")])
    rs = engine.compile_ruleset(d)
    r = m.Redeemable(object="voucher", id="G", gift=m.GiftRequest(credits=6000))
    ev = engine.evaluate(rs, [r], None, m.Order(amount=10000), NOW_MS)
    assert [(o.status, o.key) for o in ev.outcomes] == [("INAPPLICABLE", "gift_amount_exceeded")]
    assert ev.total_amount == 10000


def test_amount_per_line_applies_once_when_targets_overlap(engine) -> None:
    d = defs(
        vouchers=[voucher("C", amount_off(100, "APPLY_TO_ITEMS"), validation_rules=["r"])],
        validation_rules=[{
            "id": "r",
            "applicable_to": {"included": [
                {"object": "product", "id": "p3", "quantity_limit": 1},
                {"object": "category", "id": "cat_a"},
            ]},
        }],
        products=[{"id": "p3", "categories": ["cat_a"]}],
    )  # fmt: skip
    rs = engine.compile_ruleset(d)
    ev = engine.evaluate(
        rs, [m.Redeemable(object="voucher", id="C")], None,
        m.Order(items=[m.OrderItem(product_id="p3", quantity=2, price=1000)]), NOW_MS,
    )  # fmt: skip
    assert ev.items_discount_amount == 100
    assert [(o.status, o.item_discounts) for o in ev.outcomes] == [("APPLICABLE", [(0, 100)])]
