"""`make bench-flash`: a flash sale on one code (issue 13, target 4): redeems per second with the
gateway on all cores against a Redis on the same machine, and what Redis' time per call says one
Redis core can carry.

Set-up: a PRIVATE ``redis-server`` (``store.redis_server.PrivateRedis``) seeded with
``loadtests.redis_cost``'s flash-sale campaign and code (``FLASH``: 1.00 off, 10^9 uses, a
campaign budget and a per-customer limit) plus a second campaign, the same but for its code
``FLASHLIM`` limited to ``FLASH_LIMIT`` uses; the real gateway (``python -m gateway``, uvicorn +
uvloop + httptools) with ``FLASH_WORKERS`` worker processes (all cores), unpinned. Every request
is ``POST /v1/redemptions`` of the code with a 50.00 order and a new customer
(``source_id`` numbered per request, as ``loadtests.ceiling``'s wrk templates do).

Phases, in one run:

1. ``quiet``: ``FLASH_QUIET_CALLS`` redeems of ``FLASH`` one at a time, and the trivial one-key
   script and function of ``loadtests.redis_cost`` (``INCRBY``), each after ``CONFIG RESETSTAT``:
   Redis' own µs per ``FCALL`` on a quiet server, beside its floor;
2. ``flood``: ``wrk`` (``FLASH_WRK_THREADS`` threads, ``FLASH_CONNECTIONS`` keep-alive connections)
   redeems ``FLASH`` for ``FLASH_SECONDS`` at saturation: redeems/s, wrk's p50 / p99 (closed loop
   at saturation: mostly queueing), Redis' ``INFO commandstats`` (µs per ``FCALL`` under the
   flood, commands per redeem) and the CPU every party used over the run: the Redis process
   (``used_cpu_sys + used_cpu_user``, and its main thread), the gateway's processes, the load
   generator, the whole machine (``/proc/stat``, steal included). One Redis core carries at most
   ``1e6 / µs per FCALL`` redeems/s, or ``1e6 /`` the Redis process's CPU µs per redeem (its
   event loop and sockets too); the Redis thread's CPU share over the run says how close the
   flood came to that;
3. ``half_load`` (``FLASH_HALF_LOAD=1``): ``loadtests.openloop`` at half the flood's rate, p50 / p99
   from each request's due time (no coordinated omission);
4. ``limit``: the same flood on ``FLASHLIM`` for ``FLASH_LIMIT_SECONDS``: answers counted by
   status and error key (a wrk ``response()`` tally), the code's uses counter and the ledger's
   redemptions of it read back from Redis. The run fails (exit 1) unless exactly ``FLASH_LIMIT``
   redeems succeeded by all three counts and every refusal is a 400 ``quantity_exceeded``: never
   more given away. After the sale sells out (in milliseconds) the flood is refusals: their rate
   and the CPU each party spends per answer are reported too.

Without ``wrk`` (``apt-get install wrk``) the floods use ``loadtests.openloop`` pushed far past
saturation (a Python client: less trustworthy rps, latencies meaningless), and the JSON says so.

Environment: ``FLASH_SECONDS`` [15], ``FLASH_LIMIT`` [1000], ``FLASH_LIMIT_SECONDS`` [5],
``FLASH_WORKERS`` [nproc], ``FLASH_CONNECTIONS`` [64], ``FLASH_WRK_THREADS`` [1],
``FLASH_HALF_LOAD`` [1], ``FLASH_QUIET_CALLS`` [500], ``REDIS_COST_CALLS`` [2000] (trivial calls).
Writes ``bench-results/flash-sale.json`` and prints a summary.
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import psutil
import redis

from core import model as m
from loadtests.ceiling import Bench, _lua
from loadtests.redis_cost import (
    APP_ID,
    APP_TOKEN,
    HEADERS,
    PREFIX,
    TRIVIAL,
    _defs,
    _phase,
    _stats,
    _trivial_fn,
)
from store.defs import publish_definitions_sync, put_app_key_sync
from store.keys import Keys, campaign_tag
from store.process import free_port
from store.redis_server import PrivateRedis

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench-results" / "flash-sale.json"
CODE = "FLASH"  # loadtests.redis_cost's
LIMIT_CODE, LIMIT_CAMPAIGN = "FLASHLIM", "camp_flash_limit"
JSON_HEADERS = {**HEADERS, "Content-Type": "application/json"}

#: appended to ``loadtests.ceiling``'s wrk template script: answers tallied by status (and error
#: key), printed as ``STATUS <status>[:<key>] <count>`` lines when wrk is done (the threads'
#: globals read from the main state)
TALLY_LUA = """
counts = {}
local all_threads = {}
local base_setup = setup
setup = function(thread)
  base_setup(thread)
  all_threads[#all_threads + 1] = thread
end
response = function(status, headers, body)
  local label = tostring(status)
  if status >= 300 then  -- a refusal: its Voucherify error key too
    label = label .. ":" .. (string.match(body or "", '"key":"([^"]*)"') or "none")
  end
  counts[label] = (counts[label] or 0) + 1
end
done = function(summary, latency, requests)
  local total = {}
  for _, t in ipairs(all_threads) do
    for k, v in pairs(t:get("counts") or {}) do total[k] = (total[k] or 0) + v end
  end
  for k, v in pairs(total) do io.write("STATUS " .. k .. " " .. v .. "\\n") end
end
"""


def definitions(limit: int) -> m.Definitions:
    """``redis_cost``'s flash sale, plus the same campaign again for a code of ``limit`` uses."""
    d = _defs()
    (camp,) = d.campaigns
    (code,) = d.vouchers
    small = msgspec.structs.replace(camp, id=LIMIT_CAMPAIGN, name="Flash sale, limited")
    small_code = msgspec.structs.replace(code, code=LIMIT_CODE, campaign_id=LIMIT_CAMPAIGN,
                                         redemption=m.RedemptionLimit(quantity=limit))  # fmt: skip
    return msgspec.structs.replace(d, campaigns=[camp, small], vouchers=[code, small_code])


def _spec(code: str) -> dict[str, Any]:
    """A ``loadtests.ceiling`` request template: a new customer per request (``{seq}``)."""
    body = {"customer": {"source_id": "fs-{seq}"}, "order": {"amount": 5000},
            "redeemables": [{"object": "voucher", "id": code}]}  # fmt: skip
    return {"path": "/v1/redemptions", "headers": JSON_HEADERS, "seq_prefix": "",
            "body": json.dumps(body, separators=(",", ":"))}  # fmt: skip


def _ms(text: str) -> float:
    v, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text).groups()
    return round(float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4, "h": 3.6e6}[unit], 3)


