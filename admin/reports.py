"""The redemption ledger and the figures built from it and from the live counters.

The gateway writes one ``Pledger`` stream entry per redeem and per rollback (store/lua/
redeem.lua, rollback.lua) and a ``Prd:<id>`` record per redemption. A redeem entry carries
``data`` (JSON: ``customer``, ``order_amount``, ``discount``, ``items[]`` with ``redemption``,
``object``, ``id``, ``campaign``, ``discount``, ``gift``, ``points``): each item is one row of
the redemption list. A rollback entry lists the redemption ids it rolled back.

Failed redemptions: read from entries of ``type`` ``failure`` with ``data`` holding
``customer``, ``order_amount``, ``key`` (the failure key), ``message`` and ``items[]``
(``object``, ``id``, ``campaign``). The gateway does not write them yet (see admin/API.md).

Figures over time (the home page's last hour, the burn-chart series, the paces) and filtered
listings read admin's views folded incrementally from the ledger (store/ledger_fold.py), not the
stream itself; a listing with no indexed filter walks the stream newest first.

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
from store import codebook
from store import ledger_fold as lf
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


def _index_candidates(flt: Filters) -> list[str]:
    """The ledger views' indexes holding every entry ``flt`` can match (store.ledger_fold)."""
    names = []
    if flt.customer:
        names.append(lf.index_name("cust", flt.customer))
    if flt.campaign_id:
        names.append(lf.index_name("camp", flt.campaign_id))
    if flt.failure_code:
        names.append(lf.index_name("key", flt.failure_code))
    if flt.status == "FAILED" or flt.result == "FAILURE":
        names.append(lf.index_name("failed"))
    return names


Batches = AsyncIterator[list[tuple[str, dict[bytes, bytes]]]]


async def _stream_batches(
    redis: Any, k: Keys, newest_first: bool, lo: str, hi: str, size: int
) -> Batches:
    """Entries of the ledger stream in [``lo``, ``hi``] (XRANGE bounds), in batches growing
    from ``size`` to :data:`BATCH`."""
    while True:
        if newest_first:
            got = await redis.xrevrange(k.ledger, max=hi, min=lo, count=size)
        else:
            got = await redis.xrange(k.ledger, min=lo, max=hi, count=size)
        if not got:
            return
        yield [(eid.decode(), f) for eid, f in got]
        if len(got) < size:
            return
        last = got[-1][0].decode()
        if newest_first:
            hi = "(" + last
        else:
            lo = "(" + last
        size = min(BATCH, size * 4)


async def _indexed_batches(
    redis: Any, k: Keys, name: str, newest_first: bool, cursor: str | None, size: int
) -> Batches:
    """The entries of index ``name`` from ``cursor`` on: the index holds every entry up to the
    position just folded; newer ones (the tail) come straight from the stream."""
    pos = await lf.fold(redis, k)
    order = lf.entry_order
    cur_after_pos = cursor is not None and order(cursor) > order(pos)
    if newest_first:
        parts = []
        if cursor is None or cur_after_pos:
            tail_lo = "(" + pos if pos else "-"
            parts.append(_stream_batches(redis, k, True, tail_lo, cursor or "+", size))
        if pos:
            hi = pos if cursor is None or cur_after_pos else cursor
            parts.append(lf.index_batches(redis, k, name, newest_first=True, lo=None, hi=hi,
                                          size=size))  # fmt: skip
    else:
        parts = []
        if pos and not cur_after_pos:
            parts.append(lf.index_batches(redis, k, name, newest_first=False, lo=cursor, hi=pos,
                                          size=size))  # fmt: skip
        tail_lo = cursor if cur_after_pos else ("(" + pos if pos else "-")
        parts.append(_stream_batches(redis, k, False, tail_lo, "+", size))
    for part in parts:
        async for batch in part:
            yield batch


async def _entry_batches(
    redis: Any, k: Keys, flt: Filters, newest_first: bool, cursor: str | None, size: int
) -> Batches:
    names = _index_candidates(flt)
    if not names:
        if newest_first:
            src = _stream_batches(redis, k, True, "-", cursor or "+", size)
        else:
            src = _stream_batches(redis, k, False, cursor or "-", "+", size)
    else:
        sizes = await lf.index_sizes(redis, k, names)
        name = min(zip(sizes, names, strict=True))[1]  # the most selective
        src = _indexed_batches(redis, k, name, newest_first, cursor, size)
    async for batch in src:
        yield batch


async def iter_rows(
    redis: Any,
    k: Keys,
    flt: Filters,
    *,
    newest_first: bool = True,
    after: str | None = None,
    first_batch: int = BATCH,
) -> AsyncIterator[dict[str, Any]]:
    """Every redemption row matching ``flt``; ``after`` is a row cursor (``<entry id>.<n>``).
    A filter on a customer, campaign, failure key or refusals reads only the entries of the
    ledger views' index (store.ledger_fold); other filters walk the stream."""
    skip_entry, skip_idx = None, -1
    if after:
        skip_entry, _, idx = after.rpartition(".")
        skip_idx = int(idx or 0)
    src = _entry_batches(redis, k, flt, newest_first, skip_entry, max(1, min(first_batch, BATCH)))
    async for batch in src:
        rows: list[dict[str, Any]] = []
        for entry, f in batch:
            these = _rows(entry, f)
            if entry == skip_entry:  # the cursor's own entry: only rows beyond it
                these = [r for r in these if (int(r["cursor"].rpartition(".")[2]) > skip_idx)]
            rows.extend(r for r in these if flt.pre(r))
        await _resolve_status(redis, k, rows)
        for r in rows:
            if flt.post(r):
                yield r


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
    async for r in iter_rows(redis, k, flt, after=after, first_batch=limit + 1):
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
        raws = await codebook.read(redis, k, [c.decode() for c in codes])
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

