"""The preview page in headless Chromium, as a marketer uses it: from a campaign's page, build a
cart too small for its first tier's rule, read why it does not apply (and that the other tier
would apply on its own), then the same cart for a big enough order; a cart left empty is
refused next to the cart."""

from __future__ import annotations

import re
from typing import Any

import pytest
from ui_fixtures import Stack, sign_in

pytestmark = pytest.mark.browser


def _data(stack: Stack) -> dict[str, Any]:
    """The store's keys and values, the web UI's sessions left out."""
    return {k: v for k, v in stack.gw.keyspace().items() if "ui:" not in k}


def _row(page: Any, ident: str) -> Any:
    return page.locator(f'#preview-result tr[data-id="{ident}"]')


def test_preview_a_cart_that_fails_a_rule_and_read_the_reason(ui: Any, stack: Stack) -> None:
    page = ui
    sign_in(page, stack.admin.key("marketer"))
    keyspace = _data(stack)
    page.goto("/campaigns/camp_promo")
    page.get_by_role("link", name="Preview a cart").click()
    page.wait_for_url(re.compile(r"/preview\?campaign=camp_promo$"))
    assert page.get_by_label("Codes and promotion tiers to try").input_value() == "promo_10off\npromo_5pct"

    # an empty cart: refused next to the cart (a 400, which Chromium logs)
    stack.expect_console(r"status of 400")
    page.get_by_role("button", name="Preview").click()
    page.locator("#cart-error").wait_for()
    assert "add a line" in page.locator("#cart-error").inner_text()

    page.get_by_label("Line 1 product id").fill("prod_a")
    page.get_by_label("Line 1 quantity").fill("2")
    page.get_by_label("Line 1 unit price").fill("10.00")
    page.get_by_label("Customer id or source id").fill("cus_preview")
    page.get_by_role("button", name="Preview").click()
    page.locator("#preview-result").wait_for()
    first = _row(page, "promo_10off")
    assert first.get_attribute("data-status") == "INAPPLICABLE"
    assert "does not apply" in first.inner_text()
    assert "order does not match validation rules" in first.inner_text()
    assert "order_rules_violated" in first.inner_text()
    other = _row(page, "promo_5pct")
    assert other.get_attribute("data-status") in ("SKIPPED", "APPLICABLE")
    if other.get_attribute("data-status") == "SKIPPED":
        assert "On its own: applies (1.00 off)" in other.inner_text()
    assert page.locator('[data-figure="amount"]').inner_text() == "20.00"
    page.screenshot(path=str(stack.shots / "preview.png"), full_page=True)

    # a big enough cart: the tier applies, the final order shows its discount
    page.get_by_label("Line 1 quantity").fill("6")
    page.get_by_label("Codes and promotion tiers to try").fill("promo_10off")
    page.get_by_role("button", name="Preview").click()
    page.locator('#preview-result tr[data-id="promo_10off"][data-status="APPLICABLE"]').wait_for()
    assert page.locator('[data-figure="total"]').inner_text() == "50.00"
    # read-only: the store is as it was
    assert _data(stack) == keyspace


def test_an_approver_reads_the_diff_and_applies_a_change_set(ui: Any, stack: Stack) -> None:
    page = ui
    srv = stack.admin
    author = srv.key("marketer", "Mia")
    r = srv.request("POST", "/v1/change-sets", key=author, json={
        "title": "Rename the cart promotions",
        "changes": [{"method": "PUT", "path": "/v1/campaigns/camp_promo", "body": {"name": "Cart deals"}}]})  # fmt: skip
    assert r.status_code == 201, r.text
    cs = r.json()["id"]
    # the author sees it but is not offered the decision
    sign_in(page, author)
    page.goto(f"/approvals/{cs}")
    assert page.get_by_role("button", name="Approve and apply").count() == 0
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, srv.key("admin", "Bo"))
    page.get_by_role("link", name="Approvals").click()
    page.get_by_role("link", name="Rename the cart promotions").click()
    page.wait_for_url(re.compile(rf"/approvals/{cs}$"))
    diff = page.locator("table.diff").inner_text()
    assert "Cart promotions" in diff and "Cart deals" in diff
    assert page.get_by_role("link", name="Preview a cart with this change").get_attribute("href") == f"/preview?change_set={cs}"
    page.screenshot(path=str(stack.shots / "approval.png"), full_page=True)
    page.get_by_role("button", name="Approve and apply").click()
    page.get_by_role("status").filter(has_text="Applied").wait_for()
    assert page.locator('[data-figure="cs-status"]').inner_text() == "applied"
    assert srv.request("GET", "/v1/campaigns/camp_promo").json()["name"] == "Cart deals"
