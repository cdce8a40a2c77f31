"""VOUCHERIFY-LOYALTY.md §15a, the loyalty flow a real client runs, call by call through the
official SDK (voucherify 6.1.1): management calls against the real admin service, checkout and
member calls against a real ``python -m gateway`` (two workers), one Redis, one key prefix, as
``make run`` serves them. With promogate's decisions (DESIGN.md "Wallet programs"): a redemption
whose order is PAID earns; a rollback refunds the points spent and takes back the points earned.
"""

from __future__ import annotations

import datetime as dt
import warnings
from typing import Any

import pytest
import voucherify as v
from stacks import gateway_sdk
from voucherify.exceptions import ApiException

from admin.testing import AdminServer, GatewayProcess

pytestmark = pytest.mark.slow


@pytest.fixture
def services(
    admin_and_gateway_processes: tuple[AdminServer, GatewayProcess],
) -> tuple[AdminServer, GatewayProcess]:
    return admin_and_gateway_processes


def _items(amount: int, product: str = "tee") -> list[dict[str, Any]]:
    return [{"source_id": product, "related_object": "product", "quantity": 2, "price": amount // 2,
             "amount": amount}]  # fmt: skip


def test_section_15a_loyalty_program_end_to_end(
    services: tuple[AdminServer, GatewayProcess],
) -> None:
    adm_srv, gw_srv = services
    with adm_srv.sdk() as adm, gateway_sdk(gw_srv) as gwc, warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", DeprecationWarning
        )  # LoyaltiesApi warns on every call (SDK)
        loy_a, loy_g = v.LoyaltiesApi(adm), v.LoyaltiesApi(gwc)

        # 1. the validation rule of the second earning rule
        val = v.ValidationRulesApi(adm).create_validation_rules(v.ValidationRulesCreateRequestBody.from_dict(
            {"name": "order >= 150.00", "context_type": "earning_rule.order.paid",
             "rules": {"1": {"name": "order.amount", "conditions": {"$more_than_or_equal": [15000]}, "rules": {}},
                       "logic": "1"}}))  # fmt: skip
        # 2. the program
        camp = loy_a.create_loyalty_program(v.LoyaltiesCreateCampaignRequestBody.from_dict(
            {"name": "Club", "type": "AUTO_UPDATE", "auto_join": True, "join_once": True,
             "voucher": {"loyalty_card": {"points": 0}, "code_config": {"pattern": "CLUB-#####"}}}))  # fmt: skip
        assert (
            camp.type in ("AUTO_UPDATE", "STATIC")
            and camp.voucher.code_config.pattern == "CLUB-#####"
        )
        # 3. two earning rules: 1 point per 1.00, one more from 150.00
        rule_a = {"event": "order.paid", "source": {"banner": "1 pt / 1.00"},
                  "loyalty": {"type": "PROPORTIONAL", "calculation_type": "ORDER_AMOUNT",
                              "order": {"amount": {"every": 100, "points": 1}}}}  # fmt: skip
        rule_b = {
            **rule_a,
            "validation_rule_id": val.id,
            "source": {"banner": "+1 pt / 1.00 from 150.00"},
        }
        rules = loy_a.create_earning_rule(camp.id, [
            v.LoyaltiesEarningRulesCreateRequestBodyItem.from_dict(rule_a),
            v.LoyaltiesEarningRulesCreateRequestBodyItem.from_dict(rule_b)])  # fmt: skip
        assert len(rules) == 2 and all(r.id.startswith("ern_") for r in rules)
        # 4. the customer
        alice = v.CustomersApi(adm).create_customer(v.CustomersCreateRequestBody.from_dict(
            {"source_id": "alice", "email": "alice@example.com"}))  # fmt: skip
        # 5. she joins
        card = loy_a.add_member(camp.id, v.LoyaltiesMembersCreateRequestBody.from_dict(
            {"customer": {"source_id": "alice"}}))  # fmt: skip
        code = card.code
        assert code.startswith("CLUB-") and card.holder_id == alice.id
        assert (card.loyalty_card.points, card.loyalty_card.balance) == (0, 0)
        # 6. a paid order of 200.00 earns 200 + 200
        order = v.OrdersApi(gwc).create_order(v.OrdersCreateRequestBody.from_dict(
            {"source_id": "o-1", "status": "PAID", "amount": 20000, "customer": {"source_id": "alice"},
             "items": _items(20000)}))  # fmt: skip
        assert order.status == "PAID"
        # 7.
        member = loy_g.get_member(code)
        assert (member.loyalty_card.points, member.loyalty_card.balance) == (400, 400)
        assert isinstance(member.loyalty_card.next_expiration_date, dt.date | None)
        # 8.-11. a product, a MATERIAL reward, a discount campaign and its CAMPAIGN reward, a COIN reward
        mug = v.ProductsApi(adm).create_product(v.ProductsCreateRequestBody.from_dict(
            {"source_id": "mug", "name": "Club mug", "price": 1500}))  # fmt: skip
        rewards = v.RewardsApi(adm)
        rew_m = rewards.create_reward(v.RewardsCreateRequestBody.from_dict(
            {"name": "Club mug", "parameters": {"product": {"id": mug.id}}, "stock": 10,
             "attributes": {"description": "Free mug"}}))  # fmt: skip
        assert rew_m.type == "MATERIAL" and rew_m.stock == 10
        camp_d = v.CampaignsApi(adm).create_campaign(v.CampaignsCreateRequestBody.from_dict(
            {"name": "5 off reward", "campaign_type": "DISCOUNT_COUPONS", "type": "AUTO_UPDATE",
             "voucher": {"type": "DISCOUNT_VOUCHER",
                         "discount": {"type": "AMOUNT", "amount_off": 500, "effect": "APPLY_TO_ORDER"}}}))  # fmt: skip
        rew_c = rewards.create_reward(v.RewardsCreateRequestBody.from_dict(
            {"name": "5.00 coupon", "parameters": {"campaign": {"id": camp_d.id}}}))  # fmt: skip
        assert rew_c.type == "CAMPAIGN" and rew_c.parameters.campaign.type == "DISCOUNT_COUPONS"
        rew_p = rewards.create_reward(v.RewardsCreateRequestBody.from_dict(
            {"name": "Pay with points", "parameters": {"coin": {"exchange_ratio": 1, "points_ratio": "10"}}}))  # fmt: skip
        assert rew_p.type == "COIN" and rew_p.parameters.coin.points_ratio == 10
        # 12. assigned to the program: mug 250, coupon 100, pay with points without a price
        for rew, body in ((rew_m, {"campaign": camp.id, "parameters": {"loyalty": {"points": 250}}}),
                          (rew_c, {"campaign": camp.id, "parameters": {"loyalty": {"points": 100}}}),
                          (rew_p, {"campaign": camp.id})):  # fmt: skip
            a = rewards.create_reward_assignment(
                rew.id, v.RewardsAssignmentsCreateRequestBody.from_dict(body)
            )
            assert a.id.startswith("rewa_") and a.related_object_id == camp.id
        # 13. what she can afford
        affordable = loy_g.list_member_rewards(code, affordable_only=True)
        assert {x.reward.id: x.assignment.parameters.loyalty.points for x in affordable.data} == {
            rew_m.id: 250, rew_c.id: 100}  # fmt: skip
        # 14. the mug
        r1 = loy_g.redeem_reward(code, v.LoyaltiesMembersRedemptionRedeemRequestBody.from_dict(
            {"reward": {"id": rew_m.id}}))  # fmt: skip
        assert r1.amount == 250 and r1.loyalty_card.points == 250
        assert r1.voucher.loyalty_card.balance == 150 and r1.reward.type == "MATERIAL"
        assert r1.channel.channel_type == "API" and r1.reward.assignment_id.startswith("rewa_")
        assert rewards.get_reward(rew_m.id).redeemed == 1
        # 15. the coupon: a new code published to her
        r2 = loy_g.redeem_reward(code, v.LoyaltiesMembersRedemptionRedeemRequestBody.from_dict(
            {"reward": {"id": rew_c.id}}))  # fmt: skip
        assert r2.voucher.loyalty_card.balance == 50 and r2.reward.voucher.code
        # 16. pay 30 points (3.00) at checkout
        req = {"customer": {"source_id": "alice"},
               "order": {"source_id": "o-2", "amount": 10000, "items": _items(10000)},
               "redeemables": [{"object": "voucher", "id": code, "reward": {"id": rew_p.id, "points": 30}}]}  # fmt: skip
        val16 = v.ValidationsApi(gwc).validate_stacked_discounts(
            v.ValidationsValidateRequestBody.from_dict(req)
        )
        assert val16.valid is True and val16.redeemables[0].status == "APPLICABLE"
        assert val16.redeemables[0].result.loyalty_card.points == 30
        assert (val16.order.discount_amount, val16.order.total_amount) == (300, 9700)
        assert val16.stacking_rules is not None
        too_much = {
            **req,
            "redeemables": [{**req["redeemables"][0], "reward": {"id": rew_p.id, "points": 60}}],
        }
        val60 = v.ValidationsApi(gwc).validate_stacked_discounts(
            v.ValidationsValidateRequestBody.from_dict(too_much)
        )
        assert val60.valid is False and val60.redeemables[0].status == "INAPPLICABLE"
        assert val60.redeemables[0].result.error.key == "loyalty_card_points_exceeded"
        # 17. redeem it: 50 - 30 = 20, then the PAID order of 100.00 earns 100 -> 120
        red = v.RedemptionsApi(gwc).redeem_stacked_discounts(
            v.RedemptionsRedeemRequestBody.from_dict(req)
        )
        child = red.redemptions[0]
        assert child.amount == 30 and child.loyalty_card.points == 30
        assert red.order.status == "PAID" and red.order.discount_amount == 300
        # 18.
        member = loy_g.get_member(code)
        assert (member.loyalty_card.balance, member.loyalty_card.points) == (120, 500)
        # 19. roll it back: +30 refunded, -100 earned taken back -> 50
        rb = v.RedemptionsApi(gwc).rollback_stacked_redemptions(red.parent_redemption.id)
        assert rb.rollbacks[0].amount == -30 and rb.rollbacks[0].loyalty_card.points == -30
        assert rb.order.status == "CANCELED"
        assert loy_g.get_member(code).loyalty_card.balance == 50
        # 20. the transactions, newest first, with the running balance
        tx = loy_g.list_loyalty_card_transactions(code).data
        assert [(t.type, t.details.balance.points) for t in tx] == [
            ("POINTS_REMOVAL", -100), ("POINTS_REFUND", 30), ("POINTS_ACCRUAL", 100), ("POINTS_REDEMPTION", -30),
            ("POINTS_REDEMPTION", -100), ("POINTS_REDEMPTION", -250), ("POINTS_ACCRUAL", 200),
            ("POINTS_ACCRUAL", 200)]  # fmt: skip
        assert [t.details.balance.balance for t in tx] == [50, 150, 120, 20, 50, 150, 400, 200]
        # lifetime points: redemptions and refunds leave them; the removal takes the earned 100 off
        assert [t.details.balance.total for t in tx] == [400, 500, 500, 400, 400, 400, 400, 200]
        # and the optional final check: a manual removal with a reason
        bal = loy_a.update_loyalty_card_balance(code, v.LoyaltiesMembersBalanceUpdateRequestBody.from_dict(
            {"points": -10, "reason": "test"}))  # fmt: skip
        assert (bal.balance, bal.object, bal.operation_type) == (40, "balance", "MANUAL")
        with pytest.raises(ApiException):
            loy_g.get_member("CLUB-NOPE0")
