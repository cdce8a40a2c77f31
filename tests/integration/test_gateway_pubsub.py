"""Issue 3, ruleset changes by pub/sub on a running ``python -m gateway`` (2 workers): new
definitions are served within about a second without a restart (by every worker), new unique
codes at once, and a definitions document that fails to compile keeps the old ruleset and is
counted in ``promogate_ruleset_compile_errors``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import msgspec
import pytest
import redis
from gateway_fixtures import (
    HEADERS,
    Server,
    body,
    definitions,
    metric_samples,
    publish_raw,
    sample,
    voucher,
)

from core import model as m
from store.defs import publish_definitions_sync, put_codes_sync

pytestmark = pytest.mark.slow
WITHIN = 1.0  # seconds; the safety-net poll is 5 s, so a faster change came by pub/sub


@pytest.fixture
def rc(server: Server) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(server.redis_url)
    yield c
    c.close()


def _validate(srv: Server, code: str) -> dict:
    # a new connection each time: uvicorn spreads connections over both workers
    r = httpx.post(
        srv.url + "/v1/validations", json=body(voucher(code)), headers=HEADERS, timeout=5
    )
    assert r.status_code == 200, r.text
    return r.json()


def _all_valid(srv: Server, code: str, n: int = 12) -> bool:
    return all(_validate(srv, code)["valid"] for _ in range(n))


def _wait_valid(srv: Server, code: str) -> float:
    t0 = time.monotonic()
    while not _validate(srv, code)["valid"]:
        assert time.monotonic() - t0 < WITHIN, f"{code} not served within {WITHIN}s"
        time.sleep(0.02)
    return time.monotonic() - t0


def _versions(srv: Server, n: int = 12) -> set[int]:
    return {httpx.get(srv.url + "/ready", timeout=5).json()["ruleset_version"] for _ in range(n)}


def test_new_definitions_are_served_without_restart(server: Server, rc: redis.Redis) -> None:
    assert (
        _validate(server, "NEWCODE1")["redeemables"][0]["result"]["error"]["key"]
        == "resource_not_found"
    )
    pid = server.proc.pid
    v = publish_definitions_sync(rc, server.prefix,
                                 definitions([{"code": "NEWCODE1", "campaign_id": "camp_gen"}]))  # fmt: skip
    took = _wait_valid(server, "NEWCODE1")
    print(f"new definitions served after {took:.3f}s")
    assert took < WITHIN
    time.sleep(0.3)  # the other worker got the same notice
    assert _all_valid(server, "NEWCODE1")
    assert _versions(server) == {v}
    assert server.proc.pid == pid and server.proc.poll() is None, "no restart"


def test_new_unique_codes_are_served_at_once(server: Server, rc: redis.Redis) -> None:
    # an unknown code is remembered as unknown for a moment; storing it drops that memory
    assert _validate(server, "UNQ-PUB-1")["valid"] is False
    put_codes_sync(rc, server.prefix, [m.Voucher(code="UNQ-PUB-1", campaign_id="camp_unique")])
    took = _wait_valid(server, "UNQ-PUB-1")
    assert took < WITHIN
    time.sleep(0.3)
    assert _all_valid(server, "UNQ-PUB-1")
    data = _validate(server, "UNQ-PUB-1")
    assert data["order"]["total_discount_amount"] == 1000


def test_broken_definitions_keep_the_old_ruleset_and_are_counted(
    server: Server, rc: redis.Redis
) -> None:
    def compile_errors() -> float:
        # several scrapes: /metrics refreshes the gauge of the worker that answers
        vals = [sample(metric_samples(httpx.get(server.url + "/metrics", timeout=5).text),
                       "promogate_ruleset_compile_errors") for _ in range(6)]  # fmt: skip
        return max(vals)

    good = definitions([{"code": "NEWCODE2", "campaign_id": "camp_gen"}])
    v_good = publish_definitions_sync(rc, server.prefix, good)
    _wait_valid(server, "NEWCODE2")
    time.sleep(0.3)
    errors_before = compile_errors()

    def wait_errors(at_least: float) -> None:
        deadline = time.monotonic() + 5
        while compile_errors() < at_least:
            assert time.monotonic() < deadline, (
                f"compile errors not counted: {compile_errors()} < {at_least}"
            )
            time.sleep(0.1)

    # 1. valid JSON but not a ruleset: a code names an unknown validation rule
    doc = msgspec.to_builtins(good)
    doc["vouchers"].append(
        {"code": "BROKEN1", "campaign_id": "camp_gen", "validation_rules": ["val_nope"]}
    )
    publish_raw(rc, server.prefix, json.dumps(doc).encode())
    wait_errors(errors_before + 1)
    assert not _validate(server, "BROKEN1")["valid"]
    # 2. not even a definitions document (each worker jumps to the newest version it reads, so
    # notices published back to back may count once: wait for each)
    publish_raw(rc, server.prefix, b'{"campaigns": "garbage"')
    wait_errors(errors_before + 2)
    # the old ruleset is still served, by every worker
    assert _all_valid(server, "NEWCODE2")
    assert not _validate(server, "BROKEN1")["valid"]
    assert _versions(server) == {v_good}
    text = httpx.get(server.url + "/metrics", timeout=5).text
    assert "promogate_ruleset_compile_errors" in text

    # 3. a good document after the broken ones is taken again
    v3 = publish_definitions_sync(
        rc, server.prefix, definitions([{"code": "NEWCODE3", "campaign_id": "camp_gen"}])
    )
    _wait_valid(server, "NEWCODE3")
    time.sleep(0.3)
    assert _all_valid(server, "NEWCODE3")
    assert _versions(server) == {v3}
