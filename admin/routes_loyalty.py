"""Loyalty definitions API: programs, earning rules, tiers, the rewards catalogue and reward
assignments, in Voucherify's v1 shapes (``/v1/loyalties``, ``/v1/rewards``), so that the
official SDK (voucherify 6.1.1, ``LoyaltiesApi`` / ``RewardsApi``) works unchanged.

A loyalty program is a LOYALTY_PROGRAM campaign, made, changed and deleted by the campaign
routes' own functions (admin/routes_defs.py). Each other kind is described once as an
:class:`admin.resources.Resource` (``EARNING_RULE``, ``LOYALTY_TIER``, ``REWARD`` and the
reward assignment, found under its reward or under its program) and read, changed and deleted
by the same :mod:`admin.resources` functions; every change goes through
:meth:`admin.repo.Repo.mutate`, so it is compiled by core (``core.earning``: a rule that does
not fit its event, a tier of unknown rules, a reward of the program itself... is refused with a
400 and nothing is written), published to the gateways and audited. Members (cards, balances,
transactions) are admin/routes_members.py's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import orjson
from litestar import Request, Response, delete, get, post, put
from litestar.params import FromPath

from core import model as m
from store.errors import JSON, error_body

from . import loyalty_shapes as ls
from . import shapes
from .app import Ctx, begin, json_body, no_content, ok
from .errors import ApiError, invalid, not_found
from .repo import State
from .resources import (
    CampaignTimes,
    Found,
    Resource,
    change_one,
    create_many,
    create_one,
    delete_one,
    get_one,
    set_active,
)
from .routes_defs import (
    CAMPAIGN,
    PRODUCT,
    campaign_edit,
    campaign_view,
    create_campaign_from,
    delete_campaign_from,
    new_id,
)

#: at most this many items in one array body
MAX_ITEMS = 100
_ORDERS = ("created_at", "-created_at", "updated_at", "-updated_at")


# =============================================================================== the kinds


def _program_found(st: State, ident: str) -> Found | None:
    c = st.campaign(ident)
    if c is None or c.campaign_type != "LOYALTY_PROGRAM":
        return None
    return Found(c, st.defs.campaigns)


def _part_of_program(home: str) -> Callable[[State, str], Found | None]:
    """The lookup of a kind kept in ``Definitions.<home>``, held by its campaign."""

    def lookup(st: State, ident: str) -> Found | None:
        items = getattr(st.defs, home)
        for x in items:
            if x.id == ident:
                return Found(x, items, st.campaign(x.campaign_id))
        return None

    return lookup


def _assignment_of_reward(st: State, ident: str) -> Found | None:
    for a in st.defs.reward_assignments:
        if a.id == ident:
            reward = next((r for r in st.defs.rewards if r.id == a.reward_id), None)
            return Found(a, st.defs.reward_assignments, reward)
    return None


def _reward_found(st: State, ident: str) -> Found | None:
    for r in st.defs.rewards:
        if r.id == ident:
            return Found(r, st.defs.rewards)
    return None


async def _redeemed(ctx: Ctx, ids: list[str]) -> dict[str, int]:
    """Units redeemed of each reward (the gateway's counters, ``Keys.reward_redeemed``)."""
    if not ids:
        return {}
    raw = await ctx.r.mget([ctx.k.reward_redeemed(i) for i in ids])
    out = {}
    for i, v in zip(ids, raw, strict=True):
        try:
            out[i] = max(0, int(v or 0))
        except ValueError:
            out[i] = 0
    return out


async def _reward_view(ctx: Ctx, st: State, f: Found) -> dict[str, Any]:
    n = await _redeemed(ctx, [f.obj.id])
    return ls.reward_out(f.obj, st, st.times(ls.REWARD, f.obj.id), n[f.obj.id])


def _assignment_view(ctx: Ctx, st: State, f: Found) -> dict[str, Any]:
    return ls.assignment_out(f.obj, st.times(ls.REWARD_ASSIGNMENT, f.obj.id))


#: a LOYALTY_PROGRAM campaign (another campaign is a 404 here)
PROGRAM = Resource(
    kind="campaign",
    model=m.Campaign,
    lookup=_program_found,
    view=lambda ctx, st, f: campaign_view(ctx, st, f.obj),
    times=CampaignTimes(),
)
EARNING_RULE = Resource(
    kind=ls.EARNING_RULE,
    model=m.EarningRule,
    lookup=_part_of_program("earning_rules"),
    view=lambda ctx, st, f: ls.earning_rule_out(f.obj, st.times(ls.EARNING_RULE, f.obj.id)),
    parent=PROGRAM,
)
LOYALTY_TIER = Resource(
    kind=ls.LOYALTY_TIER,
    model=m.LoyaltyTier,
    lookup=_part_of_program("loyalty_tiers"),
    view=lambda ctx, st, f: ls.tier_out(f.obj, st.times(ls.LOYALTY_TIER, f.obj.id)),
    parent=PROGRAM,
)
REWARD = Resource(kind=ls.REWARD, model=m.Reward, lookup=_reward_found, view=_reward_view)
#: a reward assignment under its reward (``/v1/rewards/{reward_id}/assignments/{id}``)
REWARD_ASSIGNMENT = Resource(
    kind=ls.REWARD_ASSIGNMENT,
    model=m.RewardAssignment,
    lookup=_assignment_of_reward,
    view=_assignment_view,
    parent=REWARD,
)
#: the same, under its program (``/v1/loyalties/{campaign_id}/rewards/{id}``)
PROGRAM_ASSIGNMENT = Resource(
    kind=ls.REWARD_ASSIGNMENT,
    model=m.RewardAssignment,
    lookup=_part_of_program("reward_assignments"),
    view=_assignment_view,
    parent=PROGRAM,
)


# =============================================================================== helpers


async def items_body(request: Request) -> list[dict[str, Any]]:
    """An array body (one object is taken as an array of one): its objects, explicit nulls
    removed."""
    raw = await request.body()
    if not raw or not raw.strip():
        raise invalid("The request body is empty")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise invalid(f"Malformed JSON: {exc}") from None
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list) or not body:
        raise invalid("The request body must be a non-empty JSON array of objects")
    if len(body) > MAX_ITEMS:
        raise invalid(f"At most {MAX_ITEMS} items in one request, got {len(body)}")
    return [shapes.need_object(shapes.strip_nulls(x), f"item [{i}]") for i, x in enumerate(body)]


