"""Definitions API: campaigns, vouchers (codes), promotion tiers, validation rules and their
assignments, stacking rules, products and SKUs, in Voucherify's shapes.

Every change goes through :meth:`admin.repo.Repo.mutate` (compiled by core before it is
accepted, published to the gateways, audited) or, for codes kept outside the document,
:meth:`admin.repo.Repo.mutate_code`. Each kind of definition is described once (``CAMPAIGN``,
``VOUCHER``, ``TIER``, ``RULE``, ``PRODUCT``, ``SKU``: an :class:`admin.resources.Resource`) and
read, changed and deleted by the same :mod:`admin.resources` functions; a route states only
what is its own.
"""

from __future__ import annotations

import secrets
from typing import Any

import msgspec
from litestar import Request, Response, delete, get, post, put
from litestar.params import FromPath
from redis.exceptions import WatchError

from core import model as m
from store import codebook
from store.codemaker import CodeConfigError, CodeMaker, check_config

from . import actions as act
from . import audit, loyalty_shapes, shapes
from .app import Ctx, begin, json_body, no_content, ok
from .audit import Change
from .errors import ApiError, invalid, not_found
from .repo import CampaignMeta, Outcome, State
from .reports import counters_for
from .resources import (
    CampaignTimes,
    Edit,
    Found,
    Resource,
    Times,
    change_one,
    create_one,
    delete_one,
    get_one,
    set_active,
    show,
)
from .routes_members import with_live_cards

MAX_VOUCHERS_COUNT = 10_000_000


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def b(obj: Any) -> Any:
    return msgspec.to_builtins(obj)


def duplicate(kind: str, ident: str) -> ApiError:
    if not isinstance(ident, str):  # an id sent in a body as a number, a list...: bad input
        return invalid(f"a {kind} id must be a string, got {ident!r:.80}")
    return ApiError(
        409,
        "duplicate_found",
        "Duplicated resource found",
        f"A {kind} with id {ident} already exists",
        resource_id=ident,
        resource_type=kind,
    )


def _name_free(st: State, name: Any, campaign_id: str | None = None) -> None:
    """A campaign name is unique (campaigns are looked up by id or name): 409 if taken."""
    if name and any(c.name == name and c.id != campaign_id for c in st.defs.campaigns):
        raise ApiError(409, "duplicate_found", "Duplicated resource found",
                       f"A campaign named {name!r} already exists", resource_type="campaign")  # fmt: skip


# =============================================================================== the kinds


def _listed(obj: Any, home: list[Any]) -> Found | None:
    return None if obj is None else Found(obj, home)


def _tier_found(st: State, tier_id: str) -> Found | None:
    found = st.tier(tier_id)
    return None if found is None else Found(found[1], found[0].promotion.tiers, found[0])


def _sku_found(st: State, ident: str) -> Found | None:
    found = st.sku(ident)
    return None if found is None else Found(found[1], found[0].skus, found[0])


CAMPAIGN = Resource(
    kind="campaign",
    model=m.Campaign,
    lookup=lambda st, ident: _listed(st.campaign(ident), st.defs.campaigns),
    view=lambda ctx, st, f: campaign_view(ctx, st, f.obj),
    times=CampaignTimes(),
)
#: a code created one by one, kept in the document (codes kept outside it: change_voucher)
VOUCHER = Resource(
    kind="voucher",
    model=m.Voucher,
    lookup=lambda st, ident: _listed(st.voucher(ident), st.defs.vouchers),
    view=lambda ctx, st, f: voucher_view(ctx, f.obj, st),
    key=lambda v: v.code,
)
TIER = Resource(
    kind="promotion_tier",
    model=m.PromotionTier,
    lookup=_tier_found,
    view=lambda ctx, st, f: _tier_view(st, f.parent, f.obj),
)
RULE = Resource(
    kind="validation_rule",
    model=m.ValidationRule,
    lookup=lambda st, ident: _listed(st.rule(ident), st.defs.validation_rules),
    view=lambda ctx, st, f: _rule_view(st, f.obj),
    missing="validation_rules",
)
PRODUCT = Resource(
    kind="product",
    model=m.Product,
    lookup=lambda st, ident: _listed(st.product(ident), st.defs.products),
    view=lambda ctx, st, f: _product_view(st, f.obj),
    times=Times(kept_after_delete=True),
)
SKU = Resource(
    kind="sku",
    model=m.Sku,
    lookup=_sku_found,
    view=lambda ctx, st, f: shapes.sku_out(f.obj, f.parent, st.times("sku", f.obj.id)),
    parent=PRODUCT,
    times=Times(kept_after_delete=True),
)


def _merged(d: dict[str, Any], upd: dict[str, Any]) -> dict[str, Any]:
    """``d`` updated with ``upd``, whose ``metadata`` is merged into ``d``'s."""
    if "metadata" in upd:
        d["metadata"] = shapes.merged(d.get("metadata"), upd.pop("metadata"), "metadata")
    d.update(upd)
    return d


def _source_id_free(st: State, res: Resource, cur: Any, body: dict[str, Any]) -> None:
    """A ``source_id`` that already names another object of the kind (by id or source_id) is a
    409: lookups by either would become ambiguous."""
    sid = body.get("source_id")
    if isinstance(sid, str) and sid:
        other = res.lookup(st, sid)
        if other is not None and other.obj.id != cur.id:
            raise duplicate(res.kind, sid)


def _count(v: Any) -> int:
    if v is None or v == "":
        return 0
    try:
        n = int(v)
    except (TypeError, ValueError):
        raise invalid(f"`vouchers_count` must be an integer, got {v!r}") from None
    if not 0 <= n <= MAX_VOUCHERS_COUNT:
        raise invalid(f"`vouchers_count` must be between 0 and {MAX_VOUCHERS_COUNT}")
    return n


