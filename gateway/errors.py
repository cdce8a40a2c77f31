"""Answers in Voucherify's error shape (``{code, key, message, details, request_id}``), shared by
the checkout gateway and the admin service."""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Response

from . import schemas as s

JSON = "application/json"


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


def request_id() -> str:
    return "v-" + secrets.token_hex(8)


def error_body(
    code: int, key: str, message: str, details: str = "", request_id: str | None = None, **kw: Any
) -> s.ErrorBody:
    return s.ErrorBody(
        code=code, key=key, message=message, details=details or message, request_id=request_id, **kw
    )


def error_response(exc: ApiError, rid: str | None = None) -> Response:
    body = error_body(
        exc.status, exc.key, exc.message, exc.details, rid or request_id(), **exc.extra
    )
    return Response(content=s.encode(body), status_code=exc.status, media_type=JSON)
