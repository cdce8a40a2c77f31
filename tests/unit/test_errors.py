"""Per-redeemable error keys (INAPPLICABLE) and request errors (RequestError)."""

from __future__ import annotations

import pytest
from unit_helpers import (
    NOW_MS,
    amount_off,
    campaign,
    customer,
    defs,
    iso,
    item,
    ms,
    order,
    promotion,
    red,
    reds,
    run,
    status,
    tier,
    voucher,
)

from core.errors import RequestError

CART = order(item("a", 5000))


def _key(engine, d, ident="CODE", obj="voucher", cust=None, now=NOW_MS, **kw) -> tuple[str, str]:
    ev = run(engine, d, [red(ident, obj)], CART, cust if cust is not None else customer(), now_ms=now, **kw)
    o = ev.outcomes[0]
    if o.status == "APPLICABLE":
        assert ev.discount_amount == 100
    else:
        assert ev.valid is False
        assert ev.total_amount == 5000
    return o.status, o.key


def _code(**kw) -> object:
    return defs(vouchers=[voucher("CODE", amount_off(100), **kw)])


def test_applicable_baseline(engine) -> None:
    assert _key(engine, _code()) == ("APPLICABLE", "")


@pytest.mark.parametrize(
    ("kw", "key"),
    [
        ({"expiration_date": iso(2026, 3, 4, 12, 30)}, "voucher_expired"),  # ends exactly now
        ({"expiration_date": iso(2026, 3, 1)}, "voucher_expired"),
        ({"expiration_date": iso(2026, 3, 4, 12, 31)}, ""),
        ({"start_date": iso(2026, 3, 5)}, "voucher_not_active"),
        ({"start_date": iso(2026, 3, 4, 12, 30)}, ""),  # starts exactly now
        ({"active": False}, "voucher_disabled"),
    ],
)
def test_voucher_state_and_dates(engine, kw: dict, key: str) -> None:
    assert _key(engine, _code(**kw))[1] == key


# NOW is Wednesday (3; Sunday = 0) 12:30 UTC
@pytest.mark.parametrize(
    ("kw", "key"),
    [
        ({"validity_day_of_week": [1, 2]}, "voucher_not_active_now"),
        ({"validity_day_of_week": [3]}, ""),
        ({"validity_hours": [{"start": "09:00", "end": "12:30"}]}, "voucher_not_active_now"),
        ({"validity_hours": [{"start": "12:30", "end": "13:00"}]}, ""),
        ({"validity_hours": [{"start": "22:00", "end": "13:00"}]}, ""),  # wraps midnight
        ({"validity_hours": [{"start": "22:00", "end": "06:00"}]}, "voucher_not_active_now"),
        ({"validity_hours": [{"start": "01:00", "end": "02:00"}, {"start": "12:00", "end": "24:00"}]}, ""),
        (
            {"validity_timeframe": {"interval": "P1D", "duration": "PT12H"}, "start_date": iso(2026, 3, 1)},
            "voucher_not_active_now",
        ),
        (
            {"validity_timeframe": {"interval": "P1D", "duration": "PT12H31M"}, "start_date": iso(2026, 3, 1)},
            "",
        ),
        (
            {"validity_timeframe": {"interval": "P7D", "duration": "P1D"}, "start_date": iso(2026, 3, 4)},
            "",
        ),
        (
            {"validity_timeframe": {"interval": "P7D", "duration": "P1D"}, "start_date": iso(2026, 3, 3)},
            "voucher_not_active_now",
        ),
        ({"active": False}, "voucher_disabled"),
        ({"expiration_date": iso(2026, 1, 1)}, "voucher_expired"),
        ({"start_date": iso(2027, 1, 1)}, "voucher_not_active"),
    ],
)
def test_campaign_windows_for_codes(engine, kw: dict, key: str) -> None:
    d = defs(campaigns=[campaign("c", amount_off(100), **kw)], vouchers=[voucher("CODE", campaign_id="c")])
    assert _key(engine, d)[1] == key