def _code_config(camp: m.Campaign, count: int, root: str = "campaign") -> m.CodeConfig:
    if camp.voucher is None:
        raise invalid(f"`vouchers_count` needs a `voucher` template - at `{root}.voucher`")
    cfg = camp.voucher.code_config or m.CodeConfig()
    try:
        check_config(cfg, count, f"{root}.voucher.code_config")
    except CodeConfigError as exc:
        raise invalid(f"{exc.message} - at `{exc.path}`") from None
    return cfg


async def campaign_view(ctx: Ctx, st: State, c: m.Campaign) -> dict[str, Any]:
    meta = st.meta.campaigns.get(c.id)
    tier_times = {}
    if c.promotion is not None:
        tier_times = {t.id: st.times("promotion_tier", t.id) for t in c.promotion.tiers}
    out = loyalty_shapes.program_out(
        c, shapes.campaign_out(c, meta, {k: v for k, v in tier_times.items() if v})
    )
    if meta is not None and meta.async_action_id:
        status = await ctx.admin.runner.status(meta.async_action_id)
        s = {"ENQUEUED": "IN_PROGRESS", "IN_PROGRESS": "IN_PROGRESS", "FAILED": "FAILED"}.get(
            status or "", "DONE"
        )
        out["creation_status"] = out["vouchers_generation_status"] = s
    return out


# =============================================================================== campaigns


@post("/v1/campaigns", tags=["campaigns"])
async def create_campaign(request: Request) -> Response:
    """Create a campaign; with ``vouchers_count`` its codes are generated as an async action."""
    ctx = await begin(request, "write")
    return await create_campaign_from(ctx, await json_body(request))


async def create_campaign_from(ctx: Ctx, body: dict[str, Any]) -> Response:
    """Create the campaign ``body`` describes (``POST /v1/campaigns``, ``POST /v1/loyalties``)."""
    count = _count(body.get("vouchers_count"))
    cid = new_id("camp_")
    action_id = act.new_id() if count else None
    now = ctx.now()

    def fn(st: State) -> Outcome:
        _name_free(st, body.get("name"))
        seq = st.meta.seq + 1
        d = shapes.campaign_in(body, cid, seq, lambda: new_id("promo_"))
        camp = shapes.convert(loyalty_shapes.program_in(body, d), m.Campaign, "campaign")
        cfg = _code_config(camp, count) if count else None
        if count and camp.campaign_type == "PROMOTION":
            raise invalid(
                "a PROMOTION campaign has tiers, not codes - at `campaign.vouchers_count`"
            )
        out = CAMPAIGN.add(st, Found(camp, st.defs.campaigns), now)
        st.meta.seq = seq
        meta = st.meta.campaigns[cid]
        meta.description = body.get("description")
        meta.type = body.get("type")
        meta.vouchers_count = count
        meta.creation_status = "IN_PROGRESS" if count else "DONE"
        meta.async_action_id = action_id
        if camp.promotion is not None:
            for t in camp.promotion.tiers:
                TIER.stamp(st, t.id, now, created=True)
        if count:
            params = {"campaign_id": cid, "code_config": b(cfg)}

            def extra(pipe: Any) -> None:
                act.queue_create(pipe, ctx.k, action_id, act.GENERATION, count, params, now)

            out.extra = extra
        return out

    found = await ctx.repo.mutate(ctx.actor, ctx.rid, fn)
    if action_id:
        ctx.admin.runner.start(action_id)
    return await show(ctx, CAMPAIGN, found)


@get("/v1/campaigns", tags=["campaigns"])
async def list_campaigns(request: Request) -> Response:
    ctx = await begin(request, "read")
    st = await ctx.repo.state()
    limit = ctx.qint("limit", 10)
    page = ctx.qint("page", 1, hi=100_000)
    ctype = ctx.q("campaign_type")
    status = ctx.q("campaign_status")
    name = ctx.q("name")
    active = ctx.qbool("active")
    order = ctx.q("order", "-created_at")
    if order not in ("created_at", "-created_at", "updated_at", "-updated_at", "name", "-name"):
        raise invalid(f"`order` cannot be {order!r}")
    items = []
    for c in st.defs.campaigns:
        meta = st.meta.campaigns.get(c.id) or CampaignMeta()
        if ctype and c.campaign_type != ctype:
            continue
        if name and name.lower() not in c.name.lower():
            continue
        if active is not None and c.active != active:
            continue
        items.append((c, meta))
    field = order.lstrip("-")
    items.sort(
        key=lambda cm: (
            cm[0].name if field == "name" else getattr(cm[1], field) or cm[0].created_seq
        ),
        reverse=order.startswith("-"),
    )
    views = []
    for c, _meta in items:
        v = await campaign_view(ctx, st, c)
        if status and v.get("creation_status") != status:
            continue
        views.append(v)
    total = len(views)
    views = views[(page - 1) * limit : page * limit]
    return ok({"object": "list", "data_ref": "campaigns", "campaigns": views, "total": total,
               "has_more": page * limit < total})  # fmt: skip


@get("/v1/campaigns/{campaign_id:str}", tags=["campaigns"])
async def get_campaign(request: Request, campaign_id: FromPath[str]) -> Response:
    return await get_one(await begin(request, "read"), CAMPAIGN, campaign_id)


@put("/v1/campaigns/{campaign_id:str}", tags=["campaigns"])
async def update_campaign(request: Request, campaign_id: FromPath[str]) -> Response:
    ctx = await begin(request, "write")
    body = await json_body(request)
    return await change_one(ctx, CAMPAIGN, campaign_id, "update", campaign_edit(body))


