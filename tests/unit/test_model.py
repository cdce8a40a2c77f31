"""Definitions that must be refused: by the model (msgspec) or by the compiler (CompileError)."""

from __future__ import annotations

import msgspec
import pytest
from unit_helpers import (
    amount_off,
    campaign,
    defs,
    iso,
    percent_off,
    promotion,
    rule,
    tier,
    unit,
    voucher,
    vrule,
)

from core import model as m
from core.errors import CompileError

# ----------------------------------------------------------------------------- model


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (
            {"vouchers": [voucher("X", amount_off(-5))]},
            "Expected `int` >= 0 - at `$.vouchers[0].discount.amount_off`",
        ),
        (
            {"vouchers": [voucher("X", {"type": "PERCENT"})]},
            "PERCENT discount needs `percent_off` - at `$.vouchers[0].discount`",
        ),
        (
            {"vouchers": [voucher("X", percent_off(12.345))]},
            "`percent_off` takes at most two decimals - at `$.vouchers[0].discount`",
        ),
        (
            {"vouchers": [voucher("X", percent_off(100.5))]},
            "Expected `float` <= 100.0 - at `$.vouchers[0].discount.percent_off`",
        ),
        (
            {"vouchers": [voucher("X", {"type": "AMOUNT"})]},
            "AMOUNT discount needs `amount_off` - at `$.vouchers[0].discount`",
        ),
        (
            {"vouchers": [voucher("X", {"type": "FIXED"})]},
            "FIXED discount needs `fixed_amount` - at `$.vouchers[0].discount`",
        ),
        (
            {"vouchers": [voucher("X", {"type": "UNIT", "unit_off": 1})]},
            "UNIT discount needs `unit_off` and `unit_type` - at `$.vouchers[0].discount`",
        ),
        (
            {"vouchers": [voucher("X", amount_off(5, "ADD_NEW_ITEMS"))]},
            "effect ADD_NEW_ITEMS is not valid for an AMOUNT discount - at `$.vouchers[0].discount`",
        ),
        (
            {"vouchers": [voucher("X", percent_off(5, "APPLY_TO_ITEMS_PROPORTIONALLY"))]},
            "effect APPLY_TO_ITEMS_PROPORTIONALLY is not valid for a PERCENT discount",
        ),
        (
            {"vouchers": [voucher("X", unit("p", 1, "APPLY_TO_ORDER"))]},
            "effect APPLY_TO_ORDER is not valid for a UNIT discount",
        ),
        (
            {"vouchers": [voucher("X", amount_off(5), start_date="2026-01-01T00:00:00")]},
            "`start_date` needs a timezone (use UTC, e.g. 2026-01-01T00:00:00Z) - at `$.vouchers[0]`",
        ),
        (
            {"campaigns": [campaign("c", amount_off(5), expiration_date="2026-01-01T00:00:00")]},
            "`expiration_date` needs a timezone",
        ),
        (
            {
                "vouchers": [
                    voucher("X", amount_off(5), start_date=iso(2026, 2, 1), expiration_date=iso(2026, 1, 1))
                ]
            },
            "`expiration_date` must be after `start_date` - at `$.vouchers[0]`",
        ),
        (
            {"campaigns": [{"id": "p", "name": "p", "campaign_type": "PROMOTION"}]},
            "a PROMOTION campaign needs `promotion.tiers` - at `$.campaigns[0]`",
        ),
        (
            {"campaigns": [{"id": "p", "name": "p", "campaign_type": "PROMOTION", "promotion": {"tiers": []}}]},
            "a PROMOTION campaign needs `promotion.tiers` - at `$.campaigns[0]`",
        ),
        (
            {"campaigns": [campaign("c")]},
            "a DISCOUNT_COUPONS campaign needs `voucher.discount` - at `$.campaigns[0]`",
        ),
        (
            {"campaigns": [campaign("g", campaign_type="GIFT_VOUCHERS")]},
            "a GIFT_VOUCHERS campaign needs `voucher.gift` - at `$.campaigns[0]`",
        ),
        (
            {"rules": [vrule("r", rule("order.amount", "$bogus", 5))]},
            "Invalid enum value '$bogus' - at `key` in `$.validation_rules[0].rules[...].conditions`",
        ),
        (
            {"rules": [vrule("r", rule("order.colour", "$is", 5))]},
            "Invalid enum value 'order.colour' - at `$.validation_rules[0].rules[...].name`",
        ),
        (
            {"rules": [vrule("r", rule("order.metadata", "$is", 5))]},
            "rule order.metadata needs `property` (the metadata key) - at `$.validation_rules[0].rules[...]`",
        ),
        (
            {"rules": [vrule("r", rule("order.amount", "$is"))]},
            "operator $is needs at least one value",
        ),
        (
            {"rules": [{"id": "r", "rules": {"1": rule("order.amount", "$is", 1), "x": rule("order.amount", "$is", 1)}}]},
            "rule keys are numbers or `logic`, got 'x'",
        ),
        (
            {"stacking": {"exclusive_categories": ["a"], "joint_categories": ["a"]}},
            "categories ['a'] cannot be both exclusive and joint - at `$.stacking_rules`",
        ),
        (
            {"stacking": {"applicable_redeemables_limit": 31}},
            "Expected `int` <= 30 - at `$.stacking_rules.applicable_redeemables_limit`",
        ),
        (
            {"vouchers": [voucher("HAS SPACE", amount_off(5))]},
            "at `$.vouchers[0].code`",
        ),
    ],
)
def test_invalid_definitions_name_field_and_reason(kw: dict, message: str) -> None:
    with pytest.raises(msgspec.ValidationError) as exc:
        defs(**kw)
    assert message in str(exc.value)


