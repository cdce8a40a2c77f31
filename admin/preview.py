"""The preview: a cart judged as the checkout would judge it, read-only, with the reasons.

``POST /v1/preview`` (admin/routes_preview.py) and the web UI's ``/preview`` page call
:func:`preview`. It evaluates an order for a customer (or a guest) at a time of the caller's
choosing (``at``: "pretend it is"), against the published definitions or an unsaved draft
(``changes``, dry-run through their own routes by :func:`admin.drafts.run`, or a pending change
set of :mod:`admin.approvals`), and against the LIVE counters, read without writing anything
(:meth:`store.counters.Store.peek`: no counter, no ledger entry, no customer upsert, no
session purge).

It runs core's own evaluator the way the gateway does (``core.engine.evaluate``: a first pass
that plans the counter operations, then a second with the live values of the counters those
plans are limited by), so its verdicts are the checkout's: the same statuses and error keys.
It adds what a marketer needs to understand them: a sentence per redeemable and, when a limit
refused it, the limit's name and numbers (``core``'s ``Outcome.limit``: the limit, what is
used so far, what this order would add).

Without ``redeemables``, every promotion and code that could apply to the cart is tried (the
candidates of ``core.engine.candidates``, as qualifications finds them: promotion tiers the
cart's items reach, always-on tiers, generic codes, the customer's own codes): each is judged
alone first (so a refusal shows its own reason rather than a stacking skip), then the ones that
apply alone are stacked together, which gives the stacking result and the final order.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from litestar import Request

import core
from core import model as m
from core.errors import CompileError, RequestError
from store import codebook
from store.loyalty import _customer_model

from . import drafts
from .app import Ctx
from .errors import ApiError, invalid
from .routes_ledger import _store
from .routes_members import _loyalty
from .routes_people import load_customer, segments_of
from .shapes import convert, iso

E = core.engine
NO_LIMIT = -1  # core's "no limit"
H_VOUCHER = 1  # core's Holder.kind of a code
#: candidates tried when the caller names no redeemables (the rest are left out, said so)
MAX_CANDIDATES = 100
#: codes of the customer's wallet looked at (as the gateway's qualifications)
WALLET_MAX = 500
BODY_FIELDS = ("order", "customer", "redeemables", "at", "changes", "change_set_id")
#: limits whose figures are money (cents)
MONEY = ("discount_budget", "order_value_budget", "gift_credits", "gift_balance")
#: a limit's name -> how a sentence says it
LABELS = {
    "code_uses": "uses of this code",
    "code_per_customer": "uses of this code per customer",
    "gift_balance": "gift card balance",
    "card_points": "card points",
    "campaign_redemptions": "campaign redemptions",
    "campaign_per_day": "campaign redemptions per day",
    "discount_budget": "discount budget",
    "order_value_budget": "order value budget",
    "gift_credits": "gift credits budget",
    "per_customer": "per customer",
    "per_customer_day": "per customer per day",
    "per_customer_week": "per customer per week",
    "per_customer_month": "per customer per month",
    "referee_once": "referred once per program",
    "referees_per_referrer": "referees per referrer",
}


# ------------------------------------------------------------------------------- input


def _at(raw: Any, ctx: Ctx) -> int:
    """``at`` (ISO 8601 with a timezone) as epoch ms; now when absent."""
    if raw is None:
        return ctx.now()
    if not isinstance(raw, str):
        raise invalid("`at` must be an ISO 8601 time, e.g. 2026-07-01T12:00:00Z")
    try:
        when = dt.datetime.fromisoformat(raw.strip())
    except ValueError:
        raise invalid(f"`at` is not an ISO 8601 time: {raw[:60]!r}") from None
    if when.tzinfo is None:
        raise invalid("`at` needs a timezone (use UTC, e.g. 2026-07-01T12:00:00Z)")
    return int(when.timestamp() * 1000)


def _order(raw: Any) -> m.Order:
    if not isinstance(raw, dict):
        raise invalid("`order` is required: an object with `amount` and/or `items`")
    order = convert(raw, m.Order, "order")
    for i, it in enumerate(order.items or ()):
        priced = it.price is not None and it.quantity is not None and it.amount is not None
        if priced and it.amount != it.price * it.quantity:
            raise ApiError(400, "invalid_order", "Invalid order",
                           f"order.items[{i}].amount must equal price x quantity")  # fmt: skip
    return order


def _redeemables(raw: Any) -> list[m.Redeemable] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw:
        raise invalid("`redeemables` must be a non-empty list (leave it out to try every "
                      "promotion and code that could apply)")  # fmt: skip
    return convert(raw, list[m.Redeemable], "redeemables")


async def _customer(ctx: Ctx, raw: Any) -> tuple[m.Customer | None, dict[str, Any] | None]:
    """The customer as core judges it, and its stored record (None for a guest or a customer
    admin does not know: judged as a new one). A string names a stored customer (id or
    source_id); an object is taken as a checkout sends it."""
    if raw is None:
        return None, None
    if isinstance(raw, str):
        if not raw.strip() or len(raw) > 200:
            raise invalid("`customer` must be 1-200 characters (an id or a source_id)")
        stored = await load_customer(ctx, raw.strip())
        if stored is None:
            return m.Customer(source_id=raw.strip()), None
        metrics = await _loyalty(ctx).members.metrics(stored["id"])
        return _customer_model(stored, metrics), stored
    if not isinstance(raw, dict):
        raise invalid("`customer` must be an object or a customer id")
    cust = convert(raw, m.Customer, "customer")
    cust.summary = None  # never the client's word for its metrics
    ident = cust.source_id or cust.id
    return cust, (await load_customer(ctx, ident) if ident else None)


class Source(msgspec.Struct):
    """The definitions judged with: the published ones, or a draft."""

    kind: str  # "published" | "draft" | "change_set"
    version: int
    rs: Any
    codes: dict[str, m.Voucher]
    change_set_id: str | None = None


async def _source(request: Request, ctx: Ctx, body: dict[str, Any]) -> Source:
    if body.get("changes") is not None and body.get("change_set_id") is not None:
        raise invalid("Give `changes` or `change_set_id`, not both")
    csid = body.get("change_set_id")
    if csid is not None:
        from .approvals import pending_ops  # approvals previews through this module

        ops = await pending_ops(ctx, csid)
    elif body.get("changes") is not None:
        ops = drafts.ops_from(body["changes"])
    else:
        st, rs = await ctx.repo.ruleset()
        return Source("published", st.version, rs, {})
    draft, _ = await drafts.run(request, ops)
    kind = "change_set" if csid is not None else "draft"
    return Source(kind, draft.st.version, draft.rs, draft.codes, csid)


# ------------------------------------------------------------------------------- lookups


async def _vouchers(ctx: Ctx, src: Source, codes: list[str]) -> dict[str, Any]:
    """Holders of the codes kept outside the document (their buckets, or the draft's)."""
    out: dict[str, Any] = {}
    missing = [c for c in dict.fromkeys(codes) if c not in src.rs.vouchers]
    raws = await codebook.read(ctx.r, ctx.k, missing)
    for code, raw in zip(missing, raws, strict=True):
        v = src.codes.get(code)
        try:
            v = v or (msgspec.json.decode(raw, type=m.Voucher) if raw else None)
            if v is not None:
                out[code] = E.holder_for_voucher(src.rs, v)
        except (msgspec.ValidationError, msgspec.DecodeError, CompileError):
            continue  # unusable: judged as not found, as the gateway does
    return out


async def _wallet_codes(ctx: Ctx, cust: m.Customer | None) -> list[str]:
    if cust is None:
        return []
    found: list[str] = []
    for key in sorted({cust.source_id, cust.id} - {None, ""}):
        raw = await ctx.r.srandmember(ctx.k.customer_codes(key), WALLET_MAX)
        found += [c.decode() if isinstance(c, bytes) else str(c) for c in raw or ()]
    return found


async def _counters(ctx: Ctx, outcomes: list[Any], now: int) -> dict[str, int]:
    """Live values of the counters the outcomes' plans are limited by, read only; and the
    spendable points of the loyalty cards they pay with."""
    keys = E.keys_for(outcomes, True)
    values = await _store(ctx).peek(keys, now)
    out = dict(zip(keys, values, strict=True))
    for k_card, camp_id, code in E.cards_for(outcomes):
        card = await _loyalty(ctx).wallet.card(camp_id, code, now)
        out[k_card] = int(card.balance)
    return out


def _evaluate(rs: Any, reds: list[m.Redeemable], cust: Any, order: m.Order, now: int,
              vouchers: dict[str, Any], counters: dict[str, int] | None) -> Any:  # fmt: skip
    try:
        return E.evaluate(rs, reds, cust, order, now, vouchers, counters)
    except RequestError as exc:
        raise ApiError(400, exc.key, exc.message, exc.details) from None


async def _judge(ctx: Ctx, rs: Any, reds: list[m.Redeemable], cust: Any, order: m.Order,
                 now: int, vouchers: dict[str, Any]) -> Any:  # fmt: skip
    """Core's verdict with the live counters: plan first, read what the plans need, judge."""
    first = _evaluate(rs, reds, cust, order, now, vouchers, None)
    counters = await _counters(ctx, first.outcomes, now)
    return _evaluate(rs, reds, cust, order, now, vouchers, counters)


# ------------------------------------------------------------------------------- output


def limit_name(o: Any, key: str, customer_key: str) -> str:
    """Which limit a counter key is, for the outcome ``o`` whose plan holds it."""
    h, camp = o.holder, o.campaign
    if h is not None and h.kind == H_VOUCHER:
        named = {h.k_uses: "code_uses", h.k_base + ":c:" + customer_key: "code_per_customer",
                 h.k_base + ":spent": "gift_balance", h.k_base + ":points": "card_points"}  # fmt: skip
        if key in named:
            return named[key]
    if camp is None:
        return "limit"
    ck = camp.k_cust + customer_key
    named = {camp.k_uses: "campaign_redemptions", camp.k_disc: "discount_budget",
             camp.k_ordval: "order_value_budget", camp.k_spent: "gift_credits", ck: "per_customer",
             ck + ":d": "per_customer_day", ck + ":w": "per_customer_week",
             ck + ":m": "per_customer_month"}  # fmt: skip
    if key in named:
        return named[key]
    if key.startswith(camp.k_uses + ":d:"):
        return "campaign_per_day"
    if key.startswith(ck + ":"):
        return named.get(key[: len(ck) + 2], "per_customer")
    if key.startswith(camp.k_referee):
        return "referee_once"
    if key.startswith(camp.k_referrer):
        return "referees_per_referrer"
    return "limit"


def _figure(name: str, n: int) -> str:
    if name in MONEY:
        sign = "-" if n < 0 else ""
        return f"{sign}{abs(n) // 100:,}.{abs(n) % 100:02d}"
    return f"{n:,}"


def _limit(o: Any, customer_key: str) -> dict[str, Any] | None:
    if o.limit is None:
        return None
    key, adds, limit, _err, used = o.limit
    name = limit_name(o, key, customer_key)
    label = LABELS.get(name, "limit")
    text = f"{label} {_figure(name, limit)}: already used {_figure(name, used)}"
    if adds != 1 or name in MONEY:
        text += f", this order would add {_figure(name, adds)}"
    return {"name": name, "label": label, "limit": limit, "used": used, "adds": adds,
            "money": name in MONEY, "text": text}  # fmt: skip


def _entry(o: Any, customer_key: str) -> dict[str, Any]:
    h, camp = o.holder, o.campaign
    lim = _limit(o, customer_key)
    reason = lim["text"] if lim else (o.message if o.status != "APPLICABLE" else "")
    if o.details and o.status != "APPLICABLE":
        reason = f"{reason} ({o.details})" if reason else o.details
    return {
        "object": o.object,
        "id": o.id,
        "name": (h.name if h is not None else None) or None,
        "campaign_id": camp.id if camp is not None else None,
        "campaign_name": camp.name if camp is not None else None,
        "status": o.status,
        "key": o.key or None,
        "reason": reason or None,
        "limit": lim,
        "discount": o.total_discount,
        "gift_credits": o.gift_credits or None,
        "points": o.points or None,
        "alone": None,
    }


def _order_out(ev: Any) -> dict[str, Any]:
    return {
        "amount": ev.amount,
        "discount_amount": ev.discount_amount,
        "items_discount_amount": ev.items_discount_amount,
        "total_discount_amount": ev.total_discount_amount,
        "total_amount": ev.total_amount,
        "items": [
            {"product_id": it.product_id or None, "sku_id": it.sku_id or None,
             "quantity": it.quantity, "price": it.price, "amount": it.amount,
             "discount_amount": it.discount, "added_quantity": it.added or None}  # fmt: skip
            for it in ev.items
        ],
    }


def _stacking(rs: Any, ev: Any) -> dict[str, Any]:
    applied = ev.applicable()  # in request order, or by category hierarchy (the engine's)
    if rs.sort_hierarchy:
        applied = sorted(applied, key=E._hierarchy_key)
    rules = msgspec.to_builtins(rs.stacking) if rs.stacking is not None else None
    return {
        "rules": rules,
        "application_mode": "ALL" if rs.mode_all else "PARTIAL",
        "applied_in_order": [{"object": o.object, "id": o.id} for o in applied],
    }


# ------------------------------------------------------------------------------- preview


def _candidates(rs: Any, cust: Any, order: m.Order, wallet: dict[str, Any]) -> list[m.Redeemable]:
    out = []
    for h in E.candidates(rs, cust, order, wallet or None):
        if h.points != NO_LIMIT or h.wallet:
            continue  # pay with points needs an explicit reward request
        obj = "voucher" if h.kind == H_VOUCHER else "promotion_tier"
        out.append(m.Redeemable(object=obj, id=h.code if obj == "voucher" else h.id))
    return out


def _alone(o: Any, ckey: str) -> dict[str, Any]:
    e = _entry(o, ckey)
    return {k: e[k] for k in ("status", "key", "reason", "limit", "discount")}


async def _every(ctx: Ctx, rs: Any, cust: Any, order: m.Order, now: int,
                 vouchers: dict[str, Any]) -> tuple[list[dict[str, Any]], Any, int]:  # fmt: skip
    """Every candidate judged alone, then those that apply alone stacked: the entries, the
    stacked evaluation (None when none applies alone) and how many candidates were left out."""
    cands = _candidates(rs, cust, order, vouchers)
    left_out = max(0, len(cands) - MAX_CANDIDATES)
    cands = cands[:MAX_CANDIDATES]
    ckey = _key(cust)
    alone = [await _judge(ctx, rs, [r], cust, order, now, vouchers) for r in cands]
    fits = [r for r, ev in zip(cands, alone, strict=True) if ev.valid][: rs.limit_total]
    stacked = await _judge(ctx, rs, fits, cust, order, now, vouchers) if fits else None
    in_stack = {(o.object, o.id): o for o in (stacked.outcomes if stacked else ())}
    entries = []
    for ev in alone:
        o = ev.outcomes[0]
        e = _entry(in_stack.get((o.object, o.id), o), ckey)
        e["alone"] = _alone(o, ckey)
        entries.append(e)
    return entries, stacked, left_out


async def _named(ctx: Ctx, rs: Any, reds: list[m.Redeemable], cust: Any, order: m.Order,
                 now: int, vouchers: dict[str, Any]) -> tuple[list[dict[str, Any]], Any]:  # fmt: skip
    """The named redeemables stacked as the checkout would; one that is not applicable there
    is judged alone too, so a skip (e.g. after another's failure in ``ALL`` mode) also shows
    what it would meet on its own."""
    ev = await _judge(ctx, rs, reds, cust, order, now, vouchers)
    ckey = _key(cust)
    entries = []
    for r, o in zip(reds, ev.outcomes, strict=True):
        e = _entry(o, ckey)
        if o.status != "APPLICABLE" and len(reds) > 1:
            one = await _judge(ctx, rs, [r], cust, order, now, vouchers)
            e["alone"] = _alone(one.outcomes[0], ckey)
        entries.append(e)
    return entries, ev


def _key(cust: m.Customer | None) -> str:
    """The identity limits are counted against (core's ``customer_key``)."""
    return (cust.source_id or cust.id or "") if cust is not None else ""


async def preview(request: Request, ctx: Ctx, body: dict[str, Any]) -> dict[str, Any]:
    """The ``POST /v1/preview`` answer for ``body`` (see the module's docstring)."""
    unknown = sorted(set(body) - set(BODY_FIELDS))
    if unknown:
        raise invalid(f"Unknown field(s): {', '.join(unknown)} (expected {', '.join(BODY_FIELDS)})")
    order = _order(body.get("order"))
    reds = _redeemables(body.get("redeemables"))
    now = _at(body.get("at"), ctx)
    src = await _source(request, ctx, body)
    cust, stored = await _customer(ctx, body.get("customer"))
    if cust is not None and src.rs.needs_segments and stored is not None:
        cust.segments = [s["id"] for s in await segments_of(ctx, stored)]
    left_out = 0
    if reds is not None:
        vouchers = await _vouchers(ctx, src, [r.id for r in reds if r.object == "voucher"])
        entries, ev = await _named(ctx, src.rs, reds, cust, order, now, vouchers)
    else:
        vouchers = await _vouchers(ctx, src, await _wallet_codes(ctx, cust))
        entries, ev, left_out = await _every(ctx, src.rs, cust, order, now, vouchers)
    return {
        "object": "preview",
        "at": iso(now),
        "definitions": {"source": src.kind, "version": src.version,
                        "change_set_id": src.change_set_id},  # fmt: skip
        "customer": None if cust is None else {
            "id": (stored or {}).get("id") or cust.id, "source_id": cust.source_id,
            "known": stored is not None, "segments": cust.segments},  # fmt: skip
        "mode": "redeemables" if reds is not None else "every_candidate",
        "valid": bool(ev is not None and ev.valid),
        "redeemables": entries,
        "candidates_left_out": left_out,
        "stacking": _stacking(src.rs, ev) if ev is not None else None,
        "order": _order_out(ev) if ev is not None else _plain_order(order),
        "written": False,
    }


def _plain_order(order: m.Order) -> dict[str, Any]:
    """The order as sent, when nothing applies (no evaluation to take its figures from)."""
    amount = order.amount
    if amount is None:
        amount = sum((it.amount or (it.price or 0) * (it.quantity or 0)) for it in order.items or ())
    return {"amount": amount, "discount_amount": 0, "items_discount_amount": 0,
            "total_discount_amount": 0, "total_amount": amount, "items": []}  # fmt: skip
