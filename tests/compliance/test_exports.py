from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from consent.vocab import LegalBasis
from governance.access import services as access
from governance.audit.models import LedgerEntry
from governance.compliance import builders, services
from governance.compliance.models import Export
from governance.errors import ApplicationError, NotPermitted
from tests.compliance.conftest import CONTROLLER, DPO, run
from tests.consent.factories import make_purpose

# session, user, roles (once per request), permissions (one query), the count and one page
QUERIES_FOR_LIST = 6
ROOT = Path(__file__).resolve().parents[2]
VERIFIER = ROOT / "tools" / "verify_audit_bundle.py"


def period():
    now = timezone.now()
    return {"start": now - timedelta(hours=1), "end": now + timedelta(hours=1)}


def verify_standalone(bundle: Path) -> subprocess.CompletedProcess:
    keys = bundle / "public-keys.json"
    command = [sys.executable, str(VERIFIER), str(bundle), "--public-keys", str(keys)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def events(name: str) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.filter(event=name).order_by("id"))


# --- RoPA ------------------------------------------------------------------------------------


def test_ropa_xlsx_has_one_row_per_active_purpose_with_every_art30_column_filled(
    petra, alice, approved_for_routing
):
    # given ticket-routing (active, approved for support-tickets), churn-model (active) and a
    # draft and a retired purpose that are not processing anything
    make_purpose("churn-model", owner=alice, dpia_reference="DPIA-2026-07")
    make_purpose("draft-idea", owner=alice, status="draft")
    make_purpose("old-thing", owner=alice, status="retired")
    # when
    export = run(petra, "ropa")
    # then
    sheet = load_workbook(export.file_path)["Art. 30(1) record"]
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[0])
    assert header == [label for _, label in builders.ROPA_COLUMNS]
    records = [dict(zip(header, row, strict=True)) for row in rows[1:]]
    assert [r["Purpose id"] for r in records] == ["churn-model", "ticket-routing"]
    for record in records:
        filled = {k: v for k, v in record.items() if k != "Not recorded"}
        assert all(value not in (None, "") for value in filled.values()), record
    routing = records[1]
    assert routing["Controller name"] == CONTROLLER
    assert routing["Controller contact"] == "privacy@example.org"
    assert routing["DPO contact"] == DPO
    assert routing["Purpose of processing"] == "Train the churn model"
    assert routing["Purpose description"] == "Predict which customers are about to leave."
    assert routing["Legal basis (Art. 6)"] == LegalBasis("legitimate_interests").label
    assert routing["Art. 9 condition"] == "Not applicable: no special categories processed"
    assert routing["Categories of data subjects"] == "customer"
    # the purpose's own categories plus those of the dataset approved for it
    assert routing["Categories of personal data"] == (
        "Contact data (user.contact); Email address (user.contact.email); User-generated "
        "content (user.content); Private messages and free text (user.content.private)"
    )
    assert routing["Categories of recipients"] == "Internal ML platform"
    # nothing recorded about transfers and measures: said so, never a default (issue 18)
    assert routing["Transfers to third countries"] == "Not recorded"
    assert routing["Time limits for erasure"] == (
        "Purpose retention period: 365 days.\n"
        "support-tickets: not enforced by the registry (no retention policy)."
    )
    assert routing["Technical and organisational security measures"] == "Not recorded"
    assert routing["DPIA"] == "None recorded"
    assert routing["Datasets approved for the purpose"] == "support-tickets"
    churn = records[0]
    assert churn["Categories of personal data"] == (
        "Purchase history (user.behavior.purchase_history)"
    )
    assert churn["DPIA"] == "DPIA-2026-07 (named on the purpose; not in the DPIA register)"
    assert churn["Legal basis (Art. 6)"] == LegalBasis("consent").label
    assert churn["Datasets approved for the purpose"] == "None"


def test_ropa_csv_has_the_same_rows(petra, approved_for_routing):
    export = run(petra, "ropa", fmt="csv")
    rows = list(csv.reader(io.StringIO(Path(export.file_path).read_text("utf-8"))))
    assert rows[0][0] == "Controller name"
    assert len(rows) == 2
    assert rows[1][3] == "Train the churn model"


# --- Access report ---------------------------------------------------------------------------


