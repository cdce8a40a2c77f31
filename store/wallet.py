"""The wallet store: loyalty cards' points, buckets, pending points and transactions, in Redis.

Core decides, Lua counts. Core (later: earning rules, tiers, rewards, rollbacks) turns a request
into a plan of GENERIC wallet ops; :meth:`Wallet.apply` runs the plan in ONE call of
``store/lua/wallet.lua``, atomically and all-or-nothing, idempotent on an operation id. The ops:

- :class:`Credit`   points into a bucket with an expiry (or none), as ``POINTS_ACCRUAL`` or
                    ``POINTS_ADDITION``; or as pending points that activate at a given time;
- :class:`Debit`    points out, soonest-expiring buckets first, as ``POINTS_REDEMPTION`` or
                    ``POINTS_REMOVAL``; ``exact`` (fails when the balance is short) or ``clamp``
                    (takes what is there, records the shortfall on the transaction);
- :class:`Refund`   gives back exactly what an earlier debit took, to the same buckets, once;
- :class:`Transfer` an exact debit of one card and a credit of another, in the same call;
- :class:`ActivatePending`, :class:`CancelPending`, :class:`AdjustPending` on PENDING points;
- limit counters: the ``(key, delta, limit, error, ttl, hold)`` ops of :mod:`store.counters`,
  checked and counted in the same call (reward stock, earning limits per period).

Every call that touches a card first **normalises** it: buckets whose expiry is <= ``now_ms``
leave the balance as ``POINTS_EXPIRATION`` transactions (one per bucket), pending points whose
activation is <= ``now_ms`` become a bucket and a ``PENDING_POINTS_ACTIVATION`` transaction. So
balances are right at read and spend time without a clock job. The reads (:meth:`Wallet.card`,
:meth:`~Wallet.transactions`, :meth:`~Wallet.buckets`, :meth:`~Wallet.pending`) normalise too,
each in one call of ``store/lua/wallet_read.lua``.

Figures of a card (``store/lua/_wallet.lua`` has the table per transaction type):
``balance = points - expired - subtracted - redeemed`` always, where ``points`` is the lifetime
total (up on accrual, addition, transfer in, activation; down on removal), ``subtracted`` the
points transferred out and ``redeemed`` the points redeemed net of refunds.

Time always comes from the caller (``now_ms``, ms since the epoch, UTC). Malformed input raises
``ValueError`` before Redis is called. Key names: :mod:`store.keys` (``CardKeys``).
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import msgspec
import orjson

from .autopipe import AutoPipeline, Script, StoreUnavailable
from .counters import DEFAULT_PREFIX, counter_plan, load_scripts
from .keys import Keys

__all__ = [
    "NEVER_MS",
    "ActivatePending",
    "AdjustPending",
    "AutoTransaction",
    "Bucket",
    "BucketList",
    "CancelPending",
    "Card",
    "Credit",
    "Debit",
    "OpResult",
    "PendingPage",
    "PendingPoints",
    "Refund",
    "StoreUnavailable",
    "Transaction",
    "TransactionPage",
    "Transfer",
    "Wallet",
    "WalletFailure",
    "WalletResult",
    "transaction_prefix",
]

#: expiry of points that never expire (the score of their bucket), 2286-11-20
NEVER_MS = 9_999_999_999_999
#: most points one op may move (the scripts' JSON keeps integers exact below 10**14)
MAX_POINTS = 10**12

_SCRIPTS = ("wallet", "wallet_read")
_LIBS = ("_lib", "_wallet")

CreditType = Literal["POINTS_ACCRUAL", "POINTS_ADDITION"]
DebitType = Literal["POINTS_REDEMPTION", "POINTS_REMOVAL"]


@functools.lru_cache(maxsize=65536)  # a SHA-1 per card and call showed in the order profile
def transaction_prefix(campaign_id: str, code: str) -> str:
    """What a card's transaction ids start with; the card's transaction sequence number follows.

    Derived from the card, so ids are unique across cards and a transaction id leads back to its
    position in the card's stream (paging and refunds need no index).
    """
    h = hashlib.sha1(f"{campaign_id}\0{code}".encode()).hexdigest()[:16]
    return f"vtx_{h}_"


# -- ops (inputs) -----------------------------------------------------------------------------


class Credit(msgspec.Struct, frozen=True, kw_only=True):
    """Credit ``points`` to a card.

    Active now: into the bucket expiring at ``expires_at_ms`` (None = never; must be after now).
    Pending: with ``pending_id`` and ``activates_at_ms`` (after now) the points wait, with no
    transaction, until activation; their bucket then expires at ``expires_at_ms`` (after the
    activation) or ``expires_after_ms`` after the activation, or never.
    """

    campaign_id: str
    code: str
    points: int
    type: CreditType = "POINTS_ACCRUAL"
    expires_at_ms: int | None = None
    pending_id: str | None = None
    activates_at_ms: int | None = None
    expires_after_ms: int | None = None
    source_id: str = ""
    reason: str = ""
    details: bytes | str = b""


class Debit(msgspec.Struct, frozen=True, kw_only=True):
    """Take ``points``, soonest-expiring first. ``mode="exact"`` fails the whole call with
    ``error`` when the balance is short; ``"clamp"`` takes what is there (never below zero) and
    records the rest as the transaction's ``shortfall``."""

    campaign_id: str
    code: str
    points: int
    type: DebitType = "POINTS_REDEMPTION"
    mode: Literal["exact", "clamp"] = "exact"
    error: str = "loyalty_card_points_exceeded"
    source_id: str = ""
    reason: str = ""
    details: bytes | str = b""