def test_valid_definitions_fill_defaults() -> None:
    d = defs(vouchers=[voucher("X", {"type": "UNIT", "unit_off": 1, "unit_type": "p"})])
    assert d.vouchers[0].discount is not None
    assert d.vouchers[0].discount.effect == "ADD_MISSING_ITEMS"
    d = defs(vouchers=[voucher("X", {"type": "PERCENT", "percent_off": 12.5})])
    assert d.vouchers[0].discount.effect == "APPLY_TO_ORDER"
    assert d.stacking_rules.redeemables_application_mode == "ALL"
    assert d.stacking_rules.applicable_redeemables_limit == 5


def test_unknown_fields_are_ignored_and_json_decodes() -> None:
    d = m.load_definitions(
        b'{"vouchers":[{"code":"X","discount":{"type":"AMOUNT","amount_off":5,"whatever":1}}],"extra":true}'
    )
    assert d.vouchers[0].discount.amount_off == 5


@pytest.mark.parametrize(
    "pct",
    # 0.29, 1.1 and 1.15 have inexact x*100 floats (0.29*100 == 28.999999999999996)
    [12.5, 33.33, 99.99, 0.5, 0.29, 1.1, 1.15],
)
def test_two_decimal_percentages_are_accepted(pct: float) -> None:
    d = defs(vouchers=[voucher("X", percent_off(pct))])
    assert d.vouchers[0].discount.percent_off == pct


@pytest.mark.parametrize("pct", [12.345, 0.001, 33.333])
def test_three_decimal_percentages_are_refused(pct: float) -> None:
    with pytest.raises(msgspec.ValidationError, match="two decimals"):
        defs(vouchers=[voucher("X", percent_off(pct))])


# ----------------------------------------------------------------------------- compiler


def _compile_error(engine, d: m.Definitions) -> CompileError:
    with pytest.raises(CompileError) as exc:
        engine.compile_ruleset(d)
    return exc.value


def test_unknown_validation_rule_id(engine) -> None:
    err = _compile_error(engine, defs(vouchers=[voucher("X", amount_off(5), validation_rules=["nope"])]))
    assert err.path == "vouchers[0].validation_rules[0]"
    assert err.reason == "unknown validation rule 'nope'"
    err = _compile_error(
        engine,
        defs(campaigns=[promotion("p", tier("t1", amount_off(5)), tier("t2", amount_off(5), "gone"))]),
    )
    assert err.path == "campaigns[0].promotion.tiers[1].validation_rules[0]"


def test_unknown_campaign_id(engine) -> None:
    err = _compile_error(engine, defs(vouchers=[voucher("X", campaign_id="missing")]))
    assert err.path == "vouchers[0].campaign_id"
    assert err.reason == "unknown campaign 'missing'"


