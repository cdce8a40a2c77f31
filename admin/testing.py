"""Test support: the real admin app served by uvicorn in a thread, and a real gateway process.

Used by tests/integration/test_admin_*.py and the admin benchmark; handy in a REPL too::

    with AdminServer(redis_url, "pgdev:") as srv:
        srv.request("GET", "/v1/campaigns")
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import redis

from store import defs as defstore
from store.process import free_port
from store.settings import Settings


class AdminServer:
    """``create_app(settings, clock)`` served on a free loopback port in a background thread.

    A bootstrap key with the ``admin`` role is created; :meth:`key` makes keys of other roles.
    """

    def __init__(
        self,
        redis_url: str,
        prefix: str,
        clock: Callable[[], int] | None = None,
        **settings: Any,
    ) -> None:
        """``settings`` override fields of :class:`~store.settings.Settings` (e.g.
        ``redis_timeout=0.5``)."""
        self.redis_url = redis_url
        self.prefix = prefix
        self.clock = clock
        self.settings = settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin_id = "admin_" + secrets.token_hex(4)
        self.admin_token = secrets.token_urlsafe(24)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.http = httpx.Client(base_url=self.url, timeout=60)

    def __enter__(self) -> AdminServer:
        import uvicorn

        from .app import create_app

        client = redis.Redis.from_url(self.redis_url)
        defstore.put_app_key_sync(
            client, self.prefix, self.admin_id, self.admin_token, "admin", "test admin"
        )
        client.close()
        # no background ledger fold unless a test asks for one (ledger_fold=...): the suites'
        # "nothing written" snapshots of the keyspace must not see a fold land mid-test
        settings = Settings(
            redis_url=self.redis_url, key_prefix=self.prefix, admin_port=self.port,
            **{"ledger_fold": 0.0, **self.settings},
        )
        app = create_app(settings, self.clock)
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            loop="asyncio",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="admin-server", daemon=True)
        self._thread.start()
        end = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > end or not self._thread.is_alive():
                raise RuntimeError("the admin server did not start")
            time.sleep(0.02)
        self.app = app
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=20)

    # -- calls ---------------------------------------------------------------------------------

    def headers(self, key: tuple[str, str] | None = None) -> dict[str, str]:
        kid, tok = key or (self.admin_id, self.admin_token)
        return {"X-App-Id": kid, "X-App-Token": tok}

    def request(
        self, method: str, path: str, key: tuple[str, str] | None = None, **kw: Any
    ) -> httpx.Response:
        headers = {**self.headers(key), **kw.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kw)

    def key(self, role: str, name: str | None = None) -> tuple[str, str]:
        r = self.request("POST", "/v1/keys", json={"name": name or f"{role} key", "role": role})
        r.raise_for_status()
        body = r.json()
        return body["id"], body["token"]

    def sdk(self, key: tuple[str, str] | None = None) -> Any:
        """A voucherify ``ApiClient`` on this server (use it in a ``with`` block)."""
        import voucherify as v

        kid, tok = key or (self.admin_id, self.admin_token)
        cfg = v.Configuration(host=self.url, api_key={"X-App-Id": kid, "X-App-Token": tok})
        return v.ApiClient(cfg)

    def wait_action(self, action_id: str, timeout: float = 120.0) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while True:
            a = self.request("GET", f"/v1/async-actions/{action_id}").json()
            if a.get("status") in ("DONE", "FAILED"):
                return a
            if time.monotonic() > end:
                raise TimeoutError(f"async action {action_id} still {a.get('status')}")
            time.sleep(0.05)


class GatewayProcess:
    """``python -m gateway`` as a subprocess on a free port, with its own key prefix."""

    def __init__(self, redis_url: str, prefix: str, workers: int = 2, env: dict[str, str] | None = None) -> None:
        self.extra_env = env or {}  # more environment for the process (e.g. PROMOGATE_LEDGER_MAXLEN)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.redis_url = redis_url
        self.prefix = prefix
        self.workers = workers
        self.app_id = "app_" + secrets.token_hex(4)
        self.app_token = secrets.token_urlsafe(24)
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> GatewayProcess:
        client = redis.Redis.from_url(self.redis_url)
        defstore.put_app_key_sync(
            client, self.prefix, self.app_id, self.app_token, "application", "test checkout"
        )
        client.close()
        env = dict(
            os.environ,
            REDIS_URL=self.redis_url,
            PROMOGATE_KEY_PREFIX=self.prefix,
            GATEWAY_PORT=str(self.port),
            GATEWAY_HOST="127.0.0.1",
            GATEWAY_WORKERS=str(self.workers),
            **self.extra_env,
        )
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "gateway"], env=env)
        end = time.monotonic() + 30
        while True:
            try:
                if httpx.get(self.url + "/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError("the gateway did not become ready")
            time.sleep(0.1)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def validate(self, code: str, amount: int = 10_000, customer: str = "cust_1") -> dict[str, Any]:
        r = httpx.post(
            self.url + "/v1/validations",
            headers={"X-App-Id": self.app_id, "X-App-Token": self.app_token},
            json={
                "customer": {"source_id": customer},
                "order": {"amount": amount},
                "redeemables": [{"object": "voucher", "id": code}],
            },
            timeout=5,
        )
        r.raise_for_status()
        return r.json()

    def redeem(self, code: str, amount: int = 10_000, customer: str = "cust_1") -> httpx.Response:
        return httpx.post(
            self.url + "/v1/redemptions",
            headers={"X-App-Id": self.app_id, "X-App-Token": self.app_token},
            json={
                "customer": {"source_id": customer},
                "order": {"amount": amount},
                "redeemables": [{"object": "voucher", "id": code}],
            },
            timeout=5,
        )
