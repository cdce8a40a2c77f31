"""The audit trail: a Redis Stream (``Paudit``), one entry per accepted change.

An entry is written in the same MULTI/EXEC as the change it describes, so a change without its
entry (or an entry without its change) cannot happen. Fields:

``at``            ms since the epoch (UTC), from the admin's clock
``actor``         API key id that made the change; ``actor_name``, ``role`` beside it
``action``        e.g. ``campaign.create``, ``voucher.disable``, ``key.create``
``object_type``   ``campaign``, ``voucher``, ``promotion_tier``, ``validation_rule``, ...
``object_id``     its id (a code for a voucher)
``before``        JSON of the object before the change (``null`` for a create)
``after``         JSON of the object after the change (``null`` for a delete)
``request_id``    the request's id, as in error bodies

The stream is never trimmed and no API edits or deletes an entry (append-only).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import msgspec
import orjson

from .errors import invalid


class Actor(msgspec.Struct, frozen=True):
    id: str
    name: str
    role: str


SYSTEM = Actor("system", "promogate admin", "admin")


class Change(msgspec.Struct, kw_only=True):
    """One audited change."""

    action: str
    object_type: str
    object_id: str
    before: Any = None
    after: Any = None


def _json(v: Any) -> bytes:
    if isinstance(v, msgspec.Struct):
        return msgspec.json.encode(v)
    return orjson.dumps(v, default=_default)


def _default(v: Any) -> Any:
    if isinstance(v, msgspec.Struct):
        return msgspec.to_builtins(v)
    if isinstance(v, dt.datetime):
        return v.isoformat()
    raise TypeError(type(v).__name__)


def add(pipe: Any, stream: str, actor: Actor, change: Change, at_ms: int, rid: str) -> None:
    """Queue the XADD of one entry on ``pipe`` (inside the change's transaction)."""
    pipe.xadd(
        stream,
        {
            "at": str(at_ms),
            "actor": actor.id,
            "actor_name": actor.name,
            "role": actor.role,
            "action": change.action,
            "object_type": change.object_type,
            "object_id": change.object_id,
            "before": _json(change.before),
            "after": _json(change.after),
            "request_id": rid,
        },
    )


def _iso(ms: int) -> str:
    return (
        dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def parse_time(value: str | None, name: str) -> int | None:
    """An ISO 8601 datetime (or ms since the epoch) from a query parameter, as ms."""
    if value is None or value == "":
        return None
    if value.isascii() and value.isdigit():
        return int(value)
    try:
        d = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f"`{name}` must be an ISO 8601 datetime, got {value!r}") from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=dt.UTC)
    return int(d.timestamp() * 1000)


_ENTRY_ID = re.compile(r"[0-9]{1,19}(-[0-9]{1,19})?")  # what Redis parses as an id


def check_cursor(value: str | None, name: str = "starting_after", row: bool = False) -> str | None:
    """A stream entry id (``<ms>-<seq>``; for redemptions ``<entry id>.<n>``), else 400."""
    if value is None:
        return None
    entry, dot, n = value.rpartition(".") if row else (value, "", "")
    if not _ENTRY_ID.fullmatch(entry) or (row and not (dot and re.fullmatch("[0-9]{1,9}", n))):
        raise invalid(f"`{name}` must be a `more_starting_after` value, got {value!r}")
    return value


def entry_out(entry_id: bytes | str, f: dict[bytes, bytes]) -> dict[str, Any]:
    g = {k.decode(): v.decode() for k, v in f.items()}
    return {
        "id": entry_id.decode() if isinstance(entry_id, bytes) else entry_id,
        "object": "audit_entry",
        "created_at": _iso(int(g.get("at", "0"))),
        "actor": {"id": g.get("actor"), "name": g.get("actor_name"), "role": g.get("role")},
        "action": g.get("action"),
        "resource_type": g.get("object_type"),
        "resource_id": g.get("object_id"),
        "before": orjson.loads(g.get("before") or "null"),
        "after": orjson.loads(g.get("after") or "null"),
        "request_id": g.get("request_id"),
    }


async def query(
    redis: Any,
    stream: str,
    *,
    actor: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    limit: int = 50,
    starting_after: str | None = None,
) -> dict[str, Any]:
    """Newest first; filters combine with AND; ``starting_after`` is an entry id (cursor)."""
    out: list[dict[str, Any]] = []
    hi = "+" if starting_after is None else "(" + starting_after
    has_more = False
    while True:
        batch = await redis.xrevrange(stream, max=hi, min="-", count=500)
        if not batch:
            break
        for eid, f in batch:
            g = f
            at = int(g.get(b"at", b"0"))
            if end_ms is not None and at > end_ms:
                continue
            if start_ms is not None and at < start_ms:
                continue
            if actor and g.get(b"actor", b"").decode() != actor:
                continue
            if action and not _action_match(g.get(b"action", b"").decode(), action):
                continue
            if object_type and g.get(b"object_type", b"").decode() != object_type:
                continue
            if object_id and g.get(b"object_id", b"").decode() != object_id:
                continue
            if len(out) == limit:
                has_more = True
                break
            out.append(entry_out(eid, f))
        if has_more or len(batch) < 500:
            break
        last = batch[-1][0]
        hi = "(" + (last.decode() if isinstance(last, bytes) else last)
        # entries are in time order: once older than the window, stop
        if start_ms is not None and int(batch[-1][1].get(b"at", b"0")) < start_ms - 60_000:
            break
    return {
        "object": "list",
        "data_ref": "data",
        "data": out,
        "total": len(out),
        "has_more": has_more,
        "more_starting_after": out[-1]["id"] if has_more and out else None,
    }


def _action_match(value: str, wanted: str) -> bool:
    """``campaign`` matches every ``campaign.*`` action; ``campaign.create`` only itself."""
    return value == wanted or value.startswith(wanted + ".")
