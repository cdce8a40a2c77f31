"""A campaign's codes: the list paged by cursor (never a total count to wait for), each row's
live state with inline disable / enable, more codes generated, codes imported from a CSV
(both async actions with a progress page) and the codes exported as a streamed CSV.

Every change goes through the API's own route (its role check, audit and gateway notice); the
codes travel in POST bodies, never in URLs (the campaign id and the cursor, a position, do).
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson
from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Stream

from core import model as m
from store import codebook

from ..app import Ctx, call_route
from ..errors import ApiError
from ..repo import State
from ..reports import counters_for
from ..routes_defs import CAMPAIGN, add_vouchers, find_voucher
from ..routes_ledger import import_csv
from ..shapes import voucher_out
from ..transfer import vouchers_csv
from .base import SECURITY_HEADERS, Signed, _code_state, _enter, _int, _page, _posted

#: rows per page of a campaign's codes
CODES_PAGE = 50
_dec = msgspec.json.Decoder(m.Voucher)


async def code_rows(
    ctx: Ctx, st: State, camp: m.Campaign, pos: int, size: int = CODES_PAGE
) -> tuple[list[dict[str, Any]], int | None]:
    """Rows ``pos`` .. ``pos + size`` of the campaign's codes (those of the document first,
    then its list ``Pcampcodes``) with their live figures; the next page's position or None.
    One LRANGE, one round trip of HGETs and one counters MGET, whatever the campaign's size."""
    doc = [v for v in st.defs.vouchers if v.campaign_id == camp.id]
    picked = doc[pos : pos + size]
    more = len(doc) > pos + size
    want = size - len(picked)
    if want > 0:
        start = max(0, pos - len(doc))
        codes = await ctx.r.lrange(ctx.k.list_codes(camp.id), start, start + want)
        more = len(codes) > want
        raws = await codebook.read(ctx.r, ctx.k, [c.decode() for c in codes[:want]])
        picked += [_dec.decode(raw) for raw in raws if raw]
    counters = await counters_for(ctx.r, ctx.k, picked)
    rows = [voucher_out(v, camp, cnt) for v, cnt in zip(picked, counters, strict=True)]
    return rows, (pos + size if more else None)


async def _codes_page(
    ctx: Ctx, signed: Signed, campaign_id: str, pos: int, status: int = 200, **extra: Any
) -> Response:
    st = await ctx.repo.state()
    camp = CAMPAIGN.get(st, campaign_id)  # 404 not_found
    rows, nxt = await code_rows(ctx, st, camp, pos)
    count = int(await ctx.r.llen(ctx.k.list_codes(camp.id))) + sum(
        1 for v in st.defs.vouchers if v.campaign_id == camp.id
    )
    base = f"/campaigns/{camp.id}/codes"
    cfg = camp.voucher.code_config if camp.voucher is not None else None
    return _page("campaign_codes.html", ctx, signed, status, camp=camp, rows=rows, pos=pos,
                 count=count, cfg=cfg or m.CodeConfig(), can_issue=camp.voucher is not None,
                 next_link=f"{base}?after={nxt}" if nxt is not None else None,
                 first_link=base if pos else None, pager_label="Pages of codes", **extra)  # fmt: skip


@get("/campaigns/{campaign_id:str}/codes", include_in_schema=False)
async def campaign_codes(request: Request, campaign_id: FromPath[str]) -> Response:
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    pos = _int(request.query_params.get("after"), 0, 0, 10**9)
    return await _codes_page(ctx, signed, campaign_id, pos)


@post("/campaigns/{campaign_id:str}/codes/state", include_in_schema=False, status_code=200)
async def campaign_code_state(request: Request, campaign_id: FromPath[str]) -> Response:
    """Disable or enable one code of the list through the API's own route (role
    ``code_state``); htmx gets the row alone, a plain form the page again."""
    got = await _posted(request)
    if isinstance(got, Response):
        return got
    ctx, signed, form = got
    code, action = await _code_state(request, form)
    notice = f"Code {code} {action}d" + (
        ": checkouts refuse it now." if action == "disable" else "."
    )
    if request.headers.get("hx-request"):
        st, v, _ = await find_voucher(ctx, code)
        camp = st.campaign(v.campaign_id) if v.campaign_id else None
        (cnt,) = await counters_for(ctx.r, ctx.k, [v])
        return _page(
            "campaign_codes_row.html", ctx, signed, c=voucher_out(v, camp, cnt), row_notice=notice
        )
    pos = _int(form.get("after"), 0, 0, 10**9)
    return await _codes_page(ctx, signed, campaign_id, pos, notice=notice)


@post("/campaigns/{campaign_id:str}/codes/generate", include_in_schema=False, status_code=200)
async def generate_codes(request: Request, campaign_id: FromPath[str]) -> Response:
    """More codes from the campaign's code_config through ``POST /v1/campaigns/{id}/vouchers``:
    an async action (its progress page next), or one code at once."""
    got = await _posted(request)
    if isinstance(got, Response):
        return got
    ctx, signed, form = got
    text = form.get("count", "").strip()
    if not text.isdigit() or int(text) < 1:
        return await _codes_page(ctx, signed, campaign_id, 0, 400, gen_count=text,
                                 gen_error="Type how many codes to generate (a whole number, 1 or more).")  # fmt: skip
    try:
        resp = await call_route(
            request, add_vouchers, {"vouchers_count": int(text)}, campaign_id=campaign_id
        )
    except ApiError as exc:
        if exc.status in (401, 403, 404):
            raise
        return await _codes_page(
            ctx, signed, campaign_id, 0, exc.status, gen_count=text, gen_error=exc.details
        )
    out = orjson.loads(resp.content)
    if "async_action_id" in out:
        return Redirect(
            f"/actions/{out['async_action_id']}", status_code=303, headers=SECURITY_HEADERS
        )
    return await _codes_page(ctx, signed, campaign_id, 0, notice=f"Code {out['code']} created.")


@post("/campaigns/{campaign_id:str}/codes/import", include_in_schema=False, status_code=200)
async def import_codes(request: Request, campaign_id: FromPath[str]) -> Response:
    """A CSV uploaded (multipart ``file``) into ``POST /v1/campaigns/{id}/importCSV``: every
    row checked first (a bad one is named beside the file field), then an async action."""
    got = await _posted(request)
    if isinstance(got, Response):
        return got
    ctx, signed, _form = got
    try:
        resp = await call_route(request, import_csv, campaign_id=campaign_id)
    except ApiError as exc:
        if exc.status in (401, 403, 404):
            raise
        return await _codes_page(ctx, signed, campaign_id, 0, exc.status, import_error=exc.details)
    return Redirect(f"/actions/{orjson.loads(resp.content)['async_action_id']}", status_code=303,
                    headers=SECURITY_HEADERS)  # fmt: skip


@get("/campaigns/{campaign_id:str}/codes.csv", include_in_schema=False)
async def export_codes(request: Request, campaign_id: FromPath[str]) -> Response:
    """The campaign's codes as CSV (the API's export, streamed chunk by chunk)."""
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, _signed = got
    st = await ctx.repo.state()
    camp = CAMPAIGN.get(st, campaign_id)
    return Stream(vouchers_csv(ctx.r, ctx.k, st.defs, [camp]), media_type="text/csv",
                  headers={**SECURITY_HEADERS,
                           "Content-Disposition": f'attachment; filename="codes-{camp.id}.csv"'})  # fmt: skip


HANDLERS = [campaign_codes, campaign_code_state, generate_codes, import_codes, export_codes]
