"""Loyalty at run time: orders and events that earn, member reads, balance changes, rewards.

One :class:`Loyalty` per service (the gateway's and admin's), over the service's auto-pipeliner.
Core decides, Lua counts: the points of a paid order or an event are planned by
``core.earning`` (``plan_order_paid`` / ``plan_event``) and applied by ONE call of the wallet
script (``store.wallet``), together with the per-customer limit counters, the order record and
the customer's metrics (its plain ``writes``), idempotent on an operation id:

- an order earns once: op id ``order:<order id>:paid``, whatever the retries, the concurrent
  ``PAID`` updates or the path (``POST /v1/orders``, ``PUT``, a redemption);
- a PAID order that is cancelled gives back what it earned, once (``order:<id>:cancel``):
  ``POINTS_REMOVAL`` clamped at a zero balance (the shortfall recorded), pending points
  cancelled;
- an event counts once per ``Idempotency-Key``.

What the answers look like (Voucherify's shapes) is :mod:`store.members`' and this module's;
routes (auth, HTTP) are the services'.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import secrets
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated, Any, Literal

import msgspec
import orjson

from core import earning
from core import model as m
from core.segments import MAX_WINDOW_DAYS, matching, needs_points

from . import codebook
from .autopipe import AutoPipeline
from .codemaker import CodeMaker
from .errors import ApiError
from .keys import Keys, voucher_counter_keys
from .members import (
    CampaignGone,
    Context,
    Members,
    card_out,
    date_of_expiry,
    iso_ms,
    order_id_for,
    pending_out,
    transaction_out,
)
from .referrals import Referrals, refused, screen
from .wallet import (
    TX_PLACEHOLDER,
    ActivatePending,
    AdjustPending,
    CancelPending,
    Card,
    Credit,
    Debit,
    Transfer,
    Wallet,
    WalletResult,
    transaction_prefix,
    with_tx,
)

__all__ = ["Catalog", "Loyalty", "assignment_out", "reward_out", "reward_type"]

DAY_MS = 86_400_000
#: ``refresh(stored definitions version, the catalogue in use)`` -> the catalogue to use instead
#: (newer), or None when the one in use is current
Refresh = Callable[[int, "Catalog"], Awaitable["Catalog | None"]]
Cents = Annotated[int, msgspec.Meta(ge=0, le=10**13)]


def not_found(kind: str, ident: str) -> ApiError:
    return ApiError(404, "not_found", "Resource not found", f"Cannot find {kind} with id {ident}",
                    resource_id=ident, resource_type=kind)  # fmt: skip


def invalid(
    details: str, key: str = "invalid_payload", message: str = "Invalid payload"
) -> ApiError:
    return ApiError(400, key, message, details)


# -- the definitions a loyalty call reads ----------------------------------------------------


class Catalog:
    """Campaigns (by id and by name), rewards and reward assignments of one definitions
    document, with its earning index (``core.earning.EarningIndex``)."""

    def __init__(self, defs: m.Definitions, index: Any = None) -> None:
        self.index = index if index is not None else earning.compile_earning(defs)
        self.campaigns: dict[str, m.Campaign] = {}
        for c in defs.campaigns:
            self.campaigns[c.id] = c
        for c in defs.campaigns:
            self.campaigns.setdefault(c.name, c)
        self.rewards = {r.id: r for r in defs.rewards}
        self.assignments = {a.id: a for a in defs.reward_assignments}
        self.by_reward: dict[tuple[str, str], m.RewardAssignment] = {
            (a.campaign_id, a.reward_id): a for a in defs.reward_assignments
        }
        self.programs = [c.id for c in defs.campaigns if c.campaign_type == "LOYALTY_PROGRAM"]
        self.tiers = list(defs.loyalty_tiers)

    def campaign(self, ref: str) -> m.Campaign | None:
        return self.campaigns.get(ref)

    def program(self, ref: str) -> m.Campaign:
        """The loyalty program ``ref`` (id or name); 404 otherwise."""
        c = self.campaigns.get(ref)
        if c is None or c.campaign_type != "LOYALTY_PROGRAM":
            raise not_found("campaign", ref)
        return c


# -- rewards (shared shapes) -----------------------------------------------------------------


def reward_type(r: m.Reward) -> str:
    """A reward's type: as given, else from its one parameters member (the SDK drops ``type``)."""
    if r.type:
        return r.type
    p = r.parameters
    return "COIN" if p.coin is not None else "MATERIAL" if p.product is not None else "CAMPAIGN"


def reward_out(r: m.Reward, cat: Catalog, redeemed: int | None = None,
               times: tuple[int | None, int | None] = (None, None)) -> dict[str, Any]:  # fmt: skip
    """A reward (``Reward``): ``stock`` and ``redeemed`` integers (the SDK's StrictInt)."""
    p = r.parameters
    params: dict[str, Any] = {}
    if p.campaign is not None:
        target = cat.campaign(p.campaign.id)
        params["campaign"] = {
            "id": p.campaign.id,
            "balance": p.campaign.balance,
            "type": target.campaign_type if target is not None else p.campaign.type,
        }
    if p.product is not None:
        params["product"] = {"id": p.product.id, "sku_id": p.product.sku_id}
    if p.coin is not None:
        params["coin"] = {"exchange_ratio": p.coin.exchange_ratio,
                          "points_ratio": int(p.coin.points_ratio)}  # fmt: skip
    return {
        "id": r.id,
        "name": r.name,
        "stock": r.stock,
        "redeemed": redeemed if redeemed is not None else (0 if r.stock is not None else None),
        "attributes": msgspec.to_builtins(r.attributes) if r.attributes is not None else {},
        "metadata": r.metadata or {},
        "type": reward_type(r),
        "parameters": params,
        "created_at": iso_ms(times[0]),
        "updated_at": iso_ms(times[1]),
        "object": "reward",
    }


def _assignment_points(a: m.RewardAssignment) -> int | None:
    if a.points is not None:
        return a.points
    lp = a.parameters.loyalty if a.parameters is not None else None
    return lp.points if lp is not None else None


def assignment_out(a: m.RewardAssignment, times: tuple[int | None, int | None] = (None, None),
                   points: int | None = None) -> dict[str, Any]:  # fmt: skip
    """A reward assignment (``RewardAssignment``); ``points`` overrides the price (a tier's)."""
    lp = a.parameters.loyalty if a.parameters is not None else None
    price = points if points is not None else _assignment_points(a)
    return {
        "id": a.id,
        "reward_id": a.reward_id,
        "related_object_id": a.campaign_id,
        "related_object_type": "campaign",
        "parameters": {
            "loyalty": {
                "points": price,
                "auto_redeem": (lp.auto_redeem if lp is not None else None) or a.auto_redeem,
            }
        },  # fmt: skip
        "created_at": iso_ms(times[0]),
        "updated_at": iso_ms(times[1]),
        "object": "reward_assignment",
    }


def tier_out(t: m.LoyaltyTier) -> dict[str, Any]:
    """A loyalty tier (``LoyaltyTier``): points from / to, mappings as given."""
    pts = {"from": t.points.from_, "to": t.points.to}
    return {
        "id": t.id,
        "name": t.name,
        "campaign_id": t.campaign_id,
        "metadata": t.metadata or {},
        "earning_rules": msgspec.to_builtins(t.earning_rules or {}),
        "rewards": msgspec.to_builtins(t.rewards or {}),
        "points": pts,
        "config": {"points": dict(pts)},
        "created_at": None,
        "updated_at": None,
        "object": "loyalty_tier",
    }


# -- orders ----------------------------------------------------------------------------------


class OrderBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``POST /v1/orders`` / ``PUT /v1/orders/{id}`` (explicit nulls = absent)."""

    id: str | None = None
    source_id: str | None = None
    status: Literal["CREATED", "PAID", "CANCELED", "FULFILLED"] | None = None
    amount: Cents | None = None
    initial_amount: Cents | None = None
    discount_amount: Cents | None = None
    items: list[m.OrderItem] | None = None
    metadata: dict[str, Any] | None = None
    customer: m.Customer | None = None
    customer_id: m.Ident | None = None
    referrer: m.Customer | None = None
    referrer_id: m.Ident | None = None


_ORDER_FIELDS = ("amount", "initial_amount", "discount_amount", "metadata")


def _record(rec: dict[str, Any]) -> bytes:
    """A stored record's JSON: msgspec, whose integers are not bounded to 64 bits (a client's
    metadata may hold any JSON number; orjson would refuse it)."""
    return msgspec.json.encode(rec)


def order_out(rec: dict[str, Any]) -> dict[str, Any]:
    """An order record as Voucherify answers it (``OrdersCreateResponseBody``)."""
    out = {k: v for k, v in rec.items() if not k.startswith("_")}
    cid = rec.get("customer_id")
    out["customer"] = {"id": cid, "object": "customer"} if cid else None
    ref = rec.get("referrer_id")
    out["referrer"] = {"id": ref, "object": "customer"} if ref else None
    out["created_at"] = iso_ms(rec.get("_created"))
    out["updated_at"] = iso_ms(rec.get("_updated"))
    amount = int(rec.get("amount") or 0)
    disc = int(rec.get("discount_amount") or 0)
    items_disc = int(rec.get("items_discount_amount") or 0)
    out.setdefault("discount_amount", disc)
    out["items_discount_amount"] = items_disc
    out["total_discount_amount"] = disc + items_disc
    out["total_amount"] = max(0, amount - disc - items_disc)
    out["redemptions"] = rec.get("redemptions") or {}
    out["object"] = "order"
    return out


class Earned(msgspec.Struct, frozen=True, array_like=True):
    """What an order earned on one card (kept on the order record, to give back on cancel)."""

    campaign_id: str
    code: str
    points: int
    pending_id: str = ""


def _customer_model(c: dict[str, Any], metrics: dict[str, int]) -> m.Customer:
    """The customer as core judges it: the stored attributes and the LIVE metrics (before this
    order), never the client's word for them."""
    keep = {k: c.get(k) for k in ("id", "source_id", "name", "email", "phone", "birthdate",
                                  "address", "metadata", "segments")}  # fmt: skip
    cust = msgspec.convert({k: v for k, v in keep.items() if v is not None}, m.Customer)
    cust.summary = m.CustomerSummary(
        orders=m.CustomerOrdersSummary(
            total_count=max(0, metrics.get("count", 0)),
            total_amount=max(0, metrics.get("amount", 0)),
        )
    )
    return cust


