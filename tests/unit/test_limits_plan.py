"""The counter plan: ``(key, delta, limit, error, ttl, hold)`` ops, and live counters."""

from __future__ import annotations

from unit_helpers import (
    NOW_MS,
    amount_off,
    campaign,
    customer,
    defs,
    gift_campaign,
    item,
    ms,
    normalize,
    order,
    percent_off,
    promotion,
    red,
    reds,
    rule,
    run,
    status,
    tier,
    voucher,
    vrule,
)

from core import model as m

CART = order(item("a", 10000))
NO = -1
USES_MAX = m.USES_MAX
Q = "quantity_exceeded"
R = "redemption_rules_violated"
# NOW is Wednesday 2026-03-04 12:30 UTC: to the end of the day 41400 s, of the ISO week
# (Monday 00:00) 387000 s, of the month 2374200 s; every TTL keeps one spare day
DAY_TTL = 41400 + 86400
WEEK_TTL = 387000 + 86400
MONTH_TTL = 2374200 + 86400


def test_standalone_code_with_quantity(engine) -> None:
    d = defs(vouchers=[voucher("CODE", amount_off(500), redemption={"quantity": 3})])
    ev = run(engine, d, reds("CODE"), CART, customer("cu"))
    assert ev.outcomes[0].ops == [("{v:CODE}:v:CODE:uses", 1, 3, Q, 0, 1)]
    assert ev.plan == ev.outcomes[0].ops


def test_unlimited_code_still_counts_uses(engine) -> None:
    d = defs(vouchers=[voucher("CODE", amount_off(500))])
    ev = run(engine, d, reds("CODE"), CART)
    # counted against USES_MAX, not "no limit": a counter set to it revokes the code
    assert ev.plan == [("{v:CODE}:v:CODE:uses", 1, USES_MAX, Q, 0, 1)]


def _full(rule_limit: dict | None = None):
    rules = [rule("order.amount", "$more_than", 0)]
    if rule_limit is not None:
        rules.append(rule_limit)
    return defs(
        campaigns=[
            campaign(
                "c",
                percent_off(10),
                limits={
                    "redemptions": 100,
                    "redemptions_per_day": 10,
                    "discounted_amount": 50000,
                    "order_value": 10**6,
                    "per_customer": 5,
                    "per_customer_per_day": 1,
                    "per_customer_per_week": 2,
                    "per_customer_per_month": 3,
                },
                validation_rules=["cr"],
            )
        ],
        vouchers=[
            voucher("A", campaign_id="c", redemption={"quantity": 7, "per_customer": 2}),
            voucher("B", campaign_id="c"),
        ],
        rules=[vrule("cr", *rules)],
        stacking={"redeemables_application_mode": "PARTIAL"},
    )


def test_campaign_limits_become_ops(engine) -> None:
    ev = run(engine, _full(), reds("A"), CART, customer("cu"))
    assert ev.outcomes[0].ops == [
        ("{c:c}:v:A:uses", 1, 7, Q, 0, 1),
        ("{c:c}:v:A:c:cu", 1, 2, Q, 0, 0),
        ("{c:c}:uses", 1, 100, Q, 0, 0),
        ("{c:c}:uses:d:20260304", 1, 10, Q, DAY_TTL, 0),
        ("{c:c}:disc", 1000, 50000, R, 0, 0),
        ("{c:c}:ordval", 10000, 10**6, R, 0, 0),
        ("{c:c}:cust:cu", 1, 5, R, 0, 0),
        ("{c:c}:cust:cu:d:20260304", 1, 1, R, DAY_TTL, 0),
        ("{c:c}:cust:cu:w:2026W10", 1, 2, R, WEEK_TTL, 0),
        ("{c:c}:cust:cu:m:202603", 1, 3, R, MONTH_TTL, 0),
    ]


