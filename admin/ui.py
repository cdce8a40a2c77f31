"""The marketer web UI, served by admin at the root of its address (issue 12): home, campaigns
with the burn chart, code lookup, customer 360 with its timeline and rollback, the ledger, the
audit log as diffs.

Pages are rendered on the server (Jinja, ``admin/templates``) and enhanced with htmx; the
burn chart is drawn by uPlot from a series the server computes (the same function as
``GET /v1/reports/campaigns/{id}/series``). htmx and uPlot come from the npm registry through
package-lock.json: ``make build`` copies them into ``admin/static/vendor`` (git-ignored).

Sign-in takes an admin key (id + token), checked by the same :func:`admin.auth.authenticate`
as every API call. A session is a random id in an ``HttpOnly``, ``SameSite=Strict`` cookie
(``Secure`` and ``__Host-`` prefixed over https) that expires with it; Redis keeps only the
id's SHA-256 (``Pui:session:<sha256>``, :mod:`store.keys`) with the key id and a CSRF token,
under the session's TTL. Every request re-reads the key, so revoking it ends its sessions.

The UI calls admin's own functions and routes in process, never over HTTP: it puts the
session's actor in the request scope (:data:`admin.app.UI_ACTOR`, after checking the cookie
and, on a POST, the CSRF token and the Origin) and :func:`admin.app.begin` applies the very
role check the API applies, so every refusal comes from there. The pages offer only what the
signed-in role may do (:func:`admin.auth.can`). A code is a bearer value (a gift card's is
money): it never goes into a URL, only into POST bodies.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import msgspec
from litestar import MediaType, Request, Response, Router, get, post
from litestar.datastructures import Cookie
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from store.unavailable import is_unavailable

from . import audit, reports
from .app import UI_ACTOR, Admin, Ctx, begin
from .audit import Actor, check_cursor
from .auth import authenticate, can, key_actor, require
from .errors import ApiError
from .routes_defs import (
    disable_campaign,
    disable_voucher,
    enable_campaign,
    enable_voucher,
    find_voucher,
    voucher_view,
)
from .routes_ledger import customer_wallet, rollback_redemption
from .routes_members import live_customer
from .routes_people import customer_key, load_customer, segments_of
from .shapes import iso

log = logging.getLogger("promogate.admin.ui")

HERE = Path(__file__).parent
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


# ------------------------------------------------------------------------------- sign-in


def _login_page(
    request: Request, error: str | None = None, status: int = 200, key_id: str = ""
) -> Template:
    nonce = secrets.token_urlsafe(24)
    t = Template(
        template_name="login.html",
        context={"nonce": nonce, "error": error, "key_id": key_id[:MAX_FIELD], "path": "/login"},
        status_code=status,
        headers=SECURITY_HEADERS,
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
    try:
        actor = await authenticate(adm.redis, adm.keys, key_id[:MAX_FIELD], token[:MAX_FIELD])
        require(actor, "read")
    except ApiError as exc:
        msg = (
            "Unknown key id or wrong token."
            if exc.status == 401
            else "This key's role cannot use admin (an `application` key is for checkout)."
        )
        return _login_page(request, msg, exc.status, key_id)
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


def _clear(resp: Response, request: Request, name: str, path: str) -> None:
    """Expire a cookie, with the attributes it was set with."""
    resp.set_cookie(name, "", max_age=0, path=path, httponly=True, samesite="strict",
                    secure=_secure(request))  # fmt: skip


@post("/logout", include_in_schema=False, status_code=303)
async def logout(request: Request) -> Response:
    form = await _form(request)
    got = await _enter(request, "read", form)
    if isinstance(got, Response):
        return got
    _ctx, signed = got
    adm = _admin(request)
    await adm.redis.delete(adm.keys.ui_session(signed.sid_hash))
    resp = Redirect("/login", status_code=303, headers=SECURITY_HEADERS)
    _clear(resp, request, SECURE_COOKIE if _secure(request) else COOKIE, "/")
    return resp


# ------------------------------------------------------------------------------- home


async def _statuses(ctx: Ctx, campaigns: list[Any]) -> list[dict[str, Any]]:
    counters = await reports.campaigns_counters(ctx.r, ctx.k, [c.id for c in campaigns])
    now = ctx.now()
    return [
        reports.campaign_status(c, cnt, now) | {"counters": cnt}
        for c, cnt in zip(campaigns, counters, strict=True)
    ]


@get("/", include_in_schema=False)
async def home(request: Request) -> Response:
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    st = await ctx.repo.state()
    camps = list(st.defs.campaigns)
    statuses = await _statuses(ctx, camps)
    by_status = {s: 0 for s in STATUSES}
    for s in statuses:
        by_status[s["status"]] += 1
    async with ctx.r.pipeline(transaction=False) as pipe:
        for c in camps:
            pipe.llen(ctx.k.list_codes(c.id))
        lens = await pipe.execute() if camps else []
    codes = len(st.defs.vouchers) + sum(int(n) for n in lens)
    hour = await reports.last_hour(ctx.r, ctx.k, ctx.now())
    return _page("home.html", ctx, signed, by_status=by_status, campaigns=len(camps), codes=codes,
                 hour=hour, version=st.version)  # fmt: skip


# ------------------------------------------------------------------------------- campaigns


def _int(v: str | None, default: int, lo: int, hi: int) -> int:
    try:
        n = int(v) if v else default
    except ValueError:
        return default
    return max(lo, min(hi, n))


@get("/campaigns", include_in_schema=False)
async def campaigns(request: Request) -> Response:
    """Filters in the URL: ``status``, ``type``, ``q`` (name contains), ``page``."""
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    qp = request.query_params
    status = qp.get("status") if qp.get("status") in STATUSES else ""
    ctype = qp.get("type") if qp.get("type") in CAMPAIGN_TYPES else ""
    q = (qp.get("q") or "")[:MAX_FIELD]
    page = _int(qp.get("page"), 1, 1, 1_000_000)
    st = await ctx.repo.state()
    camps = [c for c in st.defs.campaigns
             if (not ctype or c.campaign_type == ctype) and (not q or q.lower() in c.name.lower())]  # fmt: skip
    camps.sort(key=lambda c: c.created_seq, reverse=True)
    rows = [(c, s) for c, s in zip(camps, await _statuses(ctx, camps), strict=True)
            if not status or s["status"] == status]  # fmt: skip
    total = len(rows)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(page, pages)
    shown = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]

    def link(**change: Any) -> str:
        params = {"status": status, "type": ctype, "q": q, "page": page, **change}
        query = urlencode({k: v for k, v in params.items() if v not in ("", None, 1)})
        return "/campaigns" + ("?" + query if query else "")

    canonical = link()
    here = request.url.path + ("?" + request.url.query if request.url.query else "")
    if here != canonical:  # a filter form sends its empty fields too: keep the URL clean
        return Redirect(canonical, status_code=303, headers=SECURITY_HEADERS)

    return _page("campaigns.html", ctx, signed, rows=shown, total=total, page=page, pages=pages,
                 status=status, ctype=ctype, q=q, statuses=STATUSES, types=CAMPAIGN_TYPES,
                 prev_link=link(page=page - 1) if page > 1 else None,
                 next_link=link(page=page + 1) if page < pages else None)  # fmt: skip


async def _campaign_page(
    ctx: Ctx, signed: Signed, campaign_id: str, notice: str | None = None
) -> Template:
    from .routes_defs import CAMPAIGN

    st = await ctx.repo.state()
    camp = CAMPAIGN.get(st, campaign_id)  # 404 not_found
    (status,) = await _statuses(ctx, [camp])
    series = await reports.campaign_series(ctx.r, ctx.k, camp, ctx.now(), SERIES_HOURS)
    codes = int(await ctx.r.llen(ctx.k.list_codes(camp.id))) + sum(
        1 for v in st.defs.vouchers if v.campaign_id == camp.id
    )
    return _page("campaign.html", ctx, signed, camp=camp, st=status, series=series,
                 series_json=_json_island(series), codes=codes, notice=notice,
                 version=st.version)  # fmt: skip


@get("/campaigns/{campaign_id:str}", include_in_schema=False)
async def campaign(request: Request, campaign_id: FromPath[str]) -> Response:
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    return await _campaign_page(ctx, signed, campaign_id)


@post("/campaigns/{campaign_id:str}/state", include_in_schema=False, status_code=200)
async def campaign_state(request: Request, campaign_id: FromPath[str]) -> Response:
    """Enable or disable a campaign through the API's own route (role ``write``)."""
    form = await _form(request)
    action = form.get("action")
    got = await _enter(request, "read", form)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    if action not in ("enable", "disable"):
        raise ApiError(
            400, "invalid_payload", "Invalid payload", "`action` must be enable or disable"
        )
    route = enable_campaign if action == "enable" else disable_campaign
    await route.fn(request, campaign_id=campaign_id)  # its begin(): the API's role check
    return await _campaign_page(ctx, signed, campaign_id, notice=f"Campaign {action}d.")


