"""Loyalty definitions through the official Voucherify SDK (voucherify 6.1.1) against the real
admin app and a real Redis: programs, earning rules, tiers, the rewards catalogue and reward
assignments (both route families), the acceptance flow's definition steps (VOUCHERIFY-LOYALTY.md
§15a steps 1, 2, 3, 8, 9, 10, 11, 12, with those exact bodies), and bad input refused with a 4xx
in Voucherify's error shape with nothing written.

Every ``LoyaltiesApi`` method of SDK 6.1.1 warns ``DeprecationWarning`` ("... is deprecated.");
the suite turns warnings into errors, so that one warning is ignored here, by its message.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import voucherify as v
from voucherify.exceptions import ApiException, BadRequestException, NotFoundException

from admin.testing import AdminServer
from store.keys import Keys

pytestmark = pytest.mark.filterwarnings(r"ignore:.* is deprecated\.:DeprecationWarning")

COUPONS = {
    "campaign_type": "DISCOUNT_COUPONS",
    "type": "AUTO_UPDATE",
    "voucher": {
        "type": "DISCOUNT_VOUCHER",
        "discount": {"type": "AMOUNT", "amount_off": 500, "effect": "APPLY_TO_ORDER"},
    },
}
RULE_A = {
    "event": "order.paid",
    "source": {"banner": "1 pt / 1.00"},
    "loyalty": {
        "type": "PROPORTIONAL",
        "calculation_type": "ORDER_AMOUNT",
        "order": {"amount": {"every": 100, "points": 1}},
    },
}


@pytest.fixture
def srv(redis_url: str, key_prefix: str) -> Iterator[AdminServer]:
    with AdminServer(redis_url, key_prefix) as s:
        yield s


@pytest.fixture
def client(srv: AdminServer) -> Iterator[v.ApiClient]:
    with srv.sdk() as c:
        yield c


# ------------------------------------------------------------------------------ helpers


def _program(api: v.LoyaltiesApi, name: str = "Club", **extra: Any) -> Any:
    body = {
        "name": name,
        "type": "AUTO_UPDATE",
        "auto_join": True,
        "join_once": True,
        "voucher": {"loyalty_card": {"points": 0}, "code_config": {"pattern": "CLUB-#####"}},
        **extra,
    }
    return api.create_loyalty_program(v.LoyaltiesCreateCampaignRequestBody.from_dict(body))


def _rules(api: v.LoyaltiesApi, campaign_id: str, *items: dict[str, Any]) -> list[Any]:
    body = [v.LoyaltiesEarningRulesCreateRequestBodyItem.from_dict(x) for x in items]
    return api.create_earning_rule(campaign_id, body)


def _reward(api: v.RewardsApi, body: dict[str, Any]) -> Any:
    return api.create_reward(v.RewardsCreateRequestBody.from_dict(body))


def _assign(api: v.RewardsApi, reward_id: str, body: dict[str, Any]) -> Any:
    return api.create_reward_assignment(
        reward_id, v.RewardsAssignmentsCreateRequestBody.from_dict(body)
    )


def _raw(srv: AdminServer, method: str, path: str, body: Any = None) -> Any:
    r = srv.request(method, path, json=body)
    assert r.status_code == 200, (method, path, r.status_code, r.text)
    return r.json()


def _version(srv: AdminServer) -> int:
    return srv.request("GET", "/ready").json()["definitions_version"]


def _error(r: Any, status: int, key: str) -> dict[str, Any]:
    """``r`` (an httpx answer or an SDK exception) is Voucherify's error body of ``status``."""
    code = getattr(r, "status_code", None) or r.status
    text = r.text if hasattr(r, "text") else r.body
    assert code == status, text
    body = json.loads(text)
    assert body["code"] == status and body["key"] == key, body
    assert body["message"] and body["details"] and body["request_id"], body
    return body


# ------------------------------------------------------------------------------ §15a


