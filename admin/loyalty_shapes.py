"""Translation between Voucherify's loyalty shapes and the core model's loyalty definitions.

Loyalty programs are LOYALTY_PROGRAM campaigns (admin/shapes.py makes them; :func:`program_in`,
:func:`program_update` and :func:`program_out` add what only wallet programs have); earning
rules, loyalty tiers, rewards and reward assignments are top-level lists of
``core.model.Definitions``, each naming its campaign. Inputs are plain JSON objects whose
explicit nulls are already removed (an absent field and a ``null`` are the same thing, as the
official SDK sends nulls for every field it was not given); outputs are plain dicts in the
shapes the SDK (voucherify 6.1.1) parses.

What Voucherify has and promogate keeps otherwise:

- an earning rule's ``source`` is its ``banner`` (``object_id`` / ``object_type`` are its
  campaign), its ``event`` and targets (``segment``, ``custom_event``, ``loyalty_tier``) never
  change after creation;
- a reward's ``type`` is what its one ``parameters`` member says (the SDK drops ``type``),
  ``parameters.campaign.type`` is read from the campaign it names, ``redeemed`` is the live
  counter the gateway keeps;
- a reward assignment's ``parameters.loyalty`` is kept flat (``points``, ``auto_redeem``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from core import model as m

from .errors import ApiError, invalid
from .repo import State
from .shapes import dt_out, iso, merged, need_object

#: the kinds of definitions (audit ``object_type``, ``meta.times`` keys, 404 ``resource_type``)
EARNING_RULE = "earning_rule"
LOYALTY_TIER = "loyalty_tier"
REWARD = "reward"
REWARD_ASSIGNMENT = "reward_assignment"

#: the kinds that belong to one program, with the Definitions list that holds each
PROGRAM_PARTS = (
    (EARNING_RULE, "earning_rules"),
    (LOYALTY_TIER, "loyalty_tiers"),
    (REWARD_ASSIGNMENT, "reward_assignments"),
)

WALLET_PROGRAMS = ("LOYALTY_PROGRAM", "REFERRAL_PROGRAM")


def b(obj: Any) -> Any:
    return msgspec.to_builtins(obj)


def _times(out: dict[str, Any], times: list[int] | None) -> None:
    if times:
        out["created_at"], out["updated_at"] = iso(times[0]), iso(times[1])


def _int(v: Any) -> Any:
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _flag(body: dict[str, Any], key: str, out: dict[str, Any]) -> None:
    if key in body:
        if not isinstance(body[key], bool):
            raise invalid(f"`{key}` must be true or false")
        out[key] = body[key]


# =============================================================================== programs


def program_in(body: dict[str, Any], d: dict[str, Any]) -> dict[str, Any]:
    """What a create-campaign body ``body`` adds to ``d`` (admin/shapes.campaign_in's core
    Campaign dict) for a wallet program: ``auto_join``, ``join_once`` and, for a loyalty
    program, its card template (``voucher.loyalty_card``: ``points`` 0 unless given, and the
    program's ``expiration_rules``)."""
    ct = d.get("campaign_type")
    if ct not in WALLET_PROGRAMS:
        return d
    _flag(body, "auto_join", d)
    _flag(body, "join_once", d)
    if ct == "LOYALTY_PROGRAM":
        tpl = d.setdefault("voucher", {})
        tpl["type"] = "LOYALTY_CARD"
        sent = body.get("voucher") if isinstance(body.get("voucher"), dict) else {}
        tpl["loyalty_card"] = _card_in(sent.get("loyalty_card"), {"points": 0})
    _referral_in(ct, body, d)
    return d


def _referral_in(ct: str, body: dict[str, Any], d: dict[str, Any]) -> None:
    """A referral programme's ``referral_program`` (core.model.ReferralProgram checks it)."""
    if ct != "REFERRAL_PROGRAM" or body.get("referral_program") is None:
        return
    if not isinstance(body["referral_program"], dict):
        raise invalid("`referral_program` must be an object")
    d["referral_program"] = body["referral_program"]


def _card_in(sent: Any, cur: dict[str, Any]) -> dict[str, Any]:
    """``cur`` (a core LoyaltyCard dict) with the fields of ``sent`` (a Voucherify
    ``loyalty_card``, or None)."""
    out = dict(cur)
    if sent is None:
        return out
    if not isinstance(sent, dict):
        raise invalid("`voucher.loyalty_card` must be an object")
    for k in ("points", "point_value", "expiration_rules"):
        if k in sent:
            out[k] = _int(sent[k])
    return out


def program_update(prev: m.Campaign, body: dict[str, Any], d: dict[str, Any]) -> dict[str, Any]:
    """What an update-campaign body ``body`` changes in ``d`` (admin/shapes.campaign_update_in's
    result for the campaign ``prev``) for a wallet program: ``auto_join``, ``join_once``, the
    card template's fields given (the others kept, ``expiration_rules`` included), a referral
    programme's ``referral_program`` (replaced whole when given)."""
    if prev.campaign_type not in WALLET_PROGRAMS:
        return d
    _flag(body, "auto_join", d)
    _flag(body, "join_once", d)
    if prev.campaign_type == "LOYALTY_PROGRAM" and prev.voucher is not None:
        sent = body.get("voucher") if isinstance(body.get("voucher"), dict) else {}
        tpl = d.setdefault("voucher", {})
        tpl["type"] = "LOYALTY_CARD"
        cur = b(prev.voucher.loyalty_card) if prev.voucher.loyalty_card else {"points": 0}
        tpl["loyalty_card"] = _card_in(sent.get("loyalty_card"), cur)
    _referral_in(prev.campaign_type, body, d)
    return d


def program_out(c: m.Campaign, out: dict[str, Any]) -> dict[str, Any]:
    """Complete ``out`` (admin/shapes.campaign_out's answer for ``c``) for a wallet program:
    ``auto_join`` / ``join_once``, the card's ``expiration_rules``, a referral programme's
    ``referral_program`` (the referee reward's ``amount`` a string, as SDK 6.1.1 expects) and
    ``is_referral_code``, and a ``type`` the SDK's models accept (``STANDALONE`` is answered as
    the campaign's ``AUTO_UPDATE`` / ``STATIC``)."""
    if c.campaign_type not in WALLET_PROGRAMS:
        return out
    out["auto_join"] = c.auto_join is True
    out["join_once"] = c.join_once is not False
    if c.campaign_type == "LOYALTY_PROGRAM":
        if out.get("type") not in ("AUTO_UPDATE", "STATIC"):
            out["type"] = c.type
        lc = c.voucher.loyalty_card if c.voucher is not None else None
        if lc is not None and isinstance(out.get("voucher"), dict):
            card: dict[str, Any] = {"points": lc.points}
            if lc.expiration_rules is not None:
                card["expiration_rules"] = b(lc.expiration_rules)
            out["voucher"]["loyalty_card"] = card
            out["voucher"]["is_referral_code"] = False
    else:  # REFERRAL_PROGRAM: its codes are referral codes; the referee reward's amount a string
        if out.get("type") not in ("AUTO_UPDATE", "STATIC"):
            out["type"] = c.type
        if isinstance(out.get("voucher"), dict):
            out["voucher"]["is_referral_code"] = True
        rp = c.referral_program
        if rp is not None:
            rpo = b(rp)
            rpo.setdefault("conversion_event_type", rp.conversion_event_type)
            if rp.referee_reward is not None:
                rpo["referee_reward"]["amount"] = str(rp.referee_reward.amount)
            out["referral_program"] = rpo
    return out


def drop_program_parts(st: State, c: m.Campaign) -> None:
    """As the campaign ``c`` is deleted: its earning rules, tiers and reward assignments go
    with it (their times too). A reward that gives a code or credit of ``c`` refuses the
    deletion (400 ``resource_in_use``): delete or change that reward first."""
    users = [
        r.id
        for r in st.defs.rewards
        if r.parameters.campaign is not None and r.parameters.campaign.id == c.id
    ]
    if users:
        raise ApiError(400, "resource_in_use", "Resource in use",
                       f"campaign {c.id} is given by reward(s) {', '.join(users[:10])}: "
                       "delete or change them first", resource_id=c.id, resource_type="campaign")  # fmt: skip
    for kind, attr in PROGRAM_PARTS:
        items = getattr(st.defs, attr)
        setattr(st.defs, attr, [x for x in items if x.campaign_id != c.id])
        for x in items:
            if x.campaign_id == c.id:
                st.meta.times.pop(f"{kind}:{x.id}", None)


def unmap(st: State, field: str, ident: str) -> None:
    """Remove the mapping of ``ident`` (an earning rule, or a reward assignment) from every
    tier's ``field`` (``earning_rules`` / ``rewards``): it goes as the object is deleted."""
    for t in st.defs.loyalty_tiers:
        maps = getattr(t, field)
        if maps and ident in maps:
            rest = {k: v for k, v in maps.items() if k != ident}
            setattr(t, field, rest or None)


# =============================================================================== earning rules

_RULE_FIELDS = (
    "event",
    "loyalty",
    "validation_rule_id",
    "active",
    "start_date",
    "expiration_date",
    "validity_timeframe",
    "validity_day_of_week",
    "validity_hours",
    "expiration_rules",
    "pending_points",
    "segment",
    "custom_event",
    "loyalty_tier",
    "metadata",
    "limits",
)
#: what an update may change (``event`` and its targets may not)
_RULE_SETTABLE = (
    "validation_rule_id",
    "active",
    "start_date",
    "expiration_date",
    "validity_timeframe",
    "validity_day_of_week",
    "validity_hours",
    "expiration_rules",
    "pending_points",
    "limits",
)


def _banner(body: dict[str, Any]) -> dict[str, Any] | None:
    src = body.get("source")
    if src is None:
        return None
    if not isinstance(src, dict):
        raise invalid("`source` must be an object")
    return {"banner": src["banner"]} if "banner" in src else None


def earning_rule_in(body: Any, rule_id: str, campaign_id: str) -> dict[str, Any]:
    """A core EarningRule dict from one item of a create-earning-rules body."""
    body = need_object(body, "earning rule")
    out: dict[str, Any] = {"id": rule_id, "campaign_id": campaign_id}
    for k in _RULE_FIELDS:
        if k in body:
            out[k] = body[k]
    src = _banner(body)
    if src is not None:
        out["source"] = src
    return out


def earning_rule_update(cur: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """``cur`` (a core EarningRule dict) changed by an update body: only what may change, only
    what is given (a null is absent: nothing stored is wiped). ``loyalty`` with a ``type`` is
    replaced whole; without one, its given fields change. ``metadata`` is merged."""
    out = dict(cur)
    for k in _RULE_SETTABLE:
        if k in body:
            out[k] = body[k]
    if "loyalty" in body:
        lo = body["loyalty"]
        if not isinstance(lo, dict):
            raise invalid("`loyalty` must be an object")
        out["loyalty"] = lo if "type" in lo else {**(cur.get("loyalty") or {}), **lo}
    src = _banner(body)
    if src is not None:
        out["source"] = {**(cur.get("source") or {}), **src}
    if "metadata" in body:
        out["metadata"] = merged(cur.get("metadata"), body["metadata"], "metadata")
    return out


def _hours_out(er: m.EarningRule) -> dict[str, Any] | None:
    vh = er.validity_hours
    if vh is None:
        return None
    if isinstance(vh, m.ValidityHours):
        return b(vh)
    days = list(er.validity_day_of_week or range(7))
    return {
        "daily": [
            {"start_time": h.start, "expiration_time": h.end, "days_of_week": days} for h in vh
        ]
    }


def _mapped(points: int, mapping: m.TierMapping | None) -> int:
    """``points`` as a tier's mapping makes them (as core.earning: MULTIPLY rounds down, in
    millionths; CUSTOM replaces)."""
    if mapping is None:
        return points
    if mapping.type == "CUSTOM":
        return mapping.points if mapping.points is not None else points
    millionths = round((mapping.multiplier or 0) * 1_000_000)
    return max(0, points * millionths // 1_000_000)


def earning_rule_out(
    er: m.EarningRule, times: list[int] | None, mapping: m.TierMapping | None = None
) -> dict[str, Any]:
    """The Voucherify earning rule; ``mapping``: a tier's, applied to its points (the tier's
    earning-rules list)."""
    loyalty = b(er.loyalty)
    if mapping is not None:
        if er.loyalty.type == "FIXED" and er.loyalty.points is not None:
            loyalty["points"] = _mapped(er.loyalty.points, mapping)
        else:
            where, block = er.loyalty.block()
            if block is not None and block.points is not None:
                holder, name = where.split(".")
                loyalty[holder][name]["points"] = _mapped(block.points, mapping)
    out: dict[str, Any] = {
        "id": er.id,
        "object": "earning_rule",
        "event": er.event,
        "loyalty": loyalty,
        "source": {
            "banner": er.source.banner if er.source is not None else None,
            "object_id": er.campaign_id,
            "object_type": "campaign",
        },
        "active": er.is_active,
        "validation_rule_id": er.validation_rule_id,
        "start_date": dt_out(er.start_date),
        "expiration_date": dt_out(er.expiration_date),
        "validity_timeframe": b(er.validity_timeframe) if er.validity_timeframe else None,
        "validity_day_of_week": er.validity_day_of_week or None,
        "validity_hours": _hours_out(er),
        "expiration_rules": b(er.expiration_rules) if er.expiration_rules else None,
        "pending_points": b(er.pending_points) if er.pending_points else None,
        "segment": b(er.segment) if er.segment else None,
        "custom_event": b(er.custom_event) if er.custom_event else None,
        "loyalty_tier": b(er.loyalty_tier) if er.loyalty_tier else None,
        "metadata": er.metadata or {},
        "limits": b(er.limits) if er.limits else None,
    }
    if out["source"]["banner"] is None:
        del out["source"]["banner"]
    _times(out, times)
    return {k: v for k, v in out.items() if v is not None}


# =============================================================================== tiers


def tier_in(body: Any, tier_id: str, campaign_id: str) -> dict[str, Any]:
    """A core LoyaltyTier dict from one item of a create-tiers body."""
    body = need_object(body, "loyalty tier")
    out: dict[str, Any] = {"id": tier_id, "campaign_id": campaign_id}
    for k in ("name", "points", "earning_rules", "rewards", "metadata"):
        if k in body:
            out[k] = body[k]
    return out


def tier_out(t: m.LoyaltyTier, times: list[int] | None) -> dict[str, Any]:
    points = {"from": t.points.from_, "to": t.points.to}
    out: dict[str, Any] = {
        "id": t.id,
        "object": "loyalty_tier",
        "name": t.name or "",
        "campaign_id": t.campaign_id,
        "points": points,
        "config": {"points": dict(points)},
        "earning_rules": {k: b(v) for k, v in (t.earning_rules or {}).items()},
        "rewards": {k: b(v) for k, v in (t.rewards or {}).items()},
        "metadata": t.metadata or {},
    }
    _times(out, times)
    return out


# =============================================================================== rewards

_REWARD_PARAMS = {"CAMPAIGN": "campaign", "MATERIAL": "product", "COIN": "coin"}


def reward_in(body: dict[str, Any], reward_id: str) -> dict[str, Any]:
    """A core Reward dict from a create-reward body (its ``type`` inferred by core.model when
    the body has none, as the SDK sends it)."""
    out: dict[str, Any] = {"id": reward_id}
    for k in ("name", "type", "stock", "attributes", "metadata"):
        if k in body:
            out[k] = body[k]
    if "parameters" not in body:
        raise invalid("a reward needs `parameters`: one of `campaign`, `product`, `coin`")
    out["parameters"] = _params_in(body["parameters"])
    return out


def _params_in(params: Any) -> dict[str, Any]:
    params = dict(need_object(params, "`parameters`"))
    camp = params.get("campaign")
    if isinstance(camp, dict):
        params["campaign"] = {k: v for k, v in camp.items() if k != "type"}  # answers only
    return params


def reward_update(cur: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """``cur`` (a core Reward dict) changed by an update body. The reward's kind stays: the
    member of ``parameters`` given must be its own, and its given fields change."""
    out = dict(cur)
    for k in ("name", "stock"):
        if k in body:
            out[k] = body[k]
    if "type" in body and body["type"] != cur.get("type"):
        raise invalid(f"a reward's `type` cannot change (it is {cur.get('type')})")
    for k in ("attributes", "metadata"):
        if k in body:
            out[k] = merged(cur.get(k), body[k], k)
    if "parameters" in body:
        params = _params_in(body["parameters"])
        own = _REWARD_PARAMS.get(cur.get("type") or "", "")
        other = [k for k in params if k in ("campaign", "product", "coin") and k != own]
        if other:
            raise invalid(f"a {cur.get('type')} reward takes `parameters.{own}`, not "
                          f"`parameters.{other[0]}` (its type cannot change)")  # fmt: skip
        if own in params:
            new = merged((cur.get("parameters") or {}).get(own), params[own], f"parameters.{own}")
            out["parameters"] = {own: new}
    return out


def reward_out(rw: m.Reward, st: State, times: list[int] | None, redeemed: int) -> dict[str, Any]:
    """The Voucherify reward; ``redeemed``: units redeemed (the gateway's live counter)."""
    params = b(rw.parameters)
    if rw.parameters.campaign is not None:
        c = st.campaign(rw.parameters.campaign.id)
        if c is not None:
            params["campaign"]["type"] = c.campaign_type
    if "coin" in params:
        params["coin"]["exchange_ratio"] = _int(params["coin"]["exchange_ratio"])
    out: dict[str, Any] = {
        "id": rw.id,
        "object": "reward",
        "name": rw.name,
        "type": rw.type,
        "parameters": params,
        "stock": rw.stock,
        "redeemed": redeemed,
        "attributes": b(rw.attributes) if rw.attributes is not None else {},
        "metadata": rw.metadata or {},
    }
    _times(out, times)
    return out


# =============================================================================== assignments


def assignment_in(
    body: dict[str, Any], assignment_id: str, reward_id: str, campaign_id: str
) -> dict[str, Any]:
    """A core RewardAssignment dict (its Voucherify ``parameters.loyalty`` lifted by core)."""
    out: dict[str, Any] = {"id": assignment_id, "reward_id": reward_id, "campaign_id": campaign_id}
    lo = loyalty_params(body)
    if lo:
        out["parameters"] = {"loyalty": lo}
    return out


def loyalty_params(body: dict[str, Any]) -> dict[str, Any]:
    """``parameters.loyalty`` of an assignment body (``{}`` when absent)."""
    if body.get("validation_rules"):
        raise invalid("validation rules on a reward assignment are not supported - at "
                      "`validation_rules` (assign them to the program's earning rules)")  # fmt: skip
    params = body.get("parameters")
    if params is None:
        return {}
    lo = need_object(params, "`parameters`").get("loyalty")
    if lo is None:
        return {}
    lo = need_object(lo, "`parameters.loyalty`")
    return {k: lo[k] for k in ("points", "auto_redeem") if k in lo}


def assignment_update(cur: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """``cur`` (a core RewardAssignment dict) with the ``parameters.loyalty`` fields given."""
    out = dict(cur)
    lo = loyalty_params(body)
    for k in ("points", "auto_redeem"):
        if k in lo:
            out.pop(k, None)
    if lo:
        out["parameters"] = {"loyalty": lo}
    return out


def assignment_out(
    a: m.RewardAssignment, times: list[int] | None, points: int | None = None
) -> dict[str, Any]:
    """The Voucherify reward assignment; ``points``: its price for a tier, when not its own."""
    price = a.points if points is None else points
    lo: dict[str, Any] = {"auto_redeem": a.auto_redeem is True}
    if price is not None:
        lo["points"] = price
    out: dict[str, Any] = {
        "id": a.id,
        "object": "reward_assignment",
        "reward_id": a.reward_id,
        "related_object_id": a.campaign_id,
        "related_object_type": "campaign",
        "parameters": {"loyalty": lo},
    }
    _times(out, times)
    return out


def tier_price(a: m.RewardAssignment, t: m.LoyaltyTier) -> int | None:
    """The price of ``a`` for a member in tier ``t`` (None: a COIN reward, no price)."""
    if a.points is None:
        return None
    return _mapped(a.points, (t.rewards or {}).get(a.id))