# ------------------------------------------------------------------------------- codes


async def _code_panel(ctx: Ctx, code: str) -> dict[str, Any]:
    st, v, _ = await find_voucher(ctx, code)
    view = await voucher_view(ctx, v, st)
    return {"v": view}


@get("/codes", include_in_schema=False)
async def codes_form(request: Request) -> Response:
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    return _page("codes.html", ctx, signed, v=None, looked_up=None)


@post("/codes", include_in_schema=False, status_code=200)
async def code_lookup(request: Request) -> Response:
    """Exact code lookup (one key read at any scale); the code travels in the body, never in
    the URL."""
    form = await _form(request)
    got = await _enter(request, "read", form)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    code = form.get("code", "").strip()[:MAX_FIELD]
    if not code:
        return _page("codes.html", ctx, signed, 400, v=None, looked_up="", error="Type a code.")
    try:
        panel = await _code_panel(ctx, code)
    except ApiError as exc:
        if exc.status != 404:
            raise
        return _page("codes.html", ctx, signed, 404, v=None, looked_up=code,
                     error=f"No code {code!r}.")  # fmt: skip
    return _page("codes.html", ctx, signed, looked_up=code, **panel)


@post("/codes/state", include_in_schema=False, status_code=200)
async def code_state(request: Request) -> Response:
    """Disable or enable one code through the API's own route (role ``code_state``)."""
    form = await _form(request)
    got = await _enter(request, "read", form)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    code = form.get("code", "").strip()[:MAX_FIELD]
    action = form.get("action")
    if not code or action not in ("enable", "disable"):
        raise ApiError(
            400,
            "invalid_payload",
            "Invalid payload",
            "`code` and `action` (enable or disable) are required",
        )
    route = enable_voucher if action == "enable" else disable_voucher
    await route.fn(request, code=code)  # its begin(): the API's role check, audited, published
    panel = await _code_panel(ctx, code)
    notice = (
        f"Code {code} {action}d: the gateways refuse it now."
        if action == "disable"
        else f"Code {code} enabled."
    )
    if request.headers.get("hx-request"):
        return _page("_code.html", ctx, signed, looked_up=code, notice=notice, **panel)
    return _page("codes.html", ctx, signed, looked_up=code, notice=notice, **panel)


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


