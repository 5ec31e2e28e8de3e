"""Issue 18, fifth bullet: subject access (GDPR Art. 15). A privacy officer records a verified
request; the registry reads every row about the subject in every catalogued store through the
retention connectors, adds the dataset's classification, the subject's consent history and
receipts, the purposes and recipients, and produces a package within the one-month clock,
recorded in the ledger. A closed request keeps the subject only as a keyed hash."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import date, timedelta
from pathlib import Path

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from consent.identifiers import subject_digest
from datasets import services as catalog
from governance.audit.models import LedgerEntry
from governance.retention.services import add_months
from tests.datasets.factories import ANSWERS, make_dataset
from tests.retention.conftest import give_consent, set_policy

API = "/api/v1/subject-access/requests"
VERIFIED = "Signed in to the customer account; the order number matched."


def post(client, user, path, body=None):
    client.force_authenticate(user)
    return client.post(f"{API}{path}", body or {}, format="json")


def get(client, user, path):
    client.force_authenticate(user)
    return client.get(f"{API}{path}")


def create(client, user, subject="c-1", **extra):
    body = {
        "namespace": "shop",
        "subject_id": subject,
        "received_on": date.today().isoformat(),
        "identity_verification": VERIFIED,
        "reference": "SAR-2026-007",
        **extra,
    }
    return post(client, user, "/create", body)


@pytest.fixture
def stores(alice, petra, store, events_dataset, tmp_path, settings):
    """Two stores holding rows of c-1 (a PostgreSQL table and a folder of CSV files) and one
    whose subjects' namespace nobody recorded."""
    settings.RETENTION_FILE_ROOTS = [tmp_path.resolve()]
    settings.SUBJECT_ACCESS_DIR = tmp_path / "subject-access"
    store.fill(30, subjects=10, days=100)  # c-1: rows 1, 11 and 21
    set_policy(dataset=events_dataset, actor=alice, max_age_days=3650)
    folder = tmp_path / "tickets"
    folder.mkdir()
    (folder / "2026.csv").write_text(
        "ticket_id,customer_id,message,created\n"
        "1,c-1,My parcel is late,2026-01-02\n"
        "2,c-2,Refund please,2026-01-03\n"
        "3,c-1,Thanks!,2026-01-04\n"
    )
    tickets = make_dataset(
        alice,
        slug="shop-tickets",
        fields={
            "ticket_id": (None, "non_personal", "", "keep"),
            "customer_id": ("user.unique_id.pseudonymous", "quasi_identifier", "", "keep"),
            "message": ("user.content.private", "sensitive", "", "mask"),
            "created": (None, "non_personal", "", "keep"),
        },
        storage_kind="csv",
        location=str(folder),
        subject_id_field="customer_id",
        event_time_field="created",
    )
    catalog.dataset_submit(actor=alice, dataset=tickets, **ANSWERS)
    catalog.dataset_approve(actor=petra, dataset=tickets)
    set_policy(dataset=tickets, actor=alice, max_age_days=3650)
    notes = tmp_path / "notes.csv"
    notes.write_text("customer_id,note\nc-1,Called twice\n")
    make_dataset(
        alice,
        slug="crm-notes",
        fields={"customer_id": ("user.unique_id.pseudonymous", "quasi_identifier", "", "keep")},
        storage_kind="csv",
        location=str(notes),
        subject_id_field="customer_id",
    )
    give_consent(["c-1", "c-2"])
    from governance.registers import services as registers

    registers.recipient_create(
        actor=petra,
        name="Acme Cloud Ltd",
        role="processor",
        country="IE",
        purposes=["churn-model"],
        contract_reference="DPA-2025-14",
    )
    return {"events": events_dataset, "tickets": tickets}


def test_a_privacy_officer_records_a_verified_request_due_within_one_month(api_client, petra):
    # when
    unverified = create(api_client, petra, identity_verification="")
    created = create(api_client, petra)

    # then
    assert unverified.status_code == 400
    assert unverified.json()["error"]["details"]["field"] == "identity_verification"
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["status"] == "open"
    assert body["due_on"] == add_months(date.today(), 1).isoformat()
    assert body["subject"] == "shop:c-1"
    (event,) = LedgerEntry.objects.filter(event="subject_access.requested")
    assert event.actor == petra
    assert event.additional_data["subject_sha256"] == hashlib.sha256(b"shop:c-1").hexdigest()
    assert event.additional_data["reference"] == "SAR-2026-007"
    assert "c-1" not in json.dumps(event.additional_data)


