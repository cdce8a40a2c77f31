"""Definitions and request model, in Voucherify's vocabulary.

Every struct here is a msgspec ``Struct``: decoding a JSON document (or a dict via
``msgspec.convert``) validates types, and ``__post_init__`` hooks check the
semantic constraints. A bad definition fails with ``msgspec.ValidationError``
whose message names the field path and the reason, e.g.::

    Expected `int` >= 0, got `-5` - at `$.campaigns[0].voucher.discount.amount_off`

Money is integer cents everywhere. ``percent_off`` is a plain percentage with at
most two decimals (``12.5`` means 12.5 %). Datetimes are timezone-aware UTC.
"""

from __future__ import annotations

import datetime as _dt
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct, field

Cents = Annotated[int, Meta(ge=0, le=10**13)]
PosInt = Annotated[int, Meta(ge=1, le=10**12)]
NonNegInt = Annotated[int, Meta(ge=0, le=10**12)]
Percent = Annotated[float, Meta(ge=0, le=100)]
Ident = Annotated[str, Meta(min_length=1, max_length=200)]
Metadata = dict[str, object]

# --------------------------------------------------------------------------- enums

CampaignType = Literal[
    "DISCOUNT_COUPONS", "PROMOTION", "GIFT_VOUCHERS", "LOYALTY_PROGRAM", "REFERRAL_PROGRAM"
]
DiscountType = Literal["AMOUNT", "PERCENT", "FIXED", "UNIT"]
DiscountEffect = Literal[
    "APPLY_TO_ORDER",
    "APPLY_TO_ITEMS",
    "APPLY_TO_ITEMS_PROPORTIONALLY",
    "APPLY_TO_ITEMS_PROPORTIONALLY_BY_QUANTITY",
    "APPLY_TO_ITEMS_BY_QUANTITY",
    "ADD_MISSING_ITEMS",
    "ADD_NEW_ITEMS",
    "ADD_SAME_ITEMS",
]
TargetEffect = Literal[
    "APPLY_TO_EVERY",
    "APPLY_TO_CHEAPEST",
    "APPLY_FROM_CHEAPEST",
    "APPLY_TO_MOST_EXPENSIVE",
    "APPLY_FROM_MOST_EXPENSIVE",
]
TargetObject = Literal["product", "sku", "products_collection", "category"]
DayOfWeek = Annotated[int, Meta(ge=0, le=6)]  # 0 = Sunday, as Voucherify

#: The built-in product a free-shipping UNIT discount targets.
SHIPPING_PRODUCT_ID = "prod_5h1pp1ng"

_PERCENT_EFFECTS = ("APPLY_TO_ORDER", "APPLY_TO_ITEMS")
_AMOUNT_EFFECTS = (
    "APPLY_TO_ORDER",
    "APPLY_TO_ITEMS",
    "APPLY_TO_ITEMS_PROPORTIONALLY",
    "APPLY_TO_ITEMS_PROPORTIONALLY_BY_QUANTITY",
    "APPLY_TO_ITEMS_BY_QUANTITY",
)
_UNIT_EFFECTS = ("ADD_MISSING_ITEMS", "ADD_NEW_ITEMS", "ADD_SAME_ITEMS")


class _Base(Struct, omit_defaults=True, forbid_unknown_fields=False, kw_only=True):
    """Unknown fields are ignored, as Voucherify does."""


# --------------------------------------------------------------------------- targeting


class Target(_Base):
    """One entry of ``applicable_to.included`` / ``excluded``."""

    object: TargetObject
    id: Ident
    effect: TargetEffect = "APPLY_TO_EVERY"
    #: at most this many units of each matching line get the discount
    quantity_limit: PosInt | None = None
    #: at most this many units across all matching lines
    aggregated_quantity_limit: PosInt | None = None
    #: at most this many cents of discount on each matching line
    amount_limit: Cents | None = None
    #: at most this many cents of discount across all matching lines
    aggregated_amount_limit: Cents | None = None


class ApplicableTo(_Base):
    included: list[Target] = []
    excluded: list[Target] = []
    included_all: bool = False


# --------------------------------------------------------------------------- discounts