@get("/customers", include_in_schema=False)
async def customers(request: Request) -> Response:
    """The newest customers (``page``), and the search box: ``q`` is an id or a source_id (an
    exact match, one key read) and opens that customer's 360."""
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    qp = request.query_params
    q = (qp.get("q") or "").strip()[:MAX_FIELD]
    if q:
        return Redirect("/customers/" + quote(q, safe=""), status_code=303,
                        headers=SECURITY_HEADERS)  # fmt: skip
    page = _int(qp.get("page"), 1, 1, 1_000_000)
    total = int(await ctx.r.zcard(ctx.k.customers))
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(page, pages)
    start = (page - 1) * PAGE_SIZE
    ids = await ctx.r.zrevrange(ctx.k.customers, start, start + PAGE_SIZE - 1)
    raws = await ctx.r.mget([ctx.k.customer(i.decode()) for i in ids]) if ids else []
    rows = [msgspec.json.decode(r) for r in raws if r]
    return _page("customers.html", ctx, signed, rows=rows, total=total, page=page, pages=pages,
                 prev_link=f"/customers?page={page - 1}" if page > 1 else None,
                 next_link=f"/customers?page={page + 1}" if page < pages else None)  # fmt: skip


async def _customer_page(
    ctx: Ctx, signed: Signed, ident: str, after: str | None, notice: str | None = None,
    error: str | None = None, http_status: int = 200,
) -> Template:
    cust = await load_customer(ctx, ident)
    key = customer_key(cust) if cust is not None else ident
    rows, more = await _timeline(ctx, reports.Filters(customer=key), after)
    if cust is None and not rows and after is None:
        raise ApiError(404, "not_found", "Resource not found",
                       f"No customer {ident!r} (no stored profile, no redemption)")  # fmt: skip
    wallet: list[dict[str, Any]] = []
    balances: dict[str, int] = {}
    live: dict[str, Any] = {}
    segments: list[dict[str, Any]] = []
    if cust is not None:
        wallet, balances = await customer_wallet(ctx, cust)
        live = await live_customer(ctx, cust)
        segments = await segments_of(ctx, cust)
    base = "/customers/" + quote(ident, safe="")
    return _page("customer.html", ctx, signed, http_status, cust=cust, ident=ident, key=key,
                 wallet=wallet, balances=balances, live=live, segments=segments,
                 groups=_groups(rows), base=base, notice=notice, error=error,
                 next_link=f"{base}?after={more}" if more else None,
                 first_link=base if after else None)  # fmt: skip


