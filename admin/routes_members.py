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

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath

from core import model as m
from store.autopipe import AutoPipeline
from store.loyalty import Catalog, Loyalty
from store.members import CampaignGone, card_figures, card_out
from store.openapi import Body, Op, Param, Reply

from . import audit
from .app import Admin, Ctx, begin, json_body, no_content, ok
from .audit import Change
from .errors import invalid, not_found

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


async def with_live_cards(ctx: Ctx, views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Voucher answers whose loyalty cards carry the wallet's live figures: a card's points live
    in its wallet (store.wallet), not in the counters a voucher answer is built from."""
    cards = [v for v in views if v.get("type") == "LOYALTY_CARD" and v.get("campaign_id")]
    if cards:
        lo, now = _loyalty(ctx), ctx.now()
        figures = await asyncio.gather(*(lo.wallet.card(v["campaign_id"], v["code"], now) for v in cards))
        for v, card in zip(cards, figures, strict=True):
            v["loyalty_card"] = {**(v.get("loyalty_card") or {}), **card_figures(card)}
    return views


async def segment_entered(ctx: Ctx, customer_id: str, segment_id: str) -> int:
    """A customer put in a static segment: the ``customer.segment.entered`` earning rules run."""
    return await _loyalty(ctx).segment_entered(
        await _catalog(ctx), customer_id, segment_id, ctx.now()
    )


async def live_customer(ctx: Ctx, customer: dict[str, Any]) -> dict[str, Any]:
    """``summary`` and ``loyalty`` of a customer object, live (store.loyalty)."""
    return await _loyalty(ctx).customer_loyalty(await _catalog(ctx), customer, ctx.now())


async def publish_once(ctx: Ctx, camp: m.Campaign, customer: dict[str, Any],
                       metadata: dict[str, Any]) -> m.Voucher:  # fmt: skip
    """The code of join-once programme ``camp`` (a loyalty or referral programme) that
    ``customer`` (a stored customer) holds, published now if they hold none: the same code
    however often, or concurrently, it is asked for (store.members.join; a new loyalty card
    gets the programme's initial points, once); audited ``voucher.publish`` when new. The
    holder is the customer's id."""
    lo = _loyalty(ctx)
    try:
        v, _, created = await lo.members.join(camp, customer, ctx.now(), metadata=metadata)
    except CampaignGone:
        raise not_found("campaign", camp.id) from None
    if camp.campaign_type == "LOYALTY_PROGRAM":
        await lo.initial_points(camp, v.code, ctx.now())  # once per card, whatever the retries
    if created:
        async with ctx.r.pipeline(transaction=False) as pipe:
            audit.add(pipe, ctx.k.audit, ctx.actor,
                      Change(action="voucher.publish", object_type="voucher", object_id=v.code,
                             after={"campaign_id": camp.id, "customer_id": customer["id"]}),
                      ctx.now(), ctx.rid)  # fmt: skip
            pipe.publish(ctx.k.channel, "code:" + v.code)
            await pipe.execute()
    return v


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
    data, total = await members_at(ctx, camp, (page - 1) * limit, limit)
    return ok({"object": "list", "data_ref": "vouchers", "vouchers": data, "total": total})


async def members_at(
    ctx: Ctx, camp: m.Campaign, start: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """The programme's cards ``start`` .. ``start + limit`` (in the order they were published)
    with their live figures, and how many it has: one LRANGE at any position."""
    lo = _loyalty(ctx)
    codes = [
        c.decode() for c in await ctx.r.lrange(ctx.k.list_codes(camp.id), start, start + limit - 1)
    ]
    total = await ctx.r.llen(ctx.k.list_codes(camp.id))
    now = ctx.now()
    found = await lo.members.cards(codes)
    figures = await asyncio.gather(*(lo.wallet.card(camp.id, c, now) for c in codes))
    data = [
        card_out(f[0], camp, card, f[1])
        for f, card in zip(found, figures, strict=True)
        if f is not None
    ]
    return data, int(total)


def _order(ctx: Ctx, default: str, allowed: tuple[str, ...]) -> bool:
    """``order`` of a list read: True for newest first (a ``-`` field)."""
    order = ctx.q("order", default) or default
    if order not in allowed:
        raise invalid(f"`order` is one of {', '.join(allowed)}")
    return order.startswith("-")


def _cursor(ctx: Ctx) -> dict[str, Any]:
    return {"limit": ctx.qint("limit", 10), "starting_after": ctx.q("starting_after_id")}


#: one member read: (loyalty, catalogue, ctx, member id, program or None) -> its answer
Read = Callable[[Loyalty, Catalog, Ctx, str, "str | None"], Awaitable[Any]]


def _member_routes(suffix: str, summary: str, read: Read) -> list[Any]:
    """The two routes of one member read (as the gateway's): ``/v1/loyalties/members/{member_id}``
    ``<suffix>`` and its program-scoped twin (404 when the card is in another program)."""

    async def serve(request: Request, member_id: str, campaign_id: str | None) -> Response:
        ctx = await begin(request, "read")
        return ok(await read(_loyalty(ctx), await _catalog(ctx), ctx, member_id, campaign_id))

    async def plain(request: Request, member_id: FromPath[str]) -> Response:
        return await serve(request, member_id, None)

    async def scoped(
        request: Request, campaign_id: FromPath[str], member_id: FromPath[str]
    ) -> Response:
        return await serve(request, member_id, campaign_id)

    name = "member_" + (suffix.strip("/").replace("-", "_") or "card")
    plain.__name__, scoped.__name__ = name, name + "_in"
    return [
        get("/v1/loyalties/members/{member_id:str}" + suffix, summary=summary, tags=["loyalty"])(
            plain
        ),
        get(
            "/v1/loyalties/{campaign_id:str}/members/{member_id:str}" + suffix,
            summary=summary + " (program-scoped)",
            tags=["loyalty"],
        )(scoped),  # fmt: skip
    ]


_TX_ORDER = ("id", "-id", "created_at", "-created_at")
_ACT_ORDER = ("created_at", "-created_at")

MEMBER_READS = [
    *_member_routes("", "Get a member's card",
                    lambda lo, cat, ctx, mid, camp: lo.member(cat, mid, ctx.now(), camp)),
    *_member_routes("/transactions", "A card's transactions",
                    lambda lo, cat, ctx, mid, camp: lo.transactions(
                        cat, mid, ctx.now(), newest_first=_order(ctx, "-id", _TX_ORDER), campaign_ref=camp,
                        **_cursor(ctx))),
    *_member_routes("/activity", "A member's activity",
                    lambda lo, cat, ctx, mid, camp: lo.member_activity(
                        cat, mid, ctx.now(), newest_first=_order(ctx, "-created_at", _ACT_ORDER), campaign_ref=camp,
                        **_cursor(ctx))),
    *_member_routes("/pending-points", "A card's pending points",
                    lambda lo, cat, ctx, mid, camp: lo.pending(cat, mid, ctx.now(), campaign_ref=camp, **_cursor(ctx))),
]  # fmt: skip


@get(
    "/v1/loyalties/members/{member_id:str}/tiers",
    summary="The tier a member is in",
    tags=["loyalty"],
)
async def member_tiers(request: Request, member_id: FromPath[str]) -> Response:
    ctx = await begin(request, "read")
    return ok(await _loyalty(ctx).member_tiers(await _catalog(ctx), member_id, ctx.now()))


@get(
    "/v1/customers/{customer_id:str}/activity", summary="A customer's activity", tags=["customers"]
)
async def customer_activity(request: Request, customer_id: FromPath[str]) -> Response:
    ctx = await begin(request, "read")
    newest = _order(ctx, "-created_at", _ACT_ORDER)
    return ok(await _loyalty(ctx).customer_activity(customer_id, ctx.now(), newest_first=newest,
                                                    types=ctx.q("type"), **_cursor(ctx)))  # fmt: skip


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
    *MEMBER_READS,
    add_member,
    list_members,
    member_tiers,
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
        bodies=(Body(MemberBody),), replies={200: Reply("The member's card", _OBJ)},
        errors=(*_RD, 405),  # a program called `members` is another route's path
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