def test_access_report_lists_every_decision_made_through_check_access(
    audrey, bob, charlie, granted
):
    # given one allow and two denials
    window = period()
    allowed = access.check_access(
        principal=bob, dataset_slug="support-tickets", purpose_slug="ticket-routing"
    )
    denied = access.check_access(
        principal=charlie, dataset_slug="support-tickets", purpose_slug="ticket-routing"
    )
    unknown = access.check_access(
        principal=bob, dataset_slug="support-tickets", purpose_slug="no-such-purpose"
    )
    # when
    export = run(audrey, "access_report", **window)
    # then
    rows = list(csv.DictReader(io.StringIO(Path(export.file_path).read_text("utf-8"))))
    expected = [
        {
            "decision_id": r.decision_id,
            "principal": r.principal,
            "dataset": r.dataset,
            "purpose": r.purpose,
            "decision": r.decision.decision,
            "reasons": ";".join(x["code"] for x in r.decision.reasons),
            "grant": "" if r.decision.grant_id is None else str(r.decision.grant_id),
        }
        for r in (allowed, denied, unknown)
    ]
    assert [{k: row[k] for k in expected[0]} for row in rows] == expected
    assert [row["decision"] for row in rows] == ["allow", "deny", "deny"]
    assert rows[0]["grant"] == str(granted.pk)
    assert rows[0]["principal"] == "user:bob"


def test_access_report_leaves_out_decisions_outside_the_period(audrey, bob, granted):
    access.check_access(
        principal=bob, dataset_slug="support-tickets", purpose_slug="ticket-routing"
    )
    now = timezone.now()
    later = {"start": now + timedelta(hours=1), "end": now + timedelta(hours=2)}
    export = run(audrey, "access_report", **later)
    assert Path(export.file_path).read_text("utf-8").splitlines() == [
        ",".join(builders.ACCESS_COLUMNS)
    ]


# --- Audit log -------------------------------------------------------------------------------


def test_audit_log_export_holds_csv_jsonl_and_a_bundle_the_standalone_verifier_accepts(
    audrey, bob, granted, tmp_path
):
    access.check_access(
        principal=bob, dataset_slug="support-tickets", purpose_slug="ticket-routing"
    )
    export = run(audrey, "audit_log", **period())
    with zipfile.ZipFile(export.file_path) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "out")
    assert {"audit-log.csv", "audit-log.jsonl", "README.txt"} <= names
    assert {
        "bundle/manifest.json",
        "bundle/chain.jsonl",
        "bundle/entries.jsonl",
        "bundle/checkpoints.jsonl",
        "bundle/public-keys.json",
    } <= names
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out" / "audit-log.csv").read_text())))
    assert "access.check" in {r["event"] for r in rows}
    assert "compliance.export_requested" in {r["event"] for r in rows}
    lines = (tmp_path / "out" / "audit-log.jsonl").read_bytes().splitlines()
    assert len(lines) == len(rows)
    assert json.loads(lines[0])["id"] == int(rows[0]["id"])
    # the standalone verifier, with only the bundle and the public keys
    bundle = tmp_path / "out" / "bundle"
    result = verify_standalone(bundle)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK")
    # and a modified entry fails it
    entries = bundle / "entries.jsonl"
    entries.write_bytes(entries.read_bytes().replace(b"access.check", b"access.chekc", 1))
    result = verify_standalone(bundle)
    assert result.returncode == 1
    assert result.stdout.startswith("FAIL")


# --- Evidence pack ---------------------------------------------------------------------------


