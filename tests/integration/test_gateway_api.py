"""Issue 3, end to end in process: every checkout endpoint's success and error paths, auth,
every kind of redeemable, LOCK sessions (expiry with a moved clock, and DELETE), idempotent
redeem and rollback, and the ops endpoints, against the real app and a real Redis.

The app is ``create_app(settings, clock)`` behind Litestar's TestClient (fixture ``gw``),
seeded with ``gateway_fixtures.DEFS`` under the test's own key prefix.
"""

from __future__ import annotations

from typing import Any

import msgspec
from gateway_fixtures import (
    HEADERS,
    InProcess,
    assert_error_shape,
    body,
    definitions,
    in_process,
    ledger,
    ledger_touching,
    metric_samples,
    sample,
    tier,
    voucher,
)

from core import model as m
from store.defs import put_codes_sync
from store.keys import Keys

LIM_USES = "{c:camp_lim}:v:LIMITED100:uses"
GEN_USES = "{c:camp_gen}:v:GEN5:uses"


def _ok(resp: Any) -> dict[str, Any]:
    assert resp.status_code == 200, (resp.status_code, resp.text[:800])
    return resp.json()


# ----------------------------------------------------------------------------------- auth


ENDPOINTS = [
    ("POST", "/v1/validations"),
    ("POST", "/v1/redemptions"),
    ("POST", "/v1/redemptions/r_x/rollback"),
    ("POST", "/v1/redemptions/r_x/rollbacks"),
    ("POST", "/v1/qualifications"),
    ("GET", "/v1/redemptions/r_x"),
    ("DELETE", "/v1/vouchers/GEN5/sessions/ssn_x"),
]
BAD_AUTH = [
    {},
    {"X-App-Id": "app_checkout"},
    {"X-App-Token": "tok_checkout_secret"},
    {"X-App-Id": "app_checkout", "X-App-Token": "wrong"},
    {"X-App-Id": "app_checkout", "X-App-Token": "TOK_CHECKOUT_SECRET"},
    {"X-App-Id": "nobody", "X-App-Token": "tok_checkout_secret"},
    {"X-App-Id": "", "X-App-Token": ""},
]


def test_auth_missing_or_wrong_is_401_in_error_shape(gw: InProcess) -> None:
    before = gw.keyspace()
    b = body(voucher("GEN5"))
    for method, path in ENDPOINTS:
        for headers in BAD_AUTH:
            resp = gw.client.request(
                method, path, headers=headers, json=b if method == "POST" else None
            )
            assert resp.status_code == 401, (method, path, headers, resp.status_code)
            assert_error_shape(resp, 401, "unauthorized")
    assert gw.keyspace() == before
    # and the right key passes on the same client
    assert gw.validate(b).status_code == 200


def test_non_application_role_is_403(gw: InProcess) -> None:
    from store.defs import put_app_key_sync

    put_app_key_sync(gw.redis, gw.prefix, "analyst_1", "tok_a", "analyst")
    resp = gw.client.post("/v1/redemptions", json=body(voucher("GEN5")),
                          headers={"X-App-Id": "analyst_1", "X-App-Token": "tok_a"})  # fmt: skip
    assert_error_shape(resp, 403, "forbidden")
    assert gw.counter(GEN_USES) == 0


# ----------------------------------------------------------------------------- validations


def test_validate_generic_code_applicable_and_writes_nothing(gw: InProcess) -> None:
    before = gw.keyspace()
    data = _ok(gw.validate(body(voucher("GEN5"), amount=12000)))
    assert data["valid"] is True
    assert data["id"].startswith("valid_")
    assert data["stacking_rules"]["redeemables_limit"] == 30
    (red,) = data["redeemables"]
    assert red["status"] == "APPLICABLE" and red["object"] == "voucher" and red["id"] == "GEN5"
    assert red["result"]["discount"] == {"type": "AMOUNT", "effect": "APPLY_TO_ORDER", "amount_off": 500,
                                         "is_dynamic": False}  # fmt: skip
    o = data["order"]
    assert (o["amount"], o["total_discount_amount"], o["total_amount"]) == (12000, 500, 11500)
    assert gw.keyspace() == before, "validate without a session must not write"


