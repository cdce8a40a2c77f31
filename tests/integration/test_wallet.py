"""store.wallet against a real Redis: every op and refusal, normalisation with a moved clock,
idempotency, refunds, clamps, transfers, limit counters, the reads, and races (auto-pipelined and
over independent connections).

Every test writes only under its own ``key_prefix`` (deleted at teardown by the fixture).
:func:`check_card` reads a card's raw keys and asserts that its figures, buckets, pending
records and refunds are what its transactions add up to; most tests end with it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import pytest_asyncio
import redis
import redis.asyncio as aredis
from gateway_fixtures import keyspace

from store.autopipe import AutoPipeline
from store.counters import CounterOp
from store.keys import Keys
from store.wallet import (
    NEVER_MS,
    TX_PLACEHOLDER,
    ActivatePending,
    AdjustPending,
    Bucket,
    CancelPending,
    Credit,
    Debit,
    Refund,
    Transfer,
    Wallet,
    WalletFailure,
    WalletResult,
    transaction_prefix,
    with_tx,
)

pytestmark = pytest.mark.asyncio

NOW = 1_800_000_000_000  # injected clock, ms
DAY = 86_400_000
CAMP = "camp_L"


def credit(points: int, code: str = "CARD1", **kw: Any) -> Credit:
    return Credit(campaign_id=kw.pop("campaign_id", CAMP), code=code, points=points, **kw)


def debit(points: int, code: str = "CARD1", **kw: Any) -> Debit:
    return Debit(campaign_id=kw.pop("campaign_id", CAMP), code=code, points=points, **kw)


def refund(tx: str, code: str = "CARD1", **kw: Any) -> Refund:
    return Refund(campaign_id=kw.pop("campaign_id", CAMP), code=code, transaction_id=tx, **kw)


def transfer(points: int, src: str, dst: str, **kw: Any) -> Transfer:
    return Transfer(
        campaign_id=CAMP, code=src, to_campaign_id=CAMP, to_code=dst, points=points, **kw
    )


@pytest_asyncio.fixture
async def client(redis_url: str) -> AsyncIterator[aredis.Redis]:
    c = aredis.Redis.from_url(redis_url)
    try:
        yield c
    finally:
        await c.aclose()


@pytest_asyncio.fixture
async def wallet(client: aredis.Redis, key_prefix: str) -> AsyncIterator[Wallet]:
    w = Wallet(client, key_prefix)
    try:
        yield w
    finally:
        await w.aclose()


def snapshot(r: redis.Redis, prefix: str) -> dict[str, Any]:
    return keyspace(r, prefix, entries=True, ttl=True)


_CREDITS = ("POINTS_ACCRUAL", "POINTS_ADDITION", "POINTS_TRANSFER_IN", "PENDING_POINTS_ACTIVATION")


def check_card(r: redis.Redis, prefix: str, code: str, campaign: str = CAMP) -> dict[str, int]:
    """Assert that card ``code``'s stored figures, buckets, refunds and pending records are what
    its transactions add up to (and every running balance / total on the way); return the
    figures. Reads the raw keys, not the wallet's reads."""
    k = Keys(prefix).card(campaign, code)
    figs = {a.decode(): int(b) for a, b in r.hgetall(k.figures).items()}
    tx_prefix = transaction_prefix(campaign, code)
    bal = total = expired = subtracted = redeemed = 0
    seen: dict[str, dict[str, str]] = {}
    refunds: dict[int, str] = {}
    last_at = 0
    entries = []  # one per transaction: a run of credits (n, items) is expanded here
    for sid, raw in r.xrange(k.transactions):
        e = {a.decode(): b.decode() for a, b in raw.items()}
        first = len(entries) + 1
        assert sid == f"{first}-0".encode() and e["id"] == f"{tx_prefix}{first}"
        if "items" not in e:
            entries.append(e)
            continue
        items = orjson.loads(e["items"])
        assert int(e["n"]) == len(items) >= 2 and e["type"] in _CREDITS
        assert int(e["points"]) == sum(p for p, *_ in items)
        run_bal, run_total = int(e["balance"]) - int(e["points"]), int(e["total"]) - int(e["points"])
        for j, (p, x, src, reason, details) in enumerate(items):
            run_bal, run_total = run_bal + p, run_total + p
            entries.append({**e, "id": f"{tx_prefix}{first + j}", "points": str(p),
                            "balance": str(run_bal), "total": str(run_total),
                            "buckets": orjson.dumps([[x, p]]).decode(), "source_id": src,
                            "reason": reason, "details": details})  # fmt: skip
    for n, e in enumerate(entries, 1):
        assert e["id"] == f"{tx_prefix}{n}"
        t, p = e["type"], int(e["points"])
        bal += p
        if t in _CREDITS:
            assert p >= 0
            total += p
        elif t == "POINTS_REMOVAL":
            assert p <= 0 and int(e["shortfall"]) >= 0
            total += p
        elif t == "POINTS_REDEMPTION":
            assert p <= 0 and int(e["shortfall"]) >= 0
            redeemed -= p
        elif t == "POINTS_TRANSFER_OUT":
            assert p < 0 and e["related"]
            subtracted -= p
        elif t == "POINTS_EXPIRATION":
            assert p < 0
            expired -= p
        elif t == "POINTS_REFUND":
            d = seen[e["related"]]  # a debit of this card, written before
            assert d["type"] in ("POINTS_REDEMPTION", "POINTS_REMOVAL")
            dseq = int(d["id"].rsplit("_", 1)[1])
            assert dseq not in refunds, "a debit refunded twice"
            refunds[dseq] = e["id"]
            assert p == -int(d["points"]) and e["buckets"] == d["buckets"]
            if d["type"] == "POINTS_REMOVAL":
                total += p
            else:
                redeemed -= p
        else:  # pragma: no cover
            raise AssertionError(f"unknown type {t}")
        taken = sum(q for _, q in orjson.loads(e["buckets"]))
        assert taken == abs(p), e
        assert (int(e["balance"]), int(e["total"])) == (bal, total), e
        assert bal >= 0
        last_at = max(last_at, int(e["at"]))
        seen[e["id"]] = e
    got = {
        n: figs.get(n, 0)
        for n in ("points", "balance", "expired", "subtracted", "redeemed", "seq", "at")
    }
    assert got == {
        "points": total,
        "balance": bal,
        "expired": expired,
        "subtracted": subtracted,
        "redeemed": redeemed,
        "seq": len(entries),
        "at": last_at,
    }
    assert bal == total - expired - subtracted - redeemed
    # buckets: one member per expiry, scored by it, positive, summing to the balance
    zs = r.zrange(k.buckets, 0, -1, withscores=True)
    left = r.hgetall(k.bucket_points)
    assert {m for m, _ in zs} == set(left)
    assert all(int(m) == s and int(left[m]) > 0 for m, s in zs)
    assert sum(int(v) for v in left.values()) == bal
    assert {int(a): b.decode() for a, b in r.hgetall(k.refunds).items()} == refunds
    # pending: the zset holds exactly the PENDING records; the figure is their sum
    recs = {a.decode(): orjson.loads(b) for a, b in r.hgetall(k.pending_records).items()}
    pend = {a.decode(): s for a, s in r.zrange(k.pending, 0, -1, withscores=True)}
    assert pend == {i: rec["a"] for i, rec in recs.items() if rec["st"] == "PENDING"}
    assert figs.get("pending", 0) == sum(
        rec["p"] for rec in recs.values() if rec["st"] == "PENDING"
    )
    for i, rec in recs.items():
        if rec["st"] == "ACTIVATED":
            act = seen[rec["tx"]]
            assert (act["type"], act["pending"], int(act["points"])) == (
                "PENDING_POINTS_ACTIVATION",
                i,
                rec["p"],
            )
    return {**got, "pending": figs.get("pending", 0)}


