"""Admin's views of the redemption ledger, folded incrementally from the stream.

The gateway appends to ``Pledger`` (store/lua/redeem.lua and rollback.lua, refusals from
:meth:`store.counters.Store.record_failure`) and never reads it back: nothing here adds work to
its hot path. Admin folds the entries, oldest first, into (names under ``Plview:``,
:meth:`store.keys.Keys.ledger_view`):

============================  ==================================================================
``pos``                       the id of the last entry folded
``m:<minute>``                hash, all campaigns, per minute of the entry's ``at``: ``s`` rows
                              redeemed, ``f`` refusals, ``r`` redemptions rolled back,
                              ``k:<failure key>`` refusals per key (expire after 2 hours)
``h:<hour>:<campaign id>``    hash, per hour of ``at`` and campaign: ``s`` rows redeemed, ``f``
                              refusals naming it, ``r`` uses given back, ``u`` / ``d`` net change
                              of its ``:uses`` / ``:disc`` counters (the entries' ``ops``),
                              ``k:<failure key>`` (expire after 32 days)
``hc:<hour>``                  hash, per hour of ``at``, all campaigns: ``u:<campaign id>`` /
                              ``d:<campaign id>`` as in ``h:`` (the home page's paces: a few
                              hashes for every campaign; expire after 32 days)
``i:cust:<customer>``         zset (score 0, member = the entry id zero-padded so that the
``i:camp:<campaign id>``      lexicographic order is the stream's): the redeem and refusal
``i:key:<failure key>``       entries of a customer, naming a campaign, refused with a key, and
``i:failed``                  every refusal: a filtered ledger page reads only its entries
============================  ==================================================================

A fold reads the entries after ``pos`` and applies one batch's increments together with the
new ``pos`` in one Lua script that first checks ``pos`` is still the one the batch was read
after (compare-and-set). So two admin processes folding at once never count an entry twice (the
loser re-reads ``pos`` and goes on from there), and a fold interrupted anywhere (process
killed, task cancelled, Redis timeout) has applied whole batches or nothing: the next fold, in
any admin process, continues where the last applied batch ended.

Admin folds when a report is read and, in the background, every ``PROMOGATE_LEDGER_FOLD``
seconds (5 by default; ``admin.app.Admin._fold_ledger``).

Trimming (``PROMOGATE_LEDGER_MAXLEN``): the aggregates keep what they folded; an index member
whose entry was trimmed away is skipped and removed when a read meets it. Entries trimmed before
any fold read them are in neither the stream nor the views: the background fold keeps that from
happening unless entries arrive faster than ``MAXLEN`` per fold interval (a million in 5 s by
default), or no admin process runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from .keys import CAMPAIGN_COUNTERS, Keys

__all__ = [
    "FOLD_BATCH",
    "HOUR_MS",
    "MINUTE_MS",
    "all_campaign_hours",
    "campaign_hours",
    "entry_order",
    "fold",
    "index_batches",
    "index_name",
    "index_sizes",
    "minutes",
]

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
FOLD_BATCH = 500
MINUTE_TTL_S = 2 * 3600 + 120
HOUR_TTL_S = 32 * 24 * 3600

_APPLY = """
local pos = redis.call('GET', KEYS[1]) or ''
if pos ~= ARGV[1] then return 0 end
local plan = cjson.decode(ARGV[3])
for _, op in ipairs(plan.h) do redis.call('HINCRBY', KEYS[op[1]], op[2], op[3]) end
for _, op in ipairs(plan.z) do redis.call('ZADD', KEYS[op[1]], 0, op[2]) end
for _, op in ipairs(plan.e) do redis.call('EXPIRE', KEYS[op[1]], op[2]) end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""


def entry_order(entry_id: str) -> tuple[int, int]:
    """A stream entry id as a comparable pair (``""`` is before every entry)."""
    if not entry_id:
        return (0, 0)
    ms, _, seq = entry_id.partition("-")
    return (int(ms), int(seq or 0))


def _member(entry_id: str) -> str:
    ms, seq = entry_order(entry_id)
    return f"{ms:015d}-{seq:010d}"


def _entry(member: bytes) -> str:
    ms, _, seq = member.decode().partition("-")
    return f"{int(ms)}-{int(seq)}"


def index_name(kind: str, value: str = "") -> str:
    """``cust`` / ``camp`` / ``key`` with a value, or ``failed``."""
    return f"i:{kind}:{value}" if value else f"i:{kind}"