def test_keys_follow_the_injected_clock(engine) -> None:
    # 2026-12-31 is a Thursday in ISO week 2026-W53
    ev = run(engine, _full(), reds("A"), CART, customer("cu"), now_ms=ms(2026, 12, 31, 23, 0))
    keys = {op[0]: op[4] for op in ev.outcomes[0].ops}
    assert keys["{c:c}:uses:d:20261231"] == 3600 + 86400
    assert keys["{c:c}:cust:cu:w:2026W53"] == 3 * 86400 + 3600 + 86400
    assert keys["{c:c}:cust:cu:m:202612"] == 3600 + 86400
    ev = run(engine, _full(), reds("A"), CART, customer("cu"), now_ms=ms(2027, 1, 1))
    keys = [op[0] for op in ev.outcomes[0].ops]
    assert "{c:c}:uses:d:20270101" in keys
    assert "{c:c}:cust:cu:w:2026W53" in keys  # 2027-01-01 still belongs to ISO week 2026-W53
    assert "{c:c}:cust:cu:m:202701" in keys


def test_customer_key_prefers_source_id(engine) -> None:
    from core import model as m

    ev = run(engine, _full(), reds("A"), CART, m.Customer(id="cust_id", source_id="src"))
    assert "{c:c}:cust:src" in [op[0] for op in ev.outcomes[0].ops]
    ev = run(engine, _full(), reds("A"), CART, m.Customer(id="cust_id"))
    assert "{c:c}:cust:cust_id" in [op[0] for op in ev.outcomes[0].ops]


def test_counter_rules_become_limits(engine) -> None:
    def limit_of(r: dict, key: str) -> int:
        ev = run(engine, _full(r), reds("B"), CART, customer("cu"))
        return {op[0]: op[2] for op in ev.outcomes[0].ops}[key]

    # the tightest limit on a key wins
    assert limit_of(rule("redemption.count.per_customer", "$less_than", 3), "{c:c}:cust:cu") == 3
    assert limit_of(rule("redemption.count.per_customer", "$less_than_or_equal", 3), "{c:c}:cust:cu") == 4
    assert limit_of(rule("redemption.count.per_customer", "$less_than", 9), "{c:c}:cust:cu") == 5
    assert limit_of(rule("redemption.count.per_customer_per_day", "$less_than", 1), "{c:c}:cust:cu:d:20260304") == 1
    assert limit_of(rule("redemption.count.per_customer_per_week", "$less_than", 1), "{c:c}:cust:cu:w:2026W10") == 1
    assert limit_of(rule("redemption.count.per_customer_per_month", "$less_than", 2), "{c:c}:cust:cu:m:202603") == 2
    assert limit_of(rule("campaign.orders.amount_discounted", "$less_than", 20000), "{c:c}:disc") == 19999
    assert limit_of(rule("campaign.orders.amount_discounted", "$less_than_or_equal", 20000), "{c:c}:disc") == 20000
    assert limit_of(rule("campaign.orders.amount", "$less_than_or_equal", 5000), "{c:c}:ordval") == 5000
    assert limit_of(rule("campaign.redemptions.count", "$less_than", 50), "{c:c}:uses") == 50


def test_counter_rule_alone_without_campaign_limits(engine) -> None:
    d = defs(
        campaigns=[campaign("c", amount_off(100), validation_rules=["r"])],
        vouchers=[voucher("CODE", campaign_id="c")],
        rules=[vrule("r", rule("redemption.count.per_customer", "$less_than", 3))],
    )
    ev = run(engine, d, reds("CODE"), CART, customer("cu"))
    assert ("{c:c}:cust:cu", 1, 3, R, 0, 0) in ev.plan
    ev = run(engine, d, reds("CODE"), CART, None)  # a per-customer counter needs a customer
    assert status(ev) == [("CODE", "INAPPLICABLE", "missing_customer")]
    ev = run(engine, d, reds("CODE"), CART, customer("cu"), counters={"{c:c}:cust:cu": 3})
    assert status(ev) == [("CODE", "INAPPLICABLE", R)]
    ev = run(engine, d, reds("CODE"), CART, customer("cu"), counters={"{c:c}:cust:cu": 2})
    assert status(ev) == [("CODE", "APPLICABLE", "")]


