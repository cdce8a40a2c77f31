"""admin's web UI over plain HTTP (no browser): the session cookie and its Redis record, the
CSRF checks, the role checks shared with the API, and the burn chart's series against the
live counters (with a rollback). The browser tests (tests/browser) drive the same pages in
Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from gateway_fixtures import InProcess, body, in_process, voucher
from ui_session import client as _client
from ui_session import close_clients
from ui_session import csrf as _csrf
from ui_session import sign_in as _sign_in

from admin.testing import AdminServer
from store.auth import token_hash


@pytest.fixture
def stack(redis_url: str, key_prefix: str) -> Iterator[tuple[AdminServer, InProcess]]:
    with in_process(redis_url, key_prefix) as g, AdminServer(redis_url, key_prefix) as srv:
        try:
            yield srv, g
        finally:
            close_clients()


def test_session_cookie_and_its_record(stack: tuple[AdminServer, InProcess]) -> None:
    srv, g = stack
    c = _client(srv)
    r = c.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    page = c.get("/login")
    assert "Content-Security-Policy" in page.headers and page.headers["cache-control"] == "no-store"
    nonce = _csrf(page.text)
    # without the login nonce (cookie + field), the form is refused before the key is checked
    bare = httpx.post(srv.url + "/login", data={"key_id": srv.admin_id, "token": srv.admin_token})
    assert bare.status_code == 403 and "pg_session" not in bare.headers.get("set-cookie", "")
    wrong = c.post("/login", data={"key_id": srv.admin_id, "token": "nope", "csrf_token": nonce})
    assert wrong.status_code == 401 and "nope" not in wrong.text
    nonce = _csrf(wrong.text)
    r = c.post(
        "/login", data={"key_id": srv.admin_id, "token": srv.admin_token, "csrf_token": nonce}
    )
    assert r.status_code == 303
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("pg_session="))
    attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "max-age", "path", "samesite"} <= attrs and "secure" not in attrs  # http
    assert "SameSite=strict" in cookie and "Max-Age=28800" in cookie and "Path=/" in cookie
    sid = cookie.split(";")[0].split("=", 1)[1]
    # Redis keeps only the id's hash, under the key prefix, with the session's TTL
    keys = [k.decode() for k in g.redis.scan_iter(match=srv.prefix + "ui:session:*")]
    assert keys == [srv.prefix + "ui:session:" + token_hash(sid)]
    assert 28_700 < g.redis.ttl(keys[0]) <= 28_800
    assert srv.admin_token.encode() not in g.redis.get(keys[0])
    home = c.get("/")
    assert home.status_code == 200 and srv.admin_token not in home.text
    # revoking the key ends its sessions
    support = srv.key("support")
    c2 = _sign_in(srv, support)
    assert c2.get("/").status_code == 200
    assert srv.request("DELETE", f"/v1/keys/{support[0]}").status_code in (200, 204)
    assert c2.get("/").status_code == 303
    # signing out deletes the record
    assert c.post("/logout", data={"csrf_token": _csrf(home.text)}).status_code == 303
    assert not list(g.redis.scan_iter(match=srv.prefix + "ui:session:*"))
    assert c.get("/").status_code == 303


def test_csrf_origin_and_roles_on_every_change(stack: tuple[AdminServer, InProcess]) -> None:
    srv, _g = stack
    c = _sign_in(srv)
    csrf = _csrf(c.get("/codes").text)
    form = {"code": "GEN5", "action": "disable"}
    assert c.post("/codes/state", data=form).status_code == 403  # no token
    assert c.post("/codes/state", data={**form, "csrf_token": "x" * 43}).status_code == 403
    other = c.post("/codes/state", data={**form, "csrf_token": csrf},
                   headers={"Origin": "https://evil.example"})  # fmt: skip
    assert other.status_code == 403
    assert srv.request("GET", "/v1/vouchers/GEN5").json()["active"] is True
    ok = c.post("/codes/state", data={**form, "csrf_token": csrf}, headers={"Origin": srv.url})
    assert ok.status_code == 200 and "Enable code" in ok.text
    assert srv.request("GET", "/v1/vouchers/GEN5").json()["active"] is False
    # htmx asks for the panel alone
    part = c.post("/codes/state", data={"code": "GEN5", "action": "enable", "csrf_token": csrf},
                  headers={"HX-Request": "true"})  # fmt: skip
    assert part.status_code == 200 and part.text.lstrip().startswith(
        '<section class="card" id="code-panel"'
    )
    # a marketer may disable a campaign, from its page
    page = c.get("/campaigns/camp_gen")
    assert "Disable campaign" in page.text
    r = c.post("/campaigns/camp_gen/state", data={"action": "disable", "csrf_token": csrf})
    assert r.status_code == 200 and "Enable campaign" in r.text
    assert srv.request("GET", "/v1/campaigns/camp_gen").json()["active"] is False
    audit = srv.request("GET", "/v1/audit-log", params={"action": "campaign.disable"}).json()
    assert audit["data"][0]["actor"]["id"] == srv.admin_id
    # an analyst sees no control and is refused by the API's own check
    a = _sign_in(srv, srv.key("analyst"))
    page = a.get("/campaigns/camp_lim")
    assert "Disable campaign" not in page.text
    r = a.post(
        "/campaigns/camp_lim/state", data={"action": "disable", "csrf_token": _csrf(page.text)}
    )
    assert r.status_code == 403 and "has the `analyst` role" in r.text
    # an application key cannot sign in
    app_key = srv.key("application")
    x = _client(srv)
    nonce = _csrf(x.get("/login").text)
    r = x.post("/login", data={"key_id": app_key[0], "token": app_key[1], "csrf_token": nonce})
    assert r.status_code == 403 and "pg_session" not in r.headers.get("set-cookie", "")


def test_pages_answer_and_are_not_in_the_api_schema(stack: tuple[AdminServer, InProcess]) -> None:
    srv, _g = stack
    c = _sign_in(srv)
    for path in (
        "/",
        "/campaigns",
        "/campaigns?status=running&type=PROMOTION",
        "/campaigns/camp_promo",
        "/codes",
        "/customers",
        "/ledger",
        "/ledger?status=FAILED&campaign=camp_gen",
        "/audit",
        "/audit?type=campaign",
    ):
        r = c.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), path
    assert c.get("/campaigns?q=&status=&page=1").headers["location"] == "/campaigns"
    assert c.get("/campaigns?page=99").headers["location"] == "/campaigns"
    assert c.get("/campaigns/nope").status_code == 404
    assert (
        c.post(
            "/codes", data={"code": "NOPE", "csrf_token": _csrf(c.get("/codes").text)}
        ).status_code
        == 404
    )
    paths = srv.request("GET", "/schema/openapi.json").json()["paths"]
    assert "/v1/reports/campaigns/{campaign_id}/series" in paths
    assert not [p for p in paths if not p.startswith("/v1") and p not in ("/health", "/ready")]
    assert httpx.get(srv.url + "/static/vendor/htmx.min.js").status_code == 200


def test_series_ends_at_the_live_counters_net_of_rollbacks(
    stack: tuple[AdminServer, InProcess],
) -> None:
    srv, g = stack
    ids = []
    for i in range(3):
        r = g.redeem(body(voucher("LIMITED100"), customer=f"c{i}"))
        assert r.status_code == 200, r.text
        ids.append(r.json()["redemptions"][0]["id"])
    assert g.rollback(ids[0]).status_code == 200
    s = srv.request("GET", "/v1/reports/campaigns/camp_lim/series", params={"hours": 5}).json()
    assert len(s["t"]) == len(s["succeeded"]) == 5 and s["t"][1] - s["t"][0] == 3600
    assert sum(s["succeeded"]) == 3 and sum(s["rolled_back"]) == 1
    assert s["redemptions_used"][-1] == g.counter("{c:camp_lim}:uses") == 2
    assert s["redemptions_used"][0] == 0 or s["succeeded"][0]  # before: nothing used
    assert s["limits"] == {"redemptions": None, "discounted_amount": None}
    assert (
        srv.request(
            "GET", "/v1/reports/campaigns/camp_lim/series", params={"hours": 721}
        ).status_code
        == 400
    )
    assert srv.request("GET", "/v1/reports/campaigns/nope/series").status_code == 404


def _redeemed(g: InProcess, code: str, customer: str) -> str:
    r = g.redeem(body(voucher(code), customer=customer))
    assert r.status_code == 200, r.text
    return r.json()["redemptions"][0]["id"]


def test_customer_360_timeline_and_rollback_with_a_reason(
    stack: tuple[AdminServer, InProcess],
) -> None:
    srv, g = stack
    assert srv.request("POST", "/v1/customers", json={"source_id": "ana", "name": "Ana",
                                                       "email": "ana@example.com"}).status_code == 200  # fmt: skip
    rid = _redeemed(g, "LOCK1", "ana")
    refused = g.redeem(body(voucher("LOCK1"), customer="ana"))
    assert refused.status_code == 400
    key = refused.json()["key"]
    c = _sign_in(srv)
    listing = c.get("/customers")
    assert listing.status_code == 200 and "Ana" in listing.text
    assert c.get("/customers?q=ana").headers["location"] == "/customers/ana"
    page = c.get("/customers/ana")
    assert page.status_code == 200, page.text
    assert 'data-status="SUCCEEDED"' in page.text and rid in page.text
    assert 'data-status="FAILED"' in page.text and f'data-figure="failure-key">{key}<' in page.text
    assert page.text.index('data-status="FAILED"') < page.text.index('data-status="SUCCEEDED"')
    assert "Roll back" in page.text and "ana@example.com" in page.text
    csrf = _csrf(page.text)
    # a reason is required; no CSRF token, no rollback
    no_reason = c.post("/customers/ana/rollback", data={"redemption_id": rid, "reason": " ",
                                                        "csrf_token": csrf})  # fmt: skip
    assert no_reason.status_code == 400 and "a reason is required" in no_reason.text
    assert c.post("/customers/ana/rollback",
                  data={"redemption_id": rid, "reason": "x"}).status_code == 403  # fmt: skip
    # an analyst is not offered the action and is refused by the API's check
    a = _sign_in(srv, srv.key("analyst"))
    apage = a.get("/customers/ana")
    assert apage.status_code == 200 and "Roll back" not in apage.text
    forged = a.post("/customers/ana/rollback", data={"redemption_id": rid, "reason": "nope",
                                                     "csrf_token": _csrf(apage.text)})  # fmt: skip
    assert forged.status_code == 403 and "has the `analyst` role" in forged.text
    done = c.post("/customers/ana/rollback", data={"redemption_id": rid,
                  "reason": "customer returned the order", "csrf_token": csrf})  # fmt: skip
    assert done.status_code == 200 and "rolled back (audited)" in done.text
    assert 'data-status="ROLLED_BACK"' in done.text and "customer returned the order" in done.text
    again = c.post("/customers/ana/rollback", data={"redemption_id": rid, "reason": "twice",
                                                    "csrf_token": csrf})  # fmt: skip
    assert again.status_code == 400 and "was rolled back by" in again.text
    # the code can be redeemed again: its use was given back
    assert g.redeem(body(voucher("LOCK1"), customer="bob")).status_code == 200
    entry = srv.request("GET", "/v1/audit-log", params={"action": "redemption.rollback"}).json()
    assert entry["data"][0]["resource_id"] == rid
    assert entry["data"][0]["after"]["reason"] == "customer returned the order"
    row = srv.request("GET", "/v1/redemptions", params={"customer": "ana", "status": "ROLLED_BACK"})
    assert row.json()["redemptions"][0]["rollback_reason"] == "customer returned the order"
    audit_page = c.get("/audit?type=redemption")
    assert audit_page.status_code == 200 and "redemption.rollback" in audit_page.text
    assert "customer returned the order" in audit_page.text
    assert c.get("/customers/nobody").status_code == 404


def test_ledger_facets_paging_and_the_api_rollback(stack: tuple[AdminServer, InProcess]) -> None:
    srv, g = stack
    ids = [_redeemed(g, "GEN5", f"c{i}") for i in range(25)]
    assert g.redeem(body(voucher("NOPE-CODE"), customer="c1")).status_code in (400, 404)
    c = _sign_in(srv)
    page = c.get("/ledger")
    assert page.status_code == 200 and page.text.count('class="row ') == 20
    m = re.search(r'href="(/ledger\?after=[^"]+)" rel="next"', page.text)
    assert m, page.text[-2000:]
    nxt = c.get(m.group(1).replace("&amp;", "&"))
    assert nxt.status_code == 200 and ids[0] in nxt.text
    failed = c.get("/ledger?status=FAILED")
    assert failed.text.count('data-status="FAILED"') >= 1 and 'data-status="SUCCEEDED"' not in failed.text
    assert c.get("/ledger?status=&failure_key=&campaign=&customer=").headers["location"] == "/ledger"
    by_customer = c.get("/ledger?customer=c3")
    assert by_customer.text.count('class="row ') == 1 and ids[3] in by_customer.text
    assert c.get("/ledger?after=nonsense").status_code == 400
    # the API: a reason is required, analysts are refused, then it is rolled back once
    path = f"/v1/redemptions/{ids[3]}/rollback"
    assert srv.request("POST", path, json={}).status_code == 400
    ana = srv.key("analyst")
    r = httpx.post(srv.url + path, json={"reason": "x"},
                   headers={"X-App-Id": ana[0], "X-App-Token": ana[1]})  # fmt: skip
    assert r.status_code == 403
    r = srv.request("POST", path, json={"reason": "test"})
    assert r.status_code == 200 and r.json()["rolled_back"] == [ids[3]], r.text
    assert srv.request("POST", path, json={"reason": "test"}).json()["key"] == "already_rolled_back"
    assert srv.request("POST", "/v1/redemptions/r_nope/rollback", json={"reason": "x"}).status_code == 404
    rolled = c.get("/ledger?status=ROLLED_BACK")
    assert rolled.text.count('class="row ') == 1
    # the ledger's own rollback form returns to the filtered list
    nxt_id = ids[4]
    form = {"redemption_id": nxt_id, "reason": "dup", "csrf_token": _csrf(page.text),
            "back": "/ledger?customer=c4"}  # fmt: skip
    r = c.post("/ledger/rollback", data=form)
    assert r.status_code == 303 and r.headers["location"] == "/ledger?customer=c4"
    assert "ROLLED_BACK" in c.get("/ledger?customer=c4").text
    # a stacked redemption: its parent above its children, rolled back whole from the ledger
    r = g.redeem(body(voucher("GEN5"), voucher("LIMITED100"), customer="stack"))
    assert r.status_code == 200, r.text
    parent = r.json()["parent_redemption"]["id"]
    page = c.get("/ledger?customer=stack")
    assert f'data-parent="{parent}"' in page.text and "Stacked redemption" in page.text
    assert page.text.count('class="row s-row-succeeded child"') == 2 and "Roll back all" in page.text
    r = c.post("/ledger/rollback", data={"redemption_id": parent, "reason": "stacked",
                                         "csrf_token": _csrf(page.text), "back": "/ledger?customer=stack"})  # fmt: skip
    assert r.status_code == 303
    page = c.get("/ledger?customer=stack")
    assert page.text.count('data-status="ROLLED_BACK"') == 2 and "Roll back all" not in page.text


def test_a_background_task_page_shows_its_progress_until_it_ends(
    stack: tuple[AdminServer, InProcess],
) -> None:
    srv, _g = stack
    made = srv.request("POST", "/v1/campaigns", json={
        "name": "Bulk", "campaign_type": "DISCOUNT_COUPONS", "type": "AUTO_UPDATE",
        "vouchers_count": 3000,
        "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 100}},
    }).json()  # fmt: skip
    aid = made["async_action_id"]
    c = _sign_in(srv)
    listed = c.get("/actions")
    assert listed.status_code == 200 and f'href="/actions/{aid}"' in listed.text
    panel = c.get(f"/actions/{aid}", headers={"HX-Request": "true"})
    assert panel.status_code == 200 and "<html" not in panel.text  # the panel alone
    assert 'aria-label="Progress"' in panel.text
    done = srv.wait_action(aid)
    assert done["status"] == "DONE"
    page = c.get(f"/actions/{aid}")
    assert page.status_code == 200 and 'data-status="DONE"' in page.text
    assert "hx-get" not in page.text.split('id="action-panel"')[1].split(">")[0]  # stops polling
    assert 'value="100"' in page.text and "3,000 of 3,000 done" in page.text
    assert f'href="/campaigns/{made["id"]}"' in page.text
    assert c.get("/actions/nope").status_code == 404
