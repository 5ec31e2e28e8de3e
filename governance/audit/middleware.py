from __future__ import annotations

from auditlog.context import auditlog_value
from auditlog.middleware import AuditlogMiddleware
from django.conf import settings

from governance.audit.context import (
    REQUEST_ID_HEADER,
    new_request_id,
    reset_request_id,
    set_request_id,
)


class RequestIdMiddleware:
    """Give every request an id (the caller's X-Request-ID if it is a safe token), expose it on
    the response, and make it the correlation id of every ledger entry written meanwhile."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # auditlog sets its actor context variable and never resets it: without the reset
        # below, a thread's next job (another request, a command) would inherit the previous
        # caller as its actor. The variables are reset rather than the request run in a copy of
        # the context: a copy would also discard what Django keeps per context for the process
        # (the cache client and its Redis connection pool), so every request would connect to
        # Redis again.
        actor_token = auditlog_value.set({})
        request_id = new_request_id(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        id_token = set_request_id(request_id)
        try:
            response = self.get_response(request)
        finally:
            reset_request_id(id_token)
            auditlog_value.reset(actor_token)
        response[REQUEST_ID_HEADER] = request_id
        return response


def client_address(request) -> str | None:
    """The caller's address as the deployment can vouch for it. Behind the reverse proxy
    (USE_X_FORWARDED_FOR), the right-most X-Forwarded-For entry: the one our proxy appended.
    Entries to its left were written by the client and prove nothing (a client could rotate
    them to escape a lockout or a throttle). The audit log, sign-in lockouts and throttles all
    key on this one answer."""
    if getattr(settings, "USE_X_FORWARDED_FOR", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        entries = [entry.strip() for entry in forwarded.split(",") if entry.strip()]
        if entries:
            return entries[-1]
    return request.META.get("REMOTE_ADDR")


class AuditContextMiddleware(AuditlogMiddleware):
    """auditlog's middleware, except that X-Forwarded-For is trusted only when the deployment
    says a proxy sets it (USE_X_FORWARDED_FOR); otherwise any client could write any address
    into the audit log."""

    @staticmethod
    def _get_remote_addr(request):
        if settings.AUDITLOG_DISABLE_REMOTE_ADDR:
            return None
        return client_address(request)

    @staticmethod
    def _get_remote_port(request):
        if getattr(settings, "USE_X_FORWARDED_FOR", False):
            return AuditlogMiddleware._get_remote_port(request)
        return None
