"""The admin API's OpenAPI description: every route's body, query parameters and answers.

Admin handlers read the raw JSON body (``json_body()`` in admin/app.py) and translate it with
admin/shapes.py, so Litestar cannot see what they take. This module says it once, per
``(method, path)``, with msgspec Structs that mirror what shapes.py and the handlers accept
(the Voucherify field names, each optional field absent rather than null, the constraints of
core.model), and :func:`describe` writes it into the app's schema when the app is built
(``store.openapi``). Nothing here is used to decode a request: the handlers stay the judges,
and a body this schema allows may still be refused (a reference to a missing object, dates in
the wrong order, a definition that does not compile) with a 4xx in Voucherify's error shape.

The request structs describe what a client should send, so that a schema-driven client or
fuzzer builds bodies admin accepts: where admin takes several spellings (``category`` or
``category_id``, ``validation_rules`` or ``validation_rule_assignments``) the main ones are
listed; unknown fields are ignored, as Voucherify does.
"""

from __future__ import annotations

import importlib
from typing import Annotated, Any, Generic, Literal, TypeVar

from litestar import Litestar
from msgspec import UNSET, Meta, Struct, UnsetType, field

from core.model import RULE_PROPERTIES
from store.auth import ROLES
from store.openapi import OPS_HEALTH, Body, DateTime, Op, Param, Reply, ops_ready
from store.openapi import describe as _describe

