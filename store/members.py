"""Members of loyalty programs: who holds which card, customers as the gateway meets them, and
the answers' shapes that the gateway and admin share (a card, a transaction, pending points).

A loyalty card is a code kept outside the definitions document, like an issued code: JSON of
``core.model.Voucher`` in its bucket (store/codebook.py; ``campaign_id`` = the program, ``customer_id`` =
the holder, plus ``created_at`` in ms), listed under its campaign and its customer, found by
its voucher id through ``Pvid:<v_ id>``; its points are the wallet of ``store.wallet``. The
customer's card in a program is ``P{c:<campaign>}:lc:holder:<customer id>``, set in the same
atomic call that publishes the card (``lua/join.lua``), so a join-once program never gives one
customer two cards, however many orders race.

Nothing here decides anything about points: earning is core's (``core.earning``), arithmetic
the wallet scripts'.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import secrets
from typing import Any

import msgspec
import orjson

from core import model as m

from . import codebook
from .autopipe import AutoPipeline, Script
from .codemaker import CodeMaker
from .counters import load_scripts
from .errors import ApiError
from .keys import Keys
from .wallet import NEVER_MS, Card, PendingPoints, Transaction

__all__ = [
    "CampaignGone",
    "Context",
    "Members",
    "card_out",
    "date_of_expiry",
    "iso_ms",
    "order_id_for",
    "pending_out",
    "transaction_out",
]

_voucher_dec = msgspec.json.Decoder(m.Voucher)


class CampaignGone(RuntimeError):
    """The program is being deleted: no card is published for it any more."""


def iso_ms(ms: int | None) -> str | None:
    """``ms`` since the epoch as Voucherify's ISO 8601 UTC text (milliseconds, ``Z``)."""
    if ms is None:
        return None
    t = _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ms) % 1000:03d}Z"


def date_of_expiry(expires_at_ms: int | None) -> str | None:
    """The last day (UTC, ``YYYY-MM-DD``) points expiring at ``expires_at_ms`` can be spent:
    buckets end at 00:00 UTC of the day after (``core.earning``); None when they never do."""
    if expires_at_ms is None or expires_at_ms >= NEVER_MS:
        return None
    t = _dt.datetime.fromtimestamp((expires_at_ms - 1) / 1000, tz=_dt.UTC)
    return t.date().isoformat()


def order_id_for(source_id: str) -> str:
    """The order id of an order known by its ``source_id``: derived, so that concurrent first
    calls about one order name the same record without an index to race on."""
    return "ord_" + hashlib.sha256(source_id.encode()).hexdigest()[:24]


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class Context(msgspec.Struct):
    """What :meth:`Members.context` read: ``cards`` = campaign id -> (code, lifetime points)."""

    version: int
    order: dict[str, Any] | None
    customer: dict[str, Any] | None
    metrics: dict[str, int]
    cards: dict[str, tuple[str, int]]


