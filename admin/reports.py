"""The redemption ledger and the figures built from it and from the live counters.

The gateway writes one ``Pledger`` stream entry per redeem and per rollback (store/lua/
redeem.lua, rollback.lua) and a ``Prd:<id>`` record per redemption. A redeem entry carries
``data`` (JSON: ``customer``, ``order_amount``, ``discount``, ``items[]`` with ``redemption``,
``object``, ``id``, ``campaign``, ``discount``, ``gift``, ``points``): each item is one row of
the redemption list. A rollback entry lists the redemption ids it rolled back.

Failed redemptions: read from entries of ``type`` ``failure`` with ``data`` holding
``customer``, ``order_amount``, ``key`` (the failure key), ``message`` and ``items[]``
(``object``, ``id``, ``campaign``). The gateway does not write them yet (see admin/API.md).

Live counters (net of rollbacks) are read at ``P{c:<campaign id>}:uses``, ``:disc``,
``:ordval``, ``:spent`` and, per code, ``P{c:<campaign id>}:v:<code>:uses`` / ``:spent`` /
``:points`` (core/_engine.py ``_plan``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import orjson

from core import model as m
from store.keys import Keys, voucher_counter_keys

from .shapes import iso

BATCH = 500


class Filters:
    def __init__(
        self,
        *,
        campaign_id: str | None = None,
        voucher: str | None = None,
        customer: str | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        result: str | None = None,
        status: str | None = None,
        failure_code: str | None = None,
        parent_id: str | None = None,
    ) -> None:
        self.campaign_id = campaign_id
        self.voucher = voucher
        self.customer = customer
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.result = result.upper() if result else None
        self.status = status.upper() if status else None
        self.failure_code = failure_code
        self.parent_id = parent_id

    def pre(self, row: dict[str, Any]) -> bool:
        """Everything but ``status`` (which needs the record)."""
        if self.campaign_id and row.get("campaign_id") != self.campaign_id:
            return False
        if self.voucher and not (
            row.get("object") == "voucher" and row.get("redeemable_id") == self.voucher
        ):
            return False
        if self.customer and row.get("customer") != self.customer:
            return False
        at = row["at"]
        if self.start_ms is not None and at < self.start_ms:
            return False
        if self.end_ms is not None and at > self.end_ms:
            return False
        if self.result and row["result"] != self.result:
            return False
        if self.failure_code and row.get("failure_code") != self.failure_code:
            return False
        return not (self.parent_id and row.get("parent_id") != self.parent_id)

    def post(self, row: dict[str, Any]) -> bool:
        return not (self.status and row["status"] != self.status)


def _rows(entry_id: str, f: dict[bytes, bytes]) -> list[dict[str, Any]]:
    kind = f.get(b"type", b"").decode()
    at = int(f.get(b"at", b"0"))
    data = orjson.loads(f[b"data"]) if f.get(b"data") else {}
    rows: list[dict[str, Any]] = []
    if kind == "redeem":
        ids = orjson.loads(f.get(b"redemptions") or b"[]")
        parent = ids[0] if ids else None
        for i, it in enumerate(data.get("items") or []):
            rows.append(
                {
                    "cursor": f"{entry_id}.{i}",
                    "id": it.get("redemption"),
                    "parent_id": parent,
                    "at": at,
                    "customer": data.get("customer"),
                    "campaign_id": it.get("campaign"),
                    "object": it.get("object"),
                    "redeemable_id": it.get("id"),
                    "discount": int(it.get("discount") or 0),
                    "gift": int(it.get("gift") or 0),
                    "points": int(it.get("points") or 0),
                    "order_amount": int(data.get("order_amount") or 0),
                    "result": "SUCCESS",
                    "status": "SUCCEEDED",
                }
            )
    elif kind == "failure":
        items = data.get("items") or [{}]
        for i, it in enumerate(items):
            rows.append(
                {
                    "cursor": f"{entry_id}.{i}",
                    "id": data.get("id") or f"rf_{entry_id.replace('-', '_')}_{i}",
                    "parent_id": None,
                    "at": at,
                    "customer": data.get("customer"),
                    "campaign_id": it.get("campaign"),
                    "object": it.get("object"),
                    "redeemable_id": it.get("id"),
                    "discount": 0,
                    "gift": 0,
                    "points": 0,
                    "order_amount": int(data.get("order_amount") or 0),
                    "result": "FAILURE",
                    "status": "FAILED",
                    "failure_code": data.get("key"),
                    "failure_message": data.get("message"),
                }
            )
    return rows


async def _resolve_status(redis: Any, k: Keys, rows: list[dict[str, Any]]) -> None:
    todo = [r for r in rows if r["result"] == "SUCCESS" and r.get("id")]
    if not todo:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for r in todo:
            pipe.hmget(k.record(r["id"]), "status", "rollback_id", "rolled_back_at",
                       "rollback_reason")  # fmt: skip
        got = await pipe.execute()
    for r, (st, rb, at, why) in zip(todo, got, strict=True):
        if st is not None and st.decode() == "ROLLED_BACK":
            r["status"] = "ROLLED_BACK"
            r["rollback_id"] = rb.decode() if rb else None
            r["rolled_back_at"] = int(at) if at else None
            r["rollback_reason"] = why.decode() if why else None


async def iter_rows(
    redis: Any, k: Keys, flt: Filters, *, newest_first: bool = True, after: str | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Every redemption row matching ``flt``; ``after`` is a row cursor (``<entry id>.<n>``)."""
    skip_entry, skip_idx = None, -1
    if after:
        skip_entry, _, idx = after.rpartition(".")
        skip_idx = int(idx or 0)
    if newest_first:
        hi = "+" if skip_entry is None else skip_entry
        lo = "-"
    else:
        lo = "-" if skip_entry is None else skip_entry
        hi = "+"
    first = True
    while True:
        if newest_first:
            batch = await redis.xrevrange(k.ledger, max=hi, min=lo, count=BATCH)
        else:
            batch = await redis.xrange(k.ledger, min=lo, max=hi, count=BATCH)
        if not batch:
            return
        rows: list[dict[str, Any]] = []
        for eid, f in batch:
            entry = eid.decode()
            these = _rows(entry, f)
            if first and entry == skip_entry:
                # the cursor's own entry: only rows beyond it
                these = [r for r in these if (int(r["cursor"].rpartition(".")[2]) > skip_idx)]
            rows.extend(r for r in these if flt.pre(r))
        first = False
        await _resolve_status(redis, k, rows)
        for r in rows:
            if flt.post(r):
                yield r
        if len(batch) < BATCH:
            return
        last = batch[-1][0].decode()
        if newest_first:
            hi = "(" + last
        else:
            lo = "(" + last