def _cpu_of(pids: list[int]) -> float:
    """User + system CPU seconds of these processes and all their descendants (alive ones)."""
    total = 0.0
    seen: set[int] = set()
    for pid in pids:
        try:
            p = psutil.Process(pid)
            procs = [p, *p.children(recursive=True)]
        except psutil.Error:
            continue
        for q in procs:
            if q.pid in seen:
                continue
            seen.add(q.pid)
            try:
                t = q.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
    return total


def _proc_stat() -> list[int]:
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:]]


class Meter:
    """CPU of every party over a phase: Redis (INFO cpu), the gateway's processes, the load
    generator (reaped children of this process), the machine (/proc/stat)."""

    def __init__(self, r: redis.Redis, gateway_pids: list[int]) -> None:
        self.r, self.gw = r, gateway_pids

    def snap(self) -> dict[str, Any]:
        cpu = self.r.info("cpu")
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        return {"t": time.perf_counter(), "stat": _proc_stat(), "gw": _cpu_of(self.gw),
                "client": ru.ru_utime + ru.ru_stime,
                "redis": float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"]),
                "redis_main": float(cpu.get("used_cpu_sys_main_thread", 0)) + float(cpu.get("used_cpu_user_main_thread", 0))}  # fmt: skip

    @staticmethod
    def diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        wall = b["t"] - a["t"]
        d = [y - x for x, y in zip(a["stat"], b["stat"], strict=False)]
        ticks = sum(d[:8]) or 1  # user nice system idle iowait irq softirq steal
        ncpu = os.cpu_count() or 1
        busy = (d[0] + d[1] + d[2] + d[5] + d[6]) / ticks * ncpu
        ours = {"redis": (b["redis"] - a["redis"]) / wall, "gateway": (b["gw"] - a["gw"]) / wall,
                "load_generator": (b["client"] - a["client"]) / wall}  # fmt: skip
        return {"wall_s": round(wall, 2),
                # CPU seconds per second of wall time: 1.0 = one core busy all the time
                "redis_cores": round(ours["redis"], 3),
                "redis_main_thread_cores": round((b["redis_main"] - a["redis_main"]) / wall, 3),
                "gateway_cores": round(ours["gateway"], 3),
                "load_generator_cores": round(ours["load_generator"], 3),
                "machine_busy_cores": round(busy, 3),
                # interrupts (loopback TCP is partly processed there, not charged to a process)
                "softirq_irq_cores": round((d[5] + d[6]) / ticks * ncpu, 3),
                # everything else on the machine: other sessions' work (and this process's),
                # interrupts included
                "others_cores": round(max(0.0, busy - sum(ours.values())), 3),
                "machine_steal_cores": round(d[7] / ticks * ncpu, 3),
                "cpus": ncpu}  # fmt: skip


