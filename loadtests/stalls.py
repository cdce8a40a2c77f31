"""`make bench-stalls`: find the stalls behind a bad p99 at half load (issue 13, target 3).

``make bench-gateway`` reports p99 at half load; on this shared machine most runs stay within
10 ms and a few carry one stall of 30-40 ms. This tool runs the same open-loop client against the
same gateway (one worker on CPU 0, the client on CPU 1, the load-test ruleset, the 5-item cart
with the code ``LTBENCH``) many times, and while each run lasts it samples, every
``STALLS_SAMPLE_MS`` [5] ms, from ``/proc``:

- ``/proc/<pid>/schedstat`` of the gateway worker, the client and ``redis-server``: CPU time
  used and time spent RUNNABLE BUT NOT RUNNING (waiting in the run queue, nanoseconds);
- ``/proc/stat``: each CPU's user / system / idle / steal (the hypervisor's; 10 ms ticks);
- the gateway's garbage collections in the run (``promogate_gc_pause_seconds`` from its
  ``/metrics``: how many per generation, how many over 5 ms; a pause of 20 ms or more is also
  in its log);
- the client's own lateness (``loadtests.openloop --timeline``: a 1 ms ticker), and every
  request's due time and latency;
- each CPU's own availability: a probe process pinned to the CPU at real-time priority
  (``SCHED_FIFO``, so no ordinary task of this machine can keep it off its CPU) asks to wake
  every millisecond and records each wake-up later than 2 ms. A probe that wakes 30 ms late
  means the virtual CPU itself did not run for 30 ms: the hypervisor gave it to another guest
  (steal that ``/proc/stat`` of this VM may not show).

A stall is a burst of requests slower than ``STALLS_SLOW_MS`` [10]; its window runs from the due
time of its first slow request to the end of its slowest answer. For each window the tool says
who was doing what: the worker on CPU or waiting for it, the client late or not, Redis on CPU
or waiting, steal. Verdicts, in order: ``vcpu`` (the probe of the worker's CPU, or of the client's,
woke late by at least half the window: the virtual CPU did not run), ``client`` (the client
itself woke late), ``worker preempted`` (the worker was runnable but another task had its CPU: ``others`` names
the tasks of the machine that used the most CPU around the window, read every 50 ms), ``worker busy`` (the worker
ran all the time: work of its own), ``redis`` (Redis was runnable and waiting, or busy), ``steal``
(the hypervisor took the CPU), else ``idle`` (nobody ran: a wait on the network or a timer).

Environment: ``STALLS_ENDPOINTS`` [validate,redeem,qualifications], ``STALLS_RUNS`` [5] runs per
endpoint, ``STALLS_DURATION`` [10] seconds each, ``STALLS_RATE`` (requests/s; default half of a
``wrk`` saturation, as ``make bench-gateway``), ``STALLS_SLOW_MS`` [10], ``STALLS_SAMPLE_MS`` [5],
``REDIS_URL`` (the shared server, as ``make bench-gateway``), ``STALLS_GATEWAY_ENV`` (extra
``NAME=value`` pairs, comma-separated, for the gateway: e.g. ``PYTHONGC=...`` experiments).
Writes ``bench-results/stalls.json`` and prints a table per stall.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request

from loadtests.ceiling import PATHS, ROOT, Bench, _body, _pin
from store.process import free_port

OUT = ROOT / "bench-results" / "stalls.json"
TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")  # /proc/stat's unit


def _schedstat(pid: int) -> tuple[int, int]:
    """(ns on CPU, ns runnable but waiting) of process ``pid``, all its threads."""
    try:
        run = wait = 0
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                a, b, _ = f.read().split()
            run += int(a)
            wait += int(b)
        return run, wait
    except (OSError, ValueError):
        return 0, 0


def _cpu_ticks() -> list[tuple[int, int, int, int]]:
    """Per CPU: (busy, idle, steal, iowait) ticks from /proc/stat."""
    out = []
    with open("/proc/stat") as f:
        for line in f:
            if not line.startswith("cpu") or line.startswith("cpu "):
                continue
            v = [int(x) for x in line.split()[1:]]
            user, nice, system, idle, iowait, irq, softirq, steal = v[:8]
            out.append((user + nice + system + irq + softirq, idle, steal, iowait))
    return out


def _all_tasks() -> dict[int, tuple[str, int, int]]:
    """Every task of the machine: tid -> (process name, ns on CPU, CPU it last ran on)."""
    out: dict[int, tuple[str, int, int]] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                name = f.read().strip()
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    run = int(f.read().split()[0])
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    cpu = int(f.read().rsplit(")", 1)[1].split()[36])
                out[int(tid)] = (f"{name}[{pid}]", run, cpu)
        except (OSError, ValueError, IndexError):
            continue
    return out


class Sampler(threading.Thread):
    """Samples the named processes' schedstat and the CPUs' ticks until stopped."""

    def __init__(self, pids: dict[str, int], every_s: float) -> None:
        super().__init__(daemon=True)
        self.pids, self.every = pids, every_s
        self.rows: list[tuple] = []  # (monotonic, {name: (run, wait)}, cpu ticks)
        self.scans: list[tuple[float, dict]] = []  # (monotonic, _all_tasks()) every SCAN_S
        self._halt = threading.Event()

    #: how often every task of the machine is read (a scan costs a few ms)
    SCAN_S = 0.05

    def run(self) -> None:
        next_scan = 0.0
        while not self._halt.is_set():
            t = time.monotonic()
            self.rows.append((t, {n: _schedstat(p) for n, p in self.pids.items()}, _cpu_ticks()))
            if t >= next_scan:
                self.scans.append((time.monotonic(), _all_tasks()))
                next_scan = t + self.SCAN_S
            self._halt.wait(max(0.0, self.every - (time.monotonic() - t)))

    def cpu(self) -> tuple[float, dict[str, float]]:
        """The run's wall seconds, and each sampled process's seconds on CPU in it."""
        a, b = self.rows[0], self.rows[-1]
        return b[0] - a[0], {n: (b[1][n][0] - a[1][n][0]) / 1e9 for n in self.pids}

    def others(self, t0: float, t1: float, exclude: set[int], top: int = 5) -> list[dict]:
        """The tasks other than ``exclude`` (pids) that used the most CPU around [t0, t1]."""
        sc = self.scans
        if len(sc) < 2:
            return []
        a = max((x for x in sc if x[0] <= t0), default=sc[0], key=lambda x: x[0])
        b = min((x for x in sc if x[0] >= t1), default=sc[-1], key=lambda x: x[0])
        used: dict[str, list] = {}
        for tid, (name, run, cpu) in b[1].items():
            before = a[1].get(tid)
            # a kernel worker renames itself by its work item: the thread id is what counts
            d = run - (before[1] if before else 0)
            if d <= 0 or any(name.endswith(f"[{p}]") for p in exclude):
                continue
            u = used.setdefault(name, [0, set()])
            u[0] += d
            u[1].add(cpu)
        rows = sorted(used.items(), key=lambda kv: -kv[1][0])[:top]
        return [{"task": n, "on_cpu_ms": round(v[0] / 1e6, 1), "cpus": sorted(v[1]),
                 "of_ms": round((b[0] - a[0]) * 1000, 1)} for n, v in rows]  # fmt: skip

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def window(self, t0: float, t1: float) -> dict:
        """What each process and CPU did between the samples around [t0, t1]."""
        rows = self.rows
        i0 = max((i for i, r in enumerate(rows) if r[0] <= t0), default=0)
        i1 = min((i for i, r in enumerate(rows) if r[0] >= t1), default=len(rows) - 1)
        a, b = rows[i0], rows[i1]
        wall = max(1e-9, b[0] - a[0])
        out: dict = {"wall_ms": round(wall * 1000, 1)}
        for n in self.pids:
            run = (b[1][n][0] - a[1][n][0]) / 1e9
            wait = (b[1][n][1] - a[1][n][1]) / 1e9
            out[n] = {"on_cpu_ms": round(run * 1000, 1), "runnable_waiting_ms": round(wait * 1000, 1)}
        cpus = []
        for c0, c1 in zip(a[2], b[2], strict=True):
            cpus.append({"busy_ms": round((c1[0] - c0[0]) * TICK_S * 1000), "idle_ms": round((c1[1] - c0[1]) * TICK_S * 1000),
                         "steal_ms": round((c1[2] - c0[2]) * TICK_S * 1000)})  # fmt: skip
        out["cpus"] = cpus
        # the longest gap between two samples in the window: the sampler's own lateness
        gaps = [rows[i + 1][0] - rows[i][0] for i in range(i0, i1)]
        out["sampler_max_gap_ms"] = round(max(gaps, default=0.0) * 1000, 1)
        return out


PROBE = """
import json, os, sys, time
os.sched_setaffinity(0, {int(sys.argv[1])})
try:
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(50))
    rt = True
