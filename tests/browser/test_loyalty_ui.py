"""The loyalty screens in headless Chromium, as a support agent uses them: open a programme,
find a member by card code (the code never goes into the URL), adjust the points with a reason,
and see the new balance and the history row."""

from __future__ import annotations

import re
from typing import Any

import pytest
from ui_fixtures import Stack, sign_in

pytestmark = pytest.mark.browser

PROGRAMME = {"name": "Club", "join_once": True,
             "voucher": {"type": "LOYALTY_CARD", "loyalty_card": {"points": 0},
                         "code_config": {"pattern": "CLUB-#####"}}}  # fmt: skip


def test_open_a_member_and_adjust_points_with_a_reason(ui: Any, stack: Stack) -> None:
    page = ui
    srv = stack.admin
    made = srv.request("POST", "/v1/loyalties", json=PROGRAMME)
    assert made.status_code == 200, made.text
    camp = made.json()["id"]
    card = srv.request(
        "POST", f"/v1/loyalties/{camp}/members", json={"customer": {"source_id": "cus_ana"}}
    )
    assert card.status_code == 200, card.text
    code, vid = card.json()["code"], card.json()["id"]
    assert srv.request("POST", f"/v1/loyalties/members/{code}/balance",
                       json={"points": 40, "reason": "welcome"}).status_code == 200  # fmt: skip

    sign_in(page, srv.key("support"))
    page.get_by_role("link", name="Loyalty").click()
    page.get_by_role("link", name="Club").click()
    page.get_by_label("Card code or customer id").fill(code)
    page.get_by_role("button", name="Find").last.click()
    page.wait_for_url(re.compile(rf"/loyalty/members/{vid}$"))
    assert code not in page.url
    assert page.locator('[data-figure="balance"]').inner_text() == "40"

    # without a reason: refused (a 400, which Chromium logs) next to the field, nothing changed
    stack.expect_console(r"status of 400")
    page.get_by_label("Points (+ to add, - to remove)").fill("25")
    page.get_by_role("button", name="Adjust points").click()
    page.locator("#adj-reason-error").wait_for()
    assert "reason is required" in page.locator("#adj-reason-error").inner_text()
    assert page.locator('[data-figure="balance"]').inner_text() == "40"

    page.get_by_label("Reason (required, audited)").fill("missing points of order 77")
    page.get_by_role("button", name="Adjust points").click()
    page.locator("#adjust-notice").wait_for()
    assert page.locator('[data-figure="balance"]').inner_text() == "65"
    newest = page.locator("tr[data-transaction]").first
    assert newest.get_attribute("data-type") == "POINTS_ADDITION"
    assert newest.locator('[data-figure="tx-points"]').inner_text() == "+25"
    assert newest.locator('[data-figure="tx-balance"]').inner_text() == "65"
    assert "missing points of order 77" in newest.inner_text()
    page.screenshot(path=str(stack.shots / "loyalty-member.png"), full_page=True)
    assert (
        srv.request("GET", f"/v1/loyalties/members/{vid}").json()["loyalty_card"]["balance"] == 65
    )

    page.set_viewport_size({"width": 390, "height": 844})  # a phone: no sideways scrolling
    for path in (f"/loyalty/members/{vid}", f"/loyalty/{camp}", "/loyalty", "/rewards",
                 "/referrals", "/customers/cus_ana"):  # fmt: skip
        page.goto(path)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
