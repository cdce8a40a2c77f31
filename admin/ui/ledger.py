"""The ledger with facets, stacked parents and rollback."""

from __future__ import annotations

from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.response import Redirect

from .. import reports
from .base import (
    LEDGER_STATUSES,
    MAX_FIELD,
    SECURITY_HEADERS,
    _canonical,
    _cursor,
    _enter,
    _groups,
    _page,
    _posted,
    _rollback_then,
    _timeline,
)

# ------------------------------------------------------------------------------- ledger


@get("/ledger", include_in_schema=False)
async def ledger(request: Request) -> Response:
    """Every attempt, newest first, with facets in the URL: ``status``, ``failure_key``,
    ``campaign``, ``customer``; ``after`` pages on."""
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    qp = request.query_params
    status = qp.get("status") if qp.get("status") in LEDGER_STATUSES else ""
    fkey = (qp.get("failure_key") or "").strip()[:MAX_FIELD]
    camp = (qp.get("campaign") or "").strip()[:MAX_FIELD]
    cust = (qp.get("customer") or "").strip()[:MAX_FIELD]
    after = _cursor(qp.get("after"), row=True)
    params = {"status": status, "failure_key": fkey, "campaign": camp, "customer": cust,
              "after": after}  # fmt: skip
    clean = _canonical(request, "/ledger", params)
    if clean is not None:
        return Redirect(clean, status_code=303, headers=SECURITY_HEADERS)
    flt = reports.Filters(status=status or None, failure_code=fkey or None,
                          campaign_id=camp or None, customer=cust or None)  # fmt: skip
    rows, more = await _timeline(ctx, flt, after)
    st = await ctx.repo.state()
    hour = await reports.last_hour(ctx.r, ctx.k, ctx.now(), top=20)
    next_link = "/ledger?" + urlencode({k: v for k, v in {**params, "after": more}.items() if v}) \
        if more else None  # fmt: skip
    first = {k: v for k, v in params.items() if v and k != "after"}
    first_link = ("/ledger" + ("?" + urlencode(first) if first else "")) if after else None
    return _page("ledger.html", ctx, signed, groups=_groups(rows), status=status, fkey=fkey,
                 camp=camp, cust=cust, statuses=LEDGER_STATUSES, campaigns=st.defs.campaigns,
                 known_keys=[f["key"] for f in hour["top_failure_keys"]],
                 next_link=next_link, first_link=first_link,
                 here=request.url.path + ("?" + request.url.query if request.url.query else ""))  # fmt: skip


@post("/ledger/rollback", include_in_schema=False, status_code=200)
async def ledger_rollback(request: Request) -> Response:
    """Roll back from the ledger (a row, or a stacked parent with its children)."""
    got = await _posted(request)
    if isinstance(got, Response):
        return got
    ctx, signed, form = got

    async def render(notice: str | None, error: str | None, status: int) -> Response:
        back = form.get("back", "")
        if not back.startswith("/ledger"):
            back = "/ledger"
        if error is None:
            return Redirect(back, status_code=303, headers=SECURITY_HEADERS)
        return _page("error.html", ctx, signed, status, status=status, title="Not rolled back",
                     details=error)  # fmt: skip

    return await _rollback_then(request, form, render)


HANDLERS = [ledger, ledger_rollback]