def test_two_codes_of_one_campaign(engine) -> None:
    ev = run(engine, _full(), reds("A", "B"), CART, customer("cu"))
    a, b = ev.outcomes
    assert (a.status, b.status) == ("APPLICABLE", "APPLICABLE")
    assert [op[0] for op in b.ops] == [
        "{c:c}:v:B:uses",
        "{c:c}:uses",
        "{c:c}:uses:d:20260304",
        "{c:c}:disc",
        "{c:c}:ordval",
        "{c:c}:cust:cu",
        "{c:c}:cust:cu:d:20260304",
        "{c:c}:cust:cu:w:2026W10",
        "{c:c}:cust:cu:m:202603",
    ]
    assert ("{c:c}:disc", 900, 50000, R, 0, 0) in b.ops  # 10 % of what A left
    assert len(ev.plan) == len(a.ops) + len(b.ops)
    # with live counters the second one meets the first one's pending use
    ev = run(engine, _full(), reds("A", "B"), CART, customer("cu"), counters={})
    assert status(ev) == [("A", "APPLICABLE", ""), ("B", "INAPPLICABLE", R)]
    assert ev.discount_amount == 1000
    assert ev.plan == ev.outcomes[0].ops


def test_counters_report_the_failing_key_and_leave_totals(engine) -> None:
    cases = [
        ({"{c:c}:v:A:uses": 7}, Q),
        ({"{c:c}:v:A:c:cu": 2}, Q),
        ({"{c:c}:uses": 100}, Q),
        ({"{c:c}:uses:d:20260304": 10}, Q),
        ({"{c:c}:disc": 49001}, R),
        ({"{c:c}:ordval": 990001}, R),
        ({"{c:c}:cust:cu": 5}, R),
        ({"{c:c}:cust:cu:d:20260304": 1}, R),
        ({"{c:c}:cust:cu:w:2026W10": 2}, R),
        ({"{c:c}:cust:cu:m:202603": 3}, R),
    ]
    for counters, key in cases:
        ev = run(engine, _full(), reds("A"), CART, customer("cu"), counters=counters)
        assert status(ev) == [("A", "INAPPLICABLE", key)], counters
        assert (ev.valid, ev.discount_amount, ev.total_amount, ev.plan) == (False, 0, 10000, []), counters
        assert ev.outcomes[0].ops == []
    # yesterday's per-day counter does not count today
    ev = run(engine, _full(), reds("A"), CART, customer("cu"), counters={"{c:c}:cust:cu:d:20260303": 1})
    assert status(ev) == [("A", "APPLICABLE", "")]
    # just under every limit
    under = {"{c:c}:v:A:uses": 6, "{c:c}:disc": 49000, "{c:c}:ordval": 990000, "{c:c}:uses": 99}
    ev = run(engine, _full(), reds("A"), CART, customer("cu"), counters=under)
    assert status(ev) == [("A", "APPLICABLE", "")]
    assert ev.discount_amount == 1000


def test_counter_failure_in_partial_mode_keeps_the_others(engine) -> None:
    d = defs(
        vouchers=[voucher("A", amount_off(100), redemption={"quantity": 1}), voucher("B", amount_off(200))],
        stacking={"redeemables_application_mode": "PARTIAL"},
    )
    ev = run(engine, d, reds("A", "B"), CART, counters={"{v:A}:v:A:uses": 1})
    assert status(ev) == [("A", "INAPPLICABLE", Q), ("B", "APPLICABLE", "")]
    assert (ev.discount_amount, ev.total_amount) == (200, 9800)
    assert ev.plan == [("{v:B}:v:B:uses", 1, USES_MAX, Q, 0, 1)]