class IssuedCode(msgspec.Struct, frozen=True, array_like=True):
    """A code a reward issued (what revoking it touches)."""

    code: str
    campaign_id: str
    uses: str  # its logical counter keys (core's spelling, no prefix)
    spent: str
    owners: list[str]  # the customer keys whose code sets list it


class Given(msgspec.Struct, kw_only=True):
    """What a reward gives, as parts of one wallet call (:meth:`Loyalty.give`)."""

    ops: list[Any] = []
    writes: list[Any] = []
    issued: dict[str, Any] | None = None
    points: tuple[str, str, int] | None = None  # (campaign id, card code, points) credited
    code: IssuedCode | None = None


def _undo_step(w: tuple[str, str, str, str]) -> dict[str, Any]:
    """A revoking wallet write as an undo step of store/lua/rollback.lua."""
    verb, key, a, _ = w
    if verb in ("set", "hdel", "srem", "lrem", "publish"):
        return {verb: [key, a]}
    return {verb: key}


class Loyalty:
    """Members, wallets, orders and events of one key prefix."""

    def __init__(self, pipe: AutoPipeline, prefix: str) -> None:
        self.k = Keys(prefix)
        self.pipe = pipe
        self.members = Members(pipe, self.k)
        self.wallet = Wallet(pipe, prefix)
        self.referrals = Referrals(self)
        #: the dynamic segments as ``[(id, core.segments.Filter)]`` (the gateway's cached
        #: ``Live`` definitions), when the service has them: an order or event that moves a
        #: customer into one runs its ``customer.segment.entered`` rules
        self.dynamic_segments: Callable[[], Awaitable[list[Any]]] | None = None

    async def load_scripts(self) -> None:
        await self.members.load_scripts()
        await self.wallet.load_scripts()

    # -- member reads ----------------------------------------------------------------------

    async def find(
        self, cat: Catalog, ident: str, campaign_ref: str | None = None
    ) -> tuple[m.Voucher, int, m.Campaign]:
        """The card ``ident`` (code or ``v_`` id), its creation time and program; 404 when there
        is none, or (campaign-scoped) when it is a card of another program."""
        camp_scope = cat.program(campaign_ref) if campaign_ref is not None else None
        found = await self.members.card(ident)
        if found is None:
            raise not_found("voucher", ident)
        v, created = found
        camp = cat.campaign(v.campaign_id or "")
        if camp is None or camp.campaign_type != "LOYALTY_PROGRAM":
            raise not_found("voucher", ident)
        if camp_scope is not None and camp_scope.id != camp.id:
            raise not_found("campaign", campaign_ref or "")
        return v, created, camp

    async def member(self, cat: Catalog, ident: str, now_ms: int,
                     campaign_ref: str | None = None) -> dict[str, Any]:  # fmt: skip
        v, created, camp = await self.find(cat, ident, campaign_ref)
        card = await self.wallet.card(camp.id, v.code, now_ms)
        return card_out(v, camp, card, created)

    async def transactions(self, cat: Catalog, ident: str, now_ms: int, *, limit: int = 10,
                           starting_after: str | None = None, newest_first: bool = True,
                           campaign_ref: str | None = None) -> dict[str, Any]:  # fmt: skip
        v, _, camp = await self.find(cat, ident, campaign_ref)
        try:
            page = await self.wallet.transactions(camp.id, v.code, now_ms, limit=limit,
                                                  starting_after=starting_after,
                                                  newest_first=newest_first)  # fmt: skip
        except ValueError as exc:
            raise invalid(str(exc)) from None
        data = [transaction_out(t, v) for t in page.transactions]
        return {"object": "list", "data_ref": "data", "data": data, "has_more": page.has_more,
                "more_starting_after": data[-1]["id"] if page.has_more and data else None}  # fmt: skip

    async def pending(self, cat: Catalog, ident: str, now_ms: int, *, limit: int = 10,
                      starting_after: str | None = None,
                      campaign_ref: str | None = None) -> dict[str, Any]:  # fmt: skip
        v, _, camp = await self.find(cat, ident, campaign_ref)
        page = await self.wallet.pending(camp.id, v.code, now_ms, limit=limit,
                                         starting_after=starting_after)  # fmt: skip
        data = [pending_out(p, v) for p in page.pending]
        return {"object": "list", "data_ref": "data", "data": data, "has_more": page.has_more,
                "more_starting_after": data[-1]["id"] if page.has_more and data else None}  # fmt: skip

    async def expirations(self, cat: Catalog, campaign_ref: str, ident: str, now_ms: int, *,
                          limit: int = 10, page: int = 1) -> dict[str, Any]:  # fmt: skip
        v, created, camp = await self.find(cat, ident, campaign_ref)
        got = await self.wallet.buckets(camp.id, v.code, now_ms, limit=1000)
        expiring = [b for b in got.buckets if b.expires_at_ms is not None]
        chunk = expiring[(page - 1) * limit : page * limit]
        tag = hashlib.sha1(f"{camp.id}\0{v.code}".encode()).hexdigest()[:12]
        data = [{
            "id": f"lopb_{tag}_{b.expires_at_ms}",
            "voucher_id": v.id or v.code,
            "campaign_id": camp.id,
            "bucket": {"total_points": b.points},
            "status": "ACTIVE",
            "expires_at": date_of_expiry(b.expires_at_ms),
            "created_at": iso_ms(created),
            "updated_at": None,
            "object": "loyalty_points_bucket",
        } for b in chunk]  # fmt: skip
        return {"object": "list", "data_ref": "data", "data": data, "total": len(expiring)}

    async def tier_of(self, cat: Catalog, camp_id: str, points: int) -> str:
        return earning.tier_for_points(cat.index, camp_id, points).tier_id

    async def member_activity(self, cat: Catalog, ident: str, now_ms: int, *, limit: int = 10,
                              starting_after: str | None = None, newest_first: bool = True,
                              campaign_ref: str | None = None) -> dict[str, Any]:  # fmt: skip
        """``list_member_activity``: the card's life as Voucherify's member events, read from
        its transactions (no second store): points added / expired / transferred, pending
        points activated, redemptions and their rollbacks (with the spec's own spelling
        ``succceeded``, which the SDK's closed enum requires). Removals have no member event in
        Voucherify's list: they are in the transactions."""
        after = None
        if starting_after:
            if not starting_after.startswith("evcus_"):
                raise invalid("`starting_after_id` is an activity id (evcus_...)")
            after = starting_after.removeprefix("evcus_")
        v, _, camp = await self.find(cat, ident, campaign_ref)
        try:
            page = await self.wallet.transactions(camp.id, v.code, now_ms, limit=limit, starting_after=after,
                                                  newest_first=newest_first)  # fmt: skip
        except ValueError as exc:
            raise invalid(str(exc)) from None
        data = []
        for t in page.transactions:
            typ = _MEMBER_EVENTS.get(t.type)
            if typ is None:
                continue
            if (
                t.type == "POINTS_REDEMPTION"
                and b'"reward"' in t.details
                and b'"order"' not in t.details
            ):
                typ = "customer.reward_redemptions.created"
            data.append({
                "id": "evcus_" + t.id,
                "type": typ,
                "data": {"data": {"balance": {"points": t.points, "type": "loyalty_card", "total": t.total,
                                              "object": "balance", "balance": t.balance,
                                              "operation_type": "MANUAL" if t.reason else "AUTOMATIC",
                                              "related_object": {"id": v.id or v.code, "type": "voucher"}}},
                         "event_source": {"channel": "API"}},
                "created_at": iso_ms(t.created_at_ms),
                "group_id": t.source_id or None,
            })  # fmt: skip
        last = page.transactions[-1].id if page.transactions else None
        return {"object": "list", "data_ref": "data", "data": data, "has_more": page.has_more,
                "more_starting_after": "evcus_" + last if page.has_more and last else None}  # fmt: skip

    async def customer_activity(self, ident: str, now_ms: int, *, limit: int = 10,
                                starting_after: str | None = None, newest_first: bool = True,
                                types: str | None = None) -> dict[str, Any]:  # fmt: skip
        """``list_customer_activity``: the customer's events kept by the order, event and reward
        calls (about the last 1,000), newest first; ``types`` filters on one event type."""
        cust = await self._known_customer(ident, now_ms)
        key = self.k.customer_activity(cust["id"])
        cursor = "+" if newest_first else "-"
        if starting_after:
            eid = starting_after.removeprefix("evcus_")
            if not eid.replace("-", "").isdigit():
                raise invalid("`starting_after_id` is an activity id (evcus_...)")
            cursor = "(" + eid
        data: list[dict[str, Any]] = []
        more = False
        while len(data) <= limit:
            if newest_first:
                entries = await self.pipe.execute_command(
                    "XREVRANGE", key, cursor, "-", "COUNT", 100
                )
            else:
                entries = await self.pipe.execute_command("XRANGE", key, cursor, "+", "COUNT", 100)
            if not entries:
                break
            for eid_raw, fields in entries:
                eid = _text(eid_raw)
                f = _fields(fields)
                if types and f.get("type") != types:
                    continue
                if len(data) == limit:
                    more = True
                    break
                data.append({"id": "evcus_" + eid, "type": f.get("type"),
                             "data": orjson.loads(f.get("data") or "{}"),
                             "created_at": iso_ms(int(f.get("at") or 0)), "group_id": None})  # fmt: skip
            if more:
                break
            cursor = "(" + _text(entries[-1][0])
        return {"object": "list", "data_ref": "data", "data": data, "has_more": more,
                "more_starting_after": data[-1]["id"] if more and data else None}  # fmt: skip

    async def member_tiers(self, cat: Catalog, ident: str, now_ms: int) -> dict[str, Any]:
        """``list_member_loyalty_tier``: the tier the member is in now (none below every tier),
        with the points still missing to the next one in its ``metadata``-free ``config``."""
        v, _, camp = await self.find(cat, ident)
        card = await self.wallet.card(camp.id, v.code, now_ms)
        st = earning.tier_for_points(cat.index, camp.id, card.points)
        data = []
        for t in cat.tiers:
            if t.id == st.tier_id:
                out = tier_out(t)
                out["expiration"] = None
                out["points_to_next_tier"] = None if st.points_to_next < 0 else st.points_to_next
                data.append(out)
        return {"object": "list", "data_ref": "data", "data": data, "total": len(data)}

    async def member_rewards(self, cat: Catalog, ident: str, now_ms: int,
                             affordable_only: bool = False) -> dict[str, Any]:  # fmt: skip
        v, _, camp = await self.find(cat, ident)
        card = await self.wallet.card(camp.id, v.code, now_ms)
        tier = earning.tier_for_points(cat.index, camp.id, card.points).tier_id or None
        items = []
        stock_keys = []
        rows = []
        for aid, rid, price in earning.rewards_for(cat.index, camp.id, tier):
            r, a = cat.rewards.get(rid), cat.assignments.get(aid)
            if r is None or a is None:
                continue
            if affordable_only and (price is None or price > card.balance):
                continue
            rows.append((r, a, price))
            stock_keys.append(self.k.reward_redeemed(rid))
        redeemed = await self.pipe.execute_command("MGET", *stock_keys) if stock_keys else []
        for (r, a, price), red in zip(rows, redeemed, strict=True):
            items.append({"reward": reward_out(r, cat, int(red or 0)),
                          "assignment": assignment_out(a, points=price),
                          "object": "loyalty_reward"})  # fmt: skip
        return {"object": "list", "data_ref": "data", "data": items, "total": len(items)}

    async def _known_customer(self, ident: str, now_ms: int) -> dict[str, Any]:
        """The stored customer whose id or source_id is ``ident``; 404 otherwise."""
        ref = (
            m.Customer(id=ident)
            if ident.startswith("cust_")
            else m.Customer(source_id=ident, id=ident)
        )
        cust = await self.members.customer(ref, now_ms, create=False)
        if cust is None:
            raise not_found("customer", ident)
        return cust

    async def customer_loyalty(
        self, cat: Catalog, customer: dict[str, Any], now_ms: int, referrals: bool = True
    ) -> dict[str, Any]:
        """The live parts of a customer object: ``summary`` (orders from the metrics the
        order calls keep; redeemed points from the cards) and ``loyalty`` (points per program,
        keyed by program name as Voucherify does, with the member's tier)."""
        holdings, mx = await _both(self.members.holdings(customer["id"], cat.programs),
                                   self.members.metrics(customer["id"]))  # fmt: skip
        cards = await _gather(self.wallet.card(c, code, now_ms) for c, code in holdings.items())
        ref, referred = (
            await self.referrals.summary(cat, customer) if referrals else ({}, {})
        )
        count, amount = max(0, mx.get("count", 0)), max(0, mx.get("amount", 0))
        campaigns = {}
        for (cid, _), card in zip(holdings.items(), cards, strict=True):
            camp = cat.campaign(cid)
            tier = earning.tier_for_points(cat.index, cid, card.points).tier_id or None
            campaigns[camp.name if camp is not None else cid] = {
                "points": card.balance, "loyalty_tier": tier, "referred_customers": 0}  # fmt: skip
        for name, n in referred.items():  # referral programmes: the referees converted
            if n:
                campaigns[name] = {"points": 0, "loyalty_tier": None, "referred_customers": n}
        return {
            "summary": {
                "redemptions": {
                    "loyalty_card": {
                        "redeemed_points": sum(c.redeemed for c in cards),
                        "points_to_go": sum(c.balance for c in cards),
                    }
                },  # fmt: skip
                "orders": {
                    "total_amount": amount,
                    "total_count": count,
                    "average_amount": amount // count if count else 0,
                    "last_order_amount": mx.get("last_order_amount"),
                    "last_order_date": iso_ms(mx.get("last_order_at")),
                },
            },
            "loyalty": {
                "points": sum(c.balance for c in cards),
                "referred_customers": sum(referred.values()),
                "campaigns": campaigns,
            },  # fmt: skip
            "referrals": ref,
        }

    async def customer_wallet(self, cat: Catalog, ident: str, now_ms: int, *, limit: int = 10,
                              starting_after: str | None = None, newest_first: bool = False) -> dict[str, Any]:  # fmt: skip
        """``list_customer_redeemables``: the codes, gift cards and loyalty cards held by the
        customer ``ident`` (id or source_id), with live balances, ordered by code."""
        cust = await self._known_customer(ident, now_ms)
        sets = [self.k.customer_codes(cust["id"])]
        if cust.get("source_id"):
            sets.append(self.k.customer_codes(cust["source_id"]))
        codes = sorted({_text(c) for c in await self.pipe.execute_command("SUNION", *sets)},
                       reverse=newest_first)  # fmt: skip
        if starting_after:
            codes = [
                c for c in codes if (c < starting_after if newest_first else c > starting_after)
            ]
        page, more = codes[:limit], len(codes) > limit
        recs = await self.members.cards(page)
        spent_keys = [self.k.counter(voucher_counter_keys(r[0])[1]) for r in recs if r is not None]
        spent = iter(await self.pipe.execute_command("MGET", *spent_keys) if spent_keys else [])
        data = []
        for rec in recs:
            if rec is None:
                continue
            v, created = rec
            camp = cat.campaign(v.campaign_id or "")
            used = int(next(spent) or 0)
            if camp is not None and camp.campaign_type == "LOYALTY_PROGRAM":
                card = await self.wallet.card(camp.id, v.code, now_ms)
                voucher, vtype = card_out(v, camp, card, created), "LOYALTY_CARD"
                status = "ACTIVE" if card.balance > 0 else "NO_BALANCE"
            else:
                tpl = camp.voucher if camp is not None else None
                gift = v.gift or (tpl.gift if tpl is not None else None)
                disc = v.discount or (tpl.discount if tpl is not None else None)
                vtype = "GIFT_VOUCHER" if gift is not None else "DISCOUNT_VOUCHER"
                balance = max(0, gift.amount - used) if gift is not None else None
                voucher = {"id": v.id or v.code, "code": v.code, "campaign": camp.name if camp else None,
                           "campaign_id": v.campaign_id, "type": vtype, "active": v.active,
                           "discount": msgspec.to_builtins(disc) if disc is not None else None,
                           "gift": {"amount": gift.amount, "balance": balance, "effect": "APPLY_TO_ORDER"}
                           if gift is not None else None,
                           "metadata": v.metadata or {}, "holder_id": cust["id"], "object": "voucher"}  # fmt: skip
                status = "NO_BALANCE" if balance == 0 else "ACTIVE" if v.active else "DISABLED"
            data.append({
                "id": "rh_" + hashlib.sha1(f"{cust['id']}\0{v.code}".encode()).hexdigest()[:20],
                "created_at": iso_ms(created or None),
                "redeemable_id": v.id or v.code,
                "redeemable_object": "voucher",
                "customer_id": cust["id"],
                "holder_role": "OWNER",
                "campaign_id": v.campaign_id,
                "campaign_type": camp.campaign_type if camp is not None else "DISCOUNT_COUPONS",
                "voucher_type": vtype,
                "redeemable": {"type": "voucher", "voucher": voucher, "status": status},
                "object": "customer_redeemable",
            })  # fmt: skip
        return {"object": "list", "data_ref": "data", "data": data, "total": len(codes), "has_more": more,
                "more_starting_after": page[-1] if more and page else None}  # fmt: skip

    # -- balance changes (admin) -----------------------------------------------------------

    async def add_member(self, cat: Catalog, campaign_ref: str, customer: m.Customer | None,
                         now_ms: int, code: str | None = None,
                         metadata: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
        camp = cat.program(campaign_ref)
        if customer is None or not (customer.id or customer.source_id):
            raise invalid("`customer` (its id or source_id) is required")
        if code is not None:  # a code named: refused before anything is written
            found = await self.members.card(code)
            if found is not None:
                v0 = found[0]
                known = await self.members.customer(customer, now_ms, create=False)
                if (
                    known is not None
                    and v0.customer_id == known["id"]
                    and v0.campaign_id == camp.id
                ):
                    card = await self.wallet.card(camp.id, v0.code, now_ms)
                    return card_out(v0, camp, card, found[1])
                raise ApiError(400, "voucher_already_published", "Voucher already published",
                               f"Voucher {code} is published to another customer or program")  # fmt: skip
        cust = await self.members.customer(customer, now_ms, create=True)
        if cust is None:
            raise not_found("customer", customer.id or "")
        try:
            v, created, _ = await self.members.join(
                camp, cust, now_ms, code=code, metadata=metadata
            )
        except CampaignGone:
            raise not_found("campaign", campaign_ref) from None
        except ValueError as exc:
            raise ApiError(
                400, "voucher_already_published", "Voucher already published", str(exc)
            ) from None
        await self.initial_points(camp, v.code, now_ms)
        card = await self.wallet.card(camp.id, v.code, now_ms)
        return card_out(v, camp, card, created)

    async def _apply(self, ops: list[Any], now_ms: int, *, op_id: str | None = None, fp: str = "",
                     limits: Iterable[Any] = (), writes: Any = (), scope: str | None = None,
                     quiet: tuple[str, ...] = ()) -> WalletResult:  # fmt: skip
        res = await self.wallet.apply(ops, now_ms, op_id=op_id, fingerprint=fp or None,
                                      limits=limits, writes=writes, scope=scope)  # fmt: skip
        if res.status == "failed" and res.failure is not None and res.failure.error not in quiet:
            f = res.failure
            if f.error == "loyalty_card_points_exceeded":
                raise ApiError(400, f.error, "Loyalty card points exceeded",
                               f"the card's balance is {f.available} points, {f.requested} needed")  # fmt: skip
            if f.error in ("invalid_pending_points_state",):
                raise ApiError(400, f.error, "Invalid pending points state",
                               "Only pending points in 'PENDING' status can be activated/updated/canceled")  # fmt: skip
            if f.error == "not_found":
                raise ApiError(404, "not_found", "Resource not found", "Cannot find pending_points")
            if f.error == "invalid_amount":
                raise ApiError(400, "invalid_amount", "Invalid amount",
                               f"pending points would fall below 0 ({f.available} {f.requested:+d})")  # fmt: skip
            raise ApiError(400, f.error, f.error.replace("_", " ").capitalize(), f.error)
        if res.status == "conflict":
            raise ApiError(409, "duplicate_source_id", "Duplicated source_id",
                           "this source_id was used with another request")  # fmt: skip
        return res

    async def adjust_balance(self, cat: Catalog, ident: str, body: dict[str, Any], now_ms: int,
                             campaign_ref: str | None = None) -> dict[str, Any]:  # fmt: skip
        """``update_loyalty_card_balance``: add (with an expiry choice) or remove points."""
        v, _, camp = await self.find(cat, ident, campaign_ref)
        pts = body.get("points")
        if not isinstance(pts, int) or isinstance(pts, bool) or pts == 0 or abs(pts) > 10**12:
            raise invalid("`points` must be a non-zero integer")
        reason = body.get("reason") or ""
        source_id = body.get("source_id") or ""
        if not isinstance(reason, str) or not isinstance(source_id, str) or len(reason) > 1000:
            raise invalid("`reason` and `source_id` must be strings")
        if pts > 0:
            expires = self._expiry_choice(cat, camp, body, now_ms)
            op: Any = Credit(campaign_id=camp.id, code=v.code, points=pts, type="POINTS_ADDITION",
                             expires_at_ms=expires, reason=reason, source_id=source_id)  # fmt: skip
        else:
            op = Debit(campaign_id=camp.id, code=v.code, points=-pts, type="POINTS_REMOVAL",
                       mode="exact", reason=reason, source_id=source_id)  # fmt: skip
        op_id = f"balance:{source_id}" if source_id else None
        fp = hashlib.sha256(orjson.dumps(msgspec.to_builtins(op))).hexdigest() if op_id else ""
        res = await self._apply([op], now_ms, op_id=op_id, fp=fp, scope=camp.id)
        r = res.results[0]
        return {"points": pts, "total": r.total, "balance": r.balance, "type": "loyalty_card",
                "object": "balance", "operation_type": "MANUAL",
                "related_object": {"type": "voucher", "id": v.id or v.code}}  # fmt: skip

    def _expiry_choice(self, cat: Catalog, camp: m.Campaign, body: dict[str, Any],
                       now_ms: int) -> int | None:  # fmt: skip
        kind = body.get("expiration_type") or "PROGRAM_RULES"
        if kind == "NON_EXPIRING":
            return None
        if kind == "CUSTOM_DATE":
            raw = body.get("expiration_date")
            if not isinstance(raw, str):
                raise invalid("`expiration_date` is required with CUSTOM_DATE")
            try:
                if len(raw) == 10:
                    t = _dt.datetime.fromisoformat(raw).replace(tzinfo=_dt.UTC) + _dt.timedelta(
                        days=1
                    )
                else:
                    t = _dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
                    if t.tzinfo is None:
                        t = t.replace(tzinfo=_dt.UTC)
            except ValueError:
                raise invalid(f"`expiration_date` {raw!r} is not a date") from None
            ms = int(t.timestamp() * 1000)
            if ms <= now_ms:
                raise ApiError(400, "invalid_expiration_date", "Invalid expiration date",
                               "expiration_date cannot be set in the past")  # fmt: skip
            return ms
        if kind != "PROGRAM_RULES":
            raise invalid("`expiration_type` is PROGRAM_RULES, CUSTOM_DATE or NON_EXPIRING")
        rules = (
            camp.voucher.loyalty_card.expiration_rules
            if camp.voucher and camp.voucher.loyalty_card
            else None
        )
        if rules is None:
            return None
        x = earning.expires_at_ms(rules, now_ms)
        return None if x is None else int(x)

    async def transfer(self, cat: Catalog, campaign_ref: str, ident: str,
                       items: list[dict[str, Any]], now_ms: int) -> dict[str, Any]:  # fmt: skip
        """``transfer_points``: points of each source card onto the card ``ident``."""
        dest, created, camp = await self.find(cat, ident, campaign_ref)
        ops = []
        for i, it in enumerate(items):
            if not isinstance(it, dict):
                raise invalid(f"[{i}] must be an object")
            code, pts = it.get("code"), it.get("points")
            if not isinstance(code, str) or not code:
                raise invalid(f"[{i}].code is required")
            if not isinstance(pts, int) or isinstance(pts, bool) or not 0 < pts <= 10**12:
                raise invalid(f"[{i}].points must be a positive integer")
            src, _, scamp = await self.find(cat, code)
            if src.code == dest.code:
                raise invalid(f"[{i}]: a card cannot transfer to itself")
            expires = self._expiry_choice(cat, camp, {}, now_ms)
            ops.append(Transfer(campaign_id=scamp.id, code=src.code, to_campaign_id=camp.id,
                                to_code=dest.code, points=pts, expires_at_ms=expires,
                                reason=str(it.get("reason") or ""), source_id=str(it.get("source_id") or ""),
                                details=orjson.dumps({"destination_voucher": {"id": dest.id, "code": dest.code}}),
                                to_details=orjson.dumps({"source_voucher": {"id": src.id, "code": src.code}})))  # fmt: skip
        if not ops:
            raise invalid("the body must list at least one transfer")
        await self._apply(ops, now_ms)
        card = await self.wallet.card(camp.id, dest.code, now_ms)
        out = card_out(dest, camp, card, created)
        # the SDK's transfer answer REQUIRES these two, and types `active` as a string (sic):
        # a boolean there makes it raise, so the transfer answer leaves `active` out
        out["validity_timeframe"] = {}
        out["validity_day_of_week"] = []
        out["active"] = None
        return out

    async def pending_action(self, cat: Catalog, ident: str, pending_id: str, action: str,
                             now_ms: int, points: Any = None,
                             campaign_ref: str | None = None) -> dict[str, Any] | None:  # fmt: skip
        v, _, camp = await self.find(cat, ident, campaign_ref)
        if action == "activate":
            op: Any = ActivatePending(campaign_id=camp.id, code=v.code, pending_id=pending_id)
        elif action == "cancel":
            op = CancelPending(campaign_id=camp.id, code=v.code, pending_id=pending_id)
        else:
            if (
                not isinstance(points, int)
                or isinstance(points, bool)
                or points == 0
                or abs(points) > 10**12
            ):
                raise invalid("`points` must be a non-zero integer")
            op = AdjustPending(
                campaign_id=camp.id, code=v.code, pending_id=pending_id, points=points
            )
        res = await self._apply([op], now_ms)
        if action == "cancel":
            return None
        r = res.results[0]
        out = {"points": r.pending_points if action == "adjust" else r.points, "total": r.total,
               "object": "balance", "operation_type": "MANUAL",
               "related_object": {"type": "voucher", "id": v.id or v.code}}  # fmt: skip
        if action == "activate":
            out.update(balance=r.balance, type="loyalty_card")
        return out

    # -- orders (gateway) ------------------------------------------------------------------

    async def _read_order(self, order_id: str) -> dict[str, Any] | None:
        raw = await self.pipe.execute_command("GET", self.k.order(order_id))
        return msgspec.json.decode(raw) if raw is not None else None

    async def get_order(self, ident: str) -> dict[str, Any]:
        rec = await self._read_order(ident)
        if rec is None:
            rec = await self._read_order(order_id_for(ident))
        if rec is None:
            raise not_found("order", ident)
        return order_out(rec)

    async def _context(self, cat: Catalog, refresh: Refresh | None, customer: m.Customer | None,
                       order_keys: tuple[str, ...] = (), fallback: str = "") -> tuple[Catalog, Context]:  # fmt: skip
        """:meth:`Members.context` on the newest definitions: when Redis holds a newer version
        than ``cat`` (``refresh`` loads it), read again against it."""
        ctx = await self.members.context(cat.programs, customer, order_keys, fallback)
        if refresh is not None:
            newer = await refresh(ctx.version, cat)
            if newer is not None:
                cat = newer
                ctx = await self.members.context(cat.programs, customer, order_keys, fallback)
        return cat, ctx

    async def save_order(self, cat: Catalog, body: OrderBody, now_ms: int, order_id: str | None = None,
                         create: bool = True, refresh: Refresh | None = None) -> dict[str, Any]:  # fmt: skip
        """Create or update an order; reaching PAID earns (once), PAID then CANCELED gives the
        points back (once). ``order_id``: the ``PUT`` path's id or source_id (404 when
        unknown). ``refresh(version)``: the newer catalogue when Redis holds a newer definitions
        version (read your writes), else None.

        Round trips in the steady state: one read (``lua/loyalty_read.lua``: order, customer,
        metrics, cards) and one wallet call; more only for a new customer, a card to publish
        (auto-join), per-customer limits to read, a PUT that names no customer and pays the
        order (the customer it names is read then; a cancellation, a rollback's, needs only
        the stored order)."""
        oid = order_id or body.id or (order_id_for(body.source_id) if body.source_id else None)
        if oid is None:
            oid = "ord_" + secrets.token_hex(12)
        keys = (self.k.order(oid),)
        if order_id is not None:
            keys += (self.k.order(order_id_for(order_id)),)
        cust_ref = body.customer
        if cust_ref is None and body.customer_id:
            cust_ref = m.Customer(id=body.customer_id)
        cat, ctx = await self._context(cat, refresh, cust_ref, keys)
        cur = ctx.order
        if cur is not None:
            oid = cur["id"]
        elif not create:
            raise not_found("order", order_id or "")
        # the customer an order names is read only to earn for it (becoming PAID, once): any
        # other update keeps the stored order's customer_id as it is
        stored = cur or {}
        earns = (body.status or stored.get("status")) == "PAID" and not stored.get("_paid")
        if cust_ref is None and cur is not None and cur.get("customer_id") and earns:
            cat, ctx = await self._context(cat, refresh, None, keys, cur["customer_id"])
        cust = ctx.customer
        if cust is None and cust_ref is not None:
            cust = await self.members.customer(cust_ref, now_ms, create=True)
            ctx = Context(version=ctx.version, order=cur, customer=cust, metrics={}, cards={})
        rec: dict[str, Any] = dict(cur) if cur is not None else {"id": oid, "_created": now_ms}
        if body.source_id is not None:
            rec["source_id"] = body.source_id
        for f in _ORDER_FIELDS:
            val = getattr(body, f)
            if val is not None:
                rec[f] = val
        if body.items is not None:
            rec["items"] = [
                {**msgspec.to_builtins(it), "object": "order_item"} for it in body.items
            ]
            if body.amount is None:
                rec["amount"] = sum(
                    int(it.amount or (it.price or 0) * (it.quantity or 0)) for it in body.items
                )
        if cust is not None:
            rec["customer_id"] = cust["id"]
        if body.referrer_id:
            rec["referrer_id"] = body.referrer_id
        before = (cur or {}).get("status")
        rec["status"] = body.status or before or "CREATED"
        rec["_updated"] = now_ms
        if rec["status"] == "PAID" and not rec.get("_paid"):
            await self._earn(cat, rec, cust, now_ms, ctx)
        elif rec["status"] == "CANCELED" and rec.get("_paid") and not rec.get("_canceled"):
            await self._give_back(rec, now_ms)
        else:
            await self.pipe.execute_command("SET", self.k.order(rec["id"]), _record(rec))
        return order_out(rec)

    def _order_model(self, rec: dict[str, Any]) -> m.Order:
        keep = {k: rec.get(k) for k in ("id", "source_id", "amount", "discount_amount", "metadata")}
        d = {k: v for k, v in keep.items() if v is not None}
        d["status"] = "PAID"
        if rec.get("items"):
            d["items"] = [{k: v for k, v in it.items() if k != "object"} for it in rec["items"]]
        return msgspec.convert(d, m.Order)

    async def _earn(self, cat: Catalog, rec: dict[str, Any], cust: dict[str, Any] | None,
                    now_ms: int, ctx: Context | None = None) -> None:  # fmt: skip
        """Earn on a PAID order, update the customer's metrics and save the record: one wallet
        call, idempotent on the order (a repeat earns nothing and keeps the first record)."""
        oid = rec["id"]
        earned: list[Earned] = []
        ops: list[Any] = []
        limits: list[Any] = []
        writes: list[Any] = []
        if cust is not None:
            plan = await self._plan(cat, cust, lambda cards, c, counters: earning.plan_order_paid(
                cat.index, cards, c, self._order_model(rec), now_ms, counters), now_ms, ctx)  # fmt: skip
            for a in plan.accruals:
                ops.append(Credit(**a.credit()))
                earned.append(
                    Earned(a.campaign_id, a.code, a.points, a.pending_id if a.pending else "")
                )
            limits = list(plan.limits)
            mk = self.k.customer_metrics(cust["id"])
            amount = int(rec.get("amount") or 0)
            writes += [("hincr", mk, "count", 1), ("hincr", mk, "amount", amount),
                       ("hmax", mk, "last_order_at", now_ms), ("hset", mk, "last_order_amount", amount)]  # fmt: skip
            # per UTC day too, for the segments' windowed counts (core.segments: od:/oa:<day>)
            day = now_ms // DAY_MS
            writes += [("hincr", mk, f"od:{day}", 1), ("hincr", mk, f"oa:{day}", amount)]
            # days no window reaches any more leave the hash (it stays bounded)
            writes += [("hdel", mk, f) for f in _stale_days(ctx.metrics if ctx else {}, day)]
            ak = self.k.customer_activity(cust["id"])
            oref = {
                "id": oid,
                "source_id": rec.get("source_id"),
                "amount": amount,
                "status": "PAID",
            }
            writes.append(("xadd", ak, "customer.order.paid", orjson.dumps({"order": oref})))
            per_card: dict[tuple[str, str], list[int]] = {}  # one entry per card, not per rule
            for e in earned:
                got = per_card.setdefault((e.campaign_id, e.code), [0, 0])
                got[1 if e.pending_id else 0] += e.points
            for (camp_id, code), (active, pending) in per_card.items():
                writes.append(("xadd", ak, "customer.rewarded.loyalty_points", orjson.dumps(
                    {"order": oref, "loyalty_card": {"code": code, "campaign_id": camp_id},
                     "points": active, "pending_points": pending})))  # fmt: skip
        rec["_paid"] = now_ms
        rec["_earned"] = msgspec.to_builtins(earned)
        writes.append(("set", self.k.order(oid), _record(rec)))
        res = await self.wallet.apply(ops, now_ms, op_id=f"order:{oid}:paid", fingerprint="paid",
                                      limits=limits, writes=writes, scope=oid, per_credit=False)  # fmt: skip
        if res.status == "ok" and cust is not None:
            gained: dict[tuple[str, str], int] = {}
            for e in earned:
                if not e.pending_id:
                    gained[(e.campaign_id, e.code)] = (
                        gained.get((e.campaign_id, e.code), 0) + e.points
                    )
            await self.tier_events(cat, cust, res, gained, now_ms, f"order:{oid}")
            if ctx is not None:
                after = dict(ctx.metrics)
                day = now_ms // DAY_MS
                for k, d in (
                    ("count", 1),
                    ("amount", amount),
                    (f"od:{day}", 1),
                    (f"oa:{day}", amount),
                ):
                    after[k] = after.get(k, 0) + d
                after["last_order_at"] = max(now_ms, after.get("last_order_at", 0))
                after["last_order_amount"] = amount
                await self._segments_entered(cat, cust, ctx.metrics, after, now_ms,
                                             sum(gained.values()))  # fmt: skip
        if res.status == "replay":  # paid before (a retry, a race): keep that record, add the rest
            first = await self._read_order(oid)
            if first is not None:
                for k in ("_paid", "_earned"):
                    rec[k] = first.get(k)
            await self.pipe.execute_command("SET", self.k.order(oid), _record(rec))
        elif res.status == "failed":  # a limit reached between planning and counting: earn again
            rec.pop("_paid", None)
            await self._earn(cat, rec, cust, now_ms)  # (reads afresh: no context)

    async def tier_events(self, cat: Catalog, cust: dict[str, Any], res: WalletResult,
                          gained: dict[tuple[str, str], int], now_ms: int, source: str) -> None:  # fmt: skip
        """A change of points that moves a member between tiers is a tier event
        (``customer.loyalty.tier.joined / upgraded / downgraded / left``): the tier-event earning
        rules of that program run, once per (source, card, tier) however often this is called.
        A member's tier is the tier of its lifetime points; ``gained``: the lifetime points
        this call added per (campaign, code)."""
        progs = cat.index.programs
        for card in res.cards:
            key = (card.campaign_id, card.code)
            p = progs.get(card.campaign_id)
            if p is None or not p.tiers or not gained.get(key):
                continue
            before = card.points - gained[key]
            was = earning.tier_for_points(cat.index, card.campaign_id, before)
            now = earning.tier_for_points(cat.index, card.campaign_id, card.points)
            if was.tier_id == now.tier_id:
                continue
            order = [t.id for t in p.tiers]
            if not was.tier_id:
                event, related = "customer.loyalty.tier.joined", now.tier_id
            elif not now.tier_id:
                event, related = "customer.loyalty.tier.left", was.tier_id
            elif order.index(now.tier_id) > order.index(was.tier_id):
                event, related = "customer.loyalty.tier.upgraded", now.tier_id
            else:
                event, related = "customer.loyalty.tier.downgraded", now.tier_id
            metrics = await self.members.metrics(cust["id"])
            plan = earning.plan_event(cat.index, {card.campaign_id: (card.code, now.tier_id or None)},
                                      _customer_model(cust, metrics), event, {}, now_ms, related_id=related,
                                      event_id=f"{source}:{event}")  # fmt: skip
            ops = [Credit(**a.credit()) for a in plan.accruals]
            if ops or plan.limits:
                await self.wallet.apply(ops, now_ms, op_id=f"tier:{source}:{card.code}:{related}",
                                        fingerprint="tier", limits=plan.limits)  # fmt: skip

    async def _plan(self, cat: Catalog, cust: dict[str, Any], plan_fn: Any, now_ms: int,
                    ctx: Context | None = None) -> Any:  # fmt: skip
        """Plan with the customer's cards (auto-joining where the planner asks) and live metrics
        (from ``ctx`` when the caller read them, else read now); again with the limit counters'
        values when the plan counts limits."""
        if ctx is None or ctx.customer is None or ctx.customer.get("id") != cust["id"]:
            ctx = await self.members.context(cat.programs, m.Customer(id=cust["id"]))
        cmodel = _customer_model(cust, ctx.metrics)
        held = dict(ctx.cards)
        plan = plan_fn(self._tiered(cat, held), cmodel, None)
        if plan.join:
            for cid in plan.join:
                camp = cat.campaign(cid)
                if camp is None:
                    continue
                try:
                    v, _, created = await self.members.join(camp, cust, now_ms)
                except CampaignGone:
                    continue
                points = await self.initial_points(camp, v.code, now_ms) if created else 0
                held[cid] = (v.code, points)
            plan = plan_fn(self._tiered(cat, held), cmodel, None)
        if plan.limits:
            keys = plan.keys()
            vals = await self.pipe.execute_command("MGET", *(self.k.counter(k) for k in keys))
            counters = {k: int(v or 0) for k, v in zip(keys, vals, strict=True)}
            plan = plan_fn(self._tiered(cat, held), cmodel, counters)
        return plan

    @staticmethod
    def _tiered(cat: Catalog, held: dict[str, tuple[str, int]]) -> dict[str, Any]:
        """``{campaign: (code, tier or None)}`` for the planner, the tier judged on the card's
        lifetime points."""
        progs = cat.index.programs
        return {c: (code, earning.tier_for_points(cat.index, c, pts).tier_id or None)
                if c in progs and progs[c].tiers else code
                for c, (code, pts) in held.items()}  # fmt: skip

    async def initial_points(self, camp: m.Campaign, code: str, now_ms: int) -> int:
        """The program's initial points on a new card (``voucher.loyalty_card.points``), once."""
        lc = camp.voucher.loyalty_card if camp.voucher is not None else None
        if lc is None or not lc.points:
            return 0
        await self._apply([Credit(campaign_id=camp.id, code=code, points=lc.points, type="POINTS_ADDITION",
                                  reason="initial points")], now_ms, op_id=f"join:{code}", fp="join")  # fmt: skip
        return lc.points

    async def _give_back(self, rec: dict[str, Any], now_ms: int) -> None:
        """A PAID order cancelled: take back what it earned (clamped at a zero balance; pending
        points cancelled), metrics down; once."""
        oid = rec["id"]
        ops: list[Any] = []
        for e in msgspec.convert(rec.get("_earned") or [], list[Earned]):
            if e.pending_id:
                p = await self.wallet.pending_points(e.campaign_id, e.code, e.pending_id, now_ms)
                if p is not None and p.status == "PENDING":
                    ops.append(
                        CancelPending(
                            campaign_id=e.campaign_id, code=e.code, pending_id=e.pending_id
                        )
                    )
                    continue
            ops.append(Debit(campaign_id=e.campaign_id, code=e.code, points=e.points, type="POINTS_REMOVAL",
                             mode="clamp", reason="order canceled", source_id=rec.get("source_id") or oid,
                             details=orjson.dumps({"order": {"id": oid, "source_id": rec.get("source_id")}})))  # fmt: skip
        writes: list[Any] = []
        if rec.get("customer_id"):
            mk = self.k.customer_metrics(rec["customer_id"])
            writes += [
                ("hincr", mk, "count", -1),
                ("hincr", mk, "amount", -int(rec.get("amount") or 0)),
            ]
            # the day it was counted on when paid (segments' windowed counts)
            day = int(rec.get("_paid") or now_ms) // DAY_MS
            writes += [("hincr", mk, f"od:{day}", -1),
                       ("hincr", mk, f"oa:{day}", -int(rec.get("amount") or 0))]  # fmt: skip
            oref = {"id": oid, "source_id": rec.get("source_id"), "amount": int(rec.get("amount") or 0),
                    "status": "CANCELED"}  # fmt: skip
            writes.append(("xadd", self.k.customer_activity(rec["customer_id"]), "customer.order.canceled",
                           orjson.dumps({"order": oref})))  # fmt: skip
        rec["_canceled"] = now_ms
        writes.append(("set", self.k.order(oid), _record(rec)))
        res = await self.wallet.apply(ops, now_ms, op_id=f"order:{oid}:cancel", fingerprint="cancel",
                                      writes=writes, scope=oid)  # fmt: skip
        if res.status == "failed":  # a pending record activated meanwhile: plan again
            rec.pop("_canceled", None)
            await self._give_back(rec, now_ms)

    # -- events (gateway) ------------------------------------------------------------------

    async def event(self, cat: Catalog, body: dict[str, Any], now_ms: int, idem: str | None,
                    refresh: Refresh | None = None) -> dict[str, Any]:  # fmt: skip
        """``POST /v1/events``: upsert the customer, count the event in its metrics, earn on
        the custom-event rules (the card named in ``loyalty.code``, else every card the
        customer holds, plus auto-join programs)."""
        name = body.get("event")
        if not isinstance(name, str) or not 1 <= len(name) <= 300:
            raise invalid("`event` must be a name of 1-300 characters")
        if name == earning.ORDER_PAID:
            raise invalid("order.paid is an order status: send the order (POST /v1/orders)")
        try:
            cref = msgspec.convert(body.get("customer"), m.Customer | None)
            loyalty = body.get("loyalty")
            code = loyalty.get("code") if isinstance(loyalty, dict) else None
            metadata = body.get("metadata") or {}
            if not isinstance(metadata, dict) or (code is not None and not isinstance(code, str)):
                raise msgspec.ValidationError(
                    "`metadata` must be an object, `loyalty.code` a string"
                )
        except msgspec.ValidationError as exc:
            raise invalid(str(exc)) from None
        if cref is None or not (cref.id or cref.source_id):
            raise invalid("`customer` (its id or source_id) is required")
        ref = await self._referral_code(cat, body.get("referral"))  # refused before any write
        cat, ctx = await self._context(cat, refresh, cref)
        cust = ctx.customer
        if cust is None:
            cust = await self.members.customer(cref, now_ms, create=True)
            if cust is None:
                raise not_found("customer", cref.id or "")
            ctx = Context(version=ctx.version, order=None, customer=cust, metrics={}, cards={})
        only: dict[str, str] | None = None
        if code:
            v, _, camp = await self.find(cat, code)
            if v.customer_id not in (None, cust["id"]):
                raise ApiError(400, "invalid_customer", "Invalid customer",
                               f"card {code} is held by another customer")  # fmt: skip
            only = {camp.id: v.code}
        event_id = "evcus_" + (
            hashlib.sha256(idem.encode()).hexdigest()[:24] if idem else secrets.token_hex(12)
        )
        referral = None
        if ref is not None:
            referral = {"code": ref[0].code, "referrer_id": ref[2]}
            await self._event_referral(cat, ref, name, cust, ctx, event_id, now_ms)

        def plan_fn(cards: dict[str, Any], c: m.Customer, counters: Any) -> Any:
            if only is not None:
                cards = {k: v for k, v in cards.items() if k in only} or dict(only)
            return earning.plan_event(cat.index, cards, c, name, metadata, now_ms,
                                      event_id=event_id, counters=counters)  # fmt: skip

        plan = await self._plan(cat, cust, plan_fn, now_ms, ctx)
        mk = self.k.customer_metrics(cust["id"])
        writes = [("hincr", mk, "events", 1), ("hmax", mk, "last_event_at", now_ms),
                  ("xadd", self.k.customer_activity(cust["id"]), "customer.custom_event",
                   orjson.dumps({"event": {"id": event_id, "type": name, "metadata": metadata},
                                 "points": plan.total_points}))]  # fmt: skip
        ops = [Credit(**a.credit()) for a in plan.accruals]
        op_id = f"event:{idem}" if idem else None
        fp = (
            hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
            if idem
            else None
        )
        res = await self.wallet.apply(ops, now_ms, op_id=op_id, fingerprint=fp, limits=plan.limits,
                                      writes=writes, scope="events", per_credit=False)  # fmt: skip
        if res.status == "conflict":
            raise ApiError(409, "duplicate_idempotency_key", "Idempotency key reused",
                           "this Idempotency-Key was used with another event")  # fmt: skip
        if res.status == "ok":  # points earned on an event can move a member between tiers too
            gained: dict[tuple[str, str], int] = {}
            for a in plan.accruals:
                if not a.pending:
                    gained[(a.campaign_id, a.code)] = (
                        gained.get((a.campaign_id, a.code), 0) + a.points
                    )
            await self.tier_events(cat, cust, res, gained, now_ms, event_id)
            after = dict(ctx.metrics)
            after["events"] = after.get("events", 0) + 1
            after["last_event_at"] = max(now_ms, after.get("last_event_at", 0))
            await self._segments_entered(cat, cust, ctx.metrics, after, now_ms, sum(gained.values()))
        return {"object": "event", "type": name,
                "customer": {"id": cust["id"], "source_id": cust.get("source_id"), "name": cust.get("name"),
                             "email": cust.get("email"), "metadata": cust.get("metadata") or {},
                             "object": "customer"},
                "referral": referral, "loyalty": {"code": code} if code else None, "metadata": metadata}  # fmt: skip

    async def _referral_code(self, cat: Catalog, ref: Any) -> tuple[m.Voucher, m.Campaign, str] | None:
        """An event's ``referral{code, referrer_id?}`` resolved: (code, its referral campaign,
        the referrer's customer id); 4xx when it names no published referral code."""
        if ref is None:
            return None
        code = ref.get("code") if isinstance(ref, dict) else None
        rid = ref.get("referrer_id") if isinstance(ref, dict) else None
        if not isinstance(code, str) or not code or len(code) > 200 or not isinstance(rid, str | None):
            raise invalid("`referral` must be {code: a referral code, referrer_id?: a customer id}")
        found = await self.members.card(code)
        camp = cat.campaign(found[0].campaign_id) if found and found[0].campaign_id else None
        if found is None or camp is None or camp.campaign_type != "REFERRAL_PROGRAM":
            raise ApiError(404, "not_found", "Resource not found", f"Cannot find referral code {code}",
                           resource_id=code, resource_type="voucher")  # fmt: skip
        v = found[0]
        if not v.customer_id:
            raise ApiError(400, "not_published", "Not published",
                           f"Referral code {code} must be first published to a referrer")  # fmt: skip
        referrer = await self.members.customer(m.Customer(id=v.customer_id), 0, create=False)
        referrer_id = referrer["id"] if referrer is not None else v.customer_id
        if rid and rid not in (referrer_id, (referrer or {}).get("source_id")):
            raise invalid(f"`referral.referrer_id` {rid!r} is not the holder of {code}")
        return v, camp, referrer_id

    async def _event_referral(self, cat: Catalog, ref: tuple[m.Voucher, m.Campaign, str], name: str,
                              cust: dict[str, Any], ctx: Context, event_id: str, now_ms: int) -> None:  # fmt: skip
        """When the programme of the event's referral code converts on this custom event, the
        referral converts now (before the event earns; refused: a 400, and nothing of the
        event is done)."""
        v, camp, referrer_id = ref
        code = v.code
        rp = camp.referral_program
        ce = rp.custom_event if rp is not None else None
        if rp is not None and rp.conversion_event_type == "custom_event" and ce is not None and name in (ce.name, ce.id):
            bad = await screen(self, camp, referrer_id, cust, ctx.metrics.get("count", 0))
            if bad is not None:
                raise refused(bad, f"the referral of {code} is refused: {bad}")
            await self.referrals.convert(cat, camp, v.code, referrer_id, cust, (event_id, "custom_event"),
                                         now_ms, count=True)  # fmt: skip

    async def _segments_entered(self, cat: Catalog, cust: dict[str, Any], before: dict[str, int],
                                after: dict[str, int], now_ms: int, gained: int = 0) -> None:  # fmt: skip
        """The dynamic segments this order or event moved the customer into (judged by core on
        the metrics before and after it) run their ``customer.segment.entered`` rules, once.
        Only segments an earning rule names are judged. A filter on ``loyalty.points`` sees the
        live points after the call (read only when such a filter is judged) and, before it,
        those less ``gained`` (the spendable points the call added). Entering by the clock alone
        ("no order for 30 days") fires nothing: no job runs."""
        groups = cat.index.by_event.get(earning.SEGMENT_ENTERED)
        if not groups or self.dynamic_segments is None:
            return
        named = {r.segment_id for g in groups for r in g.rules}
        dyn = [(sid, f) for sid, f in await self.dynamic_segments() if sid in named]
        if not dyn:
            return
        pts_before = pts_after = None
        if needs_points(f for _, f in dyn):
            live = await self.customer_loyalty(cat, cust, now_ms, referrals=False)
            pts_after = int(live["loyalty"]["points"])
            pts_before = pts_after - gained
        was = set(matching(dyn, cust, before, now_ms, pts_before))
        for sid in matching(dyn, cust, after, now_ms, pts_after):
            if sid not in was:
                await self.segment_entered(cat, cust["id"], sid, now_ms)

    async def segment_entered(
        self, cat: Catalog, customer_id: str, segment_id: str, now_ms: int
    ) -> int:
        """``customer.segment.entered``: the earning rules naming ``segment_id`` run for the
        customer's cards (auto-join included), once per customer and segment whatever the
        retries; an activity entry records it. Returns the points credited (0: no such rule)."""
        if not cat.index.by_event.get(earning.SEGMENT_ENTERED):
            return 0
        cat, ctx = await self._context(cat, None, m.Customer(id=customer_id))
        cust = ctx.customer
        if cust is None:
            return 0
        event_id = f"seg:{segment_id}:{customer_id}"
        plan = await self._plan(cat, cust, lambda cards, c, counters: earning.plan_event(
            cat.index, cards, c, earning.SEGMENT_ENTERED, {}, now_ms, related_id=segment_id,
            event_id=event_id, counters=counters), now_ms, ctx)  # fmt: skip
        ops = [Credit(**a.credit()) for a in plan.accruals]
        writes = [("xadd", self.k.customer_activity(customer_id), "customer.segment.entered",
                   orjson.dumps({"segment": {"id": segment_id}, "points": plan.total_points}))]  # fmt: skip
        res = await self.wallet.apply(ops, now_ms, op_id=f"segment:{segment_id}:{customer_id}",
                                      fingerprint="entered", limits=plan.limits, writes=writes,
                                      scope="segments")  # fmt: skip
        return plan.total_points if res.status == "ok" else 0

    # -- what a reward gives (reward redemptions, referral conversions) ---------------------

    async def give(self, r: m.Reward, target: m.Campaign, cust: dict[str, Any], details: bytes,
                   now_ms: int, reason: str = "", held: bool = False) -> Given:  # fmt: skip
        """What CAMPAIGN reward ``r`` gives ``cust`` (ops and writes for ONE wallet call): points
        on the customer's card of LOYALTY_PROGRAM ``target`` (joined if need be; ``held``: most
        likely held already, see :meth:`Members.join`), or a new code of the DISCOUNT_COUPONS /
        GIFT_VOUCHERS ``target`` (a gift card holding the reward's balance), stored by a
        ``hsetnx`` write (a ``"write"`` failure: the random code was taken meanwhile, call
        again)."""
        balance = int(r.parameters.campaign.balance or 0) if r.parameters.campaign else 0
        if target.campaign_type == "LOYALTY_PROGRAM":
            tv, _, created = await self.members.join(target, cust, now_ms, held=held)
            if created:
                await self.initial_points(target, tv.code, now_ms)
            op = Credit(campaign_id=target.id, code=tv.code, points=balance, type="POINTS_ADDITION",
                        reason=reason or f"reward {r.id}", details=details)  # fmt: skip
            issued = {"id": tv.id, "code": tv.code, "type": "LOYALTY_CARD", "campaign_id": target.id,
                      "holder_id": cust["id"], "object": "voucher"}  # fmt: skip
            return Given(ops=[op], issued=issued, points=(target.id, tv.code, balance))
        cfg = target.voucher.code_config if target.voucher is not None else None
        code = CodeMaker(cfg or m.CodeConfig()).sample(1)[0]
        nv = m.Voucher(code=code, campaign_id=target.id, id="v_" + secrets.token_hex(12),
                       customer_id=cust.get("source_id") or cust["id"])  # fmt: skip
        if target.campaign_type == "GIFT_VOUCHERS":
            nv.gift = m.Gift(amount=balance)
        owners = [cust["id"], *([cust["source_id"]] if cust.get("source_id") else [])]
        packed = codebook.pack(code, nv)
        into, other = codebook.place(self.k, code, packed)
        writes: list[Any] = [("hfree", other, code, ""), ("hsetnx", into, code, packed),
                             ("rpush", self.k.list_codes(target.id), code)]  # fmt: skip
        writes += [("sadd", self.k.customer_codes(o), code) for o in owners]
        issued = {"id": nv.id, "code": code, "campaign": target.name, "campaign_id": target.id,
                  "type": "GIFT_VOUCHER" if nv.gift else "DISCOUNT_VOUCHER",
                  "holder_id": cust["id"], "object": "voucher"}  # fmt: skip
        uses, spent, _ = voucher_counter_keys(nv)
        return Given(writes=writes, issued=issued,
                     code=IssuedCode(code=code, campaign_id=target.id, uses=uses, spent=spent, owners=owners))  # fmt: skip

    def revoke(self, c: IssuedCode) -> list[tuple[str, str, str, str]]:
        """The wallet writes that revoke an issued code: its counters set to USES_MAX (a
        redemption racing the revocation fails its own atomic check, whatever the gateways'
        code caches still hold), its record deleted, out of its lists, the gateways told."""
        top = str(m.USES_MAX)
        out = [("set", self.k.counter(c.uses), top, ""), ("set", self.k.counter(c.spent), top, ""),
               *(("hdel", b, c.code, "") for b in self.k.code_buckets(c.code)),
               ("lrem", self.k.list_codes(c.campaign_id), c.code, "")]  # fmt: skip
        out += [("srem", self.k.customer_codes(o), c.code, "") for o in c.owners]
        out.append(("publish", self.k.channel, "code:" + c.code, ""))
        return out

    # -- rewards (gateway) -----------------------------------------------------------------

    async def redeem_reward(self, cat: Catalog, ident: str, body: dict[str, Any], now_ms: int,
                            redemption_id: str, campaign_ref: str | None = None) -> dict[str, Any]:  # fmt: skip
        """Spend points on a reward: the price debited, the stock counted and the code issued
        (or the points credited) in ONE wallet call; nothing given without its points."""
        v, created, camp = await self.find(cat, ident, campaign_ref)
        reward = body.get("reward")
        rid = reward.get("id") if isinstance(reward, dict) else None
        if not isinstance(rid, str) or not rid:
            raise ApiError(400, "missing_reward", "Missing reward", "A reward is required")
        r = cat.rewards.get(rid)
        a = cat.by_reward.get((camp.id, rid))
        if r is None or a is None:
            raise not_found("reward", rid)
        rtype = reward_type(r)
        if rtype == "COIN":
            raise ApiError(400, "invalid_reward", "Invalid reward",
                           "pay-with-points (COIN) rewards are spent at checkout: send the card "
                           "with reward{id, points} to POST /v1/redemptions")  # fmt: skip
        card = await self.wallet.card(camp.id, v.code, now_ms)
        tier = earning.tier_for_points(cat.index, camp.id, card.points).tier_id or None
        price = earning.reward_price(cat.index, a.id, tier)
        if price is None:
            raise ApiError(
                400, "missing_param", "Missing parameter", "the reward has no price in points"
            )
        details = orjson.dumps({"redemption": {"id": redemption_id}, "reward": {"id": r.id, "name": r.name}})
        ops: list[Any] = [Debit(campaign_id=camp.id, code=v.code, points=price, type="POINTS_REDEMPTION",
                                details=details, source_id=redemption_id)]  # fmt: skip
        limits = []
        if r.stock is not None:
            limits.append((self.k.reward_redeemed(r.id).removeprefix(self.k.prefix), 1, r.stock,
                           "quantity_exceeded", 0, 0))  # fmt: skip
        else:
            limits.append(
                (self.k.reward_redeemed(r.id).removeprefix(self.k.prefix), 1, -1, "", 0, 0)
            )
        issued: dict[str, Any] | None = None
        writes: list[Any] = []
        # what a rollback of this redemption must undo besides the debit and the stock (see
        # store/lua/rollback.lua "Undo steps"): the reward taken back, refused once it was used
        undo: list[dict[str, Any]] = []
        target = (
            cat.campaign(r.parameters.campaign.id) if r.parameters.campaign is not None else None
        )
        if rtype == "CAMPAIGN":
            if target is None:
                raise not_found(
                    "campaign", r.parameters.campaign.id if r.parameters.campaign else ""
                )
            cust = await self.members.customer(m.Customer(id=v.customer_id), now_ms, create=False)
            if cust is None:
                raise ApiError(
                    400, "invalid_customer", "Invalid customer", "the card has no holder"
                )
            given = await self.give(r, target, cust, details, now_ms)
            ops += given.ops
            writes += given.writes
            issued = given.issued
            # taken back by a rollback, refused once used (see store/lua/rollback.lua "Undo
            # steps"): points removed unless spent; a code revoked unless redeemed
            if given.points is not None:
                camp_id, code, gain = given.points
                undo.append({"take": {"c": camp_id, "v": code, "x": transaction_prefix(camp_id, code),
                                      "k": list(self.k.card(camp_id, code)), "p": gain,
                                      "d": details.decode()},
                             "e": "loyalty_card_points_exceeded", "s": f"points on card {code}"})  # fmt: skip
            if given.code is not None:
                used = {"e": "reward_already_used", "s": f"code {given.code.code}"}
                undo += [{"zero": self.k.counter(given.code.uses), **used},
                         {"zero": self.k.counter(given.code.spent), **used}]  # fmt: skip
                undo += [_undo_step(w) for w in self.revoke(given.code)]
        if v.customer_id:
            writes.append(("xadd", self.k.customer_activity(v.customer_id), "customer.reward_redemptions.created",
                           orjson.dumps({"redemption": {"id": redemption_id}, "reward": {"id": r.id, "name": r.name},
                                         "loyalty_card": {"code": v.code}, "points": price})))  # fmt: skip
        stock_key = self.k.reward_redeemed(r.id)

        def record(after: Card, tx: str) -> dict[str, Any]:
            """The redemption and the record the checkout's rollback reads (store/lua/rollback.lua):
            the stock counted back, the points refunded to the buckets they came from (its
            'wallet' field, as redeem.lua writes it)."""
            reward_res = reward_out(r, cat, None)
            reward_res.update(assignment_id=a.id, loyalty_tier_id=tier,
                              customer={"id": v.customer_id, "object": "customer"})  # fmt: skip
            if issued is not None:
                reward_res["voucher"] = issued
            if r.parameters.product is not None:
                reward_res["product"] = {"id": r.parameters.product.id, "object": "product"}
            out = {
                "id": redemption_id,
                "object": "redemption",
                "date": iso_ms(now_ms),
                "customer_id": v.customer_id,
                "tracking_id": None,
                "metadata": body.get("metadata") if isinstance(body.get("metadata"), dict) else {},
                "amount": price,
                "result": "SUCCESS",
                "status": "SUCCEEDED",
                "channel": {"channel_id": None, "channel_type": "API"},
                "customer": {"id": v.customer_id, "object": "customer"},
                "related_object_type": "voucher",
                "related_object_id": v.id or v.code,
                "reward": reward_res,
                "loyalty_card": {"points": price},
                "voucher": card_out(v, camp, after, created),
                "transaction_id": tx,
            }
            wallet = [{"c": camp.id, "v": v.code, "x": transaction_prefix(camp.id, v.code), "t": tx, "p": price,
                       "d": details.decode(), "k": list(self.k.card(camp.id, v.code))}]  # fmt: skip
            fields = {"id": redemption_id, "status": "SUCCEEDED", "data": orjson.dumps(out), "parent": "",
                      "children": "[]", "ops": orjson.dumps([[stock_key, "1"]]), "session": "",
                      "created_at": str(now_ms), "wallet": orjson.dumps(wallet), "kind": "reward",
                      "undo": orjson.dumps(undo)}  # fmt: skip
            return {"out": out, "fields": fields}

        # the record is written IN the wallet call (one HSET), naming the debit by TX_PLACEHOLDER
        # (the figures after it as foreseen): a crash right after the call cannot leave points
        # spent on a redemption that cannot be rolled back; the answer's exact figures (`data`)
        # are written just after when they differ from the foreseen ones, and nothing else (a
        # rollback may have changed the status already)
        nx_at, nx_points = card.next_expiration_at_ms, card.next_expiration_points
        if nx_at is not None and nx_points > price:  # the debit takes from the soonest bucket
            nx_points -= price  # (else the next bucket, unknown here: the exact write corrects it)
        foreseen = msgspec.structs.replace(card, balance=card.balance - price, redeemed=card.redeemed + price,
                                           transactions=card.transactions + 1,
                                           updated_at_ms=max(now_ms, card.updated_at_ms or 0),
                                           next_expiration_points=nx_points)  # fmt: skip
        fields = record(foreseen, TX_PLACEHOLDER)["fields"]
        writes.append(("hmsettx", self.k.record(redemption_id), fields))
        res = await self._apply(ops, now_ms, limits=limits, writes=writes,
                                quiet=("exists", "quantity_exceeded"))  # fmt: skip
        if res.status == "failed" and res.failure is not None:
            if res.failure.kind == "write":  # the random code was taken meanwhile: another one
                return await self.redeem_reward(
                    cat, ident, body, now_ms, redemption_id, campaign_ref
                )
            raise ApiError(400, "quantity_exceeded", "Quantity exceeded",
                           f"reward {r.id} is out of stock")  # fmt: skip
        tx = res.results[0].transaction_ids[0]
        done = record(res.cards[0], tx)
        # the foreseen figures can be wrong: another call changed the card since it was read (a
        # race), the debit emptied the soonest-expiring bucket, the reward credited this card
        if done["fields"]["data"] != with_tx(fields["data"], tx):
            await self.pipe.execute_command(
                "HSET", self.k.record(redemption_id), "data", done["fields"]["data"]
            )
        return done["out"]


_MEMBER_EVENTS = {
    "POINTS_ACCRUAL": "customer.voucher.loyalty_card.points_added",
    "POINTS_ADDITION": "customer.voucher.loyalty_card.points_added",
    "POINTS_EXPIRATION": "customer.voucher.loyalty_card.points_expired",
    "POINTS_TRANSFER_IN": "customer.voucher.loyalty_card.points_transferred",
    "POINTS_TRANSFER_OUT": "customer.voucher.loyalty_card.points_transferred",
    "PENDING_POINTS_ACTIVATION": "customer.voucher.loyalty_card.pending_points.activated",
    "POINTS_REDEMPTION": "customer.redemption.succceeded",  # (sic: the SDK's enum)
    "POINTS_REFUND": "customer.redemption.rollback.succceeded",  # (sic)
}


def _stale_days(metrics: dict[str, int], today: int) -> list[str]:
    """The per-day metrics fields (``od:<day>`` / ``oa:<day>``) older than the longest window a
    segment may ask for (``core.segments.MAX_WINDOW_DAYS``): never read again."""
    oldest = today - MAX_WINDOW_DAYS
    return [f for f in metrics
            if f[:3] in ("od:", "oa:") and f[3:].isdigit() and int(f[3:]) <= oldest]  # fmt: skip


def _fields(raw: Any) -> dict[str, str]:
    if isinstance(raw, dict):
        return {_text(k): _text(v) for k, v in raw.items()}
    flat = list(raw)
    return {_text(flat[i]): _text(flat[i + 1]) for i in range(0, len(flat), 2)}


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


async def _both(a: Any, b: Any) -> tuple[Any, Any]:
    import asyncio

    return tuple(await asyncio.gather(a, b))  # type: ignore[return-value]


async def _gather(aws: Iterable[Any]) -> list[Any]:
    import asyncio

    return list(await asyncio.gather(*aws))