class _Plan:
    """One batch's increments, index members and expiries, keyed by KEYS position."""

    def __init__(self, k: Keys) -> None:
        self.k = k
        self.names: dict[str, int] = {}
        self.incr: dict[tuple[int, str], int] = {}
        self.members: set[tuple[int, str]] = set()
        self.ttl: dict[int, int] = {}
        p = k.prefix + "{c:"
        self._counter = {suffix: (p, "}" + suffix) for suffix in CAMPAIGN_COUNTERS[:2]}

    def _key(self, name: str, ttl: int | None = None) -> int:
        i = self.names.setdefault(self.k.ledger_view(name), len(self.names) + 2)
        if ttl:
            self.ttl[i] = ttl
        return i

    def _add(self, name: str, ttl: int, field: str, n: int) -> None:
        if n:
            i = (self._key(name, ttl), field)
            self.incr[i] = self.incr.get(i, 0) + n

    def minute(self, at: int, field: str, n: int = 1) -> None:
        self._add(f"m:{at // MINUTE_MS}", MINUTE_TTL_S, field, n)

    def hour(self, at: int, campaign: str, field: str, n: int = 1) -> None:
        self._add(f"h:{at // HOUR_MS}:{campaign}", HOUR_TTL_S, field, n)

    def index(self, name: str, entry_id: str) -> None:
        self.members.add((self._key(name), _member(entry_id)))

    def counter_campaign(self, key: str) -> tuple[str, str] | None:
        """``(campaign id, "u" | "d")`` of a campaign's ``:uses`` / ``:disc`` counter key."""
        for suffix, field in ((":uses", "u"), (":disc", "d")):
            head, tail = self._counter[suffix]
            if key.startswith(head) and key.endswith(tail):
                cid = key[len(head) : -len(tail)]
                if "}" not in cid:
                    return cid, field
        return None

    def add(self, entry_id: str, f: dict[bytes, bytes]) -> None:
        kind = f.get(b"type", b"").decode()
        at = int(f.get(b"at", b"0") or 0)
        data = orjson.loads(f[b"data"]) if f.get(b"data") else {}
        if not isinstance(data, dict):
            data = {}
        items = [it for it in data.get("items") or [] if isinstance(it, dict)]
        if kind == "redeem":
            self._redeem(entry_id, at, data, items, orjson.loads(f.get(b"ops") or b"[]"))
        elif kind == "failure":
            self._failure(entry_id, at, data, items)
        elif kind == "rollback":
            self.minute(at, "r", len(orjson.loads(f.get(b"redemptions") or b"[]")))
            for key, applied in orjson.loads(f.get(b"ops") or b"[]"):
                self._counter_change(at, str(key), -int(applied), rollback=True)

    def _counter_change(self, at: int, key: str, delta: int, rollback: bool = False) -> None:
        hit = self.counter_campaign(key)
        if hit is None:
            return
        cid, field = hit
        self.hour(at, cid, field, delta)
        self._add(f"hc:{at // HOUR_MS}", HOUR_TTL_S, f"{field}:{cid}", delta)
        if rollback and field == "u":
            self.hour(at, cid, "r", -delta)

    def _rows_of(self, entry_id: str, data: dict[str, Any], items: list[Any]) -> set[str]:
        if data.get("customer") is not None:
            self.index(index_name("cust", str(data["customer"])), entry_id)
        camps = {str(it["campaign"]) for it in items if it.get("campaign") is not None}
        for cid in camps:
            self.index(index_name("camp", cid), entry_id)
        return camps

    def _redeem(
        self, entry_id: str, at: int, data: dict[str, Any], items: list[Any], ops: list[Any]
    ) -> None:
        self.minute(at, "s", len(items))
        self._rows_of(entry_id, data, items)
        for it in items:
            if it.get("campaign") is not None:
                self.hour(at, str(it["campaign"]), "s")
        for key, delta in ops:
            self._counter_change(at, str(key), int(delta))

    def _failure(self, entry_id: str, at: int, data: dict[str, Any], items: list[Any]) -> None:
        key = str(data.get("key") or "unknown")
        self.minute(at, "f")
        self.minute(at, "k:" + key)
        self.index(index_name("failed"), entry_id)
        if data.get("key") is not None:
            self.index(index_name("key", str(data["key"])), entry_id)
        for cid in self._rows_of(entry_id, data, items):
            self.hour(at, cid, "f")
            self.hour(at, cid, "k:" + key)

    def script_args(self, pos: str, new_pos: str) -> tuple[list[str], list[Any]]:
        plan = {
            "h": [[i, field, str(n)] for (i, field), n in self.incr.items() if n],
            "z": [[i, member] for i, member in sorted(self.members)],
            "e": [[i, s] for i, s in self.ttl.items()],
        }
        keys = [self.k.ledger_view("pos"), *self.names]
        return keys, [pos, new_pos, orjson.dumps(plan)]


