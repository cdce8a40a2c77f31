"""Approvals: a free four-eyes mode for definition changes.

A **change set** is a change described as the API calls that would make it (the ``changes`` of
``POST /v1/drafts/check``, :class:`admin.drafts.Op`) with a title. At submission it is dry-run
through its own routes with the author's role (:func:`admin.drafts.run`): one that does not
compile is refused with that 400, one that does is kept ``PENDING`` with its diff (the audit
changes it would make, each object before / after) and the definitions version it was checked
against (``base_version``).

An approver (permission ``approve``: the ``admin`` role), never its author, applies it: the
calls are dry-run again on the CURRENT definitions and the resulting document is written in
one :meth:`admin.repo.Repo.mutate` (all calls or none), audited with the approver as actor and a
``change_set.apply`` entry naming both the author and the approver (every entry of the apply
carries the change set id as its request id). If the definitions moved on since submission and
the calls no longer apply, the change set becomes ``STALE`` (409 ``change_set_stale``); if they
still apply, they are applied to the current definitions. A rejection needs a reason. Nothing
of a change set reaches the gateways before it is applied.

The setting ``{"required": bool}`` (``GET/PUT /v1/settings/approvals``, off by default) turns
the gate on: every definition write a change set can carry (:data:`admin.drafts.DRAFTABLE`,
except enabling / disabling one code, an operational action that must not wait) sent through
the API by a role other than ``admin`` answers 403 ``approval_required``; the change is then
submitted as a change set. Admin keys still write directly.

A change set that starts a background generation of codes (``vouchers_count``) is refused:
the dry run stops before that side effect, so an atomic apply could not run it; generate the
codes once the campaign is approved.
"""

from __future__ import annotations

import secrets
from typing import Any

import msgspec
import orjson
from litestar import Request

from store import codebook

from . import drafts
from .app import UI_ACTOR, Ctx
from .audit import Actor, Change
from .auth import authenticate
from .errors import ApiError, invalid, not_found
from .repo import Outcome, State, in_dry_run
from .routes_defs import disable_voucher, enable_voucher
from .shapes import iso

STATUSES = ("PENDING", "APPLIED", "REJECTED", "STALE")
MAX_TITLE = 200
MAX_REASON = 500
MAX_RETRIES = 5
#: the routes the gate holds back while approvals are required (their functions)
GATED = frozenset(h.fn for h in drafts.DRAFTABLE if h not in (enable_voucher, disable_voucher))


def _plain(v: Any) -> Any:
    return msgspec.to_builtins(v) if v is not None else None


def _who(actor: Actor) -> dict[str, str]:
    return {"id": actor.id, "name": actor.name, "role": actor.role}


# ------------------------------------------------------------------------------- the setting


async def required(ctx: Ctx) -> bool:
    return await _required(ctx.admin)


async def set_required(ctx: Ctx, value: Any) -> dict[str, Any]:
    if not isinstance(value, bool):
        raise invalid("`required` must be true or false")
    before = {"required": await required(ctx)}
    after = {"required": value}

    def extra(pipe: Any) -> None:
        pipe.set(ctx.k.approvals_setting, orjson.dumps(after))

    change = Change(action="settings.approvals", object_type="settings", object_id="approvals",
                    before=before, after=after)  # fmt: skip
    await ctx.repo.record(ctx.actor, ctx.rid, [change], extra)
    return after


async def gate(request: Request) -> None:
    """Litestar ``before_request`` hook: a gated definition write sent through the API by a
    role other than ``admin`` while approvals are required answers 403 ``approval_required``.
    Other routes pass, and so do the web UI's pages (their in-process calls meet
    :func:`guard_call`)."""
    handler = request.scope.get("route_handler")  # type: ignore[call-overload]
    if getattr(handler, "fn", None) not in GATED or request.scope.get(UI_ACTOR) is not None:  # type: ignore[call-overload]
        return
    adm = request.app.state.admin
    if not await _required(adm):
        return
    actor = await authenticate(adm.redis, adm.keys, request.headers.get("x-app-id"),
                               request.headers.get("x-app-token"))  # fmt: skip
    _refuse_unless_admin(actor)


async def guard_call(request: Request, handler: Any) -> None:
    """The same gate for a route the web UI calls in process with its session's actor
    (:func:`admin.app.call_route`); a dry run writes nothing and passes."""
    actor = request.scope.get(UI_ACTOR)  # type: ignore[call-overload]
    if handler.fn not in GATED or actor is None or in_dry_run():
        return
    if await _required(request.app.state.admin):
        _refuse_unless_admin(actor)


