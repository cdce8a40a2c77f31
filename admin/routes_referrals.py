"""Referral code holders (VOUCHERIFY-LOYALTY.md §9, "Holders"), SDK class ``ReferralsApi``.

A referral code (``memberId``: the code, or its ``v_`` voucher id) has one **referrer**, the
customer it was published to (``POST /v1/publications``: the code record's ``customer_id``),
and any number of **referees**: customers added here, or by a conversion (store.referrals).
Referee rows are JSON ``RedeemableHolder`` objects in the Redis hash ``Pholders:<code>``
(field: the customer id), in the very format store.referrals writes; the referrer's row is not
stored but derived from the code's record, with an id made the same way
(``rh_`` + sha256(``<code>:<customer id>``)[:24]), so it is stable.

- ``GET .../holders``: the referrer's row and the referees', ordered by ``id`` (``-id``:
  reversed), ``limit`` 1-100, ``starting_after_id`` (a cursor: the rows after that id in that
  order), ``filters[id|customer_id|holder_role][conditions][$in|$not_in|$is|$is_not]`` (the
  SDK's literal ``None`` values and Python-repr lists understood, other filters ignored).
- ``POST .../holders``: ``{holders: [Customer], metadata}`` adds referees, all or nothing:
  every customer is validated and looked up, and every refusal judged (the code published to
  a referrer, no customer twice, none already a holder) before anything is written; then the
  customers are upserted (admin's ``upsert_customer``, audited as every upsert) and the rows
  written in one transaction with their audit entry (``voucher.holders.add``).
- ``DELETE .../holders/{holderId}``: removes one referee (audited ``voucher.holder.remove``);
  the referrer's assignment cannot be removed (403 ``forbidden``).
- Each referee added or removed gets a ``customer.holder.assignment.created`` / ``.deleted``
  entry in its activity (in the same transaction as the rows).

Each call has a campaign-scoped twin, ``/v1/referrals/{campaignId}/members/{memberId}/...``
(``campaignId``: the referral programme's id or name): 404 when the code is of another
campaign. A code that is not a referral programme's is a 404 ``not_found`` here.

Permissions: reads ``read``; adding or removing holders ``issue`` (as ``POST
/v1/publications``, which also assigns codes and upserts customers).

Known limit: customers are upserted one by one before the rows are written, so a request
refused by a race (another request adding the same customer in between: 409) may leave the
customers it upserted; no holder row is ever written for a refused request.
"""

from __future__ import annotations

import ast
import hashlib
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
import orjson
from litestar import Request, Response, delete, get, post
from litestar.params import FromPath
from msgspec import UNSET, Meta, Struct, UnsetType
from redis.exceptions import WatchError

from core import model as m
from core.model import IDENT_MAX
from store import codebook
from store.members import iso_ms
from store.openapi import Body, Op, Param, Reply

from . import audit
from .app import Ctx, begin, json_body, no_content, ok
from .audit import Change
from .errors import ApiError, invalid, not_found
from .openapi import CustomerIn, Limit
from .routes_defs import CAMPAIGN
from .routes_people import is_customer_id, load_customer, upsert_customer

#: holders added in one call at most (Voucherify: 1 to 100)
MAX_HOLDERS = 100
MAX_RETRIES = 50

_dec = msgspec.json.Decoder(m.Voucher)


def holder_id(code: str, customer_id: str) -> str:
    """A holder row's id: stable per (code, customer), as store.referrals makes it."""
    return "rh_" + hashlib.sha256(f"{code}:{customer_id}".encode()).hexdigest()[:24]


