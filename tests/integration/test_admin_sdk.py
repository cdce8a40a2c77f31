"""The official Voucherify SDK (voucherify 6.1.1) against the real admin app and a real Redis.

Campaigns, vouchers, promotion tiers, validation rules and assignments, customers, products and
SKUs: each call goes through the SDK (which checks the answers' shapes and enums strictly).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import voucherify as v
from voucherify.exceptions import ApiException

from admin.testing import AdminServer


@pytest.fixture
def srv(redis_url: str, key_prefix: str) -> Iterator[AdminServer]:
    with AdminServer(redis_url, key_prefix) as s:
        yield s


@pytest.fixture
def client(srv: AdminServer) -> Iterator[v.ApiClient]:
    with srv.sdk() as c:
        yield c


def _coupon_campaign(api: v.CampaignsApi, name: str = "Summer", **extra: object) -> object:
    body = {
        "name": name,
        "campaign_type": "DISCOUNT_COUPONS",
        "type": "AUTO_UPDATE",
        "voucher": {
            "type": "DISCOUNT_VOUCHER",
            "discount": {"type": "PERCENT", "percent_off": 10, "amount_limit": 5000},
            "redemption": {"quantity": 3},
            "code_config": {
                "length": 8,
                "prefix": "S-",
                "charset": "ABCDEFGHJKLMNPQRSTUVWXYZ23456789",
            },
        },
        "metadata": {"region": "EU"},
        **extra,
    }
    return api.create_campaign(v.CampaignsCreateRequestBody.from_dict(body))


def test_campaign_crud_through_the_sdk(srv: AdminServer, client: v.ApiClient) -> None:
    api = v.CampaignsApi(client)
    camp = _coupon_campaign(
        api, start_date="2026-01-01T00:00:00Z", expiration_date="2027-01-01T00:00:00Z"
    )
    assert camp.id.startswith("camp_")
    assert camp.campaign_type == "DISCOUNT_COUPONS"
    assert camp.voucher.discount.percent_off == 10
    assert camp.voucher.code_config.prefix == "S-"
    assert camp.metadata == {"region": "EU"}
    assert camp.active is True

    got = api.get_campaign(camp.id)
    assert got.name == "Summer" and got.start_date.year == 2026
    assert api.get_campaign("Summer").id == camp.id  # by name, as Voucherify

    _coupon_campaign(api, name="Winter")
    promo = api.create_campaign(
        v.CampaignsCreateRequestBody.from_dict(
            {
                "name": "Cart promo",
                "campaign_type": "PROMOTION",
                "promotion": {
                    "tiers": [
                        {
                            "name": "5 off 50",
                            "action": {"discount": {"type": "AMOUNT", "amount_off": 500}},
                        },
                    ]
                },
            }
        )
    )
    assert promo.promotion.tiers[0].id.startswith("promo_")

    page = api.list_campaigns(limit=2, page=1)
    assert page.total == 3 and len(page.campaigns) == 2
    assert page.campaigns[0].name == "Cart promo"  # newest first
    only = api.list_campaigns(campaign_type=v.ParameterCampaignType.PROMOTION)
    assert [c.name for c in only.campaigns] == ["Cart promo"]
    asc = api.list_campaigns(order=v.ParameterOrderListCampaigns.CREATED_AT)
    assert [c.name for c in asc.campaigns] == ["Summer", "Winter", "Cart promo"]

    upd = api.update_campaign(
        camp.id,
        v.CampaignsUpdateRequestBody.from_dict(
            {
                "description": "ten percent",
                "metadata": {"team": "growth"},
                "discount": {"type": "AMOUNT", "amount_off": 700},
            }
        ),
    )
    assert upd.description == "ten percent"
    assert upd.metadata == {"region": "EU", "team": "growth"}
    assert upd.voucher.discount.type == "AMOUNT" and upd.voucher.discount.amount_off == 700

    api.disable_campaign(camp.id)
    assert api.get_campaign(camp.id).active is False
    api.enable_campaign(camp.id)
    assert api.get_campaign(camp.id).active is True

    deleted = api.delete_campaign(camp.id)
    assert deleted.async_action_id
    with pytest.raises(ApiException) as err:
        api.get_campaign(camp.id)
    assert err.value.status == 404


def test_vouchers_through_the_sdk(srv: AdminServer, client: v.ApiClient) -> None:
    capi, vapi = v.CampaignsApi(client), v.VouchersApi(client)
    camp = _coupon_campaign(capi)
    created = vapi.create_voucher(
        "SUMMER-VIP",
        v.VouchersCreateWithSpecificCodeRequestBody.from_dict(
            {"campaign_id": camp.id, "metadata": {"tier": "vip"}, "redemption": {"quantity": 10}}
        ),
    )
    assert created.code == "SUMMER-VIP" and created.campaign_id == camp.id
    assert created.discount.percent_off == 10  # from the campaign template
    assert created.redemption.quantity == 10 and created.redemption.redeemed_quantity == 0

    standalone = vapi.create_voucher(
        "GIFT50",
        v.VouchersCreateWithSpecificCodeRequestBody.from_dict(
            {"type": "GIFT_VOUCHER", "gift": {"amount": 5000}}
        ),
    )
    assert standalone.type == "GIFT_VOUCHER" and standalone.gift.balance == 5000

    with pytest.raises(ApiException) as err:
        vapi.create_voucher(
            "GIFT50", v.VouchersCreateWithSpecificCodeRequestBody.from_dict({"gift": {"amount": 1}})
        )
    assert err.value.status == 409

    got = vapi.get_voucher("SUMMER-VIP")
    assert got.metadata == {"tier": "vip"}
    upd = vapi.update_voucher(
        "SUMMER-VIP", v.VouchersUpdateRequestBody.from_dict({"metadata": {"note": "x"}})
    )
    assert upd.metadata == {"tier": "vip", "note": "x"}
    assert vapi.disable_voucher("SUMMER-VIP").active is False
    assert vapi.enable_voucher("SUMMER-VIP").active is True

    # a code added to the campaign with the campaign API, and one generated from its config
    added = capi.add_voucher_with_specific_code_to_campaign(
        camp.id,
        "SUMMER-ADDED",
        v.CampaignsVouchersCreateRequestBody.from_dict({"metadata": {"k": 1}}),
    )
    assert added.code == "SUMMER-ADDED"
    gen = capi.add_vouchers_to_campaign(
        camp.id,
        campaigns_vouchers_create_in_bulk_request_body=v.CampaignsVouchersCreateInBulkRequestBody.from_dict(
            {}
        ),
    )
    assert gen.code.startswith("S-") and len(gen.code) == 10

    listed = vapi.list_vouchers(campaign_id=camp.id, limit=10)
    assert listed.total == 3
    assert {x.code for x in listed.vouchers} == {"SUMMER-VIP", "SUMMER-ADDED", gen.code}
    # a generated (bulk) code changes state too
    assert vapi.disable_voucher(gen.code).active is False

    vapi.delete_voucher("SUMMER-ADDED")
    vapi.delete_voucher(gen.code)
    with pytest.raises(ApiException) as err:
        vapi.get_voucher(gen.code)
    assert err.value.status == 404
    assert vapi.list_vouchers(campaign_id=camp.id).total == 1


def test_promotion_tiers_through_the_sdk(srv: AdminServer, client: v.ApiClient) -> None:
    capi, papi = v.CampaignsApi(client), v.PromotionsApi(client)
    promo = capi.create_campaign(
        v.CampaignsCreateRequestBody.from_dict(
            {
                "name": "Tiered",
                "campaign_type": "PROMOTION",
                "promotion": {
                    "tiers": [
                        {
                            "name": "t1",
                            "action": {"discount": {"type": "AMOUNT", "amount_off": 100}},
                        }
                    ]
                },
            }
        )
    )
    t2 = papi.add_promotion_tier_to_campaign(
        promo.id,
        v.PromotionsTiersCreateRequestBody.from_dict(
            {
                "name": "t2",
                "banner": "10% off",
                "action": {"discount": {"type": "PERCENT", "percent_off": 10}},
                "hierarchy": 2,
            }
        ),
    )
    assert t2.id.startswith("promo_") and t2.campaign_id == promo.id
    tiers = papi.list_promotion_tiers_from_campaign(promo.id)
    assert [t.name for t in tiers.tiers] == ["t1", "t2"]
    got = papi.get_promotion_tier(t2.id)
    assert got.banner == "10% off" and got.action.discount.percent_off == 10
    upd = papi.update_promotion_tier(
        t2.id,
        v.PromotionsTiersUpdateRequestBody.from_dict(
            {"banner": "now 15%", "action": {"discount": {"type": "PERCENT", "percent_off": 15}}}
        ),
    )
    assert upd.banner == "now 15%" and upd.action.discount.percent_off == 15
    assert papi.disable_promotion_tier(t2.id).active is False
    assert papi.enable_promotion_tier(t2.id).active is True
    assert papi.list_promotion_tiers().total == 2
    papi.delete_promotion_tier(t2.id)
    assert [t.name for t in papi.list_promotion_tiers_from_campaign(promo.id).tiers] == ["t1"]


def test_validation_rules_and_assignments_through_the_sdk(
    srv: AdminServer, client: v.ApiClient
) -> None:
    capi, rapi = v.CampaignsApi(client), v.ValidationRulesApi(client)
    camp = _coupon_campaign(capi)
    rule = rapi.create_validation_rules(
        v.ValidationRulesCreateRequestBody.from_dict(
            {
                "name": "Orders over 100",
                "type": "basic",
                "rules": {
                    "1": {"name": "order.amount", "conditions": {"$more_than": [10000]}},
                    "logic": "1",
                },
                "error": {"message": "Spend more than 100"},
            }
        )
    )
    assert rule.id.startswith("val_") and rule.rules["logic"] == "1"
    asg = rapi.create_validation_rule_assignment(
        rule.id,
        validation_rules_assignments_create_request_body=v.ValidationRulesAssignmentsCreateRequestBody.from_dict(
            {"related_object_type": "campaign", "related_object_id": camp.id}
        ),
    )
    assert asg.rule_id == rule.id and asg.related_object_id == camp.id
    assert capi.get_campaign(camp.id).validation_rules_assignments.data[0].rule_id == rule.id
    lst = rapi.list_validation_rule_assignments(rule.id)
    assert lst.total == 1 and lst.data[0].id == asg.id
    assert rapi.get_validation_rule(rule.id).assignments_count == 1
    upd = rapi.update_validation_rule(
        rule.id, v.ValidationRulesUpdateRequestBody.from_dict({"name": "Orders over 100 EUR"})
    )
    assert upd.name == "Orders over 100 EUR"
    assert rapi.list_validation_rules().total == 1

    # in use: refused with a 409 that names where
    with pytest.raises(ApiException) as err:
        rapi.delete_validation_rules(rule.id)
    assert err.value.status == 409 and camp.id in err.value.body
    rapi.delete_validation_rule_assignment(rule.id, asg.id)
    assert capi.get_campaign(camp.id).validation_rules_assignments.total == 0
    rapi.delete_validation_rules(rule.id)
    with pytest.raises(ApiException) as err:
        rapi.get_validation_rule(rule.id)
    assert err.value.status == 404


def test_customers_and_segments_through_the_sdk(srv: AdminServer, client: v.ApiClient) -> None:
    api = v.CustomersApi(client)
    c = api.create_customer(
        v.CustomersCreateRequestBody.from_dict(
            {"source_id": "shop-42", "name": "Ada", "metadata": {"tier": "gold"}}
        )
    )
    assert c.id.startswith("cust_") and c.source_id == "shop-42"
    # upsert by source_id: same customer, merged metadata
    again = api.create_customer(
        v.CustomersCreateRequestBody.from_dict(
            {"source_id": "shop-42", "email": "ada@example.com", "metadata": {"vip": True}}
        )
    )
    assert (
        again.id == c.id
        and again.email == "ada@example.com"
        and again.metadata == {"tier": "gold", "vip": True}
    )
    assert api.get_customer("shop-42").id == c.id
    upd = api.update_customer(c.id, v.CustomersUpdateRequestBody.from_dict({"name": "Ada L."}))
    assert upd.name == "Ada L."
    api.create_customer(v.CustomersCreateRequestBody.from_dict({"source_id": "shop-43"}))
    assert api.list_customers(limit=10).total == 2

    seg = srv.request(
        "POST", "/v1/segments", json={"name": "VIPs", "type": "static", "customers": ["shop-42"]}
    )
    assert seg.status_code == 200, seg.text
    segs = api.list_customer_segments(c.id)
    assert [s.name for s in segs.data] == ["VIPs"]
    api.delete_customer("shop-43")
    assert api.list_customers().total == 1


def test_products_and_skus_through_the_sdk(srv: AdminServer, client: v.ApiClient) -> None:
    api = v.ProductsApi(client)
    p = api.create_product(
        v.ProductsCreateRequestBody.from_dict(
            {"source_id": "tshirt", "name": "T-shirt", "price": 2000, "metadata": {"color": "red"}}
        )
    )
    assert p.id.startswith("prod_") and p.price == 2000
    sku = api.create_sku(
        p.id,
        v.ProductsSkusCreateRequestBody.from_dict(
            {"source_id": "tshirt-L", "price": 2200, "metadata": {"size": "L"}}
        ),
    )
    assert sku.product_id == p.id and sku.price == 2200
    assert api.get_sku("tshirt-L").id == sku.id
    assert api.get_product("tshirt").skus.total == 1
    assert api.list_skus_in_product(p.id).total == 1
    upd = api.update_product(
        p.id,
        v.ProductsUpdateRequestBody.from_dict({"price": 2500, "metadata": {"fabric": "cotton"}}),
    )
    assert upd.price == 2500 and upd.metadata == {"color": "red", "fabric": "cotton"}
    assert api.list_products().total == 1
    api.delete_sku(p.id, sku.id)
    assert api.get_product(p.id).skus.total == 0
    api.delete_product(p.id)
    assert api.list_products().total == 0


def test_async_action_through_the_sdk(srv: AdminServer, client: v.ApiClient) -> None:
    camp = _coupon_campaign(v.CampaignsApi(client), vouchers_count=500)
    aid = srv.request("GET", f"/v1/campaigns/{camp.id}").json()["async_action_id"]
    srv.wait_action(aid)
    a = v.AsyncActionsApi(client).get_async_action(aid)
    assert a.status == "DONE" and a.progress == 100 and a.result["count"] == 500
    assert v.CampaignsApi(client).get_campaign(camp.id).creation_status == "DONE"
    assert v.VouchersApi(client).list_vouchers(campaign_id=camp.id).total == 500
