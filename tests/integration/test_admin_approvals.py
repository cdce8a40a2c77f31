"""Approvals (admin/approvals.py): four-eyes mode. A change set is checked by a dry run when it
is submitted and applied, all or nothing, by an approver who is not its author; a rejection
leaves nothing; a change set overtaken by other changes is re-checked and refused when it no
longer applies; while approvals are required, a marketer's definition write is refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from ui_session import csrf, signed_in

from admin.testing import AdminServer

CAMPAIGN = {
    "name": "Approved sale",
    "campaign_type": "DISCOUNT_COUPONS",
    "type": "AUTO_UPDATE",
    "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 500}},
}


@pytest.fixture
def srv(redis_url: str, key_prefix: str) -> Iterator[AdminServer]:
    with AdminServer(redis_url, key_prefix) as s:
        yield s


def _defs(srv: AdminServer, r: Any) -> tuple[Any, Any]:
    return r.get(srv.prefix + "defs"), r.get(srv.prefix + "defs:version")


def _submit(srv: AdminServer, key: tuple[str, str], changes: list[dict[str, Any]], title: str = "t") -> Any:
    return srv.request("POST", "/v1/change-sets", json={"title": title, "changes": changes}, key=key)


def _names(srv: AdminServer) -> list[str]:
    return sorted(c["name"] for c in srv.request("GET", "/v1/campaigns").json()["campaigns"])


def test_four_eyes_submit_then_approve_applies_exactly_the_diff(srv: AdminServer, redis_sync: Any) -> None:
    marketer, approver = srv.key("marketer", "Mia"), srv.key("admin", "Ada")
    live = srv.request("POST", "/v1/campaigns", json={**CAMPAIGN, "name": "Live"}).json()
    before = _defs(srv, redis_sync)
    changes = [{"method": "POST", "path": "/v1/campaigns", "body": CAMPAIGN},
               {"method": "PUT", "path": f"/v1/campaigns/{live['id']}", "body": {"description": "new"}}]  # fmt: skip
    r = _submit(srv, marketer, changes, "Summer")
    assert r.status_code == 201, r.text
    cs = r.json()
    assert cs["status"] == "PENDING" and cs["author"]["name"] == "Mia" and cs["base_version"] >= 1
    assert {(d["action"], d["object_type"]) for d in cs["diff"]} >= {("campaign.create", "campaign"),
                                                                    ("campaign.update", "campaign")}  # fmt: skip
    assert _defs(srv, redis_sync) == before  # nothing applied yet
    listed = srv.request("GET", "/v1/change-sets?status=PENDING").json()
    assert [c["id"] for c in listed["change_sets"]] == [cs["id"]]
    # the preview of the pending change set sees the new campaign
    pv = srv.request("POST", "/v1/preview", json={"order": {"amount": 1000}, "change_set_id": cs["id"]})
    assert pv.status_code == 200 and pv.json()["definitions"]["source"] == "change_set"
    # four eyes: the author cannot approve (even an admin author); a marketer may not approve
    assert srv.request("POST", f"/v1/change-sets/{cs['id']}/approve", key=marketer).status_code == 403
    own = _submit(srv, approver, changes[1:]).json()
    r = srv.request("POST", f"/v1/change-sets/{own['id']}/approve", key=approver)
    assert r.status_code == 403 and r.json()["key"] == "four_eyes"
    # another approver applies it: both calls in one write, the diff it showed
    r = srv.request("POST", f"/v1/change-sets/{cs['id']}/approve", key=srv.key("admin", "Bo"))
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "APPLIED" and done["decided_by"]["name"] == "Bo"
    assert done["applied_version"] == int(before[1]) + 1 == int(redis_sync.get(srv.prefix + "defs:version"))
    assert _names(srv) == ["Approved sale", "Live"]
    assert srv.request("GET", f"/v1/campaigns/{live['id']}").json()["description"] == "new"
    audit = srv.request("GET", "/v1/audit-log?limit=10").json()
    entries = audit.get("data") or audit.get("entries") or []
    applied = [e for e in entries if e.get("action") == "change_set.apply"]
    assert applied and "Mia" in str(applied[0]) and "Bo" in str(applied[0])
    # once applied it is no longer pending
    again = srv.request("POST", f"/v1/change-sets/{cs['id']}/approve", key=srv.key("admin", "Cy"))
    assert again.status_code == 409 and again.json()["key"] == "change_set_not_pending"


def test_reject_leaves_nothing_and_a_bad_change_is_refused_at_submission(srv: AdminServer, redis_sync: Any) -> None:
    marketer = srv.key("marketer")
    before = _defs(srv, redis_sync)
    bad = {**CAMPAIGN, "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": -5}}}
    r = _submit(srv, marketer, [{"method": "POST", "path": "/v1/campaigns", "body": bad}])
    assert r.status_code == 400 and "amount_off" in r.json()["details"]
    gen = _submit(srv, marketer, [{"method": "POST", "path": "/v1/campaigns", "body": {**CAMPAIGN, "vouchers_count": 5}}])
    assert gen.status_code == 400 and "vouchers_count" in gen.json()["details"]
    assert _submit(srv, srv.key("analyst"), [{"method": "POST", "path": "/v1/campaigns", "body": CAMPAIGN}]).status_code == 403
    cs = _submit(srv, marketer, [{"method": "POST", "path": "/v1/campaigns", "body": CAMPAIGN}]).json()
    no_reason = srv.request("POST", f"/v1/change-sets/{cs['id']}/reject", json={"reason": " "})
    assert no_reason.status_code == 400
    r = srv.request("POST", f"/v1/change-sets/{cs['id']}/reject", json={"reason": "not this week"})
    assert r.status_code == 200 and r.json()["status"] == "REJECTED" and r.json()["reason"] == "not this week"
    assert _defs(srv, redis_sync) == before and _names(srv) == []
    assert srv.request("POST", f"/v1/change-sets/{cs['id']}/approve").status_code == 409
    assert srv.request("GET", "/v1/change-sets/cs_nope").status_code == 404
    assert srv.request("POST", "/v1/preview", json={"order": {"amount": 1}, "change_set_id": cs["id"]}).status_code == 409


def test_a_stale_change_set_is_rechecked(srv: AdminServer) -> None:
    marketer = srv.key("marketer")
    live = srv.request("POST", "/v1/campaigns", json={**CAMPAIGN, "name": "Live"}).json()
    rename = _submit(srv, marketer, [{"method": "PUT", "path": f"/v1/campaigns/{live['id']}",
                                      "body": {"description": "later"}}]).json()  # fmt: skip
    clash = _submit(srv, marketer, [{"method": "POST", "path": "/v1/campaigns", "body": {**CAMPAIGN, "name": "Twin"}}]).json()
    # meanwhile: another change (still applies to rename), and a campaign named Twin (clash fails)
    srv.request("PUT", f"/v1/campaigns/{live['id']}", json={"name": "Live 2"})
    srv.request("POST", "/v1/campaigns", json={**CAMPAIGN, "name": "Twin"})
    ok = srv.request("POST", f"/v1/change-sets/{rename['id']}/approve")
    assert ok.status_code == 200, ok.text
    assert srv.request("GET", f"/v1/campaigns/{live['id']}").json()["name"] == "Live 2"  # kept
    stale = srv.request("POST", f"/v1/change-sets/{clash['id']}/approve")
    assert stale.status_code == 409 and stale.json()["key"] == "change_set_stale", stale.text
    assert srv.request("GET", f"/v1/change-sets/{clash['id']}").json()["status"] == "STALE"
    assert _names(srv) == ["Live 2", "Twin"]


def test_the_setting_gates_non_admin_definition_writes(srv: AdminServer) -> None:
    marketer = srv.key("marketer")
    assert srv.request("GET", "/v1/settings/approvals").json() == {"required": False}
    assert srv.request("PUT", "/v1/settings/approvals", json={"required": True}, key=marketer).status_code == 403
    for bad in ({"required": "yes"}, {"required": True, "x": 1}, {}):
        assert srv.request("PUT", "/v1/settings/approvals", json=bad).status_code == 400
    assert srv.request("PUT", "/v1/settings/approvals", json={"required": True}).json() == {"required": True}
    r = srv.request("POST", "/v1/campaigns", json=CAMPAIGN, key=marketer)
    assert r.status_code == 403 and r.json()["key"] == "approval_required" and "change-sets" in r.json()["details"]
    # an admin still writes; a marketer submits a change set (the gate is on writes, not dry runs)
    made = srv.request("POST", "/v1/campaigns", json={**CAMPAIGN, "name": "By admin"})
    assert made.status_code == 200, made.text
    assert _submit(srv, marketer, [{"method": "POST", "path": "/v1/campaigns", "body": CAMPAIGN}]).status_code == 201
    code = srv.request("POST", f"/v1/campaigns/{made.json()['id']}/vouchers/GATE1", json={}).json()["code"]
    # disabling one code is operational: never held back
    assert srv.request("POST", f"/v1/vouchers/{code}/disable", key=marketer).status_code == 200
    assert srv.request("PUT", "/v1/settings/approvals", json={"required": False}).status_code == 200
    assert srv.request("POST", "/v1/campaigns", json=CAMPAIGN, key=marketer).status_code == 200


def test_the_gate_holds_the_web_ui_too(srv: AdminServer) -> None:
    """What the web UI changes through admin's routes in process meets the same gate as the API
    (a marketer's campaign disable waits for a change set; an admin's goes through)."""
    camp = srv.request("POST", "/v1/campaigns", json={
        "name": "Held", "campaign_type": "DISCOUNT_COUPONS",
        "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 100}},
    }).json()  # fmt: skip
    assert srv.request("PUT", "/v1/settings/approvals", json={"required": True}).status_code == 200
    with signed_in(srv, srv.key("marketer")) as c:
        page = c.get(f"/campaigns/{camp['id']}")
        r = c.post(f"/campaigns/{camp['id']}/state", data={"action": "disable", "csrf_token": csrf(page.text)})
        assert r.status_code == 403 and "change set" in r.text
    assert srv.request("GET", f"/v1/campaigns/{camp['id']}").json()["active"] is True
    with signed_in(srv) as c:
        page = c.get(f"/campaigns/{camp['id']}")
        r = c.post(f"/campaigns/{camp['id']}/state", data={"action": "disable", "csrf_token": csrf(page.text)})
        assert r.status_code == 200, r.text
    assert srv.request("GET", f"/v1/campaigns/{camp['id']}").json()["active"] is False
