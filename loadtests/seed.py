"""The load-test data set, and the one place that writes it.

Two paths, chosen by :func:`seed` (``LOADTEST_SEED=admin|direct``, default ``admin``):

- ``admin`` (default): through the admin service's API (``ADMIN_URL``, which must be up and
  use the same ``REDIS_URL`` / ``PROMOGATE_KEY_PREFIX``). The seed wipes its prefix, stores a
  bootstrap admin key with :func:`store.defs.put_app_key_sync` (as ``make run`` does), then:

  * the 1,000-promotion ruleset (PROMOTION campaigns and their validation rules) in one
    ``POST /v1/definitions/import`` (the instance is empty at that point);
    ``LOADTEST_ADMIN_RULESET=calls`` creates them one by one with ``POST /v1/validation-rules``
    and ``POST /v1/campaigns`` instead (each change recompiles the whole ruleset: about
    3 minutes for 1,000 promotions);
  * stacking rules with ``PUT /v1/stacking-rules``;
  * the coupon campaigns with ``POST /v1/campaigns`` and their own codes (generic, POS, bench,
    flash) with ``POST /v1/vouchers/{code}``;
  * the unique-code pool by bulk generation: ``POST /v1/campaigns`` with ``vouchers_count`` and
    ``voucher.code_config``, ``GET /v1/async-actions/{id}`` polled until ``DONE``, then the
    codes read back from ``GET /v1/exports/vouchers.csv?campaign_id=...``;
  * the checkout key with ``POST /v1/keys`` (role ``application``) and a read-only key (role
    ``analyst``) with which ``loadtests.run`` reads the campaign figures afterwards.

  Campaign and rule ids are assigned by admin; the manifest records the ones used.
- ``direct``: straight into Redis through :mod:`store.defs` (the same functions admin
  uses), with fixed ids (``camp_lt_flash``...) and unique codes ``LTU-000000``...

Either way the result is a :class:`Manifest` (written to ``bench-results/loadtest/manifest.json``,
the unique codes one a line beside it) that the locust scenarios and the ceiling benchmark
read: codes, ids, the application key.

The data set (sizes are environment-tunable, defaults in brackets):

- ``LOADTEST_PROMOTIONS`` [1000] PROMOTION campaigns, one tier each, each aimed at one of
  ``N_SKUS`` SKUs with a minimum order amount: a cart of 1-20 items qualifies for a few;
- a unique-code campaign (``LT unique codes 10%``, 10 % off, each code usable once) with
  ``LOADTEST_UNIQUE_CODES`` [30000] codes kept outside the definitions document
  (in their bucket hashes, store/codebook.py), as admin's bulk codes are;
- generic codes ``LTGEN5`` / ``LTGEN10`` / ``LTGEN15`` (huge limits), ``LTPOS`` for the POS
  scenario, ``LTBENCH`` for the ceiling benchmark;
- the flash-sale code ``LTFLASH`` limited to ``LOADTEST_FLASH_LIMIT`` [10000] uses;
- the application key (direct path: ``PROMOGATE_APP_ID`` / ``PROMOGATE_APP_TOKEN`` [lt_app /
  random]; admin path: whatever ``POST /v1/keys`` answers).
"""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_PATH = "admin"  # LOADTEST_SEED=direct writes Redis straight through store.defs
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
ADMIN_KEY_ID = "lt_admin"  # the bootstrap admin key the seed stores (deleted with the prefix)
UNIQUE_CONFIG = {"prefix": "LTU-", "length": 8, "charset": "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"}


