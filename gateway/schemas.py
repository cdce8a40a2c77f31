"""Wire schemas of the checkout API: the Voucherify API v1 subset the gateway speaks.

Request bodies decode with the module-level decoders (``decode_validations`` ...), which
reuse the request structs of :mod:`core.model` (``Customer``, ``Order``, ``Redeemable``).
Response structs encode with :data:`encoder`.

Two facts about the official Python SDK (``voucherify`` 6.1.1) shape everything below:

* **It sends explicit ``null`` for unset fields.** A model built with ``from_dict`` sends
  every nullable field it knows, e.g. ``"gift": null, "reward": null`` in each redeemable,
  ``"items": null`` / ``"metadata": null`` in the order, ``"address": null`` in the customer,
  ``"filters": null, "expand": null`` in qualification options, ``"session": null``,
  ``"tracking_id": null``. msgspec decodes ``null`` into a field typed ``X | None`` (any X:
  scalar, Literal, list, dict, struct) but **rejects** it for ``list[X] = []`` or
  ``dict = {}`` ("Expected `array`, got `null`"). So every optional request field here is
  ``X | None = None``; the only non-optional one is ``redeemables`` (a null there is a bad
  request anyway).
* **It checks response enums strictly and types strictly** (pydantic ``StrictInt`` /
  ``StrictStr`` / ``StrictBool``): an enum value outside its list, a float where it wants an
  int (``5.0`` for an amount), an object where it wants a string (``details``), or a missing
  required field makes ``from_dict`` raise ``ValidationError`` and the call fails on the
  client. The Literal types below are exactly the SDK's enum lists (found in the
  ``field_validator`` "must be one of enum values" checks of ``voucherify/models/*.py``);
  comments name the SDK model. Fields the SDK *requires* are marked ``SDK-REQUIRED`` and
  have no default here. The SDK ignores unknown response fields.

Response structs use ``omit_defaults=True``: a field left at ``None`` is simply absent,
which the SDK reads as ``None`` (every field is ``Optional`` except the SDK-REQUIRED ones).

How the SDK calls the endpoints (captured on the wire; see the tests):

* ``POST /v1/validations``, ``/v1/redemptions``, ``/v1/qualifications``: JSON body,
  ``Content-Type: application/json``, ``Accept: application/json``,
  ``X-App-Id`` / ``X-App-Token``, ``X-Voucherify-Channel: Python-SDK``,
  ``User-Agent: OpenAPI-Python-SDK/6.1.1``. Datetimes are sent ``isoformat()``
  (``"2024-01-01T00:00:00+00:00"``), dates as ``"1990-01-02"``.
* ``POST /v1/redemptions/{id}/rollback`` and ``POST /v1/redemptions/{id}/rollbacks``:
  ``reason`` and ``tracking_id`` as **query** parameters (percent-encoded, only when given);
  without a body model the request has ``Content-Length: 0`` **and still**
  ``Content-Type: application/json`` (do not try to JSON-decode an empty body, see
  :func:`decode_rollback`). With a body model the body carries ``reason``, ``tracking_id``,
  ``customer``, ``order``, ``metadata`` (nulls included).
* ``DELETE /v1/vouchers/{code}/sessions/{key}``: no body, no Content-Type, no Accept; the
  code is percent-encoded with ``safe=""`` (``/`` becomes ``%2F``), so route on the raw path
  or on a path parameter that is decoded once. Any 2xx with any body is fine (the SDK
  does not read it); Voucherify answers 204.
* Non-2xx answers are never parsed into a model: the SDK raises ``BadRequestException``
  (400), ``UnauthorizedException`` (401), ``ForbiddenException`` (403),
  ``NotFoundException`` (404), ``ServiceException`` (5xx) or ``ApiException`` (others), with
  ``.status`` and the raw text in ``.body``.
"""

from __future__ import annotations

import datetime as _dt
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

from core.model import Customer, Order, Redeemable
from core.model import StackingRules as _CoreStackingRules
from store.errors import ErrorBody, ErrorMessage  # noqa: F401  (both are part of this wire schema)

Metadata = dict[str, Any]
#: Amounts, quantities and points: always ``int`` on the wire (the SDK uses StrictInt;
#: a float such as ``100.0`` is rejected).
Int = int

# =========================================================================== enums
# Exactly the SDK's lists. Where two SDK models disagree, the narrower list is used.

