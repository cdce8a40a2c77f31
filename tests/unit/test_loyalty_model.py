"""Loyalty definitions: what the SDK sends is accepted (nulls mean absent), what is malformed is
refused by the model (msgspec, with the field path) and what is inconsistent by the compiler
(CompileError, with the field path)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from loyalty_helpers import custom, ern, fixed, ldefs, ltier, months, multiply, program, prop
from unit_helpers import rule, vrule

from core import model as m
from core.errors import CompileError

# ----------------------------------------------------------------------------- accepted shapes


def test_sdk_shapes_with_explicit_nulls_are_accepted() -> None:
    """What SDK 6.1.1's ``from_dict`` sends: every unset nullable field as null."""
    d = m.load_definitions(
        {
            "campaigns": [
                {
                    "id": "camp_L",
                    "name": "Club",
                    "campaign_type": "LOYALTY_PROGRAM",
                    "auto_join": True,
                    "join_once": None,
                    "voucher": {
                        "type": "LOYALTY_CARD",
                        "loyalty_card": {"points": 0, "expiration_rules": None},
                    },
                }
            ],
            "earning_rules": [
                {
                    "id": "ern_1",
                    "campaign_id": "camp_L",
                    "event": "order.paid",
                    "loyalty": {
                        "type": "PROPORTIONAL",
                        "points": None,
                        "calculation_type": "ORDER_AMOUNT",
                        "order": {
                            "amount": {"every": 100, "points": 1, "points_formula": None},
                            "total_amount": None,
                            "metadata": None,
                        },
                        "order_items": None,
                        "customer": None,
                        "custom_event": None,
                    },
                    "source": {"banner": "1 pt / 1.00"},
                    "validation_rule_id": None,
                    "active": None,
                    "start_date": "2026-01-01T00:00:00",  # naive: UTC
                    "expiration_date": None,
                    "validity_timeframe": None,
                    "validity_day_of_week": None,
                    "validity_hours": {
                        "daily": [{"start_time": "08:00", "expiration_time": "20:00",
                                   "days_of_week": [1, 2, 3]}]  # fmt: skip
                    },
                    "metadata": None,
                    "pending_points": None,
                    "expiration_rules": None,
                    "segment": None,
                    "custom_event": None,
                    "loyalty_tier": None,
                }
            ],
            "loyalty_tiers": [
                {
                    "id": "ltr_1",
                    "campaign_id": "camp_L",
                    "name": "Gold",
                    "points": {"from": 500, "to": None},
                    "earning_rules": {"ern_1": {"type": "MULTIPLY", "multiplier": 2, "points": None}},
                    "rewards": None,
                    "metadata": None,
                }
            ],
            "rewards": [
                {
                    "id": "rew_P",
                    "name": "Pay with points",
                    "parameters": {
                        "campaign": None,
                        "product": None,
                        "coin": {"exchange_ratio": 1, "points_ratio": "10"},
                    },
                    "metadata": None,
                    "stock": None,
                    "attributes": None,
                },
                {"id": "rew_M", "name": "Mug", "parameters": {"product": {"id": "prod_M"}},
                 "stock": 10},  # fmt: skip
            ],
            "reward_assignments": [
                {"id": "rewa_P", "reward_id": "rew_P", "campaign_id": "camp_L"},
                {"id": "rewa_M", "reward_id": "rew_M", "campaign_id": "camp_L",
                 "parameters": {"loyalty": {"points": 250, "auto_redeem": None}}},  # fmt: skip
            ],
        }
    )
    camp = d.campaigns[0]
    assert camp.auto_join is True and camp.join_once is None
    er = d.earning_rules[0]
    assert er.start_date is not None and er.start_date.utcoffset() == m._dt.timedelta(0)
    assert er.is_active
    hours, days = er.hours()
    assert [(h.start, h.end) for h in hours] == [("08:00", "20:00")] and days == [1, 2, 3]
    assert er.loyalty.block()[0] == "order.amount"
    assert er.loyalty.block()[1].every == 100
    assert d.loyalty_tiers[0].points.from_ == 500 and d.loyalty_tiers[0].points.to is None
    # the type the SDK drops is inferred; points_ratio becomes an int
    assert [r.type for r in d.rewards] == ["COIN", "MATERIAL"]
    assert d.rewards[0].parameters.coin.points_ratio == 10
    # Voucherify's nested assignment price is lifted
    assert d.reward_assignments[1].points == 250 and d.reward_assignments[1].parameters is None
    # and the whole document round-trips through JSON
    again = msgspec.json.decode(msgspec.json.encode(d), type=m.Definitions)
    assert again == d