async def _pos(redis: Any, k: Keys) -> str:
    raw = await redis.get(k.ledger_view("pos"))
    return raw.decode() if raw else ""


async def fold(redis: Any, k: Keys, batch: int = FOLD_BATCH) -> str:
    """Fold every entry up to the newest one at call time; returns the position folded to
    (every entry up to it is in the views, whoever folded it)."""
    newest = await redis.xrevrange(k.ledger, count=1)
    pos = await _pos(redis, k)
    if not newest:
        return pos
    target = newest[0][0].decode()
    script = redis.register_script(_APPLY)
    while entry_order(pos) < entry_order(target):
        got = await redis.xrange(k.ledger, min="(" + pos if pos else "-", max=target, count=batch)
        if not got:
            return pos
        plan = _Plan(k)
        for eid, f in got:
            plan.add(eid.decode(), f)
        new_pos = got[-1][0].decode()
        keys, args = plan.script_args(pos, new_pos)
        if await script(keys=keys, args=args):
            pos = new_pos
        else:  # another admin process folded this batch first: go on from where it is
            pos = await _pos(redis, k)
    return pos


async def _hashes(redis: Any, names: list[str]) -> list[dict[str, int]]:
    async with redis.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hgetall(name)
        got = await pipe.execute()
    return [{f.decode(): int(v) for f, v in h.items()} for h in got]


async def minutes(redis: Any, k: Keys, first: int, last: int) -> list[dict[str, int]]:
    """The all-campaign figures of minutes ``first`` .. ``last`` (minute numbers, inclusive)."""
    return await _hashes(redis, [k.ledger_view(f"m:{m}") for m in range(first, last + 1)])


async def campaign_hours(
    redis: Any, k: Keys, campaign_id: str, first: int, n: int
) -> list[dict[str, int]]:
    """The figures of ``campaign_id`` in hours ``first`` .. ``first + n - 1`` (hour numbers)."""
    return await _hashes(
        redis, [k.ledger_view(f"h:{h}:{campaign_id}") for h in range(first, first + n)]
    )


async def all_campaign_hours(redis: Any, k: Keys, first: int, n: int) -> list[dict[str, int]]:
    """The ``u:<campaign>`` / ``d:<campaign>`` figures of hours ``first`` .. ``first + n - 1``."""
    return await _hashes(redis, [k.ledger_view(f"hc:{h}") for h in range(first, first + n)])


async def index_sizes(redis: Any, k: Keys, names: list[str]) -> list[int]:
    async with redis.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.zcard(k.ledger_view(name))
        return [int(n) for n in await pipe.execute()]


async def index_batches(
    redis: Any,
    k: Keys,
    name: str,
    *,
    newest_first: bool,
    lo: str | None,
    hi: str,
    size: int,
) -> AsyncIterator[list[tuple[str, dict[bytes, bytes]]]]:
    """The entries of index ``name`` with ids in [``lo``, ``hi``] (``lo`` None: from the
    first), in batches of growing size, each entry read from the stream; members whose entry
    was trimmed away are skipped and removed."""
    key = k.ledger_view(name)
    low = "[" + _member(lo) if lo else "-"
    high = "[" + _member(hi)
    while True:
        if newest_first:
            members = await redis.zrevrangebylex(key, high, low, start=0, num=size)
        else:
            members = await redis.zrangebylex(key, low, high, start=0, num=size)
        if not members:
            return
        ids = [_entry(mb) for mb in members]
        async with redis.pipeline(transaction=False) as pipe:
            for eid in ids:
                pipe.xrange(k.ledger, min=eid, max=eid, count=1)
            got = await pipe.execute()
        batch = [(eid, found[0][1]) for eid, found in zip(ids, got, strict=True) if found]
        gone = [mb for mb, found in zip(members, got, strict=True) if not found]
        if gone:
            await redis.zrem(key, *gone)
        if batch:
            yield batch
        if len(members) < size:
            return
        if newest_first:
            high = "(" + members[-1].decode()
        else:
            low = "(" + members[-1].decode()
        size = min(FOLD_BATCH, size * 4)