def _paged(
    ctx: Ctx, st: State, kind: str, items: list[Any], default: str | None = None
) -> list[Any]:
    """``items`` in the ``order`` asked (else ``default``, else as stored), then the page
    ``limit`` / ``page`` asks for."""
    order = ctx.q("order", default)
    if order is not None:
        if order not in _ORDERS:
            raise invalid(f"`order` must be one of {', '.join(_ORDERS)}, got {order!r}")
        at = 0 if order.lstrip("-") == "created_at" else 1

        def when(x: Any) -> int:
            if kind == "campaign":
                meta = st.meta.campaigns.get(x.id)
                return (meta.created_at if at == 0 else meta.updated_at) if meta else 0
            t = st.times(kind, x.id)
            return t[at] if t else 0

        # ties (objects made in one request) keep the order they were stored in
        pos = {id(x): i for i, x in enumerate(items)}
        items = sorted(items, key=lambda x: (when(x), pos[id(x)]), reverse=order.startswith("-"))
    limit = ctx.qint("limit", 10)
    page = ctx.qint("page", 1, hi=100_000)
    return items[(page - 1) * limit : page * limit]


def _list(data: list[Any], total: int) -> dict[str, Any]:
    return {"object": "list", "data_ref": "data", "data": data, "total": total}


def _program_for_write(st: State, campaign_id: str) -> m.Campaign:
    """The campaign a program's part is added to: 404 if absent, 400 if not a loyalty
    program."""
    c = CAMPAIGN.get(st, campaign_id)
    if c.campaign_type != "LOYALTY_PROGRAM":
        raise invalid(
            f"campaign {c.id} is {c.campaign_type}, not a LOYALTY_PROGRAM - at `campaignId`"
        )
    return c


# =============================================================================== programs


@post("/v1/loyalties", tags=["loyalties"])
async def create_program(request: Request) -> Response:
    """Create a loyalty program: a LOYALTY_PROGRAM campaign (cards are its codes)."""
    ctx = await begin(request, "write")
    body = await json_body(request)
    ct = body.setdefault("campaign_type", "LOYALTY_PROGRAM")
    if ct != "LOYALTY_PROGRAM":
        raise invalid(f"`campaign_type` of a loyalty program is LOYALTY_PROGRAM, got {ct!r:.80}")
    return await create_campaign_from(ctx, body)