OrderStatus = Literal["CREATED", "PAID", "CANCELED", "FULFILLED"]
#: ValidationsValidateResponseBodyRedeemablesItem.status
RedeemableStatus = Literal["APPLICABLE", "INAPPLICABLE", "SKIPPED"]
#: ValidationsValidateResponseBodyRedeemablesItem / ValidationsRedeemableSkipped /
#: ValidationsRedeemableInapplicable .object: NOT promotion_stack (a stack is answered
#: as its tiers) and NOT campaign.
ValidationObject = Literal["voucher", "promotion_tier"]
#: QualificationsRedeemable.object
QualificationObject = Literal["campaign", "promotion_tier", "promotion_stack", "voucher"]
#: ValidationsRedeemableSkippedResultDetails.key: the only keys a SKIPPED redeemable may carry.
SkipKey = Literal[
    "applicable_redeemables_limit_exceeded",
    "applicable_redeemables_per_category_limit_exceeded",
    "applicable_exclusive_redeemables_limit_exceeded",
    "applicable_exclusive_redeemables_per_category_limit_exceeded",
    "exclusion_rules_not_met",
    "preceding_validation_failed",
    "no_effect",
]
#: Discount.type (all discount models)
DiscountType = Literal["AMOUNT", "UNIT", "PERCENT", "FIXED"]
#: Discount.effect (all discount models); ADD_MANY_ITEMS comes with ``units[]``.
DiscountEffect = Literal[
    "APPLY_TO_ORDER",
    "APPLY_TO_ITEMS",
    "APPLY_TO_ITEMS_PROPORTIONALLY",
    "APPLY_TO_ITEMS_PROPORTIONALLY_BY_QUANTITY",
    "APPLY_TO_ITEMS_BY_QUANTITY",
    "ADD_MISSING_ITEMS",
    "ADD_NEW_ITEMS",
    "ADD_MANY_ITEMS",
    "ADD_SAME_ITEMS",
]
#: DiscountUnitMultipleOneUnit.effect (one unit of an ADD_MANY_ITEMS discount): no ADD_SAME_ITEMS.
UnitEffect = Literal["ADD_NEW_ITEMS", "ADD_MISSING_ITEMS"]
#: ApplicableTo.effect / InapplicableTo.effect (python Enum ApplicableToEffect), SDK-REQUIRED.
TargetEffect = Literal[
    "APPLY_TO_EVERY",
    "APPLY_TO_CHEAPEST",
    "APPLY_FROM_CHEAPEST",
    "APPLY_TO_MOST_EXPENSIVE",
    "APPLY_FROM_MOST_EXPENSIVE",
]
#: ApplicableTo.object: NOT "category" (core.model.TargetObject allows it; resolve a
#: category target into its products before answering).
TargetObject = Literal["product", "sku", "products_collection"]
#: ApplicableTo.target
TargetUnit = Literal["ITEM", "UNIT"]
#: Redemption.result / RedemptionRollback.result
ResultFlag = Literal["SUCCESS", "FAILURE"]
#: Redemption.status
RedemptionStatus = Literal["SUCCEEDED", "FAILED", "ROLLED_BACK"]
#: RedemptionRollback.status / RedemptionsRollbackCreateResponseBody.status: no ROLLED_BACK.
RollbackStatus = Literal["SUCCEEDED", "FAILED"]
#: Redemption.related_object_type / RedemptionRollback.related_object_type
RelatedObjectType = Literal["voucher", "promotion_tier", "redemption"]
#: RedemptionChannel.channel_type allows USER|API|AUTO_REDEEM but the rollback channel
#: models allow only USER|API: use the common subset.
ChannelType = Literal["USER", "API"]
#: Voucher.type / RedemptionVoucher.type
VoucherType = Literal["GIFT_VOUCHER", "DISCOUNT_VOUCHER", "LOYALTY_CARD"]
#: VoucherGift.effect / RedemptionVoucherGift.effect
GiftEffect = Literal["APPLY_TO_ORDER", "APPLY_TO_ITEMS"]
#: CategoryWithStackingRulesType.stacking_rules_type
StackingRulesType = Literal["JOINT", "EXCLUSIVE"]
#: Session.ttl_unit (request and response)
TtlUnit = Literal[
    "DAYS", "HOURS", "MICROSECONDS", "MILLISECONDS", "MINUTES", "NANOSECONDS", "SECONDS"
]
#: QualificationsCheckEligibilityRequestBody.scenario
Scenario = Literal[
    "ALL",
    "CUSTOMER_WALLET",
    "AUDIENCE_ONLY",
    "PRODUCTS",
    "PRODUCTS_DISCOUNT",
    "PROMOTION_STACKS",
    "PRODUCTS_BY_CUSTOMER",
    "PRODUCTS_DISCOUNT_BY_CUSTOMER",
]
#: QualificationsOption.sorting_rule
SortingRule = Literal["DEFAULT", "BEST_DEAL", "LEAST_DEAL"]
#: ValidationsValidateRequestBodyOptions.expand / RedemptionsRedeemRequestBodyOptions.expand
ValidationExpand = Literal["order", "redemption", "redeemable", "category"]
#: QualificationsOption.expand
QualificationExpand = Literal["redeemable", "category", "validation_rules"]

MAX_REDEEMABLES = 30
QUALIFICATIONS_DEFAULT_LIMIT = 5
QUALIFICATIONS_MAX_LIMIT = 50


# msgspec does not inherit ``kw_only`` (it applies to the fields a class defines), so every
# struct below repeats ``kw_only=True``; ``omit_defaults`` and ``forbid_unknown_fields`` are
# inherited.


class _In(Struct, omit_defaults=True, forbid_unknown_fields=False, kw_only=True):
    """Request side: unknown fields ignored; every optional field is ``X | None = None``."""


class _Out(Struct, omit_defaults=True, forbid_unknown_fields=False, kw_only=True):
    """Response side: ``None`` fields are left out of the JSON.

    Mind that ``omit_defaults`` drops *any* field equal to its default, constants included.
    So a constant such as ``object: "order"`` is a msgspec tag (``tag_field="object"``),
    which is always written and never needs passing; and fields whose value matters
    (``status``, ``result``, ``channel_type`` ...) have no default."""


# =========================================================================== requests


