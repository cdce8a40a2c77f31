"""Earning planner: the points a paid order or an event earns on each loyalty card.

Like ``_engine.py`` this one file is both the pure-Python twin and, compiled by Cython with
the C types of ``earning.pxd``, the extension ``core.earning``. It shares the checkout engine's
types and rule evaluator through the ``.pxd`` (``cimport``): an earning rule's validation rule
is compiled by the engine's ``_compile_rule`` and judged by its ``_rules_fail`` on the engine's
``Ctx``, never by a second rule engine. The compiled twin calls them in C; the pure twin is
handed the pure engine by ``core``'s loader (module global ``_ENGINE``).

No I/O and no wall clock: time comes in as ``now_ms`` (UTC epoch ms). Core decides, Lua counts:
:func:`plan_order_paid` and :func:`plan_event` return an :class:`EarningPlan` whose
:class:`Accrual` entries map one-to-one onto the wallet store's ``Credit`` op
(:meth:`Accrual.credit`), plus the per-customer limit counters to count with them.

Rules of the house kept here: points are whole; a proportional accrual is
``floor(value / every) * points``; a tier's MULTIPLY rounds down, its CUSTOM replaces the rule's
points (the FIXED points, or the points per ``every``); points are valid to the END of their
expiry day (UTC), so an accrual's ``expires_at_ms`` is 00:00 UTC of the day after.
"""

from __future__ import annotations

import array
import datetime as _dt
import hashlib
import math

import cython
import msgspec

from core.errors import CompileError

if cython.compiled:
    # the engine's Python-level compiler; its C types and evaluator come in through earning.pxd
    from core import _engine as _E
else:
    _E = globals().get("_ENGINE")  # the twin core's loader pairs with this one
    if _E is None:  # loaded some other way: still never mix with the compiled engine
        from core import _load_pure

        _E = _load_pure("_engine")
    Ctx = _E.Ctx
    Item = _E.Item
    RuleSet_ = _E.RuleSet_
    Ruleset = _E.Ruleset
    Window = _E.Window
    _build_ctx = _E._build_ctx
    _rules_fail = _E._rules_fail
    _window_error = _E._window_error
    _item_matches_ids = _E._item_matches_ids

NEVER = cython.declare(cython.longlong, -1)
DAY_MS = cython.declare(cython.longlong, 86_400_000)
#: a day no date is (Expiry's memo starts empty)
NO_DAY = cython.declare(cython.longlong, -(1 << 62))
#: most points one accrual may carry (the wallet store's MAX_POINTS)
MAX_POINTS = cython.declare(cython.longlong, 1_000_000_000_000)
#: tier multipliers are kept in millionths, so that rounding down is exact
MILLION = cython.declare(cython.longlong, 1_000_000)

ORDER_PAID = "order.paid"
SEGMENT_ENTERED = "customer.segment.entered"
TIER_EVENTS = (
    "customer.loyalty.tier.joined",
    "customer.loyalty.tier.left",
    "customer.loyalty.tier.upgraded",
    "customer.loyalty.tier.downgraded",
    "customer.loyalty.tier.prolonged",
)
ANY_TIER = "__ANY__"
LIMIT_ERROR = "earning_rule_limit_exceeded"

# calculation kinds
K_FIXED = cython.declare(cython.int, 0)
K_ORDER_AMOUNT = cython.declare(cython.int, 1)
K_ORDER_TOTAL_AMOUNT = cython.declare(cython.int, 2)
K_ORDER_METADATA = cython.declare(cython.int, 3)
K_ITEMS_QUANTITY = cython.declare(cython.int, 4)
K_ITEMS_AMOUNT = cython.declare(cython.int, 5)
K_ITEMS_SUBTOTAL = cython.declare(cython.int, 6)
K_CUSTOMER_METADATA = cython.declare(cython.int, 7)
K_EVENT_METADATA = cython.declare(cython.int, 8)
_KINDS = {
    "ORDER_AMOUNT": K_ORDER_AMOUNT,
    "ORDER_TOTAL_AMOUNT": K_ORDER_TOTAL_AMOUNT,
    "ORDER_METADATA": K_ORDER_METADATA,
    "ORDER_ITEMS_QUANTITY": K_ITEMS_QUANTITY,
    "ORDER_ITEMS_AMOUNT": K_ITEMS_AMOUNT,
    "ORDER_ITEMS_SUBTOTAL_AMOUNT": K_ITEMS_SUBTOTAL,
    "CUSTOMER_METADATA": K_CUSTOMER_METADATA,
    "CUSTOM_EVENT_METADATA": K_EVENT_METADATA,
}
#: an order.paid rule may use every calculation but the custom event's metadata
_ORDER_CALCS = frozenset(_KINDS) - {"CUSTOM_EVENT_METADATA"}
_EVENT_CALCS = frozenset(("CUSTOM_EVENT_METADATA", "CUSTOMER_METADATA"))
_SEGMENT_CALCS = frozenset(("CUSTOMER_METADATA",))

# tier mapping kinds
M_MULTIPLY = cython.declare(cython.int, 1)
M_CUSTOM = cython.declare(cython.int, 2)

# expiry kinds and roundings
X_MONTH = cython.declare(cython.int, 1)
X_FIXED_DAY = cython.declare(cython.int, 2)
R_NONE = cython.declare(cython.int, 0)
R_MONTH = cython.declare(cython.int, 1)
R_QUARTER = cython.declare(cython.int, 2)
R_HALF_YEAR = cython.declare(cython.int, 3)
R_YEAR = cython.declare(cython.int, 4)
R_PARTICULAR = cython.declare(cython.int, 5)
_ROUNDINGS = {
    None: R_NONE,
    "END_OF_MONTH": R_MONTH,
    "END_OF_QUARTER": R_QUARTER,
    "END_OF_HALF_YEAR": R_HALF_YEAR,
    "END_OF_YEAR": R_YEAR,
    "PARTICULAR_MONTH": R_PARTICULAR,
}

# limit periods
L_EVER = cython.declare(cython.int, 0)
L_DAY = cython.declare(cython.int, 1)
L_WEEK = cython.declare(cython.int, 2)
L_MONTH = cython.declare(cython.int, 3)
_PERIODS = {None: L_EVER, "DAY": L_DAY, "WEEK": L_WEEK, "MONTH": L_MONTH}


# ----------------------------------------------------------------------------- calendar


def _is_leap(y: cython.longlong) -> cython.bint:
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def _month_len(y: cython.longlong, m: cython.int) -> cython.int:
    if m == 2:
        return 29 if _is_leap(y) else 28
    if m == 4 or m == 6 or m == 9 or m == 11:
        return 30
    return 31


