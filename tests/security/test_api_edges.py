"""The API's edges (issue "Hardening the edges", items 2 and 6): throttles that meet
anonymous and failing callers before any refusal does, the OAuth2 endpoints throttled,
introspection only of one's own tokens, 401 before 406, every list paginated, and a schema
that documents every error answer."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.accounts.factories import make_service_account
from tests.test_api_shell import _token_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "anon": "3/min",
            "failed_authentication": "3/min",
            "token": "3/min",
        },
    }


def _is_throttled(response) -> None:
    assert response.status_code == 429, response.content[:200]
    assert int(response["Retry-After"]) >= 1
    error = response.json()["error"]
    assert error["code"] == "throttled"
    assert error["details"]["retry_after_seconds"] >= 1


def test_anonymous_calls_are_throttled_before_they_are_refused(api_client, rates):
    answers = [api_client.get("/api/v1/datasets/").status_code for _ in range(3)]
    assert answers == [401, 401, 401]
    _is_throttled(api_client.get("/api/v1/datasets/"))
    # another address is not affected
    assert api_client.get("/api/v1/datasets/", REMOTE_ADDR="10.1.1.1").status_code == 401


def test_failing_tokens_are_throttled_but_a_valid_one_still_works(api_client, bob, rates):
    for _ in range(3):
        response = api_client.get("/api/v1/me", HTTP_AUTHORIZATION="Bearer not-a-token")
        assert response.status_code == 401
    _is_throttled(api_client.get("/api/v1/me", HTTP_AUTHORIZATION="Bearer not-a-token"))
    account, _ = make_service_account(bob, name="good-job")
    token = _token_for(account)
    assert api_client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


@pytest.mark.parametrize("path", ["/o/token/", "/o/introspect/", "/o/revoke_token/"])
def test_the_oauth2_endpoints_are_throttled_per_address(client, rates, path):
    body = {"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"}
    for _ in range(3):
        assert client.post(path, body).status_code != 429
    _is_throttled(client.post(path, body))


def _basic(account, secret) -> dict:
    import base64

    pair = f"{account.application.client_id}:{secret}".encode()
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(pair).decode()}


def test_introspection_answers_only_about_the_callers_own_tokens(client, bob, settings):
    first, first_secret = make_service_account(bob, name="first-job")
    second, _ = make_service_account(bob, name="second-job")
    first_token, second_token = _token_for(first), _token_for(second)
    # its own token: the full answer
    own = client.post("/o/introspect/", {"token": first_token}, **_basic(first, first_secret))
    assert own.status_code == 200
    assert own.json()["active"] is True
    assert own.json()["client_id"] == first.application.client_id
    # another client's token: nothing (as if it did not exist)
    other = client.post("/o/introspect/", {"token": second_token}, **_basic(first, first_secret))
    assert other.json() == {"active": False}
    # a resource server named in the settings may introspect any token
    settings.OAUTH_INTROSPECTION_CLIENTS = [first.application.client_id]
    allowed = client.post("/o/introspect/", {"token": second_token}, **_basic(first, first_secret))
    assert allowed.json()["active"] is True


def test_an_anonymous_export_with_an_unsupported_accept_is_a_401_not_a_406(db):
    client = APIClient()
    response = client.get(
        "/api/v1/consent/export?purpose=p&namespace=shop", HTTP_ACCEPT="application/xml"
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_every_list_is_paginated(client, ada):
    from tests.consent.factories import make_purpose

    for i in range(5):
        make_purpose(f"purpose-{i}")
    client.force_login(ada)
    first = client.get("/api/v1/consent/purposes?page_size=2").json()
    assert (first["count"], first["page"], first["page_size"]) == (5, 1, 2)
    assert len(first["results"]) == 2
    assert first["previous"] is None
    second = client.get(first["next"]).json()
    assert second["page"] == 2
    assert {p["slug"] for p in first["results"]}.isdisjoint(p["slug"] for p in second["results"])
    beyond = client.get("/api/v1/consent/purposes?page=9&page_size=2").json()
    assert beyond["results"] == [] and beyond["count"] == 5
    bad = client.get("/api/v1/consent/purposes?page_size=501")
    assert bad.status_code == 400
    assert bad.json()["error"]["details"]["field"] == "page_size"


def test_the_schema_documents_every_error_answer_and_every_list_as_a_page(client, ada):
    import yaml

    client.force_login(ada)
    schema = yaml.safe_load(client.get("/api/schema/").content)
    assert schema["components"]["schemas"]["Error"]["properties"]["error"]["required"] == [
        "code",
        "message",
        "details",
    ]
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            responses = operation["responses"]
            for code in ("400", "401", "403", "404", "429", "503"):
                assert code in responses, (method, path, code)
            if operation["operationId"].endswith("_list"):
                success = responses["200"]["content"]["application/json"]["schema"]
                assert success["$ref"].split("/")[-1].startswith("Paginated"), path