class Session(_In, kw_only=True):
    """``session`` of validate / redeem, and the ``session`` echoed in the validation answer
    (SDK model ``Session``: all fields optional; type in {LOCK}, ttl_unit in TtlUnit).

    ``type`` absent means LOCK (the only type). ``ttl`` is a number in the SDK
    (StrictFloat | StrictInt); ``ttl``/``ttl_unit`` absent means 7 days."""

    type: Literal["LOCK"] | None = None
    key: Annotated[str, Meta(min_length=1, max_length=200)] | None = None
    ttl: Annotated[int, Meta(gt=0)] | Annotated[float, Meta(gt=0)] | None = None
    ttl_unit: TtlUnit | None = None


class ValidationsOptions(_In, kw_only=True):
    expand: list[ValidationExpand] | None = None
    #: sent by the SDK (``"language": null``); not used
    language: str | None = None


class ValidationsRequest(_In, kw_only=True):
    """Body of ``POST /v1/validations`` (SDK ``ValidationsValidateRequestBody``).

    ``redeemables`` is the only required field: 1-30 entries. The project's
    ``redeemables_limit`` (<= 30) and the ``duplicated_redeemables`` check (same
    object+id twice) are the handler's, since they answer with their own error keys."""

    redeemables: Annotated[list[Redeemable], Meta(min_length=1, max_length=MAX_REDEEMABLES)]
    customer: Customer | None = None
    order: Order | None = None
    session: Session | None = None
    tracking_id: str | None = None
    metadata: Metadata | None = None
    options: ValidationsOptions | None = None


class RedemptionsRequest(ValidationsRequest, kw_only=True):
    """Body of ``POST /v1/redemptions`` (SDK ``RedemptionsRedeemRequestBody``): same fields
    as validations, same enums (options.expand in order|redemption|redeemable|category)."""


class QualificationsOptions(_In, kw_only=True):
    """``options`` of qualifications (SDK ``QualificationsOption``).

    ``limit``: 1-50, absent = 5 (:attr:`effective_limit`). ``starting_after`` is a
    **datetime** in the SDK (a ``created_at`` cursor, sent as ``isoformat()``), and so is the
    answer's ``more_starting_after``. ``filters`` is accepted and ignored."""

    limit: Annotated[int, Meta(ge=1, le=QUALIFICATIONS_MAX_LIMIT)] | None = None
    starting_after: _dt.datetime | None = None
    sorting_rule: SortingRule | None = None
    expand: list[QualificationExpand] | None = None
    filters: Any = None

    @property
    def effective_limit(self) -> int:
        return self.limit if self.limit is not None else QUALIFICATIONS_DEFAULT_LIMIT


class QualificationsSession(_In, kw_only=True):
    """Qualifications only take ``{type: LOCK}`` (SDK
    ``QualificationsCheckEligibilityRequestBodySession``)."""

    type: Literal["LOCK"] | None = None


class QualificationsRequest(_In, kw_only=True):
    """Body of ``POST /v1/qualifications`` (SDK ``QualificationsCheckEligibilityRequestBody``).
    ``scenario`` absent means ``ALL``."""

    customer: Customer | None = None
    order: Order | None = None
    scenario: Scenario | None = None
    options: QualificationsOptions | None = None
    tracking_id: str | None = None
    metadata: Metadata | None = None
    session: QualificationsSession | None = None


class RollbackRequest(_In, kw_only=True):
    """Optional body of both rollback endpoints (SDK ``RedemptionsRollbackCreateRequestBody``
    and ``RedemptionsRollbacksCreateRequestBody``, identical). ``reason`` and
    ``tracking_id`` usually come as query parameters instead: see :func:`decode_rollback`."""

    reason: Annotated[str, Meta(max_length=1000)] | None = None
    tracking_id: str | None = None
    customer: Customer | None = None
    order: Order | None = None
    metadata: Metadata | None = None


# =========================================================================== responses: shared


