"""A training job's view: a real OAuth2 client, over HTTP, against a live server."""

from __future__ import annotations

import pytest
import requests
from oauthlib.oauth2 import BackendApplicationClient
from requests_oauthlib import OAuth2Session

from tests.accounts.factories import UserFactory, make_service_account

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def job(live_server, monkeypatch):
    # The live server speaks plain HTTP on loopback; oauthlib refuses that unless told.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    owner = UserFactory(username="bob", roles=["engineer"])
    account, secret = make_service_account(owner, name="fraud-training")
    return account, secret


def test_client_credentials_token_calls_me_as_the_service_account(live_server, job):
    account, secret = job
    # given a token from /o/token/ obtained with a standard OAuth2 client
    session = OAuth2Session(client=BackendApplicationClient(client_id=account.client_id))
    token = session.fetch_token(
        token_url=f"{live_server.url}/o/token/", client_id=account.client_id, client_secret=secret
    )
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    # when the job asks who it is
    response = session.get(f"{live_server.url}/api/v1/me")
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["kind"] == "service_account"
    assert body["username"] == "svc.fraud-training"
    assert body["authentication"] == "oauth2"
    assert body["scopes"] == ["read", "write"]
    assert body["service_account"]["name"] == "fraud-training"
    assert body["service_account"]["client_id"] == account.client_id
    assert body["service_account"]["owner"] == {"username": "bob", "email": "bob@example.org"}


def test_wrong_secret_gets_no_token(live_server, job):
    account, _ = job
    response = requests.post(
        f"{live_server.url}/o/token/",
        data={"grant_type": "client_credentials"},
        auth=(account.client_id, "not-the-secret"),
        timeout=10,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_revoked_account_gets_no_token(live_server, job):
    from governance.accounts.services import service_account_revoke

    account, secret = job
    service_account_revoke(service_account=account, actor=None, reason="retired")
    response = requests.post(
        f"{live_server.url}/o/token/",
        data={"grant_type": "client_credentials"},
        auth=(account.client_id, secret),
        timeout=10,
    )
    assert response.status_code == 401