def _days_from_civil(y: cython.longlong, m: cython.int, d: cython.int) -> cython.longlong:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    if m <= 2:
        y -= 1
    era: cython.longlong = (y if y >= 0 else y - 399) // 400
    yoe: cython.longlong = y - era * 400
    doy: cython.longlong = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe: cython.longlong = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil(z: cython.longlong):
    """``(year, month, day)`` of day ``z`` since 1970-01-01."""
    z += 719468
    era: cython.longlong = (z if z >= 0 else z - 146096) // 146097
    doe: cython.longlong = z - era * 146097
    yoe: cython.longlong = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y: cython.longlong = yoe + era * 400
    doy: cython.longlong = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp: cython.longlong = (5 * doy + 2) // 153
    d: cython.int = doy - (153 * mp + 2) // 5 + 1
    m: cython.int = mp + 3 if mp < 10 else mp - 9
    if m <= 2:
        y += 1
    return y, m, d


class Expiry:
    """Compiled ``ExpirationRules``."""

    def __init__(self, kind, months, rounding, rounding_month, fixed_month, fixed_day):
        self.kind = kind
        self.months = months
        self.rounding = rounding
        self.rounding_month = rounding_month
        self.fixed_month = fixed_month
        self.fixed_day = fixed_day
        # the last day asked and its answer: a call's accruals all ask for the same day
        self.memo_day = NO_DAY
        self.memo_ms = NEVER


def _expiry(rules):
    if rules is None:
        return None
    if rules.period_type == "MONTH":
        return Expiry(
            X_MONTH,
            rules.period_value,
            _ROUNDINGS[rules.rounding_type],
            rules.rounding_value or 0,
            0,
            0,
        )
    return Expiry(X_FIXED_DAY, 0, R_NONE, 0, rules.fixed_month, rules.fixed_day)