def test_acceptance_flow_definition_steps(
    srv: AdminServer, client: v.ApiClient, redis_sync: redis.Redis
) -> None:
    """VOUCHERIFY-LOYALTY.md §15a steps 1, 2, 3, 8, 9, 10, 11 and 12, bodies as written there."""
    loyalties, rewards = v.LoyaltiesApi(client), v.RewardsApi(client)
    # 1. a validation rule of an earning rule's context
    val = v.ValidationRulesApi(client).create_validation_rules(
        v.ValidationRulesCreateRequestBody.from_dict({"name":"order >= 150.00","context_type":"earning_rule.order.paid","rules":{"1":{"name":"order.amount","conditions":{"$more_than_or_equal":[15000]},"rules":{}},"logic":"1"}})  # fmt: skip
    )
    assert val.id.startswith("val_")
    # 2. the program: code_config answered, type AUTO_UPDATE or STATIC, made synchronously
    camp = loyalties.create_loyalty_program(
        v.LoyaltiesCreateCampaignRequestBody.from_dict({"name":"Club","type":"AUTO_UPDATE","auto_join":True,"join_once":True,"voucher":{"loyalty_card":{"points":0},"code_config":{"pattern":"CLUB-#####"}}})  # fmt: skip
    )
    assert camp.id.startswith("camp_") and camp.campaign_type == "LOYALTY_PROGRAM"
    assert camp.type == "AUTO_UPDATE" and camp.creation_status == "DONE"
    assert camp.voucher.type == "LOYALTY_CARD" and camp.voucher.code_config.pattern == "CLUB-#####"
    assert camp.voucher.loyalty_card.points == 0
    assert camp.auto_join is True and camp.join_once is True and camp.object == "campaign"
    # 3. two earning rules, answered as a list in order
    a = {"event":"order.paid","source":{"banner":"1 pt / 1.00"},"loyalty":{"type":"PROPORTIONAL","calculation_type":"ORDER_AMOUNT","order":{"amount":{"every":100,"points":1}}}}  # fmt: skip
    b = {**a, "validation_rule_id": val.id, "source": {"banner": "+1 pt / 1.00 from 150.00"}}
    ern_1, ern_2 = loyalties.create_earning_rule(
        camp.id,
        [v.LoyaltiesEarningRulesCreateRequestBodyItem.from_dict(x) for x in (a, b)],
    )
    assert ern_1.id.startswith("ern_") and ern_2.id.startswith("ern_") and ern_1.id != ern_2.id
    assert ern_1.object == "earning_rule" and ern_1.event == "order.paid" and ern_1.active is True
    assert ern_1.source.banner == "1 pt / 1.00" and ern_2.source.banner == "+1 pt / 1.00 from 150.00"
    assert ern_1.source.object_id == camp.id and ern_1.source.object_type == "campaign"
    assert ern_1.loyalty.type == "PROPORTIONAL" and ern_1.loyalty.calculation_type == "ORDER_AMOUNT"
    assert ern_1.loyalty.order.amount.every == 100 and ern_1.loyalty.order.amount.points == 1
    assert ern_1.validation_rule_id is None and ern_2.validation_rule_id == val.id
    assert ern_1.created_at is not None
    # the validation rule now judges ern_2: it is not deleted from under it
    r = srv.request("DELETE", f"/v1/validation-rules/{val.id}")
    assert ern_2.id in _error(r, 409, "resource_in_use")["details"]
    # 8. a product, 9. its reward (MATERIAL, inferred: the SDK drops `type`)
    prod = v.ProductsApi(client).create_product(
        v.ProductsCreateRequestBody.from_dict({"source_id":"mug","name":"Club mug","price":1500})  # fmt: skip
    )
    rew_m = rewards.create_reward(
        v.RewardsCreateRequestBody.from_dict({"name":"Club mug","parameters":{"product":{"id":prod.id}},"stock":10,"attributes":{"description":"Free mug"}})  # fmt: skip
    )
    assert rew_m.id.startswith("rew_") and rew_m.type == "MATERIAL" and rew_m.object == "reward"
    assert rew_m.stock == 10 and rew_m.redeemed == 0
    assert rew_m.parameters.product.id == prod.id and rew_m.attributes.description == "Free mug"
    # 10. a coupon campaign and its reward (CAMPAIGN, with the campaign's type)
    camp_d = v.CampaignsApi(client).create_campaign(
        v.CampaignsCreateRequestBody.from_dict({"name":"5 off reward","campaign_type":"DISCOUNT_COUPONS","type":"AUTO_UPDATE","voucher":{"type":"DISCOUNT_VOUCHER","discount":{"type":"AMOUNT","amount_off":500,"effect":"APPLY_TO_ORDER"}}})  # fmt: skip
    )
    rew_c = rewards.create_reward(
        v.RewardsCreateRequestBody.from_dict({"name":"5.00 coupon","parameters":{"campaign":{"id":camp_d.id}}})  # fmt: skip
    )
    assert rew_c.type == "CAMPAIGN" and rew_c.parameters.campaign.id == camp_d.id
    assert rew_c.parameters.campaign.type == "DISCOUNT_COUPONS" and rew_c.stock is None
    # 11. pay with points: points_ratio sent as a string, answered as an int
    rew_p = rewards.create_reward(
        v.RewardsCreateRequestBody.from_dict({"name":"Pay with points","parameters":{"coin":{"exchange_ratio":1,"points_ratio":"10"}}})  # fmt: skip
    )
    assert rew_p.type == "COIN" and rew_p.parameters.coin.points_ratio == 10
    assert rew_p.parameters.coin.exchange_ratio == 1
    # 12. three assignments: the mug at 250, the coupon at 100, pay with points unpriced
    asg = [
        rewards.create_reward_assignment(rew_m.id, v.RewardsAssignmentsCreateRequestBody.from_dict({"campaign":camp.id,"parameters":{"loyalty":{"points":250}}})),  # fmt: skip
        rewards.create_reward_assignment(rew_c.id, v.RewardsAssignmentsCreateRequestBody.from_dict({"campaign":camp.id,"parameters":{"loyalty":{"points":100}}})),  # fmt: skip
        rewards.create_reward_assignment(rew_p.id, v.RewardsAssignmentsCreateRequestBody.from_dict({"campaign":camp.id})),  # fmt: skip
    ]
    for x, rw in zip(asg, (rew_m, rew_c, rew_p), strict=True):
        assert x.id.startswith("rewa_") and x.object == "reward_assignment"
        assert x.reward_id == rw.id and x.related_object_id == camp.id
        assert x.related_object_type == "campaign"
    assert [x.parameters.loyalty.points for x in asg] == [250, 100, None]

    # what the gateway will read: one definitions document holding all of it
    doc = json.loads(redis_sync.get(Keys(srv.prefix).defs))
    assert {r["id"] for r in doc["earning_rules"]} == {ern_1.id, ern_2.id}
    assert {r["id"] for r in doc["rewards"]} == {rew_m.id, rew_c.id, rew_p.id}
    assert {a["points"] for a in doc["reward_assignments"] if "points" in a} == {250, 100}

    # the program's reward list, and the reward behind an assignment, through the SDK
    listed = loyalties.list_reward_assignments2(camp.id)
    assert listed.total == 3 and {x.id for x in listed.data} == {x.id for x in asg}
    details = loyalties.get_reward_details(camp.id, asg[0].id)
    assert details.id == rew_m.id and details.type == "MATERIAL"

    # the gateway's counter of units redeemed is what `redeemed` says
    redis_sync.set(Keys(srv.prefix).reward_redeemed(rew_m.id), 3)
    got = rewards.get_reward(rew_m.id)
    assert got.redeemed == 3 and got.stock == 10