def campaign_edit(body: dict[str, Any]) -> Edit:
    """The edit of an update-campaign body (``PUT /v1/campaigns/{id}``, ``/v1/loyalties/{id}``)."""

    def edit(st: State, c: m.Campaign, d: dict[str, Any]) -> dict[str, Any]:
        _name_free(st, body.get("name"), c.id)
        d = loyalty_shapes.program_update(c, body, shapes.campaign_update_in(d, body))
        d["id"], d["campaign_type"], d["created_seq"] = c.id, c.campaign_type, c.created_seq
        meta = st.meta.campaigns[c.id]  # stamped before the edit
        if "description" in body:
            meta.description = body["description"]
        if body.get("type") in ("STATIC", "AUTO_UPDATE", "STANDALONE"):
            meta.type = body["type"]
        return d

    return edit


@post("/v1/campaigns/{campaign_id:str}/enable", tags=["campaigns"])
async def enable_campaign(request: Request, campaign_id: FromPath[str]) -> Response:
    ctx = await begin(request, "write")
    return await change_one(ctx, CAMPAIGN, campaign_id, "enable", set_active(True), skip_no_op=True)


@post("/v1/campaigns/{campaign_id:str}/disable", tags=["campaigns"])
async def disable_campaign(request: Request, campaign_id: FromPath[str]) -> Response:
    ctx = await begin(request, "write")
    return await change_one(
        ctx, CAMPAIGN, campaign_id, "disable", set_active(False), skip_no_op=True
    )


@delete("/v1/campaigns/{campaign_id:str}", status_code=200, tags=["campaigns"])
async def delete_campaign(request: Request, campaign_id: FromPath[str]) -> Response:
    """Remove the campaign and its codes: the gateways stop serving them at once (the campaign
    leaves the ruleset); codes kept outside the document are removed by an async action."""
    return await delete_campaign_from(await begin(request, "write"), CAMPAIGN, campaign_id)


async def delete_campaign_from(ctx: Ctx, res: Resource, campaign_id: str) -> Response:
    """Delete the campaign ``campaign_id`` as ``res`` finds it (``DELETE /v1/campaigns/{id}``,
    ``/v1/loyalties/{id}``): its codes, and a program's earning rules, tiers and reward
    assignments, go with it in the same transaction."""
    action_id = act.new_id()
    now = ctx.now()

    def cascade(st: State, c: m.Campaign) -> Any:
        loyalty_shapes.drop_program_parts(st, c)
        gone = [v for v in st.defs.vouchers if v.campaign_id == c.id]
        st.defs.vouchers = [v for v in st.defs.vouchers if v.campaign_id != c.id]
        for v in gone:
            VOUCHER.forget(st, v.code)

        def extra(pipe: Any) -> None:
            # from here on no code writer stores a code for it (see admin.codes.store_codes)
            pipe.set(ctx.k.campaign_gone(c.id), str(now))
            act.queue_create(pipe, ctx.k, action_id, act.DELETE, 0, {"campaign_id": c.id}, now)

        return extra

    await delete_one(ctx, res, campaign_id, cascade=cascade)
    ctx.admin.runner.start(action_id)
    return ok({"async_action_id": action_id})


@post("/v1/campaigns/{campaign_id:str}/vouchers", tags=["campaigns"])
async def add_vouchers(request: Request, campaign_id: FromPath[str]) -> Response:
    """``?vouchers_count=N`` (N > 1): N more codes as an async action; else one new code."""
    ctx = await begin(request, "write")
    body = await json_body(request, required=False)
    count = _count(ctx.q("vouchers_count") or body.get("vouchers_count") or 1)
    if count <= 1:
        camp = CAMPAIGN.get(await ctx.repo.state(), campaign_id)
        v = await issue_code(ctx, camp, body, verb="create")
        return ok(await voucher_view(ctx, v))
    action_id = act.new_id()
    now = ctx.now()

    def fn(st: State) -> Outcome:
        c = CAMPAIGN.get(st, campaign_id)
        CAMPAIGN.stamp(st, c.id, now)
        meta = st.meta.campaigns[c.id]
        cfg = _code_config(c, meta.vouchers_count + count)
        meta.vouchers_count += count
        meta.async_action_id = action_id
        params = {"campaign_id": c.id, "code_config": b(cfg)}

        def extra(pipe: Any) -> None:
            act.queue_create(pipe, ctx.k, action_id, act.GENERATION, count, params, now)

        after = {"vouchers_count": count, "async_action_id": action_id}
        return Outcome(
            result=c, extra=extra, changes=[CAMPAIGN.entry("vouchers.generate", c.id, None, after)]
        )

    await ctx.repo.mutate(ctx.actor, ctx.rid, fn)
    ctx.admin.runner.start(action_id)
    return ok({"async_action_id": action_id}, 202)


@post("/v1/campaigns/{campaign_id:str}/vouchers/{code:str}", tags=["campaigns"])
async def add_voucher_with_code(
    request: Request, campaign_id: FromPath[str], code: FromPath[str]
) -> Response:
    ctx = await begin(request, "write")
    body = await json_body(request, required=False)
    body["campaign_id"] = campaign_id
    return await create_doc_voucher(ctx, code, body)


# =============================================================================== vouchers


async def create_doc_voucher(ctx: Ctx, code: str, body: dict[str, Any]) -> Response:
    """A code created one by one: kept in the definitions document."""
    def build(st: State) -> Found:
        if st.voucher(code) is not None or st.watched.get(code) is not None:
            raise duplicate("voucher", code)
        ref = body.get("campaign_id") or body.get("campaign")
        camp = CAMPAIGN.get(st, ref) if ref else None
        v = shapes.convert(
            shapes.voucher_in(body, code, camp.id if camp else None, new_id("v_")),
            m.Voucher,
            "voucher",
        )
        return Found(v, st.defs.vouchers)

    return await create_one(ctx, VOUCHER, build, watch=[code])