def failed(res: WalletResult) -> WalletFailure:
    assert res.status == "failed" and res.failure is not None, res
    return res.failure


async def types(w: Wallet, code: str, now: int = NOW) -> list[tuple[str, int, int]]:
    """(type, points, balance) of every transaction of ``code``, newest first."""
    page = await w.transactions(CAMP, code, now, limit=1000)
    return [(t.type, t.points, t.balance) for t in page.transactions]


# -- credit / debit ---------------------------------------------------------------------------


async def test_credits_fill_buckets_and_write_transactions(
    wallet: Wallet, redis_sync: redis.Redis, key_prefix: str
):
    exp1, exp2 = NOW + 30 * DAY, NOW + 60 * DAY
    res = await wallet.apply(
        [
            credit(200, expires_at_ms=exp1, source_id="o-1", details=b'{"order":{"id":"o-1"}}'),
            credit(50, type="POINTS_ADDITION", reason="goodwill", expires_at_ms=exp2),
            credit(30, expires_at_ms=exp1),  # same expiry: same bucket
            credit(20),  # never expires
        ],
        NOW,
    )
    assert res.ok
    assert [(r.kind, r.points, r.balance, r.total) for r in res.results] == [
        ("credit", 200, 200, 200),
        ("credit", 50, 250, 250),
        ("credit", 30, 280, 280),
        ("credit", 20, 300, 300),
    ]
    assert res.results[0].buckets == [Bucket(exp1, 200)]
    assert res.results[3].buckets == [Bucket(None, 20)]
    card = res.card(CAMP, "CARD1")
    assert (card.points, card.balance, card.transactions, card.updated_at_ms) == (300, 300, 4, NOW)
    assert (card.next_expiration_at_ms, card.next_expiration_points) == (exp1, 230)
    assert await wallet.card(CAMP, "CARD1", NOW) == card
    assert (await wallet.buckets(CAMP, "CARD1", NOW)).buckets == [
        Bucket(exp1, 230),
        Bucket(exp2, 50),
        Bucket(None, 20),
    ]
    page = await wallet.transactions(CAMP, "CARD1", NOW, newest_first=False)
    first, second = page.transactions[:2]
    assert first.id == res.results[0].transaction_ids[0] == transaction_prefix(CAMP, "CARD1") + "1"
    assert (first.type, first.points, first.balance, first.total, first.created_at_ms) == (
        "POINTS_ACCRUAL",
        200,
        200,
        200,
        NOW,
    )
    assert (first.source_id, first.details) == ("o-1", b'{"order":{"id":"o-1"}}')
    assert (second.type, second.reason) == ("POINTS_ADDITION", "goodwill")
    check_card(redis_sync, key_prefix, "CARD1")


async def test_debit_takes_soonest_expiring_first(
    wallet: Wallet, redis_sync: redis.Redis, key_prefix: str
):
    e1, e2, e3 = NOW + DAY, NOW + 2 * DAY, NOW + 3 * DAY
    # credited out of expiry order on purpose
    assert (await wallet.apply([credit(100), credit(100, expires_at_ms=e3),
                                credit(100, expires_at_ms=e1), credit(100, expires_at_ms=e2)],
                               NOW)).ok  # fmt: skip
    res = await wallet.apply([debit(150, source_id="r_1"), debit(100)], NOW)
    assert res.ok
    one, two = res.results
    assert one.buckets == [Bucket(e1, 100), Bucket(e2, 50)]
    assert (one.points, one.balance, one.total) == (-150, 250, 400)  # redemption: total kept
    assert two.buckets == [Bucket(e2, 50), Bucket(e3, 50)]
    assert (await wallet.buckets(CAMP, "CARD1", NOW)).buckets == [
        Bucket(e3, 50),
        Bucket(None, 100),
    ]
    card = res.card(CAMP, "CARD1")
    assert (card.balance, card.redeemed, card.points) == (150, 250, 400)
    assert card.next_expiration_at_ms == e3
    check_card(redis_sync, key_prefix, "CARD1")


async def test_exact_debit_short_fails_naming_op_and_error_and_writes_nothing(
    wallet: Wallet, redis_sync: redis.Redis, key_prefix: str
):
    assert (await wallet.apply([credit(100)], NOW)).ok
    before = snapshot(redis_sync, key_prefix)
    res = await wallet.apply(
        [credit(50, code="OTHER"), debit(60), debit(60, error="loyalty_card_points_exceeded")],
        NOW,
        limits=[CounterOp("{c:camp_L}:rw:stock", 1, 10, "reward_out_of_stock")],
    )
    assert res.status == "failed" and res.failure is not None
    assert (res.failure.kind, res.failure.index, res.failure.error) == (
        "wallet",
        2,
        "loyalty_card_points_exceeded",
    )
    assert (res.failure.available, res.failure.requested) == (40, 60)
    assert res.results == [] and res.cards == []
    assert snapshot(redis_sync, key_prefix) == before  # not even the first two ops
    custom = await wallet.apply([debit(101, error="custom_key")], NOW)
    assert custom.failure is not None and custom.failure.error == "custom_key"
    assert snapshot(redis_sync, key_prefix) == before


async def test_removal_lowers_the_total_a_redemption_does_not(
    wallet: Wallet, redis_sync: redis.Redis, key_prefix: str
):
    assert (await wallet.apply([credit(500)], NOW)).ok
    res = await wallet.apply([debit(100, type="POINTS_REMOVAL", reason="support"), debit(100)], NOW)
    assert [(r.points, r.balance, r.total) for r in res.results] == [
        (-100, 400, 400),
        (-100, 300, 400),
    ]
    card = res.card(CAMP, "CARD1")
    assert (card.points, card.balance, card.redeemed, card.subtracted) == (400, 300, 100, 0)
    check_card(redis_sync, key_prefix, "CARD1")


async def test_clamp_takes_what_is_there_and_records_the_shortfall(
    wallet: Wallet, redis_sync: redis.Redis, key_prefix: str
):
    assert (await wallet.apply([credit(30)], NOW)).ok
    res = await wallet.apply(
        [debit(100, type="POINTS_REMOVAL", mode="clamp", source_id="rollback:r_1")], NOW
    )
    assert res.ok
    (r,) = res.results
    assert (r.points, r.shortfall, r.balance, r.total) == (-30, 70, 0, 0)
    again = await wallet.apply([debit(5, type="POINTS_REMOVAL", mode="clamp")], NOW)
    assert (again.results[0].points, again.results[0].shortfall) == (0, 5)
    (last, prev) = (await wallet.transactions(CAMP, "CARD1", NOW, limit=2)).transactions
    assert (prev.type, prev.points, prev.shortfall, prev.balance) == ("POINTS_REMOVAL", -30, 70, 0)
    assert (last.points, last.shortfall, last.buckets) == (0, 5, [])
    check_card(redis_sync, key_prefix, "CARD1")


# -- refunds ----------------------------------------------------------------------------------


