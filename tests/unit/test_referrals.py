"""Referral programmes in core: the referrer's rewards by tier (``core.referrals``), the
counters a referral code's redemption counts (``core._engine``), the store's key spelling of
them, and the refusal a service judges for one request (``Holder.refusing``)."""

from __future__ import annotations

import pytest
from unit_helpers import (
    NOW_MS,
    amount_off,
    campaign,
    customer,
    defs,
    item,
    order,
    red,
    run,
    status,
    voucher,
)

from core import model as m
from core.referrals import referrer_rewards
from store.referrals import conversions_key, referee_key, referrer_key

CART = order(item("a", 5000))


def _rp(**kw) -> m.ReferralProgram:
    return m.ReferralProgram(**kw)


def test_without_tiers_every_assigned_reward_pays_each_referee() -> None:
    assert referrer_rewards(None, ["a", "b"], 1) == [(None, "a"), (None, "b")]
    assert referrer_rewards(_rp(), ["a"], 7) == [(None, "a")]
    assert referrer_rewards(_rp(), ["a"], 0) == []


def test_tiers_pay_from_their_minimum_and_a_once_tier_only_at_it() -> None:
    rp = m.load_definitions({"campaigns": [{"id": "r", "name": "r", "campaign_type": "REFERRAL_PROGRAM",
        "voucher": {"discount": {"type": "AMOUNT", "amount_off": 1}},
        "referral_program": {"referral_tiers": [
            {"min_referees": 1, "rewards": ["p100"]},
            {"min_referees": 3, "once": True, "rewards": ["coupon"]},
            {"id": "gold", "min_referees": 5, "rewards": ["p1000", "unassigned"]}]}}],
        "rewards": [{"id": x, "parameters": {"product": {"id": "p"}}} for x in ("p100", "coupon", "p1000", "unassigned")],
    }).campaigns[0].referral_program  # fmt: skip
    assigned = ["p100", "coupon", "p1000"]
    got = {n: referrer_rewards(rp, assigned, n) for n in range(1, 8)}
    assert got[1] == got[2] == got[4] == [("rt_1", "p100")]
    assert got[3] == [("rt_1", "p100"), ("rt_3_once", "coupon")]
    assert got[5] == got[7] == [("rt_1", "p100"), ("gold", "p1000")]  # an unassigned reward pays nothing


def test_tier_ids_are_unique() -> None:
    with pytest.raises(ValueError, match="duplicate tier id"):
        _rp(referral_tiers=[m.ReferralTier(rewards=["a"]), m.ReferralTier(rewards=["b"])])


def _refdefs(**rp) -> m.Definitions:
    return defs(campaigns=[campaign("ref", amount_off(100), campaign_type="REFERRAL_PROGRAM",
                                    referral_program=rp)],
                vouchers=[voucher("REF-1", campaign_id="ref", customer_id="alice")])  # fmt: skip


def test_a_referral_redemption_counts_the_referee_once_and_the_referrer_within_its_limit(engine) -> None:
    ev = run(engine, _refdefs(max_referees=3), [red("REF-1")], CART, customer("bob"))
    keys = {op[0]: op[2] for op in ev.outcomes[0].ops}
    # the store spells the same keys (its conversion and rollback touch them)
    assert keys[referee_key("ref", {"id": "cust_x", "source_id": "bob"})] == 1
    assert keys[referrer_key("ref", "alice")] == 3
    assert conversions_key("ref", "alice") == "{c:ref}:conv:alice"
    # counted: a referee already referred, a referrer at its limit
    full = {referee_key("ref", {"id": "x", "source_id": "bob"}): 1}
    ev = run(engine, _refdefs(), [red("REF-1")], CART, customer("bob"), counters=full)
    assert status(ev) == [("REF-1", "INAPPLICABLE", "customer_already_referred")]
    ev = run(engine, _refdefs(max_referees=3), [red("REF-1")], CART, customer("bob"),
             counters={referrer_key("ref", "alice"): 3})  # fmt: skip
    assert status(ev) == [("REF-1", "INAPPLICABLE", "referral_limit_exceeded")]


def test_a_programme_converting_on_an_event_does_not_count_the_redemption(engine) -> None:
    d = _refdefs(conversion_event_type="custom_event", custom_event={"name": "signed_up"}, max_referees=1)
    ev = run(engine, d, [red("REF-1")], CART, customer("bob"))
    keys = [op[0] for op in ev.outcomes[0].ops]
    assert not any(":referee:" in k or ":referrer:" in k for k in keys), keys


def test_a_holder_refused_for_one_request_leaves_the_cached_one_alone(engine) -> None:
    d = _refdefs(new_customers_only=True)
    rs = engine.compile_ruleset(d)
    h = rs.vouchers["REF-1"]
    refused = h.refusing("customer_not_new")
    assert refused.refused == "customer_not_new" and h.refused == ""
    assert (refused.code, refused.customer, refused.referral) == (h.code, h.customer, h.referral)
    ev = engine.evaluate(rs, [red("REF-1")], customer("bob"), CART, NOW_MS, {"REF-1": refused}, None)
    assert status(ev) == [("REF-1", "INAPPLICABLE", "customer_not_new")]
    assert ev.outcomes[0].message == "the referral program is for new customers only"
    ev = engine.evaluate(rs, [red("REF-1")], customer("bob"), CART, NOW_MS, None, None)
    assert status(ev)[0][1] == "APPLICABLE"