class StackingRulesOut(_Out, kw_only=True):
    """``stacking_rules`` of the validation and qualification answers (SDK ``StackingRules``).

    SDK-REQUIRED in the validation answer (``ValidationsValidateResponseBody.stacking_rules``
    has no default: leave it out and every validate call fails client-side). All fields are
    written, none omitted. SDK bounds: the three general limits 1-30, the two
    **exclusive limits 1-5** (core allows up to 30: see :meth:`from_core`)."""

    redeemables_limit: Annotated[int, Meta(ge=1, le=30)]
    applicable_redeemables_limit: Annotated[int, Meta(ge=1, le=30)]
    applicable_redeemables_per_category_limit: Annotated[int, Meta(ge=1, le=30)]
    applicable_redeemables_category_limits: dict[str, int]
    applicable_exclusive_redeemables_limit: Annotated[int, Meta(ge=1, le=5)]
    applicable_exclusive_redeemables_per_category_limit: Annotated[int, Meta(ge=1, le=5)]
    exclusive_categories: list[str]
    joint_categories: list[str]
    redeemables_application_mode: Literal["ALL", "PARTIAL"]
    redeemables_sorting_rule: Literal["CATEGORY_HIERARCHY", "REQUESTED_ORDER"]
    redeemables_no_effect_rule: Literal["REDEEM_ANYWAY", "SKIP"]
    #: SDK enum STACK|ONCE; promogate applies product discounts per redeemable (STACK)
    redeemables_products_application_mode: Literal["STACK", "ONCE"]
    #: SDK enum WITH_ORDER|WITHOUT_ORDER
    redeemables_rollback_order_mode: Literal["WITH_ORDER", "WITHOUT_ORDER"] | None = None

    @classmethod
    def from_core(cls, r: _CoreStackingRules) -> StackingRulesOut:
        """Project settings as the SDK accepts them. The exclusive limits are reported capped
        at 5, the SDK's (and Voucherify's) maximum; a larger configured value would make the
        SDK reject the whole answer."""
        return cls(
            redeemables_limit=r.redeemables_limit,
            applicable_redeemables_limit=r.applicable_redeemables_limit,
            applicable_redeemables_per_category_limit=r.applicable_redeemables_per_category_limit,
            applicable_redeemables_category_limits=dict(r.applicable_redeemables_category_limits),
            applicable_exclusive_redeemables_limit=min(r.applicable_exclusive_redeemables_limit, 5),
            applicable_exclusive_redeemables_per_category_limit=min(
                r.applicable_exclusive_redeemables_per_category_limit, 5
            ),
            exclusive_categories=list(r.exclusive_categories),
            joint_categories=list(r.joint_categories),
            redeemables_application_mode=r.redeemables_application_mode,
            redeemables_sorting_rule=r.redeemables_sorting_rule,
            redeemables_no_effect_rule=r.redeemables_no_effect_rule,
            redeemables_products_application_mode="STACK",
        )


class CategoryOut(_Out, tag_field="object", tag="category", kw_only=True):
    """Entry of ``categories[]`` (SDK ``CategoryWithStackingRulesType`` / ``Category``):
    object in {category}, stacking_rules_type in {JOINT, EXCLUSIVE}, hierarchy int >= 0."""

    id: str
    name: str | None = None
    hierarchy: Annotated[int, Meta(ge=0)] | None = None
    stacking_rules_type: StackingRulesType | None = None
    created_at: _dt.datetime | None = None


class CustomerRef(_Out, tag_field="object", tag="customer", kw_only=True):
    """``order.customer`` / ``order.referrer`` (SDK ``CustomerId``): object in {customer}."""

    id: str


class SimpleCustomer(_Out, tag_field="object", tag="customer", kw_only=True):
    """``customer`` of a redemption / rollback (SDK ``SimpleCustomer``): object in {customer}."""

    id: str | None = None
    source_id: str | None = None
    name: str | None = None
    email: str | None = None
    metadata: Metadata | None = None


# =========================================================================== order


class ItemProductOut(_Out, kw_only=True):
    """``items[].product`` (SDK ``OrderCalculatedItemProduct``; price is a number)."""

    id: str | None = None
    source_id: str | None = None
    name: str | None = None
    price: Int | None = None
    metadata: Metadata | None = None
    override: bool | None = None


class ItemSkuOut(_Out, kw_only=True):
    """``items[].sku`` (SDK ``OrderCalculatedItemSku``)."""

    id: str | None = None
    source_id: str | None = None
    sku: str | None = None
    price: Int | None = None
    metadata: Metadata | None = None
    override: bool | None = None


class OrderItemOut(_Out, tag_field="object", tag="order_item", kw_only=True):
    """A calculated order line (SDK ``OrderCalculatedItem`` and its per-answer copies):
    object in {order_item}, related_object in {product, sku}; every number StrictInt.

    ``amount`` = price x quantity; ``discount_amount`` = discount on this line so far;
    ``applied_discount_amount`` = the part from this request; ``subtotal_amount`` = amount
    minus discount_amount. Lines added by a UNIT discount carry ``discount_quantity`` /
    ``applied_quantity`` (``initial_quantity`` = what the customer ordered)."""

    id: str | None = None
    sku_id: str | None = None
    product_id: str | None = None
    related_object: Literal["product", "sku"] | None = None
    source_id: str | None = None
    quantity: Int | None = None
    discount_quantity: Int | None = None
    initial_quantity: Int | None = None
    amount: Int | None = None
    discount_amount: Int | None = None
    applied_discount_amount: Int | None = None
    applied_discount_quantity: Int | None = None
    applied_quantity: Int | None = None
    applied_quantity_amount: Int | None = None
    initial_amount: Int | None = None
    price: Int | None = None
    subtotal_amount: Int | None = None
    product: ItemProductOut | None = None
    sku: ItemSkuOut | None = None
    metadata: Metadata | None = None


class OrderRedemptionRef(_Out, kw_only=True):
    """Value of ``order.redemptions[<redemption id>]`` (a free dict in the SDK)."""

    date: _dt.datetime
    related_object_type: RelatedObjectType
    related_object_id: str | None = None
    related_object_parent_id: str | None = None
    stacked: list[str] | None = None
    rollback_id: str | None = None
    rollback_date: _dt.datetime | None = None
    rollback_stacked: list[str] | None = None