@get("/customers/{ident:str}", include_in_schema=False)
async def customer(request: Request, ident: FromPath[str]) -> Response:
    """Customer 360: profile, segments, wallet with live balances, live summary, referrals,
    and the timeline of their redemptions, refusals included (newest first, ``after``)."""
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    after = _cursor(request.query_params.get("after"), row=True)
    return await _customer_page(ctx, signed, ident[:MAX_FIELD], after)


@post("/customers/{ident:str}/rollback", include_in_schema=False, status_code=200)
async def customer_rollback(request: Request, ident: FromPath[str]) -> Response:
    """Roll back one redemption with a required reason, through the API's own route (its role
    check ``rollback``, its audit entry ``redemption.rollback``)."""
    form = await _form(request)
    got = await _enter(request, "read", form)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    return await _rollback_then(request, form, lambda notice, error, status: _customer_page(
        ctx, signed, ident[:MAX_FIELD], None, notice, error, status))  # fmt: skip


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
        await rollback_redemption.fn(request, redemption_id=rid)  # begin(): the role check
    except ApiError as exc:
        if exc.status in (401, 403):
            raise
        return await render(None, f"{rid} not rolled back: {exc.details}", exc.status)
    return await render(f"Redemption {rid} rolled back (audited).", None, 200)


# ------------------------------------------------------------------------------- ledger


@get("/ledger", include_in_schema=False)
async def ledger(request: Request) -> Response:
    """Every attempt, newest first, with facets in the URL: ``status``, ``failure_key``,
    ``campaign``, ``customer``; ``after`` pages on."""
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    qp = request.query_params
    status = qp.get("status") if qp.get("status") in LEDGER_STATUSES else ""
    fkey = (qp.get("failure_key") or "").strip()[:MAX_FIELD]
    camp = (qp.get("campaign") or "").strip()[:MAX_FIELD]
    cust = (qp.get("customer") or "").strip()[:MAX_FIELD]
    after = _cursor(qp.get("after"), row=True)
    params = {"status": status, "failure_key": fkey, "campaign": camp, "customer": cust,
              "after": after}  # fmt: skip
    clean = _canonical(request, "/ledger", params)
    if clean is not None:
        return Redirect(clean, status_code=303, headers=SECURITY_HEADERS)
    flt = reports.Filters(status=status or None, failure_code=fkey or None,
                          campaign_id=camp or None, customer=cust or None)  # fmt: skip
    rows, more = await _timeline(ctx, flt, after)
    st = await ctx.repo.state()
    hour = await reports.last_hour(ctx.r, ctx.k, ctx.now(), top=20)
    next_link = "/ledger?" + urlencode({k: v for k, v in {**params, "after": more}.items() if v}) \
        if more else None  # fmt: skip
    first = {k: v for k, v in params.items() if v and k != "after"}
    first_link = ("/ledger" + ("?" + urlencode(first) if first else "")) if after else None
    return _page("ledger.html", ctx, signed, groups=_groups(rows), status=status, fkey=fkey,
                 camp=camp, cust=cust, statuses=LEDGER_STATUSES, campaigns=st.defs.campaigns,
                 known_keys=[f["key"] for f in hour["top_failure_keys"]],
                 next_link=next_link, first_link=first_link,
                 here=request.url.path + ("?" + request.url.query if request.url.query else ""))  # fmt: skip


@post("/ledger/rollback", include_in_schema=False, status_code=200)
async def ledger_rollback(request: Request) -> Response:
    """Roll back from the ledger (a row, or a stacked parent with its children)."""
    form = await _form(request)
    got = await _enter(request, "read", form)
    if isinstance(got, Response):
        return got
    ctx, signed = got

    async def render(notice: str | None, error: str | None, status: int) -> Response:
        back = form.get("back", "")
        if not back.startswith("/ledger"):
            back = "/ledger"
        if error is None:
            return Redirect(back, status_code=303, headers=SECURITY_HEADERS)
        return _page("error.html", ctx, signed, status, status=status, title="Not rolled back",
                     details=error)  # fmt: skip

    return await _rollback_then(request, form, render)


