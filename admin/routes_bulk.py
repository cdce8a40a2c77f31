"""``POST /v1/vouchers/bulk``: enable, disable, extend or delete many codes as an async action,
with a dry run first; ``GET /v1/vouchers/bulk/{action_id}/results``: its per-row result file.

The body is JSON (``{"action": "disable", "codes": ["A", {"code": "B"}], "expiration_date":
..., "dry_run": true}``) or a CSV with a ``code`` column (``text/csv`` body, or a multipart
``file``), with ``action`` / ``expiration_date`` / ``dry_run`` as query parameters or form
fields. Enable and disable need the ``code_state`` role, extend and delete ``write``. How the
codes change, and what the gateways see: :mod:`admin.bulk`.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Stream
from msgspec import UNSET, Meta, Struct, UnsetType

from store.openapi import Body, Op, Param, Reply

from . import actions as act
from . import bulk
from .app import INNER_BODY, Ctx, begin, json_body, ok
from .auth import require
from .errors import not_found
from .repo import Outcome, State
from .routes_defs import VOUCHER
from .routes_ledger import _csv_text

_CSV_TYPES = ("text/csv", "multipart/form-data")


async def _fields(request: Request) -> tuple[dict[str, Any], list[str]]:
    """The request's settings (action, expiration_date, dry_run) and its codes."""
    ctype = request.headers.get("content-type", "")
    if request.scope.get(INNER_BODY) is None and ctype.startswith(_CSV_TYPES):  # type: ignore[call-overload]
        fields: dict[str, Any] = dict(request.query_params)
        if ctype.startswith("multipart/form-data"):
            form = await request.form()
            fields.update({k: v for k, v in form.items() if isinstance(v, str)})
        return fields, bulk.codes_from_csv(await _csv_text(request))
    body = await json_body(request)
    fields = {**dict(request.query_params), **body}
    return fields, bulk.codes_from_json(body.get("codes"))


def _flag(v: Any) -> bool:
    return v is True or (isinstance(v, str) and v.lower() in ("1", "true", "yes", "on"))


@post("/v1/vouchers/bulk", tags=["vouchers"], status_code=202)
async def bulk_vouchers(request: Request) -> Response:
    """Dry run (200, counts) or start the bulk action (202, ``async_action_id``)."""
    ctx = await begin(request, "code_state")  # the least any action needs; then the action's own
    fields, codes = await _fields(request)
    action = bulk.parse_action(fields.get("action"))
    require(ctx.actor, bulk.ACTIONS[action])
    exp = bulk.parse_expiration(action, fields.get("expiration_date"))
    plan = bulk.Plan(action, exp.isoformat() if exp else None)
    st, rs = await ctx.repo.ruleset()
    doc = {v.code: v for v in st.defs.vouchers}
    if _flag(fields.get("dry_run")):
        return ok(await bulk.dry_count(ctx.r, ctx.k, doc, rs, plan, codes), 200)
    action_id = await _start(ctx, plan, codes, set(doc), rs)
    return ok({"async_action_id": action_id}, 202)


async def _start(ctx: Ctx, plan: bulk.Plan, codes: list[str], doc: set[str], rs: Any) -> str:
    """The codes of the document change now, in the transaction that creates the action for
    the others (kept outside the document)."""
    action_id = act.new_id()
    now = ctx.now()
    params = {"plan": msgspec.to_builtins(plan), "actor": [ctx.actor.id, ctx.actor.name, ctx.actor.role],
              "request_id": ctx.rid}  # fmt: skip
    outside = [c for c in codes if c not in doc]
    in_doc = [c for c in codes if c in doc]
    last: dict[str, Any] = {}

    def fn(s: State) -> Outcome:
        done, counts, changes = _doc_changes(s, plan, in_doc, rs, now)
        last["extra"] = lambda pipe: bulk.queue_action(
            pipe, ctx.k, action_id, outside, done, counts, params, now
        )
        last["write"] = bool(changes)
        return Outcome(changes=changes, extra=last["extra"], write=last["write"])

    await ctx.repo.mutate(ctx.actor, ctx.rid, fn)
    if not last["write"]:  # no code of the document changes: the action alone
        async with ctx.r.pipeline(transaction=True) as pipe:
            last["extra"](pipe)
            await pipe.execute()
    ctx.admin.runner.start(action_id)
    return action_id