async def test_refund_gives_back_to_the_same_buckets_once(
    wallet: Wallet, redis_sync: redis.Redis, key_prefix: str
):
    e1, e2 = NOW + DAY, NOW + 2 * DAY
    ok = await wallet.apply(
        [credit(100, expires_at_ms=e1), credit(100, expires_at_ms=e2), credit(100)], NOW
    )
    assert ok.ok
    accrual = ok.results[0].transaction_ids[0]
    spent = await wallet.apply([debit(150)], NOW)
    dtx = spent.results[0].transaction_ids[0]
    assert (await wallet.buckets(CAMP, "CARD1", NOW)).buckets == [
        Bucket(e2, 50),
        Bucket(None, 100),
    ]
    back = await wallet.apply([refund(dtx, source_id="rr_1")], NOW + 5)
    assert back.ok
    (r,) = back.results
    assert (r.kind, r.points, r.balance, r.total) == ("refund", 150, 300, 300)
    assert r.buckets == [Bucket(e1, 100), Bucket(e2, 50)]
    assert (await wallet.buckets(CAMP, "CARD1", NOW + 5)).buckets == [
        Bucket(e1, 100),
        Bucket(e2, 100),
        Bucket(None, 100),
    ]
    (t,) = (await wallet.transactions(CAMP, "CARD1", NOW + 5, limit=1)).transactions
    assert (t.type, t.points, t.related_transaction_id, t.source_id, t.created_at_ms) == (
        "POINTS_REFUND",
        150,
        dtx,
        "rr_1",
        NOW + 5,
    )
    assert back.card(CAMP, "CARD1").redeemed == 0
    # once: a second refund, or two in one call, are refused and change nothing
    d2 = (await wallet.apply([debit(10)], NOW + 6)).results[0].transaction_ids[0]
    before = snapshot(redis_sync, key_prefix)
    twice = await wallet.apply([refund(dtx)], NOW + 6)
    assert twice.failure is not None and twice.failure.error == "already_refunded"
    same_call = await wallet.apply([refund(d2), refund(d2)], NOW + 6)
    assert same_call.failure is not None
    assert (same_call.failure.index, same_call.failure.error) == (1, "already_refunded")
    # not a debit, or not a transaction of this card's stream
    assert failed(await wallet.apply([refund(accrual)], NOW + 6)).error == "not_refundable"
    ghost = transaction_prefix(CAMP, "CARD1") + "999"
    assert failed(await wallet.apply([refund(ghost)], NOW + 6)).error == "not_found"
    assert snapshot(redis_sync, key_prefix) == before
    with pytest.raises(ValueError, match="not a transaction of card"):
        await wallet.apply([refund(dtx, code="CARD2")], NOW + 6)
    check_card(redis_sync, key_prefix, "CARD1")


async def test_refund_of_a_removal_restores_the_total(
    wallet: Wallet, redis_sync: redis.Redis, key_prefix: str
):
    assert (await wallet.apply([credit(100)], NOW)).ok
    rm = await wallet.apply([debit(40, type="POINTS_REMOVAL")], NOW)
    assert rm.card(CAMP, "CARD1").points == 60
    back = await wallet.apply([refund(rm.results[0].transaction_ids[0])], NOW)
    card = back.card(CAMP, "CARD1")
    assert (card.points, card.balance, card.redeemed) == (100, 100, 0)
    check_card(redis_sync, key_prefix, "CARD1")


async def test_refund_into_an_expired_bucket_expires_again(
    wallet: Wallet, redis_sync: redis.Redis, key_prefix: str
):
    e1 = NOW + DAY
    assert (await wallet.apply([credit(100, expires_at_ms=e1), credit(100)], NOW)).ok
    spent = await wallet.apply([debit(150)], NOW)  # 100 from e1, 50 from the non-expiring one
    later = e1 + 1
    back = await wallet.apply([refund(spent.results[0].transaction_ids[0])], later)
    assert back.ok
    (r,) = back.results
    assert len(r.transaction_ids) == 2  # the refund, then the expiration of its dead part
    assert (r.points, r.balance) == (150, 100)
    card = back.card(CAMP, "CARD1")
    assert (card.balance, card.expired, card.redeemed, card.points) == (100, 100, 0, 200)
    assert (await types(wallet, "CARD1", later))[:2] == [
        ("POINTS_EXPIRATION", -100, 100),
        ("POINTS_REFUND", 150, 200),
    ]
    assert (await wallet.buckets(CAMP, "CARD1", later)).buckets == [Bucket(None, 100)]
    check_card(redis_sync, key_prefix, "CARD1")


# -- transfers --------------------------------------------------------------------------------


async def test_transfer_moves_points_between_cards(
    wallet: Wallet, redis_sync: redis.Redis, key_prefix: str
):
    e_src, e_dst = NOW + DAY, NOW + 90 * DAY
    assert (await wallet.apply([credit(100, "A", expires_at_ms=e_src), credit(100, "A")], NOW)).ok
    res = await wallet.apply(
        [transfer(150, "A", "B", expires_at_ms=e_dst, source_id="tr-1",
                  details=b'{"destination_voucher":"B"}', to_details=b'{"source_voucher":"A"}')],
        NOW,
    )  # fmt: skip
    assert res.ok
    (r,) = res.results
    out_id, in_id = r.transaction_ids
    assert (r.points, r.balance, r.total, r.to_code, r.to_balance, r.to_total) == (
        -150,
        50,
        200,
        "B",
        150,
        150,
    )
    assert r.buckets == [Bucket(e_src, 100), Bucket(None, 50)]
    (out,) = (await wallet.transactions(CAMP, "A", NOW, limit=1)).transactions
    (inn,) = (await wallet.transactions(CAMP, "B", NOW, limit=1)).transactions
    assert (out.id, out.type, out.related_transaction_id, out.details) == (
        out_id,
        "POINTS_TRANSFER_OUT",
        in_id,
        b'{"destination_voucher":"B"}',
    )
    assert (inn.id, inn.type, inn.related_transaction_id, inn.details, inn.source_id) == (
        in_id,
        "POINTS_TRANSFER_IN",
        out_id,
        b'{"source_voucher":"A"}',
        "tr-1",
    )
    assert (await wallet.buckets(CAMP, "B", NOW)).buckets == [Bucket(e_dst, 150)]
    a, b = res.card(CAMP, "A"), res.card(CAMP, "B")
    assert (a.balance, a.subtracted, a.points, b.balance, b.points) == (50, 150, 200, 150, 150)
    # short: refused with the op's error, nothing moves
    before = snapshot(redis_sync, key_prefix)
    short = await wallet.apply([transfer(51, "A", "B")], NOW)
    assert short.failure is not None
    assert (short.failure.error, short.failure.available, short.failure.requested) == (
        "loyalty_card_points_exceeded",
        50,
        51,
    )
    assert snapshot(redis_sync, key_prefix) == before
    with pytest.raises(ValueError, match="two different cards"):
        await wallet.apply([transfer(1, "A", "A")], NOW)
    # expired points cannot move: past e_dst, B's 150 have expired (the refusal normalised B)
    late = e_dst + 1
    assert failed(await wallet.apply([transfer(1, "B", "A")], late)).available == 0
    fa, fb = check_card(redis_sync, key_prefix, "A"), check_card(redis_sync, key_prefix, "B")
    assert fa["balance"] + fb["balance"] + fb["expired"] == 200


# -- normalisation: expiry and pending points with a moved clock --------------------------------


