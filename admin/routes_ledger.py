"""Ledger and reports: redemptions list, campaign figures, customer view, CSV exports and the
CSV import of codes."""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Stream

from store import undo
from store.counters import Store

from . import actions as act
from . import audit, reports
from .app import Ctx, begin, json_body, ok
from .audit import Change, check_cursor, parse_time
from .errors import ApiError, invalid, not_found
from .repo import Outcome, State
from .routes_defs import CAMPAIGN
from .routes_members import _catalog, _loyalty, with_live_cards
from .routes_people import customer_key, customer_out, load_customer
from .shapes import iso, voucher_out
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
    fmt = ctx.q("format", "json")
    if fmt not in ("json", "csv"):
        raise invalid("`format` must be json or csv")
    if fmt == "csv":
        return await series_csv_response(ctx, campaign_id, hours)
    st = await ctx.repo.state()
    camp = CAMPAIGN.get(st, campaign_id)
    return ok(await reports.campaign_series(ctx.r, ctx.k, camp, ctx.now(), hours))


async def series_csv_response(ctx: Ctx, campaign_id: str, hours: int) -> Response:
    """The series as a CSV download (the API's ``format=csv`` and the web UI's link)."""
    st = await ctx.repo.state()
    camp = CAMPAIGN.get(st, campaign_id)
    series = await reports.campaign_series(ctx.r, ctx.k, camp, ctx.now(), hours)
    name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in camp.id)[:80]
    return Response(reports.series_csv(series), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}-series.csv"'})  # fmt: skip


