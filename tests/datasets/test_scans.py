"""Scans through the services: bad sources are refused at once, results are queued for review,
re-scans keep decisions unless the evidence changed."""

from __future__ import annotations

import csv
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from datasets import selectors, services
from datasets.models import Field, Scan, Suggestion
from governance.audit.models import LedgerEntry
from governance.errors import ApplicationError, Conflict, NotPermitted
from tests.datasets.factories import make_dataset

CARDS = ["4111111111111111", "5500005555555559", "4012888888881881", "4222222222222"]


def write_csv(path, header, rows):
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def samples(tmp_path, settings):
    settings.SCANNER_FILE_ROOTS = [tmp_path.resolve()]
    settings.SCANNER_UPLOAD_DIR = tmp_path / "uploads"
    return tmp_path


@pytest.fixture
def tickets(samples):
    return write_csv(
        samples / "tickets.csv",
        ["ticket_id", "email", "card", "year"],
        [[i, f"person{i}@example.org", CARDS[i % 4], 1990 + i % 30] for i in range(40)],
    )


def run(scan: Scan) -> Scan:
    """What the worker does (the worker itself is exercised in test_scan_worker)."""
    return services.scan_run(scan_id=scan.pk)


def test_a_scan_proposes_per_column_and_queues_for_review(
    alice, tickets, django_capture_on_commit_callbacks
):
    dataset = make_dataset(alice, slug="tickets")
    # when
    with django_capture_on_commit_callbacks() as callbacks:
        scan = services.scan_start(actor=alice, dataset=dataset, path=str(tickets))
    assert len(callbacks) == 1  # the task is enqueued only after commit
    scan = run(scan)
    # then
    assert (scan.status, scan.progress, scan.rows_sampled, scan.columns_total) == (
        "succeeded",
        100,
        40,
        4,
    )
    by_field = {s.field.name: s for s in scan.suggestions.select_related("field", "category")}
    assert by_field["email"].category.key == "user.contact.email"
    assert by_field["email"].role == "direct_identifier"
    assert by_field["card"].category.key == "user.financial.credit_card"
    # nothing in "year" itself; the emails and cards say a row is about a person
    assert by_field["year"].category.key == "user"
    assert by_field["year"].role == "quasi_identifier"
    assert {s.status for s in by_field.values()} == {"suggested"}
    # the fields were discovered, unclassified until someone decides
    assert list(dataset.fields.values_list("name", "role")) == [
        ("ticket_id", ""),
        ("email", ""),
        ("card", ""),
        ("year", ""),
    ]
    # no raw sample value is stored in any explanation
    stored = json.dumps([s.explanation for s in by_field.values()])
    assert "person1@example.org" not in stored
    assert "4111111111111111" not in stored
    assert LedgerEntry.objects.get(event="dataset.scan_completed").additional_data["suggested"] == 4


def test_accepting_applies_the_suggestion_and_derives_sensitivity(alice, tickets):
    dataset = make_dataset(alice, slug="tickets")
    scan = run(services.scan_start(actor=alice, dataset=dataset, path=str(tickets)))
    email = scan.suggestions.get(field__name="email")
    # when
    services.suggestion_accept(actor=alice, suggestion=email)
    # then
    field = Field.objects.get(dataset=dataset, name="email")
    assert (field.category.key, field.role, field.treatment) == (
        "user.contact.email",
        "direct_identifier",
        email.treatment,
    )
    assert (field.classification_source, field.classified_by) == ("scan_accepted", alice)
    dataset.refresh_from_db()
    assert dataset.sensitivity == "confidential"
    with pytest.raises(Conflict, match="already decided"):
        services.suggestion_reject(actor=alice, suggestion=email)


def test_editing_and_rejecting(alice, tickets):
    dataset = make_dataset(alice, slug="tickets")
    scan = run(services.scan_start(actor=alice, dataset=dataset, path=str(tickets)))
    card = scan.suggestions.get(field__name="card")
    year = scan.suggestions.get(field__name="year")
    services.suggestion_edit(
        actor=alice,
        suggestion=card,
        category=card.category,
        role="direct_identifier",
        special_category="",
        treatment="mask",
    )
    services.suggestion_reject(actor=alice, suggestion=year, note="fine as is")
    assert Field.objects.get(dataset=dataset, name="card").treatment == "mask"
    assert Field.objects.get(dataset=dataset, name="card").classification_source == "scan_edited"
    assert Field.objects.get(dataset=dataset, name="year").role == ""
    year.refresh_from_db()
    assert (year.status, year.decision_note) == ("rejected", "fine as is")


