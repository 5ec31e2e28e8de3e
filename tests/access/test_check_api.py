"""POST /api/v1/access/check as a training job sees it."""

from __future__ import annotations

import pytest
from django.db import DatabaseError

from governance.access import services
from governance.access.leases import lease_verify
from governance.audit.models import LedgerEntry
from tests.access.conftest import request_and_approve, router_job
from tests.accounts.factories import make_service_account
from tests.test_api_shell import _token_for


@pytest.fixture
def job(bob, alice, approved_for_routing, tickets):
    """A service account of bob's with an acknowledged grant on support-tickets."""
    return router_job(bob, alice, tickets, fields=("ticket_id", "email", "message"))


def call(api_client, token, body, **extra):
    return api_client.post(
        "/api/v1/access/check", body, format="json", HTTP_AUTHORIZATION=f"Bearer {token}", **extra
    )


def test_allow_answer_carries_fields_obligations_and_a_verifiable_lease(api_client, job):
    account, grant = job
    token = _token_for(account)
    # when
    response = call(
        api_client,
        token,
        {"dataset": "support-tickets", "purpose": "ticket-routing", "fields": ["email", "message"]},
    )
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["decision"] == "allow"
    assert body["reasons"] == []
    assert body["grant"] == grant.pk
    assert body["fields"] == ["email", "message"]
    assert body["principal"] == "service_account:router-training"
    assert body["obligations"] == {
        "fields": {"email": "pseudonymize", "message": "mask"},
        "pseudonymize": {
            "key_endpoint": "/api/v1/access/pseudonym-keys",
            "purpose": "ticket-routing",
        },
    }
    assert body["expires_at"] == grant.expires_at.isoformat().replace("+00:00", "Z")
    # the lease verifies with the published keys alone
    keys = api_client.get("/api/v1/access/keys").json()
    claims = lease_verify(body["lease"], keys, audience="governance-data-gateway")
    assert claims["aud"] == "governance-data-gateway"
    assert claims["jti"] == body["decision_id"]
    assert claims["exp"] == int(grant.expires_at.timestamp())
    assert claims["lease"]["fields"] == ["email", "message"]
    assert claims["lease"]["obligations"] == body["obligations"]
    entry = LedgerEntry.objects.get(event="access.check")
    assert entry.additional_data["decision_id"] == body["decision_id"]
    assert entry.actor == account.user


