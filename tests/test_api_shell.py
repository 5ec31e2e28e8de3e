"""The API shell: authentication, one error shape for every failure, throttling, schema."""

from __future__ import annotations

import re

import pytest
from django.conf import settings

from governance.accounts.models import ServiceAccount
from governance.api.errors import MSG_NOT_FOUND, MSG_SERVER_ERROR
from tests.accounts.factories import make_service_account


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def test_me_for_a_session_user(client, bob):
    client.force_login(bob)
    response = client.get("/api/v1/me")
    assert response.status_code == 200
    assert response.json() == {
        "kind": "user",
        "username": "bob",
        "name": "bob",
        "email": "bob@example.org",
        "roles": ["engineer"],
        "authentication": "session",
        "scopes": [],
        "service_account": None,
    }


def test_no_credentials_is_401_in_the_error_shape(api_client, db):
    response = api_client.get("/api/v1/me")
    error = assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert error["details"] == {}


def test_an_invalid_bearer_token_is_401_authentication_failed(api_client, db):
    response = api_client.get("/api/v1/me", HTTP_AUTHORIZATION="Bearer not-a-token")
    error = assert_error(response, 401, "authentication_failed")
    assert error["message"] == "The access token is invalid, expired or revoked."


def test_malformed_json_is_400_and_creates_nothing(client, ada):
    client.force_login(ada)
    response = client.post(
        "/api/v1/service-accounts/create", data='{"name": "x",', content_type="application/json"
    )
    assert_error(response, 400, "malformed_request")
    assert ServiceAccount.objects.count() == 0


def test_unsupported_media_type_is_415(client, ada):
    client.force_login(ada)
    response = client.post(
        "/api/v1/service-accounts/create",
        data="name=x",
        content_type="application/x-www-form-urlencoded",
    )
    error = assert_error(response, 415, "unsupported_media_type")
    assert "application/x-www-form-urlencoded" in error["message"]
    assert ServiceAccount.objects.count() == 0


def test_invalid_fields_are_400_with_per_field_details(client, ada):
    client.force_login(ada)
    response = client.post(
        "/api/v1/service-accounts/create", data={"owner": ""}, content_type="application/json"
    )
    error = assert_error(response, 400, "invalid")
    assert set(error["details"]) == {"name", "owner"}


def test_domain_errors_keep_their_message_and_field(client, ada, bob):
    client.force_login(ada)
    response = client.post(
        "/api/v1/service-accounts/create",
        data={"name": "Bad Name!", "owner": "bob"},
        content_type="application/json",
    )
    error = assert_error(response, 400, "invalid")
    assert error["message"].startswith("A service account name is 3-64 characters")
    assert error["details"] == {"field": "name"}


def test_permission_denied_is_403_and_creates_nothing(client, bob):
    client.force_login(bob)
    response = client.post(
        "/api/v1/service-accounts/create",
        data={"name": "sneaky", "owner": "bob"},
        content_type="application/json",
    )
    error = assert_error(response, 403, "permission_denied")
    assert error["message"] == "Only an administrator can create service accounts."
    assert ServiceAccount.objects.count() == 0


def test_unknown_api_url_is_404_in_the_error_shape(client, db):
    error = assert_error(client.get("/api/v1/no-such-thing"), 404, "not_found")
    assert error["message"] == MSG_NOT_FOUND


def test_wrong_method_is_405(client, bob):
    client.force_login(bob)
    assert_error(client.delete("/api/v1/me"), 405, "method_not_allowed")


def test_too_many_requests_is_429_with_retry_after(client, bob, monkeypatch):
    # given a caller allowed two requests a minute
    monkeypatch.setitem(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "principal", "2/min")
    client.force_login(bob)
    for _ in range(2):
        assert client.get("/api/v1/me").status_code == 200
    # when it makes a third
    response = client.get("/api/v1/me")
    error = assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    assert error["details"]["retry_after_seconds"] > 0


@pytest.mark.urls("tests.support.urls")
def test_a_bug_is_500_in_the_error_shape_with_the_request_id(client, bob):
    client.raise_request_exception = False
    client.force_login(bob)
    response = client.get("/api/v1/test-broken", HTTP_X_REQUEST_ID="trace-500")
    error = assert_error(response, 500, "server_error")
    assert error["message"] == MSG_SERVER_ERROR
    assert error["details"] == {"request_id": "trace-500"}


