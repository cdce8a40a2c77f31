"""Translation between Voucherify's API shapes and promogate's definitions model (core.model).

Inputs are plain JSON objects (explicit nulls already removed, see :func:`strip_nulls`); they
become ``core.model`` structs through ``msgspec.convert``, whose errors name the field. Outputs
are plain dicts in the shapes the official SDK (voucherify 6.1.1) parses.

What Voucherify has and the core model keeps elsewhere or not at all:

- ``validity_hours.daily[]`` becomes ``validity_hours`` (start / end) and, when the campaign
  has no ``validity_day_of_week`` of its own, the union of their ``days_of_week``;
- ``category`` / ``category_id`` are one value (the category used by stacking rules);
- ``description``, timestamps, ``vouchers_count`` live in the admin's metadata document;
- extension fields (not in Voucherify): ``limits`` on a campaign (core.model.CampaignLimits)
  and ``redemption.per_customer`` on a voucher.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import msgspec

from core import model as m

from .errors import from_validation, invalid

VOUCHER_TYPES = {
    "GIFT_VOUCHERS": "GIFT_VOUCHER",
    "LOYALTY_PROGRAM": "LOYALTY_CARD",
}

_DISCOUNT_FIELDS = (
    "type",
    "effect",
    "amount_off",
    "percent_off",
    "amount_limit",
    "fixed_amount",
    "unit_off",
    "unit_type",
)


def strip_nulls(v: Any) -> Any:
    """Explicit nulls mean absent (the SDK sends them)."""
    if isinstance(v, dict):
        return {k: strip_nulls(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [strip_nulls(x) for x in v]
    return v


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return (
        dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def dt_out(d: dt.datetime | None) -> str | None:
    if d is None:
        return None
    return d.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _int(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def convert(data: Any, typ: type, root: str) -> Any:
    try:
        return msgspec.convert(data, typ)
    except msgspec.ValidationError as exc:
        raise from_validation(exc, root) from None


def merged(cur: Any, new: Any, path: str) -> dict[str, Any]:
    """``cur`` (a dict or None) updated with ``new``, which must be an object."""
    if not isinstance(new, dict):
        raise invalid(f"`{path}` must be an object")
    return {**(cur or {}), **new}


def need_object(body: Any, what: str = "body") -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid(f"the request {what} must be a JSON object")
    return body


# ------------------------------------------------------------------------------ pieces in


def discount_in(d: Any, path: str) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise invalid(f"`{path}` must be an object")
    out = {k: _int(d[k]) for k in _DISCOUNT_FIELDS if k in d}
    if "unit_type" not in out:
        prod = d.get("product") or d.get("sku")
        if isinstance(prod, dict) and prod.get("id"):
            out["unit_type"] = prod["id"]
    return out


def code_config_in(c: dict[str, Any]) -> dict[str, Any]:
    out = {k: c[k] for k in ("charset", "prefix", "postfix", "pattern") if k in c}
    if "length" in c:
        out["length"] = _int(c["length"])
    return out


def validity_in(body: dict[str, Any], out: dict[str, Any]) -> None:
    """Dates and recurring windows shared by campaigns, tiers and vouchers."""
    for k in ("start_date", "expiration_date"):
        if k in body:
            out[k] = body[k]
    if "validity_timeframe" in body:
        out["validity_timeframe"] = body["validity_timeframe"]
    if "validity_day_of_week" in body:
        out["validity_day_of_week"] = body["validity_day_of_week"]
    vh = body.get("validity_hours")
    if isinstance(vh, dict):
        hours, days = [], set()
        daily = vh.get("daily") or []
        if not isinstance(daily, list):
            raise invalid("`validity_hours.daily` must be a list")
        for item in daily:
            if not isinstance(item, dict):
                raise invalid("`validity_hours.daily[]` holds objects")
            hours.append({"start": item.get("start_time"), "end": item.get("expiration_time")})
            dow = item.get("days_of_week") or []
            if not isinstance(dow, list) or not all(
                isinstance(x, int) and not isinstance(x, bool) for x in dow
            ):
                raise invalid("`validity_hours.daily[].days_of_week` must be a list of integers")
            days.update(dow)
        out["validity_hours"] = hours
        if days and not out.get("validity_day_of_week"):
            out["validity_day_of_week"] = sorted(days)
    elif isinstance(vh, list):  # promogate's own shape
        out["validity_hours"] = vh


def rule_ids_in(body: dict[str, Any]) -> list[str] | None:
    """``validation_rules: [id]`` or ``validation_rule_assignments: {data: [{rule_id}]}``."""
    if "validation_rules" in body:
        v = body["validation_rules"]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise invalid("`validation_rules` must be a list of validation rule ids")
        return list(v)
    vra = body.get("validation_rule_assignments")
    if isinstance(vra, dict):
        data = vra.get("data") or []
        if not isinstance(data, list):
            raise invalid("`validation_rule_assignments.data` must be a list")
        return [a["rule_id"] for a in data if isinstance(a, dict) and a.get("rule_id")]
    return None


def template_in(v: dict[str, Any], campaign_type: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": v.get("type") or VOUCHER_TYPES.get(campaign_type, "DISCOUNT_VOUCHER")
    }
    if "discount" in v:
        out["discount"] = discount_in(v["discount"], "voucher.discount")
    if isinstance(v.get("gift"), dict):
        out["gift"] = {"amount": _int(v["gift"].get("amount"))}
    if isinstance(v.get("loyalty_card"), dict):
        lc = {"points": _int(v["loyalty_card"].get("points"))}
        if "point_value" in v["loyalty_card"]:
            lc["point_value"] = v["loyalty_card"]["point_value"]
        out["loyalty_card"] = lc
    if isinstance(v.get("redemption"), dict):
        out["redemption"] = {
            k: v["redemption"][k] for k in ("quantity", "per_customer") if k in v["redemption"]
        }
    if isinstance(v.get("code_config"), dict):
        out["code_config"] = code_config_in(v["code_config"])
    return out


def tier_in(t: dict[str, Any], tier_id: str, path: str) -> dict[str, Any]:
    out: dict[str, Any] = {"id": tier_id}
    for k in ("name", "banner", "active", "hierarchy", "metadata"):
        if k in t:
            out[k] = t[k]
    action = t.get("action")
    if isinstance(action, dict) and "discount" in action:
        out["action"] = {"discount": discount_in(action["discount"], path + ".action.discount")}
    cat = t.get("category_id") or t.get("category")
    if cat:
        out["category"] = cat
    validity_in(t, out)
    out.pop("validity_timeframe", None)  # tiers: dates only in the core model
    out.pop("validity_day_of_week", None)
    out.pop("validity_hours", None)
    rules = rule_ids_in(t)
    if rules is not None:
        out["validation_rules"] = rules
    return out


# ------------------------------------------------------------------------------ campaigns


def _meta_fields_in(body: dict[str, Any]) -> None:
    """``description`` and ``type`` go to the admin's metadata document as sent: strings only
    (anything else would be stored, then refused by every later read of that document)."""
    for k in ("description", "type"):
        if k in body and not isinstance(body[k], str):
            raise invalid(f"`campaign.{k}` must be a string")


def campaign_in(
    body: dict[str, Any], campaign_id: str, seq: int, new_tier_id: Any
) -> dict[str, Any]:
    """A core Campaign dict from a Voucherify create-campaign body."""
    _meta_fields_in(body)
    ct = body.get("campaign_type") or "DISCOUNT_COUPONS"
    out: dict[str, Any] = {"id": campaign_id, "campaign_type": ct, "created_seq": seq}
    if "name" not in body:
        raise invalid("a campaign needs a `name`")
    out["name"] = body["name"]
    t = body.get("type")
    if t in ("STATIC", "AUTO_UPDATE"):
        out["type"] = t
    for k in ("active", "metadata", "limits"):
        if k in body:
            out[k] = body[k]
    cat = body.get("category_id") or body.get("category")
    if cat:
        out["category"] = cat
    validity_in(body, out)
    rules = rule_ids_in(body)
    if rules is not None:
        out["validation_rules"] = rules
    v = body.get("voucher")
    if isinstance(v, dict):
        out["voucher"] = template_in(v, ct)
    promo = body.get("promotion")
    if isinstance(promo, dict):
        tiers = promo.get("tiers") or []
        if not isinstance(tiers, list):
            raise invalid("`campaign.promotion.tiers` must be a list")
        out["promotion"] = {
            "tiers": [
                tier_in(need_object(tr, "tier"), new_tier_id(), f"campaign.promotion.tiers[{i}]")
                for i, tr in enumerate(tiers)
            ]
        }
    return out


def campaign_update_in(cur: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """Apply a Voucherify update-campaign body to a core Campaign dict (builtins)."""
    _meta_fields_in(body)
    out = dict(cur)
    for k in ("name", "active", "limits"):
        if k in body:
            out[k] = body[k]
    if "type" in body and body["type"] in ("STATIC", "AUTO_UPDATE"):
        out["type"] = body["type"]
    if "metadata" in body:
        out["metadata"] = merged(out.get("metadata"), body["metadata"], "metadata")
    unset = body.get("unset_metadata_fields") or []
    if not isinstance(unset, list) or not all(isinstance(k, str) for k in unset):
        raise invalid("`unset_metadata_fields` must be a list of strings")
    for k in unset:
        (out.get("metadata") or {}).pop(k, None)
    cat = body.get("category_id") or body.get("category")
    if cat:
        out["category"] = cat
    validity_in(body, out)
    rules = rule_ids_in(body)
    if rules is not None:
        out["validation_rules"] = rules
    tpl = dict(out.get("voucher") or {})
    if "discount" in body:
        tpl["discount"] = discount_in(body["discount"], "discount")
    if isinstance(body.get("gift"), dict):
        tpl["gift"] = {"amount": _int(body["gift"].get("amount"))}
    if isinstance(body.get("voucher"), dict):
        tpl.update(template_in(body["voucher"], out.get("campaign_type", "DISCOUNT_COUPONS")))
    if tpl:
        out["voucher"] = tpl
    return out


def discount_out(d: m.Discount | None) -> dict[str, Any] | None:
    if d is None:
        return None
    out = msgspec.to_builtins(d)
    if d.type == "UNIT" and d.unit_type:
        out["product"] = {"id": d.unit_type}
    return out


def code_config_out(c: m.CodeConfig | None) -> dict[str, Any]:
    c = c or m.CodeConfig()
    out: dict[str, Any] = {"charset": c.charset, "prefix": c.prefix, "postfix": c.postfix}
    if c.pattern is not None:
        out["pattern"] = c.pattern
    else:
        out["length"] = c.length
    return out


def template_out(t: m.VoucherTemplate | None) -> dict[str, Any] | None:
    if t is None:
        return None
    out: dict[str, Any] = {"type": t.type, "code_config": code_config_out(t.code_config)}
    if t.discount is not None:
        out["discount"] = discount_out(t.discount)
    if t.gift is not None:
        out["gift"] = {
            "amount": t.gift.amount,
            "balance": t.gift.amount,
            "effect": "APPLY_TO_ORDER",
        }
    if t.loyalty_card is not None:
        out["loyalty_card"] = {"points": t.loyalty_card.points}
    red = {k: v for k, v in msgspec.to_builtins(t.redemption).items() if v is not None}
    out["redemption"] = red
    return out


def hours_out(obj: Any) -> dict[str, Any] | None:
    hours = getattr(obj, "validity_hours", None) or []
    if not hours:
        return None
    days = list(getattr(obj, "validity_day_of_week", None) or range(7))
    return {
        "daily": [
            {"start_time": h.start, "expiration_time": h.end, "days_of_week": days} for h in hours
        ]
    }


def assignment_id(rule_id: str, object_type: str, object_id: str) -> str:
    h = hashlib.sha1(f"{rule_id}\x00{object_type}\x00{object_id}".encode()).hexdigest()[:20]
    return "asgm_" + h


def assignment_out(
    rule_id: str, object_type: str, object_id: str, at: str | None = None
) -> dict[str, Any]:
    out = {
        "id": assignment_id(rule_id, object_type, object_id),
        "rule_id": rule_id,
        "related_object_id": object_id,
        "related_object_type": object_type,
        "object": "validation_rules_assignment",
    }
    if at:
        out["created_at"] = at
    return out


def assignments_out(rules: list[str], object_type: str, object_id: str) -> dict[str, Any]:
    data = [assignment_out(r, object_type, object_id) for r in rules]
    return {"object": "list", "data_ref": "data", "data": data, "total": len(data)}


def tier_out(t: m.PromotionTier, camp: m.Campaign, times: list[int] | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": t.id,
        "object": "promotion_tier",
        "name": t.name,
        "banner": t.banner,
        "action": {"discount": discount_out(t.action.discount)},
        "metadata": t.metadata,
        "hierarchy": t.hierarchy,
        "promotion_id": camp.id,
        "campaign_id": camp.id,
        "campaign": {"id": camp.id, "active": camp.active, "object": "campaign"},
        "active": t.active,
        "start_date": dt_out(t.start_date),
        "expiration_date": dt_out(t.expiration_date),
        "category_id": t.category,
        "validation_rule_assignments": assignments_out(t.validation_rules, "promotion_tier", t.id),
        "validation_rules": t.validation_rules,
    }
    if times:
        out["created_at"], out["updated_at"] = iso(times[0]), iso(times[1])
    return {k: v for k, v in out.items() if v is not None}


def campaign_out(c: m.Campaign, meta: Any, tier_times: dict[str, list[int]]) -> dict[str, Any]:
    """``meta`` is the campaign's ``admin.repo.CampaignMeta`` (or None)."""
    out: dict[str, Any] = {
        "id": c.id,
        "name": c.name,
        "description": getattr(meta, "description", None),
        "campaign_type": c.campaign_type,
        "type": getattr(meta, "type", None) or c.type,
        "voucher": template_out(c.voucher),
        "validity_timeframe": msgspec.to_builtins(c.validity_timeframe)
        if c.validity_timeframe
        else None,
        "validity_day_of_week": c.validity_day_of_week or None,
        "validity_hours": hours_out(c),
        "vouchers_count": getattr(meta, "vouchers_count", 0) or 0,
        "start_date": dt_out(c.start_date),
        "expiration_date": dt_out(c.expiration_date),
        "active": c.active,
        "metadata": c.metadata,
        "created_at": iso(getattr(meta, "created_at", None)),
        "updated_at": iso(getattr(meta, "updated_at", None)),
        "category": c.category,
        "category_id": c.category,
        "categories": [],
        "creation_status": getattr(meta, "creation_status", None) or "DONE",
        "vouchers_generation_status": getattr(meta, "creation_status", None) or "DONE",
        "object": "campaign",
        "validation_rules_assignments": assignments_out(c.validation_rules, "campaign", c.id),
        "validation_rules": c.validation_rules,
        "limits": {k: v for k, v in msgspec.to_builtins(c.limits).items() if v is not None},
        "async_action_id": getattr(meta, "async_action_id", None),
    }
    if c.promotion is not None:
        tiers = [tier_out(t, c, tier_times.get(t.id)) for t in c.promotion.tiers]
        out["promotion"] = {
            "object": "list",
            "data_ref": "tiers",
            "tiers": tiers,
            "total": len(tiers),
            "has_more": False,
        }
    return {k: v for k, v in out.items() if v is not None}