def test_tier_plan(engine) -> None:
    d = defs(campaigns=[promotion("p", tier("promo_1", amount_off(100)), limits={"redemptions": 9})])
    ev = run(engine, d, [red("promo_1", "promotion_tier")], CART)
    assert ev.plan == [
        ("{c:p}:t:promo_1:uses", 1, NO, Q, 0, 0),
        ("{c:p}:uses", 1, 9, Q, 0, 0),
        ("{c:p}:disc", 100, NO, R, 0, 0),
        ("{c:p}:ordval", 10000, NO, R, 0, 0),
    ]


def test_gift_plan_and_campaign_credit_budget(engine) -> None:
    d = defs(
        campaigns=[gift_campaign("g", 5000, limits={"gift_credits": 100000})],
        vouchers=[voucher("GIFT", campaign_id="g")],
    )
    ev = run(engine, d, [red("GIFT", credits=1200)], CART)
    assert ev.plan == [
        ("{c:g}:v:GIFT:uses", 1, USES_MAX, Q, 0, 1),
        ("{c:g}:v:GIFT:spent", 1200, 5000, "gift_amount_exceeded", 0, 1),
        ("{c:g}:uses", 1, NO, Q, 0, 0),
        ("{c:g}:disc", 1200, NO, R, 0, 0),
        ("{c:g}:ordval", 10000, NO, R, 0, 0),
        ("{c:g}:spent", 1200, 100000, "gift_amount_exceeded", 0, 0),
    ]
    ev = run(engine, d, [red("GIFT", credits=1200)], CART, counters={"{c:g}:spent": 99000})
    assert status(ev) == [("GIFT", "INAPPLICABLE", "gift_amount_exceeded")]


def test_keys_for(engine) -> None:
    ev = run(engine, _full(), reds("A", "B"), CART, customer("cu"))
    keys = engine.keys_for(ev.outcomes)
    assert len(keys) == len(set(keys))
    assert keys[:3] == ["{c:c}:v:A:uses", "{c:c}:v:A:c:cu", "{c:c}:uses"]
    # B has no quantity of its own: its use counter only counts, so it is not read
    assert "{c:c}:v:B:uses" not in keys
    assert all(op[0] in keys for o in ev.outcomes for op in o.ops if op[2] not in (-1, USES_MAX))


def test_keys_for_an_unlimited_code_is_empty(engine) -> None:
    d = defs(campaigns=[campaign("u", amount_off(100))], vouchers=[voucher("U", campaign_id="u")])
    ev = run(engine, d, reds("U"), CART, customer("cu"))
    assert ev.outcomes[0].ops  # it still counts its uses, discount and order value
    assert engine.keys_for(ev.outcomes) == []


def test_counters_change_nothing_only_when_every_limit_holds_and_no_balance_shows(engine) -> None:
    d = defs(
        campaigns=[campaign("c", amount_off(100), limits={"redemptions": 5}), gift_campaign("g", 5000)],
        vouchers=[voucher("A", campaign_id="c"), voucher("G", campaign_id="g")],
    )
    rs = engine.compile_ruleset(d)
    a = [m.Redeemable(object="voucher", id="A")]
    ev = engine.evaluate(rs, a, None, m.Order(amount=1000), NOW_MS)
    assert engine.counters_change_nothing(ev, {"{c:c}:uses": 4})
    assert not engine.counters_change_nothing(ev, {"{c:c}:uses": 5})
    # judging again gives the same answer exactly when it says so
    again = engine.evaluate(rs, a, None, m.Order(amount=1000), NOW_MS, counters={"{c:c}:uses": 4})
    assert normalize(again) == normalize(ev)
    g = engine.evaluate(rs, [m.Redeemable(object="voucher", id="G")], None, m.Order(amount=1000), NOW_MS)
    assert not engine.counters_change_nothing(g, {})  # a gift card shows its live balance
