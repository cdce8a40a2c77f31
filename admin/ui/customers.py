"""Customers and the customer 360: profile, wallet, timeline with refusals, rollback."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from core import engine
from core import model as m
from store.keys import campaign_tag

from .. import reports
from ..app import Ctx, call_route, route_answer
from ..auth import can
from ..errors import ApiError
from ..routes_defs import disable_voucher
from ..routes_ledger import customer_wallet
from ..routes_members import live_customer
from ..routes_people import create_publication, customer_key, load_customer, segments_of
from .base import (
    MAX_FIELD,
    PAGE_SIZE,
    SECURITY_HEADERS,
    Signed,
    _cursor,
    _enter,
    _groups,
    _int,
    _page,
    _posted,
    _rollback_then,
    _timeline,
)

#: the per-customer windows the engine counts (core's planner: ``{c:<id>}:cust:<key>`` and its
#: ``:d:`` / ``:w:`` / ``:m:`` windows): (campaign limit, rule property, suffix, label)
WINDOWS = (
    ("per_customer", "redemption.count.per_customer", "", "in all"),
    ("per_customer_per_day", "redemption.count.per_customer_per_day", "d", "today"),
    ("per_customer_per_week", "redemption.count.per_customer_per_week", "w", "this week"),
    ("per_customer_per_month", "redemption.count.per_customer_per_month", "m", "this month"),
)
#: campaigns whose codes can be issued to one customer (a promotion has no code)
ISSUABLE = ("DISCOUNT_COUPONS", "GIFT_VOUCHERS", "LOYALTY_PROGRAM", "REFERRAL_PROGRAM")


def _window_limits(st: Any, camp: m.Campaign) -> list[int | None]:
    """The limit of each of :data:`WINDOWS` for ``camp``: its own, or the lowest of its
    validation rules' counter rules (the same bound core compiles)."""
    out: list[int | None] = [getattr(camp.limits, w[0]) for w in WINDOWS]
    rules = {vr.id: vr for vr in st.defs.validation_rules}
    for rid in camp.validation_rules:
        vr = rules.get(rid)
        for k, rule in (vr.rules if vr else {}).items():
            if k == "logic" or isinstance(rule, str):
                continue
            for i, w in enumerate(WINDOWS):
                if rule.name == w[1]:
                    lim = engine._counter_limit(rule, f"validation_rules.{rid}.rules.{k}")
                    out[i] = lim if out[i] is None else min(out[i], lim)
    return out


async def limit_usage(ctx: Ctx, cust_key: str, campaign_ids: set[str]) -> list[dict[str, Any]]:
    """Per-customer use of each campaign the customer touched, read from the live counters
    the gateway counts and checks ("used 1 of 1 this week"): one row per window that has a
    limit, and the all-time count always."""
    st = await ctx.repo.state()
    clock = engine.clock_for(ctx.now())
    period = {"": "", "d": clock.day, "w": clock.week, "m": clock.month}
    wanted: list[tuple[m.Campaign, str, int | None, str]] = []
    for cid in sorted(campaign_ids):
        camp = st.campaign(cid)
        if camp is None:
            continue
        base = campaign_tag(camp.id) + ":cust:" + cust_key
        for w, lim in zip(WINDOWS, _window_limits(st, camp), strict=True):
            if lim is not None or not w[2]:
                key = base + (f":{w[2]}:{period[w[2]]}" if w[2] else "")
                wanted.append((camp, key, lim, w[3]))
    raw = await ctx.r.mget([ctx.k.counter(x[1]) for x in wanted]) if wanted else []
    return [{"campaign": c, "label": label, "limit": lim, "used": int(v or 0),
             "full": lim is not None and int(v or 0) >= lim}
            for (c, _, lim, label), v in zip(wanted, raw, strict=True)]  # fmt: skip


@get("/customers", include_in_schema=False)
async def customers(request: Request) -> Response:
    """The newest customers (``page``), and the search box: ``q`` is an id or a source_id (an
    exact match, one key read) and opens that customer's 360."""
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    qp = request.query_params
    q = (qp.get("q") or "").strip()[:MAX_FIELD]
    if q:
        return Redirect("/customers/" + quote(q, safe=""), status_code=303,
                        headers=SECURITY_HEADERS)  # fmt: skip
    page = _int(qp.get("page"), 1, 1, 1_000_000)
    total = int(await ctx.r.zcard(ctx.k.customers))
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(page, pages)
    start = (page - 1) * PAGE_SIZE
    ids = await ctx.r.zrevrange(ctx.k.customers, start, start + PAGE_SIZE - 1)
    raws = await ctx.r.mget([ctx.k.customer(i.decode()) for i in ids]) if ids else []
    rows = [msgspec.json.decode(r) for r in raws if r]
    return _page("customers.html", ctx, signed, rows=rows, total=total, page=page, pages=pages,
                 prev_link=f"/customers?page={page - 1}" if page > 1 else None,
                 next_link=f"/customers?page={page + 1}" if page < pages else None)  # fmt: skip


