"""Validation-rule operators and properties, segments, error keys and messages."""

from __future__ import annotations

import pytest
from unit_helpers import amount_off, customer, defs, item, order, reds, rule, run, voucher, vrule

from core import model as m


def _eval(engine, rules: list[dict], cust=None, cart=None, logic=None, error=None):
    d = defs(
        vouchers=[voucher("CODE", amount_off(100), validation_rules=["r"])],
        rules=[vrule("r", *rules, logic=logic, error=error)],
    )
    cart = cart if cart is not None else order(item("a", 5000))
    ev = run(engine, d, reds("CODE"), cart, cust if cust is not None else customer())
    o = ev.outcomes[0]
    return o


def _ok(engine, r: dict, cust=None, cart=None) -> bool:
    o = _eval(engine, [r], cust, cart)
    assert o.status in ("APPLICABLE", "INAPPLICABLE")
    if o.status == "APPLICABLE":
        assert o.order_discount == 100
    return o.status == "APPLICABLE"


def _md(**md: object) -> m.Customer:
    return customer(metadata=md)


CM = "customer.metadata"


@pytest.mark.parametrize(
    ("op", "values", "md", "expected"),
    [
        ("$is", ["gold"], {"tier": "gold"}, True),
        ("$is", ["gold"], {"tier": "silver"}, False),
        ("$is", ["gold"], {}, False),
        ("$is", [5], {"tier": 5}, True),
        ("$is", [5], {"tier": 5.0}, True),
        ("$is", [5], {"tier": "5"}, True),
        ("$is", [True], {"tier": True}, True),
        ("$is_not", ["gold"], {"tier": "silver"}, True),
        ("$is_not", ["gold"], {"tier": "gold"}, False),
        ("$is_not", ["gold"], {}, True),
        ("$in", ["gold", "platinum"], {"tier": "platinum"}, True),
        ("$in", ["gold", "platinum"], {"tier": "bronze"}, False),
        ("$in", [1, 2], {"tier": 2}, True),
        ("$not_in", ["gold", "platinum"], {"tier": "bronze"}, True),
        ("$not_in", ["gold", "platinum"], {"tier": "gold"}, False),
        ("$more_than", [10], {"tier": 11}, True),
        ("$more_than", [10], {"tier": 10}, False),
        ("$more_than", [10], {"tier": "10.5"}, True),
        ("$more_than", [10], {"tier": "lots"}, False),
        ("$more_than", [10], {}, False),
        ("$less_than", [10], {"tier": 9}, True),
        ("$less_than", [10], {"tier": 10}, False),
        ("$more_than_or_equal", [10], {"tier": 10}, True),
        ("$more_than_or_equal", [10], {"tier": 9.99}, False),
        ("$less_than_or_equal", [10], {"tier": 10}, True),
        ("$less_than_or_equal", [10], {"tier": 10.01}, False),
        ("$starts_with", ["VIP-"], {"tier": "VIP-42"}, True),
        ("$starts_with", ["VIP-"], {"tier": "vip-42"}, False),
        ("$ends_with", ["@acme.com"], {"tier": "jo@acme.com"}, True),
        ("$ends_with", ["@acme.com"], {"tier": "jo@acme.co"}, False),
        ("$contains", ["old"], {"tier": "golden"}, True),
        ("$contains", ["old"], {"tier": "silver"}, False),
        ("$contains", ["b"], {"tier": ["a", "b"]}, True),
        ("$contains", ["c"], {"tier": ["a", "b"]}, False),
        ("$has_value", [], {"tier": "x"}, True),
        ("$has_value", [], {"tier": 0}, True),
        ("$has_value", [], {"tier": ""}, False),
        ("$has_value", [], {}, False),
        ("$is_unknown", [], {}, True),
        ("$is_unknown", [], {"tier": ""}, True),
        ("$is_unknown", [], {"tier": "x"}, False),
    ],
)
def test_operators_on_customer_metadata(engine, op, values, md, expected) -> None:
    assert _ok(engine, rule(CM, op, *values, prop="tier"), _md(**md)) is expected


