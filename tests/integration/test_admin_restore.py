"""Restoring a definition from the audit log: ``POST /v1/audit-log/{entry_id}/restore`` puts back
exactly the version an entry recorded (validated, compiled, published, audited as a restore),
and the web UI shows what a restore will change (a dry run) before it is confirmed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from ui_session import csrf, signed_in

from admin.testing import AdminServer

CAMPAIGN = {
    "name": "Spring", "campaign_type": "DISCOUNT_COUPONS", "type": "AUTO_UPDATE",
    "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 500}},
}  # fmt: skip


@pytest.fixture
def srv(redis_url: str, key_prefix: str) -> Iterator[AdminServer]:
    with AdminServer(redis_url, key_prefix) as s:
        yield s


def _entries(srv: AdminServer, cid: str) -> list[dict[str, Any]]:
    r = srv.request("GET", "/v1/audit-log", params={"resource_id": cid, "limit": 100})
    assert r.status_code == 200, r.text
    return list(r.json()["data"])


def _edited(srv: AdminServer) -> tuple[str, list[dict[str, Any]]]:
    """A campaign created, renamed, then given 7.00 off: its id and audit entries (newest first)."""
    cid = srv.request("POST", "/v1/campaigns", json=CAMPAIGN).json()["id"]
    assert srv.request("PUT", f"/v1/campaigns/{cid}", json={"name": "Spring sale"}).status_code == 200
    r = srv.request("PUT", f"/v1/campaigns/{cid}", json={
        "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 700}}})  # fmt: skip
    assert r.status_code == 200, r.text
    return cid, _entries(srv, cid)


def _restore(srv: AdminServer, entry_id: str, version: str, key: Any = None) -> Any:
    return srv.request("POST", f"/v1/audit-log/{entry_id}/restore", json={"version": version}, key=key)


def test_a_restore_puts_back_exactly_the_audited_version(srv: AdminServer) -> None:
    cid, (discount, rename, create) = _edited(srv)
    assert [e["action"] for e in (discount, rename, create)] == ["campaign.update"] * 2 + ["campaign.create"]
    version = int(srv.request("GET", "/ready").json()["definitions_version"])
    r = _restore(srv, create["id"], "after")  # back to the campaign as it was created
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Spring" and r.json()["voucher"]["discount"]["amount_off"] == 500
    got = srv.request("GET", f"/v1/campaigns/{cid}").json()
    assert (got["name"], got["voucher"]["discount"]["amount_off"]) == ("Spring", 500)
    assert int(srv.request("GET", "/ready").json()["definitions_version"]) == version + 1
    last = _entries(srv, cid)[0]
    assert last["action"] == "campaign.restore"
    assert last["before"] == discount["after"] and last["after"] == create["after"]
    # undo the rename only: the version before it (the created one, already there) changes nothing
    again = _restore(srv, rename["id"], "before")
    assert again.status_code == 200 and len(_entries(srv, cid)) == 4  # no write, no entry
    assert int(srv.request("GET", "/ready").json()["definitions_version"]) == version + 1
    assert _restore(srv, discount["id"], "after").json()["voucher"]["discount"]["amount_off"] == 700


def test_what_cannot_be_restored_is_refused_and_nothing_changes(srv: AdminServer) -> None:
    cid, (discount, _rename, create) = _edited(srv)
    before = srv.request("GET", f"/v1/campaigns/{cid}").json()
    assert _restore(srv, create["id"], "before").status_code == 400  # a create has no `before`
    assert _restore(srv, "1-0", "after").status_code == 404
    assert _restore(srv, "not-an-id", "after").status_code == 400
    for body in ({}, {"version": "now"}, {"version": "after", "x": 1}):
        r = srv.request("POST", f"/v1/audit-log/{discount['id']}/restore", json=body)
        assert r.status_code == 400 and r.json()["key"] == "invalid_payload", r.text
    support = srv.key("support")
    assert _restore(srv, create["id"], "after", key=support).status_code == 403
    key_entry = _entries(srv, support[0])[0]  # the key's creation: not a definition
    assert _restore(srv, key_entry["id"], "after").status_code == 400
    assert srv.request("GET", f"/v1/campaigns/{cid}").json() == before
    assert srv.request("DELETE", f"/v1/campaigns/{cid}").status_code == 200
    gone = _restore(srv, create["id"], "after")
    assert gone.status_code == 409 and gone.json()["key"] == "resource_gone"


def test_the_ui_shows_the_restore_before_it_is_confirmed(srv: AdminServer) -> None:
    cid, (discount, _rename, create) = _edited(srv)
    with signed_in(srv) as c:
        history = c.get("/audit", params={"type": "campaign", "id": cid}).text
        assert f'href="/audit/{create["id"]}/restore?version=after"' in history
        page = c.get(f"/audit/{create['id']}/restore", params={"version": "after"})
        assert page.status_code == 200
        # the dry run's diff: now 7.00 off and named "Spring sale", after the restore 5.00 / "Spring"
        assert "<ins>Spring</ins>" in page.text and "<del>Spring sale</del>" in page.text
        assert "<ins>500</ins>" in page.text and "<del>700</del>" in page.text
        assert srv.request("GET", f"/v1/campaigns/{cid}").json()["name"] == "Spring sale"  # not yet
        r = c.post(f"/audit/{create['id']}/restore", data={"version": "after", "csrf_token": csrf(page.text)})
        assert r.status_code == 303 and r.headers["location"] == f"/audit?type=campaign&id={cid}"
        assert srv.request("GET", f"/v1/campaigns/{cid}").json()["name"] == "Spring"
        assert _entries(srv, cid)[0]["actor"]["id"] == srv.admin_id
        assert "already at this version" in c.get(f"/audit/{create['id']}/restore?version=after").text
        assert c.post(f"/audit/{discount['id']}/restore", data={"version": "after"}).status_code == 403
    with signed_in(srv, srv.key("analyst")) as c:
        assert "/restore?version=" not in c.get("/audit", params={"type": "campaign", "id": cid}).text
        assert c.get(f"/audit/{discount['id']}/restore?version=after").status_code == 403
