"""Prometheus metrics of the gateway.

With several worker processes, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory before
start (``python -m gateway`` does): every worker writes there and ``/metrics`` on any worker
reports the sum.
"""

from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

MULTIPROC = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

REQUESTS = Counter("promogate_requests_total", "Checkout API requests", ["endpoint", "status"])
LATENCY = Histogram(
    "promogate_request_seconds",
    "Checkout API latency",
    ["endpoint"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
REDEMPTIONS = Counter("promogate_redemptions_total", "Redeem calls by result", ["result"])
ROLLBACKS = Counter("promogate_rollbacks_total", "Rollback calls by result", ["result"])
FAILURES = Counter("promogate_failures_total", "Refused redemptions by Voucherify error key", ["key"])
STORE_UNAVAILABLE = Counter("promogate_store_unavailable_total", "Calls answered 503: Redis unreachable")
SCRIPT_ERRORS = Counter("promogate_script_errors_total", "Lua script errors")
_gauge_mode = {"multiprocess_mode": "max"} if MULTIPROC else {}
RULESET_VERSION = Gauge("promogate_ruleset_version", "Definitions version in use", **_gauge_mode)
RULESET_AGE = Gauge("promogate_ruleset_age_seconds", "Seconds since the ruleset was loaded", **_gauge_mode)
COMPILE_ERRORS = Gauge("promogate_ruleset_compile_errors", "Definitions versions refused", **_gauge_mode)


_requests: dict[tuple[str, int], Any] = {}
_latency: dict[str, Any] = {}


def observe(endpoint: str, status: int, seconds: float) -> None:
    # labelled children are looked up once: labels() costs more than the increment itself
    c = _requests.get((endpoint, status))
    if c is None:
        c = _requests[(endpoint, status)] = REQUESTS.labels(endpoint, str(status))
    c.inc()
    h = _latency.get(endpoint)
    if h is None:
        h = _latency[endpoint] = LATENCY.labels(endpoint)
    h.observe(seconds)


def set_ruleset(live: Any) -> None:
    RULESET_VERSION.set(live.version)
    RULESET_AGE.set(time.time() - live.loaded_at if live.loaded_at else 0)
    COMPILE_ERRORS.set(live.compile_errors)


def render() -> tuple[bytes, str]:
    if MULTIPROC:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
