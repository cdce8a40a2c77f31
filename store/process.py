"""Running promogate's processes on this machine: how they are served, free ports, readiness.

One place for what the gateway, the admin service, the benchmark's echo app, ``make run``, the
load tests and the test fixtures each used to spell out on their own. :func:`serve` matters
most: the ceiling benchmark compares the gateway with an echo app served *the same way*, which
is now the same call.
"""

from __future__ import annotations

import os
import socket
import time
import urllib.request

LOOPBACK = "127.0.0.1"


def serve(app: str, *, host: str, port: int, workers: int = 1, factory: bool = False) -> None:
    """Serve the ASGI ``app`` ("module:attribute") as promogate's services are: uvicorn with
    uvloop and httptools, no access log, ``PROMOGATE_LOG_LEVEL`` [warning], 5 s to shut down."""
    import uvicorn

    uvicorn.run(
        app,
        factory=factory,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level=os.environ.get("PROMOGATE_LOG_LEVEL", "warning"),
        timeout_graceful_shutdown=5,
    )


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0) -> bool:
    """Poll ``url`` until it answers 200 (True) or ``timeout`` seconds pass (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False