def test_validate_unknown_code_and_inactive_limits_are_200_invalid(gw: InProcess) -> None:
    data = _ok(gw.validate(body(voucher("NOPE"))))
    assert data["valid"] is False
    (red,) = data["redeemables"]
    assert red["status"] == "INAPPLICABLE"
    assert red["result"]["error"]["key"] == "resource_not_found"
    # ALL mode: one bad redeemable makes the others SKIPPED
    data = _ok(gw.validate(body(voucher("GEN5"), voucher("NOPE"))))
    assert data["valid"] is False
    statuses = {r["id"]: r["status"] for r in data["redeemables"]}
    assert statuses == {"GEN5": "SKIPPED", "NOPE": "INAPPLICABLE"}
    skipped = [r for r in data["redeemables"] if r["status"] == "SKIPPED"][0]
    assert skipped["result"]["details"]["key"] == "preceding_validation_failed"


def test_validate_promotion_tiers(gw: InProcess) -> None:
    data = _ok(gw.validate(body(tier("promo_10off"), tier("promo_5pct"), amount=10000)))
    assert data["valid"] is True
    assert [r["object"] for r in data["redeemables"]] == ["promotion_tier", "promotion_tier"]
    # 10.00 off, then 5% of the rest (9000): applied in sequence
    assert data["order"]["total_discount_amount"] == 1000 + 450
    # the 10.00 tier needs an order from 50.00
    data = _ok(gw.validate(body(tier("promo_10off"), amount=4000)))
    assert data["valid"] is False
    assert data["redeemables"][0]["result"]["error"]["key"] == "order_rules_violated"


def test_validate_gift_card_partial_use_and_balance(gw: InProcess) -> None:
    # no credits asked: the card pays what it can, up to the order
    data = _ok(gw.validate(body(voucher("GIFT25"), amount=1000)))
    gift = data["redeemables"][0]["result"]["gift"]
    assert gift["credits"] == 1000 and gift["balance"] == 2500  # balance before this request
    assert data["order"]["total_amount"] == 0
    # asking more than the balance: gift_amount_exceeded
    data = _ok(gw.validate(body(voucher("GIFT25", gift={"credits": 3000}), amount=10000)))
    assert data["valid"] is False
    assert data["redeemables"][0]["result"]["error"]["key"] == "gift_amount_exceeded"


def test_duplicated_and_too_many_redeemables_are_400(gw: InProcess) -> None:
    before = gw.keyspace()
    for path in ("/v1/validations", "/v1/redemptions"):
        resp = gw.post(path, body(voucher("GEN5"), voucher("GEN5")))
        assert_error_shape(resp, 400, "duplicated_redeemables")
        resp = gw.post(path, body(*[voucher(f"C{i}") for i in range(31)]))
        assert_error_shape(resp, 400, "invalid_payload")
        resp = gw.post(path, body())
        assert_error_shape(resp, 400, "invalid_payload")
    assert gw.keyspace() == before


# ----------------------------------------------------------------------------- redemptions


def test_redeem_generic_code_counts_records_and_ledger(gw: InProcess) -> None:
    data = _ok(gw.redeem(body(voucher("GEN5"), amount=12000)))
    parent = data["parent_redemption"]
    (child,) = data["redemptions"]
    assert parent["id"].startswith("r_") and child["redemption"] == parent["id"]
    assert child["result"] == "SUCCESS" and child["status"] == "SUCCEEDED"
    assert child["voucher"]["code"] == "GEN5"
    assert data["order"]["status"] == "PAID" and data["order"]["total_discount_amount"] == 500
    assert data["order"]["redemptions"][parent["id"]]["stacked"] == [child["id"]]
    assert gw.counter(GEN_USES) == 1
    assert gw.counter("{c:camp_gen}:disc") == 500
    entries = ledger_touching(gw.redis, gw.prefix, GEN_USES)
    assert len(entries) == 1
    # the record is there and readable
    got = _ok(gw.client.get(f"/v1/redemptions/{child['id']}", headers=HEADERS))
    assert got["id"] == child["id"] and got["status"] == "SUCCEEDED"
    got = _ok(gw.client.get(f"/v1/redemptions/{parent['id']}", headers=HEADERS))
    assert got["related_object_type"] == "redemption"


