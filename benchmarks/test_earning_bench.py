"""Earning planner benchmark: one paid order against 100 earning rules, compiled against its
pure-Python twin, in one run.

The workload (issue 10): 10 loyalty programmes of 10 ``order.paid`` rules each, every
calculation type of an order (FIXED, ORDER_AMOUNT, ORDER_TOTAL_AMOUNT, ORDER_METADATA,
CUSTOMER_METADATA and the three items calculations, each programme filtering its own SKU or
collection), a third of them behind a validation rule of their programme (order amount and
customer metadata, judged by the checkout engine's evaluator), one with a day-of-week window,
expiry rules with rounding, two with pending points, one with a per-customer daily limit; the
customer holds a card in every programme, in a tier that multiplies one rule and replaces
another. The 10-item order matches every rule: 100 accruals. Run with ``make bench``.
"""

from __future__ import annotations

from typing import Any

import pytest

import core
from core import model as m

TWINS = core.twins("earning")
#: Wednesday 2026-03-04 12:30:00 UTC
NOW_MS = 1_772_627_400_000
N_PROGRAMMES = 10


def _loyalty(r: int, p: int) -> dict[str, Any]:
    own_sku = {"object": "sku", "id": f"sku_{p}"}
    own_collection = {"object": "products_collection", "id": f"col_{p}"}
    blocks: list[dict[str, Any]] = [
        {"type": "FIXED", "points": 10 + p},
        {"type": "PROPORTIONAL", "calculation_type": "ORDER_AMOUNT",
         "order": {"amount": {"every": 100, "points": 1}}},
        {"type": "PROPORTIONAL", "calculation_type": "ORDER_TOTAL_AMOUNT",
         "order": {"total_amount": {"every": 100 + p, "points": 1}}},
        {"type": "PROPORTIONAL", "calculation_type": "ORDER_ITEMS_QUANTITY",
         "order_items": {"quantity": {"every": 1, "points": 2, **own_sku}}},
        {"type": "PROPORTIONAL", "calculation_type": "ORDER_ITEMS_AMOUNT",
         "order_items": {"amount": {"every": 100, "points": 1, **own_collection}}},
        {"type": "PROPORTIONAL", "calculation_type": "ORDER_ITEMS_SUBTOTAL_AMOUNT",
         "order_items": {"subtotal_amount": {"every": 500, "points": 3,
                                             "applicable_to": [own_sku, {"object": "product", "id": f"prod_{p}"}]}}},
        {"type": "PROPORTIONAL", "calculation_type": "ORDER_METADATA",
         "order": {"metadata": {"every": 1, "points": 1, "property": "litres"}}},
        {"type": "PROPORTIONAL", "calculation_type": "CUSTOMER_METADATA",
         "customer": {"metadata": {"every": 5, "points": 1, "property": "visits"}}},
        {"type": "FIXED", "points": 5},
        {"type": "PROPORTIONAL", "calculation_type": "ORDER_AMOUNT",
         "order": {"amount": {"every": 1000, "points": 5}}},
    ]  # fmt: skip
    return blocks[r]


def definitions(validation_rules: bool = True) -> m.Definitions:
    campaigns, rules, tiers, vrules, products = [], [], [], [], []
    for p in range(N_PROGRAMMES):
        cid = f"camp_{p}"
        campaigns.append({
            "id": cid, "name": f"Programme {p}", "campaign_type": "LOYALTY_PROGRAM",
            "voucher": {"type": "LOYALTY_CARD", "loyalty_card": {
                "points": 0,
                "expiration_rules": {"period_type": "MONTH", "period_value": 12, "rounding_type": "END_OF_QUARTER"},
            }},
        })  # fmt: skip
        vrules.append({"id": f"val_{p}", "rules": {
            "1": {"name": "order.amount", "conditions": {"$more_than_or_equal": [1000 * (p + 1)]}},
            "2": {"name": "customer.metadata", "property": "level", "conditions": {"$in": ["gold", "silver"]}},
            "logic": "1 and 2",
        }})  # fmt: skip
        products.append({"id": f"prod_{p}", "collections": [f"col_{p}"], "skus": [{"id": f"sku_{p}"}]})
        for r in range(10):
            er: dict[str, Any] = {
                "id": f"ern_{p}_{r}", "campaign_id": cid, "event": "order.paid",
                "loyalty": _loyalty(r, p), "source": {"banner": f"rule {r} of programme {p}"},
            }  # fmt: skip
            if r % 3 == 0 and validation_rules:
                er["validation_rule_id"] = f"val_{p}"
            if r == 4:
                er["validity_day_of_week"] = [1, 2, 3, 4, 5]
            if r == 8:
                er["expiration_rules"] = {"period_type": "FIXED_DAY_OF_YEAR", "fixed_month": 12, "fixed_day": 31}
            if r == 9 and p % 5 == 0:
                er["pending_points"] = {"period_type": "DAY", "period_value": 14}
            if r == 7 and p == 3:
                er["limits"] = {"per_customer": {"count": 1, "period": "DAY"}}
            rules.append(er)
        tiers.append({
            "id": f"ltr_{p}", "campaign_id": cid, "name": "Gold", "points": {"from": 0, "to": None},
            "earning_rules": {f"ern_{p}_1": {"type": "MULTIPLY", "multiplier": 1.5},
                              f"ern_{p}_8": {"type": "CUSTOM", "points": 20}},
        })  # fmt: skip
    return m.load_definitions({
        "campaigns": campaigns, "earning_rules": rules, "loyalty_tiers": tiers,
        "validation_rules": vrules, "products": products,
    })  # fmt: skip


