"""Rule compiler and evaluator: the compiled heart of promogate.

This one file is both the pure-Python twin and, compiled by Cython with the
C types declared in ``_engine.pxd``, the production extension ``core._engine``.
It does no I/O and never reads the wall clock: time comes in as ``now_ms``
(UTC epoch milliseconds), live counter values come in as a mapping.

Money is integer cents. The one rounding rule: a percentage of an amount is
rounded half up to the cent (``percent_of``); a sum split across lines is
split by the largest-remainder method so the parts always add up exactly
(``split``). No discount ever takes a line or the order below zero.
"""

from __future__ import annotations

import datetime as _dt
import zlib
from fractions import Fraction

import cython

from core import logic as _logic
from core.errors import CompileError, RequestError
from core.model import USES_MAX

ENGINE = "promogate"

# ----------------------------------------------------------------------------- codes
# discount types
D_AMOUNT = cython.declare(cython.int, 1)
D_PERCENT = cython.declare(cython.int, 2)
D_FIXED = cython.declare(cython.int, 3)
D_UNIT = cython.declare(cython.int, 4)
_DTYPES = {"AMOUNT": D_AMOUNT, "PERCENT": D_PERCENT, "FIXED": D_FIXED, "UNIT": D_UNIT}

# how a validation rule's conditions are joined (RuleSet_.junction)
J_ANY = cython.declare(cython.int, 0)  # any logic: the postfix program decides
J_AND = cython.declare(cython.int, 1)  # each condition once, all joined by `and`
J_OR = cython.declare(cython.int, 2)  # each condition once, all joined by `or`

# discount effects
E_ORDER = cython.declare(cython.int, 1)
E_ITEMS = cython.declare(cython.int, 2)
E_ITEMS_PROP = cython.declare(cython.int, 3)
E_ITEMS_PROP_QTY = cython.declare(cython.int, 4)
E_ITEMS_QTY = cython.declare(cython.int, 5)
E_ADD_MISSING = cython.declare(cython.int, 6)
E_ADD_NEW = cython.declare(cython.int, 7)
E_ADD_SAME = cython.declare(cython.int, 8)
_EFFECTS = {
    "APPLY_TO_ORDER": E_ORDER,
    "APPLY_TO_ITEMS": E_ITEMS,
    "APPLY_TO_ITEMS_PROPORTIONALLY": E_ITEMS_PROP,
    "APPLY_TO_ITEMS_PROPORTIONALLY_BY_QUANTITY": E_ITEMS_PROP_QTY,
    "APPLY_TO_ITEMS_BY_QUANTITY": E_ITEMS_QTY,
    "ADD_MISSING_ITEMS": E_ADD_MISSING,
    "ADD_NEW_ITEMS": E_ADD_NEW,
    "ADD_SAME_ITEMS": E_ADD_SAME,
}

# item target effects
T_EVERY = cython.declare(cython.int, 1)
T_CHEAPEST = cython.declare(cython.int, 2)
T_FROM_CHEAPEST = cython.declare(cython.int, 3)
T_MOST_EXPENSIVE = cython.declare(cython.int, 4)
T_FROM_MOST_EXPENSIVE = cython.declare(cython.int, 5)
_TEFFECTS = {
    "APPLY_TO_EVERY": T_EVERY,
    "APPLY_TO_CHEAPEST": T_CHEAPEST,
    "APPLY_FROM_CHEAPEST": T_FROM_CHEAPEST,
    "APPLY_TO_MOST_EXPENSIVE": T_MOST_EXPENSIVE,
    "APPLY_FROM_MOST_EXPENSIVE": T_FROM_MOST_EXPENSIVE,
}

# holder kinds
H_VOUCHER = cython.declare(cython.int, 1)
H_TIER = cython.declare(cython.int, 2)

# statuses
APPLICABLE = "APPLICABLE"
INAPPLICABLE = "INAPPLICABLE"
SKIPPED = "SKIPPED"

# rule property kinds
P_CUSTOMER_SEGMENT = cython.declare(cython.int, 1)
P_CUSTOMER_METADATA = cython.declare(cython.int, 2)
P_CUSTOMER_FIELD = cython.declare(cython.int, 3)
P_ORDER_AMOUNT = cython.declare(cython.int, 4)
P_ORDER_INITIAL_AMOUNT = cython.declare(cython.int, 5)
P_ITEMS_COUNT = cython.declare(cython.int, 6)
P_ITEMS_QUANTITY = cython.declare(cython.int, 7)
P_ORDER_METADATA = cython.declare(cython.int, 8)
P_ITEMS_ANY = cython.declare(cython.int, 9)
P_ITEMS_EVERY = cython.declare(cython.int, 10)
P_ITEMS_NONE = cython.declare(cython.int, 11)
P_ITEMS_PRICE_ANY = cython.declare(cython.int, 12)
P_ITEMS_PRICE_EACH = cython.declare(cython.int, 13)
P_ITEMS_METADATA = cython.declare(cython.int, 14)
P_PRODUCT_ID = cython.declare(cython.int, 15)
P_SKU_ID = cython.declare(cython.int, 16)
# inside order.items.* nested rules
P_ITEM_QUANTITY = cython.declare(cython.int, 17)
P_ITEM_PRICE = cython.declare(cython.int, 18)
P_ITEM_AMOUNT = cython.declare(cython.int, 19)
# the customer's metrics (customer.summary.orders), read from the customer object
P_CUSTOMER_ORDERS_COUNT = cython.declare(cython.int, 20)
P_CUSTOMER_ORDERS_AMOUNT = cython.declare(cython.int, 21)
# counters: compiled into limits, never into boolean conditions
P_COUNT_PER_CUSTOMER = cython.declare(cython.int, 30)
P_COUNT_PER_CUSTOMER_DAY = cython.declare(cython.int, 31)
P_COUNT_PER_CUSTOMER_WEEK = cython.declare(cython.int, 32)
P_COUNT_PER_CUSTOMER_MONTH = cython.declare(cython.int, 33)
P_CAMPAIGN_DISCOUNTED = cython.declare(cython.int, 34)
P_CAMPAIGN_ORDER_VALUE = cython.declare(cython.int, 35)
P_CAMPAIGN_REDEMPTIONS = cython.declare(cython.int, 36)

_PROPS = {
    "customer.segment": P_CUSTOMER_SEGMENT,
    "customer.metadata": P_CUSTOMER_METADATA,
    "customer.id": P_CUSTOMER_FIELD,
    "customer.source_id": P_CUSTOMER_FIELD,
    "customer.email": P_CUSTOMER_FIELD,
    "customer.address.country": P_CUSTOMER_FIELD,
    "customer.address.city": P_CUSTOMER_FIELD,
    "customer.orders.count": P_CUSTOMER_ORDERS_COUNT,
    "customer.orders.amount": P_CUSTOMER_ORDERS_AMOUNT,
    "order.amount": P_ORDER_AMOUNT,
    "order.initial_amount": P_ORDER_INITIAL_AMOUNT,
    "order.items.count": P_ITEMS_COUNT,
    "order.items.quantity": P_ITEMS_QUANTITY,
    "order.metadata": P_ORDER_METADATA,
    "order.items.any": P_ITEMS_ANY,
    "order.items.every": P_ITEMS_EVERY,
    "order.items.none": P_ITEMS_NONE,
    "order.items.price_any": P_ITEMS_PRICE_ANY,
    "order.items.price_each": P_ITEMS_PRICE_EACH,
    "order.items.metadata": P_ITEMS_METADATA,
    "product.id": P_PRODUCT_ID,
    "sku.id": P_SKU_ID,
    "redemption.count.per_customer": P_COUNT_PER_CUSTOMER,
    "redemption.count.per_customer_per_day": P_COUNT_PER_CUSTOMER_DAY,
    "redemption.count.per_customer_per_week": P_COUNT_PER_CUSTOMER_WEEK,
    "redemption.count.per_customer_per_month": P_COUNT_PER_CUSTOMER_MONTH,
    "campaign.orders.amount_discounted": P_CAMPAIGN_DISCOUNTED,
    "campaign.orders.amount": P_CAMPAIGN_ORDER_VALUE,
    "campaign.redemptions.count": P_CAMPAIGN_REDEMPTIONS,
}
_NESTED_PROPS = {
    "order.items.quantity": P_ITEM_QUANTITY,
    "order.items.price_any": P_ITEM_PRICE,
    "order.items.price_each": P_ITEM_PRICE,
    "order.amount": P_ITEM_AMOUNT,
}

# operators
O_IS = cython.declare(cython.int, 1)
O_IS_NOT = cython.declare(cython.int, 2)
O_IN = cython.declare(cython.int, 3)
O_NOT_IN = cython.declare(cython.int, 4)
O_GT = cython.declare(cython.int, 5)
O_LT = cython.declare(cython.int, 6)
O_GE = cython.declare(cython.int, 7)
O_LE = cython.declare(cython.int, 8)
O_STARTS = cython.declare(cython.int, 9)
O_ENDS = cython.declare(cython.int, 10)
O_CONTAINS = cython.declare(cython.int, 11)
O_HAS_VALUE = cython.declare(cython.int, 12)
O_IS_UNKNOWN = cython.declare(cython.int, 13)
O_AFTER = cython.declare(cython.int, 14)
O_BEFORE = cython.declare(cython.int, 15)
O_COUNT_MORE = cython.declare(cython.int, 16)
O_COUNT_LESS = cython.declare(cython.int, 17)
_OPS = {
    "$is": O_IS,
    "$is_not": O_IS_NOT,
    "$in": O_IN,
    "$not_in": O_NOT_IN,
    "$more_than": O_GT,
    "$less_than": O_LT,
    "$more_than_or_equal": O_GE,
    "$less_than_or_equal": O_LE,
    "$starts_with": O_STARTS,
    "$ends_with": O_ENDS,
    "$contains": O_CONTAINS,
    "$has_value": O_HAS_VALUE,
    "$is_unknown": O_IS_UNKNOWN,
    "$after": O_AFTER,
    "$before": O_BEFORE,
    "$count_more": O_COUNT_MORE,
    "$count_less": O_COUNT_LESS,
}

NO_LIMIT = cython.declare(cython.longlong, -1)
DAY_MS = cython.declare(cython.longlong, 86_400_000)

MSG = {
    "resource_not_found": "Resource not found",
    "voucher_disabled": "voucher is disabled",
    "voucher_not_active": "voucher not active",
    "voucher_expired": "voucher expired",
    "voucher_not_active_now": "voucher not active now",
    "promotion_inactive": "promotion is not active",
    "promotion_not_active_now": "promotion not active now",
    "quantity_exceeded": "quantity exceeded",
    "customer_rules_violated": "customer does not match validation rules",
    "order_rules_violated": "order does not match validation rules",
    "redemption_rules_violated": "redemption does not match validation rules",
    "gift_amount_exceeded": "gift amount exceeded",
    "loyalty_card_points_exceeded": "loyalty card points exceeded",
    "missing_customer": "Missing customer",
    "referrer_not_permitted_to_redeem": "Referrer not permitted to redeem",
    "customer_already_referred": "customer already referred in this referral program",
    "referral_limit_exceeded": "the referrer has reached the program's limit of referees",
    "customer_not_new": "the referral program is for new customers only",
    "duplicate_referee_contact": "the referee's email or phone is another customer's in this program",
    "missing_reward": "Missing reward",
    "not_found": "Resource not found",
    "invalid_amount": "Invalid amount",
    "invalid_customer": "Invalid customer",
    "applicable_redeemables_limit_exceeded": "Applicable redeemables limit exceeded",
    "applicable_redeemables_per_category_limit_exceeded": (
        "Applicable redeemables limit per category exceeded"
    ),
    "applicable_exclusive_redeemables_limit_exceeded": (
        "Applicable exclusive redeemables limit exceeded"
    ),
    "exclusion_rules_not_met": "Redeemable cannot be applied due to exclusion rules",
    "preceding_validation_failed": "Redeemable cannot be applied due to preceding validation failure",
    "no_effect": "Redeemable has no effect on the order",
}


