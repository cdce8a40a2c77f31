"""Customers and the customer 360: profile, wallet, timeline with refusals, rollback."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from .. import reports
from ..app import Ctx
from ..errors import ApiError
from ..routes_ledger import customer_wallet
from ..routes_members import live_customer
from ..routes_people import customer_key, load_customer, segments_of
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
    base = "/customers/" + quote(ident, safe="")
    return _page("customer.html", ctx, signed, http_status, cust=cust, ident=ident, key=key,
                 wallet=wallet, balances=balances, live=live, segments=segments,
                 groups=_groups(rows), base=base, notice=notice, error=error,
                 next_link=f"{base}?after={more}" if more else None,
                 first_link=base if after else None)  # fmt: skip


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


HANDLERS = [customers, customer, customer_rollback]
