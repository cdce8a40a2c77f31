"""What every gateway worker holds in memory: the compiled ruleset, code and key caches.

A new definitions version is compiled off to the side and swapped in only when it compiles;
a version that fails keeps the old ruleset and is counted (``compile_errors``). Changes arrive
by pub/sub; a periodic version check is the safety net for a missed notice.
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

import core
from core import model as m
from core.errors import CompileError
from core.segments import Filter, compile_filter, matching, needs_points
from store import codebook
from store.auth import token_hash
from store.keys import Keys
from store.loyalty import Catalog, Loyalty

log = logging.getLogger("promogate.gateway")
E = core.engine

_voucher_dec = msgspec.json.Decoder(m.Voucher)
_defs_dec = msgspec.json.Decoder(m.Definitions)
MISS_TTL = 2.0  # seconds an unknown code is remembered as unknown (a notice clears it sooner)
CODES_MAX = 200_000  # codes whose holders a worker keeps (oldest dropped first)
WALLET_MAX = 500  # codes of one customer considered by qualifications
SEGMENTS_TTL = 5.0  # seconds a customer's segments (and the dynamic definitions) are cached
#: segment types whose members a filter decides (admin.routes_people.DYNAMIC)
DYNAMIC = ("auto-update", "passive")


class AppKey(msgspec.Struct, frozen=True):
    token_sha256: str
    role: str
    name: str


def _compile(defs: m.Definitions) -> tuple[Any, Any]:
    """The checkout ruleset and the loyalty catalogue (earning index included) of one
    definitions document."""
    return E.compile_ruleset(defs), Catalog(defs)


def _settle_heap() -> None:
    """Collect the old ruleset, then move every surviving object (the new ruleset, the modules)
    out of the garbage collector's sight (``gc.freeze``).

    A ruleset is hundreds of thousands of long-lived objects; without this, each full collection
    during traffic walks all of them (~60 ms at 10,000 promotions) and the collector's share of a
    worker at saturation was 7-8 % of its throughput (BENCHMARKS.md). Unfreezing first lets the
    previous ruleset, frozen by the last swap, be collected instead of leaking.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class Live:
    """A worker's view of what admin publishes: the compiled ruleset (swapped on notice, polled
    as a safety net) and cached lookups of codes, app keys, customers' codes and segments.

    ``redis`` (redis-py asyncio) serves the definitions reload and the pub/sub listener. Request
    time lookups go through ``pipe`` when given (the gateway passes its store's auto-pipeliner):
    they then share the round trips and the cheaper client of the checkout calls.
    """

    def __init__(self, redis: Any, prefix: str, poll: float = 5.0, pipe: Any = None,
                 clock: Callable[[], int] | None = None) -> None:  # fmt: skip
        self.redis = redis
        #: the time dynamic segments are judged at when the caller gives none (epoch ms)
        self.clock = clock or (lambda: int(time.time() * 1000))
        self.pipe = pipe
        self.keys = Keys(prefix)
        self.poll = poll
        self.ruleset: Any = None
        self.version = -1  # the version of the ruleset in use
        self.rejected = -1  # the last version that failed to compile (not retried)
        self.loaded_at = 0.0
        self.compile_errors = 0
        self.last_error = ""
        self._codes: dict[str, Any] = {}  # code -> Holder | (None, expiry)
        self._appkeys: dict[str, AppKey | None] = {}
        self._verified: dict[tuple[str, str], AppKey] = {}  # (id, token) pairs already checked
        # customer key -> (segment ids, monotonic expiry, the now_ms they were judged at)
        self._segments: dict[str, tuple[list[str], float, int]] = {}
        self._dynamic: tuple[list[tuple[str, Filter]], float] | None = None
        self._wallets: Loyalty | None = None  # points for filters on loyalty.points
        self._tasks: list[asyncio.Task] = []
        self._stopping = False
        self._reload_lock = asyncio.Lock()
        self.empty = E.compile_ruleset(m.Definitions())
        #: the loyalty part of the definitions in use (programs, rewards, the earning index)
        self.loyalty = Catalog(m.Definitions())

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self.reload()
        except Exception as exc:  # Redis down at start: serve 503s until it comes back
            log.warning("initial ruleset load failed: %s", exc)
        self._tasks = [
            asyncio.create_task(self._listen(), name="ruleset-listen"),
            asyncio.create_task(self._poll(), name="ruleset-poll"),
        ]

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop the listener and the poller, within ``timeout`` seconds.

        A cancellation that lands while redis-py is connecting can be swallowed there, leaving
        the listener waiting on ``pubsub.listen()`` for ever: so the tasks are cancelled again
        until they are done, and the loop that restarts the listener checks ``_stopping``.
        """
        self._stopping = True
        pending = {t for t in self._tasks if not t.done()}
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for t in pending:
                t.cancel()
            _, pending = await asyncio.wait(pending, timeout=0.2)
        if pending:
            log.warning("%d background task(s) did not stop in %.1f s", len(pending), timeout)

    @property
    def ready(self) -> bool:
        return self.ruleset is not None

    @property
    def current(self) -> Any:
        """The ruleset snapshot a request uses from start to end."""
        return self.ruleset if self.ruleset is not None else self.empty

    async def reload(self) -> bool:
        """Load and compile the stored definitions if their version is newer. True if swapped."""
        async with self._reload_lock:
            # one snapshot of both: admin changes them in one MULTI/EXEC
            raw_version, doc = await self.redis.mget(self.keys.version, self.keys.defs)
            version = int(raw_version or 0)
            if self.ruleset is not None and version in (self.version, self.rejected):
                return False
            try:
                defs = _defs_dec.decode(doc) if doc else m.Definitions()
                rs, ix = await asyncio.to_thread(_compile, defs)
            except (msgspec.ValidationError, msgspec.DecodeError, CompileError) as exc:
                self.compile_errors += 1
                self.last_error = str(exc)
                self.rejected = version  # do not retry the same broken version in a loop
                log.error(
                    "definitions version %s rejected, keeping the old ruleset: %s", version, exc
                )
                if self.ruleset is None:
                    self.ruleset = self.empty
                return False
            self.loyalty = ix  # before the ruleset: a request that sees the new one sees this
            self.ruleset = rs
            self.version = version
            self.loaded_at = time.time()
            self._codes.clear()  # holders point at campaigns of the old ruleset
            _settle_heap()
            log.info("ruleset version %s loaded (%s definitions)", version, rs.size)
            return True

    async def newer(self, stored: int, seen: Any) -> Any:
        """The loyalty catalogue to use instead of ``seen`` (the one a request started with),
        given the definitions version ``stored`` that the request read from Redis in its own
        round trip: the current one when it was swapped meanwhile (by the listener, or by the
        load this starts when this worker is behind), else None."""
        if self.loyalty is seen and stored not in (self.version, self.rejected):
            await self.reload()  # or waits for the listener's reload of the same version
        return self.loyalty if self.loyalty is not seen else None

    async def refresh(self) -> bool:
        """Read your writes for definitions: load the stored version when it is newer than the
        one in use (a request that found no such reward or program right after admin created
        it). One GET when nothing changed. True if swapped."""
        raw = await self._cmd("GET", self.keys.version)
        if int(raw or 0) in (self.version, self.rejected):
            return False
        return await self.reload()

    async def _listen(self) -> None:
        while not self._stopping:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(self.keys.channel)
                # after (re)subscribing, catch up with anything missed meanwhile
                await self.reload()
                async for msg in pubsub.listen():
                    if msg.get("type") != "message":
                        continue
                    data = msg["data"]
                    text = data.decode() if isinstance(data, bytes) else str(data)
                    if text.startswith("code:"):
                        self._codes.pop(text[5:], None)
                    elif text.startswith("appkey:"):
                        self._appkeys.pop(text[7:], None)
                        self._verified.clear()
                    elif text == "segments":  # a segment was created or deleted (admin)
                        self._dynamic = None
                        self._segments.clear()
                    else:
                        await self.reload()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("definitions listener lost its connection: %s", exc)
                await asyncio.sleep(0.5)
            finally:
                try:
                    await pubsub.aclose()
                except Exception:
                    pass

    async def _poll(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.poll)
            try:
                await self.reload()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("version check failed: %s", exc)

    def _cmd(self, *args: Any) -> Awaitable[Any]:
        """One request-time lookup, sent now (through the auto-pipeliner if there is one: the
        commands issued in one turn of the loop share a round trip); await its reply."""
        if self.pipe is not None:
            return self.pipe.execute_command(*args)
        return asyncio.ensure_future(self.redis.execute_command(*args))

    # -- codes -------------------------------------------------------------------------------

    async def holders(self, codes: list[str]) -> tuple[Any, dict[str, Any]]:
        """The ruleset snapshot to judge ``codes`` with, and holders of the codes that are not in
        its own vouchers (see :meth:`_holders`).

        Read your writes: a code admin has just created may reach Redis before this worker has
        applied the notice. When a code is unknown and Redis already holds a newer definitions
        version (read in the same round trip as the codes), the worker loads that version first
        and looks again, so a checkout right after admin's answer sees the code.
        """
        rs = self.current
        out, unknown, stored = await self._holders(rs, codes)
        if unknown:
            if stored not in (self.version, self.rejected):
                await self.reload()  # or wait for the reload already under way (the listener's)
            if self.current is not rs:  # swapped by this reload, or by the listener meanwhile
                rs = self.current
                out, _, _ = await self._holders(rs, codes)
        return rs, out

    def _remember(self, code: str, value: Any) -> None:
        """Cache a code's holder (or its miss), at most CODES_MAX of them: the oldest cached goes
        first (a million loyalty cards paying at random must not grow a worker without bound)."""
        codes = self._codes
        if code not in codes and len(codes) >= CODES_MAX:
            del codes[next(iter(codes))]
        codes[code] = value

    async def _holders(self, rs: Any, codes: list[str]) -> tuple[dict[str, Any], bool, int]:
        """Holders for codes not in the ruleset's own vouchers, from the cache or Redis; whether
        a code looked up in Redis was unknown there; the definitions version Redis held then
        (-1 when nothing was looked up).

        Steady state: no Redis call (a code's campaign never changes once created; a change of
        the code itself arrives as a notice that drops it from the cache).
        """
        out: dict[str, Any] = {}
        missing: list[str] = []
        now = time.monotonic()
        for code in codes:
            if code in rs.vouchers:
                continue
            hit = self._codes.get(code)
            if hit is None:
                missing.append(code)
            elif isinstance(hit, tuple):
                if hit[1] < now:
                    missing.append(code)
            else:
                out[code] = hit
        unknown, stored = False, -1
        if missing:
            # the version and the codes' buckets in one round trip (the auto-pipeliner batches
            # every command issued in this turn of the loop)
            raw_version, *raws = await asyncio.gather(
                self._cmd("GET", self.keys.version),
                *(self._cmd("HGET", b, c) for c in missing for b in self.keys.code_buckets(c)),
            )
            stored = int(raw_version or 0)
            records = await codebook.found(self._cmd, self.keys, missing, raws)
            for code, raw in zip(missing, records, strict=True):
                h = None
                if raw:
                    try:
                        h = E.holder_for_voucher(rs, _voucher_dec.decode(raw))
                    except (msgspec.ValidationError, msgspec.DecodeError, CompileError) as exc:
                        log.error("code %s is stored but unusable: %s", code, exc)
                if h is None:
                    unknown = True
                    if rs is self.ruleset:  # a miss judged on an older ruleset is not kept
                        self._remember(code, (None, now + MISS_TTL))
                else:
                    if rs is self.ruleset:
                        self._remember(code, h)
                    out[code] = h
        return out, unknown, stored

    # -- customers ---------------------------------------------------------------------------

    async def wallet(self, rs: Any, customer: m.Customer | None) -> dict[str, Any]:
        """Holders of the codes admin issued to this customer (``Pcustcodes:<source_id or id>``,
        kept outside the definitions document), for qualifications. At most WALLET_MAX codes."""
        if customer is None:
            return {}
        codes: list[str] = []
        ids = sorted({customer.source_id, customer.id} - {None, ""})
        found = await asyncio.gather(
            *(self._cmd("SRANDMEMBER", self.keys.customer_codes(key), WALLET_MAX) for key in ids)
        )
        for raw in found:
            codes += [c.decode() if isinstance(c, bytes) else str(c) for c in raw or ()]
        if not codes:
            return {}
        return (await self._holders(rs, sorted(set(codes))))[0]

    # -- customers: segments ----------------------------------------------------------------

    async def segments(self, customer: m.Customer, now_ms: int | None = None) -> list[str]:
        """The segments a known customer is in: its static segments (admin stores them on the
        customer), then the dynamic ones (``auto-update`` / ``passive``) whose filter core judges
        true at ``now_ms`` (default: :attr:`clock`) from the stored customer, its metrics hash
        and, only when a filter reads ``loyalty.points``, its points.

        Only called when the ruleset has a ``customer.segment`` rule and the client did not send
        ``customer.segments`` itself. A customer admin's records do not hold (never ordered
        through the gateway, never created in admin) is in no segment.

        Round trips: the ``source_id`` lookup, then the customer and its metrics hash together
        (one pipelined flush); the dynamic definitions are read (ZRANGE, MGET) at most every
        SEGMENTS_TTL seconds, beside the first. Correctness: the answer for one customer is
        cached for SEGMENTS_TTL seconds of real time AND of ``now_ms``, so an order that moves a
        customer into or out of a dynamic segment is seen by this worker's checkouts at most
        SEGMENTS_TTL seconds later; a new or deleted segment at once (admin's ``segments``
        notice drops both caches), or within SEGMENTS_TTL if the notice is missed. Crossing a
        relative date ("no order for 30 days") needs no write at all: it is judged at
        ``now_ms``.
        """
        if now_ms is None:
            now_ms = self.clock()
        key = customer.source_id or customer.id or ""
        mono = time.monotonic()
        hit = self._segments.get(key)
        if hit is not None and hit[1] > mono and 0 <= now_ms - hit[2] < SEGMENTS_TTL * 1000:
            return hit[0]
        cid, dynamic = await asyncio.gather(self._customer_id(customer), self._dynamic_segments())
        segs: list[str] = []
        if cid:
            doc, raw_metrics = await asyncio.gather(
                self._cmd("GET", self.keys.customer(cid)),
                self._cmd("HGETALL", self.keys.customer_metrics(cid)) if dynamic else _none(),
            )
            stored = None
            if doc:
                try:
                    stored = msgspec.json.decode(doc)
                    segs = [str(x) for x in (stored.get("segments") or [])]
                except (msgspec.DecodeError, AttributeError):
                    log.error("customer %s is stored but unreadable", cid)
                    stored = None
            if dynamic and isinstance(stored, dict):
                points = None
                if needs_points(f for _, f in dynamic):
                    points = await self._points(stored, now_ms)
                metrics = _int_hash(raw_metrics)
                segs += [
                    s for s in matching(dynamic, stored, metrics, now_ms, points) if s not in segs
                ]
        if len(self._segments) > 100_000:
            self._segments.clear()
        self._segments[key] = (segs, mono + SEGMENTS_TTL, now_ms)
        return segs

    async def _customer_id(self, customer: m.Customer) -> str | None:
        if customer.source_id:
            raw_id = await self._cmd("GET", self.keys.customer_src(customer.source_id))
            if raw_id:
                return raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
        return customer.id

    async def _dynamic_segments(self) -> list[tuple[str, Filter]]:
        """Every dynamic segment, compiled: ``[(id, filter)]``, cached for SEGMENTS_TTL (or
        until admin's notice). A stored filter core refuses (stored before a stricter core) is
        logged and left out: nobody is in it."""
        mono = time.monotonic()
        hit = self._dynamic
        if hit is not None and hit[1] > mono:
            return hit[0]
        out: list[tuple[str, Filter]] = []
        ids = await self._cmd("ZRANGE", self.keys.segments, 0, -1)
        if ids:
            raws = await self._cmd("MGET", *(self.keys.segment(_text(i)) for i in ids))
            for raw in raws:
                if not raw:
                    continue
                try:
                    seg = msgspec.json.decode(raw)
                    if not isinstance(seg, dict) or seg.get("type") not in DYNAMIC:
                        continue
                    out.append(
                        (str(seg["id"]), compile_filter(seg.get("filter"), "segment.filter"))
                    )
                except (msgspec.DecodeError, KeyError, CompileError) as exc:
                    log.error("segment stored but unusable, left out: %s", exc)
        self._dynamic = (out, mono + SEGMENTS_TTL)
        return out

    async def _points(self, customer: dict[str, Any], now_ms: int) -> int | None:
        """The customer's spendable points over all programs (store.loyalty's live figures), or
        None (unknown) when this Live has no auto-pipeliner to read wallets through."""
        if self.pipe is None:
            return None
        if self._wallets is None:
            self._wallets = Loyalty(self.pipe, self.keys.prefix)
        live = await self._wallets.customer_loyalty(self.loyalty, customer, now_ms, referrals=False)
        return int(live["loyalty"]["points"])

    # -- keys --------------------------------------------------------------------------------

    async def app_key(self, key_id: str) -> AppKey | None:
        if key_id in self._appkeys:
            return self._appkeys[key_id]
        raw = await self._cmd("HGETALL", self.keys.appkey(key_id))
        key = None
        if raw:
            f = {k.decode(): v.decode() for k, v in raw.items()}
            key = AppKey(f.get("token_sha256", ""), f.get("role", ""), f.get("name", ""))
        if len(self._appkeys) > 10_000:
            self._appkeys.clear()
        self._appkeys[key_id] = key
        return key

    async def authenticate(self, key_id: str | None, token: str | None) -> AppKey | None:
        if not key_id or not token:
            return None
        hit = self._verified.get((key_id, token))
        if hit is not None:
            return hit
        key = await self.app_key(key_id)
        if key is None or not hmac.compare_digest(key.token_sha256, token_hash(token)):
            return None
        if len(self._verified) > 10_000:
            self._verified.clear()
        self._verified[(key_id, token)] = key  # dropped with the key's change notice
        return key


async def _none() -> None:
    return None


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _int_hash(raw: Any) -> dict[str, int]:
    """An HGETALL reply (a dict, or a flat list) as ``{field: int}``; unreadable fields left out."""
    if not raw:
        return {}
    pairs = raw.items() if isinstance(raw, dict) else zip(raw[::2], raw[1::2], strict=True)
    out: dict[str, int] = {}
    for k, v in pairs:
        try:
            out[_text(k)] = int(v)
        except (TypeError, ValueError):
            continue
    return out