def test_service_account_token_call_records_the_service_account_as_actor(api_client, ada, bob):
    # given a source system's service account, allowed to record consent, with a token
    from oauth2_provider.models import AccessToken

    from consent.models import ConsentEvent
    from governance.audit.models import LedgerEntry
    from tests.consent.factories import grant, make_purpose

    make_purpose("churn-model")
    source, _ = make_service_account(ada, name="web-shop")
    grant(source.user, "add_consentevent")
    token = _token_for(source)
    # when it records a consent event through the API
    response = api_client.post(
        "/api/v1/consent/events",
        {
            "namespace": "shop",
            "subject_id": "c-1",
            "purpose": "churn-model",
            "status": "given",
            "occurred_at": "2026-01-10T09:30:00Z",
            "notice_version": 1,
            "collection_method": "web_form",
        },
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    # then the domain event names the service account as actor
    assert response.status_code == 201, response.content
    created = ConsentEvent.objects.get()
    entries = LedgerEntry.objects.filter(event="consent.recorded")
    assert [e.object_pk for e in entries] == [str(created.pk)]
    assert {e.actor_id for e in entries} == {source.user_id}
    assert {e.actor_label for e in entries} == {"svc.web-shop"}
    assert AccessToken.objects.filter(application=source.application).count() == 1


def _token_for(account) -> str:
    """A token as /o/token/ would issue it (the live-server test goes through /o/token/)."""
    from datetime import timedelta

    from django.utils import timezone
    from oauth2_provider.models import AccessToken, set_token_value
    from oauthlib.common import generate_token

    raw = generate_token()
    token = AccessToken(
        application=account.application,
        user=None,
        scope="read write",
        expires=timezone.now() + timedelta(hours=1),
    )
    set_token_value(token, raw)
    token.save()
    return raw


def test_revoked_service_account_token_is_refused(api_client, ada, bob):
    from governance.accounts.services import service_account_revoke

    account, _ = make_service_account(bob, name="old-job")
    token = _token_for(account)
    assert api_client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    service_account_revoke(service_account=account, actor=ada, reason="job retired")
    response = api_client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert_error(response, 401, "authentication_failed")


def test_a_job_token_is_read_with_its_service_account_and_owner_in_one_statement(bob):
    from django.db import connection
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext
    from rest_framework.request import Request

    from governance.accounts.authentication import BearerTokenAuthentication

    account, _ = make_service_account(bob, name="one-read")
    token = _token_for(account)
    request = Request(RequestFactory().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}"))
    with CaptureQueriesContext(connection) as queries:
        user, _ = BearerTokenAuthentication().authenticate(request)
        owner = user.service_account.owner
    assert (user, owner) == (account.user, bob)
    assert len(queries.captured_queries) == 1


def test_a_token_of_an_application_that_is_no_service_account_is_refused(api_client, db):
    from datetime import timedelta

    from django.utils import timezone
    from oauth2_provider.models import AccessToken, Application, set_token_value

    application = Application.objects.create(
        name="not-a-job",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
    )
    token = AccessToken(
        application=application,
        user=None,
        scope="read write",
        expires=timezone.now() + timedelta(hours=1),
    )
    set_token_value(token, "a-token-of-no-service-account")
    token.save()
    response = api_client.get(
        "/api/v1/me", HTTP_AUTHORIZATION="Bearer a-token-of-no-service-account"
    )
    assert_error(response, 401, "authentication_failed")


def test_openapi_schema_describes_me_and_the_oauth2_scheme(client, db):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/me" in schema["paths"]
    flows = schema["components"]["securitySchemes"]["oauth2"]["flows"]
    assert flows["clientCredentials"]["tokenUrl"] == "/o/token/"


def test_api_docs_are_served_from_local_assets_only(client, db):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()
    assert "https://" not in html
    for asset in (r"swagger-ui-bundle\.[0-9a-f]{12}\.js", r"swagger-ui\.[0-9a-f]{12}\.css"):
        match = re.search(rf'"(/static/drf_spectacular_sidecar/swagger-ui-dist/{asset})"', html)
        assert match, asset
        served = client.get(match.group(1))
        assert served.status_code == 200
        assert b"".join(served.streaming_content)
