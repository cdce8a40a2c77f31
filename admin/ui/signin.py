"""Sign in with an admin key, sign out."""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.response import Redirect, Template

from ..auth import authenticate, require
from ..errors import ApiError
from .base import (
    COOKIE,
    LOGIN_COOKIE,
    LOGIN_TTL,
    MAX_FIELD,
    SECURE_COOKIE,
    SECURITY_HEADERS,
    Session,
    _admin,
    _enc,
    _form,
    _posted,
    _same_origin,
    _secure,
    _sha,
    _signed_in,
)

# ------------------------------------------------------------------------------- sign-in


#: failed sign-ins allowed per key id and per client address within the window
MAX_FAILURES = 10
FAILURE_WINDOW_S = 15 * 60


def _login_page(
    request: Request,
    error: str | None = None,
    status: int = 200,
    key_id: str = "",
    retry_after: int | None = None,
) -> Template:
    nonce = secrets.token_urlsafe(24)
    headers = dict(SECURITY_HEADERS)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    t = Template(
        template_name="login.html",
        context={"nonce": nonce, "error": error, "key_id": key_id[:MAX_FIELD], "path": "/login"},
        status_code=status,
        headers=headers,
        cookies=[
            Cookie(
                key=LOGIN_COOKIE,
                value=nonce,
                max_age=LOGIN_TTL,
                path="/login",
                httponly=True,
                samesite="strict",
                secure=_secure(request),
            )  # fmt: skip
        ],
    )
    return t


@get("/login", include_in_schema=False)
async def login_form(request: Request) -> Response:
    if await _signed_in(request) is not None:
        return Redirect("/", status_code=303)
    return _login_page(request)


@post("/login", include_in_schema=False, status_code=303)
async def login(request: Request) -> Response:
    """Sign in with an admin key: a login nonce (cookie + hidden field) guards the form itself."""
    form = await _form(request)
    key_id, token = form.get("key_id", "").strip(), form.get("token", "")
    nonce = request.cookies.get(LOGIN_COOKIE) or ""
    sent = form.get("csrf_token", "")
    if (
        not nonce
        or not hmac.compare_digest(nonce.encode(), sent.encode())
        or not _same_origin(request)
    ):
        return _login_page(request, "The sign-in form expired: please try again.", 403, key_id)
    adm = _admin(request)
    counters = _failure_keys(request, key_id[:MAX_FIELD])
    wait = await _locked_for(adm.redis, counters)
    if wait:
        minutes = -(-wait // 60)
        msg = (f"Too many failed sign-ins for this key or from this address: try again in "
               f"{minutes} minute{'s' if minutes > 1 else ''}.")  # fmt: skip
        return _login_page(request, msg, 429, key_id, retry_after=wait)
    try:
        actor = await authenticate(adm.redis, adm.keys, key_id[:MAX_FIELD], token[:MAX_FIELD])
        require(actor, "read")
    except ApiError as exc:
        if exc.status == 401:
            await _count_failure(adm.redis, counters)
        msg = (
            "Unknown key id or wrong token."
            if exc.status == 401
            else "This key's role cannot use admin (an `application` key is for checkout)."
        )
        return _login_page(request, msg, exc.status, key_id)
    await adm.redis.delete(counters[1])  # this address' count only: not the key's, nor others'
    sid = secrets.token_urlsafe(32)
    now = adm.clock()
    ttl = adm.settings.ui_session_ttl
    sess = Session(
        key_id=actor.id, csrf=secrets.token_urlsafe(32), created_at=now, expires_at=now + ttl * 1000
    )
    await adm.redis.set(adm.keys.ui_session(_sha(sid)), _enc.encode(sess), ex=ttl)
    secure = _secure(request)
    resp = Redirect("/", status_code=303, headers=SECURITY_HEADERS)
    resp.set_cookie(SECURE_COOKIE if secure else COOKIE, sid, max_age=ttl, path="/",
                    httponly=True, samesite="strict", secure=secure)  # fmt: skip
    _clear(resp, request, LOGIN_COOKIE, "/login")
    return resp


def _failure_keys(request: Request, key_id: str) -> tuple[str, str]:
    """The failure counters of a sign-in: its key id's and its client address' (the peer of
    the connection: a proxy in front of admin makes every client one address)."""
    keys = _admin(request).keys
    addr = request.client.host if request.client else "unknown"
    return (keys.ui_signin_failures("key", _sha(key_id)),
            keys.ui_signin_failures("addr", addr[:MAX_FIELD]))  # fmt: skip


async def _locked_for(redis: Any, counters: tuple[str, str]) -> int:
    """Seconds until the sign-ins of these counters are allowed again (0: allowed now)."""
    async with redis.pipeline(transaction=False) as pipe:
        for name in counters:
            pipe.get(name)
            pipe.ttl(name)
        got = await pipe.execute()
    waits = [max(1, int(ttl)) for n, ttl in zip(got[::2], got[1::2], strict=True)
             if n is not None and int(n) >= MAX_FAILURES]  # fmt: skip
    return max(waits, default=0)


async def _count_failure(redis: Any, counters: tuple[str, str]) -> None:
    """One more failure on each counter; the window starts at a counter's first failure."""
    async with redis.pipeline(transaction=True) as pipe:
        for name in counters:
            pipe.incr(name)
            pipe.expire(name, FAILURE_WINDOW_S, nx=True)
        await pipe.execute()


def _clear(resp: Response, request: Request, name: str, path: str) -> None:
    """Expire a cookie, with the attributes it was set with."""
    resp.set_cookie(name, "", max_age=0, path=path, httponly=True, samesite="strict",
                    secure=_secure(request))  # fmt: skip


@post("/logout", include_in_schema=False, status_code=303)
async def logout(request: Request) -> Response:
    got = await _posted(request)
    if isinstance(got, Response):
        return got
    _ctx, signed, form = got
    adm = _admin(request)
    await adm.redis.delete(adm.keys.ui_session(signed.sid_hash))
    resp = Redirect("/login", status_code=303, headers=SECURITY_HEADERS)
    _clear(resp, request, SECURE_COOKIE if _secure(request) else COOKIE, "/")
    return resp


HANDLERS = [login_form, login, logout]
