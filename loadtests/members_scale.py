"""`make bench-members`: loyalty members at scale (issue 10): 1,000,000 members, Redis memory per
member, members added per second through the API, and a balance read and a pay-with-points that
stay O(1) from 1,000 to 1,000,000 members.

Everything runs against a PRIVATE ``redis-server`` (:class:`store.redis_server.PrivateRedis`, no
persistence), so that ``INFO memory`` and ``INFO commandstats`` hold only this run. Admin and one
gateway worker are served on it as ``make run`` serves them (uvicorn + uvloop + httptools), pinned
to CPU 0; the load generators (wrk, :mod:`loadtests.openloop`, this script's own API client) to
CPU 1, as in ``make bench-gateway`` (``BENCH_PIN=0`` turns pinning off).

The data: one LOYALTY_PROGRAM ``camp_members`` (join once, cards ``MBR-##########``) with a COIN
reward ``rew_members_coin`` (pay with points: 1 point = 0.10) assigned to it. A member is what
``POST /v1/loyalties/{campaignId}/members`` creates (``store.loyalty.Loyalty.add_member``): the
customer (``Pcustomer:<id>``, ``Pcustomer:src:<source_id>``, an entry of ``Pcustomers``), its card
(a field of its bucket ``Pcodes:<n>``, ``P{c:camp_members}:lc:holder:<customer id>``, ``Pvid:<v_ id>``, an entry of
``Pcampcodes:camp_members``, ``Pcustcodes:<id>`` and ``Pcustcodes:<source_id>``), then ONE
accrual of 1,000 points on the card's wallet (``P{c:camp_members}:lc:<CODE>`` figures hash,
``:bk`` / ``:bkp`` bucket, ``:tx`` stream with one transaction) made by this script through
:class:`store.wallet.Wallet` (the same Lua as an order's accrual).

Steps:

1. ``MEMBERS_SMALL`` [1000] members through admin's API, ``MEMBERS_CONCURRENCY`` [64] calls in
   flight (members/s), their accruals;
2. at that size, for the two gateway calls: ``GET /v1/loyalties/members/{code}`` (balance) and
   ``POST /v1/redemptions`` paying 1 point of a card with the COIN reward (no customer named, so
   no order earns): saturating rps (wrk, ``BENCH_DURATION`` s, random members), latency p50/p99
   at a FIXED rate ``MEMBERS_RATE`` [500/s] (the open-loop client, no coordinated omission), and
   Redis' own µs per call by command during the fixed-rate run (``CONFIG RESETSTAT`` before);
3. more members through the API for ``MEMBERS_API_SECONDS`` [600] (members/s), then filled up to
   ``MEMBERS_TOTAL`` [1,000,000] by this script with the same Lua the API runs
   (``Members.customer`` + ``Members.join`` through the auto-pipeliner, then the accrual),
   ``MEMBERS_FILL_CONCURRENCY`` [512] members in flight;
4. ``used_memory`` (``INFO memory``) before the members, after the small phase, before and after
   each growth phase: bytes per member = growth / members added (the small phase's pay
   redemptions are left out that way: they are written before the growth is measured); plus
   ``MEMORY USAGE`` of each key of one member;
5. step 2 again at ``MEMBERS_TOTAL``, members drawn at random from all of them.

Writes ``bench-results/members-scale.json`` (and prints it). ``MEMBERS_KEEP_REDIS=1`` leaves the
private server running (its URL is printed) for a look afterwards; ``MEMBERS_PROFILE=1`` records
admin with py-spy for the first 30 s of the API growth phase (``bench-results/profile-admin-members.txt``,
top frames in the JSON).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from loadtests.ceiling import Bench
from store import codebook
from store.keys import Keys
from store.process import free_port

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench-results" / "members-scale.json"
PREFIX = "pgmbr:"
CAMPAIGN = "camp_members"
COIN = "rew_members_coin"
ADMIN_KEY = ("mbr_admin", secrets.token_urlsafe(18))
APP_KEY = ("mbr_app", secrets.token_urlsafe(18))
POINTS = 1000  # the one accrual of every member


def definitions_doc() -> dict[str, Any]:
    return {
        "campaigns": [
            {"id": CAMPAIGN, "name": "Members", "campaign_type": "LOYALTY_PROGRAM", "category": "loyalty",
             "join_once": True,
             "voucher": {"type": "LOYALTY_CARD", "loyalty_card": {"points": 0},
                         "code_config": {"pattern": "MBR-##########", "charset": "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"}}},
        ],
        "earning_rules": [
            {"id": "ern_members_order", "campaign_id": CAMPAIGN, "event": "order.paid",
             "loyalty": {"type": "PROPORTIONAL", "calculation_type": "ORDER_AMOUNT",
                         "order": {"amount": {"every": 100, "points": 1}}}},
        ],
        "rewards": [
            {"id": COIN, "name": "Pay with points", "parameters": {"coin": {"exchange_ratio": 1, "points_ratio": 10}}},
        ],
        "reward_assignments": [{"id": "rewa_members_coin", "reward_id": COIN, "campaign_id": CAMPAIGN}],
    }  # fmt: skip


def _info(client: Any) -> dict[str, Any]:
    mem = client.info("memory")
    return {"used_memory": int(mem["used_memory"]), "used_memory_human": mem["used_memory_human"],
            "keys": int(client.dbsize())}  # fmt: skip


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


# ------------------------------------------------------------------------------ adding members


async def _http_post(reader: Any, writer: Any, host: str, path: str, headers: str, body: bytes) -> tuple[int, bytes]:
    """One HTTP/1.1 keep-alive POST on an open connection: (status, body). A raw client: httpx
    cost this script ~8 ms of CPU per call, which capped the adds at ~60/s, not admin."""
    writer.write(f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Content-Length: {len(body)}\r\n\r\n".encode()
                 + body)  # fmt: skip
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def _add_via_api(admin_url: str, start: int, count: int | None, seconds: float | None,
                       concurrency: int) -> dict[str, Any]:  # fmt: skip
    """``POST /v1/loyalties/camp_members/members`` for customers ``m-<start>``..., ``concurrency``
    keep-alive connections with a call in flight each, until ``count`` members or ``seconds``
    have passed. Returns what was added."""
    from urllib.parse import urlsplit

    u = urlsplit(admin_url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    headers = f"X-App-Id: {ADMIN_KEY[0]}\r\nX-App-Token: {ADMIN_KEY[1]}\r\nContent-Type: application/json\r\n"
    path = f"/v1/loyalties/{CAMPAIGN}/members"
    next_i = start
    added: list[tuple[int, str]] = []
    errors: list[str] = []
    end = time.monotonic() + seconds if seconds else None

    async def worker() -> None:
        nonlocal next_i
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                if (count is not None and next_i >= start + count) or (end is not None and time.monotonic() >= end):
                    return
                i = next_i
                next_i += 1
                body = json.dumps({"customer": {"source_id": f"m-{i}"}}).encode()
                status, answer = await _http_post(reader, writer, f"{host}:{port}", path, headers, body)
                if status != 200:
                    errors.append(f"{status} {answer[:200]!r}")
                    if len(errors) > 20:
                        raise RuntimeError(f"admin add_member fails: {errors[:3]}")
                    continue
                added.append((i, json.loads(answer)["code"]))
        finally:
            writer.close()

    t0 = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.monotonic() - t0
    return {"members": len(added), "seconds": round(wall, 1), "members_per_s": round(len(added) / wall, 1),
            "errors": len(errors), "codes": [c for _, c in sorted(added)]}  # fmt: skip


async def _fill_via_lua(redis_url: str, start: int, count: int, concurrency: int) -> dict[str, Any]:
    """Members ``m-<start>``... added by this script with the Lua the API runs: the customer
    (``customer.lua``), the card (``join.lua``), through the auto-pipeliner."""
    import redis.asyncio as aredis

    from core import model as m
    from store.autopipe import AutoPipeline
    from store.members import Members

    defs = m.load_definitions(definitions_doc())
    camp = next(c for c in defs.campaigns if c.id == CAMPAIGN)
    r = aredis.Redis.from_url(redis_url)
    pipe = AutoPipeline(r)
    members = Members(pipe, Keys(PREFIX))
    await members.load_scripts()
    next_i = start
    codes: list[str] = []
    t0 = time.monotonic()

    async def worker() -> None:
        nonlocal next_i
        while next_i < start + count:
            i = next_i
            next_i += 1
            now = int(time.time() * 1000)
            cust = await members.customer(m.Customer(source_id=f"m-{i}"), now, create=True)
            v, _, _ = await members.join(camp, cust, now)
            codes.append(v.code)
            if len(codes) % 100_000 == 0:
                print(f"  filled {len(codes)} members in {time.monotonic() - t0:.0f} s", flush=True)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.monotonic() - t0
    await r.aclose()
    return {"members": len(codes), "seconds": round(wall, 1), "members_per_s": round(len(codes) / wall, 1),
            "codes": codes}  # fmt: skip


async def _accrue(redis_url: str, codes: list[str], concurrency: int = 512) -> float:
    """One accrual of :data:`POINTS` on each card (the wallet Lua, as an order's accrual)."""
    import redis.asyncio as aredis

    from store.autopipe import AutoPipeline
    from store.wallet import Credit, Wallet

    r = aredis.Redis.from_url(redis_url)
    wallet = Wallet(AutoPipeline(r), PREFIX)
    await wallet.load_scripts()
    it = iter(codes)
    t0 = time.monotonic()

    async def worker() -> None:
        for code in it:
            await wallet.apply([Credit(campaign_id=CAMPAIGN, code=code, points=POINTS, source_id="welcome",
                                       reason="members benchmark")], int(time.time() * 1000))  # fmt: skip

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    await r.aclose()
    return round(time.monotonic() - t0, 1)


# ------------------------------------------------------------------------------ the two reads


def _member_keys(client: Any, code: str) -> dict[str, int]:
    """``MEMORY USAGE`` of each key of the member holding ``code`` (bytes)."""
    k = Keys(PREFIX)
    rec = json.loads(codebook.read_sync(client, k, [code])[0])
    cust = json.loads(client.get(k.customer(rec["customer_id"])))
    card = k.card(CAMPAIGN, code)
    names = {
        "holder P{c:..}:lc:holder:<cust>": k.card_holder(CAMPAIGN, cust["id"]),
        "voucher id Pvid:<v_ id>": k.voucher_id(rec["id"]),
        "customer Pcustomer:<id>": k.customer(cust["id"]),
        "customer src Pcustomer:src:<source_id>": k.customer_src(cust["source_id"]),
        "customer codes Pcustcodes:<id>": k.customer_codes(cust["id"]),
        "customer codes Pcustcodes:<source_id>": k.customer_codes(cust["source_id"]),
        "wallet figures (hash)": card.figures,
        "wallet buckets :bk (zset)": card.buckets,
        "wallet bucket points :bkp (hash)": card.bucket_points,
        "wallet transactions :tx (stream, 1 entry)": card.transactions,
    }
    out = {name: int(client.memory_usage(key, samples=0) or 0) for name, key in names.items()}
    # the card's record is one field of a bucket hash: the bucket's bytes per field held
    bucket = next(b for b in k.code_buckets(code) if client.hexists(b, code))
    out["code record (share of its bucket Pcodes:<n>)"] = round(
        int(client.memory_usage(bucket, samples=0) or 0) / max(1, int(client.hlen(bucket))))
    return out


def _measure(b: Bench, gw: str, client: Any, codes: list[str], headers: dict[str, str], rate: float,
             label: str) -> dict[str, Any]:  # fmt: skip
    """Balance reads and pays at this size: saturating rps, p50/p99 at ``rate``, Redis µs per
    call by command during the fixed-rate run."""
    rng = random.Random(7)
    ids_file = b.tmp / f"codes-{label}.txt"
    n = 400_000
    ids_file.write_text("".join(rng.choice(codes) + "\n" for _ in range(n)))
    specs = {
        "balance": {"method": "GET", "path": "/v1/loyalties/members/{id}", "headers": headers, "body": ""},
        "pay": {"path": "/v1/redemptions", "headers": {**headers, "Content-Type": "application/json"},
                "body": json.dumps({"redeemables": [{"object": "voucher", "id": "{id}", "reward": {"id": COIN, "points": 1}}],
                                    "order": {"amount": 1000}}, separators=(",", ":"))},
    }  # fmt: skip
    out: dict[str, Any] = {}
    offset = 0
    for name, spec in specs.items():
        sat = b.saturate(gw, spec, ids_file=str(ids_file), offset=offset)
        offset += sat["ids_used"]
        client.config_resetstat()
        half = b.openloop(gw, spec, rate, ids_file=str(ids_file), offset=offset)
        offset += half["sent"]
        stats = client.info("commandstats")
        calls = max(1, half["ok"] + half["non_2xx"])
        redis_cmds = {c.removeprefix("cmdstat_"): {"calls_per_request": round(v["calls"] / calls, 2),
                                                   "usec_per_call": v["usec_per_call"]}
                      for c, v in stats.items() if c not in ("cmdstat_config|resetstat", "cmdstat_info")}  # fmt: skip
        out[name] = {"saturating_rps": sat["rps"], "saturation_non_2xx": sat["non_2xx"],
                     "rate": rate, "p50_ms": half["p50_ms"], "p99_ms": half["p99_ms"], "max_ms": half["max_ms"],
                     "non_2xx": half["non_2xx"], "errors": half["errors"], "redis": redis_cmds}  # fmt: skip
        print(f"  {label} {name}: {json.dumps({k: v for k, v in out[name].items() if k != 'redis'})}", flush=True)
    return out


def _spy(pid: int, seconds: float) -> tuple[Any, Path, float]:
    """py-spy recording ``pid`` (admin) for ``seconds``, started now (``MEMBERS_PROFILE=1``)."""
    import shutil
    import subprocess

    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out = OUT.parent / "profile-admin-members.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(round(seconds)), "--rate", "250",
                             "--format", "raw", "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return proc, out, float(round(seconds))


def _spy_summary(proc: Any, out: Path, seconds: float, rps: float) -> dict[str, Any]:
    from loadtests.ceiling import summarize_profile

    proc.wait(timeout=120)
    if not out.exists():
        return {"error": "py-spy wrote nothing"}
    got = summarize_profile(str(out), rps, seconds)
    return {"file": str(out.relative_to(ROOT)), "worker_cpu_share": got["worker_cpu_share"],
            "worker_cpu_us_per_request": got["worker_cpu_us_per_request"], "top_frames": got["top_frames"][:15]}  # fmt: skip


# ------------------------------------------------------------------------------ main


def main() -> int:
    import urllib.request

    import redis

    from core import model as m
    from store import defs as defstore
    from store.redis_server import PrivateRedis

    total = int(os.environ.get("MEMBERS_TOTAL", "1000000"))
    small = int(os.environ.get("MEMBERS_SMALL", "1000"))
    api_seconds = float(os.environ.get("MEMBERS_API_SECONDS", "600"))
    conc = int(os.environ.get("MEMBERS_CONCURRENCY", "64"))
    fill_conc = int(os.environ.get("MEMBERS_FILL_CONCURRENCY", "512"))
    rate = float(os.environ.get("MEMBERS_RATE", "500"))
    os.environ["PROMOGATE_KEY_PREFIX"] = PREFIX
    pr = PrivateRedis().start()
    client = redis.Redis.from_url(pr.url)
    b = Bench()
    doc: dict[str, Any] = {"command": "make bench-members", "private_redis": pr.url}
    try:
        defstore.publish_definitions_sync(client, PREFIX, m.load_definitions(definitions_doc()))
        defstore.put_app_key_sync(client, PREFIX, *ADMIN_KEY, "admin", "members benchmark admin")
        defstore.put_app_key_sync(client, PREFIX, *APP_KEY, "application", "members benchmark checkout")
        gw_port, admin_port = free_port(), free_port()
        base_env = dict(os.environ, REDIS_URL=pr.url, PROMOGATE_KEY_PREFIX=PREFIX)
        base_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        b.start(["-m", "gateway"], dict(base_env, GATEWAY_PORT=str(gw_port), GATEWAY_HOST="127.0.0.1",
                                          GATEWAY_WORKERS="1"), f"http://127.0.0.1:{gw_port}/ready")  # fmt: skip
        b.start(["-m", "admin"], dict(base_env, ADMIN_PORT=str(admin_port), ADMIN_HOST="127.0.0.1"),
                f"http://127.0.0.1:{admin_port}/ready")  # fmt: skip
        gw, admin = f"http://127.0.0.1:{gw_port}", f"http://127.0.0.1:{admin_port}"
        gw_pid = b.procs[0].pid
        headers = {"X-App-Id": APP_KEY[0], "X-App-Token": APP_KEY[1]}
        if b.client_cpu is not None:  # this process drives the API calls: on the clients' CPU
            os.sched_setaffinity(0, {b.client_cpu})
        mem: dict[str, Any] = {"before_members": _info(client)}

        # 1. the small phase, through the API
        print(f"adding {small} members through admin's API ({conc} in flight)", flush=True)
        api1 = asyncio.run(_add_via_api(admin, 0, small, None, conc))
        api1["accrual_seconds"] = asyncio.run(_accrue(pr.url, api1["codes"]))
        mem["after_small"] = _info(client)
        codes_small = api1.pop("codes")
        # one pay checked before anything is timed
        body = json.dumps({"redeemables": [{"object": "voucher", "id": codes_small[0], "reward": {"id": COIN, "points": 1}}],
                           "order": {"amount": 1000}}).encode()  # fmt: skip
        rq = urllib.request.Request(gw + "/v1/redemptions", data=body, method="POST",
                                    headers={**headers, "Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(rq, timeout=10) as r:
            answer = json.loads(r.read())
        results = [answer.get("parent_redemption") or {}, *(answer.get("redemptions") or [])]
        if not any(x.get("result") == "SUCCESS" for x in results):
            raise SystemExit(f"the pay-with-points request did not succeed: {json.dumps(answer)[:500]}")
        b.saturate(gw, {"method": "GET", "path": "/v1/loyalties/members/" + codes_small[0], "headers": headers,
                        "body": ""}, duration=2)  # warm the worker  # fmt: skip

        # 2. balance reads and pays at the small size
        print(f"measuring at {small} members", flush=True)
        at_small = _measure(b, gw, client, codes_small, headers, rate, f"{small}")
        at_small["gateway_rss_kb"] = _rss_kb(gw_pid)
        mem["after_small_measure"] = _info(client)

        # 3. growth: the API for api_seconds, then the Lua up to total
        print(f"adding members through admin's API for {api_seconds:g} s", flush=True)
        spy = _spy(b.procs[1].pid, min(30.0, api_seconds)) if os.environ.get("MEMBERS_PROFILE") == "1" else None
        api2 = asyncio.run(_add_via_api(admin, small, total - small, api_seconds, conc)) if api_seconds > 0 else \
            {"members": 0, "seconds": 0, "members_per_s": None, "errors": 0, "codes": []}  # fmt: skip
        if spy is not None:
            api2["admin_profile"] = _spy_summary(*spy, api2["members_per_s"] or 0.0)
        api2["accrual_seconds"] = asyncio.run(_accrue(pr.url, api2["codes"]))
        mem["after_api"] = _info(client)
        have = small + api2["members"]
        print(f"{api2['members']} members through the API ({api2['members_per_s']}/s); filling up to {total}",
              flush=True)  # fmt: skip
        fill = asyncio.run(_fill_via_lua(pr.url, have, total - have, fill_conc))
        fill["accrual_seconds"] = asyncio.run(_accrue(pr.url, fill["codes"]))
        fill["accruals_per_s"] = round(fill["members"] / fill["accrual_seconds"], 1) if fill["accrual_seconds"] else None
        mem["after_fill"] = _info(client)
        codes_all = codes_small + api2.pop("codes") + fill.pop("codes")
        members_n = client.llen(Keys(PREFIX).list_codes(CAMPAIGN))

        # 4. memory per member
        def per(a: str, z: str, n: int) -> float | None:
            return round((mem[z]["used_memory"] - mem[a]["used_memory"]) / n, 1) if n else None

        memory = {
            "bytes_per_member_small_phase_api": per("before_members", "after_small", small),
            "bytes_per_member_api_phase": per("after_small_measure", "after_api", api2["members"]),
            "bytes_per_member_lua_fill": per("after_api", "after_fill", fill["members"]),
            "bytes_per_member_growth_to_total": per("after_small_measure", "after_fill", members_n - small),
            "used_memory_at_total": mem["after_fill"]["used_memory"],
            "used_memory_human_at_total": mem["after_fill"]["used_memory_human"],
            "keys_per_member": round((mem["after_fill"]["keys"] - mem["after_small_measure"]["keys"])
                                     / max(1, members_n - small), 2),  # fmt: skip
            "one_member_memory_usage": _member_keys(client, codes_all[-1]),
            "shared_per_member": {
                "campaign code list Pcampcodes (per entry)":
                    round(int(client.memory_usage(Keys(PREFIX).list_codes(CAMPAIGN), samples=0)) / members_n, 1),
                "customers zset Pcustomers (per entry)":
                    round(int(client.memory_usage(Keys(PREFIX).customers, samples=0)) / members_n, 1),
            },  # fmt: skip
            "snapshots": mem,
        }
        memory["one_member_memory_usage_total"] = sum(memory["one_member_memory_usage"].values())

        # 5. the same reads and pays at the full size
        print(f"measuring at {members_n} members", flush=True)
        at_total = _measure(b, gw, client, codes_all, headers, rate, f"{members_n}")
        at_total["gateway_rss_kb"] = _rss_kb(gw_pid)

        cpu = ""
        try:
            cpu = next(x.split(":", 1)[1].strip() for x in Path("/proc/cpuinfo").read_text().splitlines()
                       if x.startswith("model name"))  # fmt: skip
        except (OSError, StopIteration):
            pass
        doc.update({
            "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
            "machine": f"{cpu}, {os.cpu_count()} cores (shared); Redis {client.info('server')['redis_version']} (private)",
            "setup": (f"admin + 1 gateway worker (uvicorn+uvloop+httptools) on CPU {b.server_cpu}, clients on CPU "
                      f"{b.client_cpu}; saturation wrk -t1 -c{b.conns} {b.duration:g} s, latency at {rate:g}/s "
                      f"({b.duration:g} s, loadtests.openloop)"),
            "members": members_n,
            "added": {"api_small": api1, "api_growth": api2, "lua_fill": fill},
            "memory": memory,
            "small": {"members": small, **at_small},
            "total": {"members": members_n, **at_total},
            "notes": b.notes,
        })  # fmt: skip
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(doc, indent=2) + "\n")
        print(json.dumps({k: v for k, v in doc.items() if k != "memory"} | {"memory": {
            k: v for k, v in memory.items() if k != "snapshots"}}, indent=2))  # fmt: skip
        print(f"written: {OUT}")
        return 0
    finally:
        b.stop()
        client.close()
        if os.environ.get("MEMBERS_KEEP_REDIS") == "1":
            print(f"private Redis kept: {pr.url} (pid {pr.pid})", file=sys.stderr)
        else:
            pr.close()
        import shutil

        shutil.rmtree(b.tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
