"""Turn core's evaluations into Voucherify-shaped answers (gateway/schemas.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from core import model as m
from store.errors import error_body

from . import schemas as s

UTC = dt.UTC
APPLICABLE = "APPLICABLE"
INAPPLICABLE = "INAPPLICABLE"
SKIPPED = "SKIPPED"


_last_dt: tuple[int, dt.datetime] = (-1, dt.datetime.fromtimestamp(0, tz=UTC))


def ms_to_dt(ms: int) -> dt.datetime:
    # a request renders the same instant several times, and concurrent ones share the clock's
    # millisecond: the last conversion is kept (datetimes are immutable)
    global _last_dt
    last = _last_dt
    if last[0] == ms:
        return last[1]
    out = dt.datetime.fromtimestamp(ms / 1000, tz=UTC)
    _last_dt = (ms, out)
    return out


def discount_out(d: m.Discount | None) -> s.DiscountOut | None:
    if d is None:
        return None
    return s.DiscountOut(
        type=d.type,
        effect=d.effect,
        amount_off=d.amount_off,
        percent_off=d.percent_off,
        amount_limit=d.amount_limit,
        fixed_amount=d.fixed_amount,
        unit_off=d.unit_off,
        unit_type=d.unit_type,
        is_dynamic=False,
    )


def _items_out(req_items: list[m.OrderItem] | None, items: list[Any], applied: dict[int, int] | None):
    if not items:
        return None
    out = []
    for it in items:
        src = req_items[it.index] if req_items is not None and it.index < len(req_items) else None
        qty = it.quantity + it.added
        out.append(
            s.OrderItemOut(
                sku_id=it.sku_id or None,
                product_id=it.product_id or None,
                related_object=(src.related_object if src is not None else None)
                or ("sku" if it.sku_id else "product"),
                source_id=src.source_id if src is not None else None,
                quantity=qty,
                initial_quantity=it.quantity if it.added else None,
                discount_quantity=it.added or None,
                amount=it.amount,
                price=it.price,
                discount_amount=it.discount,
                applied_discount_amount=applied.get(it.index, 0) if applied is not None else None,
                subtotal_amount=it.amount - it.discount,
                metadata=it.metadata,
            )
        )
    return out


def order_out(
    order: m.Order | None,
    amount: int,
    discount: int,
    items_discount: int,
    items: list[Any] | None = None,
    status: str | None = None,
    customer: m.Customer | None = None,
) -> s.OrderOut:
    o = order or m.Order()
    total = discount + items_discount
    cust = None
    if customer is not None and (customer.id or customer.source_id):
        cust = s.CustomerRef(id=customer.id or customer.source_id or "")
    return s.OrderOut(
        id=o.id,
        source_id=o.source_id,
        status=status or o.status,
        amount=amount,
        initial_amount=o.initial_amount if o.initial_amount is not None else amount,
        discount_amount=discount,
        items_discount_amount=items_discount,
        total_discount_amount=total,
        total_amount=amount - total,
        applied_discount_amount=discount,
        items_applied_discount_amount=items_discount,
        total_applied_discount_amount=total,
        items=_items_out(o.items, items, None) if items is not None else None,
        metadata=o.metadata,
        customer=cust,
    )


def _categories(h: Any, rs: Any) -> list[s.CategoryOut] | None:
    if h is None or not h.category:
        return None
    kind = None
    if h.category in rs.exclusive:
        kind = "EXCLUSIVE"
    elif h.category in rs.joint:
        kind = "JOINT"
    return [s.CategoryOut(id=h.category, name=h.category, hierarchy=h.hierarchy, stacking_rules_type=kind)]


def _holder_discount(h: Any) -> m.Discount | None:
    if h is None or h.discount is None:
        return None
    return h.discount.model


def redeemable_result(o: Any) -> s.RedeemableResult:
    if o.status == APPLICABLE:
        h = o.holder
        if o.gift_credits or (h is not None and h.gift_amount != -1):
            bal = o.gift_balance + o.gift_credits if o.gift_balance != -1 else None
            return s.RedeemableResult(gift=s.GiftResult(credits=o.gift_credits, balance=bal))
        if o.points:
            bal = o.points_balance + o.points if o.points_balance != -1 else None
            return s.RedeemableResult(loyalty_card=s.LoyaltyResult(points=o.points, balance=bal))
        return s.RedeemableResult(discount=discount_out(_holder_discount(h)))
    if o.status == INAPPLICABLE:
        return s.RedeemableResult(error=error_body(400, o.key, o.message, o.details or o.message))
    return s.SkippedResult(details=s.SkipDetails(key=o.key, message=o.message))


def _redeemable(o: Any, ev: Any, req_order: m.Order | None, rs: Any, cls: type) -> Any:
    h = o.holder
    camp = h.campaign if h is not None else None
    order = order_out(req_order, o.amount_after, o.discount_after, o.items_discount_after)
    kw: dict[str, Any] = {}
    if cls is s.SkippedRedeemable:
        kw["result"] = s.SkippedResult(details=s.SkipDetails(key=o.key, message=o.message))
    else:
        kw["result"] = redeemable_result(o)
    return cls(
        status=o.status,
        id=o.id,
        object="promotion_tier" if o.object == "promotion_tier" else "voucher",
        order=order,
        categories=_categories(h, rs),
        campaign_id=camp.id if camp is not None else None,
        campaign_name=camp.name if camp is not None else None,
        name=h.name if h is not None else None,
        metadata=(h.model.metadata or None) if h is not None and h.model is not None else None,
        **kw,
    )


def validation(
    ev: Any,
    req: s.ValidationsRequest,
    rs: Any,
    stacking: s.StackingRulesOut,
    valid_id: str,
    session: s.Session | None,
) -> s.ValidationsResponse:
    partial = not rs.mode_all
    redeemables = []
    skipped = []
    inapplicable = []
    for o in ev.outcomes:
        if o.status == APPLICABLE or not partial:
            redeemables.append(_redeemable(o, ev, req.order, rs, s.ValidationRedeemable))
        elif o.status == SKIPPED:
            skipped.append(_redeemable(o, ev, req.order, rs, s.SkippedRedeemable))
        else:
            inapplicable.append(_redeemable(o, ev, req.order, rs, s.InapplicableRedeemable))
    if not partial:
        for o in ev.outcomes:
            if o.status == SKIPPED:
                skipped.append(_redeemable(o, ev, req.order, rs, s.SkippedRedeemable))
            elif o.status == INAPPLICABLE:
                inapplicable.append(_redeemable(o, ev, req.order, rs, s.InapplicableRedeemable))
    return s.ValidationsResponse(
        stacking_rules=stacking,
        id=valid_id,
        valid=bool(ev.valid),
        redeemables=redeemables,
        skipped_redeemables=skipped,
        inapplicable_redeemables=inapplicable,
        order=order_out(
            req.order, ev.amount, ev.discount_amount, ev.items_discount_amount, ev.items, customer=req.customer
        ),
        tracking_id=req.tracking_id or _tracking(req.customer),
        session=session,
    )


def _tracking(customer: m.Customer | None) -> str | None:
    if customer is None:
        return None
    return customer.source_id or customer.id


def _simple_customer(c: m.Customer | None) -> s.SimpleCustomer | None:
    if c is None:
        return None
    return s.SimpleCustomer(id=c.id, source_id=c.source_id, name=c.name, email=c.email, metadata=c.metadata)


def reward_out(coin: Any) -> s.RewardOut | None:
    """The COIN reward a wallet card paid with (``core``'s ``Coin``)."""
    if coin is None:
        return None
    rw = coin.model
    c = rw.parameters.coin
    ratio = c.exchange_ratio
    if isinstance(ratio, float) and ratio.is_integer():
        ratio = int(ratio)
    return s.RewardOut(
        id=coin.id,
        name=coin.name or None,
        type="COIN",
        assignment_id=coin.assignment_id or None,
        parameters=s.RewardParametersOut(coin=s.RewardCoinOut(exchange_ratio=ratio, points_ratio=int(c.points_ratio))),
        metadata=rw.metadata or None,
    )


def _voucher_out(h: Any, o: Any, card: tuple[int, int] | None = None) -> s.RedemptionVoucher:
    """The redeemed code; ``card`` = a wallet card's (lifetime points, balance) after the debit
    (placeholders the redeem script fills in, see ``store.counters.CardDebit``)."""
    camp = h.campaign
    vtype = "DISCOUNT_VOUCHER"
    gift = None
    loyalty = None
    if h.wallet:
        vtype = "LOYALTY_CARD"
        loyalty = s.VoucherLoyaltyOut(points=card[0], balance=card[1]) if card is not None else None
    elif h.gift_amount != -1:
        vtype = "GIFT_VOUCHER"
        bal = o.gift_balance if o.gift_balance != -1 else None
        gift = s.VoucherGiftOut(amount=h.gift_amount, subtracted_amount=o.gift_credits, balance=bal)
    elif h.points != -1:
        vtype = "LOYALTY_CARD"
        loyalty = s.VoucherLoyaltyOut(points=h.points, balance=o.points_balance if o.points_balance != -1 else None)
    return s.RedemptionVoucher(
        id=h.id,
        code=h.code,
        campaign=camp.name if camp is not None else None,
        campaign_id=camp.id if camp is not None else None,
        category=h.category or None,
        type=vtype,
        discount=discount_out(_holder_discount(h)),
        gift=gift,
        loyalty_card=loyalty,
        active=h.active,
        holder_id=h.customer or None,
        redemption=s.VoucherRedemptionInfo(quantity=h.quantity if h.quantity != -1 else None),
    )


def _tier_out(h: Any) -> s.RedemptionPromotionTier:
    camp = h.campaign
    return s.RedemptionPromotionTier(
        id=h.id,
        name=h.name,
        action=s.PromotionTierAction(discount=discount_out(_holder_discount(h))),
        campaign=s.PromotionTierCampaignRef(id=camp.id, active=camp.active) if camp is not None else None,
        campaign_id=camp.id if camp is not None else None,
        active=h.active,
    )


def redemption_children(
    ev: Any,
    req: s.RedemptionsRequest,
    parent_id: str,
    child_ids: list[str],
    when: dt.datetime,
    session_key: str | None,
    cards: dict[int, tuple[int, int]] | None = None,
) -> list[s.Redemption]:
    out = []
    cust = _simple_customer(req.customer)
    cust_id = _tracking(req.customer)
    tracking = req.tracking_id or cust_id
    k = 0
    for o in ev.outcomes:
        if o.status != APPLICABLE:
            continue
        h = o.holder
        rid = child_ids[k]
        k += 1
        is_tier = o.object == "promotion_tier"
        amount = o.gift_credits or o.points or None
        out.append(
            s.Redemption(
                id=rid,
                date=when,
                customer_id=cust_id,
                tracking_id=tracking,
                metadata=req.metadata,
                amount=amount,
                redemption=parent_id,
                result="SUCCESS",
                status="SUCCEEDED",
                order=order_out(req.order, o.amount_after, o.discount_after, o.items_discount_after, status="PAID"),
                channel=s.Channel(channel_type="API"),
                customer=cust,
                related_object_type="promotion_tier" if is_tier else "voucher",
                related_object_id=h.id,
                voucher=None if is_tier else _voucher_out(h, o, cards.get(o.index) if cards else None),
                promotion_tier=_tier_out(h) if is_tier else None,
                reward=reward_out(o.reward),
                gift=s.AmountOut(amount=o.gift_credits) if o.gift_credits else None,
                loyalty_card=s.PointsOut(points=o.points) if o.points else None,
                session=s.SessionKey(key=session_key) if session_key else None,
            )
        )
    return out


def referral_of(ev: Any) -> Any:
    """The holder (``core._engine.Holder``) of the referral code a redemption redeems, if any."""
    for o in ev.outcomes:
        h = o.holder
        if o.status == APPLICABLE and h is not None and h.referral and h.customer:
            return h
    return None


def referrer_of(ev: Any) -> str | None:
    """The referrer of a redemption: the holder of the referral code it redeems, if any."""
    h = referral_of(ev)
    return str(h.customer) if h is not None else None


def _refer(order: s.OrderOut, referrer: str | None) -> s.OrderOut:
    if referrer:
        order.referrer_id = referrer
        order.referrer = s.CustomerRef(id=referrer)
    return order


def redemption(
    ev: Any,
    req: s.RedemptionsRequest,
    rs: Any,
    parent_id: str,
    child_ids: list[str],
    now_ms: int,
    session_key: str | None,
    cards: dict[int, tuple[int, int]] | None = None,
) -> tuple[s.RedemptionsResponse, list[s.Redemption], s.Redemption]:
    """``cards``: outcome index -> (lifetime points, balance) to show on a wallet card paid
    with (placeholders, see :func:`_voucher_out`)."""
    when = ms_to_dt(now_ms)
    children = redemption_children(ev, req, parent_id, child_ids, when, session_key, cards)
    cust_id = _tracking(req.customer)
    referrer = referrer_of(ev)
    for child in children:
        _refer(child.order, referrer)
    order = _refer(order_out(
        req.order, ev.amount, ev.discount_amount, ev.items_discount_amount, ev.items, status="PAID", customer=req.customer
    ), referrer)  # fmt: skip
    order.redemptions = {
        parent_id: s.OrderRedemptionRef(
            date=when, related_object_type="redemption", related_object_id=parent_id, stacked=child_ids
        )
    }
    parent = s.Redemption(
        id=parent_id,
        date=when,
        customer_id=cust_id,
        tracking_id=req.tracking_id or cust_id,
        metadata=req.metadata,
        result="SUCCESS",
        status="SUCCEEDED",
        order=order,
        channel=s.Channel(channel_type="API"),
        customer=_simple_customer(req.customer),
        related_object_type="redemption",
        related_object_id=parent_id,
    )
    skipped = [_redeemable(o, ev, req.order, rs, s.SkippedRedeemable) for o in ev.outcomes if o.status == SKIPPED]
    inapplicable = [
        _redeemable(o, ev, req.order, rs, s.InapplicableRedeemable) for o in ev.outcomes if o.status == INAPPLICABLE
    ]
    resp = s.RedemptionsResponse(
        redemptions=children,
        parent_redemption=parent,
        order=order,
        inapplicable_redeemables=inapplicable or None,
        skipped_redeemables=skipped or None,
    )
    return resp, children, parent


def created_at(h: Any) -> dt.datetime:
    """The paging key of a qualified redeemable: stable, in definition order (the SDK types
    Voucherify's cursor as a datetime)."""
    return ms_to_dt(1_600_000_000_000 + int(h.seq))


def _order_amount(order: m.Order | None) -> int:
    """The cart's amount as the evaluator sees it: ``order.amount``, else the sum of its lines."""
    if order is None:
        return 0
    if order.amount is not None:
        return order.amount
    return sum(
        it.amount if it.amount is not None else (it.price or 0) * (it.quantity if it.quantity is not None else 1)
        for it in order.items or ()
    )


def qualification(
    found: list[Any], req: s.QualificationsRequest, rs: Any, stacking: s.StackingRulesOut
) -> s.QualificationsResponse:
    opts = req.options
    limit = opts.effective_limit if opts is not None else s.QUALIFICATIONS_DEFAULT_LIMIT
    data = []
    # only the page is rendered: `found` can hold many more than `limit` (perf: ms_to_dt and
    # order_out per entry were a tenth of a qualifications call)
    for o in found[:limit]:
        h = o.holder
        camp = h.campaign
        created = created_at(h)
        order = order_out(req.order, o.amount_after, o.discount_after, o.items_discount_after)
        data.append(
            s.QualifiedRedeemable(
                id=o.id,
                object="promotion_tier" if o.object == "promotion_tier" else "voucher",
                created_at=created,
                result=s.QualificationResult(
                    discount=discount_out(_holder_discount(h)),
                    gift=s.GiftResult(credits=o.gift_credits) if o.gift_credits else None,
                ),
                order=order,
                categories=_categories(h, rs),
                name=h.name,
                campaign_name=camp.name if camp is not None else None,
                campaign_id=camp.id if camp is not None else None,
                metadata=(h.model.metadata or None) if h.model is not None else None,
            )
        )
    total = len(found)
    page = data
    has_more = total > limit
    return s.QualificationsResponse(
        redeemables=s.QualifiedList(
            data=page,
            total=total,
            has_more=has_more,
            more_starting_after=page[-1].created_at if has_more and page else None,
        ),
        tracking_id=req.tracking_id or _tracking(req.customer),
        order=order_out(req.order, _order_amount(req.order), 0, 0),
        stacking_rules=stacking,
    )
