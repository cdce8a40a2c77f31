"""Pay with points, as core plans it (both twins): a card of a wallet program (a LOYALTY_PROGRAM
with rewards, earning rules or tiers) spends its live balance through a COIN reward of its
program; the plan carries no points counter for it, ``debits()`` names the card and the points,
``cards_for()`` the balance a second pass reads. Cards of a program without any keep the older
fixed budget (test_discounts.py)."""

from __future__ import annotations

from typing import Any

import pytest
from unit_helpers import customer, defs, item, loyalty_campaign, order, red, run, status, voucher

from core import model as m

CARD_KEY = "{c:lc}:lc:CARD"


def program(
    exchange_ratio: float = 1, points_ratio: int | str = "10", **extra: Any
) -> m.Definitions:
    return defs(
        campaigns=[loyalty_campaign("lc", 0)],
        vouchers=[
            voucher("CARD", campaign_id="lc", customer_id="cust_A"),
            voucher("FREE", campaign_id="lc"),
        ],  # fmt: skip
        rewards=[
            {
                "id": "rew_P",
                "name": "Pay with points",
                "parameters": {
                    "coin": {"exchange_ratio": exchange_ratio, "points_ratio": points_ratio}
                },
            },
            {"id": "rew_M", "parameters": {"product": {"id": "p"}}},
        ],  # fmt: skip
        reward_assignments=[
            {"id": "rewa_P", "reward_id": "rew_P", "campaign_id": "lc"},
            {"id": "rewa_M", "reward_id": "rew_M", "campaign_id": "lc", "points": 100},
        ],
        **extra,
    )


ALICE = m.Customer(id="cust_A", source_id="alice")


def pay(points: int | None = 30, reward: str | None = "rew_P", code: str = "CARD") -> m.Redeemable:
    return red(code, points=points, reward=reward)


def test_a_card_of_a_wallet_program_spends_its_live_balance(engine) -> None:
    d = program()
    ev = run(engine, d, [pay(30)], order(item("a", 10000)), ALICE, counters={CARD_KEY: 50})
    o = ev.outcomes[0]
    assert (o.status, o.points, o.points_balance, o.order_discount) == ("APPLICABLE", 30, 20, 300)
    assert (ev.discount_amount, ev.items_discount_amount, ev.total_amount) == (300, 0, 9700)
    assert o.reward.id == "rew_P" and o.reward.assignment_id == "rewa_P"
    assert not any(op[0].endswith(":points") for op in ev.plan), ev.plan  # the debit is apart
    assert engine.debits(ev) == [(o, "lc", "CARD", 30)]
    assert engine.cards_for(ev.outcomes) == [(CARD_KEY, "lc", "CARD")]
    ev = run(engine, d, [pay(60)], order(item("a", 10000)), ALICE, counters={CARD_KEY: 50})
    assert status(ev) == [("CARD", "INAPPLICABLE", "loyalty_card_points_exceeded")]
    assert engine.debits(ev) == []


def test_without_counters_the_plan_trusts_the_script(engine) -> None:
    ev = run(engine, program(), [pay(500)], order(item("a", 10000)), ALICE)
    assert status(ev) == [("CARD", "APPLICABLE", "")]
    assert ev.outcomes[0].points_balance == -1 and not ev.needs_counters
    assert not engine.counters_change_nothing(ev, {})
    ev = run(engine, program(), [pay(None)], order(item("a", 10000)), ALICE)
    assert ev.needs_counters


@pytest.mark.parametrize(
    ("amount", "asked", "balance", "points", "discount"),
    [
        (10000, None, 50, 50, 500),  # no points asked: the balance, up to the order's need
        (234, None, 50, 24, 234),  # 2.34 needs 23.4 points: 24 (worth 2.40, capped)
        (234, 45, 50, 24, 234),  # more than the order needs: only what it needs
        (10000, 50, 50, 50, 500),
    ],
)
def test_points_spent(engine, amount, asked, balance, points, discount) -> None:
    ev = run(
        engine, program(), [pay(asked)], order(amount=amount), ALICE, counters={CARD_KEY: balance}
    )
    o = ev.outcomes[0]
    assert (o.status, o.points, o.order_discount) == ("APPLICABLE", points, discount)