def test_redeem_unique_codes_stored_outside_definitions(gw: InProcess) -> None:
    codes = [m.Voucher(code=f"UNQ-{i:04d}", campaign_id="camp_unique") for i in range(3)]
    put_codes_sync(gw.redis, gw.prefix, codes)
    doc = gw.redis.get(gw.prefix + "defs")
    assert b"UNQ-0000" not in doc
    data = _ok(gw.redeem(body(voucher("UNQ-0001"))))
    assert data["redemptions"][0]["voucher"]["code"] == "UNQ-0001"
    assert data["order"]["total_discount_amount"] == 1000
    # quantity 1: the second redeem of that code fails; another unique code still works
    resp = gw.redeem(body(voucher("UNQ-0001")))
    err = assert_error_shape(resp, 400, "quantity_exceeded")
    assert err["resource_id"] == "UNQ-0001"
    _ok(gw.redeem(body(voucher("UNQ-0002"))))
    assert gw.counter("{c:camp_unique}:v:UNQ-0001:uses") == 1
    assert gw.counter("{c:camp_unique}:uses") == 2
    # a code that is nowhere: 400 resource_not_found, nothing counted
    before = gw.keyspace()
    assert_error_shape(gw.redeem(body(voucher("UNQ-9999"))), 400, "resource_not_found")
    gw.assert_refused_without_writes(before, "resource_not_found")


def test_redeem_promotion_tiers_and_stacked_rollback(gw: InProcess) -> None:
    data = _ok(gw.redeem(body(tier("promo_10off"), voucher("GEN5"), amount=10000)))
    assert data["order"]["total_discount_amount"] == 1500
    parent_id = data["parent_redemption"]["id"]
    kids = [r["id"] for r in data["redemptions"]]
    assert gw.counter("{c:camp_promo}:t:promo_10off:uses") == 1
    assert gw.counter(GEN_USES) == 1
    # a child of a stacked redemption cannot be rolled back alone if it is the parent
    assert_error_shape(gw.rollback(parent_id), 400, "invalid_redemption")
    rb = _ok(gw.rollbacks(parent_id, reason="refund"))
    assert rb["parent_rollback"]["redemption"] == parent_id
    assert rb["parent_rollback"]["reason"] == "refund"
    assert sorted(r["redemption"] for r in rb["rollbacks"]) == sorted(kids)
    assert rb["order"]["status"] == "CANCELED"
    assert gw.counter("{c:camp_promo}:t:promo_10off:uses") == 0
    assert gw.counter(GEN_USES) == 0
    assert gw.counter("{c:camp_gen}:disc") == 0
    got = _ok(gw.client.get(f"/v1/redemptions/{kids[0]}", headers=HEADERS))
    assert got["status"] == "ROLLED_BACK"
    assert_error_shape(gw.rollbacks(parent_id), 400, "already_rolled_back")


def test_redeem_gift_card_spends_credits_partially_never_negative(gw: InProcess) -> None:
    spent = "{c:camp_gift}:v:GIFT25:spent"
    data = _ok(gw.redeem(body(voucher("GIFT25", gift={"credits": 1000}), amount=5000)))
    (child,) = data["redemptions"]
    assert child["amount"] == 1000 and child["gift"] == {"amount": 1000}
    assert data["order"]["total_amount"] == 4000
    assert gw.counter(spent) == 1000
    # balance 1500: asking 2000 is refused, nothing counted
    assert_error_shape(
        gw.redeem(body(voucher("GIFT25", gift={"credits": 2000}))), 400, "gift_amount_exceeded"
    )
    assert gw.counter(spent) == 1000
    # no credits given: the card pays the rest of its balance (partial use of a 9000 order)
    data = _ok(gw.redeem(body(voucher("GIFT25"), amount=9000)))
    assert data["redemptions"][0]["amount"] == 1500
    assert data["order"]["total_amount"] == 7500
    assert gw.counter(spent) == 2500
    # empty card
    assert_error_shape(gw.redeem(body(voucher("GIFT25"), amount=9000)), 400, "gift_amount_exceeded")
    assert gw.counter(spent) == 2500
    # rolling back the first spend gives 1000 back
    _ok(gw.rollback(child["id"]))
    assert gw.counter(spent) == 1500
    data = _ok(gw.validate(body(voucher("GIFT25"), amount=100000)))
    assert data["redeemables"][0]["result"]["gift"] == {"credits": 1000, "balance": 1000}


