"""Customers (upsert by ``source_id``, metadata, segments) and publications (issuing a code of
an existing campaign to a customer).

A customer is JSON at ``Pcustomer:<id>`` (Voucherify's shape plus ``segments``: the ids of the
static segments it belongs to), with ``Pcustomer:src:<source_id>`` pointing at the id.

Segments are JSON at ``Psegment:<id>`` (``Psegments``: ids by creation time), of two kinds:
``static`` (a list of customers, each of whom names the segment in its ``segments``) and
dynamic, ``auto-update`` or ``passive`` (a ``filter`` over the customer's attributes and live
metrics, compiled by ``core.segments`` when created, so a filter core refuses is a 400 naming the
field and nothing is stored). Who is in a dynamic segment is judged when asked (a customer's
segments here, ``customer.segment`` rules at the gateway), never stored: membership follows the
orders and the clock without a job. Creating or deleting a segment publishes ``segments`` on
the definitions channel, so that gateways drop their cached segment definitions at once.
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

import orjson
from litestar import Request, Response, delete, get, post, put
from litestar.params import FromPath
from redis.exceptions import WatchError

from core.errors import CompileError
from core.model import IDENT_MAX
from core.segments import compile_filter, matching, needs_points

from . import audit
from .app import Ctx, begin, json_body, no_content, ok
from .audit import Change
from .errors import ApiError, from_compile, invalid, not_found
from .routes_defs import CAMPAIGN, issue_code, voucher_view
from .routes_members import _loyalty, live_customer, publish_once, segment_entered
from .shapes import iso

log = logging.getLogger("promogate.admin")

_FIELDS = ("name", "description", "email", "phone", "birthdate", "birthday", "address", "metadata")


def customer_key(c: dict[str, Any]) -> str:
    """The identity limits and codes are counted against: ``source_id`` first, as core."""
    return c.get("source_id") or c["id"]


def customer_out(c: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in c.items() if k not in ("created_at", "updated_at", "segments")}
    out["object"] = "customer"
    out["created_at"] = iso(c.get("created_at"))
    out["updated_at"] = iso(c.get("updated_at"))
    out["segments"] = c.get("segments") or []
    out.setdefault("metadata", {})
    return out


def is_customer_id(ident: Any) -> bool:
    """Could ``ident`` be a customer id? ``Pcustomer:src:<source_id>`` keys share the
    ``Pcustomer:`` namespace, so an id never starts with ``src:`` (such an ident is a source_id)."""
    return isinstance(ident, str) and 0 < len(ident) <= IDENT_MAX and not ident.startswith("src:")


async def load_customer(ctx: Ctx, ident: str) -> dict[str, Any] | None:
    if not isinstance(ident, str) or not ident:
        return None
    raw = await ctx.r.get(ctx.k.customer(ident)) if is_customer_id(ident) else None
    if raw is None:
        cid = await ctx.r.get(ctx.k.customer_src(ident))
        if cid is None:
            return None
        raw = await ctx.r.get(ctx.k.customer(cid.decode()))
        if raw is None:
            return None
    return orjson.loads(raw)


async def upsert_customer(
    ctx: Ctx, body: dict[str, Any], ident: str | None = None, create: bool = True
) -> tuple[dict[str, Any], bool]:
    """Create or update a customer (by ``ident``, else ``source_id`` / ``id`` of the body).

    Returns (customer, created). WATCHes the keys it reads, so concurrent upserts of one
    ``source_id`` make one customer.
    """
    for f in ("metadata", "address"):
        if f in body and not isinstance(body[f], dict):
            raise invalid(f"`customer.{f}` must be an object")
    src = body.get("source_id")
    if src is not None and (not isinstance(src, str) or not 0 < len(src) <= IDENT_MAX):
        raise invalid(f"`source_id` must be a non-empty string of at most {IDENT_MAX} characters")
    if "id" in body and not is_customer_id(body["id"]):
        raise invalid(f"`id` must be a string of 1 to {IDENT_MAX} characters that does not start with `src:`")
    for _ in range(50):
        async with ctx.r.pipeline(transaction=True) as pipe:
            try:
                look = ident or body.get("id") or src
                watch = [ctx.k.customer_src(src)] if src else []
                if look:
                    if is_customer_id(look):
                        watch.append(ctx.k.customer(look))
                    watch.append(ctx.k.customer_src(look))
                if watch:
                    await pipe.watch(*watch)
                cur = None
                if look:
                    raw = await pipe.get(ctx.k.customer(look)) if is_customer_id(look) else None
                    if raw is None:
                        cid = await pipe.get(ctx.k.customer_src(look))
                        if cid is not None:
                            await pipe.watch(ctx.k.customer(cid.decode()))
                            raw = await pipe.get(ctx.k.customer(cid.decode()))
                    cur = orjson.loads(raw) if raw else None
                if cur is None and ident is not None and not create:
                    raise not_found("customer", ident)
                now = ctx.now()
                if cur is None and src and await pipe.get(ctx.k.customer_src(src)) is not None:
                    raise ApiError(409, "duplicate_found", "Duplicated resource found",
                                   f"another customer has source_id {src}", resource_type="customer")  # fmt: skip
                if cur is None:
                    new = {
                        "id": body.get("id") or "cust_" + secrets.token_hex(12),
                        "created_at": now,
                        "segments": [],
                    }
                    if src:
                        new["source_id"] = src
                    created = True
                else:
                    new = dict(cur)
                    created = False
                    if src and src != cur.get("source_id"):
                        if await pipe.get(ctx.k.customer_src(src)) is not None:
                            raise ApiError(409, "duplicate_found", "Duplicated resource found",
                                           f"another customer has source_id {src}", resource_type="customer")  # fmt: skip
                        new["source_id"] = src
                for f in _FIELDS:
                    if f in body:
                        if f == "metadata":
                            new["metadata"] = {**(new.get("metadata") or {}), **body["metadata"]}
                        else:
                            new[f] = body[f]
                new["updated_at"] = now
                pipe.multi()
                pipe.set(ctx.k.customer(new["id"]), orjson.dumps(new))
                if new.get("source_id"):
                    pipe.set(ctx.k.customer_src(new["source_id"]), new["id"])
                if (
                    cur is not None
                    and cur.get("source_id")
                    and cur.get("source_id") != new.get("source_id")
                ):
                    pipe.delete(ctx.k.customer_src(cur["source_id"]))
                if created:
                    pipe.zadd(ctx.k.customers, {new["id"]: now})
                audit.add(pipe, ctx.k.audit, ctx.actor,
                          Change(action="customer.create" if created else "customer.update", object_type="customer",
                                 object_id=new["id"], before=cur, after=new), now, ctx.rid)  # fmt: skip
                await pipe.execute()
                return new, created
            except WatchError:
                continue
    raise ApiError(409, "multiple_requests", "Too many concurrent changes", "Please retry")


@post("/v1/customers", tags=["customers"])
async def create_customer(request: Request) -> Response:
    """Upsert: a known ``source_id`` updates that customer."""
    ctx = await begin(request, "write")
    body = await json_body(request)
    c, _ = await upsert_customer(ctx, body)
    return ok(customer_out(c))


@get("/v1/customers", tags=["customers"])
async def list_customers(request: Request) -> Response:
    ctx = await begin(request, "read")
    limit = ctx.qint("limit", 10)
    page = ctx.qint("page", 1, hi=1_000_000)
    desc = (ctx.q("order") or "-created_at").startswith("-")
    total = int(await ctx.r.zcard(ctx.k.customers))
    start = (page - 1) * limit
    ids = await (ctx.r.zrevrange if desc else ctx.r.zrange)(
        ctx.k.customers, start, start + limit - 1
    )
    raws = await ctx.r.mget([ctx.k.customer(i.decode()) for i in ids]) if ids else []
    data = [customer_out(orjson.loads(r)) for r in raws if r]
    return ok({"object": "list", "data_ref": "customers", "customers": data, "total": total,
               "has_more": start + limit < total})  # fmt: skip


@get("/v1/customers/{customer_id:str}", tags=["customers"])
async def get_customer(request: Request, customer_id: FromPath[str]) -> Response:
    ctx = await begin(request, "read")
    c = await load_customer(ctx, customer_id)
    if c is None:
        raise not_found("customer", customer_id)
    return ok({**customer_out(c), **await live_customer(ctx, c)})


@put("/v1/customers/{customer_id:str}", tags=["customers"])
async def update_customer(request: Request, customer_id: FromPath[str]) -> Response:
    ctx = await begin(request, "write")
    body = await json_body(request)
    body.pop("id", None)
    c, _ = await upsert_customer(ctx, body, ident=customer_id, create=False)
    return ok(customer_out(c))


@delete("/v1/customers/{customer_id:str}", status_code=200, tags=["customers"])
async def delete_customer(request: Request, customer_id: FromPath[str]) -> Response:
    ctx = await begin(request, "write")
    c = await load_customer(ctx, customer_id)
    if c is None:
        raise not_found("customer", customer_id)

    def extra(pipe: Any) -> None:
        pipe.delete(ctx.k.customer(c["id"]))
        if c.get("source_id"):
            pipe.delete(ctx.k.customer_src(c["source_id"]))
        pipe.zrem(ctx.k.customers, c["id"])

    await ctx.repo.record(
        ctx.actor,
        ctx.rid,
        [Change(action="customer.delete", object_type="customer", object_id=c["id"], before=c)],
        extra,
    )
    return no_content()


# ------------------------------------------------------------------------------ segments


def segment_out(s: dict[str, Any]) -> dict[str, Any]:
    out = dict(s)
    out["object"] = "segment"
    out["created_at"] = iso(s.get("created_at"))
    return out


async def _set_segment(ctx: Ctx, customer: str, segment_id: str, member: bool) -> str:
    """Add or remove a segment on one customer (WATCHed read-modify-write); returns its id."""
    for _ in range(50):
        c = await load_customer(ctx, customer)
        if c is None:
            raise not_found("customer", customer)
        key = ctx.k.customer(c["id"])
        async with ctx.r.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key)
                raw = await pipe.get(key)
                if raw is None:
                    continue
                cur = orjson.loads(raw)
                segs = [x for x in cur.get("segments") or [] if x != segment_id]
                if member:
                    segs.append(segment_id)
                cur["segments"] = segs
                pipe.multi()
                pipe.set(key, orjson.dumps(cur))
                await pipe.execute()
                return cur["id"]
            except WatchError:
                continue
    raise ApiError(409, "multiple_requests", "Too many concurrent changes", "Please retry")


#: segment types whose members a filter decides (Voucherify's ``auto-update`` and ``passive``;
#: promogate sends no segment events, so both behave alike)
DYNAMIC = ("auto-update", "passive")
#: what every change of a segment publishes on the definitions channel (gateway.live drops its
#: cached segments)
SEGMENTS_NOTICE = "segments"


@post("/v1/segments", tags=["customers"])
async def create_segment(request: Request) -> Response:
    """A static segment ``{name, type: "static", customers: [id or source_id, ...]}``, or a
    dynamic one ``{name, type: "auto-update" | "passive", filter: {...}}`` (the filter language
    is ``core.segments``'; a filter it refuses is a 400 naming the field, nothing stored)."""
    ctx = await begin(request, "write")
    body = await json_body(request)
    kind = body.get("type")
    if kind is None:
        kind = "static"
    if kind not in ("static", *DYNAMIC):
        raise invalid("`type` is static, auto-update or passive - at `segment.type`")
    if not body.get("name") or not isinstance(body["name"], str):
        raise invalid("a segment needs a `name` (a string)")
    sid = body.get("id")  # a client's own id (so earning rules can name it before it exists)
    if sid is None:
        sid = "seg_" + secrets.token_hex(12)
    elif not isinstance(sid, str) or not re.fullmatch(r"[A-Za-z0-9_\-]{1,100}", sid):
        raise invalid("a segment `id` is 1-100 letters, digits, `_` or `-` - at `segment.id`")
    elif await ctx.r.exists(ctx.k.segment(sid)):
        raise ApiError(409, "duplicate_found", "Duplicated resource found", f"A segment with id {sid} already exists",
                       resource_id=sid, resource_type="segment")  # fmt: skip
    now = ctx.now()
    if kind in DYNAMIC:
        if body.get("customers") is not None:
            raise invalid("a dynamic segment has no `customers`: its `filter` decides who is in "
                          "it - at `segment.customers`")  # fmt: skip
        if body.get("filter") is None:
            raise invalid(f"an {kind} segment needs a `filter` - at `segment.filter`")
        try:
            compile_filter(body["filter"], "segment.filter")
        except CompileError as exc:
            raise from_compile(exc) from None
        seg = {"id": sid, "name": body["name"], "type": kind, "filter": body["filter"],
               "created_at": now, "initial_sync_status": "DONE"}  # fmt: skip
    else:
        if body.get("filter") is not None:
            raise invalid("a static segment lists its `customers`; a `filter` is for an "
                          "auto-update segment - at `segment.filter`")  # fmt: skip
        members = body.get("customers") or []
        if not isinstance(members, list) or not all(isinstance(x, str) for x in members):
            raise invalid("`customers` must be a list of customer ids or source_ids")
        for x in members:
            if await load_customer(ctx, x) is None:
                raise not_found("customer", x)
        ids = [await _set_segment(ctx, x, sid, True) for x in members]
        for cid in ids:  # each member has entered the segment: its earning rules run (once)
            await segment_entered(ctx, cid, sid)
        seg = {
            "id": sid,
            "name": body["name"],
            "type": "static",
            "customers": ids,
            "created_at": now,
        }

    def extra(pipe: Any) -> None:
        pipe.set(ctx.k.segment(sid), orjson.dumps(seg))
        pipe.zadd(ctx.k.segments, {sid: now})
        pipe.publish(ctx.k.channel, SEGMENTS_NOTICE)

    await ctx.repo.record(
        ctx.actor,
        ctx.rid,
        [Change(action="segment.create", object_type="segment", object_id=sid, after=seg)],
        extra,
    )
    return ok(segment_out(seg))


@get("/v1/segments", tags=["customers"])
async def list_segments(request: Request) -> Response:
    """Every segment, static and dynamic, newest first (``limit``, ``page``)."""
    ctx = await begin(request, "read")
    limit = ctx.qint("limit", 10)
    page = ctx.qint("page", 1, hi=100_000)
    total = int(await ctx.r.zcard(ctx.k.segments))
    start = (page - 1) * limit
    ids = await ctx.r.zrevrange(ctx.k.segments, start, start + limit - 1)
    raws = await ctx.r.mget([ctx.k.segment(i.decode()) for i in ids]) if ids else []
    data = [segment_out(orjson.loads(r)) for r in raws if r]
    return ok({"object": "list", "data_ref": "data", "data": data, "total": total,
               "has_more": start + limit < total})  # fmt: skip


async def dynamic_segments(ctx: Ctx) -> list[dict[str, Any]]:
    """Every stored dynamic segment (one ZRANGE and one MGET)."""
    ids = await ctx.r.zrange(ctx.k.segments, 0, -1)
    raws = await ctx.r.mget([ctx.k.segment(i.decode()) for i in ids]) if ids else []
    segs = (orjson.loads(r) for r in raws if r)
    return [x for x in segs if x.get("type") in DYNAMIC]


async def dynamic_member_of(ctx: Ctx, customer: dict[str, Any]) -> list[dict[str, Any]]:
    """The dynamic segments ``customer`` is in NOW (admin's clock), judged by core from the
    stored customer, its metrics hash and, when a filter asks for them, its loyalty points."""
    compiled: list[tuple[str, Any]] = []
    by_id: dict[str, dict[str, Any]] = {}
    for x in await dynamic_segments(ctx):
        try:
            compiled.append((x["id"], compile_filter(x.get("filter"), "segment.filter")))
        except CompileError as exc:  # stored before a stricter core: never a member
            log.error("segment %s has a filter core refuses: %s", x.get("id"), exc)
            continue
        by_id[x["id"]] = x
    if not compiled:
        return []
    metrics = await _loyalty(ctx).members.metrics(customer["id"])
    points = None
    if needs_points(f for _, f in compiled):
        points = (await live_customer(ctx, customer))["loyalty"]["points"]
    now = ctx.now()
    return [by_id[sid] for sid in matching(compiled, customer, metrics, now, points)]


@get("/v1/segments/{segment_id:str}", tags=["customers"])
async def get_segment(request: Request, segment_id: FromPath[str]) -> Response:
    ctx = await begin(request, "read")
    raw = await ctx.r.get(ctx.k.segment(segment_id))
    if raw is None:
        raise not_found("segment", segment_id)
    return ok(segment_out(orjson.loads(raw)))


@delete("/v1/segments/{segment_id:str}", status_code=200, tags=["customers"])
async def delete_segment(request: Request, segment_id: FromPath[str]) -> Response:
    ctx = await begin(request, "write")
    raw = await ctx.r.get(ctx.k.segment(segment_id))
    if raw is None:
        raise not_found("segment", segment_id)
    seg = orjson.loads(raw)
    for cid in seg.get("customers") or []:
        try:
            await _set_segment(ctx, cid, segment_id, False)
        except ApiError:
            pass

    def extra(pipe: Any) -> None:
        pipe.delete(ctx.k.segment(segment_id))
        pipe.zrem(ctx.k.segments, segment_id)
        pipe.publish(ctx.k.channel, SEGMENTS_NOTICE)

    await ctx.repo.record(
        ctx.actor,
        ctx.rid,
        [Change(action="segment.delete", object_type="segment", object_id=segment_id, before=seg)],
        extra,
    )
    return no_content()


@get("/v1/customers/{customer_id:str}/segments", tags=["customers"])
async def customer_segments(request: Request, customer_id: FromPath[str]) -> Response:
    """The customer's static segments, then the dynamic segments it is in now."""
    ctx = await begin(request, "read")
    c = await load_customer(ctx, customer_id)
    if c is None:
        raise not_found("customer", customer_id)
    data = await segments_of(ctx, c)
    return ok({"object": "list", "data_ref": "data", "data": data, "total": len(data)})


async def segments_of(ctx: Ctx, c: dict[str, Any]) -> list[dict[str, Any]]:
    """A stored customer's static segments, then the dynamic segments it is in now."""
    data = []
    for sid in c.get("segments") or []:
        raw = await ctx.r.get(ctx.k.segment(sid))
        name = orjson.loads(raw)["name"] if raw else None
        data.append({"id": sid, "name": name, "object": "segment", "type": "static"})
    for x in await dynamic_member_of(ctx, c):
        data.append({"id": x["id"], "name": x["name"], "object": "segment", "type": x["type"]})
    return data


# ------------------------------------------------------------------------------ publications


@post("/v1/publications", tags=["customers"])
async def create_publication(request: Request) -> Response:
    """Issue a new code of an existing campaign to a customer (roles admin, marketer, support);
    of a join-once loyalty or referral programme, the customer's one card or referral code (the
    same on every repeat).

    Body: ``{campaign: {id | name} | "<id or name>", customer: {id | source_id, ...}, metadata}``.
    An unknown customer with a ``source_id`` is created, as Voucherify does.
    """
    ctx = await begin(request, "issue")
    body = await json_body(request)
    ref = body.get("campaign")
    if isinstance(ref, dict):
        ref = ref.get("id") or ref.get("name")
    if not ref:
        raise invalid("a publication needs `campaign` (id or name)")
    cust_in = body.get("customer")
    if isinstance(cust_in, str):
        cust_in = {"id": cust_in}
    if not isinstance(cust_in, dict) or not (cust_in.get("id") or cust_in.get("source_id")):
        raise invalid("a publication needs `customer` with `id` or `source_id`")
    st = await ctx.repo.state()
    camp = CAMPAIGN.get(st, ref)
    cust = await load_customer(ctx, cust_in.get("id") or cust_in["source_id"])
    if cust is None:
        if not cust_in.get("source_id"):
            raise not_found("customer", cust_in["id"])
        cust, _ = await upsert_customer(ctx, cust_in)
    md = body.get("metadata") or {}
    if camp.campaign_type in ("LOYALTY_PROGRAM", "REFERRAL_PROGRAM") and camp.join_once is not False:
        v = await publish_once(ctx, camp, cust, md)  # one card / referral code per customer
    else:
        v = await issue_code(ctx, camp, {"metadata": md}, customer=customer_key(cust))
    view = await voucher_view(ctx, v)
    return ok(
        {
            "id": "pub_" + secrets.token_hex(12),
            "object": "publication",
            "created_at": iso(ctx.now()),
            "customer_id": cust["id"],
            "metadata": body.get("metadata") or {},
            "channel": "API",
            "source_id": body.get("source_id"),
            "result": "SUCCESS",
            "voucher": view,
            "vouchers_id": [view["id"]],
        }
    )


HANDLERS = [
    create_customer, list_customers, get_customer, update_customer, delete_customer,
    create_segment, list_segments, get_segment, delete_segment, customer_segments,
    create_publication,
]  # fmt: skip