def holder_row(code: str, customer_id: str, role: str, campaign_id: str, created_at: str | None,
               metadata: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """A ``RedeemableHolder`` of a referral code (the format of ``Pholders:<code>`` values)."""
    return {"id": holder_id(code, customer_id), "created_at": created_at, "redeemable_id": code,
            "redeemable_object": "voucher", "customer_id": customer_id, "holder_role": role,
            "campaign_id": campaign_id, "campaign_type": "REFERRAL_PROGRAM",
            "voucher_type": "DISCOUNT_VOUCHER", "metadata": metadata or {},
            "object": "redeemable_holder"}  # fmt: skip


@dataclass(frozen=True)
class Code:
    """A referral code as these calls see it."""

    voucher: m.Voucher
    campaign: m.Campaign
    #: when the code was made (ms), when its record says
    created_ms: int | None
    #: its referrer's customer id (None: published to nobody) and the ids it may be known by
    referrer: str | None
    referrer_keys: frozenset[str]

    @property
    def code(self) -> str:
        return self.voucher.code

    def referrer_row(self) -> dict[str, Any] | None:
        if self.referrer is None:
            return None
        return holder_row(self.code, self.referrer, "REFERRER", self.campaign.id,
                          iso_ms(self.created_ms))  # fmt: skip


def _created(raw: bytes) -> int | None:
    try:
        c = orjson.loads(raw).get("created_at")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return c if isinstance(c, int) and not isinstance(c, bool) and c >= 0 else None


async def find_code(ctx: Ctx, ident: str, campaign_ref: str | None) -> Code:
    """The referral code ``ident`` (code or ``v_`` id), kept outside the definitions document
    (in its bucket) or in it; 404 when there is none, when it is not a referral programme's,
    or (campaign-scoped) when ``campaign_ref`` is unknown or not its campaign."""
    st = await ctx.repo.state()
    scope = CAMPAIGN.get(st, campaign_ref) if campaign_ref is not None else None
    raw = await codebook.read_one(ctx.r, ctx.k, ident)
    if raw is None and ident.startswith("v_"):
        code = await ctx.r.get(ctx.k.voucher_id(ident))
        if code is not None:
            raw = await codebook.read_one(ctx.r, ctx.k, code.decode())
    v: m.Voucher | None = None
    created: int | None = None
    if raw is not None:
        try:
            v = _dec.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            v = None
        created = _created(raw)
    else:
        v = st.voucher(ident)
        times = st.times("voucher", v.code) if v is not None else None
        created = times[0] if times else None
    camp = st.campaign(v.campaign_id) if v is not None and v.campaign_id else None
    if v is None or camp is None or camp.campaign_type != "REFERRAL_PROGRAM":
        raise not_found("voucher", ident)
    if scope is not None and scope.id != camp.id:
        raise not_found("campaign", campaign_ref or "")
    referrer, keys = None, frozenset()
    if v.customer_id:
        # the holder is the customer's id (join-once publications) or, for a code issued by a
        # plain publication, the key codes are counted against (source_id first): the id
        cust = await load_customer(ctx, v.customer_id)
        referrer = cust["id"] if cust is not None else v.customer_id
        keys = frozenset(k for k in (v.customer_id, referrer, (cust or {}).get("source_id")) if k)
    return Code(v, camp, created, referrer, keys)


async def _referees(ctx: Ctx, code: str) -> list[dict[str, Any]]:
    raw = await ctx.r.hgetall(ctx.k.holders(code))
    out = []
    for v in raw.values():
        try:
            row = orjson.loads(v)
        except orjson.JSONDecodeError:  # pragma: no cover - rows are written as JSON
            continue
        if isinstance(row, dict) and isinstance(row.get("id"), str):
            out.append(row)
    return out


# ------------------------------------------------------------------------------- query


def _q(ctx: Ctx, name: str) -> str | None:
    """A query parameter; empty or the SDK's literal ``None`` is absent."""
    v = ctx.request.query_params.get(name)
    return None if v in (None, "", "None") else v


def _limit(ctx: Ctx) -> int:
    v = _q(ctx, "limit")
    if v is None:
        return 10
    try:
        n = int(v)
    except ValueError:
        raise invalid(f"`limit` must be an integer, got {v!r:.80}") from None
    if not 1 <= n <= 100:
        raise invalid(f"`limit` must be between 1 and 100, got {n}")
    return n


_FILTER = re.compile(r"filters\[(id|customer_id|holder_role)\](?:\[conditions\])?\[(\$[a-z_]+)\]")
_OPS = ("$in", "$not_in", "$is", "$is_not")


def _values(raw: str) -> list[str]:
    """A filter value: a Python-repr or JSON list (what the SDK sends), else one value or a
    comma-separated list."""
    s = raw.strip()
    if s.startswith("[") and len(s) <= 10_000:
        try:
            got = ast.literal_eval(s)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            got = None
        if isinstance(got, (list, tuple)):
            return [str(x) for x in got if x is not None]
    return [x for x in (p.strip() for p in s.split(",")) if x]


def _filters(ctx: Ctx) -> list[tuple[str, str, list[str]]]:
    """(field, operator, values) of the ``filters[...]`` query keys this call understands."""
    out = []
    for key, raw in ctx.request.query_params.multi_items():
        found = _FILTER.fullmatch(key)
        if found is None or raw in ("", "None") or found.group(2) not in _OPS:
            continue
        out.append((found.group(1), found.group(2), _values(raw)))
    return out


def _keep(row: dict[str, Any], flt: list[tuple[str, str, list[str]]]) -> bool:
    for field, op, vals in flt:
        have = row.get(field)
        if op in ("$in", "$is") and have not in vals:
            return False
        if op in ("$not_in", "$is_not") and have in vals:
            return False
    return True


async def _list(request: Request, member_id: str, campaign_id: str | None) -> Response:
    ctx = await begin(request, "read")
    limit = _limit(ctx)
    order = _q(ctx, "order") or "id"
    if order not in ("id", "-id"):
        raise invalid("`order` is one of id, -id")
    after = _q(ctx, "starting_after_id")
    flt = _filters(ctx)
    rc = await find_code(ctx, member_id, campaign_id)
    rows = await _referees(ctx, rc.code)
    referrer = rc.referrer_row()
    if referrer is not None:
        rows = [r for r in rows if r["id"] != referrer["id"]] + [referrer]
    rows = sorted((r for r in rows if _keep(r, flt)), key=lambda r: r["id"], reverse=order == "-id")
    total = len(rows)
    if after is not None:
        rows = [r for r in rows if (r["id"] < after if order == "-id" else r["id"] > after)]
    page = rows[:limit]
    more = len(rows) > limit
    return ok({"object": "list", "data_ref": "data", "data": page, "total": total, "has_more": more,
               "more_starting_after": page[-1]["id"] if more and page else None})  # fmt: skip


# ------------------------------------------------------------------------------- add


def _activity(
    pipe: Any, ctx: Ctx, customer_id: str, row: dict[str, Any], kind: str, now: int
) -> None:
    """The referee's activity entry (``GET /v1/customers/{id}/activity``), in the stream's
    format (store/lua/wallet.lua ``xadd``)."""
    data = orjson.dumps({"redeemable_holder": row})
    pipe.xadd(ctx.k.customer_activity(customer_id),
              {"type": kind, "data": data, "at": str(now)}, maxlen=1000, approximate=True)  # fmt: skip


def _duplicate(customer: str, code: str) -> ApiError:
    return ApiError(409, "holder_assignement_duplication", "Holder assignment duplication",
                    f"Customer {customer} is already a holder of referral code {code}",
                    resource_id=customer, resource_type="customer")  # fmt: skip


def _check_customer(i: int, c: Any) -> dict[str, Any]:
    """One item of ``holders``, checked as ``upsert_customer`` would before it writes."""
    at = f"holders[{i}]"
    if not isinstance(c, dict):
        raise invalid(f"`{at}` must be a customer object")
    for f in ("metadata", "address"):
        if f in c and not isinstance(c[f], dict):
            raise invalid(f"`{at}.{f}` must be an object")
    src = c.get("source_id")
    if src is not None and (not isinstance(src, str) or not 0 < len(src) <= IDENT_MAX):
        raise invalid(
            f"`{at}.source_id` must be a non-empty string of at most {IDENT_MAX} characters"
        )
    if "id" in c and not is_customer_id(c["id"]):
        raise invalid(
            f"`{at}.id` must be a string of 1 to {IDENT_MAX} characters that does not start with `src:`"
        )
    if not c.get("id") and not src:
        raise invalid(f"`{at}` needs `id` or `source_id`")
    return c


async def _add(request: Request, member_id: str, campaign_id: str | None) -> Response:
    ctx = await begin(request, "issue")
    body = await json_body(request)
    holders = body.get("holders")
    if not isinstance(holders, list):
        raise invalid("`holders` must be an array of customers")
    if not holders:
        raise invalid("holders must NOT have fewer than 1 items")
    if len(holders) > MAX_HOLDERS:
        raise invalid(f"holders must NOT have more than {MAX_HOLDERS} items")
    md = body.get("metadata")
    if md is not None and not isinstance(md, dict):
        raise invalid("`metadata` must be an object")
    items = [_check_customer(i, c) for i, c in enumerate(holders)]
    rc = await find_code(ctx, member_id, campaign_id)
    if rc.referrer is None:
        msg = "Referral code must be first published to Referrer before assigning it to Referee"
        raise ApiError(400, "not_published", msg, msg, resource_id=rc.code, resource_type="voucher")
    # every customer looked up and every refusal judged before anything is written
    key = ctx.k.holders(rc.code)
    seen: set[str] = set()
    known: list[str] = []
    for c in items:
        src = c.get("source_id")
        cur = await load_customer(ctx, c.get("id") or src)
        if cur is None:
            if not src:
                raise not_found("customer", c["id"])
            if await ctx.r.get(ctx.k.customer_src(src)) is not None:  # taken by another id
                raise ApiError(409, "duplicate_found", "Duplicated resource found",
                               f"another customer has source_id {src}", resource_type="customer")  # fmt: skip
            mark = "src:" + src
        else:
            if (src and src != cur.get("source_id")
                    and await ctx.r.get(ctx.k.customer_src(src)) is not None):  # fmt: skip
                raise ApiError(409, "duplicate_found", "Duplicated resource found",
                               f"another customer has source_id {src}", resource_type="customer")  # fmt: skip
            if cur["id"] in rc.referrer_keys or cur.get("source_id") in rc.referrer_keys:
                raise _duplicate(cur["id"], rc.code)
            mark = cur["id"]
            known.append(cur["id"])
        if mark in seen:  # the same customer twice in one call
            raise _duplicate(cur["id"] if cur is not None else src or "", rc.code)
        seen.add(mark)
    if known:
        held = await ctx.r.hmget(key, known)
        for cid, h in zip(known, held, strict=True):
            if h is not None:
                raise _duplicate(cid, rc.code)
    # the writes: customers upserted, then every row in one transaction with its audit entry
    customers = [(await upsert_customer(ctx, c))[0] for c in items]
    ids = [c["id"] for c in customers]
    for _ in range(MAX_RETRIES):
        async with ctx.r.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key)
                held = await pipe.hmget(key, ids)
                for cid, h in zip(ids, held, strict=True):
                    if h is not None:  # added by a concurrent call meanwhile
                        raise _duplicate(cid, rc.code)
                now = ctx.now()
                rows = [
                    holder_row(rc.code, cid, "REFEREE", rc.campaign.id, iso_ms(now), md)
                    for cid in ids
                ]
                pipe.multi()
                pipe.hset(key, mapping={r["customer_id"]: orjson.dumps(r) for r in rows})
                for r in rows:
                    _activity(
                        pipe, ctx, r["customer_id"], r, "customer.holder.assignment.created", now
                    )
                audit.add(pipe, ctx.k.audit, ctx.actor,
                          Change(action="voucher.holders.add", object_type="voucher", object_id=rc.code,
                                 after={"holders": rows}), now, ctx.rid)  # fmt: skip
                await pipe.execute()
                return ok({"holders": rows})
            except WatchError:
                continue
    raise ApiError(409, "multiple_requests", "Too many concurrent changes", "Please retry")