async def issue_code(
    ctx: Ctx,
    camp: m.Campaign,
    body: dict[str, Any],
    verb: str = "issue",
    customer: str | None = None,
) -> m.Voucher:
    """A new random code of ``camp`` (its code_config), kept outside the document; audited
    ``voucher.<verb>``."""
    if camp.voucher is None:
        raise invalid(f"campaign {camp.id} has no voucher template: it cannot issue codes")
    maker = CodeMaker(camp.voucher.code_config or m.CodeConfig())
    await codebook.ref(ctx.r, ctx.k, camp.id)  # a code that is only {code, campaign} is stored compact
    st, rs = await ctx.repo.ruleset()
    d = shapes.voucher_in(body, "X", camp.id, None)
    if customer:
        d["customer_id"] = customer
    for _ in range(100):
        code = maker.sample(1)[0]
        if st.voucher(code) is not None:
            continue
        d["code"] = code
        v = shapes.convert(d, m.Voucher, "voucher")
        try:
            import core

            core.engine.holder_for_voucher(rs, v)
        except Exception as exc:
            from core.errors import CompileError

            from .errors import from_compile

            if isinstance(exc, CompileError):
                raise from_compile(exc) from None
            raise
        buckets = ctx.k.code_buckets(code)
        # One transaction: the code, its place in the campaign's list, the customer's wallet,
        # the gateways' notice and the audit entry are written together or not at all (a crash
        # between a reservation and its listing used to leave a usable code nobody could see).
        # The same code taken, or the document changed, meanwhile (WATCH): try again.
        async with ctx.r.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(*buckets, ctx.k.version)
                if any([await pipe.hexists(b, code) for b in buckets]):
                    continue
                st2 = await ctx.repo.state()
                CAMPAIGN.get(st2, camp.id)  # deleted meanwhile: 404, nothing written
                if st2.voucher(code) is not None:  # a code created in the document meanwhile
                    st = st2
                    continue
                now = ctx.now()
                pipe.multi()
                codebook.put(pipe, ctx.k, code, v)
                pipe.rpush(ctx.k.list_codes(camp.id), code)
                if v.customer_id:
                    pipe.sadd(ctx.k.customer_codes(v.customer_id), code)
                pipe.publish(ctx.k.channel, "code:" + code)
                audit.add(
                    pipe, ctx.k.audit, ctx.actor, VOUCHER.entry(verb, code, None, v), now, ctx.rid
                )
                await pipe.execute()
            except WatchError:
                continue
        return v
    raise ApiError(
        409,
        "multiple_requests",
        "No free code",
        f"campaign {camp.id}: no free code found in 100 tries",
    )


async def find_voucher(ctx: Ctx, code: str) -> tuple[State, m.Voucher, bool]:
    """(state, voucher, in_document); 404 if there is no such code."""
    st = await ctx.repo.state()
    v = st.voucher(code)
    if v is not None:
        return st, v, True
    v = await ctx.repo.code(code)
    if v is None:
        raise not_found("voucher", code)
    return st, v, False


async def voucher_view(ctx: Ctx, v: m.Voucher, st: State | None = None) -> dict[str, Any]:
    st = st or await ctx.repo.state()
    camp = st.campaign(v.campaign_id) if v.campaign_id else None
    (counters,) = await counters_for(ctx.r, ctx.k, [v])
    view = shapes.voucher_out(
        v, camp, counters, st.times("voucher", v.code) or (_camp_times(st, camp))
    )
    (view,) = await with_live_cards(ctx, [view])
    return view


def _camp_times(st: State, camp: m.Campaign | None) -> list[int] | None:
    if camp is None:
        return None
    meta = st.meta.campaigns.get(camp.id)
    return [meta.created_at, meta.updated_at] if meta else None


@post("/v1/vouchers/{code:str}", tags=["vouchers"])
async def create_voucher(request: Request, code: FromPath[str]) -> Response:
    ctx = await begin(request, "write")
    body = await json_body(request, required=False)
    return await create_doc_voucher(ctx, code, body)


@get("/v1/vouchers/{code:str}", tags=["vouchers"])
async def get_voucher(request: Request, code: FromPath[str]) -> Response:
    ctx = await begin(request, "read")
    st, v, _ = await find_voucher(ctx, code)
    return ok(await voucher_view(ctx, v, st))


async def change_voucher(ctx: Ctx, code: str, verb: str, edit: Edit) -> Response:
    """Change a code wherever it lives (audited ``voucher.<verb>``, published) and answer it: in
    the document (a change to nothing writes nothing), or kept outside it (in its bucket, store/codebook.py)."""
    _, _, in_doc = await find_voucher(ctx, code)
    if in_doc:
        return await change_one(ctx, VOUCHER, code, verb, edit, skip_no_op=True)

    def fn_code(cur: m.Voucher, st: State) -> tuple[m.Voucher, Any, list[Change]]:
        d = edit(st, cur, b(cur))
        if list(d.get("validation_rules") or []) != list(cur.validation_rules):
            raise invalid("validation rules are assigned to codes created one by one, or to the campaign "
                          f"of a generated code - at `voucher[{code}].validation_rules`")  # fmt: skip
        new = shapes.convert(d, m.Voucher, "voucher")
        return new, new, [VOUCHER.entry(verb, code, cur, new)]

    out = await ctx.repo.mutate_code(ctx.actor, ctx.rid, code, fn_code)
    if out is None:
        raise not_found("voucher", code)
    return ok(await voucher_view(ctx, out))


@put("/v1/vouchers/{code:str}", tags=["vouchers"])
async def update_voucher(request: Request, code: FromPath[str]) -> Response:
    ctx = await begin(request, "write")
    body = await json_body(request)
    body.pop("code", None)
    body.pop("campaign_id", None)
    body.pop("campaign", None)
    return await change_voucher(
        ctx, code, "update", lambda st, v, d: shapes.voucher_update_in(d, body)
    )


