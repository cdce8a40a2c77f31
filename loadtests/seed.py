"""The load-test data set, and the one place that writes it.

Two paths, chosen by :func:`seed` (``LOADTEST_SEED=auto|admin|direct``, default ``auto``):

- ``admin``: through the admin service's Voucherify-shaped management API (``ADMIN_URL``),
  when it is up and answers ``POST /v1/campaigns`` (bulk codes with ``vouchers_count`` +
  ``voucher.code_config`` are NOT used: the load test needs to know its codes, so they are
  created one by one with ``POST /v1/vouchers/{code}``, batched in parallel);
- ``direct``: straight into Redis through :mod:`gateway.defstore` (the same functions admin uses).

``auto`` tries admin and falls back to direct. Switching for good is a one-line change of
``DEFAULT_PATH``. Either way the result is a :class:`Manifest` (written to
``bench-results/loadtest/manifest.json``) that the locust scenarios and the ceiling benchmark
read: codes, ids, the application key.

The data set (sizes are environment-tunable, defaults in brackets):

- ``LOADTEST_PROMOTIONS`` [1000] PROMOTION campaigns, one tier each, each aimed at one of
  ``N_SKUS`` SKUs with a minimum order amount: a cart of 1-20 items qualifies for a few;
- a unique-code campaign (``camp_lt_unique``, 10 % off, each code usable once) with
  ``LOADTEST_UNIQUE_CODES`` [30000] codes ``LTU-000000``... kept outside the definitions
  document (``Pcode:<CODE>``), as admin's bulk codes are;
- generic codes ``LTGEN5`` / ``LTGEN10`` / ``LTGEN15`` (huge limits), ``LTPOS`` for the POS
  scenario, ``LTBENCH`` for the ceiling benchmark;
- the flash-sale code ``LTFLASH`` limited to ``LOADTEST_FLASH_LIMIT`` [10000] uses;
- the application key ``PROMOGATE_APP_ID`` / ``PROMOGATE_APP_TOKEN`` [lt_app / random].
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_PATH = "auto"  # "admin" once admin's management API is complete; "direct" to force Redis
DEFAULT_PREFIX = "pglt:"
N_SKUS = 400
FLASH_CAMPAIGN = "camp_lt_flash"
FLASH_CODE = "LTFLASH"
UNIQUE_CAMPAIGN = "camp_lt_unique"
GENERIC_CODES = ("LTGEN5", "LTGEN10", "LTGEN15")
POS_CODE = "LTPOS"
BENCH_CODE = "LTBENCH"
HUGE = 10**12
OUT_DIR = Path("bench-results/loadtest")


@dataclass
class Manifest:
    prefix: str
    redis_url: str
    app_id: str
    app_token: str
    path: str  # "admin" or "direct": how the data got in
    n_promotions: int
    n_skus: int
    unique_codes: int  # codes are f"LTU-{i:06d}" for i in range(unique_codes)
    generic_codes: list[str] = field(default_factory=lambda: list(GENERIC_CODES))
    pos_code: str = POS_CODE
    bench_code: str = BENCH_CODE
    flash_code: str = FLASH_CODE
    flash_campaign: str = FLASH_CAMPAIGN
    flash_limit: int = 10_000

    @property
    def flash_counter_key(self) -> str:
        """The Redis counter of the flash code's uses (core's key layout)."""
        return f"{self.prefix}{{c:{self.flash_campaign}}}:v:{self.flash_code}:uses"

    def save(self, path: Path | None = None) -> Path:
        path = Path(path or os.environ.get("LOADTEST_MANIFEST") or OUT_DIR / "manifest.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2))
        return path

    @classmethod
    def load(cls, path: Path | None = None) -> Manifest:
        path = Path(os.environ.get("LOADTEST_MANIFEST") or path or OUT_DIR / "manifest.json")
        return cls(**json.loads(path.read_text()))


def unique_code(i: int) -> str:
    return f"LTU-{i:06d}"


def sku(i: int) -> str:
    return f"lt_sku_{i}"


def price_of(i: int) -> int:
    """Catalogue price of SKU ``i`` in cents: 2.00 to 99.00."""
    return 200 + (i * 37) % 9700


# ----------------------------------------------------------------------------------- data


def definitions_doc(n_promotions: int, flash_limit: int) -> dict[str, Any]:
    """The definitions document (Voucherify vocabulary, as a plain dict)."""
    rules: list[dict[str, Any]] = []
    campaigns: list[dict[str, Any]] = []
    for i in range(n_promotions):
        target = sku(i % N_SKUS)
        min_amount = (i % 5) * 1000  # 0.00 .. 40.00
        rules.append(
            {
                "id": f"val_lt_{i}",
                "rules": {
                    "1": {"name": "order.amount", "conditions": {"$more_than_or_equal": [min_amount]}},
                    "logic": "1",
                },
                "applicable_to": {"included": [{"object": "sku", "id": target}]},
            }
        )
        kind = i % 3
        discount = (
            {"type": "PERCENT", "percent_off": 5 + i % 20, "effect": "APPLY_TO_ITEMS"}
            if kind == 0
            else {"type": "AMOUNT", "amount_off": 50 + i % 150, "effect": "APPLY_TO_ITEMS"}
            if kind == 1
            else {"type": "PERCENT", "percent_off": 3, "effect": "APPLY_TO_ITEMS"}
        )
        campaigns.append(
            {
                "id": f"camp_lt_promo_{i}",
                "name": f"LT promotion {i}",
                "campaign_type": "PROMOTION",
                "category": "promotions",
                "promotion": {
                    "tiers": [
                        {"id": f"promo_lt_{i}", "name": f"LT tier {i}", "action": {"discount": discount},
                         "validation_rules": [f"val_lt_{i}"]}
                    ]
                },
                "limits": {"redemptions": HUGE},
            }
        )  # fmt: skip
    campaigns += [
        {"id": UNIQUE_CAMPAIGN, "name": "LT unique codes 10%", "category": "coupons",
         "voucher": {"discount": {"type": "PERCENT", "percent_off": 10, "amount_limit": 5000},
                     "redemption": {"quantity": 1}}},
        {"id": "camp_lt_generic", "name": "LT generic", "category": "coupons",
         "voucher": {"discount": {"type": "AMOUNT", "amount_off": 100}},
         "limits": {"redemptions": HUGE}},
        {"id": "camp_lt_pos", "name": "LT POS", "category": "coupons",
         "voucher": {"discount": {"type": "PERCENT", "percent_off": 5}}},
        {"id": "camp_lt_bench", "name": "LT bench", "category": "coupons",
         "voucher": {"discount": {"type": "PERCENT", "percent_off": 10, "amount_limit": 5000}},
         "limits": {"redemptions": HUGE}},
        {"id": FLASH_CAMPAIGN, "name": "LT flash sale", "category": "flash",
         "voucher": {"discount": {"type": "AMOUNT", "amount_off": 1000}}},
    ]  # fmt: skip
    vouchers = [
        {"code": "LTGEN5", "campaign_id": "camp_lt_generic", "discount": {"type": "AMOUNT", "amount_off": 500},
         "redemption": {"quantity": HUGE}},
        {"code": "LTGEN10", "campaign_id": "camp_lt_generic", "discount": {"type": "PERCENT", "percent_off": 10},
         "redemption": {"quantity": HUGE}},
        {"code": "LTGEN15", "campaign_id": "camp_lt_generic", "discount": {"type": "PERCENT", "percent_off": 15,
         "amount_limit": 3000}, "redemption": {"quantity": HUGE}},
        {"code": POS_CODE, "campaign_id": "camp_lt_pos", "redemption": {"quantity": HUGE}},
        {"code": BENCH_CODE, "campaign_id": "camp_lt_bench", "redemption": {"quantity": HUGE}},
        {"code": FLASH_CODE, "campaign_id": FLASH_CAMPAIGN, "redemption": {"quantity": flash_limit}},
    ]  # fmt: skip
    return {
        "campaigns": campaigns,
        "vouchers": vouchers,
        "validation_rules": rules,
        # a cart may take its code plus a few item promotions
        "stacking_rules": {
            "applicable_redeemables_limit": 5,
            "applicable_redeemables_per_category_limit": 5,
            "redeemables_application_mode": "PARTIAL",
        },
    }


# ----------------------------------------------------------------------------------- paths


def _delete_prefix(client: Any, prefix: str) -> int:
    """Delete every key under ``prefix`` (never FLUSHALL: the Redis may be shared)."""
    if not prefix or prefix in ("pg:",) and os.environ.get("LOADTEST_ALLOW_DEFAULT_PREFIX") != "1":
        raise SystemExit(f"refusing to wipe key prefix {prefix!r}; set PROMOGATE_KEY_PREFIX")
    n = 0
    batch: list[bytes] = []
    for k in client.scan_iter(match=prefix.replace("[", "\\[").replace("*", "\\*") + "*", count=5000):
        batch.append(k)
        if len(batch) >= 5000:
            n += client.unlink(*batch)
            batch.clear()
    if batch:
        n += client.unlink(*batch)
    return n


def cleanup(redis_url: str, prefix: str) -> int:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        return _delete_prefix(client, prefix)
    finally:
        client.close()


def _seed_direct(m: Manifest) -> None:
    import redis

    from core import model as cm
    from gateway import defstore

    client = redis.Redis.from_url(m.redis_url)
    try:
        _delete_prefix(client, m.prefix)
        defs = cm.load_definitions(definitions_doc(m.n_promotions, m.flash_limit))
        defstore.publish_definitions_sync(client, m.prefix, defs)
        step = 5000
        for start in range(0, m.unique_codes, step):
            vs = [
                cm.Voucher(code=unique_code(i), campaign_id=UNIQUE_CAMPAIGN)
                for i in range(start, min(m.unique_codes, start + step))
            ]
            defstore.put_codes_sync(client, m.prefix, vs)
        defstore.put_app_key_sync(client, m.prefix, m.app_id, m.app_token, "application", "load test key")
    finally:
        client.close()


def _admin_has_endpoints(admin_url: str, admin_headers: dict[str, str]) -> bool:
    """Admin is up and knows POST /v1/campaigns (an empty body answers 4xx, not 404/405)."""
    try:
        with urllib.request.urlopen(admin_url + "/ready", timeout=2) as r:
            if r.status != 200:
                return False
    except (OSError, urllib.error.URLError):
        return False
    req = urllib.request.Request(
        admin_url + "/v1/campaigns", data=b"{}", method="POST",
        headers={"Content-Type": "application/json", **admin_headers},
    )  # fmt: skip
    try:
        urllib.request.urlopen(req, timeout=5)
        return True
    except urllib.error.HTTPError as e:
        return e.code not in (404, 405)
    except OSError:
        return False


def _seed_admin(m: Manifest, admin_url: str, admin_headers: dict[str, str]) -> None:
    """Seed through admin's management API (Voucherify shapes). Untested until admin lands:
    any non-2xx raises, and ``auto`` then falls back to the direct path."""
    import httpx

    doc = definitions_doc(m.n_promotions, m.flash_limit)
    h = {"Content-Type": "application/json", **admin_headers}
    with httpx.Client(base_url=admin_url, headers=h, timeout=30) as c:

        def post(path: str, body: dict[str, Any]) -> Any:
            r = c.post(path, json=body)
            if r.status_code >= 300:
                raise RuntimeError(f"admin {path}: {r.status_code} {r.text[:300]}")
            return r.json() if r.content else None

        for vr in doc["validation_rules"]:
            post("/v1/validation-rules", vr)
        for camp in doc["campaigns"]:
            post("/v1/campaigns", camp)
        for v in doc["vouchers"]:
            post(f"/v1/vouchers/{v['code']}", v)
        for i in range(m.unique_codes):
            post(f"/v1/vouchers/{unique_code(i)}", {"campaign_id": UNIQUE_CAMPAIGN})
        post("/v1/keys", {"id": m.app_id, "token": m.app_token, "role": "application", "name": "load test key"})


def seed(path: str | None = None) -> Manifest:
    """Write the data set; return (and save) its manifest."""
    path = path or os.environ.get("LOADTEST_SEED") or DEFAULT_PATH
    m = Manifest(
        prefix=os.environ.get("PROMOGATE_KEY_PREFIX") or DEFAULT_PREFIX,
        redis_url=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
        app_id=os.environ.get("PROMOGATE_APP_ID") or "lt_app",
        app_token=os.environ.get("PROMOGATE_APP_TOKEN") or secrets.token_urlsafe(18),
        path="direct",
        n_promotions=int(os.environ.get("LOADTEST_PROMOTIONS", "1000")),
        n_skus=N_SKUS,
        unique_codes=int(os.environ.get("LOADTEST_UNIQUE_CODES", "30000")),
        flash_limit=int(os.environ.get("LOADTEST_FLASH_LIMIT", "10000")),
    )
    if path in ("auto", "admin"):
        admin_url = os.environ.get("ADMIN_URL") or "http://{}:{}".format(
            os.environ.get("ADMIN_HOST", "127.0.0.1"), os.environ.get("ADMIN_PORT", "8001")
        )
        admin_headers = {
            "X-App-Id": os.environ.get("PROMOGATE_ADMIN_ID", "admin_demo"),
            "X-App-Token": os.environ.get("PROMOGATE_ADMIN_TOKEN", ""),
        }
        if _admin_has_endpoints(admin_url, admin_headers):
            try:
                cleanup(m.redis_url, m.prefix)
                _seed_admin(m, admin_url, admin_headers)
                m.path = "admin"
            except Exception as exc:
                if path == "admin":
                    raise
                print(f"seed: admin path failed ({exc}); falling back to direct", file=sys.stderr)
        elif path == "admin":
            raise SystemExit(f"seed: admin at {admin_url} is not up or lacks POST /v1/campaigns")
    if m.path != "admin":
        _seed_direct(m)
    m.save()
    return m


if __name__ == "__main__":
    if sys.argv[1:2] == ["--cleanup"]:
        mf = Manifest.load()
        print(f"deleted {cleanup(mf.redis_url, mf.prefix)} keys under {mf.prefix!r}")
    else:
        mf = seed()
        print(f"seeded via {mf.path}: prefix {mf.prefix!r}, {mf.n_promotions} promotions, "
              f"{mf.unique_codes} unique codes, flash limit {mf.flash_limit}")  # fmt: skip