# ------------------------------------------------------------------------------- remove


async def _remove(
    request: Request, member_id: str, holder: str, campaign_id: str | None
) -> Response:
    ctx = await begin(request, "issue")
    rc = await find_code(ctx, member_id, campaign_id)
    referrer = rc.referrer_row()
    if referrer is not None and holder == referrer["id"]:
        raise ApiError(403, "forbidden", "Forbidden", "You can not remove Referrer assignment")
    key = ctx.k.holders(rc.code)
    for _ in range(MAX_RETRIES):
        async with ctx.r.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key)
                found = None
                for field, raw in (await pipe.hgetall(key)).items():
                    try:
                        row = orjson.loads(raw)
                    except orjson.JSONDecodeError:  # pragma: no cover - rows are JSON
                        continue
                    if isinstance(row, dict) and row.get("id") == holder:
                        found = (field, row)
                        break
                if found is None:
                    raise not_found("redeemable_holder", holder)
                pipe.multi()
                pipe.hdel(key, found[0])
                _activity(pipe, ctx, found[0].decode(), found[1], "customer.holder.assignment.deleted",
                          ctx.now())  # fmt: skip
                audit.add(pipe, ctx.k.audit, ctx.actor,
                          Change(action="voucher.holder.remove", object_type="voucher", object_id=rc.code,
                                 before=found[1]), ctx.now(), ctx.rid)  # fmt: skip
                await pipe.execute()
                return no_content()
            except WatchError:
                continue
    raise ApiError(409, "multiple_requests", "Too many concurrent changes", "Please retry")


