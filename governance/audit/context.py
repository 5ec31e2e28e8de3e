"""Request-scoped audit context: the request id (auditlog's correlation id) and the actor.

auditlog's middleware captures ``request.user`` before DRF authenticates a bearer token, so an
API call would be logged without an actor. ``bind_actor`` is called by the API authentication
class once it knows who the caller is; it updates the context auditlog's middleware opened.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar

from auditlog.context import auditlog_value

_request_id: ContextVar[str | None] = ContextVar("governance_request_id", default=None)

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def new_request_id(candidate: str | None = None) -> str:
    """Accept a caller's request id when it is a safe token, otherwise make one."""
    if candidate and _VALID_REQUEST_ID.match(candidate):
        return candidate
    return uuid.uuid4().hex


def set_request_id(value: str | None):
    return _request_id.set(value)


def reset_request_id(token) -> None:
    _request_id.reset(token)


def get_request_id() -> str | None:
    return _request_id.get()


def bind_actor(user) -> None:
    """Make ``user`` the actor of every ledger entry written for the rest of this request."""
    try:
        context = auditlog_value.get()
    except LookupError:
        return
    context["actor"] = user


def current_actor():
    try:
        return auditlog_value.get().get("actor")
    except LookupError:
        return None


def current_remote_addr() -> str | None:
    try:
        return auditlog_value.get().get("remote_addr")
    except LookupError:
        return None


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = get_request_id() or "-"
        return True
