"""The admin service: a Litestar app beside the gateway (default 127.0.0.1:8001).

``create_app(settings, clock)`` builds it; ``python -m admin`` serves it. Every route
authenticates the caller's API key (``X-App-Id`` / ``X-App-Token``), checks its role
(admin.auth), and answers errors in Voucherify's shape. The API is documented in admin/API.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import msgspec
import orjson
import redis
from litestar import Litestar, Request, Response, get
from litestar.exceptions import HTTPException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from store import client as store_client
from store import codebook
from store.durability import DurabilityWatch
from store.errors import service_unavailable
from store.keys import Keys
from store.settings import Settings
from store.unavailable import is_unavailable

from . import actions as act
from . import audit
from .auth import authenticate, require
from .errors import JSON, ApiError, error_response, invalid, request_id
from .repo import Repo
from .shapes import strip_nulls

log = logging.getLogger("promogate.admin")


class Admin:
    """What every request shares: settings, clock, Redis, the definitions repo, the runner."""

    def __init__(self, settings: Settings, clock: Callable[[], int] | None = None) -> None:
        import redis.asyncio as aredis

        self.settings = settings
        self.clock = clock or (lambda: int(time.time() * 1000))
        # every call answers or fails within redis_timeout, and no write is ever sent twice
        # (store.client): Redis unavailable is a 503, never a hang or a 500
        self.redis: aredis.Redis = store_client.connect(settings.redis_url, settings.redis_timeout)
        self.keys = Keys(settings.key_prefix)
        self.repo = Repo(self.redis, self.keys, self.clock)
        self.runner = act.Runner(
            self.redis, settings.redis_url, self.keys, self.clock, self._doc_codes_sync
        )
        from .bulk import register_bulk
        from .transfer import register_import

        register_import(self)
        register_bulk(self)
        self.durability = DurabilityWatch(log)  # what a crash of Redis loses (/ready shows it)
        self._resumer: asyncio.Task[None] | None = None
        self._folder: asyncio.Task[None] | None = None

    def _doc_codes_sync(self, client: Any) -> tuple[set[str], int]:
        from core import model as m

        v, doc = client.mget(self.keys.version, self.keys.defs)
        defs = msgspec.json.decode(doc, type=m.Definitions) if doc else m.Definitions()
        return {x.code for x in defs.vouchers}, int(v or 0)

    async def start(self) -> None:
        await self.durability.refresh(self.redis, self.settings.redis_timeout)  # logs it
        if self.settings.ledger_fold > 0:
            self._folder = asyncio.create_task(self._fold_ledger(), name="fold-ledger")
        try:  # codes stored by a version before the buckets: moved once (store/codebook.py)
            moved = await asyncio.to_thread(self._migrate_codes)
            if moved:
                log.warning("moved %d codes into their bucket hashes (store/codebook.py)", moved)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            log.warning("could not check for codes to move (Redis unavailable): %s", exc)
        try:
            await self.runner.resume()
        except Exception as exc:
            if not is_unavailable(exc):
                log.exception("could not resume async actions")
                return
            # Redis down at start: /ready says so, and the actions resume once it is back
            log.warning("could not resume async actions yet (Redis unavailable): %s", exc)
            self._resumer = asyncio.create_task(self._resume_when_back(), name="resume-actions")

    def _migrate_codes(self) -> int:
        client = redis.Redis.from_url(self.settings.redis_url)
        try:
            return codebook.migrate(client, self.keys)
        finally:
            client.close()

    async def _fold_ledger(self) -> None:
        """Keep the report views folded from the ledger every ``ledger_fold`` seconds, not only
        when a report is read: the stream is trimmed (PROMOGATE_LEDGER_MAXLEN), and a flood of
        refusals after a flash sale sells out (thousands a second, each an entry) would
        otherwise trim redemptions away before any fold counted them. Folding is
        compare-and-set per batch, so several admin processes folding at once count each entry
        once."""
        from store import ledger_fold

        while True:
            await asyncio.sleep(self.settings.ledger_fold)
            try:
                await ledger_fold.fold(self.redis, self.keys)
            except Exception as exc:
                if is_unavailable(exc):
                    continue  # Redis down: the next round folds what it missed
                log.exception("folding the ledger failed")

    async def _resume_when_back(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                await self.runner.resume()
            except Exception as exc:
                if not is_unavailable(exc):
                    log.exception("could not resume async actions")
                    return
                continue
            log.warning("async actions resumed: Redis is back")
            return

    async def stop(self) -> None:
        for task in (self._resumer, self._folder):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self.durability.stop()
        await self.runner.stop()
        loyalty = getattr(self, "_loyalty", None)  # routes_members' pipeliner, made on first use
        if loyalty is not None:
            await loyalty.pipe.aclose()
        await self.redis.aclose()


class Ctx:
    """One authenticated call."""

    __slots__ = ("admin", "actor", "rid", "request")

    def __init__(self, admin: Admin, actor: audit.Actor, rid: str, request: Request) -> None:
        self.admin = admin
        self.actor = actor
        self.rid = rid
        self.request = request

    @property
    def repo(self) -> Repo:
        return self.admin.repo

    @property
    def k(self) -> Keys:
        return self.admin.keys

    @property
    def r(self) -> Any:
        return self.admin.redis

    def now(self) -> int:
        return self.admin.clock()

    def q(self, name: str, default: str | None = None) -> str | None:
        v = self.request.query_params.get(name)
        return default if v in (None, "") else v

    def qint(self, name: str, default: int, lo: int = 1, hi: int = 100) -> int:
        v = self.q(name)
        if v is None:
            return default
        try:
            n = int(v)
        except ValueError:
            raise invalid(f"`{name}` must be an integer, got {v!r}") from None
        if not lo <= n <= hi:
            raise invalid(f"`{name}` must be between {lo} and {hi}, got {n}")
        return n

    def qbool(self, name: str) -> bool | None:
        v = self.q(name)
        if v is None:
            return None
        return v.lower() in ("1", "true", "yes")


#: ASGI scope entry holding the actor of a web UI request: set only by admin.ui, after it checked
#: the session cookie (and, on a POST, the CSRF token); never from anything the client sends
UI_ACTOR = "promogate.ui_actor"
#: ASGI scope entry holding the JSON body of a route called in process (:mod:`admin.drafts`):
#: :func:`json_body` reads it instead of the request's own body; set only by server code
INNER_BODY = "promogate.inner_body"


async def begin(request: Request, permission: str) -> Ctx:
    """Authenticate the caller and check that its role holds ``permission``. A web UI request
    (admin/ui.py) comes with its session's actor, and meets the same role check."""
    adm: Admin = request.app.state.admin
    actor = request.scope.get(UI_ACTOR)  # type: ignore[call-overload]
    if actor is None:
        actor = await authenticate(
            adm.redis, adm.keys, request.headers.get("x-app-id"), request.headers.get("x-app-token")
        )
    require(actor, permission)
    return Ctx(adm, actor, request.headers.get("x-request-id") or request_id(), request)


