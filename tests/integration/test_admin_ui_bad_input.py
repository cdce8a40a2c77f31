"""Nothing a browser (or a forger with a valid session) sends to the web UI produces a 500: every
page and form of every screen, with path parameters that do not exist or cannot, query strings
and form fields of the wrong kind, answers a page of its own or a 4xx error page. The pages are
not in the OpenAPI schema, so the API fuzzer does not reach them: this sweep does."""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import product

import pytest
from gateway_fixtures import InProcess, in_process
from ui_session import close_clients, csrf, sign_in

from admin import ui
from admin.testing import AdminServer

PARAMS = ("camp_summer", "nope", "x" * 300, "é%2F..", "1-0", "v_0")
QUERIES = ("", "?page=-1&after=zz&status=%00&q=%3Cscript%3E&version=now&from=nope&type=x&id=",
           "?after=99999999999999999999&page=1e9&hours=0&format=xml")  # fmt: skip
FIELDS = {"action": "explode", "code": "", "codes": "\x00", "points": "1e309", "reason": "",
          "order_json": "{", "changes": "[", "version": "neither", "redemption_id": "r_nope",
          "campaign_id": "nope", "count": "-5", "name": "", "discount_type": "BOGUS",
          "vouchers_count": "x", "rules_json": "{]", "q": "", "at": "yesterday", "customer": "é" * 300,
          "token": "t", "key_id": "k", "expiration_date": "31/12", "decision": "maybe"}  # fmt: skip


@pytest.fixture
def stack(redis_url: str, key_prefix: str) -> Iterator[tuple[AdminServer, InProcess]]:
    with in_process(redis_url, key_prefix) as g, AdminServer(redis_url, key_prefix, clock=g.clock) as srv:
        try:
            yield srv, g
        finally:
            close_clients()


def _routes() -> list[tuple[str, str]]:
    return sorted((m, p) for s in ui.SCREENS for h in s.HANDLERS for p in h.paths for m in h.http_methods
                  if p not in ("/logout", "/login"))  # fmt: skip


def test_no_page_or_form_of_the_web_ui_answers_a_500(stack: tuple[AdminServer, InProcess]) -> None:
    srv, _g = stack
    c = sign_in(srv)
    token = csrf(c.get("/").text)
    seen = 0
    for (method, path), value in product(_routes(), PARAMS):
        url = re.sub(r"\{\w+:str\}", value, path)
        if method == "GET":
            for q in QUERIES:
                r = c.get(url + q)
                assert r.status_code < 500, (url + q, r.status_code, r.text[:300])
                seen += 1
        else:
            for data in (FIELDS | {"csrf_token": token}, {"csrf_token": token}):
                r = c.post(url, data=data)
                assert r.status_code < 500, (url, data, r.status_code, r.text[:300])
                seen += 1
            r = c.post(url, files={"file": ("x.csv", b"\xff\xfe,\n\x00")}, data={"csrf_token": token})
            assert r.status_code < 500, (url, "multipart", r.status_code, r.text[:300])
    assert seen > 400  # every route was tried