def test_customer_metadata_without_customer(engine) -> None:
    d = defs(
        vouchers=[voucher("CODE", amount_off(100), validation_rules=["r"])],
        rules=[vrule("r", rule(CM, "$is_unknown", prop="tier"))],
    )
    ev = run(engine, d, reds("CODE"), order(item("a", 5000)), None)
    assert ev.outcomes[0].status == "APPLICABLE"


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("$more_than", 4999, True),
        ("$more_than", 5000, False),
        ("$less_than", 5001, True),
        ("$less_than", 5000, False),
        ("$more_than_or_equal", 5000, True),
        ("$more_than_or_equal", 5001, False),
        ("$less_than_or_equal", 5000, True),
        ("$less_than_or_equal", 4999, False),
        ("$is", 5000, True),
        ("$is_not", 5000, False),
        ("$in", 5000, True),
        ("$not_in", 5000, False),
    ],
)
def test_order_amount(engine, op, value, expected) -> None:
    assert _ok(engine, rule("order.amount", op, value)) is expected
    assert _ok(engine, rule("order.initial_amount", op, value)) is expected


def test_order_amount_uses_explicit_amount(engine) -> None:
    cart = order(item("a", 100), amount=7000)
    assert _ok(engine, rule("order.amount", "$more_than", 6000), cart=cart) is True


@pytest.mark.parametrize(
    ("op", "values", "md", "expected"),
    [
        ("$is", ["web"], {"channel": "web"}, True),
        ("$is", ["web"], {"channel": "pos"}, False),
        ("$in", ["web", "app"], {"channel": "app"}, True),
        ("$not_in", ["web", "app"], {"channel": "app"}, False),
        ("$has_value", [], {"channel": "pos"}, True),
        ("$is_unknown", [], {"channel": "pos"}, False),
        ("$is_unknown", [], None, True),
        ("$starts_with", ["w"], {"channel": "web"}, True),
        ("$more_than", [2], {"channel": 3}, True),
    ],
)
def test_order_metadata(engine, op, values, md, expected) -> None:
    cart = order(item("a", 5000), metadata=md)
    assert _ok(engine, rule("order.metadata", op, *values, prop="channel"), cart=cart) is expected


CART = order(
    item("a", 1000, 2, sku="a_s", metadata={"color": "red"}),
    item("b", 500, 1, metadata={"color": "blue"}),
    item("c", 300, 3),
)


@pytest.mark.parametrize(
    ("r", "expected"),
    [
        (rule("order.items.count", "$is", 3), True),
        (rule("order.items.count", "$more_than", 3), False),
        (rule("order.items.quantity", "$is", 6), True),
        (rule("order.items.quantity", "$less_than", 6), False),
        (rule("order.items.any", "$is", "b"), True),
        (rule("order.items.any", "$in", "x", "c"), True),
        (rule("order.items.any", "$is", "x"), False),
        (rule("order.items.any", "$is", "a_s"), True),  # sku ids count too
        (rule("order.items.any", "$is_not", "a"), True),  # some line is not a
        (rule("order.items.every", "$in", "a", "b", "c"), True),
        (rule("order.items.every", "$in", "a", "b"), False),
        (rule("order.items.none", "$is", "x"), True),
        (rule("order.items.none", "$is", "c"), False),
        (rule("order.items.price_any", "$more_than_or_equal", 1000), True),
        (rule("order.items.price_any", "$more_than", 1000), False),
        (rule("order.items.price_each", "$more_than_or_equal", 300), True),
        (rule("order.items.price_each", "$more_than", 300), False),
        (rule("order.items.metadata", "$is", "blue", prop="color"), True),
        (rule("order.items.metadata", "$is", "green", prop="color"), False),
        (rule("product.id", "$is", "c"), True),
        (rule("product.id", "$in", "x", "y"), False),
        (rule("product.id", "$not_in", "x", "y"), True),
        (rule("product.id", "$not_in", "b"), False),
        (rule("sku.id", "$is", "a_s"), True),
        (rule("sku.id", "$is", "b_s"), False),
        (
            rule("order.items.any", "$is", "c",
                 rules={"1": rule("order.items.quantity", "$more_than_or_equal", 3)}),
            True,
        ),  # fmt: skip
        (
            rule("order.items.any", "$is", "c",
                 rules={"1": rule("order.items.quantity", "$more_than", 3)}),
            False,
        ),  # fmt: skip
        (
            rule("order.items.any", "$in", "a", "b",
                 rules={"1": rule("order.items.price_any", "$less_than", 600)}),
            True,
        ),  # fmt: skip
        (
            rule("order.items.any", "$is", "a",
                 rules={"1": rule("order.amount", "$more_than_or_equal", 2000)}),
            True,
        ),  # fmt: skip
    ],
)
def test_item_rules(engine, r: dict, expected: bool) -> None:
    assert _ok(engine, r, cart=CART) is expected