@post("/v1/vouchers/{code:str}/enable", tags=["vouchers"])
async def enable_voucher(request: Request, code: FromPath[str]) -> Response:
    ctx = await begin(request, "code_state")
    return await change_voucher(ctx, code, "enable", set_active(True))


@post("/v1/vouchers/{code:str}/disable", tags=["vouchers"])
async def disable_voucher(request: Request, code: FromPath[str]) -> Response:
    ctx = await begin(request, "code_state")
    return await change_voucher(ctx, code, "disable", set_active(False))


@delete("/v1/vouchers/{code:str}", status_code=200, tags=["vouchers"])
async def delete_voucher(request: Request, code: FromPath[str]) -> Response:
    ctx = await begin(request, "write")
    _, v, in_doc = await find_voucher(ctx, code)
    if in_doc:
        await delete_one(ctx, VOUCHER, code)
        return no_content()

    def extra(pipe: Any) -> None:
        codebook.drop(pipe, ctx.k, code)
        if v.campaign_id:
            pipe.lrem(ctx.k.list_codes(v.campaign_id), 1, code)
        if v.customer_id:
            pipe.srem(ctx.k.customer_codes(v.customer_id), code)
        pipe.publish(ctx.k.channel, "code:" + code)

    await ctx.repo.record(ctx.actor, ctx.rid, [VOUCHER.entry("delete", code, v, None)], extra)
    return no_content()


@get("/v1/vouchers", tags=["vouchers"])
async def list_vouchers(request: Request) -> Response:
    """Filters: ``campaign_id`` (or ``campaign``: id or name), ``customer``; ``limit``, ``page``."""
    ctx = await begin(request, "read")
    st = await ctx.repo.state()
    limit = ctx.qint("limit", 10)
    page = ctx.qint("page", 1, hi=1_000_000)
    ref = ctx.q("campaign_id") or ctx.q("campaign")
    customer = ctx.q("customer")
    camps = [CAMPAIGN.get(st, ref)] if ref else list(st.defs.campaigns)
    ids = {c.id for c in camps}
    doc = [v for v in st.defs.vouchers if (v.campaign_id in ids if ref else True)]
    if customer:
        doc = [v for v in doc if v.customer_id == customer]
        issued = sorted(x.decode() for x in await ctx.r.smembers(ctx.k.customer_codes(customer)))
        sources: list[tuple[str, Any, int]] = [("doc", doc, len(doc)), ("set", issued, len(issued))]
    else:
        sources = [("doc", doc, len(doc))]
        for c in camps:
            sources.append(("list", c.id, int(await ctx.r.llen(ctx.k.list_codes(c.id)))))
    total = sum(n for _, _, n in sources)
    start, want = (page - 1) * limit, limit
    picked: list[m.Voucher] = []
    for kind, src, n in sources:
        if want <= 0:
            break
        if start >= n:
            start -= n
            continue
        if kind == "doc":
            picked.extend(src[start : start + want])
        else:
            codes = (
                src[start : start + want]
                if kind == "set"
                else [
                    c.decode()
                    for c in await ctx.r.lrange(ctx.k.list_codes(src), start, start + want - 1)
                ]
            )
            for code in codes:
                v = await ctx.repo.code(code)
                if v is not None:
                    picked.append(v)
        got = min(want, n - start)
        want -= got
        start = 0
    counters = await counters_for(ctx.r, ctx.k, picked)
    views = []
    for v, cnt in zip(picked, counters, strict=True):
        camp = st.campaign(v.campaign_id) if v.campaign_id else None
        views.append(
            shapes.voucher_out(v, camp, cnt, st.times("voucher", v.code) or _camp_times(st, camp))
        )
    views = await with_live_cards(ctx, views)
    return ok({"object": "list", "data_ref": "vouchers", "vouchers": views, "total": total})


# =============================================================================== promotion tiers


def _tier_view(st: State, c: m.Campaign, t: m.PromotionTier) -> dict[str, Any]:
    return shapes.tier_out(t, c, st.times("promotion_tier", t.id))


def _tiers_list(st: State, pairs: list[tuple[m.Campaign, m.PromotionTier]]) -> dict[str, Any]:
    tiers = [_tier_view(st, c, t) for c, t in pairs]
    return {
        "object": "list",
        "data_ref": "tiers",
        "tiers": tiers,
        "total": len(tiers),
        "has_more": False,
    }


@get("/v1/promotions/tiers", tags=["promotions"])
async def list_all_tiers(request: Request) -> Response:
    ctx = await begin(request, "read")
    st = await ctx.repo.state()
    limit = ctx.qint("limit", 10)
    page = ctx.qint("page", 1, hi=100_000)
    avail = ctx.qbool("is_available")
    pairs = [
        (c, t)
        for c in st.defs.campaigns
        if c.promotion is not None
        for t in c.promotion.tiers
        if avail is None or (t.active and c.active) == avail
    ]
    out = _tiers_list(st, pairs[(page - 1) * limit : page * limit])
    out["total"] = len(pairs)
    out["has_more"] = page * limit < len(pairs)
    return ok(out)


@get("/v1/promotions/{campaign_id:str}/tiers", tags=["promotions"])
async def list_campaign_tiers(request: Request, campaign_id: FromPath[str]) -> Response:
    ctx = await begin(request, "read")
    st = await ctx.repo.state()
    c = CAMPAIGN.get(st, campaign_id)
    return ok(_tiers_list(st, [(c, t) for t in (c.promotion.tiers if c.promotion else [])]))