def test_redeem_limit_refusal_is_400_and_writes_nothing(gw: InProcess) -> None:
    gw.redis.set(gw.prefix + LIM_USES, 100)
    before = gw.keyspace()
    resp = gw.redeem(body(voucher("LIMITED100")))
    assert_error_shape(resp, 400, "quantity_exceeded")
    gw.assert_refused_without_writes(before, "quantity_exceeded")


def test_redeem_all_mode_one_bad_redeemable_redeems_nothing(gw: InProcess) -> None:
    before = gw.keyspace()
    resp = gw.redeem(body(voucher("GEN5"), voucher("NOPE")))
    assert_error_shape(resp, 400, "resource_not_found")
    gw.assert_refused_without_writes(before, "resource_not_found")


# ------------------------------------------------------------------------------- rollbacks


def test_rollback_single_then_again_then_unknown(gw: InProcess) -> None:
    data = _ok(gw.redeem(body(voucher("GEN5"))))
    rid = data["redemptions"][0]["id"]
    rb = _ok(gw.rollback(rid, reason="order canceled"))
    assert rb["object"] == "redemption_rollback" and rb["id"].startswith("rr_")
    assert rb["redemption"] == rid and rb["status"] == "SUCCEEDED" and rb["result"] == "SUCCESS"
    assert rb["reason"] == "order canceled"
    assert gw.counter(GEN_USES) == 0
    err = assert_error_shape(gw.rollback(rid), 400, "already_rolled_back")
    assert err["resource_id"] == rid
    assert gw.counter(GEN_USES) == 0
    assert_error_shape(gw.rollback("r_does_not_exist"), 404, "not_found")
    assert_error_shape(gw.rollbacks("r_does_not_exist"), 404, "not_found")
    assert_error_shape(gw.client.get("/v1/redemptions/r_nope", headers=HEADERS), 404, "not_found")
    # a rollback with a JSON body (reason in the body)
    data = _ok(gw.redeem(body(voucher("GEN5"))))
    rid2 = data["redemptions"][0]["id"]
    rb = _ok(gw.post(f"/v1/redemptions/{rid2}/rollback", {"reason": "in body", "metadata": None}))
    assert rb["reason"] == "in body"
    assert_error_shape(
        gw.post(f"/v1/redemptions/{rid2}/rollback", {"reason": 5}), 400, "invalid_payload"
    )


def test_rollback_gives_uses_back_so_a_limited_code_can_be_used_again(gw: InProcess) -> None:
    data = _ok(gw.redeem(body(voucher("LOCK1"))))
    assert_error_shape(gw.redeem(body(voucher("LOCK1"))), 400, "quantity_exceeded")
    _ok(gw.rollback(data["redemptions"][0]["id"]))
    _ok(gw.redeem(body(voucher("LOCK1"))))
    assert gw.counter("{c:camp_lock}:v:LOCK1:uses") == 1


# ------------------------------------------------------------------------------- idempotency


def test_idempotent_redeem_replays_and_conflicts(gw: InProcess) -> None:
    b = body(voucher("GEN5"), amount=8000)
    first = gw.redeem(b, idem="order-42")
    data = _ok(first)
    n_ledger = len(ledger(gw.redis, gw.prefix))
    again = gw.redeem(b, idem="order-42")
    assert again.status_code == 200
    assert again.content == first.content, "a retry returns the stored answer, byte for byte"
    assert gw.counter(GEN_USES) == 1 and gw.counter("{c:camp_gen}:disc") == 500
    assert len(ledger(gw.redis, gw.prefix)) == n_ledger
    # same key, other body: 409, nothing counted
    before = gw.keyspace()
    resp = gw.redeem(body(voucher("GEN5"), amount=9000), idem="order-42")
    assert_error_shape(resp, 409, "duplicate_found")
    assert gw.keyspace() == before
    # a different key is a different redemption
    other = _ok(gw.redeem(b, idem="order-43"))
    assert other["parent_redemption"]["id"] != data["parent_redemption"]["id"]
    assert gw.counter(GEN_USES) == 2
    # a bad Idempotency-Key
    assert_error_shape(gw.redeem(b, idem="x" * 256), 400, "invalid_payload")
    assert gw.counter(GEN_USES) == 2