# ------------------------------------------------------------------------------ programs


def test_program_crud_through_the_sdk(srv: AdminServer, client: v.ApiClient) -> None:
    loyalties, campaigns = v.LoyaltiesApi(client), v.CampaignsApi(client)
    expiry = {"period_type": "MONTH", "period_value": 12, "rounding_type": "END_OF_MONTH"}
    camp = loyalties.create_loyalty_program(
        v.LoyaltiesCreateCampaignRequestBody.from_dict(
            {
                "name": "Stars",
                "type": "STANDALONE",  # answered as one of the types the SDK's model allows
                "description": "earn stars",
                "metadata": {"team": "crm"},
                "voucher": {
                    "loyalty_card": {"points": 5, "expiration_rules": expiry},
                    "code_config": {"length": 6, "prefix": "ST-"},
                },
            }
        )
    )
    assert camp.type in ("AUTO_UPDATE", "STATIC") and camp.creation_status == "DONE"
    assert camp.auto_join is False and camp.join_once is True  # Voucherify's defaults
    assert camp.voucher.loyalty_card.points == 5
    assert camp.voucher.loyalty_card.expiration_rules.period_value == 12
    assert camp.voucher.code_config.prefix == "ST-" and camp.description == "earn stars"

    assert loyalties.get_loyalty_program(camp.id).name == "Stars"
    assert loyalties.get_loyalty_program("Stars").id == camp.id  # by name, as Voucherify
    # a LOYALTY_PROGRAM made through the generic campaigns API is the same kind of program
    other = campaigns.create_campaign(
        v.CampaignsCreateRequestBody.from_dict(
            {
                "name": "Generic club",
                "campaign_type": "LOYALTY_PROGRAM",
                "auto_join": True,
                "voucher": {"type": "LOYALTY_CARD", "loyalty_card": {"points": 0}},
            }
        )
    )
    got = loyalties.get_loyalty_program(other.id)
    assert got.campaign_type == "LOYALTY_PROGRAM" and got.auto_join is True
    assert got.voucher.code_config is not None and got.creation_status == "DONE"
    _rules(loyalties, other.id, RULE_A)  # takes earning rules like any program
    # ... and a coupon campaign is no program here
    coupons = campaigns.create_campaign(
        v.CampaignsCreateRequestBody.from_dict({"name": "Coupons", **COUPONS})
    )
    with pytest.raises(NotFoundException):
        loyalties.get_loyalty_program(coupons.id)

    listed = loyalties.list_loyalty_programs(limit=10)
    assert listed.total == 2 and [c.name for c in listed.campaigns] == ["Generic club", "Stars"]
    asc = loyalties.list_loyalty_programs(order=v.ParameterOrderListCampaigns.CREATED_AT)
    assert [c.name for c in asc.campaigns] == ["Stars", "Generic club"]
    assert loyalties.list_loyalty_programs(limit=1, page=2).campaigns[0].name == "Stars"

    upd = loyalties.update_loyalty_program(
        camp.id,
        v.LoyaltiesUpdateCampaignRequestBody.from_dict(
            {"description": "earn more stars", "metadata": {"tier": "gold"}, "auto_join": True}
        ),
    )
    assert upd.description == "earn more stars" and upd.auto_join is True
    assert upd.metadata == {"team": "crm", "tier": "gold"}
    assert upd.voucher.loyalty_card.expiration_rules.period_value == 12  # kept (nulls: absent)
    assert upd.voucher.loyalty_card.points == 5 and upd.voucher.code_config.prefix == "ST-"
    # the generic campaign read shows the same program
    assert campaigns.get_campaign(camp.id).description == "earn more stars"

    deleted = loyalties.delete_loyalty_program(other.id)
    assert deleted.async_action_id
    with pytest.raises(NotFoundException):
        loyalties.get_loyalty_program(other.id)
    with pytest.raises(NotFoundException):
        loyalties.list_earning_rules(other.id)
    assert loyalties.list_loyalty_programs().total == 1


def test_deleting_a_program_takes_its_rules_tiers_and_assignments(
    srv: AdminServer, client: v.ApiClient, redis_sync: redis.Redis
) -> None:
    loyalties, rewards = v.LoyaltiesApi(client), v.RewardsApi(client)
    camp = _program(loyalties)
    keep = _program(loyalties, name="Other club")
    (rule,) = _rules(loyalties, camp.id, RULE_A)
    (kept_rule,) = _rules(loyalties, keep.id, RULE_A)
    coin = _reward(rewards, {"name": "PwP", "parameters": {"coin": {"exchange_ratio": 1, "points_ratio": "10"}}})  # fmt: skip
    asg = _assign(rewards, coin.id, {"campaign": camp.id})
    kept_asg = _assign(rewards, coin.id, {"campaign": keep.id})
    loyalties.create_in_bulk_loyalty_tiers(
        camp.id,
        [v.LoyaltiesTiersCreateInBulkRequestBodyItem.from_dict({"name": "Gold", "points": {"from": 0}, "earning_rules": {rule.id: {"type": "MULTIPLY", "multiplier": 2}}})],  # fmt: skip
    )
    # a reward that credits a program keeps it from being deleted: 400, nothing written
    credit = _reward(rewards, {"name": "50 pts", "parameters": {"campaign": {"id": keep.id, "balance": 50}}})  # fmt: skip
    before = _version(srv)
    with pytest.raises(BadRequestException) as err:
        loyalties.delete_loyalty_program(keep.id)
    body = _error(err.value, 400, "resource_in_use")
    assert credit.id in body["details"]
    assert _version(srv) == before
    rewards.delete_reward(credit.id)

    # the generic campaign delete takes a program's parts just the same
    generic = _program(loyalties, name="Deleted through /v1/campaigns")
    _rules(loyalties, generic.id, RULE_A)
    _assign(rewards, coin.id, {"campaign": generic.id})
    v.CampaignsApi(client).delete_campaign(generic.id)

    loyalties.delete_loyalty_program(camp.id)
    doc = json.loads(redis_sync.get(Keys(srv.prefix).defs))
    assert [r["id"] for r in doc["earning_rules"]] == [kept_rule.id]
    assert doc.get("loyalty_tiers", []) == []
    assert [a["id"] for a in doc["reward_assignments"]] == [kept_asg.id]
    assert [r["id"] for r in doc["rewards"]] == [coin.id]  # the catalogue stays
    with pytest.raises(NotFoundException):
        rewards.get_reward_assignment(coin.id, asg.id)
    # the audit trail has the deletion
    entries = srv.request("GET", f"/v1/audit-log?resource_id={camp.id}").json()["data"]
    assert "campaign.delete" in [e["action"] for e in entries]