@post("/v1/promotions/{campaign_id:str}/tiers", tags=["promotions"])
async def add_tier(request: Request, campaign_id: FromPath[str]) -> Response:
    ctx = await begin(request, "write")
    body = await json_body(request)
    tid = new_id("promo_")

    def build(st: State) -> Found:
        c = CAMPAIGN.get(st, campaign_id)
        if c.campaign_type != "PROMOTION":
            raise invalid(f"campaign {c.id} is not a PROMOTION campaign: it has no tiers")
        t = shapes.convert(
            shapes.tier_in(body, tid, "promotion_tier"), m.PromotionTier, "promotion_tier"
        )
        assert c.promotion is not None
        return Found(t, c.promotion.tiers, c)

    return await create_one(ctx, TIER, build)


@get("/v1/promotions/tiers/{tier_id:str}", tags=["promotions"])
async def get_tier(request: Request, tier_id: FromPath[str]) -> Response:
    return await get_one(await begin(request, "read"), TIER, tier_id)


@put("/v1/promotions/tiers/{tier_id:str}", tags=["promotions"])
async def update_tier(request: Request, tier_id: FromPath[str]) -> Response:
    ctx = await begin(request, "write")
    body = await json_body(request)

    def edit(st: State, t: m.PromotionTier, d: dict[str, Any]) -> dict[str, Any]:
        return _merged(d, shapes.tier_in(body, tier_id, "promotion_tier"))

    return await change_one(ctx, TIER, tier_id, "update", edit)


@post("/v1/promotions/tiers/{tier_id:str}/enable", tags=["promotions"])
async def enable_tier(request: Request, tier_id: FromPath[str]) -> Response:
    ctx = await begin(request, "write")
    return await change_one(ctx, TIER, tier_id, "enable", set_active(True))


@post("/v1/promotions/tiers/{tier_id:str}/disable", tags=["promotions"])
async def disable_tier(request: Request, tier_id: FromPath[str]) -> Response:
    ctx = await begin(request, "write")
    return await change_one(ctx, TIER, tier_id, "disable", set_active(False))


@delete("/v1/promotions/tiers/{tier_id:str}", status_code=200, tags=["promotions"])
async def delete_tier(request: Request, tier_id: FromPath[str]) -> Response:
    ctx = await begin(request, "write")
    await delete_one(ctx, TIER, tier_id)
    return no_content()


# =============================================================================== validation rules


def _assignments(st: State, rule_id: str | None = None) -> list[tuple[str, str, str]]:
    """(rule id, object type, object id) of every assignment in the document."""
    out = []
    for c in st.defs.campaigns:
        out += [(r, "campaign", c.id) for r in c.validation_rules]
        if c.promotion is not None:
            for t in c.promotion.tiers:
                out += [(r, "promotion_tier", t.id) for r in t.validation_rules]
    for v in st.defs.vouchers:
        out += [(r, "voucher", v.id or v.code) for r in v.validation_rules]
    return [a for a in out if rule_id is None or a[0] == rule_id]


def _rule_view(st: State, r: m.ValidationRule) -> dict[str, Any]:
    return shapes.rule_out(r, st.times("validation_rule", r.id), len(_assignments(st, r.id)))


@post("/v1/validation-rules", tags=["validation rules"])
async def create_rule(request: Request) -> Response:
    ctx = await begin(request, "write")
    body = await json_body(request)
    rid = new_id("val_")

    def build(st: State) -> Found:
        r = shapes.convert(shapes.rule_in(body, rid), m.ValidationRule, "validation_rule")
        return Found(r, st.defs.validation_rules)

    return await create_one(ctx, RULE, build)


@get("/v1/validation-rules", tags=["validation rules"])
async def list_rules(request: Request) -> Response:
    ctx = await begin(request, "read")
    st = await ctx.repo.state()
    limit = ctx.qint("limit", 10)
    page = ctx.qint("page", 1, hi=100_000)
    rules = st.defs.validation_rules
    data = [_rule_view(st, r) for r in rules[(page - 1) * limit : page * limit]]
    return ok({"object": "list", "data_ref": "data", "data": data, "total": len(rules)})


@get("/v1/validation-rules/{rule_id:str}", tags=["validation rules"])
async def get_rule(request: Request, rule_id: FromPath[str]) -> Response:
    return await get_one(await begin(request, "read"), RULE, rule_id)


@put("/v1/validation-rules/{rule_id:str}", tags=["validation rules"])
async def update_rule(request: Request, rule_id: FromPath[str]) -> Response:
    ctx = await begin(request, "write")
    body = await json_body(request)
    return await change_one(
        ctx, RULE, rule_id, "update", lambda st, r, d: {**d, **shapes.rule_in(body, rule_id)}
    )


def _unassigned(st: State, r: m.ValidationRule) -> None:
    """A rule still assigned, or judging an earning rule, is not deleted: 409 naming where."""
    used = _assignments(st, r.id)
    used += [(r.id, "earning_rule", e.id) for e in st.defs.earning_rules if e.validation_rule_id == r.id]
    if used:
        names = ", ".join(f"{t} {i}" for _, t, i in used[:10])
        raise ApiError(409, "resource_in_use", "Validation rule in use",
                       f"validation rule {r.id} is assigned to {names}: delete its assignments first",
                       resource_id=r.id, resource_type="validation_rules")  # fmt: skip


@delete("/v1/validation-rules/{rule_id:str}", status_code=200, tags=["validation rules"])
async def delete_rule(request: Request, rule_id: FromPath[str]) -> Response:
    ctx = await begin(request, "write")
    await delete_one(ctx, RULE, rule_id, cascade=_unassigned)
    return no_content()


_ASSIGNABLE = {res.kind: res for res in (CAMPAIGN, TIER, VOUCHER)}