class Discount(_Base):
    type: DiscountType
    effect: DiscountEffect | None = None
    amount_off: Cents | None = None
    percent_off: Percent | None = None
    #: cap on a PERCENT discount, in cents
    amount_limit: Cents | None = None
    fixed_amount: Cents | None = None
    unit_off: PosInt | None = None
    #: product (or SKU) id a UNIT discount gives away; ``prod_5h1pp1ng`` for free shipping
    unit_type: Ident | None = None

    def __post_init__(self) -> None:
        t = self.type
        if self.effect is None:
            self.effect = "ADD_MISSING_ITEMS" if t == "UNIT" else "APPLY_TO_ORDER"
        eff = self.effect
        if t == "AMOUNT":
            if self.amount_off is None:
                raise ValueError("AMOUNT discount needs `amount_off`")
            if eff not in _AMOUNT_EFFECTS:
                raise ValueError(f"effect {eff} is not valid for an AMOUNT discount")
        elif t == "PERCENT":
            if self.percent_off is None:
                raise ValueError("PERCENT discount needs `percent_off`")
            if abs(self.percent_off * 100 - round(self.percent_off * 100)) > 1e-6:
                raise ValueError("`percent_off` takes at most two decimals")
            if eff not in _PERCENT_EFFECTS:
                raise ValueError(f"effect {eff} is not valid for a PERCENT discount")
        elif t == "FIXED":
            if self.fixed_amount is None:
                raise ValueError("FIXED discount needs `fixed_amount`")
            if eff not in _PERCENT_EFFECTS:
                raise ValueError(f"effect {eff} is not valid for a FIXED discount")
        else:  # UNIT
            if self.unit_off is None or self.unit_type is None:
                raise ValueError("UNIT discount needs `unit_off` and `unit_type`")
            if eff not in _UNIT_EFFECTS:
                raise ValueError(f"effect {eff} is not valid for a UNIT discount")


class Gift(_Base):
    """A gift card's value: ``amount`` loaded in total; the live balance is
    ``amount`` minus the spent counter kept in Redis."""

    amount: Cents
    balance: Cents | None = None  # informational in definitions; live value comes from counters


class LoyaltyCard(_Base):
    points: NonNegInt
    #: cents one point is worth when paid with (pay-with-points reward)
    point_value: Cents = 1


class RedemptionLimit(_Base):
    #: how many times the code can be redeemed; None = unlimited
    quantity: PosInt | None = None
    #: how many times one customer can redeem the code; None = unlimited
    per_customer: PosInt | None = None


class CodeConfig(_Base):
    length: Annotated[int, Meta(ge=1, le=64)] | None = 8
    charset: Annotated[str, Meta(min_length=2, max_length=256)] = (
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    )
    prefix: Annotated[str, Meta(max_length=64)] = ""
    postfix: Annotated[str, Meta(max_length=64)] = ""
    #: `#` marks a random character, e.g. "SUMMER-####-##"; overrides length
    pattern: Annotated[str, Meta(max_length=128)] | None = None

    def __post_init__(self) -> None:
        if len(set(self.charset)) != len(self.charset):
            raise ValueError("`charset` repeats a character")
        if self.pattern is not None and "#" not in self.pattern:
            raise ValueError("`pattern` needs at least one `#` placeholder")

    def random_positions(self) -> int:
        return self.pattern.count("#") if self.pattern is not None else (self.length or 8)

    def capacity(self) -> int:
        """How many distinct codes this config can produce."""
        return len(self.charset) ** self.random_positions()


# --------------------------------------------------------------------------- validity