async def _customer_page(
    ctx: Ctx,
    signed: Signed,
    ident: str,
    after: str | None,
    notice: str | None = None,
    error: str | None = None,
    http_status: int = 200,
    **extra: Any,
) -> Template:
    cust = await load_customer(ctx, ident)
    key = customer_key(cust) if cust is not None else ident
    rows, more = await _timeline(ctx, reports.Filters(customer=key), after)
    if cust is None and not rows and after is None:
        raise ApiError(404, "not_found", "Resource not found",
                       f"No customer {ident!r} (no stored profile, no redemption)")  # fmt: skip
    wallet: list[dict[str, Any]] = []
    balances: dict[str, int] = {}
    live: dict[str, Any] = {}
    segments: list[dict[str, Any]] = []
    if cust is not None:
        wallet, balances = await customer_wallet(ctx, cust)
        live = await live_customer(ctx, cust)
        segments = await segments_of(ctx, cust)
    touched = {r["campaign_id"] for r in rows if r.get("campaign_id")}
    touched |= {v["campaign_id"] for v in wallet if v.get("campaign_id")}
    st = await ctx.repo.state()
    base = "/customers/" + quote(ident, safe="")
    return _page("customer.html", ctx, signed, http_status, cust=cust, ident=ident, key=key,
                 wallet=wallet, balances=balances, live=live, segments=segments,
                 groups=_groups(rows), base=base, notice=notice, error=error,
                 usage=await limit_usage(ctx, key, touched),
                 issuable=[c for c in st.defs.campaigns if c.campaign_type in ISSUABLE],
                 may_issue=can(signed.actor, "issue"),
                 next_link=f"{base}?after={more}" if more else None,
                 first_link=base if after else None, **extra)  # fmt: skip


@get("/customers/{ident:str}", include_in_schema=False)
async def customer(request: Request, ident: FromPath[str]) -> Response:
    """Customer 360: profile, segments, wallet with live balances, live summary, referrals,
    and the timeline of their redemptions, refusals included (newest first, ``after``)."""
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    after = _cursor(request.query_params.get("after"), row=True)
    return await _customer_page(ctx, signed, ident[:MAX_FIELD], after)


@post("/customers/{ident:str}/rollback", include_in_schema=False, status_code=200)
async def customer_rollback(request: Request, ident: FromPath[str]) -> Response:
    """Roll back one redemption with a required reason, through the API's own route (its role
    check ``rollback``, its audit entry ``redemption.rollback``)."""
    got = await _posted(request)
    if isinstance(got, Response):
        return got
    ctx, signed, form = got
    return await _rollback_then(request, form, lambda notice, error, status: _customer_page(
        ctx, signed, ident[:MAX_FIELD], None, notice, error, status))  # fmt: skip


async def _stored(ctx: Ctx, ident: str) -> dict[str, Any]:
    cust = await load_customer(ctx, ident)
    if cust is None:
        raise ApiError(404, "not_found", "Resource not found", f"No stored customer {ident!r}")
    return cust


@post("/customers/{ident:str}/issue", include_in_schema=False, status_code=200)
async def customer_issue(request: Request, ident: FromPath[str]) -> Response:
    """Issue a code of a campaign to this customer through the API's publication route (its
    role check ``issue``, its audit entry); a refusal is shown next to the campaign field."""
    got = await _posted(request)
    if isinstance(got, Response):
        return got
    ctx, signed, form = got
    ident = ident[:MAX_FIELD]
    cust = await _stored(ctx, ident)
    cid = form.get("campaign_id", "").strip()[:MAX_FIELD]
    if not cid:
        return await _customer_page(ctx, signed, ident, None, http_status=400,
                                    issue_error="Choose the campaign whose code to issue.")  # fmt: skip
    body = {"campaign": {"id": cid}, "customer": {"id": cust["id"]}}
    try:
        out = await route_answer(request, create_publication, body)
    except ApiError as exc:
        if exc.status in (401, 403):
            raise
        return await _customer_page(ctx, signed, ident, None, http_status=exc.status,
                                    issue_error=exc.details)  # fmt: skip
    code = out["voucher"]["code"]
    return await _customer_page(
        ctx, signed, ident, None, f"Code {code} of {cid} issued to this customer (audited)."
    )


@post("/customers/{ident:str}/code-state", include_in_schema=False, status_code=200)
async def customer_code_state(request: Request, ident: FromPath[str]) -> Response:
    """Disable one of the customer's codes through the API's voucher route (role
    ``code_state``, audited, published to the gateways: they refuse it at once)."""
    got = await _posted(request)
    if isinstance(got, Response):
        return got
    ctx, signed, form = got
    ident = ident[:MAX_FIELD]
    code = form.get("code", "").strip()[:MAX_FIELD]
    wallet, _ = await customer_wallet(ctx, await _stored(ctx, ident))
    if code not in {v["code"] for v in wallet}:
        raise ApiError(400, "invalid_payload", "Invalid payload",
                       "`code` must be a code this customer holds")  # fmt: skip
    await call_route(request, disable_voucher, code=code)  # the API's role check
    return await _customer_page(ctx, signed, ident, None,
                                f"Code {code} disabled (audited): checkouts refuse it now.")  # fmt: skip


HANDLERS = [customers, customer, customer_rollback, customer_issue, customer_code_state]