@dataclass
class Manifest:
    prefix: str
    redis_url: str
    app_id: str
    app_token: str
    path: str  # "admin" or "direct": how the data got in
    n_promotions: int
    n_skus: int
    unique_codes: int  # how many; the codes themselves are in ``unique_codes_file``
    generic_codes: list[str] = field(default_factory=lambda: list(GENERIC_CODES))
    pos_code: str = POS_CODE
    bench_code: str = BENCH_CODE
    flash_code: str = FLASH_CODE
    flash_campaign: str = FLASH_CAMPAIGN  # the campaign id (admin assigns it on the admin path)
    flash_limit: int = 10_000
    unique_campaign: str = UNIQUE_CAMPAIGN
    unique_codes_file: str = ""  # one code a line
    admin_url: str = ""  # admin that holds the data; the report key reads its figures
    report_key_id: str = ""  # a read-only (``analyst``) admin key
    report_key_token: str = ""
    seed_seconds: float = 0.0
    seed_calls: int = 0  # admin API calls made by the seed

    @property
    def flash_counter_key(self) -> str:
        """The Redis counter of the flash code's uses (store.keys)."""
        from store.keys import Keys, campaign_tag

        return Keys(self.prefix).counter(f"{campaign_tag(self.flash_campaign)}:v:{self.flash_code}:uses")

    @staticmethod
    def default_path() -> Path:
        return Path(os.environ.get("LOADTEST_MANIFEST") or OUT_DIR / "manifest.json")

    def save(self, path: Path | None = None) -> Path:
        path = Path(path or self.default_path())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2))
        return path

    @classmethod
    def load(cls, path: Path | None = None) -> Manifest:
        path = Path(os.environ.get("LOADTEST_MANIFEST") or path or OUT_DIR / "manifest.json")
        return cls(**json.loads(path.read_text()))

    def load_unique_codes(self) -> list[str]:
        if not self.unique_codes or not self.unique_codes_file:
            return []
        return Path(self.unique_codes_file).read_text().split()


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


#: the loyalty data set of ``make bench-gateway``'s order and event endpoints (issue 10)
N_PROGRAMMES = 10
LOYALTY_EVENT = "bench.visit"


def loyalty_doc(n_programmes: int = N_PROGRAMMES) -> dict[str, Any]:
    """``n_programmes`` LOYALTY_PROGRAM campaigns (``auto_join``, join once), each with 10
    ``order.paid`` earning rules and one custom-event rule (Voucherify vocabulary, plain dicts;
    merged into :func:`definitions_doc` by :func:`publish_loyalty`).

    Per programme ``p``: rules 0-3 PROPORTIONAL ORDER_AMOUNT (1 point per 1.00 .. per 10.00),
    rules 4-6 PROPORTIONAL ORDER_ITEMS_QUANTITY on product ``lt_prod_<k>`` (one of the bench
    order's products), rules 7-9 FIXED behind a validation rule (order amount at least 10.00 +
    p); rule ``ern_lt_<p>_event``: FIXED 5 points on the custom event ``bench.visit``. The bench
    order (:func:`loyalty_order`) matches all 100 order rules: 100 accruals on 10 cards."""
    campaigns: list[dict[str, Any]] = []
    rules: list[dict[str, Any]] = []
    vrules: list[dict[str, Any]] = []
    for p in range(n_programmes):
        cid = f"camp_lt_loyalty_{p}"
        campaigns.append({
            "id": cid, "name": f"LT loyalty {p}", "campaign_type": "LOYALTY_PROGRAM", "category": "loyalty",
            "auto_join": True, "join_once": True,
            "voucher": {"type": "LOYALTY_CARD", "loyalty_card": {"points": 0},
                        "code_config": {"pattern": f"LTL{p}-########",
                                        "charset": "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"}},
        })  # fmt: skip
        vrules.append({"id": f"val_lt_loyalty_{p}", "rules": {
            "1": {"name": "order.amount", "conditions": {"$more_than_or_equal": [1000 + 100 * p]}},
            "logic": "1"}})  # fmt: skip
        for r in range(10):
            if r < 4:
                lo: dict[str, Any] = {"type": "PROPORTIONAL", "calculation_type": "ORDER_AMOUNT",
                                      "order": {"amount": {"every": 100 * (1 + 3 * r), "points": 1 + r}}}  # fmt: skip
            elif r < 7:
                lo = {"type": "PROPORTIONAL", "calculation_type": "ORDER_ITEMS_QUANTITY",
                      "order_items": {"quantity": {"every": 1, "points": r - 3, "object": "product",
                                                   "id": loyalty_product((p + r) % 5)}}}  # fmt: skip
            else:
                lo = {"type": "FIXED", "points": 10 * (r - 6)}
            er: dict[str, Any] = {"id": f"ern_lt_{p}_{r}", "campaign_id": cid, "event": "order.paid", "loyalty": lo,
                                  "source": {"banner": f"rule {r} of programme {p}"}}  # fmt: skip
            if r >= 7:
                er["validation_rule_id"] = f"val_lt_loyalty_{p}"
            rules.append(er)
        rules.append({"id": f"ern_lt_{p}_event", "campaign_id": cid, "event": LOYALTY_EVENT,
                      "loyalty": {"type": "FIXED", "points": 5}, "source": {"banner": "a visit"}})  # fmt: skip
    return {"campaigns": campaigns, "earning_rules": rules, "validation_rules": vrules}


