"""`make bench-stalls` (loadtests/stalls.py): how it cuts a run into stalls and names a cause,
and a tiny real run against the real gateway: every request answered, each run's figures and
the gateway's garbage collections read from its /metrics."""

from __future__ import annotations

import pytest

from loadtests import stalls


def test_slow_requests_close_in_time_are_one_stall():
    due = [0.0, 0.1, 0.2, 0.21, 0.22, 0.5, 2.0]
    lat = [0.001, 0.002, 0.030, 0.025, 0.012, 0.001, 0.040]
    got = stalls._stalls(due, lat, 0.010)
    assert len(got) == 2
    (a0, a1, n_a, worst_a), (b0, b1, n_b, worst_b) = got
    assert (a0, n_a, worst_a) == (0.2, 3, 0.030) and a1 == pytest.approx(0.235)  # the latest end: 0.21 + 0.025
    assert (b0, n_b, worst_b) == (2.0, 1, 0.040) and b1 == pytest.approx(2.04)
    assert stalls._stalls(due, lat, 1.0) == []


def _window(worker=(10.0, 0.0), client=(5.0, 0.0), redis=(1.0, 0.0), steal=0, vcpu=0.0, wall=40.0):
    def proc(x):
        return {"on_cpu_ms": x[0], "runnable_waiting_ms": x[1]}

    return {"wall_ms": wall, "worst_ms": wall, "worker": proc(worker), "client": proc(client),
            "redis": proc(redis), "cpus": [{"busy_ms": 40, "idle_ms": 0, "steal_ms": steal}],
            "vcpu_late_ms": {"cpu0": vcpu}}  # fmt: skip


@pytest.mark.parametrize(
    ("window", "client_lag_ms", "verdict"),
    [
        (_window(vcpu=30.0), 0.0, "vcpu"),
        (_window(), 25.0, "client"),
        (_window(client=(5.0, 30.0)), 0.0, "client"),
        (_window(worker=(20.0, 18.0)), 0.0, "worker preempted"),
        (_window(worker=(39.0, 0.0)), 0.0, "worker busy"),
        (_window(redis=(35.0, 0.0)), 0.0, "redis"),
        (_window(steal=20), 0.0, "steal"),
        (_window(), 0.0, "idle"),
    ],
)
def test_each_stall_gets_the_first_cause_that_explains_it(window, client_lag_ms, verdict):
    assert stalls._verdict(window, client_lag_ms) == verdict


@pytest.mark.slow
def test_a_tiny_run_measures_every_request_and_the_gateways_collections(monkeypatch, key_prefix, redis_url, tmp_path):
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("PROMOGATE_KEY_PREFIX", key_prefix + "stalls:")
    monkeypatch.setenv("LOADTEST_MANIFEST", str(tmp_path / "manifest.json"))
    monkeypatch.setenv("LOADTEST_SEED", "direct")
    monkeypatch.setenv("LOADTEST_UNIQUE_CODES", "0")
    monkeypatch.setenv("LOADTEST_PROMOTIONS", "50")
    doc = stalls.run(["validate"], runs=2, duration=1.5, rate=200.0, gateway_env={"PROMOGATE_GC_THRESHOLD": "500,5,5"})
    assert len(doc["runs"]) == 2
    for r in doc["runs"]:
        assert r["ok"] == 300 and r["non_2xx"] == 0 and r["errors"] == 0  # 200/s for 1.5 s, all answered
        assert 0 < r["p50_ms"] <= r["p99_ms"] <= r["max_ms"]
        # a threshold of 500 allocations: 300 validations collect the young generation often
        assert r["gc"]["gen0"]["collections"] > 0 and r["gc"]["gen0"]["ms"] > 0
        assert set(r["vcpu_late_over_10ms"]) <= {"cpu0", "cpu1"}
        assert 0 < r["cpu_share"]["worker"] < 1.5 and r["worker_us_per_request"] > 0
    assert doc["runs_p99_over_10ms"] == sum(1 for r in doc["runs"] if r["p99_ms"] > 10)
    assert sum(doc["verdicts"].values()) == len(doc["stalls"])
    for st in doc["stalls"]:
        assert st["window"]["wall_ms"] > 0 and st["verdict"] in {
            "vcpu", "client", "worker preempted", "worker busy", "redis", "steal", "idle"}
