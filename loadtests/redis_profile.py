"""`make profile-redis`: where a one-code redeem's Redis time goes (issue 13, target 1).

Redis has no profiler for a function's inside, so this measures by ablation, on a quiet PRIVATE
``redis-server``:

1. the real gateway app (in process, as in ``loadtests.redis_cost``) redeems the flash-sale code
   once; the exact ``FCALL`` it sends (function, keys, arguments) is captured, with the size of
   each argument (what the redemption records, the ledger entry and the idempotency answer
   carry);
2. that call is replayed ``PROFILE_CALLS`` times against variants of promogate's function
   library, each with one part of ``redeem.lua`` taken out (its Redis calls replaced by a no-op
   or its result by a constant), beside the trivial one-key function; each replay writes new
   record and idempotency keys (suffixed per call), so every call does the whole work;
3. ``usec_per_call`` of ``FCALL`` (``INFO commandstats``) per variant; variants run in
   rounds, in a new order each round (the machine is shared), the median per variant is kept; the difference
   with the full function is that part's cost.

The variants are not exactly additive (a part that is taken out may leave work to another), but
they show which parts dominate and what removing them would give. Prints a table and writes
``bench-results/redis-profile.json``. Environment: ``PROFILE_CALLS`` [3000] per variant and
round, ``PROFILE_ROUNDS`` [3].
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from pathlib import Path
from typing import Any

import redis
from litestar.testing import TestClient

from core import model as m
from gateway.app import create_app
from store import autopipe, counters
from store.defs import publish_definitions_sync, put_app_key_sync
from store.redis_server import PrivateRedis
from store.settings import Settings

from .redis_cost import APP_ID, APP_TOKEN, HEADERS, PREFIX

OUT = Path(__file__).resolve().parent.parent / "bench-results" / "redis-profile.json"

#: the part of redeem.lua each variant takes out: (name, what it removes, [(text, replacement)])
VARIANTS: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("full", "the redeem function as shipped", []),
    ("no_ledger", "the ledger entry (XADD with MAXLEN ~ trimming)", [
        ("entry = redis.call('XADD', ledger, 'MAXLEN', '~', maxlen, '*', unpack(fields))",
         "entry = '0-1'"),
        ("entry = redis.call('XADD', ledger, '*', unpack(fields))", "entry = '0-1'"),
    ]),
    ("no_ledger_json", "the ledger entry's JSON (cjson of the ids and ops)", [
        ("if #ids > 0 then fields[6] = cjson.encode(ids) end", ""),
        ("if N > 0 then fields[8] = cjson.encode(all_ops) end", ""),
    ]),
    ("no_records", "the redemption records (one HSET of 9 fields per record)", [
        ("redis.call('HSET', KEYS[4 + K + j],\n", "pg_noop(KEYS[4 + K + j],\n"),
    ]),
    ("no_record_ops_json", "each record's owned ops (cjson per record)", [
        ("if #owned > 0 then owned_json = cjson.encode(owned) end", ""),
    ]),
    ("no_idempotency", "the idempotency answer (HSET fp + response, EXPIRE)", [
        ("redis.call('HSET', idem, 'fp', fp, 'resp', response)", "pg_noop()"),
        ("if idem_ttl > 0 then redis.call('EXPIRE', idem, idem_ttl) end", ""),
    ]),
    ("no_counting", "counting (INCRBY and EXPIRE NX per op)", [
        ("redis.call('INCRBY', k, op.d)", "pg_noop(k)"),
        ("if op.ttl > 0 then redis.call('EXPIRE', k, op.ttl, 'NX') end", ""),
    ]),
    ("no_checks", "checking the limits (reads of every counter and hold)", [
        ("local failed = check_ops(ops, 3, now, session)", "local failed = nil"),
    ]),
    ("no_duplicate_check", "the EXISTS of the record keys", [
        ("if redis.call('EXISTS', unpack(rk)) > 0 then", "if false then"),
    ]),
    ("args_only", "everything after reading the arguments (the call's floor)", [
        ("local stored = idempotent_answer(idem, fp)", "do return {'ok', '0-1'} end\nlocal stored = nil"),
    ]),
]


def _library(changes: list[tuple[str, str]]) -> tuple[str, str]:
    """promogate's library with ``changes`` made to redeem.lua, named apart: (text, redeem fn)."""
    text, head = counters.function_library()
    body_at = text.index("local function body_redeem()")
    end_at = text.index("\nlocal function body_", body_at + 1)
    body = text[body_at:end_at]
    for old, new in changes:
        if old not in body:
            raise SystemExit(f"redeem.lua no longer has {old!r}: update loadtests/redis_profile.py")
        body = body.replace(old, new)
    text = text[:body_at] + body + text[end_at:]
    text = text.replace("local KEYS, ARGV\n", "local KEYS, ARGV\nlocal function pg_noop(...) end\n", 1)
    tag = str(abs(hash(tuple(changes))) % 10**8)
    lib = text.replace("#!lua name=promogate_", f"#!lua name=profile{tag}_", 1)
    lib = lib.replace(f"'{head}", f"'p{tag}{head}")
    return lib, f"p{tag}{head}redeem"


