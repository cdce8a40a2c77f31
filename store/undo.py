"""What rolling a redemption back undoes beyond its counters (which ``rollback.lua`` restores):
its order is cancelled, so the points it earned are taken back (``POINTS_REMOVAL``, never below
zero) once, and what its referral conversion paid, too.

Shared by the gateway's ``POST /v1/redemptions/{id}/rollback(s)`` and admin's
``POST /v1/redemptions/{id}/rollback`` (the web UI's "Roll back"), so both undo the same.
"""

from __future__ import annotations

from typing import Any

import orjson

from .errors import ApiError
from .loyalty import Catalog, Loyalty, OrderBody, Refresh
from .members import order_id_for


def redemption_order_id(order: Any, parent_id: str) -> str:
    """The order record of a redemption: its ``id``, else the one its ``source_id`` names,
    else one derived from the (parent) redemption, so its rollback finds it again."""
    if order is not None and order.id:
        return order.id
    if order is not None and order.source_id:
        return order_id_for(order.source_id)
    return "ord_" + parent_id.removeprefix("r_")


async def redemption_rolled_back(
    lo: Loyalty, cat: Catalog, data: bytes, now: int, refresh: Refresh | None = None
) -> None:
    """Undo what the rolled-back redemption whose record data is ``data`` earned (its
    order's points, its referral conversion), once."""
    try:
        red = orjson.loads(data)
    except orjson.JSONDecodeError:
        return
    if not isinstance(red, dict):
        return
    parent = red.get("redemption") or red.get("id") or ""
    if parent:
        await lo.referrals.cancel(parent, now)
    if not cat.programs:
        return
    o = red.get("order") or {}
    ref = OrderBody(id=o.get("id"), source_id=o.get("source_id"))
    oid = redemption_order_id(ref, parent)
    try:
        await lo.save_order(cat, OrderBody(status="CANCELED"), now, order_id=oid, create=False,
                            refresh=refresh)  # fmt: skip
    except ApiError as exc:
        if exc.status != 404:  # no order record: the redemption earned nothing
            raise