# ------------------------------------------------------------------------------ earning rules


def test_earning_rules_through_the_sdk(srv: AdminServer, client: v.ApiClient) -> None:
    loyalties = v.LoyaltiesApi(client)
    camp = _program(loyalties)
    fixed = {
        "event": "customer.segment.entered",
        "segment": {"id": "seg_vip"},
        "loyalty": {"type": "FIXED", "points": 50},
        "start_date": "2026-01-01T00:00:00",  # naive (from_dict): UTC
        "expiration_date": "2027-01-01T00:00:00Z",
        "metadata": {"kind": "welcome"},
        "validity_day_of_week": [1, 2, 3],
    }
    pending = {
        **RULE_A,
        "pending_points": {"period_type": "DAY", "period_value": 14},
        "expiration_rules": {"period_type": "MONTH", "period_value": 6},
    }
    r1, r2 = _rules(loyalties, camp.id, fixed, pending)
    assert r1.event == "customer.segment.entered" and r1.segment.id == "seg_vip"
    assert r1.loyalty.type == "FIXED" and r1.loyalty.points == 50
    assert r1.start_date.startswith("2026-01-01T00:00:00") and isinstance(r1.expiration_date, str)
    assert r1.metadata == {"kind": "welcome"} and r1.validity_day_of_week == [1, 2, 3]
    assert r2.pending_points.period_value == 14 and r2.expiration_rules.period_value == 6

    listed = loyalties.list_earning_rules(camp.id)
    assert listed.total == 2 and [r.id for r in listed.data] == [r1.id, r2.id]
    assert loyalties.list_earning_rules(camp.id, limit=1, page=2).data[0].id == r2.id
    newest = loyalties.list_earning_rules(
        camp.id, order=v.ParameterOrderListEarningRules.MINUS_CREATED_AT
    )
    assert [r.id for r in newest.data] == [r2.id, r1.id]
    got = loyalties.get_earning_rule(camp.id, r1.id)
    assert got.id == r1.id and got.source.object_id == camp.id

    # an update sent with from_dict carries a null for every field not given: none is wiped
    upd = loyalties.update_earning_rule(
        camp.id,
        r1.id,
        v.LoyaltiesEarningRulesUpdateRequestBody.from_dict(
            {"loyalty": {"type": "FIXED", "points": 75}, "metadata": {"round": 2}}
        ),
    )
    assert upd.loyalty.points == 75 and upd.metadata == {"kind": "welcome", "round": 2}
    assert upd.segment.id == "seg_vip" and upd.start_date == r1.start_date
    assert upd.validity_day_of_week == [1, 2, 3] and upd.event == r1.event
    # event and targets cannot change (the SDK drops them; a raw client's are ignored)
    r = srv.request(
        "PUT",
        f"/v1/loyalties/{camp.id}/earning-rules/{r2.id}",
        json={"event": "customer.segment.entered", "source": {"banner": "new banner"}},
    )
    assert r.status_code == 200 and r.json()["event"] == "order.paid"
    assert r.json()["source"]["banner"] == "new banner"

    assert loyalties.disable_earning_rule(camp.id, r1.id).active is False
    assert loyalties.get_earning_rule(camp.id, r1.id).active is False
    assert loyalties.enable_earning_rule(camp.id, r1.id).active is True

    assert loyalties.delete_earning_rule(camp.id, r1.id) is None
    with pytest.raises(NotFoundException):
        loyalties.get_earning_rule(camp.id, r1.id)
    assert [r.id for r in loyalties.list_earning_rules(camp.id).data] == [r2.id]
    # a rule is found only under its own program
    other = _program(loyalties, name="Other")
    with pytest.raises(NotFoundException):
        loyalties.get_earning_rule(other.id, r2.id)
    actions = [
        e["action"] for e in srv.request("GET", f"/v1/audit-log?resource_id={r1.id}").json()["data"]
    ]
    assert {"earning_rule.create", "earning_rule.update", "earning_rule.disable",
            "earning_rule.enable", "earning_rule.delete"} <= set(actions)  # fmt: skip


# ------------------------------------------------------------------------------ tiers


