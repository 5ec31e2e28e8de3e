"""The consent API as sources and training jobs use it: bearer tokens, one error shape."""

from __future__ import annotations

import gc
import hashlib
import json
import uuid

import pytest

from consent.identifiers import subject_id_problem
from consent.models import ConsentEvent, ConsentSnapshot, ConsentState, Subject
from consent.services import events as recording
from governance.audit.models import LedgerEntry
from governance.errors import Conflict
from tests.accounts.factories import make_service_account
from tests.consent.factories import at, grant, make_purpose, record
from tests.test_api_shell import _token_for, assert_error

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/consent/events"
BATCH = "/api/v1/consent/events/batch"
FILTER = "/api/v1/consent/filter"


@pytest.fixture
def purpose(db):
    return make_purpose("churn-model")


@pytest.fixture
def source(ada):
    account, _ = make_service_account(ada, name="web-shop")
    grant(account.user, "add_consentevent")
    return account


@pytest.fixture
def source_client(api_client, source):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {_token_for(source)}")
    return api_client


@pytest.fixture
def job_client(bob):
    from rest_framework.test import APIClient

    account, _ = make_service_account(bob, name="churn-training")
    grant(account.user, "query_consent")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {_token_for(account)}")
    return client


def _given(**fields):
    return {
        "namespace": "shop",
        "subject_id": "c-1",
        "purpose": "churn-model",
        "status": "given",
        "occurred_at": "2026-01-10T09:30:00Z",
        "notice_version": 1,
        "collection_method": "web_form",
        "evidence": {"form_id": "signup-v3", "user_agent": "Mozilla/5.0"},
        "idempotency_key": "signup-1",
    } | fields


def test_a_source_records_consent_and_gets_the_event_and_the_state(purpose, source_client):
    # when
    response = source_client.post(EVENTS, _given(), format="json")
    # then
    assert response.status_code == 201, response.content
    body = response.json()
    event = ConsentEvent.objects.get()
    state = ConsentState.objects.get()
    assert body == {
        "id": event.pk,
        "subject": {"namespace": "shop", "id": "c-1"},
        "purpose": {"slug": "churn-model", "version": 1},
        "status": "given",
        "status_iri": "https://w3id.org/dpv#ConsentGiven",
        "occurred_at": "2026-01-10T09:30:00Z",
        "recorded_at": body["recorded_at"],
        "expires_at": None,
        "valid_until": "2028-01-10T09:30:00Z",
        "notice_version": 1,
        "collection_method": "web_form",
        "evidence": {"form_id": "signup-v3", "user_agent_hmac": event.evidence["user_agent_hmac"]},
        "recorded_by": "svc.web-shop",
        "idempotency_key": "signup-1",
        "replayed": False,
        "state": {
            "purpose": {"slug": "churn-model", "version": 1},
            "record_id": str(state.record_id),
            "status": "given",
            "status_iri": "https://w3id.org/dpv#ConsentGiven",
            "effective_status": "given",
            "valid": True,
            "since": "2026-01-10T09:30:00Z",
            "valid_until": "2028-01-10T09:30:00Z",
            "event_id": event.pk,
        },
    }
    entry = LedgerEntry.objects.get(event="consent.recorded")
    assert entry.actor_label == "svc.web-shop"


def test_a_replay_is_answered_200_with_the_original(purpose, source_client):
    first = source_client.post(EVENTS, _given(), format="json").json()
    again = source_client.post(EVENTS, _given(), format="json")
    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    assert again.json()["replayed"] is True
    assert ConsentEvent.objects.count() == 1


def test_a_reused_key_with_another_body_is_409_naming_the_key(purpose, source_client):
    source_client.post(EVENTS, _given(), format="json")
    response = source_client.post(EVENTS, _given(status="refused"), format="json")
    error = assert_error(response, 409, "conflict")
    assert error["message"] == recording.MSG_KEY_REUSED.format(key="signup-1")
    assert error["details"]["field"] == "idempotency_key"
    assert ConsentEvent.objects.count() == 1


