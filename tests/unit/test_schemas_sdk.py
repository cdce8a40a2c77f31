"""gateway.schemas against the official Voucherify Python SDK (``voucherify`` 6.1.1).

Responses: built with our structs, encoded with msgspec, parsed by the SDK the way a call
does (``ApiClient.deserialize`` with the response type named in the API method's
``_response_types_map``); then the parsed values are checked. Requests: built with the SDK's
request models and serialized the way the SDK sends them (nulls included), then decoded with
our decoders. Enums: every Literal in gateway.schemas is compared with the SDK's own list.

Skipped when the SDK is not installed (it is a test-only dependency).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import typing

import msgspec
import pytest
import voucherify as v  # noqa: E402  (in the test extra: a missing SDK must fail, not skip)
from pydantic import ValidationError  # noqa: E402  (comes with the SDK)
from voucherify import exceptions as vexc  # noqa: E402  (exceptions are not re-exported)

from core.model import StackingRules as CoreStackingRules  # noqa: E402
from gateway import schemas as s  # noqa: E402

T0 = dt.datetime(2025, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def client():
    with v.ApiClient(v.Configuration(host="http://127.0.0.1:9")) as c:
        yield c


def sdk_parse(client, obj: msgspec.Struct, response_type: str):
    """What ``api_client.response_deserialize`` does with a 2xx JSON body."""
    text = s.encode(obj).decode()
    return client.deserialize(text, response_type, "application/json; charset=utf-8")


# --------------------------------------------------------------------------- builders


def stacking_rules() -> s.StackingRulesOut:
    return s.StackingRulesOut.from_core(CoreStackingRules())


def order(
    amount=20000, discount=0, items_discount=0, applied=None, items_applied=None, status=None
) -> s.OrderOut:
    total_discount = discount + items_discount
    applied = discount if applied is None else applied
    items_applied = items_discount if items_applied is None else items_applied
    return s.OrderOut(
        source_id="ord-1",
        status=status,
        amount=amount,
        initial_amount=amount,
        discount_amount=discount,
        items_discount_amount=items_discount,
        total_discount_amount=total_discount,
        total_amount=amount - total_discount,
        applied_discount_amount=applied,
        items_applied_discount_amount=items_applied,
        total_applied_discount_amount=applied + items_applied,
        customer_id="cust_1",
        customer=s.CustomerRef(id="cust_1"),
        metadata={"channel": "web"},
        items=[
            s.OrderItemOut(
                product_id="prod_shoe",
                related_object="product",
                quantity=2,
                price=5000,
                amount=10000,
                discount_amount=items_discount,
                applied_discount_amount=items_applied,
                subtotal_amount=10000 - items_discount,
                initial_amount=10000,
                initial_quantity=2,
                product=s.ItemProductOut(id="prod_shoe", name="Shoe", price=5000),
            ),
            s.OrderItemOut(
                sku_id="sku_sock_red",
                product_id="prod_sock",
                related_object="sku",
                quantity=1,
                price=10000,
                amount=10000,
                subtotal_amount=10000,
                sku=s.ItemSkuOut(id="sku_sock_red", sku="SOCK-RED", price=10000),
            ),
        ],
    )


def applicable_amount() -> s.ValidationRedeemable:
    return s.ValidationRedeemable(
        status="APPLICABLE",
        id="SAVE10",
        object="voucher",
        order=order(discount=1000),
        applicable_to=s.TargetList.of([]),
        inapplicable_to=s.TargetList.of([]),
        result=s.RedeemableResult(
            discount=s.DiscountOut(
                type="AMOUNT", amount_off=1000, effect="APPLY_TO_ORDER", is_dynamic=False
            )
        ),
        metadata={},
        categories=[
            s.CategoryOut(
                id="cat_coupons", name="coupons", hierarchy=1, stacking_rules_type="JOINT"
            )
        ],
        campaign_id="camp_1",
        campaign_name="Spring",
        name="SAVE10",
    )


def applicable_percent() -> s.ValidationRedeemable:
    return s.ValidationRedeemable(
        status="APPLICABLE",
        id="SHOES20",
        object="voucher",
        order=order(discount=1000, items_discount=2000, applied=0),
        applicable_to=s.TargetList.of(
            [
                s.TargetOut(
                    object="product",
                    id="prod_shoe",
                    effect="APPLY_TO_EVERY",
                    quantity_limit=2,
                    order_item_indices=[0],
                    target="ITEM",
                )
            ]
        ),
        result=s.RedeemableResult(
            discount=s.DiscountOut(
                type="PERCENT",
                percent_off=20.0,
                amount_limit=5000,
                effect="APPLY_TO_ITEMS",
                is_dynamic=False,
            )
        ),
        campaign_id="camp_2",
    )


def gift_card() -> s.ValidationRedeemable:
    return s.ValidationRedeemable(
        status="APPLICABLE",
        id="GIFT-1",
        object="voucher",
        order=order(discount=3500, items_discount=2000, applied=2500, items_applied=0),
        result=s.RedeemableResult(gift=s.GiftResult(credits=2500, balance=4000)),
    )


def promotion_tier() -> s.ValidationRedeemable:
    return s.ValidationRedeemable(
        status="APPLICABLE",
        id="promo_free_ship",
        object="promotion_tier",
        order=order(discount=3500, items_discount=2000, applied=0, items_applied=0),
        result=s.RedeemableResult(
            discount=s.DiscountOut(
                type="UNIT",
                unit_off=1,
                unit_type="prod_5h1pp1ng",
                effect="ADD_MISSING_ITEMS",
                product=s.DiscountProductRef(id="prod_5h1pp1ng", name="Shipping"),
            )
        ),
        name="Free shipping",
    )


def inapplicable() -> s.InapplicableRedeemable:
    return s.InapplicableRedeemable(
        status="INAPPLICABLE",
        id="EXPIRED1",
        object="voucher",
        result=s.RedeemableResult(
            error=s.ErrorBody(
                code=400,
                key="voucher_expired",
                message="voucher expired",
                details="EXPIRED1",
                request_id="req_1",
                resource_id="EXPIRED1",
                resource_type="voucher",
                error=s.ErrorMessage(message="Sorry, this code has expired"),
            )
        ),
    )


def skipped() -> s.SkippedRedeemable:
    return s.SkippedRedeemable(
        status="SKIPPED",
        id="EXTRA5",
        object="voucher",
        result=s.SkippedResult(
            details=s.SkipDetails(
                key="applicable_redeemables_limit_exceeded",
                message="Applicable redeemables limit exceeded",
            )
        ),
    )


def validation_partial() -> s.ValidationsResponse:
    return s.ValidationsResponse(
        id="valid_0a1b2c",
        valid=True,
        redeemables=[applicable_amount(), applicable_percent(), gift_card(), promotion_tier()],
        skipped_redeemables=[skipped()],
        inapplicable_redeemables=[inapplicable()],
        order=order(discount=3500, items_discount=2000),
        tracking_id="track_x",
        session=s.Session(type="LOCK", key="ssn_1", ttl=7, ttl_unit="DAYS"),
        stacking_rules=stacking_rules(),
    )


def redemption_voucher() -> s.RedemptionVoucher:
    return s.RedemptionVoucher(
        id="v_1",
        code="SAVE10",
        campaign="Spring",
        campaign_id="camp_1",
        type="DISCOUNT_VOUCHER",
        discount=s.DiscountOut(type="AMOUNT", amount_off=1000, effect="APPLY_TO_ORDER"),
        active=True,
        is_referral_code=False,
        redemption=s.VoucherRedemptionInfo(quantity=100, redeemed_quantity=8),
        categories=[s.CategoryOut(id="cat_coupons", name="coupons", hierarchy=1)],
    )


def gift_voucher() -> s.RedemptionVoucher:
    return s.RedemptionVoucher(
        id="v_2",
        code="GIFT-1",
        type="GIFT_VOUCHER",
        gift=s.VoucherGiftOut(
            amount=10000, subtracted_amount=8500, balance=1500, effect="APPLY_TO_ORDER"
        ),
    )


def stacked_redemption() -> s.RedemptionsResponse:
    o = order(discount=3500, status="PAID")
    o.redemptions = {
        "r_parent": s.OrderRedemptionRef(
            date=T0,
            related_object_type="redemption",
            related_object_id="r_parent",
            stacked=["r_child1", "r_child2"],
        )
    }
    common = dict(
        date=T0,
        customer_id="cust_1",
        tracking_id="track_x",
        channel=s.Channel(channel_type="API"),
        result="SUCCESS",
        status="SUCCEEDED",
    )
    return s.RedemptionsResponse(
        parent_redemption=s.Redemption(
            id="r_parent",
            related_object_type="redemption",
            related_object_id="r_parent",
            order=o,
            customer=s.SimpleCustomer(id="cust_1", source_id="c-1", email="a@b.c"),
            metadata={"pos": "7"},
            **common,
        ),
        redemptions=[
            s.Redemption(
                id="r_child1",
                redemption="r_parent",
                related_object_type="voucher",
                related_object_id="v_1",
                voucher=redemption_voucher(),
                order=o,
                session=s.SessionKey(key="ssn_1"),
                **common,
            ),
            s.Redemption(
                id="r_child2",
                redemption="r_parent",
                related_object_type="voucher",
                related_object_id="v_2",
                voucher=gift_voucher(),
                amount=2500,
                gift=s.AmountOut(amount=2500),
                order=o,
                **common,
            ),
        ],
        order=o,
        inapplicable_redeemables=[],
        skipped_redeemables=[],
    )


def rollback(rid="rr_1", red="r_child2", **kw) -> s.RedemptionRollback:
    base = dict(
        id=rid,
        date=T0,
        redemption=red,
        reason="refund",
        result="SUCCESS",
        status="SUCCEEDED",
        customer_id="cust_1",
        tracking_id="track_x",
        amount=2500,
        channel=s.Channel(channel_type="API"),
        related_object_type="voucher",
        related_object_id="v_2",
        voucher=gift_voucher(),
        gift=s.AmountOut(amount=2500),
        customer=s.SimpleCustomer(id="cust_1"),
    )
    base.update(kw)
    return s.RedemptionRollback(**base)


# --------------------------------------------------------------------------- responses


def test_validation_answer_parses_in_sdk(client):
    r = sdk_parse(client, validation_partial(), "ValidationsValidateResponseBody")
    assert isinstance(r, v.ValidationsValidateResponseBody)
    assert r.id == "valid_0a1b2c" and r.valid is True and r.tracking_id == "track_x"
    amt, pct, gift, tier = r.redeemables
    assert (amt.status, amt.object, amt.id) == ("APPLICABLE", "voucher", "SAVE10")
    assert amt.result.discount.type == "AMOUNT" and amt.result.discount.amount_off == 1000
    assert amt.result.discount.effect == "APPLY_TO_ORDER"
    assert amt.order.discount_amount == 1000 and amt.order.total_amount == 19000
    assert amt.categories[0].object == "category"
    assert amt.categories[0].stacking_rules_type == "JOINT"
    assert amt.applicable_to.object == "list" and amt.applicable_to.total == 0
    assert pct.result.discount.percent_off == 20.0 and pct.result.discount.amount_limit == 5000
    t = pct.applicable_to.data[0]
    assert t.effect == v.ApplicableToEffect.APPLY_TO_EVERY and t.target == "ITEM"
    assert t.order_item_indices == [0] and pct.applicable_to.data_ref == "data"
    assert gift.result.gift.credits == 2500 and gift.result.gift.balance == 4000
    assert (tier.object, tier.result.discount.unit_type) == ("promotion_tier", "prod_5h1pp1ng")
    assert tier.result.discount.effect == "ADD_MISSING_ITEMS"
    (sk,) = r.skipped_redeemables
    assert sk.status == "SKIPPED"
    assert sk.result.details.key == "applicable_redeemables_limit_exceeded"
    (ina,) = r.inapplicable_redeemables
    assert ina.status == "INAPPLICABLE" and ina.result.error.key == "voucher_expired"
    assert ina.result.error.code == 400 and ina.result.error.details == "EXPIRED1"
    assert ina.result.error.error.message == "Sorry, this code has expired"
    o = r.order
    assert o.object == "order" and o.customer.object == "customer"
    assert (o.amount, o.discount_amount, o.items_discount_amount) == (20000, 3500, 2000)
    assert (o.total_discount_amount, o.total_amount) == (5500, 14500)
    assert o.total_applied_discount_amount == 5500
    assert [i.object for i in o.items] == ["order_item", "order_item"]
    assert o.items[0].subtotal_amount == 8000 and o.items[1].sku.sku == "SOCK-RED"
    assert r.session.type == "LOCK" and r.session.ttl_unit == "DAYS" and r.session.key == "ssn_1"
    sr = r.stacking_rules
    assert sr.redeemables_limit == 30 and sr.applicable_redeemables_limit == 5
    assert sr.redeemables_application_mode == "ALL"
    assert sr.redeemables_products_application_mode == "STACK"


def test_validation_all_mode_invalid_parses(client):
    """ALL mode with a failure: every redeemable in `redeemables`, `valid` false."""
    bad = inapplicable()
    skip = s.SkippedRedeemable(
        status="SKIPPED",
        id="SAVE10",
        object="voucher",
        result=s.SkippedResult(details=s.SkipDetails(key="preceding_validation_failed")),
    )
    resp = s.ValidationsResponse(
        id="valid_2",
        valid=False,
        redeemables=[bad, skip],
        order=order(),
        stacking_rules=stacking_rules(),
    )
    r = sdk_parse(client, resp, "ValidationsValidateResponseBody")
    assert r.valid is False
    assert [x.status for x in r.redeemables] == ["INAPPLICABLE", "SKIPPED"]
    assert r.redeemables[1].result.details.key == "preceding_validation_failed"
    assert r.skipped_redeemables is None and r.inapplicable_redeemables is None


def test_stacked_redemption_parses_in_sdk(client):
    r = sdk_parse(client, stacked_redemption(), "RedemptionsRedeemResponseBody")
    assert isinstance(r, v.RedemptionsRedeemResponseBody)
    p = r.parent_redemption
    assert (p.id, p.object, p.result, p.status) == (
        "r_parent",
        "redemption",
        "SUCCESS",
        "SUCCEEDED",
    )
    assert p.related_object_type == "redemption" and p.var_date == T0
    assert p.channel.channel_type == "API" and p.customer.object == "customer"
    c1, c2 = r.redemptions
    assert c1.redemption == c2.redemption == "r_parent"
    assert c1.voucher.code == "SAVE10" and c1.voucher.type == "DISCOUNT_VOUCHER"
    assert c1.voucher.discount.amount_off == 1000 and c1.session.key == "ssn_1"
    assert c1.voucher.redemption.redeemed_quantity == 8
    assert c2.gift.amount == 2500 and c2.amount == 2500
    assert c2.voucher.gift.balance == 1500 and c2.voucher.gift.effect == "APPLY_TO_ORDER"
    assert r.order.status == "PAID"
    assert r.order.redemptions["r_parent"]["stacked"] == ["r_child1", "r_child2"]
    assert r.inapplicable_redeemables == [] and r.skipped_redeemables == []


def test_promotion_tier_redemption_parses(client):
    red = s.Redemption(
        id="r_9",
        date=T0,
        result="SUCCESS",
        status="SUCCEEDED",
        related_object_type="promotion_tier",
        related_object_id="promo_1",
        channel=s.Channel(channel_type="API"),
        promotion_tier=s.RedemptionPromotionTier(
            id="promo_1",
            name="10% over 100",
            hierarchy=1,
            campaign_id="camp_p",
            campaign=s.PromotionTierCampaignRef(id="camp_p", active=True),
            action=s.PromotionTierAction(discount=s.DiscountOut(type="PERCENT", percent_off=10)),
        ),
    )
    r = sdk_parse(client, s.RedemptionsResponse(redemptions=[red]), "RedemptionsRedeemResponseBody")
    pt = r.redemptions[0].promotion_tier
    assert pt.id == "promo_1" and pt.object == "promotion_tier" and pt.campaign.object == "campaign"
    assert pt.action.discount.percent_off == 10


def test_single_rollback_parses_in_sdk(client):
    r = sdk_parse(
        client, rollback(order=order(status="CANCELED")), "RedemptionsRollbackCreateResponseBody"
    )
    assert isinstance(r, v.RedemptionsRollbackCreateResponseBody)
    assert (r.id, r.object, r.redemption, r.reason) == (
        "rr_1",
        "redemption_rollback",
        "r_child2",
        "refund",
    )
    assert (r.result, r.status) == ("SUCCESS", "SUCCEEDED") and r.var_date == T0
    assert r.gift.amount == 2500 and r.amount == 2500 and r.voucher.code == "GIFT-1"
    assert r.channel.channel_type == "API" and r.order.status == "CANCELED"


def test_failed_rollback_parses(client):
    r = sdk_parse(
        client,
        rollback(result="FAILURE", status="FAILED", failure_code="x"),
        "RedemptionsRollbackCreateResponseBody",
    )
    assert (r.result, r.status, r.failure_code) == ("FAILURE", "FAILED", "x")


def test_stacked_rollback_parses_in_sdk(client):
    o = order(discount=3500, status="CANCELED")
    resp = s.RollbacksResponse(
        rollbacks=[
            rollback("rr_c1", "r_child1", voucher=redemption_voucher(), gift=None, amount=None),
            rollback("rr_c2", "r_child2"),
        ],
        parent_rollback=rollback(
            "rr_p",
            "r_parent",
            voucher=None,
            gift=None,
            amount=None,
            related_object_type="redemption",
            related_object_id="r_parent",
        ),
        order=o,
    )
    r = sdk_parse(client, resp, "RedemptionsRollbacksCreateResponseBody")
    assert isinstance(r, v.RedemptionsRollbacksCreateResponseBody)
    assert [x.id for x in r.rollbacks] == ["rr_c1", "rr_c2"]
    assert [x.redemption for x in r.rollbacks] == ["r_child1", "r_child2"]
    assert r.rollbacks[0].gift is None and r.rollbacks[1].gift.amount == 2500
    assert r.parent_rollback.related_object_type == "redemption"
    assert r.parent_rollback.object == "redemption_rollback" and r.order.status == "CANCELED"


def test_qualifications_answer_parses_in_sdk(client):
    data = [
        s.QualifiedRedeemable(
            id="promo_1",
            object="promotion_tier",
            created_at=T0,
            banner="10% off",
            result=s.QualificationResult(discount=s.DiscountOut(type="PERCENT", percent_off=10)),
            order=order(discount=2000),
            campaign_id="camp_p",
            name="10% off",
            applicable_to=s.TargetList.of([]),
            inapplicable_to=s.TargetList.of([]),
        ),
        s.QualifiedRedeemable(
            id="GIFT-1",
            object="voucher",
            created_at=T0 - dt.timedelta(days=1),
            result=s.QualificationResult(
                gift=s.GiftResult(credits=4000, balance=4000, locked_credits=0)
            ),
            categories=[s.CategoryOut(id="cat_g", hierarchy=0, stacking_rules_type="EXCLUSIVE")],
        ),
        s.QualifiedRedeemable(id="camp_x", object="campaign", created_at=T0),
        s.QualifiedRedeemable(id="stack_1", object="promotion_stack", created_at=T0),
    ]
    resp = s.QualificationsResponse(
        redeemables=s.QualifiedList(
            data=data, total=4, has_more=True, more_starting_after=T0 - dt.timedelta(days=1)
        ),
        tracking_id="track_x",
        order=order(),
        stacking_rules=stacking_rules(),
    )
    r = sdk_parse(client, resp, "QualificationsCheckEligibilityResponseBody")
    assert isinstance(r, v.QualificationsCheckEligibilityResponseBody)
    q = r.redeemables
    assert (q.object, q.data_ref, q.total, q.has_more) == ("list", "data", 4, True)
    assert q.more_starting_after == T0 - dt.timedelta(days=1)
    assert [x.object for x in q.data] == [
        "promotion_tier",
        "voucher",
        "campaign",
        "promotion_stack",
    ]
    assert q.data[0].result.discount.percent_off == 10 and q.data[0].order.total_amount == 18000
    assert q.data[1].result.gift.credits == 4000
    assert q.data[1].categories[0].stacking_rules_type == "EXCLUSIVE"
    assert r.tracking_id == "track_x" and r.stacking_rules.applicable_redeemables_limit == 5


def test_last_page_writes_null_cursor(client):
    resp = s.QualificationsResponse(redeemables=s.QualifiedList(data=[], total=0, has_more=False))
    raw = json.loads(s.encode(resp))
    assert raw["redeemables"] == {
        "data": [],
        "total": 0,
        "has_more": False,
        "more_starting_after": None,
        "object": "list",
        "data_ref": "data",
    }
    r = sdk_parse(client, resp, "QualificationsCheckEligibilityResponseBody")
    assert r.redeemables.has_more is False and r.redeemables.more_starting_after is None


def test_error_body_parses_in_sdk_error_model():
    err = s.ErrorBody(
        code=404,
        key="not_found",
        message="Resource not found",
        details="Cannot find redemption with id r_x",
        request_id="req_9",
        resource_id="r_x",
        resource_type="redemption",
    )
    e = v.Error.from_json(s.encode(err).decode())
    assert (e.code, e.key, e.resource_type) == (404, "not_found", "redemption")
    assert e.details == "Cannot find redemption with id r_x" and e.request_id == "req_9"


def test_error_status_raises_sdk_exceptions(client):
    """A 4xx is never parsed into a model: the SDK raises with .status and the raw .body."""

    class Resp:  # the little of urllib3's response that the SDK reads
        def __init__(self, status, body):
            self.status, self.reason, self.data = status, "x", body

        def getheader(self, name, default=None):
            return "application/json" if name.lower() == "content-type" else default

        def getheaders(self):
            return {"Content-Type": "application/json"}

    body = s.encode(s.ErrorBody(code=400, key="already_rolled_back", message="m"))
    for status, exc in ((400, vexc.BadRequestException), (404, vexc.NotFoundException)):
        with pytest.raises(exc) as info:
            client.response_deserialize(
                Resp(status, body), {"2XX": "RedemptionsRollbackCreateResponseBody"}
            )
        assert info.value.status == status
        assert json.loads(info.value.body)["key"] == "already_rolled_back"


# --------------------------------------------------------------------------- the SDK is strict


def test_sdk_requires_stacking_rules(client):
    raw = json.loads(s.encode(validation_partial()))
    del raw["stacking_rules"]
    with pytest.raises(ValidationError):
        client.deserialize(json.dumps(raw), "ValidationsValidateResponseBody", "application/json")
    fields = {f.name: f for f in msgspec.structs.fields(s.ValidationsResponse)}
    assert fields["stacking_rules"].required


@pytest.mark.parametrize(
    "path, value",
    [
        (("redeemables", 0, "object"), "promotion_stack"),  # validation answers: voucher|tier only
        (("redeemables", 0, "status"), "VALID"),
        (("skipped_redeemables", 0, "result", "details", "key"), "some_other_reason"),
        (("inapplicable_redeemables", 0, "result", "error", "details"), {"field": "x"}),
        (("order", "amount"), 20000.0),  # StrictInt
        (("redeemables", 1, "applicable_to", "data", 0, "object"), "category"),
        (("stacking_rules", "applicable_exclusive_redeemables_limit"), 6),
    ],
)
def test_sdk_rejects_what_our_types_forbid(client, path, value):
    raw = json.loads(s.encode(validation_partial()))
    node = raw
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    with pytest.raises(ValidationError):
        client.deserialize(json.dumps(raw), "ValidationsValidateResponseBody", "application/json")


def test_exclusive_limits_capped_for_the_sdk(client):
    rules = CoreStackingRules(
        applicable_exclusive_redeemables_limit=9,
        applicable_exclusive_redeemables_per_category_limit=7,
    )
    out = s.StackingRulesOut.from_core(rules)
    assert out.applicable_exclusive_redeemables_limit == 5
    assert out.applicable_exclusive_redeemables_per_category_limit == 5
    resp = s.ValidationsResponse(valid=True, stacking_rules=out)
    assert sdk_parse(client, resp, "ValidationsValidateResponseBody").stacking_rules is not None


# --------------------------------------------------------------------------- enums match the SDK


def _literal_values(tp) -> set:
    out: set = set()
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return set(typing.get_args(tp))
    for a in typing.get_args(tp):
        out |= _literal_values(a)
    return out


def ours(cls, field) -> set:
    if field == "object" and cls.__struct_config__.tag_field == "object":
        return {cls.__struct_config__.tag}
    return _literal_values(typing.get_type_hints(cls, include_extras=True)[field])


def sdk_enum(model, field) -> set:
    ann = model.model_fields[field].annotation
    if isinstance(ann, type) and issubclass(ann, __import__("enum").Enum):
        return {e.value for e in ann}
    bogus = ["__bogus__"] if "List" in str(ann) or "list" in str(ann) else "__bogus__"
    with pytest.raises(ValidationError) as info:
        model.model_validate({field: bogus})
    m = re.search(r"must be one of (?:enum values )?\(([^)]*)\)", str(info.value))
    assert m, f"{model.__name__}.{field} has no enum check: {info.value}"
    return set(re.findall(r"'([^']*)'", m.group(1)))


ENUM_PAIRS = [
    (s.ValidationRedeemable, "status", v.ValidationsValidateResponseBodyRedeemablesItem, "status"),
    (s.ValidationRedeemable, "object", v.ValidationsValidateResponseBodyRedeemablesItem, "object"),
    (s.SkippedRedeemable, "status", v.ValidationsRedeemableSkipped, "status"),
    (s.SkippedRedeemable, "object", v.ValidationsRedeemableSkipped, "object"),
    (s.InapplicableRedeemable, "status", v.ValidationsRedeemableInapplicable, "status"),
    (s.InapplicableRedeemable, "object", v.ValidationsRedeemableInapplicable, "object"),
    (s.SkipDetails, "key", v.ValidationsRedeemableSkippedResultDetails, "key"),
    (s.OrderOut, "status", v.ValidationsValidateResponseBodyOrder, "status"),
    (s.OrderOut, "status", v.RedemptionOrder, "status"),
    (s.OrderOut, "status", v.RedemptionsRollbacksCreateResponseBodyOrder, "status"),
    (s.OrderOut, "object", v.ValidationsValidateResponseBodyOrder, "object"),
    (s.OrderItemOut, "object", v.OrderCalculatedItem, "object"),
    (s.OrderItemOut, "related_object", v.OrderCalculatedItem, "related_object"),
    (s.CustomerRef, "object", v.CustomerId, "object"),
    (s.SimpleCustomer, "object", v.SimpleCustomer, "object"),
    (s.CategoryOut, "object", v.CategoryWithStackingRulesType, "object"),
    (s.CategoryOut, "stacking_rules_type", v.CategoryWithStackingRulesType, "stacking_rules_type"),
    (s.DiscountOut, "type", v.ValidationsValidateResponseBodyRedeemablesItemResultDiscount, "type"),
    (
        s.DiscountOut,
        "effect",
        v.ValidationsValidateResponseBodyRedeemablesItemResultDiscount,
        "effect",
    ),
    (s.DiscountOut, "type", v.Discount, "type"),
    (s.DiscountOut, "effect", v.Discount, "effect"),
    (s.DiscountUnit, "effect", v.DiscountUnitMultipleOneUnit, "effect"),
    (s.TargetOut, "object", v.ApplicableTo, "object"),
    (s.TargetOut, "effect", v.ApplicableTo, "effect"),
    (s.TargetOut, "target", v.ApplicableTo, "target"),
    (s.TargetOut, "object", v.InapplicableTo, "object"),
    (s.TargetList, "object", v.ApplicableToResultList, "object"),
    (s.TargetList, "data_ref", v.ApplicableToResultList, "data_ref"),
    (s.Session, "type", v.Session, "type"),
    (s.Session, "ttl_unit", v.Session, "ttl_unit"),
    (
        s.StackingRulesOut,
        "redeemables_application_mode",
        v.StackingRules,
        "redeemables_application_mode",
    ),
    (s.StackingRulesOut, "redeemables_sorting_rule", v.StackingRules, "redeemables_sorting_rule"),
    (
        s.StackingRulesOut,
        "redeemables_no_effect_rule",
        v.StackingRules,
        "redeemables_no_effect_rule",
    ),
    (
        s.StackingRulesOut,
        "redeemables_products_application_mode",
        v.StackingRules,
        "redeemables_products_application_mode",
    ),
    (
        s.StackingRulesOut,
        "redeemables_rollback_order_mode",
        v.StackingRules,
        "redeemables_rollback_order_mode",
    ),
    (s.Redemption, "object", v.Redemption, "object"),
    (s.Redemption, "result", v.Redemption, "result"),
    (s.Redemption, "status", v.Redemption, "status"),
    (s.Redemption, "related_object_type", v.Redemption, "related_object_type"),
    (s.RedemptionRollback, "object", v.RedemptionsRollbackCreateResponseBody, "object"),
    (s.RedemptionRollback, "result", v.RedemptionsRollbackCreateResponseBody, "result"),
    (s.RedemptionRollback, "status", v.RedemptionsRollbackCreateResponseBody, "status"),
    (
        s.RedemptionRollback,
        "related_object_type",
        v.RedemptionsRollbackCreateResponseBody,
        "related_object_type",
    ),
    (s.RedemptionRollback, "status", v.RedemptionRollback, "status"),
    (s.Channel, "channel_type", v.RedemptionsRollbackCreateResponseBodyChannel, "channel_type"),
    (s.Channel, "channel_type", v.RedemptionRollbackChannel, "channel_type"),
    (s.RedemptionVoucher, "type", v.RedemptionVoucher, "type"),
    (s.RedemptionVoucher, "type", v.Voucher, "type"),
    (s.VoucherGiftOut, "effect", v.RedemptionVoucherGift, "effect"),
    (s.VoucherGiftOut, "effect", v.VoucherGift, "effect"),
    (s.QualifiedRedeemable, "object", v.QualificationsRedeemable, "object"),
    (s.QualifiedList, "object", v.QualificationsRedeemables, "object"),
    (s.QualifiedList, "data_ref", v.QualificationsRedeemables, "data_ref"),
    # requests: accept exactly what the SDK can send
    (s.QualificationsRequest, "scenario", v.QualificationsCheckEligibilityRequestBody, "scenario"),
    (s.QualificationsOptions, "sorting_rule", v.QualificationsOption, "sorting_rule"),
    (s.QualificationsOptions, "expand", v.QualificationsOption, "expand"),
    (s.QualificationsSession, "type", v.QualificationsCheckEligibilityRequestBodySession, "type"),
    (s.ValidationsOptions, "expand", v.ValidationsValidateRequestBodyOptions, "expand"),
    (s.ValidationsOptions, "expand", v.RedemptionsRedeemRequestBodyOptions, "expand"),
]


@pytest.mark.parametrize(
    "ours_cls, ours_f, sdk_cls, sdk_f",
    ENUM_PAIRS,
    ids=[f"{a.__name__}.{b}~{c.__name__}" for a, b, c, _ in ENUM_PAIRS],
)
def test_enum_matches_sdk(ours_cls, ours_f, sdk_cls, sdk_f):
    assert ours(ours_cls, ours_f) == sdk_enum(sdk_cls, sdk_f)


def test_channel_type_is_a_subset_of_redemption_channel():
    assert ours(s.Channel, "channel_type") < sdk_enum(v.RedemptionChannel, "channel_type")


# --------------------------------------------------------------------------- requests


def sent_by_sdk(client, model) -> bytes:
    """The body bytes the SDK puts on the wire for this request model."""
    return json.dumps(client.sanitize_for_serialization(model)).encode()


def test_validations_request_from_sdk(client):
    body = v.ValidationsValidateRequestBody.from_dict(
        {
            "redeemables": [
                {"object": "voucher", "id": "SAVE10"},
                {"object": "voucher", "id": "GIFT-1", "gift": {"credits": 2000}},
                {"object": "voucher", "id": "LOYAL-1", "reward": {"id": "rew_1", "points": 200}},
                {"object": "promotion_tier", "id": "promo_1"},
            ],
            "customer": {
                "source_id": "cust-1",
                "email": "a@b.c",
                "birthdate": "1990-01-02",
                "address": {"city": "Oslo"},
                "metadata": {"tier": "gold"},
            },
            "order": {
                "source_id": "ord-1",
                "amount": 20000,
                "status": "CREATED",
                "items": [
                    {
                        "product_id": "prod_shoe",
                        "quantity": 2,
                        "price": 5000,
                        "amount": 10000,
                        "related_object": "product",
                        "product": {"name": "Shoe", "price": 5000},
                    },
                    {"sku_id": "sku_sock_red", "quantity": 1, "price": 10000},
                ],
            },
            "session": {"type": "LOCK", "key": "ssn_1", "ttl": 15, "ttl_unit": "MINUTES"},
            "tracking_id": "track_x",
            "metadata": {"pos": 7},
            "options": {"expand": ["order", "redeemable"]},
        }
    )
    raw = sent_by_sdk(client, body)
    assert b"null" in raw  # the SDK sends nulls for unset fields: this is what we must accept
    req = s.decode_validations(raw)
    assert [(r.object, r.id) for r in req.redeemables] == [
        ("voucher", "SAVE10"),
        ("voucher", "GIFT-1"),
        ("voucher", "LOYAL-1"),
        ("promotion_tier", "promo_1"),
    ]
    assert req.redeemables[0].gift is None and req.redeemables[1].gift.credits == 2000
    assert req.redeemables[2].reward.id == "rew_1" and req.redeemables[2].reward.points == 200
    assert req.customer.source_id == "cust-1" and req.customer.key == "cust-1"
    assert req.customer.birthdate == "1990-01-02" and req.customer.address.city == "Oslo"
    assert req.customer.metadata == {"tier": "gold"} and req.customer.name is None
    assert req.order.amount == 20000 and req.order.status == "CREATED"
    assert req.order.metadata is None
    i0, i1 = req.order.items
    assert (i0.product_id, i0.quantity, i0.price, i0.amount) == ("prod_shoe", 2, 5000, 10000)
    assert i0.product.name == "Shoe" and i1.sku_id == "sku_sock_red" and i1.amount is None
    assert (
        req.session.type == "LOCK" and req.session.ttl == 15 and req.session.ttl_unit == "MINUTES"
    )
    assert req.tracking_id == "track_x" and req.metadata == {"pos": 7}
    assert req.options.expand == ["order", "redeemable"] and req.options.language is None


def test_redemptions_request_from_sdk(client):
    body = v.RedemptionsRedeemRequestBody.from_dict(
        {
            "redeemables": [{"object": "voucher", "id": "SAVE10"}],
            "order": {"amount": 500},
            "customer": {"id": "cust_1"},
        }
    )
    req = s.decode_redemptions(sent_by_sdk(client, body))
    assert isinstance(req, s.RedemptionsRequest)
    assert req.redeemables[0].id == "SAVE10" and req.order.amount == 500
    assert req.customer.id == "cust_1" and req.session is None and req.options is None


def test_minimal_sdk_body_without_nulls(client):
    body = v.ValidationsValidateRequestBody(
        redeemables=[v.ValidationsValidateRequestBodyRedeemablesItem(object="voucher", id="X")]
    )
    raw = sent_by_sdk(client, body)
    assert raw == b'{"redeemables": [{"object": "voucher", "id": "X"}]}'
    assert s.decode_validations(raw).redeemables[0].id == "X"


def test_qualifications_request_from_sdk(client):
    body = v.QualificationsCheckEligibilityRequestBody.from_dict(
        {
            "customer": {"source_id": "cust-1"},
            "order": {"amount": 20000, "items": [{"product_id": "prod_shoe", "quantity": 1}]},
            "scenario": "PRODUCTS_DISCOUNT",
            "options": {
                "limit": 10,
                "sorting_rule": "BEST_DEAL",
                "starting_after": "2025-03-01T12:00:00Z",
                "expand": ["redeemable"],
            },
            "tracking_id": "track_x",
            "metadata": {"k": "v"},
        }
    )
    raw = sent_by_sdk(client, body)
    assert b'"filters": null' in raw and b'"session": null' in raw
    req = s.decode_qualifications(raw)
    assert req.customer.source_id == "cust-1" and req.order.items[0].product_id == "prod_shoe"
    assert req.scenario == "PRODUCTS_DISCOUNT" and req.tracking_id == "track_x"
    assert req.options.limit == 10 and req.options.effective_limit == 10
    assert req.options.sorting_rule == "BEST_DEAL" and req.options.expand == ["redeemable"]
    assert req.options.starting_after == T0 and req.options.starting_after.tzinfo is not None
    assert req.options.filters is None and req.session is None and req.metadata == {"k": "v"}


def test_qualifications_defaults_and_limits():
    req = s.decode_qualifications(b"{}")
    assert req.options is None and req.scenario is None
    assert s.decode_qualifications(b'{"options": {}}').options.effective_limit == 5
    assert s.decode_qualifications(b'{"options": {"limit": 50}}').options.limit == 50
    for bad in (
        b'{"options": {"limit": 51}}',
        b'{"options": {"limit": 0}}',
        b'{"options": {"sorting_rule": "CHEAPEST"}}',
        b'{"scenario": "NOPE"}',
    ):
        with pytest.raises(msgspec.ValidationError):
            s.decode_qualifications(bad)


def test_rollback_body_from_sdk(client):
    body = v.RedemptionsRollbackCreateRequestBody.from_dict(
        {
            "reason": "damaged",
            "tracking_id": "track_x",
            "customer": {"source_id": "cust-1"},
            "order": {"source_id": "ord-1"},
            "metadata": {"ticket": 42},
        }
    )
    req = s.decode_rollback(sent_by_sdk(client, body))
    assert req.reason == "damaged" and req.tracking_id == "track_x"
    assert req.customer.source_id == "cust-1" and req.order.source_id == "ord-1"
    assert req.metadata == {"ticket": 42}
    body2 = v.RedemptionsRollbacksCreateRequestBody(reason="b")
    assert s.decode_rollback(sent_by_sdk(client, body2)).reason == "b"


def test_rollback_without_body_uses_query():
    req = s.decode_rollback(b"", reason="refund", tracking_id="t1")
    assert (req.reason, req.tracking_id, req.customer) == ("refund", "t1", None)
    assert s.decode_rollback(b"  ").reason is None
    assert s.decode_rollback(b'{"reason": "body"}', reason="query").reason == "query"
    assert s.decode_rollback(b'{"reason": "body"}').reason == "body"


def test_bad_request_bodies_fail_to_decode():
    for bad in (
        b'{"redeemables": null}',
        b'{"redeemables": []}',
        b"{}",
        b'{"redeemables": [{"object": "campaign", "id": "x"}]}',
        b'{"redeemables": [{"object": "voucher", "id": "X"}], "session": {"type": "HOLD"}}',
        b'{"redeemables": [{"object": "voucher", "id": "X"}], "options": {"expand": ["all"]}}',
        b"not json",
    ):
        with pytest.raises((msgspec.ValidationError, msgspec.DecodeError)):
            s.decode_validations(bad)
    too_many = json.dumps(
        {"redeemables": [{"object": "voucher", "id": f"C{i}"} for i in range(31)]}
    )
    with pytest.raises(msgspec.ValidationError):
        s.decode_validations(too_many.encode())


def test_unknown_fields_ignored():
    req = s.decode_validations(
        b'{"redeemables": [{"object": "voucher", "id": "X", "extra": 1}], "whatever": {"a": 1},'
        b' "customer": {"id": "c", "description": "d", "birthday": null}}'
    )
    assert req.redeemables[0].id == "X" and req.customer.id == "c"


def test_redeem_answer_spliced_from_encoded_redemptions_is_byte_identical():
    # A redeem encodes each redemption once (its record) and splices those bytes into the
    # answer: the answer must be exactly what encoding the whole response gives.
    import datetime as _dt

    from gateway import schemas as s

    assert s._RedemptionsResponseWire.__struct_fields__ == s.RedemptionsResponse.__struct_fields__
    when = _dt.datetime(2026, 11, 24, 12, 0, tzinfo=_dt.UTC)
    order = s.OrderOut(amount=10_000, discount_amount=500, total_amount=9_500, status="PAID")

    def red(rid: str, **kw) -> s.Redemption:
        return s.Redemption(id=rid, date=when, result="SUCCESS", status="SUCCEEDED", order=order, **kw)

    children = [red("r_c1", redemption="r_p", amount=300), red("r_c2", redemption="r_p", metadata={"a": [1, "é"]})]
    parent = red("r_p", related_object_type="redemption", related_object_id="r_p")
    for extra in ({}, {"skipped_redeemables": [s.SkippedRedeemable(id="X", object="voucher", status="SKIPPED")]}):
        resp = s.RedemptionsResponse(redemptions=children, parent_redemption=parent, order=order, **extra)
        spliced = s.encode_redeemed(resp, s.encode(parent), [s.encode(c) for c in children])
        assert spliced == s.encode(resp)