async def test_expired_buckets_leave_the_balance_at_read_time(
    wallet: Wallet, redis_sync: redis.Redis, key_prefix: str
):
    e1, e2 = NOW + DAY, NOW + 2 * DAY
    assert (await wallet.apply([credit(100, expires_at_ms=e1), credit(200, expires_at_ms=e2),
                                credit(50)], NOW)).ok  # fmt: skip
    assert (await wallet.card(CAMP, "CARD1", e1 - 1)).balance == 350
    # no job ran: the read itself expires the first bucket, dated at its expiry
    card = await wallet.card(CAMP, "CARD1", e1)
    assert (card.balance, card.expired, card.points) == (250, 100, 350)
    assert (card.next_expiration_at_ms, card.next_expiration_points) == (e2, 200)
    page = await wallet.transactions(CAMP, "CARD1", e1, limit=1)
    (t,) = page.transactions
    assert (t.type, t.points, t.balance, t.total, t.created_at_ms) == (
        "POINTS_EXPIRATION",
        -100,
        250,
        350,
        e1,
    )
    assert t.buckets == [Bucket(e1, 100)]
    # a debit past e2 cannot spend the second bucket either; its expiration comes first
    res = await wallet.apply([debit(60)], e2 + 10)
    assert res.failure is not None and res.failure.available == 50
    assert (await types(wallet, "CARD1", e2 + 10))[0] == ("POINTS_EXPIRATION", -200, 50)
    ok = await wallet.apply([debit(50)], e2 + 10)
    assert ok.ok and ok.card(CAMP, "CARD1").balance == 0
    # reading again expires nothing twice
    assert (await wallet.card(CAMP, "CARD1", e2 + 99 * DAY)).expired == 300
    assert [t[0] for t in await types(wallet, "CARD1", e2 + 99 * DAY)] == [
        "POINTS_REDEMPTION",
        "POINTS_EXPIRATION",
        "POINTS_EXPIRATION",
        "POINTS_ACCRUAL",
        "POINTS_ACCRUAL",
        "POINTS_ACCRUAL",
    ]
    check_card(redis_sync, key_prefix, "CARD1")


async def test_a_refused_call_still_normalises_and_apply_reports_normalisation(
    wallet: Wallet, redis_sync: redis.Redis, key_prefix: str
):
    e1 = NOW + DAY
    assert (await wallet.apply([credit(100, expires_at_ms=e1)], NOW)).ok
    refused = await wallet.apply([debit(1)], e1)
    assert refused.status == "failed"
    assert (await wallet.card(CAMP, "CARD1", NOW)).expired == 100  # written by the refused call
    assert (await wallet.apply([credit(10, expires_at_ms=e1 + DAY)], e1)).auto == []
    res = await wallet.apply([credit(1)], e1 + DAY)
    assert [(a.code, a.type, a.points) for a in res.auto] == [("CARD1", "POINTS_EXPIRATION", -10)]
    check_card(redis_sync, key_prefix, "CARD1")


async def test_pending_points_activate_at_their_time(
    wallet: Wallet, redis_sync: redis.Redis, key_prefix: str
):
    act = NOW + 7 * DAY
    res = await wallet.apply(
        [
            credit(80, pending_id="lopp_1", activates_at_ms=act, expires_after_ms=30 * DAY,
                   source_id="o-1", details=b'{"order":{"id":"o-1"}}'),
            credit(20, pending_id="lopp_2", activates_at_ms=act + DAY,
                   expires_at_ms=act + 10 * DAY),
            credit(5, pending_id="lopp_3", activates_at_ms=act + 2 * DAY),
        ],
        NOW,
    )  # fmt: skip
    assert res.ok
    assert [(r.kind, r.pending_id, r.pending_points, r.transaction_ids) for r in res.results] == [
        ("pending", "lopp_1", 80, []),
        ("pending", "lopp_2", 20, []),
        ("pending", "lopp_3", 5, []),
    ]
    card = res.card(CAMP, "CARD1")
    assert (card.pending, card.balance, card.points, card.transactions) == (105, 0, 0, 0)
    page = await wallet.pending(CAMP, "CARD1", NOW)
    assert [(p.id, p.points, p.status) for p in page.pending] == [
        ("lopp_1", 80, "PENDING"),
        ("lopp_2", 20, "PENDING"),
        ("lopp_3", 5, "PENDING"),
    ]
    first = page.pending[0]
    assert (first.activates_at_ms, first.expires_after_ms, first.expires_at_ms) == (
        act,
        30 * DAY,
        None,
    )
    assert (first.source_id, first.details, first.created_at_ms) == (
        "o-1",
        b'{"order":{"id":"o-1"}}',
        NOW,
    )
    assert page.pending[1].expires_at_ms == act + 10 * DAY
    assert page.pending[2].expires_at_ms is None and page.pending[2].expires_after_ms is None
    # the clock moves past the first two activations: the read activates them, in order
    card = await wallet.card(CAMP, "CARD1", act + DAY + 5)
    assert (card.pending, card.balance, card.points) == (5, 100, 100)
    assert (card.next_expiration_at_ms, card.next_expiration_points) == (act + 10 * DAY, 20)
    txs = (await wallet.transactions(CAMP, "CARD1", act + DAY + 5)).transactions
    assert [(t.type, t.points, t.balance, t.created_at_ms, t.pending_id) for t in txs] == [
        ("PENDING_POINTS_ACTIVATION", 20, 100, act + DAY, "lopp_2"),
        ("PENDING_POINTS_ACTIVATION", 80, 80, act, "lopp_1"),
    ]
    assert txs[1].details == b'{"order":{"id":"o-1"}}' and txs[1].source_id == "o-1"
    assert txs[1].buckets == [Bucket(act + 30 * DAY, 80)]  # expiry counted from activation
    rec = await wallet.pending_points(CAMP, "CARD1", "lopp_1", act + DAY + 5)
    assert rec is not None
    assert (rec.status, rec.transaction_id, rec.updated_at_ms) == ("ACTIVATED", txs[1].id, act)
    assert await wallet.pending_points(CAMP, "CARD1", "lopp_9", act) is None
    assert [p.id for p in (await wallet.pending(CAMP, "CARD1", act + DAY + 5)).pending] == [
        "lopp_3"
    ]
    check_card(redis_sync, key_prefix, "CARD1")


async def test_normalisation_replays_events_in_time_order(
    wallet: Wallet, redis_sync: redis.Redis, key_prefix: str
):
    t1, t2, t3 = NOW + DAY, NOW + 2 * DAY, NOW + 3 * DAY
    assert (await wallet.apply([credit(100, expires_at_ms=t2),
                                credit(40, pending_id="p1", activates_at_ms=t1,
                                       expires_at_ms=t3)], NOW)).ok  # fmt: skip
    # one read long after everything: activation (t1), expiry (t2), expiry (t3)
    card = await wallet.card(CAMP, "CARD1", t3 + DAY)
    assert (card.balance, card.expired, card.points, card.pending) == (0, 140, 140, 0)
    txs = (await wallet.transactions(CAMP, "CARD1", t3 + DAY, newest_first=False)).transactions
    assert [(t.type, t.points, t.balance, t.created_at_ms) for t in txs] == [
        ("POINTS_ACCRUAL", 100, 100, NOW),
        ("PENDING_POINTS_ACTIVATION", 40, 140, t1),
        ("POINTS_EXPIRATION", -100, 40, t2),
        ("POINTS_EXPIRATION", -40, 0, t3),
    ]
    check_card(redis_sync, key_prefix, "CARD1")


