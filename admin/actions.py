"""Async actions (Voucherify's ``/v1/async-actions``): bulk code generation, CSV import, cleanup.

An action is a hash ``Paction:<id>``:

``id``, ``type``       e.g. ``CAMPAIGN.VOUCHERS_GENERATION``
``status``             ``ENQUEUED`` -> ``IN_PROGRESS`` -> ``DONE`` | ``FAILED``
``total``              how many items the action handles
``processed``          how many are done; ``progress`` is the percentage
``params``             JSON of what the action needs (campaign id, code config...)
``result``             JSON, set when it ends
``stored``             (generation, import) codes this action stored, raised by the same Lua
                       call that stores them: a resumed generation knows exactly how many are
                       still missing, whatever other actions add to the campaign meanwhile
``created_at``, ``updated_at`` (ms)

The action is created in the same transaction as the change that asks for it and its id is
added to ``Pactions:running``; the admin process runs it in a worker thread and, when it starts,
resumes every action still in ``Pactions:running`` whose lease (``Paction:<id>:lease``, renewed
after each chunk) has lapsed, so a restart never leaves a campaign half-generated.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import msgspec
import orjson

from core import model as m
from store import codebook
from store.keys import Keys
from store.unavailable import is_unavailable

from .codes import Generator
from .shapes import iso

log = logging.getLogger("promogate.admin")
LEASE_MS = 30_000

GENERATION = "CAMPAIGN.VOUCHERS_GENERATION"
IMPORT = "CAMPAIGN.VOUCHERS_IMPORT"
DELETE = "CAMPAIGN.VOUCHERS_DELETE"


def new_id() -> str:
    return "aa_" + secrets.token_hex(10)


def queue_create(
    pipe: Any, k: Keys, action_id: str, kind: str, total: int, params: dict[str, Any], now: int
) -> None:
    """Queue the creation of an action on ``pipe`` (inside the requesting change's MULTI)."""
    pipe.hset(
        k.action(action_id),
        mapping={
            "id": action_id,
            "type": kind,
            "status": "ENQUEUED",
            "total": str(total),
            "processed": "0",
            "progress": "0",
            "params": orjson.dumps(params),
            "created_at": str(now),
            "updated_at": str(now),
        },
    )
    pipe.zadd(k.actions, {action_id: now})
    pipe.sadd(k.actions_running, action_id)


def action_out(h: dict[bytes, bytes]) -> dict[str, Any]:
    f = {k.decode(): v.decode() for k, v in h.items()}
    created, updated = int(f.get("created_at", "0")), int(f.get("updated_at", "0"))
    status = f.get("status", "ENQUEUED")
    out: dict[str, Any] = {
        "id": f.get("id"),
        "type": f.get("type"),
        "status": status,
        "operation_status": "SUCCESS"
        if status == "DONE"
        else "FAILED"
        if status == "FAILED"
        else "UNKNOWN",
        "created_at": iso(created),
        "updated_at": iso(updated),
        "processing_time": max(0, updated - created),
        "progress": int(f.get("progress", "0")),
        "object": "async_action",
        "processed": int(f.get("processed", "0")),
        "total": int(f.get("total", "0")),
    }
    if "result" in f:
        out["result"] = orjson.loads(f["result"])
    return out


class Interrupted(Exception):
    """The admin is stopping: the action stays IN_PROGRESS and is resumed at the next start."""


class Runner:
    """Runs actions in worker threads with a synchronous Redis client each."""

    def __init__(
        self,
        redis: Any,
        redis_url: str,
        keys: Keys,
        clock: Callable[[], int],
        doc_codes: Callable[[Any], tuple[set[str], int]],
    ) -> None:
        self.r = redis
        self.url = redis_url
        self.k = keys
        self.clock = clock
        self.doc_codes = doc_codes
        self.tasks: dict[str, asyncio.Task] = {}
        self.stopping = threading.Event()
        # this runner's lease value: after an outage it takes back, at once, the actions whose
        # lease it still holds (another process waits for a lease to lapse)
        self.owner = "runner_" + secrets.token_hex(8)
        self._handlers: dict[
            str, Callable[[Any, str, dict[str, Any], dict[str, str]], dict[str, Any]]
        ] = {
            GENERATION: self._generate,
            DELETE: self._delete_codes,
        }

    def register(
        self,
        kind: str,
        handler: Callable[[Any, str, dict[str, Any], dict[str, str]], dict[str, Any]],
    ) -> None:
        self._handlers[kind] = handler

    async def get(self, action_id: str) -> dict[str, Any] | None:
        h = await self.r.hgetall(self.k.action(action_id))
        return action_out(h) if h else None

    async def status(self, action_id: str) -> str | None:
        v = await self.r.hget(self.k.action(action_id), "status")
        return v.decode() if v else None

    def start(self, action_id: str) -> None:
        if action_id in self.tasks and not self.tasks[action_id].done():
            return
        self.tasks[action_id] = asyncio.create_task(
            self._run(action_id), name=f"action-{action_id}"
        )

    async def resume(self) -> None:
        for raw in await self.r.smembers(self.k.actions_running):
            aid = raw.decode()
            if await self.r.exists(self.k.action(aid) + ":lease"):
                # another process runs it, or one that died left its lease: take over if the
                # lease lapses while the action is still unfinished
                if aid not in self.tasks or self.tasks[aid].done():
                    self.tasks[aid] = asyncio.create_task(
                        self._when_free(aid), name=f"action-{aid}-wait"
                    )
            else:
                self.start(aid)

    async def _when_free(self, action_id: str) -> None:
        lease = self.k.action(action_id) + ":lease"
        while not self.stopping.is_set():
            try:
                if not await self.r.sismember(self.k.actions_running, action_id):
                    return  # finished (by whoever held the lease)
                ttl = int(await self.r.pttl(lease))
                if ttl != -2 and await self.r.get(lease) == self.owner.encode():
                    ttl = -2  # our own lease, left by a run that Redis' outage cut short
            except Exception as exc:  # Redis unreachable for now: try again later
                log.warning("async action %s: lease check failed: %s", action_id, exc)
                ttl = 1000
            if ttl > 0 or ttl == -1:
                await asyncio.sleep(min(ttl if ttl > 0 else LEASE_MS, LEASE_MS) / 1000 + 0.05)
                continue
            await self._run(action_id)  # returns at once if someone else took the lease

    async def stop(self) -> None:
        """Ask running actions to stop after their current chunk (they resume at next start)."""
        self.stopping.set()
        for t in self.tasks.values():
            t.cancel()
        for t in self.tasks.values():
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass

    async def wait(self, action_id: str) -> None:
        t = self.tasks.get(action_id)
        if t is not None:
            await t

    async def _run(self, action_id: str) -> None:
        try:
            await asyncio.to_thread(self._run_sync, action_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if is_unavailable(exc):
                # Redis went away: the action stays IN_PROGRESS (it resumes exactly); take it
                # back once Redis serves again
                log.warning("async action %s paused, Redis unavailable: %s", action_id, exc)
                await self._when_free(action_id)
                return
            log.exception("async action %s failed", action_id)  # pragma: no cover

    def _run_sync(self, action_id: str) -> None:
        import redis

        client = redis.Redis.from_url(self.url)
        key = self.k.action(action_id)
        lease = key + ":lease"
        try:
            if not client.set(lease, self.owner, nx=True, px=LEASE_MS):
                if client.get(lease) != self.owner.encode():
                    return  # another process runs it
                client.pexpire(lease, LEASE_MS)  # ours, from a run an outage cut short
            h = {k.decode(): v.decode() for k, v in client.hgetall(key).items()}
            if not h or h.get("status") in ("DONE", "FAILED"):
                client.srem(self.k.actions_running, action_id)
                return
            client.hset(key, mapping={"status": "IN_PROGRESS", "updated_at": str(self.clock())})
            params = orjson.loads(h.get("params", "{}"))
            handler = self._handlers.get(h.get("type", ""))
            try:
                if handler is None:
                    raise RuntimeError(f"unknown action type {h.get('type')!r}")
                result = handler(client, action_id, params, h)
                status = "DONE"
            except Interrupted:
                client.delete(lease)  # resumed by the next admin start (Pactions:running)
                return
            except Exception as exc:
                if is_unavailable(exc):  # not the action's fault: it resumes when Redis is back
                    raise
                log.exception("async action %s failed", action_id)
                result = {"message": str(exc)}
                status = "FAILED"
            pipe = client.pipeline(transaction=True)
            pipe.hset(
                key,
                mapping={
                    "status": status,
                    "result": orjson.dumps(result),
                    "updated_at": str(self.clock()),
                },
            )
            if status == "DONE":
                pipe.hset(key, "progress", "100")
            pipe.srem(self.k.actions_running, action_id)
            pipe.delete(lease)
            pipe.execute()
        finally:
            client.close()

    def progress(self, client: Any, action_id: str) -> Callable[[int, int], None]:
        key = self.k.action(action_id)

        def report(done: int, total: int) -> None:
            if self.stopping.is_set():
                raise Interrupted(action_id)
            pct = 100 if total <= 0 else min(99, done * 100 // total)
            pipe = client.pipeline(transaction=False)
            pipe.hset(
                key,
                mapping={
                    "processed": str(done),
                    "progress": str(pct),
                    "updated_at": str(self.clock()),
                },
            )
            pipe.pexpire(key + ":lease", LEASE_MS)
            pipe.execute()

        return report

    # -- handlers (run in the worker thread) -------------------------------------------------

    def _generate(
        self, client: Any, action_id: str, params: dict[str, Any], h: dict[str, str]
    ) -> dict[str, Any]:
        campaign_id = params["campaign_id"]
        cfg = msgspec.convert(params.get("code_config") or {}, m.CodeConfig)
        total = int(h.get("total", "0"))
        key = self.k.action(action_id)
        # what THIS action stored so far, counted by the call that stores the codes (the list's
        # length would count another action's codes for the same campaign too)
        stored, legacy_target = client.hmget(key, "stored", "target")
        if stored is None and legacy_target is not None:  # begun by a version without 'stored'
            missing = max(0, int(legacy_target) - int(client.llen(self.k.list_codes(campaign_id))))
            already = total - missing
        else:
            already = min(total, int(stored or 0))
            missing = total - already
        report = self.progress(client, action_id)
        gen = Generator(client, self.k, campaign_id, cfg, lambda: self.doc_codes(client), counter=key)
        t0 = time.perf_counter()
        regenerated = gen.run(missing, lambda done, _t: report(already + done, total))
        return {
            "message": f"{total} vouchers generated",
            "campaign_id": campaign_id,
            "count": total,
            "regenerated_duplicates": regenerated,
            "seconds": round(time.perf_counter() - t0, 3),
        }

    def _delete_codes(
        self, client: Any, action_id: str, params: dict[str, Any], h: dict[str, str]
    ) -> dict[str, Any]:
        """Remove the codes of a deleted campaign, in chunks (the gateway already refuses them:
        their campaign is gone from the ruleset)."""
        campaign_id = params["campaign_id"]
        lst = self.k.list_codes(campaign_id)
        total = int(client.llen(lst))
        report = self.progress(client, action_id)
        done = 0
        while True:
            codes = client.lrange(lst, 0, 9_999)
            if not codes:
                break
            pipe = client.pipeline(transaction=False)
            for c in codes:
                codebook.drop(pipe, self.k, c.decode())
            pipe.ltrim(lst, len(codes), -1)
            pipe.execute()
            done += len(codes)
            report(done, total)
        return {"message": f"{done} vouchers deleted", "campaign_id": campaign_id, "count": done}
