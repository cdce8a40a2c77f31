"""Where a gateway worker's CPU goes, from a py-spy collapsed-stack profile.

    py-spy record --pid <gateway pid> --duration 15 --rate 200 --nolineno --format raw -o prof.txt
    python -m loadtests.profile_summary prof.txt [rps of the worker while recorded, at saturation]

With the rps of a saturated (100 % CPU) worker, each bucket is also shown as µs per request
(share x 1 s / rps).

Each sample is put in the first bucket (searching from the innermost frame outwards) whose rule
matches; C code called from Python (msgspec, hiredis, hashlib) is charged to the Python frame
that called it, so e.g. msgspec's encoding shows under ``encode (gateway/schemas.py)``.
"""

from __future__ import annotations

import sys
from collections import Counter

# (bucket, test on "function (file)") in priority order for the innermost frame
IDLE = ("Condition.wait", "_worker (concurrent/futures/thread.py)")  # idle thread-pool threads
RULES: list[tuple[str, tuple[str, ...]]] = [
    # the compiled core has no Python frames: its time lands on the line that calls it
    ("core evaluate/qualify (compiled)", ("Gateway.evaluate (gateway/app.py)", "qualifications (gateway/app.py)")),
    ("msgspec decode (request)", ("decode_validations", "decode_redemptions", "decode_qualifications",
                                  "decode_rollback", "_decode (gateway/app.py)")),
    ("msgspec encode (response)", ("encode (gateway/schemas.py)",)),
    ("render (gateway/render.py)", ("gateway/render.py",)),
    ("core evaluate/qualify", ("core/", "_engine")),
    ("metrics (prometheus_client)", ("prometheus_client", "gateway/metrics.py")),
    ("Redis client (redis-py, autopipe)", ("redis/", "store/autopipe.py", "store/counters.py", "hiredis")),
    ("auth, ids, hashing (gateway)", ("gateway/live.py", "token_hex", "secrets", "hashlib", "hmac",
                                      "_fingerprint", "_new_id", "_rid")),
    ("orjson / ledger", ("orjson",)),
    ("Litestar framework", ("litestar/",)),
    ("uvicorn + httptools (HTTP server)", ("uvicorn/", "httptools")),
    ("asyncio / uvloop (event loop)", ("asyncio/", "uvloop")),
    ("gateway handler glue (app.py)", ("gateway/app.py",)),
]  # fmt: skip


def classify(frames: list[str]) -> str:
    if frames and any(n in frames[-1] for n in RULES[0][1]):
        return RULES[0][0]
    for frame in reversed(frames):
        for bucket, needles in RULES[1:]:
            if any(n in frame for n in needles):
                return bucket
    return "other: " + (frames[-1] if frames else "?")


def summarize(path: str) -> tuple[Counter, int]:
    buckets: Counter = Counter()
    total = 0
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            stack, _, n = line.rpartition(" ")
            count = int(n)
            frames = [fr for fr in stack.split(";") if not fr.startswith("process ") and not fr.startswith("thread ")]
            if frames and any(i in frames[-1] for i in IDLE):
                continue
            buckets[classify(frames)] += count
            total += count
    return buckets, total


def main() -> None:
    path = sys.argv[1]
    rps = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    buckets, total = summarize(path)
    print(f"{total} samples" + (f", worker at {rps:g} rps" if rps else ""))
    print("| where | share of CPU samples |" + (" ~µs per request |" if rps else ""))
    print("|---|---:|" + ("---:|" if rps else ""))
    for bucket, n in buckets.most_common(25):
        row = f"| {bucket} | {100 * n / total:.1f} % |"
        if rps:
            row += f" {n / total * 1e6 / rps:.0f} |"
        print(row)


if __name__ == "__main__":
    main()
