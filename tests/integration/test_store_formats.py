"""What redeem.lua stores and rollback.lua answers, across versions (issue 13, target 1).

Since 2026-12-04 Python encodes what a redemption record and its ledger entry keep (each
record's ``ops``, the entry's ``ops`` and ``redemptions``) and redeem.lua writes it as sent, and
rollback.lua answers with a JSON head followed by each redemption's data as stored (not escaped
into the JSON). What is stored did not change: records written by the previous version (its Lua
encoded them with cjson) must still roll back and read, and a rollback answer it stored under an
idempotency key must still replay. Both are written here byte for byte as that version wrote
them.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import redis

from store.counters import CounterOp, RecordSpec, Store, redeem_plan

pytestmark = pytest.mark.asyncio

NOW = 1_800_000_000_000
CAMP = "{c:camp_1}"
USES = f"{CAMP}:v:SUMMER10:uses"
DISC = f"{CAMP}:disc"
CUST = f"{CAMP}:cust:cus_9"


def _old_record(rid: str, data: bytes, ops: list[tuple[str, int]], parent: str = "",
                children: list[str] | None = None) -> dict[str, bytes]:  # fmt: skip
    """A record as the previous redeem.lua wrote it (cjson: keys' '/' escaped, deltas as text,
    '[]' for no op)."""
    ops_json = "[" + ",".join(f'["{k.replace("/", chr(92) + "/")}","{d}"]' for k, d in ops) + "]"
    return {b"id": rid.encode(), b"status": b"SUCCEEDED", b"data": data, b"parent": parent.encode(),
            b"children": orjson.dumps(children or []), b"ops": ops_json.encode(), b"session": b"",
            b"created_at": str(NOW).encode()}  # fmt: skip


async def test_a_record_written_by_the_previous_version_rolls_back(
    store: Store, redis_sync: redis.Redis, key_prefix: str
) -> None:
    p = key_prefix
    code = f"{CAMP}:v:A/B:uses"  # a code with a '/', which cjson wrote escaped
    redis_sync.set(p + code, 3)
    redis_sync.set(p + DISC, 1_000)
    data_p = orjson.dumps({"id": "r_p", "object": "redemption"})
    data_c = orjson.dumps({"id": "r_c", "object": "redemption", "name": "caf\u00e9"})
    redis_sync.hset(p + "rd:r_p", mapping=_old_record("r_p", data_p, [], children=["r_c"]))
    redis_sync.hset(p + "rd:r_c", mapping=_old_record("r_c", data_c, [(p + code, 1), (p + DISC, 700)], "r_p"))

    got = await store.get_redemption("r_c")
    assert got is not None and got.ops == [(p + code, 1), (p + DISC, 700)] and got.parent == "r_p"
    assert (await store.get_redemption("r_p")).children == ["r_c"]  # type: ignore[union-attr]

    res = await store.rollback("r_p", "rr_1", NOW + 1, reason="refund", stacked=True)
    assert res.status == "ok" and [r.id for r in res.redemptions] == ["r_p", "r_c"]
    assert [r.data for r in res.redemptions] == [data_p, data_c]
    assert [(o.key, o.delta, o.applied) for o in res.redemptions[1].ops] == [(p + code, 1, 1), (p + DISC, 700, 700)]
    assert int(redis_sync.get(p + code)) == 2 and int(redis_sync.get(p + DISC)) == 300
    (entry,) = [f for _, f in redis_sync.xrange(p + "ledger")]
    assert orjson.loads(entry[b"ops"]) == [[p + code, "1"], [p + DISC, "700"]]
    assert orjson.loads(entry[b"redemptions"]) == ["r_p", "r_c"]
    assert (await store.rollback("r_c", "rr_2", NOW)).status == "already_rolled_back"


async def test_a_rollback_answer_stored_by_the_previous_version_replays(
    store: Store, redis_sync: redis.Redis, key_prefix: str
) -> None:
    data = orjson.dumps({"id": "r_1", "object": "redemption", "note": 'a "quoted"\nline'})
    payload = orjson.dumps({"rollback_id": "rr_1", "at": str(NOW), "reason": "why",
                            "redemptions": [{"id": "r_1", "data": data.decode(),
                                             "ops": [[key_prefix + USES, "1", "1"]], "wallet": {}}]})  # fmt: skip
    redis_sync.hset(key_prefix + "idem:rollback:k1", mapping={"fp": "f", "resp": payload})
    again = await store.rollback("r_1", "rr_2", NOW + 9, idempotency_key="k1", fingerprint="f")
    assert again.status == "replay" and (again.rollback_id, again.at_ms, again.reason) == ("rr_1", NOW, "why")
    (rb,) = again.redemptions
    assert rb.id == "r_1" and rb.data == data and rb.refunds == []
    assert [(o.key, o.delta, o.applied) for o in rb.ops] == [(key_prefix + USES, 1, 1)]


async def test_rollback_passes_each_data_through_as_stored(
    store: Store, redis_sync: redis.Redis, key_prefix: str
) -> None:
    """Data of several lengths, with multi-byte text and even a raw newline, come back byte for
    byte, in a first answer and in its replay."""
    datas = [b'{"id":"r_p"}', b'{"id":"r_1","x":"\xc3\xa9\xe2\x82\xac"}', b'{"id":"r_2",\n"y":"\\n"}', b"{}"]
    ops = [CounterOp(USES, 1, 10, "quantity_exceeded", 0, 1), CounterOp(DISC, 500, -1, "", 0, 0)]
    records = [RecordSpec("r_p", datas[0], (), "", ("r_1", "r_2", "r_3")), RecordSpec("r_1", datas[1], (0,), "r_p"),
               RecordSpec("r_2", datas[2], (1,), "r_p"), RecordSpec("r_3", datas[3], (), "r_p")]  # fmt: skip
    assert (await store.redeem(ops, records, NOW)).ok
    first = await store.rollback("r_p", "rr_1", NOW, stacked=True, idempotency_key="k", fingerprint="f")
    assert first.status == "ok" and [r.data for r in first.redemptions] == datas
    assert [[(o.key, o.delta, o.applied) for o in r.ops] for r in first.redemptions] == [
        [], [(key_prefix + USES, 1, 1)], [(key_prefix + DISC, 500, 500)], []]  # fmt: skip
    again = await store.rollback("r_p", "rr_2", NOW, stacked=True, idempotency_key="k", fingerprint="f")
    assert again.status == "replay" and again.redemptions == first.redemptions


async def test_records_and_ledger_keep_the_previous_shape(
    store: Store, redis_sync: redis.Redis, key_prefix: str
) -> None:
    """What the previous redeem.lua wrote (field for field; JSON equal) is what is written now."""
    p = key_prefix
    ops = [CounterOp(DISC, 300, 10_000, "e1", 0, 0), CounterOp(USES, 1, 10, "e2", 0, 1),
           CounterOp(DISC, 200, 10_000, "e1", 0, 0), CounterOp(CUST, 1, 5, "e3", 3_600, 0)]  # fmt: skip
    data = [orjson.dumps({"id": i}) for i in ("r_p", "r_1", "r_2")]
    records = [RecordSpec("r_p", data[0], (), "", ("r_1", "r_2")), RecordSpec("r_1", data[1], (1, 3), "r_p"),
               RecordSpec("r_2", data[2], (0, 2), "r_p")]  # fmt: skip
    assert (await store.redeem(ops, records, NOW, session_key="s1", ledger=b'{"k":1}')).ok
    want = {
        "r_p": _old_record("r_p", data[0], [], children=["r_1", "r_2"]),
        "r_1": _old_record("r_1", data[1], [(p + USES, 1), (p + CUST, 1)], "r_p"),
        "r_2": _old_record("r_2", data[2], [(p + DISC, 300), (p + DISC, 200)], "r_p"),
    }
    for rid, fields in want.items():
        got = redis_sync.hgetall(p + "rd:" + rid)
        fields[b"session"] = b"s1"
        assert set(got) == set(fields), rid
        for f, v in fields.items():
            if f in (b"ops", b"children"):
                assert orjson.loads(got[f]) == orjson.loads(v), (rid, f)
            else:
                assert got[f] == v, (rid, f)
    (entry,) = [f for _, f in redis_sync.xrange(p + "ledger")]
    assert entry[b"type"] == b"redeem" and entry[b"at"] == str(NOW).encode() and entry[b"session"] == b"s1"
    assert list(entry) == [b"type", b"at", b"redemptions", b"ops", b"session", b"data"]
    assert orjson.loads(entry[b"redemptions"]) == ["r_p", "r_1", "r_2"]
    assert orjson.loads(entry[b"ops"]) == [[p + DISC, "300"], [p + USES, "1"], [p + DISC, "200"], [p + CUST, "1"]]
    assert entry[b"data"] == b'{"k":1}'
    assert 0 < redis_sync.ttl(p + CUST) <= 3_600


async def test_hold_keys_first_keeps_the_order_of_checks(
    store: Store, redis_sync: redis.Redis, key_prefix: str
) -> None:
    """redeem.lua gets the keys some hold op counts first; the failing op reported is still the
    first in the plan's order, with its own error, current value and holds."""
    ops: list[Any] = [CounterOp(DISC, 300, 10_000, "e_disc", 0, 0), CounterOp(USES, 1, 2, "e_uses", 0, 1),
                      CounterOp(DISC, 201, 10_000, "e_disc2", 0, 0)]  # fmt: skip
    keys, n_hold, args, pairs = redeem_plan(key_prefix, ops)
    assert keys == [key_prefix + USES, key_prefix + DISC] and n_hold == 1
    assert [args[j] for j in range(0, len(args), 6)] == [2, 1, 2]
    assert pairs == [(key_prefix + DISC, "300"), (key_prefix + USES, "1"), (key_prefix + DISC, "201")]
    redis_sync.set(key_prefix + DISC, 9_500)
    assert (await store.lock("other", [ops[1]], 60_000, NOW)).ok
    res = await store.redeem(ops, [RecordSpec("r_x", b"{}")], NOW)
    assert res.failure is not None
    assert (res.failure.index, res.failure.current, res.failure.held, res.failure.error) == (2, 9_500, 0, "e_disc2")
    assert (await store.lock("third", [ops[1]], 60_000, NOW)).ok
    res = await store.redeem(ops[:2], [RecordSpec("r_x", b"{}")], NOW)
    assert res.failure is not None
    assert (res.failure.index, res.failure.current, res.failure.held, res.failure.error) == (1, 0, 2, "e_uses")
    assert await store.get_redemption("r_x") is None


