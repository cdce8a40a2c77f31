# C types for core/_engine.py (Cython pure-Python mode: this file augments the .py).
# Everything declared here must keep the .py runnable as plain Python: the twin.
cimport cython


cdef class Cond:
    cdef public int kind
    cdef public int op
    cdef public tuple values
    cdef public frozenset strs
    cdef public tuple nums
    cdef public long long iref
    cdef public bint iref_ok
    cdef public object prop
    cdef public list sub
    cdef public bint is_customer
    cdef public object message


cdef class RuleSet_:
    cdef public object id
    cdef public list conds
    cdef public list program
    cdef public list limits
    cdef public list targets
    cdef public list excluded
    cdef public bint included_all
    cdef public object message
    cdef public int junction


cdef class Target:
    cdef public str kind
    cdef public str ident
    cdef public int effect
    cdef public long long qty_limit
    cdef public long long agg_qty_limit
    cdef public long long amt_limit
    cdef public long long agg_amt_limit


cdef class Disc:
    cdef public object model
    cdef public int dtype
    cdef public int effect
    cdef public long long amount_off
    cdef public long long bp
    cdef public long long amount_limit
    cdef public long long fixed_amount
    cdef public long long unit_off
    cdef public str unit_type


cdef class Window:
    cdef public long long start
    cdef public long long end
    cdef public int days
    cdef public list hours
    cdef public long long interval
    cdef public long long duration


cdef class Coin:
    cdef public str id
    cdef public str name
    cdef public str assignment_id
    cdef public object model
    cdef public object num
    cdef public object den


cdef class Campaign:
    cdef public object model
    cdef public str id
    cdef public str name
    cdef public str ctype
    cdef public bint active
    cdef public Window window
    cdef public list rules
    cdef public long long seq
    cdef public str category
    cdef public long long hierarchy
    cdef public str tag
    cdef public long long lim_redemptions
    cdef public long long lim_per_day
    cdef public long long lim_discounted
    cdef public long long lim_order_value
    cdef public long long lim_per_customer
    cdef public long long lim_per_customer_day
    cdef public long long lim_per_customer_week
    cdef public long long lim_per_customer_month
    cdef public long long lim_gift_credits
    cdef public Disc discount
    cdef public long long gift_amount
    cdef public long long points
    cdef public long long point_value
    cdef public long long quantity
    cdef public long long code_per_customer
    cdef public str k_uses
    cdef public str k_disc
    cdef public str k_ordval
    cdef public str k_spent
    cdef public str k_cust
    cdef public str k_referee
    cdef public str k_referrer
    cdef public bint ref_counted
    cdef public long long lim_referees
    cdef public bint wallet
    cdef public dict coins
    cdef public dict rewards


cdef class Holder:
    cdef public int kind
    cdef public str id
    cdef public str code
    cdef public str name
    cdef public Campaign campaign
    cdef public bint active
    cdef public Window window
    cdef public Disc discount
    cdef public long long gift_amount
    cdef public long long points
    cdef public long long point_value
    cdef public long long quantity
    cdef public long long per_customer
    cdef public str customer
    cdef public list rules
    cdef public str category
    cdef public long long hierarchy
    cdef public str tag
    cdef public long long seq
    cdef public object model
    cdef public str k_uses
    cdef public str k_base
    cdef public bint wallet
    cdef public str k_card
    cdef public bint referral
    cdef public str refused
    cpdef Holder keyed(self)


cdef class Ruleset:
    cdef public long long version
    cdef public dict campaigns
    cdef public dict tiers
    cdef public dict vouchers
    cdef public dict rules
    cdef public dict products
    cdef public dict skus
    cdef public dict category_hierarchy
    cdef public dict by_item
    cdef public list always
    cdef public list generic
    cdef public dict by_customer
    cdef public object stacking
    cdef public frozenset exclusive
    cdef public frozenset joint
    cdef public dict cat_limits
    cdef public bint mode_all
    cdef public bint sort_hierarchy
    cdef public bint skip_no_effect
    cdef public int limit_total
    cdef public int limit_applicable
    cdef public int limit_per_category
    cdef public int limit_exclusive
    cdef public int limit_exclusive_per_category
    cdef public bint needs_segments


cdef class Item:
    cdef public Py_ssize_t index
    cdef public str product_id
    cdef public str sku_id
    cdef public tuple ids
    cdef public frozenset groups
    cdef public long long quantity
    cdef public long long price
    cdef public long long amount
    cdef public long long discount
    cdef public long long added
    cdef public object metadata


cdef class Ctx:
    cdef public list items
    cdef public long long initial_amount
    cdef public long long amount
    cdef public long long items_discount
    cdef public long long order_discount
    cdef public object customer
    cdef public str customer_key
    cdef public frozenset segments
    cdef public object order_metadata
    cdef public long long now_ms
    cdef public str day
    cdef public str week
    cdef public str month
    cdef public long long day_ttl
    cdef public long long week_ttl
    cdef public long long month_ttl
    cdef public int minute
    cdef public int weekday
    cpdef long long remaining(self)


cdef class Outcome:
    cdef public Py_ssize_t index
    cdef public str object
    cdef public str id
    cdef public Holder holder
    cdef public str status
    cdef public str key
    cdef public str message
    cdef public str details
    cdef public long long order_discount
    cdef public long long items_discount
    cdef public list item_discounts
    cdef public list added
    cdef public long long gift_credits
    cdef public long long gift_balance
    cdef public long long points
    cdef public long long points_balance
    cdef public Coin reward
    cdef public list ops
    cdef public long long amount_after
    cdef public long long discount_after
    cdef public long long items_discount_after
    cdef public tuple limit