class Refund(msgspec.Struct, frozen=True, kw_only=True):
    """Give back what debit ``transaction_id`` (a redemption or removal of this card) took, to
    the same buckets, as one ``POINTS_REFUND``; once. Points whose bucket has expired meanwhile
    come back and expire again in the same op (a ``POINTS_EXPIRATION`` right after)."""

    campaign_id: str
    code: str
    transaction_id: str
    source_id: str = ""
    reason: str = ""
    details: bytes | str = b""


class Transfer(msgspec.Struct, frozen=True, kw_only=True):
    """Move ``points`` (an exact debit, ``error`` when short) from card ``code`` to card
    ``to_code``, where they expire at ``expires_at_ms`` (None = never). ``details`` goes on the
    ``POINTS_TRANSFER_OUT``, ``to_details`` on the ``POINTS_TRANSFER_IN``."""

    campaign_id: str
    code: str
    to_campaign_id: str
    to_code: str
    points: int
    expires_at_ms: int | None = None
    error: str = "loyalty_card_points_exceeded"
    source_id: str = ""
    reason: str = ""
    details: bytes | str = b""
    to_details: bytes | str = b""


class ActivatePending(msgspec.Struct, frozen=True, kw_only=True):
    """Activate PENDING points now (else ``invalid_pending_points_state``)."""

    campaign_id: str
    code: str
    pending_id: str


class CancelPending(msgspec.Struct, frozen=True, kw_only=True):
    """Cancel PENDING points (else ``invalid_pending_points_state``); no transaction."""

    campaign_id: str
    code: str
    pending_id: str


class AdjustPending(msgspec.Struct, frozen=True, kw_only=True):
    """Change PENDING points by ``points`` (signed, non-zero); never below 0
    (``invalid_amount``); no transaction."""

    campaign_id: str
    code: str
    pending_id: str
    points: int


WalletOp = Credit | Debit | Refund | Transfer | ActivatePending | CancelPending | AdjustPending


# -- results ----------------------------------------------------------------------------------


class Bucket(msgspec.Struct, frozen=True):
    """Points expiring at ``expires_at_ms`` (None = never)."""

    expires_at_ms: int | None
    points: int


class Card(msgspec.Struct, frozen=True):
    """A card's figures after normalisation (all 0 for a card never written).

    ``transactions`` is how many it has; ``updated_at_ms`` its last transaction's time;
    ``next_expiration_*`` the soonest-expiring bucket (None / 0 when no point expires).
    """

    campaign_id: str
    code: str
    points: int
    balance: int
    expired: int
    subtracted: int
    redeemed: int
    pending: int
    transactions: int
    updated_at_ms: int | None
    next_expiration_at_ms: int | None
    next_expiration_points: int


class OpResult(msgspec.Struct, frozen=True):
    """What one op did. ``points`` is signed (what was applied: a clamped debit's ``-taken``);
    ``balance`` / ``total`` are the card's balance and lifetime points right after the op;
    ``buckets`` the buckets taken from (debit, transfer, refund: given back) or credited.
    ``transaction_ids``: the op's transactions (a transfer: OUT then IN; a refund into expired
    buckets: the refund then its expirations). ``pending_points``: the record's points after a
    pending op. ``to_*``: the receiving card of a transfer."""

    kind: str
    campaign_id: str
    code: str
    transaction_ids: list[str]
    points: int
    balance: int
    total: int
    buckets: list[Bucket]
    shortfall: int = 0
    pending_id: str | None = None
    pending_points: int = 0
    to_campaign_id: str | None = None
    to_code: str | None = None
    to_balance: int = 0
    to_total: int = 0


class AutoTransaction(msgspec.Struct, frozen=True):
    """A transaction normalisation wrote (``POINTS_EXPIRATION`` / ``PENDING_POINTS_ACTIVATION``)."""

    campaign_id: str
    code: str
    transaction_id: str
    type: str
    points: int


class WalletFailure(msgspec.Struct, frozen=True):
    """Why a plan was refused.

    ``kind="wallet"``: wallet op ``index`` (0-based) cannot apply; ``error`` is the op's own key
    for a short exact debit / transfer (``available`` = balance, ``requested`` = points), else
    ``pending_points_exists``, ``not_found``, ``not_refundable``, ``already_refunded``,
    ``invalid_pending_points_state`` or ``invalid_amount`` (``available`` = pending points,
    ``requested`` = the delta).
    ``kind="limit"``: limit op ``index`` would pass its limit (``available`` = the counter's
    value, ``requested`` = what other sessions hold on it), ``error`` the op's key.
    ``kind="write"``: write ``index`` is a ``setnx`` whose key exists (``error="exists"``).
    """

    kind: Literal["wallet", "limit", "write"]
    index: int
    error: str
    available: int = 0
    requested: int = 0


