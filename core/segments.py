"""Dynamic customer segments: a Voucherify segment filter, compiled once, judged against one
customer's attributes and live metrics.

Pure: no I/O and no wall clock. The caller hands in the customer (the stored JSON object), its
metrics hash (``Pcustmetrics:<id>`` decoded to ``{field: int}``), optionally its loyalty points,
and ``now_ms`` (UTC epoch milliseconds). Plain Python: a segment is judged once per checkout that
has a ``customer.segment`` rule (and cached by the caller), not once per promotion.

The filter language (Voucherify's segment ``filter``)::

    {"junction": "and" | "or",                      # how the fields combine (default "and")
     "<field>": {"conditions": {"<$op>": [values], ...},   # a field's operators: all hold
                 "junction": "and" | "or"},                # ... or any, with "or"
     ...}

Fields and their kinds (the operators a kind takes are below):

==========================================  ========  ==================================================
``id``, ``source_id``, ``name``,            string    the customer's attributes
``description``, ``email``, ``phone``
``address.city`` / ``.state`` /             string    the customer's address
``.country`` / ``.postal_code`` /
``.line_1`` / ``.line_2``
``birthdate``, ``birthday``                 date      ``YYYY-MM-DD``
``created_at``                              date      when the customer was created
``metadata.<key>``                          any       a metadata value (string, number, boolean, list)
``summary.orders.total_count``              number    PAID orders, net of cancellations (0: none)
``summary.orders.total_amount``             number    their amount, cents (0: none)
``summary.orders.average_amount``           number    total_amount // total_count (unknown: no order)
``summary.orders.last_order_amount``        number    cents (unknown: no order)
``summary.orders.last_order_date``          date      when the last order was paid (unknown: never)
``summary.orders.count_in_days.<N>``        number    orders paid in the last N days (see below)
``summary.orders.amount_in_days.<N>``       number    their amount, cents
``loyalty.points``                          number    spendable points over all programs (unknown
                                                      when the caller could not read them)
``events.total_count``                      number    custom events sent (0: none)
``events.last_event_date``                  date      the last custom event (unknown: never)
==========================================  ========  ==================================================

Operators (values are always a JSON array, as Voucherify sends them):

- every kind: ``$is`` / ``$in`` (equals one of the values), ``$is_not`` / ``$not_in`` (equals none
  of them), ``$is_unknown`` (no value, or ``""``), ``$has_value`` (the opposite); the last two
  take ``[]`` or ``true``. On a date field ``$is`` with a date ``YYYY-MM-DD`` means "on that UTC
  day".
- number (and any): ``$more_than``, ``$more_than_equal``, ``$less_than``, ``$less_than_equal``
  (one number; ``$more_than_or_equal`` / ``$less_than_or_equal``, the validation rules'
  spelling, are accepted too).
- string (and any): ``$contains``, ``$not_contain``, ``$starts_with``, ``$ends_with`` (one or more
  strings: any of them; ``$not_contain``: none). Strings compare exactly (case matters), as in
  validation rules. On a list value (metadata), ``$contains`` / ``$is`` hold when an element
  matches.
- date (and any): ``$before`` / ``$after`` (one ISO 8601 date or date-time, absolute; a date
  means its whole UTC day: ``$after ["2024-05-01"]`` is from May 2nd on), ``$older_than`` /
  ``$newer_than`` (relative to ``now_ms``: one ISO 8601 duration such as ``"P30D"``, ``"P2W"``,
  ``"PT12H"``, ``"P1Y6M"`` (years and months in calendar terms), or a number of days).
  ``$older_than [d]``: the date is before ``now - d``; ``$newer_than [d]``: at or after it.

Unknown values match nothing but ``$is_unknown`` and the negative operators (``$is_not``,
``$not_in``, ``$not_contain``), with one deliberate exception: on ``last_order_date`` and
``last_event_date`` a customer who NEVER ordered (or sent an event) matches ``$older_than``:
"no order for 30 days" (``summary.orders.last_order_date: {$older_than: ["P30D"]}``) holds for
a customer who never ordered, and becomes true 30 days after the last order without any job
running, since it is judged at read time against ``now_ms``.

Windowed metrics: the order calls keep per-day fields in the metrics hash, ``od:<day>`` (orders
paid that UTC day, net of cancellations) and ``oa:<day>`` (their amount), ``<day>`` being whole
days since the epoch. ``count_in_days.N`` sums the days ``today - N + 1`` .. ``today``: the last
N calendar days (UTC) counting today. ``N`` is 1 .. 3660.

A malformed filter raises :class:`core.errors.CompileError` naming the field (``path`` is
``<root>.<field>.conditions.<$op>``, ``root`` the caller's name for the filter).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

from core.errors import CompileError

__all__ = [
    "DAY_MS",
    "Filter",
    "compile_filter",
    "day_of",
    "matching",
    "needs_points",
]

DAY_MS = 86_400_000
MAX_WINDOW_DAYS = 3660

STR, NUM, DATE, ANY = "string", "number", "date", "any"

_ATTRIBUTES: dict[str, str] = {
    "id": STR,
    "source_id": STR,
    "name": STR,
    "description": STR,
    "email": STR,
    "phone": STR,
    "birthdate": DATE,
    "birthday": DATE,
    "created_at": DATE,
    "address.city": STR,
    "address.state": STR,
    "address.country": STR,
    "address.postal_code": STR,
    "address.line_1": STR,
    "address.line_2": STR,
}
_METRICS: dict[str, str] = {
    "summary.orders.total_count": NUM,
    "summary.orders.total_amount": NUM,
    "summary.orders.average_amount": NUM,
    "summary.orders.last_order_amount": NUM,
    "summary.orders.last_order_date": DATE,
    "loyalty.points": NUM,
    "events.total_count": NUM,
    "events.last_event_date": DATE,
}
#: date fields of something that may never have happened: "never" is older than any period
_NEVER_IS_OLD = frozenset({"summary.orders.last_order_date", "events.last_event_date"})
_WINDOWS = {"summary.orders.count_in_days.": "od:", "summary.orders.amount_in_days.": "oa:"}
POINTS = "loyalty.points"

_COMMON = frozenset({"$is", "$in", "$is_not", "$not_in", "$is_unknown", "$has_value"})
_NUM_OPS = {
    "$more_than": "$more_than",
    "$more_than_equal": "$more_than_equal",
    "$more_than_or_equal": "$more_than_equal",
    "$less_than": "$less_than",
    "$less_than_equal": "$less_than_equal",
    "$less_than_or_equal": "$less_than_equal",
}
_STR_OPS = frozenset({"$contains", "$not_contain", "$starts_with", "$ends_with"})
_DATE_OPS = frozenset({"$before", "$after", "$older_than", "$newer_than"})
_NEGATIVE = frozenset({"$is_not", "$not_in", "$not_contain"})


def _ops_of(kind: str) -> frozenset[str]:
    if kind == NUM:
        return _COMMON | frozenset(_NUM_OPS)
    if kind == STR:
        return _COMMON | _STR_OPS
    if kind == DATE:
        return _COMMON | _DATE_OPS
    return _COMMON | frozenset(_NUM_OPS) | _STR_OPS | _DATE_OPS


# ------------------------------------------------------------------------------ values


_DURATION = re.compile(
    r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$"
)
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


def day_of(ms: int) -> int:
    """The UTC day number (days since the epoch) of an epoch-ms instant: the ``<day>`` of the
    metrics hash's ``od:<day>`` / ``oa:<day>`` fields."""
    return ms // DAY_MS


