"""API keys and roles of the admin service.

Keys are the gateway's (``Pappkey:<id>`` hashes, see store.keys), sent as ``X-App-Id`` /
``X-App-Token``. Each admin call needs one *permission*; each role holds some:

=============  ===============================================================================
permission     roles
=============  ===============================================================================
``read``       admin, marketer, support, analyst: every GET (definitions, codes, reports, audit)
``write``      admin, marketer: campaigns, tiers, validation rules, products, customers,
               stacking rules, code generation and import
``code_state`` admin, marketer, support: enable / disable one code
``issue``      admin, marketer, support: issue a code of an existing campaign to a customer
``rollback``   admin, marketer, support: roll back a redemption (with a reason, audited)
``manage``     admin: API keys, export / import of all definitions, approvals' setting
``approve``    admin: approve or reject a change set (four eyes: never its own author's)
=============  ===============================================================================

``application`` keys serve checkout calls on the gateway only: every admin call refuses them.
"""

from __future__ import annotations

import hmac
from typing import Any

from store.auth import ROLES, token_hash

from .audit import Actor
from .errors import ApiError

PERMISSIONS: dict[str, tuple[str, ...]] = {
    "read": ("admin", "marketer", "support", "analyst"),
    "write": ("admin", "marketer"),
    "code_state": ("admin", "marketer", "support"),
    "issue": ("admin", "marketer", "support"),
    "rollback": ("admin", "marketer", "support"),
    "manage": ("admin",),
    "approve": ("admin",),
}

ADMIN_ROLES = tuple(r for r in ROLES if r != "application")


def _roles_text(roles: tuple[str, ...]) -> str:
    quoted = [f"`{r}`" for r in roles]
    if len(quoted) == 1:
        return quoted[0]
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]


async def authenticate(redis: Any, keys: Any, key_id: str | None, token: str | None) -> Actor:
    if not key_id or not token:
        raise ApiError(401, "unauthorized", "Unauthorized", "Missing X-App-Id / X-App-Token")
    raw = await redis.hgetall(keys.appkey(key_id))
    if not raw:
        raise ApiError(401, "unauthorized", "Unauthorized", "Invalid X-App-Id / X-App-Token")
    f = {k.decode(): v.decode() for k, v in raw.items()}
    if not hmac.compare_digest(f.get("token_sha256", ""), token_hash(token)):
        raise ApiError(401, "unauthorized", "Unauthorized", "Invalid X-App-Id / X-App-Token")
    return Actor(key_id, f.get("name", key_id), f.get("role", ""))


async def key_actor(redis: Any, keys: Any, key_id: str) -> Actor | None:
    """The actor of an existing key (no token check: for a web UI session made by signing in
    with :func:`authenticate`); None once the key is revoked."""
    raw = await redis.hgetall(keys.appkey(key_id))
    if not raw:
        return None
    f = {k.decode(): v.decode() for k, v in raw.items()}
    return Actor(key_id, f.get("name", key_id), f.get("role", ""))


def can(actor: Actor, permission: str) -> bool:
    """Whether ``actor``'s role holds ``permission`` (what :func:`require` enforces): the web UI
    offers only the actions this allows."""
    return actor.role in PERMISSIONS[permission]


def require(actor: Actor, permission: str) -> None:
    roles = PERMISSIONS[permission]
    if actor.role not in roles:
        raise ApiError(
            403,
            "forbidden",
            "Forbidden",
            f"This call needs the {_roles_text(roles)} role; key {actor.id} has the `{actor.role}` role",
        )