@get("/v1/loyalties", tags=["loyalties"])
async def list_programs(request: Request) -> Response:
    ctx = await begin(request, "read")
    st = await ctx.repo.state()
    programs = [c for c in st.defs.campaigns if c.campaign_type == "LOYALTY_PROGRAM"]
    page = _paged(ctx, st, "campaign", programs, "-created_at")
    views = [await campaign_view(ctx, st, c) for c in page]
    return ok({"object": "list", "data_ref": "campaigns", "campaigns": views,
               "total": len(programs)})  # fmt: skip


@get("/v1/loyalties/{campaign_id:str}", tags=["loyalties"])
async def get_program(request: Request, campaign_id: FromPath[str]) -> Response:
    return await get_one(await begin(request, "read"), PROGRAM, campaign_id)


@put("/v1/loyalties/{campaign_id:str}", tags=["loyalties"])
async def update_program(request: Request, campaign_id: FromPath[str]) -> Response:
    ctx = await begin(request, "write")
    body = await json_body(request)
    return await change_one(ctx, PROGRAM, campaign_id, "update", campaign_edit(body))


@delete("/v1/loyalties/{campaign_id:str}", status_code=200, tags=["loyalties"])
async def delete_program(request: Request, campaign_id: FromPath[str]) -> Response:
    """Delete the program, its cards, earning rules, tiers and reward assignments."""
    return await delete_campaign_from(await begin(request, "write"), PROGRAM, campaign_id)


# =============================================================================== earning rules


@post("/v1/loyalties/{campaign_id:str}/earning-rules", tags=["loyalties"])
async def create_earning_rules(request: Request, campaign_id: FromPath[str]) -> Response:
    """Add earning rules (an array; answered as an array, in order), all or none."""
    ctx = await begin(request, "write")
    items = await items_body(request)

    def build_for(item: dict[str, Any]) -> Callable[[State], Found]:
        rule_id = new_id("ern_")

        def build(st: State) -> Found:
            c = _program_for_write(st, campaign_id)
            d = ls.earning_rule_in(item, rule_id, c.id)
            return Found(
                shapes.convert(d, m.EarningRule, ls.EARNING_RULE), st.defs.earning_rules, c
            )

        return build

    return ok(await create_many(ctx, EARNING_RULE, [build_for(x) for x in items]))


@get("/v1/loyalties/{campaign_id:str}/earning-rules", tags=["loyalties"])
async def list_earning_rules(request: Request, campaign_id: FromPath[str]) -> Response:
    ctx = await begin(request, "read")
    st = await ctx.repo.state()
    c = PROGRAM.get(st, campaign_id)
    rules = [r for r in st.defs.earning_rules if r.campaign_id == c.id]
    data = [
        ls.earning_rule_out(r, st.times(ls.EARNING_RULE, r.id))
        for r in _paged(ctx, st, ls.EARNING_RULE, rules)
    ]
    return ok(_list(data, len(rules)))


@get("/v1/loyalties/{campaign_id:str}/earning-rules/{earning_rule_id:str}", tags=["loyalties"])
async def get_earning_rule(
    request: Request, campaign_id: FromPath[str], earning_rule_id: FromPath[str]
) -> Response:
    ctx = await begin(request, "read")
    return await get_one(ctx, EARNING_RULE, earning_rule_id, parent_id=campaign_id)


@put("/v1/loyalties/{campaign_id:str}/earning-rules/{earning_rule_id:str}", tags=["loyalties"])
async def update_earning_rule(
    request: Request, campaign_id: FromPath[str], earning_rule_id: FromPath[str]
) -> Response:
    """Change what may change (not ``event`` nor its targets); a null changes nothing."""
    ctx = await begin(request, "write")
    body = await json_body(request)
    return await change_one(
        ctx,
        EARNING_RULE,
        earning_rule_id,
        "update",
        lambda st, er, d: ls.earning_rule_update(d, body),
        parent_id=campaign_id,
    )


