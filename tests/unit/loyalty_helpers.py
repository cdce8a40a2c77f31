"""Builders for the loyalty tests: programs, earning rules, tiers, rewards, as plain dicts in
Voucherify's shape, validated through ``core.model.load_definitions``; and readers of plans.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from unit_helpers import NOW_MS, UTC

from core import model as m

#: where each calculation type keeps its block under `loyalty`
BLOCKS = {
    "ORDER_AMOUNT": ("order", "amount"),
    "ORDER_TOTAL_AMOUNT": ("order", "total_amount"),
    "ORDER_METADATA": ("order", "metadata"),
    "ORDER_ITEMS_QUANTITY": ("order_items", "quantity"),
    "ORDER_ITEMS_AMOUNT": ("order_items", "amount"),
    "ORDER_ITEMS_SUBTOTAL_AMOUNT": ("order_items", "subtotal_amount"),
    "CUSTOMER_METADATA": ("customer", "metadata"),
    "CUSTOM_EVENT_METADATA": ("custom_event", "metadata"),
}


def program(cid: str = "camp_L", expiration: dict | None = None, **kw: Any) -> dict:
    """A LOYALTY_PROGRAM campaign; ``expiration``: the card template's expiration_rules."""
    card: dict[str, Any] = {"points": 0}
    if expiration is not None:
        card["expiration_rules"] = expiration
    return {
        "id": cid,
        "name": kw.pop("name", cid),
        "campaign_type": "LOYALTY_PROGRAM",
        "voucher": {"type": "LOYALTY_CARD", "loyalty_card": card},
        **kw,
    }


def months(n: int, rounding: str | None = None, value: int | None = None) -> dict:
    out: dict[str, Any] = {"period_type": "MONTH", "period_value": n}
    if rounding is not None:
        out["rounding_type"] = rounding
    if value is not None:
        out["rounding_value"] = value
    return out


def fixed_day(month: int, day: int) -> dict:
    return {"period_type": "FIXED_DAY_OF_YEAR", "fixed_month": month, "fixed_day": day}


def fixed(points: int) -> dict:
    return {"type": "FIXED", "points": points}


def prop(calc: str, every: int, points: int, **block: Any) -> dict:
    """A PROPORTIONAL ``loyalty`` object with its block in the right place."""
    where, name = BLOCKS[calc]
    return {
        "type": "PROPORTIONAL",
        "calculation_type": calc,
        where: {name: {"every": every, "points": points, **block}},
    }


def ern(eid: str, loyalty: dict, cid: str = "camp_L", event: str = "order.paid", **kw: Any) -> dict:
    return {"id": eid, "campaign_id": cid, "event": event, "loyalty": loyalty, **kw}


def ltier(tid: str, lo: int, hi: int | None = None, cid: str = "camp_L", earning: dict | None = None,
          rewards: dict | None = None, **kw: Any) -> dict:  # fmt: skip
    t: dict[str, Any] = {"id": tid, "campaign_id": cid, "name": kw.pop("name", tid),
                         "points": {"from": lo, "to": hi}}  # fmt: skip
    if earning is not None:
        t["earning_rules"] = earning
    if rewards is not None:
        t["rewards"] = rewards
    t.update(kw)
    return t


def multiply(x: float) -> dict:
    return {"type": "MULTIPLY", "multiplier": x}


def custom(points: int) -> dict:
    return {"type": "CUSTOM", "points": points}


def ldefs(programs: list | tuple = (), rules: list | tuple = (), tiers: list | tuple = (),
          vrules: list | tuple = (), products: list | tuple = (), rewards: list | tuple = (),
          assignments: list | tuple = (), campaigns: list | tuple = ()) -> m.Definitions:  # fmt: skip
    return m.load_definitions(
        {
            "campaigns": list(programs) + list(campaigns),
            "earning_rules": list(rules),
            "loyalty_tiers": list(tiers),
            "validation_rules": list(vrules),
            "products": list(products),
            "rewards": list(rewards),
            "reward_assignments": list(assignments),
        }
    )


def paid(amount: int | None = None, *items: m.OrderItem, **kw: Any) -> m.Order:
    return m.Order(status="PAID", amount=amount, items=list(items) if items else None, **kw)


def line(product: str | None, qty: int, price: int, *, sku: str | None = None, **kw: Any) -> m.OrderItem:
    return m.OrderItem(product_id=product, sku_id=sku, quantity=qty, price=price, amount=qty * price, **kw)


def alice(**kw: Any) -> m.Customer:
    return m.Customer(id="cust_A", source_id="alice", **kw)


CARDS = {"camp_L": "CLUB-1"}


def earn(earning: Any, d: m.Definitions, order: m.Order, cards: dict | None = None,
         customer: m.Customer | None = None, now_ms: int = NOW_MS, **kw: Any):  # fmt: skip
    ix = earning.compile_earning(d)
    return earning.plan_order_paid(
        ix, CARDS if cards is None else cards, customer or alice(), order, now_ms, **kw
    )


def points(plan: Any) -> dict[str, int]:
    """``{rule id: points}`` of a plan's accruals."""
    return {a.rule_id: a.points for a in plan.accruals}


def day_ms(y: int, mo: int, d: int) -> int:
    return int(dt.datetime(y, mo, d, tzinfo=UTC).timestamp() * 1000)


def normalize(plan: Any) -> dict:
    """A whole plan as plain data, to compare twins exactly."""
    return {
        "accruals": [
            (
                a.campaign_id, a.code, a.rule_id, a.event, a.points, a.base_points, a.tier_id,
                a.tier_name, a.expires_at_ms, a.activates_at_ms, a.pending_id, a.source_id,
                a.order_id, a.order_source_id, a.banner, a.related_id, a.schema_id, a.limit,
            )  # fmt: skip
            for a in plan.accruals
        ],
        "join": list(plan.join),
        "limits": list(plan.limits),
        "skipped": list(plan.skipped),
        "credits": plan.credits(),
    }
