"""Loyalty calls of the gateway (application keys): orders, events, member reads, rewards.

``POST /v1/orders``, ``PUT /v1/orders/{id}``, ``GET /v1/orders/{id}``; ``POST /v1/events``;
``GET /v1/loyalties/members/{memberId}`` and its campaign-scoped twin, their transactions,
pending points and (campaign-scoped) points expiration, the member's rewards; spending points
on a reward (``POST .../members/{memberId}/redemption``). The work is :mod:`store.loyalty`'s
(core plans, one wallet call applies); this module is auth, decoding and the answers.

Every handler judges one definitions snapshot (``Live.loyalty``) from start to end, never older
than what Redis holds when the request arrives (a version GET, batched by the auto-pipeliner):
a marketer's change that admin has answered is seen by the next call, on every worker.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import msgspec
import orjson
from litestar import Request, Response, get, post, put
from litestar.params import FromPath

from core import model as m
from store import undo
from store.errors import ApiError
from store.loyalty import Catalog, Loyalty, OrderBody
from store.openapi import Body, Op, Param, Reply
from store.referrals import screen
from store.undo import redemption_order_id

from . import render
from .app import Gateway, _decode, _gw, _new_id, _ok, _timed

_order_dec = msgspec.json.Decoder(OrderBody)
log = logging.getLogger("promogate.gateway")


def _loyalty(gw: Gateway) -> Loyalty:
    """The worker's :class:`Loyalty` (made on first use, over the checkout store's pipeliner)."""
    lo: Loyalty | None = getattr(gw, "_loyalty", None)
    if lo is None:
        lo = Loyalty(gw.store.pipe, gw.settings.key_prefix)
        lo.dynamic_segments = gw.live._dynamic_segments  # cached definitions (SEGMENTS_TTL)
        gw._loyalty = lo  # type: ignore[attr-defined]
    return lo


async def _fresh(gw: Gateway, call: Callable[[Catalog], Awaitable[Any]]) -> Any:
    """``call(catalog)`` on the newest stored definitions (read your writes: one GET of their
    version, batched with the other calls of the moment; a reload only when it moved)."""
    await gw.live.refresh()
    return await call(gw.live.loyalty)


async def _read(
    request: Request, call: Callable[[Loyalty, Catalog, int], Awaitable[Any]]
) -> Response:
    """A loyalty read (or reward purchase): the key checked, then ``call(loyalty, catalogue,
    now)`` on the newest stored definitions (:func:`_fresh`), its answer encoded."""
    gw = _gw(request)
    await gw.auth(request)
    now = gw.clock()
    lo = _loyalty(gw)
    return _ok(await _fresh(gw, lambda cat: call(lo, cat, now)))


def _json(body: bytes) -> Any:
    if not body:
        raise ApiError(400, "invalid_payload", "Invalid payload", "The request body is empty")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(
            400, "invalid_payload", "Invalid payload", f"Malformed JSON: {exc}"
        ) from None


def _obj(body: bytes) -> dict[str, Any]:
    d = _json(body)
    if not isinstance(d, dict):
        raise ApiError(400, "invalid_payload", "Invalid payload", "The body must be a JSON object")
    return d


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "" or raw == "None":
        return default
    try:
        v = int(raw)
    except ValueError:
        raise ApiError(
            400, "invalid_query_params", "Invalid query params", f"`{name}` must be an integer"
        ) from None
    if not lo <= v <= hi:
        raise ApiError(
            400, "invalid_query_params", "Invalid query params", f"`{name}` must be in {lo}..{hi}"
        )
    return v


def _str_param(request: Request, name: str) -> str | None:
    raw = request.query_params.get(name)
    return None if raw in (None, "", "None") else raw


def _order_param(request: Request) -> bool:
    """``order``: ``-id`` / ``-created_at`` (default) newest first, ``id`` / ``created_at`` oldest."""
    raw = _str_param(request, "order")
    if raw is None:
        return True
    if raw not in ("id", "-id", "created_at", "-created_at"):
        raise ApiError(
            400,
            "invalid_query_params",
            "Invalid query params",
            "`order` is id, -id, created_at or -created_at",
        )
    return raw.startswith("-")


# ------------------------------------------------------------------------------- orders


async def _save_order(request: Request, order_id: str | None) -> Response:
    gw = _gw(request)
    await gw.auth(request)
    body = _decode(_order_dec.decode, await request.body())
    now = gw.clock()
    lo = _loyalty(gw)
    # an order is judged once, so never on definitions older than stored: the order's own read
    # returns the stored version, and gw.live.newer loads it when this worker is behind
    out = await lo.save_order(gw.live.loyalty, body, now, order_id=order_id, create=order_id is None,
                              refresh=gw.live.newer)  # fmt: skip
    return _ok(out)


@post(
    "/v1/orders", summary="Create or update an order (PAID earns loyalty points)", tags=["loyalty"]
)
@_timed("orders")
async def create_order(request: Request) -> Response:
    return await _save_order(request, None)


@put(
    "/v1/orders/{order_id:str}",
    summary="Update an order (reaching PAID earns, once)",
    tags=["loyalty"],
)
@_timed("orders")
async def update_order(request: Request, order_id: FromPath[str]) -> Response:
    return await _save_order(request, order_id)


@get("/v1/orders/{order_id:str}", summary="Get an order", tags=["loyalty"])
@_timed("orders")
async def get_order(request: Request, order_id: FromPath[str]) -> Response:
    gw = _gw(request)
    await gw.auth(request)
    return _ok(await _loyalty(gw).get_order(order_id))


# ------------------------------------------------------------------------------- redemptions


async def redemption_paid(gw: Gateway, req: Any, ev: Any, parent_id: str, now: int) -> None:
    """A redemption whose order is PAID (the default) earns like a paid order: its order is
    recorded and earns once (the order id is the idempotency key, so a replayed redemption
    earns nothing more). Nothing is read or written when the definitions in use have no
    loyalty program (a checkout-only deployment pays nothing for loyalty).

    Judged on the stored definitions: the order's own read returns their version and a worker
    that has not yet applied admin's latest change loads it first (an order earns once, so
    never on older rules)."""
    cat = gw.live.loyalty
    order = req.order
    if (
        not cat.programs
        or req.customer is None
        or (order is not None and order.status not in (None, "PAID"))
    ):
        return
    body = OrderBody(
        id=redemption_order_id(order, parent_id),
        source_id=order.source_id if order is not None else None,
        status="PAID",
        amount=ev.amount,
        discount_amount=ev.total_discount_amount or None,
        items=order.items if order is not None else None,
        metadata=order.metadata if order is not None else None,
        customer=req.customer,
        referrer_id=render.referrer_of(ev),
    )
    await _loyalty(gw).save_order(cat, body, now, order_id=body.id, refresh=gw.live.newer)


async def referees(gw: Gateway, rs: Any, req: Any, vouchers: dict[str, Any] | None) -> dict[str, Any] | None:
    """The abuse a referral programme asks to refuse at checkout (``new_customers_only``,
    ``unique_contacts``: ``store.referrals.screen``), judged for the request's customer on
    what is stored: a referral code so refused is answered INAPPLICABLE with its key. Reads
    nothing unless the request redeems a code of such a programme. Returns the holders to
    judge with (``vouchers``, or a copy with the refused ones replaced)."""
    c = req.customer
    if c is None or not (c.id or c.source_id):
        return vouchers
    out = vouchers
    referee: tuple[dict[str, Any], int] | None = None  # the customer and its paid orders, read once
    for r in req.redeemables:
        h = (vouchers or {}).get(r.id) or rs.vouchers.get(r.id)
        camp = h.campaign.model if h is not None and h.referral and h.campaign is not None else None
        rp = camp.referral_program if camp is not None else None
        if rp is None or not (rp.new_customers_only or rp.unique_contacts) or not h.customer:
            continue
        lo = _loyalty(gw)
        if referee is None:
            stored = await lo.members.customer(c, gw.clock(), create=False)
            who = {**msgspec.to_builtins(c), **(stored or {})}
            who.setdefault("id", "")
            for f in ("email", "phone"):  # what the request says wins (it is what will be stored)
                if getattr(c, f, None):
                    who[f] = getattr(c, f)
            before = (await lo.members.metrics(stored["id"])).get("count", 0) if stored else 0
            referee = (who, before)
        key = await screen(lo, camp, str(h.customer), *referee)
        if key is not None:
            out = dict(out or {})
            out[r.id] = h.refusing(key)
    return out


async def redemption_converted(gw: Gateway, req: Any, ev: Any, parent_id: str, now: int) -> None:
    """A referee's redemption of a referral code converts the referral (programmes converting
    on redemption): what the programme pays the referee and the referrer, once per redemption
    (a replayed redemption completes a conversion a crash cut short, nothing more). The
    redemption itself is done: a conversion that fails is logged, the answer stands."""
    h = render.referral_of(ev)
    camp = h.campaign.model if h is not None and h.campaign is not None else None
    if camp is None or req.customer is None:
        return
    rp = camp.referral_program
    if rp is not None and rp.conversion_event_type != "redemption":
        return
    lo = _loyalty(gw)
    cust = await lo.members.customer(req.customer, now, create=True)
    if cust is None:
        return
    try:
        await lo.referrals.convert(gw.live.loyalty, camp, h.code, str(h.customer), cust,
                                   (parent_id, "redemption"), now, count=False)  # fmt: skip
    except ApiError as exc:
        log.warning("referral conversion of redemption %s not made: %s", parent_id, exc.key)


async def redemption_rolled_back(gw: Gateway, data: bytes, now: int) -> None:
    """A rolled-back redemption cancels its order: the points it earned are taken back
    (``POINTS_REMOVAL``, never below zero) once; what its referral conversion paid, too
    (:mod:`store.undo`, shared with admin's rollback)."""
    await undo.redemption_rolled_back(_loyalty(gw), gw.live.loyalty, data, now, gw.live.newer)


# ------------------------------------------------------------------------------- events


@post("/v1/events", summary="Track a custom event (earns on custom-event rules; converts a referral)", tags=["loyalty"])
@_timed("events")
async def track_event(request: Request) -> Response:
    gw = _gw(request)
    await gw.auth(request)
    body = _obj(await request.body())
    raw_idem = request.headers.get("idempotency-key")
    if raw_idem is not None and not 1 <= len(raw_idem) <= 255:
        raise ApiError(
            400, "invalid_payload", "Invalid payload", "Idempotency-Key must be 1-255 characters"
        )
    idem = f"{request.headers.get('x-app-id')}:{raw_idem}" if raw_idem else None
    now = gw.clock()
    lo = _loyalty(gw)
    # judged once, so never on definitions older than stored (the event's own read has their version)
    return _ok(await lo.event(gw.live.loyalty, body, now, idem, refresh=gw.live.newer))


# ------------------------------------------------------------------------------- members


#: one member read: (loyalty, catalogue, request, member id, program or None, now) -> its answer
Read = Callable[[Loyalty, Catalog, Request, str, "str | None", int], Awaitable[Any]]


def _member_routes(suffix: str, summary: str, read: Read) -> list[Any]:
    """The two routes of one member read: ``/v1/loyalties/members/{member_id}<suffix>`` and
    its program-scoped twin ``/v1/loyalties/{campaign_id}/members/{member_id}<suffix>``
    (404 when the card is in another program)."""

    async def serve(request: Request, member_id: str, campaign_id: str | None) -> Response:
        return await _read(
            request, lambda lo, cat, now: read(lo, cat, request, member_id, campaign_id, now)
        )

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
            _timed("members")(plain)
        ),
        get(
            "/v1/loyalties/{campaign_id:str}/members/{member_id:str}" + suffix,
            summary=summary + " (program-scoped)",
            tags=["loyalty"],
        )(_timed("members")(scoped)),  # fmt: skip
    ]


