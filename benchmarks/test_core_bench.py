"""Core evaluator benchmarks: compiled against its pure-Python twin, in one run.

Run with ``make bench``; the ratio compiled/pure is what BENCHMARKS.md reports.
"""

from __future__ import annotations

import pytest

import core
from benchmarks import workload as w

ENGINES = core.engines()


@pytest.fixture(scope="module", params=sorted(ENGINES), ids=sorted(ENGINES))
def compiled_ruleset(request):
    eng = ENGINES[request.param]
    return eng, eng.compile_ruleset(w.definitions())


def test_validate_two_codes(benchmark, compiled_ruleset):
    eng, rs = compiled_ruleset
    order = w.cart()
    benchmark.group = "validate: 10-item cart, 2 codes, 10k promotions"
    ev = benchmark(eng.evaluate, rs, w.REDEEMABLES, w.CUSTOMER, order, w.NOW_MS)
    assert ev.valid
    assert [o.status for o in ev.outcomes] == ["APPLICABLE", "APPLICABLE"]
    assert ev.total_discount_amount > 0


def test_qualifications(benchmark, compiled_ruleset):
    eng, rs = compiled_ruleset
    order = w.cart()
    benchmark.group = "qualifications: 10-item cart, 10k promotions (~20 touch it)"
    found = benchmark(eng.qualify, rs, w.CUSTOMER, order, w.NOW_MS, None, None, "BEST_DEAL")
    tiers = [o for o in found if o.object == "promotion_tier"]
    assert 15 <= len(tiers) <= 25
    assert len(eng.candidates(rs, w.CUSTOMER, order)) < 40


def test_compile(benchmark, compiled_ruleset):
    eng, _ = compiled_ruleset
    defs = w.definitions()
    benchmark.group = "compile 10k promotions"
    rs = benchmark.pedantic(eng.compile_ruleset, args=(defs,), rounds=3, iterations=1)
    assert len(rs.tiers) == w.N_PROMOTIONS
