"""The home page's tiles (budgets running out at the recent pace, campaigns ending soon, what
admin knows of the gateways) and the burn chart's series as CSV (the API's ``format=csv`` and
the campaign page's download link), over real HTTP against a real admin and gateway."""

from __future__ import annotations

import csv
import datetime as dt
import io

import httpx
from gateway_fixtures import InProcess, body, voucher
from test_admin_ui import _sign_in, stack  # noqa: F401 (the fixture)

from admin.testing import AdminServer


def test_home_tiles_running_out_ending_soon_and_gateways(
    stack: tuple[AdminServer, InProcess],  # noqa: F811
) -> None:
    srv, g = stack
    for who in ("a", "b"):  # 10% of 300.00 twice: 60.00 of the 100.00 budget in this hour
        assert g.redeem(body(voucher("BUDGET10"), customer=who, amount=30000)).status_code == 200
    ends = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat()
    made = srv.request("POST", "/v1/campaigns", json={
        "name": "Ends in three days", "campaign_type": "DISCOUNT_COUPONS", "expiration_date": ends,
        "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 100}}})  # fmt: skip
    assert made.status_code == 200, made.text
    c = _sign_in(srv)
    home = c.get("/")
    assert home.status_code == 200
    text = home.text
    # the budget runs out in ~4 hours at 10.00/h... (60.00 over the 6-hour pace window)
    row = text[text.index('data-row="running-out"'):]
    row = row[: row.index("</tr>")]
    assert "10% with a 100.00 budget" in row and "Discount budget" in row
    assert "60.00 of 100.00" in row and ">10.00<" in row
    assert text.count('data-row="running-out"') == 1  # unlimited campaigns never run out
    exp = text[text.index('data-row="expiring"'):]
    assert "Ends in three days" in exp[: exp.index("</tr>")] and "running" in exp
    assert 'data-figure="version"' in text and "last change" in text
    listening = int(text.split('data-figure="listening">')[1].split("<")[0])
    assert listening >= 1  # the in-process gateway's worker subscribes to definition changes
    # the campaign list says the same beside the campaign, and nothing beside the others
    listed = c.get("/campaigns").text
    assert listed.count("data-pace=") == 1
    hint = listed[listed.index("data-pace="):]
    assert "discount budget runs out in ~4 h at this rate" in hint[: hint.index("</span>")]


def test_series_as_csv_from_the_api_and_the_campaign_page(
    stack: tuple[AdminServer, InProcess],  # noqa: F811
) -> None:
    srv, g = stack
    for who in ("a", "b", "c"):
        assert g.redeem(body(voucher("LIMITED100"), customer=who)).status_code == 200
    r = srv.request("GET", "/v1/reports/campaigns/camp_lim/series",
                    params={"hours": 5, "format": "csv"})  # fmt: skip
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="camp_lim-series.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 5 and list(rows[0]) == ["hour_start", "succeeded", "failed", "rolled_back",
                                                "redemptions_used", "discounted_amount_used"]  # fmt: skip
    assert sum(int(x["succeeded"]) for x in rows) == 3
    assert int(rows[-1]["redemptions_used"]) == g.counter("{c:camp_lim}:uses") == 3
    as_json = srv.request("GET", "/v1/reports/campaigns/camp_lim/series", params={"hours": 5})
    assert [int(x["discounted_amount_used"]) for x in rows] == as_json.json()["discounted_amount_used"]
    bad = srv.request("GET", "/v1/reports/campaigns/camp_lim/series", params={"format": "xml"})
    assert bad.status_code == 400 and bad.json()["key"] == "invalid_payload"
    # the campaign page links to the same CSV (48 hours), behind the session
    c = _sign_in(srv)
    page = c.get("/campaigns/camp_lim")
    assert 'href="/campaigns/camp_lim/series.csv"' in page.text and "Download CSV" in page.text
    got = c.get("/campaigns/camp_lim/series.csv")
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert len(list(csv.DictReader(io.StringIO(got.text)))) == 48
    assert c.get("/campaigns/nope/series.csv").status_code == 404
    anon = httpx.get(srv.url + "/campaigns/camp_lim/series.csv")
    assert anon.status_code == 303 and anon.headers["location"] == "/login"
