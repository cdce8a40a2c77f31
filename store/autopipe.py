"""Auto-pipelining to Redis: concurrent requests share round trips on one pipelined connection.

Every ``await pipe.evalsha(...)`` or ``await pipe.execute_command(...)`` made during one turn of
the event loop is queued; a callback scheduled with ``loop.call_soon`` writes the whole queue as
ONE batch (no MULTI: each command stands alone) and hands each caller its own reply or
exception. While ``max_inflight`` batches are already on the wire, new calls keep queueing and
go out together as soon as one of them returns, so batches grow with the load.

The wire: an :class:`asyncio.Protocol` of this module's own, on ONE connection, with hiredis both
packing the commands and parsing the replies. ``data_received`` hands the parsed replies to the
batches waiting on the connection, in order, without a coroutine or a timer per reply. This
replaced talking to redis-py's pooled connections, whose per-reply ``read_response`` (a
coroutine chain and a timeout context for every reply) was the largest Redis-client cost in a
profile of the gateway at saturation (BENCHMARKS.md). redis-py still supplies the settings: the
client given is only read for its URL's host / port / unix path / TLS context / credentials /
database / RESP version and its response callbacks (``HGETALL`` gives a dict...).

Failure rules (the gateway fails closed, see DESIGN.md):

- Every flush is bounded by ``timeout`` seconds (connecting included). A dead or unreachable
  Redis, a connection error, a timeout, or a server that cannot serve (LOADING, BUSY, READONLY,
  MASTERDOWN, OOM...) makes the affected calls raise :class:`StoreUnavailable` promptly; nothing
  hangs. A connection that failed or timed out is closed (its stream can no longer be trusted),
  and every batch still waiting on it fails too; the next flush reconnects when Redis is back.
- Nothing is ever re-sent after it may have reached the server: a script whose reply was lost
  may have run, so its caller gets :class:`StoreUnavailable` (the outcome is unknown; an
  ``Idempotency-Key`` makes the client's retry safe). The only retry is NOSCRIPT: the script did
  not run, so it is loaded (SCRIPT LOAD) and those calls are sent again, on the same connection,
  within the same timeout.
- A command's own error reply (e.g. a Lua runtime error) is raised to that caller only, as the
  redis-py exception class redis-py would raise for it.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

import hiredis
from redis import exceptions as rexc
from redis._parsers.base import BaseParser

# which replies mean "this server cannot serve right now": one rule for every service
from .unavailable import StoreUnavailable, is_unavailable

__all__ = ["AutoPipeline", "Script", "StoreUnavailable"]

_pack = hiredis.pack_command
_parse_error = BaseParser.parse_error  # "NOSCRIPT ..." -> NoScriptError, as redis-py does
_NOT_YET = object()  # hiredis' "no complete reply buffered" (False is a RESP3 reply)
_FEED_CHUNK = 16384  # bytes handed to hiredis at a time (see _Resp.data_received)


class Script:
    """A Lua script known by its SHA1, loaded on demand (NOSCRIPT -> SCRIPT LOAD -> retry).

    ``source`` is the exact text sent to SCRIPT LOAD; ``sha`` is computed locally, so a call
    never needs a round trip to learn it.
    """

    __slots__ = ("head", "library", "name", "sha", "source")

    def __init__(self, source: str, name: str = "script") -> None:
        self.source = source
        self.name = name
        self.sha = hashlib.sha1(source.encode("utf-8")).hexdigest()
        self.library: str | None = None
        self.head: tuple[str, str] = ("EVALSHA", self.sha)

    @classmethod
    def function(cls, library: str, fname: str, name: str = "function") -> Script:
        """Function ``fname`` of the Redis function ``library`` (its whole text, ``#!lua
        name=...``): called with ``FCALL``; a server that does not know it gets the library
        (``FUNCTION LOAD REPLACE``) and the call again, as a script gets ``SCRIPT LOAD``."""
        s = cls(library, name)
        s.library = library
        s.head = ("FCALL", fname)
        return s

    def __repr__(self) -> str:
        return f"<Script {self.name} {self.sha[:12]}>"


def _load_command(s: Script) -> tuple[str, ...]:
    """What makes the server know ``s``: SCRIPT LOAD, or its library's FUNCTION LOAD REPLACE."""
    if s.library is not None:
        return ("FUNCTION", "LOAD", "REPLACE", s.library)
    return ("SCRIPT", "LOAD", s.source)


def _unknown(r: Any) -> bool:
    """A reply saying the server does not know the script (NOSCRIPT) or function."""
    return isinstance(r, rexc.NoScriptError) or (
        isinstance(r, rexc.ResponseError) and str(r).startswith("Function not found")
    )


