"""Qualifications: candidates from the index, sorting, live limits."""

from __future__ import annotations

from unit_helpers import (
    NOW_MS,
    amount_off,
    campaign,
    customer,
    defs,
    item,
    order,
    percent_off,
    promotion,
    rule,
    target,
    tier,
    voucher,
    vrule,
)

from core import model as m


def _defs():
    rules = [vrule(f"r_{i}", included=[target(f"sku_other_{i}", "sku")]) for i in range(10)]
    rules.append(vrule("r_shoe", included=[target("shoe", "product")]))
    rules.append(vrule("r_need_hat", rule("order.items.any", "$is", "hat")))
    rules.append(vrule("r_big", rule("order.amount", "$more_than", 100000)))
    campaigns = [
        promotion(f"other_{i}", tier(f"promo_other_{i}", percent_off(50, "APPLY_TO_ITEMS"), f"r_{i}"), created_seq=10 + i)
        for i in range(10)
    ]
    campaigns += [
        promotion("shoes", tier("promo_shoe", percent_off(10, "APPLY_TO_ITEMS"), "r_shoe"), created_seq=3),
        promotion("hats", tier("promo_hat", amount_off(300), "r_need_hat"), created_seq=4),
        promotion("always", tier("promo_always", amount_off(100)), created_seq=2),
        promotion("big", tier("promo_big", amount_off(9999)), validation_rules=["r_big"], created_seq=5),
        campaign("generic", amount_off(250), created_seq=1),
        campaign("mine", percent_off(5), created_seq=6),
        campaign("capped", amount_off(700), limits={"redemptions": 10}, created_seq=7),
    ]
    return defs(
        campaigns=campaigns,
        vouchers=[
            voucher("GEN", campaign_id="generic"),
            voucher("MINE", campaign_id="mine", customer_id="cust_1"),
            voucher("THEIRS", campaign_id="mine", customer_id="cust_2"),
            voucher("CAP", campaign_id="capped"),
        ],
        rules=rules,
        products=[{"id": "boot", "categories": ["footwear"]}],
    )


CART = order(item("shoe", 4000), item("sock", 500))  # 4500


def test_index_narrows_candidates(engine) -> None:
    rs = engine.compile_ruleset(_defs())
    found = {h.id for h in engine.candidates(rs, customer(), CART)}
    assert not any(i.startswith("promo_other_") for i in found)  # never even evaluated
    assert {"promo_shoe", "promo_always", "promo_big", "GEN", "MINE", "CAP"} <= found
    assert "promo_hat" not in found  # needs a hat in the cart
    assert "THEIRS" not in found
    assert set(rs.by_item) >= {"shoe", "hat"} | {f"sku_other_{i}" for i in range(10)}
    found = {h.id for h in engine.candidates(rs, customer(), order(item("x", 1, sku="sku_other_3")))}
    assert "promo_other_3" in found and "promo_other_4" not in found


def test_qualify_default_sorting(engine) -> None:
    rs = engine.compile_ruleset(_defs())
    got = engine.qualify(rs, customer(), CART, NOW_MS)
    assert [(o.id, o.total_discount) for o in got] == [
        ("GEN", 250),
        ("promo_always", 100),
        ("promo_shoe", 400),
        ("MINE", 225),
        ("CAP", 700),
    ]
    assert all(o.status == "APPLICABLE" for o in got)
    shoe = next(o for o in got if o.id == "promo_shoe")
    assert shoe.object == "promotion_tier"
    assert shoe.item_discounts == [(0, 400)]
    assert (shoe.amount_after, shoe.items_discount_after) == (4500, 400)
    assert shoe.ops[0] == ("{c:shoes}:t:promo_shoe:uses", 1, -1, "quantity_exceeded", 0, 0)


def test_qualify_best_and_least_deal(engine) -> None:
    rs = engine.compile_ruleset(_defs())
    best = engine.qualify(rs, customer(), CART, NOW_MS, sorting="BEST_DEAL")
    assert [o.id for o in best] == ["CAP", "promo_shoe", "GEN", "MINE", "promo_always"]
    least = engine.qualify(rs, customer(), CART, NOW_MS, sorting="LEAST_DEAL")
    assert [o.id for o in least] == ["promo_always", "MINE", "GEN", "promo_shoe", "CAP"]


