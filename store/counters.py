"""The counter store: every limit checked and counted in ONE Lua script call.

The evaluator (core) decides WHAT to count; this module only runs the plan atomically. A plan is
a list of counter ops, each ``(key, delta, limit, error, ttl, hold)`` (a plain tuple or a
:class:`CounterOp`):

- ``key``    logical key without the global prefix, with a campaign hash tag,
             e.g. ``{c:camp_1}:v:SUMMER10:uses``;
- ``delta``  positive integer to add;
- ``limit``  -1 = no limit, else the op requires ``current + held_by_others + delta <= limit``
             (deltas of earlier ops of the same plan on the same key count too);
- ``error``  the Voucherify error key reported if this op fails (``quantity_exceeded``...);
- ``ttl``    seconds, 0 = none: a windowed counter gets ``EXPIRE ttl NX`` when it is counted;
- ``hold``   1 if session reservations (LOCK) count against this key's limit.

Key names (counters, ``:holds`` / ``:holdamt``, session index, records, ledger, idempotent
answers): :mod:`store.keys`.

Loyalty cards (wallets, :mod:`store.wallet`) are paid with in the same calls ("pay with
points"): :meth:`Store.check` reads a card's spendable points (``cards``), :meth:`Store.lock`
holds points on a card for a session, :meth:`Store.redeem` debits cards (:class:`CardDebit`)
after every counter check passes, all-or-nothing, and :meth:`Store.rollback` refunds exactly
those debits. A card's session holds are those of a counter, on the card's figures key.

Time always comes from the caller (``now_ms``, ms since the epoch, UTC), never from Redis, so
tests can move the clock. Every method is one script call (or one plain command), batched with
other requests' calls by :class:`~store.autopipe.AutoPipeline`; if Redis cannot be reached the
call raises :class:`~store.autopipe.StoreUnavailable` within ``timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

import msgspec
import orjson

from .autopipe import AutoPipeline, Script, StoreUnavailable
from .keys import Keys

__all__ = [
    "DEFAULT_PREFIX",
    "CardDebit",
    "CardHold",
    "CounterOp",
    "Debited",
    "LimitFailure",
    "LockResult",
    "RecordSpec",
    "RedeemResult",
    "Redemption",
    "Refunded",
    "Reversal",
    "RolledBack",
    "RollbackResult",
    "Store",
    "StoreUnavailable",
    "Taken",
    "counter_plan",
    "load_scripts",
    "placeholders",
    "redeem_plan",
]

DEFAULT_PREFIX = "pg:"
LUA_DIR = Path(__file__).with_name("lua")
_SCRIPT_NAMES = ("check", "lock", "release", "redeem", "rollback")
#: the scripts that touch loyalty cards, and the helpers they use (all are in the one library)
_PAY_SCRIPTS = ("check", "lock", "redeem", "rollback")
_PAY_LIBS = ("_lib", "_wallet", "_pay")


#: the helper files, in the order they are defined (each may use the ones before it)
_HELPERS = ("_lib", "_wallet", "_pay")


@functools.cache
def function_library(directory: Path = LUA_DIR) -> tuple[str, str]:
    """Every script of ``directory`` as ONE Redis function library (``FUNCTION LOAD``): the
    helpers are defined once when the library loads, not on every call as a script prefixed
    with them is (~7-10 µs of Redis time per call, see BENCHMARKS "Redis time per script
    call"). Each ``<name>.lua`` becomes the body of function ``pg<hash>_<name>``; ``KEYS`` and
    ``ARGV`` are upvalues every helper and body shares, set by the function at the start of
    each call (a call runs alone: Redis runs one script or function at a time). The library's
    name carries a hash of its text, so two promogate versions on one Redis never replace each
    other's functions. Returns (library text, function name prefix)."""
    helpers = "".join((directory / f"{n}.lua").read_text(encoding="utf-8") + "\n" for n in _HELPERS)
    names = sorted(p.stem for p in directory.glob("*.lua") if not p.stem.startswith("_"))
    bodies = "".join(
        f"local function body_{n}()\n{(directory / f'{n}.lua').read_text(encoding='utf-8')}\nend\n"
        for n in names
    )
    text = "local KEYS, ARGV\n" + helpers + bodies
    tag = hashlib.sha1(text.encode()).hexdigest()[:12]
    regs = "".join(
        f"redis.register_function('pg{tag}_{n}', function(k, a) KEYS, ARGV = k, a return body_{n}() end)\n"
        for n in names
    )
    return f"#!lua name=promogate_{tag}\n" + text + regs, f"pg{tag}_"


def load_scripts(
    directory: Path = LUA_DIR,
    names: Sequence[str] = _SCRIPT_NAMES,
    libs: Sequence[str] = ("_lib",),
) -> dict[str, Script]:
    """The scripts ``names`` (default: the counter scripts) as functions of promogate's one
    function library (:func:`function_library`; every helper is in it, so ``libs`` is only
    checked)."""
    unknown = [n for n in libs if n not in _HELPERS]
    if unknown:
        raise ValueError(f"unknown helper files {unknown}")
    library, head = function_library(directory)
    return {name: Script.function(library, head + name, name) for name in names}


# -- inputs -----------------------------------------------------------------------------------


class CounterOp(NamedTuple):
    """One op of a counter plan; any 6-tuple in this order is accepted wherever one is."""

    key: str
    delta: int
    limit: int = -1
    error: str = ""
    ttl: int = 0
    hold: int = 0


class RecordSpec(NamedTuple):
    """A redemption record written by :meth:`Store.redeem`.

    ``id``        redemption id (``r_...``); the record lives at ``P rd:<id>``.
    ``data``      the redemption as pre-serialized JSON (bytes or str), returned as is later.
    ``ops``       indices (0-based) of the plan's ops this record owns: rolling the record back
                  reverses exactly those. If no record of a redeem owns any op, the first record
                  owns them all.
    ``parent``    the parent redemption id, for a child of a stacked redemption.
    ``children``  child redemption ids, for a stacked parent (rolled back with it).
    """

    id: str
    data: bytes | str
    ops: Sequence[int] = ()
    parent: str = ""
    children: Sequence[str] = ()


class CardHold(NamedTuple):
    """Points of loyalty card ``code`` (program ``campaign_id``) a session lock holds."""

    campaign_id: str
    code: str
    points: int
    error: str = "loyalty_card_points_exceeded"


class CardDebit(NamedTuple):
    """Points a redeem takes from loyalty card ``code`` of program ``campaign_id``, as a
    ``POINTS_REDEMPTION`` transaction carrying ``details`` (JSON), owned by record ``record``
    (index into the redeem's records: rolling that record back refunds the debit).

    ``balance_token`` / ``total_token``: placeholder numbers (:func:`placeholders`) the caller
    rendered in the response and the records where the card's balance and lifetime points
    after the debit go; the script writes the real figures in their place."""

    campaign_id: str
    code: str
    points: int
    record: int
    details: bytes | str = b""
    balance_token: int = 0
    total_token: int = 0
    error: str = "loyalty_card_points_exceeded"


def placeholders(n: int) -> list[int]:
    """``n`` distinct placeholder numbers for :class:`CardDebit` tokens: negative 16-digit
    numbers, random, so that no figure or client text can be mistaken for one."""
    out: set[int] = set()
    while len(out) < n:
        out.add(-(9 * 10**15 + secrets.randbelow(10**15)))
    return list(out)


# -- results ----------------------------------------------------------------------------------


class LimitFailure(msgspec.Struct, frozen=True):
    """Why a plan was refused: op ``index`` (0-based) would push its key past its limit.

    ``current`` is the key's live value, ``held`` what other sessions hold on it (0 when the op
    does not count holds), ``error`` the op's error key.
    """

    index: int
    current: int
    held: int
    error: str


class LockResult(msgspec.Struct, frozen=True):
    """``status`` is ``"ok"`` (held until ``expires_at_ms``) or ``"failed"`` (see ``failure``)."""

    status: Literal["ok", "failed"]
    expires_at_ms: int = 0
    failure: LimitFailure | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class Debited(msgspec.Struct, frozen=True):
    """What a :class:`CardDebit` did: its ``POINTS_REDEMPTION`` transaction id, the points
    taken, the card's ``balance`` and lifetime ``total`` right after it."""

    transaction_id: str
    points: int
    balance: int
    total: int


class RedeemResult(msgspec.Struct, frozen=True):
    """Outcome of :meth:`Store.redeem`.

    - ``"ok"``: everything counted and recorded; ``ledger_id`` is the ledger entry's stream id.
    - ``"failed"``: a limit would be exceeded, nothing changed; see ``failure``.
    - ``"replay"``: the idempotency key was used before with the same fingerprint; ``response``
      is the stored answer; nothing changed.
    - ``"conflict"``: the idempotency key was used with another fingerprint (answer 409).
    """

    status: Literal["ok", "failed", "replay", "conflict"]
    ledger_id: str | None = None
    failure: LimitFailure | None = None
    response: bytes | None = None
    debits: list[Debited] = msgspec.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class Reversal(msgspec.Struct, frozen=True):
    """One counter op of a rolled back record: ``delta`` recorded, ``applied`` actually taken
    back (less when the counter had expired or was lower)."""

    key: str
    delta: int
    applied: int


class Refunded(msgspec.Struct, frozen=True):
    """A card debit a rollback refunded: ``debit`` the ``POINTS_REDEMPTION`` id, ``points``
    given back (0 and ``transaction_id`` None when it had been refunded before), the card's
    ``balance`` and lifetime ``total`` after."""

    campaign_id: str
    code: str
    debit: str
    points: int
    transaction_id: str | None
    balance: int
    total: int


class Taken(msgspec.Struct, frozen=True):
    """Points a rollback took back from a card (an undo step: what a reward redemption had
    credited), as the ``POINTS_REMOVAL`` ``transaction_id``; the card's figures after."""

    campaign_id: str
    code: str
    points: int
    transaction_id: str
    balance: int
    total: int


class RolledBack(msgspec.Struct, frozen=True):
    """A redemption record that a rollback reversed; ``data`` is the record's JSON as written;
    ``refunds`` the loyalty points it had spent, given back; ``taken`` the points its undo steps
    took back."""

    id: str
    data: bytes
    ops: list[Reversal]
    refunds: list[Refunded] = msgspec.field(default_factory=list)
    taken: list[Taken] = msgspec.field(default_factory=list)


class RollbackResult(msgspec.Struct, frozen=True):
    """Outcome of :meth:`Store.rollback`.

    - ``"ok"``: rolled back; ``redemptions`` lists the record first, then its children (stacked)
      that had not been rolled back on their own. ``rollback_id`` / ``at_ms`` / ``reason`` echo
      the call.
    - ``"replay"``: the idempotency key was used before with the same fingerprint; the fields are
      those of that first rollback; nothing changed.
    - ``"conflict"``: the idempotency key was used with another fingerprint (answer 409).
    - ``"not_found"``: no such redemption (404).
    - ``"already_rolled_back"``: nothing changed; ``rollback_id`` is the earlier rollback's (400).
    - ``"invalid_redemption"``: a single rollback of a redemption that has children (400: use
      the stacked endpoint).
    - ``"refused"``: an undo step the record names failed its check (e.g. the code a reward
      issued was used since, the points it credited were spent): ``error`` is the step's error
      key, ``subject`` what failed (a counter key, a card code); nothing changed (400).
    """

    status: Literal[
        "ok", "replay", "conflict", "not_found", "already_rolled_back", "invalid_redemption",
        "refused",
    ]  # fmt: skip
    rollback_id: str | None = None
    at_ms: int | None = None
    reason: str = ""
    redemptions: list[RolledBack] = msgspec.field(default_factory=list)
    error: str = ""
    subject: str = ""

    @property
    def ok(self) -> bool:
        """True when THIS call rolled the redemption back."""
        return self.status == "ok"

    @property
    def rolled_back(self) -> bool:
        """True for ``"ok"`` and ``"replay"``: the fields describe a successful rollback."""
        return self.status in ("ok", "replay")


class Redemption(msgspec.Struct, frozen=True):
    """A stored redemption record (``P rd:<id>``).

    ``status`` is ``SUCCEEDED`` or ``ROLLED_BACK``; ``ops`` the ``(full key, delta)`` pairs it
    counted; ``rollback_*`` are set once it is rolled back.
    """

    id: str
    status: str
    data: bytes
    ops: list[tuple[str, int]]
    parent: str
    children: list[str]
    session: str
    created_at_ms: int
    rollback_id: str | None = None
    rolled_back_at_ms: int | None = None
    rollback_reason: str | None = None


# -- helpers ----------------------------------------------------------------------------------


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _b(v: Any) -> bytes:
    return v if isinstance(v, bytes) else str(v).encode()


def _hash(v: Any) -> dict[str, Any]:
    """An HGETALL reply (a dict, or a flat list) with text fields."""
    if isinstance(v, dict):
        return {_s(k): x for k, x in v.items()}
    v = v or []
    return {_s(k): x for k, x in zip(v[::2], v[1::2], strict=True)}


def _list(v: Any) -> list[Any]:
    # cjson encodes an empty Lua table as {}: read it as an empty list.
    return v if isinstance(v, list) else []


class _Plan(NamedTuple):
    keys: list[str]  # distinct full counter keys, in first-seen order
    args: list[Any]  # 6 ARGV fields per op


# -- the store --------------------------------------------------------------------------------


class Store:
    """Atomic counters, reservations, redemption records and the ledger, in Redis.

    ``Store(redis)`` takes a ``redis.asyncio.Redis`` (bytes replies, ``decode_responses=False``,
    is expected; :meth:`from_url` builds a suitable one). Options:

    ``prefix``           key prefix; default ``$PROMOGATE_KEY_PREFIX`` or ``pg:``.
    ``timeout``          seconds a call may take before :class:`StoreUnavailable`; default 2.0.
    ``ledger_maxlen``    approximate length kept of the ledger stream; 0 = unbounded;
                         default 1,000,000.
    ``idempotency_ttl``  seconds an idempotent answer is kept; default 86,400 (24 h).
    ``pipeline``         an :class:`AutoPipeline` to share (default: a new one on ``redis``).
    ``max_inflight``     batches the new auto-pipeliner keeps on the wire at once; default 1.
    """

    def __init__(
        self,
        redis: Any,
        *,
        prefix: str | None = None,
        timeout: float = 2.0,
        ledger_maxlen: int = 1_000_000,
        idempotency_ttl: int = 86_400,
        pipeline: AutoPipeline | None = None,
        max_inflight: int = 1,
    ) -> None:
        self.redis = redis
        self.prefix = (
            prefix if prefix is not None else os.environ.get("PROMOGATE_KEY_PREFIX", DEFAULT_PREFIX)
        )
        self.ledger_maxlen = int(ledger_maxlen)
        self.idempotency_ttl = int(idempotency_ttl)
        self._owns_pipe = pipeline is None
        self.pipe = pipeline or AutoPipeline(redis, timeout=timeout, max_inflight=max_inflight)
        self.scripts = load_scripts(names=("release",))
        self.scripts.update(load_scripts(names=_PAY_SCRIPTS, libs=_PAY_LIBS))
        self.keys = Keys(self.prefix)
        self.ledger_key = self.keys.ledger
        self._owns_client = False

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Store:
        """A Store on a new client for ``url`` (the auto-pipeliner reads its settings and keeps its
        own connection; the client serves nothing else here).

        redis-py's own retries are switched off: the auto-pipeliner bounds every call and never
        re-sends a write whose outcome is unknown.
        """
        import redis.asyncio as aredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        timeout = float(options.get("timeout", 2.0))
        client = aredis.Redis.from_url(
            url,
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=min(1.0, timeout),
            health_check_interval=0,
        )
        store = cls(client, **options)
        store._owns_client = True
        return store

    async def aclose(self) -> None:
        """Wait for in-flight calls; close the pipeline's connection (unless it was given) and
        the client if :meth:`from_url` made it."""
        if self._owns_pipe:
            await self.pipe.aclose()
        else:
            await self.pipe.drain()
        if self._owns_client:
            await self.redis.aclose()

    # -- keys ------------------------------------------------------------------------------

    def key(self, logical: str) -> str:
        """Full Redis key of a logical key (adds the prefix)."""
        return self.prefix + logical

    def record_key(self, redemption_id: str) -> str:
        return self.keys.record(redemption_id)

    def session_index_key(self, session_key: str) -> str:
        return self.keys.session(session_key)

    def idempotency_key(self, kind: Literal["redeem", "rollback"], key: str) -> str:
        return self.keys.idempotency(kind, key)

    # -- calls -----------------------------------------------------------------------------

    async def load_scripts(self) -> None:
        """Load promogate's function library now (FUNCTION LOAD). Optional: a call that finds no
        function loads it on demand."""
        await self.pipe.load(*self.scripts.values())

    async def ping(self) -> bool:
        """True when Redis answers (for ``/ready``); raises :class:`StoreUnavailable` if not."""
        return bool(await self.pipe.execute_command("PING"))

    async def check(
        self,
        keys: Sequence[str],
        now_ms: int,
        exclude_session: str | None = None,
        cards: Sequence[tuple[str, str]] = (),
    ) -> list[int]:
        """Live value of each logical key plus what live sessions OTHER than ``exclude_session``
        hold on it (expired holds are purged); then, for each loyalty card ``(campaign id,
        code)`` of ``cards``, the points it can spend: its balance (normalised at ``now_ms``:
        expired points are gone) less what those sessions hold on it, never below 0.
        ``[]`` for nothing to read.

        Counters alone (no card), the common case, are plain reads, no script: ``EXISTS`` of
        their hold sets and ``MGET`` of the counters, sent together (one round trip). Only when
        some hold exists is the answer the check script's (a second round trip), which counts
        the live holds and purges the expired ones. Nothing is counted here, so nothing needs
        the script's atomicity: a validation is a snapshot, and a redemption re-checks every
        limit in its own script. (Redis time: the two reads cost about a third of the trivial
        script, against 3.4x for the check script; BENCHMARKS.md.)"""
        if not keys and not cards:
            return []
        ks = [self.prefix + k for k in keys]
        if not cards:
            cmd = self.pipe.execute_command
            holds, values = await asyncio.gather(
                cmd("EXISTS", *(k + ":holds" for k in ks)), cmd("MGET", *ks)
            )
            if not holds:
                return [int(v or 0) for v in values]
        args: list[Any] = [int(now_ms), exclude_session or ""]
        if cards:
            ks += self._card_keys(cards, args)
        reply = await self.pipe.evalsha(self.scripts["check"], ks, args)
        return [int(v) for v in reply]

    async def peek(self, keys: Sequence[str], now_ms: int) -> list[int]:
        """:meth:`check`'s figures for counter keys, read only (nothing purged, nothing
        written): each key's value plus what live sessions (expiry > ``now_ms``) hold on it.
        For a preview that must not touch the store (admin's ``POST /v1/preview``). Plain
        reads sent together: one round trip through the auto-pipeliner."""
        if not keys:
            return []
        full = [self.prefix + k for k in keys]
        cmd = self.pipe.execute_command
        values, *holds = await asyncio.gather(
            cmd("MGET", *full),
            *(cmd("ZRANGEBYSCORE", k + ":holds", f"({int(now_ms)}", "+inf") for k in full),
            *(cmd("HGETALL", k + ":holdamt") for k in full),
        )
        n = len(full)
        out = []
        for i, raw in enumerate(values):
            amounts = _hash(holds[n + i])
            held = sum(int(amounts.get(_s(s), 0)) for s in holds[i] or ())
            out.append(int(raw or 0) + held)
        return out

    def _card_keys(self, cards: Iterable[Sequence[Any]], args: list[Any]) -> list[str]:
        """The 7 keys of each card ``(campaign id, code, ...)``, appending to ``args`` the
        count, then campaign id, code and transaction id prefix per card."""
        from .wallet import transaction_prefix  # store.wallet imports this module

        cards = list(cards)
        keys: list[str] = []
        args.append(len(cards))
        for c in cards:
            campaign_id, code = c[0], c[1]
            keys += self.keys.card(campaign_id, code)
            args += (campaign_id, code, transaction_prefix(campaign_id, code))
        return keys

    async def lock(
        self,
        session_key: str,
        ops: Iterable[Sequence[Any]],
        ttl_ms: int,
        now_ms: int,
        cards: Iterable[CardHold | Sequence[Any]] = (),
    ) -> LockResult:
        """Reserve the ``hold == 1`` ops' deltas for ``session_key`` until ``now_ms + ttl_ms``,
        and the points of ``cards`` (:class:`CardHold`; one card named twice holds the sum).

        Every op's limit is checked first (counting other sessions' live holds for hold ops),
        then every card (its balance less other sessions' holds must cover its points); if one
        fails nothing is written (``status="failed"``; a card's failure has index = number of
        ops + its position, ``current`` = its balance). Else the session's previous holds are
        replaced by these. Ops with ``hold == 0`` are checked but not reserved.
        """
        _need_session(session_key)
        if ttl_ms <= 0:
            raise ValueError("ttl_ms must be positive")
        plan = self._plan(ops)
        held: dict[tuple[str, str], list[Any]] = {}
        for c in cards:
            h = c if isinstance(c, CardHold) else CardHold(*c)
            if type(h.points) is not int or h.points <= 0:
                raise ValueError(f"card {h.code}: points must be a positive integer")
            got = held.setdefault((h.campaign_id, h.code), [0, h.error])
            got[0] += h.points
        args: list[Any] = [int(now_ms), session_key, int(ttl_ms), len(plan.args) // 6, *plan.args]
        keys = [self.session_index_key(session_key), *plan.keys]
        if held:
            card_args: list[Any] = []
            keys += self._card_keys(held, card_args)
            args.append(card_args[0])
            for i, (pts, err) in enumerate(held.values()):
                args += (
                    *card_args[1 + i * 3 : 4 + i * 3],
                    pts,
                    err or "loyalty_card_points_exceeded",
                )
        reply = await self.pipe.evalsha(self.scripts["lock"], keys, args)
        tag = _s(reply[0])
        if tag == "ok":
            return LockResult("ok", expires_at_ms=int(reply[1]))
        return LockResult("failed", failure=_failure(reply))

    async def release(self, session_key: str, now_ms: int) -> int:
        """Drop every hold of ``session_key``; returns how many keys it held (0 if none, so
        releasing twice is harmless)."""
        _need_session(session_key)
        reply = await self.pipe.evalsha(
            self.scripts["release"],
            [self.session_index_key(session_key)],
            (session_key, int(now_ms)),
        )
        return int(reply)

    async def redeem(
        self,
        ops: Iterable[Sequence[Any]],
        records: Sequence[RecordSpec | Sequence[Any]],
        now_ms: int,
        *,
        session_key: str | None = None,
        idempotency_key: str | None = None,
        fingerprint: str | None = None,
        response: bytes | str = b"",
        ledger: bytes | str = b"",
        debits: Sequence[CardDebit] = (),
    ) -> RedeemResult:
        """Check every op against live values (+ other sessions' holds), then every card of
        ``debits`` (its balance less other sessions' holds covers its debits); only if all pass,
        count them, take the cards' points (:class:`CardDebit`; ``debits`` of the result, in
        order), consume ``session_key``'s holds, write ``records``, append a ledger entry
        (with ``ledger``, extra JSON, as its ``data`` field) and, with ``idempotency_key``, store
        ``{fingerprint, response}`` for ``idempotency_ttl`` seconds. A card's failure has index
        = number of ops + the debit's position, ``current`` = the card's balance.

        With an ``idempotency_key`` seen before: same ``fingerprint`` -> ``"replay"`` with the
        stored response, a different one -> ``"conflict"``; nothing changes either way. A
        refused plan (``"failed"``) stores nothing under the key, so a retry is evaluated anew.
        Raises ``ValueError`` if a record id already exists (ids must be fresh).
        """
        specs = [r if isinstance(r, RecordSpec) else RecordSpec(*r) for r in records]
        keys_k, n_hold, op_args, pairs = redeem_plan(self.prefix, ops)
        n_ops = len(pairs)
        owned = [list(r.ops) for r in specs]
        seen: set[int] = set()
        for lst in owned:
            for i in lst:
                if not 0 <= int(i) < n_ops or int(i) in seen:
                    raise ValueError(f"op index {i} out of range or owned twice")
                seen.add(int(i))
        if specs and not seen:
            owned[0] = list(range(n_ops))
        if idempotency_key is not None and not fingerprint:
            raise ValueError("an idempotency_key needs a fingerprint")
        if session_key is not None:
            _need_session(session_key)
        keys = [
            self.ledger_key,
            self.idempotency_key("redeem", idempotency_key) if idempotency_key else self.ledger_key,
            self.session_index_key(session_key) if session_key else self.ledger_key,
            *keys_k,
            *(self.record_key(r.id) for r in specs),
        ]
        # what the ledger entry and the records hold, encoded here (redeem.lua writes it as is)
        all_ops = _ops_json(pairs)
        args: list[Any] = [
            int(now_ms),
            session_key or "",
            fingerprint if idempotency_key else "",
            max(0, self.idempotency_ttl),
            max(0, self.ledger_maxlen),
            response if idempotency_key else "",  # kept only for a replay: not sent without a key
            ledger,
            len(keys_k),
            n_ops,
            len(specs),
            n_hold,
            orjson.dumps([r.id for r in specs]),
            all_ops,
            *op_args,
        ]
        for r, lst in zip(specs, owned, strict=True):
            children = orjson.dumps(list(r.children)) if r.children else b"[]"
            if len(lst) == n_ops and lst == list(range(n_ops)):
                mine = all_ops
            else:
                mine = _ops_json([pairs[int(i)] for i in lst])
            args += [r.id, r.data, r.parent, children, mine]
        if debits:
            index: dict[tuple[str, str], int] = {}
            for d in debits:
                if type(d.points) is not int or d.points <= 0:
                    raise ValueError(f"card {d.code}: points must be a positive integer")
                if not 0 <= d.record < len(specs):
                    raise ValueError(f"card {d.code}: no record {d.record}")
                if not d.balance_token < -(10**15) or not d.total_token < -(10**15):
                    raise ValueError("debit placeholders come from placeholders()")
                index.setdefault((d.campaign_id, d.code), len(index) + 1)
            keys += self._card_keys(index, args)
            args.append(len(debits))
            for d in debits:
                args += [index[(d.campaign_id, d.code)], d.points,
                         d.error or "loyalty_card_points_exceeded", d.record, d.details,
                         d.balance_token, d.total_token]  # fmt: skip
        reply = await self.pipe.evalsha(self.scripts["redeem"], keys, args)
        tag = _s(reply[0])
        if tag == "ok":
            done = [
                Debited(str(x["tx"]), int(x["points"]), int(x["balance"]), int(x["total"]))
                for x in (_list(orjson.loads(reply[2])) if len(reply) > 2 else ())
            ]
            return RedeemResult("ok", ledger_id=_s(reply[1]), debits=done)
        if tag == "fail":
            return RedeemResult("failed", failure=_failure(reply))
        if tag == "replay":
            return RedeemResult("replay", response=_b(reply[1]))
        if tag == "conflict":
            return RedeemResult("conflict")
        if tag == "duplicate":
            raise ValueError(f"redemption record {_s(reply[1])} already exists")
        raise RuntimeError(f"redeem.lua: unexpected reply {reply!r}")  # pragma: no cover

    async def rollback(
        self,
        redemption_id: str,
        rollback_id: str,
        now_ms: int,
        *,
        reason: str = "",
        stacked: bool = False,
        idempotency_key: str | None = None,
        fingerprint: str | None = None,
        ledger: bytes | str = b"",
    ) -> RollbackResult:
        """Reverse exactly what redemption ``redemption_id`` counted, once.

        ``stacked=False`` (``POST /v1/redemptions/{id}/rollback``) refuses a record with children
        (``"invalid_redemption"``); ``stacked=True`` (``.../{parent_id}/rollbacks``) rolls back
        the record and each child not already rolled back. A counter that has expired since is
        not recreated, and no counter goes below zero. With an ``idempotency_key``, a repeat
        with the same ``fingerprint`` gets ``"replay"`` with the first result (without one, the
        repeat gets ``"already_rolled_back"``).
        """
        if idempotency_key is not None and not fingerprint:
            raise ValueError("an idempotency_key needs a fingerprint")
        keys = [
            self.ledger_key,
            self.idempotency_key("rollback", idempotency_key)
            if idempotency_key
            else self.ledger_key,
            self.record_key(redemption_id),
        ]
        args = [
            rollback_id,
            int(now_ms),
            reason,
            fingerprint if idempotency_key else "",
            self.idempotency_ttl,
            self.ledger_maxlen,
            "1" if stacked else "0",
            self.keys.record_prefix,
            ledger,
        ]
        reply = await self.pipe.evalsha(self.scripts["rollback"], keys, args)
        tag = _s(reply[0])
        if tag in ("ok", "replay"):
            return _rollback_payload(tag, reply[1] if len(reply) == 2 else b"".join(map(_b, reply[1:])))
        if tag == "already_rolled_back":
            return RollbackResult(tag, rollback_id=_s(reply[1]) or None)
        if tag in ("conflict", "not_found", "invalid_redemption"):
            return RollbackResult(tag)  # type: ignore[arg-type]
        if tag == "refused":
            return RollbackResult(tag, error=_s(reply[1]), subject=_s(reply[2]))
        raise RuntimeError(f"rollback.lua: unexpected reply {reply!r}")  # pragma: no cover

    async def record_failure(self, now_ms: int, data: bytes | str) -> None:
        """Append a refused redemption to the ledger (``type=failure``, ``at``, ``data`` JSON),
        so reports count failures by campaign and key. Nothing is counted."""
        args: list[Any] = ["XADD", self.ledger_key]
        if self.ledger_maxlen > 0:
            args += ["MAXLEN", "~", self.ledger_maxlen]
        args += ["*", "type", "failure", "at", int(now_ms), "data", data]
        await self.pipe.execute_command(*args)

    async def get_redemption(self, redemption_id: str) -> Redemption | None:
        """The stored record of ``redemption_id``, or None. One HGETALL."""
        h = await self.pipe.execute_command("HGETALL", self.record_key(redemption_id))
        if not h:
            return None
        f = {_s(k): v for k, v in h.items()}

        def opt(name: str) -> str | None:
            return _s(f[name]) if name in f else None

        rb_at = opt("rolled_back_at")
        return Redemption(
            id=_s(f["id"]),
            status=_s(f["status"]),
            data=_b(f["data"]),
            ops=[(str(k), int(d)) for k, d in _list(orjson.loads(f.get("ops") or b"[]"))],
            parent=_s(f.get("parent", b"")),
            children=[str(c) for c in _list(orjson.loads(f.get("children") or b"[]"))],
            session=_s(f.get("session", b"")),
            created_at_ms=int(f.get("created_at") or 0),
            rollback_id=opt("rollback_id"),
            rolled_back_at_ms=int(rb_at) if rb_at else None,
            rollback_reason=opt("rollback_reason"),
        )

    # -- internals -------------------------------------------------------------------------

    def _plan(self, ops: Iterable[Sequence[Any]]) -> _Plan:
        return counter_plan(self.prefix, ops)


def counter_plan(prefix: str, ops: Iterable[Sequence[Any]]) -> _Plan:
    """Check a counter plan and lay it out for the scripts: its distinct full keys (first-seen
    order) and 6 ARGV fields per op (key index into those keys, 1-based). ``ValueError`` on a
    malformed op. Shared with :mod:`store.wallet`, whose calls count limits the same way."""
    index: dict[str, int] = {}
    keys: list[str] = []
    args: list[Any] = []
    for key, delta, limit, error, ttl, hold in ops:
        if type(delta) is not int or type(limit) is not int or type(ttl) is not int:
            delta, limit, ttl = int(delta), int(limit), int(ttl)  # core gives ints already
        if delta <= 0:
            raise ValueError(f"op on {key}: delta must be a positive integer, got {delta}")
        if limit < -1 or ttl < 0:
            raise ValueError(f"op on {key}: bad limit {limit} or ttl {ttl}")
        full = prefix + key
        i = index.get(full)
        if i is None:
            keys.append(full)
            i = index[full] = len(keys)
        args += (i, delta, limit, error or "", ttl, 1 if hold else 0)
    return _Plan(keys, args)


def redeem_plan(
    prefix: str, ops: Iterable[Sequence[Any]]
) -> tuple[list[str], int, list[Any], list[tuple[str, str]]]:
    """:func:`counter_plan`'s checks and layout for redeem.lua: its distinct full keys, those
    that some op with ``hold`` counts first (first-seen order otherwise), how many of those,
    6 ARGV fields per op (key index into those keys, 1-based), and each op's ``(full key,
    delta as text)`` (what the records and the ledger entry keep)."""
    plan = counter_plan(prefix, ops)
    old_keys, args = plan.keys, plan.args
    pairs = [(old_keys[args[j] - 1], str(args[j + 1])) for j in range(0, len(args), 6)]
    held = {args[j] for j in range(0, len(args), 6) if args[j + 5]}
    if not held or max(held) == len(held):  # the keys hold ops count are the first already
        return old_keys, len(held), args, pairs
    order = sorted(range(1, len(old_keys) + 1), key=lambda i: i not in held)  # stable
    new_index = {old: new for new, old in enumerate(order, 1)}
    for j in range(0, len(args), 6):
        args[j] = new_index[args[j]]
    return [old_keys[i - 1] for i in order], len(held), args, pairs


def _ops_json(pairs: Sequence[tuple[str, str]]) -> bytes:
    """``[[full key, "delta"], ...]`` as JSON (as a record's and the ledger's ``ops``)."""
    return orjson.dumps(pairs) if pairs else b"[]"


def _need_session(session_key: str) -> None:
    if not session_key:
        raise ValueError("a session key must be a non-empty string")


def _failure(reply: list[Any]) -> LimitFailure:
    return LimitFailure(
        index=int(reply[1]), current=int(reply[2]), held=int(reply[3]), error=_s(reply[4])
    )


def _rollback_payload(tag: str, raw: Any) -> RollbackResult:
    """rollback.lua's payload: a JSON head, a newline, then each redemption's data and ops as
    its record keeps them (their lengths ``n`` and ``m`` in the head; ``a``: what was reversed
    of each op, absent when all was); or, stored under an idempotency key by an earlier
    version, one JSON document with each redemption's ``data`` as a string and its ``ops`` as
    ``[[key, delta, reversed], ...]``."""
    raw = _b(raw)
    head, sep, rest = raw.partition(b"\n")
    doc = orjson.loads(head)
    if sep:
        at = 0
        for r in _list(doc.get("redemptions")):
            n, m = int(r.get("n", 0)), int(r.get("m", 0))
            r["data"] = rest[at : at + n]
            pairs = _list(orjson.loads(rest[at + n : at + n + m])) if m else []
            at += n + m
            a = r.get("a")
            r["ops"] = [(k, d, a[i] if a else d) for i, (k, d) in enumerate(pairs)]
    return RollbackResult(
        tag,  # type: ignore[arg-type]
        rollback_id=doc["rollback_id"],
        at_ms=int(doc["at"]),
        reason=doc.get("reason", ""),
        redemptions=[
            RolledBack(
                id=str(r.get("id", "")),
                data=_b(r.get("data", "")),
                ops=[Reversal(str(k), int(d), int(a)) for k, d, a in _list(r.get("ops"))],
                refunds=[
                    Refunded(
                        str(w["campaign_id"]),
                        str(w["code"]),
                        str(w["debit"]),
                        int(w["points"]),
                        str(w["tx"]) or None,
                        int(w["balance"]),
                        int(w["total"]),
                    )
                    for w in _list(r.get("wallet"))
                ],
                taken=[
                    Taken(str(w["campaign_id"]), str(w["code"]), int(w["points"]), str(w["tx"]),
                          int(w["balance"]), int(w["total"]))  # fmt: skip
                    for w in _list(r.get("taken"))
                ],
            )
            for r in _list(doc.get("redemptions"))
        ],
    )