class _Call:
    __slots__ = ("args", "future", "options", "script")

    def __init__(
        self,
        args: tuple[Any, ...],
        options: dict[str, Any] | None,
        future: asyncio.Future[Any],
        script: Script | None,
    ) -> None:
        self.args = args
        self.options = options
        self.future = future
        self.script = script


class _Waiter:
    """One batch on the wire: how many replies it expects, and the future they complete."""

    __slots__ = ("future", "n", "replies")

    def __init__(self, n: int, future: asyncio.Future[list[Any]]) -> None:
        self.n = n
        self.replies: list[Any] = []
        self.future = future


class _Resp(asyncio.Protocol):
    """One Redis connection: writes packed batches, hands replies back in order.

    Error replies arrive as ``ResponseError`` instances (not raised), one per command.
    """

    def __init__(self) -> None:
        self.reader = hiredis.Reader(notEnoughData=_NOT_YET, replyError=rexc.ResponseError)
        self.waiting: deque[_Waiter] = deque()
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        try:
            n = len(data)
            if n <= _FEED_CHUNK:
                reader.feed(data)
                self._drain()
                return
            # hiredis moves the unread rest of its buffer down after every reply it hands out:
            # fed a 200 KB read at once (64 rollbacks' answers), that is quadratic (150 µs per
            # read measured, against 22 µs fed 16 KB at a time)
            for off in range(0, n, _FEED_CHUNK):
                reader.feed(data, off, min(_FEED_CHUNK, n - off))
                self._drain()
        except (hiredis.ProtocolError, rexc.InvalidResponse) as exc:
            self.close(rexc.ConnectionError(f"Redis protocol error: {exc}"))

    def _drain(self) -> None:
        """Hand every complete reply in the reader to the batch waiting for it, in order."""
        gets = self.reader.gets
        waiting = self.waiting
        while True:
            reply = gets()
            if reply is _NOT_YET:
                return
            if not waiting:
                raise rexc.InvalidResponse("reply without a pending command")
            w = waiting[0]
            w.replies.append(reply)
            if len(w.replies) == w.n:
                waiting.popleft()
                if not w.future.done():
                    w.future.set_result(w.replies)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail_waiting(rexc.ConnectionError(f"Connection to Redis lost: {exc or 'closed'}"))

    def send(self, packed: bytes, n: int) -> asyncio.Future[list[Any]]:
        """Write ``n`` packed commands; the future gets their ``n`` replies, in order."""
        if self.closed or self.transport is None or self.transport.is_closing():
            raise rexc.ConnectionError("Connection to Redis closed")
        fut: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self.waiting.append(_Waiter(n, fut))
        self.transport.write(packed)
        return fut

    async def call(self, *args: Any) -> Any:
        """One command, its reply (an error reply is raised): for the handshake."""
        (reply,) = await self.send(_pack(args), 1)
        if isinstance(reply, rexc.ResponseError):
            raise _parse_error(str(reply))
        return reply

    def close(self, exc: Exception | None = None) -> None:
        self._fail_waiting(exc or rexc.ConnectionError("Connection to Redis closed"))
        if self.transport is not None:
            self.transport.abort()  # drop what is unsent: none of it may be trusted now

    def _fail_waiting(self, exc: Exception) -> None:
        self.closed = True
        while self.waiting:
            w = self.waiting.popleft()
            if not w.future.done():
                w.future.set_exception(exc)