async def call_route(
    request: Request, handler: Any, body: dict[str, Any] | None = None, **params: Any
) -> Response:
    """Run the admin route ``handler`` in process for ``request``'s caller (its own role check
    applies, as over HTTP, and so does the approvals gate), with ``body`` as the JSON body it
    reads (None: the request's own)."""
    from .approvals import guard_call  # approvals imports the routes, which import this module

    await guard_call(request, handler)
    if body is None:
        return await handler.fn(request, **params)
    saved = request.scope.get(INNER_BODY)  # type: ignore[call-overload]
    request.scope[INNER_BODY] = body  # type: ignore[literal-required]
    try:
        return await handler.fn(request, **params)
    finally:
        request.scope[INNER_BODY] = saved  # type: ignore[literal-required]


async def route_answer(
    request: Request, handler: Any, body: dict[str, Any] | None = None, **params: Any
) -> Any:
    """:func:`call_route`'s answer, decoded (None when it has no body)."""
    resp = await call_route(request, handler, body, **params)
    return orjson.loads(resp.content) if resp.content else None


async def json_body(request: Request, required: bool = True) -> dict[str, Any]:
    inner = request.scope.get(INNER_BODY)  # type: ignore[call-overload]
    if inner is not None:
        if not inner and required:
            raise invalid("The request body is empty")
        return strip_nulls(inner)
    raw = await request.body()
    if not raw or not raw.strip():
        if required:
            raise invalid("The request body is empty")
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise invalid(f"Malformed JSON: {exc}") from None
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object")
    return strip_nulls(body)


