"""Property tests of the earning planner: for random programs, rules, tiers, orders and events,
the compiled and the pure twin plan exactly the same, and every plan keeps the house rules."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loyalty_helpers import BLOCKS, ldefs, normalize
from unit_helpers import NOW_MS, iso, rule, vrule

from core import model as m

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PROGRAMS = ["camp_A", "camp_B", "camp_C"]
SKUS = ["sku_1", "sku_2", "sku_3"]
PRODUCTS = [
    {"id": "prod_1", "collections": ["col_x"], "skus": [{"id": "sku_1"}, {"id": "sku_2"}]},
    {"id": "prod_2", "collections": ["col_y"], "skus": [{"id": "sku_3"}]},
]
VRULES = [
    vrule("v_amount", rule("order.amount", "$more_than_or_equal", 5000)),
    vrule("v_items", rule("order.items.any", "$in", "sku_1")),
    vrule("v_meta", rule("customer.metadata", "$is", "gold", prop="level")),
    vrule("v_first", rule("customer.orders.count", "$is", 0)),
    vrule("v_or", rule("order.items.quantity", "$more_than", 5), rule("customer.segment", "$in", "vip"),
          logic="1 or 2"),  # fmt: skip
]
ORDER_CALCS = [c for c in BLOCKS if c != "CUSTOM_EVENT_METADATA"]
EXPIRIES = [
    None,
    {"period_type": "MONTH", "period_value": 1},
    {"period_type": "MONTH", "period_value": 13, "rounding_type": "END_OF_QUARTER"},
    {"period_type": "MONTH", "period_value": 2, "rounding_type": "PARTICULAR_MONTH", "rounding_value": 1},
    {"period_type": "FIXED_DAY_OF_YEAR", "fixed_month": 2, "fixed_day": 29},
]


@st.composite
def loyalties(draw, event: str) -> dict:
    calcs = {"order.paid": ORDER_CALCS, "walked": ["CUSTOM_EVENT_METADATA", "CUSTOMER_METADATA"]}[event]
    if draw(st.booleans()):
        return {"type": "FIXED", "points": draw(st.integers(0, 500))}
    calc = draw(st.sampled_from(calcs))
    block: dict[str, Any] = {"every": draw(st.sampled_from([1, 7, 100, 1000])),
                             "points": draw(st.integers(0, 20))}  # fmt: skip
    if calc.endswith("METADATA"):
        block["property"] = "n"
    elif calc.startswith("ORDER_ITEMS") and draw(st.booleans()):
        obj, ident = draw(st.sampled_from([("sku", "sku_2"), ("product", "prod_1"),
                                           ("products_collection", "col_y")]))  # fmt: skip
        block.update(object=obj, id=ident)
    where, name = BLOCKS[calc]
    return {"type": "PROPORTIONAL", "calculation_type": calc, where: {name: block}}


@st.composite
def definitions(draw) -> m.Definitions:
    programs = [
        {"id": cid, "name": cid, "campaign_type": "LOYALTY_PROGRAM", "auto_join": draw(st.booleans()),
         "voucher": {"type": "LOYALTY_CARD", "loyalty_card": {"points": 0, "expiration_rules": draw(st.sampled_from(EXPIRIES))}}}
        for cid in PROGRAMS
    ]  # fmt: skip
    rules = []
    for i in range(draw(st.integers(0, 12))):
        event = draw(st.sampled_from(["order.paid", "order.paid", "walked"]))
        r: dict[str, Any] = {"id": f"ern_{i}", "campaign_id": draw(st.sampled_from(PROGRAMS)),
                             "event": event, "loyalty": draw(loyalties(event))}  # fmt: skip
        if draw(st.booleans()):
            r["validation_rule_id"] = draw(st.sampled_from([v["id"] for v in VRULES]))
        if draw(st.integers(0, 4)) == 0:
            r["expiration_rules"] = draw(st.sampled_from(EXPIRIES[1:]))
        if event == "order.paid" and draw(st.integers(0, 4)) == 0:
            r["pending_points"] = {"period_value": draw(st.integers(1, 90))}
        if draw(st.integers(0, 4)) == 0:
            r["validity_day_of_week"] = draw(st.lists(st.integers(0, 6), min_size=1, max_size=3))
        if draw(st.integers(0, 5)) == 0:
            r["start_date"] = iso(2026, 3, draw(st.integers(1, 8)))
        if draw(st.integers(0, 5)) == 0:
            r["active"] = False
        if draw(st.integers(0, 2)) == 0:
            r["limits"] = {"per_customer": {"count": draw(st.integers(1, 3)),
                                            "period": draw(st.sampled_from([None, "DAY", "WEEK", "MONTH"]))}}  # fmt: skip
        rules.append(r)
    tiers = []
    for cid in PROGRAMS:
        if draw(st.booleans()):
            continue
        mapped = [r["id"] for r in rules if r["campaign_id"] == cid]
        earning: dict[str, Any] = {}
        for rid in mapped:
            if draw(st.integers(0, 3)) == 0:
                continue
            earning[rid] = draw(st.one_of(
                st.builds(lambda x: {"type": "MULTIPLY", "multiplier": x / 100}, st.integers(1, 400)),
                st.builds(lambda p: {"type": "CUSTOM", "points": p}, st.integers(1, 50)),
            ))  # fmt: skip
        tiers.append({"id": f"ltr_{cid}", "campaign_id": cid, "points": {"from": 0}, "earning_rules": earning})
    return ldefs(programs, rules, tiers, vrules=VRULES, products=PRODUCTS)


@st.composite
def orders(draw) -> m.Order:
    items = []
    for _ in range(draw(st.integers(0, 5))):
        qty = draw(st.integers(0, 30))
        price = draw(st.integers(0, 5000))
        kw: dict[str, Any] = {}
        if draw(st.booleans()):
            kw["discount_amount"] = draw(st.integers(0, qty * price))
        elif draw(st.booleans()):
            kw["subtotal_amount"] = draw(st.integers(0, qty * price))
        items.append(m.OrderItem(sku_id=draw(st.sampled_from(SKUS)), quantity=qty, price=price,
                                 amount=qty * price, **kw))  # fmt: skip
    amount = draw(st.one_of(st.none(), st.integers(0, 200_000)))
    md = draw(st.sampled_from([None, {}, {"n": 17}, {"n": 12.75}, {"n": "33"}, {"n": "x"}, {"n": -4}]))
    return m.Order(
        id=draw(st.sampled_from([None, "ord_1"])),
        source_id="o-1",
        status="PAID",
        amount=amount,
        discount_amount=draw(st.one_of(st.none(), st.integers(0, 50_000))),
        items=items or None,
        metadata=md,
    )


@st.composite
def customers(draw) -> m.Customer:
    count = draw(st.one_of(st.none(), st.integers(0, 3)))
    return m.Customer(
        source_id=draw(st.sampled_from([None, "alice"])),
        metadata=draw(st.sampled_from([None, {"level": "gold", "n": 250}, {"n": "9"}])),
        segments=draw(st.sampled_from([None, ["vip"]])),
        summary=m.CustomerSummary(orders=m.CustomerOrdersSummary(total_count=count)),
    )


@st.composite
def cards(draw) -> dict:
    """Cards in some programs: a code, or a code and a tier (mostly the program's own)."""
    out: dict[str, Any] = {}
    for cid in PROGRAMS:
        kind = draw(st.integers(0, 4))
        if kind == 0:
            continue
        if kind == 1:
            out[cid] = "CODE"
        elif kind == 2:
            out[cid] = ("CODE", draw(st.sampled_from([None, "ltr_camp_A", "ltr_unknown"])))
        else:
            out[cid] = ("CODE", f"ltr_{cid}")
    return out


cards_st = cards()
now_st = st.integers(NOW_MS - 10 * 86_400_000, NOW_MS + 10 * 86_400_000)
counters_st = st.one_of(st.none(), st.just({}), st.dictionaries(st.text(max_size=3), st.integers(0, 3)))


def _check_house_rules(plan: Any, cards: dict, now: int) -> None:
    for a in plan.accruals:
        assert a.campaign_id in cards
        assert 0 < a.points <= 10**12
        assert a.expires_at_ms == -1 or a.expires_at_ms > now
        if a.pending:
            assert a.activates_at_ms > now and a.activates_at_ms % 86_400_000 == 0
            assert a.expires_at_ms == -1 or a.expires_at_ms > a.activates_at_ms
            assert a.pending_id.startswith("lopp_")
    assert not set(plan.join) & set(cards)
    assert len(plan.limits) == sum(1 for a in plan.accruals if a.limit is not None)


@SETTINGS
@given(d=definitions(), order=orders(), customer=customers(), cards=cards_st, now=now_st,
       counters=counters_st)  # fmt: skip
def test_twins_plan_the_same_paid_order(both_earnings, d, order, customer, cards, now, counters) -> None:
    if both_earnings is None:
        return
    plans = []
    for twin in both_earnings:
        ix = twin.compile_earning(d)
        plan = twin.plan_order_paid(ix, cards, customer, order, now, counters)
        _check_house_rules(plan, cards, now)
        plans.append(normalize(plan))
    assert plans[0] == plans[1]


@SETTINGS
@given(d=definitions(), customer=customers(), cards=cards_st, now=now_st,
       md=st.sampled_from([None, {"n": 4321}, {"n": "77.7"}]))  # fmt: skip
def test_twins_plan_the_same_event(both_earnings, d, customer, cards, now, md) -> None:
    if both_earnings is None:
        return
    plans = []
    for twin in both_earnings:
        ix = twin.compile_earning(d)
        plan = twin.plan_event(ix, cards, customer, "walked", md, now, "", "evt_1")
        _check_house_rules(plan, cards, now)
        plans.append(normalize(plan))
    assert plans[0] == plans[1]


@SETTINGS
@given(d=definitions(), pts=st.integers(0, 10**6))
def test_twins_agree_on_tiers_and_prices(both_earnings, d, pts) -> None:
    if both_earnings is None:
        return
    got = []
    for twin in both_earnings:
        ix = twin.compile_earning(d)
        got.append([(s.tier_id, s.next_tier_id, s.points_to_next)
                    for s in (twin.tier_for_points(ix, cid, pts) for cid in PROGRAMS)])  # fmt: skip
    assert got[0] == got[1]
