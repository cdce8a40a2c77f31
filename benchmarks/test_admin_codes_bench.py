"""Bulk code generation: 1,000,000 unique codes through the admin API, as an async action.

``make bench`` runs the 1,000,000-code case once and records, beside the time, the admin
process's peak RSS (``VmHWM``) in ``extra_info``. ``make test`` runs it with
``--benchmark-disable``: then a 2,000-code campaign keeps the pass cheap. The reference figure
is Voucherify's published 60 s for 100,000 codes (DESIGN.md).

The admin runs as its own process (``python -m admin``) so that its memory is measured alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import redis

from store import defs as defstore
from store.process import free_port
from store.redis_server import delete_prefixed

FULL = 1_000_000
SMOKE = 2_000


@pytest.fixture
def admin_proc(redis_url: str) -> Iterator[tuple[str, dict[str, str], int, str]]:
    prefix = f"pgbench:{uuid.uuid4().hex[:8]}:"
    client = redis.Redis.from_url(redis_url)
    token = uuid.uuid4().hex
    defstore.put_app_key_sync(client, prefix, "bench_admin", token, "admin", "benchmark")
    port = free_port()
    env = dict(os.environ, REDIS_URL=redis_url, PROMOGATE_KEY_PREFIX=prefix, ADMIN_PORT=str(port))
    proc = subprocess.Popen([sys.executable, "-m", "admin"], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < end, "admin did not start"
            time.sleep(0.1)
        yield url, {"X-App-Id": "bench_admin", "X-App-Token": token}, proc.pid, prefix
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        delete_prefixed(client, prefix)
        client.close()


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def test_generate_codes(benchmark, admin_proc, redis_url: str) -> None:
    url, headers, pid, prefix = admin_proc
    count = SMOKE if benchmark.disabled else FULL
    http = httpx.Client(base_url=url, headers=headers, timeout=60)
    rss_before = _peak_rss_mb(pid)
    result: dict = {}

    def generate() -> None:
        r = http.post("/v1/campaigns", json={
            "name": f"bench-{uuid.uuid4().hex[:6]}", "campaign_type": "DISCOUNT_COUPONS", "vouchers_count": count,
            "voucher": {"discount": {"type": "PERCENT", "percent_off": 10},
                        "code_config": {"length": 10, "prefix": "PG-"}},
        })  # fmt: skip
        assert r.status_code == 200, r.text
        camp = r.json()
        while True:
            a = http.get(f"/v1/async-actions/{camp['async_action_id']}").json()
            if a["status"] in ("DONE", "FAILED"):
                break
            time.sleep(0.05)
        assert a["status"] == "DONE", a
        result.update(a["result"], campaign_id=camp["id"])

    benchmark.group = "admin: bulk code generation (async action, end to end)"
    benchmark.pedantic(generate, rounds=1, iterations=1)
    client = redis.Redis.from_url(redis_url)
    codes = client.llen(f"{prefix}campcodes:{result['campaign_id']}")
    client.close()
    assert codes == count == result["count"]
    benchmark.extra_info.update(
        codes=count,
        generation_seconds=result["seconds"],
        regenerated_duplicates=result["regenerated_duplicates"],
        admin_peak_rss_mb_before=round(rss_before, 1),
        admin_peak_rss_mb=round(_peak_rss_mb(pid), 1),
        voucherify_reference="100,000 codes in 60 s",
    )
    print(
        f"\n{count} codes: {result['seconds']} s in the worker, admin peak RSS {_peak_rss_mb(pid):.1f} MB"
    )
    http.close()
