"""The export: every consenting subject, streamed from a server-side cursor."""

from __future__ import annotations

import hashlib
import json
import tracemalloc

import pytest
from django.db import connection
from django.http import StreamingHttpResponse

from consent.models import ConsentSnapshot
from governance.audit.models import LedgerEntry
from tests.accounts.factories import make_service_account
from tests.consent.factories import at, grant, make_purpose, record
from tests.test_api_shell import _token_for, assert_error

pytestmark = pytest.mark.django_db

EXPORT = "/api/v1/consent/export"


@pytest.fixture
def purpose(db):
    return make_purpose("churn-model")


@pytest.fixture
def job(bob):
    account, _ = make_service_account(bob, name="churn-training")
    grant(account.user, "query_consent")
    return account


@pytest.fixture
def job_client(api_client, job):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {_token_for(job)}")
    return api_client


def _insert_subjects(purpose, *, consenting: int, withdrawn: int) -> None:
    """Subjects e-0000000.. with one event each, written by PostgreSQL itself: the first
    ``consenting`` gave consent, the next ``withdrawn`` withdrew it."""
    notice = purpose.notices.get(version=1)
    total = consenting + withdrawn
    with connection.cursor() as cursor:
        # Replica mode skips the foreign-key triggers while generating: otherwise PostgreSQL
        # queues two million deferred checks that the test's teardown would then run.
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            "INSERT INTO consent_subject (namespace, external_id, created_at) "
            "SELECT 'shop', 'e-' || lpad(g::text, 7, '0'), now() FROM generate_series(0, %s) g",
            [total - 1],
        )
        cursor.execute(
            """
            INSERT INTO consent_consentevent (subject_id, purpose_id, notice_id, status,
                occurred_at, recorded_at, valid_until, collection_method, evidence, fingerprint)
            SELECT s.id, %(purpose)s, %(notice)s,
                CASE WHEN s.id - first.id < %(consenting)s THEN 'given' ELSE 'withdrawn' END,
                %(t)s, %(t)s,
                CASE WHEN s.id - first.id < %(consenting)s THEN %(until)s::timestamptz END,
                'import', '{}', ''
            FROM consent_subject s,
                (SELECT min(id) AS id FROM consent_subject WHERE namespace = 'shop') first
            WHERE s.namespace = 'shop'
            """,
            {
                "purpose": purpose.pk,
                "notice": notice.pk,
                "consenting": consenting,
                "t": at(2026, 1, 1),
                "until": at(2099, 1, 1),
            },
        )
        cursor.execute("SET LOCAL session_replication_role = DEFAULT")
        # What autovacuum would do after a load this size, so the planner knows the tables.
        cursor.execute("ANALYZE consent_subject")
        cursor.execute("ANALYZE consent_consentevent")


def test_export_streams_a_million_consenting_subjects_in_bounded_memory(purpose, job_client):
    # given 1,000,000 subjects with valid consent and 20,000 who withdrew
    _insert_subjects(purpose, consenting=1_000_000, withdrawn=20_000)
    # when the job asks for the export
    response = job_client.get(EXPORT, {"purpose": "churn-model"})
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "application/x-ndjson"
    # and reads it chunk by chunk, tracing every allocation while the query runs and the first
    # 300,000 lines arrive: an answer built in memory would be allocated in that window (a
    # list of a million ids alone is over 60 MB), a growing buffer would show its growth
    chunks = iter(response.streaming_content)
    lines = largest = count = 0
    first = last = None
    tracemalloc.start()
    try:
        for chunk in chunks:
            count += 1
            largest = max(largest, len(chunk))
            lines += chunk.count(b"\n")
            first = first or chunk[: chunk.index(b"\n")]
            if lines >= 300_000:
                break
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    for chunk in chunks:
        count += 1
        largest = max(largest, len(chunk))
        lines += chunk.count(b"\n")
        last = chunk
    # then every consenting subject arrived, in order, in bounded chunks and bounded memory
    assert peak < 8 * 1024 * 1024, f"peak traced memory {peak:,} bytes"
    assert lines == 1_000_000
    assert count >= 200
    assert largest < 400_000
    assert json.loads(first) == {"namespace": "shop", "subject_id": "e-0000000"}
    assert json.loads(last.splitlines()[-1]) == {"namespace": "shop", "subject_id": "e-0999999"}
    # and the snapshot names exactly this answer
    snapshot = ConsentSnapshot.objects.get(pk=response["X-Consent-Snapshot"])
    expected = hashlib.sha256(b"".join(b"shop:e-%07d\n" % i for i in range(1_000_000)))
    assert (snapshot.count, snapshot.sha256) == (1_000_000, expected.hexdigest())
    assert snapshot.completed_at is not None
    events = list(
        LedgerEntry.objects.filter(object_pk=str(snapshot.pk))
        .order_by("id")
        .values_list("event", "actor__username")
    )
    assert events == [
        ("consent.export_started", "svc.churn-training"),
        ("consent.exported", "svc.churn-training"),
    ]


def _body(response) -> str:
    return b"".join(response.streaming_content).decode()