@post(
    "/v1/loyalties/{campaign_id:str}/earning-rules/{earning_rule_id:str}/enable", tags=["loyalties"]
)
async def enable_earning_rule(
    request: Request, campaign_id: FromPath[str], earning_rule_id: FromPath[str]
) -> Response:
    ctx = await begin(request, "write")
    return await change_one(
        ctx, EARNING_RULE, earning_rule_id, "enable", set_active(True), parent_id=campaign_id
    )


@post(
    "/v1/loyalties/{campaign_id:str}/earning-rules/{earning_rule_id:str}/disable",
    tags=["loyalties"],
)
async def disable_earning_rule(
    request: Request, campaign_id: FromPath[str], earning_rule_id: FromPath[str]
) -> Response:
    ctx = await begin(request, "write")
    return await change_one(
        ctx, EARNING_RULE, earning_rule_id, "disable", set_active(False), parent_id=campaign_id
    )


@delete(
    "/v1/loyalties/{campaign_id:str}/earning-rules/{earning_rule_id:str}",
    status_code=200,
    tags=["loyalties"],
)
async def delete_earning_rule(
    request: Request, campaign_id: FromPath[str], earning_rule_id: FromPath[str]
) -> Response:
    """Delete the rule (and the tiers' mappings of it)."""
    ctx = await begin(request, "write")

    def cascade(st: State, er: m.EarningRule) -> None:
        ls.unmap(st, "earning_rules", er.id)

    await delete_one(ctx, EARNING_RULE, earning_rule_id, parent_id=campaign_id, cascade=cascade)
    return no_content()


# =============================================================================== tiers


@post("/v1/loyalties/{campaign_id:str}/tiers", tags=["loyalties"])
async def create_tiers(request: Request, campaign_id: FromPath[str]) -> Response:
    """Add tiers (an array; answered as an array, in order), all or none."""
    ctx = await begin(request, "write")
    items = await items_body(request)

    def build_for(item: dict[str, Any]) -> Callable[[State], Found]:
        tier_id = new_id("ltr_")

        def build(st: State) -> Found:
            c = _program_for_write(st, campaign_id)
            t = shapes.convert(ls.tier_in(item, tier_id, c.id), m.LoyaltyTier, ls.LOYALTY_TIER)
            return Found(t, st.defs.loyalty_tiers, c)

        return build

    return ok(await create_many(ctx, LOYALTY_TIER, [build_for(x) for x in items]))


@get("/v1/loyalties/{campaign_id:str}/tiers", tags=["loyalties"])
async def list_tiers(request: Request, campaign_id: FromPath[str]) -> Response:
    ctx = await begin(request, "read")
    st = await ctx.repo.state()
    c = PROGRAM.get(st, campaign_id)
    tiers = [t for t in st.defs.loyalty_tiers if t.campaign_id == c.id]
    data = [
        ls.tier_out(t, st.times(ls.LOYALTY_TIER, t.id))
        for t in _paged(ctx, st, ls.LOYALTY_TIER, tiers)
    ]
    return ok(_list(data, len(tiers)))


@get("/v1/loyalties/{campaign_id:str}/tiers/{tier_id:str}", tags=["loyalties"])
async def get_tier(
    request: Request, campaign_id: FromPath[str], tier_id: FromPath[str]
) -> Response:
    return await get_one(await begin(request, "read"), LOYALTY_TIER, tier_id, parent_id=campaign_id)


@get("/v1/loyalties/{campaign_id:str}/tiers/{tier_id:str}/earning-rules", tags=["loyalties"])
async def list_tier_earning_rules(
    request: Request, campaign_id: FromPath[str], tier_id: FromPath[str]
) -> Response:
    """The program's earning rules as a member of the tier earns by them (its mappings
    applied to their points)."""
    ctx = await begin(request, "read")
    st = await ctx.repo.state()
    t: m.LoyaltyTier = LOYALTY_TIER.find(st, tier_id, campaign_id).obj
    rules = [r for r in st.defs.earning_rules if r.campaign_id == t.campaign_id]
    maps = t.earning_rules or {}
    data = [
        ls.earning_rule_out(r, st.times(ls.EARNING_RULE, r.id), maps.get(r.id))
        for r in _paged(ctx, st, ls.EARNING_RULE, rules)
    ]
    return ok(_list(data, len(rules)))


