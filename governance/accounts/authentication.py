"""API authentication: OAuth2 bearer tokens (service accounts, client-credentials flow).

django-oauth-toolkit answers client-credentials tokens with no user. Here the token's
application is resolved to its service account, whose user becomes ``request.user``; a token
of a revoked account, or of an application that is not a service account, is refused. The
caller is then bound as the actor of every ledger entry written during the request.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from rest_framework import exceptions

from governance.accounts.selectors import service_account_for_application
from governance.api.throttling import check_address
from governance.audit.context import bind_actor

MSG_INVALID_TOKEN = "The access token is invalid, expired or revoked."  # noqa: S105 (a message)
MSG_INACTIVE = "This account is inactive or revoked."


class BearerTokenAuthentication(OAuth2Authentication):
    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header.lower().startswith("bearer "):
            return None  # not ours: let session authentication try
        result = super().authenticate(request)
        if result is None:
            # A token was presented and is not valid: say so, rather than falling through to
            # "no credentials" - unless this address has failed too often (429).
            check_address(request, "failed_authentication")
            raise exceptions.AuthenticationFailed(MSG_INVALID_TOKEN)
        user, token = result
        if user is None:
            service_account = _service_account_of(token)
            if service_account is None or not service_account.is_active:
                raise exceptions.AuthenticationFailed(MSG_INVALID_TOKEN)
            user = service_account.user
        if not user.is_active:
            raise exceptions.AuthenticationFailed(MSG_INACTIVE)
        bind_actor(user)
        return user, token


def _service_account_of(token):
    """The token's service account: read with the token (``ServiceAccountValidator``), or
    looked up when another validator read it."""
    application = token.application
    if application is not None and "service_account" in application._state.fields_cache:
        return application._state.fields_cache["service_account"]
    return service_account_for_application(application_id=token.application_id)


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "governance.accounts.authentication.BearerTokenAuthentication"
    name = "oauth2"

    def get_security_definition(self, auto_schema):
        return {
            "type": "oauth2",
            "description": "Service accounts: client-credentials flow. POST client_id and "
            "client_secret to /o/token/ with grant_type=client_credentials.",
            "flows": {
                "clientCredentials": {
                    "tokenUrl": "/o/token/",
                    "scopes": {
                        "read": "Read governance data",
                        "write": "Record events and decisions",
                    },
                }
            },
        }