async def test_one_exists_for_records_and_holds_tells_them_apart(
    store: Store, redis_sync: redis.Redis, key_prefix: str
) -> None:
    """redeem.lua asks one EXISTS for the record keys and the hold sets together, and a second
    one only when that finds something: a duplicate record is refused with or without holds,
    and holds are counted with or without a duplicate elsewhere."""
    uses = CounterOp(USES, 1, 2, "e_uses", 0, 1)
    assert (await store.redeem([uses], [RecordSpec("r_1", b"{}")], NOW)).ok
    before = redis_sync.get(key_prefix + USES)
    with pytest.raises(ValueError, match="r_1"):  # no hold anywhere: a duplicate
        await store.redeem([uses], [RecordSpec("r_new", b"{}"), RecordSpec("r_1", b"{}")], NOW)
    assert (await store.lock("other", [uses], 60_000, NOW)).ok
    with pytest.raises(ValueError, match="r_1"):  # holds too: still the duplicate
        await store.redeem([uses], [RecordSpec("r_1", b"{}")], NOW)
    assert redis_sync.get(key_prefix + USES) == before and not redis_sync.exists(key_prefix + "rd:r_new")
    res = await store.redeem([uses], [RecordSpec("r_2", b"{}")], NOW)  # 1 used + 1 held = the limit
    assert res.failure is not None and (res.failure.index, res.failure.current, res.failure.held) == (0, 1, 1)
    assert (await store.redeem([uses], [RecordSpec("r_2", b"{}")], NOW + 60_000)).ok  # the hold expired
