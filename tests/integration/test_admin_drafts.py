"""``POST /v1/drafts/check`` (admin/drafts.py, the dry run of admin/repo.py): a change runs
through its own routes on a private copy of the document and nothing is written, whatever it
is; a refused change answers the route's own 400 naming the field; each call meets its own role
check."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from stacks import keyspace

from admin.testing import AdminServer

CAMPAIGN = {
    "name": "Draft sale",
    "campaign_type": "DISCOUNT_COUPONS",
    "type": "AUTO_UPDATE",
    "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 500}},
}


@pytest.fixture
def srv(redis_url: str, key_prefix: str) -> Iterator[AdminServer]:
    with AdminServer(redis_url, key_prefix) as s:
        yield s


def _snapshot(srv: AdminServer, r: Any) -> dict[bytes, Any]:
    """What a write would change (the audit stream is checked on its own)."""
    return keyspace(r, srv.prefix, skip=(b"audit", b"ui:"))


def _check(srv: AdminServer, changes: list[dict[str, Any]], key: tuple[str, str] | None = None) -> Any:
    return srv.request("POST", "/v1/drafts/check", json={"changes": changes}, key=key)


def test_a_draft_is_checked_through_its_routes_and_nothing_is_written(srv: AdminServer, redis_sync: Any) -> None:
    existing = srv.request("POST", "/v1/campaigns", json={**CAMPAIGN, "name": "Live"}).json()
    before = _snapshot(srv, redis_sync)
    audit_len = redis_sync.xlen(srv.prefix + "audit") if redis_sync.exists(srv.prefix + "audit") else 0
    r = _check(srv, [
        {"method": "POST", "path": "/v1/campaigns", "body": {**CAMPAIGN, "vouchers_count": 1000}},
        {"method": "PUT", "path": f"/v1/campaigns/{existing['id']}", "body": {"name": "Live renamed"}},
    ])
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["valid"] is True and out["object"] == "draft_check"
    created, updated = out["results"]
    assert created["result"] is not None and updated["path"] == f"/v1/campaigns/{existing['id']}"
    kinds = [(c["action"], c["object_type"]) for c in out["changes"]]
    assert ("campaign.create", "campaign") in kinds and ("campaign.update", "campaign") in kinds
    upd = next(c for c in out["changes"] if c["action"] == "campaign.update")
    assert upd["object_id"] == existing["id"] and upd["before"] != upd["after"]
    # nothing written: no key changed, no audit entry, no generation started, the list unchanged
    assert _snapshot(srv, redis_sync) == before
    now_len = redis_sync.xlen(srv.prefix + "audit") if redis_sync.exists(srv.prefix + "audit") else 0
    assert now_len == audit_len
    names = [c["name"] for c in srv.request("GET", "/v1/campaigns").json()["campaigns"]]
    assert names == ["Live"]


def test_a_refused_change_names_the_call_and_the_field(srv: AdminServer, redis_sync: Any) -> None:
    before = _snapshot(srv, redis_sync)
    bad = {**CAMPAIGN, "voucher": {"type": "DISCOUNT_VOUCHER",
                                   "discount": {"type": "AMOUNT", "amount_off": -5}}}  # fmt: skip
    r = _check(srv, [{"method": "POST", "path": "/v1/campaigns", "body": bad}])
    assert r.status_code == 400, r.text
    err = r.json()
    assert err["code"] == 400 and "amount_off" in err["details"]
    two = _check(srv, [
        {"method": "POST", "path": "/v1/campaigns", "body": CAMPAIGN},
        {"method": "PUT", "path": "/v1/campaigns/camp_missing", "body": {"description": "x"}},
    ])
    assert two.status_code == 404 and two.json()["details"].startswith("changes[1] (PUT /v1/campaigns/camp_missing)")
    # the second call saw the first: a campaign of the same name is a duplicate in the draft
    dup = _check(srv, [
        {"method": "POST", "path": "/v1/campaigns", "body": CAMPAIGN},
        {"method": "POST", "path": "/v1/campaigns", "body": CAMPAIGN},
    ])
    assert dup.status_code in (400, 409) and dup.json()["details"].startswith("changes[1]")
    for body in ({}, {"changes": []}, {"changes": "x"}, {"changes": [{"method": "DELETE", "path": "/v1/campaigns/x"}]},
                 {"changes": [{"method": "POST", "path": "/v1/keys", "body": {"name": "k", "role": "admin"}}]},
                 {"changes": [{"method": "POST", "path": "/v1/campaigns", "extra": 1}]}):  # fmt: skip
        bad_r = srv.request("POST", "/v1/drafts/check", json=body)
        assert bad_r.status_code == 400 and bad_r.json()["key"] == "invalid_payload", (body, bad_r.text)
    assert _snapshot(srv, redis_sync) == before


def test_each_call_meets_its_own_role_check(srv: AdminServer) -> None:
    support = srv.key("support")
    analyst = srv.key("analyst")
    for key in (support, analyst):
        r = _check(srv, [{"method": "POST", "path": "/v1/campaigns", "body": CAMPAIGN}], key=key)
        assert r.status_code == 403, r.text
    marketer = srv.key("marketer")
    assert _check(srv, [{"method": "POST", "path": "/v1/campaigns", "body": CAMPAIGN}], key=marketer).status_code == 200
    assert srv.request("POST", "/v1/drafts/check", json={"changes": []}, key=("nope", "nope")).status_code == 401