def test_qualify_each_candidate_is_evaluated_alone(engine) -> None:
    rs = engine.compile_ruleset(_defs())
    got = engine.qualify(rs, customer(), CART, NOW_MS)
    # every one sees the full cart, not what the others left
    assert all(o.amount_after == 4500 for o in got)
    assert all(o.discount_after + o.items_discount_after == o.total_discount for o in got)
    assert next(o for o in got if o.id == "MINE").total_discount == 225


def test_qualify_customer_assigned_and_anonymous(engine) -> None:
    rs = engine.compile_ruleset(_defs())
    ids = [o.id for o in engine.qualify(rs, customer("cust_2"), CART, NOW_MS)]
    assert "THEIRS" in ids and "MINE" not in ids
    ids = [o.id for o in engine.qualify(rs, None, CART, NOW_MS)]
    assert "THEIRS" not in ids and "MINE" not in ids and "GEN" in ids


def test_qualify_rules_and_items(engine) -> None:
    rs = engine.compile_ruleset(_defs())
    cart = order(item("hat", 2000), item("shoe", 200000))
    ids = [o.id for o in engine.qualify(rs, customer(), cart, NOW_MS)]
    assert "promo_hat" in ids and "promo_big" in ids
    assert "promo_big" not in [o.id for o in engine.qualify(rs, customer(), CART, NOW_MS)]


def test_qualify_live_limits(engine) -> None:
    rs = engine.compile_ruleset(_defs())
    ids = [o.id for o in engine.qualify(rs, customer(), CART, NOW_MS, counters={"{c:capped}:uses": 9})]
    assert "CAP" in ids
    ids = [o.id for o in engine.qualify(rs, customer(), CART, NOW_MS, counters={"{c:capped}:uses": 10})]
    assert "CAP" not in ids
    assert "GEN" in ids


def test_qualify_wallet_vouchers(engine) -> None:
    rs = engine.compile_ruleset(_defs())
    wallet = {"W1": m.Voucher(code="W1", campaign_id="generic")}
    got = engine.qualify(rs, customer(), CART, NOW_MS, vouchers=wallet)
    assert "W1" in [o.id for o in got]


def test_qualify_skips_expired_and_no_effect(engine) -> None:
    d = defs(
        campaigns=[
            promotion("old", tier("promo_old", amount_off(100)), expiration_date="2020-01-01T00:00:00Z"),
            promotion("none", tier("promo_none", percent_off(10, "APPLY_TO_ITEMS"), "r")),
        ],
        rules=[vrule("r", included=[target("boot")])],
    )
    rs = engine.compile_ruleset(d)
    assert engine.qualify(rs, customer(), CART, NOW_MS) == []


def test_qualify_category_targets_through_the_catalogue(engine) -> None:
    d = defs(
        campaigns=[promotion("fw", tier("promo_fw", percent_off(20, "APPLY_TO_ITEMS"), "r"))],
        rules=[vrule("r", included=[target("footwear", "category")])],
        products=[{"id": "boot", "categories": ["footwear"], "skus": [{"id": "boot_42"}]}],
    )
    rs = engine.compile_ruleset(d)
    assert rs.always == []
    got = engine.qualify(rs, customer(), order(m.OrderItem(sku_id="boot_42", price=5000)), NOW_MS)
    assert [(o.id, o.total_discount) for o in got] == [("promo_fw", 1000)]
    assert engine.qualify(rs, customer(), order(item("hat", 5000)), NOW_MS) == []


def test_within_limits_matches_a_second_qualify_with_counters(engine) -> None:
    d = defs(
        campaigns=[campaign("c1", amount_off(100), limits={"redemptions": 2}),
                   campaign("c2", amount_off(200), limits={"redemptions": 9})],
        vouchers=[voucher("A", campaign_id="c1"), voucher("B", campaign_id="c2")],
    )  # fmt: skip
    rs = engine.compile_ruleset(d)
    o = m.Order(amount=1000)
    first = engine.qualify(rs, None, o, NOW_MS)
    assert not engine.shows_balance(first)
    counters = {"{c:c1}:uses": 2, "{c:c2}:uses": 3}
    kept = [x.id for x in engine.within_limits(first, counters)]
    again = [x.id for x in engine.qualify(rs, None, o, NOW_MS, None, counters)]
    assert kept == again == ["B"]
