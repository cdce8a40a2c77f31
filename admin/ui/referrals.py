"""Referral programmes: each programme's referrers (the holders of its referral codes) with
their referees, the referrals counted at checkout, the conversions paid and the referral tiers
reached, read live from the counters the gateway and the conversions keep (store.referrals)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, Response, get
from litestar.params import FromPath

from core import model as m
from store.referrals import conversions_key, referrer_key

from ..app import Ctx
from ..errors import not_found
from ..routes_members import _loyalty
from .base import MAX_FIELD, PAGE_SIZE, _enter, _int, _page


def _programs(st: Any) -> list[m.Campaign]:
    return [c for c in st.defs.campaigns if c.campaign_type == "REFERRAL_PROGRAM"]


@get("/referrals", include_in_schema=False)
async def referral_programs(request: Request) -> Response:
    """Every referral programme with its referrer count (referral codes published)."""
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    st = await ctx.repo.state()
    rows = [(c, int(await ctx.r.llen(ctx.k.list_codes(c.id)))) for c in _programs(st)]
    return _page("referrals.html", ctx, signed, rows=rows)


def _reached(camp: m.Campaign, conversions: int) -> list[str]:
    tiers = camp.referral_program.referral_tiers if camp.referral_program else None
    return [t.name or t.id or "" for t in tiers or () if conversions >= t.min_referees]


async def _referrers(ctx: Ctx, camp: m.Campaign, codes: list[str]) -> list[dict[str, Any]]:
    """One row per referral code: its holder, referees, referrals counted, conversions paid."""
    found = await _loyalty(ctx).members.cards(codes)
    rows = []
    for code, f in zip(codes, found, strict=True):
        holder = f[0].customer_id if f is not None else None
        counted = conv = 0
        if holder:
            raw = await ctx.r.mget([ctx.k.counter(referrer_key(camp.id, holder)),
                                    ctx.k.counter(conversions_key(camp.id, holder))])  # fmt: skip
            counted, conv = (int(x or 0) for x in raw)
        rows.append({"code": code, "holder": holder, "referees": int(await ctx.r.hlen(ctx.k.holders(code))),
                     "counted": counted, "conversions": conv, "tiers": _reached(camp, conv)})  # fmt: skip
    return rows


@get("/referrals/{campaign_id:str}", include_in_schema=False)
async def referral_program(request: Request, campaign_id: FromPath[str]) -> Response:
    """A referral programme: its rules and its referrers (``page``), newest codes last."""
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    st = await ctx.repo.state()
    camp = st.campaign(campaign_id[:MAX_FIELD])
    if camp is None or camp.campaign_type != "REFERRAL_PROGRAM":
        raise not_found("campaign", campaign_id[:MAX_FIELD])
    total = int(await ctx.r.llen(ctx.k.list_codes(camp.id)))
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(_int(request.query_params.get("page"), 1, 1, 1_000_000), pages)
    start = (page - 1) * PAGE_SIZE
    codes = [
        c.decode()
        for c in await ctx.r.lrange(ctx.k.list_codes(camp.id), start, start + PAGE_SIZE - 1)
    ]
    base = "/referrals/" + quote(camp.id, safe="")
    return _page("referral_program.html", ctx, signed, camp=camp, rp=camp.referral_program,
                 rows=await _referrers(ctx, camp, codes), total=total, page=page, pages=pages,
                 prev_link=f"{base}?page={page - 1}" if page > 1 else None,
                 next_link=f"{base}?page={page + 1}" if page < pages else None)  # fmt: skip


HANDLERS = [referral_programs, referral_program]
