"""Which failures mean "Redis cannot serve right now" (a 503, fail closed), not "this is a bug".

One classification for every service: the gateway's auto-pipeliner (:mod:`store.autopipe`)
uses it on each command's reply, admin on whatever a redis-py call raises
(:func:`is_unavailable`), so both answer 503 ``service_unavailable`` for the same causes:

- the connection could not be made, was lost, or timed out (redis-py ``ConnectionError`` and its
  subclasses, ``TimeoutError``);
- the server answered, but cannot serve: ``LOADING`` (restarting, reading its AOF / RDB),
  ``BUSY`` (a script runs too long), ``READONLY`` (a replica, e.g. during a failover),
  ``MASTERDOWN``, ``CLUSTERDOWN``, ``TRYAGAIN``, ``NOREPLICAS``, ``OOM`` (maxmemory reached).

redis-py strips the code from the message of the replies it knows (``OOM command not allowed``
becomes ``OutOfMemoryError("command not allowed ...")``), so the code is read from the
exception's ``status_code`` first, then from the head of its message.

Everything else (``WRONGTYPE``, a Lua error, ``NOPERM``, a decoding error...) is not
unavailability: it is answered like any other unexpected error.
"""

from __future__ import annotations

from redis import exceptions as rexc

__all__ = ["UNAVAILABLE_CODES", "StoreUnavailable", "is_unavailable"]

#: error reply codes that mean "this server cannot serve right now", not "your command is wrong"
UNAVAILABLE_CODES = frozenset(
    {"LOADING", "BUSY", "READONLY", "MASTERDOWN", "OOM", "CLUSTERDOWN", "TRYAGAIN", "NOREPLICAS"}
)


class StoreUnavailable(Exception):
    """Redis could not be reached or could not serve within the timeout (the services answer 503).

    For a write (redeem, rollback, lock, an admin change) the outcome is unknown: it may or may
    not have been applied. Retrying with the same idempotency key is safe.
    """


def is_unavailable(exc: BaseException) -> bool:
    """True if ``exc`` means Redis cannot serve now (connection, timeout, LOADING...)."""
    if isinstance(exc, (StoreUnavailable, rexc.ConnectionError, rexc.TimeoutError)):
        return True
    if isinstance(exc, rexc.ResponseError):
        code = getattr(exc, "status_code", None)
        if isinstance(code, str) and code.upper() in UNAVAILABLE_CODES:
            return True
        if isinstance(exc, (rexc.ReadOnlyError, rexc.OutOfMemoryError, rexc.TryAgainError,
                            rexc.ClusterDownError)):  # fmt: skip
            return True
        head = str(exc).split(" ", 1)[0].upper()
        return head in UNAVAILABLE_CODES
    return False