class OrderOut(_Out, tag_field="object", tag="order", kw_only=True):
    """The calculated order (SDK ``ValidationsValidateResponseBodyOrder``,
    ``RedemptionsRedeemResponseBodyOrder``, ``RedemptionOrder``, ``RedemptionRollbackOrder``,
    ``QualificationsRedeemableOrder`` ..., all the same shape): object in {order}, status in
    OrderStatus, all amounts StrictInt.

    ``amount`` = sum of lines before discounts; ``discount_amount`` = order-level discount
    (gift credits count here); ``items_discount_amount`` = line discounts;
    ``total_discount_amount`` = the two; ``total_amount`` = amount - total_discount_amount;
    ``applied_*`` = the same, counting only this request's redeemables."""

    id: str | None = None
    source_id: str | None = None
    status: OrderStatus | None = None
    amount: Int | None = None
    initial_amount: Int | None = None
    discount_amount: Int | None = None
    items_discount_amount: Int | None = None
    total_discount_amount: Int | None = None
    total_amount: Int | None = None
    applied_discount_amount: Int | None = None
    items_applied_discount_amount: Int | None = None
    total_applied_discount_amount: Int | None = None
    items: list[OrderItemOut] | None = None
    metadata: Metadata | None = None
    customer_id: str | None = None
    customer: CustomerRef | None = None
    referrer_id: str | None = None
    referrer: CustomerRef | None = None
    created_at: _dt.datetime | None = None
    updated_at: _dt.datetime | None = None
    redemptions: dict[str, OrderRedemptionRef] | None = None


# =========================================================================== discounts and results


class DiscountProductRef(_Out, kw_only=True):
    id: str | None = None
    source_id: str | None = None
    name: str | None = None


class DiscountUnit(_Out, kw_only=True):
    """One unit of an ``ADD_MANY_ITEMS`` discount (SDK ``DiscountUnitMultipleOneUnit``):
    effect in {ADD_NEW_ITEMS, ADD_MISSING_ITEMS} only."""

    unit_off: int | float | None = None
    unit_type: str | None = None
    effect: UnitEffect | None = None
    product: DiscountProductRef | None = None
    sku: DiscountProductRef | None = None


class DiscountOut(_Out, kw_only=True):
    """A discount as answered (SDK ``Discount`` and
    ``ValidationsValidateResponseBodyRedeemablesItemResultDiscount``): type in DiscountType,
    effect in DiscountEffect. ``amount_off``, ``percent_off``, ``amount_limit`` and
    ``fixed_amount`` are numbers (int or float), ``unit_off`` is StrictInt."""

    type: DiscountType
    effect: DiscountEffect | None = None
    amount_off: int | float | None = None
    percent_off: int | float | None = None
    amount_limit: int | float | None = None
    aggregated_amount_limit: Int | None = None
    fixed_amount: int | float | None = None
    unit_off: Int | None = None
    unit_type: str | None = None
    product: DiscountProductRef | None = None
    sku: DiscountProductRef | None = None
    units: list[DiscountUnit] | None = None
    is_dynamic: bool | None = None


class GiftResult(_Out, kw_only=True):
    """``result.gift``: ``credits`` applied by this request, ``balance`` before it
    (StrictInt in validation; ``locked_credits`` only exists in qualifications)."""

    credits: Int | None = None
    balance: Int | None = None
    locked_credits: Int | None = None


class LoyaltyResult(_Out, kw_only=True):
    """``result.loyalty_card``: ``points`` used by this request (StrictInt)."""

    points: Int | None = None
    balance: Int | None = None


class ResultDetails(_Out, kw_only=True):
    """``result.details``: free ``key`` for applicable / inapplicable redeemables; for a
    SKIPPED one the key must be a :data:`SkipKey` (see :class:`SkippedResult`)."""

    key: str | None = None
    message: str | None = None


class SkipDetails(ResultDetails, kw_only=True):
    key: SkipKey | None = None


class RedeemableResult(_Out, kw_only=True):
    """``result`` of a redeemable: APPLICABLE carries ``discount`` | ``gift`` |
    ``loyalty_card``; INAPPLICABLE carries ``error``; SKIPPED carries ``details``."""

    discount: DiscountOut | None = None
    gift: GiftResult | None = None
    loyalty_card: LoyaltyResult | None = None
    error: ErrorBody | None = None
    details: ResultDetails | None = None


class SkippedResult(RedeemableResult, kw_only=True):
    details: SkipDetails | None = None


class TargetOut(_Out, kw_only=True):
    """Entry of ``applicable_to.data`` / ``inapplicable_to.data`` (SDK ``ApplicableTo`` /
    ``InapplicableTo``): ``effect`` is SDK-REQUIRED (TargetEffect); object in TargetObject
    (no "category"); target in {ITEM, UNIT}."""

    object: TargetObject
    id: str
    effect: TargetEffect
    source_id: str | None = None
    product_id: str | None = None
    product_source_id: str | None = None
    price: int | float | None = None
    quantity_limit: Int | None = None
    aggregated_quantity_limit: Int | None = None
    amount_limit: Int | None = None
    aggregated_amount_limit: Int | None = None
    order_item_indices: list[int] | None = None
    target: TargetUnit | None = None


class TargetList(_Out, omit_defaults=False, kw_only=True):
    """``applicable_to`` / ``inapplicable_to`` (SDK ``ApplicableToResultList``): object in
    {list}, data_ref in {data}, total int >= 0."""

    data: list[TargetOut]
    total: Annotated[int, Meta(ge=0)]
    object: Literal["list"] = "list"
    data_ref: Literal["data"] = "data"

    @classmethod
    def of(cls, data: list[TargetOut]) -> TargetList:
        return cls(data=data, total=len(data))


