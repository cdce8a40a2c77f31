"""Shared helpers and fixtures of the gateway end-to-end tests (``test_gateway_*.py``).

Two ways to run the REAL gateway against a REAL Redis:

* in process: ``create_app(settings, clock=...)`` behind Litestar's ``TestClient`` (fixture
  ``gw``), with an injected clock the test can move;
* as a server: ``python -m gateway`` with ``GATEWAY_WORKERS=2`` in a subprocess
  (:func:`start_server`), for real concurrent HTTP and for the official SDK.

Every test writes only under its own key prefix, deleted at teardown. Nothing flushes a
database. The fixtures are re-exported by ``conftest.py`` beside this file.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import redis
from litestar.testing import TestClient

from core import model as m
from gateway.app import create_app
from store.defs import publish_definitions_sync, put_app_key_sync
from store.keys import Keys
from store.process import free_port
from store.redis_server import delete_prefixed
from store.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
APP_ID = "app_checkout"
APP_TOKEN = "tok_checkout_secret"
HEADERS = {"X-App-Id": APP_ID, "X-App-Token": APP_TOKEN}

#: the data set of these tests (the demo data set has its own test)
DEFS: dict[str, Any] = {
    "products": [
        {"id": "prod_a", "name": "A", "price": 1000},
        {"id": "prod_5h1pp1ng", "name": "Shipping", "price": 499},
    ],
    "validation_rules": [
        {"id": "val_min_50", "name": "from 50.00",
         "rules": {"1": {"name": "order.amount", "conditions": {"$more_than_or_equal": [5000]}},
                   "logic": "1"}},
    ],
    "campaigns": [
        {"id": "camp_gen", "name": "Generic 5.00 off",
         "voucher": {"discount": {"type": "AMOUNT", "amount_off": 500}}},
        {"id": "camp_lim", "name": "Limited to 100",
         "voucher": {"discount": {"type": "AMOUNT", "amount_off": 100}, "redemption": {"quantity": 100}}},
        {"id": "camp_budget", "name": "10% with a 100.00 budget",
         "voucher": {"discount": {"type": "PERCENT", "percent_off": 10}},
         "limits": {"discounted_amount": 10000}},
        {"id": "camp_gift", "name": "Gift cards", "campaign_type": "GIFT_VOUCHERS",
         "voucher": {"type": "GIFT_VOUCHER", "gift": {"amount": 10000}}},
        {"id": "camp_unique", "name": "Unique 10.00 off",
         "voucher": {"discount": {"type": "AMOUNT", "amount_off": 1000}, "redemption": {"quantity": 1}}},
        {"id": "camp_lock", "name": "One use",
         "voucher": {"discount": {"type": "AMOUNT", "amount_off": 200}, "redemption": {"quantity": 1}}},
        {"id": "camp_promo", "name": "Cart promotions", "campaign_type": "PROMOTION",
         "promotion": {"tiers": [
             {"id": "promo_10off", "name": "10.00 off from 50.00", "hierarchy": 1,
              "action": {"discount": {"type": "AMOUNT", "amount_off": 1000}},
              "validation_rules": ["val_min_50"]},
             {"id": "promo_5pct", "name": "5% off", "hierarchy": 2,
              "action": {"discount": {"type": "PERCENT", "percent_off": 5}}},
         ]}},
    ],
    "vouchers": [
        {"code": "GEN5", "campaign_id": "camp_gen"},
        {"code": "GEN5B", "campaign_id": "camp_gen"},
        {"code": "LIMITED100", "campaign_id": "camp_lim"},
        {"code": "BUDGET10", "campaign_id": "camp_budget"},
        {"code": "GIFT100", "campaign_id": "camp_gift"},
        {"code": "GIFTRACE", "campaign_id": "camp_gift"},
        {"code": "GIFT25", "campaign_id": "camp_gift", "gift": {"amount": 2500}},
        {"code": "LOCK1", "campaign_id": "camp_lock"},
        {"code": "LOCK2", "campaign_id": "camp_lock"},
    ],
    "stacking_rules": {"applicable_redeemables_limit": 5},
}  # fmt: skip


def definitions(extra_vouchers: list[dict[str, Any]] | None = None) -> m.Definitions:
    data = json.loads(json.dumps(DEFS))
    data["vouchers"].extend(extra_vouchers or [])
    return m.load_definitions(data)


def seed(client: redis.Redis, prefix: str, defs: m.Definitions | None = None) -> int:
    """Publish ``defs`` (default: :data:`DEFS`) and the checkout app key under ``prefix``."""
    version = publish_definitions_sync(client, prefix, defs if defs is not None else definitions())
    put_app_key_sync(client, prefix, APP_ID, APP_TOKEN, "application")
    return version


def publish_raw(client: redis.Redis, prefix: str, doc: bytes) -> int:
    """Store ``doc`` verbatim as the next definitions version and notify (what a buggy writer
    could do: :func:`publish_definitions_sync` only takes valid documents)."""
    k = Keys(prefix)
    pipe = client.pipeline(transaction=True)
    pipe.incr(k.version)
    pipe.set(k.defs, doc)
    pipe.execute()
    version = int(client.get(k.version) or 0)
    client.publish(k.channel, str(version))
    return version


# -- request bodies ------------------------------------------------------------------------


def voucher(code: str, **extra: Any) -> dict[str, Any]:
    return {"object": "voucher", "id": code, **extra}


def tier(tier_id: str) -> dict[str, Any]:
    return {"object": "promotion_tier", "id": tier_id}


def body(*redeemables: dict[str, Any], amount: int = 10000, customer: str | None = "cus_1",
         **extra: Any) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {"redeemables": list(redeemables), "order": {"amount": amount}}
    if customer is not None:
        out["customer"] = {"source_id": customer}
    out.update(extra)
    return out


# -- Redis inspection ----------------------------------------------------------------------


def keyspace(
    client: redis.Redis, prefix: str, *, entries: bool = False, ttl: bool = False
) -> dict[str, Any]:
    """Every key under ``prefix`` with its value (for "nothing was written" assertions): a
    stream as its entry ids (``entries``: the whole entries); with ``ttl``, each value is
    ``(value, whether the key has a TTL)``."""
    out: dict[str, Any] = {}
    for raw in client.scan_iter(match=prefix + "*", count=1000):
        k = raw.decode()
        t = client.type(raw).decode()
        if t == "string":
            v: Any = client.get(raw)
        elif t == "hash":
            v = client.hgetall(raw)
        elif t == "set":
            v = client.smembers(raw)
        elif t == "zset":
            v = client.zrange(raw, 0, -1, withscores=True)
        elif t == "stream":
            v = client.xrange(raw) if entries else [e[0] for e in client.xrange(raw)]
        else:
            v = t
        out[k] = (v, client.ttl(raw) > 0) if ttl else v
    return out


def counter(client: redis.Redis, prefix: str, logical: str) -> int:
    return int(client.get(prefix + logical) or 0)


def ledger(client: redis.Redis, prefix: str) -> list[dict[str, Any]]:
    """Ledger entries, decoded: ``type``, ``ops`` (list of [key, delta]) ..."""
    out = []
    for _id, fields in client.xrange(prefix + "ledger"):
        e = {k.decode(): v.decode() for k, v in fields.items()}
        ops = json.loads(e.get("ops") or "[]")
        e["ops"] = ops if isinstance(ops, list) else []  # cjson writes an empty table as {}
        out.append(e)
    return out


def ledger_touching(
    client: redis.Redis, prefix: str, logical_key: str, kind: str = "redeem"
) -> list[dict]:
    full = prefix + logical_key
    return [
        e
        for e in ledger(client, prefix)
        if e["type"] == kind and any(op[0] == full for op in e["ops"])
    ]


def assert_error_shape(resp: httpx.Response, status: int, key: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, (resp.status_code, resp.text[:500])
    assert resp.headers["content-type"].startswith("application/json"), resp.headers
    data = resp.json()
    for f in ("code", "key", "message", "details", "request_id"):
        assert f in data, (f, data)
    assert data["code"] == status
    assert isinstance(data["details"], str) and isinstance(data["message"], str)
    assert data["request_id"]
    if key is not None:
        assert data["key"] == key, data
    return data


# -- metrics -------------------------------------------------------------------------------


def metric_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Prometheus text -> {(sample name, sorted labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def sample(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


# -- in-process app ------------------------------------------------------------------------


@dataclass
class Clock:
    now: int = field(default_factory=lambda: int(time.time() * 1000))

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


@dataclass
class InProcess:
    client: TestClient
    redis: redis.Redis
    prefix: str
    clock: Clock

    def post(
        self, path: str, json_body: Any = None, headers: dict[str, str] | None = None, **kw: Any
    ) -> httpx.Response:
        h = dict(HEADERS)
        h.update(headers or {})
        return self.client.post(path, json=json_body, headers=h, **kw)

    def validate(self, b: dict[str, Any], **kw: Any) -> httpx.Response:
        return self.post("/v1/validations", b, **kw)

    def redeem(self, b: dict[str, Any], idem: str | None = None) -> httpx.Response:
        return self.post("/v1/redemptions", b, headers={"Idempotency-Key": idem} if idem else None)

    def rollback(self, rid: str, idem: str | None = None, **params: str) -> httpx.Response:
        return self.post(f"/v1/redemptions/{rid}/rollback", None,
                         headers={"Idempotency-Key": idem} if idem else None, params=params)  # fmt: skip

    def rollbacks(self, rid: str, idem: str | None = None, **params: str) -> httpx.Response:
        return self.post(f"/v1/redemptions/{rid}/rollbacks", None,
                         headers={"Idempotency-Key": idem} if idem else None, params=params)  # fmt: skip

    def counter(self, logical: str) -> int:
        return counter(self.redis, self.prefix, logical)

    def keyspace(self) -> dict[str, Any]:
        return keyspace(self.redis, self.prefix)

    def assert_refused_without_writes(self, before: dict[str, Any], key: str) -> None:
        """Since a refused redemption (a limit, an unknown code...) is logged in the ledger as a
        ``type=failure`` entry, compare everything else and check that the new ledger entries
        are exactly such failures, counting nothing."""
        after = self.keyspace()
        lk = self.prefix + "ledger"
        assert {k: v for k, v in after.items() if k != lk} == {
            k: v for k, v in before.items() if k != lk
        }
        old = set(before.get(lk, []))
        new = [e for e in self.redis.xrange(lk) if e[0] not in old]
        assert new, "a refused redemption is logged"
        for _id, fields in new:
            assert fields[b"type"] == b"failure", fields
            assert b"ops" not in fields or fields[b"ops"] in (b"[]", b"{}")
            assert json.loads(fields[b"data"])["key"] == key, fields


@contextlib.contextmanager
def in_process(redis_url: str, prefix: str, defs: m.Definitions | None = None,
               **settings: Any) -> Iterator[InProcess]:  # fmt: skip
    client = redis.Redis.from_url(redis_url)
    try:
        seed(client, prefix, defs)
        clock = Clock()
        app = create_app(Settings(redis_url=redis_url, key_prefix=prefix, **settings), clock=clock)
        with TestClient(app=app, raise_server_exceptions=False) as tc:
            yield InProcess(tc, client, prefix, clock)
    finally:
        client.close()


@pytest.fixture
def gw(redis_url: str, key_prefix: str) -> Iterator[InProcess]:
    """The real app in process on the shared Redis, seeded with :data:`DEFS`, clock injected."""
    with in_process(redis_url, key_prefix) as g:
        yield g


# -- subprocess server ---------------------------------------------------------------------


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    prefix: str
    redis_url: str
    metrics_dir: Path
    log: Path

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def requests_by_worker(self) -> dict[str, float]:
        """``promogate_requests_total`` summed per worker pid, from the multiprocess files."""
        from prometheus_client.mmap_dict import MmapedDict

        out: dict[str, float] = {}
        for f in self.metrics_dir.glob("counter_*.db"):
            pid = f.stem.split("_", 1)[1]
            total = 0.0
            for key, value, *_ in MmapedDict.read_all_values_from_file(str(f)):
                if json.loads(key)[0] == "promogate_requests":
                    total += value
            out[pid] = total
        return out


def start_server(redis_url: str, prefix: str, workdir: Path, workers: int = 2,
                 extra_env: dict[str, str] | None = None, ready_timeout: float = 40.0) -> Server:  # fmt: skip
    port = free_port()
    mdir = workdir / "metrics"
    mdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "gateway.log"
    env = dict(os.environ)
    env.update(
        REDIS_URL=redis_url,
        PROMOGATE_KEY_PREFIX=prefix,
        GATEWAY_HOST="127.0.0.1",
        GATEWAY_PORT=str(port),
        GATEWAY_WORKERS=str(workers),
        PROMETHEUS_MULTIPROC_DIR=str(mdir),
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        PROMOGATE_LOG_LEVEL="warning",
    )
    env.update(extra_env or {})
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "gateway"], cwd=ROOT, env=env,
                                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    srv = Server(proc, f"http://127.0.0.1:{port}", prefix, redis_url, mdir, log)
    deadline = time.monotonic() + ready_timeout
    ready_hits = 0
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited with {proc.returncode}:\n{srv.log_tail()}")
        try:
            r = httpx.get(srv.url + "/ready", timeout=1.0)
            # every worker must be up: ask a few times in a row
            ready_hits = ready_hits + 1 if r.status_code == 200 else 0
            if ready_hits >= 5:
                return srv
        except httpx.HTTPError:
            ready_hits = 0
        if time.monotonic() > deadline:
            stop_server(srv)
            raise RuntimeError(f"gateway not ready within {ready_timeout}s:\n{srv.log_tail()}")
        time.sleep(0.1)


def stop_server(srv: Server) -> None:
    proc = srv.proc
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextlib.contextmanager
def running_server(
    redis_url: str, workdir: Path, defs: m.Definitions | None = None, **extra_env: str
) -> Iterator[Server]:
    """A seeded ``python -m gateway`` (2 workers) under a fresh prefix; keys deleted after."""
    prefix = f"pgtest:{uuid.uuid4().hex[:8]}:"
    client = redis.Redis.from_url(redis_url)
    try:
        seed(client, prefix, defs)
        srv = start_server(redis_url, prefix, workdir, extra_env=extra_env)
        try:
            yield srv
        finally:
            stop_server(srv)
    finally:
        delete_prefixed(client, prefix)
        client.close()


@pytest.fixture(scope="module")
def server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One ``python -m gateway`` with 2 workers per test module, with its own prefix.

    Its Redis timeout is 10 s rather than the default 1 s: these tests count exact outcomes of
    bursts of hundreds of requests on a shared, often busy 2-core machine, where a CPU-starved
    worker can see a call take over a second; answering 503 then is the designed behaviour
    (test_gateway_outage.py covers it with a short timeout), not what these tests measure.
    """
    workdir = tmp_path_factory.mktemp("gateway")
    with running_server(redis_url, workdir, PROMOGATE_REDIS_TIMEOUT="10") as srv:
        yield srv


def decode_json(data: bytes) -> Any:
    return msgspec.json.decode(data)
