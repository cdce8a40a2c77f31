"""Settings of the gateway and admin services, read once from the environment."""

from __future__ import annotations

import os

import msgspec


def _env(name: str, default: str) -> str:
    v = os.environ.get(name)
    return v if v not in (None, "") else default


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    #: Redis URL (REDIS_URL). A private server is started by `make run` if none answers.
    redis_url: str = "redis://127.0.0.1:6379/0"
    #: prefix of every Redis key (PROMOGATE_KEY_PREFIX)
    key_prefix: str = "pg:"
    #: gateway bind address (GATEWAY_HOST, GATEWAY_PORT)
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    #: gateway worker processes (GATEWAY_WORKERS)
    gateway_workers: int = 2
    #: admin bind address (ADMIN_HOST, ADMIN_PORT)
    admin_host: str = "127.0.0.1"
    admin_port: int = 8001
    #: seconds a Redis call may take before the gateway or admin answers 503
    #: (PROMOGATE_REDIS_TIMEOUT)
    redis_timeout: float = 1.0
    #: Redis batches the auto-pipeliner keeps on the wire at once; calls made meanwhile queue
    #: and go out together in the next (PROMOGATE_PIPELINE_INFLIGHT)
    pipeline_inflight: int = 1
    #: seconds between safety-net checks of the definitions version (PROMOGATE_RULESET_POLL)
    ruleset_poll: float = 5.0
    #: largest request body accepted, bytes (PROMOGATE_MAX_BODY)
    max_body: int = 1_048_576
    #: seconds an idempotent answer is kept (PROMOGATE_IDEMPOTENCY_TTL)
    idempotency_ttl: int = 86_400
    #: approximate length kept of the redemption ledger stream (PROMOGATE_LEDGER_MAXLEN)
    ledger_maxlen: int = 1_000_000
    #: seconds between admin's background folds of the ledger into its report views; 0 = fold
    #: only when a report is read (PROMOGATE_LEDGER_FOLD)
    ledger_fold: float = 5.0
    #: seconds a web UI session lasts after sign-in (PROMOGATE_UI_SESSION_TTL)
    ui_session_ttl: int = 28_800
    #: the gateway workers' garbage collector thresholds, "gen0,gen1,gen2" as for
    #: ``gc.set_threshold`` (PROMOGATE_GC_THRESHOLD). Python's own 700,10,10 collected the
    #: young generation every ~16 requests and found nothing to free (no cycles): a tenth of a
    #: worker's CPU at saturation went to it (BENCHMARKS.md, "Target 3: where the p99 stalls
    #: come from"); an empty tuple leaves the interpreter's thresholds as they are
    gc_threshold: tuple[int, ...] = (50_000, 20, 50)
    #: a gateway worker logs a warning for a garbage collection pause this long, ms
    #: (PROMOGATE_GC_WARN_MS)
    gc_warn_ms: float = 20.0

    @classmethod
    def from_env(cls) -> Settings:
        d = cls()
        return cls(
            redis_url=_env("REDIS_URL", d.redis_url),
            key_prefix=_env("PROMOGATE_KEY_PREFIX", d.key_prefix),
            gateway_host=_env("GATEWAY_HOST", d.gateway_host),
            gateway_port=int(_env("GATEWAY_PORT", str(d.gateway_port))),
            gateway_workers=int(_env("GATEWAY_WORKERS", str(d.gateway_workers))),
            admin_host=_env("ADMIN_HOST", d.admin_host),
            admin_port=int(_env("ADMIN_PORT", str(d.admin_port))),
            redis_timeout=float(_env("PROMOGATE_REDIS_TIMEOUT", str(d.redis_timeout))),
            pipeline_inflight=int(_env("PROMOGATE_PIPELINE_INFLIGHT", str(d.pipeline_inflight))),
            ruleset_poll=float(_env("PROMOGATE_RULESET_POLL", str(d.ruleset_poll))),
            max_body=int(_env("PROMOGATE_MAX_BODY", str(d.max_body))),
            idempotency_ttl=int(_env("PROMOGATE_IDEMPOTENCY_TTL", str(d.idempotency_ttl))),
            ledger_maxlen=int(_env("PROMOGATE_LEDGER_MAXLEN", str(d.ledger_maxlen))),
            ledger_fold=float(_env("PROMOGATE_LEDGER_FOLD", str(d.ledger_fold))),
            ui_session_ttl=int(_env("PROMOGATE_UI_SESSION_TTL", str(d.ui_session_ttl))),
            gc_threshold=_thresholds(_env("PROMOGATE_GC_THRESHOLD", ",".join(map(str, d.gc_threshold)))),
            gc_warn_ms=float(_env("PROMOGATE_GC_WARN_MS", str(d.gc_warn_ms))),
        )


def _thresholds(text: str) -> tuple[int, ...]:
    """``PROMOGATE_GC_THRESHOLD``: one to three non-negative integers, comma-separated."""
    try:
        out = tuple(int(x) for x in text.split(","))
    except ValueError:
        out = ()
    if not 1 <= len(out) <= 3 or min(out) < 0:
        raise ValueError(f"PROMOGATE_GC_THRESHOLD must be 1-3 non-negative integers like 700,10,10, got {text!r}")
    return out