async def test_pending_actions(wallet: Wallet, redis_sync: redis.Redis, key_prefix: str):
    act = NOW + 7 * DAY
    ops = [credit(p, pending_id=f"lopp_{p}", activates_at_ms=act, expires_after_ms=DAY)
           for p in (10, 20, 30)]  # fmt: skip
    assert (await wallet.apply(ops, NOW)).ok

    def pa(kind: type, pid: str, **kw: Any) -> Any:
        return kind(campaign_id=CAMP, code="CARD1", pending_id=pid, **kw)

    res = await wallet.apply(
        [
            pa(AdjustPending, "lopp_10", points=5),
            pa(ActivatePending, "lopp_10"),  # activated now, with 15
            pa(CancelPending, "lopp_20"),
            pa(AdjustPending, "lopp_30", points=-30),  # down to 0 is allowed
        ],
        NOW + 1,
    )
    assert res.ok
    adj, activ, cancel, down = res.results
    assert (adj.pending_points, activ.points, activ.balance, cancel.pending_points) == (
        15,
        15,
        15,
        20,
    )
    assert activ.buckets == [Bucket(NOW + 1 + DAY, 15)]  # expiry counted from now
    assert down.pending_points == 0 and down.transaction_ids == []
    card = res.card(CAMP, "CARD1")
    assert (card.pending, card.balance, card.points) == (0, 15, 15)
    (t,) = (await wallet.transactions(CAMP, "CARD1", NOW + 1)).transactions
    assert (t.type, t.points, t.created_at_ms, t.pending_id) == (
        "PENDING_POINTS_ACTIVATION",
        15,
        NOW + 1,
        "lopp_10",
    )
    records = [
        await wallet.pending_points(CAMP, "CARD1", p, NOW + 1)
        for p in ("lopp_10", "lopp_20", "lopp_30")
    ]
    assert [r.status if r else None for r in records] == ["ACTIVATED", "CANCELED", "PENDING"]
    # refusals
    before = snapshot(redis_sync, key_prefix)
    for op, index, error in [
        (pa(ActivatePending, "lopp_10"), 0, "invalid_pending_points_state"),
        (pa(CancelPending, "lopp_20"), 0, "invalid_pending_points_state"),
        (pa(AdjustPending, "lopp_20", points=1), 0, "invalid_pending_points_state"),
        (pa(AdjustPending, "lopp_30", points=-1), 0, "invalid_amount"),
        (pa(CancelPending, "lopp_nope"), 0, "not_found"),
        (credit(1, pending_id="lopp_30", activates_at_ms=act), 0, "pending_points_exists"),
    ]:
        bad = await wallet.apply([op], NOW + 2)
        assert bad.failure is not None, op
        assert (bad.failure.index, bad.failure.error) == (index, error), op
    # in one call, a later op sees what an earlier one did to the same record
    twice = await wallet.apply(
        [pa(CancelPending, "lopp_30"), pa(CancelPending, "lopp_30")], NOW + 2
    )
    assert twice.failure is not None
    assert (twice.failure.index, twice.failure.error) == (1, "invalid_pending_points_state")
    assert snapshot(redis_sync, key_prefix) == before
    # the pending 0 points activate at their time: a 0-point activation, no bucket
    assert (await wallet.card(CAMP, "CARD1", act)).pending == 0
    rec = await wallet.pending_points(CAMP, "CARD1", "lopp_30", act)
    assert rec is not None and rec.status == "ACTIVATED"
    check_card(redis_sync, key_prefix, "CARD1")


async def test_pending_created_and_acted_on_in_one_call(
    wallet: Wallet, redis_sync: redis.Redis, key_prefix: str
):
    res = await wallet.apply(
        [
            credit(10, pending_id="p", activates_at_ms=NOW + DAY),
            AdjustPending(campaign_id=CAMP, code="CARD1", pending_id="p", points=-4),
            ActivatePending(campaign_id=CAMP, code="CARD1", pending_id="p"),
            debit(6),
        ],
        NOW,
    )
    assert res.ok and res.card(CAMP, "CARD1").balance == 0
    check_card(redis_sync, key_prefix, "CARD1")


# -- all-or-nothing, limits, idempotency ------------------------------------------------------


async def test_limit_ops_are_checked_and_counted_in_the_same_call(
    wallet: Wallet, redis_sync: redis.Redis, key_prefix: str
):
    stock = CounterOp("{c:camp_L}:rw:rew_M:stock", 1, 2, "reward_out_of_stock", 0, 0)
    per_day = CounterOp(
        "{c:camp_L}:er:ern_1:cus_A:d:20270115", 100, 150, "earning_limit", 86_400, 0
    )
    assert (await wallet.apply([credit(1000)], NOW)).ok
    assert (await wallet.apply([debit(250)], NOW, limits=[stock])).ok
    assert (await wallet.apply([debit(250)], NOW, limits=[stock])).ok
    before = snapshot(redis_sync, key_prefix)
    out = await wallet.apply([debit(250)], NOW, limits=[stock])
    assert out.failure is not None
    assert (out.failure.kind, out.failure.index, out.failure.error, out.failure.available) == (
        "limit",
        0,
        "reward_out_of_stock",
        2,
    )
    assert snapshot(redis_sync, key_prefix) == before
    assert int(redis_sync.get(key_prefix + stock.key)) == 2  # type: ignore[arg-type]
    assert (await wallet.apply([credit(100)], NOW, limits=[per_day])).ok
    assert 86_000 < redis_sync.ttl(key_prefix + per_day.key) <= 86_400
    capped = await wallet.apply([credit(100)], NOW, limits=[per_day])
    assert capped.failure is not None and capped.failure.error == "earning_limit"
    # limits alone, with an op id, need a scope
    with pytest.raises(ValueError, match="scope"):
        await wallet.apply([], NOW, limits=[stock], op_id="x", fingerprint="f")
    assert (await wallet.card(CAMP, "CARD1", NOW)).balance == 600
    check_card(redis_sync, key_prefix, "CARD1")


async def test_idempotent_apply_replays_conflicts_and_refusals_store_nothing(
    wallet: Wallet, redis_sync: redis.Redis, key_prefix: str
):
    plan = [credit(100, source_id="o-1")]
    first = await wallet.apply(plan, NOW, op_id="order:o-1", fingerprint="fp1")
    assert first.ok
    idem = Keys(key_prefix).wallet_idempotency(CAMP, "order:o-1")
    assert redis_sync.exists(idem) and redis_sync.ttl(idem) == -1  # kept: earns once, for good
    before = snapshot(redis_sync, key_prefix)
    again = await wallet.apply(plan, NOW + 5, op_id="order:o-1", fingerprint="fp1")
    assert again.status == "replay"
    assert (again.results, again.cards) == (first.results, first.cards)
    other = await wallet.apply([credit(7)], NOW, op_id="order:o-1", fingerprint="fp2")
    assert other.status == "conflict"
    assert snapshot(redis_sync, key_prefix) == before
    # a refused call stores nothing under its op id: its retry is judged anew
    refused = await wallet.apply([debit(500)], NOW, op_id="spend:1", fingerprint="f")
    assert refused.status == "failed"
    assert snapshot(redis_sync, key_prefix) == before
    assert (await wallet.apply([credit(400)], NOW)).ok
    assert (await wallet.apply([debit(500)], NOW, op_id="spend:1", fingerprint="f")).ok
    # op ids are scoped by campaign
    elsewhere = await wallet.apply(
        [credit(1, campaign_id="camp_X")], NOW, op_id="order:o-1", fingerprint="fp1"
    )
    assert elsewhere.ok
    with pytest.raises(ValueError, match="fingerprint"):
        await wallet.apply(plan, NOW, op_id="k")
    check_card(redis_sync, key_prefix, "CARD1")


