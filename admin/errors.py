"""Errors of the admin API, answered in Voucherify's shape (gateway.schemas.ErrorBody)."""

from __future__ import annotations

from typing import Any

import msgspec

from core.errors import CompileError
from store.errors import JSON, ApiError, error_response, request_id

__all__ = [
    "JSON",
    "ApiError",
    "error_response",
    "request_id",
    "not_found",
    "invalid",
    "from_validation",
    "from_compile",
]


def not_found(kind: str, ident: str) -> ApiError:
    if not isinstance(ident, str):  # an id sent in a body as a number, a list...: bad input
        return invalid(f"a {kind} id must be a string, got {ident!r:.80}")
    return ApiError(
        404,
        "not_found",
        "Resource not found",
        f"Cannot find {kind} with id {ident}",
        resource_id=ident,
        resource_type=kind,
    )


def invalid(details: str, **extra: Any) -> ApiError:
    return ApiError(400, "invalid_payload", "Invalid payload", details, **extra)


def from_validation(exc: msgspec.ValidationError, root: str) -> ApiError:
    """A msgspec error on an object, with its ``$`` path rewritten to name the object."""
    text = str(exc).replace("`$.", f"`{root}.").replace("`$`", f"`{root}`")
    if " - at `" not in text:
        text = f"{text} - at `{root}`"
    return invalid(text)


def from_compile(exc: CompileError) -> ApiError:
    return ApiError(
        400,
        "invalid_definition",
        "Definition does not compile",
        f"{exc.reason} - at `{exc.path}`",
    )
