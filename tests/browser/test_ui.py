"""admin's web UI in headless Chromium, as marketers and support agents use it: sign in, read
the live figures, find a code and disable it (then the gateway refuses it), and the role checks
(what a role cannot do is not offered, and a forged request is refused by the server)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from gateway_fixtures import body, voucher
from ui_fixtures import Stack, sign_in

pytestmark = pytest.mark.browser


def _redeem(stack: Stack, code: str, customer: str = "cus_1") -> int:
    """Redeem ``code`` at the in-process gateway; its HTTP status."""
    return stack.gw.redeem(body(voucher(code), customer=customer)).status_code


def _shot(page: Any, stack: Stack, name: str, full_page: bool = False) -> None:
    page.screenshot(path=str(stack.shots / f"{name}.png"), full_page=full_page)


def test_sign_in_refuses_a_wrong_token_then_signs_in_and_out(ui: Any, stack: Stack) -> None:
    page = ui
    page.goto("/")
    assert page.url.endswith("/login")  # no session: the sign-in page
    assert page.locator('link[rel="icon"]').get_attribute("href") == "data:,"
    _shot(page, stack, "sign-in")
    stack.expect_console(r"status of 401")  # Chromium logs the refused sign-in's 401
    page.get_by_label("Key id").fill(stack.admin.admin_id)
    page.get_by_label("Token").fill("not-the-token")
    with page.expect_response("**/login") as resp:
        page.get_by_role("button", name="Sign in").click()
    assert resp.value.status == 401
    page.get_by_role("alert").filter(has_text="Unknown key id or wrong token").wait_for()
    assert page.context.cookies() == [
        c for c in page.context.cookies() if c["name"] != "pg_session"
    ]
    # the token is never echoed into the page
    assert "not-the-token" not in page.content()

    sign_in(page, (stack.admin.admin_id, stack.admin.admin_token))
    session = next(c for c in page.context.cookies() if c["name"] == "pg_session")
    assert session["httpOnly"] and session["sameSite"] == "Strict" and session["path"] == "/"
    assert session["expires"] > time.time() + 7 * 3600  # about 8 h
    assert stack.admin.admin_token not in page.content()
    assert stack.admin.admin_token not in page.url

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login$"))
    assert not [c for c in page.context.cookies() if c["name"] == "pg_session" and c["value"]]
    page.goto("/campaigns")
    assert page.url.endswith("/login")  # the session is gone server-side too


def test_home_shows_the_live_figures_and_refusal_reasons(ui: Any, stack: Stack) -> None:
    page = ui
    for i in range(3):
        assert _redeem(stack, "GEN5", f"cus_{i}") == 200
    assert _redeem(stack, "LOCK1") == 200
    refused = stack.gw.redeem(body(voucher("LOCK1"), customer="cus_9"))
    assert refused.status_code == 400, refused.text
    refused_key = refused.json()["key"]

    sign_in(page, (stack.admin.admin_id, stack.admin.admin_token))
    fig = {k: page.locator(f'[data-figure="{k}"]').inner_text() for k in
           ("running", "codes", "redeemed", "refused", "version")}  # fmt: skip
    assert fig["redeemed"] == "4" and fig["refused"] == "1", fig
    assert fig["codes"] == "9" and fig["version"] == str(
        int(stack.gw.redis.get(stack.gw.prefix + "defs:version"))
    )
    assert fig["running"] == "7", fig  # every campaign of the data set runs
    page.get_by_role("cell", name=refused_key).wait_for()
    _shot(page, stack, "home")


def test_campaign_list_status_bars_filters_and_burn_chart(ui: Any, stack: Stack) -> None:
    page = ui
    srv = stack.admin
    r = srv.request("POST", "/v1/campaigns", json={
        "name": "Flash 3", "voucher": {"discount": {"type": "AMOUNT", "amount_off": 250}},
        "limits": {"redemptions": 3, "discounted_amount": 100000}})  # fmt: skip
    assert r.status_code == 200, r.text
    cid = r.json()["id"]
    assert srv.request("POST", f"/v1/campaigns/{cid}/vouchers/FLASH3", json={}).status_code == 200
    deadline = time.monotonic() + 5
    while _redeem(stack, "FLASH3", "cus_a") != 200:  # the gateway swaps in
        assert time.monotonic() < deadline, "the gateway never saw the new campaign"
        time.sleep(0.1)
    for c in ("cus_b", "cus_c"):
        assert _redeem(stack, "FLASH3", c) == 200
    assert stack.gw.redeem(body(voucher("FLASH3"), customer="cus_d")).status_code == 400

    sign_in(page, (srv.admin_id, srv.admin_token))
    page.get_by_role("link", name="Campaigns").click()
    page.get_by_label("Status").select_option("exhausted")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"/campaigns\?status=exhausted$"))  # filters live in the URL
    rows = page.locator("table.campaigns tbody tr")
    assert rows.count() == 1
    assert "Flash 3" in rows.first.inner_text() and "by redemptions" in rows.first.inner_text()
    meter = rows.first.locator("meter").first
    assert meter.get_attribute("value") == "3" and meter.get_attribute("max") == "3"
    page.goto("/campaigns")
    assert page.locator("table.campaigns tbody tr").count() == 8
    _shot(page, stack, "campaigns")

    page.get_by_role("link", name="Flash 3").click()
    page.locator('#burn[data-drawn="1"] canvas').wait_for()  # uPlot drew the server's series
    assert page.locator('[data-figure="uses"]').inner_text() == "3"
    assert page.locator('[data-figure="discount"]').inner_text() == "7.50"
    page.locator("section", has_text="Refusals by reason").locator("td code").first.wait_for()
    series = srv.request("GET", f"/v1/reports/campaigns/{cid}/series", params={"hours": 48}).json()
    assert series["redemptions_used"][-1] == 3 and sum(series["succeeded"]) == 3
    assert sum(series["failed"]) == 1
    _shot(page, stack, "campaign", full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto("/campaigns")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    _shot(page, stack, "campaigns-phone")


def test_find_a_code_disable_it_and_the_gateway_refuses_it(ui: Any, stack: Stack) -> None:
    page = ui
    assert stack.gw.validate(body(voucher("GEN5"))).json()["valid"] is True
    sign_in(page, (stack.admin.admin_id, stack.admin.admin_token))
    box = page.get_by_role("search").first.get_by_label("Find a code")
    box.fill("GEN5")
    box.press("Enter")  # keyboard only
    panel = page.locator("#code-panel")
    panel.wait_for()
    assert "GEN5" not in page.url  # a code is never put in a URL
    assert panel.locator('[data-figure="code-state"]').inner_text() == "active"
    _shot(page, stack, "code")
    panel.get_by_role("button", name="Disable code").click()  # htmx swaps the panel
    page.locator('#code-panel [data-figure="code-state"]', has_text="disabled").wait_for()
    page.get_by_role("status").filter(has_text="the gateways refuse it now").wait_for()

    assert stack.admin.request("GET", "/v1/vouchers/GEN5").json()["active"] is False
    deadline = time.monotonic() + 5
    while True:  # the gateway swaps in the published change within a second
        out = stack.gw.validate(body(voucher("GEN5"))).json()
        if out["valid"] is False:
            break
        assert time.monotonic() < deadline, out
        time.sleep(0.1)
    refused = stack.gw.redeem(body(voucher("GEN5")))
    assert refused.status_code == 400 and refused.json()["key"] == "voucher_disabled", refused.text
    audit = stack.admin.request("GET", "/v1/audit-log", params={"action": "voucher.disable"}).json()
    assert audit["data"][0]["resource_id"] == "GEN5"

    page.locator("#code-panel").get_by_role("button", name="Enable code").click()
    page.locator('#code-panel [data-figure="code-state"]', has_text="active").wait_for()
    assert stack.admin.request("GET", "/v1/vouchers/GEN5").json()["active"] is True


def test_roles_see_only_their_actions_and_forged_posts_are_refused(ui: Any, stack: Stack) -> None:
    page = ui
    srv = stack.admin
    support = srv.key("support", "Sam from support")
    sign_in(page, support)
    page.goto("/campaigns/camp_gen")
    assert page.get_by_role("button", name="Disable campaign").count() == 0  # not offered
    csrf = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    forged = page.request.post(
        "/campaigns/camp_gen/state", form={"action": "disable", "csrf_token": csrf}
    )
    assert forged.status == 403 and "needs the `admin` or `marketer` role" in forged.text()
    assert srv.request("GET", "/v1/campaigns/camp_gen").json()["active"] is True
    no_csrf = page.request.post("/codes/state", form={"code": "GEN5", "action": "disable"})
    assert no_csrf.status == 403 and "CSRF" in no_csrf.text()
    # support may disable a code: the control is there
    page.get_by_label("Find a code").fill("GEN5")
    page.get_by_label("Find a code").press("Enter")
    page.locator("#code-panel").get_by_role("button", name="Disable code").wait_for()

    page.get_by_role("button", name="Sign out").click()
    analyst = srv.key("analyst", "Ana the analyst")
    sign_in(page, analyst)
    page.get_by_label("Find a code").fill("GEN5")
    page.get_by_label("Find a code").press("Enter")
    page.locator("#code-panel").wait_for()
    assert page.locator("#code-panel").get_by_role("button").count() == 0
    csrf = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    forged = page.request.post(
        "/codes/state", form={"code": "GEN5", "action": "disable", "csrf_token": csrf}
    )
    assert forged.status == 403 and "has the `analyst` role" in forged.text()
    assert srv.request("GET", "/v1/vouchers/GEN5").json()["active"] is True


def test_customer_360_shows_a_refusal_and_rolls_back_with_a_reason(ui: Any, stack: Stack) -> None:
    page = ui
    srv = stack.admin
    assert srv.request("POST", "/v1/customers", json={
        "source_id": "cus_ana", "name": "Ana Lima", "email": "ana@example.com"}).status_code == 200  # fmt: skip
    pub = srv.request("POST", "/v1/publications", json={"campaign": "camp_gift",
                                                         "customer": {"source_id": "cus_ana"}})  # fmt: skip
    assert pub.status_code == 200, pub.text
    ok = stack.gw.redeem(body(voucher("LOCK1"), customer="cus_ana"))
    assert ok.status_code == 200, ok.text
    rid = ok.json()["redemptions"][0]["id"]
    refused = stack.gw.redeem(body(voucher("LOCK1"), customer="cus_ana"))
    assert refused.status_code == 400, refused.text
    key = refused.json()["key"]
    for i in range(2):
        assert _redeem(stack, "GEN5", f"cus_{i}") == 200

    sign_in(page, (srv.admin_id, srv.admin_token))
    page.get_by_role("link", name="Customers").click()
    page.get_by_label("Customer id or source_id").fill("cus_ana")
    page.get_by_label("Customer id or source_id").press("Enter")
    page.wait_for_url(re.compile(r"/customers/cus_ana$"))
    page.get_by_role("heading", name="Ana Lima").wait_for()
    failed = page.locator('tr[data-status="FAILED"]')
    assert failed.count() == 1 and failed.locator('[data-figure="failure-key"]').inner_text() == key
    row = page.locator(f'tr[data-redemption="{rid}"]')
    assert row.get_attribute("data-status") == "SUCCEEDED"
    wallet = page.locator("section", has_text="Wallet (live balances)")
    assert "Gift cards" in wallet.inner_text() and "of" in wallet.inner_text()
    _shot(page, stack, "customer", full_page=True)

    row.get_by_text("Roll back", exact=True).click()  # opens the form
    reason = row.get_by_label("Reason (required, audited)")
    row.get_by_role("button", name=f"Roll back {rid}").click()  # empty: the browser refuses
    assert page.url.endswith("/customers/cus_ana")
    assert reason.evaluate("el => el.validity.valueMissing")
    reason.fill("order cancelled by phone")
    row.get_by_role("button", name=f"Roll back {rid}").click()
    page.get_by_role("status").filter(has_text=f"Redemption {rid} rolled back").wait_for()
    rolled = page.locator(f'tr[data-redemption="{rid}"]')
    assert rolled.get_attribute("data-status") == "ROLLED_BACK"
    assert "order cancelled by phone" in rolled.inner_text()
    assert stack.gw.redeem(body(voucher("LOCK1"), customer="cus_bo")).status_code == 200

    page.get_by_role("link", name="Audit").click()
    entry = page.locator('section.audit-entry[data-action="redemption.rollback"]').first
    entry.wait_for()
    assert rid in entry.inner_text() and "order cancelled by phone" in entry.inner_text()
    assert "ROLLED_BACK" in entry.locator("ins").all_inner_texts()
    page.get_by_label("Object type").select_option("redemption")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"/audit\?type=redemption$"))
    assert page.locator("section.audit-entry").count() == 1
    page.goto("/audit")
    _shot(page, stack, "audit", full_page=False)

    page.get_by_role("link", name="Ledger").click()
    page.get_by_label("Status").select_option("FAILED")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"/ledger\?status=FAILED$"))
    assert page.locator("tr.row").count() == 1 and key in page.locator("tr.row").inner_text()
    page.goto("/ledger")
    assert page.locator("tr.row").count() == 5
    _shot(page, stack, "ledger")

    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    for path in ("/customers/cus_ana", "/ledger", "/audit"):
        page.goto(path)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path


def test_an_analyst_is_not_offered_roll_back_and_a_forged_post_is_refused(
    ui: Any, stack: Stack
) -> None:
    page = ui
    ok = stack.gw.redeem(body(voucher("LOCK1"), customer="cus_zed"))
    assert ok.status_code == 200, ok.text
    rid = ok.json()["redemptions"][0]["id"]
    sign_in(page, stack.admin.key("analyst", "Ana the analyst"))
    page.goto("/customers/cus_zed")
    page.locator(f'tr[data-redemption="{rid}"]').wait_for()
    assert page.get_by_text("Roll back").count() == 0
    page.goto("/ledger")
    assert page.get_by_text("Roll back").count() == 0
    csrf = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    forged = page.request.post("/customers/cus_zed/rollback",
                               form={"redemption_id": rid, "reason": "x", "csrf_token": csrf})  # fmt: skip
    assert forged.status == 403 and "has the `analyst` role" in forged.text()
    forged = page.request.post("/ledger/rollback",
                               form={"redemption_id": rid, "reason": "x", "csrf_token": csrf})  # fmt: skip
    assert forged.status == 403
    rows = stack.admin.request("GET", "/v1/redemptions", params={"customer": "cus_zed"}).json()
    assert rows["redemptions"][0]["status"] == "SUCCEEDED"
