"""Referral races: hundreds of REAL concurrent HTTP requests against ``python -m gateway`` with
two worker processes (and the real admin service), checked against what Redis holds after:

- 100 different friends redeem one referral code whose referrer may have at most 10 referees:
  exactly 10 redemptions convert, exactly 10 referrer rewards are paid;
- the same friend redeems the code 50 times at once: it converts once (both sides paid once);
- 12 friends cross tier boundaries at once: every n from 1 to 12 is paid exactly once, each tier
  exactly as defined (the once tier once, the others for every n they cover).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from test_gateway_races import _fire

from admin.testing import AdminServer, GatewayProcess

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(redis_url: str, key_prefix: str) -> Iterator[tuple[AdminServer, GatewayProcess, redis.Redis]]:
    rc = redis.Redis.from_url(redis_url)
    with AdminServer(redis_url, key_prefix) as adm, GatewayProcess(redis_url, key_prefix, workers=2) as gw:
        yield adm, gw, rc
    rc.close()


def _ok(r: Any) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    return dict(r.json())


def _setup(adm: AdminServer, tiers: list[dict[str, Any]] | None = None,
           **rp: Any) -> tuple[str, str, str, dict[str, str]]:  # fmt: skip
    """Club + coupons + a referral programme; rewards r100 (100 pts), r1000 (1000 pts), rty
    (a coupon). Returns (club, campaign, alice's code, reward ids by name)."""
    club = _ok(adm.request("POST", "/v1/loyalties", json={"name": "Club", "voucher": {
        "loyalty_card": {"points": 0}, "code_config": {"pattern": "CLUB-#######"}}}))["id"]  # fmt: skip
    ty = _ok(adm.request("POST", "/v1/campaigns", json={
        "name": "Thanks", "campaign_type": "DISCOUNT_COUPONS",
        "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "PERCENT", "percent_off": 30},
                    "code_config": {"pattern": "TY-########"}}}))["id"]  # fmt: skip
    rewards = {
        "r100": _ok(adm.request("POST", "/v1/rewards", json={"name": "100", "parameters": {"campaign": {"id": club, "balance": 100}}}))["id"],
        "r1000": _ok(adm.request("POST", "/v1/rewards", json={"name": "1000", "parameters": {"campaign": {"id": club, "balance": 1000}}}))["id"],
        "rty": _ok(adm.request("POST", "/v1/rewards", json={"name": "coupon", "parameters": {"campaign": {"id": ty}}}))["id"],
    }  # fmt: skip
    if tiers is not None:
        rp["referral_tiers"] = [{**t, "rewards": [rewards[x] for x in t["rewards"]]} for t in tiers]
    camp = _ok(adm.request("POST", "/v1/campaigns", json={
        "name": "Refer", "campaign_type": "REFERRAL_PROGRAM", "join_once": True,
        "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 500},
                    "code_config": {"pattern": "REF-######"}},
        "referral_program": {"conversion_event_type": "redemption",
                             "referee_reward": {"type": "LOYALTY_CARD", "amount": "50",
                                                "related_object_parent": {"id": club}}, **rp}}))["id"]  # fmt: skip
    for name in (["r100"] if tiers is None else ["r100", "r1000", "rty"]):
        _ok(adm.request("POST", f"/v1/rewards/{rewards[name]}/assignments", json={"campaign": camp}))
    code = _ok(adm.request("POST", "/v1/publications", json={"campaign": {"id": camp},
                                                              "customer": {"source_id": "alice"}}))["voucher"]["code"]  # fmt: skip
    return club, camp, code, rewards


def _redeem(gw: GatewayProcess, code: str, who: str) -> tuple[str, str, Any, dict[str, str]]:
    return ("POST", "/v1/redemptions", {"customer": {"source_id": who}, "order": {"amount": 5000},
                                        "redeemables": [{"object": "voucher", "id": code}]},
            {"X-App-Id": gw.app_id, "X-App-Token": gw.app_token})  # fmt: skip


def _points(adm: AdminServer, who: str) -> int:
    return int(_ok(adm.request("GET", f"/v1/customers/{who}"))["loyalty"]["points"])


