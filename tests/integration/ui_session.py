"""The web UI over plain HTTP, as a browser keeps it: cookie-keeping clients signed in with an
admin key (closed by :func:`close_clients`, which the suites' fixtures call at teardown), and the
CSRF token of a page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from admin.testing import AdminServer

_OPEN: list[httpx.Client] = []


def csrf(html: str) -> str:
    """The page's CSRF token (the sign-in page's one-time token on /login)."""
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, html[:500]
    return m.group(1)


def client(srv: AdminServer) -> httpx.Client:
    """A cookie-keeping client on ``srv`` (like a browser), not signed in."""
    c = httpx.Client(base_url=srv.url, timeout=60)
    _OPEN.append(c)
    return c


def sign_in(srv: AdminServer, key: tuple[str, str] | None = None) -> httpx.Client:
    """A client signed in with ``key`` (default: the admin's bootstrap key)."""
    kid, tok = key or (srv.admin_id, srv.admin_token)
    c = client(srv)
    nonce = csrf(c.get("/login").text)
    r = c.post("/login", data={"key_id": kid, "token": tok, "csrf_token": nonce})
    assert r.status_code == 303 and r.headers["location"] == "/", r.text
    return c


def close_clients() -> None:
    while _OPEN:
        _OPEN.pop().close()


@contextmanager
def signed_in(srv: AdminServer, key: tuple[str, str] | None = None) -> Iterator[httpx.Client]:
    """:func:`sign_in`, the client closed after."""
    try:
        yield sign_in(srv, key)
    finally:
        close_clients()