def _cursor(request: Request) -> dict[str, Any]:
    """``limit`` (1-100, default 10) and ``starting_after_id`` of a list read."""
    return {
        "limit": _int_param(request, "limit", 10, 1, 100),
        "starting_after": _str_param(request, "starting_after_id"),
    }


MEMBER_READS = [
    *_member_routes("", "Get a member's loyalty card",
                    lambda lo, cat, rq, mid, camp, now: lo.member(cat, mid, now, camp)),
    *_member_routes("/transactions", "A card's transactions",
                    lambda lo, cat, rq, mid, camp, now: lo.transactions(
                        cat, mid, now, newest_first=_order_param(rq), campaign_ref=camp, **_cursor(rq))),
    *_member_routes("/activity", "A member's activity",
                    lambda lo, cat, rq, mid, camp, now: lo.member_activity(
                        cat, mid, now, newest_first=_order_param(rq), campaign_ref=camp, **_cursor(rq))),
    *_member_routes("/pending-points", "A card's pending points",
                    lambda lo, cat, rq, mid, camp, now: lo.pending(cat, mid, now, campaign_ref=camp, **_cursor(rq))),
]  # fmt: skip


@get("/v1/loyalties/{campaign_id:str}/members/{member_id:str}/points-expiration",
     summary="A card's points by expiry date", tags=["loyalty"])  # fmt: skip