class TimeOfDay(_Base):
    """A daily window ``[start, end)`` in ``HH:MM`` UTC; ``end`` before ``start`` wraps midnight."""

    start: Annotated[str, Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
    end: Annotated[str, Meta(pattern=r"^([01]\d|2[0-4]):[0-5]\d$")]


class ValidityTimeframe(_Base):
    """Recurring window: active for ``duration`` every ``interval`` from the start date (ISO 8601
    durations such as ``PT1H`` / ``P2D``)."""

    interval: Annotated[str, Meta(pattern=r"^P(\d+D)?(T(\d+H)?(\d+M)?)?$")]
    duration: Annotated[str, Meta(pattern=r"^P(\d+D)?(T(\d+H)?(\d+M)?)?$")]


# --------------------------------------------------------------------------- validation rules

RuleOp = Literal[
    "$is", "$is_not", "$in", "$not_in",
    "$more_than", "$less_than", "$more_than_or_equal", "$less_than_or_equal",
    "$starts_with", "$ends_with", "$contains", "$has_value", "$is_unknown",
    "$after", "$before", "$count_more", "$count_less",
]  # fmt: skip

RULE_PROPERTIES = (
    "customer.segment",
    "customer.metadata",
    "customer.id",
    "customer.source_id",
    "customer.email",
    "customer.address.country",
    "customer.address.city",
    "order.amount",
    "order.initial_amount",
    "order.items.count",
    "order.items.quantity",
    "order.metadata",
    "order.items.any",
    "order.items.every",
    "order.items.none",
    "order.items.price_any",
    "order.items.price_each",
    "order.items.metadata",
    "product.id",
    "sku.id",
    "redemption.count.per_customer",
    "redemption.count.per_customer_per_day",
    "redemption.count.per_customer_per_week",
    "redemption.count.per_customer_per_month",
    "campaign.orders.amount_discounted",
    "campaign.orders.amount",
    "campaign.redemptions.count",
)


class RuleError(_Base):
    message: Annotated[str, Meta(max_length=500)]


class Rule(_Base):
    """One numbered condition.

    ``conditions`` maps one operator to its values, e.g. ``{"$more_than": [5000]}``.
    ``property`` names the metadata key for ``*.metadata`` rules. For the
    ``order.items.*`` rules the values are product / SKU ids (``$is`` / ``$in``)
    and ``rules`` may hold nested item conditions such as ``{"1": {"name":
    "order.items.quantity", "conditions": {"$more_than_or_equal": [2]}}}``.
    """

    name: Literal[RULE_PROPERTIES]  # type: ignore[valid-type]
    conditions: dict[RuleOp, list[object]]
    property: Ident | None = None
    rules: dict[str, Rule] = {}
    error: RuleError | None = None

    def __post_init__(self) -> None:
        if len(self.conditions) != 1:
            raise ValueError("`conditions` holds exactly one operator")
        (values,) = self.conditions.values()
        (op,) = self.conditions.keys()
        if op not in ("$has_value", "$is_unknown") and not values:
            raise ValueError(f"operator {op} needs at least one value")
        if self.name.endswith(".metadata") and not self.property:
            raise ValueError(f"rule {self.name} needs `property` (the metadata key)")


class ValidationRule(_Base):
    """A reusable set of numbered rules joined by ``logic``, e.g. ``"(1 and 2) or not 3"``."""

    id: Ident
    name: Annotated[str, Meta(max_length=200)] = ""
    type: Literal["basic", "advanced", "complex"] = "basic"
    rules: dict[str, Rule | str] = {}
    error: RuleError | None = None
    applicable_to: ApplicableTo | None = None

    def __post_init__(self) -> None:
        logic = self.rules.get("logic")
        if logic is not None and not isinstance(logic, str):
            raise ValueError("`rules.logic` must be a string")
        for k, v in self.rules.items():
            if k == "logic":
                continue
            if not k.isdigit():
                raise ValueError(f"rule keys are numbers or `logic`, got {k!r}")
            if isinstance(v, str):
                raise ValueError(f"rule {k} must be an object")


# --------------------------------------------------------------------------- limits


class CampaignLimits(_Base):
    """Budgets and limits of a campaign; each None means unlimited."""

    redemptions: PosInt | None = None
    redemptions_per_day: PosInt | None = None
    discounted_amount: Cents | None = None
    order_value: Cents | None = None
    per_customer: PosInt | None = None
    per_customer_per_day: PosInt | None = None
    per_customer_per_week: PosInt | None = None
    per_customer_per_month: PosInt | None = None
    #: gift campaigns: total credits that may be spent across all cards
    gift_credits: Cents | None = None


# --------------------------------------------------------------------------- vouchers


class VoucherTemplate(_Base):
    """What every code of a campaign carries (``campaign.voucher`` in Voucherify)."""

    type: Literal["DISCOUNT_VOUCHER", "GIFT_VOUCHER", "LOYALTY_CARD"] = "DISCOUNT_VOUCHER"
    discount: Discount | None = None
    gift: Gift | None = None
    loyalty_card: LoyaltyCard | None = None
    redemption: RedemptionLimit = field(default_factory=RedemptionLimit)
    code_config: CodeConfig | None = None


class Voucher(_Base):
    """One code. Fields left out fall back to the campaign's template."""

    code: Annotated[str, Meta(min_length=1, max_length=100, pattern=r"^[^\s/]+$")]
    campaign_id: Ident | None = None
    id: Ident | None = None
    active: bool = True
    category: Ident | None = None
    discount: Discount | None = None
    gift: Gift | None = None
    loyalty_card: LoyaltyCard | None = None
    redemption: RedemptionLimit | None = None
    start_date: _dt.datetime | None = None
    expiration_date: _dt.datetime | None = None
    #: customer id or source_id the code belongs to; None = anyone
    customer_id: Ident | None = None
    validation_rules: list[Ident] = []
    metadata: Metadata = {}

    def __post_init__(self) -> None:
        _check_window(self.start_date, self.expiration_date)


# --------------------------------------------------------------------------- campaigns


class PromotionTier(_Base):
    id: Ident
    action: PromotionAction
    name: Annotated[str, Meta(max_length=200)] = ""
    banner: Annotated[str, Meta(max_length=500)] = ""
    active: bool = True
    hierarchy: Annotated[int, Meta(ge=0, le=10**6)] = 1
    validation_rules: list[Ident] = []
    start_date: _dt.datetime | None = None
    expiration_date: _dt.datetime | None = None
    category: Ident | None = None
    metadata: Metadata = {}

    def __post_init__(self) -> None:
        _check_window(self.start_date, self.expiration_date)


class PromotionAction(_Base):
    discount: Discount


class Promotion(_Base):
    tiers: list[PromotionTier] = []


class Campaign(_Base):
    id: Ident
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    campaign_type: CampaignType = "DISCOUNT_COUPONS"
    type: Literal["STATIC", "AUTO_UPDATE"] = "AUTO_UPDATE"
    active: bool = True
    start_date: _dt.datetime | None = None
    expiration_date: _dt.datetime | None = None
    validity_timeframe: ValidityTimeframe | None = None
    validity_day_of_week: list[DayOfWeek] = []
    validity_hours: list[TimeOfDay] = []
    category: Ident | None = None
    voucher: VoucherTemplate | None = None
    promotion: Promotion | None = None
    validation_rules: list[Ident] = []
    limits: CampaignLimits = field(default_factory=CampaignLimits)
    metadata: Metadata = {}
    #: creation order, used by the DEFAULT sorting of qualifications
    created_seq: NonNegInt = 0

    def __post_init__(self) -> None:
        _check_window(self.start_date, self.expiration_date)
        ct = self.campaign_type
        if ct == "PROMOTION":
            if self.promotion is None or not self.promotion.tiers:
                raise ValueError("a PROMOTION campaign needs `promotion.tiers`")
        elif self.promotion is not None and self.promotion.tiers:
            raise ValueError("only PROMOTION campaigns have `promotion.tiers`")
        if ct == "GIFT_VOUCHERS" and (self.voucher is None or self.voucher.gift is None):
            raise ValueError("a GIFT_VOUCHERS campaign needs `voucher.gift`")
        if ct in ("DISCOUNT_COUPONS", "REFERRAL_PROGRAM") and (
            self.voucher is None or self.voucher.discount is None
        ):
            raise ValueError(f"a {ct} campaign needs `voucher.discount`")
        if ct == "LOYALTY_PROGRAM" and (self.voucher is None or self.voucher.loyalty_card is None):
            raise ValueError("a LOYALTY_PROGRAM campaign needs `voucher.loyalty_card`")


# --------------------------------------------------------------------------- catalogue


class Sku(_Base):
    id: Ident
    source_id: Ident | None = None
    price: Cents | None = None
    metadata: Metadata = {}


class Product(_Base):
    id: Ident
    source_id: Ident | None = None
    name: Annotated[str, Meta(max_length=200)] = ""
    price: Cents | None = None
    categories: list[Ident] = []
    collections: list[Ident] = []
    skus: list[Sku] = []
    metadata: Metadata = {}


# --------------------------------------------------------------------------- stacking


class StackingRules(_Base):
    redeemables_limit: Annotated[int, Meta(ge=1, le=30)] = 30
    applicable_redeemables_limit: Annotated[int, Meta(ge=1, le=30)] = 5
    applicable_redeemables_per_category_limit: Annotated[int, Meta(ge=1, le=30)] = 1
    applicable_redeemables_category_limits: dict[str, Annotated[int, Meta(ge=1, le=30)]] = {}
    applicable_exclusive_redeemables_limit: Annotated[int, Meta(ge=1, le=5)] = 1
    applicable_exclusive_redeemables_per_category_limit: Annotated[int, Meta(ge=1, le=5)] = 1
    exclusive_categories: list[Ident] = []
    joint_categories: list[Ident] = []
    redeemables_application_mode: Literal["ALL", "PARTIAL"] = "ALL"
    redeemables_sorting_rule: Literal["REQUESTED_ORDER", "CATEGORY_HIERARCHY"] = "REQUESTED_ORDER"
    redeemables_no_effect_rule: Literal["REDEEM_ANYWAY", "SKIP"] = "REDEEM_ANYWAY"

    def __post_init__(self) -> None:
        both = set(self.exclusive_categories) & set(self.joint_categories)
        if both:
            raise ValueError(f"categories {sorted(both)} cannot be both exclusive and joint")


class Category(_Base):
    id: Ident
    name: Annotated[str, Meta(max_length=200)] = ""
    #: lower comes first under CATEGORY_HIERARCHY sorting
    hierarchy: Annotated[int, Meta(ge=0, le=10**6)] = 0


class Definitions(_Base):
    """Everything a ruleset is compiled from."""

    campaigns: list[Campaign] = []
    vouchers: list[Voucher] = []
    validation_rules: list[ValidationRule] = []
    products: list[Product] = []
    categories: list[Category] = []
    stacking_rules: StackingRules = field(default_factory=StackingRules)
    version: NonNegInt = 0


# --------------------------------------------------------------------------- requests


class Address(_Base):
    city: str | None = None
    state: str | None = None
    line_1: str | None = None
    line_2: str | None = None
    country: str | None = None
    postal_code: str | None = None


class Customer(_Base):
    id: str | None = None
    source_id: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    birthdate: str | None = None
    address: Address | None = None
    metadata: Metadata | None = None
    #: static segment ids the customer belongs to (filled by the gateway, or sent by the client)
    segments: list[str] | None = None

    @property
    def key(self) -> str | None:
        """The identity limits are counted against: ``source_id`` first, as Voucherify."""
        return self.source_id or self.id


class ItemProduct(_Base):
    id: str | None = None
    source_id: str | None = None
    name: str | None = None
    price: Annotated[int, Meta(ge=0)] | None = None
    metadata: Metadata | None = None


class ItemSku(_Base):
    id: str | None = None
    source_id: str | None = None
    sku: str | None = None
    price: Annotated[int, Meta(ge=0)] | None = None
    metadata: Metadata | None = None


MAX_ITEMS = 500


class OrderItem(_Base):
    sku_id: str | None = None
    product_id: str | None = None
    source_id: str | None = None
    related_object: Literal["product", "sku"] | None = None
    quantity: Annotated[int, Meta(ge=0, le=10**6)] | None = None
    price: Annotated[int, Meta(ge=0, le=10**12)] | None = None
    amount: Annotated[int, Meta(ge=0, le=10**13)] | None = None
    product: ItemProduct | None = None
    sku: ItemSku | None = None
    metadata: Metadata | None = None


class Order(_Base):
    id: str | None = None
    source_id: str | None = None
    status: Literal["CREATED", "PAID", "CANCELED", "FULFILLED"] | None = None
    amount: Annotated[int, Meta(ge=0, le=10**13)] | None = None
    initial_amount: Annotated[int, Meta(ge=0, le=10**13)] | None = None
    discount_amount: Annotated[int, Meta(ge=0, le=10**13)] | None = None
    items: Annotated[list[OrderItem], Meta(max_length=MAX_ITEMS)] | None = None
    metadata: Metadata | None = None


class GiftRequest(_Base):
    credits: Annotated[int, Meta(ge=0, le=10**13)] | None = None


class RewardRequest(_Base):
    id: str | None = None
    points: Annotated[int, Meta(ge=0, le=10**12)] | None = None


class Redeemable(_Base):
    object: Literal["voucher", "promotion_tier", "promotion_stack"]
    id: Annotated[str, Meta(min_length=1, max_length=200)]
    gift: GiftRequest | None = None
    reward: RewardRequest | None = None


# --------------------------------------------------------------------------- helpers


def _check_window(start: _dt.datetime | None, end: _dt.datetime | None) -> None:
    for name, value in (("start_date", start), ("expiration_date", end)):
        if value is not None and value.tzinfo is None:
            raise ValueError(f"`{name}` needs a timezone (use UTC, e.g. 2026-01-01T00:00:00Z)")
    if start is not None and end is not None and end <= start:
        raise ValueError("`expiration_date` must be after `start_date`")


def load_definitions(data: bytes | str | dict) -> Definitions:
    """Decode and validate a definitions document (JSON text or a plain dict)."""
    if isinstance(data, dict):
        return msgspec.convert(data, Definitions)
    return msgspec.json.decode(data, type=Definitions)


__all__ = [
    name
    for name, obj in dict(globals()).items()
    if isinstance(obj, type) and issubclass(obj, Struct) and not name.startswith("_")
] + ["SHIPPING_PRODUCT_ID", "RULE_PROPERTIES", "MAX_ITEMS", "load_definitions", "field"]
