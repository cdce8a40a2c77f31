"""Points expiry dates (core.earning.expiry_date / expires_at_ms), on both twins: MONTH periods
with each rounding, FIXED_DAY_OF_YEAR, month ends and leap years; UTC, valid to the end of the
last day. Checked against a table and against a reference written with ``datetime``."""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from loyalty_helpers import fixed_day, months

from core import model as m

D = dt.date


def _rules(doc: dict) -> m.ExpirationRules:
    return m.ExpirationRules(**doc)


@pytest.mark.parametrize(
    ("rules", "earned", "last"),
    [
        (months(1), D(2026, 3, 4), D(2026, 4, 4)),
        (months(1), D(2026, 12, 15), D(2027, 1, 15)),
        (months(1), D(2026, 1, 31), D(2026, 2, 28)),  # the month is shorter
        (months(1), D(2024, 1, 31), D(2024, 2, 29)),  # leap year
        (months(1), D(2026, 3, 31), D(2026, 4, 30)),
        (months(12), D(2024, 2, 29), D(2025, 2, 28)),
        (months(48), D(2024, 2, 29), D(2028, 2, 29)),
        (months(25), D(2026, 11, 30), D(2028, 12, 30)),
        (months(1, "END_OF_MONTH"), D(2026, 1, 1), D(2026, 2, 28)),
        (months(1, "END_OF_MONTH"), D(2028, 1, 31), D(2028, 2, 29)),
        (months(1, "END_OF_QUARTER"), D(2026, 3, 4), D(2026, 6, 30)),
        (months(2, "END_OF_QUARTER"), D(2026, 1, 15), D(2026, 3, 31)),
        (months(3, "END_OF_QUARTER"), D(2026, 9, 30), D(2026, 12, 31)),
        (months(1, "END_OF_HALF_YEAR"), D(2026, 5, 10), D(2026, 6, 30)),
        (months(1, "END_OF_HALF_YEAR"), D(2026, 6, 10), D(2026, 12, 31)),
        (months(6, "END_OF_HALF_YEAR"), D(2026, 12, 31), D(2027, 6, 30)),
        (months(1, "END_OF_YEAR"), D(2026, 12, 31), D(2027, 12, 31)),
        (months(12, "END_OF_YEAR"), D(2026, 3, 4), D(2027, 12, 31)),
        (months(1, "PARTICULAR_MONTH", 3), D(2026, 3, 4), D(2027, 3, 31)),  # April -> next March
        (months(1, "PARTICULAR_MONTH", 4), D(2026, 3, 4), D(2026, 4, 30)),  # its own month
        (months(12, "PARTICULAR_MONTH", 2), D(2027, 3, 1), D(2029, 2, 28)),
        (months(1, "PARTICULAR_MONTH", 2), D(2027, 12, 31), D(2028, 2, 29)),
        (fixed_day(12, 31), D(2026, 3, 4), D(2026, 12, 31)),
        (fixed_day(12, 31), D(2026, 12, 31), D(2026, 12, 31)),  # on the day: that day
        (fixed_day(1, 1), D(2026, 3, 4), D(2027, 1, 1)),
        (fixed_day(3, 4), D(2026, 3, 5), D(2027, 3, 4)),
        (fixed_day(2, 29), D(2026, 3, 4), D(2027, 2, 28)),  # no Feb 29 in 2027
        (fixed_day(2, 29), D(2027, 3, 1), D(2028, 2, 29)),
        (fixed_day(2, 29), D(2028, 2, 29), D(2028, 2, 29)),
        (fixed_day(2, 28), D(2028, 2, 29), D(2029, 2, 28)),
    ],
)
def test_expiry_dates(earning: Any, rules: dict, earned: dt.date, last: dt.date) -> None:
    assert earning.expiry_date(_rules(rules), earned) == last
    # in ms: 00:00 UTC of the day after, from any time of the earning day
    noon = int(dt.datetime(earned.year, earned.month, earned.day, 12, tzinfo=dt.UTC).timestamp() * 1000)
    end = int(dt.datetime(last.year, last.month, last.day, tzinfo=dt.UTC).timestamp() * 1000) + 86_400_000
    assert earning.expires_at_ms(_rules(rules), noon) == end
    assert earning.expires_at_ms(_rules(rules), noon - noon % 86_400_000) == end


def test_no_rules_never_expire(earning: Any) -> None:
    assert earning.expiry_date(None, D(2026, 3, 4)) is None
    assert earning.expires_at_ms(None, 1_772_627_400_000) is None


# ----------------------------------------------------------------------------- against a reference


def _end_of_month(y: int, mo: int) -> dt.date:
    return D(y, mo, calendar.monthrange(y, mo)[1])


def reference(rules: m.ExpirationRules, earned: dt.date) -> dt.date:
    """The documented rule (core.model.ExpirationRules), written with datetime and calendar."""
    if rules.period_type == "FIXED_DAY_OF_YEAR":
        for y in (earned.year, earned.year + 1):
            fm = rules.fixed_month
            fd = min(rules.fixed_day, calendar.monthrange(y, fm)[1])
            if D(y, fm, fd) >= earned:
                return D(y, fm, fd)
        raise AssertionError("unreachable")
    n = rules.period_value
    total = earned.year * 12 + earned.month - 1 + n
    y, mo = divmod(total, 12)
    mo += 1
    base = D(y, mo, min(earned.day, calendar.monthrange(y, mo)[1]))
    r = rules.rounding_type
    if r is None:
        return base
    if r == "END_OF_MONTH":
        return _end_of_month(base.year, base.month)
    if r == "END_OF_QUARTER":
        return _end_of_month(base.year, (base.month + 2) // 3 * 3)
    if r == "END_OF_HALF_YEAR":
        return _end_of_month(base.year, 6 if base.month <= 6 else 12)
    if r == "END_OF_YEAR":
        return D(base.year, 12, 31)
    target = rules.rounding_value
    return _end_of_month(base.year + (target < base.month), target)


rules_st = st.one_of(
    st.builds(
        lambda n, r, v: m.ExpirationRules(period_type="MONTH", period_value=n, rounding_type=r,
                                          rounding_value=v if r == "PARTICULAR_MONTH" else None),  # fmt: skip
        st.integers(1, 1200),
        st.sampled_from([None, "END_OF_MONTH", "END_OF_QUARTER", "END_OF_HALF_YEAR", "END_OF_YEAR",
                         "PARTICULAR_MONTH"]),  # fmt: skip
        st.integers(1, 12),
    ),
    st.builds(
        lambda mo, d: m.ExpirationRules(period_type="FIXED_DAY_OF_YEAR", fixed_month=mo,
                                        fixed_day=min(d, calendar.monthrange(2024, mo)[1])),  # fmt: skip
        st.integers(1, 12),
        st.integers(1, 31),
    ),
)


@settings(max_examples=400, deadline=None)
@given(rules=rules_st, earned=st.dates(D(1970, 1, 1), D(2500, 12, 31)))
def test_expiry_matches_the_reference(rules: m.ExpirationRules, earned: dt.date) -> None:
    import core

    want = reference(rules, earned)
    assert want >= earned
    start = int(dt.datetime(earned.year, earned.month, earned.day, tzinfo=dt.UTC).timestamp() * 1000)
    end = int(dt.datetime(want.year, want.month, want.day, tzinfo=dt.UTC).timestamp() * 1000) + 86_400_000
    for twin in core.twins("earning").values():
        assert twin.expiry_date(rules, earned) == want
        assert twin.expires_at_ms(rules, start + 86_399_999) == end
