"""A campaign's codes in the web UI and the bulk code actions, over plain HTTP against a real
admin server, a real in-process gateway and a real Redis: the list paged by cursor, inline
disable seen by the gateway, generation and import as async actions, the streamed export, and
``POST /v1/vouchers/bulk`` (dry-run counts, the per-row result file, roles, resume after a
stop)."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator

import httpx
import pytest
from gateway_fixtures import InProcess, body, in_process, voucher
from ui_session import close_clients, sign_in
from ui_session import csrf as _csrf

from admin.testing import AdminServer

ROW = re.compile(r'<tr id="row-[^"]+" data-code="([^"]+)" data-active="(true|false)"')


@pytest.fixture
def stack(redis_url: str, key_prefix: str) -> Iterator[tuple[AdminServer, InProcess]]:
    with in_process(redis_url, key_prefix) as g, AdminServer(redis_url, key_prefix) as srv:
        try:
            yield srv, g
        finally:
            close_clients()


def _sign_in(srv: AdminServer, key: tuple[str, str] | None = None) -> tuple[httpx.Client, str]:
    """A signed-in client and its session's CSRF token."""
    c = sign_in(srv, key)
    return c, _csrf(c.get("/codes").text)


def _generate(srv: AdminServer, campaign: str, n: int) -> None:
    r = srv.request("POST", f"/v1/campaigns/{campaign}/vouchers", params={"vouchers_count": n})
    assert r.status_code == 202, r.text
    assert srv.wait_action(r.json()["async_action_id"])["status"] == "DONE"


def _listed(g: InProcess, campaign: str) -> list[str]:
    return [c.decode() for c in g.redis.lrange(g.prefix + "campcodes:" + campaign, 0, -1)]


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _action_id(r: httpx.Response) -> str:
    assert r.status_code == 303 and r.headers["location"].startswith("/actions/aa_"), r.text[:800]
    return r.headers["location"].rsplit("/", 1)[1]


