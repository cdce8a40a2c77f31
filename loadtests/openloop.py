"""An open-loop, constant-rate HTTP/1.1 load generator (asyncio + uvloop, keep-alive pool).

Request ``i`` is due at ``start + i / rate`` whatever happened to earlier ones; its latency is
measured from that due time to the last byte of the answer, so time spent queued behind a slow
answer counts (no coordinated omission). ``--connections`` keep-alive connections share the
queue; if all are busy, requests wait in it (and that wait is in the latency).

    python -m loadtests.openloop --url http://127.0.0.1:8000 --rate 800 --duration 10 \\
        --request request.json [--ids ids.txt --ids-offset 0]

``request.json``: ``{"method": "POST", "path": "/v1/validations", "headers": {...},
"body": "<text>"}``; with ``--ids`` the path's (and the body's) ``{id}`` is replaced by line
``offset + i``. A request with ``"seq_prefix"`` is a template: in its body ``{seq}`` becomes
``<seq_prefix><offset + i>`` (a new order per request) and ``{cust}`` becomes
``(offset + i) % pool`` (``"pool"``, a customer of a pool); ``loadtests.ceiling``'s wrk scripts
build the same bodies.
Prints one JSON object: sent, ok (2xx), non_2xx, errors, rate achieved, p50/p90/p99/max ms
(of the requests due after the first ``--warmup`` seconds).

``--timeline FILE`` also writes, for :mod:`loadtests.stalls`, one JSON object: every request's
due time and latency (``due`` / ``lat``, seconds, due times as ``time.monotonic`` readings, the
clock ``/proc`` samplers can share), and the client's OWN lateness: a ticker task asks to wake
every millisecond and records each wake-up later than 2 ms (``lag``: [[monotonic s, late s],
...]), so that a stall of the client itself is told apart from a slow answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit


def _pct(sorted_vals: list[float], q: float) -> float:
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, int(round(q * (len(sorted_vals) - 1)))))
    return sorted_vals[k]


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = None
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        n = name.strip().lower()
        if n == b"content-length":
            length = int(value)
        elif n == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if length is not None:
        await reader.readexactly(length)
    elif chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


async def run(a: argparse.Namespace) -> dict:
    u = urlsplit(a.url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    with open(a.request) as f:
        spec = json.load(f)
    body = spec.get("body", "").encode()
    hdrs = "".join(f"{k}: {v}\r\n" for k, v in spec.get("headers", {}).items())
    method, path = spec.get("method", "POST"), spec["path"]
    ids: list[str] = []
    if a.ids:
        with open(a.ids) as f:
            ids = [x.strip() for x in f if x.strip()][a.ids_offset :]

    seq_prefix = spec.get("seq_prefix")
    pool = int(spec.get("pool") or 1)
    text = spec.get("body", "")

    def request_bytes(i: int) -> bytes:
        p, b = path, body
        if ids:
            the_id = ids[i] if i < len(ids) else "exhausted"
            p = path.replace("{id}", the_id)
            if "{id}" in text:
                b = text.replace("{id}", the_id).encode()
        if seq_prefix is not None:
            n = a.ids_offset + i + 1  # as the wrk script counts
            b = text.replace("{seq}", f"{seq_prefix}{n}").replace("{cust}", str(n % pool)).encode()
        return (
            f"{method} {p} HTTP/1.1\r\nHost: {host}:{port}\r\n{hdrs}Content-Length: {len(b)}\r\n\r\n"
        ).encode() + b

    fixed = None if ids or seq_prefix is not None else request_bytes(0)
    total = int(a.rate * a.duration)
    queue: asyncio.Queue = asyncio.Queue()
    lat: list[tuple[float, float]] = []  # (due offset s, latency s)
    counts = {"ok": 0, "non_2xx": 0, "errors": 0}
    # uvloop's loop.time() ticks in whole milliseconds; CLOCK_MONOTONIC is what perf_counter
    # reads on Linux too, and what a sampler in another process can read (--timeline)
    clock = time.monotonic if a.timeline else time.perf_counter
    start = clock() + 0.2
    lag: list[tuple[float, float]] = []
    ticking = True

    async def ticker() -> None:
        while ticking:
            t = clock()
            await asyncio.sleep(0.001)
            late = clock() - t - 0.001
            if late > 0.002:
                lag.append((t, late))

    async def worker() -> None:
        reader = writer = None
        while True:
            item = await queue.get()
            if item is None:
                break
            i, due = item
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                writer.write(fixed if fixed is not None else request_bytes(i))
                status = await _read_response(reader)
                done = clock()
                lat.append((due - start, done - due))
                if 200 <= status < 300:
                    counts["ok"] += 1
                else:
                    counts["non_2xx"] += 1
            except (OSError, asyncio.IncompleteReadError, ValueError):
                counts["errors"] += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    workers = [asyncio.create_task(worker()) for _ in range(a.connections)]
    tick = asyncio.create_task(ticker()) if a.timeline else None
    # open the connections before the clock starts
    await asyncio.sleep(0.1)
    i = 0
    interval = 1.0 / a.rate
    while i < total:
        now = clock()
        due = start + i * interval
        if due > now:
            await asyncio.sleep(due - now)
            continue
        while i < total and start + i * interval <= now:
            queue.put_nowait((i, start + i * interval))
            i += 1
    for _ in workers:
        queue.put_nowait(None)
    t_end = clock()
    await asyncio.gather(*workers)
    ticking = False
    if tick is not None:
        await tick
        with open(a.timeline, "w") as f:
            json.dump({"due": [round(start + x[0], 6) for x in lat], "lat": [round(x[1], 6) for x in lat],
                       "lag": [[round(t, 6), round(x, 6)] for t, x in lag]}, f)  # fmt: skip
    kept = sorted(x[1] * 1000 for x in lat if x[0] >= a.warmup)
    return {
        "rate_target": a.rate,
        "sent": total,
        "rate_achieved": round(len(lat) / max(1e-9, (t_end - start)), 1),
        **counts,
        "samples": len(kept),
        "p50_ms": round(_pct(kept, 0.50), 3),
        "p90_ms": round(_pct(kept, 0.90), 3),
        "p99_ms": round(_pct(kept, 0.99), 3),
        "max_ms": round(kept[-1], 3) if kept else None,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--rate", type=float, required=True, help="requests per second")
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of samples left out")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--request", required=True)
    p.add_argument("--ids")
    p.add_argument("--ids-offset", type=int, default=0)
    p.add_argument("--timeline", help="write every request's due time and latency, and the client's own lag, here")
    a = p.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    t0 = time.perf_counter()
    out = asyncio.run(run(a))
    out["wall_s"] = round(time.perf_counter() - t0, 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