async def test_idempotency_ttl_when_asked(
    client: aredis.Redis, key_prefix: str, redis_sync: redis.Redis
):
    w = Wallet(client, key_prefix, idempotency_ttl=600)
    try:
        assert (await w.apply([credit(1)], NOW, op_id="k", fingerprint="f")).ok
    finally:
        await w.aclose()
    assert 0 < redis_sync.ttl(Keys(key_prefix).wallet_idempotency(CAMP, "k")) <= 600


# -- reads ------------------------------------------------------------------------------------


async def test_transactions_paging(wallet: Wallet):
    assert (await wallet.apply([credit(i) for i in range(1, 26)], NOW)).ok
    seen: list[int] = []
    after: str | None = None
    while True:
        page = await wallet.transactions(CAMP, "CARD1", NOW, limit=10, starting_after=after)
        seen += [t.points for t in page.transactions]
        if not page.has_more:
            break
        after = page.transactions[-1].id
    assert seen == list(range(25, 0, -1))
    up = await wallet.transactions(CAMP, "CARD1", NOW, limit=3, starting_after=22,
                                   newest_first=False)  # fmt: skip
    assert ([t.points for t in up.transactions], up.has_more) == ([23, 24, 25], False)
    with pytest.raises(ValueError):
        await wallet.transactions(CAMP, "CARD1", NOW, starting_after="vtx_other_3")


async def test_a_run_of_credits_is_one_entry_read_back_as_its_transactions(
    wallet: Wallet, redis_sync: redis.Redis, key_prefix: str
):
    """Consecutive credits of one call to one card (an order earning through many rules) are
    written as ONE stream entry; every read sees them as separate transactions with their own
    ids, running balances, buckets and details, whatever page boundaries fall inside the run."""
    exp = NOW + 30 * DAY
    res = await wallet.apply([credit(5), debit(3)], NOW)  # seq 1, 2: single entries
    assert res.ok
    run = [credit(i, expires_at_ms=exp if i % 2 else None, details=f'{{"rule":"r{i}"}}'.encode(),
                  source_id=f"s{i}") for i in range(1, 8)]  # fmt: skip
    res = await wallet.apply([*run, credit(4, code="CARD2"), credit(100, type="POINTS_ADDITION"),
                              credit(9), debit(1)], NOW + 1)  # fmt: skip
    assert res.ok
    # seq 3..9 the run of 7 accruals, 10 the addition, 11 a single accrual, 12 the debit
    assert [r.points for r in res.results] == [1, 2, 3, 4, 5, 6, 7, 4, 100, 9, -1]
    assert [r.balance for r in res.results[:7]] == [3, 5, 8, 12, 17, 23, 30]
    prefix = transaction_prefix(CAMP, "CARD1")
    assert [r.transaction_ids for r in res.results[:7]] == [[f"{prefix}{n}"] for n in range(3, 10)]
    assert res.results[1].buckets == [Bucket(None, 2)] and res.results[2].buckets == [Bucket(exp, 3)]
    k = Keys(key_prefix).card(CAMP, "CARD1")
    assert redis_sync.xlen(k.transactions) == 6  # 12 transactions in 6 entries
    check_card(redis_sync, key_prefix, "CARD1")

    every = (await wallet.transactions(CAMP, "CARD1", NOW + 1, limit=100, newest_first=False)).transactions
    assert [t.seq for t in every] == list(range(1, 13))
    assert [t.balance for t in every] == [5, 2, 3, 5, 8, 12, 17, 23, 30, 130, 139, 138]
    assert [(t.source_id, t.details) for t in every[2:4]] == [("s1", b'{"rule":"r1"}'), ("s2", b'{"rule":"r2"}')]
    assert [t.buckets for t in every[2:4]] == [[Bucket(exp, 1)], [Bucket(None, 2)]]
    for newest in (True, False):
        want = [t.seq for t in (reversed(every) if newest else every)]
        for limit in range(1, 13):
            for start in [None, *range(1, 13)]:
                page = await wallet.transactions(CAMP, "CARD1", NOW + 1, limit=limit,
                                                 starting_after=start, newest_first=newest)  # fmt: skip
                rest = want if start is None else want[want.index(start) + 1 :]
                assert [t.seq for t in page.transactions] == rest[:limit], (newest, limit, start)
                assert page.has_more == (len(rest) > limit), (newest, limit, start)
    # an accrual inside the run is found, and is not refundable
    bad = await wallet.apply([refund(f"{prefix}5")], NOW + 2)
    assert bad.failure is not None and bad.failure.error == "not_refundable"
    gone = await wallet.apply([refund(f"{prefix}99")], NOW + 2)
    assert gone.failure is not None and gone.failure.error == "not_found"
    # a refusal names the caller's op, not the script's (the run counts as its 3 credits)
    short = await wallet.apply([credit(1), credit(2), credit(3), debit(10**6)], NOW + 3)
    assert short.failure is not None and (short.failure.kind, short.failure.index) == ("wallet", 3)
    # per_credit=False: one result per run (its ids, its points, the card after it)
    lean = await wallet.apply([credit(1), credit(2), credit(3), credit(4, code="CARD2")], NOW + 4,
                              per_credit=False)  # fmt: skip
    assert lean.ok and [(r.points, len(r.transaction_ids)) for r in lean.results] == [(6, 3), (4, 1)]
    assert lean.results[0].transaction_ids == [f"{prefix}{n}" for n in range(13, 16)]
    assert lean.results[0].balance == 144 == lean.cards[0].balance


async def test_field_writes_are_one_hset_and_name_the_first_transaction_of_op_1(
    wallet: Wallet, redis_sync: redis.Redis, key_prefix: str
):
    """``hmset`` / ``hmsettx`` write a mapping of fields in ONE HSET (their texts travel after
    the writes, before a run's items: each is read where it belongs); ``hsettx`` / ``hmsettx``
    replace every TX_PLACEHOLDER (as JSON writes it) by op 1's first transaction id, which
    :func:`with_tx` foretells."""
    k1, k2, k3 = (f"{key_prefix}rec:{i}" for i in (1, 2, 3))
    assert (await wallet.apply([credit(50)], NOW)).ok
    rec = orjson.dumps({"t": TX_PLACEHOLDER, "again": [TX_PLACEHOLDER], "pct": "100%"})
    ref = orjson.dumps([{"t": TX_PLACEHOLDER}])
    run = [credit(1, details=b'{"r":1}'), credit(2, details=b'{"r":2}')]
    res = await wallet.apply([debit(10), *run], NOW + 1, writes=[
        ("hset", k1, "plain", rec),
        ("hmsettx", k2, {"data": rec, "n": "1", "wallet": ref}),
        ("hmset", k3, {"a": rec, "b": 2}),
        ("hsettx", k1, "one", rec),
    ])  # fmt: skip
    assert res.ok
    tx = res.results[0].transaction_ids[0]
    assert with_tx(rec, tx) == orjson.dumps({"t": tx, "again": [tx], "pct": "100%"})
    assert redis_sync.hgetall(k1) == {b"plain": rec, b"one": with_tx(rec, tx)}
    assert redis_sync.hgetall(k2) == {b"data": with_tx(rec, tx), b"n": b"1", b"wallet": with_tx(ref, tx)}
    assert redis_sync.hgetall(k3) == {b"a": rec, b"b": b"2"}
    every = (await wallet.transactions(CAMP, "CARD1", NOW + 1, limit=10, newest_first=False)).transactions
    assert [(t.points, t.details) for t in every[-2:]] == [(1, b'{"r":1}'), (2, b'{"r":2}')]
    check_card(redis_sync, key_prefix, "CARD1")