except OSError:
    rt = False
late = []
end = time.monotonic() + float(sys.argv[2])
while True:
    t = time.monotonic()
    if t > end:
        break
    time.sleep(0.001)
    x = time.monotonic() - t - 0.001
    if x > 0.002:
        late.append([round(t, 6), round(x, 6)])
print(json.dumps({"rt": rt, "late": late}))
"""


def _probes(cpus: list[int], seconds: float) -> list[subprocess.Popen]:
    """One real-time wake-up probe per CPU (see the module's docstring)."""
    return [subprocess.Popen([sys.executable, "-c", PROBE, str(c), f"{seconds:g}"], stdout=subprocess.PIPE, text=True)
            for c in cpus]  # fmt: skip


def _stalls(due: list[float], lat: list[float], slow_s: float) -> list[tuple[float, float, int, float]]:
    """Bursts of slow requests: (window start, window end, slow requests, worst latency s)."""
    out: list[list] = []
    for d, x in zip(due, lat, strict=True):
        if x <= slow_s:
            continue
        end = d + x
        if out and d <= out[-1][1] + 0.05:
            out[-1][1] = max(out[-1][1], end)
            out[-1][2] += 1
            out[-1][3] = max(out[-1][3], x)
        else:
            out.append([d, end, 1, x])
    return [tuple(s) for s in out]


def _worst(late: list[list[float]], t0: float, t1: float) -> float:
    """The longest lateness (s) of ``late`` ([[monotonic s, late s], ...]) that began in the
    stall's window [t0, t1] or in the 50 ms before it."""
    return max((x for ts, x in late if t0 - 0.05 <= ts <= t1), default=0.0)


def _verdict(w: dict, client_lag_ms: float) -> str:
    wall = w["wall_ms"]
    gw, cl, rd = w["worker"], w["client"], w.get("redis")
    if max(w.get("vcpu_late_ms", {}).values(), default=0.0) >= 0.5 * min(wall, w.get("worst_ms", wall)):
        return "vcpu"
    if client_lag_ms >= 0.5 * wall or cl["runnable_waiting_ms"] >= 0.5 * wall:
        return "client"
    if gw["runnable_waiting_ms"] >= 0.3 * wall:
        return "worker preempted"
    if gw["on_cpu_ms"] >= 0.7 * wall:
        return "worker busy"
    if rd and (rd["runnable_waiting_ms"] >= 0.3 * wall or rd["on_cpu_ms"] >= 0.7 * wall):
        return "redis"
    if any(c["steal_ms"] >= 0.3 * wall for c in w["cpus"]):
        return "steal"
    return "idle"


def _gc_pauses(gw: str) -> dict[str, float]:
    """The gateway's garbage collections so far (``/metrics``): per generation, how many, how
    many longer than 5 ms, and seconds in all."""
    with urllib.request.urlopen(f"{gw}/metrics", timeout=10) as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith("promogate_gc_pause_seconds"):
            continue
        name, value = line.rsplit(" ", 1)
        gen = name.split('generation="', 1)[1].split('"', 1)[0]
        if name.startswith("promogate_gc_pause_seconds_count"):
            out[f"gen{gen}"] = out.get(f"gen{gen}", 0) + float(value)
        elif name.startswith("promogate_gc_pause_seconds_sum"):
            out[f"gen{gen}_s"] = float(value)
        elif 'le="0.005"' in name:
            out[f"gen{gen}_le5ms"] = float(value)
    return out


def _redis_pid(url: str) -> int | None:
    import redis

    c = redis.Redis.from_url(url)
    try:
        pid = int(c.info("server")["process_id"])
    finally:
        c.close()
    return pid if os.path.exists(f"/proc/{pid}") else None


def run(endpoints: list[str], runs: int = 5, duration: float = 10.0, slow_ms: float = 10.0,
        sample_ms: float = 5.0, rate: float = 0.0, gateway_env: dict[str, str] | None = None) -> dict:  # fmt: skip
    """Start the gateway on the load-test data set, run the open-loop client ``runs`` times per
    endpoint, and say of each stall who was doing what (see the module's docstring)."""
    from loadtests import seed as seedmod
    from store.redis_server import ensure_redis

    bad = [e for e in endpoints if e not in ("validate", "redeem", "qualifications")]
    if bad:
        raise SystemExit(f"STALLS_ENDPOINTS: {bad}: only validate, redeem, qualifications")
    redis_url, private = ensure_redis(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    os.environ["REDIS_URL"] = redis_url
    slow, every, extra_env = slow_ms / 1000, sample_ms / 1000, gateway_env or {}
    b = Bench()
    manifest = None
    affinity = os.sched_getaffinity(0)
    doc: dict = {"runs": [], "stalls": []}
    try:
        manifest = seedmod.seed()
        port = free_port()
        env = dict(os.environ, GATEWAY_PORT=str(port), GATEWAY_HOST="127.0.0.1", GATEWAY_WORKERS="1", **extra_env)
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        gw = f"http://127.0.0.1:{port}"
        b.start(["-m", "gateway"], env, f"{gw}/ready")
        headers = {"X-App-Id": manifest.app_id, "X-App-Token": manifest.app_token, "Content-Type": "application/json"}
        body = json.dumps(_body(manifest), separators=(",", ":"))
        qbody = json.dumps({"customer": {"source_id": "bench_cust"}, "order": _body(manifest)["order"]},
                           separators=(",", ":"))  # fmt: skip
        specs = {ep: {"path": PATHS[ep], "headers": headers, "body": qbody if ep == "qualifications" else body}
                 for ep in endpoints}  # fmt: skip
        for ep in endpoints:  # each request must succeed before it is timed
            sp = specs[ep]
            rq = urllib.request.Request(gw + sp["path"], data=sp["body"].encode(), headers=sp["headers"], method="POST")
            with urllib.request.urlopen(rq, timeout=10) as r:
                r.read()
        rpid = _redis_pid(redis_url)
        if b.client_cpu is not None:  # the sampler shares the client's CPU, not the worker's
            os.sched_setaffinity(0, {b.client_cpu})
        for ep in endpoints:
            b.saturate(gw, specs[ep], duration=2)  # warm
            ep_rate = rate or b.saturate(gw, specs[ep])["rps"] / 2
            for n in range(runs):
                req = b.tmp / "req.json"
                req.write_text(json.dumps(specs[ep]))
                tl = b.tmp / f"timeline-{ep}-{n}.json"
                cmd = [*_pin(b.client_cpu), sys.executable, "-m", "loadtests.openloop", "--url", gw,
                       "--rate", f"{ep_rate:.1f}", "--duration", f"{duration:g}", "--connections", str(b.conns),
                       "--request", str(req), "--timeline", str(tl)]  # fmt: skip
                gc0 = _gc_pauses(gw)
                cpus = sorted({c for c in (b.server_cpu, b.client_cpu) if c is not None})
                probes = _probes(cpus, duration + 2.0)
                client = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
                pids = {"worker": b.procs[0].pid, "client": client.pid}
                if rpid:
                    pids["redis"] = rpid
                sampler = Sampler(pids, every)
                sampler.start()
                out, _ = client.communicate(timeout=duration + 120)
                sampler.stop()
                probed = {c: json.loads(p.communicate(timeout=30)[0]) for c, p in zip(cpus, probes, strict=True)}
                summary = json.loads(out.strip().splitlines()[-1])
                gc1 = _gc_pauses(gw)
                gcd = {k: gc1.get(k, 0) - gc0.get(k, 0) for k in gc1}
                gc_runs = {g: {"collections": int(gcd.get(g, 0)), "over_5ms": int(gcd.get(g, 0) - gcd.get(f"{g}_le5ms", 0)),
                               "ms": round(1000 * gcd.get(f"{g}_s", 0), 1)}
                           for g in ("gen0", "gen1", "gen2")}  # fmt: skip
                t = json.loads(tl.read_text())
                wall, on_cpu = sampler.cpu()
                warm = (min(t["due"]) + 1.0) if t["due"] else 0.0  # as openloop's --warmup
                pairs = sorted((d, x) for d, x in zip(t["due"], t["lat"], strict=True) if d >= warm)
                found = _stalls([p[0] for p in pairs], [p[1] for p in pairs], slow)
                one = {"endpoint": ep, "run": n, "rate": round(ep_rate, 1), "p50_ms": summary["p50_ms"],
                       "p99_ms": summary["p99_ms"], "max_ms": summary["max_ms"], "ok": summary["ok"],
                       "non_2xx": summary["non_2xx"], "errors": summary["errors"], "stalls": len(found),
                       "slow_requests": sum(s[2] for s in found),
                       "client_lag_over_10ms": sum(1 for _, x in t["lag"] if x > 0.010),
                       "vcpu_late_over_10ms": {f"cpu{c}": sum(1 for _, x in v["late"] if x > 0.010)
                                               for c, v in probed.items()},
                       "probes_realtime": all(v["rt"] for v in probed.values()), "gc": gc_runs,
                       # how busy each party was over the run: a worker near 1.0 at "half load"
                       # costs more per request than at saturation (fewer requests per loop
                       # turn and per Redis batch) and queues on any burst
                       "cpu_share": {k: round(v / max(1e-9, wall), 3) for k, v in on_cpu.items()},
                       "worker_us_per_request": round(1e6 * on_cpu["worker"] / max(1, summary["ok"] + summary["non_2xx"]), 1)}  # fmt: skip
                doc["runs"].append(one)
                print(json.dumps(one), flush=True)
                for t0, t1, count, worst in found:
                    w = sampler.window(t0, t1)
                    lag = _worst(t["lag"], t0, t1)
                    w["client_max_lag_ms"] = round(lag * 1000, 1)
                    w["worst_ms"] = round(worst * 1000, 1)
                    w["others"] = sampler.others(t0, t1, {b.procs[0].pid, client.pid, os.getpid()})
                    w["vcpu_late_ms"] = {f"cpu{c}": round(1000 * _worst(v["late"], t0, t1), 1) for c, v in probed.items()}
                    st = {"endpoint": ep, "run": n, "at_s": round(t0 - min(t["due"]), 3), "slow_requests": count,
                          "worst_ms": round(worst * 1000, 1), "window": w,
                          "verdict": _verdict(w, lag * 1000)}  # fmt: skip
                    doc["stalls"].append(st)
                    print("  stall", json.dumps(st), flush=True)
        verdicts: dict[str, int] = {}
        for st in doc["stalls"]:
            verdicts[st["verdict"]] = verdicts.get(st["verdict"], 0) + 1
        doc["verdicts"] = verdicts
        doc["runs_p99_over_10ms"] = sum(1 for r in doc["runs"] if r["p99_ms"] > 10)
        doc["setup"] = (f"gateway 1 worker on CPU {b.server_cpu}, client on CPU {b.client_cpu}; {b.conns} connections; "
                        f"{runs} x {duration:g} s per endpoint; slow > {slow_ms:g} ms; samples every {sample_ms:g} ms; "
                        f"Redis {redis_url} ({'private' if private else 'shared'})"
                        + (f"; gateway env {extra_env}" if extra_env else ""))  # fmt: skip
        return doc
    finally:
        os.sched_setaffinity(0, affinity)
        b.stop()
        if manifest is not None:
            seedmod.cleanup(manifest.redis_url, manifest.prefix)
        shutil.rmtree(b.tmp, ignore_errors=True)
        if private is not None:
            private.close()


def main() -> int:
    os.environ.setdefault("PROMOGATE_KEY_PREFIX", "pgstalls:")
    os.environ.setdefault("LOADTEST_UNIQUE_CODES", "0")
    os.environ.setdefault("LOADTEST_SEED", "direct")
    os.environ.setdefault("LOADTEST_MANIFEST", str(ROOT / "bench-results" / "stalls-manifest.json"))
    env = os.environ.get
    doc = run(
        [e.strip() for e in env("STALLS_ENDPOINTS", "validate,redeem,qualifications").split(",") if e.strip()],
        runs=int(env("STALLS_RUNS", "5")),
        duration=float(env("STALLS_DURATION", "10")),
        slow_ms=float(env("STALLS_SLOW_MS", "10")),
        sample_ms=float(env("STALLS_SAMPLE_MS", "5")),
        rate=float(env("STALLS_RATE", "0") or 0),
        gateway_env=dict(kv.split("=", 1) for kv in env("STALLS_GATEWAY_ENV", "").split(",") if "=" in kv),
    )
    doc["command"] = "make bench-stalls"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps({"verdicts": doc["verdicts"], "runs": len(doc["runs"]),
                      "runs_p99_over_10ms": doc["runs_p99_over_10ms"]}))  # fmt: skip
    print(f"written: {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
