"""What the services' OpenAPI documents say about each call, written into Litestar's schema.

The handlers of both services read the raw request themselves (admin: ``json_body()``; the
gateway: msgspec decoders on its hot path), so Litestar sees no ``data`` parameter: on its own
it describes no request body, no query parameter, and only the answers its decorators imply
(a 201 for every POST, where these calls answer 200). Each service therefore keeps a table of
its operations, ``{(method, path): Op}`` (``admin/openapi.py``, ``gateway/openapi.py``), whose
bodies and answers are msgspec types (or plain JSON Schema dicts where a type cannot say it),
and :func:`describe` writes that table into ``app.openapi_schema`` once, when the app is built.
Litestar then serves the document as usual (``/schema``, ``/schema/openapi.json``, ...).

Nothing here takes part in handling a request: it is schema metadata only.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Litestar
from litestar.openapi.spec import (
    Components,
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    Parameter,
    RequestBody,
    SecurityScheme,
)

from .errors import JSON, ErrorBody

REF = "#/components/schemas/{name}"

#: the error answers every service gives, in Voucherify's shape (store.errors.ErrorBody)
ERRORS: dict[int, str] = {
    400: "Bad input (`invalid_payload`, `invalid_definition`, ...); `details` names the field. "
    "Nothing was written.",
    401: "Missing or wrong `X-App-Id` / `X-App-Token` (`unauthorized`).",
    403: "The key's role may not make this call (`forbidden`); `details` names the roles that may.",
    404: "A resource the call names does not exist (`not_found`, with `resource_id` and "
    "`resource_type`).",
    405: "The path names a route of another method (`method_not_allowed`): e.g. a program "
    "called `members` in `/v1/loyalties/{campaign_id}/members` is the path "
    "`/v1/loyalties/members/{member_id}`.",
    409: "Conflict: a duplicate, a resource in use, an Idempotency-Key used with another body, or "
    "too many concurrent changes (`duplicate_found`, `resource_in_use`, `not_empty`, "
    "`multiple_requests`).",
    413: "The body is larger than the service accepts.",
    503: "Redis cannot be reached (`service_unavailable`): nothing was done, retry later.",
}

SECURITY_SCHEMES = {
    "AppId": SecurityScheme(
        type="apiKey", name="X-App-Id", security_scheme_in="header", description="API key id"
    ),
    "AppToken": SecurityScheme(
        type="apiKey",
        name="X-App-Token",
        security_scheme_in="header",
        description="API key token (shown once when the key is created)",
    ),
}
SECURITY: list[dict[str, list[str]]] = [{"AppId": [], "AppToken": []}]


@dataclass(frozen=True)
class Body:
    """One accepted request body: a msgspec type, or a JSON Schema dict, per media type."""

    schema: Any
    media_type: str = JSON
    description: str | None = None


@dataclass(frozen=True)
class Reply:
    """One answer: a status's description and its body (``None``: no body)."""

    description: str
    schema: Any = None
    media_type: str = JSON
    #: other media types the same answer may take: ``(media type, JSON Schema dict)`` pairs
    also: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Param:
    """A query or header parameter the handler reads by hand, or a path parameter described
    more precisely than Litestar does (``schema``: a msgspec type)."""

    name: str
    schema: Any = str
    description: str | None = None
    location: str = "query"
    required: bool = False


@dataclass(frozen=True)
class Op:
    """What one operation takes and answers.

    ``bodies`` empty: the call takes no body. ``errors``: the error statuses it may answer
    (each in the ``ErrorBody`` shape). ``auth``: it needs ``X-App-Id`` / ``X-App-Token``.
    """

    replies: Mapping[int, Reply]
    bodies: tuple[Body, ...] = ()
    body_required: bool = True
    params: tuple[Param, ...] = ()
    errors: tuple[int, ...] = (400, 401, 403, 503)
    auth: bool = True
    summary: str | None = None
    description: str | None = None


def _schema_hook(t: type) -> dict[str, Any]:
    if t is object:  # core.model's metadata values (dict[str, object]): any JSON value
        return {"description": "any JSON value"}
    raise NotImplementedError


@functools.lru_cache(maxsize=8)
def _render(types: tuple[Any, ...]) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """JSON Schemas of ``types`` (refs into components) and the components: the same for every
    app of a process, so made once (the tables are constants)."""
    schemas, components = msgspec.json.schema_components(
        types, schema_hook=_schema_hook, ref_template=REF
    )
    return list(schemas), components


class _Schemas:
    """Collects msgspec types to render together; JSON Schema dicts pass as they are."""

    def __init__(self) -> None:
        self._types: list[Any] = []

    def later(self, schema: Any) -> int:
        if schema is None or isinstance(schema, dict):
            return -1
        self._types.append(schema)
        return len(self._types) - 1

    def render(self) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
        return _render(tuple(self._types))


