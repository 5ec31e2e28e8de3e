"""The check answers from the facts as they are now: a change is seen by the very next check,
in the same second (issue 14). Whatever the check caches to be fast (tokens, principals,
facts, keys), these must keep passing: a revoke, an expiry, a role change, a deactivation or a
withdrawn approval is never answered from before it."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from governance.access import services
from governance.access.models import PurposeApproval
from governance.accounts.services import service_account_revoke, user_roles_set
from tests.access.conftest import router_job
from tests.access.test_check_api import call
from tests.test_api_shell import _token_for

BODY = {"dataset": "support-tickets", "purpose": "ticket-routing"}


@pytest.fixture
def job(bob, alice, approved_for_routing, tickets):
    """A service account of bob's with an acknowledged grant on support-tickets."""
    return router_job(bob, alice, tickets)


def _codes(response) -> list[str]:
    return [reason["code"] for reason in response.json()["reasons"]]


@pytest.fixture
def frozen():
    """One moment for the whole test: every check and change happens in the same second."""
    moment = (timezone.now() + timedelta(seconds=1)).replace(microsecond=500_000)
    with time_machine.travel(moment, tick=False):
        yield


def test_a_revoked_grant_is_denied_by_the_next_check_in_the_same_second(
    api_client, job, alice, frozen
):
    # given a job whose check allows
    account, grant = job
    token = _token_for(account)
    assert call(api_client, token, BODY).json()["decision"] == "allow"
    # when the steward revokes the grant, in the same second
    services.grant_revoke(actor=alice, grant=grant, reason="Left the project.")
    # then the next check denies it
    response = call(api_client, token, BODY)
    assert response.status_code == 200
    assert response.json()["decision"] == "deny"
    assert "grant_revoked" in _codes(response)


def test_an_expired_grant_is_denied_the_moment_it_expires(api_client, job):
    # given a job whose check allows a few seconds before the grant ends
    account, grant = job
    with time_machine.travel(grant.expires_at - timedelta(seconds=5), tick=False):
        token = _token_for(account)
        assert call(api_client, token, BODY).json()["decision"] == "allow"
    # when the grant's end passes (nothing was written: no beat job ran)
    with time_machine.travel(grant.expires_at + timedelta(milliseconds=1), tick=False):
        response = call(api_client, token, BODY)
    # then the check denies it
    assert response.json()["decision"] == "deny"
    assert "grant_expired" in _codes(response)


def test_an_owner_who_loses_their_role_stops_the_job_in_the_same_second(
    api_client, job, bob, ada, frozen
):
    # given a job whose check allows
    account, _ = job
    token = _token_for(account)
    assert call(api_client, token, BODY).json()["decision"] == "allow"
    # when its accountable owner loses every role that may run jobs
    user_roles_set(user=bob, roles=[], actor=ada)
    # then the next check denies it, naming the owner
    response = call(api_client, token, BODY)
    assert response.json()["decision"] == "deny"
    assert _codes(response) == ["owner_inactive"]


def test_a_revoked_service_account_token_is_refused_in_the_same_second(
    api_client, job, ada, frozen
):
    # given a job whose check allows
    account, _ = job
    token = _token_for(account)
    assert call(api_client, token, BODY).json()["decision"] == "allow"
    # when an administrator revokes the service account
    service_account_revoke(service_account=account, actor=ada, reason="Compromised.")
    # then its token no longer authenticates: 401, no decision
    response = call(api_client, token, BODY)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_a_withdrawn_purpose_approval_is_denied_in_the_same_second(api_client, job, petra, frozen):
    # given a job whose check allows
    account, grant = job
    token = _token_for(account)
    assert call(api_client, token, BODY).json()["decision"] == "allow"
    # when the privacy officer withdraws the dataset's approval for the purpose
    approval = PurposeApproval.objects.get(dataset=grant.dataset, purpose_slug="ticket-routing")
    services.purpose_approval_revoke(actor=petra, approval=approval, reason="DPIA reopened.")
    # then the next check denies it
    response = call(api_client, token, BODY)
    assert response.json()["decision"] == "deny"
    assert "dataset_not_approved_for_purpose" in _codes(response)