def test_code_list_pages_by_cursor_with_live_state(stack: tuple[AdminServer, InProcess]) -> None:
    srv, g = stack
    _generate(srv, "camp_gen", 2_400)
    c, _ = _sign_in(srv)
    seen: list[str] = []
    url: str | None = "/campaigns/camp_gen/codes"
    pages = 0
    while url:
        r = c.get(url)
        assert r.status_code == 200, r.text[:500]
        assert "total" not in url and "spinner" not in r.text
        seen += [code for code, _ in ROW.findall(r.text)]
        m = re.search(r'<a href="([^"]+)" rel="next">', r.text)
        url = m.group(1).replace("&amp;", "&") if m else None
        pages += 1
    # the document's codes first, then the campaign's list, each once, no code in a URL
    assert seen == ["GEN5", "GEN5B", *_listed(g, "camp_gen")]
    assert pages == -(-2_402 // 50)
    first = c.get("/campaigns/camp_gen/codes").text
    assert "2,402 codes" in first and "Disable GEN5" in first.replace('aria-label="', "")
    # a redemption shows in its row's live figure
    assert g.redeem(body(voucher("LIMITED100"), customer="x1")).status_code == 200
    page = c.get("/campaigns/camp_lim/codes").text
    assert re.search(r'data-figure="redeemed">1 of 100<', page), page
    assert c.get("/campaigns/camp_gen/codes?after=zz").status_code == 200  # a bad cursor: page 1
    assert c.get("/campaigns/nope/codes").status_code == 404


def test_inline_disable_is_refused_by_the_gateway(stack: tuple[AdminServer, InProcess]) -> None:
    srv, g = stack
    _generate(srv, "camp_gen", 5)
    code = _listed(g, "camp_gen")[0]
    assert g.validate(body(voucher(code))).json()["valid"] is True  # the gateway cached it
    c, csrf = _sign_in(srv)
    r = c.post("/campaigns/camp_gen/codes/state", headers={"HX-Request": "true"},
               data={"code": code, "action": "disable", "csrf_token": csrf})  # fmt: skip
    assert r.status_code == 200 and r.text.lstrip().startswith(f'<tr id="row-{code}"')
    assert 'data-active="false"' in r.text and "Enable" in r.text
    end = time.monotonic() + 5
    while g.validate(body(voucher(code))).json()["valid"] and time.monotonic() < end:
        time.sleep(0.05)
    refused = g.redeem(body(voucher(code), customer="late"))
    assert refused.status_code == 400, refused.text
    assert srv.request("GET", f"/v1/vouchers/{code}").json()["active"] is False
    audit = srv.request("GET", "/v1/audit-log", params={"action": "voucher.disable"}).json()
    assert (
        audit["data"][0]["resource_id"] == code and audit["data"][0]["actor"]["id"] == srv.admin_id
    )
    # without htmx the whole page comes back; enable again
    r = c.post("/campaigns/camp_gen/codes/state",
               data={"code": code, "action": "enable", "csrf_token": csrf})  # fmt: skip
    assert r.status_code == 200 and f"Code {code} enabled." in r.text
    # an analyst is offered nothing and refused by the API's check
    a, acsrf = _sign_in(srv, srv.key("analyst"))
    assert "Disable" not in a.get("/campaigns/camp_gen/codes").text
    r = a.post(
        "/campaigns/camp_gen/codes/state",
        data={"code": code, "action": "disable", "csrf_token": acsrf},
    )
    assert r.status_code == 403
    assert (
        c.post(
            "/campaigns/camp_gen/codes/state", data={"code": code, "action": "disable"}
        ).status_code
        == 403
    )


def test_generate_import_and_export(stack: tuple[AdminServer, InProcess]) -> None:
    srv, g = stack
    c, csrf = _sign_in(srv)
    r = c.post("/campaigns/camp_gen/codes/generate", data={"count": "120", "csrf_token": csrf})
    aid = _action_id(r)
    page = c.get(f"/actions/{aid}")
    assert page.status_code == 200 and "Status" in page.text
    assert srv.wait_action(aid)["status"] == "DONE"
    assert 'data-status="DONE"' in c.get(f"/actions/{aid}").text
    assert len(_listed(g, "camp_gen")) == 120
    # bad input is shown beside the field, nothing started
    bad = c.post("/campaigns/camp_gen/codes/generate", data={"count": "-3", "csrf_token": csrf})
    assert bad.status_code == 400 and 'id="gen-count-error"' in bad.text
    # import: a CSV uploaded with the CSRF token
    text = "Code,Active\nIMP-001,true\nIMP-002,false\nGEN5,true\n"
    r = c.post("/campaigns/camp_gen/codes/import", data={"csrf_token": csrf},
               files={"file": ("codes.csv", text, "text/csv")})  # fmt: skip
    assert r.status_code == 409 and 'id="import-file-error"' in r.text and "GEN5" in r.text
    text = "Code,Active\nIMP-001,true\nIMP-002,false\n"
    r = c.post("/campaigns/camp_gen/codes/import", data={"csrf_token": csrf},
               files={"file": ("codes.csv", text, "text/csv")})  # fmt: skip
    assert srv.wait_action(_action_id(r))["status"] == "DONE"
    assert srv.request("GET", "/v1/vouchers/IMP-002").json()["active"] is False
    no_token = c.post(
        "/campaigns/camp_gen/codes/import", files={"file": ("c.csv", text, "text/csv")}
    )
    assert no_token.status_code == 403
    # export: streamed, exactly the campaign's codes
    with c.stream("GET", "/campaigns/camp_gen/codes.csv") as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
        rows = _csv_rows(resp.read().decode())
    assert [r["code"] for r in rows] == ["GEN5", "GEN5B", *_listed(g, "camp_gen")]
    assert {r["campaign_id"] for r in rows} == {"camp_gen"}
    anon = httpx.get(srv.url + "/campaigns/camp_gen/codes.csv")
    assert anon.status_code == 303 and anon.headers["location"] == "/login"
    # a support key may not generate: not offered, and refused
    s, scsrf = _sign_in(srv, srv.key("support"))
    assert "Generate codes" not in s.get("/campaigns/camp_gen/codes").text
    assert (
        s.post(
            "/campaigns/camp_gen/codes/generate", data={"count": "5", "csrf_token": scsrf}
        ).status_code
        == 403
    )


def _bulk(
    srv: AdminServer, key: tuple[str, str] | None = None, **payload: object
) -> httpx.Response:
    return srv.request("POST", "/v1/vouchers/bulk", key=key, json=payload)


def test_bulk_api_dry_run_action_and_result_file(stack: tuple[AdminServer, InProcess]) -> None:
    srv, g = stack
    _generate(srv, "camp_gen", 30)
    codes = _listed(g, "camp_gen")
    for code in codes[:5]:  # already disabled: unchanged
        assert srv.request("POST", f"/v1/vouchers/{code}/disable").status_code == 200
    asked = [*codes[:20], "GEN5", "NOPE-1", "NOPE-2"]
    dry = _bulk(srv, action="disable", codes=asked, dry_run=True)
    assert dry.status_code == 200, dry.text
    assert dry.json() == {"object": "bulk_dry_run", "action": "disable", "total": 23, "found": 21,
                          "would_change": 16, "unchanged": 5, "not_found": 2, "refused": 0}  # fmt: skip
    assert all(srv.request("GET", f"/v1/vouchers/{c}").json()["active"] for c in codes[5:20])
    version = int(g.redis.get(g.prefix + "defs:version"))
    r = _bulk(srv, action="disable", codes=[*asked[:-1], {"code": "NOPE-2"}])
    assert r.status_code == 202, r.text
    a = srv.wait_action(r.json()["async_action_id"])
    assert a["status"] == "DONE" and a["type"] == "VOUCHERS.BULK_UPDATE", a
    assert {k: a["result"][k] for k in ("changed", "unchanged", "not_found", "refused")} == {
        "changed": 16, "unchanged": 5, "not_found": 2, "refused": 0}  # fmt: skip
    # exactly the listed codes changed: the others of the campaign are untouched
    state = {c: srv.request("GET", f"/v1/vouchers/{c}").json()["active"] for c in codes}
    assert [c for c, active in state.items() if not active] == codes[:20]
    assert srv.request("GET", "/v1/vouchers/GEN5").json()["active"] is False
    assert int(g.redis.get(g.prefix + "defs:version")) == version + 1  # the document's code
    # the per-row result file
    res = srv.request("GET", f"/v1/vouchers/bulk/{a['id']}/results")
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/csv")
    rows = {r["code"]: (r["outcome"], r["reason"]) for r in _csv_rows(res.text)}
    assert len(_csv_rows(res.text)) == 23
    assert rows == {**{c: ("unchanged", "already disabled") for c in codes[:5]},
                    **{c: ("changed", "") for c in codes[5:20]}, "GEN5": ("changed", ""),
                    "NOPE-1": ("not_found", "no such code"), "NOPE-2": ("not_found", "no such code")}  # fmt: skip
    # each change audited, as the single-code route does
    audit = srv.request(
        "GET", "/v1/audit-log", params={"action": "voucher.disable", "limit": 100}
    ).json()
    assert {e["resource_id"] for e in audit["data"]} >= {*codes[:20], "GEN5"}
    # the gateway refuses a code disabled in bulk
    assert g.redeem(body(voucher(codes[7]), customer="bulk")).status_code == 400
    assert g.redeem(body(voucher(codes[25]), customer="bulk")).status_code == 200
    assert srv.request("GET", "/v1/vouchers/bulk/aa_nope/results").status_code == 404


def test_bulk_extend_delete_roles_and_bad_input(stack: tuple[AdminServer, InProcess]) -> None:
    srv, g = stack
    _generate(srv, "camp_gen", 10)
    codes = _listed(g, "camp_gen")
    support = srv.key("support")
    # support may disable but not delete nor extend
    assert _bulk(srv, support, action="disable", codes=codes[:1], dry_run=True).status_code == 200
    for action in ("delete", "extend"):
        r = _bulk(srv, support, action=action, codes=codes[:2], expiration_date="2030-01-01")
        assert r.status_code == 403 and r.json()["key"] == "forbidden"
    assert _bulk(srv, srv.key("analyst"), action="disable", codes=codes[:1]).status_code == 403
    for bad in ({"action": "explode", "codes": ["A"]}, {"action": "disable", "codes": []},
                {"action": "disable", "codes": "A"}, {"action": "disable", "codes": [3]},
                {"action": "extend", "codes": ["A"]}, {"action": "extend", "codes": ["A"], "expiration_date": "soon"},
                {"action": "disable"}):  # fmt: skip
        r = _bulk(srv, **bad)
        assert r.status_code == 400 and r.json()["key"] == "invalid_payload", (bad, r.text)
    # extend: never brings an expiration forward
    assert (
        srv.request(
            "PUT", f"/v1/vouchers/{codes[0]}", json={"expiration_date": "2031-01-01T00:00:00Z"}
        ).status_code
        == 200
    )
    dry = _bulk(
        srv, action="extend", codes=codes[:4], expiration_date="2030-06-30", dry_run=True
    ).json()
    assert (dry["would_change"], dry["refused"]) == (3, 1)
    r = _bulk(srv, action="extend", codes=codes[:4], expiration_date="2030-06-30")
    a = srv.wait_action(r.json()["async_action_id"])
    assert (a["result"]["changed"], a["result"]["refused"]) == (3, 1)
    exp = srv.request("GET", f"/v1/vouchers/{codes[1]}").json()["expiration_date"]
    assert exp.startswith("2030-06-30T23:59:59")
    assert (
        srv.request("GET", f"/v1/vouchers/{codes[0]}")
        .json()["expiration_date"]
        .startswith("2031-01-01")
    )
    # delete, from a CSV body
    text = "code,anything\n" + "\n".join(f"{c},x" for c in codes[4:7]) + "\n"
    r = srv.request("POST", "/v1/vouchers/bulk", params={"action": "delete"}, content=text,
                    headers={"Content-Type": "text/csv"})  # fmt: skip
    assert r.status_code == 202, r.text
    assert srv.wait_action(r.json()["async_action_id"])["result"]["changed"] == 3
    assert _listed(g, "camp_gen") == [*codes[:4], *codes[7:]]
    assert all(srv.request("GET", f"/v1/vouchers/{c}").status_code == 404 for c in codes[4:7])
    assert srv.request("POST", "/v1/vouchers/bulk", params={"action": "delete"}, content="nope\nA\n",
                       headers={"Content-Type": "text/csv"}).status_code == 400  # fmt: skip


def test_bulk_action_resumes_after_a_stop(redis_url: str, key_prefix: str) -> None:
    """A stop between chunks leaves the action IN_PROGRESS with its rows half consumed; the next
    admin start finishes it: every code changed once, one result row each."""
    with in_process(redis_url, key_prefix) as g:
        with AdminServer(redis_url, key_prefix) as srv:
            _generate(srv, "camp_gen", 2_500)
            codes = _listed(g, "camp_gen")
            srv.app.state.admin.runner.stopping.set()  # as at shutdown: stop after one chunk
            r = _bulk(srv, action="disable", codes=codes)
            aid = r.json()["async_action_id"]
            end = time.monotonic() + 30
            while g.redis.llen(g.prefix + f"action:{aid}:rows") == 2_500 and time.monotonic() < end:
                time.sleep(0.05)
            time.sleep(0.3)
            a = srv.request("GET", f"/v1/async-actions/{aid}").json()
            assert a["status"] == "IN_PROGRESS", a
            assert g.redis.llen(g.prefix + f"action:{aid}:rows") == 1_500  # one chunk done
            assert g.redis.llen(g.prefix + f"action:{aid}:results") == 1_000
        with AdminServer(redis_url, key_prefix) as srv2:  # a restart resumes it
            a = srv2.wait_action(aid)
            assert a["status"] == "DONE" and a["result"]["changed"] == 2_500, a
            rows = _csv_rows(srv2.request("GET", f"/v1/vouchers/bulk/{aid}/results").text)
            assert sorted(r["code"] for r in rows) == sorted(codes)
            assert not any(
                srv2.request("GET", f"/v1/vouchers/{c}").json()["active"] for c in codes[::250]
            )
