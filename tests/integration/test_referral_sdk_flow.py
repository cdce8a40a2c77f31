"""VOUCHERIFY-LOYALTY.md §15b, the double-sided referral flow a real client runs, call by call
through the official SDK (voucherify 6.1.1): management calls against the real admin service,
checkout, events and wallet reads against a real ``python -m gateway`` (two workers), one
Redis, one key prefix, as ``make run`` serves them. It ends with the referrer credited (R10),
and with the custom-event variant (R13).
"""

from __future__ import annotations

import warnings

import pytest
import voucherify as v
from stacks import gateway_sdk

from admin.testing import AdminServer, GatewayProcess

pytestmark = pytest.mark.slow


@pytest.fixture
def services(
    admin_and_gateway_processes: tuple[AdminServer, GatewayProcess],
) -> tuple[AdminServer, GatewayProcess]:
    return admin_and_gateway_processes


def test_section_15b_double_sided_referral_end_to_end(services: tuple[AdminServer, GatewayProcess]) -> None:
    adm_srv, gw_srv = services
    with adm_srv.sdk() as adm, gateway_sdk(gw_srv) as gwc, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # LoyaltiesApi warns on every call (SDK)
        # the loyalty programme of §15a, alice a member holding 40 points (where 15a ends)
        club = v.LoyaltiesApi(adm).create_loyalty_program(v.LoyaltiesCreateCampaignRequestBody.from_dict(
            {"name": "Club", "type": "AUTO_UPDATE", "auto_join": True, "join_once": True,
             "voucher": {"loyalty_card": {"points": 0}, "code_config": {"pattern": "CLUB-#####"}}}))  # fmt: skip
        v.CustomersApi(adm).create_customer(v.CustomersCreateRequestBody.from_dict({"source_id": "alice"}))
        card = v.LoyaltiesApi(adm).add_member(club.id, v.LoyaltiesMembersCreateRequestBody.from_dict(
            {"customer": {"source_id": "alice"}}))  # fmt: skip
        v.LoyaltiesApi(adm).update_loyalty_card_balance(card.code, v.LoyaltiesMembersBalanceUpdateRequestBody.from_dict(
            {"points": 40}))  # fmt: skip
        rewards = v.RewardsApi(adm)
        # R1. the referrer's reward: 500 club points
        rew_rp = rewards.create_reward(v.RewardsCreateRequestBody.from_dict(
            {"name": "500 club points", "parameters": {"campaign": {"id": club.id, "balance": 500}}}))  # fmt: skip
        assert rew_rp.type == "CAMPAIGN" and rew_rp.parameters.campaign.type == "LOYALTY_PROGRAM"
        # R2. one referral redemption per customer
        val_once = v.ValidationRulesApi(adm).create_validation_rules(v.ValidationRulesCreateRequestBody.from_dict(
            {"name": "one referral redemption per customer", "context_type": "campaign.referral_program",
             "rules": {"1": {"name": "redemption.count.per_customer", "conditions": {"$less_than_or_equal": [1]},
                             "rules": {}}, "logic": "1"}}))  # fmt: skip
        # R3. the double-sided programme
        camp_r = v.CampaignsApi(adm).create_campaign(v.CampaignsCreateRequestBody.from_dict(
            {"name": "Refer a friend", "campaign_type": "REFERRAL_PROGRAM", "type": "AUTO_UPDATE", "join_once": True,
             "validation_rules": [val_once.id],
             "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 1000, "effect": "APPLY_TO_ORDER"},
                         "is_referral_code": True, "code_config": {"pattern": "REF-#####"}},
             "referral_program": {"conversion_event_type": "redemption",
                                  "referee_reward": {"type": "LOYALTY_CARD", "amount": "50",
                                                     "related_object_parent": {"id": club.id, "object": "CAMPAIGN"}}}}))  # fmt: skip
        assert camp_r.referral_program.referee_reward.amount == "50"
        assert camp_r.voucher.code_config.pattern == "REF-#####"
        # R4. promogate: a reward assigned to the referral campaign pays the referrer per referee
        a = rewards.create_reward_assignment(rew_rp.id, v.RewardsAssignmentsCreateRequestBody.from_dict(
            {"campaign": camp_r.id}))  # fmt: skip
        assert a.id.startswith("rewa_") and a.related_object_id == camp_r.id
        # R5. alice's referral code, the same on a repeat
        pubs = v.PublicationsApi(adm)
        body = v.PublicationsCreateRequestBody.from_dict({"campaign": {"name": "Refer a friend"},
                                                          "customer": {"source_id": "alice"}})  # fmt: skip
        pub = pubs.create_publication(join_once=True, publications_create_request_body=body)
        code = pub.voucher.code
        assert code.startswith("REF-") and pub.voucher.is_referral_code is True and pub.channel == "API"
        assert pubs.create_publication(join_once=True, publications_create_request_body=body).voucher.code == code
        alice_id = pub.voucher.holder_id
        # R6. its holders: alice, the referrer
        holders = v.ReferralsApi(adm).referrals_code_holders1(code)
        assert [(h.holder_role, h.customer_id) for h in holders.data] == [("REFERRER", alice_id)]
        # R7. alice cannot redeem her own code
        order = {"amount": 5000}
        red_body = {"customer": {"source_id": "alice"}, "order": order,
                    "redeemables": [{"object": "voucher", "id": code}]}  # fmt: skip
        val = v.ValidationsApi(gwc).validate_stacked_discounts(v.ValidationsValidateRequestBody.from_dict(red_body))
        assert val.valid is False and val.redeemables[0].status == "INAPPLICABLE"
        assert val.redeemables[0].result.error.key == "referrer_not_permitted_to_redeem"
        # R8. bob, a friend, redeems it: 10.00 off, the order names its referrer
        red = v.RedemptionsApi(gwc).redeem_stacked_discounts(v.RedemptionsRedeemRequestBody.from_dict(
            {**red_body, "customer": {"source_id": "bob"}}))  # fmt: skip
        assert red.order.discount_amount == 1000 or red.order.total_discount_amount == 1000
        assert red.order.referrer_id == alice_id and red.order.referrer.id == alice_id
        # R9. alice's wallet: her Club card, as its owner
        wallet = v.CustomersApi(gwc).list_customer_redeemables("alice")
        rows = {w.redeemable.voucher.code: w for w in wallet.data}
        assert rows[card.code].holder_role == "OWNER" and rows[card.code].campaign_id == club.id
        # R10. the referrer is credited: 40 + 500
        loy_g = v.LoyaltiesApi(gwc)
        assert loy_g.get_member(card.code).loyalty_card.balance == 540
        # bob got a Club card with the referee's 50 points (plus nothing earned: no earning rule)
        bob = v.CustomersApi(adm).get_customer("bob")
        assert bob.loyalty.points == 50
        # R11. the two customers
        assert bob.referrals.total == 1
        ref = bob.referrals.campaigns[0]
        assert (ref.campaign_id, ref.referrer_id, ref.related_object_type) == (camp_r.id, alice_id, "redemption")
        assert ref.related_object_id == red.parent_redemption.id and ref.var_date is not None
        alice = v.CustomersApi(adm).get_customer("alice")
        assert alice.loyalty.referred_customers == 1
        # R12. the reward in alice's activity; bob again is refused, alice gets no second reward
        act = v.CustomersApi(adm).list_customer_activity("alice", type="customer.rewarded")
        assert len(act.data) == 1 and act.data[0].type == "customer.rewarded"
        again = v.ValidationsApi(gwc).validate_stacked_discounts(v.ValidationsValidateRequestBody.from_dict(
            {**red_body, "customer": {"source_id": "bob"}}))  # fmt: skip
        assert again.valid is False and again.redeemables[0].status == "INAPPLICABLE"
        assert loy_g.get_member(card.code).loyalty_card.balance == 540
        # R13. the custom-event variant: a programme converting on `signed_up`
        camp_e = v.CampaignsApi(adm).create_campaign(v.CampaignsCreateRequestBody.from_dict(
            {"name": "Refer on sign-up", "campaign_type": "REFERRAL_PROGRAM", "type": "AUTO_UPDATE", "join_once": True,
             "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 500},
                         "is_referral_code": True, "code_config": {"pattern": "SIGN-#####"}},
             "referral_program": {"conversion_event_type": "custom_event",
                                  "custom_event": {"id": "ms_signed_up", "name": "signed_up"}}}))  # fmt: skip
        rewards.create_reward_assignment(rew_rp.id, v.RewardsAssignmentsCreateRequestBody.from_dict(
            {"campaign": camp_e.id}))  # fmt: skip
        code_e = pubs.create_publication(join_once=True, publications_create_request_body=v.PublicationsCreateRequestBody.from_dict(
            {"campaign": {"name": "Refer on sign-up"}, "customer": {"source_id": "alice"}})).voucher.code  # fmt: skip
        ev = v.EventsApi(gwc).track_custom_event(v.EventsCreateRequestBody.from_dict(
            {"event": "signed_up", "customer": {"source_id": "carol"}, "referral": {"code": code_e}}))  # fmt: skip
        assert ev.type == "signed_up" and ev.customer.source_id == "carol"
        assert ev.referral is not None
        carol = v.CustomersApi(adm).get_customer("carol")
        assert carol.referrals.total == 1 and carol.referrals.campaigns[0].campaign_id == camp_e.id
        assert loy_g.get_member(card.code).loyalty_card.balance == 1040  # alice credited again
        assert v.CustomersApi(adm).get_customer("alice").loyalty.referred_customers == 2