@_timed("members")
async def member_expirations(
    request: Request, campaign_id: FromPath[str], member_id: FromPath[str]
) -> Response:
    limit = _int_param(request, "limit", 10, 1, 100)
    page = _int_param(request, "page", 1, 1, 1000)
    return await _read(request, lambda lo, cat, now: lo.expirations(cat, campaign_id, member_id, now,
                                                                    limit=limit, page=page))  # fmt: skip


@get(
    "/v1/loyalties/members/{member_id:str}/rewards",
    summary="Rewards a member can buy",
    tags=["loyalty"],
)
@_timed("members")
async def member_rewards(request: Request, member_id: FromPath[str]) -> Response:
    raw = (_str_param(request, "affordable_only") or "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise ApiError(
            400,
            "invalid_query_params",
            "Invalid query params",
            "`affordable_only` is true or false",
        )
    only = raw in ("true", "1")
    return await _read(request, lambda lo, cat, now: lo.member_rewards(cat, member_id, now, only))


@get(
    "/v1/loyalties/members/{member_id:str}/tiers",
    summary="The tier a member is in",
    tags=["loyalty"],
)
@_timed("members")
async def member_tiers(request: Request, member_id: FromPath[str]) -> Response:
    return await _read(request, lambda lo, cat, now: lo.member_tiers(cat, member_id, now))