class Flash:
    def __init__(self, *, conns: int, threads: int) -> None:
        self.b = Bench()
        self.b.conns = conns
        self.b.server_cpu = self.b.client_cpu = None  # all cores for everyone: no pinning
        self.threads = max(1, min(threads, conns))

    def flood(
        self, url: str, spec: dict[str, Any], seconds: float, tally: bool = False
    ) -> dict[str, Any]:
        """Saturate ``url`` with ``spec`` (a new customer per request) for ``seconds``."""
        b = self.b
        spec = b.fresh(spec)
        if not b.wrk:
            # far past saturation: every request is due at once, answers drain at the server's pace
            # (its rate_achieved is the queueing rate; the answers over its wall time, less the
            # 0.3 s it waits before its clock starts, are the server's); latencies meaningless
            r = b.openloop(url, spec, 20000, duration=seconds)
            done = r["ok"] + r["non_2xx"]
            out = {"client": "openloop (no wrk)", "rps": round(done / max(0.1, r["wall_s"] - 0.3), 1),
                   "requests": done, "non_2xx": r["non_2xx"], "errors": r["errors"],
                   "p50_ms": None, "p99_ms": None}  # fmt: skip
            if tally:
                out["status"] = {"2xx": r["ok"], "non_2xx": r["non_2xx"]}
            return out
        script = b.tmp / "flash.lua"
        script.write_text(_lua(spec, None) + (TALLY_LUA if tally else ""))
        cmd = [b.wrk, f"-t{self.threads}", f"-c{b.conns}", f"-d{max(1, round(seconds))}s", "--latency",
               "-s", str(script), url]  # fmt: skip
        text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", text, re.M))
        non2 = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
        errs = re.search(r"Socket errors: (.*)", text)
        out = {"client": f"wrk -t{self.threads} -c{b.conns}",
               "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
               "requests": int(re.search(r"(\d+) requests in", text).group(1)),
               "non_2xx": int(non2.group(1)) if non2 else 0,
               "errors": sum(int(x) for x in re.findall(r"\d+", errs.group(1))) if errs else 0,
               "p50_ms": _ms(lat["50"]), "p99_ms": _ms(lat["99"])}  # fmt: skip
        if tally:
            out["status"] = {k: int(v) for k, v in re.findall(r"^STATUS (\S+) (\d+)$", text, re.M)}
        return out


def _post(conn: http.client.HTTPConnection, code: str, customer: str) -> tuple[int, dict[str, Any]]:
    body = json.dumps({"customer": {"source_id": customer}, "order": {"amount": 5000},
                       "redeemables": [{"object": "voucher", "id": code}]})  # fmt: skip
    try:
        conn.request("POST", "/v1/redemptions", body=body, headers=JSON_HEADERS)
    except OSError:  # a keep-alive connection the server closed while idle: once more on a new one
        conn.close()
        conn.request("POST", "/v1/redemptions", body=body, headers=JSON_HEADERS)
    resp = conn.getresponse()
    return resp.status, json.loads(resp.read())


def _ledger_redeems(r: redis.Redis, prefix: str, after: str, code: str) -> tuple[int, float | None]:
    """Redemptions of ``code`` in the ledger after entry ``after`` and the ms from the first to
    the last (redeems of another code answered after ``after``, e.g. a flood's last requests in
    flight when wrk stopped, are not counted)."""
    n, first, last = 0, None, None
    start = "(" + after if after != "-" else "-"
    while batch := r.xrange(Keys(prefix).ledger, min=start, max="+", count=5000):
        for entry_id, fields in batch:
            if fields.get(b"type") != b"redeem":
                continue
            items = json.loads(fields.get(b"data", b"{}")).get("items", [])
            if any(it.get("id") == code for it in items):
                n += 1
                ms = int(entry_id.split(b"-")[0])
                first = ms if first is None else first
                last = ms
        start = "(" + batch[-1][0].decode()
    return n, (last - first if n else None)


