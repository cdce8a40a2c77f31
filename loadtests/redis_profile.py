"""`make profile-redis`: where a one-code redeem's and its rollback's Redis time goes (issue 13,
target 1), and the shipped functions against those of a git revision, in the same run.

Redis has no profiler for a function's inside, so this measures by replay and ablation, on a
quiet PRIVATE ``redis-server``:

1. the real gateway app (in process, as in ``loadtests.redis_cost``) redeems the flash-sale code
   once (with an ``Idempotency-Key``) and rolls its redemption back (``POST
   /v1/redemptions/{id}/rollback``, no key, as ``make bench-redis`` does); what the app asked
   of the store (``Store.redeem`` / ``Store.rollback`` and their arguments) is captured, and
   turned into the exact ``FCALL`` (keys, arguments) of this tree's ``store/counters.py`` AND
   of the revision ``PROFILE_BASE`` [HEAD] (its ``store/counters.py`` and ``store/lua/``, read
   with ``git show``, nothing written to the repository); both function libraries are loaded;
2. each call is replayed ``PROFILE_CALLS`` times per version: a redeem writes new record and
   idempotency keys each call (suffixed), so every call does the whole work; a rollback gets a
   fresh copy of the record that version's redeem wrote (a plain ``HSET``, not counted) before
   each call, and counters high enough that every op is reversed;
3. ``VARIANTS``: the redeem of this tree replayed against variants of its function library with
   one part of ``redeem.lua`` (or ``rollback.lua``) taken out (its Redis calls replaced by a
   no-op or its result by a constant): the difference with the full function is that part's
   cost (not exactly additive: a part taken out may leave work to another);
4. ``usec_per_call`` of ``FCALL`` (``INFO commandstats``) per version and variant, beside the
   trivial one-key function; everything runs in rounds, in a new order each round (the machine
   is shared), the median per row is kept, and each round's ratio this tree / base.

Prints a table and writes ``bench-results/redis-profile.json``. Environment: ``PROFILE_CALLS``
[3000] per row and round, ``PROFILE_ROUNDS`` [3], ``PROFILE_BASE`` [HEAD] (git revisions or ``dir:<path>``
snapshots, comma-separated; '' to skip the comparison), ``PROFILE_VARIANTS`` [1] (0: only the versions and the trivial function), ``PROFILE_CONFIG``
[''] (``name value ...``: server settings to apply first, e.g. ``hash-max-listpack-value 4096``).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

import redis
from litestar.testing import TestClient

from core import model as m
from gateway.app import create_app
from store import counters
from store.defs import publish_definitions_sync, put_app_key_sync
from store.redis_server import PrivateRedis
from store.settings import Settings

from .redis_cost import APP_ID, APP_TOKEN, HEADERS, PREFIX

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench-results" / "redis-profile.json"

#: (name, script, what it takes out, [(text, replacement)]) against this tree's Lua
VARIANTS: list[tuple[str, str, str, list[tuple[str, str]]]] = [
    ("no_ledger", "redeem", "the ledger entry (XADD with MAXLEN ~ trimming)", [
        ("entry = redis.call('XADD', ledger, 'MAXLEN', '~', ARGV[5], '*', unpack(fields))",
         "entry = '0-1'"),
        ("entry = redis.call('XADD', ledger, '*', unpack(fields))", "entry = '0-1'"),
    ]),
    ("no_records", "redeem", "the redemption records (one HSET of 8 fields per record)", [
        ("    redis.call('HSET', KEYS[4 + K + (b - rbase) / 5],\n",
         "    pg_noop(KEYS[4 + K + (b - rbase) / 5],\n"),
    ]),
    ("no_idempotency", "redeem", "the idempotency answer (HSET fp + response, EXPIRE)", [
        ("redis.call('HSET', idem, 'fp', fp, 'resp', response)", "pg_noop()"),
        ("if ARGV[4] ~= '0' then redis.call('EXPIRE', idem, ARGV[4]) end", ""),
    ]),
    ("no_counting", "redeem", "counting (INCRBY and EXPIRE NX per op)", [
        ("redis.call('INCRBY', k, ARGV[j + 1])", "pg_noop(k)"),
        ("if ARGV[j + 4] ~= '0' then redis.call('EXPIRE', k, ARGV[j + 4], 'NX') end", ""),
    ]),
    ("no_checks", "redeem", "checking the limits (the counters' MGET, the loop)", [
        ("local failed = check_args(obase, N, 3, K, holds, now, session)", "local failed = nil"),
    ]),
    ("no_exists", "redeem", "the EXISTS of the record keys and the hold sets", [
        ("  local found = redis.call('EXISTS', unpack(probe))", "  local found = 0"),
    ]),
    ("args_only", "redeem", "everything after reading the arguments (the call's floor)", [
        ("local stored = idempotent_answer(idem, fp)", "do return {'ok', '0-1'} end\nlocal stored = nil"),
    ]),
    ("rb_args_only", "rollback", "a rollback: everything after reading the arguments", [
        ("local stored = idempotent_answer(idem, fp)", "do return {'ok', '{}'} end\nlocal stored = nil"),
    ]),
    ("rb_no_ledger", "rollback", "a rollback: the ledger entry (XADD)", [
        ("  redis.call('XADD', ledger, 'MAXLEN', '~', maxlen, '*', unpack(fields))", "  pg_noop()"),
        ("  redis.call('XADD', ledger, '*', unpack(fields))", "  pg_noop()"),
    ]),
    ("rb_no_counting", "rollback", "a rollback: reversing the counters (DECRBY per op)", [
        ("        redis.call('DECRBY', k, a)", "        pg_noop(k, a)"),
    ]),
    ("rb_no_status", "rollback", "a rollback: marking the record rolled back (one HSET of 4 fields)", [
        ("  redis.call('HSET', targets[t], 'status', 'ROLLED_BACK'", "  pg_noop(targets[t], 'status', 'ROLLED_BACK'"),
    ]),
    ("rb_no_payload", "rollback", "a rollback: its answer's JSON head (cjson)", [
        ("local head = cjson.encode({rollback_id = rid, at = istr(now), reason = reason, redemptions = out})",
         "local head = '{}'"),
    ]),
]


def _library(changes: list[tuple[str, str]], script: str = "redeem") -> tuple[str, str]:
    """promogate's library with ``changes`` made to ``script``.lua, named apart: (text, that
    script's function)."""
    text, head = counters.function_library()
    body_at = text.index(f"local function body_{script}()")
    end_at = text.index("\nlocal function body_", body_at + 1)
    body = text[body_at:end_at]
    for old, new in changes:
        if old not in body:
            raise SystemExit(f"{script}.lua no longer has {old!r}: update loadtests/redis_profile.py")
        body = body.replace(old, new)
    text = text[:body_at] + body + text[end_at:]
    text = text.replace("local KEYS, ARGV\n", "local KEYS, ARGV\nlocal function pg_noop(...) end\n", 1)
    tag = str(abs(hash((script, tuple(changes)))) % 10**8)
    lib = text.replace("#!lua name=promogate_", f"#!lua name=profile{tag}_", 1)
    lib = lib.replace(f"'{head}", f"'p{tag}{head}")
    return lib, f"p{tag}{head}{script}"


