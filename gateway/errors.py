"""Answers in Voucherify's error shape (``{code, key, message, details, request_id}``), shared by
the checkout gateway and the admin service."""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Response

from . import schemas as s

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
    return Answer(s.encode(body), exc.status)
