"""Members of loyalty programs, as marketers and support agents handle them (admin keys).

``add_member`` (publish a card to a customer: join once), the members list of a program, the
member reads the gateway also answers (card, transactions, pending points, points expiration),
and the changes a support agent makes: a balance adjustment with a reason
(``update_loyalty_card_balance``), transfers between cards, pending points activated, adjusted
or cancelled. The work is :mod:`store.loyalty`'s (one wallet call per change, on the card's
transaction stream with its reason); each change is also audited here (who did it).

Permissions: reads ``read``; publishing a card and every points change ``issue`` (admin,
marketer, support: the agents who fix a customer's balance).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath

from core import model as m
from store.autopipe import AutoPipeline
from store.loyalty import Catalog, Loyalty
from store.members import card_out
from store.openapi import Body, Op, Param, Reply

from . import audit
from .app import Admin, Ctx, begin, json_body, no_content, ok
from .audit import Change
from .errors import invalid

_cache: dict[int, tuple[Any, Catalog]] = {}


def _loyalty(ctx: Ctx) -> Loyalty:
    adm: Admin = ctx.admin
    lo: Loyalty | None = getattr(adm, "_loyalty", None)
    if lo is None:
        lo = Loyalty(
            AutoPipeline(adm.redis, timeout=adm.settings.redis_timeout), adm.settings.key_prefix
        )
        adm._loyalty = lo  # type: ignore[attr-defined]
    return lo


async def _catalog(ctx: Ctx) -> Catalog:
    """The loyalty catalogue of the current definitions (compiled once per version)."""
    st = await ctx.repo.state()
    key = st.cache_key
    hit = _cache.get(id(ctx.admin))
    if hit is not None and hit[0] == key and key is not None:
        return hit[1]
    cat = Catalog(st.defs)
    _cache[id(ctx.admin)] = (key, cat)
    return cat


async def _audited(ctx: Ctx, action: str, object_id: str, after: Any, before: Any = None) -> None:
    async with ctx.r.pipeline(transaction=False) as pipe:
        audit.add(pipe, ctx.k.audit, ctx.actor,
                  Change(action=action, object_type="loyalty_card", object_id=object_id, before=before,
                         after=after), ctx.now(), ctx.rid)  # fmt: skip
        await pipe.execute()


async def live_customer(ctx: Ctx, customer: dict[str, Any]) -> dict[str, Any]:
    """``summary`` and ``loyalty`` of a customer object, live (store.loyalty)."""
    return await _loyalty(ctx).customer_loyalty(await _catalog(ctx), customer, ctx.now())


# ------------------------------------------------------------------------------- members


@post("/v1/loyalties/{campaign_id:str}/members", summary="Add a member (publish a loyalty card)",
      tags=["loyalty"])  # fmt: skip
async def add_member(request: Request, campaign_id: FromPath[str]) -> Response:
    ctx = await begin(request, "issue")
    body = await json_body(request)
    try:
        cust = msgspec.convert(body.get("customer"), m.Customer | None)
    except msgspec.ValidationError as exc:
        raise invalid(f"customer: {exc}") from None
    code = body.get("voucher")
    if code is not None and (not isinstance(code, str) or not code):
        raise invalid("`voucher` must be a card code")
    md = body.get("metadata")
    if md is not None and not isinstance(md, dict):
        raise invalid("`metadata` must be an object")
    out = await _loyalty(ctx).add_member(
        await _catalog(ctx), campaign_id, cust, ctx.now(), code, md
    )
    await _audited(ctx, "loyalty_card.publish", out["code"], {"customer_id": out["holder_id"]})
    return ok(out)


@get(
    "/v1/loyalties/{campaign_id:str}/members", summary="List a program's members", tags=["loyalty"]
)
async def list_members(request: Request, campaign_id: FromPath[str]) -> Response:
    ctx = await begin(request, "read")
    cat = await _catalog(ctx)
    camp = cat.program(campaign_id)
    limit = ctx.qint("limit", 10)
    page = ctx.qint("page", 1, 1, 1000)
    lo = _loyalty(ctx)
    start = (page - 1) * limit
    codes = [
        c.decode() for c in await ctx.r.lrange(ctx.k.list_codes(camp.id), start, start + limit - 1)
    ]
    total = await ctx.r.llen(ctx.k.list_codes(camp.id))
    now = ctx.now()
    found = await lo.members.cards(codes)
    import asyncio

    figures = await asyncio.gather(*(lo.wallet.card(camp.id, c, now) for c in codes))
    data = [
        card_out(f[0], camp, card, f[1])
        for f, card in zip(found, figures, strict=True)
        if f is not None
    ]
    return ok({"object": "list", "data_ref": "vouchers", "vouchers": data, "total": total})


async def _member(request: Request, member_id: str, campaign_id: str | None) -> Response:
    ctx = await begin(request, "read")
    return ok(await _loyalty(ctx).member(await _catalog(ctx), member_id, ctx.now(), campaign_id))


@get("/v1/loyalties/members/{member_id:str}", summary="Get a member's card", tags=["loyalty"])
async def get_member(request: Request, member_id: FromPath[str]) -> Response:
    return await _member(request, member_id, None)


@get(
    "/v1/loyalties/members/{member_id:str}/tiers",
    summary="The tier a member is in",
    tags=["loyalty"],
)
async def member_tiers(request: Request, member_id: FromPath[str]) -> Response:
    ctx = await begin(request, "read")
    return ok(await _loyalty(ctx).member_tiers(await _catalog(ctx), member_id, ctx.now()))


@get("/v1/loyalties/{campaign_id:str}/members/{member_id:str}", summary="Get a member's card (program-scoped)",
     tags=["loyalty"])  # fmt: skip
async def get_member_in(
    request: Request, campaign_id: FromPath[str], member_id: FromPath[str]
) -> Response:
    return await _member(request, member_id, campaign_id)


async def _transactions(request: Request, member_id: str, campaign_id: str | None) -> Response:
    ctx = await begin(request, "read")
    order = ctx.q("order", "-id")
    if order not in ("id", "-id", "created_at", "-created_at"):
        raise invalid("`order` is id, -id, created_at or -created_at")
    return ok(await _loyalty(ctx).transactions(
        await _catalog(ctx), member_id, ctx.now(), limit=ctx.qint("limit", 10),
        starting_after=ctx.q("starting_after_id"), newest_first=order.startswith("-"),
        campaign_ref=campaign_id))  # fmt: skip


@get(
    "/v1/loyalties/members/{member_id:str}/transactions",
    summary="A card's transactions",
    tags=["loyalty"],
)
async def member_transactions(request: Request, member_id: FromPath[str]) -> Response:
    return await _transactions(request, member_id, None)


@get("/v1/loyalties/{campaign_id:str}/members/{member_id:str}/transactions",
     summary="A card's transactions (program-scoped)", tags=["loyalty"])  # fmt: skip
async def member_transactions_in(
    request: Request, campaign_id: FromPath[str], member_id: FromPath[str]
) -> Response:
    return await _transactions(request, member_id, campaign_id)


async def _activity(request: Request, member_id: str, campaign_id: str | None) -> Response:
    ctx = await begin(request, "read")
    order = ctx.q("order", "-created_at")
    if order not in ("created_at", "-created_at"):
        raise invalid("`order` is created_at or -created_at")
    return ok(await _loyalty(ctx).member_activity(
        await _catalog(ctx), member_id, ctx.now(), limit=ctx.qint("limit", 10),
        starting_after=ctx.q("starting_after_id"), newest_first=order.startswith("-"),
        campaign_ref=campaign_id))  # fmt: skip


@get(
    "/v1/loyalties/members/{member_id:str}/activity",
    summary="A member's activity",
    tags=["loyalty"],
)
async def member_activity(request: Request, member_id: FromPath[str]) -> Response:
    return await _activity(request, member_id, None)


@get("/v1/loyalties/{campaign_id:str}/members/{member_id:str}/activity",
     summary="A member's activity (program-scoped)", tags=["loyalty"])  # fmt: skip
async def member_activity_in(
    request: Request, campaign_id: FromPath[str], member_id: FromPath[str]
) -> Response:
    return await _activity(request, member_id, campaign_id)


@get(
    "/v1/customers/{customer_id:str}/activity", summary="A customer's activity", tags=["customers"]
)
async def customer_activity(request: Request, customer_id: FromPath[str]) -> Response:
    ctx = await begin(request, "read")
    order = ctx.q("order", "-created_at")
    if order not in ("created_at", "-created_at"):
        raise invalid("`order` is created_at or -created_at")
    return ok(await _loyalty(ctx).customer_activity(
        customer_id, ctx.now(), limit=ctx.qint("limit", 10), starting_after=ctx.q("starting_after_id"),
        newest_first=order.startswith("-"), types=ctx.q("type")))  # fmt: skip


async def _pending(request: Request, member_id: str, campaign_id: str | None) -> Response:
    ctx = await begin(request, "read")
    return ok(await _loyalty(ctx).pending(await _catalog(ctx), member_id, ctx.now(), limit=ctx.qint("limit", 10),
                                          starting_after=ctx.q("starting_after_id"), campaign_ref=campaign_id))  # fmt: skip


@get(
    "/v1/loyalties/members/{member_id:str}/pending-points",
    summary="A card's pending points",
    tags=["loyalty"],
)
async def member_pending(request: Request, member_id: FromPath[str]) -> Response:
    return await _pending(request, member_id, None)


@get("/v1/loyalties/{campaign_id:str}/members/{member_id:str}/pending-points",
     summary="A card's pending points (program-scoped)", tags=["loyalty"])  # fmt: skip
async def member_pending_in(
    request: Request, campaign_id: FromPath[str], member_id: FromPath[str]
) -> Response:
    return await _pending(request, member_id, campaign_id)


@get("/v1/loyalties/{campaign_id:str}/members/{member_id:str}/points-expiration",
     summary="A card's points by expiry date", tags=["loyalty"])  # fmt: skip
async def member_expirations(
    request: Request, campaign_id: FromPath[str], member_id: FromPath[str]
) -> Response:
    ctx = await begin(request, "read")
    return ok(await _loyalty(ctx).expirations(await _catalog(ctx), campaign_id, member_id, ctx.now(),
                                              limit=ctx.qint("limit", 10), page=ctx.qint("page", 1, 1, 1000)))  # fmt: skip


# ------------------------------------------------------------------------------- changes


async def _balance(request: Request, member_id: str, campaign_id: str | None) -> Response:
    ctx = await begin(request, "issue")
    body = await json_body(request)
    out = await _loyalty(ctx).adjust_balance(
        await _catalog(ctx), member_id, body, ctx.now(), campaign_id
    )
    await _audited(ctx, "loyalty_card.balance", member_id,
                   {"points": body.get("points"), "reason": body.get("reason"), "balance": out["balance"]})  # fmt: skip
    return ok(out)


@post("/v1/loyalties/members/{member_id:str}/balance", summary="Add or remove points (with a reason)",
      tags=["loyalty"])  # fmt: skip
async def update_balance(request: Request, member_id: FromPath[str]) -> Response:
    return await _balance(request, member_id, None)


@post("/v1/loyalties/{campaign_id:str}/members/{member_id:str}/balance",
      summary="Add or remove points (program-scoped)", tags=["loyalty"])  # fmt: skip
async def update_balance_in(
    request: Request, campaign_id: FromPath[str], member_id: FromPath[str]
) -> Response:
    return await _balance(request, member_id, campaign_id)


@post("/v1/loyalties/{campaign_id:str}/members/{member_id:str}/transfers",
      summary="Transfer points from other cards to this one", tags=["loyalty"])  # fmt: skip
async def transfer_points(
    request: Request, campaign_id: FromPath[str], member_id: FromPath[str]
) -> Response:
    ctx = await begin(request, "issue")
    import orjson

    raw = await request.body()
    try:
        items = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError as exc:
        raise invalid(f"Malformed JSON: {exc}") from None
    if not isinstance(items, list):
        raise invalid("the body is an array of {code, points, reason, source_id}")
    out = await _loyalty(ctx).transfer(
        await _catalog(ctx), campaign_id, member_id, items, ctx.now()
    )
    await _audited(ctx, "loyalty_card.transfer", member_id, {"from": items})
    return ok(out)


async def _pending_action(request: Request, member_id: str, pending_id: str, action: str,
                          campaign_id: str | None) -> Response:  # fmt: skip
    ctx = await begin(request, "issue")
    points = None
    if action == "adjust":
        points = (await json_body(request)).get("points")
    out = await _loyalty(ctx).pending_action(await _catalog(ctx), member_id, pending_id, action, ctx.now(),
                                             points, campaign_id)  # fmt: skip
    await _audited(
        ctx,
        f"loyalty_card.pending_points.{action}",
        member_id,
        {"id": pending_id, "points": points},
    )
    return no_content() if out is None else ok(out)


def _pending_routes() -> list[Any]:
    """activate / balance (adjust) / cancel, under both the member and the program-scoped path."""
    routes: list[Any] = []
    for verb, action in (("activate", "activate"), ("balance", "adjust"), ("cancel", "cancel")):
        for scoped in (False, True):
            path = ("/v1/loyalties/{campaign_id:str}/members/{member_id:str}" if scoped
                    else "/v1/loyalties/members/{member_id:str}") + f"/pending-points/{{pending_id:str}}/{verb}"  # fmt: skip

            def make(action: str = action, scoped: bool = scoped) -> Any:
                if scoped:

                    async def handler(request: Request, campaign_id: FromPath[str], member_id: FromPath[str],
                                      pending_id: FromPath[str]) -> Response:  # fmt: skip
                        return await _pending_action(
                            request, member_id, pending_id, action, campaign_id
                        )
                else:

                    async def handler(request: Request, member_id: FromPath[str],  # type: ignore[misc]
                                      pending_id: FromPath[str]) -> Response:  # fmt: skip
                        return await _pending_action(request, member_id, pending_id, action, None)

                handler.__name__ = f"pending_{action}{'_in' if scoped else ''}"
                return handler

            routes.append(post(path, summary=f"Pending points: {action}", tags=["loyalty"],
                               status_code=200, operation_id=f"pending_{action}{'_in' if scoped else ''}")(make()))  # fmt: skip
    return routes


HANDLERS = [
    add_member,
    list_members,
    get_member,
    get_member_in,
    member_tiers,
    member_transactions,
    member_transactions_in,
    member_pending,
    member_pending_in,
    member_activity,
    member_activity_in,
    customer_activity,
    member_expirations,
    update_balance,
    update_balance_in,
    transfer_points,
    *_pending_routes(),
]


# ------------------------------------------------------------------------------- OpenAPI


class _CustomerRef(msgspec.Struct, omit_defaults=True):
    id: str | None = None
    source_id: str | None = None
    name: str | None = None
    email: str | None = None
    metadata: dict[str, Any] | None = None


class MemberBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``add_member`` (SDK ``LoyaltiesMembersCreateRequestBody``)."""

    customer: _CustomerRef
    voucher: str | None = None
    source_id: str | None = None
    metadata: dict[str, Any] | None = None


class BalanceBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``update_loyalty_card_balance``: ``points`` signed (a removal never goes below 0)."""

    points: int
    expiration_type: Literal["PROGRAM_RULES", "CUSTOM_DATE", "NON_EXPIRING"] | None = None
    expiration_date: str | None = None
    reason: str | None = None
    source_id: str | None = None


class TransferItem(msgspec.Struct, kw_only=True, omit_defaults=True):
    code: str
    points: int
    reason: str | None = None
    source_id: str | None = None


class PendingAdjust(msgspec.Struct, kw_only=True):
    points: int


_OBJ = {"type": "object"}
_PAGE = (Param("limit", int, "1-100 (default 10)"), Param("page", int, "1-1000"))
_CUR = (
    Param("limit", int, "1-100 (default 10)"),
    Param("starting_after_id", str, "Resume after this id"),
)
_RD = (400, 401, 403, 404, 503)


def _member_ops(base: str) -> dict[tuple[str, str], Op]:
    pp = base + "/pending-points/{pending_id}"
    return {
        ("GET", base): Op(replies={200: Reply("The card with its live balance", _OBJ)}, errors=_RD),
        ("GET", base + "/transactions"): Op(
            params=(*_CUR, Param("order", str, "-id or id")),
            replies={200: Reply("Transactions", _OBJ)},
            errors=_RD,
        ),
        ("GET", base + "/activity"): Op(
            params=(*_CUR, Param("order", str, "-created_at or created_at")),
            replies={200: Reply("The member's events", _OBJ)},
            errors=_RD,
        ),
        ("GET", base + "/pending-points"): Op(
            params=_CUR, replies={200: Reply("Pending points", _OBJ)}, errors=_RD
        ),
        ("POST", base + "/balance"): Op(
            bodies=(Body(BalanceBody),),
            replies={200: Reply("The balance after the change", _OBJ)},
            errors=_RD,
        ),
        ("POST", pp + "/activate"): Op(replies={200: Reply("Activated", _OBJ)}, errors=_RD),
        ("POST", pp + "/balance"): Op(
            bodies=(Body(PendingAdjust),), replies={200: Reply("Adjusted", _OBJ)}, errors=_RD
        ),
        ("POST", pp + "/cancel"): Op(replies={204: Reply("Cancelled")}, errors=_RD),
    }


OPERATIONS: dict[tuple[str, str], Op] = {
    ("POST", "/v1/loyalties/{campaign_id}/members"): Op(
        bodies=(Body(MemberBody),), replies={200: Reply("The member's card", _OBJ)}, errors=_RD
    ),
    ("GET", "/v1/loyalties/{campaign_id}/members"): Op(
        params=_PAGE, replies={200: Reply("The program's cards", _OBJ)}, errors=_RD
    ),
    **_member_ops("/v1/loyalties/members/{member_id}"),
    ("GET", "/v1/loyalties/members/{member_id}/tiers"): Op(
        replies={200: Reply("The member's tier now", _OBJ)}, errors=_RD
    ),
    **_member_ops("/v1/loyalties/{campaign_id}/members/{member_id}"),
    ("GET", "/v1/customers/{customer_id}/activity"): Op(
        params=(
            *_CUR,
            Param("order", str, "-created_at or created_at"),
            Param("type", str, "One event type"),
        ),
        replies={200: Reply("The customer's events (orders, custom events, rewards)", _OBJ)},
        errors=_RD,
    ),
    ("POST", "/v1/loyalties/{campaign_id}/members/{member_id}/transfers"): Op(
        bodies=(Body(list[TransferItem]),),
        replies={200: Reply("The destination card", _OBJ)},
        errors=_RD,
    ),
    ("GET", "/v1/loyalties/{campaign_id}/members/{member_id}/points-expiration"): Op(
        params=_PAGE, replies={200: Reply("Points by expiry date", _OBJ)}, errors=_RD
    ),
}