def row_out(r: dict[str, Any]) -> dict[str, Any]:
    out = {
        "id": r["id"],
        "object": "redemption",
        "date": iso(r["at"]),
        "customer_id": r.get("customer"),
        "parent_redemption_id": r.get("parent_id"),
        "campaign_id": r.get("campaign_id"),
        "related_object_type": r.get("object"),
        "related_object_id": r.get("redeemable_id"),
        "voucher": {"code": r["redeemable_id"], "campaign_id": r.get("campaign_id")}
        if r.get("object") == "voucher"
        else None,
        "promotion_tier": {"id": r["redeemable_id"], "campaign_id": r.get("campaign_id")}
        if r.get("object") == "promotion_tier"
        else None,
        "amount": r["discount"],
        "discount": r["discount"],
        "gift": {"amount": r["gift"]} if r["gift"] else None,
        "loyalty_card": {"points": r["points"]} if r["points"] else None,
        "order": {"amount": r["order_amount"]},
        "result": r["result"],
        "status": r["status"],
        "failure_code": r.get("failure_code"),
        "failure_message": r.get("failure_message"),
        "rollback_id": r.get("rollback_id"),
        "rolled_back_at": iso(r.get("rolled_back_at")),
        "rollback_reason": r.get("rollback_reason") or None,
    }
    return {k: v for k, v in out.items() if v is not None}


async def list_redemptions(
    redis: Any, k: Keys, flt: Filters, limit: int, after: str | None
) -> dict[str, Any]:
    out: list[dict[str, Any]] = []
    has_more = False
    last_cursor = None
    async for r in iter_rows(redis, k, flt, after=after):
        if len(out) == limit:
            has_more = True
            break
        out.append(row_out(r))
        last_cursor = r["cursor"]
    return {
        "object": "list",
        "data_ref": "redemptions",
        "redemptions": out,
        "total": len(out),
        "has_more": has_more,
        "more_starting_after": last_cursor if has_more else None,
    }


CSV_REDEMPTIONS = [
    "id", "parent_redemption_id", "date", "status", "result", "customer_id", "campaign_id",
    "related_object_type", "related_object_id", "discount", "gift_amount", "loyalty_points",
    "order_amount", "failure_code", "failure_message", "rollback_id",
]  # fmt: skip