def _last_day(ex, day: cython.longlong) -> cython.longlong:
    """The last day (days since the epoch) points earned on ``day`` may be spent."""
    y: cython.longlong
    m: cython.int
    d: cython.int
    y, m, d = _civil(day)
    y2: cython.longlong
    m2: cython.int
    d2: cython.int
    if ex.kind == X_FIXED_DAY:
        d2 = min(ex.fixed_day, _month_len(y, ex.fixed_month))
        out: cython.longlong = _days_from_civil(y, ex.fixed_month, d2)
        if out < day:
            d2 = min(ex.fixed_day, _month_len(y + 1, ex.fixed_month))
            out = _days_from_civil(y + 1, ex.fixed_month, d2)
        return out
    t: cython.longlong = m - 1 + ex.months
    y2 = y + t // 12
    m2 = t % 12 + 1
    r: cython.int = ex.rounding
    if r == R_NONE:
        d2 = min(d, _month_len(y2, m2))
    elif r == R_MONTH:
        d2 = _month_len(y2, m2)
    elif r == R_QUARTER:
        m2 = ((m2 - 1) // 3) * 3 + 3
        d2 = _month_len(y2, m2)
    elif r == R_HALF_YEAR:
        m2 = 6 if m2 <= 6 else 12
        d2 = _month_len(y2, m2)
    elif r == R_YEAR:
        m2 = 12
        d2 = 31
    else:  # PARTICULAR_MONTH: the end of the next such month, on or after
        if ex.rounding_month < m2:
            y2 += 1
        m2 = ex.rounding_month
        d2 = _month_len(y2, m2)
    return _days_from_civil(y2, m2, d2)


def _expires_ms(ex, day: cython.longlong) -> cython.longlong:
    """00:00 UTC after the last day of points earned on ``day`` (NEVER: ``ex`` is None)."""
    if ex is None:
        return NEVER
    e: Expiry = ex
    if e.memo_day != day:
        e.memo_ms = (_last_day(e, day) + 1) * DAY_MS
        e.memo_day = day
    return e.memo_ms


def expiry_date(rules, earned):
    """The last day (a ``datetime.date``) on which points earned (or activated) on the date
    ``earned`` can be spent under ``rules`` (a ``core.model.ExpirationRules``); None = never."""
    ex = _expiry(rules)
    if ex is None:
        return None
    day = _days_from_civil(earned.year, earned.month, earned.day)
    return _dt.date(1970, 1, 1) + _dt.timedelta(days=_last_day(ex, day))


def expires_at_ms(rules, from_ms: cython.longlong):
    """When points earned (or activated) at ``from_ms`` leave the balance under ``rules``:
    00:00 UTC after their last day, in epoch ms; None = never."""
    ex = _expiry(rules)
    if ex is None:
        return None
    return _expires_ms(ex, from_ms // DAY_MS)


# ----------------------------------------------------------------------------- compiled index


class EarnRule:
    """One compiled earning rule."""

    def __init__(self):
        self.id = ""
        self.campaign_id = ""
        self.event = ""
        self.kind = K_FIXED
        self.points = 0
        self.every = 1
        self.prop = ""
        self.item_ids = None  # frozenset of ids (products, SKUs, collections), None = every item
        self.item_filter = -1  # its index in EarningIndex.filters; -1 = every item
        self.rule = None  # the engine's RuleSet_ of validation_rule_id
        self.rule_slot = -1  # where a call keeps that rule's verdict
        self.window = None
        self.timed = False  # the window restricts something (else it need not be checked)
        self.active = True
        self.expiry = None  # own expiration_rules, else the program's
        self.own_expiry = False
        self.pending_days = 0
        self.segment_id = ""
        self.tier_id = ""
        self.schema_id = ""
        self.banner = ""
        self.limit = NEVER
        self.limit_period = L_EVER
        self.k_limit = ""
        self.model = None
        # its part of an accrual's details JSON (see Accrual.details_json): the earning rule,
        # and the event schema (written for a custom event only)
        self.j_rule = b""
        self.j_schema = b""


class Tier:
    def __init__(self, tid, name, campaign_id, lo, hi, earn, rewards):
        self.id = tid
        self.name = name
        self.campaign_id = campaign_id
        self.lo = lo
        self.hi = hi  # NEVER = no upper bound
        self.earn = earn  # ern id -> (M_MULTIPLY, millionths) | (M_CUSTOM, points)
        self.rewards = rewards  # rewa id -> the same
        j = msgspec.json.encode({"id": tid, "name": name})
        self.j_tier = b',"loyalty_tier":' + j + b',"holder_loyalty_tier":' + j


class Program:
    """A loyalty campaign as the planner needs it."""

    def __init__(self):
        self.id = ""
        self.name = ""
        self.active = True
        self.window = None
        self.auto_join = False
        self.join_once = True
        self.expiry = None
        self.tiers = []  # sorted by points.from
        self.rules = {}  # ern id -> EarnRule
        self.assignments = []  # Assignment, in definition order
        self.model = None


class Group:
    """The rules of one program for one event, in definition order, and for each tier of the
    program the tier's mappings of those rules (aligned with ``rules``, None where unmapped)."""

    def __init__(self, program):
        self.program = program
        self.rules = []
        self.tier_maps = {}  # tier id -> [mapping | None]


class Assignment:
    def __init__(self, aid, reward_id, campaign_id, points, auto_redeem, model):
        self.id = aid
        self.reward_id = reward_id
        self.campaign_id = campaign_id
        self.points = points  # NEVER for COIN (no price)
        self.auto_redeem = auto_redeem
        self.model = model


class EarningIndex:
    """The loyalty part of a ruleset, immutable once built by :func:`compile_earning`."""

    def __init__(self):
        self.version = 0
        self.rs = None  # the engine's Ruleset: the catalogue order lines are matched with
        self.programs = {}  # campaign id -> Program
        self.campaign_types = {}  # campaign id -> campaign_type, of every campaign
        self.by_event = {}  # event name -> [Group]
        self.rules = {}  # ern id -> EarnRule
        self.tiers = {}  # ltr id -> Tier
        self.rewards = {}  # rew id -> core.model.Reward
        self.assignments = {}  # rewa id -> Assignment
        self.n_rules = 0  # distinct validation rules of the earning rules
        self.filters = []  # the distinct item filters (frozensets) of items calculations
        self.filter_keys = {}  # product / SKU / collection id -> indexes of the filters naming it
        # an order line's ids -> the filters it counts in (its groups follow from its ids and
        # the catalogue): a memo of what filter_keys says, filled as lines are seen
        self.line_filters = {}

    @property
    def events(self) -> list:
        """Event names some earning rule listens to."""
        return sorted(self.by_event)


def compile_earning(defs) -> EarningIndex:
    """Compile the loyalty part of ``core.model.Definitions``: programs, earning rules (their
    validation rules through the checkout engine's compiler), tiers, rewards, assignments.

    Raises ``CompileError(path, reason)`` for what types cannot catch: unknown or wrong-type
    campaigns, calculations that do not fit the event, missing blocks, ``every`` <= 0, tier
    mappings of unknown rules or assignments, overlapping tiers, rewards that reward their own
    program...
    """
    ix = EarningIndex()
    ix.version = defs.version
    rs = _E.Ruleset()
    _E.index_catalogue(rs, defs.products)
    ix.rs = rs
    campaigns = {}
    for i, c in enumerate(defs.campaigns):
        if c.id in campaigns:
            raise CompileError(f"campaigns[{i}].id", f"duplicate id {c.id!r}")
        campaigns[c.id] = c
        ix.campaign_types[c.id] = c.campaign_type
        if c.campaign_type == "LOYALTY_PROGRAM":
            ix.programs[c.id] = _program(c, f"campaigns[{i}]")
    vrules = {}
    for j, vr in enumerate(defs.validation_rules):
        vrules.setdefault(vr.id, (j, vr))
    _compile_referrals(defs, campaigns)
    _compile_rewards(ix, defs, campaigns)
    _compile_assignments(ix, defs, campaigns)
    compiled_vr = {}  # validation rule id -> (the engine's RuleSet_, its verdict slot)
    for i, er in enumerate(defs.earning_rules):
        r = _earn_rule(ix, er, f"earning_rules[{i}]", vrules, compiled_vr)
        p = ix.programs[r.campaign_id]
        p.rules[r.id] = r
        ix.rules[r.id] = r
        groups = ix.by_event.setdefault(r.event, [])
        for g in groups:
            if g.program is p:
                g.rules.append(r)
                break
        else:
            g = Group(p)
            g.rules.append(r)
            groups.append(g)
    ix.n_rules = len(compiled_vr)
    _compile_tiers(ix, defs)
    for i, er in enumerate(defs.earning_rules):
        r = ix.rules[er.id]
        if r.tier_id and r.tier_id != ANY_TIER:
            t = ix.tiers.get(r.tier_id)
            if t is None or t.campaign_id != r.campaign_id:
                raise CompileError(
                    f"earning_rules[{i}].loyalty_tier.id",
                    f"unknown tier {r.tier_id!r} of campaign {r.campaign_id!r}",
                )
    return ix


def _not_loyalty(ix, cid) -> str:
    ctype = ix.campaign_types.get(cid)
    if ctype is None:
        return f"unknown campaign {cid!r}"
    return f"campaign {cid!r} is {ctype}, not a LOYALTY_PROGRAM"


def _program(c, path) -> Program:
    p = Program()
    p.id = c.id
    p.name = c.name
    p.active = c.active
    p.window = _E._window(c, path, c.validity_timeframe, c.validity_day_of_week, c.validity_hours)
    p.auto_join = c.auto_join is True
    p.join_once = c.join_once is not False
    lc = c.voucher.loyalty_card if c.voucher is not None else None
    p.expiry = _expiry(lc.expiration_rules if lc is not None else None)
    p.model = c
    return p


def _earn_rule(ix, er, path, vrules, compiled_vr) -> EarnRule:
    if er.id in ix.rules:
        raise CompileError(path + ".id", f"duplicate id {er.id!r}")
    p = ix.programs.get(er.campaign_id)
    if p is None:
        raise CompileError(path + ".campaign_id", _not_loyalty(ix, er.campaign_id))
    r = EarnRule()
    r.id = er.id
    r.campaign_id = er.campaign_id
    r.event = er.event
    r.model = er
    r.active = er.is_active
    ev = er.event
    lo = er.loyalty
    if ev == ORDER_PAID:
        allowed = _ORDER_CALCS
    elif ev == SEGMENT_ENTERED:
        allowed = _SEGMENT_CALCS
        if er.segment is None:
            raise CompileError(path + ".segment", f"a {ev} rule needs `segment.id`")
        r.segment_id = er.segment.id
    elif ev in TIER_EVENTS:
        allowed = frozenset()
        if er.loyalty_tier is None:
            raise CompileError(
                path + ".loyalty_tier", f"a {ev} rule needs `loyalty_tier.id` (a tier or __ANY__)"
            )
        r.tier_id = er.loyalty_tier.id
    elif ev.startswith(("order.", "customer.")):
        raise CompileError(
            path + ".event",
            f"unknown event {ev!r}: order.paid, customer.segment.entered, "
            "customer.loyalty.tier.* or a custom event name",
        )
    else:
        allowed = _EVENT_CALCS
        if er.custom_event is not None and er.custom_event.schema_id:
            r.schema_id = er.custom_event.schema_id
    if lo.type == "FIXED":
        if lo.points is None:
            why = "`points_formula` is not supported: give `points`" if lo.points_formula else (
                "a FIXED rule needs `points`"
            )
            raise CompileError(path + ".loyalty.points", why)
        r.kind = K_FIXED
        r.points = lo.points
    else:
        ct = lo.calculation_type
        if ct is None:
            raise CompileError(path + ".loyalty.calculation_type", "a PROPORTIONAL rule needs it")
        if ct not in allowed:
            what = "only FIXED" if not allowed else ", ".join(sorted(allowed))
            raise CompileError(
                path + ".loyalty.calculation_type", f"{ct} cannot earn on {ev}: {what}"
            )
        where, block = lo.block()
        bpath = f"{path}.loyalty.{where}"
        if block is None:
            raise CompileError(bpath, f"a {ct} rule needs `loyalty.{where}`")
        if block.every is None or block.every <= 0:
            raise CompileError(bpath + ".every", "`every` must be a whole number >= 1")
        if block.points is None:
            why = "`points_formula` is not supported: give `points`" if block.points_formula else (
                "`points` is required"
            )
            raise CompileError(bpath + ".points", why)
        r.kind = _KINDS[ct]
        r.every = block.every
        r.points = block.points
        if r.kind in (K_ORDER_METADATA, K_CUSTOMER_METADATA, K_EVENT_METADATA):
            if not block.property:
                raise CompileError(bpath + ".property", "the metadata key is required")
            r.prop = block.property
        elif r.kind in (K_ITEMS_QUANTITY, K_ITEMS_AMOUNT, K_ITEMS_SUBTOTAL):
            ids = set()
            if block.object is not None or block.id is not None:
                if block.object is None or block.id is None:
                    raise CompileError(bpath, "`object` and `id` go together")
                ids.add(block.id)
            for t in block.applicable_to or ():
                ids.add(t.id)
            r.item_ids, r.item_filter = _item_filter(ix, ids)
    if er.validation_rule_id is not None:
        rid = er.validation_rule_id
        known = compiled_vr.get(rid)
        if known is None:
            found = vrules.get(rid)
            if found is None:
                raise CompileError(path + ".validation_rule_id", f"unknown validation rule {rid!r}")
            known = (_E._compile_rule(found[1], f"validation_rules[{found[0]}]"), len(compiled_vr))
            compiled_vr[rid] = known
        rr, r.rule_slot = known
        ctx = vrules[rid][1].context_type
        if ctx and ctx != "global" and not _context_fits(ctx, ev):
            raise CompileError(
                path + ".validation_rule_id",
                f"validation rule {rid!r} judges {ctx!r}, not the {_context_of(ev)!r} of this rule",
            )
        if rr.limits:
            raise CompileError(
                path + ".validation_rule_id",
                f"validation rule {rid!r} counts redemptions, which earning does not: "
                "use the rule's `limits`",
            )
        r.rule = rr
    hours, hour_days = er.hours()
    days = er.validity_day_of_week or hour_days
    r.window = w = _E._window(er, path, er.validity_timeframe, days, hours)
    r.timed = bool(w.start != NEVER or w.end != NEVER or w.days or w.hours or w.interval)
    if er.expiration_rules is not None:
        r.expiry = _expiry(er.expiration_rules)
        r.own_expiry = True
    else:
        r.expiry = p.expiry
    if er.pending_points is not None:
        if ev != ORDER_PAID:
            raise CompileError(path + ".pending_points", "only order.paid rules have pending points")
        r.pending_days = er.pending_points.period_value
    if er.source is not None and er.source.banner:
        r.banner = er.source.banner
    lim = er.limits.per_customer if er.limits is not None else None
    if lim is not None:
        r.limit = lim.count
        r.limit_period = _PERIODS[lim.period]
        r.k_limit = "{c:" + r.campaign_id + "}:ern:" + r.id + ":c:"
    r.j_rule = b',"earning_rule":' + msgspec.json.encode(
        {"id": r.id, "source": {"banner": r.banner}}
    )
    if r.schema_id:
        r.j_schema = b',"event_schema":' + msgspec.json.encode({"id": r.schema_id})
    return r


def _context_of(ev) -> str:
    """The validation-rule context of an earning rule's event (Voucherify's ``context_type``)."""
    if ev == ORDER_PAID:
        return "earning_rule.order.paid"
    if ev == SEGMENT_ENTERED:
        return "earning_rule.customer.segment.entered"
    if ev in TIER_EVENTS:
        return "earning_rule.customer.tier"
    return "earning_rule.custom_event"


def _context_fits(ctx, ev) -> cython.bint:
    want = _context_of(ev)
    return ctx == want or (want == "earning_rule.customer.tier" and ctx.startswith(want))


def _item_filter(ix, ids):
    """``(frozenset, index)`` of an item filter, filed once per distinct filter: a call sums
    the order's lines into every filter at once, in one pass over the lines."""
    if not ids:
        return None, -1
    fs = frozenset(ids)
    for i, known in enumerate(ix.filters):
        if known == fs:
            return known, i
    i = len(ix.filters)
    ix.filters.append(fs)
    for k in fs:
        ix.filter_keys[k] = ix.filter_keys.get(k, ()) + (i,)
    return fs, i


def _mapping(mp):
    if mp.type == "MULTIPLY":
        return (M_MULTIPLY, round(mp.multiplier * MILLION))
    return (M_CUSTOM, mp.points)


def _compile_tiers(ix, defs):
    by_campaign = {}
    for i, t in enumerate(defs.loyalty_tiers):
        path = f"loyalty_tiers[{i}]"
        if t.id in ix.tiers:
            raise CompileError(path + ".id", f"duplicate id {t.id!r}")
        p = ix.programs.get(t.campaign_id)
        if p is None:
            raise CompileError(path + ".campaign_id", _not_loyalty(ix, t.campaign_id))
        earn = {}
        for ern_id, mp in (t.earning_rules or {}).items():
            r = ix.rules.get(ern_id)
            if r is None or r.campaign_id != t.campaign_id:
                raise CompileError(
                    f"{path}.earning_rules.{ern_id}",
                    f"unknown earning rule {ern_id!r} of campaign {t.campaign_id!r}",
                )
            earn[ern_id] = _mapping(mp)
        rewards = {}
        for rewa_id, mp in (t.rewards or {}).items():
            a = ix.assignments.get(rewa_id)
            if a is None or a.campaign_id != t.campaign_id:
                raise CompileError(
                    f"{path}.rewards.{rewa_id}",
                    f"unknown reward assignment {rewa_id!r} of campaign {t.campaign_id!r}",
                )
            if a.points == NEVER:
                raise CompileError(f"{path}.rewards.{rewa_id}", "a COIN reward has no price to map")
            rewards[rewa_id] = _mapping(mp)
        hi = t.points.to if t.points.to is not None else NEVER
        tier = Tier(t.id, t.name or "", t.campaign_id, t.points.from_, hi, earn, rewards)
        for j, other in by_campaign.get(t.campaign_id, ()):
            if (other.hi == NEVER or tier.lo <= other.hi) and (hi == NEVER or other.lo <= hi):
                raise CompileError(
                    path + ".points",
                    f"points {_range(tier)} overlap tier {other.id!r} ({_range(other)}, "
                    f"loyalty_tiers[{j}])",
                )
        by_campaign.setdefault(t.campaign_id, []).append((i, tier))
        ix.tiers[t.id] = tier
    for cid, tiers in by_campaign.items():
        ix.programs[cid].tiers = sorted((t for _, t in tiers), key=_tier_from)
    for groups in ix.by_event.values():
        for g in groups:
            for t in g.program.tiers:
                maps = [t.earn.get(r.id) for r in g.rules]
                if any(mp is not None for mp in maps):
                    g.tier_maps[t.id] = maps


def _tier_from(t):
    return t.lo


def _range(t) -> str:
    return f"{t.lo}-{t.hi}" if t.hi != NEVER else f"{t.lo}+"


_REWARD_CAMPAIGN_TYPES = ("DISCOUNT_COUPONS", "GIFT_VOUCHERS", "LOYALTY_PROGRAM")


#: the campaign type a referee reward of each kind credits
_REFEREE_PARENTS = {"LOYALTY_CARD": "LOYALTY_PROGRAM", "GIFT_VOUCHER": "GIFT_VOUCHERS"}


def _compile_referrals(defs, campaigns):
    """A referral programme's referee reward credits a card of an existing campaign of the
    kind its ``type`` names."""
    for i, c in enumerate(defs.campaigns):
        rp = c.referral_program
        if rp is None:
            continue
        # a tier names rewards; one pays once it is also assigned to the campaign (a tier may
        # be written before its rewards are assigned: core.referrals.referrer_rewards)
        known = {r.id for r in defs.rewards}
        for j, t in enumerate(rp.referral_tiers or ()):
            for k, rid in enumerate(t.rewards):
                if rid not in known:
                    raise CompileError(
                        f"campaigns[{i}].referral_program.referral_tiers[{j}].rewards[{k}]",
                        f"unknown reward {rid!r}",
                    )
        if rp.referee_reward is None:
            continue
        rr = rp.referee_reward
        path = f"campaigns[{i}].referral_program.referee_reward.related_object_parent.id"
        parent = campaigns.get(rr.related_object_parent.id)
        want = _REFEREE_PARENTS[rr.type]
        if parent is None:
            raise CompileError(path, f"unknown campaign {rr.related_object_parent.id!r}")
        if parent.campaign_type != want:
            raise CompileError(
                path, f"a {rr.type} referee reward credits a {want} campaign, not {parent.campaign_type}"
            )


def _compile_rewards(ix, defs, campaigns):
    for i, rw in enumerate(defs.rewards):
        path = f"rewards[{i}]"
        if rw.id in ix.rewards:
            raise CompileError(path + ".id", f"duplicate id {rw.id!r}")
        pc = rw.parameters.campaign
        if pc is not None:
            c = campaigns.get(pc.id)
            cpath = path + ".parameters.campaign"
            if c is None:
                raise CompileError(cpath + ".id", f"unknown campaign {pc.id!r}")
            if c.campaign_type not in _REWARD_CAMPAIGN_TYPES:
                raise CompileError(
                    cpath + ".id",
                    f"a reward gives a code of a DISCOUNT_COUPONS campaign, or credits a "
                    f"GIFT_VOUCHERS or LOYALTY_PROGRAM card; {pc.id!r} is {c.campaign_type}",
                )
            if c.campaign_type != "DISCOUNT_COUPONS" and not pc.balance:
                unit = "cents" if c.campaign_type == "GIFT_VOUCHERS" else "points"
                raise CompileError(cpath + ".balance", f"needs a balance > 0 ({unit})")
        ix.rewards[rw.id] = rw


def _compile_assignments(ix, defs, campaigns):
    seen = {}
    auto = {}
    for i, a in enumerate(defs.reward_assignments):
        path = f"reward_assignments[{i}]"
        if a.id in ix.assignments:
            raise CompileError(path + ".id", f"duplicate id {a.id!r}")
        rw = ix.rewards.get(a.reward_id)
        if rw is None:
            raise CompileError(path + ".reward_id", f"unknown reward {a.reward_id!r}")
        c = campaigns.get(a.campaign_id)
        if c is None or c.campaign_type not in ("LOYALTY_PROGRAM", "REFERRAL_PROGRAM"):
            what = "unknown campaign" if c is None else f"{c.campaign_type} campaign"
            raise CompileError(
                path + ".campaign_id",
                f"{what} {a.campaign_id!r}: rewards are assigned to loyalty or referral programs",
            )
        key = (a.reward_id, a.campaign_id)
        if key in seen:
            raise CompileError(
                path + ".reward_id",
                f"reward {a.reward_id!r} is already assigned to {a.campaign_id!r} ({seen[key]!r})",
            )
        seen[key] = a.id
        pc = rw.parameters.campaign
        if pc is not None and pc.id == a.campaign_id:
            raise CompileError(
                path + ".reward_id", f"reward {a.reward_id!r} credits campaign {pc.id!r} itself"
            )
        loyalty = c.campaign_type == "LOYALTY_PROGRAM"
        if rw.type == "COIN":
            if not loyalty:
                raise CompileError(path + ".reward_id", "a COIN reward pays with loyalty points only")
            if a.points is not None:
                raise CompileError(path + ".points", "a COIN reward is priced by its `points_ratio`")
            if a.auto_redeem:
                raise CompileError(path + ".auto_redeem", "a COIN reward cannot be auto-redeemed")
        elif loyalty and a.points is None:
            raise CompileError(path + ".points", "the reward's price in points is required")
        if a.auto_redeem:
            if a.campaign_id in auto:
                raise CompileError(
                    path + ".auto_redeem",
                    f"campaign {a.campaign_id!r} already auto-redeems {auto[a.campaign_id]!r}",
                )
            auto[a.campaign_id] = a.id
        asg = Assignment(
            a.id,
            a.reward_id,
            a.campaign_id,
            a.points if a.points is not None else NEVER,
            a.auto_redeem is True,
            a,
        )
        ix.assignments[a.id] = asg
        p = ix.programs.get(a.campaign_id)
        if p is not None:
            p.assignments.append(asg)


# ----------------------------------------------------------------------------- plans


class Origin:
    """What the accruals of one planning call share: the event and where it comes from
    (``related_id``: the segment entered, the tier of a tier event, the custom event's name),
    and the JSON text their transactions' ``details`` open and close with (built once, when the
    first accrual's details are asked for)."""

    def __init__(self, event, related_id, source_id, order_id, order_source_id):
        self.event = event
        self.related_id = related_id
        self.source_id = source_id  # the order's id / source_id, or the event's id
        self.order_id = order_id
        self.order_source_id = order_source_id
        self.j_head = b""
        self.j_tail = b""
        self.custom = event == "customer.custom_event"

    def json_parts(self):
        if not self.j_head:
            d = {}
            if self.order_id or self.order_source_id:
                d["order"] = {"id": self.order_id or None, "source_id": self.order_source_id or None}
            ev = {"type": self.event}
            if self.event in TIER_EVENTS:
                ev["loyalty_tier"] = {"id": self.related_id}
            d["event"] = ev
            self.j_head = msgspec.json.encode(d)[:-1]  # without its closing brace
            if self.event == SEGMENT_ENTERED:
                self.j_tail = b',"segment":' + msgspec.json.encode({"id": self.related_id})
            elif self.custom:
                self.j_tail = b',"custom_event":' + msgspec.json.encode({"type": self.related_id})
        return self.j_head, self.j_tail


class Holding:
    """The card of one program a call plans for, and the tier it is in (or None)."""

    def __init__(self, campaign_id, code, tier):
        self.campaign_id = campaign_id
        self.code = code
        self.tier = tier


class Accrual:
    """Points one earning rule gives one card: a ``Credit`` of the wallet store (see
    :meth:`credit`). ``expires_at_ms`` / ``activates_at_ms`` are NEVER (-1) when the points
    never expire / are active at once. What the accruals of a call share is held once, by their
    :class:`Origin` (the event), :class:`Holding` (the card) and ``EarnRule``; the attributes
    below read it from there."""

    def __init__(self):
        self.origin = None
        self.holding = None
        self.rule = None
        self.points = 0
        self.base_points = 0  # before the tier's mapping
        self.expires_at_ms = NEVER
        self.activates_at_ms = NEVER
        self.pending_id = ""
        self.limit = None  # the counter op (key, 1, limit, error, ttl, 0) counted with it

    @property
    def pending(self) -> bool:
        return self.activates_at_ms != NEVER

    @property
    def campaign_id(self) -> str:
        return self.holding.campaign_id

    @property
    def code(self) -> str:
        return self.holding.code

    @property
    def tier_id(self) -> str:
        return self.holding.tier.id if self.holding.tier is not None else ""

    @property
    def tier_name(self) -> str:
        return self.holding.tier.name if self.holding.tier is not None else ""

    @property
    def rule_id(self) -> str:
        return self.rule.id

    @property
    def banner(self) -> str:
        return self.rule.banner

    @property
    def schema_id(self) -> str:
        return self.rule.schema_id

    @property
    def event(self) -> str:
        """The event type written in the transaction's details."""
        return self.origin.event

    @property
    def related_id(self) -> str:
        return self.origin.related_id

    @property
    def source_id(self) -> str:
        return self.origin.source_id

    @property
    def order_id(self) -> str:
        return self.origin.order_id

    @property
    def order_source_id(self) -> str:
        return self.origin.order_source_id

    def details(self) -> dict:
        """The transaction's ``details`` in Voucherify's shape (as a dict; the wallet is given
        :meth:`details_json`, the same text)."""
        return msgspec.json.decode(self.details_json())

    def details_json(self) -> bytes:
        """The transaction's ``details`` as JSON text: the event's opening (order, event), the
        rule, the card's tier, the event's closing (segment, custom event, event schema), each
        encoded once per call or per definition and joined here."""
        o: Origin = self.origin
        r: EarnRule = self.rule
        t: Tier = self.holding.tier
        head, tail = o.json_parts()
        out = head + r.j_rule
        if t is not None:
            out += t.j_tier
        if tail:
            out += tail
            if o.custom:
                out += r.j_schema
        return out + b"}"

    def credit(self) -> dict:
        """Keyword arguments of the wallet store's ``Credit`` op (details JSON-encoded)."""
        out = {
            "campaign_id": self.holding.campaign_id,
            "code": self.holding.code,
            "points": self.points,
            "type": "POINTS_ACCRUAL",
            "expires_at_ms": None if self.expires_at_ms == NEVER else self.expires_at_ms,
            "source_id": self.origin.source_id,
            "details": self.details_json(),
        }
        if self.activates_at_ms != NEVER:
            out["pending_id"] = self.pending_id
            out["activates_at_ms"] = self.activates_at_ms
        return out


class EarningPlan:
    """What one paid order or event earns.

    ``accruals``: one per (card, matching rule), in program then rule order. ``join``: programs
    (campaign ids) with ``auto_join`` where the customer has no card: publish one and plan
    again. ``limits``: the per-customer counter ops of the accruals' rules, to count in the same
    atomic call (``(key, delta, limit, error, ttl, hold)`` as the checkout plan). ``skipped``:
    ``(campaign_id, rule_id, reason)`` of rules left out by a limit already reached
    (``limit_reached``, with ``counters``) or that cannot count without a customer
    (``missing_customer``).
    """

    def __init__(self):
        self.accruals = []
        self.join = []
        self.limits = []
        self.skipped = []

    @property
    def total_points(self) -> int:
        return sum(a.points for a in self.accruals)

    def keys(self) -> list:
        """The counter keys the plan's limits read (to fetch before planning with them)."""
        return [op[0] for op in self.limits]

    def credits(self) -> list:
        return [a.credit() for a in self.accruals]


def _card(card):
    """``(code, tier id)`` of a ``cards`` value: a code, or a ``(code, tier id or None)`` pair."""
    if isinstance(card, str):
        return card, ""
    code = card[0]
    tier = card[1] if len(card) > 1 else None
    if not isinstance(code, str) or not (tier is None or isinstance(tier, str)):
        raise TypeError(f"a card is its code or a (code, tier id or None) pair, got {card!r}")
    return code, tier or ""


def _times(n: cython.longlong, points: cython.longlong) -> cython.longlong:
    if n <= 0 or points <= 0:
        return 0
    if n > MAX_POINTS // points:
        return MAX_POINTS
    return n * points


def _per_every(value, every: cython.longlong, points: cython.longlong) -> cython.longlong:
    """``floor(value / every) * points`` of a number (int, float or numeric string), else 0."""
    if value is None or isinstance(value, bool):
        return 0
    if isinstance(value, int):
        if value <= 0:
            return 0
        q = value // every  # a Python int: no overflow however large the value
        return _times(q if q < MAX_POINTS else MAX_POINTS, points)
    x: cython.double
    if isinstance(value, float):
        x = value
    elif isinstance(value, str):
        try:
            x = float(value)
        except ValueError:
            return 0
    else:
        return 0
    if not math.isfinite(x) or x <= 0:
        return 0
    fq: cython.double = x / every
    if fq >= MAX_POINTS:
        return _times(MAX_POINTS, points)
    return _times(int(fq), points)  # x > 0: truncating is rounding down


def _per_amount(v: cython.longlong, every: cython.longlong, points: cython.longlong) -> cython.longlong:
    """``floor(v / every) * points`` of a whole amount or quantity."""
    if v <= 0:
        return 0
    return _times(v // every, points)


def _meta_value(md, key):
    if md is None:
        return None
    return md.get(key)


class Call:
    """What one planning call shares between rules: the engine's context, the event's data,
    each validation rule's verdict (judged once per call)."""

    def __init__(self, ix, ctx, order, md):
        self.ix = ix
        self.ctx = ctx
        self.order = order
        self.md = md
        self.total = 0
        self.verdicts = [None] * ix.n_rules  # by EarnRule.rule_slot
        # per item filter (and, last, every line) the quantity, then the amount, then the
        # subtotal of the lines it counts: filled on first use (see _sum_lines)
        self.sums = None


def _order_total(order, ctx: Ctx) -> cython.longlong:
    if order.total_amount is not None:
        return order.total_amount
    disc: cython.longlong
    if order.total_discount_amount is not None:
        disc = order.total_discount_amount
    else:
        disc = (order.discount_amount or 0) + (order.items_discount_amount or 0)
    total: cython.longlong = ctx.initial_amount - disc
    return total if total > 0 else 0


def _line_discounts(ctx: Ctx, order) -> None:
    """Set each line's ``discount`` (the engine's Item field) to what the order says it got:
    ``amount - subtotal_amount``, else its ``discount_amount``; never above its amount."""
    raw = order.items
    n: cython.Py_ssize_t = len(ctx.items)
    i: cython.Py_ssize_t
    for i in range(n):
        item: Item = ctx.items[i]
        it = raw[i]
        d: cython.longlong
        if it.subtotal_amount is not None:
            d = item.amount - it.subtotal_amount
        elif it.discount_amount is not None:
            d = it.discount_amount
        else:
            d = 0
        item.discount = d if d < item.amount else item.amount


def _sum_lines(ix: EarningIndex, c: Call) -> None:
    """Quantity, amount and subtotal (amount - discount) of the order's lines, into each item
    filter that matches them (by product, SKU, their source ids, collections, categories) and,
    in the last slot, for every line. Free lines (nothing left to pay) count no quantity. One
    array: ``[quantities | amounts | subtotals]``, ``len(ix.filters) + 1`` slots each."""
    ctx: Ctx = c.ctx
    nf: cython.Py_ssize_t = len(ix.filters)
    w: cython.Py_ssize_t = nf + 1
    sums = _zeros(3 * w)
    v: cython.longlong[::1] = sums
    memo = ix.line_filters
    a: cython.longlong
    sub: cython.longlong
    q: cython.longlong
    f: cython.Py_ssize_t
    for it in ctx.items:
        item: Item = it
        a = item.amount
        sub = a - item.discount
        if sub < 0:
            sub = 0
        q = item.quantity if sub > 0 else 0
        if nf:
            found = memo.get(item.ids)
            if found is None:
                found = _line_filters(ix, item)
            for ff in found:
                f = ff
                v[f] += q
                v[w + f] += a
                v[2 * w + f] += sub
        v[nf] += q
        v[w + nf] += a
        v[2 * w + nf] += sub
    c.sums = sums


#: most order lines' filters remembered (EarningIndex.line_filters), so that lines of ids no
#: catalogue knows cannot grow it without bound
LINE_MEMO_MAX = 4096


def _line_filters(ix: EarningIndex, item: Item) -> tuple:
    """The item filters a line counts in, each once: those naming one of its ids or groups."""
    keys = ix.filter_keys
    out = set()
    for k in item.ids + tuple(item.groups):
        found = keys.get(k)
        if found is not None:
            out.update(found)
    fs = tuple(sorted(out))
    memo = ix.line_filters
    if len(memo) >= LINE_MEMO_MAX:
        memo.clear()
    memo[item.ids] = fs
    return fs


def _zeros(n):
    return array.array("q", bytes(8 * n))


def _items_value(ix: EarningIndex, r: EarnRule, c: Call) -> cython.longlong:
    """Quantity, amount or subtotal of the order lines ``r`` counts."""
    if c.sums is None:
        _sum_lines(ix, c)
    w: cython.Py_ssize_t = len(ix.filters) + 1
    f: cython.Py_ssize_t = r.item_filter if r.item_filter >= 0 else w - 1
    kind: cython.int = r.kind
    if kind == K_ITEMS_AMOUNT:
        f += w
    elif kind != K_ITEMS_QUANTITY:
        f += 2 * w
    return c.sums[f]


def _base_points(r: EarnRule, c: Call, points: cython.longlong) -> cython.longlong:
    """What ``r`` gives when it grants ``points`` (FIXED) or ``points`` per ``every``."""
    kind: cython.int = r.kind
    if kind == K_FIXED:
        return points
    ctx: Ctx = c.ctx
    if kind == K_ORDER_AMOUNT:
        return _per_amount(ctx.initial_amount, r.every, points)
    if kind == K_ORDER_TOTAL_AMOUNT:
        return _per_amount(c.total, r.every, points)
    if kind == K_ORDER_METADATA:
        return _per_every(_meta_value(ctx.order_metadata, r.prop), r.every, points)
    if kind == K_CUSTOMER_METADATA:
        cu = ctx.customer
        return _per_every(
            _meta_value(cu.metadata if cu is not None else None, r.prop), r.every, points
        )
    if kind == K_EVENT_METADATA:
        return _per_every(_meta_value(c.md, r.prop), r.every, points)
    return _per_amount(_items_value(c.ix, r, c), r.every, points)


def _multiply(base: cython.longlong, millionths: cython.longlong) -> cython.longlong:
    """``floor(base * multiplier)``, the multiplier in millionths; capped at MAX_POINTS."""
    if millionths <= 0 or base <= 0:
        return 0
    if base > 4_000_000_000_000_000_000 // millionths:
        return MAX_POINTS
    out: cython.longlong = base * millionths // MILLION
    return out if out < MAX_POINTS else MAX_POINTS


def _apply_tier(mapping, base: cython.longlong, r: EarnRule, c: Call) -> cython.longlong:
    kind: cython.int = mapping[0]
    value: cython.longlong = mapping[1]
    if kind == M_CUSTOM:  # replaces the FIXED points, or the points per `every`
        return _base_points(r, c, value)
    return _multiply(base, value)


def _passes(r: EarnRule, c: Call) -> cython.bint:
    """Whether ``r``'s validation rule holds (judged once per call, however many rules share
    it)."""
    if r.rule is None:
        return True
    v = c.verdicts[r.rule_slot]
    if v is None:
        v = _rules_fail(r.rule, c.ctx) is None
        c.verdicts[r.rule_slot] = v
    return v


def _pending_id(campaign_id, code, rule_id, key, now_ms: cython.longlong) -> str:
    src = key if key else "t" + str(now_ms)
    h = hashlib.sha1(f"{campaign_id}\0{code}\0{src}\0{rule_id}".encode()).hexdigest()
    return "lopp_" + h[:20]


def _plan_groups(ix: EarningIndex, groups, cards, c: Call, plan: EarningPlan, counters,
                 event_type, related, source_id, tier_event):  # fmt: skip
    ctx: Ctx = c.ctx
    order = c.order
    today: cython.longlong = ctx.now_ms // DAY_MS
    cust = ctx.customer_key
    origin: Origin
    if order is not None:
        origin = Origin(event_type, related, source_id, order.id or "", order.source_id or "")
    else:
        origin = Origin(event_type, related, source_id, "", "")
    for gg in groups:
        g: Group = gg
        p: Program = g.program
        if not p.active or _window_error(p.window, ctx, False):
            continue
        card = cards.get(p.id) if cards is not None else None
        if card is None:
            if p.auto_join:
                plan.join.append(p.id)
            continue
        if tier_event:
            t_ev: Tier = ix.tiers.get(related)
            if t_ev is None or t_ev.campaign_id != p.id:
                continue
        code, tier_id = _card(card)
        tier: Tier = ix.tiers.get(tier_id) if tier_id else None
        if tier is not None and tier.campaign_id != p.id:
            tier = None
        maps = g.tier_maps.get(tier.id) if tier is not None else None
        holding: Holding = Holding(p.id, code, tier)
        program_exp: cython.longlong = -2  # not computed yet
        n: cython.Py_ssize_t = len(g.rules)
        j: cython.Py_ssize_t
        for j in range(n):
            r: EarnRule = g.rules[j]
            if not r.active:
                continue
            if r.segment_id and r.segment_id != related:
                continue
            if r.tier_id and r.tier_id != ANY_TIER and r.tier_id != related:
                continue
            if r.timed and _window_error(r.window, ctx, False):
                continue
            if r.rule is not None and not _passes(r, c):
                continue
            base: cython.longlong = _base_points(r, c, r.points)
            pts: cython.longlong = base
            if maps is not None:
                mapping = maps[j]
                if mapping is not None:
                    pts = _apply_tier(mapping, base, r, c)
            if pts <= 0:
                continue
            op = None
            if r.limit != NEVER:
                if not cust:
                    plan.skipped.append((p.id, r.id, "missing_customer"))
                    continue
                key = r.k_limit + cust
                ttl: cython.longlong = 0
                if r.limit_period == L_DAY:
                    key += ":d:" + ctx.day
                    ttl = ctx.day_ttl
                elif r.limit_period == L_WEEK:
                    key += ":w:" + ctx.week
                    ttl = ctx.week_ttl
                elif r.limit_period == L_MONTH:
                    key += ":m:" + ctx.month
                    ttl = ctx.month_ttl
                if counters is not None:
                    cur = counters.get(key)
                    if cur is not None and int(cur) + 1 > r.limit:
                        plan.skipped.append((p.id, r.id, "limit_reached"))
                        continue
                op = (key, 1, r.limit, LIMIT_ERROR, ttl, 0)
                plan.limits.append(op)
            a: Accrual = Accrual.__new__(Accrual)
            a.origin = origin
            a.holding = holding
            a.rule = r
            a.points = pts
            a.base_points = base
            a.limit = op
            if r.pending_days > 0:
                act: cython.longlong = today + r.pending_days
                a.activates_at_ms = act * DAY_MS
                a.expires_at_ms = _expires_ms(r.expiry, act)
                a.pending_id = _pending_id(p.id, code, r.id, source_id, ctx.now_ms)
            else:
                a.activates_at_ms = NEVER
                a.pending_id = ""
                if r.own_expiry:
                    a.expires_at_ms = _expires_ms(r.expiry, today)
                else:
                    if program_exp == -2:
                        program_exp = _expires_ms(p.expiry, today)
                    a.expires_at_ms = program_exp
            plan.accruals.append(a)


def plan_order_paid(ix: EarningIndex, cards, customer, order, now_ms: cython.longlong,
                    counters=None) -> EarningPlan:  # fmt: skip
    """The points a PAID order earns (nothing for another status; no status counts as paid).

    ``cards``: campaign id -> the customer's card in that program, as its code or a
    ``(code, tier id or None)`` pair (the tier the card is in now). ``customer`` and ``order``
    are ``core.model`` structs (``customer.summary`` holds the customer's metrics BEFORE this
    order). ``counters``: the live values of :meth:`EarningPlan.keys` when read (rules whose
    per-customer limit is reached are then left out), or None. Every active, in-window
    ``order.paid`` rule of each program held, whose validation rule passes, adds its accrual.
    """
    plan = EarningPlan()
    if order is None or (order.status is not None and order.status != "PAID"):
        return plan
    groups = ix.by_event.get(ORDER_PAID)
    if not groups:
        return plan
    ctx: Ctx = _build_ctx(ix.rs, customer, order, now_ms)
    if ctx.items:
        _line_discounts(ctx, order)
    c: Call = Call(ix, ctx, order, None)
    c.total = _order_total(order, ctx)
    source_id = order.id or order.source_id or ""
    _plan_groups(ix, groups, cards, c, plan, counters, "customer.order.paid", "", source_id,
                 False)  # fmt: skip
    return plan


def plan_event(ix: EarningIndex, cards, customer, event, metadata, now_ms: cython.longlong,
               related_id="", event_id="", counters=None) -> EarningPlan:  # fmt: skip
    """The points an event earns: a custom event (``event`` is its name, ``metadata`` its
    properties), ``customer.segment.entered`` (``related_id``: the segment) or
    ``customer.loyalty.tier.*`` (``related_id``: the tier; only that tier's program earns).
    ``event_id`` goes on the transactions as their source. Otherwise as
    :func:`plan_order_paid`."""
    if event == ORDER_PAID:
        raise ValueError("an order earns through plan_order_paid")
    plan = EarningPlan()
    groups = ix.by_event.get(event)
    if not groups:
        return plan
    c: Call = Call(ix, _build_ctx(ix.rs, customer, None, now_ms), None, metadata)
    tier_event = event in TIER_EVENTS
    if event == SEGMENT_ENTERED or tier_event:
        event_type = event
        related = related_id or ""
    else:
        event_type = "customer.custom_event"
        related = event
    _plan_groups(ix, groups, cards, c, plan, counters, event_type, related, event_id or "",
                 tier_event)  # fmt: skip
    return plan


# ----------------------------------------------------------------------------- tiers, rewards


class TierStatus:
    """Where ``points`` put a member: its tier (``""`` below every tier) and the next one."""

    def __init__(self):
        self.tier_id = ""
        self.tier_name = ""
        self.next_tier_id = ""
        self.points_to_next = NEVER  # NEVER when there is no higher tier


def tier_for_points(ix: EarningIndex, campaign_id, points: cython.longlong) -> TierStatus:
    """The tier of a member of ``campaign_id`` with ``points`` (ranges are inclusive), and the
    points still missing to reach the next tier."""
    st = TierStatus()
    p = ix.programs.get(campaign_id)
    if p is None:
        return st
    for tt in p.tiers:
        t: Tier = tt
        if t.lo > points:
            st.next_tier_id = t.id
            st.points_to_next = t.lo - points
            break
        if t.hi == NEVER or points <= t.hi:
            st.tier_id = t.id
            st.tier_name = t.name
    return st


def reward_price(ix: EarningIndex, assignment_id, tier_id=None):
    """The price in points of reward assignment ``assignment_id`` for a member in ``tier_id``
    (the tier's MULTIPLY rounds down, CUSTOM replaces); None for a COIN reward or an unknown
    assignment."""
    a = ix.assignments.get(assignment_id)
    if a is None or a.points == NEVER:
        return None
    price: cython.longlong = a.points
    t = ix.tiers.get(tier_id) if tier_id else None
    if t is None or t.campaign_id != a.campaign_id:
        return price
    mapping = t.rewards.get(assignment_id)
    if mapping is None:
        return price
    if mapping[0] == M_CUSTOM:
        return mapping[1]
    return _multiply(price, mapping[1])


def rewards_for(ix: EarningIndex, campaign_id, tier_id=None) -> list:
    """``[(assignment id, reward id, price or None)]`` of ``campaign_id``, tier-adjusted."""
    p = ix.programs.get(campaign_id)
    if p is None:
        return []
    return [(a.id, a.reward_id, reward_price(ix, a.id, tier_id)) for a in p.assignments]


__all__ = [
    "Accrual",
    "EarningIndex",
    "EarningPlan",
    "TierStatus",
    "compile_earning",
    "expires_at_ms",
    "expiry_date",
    "plan_event",
    "plan_order_paid",
    "reward_price",
    "rewards_for",
    "tier_for_points",
]
