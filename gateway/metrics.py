"""Prometheus metrics of the gateway.

With several worker processes, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory before
start (``python -m gateway`` does): every worker writes there and ``/metrics`` on any worker
reports the sum.

Requests count into plain per-worker tallies (:func:`observe`, :func:`inc`) that :func:`flush`
adds to the Prometheus objects once a second (the gateway runs it) and before every scrape that
the worker answers itself. prometheus-client takes a lock per increment, and in multiprocess
mode writes an mmap per increment: at saturation that was 4-10 µs of every request. So another
worker's figures in a multiprocess scrape may be up to FLUSH_SECONDS old.

Garbage collection: :func:`watch_gc` times every collection of this process (``gc.callbacks``)
into ``promogate_gc_pause_seconds`` by generation, tallied and flushed the same way, and logs a
warning for a pause of ``PROMOGATE_GC_WARN_MS`` (20) ms or more: a pause stops every request
of the worker, so it shows in the tail latency before anything else does.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from bisect import bisect_left
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
BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
LATENCY = Histogram("promogate_request_seconds", "Checkout API latency", ["endpoint"], buckets=BUCKETS)
REDEMPTIONS = Counter("promogate_redemptions_total", "Redeem calls by result", ["result"])
ROLLBACKS = Counter("promogate_rollbacks_total", "Rollback calls by result", ["result"])
FAILURES = Counter("promogate_failures_total", "Refused redemptions by Voucherify error key", ["key"])
STORE_UNAVAILABLE = Counter("promogate_store_unavailable_total", "Calls answered 503: Redis unreachable")
SCRIPT_ERRORS = Counter("promogate_script_errors_total", "Lua script errors")
_gauge_mode = {"multiprocess_mode": "max"} if MULTIPROC else {}
RULESET_VERSION = Gauge("promogate_ruleset_version", "Definitions version in use", **_gauge_mode)
RULESET_AGE = Gauge("promogate_ruleset_age_seconds", "Seconds since the ruleset was loaded", **_gauge_mode)
COMPILE_ERRORS = Gauge("promogate_ruleset_compile_errors", "Definitions versions refused", **_gauge_mode)
GC_BUCKETS = (0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)
GC_PAUSE = Histogram("promogate_gc_pause_seconds", "Garbage collection pauses of a worker", ["generation"],
                     buckets=GC_BUCKETS)  # fmt: skip


FLUSH_SECONDS = 1.0

_counts: dict[tuple[Any, tuple[str, ...]], int] = {}  # (metric, labels) -> increments not flushed
#: (histogram, label) -> per-bucket observations not flushed, +Inf, then their sum; a collection's
#: callback may add to it at any allocation, so flush takes the whole dict and leaves a new one
_hist: dict[tuple[Any, str], list[float]] = {}


def observe(endpoint: str, status: int, seconds: float) -> None:
    """Count one answered request and its latency (flushed later)."""
    key = (REQUESTS, (endpoint, str(status)))
    _counts[key] = _counts.get(key, 0) + 1
    _tally(LATENCY, endpoint, BUCKETS, seconds)


def _tally(hist: Any, label: str, buckets: tuple[float, ...], seconds: float) -> None:
    tally = _hist.get((hist, label))
    if tally is None:
        tally = _hist[(hist, label)] = [0.0] * (len(buckets) + 2)  # buckets, +Inf, sum
    tally[bisect_left(buckets, seconds)] += 1
    tally[-1] += seconds


_gc_start = 0.0
_gc_warn_s = 0.02
log = logging.getLogger("promogate.gateway")


def _on_gc(phase: str, info: dict[str, int]) -> None:
    global _gc_start
    if phase == "start":
        _gc_start = time.perf_counter()
        return
    took = time.perf_counter() - _gc_start
    gen = info.get("generation", 0)
    _tally(GC_PAUSE, str(gen), GC_BUCKETS, took)
    if took >= _gc_warn_s:
        log.warning("garbage collection of generation %d took %.1f ms (%d objects collected)", gen, took * 1000,
                    info.get("collected", 0))  # fmt: skip


def watch_gc(warn_ms: float = 20.0) -> None:
    """Time every garbage collection of this process (once per process; see the module doc);
    log a warning for a pause of ``warn_ms`` or more."""
    global _gc_warn_s
    _gc_warn_s = warn_ms / 1000
    if _on_gc not in gc.callbacks:
        gc.callbacks.append(_on_gc)


def unwatch_gc() -> None:
    """Stop timing collections (the gateway stops; a test process goes on without it)."""
    while _on_gc in gc.callbacks:
        gc.callbacks.remove(_on_gc)


def inc(metric: Any, *labels: str) -> None:
    """``metric.labels(*labels).inc()``, counted now and flushed later."""
    key = (metric, labels)
    _counts[key] = _counts.get(key, 0) + 1


def flush() -> None:
    """Add every tally to the Prometheus objects (where scrapes and other workers see them)."""
    global _hist
    if _counts:
        pending = list(_counts.items())
        _counts.clear()
        for (metric, labels), n in pending:
            (metric.labels(*labels) if labels else metric).inc(n)
    if _hist:
        pending_hist, _hist = _hist, {}
        for (hist, label), tally in pending_hist.items():
            child = hist.labels(label)
            # what Histogram.observe does per observation (its buckets are per-bound counts, made
            # cumulative when collected), once per bucket
            for i, n in enumerate(tally[:-1]):
                if n:
                    child._buckets[i].inc(n)
            child._sum.inc(tally[-1])


def set_ruleset(live: Any) -> None:
    RULESET_VERSION.set(live.version)
    RULESET_AGE.set(time.time() - live.loaded_at if live.loaded_at else 0)
    COMPILE_ERRORS.set(live.compile_errors)


def render() -> tuple[bytes, str]:
    flush()
    if MULTIPROC:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
