"""A campaign's codes and a bulk code action in headless Chromium: the code list with inline
disable, then a bulk disable from an uploaded CSV (upload, read the dry-run count, confirm,
watch the progress bar reach DONE, download the per-row result file)."""

from __future__ import annotations

import csv
import io
import re
import time
from pathlib import Path
from typing import Any

import pytest
from gateway_fixtures import body, voucher
from ui_fixtures import Stack, sign_in

pytestmark = pytest.mark.browser


def _shot(page: Any, stack: Stack, name: str, full_page: bool = False) -> None:
    page.screenshot(path=str(stack.shots / f"{name}.png"), full_page=full_page)


def _codes(stack: Stack, n: int) -> list[str]:
    srv = stack.admin
    r = srv.request("POST", "/v1/campaigns/camp_gen/vouchers", params={"vouchers_count": n})
    assert srv.wait_action(r.json()["async_action_id"])["status"] == "DONE"
    g = stack.gw
    return [c.decode() for c in g.redis.lrange(g.prefix + "campcodes:camp_gen", 0, -1)]


def test_code_list_and_inline_disable(ui: Any, stack: Stack) -> None:
    page = ui
    codes = _codes(stack, 60)
    sign_in(page, (stack.admin.admin_id, stack.admin.admin_token))
    page.goto("/campaigns/camp_gen")
    page.get_by_role("link", name="62 codes").click()
    page.wait_for_url(re.compile(r"/campaigns/camp_gen/codes$"))
    rows = page.locator("table.codes tbody tr")
    assert rows.count() == 50
    _shot(page, stack, "campaign-codes")
    row = page.locator(f'tr[data-code="{codes[0]}"]')
    row.get_by_role("button", name=f"Disable {codes[0]}").click()  # htmx swaps the row
    page.locator(f'tr[data-code="{codes[0]}"][data-active="false"]').wait_for()
    assert stack.admin.request("GET", f"/v1/vouchers/{codes[0]}").json()["active"] is False
    page.get_by_role("link", name="Next →").click()
    page.wait_for_url(re.compile(r"after=50$"))
    assert page.locator("table.codes tbody tr").count() == 12
    assert codes[0] not in page.url


def test_bulk_disable_from_an_uploaded_csv(ui: Any, stack: Stack, tmp_path: Any) -> None:
    page = ui
    codes = _codes(stack, 40)
    asked = [*codes[:25], "NOT-A-CODE"]
    f = tmp_path / "to-disable.csv"
    f.write_text("code\n" + "\n".join(asked) + "\n")
    sign_in(page, (stack.admin.admin_id, stack.admin.admin_token))
    page.goto("/codes/bulk")
    page.get_by_label("CSV file").set_input_files(str(f))
    page.get_by_label("Disable the codes").check()
    page.get_by_role("button", name="Count first (dry run)").click()
    page.wait_for_url(re.compile(r"/codes/bulk$"))
    assert page.locator('[data-count="total"]').inner_text() == "26"
    assert page.locator('[data-count="would_change"]').inner_text() == "25"
    assert page.locator('[data-count="not_found"]').inner_text() == "1"
    _shot(page, stack, "bulk-confirm")
    assert all(stack.admin.request("GET", f"/v1/vouchers/{c}").json()["active"] for c in codes[:3])
    page.get_by_role("button", name="Disable the codes: 25 codes").click()
    page.wait_for_url(re.compile(r"/actions/aa_"))
    page.locator('[data-status="DONE"]').wait_for(timeout=30_000)  # the panel polls itself
    with page.expect_download() as dl:
        page.get_by_role("link", name="Download the per-row result file (CSV)").click()
    rows = list(csv.DictReader(io.StringIO(Path(dl.value.path()).read_text())))
    assert {r["code"]: r["outcome"] for r in rows} == {**{c: "changed" for c in codes[:25]},
                                                       "NOT-A-CODE": "not_found"}  # fmt: skip
    deadline = time.monotonic() + 5
    while stack.gw.validate(body(voucher(codes[3]))).json()["valid"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert stack.gw.redeem(body(voucher(codes[3]))).status_code == 400
    assert stack.gw.redeem(body(voucher(codes[30]))).status_code == 200