def ok(obj: Any, status: int = 200) -> Response:
    return Response(content=orjson.dumps(obj), status_code=status, media_type=JSON)


def no_content() -> Response:
    return Response(content=b"", status_code=204)


# ------------------------------------------------------------------------------- operations


@get("/health", tags=["ops"])
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/ready", tags=["ops"])
async def ready(request: Request) -> Response:
    adm: Admin = request.app.state.admin
    dur = adm.durability
    try:
        await adm.redis.ping()
        st = await adm.repo.state()
    except Exception as exc:
        return ok({"ready": False, "reason": f"redis: {exc}", "durability": dur.current.as_dict()},
                  503)  # fmt: skip
    if dur.read_at is None:  # never read (Redis was down at start): now, once
        await dur.refresh(adm.redis, adm.settings.redis_timeout)
    else:  # at most once a minute, in the background: /ready does not wait for it
        dur.maybe_refresh(adm.redis, adm.settings.redis_timeout)
    return ok({"ready": True, "definitions_version": st.version,
               "durability": dur.current.as_dict()})  # fmt: skip


# ------------------------------------------------------------------------------- errors


def _api_error(request: Request, exc: ApiError) -> Response:
    return error_response(exc, request.headers.get("x-request-id"))


def _http_exception(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    key = {404: "not_found", 405: "method_not_allowed"}.get(
        status, "invalid_payload" if status < 500 else "internal_error"
    )
    return error_response(ApiError(status, key, str(exc.detail or "Error"), str(exc.detail or "")))


def _unexpected(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ApiError):
        return error_response(exc)
    if is_unavailable(exc):  # Redis down, restarting, LOADING, read-only...: fail closed
        return error_response(service_unavailable(exc), request.headers.get("x-request-id"))
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(
        ApiError(500, "internal_error", "Internal error", "An unexpected error occurred")
    )


def create_app(
    settings: Settings | None = None, clock: Callable[[], int] | None = None
) -> Litestar:
    from . import (
        approvals,
        routes_approvals,
        routes_bulk,
        routes_defs,
        routes_drafts,
        routes_ledger,
        routes_loyalty,
        routes_members,
        routes_ops,
        routes_people,
        routes_preview,
        routes_referrals,
        routes_restore,
        ui,
    )
    from .openapi import describe as describe_openapi

    settings = settings or Settings.from_env()
    adm = Admin(settings, clock)

    async def on_startup(app: Litestar) -> None:
        app.state.admin = adm
        await adm.start()

    async def on_shutdown(app: Litestar) -> None:
        await adm.stop()

    app = Litestar(
        route_handlers=[
            health,
            ready,
            *routes_approvals.HANDLERS,
            *routes_bulk.HANDLERS,
            *routes_defs.HANDLERS,
            *routes_loyalty.HANDLERS,
            *routes_people.HANDLERS,
            *routes_members.HANDLERS,
            *routes_referrals.HANDLERS,
            *routes_drafts.HANDLERS,
            *routes_restore.HANDLERS,
            *routes_preview.HANDLERS,
            *routes_ledger.HANDLERS,
            *routes_ops.HANDLERS,
            # the marketer web UI at the root (HTML pages: left out of the OpenAPI schema)
            ui.router(),
            create_static_files_router(
                path="/static", directories=[ui.STATIC], name="static", include_in_schema=False
            ),
        ],
        template_config=TemplateConfig(
            directory=ui.TEMPLATES, engine=JinjaTemplateEngine, engine_callback=ui.jinja_setup
        ),
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        before_request=approvals.gate,  # four-eyes mode (admin/approvals.py)
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_exception,
            Exception: _unexpected,
        },
        request_max_body_size=max(settings.max_body, 64 * 1024 * 1024),
        # Litestar's default OpenAPI config: the document and docs under /schema, without a key
        # (a schema reveals no data; every /v1 handler authenticates itself through begin())
        debug=os.environ.get("PROMOGATE_DEBUG", "") not in ("", "0"),
    )
    describe_openapi(app)  # bodies and answers of the raw-JSON handlers (admin/openapi.py)
    return app
