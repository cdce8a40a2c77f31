"""Approvals: pending change sets with their diff and a link to their preview; Approve /
Reject offered to the roles that may (``approve``), never to the change set's author. The
decisions go through the API's own routes (admin/routes_approvals.py)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath

from .. import approvals as ap
from ..app import Ctx, call_route
from ..auth import can
from ..errors import ApiError
from ..routes_approvals import approve_change_set, reject_change_set
from .audit import diff
from .base import MAX_FIELD, _enter, _page, _posted
from .base import Signed as _Signed


@get("/approvals", include_in_schema=False)
async def approvals_page(request: Request) -> Response:
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    status = (ctx.q("status") or "PENDING").upper()
    status = status if status in ap.STATUSES else "PENDING"
    rows = await ap.listing(ctx, status, 100)
    return _page("approvals.html", ctx, signed, rows=rows, status=status, statuses=ap.STATUSES,
                 required=await ap.required(ctx))  # fmt: skip


async def _show(ctx: Ctx, signed: _Signed, cs_id: str, http_status: int = 200, **extra: Any) -> Response:
    cs = await ap.load(ctx, cs_id[:MAX_FIELD])
    changes = [d | {"fields": diff(d["before"], d["after"])} for d in cs["diff"]]
    may_decide = (can(signed.actor, "approve") and cs["status"] == "PENDING"
                  and cs["author"]["id"] != signed.actor.id)  # fmt: skip
    return _page("approval.html", ctx, signed, http_status, cs=cs, changes=changes,
                 may_decide=may_decide, **extra)  # fmt: skip


@get("/approvals/{change_set_id:str}", include_in_schema=False)
async def approval_page(request: Request, change_set_id: FromPath[str]) -> Response:
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    return await _show(ctx, signed, change_set_id)


@post("/approvals/{change_set_id:str}", include_in_schema=False, status_code=200)
async def approval_decide(request: Request, change_set_id: FromPath[str]) -> Response:
    """Approve or reject through the API's own routes (role ``approve``; four eyes)."""
    got = await _posted(request)
    if isinstance(got, Response):
        return got
    ctx, signed, form = got
    action = form.get("action")
    if action not in ("approve", "reject"):
        raise ApiError(400, "invalid_payload", "Invalid payload", "`action` must be approve or reject")
    try:
        if action == "approve":
            await call_route(request, approve_change_set, change_set_id=change_set_id)
            notice = "Applied: the gateways use it now (audited with author and approver)."
        else:
            reason = {"reason": form.get("reason", "")[: ap.MAX_REASON + 1]}
            await call_route(request, reject_change_set, reason, change_set_id=change_set_id)
            notice = "Rejected: nothing was applied."
    except ApiError as exc:
        if exc.status == 401:
            raise
        return await _show(ctx, signed, change_set_id, exc.status, error=exc.details or exc.message,
                           error_field="reason" if action == "reject" and exc.status == 400 else "decision")  # fmt: skip
    return await _show(ctx, signed, change_set_id, notice=notice)


HANDLERS = [approvals_page, approval_page, approval_decide]
