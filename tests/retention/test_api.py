"""The retention REST API under /api/v1/retention/: policies, the dry run, runs and their
certificates, legal holds and erasure requests — who may do what, what bad input answers, that
refused calls change nothing but are recorded, and an erasure request carried out end to end
against a real PostgreSQL store."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from consent.identifiers import subject_digest
from governance.api.errors import MSG_INVALID
from governance.audit.models import LedgerEntry
from governance.retention import apis, dispatch, planning, runner, selectors, services
from governance.retention.models import (
    DeletionCertificate,
    ErasureRequest,
    ErasureTarget,
    LegalHold,
    RetentionPolicy,
    RetentionRun,
)
from tests.accounts.factories import UserFactory
from tests.datasets.factories import make_dataset
from tests.retention.conftest import set_policy

pytestmark = pytest.mark.django_db

API = "/api/v1/retention"
POLICY = f"{API}/datasets/shop-events/policy"
PREVIEW = f"{API}/datasets/shop-events/preview"
RUNS = f"{API}/datasets/shop-events/runs"
HOLDS = f"{API}/holds"
REQUESTS = f"{API}/erasure-requests"
RECEIVED = date(2026, 1, 31)


@pytest.fixture
def carol(db):
    """A steward of other datasets."""
    return UserFactory(username="carol", roles=["steward"])


@pytest.fixture
def policy(store, events_dataset, alice):
    """A 180-day policy on shop.events (the purpose allows 365 days)."""
    return set_policy(dataset=events_dataset, actor=alice, max_age_days=180)


def events(name: str) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.filter(event=name).order_by("id"))


def error(response) -> tuple[int, str, str]:
    body = response.json()["error"]
    return response.status_code, body["code"], body["message"]


def as_user(api_client, user):
    api_client.force_authenticate(user)
    return api_client


def expired_rows(rows: int, *, days: int = 730, max_age: int = 180) -> set[int]:
    """Row ids Store.fill gives an event time older than ``max_age`` days (12 h off a day)."""
    return {g for g in range(1, rows + 1) if g % days >= max_age}


def policy_input(**overrides) -> dict:
    return {
        "max_age_days": 180,
        "grace_days": 0,
        "action": "delete",
        "connection": "warehouse",
        "subject_namespace": "shop",
    } | overrides


# --- policies ------------------------------------------------------------------------------


def test_the_steward_sets_the_policy_of_their_dataset_and_reads_it_back(
    api_client, store, events_dataset, alice
):
    # given
    client = as_user(api_client, alice)
    # when
    put = client.put(POLICY, policy_input(grace_days=7), format="json")
    got = client.get(POLICY)
    # then
    assert put.status_code == 200
    assert got.status_code == 200
    body = got.json()
    body.pop("updated_at")
    assert body == {
        "dataset": "shop-events",
        "max_age_days": 180,
        "grace_days": 7,
        "expires_on": None,
        "action": "delete",
        "connection": "warehouse",
        "subject_namespace": "shop",
        "enabled": True,
        "updated_by": "alice",
    }
    saved = RetentionPolicy.objects.get(dataset=events_dataset)
    assert (saved.max_age_days, saved.grace_days, saved.created_by) == (180, 7, alice)
    (entry,) = events("retention.policy_set")
    assert entry.actor == alice
    assert entry.additional_data["max_age_days"] == 180


def test_a_privacy_officer_replaces_the_policy_of_any_dataset(
    api_client, store, events_dataset, policy, petra
):
    # when
    response = as_user(api_client, petra).put(
        POLICY, policy_input(max_age_days=None, expires_on="2030-01-01"), format="json"
    )
    # then
    assert response.status_code == 200
    assert (response.json()["max_age_days"], response.json()["expires_on"]) == (
        None,
        "2030-01-01",
    )
    policy.refresh_from_db()
    assert (policy.max_age_days, policy.expires_on, policy.updated_by) == (
        None,
        date(2030, 1, 1),
        petra,
    )
    assert policy.created_by.username == "alice"


def test_a_dataset_without_a_policy_answers_404(api_client, events_dataset, alice):
    response = as_user(api_client, alice).get(POLICY)
    assert error(response) == (404, "not_found", apis.MSG_NO_POLICY)


@pytest.mark.parametrize("persona", ["carol", "charlie"])
def test_people_who_do_not_manage_the_dataset_cannot_set_its_policy(
    persona, request, api_client, store, events_dataset, policy
):
    # given
    user = request.getfixturevalue(persona)
    client = as_user(api_client, user)
    # when
    put = client.put(POLICY, policy_input(max_age_days=1), format="json")
    get = client.get(POLICY)
    # then
    assert error(put) == (403, "permission_denied", services.MSG_POLICY_FORBIDDEN)
    assert error(get) == (403, "permission_denied", services.MSG_VIEW_FORBIDDEN)
    policy.refresh_from_db()
    assert (policy.max_age_days, policy.updated_by.username) == (180, "alice")
    assert len(events("retention.policy_set")) == 1  # alice's, from the fixture
    (refusal,) = events("retention.policy_refused")
    assert refusal.actor == user
    assert refusal.object_pk == str(events_dataset.pk)
    assert refusal.additional_data["message"] == services.MSG_POLICY_FORBIDDEN


def test_an_unknown_dataset_answers_404(api_client, alice):
    client = as_user(api_client, alice)
    message = services.MSG_NO_DATASET.format(slug="no-such-data")
    for response in (
        client.get(f"{API}/datasets/no-such-data/policy"),
        client.put(f"{API}/datasets/no-such-data/policy", policy_input(), format="json"),
        client.get(f"{API}/datasets/no-such-data/preview"),
        client.post(f"{API}/datasets/no-such-data/runs", {}, format="json"),
    ):
        assert error(response) == (404, "not_found", message)
    assert not RetentionPolicy.objects.exists()
    assert not RetentionRun.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"max_age_days": -5}, "max_age_days", services.MSG_MAX_AGE),
        ({"max_age_days": 0}, "max_age_days", services.MSG_MAX_AGE),
        (
            {"connection": "lake"},
            "connection",
            services.MSG_CONNECTION_IS_CATALOG.format(current="warehouse"),
        ),
        ({"grace_days": 5000}, "grace_days", services.MSG_GRACE),
        ({"grace_days": -1}, "grace_days", services.MSG_GRACE),
        ({"action": "shred"}, "action", services.MSG_BAD_ACTION),
    ],
)
def test_bad_policy_input_is_a_400_with_its_message_and_saves_nothing(
    fields, field, message, api_client, store, events_dataset, policy, alice
):
    # when
    response = as_user(api_client, alice).put(POLICY, policy_input(**fields), format="json")
    # then
    assert error(response) == (400, "invalid", message)
    assert response.json()["error"]["details"]["field"] == field
    policy.refresh_from_db()
    assert (policy.max_age_days, policy.grace_days, policy.action) == (180, 0, "delete")
    assert policy.dataset.connection == "warehouse"
    assert len(events("retention.policy_set")) == 1
    (refusal,) = events("retention.policy_refused")
    assert (refusal.actor, refusal.additional_data["message"]) == (alice, message)


def test_a_maximum_age_needs_the_datasets_event_time_field(api_client, store, alice):
    # given a table cataloged without an event-time field
    make_dataset(
        alice,
        slug="plain-table",
        storage_kind="postgres_table",
        location="shop.plain",
        subject_id_field="customer_id",
    )
    # when
    response = as_user(api_client, alice).put(
        f"{API}/datasets/plain-table/policy", policy_input(max_age_days=30), format="json"
    )
    # then
    assert error(response) == (400, "invalid", services.MSG_NEEDS_EVENT_TIME)
    assert not RetentionPolicy.objects.exists()
    (refusal,) = events("retention.policy_refused")
    assert refusal.additional_data["message"] == services.MSG_NEEDS_EVENT_TIME


def test_malformed_policy_input_is_refused_by_the_serializer(api_client, store, policy, alice):
    response = as_user(api_client, alice).put(
        POLICY, policy_input(max_age_days="a year"), format="json"
    )
    assert error(response) == (400, "invalid", MSG_INVALID)
    assert response.json()["error"]["details"] == {"max_age_days": ["A valid integer is required."]}
    policy.refresh_from_db()
    assert policy.max_age_days == 180


# --- the dry run ---------------------------------------------------------------------------


def test_the_preview_counts_what_a_run_would_delete_from_the_store_and_deletes_nothing(
    api_client, store, events_dataset, policy, alice
):
    # given 2,000 rows over two years of 20 subjects
    store.fill(2000, subjects=20)
    expired = expired_rows(2000)
    # when
    response = as_user(api_client, alice).get(PREVIEW)
    # then
    assert response.status_code == 200
    preview = response.json()
    assert (preview["dataset"], preview["kind"], preview["held"]) == (
        "shop-events",
        "retention",
        False,
    )
    assert (preview["max_age_days"], preview["max_age_source"]) == (180, "the dataset's policy")
    assert preview["problems"] == []
    (operation,) = preview["operations"]
    assert operation["operation"] == "delete"
    assert operation["rows"] == len(expired)
    assert operation["subjects"] == len({g % 20 for g in expired})
    assert operation["criteria"] == {
        "everything": False,
        "older_than": preview["cutoff"],
        "subjects": 0,
        "held_subjects": 0,
    }
    assert preview["totals"] == {"rows": len(expired), "files": 0, "subjects": 20}
    assert store.count() == 2000
    assert not RetentionRun.objects.exists()
    (entry,) = events("retention.previewed")
    assert entry.actor == alice
    assert entry.additional_data == {
        "dataset": "shop-events",
        "kind": "retention",
        "totals": {"rows": len(expired), "files": 0, "subjects": 20},
    }


def test_a_preview_of_an_unknown_kind_is_a_400(api_client, store, policy, alice):
    response = as_user(api_client, alice).get(f"{PREVIEW}?kind=everything")
    assert error(response) == (400, "invalid", apis.MSG_BAD_KIND)
    assert events("retention.previewed") == []


def test_an_auditor_may_preview_but_an_outsider_may_not(
    api_client, store, events_dataset, policy, audrey, charlie
):
    store.fill(100, subjects=5)
    assert as_user(api_client, audrey).get(PREVIEW).status_code == 200
    response = as_user(api_client, charlie).get(PREVIEW)
    assert error(response) == (403, "permission_denied", services.MSG_VIEW_FORBIDDEN)
    assert [e.actor for e in events("retention.previewed")] == [audrey]
    (refusal,) = events("retention.preview_refused")
    assert (refusal.actor, refusal.additional_data["message"]) == (
        charlie,
        services.MSG_VIEW_FORBIDDEN,
    )


def test_a_preview_of_an_unreachable_store_is_a_503_and_deletes_nothing(
    api_client, store, events_dataset, policy, alice, settings
):
    # given the connection points at a port where no database listens
    store.fill(300, subjects=5)
    settings.RETENTION_CONNECTIONS = {"warehouse": "postgres://postgres:s3cret@127.0.0.1:1/x"}
    # when
    response = as_user(api_client, alice).get(PREVIEW)
    # then
    status, code, message = error(response)
    assert (status, code) == (503, "unavailable")
    prefix = services.MSG_PREVIEW_STORE.format(
        reason="Could not connect to the database at 127.0.0.1:1/x: "
    )
    assert message.startswith(prefix)
    assert "s3cret" not in message
    assert response.json()["error"]["details"] == {"connector_code": "unreachable"}
    settings.RETENTION_CONNECTIONS = {"warehouse": store.url}
    assert store.count() == 300
    assert events("retention.previewed") == []
    (refusal,) = events("retention.preview_refused")
    assert refusal.additional_data["message"] == message


# --- runs and certificates -----------------------------------------------------------------


def test_starting_a_run_answers_202_and_a_second_while_it_is_queued_409(
    api_client, store, events_dataset, policy, alice, django_capture_on_commit_callbacks
):
    # given
    store.fill(2000, subjects=20)
    client = as_user(api_client, alice)
    # when
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = client.post(RUNS, {}, format="json")
    second = client.post(RUNS, {"kind": "retention"}, format="json")
    # then
    assert first.status_code == 202
    run = RetentionRun.objects.get()
    body = first.json()
    assert (body["id"], body["dataset"], body["status"], body["kind"], body["trigger"]) == (
        run.pk,
        "shop-events",
        "queued",
        "retention",
        "manual",
    )
    assert (body["requested_by"], body["rows_deleted"], body["certificate_url"]) == (
        "alice",
        0,
        None,
    )
    assert body["plan"]["max_age_days"] == 180
    assert len(callbacks) == 1  # run_execute_task is published once the run is committed
    assert error(second) == (409, "conflict", services.MSG_RUN_ACTIVE.format(run=run.pk))
    assert second.json()["error"]["details"] == {"run": run.pk}
    assert RetentionRun.objects.count() == 1
    assert len(events("retention.run_queued")) == 1
    (refusal,) = events("retention.run_refused")
    assert refusal.additional_data["message"] == services.MSG_RUN_ACTIVE.format(run=run.pk)
    assert store.count() == 2000  # queued, not executed


def test_a_run_is_read_back_and_its_certificate_appears_once_it_finished(
    api_client, store, events_dataset, policy, alice, audrey
):
    # given a queued run
    store.fill(2000, subjects=20)
    expired = expired_rows(2000)
    run_id = as_user(api_client, alice).post(RUNS, {}, format="json").json()["id"]
    client = as_user(api_client, audrey)
    queued = client.get(f"{API}/runs/{run_id}")
    before = client.get(f"{API}/runs/{run_id}/certificate")
    # when the worker executes it
    runner.run_execute(run_id=run_id)
    done = client.get(f"{API}/runs/{run_id}")
    certificate = client.get(f"{API}/runs/{run_id}/certificate")
    listed = client.get(RUNS)
    # then
    assert queued.json()["status"] == "queued"
    assert error(before) == (404, "not_found", apis.MSG_NO_CERTIFICATE)
    assert done.status_code == 200
    assert (done.json()["status"], done.json()["rows_deleted"]) == ("succeeded", len(expired))
    assert done.json()["certificate_url"] == f"{API}/runs/{run_id}/certificate"
    issued = DeletionCertificate.objects.get(run_id=run_id)
    assert certificate.status_code == 200
    body = certificate.json()
    assert (body["id"], body["run"], body["sha256"]) == (issued.pk, run_id, issued.sha256)
    assert body["document"] == issued.document
    assert body["document"]["rows_deleted"] == len(expired)
    assert [v["remaining"] for v in body["document"]["verification"]] == [0]
    assert store.ids() == set(range(1, 2001)) - expired
    assert [r["id"] for r in listed.json()["results"]] == [run_id]


def test_people_who_may_not_see_a_run_get_404_and_may_not_start_one(
    api_client, store, events_dataset, policy, alice, carol, charlie
):
    # given
    run = services.run_start(dataset=events_dataset, actor=alice)
    for user in (carol, charlie):
        client = as_user(api_client, user)
        # when
        detail = client.get(f"{API}/runs/{run.pk}")
        certificate = client.get(f"{API}/runs/{run.pk}/certificate")
        started = client.post(RUNS, {}, format="json")
        # then
        assert error(detail) == (404, "not_found", selectors.MSG_RUN_NOT_FOUND)
        assert error(certificate) == (404, "not_found", selectors.MSG_RUN_NOT_FOUND)
        assert error(started) == (403, "permission_denied", services.MSG_POLICY_FORBIDDEN)
    assert list(RetentionRun.objects.values_list("pk", flat=True)) == [run.pk]
    refusals = events("retention.run_refused")
    assert [(r.actor, r.additional_data["message"]) for r in refusals] == [
        (carol, services.MSG_POLICY_FORBIDDEN),
        (charlie, services.MSG_POLICY_FORBIDDEN),
    ]


def test_a_run_needs_a_policy(api_client, store, events_dataset, alice):
    response = as_user(api_client, alice).post(RUNS, {}, format="json")
    assert error(response) == (409, "conflict", services.MSG_RUN_NO_POLICY)
    assert not RetentionRun.objects.exists()
    (refusal,) = events("retention.run_refused")
    assert refusal.additional_data["message"] == services.MSG_RUN_NO_POLICY


# --- legal holds ---------------------------------------------------------------------------


def test_a_privacy_officer_places_lists_and_releases_a_hold(
    api_client, store, events_dataset, petra, audrey
):
    # given
    client = as_user(api_client, petra)
    # when
    placed = client.post(
        HOLDS,
        {"dataset": "shop-events", "reason": "Regulator inquiry 12", "reference": "REG-12"},
        format="json",
    )
    hold = LegalHold.objects.get()
    listed = as_user(api_client, audrey).get(HOLDS)
    released = as_user(api_client, petra).post(
        f"{HOLDS}/{hold.pk}/release", {"reason": "Inquiry closed"}, format="json"
    )
    active = client.get(f"{HOLDS}?active=1")
    # then
    assert placed.status_code == 201
    assert placed.json() == {
        "id": hold.pk,
        "dataset": "shop-events",
        "namespace": "",
        "external_id": "",
        "reason": "Regulator inquiry 12",
        "reference": "REG-12",
        "placed_by": "petra",
        "placed_at": placed.json()["placed_at"],
        "released_at": None,
        "released_by": None,
        "release_reason": "",
    }
    assert [h["id"] for h in listed.json()["results"]] == [hold.pk]
    assert released.status_code == 200
    assert (released.json()["released_by"], released.json()["release_reason"]) == (
        "petra",
        "Inquiry closed",
    )
    assert active.json()["results"] == []
    hold.refresh_from_db()
    assert (hold.is_active, hold.released_by) == (False, petra)
    assert len(events("retention.hold_placed")) == 1
    assert len(events("retention.hold_released")) == 1


def test_a_subject_hold_is_placed_in_every_dataset_with_a_hashed_subject_in_the_ledger(
    api_client, petra
):
    response = as_user(api_client, petra).post(
        HOLDS, {"namespace": "shop", "external_id": "c-3", "reason": "Litigation"}, format="json"
    )
    assert response.status_code == 201
    assert (response.json()["dataset"], response.json()["external_id"]) == (None, "c-3")
    (entry,) = events("retention.hold_placed")
    assert entry.additional_data["subject_sha256"] == services.subject_sha256("shop", "c-3")
    assert "c-3" not in str(entry.additional_data)


def test_only_privacy_officers_place_holds(api_client, store, events_dataset, alice, charlie):
    for user in (alice, charlie):
        response = as_user(api_client, user).post(
            HOLDS, {"dataset": "shop-events", "reason": "Because"}, format="json"
        )
        assert error(response) == (403, "permission_denied", services.MSG_PRIVACY_ONLY)
        listed = api_client.get(HOLDS)
        assert error(listed) == (403, "permission_denied", selectors.MSG_HOLDS_FORBIDDEN)
    assert not LegalHold.objects.exists()
    refusals = events("retention.hold_refused")
    assert [(r.actor, r.additional_data["message"]) for r in refusals] == [
        (alice, services.MSG_PRIVACY_ONLY),
        (charlie, services.MSG_PRIVACY_ONLY),
    ]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"dataset": "shop-events"}, services.MSG_HOLD_REASON),
        ({"dataset": "shop-events", "reason": "   "}, services.MSG_HOLD_REASON),
        ({"reason": "Litigation"}, services.MSG_HOLD_SCOPE),
        (
            {"dataset": "no-such-data", "reason": "Litigation"},
            apis.MSG_UNKNOWN_DATASETS.format(slugs="no-such-data"),
        ),
    ],
)
def test_a_hold_needs_a_reason_and_a_known_scope(
    payload, message, api_client, store, events_dataset, petra
):
    response = as_user(api_client, petra).post(HOLDS, payload, format="json")
    assert error(response) == (400, "invalid", message)
    assert not LegalHold.objects.exists()
    (refusal,) = events("retention.hold_refused")
    assert (refusal.actor, refusal.additional_data["message"]) == (petra, message)


def test_releasing_needs_a_reason_and_a_second_release_is_a_conflict(
    api_client, store, events_dataset, petra, alice
):
    # given
    hold = services.hold_place(actor=petra, dataset=events_dataset, reason="Regulator inquiry")
    url = f"{HOLDS}/{hold.pk}/release"
    # when
    by_alice = as_user(api_client, alice).post(url, {"reason": "Done"}, format="json")
    client = as_user(api_client, petra)
    no_reason = client.post(url, {}, format="json")
    released = client.post(url, {"reason": "Inquiry closed"}, format="json")
    again = client.post(url, {"reason": "Closed twice"}, format="json")
    missing = client.post(f"{HOLDS}/{hold.pk + 100}/release", {"reason": "x"}, format="json")
    # then
    assert error(by_alice) == (403, "permission_denied", services.MSG_PRIVACY_ONLY)
    assert error(no_reason) == (400, "invalid", services.MSG_RELEASE_REASON)
    assert released.status_code == 200
    assert error(again) == (409, "conflict", services.MSG_HOLD_RELEASED)
    assert error(missing) == (404, "not_found", services.MSG_HOLD_NOT_FOUND)
    hold.refresh_from_db()
    assert (hold.released_by, hold.release_reason) == (petra, "Inquiry closed")
    assert len(events("retention.hold_released")) == 1
    refusals = events("retention.hold_refused")
    assert [r.additional_data["message"] for r in refusals] == [
        services.MSG_PRIVACY_ONLY,
        services.MSG_RELEASE_REASON,
        services.MSG_HOLD_RELEASED,
        services.MSG_HOLD_NOT_FOUND,
    ]


# --- erasure requests ----------------------------------------------------------------------


def request_input(**overrides) -> dict:
    return {
        "namespace": "shop",
        "external_id": "c-3",
        "received_on": RECEIVED.isoformat(),
        "datasets": ["shop-events"],
        "reference": "DSR-1",
    } | overrides


def test_a_privacy_officer_records_an_erasure_request_due_one_month_after_receipt(
    api_client, store, events_dataset, policy, petra
):
    # when
    response = as_user(api_client, petra).post(REQUESTS, request_input(), format="json")
    # then
    assert response.status_code == 201
    created = ErasureRequest.objects.get()
    body = response.json()
    assert (body["id"], body["received_on"], body["due_on"]) == (
        created.pk,
        "2026-01-31",
        "2026-02-28",
    )
    assert (body["status"], body["extended"], body["reference"]) == ("open", False, "DSR-1")
    assert body["days_left"] == (date(2026, 2, 28) - timezone.now().date()).days
    assert body["targets"] == [{"dataset": "shop-events", "status": "pending", "run": None}]
    (entry,) = events("retention.erasure_requested")
    assert entry.actor == petra
    assert entry.additional_data["subject_sha256"] == services.subject_sha256("shop", "c-3")
    assert (entry.additional_data["due_on"], entry.additional_data["datasets"]) == (
        "2026-02-28",
        ["shop-events"],
    )
    assert "c-3" not in str(entry.additional_data)


def test_a_request_naming_no_dataset_targets_those_under_a_policy_in_its_namespace(
    api_client, store, events_dataset, policy, petra
):
    response = as_user(api_client, petra).post(REQUESTS, request_input(datasets=[]), format="json")
    assert response.status_code == 201
    assert [t["dataset"] for t in response.json()["targets"]] == ["shop-events"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"received_on": (timezone.now().date() + timedelta(days=1)).isoformat()},
            services.MSG_RECEIVED_FUTURE,
        ),
        (
            {"datasets": ["shop-events", "no-such-data"]},
            apis.MSG_UNKNOWN_DATASETS.format(slugs="no-such-data"),
        ),
        (
            {"namespace": "crm"},
            services.MSG_TARGET_NO_POLICY.format(slug="shop-events", namespace="crm"),
        ),
        ({"datasets": [], "namespace": "crm"}, services.MSG_NO_TARGETS),
    ],
)
def test_a_bad_erasure_request_is_a_400_and_records_nothing_but_the_refusal(
    overrides, message, api_client, store, events_dataset, policy, petra
):
    response = as_user(api_client, petra).post(REQUESTS, request_input(**overrides), format="json")
    assert error(response) == (400, "invalid", message)
    assert not ErasureRequest.objects.exists()
    assert not ErasureTarget.objects.exists()
    assert events("retention.erasure_requested") == []
    (refusal,) = events("retention.erasure_refused")
    assert (refusal.actor, refusal.additional_data["message"]) == (petra, message)


@time_machine.travel(datetime(2026, 2, 10, 9, tzinfo=UTC), tick=False)
def test_extending_needs_a_reason_moves_the_deadline_to_three_months_and_happens_once(
    api_client, store, events_dataset, policy, petra
):
    # given a request received on 31 January, on 10 February (within the first month)
    created = services.erasure_request_create(
        actor=petra,
        namespace="shop",
        external_id="c-3",
        received_on=RECEIVED,
        datasets=[events_dataset],
    )
    url = f"{REQUESTS}/{created.pk}/extend"
    client = as_user(api_client, petra)
    # when
    no_reason = client.post(url, {"reason": ""}, format="json")
    extended = client.post(url, {"reason": "Backups span three systems."}, format="json")
    again = client.post(url, {"reason": "Still busy."}, format="json")
    # then
    assert error(no_reason) == (400, "invalid", services.MSG_EXTENSION_REASON)
    assert extended.status_code == 200
    assert (extended.json()["due_on"], extended.json()["extended"]) == ("2026-04-30", True)
    assert extended.json()["extension_reason"] == "Backups span three systems."
    assert error(again) == (409, "conflict", services.MSG_ALREADY_EXTENDED)
    created.refresh_from_db()
    assert (created.due_on, created.extension_reason) == (
        date(2026, 4, 30),
        "Backups span three systems.",
    )
    assert len(events("retention.erasure_extended")) == 1
    assert [r.additional_data["message"] for r in events("retention.erasure_refused")] == [
        services.MSG_EXTENSION_REASON,
        services.MSG_ALREADY_EXTENDED,
    ]


def test_an_extension_after_the_first_month_is_refused(
    api_client, store, events_dataset, policy, petra
):
    # given a request whose one-month deadline (28 February) has passed
    created = services.erasure_request_create(
        actor=petra,
        namespace="shop",
        external_id="c-3",
        received_on=RECEIVED,
        datasets=[events_dataset],
    )
    # when
    response = as_user(api_client, petra).post(
        f"{REQUESTS}/{created.pk}/extend", {"reason": "Backups."}, format="json"
    )
    # then
    message = services.MSG_EXTENSION_LATE.format(due="2026-02-28")
    assert error(response) == (409, "conflict", message)
    created.refresh_from_db()
    assert (created.extended, created.due_on) == (False, date(2026, 2, 28))
    (refusal,) = events("retention.erasure_refused")
    assert refusal.additional_data["message"] == message


def test_rejecting_needs_the_exemption_and_a_closed_request_cannot_change(
    api_client, store, events_dataset, policy, petra
):
    # given
    created = services.erasure_request_create(
        actor=petra,
        namespace="shop",
        external_id="c-3",
        received_on=RECEIVED,
        datasets=[events_dataset],
    )
    client = as_user(api_client, petra)
    reject = f"{REQUESTS}/{created.pk}/reject"
    # when
    no_reason = client.post(reject, {}, format="json")
    rejected = client.post(reject, {"reason": "Art. 17(3)(e): legal claims."}, format="json")
    again = client.post(reject, {"reason": "Again."}, format="json")
    extend = client.post(f"{REQUESTS}/{created.pk}/extend", {"reason": "Late."}, format="json")
    # then
    closed = services.MSG_REQUEST_CLOSED.format(status="rejected")
    assert error(no_reason) == (400, "invalid", services.MSG_REJECTION_REASON)
    assert rejected.status_code == 200
    assert (rejected.json()["status"], rejected.json()["rejection_reason"]) == (
        "rejected",
        "Art. 17(3)(e): legal claims.",
    )
    assert rejected.json()["days_left"] is None
    assert error(again) == (409, "conflict", closed)
    assert error(extend) == (409, "conflict", closed)
    created.refresh_from_db()
    assert (created.status, created.closed_by, created.extended) == ("rejected", petra, False)
    assert len(events("retention.erasure_rejected")) == 1
    assert [r.additional_data["message"] for r in events("retention.erasure_refused")] == [
        services.MSG_REJECTION_REASON,
        closed,
        closed,
    ]


def test_auditors_list_requests_stewards_and_outsiders_are_refused(
    api_client, store, events_dataset, policy, petra, audrey, alice, charlie
):
    # given
    created = services.erasure_request_create(
        actor=petra,
        namespace="shop",
        external_id="c-3",
        received_on=RECEIVED,
        datasets=[events_dataset],
    )
    # when
    listed = as_user(api_client, audrey).get(REQUESTS)
    detail = api_client.get(f"{REQUESTS}/{created.pk}")
    closed_only = api_client.get(f"{REQUESTS}?status=completed")
    by_auditor = api_client.post(REQUESTS, request_input(), format="json")
    # then
    assert [r["id"] for r in listed.json()["results"]] == [created.pk]
    assert detail.json()["targets"] == [
        {"dataset": "shop-events", "status": "pending", "run": None}
    ]
    assert closed_only.json()["results"] == []
    assert error(by_auditor) == (403, "permission_denied", services.MSG_PRIVACY_ONLY)
    for user in (alice, charlie):
        client = as_user(api_client, user)
        assert error(client.get(REQUESTS)) == (
            403,
            "permission_denied",
            selectors.MSG_REQUESTS_FORBIDDEN,
        )
        assert error(client.get(f"{REQUESTS}/{created.pk}")) == (
            403,
            "permission_denied",
            selectors.MSG_REQUESTS_FORBIDDEN,
        )
        assert error(client.post(REQUESTS, request_input(), format="json")) == (
            403,
            "permission_denied",
            services.MSG_PRIVACY_ONLY,
        )
        assert error(
            client.post(f"{REQUESTS}/{created.pk}/reject", {"reason": "No."}, format="json")
        ) == (403, "permission_denied", services.MSG_PRIVACY_ONLY)
    assert list(ErasureRequest.objects.values_list("pk", "status")) == [(created.pk, "open")]
    assert [r.actor for r in events("retention.erasure_refused")] == [
        audrey,
        alice,
        alice,
        charlie,
        charlie,
    ]


# --- end to end ----------------------------------------------------------------------------


def test_an_erasure_request_is_carried_out_by_a_run_and_completed(
    api_client, store, events_dataset, policy, petra
):
    # given 600 rows of 20 subjects, and a request to erase c-3 received two days ago
    store.fill(600, subjects=20)
    client = as_user(api_client, petra)
    received = timezone.now().date() - timedelta(days=2)
    created = client.post(
        REQUESTS,
        request_input(received_on=received.isoformat(), datasets=[]),
        format="json",
    )
    request_id = created.json()["id"]
    # when an erasure run is started and executed by the worker
    started = client.post(RUNS, {"kind": "erasure"}, format="json")
    run = runner.run_execute(run_id=started.json()["id"])
    # then c-3's rows, and only those, are gone
    assert created.status_code == 201
    assert started.status_code == 202
    assert started.json()["subjects_count"] == 1
    assert run.status == RetentionRun.Status.SUCCEEDED
    c3 = {g for g in range(1, 601) if g % 20 == 3}
    assert store.ids() == set(range(1, 601)) - c3
    assert run.rows_deleted == len(c3)
    # and the request is completed, its target erased by that run
    detail = client.get(f"{REQUESTS}/{request_id}").json()
    assert (detail["status"], detail["days_left"]) == ("completed", None)
    assert detail["targets"] == [{"dataset": "shop-events", "status": "erased", "run": run.pk}]
    (completed,) = events("retention.erasure_completed")
    assert completed.additional_data == {
        "request": request_id,
        "due_on": services.add_months(received, 1).isoformat(),
        "completed_on": timezone.now().date().isoformat(),
        "on_time": True,
        "runs": [run.pk],
    }
    certificate = client.get(f"{API}/runs/{run.pk}/certificate").json()["document"]
    assert certificate["subjects"]["erased_count"] == 1
    assert certificate["subjects"]["erased_sha256"] == planning.subjects_digest(["c-3"])
    assert certificate["subjects"]["erasure_requests"] == [request_id]
    assert "c-3" not in str(certificate)


def test_active_holds_are_listed_before_released_ones(api_client, store, events_dataset, petra):
    # given an older hold released, and a newer one still active
    released = services.hold_place(actor=petra, dataset=events_dataset, reason="Old inquiry")
    services.hold_release(hold_id=released.pk, actor=petra, reason="Closed")
    active = services.hold_place(actor=petra, namespace="shop", external_id="c-3", reason="Case")
    # when
    listed = as_user(api_client, petra).get(HOLDS)
    # then the active hold comes first (the list is cut at 500)
    assert [h["id"] for h in listed.json()["results"]] == [active.pk, released.pk]


def test_open_requests_are_listed_before_closed_ones(
    api_client, store, events_dataset, policy, petra
):
    # given a completed request due earlier than an open one
    def record(subject: str, received: date) -> ErasureRequest:
        return services.erasure_request_create(
            actor=petra,
            namespace="shop",
            external_id=subject,
            received_on=received,
            datasets=[events_dataset],
        )

    done = record("c-1", date(2026, 1, 10))
    # (a closed request keeps only the keyed hash of its subject: the database insists)
    ErasureRequest.objects.filter(pk=done.pk).update(
        status="completed", external_id="", subject_hmac=subject_digest("shop", "c-1")
    )
    rejected = record("c-2", date(2026, 1, 20))
    services.erasure_request_reject(request_id=rejected.pk, actor=petra, reason="Art. 17(3)(b)")
    open_ = record("c-3", date(2026, 1, 31))
    # when
    listed = as_user(api_client, petra).get(REQUESTS)
    # then the open request, the one with a deadline, comes first (the list is cut at 500)
    assert [r["id"] for r in listed.json()["results"]] == [open_.pk, done.pk, rejected.pk]


def test_a_scheduled_run_reads_back_with_no_requester(api_client, store, events_dataset, policy):
    # given the daily dispatch queued a run nobody asked for
    dispatch.dispatch(kind="retention")
    run = RetentionRun.objects.get()
    # when
    response = as_user(api_client, policy.created_by).get(f"{API}/runs/{run.pk}")
    # then
    assert response.status_code == 200
    assert (response.json()["trigger"], response.json()["requested_by"]) == ("schedule", None)


def test_a_subject_hold_holds_the_request_until_it_is_released(
    api_client, store, events_dataset, policy, petra
):
    # given c-3 is on hold in every dataset
    hold = services.hold_place(actor=petra, namespace="shop", external_id="c-3", reason="Case")
    client = as_user(api_client, petra)
    # when a request to erase c-3 is recorded
    created = client.post(REQUESTS, request_input(), format="json").json()
    # then it waits for the hold, and goes back to the queue once the hold is released
    assert created["targets"] == [{"dataset": "shop-events", "status": "held", "run": None}]
    client.post(f"{HOLDS}/{hold.pk}/release", {"reason": "Case closed"}, format="json")
    detail = client.get(f"{REQUESTS}/{created['id']}").json()
    assert detail["targets"] == [{"dataset": "shop-events", "status": "pending", "run": None}]


def test_a_policy_without_a_namespace_takes_the_datasets_own(
    api_client, store, events_dataset, alice
):
    # given the catalog says the dataset's subject ids live in the "crm" namespace
    type(events_dataset).objects.filter(pk=events_dataset.pk).update(subject_namespace="crm")
    body = policy_input(grace_days=7)
    body.pop("subject_namespace", None)
    # when the policy names none
    put = as_user(api_client, alice).put(POLICY, body, format="json")
    # then it is the dataset's, so erasure of a "crm" subject reaches this dataset
    assert put.status_code == 200, put.content[:300]
    assert put.json()["subject_namespace"] == "crm"
    assert RetentionPolicy.objects.get(dataset=events_dataset).subject_namespace == "crm"
