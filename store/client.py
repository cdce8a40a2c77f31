"""A redis-py asyncio client that fails closed within one time budget (admin's, and any other
service's that talks to Redis through redis-py rather than :mod:`store.autopipe`).

``connect(url, timeout)`` gives a ``redis.asyncio.Redis`` whose every call either answers or
raises a redis-py ``ConnectionError`` / ``TimeoutError`` (or a reply such as LOADING) that
:func:`store.unavailable.is_unavailable` classifies as "Redis cannot serve": the caller answers
503, never hangs, never 500. What it changes from redis-py's defaults, and why:

- **A burst waits for a connection** (a blocking pool of ``MAX_CONNECTIONS``, waiting at most
  ``timeout``) instead of failing at once when the pool is full.
- **Timeouts**: connecting and each read or write are bounded by ``timeout``
  (PROMOGATE_REDIS_TIMEOUT), not by redis-py's defaults (5 s per read in redis-py 8, none for
  a connect in older versions).
- **No redis-py retries.** redis-py's ``Retry`` (a client built with ``Redis(...)`` gets 10
  retries with exponential backoff; one from ``from_url`` gets none but still routes errors
  through the retry's failure hook) wraps single commands, MULTI/EXEC pipelines and connects
  alike: it cannot tell a read from a write whose reply was lost, and re-sends both (a
  MULTI/EXEC that had been applied is applied again), and its backoff alone can outlast the
  time budget. While a pipeline WATCHes, the same hook turns a lost connection into a
  ``WatchError``, which optimistic loops take for a concurrent change and run again.
- **A connection that failed is not reopened behind the caller's back.** redis-py reconnects a
  broken connection on the next command sent over it, e.g. the ``UNWATCH`` a pipeline sends
  when it is reset after a failure: against a frozen server that costs a second timeout. Here
  only the pool opens connections, when it hands one out; a command sent on a dead one fails
  at once.
- **Reads are retried once, within the budget.** A read-only command (:data:`READ_COMMANDS`)
  that failed on a connection error (a pooled connection that died with the server it was
  opened to, e.g. reset by a restart) is sent once more on a fresh connection if at least half
  of ``timeout`` is left, bounded by what is left. Writes are never re-sent: their outcome is
  unknown, the caller answers 503. LOADING, authentication errors and timeouts are not retried
  (at once, they would fail the same way; a timeout has spent the budget).

The pool already replaces a pooled connection that has seen its server close (EOF) before
handing it out; the retry covers the connections it cannot tell are dead (reset, not closed).
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aredis
from redis import exceptions as rexc
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

__all__ = ["READ_COMMANDS", "FailClosedRedis", "connect"]

#: commands without side effects: safe to send again after a connection error
READ_COMMANDS = frozenset(
    {
        "GET", "MGET", "GETRANGE", "STRLEN", "EXISTS", "TYPE", "TTL", "PTTL",
        "HGET", "HMGET", "HGETALL", "HEXISTS", "HLEN", "HKEYS", "HVALS", "HSCAN",
        "SMEMBERS", "SISMEMBER", "SMISMEMBER", "SCARD", "SSCAN", "SRANDMEMBER",
        "ZRANGE", "ZREVRANGE", "ZRANGEBYSCORE", "ZREVRANGEBYSCORE", "ZRANGEBYLEX", "ZCARD",
        "ZSCORE", "ZMSCORE", "ZRANK", "ZREVRANK", "ZCOUNT", "ZSCAN",
        "LRANGE", "LLEN", "LINDEX", "XRANGE", "XREVRANGE", "XLEN",
        "SCAN", "DBSIZE", "PING", "ECHO", "TIME", "INFO", "CONFIG GET", "SCRIPT EXISTS",
    }
)  # fmt: skip

# Not worth sending again at once: the server answered (LOADING, a refused login) or the pool
# itself refused.
_NOT_RETRIED = (rexc.BusyLoadingError, rexc.AuthenticationError, rexc.AuthorizationError,
                rexc.MaxConnectionsError)  # fmt: skip


def _no_retry() -> Retry:
    """No retry, and no failure hook either (``supported_errors=()``): errors reach the caller
    as they are. The connection still closes itself on any error while sending or reading."""
    return Retry(NoBackoff(), 0, supported_errors=())


class _NoSilentReconnect:
    """Mixed into the pool's connection class: a command sent on a connection that is not
    connected (it failed, or was closed) fails instead of reconnecting."""

    is_connected: bool

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if not self.is_connected:
            raise rexc.ConnectionError("Redis connection lost (not reopened in the middle of a call)")
        await super().send_packed_command(command, check_health)  # type: ignore[misc]


_STRICT: dict[type, type] = {}


def _strict(base: type) -> type:
    cls = _STRICT.get(base)
    if cls is None:
        cls = type("NoSilentReconnect" + base.__name__, (_NoSilentReconnect, base), {})
        _STRICT[base] = cls
    return cls


def _command_name(args: tuple[Any, ...]) -> str:
    head = args[0] if args else ""
    if isinstance(head, bytes):
        head = head.decode("ascii", "replace")
    return str(head).upper()


class FailClosedRedis(aredis.Redis):
    """``redis.asyncio.Redis`` whose read-only commands are retried once within ``budget``."""

    budget: float = 1.0

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        try:
            return await super().execute_command(*args, **options)
        except rexc.ConnectionError as exc:
            if isinstance(exc, _NOT_RETRIED) or _command_name(args) not in READ_COMMANDS:
                raise
            left = self.budget - (loop.time() - t0)
            if left < self.budget / 2:
                raise
        try:
            async with asyncio.timeout(left):
                return await super().execute_command(*args, **options)
        except TimeoutError as exc:  # asyncio's: the budget ran out (redis-py's is not one)
            raise rexc.TimeoutError(f"Redis did not answer within {self.budget:g}s") from exc


#: connections the pool opens at most; a call beyond them waits for a free one (see connect)
MAX_CONNECTIONS = 256


def connect(url: str, timeout: float, **kwargs: Any) -> FailClosedRedis:
    """A client on ``url`` (redis-py URL forms) that answers or fails within ``timeout`` s.

    The pool is a blocking one: a burst of more concurrent calls than ``MAX_CONNECTIONS`` (or
    ``max_connections`` in ``kwargs``) waits up to ``timeout`` for a connection to come free,
    rather than failing at once (redis-py 8's default pool holds 100 and then raises "Too many
    connections": 200 concurrent admin calls were 503s).

    ``kwargs`` go to the pool's ``from_url`` (options given in the URL's query win, as in
    redis-py)."""
    kwargs.setdefault("max_connections", MAX_CONNECTIONS)
    pool = aredis.BlockingConnectionPool.from_url(
        url,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=_no_retry(),
        **kwargs,
    )
    client = FailClosedRedis.from_pool(pool)
    client.budget = timeout
    pool = client.connection_pool
    pool.connection_class = _strict(pool.connection_class)
    return client
