"""What the Redis behind a service can lose on a crash, read from its persistence settings.

Redis is promogate's system of record (counters, codes, wallets, ledgers): what a crash of
Redis loses depends only on how it persists. Each service (gateway, admin) reads the settings
when it starts (``CONFIG GET appendonly``, ``appendfsync``, ``save``), logs what an operator can
lose (INFO when nothing acknowledged can be lost, WARNING otherwise) and shows it in ``/ready``:

=================================  =========================================================
``appendonly yes``, ``always``      no acknowledged write (each is fsynced before the reply)
``appendonly yes``, ``everysec``    up to about the last second of acknowledged writes
``appendonly yes``, ``no``          what the OS has not flushed yet (typically up to ~30 s)
``appendonly no``, ``save`` rules   every write since the last RDB snapshot
``appendonly no``, no ``save``      everything: a restart starts empty
CONFIG refused (renamed, ACL)       "unknown": the settings cannot be checked from here
=================================  =========================================================

:class:`DurabilityWatch` keeps the last reading. The services read it once at start; ``/ready``
shows the kept reading and, when it is older than ``max_age`` seconds (or was never had),
starts ONE background refresh: ``/ready`` never waits for it (its cost stays one PING), and a
change made later (``CONFIG SET appendfsync``, a Redis restarted with other settings) shows
within about a minute. A change is logged again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import msgspec
from redis import exceptions as rexc

from .unavailable import is_unavailable

__all__ = ["UNKNOWN", "Durability", "DurabilityWatch", "classify", "read_durability"]

UNKNOWN = "unknown"


class Durability(msgspec.Struct, frozen=True, kw_only=True):
    """One reading; ``loses`` says what a crash of Redis can lose, in words."""

    appendonly: str = UNKNOWN
    appendfsync: str = UNKNOWN
    save: str = UNKNOWN
    loses: str = UNKNOWN
    #: why the settings are unknown (CONFIG refused, Redis unreachable), else None
    reason: str | None = None

    @property
    def level(self) -> int:
        """INFO when no acknowledged write can be lost, WARNING otherwise (unknown included)."""
        safe = self.appendonly == "yes" and self.appendfsync == "always"
        return logging.INFO if safe else logging.WARNING

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "appendonly": self.appendonly,
            "appendfsync": self.appendfsync,
            "save": self.save,
            "loses": self.loses,
        }
        if self.reason:
            d["reason"] = self.reason
        return d

    def describe(self) -> str:
        save = "" if self.save == UNKNOWN else f" save={self.save or '(none)'}"
        return (
            f"Redis persistence appendonly={self.appendonly} appendfsync={self.appendfsync}"
            f"{save}: a crash of Redis loses {self.loses}"
            + (f" ({self.reason})" if self.reason else "")
        )


def _norm(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    return str(v).strip().lower()


def classify(
    appendonly: str | None, appendfsync: str | None, save: str | None, reason: str | None = None
) -> Durability:
    """What a crash loses under these settings (``None``: the setting could not be read)."""
    ao, fs, sv = _norm(appendonly), _norm(appendfsync), _norm(save)
    if ao == "yes":
        loses = {
            "always": "no acknowledged write",
            "everysec": "up to about the last second of acknowledged writes",
            "no": "the acknowledged writes the OS has not flushed to disk yet "
            "(typically up to ~30 s)",
        }.get(fs or "", "an unknown share of the latest writes (appendfsync not readable)")
    elif ao == "no":
        if sv is None:
            loses = "every write since the last RDB snapshot, if snapshots are taken (save not readable)"
        elif sv == "":
            loses = "everything: no AOF and no RDB snapshots, a restart starts empty"
        else:
            loses = "every write since the last RDB snapshot (minutes of writes)"
    else:
        loses = "unknown: the persistence settings could not be read"
    return Durability(
        appendonly=ao if ao is not None else UNKNOWN,
        appendfsync=fs if fs is not None else UNKNOWN,
        save=sv if sv is not None else UNKNOWN,
        loses=loses,
        reason=reason,
    )


def _value(reply: Any, name: str) -> str | None:
    """One setting out of a ``CONFIG GET`` reply (a dict once redis-py parsed it; RESP2 lists
    too); None if absent (a managed Redis may hide it)."""
    if isinstance(reply, dict):
        for k, v in reply.items():
            if _norm(k) == name:
                return _norm(v)
        return None
    if isinstance(reply, (list, tuple)):
        it = iter(reply)
        for k, v in zip(it, it, strict=False):
            if _norm(k) == name:
                return _norm(v)
    return None


async def read_durability(redis: Any) -> Durability:
    """Read the settings with ``redis`` (a ``redis.asyncio.Redis``), in one round trip.

    A server that refuses CONFIG (renamed or disabled command, ACL) gives "unknown" with the
    reason; a Redis that cannot serve raises (the caller keeps what it knew)."""
    names = ("appendonly", "appendfsync", "save")
    async with redis.pipeline(transaction=False) as pipe:
        for n in names:  # one parameter per CONFIG GET: Redis < 7 takes only one
            pipe.execute_command("CONFIG GET", n)
        replies = await pipe.execute(raise_on_error=False)
    values: list[str | None] = []
    refused: str | None = None
    for reply, name in zip(replies, names, strict=True):
        if isinstance(reply, BaseException):
            if is_unavailable(reply):
                raise reply
            if not isinstance(reply, rexc.ResponseError):  # pragma: no cover - not a server reply
                raise reply
            refused = refused or f"CONFIG GET refused: {reply}"
            values.append(None)
        else:
            values.append(_value(reply, name))
    if refused is None and values[0] is None:
        refused = "CONFIG GET answered nothing for appendonly"
    return classify(*values, reason=refused)


class DurabilityWatch:
    """The last reading of one service, refreshed in the background when ``/ready`` asks."""

    def __init__(self, log: logging.Logger, max_age: float = 60.0) -> None:
        self.log = log
        self.max_age = max_age
        self.current = Durability(loses="unknown: not read yet", reason="not read yet")
        self.read_at: float | None = None  # time.monotonic() of the last reading
        self._task: asyncio.Task[None] | None = None

    async def refresh(self, redis: Any, timeout: float) -> Durability:
        """Read now (bounded by ``timeout`` s); log the reading if it changed. If Redis cannot
        serve, keep the last reading (and say so when there never was one)."""
        try:
            async with asyncio.timeout(timeout):
                d = await read_durability(redis)
        except Exception as exc:
            if not (is_unavailable(exc) or isinstance(exc, TimeoutError)):
                raise
            if self.read_at is None:
                self.current = Durability(
                    loses="unknown: Redis could not be reached to read its settings",
                    reason=f"Redis unavailable: {exc or 'timeout'}",
                )
            return self.current
        if d != self.current or self.read_at is None:
            self.log.log(d.level, "%s", d.describe())
        self.current = d
        self.read_at = time.monotonic()
        return d

    def stale(self) -> bool:
        return self.read_at is None or time.monotonic() - self.read_at > self.max_age

    def maybe_refresh(self, redis: Any, timeout: float) -> None:
        """Start one background refresh if the reading is stale and none is running."""
        if not self.stale() or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.ensure_future(self._refresh_quietly(redis, timeout))

    async def _refresh_quietly(self, redis: Any, timeout: float) -> None:
        try:
            await self.refresh(redis, timeout)
        except Exception:  # pragma: no cover - a bug: /ready keeps the last reading
            self.log.exception("could not read Redis' persistence settings")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
