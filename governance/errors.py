"""Domain errors raised by services and selectors. The API turns them into
``{"error": {"code", "message", "details"}}`` with the status below; portal views turn them
into form errors or messages. Messages are constants on the raising module so tests can
assert them exactly."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    status_code = 400
    code = "invalid"

    def __init__(self, message: str, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class NotPermitted(ApplicationError):
    status_code = 403
    code = "permission_denied"


class NotFound(ApplicationError):
    status_code = 404
    code = "not_found"


class Conflict(ApplicationError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(ApplicationError):
    status_code = 413
    code = "payload_too_large"


class Unavailable(ApplicationError):
    status_code = 503
    code = "unavailable"