# ------------------------------------------------------------------------------- routes

_PLAIN = "/v1/referrals/members/{member_id:str}/holders"
_SCOPED = "/v1/referrals/{campaign_id:str}/members/{member_id:str}/holders"
_TAGS = ["referrals"]


@get(_PLAIN, summary="List a referral code's holders", tags=_TAGS)
async def list_holders(request: Request, member_id: FromPath[str]) -> Response:
    return await _list(request, member_id, None)


@get(_SCOPED, summary="List a referral code's holders (campaign-scoped)", tags=_TAGS)
async def list_holders_in(
    request: Request, campaign_id: FromPath[str], member_id: FromPath[str]
) -> Response:
    return await _list(request, member_id, campaign_id)


@post(_PLAIN, summary="Add referees to a referral code", tags=_TAGS, status_code=200)
async def add_holders(request: Request, member_id: FromPath[str]) -> Response:
    return await _add(request, member_id, None)


@post(
    _SCOPED,
    summary="Add referees to a referral code (campaign-scoped)",
    tags=_TAGS,
    status_code=200,
)
async def add_holders_in(
    request: Request, campaign_id: FromPath[str], member_id: FromPath[str]
) -> Response:
    return await _add(request, member_id, campaign_id)


@delete(_PLAIN + "/{holder_id:str}", summary="Remove a referee", tags=_TAGS, status_code=200)
async def remove_holder(
    request: Request, member_id: FromPath[str], holder_id: FromPath[str]
) -> Response:
    return await _remove(request, member_id, holder_id, None)


