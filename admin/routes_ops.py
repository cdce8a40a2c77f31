"""API keys, the audit log, async actions, and export / import of all definitions."""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Request, Response, delete, get, post
from litestar.params import FromPath
from litestar.response import Stream

from store.auth import ROLES, token_hash

from . import audit, transfer
from .app import begin, json_body, no_content, ok
from .audit import Change, parse_time
from .errors import invalid, not_found
from .shapes import iso

# ------------------------------------------------------------------------------ keys


@post("/v1/keys", tags=["keys"])
async def create_key(request: Request) -> Response:
    """``{name, role}`` -> ``{id, token}``; the token is shown once and stored hashed."""
    ctx = await begin(request, "manage")
    body = await json_body(request)
    role, name = body.get("role"), body.get("name")
    if role not in ROLES:
        raise invalid(f"`role` must be one of {', '.join(ROLES)}, got {role!r}")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise invalid("a key needs a `name` (1-200 characters)")
    key_id = "key_" + secrets.token_hex(10)
    token = secrets.token_urlsafe(32)
    now = ctx.now()
    record = {"id": key_id, "name": name, "role": role, "created_at": iso(now)}

    def extra(pipe: Any) -> None:
        pipe.hset(ctx.k.appkey(key_id), mapping={"token_sha256": token_hash(token), "role": role, "name": name,
                                                 "created_at": str(now), "created_by": ctx.actor.id})  # fmt: skip
        pipe.zadd(ctx.k.keys_index, {key_id: now})
        pipe.publish(ctx.k.channel, "appkey:" + key_id)

    await ctx.repo.record(
        ctx.actor,
        ctx.rid,
        [Change(action="key.create", object_type="key", object_id=key_id, after=record)],
        extra,
    )
    return ok({**record, "token": token, "object": "api_key"})


@get("/v1/keys", tags=["keys"])
async def list_keys(request: Request) -> Response:
    """Keys created through this API (tokens are never shown again)."""
    ctx = await begin(request, "manage")
    ids = [x.decode() for x in await ctx.r.zrange(ctx.k.keys_index, 0, -1)]
    data = []
    for kid in ids:
        h = await ctx.r.hgetall(ctx.k.appkey(kid))
        if not h:
            continue
        f = {a.decode(): b.decode() for a, b in h.items()}
        data.append({"id": kid, "name": f.get("name"), "role": f.get("role"), "object": "api_key",
                     "created_at": iso(int(f["created_at"])) if f.get("created_at") else None})  # fmt: skip
    return ok({"object": "list", "data_ref": "data", "data": data, "total": len(data)})


@delete("/v1/keys/{key_id:str}", status_code=200, tags=["keys"])
async def revoke_key(request: Request, key_id: FromPath[str]) -> Response:
    """Revoke a key: the gateways drop it from their caches on the ``appkey:<id>`` notice."""
    ctx = await begin(request, "manage")
    h = await ctx.r.hgetall(ctx.k.appkey(key_id))
    if not h:
        raise not_found("key", key_id)
    f = {a.decode(): b.decode() for a, b in h.items()}
    before = {"id": key_id, "name": f.get("name"), "role": f.get("role")}

    def extra(pipe: Any) -> None:
        pipe.delete(ctx.k.appkey(key_id))
        pipe.zrem(ctx.k.keys_index, key_id)
        pipe.publish(ctx.k.channel, "appkey:" + key_id)

    await ctx.repo.record(
        ctx.actor,
        ctx.rid,
        [Change(action="key.revoke", object_type="key", object_id=key_id, before=before)],
        extra,
    )
    return no_content()


# ------------------------------------------------------------------------------ audit


@get("/v1/audit-log", tags=["audit"])
async def audit_log(request: Request) -> Response:
    """Newest first. Filters: ``actor`` (key id), ``action`` (``campaign`` or
    ``campaign.create``), ``resource_type``, ``resource_id``, ``start_date`` / ``end_date``;
    ``limit`` (max 100), ``starting_after``. Read only: nothing edits or deletes an entry."""
    ctx = await begin(request, "read")
    out = await audit.query(
        ctx.r,
        ctx.k.audit,
        actor=ctx.q("actor"),
        action=ctx.q("action"),
        object_type=ctx.q("resource_type") or ctx.q("object_type"),
        object_id=ctx.q("resource_id") or ctx.q("object_id"),
        start_ms=parse_time(ctx.q("start_date"), "start_date"),
        end_ms=parse_time(ctx.q("end_date"), "end_date"),
        limit=ctx.qint("limit", 50),
        starting_after=audit.check_cursor(ctx.q("starting_after")),
    )
    return ok(out)


# ------------------------------------------------------------------------------ async actions


@get("/v1/async-actions/{action_id:str}", tags=["async actions"])
async def get_action(request: Request, action_id: FromPath[str]) -> Response:
    ctx = await begin(request, "read")
    out = await ctx.admin.runner.get(action_id)
    if out is None:
        raise not_found("async_action", action_id)
    return ok(out)


@get("/v1/async-actions", tags=["async actions"])
async def list_actions(request: Request) -> Response:
    ctx = await begin(request, "read")
    limit = ctx.qint("limit", 10)
    ids = await ctx.r.zrevrange(ctx.k.actions, 0, limit - 1)
    data = []
    for i in ids:
        a = await ctx.admin.runner.get(i.decode())
        if a is not None:
            data.append(a)
    return ok({"object": "list", "data_ref": "async_actions", "async_actions": data})


# ------------------------------------------------------------------------------ definitions


@get("/v1/definitions/export", tags=["operations"])
async def export_definitions(request: Request) -> Stream:
    """Every definition, code, customer and segment as NDJSON (see admin.transfer), streamed."""
    ctx = await begin(request, "manage")
    return Stream(transfer.export_ndjson(ctx.r, ctx.k, ctx.now()), media_type="application/x-ndjson",
                  headers={"Content-Disposition": 'attachment; filename="promogate-definitions.ndjson"'})  # fmt: skip


@post("/v1/definitions/import", tags=["operations"])
async def import_definitions(request: Request) -> Response:
    """Load an export into an empty instance (409 ``not_empty`` otherwise)."""
    ctx = await begin(request, "manage")
    data = await request.body()

    async def lines() -> Any:
        for ln in data.split(b"\n"):
            yield ln

    counts = await transfer.import_ndjson(ctx.r, ctx.k, lines, ctx.actor, ctx.rid, ctx.now())
    return ok({"object": "import", "status": "DONE", **counts})


HANDLERS = [
    create_key,
    list_keys,
    revoke_key,
    audit_log,
    get_action,
    list_actions,
    export_definitions,
    import_definitions,
]
