"""gateway.metrics: tallies handed to Prometheus at flush give exactly what per-request
``inc`` / ``Histogram.observe`` would have given."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram

from gateway import metrics as mx


def _samples(metric, **labels) -> dict[tuple[str, str], float]:
    out = {}
    for fam in metric.collect():
        for s in fam.samples:
            if all(s.labels.get(k) == v for k, v in labels.items()) and not s.name.endswith("_created"):
                out[(s.name, s.labels.get("le", ""))] = s.value
    return out


def test_latency_tally_matches_histogram_observe_bucket_for_bucket():
    # bounds themselves, between them, below the first and past the last (+Inf)
    values = [0.0, 0.0001, 0.0005, 0.0007, 0.001, 0.0049, 0.005, 0.3, 1.0, 2.5, 2.6, 30.0] * 3
    reference = Histogram("ref_seconds", "ref", ["endpoint"], buckets=mx.BUCKETS, registry=CollectorRegistry())
    for v in values:
        mx.observe("t_tally", 200, v)
        reference.labels("t_tally").observe(v)
    before = _samples(mx.LATENCY, endpoint="t_tally")
    assert not before or before[("promogate_request_seconds_count", "")] == 0  # nothing before flush
    mx.flush()
    got = {(n.replace("promogate_request_seconds", "ref_seconds"), le): v
           for (n, le), v in _samples(mx.LATENCY, endpoint="t_tally").items()}  # fmt: skip
    want = _samples(reference, endpoint="t_tally")
    assert got.keys() == want.keys()
    for k in want:
        if k[0].endswith("_sum"):
            assert abs(got[k] - want[k]) < 1e-9, k  # summed in another order
        else:
            assert got[k] == want[k], k
    assert _samples(mx.REQUESTS, endpoint="t_tally", status="200")[("promogate_requests_total", "")] == len(values)


def test_counters_count_every_increment_once():
    key = "t_tally_key"
    for _ in range(5):
        mx.inc(mx.FAILURES, key)
    mx.inc(mx.STORE_UNAVAILABLE)
    before_unavailable = _samples(mx.STORE_UNAVAILABLE).get(("promogate_store_unavailable_total", ""), 0)
    mx.flush()
    mx.flush()  # a second flush adds nothing
    assert _samples(mx.FAILURES, key=key)[("promogate_failures_total", "")] == 5
    assert _samples(mx.STORE_UNAVAILABLE)[("promogate_store_unavailable_total", "")] == before_unavailable + 1


def test_garbage_collections_are_timed_by_generation_and_long_ones_logged(caplog):
    import gc
    import logging

    mx.watch_gc(0.0)  # every pause is "long": the warning is seen
    mx.watch_gc(0.0)  # once per process, however often the gateway starts
    try:
        assert gc.callbacks.count(mx._on_gc) == 1
        mx.flush()
        before = _samples(mx.GC_PAUSE, generation="2").get(("promogate_gc_pause_seconds_count", ""), 0)
        with caplog.at_level(logging.WARNING, logger="promogate.gateway"):
            gc.collect(2)
            gc.collect(2)
        assert _samples(mx.GC_PAUSE, generation="2").get(("promogate_gc_pause_seconds_count", ""), 0) == before
        mx.flush()  # tallied, then handed to Prometheus at flush
        after = _samples(mx.GC_PAUSE, generation="2")
        assert after[("promogate_gc_pause_seconds_count", "")] == before + 2
        assert after[("promogate_gc_pause_seconds_sum", "")] > 0
        assert any("garbage collection of generation 2 took" in r.getMessage() for r in caplog.records)
    finally:
        mx.unwatch_gc()
    assert mx._on_gc not in gc.callbacks
