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
#: the longest identifier (ids, source_ids, codes' holders) a client may send
IDENT_MAX = 200
Ident = Annotated[str, Meta(min_length=1, max_length=IDENT_MAX)]
#: the limit a code without a redemption quantity is counted against: more uses than any code
#: gets, so that a use counter set to it revokes the code atomically (every later redemption's
#: own check fails; a rolled-back reward's code, store.loyalty)
USES_MAX = 2**52
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
    #: when points earned in the program expire (an earning rule may override it); None = never
    expiration_rules: ExpirationRules | None = None


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
    "customer.orders.count",
    "customer.orders.amount",
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
    #: what the rule judges (Voucherify's ``context_type``): ``global`` (anything, the default)
    #: or one context, e.g. ``earning_rule.order.paid``; a rule of one context attached to
    #: another is refused (``core.earning``)
    context_type: Annotated[str, Meta(max_length=100, pattern=r"^[a-z_.*]+$")] | None = None

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


class ReferralCustomEvent(_Base):
    """The custom event that converts a referral (its schema id and name)."""

    id: Ident | None = None
    name: Ident | None = None


class ReferralParent(_Base):
    """The campaign a referee reward credits (``object`` is always ``CAMPAIGN``)."""

    id: Ident
    name: str | None = None
    object: Literal["CAMPAIGN"] | None = None


class RefereeReward(_Base):
    """What a double-sided programme gives the referee on conversion: ``amount`` points on their
    card of the LOYALTY_PROGRAM ``related_object_parent`` (``LOYALTY_CARD``), or credits in
    cents on a gift card of the GIFT_VOUCHERS one (``GIFT_VOUCHER``). SDK 6.1.1 sends and
    expects ``amount`` as a string: both are accepted, it becomes an int."""

    related_object_parent: ReferralParent
    type: Literal["LOYALTY_CARD", "GIFT_VOUCHER"]
    amount: WholeOrText

    def __post_init__(self) -> None:
        gift = self.type == "GIFT_VOUCHER"
        self.amount = _whole(self.amount, "amount", "cents" if gift else "points", 10**13 if gift else 10**12)


class ReferralTier(_Base):
    """promogate extension (Voucherify sets referral tiers in its dashboard only): which of the
    rewards assigned to the referral campaign pay the referrer for its ``n``-th unique referee.
    A tier pays from ``min_referees`` referees on (every conversion from there), or, ``once``,
    only for the referee that reaches it. ``rewards``: reward ids assigned to the campaign."""

    rewards: Annotated[list[Ident], Meta(min_length=1, max_length=20)]
    id: Ident | None = None
    name: Annotated[str, Meta(max_length=200)] | None = None
    min_referees: Annotated[int, Meta(ge=1, le=10**9)] = 1
    once: bool = False


class ReferralProgram(_Base):
    """A REFERRAL_PROGRAM campaign's ``referral_program``: when a referral converts (the
    referee's redemption of the code, or a named custom event) and the referee's reward.

    promogate extensions (absent from Voucherify's API, where the dashboard sets them):
    ``referral_tiers`` (which assigned rewards pay the referrer, see :class:`ReferralTier`;
    without tiers every reward assigned to the campaign pays on each unique referee),
    ``max_referees`` (a referrer's referees counted at most: past it a referral is refused),
    ``new_customers_only`` (a referee with a paid order before the referral is refused) and
    ``unique_contacts`` (a referee whose email or phone is the referrer's or another referee's
    of the programme is refused)."""

    conversion_event_type: Literal["redemption", "custom_event"] = "redemption"
    custom_event: ReferralCustomEvent | None = None
    referee_reward: RefereeReward | None = None
    referral_tiers: Annotated[list[ReferralTier], Meta(max_length=20)] | None = None
    max_referees: Annotated[int, Meta(ge=1, le=10**9)] | None = None
    new_customers_only: bool | None = None
    unique_contacts: bool | None = None

    def __post_init__(self) -> None:
        if self.conversion_event_type == "custom_event" and (
            self.custom_event is None or not self.custom_event.name
        ):
            raise ValueError("a custom_event conversion needs `custom_event.name`")
        seen: set[str] = set()
        for i, t in enumerate(self.referral_tiers or ()):
            if t.id is None:
                t.id = f"rt_{t.min_referees}" + ("_once" if t.once else "")
            if t.id in seen:
                raise ValueError(f"referral_tiers[{i}]: duplicate tier id {t.id!r}")
            seen.add(t.id)


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
    #: loyalty / referral: publish a card to a customer who has none when they first earn
    #: (None = false)
    auto_join: bool | None = None
    #: loyalty / referral: one card per customer (None = true, Voucherify's default)
    join_once: bool | None = None
    #: referral: how a referral converts and what the referee gets
    referral_program: ReferralProgram | None = None

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
        if self.referral_program is not None and ct != "REFERRAL_PROGRAM":
            raise ValueError("only REFERRAL_PROGRAM campaigns have `referral_program`")