# ----------------------------------------------------------------------------- money


def percent_of(amount: cython.longlong, bp: cython.longlong) -> cython.longlong:
    """``bp`` hundredths of a percent of ``amount`` cents, rounded half up."""
    return (amount * bp + 5000) // 10000


def split(total: cython.longlong, weights: list) -> list:
    """Split ``total`` across ``weights`` in proportion, largest remainder first.

    The parts add up to exactly ``total`` (when ``sum(weights) > 0``), and no part
    exceeds its weight while ``total <= sum(weights)``. Ties go to the earlier line.
    """
    n: cython.Py_ssize_t = len(weights)
    i: cython.Py_ssize_t
    w: cython.longlong
    wsum: cython.longlong = 0
    given: cython.longlong = 0
    q: cython.longlong
    for i in range(n):
        wsum += weights[i]
    parts = [0] * n
    if wsum <= 0 or total <= 0:
        return parts
    rems = []
    for i in range(n):
        w = weights[i]
        q = (total * w) // wsum
        parts[i] = q
        given += q
        rems.append(((total * w) % wsum, -i))
    left: cython.longlong = total - given
    if left > 0:
        rems.sort(reverse=True)
        for i in range(left):
            parts[-rems[i][1]] += 1
    return parts


# ----------------------------------------------------------------------------- compiled definitions


class Cond:
    """One compiled rule condition."""

    def __init__(self, kind, op, values, prop, sub, is_customer, message):
        self.kind = kind
        self.op = op
        self.values = values  # tuple of the raw values
        self.strs = frozenset(str(v) for v in values)
        nums = []
        for v in values:
            if isinstance(v, bool):
                continue
            if isinstance(v, (int, float)):
                nums.append(v)
            elif isinstance(v, str):
                try:
                    nums.append(float(v))
                except ValueError:
                    pass
        self.nums = tuple(nums)
        # the first number as a whole number, when it is one: a whole value (an amount, a
        # quantity) is then compared with it in C (see _cmp_ll)
        self.iref = 0
        self.iref_ok = False
        if nums:
            ref = nums[0]
            if isinstance(ref, float) and ref.is_integer() and abs(ref) < 2.0**53:
                ref = int(ref)
            if isinstance(ref, int) and -(2**63) <= ref < 2**63:
                self.iref = ref
                self.iref_ok = True
        self.prop = prop
        self.sub = sub  # list of Cond for order.items.* nested rules
        self.is_customer = is_customer
        self.message = message


class RuleSet_:
    """A compiled validation rule: conditions, their postfix logic, counter limits, targets."""

    def __init__(self, rid, conds, program, limits, targets, excluded, included_all, message):
        self.id = rid
        self.conds = conds
        self.program = program
        self.junction = _junction(program, len(conds))
        self.limits = limits  # list of (kind, limit, message)
        self.targets = targets  # list of Target
        self.excluded = excluded  # list of Target
        self.included_all = included_all
        self.message = message


def _junction(program, n):
    """``J_AND`` / ``J_OR`` when ``program`` joins each of the ``n`` conditions once with only
    ``and`` / only ``or`` (most rules: "1 and 2"), judged without the postfix machine; else
    ``J_ANY``."""
    refs = [p for p in program if p >= 0]
    ops = {p for p in program if p < 0}
    if n == 0 or sorted(refs) != list(range(n)) or len(program) != 2 * n - 1:
        return J_ANY
    if not ops or ops == {_logic.OP_AND}:
        return J_AND
    if ops == {_logic.OP_OR}:
        return J_OR
    return J_ANY


class Target:
    def __init__(self, kind, ident, effect, qty_limit, agg_qty_limit, amt_limit, agg_amt_limit):
        self.kind = kind  # "product" | "sku" | "products_collection" | "category"
        self.ident = ident
        self.effect = effect
        self.qty_limit = qty_limit
        self.agg_qty_limit = agg_qty_limit
        self.amt_limit = amt_limit
        self.agg_amt_limit = agg_amt_limit


class Disc:
    def __init__(self, d):
        self.model = d
        self.dtype = _DTYPES[d.type]
        self.effect = _EFFECTS[d.effect]
        self.amount_off = d.amount_off if d.amount_off is not None else 0
        self.bp = round(d.percent_off * 100) if d.percent_off is not None else 0
        self.amount_limit = d.amount_limit if d.amount_limit is not None else NO_LIMIT
        self.fixed_amount = d.fixed_amount if d.fixed_amount is not None else 0
        self.unit_off = d.unit_off if d.unit_off is not None else 0
        self.unit_type = d.unit_type or ""


class Window:
    """Dates, days of week, hours and recurring timeframe, in epoch ms / minutes."""

    def __init__(self, start, end, days, hours, interval, duration):
        self.start = start
        self.end = end
        self.days = days  # bitmask, bit 0 = Sunday; 0 = every day
        self.hours = hours  # list of (start_minute, end_minute)
        self.interval = interval
        self.duration = duration