@pytest.mark.parametrize(
    ("camp_kw", "tier_kw", "key"),
    [
        ({}, {}, ""),
        ({"active": False}, {}, "promotion_inactive"),
        ({}, {"active": False}, "promotion_inactive"),
        ({"expiration_date": iso(2026, 3, 1)}, {}, "promotion_inactive"),
        ({}, {"start_date": iso(2026, 4, 1)}, "promotion_inactive"),
        ({"validity_day_of_week": [0, 6]}, {}, "promotion_not_active_now"),
        ({"validity_hours": [{"start": "13:00", "end": "14:00"}]}, {}, "promotion_not_active_now"),
    ],
)
def test_promotion_tier_keys(engine, camp_kw: dict, tier_kw: dict, key: str) -> None:
    d = defs(campaigns=[promotion("p", tier("promo_1", amount_off(100), **tier_kw), **camp_kw)])
    assert _key(engine, d, "promo_1", "promotion_tier")[1] == key


def test_moving_the_clock(engine) -> None:
    d = _code(start_date=iso(2026, 3, 10), expiration_date=iso(2026, 3, 20))
    assert _key(engine, d, now=ms(2026, 3, 9, 23, 59))[1] == "voucher_not_active"
    assert _key(engine, d, now=ms(2026, 3, 10))[1] == ""
    assert _key(engine, d, now=ms(2026, 3, 19, 23, 59))[1] == ""
    assert _key(engine, d, now=ms(2026, 3, 20))[1] == "voucher_expired"


def test_resource_not_found(engine) -> None:
    ev = run(engine, _code(), [red("NOPE"), red("promo_x", "promotion_tier")], CART)
    assert status(ev) == [
        ("NOPE", "INAPPLICABLE", "resource_not_found"),
        ("promo_x", "INAPPLICABLE", "resource_not_found"),
    ]
    assert ev.outcomes[0].message == "Cannot find voucher with id NOPE"
    # a code is not a promotion tier
    assert _key(engine, _code(), "CODE", "promotion_tier")[1] == "resource_not_found"


def test_missing_customer_for_per_customer_limits(engine) -> None:
    d = defs(
        campaigns=[campaign("c", amount_off(100), limits={"per_customer": 1})],
        vouchers=[voucher("CODE", campaign_id="c")],
    )
    ev = run(engine, d, reds("CODE"), CART, None)
    assert status(ev) == [("CODE", "INAPPLICABLE", "missing_customer")]
    ev = run(engine, d, reds("CODE"), CART, customer(None, email="x@y.z"))
    assert status(ev) == [("CODE", "INAPPLICABLE", "missing_customer")]
    assert _key(engine, d) == ("APPLICABLE", "")
    d = defs(vouchers=[voucher("CODE", amount_off(100), redemption={"per_customer": 2})])
    ev = run(engine, d, reds("CODE"), CART, None)
    assert status(ev) == [("CODE", "INAPPLICABLE", "missing_customer")]


def test_code_assigned_to_another_customer(engine) -> None:
    d = _code(customer_id="cust_9")
    assert _key(engine, d, cust=customer("cust_1")) == ("INAPPLICABLE", "customer_rules_violated")
    ev = run(engine, d, reds("CODE"), CART, customer("cust_1"))
    assert ev.outcomes[0].message == "voucher is assigned to another customer"
    assert _key(engine, d, cust=customer("cust_9")) == ("APPLICABLE", "")
    from core import model as m

    assert _key(engine, d, cust=m.Customer(id="cust_9")) == ("APPLICABLE", "")
    ev = run(engine, d, reds("CODE"), CART, None)
    assert ev.outcomes[0].key == "customer_rules_violated"