def test_item_rules_on_an_empty_cart(engine) -> None:
    empty = order(amount=5000)
    assert _ok(engine, rule("order.items.any", "$is", "a"), cart=empty) is False
    assert _ok(engine, rule("order.items.none", "$is", "a"), cart=empty) is True
    assert _ok(engine, rule("order.items.every", "$is", "a"), cart=empty) is False
    assert _ok(engine, rule("order.items.price_each", "$more_than", 0), cart=empty) is False
    assert _ok(engine, rule("order.items.count", "$is", 0), cart=empty) is True


def test_items_by_product_category(engine) -> None:
    d = defs(
        vouchers=[voucher("CODE", amount_off(100), validation_rules=["r"])],
        rules=[vrule("r", rule("order.items.any", "$is", "shoes"))],
        products=[{"id": "boot", "categories": ["shoes"]}],
    )
    ev = run(engine, d, reds("CODE"), order(item("boot", 5000)), customer())
    assert ev.outcomes[0].status == "APPLICABLE"
    ev = run(engine, d, reds("CODE"), order(item("hat", 5000)), customer())
    assert ev.outcomes[0].key == "order_rules_violated"


@pytest.mark.parametrize(
    ("r", "cust", "expected"),
    [
        (rule("customer.segment", "$is", "vip"), customer(segments=["vip", "new"]), True),
        (rule("customer.segment", "$in", "a", "b"), customer(segments=["b"]), True),
        (rule("customer.segment", "$in", "a", "b"), customer(segments=["c"]), False),
        (rule("customer.segment", "$in", "a"), customer(), False),
        (rule("customer.segment", "$is_not", "vip"), customer(segments=["new"]), True),
        (rule("customer.segment", "$not_in", "vip"), customer(segments=["vip"]), False),
        (rule("customer.segment", "$is_not", "vip"), customer(), True),
        (rule("customer.email", "$ends_with", "@acme.com"), customer(email="a@acme.com"), True),
        (rule("customer.email", "$ends_with", "@acme.com"), customer(email="a@b.com"), False),
        (rule("customer.id", "$is", "cust_1"), customer(), False),  # source_id, not id
        (rule("customer.source_id", "$is", "cust_1"), customer(), True),
        (rule("customer.address.country", "$in", "FR", "DE"),
         customer(address=m.Address(country="DE")), True),  # fmt: skip
        (rule("customer.address.city", "$is", "Paris"),
         customer(address=m.Address(city="Lyon")), False),  # fmt: skip
        (rule("customer.address.city", "$is_unknown"), customer(), True),
    ],
)
def test_customer_rules(engine, r: dict, cust: m.Customer, expected: bool) -> None:
    assert _ok(engine, r, cust) is expected


def _orders(count: int | None = None, amount: int | None = None) -> m.Customer:
    return customer(summary=m.CustomerSummary(
        orders=m.CustomerOrdersSummary(total_count=count, total_amount=amount)))  # fmt: skip


@pytest.mark.parametrize(
    ("r", "cust", "expected"),
    [
        (rule("customer.orders.count", "$is", 0), _orders(0), True),
        (rule("customer.orders.count", "$is", 0), _orders(1), False),
        (rule("customer.orders.count", "$less_than", 1), _orders(0), True),
        (rule("customer.orders.count", "$more_than_or_equal", 10), _orders(12), True),
        (rule("customer.orders.count", "$more_than_or_equal", 10), _orders(9), False),
        # unknown metrics (no summary) fail closed, except where asked for
        (rule("customer.orders.count", "$is", 0), customer(), False),
        (rule("customer.orders.count", "$less_than", 1), customer(), False),
        (rule("customer.orders.count", "$is_unknown"), customer(), True),
        (rule("customer.orders.count", "$is", 0), _orders(None, 500), False),
        (rule("customer.orders.amount", "$more_than", 100_000), _orders(3, 100_001), True),
        (rule("customer.orders.amount", "$more_than", 100_000), _orders(3, 100_000), False),
    ],
)
def test_customer_order_metrics(engine, r: dict, cust: m.Customer, expected: bool) -> None:
    """``customer.orders.count`` / ``.amount`` read the customer's ``summary.orders``."""
    assert _ok(engine, r, cust) is expected


