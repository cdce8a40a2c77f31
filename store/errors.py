"""Answers in Voucherify's error shape (``{code, key, message, details, request_id}``), shared by
every service."""

from __future__ import annotations

import secrets
from typing import Any

import msgspec
from litestar import Response

JSON = "application/json"


class Answer(Response):
    """An already encoded JSON answer. A Litestar ``Response`` (Litestar can send it like any
    other) built without ``Response.__init__``'s per-call normalisation of cookies, headers and
    encoders (ABC ``isinstance`` checks, dict copies), which showed up at a few µs per request
    in the gateway's profile; the checkout fast path reads only ``content`` and ``status_code``.
    """

    __slots__ = ()

    def __init__(self, content: bytes, status_code: int = 200) -> None:
        self.content = content
        self.status_code = status_code
        self.media_type = JSON
        self.background = None
        self.cookies = []
        self.encoding = "utf-8"
        self.headers = {}
        self.response_type_encoders = {}


class ErrorMessage(msgspec.Struct, omit_defaults=True, kw_only=True):
    message: str | None = None


class ErrorBody(msgspec.Struct, omit_defaults=True, kw_only=True):
    """Error body (SDK ``Error``; all fields optional) for 4xx/5xx answers and for
    ``result.error`` of an INAPPLICABLE redeemable. ``None`` fields are left out of the JSON.

    ``code`` must be an int (the HTTP status) and ``details`` a **string** (StrictStr): an
    object there breaks parsing of a validation answer. ``error.message`` carries a
    validation rule's custom error message."""

    code: int
    key: str
    message: str
    details: str | None = None
    request_id: str | None = None
    resource_id: str | None = None
    resource_type: str | None = None
    error: ErrorMessage | None = None


_encoder = msgspec.json.Encoder()


class ApiError(Exception):
    """An error answer: HTTP ``status`` and Voucherify's error ``key``; ``extra`` adds fields such
    as ``resource_id`` / ``resource_type``."""

    def __init__(
        self, status: int, key: str, message: str, details: str = "", **extra: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.key = key
        self.message = message
        self.details = details or message
        self.extra = extra


def service_unavailable(exc: BaseException) -> ApiError:
    """The 503 of a Redis that cannot serve (``store.unavailable.is_unavailable``): the same
    ``service_unavailable`` key in every service."""
    return ApiError(503, "service_unavailable", "Service unavailable", f"Redis is unavailable: {exc}")


def request_id() -> str:
    return "v-" + secrets.token_hex(8)


def error_body(
    code: int, key: str, message: str, details: str = "", request_id: str | None = None, **kw: Any
) -> ErrorBody:
    return ErrorBody(
        code=code, key=key, message=message, details=details or message, request_id=request_id, **kw
    )


def error_response(exc: ApiError, rid: str | None = None) -> Response:
    body = error_body(
        exc.status, exc.key, exc.message, exc.details, rid or request_id(), **exc.extra
    )
    return Answer(_encoder.encode(body), exc.status)
