"""The checkout API's OpenAPI description: bodies and answers of every route.

The hot handlers decode the raw body with msgspec themselves (see ``gateway/app.py``), so
Litestar cannot see what they take. This table names, per ``(method, path)``, the request
structs of :mod:`gateway.schemas` the decoders use and the answer structs the handlers encode;
:func:`describe` writes it into the app's schema when the app is built (``store.openapi``).
Schema metadata only: nothing here runs while a request is served.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Litestar
from msgspec import Meta

from store.openapi import OPS_HEALTH, Body, Op, Param, Reply, ops_ready
from store.openapi import describe as _describe

from . import schemas as s

IdempotencyKey = Param(
    "Idempotency-Key",
    Annotated[str, Meta(min_length=1, max_length=255)],
    "A retry with the same key and body gets the stored answer and counts nothing twice; "
    "another body with the same key is a 409.",
    location="header",
)
_CHECKOUT_ERRORS = (400, 401, 403, 413, 503)


#: both rollback calls take these (the SDK sends reason and tracking_id as query parameters)
_ROLLBACK_PARAMS = (
    Param("reason", str, "Why (wins over the body's `reason`)"),
    Param("tracking_id", str, "Wins over the body's `tracking_id`"),
    IdempotencyKey,
)

OPERATIONS: dict[tuple[str, str], Op] = {
    ("POST", "/v1/validations"): Op(
        bodies=(Body(s.ValidationsRequest),),
        replies={200: Reply("Validation (HTTP 200 also when `valid` is false)", s.ValidationsResponse)},
        errors=_CHECKOUT_ERRORS,
    ),
    ("POST", "/v1/redemptions"): Op(
        bodies=(Body(s.RedemptionsRequest),),
        params=(IdempotencyKey,),
        replies={200: Reply("Redeemed, all or nothing", s.RedemptionsResponse)},
        errors=(400, 401, 403, 409, 413, 503),
    ),
    ("POST", "/v1/redemptions/{redemption_id}/rollback"): Op(
        bodies=(Body(s.RollbackRequest),),
        body_required=False,
        params=_ROLLBACK_PARAMS,
        replies={200: Reply("Rolled back", s.RedemptionRollback)},
        errors=(400, 401, 403, 404, 409, 413, 503),
    ),
    ("POST", "/v1/redemptions/{redemption_id}/rollbacks"): Op(
        bodies=(Body(s.RollbackRequest),),
        body_required=False,
        params=_ROLLBACK_PARAMS,
        replies={200: Reply("The stacked redemption and its children, rolled back", s.RollbacksResponse)},
        errors=(400, 401, 403, 404, 409, 413, 503),
    ),
    ("GET", "/v1/redemptions/{redemption_id}"): Op(
        replies={200: Reply("A stored redemption", s.Redemption)},
        errors=(401, 403, 404, 503),
    ),
    ("POST", "/v1/qualifications"): Op(
        bodies=(Body(s.QualificationsRequest),),
        replies={200: Reply("What applies to this customer and cart", s.QualificationsResponse)},
        errors=_CHECKOUT_ERRORS,
    ),
    ("DELETE", "/v1/vouchers/{code}/sessions/{session_key}"): Op(
        replies={204: Reply("Released (also when nothing was held)")},
        errors=(401, 403, 503),
    ),
    ("GET", "/health"): OPS_HEALTH,
    ("GET", "/ready"): ops_ready("Redis reachable and ruleset loaded"),
    ("GET", "/metrics"): Op(
        replies={200: Reply("Prometheus text format", {"type": "string"}, "text/plain")},
        errors=(),
        auth=False,
        summary="Prometheus metrics",
    ),
}


def operations() -> dict[tuple[str, str], Op]:
    """Every gateway route's entry: this table and the loyalty routes' (gateway/loyalty.py,
    kept beside their handlers; imported late: gateway.loyalty imports the app)."""
    from .loyalty import OPERATIONS as LOYALTY

    return {**OPERATIONS, **LOYALTY}


def describe(app: Litestar) -> None:
    _describe(
        app,
        operations(),
        title="promogate checkout API",
        version="1",
        description="A subset of Voucherify's API v1 (validations, redemptions, rollbacks, "
        "qualifications), with `Idempotency-Key` on redeem and rollback. Amounts are integer "
        "cents. Every `/v1` call sends an `application` key as `X-App-Id` / `X-App-Token`. "
        "Errors use Voucherify's body: `{code, key, message, details, request_id}`.",
    )