def test_a_referral_code_is_redeemed_by_anyone_named_but_its_referrer(engine) -> None:
    """A referral code's holder is the referrer: a named friend redeems it, the referrer is
    refused (``referrer_not_permitted_to_redeem``), nobody named is ``missing_customer``."""
    from core import model as m

    d = defs(campaigns=[campaign("ref", amount_off(100), campaign_type="REFERRAL_PROGRAM")],
             vouchers=[voucher("REF-1", campaign_id="ref", customer_id="alice")])  # fmt: skip
    assert _key(engine, d, "REF-1", cust=customer("bob")) == ("APPLICABLE", "")
    assert _key(engine, d, "REF-1", cust=m.Customer(id="cust_bob")) == ("APPLICABLE", "")
    for referrer in (customer("alice"), m.Customer(id="alice")):
        ev = run(engine, d, reds("REF-1"), CART, referrer)
        assert status(ev) == [("REF-1", "INAPPLICABLE", "referrer_not_permitted_to_redeem")]
        assert ev.outcomes[0].message == "the referral code is being redeemed by the referrer"
    assert status(run(engine, d, reds("REF-1"), CART, None)) == [
        ("REF-1", "INAPPLICABLE", "missing_customer")]  # fmt: skip
    # a coupon of another campaign type published to alice stays hers alone
    d2 = defs(campaigns=[campaign("c", amount_off(100))],
              vouchers=[voucher("C-1", campaign_id="c", customer_id="alice")])  # fmt: skip
    assert _key(engine, d2, "C-1", cust=customer("bob"))[1] == "customer_rules_violated"
    assert _key(engine, d2, "C-1", cust=customer("alice")) == ("APPLICABLE", "")


def test_quantity_exceeded_via_counters(engine) -> None:
    d = _code(redemption={"quantity": 3})
    assert _key(engine, d, counters={"{v:CODE}:v:CODE:uses": 2}) == ("APPLICABLE", "")
    assert _key(engine, d, counters={"{v:CODE}:v:CODE:uses": 3}) == ("INAPPLICABLE", "quantity_exceeded")
    assert _key(engine, d) == ("APPLICABLE", "")  # no counters: the plan carries the limit


def test_vouchers_looked_up_outside_the_ruleset(engine) -> None:
    from core import model as m

    d = defs(campaigns=[campaign("c", amount_off(100))])
    ext = {"EXT-1": m.Voucher(code="EXT-1", campaign_id="c")}
    ev = run(engine, d, [red("EXT-1")], CART, vouchers=ext)
    assert status(ev) == [("EXT-1", "APPLICABLE", "")]
    assert ev.discount_amount == 100
    ev = run(engine, d, [red("EXT-2")], CART, vouchers=ext)
    assert status(ev) == [("EXT-2", "INAPPLICABLE", "resource_not_found")]


# ----------------------------------------------------------------------------- request errors


def test_no_redeemables(engine) -> None:
    with pytest.raises(RequestError) as exc:
        run(engine, _code(), [], CART)
    assert exc.value.key == "invalid_redeemables"
    assert "at least one" in exc.value.message


def test_too_many_redeemables(engine) -> None:
    d = defs(vouchers=[voucher(f"C{i}", amount_off(1)) for i in range(31)])
    with pytest.raises(RequestError) as exc:
        run(engine, d, [red(f"C{i}") for i in range(31)], CART)
    assert exc.value.key == "invalid_redeemables"
    assert "at most 30" in exc.value.message
    ev = run(engine, d, [red(f"C{i}") for i in range(30)], CART)  # 30 is fine
    assert len(ev.outcomes) == 30
    d = defs(vouchers=[voucher(f"C{i}", amount_off(1)) for i in range(3)], stacking={"redeemables_limit": 2})
    with pytest.raises(RequestError) as exc:
        run(engine, d, [red("C0"), red("C1"), red("C2")], CART)
    assert "at most 2" in exc.value.message


def test_duplicated_redeemables(engine) -> None:
    with pytest.raises(RequestError) as exc:
        run(engine, _code(), [red("CODE"), red("CODE")], CART)
    assert exc.value.key == "duplicated_redeemables"
    assert "CODE" in exc.value.message
    # the same id as a voucher and as a tier is not a duplicate
    ev = run(engine, _code(), [red("CODE"), red("CODE", "promotion_tier")], CART)
    assert len(ev.outcomes) == 2