async def _required(adm: Any) -> bool:
    raw = await adm.redis.get(adm.keys.approvals_setting)
    return bool(raw and orjson.loads(raw).get("required"))


def _refuse_unless_admin(actor: Actor) -> None:
    if actor.role != "admin":
        raise ApiError(
            403, "approval_required", "Approval required",
            "Approvals are required for definition changes: submit this call as a change set "
            "(POST /v1/change-sets with {title, changes: [{method, path, body}]}); an admin "
            "approves it",
        )  # fmt: skip


# ------------------------------------------------------------------------------- change sets


async def load(ctx: Ctx, cs_id: Any) -> dict[str, Any]:
    if not isinstance(cs_id, str) or not cs_id or len(cs_id) > 100:
        raise not_found("change set", cs_id if isinstance(cs_id, str) else str(cs_id))
    raw = await ctx.r.get(ctx.k.change_set(cs_id))
    if raw is None:
        raise not_found("change set", cs_id)
    return orjson.loads(raw)


def _ops(cs: dict[str, Any]) -> list[drafts.Op]:
    return msgspec.convert(cs["changes"], list[drafts.Op])


def _pending(cs: dict[str, Any]) -> None:
    if cs["status"] != "PENDING":
        raise ApiError(409, "change_set_not_pending", "Conflict",
                       f"Change set {cs['id']} is {cs['status']}, not PENDING")  # fmt: skip


async def pending_ops(ctx: Ctx, cs_id: Any) -> list[drafts.Op]:
    """The calls of a pending change set (for the preview); 404 / 409 otherwise."""
    cs = await load(ctx, cs_id)
    _pending(cs)
    return _ops(cs)


def _no_generation(ops: list[drafts.Op]) -> None:
    for i, op in enumerate(ops):
        if (op.body or {}).get("vouchers_count"):
            raise invalid(f"changes[{i}]: a change set cannot generate codes (`vouchers_count`): "
                          "generate them once the campaign is approved")  # fmt: skip


def _diff(draft: Any) -> list[dict[str, Any]]:
    return [{"action": c.action, "object_type": c.object_type, "object_id": c.object_id,
             "before": _plain(c.before), "after": _plain(c.after)} for c in draft.changes]  # fmt: skip


async def _save(ctx: Ctx, cs: dict[str, Any], change: Change, index: bool = False) -> None:
    def extra(pipe: Any) -> None:
        pipe.set(ctx.k.change_set(cs["id"]), orjson.dumps(cs))
        if index:
            pipe.zadd(ctx.k.change_sets, {cs["id"]: ctx.now()})

    await ctx.repo.record(ctx.actor, ctx.rid, [change], extra)


async def submit(request: Request, ctx: Ctx, body: dict[str, Any]) -> dict[str, Any]:
    """Check a change by a dry run (the author's role checks) and keep it PENDING."""
    title = body.get("title")
    if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE:
        raise invalid(f"`title` is required (1-{MAX_TITLE} characters)")
    extra = sorted(set(body) - {"title", "changes"})
    if extra:
        raise invalid(f"Unknown field(s): {', '.join(extra)} (expected title, changes)")
    ops = drafts.ops_from(body.get("changes"))
    _no_generation(ops)
    draft = await ctx.repo.draft()
    base = draft.st.version
    draft, _ = await drafts.run(request, ops, draft)
    cs = {
        "id": "cs_" + secrets.token_hex(8), "object": "change_set", "title": title.strip(),
        "status": "PENDING", "author": _who(ctx.actor), "created_at": iso(ctx.now()),
        "base_version": base, "changes": [_plain(op) for op in ops], "diff": _diff(draft),
        "decided_by": None, "decided_at": None, "reason": None, "applied_version": None,
    }  # fmt: skip
    change = Change(action="change_set.create", object_type="change_set", object_id=cs["id"],
                    after={"title": cs["title"], "calls": len(ops)})  # fmt: skip
    await _save(ctx, cs, change, index=True)
    return cs


async def listing(ctx: Ctx, status: str | None, limit: int) -> list[dict[str, Any]]:
    """Newest first; ``status`` filters (looked at over the newest 1,000)."""
    if status is not None and status not in STATUSES:
        raise invalid(f"`status` must be one of {', '.join(STATUSES)}")
    ids = await ctx.r.zrevrange(ctx.k.change_sets, 0, 999 if status else limit - 1)
    raws = await ctx.r.mget(*[ctx.k.change_set(i.decode()) for i in ids]) if ids else []
    out = [orjson.loads(r) for r in raws if r]
    if status:
        out = [c for c in out if c["status"] == status]
    return out[:limit]