def test_withdrawal_has_the_same_shape_as_giving(purpose, source_client):
    source_client.post(EVENTS, _given(), format="json")
    response = source_client.post(
        EVENTS,
        {"namespace": "shop", "subject_id": "c-1", "purpose": "churn-model", "status": "withdrawn"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["state"]["valid"] is False
    assert response.json()["collection_method"] == "api"
    assert LedgerEntry.objects.filter(event="consent.withdrawn").count() == 1


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"status": "sort-of"}, "status", None),
        ({"subject_id": "ana@example.org"}, "field", subject_id_problem("a@b")),
        ({"purpose": "nope"}, "field", recording.MSG_PURPOSE_UNKNOWN.format(slug="nope")),
        ({"occurred_at": "2999-01-01T00:00:00Z"}, "field", recording.MSG_OCCURRED_IN_FUTURE),
        ({"occurred_at": "last tuesday"}, "occurred_at", None),
        ({"notice_version": 0}, "notice_version", None),
        ({"evidence": {"ip": "1.2.3.4"}}, "field", None),
    ],
)
def test_bad_events_get_a_clear_400_and_record_nothing(
    purpose, source_client, fields, field, message
):
    response = source_client.post(EVENTS, _given(**fields), format="json")
    error = assert_error(response, 400, "invalid")
    assert field in error["details"]
    if message:
        assert error["message"] == message
    assert ConsentEvent.objects.count() == 0
    assert Subject.objects.count() == 0


def test_callers_without_the_permission_get_403_and_nothing_is_recorded(purpose, api_client, bob):
    job, _ = make_service_account(bob, name="not-a-source")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {_token_for(job)}")
    error = assert_error(api_client.post(EVENTS, _given(), format="json"), 403, "permission_denied")
    assert error["message"] == recording.MSG_RECORD_FORBIDDEN
    assert ConsentEvent.objects.count() == 0
    api_client.credentials()
    assert_error(api_client.post(EVENTS, _given(), format="json"), 401, "not_authenticated")


def test_a_json_array_batch_is_recorded_in_order(purpose, source_client):
    batch = [
        _given(subject_id="c-1", idempotency_key="a"),
        _given(subject_id="c-2", idempotency_key="b"),
        _given(
            subject_id="c-1",
            status="withdrawn",
            occurred_at="2026-02-01T00:00:00Z",
            idempotency_key="c",
        ),
    ]
    response = source_client.post(BATCH, batch, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["recorded"], body["replayed"]) == (3, 0)
    assert [(e["index"], e["status"], e["replayed"]) for e in body["events"]] == [
        (0, "given", False),
        (1, "given", False),
        (2, "withdrawn", False),
    ]
    assert [e["id"] for e in body["events"]] == sorted(e["id"] for e in body["events"])
    again = source_client.post(BATCH, batch, format="json")
    assert again.status_code == 200
    assert again.json()["replayed"] == 3


def test_the_cycle_collector_runs_again_after_a_batch_recorded_refused_or_failed(
    purpose, source_client, monkeypatch
):
    # given the collector running, as it does in every process
    assert gc.isenabled()
    # when a batch is recorded, one is refused, and one fails inside the service
    assert source_client.post(BATCH, [_given(subject_id="c-1")], format="json").status_code == 201
    refused = source_client.post(BATCH, [_given(subject_id="ana@example.org")], format="json")
    assert refused.status_code == 400
    monkeypatch.setattr(
        "consent.services.consent_record_batch",
        lambda **kwargs: (_ for _ in ()).throw(Conflict("busy")),
    )
    assert source_client.post(BATCH, [_given(subject_id="c-2")], format="json").status_code == 409
    # then it was paused only while each batch ran
    assert gc.isenabled()


def test_a_batch_with_bad_items_reports_each_by_index_and_records_nothing(purpose, source_client):
    batch = [
        _given(subject_id="c-1", idempotency_key="a"),
        _given(subject_id="c-2", idempotency_key="b", status="perhaps"),
        "not an object",
        _given(subject_id="c-4", idempotency_key="d"),
    ]
    response = source_client.post(BATCH, batch, format="json")
    error = assert_error(response, 400, "invalid")
    assert (
        error["message"]
        == "2 of 4 events have invalid fields, so nothing was recorded; see details.items."
    )
    assert [item["index"] for item in error["details"]["items"]] == [1, 2]
    assert set(error["details"]["items"][0]["errors"]) == {"status"}
    # domain problems are reported the same way
    batch = [
        _given(subject_id="c-1", idempotency_key="a"),
        _given(subject_id="+1 415 555 2671", idempotency_key="b"),
    ]
    error = assert_error(source_client.post(BATCH, batch, format="json"), 400, "invalid")
    assert error["details"]["items"] == [
        {"index": 1, "errors": {"subject_id": [subject_id_problem("+1 415 555 2671")]}}
    ]
    assert ConsentEvent.objects.count() == 0