@get("/v1/loyalties/{campaign_id:str}/tiers/{tier_id:str}/rewards", tags=["loyalties"])
async def list_tier_rewards(
    request: Request, campaign_id: FromPath[str], tier_id: FromPath[str]
) -> Response:
    """The program's rewards at the prices a member of the tier pays."""
    ctx = await begin(request, "read")
    st = await ctx.repo.state()
    t: m.LoyaltyTier = LOYALTY_TIER.find(st, tier_id, campaign_id).obj
    assigned = [a for a in st.defs.reward_assignments if a.campaign_id == t.campaign_id]
    page = _paged(ctx, st, ls.REWARD_ASSIGNMENT, assigned)
    counts = await _redeemed(ctx, sorted({a.reward_id for a in page}))
    data = []
    for a in page:
        reward = REWARD.get(st, a.reward_id)
        data.append({
            "reward": ls.reward_out(reward, st, st.times(ls.REWARD, reward.id), counts[reward.id]),
            "assignment": ls.assignment_out(a, st.times(ls.REWARD_ASSIGNMENT, a.id), ls.tier_price(a, t)),
            "object": "loyalty_tier_reward",
        })  # fmt: skip
    return ok(_list(data, len(assigned)))


# =============================================================================== rewards


def _reward_refs(st: State, d: dict[str, Any]) -> dict[str, Any]:
    """``d`` (a core Reward dict) with the campaign, product and SKU it names found (404 if
    absent; a name or source_id becomes the id) and a gift or loyalty credit's balance
    checked (400 ``invalid_balance``)."""
    params = d.get("parameters")
    if not isinstance(params, dict):
        return d
    camp = params.get("campaign")
    if isinstance(camp, dict) and "id" in camp:
        c = CAMPAIGN.get(st, camp["id"])
        camp["id"] = c.id
        if c.campaign_type in ("GIFT_VOUCHERS", "LOYALTY_PROGRAM"):
            balance = camp.get("balance")
            if not isinstance(balance, int) or isinstance(balance, bool) or balance <= 0:
                unit = "cents of credit" if c.campaign_type == "GIFT_VOUCHERS" else "points"
                raise ApiError(400, "invalid_balance", "Invalid balance",
                               f"a reward of {c.campaign_type} campaign {c.id} needs "
                               f"`parameters.campaign.balance` > 0 ({unit})")  # fmt: skip
    prod = params.get("product")
    if isinstance(prod, dict) and "id" in prod:
        p = PRODUCT.get(st, prod["id"])
        prod["id"] = p.id
        sku_id = prod.get("sku_id")
        if sku_id is not None:
            found = st.sku(sku_id) if isinstance(sku_id, str) else None
            if found is None or found[0].id != p.id:
                raise not_found("sku", sku_id)
            prod["sku_id"] = found[1].id
    return d


@post("/v1/rewards", tags=["rewards"])
async def create_reward(request: Request) -> Response:
    """Add a reward to the catalogue: ``parameters`` has one of ``campaign`` (CAMPAIGN),
    ``product`` (MATERIAL) or ``coin`` (COIN), which says its type."""
    ctx = await begin(request, "write")
    body = await json_body(request)
    reward_id = new_id("rew_")

    def build(st: State) -> Found:
        d = _reward_refs(st, ls.reward_in(body, reward_id))
        return Found(shapes.convert(d, m.Reward, ls.REWARD), st.defs.rewards)

    return await create_one(ctx, REWARD, build)


@get("/v1/rewards", tags=["rewards"])
async def list_rewards(request: Request) -> Response:
    """The catalogue; ``assignment_id``: the reward of that assignment."""
    ctx = await begin(request, "read")
    st = await ctx.repo.state()
    rewards = list(st.defs.rewards)
    aid = ctx.q("assignment_id")
    if aid is not None:
        ids = {a.reward_id for a in st.defs.reward_assignments if a.id == aid}
        rewards = [r for r in rewards if r.id in ids]
    page = _paged(ctx, st, ls.REWARD, rewards)
    counts = await _redeemed(ctx, [r.id for r in page])
    data = [ls.reward_out(r, st, st.times(ls.REWARD, r.id), counts[r.id]) for r in page]
    return ok(_list(data, len(rewards)))


