"""One error shape for the whole API: ``{"error": {"code", "message", "details"}}``.

DRF exceptions, domain ``ApplicationError``s, Django's 404/403 and, through the URLconf
handlers below, errors raised outside DRF (unknown URL, server error) all take it."""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DatabaseError
from django.http import Http404, JsonResponse
from django.template.response import TemplateResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from governance.errors import ApplicationError, Unavailable

logger = logging.getLogger(__name__)

MSG_INVALID = "The request has invalid fields; see details."
MSG_NOT_FOUND = "Nothing exists at this address."
MSG_SERVER_ERROR = "The server failed to answer; the error has been logged with the request id."
MSG_FORBIDDEN = "You do not have permission to do this."
MSG_UNAVAILABLE = (
    "A service the registry depends on (database or cache) is unavailable; nothing was "
    "decided or changed. Retry later."
)


def _unavailability_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [DatabaseError]
    try:
        from psycopg import OperationalError as PsycopgOperationalError
        from psycopg_pool import PoolTimeout

        types += [PoolTimeout, PsycopgOperationalError]
    except ImportError:  # pragma: no cover - psycopg is a dependency
        pass
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        types += [RedisConnectionError, RedisTimeoutError]
    except ImportError:  # pragma: no cover - redis comes with celery[redis]
        pass
    return tuple(types)


UNAVAILABLE_ERRORS = _unavailability_types()


def is_unavailability(exc: BaseException | None) -> bool:
    """A dependency failed (the database or the cache is down, frozen, or out of
    connections) rather than the code: answered 503 with Retry-After, never 500. Integrity and
    data errors are the code's, not the dependency's."""
    from django.db import DataError, IntegrityError, ProgrammingError

    if exc is None or isinstance(exc, IntegrityError | DataError | ProgrammingError):
        return False
    return isinstance(exc, UNAVAILABLE_ERRORS)


MSG_MISCONFIGURED = (
    "The registry is misconfigured for this request (see its log); nothing was decided or "
    "handed out. Retry after the operator fixes it."
)


def retry_after() -> str:
    return str(getattr(settings, "RETRY_AFTER_SECONDS", 5))


_CODES: dict[type[exceptions.APIException], str] = {
    exceptions.ParseError: "malformed_request",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ValidationError: "invalid",
}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    if is_unavailability(exc):
        logger.warning("dependency unavailable: %s", type(exc).__name__, exc_info=exc)
        exc = Unavailable(MSG_UNAVAILABLE)
    elif isinstance(exc, ImproperlyConfigured):
        # A setting found wrong while answering (a master key removed too early): nothing is
        # decided or handed out; the operator reads why in the log (no key material in it).
        logger.error("configuration problem: %s", exc)
        exc = Unavailable(MSG_MISCONFIGURED)

    _record_refusal(context.get("request"), exc)

    if isinstance(exc, ApplicationError):
        set_rollback()
        headers = {"Retry-After": retry_after()} if exc.status_code == 503 else {}
        return Response(
            error_body(exc.code, exc.message, exc.extra), status=exc.status_code, headers=headers
        )

    if not isinstance(exc, exceptions.APIException):
        return None  # a real bug: Django logs it and handler500 answers in the same shape

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))

    code = next((c for cls, c in _CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, exceptions.ValidationError):
        details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        message = MSG_INVALID
    else:
        details = {}
        message = str(exc.detail)
        if isinstance(exc, exceptions.Throttled):
            details = {"retry_after_seconds": int(exc.wait or 0)}
    set_rollback()
    return Response(error_body(code, message, details), status=exc.status_code, headers=headers)


_SAFE = {"GET", "HEAD", "OPTIONS"}


def _record_refusal(request, exc: Exception) -> None:
    """Every refusal in the ledger, once: 403s always, 404s of writes (a probe for something
    the caller may not see). Services record their own (``records_refusal``); this records the
    rest — permission classes, selectors, views."""
    from governance.errors import NotFound, NotPermitted
    from governance.portal import record_unrecorded

    if request is None:
        return
    if isinstance(exc, exceptions.PermissionDenied):
        exc = NotPermitted(str(exc.detail))
    refused = isinstance(exc, NotPermitted) or (
        isinstance(exc, NotFound) and request.method not in _SAFE
    )
    if not refused:
        return
    try:
        record_unrecorded(request, exc)
    except DatabaseError:  # the database is what failed: the answer still goes out
        logger.warning("could not record a refusal in the ledger", exc_info=True)


def _wants_json(request) -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/o/")


MSG_BAD_REQUEST = "The request could not be read (too large or malformed)."


MSG_TOO_LARGE = "The request body is larger than {limit:,} bytes, or has too many fields."


def handler400(request, exception=None):
    """Django's own 400s in the API's shape; a body over Django's size or field-count limits
    is what it is, a 413 naming the limit."""
    from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent

    if isinstance(exception, RequestDataTooBig | TooManyFieldsSent | TooManyFilesSent):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = error_body(
            "payload_too_large",
            MSG_TOO_LARGE.format(limit=limit),
            {"limit_bytes": limit, "limit_fields": settings.DATA_UPLOAD_MAX_NUMBER_FIELDS},
        )
        if _wants_json(request):
            return JsonResponse(body, status=413)
        from django.http import HttpResponse

        return HttpResponse(body["error"]["message"], status=413, content_type="text/plain")
    if _wants_json(request):
        return JsonResponse(error_body("bad_request", MSG_BAD_REQUEST), status=400)
    from django.http import HttpResponseBadRequest

    return HttpResponseBadRequest(MSG_BAD_REQUEST)


def csrf_failure(request, reason=""):
    """Django's CSRF refusal, without its inline-styled page (the CSP allows no inline style),
    in the API's shape for API paths."""
    message = "The form expired or did not come from this site; reload the page and try again."
    if _wants_json(request):
        return JsonResponse(error_body("permission_denied", message), status=403)
    return TemplateResponse(request, "errors/403.html", {"reason": message}, status=403)


def handler404(request, exception=None):
    if _wants_json(request):
        return JsonResponse(error_body("not_found", MSG_NOT_FOUND), status=404)
    return TemplateResponse(request, "errors/404.html", status=404)


def handler403(request, exception=None):
    reason = str(exception) if exception is not None and str(exception) else ""
    if _wants_json(request):
        return JsonResponse(error_body("permission_denied", reason or MSG_FORBIDDEN), status=403)
    return TemplateResponse(request, "errors/403.html", {"reason": reason}, status=403)


def handler500(request):
    request_id = getattr(request, "request_id", None)
    # Called inside Django's ``except`` for the failure: a dependency that is down is a 503
    # with Retry-After (the API's error shape, or a page), not a server error.
    if is_unavailability(sys.exc_info()[1]):
        return _unavailable(request, request_id)
    if _wants_json(request):
        return JsonResponse(
            error_body("server_error", MSG_SERVER_ERROR, {"request_id": request_id}),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    # No template context processors here: they may be what failed.
    from django.http import HttpResponseServerError
    from django.template.loader import render_to_string

    return HttpResponseServerError(render_to_string("errors/500.html", {"request_id": request_id}))


def _unavailable(request, request_id):
    if _wants_json(request):
        response = JsonResponse(
            error_body("unavailable", MSG_UNAVAILABLE, {"request_id": request_id}), status=503
        )
    else:
        from django.http import HttpResponse
        from django.template.loader import render_to_string

        response = HttpResponse(
            render_to_string("errors/503.html", {"request_id": request_id}), status=503
        )
    response["Retry-After"] = retry_after()
    return response