def test_tiers_through_the_sdk(srv: AdminServer, client: v.ApiClient) -> None:
    loyalties, rewards = v.LoyaltiesApi(client), v.RewardsApi(client)
    camp = _program(loyalties)
    fixed = {"event": "order.paid", "loyalty": {"type": "FIXED", "points": 10}}
    r_prop, r_fixed = _rules(loyalties, camp.id, RULE_A, fixed)
    prod = _raw(srv, "POST", "/v1/products", {"source_id": "mug", "name": "Mug"})
    mug = _reward(rewards, {"name": "Mug", "parameters": {"product": {"id": "mug"}}, "stock": 5})
    coin = _reward(rewards, {"name": "PwP", "parameters": {"coin": {"exchange_ratio": 1, "points_ratio": "10"}}})  # fmt: skip
    assert mug.parameters.product.id == prod["id"]  # a source_id names the product
    a_mug = _assign(rewards, mug.id, {"campaign": camp.id, "parameters": {"loyalty": {"points": 300}}})  # fmt: skip
    a_coin = _assign(rewards, coin.id, {"campaign": camp.id})

    items = [
        {"name": "Silver", "points": {"from": 0, "to": 499}, "metadata": {"rank": 1}},
        {
            "name": "Gold",
            "points": {"from": 500},
            "earning_rules": {
                r_prop.id: {"type": "MULTIPLY", "multiplier": 1.5},
                r_fixed.id: {"type": "CUSTOM", "points": 25},
            },
            "rewards": {a_mug.id: {"type": "MULTIPLY", "multiplier": 0.5}},
        },
    ]
    silver, gold = loyalties.create_in_bulk_loyalty_tiers(
        camp.id, [v.LoyaltiesTiersCreateInBulkRequestBodyItem.from_dict(x) for x in items]
    )
    assert silver.id.startswith("ltr_") and silver.object == "loyalty_tier"
    assert silver.campaign_id == camp.id and silver.points.var_from == 0 and silver.points.to == 499
    assert silver.config.points.to == 499 and silver.metadata == {"rank": 1}
    assert gold.points.var_from == 500 and gold.points.to is None
    assert gold.earning_rules[r_prop.id] == {"type": "MULTIPLY", "multiplier": 1.5}

    listed = loyalties.list_loyalty_tiers(camp.id)
    assert listed.total == 2 and [t.name for t in listed.data] == ["Silver", "Gold"]
    assert loyalties.list_loyalty_tiers(camp.id, limit=1).data[0].id == silver.id
    assert loyalties.get_loyalty_tier(camp.id, gold.id).name == "Gold"
    with pytest.raises(NotFoundException):
        loyalties.get_loyalty_tier(camp.id, "ltr_missing")

    # the rules as a member of the tier earns by them
    by_id = {r.id: r for r in loyalties.list_loyalty_tier_earning_rules(camp.id, gold.id).data}
    assert by_id[r_prop.id].loyalty.order.amount.points == 1  # floor(1 * 1.5)
    assert by_id[r_fixed.id].loyalty.points == 25
    plain = {r.id: r for r in loyalties.list_loyalty_tier_earning_rules(camp.id, silver.id).data}
    assert plain[r_fixed.id].loyalty.points == 10

    # the rewards at the tier's prices
    tier_rewards = loyalties.list_loyalty_tier_rewards(camp.id, gold.id)
    assert tier_rewards.total == 2
    by_reward = {x.reward.id: x for x in tier_rewards.data}
    assert by_reward[mug.id].object == "loyalty_tier_reward"
    assert by_reward[mug.id].assignment.id == a_mug.id
    assert by_reward[mug.id].assignment.parameters.loyalty.points == 150
    assert by_reward[coin.id].reward.type == "COIN"
    assert by_reward[coin.id].assignment.id == a_coin.id
    silver_rewards = loyalties.list_loyalty_tier_rewards(camp.id, silver.id)
    assert {x.assignment.parameters.loyalty.points for x in silver_rewards.data} == {300, None}

    # deleting a rule or an assignment drops the tiers' mappings of it
    loyalties.delete_earning_rule(camp.id, r_fixed.id)
    rewards.delete_reward_assignment(mug.id, a_mug.id)
    gold = loyalties.get_loyalty_tier(camp.id, gold.id)
    assert list(gold.earning_rules) == [r_prop.id] and gold.rewards == {}


# ------------------------------------------------------------------------------ rewards


