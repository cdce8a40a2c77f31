"""`make loadtest`: start the stack, seed it through admin, run the locust scenarios headless,
write a report.

Environment (defaults in brackets):

``GATEWAY_URL``            target this gateway instead of starting one [start one on a free port]
``ADMIN_URL``              target this admin (seeding, figures) instead of starting one
                           (``python -m admin`` on a free port); it must use the same
                           ``REDIS_URL`` and ``PROMOGATE_KEY_PREFIX`` as the gateway
``REDIS_URL``              [redis://127.0.0.1:6379/0; a private server if none answers]
``PROMOGATE_KEY_PREFIX``   key prefix of the load-test data [pglt:]; deleted afterwards
``LOADTEST_SCENARIOS``     comma list of checkout, flash, pos [all three]
``LOADTEST_TIME``          run time per scenario, locust syntax [30s]
``LOADTEST_FLASH_TIME``    run time of the flash sale [90s]: long enough to sell out here
``LOADTEST_FLASH_DRAIN``   the flash customers stop buying this many seconds before its end [5]
``LOADTEST_USERS``         users of the checkout and POS scenarios [50]
``LOADTEST_FLASH_USERS``   concurrent customers of the flash sale [2000]
``LOADTEST_PROCS``         locust worker processes [cores - gateway workers, at least 1]
``GATEWAY_WORKERS``        gateway worker processes when this starts it [cores // 2, at least 1]
``LOADTEST_KEEP``          1: keep the data in Redis afterwards
``LOADTEST_SEED``          admin | direct (see ``loadtests.seed``) [admin]
``LOADTEST_ADMIN_RULESET`` import | calls: the promotions in one definitions import, or one call
                           each (see ``loadtests.seed``) [import]

Writes ``bench-results/loadtest/``: ``report.md``, ``report.csv`` (per scenario and endpoint:
requests, failures, rps, p50/p95/p99 ms), ``failures.csv`` (by reason) and locust's own CSVs.
Exit status 1 if a scenario had failures or the flash sale did not sell exactly its limit
(read back from admin's ``GET /v1/reports/campaigns/{id}``, cross-checked with the Redis counter
and the clients' own count).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

from loadtests import seed as seedmod
from store.process import free_port, wait_http

OUT = seedmod.OUT_DIR
SCENARIOS = {
    # name: (user class, users env, default users, spawn rate)
    "checkout": ("CheckoutUser", "LOADTEST_USERS", 50, 50),
    "flash": ("FlashSaleUser", "LOADTEST_FLASH_USERS", 2000, 500),
    "pos": ("PosUser", "LOADTEST_USERS", 50, 50),
}


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
    port = free_port()
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
    from locust.util.timespan import parse_timespan

    # the flash customers stop buying LOADTEST_FLASH_DRAIN s before the end (see the locustfile)
    env = dict(env, LOADTEST_PROCS=str(procs), LOADTEST_FLASH_SECONDS=str(parse_timespan(run_time)))
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
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
    """Exactly ``flash_limit`` redemptions of the flash campaign succeeded?

    The figure of record is admin's campaign report (``GET /v1/reports/campaigns/{id}``, built
    from the ledger): ``redemptions.succeeded`` there counts redemptions whose record is not
    rolled back (a rolled-back one is counted in ``rolled_back`` instead), so it is the net count.
    Cross-checked: the code's Redis counter and the clients' count of winning answers."""
    import redis

    won = sum(int(r["Request Count"]) - int(r["Failure Count"]) for r in stats if r["Name"] == "redeem [flash won]")
    sold_out = sum(int(r["Request Count"]) for r in stats if r["Name"] == "redeem [flash sold out]")
    client = redis.Redis.from_url(manifest.redis_url)
    try:
        counter = int(client.get(manifest.flash_counter_key) or 0)
    finally:
        client.close()
    a = seedmod.AdminClient(manifest.admin_url, manifest.report_key_id, manifest.report_key_token)
    try:
        report = a.call("GET", f"/v1/reports/campaigns/{manifest.flash_campaign}")
        voucher = a.call("GET", f"/v1/vouchers/{manifest.flash_code}")
    finally:
        a.close()
    red = report["redemptions"]
    net = int(red["succeeded"])
    limit = manifest.flash_limit
    ok = net == limit and counter == limit and won == limit
    return {"limit": limit, "admin_succeeded": net, "admin_rolled_back": int(red["rolled_back"]),
            "admin_failed": int(red["failed"]), "admin_budget_used": report["budget"]["redemptions"]["used"],
            "admin_redeemed_quantity": (voucher.get("redemption") or {}).get("redeemed_quantity"),
            "report_url": f"{manifest.admin_url}/v1/reports/campaigns/{manifest.flash_campaign}",
            "won_by_clients": won, "refused_sold_out": sold_out, "redis_counter": counter,
            "key": manifest.flash_counter_key, "ok": ok}  # fmt: skip


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
            f"- limit {flash['limit']}; **admin's figures** (`GET {flash['report_url']}`): "
            f"redemptions succeeded {flash['admin_succeeded']} (net: a rolled-back redemption is counted in "
            f"`rolled_back`, here {flash['admin_rolled_back']}), failed {flash['admin_failed']} (refused redeems "
            f"the gateway wrote to the ledger); "
            f"`budget.redemptions.used` {flash['admin_budget_used']}; the code's `redemption.redeemed_quantity` "
            f"{flash['admin_redeemed_quantity']}"
        )
        md.append(
            f"- cross-checks: Redis counter `{flash['key']}`: {flash['redis_counter']}; successful redeems "
            f"counted by the clients: {flash['won_by_clients']}; refused as sold out: {flash['refused_sold_out']}"
        )
        md.append("- the verdict uses admin's `redemptions.succeeded`; the Redis counter and the clients' "
                  "count must agree with it")  # fmt: skip
        verdict = "PASS: exactly the limit was redeemed" if flash["ok"] else (
            "FAIL: over-redemption" if max(int(flash["won_by_clients"]), int(flash["redis_counter"]),
                                           int(flash["admin_succeeded"])) > int(flash["limit"])
            else "NOT SOLD OUT in the run time (raise LOADTEST_FLASH_TIME) or the counts disagree")  # fmt: skip
        md.append(f"- **{verdict}**")
        ok = ok and bool(flash["ok"])
    path = OUT / "report.md"
    path.write_text("\n".join(md) + "\n")
    return path, ok


def main() -> int:
    from store.redis_server import ensure_redis

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
    gateway_proc = admin_proc = None
    manifest = None
    try:
        admin = os.environ.get("ADMIN_URL")
        if not admin:
            port = free_port()
            env = dict(os.environ, ADMIN_PORT=str(port), ADMIN_HOST="127.0.0.1")
            admin_proc = subprocess.Popen([sys.executable, "-m", "admin"], env=env)
            admin = os.environ["ADMIN_URL"] = f"http://127.0.0.1:{port}"
        if not wait_http(admin + "/ready", 60.0):
            print(f"admin at {admin} is not ready", file=sys.stderr)
            return 2
        manifest = seedmod.seed()
        print(f"seeded via {manifest.path} in {manifest.seed_seconds} s ({manifest.seed_calls} admin calls): "
              f"{manifest.n_promotions} promotions, {manifest.unique_codes} unique codes, prefix {manifest.prefix!r}")  # fmt: skip
        gateway = os.environ.get("GATEWAY_URL")
        if not gateway:
            port = free_port()
            env = dict(os.environ, GATEWAY_PORT=str(port), GATEWAY_HOST="127.0.0.1", GATEWAY_WORKERS=str(gw_workers))
            gateway_proc = subprocess.Popen([sys.executable, "-m", "gateway"], env=env)
            gateway = f"http://127.0.0.1:{port}"
        if not wait_http(gateway + "/ready", 60.0):
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
            "admin": f"{admin} ({'started here' if admin_proc else 'external'})",
            "load generator": f"locust, {procs} worker process(es), same machine over loopback",
            "data": f"{manifest.n_promotions} promotions + 5 coupon campaigns, {manifest.unique_codes} unique codes, "
                    f"seeded via {manifest.path} in {manifest.seed_seconds} s"
                    + (f" ({manifest.seed_calls} admin API calls, ruleset "
                       f"{os.environ.get('LOADTEST_ADMIN_RULESET', 'import')})" if manifest.path == "admin" else ""),
            "run time": f"{os.environ.get('LOADTEST_TIME', '30s')} per scenario, flash {os.environ.get('LOADTEST_FLASH_TIME', '90s')}",
        }  # fmt: skip
        path, ok = write_report(results, failures, flash, meta)
        print("\n" + path.read_text())
        print(f"report: {path}  (and {OUT / 'report.csv'}, {OUT / 'failures.csv'})")
        return 0 if ok else 1
    finally:
        _stop(gateway_proc)
        _stop(admin_proc)
        if manifest is not None and os.environ.get("LOADTEST_KEEP") != "1":
            n = seedmod.cleanup(manifest.redis_url, manifest.prefix)
            print(f"deleted {n} load-test keys under {manifest.prefix!r}")
        if private is not None:
            private.close()


if __name__ == "__main__":
    raise SystemExit(main())
