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
from typing import Any

import msgspec

import core
from core import model as m
from core.errors import CompileError
from store.auth import token_hash
from store.keys import Keys
from store.loyalty import Catalog

log = logging.getLogger("promogate.gateway")
E = core.engine

_voucher_dec = msgspec.json.Decoder(m.Voucher)
_defs_dec = msgspec.json.Decoder(m.Definitions)
MISS_TTL = 2.0  # seconds an unknown code is remembered as unknown (a notice clears it sooner)
WALLET_MAX = 500  # codes of one customer considered by qualifications
SEGMENTS_TTL = 5.0  # seconds a customer's static segments are cached per worker


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

    def __init__(self, redis: Any, prefix: str, poll: float = 5.0, pipe: Any = None) -> None:
        self.redis = redis
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
        self._segments: dict[str, tuple[list[str], float]] = {}
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

    async def _cmd(self, *args: Any) -> Any:
        """One request-time lookup: through the auto-pipeliner if there is one."""
        if self.pipe is not None:
            return await self.pipe.execute_command(*args)
        return await self.redis.execute_command(*args)

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
            raw_version, *raws = await self._cmd(
                "MGET", self.keys.version, *[self.keys.code(c) for c in missing]
            )
            stored = int(raw_version or 0)
            for code, raw in zip(missing, raws, strict=True):
                h = None
                if raw:
                    try:
                        h = E.holder_for_voucher(rs, _voucher_dec.decode(raw))
                    except (msgspec.ValidationError, msgspec.DecodeError, CompileError) as exc:
                        log.error("code %s is stored but unusable: %s", code, exc)
                if h is None:
                    unknown = True
                    if rs is self.ruleset:  # a miss judged on an older ruleset is not kept
                        self._codes[code] = (None, now + MISS_TTL)
                else:
                    if rs is self.ruleset:
                        self._codes[code] = h
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

    # -- customers: static segments --------------------------------------------------------

    async def segments(self, customer: m.Customer) -> list[str]:
        """Static segments of a known customer (admin stores them), cached for SEGMENTS_TTL.

        Only called when the ruleset has a ``customer.segment`` rule and the client did not send
        ``customer.segments`` itself.
        """
        key = customer.source_id or customer.id or ""
        now = time.monotonic()
        hit = self._segments.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        cid = customer.id
        if customer.source_id:
            raw_id = await self._cmd("GET", self.keys.customer_src(customer.source_id))
            if raw_id:
                cid = raw_id.decode()
        segs: list[str] = []
        if cid:
            doc = await self._cmd("GET", self.keys.customer(cid))
            if doc:
                try:
                    segs = [str(x) for x in (msgspec.json.decode(doc).get("segments") or [])]
                except (msgspec.DecodeError, AttributeError):
                    log.error("customer %s is stored but unreadable", cid)
        if len(self._segments) > 100_000:
            self._segments.clear()
        self._segments[key] = (segs, now + SEGMENTS_TTL)
        return segs

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