class WalletResult(msgspec.Struct, frozen=True):
    """Outcome of :meth:`Wallet.apply`.

    - ``"ok"``: applied; ``results`` one per op, ``cards`` every card of the plan after it,
      ``auto`` what normalisation wrote.
    - ``"failed"``: nothing applied (apart from normalisation); see ``failure``.
    - ``"replay"``: the op id was used before with the same fingerprint; the fields are that
      first call's; nothing changed.
    - ``"conflict"``: the op id was used with another fingerprint (answer 409).
    """

    status: Literal["ok", "failed", "replay", "conflict"]
    results: list[OpResult] = msgspec.field(default_factory=list)
    cards: list[Card] = msgspec.field(default_factory=list)
    auto: list[AutoTransaction] = msgspec.field(default_factory=list)
    failure: WalletFailure | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def card(self, campaign_id: str, code: str) -> Card:
        """The figures of one card of the plan after the call."""
        for c in self.cards:
            if c.campaign_id == campaign_id and c.code == code:
                return c
        raise KeyError((campaign_id, code))


class Transaction(msgspec.Struct, frozen=True):
    """One transaction of a card. ``seq`` is its position (1 = first); ``points`` signed;
    ``balance`` / ``total`` the card's balance and lifetime points after it; ``details`` the
    caller's JSON as given (``b""`` when none); ``buckets`` those taken from or credited."""

    id: str
    seq: int
    type: str
    points: int
    balance: int
    total: int
    created_at_ms: int
    source_id: str
    reason: str
    related_transaction_id: str | None
    details: bytes
    buckets: list[Bucket]
    shortfall: int
    pending_id: str | None


class TransactionPage(msgspec.Struct, frozen=True):
    transactions: list[Transaction]
    has_more: bool


class BucketList(msgspec.Struct, frozen=True):
    """Live buckets, soonest-expiring first; ``total`` = how many the card has."""

    buckets: list[Bucket]
    total: int


class PendingPoints(msgspec.Struct, frozen=True):
    """A pending-points record. The bucket it becomes expires at ``expires_at_ms``, or
    ``expires_after_ms`` after activation, or never (both None)."""

    id: str
    points: int
    status: Literal["PENDING", "ACTIVATED", "CANCELED"]
    activates_at_ms: int
    expires_at_ms: int | None
    expires_after_ms: int | None
    source_id: str
    reason: str
    details: bytes
    created_at_ms: int
    updated_at_ms: int
    transaction_id: str | None


class PendingPage(msgspec.Struct, frozen=True):
    pending: list[PendingPoints]
    has_more: bool


# -- helpers ----------------------------------------------------------------------------------


_VERBS = frozenset(
    ("set", "setnx", "incr", "del", "hincr", "hset", "hsetnx", "hfree", "hdel", "hsettx", "hmset",
     "hmsettx", "hmax", "sadd", "srem", "rpush", "lrem", "zadd", "xadd", "publish")
)
#: the verbs whose ``a`` is a mapping of fields, written by one HSET
_FIELD_VERBS = ("hmset", "hmsettx")
#: in an ``hsettx`` / ``hmsettx`` write's value (JSON text), replaced by the first transaction
#: id of op 1
TX_PLACEHOLDER = "\x01tx\x01"
_TX_JSON = orjson.dumps(TX_PLACEHOLDER)[1:-1]  # how it reads in JSON text: \u0001tx\u0001


def with_tx(value: bytes, tx: str) -> bytes:
    """What wallet.lua stores for an ``hsettx`` / ``hmsettx`` JSON ``value`` when op 1's first
    transaction is ``tx``."""
    return value.replace(_TX_JSON, tx.encode())


def _write(w: Sequence[Any]) -> tuple[str, str, Any, Any]:
    """A plain write ``(verb, key, a, b)`` checked (``b`` may be left out for one-value verbs,
    and for ``hmset`` / ``hmsettx``, whose ``a`` is a non-empty mapping field -> value)."""
    if not 2 <= len(w) <= 4:
        raise ValueError(f"a write is (verb, key, a, b): {w!r}")
    verb, key, a, b = (*w, "", "")[:4]
    if verb not in _VERBS:
        raise ValueError(f"unknown write verb {verb!r}")
    _need_str("write key", key)
    if verb in ("hincr", "hmax", "zadd"):
        _int("write number", b)
    if verb == "incr":
        _int("write number", a)
    if verb in _FIELD_VERBS:
        if not isinstance(a, Mapping) or not a or b != "":
            raise ValueError(f"{verb} takes one non-empty mapping of fields: {w!r}")
        for f in a:
            _need_str("write field", f)
    return verb, key, a, b


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _list(v: Any) -> list[Any]:
    # cjson encodes an empty Lua table as {}: read it as an empty list.
    return v if isinstance(v, list) else []


def _exp(ms: Any) -> int | None:
    ms = int(ms)
    return None if ms >= NEVER_MS else ms


