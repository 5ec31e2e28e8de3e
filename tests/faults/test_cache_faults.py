"""The cache (Redis: throttles, sign-in lockouts) is a dependency too: when it is down, the
check fails closed with 503 `unavailable` and Retry-After, and the sign-in form answers 503 —
never a 500, never an allow."""

from __future__ import annotations

import pytest
from django.core.cache import caches

from tests.accounts.factories import UserFactory, make_service_account
from tests.test_api_shell import _token_for

DEAD_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
}


@pytest.fixture
def dead_cache(settings):
    settings.CACHES = DEAD_REDIS
    yield
    caches["default"].close()


def test_the_check_answers_503_when_the_cache_is_down(api_client, db, dead_cache):
    owner = UserFactory(username="bob", roles=["engineer"])
    account, _ = make_service_account(owner, name="router-job")
    response = api_client.post(
        "/api/v1/access/check",
        {"dataset": "tickets", "purpose": "routing"},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {_token_for(account)}",
    )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    assert response["Retry-After"] == "5"


def test_signing_in_answers_503_when_the_cache_is_down(client, db, dead_cache):
    UserFactory(username="alice", roles=["steward"])
    client.raise_request_exception = False  # answered by handler500, as in production
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": "correct-horse-battery-staple"}
    )
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert b"Temporarily unavailable" in response.content