# --------------------------------------------------------------------------- loyalty
#
# Loyalty programs are LOYALTY_PROGRAM campaigns (their card template carries the program's
# `expiration_rules`); earning rules, tiers, rewards and reward assignments are top-level lists
# of `Definitions`, each naming its campaign by `campaign_id`. Shapes follow Voucherify's API v1
# as the official SDK 6.1.1 sends them: an explicit `null` means "absent" everywhere here.
# `core.earning.compile_earning` checks what types cannot (references, ranges, which calculation
# goes with which event) and refuses with `CompileError(path, reason)`.

Month = Annotated[int, Meta(ge=1, le=12)]
Points = Annotated[int, Meta(ge=0, le=10**12)]

ExpirationRounding = Literal[
    "END_OF_MONTH", "END_OF_QUARTER", "END_OF_HALF_YEAR", "END_OF_YEAR", "PARTICULAR_MONTH"
]


class ExpirationRules(_Base):
    """When earned points expire (UTC; points are valid to the END of their expiry day).

    ``MONTH``: ``period_value`` months after the day they are earned (activated, for pending
    points), the day clamped to the month's length (Jan 31 + 1 month = Feb 28 or 29); then, with
    ``rounding_type``, pushed to the end of that month / quarter / half year / year, or to the
    end of the next month number ``rounding_value`` (1 = January, as ``fixed_month``) on or after
    it (``PARTICULAR_MONTH``). ``FIXED_DAY_OF_YEAR``: the next ``fixed_month`` / ``fixed_day`` on
    or after the day they are earned (Feb 29 is Feb 28 in other years).
    """

    period_type: Literal["MONTH", "FIXED_DAY_OF_YEAR"]
    period_value: Annotated[int, Meta(ge=1, le=1200)] | None = None
    rounding_type: ExpirationRounding | None = None
    rounding_value: Annotated[int, Meta(ge=0, le=12)] | None = None
    fixed_month: Month | None = None
    fixed_day: Annotated[int, Meta(ge=1, le=31)] | None = None

    def __post_init__(self) -> None:
        if self.period_type == "MONTH":
            if self.period_value is None:
                raise ValueError("`period_type` MONTH needs `period_value`")
            if self.rounding_type == "PARTICULAR_MONTH" and not self.rounding_value:
                raise ValueError(
                    "`rounding_type` PARTICULAR_MONTH needs `rounding_value` (1 = January ... 12)"
                )
        else:
            if self.fixed_month is None or self.fixed_day is None:
                raise ValueError("`period_type` FIXED_DAY_OF_YEAR needs `fixed_month` and `fixed_day`")
            if self.fixed_day > _MONTH_DAYS[self.fixed_month - 1]:
                raise ValueError(f"month {self.fixed_month} has no day {self.fixed_day}")