def _git(*args: str) -> bytes:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True).stdout


def _base(rev: str, tmp: Path) -> tuple[Any, str, str]:
    """Revision ``rev``'s store/counters.py as a module (its imports from this tree's
    ``store``) and its function library (its ``store/lua/`` copied into ``tmp``, outside the
    repository): (module, library text, function name prefix). ``rev`` is a git revision, or
    ``dir:<path>``: a directory holding a ``counters.py`` and a ``lua/`` (a snapshot kept under
    bench-results/, to compare steps of a change in one run)."""
    if rev.startswith("dir:"):
        src = Path(rev.removeprefix("dir:"))
        for f in (src / "lua").glob("*.lua"):
            (tmp / f.name).write_bytes(f.read_bytes())
        code = (src / "counters.py").read_bytes()
    else:
        names = _git("ls-tree", "--name-only", f"{rev}:store/lua").decode().split()
        for n in names:
            if n.endswith(".lua"):
                (tmp / n).write_bytes(_git("show", f"{rev}:store/lua/{n}"))
        code = _git("show", f"{rev}:store/counters.py")
    mod = types.ModuleType(f"store._profile_base_{abs(hash(rev))}")
    mod.__package__ = "store"
    mod.__file__ = str(ROOT / "store" / "counters.py")
    sys.modules[mod.__name__] = mod
    exec(compile(code, f"{rev}:store/counters.py", "exec"), mod.__dict__)
    lib, head = counters.function_library(tmp)
    return mod, lib, head


class _Pipe:
    """Stands in for the auto-pipeliner: keeps the one call a Store method makes."""

    def __init__(self, reply: list[bytes]) -> None:
        self.reply = reply
        self.seen: list[tuple[str, list[Any], list[Any]]] = []

    async def evalsha(self, script: Any, keys: Any = (), args: Any = ()) -> Any:
        self.seen.append((script.name, list(keys), list(args)))
        return self.reply