# =========================================================================== validation answer


class ValidationRedeemable(_Out, kw_only=True):
    """One entry of a validation answer's ``redeemables[]`` (SDK
    ``ValidationsValidateResponseBodyRedeemablesItem``): status in RedeemableStatus, object in
    {voucher, promotion_tier}. ``order`` is the order after this redeemable. ``metadata``,
    ``categories``, ``campaign_*`` and ``name`` come with ``options.expand``
    (redeemable / category) in Voucherify; sending them always is harmless."""

    status: RedeemableStatus
    id: str
    object: ValidationObject
    order: OrderOut | None = None
    applicable_to: TargetList | None = None
    inapplicable_to: TargetList | None = None
    result: RedeemableResult | None = None
    metadata: Metadata | None = None
    categories: list[CategoryOut] | None = None
    campaign_id: str | None = None
    campaign_name: str | None = None
    name: str | None = None


class InapplicableRedeemable(ValidationRedeemable, kw_only=True):
    """Entry of ``inapplicable_redeemables[]`` (SDK ``ValidationsRedeemableInapplicable``:
    status in {INAPPLICABLE} only). ``result.error`` says why."""

    status: Literal["INAPPLICABLE"]


class SkippedRedeemable(ValidationRedeemable, kw_only=True):
    """Entry of ``skipped_redeemables[]`` (SDK ``ValidationsRedeemableSkipped``: status in
    {SKIPPED} only, ``result.details.key`` in SkipKey)."""

    status: Literal["SKIPPED"]
    result: SkippedResult | None = None


class ValidationsResponse(_Out, kw_only=True):
    """Answer of ``POST /v1/validations`` (SDK ``ValidationsValidateResponseBody``), HTTP 200
    even when ``valid`` is false. ``stacking_rules`` is SDK-REQUIRED. ``id`` is ``valid_...``.

    ALL mode: ``redeemables`` holds every redeemable with its status (an INAPPLICABLE one
    turns ``valid`` false and the others SKIPPED with ``preceding_validation_failed``);
    PARTIAL mode: only the APPLICABLE ones, the rest in ``inapplicable_redeemables`` /
    ``skipped_redeemables``."""

    stacking_rules: StackingRulesOut
    id: str | None = None
    valid: bool | None = None
    redeemables: list[ValidationRedeemable] | None = None
    skipped_redeemables: list[SkippedRedeemable] | None = None
    inapplicable_redeemables: list[InapplicableRedeemable] | None = None
    order: OrderOut | None = None
    tracking_id: str | None = None
    session: Session | None = None


# =========================================================================== redemption answer


class Channel(_Out, kw_only=True):
    """``channel`` (SDK ``RedemptionChannel``: USER|API|AUTO_REDEEM; rollback channels:
    USER|API). Checkout calls are ``API``."""

    channel_id: str | None = None
    channel_type: ChannelType


class VoucherGiftOut(_Out, kw_only=True):
    """``voucher.gift`` of a redemption (SDK ``RedemptionVoucherGift`` / ``VoucherGift``):
    effect in {APPLY_TO_ORDER, APPLY_TO_ITEMS}."""

    amount: Int | None = None
    subtracted_amount: Int | None = None
    balance: Int | None = None
    effect: GiftEffect | None = None


class VoucherLoyaltyOut(_Out, kw_only=True):
    points: Int | None = None
    balance: Int | None = None


class VoucherRedemptionInfo(_Out, tag_field="object", tag="list", kw_only=True):
    """``voucher.redemption`` (SDK ``VoucherRedemption``): no enums."""

    quantity: Int | None = None
    redeemed_quantity: Int | None = None


class RedemptionVoucher(_Out, tag_field="object", tag="voucher", kw_only=True):
    """``voucher`` of a redemption or rollback (SDK ``RedemptionVoucher`` in redemptions, the
    full ``Voucher`` in rollbacks): type in VoucherType; ``object`` is free ("voucher")."""

    id: str | None = None
    code: str | None = None
    campaign: str | None = None
    campaign_id: str | None = None
    category: str | None = None
    category_id: str | None = None
    type: VoucherType | None = None
    discount: DiscountOut | None = None
    gift: VoucherGiftOut | None = None
    loyalty_card: VoucherLoyaltyOut | None = None
    start_date: _dt.datetime | None = None
    expiration_date: _dt.datetime | None = None
    active: bool | None = None
    metadata: Metadata | None = None
    is_referral_code: bool | None = None
    holder_id: str | None = None
    redemption: VoucherRedemptionInfo | None = None
    categories: list[CategoryOut] | None = None


class PromotionTierAction(_Out, kw_only=True):
    discount: DiscountOut | None = None


class PromotionTierCampaignRef(_Out, tag_field="object", tag="campaign", kw_only=True):
    id: str | None = None
    active: bool | None = None
    category_id: str | None = None


class RedemptionPromotionTier(_Out, tag_field="object", tag="promotion_tier", kw_only=True):
    """``promotion_tier`` of a redemption or rollback (SDK ``PromotionTier``): no enums of its
    own besides those of ``action.discount`` and ``categories``."""

    id: str | None = None
    name: str | None = None
    banner: str | None = None
    action: PromotionTierAction | None = None
    metadata: Metadata | None = None
    hierarchy: Int | None = None
    promotion_id: str | None = None
    campaign: PromotionTierCampaignRef | None = None
    campaign_id: str | None = None
    active: bool | None = None
    category_id: str | None = None
    categories: list[CategoryOut] | None = None