def test_promogate_hours_shape_is_accepted_too() -> None:
    d = ldefs([program()], [ern("ern_1", fixed(5), validity_hours=[{"start": "22:00", "end": "02:00"}])])
    hours, days = d.earning_rules[0].hours()
    assert [(h.start, h.end) for h in hours] == [("22:00", "02:00")] and days == []


def test_an_explicit_reward_type_must_match_its_parameters() -> None:
    ok = m.load_definitions({"rewards": [{"id": "r", "type": "CAMPAIGN",
                                          "parameters": {"campaign": {"id": "c"}}}]})  # fmt: skip
    assert ok.rewards[0].type == "CAMPAIGN"


# ----------------------------------------------------------------------------- refused by the model


def _model_error(doc: dict) -> str:
    with pytest.raises(msgspec.ValidationError) as e:
        m.load_definitions(doc)
    return str(e.value)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            {"campaigns": [program(expiration={"period_type": "MONTH"})]},
            "`period_type` MONTH needs `period_value` - at `$.campaigns[0].voucher.loyalty_card.expiration_rules`",
        ),
        (
            {"campaigns": [program(expiration=months(3, "PARTICULAR_MONTH"))]},
            "`rounding_type` PARTICULAR_MONTH needs `rounding_value` (1 = January ... 12) - at "
            "`$.campaigns[0].voucher.loyalty_card.expiration_rules`",
        ),
        (
            {"campaigns": [program(expiration={"period_type": "FIXED_DAY_OF_YEAR", "fixed_month": 2})]},
            "`period_type` FIXED_DAY_OF_YEAR needs `fixed_month` and `fixed_day` - at "
            "`$.campaigns[0].voucher.loyalty_card.expiration_rules`",
        ),
        (
            {"campaigns": [program(expiration={"period_type": "FIXED_DAY_OF_YEAR", "fixed_month": 2, "fixed_day": 30})]},
            "month 2 has no day 30 - at `$.campaigns[0].voucher.loyalty_card.expiration_rules`",
        ),
        (
            {"campaigns": [program(expiration={"period_type": "FIXED_DAY_OF_YEAR", "fixed_month": 13, "fixed_day": 1})]},
            "Expected `int` <= 12 - at `$.campaigns[0].voucher.loyalty_card.expiration_rules.fixed_month`",
        ),
        (
            {"earning_rules": [ern("ern_1", fixed(5), pending_points={"period_type": "DAY", "period_value": 91})]},
            "Expected `int` <= 90 - at `$.earning_rules[0].pending_points.period_value`",
        ),
        (
            {"earning_rules": [ern("ern_1", {"type": "BONUS", "points": 5})]},
            "Invalid enum value 'BONUS' - at `$.earning_rules[0].loyalty.type`",
        ),
        (
            {"earning_rules": [ern("ern_1", fixed(5), limits={"per_customer": {"count": 0}})]},
            "Expected `int` >= 1 - at `$.earning_rules[0].limits.per_customer.count`",
        ),
        (
            {"earning_rules": [ern("ern_1", fixed(5), start_date="2026-03-01T00:00:00Z",
                                   expiration_date="2026-02-01T00:00:00Z")]},  # fmt: skip
            "`expiration_date` must be after `start_date` - at `$.earning_rules[0]`",
        ),
        (
            {"loyalty_tiers": [ltier("ltr_1", 500, 100)]},
            "`points.to` must not be below `points.from` - at `$.loyalty_tiers[0].points`",
        ),
        (
            {"loyalty_tiers": [ltier("ltr_1", 0, earning={"ern_1": {"type": "MULTIPLY"}})]},
            "a MULTIPLY mapping needs `multiplier` - at `$.loyalty_tiers[0].earning_rules[...]`",
        ),
        (
            {"loyalty_tiers": [ltier("ltr_1", 0, earning={"ern_1": {"type": "CUSTOM"}})]},
            "a CUSTOM mapping needs `points` - at `$.loyalty_tiers[0].earning_rules[...]`",
        ),
        (
            {"loyalty_tiers": [ltier("ltr_1", 0, earning={"ern_1": multiply(1.0000001)})]},
            "`multiplier` takes at most six decimals - at `$.loyalty_tiers[0].earning_rules[...]`",
        ),
        (
            {"rewards": [{"id": "r", "parameters": {"campaign": {"id": "c"}, "product": {"id": "p"}}}]},
            "`parameters` needs exactly one of `campaign`, `product`, `coin` (got campaign, product) - "
            "at `$.rewards[0]`",
        ),
        (
            {"rewards": [{"id": "r", "parameters": {"campaign": None, "product": None, "coin": None}}]},
            "`parameters` needs exactly one of `campaign`, `product`, `coin` - at `$.rewards[0]`",
        ),
        (
            {"rewards": [{"id": "r", "type": "MATERIAL", "parameters": {"coin": {"exchange_ratio": 1, "points_ratio": 10}}}]},
            "a MATERIAL reward takes `parameters.product` - at `$.rewards[0]`",
        ),
        (
            {"rewards": [{"id": "r", "parameters": {"coin": {"exchange_ratio": 1, "points_ratio": "ten"}}}]},
            "`points_ratio` must be a whole number of points >= 1 - at `$.rewards[0].parameters.coin`",
        ),
        (
            {"rewards": [{"id": "r", "parameters": {"coin": {"exchange_ratio": 0, "points_ratio": 10}}}]},
            "Expected `float` > 0.0 - at `$.rewards[0].parameters.coin.exchange_ratio`",
        ),
        (
            {"reward_assignments": [{"id": "a", "reward_id": "r", "campaign_id": "c",
                                     "parameters": {"loyalty": {"points": 0}}}]},  # fmt: skip
            "`parameters.loyalty.points` must be >= 1 - at `$.reward_assignments[0]`",
        ),
    ],
)
def test_model_refuses(doc: dict, message: str) -> None:
    assert _model_error(doc) == message


