"""Ledger and reports from real redemptions made through a running gateway, CSV round trips,
and the export / import round trip of all definitions into an empty instance."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from stacks import club_programme

from admin.testing import AdminServer, GatewayProcess

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(redis_url: str, key_prefix: str) -> Iterator[tuple[AdminServer, GatewayProcess]]:
    with (
        AdminServer(redis_url, key_prefix) as srv,
        GatewayProcess(redis_url, key_prefix, workers=1) as gw,
    ):
        yield srv, gw


def _redeem(
    gw: GatewayProcess, code: str, amount: int, customer: str, credits: int | None = None
) -> dict:
    red: dict = {"object": "voucher", "id": code}
    if credits is not None:
        red["gift"] = {"credits": credits}
    r = httpx.post(
        gw.url + "/v1/redemptions",
        headers={"X-App-Id": gw.app_id, "X-App-Token": gw.app_token},
        json={
            "customer": {"source_id": customer},
            "order": {"amount": amount},
            "redeemables": [red],
        },
        timeout=5,
    )
    assert r.status_code == 200, r.text
    return r.json()


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_ledger_reports_and_customer_view(
    stack: tuple[AdminServer, GatewayProcess], redis_sync: redis.Redis
) -> None:
    srv, gw = stack
    coupons = srv.request("POST", "/v1/campaigns", json={
        "name": "Ten", "campaign_type": "DISCOUNT_COUPONS",
        "voucher": {"discount": {"type": "PERCENT", "percent_off": 10}},
        "limits": {"redemptions": 10, "discounted_amount": 100_000},
    }).json()  # fmt: skip
    srv.request("POST", "/v1/vouchers/TEN", json={"campaign_id": coupons["id"]}).raise_for_status()
    gifts = srv.request("POST", "/v1/campaigns", json={
        "name": "Gift cards", "campaign_type": "GIFT_VOUCHERS", "vouchers_count": 3,
        "voucher": {"type": "GIFT_VOUCHER", "gift": {"amount": 5000}},
    }).json()  # fmt: skip
    srv.wait_action(gifts["async_action_id"])
    srv.request(
        "POST", "/v1/customers", json={"source_id": "c1", "name": "Cleo"}
    ).raise_for_status()
    issued = srv.request(
        "POST", "/v1/publications", json={"campaign": gifts["id"], "customer": {"source_id": "c1"}}
    ).json()
    card = issued["voucher"]["code"]

    r1 = _redeem(gw, "TEN", 10_000, "c1")
    _redeem(gw, "TEN", 20_000, "c2")
    r3 = _redeem(gw, "TEN", 30_000, "c1")
    _redeem(gw, card, 8_000, "c1", credits=2000)
    rb = httpx.post(f"{gw.url}/v1/redemptions/{r3['redemptions'][0]['id']}/rollback",
                    headers={"X-App-Id": gw.app_id, "X-App-Token": gw.app_token}, timeout=5)  # fmt: skip
    assert rb.status_code == 200, rb.text
    # a failed redemption, in the ledger entry shape documented in admin/API.md
    redis_sync.xadd(f"{srv.prefix}ledger", {"type": "failure", "at": "1700000000000", "data": json.dumps(
        {"customer": "c2", "order_amount": 500, "key": "quantity_exceeded", "message": "no more uses",
         "items": [{"object": "voucher", "id": "TEN", "campaign": coupons["id"]}]})})  # fmt: skip

    def reds(**params: object) -> list[dict]:
        r = srv.request("GET", "/v1/redemptions", params={"limit": 100, **params})
        assert r.status_code == 200, r.text
        return r.json()["redemptions"]

    assert len(reds()) == 5
    mine = reds(campaign_id=coupons["id"])
    assert [x["status"] for x in mine] == ["FAILED", "ROLLED_BACK", "SUCCEEDED", "SUCCEEDED"]
    assert (
        mine[2]["discount"] == 2000
        and mine[2]["customer_id"] == "c2"
        and mine[2]["voucher"]["code"] == "TEN"
    )
    assert [x["order"]["amount"] for x in reds(customer="c1", voucher="TEN")] == [30_000, 10_000]
    assert [x["id"] for x in reds(status="ROLLED_BACK")] == [r3["redemptions"][0]["id"]]
    assert (
        len(reds(result="FAILURE")) == 1
        and reds(failure_code="quantity_exceeded")[0]["failure_message"] == "no more uses"
    )
    assert len(reds(result="SUCCESS")) == 4
    assert reds(end_date="2023-11-15T00:00:00Z")[0]["status"] == "FAILED"  # dated 2023-11-14
    assert len(reds(start_date="2024-01-01T00:00:00Z")) == 4
    page = srv.request("GET", "/v1/redemptions", params={"limit": 2}).json()
    assert page["has_more"]
    rest = srv.request(
        "GET",
        "/v1/redemptions",
        params={"limit": 10, "starting_after": page["more_starting_after"]},
    ).json()
    assert len(page["redemptions"]) + len(rest["redemptions"]) == 5
    assert (
        srv.request("GET", "/v1/redemptions", params={"start_date": "yesterday"}).status_code == 400
    )

    rep = srv.request("GET", f"/v1/reports/campaigns/{coupons['id']}").json()
    assert rep["redemptions"] == {"succeeded": 2, "failed": 1, "rolled_back": 1, "total": 4}
    assert rep["total_discounted_amount"] == 3000  # 1000 + 2000; the rolled back 3000 returned
    assert rep["total_order_value"] == 30_000
    assert (
        rep["average_order_value"] == 15_000 and rep["average_order_value_after_discount"] == 13_500
    )
    assert rep["budget"]["redemptions"] == {
        "used": 2,
        "limit": 10,
        "used_percent": 20.0,
        "remaining": 8,
    }
    assert (
        rep["budget"]["discounted_amount"]["used"] == 3000
        and rep["budget"]["discounted_amount"]["limit"] == 100_000
    )

    grep = srv.request("GET", f"/v1/reports/campaigns/{gifts['id']}").json()
    assert grep["gift"] == {
        "cards": 4,
        "loaded_amount": 20_000,
        "spent_amount": 2000,
        "outstanding_balance": 18_000,
    }
    assert grep["redemptions"]["succeeded"] == 1

    view = srv.request("GET", "/v1/reports/customers/c1").json()
    assert view["customer"]["name"] == "Cleo"
    assert [v["code"] for v in view["vouchers"]] == [card]
    assert view["balances"]["gift_balance"] == 3000
    assert [x["status"] for x in view["redemptions"]["redemptions"]] == [
        "SUCCEEDED",
        "ROLLED_BACK",
        "SUCCEEDED",
    ]
    assert r1["redemptions"][0]["id"] in {x["id"] for x in view["redemptions"]["redemptions"]}

    # redemptions as CSV, streamed, same filters
    r = srv.request("GET", "/v1/exports/redemptions.csv", params={"campaign_id": coupons["id"]})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = _rows(r.text)
    assert [x["status"] for x in rows] == [
        "SUCCEEDED",
        "SUCCEEDED",
        "ROLLED_BACK",
        "FAILED",
    ]  # oldest first
    assert (
        rows[0]["discount"] == "1000"
        and rows[0]["customer_id"] == "c1"
        and rows[3]["failure_code"] == "quantity_exceeded"
    )


def test_codes_csv_round_trip(redis_url: str, key_prefix: str) -> None:
    lines = ["Code,Customer,Redemption Limit,Gift Amount,metadata.batch,active"]
    lines += [
        f"IMP-{i:04d},{'c' + str(i) if i % 2 else ''},{i % 3 + 1},{1000 + i},b{i % 2},{'true' if i % 5 else 'false'}"
        for i in range(300)
    ]
    text = "\n".join(lines) + "\n"
    gift = {
        "campaign_type": "GIFT_VOUCHERS",
        "voucher": {"type": "GIFT_VOUCHER", "gift": {"amount": 500}},
    }
    with AdminServer(redis_url, key_prefix) as a:
        camp = a.request("POST", "/v1/campaigns", json={"name": "Imported", **gift}).json()
        r = a.request(
            "POST",
            f"/v1/campaigns/{camp['id']}/importCSV",
            files={"file": ("codes.csv", text, "text/csv")},
        )
        assert r.status_code == 202, r.text
        done = a.wait_action(r.json()["async_action_id"])
        assert (
            done["status"] == "DONE"
            and done["result"]["count"] == 300
            and done["result"]["failed_count"] == 0
        )
        v7 = a.request("GET", "/v1/vouchers/IMP-0007").json()
        assert (
            v7["holder_id"] == "c7"
            and v7["redemption"]["quantity"] == 2
            and v7["gift"]["amount"] == 1007
        )
        assert v7["metadata"] == {"batch": "b1"} and v7["active"] is True
        assert a.request("GET", "/v1/vouchers/IMP-0005").json()["active"] is False

        # importing again: every code is reported, none overwritten
        again = a.request(
            "POST",
            f"/v1/campaigns/{camp['id']}/importCSV",
            content=text,
            headers={"Content-Type": "text/csv"},
        )
        assert (
            again.status_code == 409
            or a.wait_action(again.json()["async_action_id"])["result"]["failed_count"] == 300
        )
        # a bad row refuses the whole file and names its line
        bad = a.request("POST", f"/v1/campaigns/{camp['id']}/importCSV", content="code,gift_amount\nOK-1,10\nOK 2,x\n",
                        headers={"Content-Type": "text/csv"})  # fmt: skip
        assert bad.status_code == 400 and "line 3" in bad.json()["details"]

        exported = a.request(
            "GET", "/v1/exports/vouchers.csv", params={"campaign_id": camp["id"]}
        ).text
    rows = _rows(exported)
    assert len(rows) == 300
    assert (
        rows[7]["code"] == "IMP-0007"
        and rows[7]["gift_amount"] == "1007"
        and rows[7]["gift_balance"] == "1007"
    )

    # the export imports back as is into another instance
    with AdminServer(redis_url, key_prefix + "b:") as b:
        camp2 = b.request("POST", "/v1/campaigns", json={"name": "Copy", **gift}).json()
        r = b.request(
            "POST",
            f"/v1/campaigns/{camp2['id']}/importCSV",
            content=exported,
            headers={"Content-Type": "text/csv"},
        )
        assert r.status_code == 202, r.text
        b.wait_action(r.json()["async_action_id"])
        back = _rows(
            b.request("GET", "/v1/exports/vouchers.csv", params={"campaign_id": camp2["id"]}).text
        )
    strip = lambda rs: [{k: v for k, v in x.items() if k != "campaign_id"} for x in rs]  # noqa: E731
    assert strip(back) == strip(rows)


def test_definitions_export_import_round_trip(
    redis_url: str, key_prefix: str, tmp_path: object
) -> None:
    with AdminServer(redis_url, key_prefix) as a:
        rule = a.request("POST", "/v1/validation-rules", json={
            "name": "big carts", "rules": {"1": {"name": "order.amount", "conditions": {"$more_than": [5000]}}, "logic": "1"}}).json()  # fmt: skip
        camp = a.request("POST", "/v1/campaigns", json={
            "name": "Round trip", "campaign_type": "DISCOUNT_COUPONS", "validation_rules": [rule["id"]], "vouchers_count": 50,
            "voucher": {"discount": {"type": "AMOUNT", "amount_off": 300}}}).json()  # fmt: skip
        a.wait_action(camp["async_action_id"])
        a.request("POST", "/v1/campaigns", json={"name": "Promo", "campaign_type": "PROMOTION", "promotion": {"tiers": [
            {"name": "t", "action": {"discount": {"type": "PERCENT", "percent_off": 5}}}]}}).raise_for_status()  # fmt: skip
        a.request("POST", "/v1/vouchers/HELLO", json={"campaign_id": camp["id"]}).raise_for_status()
        a.request(
            "POST", "/v1/products", json={"source_id": "p1", "name": "P1", "price": 100}
        ).raise_for_status()
        a.request(
            "PUT", "/v1/stacking-rules", json={"applicable_redeemables_limit": 3}
        ).raise_for_status()
        a.request(
            "POST", "/v1/customers", json={"source_id": "cx", "metadata": {"k": "v"}}
        ).raise_for_status()
        a.request(
            "POST", "/v1/segments", json={"name": "S", "customers": ["cx"]}
        ).raise_for_status()
        dump = a.request("GET", "/v1/definitions/export")
        assert dump.status_code == 200
        lines = dump.content.splitlines()
        assert (
            json.loads(lines[0])["format"] == "promogate-definitions"
            and len(lines) == 1 + 50 + 1 + 1
        )
        # a non-empty instance refuses an import
        r = a.request("POST", "/v1/definitions/import", content=dump.content)
        assert r.status_code == 409 and r.json()["key"] == "not_empty"
        snapshot = {p: a.request("GET", p, params={"limit": 100}).json() for p in (
            f"/v1/campaigns/{camp['id']}", "/v1/campaigns", "/v1/validation-rules", "/v1/products", "/v1/stacking-rules",
            f"/v1/vouchers?campaign_id={camp['id']}", "/v1/customers/cx", "/v1/customers/cx/segments")}  # fmt: skip

    with AdminServer(redis_url, key_prefix + "copy:") as b:
        bad = b.request(
            "POST", "/v1/definitions/import", content=dump.content.replace(b'"HELLO"', b'"HE LLO"')
        )
        assert (
            bad.status_code == 400 and b.request("GET", "/v1/campaigns").json()["total"] == 0
        )  # nothing written
        r = b.request("POST", "/v1/definitions/import", content=dump.content)
        assert r.status_code == 200, r.text
        assert r.json()["codes"] == 50 and r.json()["customers"] == 1
        for path, before in snapshot.items():
            assert b.request("GET", path, params={"limit": 100}).json() == before, path
        assert b.request("GET", "/v1/audit-log", params={"action": "definitions.import"}).json()[
            "data"
        ]


def test_a_card_held_under_id_and_source_id_is_listed_once_with_its_live_balance(
    admin_and_gateway: tuple[AdminServer, Any],
) -> None:
    srv, _g = admin_and_gateway
    club = club_programme(srv)
    pub = srv.request("POST", "/v1/publications",
                      json={"campaign": {"id": club}, "customer": {"source_id": "ann"}})  # fmt: skip
    assert pub.status_code == 200, pub.text
    code = pub.json()["voucher"]["code"]
    r = srv.request("POST", f"/v1/loyalties/{club}/members/{code}/balance", json={"points": 150})
    assert r.status_code == 200, r.text
    cust_id = srv.request("GET", "/v1/customers/ann").json()["id"]
    for ident in ("ann", cust_id):
        rep = srv.request("GET", f"/v1/reports/customers/{ident}").json()
        assert [v["code"] for v in rep["vouchers"]] == [code]
        assert rep["balances"]["loyalty_points_balance"] == 150
    # a card's figures are its wallet's, wherever a voucher answer shows it
    card = srv.request("GET", f"/v1/vouchers/{code}").json()["loyalty_card"]
    assert (card["points"], card["balance"]) == (150, 150)
    (listed,) = srv.request("GET", "/v1/vouchers", params={"campaign_id": club}).json()["vouchers"]
    assert listed["loyalty_card"]["balance"] == 150


def test_admin_folds_the_ledger_in_the_background_before_trimming_can_lose_it(
    redis_url: str, key_prefix: str, redis_sync: redis.Redis
) -> None:
    # a short stream (MAXLEN ~ 100) flooded with refusals after a sell-out: folded only when a
    # report is read, the sale's own redemptions would be trimmed away uncounted
    ledger, pos = f"{key_prefix}ledger", f"{key_prefix}lview:pos"

    def folded_all() -> bool:
        last = redis_sync.xrevrange(ledger, count=1)
        return bool(last) and redis_sync.get(pos) == last[0][0]

    with (
        AdminServer(redis_url, key_prefix, ledger_fold=0.05) as srv,
        GatewayProcess(redis_url, key_prefix, workers=1, env={"PROMOGATE_LEDGER_MAXLEN": "100"}) as gw,
    ):
        camp = srv.request("POST", "/v1/campaigns", json={
            "name": "Flash", "campaign_type": "DISCOUNT_COUPONS",
            "voucher": {"discount": {"type": "AMOUNT", "amount_off": 100}, "redemption": {"quantity": 5}},
        }).json()  # fmt: skip
        assert srv.request("POST", f"/v1/campaigns/{camp['id']}/vouchers/FLASH5").status_code == 200
        for i in range(5):
            _redeem(gw, "FLASH5", 1000, f"c{i}")
        deadline = time.monotonic() + 10
        while not folded_all():  # no report was read: the background fold did it
            assert time.monotonic() < deadline, "no background fold"
            time.sleep(0.05)
        for i in range(300):  # sold out: each refusal is a ledger entry
            r = httpx.post(gw.url + "/v1/redemptions", headers={"X-App-Id": gw.app_id, "X-App-Token": gw.app_token},
                           json={"customer": {"source_id": f"late{i}"}, "order": {"amount": 1000},
                                 "redeemables": [{"object": "voucher", "id": "FLASH5"}]}, timeout=5)  # fmt: skip
            assert r.status_code == 400 and r.json()["key"] == "quantity_exceeded", r.text
        oldest = redis_sync.xrange(ledger, count=1)[0][1]
        assert oldest[b"type"] == b"failure"  # the redemptions are trimmed from the stream
        series = srv.request("GET", f"/v1/reports/campaigns/{camp['id']}/series", params={"hours": 2})
    assert series.status_code == 200, series.text
    assert sum(series.json()["succeeded"]) == 5 and sum(series.json()["failed"]) == 300, series.json()
