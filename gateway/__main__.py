"""Serve the checkout gateway: ``python -m gateway`` (uvicorn + uvloop + httptools).

Reads GATEWAY_HOST, GATEWAY_PORT, GATEWAY_WORKERS and the rest of store.settings.
"""

from __future__ import annotations

import os
import tempfile

from store.process import serve
from store.settings import Settings


def main() -> None:
    settings = Settings.from_env()
    workers = max(1, settings.gateway_workers)
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # every worker writes its metrics here; /metrics on any worker sums them
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="promogate-metrics-")
    serve(
        "gateway.app:create_app",
        factory=True,
        host=settings.gateway_host,
        port=settings.gateway_port,
        workers=workers,
    )


if __name__ == "__main__":
    main()
