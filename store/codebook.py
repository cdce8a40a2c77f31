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
  that is only ``{code, campaign_id}`` (every generated code), is just the campaign id;
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
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec
import orjson

from .keys import BUCKETS, Keys, bucket

__all__ = [
    "BUCKETS",
    "COMPACT_MAX",
    "bucket",
    "drop",
    "fetch",
    "found",
    "migrate",
    "pack",
    "place",
    "put",
    "read",
    "read_one",
    "read_sync",
    "unpack",
]

#: the longest packed record kept in the compact family (Redis' default hash-max-listpack-value)
COMPACT_MAX = 64

_enc = msgspec.json.Encoder()


def pack(code: str, record: bytes | Any) -> bytes:
    """What a bucket stores for ``code`` whose record is ``record`` (JSON bytes of a voucher
    object, that object as a dict, or a ``core.model.Voucher``): the record without its
    ``code`` member, or only the campaign id when that is all the record holds besides the
    code."""
    if isinstance(record, bytes | bytearray | str):
        doc = orjson.loads(record)
    else:
        doc = dict(record) if isinstance(record, dict) else msgspec.to_builtins(record)
    if doc.pop("code", code) != code:
        raise ValueError(f"record of {code!r} names another code")
    camp = doc.get("campaign_id")
    if len(doc) == 1 and isinstance(camp, str) and camp and camp[0] != "{":
        return camp.encode()
    return orjson.dumps(doc)


def place(k: Keys, code: str, packed: bytes) -> tuple[str, str]:
    """``(the bucket that stores packed, the other bucket of the code)``."""
    compact, big = k.code_buckets(code)
    return (compact, big) if len(packed) <= COMPACT_MAX else (big, compact)


def unpack(code: str, raw: bytes | None) -> bytes | None:
    """The record (voucher JSON, ``code`` first) of ``code`` from what its bucket stores."""
    if raw is None:
        return None
    head = b'{"code":' + _enc.encode(code)
    if raw[:1] != b"{":
        return head + b',"campaign_id":' + _enc.encode(raw.decode()) + b"}"
    return head + b"}" if raw == b"{}" else head + b"," + raw[1:]


def found(codes: Sequence[str], raws: Sequence[bytes | None]) -> list[bytes | None]:
    """The records of ``codes`` from two ``HGET`` replies per code, in the order of
    ``Keys.code_buckets`` (for a caller that batches them with other commands)."""
    return [unpack(c, raws[2 * i] if raws[2 * i] is not None else raws[2 * i + 1]) for i, c in enumerate(codes)]


async def fetch(call: Callable[..., Awaitable[Any]], k: Keys, codes: Sequence[str]) -> list[bytes | None]:
    """The records of ``codes`` through ``call(*command)`` that sends a command at once and
    gives an awaitable reply (``AutoPipeline.execute_command``: every ``HGET`` is queued in the
    same turn of the loop, so they share one round trip)."""
    return found(codes, await asyncio.gather(*[call("HGET", b, c) for c in codes for b in k.code_buckets(c)]))


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
        return found(codes, await pipe.execute())


def read_sync(redis: Any, k: Keys, codes: Sequence[str]) -> list[bytes | None]:
    """:func:`read` through a synchronous redis-py client."""
    if not codes:
        return []
    pipe = redis.pipeline(transaction=False)
    for c in codes:
        for b in k.code_buckets(c):
            pipe.hget(b, c)
    return found(codes, pipe.execute())


def put(pipe: Any, k: Keys, code: str, record: bytes | Any) -> None:
    """Queue the write of ``code``'s record (as :func:`pack` takes it) on a redis-py pipeline."""
    packed = pack(code, record)
    into, other = place(k, code, packed)
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
    with a synchronous client. Safe to run again and beside writers: each batch moves in one
    atomic call and a code already in its bucket wins. Returns the codes moved."""
    old_prefix = k.prefix + "code:"
    script = redis.register_script(_MIGRATE)
    moved = 0
    names: list[bytes] = []

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
                value = pack(code, raw)
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
    return moved