@delete(
    _SCOPED + "/{holder_id:str}",
    summary="Remove a referee (campaign-scoped)",
    tags=_TAGS,
    status_code=200,
)
async def remove_holder_in(request: Request, campaign_id: FromPath[str], member_id: FromPath[str],
                           holder_id: FromPath[str]) -> Response:  # fmt: skip
    return await _remove(request, member_id, holder_id, campaign_id)


HANDLERS = [
    list_holders,
    list_holders_in,
    add_holders,
    add_holders_in,
    remove_holder,
    remove_holder_in,
]


# ------------------------------------------------------------------------------- OpenAPI


class HoldersIn(Struct, kw_only=True, omit_defaults=True):
    """``referrals_add_holders`` (SDK ``ReferralsMembersHoldersCreateInBulkRequestBody``): the
    referees, each with ``id`` or ``source_id`` (an unknown ``source_id`` is created, a known
    customer updated), and the rows' ``metadata``."""

    holders: Annotated[list[CustomerIn], Meta(min_length=1, max_length=MAX_HOLDERS)]
    metadata: dict[str, Any] | UnsetType = UNSET


class RedeemableHolderOut(Struct, kw_only=True):
    id: str
    created_at: str | None
    redeemable_id: str
    redeemable_object: Literal["voucher"]
    customer_id: str
    holder_role: Literal["REFERRER", "REFEREE"]
    campaign_id: str
    campaign_type: Literal["REFERRAL_PROGRAM"]
    voucher_type: Literal["DISCOUNT_VOUCHER"]
    metadata: dict[str, Any]
    object: Literal["redeemable_holder"]


class RedeemableHolderList(Struct, kw_only=True):
    object: Literal["list"]
    data_ref: Literal["data"]
    data: list[RedeemableHolderOut]
    total: int
    has_more: bool
    more_starting_after: str | None


class HoldersOut(Struct, kw_only=True):
    holders: list[RedeemableHolderOut]


_ERR = (400, 401, 403, 404, 409, 503)
_LIST = Op(
    params=(
        Param("limit", Limit, "1-100 (default 10)"),
        Param("order", Literal["id", "-id"], "By holder id (default `id`)"),
        Param("starting_after_id", str, "Resume after this holder id"),
        Param(
            "filters",
            str,
            "`filters[id|customer_id|holder_role][conditions][$in|$not_in|$is|$is_not]`; "
            "other filters are ignored",
        ),
    ),
    replies={200: Reply("The code's referrer and referees", RedeemableHolderList)},
    errors=(400, 401, 403, 404, 503),
)
_ADD = Op(
    bodies=(Body(HoldersIn),), replies={200: Reply("The referees added", HoldersOut)}, errors=_ERR
)
_REMOVE = Op(replies={204: Reply("The referee removed")}, errors=_ERR)

OPERATIONS: dict[tuple[str, str], Op] = {
    ("GET", "/v1/referrals/members/{member_id}/holders"): _LIST,
    ("GET", "/v1/referrals/{campaign_id}/members/{member_id}/holders"): _LIST,
    ("POST", "/v1/referrals/members/{member_id}/holders"): _ADD,
    ("POST", "/v1/referrals/{campaign_id}/members/{member_id}/holders"): _ADD,
    ("DELETE", "/v1/referrals/members/{member_id}/holders/{holder_id}"): _REMOVE,
    ("DELETE", "/v1/referrals/{campaign_id}/members/{member_id}/holders/{holder_id}"): _REMOVE,
}
