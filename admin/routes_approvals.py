"""Approvals' routes: the four-eyes setting and change sets (the work is admin/approvals.py).

=====================================  ==========  ==============================================
route                                  permission  what
=====================================  ==========  ==============================================
``GET /v1/settings/approvals``         read        ``{"required": bool}``
``PUT /v1/settings/approvals``         manage      turn four-eyes mode on or off (audited)
``POST /v1/change-sets``               write       submit ``{title, changes}`` (dry-run first)
``GET /v1/change-sets``                read        newest first; ``status``, ``limit``
``GET /v1/change-sets/{id}``           read        one, with its diff
``POST /v1/change-sets/{id}/approve``  approve     re-check and apply (not by its author)
``POST /v1/change-sets/{id}/reject``   approve     ``{reason}``
=====================================  ==========  ==============================================
"""

from __future__ import annotations

from typing import Literal

from litestar import Request, Response, get, post, put
from litestar.params import FromPath
from msgspec import Struct

from store.openapi import Body, Op, Param, Reply

from . import approvals as ap
from .app import begin, json_body, ok
from .errors import invalid
from .routes_drafts import ChangeIn, DraftChange


class ApprovalsSetting(Struct, forbid_unknown_fields=True):
    required: bool


class ChangeSetIn(Struct, forbid_unknown_fields=True):
    title: str
    changes: list[ChangeIn]


class RejectIn(Struct, forbid_unknown_fields=True):
    reason: str


class Who(Struct):
    id: str
    name: str
    role: str


class ChangeSetOut(Struct, kw_only=True):
    id: str
    object: Literal["change_set"]
    title: str
    status: Literal["PENDING", "APPLIED", "REJECTED", "STALE"]
    author: Who
    created_at: str
    base_version: int
    changes: list[ChangeIn]
    diff: list[DraftChange]
    decided_by: Who | None
    decided_at: str | None
    reason: str | None
    applied_version: int | None


class ChangeSetList(Struct, kw_only=True):
    object: Literal["list"]
    data_ref: Literal["change_sets"]
    change_sets: list[ChangeSetOut]
    total: int


@get("/v1/settings/approvals", tags=["approvals"])
async def get_setting(request: Request) -> Response:
    ctx = await begin(request, "read")
    return ok({"required": await ap.required(ctx)})


@put("/v1/settings/approvals", tags=["approvals"])
async def put_setting(request: Request) -> Response:
    ctx = await begin(request, "manage")
    body = await json_body(request)
    if set(body) - {"required"}:
        raise invalid("Only `required` can be set")
    return ok(await ap.set_required(ctx, body.get("required")))


@post("/v1/change-sets", tags=["approvals"], status_code=201)
async def create_change_set(request: Request) -> Response:
    ctx = await begin(request, "write")
    return ok(await ap.submit(request, ctx, await json_body(request)), 201)


@get("/v1/change-sets", tags=["approvals"])
async def list_change_sets(request: Request) -> Response:
    ctx = await begin(request, "read")
    data = await ap.listing(ctx, ctx.q("status"), ctx.qint("limit", 50, 1, 100))
    return ok({"object": "list", "data_ref": "change_sets", "change_sets": data, "total": len(data)})


@get("/v1/change-sets/{change_set_id:str}", tags=["approvals"])
async def get_change_set(request: Request, change_set_id: FromPath[str]) -> Response:
    ctx = await begin(request, "read")
    return ok(await ap.load(ctx, change_set_id))


@post("/v1/change-sets/{change_set_id:str}/approve", tags=["approvals"], status_code=200)
async def approve_change_set(request: Request, change_set_id: FromPath[str]) -> Response:
    ctx = await begin(request, "approve")
    return ok(await ap.approve(request, ctx, change_set_id))


@post("/v1/change-sets/{change_set_id:str}/reject", tags=["approvals"], status_code=200)
async def reject_change_set(request: Request, change_set_id: FromPath[str]) -> Response:
    ctx = await begin(request, "approve")
    body = await json_body(request)
    return ok(await ap.reject(ctx, change_set_id, body.get("reason")))


HANDLERS = [get_setting, put_setting, create_change_set, list_change_sets, get_change_set,
            approve_change_set, reject_change_set]  # fmt: skip

_CS = "/v1/change-sets/{change_set_id}"
_ONE = Reply("The change set", ChangeSetOut)
OPERATIONS: dict[tuple[str, str], Op] = {
    ("GET", "/v1/settings/approvals"): Op(replies={200: Reply("The setting", ApprovalsSetting)}),
    ("PUT", "/v1/settings/approvals"): Op(
        bodies=(Body(ApprovalsSetting),), replies={200: Reply("The new setting", ApprovalsSetting)}
    ),
    ("POST", "/v1/change-sets"): Op(
        bodies=(Body(ChangeSetIn),),
        replies={201: Reply("Checked by a dry run and kept PENDING, with its diff", ChangeSetOut)},
        errors=(400, 401, 403, 404, 409, 503),
    ),
    ("GET", "/v1/change-sets"): Op(
        params=(Param("status", Literal["PENDING", "APPLIED", "REJECTED", "STALE"]),
                Param("limit", int, "1-100, default 50")),  # fmt: skip
        replies={200: Reply("Newest first", ChangeSetList)},
    ),
    ("GET", _CS): Op(replies={200: _ONE}, errors=(400, 401, 403, 404, 503)),
    ("POST", _CS + "/approve"): Op(
        replies={200: Reply("Applied: all its calls in one write", ChangeSetOut)},
        errors=(400, 401, 403, 404, 409, 503),
    ),
    ("POST", _CS + "/reject"): Op(
        bodies=(Body(RejectIn),), replies={200: _ONE}, errors=(400, 401, 403, 404, 409, 503)
    ),
}
