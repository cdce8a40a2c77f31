"""store.codebook on a real Redis: campaign refs named through the registry by a process that
never met them, and codes stored by a version before the buckets (a key per code,
``Pcode:<CODE>``) moved into their buckets when admin starts."""

from __future__ import annotations

import asyncio

import msgspec
import redis
import redis.asyncio as aredis

from admin.testing import AdminServer
from core import model as m
from store import codebook
from store.keys import Keys


def _old_layout(r: redis.Redis, prefix: str, vouchers: list[m.Voucher]) -> None:
    for v in vouchers:
        r.set(f"{prefix}code:{v.code}", msgspec.json.encode(v))
        if v.campaign_id:
            r.rpush(f"{prefix}campcodes:{v.campaign_id}", v.code)


def test_migrate_moves_every_old_code_once_and_keeps_a_newer_one(redis_sync: redis.Redis, key_prefix: str) -> None:
    k = Keys(key_prefix)
    old = [m.Voucher(code=f"OLD-{i:04d}", campaign_id="camp_old") for i in range(1200)]
    old.append(m.Voucher(code="CARD-1", campaign_id="camp_club", id="v_1", customer_id="cus_1"))
    _old_layout(redis_sync, key_prefix, old)
    # a code already in its bucket (written by the new version meanwhile) wins over its old key
    codebook.put(redis_sync, k, "OLD-0007", m.Voucher(code="OLD-0007", campaign_id="camp_new"))
    redis_sync.set(f"{key_prefix}code:not-a-record", b"\xff")  # not JSON: left alone
    assert codebook.migrate(redis_sync, k, batch=100) == 1201
    assert list(redis_sync.scan_iter(match=f"{key_prefix}code:*")) == [f"{key_prefix}code:not-a-record".encode()]
    dec = msgspec.json.Decoder(m.Voucher)
    got = [dec.decode(r) for r in codebook.read_sync(redis_sync, k, [v.code for v in old])]
    want = [m.Voucher(code="OLD-0007", campaign_id="camp_new") if v.code == "OLD-0007" else v for v in old]
    assert got == want
    assert codebook.migrate(redis_sync, k) == 0  # a second run finds nothing to move
    # and, once marked done, does not scan again: an old-layout key written later stays
    redis_sync.set(f"{key_prefix}code:LATE", msgspec.json.encode(m.Voucher(code="LATE", campaign_id="c")))
    assert codebook.migrate(redis_sync, k) == 0 and redis_sync.exists(f"{key_prefix}code:LATE")


def test_admin_moves_old_codes_when_it_starts_and_serves_them(redis_url: str, redis_sync: redis.Redis, key_prefix: str) -> None:
    _old_layout(redis_sync, key_prefix, [m.Voucher(code="LEGACY-1", campaign_id="camp_legacy")])
    with AdminServer(redis_url, key_prefix) as srv:
        srv.request("POST", "/v1/campaigns", json={"id": "camp_legacy", "name": "Legacy", "campaign_type": "DISCOUNT_COUPONS",
                                                    "voucher": {"discount": {"type": "AMOUNT", "amount_off": 100}}})  # fmt: skip
        got = srv.request("GET", "/v1/vouchers/LEGACY-1")
        assert got.status_code == 200, got.text
        assert got.json()["code"] == "LEGACY-1" and got.json()["campaign_id"] == "camp_legacy"
    assert not redis_sync.exists(f"{key_prefix}code:LEGACY-1")


def _forget(prefix: str) -> None:
    """As a process that never met the prefix's campaigns (another gateway worker)."""
    codebook._REF_OF.pop(prefix, None)
    codebook._NAME_OF.pop(prefix, None)


def test_generated_codes_name_their_campaign_by_a_ref_any_process_can_read(
    redis_url: str, redis_sync: redis.Redis, key_prefix: str
) -> None:
    from admin.codes import Generator

    k = Keys(key_prefix)
    camps = ["camp_" + "5f3a9c0e" * 3, "camp_b"]
    for camp in camps:
        Generator(redis_sync, k, camp, m.CodeConfig(length=8, prefix=camp[-1] + "-"), lambda: (set(), 0)).run(50)
    refs = [codebook.ref_sync(redis_sync, k, c) for c in camps]
    assert refs == [codebook.campaign_ref(c) for c in camps] and len(set(refs)) == 2
    codes = {c: [x.decode() for x in redis_sync.lrange(k.list_codes(c), 0, -1)] for c in camps}
    compact = {x: redis_sync.hget(k.code_buckets(x)[0], x) for c in camps for x in codes[c]}
    assert set(compact.values()) == {r.encode() for r in refs}  # the ref alone, nothing else

    _forget(key_prefix)
    dec = msgspec.json.Decoder(m.Voucher)
    for camp in camps:
        got = [dec.decode(r) for r in codebook.read_sync(redis_sync, k, codes[camp])]
        assert got == [m.Voucher(code=x, campaign_id=camp) for x in codes[camp]]

    async def read_async() -> list[bytes | None]:
        r = aredis.Redis.from_url(redis_url)
        try:
            return await codebook.read(r, k, codes[camps[1]])
        finally:
            await r.aclose()

    _forget(key_prefix)
    assert [dec.decode(r).campaign_id for r in asyncio.run(read_async())] == [camps[1]] * 50
    # a ref, once given, is the campaign's for good: asked again, by anyone, the same
    _forget(key_prefix)
    assert [codebook.ref_sync(redis_sync, k, c) for c in camps] == refs


def test_a_registry_emptied_under_a_running_process_is_filled_again_by_the_next_write(
    redis_sync: redis.Redis, key_prefix: str
) -> None:
    # Redis restarted without persistence: the registry is gone, this process still knows the
    # ref; the next code it stores registers it again, so a process that never met it reads it
    k = Keys(key_prefix)
    assert codebook.ref_sync(redis_sync, k, "camp_w") == codebook.campaign_ref("camp_w")
    redis_sync.delete(k.campaign_refs)
    pipe = redis_sync.pipeline(transaction=True)
    codebook.put(pipe, k, "W-1", m.Voucher(code="W-1", campaign_id="camp_w"))
    pipe.execute()
    assert redis_sync.hget(k.code_buckets("W-1")[0], "W-1") == codebook.campaign_ref("camp_w").encode()
    _forget(key_prefix)
    [raw] = codebook.read_sync(redis_sync, k, ["W-1"])
    assert msgspec.json.decode(raw, type=m.Voucher) == m.Voucher(code="W-1", campaign_id="camp_w")
    # a ref the registry refuses (it names another campaign) leaves that campaign's codes in JSON
    _forget(key_prefix)
    redis_sync.hset(k.campaign_refs, codebook.campaign_ref("camp_x"), "camp_other")
    assert codebook.ref_sync(redis_sync, k, "camp_x") is None
    assert codebook.pack("X-1", m.Voucher(code="X-1", campaign_id="camp_x"), k) == b'{"campaign_id":"camp_x"}'