def test_exchange_ratio_is_exact(engine) -> None:
    """100 points = 20.00 (Voucherify's example); 3 points = 0.10 with 30 = 1.00; a ratio that
    is no binary fraction (0.1) is still exact; value rounds down."""
    ev = run(
        engine, program(20, 100), [pay(100)], order(amount=10000), ALICE, counters={CARD_KEY: 100}
    )
    assert ev.discount_amount == 2000
    ev = run(engine, program(1, 30), [pay(3)], order(amount=10000), ALICE, counters={CARD_KEY: 100})
    assert ev.discount_amount == 10
    ev = run(
        engine, program(0.1, 1), [pay(7)], order(amount=10000), ALICE, counters={CARD_KEY: 100}
    )
    assert ev.discount_amount == 70
    ev = run(engine, program(1, 3), [pay(1)], order(amount=10000), ALICE, counters={CARD_KEY: 100})
    assert ev.discount_amount == 33


@pytest.mark.parametrize(
    ("redeemable", "key"),
    [
        (red("CARD"), "missing_reward"),
        (pay(30, reward=None), "missing_reward"),
        (pay(30, reward="rew_nope"), "not_found"),
        (pay(30, reward="rew_M"), "missing_reward"),
        (pay(0), "invalid_amount"),
    ],
)
def test_refusals(engine, redeemable, key) -> None:
    ev = run(engine, program(), [redeemable], order(amount=10000), ALICE, counters={CARD_KEY: 50})
    assert status(ev) == [("CARD", "INAPPLICABLE", key)]
    assert ev.outcomes[0].details
    assert ev.total_amount == 10000


def test_no_points_to_spend(engine) -> None:
    ev = run(engine, program(), [pay(None)], order(amount=10000), ALICE, counters={CARD_KEY: 0})
    assert status(ev) == [("CARD", "INAPPLICABLE", "loyalty_card_points_exceeded")]


def test_a_card_pays_for_its_holder_or_for_nobody_named(engine) -> None:
    cart = order(amount=10000)
    ev = run(engine, program(), [pay(10)], cart, customer("bob"), counters={CARD_KEY: 50})
    assert status(ev) == [("CARD", "INAPPLICABLE", "customer_rules_violated")]
    ev = run(engine, program(), [pay(10)], cart, None, counters={CARD_KEY: 50})
    assert status(ev) == [("CARD", "APPLICABLE", "")]
    ev = run(engine, program(), [pay(10, code="FREE")], cart, customer("bob"),
             counters={"{c:lc}:lc:FREE": 50})  # fmt: skip
    assert status(ev) == [("FREE", "APPLICABLE", "")]


def test_earning_rules_or_tiers_alone_make_a_wallet_program(engine) -> None:
    base = {
        "campaigns": [loyalty_campaign("lc", 1000)],
        "vouchers": [voucher("CARD", campaign_id="lc")],
    }
    rule = {"id": "ern_1", "campaign_id": "lc", "event": "order.paid",
            "loyalty": {"type": "FIXED", "points": 1}}  # fmt: skip
    ev = run(engine, defs(**base, earning_rules=[rule]), [pay(10)], order(amount=1000), None,
             counters={CARD_KEY: 50})  # fmt: skip
    assert status(ev) == [("CARD", "INAPPLICABLE", "not_found")]  # no COIN reward assigned
    ev = run(engine, defs(**base), [pay(10)], order(amount=1000), None, counters={})
    assert status(ev) == [("CARD", "APPLICABLE", "")]  # the older kind: a 1000-point budget
    assert any(op[0] == "{c:lc}:v:CARD:points" for op in ev.plan)


def test_wallet_cards_are_not_qualified(engine) -> None:
    d = program()
    rs = engine.compile_ruleset(d)
    assert engine.qualify(rs, ALICE, order(amount=10000), 0) == []


def test_a_stored_member_card_resolves_as_a_wallet_card(engine) -> None:
    rs = engine.compile_ruleset(program())
    h = engine.holder_for_voucher(
        rs, m.Voucher(code="CLUB-1", campaign_id="lc", customer_id="cust_A")
    )
    assert h.wallet and h.k_card == "{c:lc}:lc:CLUB-1" and h.customer == "cust_A"