HOUR_MS = lf.HOUR_MS
MINUTE_MS = lf.MINUTE_MS


def _ranked(counts: dict[str, int], top: int | None = None) -> list[dict[str, Any]]:
    """``k:<key>`` fields of a figures hash as ``[{key, count}]``, most frequent first."""
    pairs = [(f[2:], n) for f, n in counts.items() if f.startswith("k:") and n]
    pairs.sort(key=lambda kv: (-kv[1], kv[0]))
    return [{"key": key, "count": n} for key, n in pairs[:top]]


def _summed(hashes: list[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for h in hashes:
        for f, n in h.items():
            out[f] = out.get(f, 0) + n
    return out


async def last_hour(redis: Any, k: Keys, now_ms: int, top: int = 5) -> dict[str, Any]:
    """Redemptions succeeded, refused and rolled back in the last 60 minutes (whole minutes of
    the entries' ``at``, the current one included), with the top refusal keys: read from the
    per-minute figures folded from the ledger (store.ledger_fold), 60 small hashes."""
    await lf.fold(redis, k)
    last = now_ms // MINUTE_MS
    total = _summed(await lf.minutes(redis, k, last - 59, last))
    return {
        "since": iso((last - 59) * MINUTE_MS),
        "succeeded": total.get("s", 0),
        "failed": total.get("f", 0),
        "rolled_back": total.get("r", 0),
        "top_failure_keys": _ranked(total, top),
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


#: the hours a pace is measured over (the current one included)
PACE_HOURS = 6


def exhaustion_ms(now_ms: int, limit: int | None, used: int, per_hour: float) -> int | None:
    """When a limit runs out at ``per_hour`` (None: no limit, already out, or no use)."""
    if not limit or used >= limit or per_hour <= 0:
        return None
    return now_ms + int((limit - used) / per_hour * HOUR_MS)


async def projected_exhaustions(
    redis: Any, k: Keys, camps: list[m.Campaign], counters: list[list[int]], now_ms: int,
    within_hours: int,
) -> list[dict[str, Any]]:  # fmt: skip
    """The campaigns whose redemption or discount limit runs out within ``within_hours`` at
    the pace of the last :data:`PACE_HOURS` hours (the burn chart's pace), soonest first, each
    with the limit that runs out first. Reads :data:`PACE_HOURS` hashes for every campaign."""
    await lf.fold(redis, k)
    cur = now_ms // HOUR_MS
    total = _summed(await lf.all_campaign_hours(redis, k, cur - PACE_HOURS + 1, PACE_HOURS))
    out = []
    for camp, cnt in zip(camps, counters, strict=True):
        soonest = None
        for name, idx, field in (("redemptions", 0, "u"), ("discounted_amount", 1, "d")):
            limit = getattr(camp.limits, name)
            per_hour = round(total.get(f"{field}:{camp.id}", 0) / PACE_HOURS, 2)
            at = exhaustion_ms(now_ms, limit, cnt[idx], per_hour)
            if at is not None and at <= now_ms + within_hours * HOUR_MS and (
                soonest is None or at < soonest["at_ms"]
            ):
                soonest = {"campaign": camp, "limit": name, "used": cnt[idx], "of": limit,
                           "per_hour": per_hour, "at_ms": at, "at": iso(at)}  # fmt: skip
        if soonest is not None:
            out.append(soonest)
    return sorted(out, key=lambda x: x["at_ms"])


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
    await lf.fold(redis, k)
    # the hour after the current one too: an entry stamped ahead of admin's clock counts last
    figs = await lf.campaign_hours(redis, k, camp.id, start // HOUR_MS, hours + 1)
    figs[-2] = _summed(figs[-2:])
    figs.pop()

    def column(field: str) -> list[int]:
        return [h.get(field, 0) for h in figs]

    succeeded, failed, rolled_back = column("s"), column("f"), column("r")
    d_uses, d_disc = column("u"), column("d")
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
    pace_hours = min(PACE_HOURS, hours)

    def pace(deltas: list[int]) -> float:
        return round(sum(deltas[-pace_hours:]) / pace_hours, 2)

    def exhaustion(limit: int | None, used: int, per_hour: float) -> str | None:
        at = exhaustion_ms(now_ms, limit, used, per_hour)
        return iso(at) if at is not None else None

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
        "failures_by_key": _ranked(_summed(figs)),
    }


CSV_SERIES = ["hour_start", "succeeded", "failed", "rolled_back", "redemptions_used",
              "discounted_amount_used"]  # fmt: skip


def series_csv(series: dict[str, Any]) -> bytes:
    """A :func:`campaign_series` answer as CSV: one row per hour, oldest first."""
    cols = [series[c] for c in CSV_SERIES[1:]]
    rows = [_csv_line(CSV_SERIES)]
    for j, t in enumerate(series["t"]):
        rows.append(_csv_line([iso(t * 1000), *(c[j] for c in cols)]))
    return b"".join(rows)