def _retrieve(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


async def _connect(template: Any) -> _Resp:
    """Open and set up (AUTH / HELLO, SELECT) a connection as redis-py's ``template`` would."""
    loop = asyncio.get_running_loop()
    ssl_context = getattr(template, "ssl_context", None)
    path = getattr(template, "path", None)
    if path:
        _, proto = await loop.create_unix_connection(_Resp, path)
    else:
        _, proto = await loop.create_connection(
            _Resp,
            template.host,
            template.port,
            ssl=ssl_context.get() if ssl_context is not None else None,
        )
    try:
        creds: tuple[Any, ...] = ()
        if template.credential_provider is not None:
            creds = tuple(template.credential_provider.get_credentials())
        elif template.password is not None:
            creds = (template.username, template.password) if template.username else (template.password,)
        if str(template.protocol) == "3":
            hello: list[Any] = ["HELLO", 3]
            if creds:
                hello += ["AUTH", creds[0] if len(creds) == 2 else "default", creds[-1]]
            await proto.call(*hello)
        elif creds:
            await proto.call("AUTH", *creds)
        if template.db:
            await proto.call("SELECT", template.db)
    except BaseException:
        proto.close()
        raise
    return proto


class AutoPipeline:
    """Batch concurrent commands into shared round trips on one pipelined connection.

    ``redis``         a ``redis.asyncio.Redis`` client: its URL settings and response callbacks
                      are used (its own connections are not).
    ``timeout``       seconds allowed for one flush (connect + send + every reply, NOSCRIPT
                      reload included); past it the calls raise :class:`StoreUnavailable`.
                      Default 2.0.
    ``max_batch``     most commands per batch (the rest go in the next one). Default 1000.
    ``max_inflight``  most batches on the wire at once. Default 1: on this project's 2-vCPU
                      benchmark machine one batch at a time (so bigger batches) served redeem
                      15-45 % and qualifications ~18 % more requests than two (BENCHMARKS.md).

    Bound to the event loop it is first used in. :meth:`aclose` closes the connection.
    """

    def __init__(
        self,
        redis: Any,
        *,
        timeout: float = 2.0,
        max_batch: int = 1000,
        max_inflight: int = 1,
    ) -> None:
        if timeout <= 0 or max_batch < 1 or max_inflight < 1:
            raise ValueError("timeout, max_batch and max_inflight must be positive")
        self.redis = redis
        self.timeout = float(timeout)
        self.max_batch = int(max_batch)
        self.max_inflight = int(max_inflight)
        self._callbacks = redis.response_callbacks
        self._queue: list[_Call] = []
        self._scheduled = False
        self._inflight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: _Resp | None = None
        self._connecting: asyncio.Future[_Resp] | None = None
        # Statistics, for metrics and tests.
        self.flushes = 0
        self.commands = 0
        self.script_loads = 0
        self.connects = 0

    # -- public API ------------------------------------------------------------------------

    def evalsha(
        self, script: Script, keys: Sequence[Any] = (), args: Iterable[Any] = ()
    ) -> asyncio.Future[Any]:
        """Run ``script`` with ``keys`` / ``args``; await the result (the script's raw reply)."""
        return self._submit((*script.head, len(keys), *keys, *args), None, script)

    def execute_command(self, *args: Any, **options: Any) -> asyncio.Future[Any]:
        """Run a plain command (``"MGET", k1, k2``) in the shared batch; await its parsed reply.

        Replies go through the client's response callbacks (``HGETALL`` gives a dict...).
        """
        if not args:
            raise ValueError("execute_command needs a command")
        return self._submit(tuple(args), options, None)

    async def load(self, *scripts: Script) -> None:
        """SCRIPT LOAD each script now (optional: a NOSCRIPT reply loads it anyway)."""
        plain = [s for s in scripts if s.library is None]
        libs = list({s.library: s for s in scripts if s.library is not None}.values())
        shas = await asyncio.gather(
            *(self.execute_command("SCRIPT", "LOAD", s.source) for s in plain),
            *(self.execute_command(*_load_command(s)) for s in libs),
        )
        for script, sha in zip(plain, shas, strict=False):
            got = sha.decode() if isinstance(sha, bytes) else str(sha)
            if got != script.sha:  # pragma: no cover - would mean a broken server
                raise RuntimeError(f"SCRIPT LOAD of {script.name} returned {got}")
        self.script_loads += len(plain) + len(libs)

    async def drain(self) -> None:
        """Wait until every queued and in-flight call has been answered."""
        while self._queue or self._tasks:
            if self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
            else:
                await asyncio.sleep(0)

    async def aclose(self) -> None:
        """Answer what is queued, then close the connection."""
        await self.drain()
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    # -- batching --------------------------------------------------------------------------

    def _submit(
        self, args: tuple[Any, ...], options: dict[str, Any] | None, script: Script | None
    ) -> asyncio.Future[Any]:
        loop = self._loop
        if loop is None or not loop.is_running():
            loop = self._bind()
        fut: asyncio.Future[Any] = loop.create_future()
        self._queue.append(_Call(args, options, fut, script))
        if not self._scheduled and self._inflight < self.max_inflight:
            self._scheduled = True
            loop.call_soon(self._flush)
        return fut

    def _bind(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None and (self._queue or self._tasks):
                raise RuntimeError("AutoPipeline used from two event loops")
            self._loop = loop
            self._conn = None  # a connection belongs to the loop that opened it
            self._connecting = None
        return loop

    def _flush(self) -> None:
        self._scheduled = False
        loop = self._loop
        assert loop is not None
        while self._queue and self._inflight < self.max_inflight:
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
            self._inflight += 1
            task = loop.create_task(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _done_one(self) -> None:
        self._inflight -= 1
        if self._queue and not self._scheduled and self._loop is not None:
            self._scheduled = True
            self._loop.call_soon(self._flush)

    async def _run(self, batch: list[_Call]) -> None:
        try:
            calls = [c for c in batch if not c.future.done()]  # cancelled callers: never sent
            if not calls:
                return
            self.flushes += 1
            self.commands += len(calls)
            try:
                async with asyncio.timeout(self.timeout):
                    replies = await self._roundtrip(calls)
            except (TimeoutError, rexc.TimeoutError) as exc:
                self._fail(calls, f"Redis did not answer within {self.timeout:g}s", exc)
                return
            except (rexc.ConnectionError, OSError) as exc:
                self._fail(calls, f"Redis unreachable: {exc}", exc)
                return
            except asyncio.CancelledError:
                self._fail(calls, "Redis call cancelled (shutting down?)", None)
                raise
            except Exception as exc:  # a bug or an unexpected library error: every caller sees it
                for c in calls:
                    if not c.future.done():
                        c.future.set_exception(exc)
                return
            callbacks = self._callbacks
            for c, reply in zip(calls, replies, strict=True):
                fut = c.future
                if fut.done():
                    continue
                if isinstance(reply, BaseException):
                    if is_unavailable(reply):
                        err = StoreUnavailable(f"Redis cannot serve: {reply}")
                        err.__cause__ = reply
                        fut.set_exception(err)
                    else:
                        fut.set_exception(reply)
                elif c.script is None and c.args[0] in callbacks:
                    try:
                        fut.set_result(callbacks[c.args[0]](reply, **(c.options or {})))
                    except Exception as exc:  # a reply the callback cannot read
                        fut.set_exception(exc)
                else:
                    fut.set_result(reply)
        finally:
            self._done_one()

    @staticmethod
    def _fail(calls: list[_Call], message: str, cause: BaseException | None) -> None:
        for c in calls:
            if not c.future.done():
                err = StoreUnavailable(message)
                err.__cause__ = cause
                c.future.set_exception(err)

    def _drop(self, conn: _Resp, exc: BaseException) -> None:
        """Close ``conn`` after a failure on it: every batch still waiting on it fails too."""
        if self._conn is conn:
            self._conn = None
        if isinstance(exc, asyncio.CancelledError):  # our timeout, or a shutdown
            exc = rexc.TimeoutError("Redis call timed out or was cancelled")
        conn.close(exc if isinstance(exc, Exception) else None)

    async def _connection(self) -> _Resp:
        conn = self._conn
        if conn is not None and not conn.closed:
            return conn
        if self._connecting is None:  # one connect for every batch that needs it
            self._connecting = asyncio.ensure_future(self._open())
            # its error is read by whoever waits; if all of them timed out first, read it here
            self._connecting.add_done_callback(_retrieve)
        try:
            return await asyncio.shield(self._connecting)
        finally:
            if self._connecting is not None and self._connecting.done():
                self._connecting = None

    async def _open(self) -> _Resp:
        template = self.redis.connection_pool.make_connection()
        async with asyncio.timeout(self.timeout):  # a black-holed address must not hang later flushes
            conn = await _connect(template)
        self.connects += 1
        self._conn = conn
        return conn

    async def _roundtrip(self, calls: list[_Call]) -> list[Any]:
        conn = await self._connection()
        try:
            return await self._exchanges(conn, calls)
        except BaseException as exc:
            # the stream may be half read: this connection cannot be trusted any more
            self._drop(conn, exc)
            raise

    async def _exchanges(self, conn: _Resp, calls: list[_Call]) -> list[Any]:
        replies = await self._exchange(conn, [c.args for c in calls])
        missing = [i for i, r in enumerate(replies) if _unknown(r) and calls[i].script is not None]
        if missing:
            scripts: dict[str, Script] = {}
            for i in missing:
                s = calls[i].script
                assert s is not None
                scripts.setdefault(s.sha, s)
            loads = [_load_command(s) for s in scripts.values()]
            again = await self._exchange(conn, loads + [calls[i].args for i in missing])
            self.script_loads += len(loads)
            load_errors = [r for r in again[: len(loads)] if isinstance(r, BaseException)]
            for j, i in enumerate(missing):
                r = again[len(loads) + j]
                if _unknown(r) and load_errors:
                    r = load_errors[0]
                replies[i] = r
        return replies

    @staticmethod
    async def _exchange(conn: _Resp, commands: list[tuple[Any, ...]]) -> list[Any]:
        replies = await conn.send(b"".join([_pack(c) for c in commands]), len(commands))
        for i, r in enumerate(replies):
            if isinstance(r, rexc.ResponseError):
                replies[i] = _parse_error(str(r))
        return replies
