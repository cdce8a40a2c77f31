"""Ledger and reports: redemptions list, campaign figures, customer view, CSV exports and the
CSV import of codes."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Stream

from . import actions as act
from . import reports
from .app import Ctx, begin, ok
from .audit import Change, check_cursor, parse_time
from .errors import invalid, not_found
from .repo import Outcome, State
from .routes_defs import CAMPAIGN
from .routes_people import customer_key, customer_out, load_customer
from .shapes import voucher_out
from .transfer import check_codes, parse_codes_csv, vouchers_csv


def _filters(ctx: Ctx) -> reports.Filters:
    return reports.Filters(
        campaign_id=ctx.q("campaign_id") or ctx.q("campaign"),
        voucher=ctx.q("voucher") or ctx.q("code"),
        customer=ctx.q("customer"),
        start_ms=parse_time(ctx.q("start_date"), "start_date"),
        end_ms=parse_time(ctx.q("end_date"), "end_date"),
        result=ctx.q("result"),
        status=ctx.q("status"),
        failure_code=ctx.q("failure_code") or ctx.q("failure_key"),
        parent_id=ctx.q("parent_redemption_id"),
    )


@get("/v1/redemptions", tags=["ledger"])
async def list_redemptions(request: Request) -> Response:
    """Newest first. Filters: ``campaign_id``, ``voucher`` (code), ``customer`` (source_id or
    id as sent at checkout), ``start_date`` / ``end_date`` (ISO 8601), ``result``
    (``SUCCESS`` / ``FAILURE``), ``status`` (``SUCCEEDED`` / ``FAILED`` / ``ROLLED_BACK``),
    ``failure_code``; ``limit`` (max 100) and ``starting_after`` (cursor from
    ``more_starting_after``)."""
    ctx = await begin(request, "read")
    flt = _filters(ctx)
    out = await reports.list_redemptions(
        ctx.r, ctx.k, flt, ctx.qint("limit", 10), check_cursor(ctx.q("starting_after"), row=True)
    )
    return ok(out)


@get("/v1/reports/campaigns/{campaign_id:str}", tags=["ledger"])
async def campaign_report(request: Request, campaign_id: FromPath[str]) -> Response:
    ctx = await begin(request, "read")
    st = await ctx.repo.state()
    camp = CAMPAIGN.get(st, campaign_id)
    return ok(await reports.campaign_figures(ctx.r, ctx.k, camp, st.defs))


#: hours a series may cover (30 days)
MAX_SERIES_HOURS = 720


@get("/v1/reports/campaigns/{campaign_id:str}/series", tags=["ledger"])
async def campaign_series(request: Request, campaign_id: FromPath[str]) -> Response:
    """Hourly series of a campaign (``hours``, 1-720, default 48): redemptions succeeded,
    refused and rolled back per hour, and the cumulative use of its redemption and discount
    budgets ending at the live counters, with the pace and the projected exhaustion (the web
    UI's burn chart is drawn from it)."""
    ctx = await begin(request, "read")
    hours = ctx.qint("hours", 48, hi=MAX_SERIES_HOURS)
    st = await ctx.repo.state()
    camp = CAMPAIGN.get(st, campaign_id)
    return ok(await reports.campaign_series(ctx.r, ctx.k, camp, ctx.now(), hours))


@get("/v1/reports/customers/{customer_id:str}", tags=["ledger"])
async def customer_report(request: Request, customer_id: FromPath[str]) -> Response:
    """A customer's codes (with live balances), redemptions and totals."""
    ctx = await begin(request, "read")
    cust = await load_customer(ctx, customer_id)
    if cust is None:
        raise not_found("customer", customer_id)
    st = await ctx.repo.state()
    keys = {cust["id"], customer_key(cust)}
    vouchers = [v for v in st.defs.vouchers if v.customer_id in keys]
    for key in keys:
        for code in sorted(x.decode() for x in await ctx.r.smembers(ctx.k.customer_codes(key))):
            v = await ctx.repo.code(code)
            if v is not None:
                vouchers.append(v)
    counters = await reports.counters_for(ctx.r, ctx.k, vouchers)
    codes = []
    gift_balance = points_balance = 0
    for v, cnt in zip(vouchers, counters, strict=True):
        camp = st.campaign(v.campaign_id) if v.campaign_id else None
        view = voucher_out(v, camp, cnt)
        gift_balance += (view.get("gift") or {}).get("balance", 0)
        points_balance += (view.get("loyalty_card") or {}).get("balance", 0)
        codes.append(view)
    reds = await reports.list_redemptions(
        ctx.r, ctx.k, reports.Filters(customer=customer_key(cust)), ctx.qint("limit", 50), None
    )
    succeeded = [r for r in reds["redemptions"] if r["status"] == "SUCCEEDED"]
    return ok(
        {
            "object": "customer_report",
            "customer": customer_out(cust),
            "vouchers": codes,
            "balances": {"gift_balance": gift_balance, "loyalty_points_balance": points_balance},
            "redemptions": reds,
            "summary": {
                "redemptions_listed": len(reds["redemptions"]),
                "succeeded": len(succeeded),
                "total_discount": sum(r.get("discount", 0) for r in succeeded),
            },
        }
    )


@get("/v1/exports/redemptions.csv", tags=["ledger"])
async def export_redemptions(request: Request) -> Stream:
    """The redemptions matching the same filters as ``GET /v1/redemptions``, oldest first,
    streamed as CSV."""
    ctx = await begin(request, "read")
    flt = _filters(ctx)
    return Stream(reports.redemptions_csv(ctx.r, ctx.k, flt), media_type="text/csv",
                  headers={"Content-Disposition": 'attachment; filename="redemptions.csv"'})  # fmt: skip


@get("/v1/exports/vouchers.csv", tags=["ledger"])
async def export_vouchers(request: Request) -> Stream:
    """Codes of ``campaign_id`` (or of every campaign), streamed as CSV with live figures."""
    ctx = await begin(request, "read")
    st = await ctx.repo.state()
    ref = ctx.q("campaign_id") or ctx.q("campaign")
    camps = [CAMPAIGN.get(st, ref)] if ref else list(st.defs.campaigns)
    return Stream(vouchers_csv(ctx.r, ctx.k, st.defs, camps), media_type="text/csv",
                  headers={"Content-Disposition": 'attachment; filename="vouchers.csv"'})  # fmt: skip


async def _csv_text(request: Request) -> str:
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        form = await request.form()
        f = form.get("file")
        if f is None:
            raise invalid("the form needs a `file` field holding the CSV")
        data = await f.read() if hasattr(f, "read") else str(f).encode()
    else:
        data = await request.body()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise invalid("the CSV must be UTF-8") from None


@post("/v1/campaigns/{campaign_id:str}/importCSV", tags=["campaigns"])
async def import_csv(request: Request, campaign_id: FromPath[str]) -> Response:
    """Import codes into a campaign from CSV (multipart ``file`` or a text/csv body). Every row
    is checked first (a bad row refuses the file, naming its line); the codes are then stored
    by an async action with SET NX, so an existing code is reported, never overwritten."""
    ctx = await begin(request, "write")
    text = await _csv_text(request)
    st, rs = await ctx.repo.ruleset()
    camp = CAMPAIGN.get(st, campaign_id)
    vouchers = parse_codes_csv(text, camp.id)
    if not vouchers:
        raise invalid("the CSV holds no codes")
    check_codes(rs, vouchers, st.codes())
    action_id = act.new_id()
    now = ctx.now()
    rows_key = ctx.k.action(action_id) + ":rows"
    import msgspec

    enc = msgspec.json.Encoder()

    def fn(s: State) -> Outcome:
        c = CAMPAIGN.get(s, campaign_id)
        meta = s.meta.campaigns.get(c.id)
        if meta is not None:
            meta.vouchers_count += len(vouchers)
            meta.updated_at = now

        def extra(pipe: Any) -> None:
            for i in range(0, len(vouchers), 5000):
                pipe.rpush(rows_key, *[enc.encode(v) for v in vouchers[i : i + 5000]])
            act.queue_create(
                pipe, ctx.k, action_id, act.IMPORT, len(vouchers), {"campaign_id": c.id}, now
            )

        return Outcome(extra=extra, changes=[Change(action="campaign.vouchers.import", object_type="campaign", object_id=c.id,
                       after={"count": len(vouchers), "async_action_id": action_id})])  # fmt: skip

    await ctx.repo.mutate(ctx.actor, ctx.rid, fn)
    ctx.admin.runner.start(action_id)
    return ok({"async_action_id": action_id}, 202)


HANDLERS = [
    list_redemptions,
    campaign_report,
    campaign_series,
    customer_report,
    export_redemptions,
    export_vouchers,
    import_csv,
]
