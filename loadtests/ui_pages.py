"""`make bench-ui`: how fast the web UI's pages answer at scale (issue 12: every page < 300 ms
with `make run`'s data plus a 1,000,000-code campaign and 1,000 campaigns).

On a PRIVATE ``redis-server``: the demo definitions plus ``UI_CAMPAIGNS`` [1000] coupon campaigns
(each with limits, so the list computes a status and bars for every one), then a campaign of
``UI_CODES`` [1,000,000] codes generated through admin's API (the async action), then
``UI_REDEMPTIONS`` [20,000] redemptions of those codes (the first by a customer who never comes
back, ``rare``, then 5,000 shoppers) and 100 refused attempts through the real gateway app in
process: the ledger, the series and the timelines have something to read, and a filter on the
rare customer must walk the whole ledger (before admin's ledger views). Admin runs as
``make run`` serves it (``admin.testing.AdminServer``: the real app on a loopback port). A
signed-in client then fetches each page ``UI_ROUNDS`` [20] times; the report gives the median,
p95 and max ms per page. Writes ``bench-results/ui-pages.json``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import redis
from litestar.testing import TestClient

from admin.testing import AdminServer
from core import model as m
from gateway.app import create_app as gateway_app
from store import demo
from store.defs import publish_definitions_sync, put_app_key_sync
from store.redis_server import PrivateRedis
from store.settings import Settings

OUT = Path(__file__).resolve().parent.parent / "bench-results" / "ui-pages.json"
PREFIX = "ui:"
APP = {"X-App-Id": "app_ui_bench", "X-App-Token": "ui-bench-token-0123456789"}


def _definitions(n: int) -> m.Definitions:
    data = json.loads(json.dumps(demo.DEMO))
    for i in range(n):
        data["campaigns"].append({
            "id": f"camp_bulk_{i:04d}", "name": f"Bulk campaign {i:04d}",
            "voucher": {"discount": {"type": "AMOUNT", "amount_off": 100 + i}},
            "limits": {"redemptions": 1000 + i, "discounted_amount": 10**6, "per_customer": 2}})  # fmt: skip
    return m.load_definitions(data)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:300]
    return found.group(1)


def _time(c: httpx.Client, method: str, path: str, rounds: int, **kw: Any) -> dict[str, Any]:
    ms: list[float] = []
    status = 0
    for _ in range(rounds):
        t0 = time.perf_counter()
        r = c.request(method, path, **kw)
        ms.append((time.perf_counter() - t0) * 1000)
        status = r.status_code
    ms.sort()
    return {"page": f"{method} {path}", "status": status, "median_ms": round(statistics.median(ms), 1),
            "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1), "max_ms": round(ms[-1], 1)}  # fmt: skip


def main() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    n_camps = int(os.environ.get("UI_CAMPAIGNS", "1000"))
    n_codes = int(os.environ.get("UI_CODES", "1000000"))
    n_reds = int(os.environ.get("UI_REDEMPTIONS", "20000"))
    rounds = int(os.environ.get("UI_ROUNDS", "20"))
    with PrivateRedis() as srv:
        r = redis.Redis.from_url(srv.url)
        publish_definitions_sync(r, PREFIX, _definitions(n_camps))
        put_app_key_sync(r, PREFIX, APP["X-App-Id"], APP["X-App-Token"], "application")
        with AdminServer(srv.url, PREFIX) as adm:
            t0 = time.perf_counter()
            made = adm.request("POST", "/v1/campaigns", json={
                "name": "Million codes", "campaign_type": "DISCOUNT_COUPONS", "vouchers_count": n_codes,
                "voucher": {"type": "DISCOUNT_VOUCHER", "discount": {"type": "PERCENT", "percent_off": 10},
                            "code_config": {"length": 10, "prefix": "M-"}},
                "limits": {"redemptions": n_codes}}, timeout=60)  # fmt: skip
            assert made.status_code == 200, made.text
            big = made.json()["id"]
            action = made.json().get("async_action_id")
            while action:
                st = adm.request("GET", f"/v1/async-actions/{action}").json()
                if st.get("status") == "DONE":
                    break
                assert st.get("status") != "FAILED", st
                time.sleep(0.5)
            gen_s = time.perf_counter() - t0
            assert r.llen(PREFIX + "campcodes:" + big) == n_codes  # every code is stored
            codes = [c.decode() for c in r.lrange(PREFIX + "campcodes:" + big, 0, n_reds - 1)]
            with TestClient(gateway_app(Settings(redis_url=srv.url, key_prefix=PREFIX))) as gw:
                for i, code in enumerate(codes):
                    who = "rare" if i == 0 else f"shopper-{i % 5000}"
                    body = {"customer": {"source_id": who}, "order": {"amount": 5000},
                            "redeemables": [{"object": "voucher", "id": code}]}  # fmt: skip
                    gw.post("/v1/redemptions", json=body, headers=APP)
                for i in range(100):  # refused: already used
                    gw.post("/v1/redemptions", json={"customer": {"source_id": "late"}, "order": {"amount": 5000},
                            "redeemables": [{"object": "voucher", "id": codes[i % len(codes)]}]}, headers=APP)  # fmt: skip
            customer = r.get(PREFIX + "customer:src:shopper-1")
            rare = r.get(PREFIX + "customer:src:rare")
            with httpx.Client(base_url=adm.url, timeout=60) as c:
                got = c.post("/login", data={"key_id": adm.admin_id, "token": adm.admin_token,
                                             "csrf_token": _csrf(c.get("/login").text)})  # fmt: skip
                assert got.status_code == 303, got.text
                # the first ledger-backed page folds the whole ledger into admin's views
                # (store/ledger_fold.py): timed on its own, then every page reads folded figures
                t0 = time.perf_counter()
                csrf = _csrf(c.get("/").text)
                fold_ms = round((time.perf_counter() - t0) * 1000, 1)
                pages = [("GET", "/", {}), ("GET", "/campaigns", {}), ("GET", "/campaigns?page=25", {}),
                         ("GET", "/campaigns?status=running&q=Bulk", {}), ("GET", f"/campaigns/{big}", {}),
                         ("GET", "/campaigns/camp_summer", {}),
                         ("POST", "/codes", {"data": {"code": codes[-1], "csrf_token": csrf}}),
                         ("GET", "/customers", {}), ("GET", "/ledger", {}), ("GET", "/audit", {})]  # fmt: skip
                pages += [("GET", "/ledger?status=FAILED", {}), ("GET", "/ledger?customer=rare", {}),
                          ("GET", "/ledger?failure_key=quantity_exceeded", {})]  # fmt: skip
                for cust in (customer, rare):
                    if cust:
                        pages.append(("GET", f"/customers/{cust.decode()}", {}))
                order = {"amount": 5000, "items": [{"product_id": "prod_tee", "quantity": 1, "price": 5000}]}
                pages += [(  # the editor, the preview, the code list deep in a million codes, P1 screens
                    "GET", f"/campaigns/{big}/codes", {}), ("GET", f"/campaigns/{big}/codes?after={n_codes - 50}", {}),
                    ("GET", "/campaigns/new", {}), ("GET", f"/campaigns/{big}/edit", {}), ("GET", "/preview", {}),
                    ("POST", "/preview", {"data": {"csrf_token": csrf, "order_json": json.dumps(order),
                                                   "codes": codes[-1], "customer": "shopper-1"}}),
                    ("GET", "/loyalty", {}), ("GET", "/rewards", {}), ("GET", "/referrals", {}),
                    ("GET", "/approvals", {}), ("GET", "/actions", {}), ("GET", "/codes/bulk", {}),
                    ("GET", f"/audit?type=campaign&id={big}", {})]  # fmt: skip
                programme = re.search(r'href="(/loyalty/camp_[^"/]+)"', c.get("/loyalty").text)
                assert programme, "the demo's loyalty programme is listed"
                pages.append(("GET", programme.group(1), {}))
                results = [_time(c, method, path, rounds, **kw) for method, path, kw in pages]
                bad = [p for p in results if p["status"] >= 400]
                assert not bad, bad
        r.close()
    report = {"at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "campaigns": n_camps + len(demo.DEMO["campaigns"]) + 1,
              "codes": n_codes, "generation_s": round(gen_s, 1), "redemptions": n_reds, "rounds": rounds,
              "first_fold_ms": fold_ms, "pages": results}  # fmt: skip
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2))
    print(f"{report['campaigns']} campaigns, {n_codes:,} codes generated in {report['generation_s']} s")
    print(f"first page after the seeding (folds the whole ledger): {fold_ms} ms")
    for p in results:
        print(f"{p['page'][:60]:60} {p['status']}  median {p['median_ms']:7.1f}  p95 {p['p95_ms']:7.1f}  max {p['max_ms']:7.1f} ms")


if __name__ == "__main__":
    main()
