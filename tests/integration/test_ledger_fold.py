"""Admin's ledger views (store/ledger_fold.py) against a full recount of the ledger stream:
after redeems and rollbacks made while two folders run at once, after folds interrupted or
overtaken by another folder, after trimming; and the indexed ledger listings against the plain
stream walk (the same rows, in the same order, page by page)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter, defaultdict
from typing import Any

import pytest
import redis
import redis.asyncio as aredis
from gateway_fixtures import InProcess, body, definitions, voucher

from admin import reports
from store import ledger_fold as lf
from store.keys import Keys

CAMPAIGN_FIELDS = {":uses": "u", ":disc": "d"}


def _counter_of(prefix: str, key: str) -> tuple[str, str] | None:
    head = prefix + "{c:"
    for suffix, field in CAMPAIGN_FIELDS.items():
        if key.startswith(head) and key.endswith("}" + suffix) and "}" not in key[len(head) : -len(suffix) - 1]:
            return key[len(head) : -len(suffix) - 1], field
    return None


def recount(r: redis.Redis, prefix: str) -> dict[str, Any]:
    """Every view, recomputed from the whole stream."""
    mins: dict[int, Counter[str]] = defaultdict(Counter)
    hours: dict[tuple[int, str], Counter[str]] = defaultdict(Counter)
    per_hour: dict[int, Counter[str]] = defaultdict(Counter)
    idx: dict[str, set[str]] = defaultdict(set)
    for raw_id, f in r.xrange(prefix + "ledger"):
        eid, kind, at = raw_id.decode(), f[b"type"].decode(), int(f[b"at"])
        data = json.loads(f.get(b"data") or b"{}")
        items = data.get("items") or []
        m, h = at // 60_000, at // 3_600_000
        camps = {it["campaign"] for it in items if it.get("campaign")}
        if kind in ("redeem", "failure"):
            if data.get("customer"):
                idx["cust:" + data["customer"]].add(eid)
            for c in camps:
                idx["camp:" + c].add(eid)
        if kind == "redeem":
            mins[m]["s"] += len(items)
            for it in items:
                hours[(h, it["campaign"])]["s"] += 1
            for key, d in json.loads(f[b"ops"]):
                hit = _counter_of(prefix, key)
                if hit:
                    hours[(h, hit[0])][hit[1]] += int(d)
                    per_hour[h][f"{hit[1]}:{hit[0]}"] += int(d)
        elif kind == "rollback":
            mins[m]["r"] += len(json.loads(f[b"redemptions"]))
            for key, d in json.loads(f[b"ops"]):
                hit = _counter_of(prefix, key)
                if hit:
                    hours[(h, hit[0])][hit[1]] -= int(d)
                    per_hour[h][f"{hit[1]}:{hit[0]}"] -= int(d)
                    if hit[1] == "u":
                        hours[(h, hit[0])]["r"] += int(d)
        elif kind == "failure":
            key = data.get("key") or "unknown"
            mins[m]["f"] += 1
            mins[m]["k:" + key] += 1
            idx["failed"].add(eid)
            idx["key:" + key].add(eid)
            for c in camps:
                hours[(h, c)]["f"] += 1
                hours[(h, c)]["k:" + key] += 1
    return {
        "m": {f"m:{m}": {k: v for k, v in c.items() if v} for m, c in mins.items()},
        "h": {f"h:{h}:{c}": {k: v for k, v in n.items() if v} for (h, c), n in hours.items()},
        "hc": {f"hc:{h}": {k: v for k, v in c.items() if v} for h, c in per_hour.items()},
        "i": dict(idx),
    }


def stored(r: redis.Redis, prefix: str) -> dict[str, Any]:
    base = prefix + "lview:"
    out: dict[str, Any] = {"m": {}, "h": {}, "hc": {}, "i": {}}
    for raw in r.scan_iter(match=base + "*", count=1000):
        name = raw.decode()[len(base) :]
        kind = name.split(":", 1)[0]
        if kind in ("m", "h", "hc"):
            figs = {f.decode(): int(v) for f, v in r.hgetall(raw).items()}
            if any(figs.values()):
                out[kind][name] = {f: v for f, v in figs.items() if v}
        elif kind == "i":
            members = {lf._entry(mb) for mb in r.zrange(raw, 0, -1)}
            out["i"][name[2:]] = members
    return out


def assert_views_equal_recount(r: redis.Redis, prefix: str) -> None:
    want, got = recount(r, prefix), stored(r, prefix)
    assert got["m"] == want["m"]
    assert got["h"] == want["h"]
    assert got["hc"] == want["hc"]
    assert got["i"] == want["i"]
    newest = r.xrevrange(prefix + "ledger", count=1)[0][0]
    assert r.get(prefix + "lview:pos") == newest


def _traffic(g: InProcess, rounds: int, errors: list[BaseException]) -> None:
    """Redeems (single and stacked), refusals and rollbacks, spread over hours."""
    try:
        ids: list[tuple[str, bool]] = []
        for i in range(rounds):
            who = f"c{i % 7}"
            for red in (body(voucher("GEN5"), customer=who),
                        body(voucher("GEN5B"), voucher("LIMITED100"), customer=who),
                        body(voucher("BUDGET10"), customer=who, amount=30000),
                        body(voucher("LOCK1"), customer=who),
                        body(voucher("NOPE-CODE"), customer=who)):  # fmt: skip
                r = g.redeem(red)
                if r.status_code == 200:
                    parent = r.json().get("parent_redemption")
                    ids.append(((parent or r.json()["redemptions"][0])["id"], bool(parent)))
            if i % 3 == 2 and ids:
                rid, stacked = ids.pop(0)
                done = g.rollbacks(rid) if stacked else g.rollback(rid)
                assert done.status_code == 200, done.text
            if i % 10 == 9:
                g.clock.advance(1500)  # 25 minutes: minutes and hours change
    except BaseException as exc:  # reported by the test
        errors.append(exc)


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _client(redis_url: str) -> aredis.Redis:
    return aredis.Redis.from_url(redis_url)


def test_views_equal_a_full_recount_after_concurrent_traffic_and_folders(
    gw: InProcess, redis_url: str
) -> None:
    errors: list[BaseException] = []
    t = threading.Thread(target=_traffic, args=(gw, 40, errors))
    k = Keys(gw.prefix)

    async def folders() -> None:
        a, b = await _client(redis_url), await _client(redis_url)
        try:
            while t.is_alive():  # two admin processes folding while the gateway writes
                await asyncio.gather(lf.fold(a, k, batch=7), lf.fold(b, k, batch=5))
                await asyncio.sleep(0.01)
            await asyncio.gather(lf.fold(a, k, batch=3), lf.fold(b, k, batch=4))
        finally:
            await a.aclose()
            await b.aclose()

    t.start()
    _run(folders())
    t.join()
    assert not errors, errors
    n = gw.redis.xlen(gw.prefix + "ledger")
    assert n > 150
    assert_views_equal_recount(gw.redis, gw.prefix)
    # the figures the pages read: the series equal the counters and the recount
    want = recount(gw.redis, gw.prefix)

    async def series() -> dict[str, Any]:
        r = await _client(redis_url)
        try:
            camp = next(c for c in definitions().campaigns if c.id == "camp_gen")
            return await reports.campaign_series(r, k, camp, gw.clock.now, 48)
        finally:
            await r.aclose()

    s = _run(series())
    assert s["redemptions_used"][-1] == gw.counter("{c:camp_gen}:uses")
    assert sum(s["succeeded"]) == sum(v.get("s", 0) for name, v in want["h"].items()
                                      if name.endswith(":camp_gen"))  # fmt: skip
    assert sum(s["rolled_back"]) > 0


def test_an_interrupted_or_overtaken_fold_counts_every_entry_once(
    gw: InProcess, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    errors: list[BaseException] = []
    _traffic(gw, 12, errors)
    assert not errors
    k = Keys(gw.prefix)
    calls = {"n": 0}
    real_args = lf._Plan.script_args

    def failing(self: Any, pos: str, new_pos: str) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise ConnectionError("killed mid-fold")
        return real_args(self, pos, new_pos)

    async def interrupted() -> None:
        r = await _client(redis_url)
        try:
            with monkeypatch.context() as mp:
                mp.setattr(lf._Plan, "script_args", failing)
                with pytest.raises(ConnectionError):
                    await lf.fold(r, k, batch=4)
            assert (await r.get(k.ledger_view("pos"))) is not None  # two batches applied
            # another folder overtakes this one between its read and its write
            other = await _client(redis_url)
            real_register = r.register_script

            def racing(src: str) -> Any:
                script = real_register(src)
                state = {"raced": False}

                async def call(keys: list[str], args: list[Any]) -> Any:
                    if not state["raced"]:
                        state["raced"] = True
                        await lf.fold(other, k, batch=6)
                    return await script(keys=keys, args=args)

                return call

            mp_r = pytest.MonkeyPatch()
            mp_r.setattr(r, "register_script", racing)
            try:
                await lf.fold(r, k, batch=4)
            finally:
                mp_r.undo()
                await other.aclose()
        finally:
            await r.aclose()

    _run(interrupted())
    assert_views_equal_recount(gw.redis, gw.prefix)


async def _pages(r: aredis.Redis, k: Keys, flt: reports.Filters, limit: int) -> list[Any]:
    rows, after = [], None
    while True:
        page = await reports.list_redemptions(r, k, flt, limit, after)
        rows.extend(page["redemptions"])
        after = page["more_starting_after"]
        if not after:
            return rows


FILTERS = [
    {"customer": "c3"},
    {"campaign_id": "camp_lim"},
    {"status": "FAILED"},
    {"failure_code": "quantity_exceeded"},
    {"campaign_id": "camp_gen", "customer": "c1"},
    {"result": "FAILURE", "campaign_id": "camp_lock"},
]


def test_indexed_listings_equal_the_stream_walk_with_a_tail_and_after_trimming(
    gw: InProcess, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    errors: list[BaseException] = []
    _traffic(gw, 15, errors)
    assert not errors
    k = Keys(gw.prefix)

    async def listings(indexed: bool) -> list[Any]:
        r = await _client(redis_url)
        try:
            with monkeypatch.context() as mp:
                if not indexed:
                    mp.setattr(reports, "_index_candidates", lambda flt: [])
                out = []
                for f in FILTERS:
                    flt = reports.Filters(**f)
                    out.append(await _pages(r, k, flt, 3))
                    out.append([x async for x in reports.iter_rows(r, k, flt, newest_first=False)])
                return out
        finally:
            await r.aclose()

    walked = _run(listings(False))
    assert all(walked[:4]) and sorted(x["id"] for x in walked[0]) == sorted(
        x["id"] for x in walked[1])  # fmt: skip
    assert _run(listings(True)) == walked
    # entries written after the last fold (the tail) are listed from the stream
    _traffic(gw, 4, errors)
    walked = _run(listings(False))

    async def no_fold(redis: Any, keys: Keys, batch: int = 0) -> str:
        return (await redis.get(keys.ledger_view("pos"))).decode()

    with monkeypatch.context() as mp:
        mp.setattr(lf, "fold", no_fold)
        assert _run(listings(True)) == walked
    assert _run(listings(True)) == walked
    # trimming the stream: the indexes skip (and drop) the entries gone
    assert gw.redis.xlen(gw.prefix + "ledger") > 80
    gw.redis.xtrim(gw.prefix + "ledger", maxlen=40, approximate=False)
    assert _run(listings(True)) == _run(listings(False))
    left = {e.decode() for e, _ in gw.redis.xrange(gw.prefix + "ledger")}
    assert stored(gw.redis, gw.prefix)["i"]["cust:c3"] <= left