def test_evidence_pack_holds_the_dataset_record_and_each_grant_with_its_request_and_ack(
    petra, bob, alice, granted, tickets
):
    access.check_access(
        principal=bob, dataset_slug="support-tickets", purpose_slug="ticket-routing"
    )
    export = run(petra, "evidence_pack", dataset="support-tickets")
    with zipfile.ZipFile(export.file_path) as archive:
        names = set(archive.namelist())
        read = lambda name: json.loads(archive.read(name))  # noqa: E731
        assert names == {
            "README.txt",
            "pack.json",
            "alerts.json",
            "dataset.json",
            "classification.json",
            "classification.csv",
            "reviews.json",
            "purpose-approvals.json",
            "grants.json",
            "decision-counts.csv",
            "consent-snapshots.json",
            "audit/audit-log.csv",
            "audit/manifest.json",
            "audit/chain.jsonl",
            "audit/entries.jsonl",
            "audit/checkpoints.jsonl",
            "audit/public-keys.json",
            "retention/policy.json",
            "retention/legal-holds.json",
            "retention/erasure-requests.json",
            "retention/runs.json",
            "retention/deletion-certificates.jsonl",
            "registers/dpias.json",
            "registers/breaches.json",
        }
        assert read("retention/policy.json") is None  # no retention policy on this dataset
        assert read("retention/runs.json") == []
        assert read("dataset.json")["slug"] == "support-tickets"
        assert {f["name"] for f in read("classification.json")} == {"ticket_id", "email", "message"}
        assert [r["version"] for r in read("reviews.json")] == [1]
        assert [a["purpose"] for a in read("purpose-approvals.json")] == ["ticket-routing"]
        (grant,) = read("grants.json")
        assert grant["grant"]["id"] == granted.pk
        assert grant["grant"]["principal_user"] == "bob"
        assert grant["request"]["id"] == granted.request_id
        assert grant["request"]["requester"] == "bob"
        assert [a["role"] for a in grant["approvals"]] == ["steward"]
        assert grant["approvals"][0]["by"] == "alice"
        assert [a["user"] for a in grant["acknowledgements"]] == ["bob"]
        counts = archive.read("decision-counts.csv").decode().splitlines()
        assert counts == ["purpose,decision,count", "ticket-routing,allow,1"]
        slice_events = {
            json.loads(line)["event"] for line in archive.read("audit/entries.jsonl").splitlines()
        }
        assert {"access.check", "access.granted", "access.acknowledged"} <= slice_events
        assert read("audit/manifest.json")["format"] == "governance-ledger-proof/v1"


# --- Bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        (
            "audit_log",
            {"start": "2026-03-01T00:00:00+00:00", "end": "2026-02-01T00:00:00+00:00"},
            services.MSG_INVERTED.format(
                start="2026-03-01T00:00:00+00:00", end="2026-02-01T00:00:00+00:00"
            ),
        ),
        ("access_report", {"start": "2026-02-01T00:00:00+00:00"}, services.MSG_UNBOUNDED),
        ("audit_log", {}, services.MSG_UNBOUNDED),
        (
            "audit_log",
            {"start": "2024-01-01T00:00:00+00:00", "end": "2026-01-01T00:00:00+00:00"},
            services.MSG_TOO_LONG.format(days=731, limit=services.MAX_RANGE_DAYS),
        ),
        ("evidence_pack", {"dataset": "no-such-data"}, "No dataset 'no-such-data'."),
        ("evidence_pack", {}, services.MSG_NEED_DATASET),
        ("ropa", {"fmt": "pdf"}, services.MSG_BAD_FORMAT.format(fmt="pdf", known="xlsx, csv")),
    ],
)
def test_bad_input_is_a_400_and_creates_nothing_but_the_refusal(
    api_client, audrey, kind, params, message, django_capture_on_commit_callbacks
):
    api_client.force_authenticate(audrey)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api_client.post(
            "/api/v1/compliance/exports/create", {"kind": kind, **params}, format="json"
        )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == message
    assert Export.objects.count() == 0
    assert callbacks == []
    (refusal,) = events("compliance.export_refused")
    assert refusal.actor == audrey
    assert refusal.additional_data["message"] == message
    assert events("compliance.export_requested") == []


@pytest.mark.parametrize("persona", ["bob", "alice", "charlie"])
def test_people_without_an_export_role_are_refused(persona, request, api_client):
    user = request.getfixturevalue(persona)
    with pytest.raises(NotPermitted):
        services.export_request(actor=user, kind="ropa")
    api_client.force_authenticate(user)
    response = api_client.post("/api/v1/compliance/exports/create", {"kind": "ropa"})
    assert response.status_code == 403
    assert response.json()["error"]["message"] == services.MSG_NOT_PERMITTED
    assert Export.objects.count() == 0
    assert len(events("compliance.export_refused")) == 2


def test_a_naive_time_is_refused_by_the_service(audrey):
    with pytest.raises(ApplicationError, match="time zone"):
        services.export_request(
            actor=audrey,
            kind="audit_log",
            start=timezone.now().replace(tzinfo=None),
            end=timezone.now().replace(tzinfo=None) + timedelta(hours=1),
        )


# --- Requests, downloads and who may see what -----------------------------------------------


def test_a_request_queues_the_task_on_commit_and_records_the_event(
    api_client, petra, django_capture_on_commit_callbacks
):
    api_client.force_authenticate(petra)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api_client.post("/api/v1/compliance/exports/create", {"kind": "ropa"})
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    assert body["download_url"] is None
    assert len(callbacks) == 1
    (event,) = events("compliance.export_requested")
    assert event.additional_data["export"] == body["id"]
    assert event.actor == petra


