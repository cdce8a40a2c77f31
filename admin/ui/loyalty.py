"""Loyalty programmes, their members and cards (points history, manual adjustment with a
required reason), and the rewards catalogue with its live stock.

A card code is a bearer value: it never goes into a URL. A card page is addressed by its
voucher id (``v_...``, what the API's member reads also accept); a card is found by its code
or by its holder through a POST form. Every figure is read live, through the same store calls
as the API's member reads; the adjustment goes through the API's own balance route (its role
check ``issue``, its audit entry ``loyalty_card.balance``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from core import model as m

from ..app import Ctx, route_answer
from ..auth import can
from ..errors import ApiError
from ..routes_loyalty import _redeemed
from ..routes_members import _catalog, _loyalty, members_at, update_balance
from ..routes_people import load_customer
from .base import (
    MAX_FIELD,
    PAGE_SIZE,
    SECURITY_HEADERS,
    Signed,
    _enter,
    _int,
    _page,
    _posted,
)

#: the largest adjustment the form takes (the API's own bound is 10**12)
MAX_POINTS = 10**9


#: members per page of a programme (a cursor: any position of a million-member list, one LRANGE)
MEMBERS_PAGE = 20


def _programs(st: Any) -> list[m.Campaign]:
    return [c for c in st.defs.campaigns if c.campaign_type == "LOYALTY_PROGRAM"]


def _tier_names(st: Any, campaign_id: str) -> dict[str, str]:
    return {t.id: t.name or t.id for t in st.defs.loyalty_tiers if t.campaign_id == campaign_id}


# ------------------------------------------------------------------------------- programmes


@get("/loyalty", include_in_schema=False)
async def programs(request: Request) -> Response:
    """Every loyalty programme with its member count (cards published), earning rules, tiers
    and rewards offered."""
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    st = await ctx.repo.state()
    rows = []
    for c in _programs(st):
        rows.append({
            "c": c,
            "members": int(await ctx.r.llen(ctx.k.list_codes(c.id))),
            "rules": sum(1 for e in st.defs.earning_rules if e.campaign_id == c.id),
            "tiers": sum(1 for t in st.defs.loyalty_tiers if t.campaign_id == c.id),
            "rewards": sum(1 for a in st.defs.reward_assignments if a.campaign_id == c.id),
        })  # fmt: skip
    return _page("loyalty.html", ctx, signed, rows=rows)


def _reward_rows(st: Any, assignments: list[m.RewardAssignment]) -> list[dict[str, Any]]:
    rewards = {r.id: r for r in st.defs.rewards}
    return [{"a": a, "r": rewards.get(a.reward_id)} for a in assignments]


async def _program_page(
    request: Request, ctx: Ctx, signed: Signed, campaign_id: str, http_status: int = 200,
    find_error: str | None = None, q: str = "",
) -> Template:  # fmt: skip
    cat = await _catalog(ctx)
    camp = cat.program(campaign_id)  # 404 unless a loyalty programme
    st = await ctx.repo.state()
    pos = _int(request.query_params.get("after"), 0, 0, 10**12)
    cards, total = await members_at(ctx, camp, pos, MEMBERS_PAGE)
    names = _tier_names(st, camp.id)
    lo = _loyalty(ctx)
    members = []
    for card in cards:
        tier = await lo.tier_of(cat, camp.id, card["loyalty_card"]["points"])
        members.append({"card": card, "tier": names.get(tier, tier) if tier else None})
    base = "/loyalty/" + quote(camp.id, safe="")
    more = pos + MEMBERS_PAGE < total
    return _page("loyalty_program.html", ctx, signed, http_status, camp=camp, members=members,
                 total=total, pos=pos, base=base, q=q, find_error=find_error,
                 rules=[e for e in st.defs.earning_rules if e.campaign_id == camp.id],
                 tiers=sorted((t for t in st.defs.loyalty_tiers if t.campaign_id == camp.id),
                              key=lambda t: t.points.from_),
                 rewards=_reward_rows(st, [a for a in st.defs.reward_assignments
                                           if a.campaign_id == camp.id]),
                 prev_link=(f"{base}?after={max(0, pos - MEMBERS_PAGE)}" if pos > MEMBERS_PAGE else base)
                 if pos > 0 else None,
                 next_link=f"{base}?after={pos + MEMBERS_PAGE}" if more else None)  # fmt: skip


@get("/loyalty/{campaign_id:str}", include_in_schema=False)
async def program(request: Request, campaign_id: FromPath[str]) -> Response:
    """A programme: earning rules, tiers, rewards offered, and its members with their live
    balances and tiers (``page``), and the find-a-member form."""
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    return await _program_page(request, ctx, signed, campaign_id[:MAX_FIELD])


async def _find_card(ctx: Ctx, camp: m.Campaign, q: str) -> tuple[m.Voucher, int] | None:
    """The card of programme ``camp`` whose code or voucher id is ``q``, else the one its
    holder ``q`` (a customer id or source_id) holds."""
    lo = _loyalty(ctx)
    found = await lo.members.card(q)
    if found is None:
        cust = await load_customer(ctx, q)
        code = await ctx.r.get(ctx.k.card_holder(camp.id, cust["id"])) if cust else None
        found = await lo.members.card(code.decode()) if code else None
    if found is None or found[0].campaign_id != camp.id:
        return None
    return found


@post("/loyalty/{campaign_id:str}/find", include_in_schema=False, status_code=200)
async def find_member(request: Request, campaign_id: FromPath[str]) -> Response:
    """Find a member by card code or customer (id or source_id): the code travels in the
    body, and the card page it opens is addressed by the card's voucher id."""
    got = await _posted(request)
    if isinstance(got, Response):
        return got
    ctx, signed, form = got
    camp = (await _catalog(ctx)).program(campaign_id[:MAX_FIELD])
    q = form.get("q", "").strip()[:MAX_FIELD]
    found = await _find_card(ctx, camp, q) if q else None
    if found is None:
        error = (f"No card of {camp.name} has this code or holder." if q
                 else "Type a card code or a customer id.")  # fmt: skip
        return await _program_page(request, ctx, signed, camp.id, 404 if q else 400, error, q)
    v = found[0]
    if v.id:
        return Redirect("/loyalty/members/" + quote(v.id, safe=""), status_code=303,
                        headers=SECURITY_HEADERS)  # fmt: skip
    return await _member_page(request, ctx, signed, v.code)


