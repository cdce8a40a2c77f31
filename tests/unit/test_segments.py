"""core.segments: the segment filter compiler and evaluator (dynamic customer segments).

Every operator on every kind of field, the junctions, unknown values, the windowed metrics, the
refusals (CompileError naming the field), and the three filters the README shows, judged with
an injected ``now``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from core.errors import CompileError
from core.segments import DAY_MS, compile_filter, day_of, matching, needs_points

NOW = int(dt.datetime(2024, 6, 15, 12, 0, tzinfo=dt.UTC).timestamp() * 1000)
TODAY = day_of(NOW)

CUSTOMER: dict[str, Any] = {
    "id": "cust_1",
    "source_id": "shop-1",
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "phone": "+44 20 7946 0000",
    "birthdate": "1990-05-01",
    "created_at": NOW - 100 * DAY_MS,
    "address": {"city": "London", "country": "GB", "postal_code": "NW1"},
    "metadata": {"tier": "gold", "visits": 12, "tags": ["vip", "early"], "opt_in": True,
                 "since": "2020-01-01", "score": "7.5"},
}  # fmt: skip
METRICS = {
    "count": 4,
    "amount": 120_000,
    "last_order_at": NOW - 3 * DAY_MS,
    "last_order_amount": 20_000,
    "events": 2,
    "last_event_at": NOW - 40 * DAY_MS,
    f"od:{TODAY}": 1,
    f"oa:{TODAY}": 10_000,
    f"od:{TODAY - 3}": 1,
    f"oa:{TODAY - 3}": 20_000,
    f"od:{TODAY - 60}": 2,
    f"oa:{TODAY - 60}": 90_000,
}


def match(field: str, op: str, values: Any, customer: dict[str, Any] | None = None,
          metrics: dict[str, int] | None = None, now: int = NOW, points: int | None = 350) -> bool:  # fmt: skip
    f = compile_filter({field: {"conditions": {op: values}}})
    return f.matches(
        CUSTOMER if customer is None else customer,
        METRICS if metrics is None else metrics,
        now,
        points,
    )


# ------------------------------------------------------------------------------ strings


@pytest.mark.parametrize(
    ("op", "values", "expected"),
    [
        ("$is", ["London"], True),
        ("$is", ["london"], False),  # exact, case matters
        ("$is", ["Paris", "London"], True),
        ("$in", ["Paris", "London"], True),
        ("$in", ["Paris"], False),
        ("$is_not", ["London"], False),
        ("$is_not", ["Paris"], True),
        ("$not_in", ["Paris", "Rome"], True),
        ("$not_in", ["Paris", "London"], False),
        ("$contains", ["ond"], True),
        ("$contains", ["xyz", "Lon"], True),
        ("$contains", ["xyz"], False),
        ("$not_contain", ["xyz"], True),
        ("$not_contain", ["ond"], False),
        ("$starts_with", ["Lon"], True),
        ("$starts_with", ["don"], False),
        ("$ends_with", ["don"], True),
        ("$ends_with", ["Lon"], False),
        ("$has_value", [], True),
        ("$has_value", True, True),
        ("$is_unknown", [], False),
    ],
)
def test_string_operators(op: str, values: Any, expected: bool) -> None:
    assert match("address.city", op, values) is expected


@pytest.mark.parametrize(
    ("op", "values", "expected"),
    [
        ("$is", ["x"], False),
        ("$in", ["x"], False),
        ("$is_not", ["x"], True),
        ("$not_in", ["x"], True),
        ("$contains", ["x"], False),
        ("$not_contain", ["x"], True),
        ("$starts_with", ["x"], False),
        ("$ends_with", ["x"], False),
        ("$has_value", [], False),
        ("$is_unknown", [], True),
        ("$is_unknown", True, True),
    ],
)
def test_unknown_string_matches_only_is_unknown_and_negatives(
    op: str, values: Any, expected: bool
) -> None:
    for cust in ({**CUSTOMER, "address": {"country": "GB"}}, {**CUSTOMER, "address": None},
                 {**CUSTOMER, "address": {"city": ""}}, {}):  # fmt: skip
        assert match("address.city", op, values, customer=cust) is expected, cust


def test_every_attribute_field_reads_the_customer() -> None:
    for field, value in [("id", "cust_1"), ("source_id", "shop-1"), ("name", "Ada Lovelace"),
                         ("email", "ada@example.com"), ("phone", "+44 20 7946 0000"),
                         ("address.country", "GB"), ("address.postal_code", "NW1")]:  # fmt: skip
        assert match(field, "$is", [value]), field
        assert not match(field, "$is", [value + "x"]), field
    for field in ("description", "address.state", "address.line_1", "address.line_2"):
        assert match(field, "$is_unknown", []), field
    assert match("email", "$ends_with", ["@example.com"])


# ------------------------------------------------------------------------------ numbers


@pytest.mark.parametrize(
    ("op", "values", "expected"),
    [
        ("$is", [4], True),
        ("$is", [4.0], True),
        ("$is", [3, 5], False),
        ("$in", [1, 4], True),
        ("$is_not", [4], False),
        ("$is_not", [3], True),
        ("$not_in", [3, 5], True),
        ("$not_in", [4, 5], False),
        ("$more_than", [3], True),
        ("$more_than", [4], False),
        ("$more_than_equal", [4], True),
        ("$more_than_equal", [5], False),
        ("$more_than_or_equal", [4], True),  # the validation rules' spelling
        ("$less_than", [5], True),
        ("$less_than", [4], False),
        ("$less_than_equal", [4], True),
        ("$less_than_equal", [3], False),
        ("$less_than_or_equal", [4], True),
        ("$has_value", [], True),
        ("$is_unknown", [], False),
    ],
)
def test_number_operators(op: str, values: Any, expected: bool) -> None:
    assert match("summary.orders.total_count", op, values) is expected


def test_order_metrics() -> None:
    assert match("summary.orders.total_amount", "$is", [120_000])
    assert match("summary.orders.average_amount", "$is", [30_000])
    assert match("summary.orders.last_order_amount", "$is", [20_000])
    assert match("events.total_count", "$is", [2])
    # no metrics at all: zero orders and events (known), no average nor last amount (unknown)
    for field in (
        "summary.orders.total_count",
        "summary.orders.total_amount",
        "events.total_count",
    ):
        assert match(field, "$is", [0], metrics={}), field
        assert match(field, "$less_than", [1], metrics={}), field
    for field in ("summary.orders.average_amount", "summary.orders.last_order_amount"):
        assert match(field, "$is_unknown", [], metrics={}), field
        assert not match(field, "$less_than", [1], metrics={}), field
        assert match(field, "$is_not", [0], metrics={}), field
    # a cancelled order can leave the counters below zero for a moment: never negative here
    assert match("summary.orders.total_count", "$is", [0], metrics={"count": -1, "amount": -5})
    assert match("summary.orders.total_amount", "$is", [0], metrics={"count": -1, "amount": -5})


def test_loyalty_points_are_what_the_caller_read() -> None:
    assert match("loyalty.points", "$more_than", [300], points=350)
    assert not match("loyalty.points", "$more_than", [300], points=200)
    assert match("loyalty.points", "$is", [0], points=0)
    # the caller could not read them: unknown
    assert match("loyalty.points", "$is_unknown", [], points=None)
    assert not match("loyalty.points", "$less_than", [1], points=None)
    assert needs_points([compile_filter({"loyalty.points": {"conditions": {"$more_than": [1]}}})])
    assert not needs_points([compile_filter({"email": {"conditions": {"$has_value": []}}})])


# ------------------------------------------------------------------------------ windows


@pytest.mark.parametrize(
    ("days", "count", "amount"),
    [
        (1, 1, 10_000),
        (3, 1, 10_000),
        (4, 2, 30_000),
        (60, 2, 30_000),
        (61, 4, 120_000),
        (3660, 4, 120_000),
    ],
)
def test_windowed_counts_cover_the_last_n_days_counting_today(
    days: int, count: int, amount: int
) -> None:
    assert match(f"summary.orders.count_in_days.{days}", "$is", [count])
    assert match(f"summary.orders.amount_in_days.{days}", "$is", [amount])


def test_windows_move_with_now_and_ignore_other_fields() -> None:
    later = NOW + 2 * DAY_MS  # today's order is now 2 days old, the one 3 days ago 5
    assert match("summary.orders.count_in_days.3", "$is", [1], now=later)
    assert match("summary.orders.count_in_days.5", "$is", [1], now=later)
    assert match("summary.orders.count_in_days.6", "$is", [2], now=later)
    noise = {"count": 9, "odd": 5, "od:x": 3, f"od:{TODAY + 1}": 7, f"od:{TODAY}": 2}
    assert match("summary.orders.count_in_days.1", "$is", [2], metrics=noise)  # no future days
    assert match("summary.orders.count_in_days.30", "$is", [0], metrics={})
    # a cancelled order's day goes back down, never below zero
    assert match("summary.orders.count_in_days.1", "$is", [0], metrics={f"od:{TODAY}": -1})


# ------------------------------------------------------------------------------ dates


@pytest.mark.parametrize(
    ("op", "values", "expected"),
    [
        ("$is", ["1990-05-01"], True),
        ("$is", ["1990-05-02"], False),
        ("$in", ["1980-01-01", "1990-05-01"], True),
        ("$is_not", ["1990-05-01"], False),
        ("$not_in", ["1980-01-01"], True),
        ("$before", ["1990-05-02"], True),
        ("$before", ["1990-05-01"], False),
        ("$after", ["1990-04-30"], True),
        ("$after", ["1990-05-01"], False),  # after a date: from the next day on
        ("$after", ["1990-04-30T23:59:59Z"], True),
        ("$older_than", ["P18Y"], True),
        ("$older_than", ["P35Y"], False),
        ("$newer_than", ["P35Y"], True),
        ("$newer_than", ["P18Y"], False),
        ("$has_value", [], True),
        ("$is_unknown", [], False),
    ],
)
def test_date_operators_on_a_birthdate(op: str, values: Any, expected: bool) -> None:
    assert match("birthdate", op, values) is expected


def test_relative_dates_on_metrics_and_created_at() -> None:
    # last order 3 days ago, last event 40 days ago, created 100 days ago
    assert match("summary.orders.last_order_date", "$newer_than", ["P7D"])
    assert match("summary.orders.last_order_date", "$newer_than", [3])  # a number of days
    assert not match("summary.orders.last_order_date", "$newer_than", [2])
    assert match("summary.orders.last_order_date", "$older_than", [2])
    assert match("summary.orders.last_order_date", "$older_than", ["PT71H"])
    # exactly 72 hours: not older
    assert not match("summary.orders.last_order_date", "$older_than", ["PT72H"])
    assert match("summary.orders.last_order_date", "$newer_than", ["P1W"])
    assert match("events.last_event_date", "$older_than", ["P1M"])
    assert not match("events.last_event_date", "$older_than", ["P2M"])
    assert match("created_at", "$older_than", ["P3M"])
    assert not match("created_at", "$older_than", ["P4M"])
    assert match("created_at", "$after", ["2024-03-01"])
    assert match("created_at", "$before", ["2024-03-08"])
    assert match("summary.orders.last_order_date", "$is", ["2024-06-12"])
    assert match("summary.orders.last_order_date", "$after", ["2024-06-11T23:00:00+00:00"])


def test_calendar_months_clamp_to_the_month_length() -> None:
    end_of_march = int(dt.datetime(2024, 3, 31, 10, 0, tzinfo=dt.UTC).timestamp() * 1000)
    feb_29 = int(dt.datetime(2024, 2, 29, 10, 0, tzinfo=dt.UTC).timestamp() * 1000)
    c = {"created_at": feb_29}
    assert not match("created_at", "$older_than", ["P1M"], customer=c, now=end_of_march)
    assert match("created_at", "$newer_than", ["P1M"], customer=c, now=end_of_march)
    assert match("created_at", "$older_than", ["P1M"], customer=c, now=end_of_march + 1)


def test_never_is_older_than_any_period_but_nothing_else() -> None:
    for field in ("summary.orders.last_order_date", "events.last_event_date"):
        assert match(field, "$older_than", ["P30D"], metrics={}), field
        assert not match(field, "$newer_than", ["P30D"], metrics={}), field
        assert not match(field, "$before", ["2030-01-01"], metrics={}), field
        assert not match(field, "$after", ["2000-01-01"], metrics={}), field
        assert match(field, "$is_unknown", [], metrics={}), field
    # other dates: unknown is unknown
    assert not match("birthdate", "$older_than", ["P18Y"], customer={})
    assert not match("birthdate", "$older_than", ["P18Y"], customer={"birthdate": "soon"})
    assert match("birthdate", "$is_not", ["1990-05-01"], customer={"birthdate": "soon"})


# ------------------------------------------------------------------------------ metadata


def test_metadata_values_of_any_kind() -> None:
    assert match("metadata.tier", "$is", ["gold"])
    assert match("metadata.tier", "$starts_with", ["go"])
    assert match("metadata.visits", "$more_than", [10])
    assert match("metadata.visits", "$is", [12])
    assert match("metadata.visits", "$is", ["12"])  # a number and its text are equal
    assert match("metadata.score", "$more_than", [7])  # a numeric string compares as a number
    assert not match("metadata.tier", "$more_than", [7])  # text is no number
    assert match("metadata.tags", "$contains", ["vip"])
    assert match("metadata.tags", "$is", ["early"])
    assert not match("metadata.tags", "$contains", ["vi"])  # list elements match whole
    assert match("metadata.tags", "$not_contain", ["gold"])
    assert not match("metadata.tags", "$starts_with", ["v"])
    assert match("metadata.opt_in", "$is", [True])
    assert not match("metadata.opt_in", "$is", [1])  # a boolean is no number
    assert match("metadata.since", "$before", ["2021-01-01"])
    assert match("metadata.since", "$older_than", ["P1Y"])
    assert not match("metadata.tier", "$before", ["2021-01-01"])  # not a date
    assert match("metadata.missing", "$is_unknown", [])
    assert match("metadata.missing", "$is_not", ["x"])
    assert match("metadata.tags", "$is_unknown", [], customer={"metadata": {"tags": []}})


# ------------------------------------------------------------------------------ junctions


def test_junctions_and_per_field_conditions() -> None:
    london = {"address.city": {"conditions": {"$is": ["London"]}}}
    big = {"summary.orders.total_amount": {"conditions": {"$more_than": [500_000]}}}
    both = compile_filter({"junction": "and", **london, **big})
    either = compile_filter({"junction": "or", **london, **big})
    assert not both.matches(CUSTOMER, METRICS, NOW)
    assert either.matches(CUSTOMER, METRICS, NOW)
    assert compile_filter({"junction": "AND", **london}).matches(CUSTOMER, METRICS, NOW)
    assert compile_filter(london).matches(CUSTOMER, METRICS, NOW)  # default: and
    neither = compile_filter(
        {"junction": "or", "address.city": {"conditions": {"$is": ["Paris"]}}, **big}
    )
    assert not neither.matches(CUSTOMER, METRICS, NOW)
    # several operators on one field: all of them, or any with the field's own junction
    between = {"conditions": {"$more_than": [3], "$less_than": [10]}}
    assert compile_filter({"summary.orders.total_count": between}).matches(CUSTOMER, METRICS, NOW)
    outside = {"conditions": {"$less_than": [2], "$more_than": [10]}}
    assert not compile_filter({"summary.orders.total_count": outside}).matches(
        CUSTOMER, METRICS, NOW
    )
    assert compile_filter(
        {
            "summary.orders.total_count": {**outside, "junction": "or"},
            "email": {"conditions": {"$has_value": []}},
        }
    ).matches(CUSTOMER, {**METRICS, "count": 11}, NOW)


def test_matching_judges_many_segments_with_one_set_of_facts() -> None:
    segs = [
        ("seg_london", compile_filter({"address.city": {"conditions": {"$is": ["London"]}}})),
        ("seg_paris", compile_filter({"address.city": {"conditions": {"$is": ["Paris"]}}})),
        (
            "seg_recent",
            compile_filter({"summary.orders.count_in_days.7": {"conditions": {"$more_than": [0]}}}),
        ),
    ]
    assert matching(segs, CUSTOMER, METRICS, NOW) == ["seg_london", "seg_recent"]
    assert matching(segs, None, None, NOW) == []


# ------------------------------------------------------------------------------ the README's three


def test_more_than_5_orders_in_90_days() -> None:
    f = compile_filter(
        {"junction": "and", "summary.orders.count_in_days.90": {"conditions": {"$more_than": [5]}}}
    )
    day = TODAY
    five = {f"od:{day - i}": 1 for i in range(5)}
    assert not f.matches({}, five, NOW)
    six = {**five, f"od:{day - 89}": 1}
    assert f.matches({}, six, NOW)
    assert not f.matches({}, six, NOW + DAY_MS)  # the oldest one leaves the window tomorrow
    assert f.matches({}, {f"od:{day}": 6}, NOW)


def test_city_is_london_and_spent_over_1000() -> None:
    f = compile_filter(
        {
            "junction": "and",
            "address.city": {"conditions": {"$is": ["London"]}},
            "summary.orders.total_amount": {"conditions": {"$more_than": [100_000]}},
        }
    )
    assert f.matches(CUSTOMER, METRICS, NOW)  # 1,200.00
    assert not f.matches(CUSTOMER, {**METRICS, "amount": 100_000}, NOW)  # exactly 1,000.00
    assert not f.matches({**CUSTOMER, "address": {"city": "Leeds"}}, METRICS, NOW)
    assert not f.matches(CUSTOMER, {}, NOW)


def test_no_order_for_30_days() -> None:
    f = compile_filter(
        {"summary.orders.last_order_date": {"conditions": {"$older_than": ["P30D"]}}}
    )
    assert f.matches({}, {}, NOW)  # never ordered: matches
    last = {"last_order_at": NOW}
    assert not f.matches({}, last, NOW)
    assert not f.matches({}, last, NOW + 30 * DAY_MS)  # exactly 30 days: not yet
    assert f.matches({}, last, NOW + 30 * DAY_MS + 1)
    assert f.matches({}, last, NOW + 31 * DAY_MS)


# ------------------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    ("spec", "path", "reason"),
    [
        ([], "filter", "a filter is an object"),
        ({}, "filter", "at least one field condition"),
        ({"junction": "and"}, "filter", "at least one field condition"),
        ({"junction": "xor", "email": {"conditions": {"$has_value": []}}}, "filter.junction", "junction"),
        ({"favourite_color": {"conditions": {"$is": ["red"]}}}, "filter.favourite_color", "unknown field"),
        ({"metadata.": {"conditions": {"$is": ["x"]}}}, "filter.metadata.", "metadata.<key>"),
        ({"summary.orders.count_in_days.x": {"conditions": {"$is": [1]}}},
         "filter.summary.orders.count_in_days.x", "number of days"),
        ({"summary.orders.count_in_days.0": {"conditions": {"$is": [1]}}},
         "filter.summary.orders.count_in_days.0", "number of days"),
        ({"summary.orders.amount_in_days.9999": {"conditions": {"$is": [1]}}},
         "filter.summary.orders.amount_in_days.9999", "number of days"),
        ({"email": ["$is", "x"]}, "filter.email", "conditions"),
        ({"email": {"$is": ["x"]}}, "filter.email", "conditions"),
        ({"email": {"conditions": {}}}, "filter.email.conditions", "at least one operator"),
        ({"email": {"conditions": {"$is": ["x"]}, "extra": 1}}, "filter.email.extra", "unknown key"),
        ({"email": {"conditions": {"$is": ["x"]}, "junction": "nand"}}, "filter.email.junction", "junction"),
        ({"email": {"conditions": {"$equals": ["x"]}}}, "filter.email.conditions.$equals", "unknown operator"),
        ({"email": {"conditions": {"$more_than": [1]}}}, "filter.email.conditions.$more_than", "unknown operator"),
        ({"email": {"conditions": {"$before": ["2024-01-01"]}}}, "filter.email.conditions.$before", "unknown operator"),
        ({"email": {"conditions": {"$is": "x"}}}, "filter.email.conditions.$is", "JSON array"),
        ({"email": {"conditions": {"$is": []}}}, "filter.email.conditions.$is", "needs a value"),
        ({"email": {"conditions": {"$is": [1]}}}, "filter.email.conditions.$is", "takes strings"),
        ({"email": {"conditions": {"$contains": [""]}}}, "filter.email.conditions.$contains", "non-empty strings"),
        ({"email": {"conditions": {"$has_value": ["x"]}}}, "filter.email.conditions.$has_value", "takes no values"),
        ({"email": {"conditions": {"$is_unknown": False}}}, "filter.email.conditions.$is_unknown", "takes no values"),
        ({"loyalty.points": {"conditions": {"$contains": ["1"]}}},
         "filter.loyalty.points.conditions.$contains", "unknown operator"),
        ({"loyalty.points": {"conditions": {"$more_than": ["5"]}}},
         "filter.loyalty.points.conditions.$more_than", "one number"),
        ({"loyalty.points": {"conditions": {"$more_than": [1, 2]}}},
         "filter.loyalty.points.conditions.$more_than", "one number"),
        ({"loyalty.points": {"conditions": {"$more_than": [True]}}},
         "filter.loyalty.points.conditions.$more_than", "one number"),
        ({"loyalty.points": {"conditions": {"$is": ["5"]}}}, "filter.loyalty.points.conditions.$is", "numbers"),
        ({"birthdate": {"conditions": {"$before": ["yesterday"]}}}, "filter.birthdate.conditions.$before", "ISO 8601"),
        ({"birthdate": {"conditions": {"$before": ["2024-02-30"]}}}, "filter.birthdate.conditions.$before", "ISO 8601"),
        ({"birthdate": {"conditions": {"$is": ["May"]}}}, "filter.birthdate.conditions.$is", "ISO 8601"),
        ({"birthdate": {"conditions": {"$starts_with": ["19"]}}},
         "filter.birthdate.conditions.$starts_with", "unknown operator"),
        ({"summary.orders.last_order_date": {"conditions": {"$older_than": ["30 days"]}}},
         "filter.summary.orders.last_order_date.conditions.$older_than", "duration"),
        ({"summary.orders.last_order_date": {"conditions": {"$older_than": ["P"]}}},
         "filter.summary.orders.last_order_date.conditions.$older_than", "duration"),
        ({"summary.orders.last_order_date": {"conditions": {"$older_than": ["PT"]}}},
         "filter.summary.orders.last_order_date.conditions.$older_than", "duration"),
        ({"summary.orders.last_order_date": {"conditions": {"$older_than": [-1]}}},
         "filter.summary.orders.last_order_date.conditions.$older_than", "duration"),
        ({"summary.orders.last_order_date": {"conditions": {"$newer_than": [True]}}},
         "filter.summary.orders.last_order_date.conditions.$newer_than", "duration"),
        ({"metadata.x": {"conditions": {"$is": [{"a": 1}]}}}, "filter.metadata.x.conditions.$is", "strings, numbers"),
    ],
)  # fmt: skip
def test_malformed_filters_are_refused_naming_the_field(spec: Any, path: str, reason: str) -> None:
    with pytest.raises(CompileError) as err:
        compile_filter(spec)
    assert err.value.path == path, err.value
    assert reason in err.value.reason, err.value


def test_the_callers_root_names_the_path() -> None:
    with pytest.raises(CompileError) as err:
        compile_filter({"nope": {"conditions": {"$is": ["x"]}}}, path="segment.filter")
    assert err.value.path == "segment.filter.nope"
    assert "- at `segment.filter.nope`" in str(err.value)


def test_accepted_forms() -> None:
    # durations of every unit, days as numbers, dates and date-times
    for d in ("P1Y", "P6M", "P2W", "P30D", "PT12H", "PT30M", "PT45S", "P1Y2M3W4DT5H6M7S", 0, 30):
        compile_filter({"events.last_event_date": {"conditions": {"$older_than": [d]}}})
    for when in (
        "2024-05-01",
        "2024-05-01T10:00:00Z",
        "2024-05-01T10:00:00.123+02:00",
        "2024-05-01T10:00",
    ):
        compile_filter({"created_at": {"conditions": {"$after": [when]}}})
    compile_filter({"email": {"conditions": {"$is_unknown": None}}})
    compile_filter({"email": {"conditions": {"$is_unknown": True, "$is_not": ["x"]}}})
