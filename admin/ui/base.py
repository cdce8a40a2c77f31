"""The web UI's plumbing: sessions, the signed-in request's context (the API's own role
check), page rendering, errors, shared helpers and template filters."""

from __future__ import annotations

import hashlib
import hmac
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException
from litestar.response import Redirect, Template

from store.unavailable import is_unavailable

from .. import reports
from ..app import UI_ACTOR, Admin, Ctx, begin, call_route
from ..audit import Actor, check_cursor
from ..auth import can, key_actor
from ..errors import ApiError
from ..routes_defs import disable_voucher, enable_voucher
from ..routes_ledger import rollback_redemption
from ..shapes import iso

log = logging.getLogger("promogate.admin.ui")

HERE = Path(__file__).parent.parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

COOKIE = "pg_session"
#: the cookie's name over https: the browser then insists on Secure, Path=/ and no Domain
SECURE_COOKIE = "__Host-pg_session"
LOGIN_COOKIE = "pg_login"
LOGIN_TTL = 900
PAGE_SIZE = 20
STATUSES = ("running", "scheduled", "exhausted", "expired", "disabled")
CAMPAIGN_TYPES = (
    "DISCOUNT_COUPONS",
    "PROMOTION",
    "GIFT_VOUCHERS",
    "LOYALTY_PROGRAM",
    "REFERRAL_PROGRAM",
)
SERIES_HOURS = 48
MAX_FIELD = 200

#: sent with every page: nothing but our own scripts and styles, no framing, no referrer to other sites
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; script-src 'self'; "
    "style-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class Session(msgspec.Struct, frozen=True):
    key_id: str
    csrf: str
    created_at: int
    expires_at: int


_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder(Session)


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _admin(request: Request) -> Admin:
    return request.app.state.admin


class Signed(msgspec.Struct):
    """A signed-in request: its session and the actor (the key's name and role, read now)."""

    session: Session
    actor: Actor
    sid_hash: str


async def _signed_in(request: Request) -> Signed | None:
    sid = request.cookies.get(SECURE_COOKIE) or request.cookies.get(COOKIE)
    if not sid or len(sid) > 100:
        return None
    adm = _admin(request)
    h = _sha(sid)
    raw = await adm.redis.get(adm.keys.ui_session(h))
    if raw is None:
        return None
    try:
        sess = _dec.decode(raw)
    except msgspec.DecodeError:
        return None
    actor = await key_actor(adm.redis, adm.keys, sess.key_id)
    if actor is None:  # the key was revoked: so is the session
        await adm.redis.delete(adm.keys.ui_session(h))
        return None
    return Signed(session=sess, actor=actor, sid_hash=h)


def _same_origin(request: Request) -> bool:
    """A browser names the page's origin on a POST; a request without one (not a browser) is
    judged by the CSRF token alone."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    base = f"{request.url.scheme}://{request.url.netloc}"
    return origin == base


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: str(v)[: MAX_FIELD * 10] for k, v in form.items() if isinstance(v, str)}


async def _enter(
    request: Request, permission: str = "read", form: dict[str, str] | None = None
) -> tuple[Ctx, Signed] | Response:
    """The signed-in request's :class:`Ctx` after the API's own role check (``begin``); a
    redirect to the sign-in page without a session. A POST must carry the session's CSRF token
    (form field ``csrf_token`` or header ``X-CSRF-Token``) and come from this origin."""
    signed = await _signed_in(request)
    if signed is None:
        if request.method == "GET" and not request.headers.get("hx-request"):
            return Redirect("/login", status_code=303)
        raise ApiError(401, "unauthorized", "Unauthorized", "Sign in again: the session ended")
    if request.method != "GET":
        sent = (form or {}).get("csrf_token") or request.headers.get("x-csrf-token") or ""
        if not _same_origin(request) or not hmac.compare_digest(
            sent.encode(), signed.session.csrf.encode()
        ):
            raise ApiError(
                403,
                "forbidden",
                "Forbidden",
                "The form is stale or not ours (CSRF check failed): reload the page",
            )
    request.scope[UI_ACTOR] = signed.actor  # type: ignore[literal-required]
    return await begin(request, permission), signed


def _page(
    name: str, ctx: Ctx | None, signed: Signed | None, http_status: int = 200, **context: Any
) -> Template:
    base: dict[str, Any] = {"as_of": None, "path": ""}
    if ctx is not None and signed is not None:
        actor = signed.actor
        base.update(
            actor=actor,
            csrf=signed.session.csrf,
            may_write=can(actor, "write"),
            may_code_state=can(actor, "code_state"),
            may_rollback=can(actor, "rollback"),
            as_of=iso(ctx.now()),
            path=ctx.request.url.path,
        )
    base.update(context)
    return Template(
        template_name=name, context=base, status_code=http_status, headers=SECURITY_HEADERS
    )


async def _posted(
    request: Request, permission: str = "read"
) -> tuple[Ctx, Signed, dict[str, str]] | Response:
    """A signed-in POST: its form (CSRF token checked), :class:`Ctx` and session; a redirect
    to sign in without a session. The API route the handler calls applies its own role check."""
    form = await _form(request)
    got = await _enter(request, permission, form)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    return ctx, signed, form


def _int(v: str | None, default: int, lo: int, hi: int) -> int:
    try:
        n = int(v) if v else default
    except ValueError:
        return default
    return max(lo, min(hi, n))


# ------------------------------------------------------------------------------- customers

LEDGER_STATUSES = ("SUCCEEDED", "FAILED", "ROLLED_BACK")


def _cursor(value: str | None, row: bool) -> str | None:
    """A paging cursor from the URL (a stream entry id, for ledger rows ``<id>.<n>``); a
    malformed one is a 400 from the API's own check."""
    return check_cursor(value or None, "after", row=row)