def _param_schema(typ: Any) -> dict[str, Any]:
    out = msgspec.json.schema(typ, schema_hook=_schema_hook)
    out.pop("$defs", None)
    return out


def describe(
    app: Litestar,
    ops: Mapping[tuple[str, str], Op],
    *,
    title: str,
    version: str,
    description: str,
    extra_types: Iterable[Any] = (),
) -> OpenAPI:
    """Write ``ops`` into ``app.openapi_schema`` (built now, then served as is).

    An entry naming an operation the app does not have is an error (the table is stale); an
    operation of the app missing from the table keeps what Litestar made of it (the tests
    check that the table covers every route).
    """
    openapi = app.openapi_schema
    openapi.info.title = title
    openapi.info.version = version
    openapi.info.description = description
    paths = openapi.paths or {}

    reg = _Schemas()
    for t in extra_types:
        reg.later(t)
    plan: list[tuple[Operation, Op, list[int], list[tuple[int, int]]]] = []
    for (method, path), op in ops.items():
        item = paths.get(path)
        operation = getattr(item, method.lower(), None) if item is not None else None
        if operation is None:
            raise LookupError(f"OpenAPI table names {method} {path}, which the app does not serve")
        body_ix = [reg.later(b.schema) for b in op.bodies]
        reply_ix = [(status, reg.later(r.schema)) for status, r in op.replies.items()]
        plan.append((operation, op, body_ix, reply_ix))
    error_ix = reg.later(ErrorBody)
    rendered, components = reg.render()
    error_schema = rendered[error_ix]

    for operation, op, body_ix, reply_ix in plan:
        if op.summary:
            operation.summary = op.summary
        if op.description:
            operation.description = op.description
        if op.bodies:
            operation.request_body = RequestBody(
                required=op.body_required,
                content={
                    b.media_type: OpenAPIMediaType(schema=b.schema if i < 0 else rendered[i])
                    for b, i in zip(op.bodies, body_ix, strict=True)
                },
                description=next((b.description for b in op.bodies if b.description), None),
            )
        else:
            operation.request_body = None
        responses: dict[str, OpenAPIResponse] = {}
        for (status, i), reply in zip(reply_ix, op.replies.values(), strict=True):
            content = None
            if reply.schema is not None:
                schema = reply.schema if i < 0 else rendered[i]
                content = {reply.media_type: OpenAPIMediaType(schema=schema)}
                content.update({mt: OpenAPIMediaType(schema=sc) for mt, sc in reply.also})
            responses[str(status)] = OpenAPIResponse(description=reply.description, content=content)
        for status in op.errors:
            responses[str(status)] = OpenAPIResponse(
                description=ERRORS[status], content={JSON: OpenAPIMediaType(schema=error_schema)}
            )
        operation.responses = responses
        mine = {(p.location, p.name) for p in op.params}
        kept = [
            p
            for p in operation.parameters or []
            if getattr(p, "param_in", None) == "path" and ("path", p.name) not in mine
        ]
        for p in op.params:
            kept.append(
                Parameter(
                    name=p.name,
                    param_in=p.location,
                    schema=_param_schema(p.schema),  # type: ignore[arg-type]
                    description=p.description,
                    required=p.required or p.location == "path",
                )
            )
        operation.parameters = kept or None  # type: ignore[assignment]
        operation.security = SECURITY if op.auth else None  # type: ignore[assignment]

    comps = openapi.components if isinstance(openapi.components, Components) else Components()
    existing = dict(comps.schemas or {})
    for name, schema in components.items():
        if name in existing:
            raise ValueError(f"OpenAPI component {name!r} is defined twice")
        existing[name] = schema  # type: ignore[assignment]
    comps.schemas = existing
    comps.security_schemes = {**(comps.security_schemes or {}), **SECURITY_SCHEMES}
    openapi.components = comps
    return openapi


# ------------------------------------------------------------------------------ shared pieces

#: an RFC 3339 date-time with its offset (``2026-01-01T00:00:00Z``), as msgspec reads it
DateTime = dt.datetime


class Health(msgspec.Struct, kw_only=True):
    status: str


class Ready(msgspec.Struct, kw_only=True, omit_defaults=True):
    ready: bool
    reason: str | msgspec.UnsetType = msgspec.UNSET
    definitions_version: int | msgspec.UnsetType = msgspec.UNSET
    ruleset_version: int | msgspec.UnsetType = msgspec.UNSET


OPS_HEALTH = Op(replies={200: Reply("Alive", Health)}, errors=(), auth=False, summary="Liveness")


def ops_ready(what: str) -> Op:
    return Op(
        replies={200: Reply("Ready", Ready), 503: Reply("Not ready: `reason` says why", Ready)},
        errors=(),
        auth=False,
        summary=f"Readiness: {what}",
    )


__all__ = [
    "Body",
    "DateTime",
    "ERRORS",
    "OPS_HEALTH",
    "Op",
    "Param",
    "Reply",
    "describe",
    "ops_ready",
]
