"""Codes kept outside the definitions document (generated, imported, issued codes, loyalty
cards), bucketed into small hashes so that a million codes cost tens of MB, not hundreds.

A code's record is the JSON of ``core.model.Voucher`` (a loyalty card's also carries
``created_at``). It is stored as one field of a bucket hash: field = the code, value =
:func:`pack` of the record, in one of two families of buckets: ``Pcodes:<crc32(code) mod
BUCKETS>`` when the packed record is at most :data:`COMPACT_MAX` (64) bytes, ``Pcodes:big:<crc32
mod BIG_BUCKETS>`` otherwise. Finding a code is two ``HGET`` in one round trip, O(1). Why:

- one key per code (``Pcode:<CODE>``, the layout before) cost about 160-185 bytes of Redis
  memory each: the key's dict entry, its object header, the key's name with the prefix, the
  value's allocation. A bucket hash stays in Redis' compact encoding (a listpack) while it has
  at most ``hash-max-listpack-entries`` fields (512 by default) and no value over
  ``hash-max-listpack-value`` bytes (64 by default); there a field costs its bytes plus two or
  three;
- the value leaves out what the field already says (the code) and, for the common case of a code
  that is only ``{code, campaign_id}`` (every generated code), is just an 8-character reference
  to the campaign (:func:`campaign_ref`; the registry ``Pcamprefs`` names it; campaign ids are
  ~29 characters);
- one value over 64 bytes turns its whole bucket into Redis' ordinary hash encoding (about 80
  bytes more per field). Loyalty cards and issued codes (id, holder, creation time) are over it,
  so they have buckets of their own and never cost the generated codes their compact encoding;
  those hashes are in the ordinary encoding anyway, so there are fewer of them (4,096).

``BUCKETS`` (65,536) keeps compact buckets under 512 fields up to about 25 million codes (a
Poisson mean of ~380 a bucket, the fullest under 512); past that the fullest buckets switch to
the ordinary encoding, one by one: correct, and still cheaper than a key per code. Changing
``BUCKETS`` moves every code: it is part of the stored layout, like a key name. :func:`migrate`
moves codes from the layout before (``Pcode:<CODE>`` keys) into their buckets; admin runs it when
it starts.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import msgspec
import orjson

from .keys import BUCKETS, Keys, bucket

__all__ = [
    "BUCKETS",
    "COMPACT_MAX",
    "bucket",
    "buckets",
    "campaign_ref",
    "drop",
    "fetch",
    "found",
    "known_ref",
    "migrate",
    "only_campaign",
    "pack",
    "place",
    "put",
    "read",
    "read_one",
    "read_sync",
    "ref",
    "ref_sync",
    "unpack",
]

#: the longest packed record kept in the compact family (Redis' default hash-max-listpack-value)
COMPACT_MAX = 64

_enc = msgspec.json.Encoder()


# -- campaign references ----------------------------------------------------------------------
#
# A generated code's bucket value names its campaign by a short reference (8 characters: the
# base64url of 6 bytes of the campaign id's SHA-1) rather than its id (~29 characters). A ref is a
# function of the id, so what a process has learnt of a ref can never go stale (not even when
# Redis is emptied under a running process, a restart without persistence: a counter's refs would
# then be given again to other campaigns). The registry hash Pcamprefs (ref -> campaign id) lets
# any process name a ref it has not met; it refuses a second id for a ref (a 48-bit clash, never
# seen in practice): that campaign's codes are then stored in the JSON form, correct and larger.
# Writers register the ref before they store codes with it (ref_sync / ref, one call per batch or
# action) and put() registers it again with every code, so a registry emptied meanwhile is
# filled again by the next write.

_REF_OF: dict[str, dict[str, str]] = {}  # key prefix -> {campaign id: ref, or "" on a clash}
_NAME_OF: dict[str, dict[str, str]] = {}  # key prefix -> {ref: campaign id}

REF_SCRIPT = """
-- KEYS[1] the registry (Pcamprefs); ARGV[1] a ref; ARGV[2] its campaign id.
-- Registers ref -> id; returns 1, or 0 when the ref names another campaign (nothing written).
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and cur ~= ARGV[2] then return 0 end
if not cur then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1
"""


def campaign_ref(campaign_id: str) -> str:
    """The 8-character reference of a campaign in compact code records (from its id alone)."""
    return base64.urlsafe_b64encode(hashlib.sha1(campaign_id.encode()).digest()[:6]).decode()


def _learn(k: Keys, campaign_id: str, ref: str) -> str:
    _REF_OF.setdefault(k.prefix, {})[campaign_id] = ref
    if ref:
        _NAME_OF.setdefault(k.prefix, {})[ref] = campaign_id
    return ref


def known_ref(k: Keys, campaign_id: str) -> str | None:
    """The ref of ``campaign_id`` if this process has registered it (no I/O)."""
    return _REF_OF.get(k.prefix, {}).get(campaign_id) or None


def ref_sync(redis: Any, k: Keys, campaign_id: str) -> str | None:
    """Register the ref of ``campaign_id`` (synchronous client) and return it; None when it
    clashes with another campaign's (its codes then keep the JSON form)."""
    r = campaign_ref(campaign_id)
    ok = redis.eval(REF_SCRIPT, 1, k.campaign_refs, r, campaign_id)
    return _learn(k, campaign_id, r if int(ok) else "") or None