def _last_ledger_id(r: redis.Redis, prefix: str) -> str:
    got = r.xrevrange(Keys(prefix).ledger, count=1)
    return got[0][0].decode() if got else "-"


def _flood_redis(after: dict, requests: int) -> dict[str, Any]:
    """Redis' own figures of a flood from ``INFO commandstats`` (reset before it). Commands a
    function runs are counted too (their time is also in the ``FCALL``'s), so they are not summed."""
    fc = after.get("fcall") or {}
    per = max(1, requests)
    return {"fcall_calls": int(fc.get("calls", 0)), "fcall_usec_per_call": fc.get("usec_per_call"),
            "fcall_usec_per_request": round(float(fc.get("usec", 0)) / per, 2),
            "commands_per_request": {c: round(int(v["calls"]) / per, 2) for c, v in after.items()
                                     if not c.startswith(("config", "info"))}}  # fmt: skip


def _git() -> str:
    """The commit measured, and whether the code the gateway runs differed from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=ROOT, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "core", "gateway", "store"],
                               capture_output=True, text=True, cwd=ROOT, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes in core/gateway/store" if dirty else "")


def run(*, seconds: float = 15.0, limit: int = 1000, limit_seconds: float = 5.0, workers: int | None = None,
        conns: int = 64, threads: int = 1, half_load: bool = True, quiet_calls: int = 500,
        trivial_calls: int = 2000) -> dict[str, Any]:  # fmt: skip
    """One run; the report (a dict). ``report["limit"]["exact"]`` is the guarantee held."""
    workers = workers or len(os.sched_getaffinity(0))
    f = Flash(conns=conns, threads=threads)
    b = f.b
    notes: list[str] = []
    load_before = os.getloadavg()
    with PrivateRedis() as srv:
        r = redis.Redis.from_url(srv.url)
        try:
            publish_definitions_sync(r, PREFIX, definitions(limit))
            put_app_key_sync(r, PREFIX, APP_ID, APP_TOKEN, "application")
            port = free_port()
            env = dict(os.environ, REDIS_URL=srv.url, PROMOGATE_KEY_PREFIX=PREFIX, GATEWAY_HOST="127.0.0.1",
                       GATEWAY_PORT=str(port), GATEWAY_WORKERS=str(workers))  # fmt: skip
            env.pop("PROMETHEUS_MULTIPROC_DIR", None)
            if workers > 1:  # every worker writes its metrics here (gateway/__main__ would mkdtemp)
                (b.tmp / "metrics").mkdir()
                env["PROMETHEUS_MULTIPROC_DIR"] = str(b.tmp / "metrics")
            gw = f"http://127.0.0.1:{port}"
            b.start(["-m", "gateway"], env, gw + "/ready")
            meter = Meter(r, [p.pid for p in b.procs])
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            status, answer = _post(conn, CODE, "fs-check")
            if status != 200 or (answer.get("parent_redemption") or {}).get("result") != "SUCCESS":
                raise SystemExit(f"the flash-sale redeem did not succeed: {status} {answer}")
            f.flood(gw, _spec(CODE), 2)  # warm every worker (connections spread over them)

            # 1. quiet: one redeem at a time, and the trivial floor, each after CONFIG RESETSTAT
            quiet = []
            sha = r.script_load(TRIVIAL)
            trivial = _phase(
                r, "trivial", trivial_calls, lambda i: r.evalsha(sha, 1, PREFIX + "trivial")
            )
            quiet += [trivial, _phase(r, "trivial_fn", trivial_calls, _trivial_fn(r))]

            def one(i: int) -> None:
                st, ans = _post(conn, CODE, f"fs-quiet-{i}")
                assert st == 200, ans

            quiet.append(_phase(r, "redeem_quiet", quiet_calls, one))
            floor = quiet[1]["evalsha_usec_per_call"] or 1.0

            # 2. the flood
            r.config_resetstat()
            s0 = meter.snap()
            sat = f.flood(gw, _spec(CODE), seconds)
            s1 = meter.snap()
            cpu = Meter.diff(s0, s1)
            red = _flood_redis(_stats(r), sat["requests"])
            if sat["non_2xx"] or sat["errors"]:
                notes.append(f"flood: {sat['non_2xx']} non-2xx, {sat['errors']} socket errors")
            fcall_us = red["fcall_usec_per_call"] or 0.0

            def per_redeem(
                cores: float, n: int = sat["requests"], wall: float = cpu["wall_s"]
            ) -> float:
                return cores * wall * 1e6 / max(1, n)  # CPU µs per request over the measured window

            redis_us_per_redeem = per_redeem(cpu["redis_cores"])
            flood = {
                **sat, "cpu": cpu, "redis": red,
                "fcall_x_trivial_fn": round(fcall_us / floor, 2),
                # one Redis core's ceiling, by Redis' own time per call, and by all its commands
                "redis_core_ceiling_rps_by_fcall": round(1e6 / fcall_us) if fcall_us else None,
                # ... and by the Redis process's whole CPU per redeem (every command, its event
                # loop, reading and writing the sockets)
                "redis_cpu_us_per_redeem": round(redis_us_per_redeem, 1),
                "redis_core_ceiling_rps_by_process_cpu": round(1e6 / redis_us_per_redeem) if redis_us_per_redeem else None,
                "gateway_cpu_us_per_redeem": round(per_redeem(cpu["gateway_cores"]), 1),
                "load_generator_cpu_us_per_redeem": round(per_redeem(cpu["load_generator_cores"]), 1),
            }  # fmt: skip

            # 3. latency at half the flood's rate (open loop)
            half = None
            if half_load and sat["rps"] > 0:
                h0 = meter.snap()
                h = b.openloop(gw, b.fresh(_spec(CODE)), sat["rps"] / 2, duration=seconds)
                keep = (
                    "rate_target",
                    "rate_achieved",
                    "ok",
                    "non_2xx",
                    "errors",
                    "p50_ms",
                    "p99_ms",
                    "max_ms",
                )
                # the Python client costs far more CPU per request than wrk: on a small machine it
                # takes it from the gateway (its start-up is in the window too)
                half = {**{k: h[k] for k in keep}, "cpu": Meter.diff(h0, meter.snap())}

            # 4. the limited code under the same flood: exactly `limit` redeems, by every count
            # the requests still in flight when the last client stopped are answered first
            time.sleep(0.5)
            mark = _last_ledger_id(r, PREFIX)
            r.config_resetstat()
            s0 = meter.snap()
            lim = f.flood(gw, _spec(LIMIT_CODE), limit_seconds, tally=True)
            s1 = meter.snap()
            st, refusal = _post(conn, LIMIT_CODE, "fs-after")
            counter = Keys(PREFIX).counter(f"{campaign_tag(LIMIT_CAMPAIGN)}:v:{LIMIT_CODE}:uses")
            ledger_n, sold_ms = _ledger_redeems(r, PREFIX, mark, LIMIT_CODE)
            tally = lim["status"]
            ok = sum(v for k, v in tally.items() if k.startswith("2"))
            refused = {k: v for k, v in tally.items() if not k.startswith("2")}
            limit_doc = {
                **lim, "limit": limit, "successes": ok, "refusals": sum(refused.values()), "refusals_by_status": refused,
                "uses_counter": int(r.get(counter) or 0), "ledger_redeems": ledger_n, "sold_out_in_ms": sold_ms,
                "answer_after": {"status": st, "key": refusal.get("key")},
                "cpu": Meter.diff(s0, s1), "redis": _flood_redis(_stats(r), lim["requests"]),
            }  # fmt: skip
            lc = limit_doc["cpu"]
            for who in (
                "redis",
                "gateway",
                "load_generator",
            ):  # CPU µs per answer (mostly refusals)
                us = per_redeem(lc[f"{who}_cores"], lim["requests"], lc["wall_s"])
                limit_doc[f"{who}_cpu_us_per_answer"] = round(us, 1)
            # refusals must be the sale's "sold out" (400 quantity_exceeded), nothing else
            limit_doc["exact"] = (ok == limit == limit_doc["uses_counter"] == ledger_n
                                  and set(refused) <= {"400:quantity_exceeded", "non_2xx"} and st == 400
                                  and refusal.get("key") == "quantity_exceeded" and not lim["errors"])  # fmt: skip
            conn.close()
        finally:
            b.stop()
            r.close()
            shutil.rmtree(b.tmp, ignore_errors=True)
    cpu_model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                      if ln.startswith("model name")), platform.processor())  # fmt: skip
    return {
        "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "git": _git(),
        "machine": {
            "cpu": cpu_model,
            "nproc": len(os.sched_getaffinity(0)),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
        },  # fmt: skip
        "setup": {
            "gateway_workers": workers,
            "client": sat["client"],
            "flood_seconds": seconds,
            "limit_seconds": limit_seconds,
            "redis": "private redis-server, unpinned",
            "wrk": bool(b.wrk),
        },  # fmt: skip
        "quiet": quiet,
        "flood": flood,
        "half_load": half,
        "limit": limit_doc,
        "notes": notes,
        "command": "make bench-flash",
    }


def summary(rep: dict[str, Any]) -> str:
    fl, lim, cpu = rep["flood"], rep["limit"], rep["flood"]["cpu"]
    q = {p["phase"]: p for p in rep["quiet"]}
    half = rep["half_load"]
    lines = [
        f"flash sale on one code, {rep['at']}: {rep['machine']['cpu']}, {rep['machine']['nproc']} cpus, "
        f"load {rep['machine']['load_average_before']}, {rep['git']}; gateway x{rep['setup']['gateway_workers']}, {fl['client']}",
        f"  flood     {fl['rps']:,.0f} redeems/s ({fl['requests']} in {fl['cpu']['wall_s']:g} s, "
        f"{fl['non_2xx']} non-2xx), p50 {fl['p50_ms']} ms, p99 {fl['p99_ms']} ms at saturation",
        (f"  half load {half['rate_achieved']:,.0f}/s: p50 {half['p50_ms']} ms, p99 {half['p99_ms']} ms "
         f"(openloop client {half['cpu']['load_generator_cores']} cores, gateway {half['cpu']['gateway_cores']}, "
         f"others {half['cpu']['others_cores']})" if half else
         "  half load (not run)"),
        f"  Redis     FCALL {fl['redis']['fcall_usec_per_call']} us/call under the flood "
        f"({fl['fcall_x_trivial_fn']}x the trivial function's {q['trivial_fn']['evalsha_usec_per_call']} us; "
        f"{q['redeem_quiet']['evalsha_usec_per_call']} us quiet); the process's CPU "
        f"{fl['redis_cpu_us_per_redeem']} us/redeem",
        f"  one Redis core: {fl['redis_core_ceiling_rps_by_fcall']:,} redeems/s by FCALL time, "
        f"{fl['redis_core_ceiling_rps_by_process_cpu']:,} by the process's CPU; "
        f"gateway {fl['gateway_cpu_us_per_redeem']} us CPU/redeem, load generator {fl['load_generator_cpu_us_per_redeem']}",
        f"  CPU (cores busy): Redis {cpu['redis_cores']} (main thread {cpu['redis_main_thread_cores']}), "
        f"gateway {cpu['gateway_cores']}, load generator {cpu['load_generator_cores']}, "
        f"others {cpu['others_cores']} (irq {cpu['softirq_irq_cores']}), machine {cpu['machine_busy_cores']} of {cpu['cpus']} "
        f"(steal {cpu['machine_steal_cores']})",
        f"  limit {lim['limit']}: {lim['successes']} redeemed, {lim['refusals']} refused {lim['refusals_by_status']} "
        f"({lim['rps']:,.0f} answers/s; CPU us/answer: Redis {lim['redis_cpu_us_per_answer']}, gateway "
        f"{lim['gateway_cpu_us_per_answer']}), uses counter {lim['uses_counter']}, ledger {lim['ledger_redeems']}, "
        f"sold out in {lim['sold_out_in_ms']} ms; after: {lim['answer_after']} -> "
        + ("EXACT" if lim["exact"] else "NOT EXACT"),
    ]  # fmt: skip
    return "\n".join(lines)


def main() -> int:
    env = os.environ.get
    rep = run(seconds=float(env("FLASH_SECONDS", "15")), limit=int(env("FLASH_LIMIT", "1000")),
              limit_seconds=float(env("FLASH_LIMIT_SECONDS", "5")), workers=int(env("FLASH_WORKERS", "0")) or None,
              conns=int(env("FLASH_CONNECTIONS", "64")), threads=int(env("FLASH_WRK_THREADS", "1")),
              half_load=env("FLASH_HALF_LOAD", "1") != "0", quiet_calls=int(env("FLASH_QUIET_CALLS", "500")),
              trivial_calls=int(env("REDIS_COST_CALLS", "2000")))  # fmt: skip
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(rep, indent=2) + "\n")
    print(summary(rep))
    print(f"written: {OUT}")
    return 0 if rep["limit"]["exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
