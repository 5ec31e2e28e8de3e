"""The cache (Redis: API throttles) is a dependency too: when it is down, the check fails
closed with 503 `unavailable` and Retry-After — never a 500, never an allow. Signing in does not
depend on it (sessions and lockouts are in the database)."""

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


def test_signing_in_does_not_depend_on_the_cache(client, db, dead_cache):
    """Sessions and sign-in lockouts (django-axes) live in the database: with the cache down a
    person still signs in, and failures still count toward the lockout."""
    UserFactory(username="bob", roles=["engineer"])
    client.raise_request_exception = False  # as in production
    for _ in range(4):
        refused = client.post("/accounts/login/", {"username": "bob", "password": "wrong"})
        assert refused.status_code == 200
    response = client.post(
        "/accounts/login/", {"username": "bob", "password": "correct-horse-battery-staple"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/"
