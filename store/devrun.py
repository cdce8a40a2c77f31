"""`make run`: a private Redis if none answers, the demo data set, the gateway (and admin).

Prints the application key to use; Ctrl-C stops everything it started.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time

import redis

from . import defs, demo
from .keys import Keys
from .process import wait_http
from .redis_server import ensure_redis
from .settings import Settings


def main() -> int:
    settings = Settings.from_env()
    url, private = ensure_redis(settings.redis_url)
    env = dict(os.environ, REDIS_URL=url)
    if private is not None:
        print(f"no Redis at {settings.redis_url}: started a private one at {url}")
    app_id = os.environ.get("PROMOGATE_APP_ID") or "app_demo"
    app_token = os.environ.get("PROMOGATE_APP_TOKEN") or secrets.token_urlsafe(24)
    admin_id = os.environ.get("PROMOGATE_ADMIN_ID") or "admin_demo"
    admin_token = os.environ.get("PROMOGATE_ADMIN_TOKEN") or secrets.token_urlsafe(24)
    client = redis.Redis.from_url(url)
    prefix = settings.key_prefix
    keys = Keys(prefix)
    if not client.exists(keys.defs):
        defs.publish_definitions_sync(client, prefix, demo.definitions())
        print("loaded the demo data set")
    else:
        print(f"definitions already in Redis (version {int(client.get(keys.version) or 0)}): kept")
    defs.put_app_key_sync(client, prefix, app_id, app_token, "application", "bootstrap checkout key")
    defs.put_app_key_sync(client, prefix, admin_id, admin_token, "admin", "bootstrap admin key")
    client.close()

    procs = [subprocess.Popen([sys.executable, "-m", "gateway"], env=env)]
    procs.append(subprocess.Popen([sys.executable, "-m", "admin"], env=env))
    gw = f"http://{settings.gateway_host}:{settings.gateway_port}"
    admin = f"http://{settings.admin_host}:{settings.admin_port}"
    ok = wait_http(gw + "/ready") and wait_http(admin + "/ready")
    print(
        f"""
promogate {'is up' if ok else 'did not become ready in 30 s (see the log above)'}
  gateway  {gw}   ({settings.gateway_workers} workers)
  admin    {admin}
  web UI   {admin}/   (sign in with the admin key: key id {admin_id}, its token below)
  redis    {url}  (prefix {prefix!r})

  checkout key:  X-App-Id: {app_id}   X-App-Token: {app_token}
  admin key:     X-App-Id: {admin_id}   X-App-Token: {admin_token}

try:
  curl -s {gw}/v1/validations -H 'X-App-Id: {app_id}' -H 'X-App-Token: {app_token}' \\
    -H 'Content-Type: application/json' \\
    -d '{{"customer":{{"source_id":"cust_1"}},"order":{{"amount":12000}},"redeemables":[{{"object":"voucher","id":"SUMMER20"}}]}}'
Ctrl-C stops everything.""",
        flush=True,
    )
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and all(p.poll() is None for p in procs):
            time.sleep(0.5)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        if private is not None:
            private.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
