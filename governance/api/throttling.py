"""Rate limits. Rates are read when a request is throttled, not when the class is imported,
so settings (and tests) can change them."""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class _RuntimeRate:
    def get_rate(self):
        return settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][self.scope]


class AnonThrottle(_RuntimeRate, AnonRateThrottle):
    scope = "anon"


class PrincipalThrottle(_RuntimeRate, UserRateThrottle):
    """Per user or service account (both are users)."""

    scope = "principal"