def loyalty_product(k: int) -> str:
    return f"lt_prod_{k}"


#: the items of the bench order: five SKUs of the load-test catalogue, each of its own product
LOYALTY_ITEMS = (11, 57, 123, 204, 333)


def loyalty_order(source_id: str, customer_source_id: str) -> dict[str, Any]:
    """A new PAID order of 5 items (``POST /v1/orders``) that every order rule of
    :func:`loyalty_doc` matches."""
    items = [{"sku_id": sku(i), "product_id": loyalty_product(k), "quantity": 1 + k % 3, "price": price_of(i),
              "amount": price_of(i) * (1 + k % 3)} for k, i in enumerate(LOYALTY_ITEMS)]  # fmt: skip
    return {"source_id": source_id, "status": "PAID", "amount": sum(it["amount"] for it in items),
            "items": items, "customer": {"source_id": customer_source_id}}  # fmt: skip


def loyalty_event(customer_source_id: str) -> dict[str, Any]:
    """A custom event (``POST /v1/events``) that earns on every programme's event rule."""
    return {"event": LOYALTY_EVENT, "customer": {"source_id": customer_source_id}}


def publish_loyalty(m: Manifest, n_programmes: int = N_PROGRAMMES) -> None:
    """Publish the load-test definitions plus :func:`loyalty_doc` (straight through
    :mod:`store.defs`, as the direct seed does): a running gateway picks them up at its next
    request (loyalty calls read the definitions' version first)."""
    import redis

    from core import model as cm
    from store import defs as defstore

    doc = definitions_doc(m.n_promotions, m.flash_limit)
    for k, items in loyalty_doc(n_programmes).items():
        doc.setdefault(k, []).extend(items)
    client = redis.Redis.from_url(m.redis_url)
    try:
        defstore.publish_definitions_sync(client, m.prefix, cm.load_definitions(doc))
    finally:
        client.close()


# ----------------------------------------------------------------------------------- paths


def _delete_prefix(client: Any, prefix: str, keep_version: bool = False) -> int:
    """Delete every key under ``prefix`` (never FLUSHALL: the Redis may be shared).

    ``keep_version``: put the definitions version counter back afterwards, so the next publish
    gets a version no running admin or gateway has cached already (both cache by version)."""
    if not prefix or prefix in ("pg:",) and os.environ.get("LOADTEST_ALLOW_DEFAULT_PREFIX") != "1":
        raise SystemExit(f"refusing to wipe key prefix {prefix!r}; set PROMOGATE_KEY_PREFIX")
    from store.keys import Keys

    version_key = Keys(prefix).version
    version = client.get(version_key) if keep_version else None
    n = 0
    batch: list[bytes] = []
    for k in client.scan_iter(match=prefix.replace("[", "\\[").replace("*", "\\*") + "*", count=5000):
        batch.append(k)
        if len(batch) >= 5000:
            n += client.unlink(*batch)
            batch.clear()
    if batch:
        n += client.unlink(*batch)
    if version is not None:
        client.set(version_key, version)
    return n


def cleanup(redis_url: str, prefix: str) -> int:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        return _delete_prefix(client, prefix)
    finally:
        client.close()


def _write_codes(m: Manifest, codes: list[str]) -> None:
    path = Manifest.default_path()
    path = path.with_name(path.stem + "-unique-codes.txt")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(c + "\n" for c in codes))
    m.unique_codes_file = str(path.resolve())
    m.unique_codes = len(codes)


def _seed_direct(m: Manifest) -> None:
    import redis

    from core import model as cm
    from store import defs as defstore

    client = redis.Redis.from_url(m.redis_url)
    try:
        _delete_prefix(client, m.prefix, keep_version=True)
        defs = cm.load_definitions(definitions_doc(m.n_promotions, m.flash_limit))
        defstore.publish_definitions_sync(client, m.prefix, defs)
        codes = [unique_code(i) for i in range(m.unique_codes)]
        step = 5000
        for start in range(0, len(codes), step):
            vs = [cm.Voucher(code=c, campaign_id=UNIQUE_CAMPAIGN) for c in codes[start : start + step]]
            defstore.put_codes_sync(client, m.prefix, vs)
        defstore.put_app_key_sync(client, m.prefix, m.app_id, m.app_token, "application", "load test key")
        if m.admin_url:  # for loadtests.run's read-back of admin's figures
            m.report_key_id, m.report_key_token = "lt_report", secrets.token_urlsafe(18)
            defstore.put_app_key_sync(client, m.prefix, m.report_key_id, m.report_key_token, "analyst", "lt report")
    finally:
        client.close()
    _write_codes(m, codes)


