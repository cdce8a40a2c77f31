"""Referral code holders (VOUCHERIFY-LOYALTY.md §9 "Holders", admin/routes_referrals.py): the
referrer's row after publication, referees added and removed, through the official SDK's
``ReferralsApi`` (the member-only and the campaign-scoped calls), the list's paging, order and
filters, and every refusal in Voucherify's error shape with nothing written.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import voucherify as v
from gateway_fixtures import InProcess, keyspace
from stacks import club_programme
from voucherify.exceptions import ApiException, ForbiddenException, NotFoundException

from admin.testing import AdminServer

R3 = {"name": "Refer a friend", "campaign_type": "REFERRAL_PROGRAM", "type": "AUTO_UPDATE", "join_once": True,
      "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 1000, "effect": "APPLY_TO_ORDER"},
                  "is_referral_code": True, "code_config": {"pattern": "REF-#####"}},
      "referral_program": {"conversion_event_type": "redemption",
                           "referee_reward": {"type": "LOYALTY_CARD", "amount": "50",
                                              "related_object_parent": {"id": "camp_L", "object": "CAMPAIGN"}}}}  # fmt: skip
NOT_PUBLISHED = "Referral code must be first published to Referrer before assigning it to Referee"


@pytest.fixture
def stack(admin_and_gateway: tuple[AdminServer, InProcess]) -> tuple[AdminServer, InProcess]:
    return admin_and_gateway


def _r3(club: str) -> dict[str, Any]:
    rp = R3["referral_program"]
    assert isinstance(rp, dict)
    rr = {**rp["referee_reward"], "related_object_parent": {"id": club, "object": "CAMPAIGN"}}
    return {**R3, "referral_program": {**rp, "referee_reward": rr}}


def _programme(srv: AdminServer) -> tuple[str, str]:
    """(the loyalty club's id, the referral programme's id)."""
    club = club_programme(srv)
    r = srv.request("POST", "/v1/campaigns", json=_r3(club))
    assert r.status_code == 200, r.text
    return club, str(r.json()["id"])


def _publish(srv: AdminServer, source_id: str) -> tuple[str, str]:
    """(the referral code published to ``source_id``, its voucher id)."""
    r = srv.request("POST", "/v1/publications", json={"campaign": {"name": "Refer a friend"},
                                                      "customer": {"source_id": source_id}})  # fmt: skip
    assert r.status_code == 200, r.text
    return r.json()["voucher"]["code"], r.json()["voucher"]["id"]


def _cid(g: InProcess, source_id: str) -> str:
    raw = g.redis.get(g.prefix + "customer:src:" + source_id)
    assert raw is not None, source_id
    return str(raw.decode())


def _rh(code: str, customer_id: str) -> str:
    return "rh_" + hashlib.sha256(f"{code}:{customer_id}".encode()).hexdigest()[:24]


def _bulk(*who: dict[str, Any], **extra: Any) -> v.ReferralsMembersHoldersCreateInBulkRequestBody:
    return v.ReferralsMembersHoldersCreateInBulkRequestBody.from_dict({"holders": list(who), **extra})


def _error(r: Any, status: int, key: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body["code"] == status and body["key"] == key, body
    assert {"message", "details", "request_id"} <= set(body), body
    return body


def test_holders_through_the_sdk(stack: tuple[AdminServer, InProcess]) -> None:
    srv, g = stack
    _, camp = _programme(srv)
    code, vid = _publish(srv, "alice")
    alice = _cid(g, "alice")
    with srv.sdk() as client:
        api = v.ReferralsApi(client)
        # after publication: the referrer alone (both paths; the campaign by id)
        for got in (api.referrals_code_holders1(code), api.referrals_code_holders(camp, code)):
            assert got.object == "list" and got.data_ref == "data"
            assert got.total == 1 and got.has_more is False and got.more_starting_after is None
            (row,) = got.data
            assert row.holder_role == "REFERRER" and row.customer_id == alice and row.redeemable_id == code
            assert row.id == _rh(code, alice) and row.created_at is not None
            assert (row.campaign_id, row.campaign_type, row.voucher_type) == (camp, "REFERRAL_PROGRAM", "DISCOUNT_VOUCHER")
            assert row.redeemable_object == "voucher" and row.object == "redeemable_holder" and row.metadata == {}
        # the voucher id names the code too
        assert api.referrals_code_holders1(vid).data[0].redeemable_id == code
        # a referee added (campaign-scoped call), the customer created by its source_id
        added = api.referrals_add_holders1(camp, code, _bulk({"source_id": "bob", "name": "Bob"}))
        bob = _cid(g, "bob")
        (row,) = added.holders
        assert row.holder_role == "REFEREE" and row.customer_id == bob and row.id == _rh(code, bob)
        assert row.redeemable_id == code and row.campaign_id == camp and row.metadata == {}
        assert srv.request("GET", f"/v1/customers/{bob}").json()["name"] == "Bob"
        # the member-only call: two at once, with the rows' metadata; an existing customer by id
        srv.request("POST", "/v1/customers", json={"source_id": "dave"}).raise_for_status()
        dave = _cid(g, "dave")
        added = api.referrals_add_holders(code, _bulk({"source_id": "carol"}, {"id": dave}, metadata={"ch": "mail"}))
        carol = _cid(g, "carol")
        assert [h.customer_id for h in added.holders] == [carol, dave]
        assert all(h.metadata == {"ch": "mail"} and h.holder_role == "REFEREE" for h in added.holders)
        listed = api.referrals_code_holders1(code)
        assert listed.total == 4 and not listed.has_more
        rows = {h.customer_id: h for h in listed.data}
        assert {c: h.holder_role for c, h in rows.items()} == {alice: "REFERRER", bob: "REFEREE", carol: "REFEREE",
                                                                 dave: "REFEREE"}  # fmt: skip
        ids = sorted(h.id for h in listed.data)
        assert [h.id for h in listed.data] == ids
        # order, paging
        assert [h.id for h in api.referrals_code_holders1(code, order=v.ParameterOrderListRedeemables("-id")).data] == ids[::-1]
        page = api.referrals_code_holders1(code, limit=3)
        assert page.total == 4 and page.has_more is True and page.more_starting_after == ids[2]
        rest = api.referrals_code_holders1(code, limit=3, starting_after_id=page.more_starting_after)
        assert [h.id for h in rest.data] == ids[3:] and rest.has_more is False
        # filters as the SDK sends them (from_dict: every unset key as a literal None)
        flt = v.ParameterFiltersListReferralsRedeemableHolders.from_dict(
            {"holder_role": {"conditions": {"$in": ["REFEREE"]}}})  # fmt: skip
        got = api.referrals_code_holders(camp, code, filters=flt)
        assert got.total == 3 and {h.holder_role for h in got.data} == {"REFEREE"}
        flt = v.ParameterFiltersListReferralsRedeemableHolders.from_dict(
            {"customer_id": {"conditions": {"$is": carol}}})  # fmt: skip
        assert [h.customer_id for h in api.referrals_code_holders1(code, filters=flt).data] == [carol]
        # removed (both calls): gone from the list
        assert api.referrals_remove_holder(code, rows[bob].id) is None
        assert api.referrals_remove_holder1(camp, code, rows[carol].id) is None
        left = api.referrals_code_holders1(code)
        assert {h.customer_id for h in left.data} == {alice, dave} and left.total == 2
        # the SDK raises by status
        with pytest.raises(ForbiddenException) as exc:
            api.referrals_remove_holder(code, rows[alice].id)
        assert exc.value.status == 403
        with pytest.raises(NotFoundException):
            api.referrals_remove_holder(code, rows[bob].id)
        with pytest.raises(ApiException) as dup:
            api.referrals_add_holders(code, _bulk({"id": dave}))
        assert dup.value.status == 409
        # each assignment and its removal is in the referee's activity (the SDK's closed types)
        acts = v.CustomersApi(client).list_customer_activity(bob)
        assert [a.type for a in acts.data] == ["customer.holder.assignment.deleted",
                                               "customer.holder.assignment.created"]  # fmt: skip
    # the campaign named by its name; the changes audited
    r = srv.request("GET", f"/v1/referrals/Refer a friend/members/{code}/holders")
    assert r.status_code == 200 and r.json()["total"] == 2, r.text
    log = srv.request("GET", "/v1/audit-log", params={"resource_id": code, "action": "voucher"}).json()["data"]
    assert [e["action"] for e in log][:4] == ["voucher.holder.remove", "voucher.holder.remove",
                                              "voucher.holders.add", "voucher.holders.add"]  # fmt: skip
    assert log[-1]["action"] == "voucher.publish"


def test_a_conversion_row_is_listed_and_blocks_a_second_assignment(stack: tuple[AdminServer, InProcess]) -> None:
    """The REFEREE row a conversion writes (store.referrals) is the same format: listed here, and
    the referee cannot be added again."""
    srv, g = stack
    _programme(srv)
    code, _ = _publish(srv, "alice")
    r = g.redeem({"customer": {"source_id": "bob"}, "order": {"source_id": "o-1", "amount": 5000},
                  "redeemables": [{"object": "voucher", "id": code}]})  # fmt: skip
    assert r.status_code == 200, r.text
    bob = _cid(g, "bob")
    got = srv.request("GET", f"/v1/referrals/members/{code}/holders").json()
    assert {(h["customer_id"], h["holder_role"]) for h in got["data"]} == {(_cid(g, "alice"), "REFERRER"),
                                                                           (bob, "REFEREE")}  # fmt: skip
    with srv.sdk() as client:
        parsed = v.ReferralsMembersHoldersListResponseBody.from_dict(got)
        assert parsed.total == 2
        with pytest.raises(ApiException) as exc:
            v.ReferralsApi(client).referrals_add_holders(code, _bulk({"source_id": "bob"}))
    assert exc.value.status == 409


def test_refusals_change_nothing(stack: tuple[AdminServer, InProcess]) -> None:
    srv, g = stack
    _, camp = _programme(srv)
    code, _ = _publish(srv, "alice")
    add = f"/v1/referrals/members/{code}/holders"
    r = srv.request("POST", add, json={"holders": [{"source_id": "bob"}]})
    assert r.status_code == 200, r.text
    bob_row = r.json()["holders"][0]
    alice_row = _rh(code, _cid(g, "alice"))
    # a code of the programme published to nobody (one new code of the campaign)
    r = srv.request("POST", f"/v1/campaigns/{camp}/vouchers", json={})
    assert r.status_code == 200, r.text
    lonely = r.json()["code"]
    assert srv.request("GET", f"/v1/referrals/members/{lonely}/holders").json()["total"] == 0
    # a code of another kind (a DISCOUNT_COUPONS campaign's)
    r = srv.request("POST", "/v1/campaigns", json={"name": "Coupons", "campaign_type": "DISCOUNT_COUPONS",
                                                   "voucher": {"discount": {"type": "AMOUNT", "amount_off": 5}}})  # fmt: skip
    assert r.status_code == 200, r.text
    other = r.json()["id"]
    assert srv.request("POST", "/v1/vouchers/PLAIN-1", json={"campaign_id": other}).status_code == 200
    analyst = srv.key("analyst")

    before = keyspace(g.redis, g.prefix)
    refusals: list[tuple[str, str, Any, int, str]] = [
        ("POST", f"/v1/referrals/members/{lonely}/holders", {"holders": [{"source_id": "zed"}]}, 400, "not_published"),
        ("POST", add, {"holders": [{"source_id": "bob"}]}, 409, "holder_assignement_duplication"),
        ("POST", add, {"holders": [{"source_id": "zed"}, {"source_id": "bob"}]}, 409, "holder_assignement_duplication"),
        ("POST", add, {"holders": [{"source_id": "zed"}, {"source_id": "zed"}]}, 409, "holder_assignement_duplication"),
        ("POST", add, {"holders": [{"source_id": "alice"}]}, 409, "holder_assignement_duplication"),
        ("POST", add, {"holders": [{"id": _cid(g, "alice")}]}, 409, "holder_assignement_duplication"),
        ("POST", add, {"holders": []}, 400, "invalid_payload"),
        ("POST", add, {"metadata": {}}, 400, "invalid_payload"),
        ("POST", add, {"holders": None}, 400, "invalid_payload"),
        ("POST", add, {"holders": "bob"}, 400, "invalid_payload"),
        ("POST", add, {"holders": [{"source_id": "zed"}, 5]}, 400, "invalid_payload"),
        ("POST", add, {"holders": [{"name": "nobody"}]}, 400, "invalid_payload"),
        ("POST", add, {"holders": [{"source_id": "zed", "metadata": 1}]}, 400, "invalid_payload"),
        ("POST", add, {"holders": [{"source_id": "zed"}], "metadata": "x"}, 400, "invalid_payload"),
        ("POST", add, {"holders": [{"source_id": f"z{i}"} for i in range(101)]}, 400, "invalid_payload"),
        ("POST", add, [{"source_id": "zed"}], 400, "invalid_payload"),
        ("POST", add, {"holders": [{"id": "cust_nope"}]}, 404, "not_found"),
        ("POST", add, {"holders": [{"id": bob_row["customer_id"], "source_id": "alice"}]}, 409, "duplicate_found"),
        ("POST", "/v1/referrals/members/NOPE/holders", {"holders": [{"source_id": "zed"}]}, 404, "not_found"),
        ("POST", "/v1/referrals/members/PLAIN-1/holders", {"holders": [{"source_id": "zed"}]}, 404, "not_found"),
        ("POST", f"/v1/referrals/{other}/members/{code}/holders", {"holders": [{"source_id": "zed"}]}, 404, "not_found"),
        ("POST", f"/v1/referrals/camp_nope/members/{code}/holders", {"holders": [{"source_id": "zed"}]}, 404, "not_found"),
        ("DELETE", f"{add}/{alice_row}", None, 403, "forbidden"),
        ("DELETE", f"/v1/referrals/{camp}/members/{code}/holders/{alice_row}", None, 403, "forbidden"),
        ("DELETE", f"{add}/rh_nope", None, 404, "not_found"),
        ("DELETE", f"/v1/referrals/{other}/members/{code}/holders/{bob_row['id']}", None, 404, "not_found"),
        ("DELETE", f"/v1/referrals/members/NOPE/holders/{bob_row['id']}", None, 404, "not_found"),
        ("GET", "/v1/referrals/members/NOPE/holders", None, 404, "not_found"),
        ("GET", "/v1/referrals/members/PLAIN-1/holders", None, 404, "not_found"),
        ("GET", f"/v1/referrals/{other}/members/{code}/holders", None, 404, "not_found"),
        ("GET", f"{add}?limit=0", None, 400, "invalid_payload"),
        ("GET", f"{add}?limit=101", None, 400, "invalid_payload"),
        ("GET", f"{add}?limit=x", None, 400, "invalid_payload"),
        ("GET", f"{add}?order=created_at", None, 400, "invalid_payload"),
    ]  # fmt: skip
    for method, path, body, status, key in refusals:
        r = srv.request(method, path, json=body)
        err = _error(r, status, key)
        if key == "not_published":
            assert NOT_PUBLISHED in (err["message"], err["details"]), err
        if status == 403:
            assert "You can not remove Referrer assignment" in err["details"], err
        assert keyspace(g.redis, g.prefix) == before, (method, path, body)
    # a malformed or empty body
    for raw in (b"{", b"", b"null"):
        r = srv.request("POST", add, content=raw, headers={"Content-Type": "application/json"})
        _error(r, 400, "invalid_payload")
    # the roles: an analyst reads, but adds or removes nothing
    assert srv.request("GET", add, key=analyst).status_code == 200
    _error(srv.request("POST", add, key=analyst, json={"holders": [{"source_id": "zed"}]}), 403, "forbidden")
    _error(srv.request("DELETE", f"{add}/{bob_row['id']}", key=analyst), 403, "forbidden")
    assert keyspace(g.redis, g.prefix) == before
    # the SDK's junk query values are absent, never a 500
    for q in ("filters=None", "limit=None&order=None&starting_after_id=None", "filters[id]=None&filters[junction]=None",
              "filters[holder_role][conditions][$in]=['REFEREE'", "filters[holder_role][conditions][$in]=[[1]]",
              "filters[created_at][conditions][$after]=2020-01-01", "filters[holder_role][conditions][$nope]=x",
              "filters[customer_id][conditions][$in]=" + "[" * 500):  # fmt: skip
        r = srv.request("GET", f"{add}?{q}")
        assert r.status_code == 200, (q, r.text)
    assert srv.request("GET", f"{add}?filters[holder_role][conditions][$is_not]=REFERRER").json()["total"] == 1
    assert srv.request("GET", f"{add}?filters[holder_role][conditions][$in]=REFERRER,REFEREE").json()["total"] == 2
