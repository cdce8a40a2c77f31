"""An accepted change reaches a running gateway (2 workers, a real process) within one second,
without a restart: a new code is served, a disabled one refused, a bad definition never seen."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from admin.testing import AdminServer, GatewayProcess

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(redis_url: str, key_prefix: str) -> Iterator[tuple[AdminServer, GatewayProcess]]:
    with (
        AdminServer(redis_url, key_prefix) as srv,
        GatewayProcess(redis_url, key_prefix, workers=2) as gw,
    ):
        yield srv, gw


def _within(seconds: float, check: Callable[[], bool], rounds: int = 8) -> float:
    """Time until ``check()`` holds on ``rounds`` consecutive calls (fresh connections, so both
    workers answer); fails if that takes longer than ``seconds``."""
    t0 = time.monotonic()
    while True:
        if all(check() for _ in range(rounds)):
            return time.monotonic() - t0
        if time.monotonic() - t0 > seconds:
            pytest.fail(f"not seen by every gateway worker within {seconds} s")
        time.sleep(0.02)


def _status(gw: GatewayProcess, code: str) -> tuple[bool, str | None]:
    body = gw.validate(code)
    red = (body.get("redeemables") or body.get("inapplicable_redeemables") or [{}])[0]
    err = (red.get("result") or {}).get("error") or {}
    return bool(body["valid"]), err.get("key")


def test_new_and_disabled_codes_reach_every_worker_within_a_second(
    stack: tuple[AdminServer, GatewayProcess],
) -> None:
    srv, gw = stack
    assert not _status(gw, "LAUNCH10")[0]

    camp = srv.request("POST", "/v1/campaigns", json={
        "name": "Launch", "campaign_type": "DISCOUNT_COUPONS",
        "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "PERCENT", "percent_off": 10}},
        "vouchers_count": 20,
    }).json()  # fmt: skip
    r = srv.request("POST", "/v1/vouchers/LAUNCH10", json={"campaign_id": camp["id"]})
    assert r.status_code == 200, r.text

    # a code created one by one (in the definitions document: version bump + notice)
    took = _within(1.0, lambda: _status(gw, "LAUNCH10")[0])
    assert took < 1.0
    body = gw.validate("LAUNCH10", amount=10_000)
    assert body["order"]["total_discount_amount"] == 1000

    # a generated code (kept outside the document)
    srv.wait_action(camp["async_action_id"])
    bulk = srv.request(
        "GET", "/v1/vouchers", params={"campaign_id": camp["id"], "limit": 1}
    ).json()["vouchers"][0]["code"]
    _within(1.0, lambda: _status(gw, bulk)[0])

    # disable both: refused within a second (document change / `code:<CODE>` notice)
    assert srv.request("POST", "/v1/vouchers/LAUNCH10/disable").json()["active"] is False
    _within(1.0, lambda: _status(gw, "LAUNCH10") == (False, "voucher_disabled"))
    assert srv.request("POST", f"/v1/vouchers/{bulk}/disable").json()["active"] is False
    _within(1.0, lambda: _status(gw, bulk) == (False, "voucher_disabled"))
    assert gw.redeem(bulk).status_code == 400

    # and back
    srv.request("POST", f"/v1/vouchers/{bulk}/enable")
    _within(1.0, lambda: _status(gw, bulk)[0])
    assert gw.redeem(bulk).status_code == 200

    # a campaign disabled: every code of it refused
    srv.request("POST", f"/v1/campaigns/{camp['id']}/disable")
    _within(1.0, lambda: not _status(gw, "LAUNCH10")[0] and not _status(gw, bulk)[0])


def test_a_definition_that_does_not_compile_never_reaches_the_gateway(
    stack: tuple[AdminServer, GatewayProcess],
) -> None:
    srv, gw = stack
    before = srv.request("GET", "/ready").json()["definitions_version"]
    r = srv.request("POST", "/v1/campaigns", json={
        "name": "Broken", "campaign_type": "DISCOUNT_COUPONS", "validation_rules": ["val_missing"],
        "voucher": {"discount": {"type": "AMOUNT", "amount_off": 100}},
    })  # fmt: skip
    assert r.status_code == 400
    err = r.json()
    assert err["key"] == "invalid_definition"
    assert "unknown validation rule 'val_missing'" in err["details"]
    assert "campaigns[camp_" in err["details"] and ".validation_rules[0]" in err["details"]
    assert set(err) >= {"code", "key", "message", "details", "request_id"}
    assert srv.request("GET", "/ready").json()["definitions_version"] == before
    assert gw.validate("ANY")["valid"] is False
