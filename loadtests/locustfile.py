"""Locust scenarios against the checkout gateway. Every answer is judged, not just counted.

Run one scenario by naming its user class (``loadtests.run`` does this for you)::

    locust -f loadtests/locustfile.py --headless -H http://127.0.0.1:8000 CheckoutUser

- :class:`CheckoutUser` (checkout mix): carts of 1-20 items; 70 % carry a code (90 % of those
  a unique code from the seeded pool, 10 % a generic code), the rest ask ``qualifications``
  and take the promotion tiers offered; validate, then redeem, then roll back 5 %.
- :class:`FlashSaleUser` (flash sale): thousands of customers race for one generic code
  limited to ``flash_limit`` uses. A redeem that wins is ``redeem [flash won]``; one refused
  with ``quantity_exceeded`` is the expected ``redeem [flash sold out]``. ``loadtests.run``
  checks afterwards that exactly ``flash_limit`` won. Customers stop buying
  ``LOADTEST_FLASH_DRAIN`` seconds [5] before the run time (``LOADTEST_FLASH_SECONDS``, set by
  ``loadtests.run``) ends, so no redeem is in flight when locust stops: with ``--processes``
  the master writes its statistics before the workers' last answers arrive, and a redeem the
  gateway served but locust never counted would make the clients' count disagree with admin's.
- :class:`PosUser` (POS): carts of 1-3 items at a high rate, validate + redeem a POS code.

Failures carry their reason (``<status> <error key>`` or what was wrong in a 200), so the
failures report groups them. The data come from ``loadtests.seed`` (its manifest file).
"""

from __future__ import annotations

import itertools
import os
import random
import time

from locust import FastHttpUser, between, events, task
from locust.exception import StopUser

from loadtests.seed import Manifest, price_of, sku

MANIFEST: Manifest | None = None
JSON_HEADERS: dict[str, str] = {}
_unique_iter = None  # this process's slice of the unique code pool
_UNIQUE: list[str] = []  # the pool (the seed wrote it beside the manifest)


@events.init.add_listener
def _on_init(environment, **_kw):
    global MANIFEST
    MANIFEST = Manifest.load()
    _UNIQUE[:] = MANIFEST.load_unique_codes()
    JSON_HEADERS.update(
        {"X-App-Id": MANIFEST.app_id, "X-App-Token": MANIFEST.app_token, "Content-Type": "application/json"}
    )
    _ENV.append(environment)


_ENV: list = []


def _next_unique() -> str | None:
    global _unique_iter
    if _unique_iter is None:
        # disjoint slices of the unique codes, one per locust worker process (the worker index
        # is known once the master has acknowledged the worker, i.e. by the first task)
        procs = max(1, int(os.environ.get("LOADTEST_PROCS", "1")))
        index = getattr(_ENV[0].runner, "worker_index", 0) or 0
        _unique_iter = iter(_UNIQUE[index % procs :: procs])
    try:
        return next(_unique_iter)
    except (StopIteration, TypeError):
        return None


FLASH_VALIDATE = float(os.environ.get("LOADTEST_FLASH_VALIDATE", "0.25"))
FLASH_SECONDS = float(os.environ.get("LOADTEST_FLASH_SECONDS", "0"))  # 0: no deadline
FLASH_DRAIN = float(os.environ.get("LOADTEST_FLASH_DRAIN", "5"))
_flash_deadline: list[float] = []  # monotonic time after which no customer starts a purchase
_customers = itertools.count(random.randrange(10**9))


def _customer() -> dict:
    return {"source_id": f"lt_cust_{random.randrange(100_000)}"}


def _cart(min_items: int, max_items: int) -> dict:
    n = random.randint(min_items, max_items)
    items = []
    for i in random.sample(range(MANIFEST.n_skus), n):
        items.append({"sku_id": sku(i), "quantity": random.randint(1, 3), "price": price_of(i)})
    return {"items": items}


def _why(resp) -> str:
    """A short failure reason: status and Voucherify error key."""
    try:
        body = resp.json()
        key = body.get("key") if isinstance(body, dict) else None
    except Exception:
        key = None
    if resp.status_code == 0:
        return f"connection error: {resp.error!r}"[:120]
    return f"{resp.status_code} {key or 'no error key'}"


def _inapplicable_reason(body: dict) -> str:
    for r in body.get("inapplicable_redeemables") or []:
        err = (r.get("result") or {}).get("error") or {}
        return f"200 valid=false {err.get('key', '?')}"
    return "200 valid=false"


