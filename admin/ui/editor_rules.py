"""Validation rules in the campaign editor: every rule the API accepts read as one sentence,
and the small builder (order amount over X, customer in segment, product in cart) for the rule
sets it can draw. A rule set the builder cannot draw stays JSON: it is never squeezed into the
builder's fields (nothing is dropped on the way back)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from .base import _money

#: how each property reads
PROPERTY_TEXT = {
    "customer.segment": "the customer's segments",
    "customer.metadata": "the customer's metadata",
    "customer.id": "the customer id",
    "customer.source_id": "the customer's source id",
    "customer.email": "the customer's email",
    "customer.address.country": "the customer's country",
    "customer.address.city": "the customer's city",
    "customer.orders.count": "the customer's number of orders",
    "customer.orders.amount": "the customer's total spent",
    "order.amount": "the order amount",
    "order.initial_amount": "the order amount before discounts",
    "order.items.count": "the number of order lines",
    "order.items.quantity": "the quantity of items",
    "order.metadata": "the order's metadata",
    "order.items.any": "any item of the order",
    "order.items.every": "every item of the order",
    "order.items.none": "no item of the order",
    "order.items.price_any": "the price of any item",
    "order.items.price_each": "the price of each item",
    "order.items.metadata": "an item's metadata",
    "product.id": "the product",
    "sku.id": "the SKU",
    "redemption.count.per_customer": "the customer's redemptions of it",
    "redemption.count.per_customer_per_day": "the customer's redemptions of it today",
    "redemption.count.per_customer_per_week": "the customer's redemptions of it this week",
    "redemption.count.per_customer_per_month": "the customer's redemptions of it this month",
    "campaign.orders.amount_discounted": "the campaign's total discount",
    "campaign.orders.amount": "the campaign's total order value",
    "campaign.redemptions.count": "the campaign's redemptions",
}
#: properties whose values are money in cents
MONEY_PROPERTIES = {
    "customer.orders.amount",
    "order.amount",
    "order.initial_amount",
    "order.items.price_any",
    "order.items.price_each",
    "campaign.orders.amount_discounted",
    "campaign.orders.amount",
}
OPERATOR_TEXT = {
    "$is": "is",
    "$is_not": "is not",
    "$in": "is one of",
    "$not_in": "is none of",
    "$more_than": "is more than",
    "$less_than": "is less than",
    "$more_than_or_equal": "is at least",
    "$less_than_or_equal": "is at most",
    "$starts_with": "starts with",
    "$ends_with": "ends with",
    "$contains": "contains",
    "$has_value": "has a value",
    "$is_unknown": "is unknown",
    "$after": "is after",
    "$before": "is before",
    "$count_more": "counts more than",
    "$count_less": "counts fewer than",
}
#: for items rules (``order.items.any`` ...) the operator reads on the item
ITEM_OPERATOR_TEXT = {"$is": "is", "$in": "is one of", "$is_not": "is not", "$not_in": "is none of"}
_ITEMS = ("order.items.any", "order.items.every", "order.items.none")


def _value(v: Any, name: str) -> str:
    if name in MONEY_PROPERTIES and isinstance(v, int | float) and not isinstance(v, bool):
        return _money(int(v))
    if isinstance(v, dict):
        return str(v.get("id") or v.get("source_id") or msgspec.json.encode(v).decode())
    return str(v) if not isinstance(v, str) else f"“{v}”"


def _values(values: Any, name: str) -> str:
    if not isinstance(values, list):
        return _value(values, name)
    shown = [_value(v, name) for v in values]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


def condition_sentence(rule: Any) -> str:
    """One numbered rule as a sentence, nested item conditions included; what it does not
    recognise it shows as written, never drops."""
    if not isinstance(rule, dict):
        return f"(not a rule: {msgspec.json.encode(rule).decode()[:200]})"
    name = str(rule.get("name", "?"))
    subject = PROPERTY_TEXT.get(name, f"`{name}`")
    if rule.get("property"):
        subject += f" “{rule['property']}”"
    conds = rule.get("conditions")
    parts = []
    if isinstance(conds, dict):
        for op, values in conds.items():
            verb = OPERATOR_TEXT.get(op, f"`{op}`")
            if name in _ITEMS:
                verb = "is " + ITEM_OPERATOR_TEXT.get(op, f"`{op}`")
                verb = verb.replace("is is", "is")
            if op in ("$has_value", "$is_unknown"):
                parts.append(f"{subject} {verb}")
            else:
                parts.append(f"{subject} {verb} {_values(values, name)}")
    text = " and ".join(parts) or f"{subject} (no condition)"
    nested = rule.get("rules")
    if isinstance(nested, dict) and nested:
        inner = [condition_sentence(v) for k, v in sorted(nested.items()) if k != "logic"]
        text += ", with " + " and ".join(inner)
    err = rule.get("error")
    if isinstance(err, dict) and err.get("message"):
        text += f" (else: “{err['message']}”)"
    return text


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _target(t: Any) -> str:
    if not isinstance(t, dict):
        return str(t)
    out = f"{t.get('object', 'item')} {t.get('id', '?')}"
    extras = [f"{k.replace('_', ' ')} {v}" for k, v in t.items() if k not in ("object", "id")]
    return out + (f" ({', '.join(extras)})" if extras else "")


def rule_sentences(rule: dict[str, Any] | None) -> list[str]:
    """A validation rule set as sentences: each numbered rule, how they combine, what the
    discount applies to and the error shown."""
    if not rule:
        return []
    rules = rule.get("rules") if isinstance(rule.get("rules"), dict) else {}
    nums = sorted((k for k in rules if k != "logic"), key=lambda k: (len(k), k))
    out = [f"Rule {k}: {_cap(condition_sentence(rules[k]))}." for k in nums]
    if len(nums) > 1:
        logic = rules.get("logic") or " and ".join(nums)
        out.append(f"Valid when {logic}.")
    app = rule.get("applicable_to")
    if isinstance(app, dict):
        if app.get("included"):
            out.append("The discount applies to " + "; ".join(_target(t) for t in app["included"]) + ".")
        if app.get("excluded"):
            out.append("It never applies to " + "; ".join(_target(t) for t in app["excluded"]) + ".")
    err = rule.get("error")
    if isinstance(err, dict) and err.get("message"):
        out.append(f"When it fails the customer reads “{err['message']}”.")
    return out


# ------------------------------------------------------------------------------- the builder

#: the builder's fields: (form field, property, operator)
BUILDER = (
    ("rule_min_amount", "order.amount", "$more_than"),
    ("rule_segment", "customer.segment", "$is"),
    ("rule_product", "order.items.any", "$is"),
)


class FieldError(Exception):
    """A form value the server cannot turn into the API's input; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def cents(text: str, field: str) -> int | None:
    """``"12.50"`` as 1250; empty as None."""
    text = text.strip().replace(",", "")
    if not text:
        return None
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise FieldError(field, f"“{text[:40]}” is not an amount (e.g. 12.50)") from None
    if not d.is_finite() or d.adjusted() > 15:
        raise FieldError(field, "this amount is out of range")
    if d != d.quantize(Decimal("0.01")):
        raise FieldError(field, "an amount has at most 2 decimals")
    return int(d * 100)


