"""Exact code lookup (one key read at any scale), disable / enable a code."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post

from ..app import Ctx
from ..errors import ApiError
from ..routes_defs import (
    find_voucher,
    voucher_view,
)
from .base import (
    MAX_FIELD,
    _code_state,
    _enter,
    _page,
    _posted,
)

# ------------------------------------------------------------------------------- codes


async def _code_panel(ctx: Ctx, code: str) -> dict[str, Any]:
    st, v, _ = await find_voucher(ctx, code)
    view = await voucher_view(ctx, v, st)
    return {"v": view}


@get("/codes", include_in_schema=False)
async def codes_form(request: Request) -> Response:
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    return _page("codes.html", ctx, signed, v=None, looked_up=None)


@post("/codes", include_in_schema=False, status_code=200)
async def code_lookup(request: Request) -> Response:
    """Exact code lookup (one key read at any scale); the code travels in the body, never in
    the URL."""
    got = await _posted(request)
    if isinstance(got, Response):
        return got
    ctx, signed, form = got
    code = form.get("code", "").strip()[:MAX_FIELD]
    if not code:
        return _page("codes.html", ctx, signed, 400, v=None, looked_up="", error="Type a code.")
    try:
        panel = await _code_panel(ctx, code)
    except ApiError as exc:
        if exc.status != 404:
            raise
        return _page("codes.html", ctx, signed, 404, v=None, looked_up=code,
                     error=f"No code {code!r}.")  # fmt: skip
    return _page("codes.html", ctx, signed, looked_up=code, **panel)


@post("/codes/state", include_in_schema=False, status_code=200)
async def code_state(request: Request) -> Response:
    """Disable or enable one code through the API's own route (role ``code_state``)."""
    got = await _posted(request)
    if isinstance(got, Response):
        return got
    ctx, signed, form = got
    code, action = await _code_state(request, form)
    panel = await _code_panel(ctx, code)
    notice = (
        f"Code {code} {action}d: the gateways refuse it now."
        if action == "disable"
        else f"Code {code} enabled."
    )
    if request.headers.get("hx-request"):
        return _page("_code.html", ctx, signed, looked_up=code, notice=notice, **panel)
    return _page("codes.html", ctx, signed, looked_up=code, notice=notice, **panel)


HANDLERS = [codes_form, code_lookup, code_state]