def test_unknown_dataset_is_a_deny_not_a_404(api_client, job):
    account, _ = job
    response = call(
        api_client, _token_for(account), {"dataset": "no-such-thing", "purpose": "ticket-routing"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["decision"] == "deny"
    assert [r["code"] for r in body["reasons"]] == ["no_grant"]
    assert body["lease"] is None


def test_a_dataset_without_a_grant_looks_like_an_unknown_one(api_client, db, bob, tickets):
    account, _ = make_service_account(bob, name="nosy")
    token = _token_for(account)
    known = call(api_client, token, {"dataset": "support-tickets", "purpose": "x"}).json()
    unknown = call(api_client, token, {"dataset": "secret-project", "purpose": "x"}).json()
    assert known["reasons"] == unknown["reasons"]


@pytest.fixture
def churn_job(bob, alice, petra, tickets, consent_purpose):
    """A service account with an acknowledged grant on support-tickets for a consent-based
    purpose; the catalog says the subject ids are in field ticket_id, namespace shop."""
    from datasets.models import Dataset

    Dataset.objects.filter(pk=tickets.pk).update(
        subject_id_field="ticket_id", subject_namespace="shop"
    )
    services.purpose_approval_create(actor=petra, dataset=tickets, purpose_slug="churn-model")
    account, _ = make_service_account(bob, name="churn-job")
    request = request_and_approve(
        bob, alice, tickets, purpose="churn-model", principal="service_account:churn-job"
    )
    services.grant_acknowledge(actor=bob, grant=request.grant)
    return account


def test_consent_based_purposes_name_namespace_field_and_a_snapshot_to_filter_at(
    api_client, churn_job
):
    from consent.models import ConsentSnapshot

    # when
    body = call(
        api_client, _token_for(churn_job), {"dataset": "support-tickets", "purpose": "churn-model"}
    ).json()
    # then
    assert body["decision"] == "allow"
    snapshot = ConsentSnapshot.objects.get(kind="decision")
    stamp = snapshot.as_of.isoformat().replace("+00:00", "Z")
    assert snapshot.as_of == snapshot.known_at
    assert (snapshot.namespace, snapshot.purpose.slug) == ("shop", "churn-model")
    assert body["obligations"]["consent_filter"] == {
        "purpose": "churn-model",
        "namespace": "shop",
        "subject_id_field": "ticket_id",
        "snapshot": {
            "id": str(snapshot.pk),
            "purpose_version": 1,
            "as_of": stamp,
            "known_at": stamp,
            "count": None,
            "sha256": None,
        },
        "filter_endpoint": "/api/v1/consent/filter",
        "export_endpoint": f"/api/v1/consent/export?snapshot={snapshot.pk}",
    }
    entry = LedgerEntry.objects.get(event="access.check")
    assert entry.additional_data["consent_snapshot"] == str(snapshot.pk)


def test_a_consent_based_purpose_on_a_dataset_without_subject_mapping_is_denied(
    api_client, churn_job, tickets
):
    from consent.models import ConsentSnapshot
    from datasets.models import Dataset

    # given: the catalog no longer says in which namespace the subject ids are
    Dataset.objects.filter(pk=tickets.pk).update(subject_namespace="")
    # when
    body = call(
        api_client, _token_for(churn_job), {"dataset": "support-tickets", "purpose": "churn-model"}
    ).json()
    # then
    assert body["decision"] == "deny"
    assert [r["code"] for r in body["reasons"]] == ["subject_mapping_missing"]
    assert body["lease"] is None
    assert not ConsentSnapshot.objects.exists()


def test_checks_reuse_the_snapshot_until_consent_changes(api_client, churn_job):
    from consent.models import ConsentSnapshot
    from tests.consent.factories import record

    token = _token_for(churn_job)
    body = {"dataset": "support-tickets", "purpose": "churn-model"}

    def snapshot_id():
        return call(api_client, token, body).json()["obligations"]["consent_filter"]["snapshot"]

    # given a first decision
    first = snapshot_id()
    # when nothing was recorded since, then the next decision names the same snapshot
    assert snapshot_id()["id"] == first["id"]
    # when a consent event is recorded, then the next decision takes a new snapshot
    record("t-1", "withdrawn", purpose="churn-model")
    second = snapshot_id()
    assert second["id"] != first["id"]
    assert snapshot_id()["id"] != first["id"]  # recorded less than CLOCK_SKEW before
    assert ConsentSnapshot.objects.filter(kind="decision").count() >= 2


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"dataset": "support-tickets"},
        {"dataset": "x", "purpose": "y", "fields": []},
        {"dataset": "x", "purpose": "y", "fields": "email"},
        {"dataset": ["x"], "purpose": "y"},
    ],
)
def test_malformed_requests_are_400(api_client, job, body):
    account, _ = job
    response = call(api_client, _token_for(account), body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert not LedgerEntry.objects.filter(event="access.check").exists()


def test_no_token_is_401_and_a_bad_token_is_401(api_client, db):
    response = api_client.post(
        "/api/v1/access/check", {"dataset": "x", "purpose": "y"}, format="json"
    )
    assert response.status_code == 401
    response = call(api_client, "not-a-token", {"dataset": "x", "purpose": "y"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_asking_about_another_principal_is_403(api_client, job):
    account, _ = job
    response = call(
        api_client,
        _token_for(account),
        {"dataset": "support-tickets", "purpose": "ticket-routing", "principal": "user:alice"},
    )
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "You can only check your own access."


def test_a_database_failure_is_a_503_never_an_allow(api_client, job, monkeypatch):
    account, _ = job
    token = _token_for(account)

    def broken(*args, **kwargs):
        raise DatabaseError("connection lost")

    monkeypatch.setattr("governance.access.services.check._gather", broken)
    response = call(api_client, token, {"dataset": "support-tickets", "purpose": "ticket-routing"})
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "unavailable"
    assert "denied" in error["message"]
    assert set(error["details"]) == {"decision_id"}


def test_the_check_gathers_facts_with_a_fixed_number_of_queries(
    api_client, job, alice, django_assert_num_queries
):
    from datasets import services as catalog

    account, _ = job
    token = _token_for(account)
    call(api_client, token, {"dataset": "support-tickets", "purpose": "ticket-routing"})
    from governance.access.services.check import check_access

    # the statement and lock timeouts, one statement that reads every fact (the privacy
    # budget's requirement included), the ledger insert, and the savepoint
    with django_assert_num_queries(5):
        result = check_access(
            principal=account.user, dataset_slug="support-tickets", purpose_slug="ticket-routing"
        )
    assert result.decision.allow
    # more fields do not mean more queries
    catalog.dataset_reopen(actor=alice, dataset=account.user.grants.first().dataset, reason="x")
    for i in range(20):
        catalog.field_create(
            actor=alice, dataset=account.user.grants.first().dataset, name=f"extra_{i}"
        )
    with django_assert_num_queries(5):
        result = check_access(
            principal=account.user, dataset_slug="support-tickets", purpose_slug="ticket-routing"
        )
    assert "dataset_not_approved" in [r["code"] for r in result.decision.reasons]


def test_request_flow_through_the_api(client, bob, alice, approved_for_routing, tickets):
    client.force_login(bob)
    response = client.post(
        "/api/v1/access/requests/create",
        {
            "dataset": "support-tickets",
            "purpose": "ticket-routing",
            "fields": ["email"],
            "duration_days": 14,
            "justification": "Train the ticket router on last year's tickets.",
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    request_id = response.json()["id"]
    # bob cannot approve his own request
    response = client.post(
        f"/api/v1/access/requests/{request_id}/approve", {}, content_type="application/json"
    )
    assert response.status_code == 403
    client.force_login(alice)
    inbox = client.get("/api/v1/access/requests?box=inbox").json()["results"]
    assert [r["id"] for r in inbox] == [request_id]
    response = client.post(
        f"/api/v1/access/requests/{request_id}/approve",
        {"text": "ok"},
        content_type="application/json",
    )
    assert response.json()["status"] == "approved"
    grant_id = response.json()["grant"]
    client.force_login(bob)
    grants = client.get("/api/v1/access/grants").json()["results"]
    assert [(g["id"], g["status"]) for g in grants] == [(grant_id, "active")]
    assert client.post(f"/api/v1/access/grants/{grant_id}/acknowledge").status_code == 200
    body = client.post(
        "/api/v1/access/check",
        {"dataset": "support-tickets", "purpose": "ticket-routing"},
        content_type="application/json",
    ).json()
    assert body["decision"] == "allow"
    response = client.post(
        f"/api/v1/access/grants/{grant_id}/revoke", {"text": ""}, content_type="application/json"
    )
    assert response.status_code == 400
    client.post(
        f"/api/v1/access/grants/{grant_id}/revoke",
        {"text": "done"},
        content_type="application/json",
    )
    body = client.post(
        "/api/v1/access/check",
        {"dataset": "support-tickets", "purpose": "ticket-routing"},
        content_type="application/json",
    ).json()
    assert [r["code"] for r in body["reasons"]] == ["grant_revoked"]


def test_over_long_duration_via_api_is_400_naming_the_maximum(client, bob, approved_for_routing):
    client.force_login(bob)
    response = client.post(
        "/api/v1/access/requests/create",
        {
            "dataset": "support-tickets",
            "purpose": "ticket-routing",
            "fields": ["email"],
            "duration_days": 365,
            "justification": "Train the ticket router on last year's tickets.",
        },
        content_type="application/json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["details"] == {
        "field": "duration_days",
        "max": 60,
        "fields": {"duration_days": error["message"]},
    }


def test_a_consent_based_allow_that_reuses_its_snapshot_costs_one_more_statement(
    api_client, churn_job, django_assert_num_queries
):
    from governance.access.services.check import check_access

    first = check_access(
        principal=churn_job.user, dataset_slug="support-tickets", purpose_slug="churn-model"
    )
    # the five of an allow, and one statement that finds the snapshot still answers
    with django_assert_num_queries(6):
        again = check_access(
            principal=churn_job.user, dataset_slug="support-tickets", purpose_slug="churn-model"
        )
    assert (
        again.decision.obligations["consent_filter"]["snapshot"]["id"]
        == first.decision.obligations["consent_filter"]["snapshot"]["id"]
    )