cdef class Evaluation:
    cdef public bint valid
    cdef public list outcomes
    cdef public list items
    cdef public long long amount
    cdef public long long initial_amount
    cdef public long long discount_amount
    cdef public long long items_discount_amount
    cdef public bint needs_counters


cdef class Clock:
    cdef public int minute
    cdef public int weekday
    cdef public str day
    cdef public str week
    cdef public str month
    cdef public long long day_ttl
    cdef public long long week_ttl
    cdef public long long month_ttl


cpdef long long percent_of(long long amount, long long bp)
cpdef Clock clock_for(long long now_ms)

@cython.locals(ctx=Ctx, total=cython.longlong, i=Py_ssize_t, item=Item, ck=Clock)
cdef Ctx _build_ctx(Ruleset rs, object customer, object order, long long now_ms)

@cython.locals(item=Item, qty=cython.longlong)
cdef Item _make_item(Ruleset rs, object it, Py_ssize_t i)

cdef bint _cmp(int op, object value, Cond c)
cdef bint _cmp_ll(int op, long long v, Cond c)
cdef bint _item_matches_ids(Item item, frozenset strs)
cdef bint _item_sub_ok(Item item, list subs)
cdef bint _cond(Cond c, Ctx ctx)

@cython.locals(n=Py_ssize_t, i=Py_ssize_t, code=int)
cdef object _rules_fail(RuleSet_ r, Ctx ctx)

cdef Outcome _fail(Outcome o, str key, object message=*, str details=*)
cdef Outcome _skip(Outcome o, str key)

@cython.locals(now=cython.longlong, a=int, b=int)
cdef str _window_error(Window w, Ctx ctx, bint tier)

cdef object _check(Holder h, Outcome o, Ctx ctx)

@cython.locals(i=Py_ssize_t, n=Py_ssize_t, op=tuple, lim=cython.longlong, ops=list)
cdef _add_op(Outcome o, str key, long long delta, long long limit, str error, long long ttl, int hold)

@cython.locals(disc=cython.longlong, rr=RuleSet_, cust=str, base=str, ck=str, camp=Campaign, kind=int, limit=cython.longlong, lim=tuple)
cdef _plan(Holder h, Outcome o, Ctx ctx, long long order_value)

cdef bint _needs_customer(Holder h)

@cython.locals(limit=cython.longlong, cur=cython.longlong, op=tuple)
cdef object _limits_fail(Outcome o, object counters, dict pending)

cdef bint _target_matches(Target t, Item item)

@cython.locals(item=Item, tt=Target, eff=int, budget=cython.longlong, units=cython.longlong, bad=bint, every=bint)
cdef list _slices(Holder h, Ctx ctx)

@cython.locals(q=cython.longlong, rem=cython.longlong)
cdef long long _line_base(Item item, long long units)

@cython.locals(n=Py_ssize_t, i=Py_ssize_t, eff=int, dtype=int, p=cython.longlong, s=cython.longlong, item=Item)
cdef _item_discount(Holder h, Disc d, Ctx ctx, Outcome o)

cdef long long _order_base(Holder h, Ctx ctx)

@cython.locals(item=Item, target=Item, add=cython.longlong, cents=cython.longlong, rem=cython.longlong, have=cython.longlong, want=cython.longlong)
cdef _unit_discount(Holder h, Disc d, Ctx ctx, Ruleset rs, Outcome o)

@cython.locals(d=Disc, balance=cython.longlong, credits=cython.longlong, want=cython.longlong, rem=cython.longlong, use=cython.longlong, pts=cython.longlong, left=cython.longlong, value=cython.longlong, cents=cython.longlong, base=cython.longlong, known=bint)
cdef str _apply(Holder h, Outcome o, Ctx ctx, Ruleset rs, object r, object counters)

@cython.locals(camp=Campaign, coin=Coin, known=bint, spendable=cython.longlong, rem=cython.longlong, need=cython.longlong, pts=cython.longlong, value=cython.longlong, use=cython.longlong)
cdef str _apply_wallet(Holder h, Outcome o, Ctx ctx, object r, object counters)

cdef Holder _resolve(Ruleset rs, object r, object vouchers)
cdef int _category_limit(Ruleset rs, str cat)
cdef _snapshot(Outcome o, Ctx ctx)

@cython.locals(n=Py_ssize_t, i=Py_ssize_t, o=Outcome, h=Holder, ctx=Ctx, ev=Evaluation, applied=int, exclusive_applied=int, n_items=Py_ssize_t, is_excl=bint, exclusive_on=bint, any_bad=bint, late_bad=bint, cat=str, err=str)
cpdef Evaluation evaluate(Ruleset rs, object redeemables, object customer, object order, long long now_ms, object vouchers=*, object counters=*)

cdef _undo(Ctx ctx, Outcome o, Py_ssize_t n_items)
@cython.locals(item=Item, item2=Item)
cdef _revert(Ctx ctx, Outcome o, Py_ssize_t n_items)
cdef _clear(Outcome o)
cdef _finish(Evaluation ev, Ctx ctx, list outcomes)

@cython.locals(o=Outcome, h=Holder, ctx=Ctx, n_items=Py_ssize_t)
cpdef list qualify(Ruleset rs, object customer, object order, long long now_ms, object vouchers=*, object counters=*, object sorting=*)

@cython.locals(oo=Outcome, h=Holder)
cpdef bint counters_change_nothing(Evaluation ev, object counters)
cpdef list within_limits(object outcomes, object counters)
@cython.locals(oo=Outcome, h=Holder)
cpdef bint shows_balance(object outcomes)
