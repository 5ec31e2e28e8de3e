"""The OAuth2 token endpoint (``/o/token/``) of django-oauth-toolkit, with every refused
request written to the ledger as ``auth.token_failed``: a wrong client secret is a failed
authentication like a wrong password at the portal, and the alert scan counts both
(governance/access/alerts.py, rule ``failed_authentication``)."""

from __future__ import annotations

import hmac
import json

from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider import views as oauth2_views
from oauth2_provider.models import get_application_model

from governance.audit import services as audit
from governance.inputs import basic_credentials

CLIENT_ID_LIMIT = 100


def _printable(value: str) -> str:
    # A client id comes from whoever calls: keep it short and without control characters
    # (PostgreSQL's jsonb refuses NUL), so the ledger can always hold it.
    return "".join(c for c in value if c.isprintable())[:CLIENT_ID_LIMIT]


def client_id_of(request) -> str:
    """The client id a token request names: HTTP Basic credentials first (RFC 6749 2.3.1),
    then the form field."""
    if credentials := basic_credentials(request):
        return _printable(credentials[0])
    return _printable(str(request.POST.get("client_id", "")))


def _error_of(response) -> str:
    try:
        error = json.loads(response.content or b"{}").get("error", "")
    except (ValueError, AttributeError):
        error = ""
    return _printable(str(error)) or f"http_{response.status_code}"


def _service_account_of(client_id: str) -> str | None:
    if not client_id:
        return None
    application = (
        get_application_model()
        .objects.filter(client_id=client_id)
        .select_related("service_account")
        .first()
    )
    account = getattr(application, "service_account", None) if application else None
    return account.name if account is not None else None


class AuditedTokenView(oauth2_views.TokenView):
    """DOT's TokenView; a refused request (4xx) leaves ``auth.token_failed`` in the ledger with
    the client id it named, the service account that id belongs to (or null) and the OAuth2
    error. The client address is recorded with every ledger entry. Never the secret."""

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        if 400 <= response.status_code < 500:
            client_id = client_id_of(request)
            audit.record(
                action="auth.token_failed",
                actor=None,
                object_repr=client_id,
                data={
                    "client_id": client_id,
                    "service_account": _service_account_of(client_id),
                    "error": _error_of(response),
                },
            )
        return response


@method_decorator(csrf_exempt, name="dispatch")
class OwnClientIntrospectView(oauth2_views.IntrospectTokenView):
    """RFC 7662 introspection, answered about a token only to the client it was issued to, or
    to a client named in OAUTH_INTROSPECTION_CLIENTS (a resource server); any other caller
    learns ``{"active": false}`` (RFC 7662 2.2). The caller is the client whose credentials
    *verify*, tried in the order django-oauth-toolkit tries them (HTTP Basic, then the form's
    client_id/secret, then a bearer token): a client id named with a wrong secret is nobody."""

    def dispatch(self, request, *args, **kwargs):
        self.caller_client_id = _authenticated_client_id(request)
        return super().dispatch(request, *args, **kwargs)

    def _answer(self, token_value):
        import hashlib

        from django.conf import settings
        from django.http import JsonResponse
        from oauth2_provider.models import get_access_token_model

        if token_value:
            checksum = hashlib.sha256(token_value.encode("utf-8")).hexdigest()
            token = (
                get_access_token_model()
                .objects.filter(token_checksum=checksum)
                .select_related("application")
                .first()
            )
            allowed = set(getattr(settings, "OAUTH_INTROSPECTION_CLIENTS", []) or [])
            owner = token.application.client_id if token and token.application else None
            if token is not None and self.caller_client_id not in allowed | {owner}:
                return JsonResponse({"active": False})
        return self.get_token_response(token_value)

    def get(self, request, *args, **kwargs):
        return self._answer(request.GET.get("token"))

    def post(self, request, *args, **kwargs):
        return self._answer(request.POST.get("token"))


def _secret_matches(client_id: str, secret: str) -> bool:
    from django.contrib.auth.hashers import check_password

    application = get_application_model().objects.filter(client_id=client_id).first()
    if application is None or not secret:
        return False
    stored = application.client_secret or ""
    if getattr(application, "hash_client_secret", False):
        return check_password(secret, stored)
    return hmac.compare_digest(secret.encode(), stored.encode())


def _authenticated_client_id(request) -> str:
    """The client id whose credentials verify: Basic, then the form, then a bearer token."""
    import hashlib

    header = request.META.get("HTTP_AUTHORIZATION", "")
    if credentials := basic_credentials(request):
        client_id, secret = credentials
        if _secret_matches(client_id, secret):
            return client_id
    data = request.POST if request.method == "POST" else request.GET
    client_id, secret = str(data.get("client_id", "")), str(data.get("client_secret", ""))
    if client_id and _secret_matches(client_id, secret):
        return client_id
    if header[:7].lower() == "bearer ":
        from oauth2_provider.models import get_access_token_model

        checksum = hashlib.sha256(header[7:].strip().encode()).hexdigest()
        token = (
            get_access_token_model()
            .objects.filter(token_checksum=checksum)
            .select_related("application")
            .first()
        )
        if token is not None and token.is_valid() and token.application is not None:
            return token.application.client_id
    return ""