async def reject(ctx: Ctx, cs_id: str, reason: Any) -> dict[str, Any]:
    cs = await load(ctx, cs_id)
    _pending(cs)
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        raise invalid(f"`reason` is required (1-{MAX_REASON} characters)")
    cs.update(status="REJECTED", decided_by=_who(ctx.actor), decided_at=iso(ctx.now()),
              reason=reason.strip())  # fmt: skip
    change = Change(action="change_set.reject", object_type="change_set", object_id=cs_id,
                    after={"reason": cs["reason"], "author": cs["author"]})  # fmt: skip
    await _save(ctx, cs, change)
    return cs


class _Moved(Exception):
    """The definitions changed between the re-check and the write: check again."""


async def approve(request: Request, ctx: Ctx, cs_id: str) -> dict[str, Any]:
    """Re-check on the current definitions and apply, all calls or none (four eyes)."""
    cs = await load(ctx, cs_id)
    _pending(cs)
    if cs["author"]["id"] == ctx.actor.id:
        raise ApiError(403, "four_eyes", "Forbidden",
                       "The author of a change set cannot approve it: another approver must")  # fmt: skip
    for _ in range(MAX_RETRIES):
        try:
            return await _apply(request, ctx, cs)
        except _Moved:
            continue
    raise ApiError(409, "multiple_requests", "Too many concurrent changes", "Please retry")


async def _recheck(request: Request, ctx: Ctx, cs: dict[str, Any]) -> Any:
    """The change set dry-run on the current definitions; STALE (409) if it no longer applies."""
    try:
        draft, _ = await drafts.run(request, _ops(cs))
    except ApiError as exc:
        if exc.status in (401, 403, 503):
            raise
        cs.update(status="STALE", decided_by=_who(ctx.actor), decided_at=iso(ctx.now()),
                  reason=f"{exc.key}: {exc.details}")  # fmt: skip
        change = Change(action="change_set.stale", object_type="change_set", object_id=cs["id"],
                        after={"reason": cs["reason"]})  # fmt: skip
        await _save(ctx, cs, change)
        raise ApiError(409, "change_set_stale", "Change set is stale",
                       f"The definitions changed since it was submitted (version "
                       f"{cs['base_version']}) and it no longer applies: {exc.details}") from None  # fmt: skip
    return draft


async def _apply(request: Request, ctx: Ctx, cs: dict[str, Any]) -> dict[str, Any]:
    draft = await _recheck(request, ctx, cs)
    version = draft.st.version  # the version the dry run started from (a dry run keeps it)
    done = dict(cs, status="APPLIED", decided_by=_who(ctx.actor), decided_at=iso(ctx.now()),
                diff=_diff(draft), applied_version=None)  # fmt: skip
    codes = dict(draft.codes)

    def fn(st: State) -> Outcome:
        if st.version != version:
            raise _Moved()
        st.defs, st.meta = draft.st.defs, draft.st.meta
        done["applied_version"] = st.version + 1

        def extra(pipe: Any) -> None:
            for code, v in codes.items():
                codebook.put(pipe, ctx.k, code, v)
                pipe.publish(ctx.k.channel, "code:" + code)
            pipe.set(ctx.k.change_set(cs["id"]), orjson.dumps(done))

        applied = Change(action="change_set.apply", object_type="change_set", object_id=cs["id"],
                         after={"title": cs["title"], "author": cs["author"],
                                "approver": _who(ctx.actor), "calls": len(cs["changes"])})  # fmt: skip
        return Outcome(changes=[*draft.changes, applied], extra=extra)

    await ctx.repo.mutate(ctx.actor, cs["id"], fn, watch=list(codes))
    return done


async def save(request: Request, ctx: Ctx, ops: list[drafts.Op], title: str) -> dict[str, Any] | None:
    """How the web UI saves a definition change: while approvals are required and the signed-in
    role is not ``admin``, submit it as a change set (returned, ``PENDING``: link to
    ``/approvals/{id}``); else apply it at once through its routes (:func:`admin.drafts.apply`)
    and return None."""
    if ctx.actor.role != "admin" and await required(ctx):
        return await submit(request, ctx, {"title": title, "changes": [_plain(op) for op in ops]})
    await drafts.apply(request, ops)
    return None