_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class ItemRef(_Base):
    """An item target of an items calculation: a product, SKU or products collection."""

    object: Literal["products_collection", "product", "sku"]
    id: Ident


class EarningBlock(_Base):
    """``floor(value / every) * points``; ``every`` is in cents for amounts."""

    every: Annotated[int, Meta(ge=-(10**12), le=10**12)] | None = None
    points: Points | None = None
    points_formula: str | None = None
    #: the metadata key of ORDER_METADATA / CUSTOMER_METADATA / CUSTOM_EVENT_METADATA
    property: Ident | None = None
    #: items calculations: the items that count (one target, and / or a list); none = every item
    object: Literal["products_collection", "product", "sku"] | None = None
    id: Ident | None = None
    applicable_to: list[ItemRef] | None = None


class EarningOrderBlocks(_Base):
    amount: EarningBlock | None = None
    total_amount: EarningBlock | None = None
    metadata: EarningBlock | None = None


class EarningItemsBlocks(_Base):
    quantity: EarningBlock | None = None
    amount: EarningBlock | None = None
    subtotal_amount: EarningBlock | None = None


class EarningMetadataBlock(_Base):
    metadata: EarningBlock | None = None


CalculationType = Literal[
    "ORDER_AMOUNT",
    "ORDER_TOTAL_AMOUNT",
    "ORDER_METADATA",
    "ORDER_ITEMS_QUANTITY",
    "ORDER_ITEMS_AMOUNT",
    "ORDER_ITEMS_SUBTOTAL_AMOUNT",
    "CUSTOMER_METADATA",
    "CUSTOM_EVENT_METADATA",
]


class EarningLoyalty(_Base):
    """``FIXED`` (``points``) or ``PROPORTIONAL`` (``calculation_type`` and its one block:
    ``order.amount``, ``order.total_amount``, ``order.metadata``, ``order_items.quantity``,
    ``order_items.amount``, ``order_items.subtotal_amount``, ``customer.metadata`` or
    ``custom_event.metadata``)."""

    type: Literal["FIXED", "PROPORTIONAL"]
    points: Points | None = None
    points_formula: str | None = None
    calculation_type: CalculationType | None = None
    order: EarningOrderBlocks | None = None
    order_items: EarningItemsBlocks | None = None
    customer: EarningMetadataBlock | None = None
    custom_event: EarningMetadataBlock | None = None

    def block(self) -> tuple[str, EarningBlock | None]:
        """``(path below loyalty, block)`` of this rule's ``calculation_type``."""
        ct = self.calculation_type
        where, name = _CALC_BLOCKS[ct] if ct is not None else ("", "")
        holder = getattr(self, where, None) if where else None
        block = getattr(holder, name, None) if holder is not None else None
        return f"{where}.{name}", block


_CALC_BLOCKS = {
    "ORDER_AMOUNT": ("order", "amount"),
    "ORDER_TOTAL_AMOUNT": ("order", "total_amount"),
    "ORDER_METADATA": ("order", "metadata"),
    "ORDER_ITEMS_QUANTITY": ("order_items", "quantity"),
    "ORDER_ITEMS_AMOUNT": ("order_items", "amount"),
    "ORDER_ITEMS_SUBTOTAL_AMOUNT": ("order_items", "subtotal_amount"),
    "CUSTOMER_METADATA": ("customer", "metadata"),
    "CUSTOM_EVENT_METADATA": ("custom_event", "metadata"),
}


class PendingPointsRule(_Base):
    """Points wait ``period_value`` days (they activate at 00:00 UTC of that day after the
    earning day) before they can be spent; their expiry counts from the activation."""

    period_value: Annotated[int, Meta(ge=1, le=90)]
    period_type: Literal["DAY"] = "DAY"


class IdRef(_Base):
    id: Ident


class CustomEventRef(_Base):
    schema_id: Ident | None = None


