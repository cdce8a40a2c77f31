"""Auto-pipelining for ``redis.asyncio``: concurrent requests share Redis round trips.

Every ``await pipe.evalsha(...)`` or ``await pipe.execute_command(...)`` made during one turn of
the event loop is queued; a callback scheduled with ``loop.call_soon`` sends the whole queue as
ONE pipeline (no MULTI: each command stands alone) and hands each caller its own reply or
exception. While ``max_inflight`` pipelines are already on the wire, new calls keep queueing and
go out together as soon as one of them returns, so batches grow with the load.

Failure rules (the gateway fails closed, see DESIGN.md):

- Every flush is bounded by ``timeout`` seconds (connecting included). A dead or unreachable
  Redis, a connection error, a timeout, or a server that cannot serve (LOADING, BUSY, READONLY,
  MASTERDOWN, OOM...) makes the affected calls raise :class:`StoreUnavailable` promptly; nothing
  hangs. A connection that failed is dropped, so the next flush reconnects by itself when Redis
  is back.
- Nothing is ever re-sent after it may have reached the server: a script whose reply was lost
  may have run, so its caller gets :class:`StoreUnavailable` (the outcome is unknown; an
  ``Idempotency-Key`` makes the client's retry safe). The only retry is NOSCRIPT: the script did
  not run, so it is loaded (SCRIPT LOAD) and those calls are sent again, on the same connection,
  within the same timeout.
- A command's own error reply (e.g. a Lua runtime error) is raised to that caller only.

This module talks to a connection of the client's pool directly (``pack_commands`` /
``send_packed_command`` / ``parse_response``) rather than through ``Pipeline.execute``, because
redis-py's pipeline retries a whole pipeline on connection errors, which could run a redeem twice.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from redis import exceptions as rexc

try:  # hiredis packs commands ~4x faster than redis-py's pure-Python asyncio packer
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # pragma: no cover - hiredis is a declared dependency (redis[hiredis])
    _hiredis_pack = None

__all__ = ["AutoPipeline", "Script", "StoreUnavailable"]

# Error replies that mean "this server cannot serve right now", not "your command is wrong".
_UNAVAILABLE_PREFIXES = frozenset(
    {"LOADING", "BUSY", "READONLY", "MASTERDOWN", "OOM", "CLUSTERDOWN", "TRYAGAIN", "NOREPLICAS"}
)


class StoreUnavailable(Exception):
    """Redis could not be reached or could not serve within the timeout (the gateway answers 503).

    For a write (redeem, rollback, lock) the outcome is unknown: it may or may not have been
    applied. Retrying with the same idempotency key is safe.
    """


class Script:
    """A Lua script known by its SHA1, loaded on demand (NOSCRIPT -> SCRIPT LOAD -> retry).

    ``source`` is the exact text sent to SCRIPT LOAD; ``sha`` is computed locally, so a call
    never needs a round trip to learn it.
    """

    __slots__ = ("name", "sha", "source")

    def __init__(self, source: str, name: str = "script") -> None:
        self.source = source
        self.name = name
        self.sha = hashlib.sha1(source.encode("utf-8")).hexdigest()

    def __repr__(self) -> str:
        return f"<Script {self.name} {self.sha[:12]}>"


class _Call:
    __slots__ = ("args", "future", "options", "script")

    def __init__(
        self,
        args: tuple[Any, ...],
        options: dict[str, Any],
        future: asyncio.Future[Any],
        script: Script | None,
    ) -> None:
        self.args = args
        self.options = options
        self.future = future
        self.script = script


def _unavailable_reply(exc: BaseException) -> bool:
    if isinstance(exc, (rexc.ConnectionError, rexc.TimeoutError, rexc.ReadOnlyError)):
        return True
    if isinstance(exc, rexc.ResponseError):
        head = str(exc).split(" ", 1)[0].upper()
        return head in _UNAVAILABLE_PREFIXES
    return False


class AutoPipeline:
    """Batch concurrent commands of one ``redis.asyncio.Redis`` into shared pipelines.

    ``redis``         the client; its connection pool supplies the connections.
    ``timeout``       seconds allowed for one flush (connect + send + every reply, NOSCRIPT
                      reload included); past it the calls raise :class:`StoreUnavailable`.
                      Default 2.0.
    ``max_batch``     most commands per pipeline (the rest go in the next one). Default 1000.
    ``max_inflight``  most pipelines on the wire at once (each uses one pooled connection).
                      Default 2.

    Bound to the event loop it is first used in (as are the client's connections).
    """

    def __init__(
        self,
        redis: Any,
        *,
        timeout: float = 2.0,
        max_batch: int = 1000,
        max_inflight: int = 2,
    ) -> None:
        if timeout <= 0 or max_batch < 1 or max_inflight < 1:
            raise ValueError("timeout, max_batch and max_inflight must be positive")
        self.redis = redis
        self.timeout = float(timeout)
        self.max_batch = int(max_batch)
        self.max_inflight = int(max_inflight)
        self._queue: list[_Call] = []
        self._scheduled = False
        self._inflight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        # Statistics, for metrics and tests.
        self.flushes = 0
        self.commands = 0
        self.script_loads = 0

    # -- public API ------------------------------------------------------------------------

    def evalsha(
        self, script: Script, keys: Sequence[Any] = (), args: Iterable[Any] = ()
    ) -> asyncio.Future[Any]:
        """Run ``script`` with ``keys`` / ``args``; await the result (the script's raw reply)."""
        return self._submit(("EVALSHA", script.sha, len(keys), *keys, *args), {}, script)

    def execute_command(self, *args: Any, **options: Any) -> asyncio.Future[Any]:
        """Run a plain command (``"MGET", k1, k2``) in the shared batch; await its parsed reply.

        Replies go through the client's response callbacks (``HGETALL`` gives a dict...).
        """
        if not args:
            raise ValueError("execute_command needs a command")
        return self._submit(tuple(args), options, None)

    async def load(self, *scripts: Script) -> None:
        """SCRIPT LOAD each script now (optional: a NOSCRIPT reply loads it anyway)."""
        shas = await asyncio.gather(
            *(self.execute_command("SCRIPT", "LOAD", s.source) for s in scripts)
        )
        for script, sha in zip(scripts, shas, strict=True):
            got = sha.decode() if isinstance(sha, bytes) else str(sha)
            if got != script.sha:  # pragma: no cover - would mean a broken server
                raise RuntimeError(f"SCRIPT LOAD of {script.name} returned {got}")
        self.script_loads += len(scripts)

    async def drain(self) -> None:
        """Wait until every queued and in-flight call has been answered."""
        while self._queue or self._tasks:
            if self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
            else:
                await asyncio.sleep(0)

    # -- batching --------------------------------------------------------------------------

    def _submit(
        self, args: tuple[Any, ...], options: dict[str, Any], script: Script | None
    ) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None and (self._queue or self._tasks):
                raise RuntimeError("AutoPipeline used from two event loops")
            self._loop = loop
        fut: asyncio.Future[Any] = loop.create_future()
        self._queue.append(_Call(args, options, fut, script))
        if not self._scheduled and self._inflight < self.max_inflight:
            self._scheduled = True
            loop.call_soon(self._flush)
        return fut

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
            for c, reply in zip(calls, replies, strict=True):
                if c.future.done():
                    continue
                if isinstance(reply, BaseException):
                    if _unavailable_reply(reply):
                        err = StoreUnavailable(f"Redis cannot serve: {reply}")
                        err.__cause__ = reply
                        c.future.set_exception(err)
                    else:
                        c.future.set_exception(reply)
                else:
                    c.future.set_result(reply)
        finally:
            self._done_one()

    @staticmethod
    def _fail(calls: list[_Call], message: str, cause: BaseException | None) -> None:
        for c in calls:
            if not c.future.done():
                err = StoreUnavailable(message)
                err.__cause__ = cause
                c.future.set_exception(err)

    async def _roundtrip(self, calls: list[_Call]) -> list[Any]:
        pool = self.redis.connection_pool
        conn = await pool.get_connection()
        try:
            replies = await self._exchange(conn, [c.args for c in calls], calls)
            missing = [
                i
                for i, r in enumerate(replies)
                if isinstance(r, rexc.NoScriptError) and calls[i].script is not None
            ]
            if missing:
                scripts: dict[str, Script] = {}
                for i in missing:
                    s = calls[i].script
                    assert s is not None
                    scripts.setdefault(s.sha, s)
                loads = [("SCRIPT", "LOAD", s.source) for s in scripts.values()]
                again = await self._exchange(
                    conn,
                    loads + [calls[i].args for i in missing],
                    [None] * len(loads) + [calls[i] for i in missing],
                )
                self.script_loads += len(loads)
                load_errors = [r for r in again[: len(loads)] if isinstance(r, BaseException)]
                for j, i in enumerate(missing):
                    r = again[len(loads) + j]
                    if isinstance(r, rexc.NoScriptError) and load_errors:
                        r = load_errors[0]
                    replies[i] = r
            return replies
        except BaseException:
            # The stream may be half read: never give this connection back as it is.
            await conn.disconnect(nowait=True)
            raise
        finally:
            await pool.release(conn)

    async def _exchange(
        self, conn: Any, commands: list[tuple[Any, ...]], calls: Sequence[_Call | None]
    ) -> list[Any]:
        enc = conn.encoder
        if (
            _hiredis_pack is not None
            and enc.encoding == "utf-8"
            and enc.encoding_errors == "strict"
        ):
            packed: Any = b"".join([_hiredis_pack(tuple(c)) for c in commands])
        else:
            packed = conn.pack_commands(commands)
        await conn.send_packed_command(packed, check_health=False)
        replies: list[Any] = []
        parse = self.redis.parse_response
        for args, call in zip(commands, calls, strict=True):
            options = call.options if call is not None else {}
            try:
                replies.append(await parse(conn, args[0], **options))
            except rexc.ResponseError as exc:
                replies.append(exc)
        return replies
