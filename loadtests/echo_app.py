"""The framework ceiling: a bare ASGI app that echoes the request body, served exactly as the
gateway is (uvicorn, uvloop, httptools, one worker, no access log).

    python -m loadtests.echo_app --port 8090
"""

from __future__ import annotations

import argparse
import os

import uvicorn

_HEADERS_JSON = [(b"content-type", b"application/json")]


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        msg = await receive()
        body += msg.get("body", b"")
        more = msg.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [*_HEADERS_JSON, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8090)
    a = p.parse_args()
    # the same call as gateway/__main__.py, with one worker
    uvicorn.run(
        "loadtests.echo_app:app",
        host=a.host,
        port=a.port,
        workers=1,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level=os.environ.get("PROMOGATE_LOG_LEVEL", "warning"),
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
