"""Errors raised by core. Each carries what the API needs to answer in Voucherify's shape."""

from __future__ import annotations


class CompileError(ValueError):
    """A set of definitions that cannot be compiled. ``path`` names the offending field."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{reason} - at `{path}`")
        self.path = path
        self.reason = reason


class RequestError(ValueError):
    """A request that is wrong as a whole (HTTP 400), with Voucherify's error ``key``."""

    def __init__(self, key: str, message: str, details: str = "") -> None:
        super().__init__(message)
        self.key = key
        self.message = message
        self.details = details or message