async def ref(redis: Any, k: Keys, campaign_id: str) -> str | None:
    """:func:`ref_sync` through an asyncio redis-py client."""
    r = campaign_ref(campaign_id)
    ok = await redis.eval(REF_SCRIPT, 1, k.campaign_refs, r, campaign_id)
    return _learn(k, campaign_id, r if int(ok) else "") or None


def _unknown_refs(k: Keys, raws: Sequence[bytes | None]) -> list[str]:
    names = _NAME_OF.get(k.prefix, {})
    return list({r.decode() for r in raws if r and r[:1] != b"{" and r.decode() not in names})


def _learn_names(k: Keys, refs: Sequence[str], names: Sequence[bytes | None]) -> None:
    for r, name in zip(refs, names, strict=True):
        if name is not None and campaign_ref(name.decode()) == r:
            _learn(k, name.decode(), r)


# -- records ----------------------------------------------------------------------------------


def _doc(record: bytes | Any) -> dict[str, Any]:
    if isinstance(record, bytes | bytearray | str):
        return orjson.loads(record)  # type: ignore[no-any-return]
    return dict(record) if isinstance(record, dict) else msgspec.to_builtins(record)  # type: ignore[no-any-return]


def pack(code: str, record: bytes | Any, k: Keys | None = None) -> bytes:
    """What a bucket stores for ``code`` whose record is ``record`` (JSON bytes of a voucher
    object, that object as a dict, or a ``core.model.Voucher``): the record without its
    ``code`` member; when that leaves only the campaign id and this process knows the
    campaign's ref under ``k`` (:func:`ref_sync` / :func:`ref` teach it), just the ref."""
    doc = _doc(record)
    if doc.pop("code", code) != code:
        raise ValueError(f"record of {code!r} names another code")
    camp = doc.get("campaign_id")
    if k is not None and len(doc) == 1 and isinstance(camp, str):
        r = known_ref(k, camp)
        if r is not None:
            return r.encode()
    return orjson.dumps(doc)


def only_campaign(record: bytes | Any) -> str | None:
    """The campaign id of a record that holds nothing else besides its code (a generated
    code's), else None: the records a ref makes compact."""
    doc = _doc(record)
    doc.pop("code", None)
    camp = doc.get("campaign_id")
    return camp if len(doc) == 1 and isinstance(camp, str) else None


def place(k: Keys, code: str, packed: bytes) -> tuple[str, str]:
    """``(the bucket that stores packed, the other bucket of the code)``."""
    compact, big = k.code_buckets(code)
    return (compact, big) if len(packed) <= COMPACT_MAX else (big, compact)


def unpack(k: Keys, code: str, raw: bytes | None) -> bytes | None:
    """The record (voucher JSON, ``code`` first) of ``code`` from what its bucket stores. A ref
    this process cannot name (the registry lost it) reads as campaign ``?<ref>``: no campaign,
    so the code is refused, never taken for another one or for a code without campaign."""
    if raw is None:
        return None
    head = b'{"code":' + _enc.encode(code)
    if raw[:1] != b"{":
        r = raw.decode()
        camp = _NAME_OF.get(k.prefix, {}).get(r) or "?" + r
        return head + b',"campaign_id":' + _enc.encode(camp) + b"}"
    return head + b"}" if raw == b"{}" else head + b"," + raw[1:]


def _found(k: Keys, codes: Sequence[str], raws: Sequence[bytes | None]) -> list[bytes | None]:
    return [unpack(k, c, raws[2 * i] if raws[2 * i] is not None else raws[2 * i + 1]) for i, c in enumerate(codes)]


async def fetch(call: Callable[..., Awaitable[Any]], k: Keys, codes: Sequence[str]) -> list[bytes | None]:
    """The records of ``codes`` through ``call(*command)`` that sends a command at once and
    gives an awaitable reply (``AutoPipeline.execute_command``: every ``HGET`` is queued in the
    same turn of the loop, so they share one round trip)."""
    return await found(call, k, codes, await asyncio.gather(*[call("HGET", b, c) for c in codes for b in k.code_buckets(c)]))


async def found(call: Callable[..., Awaitable[Any]], k: Keys, codes: Sequence[str], raws: Sequence[bytes | None]) -> list[bytes | None]:
    """The records of ``codes`` from two ``HGET`` replies per code, in the order of
    ``Keys.code_buckets`` (for a caller that batched them with other commands); the campaign
    refs this process has not met yet are read through ``call`` (one more round trip, once per
    campaign and process)."""
    unknown = _unknown_refs(k, raws)
    if unknown:
        _learn_names(k, unknown, await call("HMGET", k.campaign_refs, *unknown))
    return _found(k, codes, raws)