def test_rescan_keeps_decisions_when_the_evidence_is_unchanged(alice, tickets):
    dataset = make_dataset(alice, slug="tickets")
    first = run(services.scan_start(actor=alice, dataset=dataset, path=str(tickets)))
    for suggestion in first.suggestions.all():
        services.suggestion_accept(actor=alice, suggestion=suggestion)
    # when the same data is scanned again
    second = run(services.scan_start(actor=alice, dataset=dataset, path=str(tickets)))
    # then nothing waits for review and the fields are untouched
    assert set(second.suggestions.values_list("status", flat=True)) == {"kept"}
    assert second.summary["suggested"] == 0
    assert Field.objects.get(dataset=dataset, name="email").classification_source == "scan_accepted"


def test_rescan_shows_what_changed_when_the_evidence_changed(alice, samples, tickets):
    dataset = make_dataset(alice, slug="tickets")
    first = run(services.scan_start(actor=alice, dataset=dataset, path=str(tickets)))
    year = first.suggestions.get(field__name="year")
    services.suggestion_reject(actor=alice, suggestion=year)
    # the "year" column now holds email addresses
    changed = write_csv(
        samples / "tickets2.csv",
        ["ticket_id", "email", "card", "year"],
        [[i, f"person{i}@example.org", CARDS[i % 4], f"x{i}@example.org"] for i in range(40)],
    )
    second = run(services.scan_start(actor=alice, dataset=dataset, path=str(changed)))
    again = second.suggestions.get(field__name="year")
    assert again.status == "suggested"
    assert again.changes["category"] == [None, "user.contact.email"]
    assert again.changes["evidence_changed"] is True
    assert again.changes["previous_decision"] == "rejected"
    # the unchanged, undecided email suggestion of the first scan is superseded, not duplicated
    assert first.suggestions.get(field__name="email").status == "superseded"
    assert (
        selectors.suggestion_queue(viewer=alice, dataset=dataset)
        .filter(field__name="email")
        .count()
        == 1
    )


def test_a_manual_classification_that_agrees_is_kept(alice, tickets):
    dataset = make_dataset(
        alice,
        slug="tickets",
        fields={"email": ("user.contact.email", "direct_identifier", "", "drop")},
    )
    scan = run(services.scan_start(actor=alice, dataset=dataset, path=str(tickets)))
    assert scan.suggestions.get(field__name="email").status == "kept"
    assert Field.objects.get(dataset=dataset, name="email").treatment == "drop"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("data.xlsx", b"PK\x03\x04", "Unsupported file type"),
        ("empty.csv", b"a,b\n", "no data rows"),
        ("bad.parquet", b"not,parquet\n1,2\n", ""),
        ("binary.csv", bytes(range(256)) * 4, ""),
    ],
)
def test_bad_uploads_are_refused_and_nothing_is_created(alice, samples, name, content, message):
    dataset = make_dataset(alice, slug="tickets")
    upload = SimpleUploadedFile(name, content)
    with pytest.raises(ApplicationError) as error:
        services.scan_start(actor=alice, dataset=dataset, upload=upload)
    assert message in error.value.message
    assert not Scan.objects.exists()
    assert not list((samples / "uploads").glob("*")) if (samples / "uploads").exists() else True


def test_oversized_upload_is_refused(alice, samples, settings):
    settings.SCANNER_MAX_UPLOAD_BYTES = 1024
    dataset = make_dataset(alice, slug="tickets")
    upload = SimpleUploadedFile("big.csv", b"a,b\n" + b"1,2\n" * 1000)
    with pytest.raises(ApplicationError, match="the limit is 1024 bytes"):
        services.scan_start(actor=alice, dataset=dataset, upload=upload)
    assert not Scan.objects.exists()