def test_rewards_through_the_sdk(
    srv: AdminServer, client: v.ApiClient, redis_sync: redis.Redis
) -> None:
    rewards, loyalties = v.RewardsApi(client), v.LoyaltiesApi(client)
    camp = _program(loyalties)
    gift = _raw(srv, "POST", "/v1/campaigns", {"name": "Gift cards", "campaign_type": "GIFT_VOUCHERS",
                                               "voucher": {"gift": {"amount": 5000}}})  # fmt: skip
    credit = _reward(rewards, {"name": "10.00 credit", "parameters": {"campaign": {"id": gift["id"], "balance": 1000}}})  # fmt: skip
    assert credit.type == "CAMPAIGN" and credit.parameters.campaign.type == "GIFT_VOUCHERS"
    assert credit.parameters.campaign.balance == 1000
    points = _reward(rewards, {"name": "Bonus", "parameters": {"campaign": {"id": "Club", "balance": 20}}})  # fmt: skip
    assert points.parameters.campaign.id == camp.id  # named by name: stored by id
    assert points.parameters.campaign.type == "LOYALTY_PROGRAM"
    # a raw client may send the type; the answer is the same reward
    raw = _raw(srv, "POST", "/v1/rewards", {"name": "PwP", "type": "COIN",
                                            "parameters": {"coin": {"exchange_ratio": 0.5, "points_ratio": 20}}})  # fmt: skip
    assert raw["type"] == "COIN" and raw["parameters"]["coin"] == {"exchange_ratio": 0.5, "points_ratio": 20}
    assert raw["object"] == "reward" and raw["created_at"]

    got = rewards.get_reward(credit.id)
    assert got.name == "10.00 credit" and got.redeemed == 0
    listed = rewards.list_rewards()
    assert listed.total == 3 and [r.id for r in listed.data] == [credit.id, points.id, raw["id"]]
    assert rewards.list_rewards(limit=1, page=3).data[0].id == raw["id"]

    # update: the SDK's nulls keep what is stored; the reward's type stays
    upd = rewards.update_reward(
        credit.id,
        v.RewardsUpdateRequestBody.from_dict(
            {"name": "15.00 credit", "parameters": {"campaign": {"balance": 1500}}, "metadata": {"a": 1}}
        ),
    )
    assert upd.name == "15.00 credit" and upd.parameters.campaign.balance == 1500
    assert upd.parameters.campaign.id == gift["id"] and upd.type == "CAMPAIGN"
    assert upd.metadata == {"a": 1}
    upd = rewards.update_reward(credit.id, v.RewardsUpdateRequestBody.from_dict({"stock": 7}))
    assert upd.stock == 7 and upd.name == "15.00 credit" and upd.metadata == {"a": 1}

    other = _program(loyalties, name="Other club")  # a program cannot reward its own points
    a = _assign(rewards, points.id, {"campaign": other.id, "parameters": {"loyalty": {"points": 40}}})
    assert rewards.list_rewards(assignment_id=a.id).data[0].id == points.id
    redis_sync.set(Keys(srv.prefix).reward_redeemed(points.id), 2)
    assert rewards.get_reward(points.id).redeemed == 2

    assert rewards.delete_reward(raw["id"]) is None
    with pytest.raises(NotFoundException):
        rewards.get_reward(raw["id"])
    assert rewards.list_rewards().total == 2


def test_reward_assignments_through_both_families(srv: AdminServer, client: v.ApiClient) -> None:
    rewards, loyalties = v.RewardsApi(client), v.LoyaltiesApi(client)
    camp = _program(loyalties)
    coupons = _raw(srv, "POST", "/v1/campaigns", {"name": "Coupons", **COUPONS})
    c_rew = _reward(rewards, {"name": "coupon", "parameters": {"campaign": {"id": coupons["id"]}}})
    m_rew = _raw(srv, "POST", "/v1/products", {"id": "prod_tee", "name": "Tee"})
    t_rew = _reward(rewards, {"name": "tee", "parameters": {"product": {"id": m_rew["id"]}}, "stock": 3})  # fmt: skip

    # /v1/rewards/{id}/assignments
    a1 = _assign(rewards, c_rew.id, {"campaign": camp.id, "parameters": {"loyalty": {"points": 100}}})
    assert a1.parameters.loyalty.points == 100 and a1.related_object_id == camp.id
    assert rewards.list_reward_assignments(c_rew.id).total == 1
    assert rewards.get_reward_assignment(c_rew.id, a1.id).id == a1.id
    with pytest.raises(NotFoundException):
        rewards.get_reward_assignment(t_rew.id, a1.id)  # under another reward
    upd = rewards.update_reward_assignment(
        c_rew.id,
        a1.id,
        v.RewardsAssignmentsUpdateRequestBody.from_dict({"parameters": {"loyalty": {"points": 120}}}),
    )
    assert upd.parameters.loyalty.points == 120

    # /v1/loyalties/{id}/rewards: an array of one answered as one object (what the SDK reads)
    a2 = loyalties.create_reward_assignment1(
        camp.id,
        [v.LoyaltiesRewardsCreateAssignmentItemRequestBody.from_dict(
            {"reward": t_rew.id, "parameters": {"loyalty": {"points": 500}}})],
    )  # fmt: skip
    assert a2.id.startswith("rewa_") and a2.reward_id == t_rew.id
    assert a2.parameters.loyalty.points == 500 and a2.related_object_type == "campaign"

    both = loyalties.list_reward_assignments2(camp.id)
    assert both.total == 2 and [x.id for x in both.data] == [a1.id, a2.id]
    assert loyalties.list_reward_assignments2(camp.id, assignment_id=a2.id).data[0].id == a2.id
    one = loyalties.list_reward_assignments1(camp.id, assignment_id=a1.id)
    assert one.total == 1 and one.data[0].id == a1.id
    assert loyalties.list_reward_assignments1(camp.id, limit=1, page=2).data[0].id == a2.id
    assert loyalties.get_reward_assignment1(camp.id, a2.id).reward_id == t_rew.id
    assert loyalties.get_reward_assignment2(camp.id, a1.id).parameters.loyalty.points == 120
    assert loyalties.get_reward_details(camp.id, a2.id).parameters.product.id == "prod_tee"

    upd1 = loyalties.update_reward_assignment1(
        camp.id,
        a2.id,
        v.LoyaltiesRewardsUpdateAssignmentRequestBody.from_dict(
            {"parameters": {"loyalty": {"points": 450, "auto_redeem": True}}}
        ),
    )
    assert upd1.parameters.loyalty.points == 450 and upd1.parameters.loyalty.auto_redeem is True
    # a null leaves the price alone
    kept = loyalties.update_reward_assignment1(
        camp.id,
        a2.id,
        v.LoyaltiesRewardsUpdateAssignmentRequestBody.from_dict({"parameters": {"loyalty": {"auto_redeem": False}}}),
    )  # fmt: skip
    assert kept.parameters.loyalty.points == 450 and kept.parameters.loyalty.auto_redeem is False

    # several items: answered as an array, all or none
    p_rew = _reward(rewards, {"name": "PwP", "parameters": {"coin": {"exchange_ratio": 1, "points_ratio": "10"}}})  # fmt: skip
    other = _program(loyalties, name="Other club")
    many = _raw(srv, "POST", f"/v1/loyalties/{other.id}/rewards",
                [{"reward": p_rew.id}, {"reward": c_rew.id, "parameters": {"loyalty": {"points": 9}}}])  # fmt: skip
    assert [x["reward_id"] for x in many] == [p_rew.id, c_rew.id]

    assert loyalties.delete_reward_assignment1(camp.id, a2.id) is None
    with pytest.raises(NotFoundException):
        loyalties.get_reward_assignment1(camp.id, a2.id)
    assert rewards.delete_reward_assignment(c_rew.id, a1.id) is None
    assert loyalties.list_reward_assignments1(camp.id).total == 0