class Members:
    """Cards and customers through one auto-pipeliner (``store.counters.Store.pipe``)."""

    def __init__(self, pipe: AutoPipeline, keys: Keys) -> None:
        self.pipe = pipe
        self.k = keys
        self.scripts: dict[str, Script] = load_scripts(
            names=("join", "customer", "loyalty_read"), libs=("_lib",)
        )

    async def load_scripts(self) -> None:
        await self.pipe.load(*self.scripts.values())

    # -- customers -------------------------------------------------------------------------

    async def customer(
        self, ref: m.Customer | None, now_ms: int, *, create: bool = True
    ) -> dict[str, Any] | None:
        """The stored customer ``ref`` names (``id``, else ``source_id``); with ``create``, a
        customer known only by a new ``source_id`` is created from ``ref``'s fields. None when
        there is none (or ``ref`` names nobody)."""
        if ref is None or not (ref.id or ref.source_id):
            return None
        if ref.id and not ref.id.startswith("src:"):
            raw = await self.pipe.execute_command("GET", self.k.customer(ref.id))
            if raw is not None:
                return orjson.loads(raw)
            if not ref.source_id:
                return None
        src = ref.source_id
        assert src is not None
        cid = await self.pipe.execute_command("GET", self.k.customer_src(src))
        if cid is not None:
            raw = await self.pipe.execute_command("GET", self.k.customer(_s(cid)))
            if raw is not None:
                return orjson.loads(raw)
        if not create:
            return None
        new = {
            k: v
            for k, v in msgspec.to_builtins(ref).items()
            if k in ("name", "email", "phone", "birthdate", "address", "metadata") and v is not None
        }
        new.update(id="cust_" + secrets.token_hex(12), source_id=src, created_at=now_ms,
                   updated_at=now_ms, segments=[])  # fmt: skip
        tag, cid = await self.pipe.evalsha(
            self.scripts["customer"],
            [self.k.customer_src(src), self.k.customer(new["id"]), self.k.customers],
            [new["id"], msgspec.json.encode(new), now_ms],
        )
        if _s(tag) == "created":
            return new
        raw = await self.pipe.execute_command("GET", self.k.customer(_s(cid)))
        return orjson.loads(raw) if raw is not None else None

    async def context(
        self,
        programs: list[str],
        customer: m.Customer | None,
        order_keys: tuple[str, ...] = (),
        fallback_customer: str = "",
    ) -> Context:
        """What an order or event call reads before planning, in ONE call
        (``lua/loyalty_read.lua``): the stored definitions version, the order record (the first
        of ``order_keys`` that exists), the customer (by id, else source_id; else
        ``fallback_customer``, the id an existing order names), its metrics, and its cards in
        ``programs`` with their lifetime points (what tiers are judged on)."""
        cid = (customer.id or "") if customer is not None else ""
        if cid.startswith("src:"):
            cid = ""
        src = (customer.source_id or "") if customer is not None else ""
        args: list[Any] = [len(order_keys), self.k.customer(""), self.k.customer_src(""),
                           self.k.customer_metrics(""), cid, src, fallback_customer]  # fmt: skip
        for camp in programs:
            args += (camp, self.k.card_holder(camp, ""), self.k.card(camp, "").figures)
        reply = await self.pipe.evalsha(
            self.scripts["loyalty_read"], [self.k.version, *order_keys], args
        )
        version, order, cust, found_id, flat = reply[:5]
        cards: dict[str, tuple[str, int]] = {}
        rest = reply[5:]
        for i in range(0, len(rest), 3):
            cards[_s(rest[i])] = (_s(rest[i + 1]), int(rest[i + 2]))
        if isinstance(flat, dict):
            metrics = {_s(k): int(v) for k, v in flat.items()}
        else:
            metrics = {_s(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}
        return Context(
            version=int(version or 0),
            order=orjson.loads(order) if order else None,
            customer=orjson.loads(cust) if cust else None,
            metrics=metrics,
            cards=cards,
        )

    async def metrics(self, customer_id: str) -> dict[str, int]:
        """The customer's live metrics (``Pcustmetrics:<id>``): zeros when none."""
        raw = await self.pipe.execute_command("HGETALL", self.k.customer_metrics(customer_id))
        if isinstance(raw, dict):
            return {_s(k): int(v) for k, v in raw.items()}
        flat = list(raw or [])
        return {_s(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}

    # -- cards -----------------------------------------------------------------------------

    async def holdings(self, customer_id: str, campaign_ids: list[str]) -> dict[str, str]:
        """The codes ``customer_id`` holds in ``campaign_ids`` (programs without one left out)."""
        if not campaign_ids:
            return {}
        raws = await self.pipe.execute_command(
            "MGET", *(self.k.card_holder(c, customer_id) for c in campaign_ids)
        )
        return {c: _s(r) for c, r in zip(campaign_ids, raws, strict=True) if r is not None}

    async def card(self, ident: str) -> tuple[m.Voucher, int] | None:
        """The card whose code (or ``v_`` voucher id) is ``ident``, with its creation time (ms);
        None when there is no such code or it is not a loyalty card record."""
        [raw] = await codebook.fetch(self.pipe.execute_command, self.k, [ident])
        if raw is None and ident.startswith("v_"):
            code = await self.pipe.execute_command("GET", self.k.voucher_id(ident))
            if code is not None:
                [raw] = await codebook.fetch(self.pipe.execute_command, self.k, [_s(code)])
        if raw is None:
            return None
        try:
            v = _voucher_dec.decode(raw)
            created = int(orjson.loads(raw).get("created_at") or 0)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError, TypeError):
            return None
        return v, created

    async def cards(self, codes: list[str]) -> list[tuple[m.Voucher, int] | None]:
        """:meth:`card` of many codes in one round trip (codes only, not ids)."""
        if not codes:
            return []
        raws = await codebook.fetch(self.pipe.execute_command, self.k, codes)
        out: list[tuple[m.Voucher, int] | None] = []
        for raw in raws:
            try:
                out.append(None if raw is None else
                           (_voucher_dec.decode(raw), int(orjson.loads(raw).get("created_at") or 0)))  # fmt: skip
            except (msgspec.DecodeError, msgspec.ValidationError, ValueError, TypeError):
                out.append(None)
        return out

    async def join(
        self,
        camp: m.Campaign,
        customer: dict[str, Any],
        now_ms: int,
        *,
        code: str | None = None,
        join_once: bool | None = None,
        metadata: dict[str, Any] | None = None,
        held: bool = False,
    ) -> tuple[m.Voucher, int, bool]:
        """Publish a card of program ``camp`` to ``customer`` (a stored customer), or, in a
        join-once program, give back the card they hold: ``(card, created_at ms, created)``.
        ``code``: this code rather than a random one of the program's code_config (taken by
        someone: ``ValueError``). Raises :class:`CampaignGone` when the program is being
        deleted. ``held``: the customer most likely holds a card already (a referrer being
        paid): in a join-once program, a plain GET of the holder key first (what join.lua
        answers a holder with), join.lua only when there is none."""
        once = camp.join_once is not False if join_once is None else join_once
        if once and held:
            holder = self.k.card_holder(camp.id, customer["id"])
            have = await self.pipe.execute_command("GET", holder)
            found = await self.card(_s(have)) if have is not None else None
            if found is not None:
                return found[0], found[1], False
        maker = None
        if code is None:
            cfg = camp.voucher.code_config if camp.voucher is not None else None
            maker = CodeMaker(cfg or m.CodeConfig())
        sets = [self.k.customer_codes(customer["id"])]
        if customer.get("source_id"):
            sets.append(self.k.customer_codes(customer["source_id"]))
        for _ in range(100):
            c = code if maker is None else maker.sample(1)[0]
            vid = "v_" + secrets.token_hex(12)
            v = m.Voucher(code=c, campaign_id=camp.id, id=vid, customer_id=customer["id"],
                          metadata=metadata or {})  # fmt: skip
            rec = msgspec.to_builtins(v)
            rec["created_at"] = now_ms
            packed = codebook.pack(c, rec)
            into, other = codebook.place(self.k, c, packed)
            reply = await self.pipe.evalsha(
                self.scripts["join"],
                [
                    self.k.card_holder(camp.id, customer["id"]),
                    into,
                    self.k.list_codes(camp.id),
                    self.k.campaign_gone(camp.id),
                    self.k.voucher_id(vid),
                    other,
                    *sets,
                ],  # fmt: skip
                [c, packed, vid, "1" if once else "0"],
            )
            tag = _s(reply[0])
            if tag == "ok":
                return v, now_ms, True
            if tag == "exists":
                found = await self.card(_s(reply[1]))
                if found is not None:
                    return found[0], found[1], False
                continue  # pragma: no cover - a holder key without its card: try again
            if tag == "gone":
                raise CampaignGone(f"campaign {camp.id} is being deleted")
            if maker is None:
                raise ValueError(f"code {c} is taken")
        # the code pattern's space is (nearly) used up: the caller's data, not a server fault
        raise ApiError(409, "codes_exhausted", "No free code",
                       f"campaign {camp.id}: no free code of its code_config found in 100 tries; "
                       "widen the pattern (length, charset)")  # fmt: skip


# -- answers (Voucherify's shapes) ------------------------------------------------------------


def card_figures(card: Card) -> dict[str, Any]:
    """A card's ``loyalty_card`` object: its live figures (the wallet's, after normalisation)."""
    return {
        "points": card.points,
        "balance": card.balance,
        "next_expiration_date": date_of_expiry(card.next_expiration_at_ms),
        "next_expiration_points": card.next_expiration_points or None,
        "pending_points": card.pending,
        "expired_points": card.expired,
        "subtracted_points": card.subtracted,
    }


def card_out(
    v: m.Voucher, camp: m.Campaign | None, card: Card, created_ms: int, redeemed_quantity: int = 0
) -> dict[str, Any]:
    """A loyalty card (``LoyaltiesMembersGetResponseBody`` and the card of every answer that
    carries one), with its live figures."""
    code = v.code
    return {
        "id": v.id or code,
        "code": code,
        "campaign": camp.name if camp is not None else None,
        "campaign_id": v.campaign_id,
        "category": None,
        "category_id": None,
        "categories": [],
        "type": "LOYALTY_CARD",
        "discount": None,
        "gift": None,
        "loyalty_card": card_figures(card),
        "start_date": iso_ms(_ms(v.start_date)),
        "expiration_date": iso_ms(_ms(v.expiration_date)),
        "validity_timeframe": None,
        "validity_day_of_week": None,
        "active": v.active,
        "additional_info": None,
        "metadata": v.metadata or {},
        "assets": {
            "qr": {"id": "qr_" + code, "url": None},
            "barcode": {"id": "bc_" + code, "url": None},
        },
        "is_referral_code": False,
        "holder_id": v.customer_id,
        "created_at": iso_ms(created_ms),
        "updated_at": iso_ms(card.updated_at_ms),
        "redemption": {
            "quantity": None,
            "redeemed_quantity": redeemed_quantity,
            "redeemed_points": card.redeemed,
            "object": "list",
            "url": f"/v1/vouchers/{code}/redemptions",
        },
        "publish": {"object": "list", "count": 1, "url": f"/v1/vouchers/{code}/publications"},
        "object": "voucher",
    }


def _ms(t: _dt.datetime | None) -> int | None:
    return None if t is None else int(t.timestamp() * 1000)


def transaction_out(t: Transaction, v: m.Voucher) -> dict[str, Any]:
    """A card transaction (``LoyaltyCardTransaction``) with its running balance."""
    try:
        details = orjson.loads(t.details) if t.details else {}
    except orjson.JSONDecodeError:
        details = {}
    if not isinstance(details, dict):
        details = {}
    details["balance"] = {
        "type": "loyalty_card",
        "total": t.total,
        "object": "balance",
        "points": t.points,
        "balance": t.balance,
        "related_object": {"id": v.id or v.code, "type": "voucher"},
    }
    return {
        "id": t.id,
        "source_id": t.source_id or None,
        "voucher_id": v.id or v.code,
        "campaign_id": v.campaign_id,
        "source": "API" if t.type in ("POINTS_ADDITION", "POINTS_REMOVAL") and t.reason else None,
        "reason": t.reason or None,
        "type": t.type,
        "details": details,
        "related_transaction_id": t.related_transaction_id,
        "created_at": iso_ms(t.created_at_ms),
    }


def pending_out(p: PendingPoints, v: m.Voucher) -> dict[str, Any]:
    """Pending points (``LoyaltyPendingPoints``); ``details`` is required by the SDK."""
    try:
        d = orjson.loads(p.details) if p.details else {}
    except orjson.JSONDecodeError:
        d = {}
    if not isinstance(d, dict):
        d = {}
    order = d.get("order") or {}
    return {
        "id": p.id,
        "voucher_id": v.id or v.code,
        "campaign_id": v.campaign_id,
        "customer_id": v.customer_id,
        "order_id": order.get("id"),
        "points": p.points,
        "activates_at": _dt.datetime.fromtimestamp(p.activates_at_ms / 1000, tz=_dt.UTC)
        .date()
        .isoformat(),
        "details": {
            "loyalty_tier": d.get("loyalty_tier"),
            "holder_loyalty_tier": d.get("holder_loyalty_tier"),
            "event": {"type": "customer.order.paid"},
            "earning_rule": d.get("earning_rule"),
            "order": order or None,
        },
        "created_at": iso_ms(p.created_at_ms),
        "updated_at": iso_ms(p.updated_at_ms),
    }