def _doc_changes(
    s: State, plan: bulk.Plan, in_doc: list[str], rs: Any, now: int
) -> tuple[list[tuple[str, str, str]], Counter[str], list[Any]]:
    """Apply ``plan`` to the document's codes ``in_doc``: their results, counts and changes."""
    done: list[tuple[str, str, str]] = []
    counts: Counter[str] = Counter()
    changes = []
    where = {v.code: i for i, v in enumerate(s.defs.vouchers)}
    gone: set[str] = set()
    for code in in_doc:
        i = where.get(code)
        v = s.defs.vouchers[i] if i is not None else None
        outcome, reason, new = bulk.decide(plan, v, rs)
        done.append((code, outcome, reason))
        counts[outcome] += 1
        if outcome != "changed" or v is None or i is None:
            continue
        changes.append(bulk.change_entry(plan, v, new))
        if new is None:
            gone.add(code)
            VOUCHER.forget(s, code)
        else:
            s.defs.vouchers[i] = new
            VOUCHER.stamp(s, code, now)
    if gone:
        s.defs.vouchers[:] = [v for v in s.defs.vouchers if v.code not in gone]
    return done, counts, changes


@get("/v1/vouchers/bulk/{action_id:str}/results", tags=["vouchers"])
async def bulk_results(request: Request, action_id: FromPath[str]) -> Stream:
    """The per-row result file of a bulk action (``code, outcome, reason``), as far as it got."""
    ctx = await begin(request, "read")
    return await results_stream(ctx, action_id)


async def results_stream(ctx: Ctx, action_id: str) -> Stream:
    kind = await ctx.r.hget(ctx.k.action(action_id[:100]), "type")
    if kind != bulk.BULK.encode():
        raise not_found("async_action", action_id[:100])
    return Stream(bulk.results_csv(ctx.r, ctx.k, action_id), media_type="text/csv",
                  headers={"Content-Disposition": f'attachment; filename="bulk-{action_id}.csv"'})  # fmt: skip


HANDLERS = [bulk_vouchers, bulk_results]


# ------------------------------------------------------------------------------- OpenAPI

Code = Annotated[str, Meta(min_length=1, max_length=bulk.MAX_CODE, pattern=r"^[^\s/]+$")]


class CodeRef(Struct, kw_only=True):
    code: Code


class BulkIn(Struct, kw_only=True, omit_defaults=True):
    action: Literal["enable", "disable", "extend", "delete"]
    codes: Annotated[list[Code | CodeRef], Meta(min_length=1, max_length=bulk.MAX_CODES)]
    #: required by ``extend``: ISO 8601 datetime, or a date (the end of that day, UTC)
    expiration_date: str | UnsetType = UNSET
    dry_run: bool | UnsetType = UNSET


class BulkDryRun(Struct, kw_only=True):
    object: Literal["bulk_dry_run"]
    action: str
    total: int
    found: int
    would_change: int
    unchanged: int
    not_found: int
    refused: int


class BulkStarted(Struct, kw_only=True):
    async_action_id: str


_CSV_IN = (
    Body({"type": "string", "description": "CSV with a header line holding a `code` column"}, "text/csv"),
    Body({"type": "object", "properties": {"file": {"type": "string", "format": "binary"},
          "action": {"type": "string", "enum": list(bulk.ACTIONS)}, "expiration_date": {"type": "string"},
          "dry_run": {"type": "boolean"}}, "required": ["file", "action"]}, "multipart/form-data"),
)  # fmt: skip

OPERATIONS: dict[tuple[str, str], Op] = {
    ("POST", "/v1/vouchers/bulk"): Op(
        bodies=(Body(BulkIn), *_CSV_IN),
        params=(
            Param("action", Literal["enable", "disable", "extend", "delete"], "With a CSV body"),
            Param("expiration_date", str, "With a CSV body, for `extend`"),
            Param("dry_run", bool, "Count only: nothing is written"),
        ),
        replies={
            200: Reply("Dry run: how many codes exist, would change, are unknown, would be refused", BulkDryRun),
            202: Reply("The codes are being changed by this async action (`VOUCHERS.BULK_UPDATE`)", BulkStarted),
        },
        errors=(400, 401, 403, 409, 503),
    ),
    ("GET", "/v1/vouchers/bulk/{action_id}/results"): Op(
        replies={200: Reply("One line per code: `code, outcome, reason`", {"type": "string"}, "text/csv")},
        errors=(400, 401, 403, 404, 503),
    ),
}  # fmt: skip