class _Checkout(FastHttpUser):
    abstract = True

    def validate(self, body: dict, name: str = "validate", sold_out_ok: bool = False) -> bool:
        with self.client.post("/v1/validations", json=body, headers=JSON_HEADERS, name=name,
                              catch_response=True) as r:  # fmt: skip
            if r.status_code != 200:
                r.failure(_why(r))
                return False
            data = r.json()
            if data.get("valid") is True:
                r.success()
                return True
            reason = _inapplicable_reason(data)
            if sold_out_ok and reason.endswith("quantity_exceeded"):
                r.success()
            else:
                r.failure(reason)
            return False

    def redeem(self, body: dict, name: str = "redeem") -> dict | None:
        with self.client.post("/v1/redemptions", json=body, headers=JSON_HEADERS, name=name,
                              catch_response=True) as r:  # fmt: skip
            if r.status_code != 200:
                r.failure(_why(r))
                return None
            data = r.json()
            parent = data.get("parent_redemption") or {}
            if parent.get("result") != "SUCCESS" or not data.get("redemptions"):
                r.failure("200 without a successful parent_redemption")
                return None
            r.success()
            return data

    def rollback(self, redeemed: dict) -> None:
        children = redeemed["redemptions"]
        if len(children) == 1:
            path, name = f"/v1/redemptions/{children[0]['id']}/rollback", "rollback"
        else:
            path, name = f"/v1/redemptions/{redeemed['parent_redemption']['id']}/rollbacks", "rollbacks"
        with self.client.post(path + "?reason=lt", headers=JSON_HEADERS, name=name, catch_response=True) as r:
            if r.status_code != 200:
                r.failure(_why(r))
                return
            data = r.json()
            res = data.get("result") or (data.get("parent_rollback") or {}).get("result")
            if res != "SUCCESS":
                r.failure(f"200 rollback result {res!r}")
            else:
                r.success()


class CheckoutUser(_Checkout):
    """The checkout mix: validate, redeem, 5 % rolled back; 70 % of carts carry a code."""

    wait_time = between(0.0, 0.05)

    @task
    def checkout(self) -> None:
        customer = _customer()
        order = _cart(1, 20)
        if random.random() < 0.7:
            code = _next_unique() if random.random() < 0.9 else None
            redeemables = [{"object": "voucher", "id": code or random.choice(MANIFEST.generic_codes)}]
        else:
            redeemables = self.qualified(customer, order)
            if not redeemables:
                return
        body = {"customer": customer, "order": order, "redeemables": redeemables}
        if not self.validate(body):
            return
        redeemed = self.redeem(body)
        if redeemed is not None and random.random() < 0.05:
            self.rollback(redeemed)

    def qualified(self, customer: dict, order: dict) -> list[dict]:
        body = {"customer": customer, "order": order, "options": {"limit": 10, "sorting_rule": "BEST_DEAL"}}
        with self.client.post("/v1/qualifications", json=body, headers=JSON_HEADERS, name="qualifications",
                              catch_response=True) as r:  # fmt: skip
            if r.status_code != 200:
                r.failure(_why(r))
                return []
            data = (r.json().get("redeemables") or {}).get("data")
            if data is None:
                r.failure("200 without redeemables.data")
                return []
            r.success()
        tiers = [{"object": d["object"], "id": d["id"]} for d in data if d.get("object") == "promotion_tier"]
        if not tiers:  # no tier offered: a generic code (never the flash-sale code, which is offered too)
            tiers = [{"object": "voucher", "id": random.choice(MANIFEST.generic_codes)}]
        return tiers[:3]


class FlashSaleUser(_Checkout):
    """Thousands of customers race for one limited code."""

    wait_time = between(0.5, 2.0)

    @task
    def buy(self) -> None:
        if FLASH_SECONDS > 0:
            if not _flash_deadline:  # the first purchase of this process starts the clock
                _flash_deadline.append(time.monotonic() + max(1.0, FLASH_SECONDS - FLASH_DRAIN))
            if time.monotonic() > _flash_deadline[0]:
                raise StopUser()
        body = {
            "customer": {"source_id": f"lt_flash_{next(_customers)}"},
            "order": _cart(1, 3),
            "redeemables": [{"object": "voucher", "id": MANIFEST.flash_code}],
        }
        if random.random() < FLASH_VALIDATE:  # some apply the code first, most go straight to pay
            self.validate(body, name="validate [flash]", sold_out_ok=True)
        with self.client.post("/v1/redemptions", json=body, headers=JSON_HEADERS, name="redeem [flash won]",
                              catch_response=True) as r:  # fmt: skip
            if r.status_code == 200:
                if (r.json().get("parent_redemption") or {}).get("result") == "SUCCESS":
                    r.success()
                else:
                    r.failure("200 without a successful parent_redemption")
                return
            why = _why(r)
            if why == "400 quantity_exceeded":
                r.request_meta["name"] = "redeem [flash sold out]"
                r.success()
            else:
                r.failure(why)


class PosUser(_Checkout):
    """Point of sale: small carts, a code, at a high rate."""

    wait_time = between(0.0, 0.01)

    @task
    def sale(self) -> None:
        body = {"customer": _customer(), "order": _cart(1, 3),
                "redeemables": [{"object": "voucher", "id": MANIFEST.pos_code}]}  # fmt: skip
        if self.validate(body, name="validate [pos]"):
            self.redeem(body, name="redeem [pos]")