# ------------------------------------------------------------------------------ vouchers


def voucher_in(
    body: dict[str, Any], code: str, campaign_id: str | None, voucher_id: str | None
) -> dict[str, Any]:
    out: dict[str, Any] = {"code": code}
    if campaign_id:
        out["campaign_id"] = campaign_id
    if voucher_id:
        out["id"] = voucher_id
    for k in ("active", "metadata"):
        if k in body:
            out[k] = body[k]
    cat = body.get("category_id") or body.get("category")
    if cat:
        out["category"] = cat
    if "discount" in body:
        out["discount"] = discount_in(body["discount"], "discount")
    if isinstance(body.get("gift"), dict):
        out["gift"] = {"amount": _int(body["gift"].get("amount"))}
    if isinstance(body.get("loyalty_card"), dict):
        out["loyalty_card"] = {"points": _int(body["loyalty_card"].get("points"))}
    if isinstance(body.get("redemption"), dict):
        out["redemption"] = {
            k: body["redemption"][k]
            for k in ("quantity", "per_customer")
            if k in body["redemption"]
        }
    for k in ("start_date", "expiration_date"):
        if k in body:
            out[k] = body[k]
    cust = body.get("customer_id") or body.get("holder_id")
    if isinstance(body.get("customer"), dict):
        cust = body["customer"].get("source_id") or body["customer"].get("id") or cust
    if cust:
        out["customer_id"] = cust
    rules = rule_ids_in(body)
    if rules is not None:
        out["validation_rules"] = rules
    return out