async def test_buckets_and_pending_paging(wallet: Wallet):
    exps = [NOW + i * DAY for i in range(1, 8)]
    assert (
        await wallet.apply([credit(i + 1, expires_at_ms=e) for i, e in enumerate(exps)], NOW)
    ).ok
    lst = await wallet.buckets(CAMP, "CARD1", NOW, limit=3, offset=2)
    assert (lst.total, lst.buckets) == (
        7,
        [Bucket(exps[2], 3), Bucket(exps[3], 4), Bucket(exps[4], 5)],
    )
    assert (await wallet.buckets(CAMP, "CARD1", exps[3])).total == 3  # four have expired
    ops = [credit(1, pending_id=f"p{i}", activates_at_ms=NOW + i * DAY) for i in range(1, 6)]
    assert (await wallet.apply(ops, NOW)).ok
    p1 = await wallet.pending(CAMP, "CARD1", NOW, limit=2)
    assert ([p.id for p in p1.pending], p1.has_more) == (["p1", "p2"], True)
    p2 = await wallet.pending(CAMP, "CARD1", NOW, limit=2, starting_after="p2")
    assert [p.id for p in p2.pending] == ["p3", "p4"]
    # p2 activated meanwhile: resuming after it still continues after its activation time
    p3 = await wallet.pending(CAMP, "CARD1", NOW + 2 * DAY, limit=2, starting_after="p2")
    assert [p.id for p in p3.pending] == ["p3", "p4"]


async def test_reading_an_unknown_card_writes_nothing(
    wallet: Wallet, redis_sync: redis.Redis, key_prefix: str
):
    card = await wallet.card(CAMP, "NOPE", NOW)
    assert (card.points, card.balance, card.transactions, card.updated_at_ms) == (0, 0, 0, None)
    assert card.next_expiration_at_ms is None
    assert (await wallet.transactions(CAMP, "NOPE", NOW)).transactions == []
    assert (await wallet.buckets(CAMP, "NOPE", NOW)).total == 0
    assert (await wallet.pending(CAMP, "NOPE", NOW)).pending == []
    assert snapshot(redis_sync, key_prefix) == {}


async def test_card_keys_share_the_campaign_slot(
    wallet: Wallet, redis_sync: redis.Redis, key_prefix: str
):
    assert (await wallet.apply([credit(5, pending_id="p", activates_at_ms=NOW + 1), credit(5)],
                               NOW, op_id="k", fingerprint="f")).ok  # fmt: skip
    spent = await wallet.apply([debit(5)], NOW)
    assert (await wallet.apply([refund(spent.results[0].transaction_ids[0])], NOW)).ok
    written = set(snapshot(redis_sync, key_prefix))
    card = Keys(key_prefix).card(CAMP, "CARD1")
    assert written == set(card) | {Keys(key_prefix).wallet_idempotency(CAMP, "k")}
    assert all("{c:camp_L}" in k for k in written)


async def test_malformed_input_is_refused_before_redis(key_prefix: str):
    # a wallet on a port nothing listens on: a ValueError proves Redis was never called
    dead = aredis.Redis(host="127.0.0.1", port=1)
    w = Wallet(dead, key_prefix, timeout=0.5)
    bad: list[Any] = [
        credit(0),
        credit(-5),
        credit(True),  # a bool is not points
        credit(10**13),
        credit(10, expires_at_ms=NOW),  # not in the future
        credit(10, expires_at_ms=NEVER_MS),
        credit(10, type="POINTS_REFUND"),  # type: ignore[arg-type]
        credit(10, expires_after_ms=DAY),  # only for pending points
        credit(10, pending_id="p"),  # without activation
        credit(10, pending_id="p", activates_at_ms=NOW),
        credit(10, pending_id="p", activates_at_ms=NOW + 10, expires_at_ms=NOW + 5),
        credit(
            10, pending_id="p", activates_at_ms=NOW + 10, expires_at_ms=NOW + 50, expires_after_ms=5
        ),  # fmt: skip
        credit(10, code=""),
        credit(10, campaign_id="a}b"),
        credit(10, details=b"\xff"),
        debit(10, type="POINTS_ACCRUAL"),  # type: ignore[arg-type]
        debit(10, mode="maybe"),  # type: ignore[arg-type]
        debit(10, error=""),
        refund("vtx_nope_1"),
        refund(transaction_prefix(CAMP, "CARD1") + "x"),
        transfer(0, "A", "B"),
        transfer(5, "A", "B", expires_at_ms=NOW - 1),
        AdjustPending(campaign_id=CAMP, code="C", pending_id="p", points=0),
        ActivatePending(campaign_id=CAMP, code="C", pending_id=""),
        ("not", "an", "op"),
    ]
    try:
        for op in bad:
            with pytest.raises(ValueError):
                await w.apply([op], NOW)
        with pytest.raises(ValueError):
            await w.apply([], NOW)
        with pytest.raises(ValueError):
            await w.apply([credit(1)], NOW, limits=[CounterOp("{c:camp_L}:x", 0)])
        for write in (("hmset", "k", {}), ("hmset", "k", "f", "v"), ("hmsettx", "k", {"": "v"}),
                      ("hmsettx", "k", {"f": "v"}, "x")):  # fmt: skip
            with pytest.raises(ValueError):
                await w.apply([credit(1)], NOW, writes=[write])
        with pytest.raises(ValueError):
            await w.card("", "C", NOW)
        with pytest.raises(ValueError):
            await w.transactions(CAMP, "C", NOW, limit=0)
    finally:
        await w.aclose()
        await dead.aclose()
    assert w.pipe.commands == 0


async def test_shares_a_store_pipeline(client: aredis.Redis, key_prefix: str):
    pipe = AutoPipeline(client)
    w = Wallet(pipe, key_prefix)
    try:
        await w.load_scripts()
        assert (await w.apply([credit(3)], NOW)).ok
        assert pipe.commands >= 2
        await w.aclose()  # does not close a pipeline it was given: the next call needs no
        assert await pipe.execute_command("PING")  # new connection
        assert pipe.connects == 1
    finally:
        await pipe.aclose()


async def test_acceptance_flow_15a_card_history(
    wallet: Wallet, redis_sync: redis.Redis, key_prefix: str
):
    """VOUCHERIFY-LOYALTY.md 15a, the wallet side: two accruals of 200, rewards of 250 and 100,
    30 paid with points on an order that earns 100, then that order's rollback."""
    code = "CLUB-AB12C"
    assert (await wallet.apply([credit(200, code), credit(200, code)], NOW,
                               op_id="order:o-1", fingerprint="o-1")).ok  # fmt: skip
    assert (await wallet.apply([debit(250, code)], NOW + 1)).card(CAMP, code).balance == 150
    assert (await wallet.apply([debit(100, code)], NOW + 2)).card(CAMP, code).balance == 50
    short = await wallet.apply([debit(60, code)], NOW + 3)
    assert short.failure is not None and short.failure.error == "loyalty_card_points_exceeded"
    paid = await wallet.apply([debit(30, code), credit(100, code)], NOW + 4)
    card = paid.card(CAMP, code)
    assert (card.balance, card.points) == (120, 500)
    spent = paid.results[0].transaction_ids[0]
    rolled = await wallet.apply(
        [refund(spent, code), debit(100, code, type="POINTS_REMOVAL", mode="clamp")], NOW + 5
    )
    assert rolled.card(CAMP, code).balance == 50
    assert await types(wallet, code, NOW + 5) == [
        ("POINTS_REMOVAL", -100, 50),
        ("POINTS_REFUND", 30, 150),
        ("POINTS_ACCRUAL", 100, 120),
        ("POINTS_REDEMPTION", -30, 20),
        ("POINTS_REDEMPTION", -100, 50),
        ("POINTS_REDEMPTION", -250, 150),
        ("POINTS_ACCRUAL", 200, 400),
        ("POINTS_ACCRUAL", 200, 200),
    ]
    totals = [t.total for t in (await wallet.transactions(CAMP, code, NOW + 5)).transactions]
    assert totals == [400, 500, 500, 400, 400, 400, 400, 200]
    assert check_card(redis_sync, key_prefix, code)["points"] == 400


