"""The framework ceiling: a bare ASGI app that echoes the request body, served exactly as the
gateway is (uvicorn, uvloop, httptools, one worker, no access log).

    python -m loadtests.echo_app --port 8090
    python -m loadtests.echo_app --port 8091 --redis redis://127.0.0.1:6379/0

With ``--redis`` each request first makes the least Redis work any hot endpoint makes: one call
of the gateway's own ``check`` script on one counter key, through the gateway's auto-pipeliner
(:mod:`store.autopipe`). That is the ceiling of the design itself (HTTP server + one pipelined
Redis round trip per request), with none of promogate's request handling.
"""

from __future__ import annotations

import argparse
import os
import time

from store.process import serve

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
    if _REDIS is not None:
        pipe, script, key = _REDIS
        await pipe.evalsha(script, [key], (int(time.time() * 1000), ""))
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [*_HEADERS_JSON, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


_REDIS: tuple | None = None


def _with_redis() -> None:
    """Set up the Redis call from ``ECHO_REDIS_URL`` (the uvicorn worker imports this module)."""
    global _REDIS
    url = os.environ.get("ECHO_REDIS_URL")
    if not url:
        return
    import redis.asyncio as aredis

    from store.autopipe import AutoPipeline
    from store.counters import load_scripts

    prefix = os.environ.get("PROMOGATE_KEY_PREFIX", "pgbench:")
    _REDIS = (AutoPipeline(aredis.Redis.from_url(url)), load_scripts()["check"], prefix + "echo:counter")


_with_redis()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8090)
    p.add_argument("--redis", help="make one pipelined Redis script call per request")
    a = p.parse_args()
    if a.redis:
        os.environ["ECHO_REDIS_URL"] = a.redis
    # the same call as gateway/__main__.py (store.process.serve), with one worker
    serve("loadtests.echo_app:app", host=a.host, port=a.port, workers=1)


if __name__ == "__main__":
    main()