class EarningSource(_Base):
    banner: Annotated[str, Meta(max_length=500)] | None = None


class DailyHours(_Base):
    """Voucherify's ``validity_hours.daily[]`` entry (UTC)."""

    start_time: Annotated[str, Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
    expiration_time: Annotated[str, Meta(pattern=r"^([01]\d|2[0-4]):[0-5]\d$")]
    days_of_week: list[DayOfWeek] | None = None


class ValidityHours(_Base):
    daily: list[DailyHours] | None = None


class PerCustomerLimit(_Base):
    """At most ``count`` accruals of the rule per customer in each calendar ``period`` (UTC;
    weeks are ISO weeks), or ever when ``period`` is absent."""

    count: PosInt
    period: Literal["DAY", "WEEK", "MONTH"] | None = None


class EarningLimits(_Base):
    """promogate extension (Voucherify caps rule use only in its Loyalty v2)."""

    per_customer: PerCustomerLimit | None = None


class EarningRule(_Base):
    """One earning rule of a loyalty program (Voucherify's ``earning_rule``, ``ern_...``).

    ``event``: ``order.paid``, ``customer.segment.entered`` (needs ``segment.id``), a custom
    event name, or ``customer.loyalty.tier.{joined,left,upgraded,downgraded,prolonged}`` (needs
    ``loyalty_tier.id``: a tier id or ``__ANY__``). Without dates the rule follows its
    campaign's window (it must be in both). ``validity_hours`` takes Voucherify's
    ``{daily: [...]}`` or promogate's ``[{start, end}]``; naive datetimes are UTC (the SDK sends
    them). ``limits`` is a promogate extension.
    """

    id: Ident
    campaign_id: Ident
    event: Annotated[str, Meta(min_length=1, max_length=300)]
    loyalty: EarningLoyalty
    validation_rule_id: Ident | None = None
    active: bool | None = None
    start_date: _dt.datetime | None = None
    expiration_date: _dt.datetime | None = None
    validity_timeframe: ValidityTimeframe | None = None
    validity_day_of_week: list[DayOfWeek] | None = None
    validity_hours: ValidityHours | list[TimeOfDay] | None = None
    expiration_rules: ExpirationRules | None = None
    pending_points: PendingPointsRule | None = None
    segment: IdRef | None = None
    custom_event: CustomEventRef | None = None
    loyalty_tier: IdRef | None = None
    source: EarningSource | None = None
    metadata: Metadata | None = None
    limits: EarningLimits | None = None

    def __post_init__(self) -> None:
        if self.start_date is not None and self.start_date.tzinfo is None:
            self.start_date = self.start_date.replace(tzinfo=_dt.UTC)
        if self.expiration_date is not None and self.expiration_date.tzinfo is None:
            self.expiration_date = self.expiration_date.replace(tzinfo=_dt.UTC)
        _check_window(self.start_date, self.expiration_date)

    @property
    def is_active(self) -> bool:
        return self.active is not False

    def hours(self) -> tuple[list[TimeOfDay], list[int]]:
        """Daily windows as ``[TimeOfDay]`` and the days of week they bring (Voucherify's
        ``daily[].days_of_week``, used when the rule has no ``validity_day_of_week``)."""
        vh = self.validity_hours
        if vh is None:
            return [], []
        if isinstance(vh, list):
            return vh, []
        days: set[int] = set()
        out = []
        for d in vh.daily or []:
            out.append(TimeOfDay(start=d.start_time, end=d.expiration_time))
            days.update(d.days_of_week or [])
        return out, sorted(days)


class TierPoints(_Base):
    """Inclusive range of points; ``to`` absent or null for the top tier."""

    from_: Points = field(name="from")
    to: Points | None = None

    def __post_init__(self) -> None:
        if self.to is not None and self.to < self.from_:
            raise ValueError("`points.to` must not be below `points.from`")


class TierMapping(_Base):
    """``MULTIPLY`` (``multiplier``, the result rounded down) or ``CUSTOM`` (``points``
    replace the rule's points, or the reward's price)."""

    type: Literal["MULTIPLY", "CUSTOM"]
    multiplier: Annotated[float, Meta(ge=0, le=10**6)] | None = None
    points: Points | None = None

    def __post_init__(self) -> None:
        if self.type == "MULTIPLY":
            if self.multiplier is None:
                raise ValueError("a MULTIPLY mapping needs `multiplier`")
            if abs(self.multiplier * 10**6 - round(self.multiplier * 10**6)) > 1e-3:
                raise ValueError("`multiplier` takes at most six decimals")
        elif self.points is None:
            raise ValueError("a CUSTOM mapping needs `points`")


class LoyaltyTier(_Base):
    """A tier of a loyalty program (``ltr_...``): members whose points fall in ``points`` get
    its ``earning_rules`` mappings (by ``ern_`` id) and ``rewards`` mappings (by ``rewa_`` id)."""

    id: Ident
    campaign_id: Ident
    points: TierPoints
    name: Annotated[str, Meta(max_length=200)] | None = None
    earning_rules: dict[str, TierMapping] | None = None
    rewards: dict[str, TierMapping] | None = None
    metadata: Metadata | None = None


class RewardCampaign(_Base):
    id: Ident
    #: GIFT_VOUCHERS: cents of credit; LOYALTY_PROGRAM: points
    balance: Points | None = None
    #: in responses only (the type of the campaign ``id`` names)
    type: str | None = None


class RewardProduct(_Base):
    id: Ident
    sku_id: Ident | None = None


def _whole(v: int | str, what: str, unit: str, hi: int) -> int:
    """A whole number of ``unit`` in 1..``hi`` given as a number or as a string of digits
    (SDK 6.1.1 sends some counts as strings)."""
    if isinstance(v, str):
        text = v.strip()
        if not text.isdigit() or int(text) < 1:
            raise ValueError(f"`{what}` must be a whole number of {unit} >= 1")
        v = int(text)
    if not 1 <= v <= hi:
        raise ValueError(f"`{what}` must be a whole number of {unit} in 1..{hi}")
    return v


#: a whole number the SDK may send as a string of digits (see _whole)
WholeOrText = Annotated[int, Meta(ge=1, le=10**13)] | Annotated[str, Meta(max_length=20)]


class RewardCoin(_Base):
    """``points_ratio`` points buy ``exchange_ratio`` currency units. The SDK sends
    ``points_ratio`` as a string: both are accepted, it becomes an int."""

    exchange_ratio: Annotated[float, Meta(gt=0, le=10**9)]
    points_ratio: WholeOrText

    def __post_init__(self) -> None:
        self.points_ratio = _whole(self.points_ratio, "points_ratio", "points", 10**12)


class RewardParameters(_Base):
    campaign: RewardCampaign | None = None
    product: RewardProduct | None = None
    coin: RewardCoin | None = None


class RewardAttributes(_Base):
    image_url: str | None = None
    description: str | None = None


_REWARD_TYPES = {"campaign": "CAMPAIGN", "product": "MATERIAL", "coin": "COIN"}


class Reward(_Base):
    """A reward of the catalogue (``rew_...``). ``type`` is inferred from the one non-null
    ``parameters`` member when absent (the SDK drops it): ``campaign`` -> CAMPAIGN,
    ``product`` -> MATERIAL, ``coin`` -> COIN. ``stock``: units in total, None = unlimited."""

    id: Ident
    parameters: RewardParameters
    name: Annotated[str, Meta(max_length=200)] | None = None
    type: Literal["CAMPAIGN", "MATERIAL", "COIN"] | None = None
    stock: Points | None = None
    attributes: RewardAttributes | None = None
    metadata: Metadata | None = None

    def __post_init__(self) -> None:
        present = [k for k in ("campaign", "product", "coin") if getattr(self.parameters, k)]
        if len(present) != 1:
            raise ValueError(
                "`parameters` needs exactly one of `campaign`, `product`, `coin`"
                + (f" (got {', '.join(present)})" if present else "")
            )
        inferred = _REWARD_TYPES[present[0]]
        if self.type is None:
            self.type = inferred
        elif self.type != inferred:
            raise ValueError(f"a {self.type} reward takes `parameters.{_PARAM_OF[self.type]}`")


_PARAM_OF = {v: k for k, v in _REWARD_TYPES.items()}


class AssignmentLoyalty(_Base):
    points: Points | None = None
    auto_redeem: bool | None = None


class AssignmentParameters(_Base):
    loyalty: AssignmentLoyalty | None = None


class RewardAssignment(_Base):
    """A reward offered in a loyalty (or referral) campaign at a price in points (``rewa_...``).
    Voucherify's nested ``parameters.loyalty`` is accepted too and lifted. COIN rewards have no
    price. ``auto_redeem``: redeem as soon as the balance reaches the price (one per campaign)."""

    id: Ident
    reward_id: Ident
    campaign_id: Ident
    points: Annotated[int, Meta(ge=1, le=10**12)] | None = None
    auto_redeem: bool | None = None
    parameters: AssignmentParameters | None = None

    def __post_init__(self) -> None:
        lo = self.parameters.loyalty if self.parameters is not None else None
        if lo is not None:
            if self.points is None and lo.points is not None:
                if lo.points < 1:
                    raise ValueError("`parameters.loyalty.points` must be >= 1")
                self.points = lo.points
            if self.auto_redeem is None and lo.auto_redeem is not None:
                self.auto_redeem = lo.auto_redeem
        self.parameters = None


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
    #: loyalty programs' parts, each naming its campaign (see the loyalty section above)
    earning_rules: list[EarningRule] = []
    loyalty_tiers: list[LoyaltyTier] = []
    rewards: list[Reward] = []
    reward_assignments: list[RewardAssignment] = []


# --------------------------------------------------------------------------- requests


class Address(_Base):
    city: str | None = None
    state: str | None = None
    line_1: str | None = None
    line_2: str | None = None
    country: str | None = None
    postal_code: str | None = None


class CustomerOrdersSummary(_Base):
    """What the customer has ordered so far (Voucherify's ``summary.orders``), as the caller
    read it from the customer's metrics: for an order being paid, the orders BEFORE it."""

    total_count: Annotated[int, Meta(ge=0)] | None = None
    total_amount: Annotated[int, Meta(ge=0)] | None = None


class CustomerSummary(_Base):
    orders: CustomerOrdersSummary | None = None


class Customer(_Base):
    #: at most 200 characters, as every identifier: a stored code names its holder by it
    id: Ident | None = None
    source_id: Ident | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    birthdate: str | None = None
    address: Address | None = None
    metadata: Metadata | None = None
    #: static segment ids the customer belongs to (filled by the gateway, or sent by the client)
    segments: list[str] | None = None
    #: the customer's metrics (rules ``customer.orders.count`` / ``customer.orders.amount``),
    #: filled by the service from what it stores, never trusted from a client
    summary: CustomerSummary | None = None

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
    #: the line's discount and its amount after it (earning on ORDER_ITEMS_SUBTOTAL_AMOUNT)
    discount_amount: Annotated[int, Meta(ge=0, le=10**13)] | None = None
    subtotal_amount: Annotated[int, Meta(ge=0, le=10**13)] | None = None
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
    #: after every discount (earning on ORDER_TOTAL_AMOUNT); else amount minus the discounts
    items_discount_amount: Annotated[int, Meta(ge=0, le=10**13)] | None = None
    total_discount_amount: Annotated[int, Meta(ge=0, le=10**13)] | None = None
    total_amount: Annotated[int, Meta(ge=0, le=10**13)] | None = None
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