def _enc(v: Any) -> bytes:
    if isinstance(v, bytes):
        return v
    if isinstance(v, memoryview | bytearray):
        return bytes(v)
    return str(v).encode()


def _call_of(store_cls: Any, like: Any, method: str, a: tuple, kw: dict, reply: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """The (keys, args) of the FCALL ``store_cls``'s ``method`` makes for these arguments, with
    ``like``'s settings."""
    pipe = _Pipe(reply)
    st = store_cls(None, prefix=like.prefix, ledger_maxlen=like.ledger_maxlen,
                   idempotency_ttl=like.idempotency_ttl, pipeline=pipe)  # fmt: skip
    asyncio.run(getattr(st, method)(*a, **kw))
    ((_name, keys, args),) = pipe.seen
    return [_enc(k) for k in keys], [_enc(x) for x in args]


def _capture(url: str) -> dict[str, tuple[Any, tuple, dict]]:
    """One redeem and its rollback through the real gateway app: for each, the Store, the
    positional and the keyword arguments the app called it with."""
    seen: dict[str, tuple[Any, tuple, dict]] = {}
    real = {n: getattr(counters.Store, n) for n in ("redeem", "rollback")}

    def spy(name: str) -> Any:
        async def method(self: Any, *a: Any, **kw: Any) -> Any:
            seen[name] = (self, a, kw)
            return await real[name](self, *a, **kw)

        return method

    for n in real:
        setattr(counters.Store, n, spy(n))
    try:
        app = create_app(Settings(redis_url=url, key_prefix=PREFIX))
        with TestClient(app) as c:
            body = {"customer": {"source_id": "c0"}, "order": {"amount": 5000},
                    "redeemables": [{"object": "voucher", "id": "FLASH"}]}  # fmt: skip
            resp = c.post("/v1/redemptions", json=body, headers={**HEADERS, "Idempotency-Key": "k0"})
            assert resp.status_code == 200, resp.text
            rid = resp.json()["redemptions"][0]["id"]
            resp = c.post(f"/v1/redemptions/{rid}/rollback", headers=HEADERS)
            assert resp.status_code == 200, resp.text
    finally:
        for n, f in real.items():
            setattr(counters.Store, n, f)
    return seen


def _defs() -> m.Definitions:
    return m.load_definitions({
        "campaigns": [{"id": "camp_flash", "name": "Flash sale",
                       "voucher": {"discount": {"type": "AMOUNT", "amount_off": 100},
                                   "redemption": {"quantity": 10**9}},
                       "limits": {"discounted_amount": 10**12, "per_customer": 10**9}}],
        "vouchers": [{"code": "FLASH", "campaign_id": "camp_flash"}],
    })  # fmt: skip


def _redeem_keys(keys: list[bytes], args: list[bytes], tag: str) -> list[bytes]:
    """A redeem's keys with its idempotency key and record keys suffixed by ``tag`` (both
    layouts have K at ARGV[8], R at ARGV[10], the record keys right after the K counters)."""
    k, n_rec = int(args[7]), int(args[9])
    rec_at = 3 + k
    ks = list(keys)
    ks[1] = keys[1] + b":" + tag.encode()
    for j in range(n_rec):
        ks[rec_at + j] = keys[rec_at + j] + b":" + tag.encode()
    return ks


def _fcall_usec(r: redis.Redis) -> tuple[int, float]:
    st = r.info("commandstats").get("cmdstat_fcall") or {"calls": 0, "usec": 0}
    return int(st["calls"]), float(st["usec"])


def _replay_redeem(r: redis.Redis, fn: str, keys: list[bytes], args: list[bytes], calls: int,
                   tag: str) -> float:  # fmt: skip
    """``calls`` FCALLs of redeem ``fn`` with the captured call, new record / idempotency keys
    each: Redis µs per call."""
    n_rec = int(args[9])
    rec_at = 3 + int(args[7])
    r.config_resetstat()
    batch: list[bytes] = []
    p = r.pipeline(transaction=False)
    for i in range(calls):
        ks = _redeem_keys(keys, args, f"{tag}{i}")
        batch += [ks[1], *ks[rec_at : rec_at + n_rec]]
        p.fcall(fn, len(ks), *ks, *args)
        if (i + 1) % 100 == 0 or i == calls - 1:
            for out in p.execute(raise_on_error=True):
                assert out[0] == b"ok", out
            r.delete(*batch)  # the dataset stays the same size (DEL is not counted as FCALL)
            batch = []
            p = r.pipeline(transaction=False)
    n, usec = _fcall_usec(r)
    return usec / max(n, 1)


def _replay_rollback(r: redis.Redis, fn: str, keys: list[bytes], args: list[bytes],
                     record: dict[bytes, bytes], counter_keys: list[bytes], calls: int,
                     tag: str) -> float:  # fmt: skip
    """``calls`` FCALLs of rollback ``fn``, each on a fresh copy of ``record`` (HSET, not
    counted), every counter high enough to be reversed: Redis µs per call."""
    saved = r.mget(counter_keys)
    for k in counter_keys:
        r.set(k, 10**8)
    r.config_resetstat()
    p = r.pipeline(transaction=False)
    batch: list[bytes] = []
    for i in range(calls):
        ks = list(keys)
        ks[2] = keys[2] + f":{tag}{i}".encode()
        batch.append(ks[2])
        p.hset(ks[2], mapping=record)
        p.fcall(fn, len(ks), *ks, *args)
        if (i + 1) % 100 == 0 or i == calls - 1:
            out = p.execute(raise_on_error=True)
            for o in out[1::2]:
                assert o[0] == b"ok", o
            r.delete(*batch)
            batch = []
            p = r.pipeline(transaction=False)
    n, usec = _fcall_usec(r)
    for k, v in zip(counter_keys, saved, strict=True):
        if v is None:
            r.delete(k)
        else:
            r.set(k, v)
    return usec / max(n, 1)


def _template(r: redis.Redis, fn: str, keys: list[bytes], args: list[bytes], rec_key: bytes,
              tag: str) -> dict[bytes, bytes]:  # fmt: skip
    """The record ``rec_key`` as redeem ``fn`` writes it (one call, keys suffixed by ``tag``)."""
    ks = _redeem_keys(keys, args, tag)
    out = r.fcall(fn, len(ks), *ks, *args)
    assert out[0] == b"ok", out
    rec = r.hgetall(rec_key + b":" + tag.encode())
    assert rec, (rec_key, tag)
    rec_at, n_rec = 3 + int(args[7]), int(args[9])
    r.delete(ks[1], *ks[rec_at : rec_at + n_rec])
    return rec


def measure(calls: int, rounds: int, base_rev: str = "HEAD", with_variants: bool = True,
            config: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """The whole measurement on a new private Redis (``config``: CONFIG SET first): the report
    (see the module's doc)."""
    with PrivateRedis() as srv, tempfile.TemporaryDirectory() as tmp:
        r = redis.Redis.from_url(srv.url)
        for name, value in (config or {}).items():
            r.config_set(name, value)
        publish_definitions_sync(r, PREFIX, _defs())
        put_app_key_sync(r, PREFIX, APP_ID, APP_TOKEN, "application")
        seen = _capture(srv.url)
        like = seen["redeem"][0]
        versions: dict[str, tuple[Any, str, str]] = {}  # name -> (Store class, library, fn head)
        lib, head = counters.function_library()
        versions["new"] = (counters.Store, lib, head)
        for i, rev in enumerate(r for r in base_rev.split(",") if r):
            sub = Path(tmp) / str(i)
            sub.mkdir()
            mod, blib, bhead = _base(rev, sub)
            versions["base" if i == 0 else f"base{i + 1}"] = (mod.Store, blib, bhead)
        calls_of: dict[str, dict[str, tuple[list[bytes], list[bytes]]]] = {}
        for v, (cls, vlib, _h) in versions.items():
            r.function_load(vlib, replace=True)
            calls_of[v] = {
                "redeem": _call_of(cls, like, "redeem", *seen["redeem"][1:], [b"ok", b"0-1"]),
                "rollback": _call_of(cls, like, "rollback", *seen["rollback"][1:], [b"not_found"]),
            }
        keys, args = calls_of["new"]["redeem"]
        sizes: dict[str, Any] = {
            v: {s: {"keys": len(c[s][0]), "args": len(c[s][1]), "arg_bytes": sum(len(a) for a in c[s][1])}
                for s in c}
            for v, c in calls_of.items()
        }  # fmt: skip
        k = int(args[7])
        counter_keys = keys[3 : 3 + k]
        rb_keys = calls_of["new"]["rollback"][0]
        rec_key = rb_keys[2]
        records: dict[str, dict[bytes, bytes]] = {}
        for v, (_c, _l, h) in versions.items():
            ks, xs = calls_of[v]["redeem"]
            records[v] = _template(r, h + "redeem", ks, xs, rec_key, f"tpl{v}")
        rows: dict[str, Any] = {}  # row -> (kind, fn, version)
        for v, (_c, _l, h) in versions.items():
            rows[f"redeem_{v}"] = ("redeem", h + "redeem", v)
            rows[f"rollback_{v}"] = ("rollback", h + "rollback", v)
        if with_variants:
            for name, script, _what, changes in VARIANTS:
                vlib, fn = _library(changes, script)
                r.function_load(vlib, replace=True)
                rows[name] = (script, fn, "new")
        r.function_load("#!lua name=profile_trivial\nredis.register_function('profile_trivial', "
                        "function(keys, args) return redis.call('INCRBY', keys[1], 1) end)", replace=True)  # fmt: skip
        got: dict[str, list[float]] = {name: [] for name in rows}
        got["trivial"] = []
        for rnd in range(rounds):
            order = ["trivial", *rows]
            random.Random(rnd).shuffle(order)  # no row always runs first or last
            for name in order:
                tag = f"{name}{rnd}"
                if name == "trivial":  # pipelined by 100, as the replays
                    r.config_resetstat()
                    p = r.pipeline(transaction=False)
                    for i in range(calls):
                        p.fcall("profile_trivial", 1, PREFIX + "trivial")
                        if (i + 1) % 100 == 0 or i == calls - 1:
                            p.execute()
                            p = r.pipeline(transaction=False)
                    n, usec = _fcall_usec(r)
                    got[name].append(usec / n)
                    continue
                kind, fn, v = rows[name]
                ks, xs = calls_of[v][kind]
                if kind == "redeem":
                    got[name].append(_replay_redeem(r, fn, ks, xs, calls, tag))
                else:
                    got[name].append(_replay_rollback(r, fn, ks, xs, records[v], counter_keys, calls, tag))
        r.close()
    med = {k: statistics.median(v) for k, v in got.items()}
    revs = {("base" if i == 0 else f"base{i + 1}"): rev for i, rev in enumerate(r for r in base_rev.split(",") if r)}
    triv = med["trivial"]
    what = {name: w for name, _s, w, _c in VARIANTS}
    out_rows = [{"row": "trivial", "what": "one INCRBY (the floor)", "usec": round(triv, 2), "x_trivial": 1.0}]
    for name, (kind, _fn, v) in rows.items():
        label = what.get(name) or f"{kind} as in {'this tree' if v == 'new' else revs[v]}"
        row = {"row": name, "what": label, "usec": round(med[name], 2), "x_trivial": round(med[name] / triv, 2)}
        full = med.get(f"{kind}_new")
        if name in what and full is not None:
            row["saves_usec"] = round(full - med[name], 2)
        out_rows.append(row)
    ratios = {}
    for v, rev in revs.items():
        for kind in ("redeem", "rollback"):
            per = [a / b for a, b in zip(got[f"{kind}_new"], got[f"{kind}_{v}"], strict=True)]
            key = kind if v == "base" else f"{kind}_vs_{v}"
            ratios[key] = {"base": rev, "new_over_base_per_round": [round(x, 3) for x in per],
                           "median": round(statistics.median(per), 3)}  # fmt: skip
    return {"at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "calls": calls,
            "rounds": rounds, "base": base_rev, "config": config or {}, "call": sizes, "runs": got,
            "rows": out_rows, "ratios": ratios}  # fmt: skip


def main() -> None:
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    base_rev = os.environ.get("PROFILE_BASE", "HEAD")
    conf = os.environ.get("PROFILE_CONFIG", "").split()
    report = measure(int(os.environ.get("PROFILE_CALLS", "3000")), int(os.environ.get("PROFILE_ROUNDS", "3")),
                     base_rev, os.environ.get("PROFILE_VARIANTS", "1") != "0",
                     dict(zip(conf[::2], conf[1::2], strict=True)))  # fmt: skip
    sizes, out_rows, ratios = report["call"], report["rows"], report["ratios"]
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2))
    print(f"calls: {json.dumps(sizes)}")
    for row in out_rows:
        saves = f"  saves {row['saves_usec']:6.2f}" if "saves_usec" in row else ""
        print(f"{row['row']:20} {row['usec']:8.2f} us  x{row['x_trivial']:<5}{saves}  {row['what']}")
    for kind, rt in ratios.items():
        print(f"{kind}: this tree / {rt['base']} per round {rt['new_over_base_per_round']} (median {rt['median']})")


if __name__ == "__main__":
    main()