# -- races ------------------------------------------------------------------------------------


async def test_race_40_exact_debits_of_100_from_1000(
    wallet: Wallet, redis_sync: redis.Redis, key_prefix: str
):
    assert (await wallet.apply([credit(1000)], NOW)).ok
    results = await asyncio.gather(*(wallet.apply([debit(100)], NOW) for _ in range(40)))
    assert sum(r.ok for r in results) == 10
    assert all(
        r.failure and r.failure.error == "loyalty_card_points_exceeded" and r.failure.available == 0
        for r in results
        if not r.ok
    )
    balances = sorted(r.results[0].balance for r in results if r.ok)
    assert balances == list(range(0, 1000, 100))  # each success saw its own balance, none < 0
    figs = check_card(redis_sync, key_prefix, "CARD1")
    assert (figs["balance"], figs["redeemed"], figs["seq"]) == (0, 1000, 11)
    assert wallet.pipe.flushes < 40  # the calls really shared round trips


async def test_race_exact_debits_over_independent_connections(
    redis_url: str, redis_sync: redis.Redis, key_prefix: str
):
    clients = [aredis.Redis.from_url(redis_url) for _ in range(8)]
    wallets = [Wallet(c, key_prefix) for c in clients]
    try:
        assert (await wallets[0].apply([credit(1000), credit(1000, "CARD2")], NOW)).ok
        results = await asyncio.gather(
            *(wallets[i % 8].apply([debit(100), debit(50, "CARD2")], NOW) for i in range(200))
        )
    finally:
        for w, c in zip(wallets, clients, strict=True):
            await w.aclose()
            await c.aclose()
    assert sum(r.ok for r in results) == 10
    assert check_card(redis_sync, key_prefix, "CARD1")["balance"] == 0
    assert check_card(redis_sync, key_prefix, "CARD2")["balance"] == 500  # all-or-nothing


async def test_race_50_calls_with_one_op_id_apply_once(
    wallet: Wallet, redis_sync: redis.Redis, key_prefix: str
):
    plan = [credit(100, expires_at_ms=NOW + DAY), debit(30)]
    results = await asyncio.gather(
        *(wallet.apply(plan, NOW, op_id="order:o-9", fingerprint="fp") for _ in range(50))
    )
    statuses = [r.status for r in results]
    assert (statuses.count("ok"), statuses.count("replay")) == (1, 49)
    first = next(r for r in results if r.ok)
    assert all((r.results, r.cards) == (first.results, first.cards) for r in results)
    figs = check_card(redis_sync, key_prefix, "CARD1")
    assert (figs["balance"], figs["seq"]) == (70, 2)


async def test_race_transfers_back_and_forth_conserve_points(
    redis_url: str, redis_sync: redis.Redis, key_prefix: str
):
    clients = [aredis.Redis.from_url(redis_url) for _ in range(4)]
    wallets = [Wallet(c, key_prefix) for c in clients]
    rng = random.Random(11)
    moves = [(rng.choice([("A", "B"), ("B", "A")]), rng.randint(1, 120)) for _ in range(400)]
    try:
        assert (await wallets[0].apply([credit(500, "A"), credit(300, "B")], NOW)).ok
        results = await asyncio.gather(
            *(
                wallets[i % 4].apply([transfer(p, src, dst)], NOW)
                for i, ((src, dst), p) in enumerate(moves)
            )
        )
    finally:
        for w, c in zip(wallets, clients, strict=True):
            await w.aclose()
            await c.aclose()
    wins = [r for r in results if r.ok]
    assert 0 < len(wins) < len(moves)  # both outcomes happened
    for r in results:
        if not r.ok:
            assert r.failure is not None and r.failure.available < r.failure.requested
    a, b = check_card(redis_sync, key_prefix, "A"), check_card(redis_sync, key_prefix, "B")
    assert a["balance"] + b["balance"] == 800
    assert a["subtracted"] + b["subtracted"] == sum(-r.results[0].points for r in wins)
    # every OUT has its IN on the other card, naming each other
    ins = {
        t.id: t
        for code in ("A", "B")
        for t in (await _all_transactions(redis_url, key_prefix, code))
        if t.type == "POINTS_TRANSFER_IN"
    }
    for r in wins:
        out_id, in_id = r.results[0].transaction_ids
        assert ins[in_id].related_transaction_id == out_id
        assert ins[in_id].points == -r.results[0].points


async def _all_transactions(redis_url: str, prefix: str, code: str) -> list[Any]:
    c = aredis.Redis.from_url(redis_url)
    w = Wallet(c, prefix)
    try:
        return (await w.transactions(CAMP, code, NOW, limit=1000)).transactions
    finally:
        await w.aclose()
        await c.aclose()


async def test_race_refunds_racing_debits_keep_figures_equal_to_transactions(
    redis_url: str, redis_sync: redis.Redis, key_prefix: str
):
    clients = [aredis.Redis.from_url(redis_url) for _ in range(4)]
    wallets = [Wallet(c, key_prefix) for c in clients]
    rounds = 40
    try:
        setup = await asyncio.gather(
            *(
                wallets[0].apply(
                    [credit(500, f"R{i}", expires_at_ms=NOW + DAY), credit(500, f"R{i}"),
                     debit(600, f"R{i}")],
                    NOW,
                )
                for i in range(rounds)
            )
        )  # fmt: skip
        spent = [s.results[2].transaction_ids[0] for s in setup]
        calls: list[Any] = []
        for i in range(rounds):
            code = f"R{i}"
            calls += [wallets[(i + j) % 4].apply([debit(300, code)], NOW + 1) for j in range(3)]
            calls += [wallets[i % 4].apply([refund(spent[i], code)], NOW + 1) for _ in range(2)]
        random.Random(5).shuffle(calls)
        results = await asyncio.gather(*calls)
    finally:
        for w, c in zip(wallets, clients, strict=True):
            await w.aclose()
            await c.aclose()
    refunds = [r for r in results if (r.ok and r.results[0].kind == "refund")]
    refused = [r.failure.error for r in results if not r.ok]  # type: ignore[union-attr]
    assert len(refunds) == rounds  # each debit refunded exactly once
    assert refused.count("already_refunded") == rounds
    for i in range(rounds):
        figs = check_card(redis_sync, key_prefix, f"R{i}")
        # 400 left + 600 back = 1000 at most, spent 300 at a time while it lasted
        assert figs["balance"] == 1000 - 300 * ((figs["redeemed"]) // 300)
        assert figs["balance"] >= 0 and 1 <= figs["redeemed"] // 300 <= 3


async def test_result_struct_helpers():
    empty = WalletResult("conflict")
    assert not empty.ok and empty.results == [] and empty.failure is None
    with pytest.raises(KeyError):
        empty.card(CAMP, "X")