def test_customer_summary_and_order_totals_are_typed() -> None:
    c = msgspec.convert({"id": "c", "summary": {"orders": {"total_count": 3, "total_amount": 9000}}}, m.Customer)
    assert c.summary.orders.total_count == 3
    with pytest.raises(msgspec.ValidationError, match=r"\$\.summary\.orders\.total_count"):
        msgspec.convert({"summary": {"orders": {"total_count": -1}}}, m.Customer)
    o = msgspec.convert({"amount": 100, "total_amount": 90, "items": [{"amount": 100, "subtotal_amount": 90}]}, m.Order)
    assert o.total_amount == 90 and o.items[0].subtotal_amount == 90


# ----------------------------------------------------------------------------- refused by the compiler


def _compile_error(earning: Any, **kw: Any) -> tuple[str, str]:
    kw.setdefault("programs", [program()])
    with pytest.raises(CompileError) as e:
        earning.compile_earning(ldefs(**kw))
    return e.value.path, e.value.reason


GOLD = [ltier("ltr_g", 500)]


@pytest.mark.parametrize(
    ("kw", "path", "reason"),
    [
        (
            {"rules": [ern("ern_1", fixed(5), cid="camp_X")]},
            "earning_rules[0].campaign_id",
            "unknown campaign 'camp_X'",
        ),
        (
            {"rules": [ern("ern_1", fixed(5), cid="camp_D")],
             "campaigns": [{"id": "camp_D", "name": "D", "voucher": {"discount": {"type": "AMOUNT", "amount_off": 5}}}]},
            "earning_rules[0].campaign_id",
            "campaign 'camp_D' is DISCOUNT_COUPONS, not a LOYALTY_PROGRAM",
        ),
        (
            {"rules": [ern("ern_1", fixed(5)), ern("ern_1", fixed(6))]},
            "earning_rules[1].id",
            "duplicate id 'ern_1'",
        ),
        (
            {"rules": [ern("ern_1", {"type": "PROPORTIONAL", "calculation_type": "ORDER_AMOUNT"})]},
            "earning_rules[0].loyalty.order.amount",
            "a ORDER_AMOUNT rule needs `loyalty.order.amount`",
        ),
        (
            # the block of another calculation type is not this one's
            {"rules": [ern("ern_1", {"type": "PROPORTIONAL", "calculation_type": "ORDER_TOTAL_AMOUNT",
                                     "order": {"amount": {"every": 100, "points": 1}}})]},  # fmt: skip
            "earning_rules[0].loyalty.order.total_amount",
            "a ORDER_TOTAL_AMOUNT rule needs `loyalty.order.total_amount`",
        ),
        (
            {"rules": [ern("ern_1", prop("ORDER_AMOUNT", 0, 1))]},
            "earning_rules[0].loyalty.order.amount.every",
            "`every` must be a whole number >= 1",
        ),
        (
            {"rules": [ern("ern_1", prop("ORDER_ITEMS_QUANTITY", -5, 1))]},
            "earning_rules[0].loyalty.order_items.quantity.every",
            "`every` must be a whole number >= 1",
        ),
        (
            {"rules": [ern("ern_1", {"type": "PROPORTIONAL", "calculation_type": "ORDER_AMOUNT",
                                     "order": {"amount": {"every": 100, "points_formula": "x*2"}}})]},  # fmt: skip
            "earning_rules[0].loyalty.order.amount.points",
            "`points_formula` is not supported: give `points`",
        ),
        (
            {"rules": [ern("ern_1", {"type": "FIXED"})]},
            "earning_rules[0].loyalty.points",
            "a FIXED rule needs `points`",
        ),
        (
            {"rules": [ern("ern_1", {"type": "PROPORTIONAL"})]},
            "earning_rules[0].loyalty.calculation_type",
            "a PROPORTIONAL rule needs it",
        ),
        (
            {"rules": [ern("ern_1", prop("ORDER_METADATA", 1, 1))]},
            "earning_rules[0].loyalty.order.metadata.property",
            "the metadata key is required",
        ),
        (
            {"rules": [ern("ern_1", prop("ORDER_ITEMS_AMOUNT", 100, 1, object="sku"))]},
            "earning_rules[0].loyalty.order_items.amount",
            "`object` and `id` go together",
        ),
        (
            {"rules": [ern("ern_1", prop("CUSTOM_EVENT_METADATA", 1, 1, property="x"))]},
            "earning_rules[0].loyalty.calculation_type",
            "CUSTOM_EVENT_METADATA cannot earn on order.paid: CUSTOMER_METADATA, ORDER_AMOUNT, "
            "ORDER_ITEMS_AMOUNT, ORDER_ITEMS_QUANTITY, ORDER_ITEMS_SUBTOTAL_AMOUNT, ORDER_METADATA, "
            "ORDER_TOTAL_AMOUNT",
        ),
        (
            {"rules": [ern("ern_1", prop("ORDER_AMOUNT", 100, 1), event="birthday")]},
            "earning_rules[0].loyalty.calculation_type",
            "ORDER_AMOUNT cannot earn on birthday: CUSTOMER_METADATA, CUSTOM_EVENT_METADATA",
        ),
        (
            {"rules": [ern("ern_1", prop("ORDER_AMOUNT", 100, 1), event="customer.loyalty.tier.joined",
                           loyalty_tier={"id": "__ANY__"})]},  # fmt: skip
            "earning_rules[0].loyalty.calculation_type",
            "ORDER_AMOUNT cannot earn on customer.loyalty.tier.joined: only FIXED",
        ),
        (
            {"rules": [ern("ern_1", fixed(5), event="customer.segment.entered")]},
            "earning_rules[0].segment",
            "a customer.segment.entered rule needs `segment.id`",
        ),
        (
            {"rules": [ern("ern_1", fixed(5), event="customer.loyalty.tier.upgraded")]},
            "earning_rules[0].loyalty_tier",
            "a customer.loyalty.tier.upgraded rule needs `loyalty_tier.id` (a tier or __ANY__)",
        ),
        (
            {"rules": [ern("ern_1", fixed(5), event="customer.loyalty.tier.joined", loyalty_tier={"id": "ltr_x"})],
             "tiers": GOLD},
            "earning_rules[0].loyalty_tier.id",
            "unknown tier 'ltr_x' of campaign 'camp_L'",
        ),
        (
            {"rules": [ern("ern_1", fixed(5), event="order.refunded")]},
            "earning_rules[0].event",
            "unknown event 'order.refunded': order.paid, customer.segment.entered, "
            "customer.loyalty.tier.* or a custom event name",
        ),
        (
            {"rules": [ern("ern_1", fixed(5), event="birthday", pending_points={"period_value": 3})]},
            "earning_rules[0].pending_points",
            "only order.paid rules have pending points",
        ),
        (
            {"rules": [ern("ern_1", fixed(5), validation_rule_id="val_x")]},
            "earning_rules[0].validation_rule_id",
            "unknown validation rule 'val_x'",
        ),
        (
            {"rules": [ern("ern_1", fixed(5), validation_rule_id="val_c")],
             "vrules": [vrule("val_c", rule("redemption.count.per_customer", "$less_than", 2))]},
            "earning_rules[0].validation_rule_id",
            "validation rule 'val_c' counts redemptions, which earning does not: use the rule's `limits`",
        ),
        (
            # the validation rule itself is compiled by the engine, with its own path
            {"rules": [ern("ern_1", fixed(5), validation_rule_id="val_b")],
             "vrules": [vrule("val_b", rule("order.amount", "$more_than", 1), logic="1 and 2")]},
            "validation_rules[0].rules.logic",
            "logic '1 and 2' refers to rule 2, which is not defined",
        ),
        (
            {"rules": [ern("ern_1", fixed(5), validity_timeframe={"interval": "P1D", "duration": "PT1H"})]},
            "earning_rules[0].validity_timeframe",
            "needs `start_date` to count from",
        ),
        (
            {"tiers": [ltier("ltr_1", 0, cid="camp_X")]},
            "loyalty_tiers[0].campaign_id",
            "unknown campaign 'camp_X'",
        ),
        (
            {"tiers": [ltier("ltr_1", 0, cid="camp_R")],
             "campaigns": [{"id": "camp_R", "name": "R", "campaign_type": "REFERRAL_PROGRAM",
                            "voucher": {"discount": {"type": "AMOUNT", "amount_off": 5}}}]},  # fmt: skip
            "loyalty_tiers[0].campaign_id",
            "campaign 'camp_R' is REFERRAL_PROGRAM, not a LOYALTY_PROGRAM",
        ),
        (
            {"tiers": [ltier("ltr_1", 0, 99), ltier("ltr_1", 100)]},
            "loyalty_tiers[1].id",
            "duplicate id 'ltr_1'",
        ),
        (
            {"tiers": [ltier("ltr_1", 0, earning={"ern_9": multiply(2)})]},
            "loyalty_tiers[0].earning_rules.ern_9",
            "unknown earning rule 'ern_9' of campaign 'camp_L'",
        ),
        (
            # a rule of another program cannot be mapped here
            {"programs": [program(), program("camp_M")], "rules": [ern("ern_m", fixed(5), cid="camp_M")],
             "tiers": [ltier("ltr_1", 0, earning={"ern_m": multiply(2)})]},
            "loyalty_tiers[0].earning_rules.ern_m",
            "unknown earning rule 'ern_m' of campaign 'camp_L'",
        ),
        (
            {"tiers": [ltier("ltr_1", 0, rewards={"rewa_9": custom(5)})]},
            "loyalty_tiers[0].rewards.rewa_9",
            "unknown reward assignment 'rewa_9' of campaign 'camp_L'",
        ),
        (
            {"tiers": [ltier("ltr_1", 0, 249), ltier("ltr_2", 250, 499), ltier("ltr_3", 499, 1000)]},
            "loyalty_tiers[2].points",
            "points 499-1000 overlap tier 'ltr_2' (250-499, loyalty_tiers[1])",
        ),
        (
            {"tiers": [ltier("ltr_1", 1000), ltier("ltr_2", 0, 5000)]},
            "loyalty_tiers[1].points",
            "points 0-5000 overlap tier 'ltr_1' (1000+, loyalty_tiers[0])",
        ),
        (
            {"rewards": [{"id": "rew_1", "parameters": {"campaign": {"id": "camp_X"}}}]},
            "rewards[0].parameters.campaign.id",
            "unknown campaign 'camp_X'",
        ),
        (
            {"rewards": [{"id": "rew_1", "parameters": {"campaign": {"id": "camp_G"}}}],
             "campaigns": [{"id": "camp_G", "name": "G", "campaign_type": "GIFT_VOUCHERS",
                            "voucher": {"type": "GIFT_VOUCHER", "gift": {"amount": 1000}}}]},  # fmt: skip
            "rewards[0].parameters.campaign.balance",
            "needs a balance > 0 (cents)",
        ),
        (
            {"rewards": [{"id": "rew_1", "parameters": {"product": {"id": "p"}}}, {"id": "rew_1", "parameters": {"product": {"id": "q"}}}]},
            "rewards[1].id",
            "duplicate id 'rew_1'",
        ),
        (
            {"assignments": [{"id": "rewa_1", "reward_id": "rew_9", "campaign_id": "camp_L", "points": 5}]},
            "reward_assignments[0].reward_id",
            "unknown reward 'rew_9'",
        ),
        (
            {"rewards": [{"id": "rew_1", "parameters": {"product": {"id": "p"}}}],
             "assignments": [{"id": "rewa_1", "reward_id": "rew_1", "campaign_id": "camp_X", "points": 5}]},
            "reward_assignments[0].campaign_id",
            "unknown campaign 'camp_X': rewards are assigned to loyalty or referral programs",
        ),
        (
            {"rewards": [{"id": "rew_1", "parameters": {"product": {"id": "p"}}}],
             "assignments": [{"id": "rewa_1", "reward_id": "rew_1", "campaign_id": "camp_L"}]},
            "reward_assignments[0].points",
            "the reward's price in points is required",
        ),
        (
            {"rewards": [{"id": "rew_1", "parameters": {"product": {"id": "p"}}}],
             "assignments": [{"id": "rewa_1", "reward_id": "rew_1", "campaign_id": "camp_L", "points": 5},
                             {"id": "rewa_2", "reward_id": "rew_1", "campaign_id": "camp_L", "points": 6}]},
            "reward_assignments[1].reward_id",
            "reward 'rew_1' is already assigned to 'camp_L' ('rewa_1')",
        ),
        (
            {"rewards": [{"id": "rew_1", "parameters": {"campaign": {"id": "camp_L", "balance": 100}}}],
             "assignments": [{"id": "rewa_1", "reward_id": "rew_1", "campaign_id": "camp_L", "points": 5}]},
            "reward_assignments[0].reward_id",
            "reward 'rew_1' credits campaign 'camp_L' itself",
        ),
        (
            {"rewards": [{"id": "rew_P", "parameters": {"coin": {"exchange_ratio": 1, "points_ratio": 10}}}],
             "assignments": [{"id": "rewa_1", "reward_id": "rew_P", "campaign_id": "camp_L", "points": 5}]},
            "reward_assignments[0].points",
            "a COIN reward is priced by its `points_ratio`",
        ),
        (
            {"rewards": [{"id": "rew_1", "parameters": {"product": {"id": "p"}}},
                         {"id": "rew_2", "parameters": {"product": {"id": "q"}}}],
             "assignments": [{"id": "rewa_1", "reward_id": "rew_1", "campaign_id": "camp_L", "points": 5, "auto_redeem": True},
                             {"id": "rewa_2", "reward_id": "rew_2", "campaign_id": "camp_L", "points": 6, "auto_redeem": True}]},
            "reward_assignments[1].auto_redeem",
            "campaign 'camp_L' already auto-redeems 'rewa_1'",
        ),
    ],
)  # fmt: skip
def test_compile_refuses(earning: Any, kw: dict, path: str, reason: str) -> None:
    assert _compile_error(earning, **kw) == (path, reason)


def test_a_consistent_program_compiles(earning: Any) -> None:
    ix = earning.compile_earning(
        ldefs(
            [program(expiration=months(12))],
            [ern("ern_1", prop("ORDER_AMOUNT", 100, 1)), ern("ern_2", fixed(50), event="birthday"),
             ern("ern_3", fixed(10), event="customer.loyalty.tier.joined", loyalty_tier={"id": "ltr_g"})],
            [ltier("ltr_s", 0, 499, earning={"ern_1": multiply(1)}), ltier("ltr_g", 500, rewards={"rewa_m": custom(200)})],
            rewards=[{"id": "rew_m", "parameters": {"product": {"id": "p"}}}],
            assignments=[{"id": "rewa_m", "reward_id": "rew_m", "campaign_id": "camp_L", "points": 250}],
        )
    )  # fmt: skip
    assert ix.events == ["birthday", "customer.loyalty.tier.joined", "order.paid"]
    assert sorted(ix.tiers) == ["ltr_g", "ltr_s"] and sorted(ix.rules) == ["ern_1", "ern_2", "ern_3"]
