"""The checkout API: a Voucherify v1 subset on Litestar, every limit counted in one Lua call.

Hot endpoints take the raw body and decode it with msgspec themselves: one decode, errors in
Voucherify's shape, no framework validation layer in between. Each request uses one ruleset
snapshot from start to end.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import hashlib
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, unquote

import msgspec
import orjson
from litestar import Litestar, Request, Response, delete, get, post
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from redis.exceptions import RedisError
from redis.exceptions import ResponseError as RedisResponseError

import core
from core import model as m
from core.errors import RequestError
from store.autopipe import StoreUnavailable
from store.counters import CardDebit, RecordSpec, Store, placeholders
from store.durability import DurabilityWatch
from store.errors import Answer, ApiError
from store.errors import error_response as _error_response
from store.settings import Settings

from . import metrics as mx
from . import render
from . import schemas as s
from .live import AppKey, Live
from .openapi import describe as describe_openapi

log = logging.getLogger("promogate.gateway")
E = core.engine
TTL_UNITS_MS = {
    "DAYS": 86_400_000,
    "HOURS": 3_600_000,
    "MINUTES": 60_000,
    "SECONDS": 1000,
    "MILLISECONDS": 1,
    "MICROSECONDS": 0.001,
    "NANOSECONDS": 0.000001,
}
DEFAULT_SESSION_MS = 7 * 86_400_000
MAX_SESSION_MS = 365 * 86_400_000  # a longer session ttl is capped to a year
MAX_RETRIES = 3


class _IdSource:
    """Random ids (80 bits, hex) cut from a buffer of ``os.urandom``: one system call per 400 ids
    instead of one per id (``secrets.token_hex`` showed up at ~4 % of a worker's samples).
    A forked child starts with an empty buffer, so no two processes hand out the same ids."""

    __slots__ = ("_hex", "_pos")
    _CHUNK = 400 * 20

    def __init__(self) -> None:
        self._hex = ""
        self._pos = 0

    def reset(self) -> None:
        self._hex = ""
        self._pos = 0

    def __call__(self, prefix: str) -> str:
        pos = self._pos
        if pos >= len(self._hex):
            self._hex = os.urandom(self._CHUNK // 2).hex()
            pos = 0
        self._pos = pos + 20
        return prefix + self._hex[pos : pos + 20]


_new_id = _IdSource()
os.register_at_fork(after_in_child=_new_id.reset)


def _ok(obj: Any, status: int = 200) -> Response:
    return Answer(s.encode(obj), status)


def _raw(content: bytes, status: int = 200) -> Response:
    return Answer(content, status)


#: what a lookup on a Redis connection raises when the store cannot serve: a 503
_STORE_FAILURES = (RedisError, OSError, asyncio.TimeoutError, EOFError)


async def _fail_closed(awaitable: Awaitable[Any]) -> Any:
    """Await a lookup that ``Live`` makes on its own Redis client: any Redis or connection error
    is the store being unavailable (503), never a pretended answer. Anything else is a bug of
    ours and is raised as it is (a logged 500), not disguised as "Redis is unreachable"."""
    try:
        return await awaitable
    except StoreUnavailable:
        raise
    except _STORE_FAILURES as exc:
        raise StoreUnavailable(str(exc)) from exc


async def _flush_metrics() -> None:
    """Hand this worker's request tallies to Prometheus every ``FLUSH_SECONDS`` (gateway.metrics)."""
    while True:
        await asyncio.sleep(mx.FLUSH_SECONDS)
        mx.flush()


class Gateway:
    """Everything a worker shares between requests."""

    def __init__(self, settings: Settings, clock: Callable[[], int] | None = None) -> None:
        import redis.asyncio as aredis

        self.settings = settings
        self.clock = clock or (lambda: int(time.time() * 1000))
        self.store = Store.from_url(
            settings.redis_url,
            prefix=settings.key_prefix,
            timeout=settings.redis_timeout,
            ledger_maxlen=settings.ledger_maxlen,
            idempotency_ttl=settings.idempotency_ttl,
            max_inflight=settings.pipeline_inflight,
        )
        # This client serves the definitions reload and the pub/sub listener; request-time
        # lookups (codes, app keys, customers) go through the store's auto-pipeliner. A blocking
        # pool all the same: the default one refuses at once past 100 connections.
        self.redis = aredis.Redis.from_pool(  # owns the pool: aclose() closes it
            aredis.BlockingConnectionPool.from_url(
                settings.redis_url,
                max_connections=100,
                timeout=settings.redis_timeout,
                socket_timeout=settings.redis_timeout,
                socket_connect_timeout=settings.redis_timeout,
            )
        )
        self.live = Live(self.redis, settings.key_prefix, poll=settings.ruleset_poll, pipe=self.store.pipe,
                         clock=self.clock)  # dynamic segments are judged at the request clock
        self._stacking: tuple[Any, s.StackingRulesOut] | None = None
        self._customer_ids: dict[str, str] = {}  # source_id -> customer id (never changes)
        self._flusher: asyncio.Task[None] | None = None
        self.durability = DurabilityWatch(log)  # what a crash of Redis loses (/ready shows it)

    async def start(self) -> None:
        try:
            await self.store.load_scripts()
        except StoreUnavailable as exc:
            log.warning("scripts not loaded at start (Redis unreachable): %s", exc)
        await self.durability.refresh(self.redis, self.settings.redis_timeout)  # logs it
        await self.live.start()
        if self.settings.gc_threshold:
            gc.set_threshold(*self.settings.gc_threshold)
        mx.watch_gc(self.settings.gc_warn_ms)
        self._flusher = asyncio.create_task(_flush_metrics())

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
            self._flusher = None
        mx.unwatch_gc()
        mx.flush()
        await self.durability.stop()
        await self.live.stop()
        await self.store.aclose()
        await self.redis.aclose()

    def stacking(self, rs: Any) -> s.StackingRulesOut:
        cached = self._stacking
        if cached is None or cached[0] is not rs:
            cached = (rs, s.StackingRulesOut.from_core(rs.stacking))
            self._stacking = cached
        return cached[1]

    # -- helpers -----------------------------------------------------------------------------

    async def auth(self, request: Request, role: str = "application") -> AppKey:
        key = await _fail_closed(
            self.live.authenticate(request.headers.get("x-app-id"), request.headers.get("x-app-token"))
        )
        if key is None:
            raise ApiError(401, "unauthorized", "Unauthorized", "Missing or invalid X-App-Id / X-App-Token")
        if key.role not in (role, "admin"):
            raise ApiError(403, "forbidden", "Forbidden", f"This call needs the `{role}` role")
        return key

    async def vouchers(self, redeemables: list[m.Redeemable]) -> tuple[Any, dict[str, Any] | None]:
        """The ruleset snapshot the request uses from start to end, and the holders of its codes
        kept outside the definitions document (:meth:`Live.holders`)."""
        codes = [r.id for r in redeemables if r.object == "voucher"]
        if not codes:
            return self.live.current, None
        rs, found = await _fail_closed(self.live.holders(codes))
        return rs, found or None

    async def counters(self, ev: Any, now_ms: int, session: str | None, every: bool = False) -> dict[str, int]:
        """Live values of the counters ``ev``'s plans are limited by, and the spendable points of
        the loyalty cards it pays with (``E.cards_for``: under each card's ``k_card``). ``every``
        (judging again after the script refused a count) reads unlimited codes' use counters
        too: a revoked code's is at USES_MAX."""
        keys = E.keys_for(ev.outcomes, every)
        cards = E.cards_for(ev.outcomes)
        if not keys and not cards:
            return {}
        values = await self.store.check(
            keys, now_ms, exclude_session=session, cards=[(c[1], c[2]) for c in cards]
        )
        return dict(zip([*keys, *(c[0] for c in cards)], values, strict=True))

    async def card_holder(self, rs: Any, req: Any, vouchers: dict[str, Any] | None) -> None:
        """A loyalty card pays for its holder, a referral code is refused to its holder (the
        referrer), both held by a customer id: when the request names its customer by
        ``source_id`` only, look up the id (cached: it never changes), so that the engine can
        tell the holder from someone else."""
        c = req.customer
        if c is None or c.id or not c.source_id:
            return
        for r in req.redeemables:
            h = (vouchers or {}).get(r.id) or rs.vouchers.get(r.id)
            if h is not None and (h.wallet or h.referral) and h.customer and h.customer != c.source_id:
                break
        else:
            return
        cid = self._customer_ids.get(c.source_id)
        if cid is None:
            raw = await self.store.pipe.execute_command("GET", self.store.keys.customer_src(c.source_id))
            if not raw:
                return
            cid = raw.decode()
            if len(self._customer_ids) > 100_000:
                self._customer_ids.clear()
            self._customer_ids[c.source_id] = cid
        c.id = cid

    async def customer(self, rs: Any, req: Any) -> None:
        """Fill ``customer.segments`` from admin's records when a rule needs them."""
        c = req.customer
        if rs.needs_segments and c is not None and c.segments is None and (c.source_id or c.id):
            c.segments = await _fail_closed(self.live.segments(c))

    def evaluate(self, rs: Any, req: Any, now_ms: int, vouchers: Any, counters: Any) -> Any:
        try:
            return E.evaluate(rs, req.redeemables, req.customer, req.order, now_ms, vouchers, counters)
        except RequestError as exc:
            raise ApiError(400, exc.key, exc.message, exc.details) from None


def _decode(decoder: Callable[[bytes], Any], body: bytes, optional: bool = False) -> Any:
    if not body and not optional:
        raise ApiError(400, "invalid_payload", "Invalid payload", "The request body is empty")
    try:
        return decoder(body)
    except msgspec.ValidationError as exc:
        raise ApiError(400, "invalid_payload", "Invalid payload", str(exc)) from None
    except msgspec.DecodeError as exc:
        raise ApiError(400, "invalid_payload", "Invalid payload", f"Malformed JSON: {exc}") from None
    except UnicodeDecodeError as exc:  # msgspec raises it (not DecodeError) for invalid UTF-8 in a string
        raise ApiError(400, "invalid_payload", "Invalid payload", f"Malformed JSON: {exc}") from None
    except RecursionError:  # msgspec raises it for a too deeply nested document
        raise ApiError(400, "invalid_payload", "Invalid payload", "Malformed JSON: nested too deeply") from None


def _check_order(order: m.Order | None) -> None:
    if order is None:
        return
    items = order.items or ()
    for i, it in enumerate(items):
        priced = it.price is not None and it.quantity is not None and it.amount is not None
        if priced and it.amount != it.price * it.quantity:
            raise ApiError(
                400, "invalid_order", "Invalid order", f"order.items[{i}].amount must equal price x quantity"
            )


def _session_ttl_ms(sess: s.Session) -> int:
    if sess.ttl is None:
        return DEFAULT_SESSION_MS
    unit = TTL_UNITS_MS[sess.ttl_unit or "DAYS"]
    # capped before int(): a finite ttl such as 1e308 DAYS overflows to infinity when scaled
    ms = int(min(sess.ttl * unit, MAX_SESSION_MS))
    if ms <= 0:
        raise ApiError(400, "invalid_payload", "Invalid payload", "session.ttl is too short")
    return ms


def _fingerprint(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
        h.update(b"\x00")
    return h.hexdigest()


def _idem_key(request: Request, key: AppKey, app_id: str) -> str | None:
    raw = request.headers.get("idempotency-key")
    if raw is None:
        return None
    if not raw or len(raw) > 255:
        raise ApiError(400, "invalid_payload", "Invalid payload", "Idempotency-Key must be 1-255 characters")
    return f"{app_id}:{raw}"


def _gw(request: Request) -> Gateway:
    try:
        return request.gateway  # type: ignore[attr-defined]  # the fast path's _Call
    except AttributeError:  # a Litestar Request: its State's attribute lookup is slower
        return request.app.state.gateway


def _timed(endpoint: str):
    """Count and time a handler in the metrics, whatever its outcome."""

    def wrap(fn):
        async def handler(request: Request, **kw: Any) -> Response:
            t0 = time.perf_counter()
            status = 500
            try:
                resp = await fn(request, **kw)
                status = resp.status_code
                return resp
            except ApiError as exc:
                status = exc.status
                return _error_response(exc)
            except StoreUnavailable as exc:
                status = 503
                mx.inc(mx.STORE_UNAVAILABLE)
                return _error_response(
                    ApiError(503, "service_unavailable", "Service unavailable", f"Redis is unreachable: {exc}")
                )
            except RedisResponseError:
                # a script or command Redis refused: our fault, never the client's; count it
                status = 500
                mx.inc(mx.SCRIPT_ERRORS)
                log.exception("Redis refused a call on %s", endpoint)
                return _error_response(
                    ApiError(500, "internal_error", "Internal error", "The store refused the operation")
                )
            finally:
                mx.observe(endpoint, status, time.perf_counter() - t0)

        return functools.wraps(fn)(handler)

    return wrap


# ------------------------------------------------------------------------------- validations


@post("/v1/validations", summary="Validate stackable redeemables against a cart", tags=["checkout"])
@_timed("validations")
async def validations(request: Request) -> Response:
    """Voucherify ``POST /v1/validations``: HTTP 200 even when ``valid`` is false."""
    gw = _gw(request)
    await gw.auth(request)
    req = _decode(s.decode_validations, await request.body())
    _check_order(req.order)
    now = gw.clock()
    rs, vouchers = await gw.vouchers(req.redeemables)
    await gw.customer(rs, req)
    await gw.card_holder(rs, req, vouchers)
    vouchers = await loyalty.referees(gw, rs, req, vouchers)
    sess_key = None
    if req.session is not None:
        sess_key = req.session.key or _new_id("ssn_")
    ev = gw.evaluate(rs, req, now, vouchers, None)
    counters = await gw.counters(ev, now, sess_key)
    if not E.counters_change_nothing(ev, counters):
        ev = gw.evaluate(rs, req, now, vouchers, counters)
    session_out = None
    if req.session is not None and ev.valid:
        ttl_ms = _session_ttl_ms(req.session)
        cards = [(camp, code, pts) for _o, camp, code, pts in E.debits(ev)]
        locked = await gw.store.lock(sess_key, ev.plan, ttl_ms, now, cards=cards)
        if not locked.ok:
            # someone took the last use between our read and the lock: judge again, live
            counters = await gw.counters(ev, now, sess_key, every=True)
            ev = gw.evaluate(rs, req, now, vouchers, counters)
        else:
            session_out = s.Session(
                type="LOCK", key=sess_key, ttl=req.session.ttl or 7, ttl_unit=req.session.ttl_unit or "DAYS"
            )
    resp = render.validation(ev, req, rs, gw.stacking(rs), _new_id("valid_"), session_out)
    return _ok(resp)


# ------------------------------------------------------------------------------- redemptions


async def _stored_answer(gw: Gateway, kind: str, key: str, fp: str) -> Response | None:
    """A stored idempotent answer for ``key``, or None. Raises 409 on a different body."""
    full = gw.store.idempotency_key(kind, key)  # type: ignore[arg-type]
    got = await gw.store.pipe.execute_command("HMGET", full, "fp", "resp")
    if not got or got[0] is None:
        return None
    if got[0].decode() != fp:
        raise ApiError(409, "duplicate_found", "Conflict", "This Idempotency-Key was used with another request")
    return _raw(got[1])


def _first_failure(ev: Any) -> Any:
    for o in ev.outcomes:
        if o.status == "INAPPLICABLE":
            return o
    return None


def _redeem_failed(ev: Any) -> ApiError:
    o = _first_failure(ev)
    if o is None:
        return ApiError(400, "invalid_redeemables", "Nothing to redeem", "No redeemable applies to this order")
    return ApiError(
        400,
        o.key,
        o.message,
        f"{o.object} {o.id}: {o.details or o.message}",
        resource_id=o.id,
        resource_type=o.object,
    )


def _failure_entry(req: Any, ev: Any, err: ApiError) -> bytes:
    return orjson.dumps(
        {
            "customer": req.customer.key if req.customer is not None else None,
            "order_amount": ev.amount,
            "key": err.key,
            "message": err.message,
            "items": [
                {
                    "object": o.object,
                    "id": o.id,
                    "campaign": o.holder.campaign.id
                    if o.holder is not None and o.holder.campaign is not None
                    else None,
                    "key": o.key or None,
                }
                for o in ev.outcomes
            ],
        }
    )


@post("/v1/redemptions", summary="Redeem stackable redeemables atomically", tags=["checkout"])
@_timed("redemptions")
async def redemptions(request: Request) -> Response:
    """Voucherify ``POST /v1/redemptions``, all-or-nothing in one Lua call; honours
    ``Idempotency-Key`` (same key and body: the stored answer; other body: 409)."""
    gw = _gw(request)
    key = await gw.auth(request)
    body = await request.body()
    req = _decode(s.decode_redemptions, body)
    _check_order(req.order)
    idem = _idem_key(request, key, request.headers.get("x-app-id", ""))
    fp = _fingerprint(b"redeem", body) if idem else None
    now = gw.clock()
    rs, vouchers = await gw.vouchers(req.redeemables)
    await gw.customer(rs, req)
    await gw.card_holder(rs, req, vouchers)
    vouchers = await loyalty.referees(gw, rs, req, vouchers)
    sess_key = req.session.key if req.session is not None else None
    ev = gw.evaluate(rs, req, now, vouchers, None)
    if ev.needs_counters:
        ev = gw.evaluate(rs, req, now, vouchers, await gw.counters(ev, now, sess_key))
    for _attempt in range(MAX_RETRIES):
        if not ev.valid:
            if idem:
                stored = await _stored_answer(gw, "redeem", idem, fp)
                if stored is not None:
                    return stored
            mx.inc(mx.REDEMPTIONS, "FAILURE")
            err = _redeem_failed(ev)
            mx.inc(mx.FAILURES, err.key)
            await gw.store.record_failure(now, _failure_entry(req, ev, err))
            raise err
        applicable = ev.applicable()
        parent_id = _new_id("r_")
        child_ids = [_new_id("r_") for _ in applicable]
        debits, cards = _card_debits(ev, req, applicable, child_ids)
        resp, children, parent = render.redemption(ev, req, rs, parent_id, child_ids, now, sess_key, cards)
        ops: list[tuple] = []
        parent_json = s.encode(parent)
        records = [RecordSpec(parent_id, parent_json, (), "", tuple(child_ids))]
        children_json = []
        for o, child in zip(applicable, children, strict=True):
            start = len(ops)
            ops.extend(o.ops)
            child_json = s.encode(child)
            children_json.append(child_json)
            records.append(RecordSpec(child.id, child_json, tuple(range(start, len(ops))), parent_id, ()))
        payload = s.encode_redeemed(resp, parent_json, children_json)
        ledger = orjson.dumps(
            {
                "customer": req.customer.key if req.customer is not None else None,
                "order_amount": ev.amount,
                "discount": ev.total_discount_amount,
                "items": [
                    {
                        "redemption": c,
                        "object": o.object,
                        "id": o.id,
                        "campaign": o.holder.campaign.id if o.holder.campaign is not None else None,
                        "discount": o.total_discount,
                        "gift": o.gift_credits,
                        "points": o.points,
                    }
                    for o, c in zip(applicable, child_ids, strict=True)
                ],
            }
        )
        result = await gw.store.redeem(
            ops,
            records,
            now,
            session_key=sess_key,
            idempotency_key=idem,
            fingerprint=fp,
            response=payload,
            ledger=ledger,
            debits=debits,
        )
        if result.status == "ok":
            mx.inc(mx.REDEMPTIONS, "SUCCESS")
            await loyalty.redemption_converted(gw, req, ev, parent_id, now)  # a referral converts
            await loyalty.redemption_paid(gw, req, ev, parent_id, now)  # a PAID order earns
            if debits:  # the cards' figures after the debits, as the script stored them
                return _raw(_filled(payload, debits, result.debits))
            return _raw(payload)
        if result.status == "replay":  # earning is idempotent on the order: a retry completes it
            stored = result.response or b""
            first = orjson.loads(stored).get("parent_redemption") or {} if stored else {}
            if first.get("id"):
                await loyalty.redemption_converted(gw, req, ev, first["id"], now)
                await loyalty.redemption_paid(gw, req, ev, first["id"], now)
            return _raw(stored)
        if result.status == "conflict":
            raise ApiError(409, "duplicate_found", "Conflict", "This Idempotency-Key was used with another request")
        # a limit was hit meanwhile: judge again against the live counters
        ev = gw.evaluate(rs, req, now, vouchers, await gw.counters(ev, now, sess_key, every=True))
    raise ApiError(409, "multiple_requests", "Too many concurrent changes", "Please retry the redemption")


def _card_debits(
    ev: Any, req: Any, applicable: list[Any], child_ids: list[str]
) -> tuple[list[CardDebit], dict[int, tuple[int, int]]]:
    """The wallet debits of a redeem (core's ``E.debits``), each owned by its child's record
    (record 0 is the parent), with the placeholders rendered where the card's figures after the
    debit go (outcome index -> (lifetime points, balance))."""
    found = E.debits(ev)
    if not found:
        return [], {}
    pos = {o.index: k for k, o in enumerate(applicable)}
    tokens = placeholders(2 * len(found))
    order = req.order
    order_ref = {"id": order.id, "source_id": order.source_id} if order is not None else None
    debits, cards = [], {}
    for i, (o, camp, code, pts) in enumerate(found):
        k = pos[o.index]
        coin = o.reward
        details = {"redemption": {"id": child_ids[k]}, "reward": {"id": coin.id, "name": coin.name or None}}
        if order_ref is not None:
            details["order"] = order_ref
        total_t, bal_t = tokens[2 * i], tokens[2 * i + 1]
        debits.append(CardDebit(camp, code, pts, 1 + k, orjson.dumps(details), bal_t, total_t))
        cards[o.index] = (total_t, bal_t)
    return debits, cards


def _filled(payload: bytes, debits: list[CardDebit], done: list[Any]) -> bytes:
    """The answer with the cards' figures in place of their placeholders (as the script wrote
    it in the records and under the idempotency key)."""
    for d, r in zip(debits, done, strict=True):
        payload = payload.replace(b'":%d' % d.balance_token, b'":%d' % r.balance)
        payload = payload.replace(b'":%d' % d.total_token, b'":%d' % r.total)
    return payload


# ------------------------------------------------------------------------------- rollbacks

_redemption_dec = msgspec.json.Decoder(s.Redemption)


def _rollback_out(rb: Any, rolled: Any, reason: str | None, tracking: str | None, rr_id: str) -> s.RedemptionRollback:
    red = _redemption_dec.decode(rolled.data)
    if rolled.refunds:  # paid with points: given back (negative, as Voucherify writes it)
        back = sum(r.points for r in rolled.refunds)
        red.amount = -back
        red.loyalty_card = s.PointsOut(points=-back)
        last = rolled.refunds[-1]
        if red.voucher is not None and red.voucher.loyalty_card is not None:
            red.voucher.loyalty_card = s.VoucherLoyaltyOut(points=last.total, balance=last.balance)
    return s.RedemptionRollback(
        id=rr_id,
        date=render.ms_to_dt(rb.at_ms or 0),
        redemption=red.id,
        customer_id=red.customer_id,
        tracking_id=tracking or red.tracking_id,
        metadata=red.metadata,
        amount=red.amount,
        reason=reason or rb.reason or None,
        result="SUCCESS",
        status="SUCCEEDED",
        order=red.order,
        channel=s.Channel(channel_type="API"),
        customer=red.customer,
        related_object_type=red.related_object_type,
        related_object_id=red.related_object_id,
        voucher=red.voucher,
        promotion_tier=red.promotion_tier,
        reward=red.reward,
        gift=red.gift,
        loyalty_card=red.loyalty_card,
    )


#: titles of the keys a rollback's undo step refuses with (store/loyalty.py names them)
_REFUSED = {
    "reward_already_used": "Reward already used",
    "loyalty_card_points_exceeded": "Loyalty card points exceeded",
}


async def _rollback(request: Request, redemption_id: str, stacked: bool) -> Response:
    gw = _gw(request)
    key = await gw.auth(request)
    body = await request.body()
    q = request.query_params
    req = _decode(
        lambda b: s.decode_rollback(b, reason=q.get("reason"), tracking_id=q.get("tracking_id")),
        body,
        optional=True,  # the SDK sends no body (Content-Length: 0) unless given a body model
    )
    idem = _idem_key(request, key, request.headers.get("x-app-id", ""))
    fp = _fingerprint(b"rollback", redemption_id.encode(), b"1" if stacked else b"0", body) if idem else None
    rb = await gw.store.rollback(
        redemption_id,
        _new_id("rr_"),
        gw.clock(),
        reason=req.reason or "",
        stacked=stacked,
        idempotency_key=idem,
        fingerprint=fp,
    )
    if rb.status == "not_found":
        raise ApiError(404, "not_found", "Resource not found", f"Cannot find redemption with id {redemption_id}",
                       resource_id=redemption_id, resource_type="redemption")  # fmt: skip
    if rb.status == "already_rolled_back":
        mx.inc(mx.ROLLBACKS, "already_rolled_back")
        raise ApiError(400, "already_rolled_back", "Redemption was already rolled back",
                       f"Redemption {redemption_id} was rolled back by {rb.rollback_id}",
                       resource_id=redemption_id, resource_type="redemption")  # fmt: skip
    if rb.status == "invalid_redemption":
        raise ApiError(400, "invalid_redemption", "Invalid redemption",
                       f"Redemption {redemption_id} is stacked: use /v1/redemptions/{redemption_id}/rollbacks",
                       resource_id=redemption_id, resource_type="redemption")  # fmt: skip
    if rb.status == "conflict":
        raise ApiError(409, "duplicate_found", "Conflict", "This Idempotency-Key was used with another request")
    if rb.status == "refused":  # what the redemption gave (a reward) was used since: kept
        mx.inc(mx.ROLLBACKS, rb.error)
        raise ApiError(400, rb.error, _REFUSED.get(rb.error, "Rollback refused"),
                       f"Redemption {redemption_id} cannot be rolled back: what it gave ({rb.subject}) "
                       "was used since",
                       resource_id=redemption_id, resource_type="redemption")  # fmt: skip
    mx.inc(mx.ROLLBACKS, "SUCCESS")
    if rb.redemptions:  # its order is cancelled: what it earned is taken back (once)
        await loyalty.redemption_rolled_back(gw, rb.redemptions[0].data, gw.clock())
    base = rb.rollback_id or _new_id("rr_")
    outs = [
        _rollback_out(rb, r, req.reason, req.tracking_id, base if i == 0 else f"{base}_{i}")
        for i, r in enumerate(rb.redemptions)
    ]
    if not stacked:
        return _ok(outs[0])
    parent = outs[0]
    if parent.order is not None:
        parent.order.status = "CANCELED"
    return _ok(s.RollbacksResponse(rollbacks=outs[1:], parent_rollback=parent, order=parent.order))


@post("/v1/redemptions/{redemption_id:str}/rollback", summary="Roll back one redemption", tags=["checkout"])
@_timed("rollback")
async def rollback_one(request: Request, redemption_id: FromPath[str]) -> Response:
    """Voucherify ``POST /v1/redemptions/{id}/rollback``; ``already_rolled_back`` the second time."""
    return await _rollback(request, redemption_id, stacked=False)


@post("/v1/redemptions/{redemption_id:str}/rollbacks", summary="Roll back a stacked redemption", tags=["checkout"])
@_timed("rollbacks")
async def rollback_stacked(request: Request, redemption_id: FromPath[str]) -> Response:
    """Voucherify ``POST /v1/redemptions/{parent_id}/rollbacks``: the parent and all children."""
    return await _rollback(request, redemption_id, stacked=True)


@get("/v1/redemptions/{redemption_id:str}", summary="Get a redemption", tags=["checkout"])
@_timed("get_redemption")
async def get_redemption(request: Request, redemption_id: FromPath[str]) -> Response:
    gw = _gw(request)
    await gw.auth(request)
    rec = await gw.store.get_redemption(redemption_id)
    if rec is None:
        raise ApiError(404, "not_found", "Resource not found", f"Cannot find redemption with id {redemption_id}",
                       resource_id=redemption_id, resource_type="redemption")  # fmt: skip
    red = _redemption_dec.decode(rec.data)
    if rec.status == "ROLLED_BACK":
        red.status = "ROLLED_BACK"
    return _ok(red)


# ------------------------------------------------------------------------------- qualifications


@post("/v1/qualifications", summary="Which promotions and codes apply to this cart", tags=["checkout"])
@_timed("qualifications")
async def qualifications(request: Request) -> Response:
    """Voucherify ``POST /v1/qualifications``, honouring live limits (Voucherify's does not)."""
    gw = _gw(request)
    await gw.auth(request)
    req = _decode(s.decode_qualifications, await request.body())
    _check_order(req.order)
    rs = gw.live.current
    now = gw.clock()
    await gw.customer(rs, req)
    sorting = req.options.sorting_rule if req.options is not None and req.options.sorting_rule else "DEFAULT"
    wallet = await _fail_closed(gw.live.wallet(rs, req.customer)) or None  # codes admin issued
    found = E.qualify(rs, req.customer, req.order, now, wallet, None, sorting)
    keys = E.keys_for(found)
    if keys:
        values = await gw.store.check(keys, now)
        counters = dict(zip(keys, values, strict=True))
        if E.shows_balance(found):  # live balances change amounts: judge again
            found = E.qualify(rs, req.customer, req.order, now, wallet, counters, sorting)
        else:
            found = E.within_limits(found, counters)
    if req.options is not None and req.options.starting_after is not None:
        # resume after the cursor's entry in THIS order (BEST_DEAL pages are not in created order)
        after = req.options.starting_after
        stamps = [render.created_at(o.holder) for o in found]
        pos = next((i for i, t in enumerate(stamps) if t == after), None)
        found = found[pos + 1 :] if pos is not None else [o for o, t in zip(found, stamps, strict=True) if t > after]
    return _ok(render.qualification(found, req, rs, gw.stacking(rs)))


# ------------------------------------------------------------------------------- sessions


@delete("/v1/vouchers/{code:str}/sessions/{session_key:str}", status_code=200, summary="Release a reservation",
        tags=["checkout"])  # fmt: skip
@_timed("release_session")
async def release_session(request: Request, code: FromPath[str], session_key: FromPath[str]) -> Response:
    """Voucherify ``DELETE /v1/vouchers/{code}/sessions/{key}``: 204, also when nothing was held."""
    gw = _gw(request)
    await gw.auth(request)
    await gw.store.release(session_key, gw.clock())
    return Response(content=b"", status_code=204)


# ------------------------------------------------------------------------------- operations


@get("/health", summary="Liveness", tags=["ops"])
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/ready", summary="Readiness: Redis reachable and ruleset loaded", tags=["ops"])
async def ready(request: Request) -> Response:
    gw = _gw(request)
    dur = gw.durability

    def answer(status: int, **fields: Any) -> Response:  # with what a crash of Redis loses
        return _raw(orjson.dumps({**fields, "durability": dur.current.as_dict()}), status)

    try:
        await gw.store.ping()
    except StoreUnavailable as exc:
        return answer(503, ready=False, reason=f"redis: {exc}")
    if dur.read_at is None:  # never read (Redis was down at start): now, once
        await dur.refresh(gw.redis, gw.settings.redis_timeout)
    else:  # at most once a minute, in the background: /ready does not wait for it
        dur.maybe_refresh(gw.redis, gw.settings.redis_timeout)
    if not gw.live.ready:
        try:
            await gw.live.reload()
        except Exception as exc:
            return answer(503, ready=False, reason=f"ruleset: {exc}")
    return answer(200, ready=True, ruleset_version=gw.live.version)


@get("/metrics", summary="Prometheus metrics", tags=["ops"], media_type="text/plain")
async def metrics(request: Request) -> Response:
    gw = _gw(request)
    mx.set_ruleset(gw.live)
    content, ctype = mx.render()
    return Response(content=content, media_type=ctype)


# ------------------------------------------------------------------------------- errors


def _http_exception(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    key = {404: "not_found", 405: "method_not_allowed", 413: "invalid_payload", 415: "invalid_payload"}.get(
        status, "invalid_payload" if status < 500 else "internal_error"
    )
    return _error_response(ApiError(status, key, str(exc.detail or "Error"), str(exc.detail or "")))


def _unexpected(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ApiError):
        return _error_response(exc)
    if isinstance(exc, StoreUnavailable):
        return _error_response(ApiError(503, "service_unavailable", "Service unavailable", str(exc)))
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return _error_response(
        ApiError(HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "Internal error", "An unexpected error occurred")
    )


class _Headers:
    """Header lookup over an ASGI scope's raw list (names lowercased, as ASGI gives them)."""

    __slots__ = ("_raw",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw if isinstance(raw, list) else list(raw)  # ASGI allows any iterable

    def get(self, name: str, default: Any = None) -> Any:
        # ASGI gives header names lowercased; a handler reads 2-4 of them, so a scan of the few
        # raw pairs beats building a dict of all of them. The last of repeated headers wins.
        key = name.encode("latin-1")
        for k, v in reversed(self._raw):
            if k == key:
                return v.decode("latin-1")
        return default


class _Call:
    """What the handlers read of a request (the subset of Litestar's ``Request`` they use),
    built straight from the ASGI scope on the fast path."""

    __slots__ = ("app", "gateway", "headers", "_body", "_qs", "_query")

    def __init__(self, app: Litestar, gateway: Gateway, scope: Any, body: bytes) -> None:
        self.app = app
        self.gateway = gateway
        self.headers = _Headers(scope["headers"])
        self._body = body
        self._qs = scope.get("query_string", b"")
        self._query: dict[str, str] | None = None

    async def body(self) -> bytes:
        return self._body

    @property
    def query_params(self) -> dict[str, str]:
        if self._query is None:
            self._query = {k: v[-1] for k, v in parse_qs(self._qs.decode("latin-1")).items()}
        return self._query


class _TooLarge(Exception):
    pass


async def _read_body(receive: Any, limit: int) -> bytes:
    chunks = []
    size = 0
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            raise ConnectionError("client disconnected")
        chunk = msg.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            chunks.append(chunk)
        if not msg.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


_JSON_HEADER = (b"content-type", b"application/json")
_ROLLBACK_PATH = re.compile(r"^/v1/redemptions/([^/]+)/(rollback|rollbacks)$")


def _fast_front(app: Litestar, gw: Gateway, max_body: int) -> Callable:
    """Serve the hot routes (checkout, new orders, events) straight from ASGI, everything else
    through Litestar.

    The hot handlers are the very functions the Litestar routes call (so the OpenAPI schema,
    errors and metrics are the same); this only skips the router, the ``Request`` object and
    the signature model, which profiling showed to be the largest share of a request's CPU.
    """
    slow = app.asgi_handler
    exact = {
        "/v1/validations": validations.fn,
        "/v1/redemptions": redemptions.fn,
        "/v1/qualifications": qualifications.fn,
        # the loyalty intake: half of an event's worker time was Litestar's (py-spy)
        "/v1/orders": loyalty.create_order.fn,
        "/v1/events": loyalty.track_event.fn,
    }

    async def handle(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await slow(scope, receive, send)
        path = scope["path"]
        fn = exact.get(path)
        kwargs: dict[str, str] = {}
        if fn is None:
            m_ = _ROLLBACK_PATH.match(path) if path.startswith("/v1/redemptions/") else None
            if m_ is None:
                return await slow(scope, receive, send)
            fn = rollback_one.fn if m_.group(2) == "rollback" else rollback_stacked.fn
            kwargs["redemption_id"] = unquote(m_.group(1))
        try:
            body = await _read_body(receive, max_body)
        except _TooLarge:
            resp = _error_response(
                ApiError(413, "invalid_payload", "Request Entity Too Large", f"The body exceeds {max_body} bytes")
            )
        except ConnectionError:
            return None
        else:
            resp = await fn(_Call(app, gw, scope, body), **kwargs)
        content = resp.content
        await send(
            {
                "type": "http.response.start",
                "status": resp.status_code,
                "headers": [_JSON_HEADER, (b"content-length", str(len(content)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": content})
        return None

    return handle


def create_app(settings: Settings | None = None, clock: Callable[[], int] | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    gw = Gateway(settings, clock)

    async def on_startup(app: Litestar) -> None:
        app.state.gateway = gw
        await gw.start()

    async def on_shutdown(app: Litestar) -> None:
        await gw.stop()

    app = Litestar(
        route_handlers=[
            *loyalty.HANDLERS,
            validations,
            redemptions,
            rollback_one,
            rollback_stacked,
            get_redemption,
            qualifications,
            release_session,
            health,
            ready,
            metrics,
        ],
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        exception_handlers={HTTPException: _http_exception, Exception: _unexpected},
        request_max_body_size=settings.max_body,
        debug=os.environ.get("PROMOGATE_DEBUG", "") not in ("", "0"),
    )
    describe_openapi(app)  # bodies and answers of the raw-body handlers (schema metadata only)
    app.asgi_handler = _fast_front(app, gw, settings.max_body)
    return app


# the loyalty calls (gateway/loyalty.py) use this module's helpers, and the checkout calls above
# call its order hooks: imported last, once everything it needs from here exists
from . import loyalty  # noqa: E402
