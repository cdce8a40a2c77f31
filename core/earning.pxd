# C types for core/earning.py (Cython pure-Python mode: this file augments the .py).
# The checkout engine's types and evaluator are shared through its .pxd: one rule engine.
cimport cython

from core._engine cimport (
    Ctx,
    Item,
    RuleSet_,
    Ruleset,
    Window,
    _build_ctx,
    _item_matches_ids,
    _rules_fail,
    _window_error,
)


cdef class Expiry:
    cdef public int kind
    cdef public int months
    cdef public int rounding
    cdef public int rounding_month
    cdef public int fixed_month
    cdef public int fixed_day
    cdef public long long memo_day
    cdef public long long memo_ms


cdef class EarnRule:
    cdef public str id
    cdef public str campaign_id
    cdef public str event
    cdef public int kind
    cdef public long long points
    cdef public long long every
    cdef public str prop
    cdef public frozenset item_ids
    cdef public Py_ssize_t item_filter
    cdef public RuleSet_ rule
    cdef public Py_ssize_t rule_slot
    cdef public Window window
    cdef public bint timed
    cdef public bint active
    cdef public Expiry expiry
    cdef public bint own_expiry
    cdef public int pending_days
    cdef public str segment_id
    cdef public str tier_id
    cdef public str schema_id
    cdef public str banner
    cdef public long long limit
    cdef public int limit_period
    cdef public str k_limit
    cdef public object model
    cdef public bytes j_rule
    cdef public bytes j_schema


cdef class Tier:
    cdef public str id
    cdef public str name
    cdef public str campaign_id
    cdef public long long lo
    cdef public long long hi
    cdef public dict earn
    cdef public dict rewards
    cdef public bytes j_tier


cdef class Program:
    cdef public str id
    cdef public str name
    cdef public bint active
    cdef public Window window
    cdef public bint auto_join
    cdef public bint join_once
    cdef public Expiry expiry
    cdef public list tiers
    cdef public dict rules
    cdef public list assignments
    cdef public object model


cdef class Group:
    cdef public Program program
    cdef public list rules
    cdef public dict tier_maps


cdef class Assignment:
    cdef public str id
    cdef public str reward_id
    cdef public str campaign_id
    cdef public long long points
    cdef public bint auto_redeem
    cdef public object model


cdef class EarningIndex:
    cdef public long long version
    cdef public Ruleset rs
    cdef public dict programs
    cdef public dict campaign_types
    cdef public dict by_event
    cdef public dict rules
    cdef public dict tiers
    cdef public dict rewards
    cdef public dict assignments
    cdef public Py_ssize_t n_rules
    cdef public list filters
    cdef public dict filter_keys
    cdef public dict line_filters


@cython.freelist(16)
cdef class Origin:
    cdef public str event
    cdef public str related_id
    cdef public str source_id
    cdef public str order_id
    cdef public str order_source_id
    cdef public bytes j_head
    cdef public bytes j_tail
    cdef public bint custom


@cython.freelist(64)
cdef class Holding:
    cdef public str campaign_id
    cdef public str code
    cdef public Tier tier


@cython.freelist(1024)
cdef class Accrual:
    cdef public Origin origin
    cdef public Holding holding
    cdef public EarnRule rule
    cdef public long long points
    cdef public long long base_points
    cdef public long long expires_at_ms
    cdef public long long activates_at_ms
    cdef public str pending_id
    cdef public object limit


cdef class Call:
    cdef public EarningIndex ix
    cdef public Ctx ctx
    cdef public object order
    cdef public object md
    cdef public long long total
    cdef public list verdicts
    cdef public object sums


cdef class EarningPlan:
    cdef public list accruals
    cdef public list join
    cdef public list limits
    cdef public list skipped


cdef class TierStatus:
    cdef public str tier_id
    cdef public str tier_name
    cdef public str next_tier_id
    cdef public long long points_to_next


cdef bint _is_leap(long long y)
cdef int _month_len(long long y, int m)
cdef long long _days_from_civil(long long y, int m, int d)
cdef (long long, int, int) _civil(long long z)
cdef long long _last_day(Expiry ex, long long day)
cdef long long _expires_ms(Expiry ex, long long day)

cdef tuple _card(object card)
cdef long long _times(long long n, long long points)
cdef long long _per_every(object value, long long every, long long points)
cdef long long _per_amount(long long v, long long every, long long points)
cdef object _meta_value(object md, object key)
cdef long long _order_total(object order, Ctx ctx)
cdef _line_discounts(Ctx ctx, object order)
cdef _sum_lines(EarningIndex ix, Call c)
cdef tuple _line_filters(EarningIndex ix, Item item)
cdef long long _items_value(EarningIndex ix, EarnRule r, Call c)
cdef long long _base_points(EarnRule r, Call c, long long points)
cdef long long _multiply(long long base, long long millionths)
cdef long long _apply_tier(tuple mapping, long long base, EarnRule r, Call c)
cdef bint _passes(EarnRule r, Call c)
cdef str _pending_id(str campaign_id, str code, str rule_id, str key, long long now_ms)
cdef _plan_groups(EarningIndex ix, list groups, object cards, Call c, EarningPlan plan, object counters, str event_type, str related, str source_id, bint tier_event)
