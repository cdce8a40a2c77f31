"""``Outcome.limit``: the limit that refused a redeemable, with its numbers (the preview's "per
customer per day 1: already used 1"), in both twins."""

from __future__ import annotations

from unit_helpers import campaign, customer, defs, item, order, percent_off, reds, run, voucher

CART = order(item("a", 10000))
DAY = "{c:c}:cust:cu:d:20260304"


def _defs(**limits: int) -> object:
    return defs(
        campaigns=[campaign("c", percent_off(10), limits=limits)],
        vouchers=[voucher("A", campaign_id="c"), voucher("B", campaign_id="c")],
        stacking={"redeemables_application_mode": "PARTIAL"},
    )


def test_a_refused_limit_keeps_its_numbers_counting_earlier_redeemables(engine) -> None:
    ev = run(engine, _defs(per_customer_per_day=1), reds("A", "B"), CART, customer("cu"), counters={DAY: 0})
    a, b = ev.outcomes
    assert a.status == "APPLICABLE" and a.limit is None
    assert b.status == "INAPPLICABLE" and b.key == "redemption_rules_violated"
    assert b.limit == (DAY, 1, 1, "redemption_rules_violated", 1)  # live 0 + A's 1
    assert b.ops == []


def test_a_money_limit_says_what_the_order_would_add(engine) -> None:
    ev = run(engine, _defs(discounted_amount=1500), reds("A"), CART, customer("cu"), counters={"{c:c}:disc": 1000})
    (a,) = ev.outcomes
    assert a.limit == ("{c:c}:disc", 1000, 1500, "redemption_rules_violated", 1000)
    without = run(engine, _defs(discounted_amount=1500), reds("A"), CART, customer("cu"))
    assert without.outcomes[0].limit is None  # no counters: the script checks, nothing refused here