def _parse_when(text: str) -> tuple[int, int] | None:
    """An ISO date or date-time as the instants it covers, ``[start, end)`` in epoch ms: a date
    is its whole UTC day, a date-time its millisecond (naive: UTC). None if it is neither."""
    if not isinstance(text, str) or not 8 <= len(text) <= 40:
        return None
    try:
        if _DATE_ONLY.match(text):
            d = _dt.date.fromisoformat(text)
            start = (d - _EPOCH.date()).days * DAY_MS
            return start, start + DAY_MS
        t = _dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.UTC)
    ms = (t - _EPOCH) // _dt.timedelta(milliseconds=1)
    return ms, ms + 1


def _duration(value: Any) -> tuple[int, int, int] | None:
    """A period as (years, months, milliseconds): an ISO 8601 duration or a number of days."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return (0, 0, value * DAY_MS) if 0 <= value <= 100_000 else None
    if not isinstance(value, str):
        return None
    mt = _DURATION.match(value)
    if mt is None or value in ("P", "PT") or value.endswith("T"):
        return None
    y, mo, w, d, h, mi, s = (int(g) if g else 0 for g in mt.groups())
    if y > 1000 or mo > 12_000 or w > 100_000 or d > 1_000_000:
        return None
    ms = ((w * 7 + d) * 24 * 3600 + h * 3600 + mi * 60 + s) * 1000
    return y, mo, ms


def _minus(now_ms: int, period: tuple[int, int, int]) -> int:
    """``now_ms`` minus a period; years and months in calendar terms (UTC), the day clamped to
    the length of the month landed on."""
    y, mo, ms = period
    if y or mo:
        d = _EPOCH.date() + _dt.timedelta(days=now_ms // DAY_MS)
        months = d.year * 12 + (d.month - 1) - (y * 12 + mo)
        year, month = divmod(months, 12)
        if year < 1:
            return -(10**15)  # before year 1: everything known is newer
        month += 1
        nxt = _dt.date(year + (month == 12), month % 12 + 1, 1)
        last = (nxt - _dt.timedelta(days=1)).day
        d = _dt.date(year, month, min(d.day, last))
        now_ms = (d - _EPOCH.date()).days * DAY_MS + now_ms % DAY_MS
    return now_ms - ms


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _num(v: Any) -> float | None:
    if _is_num(v):
        return v
    if isinstance(v, str):
        try:
            x = float(v)
        except ValueError:
            return None
        return x if x == x and x not in (float("inf"), float("-inf")) else None
    return None


def _eq(v: Any, ref: Any) -> bool:
    if isinstance(v, bool) or isinstance(ref, bool):
        return isinstance(v, bool) and isinstance(ref, bool) and v == ref
    if _is_num(v) and _is_num(ref):
        return v == ref
    if _is_num(v) or _is_num(ref):
        a, b = _num(v), _num(ref)
        return a is not None and b is not None and a == b
    return isinstance(v, str) and isinstance(ref, str) and v == ref


def _unknown(v: Any) -> bool:
    return v is None or v == "" or (isinstance(v, (list, tuple)) and not v)


# ------------------------------------------------------------------------------ conditions


class _Cond:
    """One operator of one field, compiled: ``op`` (canonical name) and its checked values."""

    __slots__ = ("op", "values", "span", "period")

    def __init__(self, op: str, values: tuple[Any, ...], span: tuple[int, int] | None = None,
                 period: tuple[int, int, int] | None = None) -> None:  # fmt: skip
        self.op = op
        self.values = values
        self.span = span
        self.period = period

    def holds(self, v: Any, kind: str, field: str, now_ms: int) -> bool:
        op = self.op
        if op == "$has_value":
            return not _unknown(v)
        if op == "$is_unknown":
            return _unknown(v)
        if _unknown(v):
            if op == "$older_than" and field in _NEVER_IS_OLD:
                return True
            return op in _NEGATIVE
        if kind == DATE or (kind == ANY and (op in _DATE_OPS)):
            return self._date(v, kind, now_ms)
        many = v if isinstance(v, (list, tuple)) else (v,)
        if op in ("$is", "$in"):
            return any(_eq(x, r) for x in many for r in self.values)
        if op in ("$is_not", "$not_in"):
            return not any(_eq(x, r) for x in many for r in self.values)
        if op in ("$more_than", "$more_than_equal", "$less_than", "$less_than_equal"):
            x = _num(v)
            if x is None:
                return False
            ref = self.values[0]
            if op == "$more_than":
                return x > ref
            if op == "$more_than_equal":
                return x >= ref
            if op == "$less_than":
                return x < ref
            return x <= ref
        if op == "$contains" or op == "$not_contain":
            if isinstance(v, (list, tuple)):
                found = any(_eq(x, r) for x in v for r in self.values)
            else:
                s = v if isinstance(v, str) else str(v)
                found = any(r in s for r in self.values)
            return found if op == "$contains" else not found
        if op == "$starts_with" or op == "$ends_with":
            if isinstance(v, (list, tuple)):
                return False
            s = v if isinstance(v, str) else str(v)
            if op == "$starts_with":
                return any(s.startswith(r) for r in self.values)
            return any(s.endswith(r) for r in self.values)
        return False

    def _date(self, v: Any, kind: str, now_ms: int) -> bool:
        op = self.op
        if isinstance(v, str):
            span = _parse_when(v)
            if span is None:
                return op in _NEGATIVE
            at = span[0]
        elif _is_num(v) and kind == DATE:
            at = int(v)
        else:
            return op in _NEGATIVE
        if op in ("$is", "$in", "$is_not", "$not_in"):
            hit = any(s <= at < e for s, e in self.values)
            return hit if op in ("$is", "$in") else not hit
        if op == "$before":
            return at < self.span[0]  # type: ignore[index]
        if op == "$after":
            return at >= self.span[1]  # type: ignore[index]
        if op == "$older_than":
            return at < _minus(now_ms, self.period)  # type: ignore[arg-type]
        if op == "$newer_than":
            return at >= _minus(now_ms, self.period)  # type: ignore[arg-type]
        return False


def _compile_cond(op: Any, raw: Any, kind: str, path: str) -> _Cond:
    if not isinstance(op, str) or op not in _ops_of(kind):
        allowed = ", ".join(sorted(_ops_of(kind)))
        raise CompileError(
            path, f"unknown operator {op!r:.60} for a {kind} field (one of: {allowed})"
        )
    op = _NUM_OPS.get(op, op)
    if op in ("$is_unknown", "$has_value"):
        if raw is True or raw is None or raw == []:
            return _Cond(op, ())
        raise CompileError(path, f"{op} takes no values ([] or true)")
    if not isinstance(raw, list):
        raise CompileError(path, "the values must be a JSON array, e.g. [5]")
    if not raw:
        raise CompileError(path, f"{op} needs a value")
    if len(raw) > 1000:
        raise CompileError(path, "at most 1000 values")
    if op in _NUM_OPS.values():
        if len(raw) != 1 or not _is_num(raw[0]) or raw[0] != raw[0] or abs(raw[0]) == float("inf"):
            raise CompileError(path, f"{op} takes one number, e.g. [100]")
        return _Cond(op, (raw[0],))
    if op in _STR_OPS:
        if not all(isinstance(x, str) and x for x in raw):
            raise CompileError(path, f"{op} takes non-empty strings")
        return _Cond(op, tuple(raw))
    if op in ("$before", "$after"):
        span = _parse_when(raw[0]) if len(raw) == 1 else None
        if span is None:
            raise CompileError(
                path, f'{op} takes one ISO 8601 date or date-time, e.g. ["2024-05-01"]'
            )
        return _Cond(op, (raw[0],), span=span)
    if op in ("$older_than", "$newer_than"):
        period = _duration(raw[0]) if len(raw) == 1 else None
        if period is None:
            raise CompileError(
                path, f'{op} takes one ISO 8601 duration or a number of days, e.g. ["P30D"] or [30]'
            )
        return _Cond(op, (raw[0],), period=period)
    # $is / $in / $is_not / $not_in
    if kind == NUM:
        if not all(_is_num(x) for x in raw):
            raise CompileError(path, f"{op} on a number field takes numbers")
    elif kind == STR:
        if not all(isinstance(x, str) for x in raw):
            raise CompileError(path, f"{op} on a string field takes strings")
    elif kind == DATE:
        spans = [_parse_when(x) for x in raw]
        if any(s is None for s in spans):
            raise CompileError(path, f"{op} on a date field takes ISO 8601 dates or date-times")
        return _Cond(op, tuple(spans))
    elif not all(isinstance(x, (str, int, float)) for x in raw):
        raise CompileError(path, f"{op} takes strings, numbers or booleans")
    return _Cond(op, tuple(raw))


def _kind_of(field: str, path: str) -> str:
    kind = _ATTRIBUTES.get(field) or _METRICS.get(field)
    if kind is not None:
        return kind
    if field.startswith("metadata."):
        if len(field) == len("metadata.") or len(field) > 309:
            raise CompileError(path, "a metadata field names its key: metadata.<key>")
        return ANY
    for prefix in _WINDOWS:
        if field.startswith(prefix):
            n = field[len(prefix) :]
            if not (n.isascii() and n.isdigit() and 1 <= int(n) <= MAX_WINDOW_DAYS):
                raise CompileError(
                    path, f"the window is a number of days, 1 .. {MAX_WINDOW_DAYS}: {prefix}<N>"
                )
            return NUM
    raise CompileError(path, "unknown field (customer attributes, address.*, metadata.<key>, "
                             "summary.orders.*, loyalty.points, events.*)")  # fmt: skip


def _junction(raw: Any, path: str) -> bool:
    """True for "and" (the default), False for "or"."""
    if raw is None:
        return True
    if isinstance(raw, str) and raw.lower() in ("and", "or"):
        return raw.lower() == "and"
    raise CompileError(path, 'the junction is "and" or "or"')


# ------------------------------------------------------------------------------ filters


class _Field:
    __slots__ = ("name", "kind", "conds", "all")

    def __init__(self, name: str, kind: str, conds: list[_Cond], all_: bool) -> None:
        self.name = name
        self.kind = kind
        self.conds = conds
        self.all = all_


class Facts:
    """One customer's values of the filter fields, computed on first use."""

    __slots__ = ("customer", "metrics", "points", "now_ms", "_cache", "_days")

    def __init__(self, customer: Mapping[str, Any] | None, metrics: Mapping[str, int] | None,
                 now_ms: int, points: int | None = None) -> None:  # fmt: skip
        self.customer = customer or {}
        self.metrics = metrics or {}
        self.points = points
        self.now_ms = now_ms
        self._cache: dict[str, Any] = {}
        self._days: dict[str, dict[int, int]] | None = None

    def get(self, field: str) -> Any:
        try:
            return self._cache[field]
        except KeyError:
            v = self._cache[field] = self._compute(field)
            return v

    def _metric(self, name: str) -> int | None:
        v = self.metrics.get(name)
        return int(v) if v is not None else None

    def _compute(self, field: str) -> Any:
        c = self.customer
        if field in _ATTRIBUTES:
            if field.startswith("address."):
                addr = c.get("address")
                return addr.get(field[8:]) if isinstance(addr, Mapping) else None
            return c.get(field)
        if field.startswith("metadata."):
            md = c.get("metadata")
            return md.get(field[9:]) if isinstance(md, Mapping) else None
        if field == POINTS:
            return self.points
        count = max(0, self._metric("count") or 0)
        if field == "summary.orders.total_count":
            return count
        if field == "summary.orders.total_amount":
            return max(0, self._metric("amount") or 0)
        if field == "summary.orders.average_amount":
            return max(0, self._metric("amount") or 0) // count if count else None
        if field == "summary.orders.last_order_amount":
            return self._metric("last_order_amount")
        if field == "summary.orders.last_order_date":
            return self._metric("last_order_at") or None
        if field == "events.total_count":
            return max(0, self._metric("events") or 0)
        if field == "events.last_event_date":
            return self._metric("last_event_at") or None
        for prefix, tag in _WINDOWS.items():
            if field.startswith(prefix):
                n = int(field[len(prefix) :])
                today = day_of(self.now_ms)
                per_day = self._per_day(tag)
                return max(0, sum(v for d, v in per_day.items() if today - n < d <= today))
        return None  # pragma: no cover - compile_filter lets no other field through

    def _per_day(self, tag: str) -> dict[int, int]:
        if self._days is None:
            days: dict[str, dict[int, int]] = {"od:": {}, "oa:": {}}
            for k, v in self.metrics.items():
                head = k[:3]
                if head in days and k[3:].isdigit():
                    days[head][int(k[3:])] = int(v)
            self._days = days
        return self._days[tag]


