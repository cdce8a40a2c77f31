"""`make bench-redis` (loadtests/redis_cost.py) drives the real gateway through the loyalty and
referral flows whose Redis time it measures (issue 13, target 1): a change to those flows'
payloads or answers, or to which functions a request calls, that breaks the tool fails here,
not in a benchmark run. Two requests per phase, on a private Redis (the tool resets its stats)."""

from __future__ import annotations

import pytest
import redis

from loadtests.redis_cost import _Calls, _loyalty
from store.redis_server import PrivateRedis

pytestmark = pytest.mark.slow


def test_the_loyalty_phases_run_and_split_their_functions(private_redis: PrivateRedis) -> None:
    r = redis.Redis.from_url(private_redis.url)
    try:
        with _Calls(r) as spy:
            out = _loyalty(r, private_redis.url, calls=2, follow_every=2, spy=spy, warm=1)
    finally:
        r.close()
    by = {p["phase"]: p for p in out}
    assert list(by) == ["trivial_fn2", "order_join", "order_paid", "event", "pay_points",
                        "pay_rollback", "reward", "referral"]  # fmt: skip
    assert by["trivial_fn2"]["commands_per_request"] == {"fcall": 1.0, "incrby": 1.0}
    for name, p in by.items():
        assert p["evalsha_usec_per_call"] > 0, (name, p)
    # (a) a member's paid order: one read, one wallet call; the request followed (the second)
    # has each function's own time and the commands it ran
    paid = by["order_paid"]
    assert paid["fcalls_per_request"] == {"loyalty_read": 1.0, "wallet": 1.0}
    assert paid["followed_requests"] == 1 and set(paid["functions"]) == {"loyalty_read", "wallet"}
    wallet = paid["functions"]["wallet"]
    assert wallet["usec_per_call"] > 0 and wallet["commands_per_call"]["xadd"] >= 1
    assert by["pay_points"]["fcalls_per_request"]["redeem"] == 1.0
    assert by["referral"]["fcalls_per_request"]["wallet#2"] == 1.0  # the conversion, then the order