class Coin:
    """A pay-with-points (COIN) reward assigned to a loyalty program: ``points_ratio`` points
    buy ``exchange_ratio`` currency units, so ``points`` points are worth
    ``points * num // den`` cents (``num / den`` = exchange_ratio * 100 / points_ratio, exact:
    the ratio is read from the float's shortest decimal text)."""

    def __init__(self, reward, assignment_id):
        coin = reward.parameters.coin
        self.id = reward.id
        self.name = reward.name or ""
        self.assignment_id = assignment_id or ""
        self.model = reward
        f = Fraction(repr(float(coin.exchange_ratio))) * 100 / int(coin.points_ratio)
        self.num = f.numerator
        self.den = f.denominator

    def value(self, points):
        """Cents that ``points`` points buy (rounded down)."""
        return points * self.num // self.den

    def points_for(self, cents):
        """The fewest points that buy at least ``cents`` cents."""
        if cents <= 0:
            return 0
        return -(-cents * self.den // self.num)


class Campaign:
    def __init__(self, c, window, rules, seq, category, hierarchy):
        self.model = c
        self.id = c.id
        self.name = c.name
        self.ctype = c.campaign_type
        self.active = c.active
        self.window = window
        self.rules = rules
        self.seq = seq
        self.category = category
        self.hierarchy = hierarchy
        self.tag = "{c:" + c.id + "}"
        # counter keys, built once here rather than on every request
        self.k_uses = self.tag + ":uses"
        self.k_disc = self.tag + ":disc"
        self.k_ordval = self.tag + ":ordval"
        self.k_spent = self.tag + ":spent"
        self.k_cust = self.tag + ":cust:"
        # referral programmes: a referee is referred once per programme, a referrer has at most
        # max_referees of them; both counted by the redemption when it is the conversion
        self.k_referee = self.tag + ":referee:"
        self.k_referrer = self.tag + ":referrer:"
        rp = c.referral_program
        self.ref_counted = rp is not None and rp.conversion_event_type == "redemption"
        self.lim_referees = _lim(rp.max_referees) if rp is not None else NO_LIMIT
        lim = c.limits
        self.lim_redemptions = _lim(lim.redemptions)
        self.lim_per_day = _lim(lim.redemptions_per_day)
        self.lim_discounted = _lim(lim.discounted_amount)
        self.lim_order_value = _lim(lim.order_value)
        self.lim_per_customer = _lim(lim.per_customer)
        self.lim_per_customer_day = _lim(lim.per_customer_per_day)
        self.lim_per_customer_week = _lim(lim.per_customer_per_week)
        self.lim_per_customer_month = _lim(lim.per_customer_per_month)
        self.lim_gift_credits = _lim(lim.gift_credits)
        tpl = c.voucher
        self.discount = Disc(tpl.discount) if tpl is not None and tpl.discount is not None else None
        self.gift_amount = tpl.gift.amount if tpl is not None and tpl.gift is not None else NO_LIMIT
        self.points = (
            tpl.loyalty_card.points if tpl is not None and tpl.loyalty_card is not None else NO_LIMIT
        )
        self.point_value = (
            tpl.loyalty_card.point_value if tpl is not None and tpl.loyalty_card is not None else 1
        )
        self.quantity = (
            _lim(tpl.redemption.quantity) if tpl is not None else NO_LIMIT
        )
        self.code_per_customer = (
            _lim(tpl.redemption.per_customer) if tpl is not None else NO_LIMIT
        )
        # a LOYALTY_PROGRAM with earning rules, tiers or rewards keeps its members' points in
        # wallets (store.wallet): its cards pay with the live balance through COIN rewards.
        # Without any (the older kind), a card's loyalty_card.points is a fixed budget.
        self.wallet = False
        self.coins = {}  # reward id -> Coin assigned to this program
        self.rewards = {}  # reward id -> type, of every reward assigned to this program


class Holder:
    """What a redeemable resolves to: a voucher (code) or a promotion tier."""

    def __init__(self):
        self.kind = H_VOUCHER
        self.id = ""
        self.code = ""
        self.name = ""
        self.campaign = None  # Campaign or None for a standalone code
        self.active = True
        self.window = None
        self.discount = None
        self.gift_amount = NO_LIMIT
        self.points = NO_LIMIT
        self.point_value = 1
        self.quantity = NO_LIMIT
        self.per_customer = NO_LIMIT
        self.customer = ""
        self.rules = []
        self.category = ""
        self.hierarchy = 0
        self.tag = ""
        self.seq = 0
        self.model = None
        self.k_uses = ""  # this code's (or tier's) use counter
        self.k_base = ""  # prefix of this code's other counters
        self.wallet = False  # a loyalty card of a wallet program: pays with its live balance
        self.k_card = ""  # a wallet card's figures key (store.keys.Keys.card), without prefix
        self.referral = False  # a code of a REFERRAL_PROGRAM: its holder is the referrer
        self.refused = ""  # an error key the service judged for this request (referral abuse)

    def refusing(self, key):
        """A copy of this holder refused with error ``key`` (the service's per-request verdict,
        e.g. on a referee of a referral code; the cached holder is left as it is)."""
        h = Holder()
        for f in _HOLDER_FIELDS:
            setattr(h, f, getattr(self, f))
        h.refused = key
        return h

    def keyed(self):
        """Build the counter keys once ``tag``, ``code`` / ``id`` and ``kind`` are set."""
        if self.kind == H_VOUCHER:
            self.k_base = self.tag + ":v:" + self.code
        else:
            self.k_base = self.tag + ":t:" + self.id
        self.k_uses = self.k_base + ":uses"
        return self


_HOLDER_FIELDS = (
    "kind", "id", "code", "name", "campaign", "active", "window", "discount", "gift_amount",
    "points", "point_value", "quantity", "per_customer", "customer", "rules", "category",
    "hierarchy", "tag", "seq", "model", "k_uses", "k_base", "wallet", "k_card", "referral",
)


class Ruleset:
    """An immutable compiled ruleset. Build it with ``compile_ruleset``."""

    def __init__(self):
        self.version = 0
        self.campaigns = {}
        self.tiers = {}
        self.vouchers = {}
        self.rules = {}
        self.products = {}  # product id / source id -> (categories, collections, price, id, both)
        self.skus = {}  # sku id / source id -> (product id, price)
        self.category_hierarchy = {}
        self.by_item = {}  # product / sku / category / collection id -> list of tier Holders
        self.always = []  # tier Holders that may apply to any cart
        self.generic = []  # voucher Holders that anyone may use (no assigned customer)
        self.by_customer = {}  # customer id -> voucher Holders assigned to them
        self.stacking = None
        self.exclusive = frozenset()
        self.joint = frozenset()
        self.cat_limits = {}
        self.mode_all = True
        self.sort_hierarchy = False
        self.skip_no_effect = False
        self.limit_total = 30
        self.limit_applicable = 5
        self.limit_per_category = 1
        self.limit_exclusive = 1
        self.limit_exclusive_per_category = 1
        self.needs_segments = False  # a rule reads customer.segment: the gateway must look it up

    @property
    def size(self) -> int:
        return len(self.campaigns) + len(self.tiers) + len(self.vouchers)


def _lim(v):
    return NO_LIMIT if v is None else v


def _ms(d):
    if d is None:
        return NO_LIMIT
    return int(d.timestamp() * 1000)


def _iso_ms(text):
    """``P1DT2H30M`` -> milliseconds."""
    days = hours = minutes = 0
    body = text[1:]
    date_part, _, time_part = body.partition("T")
    if date_part:
        days = int(date_part[:-1])
    num = ""
    for ch in time_part:
        if ch.isdigit():
            num += ch
        elif ch == "H":
            hours = int(num)
            num = ""
        elif ch == "M":
            minutes = int(num)
            num = ""
    return ((days * 24 + hours) * 60 + minutes) * 60_000


def _minutes(hhmm):
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def _window(obj, path, timeframe=None, days=(), hours=()):
    interval = duration = 0
    if timeframe is not None:
        interval = _iso_ms(timeframe.interval)
        duration = _iso_ms(timeframe.duration)
        if interval <= 0 or duration <= 0 or duration > interval:
            raise CompileError(path + ".validity_timeframe", "needs 0 < duration <= interval")
        if obj.start_date is None:
            raise CompileError(path + ".validity_timeframe", "needs `start_date` to count from")
    mask = 0
    for d in days:
        mask |= 1 << d
    return Window(
        _ms(obj.start_date),
        _ms(obj.expiration_date),
        mask,
        [(_minutes(h.start), _minutes(h.end)) for h in hours],
        interval,
        duration,
    )


# ----------------------------------------------------------------------------- compiler


def compile_ruleset(defs) -> Ruleset:
    """Compile ``core.model.Definitions`` into an immutable ``Ruleset``.

    Raises ``CompileError`` naming the field for anything the model's types
    cannot catch: unknown references, logic strings, counter rules in the wrong place.
    """
    rs = Ruleset()
    rs.version = defs.version
    for cat in defs.categories:
        rs.category_hierarchy[cat.id] = cat.hierarchy
    for i, vr in enumerate(defs.validation_rules):
        if vr.id in rs.rules:
            raise CompileError(f"validation_rules[{i}].id", f"duplicate id {vr.id!r}")
        rs.rules[vr.id] = _compile_rule(vr, f"validation_rules[{i}]")
        for c in rs.rules[vr.id].conds:
            if c.kind == P_CUSTOMER_SEGMENT:
                rs.needs_segments = True
    index_catalogue(rs, defs.products)
    for i, c in enumerate(defs.campaigns):
        path = f"campaigns[{i}]"
        if c.id in rs.campaigns:
            raise CompileError(path + ".id", f"duplicate id {c.id!r}")
        window = _window(c, path, c.validity_timeframe, c.validity_day_of_week, c.validity_hours)
        rules = _rule_refs(rs, c.validation_rules, path)
        cat = c.category or ""
        camp = Campaign(c, window, rules, c.created_seq or i, cat, rs.category_hierarchy.get(cat, 0))
        rs.campaigns[c.id] = camp
        if c.promotion is not None:
            for j, t in enumerate(c.promotion.tiers):
                tpath = f"{path}.promotion.tiers[{j}]"
                if t.id in rs.tiers:
                    raise CompileError(tpath + ".id", f"duplicate id {t.id!r}")
                h = Holder()
                h.kind = H_TIER
                h.id = t.id
                h.name = t.name or c.name
                h.campaign = camp
                h.active = t.active
                h.window = _window(t, tpath)
                h.discount = Disc(t.action.discount)
                h.rules = camp.rules + _rule_refs(rs, t.validation_rules, tpath)
                h.category = t.category or cat
                h.hierarchy = rs.category_hierarchy.get(h.category, 0)
                h.tag = camp.tag
                h.seq = camp.seq * 100_000 + t.hierarchy * 100 + j
                h.model = t
                h.keyed()
                rs.tiers[t.id] = h
                _index_tier(rs, h)
    _compile_wallet_programs(rs, defs)
    for i, v in enumerate(defs.vouchers):
        path = f"vouchers[{i}]"
        if v.code in rs.vouchers:
            raise CompileError(path + ".code", f"duplicate code {v.code!r}")
        h = holder_for_voucher(rs, v, path, i)
        rs.vouchers[v.code] = h
        if v.id:
            rs.vouchers[v.id] = h
        if h.customer:
            rs.by_customer.setdefault(h.customer, []).append(h)
        else:
            rs.generic.append(h)
    _compile_stacking(rs, defs.stacking_rules)
    return rs


def _compile_wallet_programs(rs: Ruleset, defs) -> None:
    """Mark the LOYALTY_PROGRAM campaigns that have earning rules, tiers or rewards as wallet
    programs and file their COIN rewards. References are checked by ``core.earning``'s
    compiler; what does not resolve here is left out."""
    progs = {}
    for cid, camp in rs.campaigns.items():
        if camp.ctype == "LOYALTY_PROGRAM":
            progs[cid] = camp
    if not progs:
        return
    for er in defs.earning_rules:
        camp = progs.get(er.campaign_id)
        if camp is not None:
            camp.wallet = True
    for t in defs.loyalty_tiers:
        camp = progs.get(t.campaign_id)
        if camp is not None:
            camp.wallet = True
    rewards = {}
    for rw in defs.rewards:
        rewards[rw.id] = rw
    for a in defs.reward_assignments:
        camp = progs.get(a.campaign_id)
        if camp is None:
            continue
        camp.wallet = True
        rw = rewards.get(a.reward_id)
        if rw is None:
            continue
        camp.rewards[rw.id] = rw.type or ""
        if rw.type == "COIN" and rw.parameters.coin is not None:
            camp.coins[rw.id] = Coin(rw, a.id)


def index_catalogue(rs: Ruleset, products) -> None:
    """File ``products`` (and their SKUs) in ``rs`` by id and source id: what order lines are
    matched and priced with (shared with the earning planner)."""
    for p in products:
        cats, cols = frozenset(p.categories), frozenset(p.collections)
        info = (cats, cols, p.price, p.id, cats | cols)
        rs.products[p.id] = info
        if p.source_id:
            rs.products[p.source_id] = info
        for s in p.skus:
            sinfo = (p.id, s.price if s.price is not None else p.price)
            rs.skus[s.id] = sinfo
            if s.source_id:
                rs.skus[s.source_id] = sinfo


def holder_for_voucher(rs: Ruleset, v, path="voucher", ordinal=-1) -> Holder:
    """Resolve a ``core.model.Voucher`` against its campaign (which must be in ``rs``)."""
    camp = None
    if v.campaign_id is not None:
        camp = rs.campaigns.get(v.campaign_id)
        if camp is None:
            raise CompileError(path + ".campaign_id", f"unknown campaign {v.campaign_id!r}")
    h = Holder()
    h.kind = H_VOUCHER
    h.id = v.id or v.code
    h.code = v.code
    h.name = camp.name if camp is not None else v.code
    h.campaign = camp
    h.active = v.active
    h.window = _window(v, path)
    h.model = v
    if v.discount is not None:
        h.discount = Disc(v.discount)
    elif camp is not None:
        h.discount = camp.discount
    if v.gift is not None:
        h.gift_amount = v.gift.amount
    elif camp is not None:
        h.gift_amount = camp.gift_amount
    if v.loyalty_card is not None:
        h.points = v.loyalty_card.points
        h.point_value = v.loyalty_card.point_value
    elif camp is not None:
        h.points = camp.points
        h.point_value = camp.point_value
    if v.redemption is not None:
        h.quantity = _lim(v.redemption.quantity)
        h.per_customer = _lim(v.redemption.per_customer)
    elif camp is not None:
        h.quantity = camp.quantity
        h.per_customer = camp.code_per_customer
    if h.discount is None and h.gift_amount == NO_LIMIT and h.points == NO_LIMIT:
        raise CompileError(path, "a voucher needs a discount, a gift or a loyalty card")
    if camp is not None and camp.wallet and h.points != NO_LIMIT and h.gift_amount == NO_LIMIT:
        # a member's card: its points are its wallet's live balance, not a budget
        h.wallet = True
        h.points = NO_LIMIT
        h.k_card = camp.tag + ":lc:" + v.code
    h.customer = v.customer_id or ""
    h.referral = camp is not None and camp.ctype == "REFERRAL_PROGRAM"
    h.rules = (camp.rules if camp is not None else []) + _rule_refs(rs, v.validation_rules, path)
    h.category = v.category or (camp.category if camp is not None else "")
    h.hierarchy = rs.category_hierarchy.get(h.category, 0)
    h.tag = camp.tag if camp is not None else "{v:" + v.code + "}"
    # a distinct, stable position among the campaign's codes (the qualifications paging key)
    ordinal = (ordinal if ordinal >= 0 else zlib.crc32(v.code.encode())) % 99_999 + 1
    h.seq = (camp.seq * 100_000 if camp is not None else 0) + ordinal
    return h.keyed()


def _rule_refs(rs, ids, path):
    out = []
    for k, rid in enumerate(ids):
        r = rs.rules.get(rid)
        if r is None:
            raise CompileError(f"{path}.validation_rules[{k}]", f"unknown validation rule {rid!r}")
        out.append(r)
    return out


def _compile_cond(rule, path, nested):
    table = _NESTED_PROPS if nested else _PROPS
    kind = table.get(rule.name)
    if kind is None:
        where = "inside an order.items rule" if nested else "here"
        raise CompileError(path + ".name", f"rule {rule.name!r} cannot be used {where}")
    ((opname, values),) = rule.conditions.items()
    op = _OPS[opname]
    sub = []
    for k, child in sorted(rule.rules.items(), key=lambda kv: _rule_num(kv[0], path)):
        sub.append(_compile_cond(child, f"{path}.rules.{k}", True))
    if sub and kind not in (P_ITEMS_ANY, P_ITEMS_EVERY, P_ITEMS_NONE):
        raise CompileError(path + ".rules", f"rule {rule.name!r} takes no nested rules")
    msg = rule.error.message if rule.error is not None else ""
    return Cond(
        kind,
        op,
        tuple(values),
        rule.property or rule.name.rpartition(".")[2],
        sub,
        rule.name.startswith("customer."),
        msg,
    )


def _rule_num(k, path):
    if not k.isdigit():
        raise CompileError(path + ".rules", f"rule keys are numbers, got {k!r}")
    return int(k)


def _compile_rule(vr, path) -> RuleSet_:
    numbers = [k for k in vr.rules if k != "logic"]
    logic_text = vr.rules.get("logic")
    node = _logic.compile_logic(logic_text, numbers, path + ".rules.logic")
    counter_refs = set()
    conds = []
    slots = {}
    limits = []
    for k in sorted(numbers, key=int):
        rule = vr.rules[k]
        kind = _PROPS.get(rule.name)
        rpath = f"{path}.rules.{k}"
        if kind is not None and kind >= P_COUNT_PER_CUSTOMER:
            counter_refs.add(str(int(k)))
            limits.append((kind, _counter_limit(rule, rpath), rule.error.message if rule.error else ""))
            continue
        slots[str(int(k))] = len(conds)
        conds.append(_compile_cond(rule, rpath, False))
    if counter_refs:
        top = _logic.conjuncts(node)
        for r in counter_refs:
            if ("ref", r) not in top:
                raise CompileError(
                    f"{path}.rules.logic",
                    f"counter rule {r} must be joined to the others with `and` at the top level",
                )
    program = _logic.to_rpn(node, slots, frozenset(counter_refs)) if node != ("and",) else []
    targets = []
    excluded = []
    included_all = False
    if vr.applicable_to is not None:
        targets = [_target(t) for t in vr.applicable_to.included]
        excluded = [_target(t) for t in vr.applicable_to.excluded]
        included_all = vr.applicable_to.included_all
    msg = vr.error.message if vr.error is not None else ""
    return RuleSet_(vr.id, conds, program, limits, targets, excluded, included_all, msg)


def _counter_limit(rule, path):
    ((opname, values),) = rule.conditions.items()
    if len(values) != 1 or isinstance(values[0], bool) or not isinstance(values[0], (int, float)):
        raise CompileError(path + ".conditions", "a counter rule takes exactly one number")
    v = int(values[0])
    if opname == "$less_than":
        lim = v - 1 if rule.name.startswith("campaign.orders") else v
    elif opname == "$less_than_or_equal":
        lim = v if rule.name.startswith("campaign.orders") else v + 1
    else:
        raise CompileError(
            path + ".conditions", "a counter rule takes `$less_than` or `$less_than_or_equal`"
        )
    if lim < 0:
        raise CompileError(path + ".conditions", "the limit must not be negative")
    return lim


def _target(t) -> Target:
    return Target(
        t.object,
        t.id,
        _TEFFECTS[t.effect],
        _lim(t.quantity_limit),
        _lim(t.aggregated_quantity_limit),
        _lim(t.amount_limit),
        _lim(t.aggregated_amount_limit),
    )


def _index_tier(rs, h):
    """File a tier under the item ids it needs, or among the always-on ones."""
    keys = set()
    d = h.discount
    item_only = d.effect in (E_ITEMS, E_ITEMS_PROP, E_ITEMS_PROP_QTY, E_ITEMS_QTY)
    for r in h.rules:
        if item_only and r.targets and not r.included_all:
            for t in r.targets:
                keys.add(t.ident)
    for r in h.rules:
        # a top-level conjunct that requires specific items also narrows the tier
        for c in _required_item_conds(r):
            keys.update(str(v) for v in c.values)
    if keys:
        for k in keys:
            rs.by_item.setdefault(k, []).append(h)
    else:
        rs.always.append(h)


def _required_item_conds(r):
    """Conditions of ``r`` that must hold and need one of their ids present in the cart."""
    if not r.program:
        return []
    # the program is a chain `c0 c1 AND c2 AND ...` when the logic is a plain conjunction
    prog = r.program
    slots = [p for p in prog if p >= 0]
    ops = [p for p in prog if p < 0]
    if any(o != _logic.OP_AND and o != _logic.OP_TRUE for o in ops):
        return []
    out = []
    for s in slots:
        c = r.conds[s]
        if c.kind in (P_ITEMS_ANY, P_PRODUCT_ID, P_SKU_ID) and c.op in (O_IS, O_IN):
            out.append(c)
    return out


def _compile_stacking(rs, s):
    rs.stacking = s
    rs.exclusive = frozenset(s.exclusive_categories)
    rs.joint = frozenset(s.joint_categories)
    rs.cat_limits = dict(s.applicable_redeemables_category_limits)
    rs.mode_all = s.redeemables_application_mode == "ALL"
    rs.sort_hierarchy = s.redeemables_sorting_rule == "CATEGORY_HIERARCHY"
    rs.skip_no_effect = s.redeemables_no_effect_rule == "SKIP"
    rs.limit_total = s.redeemables_limit
    rs.limit_applicable = s.applicable_redeemables_limit
    rs.limit_per_category = s.applicable_redeemables_per_category_limit
    rs.limit_exclusive = s.applicable_exclusive_redeemables_limit
    rs.limit_exclusive_per_category = s.applicable_exclusive_redeemables_per_category_limit


# ----------------------------------------------------------------------------- evaluation state


class Item:
    """One order line as the evaluator sees it."""

    def __init__(self):
        self.index = 0
        self.product_id = ""
        self.sku_id = ""
        self.ids = ()  # every id this line answers to (product, sku, source ids)
        self.groups = frozenset()  # categories and collections of its product
        self.quantity = 0
        self.price = 0
        self.amount = 0
        self.discount = 0  # item-level discount so far
        self.added = 0  # units added by UNIT discounts
        self.metadata = None


class Ctx:
    """The order being evaluated, and the running totals as discounts apply."""

    def __init__(self):
        self.items = []
        self.initial_amount = 0
        self.amount = 0
        self.items_discount = 0
        self.order_discount = 0
        self.customer = None
        self.customer_key = ""
        self.segments = frozenset()
        self.order_metadata = None
        self.now_ms = 0
        self.day = ""
        self.week = ""
        self.month = ""
        self.day_ttl = 0
        self.week_ttl = 0
        self.month_ttl = 0
        self.minute = 0
        self.weekday = 0

    def remaining(self) -> int:
        return self.amount - self.items_discount - self.order_discount


class Outcome:
    """The verdict on one redeemable."""

    def __init__(self, index, obj, ident):
        self.index = index  # position in the request
        self.object = obj
        self.id = ident
        self.holder = None
        self.status = APPLICABLE
        self.key = ""  # error key (INAPPLICABLE) or skip reason (SKIPPED)
        self.message = ""
        self.details = ""
        self.order_discount = 0
        self.items_discount = 0
        self.item_discounts = []  # list of (item index, cents)
        self.added = []  # list of (item index, units added)
        self.gift_credits = 0
        self.gift_balance = NO_LIMIT  # balance after this redemption, when known
        self.points = 0
        self.points_balance = NO_LIMIT
        self.reward = None  # the Coin a wallet card pays with
        self.ops = []  # counter plan: (key, delta, limit, error, ttl, hold)
        self.amount_after = 0
        self.discount_after = 0
        self.items_discount_after = 0
        #: the limit that refused it, with its numbers: ``(counter key, what this order would
        #: add, the limit, error key, used so far)`` (live value, others' holds and this
        #: request's earlier redeemables); None when no limit refused it
        self.limit = None

    @property
    def total_discount(self) -> int:
        return self.order_discount + self.items_discount

    @property
    def campaign(self):
        h = self.holder
        return h.campaign if h is not None else None


class Evaluation:
    """The answer for a whole request."""

    def __init__(self):
        self.valid = False
        self.outcomes = []  # in request order
        self.items = []
        self.amount = 0
        self.initial_amount = 0
        self.discount_amount = 0
        self.items_discount_amount = 0
        self.needs_counters = False

    @property
    def total_discount_amount(self) -> int:
        return self.discount_amount + self.items_discount_amount

    @property
    def total_amount(self) -> int:
        return self.amount - self.discount_amount - self.items_discount_amount

    @property
    def plan(self) -> list:
        """Every counter op of the applicable redeemables, in processing order."""
        out = []
        for o in self.outcomes:
            if o.status == APPLICABLE:
                out.extend(o.ops)
        return out

    def applicable(self) -> list:
        return [o for o in self.outcomes if o.status == APPLICABLE]


# ----------------------------------------------------------------------------- context


class Clock:
    """Calendar facts of one minute: window keys and their TTLs (counted from the minute)."""

    def __init__(self, minute_ms):
        t = _dt.datetime.fromtimestamp(minute_ms // 1000, tz=_dt.UTC)
        self.minute = t.hour * 60 + t.minute
        self.weekday = (t.weekday() + 1) % 7  # 0 = Sunday
        iso = t.isocalendar()
        self.day = f"{t.year:04d}{t.month:02d}{t.day:02d}"
        self.week = f"{iso[0]:04d}W{iso[1]:02d}"
        self.month = f"{t.year:04d}{t.month:02d}"
        midnight = (minute_ms // DAY_MS) * DAY_MS
        self.day_ttl = (midnight + DAY_MS - minute_ms) // 1000 + 86_400
        self.week_ttl = (midnight + (7 - t.weekday()) * DAY_MS - minute_ms) // 1000 + 86_400
        nxt = (
            _dt.datetime(t.year + 1, 1, 1, tzinfo=_dt.UTC)
            if t.month == 12
            else _dt.datetime(t.year, t.month + 1, 1, tzinfo=_dt.UTC)
        )
        self.month_ttl = int(nxt.timestamp()) - minute_ms // 1000 + 86_400


_clocks = {}


def clock_for(now_ms) -> Clock:
    """The Clock of ``now_ms``'s minute (memoized: a pure function of its argument)."""
    minute_ms = (now_ms // 60_000) * 60_000
    c = _clocks.get(minute_ms)
    if c is None:
        if len(_clocks) > 64:
            _clocks.clear()
        c = Clock(minute_ms)
        _clocks[minute_ms] = c
    return c


def _build_ctx(rs, customer, order, now_ms) -> Ctx:
    ctx = Ctx()
    ctx.now_ms = now_ms
    ck: Clock = clock_for(now_ms)
    ctx.minute = ck.minute
    ctx.weekday = ck.weekday
    ctx.day = ck.day
    ctx.week = ck.week
    ctx.month = ck.month
    ctx.day_ttl = ck.day_ttl
    ctx.week_ttl = ck.week_ttl
    ctx.month_ttl = ck.month_ttl
    if customer is not None:
        ctx.customer = customer
        ctx.customer_key = customer.source_id or customer.id or ""
        if customer.segments:
            ctx.segments = frozenset(customer.segments)
    total: cython.longlong = 0
    if order is not None:
        ctx.order_metadata = order.metadata
        if order.items:
            for i, it in enumerate(order.items):
                item = _make_item(rs, it, i)
                ctx.items.append(item)
                total += item.amount
        if order.amount is not None:
            total = order.amount
    ctx.initial_amount = total
    ctx.amount = total
    return ctx


def _make_item(rs, it, i) -> Item:
    item = Item()
    item.index = i
    ids = []
    pid = it.product_id
    sid = it.sku_id
    if it.product is not None:
        pid = pid or it.product.id
        if it.product.source_id:
            ids.append(it.product.source_id)
    if it.sku is not None:
        sid = sid or it.sku.id
        if it.sku.source_id:
            ids.append(it.sku.source_id)
    if it.source_id:
        ids.append(it.source_id)
    price = it.price
    if sid:
        ids.append(sid)
        info = rs.skus.get(sid)
        if info is not None:
            pid = pid or info[0]
            if price is None and it.amount is None:
                price = info[1]
    if pid:
        ids.append(pid)
    groups = frozenset()
    for k in ids:
        pinfo = rs.products.get(k)
        if pinfo is not None:
            groups = pinfo[4]
            if price is None and it.amount is None and pinfo[2] is not None:
                price = pinfo[2]
            break
    if price is None and it.product is not None and it.product.price is not None:
        price = it.product.price
    if price is None and it.sku is not None and it.sku.price is not None:
        price = it.sku.price
    qty = it.quantity if it.quantity is not None else 1
    amount = it.amount
    if amount is None:
        amount = (price or 0) * qty
    if price is None:
        price = amount // qty if qty > 0 else amount
    item.product_id = pid or ""
    item.sku_id = sid or ""
    item.ids = tuple(ids)
    item.groups = groups
    item.quantity = qty
    item.price = price
    item.amount = amount
    item.metadata = it.metadata
    return item


# ----------------------------------------------------------------------------- conditions


def _num(x):
    if isinstance(x, bool) or x is None:
        return None
    if isinstance(x, (int, float)):
        return x
    if isinstance(x, str):
        try:
            return float(x)
        except ValueError:
            return None
    return None


def _cmp(op: cython.int, value, c: Cond) -> cython.bint:
    """Apply operator ``op`` of condition ``c`` to ``value`` (a scalar or None)."""
    if op == O_HAS_VALUE:
        return value is not None and value != ""
    if op == O_IS_UNKNOWN:
        return value is None or value == ""
    if value is None:
        return op == O_IS_NOT or op == O_NOT_IN
    if op == O_IS or op == O_IN:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            for n in c.nums:
                if n == value:
                    return True
            return False
        return str(value) in c.strs
    if op == O_IS_NOT or op == O_NOT_IN:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            for n in c.nums:
                if n == value:
                    return False
            return True
        return str(value) not in c.strs
    if op >= O_GT and op <= O_LE:
        x = _num(value)
        if x is None or not c.nums:
            return False
        ref = c.nums[0]
        if op == O_GT:
            return x > ref
        if op == O_LT:
            return x < ref
        if op == O_GE:
            return x >= ref
        return x <= ref
    s = str(value)
    if op == O_STARTS:
        return any(s.startswith(v) for v in c.strs)
    if op == O_ENDS:
        return any(s.endswith(v) for v in c.strs)
    if op == O_CONTAINS:
        if isinstance(value, (list, tuple)):
            return any(str(v) in c.strs for v in value)
        return any(v in s for v in c.strs)
    if op == O_AFTER or op == O_BEFORE:
        ref_s = str(c.values[0])
        return s > ref_s if op == O_AFTER else s < ref_s
    return False


def _cmp_ll(op: cython.int, v: cython.longlong, c: Cond) -> cython.bint:
    """``_cmp`` of a whole value: an ordering against a whole reference compares in C."""
    if c.iref_ok:
        if op == O_GT:
            return v > c.iref
        if op == O_LT:
            return v < c.iref
        if op == O_GE:
            return v >= c.iref
        if op == O_LE:
            return v <= c.iref
    return _cmp(op, v, c)


def _meta(md, key):
    if md is None:
        return None
    return md.get(key)


def _item_matches_ids(item: Item, strs) -> cython.bint:
    for k in item.ids:
        if k in strs:
            return True
    for g in item.groups:
        if g in strs:
            return True
    return False


def _item_sub_ok(item: Item, subs) -> cython.bint:
    for s in subs:
        sc: Cond = s
        if sc.kind == P_ITEM_QUANTITY:
            v = item.quantity
        elif sc.kind == P_ITEM_PRICE:
            v = item.price
        else:
            v = item.amount
        if not _cmp(sc.op, v, sc):
            return False
    return True


def _cond(c: Cond, ctx: Ctx) -> cython.bint:
    kind: cython.int = c.kind
    op: cython.int = c.op
    if kind == P_ORDER_AMOUNT:
        return _cmp_ll(op, ctx.initial_amount, c)
    if kind == P_ORDER_INITIAL_AMOUNT:
        return _cmp_ll(op, ctx.initial_amount, c)
    if kind == P_ITEMS_ANY or kind == P_ITEMS_EVERY or kind == P_ITEMS_NONE:
        want_in = op == O_IS or op == O_IN or op == O_CONTAINS
        hits = 0
        for it in ctx.items:
            item: Item = it
            m = _item_matches_ids(item, c.strs)
            if not want_in:
                m = not m
            if m and c.sub:
                m = _item_sub_ok(item, c.sub)
            if m:
                hits += 1
                if kind == P_ITEMS_ANY:
                    return True
                if kind == P_ITEMS_NONE:
                    return False
            elif kind == P_ITEMS_EVERY:
                return False
        if kind == P_ITEMS_ANY:
            return False
        if kind == P_ITEMS_NONE:
            return True
        return hits > 0
    if kind == P_PRODUCT_ID or kind == P_SKU_ID:
        positive = op == O_IS or op == O_IN
        for it in ctx.items:
            item2: Item = it
            ident = item2.product_id if kind == P_PRODUCT_ID else item2.sku_id
            if positive and _item_matches_ids(item2, c.strs):
                return True
            if not positive and ident and not _cmp(op, ident, c):
                return False
        return not positive
    if kind == P_ITEMS_COUNT:
        return _cmp_ll(op, len(ctx.items), c)
    if kind == P_ITEMS_QUANTITY:
        q = 0
        for it in ctx.items:
            item3: Item = it
            q += item3.quantity
        return _cmp(op, q, c)
    if kind == P_ITEMS_PRICE_ANY or kind == P_ITEMS_PRICE_EACH:
        each = kind == P_ITEMS_PRICE_EACH
        if not ctx.items:
            return False
        for it in ctx.items:
            item4: Item = it
            ok = _cmp(op, item4.price, c)
            if ok and not each:
                return True
            if not ok and each:
                return False
        return each
    if kind == P_ITEMS_METADATA:
        for it in ctx.items:
            item5: Item = it
            if _cmp(op, _meta(item5.metadata, c.prop), c):
                return True
        return False
    if kind == P_ORDER_METADATA:
        return _cmp(op, _meta(ctx.order_metadata, c.prop), c)
    if kind == P_CUSTOMER_METADATA:
        md = ctx.customer.metadata if ctx.customer is not None else None
        return _cmp(op, _meta(md, c.prop), c)
    if kind == P_CUSTOMER_SEGMENT:
        if op == O_IS or op == O_IN:
            return not ctx.segments.isdisjoint(c.strs)
        if op == O_IS_NOT or op == O_NOT_IN:
            return ctx.segments.isdisjoint(c.strs)
        return _cmp(op, None, c)
    if kind == P_CUSTOMER_FIELD:
        cu = ctx.customer
        v = None
        if cu is not None:
            p = c.prop
            if p == "id":
                v = cu.id
            elif p == "source_id":
                v = cu.source_id
            elif p == "email":
                v = cu.email
            elif cu.address is not None:
                v = cu.address.country if p == "country" else cu.address.city
        return _cmp(op, v, c)
    if kind == P_CUSTOMER_ORDERS_COUNT or kind == P_CUSTOMER_ORDERS_AMOUNT:
        # unknown metrics (no summary) match only `$is_unknown` / negative operators
        cu = ctx.customer
        v = None
        if cu is not None and cu.summary is not None and cu.summary.orders is not None:
            orders = cu.summary.orders
            v = orders.total_count if kind == P_CUSTOMER_ORDERS_COUNT else orders.total_amount
        return _cmp(op, v, c)
    return False


def _rules_fail(r: RuleSet_, ctx: Ctx):
    """None when the rule holds; else the failing Cond (or the rule itself if no single one)."""
    prog = r.program
    if not prog:
        return None
    n: cython.Py_ssize_t = len(r.conds)
    i: cython.Py_ssize_t
    if r.junction == J_AND:  # the first condition that fails, as the general path finds it
        for i in range(n):
            if not _cond(r.conds[i], ctx):
                return r.conds[i]
        return None
    if r.junction == J_OR:
        for i in range(n):
            if _cond(r.conds[i], ctx):
                return None
        return r.conds[0]
    results = [False] * n
    for i in range(n):
        results[i] = _cond(r.conds[i], ctx)
    stack = []
    for p in prog:
        code: cython.int = p
        if code >= 0:
            stack.append(results[code])
        elif code == _logic.OP_TRUE:
            stack.append(True)
        elif code == _logic.OP_NOT:
            stack.append(not stack.pop())
        else:
            b = stack.pop()
            a = stack.pop()
            stack.append((a and b) if code == _logic.OP_AND else (a or b))
    if stack[0]:
        return None
    for i in range(n):
        if not results[i]:
            return r.conds[i]
    return r


# ----------------------------------------------------------------------------- per redeemable


def _fail(o: Outcome, key, message=None, details=""):
    o.status = INAPPLICABLE
    o.key = key
    o.message = message or MSG.get(key, key)
    o.details = details
    return o


def _skip(o: Outcome, key):
    o.status = SKIPPED
    o.key = key
    o.message = MSG.get(key, key)
    return o


def _window_error(w: Window, ctx: Ctx, tier: cython.bint):
    now = ctx.now_ms
    if w.start != NO_LIMIT and now < w.start:
        return "promotion_inactive" if tier else "voucher_not_active"
    if w.end != NO_LIMIT and now >= w.end:
        return "promotion_inactive" if tier else "voucher_expired"
    late = "promotion_not_active_now" if tier else "voucher_not_active_now"
    if w.days and not (w.days >> ctx.weekday) & 1:
        return late
    if w.hours:
        ok = False
        for h in w.hours:
            a = h[0]
            b = h[1]
            if (a <= ctx.minute < b) if a < b else (ctx.minute >= a or ctx.minute < b):
                ok = True
                break
        if not ok:
            return late
    if w.interval and (now - w.start) % w.interval >= w.duration:
        return late
    return ""


def _check(h: Holder, o: Outcome, ctx: Ctx):
    """Eligibility that does not depend on amounts: state, dates, customer, rules."""
    tier = h.kind == H_TIER
    camp = h.campaign
    if not h.active:
        return _fail(o, "promotion_inactive" if tier else "voucher_disabled")
    if camp is not None and not camp.active:
        return _fail(o, "promotion_inactive" if tier else "voucher_disabled")
    err = _window_error(h.window, ctx, tier)
    if not err and camp is not None:
        err = _window_error(camp.window, ctx, tier)
    if err:
        return _fail(o, err)
    holder = h.customer and (
        h.customer == ctx.customer_key or (ctx.customer is not None and h.customer == ctx.customer.id)
    )
    if h.referral:  # a referral code's holder is the referrer: a friend (a named one) redeems it
        if ctx.customer is None or not ctx.customer_key:
            return _fail(
                o, "missing_customer", "Customer is required: a referral code is redeemed by a referee"
            )
        if holder:
            return _fail(
                o, "referrer_not_permitted_to_redeem", "the referral code is being redeemed by the referrer"
            )
        if h.refused:
            return _fail(o, h.refused, MSG[h.refused])
    elif h.customer and not holder:
        if not h.wallet:
            return _fail(o, "customer_rules_violated", "voucher is assigned to another customer")
        if ctx.customer is not None:  # a member's card pays for its holder, or for nobody named
            return _fail(o, "customer_rules_violated", "loyalty card is held by another customer")
    for r in h.rules:
        bad = _rules_fail(r, ctx)
        if bad is not None:
            key = "order_rules_violated"
            msg = bad.message or r.message
            if isinstance(bad, Cond) and bad.is_customer:
                key = "customer_rules_violated"
            return _fail(o, key, msg or MSG[key])
    return None


def _counter_value(counters, key):
    v = counters.get(key)
    return 0 if v is None else int(v)


def _add_op(o: Outcome, key, delta, limit, error, ttl, hold):
    """Add an op, merging with one already on the same key (the tightest limit wins).
    A zero delta can neither count nor break a limit, so it is left out."""
    if delta <= 0:
        return
    ops = o.ops
    n = len(ops)
    for i in range(n):
        op = ops[i]
        if op[0] == key:
            lim = op[2]
            if limit != NO_LIMIT and (lim == NO_LIMIT or limit < lim):
                ops[i] = (key, op[1], limit, error, ttl, hold or op[5])
            return
    ops.append((key, delta, limit, error, ttl, hold))


def _plan(h: Holder, o: Outcome, ctx: Ctx, order_value):
    """The counter ops a redemption of ``h`` must check and apply."""
    camp = h.campaign
    cust = ctx.customer_key
    if h.kind == H_VOUCHER:
        base = h.k_base
        # an unlimited code is still counted against USES_MAX: a counter set to it is revoked
        _add_op(o, h.k_uses, 1, h.quantity if h.quantity != NO_LIMIT else USES_MAX,
                "quantity_exceeded", 0, 1)
        if h.per_customer != NO_LIMIT:
            _add_op(o, base + ":c:" + cust, 1, h.per_customer, "quantity_exceeded", 0, 0)
        if o.gift_credits > 0:
            _add_op(o, base + ":spent", o.gift_credits, h.gift_amount, "gift_amount_exceeded", 0, 1)
        if o.points > 0 and not h.wallet:  # a wallet card's points: its debit (debits())
            _add_op(o, base + ":points", o.points, h.points, "loyalty_card_points_exceeded", 0, 1)
    else:
        _add_op(o, h.k_uses, 1, NO_LIMIT, "quantity_exceeded", 0, 0)
    if camp is None:
        return
    if h.referral and camp.ref_counted and cust:
        # the redemption converts the referral: the referee once per programme, the referrer
        # (the code's holder) within the programme's limit of referees, counted atomically
        _add_op(o, camp.k_referee + cust, 1, 1, "customer_already_referred", 0, 0)
        if camp.lim_referees != NO_LIMIT and h.customer:
            _add_op(o, camp.k_referrer + h.customer, 1, camp.lim_referees, "referral_limit_exceeded", 0, 0)
    _add_op(o, camp.k_uses, 1, camp.lim_redemptions, "quantity_exceeded", 0, 0)
    if camp.lim_per_day != NO_LIMIT:
        _add_op(o, camp.k_uses + ":d:" + ctx.day, 1, camp.lim_per_day, "quantity_exceeded", ctx.day_ttl, 0)
    disc = o.total_discount
    _add_op(o, camp.k_disc, disc, camp.lim_discounted, "redemption_rules_violated", 0, 0)
    _add_op(o, camp.k_ordval, order_value, camp.lim_order_value, "redemption_rules_violated", 0, 0)
    if o.gift_credits > 0 and camp.lim_gift_credits != NO_LIMIT:
        _add_op(o, camp.k_spent, o.gift_credits, camp.lim_gift_credits, "gift_amount_exceeded", 0, 0)
    if cust:
        ck = camp.k_cust + cust
        _add_op(o, ck, 1, camp.lim_per_customer, "redemption_rules_violated", 0, 0)
        if camp.lim_per_customer_day != NO_LIMIT:
            _add_op(o, ck + ":d:" + ctx.day, 1, camp.lim_per_customer_day,
                    "redemption_rules_violated", ctx.day_ttl, 0)  # fmt: skip
        if camp.lim_per_customer_week != NO_LIMIT:
            _add_op(o, ck + ":w:" + ctx.week, 1, camp.lim_per_customer_week,
                    "redemption_rules_violated", ctx.week_ttl, 0)  # fmt: skip
        if camp.lim_per_customer_month != NO_LIMIT:
            _add_op(o, ck + ":m:" + ctx.month, 1, camp.lim_per_customer_month,
                    "redemption_rules_violated", ctx.month_ttl, 0)  # fmt: skip
    for r in h.rules:
        rr: RuleSet_ = r
        if not rr.limits:
            continue
        ck = camp.k_cust + cust
        for lim in rr.limits:
            kind = lim[0]
            limit = lim[1]
            if kind == P_CAMPAIGN_DISCOUNTED:
                _add_op(o, camp.k_disc, disc, limit, "redemption_rules_violated", 0, 0)
            elif kind == P_CAMPAIGN_ORDER_VALUE:
                _add_op(o, camp.k_ordval, order_value, limit, "redemption_rules_violated", 0, 0)
            elif kind == P_CAMPAIGN_REDEMPTIONS:
                _add_op(o, camp.k_uses, 1, limit, "redemption_rules_violated", 0, 0)
            elif kind == P_COUNT_PER_CUSTOMER:
                _add_op(o, ck, 1, limit, "redemption_rules_violated", 0, 0)
            elif kind == P_COUNT_PER_CUSTOMER_DAY:
                _add_op(o, ck + ":d:" + ctx.day, 1, limit, "redemption_rules_violated", ctx.day_ttl, 0)
            elif kind == P_COUNT_PER_CUSTOMER_WEEK:
                _add_op(o, ck + ":w:" + ctx.week, 1, limit, "redemption_rules_violated", ctx.week_ttl, 0)
            else:
                _add_op(o, ck + ":m:" + ctx.month, 1, limit, "redemption_rules_violated", ctx.month_ttl, 0)


def _needs_customer(h: Holder) -> cython.bint:
    if h.per_customer != NO_LIMIT:
        return True
    camp = h.campaign
    if camp is not None and (
        camp.lim_per_customer != NO_LIMIT
        or camp.lim_per_customer_day != NO_LIMIT
        or camp.lim_per_customer_week != NO_LIMIT
        or camp.lim_per_customer_month != NO_LIMIT
    ):
        return True
    for r in h.rules:
        rr: RuleSet_ = r
        for lim in rr.limits:
            if lim[0] <= P_COUNT_PER_CUSTOMER_MONTH:
                return True
    return False


def _limits_fail(o: Outcome, counters, pending):
    """The first op whose limit the live counters (plus this request's earlier ops) break."""
    for op in o.ops:
        limit = op[2]
        if limit == NO_LIMIT:
            continue
        key = op[0]
        cur = _counter_value(counters, key) + pending.get(key, 0)
        if cur + op[1] > limit:
            return op
    return None


# ----------------------------------------------------------------------------- discounts


def _target_matches(t: Target, item: Item) -> cython.bint:
    ident = t.ident
    kind = t.kind
    if kind == "product":
        return ident == item.product_id or ident in item.ids
    if kind == "sku":
        return ident == item.sku_id or ident in item.ids
    return ident in item.groups


def _slices(h: Holder, ctx: Ctx):
    """Which units of which lines an item-level discount applies to.

    Returns a list of ``(item, units, target)``; ``units`` never exceeds the line's quantity.
    With no targets at all (or ``included_all``), every line counts in full.
    """
    targets = []
    excluded = []
    every = False
    for r in h.rules:
        rr: RuleSet_ = r
        targets.extend(rr.targets)
        excluded.extend(rr.excluded)
        if rr.included_all:
            every = True
    items = []
    for it in ctx.items:
        item: Item = it
        if item.quantity <= 0 and item.added <= 0:
            continue
        bad = False
        for x in excluded:
            if _target_matches(x, item):
                bad = True
                break
        if not bad:
            items.append(item)
    if every or not targets:
        return [(item, item.quantity + item.added, None) for item in items]
    out = []
    taken = {}
    for t in targets:
        tt: Target = t
        matched = [item for item in items if _target_matches(tt, item)]
        eff = tt.effect
        if eff != T_EVERY:
            desc = eff == T_MOST_EXPENSIVE or eff == T_FROM_MOST_EXPENSIVE
            matched.sort(key=_dear_first if desc else _cheap_first)
        budget = tt.agg_qty_limit
        if eff == T_CHEAPEST or eff == T_MOST_EXPENSIVE:
            budget = tt.qty_limit if tt.qty_limit != NO_LIMIT else 1
            if tt.agg_qty_limit != NO_LIMIT and tt.agg_qty_limit < budget:
                budget = tt.agg_qty_limit
        for item in matched:
            if budget == 0:
                break
            units = item.quantity + item.added - taken.get(item.index, 0)
            if tt.qty_limit != NO_LIMIT and units > tt.qty_limit:
                units = tt.qty_limit
            if budget != NO_LIMIT and units > budget:
                units = budget
            if units <= 0:
                continue
            taken[item.index] = taken.get(item.index, 0) + units
            if budget != NO_LIMIT:
                budget -= units
            out.append((item, units, tt))
    return out


def _cheap_first(item):
    return (item.price, item.index)


def _dear_first(item):
    return (-item.price, item.index)


def _hierarchy_key(o):
    return (o.holder.hierarchy if o.holder is not None else 1 << 30, o.index)


def _best_key(o):
    return (-o.total_discount, o.holder.seq, o.id)


def _least_key(o):
    return (o.total_discount, o.holder.seq, o.id)


def _default_key(o):
    return (o.holder.seq, o.id)


def _line_base(item: Item, units) -> cython.longlong:
    """Remaining (undiscounted) cents of ``units`` units of a line."""
    q: cython.longlong = item.quantity + item.added
    rem: cython.longlong = item.amount - item.discount
    if q <= 0 or rem <= 0:
        return 0
    if units >= q:
        return rem
    return rem * units // q


def _apply_target_caps(parts, slices):
    """Per-line ``amount_limit`` and per-target ``aggregated_amount_limit`` caps."""
    used = {}
    for i, sl in enumerate(slices):
        t = sl[2]
        if t is None:
            continue
        tt: Target = t
        if tt.amt_limit != NO_LIMIT and parts[i] > tt.amt_limit:
            parts[i] = tt.amt_limit
        if tt.agg_amt_limit != NO_LIMIT:
            u = used.get(id(tt), 0)
            room = tt.agg_amt_limit - u
            if parts[i] > room:
                parts[i] = room if room > 0 else 0
            used[id(tt)] = u + parts[i]
    return parts


def _item_discount(h: Holder, d: Disc, ctx: Ctx, o: Outcome):
    slices = _slices(h, ctx)
    if not slices:
        return
    bases = [_line_base(sl[0], sl[1]) for sl in slices]
    eff = d.effect
    dtype = d.dtype
    n = len(slices)
    parts = [0] * n
    if dtype == D_PERCENT:
        for i in range(n):
            parts[i] = percent_of(bases[i], d.bp)
    elif dtype == D_FIXED:
        for i in range(n):
            p = bases[i] - d.fixed_amount * slices[i][1]
            parts[i] = p if p > 0 else 0
    elif eff == E_ITEMS:
        # once per line, even when overlapping targets cut one line into several slices
        lines = set()
        for i in range(n):
            item: Item = slices[i][0]
            if item.index not in lines:
                lines.add(item.index)
                parts[i] = d.amount_off
    elif eff == E_ITEMS_QTY:
        for i in range(n):
            parts[i] = d.amount_off * slices[i][1]
    elif eff == E_ITEMS_PROP:
        total = sum(bases)
        parts = split(d.amount_off if d.amount_off < total else total, bases)
    else:  # E_ITEMS_PROP_QTY
        units = [sl[1] for sl in slices]
        total = sum(bases)
        parts = split(d.amount_off if d.amount_off < total else total, units)
    for i in range(n):
        if parts[i] > bases[i]:
            parts[i] = bases[i]
    parts = _apply_target_caps(parts, slices)
    if d.amount_limit != NO_LIMIT:
        s = sum(parts)
        if s > d.amount_limit:
            parts = split(d.amount_limit, parts)
    # never more than what is left of the order: an order-level discount may have come first
    s = sum(parts)
    room = ctx.remaining()
    if s > room:
        parts = split(room if room > 0 else 0, parts)
    merged = {}
    for i in range(n):
        if parts[i] > 0:
            item: Item = slices[i][0]
            merged[item.index] = merged.get(item.index, 0) + parts[i]
    for idx, cents in merged.items():
        item2: Item = ctx.items[idx]
        item2.discount += cents
        ctx.items_discount += cents
        o.items_discount += cents
        o.item_discounts.append((idx, cents))


def _order_base(h: Holder, ctx: Ctx) -> cython.longlong:
    """What an order-level discount is computed on: the whole remaining order, or only
    the targeted lines when the holder's rules name targets."""
    targeted = False
    for r in h.rules:
        rr: RuleSet_ = r
        if (rr.targets and not rr.included_all) or rr.excluded:
            targeted = True
            break
    if not targeted:
        return ctx.remaining()
    base: cython.longlong = 0
    for sl in _slices(h, ctx):
        base += _line_base(sl[0], sl[1])
    rem = ctx.remaining()
    return base if base < rem else rem


def _unit_discount(h: Holder, d: Disc, ctx: Ctx, rs: Ruleset, o: Outcome):
    """UNIT: give ``unit_off`` units of ``unit_type`` free, adding missing ones to the order."""
    target = None
    for it in ctx.items:
        item: Item = it
        if item.product_id == d.unit_type or item.sku_id == d.unit_type or d.unit_type in item.ids:
            target = item
            break
    want: cython.longlong = d.unit_off
    if target is None:
        price = 0
        sinfo = rs.skus.get(d.unit_type)
        if sinfo is not None and sinfo[1] is not None:
            price = sinfo[1]
        else:
            pinfo = rs.products.get(d.unit_type)
            if pinfo is not None and pinfo[2] is not None:
                price = pinfo[2]
        target = Item()
        target.index = len(ctx.items)
        target.product_id = d.unit_type
        target.ids = (d.unit_type,)
        target.price = price
        ctx.items.append(target)
    have: cython.longlong = target.quantity + target.added
    if d.effect == E_ADD_MISSING:
        add = want - have if want > have else 0
    else:
        add = want
    if add > 0:
        target.added += add
        target.amount += add * target.price
        ctx.amount += add * target.price
        o.added.append((target.index, add))
    cents = want * target.price
    rem = target.amount - target.discount
    if cents > rem:
        cents = rem
    rem = ctx.remaining()  # nor more than what is left of the order
    if cents > rem:
        cents = rem
    if cents > 0:
        target.discount += cents
        ctx.items_discount += cents
        o.items_discount += cents
        o.item_discounts.append((target.index, cents))


def _apply(h: Holder, o: Outcome, ctx: Ctx, rs: Ruleset, r, counters):
    """Compute and apply the discount, gift credits or points of ``h`` to the running order.

    Returns an error key when it cannot apply (gift / points exceeded), else "".
    """
    if h.wallet:
        return _apply_wallet(h, o, ctx, r, counters)
    if h.gift_amount != NO_LIMIT:
        balance = h.gift_amount
        known = counters is not None
        if known:
            balance -= _counter_value(counters, h.k_base + ":spent")
        credits = -1
        if r is not None and r.gift is not None and r.gift.credits is not None:
            credits = r.gift.credits
        if credits >= 0:
            # without live counters the card's whole amount still bounds what can be asked
            if credits > balance or credits > h.gift_amount:
                return "gift_amount_exceeded"
            want = credits
        else:
            want = balance if balance > 0 else 0
        rem = ctx.remaining()
        use = want if want < rem else rem
        if use <= 0 and (balance <= 0 or credits > 0):
            return "gift_amount_exceeded"
        o.gift_credits = use
        o.gift_balance = balance - use if known else NO_LIMIT
        ctx.order_discount += use
        o.order_discount += use
        return ""
    if h.points != NO_LIMIT:
        if r is None or r.reward is None or r.reward.points is None:
            return "missing_reward"
        pts = r.reward.points
        left = h.points
        if counters is not None:
            left -= _counter_value(counters, h.k_base + ":points")
        if pts > left:
            return "loyalty_card_points_exceeded"
        value = pts * h.point_value
        rem = ctx.remaining()
        use = value if value < rem else rem
        o.points = pts
        o.points_balance = left - pts if counters is not None else NO_LIMIT
        ctx.order_discount += use
        o.order_discount += use
        return ""
    d: Disc = h.discount
    if d.dtype == D_UNIT:
        _unit_discount(h, d, ctx, rs, o)
        return ""
    if d.effect != E_ORDER:
        _item_discount(h, d, ctx, o)
        return ""
    base = _order_base(h, ctx)
    if d.dtype == D_AMOUNT:
        cents = d.amount_off
    elif d.dtype == D_PERCENT:
        cents = percent_of(base, d.bp)
        if d.amount_limit != NO_LIMIT and cents > d.amount_limit:
            cents = d.amount_limit
    else:  # FIXED: the order (or the targeted part) costs fixed_amount
        cents = base - d.fixed_amount
    if cents > base:
        cents = base
    if cents < 0:
        cents = 0
    ctx.order_discount += cents
    o.order_discount += cents
    return ""


def _apply_wallet(h: Holder, o: Outcome, ctx: Ctx, r, counters):
    """Pay with points from a wallet card through a COIN reward of its program.

    The points spent are ``reward.points``, or, when absent, as many as the rest of the order
    needs, up to the spendable balance; never more than the order needs (the discount is
    capped at what is left to pay, so are the points). The spendable balance is
    ``counters[h.k_card]`` (the live balance less other sessions' holds); without counters
    the redeem script checks it.
    """
    rw = r.reward if r is not None else None
    if rw is None or not rw.id:
        o.details = "A reward is required when redeeming a LOYALTY_CARD"
        return "missing_reward"
    camp = h.campaign
    coin = camp.coins.get(rw.id)
    if coin is None:
        kind = camp.rewards.get(rw.id)
        if kind is None:
            o.details = f"Cannot find reward {rw.id} assigned to campaign {camp.id}"
            return "not_found"
        o.details = (
            f"Reward {rw.id} is a {kind} reward, not pay with points (COIN): redeem it with "
            "POST /v1/loyalties/members/{memberId}/redemption"
        )
        return "missing_reward"
    known = counters is not None
    spendable = 0
    if known:
        spendable = _counter_value(counters, h.k_card)
        if spendable < 0:
            spendable = 0
    rem = ctx.remaining()
    need = coin.points_for(rem)
    if rw.points is not None:
        pts = rw.points
        if pts <= 0:
            o.details = "reward.points must be at least 1"
            return "invalid_amount"
        if known and pts > spendable:
            o.details = f"The card has {spendable} points to spend, {pts} were asked"
            return "loyalty_card_points_exceeded"
        if pts > need:
            pts = need
    else:
        pts = need
        if known and pts > spendable:
            pts = spendable
            if pts <= 0:
                o.details = "The card has no points to spend"
                return "loyalty_card_points_exceeded"
    if pts <= 0:
        o.details = "Nothing is left to pay with points"
        return "invalid_amount"
    value = coin.value(pts)
    use = value if value < rem else rem
    o.points = pts
    o.points_balance = spendable - pts if known else NO_LIMIT
    o.reward = coin
    ctx.order_discount += use
    o.order_discount += use
    return ""


# ----------------------------------------------------------------------------- resolve


def _resolve(rs: Ruleset, r, vouchers):
    """The Holder a request redeemable names, or None."""
    if r.object == "promotion_tier":
        return rs.tiers.get(r.id)
    if r.object != "voucher":
        return None
    if vouchers is not None:
        v = vouchers.get(r.id)
        if v is not None:
            if isinstance(v, Holder):
                return v
            return holder_for_voucher(rs, v)
    return rs.vouchers.get(r.id)


def _category_limit(rs: Ruleset, cat) -> cython.int:
    v = rs.cat_limits.get(cat)
    if v is not None:
        return v
    if cat in rs.exclusive:
        return rs.limit_exclusive_per_category
    return rs.limit_per_category


def _snapshot(o: Outcome, ctx: Ctx):
    o.amount_after = ctx.amount
    o.discount_after = ctx.order_discount
    o.items_discount_after = ctx.items_discount


def evaluate(rs: Ruleset, redeemables, customer, order, now_ms, vouchers=None, counters=None):
    """Validate ``redeemables`` against ``order`` for ``customer`` at ``now_ms``.

    ``vouchers`` maps codes to ``core.model.Voucher`` (or prepared holders) looked up
    outside the ruleset; ``counters`` maps counter keys to live values (including
    reservations held by others). With ``counters`` None, limits are not checked
    here: the plan carries them, and the redeem script enforces them.
    Raises ``RequestError`` for a request that is wrong as a whole.
    """
    n = len(redeemables)
    if n == 0:
        raise RequestError("invalid_redeemables", "Provide at least one redeemable")
    if n > rs.limit_total:
        raise RequestError(
            "invalid_redeemables",
            f"Too many redeemables: at most {rs.limit_total} per request",
        )
    seen = set()
    for r in redeemables:
        k = (r.object, r.id)
        if k in seen:
            raise RequestError(
                "duplicated_redeemables", f"Redeemable {r.object} {r.id} is given more than once"
            )
        seen.add(k)
    ctx = _build_ctx(rs, customer, order, now_ms)
    ev = Evaluation()
    ev.initial_amount = ctx.initial_amount
    outcomes = []
    for i in range(n):
        r = redeemables[i]
        o = Outcome(i, r.object, r.id)
        h = _resolve(rs, r, vouchers)
        o.holder = h
        outcomes.append(o)
        if h is None:
            _fail(o, "resource_not_found", f"Cannot find {r.object} with id {r.id}")
            continue
        if _check(h, o, ctx) is not None:
            continue
        if _needs_customer(h) and not ctx.customer_key:
            _fail(o, "missing_customer", "Customer is required: this redeemable has per-customer limits")
            continue
        if h.gift_amount != NO_LIMIT and counters is None and (
            r.gift is None or r.gift.credits is None
        ):
            ev.needs_counters = True
        if h.wallet and counters is None and (r.reward is None or r.reward.points is None):
            ev.needs_counters = True
    order_seq = outcomes
    if rs.sort_hierarchy:
        order_seq = sorted(outcomes, key=_hierarchy_key)
    any_bad = False
    for o in outcomes:
        if o.status == INAPPLICABLE:
            any_bad = True
    if any_bad and rs.mode_all:
        for o in outcomes:
            if o.status == APPLICABLE:
                _skip(o, "preceding_validation_failed")
        _finish(ev, ctx, outcomes)
        ev.valid = False
        return ev
    # exclusivity: an applicable redeemable from an exclusive category admits only joint ones
    exclusive_on = False
    for o in order_seq:
        if o.status == APPLICABLE and o.holder.category in rs.exclusive:
            exclusive_on = True
            break
    applied = 0
    exclusive_applied = 0
    per_cat = {}
    pending = {}
    for o in order_seq:
        if o.status != APPLICABLE:
            continue
        h = o.holder
        cat = h.category
        is_excl = cat in rs.exclusive
        if exclusive_on and not is_excl and cat not in rs.joint:
            _skip(o, "exclusion_rules_not_met")
            continue
        if is_excl and exclusive_applied >= rs.limit_exclusive:
            _skip(o, "applicable_exclusive_redeemables_limit_exceeded")
            continue
        if applied >= rs.limit_applicable:
            _skip(o, "applicable_redeemables_limit_exceeded")
            continue
        if cat and per_cat.get(cat, 0) >= _category_limit(rs, cat):
            _skip(o, "applicable_redeemables_per_category_limit_exceeded")
            continue
        n_items = len(ctx.items)
        o.details = ""
        err = _apply(h, o, ctx, rs, redeemables[o.index], counters)
        if err:
            _undo(ctx, o, n_items)
            _fail(o, err, None, o.details)
            continue
        _plan(h, o, ctx, ctx.initial_amount)
        if counters is not None:
            bad = _limits_fail(o, counters, pending)
            if bad is not None:
                o.limit = (bad[0], bad[1], bad[2], bad[3],
                           _counter_value(counters, bad[0]) + pending.get(bad[0], 0))
                _undo(ctx, o, n_items)
                o.ops = []
                _fail(o, bad[3])
                continue
        if rs.skip_no_effect and o.total_discount == 0 and not o.added:
            _undo(ctx, o, n_items)
            o.ops = []
            _skip(o, "no_effect")
            continue
        for op in o.ops:
            pending[op[0]] = pending.get(op[0], 0) + op[1]
        _snapshot(o, ctx)
        applied += 1
        if is_excl:
            exclusive_applied += 1
        if cat:
            per_cat[cat] = per_cat.get(cat, 0) + 1
    late_bad = False
    for o in outcomes:
        if o.status == INAPPLICABLE:
            late_bad = True
    if late_bad and rs.mode_all:
        # a limit or balance failed while applying: in ALL mode nothing applies
        ctx2 = _build_ctx(rs, customer, order, now_ms)
        for o in outcomes:
            if o.status == APPLICABLE:
                _clear(o)
                _skip(o, "preceding_validation_failed")
        _finish(ev, ctx2, outcomes)
        ev.valid = False
        return ev
    _finish(ev, ctx, outcomes)
    ev.valid = applied > 0
    return ev


def _undo(ctx: Ctx, o: Outcome, n_items):
    """Take back what ``_apply`` did for ``o`` and forget its figures."""
    _revert(ctx, o, n_items)
    _clear(o)


def _revert(ctx: Ctx, o: Outcome, n_items):
    """Take back from ``ctx`` what ``_apply`` did for ``o`` (discounts, added units and lines)."""
    for entry in o.item_discounts:
        item: Item = ctx.items[entry[0]]
        item.discount -= entry[1]
        ctx.items_discount -= entry[1]
    for entry in o.added:
        item2: Item = ctx.items[entry[0]]
        item2.added -= entry[1]
        item2.amount -= entry[1] * item2.price
        ctx.amount -= entry[1] * item2.price
    ctx.order_discount -= o.order_discount
    del ctx.items[n_items:]


def _clear(o: Outcome):
    o.order_discount = 0
    o.items_discount = 0
    o.item_discounts = []
    o.added = []
    o.gift_credits = 0
    o.points = 0
    o.reward = None
    o.ops = []


def _finish(ev: Evaluation, ctx: Ctx, outcomes):
    ev.outcomes = outcomes
    ev.items = ctx.items
    ev.amount = ctx.amount
    ev.discount_amount = ctx.order_discount
    ev.items_discount_amount = ctx.items_discount
    for o in outcomes:
        if o.status != APPLICABLE:
            _snapshot(o, ctx)


# ----------------------------------------------------------------------------- qualifications


def candidates(rs: Ruleset, customer, order, vouchers=None):
    """Holders that could apply to this cart: indexed tiers, always-on tiers, generic codes,
    the customer's own codes, and ``vouchers`` (the customer's wallet, looked up outside)."""
    found = []
    seen = set()
    for h in rs.always:
        found.append(h)
        seen.add(id(h))
    if order is not None and order.items:
        for it in order.items:
            ids = []
            for x in (it.product_id, it.sku_id, it.source_id):
                if x:
                    ids.append(x)
            if it.product is not None and it.product.id:
                ids.append(it.product.id)
            if it.sku is not None and it.sku.id:
                ids.append(it.sku.id)
            for x in list(ids):
                info = rs.products.get(x)
                if info is not None:
                    ids.extend(info[0])
                    ids.extend(info[1])
                sinfo = rs.skus.get(x)
                if sinfo is not None:
                    ids.append(sinfo[0])
                    pinfo = rs.products.get(sinfo[0])
                    if pinfo is not None:
                        ids.extend(pinfo[0])
                        ids.extend(pinfo[1])
            for x in ids:
                lst = rs.by_item.get(x)
                if lst is None:
                    continue
                for h in lst:
                    if id(h) not in seen:
                        seen.add(id(h))
                        found.append(h)
    for h in rs.generic:
        found.append(h)
        seen.add(id(h))
    if customer is not None:
        for k in (customer.source_id, customer.id):
            if k:
                for h in rs.by_customer.get(k, ()):
                    if id(h) not in seen:
                        seen.add(id(h))
                        found.append(h)
    if vouchers is not None:
        for v in vouchers.values():
            h = v if isinstance(v, Holder) else holder_for_voucher(rs, v)
            if id(h) not in seen:
                seen.add(id(h))
                found.append(h)
    return found


def qualify(rs: Ruleset, customer, order, now_ms, vouchers=None, counters=None, sorting="DEFAULT"):
    """Every candidate that applies on its own to this cart and has an effect.

    Returns Outcomes (each with its own ``order`` figures and plan), sorted
    ``DEFAULT`` (campaign order, then tier hierarchy), ``BEST_DEAL`` (largest
    discount first) or ``LEAST_DEAL``. Live limits are honoured when
    ``counters`` is given.
    """
    out = []
    ctx = _build_ctx(rs, customer, order, now_ms)
    n_items = len(ctx.items)
    for h in candidates(rs, customer, order, vouchers):
        if h.points != NO_LIMIT or h.wallet:
            continue  # pay-with-points needs an explicit reward request
        o = Outcome(len(out), "voucher" if h.kind == H_VOUCHER else "promotion_tier", h.code or h.id)
        o.holder = h
        if _check(h, o, ctx) is not None:
            continue
        if _needs_customer(h) and not ctx.customer_key:
            continue
        if _apply(h, o, ctx, rs, None, counters):
            _undo(ctx, o, n_items)
            continue
        _plan(h, o, ctx, ctx.initial_amount)
        if (counters is not None and _limits_fail(o, counters, {}) is not None) or (
            o.total_discount == 0 and not o.added
        ):
            _undo(ctx, o, n_items)
            continue
        _snapshot(o, ctx)
        _revert(ctx, o, n_items)  # each candidate is judged alone, on the untouched cart
        out.append(o)
    if sorting == "BEST_DEAL":
        out.sort(key=_best_key)
    elif sorting == "LEAST_DEAL":
        out.sort(key=_least_key)
    else:
        out.sort(key=_default_key)
    return out


def counters_change_nothing(ev: Evaluation, counters) -> cython.bint:
    """True when judging ``ev`` again with ``counters`` would give the same answer: every
    applicable redeemable's limits hold (counting this request's earlier ops) and none spends a
    balance whose live value would show in the answer (gift cards, loyalty cards)."""
    pending = {}
    for o in ev.outcomes:
        oo: Outcome = o
        if oo.status != APPLICABLE:
            continue
        h: Holder = oo.holder
        if h.gift_amount != NO_LIMIT or h.points != NO_LIMIT or h.wallet:
            return False
        if _limits_fail(oo, counters, pending) is not None:
            return False
        for op in oo.ops:
            pending[op[0]] = pending.get(op[0], 0) + op[1]
    return True


def within_limits(outcomes, counters) -> list:
    """The qualified ``outcomes`` whose limits the live ``counters`` still allow, each judged
    alone (what ``qualify`` with ``counters`` returns, when no outcome shows a live balance)."""
    out = []
    for o in outcomes:
        if _limits_fail(o, counters, {}) is None:
            out.append(o)
    return out


def shows_balance(outcomes) -> cython.bint:
    """True when some outcome spends a gift or loyalty card, whose live balance shapes it."""
    for o in outcomes:
        oo: Outcome = o
        h: Holder = oo.holder
        if h.gift_amount != NO_LIMIT or h.points != NO_LIMIT or h.wallet:
            return True
    return False


def keys_for(outcomes, every=False) -> list:
    """Distinct counter keys some outcomes' plans check against a limit: what a second pass
    needs to read (a gift or loyalty card's spent counter is limited by the card's amount).
    Counters without a limit only count, so they are not read; nor is an unlimited code's use
    counter (counted against USES_MAX: a revoked code is refused by the redemption's own
    atomic check) unless ``every``: judging again after a count was refused reads it too."""
    seen = {}
    for o in outcomes:
        for op in o.ops:
            if op[2] != NO_LIMIT and (every or op[2] != USES_MAX):
                seen[op[0]] = None
    return list(seen)


def cards_for(outcomes) -> list:
    """Distinct wallet cards whose live spendable balance a second pass needs, as
    ``(k_card, campaign id, code)``: ``counters[k_card]`` is then the card's balance less what
    other sessions hold on it (``store.counters.Store.check``)."""
    seen = {}
    for o in outcomes:
        oo: Outcome = o
        h: Holder = oo.holder
        if h is not None and h.wallet and oo.status == APPLICABLE and h.k_card not in seen:
            seen[h.k_card] = (h.k_card, h.campaign.id, h.code)
    return list(seen.values())


def debits(ev: Evaluation) -> list:
    """The wallet debits a redemption (or a session lock) of ``ev`` makes, one per applicable
    wallet card: ``(outcome, campaign id, code, points)``, in processing order."""
    out = []
    for o in ev.outcomes:
        oo: Outcome = o
        h: Holder = oo.holder
        if oo.status == APPLICABLE and h.wallet and oo.points > 0:
            out.append((oo, h.campaign.id, h.code, oo.points))
    return out
