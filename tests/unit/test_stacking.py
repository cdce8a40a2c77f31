"""Stacking rules: limits, categories, exclusivity, ALL / PARTIAL, sorting, no-effect."""

from __future__ import annotations

from unit_helpers import (
    amount_off,
    campaign,
    customer,
    defs,
    item,
    line_discounts,
    order,
    percent_off,
    reds,
    run,
    status,
    target,
    voucher,
    vrule,
)

CART = order(item("a", 10000))


def _defs(**stacking):
    return defs(
        campaigns=[
            campaign("c_x1", amount_off(100), category="x"),
            campaign("c_x2", amount_off(300), category="x"),
            campaign("c_y", percent_off(10), category="y"),
            campaign("c_ex1", amount_off(50), category="ex1"),
            campaign("c_ex2", amount_off(60), category="ex2"),
            campaign("c_jt", amount_off(70), category="jt"),
        ],
        vouchers=[
            voucher("X1", campaign_id="c_x1"),
            voucher("X2", campaign_id="c_x2"),
            voucher("Y", campaign_id="c_y"),
            voucher("EX1", campaign_id="c_ex1"),
            voucher("EX2", campaign_id="c_ex2"),
            voucher("JT", campaign_id="c_jt"),
            voucher("N1", amount_off(10)),
            voucher("N2", amount_off(20)),
            voucher("N3", amount_off(30)),
            voucher("OFF", amount_off(1), active=False),
            voucher("ZERO", percent_off(50, "APPLY_TO_ITEMS"), validation_rules=["only_zzz"]),
            voucher("X3", amount_off(5), category="x"),  # the voucher's own category
        ],
        rules=[vrule("only_zzz", included=[target("zzz")])],
        categories=[{"id": "x", "hierarchy": 2}, {"id": "y", "hierarchy": 1}],
        stacking={"exclusive_categories": ["ex1", "ex2"], "joint_categories": ["jt"], **stacking},
    )


def test_applicable_redeemables_limit(engine) -> None:
    ev = run(engine, _defs(applicable_redeemables_limit=2), reds("N1", "N2", "N3"), CART)
    assert status(ev) == [
        ("N1", "APPLICABLE", ""),
        ("N2", "APPLICABLE", ""),
        ("N3", "SKIPPED", "applicable_redeemables_limit_exceeded"),
    ]
    assert ev.valid is True
    assert ev.discount_amount == 30
    assert ev.outcomes[2].message == "Applicable redeemables limit exceeded"


def test_default_applicable_limit_is_five(engine) -> None:
    d = defs(vouchers=[voucher(f"C{i}", amount_off(1)) for i in range(7)])
    ev = run(engine, d, reds(*[f"C{i}" for i in range(7)]), CART)
    assert [o.status for o in ev.outcomes] == ["APPLICABLE"] * 5 + ["SKIPPED"] * 2
    assert ev.discount_amount == 5


def test_per_category_limit(engine) -> None:
    ev = run(engine, _defs(), reds("X1", "X2", "Y", "X3"), CART)
    assert status(ev) == [
        ("X1", "APPLICABLE", ""),
        ("X2", "SKIPPED", "applicable_redeemables_per_category_limit_exceeded"),
        ("Y", "APPLICABLE", ""),
        ("X3", "SKIPPED", "applicable_redeemables_per_category_limit_exceeded"),
    ]
    assert ev.discount_amount == 100 + 990
    ev = run(engine, _defs(applicable_redeemables_per_category_limit=2), reds("X1", "X2", "X3"), CART)
    assert [o.status for o in ev.outcomes] == ["APPLICABLE", "APPLICABLE", "SKIPPED"]


def test_category_limits_map_overrides_the_default(engine) -> None:
    ev = run(engine, _defs(applicable_redeemables_category_limits={"x": 3}), reds("X1", "X2", "X3"), CART)
    assert [o.status for o in ev.outcomes] == ["APPLICABLE"] * 3
    assert ev.discount_amount == 405