def _assign_target(st: State, otype: str, oid: str) -> Any:
    if not isinstance(otype, str) or not isinstance(oid, str):
        raise invalid("`related_object_type` and `related_object_id` must be strings")
    res = _ASSIGNABLE.get(otype)
    if res is None:
        raise invalid(
            f"`related_object_type` must be campaign, promotion_tier or voucher, got {otype!r}"
        )
    if res is VOUCHER and VOUCHER.lookup(st, oid) is None:
        raise invalid(f"voucher {oid} is not a code created one by one: assign the rule to its campaign "
                      "(generated codes take their campaign's rules)")  # fmt: skip
    return res.get(st, oid)


@post("/v1/validation-rules/{rule_id:str}/assignments", tags=["validation rules"])
async def create_assignment(request: Request, rule_id: FromPath[str]) -> Response:
    ctx = await begin(request, "write")
    body = await json_body(request)
    otype = body.get("related_object_type") or (
        "voucher" if body.get("voucher") else "campaign" if body.get("campaign") else ""
    )
    oid = (
        body.get("related_object_id")
        or body.get("voucher")
        or body.get("campaign")
        or body.get("promotion_tier")
        or ""
    )
    now = ctx.now()

    def fn(st: State) -> Outcome:
        RULE.get(st, rule_id)
        obj = _assign_target(st, otype, oid)
        if rule_id in obj.validation_rules:
            if ctx.qbool("force"):
                return Outcome(result=shapes.assignment_out(rule_id, otype, _oid(obj)), write=False)
            raise duplicate(
                "validation_rules_assignment", shapes.assignment_id(rule_id, otype, _oid(obj))
            )
        before = b(obj)
        obj.validation_rules.append(rule_id)
        st.meta.times[f"assignment:{shapes.assignment_id(rule_id, otype, _oid(obj))}"] = [now, now]
        out = shapes.assignment_out(rule_id, otype, _oid(obj), shapes.iso(now))
        return Outcome(
            result=out,
            changes=[
                Change(
                    action="validation_rule.assign",
                    object_type=otype,
                    object_id=_oid(obj),
                    before=before,
                    after=obj,
                )
            ],
        )

    return ok(await ctx.repo.mutate(ctx.actor, ctx.rid, fn))


def _oid(obj: Any) -> str:
    return getattr(obj, "id", None) or obj.code


def _assignment_list(st: State, items: list[tuple[str, str, str]]) -> dict[str, Any]:
    data = []
    for r, t, i in items:
        times = st.meta.times.get(f"assignment:{shapes.assignment_id(r, t, i)}")
        data.append(shapes.assignment_out(r, t, i, shapes.iso(times[0]) if times else None))
    return {"object": "list", "data_ref": "data", "data": data, "total": len(data)}


@get("/v1/validation-rules/{rule_id:str}/assignments", tags=["validation rules"])
async def list_assignments(request: Request, rule_id: FromPath[str]) -> Response:
    ctx = await begin(request, "read")
    st = await ctx.repo.state()
    RULE.get(st, rule_id)
    return ok(_assignment_list(st, _assignments(st, rule_id)))


@get("/v1/validation-rules-assignments", tags=["validation rules"])
async def list_all_assignments(request: Request) -> Response:
    ctx = await begin(request, "read")
    st = await ctx.repo.state()
    items = _assignments(st, ctx.q("rule"))
    oid = ctx.q("related_object_id")
    if oid:
        items = [a for a in items if a[2] == oid]
    return ok(_assignment_list(st, items))


@delete(
    "/v1/validation-rules/{rule_id:str}/assignments/{assignment_id:str}",
    status_code=200,
    tags=["validation rules"],
)
async def delete_assignment(
    request: Request, rule_id: FromPath[str], assignment_id: FromPath[str]
) -> Response:
    ctx = await begin(request, "write")

    def fn(st: State) -> Outcome:
        for r, t, i in _assignments(st, rule_id):
            if shapes.assignment_id(r, t, i) == assignment_id:
                obj = _assign_target(st, t, i)
                before = b(obj)
                obj.validation_rules.remove(rule_id)
                st.meta.times.pop(f"assignment:{assignment_id}", None)
                return Outcome(
                    changes=[
                        Change(
                            action="validation_rule.unassign",
                            object_type=t,
                            object_id=i,
                            before=before,
                            after=obj,
                        )
                    ]
                )
        raise not_found("validation_rules_assignment", assignment_id)

    await ctx.repo.mutate(ctx.actor, ctx.rid, fn)
    return no_content()


# =============================================================================== stacking rules


@get("/v1/stacking-rules", tags=["settings"])
async def get_stacking(request: Request) -> Response:
    ctx = await begin(request, "read")
    st = await ctx.repo.state()
    return ok(msgspec.to_builtins(st.defs.stacking_rules) | {"object": "stacking_rules"})


@put("/v1/stacking-rules", tags=["settings"])
async def put_stacking(request: Request) -> Response:
    ctx = await begin(request, "write")
    body = await json_body(request)
    body.pop("object", None)

    def fn(st: State) -> Outcome:
        before = st.defs.stacking_rules
        d = b(before)
        d.update(body)
        new = shapes.convert(d, m.StackingRules, "stacking_rules")
        st.defs.stacking_rules = new
        return Outcome(
            result=new,
            changes=[
                Change(
                    action="stacking_rules.update",
                    object_type="stacking_rules",
                    object_id="project",
                    before=before,
                    after=new,
                )
            ],
        )

    new = await ctx.repo.mutate(ctx.actor, ctx.rid, fn)
    return ok(msgspec.to_builtins(new) | {"object": "stacking_rules"})


# =============================================================================== products


def _product_view(st: State, p: m.Product) -> dict[str, Any]:
    return shapes.product_out(
        p,
        st.times("product", p.id),
        {f"sku:{s.id}": st.times("sku", s.id) for s in p.skus if st.times("sku", s.id)},
    )