class AdminClient:
    """The few admin calls the seed and the runner make; any non-2xx raises."""

    def __init__(self, base_url: str, key_id: str, token: str) -> None:
        import httpx

        self.calls = 0
        self.c = httpx.Client(base_url=base_url, timeout=120,
                              headers={"X-App-Id": key_id, "X-App-Token": token})  # fmt: skip

    def close(self) -> None:
        self.c.close()

    def call(self, method: str, path: str, **kw: Any) -> Any:
        self.calls += 1
        r = self.c.request(method, path, **kw)
        if r.status_code >= 300:
            raise RuntimeError(f"admin {method} {path}: {r.status_code} {r.text[:500]}")
        ctype = r.headers.get("content-type", "")
        return r.json() if r.content and "json" in ctype else r.text

    def wait_action(self, action_id: str, timeout: float = 600.0) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while True:
            a = self.call("GET", f"/v1/async-actions/{action_id}")
            if a["status"] == "DONE":
                return a
            if a["status"] == "FAILED" or time.monotonic() > end:
                raise RuntimeError(f"admin async action {action_id}: {a}")
            time.sleep(0.2)


def _admin_up(admin_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(admin_url + "/ready", timeout=timeout) as r:
            return r.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _bootstrap_admin_key(m: Manifest) -> str:
    """Wipe the prefix and store a bootstrap admin key (as ``make run`` does); its token."""
    import redis

    from store import defs as defstore

    token = secrets.token_urlsafe(24)
    client = redis.Redis.from_url(m.redis_url)
    try:
        _delete_prefix(client, m.prefix, keep_version=True)
        defstore.put_app_key_sync(client, m.prefix, ADMIN_KEY_ID, token, "admin", "load test bootstrap admin key")
    finally:
        client.close()
    return token


def _seed_admin(m: Manifest, admin_url: str) -> None:
    """Seed through admin's API (see the module docstring)."""
    doc = definitions_doc(m.n_promotions, m.flash_limit)
    promos = [c for c in doc["campaigns"] if c.get("campaign_type") == "PROMOTION"]
    coupons = [c for c in doc["campaigns"] if c.get("campaign_type") != "PROMOTION"]
    a = AdminClient(admin_url, ADMIN_KEY_ID, _bootstrap_admin_key(m))
    try:
        # 1. the promotion ruleset
        if os.environ.get("LOADTEST_ADMIN_RULESET", "import") == "calls":
            rule_ids = {}
            for vr in doc["validation_rules"]:
                rule_ids[vr["id"]] = a.call("POST", "/v1/validation-rules", json={"name": vr["id"], **_no_id(vr)})["id"]
            for camp in promos:
                body = _no_id(camp)
                for tier in body["promotion"]["tiers"]:
                    tier.pop("id")
                    tier["validation_rules"] = [rule_ids[r] for r in tier["validation_rules"]]
                a.call("POST", "/v1/campaigns", json=body)
        else:
            head = {"format": "promogate-definitions", "format_version": 1,
                    "definitions": {"campaigns": promos, "validation_rules": doc["validation_rules"]}, "meta": {}}
            a.call("POST", "/v1/definitions/import", content=json.dumps(head).encode() + b"\n",
                   headers={"Content-Type": "application/x-ndjson"})  # fmt: skip
        a.call("PUT", "/v1/stacking-rules", json=doc["stacking_rules"])

        # 2. coupon campaigns (ids assigned by admin) and their own codes
        camp_ids: dict[str, str] = {}
        for camp in coupons:
            if camp["id"] == UNIQUE_CAMPAIGN:
                continue
            camp_ids[camp["id"]] = a.call("POST", "/v1/campaigns", json={"campaign_type": "DISCOUNT_COUPONS",
                                                                         **_no_id(camp)})["id"]  # fmt: skip
        for v in doc["vouchers"]:
            body = {k: val for k, val in v.items() if k not in ("code", "campaign_id")}
            a.call("POST", f"/v1/vouchers/{v['code']}", json={"campaign_id": camp_ids[v["campaign_id"]], **body})
        m.flash_campaign = camp_ids[FLASH_CAMPAIGN]

        # 3. the unique-code pool: bulk generation, then the codes read back
        (unique,) = [c for c in coupons if c["id"] == UNIQUE_CAMPAIGN]
        body = {"campaign_type": "DISCOUNT_COUPONS", **_no_id(unique)}
        codes: list[str] = []
        if m.unique_codes:
            body["vouchers_count"] = m.unique_codes
            body["voucher"] = {**body["voucher"], "code_config": UNIQUE_CONFIG}
        created = a.call("POST", "/v1/campaigns", json=body)
        m.unique_campaign = created["id"]
        if m.unique_codes:
            action = a.wait_action(created["async_action_id"])
            text = a.call("GET", "/v1/exports/vouchers.csv", params={"campaign_id": m.unique_campaign})
            codes = [row["code"] for row in csv.DictReader(io.StringIO(text))]
            got = action.get("result", {}).get("count")
            if len(codes) != m.unique_codes or got != m.unique_codes:
                raise RuntimeError(f"asked admin for {m.unique_codes} codes: action says {got}, export has {len(codes)}")
        _write_codes(m, codes)

        # 4. keys: checkout (application) and a read-only one for the figures afterwards
        key = a.call("POST", "/v1/keys", json={"name": "load test checkout key", "role": "application"})
        m.app_id, m.app_token = key["id"], key["token"]
        key = a.call("POST", "/v1/keys", json={"name": "load test report reader", "role": "analyst"})
        m.report_key_id, m.report_key_token = key["id"], key["token"]
    finally:
        m.seed_calls = a.calls
        a.close()


def _no_id(obj: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps({k: v for k, v in obj.items() if k != "id"}))


def admin_url_from_env() -> str:
    return os.environ.get("ADMIN_URL") or "http://{}:{}".format(
        os.environ.get("ADMIN_HOST", "127.0.0.1"), os.environ.get("ADMIN_PORT", "8001")
    )


def seed(path: str | None = None) -> Manifest:
    """Write the data set; return (and save) its manifest."""
    path = path or os.environ.get("LOADTEST_SEED") or DEFAULT_PATH
    if path not in ("admin", "direct"):
        raise SystemExit(f"LOADTEST_SEED must be admin or direct, got {path!r}")
    admin_url = admin_url_from_env()
    m = Manifest(
        prefix=os.environ.get("PROMOGATE_KEY_PREFIX") or DEFAULT_PREFIX,
        redis_url=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
        app_id=os.environ.get("PROMOGATE_APP_ID") or "lt_app",
        app_token=os.environ.get("PROMOGATE_APP_TOKEN") or secrets.token_urlsafe(18),
        path=path,
        n_promotions=int(os.environ.get("LOADTEST_PROMOTIONS", "1000")),
        n_skus=N_SKUS,
        unique_codes=int(os.environ.get("LOADTEST_UNIQUE_CODES", "30000")),
        flash_limit=int(os.environ.get("LOADTEST_FLASH_LIMIT", "10000")),
    )
    t0 = time.monotonic()
    if path == "admin":
        if not _admin_up(admin_url, timeout=5):
            raise SystemExit(f"seed: admin at {admin_url} is not up (start it, set ADMIN_URL, or LOADTEST_SEED=direct)")
        m.admin_url = admin_url
        _seed_admin(m, admin_url)
    else:
        m.admin_url = admin_url if _admin_up(admin_url) else ""
        _seed_direct(m)
    m.seed_seconds = round(time.monotonic() - t0, 1)
    m.save()
    return m


if __name__ == "__main__":
    if sys.argv[1:2] == ["--cleanup"]:
        mf = Manifest.load()
        print(f"deleted {cleanup(mf.redis_url, mf.prefix)} keys under {mf.prefix!r}")
    else:
        mf = seed()
        print(f"seeded via {mf.path} in {mf.seed_seconds} s: prefix {mf.prefix!r}, {mf.n_promotions} promotions, "
              f"{mf.unique_codes} unique codes, flash limit {mf.flash_limit}")  # fmt: skip
