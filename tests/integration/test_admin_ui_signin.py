"""Sign-in rate limiting of the web UI (admin/ui/signin.py): failed sign-ins are counted per
key id and per client address in a 15-minute window; past 10, sign-in answers 429 with a clear
message and ``Retry-After``, without checking the token; a success clears only its own
address' count. Clients on different loopback addresses (127.0.0.x) stand for different
machines."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
import redis

from admin.testing import AdminServer
from admin.ui.signin import FAILURE_WINDOW_S, MAX_FAILURES


@pytest.fixture
def srv(redis_url: str, key_prefix: str) -> Iterator[AdminServer]:
    with AdminServer(redis_url, key_prefix) as s:
        yield s


def _attempt(srv: AdminServer, addr: str, key_id: str, token: str) -> httpx.Response:
    """One sign-in from a fresh browser on ``addr``."""
    with httpx.Client(base_url=srv.url, transport=httpx.HTTPTransport(local_address=addr)) as c:
        nonce = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text)
        assert nonce
        data = {"key_id": key_id, "token": token, "csrf_token": nonce.group(1)}
        return c.post("/login", data=data)


def test_failed_sign_ins_are_limited_per_address_and_per_key(
    srv: AdminServer, redis_url: str
) -> None:
    a, b, c, d = (f"127.0.0.{i}" for i in (1, 2, 3, 4))
    r = redis.Redis.from_url(redis_url)
    try:
        # address B guesses: 9 failures on an unknown key id
        for _ in range(MAX_FAILURES - 1):
            assert _attempt(srv, b, "k_guess", "nope").status_code == 401
        # A signs in: its success does not clear B's count
        assert _attempt(srv, a, srv.admin_id, srv.admin_token).status_code == 303
        assert _attempt(srv, b, "k_other", "nope").status_code == 401  # B's 10th failure
        locked = _attempt(srv, b, srv.admin_id, srv.admin_token)  # even the right token
        assert locked.status_code == 429, locked.text
        assert "Too many failed sign-ins" in locked.text and "try again in 15 minutes" in locked.text
        assert 0 < int(locked.headers["retry-after"]) <= FAILURE_WINDOW_S
        assert "pg_session" not in locked.headers.get("set-cookie", "")
        # A is not held back by B's failures
        assert _attempt(srv, a, srv.admin_id, srv.admin_token).status_code == 303
        # per key: failures on the admin key from two addresses lock that key everywhere
        for i in range(MAX_FAILURES):
            assert _attempt(srv, c if i % 2 else a, srv.admin_id, "wrong").status_code == 401
        held = _attempt(srv, d, srv.admin_id, srv.admin_token)
        assert held.status_code == 429 and "Retry-After" in held.headers
        # another key from D still signs in (its address has no failure)
        analyst = srv.key("analyst")
        assert _attempt(srv, d, *analyst).status_code == 303
        # the counters expire with their window; key ids are stored hashed
        names = [k.decode() for k in r.scan_iter(match=srv.prefix + "ui:signin:fail:*")]
        assert names and all(0 < r.ttl(n) <= FAILURE_WINDOW_S for n in names)
        assert not [n for n in names if srv.admin_id in n or "k_guess" in n]
    finally:
        r.close()