def test_uncategorised_codes_have_no_category_limit(engine) -> None:
    ev = run(engine, _defs(), reds("N1", "N2", "N3"), CART)
    assert [o.status for o in ev.outcomes] == ["APPLICABLE"] * 3


def test_exclusive_category_admits_only_joint_ones(engine) -> None:
    # the exclusive one comes last in the request and still wins
    ev = run(engine, _defs(), reds("X1", "JT", "N1", "EX1"), CART)
    assert status(ev) == [
        ("X1", "SKIPPED", "exclusion_rules_not_met"),
        ("JT", "APPLICABLE", ""),
        ("N1", "SKIPPED", "exclusion_rules_not_met"),
        ("EX1", "APPLICABLE", ""),
    ]
    assert ev.discount_amount == 70 + 50


def test_exclusive_limit(engine) -> None:
    ev = run(engine, _defs(), reds("EX1", "EX2"), CART)
    assert status(ev) == [
        ("EX1", "APPLICABLE", ""),
        ("EX2", "SKIPPED", "applicable_exclusive_redeemables_limit_exceeded"),
    ]
    ev = run(engine, _defs(applicable_exclusive_redeemables_limit=2), reds("EX1", "EX2"), CART)
    assert [o.status for o in ev.outcomes] == ["APPLICABLE", "APPLICABLE"]
    assert ev.discount_amount == 110


def test_inapplicable_exclusive_does_not_exclude(engine) -> None:
    d = _defs(redeemables_application_mode="PARTIAL")
    ev = run(engine, d, reds("X1", "EX1"), CART, now_ms=0)  # both valid at epoch 0
    assert [o.status for o in ev.outcomes] == ["SKIPPED", "APPLICABLE"]


def test_all_mode_one_bad_skips_the_rest(engine) -> None:
    ev = run(engine, _defs(), reds("X1", "OFF", "Y"), CART)
    assert status(ev) == [
        ("X1", "SKIPPED", "preceding_validation_failed"),
        ("OFF", "INAPPLICABLE", "voucher_disabled"),
        ("Y", "SKIPPED", "preceding_validation_failed"),
    ]
    assert ev.valid is False
    assert (ev.discount_amount, ev.items_discount_amount, ev.total_amount) == (0, 0, 10000)
    assert all(o.total_discount == 0 and o.ops == [] for o in ev.outcomes)
    assert ev.plan == []


def test_partial_mode_applies_the_rest(engine) -> None:
    ev = run(engine, _defs(redeemables_application_mode="PARTIAL"), reds("X1", "OFF", "Y"), CART)
    assert status(ev) == [
        ("X1", "APPLICABLE", ""),
        ("OFF", "INAPPLICABLE", "voucher_disabled"),
        ("Y", "APPLICABLE", ""),
    ]
    assert ev.valid is True
    assert ev.discount_amount == 100 + 990
    assert ev.total_amount == 8910
    assert [op[0] for op in ev.plan][0] == "{c:c_x1}:v:X1:uses"


def test_partial_mode_all_bad_is_not_valid(engine) -> None:
    ev = run(engine, _defs(redeemables_application_mode="PARTIAL"), reds("OFF", "NOPE"), CART)
    assert ev.valid is False
    assert ev.total_amount == 10000


def test_all_mode_late_failure_rolls_everything_back(engine) -> None:
    d = defs(
        campaigns=[campaign("c", amount_off(100), limits={"redemptions": 5})],
        vouchers=[voucher("A", campaign_id="c"), voucher("B", percent_off(10))],
    )
    ev = run(engine, d, reds("B", "A"), CART, counters={"{c:c}:uses": 5})
    assert status(ev) == [("B", "SKIPPED", "preceding_validation_failed"), ("A", "INAPPLICABLE", "quantity_exceeded")]
    assert (ev.valid, ev.discount_amount, ev.total_amount) == (False, 0, 10000)
    assert ev.outcomes[0].total_discount == 0 and ev.outcomes[0].ops == []