@get("/v1/customers/{customer_id:str}/redeemables", summary="A customer's wallet: codes, gift and loyalty cards",
     tags=["loyalty"])  # fmt: skip
@_timed("customer_wallet")
async def customer_redeemables(request: Request, customer_id: FromPath[str]) -> Response:
    limit = _int_param(request, "limit", 10, 1, 100)
    after = _str_param(request, "starting_after_id")
    newest = (_str_param(request, "order") or "id") == "-id"
    return await _read(request, lambda lo, cat, now: lo.customer_wallet(
        cat, customer_id, now, limit=limit, starting_after=after, newest_first=newest))  # fmt: skip


async def _redeem_reward(request: Request, member_id: str, campaign_id: str | None) -> Response:
    raw = await request.body()
    rid = _new_id("r_")

    async def buy(lo: Loyalty, cat: Catalog, now: int) -> Any:
        return await lo.redeem_reward(
            cat, member_id, _obj(raw), now, rid, campaign_id
        )  # body judged after the key

    return await _read(request, buy)


@post(
    "/v1/loyalties/members/{member_id:str}/redemption",
    summary="Spend points on a reward",
    tags=["loyalty"],
)
@_timed("reward_redemption")
async def redeem_reward(request: Request, member_id: FromPath[str]) -> Response:
    return await _redeem_reward(request, member_id, None)


@post("/v1/loyalties/{campaign_id:str}/members/{member_id:str}/redemption",
      summary="Spend points on a reward (program-scoped)", tags=["loyalty"])  # fmt: skip
@_timed("reward_redemption")
async def redeem_reward_in(
    request: Request, campaign_id: FromPath[str], member_id: FromPath[str]
) -> Response:
    return await _redeem_reward(request, member_id, campaign_id)


HANDLERS = [
    *MEMBER_READS,
    create_order,
    update_order,
    get_order,
    track_event,
    member_expirations,
    member_rewards,
    member_tiers,
    customer_redeemables,
    redeem_reward,
    redeem_reward_in,
]


# ------------------------------------------------------------------------------- OpenAPI


class _Code(msgspec.Struct, omit_defaults=True):
    code: str | None = None


class _Referral(msgspec.Struct, omit_defaults=True):
    code: str | None = None
    referrer_id: str | None = None


class EventBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``POST /v1/events`` (SDK ``EventsCreateRequestBody``)."""

    event: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    customer: m.Customer
    loyalty: _Code | None = None
    referral: _Referral | None = None
    metadata: dict[str, Any] | None = None


class _RewardRef(msgspec.Struct, omit_defaults=True):
    id: str | None = None
    points: int | None = None


class RewardRedemptionBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``POST .../members/{memberId}/redemption`` (SDK ``LoyaltiesMembersRedemptionRedeemRequestBody``)."""

    reward: _RewardRef
    order: m.Order | None = None
    metadata: dict[str, Any] | None = None


_OBJECT = {"type": "object"}
_LIST = (
    Param("limit", int, "1-100 (default 10)"),
    Param("starting_after_id", str, "Resume after this id"),
)
_MEMBER = (401, 403, 404, 503)
_EARN_ERRORS = (400, 401, 403, 404, 409, 503)


def _member_ops(path: str, scoped: bool) -> dict[tuple[str, str], Op]:
    return {
        ("GET", path): Op(
            replies={200: Reply("The loyalty card with its live balance", _OBJECT)}, errors=_MEMBER
        ),
        ("GET", path + "/transactions"): Op(
            params=(*_LIST, Param("order", str, "-id (newest first, default) or id")),
            replies={200: Reply("The card's transactions with running balance", _OBJECT)},
            errors=(400, *_MEMBER),
        ),
        ("GET", path + "/activity"): Op(
            params=(*_LIST, Param("order", str, "-created_at (default) or created_at")),
            replies={200: Reply("The member's events, from its transactions", _OBJECT)},
            errors=(400, *_MEMBER),
        ),
        ("GET", path + "/pending-points"): Op(
            params=_LIST, replies={200: Reply("PENDING points", _OBJECT)}, errors=(400, *_MEMBER)
        ),
        ("POST", path + "/redemption"): Op(
            bodies=(Body(RewardRedemptionBody),),
            replies={
                200: Reply("The redemption: points, stock and the issued code in one call", _OBJECT)
            },
            errors=(400, *_MEMBER),
        ),
    }


OPERATIONS: dict[tuple[str, str], Op] = {
    ("POST", "/v1/orders"): Op(
        bodies=(Body(OrderBody),),
        replies={200: Reply("The order (PAID earns, once)", _OBJECT)},
        errors=_EARN_ERRORS,
    ),
    ("PUT", "/v1/orders/{order_id}"): Op(
        bodies=(Body(OrderBody),), replies={200: Reply("The order", _OBJECT)}, errors=_EARN_ERRORS
    ),
    ("GET", "/v1/orders/{order_id}"): Op(
        replies={200: Reply("The order", _OBJECT)}, errors=_MEMBER
    ),
    ("POST", "/v1/events"): Op(
        bodies=(Body(EventBody),),
        params=(
            Param(
                "Idempotency-Key",
                str,
                "An event sent again with the same key counts once",
                location="header",
            ),
        ),
        replies={200: Reply("The event", _OBJECT)},
        errors=_EARN_ERRORS,
    ),
    **_member_ops("/v1/loyalties/members/{member_id}", False),
    **_member_ops("/v1/loyalties/{campaign_id}/members/{member_id}", True),
    ("GET", "/v1/loyalties/{campaign_id}/members/{member_id}/points-expiration"): Op(
        params=(Param("limit", int, "1-100 (default 10)"), Param("page", int, "1-1000")),
        replies={200: Reply("Points by expiry date", _OBJECT)},
        errors=(400, *_MEMBER),
    ),
    ("GET", "/v1/loyalties/members/{member_id}/tiers"): Op(
        replies={200: Reply("The member's tier now", _OBJECT)}, errors=_MEMBER
    ),
    ("GET", "/v1/customers/{customer_id}/redeemables"): Op(
        params=(*_LIST, Param("order", str, "id (default) or -id")),
        replies={200: Reply("The customer's codes, gift cards and loyalty cards, live", _OBJECT)},
        errors=(400, *_MEMBER),
    ),
    ("GET", "/v1/loyalties/members/{member_id}/rewards"): Op(
        params=(Param("affordable_only", bool, "Only rewards the balance can buy"),),
        replies={200: Reply("The program's rewards with their (tier) prices", _OBJECT)},
        errors=(400, *_MEMBER),
    ),
}