# ------------------------------------------------------------------------------- a card


def _card_ident(member_id: str) -> str:
    """A card page's path names the card by its voucher id, never by its code."""
    if not member_id.startswith("v_"):
        raise ApiError(404, "not_found", "Resource not found",
                       "A card page is addressed by the card's voucher id (v_...): find a card "
                       "by its code with the programme's search form")  # fmt: skip
    return member_id[:MAX_FIELD]


async def _member_page(
    request: Request, ctx: Ctx, signed: Signed, ident: str, http_status: int = 200,
    **extra: Any,
) -> Template:  # fmt: skip
    """The card page: live figures, tier, pending points, expiring buckets and the points
    history, newest first (``starting_after_id``)."""
    lo, cat = _loyalty(ctx), await _catalog(ctx)
    now = ctx.now()
    card = await lo.member(cat, ident, now)
    camp = cat.program(card["campaign_id"])
    after = (request.query_params.get("starting_after_id") or "")[:MAX_FIELD] or None
    if request.method != "GET":
        after = None
    history = await lo.transactions(cat, ident, now, limit=PAGE_SIZE, starting_after=after)
    pending = await lo.pending(cat, ident, now, limit=PAGE_SIZE)
    expiring = await lo.expirations(cat, camp.id, ident, now, limit=PAGE_SIZE)
    tier = await lo.tier_of(cat, camp.id, card["loyalty_card"]["points"])
    st = await ctx.repo.state()
    base = "/loyalty/members/" + quote(card["id"], safe="") if card["id"].startswith("v_") else None
    more = history["more_starting_after"]
    return _page("member.html", ctx, signed, http_status, card=card, camp=camp,
                 tier=_tier_names(st, camp.id).get(tier, tier) if tier else None,
                 history=history["data"], pending=pending["data"], expiring=expiring["data"],
                 may_adjust=can(signed.actor, "issue"), base=base,
                 next_link=f"{base}?starting_after_id={quote(more)}" if more and base else None,
                 first_link=base if after and base else None, **extra)  # fmt: skip