async def customer_wallet(
    ctx: Ctx, cust: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The codes a customer holds (by id or source_id) with their live balances, and the
    totals of their gift and points balances."""
    st = await ctx.repo.state()
    keys = sorted({cust["id"], customer_key(cust)})
    vouchers = [v for v in st.defs.vouchers if v.customer_id in keys]
    # a code can be listed under both the id and the source_id: once here (and in the totals)
    held: set[str] = set()
    for key in keys:
        held.update(x.decode() for x in await ctx.r.smembers(ctx.k.customer_codes(key)))
    held -= {v.code for v in vouchers}
    for code in sorted(held):
        v = await ctx.repo.code(code)
        if v is not None:
            vouchers.append(v)
    counters = await reports.counters_for(ctx.r, ctx.k, vouchers)
    codes = []
    gift_balance = points_balance = 0
    for v, cnt in zip(vouchers, counters, strict=True):
        camp = st.campaign(v.campaign_id) if v.campaign_id else None
        codes.append(voucher_out(v, camp, cnt))
    for view in await with_live_cards(ctx, codes):
        gift_balance += (view.get("gift") or {}).get("balance", 0)
        points_balance += (view.get("loyalty_card") or {}).get("balance", 0)
    return codes, {"gift_balance": gift_balance, "loyalty_points_balance": points_balance}


@get("/v1/reports/customers/{customer_id:str}", tags=["ledger"])
async def customer_report(request: Request, customer_id: FromPath[str]) -> Response:
    """A customer's codes (with live balances), redemptions and totals."""
    ctx = await begin(request, "read")
    cust = await load_customer(ctx, customer_id)
    if cust is None:
        raise not_found("customer", customer_id)
    codes, balances = await customer_wallet(ctx, cust)
    reds = await reports.list_redemptions(
        ctx.r, ctx.k, reports.Filters(customer=customer_key(cust)), ctx.qint("limit", 50), None
    )
    succeeded = [r for r in reds["redemptions"] if r["status"] == "SUCCEEDED"]
    return ok(
        {
            "object": "customer_report",
            "customer": customer_out(cust),
            "vouchers": codes,
            "balances": balances,
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


# ------------------------------------------------------------------------------ rollback

#: the longest rollback reason kept
MAX_REASON = 500


def _store(ctx: Ctx) -> Store:
    """admin's :class:`store.counters.Store` (the gateway's rollback script), on the pipeliner
    admin's loyalty calls share (closed with it)."""
    adm = ctx.admin
    st: Store | None = getattr(adm, "_store", None)
    if st is None:
        s = adm.settings
        st = Store(adm.redis, prefix=s.key_prefix, timeout=s.redis_timeout,
                   ledger_maxlen=s.ledger_maxlen, idempotency_ttl=s.idempotency_ttl,
                   pipeline=_loyalty(ctx).pipe)  # fmt: skip
        adm._store = st  # type: ignore[attr-defined]
    return st


def _refused(status: int, key: str, title: str, details: str, rid: str) -> ApiError:
    return ApiError(status, key, title, details, resource_id=rid, resource_type="redemption")


@post("/v1/redemptions/{redemption_id:str}/rollback", tags=["ledger"], status_code=200)
async def rollback_redemption(request: Request, redemption_id: FromPath[str]) -> Response:
    """Roll back a redemption as the gateway's rollback does (the same script: its counters
    back, once; a stacked parent with its children), then what it earned (store.undo). Needs a
    ``reason`` (body ``{"reason": ...}``, or a form field: the web UI posts its form), kept on the ledger and in the audit entry
    ``redemption.rollback`` (who, why). Roles ``admin``, ``marketer``, ``support``."""
    ctx = await begin(request, "rollback")
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        body: dict[str, Any] = dict((await request.form()).items())  # the web UI's form
    else:
        body = await json_body(request, required=False)
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise invalid("`reason` is required: say why the redemption is rolled back")
    reason = reason.strip()
    if len(reason) > MAX_REASON:
        raise invalid(f"`reason` must be at most {MAX_REASON} characters")
    store = _store(ctx)
    rec = await store.get_redemption(redemption_id)
    if rec is None:
        raise not_found("redemption", redemption_id)
    rb = await store.rollback(redemption_id, "rr_" + secrets.token_hex(10), ctx.now(),
                              reason=reason, stacked=bool(rec.children))  # fmt: skip
    if rb.status == "not_found":
        raise not_found("redemption", redemption_id)
    if rb.status == "already_rolled_back":
        raise _refused(400, "already_rolled_back", "Redemption was already rolled back",
                       f"Redemption {redemption_id} was rolled back by {rb.rollback_id}",
                       redemption_id)  # fmt: skip
    if rb.status == "invalid_redemption":
        raise _refused(400, "invalid_redemption", "Invalid redemption",
                       f"Redemption {redemption_id} is part of a stacked redemption: roll back "
                       f"its parent {rec.parent}", redemption_id)  # fmt: skip
    if rb.status == "refused":
        raise _refused(400, rb.error or "rollback_refused", "Rollback refused",
                       f"Redemption {redemption_id} cannot be rolled back: what it gave "
                       f"({rb.subject}) was used since", redemption_id)  # fmt: skip
    if rb.status != "ok":  # pragma: no cover - no idempotency key is sent
        raise _refused(409, "duplicate_found", "Conflict", "Please retry", redemption_id)
    if rb.redemptions:
        await undo.redemption_rolled_back(_loyalty(ctx), await _catalog(ctx),
                                          rb.redemptions[0].data, ctx.now())  # fmt: skip
    ids = [r.id for r in rb.redemptions]
    out = {
        "object": "redemption_rollback",
        "id": rb.rollback_id,
        "redemption": redemption_id,
        "rolled_back": ids,
        "reason": reason,
        "date": iso(rb.at_ms or ctx.now()),
        "result": "SUCCESS",
        "status": "SUCCEEDED",
    }
    async with ctx.r.pipeline(transaction=False) as pipe:
        audit.add(pipe, ctx.k.audit, ctx.actor,
                  Change(action="redemption.rollback", object_type="redemption",
                         object_id=redemption_id, before={"status": "SUCCEEDED"},
                         after={"status": "ROLLED_BACK", "rollback_id": rb.rollback_id,
                                "redemptions": ids, "reason": reason}),
                  ctx.now(), ctx.rid)  # fmt: skip
        await pipe.execute()
    return ok(out)


HANDLERS = [
    list_redemptions,
    rollback_redemption,
    campaign_report,
    campaign_series,
    customer_report,
    export_redemptions,
    export_vouchers,
    import_csv,
]