def test_idempotent_redeem_replays_even_after_the_limit_is_reached(gw: InProcess) -> None:
    b = body(voucher("LOCK1"))
    first = _ok(gw.redeem(b, idem="k1"))
    # LOCK1 is used up now; a retry of the successful call still gets its answer, not a 400
    again = gw.redeem(b, idem="k1")
    assert again.status_code == 200 and again.json() == first
    assert gw.counter("{c:camp_lock}:v:LOCK1:uses") == 1


def test_idempotent_rollback(gw: InProcess) -> None:
    data = _ok(gw.redeem(body(voucher("GEN5"))))
    rid = data["redemptions"][0]["id"]
    first = _ok(gw.rollback(rid, idem="rb-1"))
    n_ledger = len(ledger(gw.redis, gw.prefix))
    again = gw.rollback(rid, idem="rb-1")
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first["id"] and again.json()["redemption"] == rid
    assert gw.counter(GEN_USES) == 0
    assert len(ledger(gw.redis, gw.prefix)) == n_ledger
    # same key, another redemption: 409
    data2 = _ok(gw.redeem(body(voucher("GEN5"))))
    rid2 = data2["redemptions"][0]["id"]
    assert_error_shape(gw.rollback(rid2, idem="rb-1"), 409, "duplicate_found")
    assert gw.counter(GEN_USES) == 1
    # without the key the second rollback of rid is already_rolled_back
    assert_error_shape(gw.rollback(rid), 400, "already_rolled_back")
    # stacked rollback replays too
    data3 = _ok(gw.redeem(body(voucher("GEN5"), tier("promo_5pct"))))
    pid = data3["parent_redemption"]["id"]
    a = _ok(gw.rollbacks(pid, idem="rbs-1"))
    b = _ok(gw.rollbacks(pid, idem="rbs-1"))
    assert a["parent_rollback"]["id"] == b["parent_rollback"]["id"]
    assert gw.counter("{c:camp_promo}:t:promo_5pct:uses") == 0


# --------------------------------------------------------------------------------- sessions


def _lock(
    gw: InProcess, code: str, ttl_s: int = 60, key: str | None = None, **kw: Any
) -> dict[str, Any]:
    sess: dict[str, Any] = {"type": "LOCK", "ttl": ttl_s, "ttl_unit": "SECONDS"}
    if key:
        sess["key"] = key
    data = _ok(gw.validate(body(voucher(code, **kw), session=sess)))
    assert data["valid"] is True, data
    assert data["session"]["type"] == "LOCK" and data["session"]["key"]
    return data


def test_session_lock_reserves_the_last_use_and_redeem_consumes_it(gw: InProcess) -> None:
    data = _lock(gw, "LOCK1", key="ssn_checkout_1")
    assert data["session"]["key"] == "ssn_checkout_1"
    # someone else: the only use is held
    other = _ok(gw.validate(body(voucher("LOCK1"), customer="cus_2")))
    assert other["valid"] is False
    assert other["redeemables"][0]["result"]["error"]["key"] == "quantity_exceeded"
    assert_error_shape(
        gw.redeem(body(voucher("LOCK1"), customer="cus_2")), 400, "quantity_exceeded"
    )
    # a second lock by someone else: refused too
    other = _ok(gw.validate(body(voucher("LOCK1"), customer="cus_2", session={"type": "LOCK"})))
    assert other["valid"] is False and "session" not in other
    # the holder redeems with its session key
    red = _ok(gw.redeem(body(voucher("LOCK1"), session={"key": "ssn_checkout_1"})))
    assert red["redemptions"][0]["session"] == {"key": "ssn_checkout_1"}
    assert gw.counter("{c:camp_lock}:v:LOCK1:uses") == 1
    assert not gw.redis.exists(gw.prefix + "sess:ssn_checkout_1")
    # the session's hold is gone with the redemption; the code is used up
    assert_error_shape(gw.redeem(body(voucher("LOCK1"), session={"key": "ssn_checkout_1"})), 400,
                       "quantity_exceeded")  # fmt: skip


