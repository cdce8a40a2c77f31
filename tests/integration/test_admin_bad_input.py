"""Input the OpenAPI fuzzer (tests/integration/test_fuzz_openapi.py) found admin mishandling.
Bad input gets a 400 in Voucherify's error shape (string fields only) and writes nothing; before
the fixes these were 500s, or were stored and broke every later write. Unusual but valid input
(a control character in a code) works."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import redis
from gateway_fixtures import keyspace

from admin.testing import AdminServer

COUPONS = {
    "campaign_type": "DISCOUNT_COUPONS",
    "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 500}},
}


@pytest.fixture
def srv(redis_url: str, key_prefix: str) -> Iterator[AdminServer]:
    with AdminServer(redis_url, key_prefix) as s:
        yield s


def _refused(r: httpx.Response, needle: str) -> dict[str, Any]:
    """A 400 ``invalid_payload`` whose every field is of the documented type."""
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["code"] == 400 and body["key"] == "invalid_payload", body
    for f in ("message", "details", "request_id"):
        assert isinstance(body[f], str), body
    for f in ("resource_id", "resource_type"):
        assert f not in body or isinstance(body[f], str), body
    assert needle in body["details"], body
    return body


def test_a_csv_that_cannot_be_read_is_refused_naming_its_line(
    srv: AdminServer, redis_sync: redis.Redis
) -> None:
    camp = srv.request("POST", "/v1/campaigns", json={"name": "csv", **COUPONS}).json()
    before = keyspace(redis_sync, srv.prefix)
    url = f"/v1/campaigns/{camp['id']}/importCSV"
    csv_type = {"Content-Type": "text/csv"}
    # a bare carriage return inside an unquoted field: csv.Error (was a 500)
    r = srv.request("POST", url, content="code\nA\rB\n", headers=csv_type)
    _refused(r, "line")
    # a metadata column that is JSON but not an object, with metadata.* columns beside it
    r = srv.request("POST", url, content='code,metadata,metadata.x\nOK1,"[1]",2\n', headers=csv_type)
    _refused(r, "line 2: `metadata` must be a JSON object")
    # the same through a multipart upload
    r = srv.request("POST", url, files={"file": ("codes.csv", b"code\nA\rB\n", "text/csv")})
    _refused(r, "line")
    assert keyspace(redis_sync, srv.prefix) == before  # no action, no code, no audit entry


def test_campaign_description_and_type_must_be_strings(
    srv: AdminServer, redis_sync: redis.Redis
) -> None:
    """They go to the admin's metadata document as sent: a list there used to be stored, and
    then every later write failed with a 500 (the document no longer decoded)."""
    before = keyspace(redis_sync, srv.prefix)
    for field in ("description", "type"):
        r = srv.request("POST", "/v1/campaigns", json={"name": f"bad {field}", **COUPONS, field: [1, 2]})
        _refused(r, f"`campaign.{field}` must be a string")
    assert keyspace(redis_sync, srv.prefix) == before
    camp = srv.request("POST", "/v1/campaigns", json={"name": "good", **COUPONS}).json()
    before = keyspace(redis_sync, srv.prefix)
    r = srv.request("PUT", f"/v1/campaigns/{camp['id']}", json={"description": {"a": 1}})
    _refused(r, "`campaign.description` must be a string")
    assert keyspace(redis_sync, srv.prefix) == before
    # admin still writes
    r = srv.request("POST", "/v1/campaigns", json={"name": "after", **COUPONS, "description": "fine"})
    assert r.status_code == 200 and r.json()["description"] == "fine"


async def test_the_metadata_document_is_never_written_unreadable(
    redis_url: str, key_prefix: str
) -> None:
    """Whatever path sets a value of the wrong type in the admin's metadata, the write is refused
    (400) before anything is stored, and the next write works."""
    import redis.asyncio as aredis

    from admin.audit import Actor
    from admin.errors import ApiError
    from admin.repo import CampaignMeta, Outcome, Repo
    from store.keys import Keys

    client = aredis.Redis.from_url(redis_url)
    try:
        repo = Repo(client, Keys(key_prefix), lambda: 1_000)
        actor = Actor("k", "k", "admin")

        def bad(st: Any) -> Outcome:
            st.meta.campaigns["camp_x"] = CampaignMeta(description=[1, 2])  # type: ignore[arg-type]
            return Outcome()

        with pytest.raises(ApiError) as exc:
            await repo.mutate(actor, "r1", bad)
        assert exc.value.status == 400 and "description" in exc.value.details
        assert await client.exists(Keys(key_prefix).meta) == 0

        def good(st: Any) -> Outcome:
            st.meta.campaigns["camp_x"] = CampaignMeta(description="ok")
            return Outcome()

        await repo.mutate(actor, "r2", good)
        assert (await repo.state()).meta.campaigns["camp_x"].description == "ok"
    finally:
        await client.aclose()


def test_segment_name_must_be_a_string(srv: AdminServer, redis_sync: redis.Redis) -> None:
    before = keyspace(redis_sync, srv.prefix)
    r = srv.request("POST", "/v1/segments", json={"name": [None, None], "type": "static"})
    _refused(r, "a segment needs a `name`")
    assert keyspace(redis_sync, srv.prefix) == before


def test_ids_sent_as_non_strings_are_bad_input_not_misses(
    srv: AdminServer, redis_sync: redis.Redis
) -> None:
    """An id in a body that is not a string is a 400, never a 404 / 409 echoing it back in
    ``resource_id`` (a string in Voucherify's error shape), nor a 500."""
    rule = srv.request("POST", "/v1/validation-rules", json={"name": "r"}).json()
    prod = srv.request("POST", "/v1/products", json={"name": "p"}).json()
    assert srv.request("POST", f"/v1/products/{prod['id']}/skus", json={"id": "sku_1"}).status_code == 200
    camp = srv.request("POST", "/v1/campaigns", json={"name": "c", **COUPONS}).json()
    before = keyspace(redis_sync, srv.prefix)

    url = f"/v1/validation-rules/{rule['id']}/assignments"
    r = srv.request("POST", url, json={"related_object_type": [None, None], "related_object_id": "x"})
    _refused(r, "must be strings")  # was a 500 (unhashable list)
    r = srv.request("POST", url, params={"force": "true"},
                    json={"related_object_type": "campaign", "related_object_id": {"id": 1}})  # fmt: skip
    _refused(r, "must be strings")

    r = srv.request("POST", f"/v1/products/{prod['id']}/skus", json={"id": "sku_1", "source_id": [None, None]})
    _refused(r, "a sku id must be a string")  # was a 409 with resource_id [null, null]

    r = srv.request("POST", "/v1/publications", json={"campaign": camp["id"], "customer": {"id": [1]}})
    _refused(r, "a customer id must be a string")  # was a 404 with resource_id [1]
    r = srv.request("POST", "/v1/publications", json={"campaign": {"id": 7}, "customer": "c1"})
    _refused(r, "a campaign id must be a string")
    r = srv.request("POST", "/v1/vouchers/CODE1", json={"campaign_id": 5})
    _refused(r, "a campaign id must be a string")
    assert keyspace(redis_sync, srv.prefix) == before


def test_generated_codes_with_control_characters_are_stored_readable(srv: AdminServer) -> None:
    """A code_config prefix may hold any character but `/` and whitespace; the codes written by
    the bulk generator used to be invalid JSON when it held a control character (listing the
    campaign's codes then answered 500)."""
    body = {"name": "ctl", **COUPONS, "vouchers_count": 3}
    body["voucher"] = {**COUPONS["voucher"], "code_config": {"prefix": "\u0013A\u0001", "length": 6}}
    r = srv.request("POST", "/v1/campaigns", json=body)
    assert r.status_code == 200, r.text
    camp = r.json()
    assert srv.wait_action(camp["async_action_id"])["status"] == "DONE"
    listed = srv.request("GET", "/v1/vouchers", params={"campaign_id": camp["id"]})
    assert listed.status_code == 200, listed.text
    codes = [v["code"] for v in listed.json()["vouchers"]]
    assert len(codes) == 3 and all(c.startswith("\u0013A\u0001") and len(c) == 9 for c in codes)
    one = srv.request("GET", "/v1/vouchers/" + quote(codes[0], safe=""))
    assert one.status_code == 200 and one.json()["code"] == codes[0]
    assert srv.request("GET", "/v1/vouchers").status_code == 200


def test_validation_rules_numbered_with_leading_zeros(srv: AdminServer, redis_sync: redis.Redis) -> None:
    """``"00"`` is rule 0 (compiling it without ``logic`` was a 500); two keys of one number are
    a 400 naming the rules, and write nothing."""
    cond = {"name": "order.amount", "conditions": {"$more_than": [100]}}
    r = srv.request("POST", "/v1/validation-rules", json={"name": "z", "rules": {"00": cond}})
    assert r.status_code == 200, r.text
    rule_id = r.json()["id"]
    before = keyspace(redis_sync, srv.prefix)
    r = srv.request("PUT", f"/v1/validation-rules/{rule_id}", json={"rules": {"0": cond, "00": cond}})
    assert r.status_code == 400 and r.json()["key"] == "invalid_definition", r.text
    assert "'0' and '00' are both rule 0" in r.json()["details"]
    assert keyspace(redis_sync, srv.prefix) == before


def test_customer_identifiers_over_200_characters_are_refused_and_200_work(
    srv: AdminServer, redis_sync: redis.Redis
) -> None:
    """A code names its holder by the customer's id; a 5,000-character source_id was once
    stored through a publication, and every later read of that customer's codes (their report,
    the campaign's CSV export) answered 500 because the stored code no longer decoded."""
    camp = srv.request("POST", "/v1/campaigns", json={"name": "long ids", **COUPONS}).json()
    before = keyspace(redis_sync, srv.prefix)
    long = "¹ø" + "*" * 199
    r = srv.request("POST", "/v1/publications", json={"campaign": camp["id"], "customer": {"source_id": long}})
    _refused(r, "at most 200 characters")
    r = srv.request("POST", "/v1/customers", json={"id": long})
    _refused(r, "1 to 200 characters")
    r = srv.request("POST", "/v1/customers", json={"source_id": long})
    _refused(r, "at most 200 characters")
    assert keyspace(redis_sync, srv.prefix) == before

    edge = "¹ø" + "*" * 198  # 200 characters: accepted, and everything reads back
    r = srv.request("POST", "/v1/publications", json={"campaign": camp["id"], "customer": {"source_id": edge}})
    assert r.status_code == 200, r.text
    code = r.json()["voucher"]["code"]
    report = srv.request("GET", "/v1/reports/customers/" + quote(edge, safe=""))
    assert report.status_code == 200, report.text
    assert [v["code"] for v in report.json()["vouchers"]] == [code]
    csv = srv.request("GET", "/v1/exports/vouchers.csv", params={"campaign_id": camp["id"]})
    assert csv.status_code == 200 and code in csv.text
