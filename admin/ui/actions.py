"""Background tasks (admin's async actions: code generation, CSV import, cleanup): the recent
ones, and one with a progress bar that refreshes itself (htmx) until it ends."""

from __future__ import annotations

from typing import Any

import orjson
from litestar import Request, Response, get
from litestar.params import FromPath

from ..app import Ctx, route_answer
from ..errors import not_found
from ..routes_ops import get_action, list_actions
from .base import MAX_FIELD, _enter, _page

#: how often a running action's panel asks again (ms)
POLL_MS = 500


async def _params(ctx: Ctx, action_id: str) -> dict[str, Any]:
    raw = await ctx.r.hget(ctx.k.action(action_id), "params")
    try:
        out = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        return {}
    return out if isinstance(out, dict) else {}


@get("/actions", include_in_schema=False)
async def actions(request: Request) -> Response:
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    listed = await route_answer(request, list_actions)
    return _page("actions.html", ctx, signed, rows=listed["async_actions"])


@get("/actions/{action_id:str}", include_in_schema=False)
async def action(request: Request, action_id: FromPath[str]) -> Response:
    """One action; an htmx request gets the panel alone (it polls itself while running)."""
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    action_id = action_id[:MAX_FIELD]
    a = await route_answer(request, get_action, action_id=action_id)
    if not a:
        raise not_found("async_action", action_id)
    params = await _params(ctx, action_id)
    running = a["status"] not in ("DONE", "FAILED")
    name = "_action.html" if request.headers.get("hx-request") else "action.html"
    return _page(name, ctx, signed, a=a, params=params, running=running, poll_ms=POLL_MS)


HANDLERS = [actions, action]
