"""Builders that keep the core unit tests short.

Definitions are built as plain dicts (Voucherify's JSON shape) and validated through
``core.model.load_definitions``, so every test also exercises the model. Requests are
built as ``core.model`` structs. ``run`` compiles and evaluates with one engine module.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from core import model as m

UTC = dt.UTC
#: Wednesday 2026-03-04 12:30:00 UTC: the injected clock of every test unless told otherwise
NOW = dt.datetime(2026, 3, 4, 12, 30, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
DAY_MS = 86_400_000


def ms(*args: int) -> int:
    """Epoch ms of a UTC datetime, ``ms(2026, 3, 4, 12, 30)``."""
    return int(dt.datetime(*args, tzinfo=UTC).timestamp() * 1000)


def iso(*args: int) -> str:
    return dt.datetime(*args, tzinfo=UTC).isoformat().replace("+00:00", "Z")


# ----------------------------------------------------------------------------- discounts


def amount_off(cents: int, effect: str = "APPLY_TO_ORDER") -> dict:
    return {"type": "AMOUNT", "amount_off": cents, "effect": effect}


def percent_off(pct: float, effect: str = "APPLY_TO_ORDER", limit: int | None = None) -> dict:
    d: dict[str, Any] = {"type": "PERCENT", "percent_off": pct, "effect": effect}
    if limit is not None:
        d["amount_limit"] = limit
    return d


def fixed(cents: int, effect: str = "APPLY_TO_ORDER") -> dict:
    return {"type": "FIXED", "fixed_amount": cents, "effect": effect}


def unit(product: str, n: int = 1, effect: str = "ADD_MISSING_ITEMS") -> dict:
    return {"type": "UNIT", "unit_off": n, "unit_type": product, "effect": effect}


# ----------------------------------------------------------------------------- definitions


def campaign(cid: str, discount: dict | None = None, **kw: Any) -> dict:
    """A DISCOUNT_COUPONS campaign (or any type via ``campaign_type=``)."""
    c: dict[str, Any] = {"id": cid, "name": kw.pop("name", cid)}
    voucher_tpl = kw.pop("voucher", None)
    if discount is not None:
        voucher_tpl = dict(voucher_tpl or {})
        voucher_tpl["discount"] = discount
    if voucher_tpl is not None:
        c["voucher"] = voucher_tpl
    c.update(kw)
    return c


def promotion(cid: str, *tiers: dict, **kw: Any) -> dict:
    return {
        "id": cid,
        "name": kw.pop("name", cid),
        "campaign_type": "PROMOTION",
        "promotion": {"tiers": list(tiers)},
        **kw,
    }


def tier(tid: str, discount: dict, *rule_ids: str, **kw: Any) -> dict:
    return {"id": tid, "action": {"discount": discount}, "validation_rules": list(rule_ids), **kw}


def gift_campaign(cid: str, amount: int, **kw: Any) -> dict:
    return campaign(
        cid, campaign_type="GIFT_VOUCHERS", voucher={"type": "GIFT_VOUCHER", "gift": {"amount": amount}}, **kw
    )


def loyalty_campaign(cid: str, points: int, point_value: int = 1, **kw: Any) -> dict:
    return campaign(
        cid,
        campaign_type="LOYALTY_PROGRAM",
        voucher={"type": "LOYALTY_CARD", "loyalty_card": {"points": points, "point_value": point_value}},
        **kw,
    )


def voucher(code: str, discount: dict | None = None, campaign_id: str | None = None, **kw: Any) -> dict:
    v: dict[str, Any] = {"code": code}
    if discount is not None:
        v["discount"] = discount
    if campaign_id is not None:
        v["campaign_id"] = campaign_id
    v.update(kw)
    return v


def rule(name: str, op: str, *values: Any, prop: str | None = None, error: str | None = None,
         rules: dict | None = None) -> dict:  # fmt: skip
    r: dict[str, Any] = {"name": name, "conditions": {op: list(values)}}
    if prop is not None:
        r["property"] = prop
    if error is not None:
        r["error"] = {"message": error}
    if rules is not None:
        r["rules"] = rules
    return r


def vrule(rid: str, *rules: dict, logic: str | None = None, error: str | None = None,
          included: list[dict] | None = None, excluded: list[dict] | None = None,
          included_all: bool = False) -> dict:  # fmt: skip
    body: dict[str, Any] = {str(i + 1): r for i, r in enumerate(rules)}
    if logic is not None:
        body["logic"] = logic
    v: dict[str, Any] = {"id": rid, "rules": body}
    if error is not None:
        v["error"] = {"message": error}
    if included is not None or excluded is not None or included_all:
        v["applicable_to"] = {
            "included": included or [],
            "excluded": excluded or [],
            "included_all": included_all,
        }
    return v


def target(ident: str, obj: str = "product", effect: str = "APPLY_TO_EVERY", **limits: int) -> dict:
    return {"object": obj, "id": ident, "effect": effect, **limits}


def defs(campaigns: list | tuple = (), vouchers: list | tuple = (), rules: list | tuple = (),
         products: list | tuple = (), categories: list | tuple = (),
         stacking: dict | None = None, **kw: Any) -> m.Definitions:  # fmt: skip
    doc: dict[str, Any] = {
        "campaigns": list(campaigns),
        "vouchers": list(vouchers),
        "validation_rules": list(rules),
        "products": list(products),
        "categories": list(categories),
        **kw,
    }
    if stacking is not None:
        doc["stacking_rules"] = stacking
    return m.load_definitions(doc)


def codes(*pairs: tuple[str, dict], **stacking: Any) -> m.Definitions:
    """Standalone vouchers ``(code, discount)`` and optional stacking rules, in one call."""
    return defs(vouchers=[voucher(c, d) for c, d in pairs], stacking=stacking or None)


# ----------------------------------------------------------------------------- requests


def item(ident: str, price: int, qty: int = 1, *, sku: str | None = None, **kw: Any) -> m.OrderItem:
    return m.OrderItem(product_id=ident, sku_id=sku, price=price, quantity=qty, **kw)


def order(*items: m.OrderItem, amount: int | None = None, metadata: dict | None = None) -> m.Order:
    return m.Order(items=list(items) if items else None, amount=amount, metadata=metadata)


def customer(ident: str | None = "cust_1", **kw: Any) -> m.Customer:
    return m.Customer(source_id=ident, **kw)


def red(ident: str, obj: str = "voucher", credits: int | None = None,
        points: int | None = None, reward: str | None = None) -> m.Redeemable:  # fmt: skip
    gift = m.GiftRequest(credits=credits) if credits is not None else None
    rew = None
    if points is not None or reward is not None:
        rew = m.RewardRequest(id=reward, points=points)
    return m.Redeemable(object=obj, id=ident, gift=gift, reward=rew)


def reds(*ids: str) -> list[m.Redeemable]:
    """Redeemables by id; ids starting with ``promo`` or ``tier`` are promotion tiers."""
    return [red(i, "promotion_tier" if i.startswith(("promo", "tier")) else "voucher") for i in ids]


def run(engine: Any, definitions: m.Definitions, redeemables: list, order_: m.Order | None,
        customer_: m.Customer | None = None, now_ms: int = NOW_MS, **kw: Any):  # fmt: skip
    rs = engine.compile_ruleset(definitions)
    return engine.evaluate(rs, redeemables, customer_, order_, now_ms, **kw)


def one(engine: Any, discount: dict, order_: m.Order, **kw: Any):
    """Evaluate a single standalone code carrying ``discount`` against ``order_``."""
    return run(engine, codes(("CODE", discount)), reds("CODE"), order_, **kw)


# ----------------------------------------------------------------------------- inspection


def status(ev: Any) -> list[tuple[str, str, str]]:
    """``[(id, status, key), ...]`` in request order."""
    return [(o.id, o.status, o.key) for o in ev.outcomes]


def line_discounts(ev: Any) -> list[int]:
    return [it.discount for it in ev.items]


def totals(ev: Any) -> dict[str, int]:
    return {
        "amount": ev.amount,
        "discount_amount": ev.discount_amount,
        "items_discount_amount": ev.items_discount_amount,
        "total_amount": ev.total_amount,
    }


def normalize(ev: Any) -> dict:
    """The whole Evaluation as plain data, to compare engines exactly."""
    return {
        "valid": ev.valid,
        "amount": ev.amount,
        "initial_amount": ev.initial_amount,
        "discount_amount": ev.discount_amount,
        "items_discount_amount": ev.items_discount_amount,
        "needs_counters": ev.needs_counters,
        "items": [
            (it.index, it.product_id, it.sku_id, it.quantity, it.price, it.amount, it.discount, it.added)
            for it in ev.items
        ],
        "outcomes": [
            {
                "index": o.index,
                "object": o.object,
                "id": o.id,
                "status": o.status,
                "key": o.key,
                "message": o.message,
                "order_discount": o.order_discount,
                "items_discount": o.items_discount,
                "item_discounts": list(o.item_discounts),
                "added": list(o.added),
                "gift_credits": o.gift_credits,
                "gift_balance": o.gift_balance,
                "points": o.points,
                "points_balance": o.points_balance,
                "ops": [tuple(op) for op in o.ops],
                "after": (o.amount_after, o.discount_after, o.items_discount_after),
            }
            for o in ev.outcomes
        ],
    }


def to_builtins(x: Any) -> Any:
    return msgspec.to_builtins(x)