def units(value: int | None) -> str:
    """Cents as the form shows them: ``1250`` -> ``12.50``."""
    return "" if value is None else f"{value // 100}.{value % 100:02d}"


def builder_rules(form: dict[str, str]) -> dict[str, Any]:
    """The rule body the builder's fields make (empty: no rule)."""
    rules: dict[str, Any] = {}
    for field, name, op in BUILDER:
        raw = form.get(field, "").strip()
        if not raw:
            continue
        value: Any = cents(raw, field) if name == "order.amount" else raw
        rules[str(len(rules) + 1)] = {"name": name, "conditions": {op: [value]}}
    if not rules:
        return {}
    rules["logic"] = " and ".join(k for k in rules)
    return {"rules": rules}


def drawable(rule: dict[str, Any]) -> dict[str, str] | None:
    """The builder's fields for ``rule`` (a rule body without its name) if the builder makes
    exactly that rule again, else None: then it stays JSON."""
    if not rule:
        return {}
    if set(rule) != {"rules"} or not isinstance(rule["rules"], dict):
        return None
    fields: dict[str, str] = {}
    for k, r in rule["rules"].items():
        if k == "logic":
            continue
        got = _builder_field(r)
        if got is None or got[0] in fields:
            return None
        fields[got[0]] = got[1]
    try:
        again = builder_rules(fields)
    except FieldError:
        return None
    return fields if again == rule else None


def _builder_field(r: Any) -> tuple[str, str] | None:
    if not isinstance(r, dict) or set(r) != {"name", "conditions"}:
        return None
    for field, name, op in BUILDER:
        values = r["conditions"].get(op) if isinstance(r["conditions"], dict) else None
        if r["name"] != name or len(r["conditions"]) != 1 or not isinstance(values, list):
            continue
        if len(values) != 1:
            return None
        v = values[0]
        if name == "order.amount":
            return (field, units(v)) if isinstance(v, int) and not isinstance(v, bool) else None
        return (field, v) if isinstance(v, str) and v else None
    return None