def test_requested_order_vs_category_hierarchy(engine) -> None:
    # X1 (100 off, hierarchy 2) then Y (10 %, hierarchy 1)
    ev = run(engine, _defs(), reds("X1", "Y"), CART)
    assert [o.total_discount for o in ev.outcomes] == [100, 990]  # 10 % of 9900
    assert ev.total_amount == 8910
    ev = run(engine, _defs(redeemables_sorting_rule="CATEGORY_HIERARCHY"), reds("X1", "Y"), CART)
    assert [o.total_discount for o in ev.outcomes] == [100, 1000]  # Y first: 10 % of 10000
    assert ev.total_amount == 8900
    # the per-redeemable `order` follows the order of application
    assert (ev.outcomes[1].discount_after, ev.outcomes[0].discount_after) == (1000, 1100)
    # outcomes stay in request order
    assert [o.id for o in ev.outcomes] == ["X1", "Y"]


def test_category_hierarchy_decides_which_one_the_category_limit_skips(engine) -> None:
    d = defs(
        vouchers=[voucher("LOW", amount_off(10), category="lo"), voucher("HIGH", amount_off(20), category="hi")],
        categories=[{"id": "lo", "hierarchy": 5}, {"id": "hi", "hierarchy": 1}],
        stacking={"redeemables_sorting_rule": "CATEGORY_HIERARCHY", "applicable_redeemables_limit": 1},
    )
    ev = run(engine, d, reds("LOW", "HIGH"), CART)
    assert status(ev) == [("LOW", "SKIPPED", "applicable_redeemables_limit_exceeded"), ("HIGH", "APPLICABLE", "")]


def test_no_effect_rule(engine) -> None:
    ev = run(engine, _defs(redeemables_no_effect_rule="SKIP"), reds("ZERO", "N1"), CART)
    assert status(ev) == [("ZERO", "SKIPPED", "no_effect"), ("N1", "APPLICABLE", "")]
    assert ev.outcomes[0].ops == []
    assert ev.valid is True
    ev = run(engine, _defs(), reds("ZERO", "N1"), CART)  # REDEEM_ANYWAY is the default
    assert status(ev) == [("ZERO", "APPLICABLE", ""), ("N1", "APPLICABLE", "")]
    assert ev.outcomes[0].total_discount == 0


def test_skipped_ones_do_not_count_against_limits(engine) -> None:
    ev = run(engine, _defs(redeemables_no_effect_rule="SKIP", applicable_redeemables_limit=1), reds("ZERO", "N1"), CART)
    assert status(ev) == [("ZERO", "SKIPPED", "no_effect"), ("N1", "APPLICABLE", "")]


def test_stacked_discounts_never_go_below_zero(engine) -> None:
    d = defs(vouchers=[voucher("BIG", amount_off(8000)), voucher("P50", percent_off(50)),
                       voucher("BIG2", amount_off(8000)), voucher("ITEMS", percent_off(50, "APPLY_TO_ITEMS"))])  # fmt: skip
    ev = run(engine, d, reds("BIG", "P50", "BIG2", "ITEMS"), CART)
    assert [o.total_discount for o in ev.outcomes] == [8000, 1000, 1000, 0]
    assert ev.total_amount == 0
    assert line_discounts(ev) == [0]


def test_items_then_order_discounts_chain(engine) -> None:
    d = defs(vouchers=[voucher("I", percent_off(10, "APPLY_TO_ITEMS")), voucher("O", percent_off(10))])
    ev = run(engine, d, reds("I", "O"), order(item("a", 5000), item("b", 5000)), customer())
    assert [o.total_discount for o in ev.outcomes] == [1000, 900]
    assert (ev.items_discount_amount, ev.discount_amount, ev.total_amount) == (1000, 900, 8100)
    assert ev.total_discount_amount == 1900
