"""Bulk code actions from an uploaded CSV: choose disable / enable / extend / delete, read the
dry-run count (how many codes exist, would change, are unknown, would be refused), confirm,
then watch the async action's progress and download its per-row result file.

Everything goes through ``POST /v1/vouchers/bulk`` (admin/routes_bulk.py: the role check, the
audit, the gateways' notices). Between the dry run and the confirmation the codes wait in
Redis (``Pui:bulk:<token>``, 15 minutes, bound to the session that uploaded them): the codes
never travel in a URL, and the confirmation form carries only the token.
"""

from __future__ import annotations

import secrets
from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from .. import bulk
from ..app import Ctx, route_answer
from ..auth import can
from ..errors import ApiError
from ..routes_bulk import bulk_vouchers, results_stream
from ..routes_ledger import _csv_text
from .base import MAX_FIELD, SECURITY_HEADERS, Signed, _enter, _page, _posted

STAGE_TTL = 900
ACTION_LABELS = {
    "disable": "Disable the codes",
    "enable": "Enable the codes",
    "extend": "Extend their expiration to a date",
    "delete": "Delete the codes",
}


class Staged(msgspec.Struct):
    """An upload waiting for its confirmation."""

    owner: str  # the session's hash
    action: str
    expiration_date: str | None
    codes: list[str]
    filename: str


def _offered(signed: Signed) -> dict[str, str]:
    """The actions this role may run (the API still decides)."""
    return {a: t for a, t in ACTION_LABELS.items() if can(signed.actor, bulk.ACTIONS[a])}


def _form_page(ctx: Ctx, signed: Signed, status: int = 200, **extra: Any) -> Response:
    return _page("bulk.html", ctx, signed, status, offered=_offered(signed), **extra)


@get("/codes/bulk", include_in_schema=False)
async def bulk_form(request: Request) -> Response:
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    return _form_page(ctx, signed, action="disable")


async def _upload(request: Request) -> tuple[list[str], str]:
    """The uploaded file's codes and its name; ApiError 400 naming what is wrong."""
    form = await request.form()
    f = form.get("file")
    name = str(getattr(f, "filename", "") or "upload.csv")[:MAX_FIELD]
    return bulk.codes_from_csv(await _csv_text(request)), name


@post("/codes/bulk", include_in_schema=False, status_code=200)
async def bulk_dry_run(request: Request) -> Response:
    """The upload's dry run: counts shown for confirmation; nothing changes yet."""
    got = await _posted(request)
    if isinstance(got, Response):
        return got
    ctx, signed, form = got
    action = form.get("action", "")
    date = form.get("expiration_date", "").strip()[:40] or None
    errors: dict[str, str] = {}
    try:
        codes, filename = await _upload(request)
    except ApiError as exc:
        errors["file"], codes, filename = exc.details, [], ""
    try:
        bulk.parse_action(action)
        bulk.parse_expiration(action, date)
    except ApiError as exc:
        errors["expiration_date" if "expiration" in exc.details else "action"] = exc.details
    if errors:
        return _form_page(
            ctx, signed, 400, action=action, expiration_date=date or "", errors=errors
        )
    body = {"action": action, "codes": codes, "expiration_date": date, "dry_run": True}
    counts = await route_answer(request, bulk_vouchers, body)  # the role check: 403 page
    token = secrets.token_urlsafe(24)
    staged = Staged(signed.sid_hash, action, date, codes, filename)
    await ctx.r.set(ctx.k.ui_bulk(token), msgspec.json.encode(staged), ex=STAGE_TTL)
    return _page("bulk_confirm.html", ctx, signed, counts=counts, token=token, action=action,
                 label=ACTION_LABELS[action], expiration_date=date, filename=filename)  # fmt: skip


@post("/codes/bulk/confirm", include_in_schema=False, status_code=200)
async def bulk_confirm(request: Request) -> Response:
    """Start the action on the staged codes; its progress page next."""
    got = await _posted(request)
    if isinstance(got, Response):
        return got
    ctx, signed, form = got
    key = ctx.k.ui_bulk(form.get("token", "")[:64])
    raw = await ctx.r.get(key)
    staged = msgspec.json.decode(raw, type=Staged) if raw else None
    if staged is None or staged.owner != signed.sid_hash:
        return _form_page(ctx, signed, 409, action="disable",
                          errors={"file": "This upload expired (15 minutes) or is not yours: upload the file again."})  # fmt: skip
    body = {
        "action": staged.action,
        "codes": staged.codes,
        "expiration_date": staged.expiration_date,
    }
    out = await route_answer(request, bulk_vouchers, body)
    await ctx.r.delete(key)
    return Redirect(f"/actions/{out['async_action_id']}", status_code=303, headers=SECURITY_HEADERS)


@get("/codes/bulk/{action_id:str}/results.csv", include_in_schema=False)
async def bulk_results(request: Request, action_id: FromPath[str]) -> Response:
    """The action's per-row result file (``code, outcome, reason``), streamed."""
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, _signed = got
    resp = await results_stream(ctx, action_id)
    resp.headers.update(SECURITY_HEADERS)
    return resp


HANDLERS = [bulk_form, bulk_dry_run, bulk_confirm, bulk_results]