def _canonical(request: Request, base: str, params: dict[str, Any]) -> str | None:
    """The page's clean URL (empty filters left out) if the request's differs, else None."""
    query = urlencode({k: v for k, v in params.items() if v not in ("", None)})
    canonical = base + ("?" + query if query else "")
    here = request.url.path + ("?" + request.url.query if request.url.query else "")
    return canonical if here != canonical else None


def _groups(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ledger rows grouped by their redemption: a stacked parent with its children (the rows of
    one redeem are consecutive), a refusal or a single redemption alone."""
    out: list[dict[str, Any]] = []
    for r in rows:
        parent = r.get("parent_redemption_id")
        if parent and out and out[-1]["parent"] == parent:
            out[-1]["rows"].append(r)
        else:
            out.append({"parent": parent, "rows": [r]})
    return out


async def _timeline(
    ctx: Ctx, flt: reports.Filters, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    page = await reports.list_redemptions(ctx.r, ctx.k, flt, PAGE_SIZE, after)
    return page["redemptions"], page["more_starting_after"]


async def _code_state(request: Request, form: dict[str, str]) -> tuple[str, str]:
    """Enable or disable ``form["code"]`` (``form["action"]``) through the API's own voucher
    route (role ``code_state``; audited, published: the gateways refuse a disabled code at
    once); the code and the action."""
    code = form.get("code", "").strip()[:MAX_FIELD]
    action = form.get("action", "")
    if not code or action not in ("enable", "disable"):
        raise ApiError(400, "invalid_payload", "Invalid payload",
                       "`code` and `action` (enable or disable) are required")  # fmt: skip
    await call_route(request, enable_voucher if action == "enable" else disable_voucher, code=code)
    return code, action


async def _rollback_then(request: Request, form: dict[str, str], render: Any) -> Response:
    """Roll back ``form["redemption_id"]`` (with ``form["reason"]``) through admin's own
    route, then ``render(notice, error, status)``; a missing reason or a refusal other than
    the role's is shown on the page beside the form."""
    rid = form.get("redemption_id", "").strip()[:MAX_FIELD]
    if not rid:
        raise ApiError(400, "invalid_payload", "Invalid payload", "`redemption_id` is required")
    if not form.get("reason", "").strip():
        return await render(None, f"Say why {rid} is rolled back: a reason is required.", 400)
    try:
        await call_route(request, rollback_redemption, redemption_id=rid)  # the role check
    except ApiError as exc:
        if exc.status in (401, 403):
            raise
        return await render(None, f"{rid} not rolled back: {exc.details}", exc.status)
    return await render(f"Redemption {rid} rolled back (audited).", None, 200)


# ------------------------------------------------------------------------------- errors


def _error_page(request: Request, status: int, title: str, details: str) -> Response:
    context = {"status": status, "title": title, "details": details, "path": request.url.path}
    return Template(template_name="error.html", context=context, status_code=status,
                    headers=SECURITY_HEADERS, media_type=MediaType.HTML)  # fmt: skip


def ui_api_error(request: Request, exc: ApiError) -> Response:
    return _error_page(request, exc.status, exc.message, exc.details)


def ui_http_error(request: Request, exc: HTTPException) -> Response:
    return _error_page(request, exc.status_code, "Error", str(exc.detail or ""))


def ui_unexpected(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ApiError):
        return ui_api_error(request, exc)
    if is_unavailable(exc):
        return _error_page(
            request, 503, "Service unavailable", "Redis cannot be reached: try again shortly."
        )
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return _error_page(request, 500, "Internal error", "An unexpected error occurred.")


# ------------------------------------------------------------------------------- templates


def _json_island(obj: Any) -> str:
    """JSON to put inside ``<script type="application/json">``: no ``<``, ``>`` or ``&`` left
    that could close the element."""
    text = msgspec.json.encode(obj).decode()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _money(cents: Any) -> str:
    if cents is None:
        return "-"
    n = int(cents)
    sign = "-" if n < 0 else ""
    n = abs(n)
    return f"{sign}{n // 100:,}.{n % 100:02d}"


def _when(value: Any) -> str:
    """An ISO time as ``2026-12-03 14:47:34 UTC`` (the ``datetime`` attribute keeps it whole)."""
    if not value:
        return "-"
    text = str(value)
    return text[:19].replace("T", " ") + " UTC" if len(text) >= 19 else text


def _num(n: Any) -> str:
    return "-" if n is None else f"{int(n):,}"


MONEY_LIMITS = ("discounted_amount", "order_value", "gift_credits")


def _limit_value(n: Any, name: str) -> str:
    return _money(n) if name in MONEY_LIMITS else _num(n)


def jinja_setup(engine: Any) -> None:
    env = engine.engine
    env.filters["money"] = _money
    env.filters["num"] = _num
    env.filters["when"] = _when
    env.filters["limit_value"] = _limit_value
    env.globals["LABELS"] = {
        "redemptions": "Redemptions",
        "discounted_amount": "Discount budget",
        "order_value": "Order value",
        "gift_credits": "Gift credits",
    }