def test_the_package_holds_every_row_about_the_subject_with_classification_consent_and_recipients(
    api_client, petra, stores
):
    # given
    pk = create(api_client, petra).json()["id"]

    # when
    produced = post(api_client, petra, f"/{pk}/produce")
    package = get(api_client, petra, f"/{pk}/package")

    # then
    assert produced.status_code == 200, produced.json()
    assert package.status_code == 200
    content = b"".join(package.streaming_content)
    assert produced.json()["package_sha256"] == hashlib.sha256(content).hexdigest()
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        report = json.loads(archive.read("subject-access.json"))
        names = set(archive.namelist())
    assert {"README.txt", "subject-access.json", "datasets/shop-events.csv"} <= names
    found = {d["dataset"]: d for d in report["datasets"]}
    assert sorted(found) == ["shop-events", "shop-tickets"]
    assert [row["id"] for row in found["shop-events"]["rows"]] == [1, 11, 21]
    assert [row["message"] for row in found["shop-tickets"]["rows"]] == [
        "My parcel is late",
        "Thanks!",
    ]
    assert found["shop-tickets"]["classification"]["message"] == {
        "category": "Private messages and free text (user.content.private)",
        "role": "sensitive",
        "special_category": "",
        "treatment": "mask",
    }
    assert found["shop-events"]["sensitivity"] == "confidential"
    assert report["not_searched"] == [
        {
            "dataset": "crm-notes",
            "reason": "The dataset has no retention policy, so the namespace of its subject "
            "ids is not recorded: its rows cannot be matched to shop:c-1 safely.",
        }
    ]
    assert [event["status"] for event in report["consent"]["history"]] == ["given"]
    assert [r["purpose"]["slug"] for r in report["consent"]["receipts"]] == ["churn-model"]
    (purpose,) = report["purposes"]
    assert purpose["slug"] == "churn-model"
    assert purpose["recipients"] == ["Internal ML platform", "Acme Cloud Ltd (processor, IE)"]
    assert report["request"]["due_on"] == add_months(date.today(), 1).isoformat()
    (event,) = LedgerEntry.objects.filter(event="subject_access.package_produced")
    assert event.additional_data["rows"] == 5
    assert event.additional_data["sha256"] == produced.json()["package_sha256"]
    assert event.additional_data["on_time"] is True
    assert event.additional_data["datasets"] == ["shop-events", "shop-tickets"]
    assert event.additional_data["not_searched"] == ["crm-notes"]
    assert LedgerEntry.objects.filter(event="subject_access.package_downloaded").count() == 1


def test_a_package_produced_after_the_deadline_is_recorded_as_late(api_client, petra, stores):
    received = date.today() - timedelta(days=40)
    pk = create(api_client, petra, received_on=received.isoformat()).json()["id"]

    post(api_client, petra, f"/{pk}/produce")

    (event,) = LedgerEntry.objects.filter(event="subject_access.package_produced")
    assert event.additional_data["on_time"] is False
    assert event.additional_data["due_on"] == add_months(received, 1).isoformat()


def test_a_completed_request_keeps_only_a_keyed_hash_and_no_package(
    api_client, petra, stores, django_capture_on_commit_callbacks
):
    # given
    from governance.subject_access.models import SubjectAccessRequest

    pk = create(api_client, petra).json()["id"]
    post(api_client, petra, f"/{pk}/produce")
    # (the server's path is not part of the API: read it from the record)
    path = Path(SubjectAccessRequest.objects.get(pk=pk).package_path)
    assert path.is_file()

    # when (the file goes once the closing is committed)
    with django_capture_on_commit_callbacks(execute=True):
        completed = post(api_client, petra, f"/{pk}/complete", {"note": "Sent by post."})

    # then
    assert completed.status_code == 200, completed.json()
    request = SubjectAccessRequest.objects.get(pk=pk)
    assert (request.status, request.external_id) == ("completed", "")
    assert request.subject_hmac == subject_digest("shop", "c-1")
    assert not path.exists()
    assert get(api_client, petra, f"/{pk}/package").status_code == 409
    assert completed.json()["subject"] == "shop:(erased)"


def test_only_privacy_officers_handle_subject_access(api_client, petra, audrey, alice, ada):
    pk = create(api_client, petra).json()["id"]
    post(api_client, petra, f"/{pk}/produce")

    assert create(api_client, audrey).status_code == 403
    assert get(api_client, audrey, "").status_code == 200
    assert get(api_client, audrey, f"/{pk}/package").status_code == 403
    assert get(api_client, ada, "").status_code == 200
    assert post(api_client, ada, f"/{pk}/produce").status_code == 403
    assert get(api_client, alice, "").status_code == 403


def test_the_portal_records_a_request_and_produces_its_package(client, petra, stores):
    client.force_login(petra)

    response = client.post(
        "/subject-access/",
        {
            "namespace": "shop",
            "subject_id": "c-1",
            "received_on": date.today().isoformat(),
            "identity_verification": VERIFIED,
        },
    )

    assert response.status_code == 302
    detail = response["Location"]
    with time_machine.travel(timezone.now(), tick=False):
        produced = client.post(f"{detail}produce")
    assert produced.status_code == 302
    page = client.get(detail)
    assert b"Download the package" in page.content


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subject_id": "jane@example.org"}, "subject_id"),
        ({"subject_id": ""}, "subject_id"),
        ({"namespace": "Not A Namespace"}, "namespace"),
        ({"received_on": None}, "received_on"),
        ({"received_on": (date.today() + timedelta(days=1)).isoformat()}, "received_on"),
        ({"received_on": "last week"}, "received_on"),
    ],
)
def test_bad_input_is_a_400_that_creates_nothing_but_the_refusal(api_client, petra, body, field):
    from governance.subject_access.models import SubjectAccessRequest

    response = create(api_client, petra, **body)

    assert response.status_code == 400
    assert field in json.dumps(response.json()["error"]["details"])
    assert not SubjectAccessRequest.objects.exists()
    assert not LedgerEntry.objects.filter(event="subject_access.requested").exists()
    assert LedgerEntry.objects.filter(event="subject_access.refused").count() == 1


@pytest.mark.parametrize("count", [1, 5])
def test_the_requests_page_takes_the_same_number_of_queries_for_any_number_of_requests(
    client, petra, count, django_assert_num_queries
):
    for n in range(count):
        create(APIClient(), petra, subject=f"c-{n}")
    client.force_login(petra)
    client.get("/subject-access/")

    with django_assert_num_queries(5):  # session, user, roles, permissions, the requests
        response = client.get("/subject-access/")

    assert response.content.count(b"data-request=") == count
