"""``POST /v1/drafts/check``: a change checked by the server without publishing it.

The body lists the API calls that would make the change (``changes``: ``[{method, path,
body}]``, definition writes only, :data:`admin.drafts.DRAFTABLE`). They run in order on a
private copy of the published document through their own routes (:func:`admin.drafts.run`):
the caller's role check for each, the same validation and compilation, the same 400 naming the
field (``changes[i]`` named when there are several). Nothing is written: the answer is what
each call would return and the audited changes (each object before / after) the document would
see. The web UI's editor checks every section this way before saving; approvals' change sets
are checked the same way.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from litestar import Request, Response, post
from msgspec import Struct

from store.openapi import Body, Op, Reply

from .app import begin, json_body, ok
from .drafts import MAX_OPS, ops_from, run


class ChangeIn(Struct, forbid_unknown_fields=True):
    method: Literal["POST", "PUT"]
    path: str
    body: dict[str, Any] | None = None


class DraftCheckIn(Struct, forbid_unknown_fields=True):
    changes: list[ChangeIn]


class DraftChange(Struct):
    action: str
    object_type: str
    object_id: str
    before: Any
    after: Any


class DraftResult(Struct):
    method: str
    path: str
    result: Any


class DraftCheckOut(Struct, kw_only=True):
    object: Literal["draft_check"]
    valid: bool
    base_version: int
    results: list[DraftResult]
    changes: list[DraftChange]


def _plain(v: Any) -> Any:
    return msgspec.to_builtins(v) if v is not None else None


@post("/v1/drafts/check", tags=["drafts"], status_code=200)
async def check_draft(request: Request) -> Response:
    """Dry-run a change (every call through its own route and role check); nothing written."""
    await begin(request, "read")
    body = await json_body(request)
    ops = ops_from(body.get("changes"))
    base = request.app.state.admin
    draft = await base.repo.draft()
    version = draft.st.version
    draft, results = await run(request, ops, draft)
    return ok(
        {
            "object": "draft_check",
            "valid": True,
            "base_version": version,
            "results": [
                {"method": r.op.method, "path": r.op.path, "result": _plain(r.result)}
                for r in results
            ],
            "changes": [
                {
                    "action": c.action,
                    "object_type": c.object_type,
                    "object_id": c.object_id,
                    "before": _plain(c.before),
                    "after": _plain(c.after),
                }
                for c in draft.changes
            ],
        }
    )


HANDLERS = [check_draft]

OPERATIONS: dict[tuple[str, str], Op] = {
    ("POST", "/v1/drafts/check"): Op(
        bodies=(Body(DraftCheckIn),),
        replies={
            200: Reply(
                f"The change is valid (at most {MAX_OPS} calls); what each call would return and "
                "what it would change. Nothing is written.",
                DraftCheckOut,
            )
        },
        errors=(400, 401, 403, 404, 409, 503),
    ),
}