# ------------------------------------------------------------------------------ bad input


def test_bad_input_is_refused_and_changes_nothing(
    srv: AdminServer, client: v.ApiClient, redis_sync: redis.Redis
) -> None:
    loyalties, rewards = v.LoyaltiesApi(client), v.RewardsApi(client)
    camp = _program(loyalties)
    coupons = _raw(srv, "POST", "/v1/campaigns", {"name": "Coupons", **COUPONS})
    (rule,) = _rules(loyalties, camp.id, RULE_A)
    mug_product = _raw(srv, "POST", "/v1/products", {"id": "prod_mug", "name": "Mug"})
    mug = _reward(rewards, {"name": "Mug", "parameters": {"product": {"id": mug_product["id"]}}})
    asg = _assign(rewards, mug.id, {"campaign": camp.id, "parameters": {"loyalty": {"points": 250}}})
    keys = Keys(srv.prefix)
    doc_before = redis_sync.get(keys.defs)
    version = _version(srv)

    def unchanged() -> None:
        assert _version(srv) == version and redis_sync.get(keys.defs) == doc_before

    ern = f"/v1/loyalties/{camp.id}/earning-rules"
    # an unknown campaign: 404, through the SDK and raw
    with pytest.raises(NotFoundException) as err:
        _rules(loyalties, "camp_missing", RULE_A)
    _error(err.value, 404, "not_found")
    _error(srv.request("GET", "/v1/loyalties/camp_missing/tiers"), 404, "not_found")
    _error(srv.request("POST", "/v1/loyalties/camp_missing/rewards", json=[{"reward": mug.id, "parameters": {"loyalty": {"points": 5}}}]), 404, "not_found")  # fmt: skip
    # an earning rule on a campaign that is no loyalty program: 400
    with pytest.raises(BadRequestException) as err:
        _rules(loyalties, coupons["id"], RULE_A)
    _error(err.value, 400, "invalid_payload")
    # PROPORTIONAL without its block: 400 naming it
    no_block = {"event": "order.paid", "loyalty": {"type": "PROPORTIONAL", "calculation_type": "ORDER_AMOUNT"}}  # fmt: skip
    with pytest.raises(BadRequestException) as err:
        _rules(loyalties, camp.id, RULE_A, no_block)  # the good one is not kept either
    assert "loyalty.order.amount" in _error(err.value, 400, "invalid_definition")["details"]
    # a calculation that does not fit the event, negative points, a null... every one a 400
    for bad in (
        {"event": "customer.segment.entered", "segment": {"id": "s"}, **{k: RULE_A[k] for k in ("loyalty",)}},
        {"event": "order.paid", "loyalty": {"type": "FIXED", "points": -5}},
        {"event": "order.paid", "loyalty": {"type": "FIXED"}},
        {"event": "order.paid"},
        {"event": "order.paid", "loyalty": {"type": "FIXED", "points": 1}, "validation_rule_id": "val_missing"},
        {"event": "order.paid", "loyalty": {"type": "FIXED", "points": 1}, "pending_points": {"period_value": 365}},
        {"event": "order.paid", "loyalty": {"type": "FIXED", "points": 1}, "start_date": "2027-01-01T00:00:00Z",
         "expiration_date": "2026-01-01T00:00:00Z"},
    ):  # fmt: skip
        r = srv.request("POST", ern, json=[bad])
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["key"] in ("invalid_payload", "invalid_definition"), r.text
    # a validation rule that counts redemptions cannot judge an earning (no redemption there)
    counting = _raw(srv, "POST", "/v1/validation-rules", {"name": "once", "rules": {"1": {"name": "redemption.count.per_customer", "conditions": {"$less_than": [1]}}}})  # fmt: skip
    doc_before, version = redis_sync.get(keys.defs), _version(srv)
    r = srv.request("POST", ern, json=[{**RULE_A, "validation_rule_id": counting["id"]}])
    assert "counts redemptions" in _error(r, 400, "invalid_definition")["details"]
    # a validation rule of another context (a custom event's) cannot judge an order.paid rule
    wrong = _raw(srv, "POST", "/v1/validation-rules", {"name": "vip event", "context_type": "earning_rule.custom_event", "rules": {"1": {"name": "customer.metadata", "property": "vip", "conditions": {"$is": [True]}}, "logic": "1"}})  # fmt: skip
    assert wrong["context_type"] == "earning_rule.custom_event"
    doc_before, version = redis_sync.get(keys.defs), _version(srv)
    r = srv.request("POST", ern, json=[{**RULE_A, "validation_rule_id": wrong["id"]}])
    assert "earning_rule.order.paid" in _error(r, 400, "invalid_definition")["details"]
    unchanged()
    for body in ({"not": "an array of objects"}, [], [1, 2], "text", [None]):
        r = srv.request("POST", ern, json=body)
        assert r.status_code == 400, (body, r.text)
    _error(srv.request("POST", ern, content=b"[{"), 400, "invalid_payload")
    # negative points on an assignment, none at all for a priced reward
    _error(srv.request("PUT", f"/v1/rewards/{mug.id}/assignments/{asg.id}",
                       json={"parameters": {"loyalty": {"points": -1}}}), 400, "invalid_payload")  # fmt: skip
    other = _raw(srv, "POST", "/v1/rewards", {"name": "x", "parameters": {"product": {"id": "prod_mug"}}})
    doc_before, version = redis_sync.get(keys.defs), _version(srv)
    _error(srv.request("POST", f"/v1/rewards/{other['id']}/assignments", json={"campaign": camp.id}),
           400, "missing_param")  # fmt: skip
    # a reward of an unknown campaign or product, a gift reward without balance
    _error(srv.request("POST", "/v1/rewards", json={"name": "x", "parameters": {"campaign": {"id": "camp_missing"}}}), 404, "not_found")  # fmt: skip
    _error(srv.request("POST", "/v1/rewards", json={"name": "x", "parameters": {"product": {"id": "prod_missing"}}}), 404, "not_found")  # fmt: skip
    _error(srv.request("POST", "/v1/rewards", json={"name": "x", "parameters": {"campaign": {"id": camp.id}}}), 400, "invalid_balance")  # fmt: skip
    _error(srv.request("POST", "/v1/rewards", json={"name": "x", "parameters": {}}), 400, "invalid_payload")  # fmt: skip
    _error(srv.request("POST", "/v1/rewards", json={"name": "x", "parameters": {"coin": {"exchange_ratio": 1, "points_ratio": "ten"}}}), 400, "invalid_payload")  # fmt: skip
    _error(srv.request("POST", "/v1/rewards", json={"name": "x", "type": "COIN", "parameters": {"product": {"id": "prod_mug"}}}), 400, "invalid_payload")  # fmt: skip
    # a reward assignment of an unknown reward: 404
    with pytest.raises(NotFoundException) as err:
        _assign(rewards, "rew_missing", {"campaign": camp.id, "parameters": {"loyalty": {"points": 5}}})
    _error(err.value, 404, "not_found")
    with pytest.raises(NotFoundException):
        loyalties.create_reward_assignment1(
            camp.id, [v.LoyaltiesRewardsCreateAssignmentItemRequestBody.from_dict({"reward": "rew_missing", "parameters": {"loyalty": {"points": 5}}})]
        )  # fmt: skip
    # ... to a coupon campaign: 400; the same reward twice in one program: 409
    _error(srv.request("POST", f"/v1/rewards/{mug.id}/assignments",
                       json={"campaign": coupons["id"], "parameters": {"loyalty": {"points": 5}}}), 400, "invalid_payload")  # fmt: skip
    with pytest.raises(ApiException) as err:
        _assign(rewards, mug.id, {"campaign": camp.id, "parameters": {"loyalty": {"points": 5}}})
    assert _error(err.value, 409, "duplicate_found")["resource_id"] == asg.id
    # a reward still assigned is not deleted: 400 resource_in_use naming the assignments
    with pytest.raises(BadRequestException) as err:
        rewards.delete_reward(mug.id)
    body = _error(err.value, 400, "resource_in_use")
    assert body["related_object_ids"] == [asg.id]
    assert body["related_object_type"] == "reward_assignment"
    # a tier mapping an unknown rule, or overlapping another
    bad_tier = [{"name": "t", "points": {"from": 0}, "earning_rules": {"ern_missing": {"type": "MULTIPLY", "multiplier": 2}}}]  # fmt: skip
    _error(srv.request("POST", f"/v1/loyalties/{camp.id}/tiers", json=bad_tier), 400, "invalid_definition")  # fmt: skip
    overlap = [{"name": "a", "points": {"from": 0, "to": 100}}, {"name": "b", "points": {"from": 50}}]
    _error(srv.request("POST", f"/v1/loyalties/{camp.id}/tiers", json=overlap), 400, "invalid_definition")  # fmt: skip
    _error(srv.request("POST", f"/v1/loyalties/{camp.id}/tiers", json=[{"name": "no points"}]), 400, "invalid_payload")  # fmt: skip
    # a program body of another type
    _error(srv.request("POST", "/v1/loyalties", json={"name": "x", **COUPONS}), 400, "invalid_payload")  # fmt: skip
    unchanged()

    # PUTs carrying nulls keep every stored value
    before = loyalties.get_earning_rule(camp.id, rule.id)
    r = srv.request(
        "PUT",
        f"{ern}/{rule.id}",
        json={"loyalty": None, "source": None, "active": None, "metadata": None, "start_date": None},
    )
    assert r.status_code == 200
    after = loyalties.get_earning_rule(camp.id, rule.id)
    assert after.loyalty == before.loyalty and after.source == before.source and after.active
    assert srv.request("PUT", f"/v1/rewards/{mug.id}",
                       json={"name": None, "stock": None, "parameters": None}).json()["name"] == "Mug"  # fmt: skip
    a = srv.request("PUT", f"/v1/loyalties/{camp.id}/rewards/{asg.id}",
                    json={"parameters": {"loyalty": {"points": None}}}).json()  # fmt: skip
    assert a["parameters"]["loyalty"]["points"] == 250
    # a bad PUT changes nothing
    doc_before, version = redis_sync.get(keys.defs), _version(srv)
    _error(srv.request("PUT", f"{ern}/{rule.id}", json={"loyalty": {"type": "PROPORTIONAL"}}), 400, "invalid_definition")  # fmt: skip
    _error(srv.request("PUT", f"/v1/rewards/{mug.id}", json={"parameters": {"coin": {"exchange_ratio": 1, "points_ratio": 1}}}), 400, "invalid_payload")  # fmt: skip
    _error(srv.request("PUT", f"{ern}/ern_missing", json={"active": False}), 404, "not_found")
    unchanged()