# ------------------------------------------------------------------------------- audit

#: object types the audit filter offers (any other is accepted from the URL)
AUDIT_TYPES = ("campaign", "voucher", "promotion_tier", "validation_rule", "customer", "segment",
               "loyalty_card", "redemption", "key", "product", "stacking_rules")  # fmt: skip


def _flat(obj: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` as ``{"a.b": 1}`` (lists kept whole)."""
    if not isinstance(obj, dict):
        return {prefix or "(value)": obj} if obj is not None else {}
    out: dict[str, Any] = {}
    for k, v in obj.items():
        path = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            out.update(_flat(v, path))
        else:
            out[path] = v
    return out


def _shown(v: Any) -> str:
    text = v if isinstance(v, str) else msgspec.json.encode(v).decode()
    return text if len(text) <= 300 else text[:300] + "…"


def diff(before: Any, after: Any) -> list[dict[str, str]]:
    """The fields an audited change touched, each with its value before and after
    (``""`` where it did not exist)."""
    b, a = _flat(before), _flat(after)
    out = []
    for path in sorted(set(b) | set(a)):
        if path in b and path in a and b[path] == a[path]:
            continue
        kind = "changed" if path in b and path in a else ("added" if path in a else "removed")
        out.append({"path": path, "kind": kind, "before": _shown(b[path]) if path in b else "",
                    "after": _shown(a[path]) if path in a else ""})  # fmt: skip
    return out


@get("/audit", include_in_schema=False)
async def audit_page(request: Request) -> Response:
    """The audit trail newest first as diffs; ``type`` / ``id`` filter in the URL, ``after``
    pages on."""
    got = await _enter(request)
    if isinstance(got, Response):
        return got
    ctx, signed = got
    qp = request.query_params
    otype = (qp.get("type") or "").strip()[:MAX_FIELD]
    oid = (qp.get("id") or "").strip()[:MAX_FIELD]
    after = _cursor(qp.get("after"), row=False)
    params = {"type": otype, "id": oid, "after": after}
    clean = _canonical(request, "/audit", params)
    if clean is not None:
        return Redirect(clean, status_code=303, headers=SECURITY_HEADERS)
    out = await audit.query(ctx.r, ctx.k.audit, object_type=otype or None, object_id=oid or None,
                            limit=PAGE_SIZE, starting_after=after)  # fmt: skip
    entries = [e | {"diff": diff(e["before"], e["after"])} for e in out["data"]]
    more = out["more_starting_after"]
    filt = {k: v for k, v in params.items() if v and k != "after"}
    next_link = "/audit?" + urlencode({**filt, "after": more}) if more else None
    first_link = ("/audit" + ("?" + urlencode(filt) if filt else "")) if after else None
    return _page("audit.html", ctx, signed, entries=entries, otype=otype, oid=oid,
                 types=AUDIT_TYPES, next_link=next_link, first_link=first_link)  # fmt: skip


# ------------------------------------------------------------------------------- errors


def _error_page(request: Request, status: int, title: str, details: str) -> Response:
    context = {"status": status, "title": title, "details": details, "path": request.url.path}
    return Template(template_name="error.html", context=context, status_code=status,
                    headers=SECURITY_HEADERS, media_type=MediaType.HTML)  # fmt: skip


def _ui_api_error(request: Request, exc: ApiError) -> Response:
    return _error_page(request, exc.status, exc.message, exc.details)


def _ui_http_error(request: Request, exc: HTTPException) -> Response:
    return _error_page(request, exc.status_code, "Error", str(exc.detail or ""))


def _ui_unexpected(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ApiError):
        return _ui_api_error(request, exc)
    if is_unavailable(exc):
        return _error_page(
            request, 503, "Service unavailable", "Redis cannot be reached: try again shortly."
        )
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return _error_page(request, 500, "Internal error", "An unexpected error occurred.")


def router() -> Router:
    return Router(
        path="/",
        route_handlers=[
            login_form,
            login,
            logout,
            home,
            campaigns,
            campaign,
            campaign_state,
            codes_form,
            code_lookup,
            code_state,
            customers,
            customer,
            customer_rollback,
            ledger,
            ledger_rollback,
            audit_page,
        ],  # fmt: skip
        include_in_schema=False,
        exception_handlers={
            ApiError: _ui_api_error,
            HTTPException: _ui_http_error,
            Exception: _ui_unexpected,
        },
    )


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
