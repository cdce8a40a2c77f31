"""What the gateway records for admin's reports and reads from admin's customer records:
refused redemptions go to the ledger as ``failure`` entries, and ``customer.segment`` rules see
the static segments admin stores for a customer."""

from __future__ import annotations

import json

import msgspec
import orjson
from gateway_fixtures import body, definitions, in_process, ledger, voucher

from core import model as m
from store.defs import put_codes_sync


def test_a_refused_redemption_is_a_failure_entry_and_counts_nothing(gw) -> None:
    # camp_lim allows 100 uses: make it look exhausted
    gw.redis.set(gw.prefix + "{c:camp_lim}:v:LIMITED100:uses", 100)
    before = {k: v for k, v in gw.keyspace().items() if not k.endswith("ledger")}
    r = gw.redeem(body(voucher("LIMITED100")))
    assert r.status_code == 400 and r.json()["key"] == "quantity_exceeded", r.text
    after = {k: v for k, v in gw.keyspace().items() if not k.endswith("ledger")}
    assert after == before  # no counter moved
    (entry,) = [e for e in ledger(gw.redis, gw.prefix) if e["type"] == "failure"]
    data = json.loads(entry["data"])
    assert data["key"] == "quantity_exceeded"
    assert data["customer"] == "cus_1"
    assert data["items"] == [
        {"object": "voucher", "id": "LIMITED100", "campaign": "camp_lim", "key": "quantity_exceeded"}
    ]


def _segment_defs() -> m.Definitions:
    data = msgspec.to_builtins(definitions())
    data["validation_rules"].append(
        {"id": "val_vip", "rules": {"1": {"name": "customer.segment", "conditions": {"$in": ["seg_vip"]}}}}
    )
    data["campaigns"].append(
        {"id": "camp_vip", "name": "VIP only", "validation_rules": ["val_vip"],
         "voucher": {"discount": {"type": "AMOUNT", "amount_off": 700}}}
    )  # fmt: skip
    data["vouchers"].append({"code": "VIP7", "campaign_id": "camp_vip"})
    return m.load_definitions(data)


def test_segment_rules_see_the_segments_admin_stores(redis_url, key_prefix) -> None:
    with in_process(redis_url, key_prefix, _segment_defs()) as g:
        # admin's layout: Pcustomer:src:<source_id> -> id; Pcustomer:<id> -> JSON with segments
        g.redis.set(key_prefix + "customer:src:vip_1", "cust_vip")
        g.redis.set(key_prefix + "customer:cust_vip", orjson.dumps({"id": "cust_vip", "segments": ["seg_vip"]}))
        g.redis.set(key_prefix + "customer:src:plain_1", "cust_plain")
        g.redis.set(key_prefix + "customer:cust_plain", orjson.dumps({"id": "cust_plain", "segments": []}))

        ok = g.validate(body(voucher("VIP7"), customer="vip_1")).json()
        assert ok["valid"] is True and ok["order"]["total_discount_amount"] == 700
        no = g.validate(body(voucher("VIP7"), customer="plain_1")).json()
        assert no["valid"] is False
        assert no["redeemables"][0]["result"]["error"]["key"] == "customer_rules_violated"
        # a client that sends segments itself is taken at its word
        sent = body(voucher("VIP7"))
        sent["customer"] = {"source_id": "anyone", "segments": ["seg_vip"]}
        assert g.validate(sent).json()["valid"] is True


def test_qualifications_offer_the_codes_admin_issued_to_the_customer(gw) -> None:
    # admin's layout: an issued code is a Voucher in its bucket and sits in Pcustcodes:<customer>
    put_codes_sync(gw.redis, gw.prefix, [m.Voucher(code="MINE-1", campaign_id="camp_unique", customer_id="cus_1")])
    gw.redis.sadd(gw.prefix + "custcodes:cus_1", "MINE-1")
    q = {"customer": {"source_id": "cus_1"}, "order": {"amount": 10000}, "options": {"limit": 50}}
    mine = gw.post("/v1/qualifications", q).json()["redeemables"]["data"]
    assert "MINE-1" in {r["id"] for r in mine}
    other = {**q, "customer": {"source_id": "cus_2"}}
    theirs = gw.post("/v1/qualifications", other).json()["redeemables"]["data"]
    assert "MINE-1" not in {r["id"] for r in theirs}
