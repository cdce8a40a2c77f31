"""store.codebook: what a code's bucket stores, and that a record comes back exactly."""

from __future__ import annotations

import msgspec
import orjson
import pytest

from core import model as m
from store import codebook
from store.keys import BIG_BUCKETS, BUCKETS, Keys, bucket

_dec = msgspec.json.Decoder(m.Voucher)
K = Keys("unit:")
REF = codebook.campaign_ref("camp_flash")
codebook._learn(K, "camp_flash", REF)  # as store.codebook.ref_sync teaches a process (no Redis here)


@pytest.mark.parametrize(
    "v",
    [
        m.Voucher(code="PG-ABC123", campaign_id="camp_flash"),
        m.Voucher(code="PG-ABC124", campaign_id="camp_unknown_here"),
        m.Voucher(code="LONE"),
        m.Voucher(code="{odd}", campaign_id="{brace_first}"),
        m.Voucher(code="GIFT-1", campaign_id="camp_g", customer_id="cus_1", gift=m.Gift(amount=5000)),
        m.Voucher(code="Ü-ünï", campaign_id="camp_ü", metadata={"note": 'a "quoted" value'}),
    ],
)
def test_a_record_comes_back_as_it_was_stored(v: m.Voucher) -> None:
    packed = codebook.pack(v.code, v, K)
    assert _dec.decode(codebook.unpack(K, v.code, packed)) == v
    # the same from the record's JSON bytes, and from it as a dict
    raw = msgspec.json.encode(v)
    assert codebook.pack(v.code, raw, K) == packed == codebook.pack(v.code, orjson.loads(raw), K)


def test_a_generated_code_stores_only_its_campaign_ref_when_the_process_knows_it() -> None:
    v = m.Voucher(code="PG-ABC123", campaign_id="camp_flash")
    assert codebook.pack(v.code, v, K) == REF.encode() and len(REF) == 8
    assert codebook.pack(v.code, v) == b'{"campaign_id":"camp_flash"}'  # no keys: no ref
    # a campaign this process has no ref for: the JSON form, as correct, only larger
    assert codebook.pack("X", m.Voucher(code="X", campaign_id="camp_other"), K) == b'{"campaign_id":"camp_other"}'
    assert codebook.pack("X", m.Voucher(code="X"), K) == b"{}"
    assert codebook.only_campaign(v) == "camp_flash"
    assert codebook.only_campaign(m.Voucher(code="X", campaign_id="c", active=False)) is None


def test_a_ref_nobody_can_name_reads_as_no_campaign_at_all() -> None:
    # the registry lost it: never another campaign's code, never a code without campaign
    assert orjson.loads(codebook.unpack(K, "PG-1", b"AAAAAAAA")) == {"code": "PG-1", "campaign_id": "?AAAAAAAA"}


def test_a_ref_is_a_function_of_the_campaign_id_alone() -> None:
    # what a process learnt of a ref stays true whatever happens to Redis
    assert codebook.campaign_ref("camp_flash") == REF
    assert codebook.campaign_ref("camp_flash2") != REF
    assert all(ch.isalnum() or ch in "-_" for ch in REF)  # never '{': never read as JSON


def test_extra_members_of_a_card_record_are_kept() -> None:
    rec = {"code": "CARD-1", "campaign_id": "camp_club", "id": "v_1", "customer_id": "cus_1",
           "created_at": 1764000000000}  # fmt: skip
    back = orjson.loads(codebook.unpack(K, "CARD-1", codebook.pack("CARD-1", rec, K)))
    assert back == rec


def test_a_record_naming_another_code_is_refused() -> None:
    with pytest.raises(ValueError):
        codebook.pack("A", m.Voucher(code="B", campaign_id="c"))


def test_nothing_stored_reads_as_none() -> None:
    assert codebook.unpack(K, "A", None) is None


def test_codes_spread_over_every_bucket_evenly() -> None:
    k = Keys("p:")
    n = 200_000
    counts: dict[int, int] = {}
    for i in range(n):
        b = bucket(f"PG-{i:08d}")
        counts[b] = counts.get(b, 0) + 1
    n1 = bucket("PG-00000001")
    assert k.code_buckets("PG-00000001") == (f"p:codes:{n1}", f"p:codes:big:{n1 % BIG_BUCKETS}")
    # ~3 codes a bucket: a random spread leaves e^-3 (5 %) of them empty; codes that differ by
    # one digit must not crowd into a few buckets
    assert len(counts) > 0.9 * BUCKETS
    # no bucket near Redis' compact-encoding limit of 512 fields (mean ~3 here)
    assert max(counts.values()) < 20


def test_records_over_the_compact_limit_have_buckets_of_their_own() -> None:
    compact, big = K.code_buckets("PG-ABC123")
    small = codebook.pack("PG-ABC123", m.Voucher(code="PG-ABC123", campaign_id="camp_flash"), K)
    assert codebook.place(K, "PG-ABC123", small) == (compact, big)
    card = codebook.pack("PG-ABC123", {"code": "PG-ABC123", "campaign_id": "camp_club", "id": "v_" + "0" * 24,
                                       "customer_id": "cust_0123456789", "created_at": 1764000000000})  # fmt: skip
    assert len(card) > codebook.COMPACT_MAX
    assert codebook.place(K, "PG-ABC123", card) == (big, compact)