async def read_one(redis: Any, k: Keys, code: str) -> bytes | None:
    """The record of ``code``, or None, through an asyncio redis-py client (one round trip)."""
    return (await read(redis, k, [code]))[0]


async def read(redis: Any, k: Keys, codes: Sequence[str]) -> list[bytes | None]:
    """The records of ``codes`` (None where there is none), in one round trip, through an
    asyncio redis-py client."""
    if not codes:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for c in codes:
            for b in k.code_buckets(c):
                pipe.hget(b, c)
        raws = await pipe.execute()
    return await found(redis.execute_command, k, codes, raws)


def read_sync(redis: Any, k: Keys, codes: Sequence[str]) -> list[bytes | None]:
    """:func:`read` through a synchronous redis-py client."""
    if not codes:
        return []
    pipe = redis.pipeline(transaction=False)
    for c in codes:
        for b in k.code_buckets(c):
            pipe.hget(b, c)
    raws = pipe.execute()
    unknown = _unknown_refs(k, raws)
    if unknown:
        _learn_names(k, unknown, redis.hmget(k.campaign_refs, unknown))
    return _found(k, codes, raws)


def buckets(k: Keys, codes: Iterable[str]) -> list[str]:
    """Every bucket that may hold one of ``codes``, once each (what to WATCH for them)."""
    return list(dict.fromkeys(b for c in codes for b in k.code_buckets(c)))


def put(pipe: Any, k: Keys, code: str, record: bytes | Any) -> None:
    """Queue the write of ``code``'s record (as :func:`pack` takes it) on a redis-py pipeline
    (compact with its campaign's ref when this process knows it)."""
    packed = pack(code, record, k)
    into, other = place(k, code, packed)
    if packed[:1] != b"{":  # named by its campaign's ref: registered again with the code
        pipe.hset(k.campaign_refs, packed.decode(), _NAME_OF[k.prefix][packed.decode()])
    pipe.hset(into, code, packed)
    pipe.hdel(other, code)


def drop(pipe: Any, k: Keys, code: str) -> None:
    """Queue the removal of ``code``'s record on a redis-py pipeline."""
    for b in k.code_buckets(code):
        pipe.hdel(b, code)


# -- the layout before: a key per code -------------------------------------------------------

_MIGRATE = """
-- KEYS: per code, its Pcode:<CODE> key of the layout before, the bucket to store it in and
--       its other bucket
-- ARGV: the codes, then each one's packed value (read from the old key by the caller)
-- Moves each code present into its bucket (a code already in either bucket keeps that value)
-- and deletes the old key; returns how many were moved.
local n = #ARGV / 2
local moved = 0
for i = 1, n do
  local old, into, other = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  if redis.call('EXISTS', old) == 1 then
    if redis.call('HEXISTS', other, ARGV[i]) == 0 then
      redis.call('HSETNX', into, ARGV[i], ARGV[n + i])
    end
    redis.call('DEL', old)
    moved = moved + 1
  end
end
return moved
"""


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


def migrate(redis: Any, k: Keys, batch: int = 500) -> int:
    """Move every code of the layout before (``Pcode:<CODE>``, a key per code) into its bucket,
    with a synchronous client, then mark the prefix done (``Pcodes:migrated``: later starts do
    not scan again). Safe to run again and beside writers: each batch moves in one atomic call
    and a code already in its bucket wins. Returns the codes moved."""
    if redis.exists(k.codes_migrated):
        return 0  # done once for this prefix: no scan of the keyspace at every start
    old_prefix = k.prefix + "code:"
    script = redis.register_script(_MIGRATE)
    moved = 0
    names: list[bytes] = []
    registered: set[str] = set()  # campaigns whose ref this run registered (once each)

    def flush() -> int:
        raws = redis.mget(names)
        keys: list[str] = []
        codes: list[str] = []
        values: list[bytes] = []
        for name, raw in zip(names, raws, strict=True):
            if raw is None:
                continue
            code = name.decode()[len(old_prefix) :]
            try:
                camp = only_campaign(raw)
                if camp is not None and camp not in registered:
                    ref_sync(redis, k, camp)
                    registered.add(camp)
                value = pack(code, raw, k)
            except (ValueError, TypeError, orjson.JSONDecodeError, AttributeError):
                continue  # not a code record: left where it is
            keys += [name.decode(), *place(k, code, value)]
            codes.append(code)
            values.append(value)
        names.clear()
        return int(script(keys=keys, args=[*codes, *values])) if codes else 0

    for name in redis.scan_iter(match=_glob_escape(old_prefix) + "*", count=1000, _type="string"):
        names.append(name)
        if len(names) >= batch:
            moved += flush()
    if names:
        moved += flush()
    redis.set(k.codes_migrated, "1")
    return moved