def test_session_lock_expires_with_the_clock(gw: InProcess) -> None:
    _lock(gw, "LOCK1", ttl_s=30, key="ssn_exp")
    assert_error_shape(
        gw.redeem(body(voucher("LOCK1"), customer="cus_2")), 400, "quantity_exceeded"
    )
    gw.clock.advance(29)
    assert_error_shape(
        gw.redeem(body(voucher("LOCK1"), customer="cus_2")), 400, "quantity_exceeded"
    )
    gw.clock.advance(2)  # past the TTL: the use is free again
    red = _ok(gw.redeem(body(voucher("LOCK1"), customer="cus_2")))
    assert red["redemptions"][0]["voucher"]["code"] == "LOCK1"
    assert gw.counter("{c:camp_lock}:v:LOCK1:uses") == 1


def test_session_release_by_delete(gw: InProcess) -> None:
    _lock(gw, "LOCK1", key="ssn_del")
    assert_error_shape(
        gw.redeem(body(voucher("LOCK1"), customer="cus_2")), 400, "quantity_exceeded"
    )
    resp = gw.client.delete("/v1/vouchers/LOCK1/sessions/ssn_del", headers=HEADERS)
    assert resp.status_code == 204 and resp.content == b""
    # releasing again (or an unknown session) is harmless
    assert (
        gw.client.delete("/v1/vouchers/LOCK1/sessions/ssn_del", headers=HEADERS).status_code == 204
    )
    assert (
        gw.client.delete("/v1/vouchers/LOCK1/sessions/ssn_unknown", headers=HEADERS).status_code
        == 204
    )
    _ok(gw.redeem(body(voucher("LOCK1"), customer="cus_2")))
    assert gw.counter("{c:camp_lock}:v:LOCK1:uses") == 1


def test_session_lock_holds_gift_credits(gw: InProcess) -> None:
    _lock(gw, "GIFT25", key="ssn_gift", gift={"credits": 2000})
    # 2500 - 2000 held = 500 left for others
    other = _ok(gw.validate(body(voucher("GIFT25", gift={"credits": 1000}), customer="cus_2")))
    assert other["valid"] is False
    assert other["redeemables"][0]["result"]["error"]["key"] == "gift_amount_exceeded"
    assert_error_shape(gw.redeem(body(voucher("GIFT25", gift={"credits": 1000}), customer="cus_2")), 400,
                       "gift_amount_exceeded")  # fmt: skip
    _ok(gw.redeem(body(voucher("GIFT25", gift={"credits": 500}), customer="cus_2")))
    # the holder redeems its 2000
    _ok(gw.redeem(body(voucher("GIFT25", gift={"credits": 2000}), session={"key": "ssn_gift"})))
    assert gw.counter("{c:camp_gift}:v:GIFT25:spent") == 2500


def test_session_bad_ttl_is_400(gw: InProcess) -> None:
    before = gw.keyspace()
    for sess in ({"type": "LOCK", "ttl": -1}, {"type": "LOCK", "ttl": 0}, {"type": "SHARED"},
                 {"type": "LOCK", "ttl": 5, "ttl_unit": "WEEKS"}, {"type": "LOCK", "key": ""}):  # fmt: skip
        assert_error_shape(
            gw.validate(body(voucher("LOCK1"), session=sess)), 400, "invalid_payload"
        )
    assert gw.keyspace() == before


# ---------------------------------------------------------------------------- qualifications