Ident = Annotated[str, Meta(min_length=1, max_length=200)]
Cents = Annotated[int, Meta(ge=0, le=10**13)]
PosInt = Annotated[int, Meta(ge=1, le=10**12)]
NonNegInt = Annotated[int, Meta(ge=0, le=10**12)]
Percent = Annotated[float, Meta(ge=0, le=100, multiple_of=0.01)]
Metadata = dict[str, Any]
Count = Annotated[int, Meta(ge=0, le=10_000_000)]
Limit = Annotated[int, Meta(ge=1, le=100)]
Hour = Annotated[str, Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
EndHour = Annotated[str, Meta(pattern=r"^([01]\d|2[0-4]):[0-5]\d$")]
Duration = Annotated[str, Meta(pattern=r"^P(\d+D)?(T(\d+H)?(\d+M)?)?$")]
DayOfWeek = Annotated[int, Meta(ge=0, le=6)]
CampaignType = Literal[
    "DISCOUNT_COUPONS", "PROMOTION", "GIFT_VOUCHERS", "LOYALTY_PROGRAM", "REFERRAL_PROGRAM"
]
Code = Annotated[str, Meta(min_length=1, max_length=100, pattern=r"^[^\s/]+$")]


class _In(Struct, kw_only=True, omit_defaults=True):
    """Request side: unknown fields are ignored; an explicit null means absent."""


class _Out(Struct, kw_only=True, omit_defaults=True):
    """Answer side: more fields than listed may come."""


# =============================================================================== pieces in


class AmountDiscount(_In, tag_field="type", tag="AMOUNT", kw_only=True):
    amount_off: Cents
    effect: (
        Literal[
            "APPLY_TO_ORDER",
            "APPLY_TO_ITEMS",
            "APPLY_TO_ITEMS_PROPORTIONALLY",
            "APPLY_TO_ITEMS_PROPORTIONALLY_BY_QUANTITY",
            "APPLY_TO_ITEMS_BY_QUANTITY",
        ]
        | UnsetType
    ) = UNSET


class PercentDiscount(_In, tag_field="type", tag="PERCENT", kw_only=True):
    percent_off: Percent
    #: cap on the discount, in cents
    amount_limit: Cents | UnsetType = UNSET
    effect: Literal["APPLY_TO_ORDER", "APPLY_TO_ITEMS"] | UnsetType = UNSET


class FixedDiscount(_In, tag_field="type", tag="FIXED", kw_only=True):
    """The order (or items) cost ``fixed_amount`` after the discount."""

    fixed_amount: Cents
    effect: Literal["APPLY_TO_ORDER", "APPLY_TO_ITEMS"] | UnsetType = UNSET


class UnitDiscount(_In, tag_field="type", tag="UNIT", kw_only=True):
    """``unit_off`` units of product (or SKU) ``unit_type`` for free; ``prod_5h1pp1ng`` is
    free shipping."""

    unit_off: PosInt
    unit_type: Ident
    effect: Literal["ADD_MISSING_ITEMS", "ADD_NEW_ITEMS", "ADD_SAME_ITEMS"] | UnsetType = UNSET


DiscountIn = AmountDiscount | PercentDiscount | FixedDiscount | UnitDiscount


class GiftIn(_In, kw_only=True):
    amount: Cents


class ExpirationRulesIn(_In, kw_only=True):
    """When earned points expire (UTC): ``MONTH``, ``period_value`` months after they are
    earned (then, with ``rounding_type``, at the end of that month / quarter / half year /
    year, or of the month ``rounding_value``), or ``FIXED_DAY_OF_YEAR``, the next
    ``fixed_month`` / ``fixed_day``."""

    period_type: Literal["MONTH", "FIXED_DAY_OF_YEAR"]
    period_value: Annotated[int, Meta(ge=1, le=1200)] | UnsetType = UNSET
    rounding_type: (
        Literal["END_OF_MONTH", "END_OF_QUARTER", "END_OF_HALF_YEAR", "END_OF_YEAR", "PARTICULAR_MONTH"]
        | UnsetType
    ) = UNSET
    rounding_value: Annotated[int, Meta(ge=0, le=12)] | UnsetType = UNSET
    fixed_month: Annotated[int, Meta(ge=1, le=12)] | UnsetType = UNSET
    fixed_day: Annotated[int, Meta(ge=1, le=31)] | UnsetType = UNSET


class LoyaltyCardIn(_In, kw_only=True):
    points: NonNegInt
    #: cents one point is worth when paid with
    point_value: Cents | UnsetType = UNSET
    #: when the program's points expire (absent: never; an earning rule may say otherwise)
    expiration_rules: ExpirationRulesIn | UnsetType = UNSET


class RedemptionLimitIn(_In, kw_only=True):
    quantity: PosInt | UnsetType = UNSET
    per_customer: PosInt | UnsetType = UNSET


class CodeConfigIn(_In, kw_only=True):
    """How codes are made: ``length`` random characters from ``charset`` (no character twice)
    between ``prefix`` and ``postfix``, or a ``pattern`` where each ``#`` is one."""

    length: Annotated[int, Meta(ge=1, le=64)] | UnsetType = UNSET
    charset: Annotated[str, Meta(min_length=2, max_length=256)] | UnsetType = UNSET
    prefix: Annotated[str, Meta(max_length=64)] | UnsetType = UNSET
    postfix: Annotated[str, Meta(max_length=64)] | UnsetType = UNSET
    pattern: Annotated[str, Meta(max_length=128, pattern="#")] | UnsetType = UNSET


class VoucherTemplateIn(_In, kw_only=True):
    """What every code of a campaign carries (``campaign.voucher``)."""

    type: Literal["DISCOUNT_VOUCHER", "GIFT_VOUCHER", "LOYALTY_CARD"] | UnsetType = UNSET
    discount: DiscountIn | UnsetType = UNSET
    gift: GiftIn | UnsetType = UNSET
    loyalty_card: LoyaltyCardIn | UnsetType = UNSET
    redemption: RedemptionLimitIn | UnsetType = UNSET
    code_config: CodeConfigIn | UnsetType = UNSET


class DiscountTemplate(_In, kw_only=True):
    type: Literal["DISCOUNT_VOUCHER"] | UnsetType = UNSET
    discount: DiscountIn
    redemption: RedemptionLimitIn | UnsetType = UNSET
    code_config: CodeConfigIn | UnsetType = UNSET


class GiftTemplate(_In, kw_only=True):
    type: Literal["GIFT_VOUCHER"] | UnsetType = UNSET
    gift: GiftIn
    redemption: RedemptionLimitIn | UnsetType = UNSET
    code_config: CodeConfigIn | UnsetType = UNSET


class LoyaltyTemplate(_In, kw_only=True):
    type: Literal["LOYALTY_CARD"] | UnsetType = UNSET
    loyalty_card: LoyaltyCardIn
    redemption: RedemptionLimitIn | UnsetType = UNSET
    code_config: CodeConfigIn | UnsetType = UNSET


class CampaignLimitsIn(_In, kw_only=True):
    """Budgets and limits (a promogate extension); each absent one is unlimited."""

    redemptions: PosInt | UnsetType = UNSET
    redemptions_per_day: PosInt | UnsetType = UNSET
    discounted_amount: Cents | UnsetType = UNSET
    order_value: Cents | UnsetType = UNSET
    per_customer: PosInt | UnsetType = UNSET
    per_customer_per_day: PosInt | UnsetType = UNSET
    per_customer_per_week: PosInt | UnsetType = UNSET
    per_customer_per_month: PosInt | UnsetType = UNSET
    gift_credits: Cents | UnsetType = UNSET


class ValidityTimeframeIn(_In, kw_only=True):
    """Active for ``duration`` every ``interval`` from the start date (ISO 8601 durations)."""

    interval: Duration
    duration: Duration


class DailyHours(_In, kw_only=True):
    """A daily window in UTC; an ``expiration_time`` before ``start_time`` wraps midnight."""

    start_time: Hour
    expiration_time: EndHour
    days_of_week: list[DayOfWeek] | UnsetType = UNSET


class ValidityHoursIn(_In, kw_only=True):
    daily: list[DailyHours]


class ActionIn(_In, kw_only=True):
    discount: DiscountIn


class TierIn(_In, kw_only=True):
    """A promotion tier (a cart promotion applied without a code)."""

    name: Annotated[str, Meta(max_length=200)] | UnsetType = UNSET
    banner: Annotated[str, Meta(max_length=500)] | UnsetType = UNSET
    action: ActionIn
    active: bool | UnsetType = UNSET
    hierarchy: Annotated[int, Meta(ge=0, le=10**6)] | UnsetType = UNSET
    category_id: Ident | UnsetType = UNSET
    start_date: DateTime | UnsetType = UNSET
    expiration_date: DateTime | UnsetType = UNSET
    validation_rules: list[Ident] | UnsetType = UNSET
    metadata: Metadata | UnsetType = UNSET


class TierUpdate(_In, kw_only=True):
    """Fields to change on a tier; ``metadata`` is merged."""

    name: Annotated[str, Meta(max_length=200)] | UnsetType = UNSET
    banner: Annotated[str, Meta(max_length=500)] | UnsetType = UNSET
    action: ActionIn | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    hierarchy: Annotated[int, Meta(ge=0, le=10**6)] | UnsetType = UNSET
    category_id: Ident | UnsetType = UNSET
    start_date: DateTime | UnsetType = UNSET
    expiration_date: DateTime | UnsetType = UNSET
    validation_rules: list[Ident] | UnsetType = UNSET
    metadata: Metadata | UnsetType = UNSET


class PromotionIn(_In, kw_only=True):
    tiers: Annotated[list[TierIn], Meta(min_length=1, max_length=50)]


# =============================================================================== campaigns


class _CampaignCommon(_In, kw_only=True):
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    description: str | UnsetType = UNSET
    type: Literal["STATIC", "AUTO_UPDATE"] | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    category_id: Ident | UnsetType = UNSET
    start_date: DateTime | UnsetType = UNSET
    expiration_date: DateTime | UnsetType = UNSET
    validity_timeframe: ValidityTimeframeIn | UnsetType = UNSET
    validity_day_of_week: list[DayOfWeek] | UnsetType = UNSET
    validity_hours: ValidityHoursIn | UnsetType = UNSET
    validation_rules: list[Ident] | UnsetType = UNSET
    limits: CampaignLimitsIn | UnsetType = UNSET
    metadata: Metadata | UnsetType = UNSET


class CouponCampaign(_CampaignCommon, tag_field="campaign_type", tag="DISCOUNT_COUPONS", kw_only=True):
    """Discount codes. ``vouchers_count`` generates that many codes (``voucher.code_config``)
    as an async action."""

    voucher: DiscountTemplate
    vouchers_count: Count | UnsetType = UNSET


class ReferralTemplate(DiscountTemplate, kw_only=True):
    #: always true for a referral programme's codes (answered so; the request may say it)
    is_referral_code: bool | UnsetType = UNSET


class ReferralCustomEventIn(_In, kw_only=True):
    id: Ident | UnsetType = UNSET
    name: Ident | UnsetType = UNSET


class ReferralParentIn(_In, kw_only=True):
    id: Ident
    name: str | UnsetType = UNSET
    object: Literal["CAMPAIGN"] | UnsetType = UNSET


class RefereeRewardIn(_In, kw_only=True):
    """Points on the referee's card of a LOYALTY_PROGRAM (``LOYALTY_CARD``) or credits in cents
    on a gift card of a GIFT_VOUCHERS campaign (``GIFT_VOUCHER``). ``amount`` is a string in SDK
    6.1.1 (a number is accepted; it is answered as a string)."""

    related_object_parent: ReferralParentIn
    type: Literal["LOYALTY_CARD", "GIFT_VOUCHER"]
    amount: Annotated[int, Meta(ge=1, le=10**13)] | Annotated[str, Meta(pattern=r"^[0-9]{1,14}$")]


class ReferralTierIn(_In, kw_only=True):
    """promogate extension: which rewards assigned to the referral campaign pay the referrer for
    its n-th unique referee: from ``min_referees`` on, or (``once``) only at it."""

    rewards: Annotated[list[Ident], Meta(min_length=1, max_length=20)]
    #: default ``rt_<min_referees>`` (``_once`` appended for a once tier)
    id: Ident | UnsetType = UNSET
    name: Annotated[str, Meta(max_length=200)] | UnsetType = UNSET
    min_referees: Annotated[int, Meta(ge=1, le=10**9)] | UnsetType = UNSET
    once: bool | UnsetType = UNSET


class ReferralProgramIn(_In, kw_only=True):
    """When a referral converts (the referee's redemption of the code, or the custom event
    named) and, for a double-sided programme, the referee's reward. The referrer is paid the
    rewards assigned to the campaign (``POST /v1/rewards/{id}/assignments``) on each unique
    referee; the last four fields are promogate extensions (Voucherify sets them in its
    dashboard)."""

    conversion_event_type: Literal["redemption", "custom_event"] | UnsetType = UNSET
    #: required (with its name) when the conversion is a custom event
    custom_event: ReferralCustomEventIn | UnsetType = UNSET
    referee_reward: RefereeRewardIn | UnsetType = UNSET
    #: promogate: the assigned rewards each tier pays (without tiers: all of them, every time)
    referral_tiers: Annotated[list[ReferralTierIn], Meta(max_length=20)] | UnsetType = UNSET
    #: promogate: a referrer's referees counted at most (then ``referral_limit_exceeded``)
    max_referees: Annotated[int, Meta(ge=1, le=10**9)] | UnsetType = UNSET
    #: promogate: refuse a referee with a paid order before the referral (``customer_not_new``)
    new_customers_only: bool | UnsetType = UNSET
    #: promogate: refuse a referee whose email or phone is the referrer's or another referee's
    #: of the programme (``duplicate_referee_contact``)
    unique_contacts: bool | UnsetType = UNSET


class ReferralCampaign(_CampaignCommon, tag_field="campaign_type", tag="REFERRAL_PROGRAM", kw_only=True):
    """A referral programme: its codes are published once per referrer and redeemed by the
    referees (never by the referrer: ``referrer_not_permitted_to_redeem``)."""

    voucher: ReferralTemplate
    vouchers_count: Count | UnsetType = UNSET
    auto_join: bool | UnsetType = UNSET
    #: one code per customer (default true)
    join_once: bool | UnsetType = UNSET
    referral_program: ReferralProgramIn | UnsetType = UNSET


class GiftCampaign(_CampaignCommon, tag_field="campaign_type", tag="GIFT_VOUCHERS", kw_only=True):
    voucher: GiftTemplate
    vouchers_count: Count | UnsetType = UNSET


class LoyaltyCampaign(_CampaignCommon, tag_field="campaign_type", tag="LOYALTY_PROGRAM", kw_only=True):
    """A loyalty program (also made by ``POST /v1/loyalties``): its codes are loyalty cards."""

    voucher: LoyaltyTemplate
    vouchers_count: Count | UnsetType = UNSET
    #: publish a card to a customer who has none when they first earn (default false)
    auto_join: bool | UnsetType = UNSET
    #: one card per customer (default true)
    join_once: bool | UnsetType = UNSET


class PromotionCampaign(_CampaignCommon, tag_field="campaign_type", tag="PROMOTION", kw_only=True):
    """Cart promotions: tiers, no codes."""

    promotion: PromotionIn


CampaignCreate = CouponCampaign | ReferralCampaign | GiftCampaign | LoyaltyCampaign | PromotionCampaign


class CampaignUpdate(_In, kw_only=True):
    """Fields to change; ``metadata`` is merged, ``unset_metadata_fields`` removes keys.
    ``discount`` / ``gift`` / ``voucher`` change the code template."""

    name: Annotated[str, Meta(min_length=1, max_length=200)] | UnsetType = UNSET
    description: str | UnsetType = UNSET
    type: Literal["STATIC", "AUTO_UPDATE"] | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    category_id: Ident | UnsetType = UNSET
    start_date: DateTime | UnsetType = UNSET
    expiration_date: DateTime | UnsetType = UNSET
    validity_timeframe: ValidityTimeframeIn | UnsetType = UNSET
    validity_day_of_week: list[DayOfWeek] | UnsetType = UNSET
    validity_hours: ValidityHoursIn | UnsetType = UNSET
    validation_rules: list[Ident] | UnsetType = UNSET
    limits: CampaignLimitsIn | UnsetType = UNSET
    metadata: Metadata | UnsetType = UNSET
    unset_metadata_fields: list[str] | UnsetType = UNSET
    discount: DiscountIn | UnsetType = UNSET
    gift: GiftIn | UnsetType = UNSET
    voucher: VoucherTemplateIn | UnsetType = UNSET
    #: loyalty and referral programs
    auto_join: bool | UnsetType = UNSET
    join_once: bool | UnsetType = UNSET


# =============================================================================== vouchers


class CustomerRefIn(_In, kw_only=True):
    id: Ident | UnsetType = UNSET
    source_id: Ident | UnsetType = UNSET


class _VoucherFields(_In, kw_only=True):
    active: bool | UnsetType = UNSET
    category_id: Ident | UnsetType = UNSET
    discount: DiscountIn | UnsetType = UNSET
    gift: GiftIn | UnsetType = UNSET
    loyalty_card: LoyaltyCardIn | UnsetType = UNSET
    redemption: RedemptionLimitIn | UnsetType = UNSET
    start_date: DateTime | UnsetType = UNSET
    expiration_date: DateTime | UnsetType = UNSET
    #: the customer (id or source_id) the code belongs to; absent: anyone
    customer_id: Ident | UnsetType = UNSET
    customer: CustomerRefIn | UnsetType = UNSET
    validation_rules: list[Ident] | UnsetType = UNSET
    metadata: Metadata | UnsetType = UNSET


class VoucherCreate(_VoucherFields, kw_only=True):
    """One code; fields left out come from its campaign's template. A code without a campaign
    needs its own ``discount``, ``gift`` or ``loyalty_card``."""

    campaign_id: Ident | UnsetType = UNSET


class VoucherUpdate(_VoucherFields, kw_only=True):
    """Fields to change; ``metadata`` is merged."""


class CampaignVouchersIn(_VoucherFields, kw_only=True):
    """One new code of the campaign (its ``code_config``), or with ``vouchers_count`` > 1
    that many, generated as an async action."""

    vouchers_count: Count | UnsetType = UNSET


# =============================================================================== validation rules

RuleOp = Literal[
    "$is", "$is_not", "$in", "$not_in",
    "$more_than", "$less_than", "$more_than_or_equal", "$less_than_or_equal",
    "$starts_with", "$ends_with", "$contains", "$has_value", "$is_unknown",
    "$after", "$before", "$count_more", "$count_less",
]  # fmt: skip
RuleName = Literal[RULE_PROPERTIES]  # type: ignore[valid-type]

_CONDITIONS = {
    "type": "object",
    "description": "Exactly one operator with its values, e.g. `{\"$more_than\": [5000]}`.",
    "propertyNames": {"enum": list(RuleOp.__args__)},
    "additionalProperties": {
        "type": "array",
        "minItems": 1,
        "maxItems": 20,
        "items": {"type": ["string", "number", "boolean"]},
    },
    "minProperties": 1,
    "maxProperties": 1,
}
Conditions = Annotated[dict[str, Any], Meta(extra_json_schema=_CONDITIONS)]


class ItemRule(_In, kw_only=True):
    """A condition on the order items a numbered rule matches (``order.items.*`` rules)."""

    name: RuleName
    conditions: Conditions
    property: Ident | UnsetType = UNSET


class RuleMessage(_In, kw_only=True):
    message: Annotated[str, Meta(max_length=500)]


class RuleIn(_In, kw_only=True):
    """One numbered condition. ``property`` names the metadata key of the ``*.metadata``
    rules (required there)."""

    name: RuleName
    conditions: Conditions
    property: Ident | UnsetType = UNSET
    rules: Annotated[dict[str, ItemRule], Meta(max_length=5)] | UnsetType = UNSET
    error: RuleMessage | UnsetType = UNSET


_RULES = {
    "type": "object",
    "description": "Numbered rules (`\"1\"`, `\"2\"`, ...) joined by `logic`, e.g. "
    "`\"(1 and 2) or not 3\"`; without `logic` they are all required.",
    "properties": {"logic": {"type": "string", "maxLength": 500}},
    "patternProperties": {"^[0-9]{1,3}$": {"$ref": "#/components/schemas/RuleIn"}},
    "additionalProperties": False,
    "maxProperties": 10,
}
RulesMap = Annotated[dict[str, Any], Meta(extra_json_schema=_RULES)]


class TargetIn(_In, kw_only=True):
    """One product, SKU, collection or category the discount applies to (or not)."""

    object: Literal["product", "sku", "products_collection", "category"]
    id: Ident
    effect: (
        Literal[
            "APPLY_TO_EVERY",
            "APPLY_TO_CHEAPEST",
            "APPLY_FROM_CHEAPEST",
            "APPLY_TO_MOST_EXPENSIVE",
            "APPLY_FROM_MOST_EXPENSIVE",
        ]
        | UnsetType
    ) = UNSET
    quantity_limit: PosInt | UnsetType = UNSET
    aggregated_quantity_limit: PosInt | UnsetType = UNSET
    amount_limit: Cents | UnsetType = UNSET
    aggregated_amount_limit: Cents | UnsetType = UNSET


class ApplicableToIn(_In, kw_only=True):
    included: list[TargetIn] | UnsetType = UNSET
    excluded: list[TargetIn] | UnsetType = UNSET
    included_all: bool | UnsetType = UNSET


class ValidationRuleIn(_In, kw_only=True):
    name: Annotated[str, Meta(max_length=200)] | UnsetType = UNSET
    type: Literal["basic", "advanced", "complex"] | UnsetType = UNSET
    rules: RulesMap | UnsetType = UNSET
    error: RuleMessage | UnsetType = UNSET
    applicable_to: ApplicableToIn | UnsetType = UNSET


_ASSIGNMENT = {
    "description": "What the rule is assigned to: `related_object_type` and "
    "`related_object_id`, or `voucher` (a code created one by one), or `campaign`.",
    "anyOf": [
        {
            "type": "object",
            "properties": {
                "related_object_type": {"enum": ["campaign", "promotion_tier", "voucher"]},
                "related_object_id": {"type": "string", "minLength": 1, "maxLength": 200},
            },
            "required": ["related_object_type", "related_object_id"],
        },
        {
            "type": "object",
            "properties": {"voucher": {"type": "string", "minLength": 1, "maxLength": 200}},
            "required": ["voucher"],
        },
        {
            "type": "object",
            "properties": {"campaign": {"type": "string", "minLength": 1, "maxLength": 200}},
            "required": ["campaign"],
        },
    ],
}

# =============================================================================== settings, catalogue

Limit30 = Annotated[int, Meta(ge=1, le=30)]
Limit5 = Annotated[int, Meta(ge=1, le=5)]


class StackingRulesIn(_In, kw_only=True):
    """Fields to change (merged into the current rules). A category cannot be both exclusive
    and joint."""

    redeemables_limit: Limit30 | UnsetType = UNSET
    applicable_redeemables_limit: Limit30 | UnsetType = UNSET
    applicable_redeemables_per_category_limit: Limit30 | UnsetType = UNSET
    applicable_redeemables_category_limits: dict[str, Limit30] | UnsetType = UNSET
    applicable_exclusive_redeemables_limit: Limit5 | UnsetType = UNSET
    applicable_exclusive_redeemables_per_category_limit: Limit5 | UnsetType = UNSET
    exclusive_categories: list[Ident] | UnsetType = UNSET
    joint_categories: list[Ident] | UnsetType = UNSET
    redeemables_application_mode: Literal["ALL", "PARTIAL"] | UnsetType = UNSET
    redeemables_sorting_rule: Literal["REQUESTED_ORDER", "CATEGORY_HIERARCHY"] | UnsetType = UNSET
    redeemables_no_effect_rule: Literal["REDEEM_ANYWAY", "SKIP"] | UnsetType = UNSET


class ProductIn(_In, kw_only=True):
    """A product; ``POST`` with a known ``id`` or ``source_id`` updates it (upsert).
    ``categories`` and ``collections`` (extensions) serve item targeting."""

    id: Ident | UnsetType = UNSET
    source_id: Ident | UnsetType = UNSET
    name: Annotated[str, Meta(max_length=200)] | UnsetType = UNSET
    price: Cents | UnsetType = UNSET
    categories: list[Ident] | UnsetType = UNSET
    collections: list[Ident] | UnsetType = UNSET
    metadata: Metadata | UnsetType = UNSET


class SkuIn(_In, kw_only=True):
    id: Ident | UnsetType = UNSET
    source_id: Ident | UnsetType = UNSET
    price: Cents | UnsetType = UNSET
    metadata: Metadata | UnsetType = UNSET


# =============================================================================== people

CustomerId = Annotated[str, Meta(min_length=1, max_length=200, pattern=r"^(?!src:)")]


class AddressIn(_In, kw_only=True):
    city: str | UnsetType = UNSET
    state: str | UnsetType = UNSET
    line_1: str | UnsetType = UNSET
    line_2: str | UnsetType = UNSET
    country: str | UnsetType = UNSET
    postal_code: str | UnsetType = UNSET


class _CustomerFields(_In, kw_only=True):
    source_id: Ident | UnsetType = UNSET
    name: str | UnsetType = UNSET
    description: str | UnsetType = UNSET
    email: str | UnsetType = UNSET
    phone: str | UnsetType = UNSET
    birthdate: str | UnsetType = UNSET
    address: AddressIn | UnsetType = UNSET
    metadata: Metadata | UnsetType = UNSET


class CustomerIn(_CustomerFields, kw_only=True):
    """A customer; a known ``source_id`` (or ``id``) updates that customer (upsert), and
    ``metadata`` is merged."""

    id: CustomerId | UnsetType = UNSET


class CustomerUpdate(_CustomerFields, kw_only=True):
    """Fields to change; ``metadata`` is merged."""


SegmentType = Literal["static", "auto-update", "passive"]


class SegmentIn(_In, kw_only=True):
    """A segment: ``static`` (default), the existing customers listed in ``customers`` (ids or
    source_ids); or dynamic, ``auto-update`` / ``passive`` (alike here: no segment events), whose
    ``filter`` decides, at every read, who is in it, from the customer's attributes and live
    metrics. The filter is Voucherify's: ``{"junction": "and" | "or", "<field>": {"conditions":
    {"<$operator>": [values]}}, ...}``. Fields: ``name``, ``email``, ``phone``, ``birthdate``,
    ``created_at``, ``address.city`` / ``.country`` / ..., ``metadata.<key>``,
    ``summary.orders.total_count`` / ``total_amount`` / ``average_amount`` /
    ``last_order_amount`` / ``last_order_date``, ``summary.orders.count_in_days.<N>`` /
    ``amount_in_days.<N>`` (the last N days), ``loyalty.points``, ``events.total_count`` /
    ``last_event_date``. Operators: ``$is``, ``$is_not``, ``$in``, ``$not_in``, ``$more_than``,
    ``$more_than_equal``, ``$less_than``, ``$less_than_equal``, ``$contains``, ``$not_contain``,
    ``$starts_with``, ``$ends_with``, ``$is_unknown``, ``$has_value``, and on dates ``$before`` /
    ``$after`` (ISO 8601) and ``$older_than`` / ``$newer_than`` (an ISO 8601 duration such as
    ``P30D``, or a number of days; a customer who never ordered is older than any period). A
    filter core refuses is a 400 ``invalid_definition`` naming the field."""

    name: Annotated[str, Meta(min_length=1, max_length=200)]
    #: the client's own id (letters, digits, ``_``, ``-``), so that an earning rule on
    #: ``customer.segment.entered`` can name it before it exists; 409 when taken
    id: Annotated[str, Meta(pattern=r"^[A-Za-z0-9_\-]{1,100}$")] | UnsetType = UNSET
    type: SegmentType | UnsetType = UNSET
    customers: Annotated[list[Ident], Meta(max_length=100)] | UnsetType = UNSET
    #: dynamic segments only (required there)
    filter: dict[str, Any] | UnsetType = UNSET


class CampaignRefIn(_In, kw_only=True):
    id: Ident | UnsetType = UNSET
    name: Ident | UnsetType = UNSET


class PublicationIn(_In, kw_only=True):
    """Issue a new code of ``campaign`` (id or name) to ``customer`` (an id, or an object
    with ``id`` or ``source_id``; an unknown ``source_id`` is created)."""

    campaign: Ident | CampaignRefIn
    customer: Ident | CustomerIn
    metadata: Metadata | UnsetType = UNSET
    source_id: str | UnsetType = UNSET


class KeyIn(_In, kw_only=True):
    name: Annotated[str, Meta(min_length=1, max_length=200, pattern=r"\S")]
    role: Literal[ROLES]  # type: ignore[valid-type]

# =============================================================================== loyalty


class LoyaltyProgramIn(_CampaignCommon, kw_only=True):
    """A loyalty program: a LOYALTY_PROGRAM campaign whose codes are loyalty cards (without
    ``voucher``: cards of 0 points, codes of 8 random characters). ``STANDALONE`` is answered as
    ``AUTO_UPDATE``."""

    campaign_type: Literal["LOYALTY_PROGRAM"] | UnsetType = UNSET
    type: Literal["STATIC", "AUTO_UPDATE", "STANDALONE"] | UnsetType = UNSET  # type: ignore[assignment]
    voucher: LoyaltyTemplate | UnsetType = UNSET
    vouchers_count: Count | UnsetType = UNSET
    auto_join: bool | UnsetType = UNSET
    join_once: bool | UnsetType = UNSET


class EarningBlockIn(_In, kw_only=True):
    """``points`` for every ``every`` (cents, for amounts) of the value, rounded down.
    ``property``: the metadata key of the metadata calculations; ``object`` / ``id`` /
    ``applicable_to``: the items that count for the items calculations (none: every item)."""

    every: PosInt
    points: NonNegInt
    property: Ident | UnsetType = UNSET
    object: Literal["products_collection", "product", "sku"] | UnsetType = UNSET
    id: Ident | UnsetType = UNSET
    applicable_to: list[ItemRefIn] | UnsetType = UNSET


class ItemRefIn(_In, kw_only=True):
    object: Literal["products_collection", "product", "sku"]
    id: Ident


class OrderBlocksIn(_In, kw_only=True):
    amount: EarningBlockIn | UnsetType = UNSET
    total_amount: EarningBlockIn | UnsetType = UNSET
    metadata: EarningBlockIn | UnsetType = UNSET


class ItemsBlocksIn(_In, kw_only=True):
    quantity: EarningBlockIn | UnsetType = UNSET
    amount: EarningBlockIn | UnsetType = UNSET
    subtotal_amount: EarningBlockIn | UnsetType = UNSET


class MetadataBlockIn(_In, kw_only=True):
    metadata: EarningBlockIn


class EarningLoyaltyIn(_In, kw_only=True):
    """``FIXED`` (``points``) or ``PROPORTIONAL`` (``calculation_type`` and its one block:
    ORDER_AMOUNT ``order.amount``, ORDER_TOTAL_AMOUNT ``order.total_amount``, ORDER_METADATA
    ``order.metadata``, ORDER_ITEMS_* ``order_items.quantity|amount|subtotal_amount``,
    CUSTOMER_METADATA ``customer.metadata``, CUSTOM_EVENT_METADATA ``custom_event.metadata``)."""

    type: Literal["FIXED", "PROPORTIONAL"]
    points: NonNegInt | UnsetType = UNSET
    calculation_type: (
        Literal[
            "ORDER_AMOUNT", "ORDER_TOTAL_AMOUNT", "ORDER_METADATA", "ORDER_ITEMS_QUANTITY",
            "ORDER_ITEMS_AMOUNT", "ORDER_ITEMS_SUBTOTAL_AMOUNT", "CUSTOMER_METADATA",
            "CUSTOM_EVENT_METADATA",
        ]
        | UnsetType
    ) = UNSET  # fmt: skip
    order: OrderBlocksIn | UnsetType = UNSET
    order_items: ItemsBlocksIn | UnsetType = UNSET
    customer: MetadataBlockIn | UnsetType = UNSET
    custom_event: MetadataBlockIn | UnsetType = UNSET


class BannerIn(_In, kw_only=True):
    banner: Annotated[str, Meta(max_length=500)] | UnsetType = UNSET


class PendingPointsIn(_In, kw_only=True):
    """Points wait this many days before they can be spent (order.paid rules only)."""

    period_type: Literal["DAY"] | UnsetType = UNSET
    period_value: Annotated[int, Meta(ge=1, le=90)]


class IdRefIn(_In, kw_only=True):
    id: Ident


class SchemaRefIn(_In, kw_only=True):
    schema_id: Ident | UnsetType = UNSET


class PerCustomerIn(_In, kw_only=True):
    count: PosInt
    period: Literal["DAY", "WEEK", "MONTH"] | UnsetType = UNSET


class EarningLimitsIn(_In, kw_only=True):
    """promogate extension: at most ``count`` accruals per customer (per ``period``)."""

    per_customer: PerCustomerIn | UnsetType = UNSET


class _EarningRuleFields(_In, kw_only=True):
    loyalty: EarningLoyaltyIn | UnsetType = UNSET
    source: BannerIn | UnsetType = UNSET
    validation_rule_id: Ident | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    start_date: DateTime | UnsetType = UNSET
    expiration_date: DateTime | UnsetType = UNSET
    validity_timeframe: ValidityTimeframeIn | UnsetType = UNSET
    validity_day_of_week: list[DayOfWeek] | UnsetType = UNSET
    validity_hours: ValidityHoursIn | UnsetType = UNSET
    expiration_rules: ExpirationRulesIn | UnsetType = UNSET
    pending_points: PendingPointsIn | UnsetType = UNSET
    metadata: Metadata | UnsetType = UNSET
    limits: EarningLimitsIn | UnsetType = UNSET


class EarningRuleIn(_EarningRuleFields, kw_only=True):
    """An earning rule. ``event``: ``order.paid``, ``customer.segment.entered`` (with
    ``segment``), ``customer.loyalty.tier.joined|left|upgraded|downgraded|prolonged`` (with
    ``loyalty_tier``: a tier id or ``__ANY__``; FIXED only) or a custom event's name."""

    event: Annotated[str, Meta(min_length=1, max_length=300)]
    loyalty: EarningLoyaltyIn  # type: ignore[assignment]
    segment: IdRefIn | UnsetType = UNSET
    custom_event: SchemaRefIn | UnsetType = UNSET
    loyalty_tier: IdRefIn | UnsetType = UNSET


class EarningRuleUpdate(_EarningRuleFields, kw_only=True):
    """Fields to change (``event`` and its targets cannot); a null changes nothing;
    ``metadata`` is merged."""


class TierMappingIn(_In, kw_only=True):
    """``MULTIPLY`` the points (``multiplier``, rounded down) or replace them (``CUSTOM``,
    ``points``)."""

    type: Literal["MULTIPLY", "CUSTOM"]
    multiplier: Annotated[float, Meta(ge=0, le=10**6)] | UnsetType = UNSET
    points: NonNegInt | UnsetType = UNSET


class TierPointsIn(_In, kw_only=True):
    """Inclusive; ``to`` absent for the top tier. The program's tiers do not overlap."""

    from_: NonNegInt = field(name="from")
    to: NonNegInt | UnsetType = UNSET


class LoyaltyTierIn(_In, kw_only=True):
    """A tier: members whose points fall in ``points`` earn by its ``earning_rules`` mappings
    (by earning rule id) and pay its ``rewards`` prices (by reward assignment id)."""

    points: TierPointsIn
    name: Annotated[str, Meta(max_length=200)] | UnsetType = UNSET
    earning_rules: dict[str, TierMappingIn] | UnsetType = UNSET
    rewards: dict[str, TierMappingIn] | UnsetType = UNSET
    metadata: Metadata | UnsetType = UNSET


class RewardCampaignIn(_In, kw_only=True):
    """A code of a DISCOUNT_COUPONS campaign, or ``balance`` (> 0) credited to a GIFT_VOUCHERS
    (cents) or LOYALTY_PROGRAM (points) card."""

    id: Ident
    balance: PosInt | UnsetType = UNSET


class RewardProductIn(_In, kw_only=True):
    id: Ident
    sku_id: Ident | UnsetType = UNSET


class RewardCoinIn(_In, kw_only=True):
    """Pay with points: ``points_ratio`` points are worth ``exchange_ratio`` currency units
    (the SDK sends ``points_ratio`` as a string of digits)."""

    exchange_ratio: Annotated[float, Meta(gt=0, le=10**9)]
    points_ratio: PosInt | Annotated[str, Meta(pattern=r"^[0-9]{1,12}$")]


class RewardParamsIn(_In, kw_only=True):
    """Exactly one member, which says the reward's type: ``campaign`` CAMPAIGN, ``product``
    MATERIAL, ``coin`` COIN."""

    campaign: RewardCampaignIn | UnsetType = UNSET
    product: RewardProductIn | UnsetType = UNSET
    coin: RewardCoinIn | UnsetType = UNSET


class RewardAttributesIn(_In, kw_only=True):
    image_url: str | UnsetType = UNSET
    description: str | UnsetType = UNSET


class RewardIn(_In, kw_only=True):
    """A reward of the catalogue; ``stock``: units in all (absent: unlimited)."""

    parameters: RewardParamsIn
    name: Annotated[str, Meta(max_length=200)] | UnsetType = UNSET
    type: Literal["CAMPAIGN", "MATERIAL", "COIN"] | UnsetType = UNSET
    stock: NonNegInt | UnsetType = UNSET
    attributes: RewardAttributesIn | UnsetType = UNSET
    metadata: Metadata | UnsetType = UNSET


class RewardUpdate(_In, kw_only=True):
    """Fields to change (a null changes nothing; the type stays); ``parameters`` names the
    reward's own member, whose given fields change; ``metadata`` and ``attributes`` merge."""

    parameters: RewardParamsIn | UnsetType = UNSET
    name: Annotated[str, Meta(max_length=200)] | UnsetType = UNSET
    stock: NonNegInt | UnsetType = UNSET
    attributes: RewardAttributesIn | UnsetType = UNSET
    metadata: Metadata | UnsetType = UNSET


class PriceIn(_In, kw_only=True):
    #: the price in points (required for a loyalty program's CAMPAIGN or MATERIAL reward;
    #: none for COIN)
    points: PosInt | UnsetType = UNSET
    #: redeem by itself once the balance reaches the price (one per program)
    auto_redeem: bool | UnsetType = UNSET


class AssignmentParamsIn(_In, kw_only=True):
    loyalty: PriceIn | UnsetType = UNSET


class RewardAssignmentIn(_In, kw_only=True):
    """Offer the reward in a loyalty or referral program (``campaign``: its id or name)."""

    campaign: Ident
    parameters: AssignmentParamsIn | UnsetType = UNSET


class ProgramRewardIn(_In, kw_only=True):
    """Offer ``reward`` (its id) in the program of the path."""

    reward: Ident
    parameters: AssignmentParamsIn | UnsetType = UNSET


class RewardAssignmentUpdate(_In, kw_only=True):
    parameters: AssignmentParamsIn | UnsetType = UNSET



# =============================================================================== answers


class ListOut(_Out, kw_only=True):
    object: Literal["list"]
    data_ref: str
    total: int | UnsetType = UNSET
    has_more: bool | UnsetType = UNSET
    more_starting_after: str | None | UnsetType = UNSET


class CampaignOut(_Out, kw_only=True):
    id: str
    name: str
    campaign_type: CampaignType
    object: Literal["campaign"]
    active: bool
    type: str
    metadata: Metadata
    vouchers_count: int
    creation_status: str
    validation_rules: list[str]
    limits: dict[str, int]
    voucher: dict[str, Any] | UnsetType = UNSET
    promotion: dict[str, Any] | UnsetType = UNSET
    start_date: str | UnsetType = UNSET
    expiration_date: str | UnsetType = UNSET
    created_at: str | UnsetType = UNSET
    updated_at: str | UnsetType = UNSET
    category_id: str | UnsetType = UNSET
    async_action_id: str | UnsetType = UNSET


class CampaignList(ListOut, kw_only=True):
    campaigns: list[CampaignOut]


class AsyncActionRef(_Out, kw_only=True):
    async_action_id: str


class VoucherOut(_Out, kw_only=True):
    id: str
    code: str
    object: Literal["voucher"]
    type: Literal["DISCOUNT_VOUCHER", "GIFT_VOUCHER", "LOYALTY_CARD"]
    active: bool
    metadata: Metadata
    redemption: dict[str, Any]
    validation_rules: list[str]
    is_referral_code: bool
    campaign: str | UnsetType = UNSET
    campaign_id: str | UnsetType = UNSET
    discount: dict[str, Any] | UnsetType = UNSET
    gift: dict[str, int | str] | UnsetType = UNSET
    #: a card's live figures (its wallet's): points, balance, pending / expired / subtracted
    #: points, ``next_expiration_date`` (a date or null), ``next_expiration_points``
    loyalty_card: dict[str, int | str | None] | UnsetType = UNSET
    customer_id: str | UnsetType = UNSET
    start_date: str | UnsetType = UNSET
    expiration_date: str | UnsetType = UNSET
    created_at: str | UnsetType = UNSET
    updated_at: str | UnsetType = UNSET


class VoucherList(ListOut, kw_only=True):
    vouchers: list[VoucherOut]


class TierOut(_Out, kw_only=True):
    id: str
    object: Literal["promotion_tier"]
    name: str
    action: dict[str, Any]
    campaign_id: str
    active: bool
    hierarchy: int
    metadata: Metadata
    validation_rules: list[str]
    created_at: str | UnsetType = UNSET
    updated_at: str | UnsetType = UNSET


class TierList(ListOut, kw_only=True):
    tiers: list[TierOut]


class ValidationRuleOut(_Out, kw_only=True):
    id: str
    object: Literal["validation_rules"]
    name: str | UnsetType = UNSET
    type: Literal["basic", "advanced", "complex"]
    rules: dict[str, Any]
    assignments_count: int
    created_at: str | UnsetType = UNSET
    updated_at: str | UnsetType = UNSET


class ValidationRuleList(ListOut, kw_only=True):
    data: list[ValidationRuleOut]


class AssignmentOut(_Out, kw_only=True):
    id: str
    object: Literal["validation_rules_assignment"]
    rule_id: str
    related_object_id: str
    related_object_type: Literal["campaign", "promotion_tier", "voucher"]
    created_at: str | UnsetType = UNSET


class AssignmentList(ListOut, kw_only=True):
    data: list[AssignmentOut]


class StackingRulesOut(_Out, kw_only=True):
    """The rules that differ from the defaults (those of ``PUT``'s fields)."""

    object: Literal["stacking_rules"]
    redeemables_limit: int | UnsetType = UNSET
    applicable_redeemables_limit: int | UnsetType = UNSET
    redeemables_application_mode: Literal["ALL", "PARTIAL"] | UnsetType = UNSET
    exclusive_categories: list[str] | UnsetType = UNSET
    joint_categories: list[str] | UnsetType = UNSET


class SkuOut(_Out, kw_only=True):
    id: str
    object: Literal["sku"]
    product_id: str
    metadata: Metadata
    source_id: str | UnsetType = UNSET
    price: int | UnsetType = UNSET


class SkuList(ListOut, kw_only=True):
    skus: list[SkuOut]


class ProductOut(_Out, kw_only=True):
    id: str
    object: Literal["product"]
    name: str
    metadata: Metadata
    categories: list[str]
    collections: list[str]
    skus: dict[str, Any]
    source_id: str | UnsetType = UNSET
    price: int | UnsetType = UNSET


class ProductList(ListOut, kw_only=True):
    products: list[ProductOut]


class CustomerOut(_Out, kw_only=True):
    id: str
    object: Literal["customer"]
    metadata: Metadata
    segments: list[str]
    created_at: str | None
    updated_at: str | None
    source_id: str | UnsetType = UNSET


class CustomerList(ListOut, kw_only=True):
    customers: list[CustomerOut]


class SegmentOut(_Out, kw_only=True):
    id: str
    object: Literal["segment"]
    name: str | None
    type: SegmentType | UnsetType = UNSET
    #: static segments: their members' ids
    customers: list[str] | UnsetType = UNSET
    #: dynamic segments: the filter, as created
    filter: dict[str, Any] | UnsetType = UNSET
    #: dynamic segments: always ``DONE`` (membership is judged at read time, nothing to sync)
    initial_sync_status: Literal["DONE"] | UnsetType = UNSET
    created_at: str | None | UnsetType = UNSET


class SegmentList(ListOut, kw_only=True):
    data: list[SegmentOut]


class PublicationOut(_Out, kw_only=True):
    id: str
    object: Literal["publication"]
    customer_id: str
    result: Literal["SUCCESS"]
    voucher: VoucherOut
    vouchers_id: list[str]


class AsyncActionOut(_Out, kw_only=True):
    id: str
    object: Literal["async_action"]
    type: str | None
    status: Literal["ENQUEUED", "IN_PROGRESS", "DONE", "FAILED"]
    progress: int
    processed: int
    total: int
    result: dict[str, Any] | UnsetType = UNSET


class AsyncActionList(_Out, kw_only=True):
    object: Literal["list"]
    data_ref: Literal["async_actions"]
    async_actions: list[AsyncActionOut]


class KeyOut(_Out, kw_only=True):
    id: str
    object: Literal["api_key"]
    name: str | None
    role: str | None
    created_at: str | None
    #: only when the key is created: shown once
    token: str | UnsetType = UNSET


class KeyList(ListOut, kw_only=True):
    data: list[KeyOut]


class AuditEntry(_Out, kw_only=True):
    id: str
    object: Literal["audit_entry"]
    created_at: str | None
    actor: dict[str, str | None]
    action: str | None
    resource_type: str | None
    resource_id: str | None
    before: Any
    after: Any
    request_id: str | None


class AuditList(ListOut, kw_only=True):
    data: list[AuditEntry]


class LedgerRow(_Out, kw_only=True):
    id: str
    status: Literal["SUCCEEDED", "FAILED", "ROLLED_BACK"]
    result: Literal["SUCCESS", "FAILURE"]


class RedemptionList(ListOut, kw_only=True):
    redemptions: list[LedgerRow]


class CampaignReport(_Out, kw_only=True):
    object: Literal["campaign_report"]
    campaign_id: str
    campaign_name: str
    campaign_type: CampaignType
    redemptions: dict[str, int]
    total_discounted_amount: int
    total_order_value: int
    budget: dict[str, Any]


class KeyCount(_Out, kw_only=True):
    key: str
    count: int


T = TypeVar("T")


class PerLimit(_Out, Generic[T], kw_only=True):
    """One value per campaign-wide limit the burn chart follows."""

    redemptions: T
    discounted_amount: T


class SeriesLimits(PerLimit[int | None]):
    """Each limit; None: no such limit."""


class SeriesPace(PerLimit[float]):
    """Net change per hour over the last 6 hours (of the window)."""


class SeriesExhaustion(PerLimit[str | None]):
    """When each limit runs out at the current pace (ISO 8601); None: no limit, no use, or
    spent."""


class CampaignSeries(_Out, kw_only=True):
    """Hourly series, oldest first; every list has ``hours`` items, one per hour starting at
    ``t`` (epoch seconds). The cumulative ``*_used`` series end at the live counters the
    gateway enforces (net of rollbacks)."""

    object: Literal["campaign_series"]
    campaign_id: str
    as_of: str
    bucket_seconds: int
    hours: int
    t: list[int]
    succeeded: list[int]
    failed: list[int]
    rolled_back: list[int]
    redemptions_used: list[int]
    discounted_amount_used: list[int]
    limits: SeriesLimits
    pace_per_hour: SeriesPace
    projected_exhaustion: SeriesExhaustion
    failures_by_key: list[KeyCount]


class CustomerReport(_Out, kw_only=True):
    object: Literal["customer_report"]
    customer: CustomerOut
    vouchers: list[VoucherOut]
    balances: dict[str, int]
    redemptions: RedemptionList
    summary: dict[str, int]


class RollbackIn(_In, kw_only=True):
    """Why the redemption is rolled back (kept on the ledger and in the audit entry)."""

    reason: Annotated[str, Meta(min_length=1, max_length=500, pattern=r"\S")]


class RollbackOut(_Out, kw_only=True):
    object: Literal["redemption_rollback"]
    id: str
    redemption: str
    rolled_back: list[str]
    reason: str
    date: str
    result: Literal["SUCCESS"]
    status: Literal["SUCCEEDED"]


class ImportOut(_Out, kw_only=True):
    object: Literal["import"]
    status: Literal["DONE"]


class EarningRuleOut(_Out, kw_only=True):
    id: str
    object: Literal["earning_rule"]
    event: str
    loyalty: dict[str, Any]
    source: dict[str, str]
    active: bool
    metadata: Metadata
    validation_rule_id: str | UnsetType = UNSET
    start_date: str | UnsetType = UNSET
    expiration_date: str | UnsetType = UNSET
    created_at: str | UnsetType = UNSET
    updated_at: str | UnsetType = UNSET


class EarningRuleList(ListOut, kw_only=True):
    data: list[EarningRuleOut]


class LoyaltyTierOut(_Out, kw_only=True):
    id: str
    object: Literal["loyalty_tier"]
    name: str
    campaign_id: str
    points: dict[str, int | None]
    config: dict[str, Any]
    earning_rules: dict[str, Any]
    rewards: dict[str, Any]
    metadata: Metadata
    created_at: str | UnsetType = UNSET
    updated_at: str | UnsetType = UNSET


class LoyaltyTierList(ListOut, kw_only=True):
    data: list[LoyaltyTierOut]


class RewardOut(_Out, kw_only=True):
    id: str
    object: Literal["reward"]
    name: str | None
    type: Literal["CAMPAIGN", "MATERIAL", "COIN"]
    parameters: dict[str, Any]
    #: units in all; null: unlimited
    stock: int | None
    #: units redeemed so far (live)
    redeemed: int
    attributes: dict[str, Any]
    metadata: Metadata
    created_at: str | UnsetType = UNSET
    updated_at: str | UnsetType = UNSET


class RewardList(ListOut, kw_only=True):
    data: list[RewardOut]


class RewardAssignmentOut(_Out, kw_only=True):
    id: str
    object: Literal["reward_assignment"]
    reward_id: str
    related_object_id: str
    related_object_type: Literal["campaign"]
    parameters: dict[str, Any]
    created_at: str | UnsetType = UNSET
    updated_at: str | UnsetType = UNSET


class RewardAssignmentList(ListOut, kw_only=True):
    data: list[RewardAssignmentOut]


class TierRewardOut(_Out, kw_only=True):
    reward: RewardOut
    assignment: RewardAssignmentOut
    object: Literal["loyalty_tier_reward"]


class TierRewardList(ListOut, kw_only=True):
    data: list[TierRewardOut]



# =============================================================================== the table

_R = (400, 401, 403, 503)  # a read: a bad query parameter, a key, Redis
_R404 = (400, 401, 403, 404, 503)
_W = (400, 401, 403, 404, 409, 503)  # a write: also a missing reference, a conflict


def _q(name: str, schema: Any = str, description: str | None = None) -> Param:
    return Param(name, schema, description)


_PAGE = (_q("limit", Limit, "Page size (default 10)"), _q("page", Annotated[int, Meta(ge=1, le=100_000)], "Page, from 1"))
_DATES = (
    _q("start_date", DateTime, "From (ISO 8601, or ms since the epoch)"),
    _q("end_date", DateTime, "Until (ISO 8601, or ms since the epoch)"),
)
_LEDGER = (
    _q("campaign_id", str, "Campaign id"),
    _q("voucher", str, "Code"),
    _q("customer", str, "Customer source_id or id, as sent at checkout"),
    *_DATES,
    _q("result", Literal["SUCCESS", "FAILURE"]),
    _q("status", Literal["SUCCEEDED", "FAILED", "ROLLED_BACK"]),
    _q("failure_code", str, "The error key of a failed redemption"),
    _q("parent_redemption_id", str),
)
_CURSOR = Annotated[str, Meta(pattern=r"^[0-9]{1,19}(-[0-9]{1,19})?$")]
_ROW_CURSOR = Annotated[str, Meta(pattern=r"^[0-9]{1,19}(-[0-9]{1,19})?\.[0-9]{1,9}$")]
_CSV = "text/csv"
_CODE = Param("code", Code, "The new code: 1-100 characters, no whitespace, no `/`", location="path")
_NDJSON = "application/x-ndjson"
_ORDER = Literal["created_at", "-created_at", "updated_at", "-updated_at"]
_PROGRAM = Param("campaign_id", Ident, "The loyalty program's id or name", location="path")


def _items(t: Any) -> Any:
    """An array body of 1 to 100 ``t`` (one object alone is taken as an array of one)."""
    return Annotated[list[t], Meta(min_length=1, max_length=100)]  # type: ignore[valid-type]


def _one(desc: str, schema: Any) -> dict[int, Reply]:
    return {200: Reply(desc, schema)}


def _gone(what: str) -> dict[int, Reply]:
    return {204: Reply(f"{what} deleted")}


_CSV_BODIES = (
    Body({"type": "string", "description": "CSV with a header line (a `Code` column alone "
          "suffices; the export's columns are read back)"}, _CSV),
    Body({"type": "object", "properties": {"file": {"type": "string", "format": "binary"}},
          "required": ["file"]}, "multipart/form-data"),
)  # fmt: skip

OPERATIONS: dict[tuple[str, str], Op] = {
    ("GET", "/health"): OPS_HEALTH,
    ("GET", "/ready"): ops_ready("Redis answers"),
    # ------------------------------------------------------------------- campaigns
    ("POST", "/v1/campaigns"): Op(
        bodies=(Body(CampaignCreate),),
        replies=_one("The campaign (`async_action_id` when codes are being generated)", CampaignOut),
        errors=_W,
    ),
    ("GET", "/v1/campaigns"): Op(
        params=(
            *_PAGE,
            _q("campaign_type", CampaignType),
            _q("campaign_status", Literal["DONE", "IN_PROGRESS", "FAILED"]),
            _q("name", str, "Part of the name"),
            _q("active", bool),
            _q("order", Literal["created_at", "-created_at", "updated_at", "-updated_at", "name", "-name"]),
        ),
        replies=_one("Campaigns", CampaignList),
        errors=_R,
    ),
    ("GET", "/v1/campaigns/{campaign_id}"): Op(replies=_one("The campaign", CampaignOut), errors=_R404),
    ("PUT", "/v1/campaigns/{campaign_id}"): Op(
        bodies=(Body(CampaignUpdate),), replies=_one("The campaign", CampaignOut), errors=_W
    ),
    ("DELETE", "/v1/campaigns/{campaign_id}"): Op(
        replies=_one("Deleted; its generated codes are removed by this async action", AsyncActionRef),
        errors=_W,
    ),
    ("POST", "/v1/campaigns/{campaign_id}/enable"): Op(replies=_one("The campaign", CampaignOut), errors=_W),
    ("POST", "/v1/campaigns/{campaign_id}/disable"): Op(replies=_one("The campaign", CampaignOut), errors=_W),
    ("POST", "/v1/campaigns/{campaign_id}/vouchers"): Op(
        bodies=(Body(CampaignVouchersIn),),
        body_required=False,
        params=(_q("vouchers_count", Count, "More than 1: generate that many codes as an async action"),),
        replies={
            200: Reply("The new code", VoucherOut),
            202: Reply("The codes are being generated by this async action", AsyncActionRef),
        },
        errors=_W,
    ),
    ("POST", "/v1/campaigns/{campaign_id}/vouchers/{code}"): Op(
        bodies=(Body(VoucherCreate),),
        body_required=False,
        params=(_CODE,),
        replies=_one("The code", VoucherOut),
        errors=_W,
    ),
    ("POST", "/v1/campaigns/{campaign_id}/importCSV"): Op(
        bodies=_CSV_BODIES,
        replies={202: Reply("The codes are being stored by this async action", AsyncActionRef)},
        errors=_W,
    ),
    # ------------------------------------------------------------------- vouchers
    ("POST", "/v1/vouchers/{code}"): Op(
        bodies=(Body(VoucherCreate),),
        body_required=False,
        params=(_CODE,),
        replies=_one("The code", VoucherOut),
        errors=_W,
    ),
    ("GET", "/v1/vouchers/{code}"): Op(replies=_one("The code, with live figures", VoucherOut), errors=_R404),
    ("PUT", "/v1/vouchers/{code}"): Op(
        bodies=(Body(VoucherUpdate),), replies=_one("The code", VoucherOut), errors=_W
    ),
    ("DELETE", "/v1/vouchers/{code}"): Op(replies=_gone("The code"), errors=_W),
    ("POST", "/v1/vouchers/{code}/enable"): Op(replies=_one("The code", VoucherOut), errors=_W),
    ("POST", "/v1/vouchers/{code}/disable"): Op(replies=_one("The code", VoucherOut), errors=_W),
    ("GET", "/v1/vouchers"): Op(
        params=(
            _q("limit", Limit, "Page size (default 10)"),
            _q("page", Annotated[int, Meta(ge=1, le=1_000_000)], "Page, from 1"),
            _q("campaign_id", str, "Campaign id or name"),
            _q("customer", str, "Codes of this customer"),
        ),
        replies=_one("Codes", VoucherList),
        errors=_R404,
    ),
    # ------------------------------------------------------------------- promotion tiers
    ("GET", "/v1/promotions/tiers"): Op(
        params=(*_PAGE, _q("is_available", bool)), replies=_one("Tiers", TierList), errors=_R
    ),
    ("GET", "/v1/promotions/{campaign_id}/tiers"): Op(replies=_one("The campaign's tiers", TierList), errors=_R404),
    ("POST", "/v1/promotions/{campaign_id}/tiers"): Op(
        bodies=(Body(TierIn),), replies=_one("The tier", TierOut), errors=_W
    ),
    ("GET", "/v1/promotions/tiers/{tier_id}"): Op(replies=_one("The tier", TierOut), errors=_R404),
    ("PUT", "/v1/promotions/tiers/{tier_id}"): Op(
        bodies=(Body(TierUpdate),), replies=_one("The tier", TierOut), errors=_W
    ),
    ("DELETE", "/v1/promotions/tiers/{tier_id}"): Op(replies=_gone("The tier"), errors=_W),
    ("POST", "/v1/promotions/tiers/{tier_id}/enable"): Op(replies=_one("The tier", TierOut), errors=_W),
    ("POST", "/v1/promotions/tiers/{tier_id}/disable"): Op(replies=_one("The tier", TierOut), errors=_W),
    # ------------------------------------------------------------------- validation rules
    ("POST", "/v1/validation-rules"): Op(
        bodies=(Body(ValidationRuleIn),), replies=_one("The rule", ValidationRuleOut), errors=_W
    ),
    ("GET", "/v1/validation-rules"): Op(params=_PAGE, replies=_one("Rules", ValidationRuleList), errors=_R),
    ("GET", "/v1/validation-rules/{rule_id}"): Op(replies=_one("The rule", ValidationRuleOut), errors=_R404),
    ("PUT", "/v1/validation-rules/{rule_id}"): Op(
        bodies=(Body(ValidationRuleIn),), replies=_one("The rule", ValidationRuleOut), errors=_W
    ),
    ("DELETE", "/v1/validation-rules/{rule_id}"): Op(replies=_gone("The rule"), errors=_W),
    ("POST", "/v1/validation-rules/{rule_id}/assignments"): Op(
        bodies=(Body(_ASSIGNMENT),),
        params=(_q("force", bool, "An existing assignment is answered instead of a 409"),),
        replies=_one("The assignment", AssignmentOut),
        errors=_W,
    ),
    ("GET", "/v1/validation-rules/{rule_id}/assignments"): Op(
        replies=_one("The rule's assignments", AssignmentList), errors=_R404
    ),
    ("GET", "/v1/validation-rules-assignments"): Op(
        params=(_q("rule", str, "Rule id"), _q("related_object_id", str)),
        replies=_one("Assignments", AssignmentList),
        errors=_R,
    ),
    ("DELETE", "/v1/validation-rules/{rule_id}/assignments/{assignment_id}"): Op(
        replies=_gone("The assignment"), errors=_W
    ),
    # ------------------------------------------------------------------- stacking rules
    ("GET", "/v1/stacking-rules"): Op(replies=_one("The project's stacking rules", StackingRulesOut), errors=_R),
    ("PUT", "/v1/stacking-rules"): Op(
        bodies=(Body(StackingRulesIn),), replies=_one("The stacking rules", StackingRulesOut), errors=_W
    ),
    # ------------------------------------------------------------------- products
    ("POST", "/v1/products"): Op(bodies=(Body(ProductIn),), replies=_one("The product", ProductOut), errors=_W),
    ("GET", "/v1/products"): Op(params=_PAGE, replies=_one("Products", ProductList), errors=_R),
    ("GET", "/v1/products/{product_id}"): Op(replies=_one("The product", ProductOut), errors=_R404),
    ("PUT", "/v1/products/{product_id}"): Op(
        bodies=(Body(ProductIn),), replies=_one("The product", ProductOut), errors=_W
    ),
    ("DELETE", "/v1/products/{product_id}"): Op(replies=_gone("The product"), errors=_W),
    ("POST", "/v1/products/{product_id}/skus"): Op(bodies=(Body(SkuIn),), replies=_one("The SKU", SkuOut), errors=_W),
    ("GET", "/v1/products/{product_id}/skus"): Op(replies=_one("The product's SKUs", SkuList), errors=_R404),
    ("GET", "/v1/skus/{sku_id}"): Op(replies=_one("The SKU", SkuOut), errors=_R404),
    ("PUT", "/v1/products/{product_id}/skus/{sku_id}"): Op(
        bodies=(Body(SkuIn),), replies=_one("The SKU", SkuOut), errors=_W
    ),
    ("DELETE", "/v1/products/{product_id}/skus/{sku_id}"): Op(replies=_gone("The SKU"), errors=_W),
    # ------------------------------------------------------------------- loyalty programs
    ("POST", "/v1/loyalties"): Op(
        bodies=(Body(LoyaltyProgramIn),),
        replies=_one("The program (`async_action_id` when cards are being generated)", CampaignOut),
        errors=_W,
    ),
    ("GET", "/v1/loyalties"): Op(
        params=(*_PAGE, _q("order", _ORDER)), replies=_one("Loyalty programs", CampaignList), errors=_R
    ),
    ("GET", "/v1/loyalties/{campaign_id}"): Op(
        params=(_PROGRAM,), replies=_one("The program", CampaignOut), errors=_R404
    ),
    ("PUT", "/v1/loyalties/{campaign_id}"): Op(
        bodies=(Body(CampaignUpdate),), params=(_PROGRAM,), replies=_one("The program", CampaignOut), errors=_W
    ),
    ("DELETE", "/v1/loyalties/{campaign_id}"): Op(
        params=(_PROGRAM, _q("force", bool, "Accepted; a program is always deleted at once")),
        replies=_one("Deleted with its earning rules, tiers and reward assignments; its cards are "
                     "removed by this async action", AsyncActionRef),
        errors=_W,
    ),  # fmt: skip
    ("POST", "/v1/loyalties/{campaign_id}/earning-rules"): Op(
        bodies=(Body(_items(EarningRuleIn)),),
        params=(_PROGRAM,),
        replies=_one("The earning rules, in order (all made, or none)", list[EarningRuleOut]),
        errors=_W,
    ),
    ("GET", "/v1/loyalties/{campaign_id}/earning-rules"): Op(
        params=(_PROGRAM, *_PAGE, _q("order", _ORDER)), replies=_one("Earning rules", EarningRuleList), errors=_R404
    ),
    ("GET", "/v1/loyalties/{campaign_id}/earning-rules/{earning_rule_id}"): Op(
        params=(_PROGRAM,), replies=_one("The earning rule", EarningRuleOut), errors=_R404
    ),
    ("PUT", "/v1/loyalties/{campaign_id}/earning-rules/{earning_rule_id}"): Op(
        bodies=(Body(EarningRuleUpdate),), params=(_PROGRAM,), replies=_one("The earning rule", EarningRuleOut), errors=_W
    ),
    ("DELETE", "/v1/loyalties/{campaign_id}/earning-rules/{earning_rule_id}"): Op(
        params=(_PROGRAM,), replies=_gone("The earning rule (and the tiers' mappings of it)"), errors=_W
    ),
    ("POST", "/v1/loyalties/{campaign_id}/earning-rules/{earning_rule_id}/enable"): Op(
        params=(_PROGRAM,), replies=_one("The earning rule", EarningRuleOut), errors=_W
    ),
    ("POST", "/v1/loyalties/{campaign_id}/earning-rules/{earning_rule_id}/disable"): Op(
        params=(_PROGRAM,), replies=_one("The earning rule", EarningRuleOut), errors=_W
    ),
    ("POST", "/v1/loyalties/{campaign_id}/tiers"): Op(
        bodies=(Body(_items(LoyaltyTierIn)),),
        params=(_PROGRAM,),
        replies=_one("The tiers, in order (all made, or none)", list[LoyaltyTierOut]),
        errors=_W,
    ),
    ("GET", "/v1/loyalties/{campaign_id}/tiers"): Op(
        params=(_PROGRAM, *_PAGE, _q("order", _ORDER)), replies=_one("Tiers", LoyaltyTierList), errors=_R404
    ),
    ("GET", "/v1/loyalties/{campaign_id}/tiers/{tier_id}"): Op(
        params=(_PROGRAM,), replies=_one("The tier", LoyaltyTierOut), errors=_R404
    ),
    ("GET", "/v1/loyalties/{campaign_id}/tiers/{tier_id}/earning-rules"): Op(
        params=(_PROGRAM, *_PAGE),
        replies=_one("The program's earning rules, the tier's mappings applied to their points", EarningRuleList),
        errors=_R404,
    ),
    ("GET", "/v1/loyalties/{campaign_id}/tiers/{tier_id}/rewards"): Op(
        params=(_PROGRAM, *_PAGE),
        replies=_one("The program's rewards at the tier's prices", TierRewardList),
        errors=_R404,
    ),
    ("POST", "/v1/loyalties/{campaign_id}/rewards"): Op(
        bodies=(Body(_items(ProgramRewardIn)),),
        params=(_PROGRAM,),
        replies=_one("The assignment (one item), or the assignments in order (several)",
                     RewardAssignmentOut | list[RewardAssignmentOut]),
        errors=_W,
    ),  # fmt: skip
    ("GET", "/v1/loyalties/{campaign_id}/rewards"): Op(
        params=(_PROGRAM, *_PAGE, _q("assignment_id", str, "Only this assignment")),
        replies=_one("The program's reward assignments", RewardAssignmentList),
        errors=_R404,
    ),
    ("GET", "/v1/loyalties/{campaign_id}/reward-assignments"): Op(
        params=(_PROGRAM, *_PAGE, _q("assignmentId", str, "Only this assignment")),
        replies=_one("The program's reward assignments", RewardAssignmentList),
        errors=_R404,
    ),
    ("GET", "/v1/loyalties/{campaign_id}/rewards/{assignment_id}"): Op(
        params=(_PROGRAM,), replies=_one("The reward assignment", RewardAssignmentOut), errors=_R404
    ),
    ("PUT", "/v1/loyalties/{campaign_id}/rewards/{assignment_id}"): Op(
        bodies=(Body(RewardAssignmentUpdate),),
        params=(_PROGRAM,),
        replies=_one("The reward assignment", RewardAssignmentOut),
        errors=_W,
    ),
    ("DELETE", "/v1/loyalties/{campaign_id}/rewards/{assignment_id}"): Op(
        params=(_PROGRAM,), replies=_gone("The reward assignment (and the tiers' prices of it)"), errors=_W
    ),
    ("GET", "/v1/loyalties/{campaign_id}/reward-assignments/{assignment_id}"): Op(
        params=(_PROGRAM,), replies=_one("The reward assignment", RewardAssignmentOut), errors=_R404
    ),
    ("GET", "/v1/loyalties/{campaign_id}/reward-assignments/{assignment_id}/reward"): Op(
        params=(_PROGRAM,), replies=_one("The reward it offers", RewardOut), errors=_R404
    ),
    # ------------------------------------------------------------------- rewards
    ("POST", "/v1/rewards"): Op(bodies=(Body(RewardIn),), replies=_one("The reward", RewardOut), errors=_W),
    ("GET", "/v1/rewards"): Op(
        params=(*_PAGE, _q("assignment_id", str, "The reward of this assignment")),
        replies=_one("The rewards catalogue", RewardList),
        errors=_R,
    ),
    ("GET", "/v1/rewards/{reward_id}"): Op(replies=_one("The reward", RewardOut), errors=_R404),
    ("PUT", "/v1/rewards/{reward_id}"): Op(
        bodies=(Body(RewardUpdate),), replies=_one("The reward", RewardOut), errors=_W
    ),
    ("DELETE", "/v1/rewards/{reward_id}"): Op(
        replies=_gone("The reward (400 `resource_in_use` while it is assigned)"), errors=_W
    ),
    ("POST", "/v1/rewards/{reward_id}/assignments"): Op(
        bodies=(Body(RewardAssignmentIn),), replies=_one("The assignment", RewardAssignmentOut), errors=_W
    ),
    ("GET", "/v1/rewards/{reward_id}/assignments"): Op(
        params=_PAGE, replies=_one("The reward's assignments", RewardAssignmentList), errors=_R404
    ),
    ("GET", "/v1/rewards/{reward_id}/assignments/{assignment_id}"): Op(
        replies=_one("The assignment", RewardAssignmentOut), errors=_R404
    ),
    ("PUT", "/v1/rewards/{reward_id}/assignments/{assignment_id}"): Op(
        bodies=(Body(RewardAssignmentUpdate),), replies=_one("The assignment", RewardAssignmentOut), errors=_W
    ),
    ("DELETE", "/v1/rewards/{reward_id}/assignments/{assignment_id}"): Op(
        replies=_gone("The assignment (and the tiers' prices of it)"), errors=_W
    ),
    # ------------------------------------------------------------------- customers
    ("POST", "/v1/customers"): Op(bodies=(Body(CustomerIn),), replies=_one("The customer", CustomerOut), errors=_W),
    ("GET", "/v1/customers"): Op(
        params=(
            _q("limit", Limit, "Page size (default 10)"),
            _q("page", Annotated[int, Meta(ge=1, le=1_000_000)], "Page, from 1"),
            _q("order", Literal["created_at", "-created_at"]),
        ),
        replies=_one("Customers", CustomerList),
        errors=_R,
    ),
    ("GET", "/v1/customers/{customer_id}"): Op(replies=_one("The customer", CustomerOut), errors=_R404),
    ("PUT", "/v1/customers/{customer_id}"): Op(
        bodies=(Body(CustomerUpdate),), replies=_one("The customer", CustomerOut), errors=_W
    ),
    ("DELETE", "/v1/customers/{customer_id}"): Op(replies=_gone("The customer"), errors=_W),
    ("GET", "/v1/customers/{customer_id}/segments"): Op(
        replies=_one("The customer's static segments, then the dynamic segments it is in now", SegmentList),
        errors=_R404,
    ),
    ("POST", "/v1/segments"): Op(bodies=(Body(SegmentIn),), replies=_one("The segment", SegmentOut), errors=_W),
    ("GET", "/v1/segments"): Op(params=_PAGE, replies=_one("Every segment, newest first", SegmentList), errors=_R),
    ("GET", "/v1/segments/{segment_id}"): Op(replies=_one("The segment", SegmentOut), errors=_R404),
    ("DELETE", "/v1/segments/{segment_id}"): Op(replies=_gone("The segment"), errors=_W),
    ("POST", "/v1/publications"): Op(
        bodies=(Body(PublicationIn),), replies=_one("The publication and its code", PublicationOut), errors=_W
    ),
    # ------------------------------------------------------------------- ledger and reports
    ("GET", "/v1/redemptions"): Op(
        params=(*_LEDGER, _q("limit", Limit, "Page size (default 10)"),
                _q("starting_after", _ROW_CURSOR, "`more_starting_after` of the previous page")),
        replies=_one("Ledger rows, newest first", RedemptionList),
        errors=_R404,
    ),  # fmt: skip
    ("POST", "/v1/redemptions/{redemption_id}/rollback"): Op(
        bodies=(Body(RollbackIn),),
        replies=_one("Rolled back (a stacked parent with its children), audited", RollbackOut),
        errors=_W,
    ),
    ("GET", "/v1/exports/redemptions.csv"): Op(
        params=_LEDGER,
        replies={200: Reply("Ledger rows as CSV, oldest first", {"type": "string"}, _CSV)},
        errors=_R,
    ),
    ("GET", "/v1/exports/vouchers.csv"): Op(
        params=(_q("campaign_id", str, "Campaign id or name (default: every campaign)"),),
        replies={200: Reply("Codes as CSV, with live figures", {"type": "string"}, _CSV)},
        errors=_R404,
    ),
    ("GET", "/v1/reports/campaigns/{campaign_id}"): Op(
        replies=_one("The campaign's figures", CampaignReport), errors=_R404
    ),
    ("GET", "/v1/reports/campaigns/{campaign_id}/series"): Op(
        params=(_q("hours", Annotated[int, Meta(ge=1, le=720)], "Hours covered, the current one last (default 48)"),
                _q("format", Literal["json", "csv"], "`csv`: the hourly rows as CSV (`hour_start`, `succeeded`, "
                   "`failed`, `rolled_back`, `redemptions_used`, `discounted_amount_used`); default `json`")),
        replies={200: Reply("The campaign's hourly series (the web UI's burn chart)", CampaignSeries,
                            also=((_CSV, {"type": "string"}),))},
        errors=_R404,
    ),
    ("GET", "/v1/reports/customers/{customer_id}"): Op(
        params=(_q("limit", Limit, "Redemptions listed (default 50)"),),
        replies=_one("The customer's codes, redemptions and totals", CustomerReport),
        errors=_R404,
    ),
    ("GET", "/v1/audit-log"): Op(
        params=(
            _q("actor", str, "Key id"),
            _q("action", str, "`campaign` matches every `campaign.*` action"),
            _q("resource_type", str),
            _q("resource_id", str),
            *_DATES,
            _q("limit", Limit, "Page size (default 50)"),
            _q("starting_after", _CURSOR, "`more_starting_after` of the previous page"),
        ),
        replies=_one("Audit entries, newest first", AuditList),
        errors=_R,
    ),
    # ------------------------------------------------------------------- operations
    ("GET", "/v1/async-actions"): Op(
        params=(_q("limit", Limit, "How many (default 10)"),),
        replies=_one("Async actions, newest first", AsyncActionList),
        errors=_R,
    ),
    ("GET", "/v1/async-actions/{action_id}"): Op(replies=_one("The async action", AsyncActionOut), errors=_R404),
    ("POST", "/v1/keys"): Op(
        bodies=(Body(KeyIn),), replies=_one("The key, with its token (shown once)", KeyOut), errors=_W
    ),
    ("GET", "/v1/keys"): Op(replies=_one("Keys made through this API (no tokens)", KeyList), errors=_R),
    ("DELETE", "/v1/keys/{key_id}"): Op(replies=_gone("The key"), errors=_W),
    ("GET", "/v1/definitions/export"): Op(
        replies={200: Reply("Every definition, code, customer and segment as NDJSON", {"type": "string"}, _NDJSON)},
        errors=_R,
    ),
    ("POST", "/v1/definitions/import"): Op(
        bodies=(Body({"type": "string", "description": "An export (NDJSON)"}, _NDJSON),),
        replies=_one("Imported: counts of what was loaded", ImportOut),
        errors=_W,
    ),
}


#: route modules that keep their OpenAPI entries beside their handlers (an ``OPERATIONS`` dict)
OPERATION_MODULES = ("routes_members", "routes_referrals", "routes_drafts", "routes_restore", "routes_bulk",
                     "routes_preview", "routes_approvals")


def operations() -> dict[tuple[str, str], Op]:
    """Every admin route's entry: this table and those of :data:`OPERATION_MODULES`."""
    out = dict(OPERATIONS)
    for name in OPERATION_MODULES:
        out.update(importlib.import_module(f"admin.{name}").OPERATIONS)
    return out


def describe(app: Litestar) -> None:
    _describe(
        app,
        operations(),
        title="promogate admin API",
        version="1",
        description="Management API in Voucherify's v1 shapes: campaigns, codes, promotion "
        "tiers, validation rules, stacking rules, products, loyalty programs (earning rules, "
        "tiers, rewards and their assignments), referral code holders, customers, segments, "
        "publications, "
        "the redemption ledger, reports, the audit trail, API keys, export / import. Every "
        "`/v1` call sends an admin-side key as `X-App-Id` / `X-App-Token` (roles `admin`, "
        "`marketer`, `support`, `analyst`). Amounts are integer cents. Errors use Voucherify's "
        "body: `{code, key, message, details, request_id}`; the admin guide is admin/API.md.",
        extra_types=(RuleIn,),
    )
