"""The one rounding rule (``percent_of``) and the exact split (``split``)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st


@pytest.mark.parametrize(
    ("amount", "bp", "expected"),
    [
        (5, 1000, 1),  # 10 % of 5 = 0.5 -> 1 (half up)
        (4, 1000, 0),  # 0.4 -> 0
        (15, 5000, 8),  # 7.5 -> 8
        (25, 1000, 3),  # 2.5 -> 3
        (1999, 1250, 250),  # 249.875 -> 250
        (199900, 2000, 39980),
        (10000, 3333, 3333),
        (0, 5000, 0),
        (12345, 0, 0),
        (12345, 10000, 12345),
        (10**13, 10000, 10**13),  # the largest amount the model admits, 100 %
        (10**13 - 1, 1, 10**9),  # 999999999.9999 -> 10**9
    ],
)
def test_percent_of_rounds_half_up(engine, amount: int, bp: int, expected: int) -> None:
    assert engine.percent_of(amount, bp) == expected


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        (100, [1, 1, 1], [34, 33, 33]),  # tie: the earlier line gets the spare cent
        (2, [1, 1, 1], [1, 1, 0]),
        (1, [5, 5], [1, 0]),
        (700, [2000, 500, 900], [412, 103, 185]),
        (10, [0, 3, 0, 7], [0, 3, 0, 7]),
        (0, [1, 2], [0, 0]),
        (5, [0, 0], [0, 0]),
        (5, [], []),
        (3, [1, 1, 1, 1, 1], [1, 1, 1, 0, 0]),
        (7, [3, 3, 1], [3, 3, 1]),
    ],
)
def test_split_examples(engine, total: int, weights: list[int], expected: list[int]) -> None:
    assert engine.split(total, weights) == expected


weights_st = st.lists(st.integers(0, 10**9), min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(weights=weights_st, data=st.data())
def test_split_sums_exactly_and_respects_weights(engine, weights: list[int], data) -> None:
    wsum = sum(weights)
    total = data.draw(st.integers(0, max(wsum, 0)))
    parts = engine.split(total, weights)
    assert len(parts) == len(weights)
    assert all(p >= 0 for p in parts)
    if wsum > 0:
        assert sum(parts) == total
        assert all(p <= w for p, w in zip(parts, weights, strict=True))
        # proportional to within one cent
        for p, w in zip(parts, weights, strict=True):
            assert abs(p * wsum - total * w) < wsum
    else:
        assert sum(parts) == 0


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 30), w=st.integers(1, 1000), data=st.data())
def test_split_ties_go_to_earlier_lines(engine, n: int, w: int, data) -> None:
    total = data.draw(st.integers(0, n * w))
    parts = engine.split(total, [w] * n)
    assert parts == sorted(parts, reverse=True)
    assert max(parts) - min(parts) <= 1


@settings(max_examples=200, deadline=None)
@given(amount=st.integers(0, 10**12), bp=st.integers(0, 10000))
def test_percent_of_is_nearest_cent_half_up(engine, amount: int, bp: int) -> None:
    got = engine.percent_of(amount, bp)
    exact_x2 = 2 * amount * bp  # twice the exact value, in 1/10000 cents
    assert 2 * got * 10000 - 10000 <= exact_x2 < 2 * got * 10000 + 10000
    assert 0 <= got <= amount
