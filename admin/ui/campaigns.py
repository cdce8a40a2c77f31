"""Home tiles, the campaign list, campaign detail with the burn chart, enable / disable."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from .. import reports
from ..app import Ctx, call_route
from ..errors import ApiError
from ..routes_defs import (
    disable_campaign,
    enable_campaign,
)
from ..routes_ledger import series_csv_response
from ..shapes import iso
from .base import (
    CAMPAIGN_TYPES,
    MAX_FIELD,
    PAGE_SIZE,
    SECURITY_HEADERS,
    SERIES_HOURS,
    STATUSES,
    Signed,
    _enter,
    _int,
    _json_island,
    _page,
    _posted,
)

# ------------------------------------------------------------------------------- home


async def _statuses(ctx: Ctx, campaigns: list[Any]) -> list[dict[str, Any]]:
    counters = await reports.campaigns_counters(ctx.r, ctx.k, [c.id for c in campaigns])
    now = ctx.now()
    return [
        reports.campaign_status(c, cnt, now) | {"counters": cnt}
        for c, cnt in zip(campaigns, counters, strict=True)
    ]


@get("/", include_in_schema=False)
async def home(request: Request) -> Response:
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    st = await ctx.repo.state()
    camps = list(st.defs.campaigns)
    statuses = await _statuses(ctx, camps)
    by_status = {s: 0 for s in STATUSES}
    for s in statuses:
        by_status[s["status"]] += 1
    async with ctx.r.pipeline(transaction=False) as pipe:
        for c in camps:
            pipe.llen(ctx.k.list_codes(c.id))
        lens = await pipe.execute() if camps else []
    codes = len(st.defs.vouchers) + sum(int(n) for n in lens)
    now = ctx.now()
    hour = await reports.last_hour(ctx.r, ctx.k, now)
    running = [(c, s["counters"]) for c, s in zip(camps, statuses, strict=True)
               if s["status"] == "running"]  # fmt: skip
    running_out = await reports.projected_exhaustions(
        ctx.r, ctx.k, [c for c, _ in running], [n for _, n in running], now, EXHAUSTION_HOURS)
    return _page("home.html", ctx, signed, by_status=by_status, campaigns=len(camps), codes=codes,
                 hour=hour, version=st.version, running_out=running_out[:TILE_ROWS],
                 running_out_total=len(running_out), exhaustion_hours=EXHAUSTION_HOURS,
                 expiring=_expiring(camps, statuses, now), gateways=await _gateways(ctx, st))  # fmt: skip


#: the home page lists campaigns projected to run out within this many hours
EXHAUSTION_HOURS = 24
#: and those ending within this many days
EXPIRING_DAYS = 7
TILE_ROWS = 10


def _expiring(camps: list[Any], statuses: list[dict[str, Any]], now: int) -> list[dict[str, Any]]:
    """Running or scheduled campaigns whose end date is within :data:`EXPIRING_DAYS`."""
    out = []
    for c, s in zip(camps, statuses, strict=True):
        end = int(c.expiration_date.timestamp() * 1000) if c.expiration_date else None
        if end is not None and s["status"] in ("running", "scheduled") and \
                end <= now + EXPIRING_DAYS * 86_400_000:  # fmt: skip
            out.append({"campaign": c, "end_ms": end, "end": iso(end), "status": s["status"]})
    return sorted(out, key=lambda x: x["end_ms"])[:TILE_ROWS]


async def _gateways(ctx: Ctx, st: Any) -> dict[str, Any]:
    """What admin can tell of the gateways: the workers subscribed to definition changes (each
    gateway worker listens on the channel) and the last definitions change admin recorded. The
    gateways record no "version loaded" anywhere admin can read."""
    ((_ch, listening),) = await ctx.r.pubsub_numsub(ctx.k.channel)
    changed = max((t[-1] for t in st.meta.times.values() if t), default=None)
    return {"listening": int(listening), "version": st.version,
            "changed": iso(changed) if changed else None}  # fmt: skip


# ------------------------------------------------------------------------------- campaigns

#: the campaign list's pace hint looks this far ahead ("runs out in ~3 h at this rate")
PACE_HINT_HOURS = 24 * 30


def _in_words(ms: int) -> str:
    """A duration ahead, roughly: ``~45 min``, ``~3 h``, ``~2 d``."""
    minutes = max(1, round(ms / 60_000))
    if minutes < 90:
        return f"~{minutes} min"
    hours = round(minutes / 60)
    return f"~{hours} h" if hours < 48 else f"~{round(hours / 24)} d"



@get("/campaigns", include_in_schema=False)
async def campaigns(request: Request) -> Response:
    """Filters in the URL: ``status``, ``type``, ``q`` (name contains), ``page``."""
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    qp = request.query_params
    status = qp.get("status") if qp.get("status") in STATUSES else ""
    ctype = qp.get("type") if qp.get("type") in CAMPAIGN_TYPES else ""
    q = (qp.get("q") or "")[:MAX_FIELD]
    page = _int(qp.get("page"), 1, 1, 1_000_000)
    st = await ctx.repo.state()
    camps = [c for c in st.defs.campaigns
             if (not ctype or c.campaign_type == ctype) and (not q or q.lower() in c.name.lower())]  # fmt: skip
    camps.sort(key=lambda c: c.created_seq, reverse=True)
    rows = [(c, s) for c, s in zip(camps, await _statuses(ctx, camps), strict=True)
            if not status or s["status"] == status]  # fmt: skip
    total = len(rows)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(page, pages)
    shown = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]

    def link(**change: Any) -> str:
        params = {"status": status, "type": ctype, "q": q, "page": page, **change}
        query = urlencode({k: v for k, v in params.items() if v not in ("", None, 1)})
        return "/campaigns" + ("?" + query if query else "")

    canonical = link()
    here = request.url.path + ("?" + request.url.query if request.url.query else "")
    if here != canonical:  # a filter form sends its empty fields too: keep the URL clean
        return Redirect(canonical, status_code=303, headers=SECURITY_HEADERS)

    now = ctx.now()
    running = [(c, s) for c, s in shown if s["status"] == "running"]
    ahead = await reports.projected_exhaustions(
        ctx.r, ctx.k, [c for c, _ in running], [s["counters"] for _, s in running], now, PACE_HINT_HOURS)
    pace = {p["campaign"].id: p | {"in": _in_words(p["at_ms"] - now)} for p in ahead}
    return _page("campaigns.html", ctx, signed, rows=shown, total=total, page=page, pages=pages, pace=pace,
                 status=status, ctype=ctype, q=q, statuses=STATUSES, types=CAMPAIGN_TYPES,
                 prev_link=link(page=page - 1) if page > 1 else None,
                 next_link=link(page=page + 1) if page < pages else None)  # fmt: skip


async def _campaign_page(
    ctx: Ctx, signed: Signed, campaign_id: str, notice: str | None = None
) -> Template:
    from ..routes_defs import CAMPAIGN

    st = await ctx.repo.state()
    camp = CAMPAIGN.get(st, campaign_id)  # 404 not_found
    (status,) = await _statuses(ctx, [camp])
    series = await reports.campaign_series(ctx.r, ctx.k, camp, ctx.now(), SERIES_HOURS)
    codes = int(await ctx.r.llen(ctx.k.list_codes(camp.id))) + sum(
        1 for v in st.defs.vouchers if v.campaign_id == camp.id
    )
    return _page("campaign.html", ctx, signed, camp=camp, st=status, series=series,
                 series_json=_json_island(series), codes=codes, notice=notice,
                 version=st.version)  # fmt: skip


@get("/campaigns/{campaign_id:str}", include_in_schema=False)
async def campaign(request: Request, campaign_id: FromPath[str]) -> Response:
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    return await _campaign_page(ctx, signed, campaign_id)


@get("/campaigns/{campaign_id:str}/series.csv", include_in_schema=False)
async def campaign_series_csv(request: Request, campaign_id: FromPath[str]) -> Response:
    """The burn chart's series as CSV: the same function as the API's ``format=csv``."""
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, _signed = got
    return await series_csv_response(ctx, campaign_id, SERIES_HOURS)


@post("/campaigns/{campaign_id:str}/state", include_in_schema=False, status_code=200)
async def campaign_state(request: Request, campaign_id: FromPath[str]) -> Response:
    """Enable or disable a campaign through the API's own route (role ``write``)."""
    got = await _posted(request)
    if isinstance(got, Response):
        return got
    ctx, signed, form = got
    action = form.get("action")
    if action not in ("enable", "disable"):
        raise ApiError(
            400, "invalid_payload", "Invalid payload", "`action` must be enable or disable"
        )
    route = enable_campaign if action == "enable" else disable_campaign
    await call_route(request, route, campaign_id=campaign_id)  # the API's role check, its gate
    return await _campaign_page(ctx, signed, campaign_id, notice=f"Campaign {action}d.")


HANDLERS = [home, campaigns, campaign, campaign_series_csv, campaign_state]