def _ndjson(items) -> str:
    return "\n".join(json.dumps(item) for item in items) + "\n"


def test_a_json_batch_larger_than_djangos_upload_limit_is_accepted(purpose, source_client):
    # given 3,000 events with long user agents: about 3 MB, over DATA_UPLOAD_MAX_MEMORY_SIZE
    items = [
        _given(
            subject_id=f"s-{i:05d}", idempotency_key=f"k-{i}", evidence={"user_agent": "x" * 800}
        )
        for i in range(3_000)
    ]
    body = json.dumps(items)
    assert len(body) > 2.5 * 1024 * 1024
    # when
    response = source_client.post(BATCH, body, content_type="application/json")
    # then
    assert response.status_code == 201, response.content[:300]
    assert ConsentEvent.objects.count() == 3_000


def test_an_ndjson_batch_of_ten_thousand_events_then_a_filter_of_ten_thousand_ids(
    purpose, source_client, job_client
):
    # given 10,000 events in one NDJSON body: every fourth subject refused
    items = [
        _given(
            subject_id=f"s-{i:05d}",
            status="refused" if i % 4 == 0 else "given",
            idempotency_key=f"k-{i}",
            evidence={},
        )
        for i in range(10_000)
    ]
    # when
    response = source_client.post(BATCH, _ndjson(items), content_type="application/x-ndjson")
    # then
    assert response.status_code == 201, response.content[:500]
    assert response.json()["recorded"] == 10_000
    assert ConsentState.objects.count() == 10_000
    assert LedgerEntry.objects.filter(event="consent.batch_recorded").count() == 1
    # when a job filters all 10,000 ids
    ids = [f"s-{i:05d}" for i in range(10_000)]
    answer = job_client.post(
        FILTER, {"purpose": "churn-model", "namespace": "shop", "subject_ids": ids}, format="json"
    )
    # then
    assert answer.status_code == 200
    body = answer.json()
    expected = [x for i, x in enumerate(ids) if i % 4 != 0]
    assert body["subject_ids"] == expected
    assert body["count"] == 7500
    assert body["snapshot"]["requested_count"] == 10_000
    assert (
        body["snapshot"]["sha256"]
        == hashlib.sha256("".join(f"shop:{x}\n" for x in expected).encode()).hexdigest()
    )


def test_ndjson_problems_name_the_line(purpose, source_client):
    body = json.dumps(_given()) + "\n{not json\n"
    error = assert_error(
        source_client.post(BATCH, body, content_type="application/x-ndjson"),
        400,
        "malformed_request",
    )
    assert error["message"].startswith("Line 2 is not a JSON object:")
    assert ConsentEvent.objects.count() == 0


def test_a_batch_over_the_limit_is_refused_before_anything_is_checked(purpose, source_client):
    body = "{}\n" * 10_001
    response = source_client.post(BATCH, body, content_type="application/x-ndjson")
    error = assert_error(response, 400, "invalid")
    assert error["message"] == "A batch holds at most 10,000 events; this one has 10,001."
    assert error["details"] == {"limit": 10_000}


def test_a_batch_that_is_not_a_list_or_too_big_is_refused(purpose, source_client):
    error = assert_error(source_client.post(BATCH, {"events": []}, format="json"), 400, "invalid")
    assert error["message"].startswith("A batch is a JSON array of events")
    for content_type in ("application/json", "application/x-ndjson"):
        response = source_client.post(BATCH, b" " * (33 * 1024 * 1024), content_type=content_type)
        error = assert_error(response, 413, "payload_too_large")
        assert error["message"] == "The request body may hold at most 32 MiB."
    assert_error(
        source_client.post(BATCH, "x=1", content_type="text/plain"), 415, "unsupported_media_type"
    )


def test_the_subject_view_shows_state_and_full_history(purpose, source_client, client, audrey, bob):
    # given
    record("c-1", "given", occurred_at=at(2026, 1, 1))
    record("c-1", "withdrawn", occurred_at=at(2026, 3, 1))
    record("c-1", "given", occurred_at=at(2026, 2, 1))  # late, older
    # when the source asks
    response = source_client.get("/api/v1/consent/subjects/shop/c-1")
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["subject"]["id"] == "c-1"
    assert [(s["purpose"]["slug"], s["status"], s["valid"]) for s in body["states"]] == [
        ("churn-model", "withdrawn", False)
    ]
    assert [(e["status"], e["occurred_at"]) for e in body["events"]] == [
        ("given", "2026-01-01T00:00:00Z"),
        ("given", "2026-02-01T00:00:00Z"),
        ("withdrawn", "2026-03-01T00:00:00Z"),
    ]
    client.force_login(audrey)
    assert client.get("/api/v1/consent/subjects/shop/c-1").status_code == 200
    assert_error(client.get("/api/v1/consent/subjects/shop/c-404"), 404, "not_found")
    client.force_login(bob)
    assert_error(client.get("/api/v1/consent/subjects/shop/c-1"), 403, "permission_denied")
    assert_error(client.get("/api/v1/consent/subjects/shop/c-404"), 403, "permission_denied")