def _product_edit(body: dict[str, Any]) -> Edit:
    """``body`` applied to a product (metadata merged); its ``source_id`` stays unique."""

    def edit(st: State, cur: m.Product, d: dict[str, Any]) -> dict[str, Any]:
        _source_id_free(st, PRODUCT, cur, body)
        return _merged(d, shapes.product_in(body, cur.id))

    return edit


@post("/v1/products", tags=["products"])
async def create_product(request: Request) -> Response:
    """Create a product; an existing ``source_id`` (or ``id``) is updated instead (upsert)."""
    ctx = await begin(request, "write")
    body = await json_body(request)
    now = ctx.now()

    def fn(st: State) -> Outcome:
        cur = PRODUCT.lookup(st, body["id"]) if body.get("id") else None
        if cur is None and body.get("source_id"):
            cur = PRODUCT.lookup(st, body["source_id"])
        if cur is not None:
            return PRODUCT.change(st, cur, "update", _product_edit(body), now)
        pid = body.get("id") or new_id("prod_")
        new = shapes.convert(shapes.product_in(body, pid), m.Product, "product")
        return PRODUCT.add(st, Found(new, st.defs.products), now)

    return await show(ctx, PRODUCT, await ctx.repo.mutate(ctx.actor, ctx.rid, fn))


@get("/v1/products", tags=["products"])
async def list_products(request: Request) -> Response:
    ctx = await begin(request, "read")
    st = await ctx.repo.state()
    limit = ctx.qint("limit", 10)
    page = ctx.qint("page", 1, hi=100_000)
    ps = st.defs.products
    data = [_product_view(st, p) for p in ps[(page - 1) * limit : page * limit]]
    return ok({"object": "list", "data_ref": "products", "products": data, "total": len(ps)})


@get("/v1/products/{product_id:str}", tags=["products"])
async def get_product(request: Request, product_id: FromPath[str]) -> Response:
    return await get_one(await begin(request, "read"), PRODUCT, product_id)


@put("/v1/products/{product_id:str}", tags=["products"])
async def update_product(request: Request, product_id: FromPath[str]) -> Response:
    ctx = await begin(request, "write")
    body = await json_body(request)
    return await change_one(ctx, PRODUCT, product_id, "update", _product_edit(body))


@delete("/v1/products/{product_id:str}", status_code=200, tags=["products"])
async def delete_product(request: Request, product_id: FromPath[str]) -> Response:
    ctx = await begin(request, "write")
    await delete_one(ctx, PRODUCT, product_id)
    return no_content()


def _sku_in(body: dict[str, Any], sku_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {"id": sku_id}
    for k in ("source_id", "price", "metadata"):
        if k in body:
            out[k] = body[k]
    return out


@post("/v1/products/{product_id:str}/skus", tags=["products"])
async def create_sku(request: Request, product_id: FromPath[str]) -> Response:
    ctx = await begin(request, "write")
    body = await json_body(request)

    def build(st: State) -> Found:
        p = PRODUCT.get(st, product_id)
        sid = body.get("id") or new_id("sku_")
        if st.sku(sid) is not None or (
            body.get("source_id") and st.sku(body["source_id"]) is not None
        ):
            raise duplicate("sku", body.get("source_id") or sid)
        s = shapes.convert(_sku_in(body, sid), m.Sku, "sku")
        return Found(s, p.skus, p)

    return await create_one(ctx, SKU, build)


@get("/v1/products/{product_id:str}/skus", tags=["products"])
async def list_skus(request: Request, product_id: FromPath[str]) -> Response:
    ctx = await begin(request, "read")
    st = await ctx.repo.state()
    p = PRODUCT.get(st, product_id)
    data = [shapes.sku_out(s, p, st.times("sku", s.id)) for s in p.skus]
    return ok({"object": "list", "data_ref": "skus", "skus": data, "total": len(data)})


@get("/v1/skus/{sku_id:str}", tags=["products"])
async def get_sku(request: Request, sku_id: FromPath[str]) -> Response:
    return await get_one(await begin(request, "read"), SKU, sku_id)


@put("/v1/products/{product_id:str}/skus/{sku_id:str}", tags=["products"])
async def update_sku(
    request: Request, product_id: FromPath[str], sku_id: FromPath[str]
) -> Response:
    ctx = await begin(request, "write")
    body = await json_body(request)

    def edit(st: State, s: m.Sku, d: dict[str, Any]) -> dict[str, Any]:
        _source_id_free(st, SKU, s, body)
        return _merged(d, _sku_in(body, s.id))

    return await change_one(ctx, SKU, sku_id, "update", edit, parent_id=product_id)


@delete("/v1/products/{product_id:str}/skus/{sku_id:str}", status_code=200, tags=["products"])
async def delete_sku(
    request: Request, product_id: FromPath[str], sku_id: FromPath[str]
) -> Response:
    ctx = await begin(request, "write")
    await delete_one(ctx, SKU, sku_id, parent_id=product_id)
    return no_content()


HANDLERS = [
    create_campaign, list_campaigns, get_campaign, update_campaign, enable_campaign,
    disable_campaign, delete_campaign, add_vouchers, add_voucher_with_code,
    create_voucher, get_voucher, update_voucher, enable_voucher, disable_voucher,
    delete_voucher, list_vouchers,
    list_all_tiers, list_campaign_tiers, add_tier, get_tier, update_tier, enable_tier,
    disable_tier, delete_tier,
    create_rule, list_rules, get_rule, update_rule, delete_rule, create_assignment,
    list_assignments, list_all_assignments, delete_assignment,
    get_stacking, put_stacking,
    create_product, list_products, get_product, update_product, delete_product,
    create_sku, list_skus, get_sku, update_sku, delete_sku,
]  # fmt: skip
