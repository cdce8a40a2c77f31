"""Serve the admin API, or move definitions in and out of Redis.

``python -m admin``                  serve on ADMIN_HOST:ADMIN_PORT (default 127.0.0.1:8001)
``python -m admin export FILE``      write every definition, code, customer and segment (NDJSON)
``python -m admin import FILE``      load such a file into an empty instance

Reads REDIS_URL, PROMOGATE_KEY_PREFIX and the rest of store.settings.
"""

from __future__ import annotations

import asyncio
import sys
import time

from store.settings import Settings


def serve() -> None:
    from store.process import serve as serve_app

    settings = Settings.from_env()
    serve_app("admin.app:create_app", factory=True, host=settings.admin_host, port=settings.admin_port)


async def _export(path: str) -> int:
    import redis.asyncio as aredis

    from store.keys import Keys

    from .transfer import export_ndjson

    s = Settings.from_env()
    r = aredis.Redis.from_url(s.redis_url)
    try:
        with open(path, "wb") as f:
            async for chunk in export_ndjson(r, Keys(s.key_prefix), int(time.time() * 1000)):
                f.write(chunk)
    finally:
        await r.aclose()
    print(f"exported to {path}")
    return 0


async def _import(path: str) -> int:
    import redis.asyncio as aredis

    from store.keys import Keys

    from .audit import Actor
    from .errors import ApiError, request_id
    from .transfer import import_ndjson

    s = Settings.from_env()
    r = aredis.Redis.from_url(s.redis_url)

    async def lines():  # type: ignore[no-untyped-def]
        with open(path, "rb") as f:
            for ln in f:
                yield ln.rstrip(b"\n")

    try:
        counts = await import_ndjson(r, Keys(s.key_prefix), lines, Actor("cli", "python -m admin import", "admin"),
                                     request_id(), int(time.time() * 1000))  # fmt: skip
    except ApiError as exc:
        print(f"import refused: {exc.key}: {exc.details}", file=sys.stderr)
        return 1
    finally:
        await r.aclose()
    print(f"imported {counts}")
    return 0


def main(argv: list[str]) -> int:
    if not argv:
        serve()
        return 0
    if len(argv) == 2 and argv[0] == "export":
        return asyncio.run(_export(argv[1]))
    if len(argv) == 2 and argv[0] == "import":
        return asyncio.run(_import(argv[1]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