@get("/v1/rewards/{reward_id:str}", tags=["rewards"])
async def get_reward(request: Request, reward_id: FromPath[str]) -> Response:
    return await get_one(await begin(request, "read"), REWARD, reward_id)


@put("/v1/rewards/{reward_id:str}", tags=["rewards"])
async def update_reward(request: Request, reward_id: FromPath[str]) -> Response:
    """Change the reward (its type stays); a null changes nothing."""
    ctx = await begin(request, "write")
    body = await json_body(request)

    def edit(st: State, rw: m.Reward, d: dict[str, Any]) -> dict[str, Any]:
        return _reward_refs(st, ls.reward_update(d, body))

    return await change_one(ctx, REWARD, reward_id, "update", edit)


class InUse(ApiError):
    """400 ``resource_in_use`` naming what uses the object (``related_object_ids``,
    ``related_object_type``: fields beyond store.errors.ErrorBody's, so answered by
    :func:`_in_use`)."""

    def __init__(self, details: str, ids: list[str], kind: str, **extra: Any) -> None:
        super().__init__(400, "resource_in_use", "Resource in use", details, **extra)
        self.related = {"related_object_ids": ids, "related_object_type": kind}


def _in_use(ctx: Ctx, exc: InUse) -> Response:
    body = msgspec.to_builtins(
        error_body(exc.status, exc.key, exc.message, exc.details, ctx.rid, **exc.extra)
    )
    return Response(content=orjson.dumps({**body, **exc.related}), status_code=exc.status,
                    media_type=JSON)  # fmt: skip


@delete("/v1/rewards/{reward_id:str}", status_code=200, tags=["rewards"])
async def delete_reward(request: Request, reward_id: FromPath[str]) -> Response:
    """Delete a reward that no program offers (400 ``resource_in_use`` while assigned)."""
    ctx = await begin(request, "write")

    def cascade(st: State, rw: m.Reward) -> None:
        ids = [a.id for a in st.defs.reward_assignments if a.reward_id == rw.id]
        if ids:
            raise InUse(f"reward {rw.id} is assigned ({', '.join(ids[:10])}): delete its "
                        "assignments first", ids, ls.REWARD_ASSIGNMENT,
                        resource_id=rw.id, resource_type=ls.REWARD)  # fmt: skip

    try:
        await delete_one(ctx, REWARD, reward_id, cascade=cascade)
    except InUse as exc:
        return _in_use(ctx, exc)
    return no_content()


# =============================================================================== assignments


def _assign(
    st: State, body: dict[str, Any], assignment_id: str, reward_ref: Any, campaign_ref: Any
) -> tuple[m.RewardAssignment, m.Reward, m.Campaign]:
    """The new assignment of reward ``reward_ref`` in campaign ``campaign_ref`` (both 404 if
    absent): 400 if the campaign is no wallet program, 409 if the reward is offered there
    already, 400 ``missing_param`` if a loyalty program's non-COIN reward has no price."""
    if campaign_ref is None:
        raise ApiError(
            400, "missing_param", "Missing parameter", "Parameter 'campaign' is required"
        )
    if reward_ref is None:
        raise ApiError(400, "missing_param", "Missing parameter", "Parameter 'reward' is required")
    rw = REWARD.get(st, reward_ref)
    c = CAMPAIGN.get(st, campaign_ref)
    if c.campaign_type not in ls.WALLET_PROGRAMS:
        raise invalid(f"campaign {c.id} is {c.campaign_type}: rewards are assigned to loyalty "
                      "or referral programs - at `campaign`")  # fmt: skip
    for a in st.defs.reward_assignments:
        if a.reward_id == rw.id and a.campaign_id == c.id:
            raise ApiError(409, "duplicate_found", "Duplicated resource found",
                           f"Duplicated reward_assignment exists with id {a.id}",
                           resource_id=a.id, resource_type=ls.REWARD_ASSIGNMENT)  # fmt: skip
    d = ls.assignment_in(body, assignment_id, rw.id, c.id)
    lo = ls.loyalty_params(body)
    if rw.type == "COIN" and "points" in lo:
        raise invalid("a COIN reward has no price in points (its `points_ratio` prices it) - "
                      "at `parameters.loyalty.points`")  # fmt: skip
    if rw.type != "COIN" and c.campaign_type == "LOYALTY_PROGRAM" and "points" not in lo:
        raise ApiError(400, "missing_param", "Missing parameter",
                       "Parameter 'parameters.loyalty' is required")  # fmt: skip
    return shapes.convert(d, m.RewardAssignment, ls.REWARD_ASSIGNMENT), rw, c