def test_download_streams_the_file_and_records_an_audit_event(api_client, client, audrey, petra):
    export = run(petra, "ropa")
    api_client.force_authenticate(audrey)
    # when another auditor downloads through the API
    response = api_client.get(f"/api/v1/compliance/exports/{export.pk}/download")
    # then
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert export.file_name in response["Content-Disposition"]
    assert b"".join(response.streaming_content) == Path(export.file_path).read_bytes()
    (download,) = events("compliance.export_downloaded")
    assert download.actor == audrey
    assert download.additional_data == {
        "export": export.pk,
        "kind": "ropa",
        "sha256": export.sha256,
    }
    # and through the portal
    client.force_login(petra)
    response = client.get(f"/compliance/exports/{export.pk}/download")
    assert response.status_code == 200
    assert len(events("compliance.export_downloaded")) == 2
    (completed,) = events("compliance.export_completed")
    assert completed.additional_data["sha256"] == export.sha256


@pytest.mark.parametrize("persona", ["bob", "alice"])
def test_another_users_export_is_not_found_for_people_without_the_role(
    persona, request, api_client, client, petra
):
    export = run(petra, "ropa")
    user = request.getfixturevalue(persona)
    api_client.force_authenticate(user)
    assert api_client.get(f"/api/v1/compliance/exports/{export.pk}").status_code == 404
    assert api_client.get(f"/api/v1/compliance/exports/{export.pk}/download").status_code == 404
    client.force_login(user)
    assert client.get(f"/compliance/exports/{export.pk}/").status_code == 404
    assert client.get(f"/compliance/exports/{export.pk}/download").status_code == 404
    assert client.get("/compliance/exports/").status_code == 200
    assert client.post("/compliance/exports/", {"kind": "ropa"}).status_code == 403
    assert events("compliance.export_downloaded") == []


def test_a_download_before_the_export_is_ready_is_a_conflict(api_client, audrey):
    export = services.export_request(actor=audrey, kind="ropa")
    api_client.force_authenticate(audrey)
    response = api_client.get(f"/api/v1/compliance/exports/{export.pk}/download")
    assert response.status_code == 409
    assert events("compliance.export_downloaded") == []


def test_the_portal_requests_an_export_and_shows_its_progress(client, audrey):
    client.force_login(audrey)
    response = client.post("/compliance/exports/", {"kind": "ropa", "fmt": "xlsx"})
    export = Export.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/compliance/exports/{export.pk}/"
    page = client.get(response["Location"])
    assert b'hx-get="/compliance/exports/' in page.content
    services.export_run(export_id=export.pk)
    fragment = client.get(response["Location"], HTTP_HX_REQUEST="true")
    assert b'data-status="succeeded"' in fragment.content
    assert b"hx-get" not in fragment.content
    assert f"/compliance/exports/{export.pk}/download".encode() in fragment.content
    listing = client.get("/compliance/exports/")
    assert b"Records of Processing Activities" in listing.content


def test_the_portal_form_shows_the_error_for_an_inverted_range(client, audrey):
    client.force_login(audrey)
    response = client.post(
        "/compliance/exports/",
        {"kind": "audit_log", "start": "2026-03-01T00:00", "end": "2026-02-01T00:00"},
    )
    assert response.status_code == 400
    assert b"inverted" in response.content
    assert Export.objects.count() == 0


def test_a_failing_build_ends_as_a_failed_export_with_its_event(petra, monkeypatch):
    export = services.export_request(actor=petra, kind="ropa")

    def explode(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(builders, "build_ropa", explode)
    export = services.export_run(export_id=export.pk)
    assert export.status == "failed"
    assert export.error == services.MSG_INTERNAL
    assert export.file_path == ""
    (failed,) = events("compliance.export_failed")
    assert failed.additional_data["reason"] == services.MSG_INTERNAL


def test_the_export_list_takes_a_fixed_number_of_queries(
    client, audrey, petra, django_assert_num_queries
):
    for _ in range(3):
        services.export_request(actor=petra, kind="ropa")
    client.force_login(audrey)
    client.get("/compliance/exports/")  # warm caches (session, content types)
    with django_assert_num_queries(QUERIES_FOR_LIST):
        response = client.get("/compliance/exports/")
    assert response.content.count(b'data-status="queued"') == 3
