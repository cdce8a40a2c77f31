"""store.codebook: what a code's bucket stores, and that a record comes back exactly."""

from __future__ import annotations

import msgspec
import orjson
import pytest

from core import model as m
from store import codebook
from store.keys import BIG_BUCKETS, BUCKETS, Keys, bucket

_dec = msgspec.json.Decoder(m.Voucher)


@pytest.mark.parametrize(
    "v",
    [
        m.Voucher(code="PG-ABC123", campaign_id="camp_flash"),
        m.Voucher(code="LONE"),
        m.Voucher(code="{odd}", campaign_id="{brace_first}"),
        m.Voucher(code="GIFT-1", campaign_id="camp_g", customer_id="cus_1", gift=m.Gift(amount=5000)),
        m.Voucher(code="Ü-ünï", campaign_id="camp_ü", metadata={"note": 'a "quoted" value'}),
    ],
)
def test_a_record_comes_back_as_it_was_stored(v: m.Voucher) -> None:
    packed = codebook.pack(v.code, v)
    assert _dec.decode(codebook.unpack(v.code, packed)) == v
    # the same from the record's JSON bytes, and from it as a dict
    raw = msgspec.json.encode(v)
    assert codebook.pack(v.code, raw) == packed == codebook.pack(v.code, orjson.loads(raw))


def test_a_generated_code_stores_only_its_campaign_id() -> None:
    assert codebook.pack("PG-ABC123", m.Voucher(code="PG-ABC123", campaign_id="camp_flash")) == b"camp_flash"
    # a campaign id that would read as JSON keeps the JSON form
    assert codebook.pack("X", m.Voucher(code="X", campaign_id="{c}")) == b'{"campaign_id":"{c}"}'
    assert codebook.pack("X", m.Voucher(code="X")) == b"{}"


def test_extra_members_of_a_card_record_are_kept() -> None:
    rec = {"code": "CARD-1", "campaign_id": "camp_club", "id": "v_1", "customer_id": "cus_1",
           "created_at": 1764000000000}  # fmt: skip
    back = orjson.loads(codebook.unpack("CARD-1", codebook.pack("CARD-1", rec)))
    assert back == rec


def test_a_record_naming_another_code_is_refused() -> None:
    with pytest.raises(ValueError):
        codebook.pack("A", m.Voucher(code="B", campaign_id="c"))


def test_nothing_stored_reads_as_none() -> None:
    assert codebook.unpack("A", None) is None


def test_codes_spread_over_every_bucket_evenly() -> None:
    k = Keys("p:")
    n = 200_000
    counts: dict[int, int] = {}
    for i in range(n):
        b = bucket(f"PG-{i:08d}")
        counts[b] = counts.get(b, 0) + 1
    n = bucket("PG-00000001")
    assert k.code_buckets("PG-00000001") == (f"p:codes:{n}", f"p:codes:big:{n % BIG_BUCKETS}")
    # ~3 codes a bucket: a random spread leaves e^-3 (5 %) of them empty; codes that differ by
    # one digit must not crowd into a few buckets
    assert len(counts) > 0.9 * BUCKETS
    # no bucket near Redis' compact-encoding limit of 128 fields (mean ~3 here)
    assert max(counts.values()) < 20


def test_records_over_the_compact_limit_have_buckets_of_their_own() -> None:
    k = Keys("p:")
    compact, big = k.code_buckets("PG-ABC123")
    small = codebook.pack("PG-ABC123", m.Voucher(code="PG-ABC123", campaign_id="camp_flash"))
    assert codebook.place(k, "PG-ABC123", small) == (compact, big)
    card = codebook.pack("PG-ABC123", {"code": "PG-ABC123", "campaign_id": "camp_club", "id": "v_" + "0" * 24,
                                       "customer_id": "cust_0123456789", "created_at": 1764000000000})  # fmt: skip
    assert len(card) > codebook.COMPACT_MAX
    assert codebook.place(k, "PG-ABC123", card) == (big, compact)


def test_found_takes_whichever_bucket_holds_the_code() -> None:
    assert codebook.found(["A", "B", "C"], [b"c1", None, None, b'{"customer_id":"x"}', None, None]) == [
        b'{"code":"A","campaign_id":"c1"}', b'{"code":"B","customer_id":"x"}', None]
