"""`make loadtest`: seed, start the stack, run the locust scenarios headless, write a report.

Environment (defaults in brackets):

``GATEWAY_URL``            target this gateway instead of starting one [start one on a free port]
``ADMIN_URL``              admin to seed through, if it is up (see ``loadtests.seed``)
``REDIS_URL``              [redis://127.0.0.1:6379/0; a private server if none answers]
``PROMOGATE_KEY_PREFIX``   key prefix of the load-test data [pglt:]; deleted afterwards
``LOADTEST_SCENARIOS``     comma list of checkout, flash, pos [all three]
``LOADTEST_TIME``          run time per scenario, locust syntax [30s]
``LOADTEST_FLASH_TIME``    run time of the flash sale [90s]: long enough to sell out here
``LOADTEST_USERS``         users of the checkout and POS scenarios [50]
``LOADTEST_FLASH_USERS``   concurrent customers of the flash sale [2000]
``LOADTEST_PROCS``         locust worker processes [cores - gateway workers, at least 1]
``GATEWAY_WORKERS``        gateway worker processes when this starts it [cores // 2, at least 1]
``LOADTEST_KEEP``          1: keep the data in Redis afterwards
``LOADTEST_SEED``          auto | admin | direct (see ``loadtests.seed``) [auto]

Writes ``bench-results/loadtest/``: ``report.md``, ``report.csv`` (per scenario and endpoint:
requests, failures, rps, p50/p95/p99 ms), ``failures.csv`` (by reason) and locust's own CSVs.
Exit status 1 if a scenario had failures or the flash sale did not sell exactly its limit.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from loadtests import seed as seedmod

OUT = seedmod.OUT_DIR
SCENARIOS = {
    # name: (user class, users env, default users, spawn rate)
    "checkout": ("CheckoutUser", "LOADTEST_USERS", 50, 50),
    "flash": ("FlashSaleUser", "LOADTEST_FLASH_USERS", 2000, 500),
    "pos": ("PosUser", "LOADTEST_USERS", 50, 50),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(url: str, timeout: float = 60.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url + "/ready", timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _read_stats(prefix: Path) -> list[dict[str, str]]:
    path = Path(f"{prefix}_stats.csv")
    if not path.exists():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))


def _read_failures(prefix: Path) -> list[dict[str, str]]:
    path = Path(f"{prefix}_failures.csv")
    if not path.exists():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))


def run_scenario(name: str, gateway: str, procs: int, env: dict[str, str]) -> Path:
    cls, users_env, users_default, rate = SCENARIOS[name]
    users = int(os.environ.get(users_env, str(users_default)))
    run_time = os.environ.get("LOADTEST_FLASH_TIME", "90s") if name == "flash" else os.environ.get("LOADTEST_TIME", "30s")
    prefix = OUT / name
    port = _free_port()
    for old in OUT.glob(f"{name}_*.csv"):
        old.unlink()
    cmd = [
        sys.executable, "-m", "locust", "-f", str(Path(__file__).with_name("locustfile.py")),
        "--headless", "--host", gateway, "-u", str(users), "-r", str(rate), "-t", run_time,
        "--csv", str(prefix), "--only-summary", "--exit-code-on-error", "0",
        # the flash sale drains its queue of in-flight redeems so that every answer is counted
        "--stop-timeout", "120" if name == "flash" else "10",
        # a port of its own: a straggling worker of a previous scenario must not join this one
        "--processes", str(procs), "--master-bind-port", str(port), "--master-port", str(port), cls,
    ]  # fmt: skip
    print(f"\n== {name}: {users} users, {run_time}, {procs} locust process(es) ==", flush=True)
    print(" ".join(cmd), flush=True)
    proc = subprocess.Popen(cmd, env=dict(env, LOADTEST_PROCS=str(procs)), start_new_session=True)
    try:
        proc.wait()
    finally:
        # locust's forked workers share the session: end all of them before the next scenario
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            time.sleep(1)
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return prefix


def _flash_check(manifest: seedmod.Manifest, stats: list[dict[str, str]]) -> dict[str, object]:
    import redis

    won = sum(int(r["Request Count"]) - int(r["Failure Count"]) for r in stats if r["Name"] == "redeem [flash won]")
    sold_out = sum(int(r["Request Count"]) for r in stats if r["Name"] == "redeem [flash sold out]")
    client = redis.Redis.from_url(manifest.redis_url)
    try:
        counter = int(client.get(manifest.flash_counter_key) or 0)
        recorded = _ledger_count(client, manifest.prefix + "ledger", manifest.flash_campaign)
    finally:
        client.close()
    ok = won == manifest.flash_limit and counter == manifest.flash_limit and recorded == manifest.flash_limit
    return {"limit": manifest.flash_limit, "won_by_clients": won, "refused_sold_out": sold_out,
            "redis_counter": counter, "ledger_redemptions": recorded, "key": manifest.flash_counter_key,
            "ok": ok}  # fmt: skip


def _ledger_count(client, ledger: str, campaign: str) -> int:
    """Redemptions of ``campaign`` in the ledger stream that were not rolled back."""
    import json

    ids: set[str] = set()
    rolled: set[str] = set()
    start = "-"
    while True:
        batch = client.xrange(ledger, min=start, max="+", count=5000)
        if not batch:
            return len(ids - rolled)
        for entry_id, f in batch:
            if f.get(b"type") == b"redeem":
                data = json.loads(f.get(b"data", b"{}"))
                ids.update(it["redemption"] for it in data.get("items", []) if it.get("campaign") == campaign)
            elif f.get(b"type") == b"rollback":
                rolled.update(json.loads(f.get(b"redemptions", b"[]")))
            start = "(" + entry_id.decode()


def write_report(results: dict[str, list[dict[str, str]]], failures: dict[str, list[dict[str, str]]],
                 flash: dict[str, object] | None, meta: dict[str, str]) -> tuple[Path, bool]:  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for scen, stats in results.items():
        for r in stats:
            rows.append(
                {
                    "scenario": scen,
                    "endpoint": r["Name"],
                    "requests": int(r["Request Count"]),
                    "failures": int(r["Failure Count"]),
                    "rps": round(float(r["Requests/s"]), 1),
                    "p50_ms": r["50%"],
                    "p95_ms": r["95%"],
                    "p99_ms": r["99%"],
                    "max_ms": r["100%"],
                }
            )
    with (OUT / "report.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["scenario"])
        w.writeheader()
        w.writerows(rows)
    frows = []
    for scen, fl in failures.items():
        for r in fl:
            frows.append({"scenario": scen, "endpoint": r["Name"], "reason": r["Error"], "count": int(r["Occurrences"])})
    with (OUT / "failures.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["scenario", "endpoint", "reason", "count"])
        w.writeheader()
        w.writerows(frows)

    md = [f"# promogate load test, {meta['when']}", ""]
    md += [f"- {k}: {v}" for k, v in meta.items() if k != "when"]
    md += ["", "Percentiles are locust's (approximated, ms). `Aggregated` is the whole scenario.", ""]
    md += ["| scenario | endpoint | requests | failures | req/s | p50 | p95 | p99 | max |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in rows:
        md.append(f"| {r['scenario']} | {r['endpoint']} | {r['requests']} | {r['failures']} | {r['rps']} | "
                  f"{r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | {r['max_ms']} |")  # fmt: skip
    md += ["", "## Failures by reason", ""]
    if frows:
        md += ["| scenario | endpoint | reason | count |", "|---|---|---|---:|"]
        md += [f"| {r['scenario']} | {r['endpoint']} | {r['reason']} | {r['count']} |" for r in frows]
    else:
        md.append("none")
    ok = not frows
    if flash is not None:
        md += ["", "## Flash sale", ""]
        md.append(
            f"- limit {flash['limit']}; successful redeems counted by the clients: {flash['won_by_clients']}; "
            f"Redis counter `{flash['key']}`: {flash['redis_counter']}; redemptions of the campaign in the "
            f"ledger stream: {flash['ledger_redemptions']}; refused as sold out: {flash['refused_sold_out']}"
        )
        md.append("- source: the Redis counter and the ledger read directly (admin's campaign figures endpoint is "
                  "not there yet) and the clients' own count of 200 answers")  # fmt: skip
        verdict = "PASS: exactly the limit was redeemed" if flash["ok"] else (
            "FAIL: over-redemption" if max(int(flash["won_by_clients"]), int(flash["redis_counter"]),
                                           int(flash["ledger_redemptions"])) > int(flash["limit"])
            else "NOT SOLD OUT in the run time (raise LOADTEST_FLASH_TIME) or the counts disagree")  # fmt: skip
        md.append(f"- **{verdict}**")
        ok = ok and bool(flash["ok"])
    path = OUT / "report.md"
    path.write_text("\n".join(md) + "\n")
    return path, ok


def main() -> int:
    from gateway.redis_server import ensure_redis

    OUT.mkdir(parents=True, exist_ok=True)
    ncpu = os.cpu_count() or 1
    os.environ.setdefault("PROMOGATE_KEY_PREFIX", seedmod.DEFAULT_PREFIX)
    redis_url, private = ensure_redis(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    os.environ["REDIS_URL"] = redis_url
    if private is not None:
        print(f"no Redis answered: started a private one at {redis_url}")
    gw_workers = int(os.environ.get("GATEWAY_WORKERS") or max(1, ncpu // 2))
    procs = int(os.environ.get("LOADTEST_PROCS") or max(1, ncpu - gw_workers))
    scenarios = [s.strip() for s in os.environ.get("LOADTEST_SCENARIOS", "checkout,flash,pos").split(",") if s.strip()]
    gateway_proc = None
    manifest = None
    try:
        t0 = time.monotonic()
        manifest = seedmod.seed()
        print(f"seeded via {manifest.path} in {time.monotonic() - t0:.1f} s: {manifest.n_promotions} promotions, "
              f"{manifest.unique_codes} unique codes, prefix {manifest.prefix!r}")  # fmt: skip
        gateway = os.environ.get("GATEWAY_URL")
        if not gateway:
            port = _free_port()
            env = dict(os.environ, GATEWAY_PORT=str(port), GATEWAY_HOST="127.0.0.1", GATEWAY_WORKERS=str(gw_workers))
            gateway_proc = subprocess.Popen([sys.executable, "-m", "gateway"], env=env)
            gateway = f"http://127.0.0.1:{port}"
        if not _wait_ready(gateway):
            print(f"gateway at {gateway} is not ready", file=sys.stderr)
            return 2
        time.sleep(1.0)  # let every worker load the new definitions
        results, failures = {}, {}
        flash = None
        for name in scenarios:
            prefix = run_scenario(name, gateway, procs, dict(os.environ))
            results[name] = _read_stats(prefix)
            failures[name] = _read_failures(prefix)
            if name == "flash":
                flash = _flash_check(manifest, results[name])
        meta = {
            "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.machine()}, {ncpu} cores, {platform.python_implementation()} {platform.python_version()}",
            "gateway": f"{gateway} ({'started here, ' + str(gw_workers) + ' worker(s)' if gateway_proc else 'external'})",
            "load generator": f"locust, {procs} worker process(es), same machine over loopback",
            "data": f"{manifest.n_promotions} promotions + 5 coupon campaigns, {manifest.unique_codes} unique codes, "
                    f"seeded via {manifest.path}",
            "run time": f"{os.environ.get('LOADTEST_TIME', '30s')} per scenario, flash {os.environ.get('LOADTEST_FLASH_TIME', '90s')}",
        }  # fmt: skip
        path, ok = write_report(results, failures, flash, meta)
        print("\n" + path.read_text())
        print(f"report: {path}  (and {OUT / 'report.csv'}, {OUT / 'failures.csv'})")
        return 0 if ok else 1
    finally:
        _stop(gateway_proc)
        if manifest is not None and os.environ.get("LOADTEST_KEEP") != "1":
            n = seedmod.cleanup(manifest.redis_url, manifest.prefix)
            print(f"deleted {n} load-test keys under {manifest.prefix!r}")
        if private is not None:
            private.close()


if __name__ == "__main__":
    raise SystemExit(main())