def voucher_update_in(cur: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    out = dict(cur)
    upd = voucher_in(body, cur["code"], None, None)
    upd.pop("code")
    if "metadata" in upd:
        out["metadata"] = merged(out.get("metadata"), upd.pop("metadata"), "metadata")
    out.update(upd)
    return out


def voucher_out(
    v: m.Voucher,
    camp: m.Campaign | None,
    counters: tuple[int, int, int] = (0, 0, 0),
    times: list[int] | None = None,
) -> dict[str, Any]:
    tpl = camp.voucher if camp is not None else None
    vtype = tpl.type if tpl is not None else "DISCOUNT_VOUCHER"
    discount = v.discount or (tpl.discount if tpl is not None else None)
    gift = v.gift or (tpl.gift if tpl is not None else None)
    loyalty = v.loyalty_card or (tpl.loyalty_card if tpl is not None else None)
    if tpl is None:
        vtype = (
            "GIFT_VOUCHER"
            if gift is not None
            else "LOYALTY_CARD"
            if loyalty is not None
            else "DISCOUNT_VOUCHER"
        )
    red = v.redemption or (tpl.redemption if tpl is not None else m.RedemptionLimit())
    uses, spent, points = counters
    out: dict[str, Any] = {
        "id": v.id or v.code,
        "code": v.code,
        "campaign": camp.name if camp is not None else None,
        "campaign_id": v.campaign_id,
        "category": v.category or (camp.category if camp is not None else None),
        "category_id": v.category or (camp.category if camp is not None else None),
        "type": vtype,
        "discount": discount_out(discount),
        "gift": {
            "amount": gift.amount,
            "subtracted_amount": spent,
            "balance": max(0, gift.amount - spent),
            "effect": "APPLY_TO_ORDER",
        }
        if gift is not None
        else None,
        "loyalty_card": {
            "points": loyalty.points,
            "balance": max(0, loyalty.points - points),
            "subtracted_points": points,
        }
        if loyalty is not None
        else None,
        "start_date": dt_out(v.start_date),
        "expiration_date": dt_out(v.expiration_date),
        "active": v.active,
        "metadata": v.metadata,
        "holder_id": v.customer_id,
        "customer_id": v.customer_id,
        "object": "voucher",
        "redemption": {
            "quantity": red.quantity,
            "per_customer": red.per_customer,
            "redeemed_quantity": uses,
            "object": "list",
            "url": f"/v1/vouchers/{v.code}/redemptions",
        },
        "validation_rules_assignments": assignments_out(
            v.validation_rules, "voucher", v.id or v.code
        ),
        "validation_rules": v.validation_rules,
        "is_referral_code": camp is not None and camp.campaign_type == "REFERRAL_PROGRAM",
    }
    if times:
        out["created_at"], out["updated_at"] = iso(times[0]), iso(times[1])
    out["redemption"] = {k: x for k, x in out["redemption"].items() if x is not None}
    return {k: x for k, x in out.items() if x is not None}


# ------------------------------------------------------------------------------ validation rules


def rule_in(body: dict[str, Any], rule_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {"id": rule_id}
    for k in ("name", "rules", "error", "applicable_to", "context_type"):
        if k in body:
            out[k] = body[k]
    t = body.get("type")
    if t in ("basic", "advanced", "complex"):
        out["type"] = t
    return out


def rule_out(r: m.ValidationRule, times: list[int] | None, assignments: int) -> dict[str, Any]:
    out = msgspec.to_builtins(r)
    out.setdefault("rules", {})
    out["type"] = r.type
    out["context_type"] = r.context_type or "global"
    out["object"] = "validation_rules"
    out["assignments_count"] = assignments
    if times:
        out["created_at"], out["updated_at"] = iso(times[0]), iso(times[1])
    return out


# ------------------------------------------------------------------------------ products


def product_in(body: dict[str, Any], product_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {"id": product_id}
    for k in ("source_id", "name", "price", "metadata", "categories", "collections"):
        if k in body:
            out[k] = body[k]
    return out


def sku_out(s: m.Sku, p: m.Product, times: list[int] | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": s.id,
        "source_id": s.source_id,
        "product_id": p.id,
        "price": s.price,
        "metadata": s.metadata,
        "object": "sku",
    }
    if times:
        out["created_at"], out["updated_at"] = iso(times[0]), iso(times[1])
    return {k: v for k, v in out.items() if v is not None}


def product_out(
    p: m.Product, times: list[int] | None, sku_times: dict[str, list[int]]
) -> dict[str, Any]:
    skus = [sku_out(s, p, sku_times.get("sku:" + s.id)) for s in p.skus]
    out: dict[str, Any] = {
        "id": p.id,
        "source_id": p.source_id,
        "name": p.name,
        "price": p.price,
        "attributes": [],
        "metadata": p.metadata,
        "categories": p.categories,
        "collections": p.collections,
        "object": "product",
        "skus": {"object": "list", "data_ref": "data", "data": skus, "total": len(skus)},
    }
    if times:
        out["created_at"], out["updated_at"] = iso(times[0]), iso(times[1])
    return {k: v for k, v in out.items() if v is not None}