def test_referenced_files_must_live_under_the_allowed_folders(alice, samples, tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere") / "secret.csv"
    write_csv(outside, ["a"], [[1]])
    dataset = make_dataset(alice, slug="tickets")
    with pytest.raises(ApplicationError, match="Scans may only read files under"):
        services.scan_start(actor=alice, dataset=dataset, path=str(outside))
    with pytest.raises(ApplicationError, match="Scans may only read files under"):
        services.scan_start(actor=alice, dataset=dataset, path=str(samples / ".." / "x.csv"))
    with pytest.raises(ApplicationError, match="No file at"):
        services.scan_start(actor=alice, dataset=dataset, path=str(samples / "missing.csv"))
    assert not Scan.objects.exists()


def test_tables_need_a_configured_connection_and_an_existing_table(alice, settings):
    settings.SCANNER_CONNECTIONS = {"warehouse": "postgres://postgres@127.0.0.1:5432/postgres"}
    dataset = make_dataset(alice, slug="tickets")
    with pytest.raises(ApplicationError, match="Unknown connection 'crm'; configured: warehouse"):
        services.scan_start(actor=alice, dataset=dataset, connection_name="crm", table="a.b")
    with pytest.raises(ApplicationError, match=r"schema\.table"):
        services.scan_start(
            actor=alice, dataset=dataset, connection_name="warehouse", table="b; drop table x"
        )
    with pytest.raises(ApplicationError, match=r"Table public\.nope does not exist"):
        services.scan_start(
            actor=alice, dataset=dataset, connection_name="warehouse", table="public.nope"
        )
    assert not Scan.objects.exists()


def test_a_scan_of_a_postgres_table(alice, settings):
    import psycopg

    url = "postgres://postgres@127.0.0.1:5432/postgres"
    settings.SCANNER_CONNECTIONS = {"warehouse": url}
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE SCHEMA IF NOT EXISTS catalog_scan_test")
        connection.execute("DROP TABLE IF EXISTS catalog_scan_test.customers")
        connection.execute("CREATE TABLE catalog_scan_test.customers (id int, email text)")
        connection.execute(
            "INSERT INTO catalog_scan_test.customers "
            "SELECT i, 'user' || i || '@example.org' FROM generate_series(1, 30) i"
        )
    try:
        dataset = make_dataset(alice, slug="customers")
        scan = run(
            services.scan_start(
                actor=alice,
                dataset=dataset,
                connection_name="warehouse",
                table="catalog_scan_test.customers",
            )
        )
        assert scan.status == "succeeded"
        assert scan.suggestions.get(field__name="email").category.key == "user.contact.email"
    finally:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("DROP SCHEMA catalog_scan_test CASCADE")


def test_a_failed_scan_is_shown_as_failed_with_its_reason(alice, samples):
    # given a sample that was fine when the scan started and is gone when the worker runs
    path = write_csv(samples / "vanishing.csv", ["a"], [[1]])
    dataset = make_dataset(alice, slug="tickets")
    scan = services.scan_start(actor=alice, dataset=dataset, path=str(path))
    path.unlink()
    # when
    scan = run(scan)
    # then
    assert scan.status == "failed"
    assert scan.error_code == "unreadable"
    assert scan.error_message
    assert not scan.suggestions.exists()
    event = LedgerEntry.objects.get(event="dataset.scan_failed")
    assert event.additional_data["reason"] == "unreadable"


def test_running_a_finished_scan_again_changes_nothing(alice, tickets):
    dataset = make_dataset(alice, slug="tickets")
    scan = run(services.scan_start(actor=alice, dataset=dataset, path=str(tickets)))
    count = Suggestion.objects.count()
    assert run(scan).status == "succeeded"
    assert Suggestion.objects.count() == count


def test_only_one_scan_at_a_time_and_only_by_a_steward_of_the_dataset(alice, bob, tickets):
    dataset = make_dataset(alice, slug="tickets")
    services.scan_start(actor=alice, dataset=dataset, path=str(tickets))
    with pytest.raises(Conflict, match="already running"):
        services.scan_start(actor=alice, dataset=dataset, path=str(tickets))
    with pytest.raises(NotPermitted):
        services.scan_start(actor=bob, dataset=dataset, path=str(tickets))
    assert Scan.objects.count() == 1


def test_uploaded_samples_are_deleted_after_the_scan(alice, samples):
    dataset = make_dataset(alice, slug="tickets")
    upload = SimpleUploadedFile("t.csv", b"email\nanna@example.org\nben@example.org\n")
    scan = services.scan_start(actor=alice, dataset=dataset, upload=upload)
    stored = list((samples / "uploads").glob("*.csv"))
    assert len(stored) == 1
    run(scan)
    assert not stored[0].exists()


def test_api_scan_upload_and_progress(client, alice, samples):
    make_dataset(alice, slug="tickets")
    client.force_login(alice)
    upload = SimpleUploadedFile("t.csv", b"email\nanna@example.org\nben@example.org\n")
    response = client.post("/api/v1/datasets/tickets/scans/create", {"file": upload})
    assert response.status_code == 202, response.content
    scan_id = response.json()["id"]
    assert response.json()["status"] == "queued"
    run(Scan.objects.get(pk=scan_id))
    detail = client.get(f"/api/v1/datasets/tickets/scans/{scan_id}").json()
    assert (detail["status"], detail["progress"]) == ("succeeded", 100)
    queue = client.get("/api/v1/datasets/tickets/suggestions").json()["results"]
    assert [(s["field"], s["category"]) for s in queue] == [("email", "user.contact.email")]
    response = client.post(f"/api/v1/datasets/suggestions/{queue[0]['id']}/accept")
    assert response.status_code == 200
    assert response.json()["status"] == "accepted"


def test_api_wrong_file_type_is_a_400(client, alice, samples):
    make_dataset(alice, slug="tickets")
    client.force_login(alice)
    response = client.post(
        "/api/v1/datasets/tickets/scans/create", {"file": SimpleUploadedFile("x.docx", b"hello")}
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("Unsupported file type 'x.docx'")
    assert not Scan.objects.exists()