@get("/loyalty/members/{member_id:str}", include_in_schema=False)
async def member(request: Request, member_id: FromPath[str]) -> Response:
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    return await _member_page(request, ctx, signed, _card_ident(member_id))


def _adjustment(form: dict[str, str]) -> tuple[int | None, str, dict[str, str]]:
    """The form's points and reason, and the errors by field (nothing is sent with any)."""
    errors: dict[str, str] = {}
    text = form.get("points", "").strip().replace(" ", "").replace(",", "")
    try:
        points: int | None = int(text)
    except ValueError:
        points = None
    if points is None or points == 0 or abs(points) > MAX_POINTS:
        errors["points"] = (
            f"A whole number of points, not 0, between -{MAX_POINTS:,} and {MAX_POINTS:,}."
        )
    reason = form.get("reason", "").strip()[:1000]
    if not reason:
        errors["reason"] = "Say why the balance changes: a reason is required (it is audited)."
    return points, reason, errors


@post("/loyalty/members/{member_id:str}/balance", include_in_schema=False, status_code=200)
async def adjust(request: Request, member_id: FromPath[str]) -> Response:
    """Add or remove points with a required reason, through the API's own balance route (its
    role check ``issue``, its audit entry); a refusal is shown next to the field it names."""
    got = await _posted(request)
    if isinstance(got, Response):
        return got
    ctx, signed, form = got
    ident = _card_ident(member_id)
    points, reason, errors = _adjustment(form)
    values = {"points": form.get("points", "")[:40], "reason": form.get("reason", "")[:1000]}
    if errors:
        return await _member_page(request, ctx, signed, ident, 400, errors=errors, values=values)
    try:
        out = await route_answer(request, update_balance, {"points": points, "reason": reason},
                               member_id=ident)  # fmt: skip
    except ApiError as exc:
        if exc.status in (401, 403):
            raise
        field = "reason" if "reason" in exc.details else "points"
        return await _member_page(request, ctx, signed, ident, exc.status,
                                  errors={field: exc.details}, values=values)  # fmt: skip
    verb = "added" if points and points > 0 else "removed"
    notice = f"{abs(points or 0):,} points {verb} (audited); the balance is {out['balance']:,} now."
    return await _member_page(request, ctx, signed, ident, notice=notice)


# ------------------------------------------------------------------------------- rewards


@get("/rewards", include_in_schema=False)
async def rewards(request: Request) -> Response:
    """The rewards catalogue: type, price in points per programme it is offered in, and the
    live stock (units left = stock - redeemed, the gateway's counter)."""
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    st = await ctx.repo.state()
    redeemed = await _redeemed(ctx, [r.id for r in st.defs.rewards])
    rows = []
    for r in st.defs.rewards:
        offers = [(a, st.campaign(a.campaign_id)) for a in st.defs.reward_assignments
                  if a.reward_id == r.id]  # fmt: skip
        n = redeemed.get(r.id, 0)
        rows.append({"r": r, "redeemed": n, "offers": offers,
                     "left": None if r.stock is None else max(0, r.stock - n)})  # fmt: skip
    return _page("rewards.html", ctx, signed, rows=rows)


HANDLERS = [programs, program, find_member, member, adjust, rewards]
