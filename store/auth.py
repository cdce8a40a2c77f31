"""API keys: how a token is stored (its SHA-256, never the token) and the roles a key can hold.

A key is a hash at ``Pappkey:<id>`` (:mod:`store.keys`) written by :func:`store.defs.put_app_key_sync`
or admin's ``POST /v1/keys``; the gateway serves ``application`` keys, admin the other four.
"""

from __future__ import annotations

import hashlib

__all__ = ["ROLES", "token_hash"]

ROLES = ("admin", "marketer", "support", "analyst", "application")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