class AmountOut(_Out, kw_only=True):
    """``gift`` of a redemption / rollback: credits spent / restored (StrictInt)."""

    amount: Int


class PointsOut(_Out, kw_only=True):
    """``loyalty_card`` of a redemption / rollback: points spent / restored (StrictInt)."""

    points: Int


class SessionKey(_Out, kw_only=True):
    key: str


class RewardCoinOut(_Out, kw_only=True):
    """``reward.parameters.coin`` (SDK ``RedemptionRewardResultParametersCoin``):
    ``points_ratio`` points buy ``exchange_ratio`` currency units (int in answers)."""

    exchange_ratio: int | float | None = None
    points_ratio: Int | None = None


class RewardParametersOut(_Out, kw_only=True):
    coin: RewardCoinOut | None = None


class RewardOut(_Out, tag_field="object", tag="reward", kw_only=True):
    """``reward`` of a redemption / rollback that paid with points (SDK
    ``RedemptionRewardResult``: object in {reward}, ``type`` free text, "COIN" here)."""

    id: str | None = None
    name: str | None = None
    type: str | None = None
    assignment_id: str | None = None
    parameters: RewardParametersOut | None = None
    metadata: Metadata | None = None


class Redemption(_Out, tag_field="object", tag="redemption", kw_only=True):
    """A redemption (SDK ``Redemption``): id ``r_...``, object in {redemption}, result in
    {SUCCESS, FAILURE}, status in {SUCCEEDED, FAILED, ROLLED_BACK}, related_object_type in
    {voucher, promotion_tier, redemption}; ``date`` is a datetime.

    The parent of a stacked redeem has ``related_object_type="redemption"`` and its own id
    as ``related_object_id``; each child has ``redemption`` = the parent id. ``amount`` is
    the gift credits or loyalty points used (StrictInt)."""

    id: str
    date: _dt.datetime
    customer_id: str | None = None
    tracking_id: str | None = None
    metadata: Metadata | None = None
    amount: Int | None = None
    redemption: str | None = None
    result: ResultFlag
    status: RedemptionStatus
    failure_code: str | None = None
    failure_message: str | None = None
    order: OrderOut | None = None
    channel: Channel | None = None
    customer: SimpleCustomer | None = None
    related_object_type: RelatedObjectType | None = None
    related_object_id: str | None = None
    voucher: RedemptionVoucher | None = None
    promotion_tier: RedemptionPromotionTier | None = None
    reward: RewardOut | None = None
    gift: AmountOut | None = None
    loyalty_card: PointsOut | None = None
    session: SessionKey | None = None


class RedemptionsResponse(_Out, kw_only=True):
    """Answer of ``POST /v1/redemptions`` (SDK ``RedemptionsRedeemResponseBody``; nothing
    required). ``order.status`` is ``PAID`` and ``order.redemptions`` maps the parent id to
    an :class:`OrderRedemptionRef` listing the children in ``stacked``."""

    redemptions: list[Redemption] | None = None
    parent_redemption: Redemption | None = None
    order: OrderOut | None = None
    inapplicable_redeemables: list[InapplicableRedeemable] | None = None
    skipped_redeemables: list[SkippedRedeemable] | None = None


class _RedemptionsResponseWire(_Out, kw_only=True):
    """:class:`RedemptionsResponse` with its redemptions already encoded (``msgspec.Raw``): the
    same fields in the same order, so the same JSON. A redeem stores each redemption's JSON as
    its record and sends it in the answer: encoded once, used twice."""

    redemptions: list[msgspec.Raw] | None = None
    parent_redemption: msgspec.Raw | None = None
    order: OrderOut | None = None
    inapplicable_redeemables: list[InapplicableRedeemable] | None = None
    skipped_redeemables: list[SkippedRedeemable] | None = None


def encode_redeemed(resp: RedemptionsResponse, parent: bytes, children: list[bytes]) -> bytes:
    """``encode(resp)``, with ``parent`` / ``children`` the encodings of its parent redemption and
    of its redemptions, spliced in rather than encoded again."""
    return encoder.encode(
        _RedemptionsResponseWire(
            redemptions=[msgspec.Raw(c) for c in children],
            parent_redemption=msgspec.Raw(parent),
            order=resp.order,
            inapplicable_redeemables=resp.inapplicable_redeemables,
            skipped_redeemables=resp.skipped_redeemables,
        )
    )


# =========================================================================== rollback answers


