"""Errors of the admin API, answered in Voucherify's shape (gateway.schemas.ErrorBody)."""

from __future__ import annotations

import secrets
from typing import Any

import msgspec
from litestar import Response

from core.errors import CompileError
from gateway import schemas as s

JSON = "application/json"


class ApiError(Exception):
    """An answer in Voucherify's error shape: ``{code, key, message, details, request_id}``."""

    def __init__(
        self, status: int, key: str, message: str, details: str = "", **extra: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.key = key
        self.message = message
        self.details = details or message
        self.extra = extra


def request_id() -> str:
    return "v-" + secrets.token_hex(8)


def error_response(exc: ApiError, rid: str | None = None) -> Response:
    body = s.ErrorBody(
        code=exc.status,
        key=exc.key,
        message=exc.message,
        details=exc.details,
        request_id=rid or request_id(),
        **exc.extra,
    )
    return Response(content=s.encode(body), status_code=exc.status, media_type=JSON)


def not_found(kind: str, ident: str) -> ApiError:
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