def test_qualifications_sorted_and_honouring_live_limits(gw: InProcess) -> None:
    q = {"customer": {"source_id": "cus_1"}, "order": {"amount": 10000}}
    data = _ok(gw.post("/v1/qualifications", q))
    lst = data["redeemables"]
    assert lst["object"] == "list" and lst["data_ref"] == "data"
    ids = [r["id"] for r in lst["data"]]
    assert "promo_10off" in ids or "GEN5" in ids, ids
    assert lst["total"] >= len(lst["data"])
    assert "stacking_rules" in data
    best = _ok(
        gw.post("/v1/qualifications", {**q, "options": {"sorting_rule": "BEST_DEAL", "limit": 50}})
    )
    least = _ok(
        gw.post("/v1/qualifications", {**q, "options": {"sorting_rule": "LEAST_DEAL", "limit": 50}})
    )

    def disc(r: dict) -> int:
        return int((r.get("order") or {}).get("total_applied_discount_amount") or (r.get("order") or {}).get(
            "total_discount_amount") or 0)  # fmt: skip

    b = [disc(r) for r in best["redeemables"]["data"]]
    le = [disc(r) for r in least["redeemables"]["data"]]
    assert b == sorted(b, reverse=True), b
    assert le == sorted(le), le
    # live limits: once LOCK1 is used up it is no longer offered
    all_ids = {r["id"] for r in best["redeemables"]["data"]}
    assert {"GEN5", "promo_10off", "promo_5pct", "GIFT25", "LOCK1", "LIMITED100"} <= all_ids, (
        all_ids
    )
    assert b[0] == 10000 and b[-1] == 100  # a full 100.00 gift card first, LIMITED100's 1.00 last
    # default limit is 5
    assert len(lst["data"]) == 5 and lst["has_more"] is True
    # live limits: once LOCK1 is used up it is no longer offered
    _ok(gw.redeem(body(voucher("LOCK1"))))
    after = _ok(
        gw.post("/v1/qualifications", {**q, "options": {"sorting_rule": "BEST_DEAL", "limit": 50}})
    )
    assert "LOCK1" not in {r["id"] for r in after["redeemables"]["data"]}
    assert "LOCK2" in {r["id"] for r in after["redeemables"]["data"]}
    # promo_10off needs 50.00: not offered on a 40.00 cart
    small = _ok(
        gw.post("/v1/qualifications", {**q, "order": {"amount": 4000}, "options": {"limit": 50}})
    )
    assert "promo_10off" not in {r["id"] for r in small["redeemables"]["data"]}
    # bad options
    assert_error_shape(
        gw.post("/v1/qualifications", {**q, "options": {"limit": 51}}), 400, "invalid_payload"
    )
    assert_error_shape(
        gw.post("/v1/qualifications", {**q, "scenario": "NOPE"}), 400, "invalid_payload"
    )


# --------------------------------------------------------------------------------- operations