def _assignment_edit(
    body: dict[str, Any],
) -> Callable[[State, Any, dict[str, Any]], dict[str, Any]]:
    return lambda st, a, d: ls.assignment_update(d, body)


@post("/v1/rewards/{reward_id:str}/assignments", tags=["rewards"])
async def create_reward_assignment(request: Request, reward_id: FromPath[str]) -> Response:
    """Offer the reward in a program (``campaign``: its id or name) at a price in points."""
    ctx = await begin(request, "write")
    body = await json_body(request)
    assignment_id = new_id("rewa_")

    def build(st: State) -> Found:
        a, rw, _ = _assign(st, body, assignment_id, reward_id, body.get("campaign"))
        return Found(a, st.defs.reward_assignments, rw)

    return await create_one(ctx, REWARD_ASSIGNMENT, build)


def _assignments_list(
    ctx: Ctx, st: State, items: list[m.RewardAssignment], key: str = "assignment_id"
) -> dict[str, Any]:
    aid = ctx.q(key) or ctx.q("assignment_id")
    if aid is not None:
        items = [a for a in items if a.id == aid]
    page = _paged(ctx, st, ls.REWARD_ASSIGNMENT, items)
    data = [ls.assignment_out(a, st.times(ls.REWARD_ASSIGNMENT, a.id)) for a in page]
    return _list(data, len(items))


@get("/v1/rewards/{reward_id:str}/assignments", tags=["rewards"])
async def list_reward_assignments(request: Request, reward_id: FromPath[str]) -> Response:
    ctx = await begin(request, "read")
    st = await ctx.repo.state()
    rw = REWARD.get(st, reward_id)
    return ok(
        _assignments_list(ctx, st, [a for a in st.defs.reward_assignments if a.reward_id == rw.id])
    )


@get("/v1/rewards/{reward_id:str}/assignments/{assignment_id:str}", tags=["rewards"])
async def get_reward_assignment(
    request: Request, reward_id: FromPath[str], assignment_id: FromPath[str]
) -> Response:
    ctx = await begin(request, "read")
    return await get_one(ctx, REWARD_ASSIGNMENT, assignment_id, parent_id=reward_id)


@put("/v1/rewards/{reward_id:str}/assignments/{assignment_id:str}", tags=["rewards"])
async def update_reward_assignment(
    request: Request, reward_id: FromPath[str], assignment_id: FromPath[str]
) -> Response:
    ctx = await begin(request, "write")
    body = await json_body(request)
    return await change_one(
        ctx, REWARD_ASSIGNMENT, assignment_id, "update", _assignment_edit(body), parent_id=reward_id
    )


def _unmap_assignment(st: State, a: m.RewardAssignment) -> None:
    ls.unmap(st, "rewards", a.id)


@delete(
    "/v1/rewards/{reward_id:str}/assignments/{assignment_id:str}",
    status_code=200,
    tags=["rewards"],
)
async def delete_reward_assignment(
    request: Request, reward_id: FromPath[str], assignment_id: FromPath[str]
) -> Response:
    """Stop offering the reward in that program (the tiers' prices of it go too)."""
    ctx = await begin(request, "write")
    await delete_one(
        ctx, REWARD_ASSIGNMENT, assignment_id, parent_id=reward_id, cascade=_unmap_assignment
    )
    return no_content()


# -- the same assignments, under their program ----------------------------------------------


@post("/v1/loyalties/{campaign_id:str}/rewards", tags=["loyalties"])
async def create_program_assignments(request: Request, campaign_id: FromPath[str]) -> Response:
    """Offer rewards in the program (an array of ``{reward, parameters.loyalty.points}``), all
    or none. One item is answered as one object (what the SDK reads), several as an array."""
    ctx = await begin(request, "write")
    items = await items_body(request)

    def build_for(item: dict[str, Any]) -> Callable[[State], Found]:
        assignment_id = new_id("rewa_")

        def build(st: State) -> Found:
            a, _, c = _assign(st, item, assignment_id, item.get("reward"), campaign_id)
            return Found(a, st.defs.reward_assignments, c)

        return build

    out = await create_many(ctx, PROGRAM_ASSIGNMENT, [build_for(x) for x in items])
    return ok(out[0] if len(out) == 1 else out)


