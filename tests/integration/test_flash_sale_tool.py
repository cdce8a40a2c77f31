"""`make bench-flash` on a tiny run: the tool starts (private Redis, the real gateway, the flood)
and its flash sale on a limited code redeems exactly the limit, by the clients' count, the code's
uses counter and the ledger, every other answer a 400 ``quantity_exceeded``."""

from __future__ import annotations

import shutil

import pytest

from loadtests.flash_sale import run, summary

pytestmark = pytest.mark.slow


def test_tiny_flash_sale_redeems_exactly_the_limit() -> None:
    rep = run(seconds=1, limit=25, limit_seconds=1, workers=1, conns=8, half_load=False,
              quiet_calls=20, trivial_calls=50)  # fmt: skip
    lim = rep["limit"]
    assert lim["successes"] == lim["uses_counter"] == lim["ledger_redeems"] == 25
    assert lim["refusals"] > 0  # the flood went on past the sell-out, refused as sold out
    assert lim["answer_after"] == {"status": 400, "key": "quantity_exceeded"}
    if shutil.which("wrk"):
        assert set(lim["refusals_by_status"]) == {"400:quantity_exceeded"}
    assert lim["exact"] is True
    fl = rep["flood"]
    assert fl["requests"] > 0 and fl["non_2xx"] == 0 and fl["errors"] == 0
    assert fl["redis"]["fcall_calls"] >= fl["requests"]  # one FCALL per redeem
    assert fl["redis"]["fcall_usec_per_call"] > 0 and fl["redis_core_ceiling_rps_by_fcall"] > 0
    assert "EXACT" in summary(rep)
