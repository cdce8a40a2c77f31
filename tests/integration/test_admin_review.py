"""Regression tests from a review of the admin service: unauthenticated routes, key-namespace
collisions, a stale definitions cache, async actions left behind by a crash, codes duplicated
across the document and the code keys, duplicate names, client-caused 500s, partial imports."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import msgspec
import orjson
import pytest
import redis

from admin.testing import AdminServer
from core import model as m
from store import codebook
from store import defs as defstore
from store.keys import Keys
from store.redis_server import delete_prefixed

COUPONS = {
    "campaign_type": "DISCOUNT_COUPONS",
    "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 500}},
}


@pytest.fixture
def srv(redis_url: str, key_prefix: str) -> Iterator[AdminServer]:
    with AdminServer(redis_url, key_prefix) as s:
        yield s


def _campaign(srv: AdminServer, name: str, **extra: object) -> dict:
    r = srv.request("POST", "/v1/campaigns", json={"name": name, **COUPONS, **extra})
    assert r.status_code == 200, r.text
    return r.json()


def _wipe(srv: AdminServer, redis_sync: redis.Redis) -> None:
    """Wipe the prefix under the running admin (as `make reset` would), keeping its admin key."""
    delete_prefixed(redis_sync, srv.prefix)
    defstore.put_app_key_sync(redis_sync, srv.prefix, srv.admin_id, srv.admin_token, "admin")


# ------------------------------------------------------------------------------ security


def test_no_route_answers_without_a_key(srv: AdminServer) -> None:
    # the OpenAPI document and its docs UI are public: they describe the API, no data...
    for path in ("/schema", "/schema/openapi.json", "/schema/swagger", "/schema/redoc"):
        r = httpx.get(srv.url + path)
        assert r.status_code == 200, (path, r.status_code)
    # ... and every /v1 call they describe answers 401 without a key
    doc = httpx.get(srv.url + "/schema/openapi.json").json()
    calls = [(m.upper(), p) for p, item in doc["paths"].items() for m in item if p.startswith("/v1/")]
    assert len(calls) > 60
    for method, path in calls:
        r = httpx.request(method, srv.url + re.sub(r"\{[^}]+\}", "x", path), json={})
        assert r.status_code == 401, (method, path, r.status_code)


def test_customer_ids_cannot_collide_with_the_source_id_index(srv: AdminServer) -> None:
    # `Pcustomer:<id>` and `Pcustomer:src:<source_id>` share one namespace
    assert srv.request("POST", "/v1/customers", json={"source_id": "foo"}).status_code == 200
    r = srv.request("GET", "/v1/customers/src:foo")
    assert r.status_code == 404, r.text
    r = srv.request("POST", "/v1/customers", json={"source_id": "src:foo"})
    assert r.status_code == 200, r.text
    assert r.json()["source_id"] == "src:foo" and r.json()["id"].startswith("cust_")
    assert srv.request("GET", "/v1/customers/src:foo").json()["source_id"] == "src:foo"

    # an id that would overwrite the index of a source_id is refused...
    r = srv.request("POST", "/v1/customers", json={"id": "src:bar", "name": "evil"})
    assert r.status_code == 400, r.text
    sup = srv.key("support")
    r = srv.request("POST", "/v1/publications", key=sup,
                    json={"campaign": _campaign(srv, "Pub")["id"], "customer": {"id": "src:baz", "source_id": "baz"}})  # fmt: skip
    assert r.status_code in (400, 404), r.text
    # ...so the customer list keeps working
    srv.request("POST", "/v1/customers", json={"source_id": "bar"}).raise_for_status()
    r = srv.request("GET", "/v1/customers", params={"limit": 100})
    assert r.status_code == 200, r.text
    assert {c.get("source_id") for c in r.json()["customers"]} >= {"foo", "src:foo", "bar"}


# ------------------------------------------------------------------------------ races, caches


def test_definitions_cache_survives_a_wiped_prefix(
    srv: AdminServer, redis_sync: redis.Redis
) -> None:
    _campaign(srv, "Old")
    assert [c["name"] for c in srv.request("GET", "/v1/campaigns").json()["campaigns"]] == ["Old"]
    dump = srv.request("GET", "/v1/definitions/export").content

    # wiped, then an admin import writes version 1 again, with other definitions
    _wipe(srv, redis_sync)
    r = srv.request("POST", "/v1/definitions/import", content=dump.replace(b'"Old"', b'"New"'))
    assert r.status_code == 200, r.text
    assert srv.request("GET", "/ready").json()["definitions_version"] == 1
    assert [c["name"] for c in srv.request("GET", "/v1/campaigns").json()["campaigns"]] == ["New"]

    # wiped, then another writer (the gateway's seeding helper) writes version 1
    _wipe(srv, redis_sync)
    camp = m.Campaign(
        id="camp_seeded",
        name="Seeded",
        campaign_type="DISCOUNT_COUPONS",
        voucher=msgspec.convert(COUPONS["voucher"], m.VoucherTemplate),
    )
    defstore.publish_definitions_sync(redis_sync, srv.prefix, m.Definitions(campaigns=[camp]))
    names = [c["name"] for c in srv.request("GET", "/v1/campaigns").json()["campaigns"]]
    assert names == ["Seeded"]
    # and a change made now applies to what is stored, not to the cached state
    r = srv.request("POST", "/v1/vouchers/SEEDED1", json={"campaign_id": "camp_seeded"})
    assert r.status_code == 200, r.text


def test_an_action_whose_lease_outlived_a_crash_is_resumed(
    redis_url: str, key_prefix: str, redis_sync: redis.Redis
) -> None:
    with AdminServer(redis_url, key_prefix) as a:
        a.app.state.admin.runner.start = lambda action_id: None  # the process "dies" at once
        camp = _campaign(a, "Crashed", vouchers_count=50)
        aid = camp["async_action_id"]
    # the dead process's lease is still there when the admin starts again
    redis_sync.set(f"{key_prefix}action:{aid}:lease", "1", px=1500)
    with AdminServer(redis_url, key_prefix) as b:
        done = b.wait_action(aid, timeout=15)
        assert done["status"] == "DONE" and done["processed"] == 50
    assert redis_sync.llen(f"{key_prefix}campcodes:{camp['id']}") == 50


def test_a_csv_import_never_duplicates_a_code_created_in_the_document(
    redis_url: str, key_prefix: str, redis_sync: redis.Redis
) -> None:
    with AdminServer(redis_url, key_prefix) as a:
        a.app.state.admin.runner.start = lambda action_id: None  # the action waits
        camp = _campaign(a, "Imported")
        r = a.request("POST", f"/v1/campaigns/{camp['id']}/importCSV",
                      content="code\nDUP-1\nFREE-1\n", headers={"Content-Type": "text/csv"})  # fmt: skip
        assert r.status_code == 202, r.text
        aid = r.json()["async_action_id"]
        # meanwhile, the same code is created one by one (in the definitions document)
        r = a.request("POST", "/v1/vouchers/DUP-1", json={"campaign_id": camp["id"]})
        assert r.status_code == 200, r.text
    with AdminServer(redis_url, key_prefix) as b:
        done = b.wait_action(aid, timeout=15)
        assert done["status"] == "DONE", done
        assert [f["code"] for f in done["result"]["failed"]] == ["DUP-1"]
        assert done["result"]["count"] == 1
    assert codebook.read_sync(redis_sync, Keys(key_prefix), ["DUP-1", "FREE-1"])[0] is None
    assert codebook.read_sync(redis_sync, Keys(key_prefix), ["FREE-1"])[0] is not None
    assert redis_sync.lrange(f"{key_prefix}campcodes:{camp['id']}", 0, -1) == [b"FREE-1"]


# ------------------------------------------------------------------------------ API.md promises


def test_renaming_a_campaign_to_a_taken_name_is_a_duplicate(srv: AdminServer) -> None:
    _campaign(srv, "Taken")
    other = _campaign(srv, "Other")
    r = srv.request("PUT", f"/v1/campaigns/{other['id']}", json={"name": "Taken"})
    assert r.status_code == 409 and r.json()["key"] == "duplicate_found", r.text
    r = srv.request("PUT", f"/v1/campaigns/{other['id']}", json={"name": "Other"})
    assert r.status_code == 200, r.text  # its own name is not a duplicate


# ------------------------------------------------------------------------------ bad input


def test_bad_input_is_a_4xx_never_a_500(srv: AdminServer) -> None:
    camp = _campaign(srv, "A")
    srv.request("POST", "/v1/vouchers/DOC1", json={"campaign_id": camp["id"]}).raise_for_status()
    promo = srv.request("POST", "/v1/campaigns", json={
        "name": "P", "campaign_type": "PROMOTION",
        "promotion": {"tiers": [{"name": "t", "action": {"discount": {"type": "AMOUNT", "amount_off": 1}}}]},
    }).json()  # fmt: skip
    tier = promo["promotion"]["tiers"][0]["id"]
    srv.request("POST", "/v1/products", json={"id": "prod1", "name": "x"}).raise_for_status()
    srv.request("POST", "/v1/products/prod1/skus", json={"id": "sku1"}).raise_for_status()
    version = srv.request("GET", "/ready").json()["definitions_version"]
    calls: list[tuple[str, str, object]] = [
        ("PUT", f"/v1/campaigns/{camp['id']}", {"metadata": 5}),
        ("PUT", f"/v1/campaigns/{camp['id']}", {"unset_metadata_fields": 5}),
        ("PUT", f"/v1/campaigns/{camp['id']}", {"unset_metadata_fields": [[1]]}),
        ("PUT", "/v1/vouchers/DOC1", {"metadata": 5}),
        ("PUT", f"/v1/promotions/tiers/{tier}", {"metadata": 5}),
        ("POST", "/v1/products", {"id": "prod1", "metadata": 5}),
        ("PUT", "/v1/products/prod1", {"metadata": 5}),
        ("PUT", "/v1/products/prod1/skus/sku1", {"metadata": 5}),
        ("POST", "/v1/campaigns", {"name": "B", **COUPONS, "validity_hours": {"daily": [{"days_of_week": 5}]}}),
        ("POST", "/v1/campaigns", {"name": "B", **COUPONS, "validity_hours": {"daily": [{"days_of_week": [[1]]}]}}),
        ("POST", "/v1/campaigns", {"name": "B", **COUPONS, "validation_rule_assignments": {"data": 5}}),
        ("POST", "/v1/campaigns", {"name": "B", "campaign_type": "PROMOTION", "promotion": {"tiers": 5}}),
        ("POST", "/v1/customers", {"id": ["x"]}),
        ("POST", "/v1/customers", {"id": {"a": 1}}),
        ("GET", "/v1/audit-log?starting_after=garbage", None),
        ("GET", "/v1/redemptions?starting_after=garbage", None),
        ("GET", "/v1/redemptions?starting_after=x.1", None),
    ]  # fmt: skip
    for method, path, body in calls:
        r = srv.request(method, path, **({} if body is None else {"json": body}))
        assert 400 <= r.status_code < 500, (method, path, body, r.status_code, r.text)
        assert r.json()["key"] == "invalid_payload", (method, path, body, r.text)
    assert srv.request("GET", "/ready").json()["definitions_version"] == version
    assert srv.request("GET", "/v1/customers").json()["total"] == 0


def test_a_bad_definitions_file_writes_nothing(srv: AdminServer, redis_url: str) -> None:
    _campaign(srv, "Exported")
    srv.request("POST", "/v1/customers", json={"source_id": "c1"}).raise_for_status()
    dump = srv.request("GET", "/v1/definitions/export").content
    head = dump.split(b"\n")[0]
    bad_lines = [
        orjson.dumps({"kind": "customer", "customer": {"id": ["x"]}}),
        orjson.dumps({"kind": "customer", "customer": {"id": "cust_1", "created_at": "yesterday"}}),
        orjson.dumps({"kind": "segment", "segment": {"id": {"a": 1}}}),
        orjson.dumps({"kind": "customer", "customer": {"id": "src:c1"}}),
        orjson.dumps({"kind": "code", "voucher": "nope"}),
        orjson.dumps(["kind"]),
    ]
    with AdminServer(redis_url, srv.prefix + "b:") as b:
        for line in bad_lines:
            r = b.request("POST", "/v1/definitions/import", content=head + b"\n" + line + b"\n")
            assert r.status_code == 400, (line, r.status_code, r.text)
            assert b.request("GET", "/ready").json()["definitions_version"] == 0, line
            assert b.request("GET", "/v1/campaigns").json()["total"] == 0
            assert b.request("GET", "/v1/customers").json()["total"] == 0
        # the good file still imports
        r = b.request("POST", "/v1/definitions/import", content=dump)
        assert r.status_code == 200, r.text
        assert b.request("GET", "/v1/customers").json()["total"] == 1


def test_a_new_customer_cannot_take_another_ones_source_id(srv: AdminServer) -> None:
    first = srv.request("POST", "/v1/customers", json={"source_id": "shared"}).json()
    r = srv.request("POST", "/v1/customers", json={"id": "cust_other", "source_id": "shared"})
    assert r.status_code == 409 and r.json()["key"] == "duplicate_found", r.text
    assert srv.request("GET", "/v1/customers/shared").json()["id"] == first["id"]
    assert srv.request("GET", "/v1/customers").json()["total"] == 1


def test_product_and_sku_source_ids_stay_unique(srv: AdminServer) -> None:
    # Products and SKUs are looked up by id or source_id: a change that gives one the
    # source_id (or id) of another would make those lookups ambiguous. 409, nothing written.
    for pid, sid in (("dup_pa", "DUP-A"), ("dup_pb", "DUP-B")):
        srv.request("POST", "/v1/products", json={"id": pid, "name": pid, "source_id": sid}).raise_for_status()
    for kid, sid in (("dup_s1", "DUP-S1"), ("dup_s2", "DUP-S2")):
        srv.request("POST", "/v1/products/dup_pa/skus", json={"id": kid, "source_id": sid}).raise_for_status()
    version = srv.request("GET", "/ready").json()["definitions_version"]
    refused = [
        ("PUT", "/v1/products/dup_pb", {"source_id": "DUP-A"}),  # another product's source_id
        ("PUT", "/v1/products/dup_pb", {"source_id": "dup_pa"}),  # another product's id
        ("POST", "/v1/products", {"id": "dup_pb", "source_id": "DUP-A"}),  # the upsert path
        ("PUT", "/v1/products/dup_pa/skus/dup_s2", {"source_id": "DUP-S1"}),
        ("PUT", "/v1/products/dup_pa/skus/dup_s2", {"source_id": "dup_s1"}),
    ]
    for method, path, body in refused:
        r = srv.request(method, path, json=body)
        assert r.status_code == 409 and r.json()["key"] == "duplicate_found", (path, body, r.text)
    assert srv.request("GET", "/ready").json()["definitions_version"] == version  # nothing written
    assert srv.request("GET", "/v1/products/dup_pb").json()["source_id"] == "DUP-B"
    assert srv.request("GET", "/v1/skus/dup_s2").json()["source_id"] == "DUP-S2"
    # its own source_id again, or a free one, is fine
    for method, path, body in (
        ("PUT", "/v1/products/dup_pb", {"source_id": "DUP-B"}),
        ("PUT", "/v1/products/dup_pb", {"source_id": "DUP-B2"}),
        ("PUT", "/v1/products/dup_pa/skus/dup_s2", {"source_id": "DUP-S2"}),
        ("PUT", "/v1/products/dup_pa/skus/dup_s2", {"source_id": "DUP-S3"}),
    ):
        assert srv.request(method, path, json=body).status_code == 200, (path, body)
    assert srv.request("GET", "/v1/products/DUP-B2").json()["id"] == "dup_pb"
    assert srv.request("GET", "/v1/skus/DUP-S3").json()["id"] == "dup_s2"


def test_issuing_a_code_writes_all_of_it_or_nothing(
    srv: AdminServer, redis_sync: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A single new code (POST /v1/campaigns/{id}/vouchers) is the code, its place in the
    # campaign's list, the audit entry and the gateways' notice. They used to be written in two
    # steps: a failure after the code's reservation left a usable code nobody could list. A
    # fault injected while the audit entry is written must now leave no code behind.
    from admin import audit

    camp = _campaign(srv, "Issue atomically")
    codes_key = f"{srv.prefix}campcodes:{camp['id']}"

    def code_keys() -> set[bytes]:  # every code stored outside the document (their buckets)
        buckets = redis_sync.scan_iter(match=f"{srv.prefix}codes:*", count=1000, _type="hash")
        return {c for b in buckets for c in redis_sync.hkeys(b)}

    before = code_keys()

    def broken(*_a: object, **_k: object) -> None:
        raise RuntimeError("injected: the process dies here")

    with monkeypatch.context() as mp:
        mp.setattr(audit, "add", broken)
        r = srv.request("POST", f"/v1/campaigns/{camp['id']}/vouchers")
        assert r.status_code == 500
    assert code_keys() == before and redis_sync.llen(codes_key) == 0  # nothing written
    ok = srv.request("POST", f"/v1/campaigns/{camp['id']}/vouchers")
    assert ok.status_code == 200, ok.text
    code = ok.json()["code"]
    assert code_keys() == before | {code.encode()}
    assert redis_sync.lrange(codes_key, 0, -1) == [code.encode()]
    entries = srv.request("GET", "/v1/audit-log", params={"action": "voucher.create", "limit": 100}).json()["data"]
    assert [e["resource_id"] for e in entries if e["resource_id"] == code] == [code]
