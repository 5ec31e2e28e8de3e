"""Rate limits. Rates are read when a request is throttled, not when the class is imported,
so settings (and tests) can change them.

Who is counted where (docs/security.md, "Throttles before refusals"):
- callers without credentials, per address, *before* any permission can refuse them
  (``ThrottleGate``, the first authentication class: DRF checks permissions before throttles,
  so an anonymous flood would otherwise only ever meet 401s);
- bearer tokens that fail, per address (``failed_authentication``, from the bearer
  authentication class);
- the OAuth2 endpoints (token, introspection, revocation), per address (``throttled_endpoint``);
- authenticated people and service accounts, per account (``PrincipalThrottle``).
A caller over a rate gets 429 with ``Retry-After``, in the API's error shape.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.http import JsonResponse
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle

MSG_THROTTLED = "Too many requests from this address; slow down and retry after the delay."


def _rate(scope: str) -> str | None:
    return settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].get(scope)


class _RuntimeRate:
    def get_rate(self):
        return _rate(self.scope)


class AddressThrottle(_RuntimeRate, SimpleRateThrottle):
    """Counts per client address (``audit.middleware.client_address``: X-Forwarded-For only
    behind a proxy that sets it)."""

    def __init__(self, scope: str):
        self.scope = scope
        super().__init__()

    def get_cache_key(self, request, view=None):
        from governance.audit.middleware import client_address

        django_request = getattr(request, "_request", request)
        return self.cache_format % {
            "scope": self.scope,
            "ident": client_address(django_request) or "unknown",
        }

    def hit(self, request) -> float | None:
        """Count one request; the seconds to wait when over the rate, else None."""
        if self.rate is None:
            return None
        if self.allow_request(request, None):
            return None
        return self.wait() or 1.0


def check_address(request, scope: str) -> None:
    """Count the request under ``scope`` for its address; Throttled (429) when over."""
    wait = AddressThrottle(scope).hit(request)
    if wait is not None:
        raise exceptions.Throttled(wait=wait, detail=MSG_THROTTLED)


class ThrottleGate(BaseAuthentication):
    """First in DEFAULT_AUTHENTICATION_CLASSES: counts a request that carries no credentials
    (no bearer token, no signed-in session) against the anonymous rate, and refuses it with
    429 once over, before any permission check answers 401. Authenticates nobody."""

    def authenticate_header(self, request):
        # DRF answers 401 (not 403) only when the first authentication class names a scheme.
        return 'Bearer realm="api"'

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header.lower().startswith("bearer "):
            return None  # counted if it fails (BearerTokenAuthentication)
        user = getattr(request._request, "user", None)
        if user is not None and user.is_authenticated:
            return None  # a session: the principal rate applies
        check_address(request, "anon")
        return None


class PrincipalThrottle(_RuntimeRate, UserRateThrottle):
    """Per user or service account (both are users); anonymous callers are the gate's."""

    scope = "principal"

    def get_cache_key(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return None
        return super().get_cache_key(request, view)


def throttled_endpoint(scope: str):
    """For the plain Django views of the OAuth2 endpoints: count per address, answer 429 in
    the API's error shape when over."""

    def decorate(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            from governance.api.errors import error_body

            wait = AddressThrottle(scope).hit(request)
            if wait is not None:
                seconds = max(1, int(wait))
                response = JsonResponse(
                    error_body("throttled", MSG_THROTTLED, {"retry_after_seconds": seconds}),
                    status=429,
                )
                response["Retry-After"] = str(seconds)
                return response
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


class AnonThrottle(_RuntimeRate, SimpleRateThrottle):
    """Deprecated alias kept for settings written before the gate (counts like the gate)."""

    scope = "anon"

    def get_cache_key(self, request, view):
        if request.user and request.user.is_authenticated:
            return None
        return AddressThrottle("anon").get_cache_key(request, view)