def test_health_ready_metrics(gw: InProcess) -> None:
    assert gw.client.get("/health").json() == {"status": "ok"}
    r = gw.client.get("/ready")
    assert r.status_code == 200 and r.json()["ready"] is True and r.json()["ruleset_version"] >= 1
    before = metric_samples(gw.client.get("/metrics").text)
    rid = _ok(gw.redeem(body(voucher("GEN5"))))["redemptions"][0]["id"]
    _ok(gw.rollback(rid))
    assert_error_shape(gw.rollback(rid), 400, "already_rolled_back")
    gw.redis.set(gw.prefix + LIM_USES, 100)
    assert_error_shape(gw.redeem(body(voucher("LIMITED100"))), 400, "quantity_exceeded")
    _ok(gw.validate(body(voucher("GEN5"))))
    resp = gw.client.get("/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    after = metric_samples(resp.text)

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("promogate_requests_total", endpoint="redemptions", status="200") == 1
    assert delta("promogate_requests_total", endpoint="redemptions", status="400") == 1
    assert delta("promogate_requests_total", endpoint="rollback", status="200") == 1
    assert delta("promogate_requests_total", endpoint="rollback", status="400") == 1
    assert delta("promogate_requests_total", endpoint="validations", status="200") == 1
    assert delta("promogate_request_seconds_count", endpoint="redemptions") == 2
    assert delta("promogate_request_seconds_bucket", endpoint="validations", le="+Inf") == 1
    assert delta("promogate_redemptions_total", result="SUCCESS") == 1
    assert delta("promogate_redemptions_total", result="FAILURE") == 1
    assert delta("promogate_rollbacks_total", result="SUCCESS") == 1
    assert delta("promogate_rollbacks_total", result="already_rolled_back") == 1
    assert delta("promogate_failures_total", key="quantity_exceeded") == 1
    assert sample(after, "promogate_ruleset_version") >= 1
    assert ("promogate_ruleset_compile_errors", ()) in after


def test_the_gateway_applies_its_gc_threshold_and_publishes_its_gc_pauses(redis_url, key_prefix):
    import gc

    saved = gc.get_threshold()
    try:
        with in_process(redis_url, key_prefix, gc_threshold=(12345, 11, 13)) as g:
            assert gc.get_threshold() == (12345, 11, 13)
            gc.collect(2)  # a full collection in this (the worker's) process
            text = g.client.get("/metrics").text
        assert sample(metric_samples(text), "promogate_gc_pause_seconds_count", generation="2") >= 1
    finally:
        gc.set_threshold(*saved)



def test_unknown_route_and_method_are_4xx_in_error_shape(gw: InProcess) -> None:
    assert_error_shape(gw.client.get("/v1/nothing", headers=HEADERS), 404, "not_found")
    resp = gw.client.get("/v1/validations", headers=HEADERS)
    assert_error_shape(resp, 405)


def test_qualifications_pages_cover_every_redeemable_once_in_best_deal_order(gw) -> None:
    q = {"customer": {"source_id": "cus_1"}, "order": {"amount": 10000}}
    full = _ok(gw.post("/v1/qualifications", {**q, "options": {"sorting_rule": "BEST_DEAL", "limit": 50}}))
    want = [r["id"] for r in full["redeemables"]["data"]]
    assert len(want) > 4
    got: list[str] = []
    cursor = None
    for _ in range(len(want)):
        opts: dict = {"sorting_rule": "BEST_DEAL", "limit": 2}
        if cursor is not None:
            opts["starting_after"] = cursor
        page = _ok(gw.post("/v1/qualifications", {**q, "options": opts}))["redeemables"]
        got += [r["id"] for r in page["data"]]
        assert page["total"] == len(want) - len(got) + len(page["data"])
        if not page["has_more"]:
            break
        cursor = page["more_starting_after"]
    assert got == want


def test_a_store_error_is_a_counted_500_in_the_error_shape(gw) -> None:
    # a counter that is not an integer makes Redis refuse the redeem script's INCRBY
    gw.redis.set(gw.prefix + "{c:camp_gen}:v:GEN5:uses", "not-a-number")
    before = metric_samples(gw.client.get("/metrics").text)
    r = gw.redeem(body(voucher("GEN5")))
    data = assert_error_shape(r, 500, "internal_error")
    assert "refused" in data["details"]
    after = metric_samples(gw.client.get("/metrics").text)
    assert sample(after, "promogate_script_errors_total") == sample(before, "promogate_script_errors_total") + 1


# ----------------------------------------------------------------------- read your writes


def _store_without_notice(gw: InProcess, defs: m.Definitions) -> int:
    """Store ``defs`` as the next version the way admin does, but send no pub/sub notice: what a
    worker sees when a checkout arrives before the notice does."""
    k = Keys(gw.prefix)
    version = int(gw.redis.get(k.version) or 0) + 1
    pipe = gw.redis.pipeline(transaction=True)
    pipe.set(k.version, version)
    pipe.set(k.defs, msgspec.json.encode(msgspec.structs.replace(defs, version=version)))
    pipe.execute()
    return version


def test_a_code_created_a_moment_ago_is_seen_before_its_notice(gw: InProcess) -> None:
    served = gw.client.get("/ready").json()["ruleset_version"]
    v = _store_without_notice(gw, definitions([{"code": "JUSTMADE", "campaign_id": "camp_gen"}]))
    assert served < v
    # the code is not in the worker's ruleset, Redis holds a newer version: loaded, then judged
    r = _ok(gw.validate(body(voucher("JUSTMADE"))))
    assert r["valid"] is True, r["redeemables"][0]["result"]
    assert gw.client.get("/ready").json()["ruleset_version"] == v
    v = _store_without_notice(gw, definitions([{"code": "JUSTMADE2", "campaign_id": "camp_gen"}]))
    red = _ok(gw.redeem(body(voucher("JUSTMADE2"))))
    assert red["redemptions"][0]["result"] == "SUCCESS"
    assert gw.client.get("/ready").json()["ruleset_version"] == v


def test_an_unknown_code_with_no_newer_version_stays_unknown(gw: InProcess) -> None:
    before = int(gw.redis.get(Keys(gw.prefix).version) or 0)
    for _ in range(3):
        r = _ok(gw.validate(body(voucher("NEVERMADE"))))
        assert r["redeemables"][0]["result"]["error"]["key"] == "resource_not_found"
    assert int(gw.redis.get(Keys(gw.prefix).version) or 0) == before