class RedemptionRollback(_Out, tag_field="object", tag="redemption_rollback", kw_only=True):
    """A rollback (SDK ``RedemptionsRollbackCreateResponseBody`` for the single endpoint,
    ``RedemptionRollback`` inside the stacked answer; same fields): id ``rr_...``, object in
    {redemption_rollback}, result in {SUCCESS, FAILURE}, status in {SUCCEEDED, FAILED} (no
    ROLLED_BACK), channel_type in {USER, API}. ``redemption`` is the rolled back redemption's
    id; ``amount`` / ``gift.amount`` / ``loyalty_card.points`` what was given back (loyalty
    points negative, as Voucherify writes them: ``amount: -N``, ``loyalty_card.points: -N``);
    ``reward`` the COIN reward a card paid with, ``voucher`` that card with its balance after."""

    id: str
    date: _dt.datetime
    redemption: str
    customer_id: str | None = None
    tracking_id: str | None = None
    metadata: Metadata | None = None
    amount: Int | None = None
    reason: str | None = None
    result: ResultFlag
    status: RollbackStatus
    failure_code: str | None = None
    failure_message: str | None = None
    order: OrderOut | None = None
    channel: Channel | None = None
    customer: SimpleCustomer | None = None
    related_object_type: RelatedObjectType | None = None
    related_object_id: str | None = None
    voucher: RedemptionVoucher | None = None
    promotion_tier: RedemptionPromotionTier | None = None
    reward: RewardOut | None = None
    gift: AmountOut | None = None
    loyalty_card: PointsOut | None = None


class RollbacksResponse(_Out, kw_only=True):
    """Answer of ``POST /v1/redemptions/{parent_id}/rollbacks`` (SDK
    ``RedemptionsRollbacksCreateResponseBody``; nothing required): one rollback per child,
    the parent's rollback, and the order (status ``CANCELED``)."""

    rollbacks: list[RedemptionRollback]
    parent_rollback: RedemptionRollback
    order: OrderOut | None = None


# =========================================================================== qualifications answer


class QualificationResult(_Out, kw_only=True):
    """``result`` of a qualified redeemable (SDK ``RedeemableResult``: discount | gift |
    loyalty_card | error; no ``details``). Numbers in ``gift`` may be int or float."""

    discount: DiscountOut | None = None
    gift: GiftResult | None = None
    loyalty_card: LoyaltyResult | None = None
    error: ErrorBody | None = None


class QualifiedRedeemable(_Out, kw_only=True):
    """Entry of ``redeemables.data`` (SDK ``QualificationsRedeemable``): object in
    {campaign, promotion_tier, promotion_stack, voucher}; ``created_at`` is the paging key."""

    id: str
    object: QualificationObject
    created_at: _dt.datetime | None = None
    result: QualificationResult | None = None
    order: OrderOut | None = None
    applicable_to: TargetList | None = None
    inapplicable_to: TargetList | None = None
    metadata: Metadata | None = None
    categories: list[CategoryOut] | None = None
    banner: str | None = None
    name: str | None = None
    campaign_name: str | None = None
    campaign_id: str | None = None


class QualifiedList(_Out, omit_defaults=False, kw_only=True):
    """``redeemables`` of the qualification answer (SDK ``QualificationsRedeemables``):
    object in {list}, data_ref in {data}; ``more_starting_after`` is a **datetime** (the
    ``created_at`` of the last item) or absent."""

    data: list[QualifiedRedeemable]
    total: Int
    has_more: bool
    more_starting_after: _dt.datetime | None = None
    object: Literal["list"] = "list"
    data_ref: Literal["data"] = "data"


class QualificationsResponse(_Out, kw_only=True):
    """Answer of ``POST /v1/qualifications`` (SDK ``QualificationsCheckEligibilityResponseBody``;
    nothing required, ``stacking_rules`` optional here but sent)."""

    redeemables: QualifiedList
    tracking_id: str | None = None
    order: OrderOut | None = None
    stacking_rules: StackingRulesOut | None = None


# =========================================================================== codecs

encoder = msgspec.json.Encoder()

_validations = msgspec.json.Decoder(ValidationsRequest)
_redemptions = msgspec.json.Decoder(RedemptionsRequest)
_qualifications = msgspec.json.Decoder(QualificationsRequest)
_rollback = msgspec.json.Decoder(RollbackRequest)


def decode_validations(body: bytes) -> ValidationsRequest:
    """Raises ``msgspec.ValidationError`` / ``msgspec.DecodeError`` on a bad body (answer 400
    ``invalid_payload`` with the message as ``details``)."""
    return _validations.decode(body)


def decode_redemptions(body: bytes) -> RedemptionsRequest:
    return _redemptions.decode(body)


def decode_qualifications(body: bytes) -> QualificationsRequest:
    return _qualifications.decode(body)


def decode_rollback(
    body: bytes, *, reason: str | None = None, tracking_id: str | None = None
) -> RollbackRequest:
    """Body of a rollback call, merged with its query parameters.

    An empty or blank body (what the SDK sends without a body model, with
    ``Content-Type: application/json`` all the same) means no body. ``reason`` and
    ``tracking_id`` from the query string win over the body's: the query is where the SDK
    puts its ``reason=`` / ``tracking_id=`` arguments."""
    req = _rollback.decode(body) if body.strip() else RollbackRequest()
    if reason is not None:
        req.reason = reason
    if tracking_id is not None:
        req.tracking_id = tracking_id
    return req


def encode(obj: Struct) -> bytes:
    return encoder.encode(obj)


__all__ = [
    name
    for name, obj in dict(globals()).items()
    if isinstance(obj, type)
    and issubclass(obj, Struct)
    and not name.startswith("_")
    and obj.__module__ == __name__
] + [
    "decode_validations",
    "decode_redemptions",
    "decode_qualifications",
    "decode_rollback",
    "encode",
    "encoder",
    "MAX_REDEEMABLES",
    "QUALIFICATIONS_DEFAULT_LIMIT",
    "QUALIFICATIONS_MAX_LIMIT",
]