def _rewarded(adm: AdminServer, who: str) -> list[dict[str, Any]]:
    return list(_ok(adm.request("GET", f"/v1/customers/{who}/activity",
                                params={"type": "customer.rewarded", "limit": 100}))["data"])  # fmt: skip


def _records(rc: redis.Redis, prefix: str) -> list[dict[str, Any]]:
    return [json.loads(rc.get(k)) for k in rc.scan_iter(match=prefix + "referral:*", count=1000)]


def _tally(resps: list[Any]) -> dict[Any, int]:
    out: dict[Any, int] = {}
    for r in resps:
        k = 200 if r.status_code == 200 else (r.status_code, r.json().get("key"))
        out[k] = out.get(k, 0) + 1
    return out


def test_100_friends_of_a_referrer_limited_to_10_referees(stack: Any) -> None:
    adm, gw, rc = stack
    club, camp, code, _ = _setup(adm, max_referees=10)
    resps = asyncio.run(_fire(gw, [_redeem(gw, code, f"friend-{i}") for i in range(100)]))
    assert _tally(resps) == {200: 10, (400, "referral_limit_exceeded"): 90}, _tally(resps)
    winners = [f"friend-{i}" for i, r in enumerate(resps) if r.status_code == 200]
    assert _points(adm, "alice") == 10 * 100
    assert len(_rewarded(adm, "alice")) == 10
    recs = _records(rc, gw.prefix)
    assert sorted(r["n"] for r in recs) == list(range(1, 11))
    assert all(_points(adm, w) == 50 for w in winners)
    alice = rc.get(gw.prefix + "customer:src:alice").decode()
    assert int(rc.get(gw.prefix + "{c:" + camp + "}:conv:" + alice)) == 10
    assert int(rc.get(gw.prefix + "{c:" + camp + "}:referrer:" + alice)) == 10
    assert _ok(adm.request("GET", "/v1/customers/alice"))["loyalty"]["referred_customers"] == 10


def test_the_same_friend_redeeming_50_times_at_once_converts_once(stack: Any) -> None:
    adm, gw, rc = stack
    club, camp, code, _ = _setup(adm)
    resps = asyncio.run(_fire(gw, [_redeem(gw, code, "bob") for _ in range(50)]))
    assert _tally(resps) == {200: 1, (400, "customer_already_referred"): 49}, _tally(resps)
    assert _points(adm, "alice") == 100 and _points(adm, "bob") == 50
    assert len(_rewarded(adm, "alice")) == 1
    bob = _ok(adm.request("GET", "/v1/customers/bob"))
    assert bob["referrals"]["total"] == 1 and len(_records(rc, gw.prefix)) == 1


def test_tier_boundaries_crossed_at_once_pay_each_tier_as_defined(stack: Any) -> None:
    adm, gw, rc = stack
    tiers = [{"min_referees": 1, "rewards": ["r100"]}, {"min_referees": 3, "once": True, "rewards": ["rty"]},
             {"min_referees": 5, "rewards": ["r1000"]}, {"id": "ten", "min_referees": 10, "once": True,
                                                          "rewards": ["r1000"]}]  # fmt: skip
    club, camp, code, _ = _setup(adm, tiers=tiers)
    resps = asyncio.run(_fire(gw, [_redeem(gw, code, f"friend-{i}") for i in range(12)]))
    assert _tally(resps) == {200: 12}, _tally(resps)
    recs = _records(rc, gw.prefix)
    assert sorted(r["n"] for r in recs) == list(range(1, 13))  # each n paid exactly once
    by_n = {r["n"]: sorted(r["tiers"]) for r in recs}
    for n in range(1, 13):
        want = ["rt_1"] + (["rt_3_once"] if n == 3 else []) + (["rt_5"] if n >= 5 else []) + (["ten"] if n == 10 else [])
        assert by_n[n] == sorted(want), (n, by_n[n])
    # 12 x 100 + 8 x 1000 (n = 5..12) + 1000 once at 10
    assert _points(adm, "alice") == 12 * 100 + 8 * 1000 + 1000
    coupons = [c.decode() for c in rc.lrange(gw.prefix + "campcodes:" + _ok(adm.request("GET", "/v1/campaigns/Thanks"))["id"], 0, -1)]
    assert len(coupons) == 1, coupons
    assert len(_rewarded(adm, "alice")) == 12 + 1 + 8 + 1