def _capture(url: str) -> tuple[list[bytes], list[bytes], int]:
    """One redeem through the real gateway app: the keys and arguments of its FCALL and its
    number of record keys."""
    seen: list[tuple[Any, ...]] = []
    real = autopipe.AutoPipeline.evalsha

    def spy(self: Any, script: Any, keys: Any = (), args: Any = ()) -> Any:
        if script.name == "redeem":
            seen.append((list(keys), list(args)))
        return real(self, script, keys, args)

    autopipe.AutoPipeline.evalsha = spy  # type: ignore[method-assign]
    try:
        app = create_app(Settings(redis_url=url, key_prefix=PREFIX))
        with TestClient(app) as c:
            body = {"customer": {"source_id": "c0"}, "order": {"amount": 5000},
                    "redeemables": [{"object": "voucher", "id": "FLASH"}]}  # fmt: skip
            resp = c.post("/v1/redemptions", json=body, headers={**HEADERS, "Idempotency-Key": "k0"})
            assert resp.status_code == 200, resp.text
    finally:
        autopipe.AutoPipeline.evalsha = real  # type: ignore[method-assign]
    (keys, args), = seen
    enc = [k.encode() if isinstance(k, str) else bytes(k) for k in keys]
    aenc = [a.encode() if isinstance(a, str) else str(a).encode() if isinstance(a, int) else bytes(a)
            for a in args]  # fmt: skip
    r_count = int(aenc[9])
    return enc, aenc, r_count


def _defs() -> m.Definitions:
    return m.load_definitions({
        "campaigns": [{"id": "camp_flash", "name": "Flash sale",
                       "voucher": {"discount": {"type": "AMOUNT", "amount_off": 100},
                                   "redemption": {"quantity": 10**9}},
                       "limits": {"discounted_amount": 10**12, "per_customer": 10**9}}],
        "vouchers": [{"code": "FLASH", "campaign_id": "camp_flash"}],
    })  # fmt: skip


def _replay(r: redis.Redis, fn: str, keys: list[bytes], args: list[bytes], n_rec: int,
            calls: int, tag: str) -> float:  # fmt: skip
    """``calls`` FCALLs of ``fn`` with the captured call, new record / idempotency keys each:
    Redis µs per call."""
    k = int(args[7])
    rec_at = 3 + k  # 0-based index of the first record key
    pipe_every = 100
    r.config_resetstat()
    batch: list[bytes] = []
    p = r.pipeline(transaction=False)
    for i in range(calls):
        ks = list(keys)
        ks[1] = keys[1] + f":{tag}{i}".encode()
        for j in range(n_rec):
            ks[rec_at + j] = keys[rec_at + j] + f":{tag}{i}".encode()
        batch += [ks[1], *ks[rec_at : rec_at + n_rec]]
        p.fcall(fn, len(ks), *ks, *args)
        if (i + 1) % pipe_every == 0 or i == calls - 1:
            for out in p.execute(raise_on_error=True):
                assert out[0] == b"ok", out
            r.delete(*batch)  # the dataset stays the same size (DEL is not counted as FCALL)
            batch = []
            p = r.pipeline(transaction=False)
    st = r.info("commandstats")
    return float(st["cmdstat_fcall"]["usec_per_call"])


def main() -> None:
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    calls = int(os.environ.get("PROFILE_CALLS", "3000"))
    rounds = int(os.environ.get("PROFILE_ROUNDS", "3"))
    with PrivateRedis() as srv:
        r = redis.Redis.from_url(srv.url)
        publish_definitions_sync(r, PREFIX, _defs())
        put_app_key_sync(r, PREFIX, APP_ID, APP_TOKEN, "application")
        keys, args, n_rec = _capture(srv.url)
        sizes = {"keys": len(keys), "args": len(args), "records": n_rec,
                 "arg_bytes": sum(len(a) for a in args), "response_bytes": len(args[5]),
                 "ledger_extra_bytes": len(args[6])}  # fmt: skip
        base = 10 + int(args[8]) * 6
        sizes["record_data_bytes"] = [len(args[base + j * 5 + 1]) for j in range(n_rec)]
        fns: dict[str, str] = {}
        for name, _what, changes in VARIANTS:
            lib, fn = _library(changes)
            r.function_load(lib, replace=True)
            fns[name] = fn
        r.function_load("#!lua name=profile_trivial\nredis.register_function('profile_trivial', "
                        "function(keys, args) return redis.call('INCRBY', keys[1], 1) end)", replace=True)  # fmt: skip
        got: dict[str, list[float]] = {name: [] for name, _w, _c in VARIANTS}
        got["trivial"] = []
        for rnd in range(rounds):
            r.config_resetstat()
            for _ in range(calls):
                r.fcall("profile_trivial", 1, PREFIX + "trivial")
            got["trivial"].append(float(r.info("commandstats")["cmdstat_fcall"]["usec_per_call"]))
            order = [v[0] for v in VARIANTS]
            random.Random(rnd).shuffle(order)  # no variant always runs first or last
            for name in order:
                got[name].append(_replay(r, fns[name], keys, args, n_rec, calls, f"{name}{rnd}"))
        r.close()
    med = {k: statistics.median(v) for k, v in got.items()}
    full = med["full"]
    rows = [{"variant": "trivial", "what": "one INCRBY (the floor)", "usec": round(med["trivial"], 2),
             "saves_usec": None}]  # fmt: skip
    for name, what, _c in VARIANTS:
        rows.append({"variant": name, "what": what, "usec": round(med[name], 2),
                     "saves_usec": None if name == "full" else round(full - med[name], 2)})  # fmt: skip
    report = {"at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "calls": calls,
              "rounds": rounds, "call": sizes, "runs": got, "rows": rows}  # fmt: skip
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2))
    print(f"one redeem's FCALL: {sizes}")
    for row in rows:
        saves = "" if row["saves_usec"] is None else f"  saves {row['saves_usec']:6.2f}"
        print(f"{row['variant']:20} {row['usec']:8.2f} us{saves}  {row['what']}")


if __name__ == "__main__":
    main()