def _program_assignments(st: State, campaign_id: str) -> list[m.RewardAssignment]:
    c = PROGRAM.get(st, campaign_id)
    return [a for a in st.defs.reward_assignments if a.campaign_id == c.id]


@get("/v1/loyalties/{campaign_id:str}/rewards", tags=["loyalties"])
async def list_program_rewards(request: Request, campaign_id: FromPath[str]) -> Response:
    ctx = await begin(request, "read")
    st = await ctx.repo.state()
    return ok(_assignments_list(ctx, st, _program_assignments(st, campaign_id)))


@get("/v1/loyalties/{campaign_id:str}/reward-assignments", tags=["loyalties"])
async def list_program_assignments(request: Request, campaign_id: FromPath[str]) -> Response:
    ctx = await begin(request, "read")
    st = await ctx.repo.state()
    return ok(_assignments_list(ctx, st, _program_assignments(st, campaign_id), "assignmentId"))


@get("/v1/loyalties/{campaign_id:str}/rewards/{assignment_id:str}", tags=["loyalties"])
async def get_program_reward(
    request: Request, campaign_id: FromPath[str], assignment_id: FromPath[str]
) -> Response:
    ctx = await begin(request, "read")
    return await get_one(ctx, PROGRAM_ASSIGNMENT, assignment_id, parent_id=campaign_id)


@get("/v1/loyalties/{campaign_id:str}/reward-assignments/{assignment_id:str}", tags=["loyalties"])
async def get_program_assignment(
    request: Request, campaign_id: FromPath[str], assignment_id: FromPath[str]
) -> Response:
    ctx = await begin(request, "read")
    return await get_one(ctx, PROGRAM_ASSIGNMENT, assignment_id, parent_id=campaign_id)


@get(
    "/v1/loyalties/{campaign_id:str}/reward-assignments/{assignment_id:str}/reward",
    tags=["loyalties"],
)
async def get_program_assignment_reward(
    request: Request, campaign_id: FromPath[str], assignment_id: FromPath[str]
) -> Response:
    """The reward an assignment of the program offers."""
    ctx = await begin(request, "read")
    st = await ctx.repo.state()
    a = PROGRAM_ASSIGNMENT.find(st, assignment_id, campaign_id).obj
    return ok(await REWARD.render(ctx, st, REWARD.find(st, a.reward_id)))


@put("/v1/loyalties/{campaign_id:str}/rewards/{assignment_id:str}", tags=["loyalties"])
async def update_program_reward(
    request: Request, campaign_id: FromPath[str], assignment_id: FromPath[str]
) -> Response:
    ctx = await begin(request, "write")
    body = await json_body(request)
    return await change_one(
        ctx,
        PROGRAM_ASSIGNMENT,
        assignment_id,
        "update",
        _assignment_edit(body),
        parent_id=campaign_id,
    )


@delete(
    "/v1/loyalties/{campaign_id:str}/rewards/{assignment_id:str}",
    status_code=200,
    tags=["loyalties"],
)
async def delete_program_reward(
    request: Request, campaign_id: FromPath[str], assignment_id: FromPath[str]
) -> Response:
    ctx = await begin(request, "write")
    await delete_one(
        ctx, PROGRAM_ASSIGNMENT, assignment_id, parent_id=campaign_id, cascade=_unmap_assignment
    )
    return no_content()


HANDLERS = [
    create_program, list_programs, get_program, update_program, delete_program,
    create_earning_rules, list_earning_rules, get_earning_rule, update_earning_rule,
    enable_earning_rule, disable_earning_rule, delete_earning_rule,
    create_tiers, list_tiers, get_tier, list_tier_earning_rules, list_tier_rewards,
    create_reward, list_rewards, get_reward, update_reward, delete_reward,
    create_reward_assignment, list_reward_assignments, get_reward_assignment,
    update_reward_assignment, delete_reward_assignment,
    create_program_assignments, list_program_rewards, list_program_assignments,
    get_program_reward, get_program_assignment, get_program_assignment_reward,
    update_program_reward, delete_program_reward,
]  # fmt: skip
