"""The marketer web UI, served by admin at the root of its address (issue 12).

Pages are rendered on the server (Jinja, ``admin/templates``) and enhanced with htmx; charts
are drawn by uPlot from series the server computes (the same functions as the API's
``/v1/reports/...``). htmx and uPlot come from the npm registry through package-lock.json:
``make build`` copies them into ``admin/static/vendor`` (git-ignored).

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

One module per screen family, each with its ``HANDLERS``; :mod:`admin.ui.base` holds the
session, the signed-in request's context, page rendering, errors and template filters.
"""

from __future__ import annotations

from litestar import Router
from litestar.exceptions import HTTPException

from ..errors import ApiError
from . import (
    actions,
    approvals,
    audit,
    bulk,
    campaigns,
    codelist,
    codes,
    customers,
    editor,
    ledger,
    loyalty,
    preview,
    referrals,
    signin,
)
from .base import STATIC, TEMPLATES, jinja_setup, ui_api_error, ui_http_error, ui_unexpected

__all__ = ["STATIC", "TEMPLATES", "jinja_setup", "router"]

SCREENS = (signin, campaigns, codes, customers, ledger, audit, actions, loyalty, referrals,
           codelist, bulk, editor, preview, approvals)


def router() -> Router:
    return Router(
        path="/",
        route_handlers=[h for screen in SCREENS for h in screen.HANDLERS],
        include_in_schema=False,
        exception_handlers={
            ApiError: ui_api_error,
            HTTPException: ui_http_error,
            Exception: ui_unexpected,
        },
    )