def test_an_auditor_downloads_a_receipt_through_the_api(purpose, client, audrey):
    record("c-1", "given", occurred_at=at(2026, 1, 1))
    client.force_login(audrey)
    response = client.get("/api/v1/consent/subjects/shop/c-1/receipts/churn-model")
    assert response.status_code == 200
    receipt = response.json()
    assert receipt["subject"] == {"namespace": "shop", "id": "c-1"}
    assert receipt["legal_basis"]["gdpr_iri"] == "https://w3id.org/dpv/legal/eu/gdpr#A6-1-a"
    assert LedgerEntry.objects.get(event="consent.receipt_issued").actor == audrey
    assert_error(
        client.get("/api/v1/consent/subjects/shop/c-1/receipts/other-purpose"), 404, "not_found"
    )
    assert_error(
        client.get("/api/v1/consent/subjects/shop/c-1/receipts/churn-model?version=x"),
        400,
        "invalid",
    )


def test_purposes_are_listed_with_their_notices(purpose, client, bob):
    make_purpose("fraud", legal_basis="legitimate_interests", notices=0, status="draft")
    client.force_login(bob)
    body = client.get("/api/v1/consent/purposes?status=active").json()
    assert [(p["slug"], p["version"], p["legal_basis_iri"]) for p in body["results"]] == [
        ("churn-model", 1, "https://w3id.org/dpv#Consent")
    ]
    assert [n["version"] for n in body["results"][0]["notices"]] == [1]
    detail = client.get("/api/v1/consent/purposes/churn-model").json()
    assert detail["consent_validity_months"] == 24
    assert_error(client.get("/api/v1/consent/purposes/nope"), 404, "not_found")
    assert_error(client.get("/api/v1/consent/purposes?status=bogus"), 400, "invalid")


def test_the_filter_takes_a_hundred_thousand_uuids_over_djangos_upload_limit(purpose, job_client):
    # given a body of 100,000 UUIDs: about 4 MB
    ids = [str(uuid.uuid4()) for _ in range(100_000)]
    record(ids[7], "given")
    body = json.dumps({"purpose": "churn-model", "namespace": "shop", "subject_ids": ids})
    assert len(body) > 2.5 * 1024 * 1024
    # when
    response = job_client.post(FILTER, body, content_type="application/json")
    # then
    assert response.status_code == 200, response.content[:300]
    assert response.json()["subject_ids"] == [ids[7]]


def test_a_huge_version_number_is_not_found_not_a_crash(purpose, client, alice):
    client.force_login(alice)
    huge = "9" * 30
    assert_error(
        client.get(f"/api/v1/consent/purposes/churn-model?version={huge}"), 404, "not_found"
    )
    assert client.get(f"/consent/purposes/churn-model/v{huge}/").status_code == 404


def test_the_filter_api_errors_are_in_the_error_shape(purpose, job_client):
    error = assert_error(
        job_client.post(
            FILTER, {"purpose": "churn-model", "subject_ids": ["a@b.example"]}, format="json"
        ),
        400,
        "invalid",
    )
    assert error["details"]["items"][0]["index"] == 0
    error = assert_error(
        job_client.post(FILTER, {"purpose": "churn-model"}, format="json"), 400, "invalid"
    )
    assert set(error["details"]) == {"subject_ids"}
    assert ConsentSnapshot.objects.count() == 0


def test_the_openapi_schema_describes_the_consent_api(client, db):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    paths = response.json()["paths"]
    for path in (
        "/api/v1/consent/events",
        "/api/v1/consent/events/batch",
        "/api/v1/consent/filter",
        "/api/v1/consent/export",
        "/api/v1/consent/subjects/{namespace}/{subject_id}",
    ):
        assert path in paths
    assert (
        "application/x-ndjson"
        in paths["/api/v1/consent/events/batch"]["post"]["requestBody"]["content"]
    )