CUSTOMER = m.Customer(source_id="alice", metadata={"level": "gold", "visits": 42})
ORDER = m.Order(
    id="ord_1",
    source_id="o-1",
    status="PAID",
    amount=55_000,
    discount_amount=500,
    metadata={"litres": 20},
    items=[
        m.OrderItem(sku_id=f"sku_{i}", quantity=i + 1, price=1000, amount=1000 * (i + 1),
                    discount_amount=100 if i % 2 else None)  # fmt: skip
        for i in range(10)
    ],
)
CARDS = {f"camp_{p}": (f"CARD-{p}", f"ltr_{p}") for p in range(N_PROGRAMMES)}


@pytest.fixture(scope="module", params=sorted(TWINS), ids=sorted(TWINS))
def compiled_index(request):
    twin = TWINS[request.param]
    return twin, twin.compile_earning(definitions())


def test_plan_order_paid(benchmark, compiled_index) -> None:
    twin, ix = compiled_index
    benchmark.group = "earning: 1 paid order, 10-item cart, 100 rules (10 programmes x 10)"
    plan = benchmark(twin.plan_order_paid, ix, CARDS, CUSTOMER, ORDER, NOW_MS)
    assert len(plan.accruals) == 100
    assert len({a.campaign_id for a in plan.accruals}) == N_PROGRAMMES
    assert sum(a.pending for a in plan.accruals) == 2
    assert sum(a.points != a.base_points for a in plan.accruals) == 2 * N_PROGRAMMES
    assert len(plan.limits) == 1


def test_plan_order_paid_without_validation_rules(benchmark, compiled_index) -> None:
    """The same, its 34 rules' validation rules left out: what judging the programmes' 10
    validation rules (the checkout engine's evaluator, once each per call) costs."""
    twin, _ = compiled_index
    ix = twin.compile_earning(definitions(validation_rules=False))
    benchmark.group = "earning: the same, without validation rules"
    plan = benchmark(twin.plan_order_paid, ix, CARDS, CUSTOMER, ORDER, NOW_MS)
    assert len(plan.accruals) == 100


def test_plan_order_paid_through_the_general_logic_path(benchmark, compiled_index) -> None:
    """The same as test_plan_order_paid, its validation rules judged by the postfix machine
    (``RuleSet_.junction`` forced to ``J_ANY``) rather than the short-circuit loop their
    "1 and 2" logic gets: what that fast path saves, measured in the same run."""
    twin, _ = compiled_index
    ix = twin.compile_earning(definitions())
    slow = {id(r.rule): r.rule for g in ix.by_event.values() for gg in g for r in gg.rules
            if r.rule is not None}  # fmt: skip
    assert len(slow) == N_PROGRAMMES and all(r.junction != 0 for r in slow.values())
    for r in slow.values():
        r.junction = 0
    benchmark.group = "earning: 1 paid order, 10-item cart, 100 rules (10 programmes x 10)"
    plan = benchmark(twin.plan_order_paid, ix, CARDS, CUSTOMER, ORDER, NOW_MS)
    assert len(plan.accruals) == 100


def test_compile_earning(benchmark, compiled_index) -> None:
    twin, _ = compiled_index
    defs = definitions()
    benchmark.group = "compile 100 earning rules"
    ix = benchmark(twin.compile_earning, defs)
    assert len(ix.rules) == 10 * N_PROGRAMMES