@pytest.mark.parametrize(
    ("kw", "path", "reason"),
    [
        (
            {"vouchers": [voucher("X", amount_off(1)), voucher("X", amount_off(2))]},
            "vouchers[1].code",
            "duplicate code 'X'",
        ),
        (
            {"campaigns": [campaign("c", amount_off(1)), campaign("c", amount_off(2))]},
            "campaigns[1].id",
            "duplicate id 'c'",
        ),
        (
            {"rules": [vrule("r"), vrule("r")]},
            "validation_rules[1].id",
            "duplicate id 'r'",
        ),
        (
            {"campaigns": [promotion("p", tier("t", amount_off(1))), promotion("q", tier("t", amount_off(1)))]},
            "campaigns[1].promotion.tiers[0].id",
            "duplicate id 't'",
        ),
    ],
)
def test_duplicate_ids(engine, kw: dict, path: str, reason: str) -> None:
    err = _compile_error(engine, defs(**kw))
    assert (err.path, err.reason) == (path, reason)


def test_bad_logic(engine) -> None:
    d = defs(rules=[vrule("r", rule("order.amount", "$more_than", 1), logic="1 or or")])
    err = _compile_error(engine, d)
    assert err.path == "validation_rules[0].rules.logic"
    assert "invalid logic '1 or or'" in err.reason


@pytest.mark.parametrize("text", ["1 or 2", "not 2 and 1", "(1 and 2) or 1"])
def test_counter_rule_inside_or_or_not_is_refused(engine, text: str) -> None:
    d = defs(
        rules=[
            vrule(
                "r",
                rule("order.amount", "$more_than", 1),
                rule("redemption.count.per_customer", "$less_than", 3),
                logic=text,
            )
        ]
    )
    err = _compile_error(engine, d)
    assert err.path == "validation_rules[0].rules.logic"
    assert "counter rule 2 must be joined to the others with `and` at the top level" in err.reason


def test_counter_rule_joined_by_and_compiles(engine) -> None:
    d = defs(
        rules=[
            vrule(
                "r",
                rule("order.amount", "$more_than", 1),
                rule("redemption.count.per_customer", "$less_than", 3),
                logic="1 and 2",
            )
        ]
    )
    rs = engine.compile_ruleset(d)
    assert rs.rules["r"].limits == [(engine._PROPS["redemption.count.per_customer"], 3, "")]


@pytest.mark.parametrize(
    ("conditions", "reason"),
    [
        ({"$more_than": [3]}, "a counter rule takes `$less_than` or `$less_than_or_equal`"),
        ({"$less_than": [1, 2]}, "a counter rule takes exactly one number"),
        ({"$less_than": ["x"]}, "a counter rule takes exactly one number"),
    ],
)
def test_counter_rule_conditions(engine, conditions: dict, reason: str) -> None:
    r = {"name": "redemption.count.per_customer", "conditions": conditions}
    err = _compile_error(engine, defs(rules=[{"id": "r", "rules": {"1": r}}]))
    assert err.path == "validation_rules[0].rules.1.conditions"
    assert err.reason == reason


def test_nested_rule_in_the_wrong_place(engine) -> None:
    nested = {"1": rule("order.items.quantity", "$more_than", 1)}
    d = defs(rules=[vrule("r", rule("order.amount", "$more_than", 1, rules=nested))])
    err = _compile_error(engine, d)
    assert err.path == "validation_rules[0].rules.1.rules"
    assert "takes no nested rules" in err.reason
    d = defs(rules=[vrule("r", rule("order.items.any", "$is", "p", rules={"1": rule("customer.segment", "$is", "x")}))])
    err = _compile_error(engine, d)
    assert err.path == "validation_rules[0].rules.1.rules.1.name"
    assert "cannot be used inside an order.items rule" in err.reason


def test_voucher_without_value_and_bad_timeframe(engine) -> None:
    err = _compile_error(engine, defs(vouchers=[voucher("X")]))
    assert (err.path, err.reason) == ("vouchers[0]", "a voucher needs a discount, a gift or a loyalty card")
    c = campaign("c", amount_off(1), validity_timeframe={"interval": "PT1H", "duration": "PT2H"},
                 start_date=iso(2026, 1, 1))  # fmt: skip
    err = _compile_error(engine, defs(campaigns=[c]))
    assert err.path == "campaigns[0].validity_timeframe"
    assert err.reason == "needs 0 < duration <= interval"
    c = campaign("c", amount_off(1), validity_timeframe={"interval": "PT2H", "duration": "PT1H"})
    err = _compile_error(engine, defs(campaigns=[c]))
    assert err.reason == "needs `start_date` to count from"