class Filter:
    """A compiled segment filter: :meth:`matches` judges one customer at ``now_ms``."""

    __slots__ = ("fields", "all", "needs_points")

    def __init__(self, fields: list[_Field], all_: bool) -> None:
        self.fields = fields
        self.all = all_
        #: the filter reads ``loyalty.points`` (the caller should pass ``points``)
        self.needs_points = any(f.name == POINTS for f in fields)

    def judge(self, facts: Facts) -> bool:
        for f in self.fields:
            v = facts.get(f.name)
            if f.all:
                ok = all(c.holds(v, f.kind, f.name, facts.now_ms) for c in f.conds)
            else:
                ok = any(c.holds(v, f.kind, f.name, facts.now_ms) for c in f.conds)
            if ok and not self.all:
                return True
            if not ok and self.all:
                return False
        return self.all

    def matches(self, customer: Mapping[str, Any] | None, metrics: Mapping[str, int] | None,
                now_ms: int, points: int | None = None) -> bool:  # fmt: skip
        """Is this customer (stored JSON), with these metrics (the ``Pcustmetrics`` hash as
        ints) and loyalty ``points`` (None: unknown), in the segment at ``now_ms``?"""
        return self.judge(Facts(customer, metrics, now_ms, points))


def compile_filter(spec: Any, path: str = "filter") -> Filter:
    """Compile a segment filter (the shape is in the module's docstring); raise
    :class:`CompileError` naming the bad part (``path`` is the filter's own name in errors)."""
    if not isinstance(spec, Mapping):
        raise CompileError(
            path, 'a filter is an object: {"junction": "and", "<field>": {"conditions": {...}}}'
        )
    all_ = _junction(spec.get("junction"), path + ".junction")
    fields: list[_Field] = []
    for name, body in spec.items():
        if name == "junction":
            continue
        fpath = f"{path}.{name}"
        if not isinstance(name, str):  # pragma: no cover - JSON keys are strings
            raise CompileError(path, "field names are strings")
        kind = _kind_of(name, fpath)
        if not isinstance(body, Mapping) or not isinstance(body.get("conditions"), Mapping):
            raise CompileError(fpath, 'a field is {"conditions": {"<$operator>": [values]}}')
        extra = set(body) - {"conditions", "junction"}
        if extra:
            raise CompileError(
                f"{fpath}.{sorted(map(str, extra))[0]}", "unknown key (conditions, junction)"
            )
        conds = body["conditions"]
        if not conds:
            raise CompileError(fpath + ".conditions", "at least one operator")
        compiled = [
            _compile_cond(op, raw, kind, f"{fpath}.conditions.{op}") for op, raw in conds.items()
        ]
        fields.append(
            _Field(name, kind, compiled, _junction(body.get("junction"), fpath + ".junction"))
        )
    if not fields:
        raise CompileError(path, "a filter needs at least one field condition")
    if len(fields) > 100:
        raise CompileError(path, "at most 100 fields")
    return Filter(fields, all_)


def needs_points(filters: Iterable[Filter]) -> bool:
    """Does any of ``filters`` read ``loyalty.points``?"""
    return any(f.needs_points for f in filters)


def matching(segments: Iterable[tuple[str, Filter]], customer: Mapping[str, Any] | None,
             metrics: Mapping[str, int] | None, now_ms: int, points: int | None = None) -> list[str]:  # fmt: skip
    """The ids of ``segments`` (``(id, filter)`` pairs) the customer is in at ``now_ms``: one
    :class:`Facts` shared by every filter."""
    facts = Facts(customer, metrics, now_ms, points)
    return [sid for sid, f in segments if f.judge(facts)]