def test_customer_order_metrics_fail_with_the_customer_key(engine) -> None:
    o = _eval(engine, [rule("customer.orders.count", "$is", 0)], _orders(4))
    assert (o.status, o.key) == ("INAPPLICABLE", "customer_rules_violated")


# ----------------------------------------------------------------------------- error keys / messages


def test_customer_rule_fails_with_customer_key(engine) -> None:
    o = _eval(engine, [rule("customer.segment", "$is", "vip")])
    assert (o.status, o.key, o.message) == (
        "INAPPLICABLE", "customer_rules_violated", "customer does not match validation rules",
    )  # fmt: skip


def test_order_rule_fails_with_order_key(engine) -> None:
    o = _eval(engine, [rule("order.amount", "$more_than", 10**6)])
    assert (o.status, o.key, o.message) == (
        "INAPPLICABLE", "order_rules_violated", "order does not match validation rules",
    )  # fmt: skip


def test_the_failing_condition_decides_the_key(engine) -> None:
    rules = [rule("order.amount", "$more_than", 1), rule("customer.segment", "$is", "vip")]
    o = _eval(engine, rules)
    assert o.key == "customer_rules_violated"
    rules = [rule("customer.segment", "$is_not", "vip"), rule("order.amount", "$less_than", 1)]
    o = _eval(engine, rules)
    assert o.key == "order_rules_violated"


def test_custom_error_messages(engine) -> None:
    o = _eval(engine, [rule("order.amount", "$more_than", 10**6, error="Spend 10k to use this")])
    assert (o.key, o.message) == ("order_rules_violated", "Spend 10k to use this")
    o = _eval(engine, [rule("customer.segment", "$is", "vip", error="VIPs only")])
    assert (o.key, o.message) == ("customer_rules_violated", "VIPs only")
    # the rule set's own message when the failing rule has none
    o = _eval(engine, [rule("order.amount", "$more_than", 10**6)], error="Not for this cart")
    assert o.message == "Not for this cart"
    # the rule's message wins over the rule set's
    o = _eval(engine, [rule("order.amount", "$more_than", 10**6, error="rule msg")], error="set msg")
    assert o.message == "rule msg"


def test_or_logic_passes_when_one_side_holds(engine) -> None:
    rules = [rule("customer.segment", "$is", "vip"), rule("order.amount", "$more_than", 1000)]
    assert _eval(engine, rules, logic="1 or 2").status == "APPLICABLE"
    assert _eval(engine, rules, logic="1 and 2").status == "INAPPLICABLE"
    assert _eval(engine, rules, logic="1 or not 2").key == "customer_rules_violated"


def test_rules_of_campaign_and_voucher_both_apply(engine) -> None:
    d = defs(
        campaigns=[{"id": "c", "name": "c", "voucher": {"discount": amount_off(100)},
                    "validation_rules": ["camp_rule"]}],  # fmt: skip
        vouchers=[voucher("CODE", campaign_id="c", validation_rules=["code_rule"])],
        rules=[
            vrule("camp_rule", rule("order.amount", "$more_than", 1000, error="camp")),
            vrule("code_rule", rule("customer.segment", "$is", "vip", error="code")),
        ],
    )
    ev = run(engine, d, reds("CODE"), order(item("a", 500)), customer(segments=["vip"]))
    assert (ev.outcomes[0].key, ev.outcomes[0].message) == ("order_rules_violated", "camp")
    ev = run(engine, d, reds("CODE"), order(item("a", 5000)), customer())
    assert (ev.outcomes[0].key, ev.outcomes[0].message) == ("customer_rules_violated", "code")
    ev = run(engine, d, reds("CODE"), order(item("a", 5000)), customer(segments=["vip"]))
    assert ev.outcomes[0].status == "APPLICABLE"
