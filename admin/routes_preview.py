"""``POST /v1/preview``: a cart judged as the checkout would, read-only, with the reasons.

The work is :func:`admin.preview.preview` (see there); this module is the route and its
OpenAPI entry. Permission ``read``: every admin-side role may preview the published
definitions; a draft (``changes``) or a change set runs its calls through their own routes,
so previewing one also needs the permission those calls need (``write`` for definitions).
"""

from __future__ import annotations

from typing import Any, Literal

from litestar import Request, Response, post
from msgspec import Struct

from store.openapi import Body, Op, Reply

from .app import begin, json_body, ok
from .preview import preview
from .routes_drafts import ChangeIn


class PreviewIn(Struct, forbid_unknown_fields=True):
    order: dict[str, Any]
    customer: dict[str, Any] | str | None = None
    redeemables: list[dict[str, Any]] | None = None
    at: str | None = None
    changes: list[ChangeIn] | None = None
    change_set_id: str | None = None


class PreviewLimit(Struct):
    name: str
    label: str
    limit: int
    used: int
    adds: int
    money: bool
    text: str


class PreviewAlone(Struct):
    """The redeemable judged on its own (when it is not applicable in the stack, or for every
    candidate): what it would meet without the others."""

    status: Literal["APPLICABLE", "INAPPLICABLE", "SKIPPED"]
    key: str | None
    reason: str | None
    limit: PreviewLimit | None
    discount: int


class PreviewRedeemable(Struct, kw_only=True):
    object: str
    id: str
    name: str | None
    campaign_id: str | None
    campaign_name: str | None
    status: Literal["APPLICABLE", "INAPPLICABLE", "SKIPPED"]
    key: str | None
    reason: str | None
    limit: PreviewLimit | None
    discount: int
    gift_credits: int | None = None
    points: int | None = None
    alone: PreviewAlone | None = None


class PreviewOut(Struct, kw_only=True):
    object: Literal["preview"]
    at: str
    definitions: dict[str, Any]
    customer: dict[str, Any] | None
    mode: Literal["redeemables", "every_candidate"]
    valid: bool
    redeemables: list[PreviewRedeemable]
    candidates_left_out: int
    stacking: dict[str, Any] | None
    order: dict[str, Any]
    written: Literal[False]


@post("/v1/preview", tags=["drafts"], status_code=200)
async def preview_cart(request: Request) -> Response:
    """Judge a cart against the live counters, read-only; nothing is written."""
    ctx = await begin(request, "read")
    return ok(await preview(request, ctx, await json_body(request)))


HANDLERS = [preview_cart]

OPERATIONS: dict[tuple[str, str], Op] = {
    ("POST", "/v1/preview"): Op(
        bodies=(Body(PreviewIn),),
        replies={
            200: Reply(
                "Each redeemable (or, without `redeemables`, each promotion and code that could "
                "apply) with its status, error key, reason and, when a limit refused it, the "
                "limit's numbers; the stacking and the final order. Nothing is written.",
                PreviewOut,
            )
        },
        errors=(400, 401, 403, 404, 409, 503),
    ),
}