def _buckets(v: Any) -> list[Bucket]:
    return [Bucket(_exp(e), int(p)) for e, p in _list(v)]


def _need_str(what: str, v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise ValueError(f"{what} must be a non-empty string, got {v!r}")
    return v


def _campaign(v: Any) -> str:
    _need_str("campaign_id", v)
    if "{" in v or "}" in v:
        raise ValueError(f"campaign_id {v!r}: braces would break the key's hash tag")
    return v


def _int(what: str, v: Any) -> int:
    if type(v) is not int:
        raise ValueError(f"{what} must be an integer, got {v!r}")
    return v


def _points(v: Any) -> int:
    _int("points", v)
    if not 0 < v <= MAX_POINTS:
        raise ValueError(f"points must be in 1..{MAX_POINTS}, got {v}")
    return v


def _ms(what: str, v: Any, after: int) -> int:
    _int(what, v)
    if not after < v < NEVER_MS:
        raise ValueError(f"{what} must be after {after} and before {NEVER_MS}, got {v}")
    return v


def _text(what: str, v: Any) -> str:
    if isinstance(v, bytes):
        try:
            return v.decode()
        except UnicodeDecodeError as exc:
            raise ValueError(f"{what} must be UTF-8") from exc
    if not isinstance(v, str):
        raise ValueError(f"{what} must be a string or bytes, got {type(v).__name__}")
    return v


def _common(out: dict[str, Any], op: Any) -> dict[str, Any]:
    """``out`` with the fields every transaction-writing op has: source, reason, details."""
    out["s"] = _text("source_id", op.source_id)
    out["r"] = _text("reason", op.reason)
    out["d"] = _text("details", op.details)
    return out


def _runs(ops: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The script ops of a plan: consecutive active credits of one type to one card form one
    run (written as one stream entry, see _wallet.lua); every other op is a run of its own."""
    runs: list[list[dict[str, Any]]] = []
    for op in ops:
        last = runs[-1][-1] if runs else None
        if (op["o"] == "credit" and last is not None and last["o"] == "credit"
                and last["c"] == op["c"] and last["t"] == op["t"]):  # fmt: skip
            runs[-1].append(op)
        else:
            runs.append([op])
    return runs


def _script_op(run: list[dict[str, Any]], tail: int, items: list[bytes]) -> dict[str, Any]:
    """A run as wallet.lua's op: itself, or ``credits`` for two credits or more, whose items'
    JSON text is appended to ``items`` (ARGV ``tail`` + its position, 1-based: the script
    stores it as it is, never parses it)."""
    if len(run) == 1:
        return run[0]
    xs: dict[int, int] = {}
    for op in run:
        xs[op["x"]] = xs.get(op["x"], 0) + op["p"]
    items.append(orjson.dumps([[op["p"], op["x"], op["s"], op["r"], op["d"]] for op in run]))
    return {"o": "credits", "c": run[0]["c"], "t": run[0]["t"], "n": len(run),
            "p": sum(xs.values()), "xs": list(xs.items()), "i": tail + len(items)}  # fmt: skip


class _Cards:
    """The distinct cards of a plan, in first-seen order (1-based indices for the script)."""

    def __init__(self) -> None:
        self.index: dict[tuple[str, str], int] = {}

    def __call__(self, campaign_id: Any, code: Any) -> int:
        # a card seen before in this call is not checked again (plain strings only: anything
        # else, unhashable included, goes to the checks, which refuse it with a ValueError)
        plain = type(campaign_id) is str and type(code) is str
        i = self.index.get((campaign_id, code)) if plain else None
        if i is None:
            key = (_campaign(campaign_id), _need_str("code", code))
            i = self.index.get(key)
            if i is None:
                i = self.index[key] = len(self.index) + 1
        return i


# -- the wallet store -------------------------------------------------------------------------


class Wallet:
    """Loyalty card wallets in Redis.

    ``Wallet(redis_or_pipeline, prefix)``: an :class:`AutoPipeline` to share (e.g. the
    :class:`~store.counters.Store`'s ``pipe``), or a ``redis.asyncio.Redis`` client (bytes
    replies) for which a new auto-pipeliner is made. Options:

    ``prefix``           key prefix; default ``$PROMOGATE_KEY_PREFIX`` or ``pg:``.
    ``timeout``          seconds a call may take (new pipeliner only); default 2.0.
    ``idempotency_ttl``  seconds an op id's answer is kept; default 0 = kept for good (an order
                         earns once, not once a day).
    """

    def __init__(
        self,
        redis: Any,
        prefix: str | None = None,
        *,
        timeout: float = 2.0,
        idempotency_ttl: int = 0,
    ) -> None:
        self.prefix = (
            prefix if prefix is not None else os.environ.get("PROMOGATE_KEY_PREFIX", DEFAULT_PREFIX)
        )
        if idempotency_ttl < 0:
            raise ValueError("idempotency_ttl must be >= 0")
        if isinstance(redis, AutoPipeline):
            self.pipe, self._owns_pipe = redis, False
        else:
            self.pipe, self._owns_pipe = AutoPipeline(redis, timeout=timeout), True
        self.idempotency_ttl = int(idempotency_ttl)
        self.keys = Keys(self.prefix)
        self.scripts: dict[str, Script] = load_scripts(names=_SCRIPTS, libs=_LIBS)

    async def aclose(self) -> None:
        """Wait for in-flight calls; close the pipeliner if this wallet made it."""
        if self._owns_pipe:
            await self.pipe.aclose()
        else:
            await self.pipe.drain()

    async def load_scripts(self) -> None:
        """Load promogate's function library now (FUNCTION LOAD). Optional: a call that finds no
        function loads it on demand."""
        await self.pipe.load(*self.scripts.values())

    # -- apply -----------------------------------------------------------------------------

    async def apply(
        self,
        ops: Sequence[WalletOp],
        now_ms: int,
        *,
        op_id: str | None = None,
        fingerprint: str | None = None,
        limits: Iterable[Sequence[Any]] = (),
        scope: str | None = None,
        writes: Sequence[Sequence[Any]] = (),
        per_credit: bool = True,
    ) -> WalletResult:
        """Apply ``ops`` (and count ``limits``) in one atomic call: every op is checked first,
        in order, against what the ops before it leave; only if all of them (and every limit)
        can apply is anything written (normalisation aside).

        With ``op_id`` (needs a ``fingerprint``): a repeat with the same fingerprint gets
        ``"replay"`` and the first answer, another fingerprint ``"conflict"``; nothing changes
        either way; a refused call stores nothing, so its retry is judged anew. Op ids are
        scoped by campaign: ``scope``, by default the campaign of the first op's card.

        ``writes``: plain writes done in the same call once everything else applies, each
        ``(verb, full key, a, b)`` (verbs in wallet.lua: ``set``, ``setnx`` (refuses the call
        when the key exists: a ``"write"`` failure), ``incr`` (by ``a``, signed), ``del``,
        ``hincr``, ``hset``, ``hsetnx`` (refuses the call when the hash field exists, as
        ``setnx``), ``hfree`` (writes nothing; refuses the call when the field exists),
        ``hdel``, ``hsettx``
        (an ``hset`` whose JSON value names the first transaction of op 1 by
        :data:`TX_PLACEHOLDER`), ``hmset`` / ``hmsettx`` (``(verb, key, {field: value, ...})``:
        ``hset`` / ``hsettx`` of every field in ONE HSET), ``hmax``, ``sadd``, ``srem``,
        ``rpush``, ``lrem`` (its last occurrence), ``zadd``, ``publish`` (``a`` on channel
        ``key``), ``xadd`` (an activity entry ``{type, data, at}``, stream kept to
        about 1,000 entries)): the order record, customer metrics and activity an order changes,
        a reward's issued code.

        ``per_credit=False``: a run of credits to one card (see :func:`_runs`) gets ONE result
        (its transaction ids, points and the card's figures after it) instead of one per credit,
        for callers that read only the cards' figures (an order earning through 100 rules).
        """
        now = _int("now_ms", now_ms)
        if not 0 <= now < NEVER_MS:
            raise ValueError(f"now_ms out of range: {now}")
        cards = _Cards()
        runs = _runs([self._op(op, now, cards) for op in ops])
        plan = counter_plan(self.prefix, limits)
        if not runs and not plan.args and not writes:
            raise ValueError("a wallet call needs at least one op, limit or write")
        if op_id is not None:
            _need_str("op_id", op_id)
            if not fingerprint:
                raise ValueError("an op_id needs a fingerprint")
            if scope is None:
                if not cards.index:
                    raise ValueError("an op_id without wallet ops needs a scope (campaign id)")
                scope = next(iter(cards.index))[0]
            idem: str | None = self.keys.wallet_idempotency(_campaign(scope), op_id)
        else:
            idem = None
        keys: list[str] = [""]  # KEYS[1]: the idempotency key, or a placeholder never touched
        args: list[Any] = [now, fingerprint if op_id is not None else "", self.idempotency_ttl]
        args.append(len(cards.index))
        for campaign_id, code in cards.index:
            keys += self.keys.card(campaign_id, code)
            args += (campaign_id, code, transaction_prefix(campaign_id, code))
        keys += plan.keys
        wargs: list[Any] = []
        texts: list[Any] = []  # hmset / hmsettx fields and values: ARGV after the writes
        for w in writes:
            verb, key, a, b = _write(w)
            keys.append(key)
            if verb in _FIELD_VERBS:
                wargs += (verb, len(keys), len(texts) + 1, len(a))
                for f, val in a.items():
                    texts += (f, val)
            else:
                wargs += (verb, len(keys), a, b)
        # the placeholder is a key of the call already (same slot on a cluster)
        keys[0] = idem if idem is not None else keys[1]
        args += (len(runs), len(plan.args) // 6, len(writes))
        # a run's items travel as ARGV of their own after everything else (see wallet.lua):
        # the ARGV position they start after is what precedes them
        items: list[bytes] = []
        tail = len(args) + len(runs) + len(plan.args) + len(wargs) + len(texts)
        args += (*(orjson.dumps(_script_op(run, tail, items)) for run in runs), *plan.args, *wargs)
        args += texts
        args += items
        reply = await self.pipe.evalsha(self.scripts["wallet"], keys, args)
        tag = _s(reply[0])
        if tag in ("ok", "replay"):
            return _result(tag, reply[1], runs if per_credit else None)
        if tag == "fail":
            kind, index = _s(reply[1]), int(reply[2])
            if kind == "wallet":  # the script's op index -> the caller's
                index = sum(len(run) for run in runs[:index])
            return WalletResult(
                "failed",
                failure=WalletFailure(
                    kind=kind,  # type: ignore[arg-type]
                    index=index,
                    error=_s(reply[3]),
                    available=int(reply[4]),
                    requested=int(reply[5]),
                ),
            )
        if tag == "conflict":
            return WalletResult("conflict")
        raise RuntimeError(f"wallet.lua: unexpected reply {reply!r}")  # pragma: no cover

    def _op(self, op: Any, now: int, cards: _Cards) -> dict[str, Any]:
        """One op as the script's JSON object (see wallet.lua), after checking it."""
        if isinstance(op, Credit):
            c = cards(op.campaign_id, op.code)
            points = _points(op.points)
            if op.type not in ("POINTS_ACCRUAL", "POINTS_ADDITION"):
                raise ValueError(
                    f"a credit's type is POINTS_ACCRUAL or POINTS_ADDITION, not {op.type!r}"
                )
            if op.pending_id is None and op.activates_at_ms is None:
                if op.expires_after_ms is not None:
                    raise ValueError("expires_after_ms is for pending points only")
                x = (
                    NEVER_MS
                    if op.expires_at_ms is None
                    else _ms("expires_at_ms", op.expires_at_ms, now)
                )
                return _common({"o": "credit", "c": c, "p": points, "t": op.type, "x": x}, op)
            pid = _need_str("pending_id", op.pending_id)
            a = _ms("activates_at_ms", op.activates_at_ms, now)
            if op.expires_at_ms is not None and op.expires_after_ms is not None:
                raise ValueError("give expires_at_ms or expires_after_ms, not both")
            xa = NEVER_MS if op.expires_at_ms is None else _ms("expires_at_ms", op.expires_at_ms, a)
            xd = 0
            if op.expires_after_ms is not None:
                xd = _ms("expires_after_ms", op.expires_after_ms, 0)
            return _common({"o": "pending", "c": c, "p": points, "id": pid, "a": a, "xa": xa,
                            "xd": xd}, op)  # fmt: skip
        if isinstance(op, Debit):
            c = cards(op.campaign_id, op.code)
            if op.type not in ("POINTS_REDEMPTION", "POINTS_REMOVAL"):
                raise ValueError(
                    f"a debit's type is POINTS_REDEMPTION or POINTS_REMOVAL, not {op.type!r}"
                )
            if op.mode not in ("exact", "clamp"):
                raise ValueError(f"a debit's mode is exact or clamp, not {op.mode!r}")
            return _common({"o": "debit", "c": c, "p": _points(op.points), "t": op.type,
                            "m": op.mode, "e": _need_str("error", op.error)}, op)  # fmt: skip
        if isinstance(op, Refund):
            c = cards(op.campaign_id, op.code)
            tx = _need_str("transaction_id", op.transaction_id)
            prefix = transaction_prefix(op.campaign_id, op.code)
            if not (tx.startswith(prefix) and tx[len(prefix) :].isdigit()):
                raise ValueError(f"{tx!r} is not a transaction of card {op.code!r}")
            return _common({"o": "refund", "c": c, "tx": tx}, op)
        if isinstance(op, Transfer):
            c = cards(op.campaign_id, op.code)
            to = cards(op.to_campaign_id, op.to_code)
            if to == c:
                raise ValueError("a transfer needs two different cards")
            x = (
                NEVER_MS
                if op.expires_at_ms is None
                else _ms("expires_at_ms", op.expires_at_ms, now)
            )
            return _common({"o": "transfer", "c": c, "to": to, "p": _points(op.points), "x": x,
                            "e": _need_str("error", op.error),
                            "d2": _text("to_details", op.to_details)}, op)  # fmt: skip
        if isinstance(op, (ActivatePending, CancelPending, AdjustPending)):
            c = cards(op.campaign_id, op.code)
            pid = _need_str("pending_id", op.pending_id)
            if isinstance(op, AdjustPending):
                delta = _int("points", op.points)
                if delta == 0 or abs(delta) > MAX_POINTS:
                    raise ValueError(f"an adjustment is non-zero, at most {MAX_POINTS}: {delta}")
                return {"o": "adjust", "c": c, "id": pid, "p": delta}
            kind = "activate" if isinstance(op, ActivatePending) else "cancel"
            return {"o": kind, "c": c, "id": pid}
        raise ValueError(f"not a wallet op: {op!r}")

    # -- reads -----------------------------------------------------------------------------

    async def _read(self, campaign_id: str, code: str, now_ms: int, *what: Any) -> Any:
        now = _int("now_ms", now_ms)
        campaign_id, code = _campaign(campaign_id), _need_str("code", code)
        return await self.pipe.evalsha(
            self.scripts["wallet_read"],
            self.keys.card(campaign_id, code),
            (now, campaign_id, code, transaction_prefix(campaign_id, code), *what),
        )

    async def card(self, campaign_id: str, code: str, now_ms: int) -> Card:
        """The card's figures after normalisation (zeros for a card never written)."""
        (raw,) = await self._read(campaign_id, code, now_ms, "card")
        return _card(orjson.loads(raw))

    async def transactions(
        self,
        campaign_id: str,
        code: str,
        now_ms: int,
        *,
        limit: int = 10,
        starting_after: str | int | None = None,
        newest_first: bool = True,
    ) -> TransactionPage:
        """A page of the card's transactions (after normalisation), newest first by default.
        ``starting_after`` is a transaction id of this card (or its ``seq``): the page starts
        just past it in the chosen order."""
        if not 0 < _int("limit", limit) <= 1000:
            raise ValueError("limit must be in 1..1000")
        after = 0
        if isinstance(starting_after, int) and not isinstance(starting_after, bool):
            after = starting_after
        elif isinstance(starting_after, str):
            prefix = transaction_prefix(campaign_id, code)
            tail = starting_after[len(prefix) :]
            if not (starting_after.startswith(prefix) and tail.isdigit()):
                raise ValueError(f"{starting_after!r} is not a transaction of card {code!r}")
            after = int(tail)
        elif starting_after is not None:
            raise ValueError(f"starting_after must be a transaction id or seq: {starting_after!r}")
        if after < 0:
            raise ValueError("starting_after must be >= 0")
        reply = await self._read(
            campaign_id, code, now_ms, "tx", "desc" if newest_first else "asc", after, limit
        )
        txs: list[Transaction] = []
        for e in reply[1:]:
            run = _transactions(e)
            txs += reversed(run) if newest_first else run
        if after:
            txs = [t for t in txs if (t.seq < after if newest_first else t.seq > after)]
        # every entry read holds at least one transaction past `after`, and the script reads
        # limit + 1 entries when there are that many: more than `limit` here iff there are more
        return TransactionPage(txs[:limit], len(txs) > limit)

    async def buckets(
        self, campaign_id: str, code: str, now_ms: int, *, limit: int = 100, offset: int = 0
    ) -> BucketList:
        """The card's live buckets (after normalisation), soonest-expiring first: for the
        points-expiration list (``limit`` / ``offset`` page through them)."""
        if _int("limit", limit) < 0 or _int("offset", offset) < 0:
            raise ValueError("limit and offset must be >= 0")
        reply = await self._read(campaign_id, code, now_ms, "buckets", offset, limit)
        flat = reply[1:]
        return BucketList(
            [Bucket(_exp(_s(flat[i])), int(flat[i + 1])) for i in range(0, len(flat), 2)],
            int(reply[0]),
        )

    async def pending(
        self,
        campaign_id: str,
        code: str,
        now_ms: int,
        *,
        limit: int = 10,
        starting_after: str | None = None,
    ) -> PendingPage:
        """The card's PENDING points (after normalisation: due ones have activated), soonest
        activation first; ``starting_after`` a pending id to resume after."""
        if not 0 < _int("limit", limit) <= 1000:
            raise ValueError("limit must be in 1..1000")
        after = "" if starting_after is None else _need_str("starting_after", starting_after)
        reply = await self._read(campaign_id, code, now_ms, "pending", after, limit)
        flat = reply[1:]
        return PendingPage(
            [_pending(_s(flat[i]), flat[i + 1]) for i in range(0, len(flat), 2) if flat[i + 1]],
            bool(int(reply[0])),
        )

    async def pending_points(
        self, campaign_id: str, code: str, pending_id: str, now_ms: int
    ) -> PendingPoints | None:
        """One pending-points record, whatever its status (after normalisation), or None."""
        reply = await self._read(
            campaign_id, code, now_ms, "pending_one", _need_str("pending_id", pending_id)
        )
        return _pending(pending_id, reply[0]) if reply else None


# -- reply decoding ---------------------------------------------------------------------------


def _card(d: dict[str, Any]) -> Card:
    at = int(d["at"])
    nxt = int(d["next_expiration_at"])
    return Card(
        campaign_id=str(d["campaign_id"]),
        code=str(d["code"]),
        points=int(d["points"]),
        balance=int(d["balance"]),
        expired=int(d["expired"]),
        subtracted=int(d["subtracted"]),
        redeemed=int(d["redeemed"]),
        pending=int(d["pending"]),
        transactions=int(d["seq"]),
        updated_at_ms=at or None,
        next_expiration_at_ms=nxt or None,
        next_expiration_points=int(d["next_expiration_points"]),
    )


def _run_results(r: dict[str, Any], card: Card, run: list[dict[str, Any]] | None) -> list[OpResult]:
    """One result per credit of a run written as one entry (``credits``): its transaction id and
    the card's running balance after it, derived from the run's totals. A replay whose ops are
    not the first call's (a retry planned again) gets the run as one result."""
    first, n, points = int(r["first"]), int(r["n"]), int(r["points"])
    prefix = transaction_prefix(card.campaign_id, card.code)
    balance, total = int(r["balance"]) - points, int(r["total"]) - points
    if run is None or len(run) != n or sum(op["p"] for op in run) != points:
        ids = [f"{prefix}{first + j}" for j in range(n)]
        return [OpResult("credit", card.campaign_id, card.code, ids, points, balance + points,
                         total + points, [])]  # fmt: skip
    out = []
    for j, op in enumerate(run):
        balance += op["p"]
        total += op["p"]
        out.append(OpResult("credit", card.campaign_id, card.code, [f"{prefix}{first + j}"], op["p"],
                            balance, total, [Bucket(_exp(op["x"]), op["p"])]))  # fmt: skip
    return out


def _result(tag: str, raw: Any, runs: list[list[dict[str, Any]]] | None = None) -> WalletResult:
    doc = orjson.loads(raw)
    cards = [_card(c) for c in _list(doc.get("cards"))]
    results: list[OpResult] = []
    for i, r in enumerate(_list(doc.get("ops"))):
        card = cards[int(r["c"]) - 1]
        if r["o"] == "credits":
            results += _run_results(
                r, card, runs[i] if runs is not None and i < len(runs) else None
            )
            continue
        to = cards[int(r["to"]) - 1] if "to" in r else None
        results.append(
            OpResult(
                kind=str(r["o"]),
                campaign_id=card.campaign_id,
                code=card.code,
                transaction_ids=[str(t) for t in _list(r.get("tx"))],
                points=int(r["points"]),
                balance=int(r["balance"]),
                total=int(r["total"]),
                buckets=_buckets(r.get("buckets")),
                shortfall=int(r.get("shortfall", 0)),
                pending_id=r.get("pending_id") or None,
                pending_points=int(r.get("pending_points", 0)),
                to_campaign_id=to.campaign_id if to else None,
                to_code=to.code if to else None,
                to_balance=int(r.get("to_balance", 0)),
                to_total=int(r.get("to_total", 0)),
            )
        )
    auto = [
        AutoTransaction(
            cards[int(c) - 1].campaign_id, cards[int(c) - 1].code, str(t), str(k), int(p)
        )
        for c, t, k, p in _list(doc.get("auto"))
    ]
    return WalletResult(tag, results=results, cards=cards, auto=auto)  # type: ignore[arg-type]


def _transactions(entry: Any) -> list[Transaction]:
    """The transactions of one stream entry, oldest first: one, or a run of credits (``n`` and
    ``items``: ids and running balances derived from the run's first id and totals)."""
    sid, flat = entry
    f = {_s(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}
    if "items" not in f:
        return [_transaction(sid, f)]
    seq = int(_s(sid).split("-", 1)[0])
    first_id = _s(f["id"])
    prefix = first_id[: len(first_id) - len(str(seq))]
    typ, at = _s(f["type"]), int(f["at"])
    points = int(f["points"])
    balance, total = int(f["balance"]) - points, int(f["total"]) - points
    out = []
    for j, (p, x, src, reason, details) in enumerate(orjson.loads(f["items"])):
        balance += p
        total += p
        out.append(Transaction(id=f"{prefix}{seq + j}", seq=seq + j, type=typ, points=p,
                               balance=balance, total=total, created_at_ms=at, source_id=src,
                               reason=reason, related_transaction_id=None,
                               details=details.encode(), buckets=[Bucket(_exp(x), p)],
                               shortfall=0, pending_id=None))  # fmt: skip
    return out


def _transaction(sid: Any, f: dict[Any, Any]) -> Transaction:
    related = _s(f.get("related", b""))
    pending = _s(f.get("pending", b""))
    return Transaction(
        id=_s(f["id"]),
        seq=int(_s(sid).split("-", 1)[0]),
        type=_s(f["type"]),
        points=int(f["points"]),
        balance=int(f["balance"]),
        total=int(f["total"]),
        created_at_ms=int(f["at"]),
        source_id=_s(f.get("source_id", b"")),
        reason=_s(f.get("reason", b"")),
        related_transaction_id=related or None,
        details=bytes(f.get("details", b"")),
        buckets=_buckets(orjson.loads(f.get("buckets") or b"[]")),
        shortfall=int(f.get("shortfall", 0)),
        pending_id=pending or None,
    )


def _pending(pid: str, raw: Any) -> PendingPoints:
    r = orjson.loads(raw)
    xd = int(r.get("xd", 0))
    return PendingPoints(
        id=pid,
        points=int(r["p"]),
        status=r["st"],
        activates_at_ms=int(r["a"]),
        expires_at_ms=None if xd else _exp(r["xa"]),
        expires_after_ms=xd or None,
        source_id=str(r.get("s", "")),
        reason=str(r.get("r", "")),
        details=str(r.get("d", "")).encode(),
        created_at_ms=int(r["c"]),
        updated_at_ms=int(r["u"]),
        transaction_id=r.get("tx") or None,
    )
