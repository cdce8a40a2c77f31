"""admin's loyalty, rewards and referral screens and the customer 360's limit usage and code
actions, over plain HTTP against the real admin app, a real gateway app and a real Redis:
pages show the live figures; a points adjustment needs a reason (refused next to the field,
nothing changed), goes through the API's balance route and is audited; a role without the
permission is not offered the form and a forged POST is refused by the API's own check; a
code issued and then disabled from the customer 360 is refused by the gateway."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from gateway_fixtures import DEFS as GW_DEFS
from gateway_fixtures import HEADERS, InProcess, body, in_process, voucher
from ui_session import close_clients
from ui_session import csrf as _csrf
from ui_session import sign_in as _sign_in

from admin.testing import AdminServer
from core import model as m

DEFS: dict[str, Any] = json.loads(json.dumps(GW_DEFS))
DEFS["campaigns"] += [
    {
        "id": "camp_L",
        "name": "Club",
        "campaign_type": "LOYALTY_PROGRAM",
        "join_once": True,
        "voucher": {
            "type": "LOYALTY_CARD",
            "loyalty_card": {"points": 0},
            "code_config": {"pattern": "CLUB-#####"},
        },
    },
    {
        "id": "camp_week",
        "name": "Once a week",
        "limits": {"per_customer_per_week": 1},
        "voucher": {
            "discount": {"type": "AMOUNT", "amount_off": 300},
            "code_config": {"pattern": "WK-#####"},
        },
    },
    {
        "id": "camp_R",
        "name": "Refer a friend",
        "campaign_type": "REFERRAL_PROGRAM",
        "join_once": True,
        "voucher": {
            "discount": {"type": "AMOUNT", "amount_off": 1000},
            "code_config": {"pattern": "REF-#####"},
        },
        "referral_program": {
            "conversion_event_type": "redemption",
            "max_referees": 5,
            "referral_tiers": [
                {"id": "rt_first", "name": "First friend", "min_referees": 1, "rewards": ["rew_M"]}
            ],
        },
    },
]
DEFS["products"].append({"id": "prod_mug", "name": "Club mug", "price": 1500})
DEFS["vouchers"].append({"code": "WEEK1", "campaign_id": "camp_week"})
DEFS["earning_rules"] = [
    {
        "id": "ern_1",
        "campaign_id": "camp_L",
        "event": "order.paid",
        "loyalty": {"type": "FIXED", "points": 10},
    },
]
DEFS["loyalty_tiers"] = [
    {
        "id": "ltr_silver",
        "campaign_id": "camp_L",
        "name": "Silver",
        "points": {"from": 100, "to": 499},
    },
    {"id": "ltr_gold", "campaign_id": "camp_L", "name": "Gold", "points": {"from": 500}},
]
DEFS["rewards"] = [
    {"id": "rew_M", "name": "Club mug", "parameters": {"product": {"id": "prod_mug"}}, "stock": 2},
]
DEFS["reward_assignments"] = [
    {"id": "rewa_M", "reward_id": "rew_M", "campaign_id": "camp_L", "parameters": {"loyalty": {"points": 250}}},
    {"id": "rewa_R", "reward_id": "rew_M", "campaign_id": "camp_R"},
]  # fmt: skip



@pytest.fixture
def stack(redis_url: str, key_prefix: str) -> Iterator[tuple[AdminServer, InProcess]]:
    defs = msgspec.convert(DEFS, m.Definitions)
    with (
        in_process(redis_url, key_prefix, defs) as g,
        AdminServer(redis_url, key_prefix, clock=g.clock) as srv,
    ):
        try:
            yield srv, g
        finally:
            close_clients()


def _figure(html: str, name: str) -> str:
    found = re.search(rf'data-figure="{name}">([^<]*)<', html)
    assert found, f"no figure {name}"
    return found.group(1).strip()


def _member(srv: AdminServer, customer: str) -> dict[str, Any]:
    r = srv.request(
        "POST", "/v1/loyalties/camp_L/members", json={"customer": {"source_id": customer}}
    )
    assert r.status_code == 200, r.text
    return r.json()


def _balance(srv: AdminServer, code: str) -> int:
    return srv.request("GET", f"/v1/loyalties/members/{code}").json()["loyalty_card"]["balance"]


def _audit(srv: AdminServer, action: str) -> list[dict[str, Any]]:
    return srv.request("GET", "/v1/audit-log", params={"action": action}).json()["data"]


def test_programme_member_and_rewards_pages_show_live_figures(
    stack: tuple[AdminServer, InProcess],
) -> None:
    srv, g = stack
    card = _member(srv, "ana")
    code, vid = card["code"], card["id"]
    assert srv.request("POST", f"/v1/loyalties/members/{code}/balance",
                       json={"points": 300, "reason": "welcome"}).status_code == 200  # fmt: skip
    r = g.post(f"/v1/loyalties/members/{code}/redemption", {"reward": {"id": "rew_M"}})
    assert r.status_code == 200, r.text
    c = _sign_in(srv)
    listing = c.get("/loyalty")
    assert listing.status_code == 200 and "Club" in listing.text
    assert _figure(listing.text, "members") == "1"
    prog = c.get("/loyalty/camp_L")
    assert prog.status_code == 200
    assert code in prog.text and f'href="/loyalty/members/{vid}"' in prog.text
    assert _figure(prog.text, "balance") == "50"  # 300 - 250, live
    assert (
        "Silver" in prog.text
        and "Gold" in prog.text
        and "ern_1" in prog.text
        and "250 points" in prog.text
    )
    # find by card code or by customer: the code travels in the body, the page is by voucher id
    csrf = _csrf(prog.text)
    for q in (code, "ana"):
        found = c.post("/loyalty/camp_L/find", data={"q": q, "csrf_token": csrf})
        assert found.status_code == 303 and found.headers["location"] == f"/loyalty/members/{vid}"
    missing = c.post("/loyalty/camp_L/find", data={"q": "NOPE-1", "csrf_token": csrf})
    assert missing.status_code == 404 and 'id="find-error"' in missing.text
    assert c.get(f"/loyalty/members/{code}").status_code == 404  # a code is never a path
    page = c.get(f"/loyalty/members/{vid}")
    assert page.status_code == 200
    assert _figure(page.text, "balance") == "50" and _figure(page.text, "points") == "300"
    assert _figure(page.text, "tier") == "Silver"
    types = re.findall(r'data-type="([A-Z_]+)"', page.text)
    assert types == ["POINTS_REDEMPTION", "POINTS_ADDITION"]  # newest first
    assert "“welcome”" in page.text
    rewards = c.get("/rewards")
    assert rewards.status_code == 200
    assert _figure(rewards.text, "redeemed") == "1" and _figure(rewards.text, "left") == "1 of 2"
    assert c.get("/loyalty/camp_gen").status_code == 404  # not a loyalty programme
    assert c.get("/loyalty/camp_L?page=x").status_code in (200, 400)


def test_adjustment_needs_a_reason_is_audited_and_role_checked(
    stack: tuple[AdminServer, InProcess],
) -> None:
    srv, _g = stack
    card = _member(srv, "ben")
    code, vid = card["code"], card["id"]
    c = _sign_in(srv)
    page = c.get(f"/loyalty/members/{vid}")
    assert "Adjust points" in page.text
    csrf = _csrf(page.text)
    action = f"/loyalty/members/{vid}/balance"
    before = len(_audit(srv, "loyalty_card.balance"))
    no_reason = c.post(action, data={"points": "120", "reason": "  ", "csrf_token": csrf})
    assert no_reason.status_code == 400
    assert re.search(r'id="adj-reason-error"[^>]*>[^<]*reason is required', no_reason.text)
    assert 'value="120"' in no_reason.text  # what was typed is kept
    bad_points = c.post(action, data={"points": "many", "reason": "x", "csrf_token": csrf})
    assert bad_points.status_code == 400 and 'id="adj-points-error"' in bad_points.text
    assert c.post(action, data={"points": "120", "reason": "x"}).status_code == 403  # no CSRF token
    assert _balance(srv, code) == 0 and len(_audit(srv, "loyalty_card.balance")) == before
    done = c.post(action, data={"points": "120", "reason": "missing order #77", "csrf_token": csrf})
    assert done.status_code == 200 and "balance is 120 now" in done.text
    assert _figure(done.text, "balance") == "120" and "“missing order #77”" in done.text
    assert _balance(srv, code) == 120
    entry = _audit(srv, "loyalty_card.balance")[0]
    assert entry["actor"]["id"] == srv.admin_id
    assert entry["after"]["reason"] == "missing order #77" and entry["after"]["points"] == 120
    # a removal the card cannot afford is the API's refusal, shown next to the points field
    over = c.post(action, data={"points": "-500", "reason": "too much", "csrf_token": csrf})
    assert 400 <= over.status_code < 500 and 'id="adj-points-error"' in over.text
    assert _balance(srv, code) == 120
    # an analyst is not offered the form, and the API refuses a forged POST
    a = _sign_in(srv, srv.key("analyst"))
    apage = a.get(f"/loyalty/members/{vid}")
    assert apage.status_code == 200 and "Adjust points" not in apage.text
    forged = a.post(
        action, data={"points": "5", "reason": "forged", "csrf_token": _csrf(apage.text)}
    )
    assert forged.status_code == 403 and "has the `analyst` role" in forged.text
    assert _balance(srv, code) == 120
    # support agents may fix a balance
    s = _sign_in(srv, srv.key("support"))
    assert "Adjust points" in s.get(f"/loyalty/members/{vid}").text


def test_customer_360_limit_usage_issue_and_disable(stack: tuple[AdminServer, InProcess]) -> None:
    srv, g = stack
    assert (
        srv.request("POST", "/v1/customers", json={"source_id": "bob", "name": "Bob"}).status_code
        == 200
    )
    assert g.redeem(body(voucher("WEEK1"), customer="bob")).status_code == 200
    again = g.redeem(body(voucher("WEEK1"), customer="bob"))
    assert again.status_code == 400  # the weekly limit the page shows
    c = _sign_in(srv)
    page = c.get("/customers/bob")
    assert page.status_code == 200
    rows = " ".join(re.findall(r'data-usage="camp_week">(.*?)</tr>', page.text, re.S))
    assert "used 1 of 1 this week" in rows and "limit reached" in rows
    assert "used 1 in all, no limit" in rows
    csrf = _csrf(page.text)
    # issue a code of a campaign to bob, through the publication route
    none = c.post("/customers/bob/issue", data={"campaign_id": "", "csrf_token": csrf})
    assert none.status_code == 400 and 'id="issue-error"' in none.text
    unknown = c.post("/customers/bob/issue", data={"campaign_id": "camp_nope", "csrf_token": csrf})
    assert unknown.status_code == 404 and 'id="issue-error"' in unknown.text
    issued = c.post("/customers/bob/issue", data={"campaign_id": "camp_gen", "csrf_token": csrf})
    assert issued.status_code == 200, issued.text
    new_code = re.search(r"Code (\S+) of camp_gen issued", issued.text).group(1)  # type: ignore[union-attr]
    assert f"<code>{new_code}</code>" in issued.text  # in the wallet now
    got = srv.request("GET", f"/v1/vouchers/{new_code}").json()
    assert got["active"] is True and got["campaign_id"] == "camp_gen"
    assert _audit(srv, "voucher.issue")[0]["resource_id"] == new_code
    # disable it from the 360: the gateway refuses it at once
    not_hers = c.post("/customers/bob/code-state", data={"code": "GEN5", "csrf_token": csrf})
    assert (
        not_hers.status_code == 400
        and srv.request("GET", "/v1/vouchers/GEN5").json()["active"] is True
    )
    off = c.post("/customers/bob/code-state", data={"code": new_code, "csrf_token": csrf})
    assert off.status_code == 200 and f"Code {new_code} disabled" in off.text
    assert srv.request("GET", f"/v1/vouchers/{new_code}").json()["active"] is False
    assert _audit(srv, "voucher.disable")[0]["resource_id"] == new_code
    refused = g.redeem(body(voucher(new_code), customer="bob"))
    assert refused.status_code == 400 and refused.json()["key"] == "voucher_disabled"
    # an analyst is offered neither action, and the API refuses forged ones
    a = _sign_in(srv, srv.key("analyst"))
    apage = a.get("/customers/bob")
    assert "Issue code" not in apage.text and ">Disable<" not in apage.text
    acsrf = _csrf(apage.text)
    assert (
        a.post(
            "/customers/bob/issue", data={"campaign_id": "camp_gen", "csrf_token": acsrf}
        ).status_code
        == 403
    )
    assert a.post(
        "/customers/bob/code-state", data={"code": "WEEK1", "csrf_token": acsrf}
    ).status_code in (400, 403)


def test_referral_programme_lists_referrers_with_their_referees(
    stack: tuple[AdminServer, InProcess],
) -> None:
    srv, g = stack
    assert (
        srv.request("POST", "/v1/customers", json={"source_id": "rita", "name": "Rita"}).status_code
        == 200
    )
    pub = srv.request(
        "POST", "/v1/publications", json={"campaign": "camp_R", "customer": {"source_id": "rita"}}
    )
    assert pub.status_code == 200, pub.text
    code = pub.json()["voucher"]["code"]
    rita = pub.json()["customer_id"]
    r = g.redeem(body(voucher(code), customer="sam"))
    assert r.status_code == 200, r.text
    c = _sign_in(srv)
    listing = c.get("/referrals")
    assert listing.status_code == 200 and _figure(listing.text, "referrers") == "1"
    page = c.get("/referrals/camp_R")
    assert page.status_code == 200
    assert f'href="/customers/{rita}"' in page.text and code in page.text
    assert _figure(page.text, "referees") == "1" and _figure(page.text, "conversions") == "1"
    assert _figure(page.text, "counted") == "1 of 5"
    assert re.search(r'data-figure="tiers"><span class="tag">First friend<', page.text)
    assert c.get("/referrals/camp_L").status_code == 404
    assert HEADERS  # the checkout key the gateway fixture seeded


def test_bad_input_is_a_clear_4xx_never_a_500(stack: tuple[AdminServer, InProcess]) -> None:
    srv, _g = stack
    vid = _member(srv, "cleo")["id"]
    c = _sign_in(srv)
    csrf = _csrf(c.get("/loyalty").text)
    gets = [
        "/loyalty/nope",
        "/loyalty/camp_L?page=99999",
        "/loyalty/members/v_nope",
        f"/loyalty/members/{vid}?starting_after_id=garbage",
        "/referrals/nope",
        "/referrals/camp_R?page=-3",
    ]
    for path in gets:
        r = c.get(path)
        assert 400 <= r.status_code < 500 or r.status_code == 200, (path, r.status_code)
    posts = [
        ("/loyalty/nope/find", {"q": "x"}),
        ("/loyalty/camp_L/find", {"q": "x" * 5000}),
        ("/loyalty/members/v_nope/balance", {"points": "5", "reason": "r"}),
        (f"/loyalty/members/{vid}/balance", {"points": "1e9999", "reason": "r"}),
        (f"/loyalty/members/{vid}/balance", {"points": "0", "reason": "r"}),
        ("/customers/nobody/issue", {"campaign_id": "camp_gen"}),
        ("/customers/cleo/issue", {"campaign_id": "camp_promo"}),
        ("/customers/nobody/code-state", {"code": "GEN5"}),
        ("/customers/cleo/code-state", {"code": ""}),
    ]
    for path, data in posts:
        r = c.post(path, data={**data, "csrf_token": csrf})
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text[:300])
    assert srv.request("GET", f"/v1/loyalties/members/{vid}").json()["loyalty_card"]["balance"] == 0


def test_members_page_on_by_position_to_the_last(stack: tuple[AdminServer, InProcess]) -> None:
    srv, _g = stack
    for i in range(23):
        r = srv.request("POST", "/v1/publications",
                        json={"campaign": {"id": "camp_L"}, "customer": {"source_id": f"m{i}"}})  # fmt: skip
        assert r.status_code == 200, r.text
    c = _sign_in(srv)
    total = int(srv.request("GET", "/v1/loyalties/camp_L/members").json()["total"])
    first = c.get("/loyalty/camp_L").text
    assert first.count('href="/loyalty/members/') == 20 and 'href="/loyalty/camp_L?after=20"' in first
    last = c.get("/loyalty/camp_L?after=20").text
    assert last.count('href="/loyalty/members/') == total - 20 and "?after=40" not in last
    assert 'href="/loyalty/camp_L"' in last  # back to the first page
    assert c.get("/loyalty/camp_L?after=999999999").status_code == 200  # past the end: empty
