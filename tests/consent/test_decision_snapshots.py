"""Consent snapshots named by access decisions, and filters and exports asked at them: the
namespace is never guessed, a decision's snapshot is reused only while its answer provably
holds, and its count and hash come from the first full read (issue 16)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from consent.identifiers import add_months
from consent.models import ConsentSnapshot, Purpose
from consent.selectors import history
from consent.services import snapshots
from consent.services.event_checks import CLOCK_SKEW
from governance.audit.models import LedgerEntry
from tests.accounts.factories import make_service_account
from tests.consent.factories import grant, make_purpose, record
from tests.test_api_shell import _token_for

FILTER = "/api/v1/consent/filter"
EXPORT = "/api/v1/consent/export"


@pytest.fixture
def purpose(db) -> Purpose:
    return make_purpose("churn-model")


@pytest.fixture
def job_client(api_client, bob):
    account, _ = make_service_account(bob, name="churn-job")
    grant(account.user, "query_consent")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {_token_for(account)}")
    return api_client


def test_answer_unchanged_sees_new_events_and_consent_running_out(purpose):
    # given consent that runs out in an hour (24 months' validity), recorded now
    now = timezone.now()
    event = record("c-1", "given", occurred_at=add_months(now, -24) + timedelta(hours=1))
    assert event.valid_until is not None
    later = now + CLOCK_SKEW + timedelta(minutes=1)
    # then the answer holds between two moments before it runs out, recorded long enough ago
    assert history.answer_unchanged(
        purpose=purpose, since=later, until=later + timedelta(minutes=10), skew=CLOCK_SKEW
    )
    # but not across the moment it runs out
    assert not history.answer_unchanged(
        purpose=purpose, since=later, until=event.valid_until, skew=CLOCK_SKEW
    )
    # and not since a moment at which the event could still take effect (dated up to the skew
    # after it was recorded)
    assert not history.answer_unchanged(
        purpose=purpose, since=now, until=now + timedelta(seconds=1), skew=CLOCK_SKEW
    )


def test_a_decision_snapshot_is_reused_while_nothing_changed_and_replaced_after(purpose):
    first = snapshots.decision_snapshot(purpose=purpose, namespace="shop")
    assert snapshots.decision_snapshot(purpose=purpose, namespace="shop").pk == first.pk
    # another namespace is another question
    assert snapshots.decision_snapshot(purpose=purpose, namespace="crm").pk != first.pk
    record("c-1", "given")
    assert snapshots.decision_snapshot(purpose=purpose, namespace="shop").pk != first.pk


def test_a_filter_without_namespace_uses_the_only_one_and_refuses_when_ambiguous(
    purpose, job_client
):
    record("c-1", "given", namespace="shop")
    # one namespace: it is the one
    only = job_client.post(
        FILTER, {"purpose": "churn-model", "subject_ids": ["c-1"]}, format="json"
    )
    assert only.status_code == 200
    assert (only.json()["namespace"], only.json()["subject_ids"]) == ("shop", ["c-1"])
    # two: a 400 naming them, nothing recorded but the refusal
    record("c-2", "given", namespace="crm")
    before = ConsentSnapshot.objects.count()
    entries = LedgerEntry.objects.count()
    response = job_client.post(
        FILTER, {"purpose": "churn-model", "subject_ids": ["c-1"]}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["details"] == {"field": "namespace", "namespaces": ["crm", "shop"]}
    assert "several namespaces (crm, shop)" in error["message"]
    assert ConsentSnapshot.objects.count() == before
    assert LedgerEntry.objects.count() == entries


def test_an_export_without_namespace_is_refused_when_ambiguous_and_star_means_all(
    purpose, job_client
):
    record("c-1", "given", namespace="shop")
    record("c-2", "given", namespace="crm")
    refused = job_client.get(EXPORT, {"purpose": "churn-model"})
    assert refused.status_code == 400
    assert refused.json()["error"]["details"]["namespaces"] == ["crm", "shop"]
    every = job_client.get(EXPORT, {"purpose": "churn-model", "namespace": "*"})
    assert every.status_code == 200
    assert b"".join(every.streaming_content).decode() == (
        '{"namespace":"crm","subject_id":"c-2"}\n{"namespace":"shop","subject_id":"c-1"}\n'
    )


def test_filter_and_export_at_a_decision_snapshot_answer_its_question_and_seal_it(
    purpose, job_client
):
    # given a decision's snapshot, then a withdrawal and a new consent recorded after it
    record("c-1", "given", namespace="shop")
    record("c-2", "given", namespace="shop")
    record("x-1", "given", namespace="crm")
    decision = snapshots.decision_snapshot(purpose=purpose, namespace="shop")
    record("c-2", "withdrawn", namespace="shop")
    record("c-3", "given", namespace="shop")
    # when a job filters at the snapshot (no purpose or namespace needed)
    response = job_client.post(
        FILTER, {"snapshot": str(decision.pk), "subject_ids": ["c-1", "c-2", "c-3"]}, format="json"
    )
    # then it gets the answer as of the decision, not as of now
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["subject_ids"] == ["c-1", "c-2"]
    assert body["snapshot"]["basis"] == str(decision.pk)
    assert body["as_of"] == decision.as_of.isoformat().replace("+00:00", "Z")
    # when it exports at the snapshot
    export = job_client.get(EXPORT, {"snapshot": str(decision.pk)})
    lines = b"".join(export.streaming_content).decode()
    assert lines == (
        '{"namespace":"shop","subject_id":"c-1"}\n{"namespace":"shop","subject_id":"c-2"}\n'
    )
    # then the decision's snapshot is sealed with the count and hash of that set
    decision.refresh_from_db()
    assert decision.completed_at is not None
    assert decision.count == 2
    assert decision.sha256 == history.answer_digest([("shop", "c-1"), ("shop", "c-2")])
    # and a later decision names what changed, in a new snapshot
    assert snapshots.decision_snapshot(purpose=purpose, namespace="shop").pk != decision.pk


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"namespace": "crm"}, "namespace"),
        ({"purpose": "other-purpose"}, "purpose"),
        ({"as_of": "2026-01-01T00:00:00Z"}, "as_of"),
    ],
)
def test_asking_at_a_snapshot_with_a_contradicting_value_is_a_400(
    purpose, job_client, extra, field
):
    decision = snapshots.decision_snapshot(purpose=purpose, namespace="shop")
    before = ConsentSnapshot.objects.count()
    response = job_client.post(
        FILTER, {"snapshot": str(decision.pk), "subject_ids": ["c-1"], **extra}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"field": field}
    assert ConsentSnapshot.objects.count() == before


def test_an_unknown_snapshot_is_a_404_and_a_filter_needs_a_purpose_or_a_snapshot(
    purpose, job_client
):
    unknown = job_client.post(
        FILTER,
        {"snapshot": "00000000-0000-0000-0000-000000000000", "subject_ids": ["c-1"]},
        format="json",
    )
    assert unknown.status_code == 404
    neither = job_client.post(FILTER, {"subject_ids": ["c-1"]}, format="json")
    assert neither.status_code == 400
    assert neither.json()["error"]["details"] == {"field": "purpose"}


def test_any_job_that_may_query_reads_a_decision_snapshot(purpose, job_client):
    decision = snapshots.decision_snapshot(purpose=purpose, namespace="shop")
    response = job_client.get(f"/api/v1/consent/snapshots/{decision.pk}")
    assert response.status_code == 200
    assert response.json()["kind"] == "decision"
    assert response.json()["count"] is None


@pytest.mark.django_db(transaction=True)
def test_a_consent_writer_in_another_database_does_not_hold_the_watermark_back():
    """Advisory locks are cluster-wide: a registry sharing the PostgreSQL server (another
    database) writing consent must not freeze this registry's snapshots in the past."""
    import psycopg
    from django.db import connection

    settings_dict = connection.settings_dict
    other = psycopg.connect(
        host=settings_dict["HOST"],
        port=settings_dict["PORT"] or 5432,
        user=settings_dict["USER"],
        password=settings_dict["PASSWORD"] or None,
        dbname="postgres",
    )
    try:
        with other.transaction(), other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", list(history.WRITER_LOCK))
            before = timezone.now()
            watermark = history.known_watermark()
        assert watermark is not None and watermark >= before
    finally:
        other.close()