def _csv_line(values: list[Any]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(["" if v is None else v for v in values])
    return buf.getvalue().encode()


async def redemptions_csv(redis: Any, k: Keys, flt: Filters) -> AsyncIterator[bytes]:
    yield _csv_line(CSV_REDEMPTIONS)
    async for r in iter_rows(redis, k, flt, newest_first=False):
        yield _csv_line(
            [
                r["id"],
                r.get("parent_id"),
                iso(r["at"]),
                r["status"],
                r["result"],
                r.get("customer"),
                r.get("campaign_id"),
                r.get("object"),
                r.get("redeemable_id"),
                r["discount"],
                r["gift"],
                r["points"],
                r["order_amount"],
                r.get("failure_code"),
                r.get("failure_message"),
                r.get("rollback_id"),
            ]  # fmt: skip
        )


# ------------------------------------------------------------------------------ codes


async def campaign_codes(
    redis: Any, k: Keys, campaign_id: str, defs: m.Definitions, chunk: int = 1000
) -> AsyncIterator[list[m.Voucher]]:
    """The codes of a campaign, in chunks: those in the document, then those kept outside."""
    import msgspec

    doc = [v for v in defs.vouchers if v.campaign_id == campaign_id]
    for i in range(0, len(doc), chunk):
        yield doc[i : i + chunk]
    dec = msgspec.json.Decoder(m.Voucher)
    lst = k.list_codes(campaign_id)
    start = 0
    while True:
        codes = await redis.lrange(lst, start, start + chunk - 1)
        if not codes:
            return
        raws = await redis.mget([k.code(c.decode()) for c in codes])
        yield [dec.decode(raw) for raw in raws if raw]
        if len(codes) < chunk:
            return
        start += chunk


async def counters_for(
    redis: Any, k: Keys, vouchers: list[m.Voucher]
) -> list[tuple[int, int, int]]:
    if not vouchers:
        return []
    names: list[str] = []
    for v in vouchers:
        names.extend(k.counter(x) for x in voucher_counter_keys(v))
    vals = await redis.mget(names)
    ints = [int(x or 0) for x in vals]
    return [(ints[i], ints[i + 1], ints[i + 2]) for i in range(0, len(ints), 3)]


# ------------------------------------------------------------------------------ figures


async def campaign_figures(
    redis: Any, k: Keys, camp: m.Campaign, defs: m.Definitions
) -> dict[str, Any]:
    uses, disc, ordval, spent = [int(x or 0) for x in await redis.mget(k.campaign_counters(camp.id))]
    succeeded = failed = rolled_back = 0
    gross_discount = 0
    async for r in iter_rows(redis, k, Filters(campaign_id=camp.id)):
        if r["status"] == "SUCCEEDED":
            succeeded += 1
            gross_discount += r["discount"]
        elif r["status"] == "ROLLED_BACK":
            rolled_back += 1
        elif r["status"] == "FAILED":
            failed += 1
    lim = camp.limits
    tpl = camp.voucher
    gift = loyalty = None
    codes = 0
    if tpl is not None and (tpl.gift is not None or tpl.loyalty_card is not None):
        loaded = g_spent = points = p_spent = 0
        async for chunk in campaign_codes(redis, k, camp.id, defs):
            cs = await counters_for(redis, k, chunk)
            for v, (_u, sp, pt) in zip(chunk, cs, strict=True):
                codes += 1
                g = v.gift or tpl.gift
                if g is not None:
                    loaded += g.amount
                    g_spent += min(sp, g.amount)
                lc = v.loyalty_card or tpl.loyalty_card
                if lc is not None:
                    points += lc.points
                    p_spent += min(pt, lc.points)
        if tpl.gift is not None:
            gift = {
                "cards": codes,
                "loaded_amount": loaded,
                "spent_amount": g_spent,
                "outstanding_balance": loaded - g_spent,
            }
        if tpl.loyalty_card is not None:
            loyalty = {
                "cards": codes,
                "points": points,
                "spent_points": p_spent,
                "outstanding_points": points - p_spent,
            }
    else:
        async for chunk in campaign_codes(redis, k, camp.id, defs, chunk=10_000):
            codes += len(chunk)

    def budget(used: int, limit: int | None) -> dict[str, Any]:
        out: dict[str, Any] = {"used": used, "limit": limit}
        if limit:
            out["used_percent"] = round(used * 100 / limit, 2)
            out["remaining"] = max(0, limit - used)
        return out

    return {
        "object": "campaign_report",
        "campaign_id": camp.id,
        "campaign_name": camp.name,
        "campaign_type": camp.campaign_type,
        "codes": codes,
        "redemptions": {
            "succeeded": succeeded,
            "failed": failed,
            "rolled_back": rolled_back,
            "total": succeeded + failed + rolled_back,
        },
        "total_discounted_amount": disc,
        "total_order_value": ordval,
        "average_order_value": (ordval // uses) if uses else 0,
        "average_order_value_after_discount": ((ordval - disc) // uses) if uses else 0,
        "budget": {
            "redemptions": budget(uses, lim.redemptions),
            "discounted_amount": budget(disc, lim.discounted_amount),
            "order_value": budget(ordval, lim.order_value),
            "gift_credits": budget(spent, lim.gift_credits),
        },
        "gift": gift,
        "loyalty": loyalty,
        "ledger_discount_of_succeeded": gross_discount,
    }


# ------------------------------------------------------------------------------ recent activity

HOUR_MS = 3_600_000
#: the ledger's entry ids carry Redis's clock, ``at`` the gateway's: a window read by id starts
#: this much earlier, then keeps the entries whose ``at`` is inside it
CLOCK_MARGIN_MS = 300_000


async def ledger_since(redis: Any, k: Keys, since_ms: int) -> AsyncIterator[tuple[int, dict[bytes, bytes]]]:
    """``(at, fields)`` of every ledger entry whose ``at`` >= ``since_ms``, newest first. Reads
    only the entries added since then (by stream id), so its cost follows the window's traffic,
    not the ledger's length."""
    lo = str(max(0, since_ms - CLOCK_MARGIN_MS))
    hi = "+"
    while True:
        batch = await redis.xrevrange(k.ledger, max=hi, min=lo, count=BATCH)
        for _eid, f in batch:
            at = int(f.get(b"at", b"0") or 0)
            if at >= since_ms:
                yield at, f
        if len(batch) < BATCH:
            return
        hi = "(" + batch[-1][0].decode()


def _items(f: dict[bytes, bytes]) -> list[dict[str, Any]]:
    data = orjson.loads(f[b"data"]) if f.get(b"data") else {}
    return data.get("items") or []


async def last_hour(redis: Any, k: Keys, now_ms: int, top: int = 5) -> dict[str, Any]:
    """Redemptions succeeded and refused in the last hour, with the top refusal keys."""
    succeeded = failed = rolled_back = 0
    keys: dict[str, int] = {}
    async for _at, f in ledger_since(redis, k, now_ms - HOUR_MS):
        kind = f.get(b"type", b"").decode()
        if kind == "redeem":
            succeeded += len(_items(f))
        elif kind == "failure":
            failed += 1
            data = orjson.loads(f[b"data"]) if f.get(b"data") else {}
            key = str(data.get("key") or "unknown")
            keys[key] = keys.get(key, 0) + 1
        elif kind == "rollback":
            rolled_back += len(orjson.loads(f.get(b"redemptions") or b"[]"))
    ranked = sorted(keys.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return {
        "since": iso(now_ms - HOUR_MS),
        "succeeded": succeeded,
        "failed": failed,
        "rolled_back": rolled_back,
        "top_failure_keys": [{"key": key, "count": n} for key, n in ranked],
    }


# ------------------------------------------------------------------------------ status and series

#: the campaign-wide limits the gateway counts, with the live counter each is checked against
#: (CAMPAIGN_COUNTERS order: uses, disc, ordval, spent)
LIMIT_COUNTERS = (
    ("redemptions", 0),
    ("discounted_amount", 1),
    ("order_value", 2),
    ("gift_credits", 3),
)


def campaign_status(camp: m.Campaign, counters: list[int], now_ms: int) -> dict[str, Any]:
    """What the gateway would do with the campaign now: ``disabled``, ``scheduled``,
    ``expired``, ``exhausted`` (with the limit that caused it) or ``running``, and each limit's
    use from the live counters ``counters`` (CAMPAIGN_COUNTERS order)."""
    limits = []
    exhausted_by = None
    for name, idx in LIMIT_COUNTERS:
        limit = getattr(camp.limits, name)
        if limit is None:
            continue
        used = counters[idx]
        limits.append({"name": name, "used": used, "limit": limit,
                       "percent": min(100.0, round(used * 100 / limit, 1)) if limit else 100.0})  # fmt: skip
        if used >= limit and exhausted_by is None:
            exhausted_by = name
    start = camp.start_date.timestamp() * 1000 if camp.start_date else None
    end = camp.expiration_date.timestamp() * 1000 if camp.expiration_date else None
    if not camp.active:
        status = "disabled"
    elif start is not None and now_ms < start:
        status = "scheduled"
    elif end is not None and now_ms >= end:
        status = "expired"
    elif exhausted_by is not None:
        status = "exhausted"
    else:
        status = "running"
    return {"status": status, "exhausted_by": exhausted_by, "limits": limits}


async def campaigns_counters(redis: Any, k: Keys, campaign_ids: list[str]) -> list[list[int]]:
    """The live counters of each campaign (CAMPAIGN_COUNTERS order), in one MGET."""
    if not campaign_ids:
        return []
    names = [n for cid in campaign_ids for n in k.campaign_counters(cid)]
    vals = [int(x or 0) for x in await redis.mget(names)]
    return [vals[i : i + 4] for i in range(0, len(vals), 4)]


async def campaign_series(
    redis: Any, k: Keys, camp: m.Campaign, now_ms: int, hours: int
) -> dict[str, Any]:
    """Hourly figures of a campaign over the last ``hours`` hours, the current hour last:
    redemptions succeeded, refused and rolled back, and the cumulative use of its redemption
    and discount budgets. The cumulative series end at the live counters the gateway enforces
    (net of rollbacks) and go back through the counter changes the ledger recorded (each
    redeem's and rollback's ops), so the chart's last point is the figure the gateway uses."""
    end = (now_ms // HOUR_MS + 1) * HOUR_MS
    start = end - hours * HOUR_MS
    uses_key, disc_key = k.campaign_counters(camp.id)[:2]
    succeeded, failed, rolled_back = [0] * hours, [0] * hours, [0] * hours
    d_uses, d_disc = [0] * hours, [0] * hours
    failure_keys: dict[str, int] = {}
    async for at, f in ledger_since(redis, k, start):
        i = min(hours - 1, (at - start) // HOUR_MS)
        kind = f.get(b"type", b"").decode()
        if kind == "redeem":
            succeeded[i] += sum(1 for it in _items(f) if it.get("campaign") == camp.id)
            for key, d in orjson.loads(f.get(b"ops") or b"[]"):
                if key == uses_key:
                    d_uses[i] += int(d)
                elif key == disc_key:
                    d_disc[i] += int(d)
        elif kind == "rollback":
            for key, applied in orjson.loads(f.get(b"ops") or b"[]"):
                if key == uses_key:
                    d_uses[i] -= int(applied)
                    rolled_back[i] += int(applied)
                elif key == disc_key:
                    d_disc[i] -= int(applied)
        elif kind == "failure":
            data = orjson.loads(f[b"data"]) if f.get(b"data") else {}
            if any(it.get("campaign") == camp.id for it in data.get("items") or []):
                failed[i] += 1
                key = str(data.get("key") or "unknown")
                failure_keys[key] = failure_keys.get(key, 0) + 1
    uses_now, disc_now = [int(x or 0) for x in await redis.mget(uses_key, disc_key)]

    def cumulative(now_value: int, deltas: list[int]) -> list[int]:
        out = [0] * hours
        v = now_value
        for j in range(hours - 1, -1, -1):
            out[j] = v
            v -= deltas[j]
        return out

    used_uses = cumulative(uses_now, d_uses)
    used_disc = cumulative(disc_now, d_disc)
    pace_hours = min(6, hours)

    def pace(deltas: list[int]) -> float:
        return round(sum(deltas[-pace_hours:]) / pace_hours, 2)

    def exhaustion(limit: int | None, used: int, per_hour: float) -> str | None:
        if not limit or used >= limit or per_hour <= 0:
            return None
        return iso(now_ms + int((limit - used) / per_hour * HOUR_MS))

    lim = camp.limits
    p_uses, p_disc = pace(d_uses), pace(d_disc)
    return {
        "object": "campaign_series",
        "campaign_id": camp.id,
        "as_of": iso(now_ms),
        "bucket_seconds": HOUR_MS // 1000,
        "hours": hours,
        "t": [(start + j * HOUR_MS) // 1000 for j in range(hours)],
        "succeeded": succeeded,
        "failed": failed,
        "rolled_back": rolled_back,
        "redemptions_used": used_uses,
        "discounted_amount_used": used_disc,
        "limits": {"redemptions": lim.redemptions, "discounted_amount": lim.discounted_amount},
        "pace_per_hour": {"redemptions": p_uses, "discounted_amount": p_disc},
        "projected_exhaustion": {
            "redemptions": exhaustion(lim.redemptions, uses_now, p_uses),
            "discounted_amount": exhaustion(lim.discounted_amount, disc_now, p_disc),
        },
        "failures_by_key": [
            {"key": key, "count": n}
            for key, n in sorted(failure_keys.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
    }