def test_export_as_csv_with_the_headers_that_name_the_answer(purpose, job_client):
    # given
    record("c-2", "given", occurred_at=at(2026, 1, 1))
    record("c-1", "given", occurred_at=at(2026, 1, 1))
    record("c-3", "withdrawn", occurred_at=at(2026, 1, 1))
    # when
    response = job_client.get(EXPORT, {"purpose": "churn-model", "format": "csv"})
    # then
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Cache-Control"] == "no-store"
    assert response["X-Consent-Purpose-Version"] == "1"
    assert response["Content-Disposition"].startswith(
        'attachment; filename="consent-churn-model-v1-'
    )
    assert _body(response) == "namespace,subject_id\r\nshop,c-1\r\nshop,c-2\r\n"
    snapshot = ConsentSnapshot.objects.get(pk=response["X-Consent-Snapshot"])
    assert snapshot.sha256 == hashlib.sha256(b"shop:c-1\nshop:c-2\n").hexdigest()


def test_csv_can_be_asked_for_with_the_accept_header(purpose, job_client):
    record("c-1", "given")
    response = job_client.get(EXPORT, {"purpose": "churn-model"}, HTTP_ACCEPT="text/csv")
    assert _body(response) == "namespace,subject_id\r\nshop,c-1\r\n"


def test_export_as_of_the_past_and_for_one_namespace(purpose, job_client):
    record("c-1", "given", occurred_at=at(2026, 1, 1))
    record("c-1", "withdrawn", occurred_at=at(2026, 2, 1))
    record("c-2", "given", namespace="crm", occurred_at=at(2026, 1, 1))
    response = job_client.get(
        EXPORT, {"purpose": "churn-model", "as_of": "2026-01-15T00:00:00Z", "namespace": "*"}
    )
    assert _body(response) == (
        '{"namespace":"crm","subject_id":"c-2"}\n{"namespace":"shop","subject_id":"c-1"}\n'
    )
    assert response["X-Consent-As-Of"] == "2026-01-15T00:00:00+00:00"
    only_crm = job_client.get(
        EXPORT, {"purpose": "churn-model", "as_of": "2026-01-15T00:00:00Z", "namespace": "crm"}
    )
    assert _body(only_crm) == '{"namespace":"crm","subject_id":"c-2"}\n'


def test_an_export_cut_short_keeps_its_start_in_the_ledger_and_no_count(purpose, job_client):
    # given
    _insert_subjects(purpose, consenting=12_000, withdrawn=0)
    # when the client goes away after the first chunk and the server closes the body (the test
    # client's wrapper around it closes the response the way a WSGI server does)
    response = job_client.get(EXPORT, {"purpose": "churn-model"})
    next(iter(response.streaming_content))
    response._iterator.close()
    # then
    snapshot = ConsentSnapshot.objects.get(pk=response["X-Consent-Snapshot"])
    assert (snapshot.count, snapshot.sha256, snapshot.completed_at) == (None, "", None)
    assert list(
        LedgerEntry.objects.filter(object_pk=str(snapshot.pk)).values_list("event", flat=True)
    ) == ["consent.export_started"]


@pytest.mark.parametrize(
    ("params", "status", "code", "message"),
    [
        ({"purpose": "nope"}, 400, "invalid", "There is no purpose 'nope'."),
        ({}, 400, "invalid", None),
        ({"purpose": "churn-model", "format": "xlsx"}, 400, "invalid", None),
        ({"purpose": "churn-model", "as_of": "yesterday"}, 400, "invalid", None),
        ({"purpose": "churn-model", "as_of": "2999-01-01T00:00:00Z"}, 400, "invalid", None),
    ],
)
def test_bad_export_questions_get_a_json_error_and_no_snapshot(
    purpose, job_client, params, status, code, message
):
    response = job_client.get(EXPORT, params)
    error = assert_error(response, status, code)
    if message:
        assert error["message"] == message
    assert ConsentSnapshot.objects.count() == 0


def test_export_needs_query_consent(purpose, client, alice):
    client.force_login(alice)
    error = assert_error(client.get(EXPORT, {"purpose": "churn-model"}), 403, "permission_denied")
    assert error["message"].startswith("Filtering and exporting consent needs")
    assert ConsentSnapshot.objects.count() == 0


def test_a_job_reads_its_snapshot_back(purpose, job_client, job, audrey, client, charlie):
    # given
    record("c-1", "given")
    response = job_client.get(EXPORT, {"purpose": "churn-model"})
    _body(response)
    snapshot_url = f"/api/v1/consent/snapshots/{response['X-Consent-Snapshot']}"
    # when / then the job itself and an auditor can read it
    body = job_client.get(snapshot_url).json()
    assert body["kind"] == "export"
    assert body["count"] == 1
    assert body["sha256"] == hashlib.sha256(b"shop:c-1\n").hexdigest()
    assert body["created_by"] == "svc.churn-training"
    client.force_login(audrey)
    assert client.get(snapshot_url).json()["id"] == response["X-Consent-Snapshot"]
    client.force_login(charlie)
    assert_error(client.get(snapshot_url), 403, "permission_denied")
    client.force_login(audrey)
    missing = client.get("/api/v1/consent/snapshots/00000000-0000-0000-0000-000000000000")
    assert_error(missing, 404, "not_found")
