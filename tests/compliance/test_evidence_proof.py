"""Issue 18, second bullet: an evidence pack (and an audit-log export) proves itself. Every
file is backed by ledger entries included in the pack, each with an inclusion proof against a
signed checkpoint, and the standalone verifier proves the zip exactly as downloaded."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from consent import services as consent
from governance.access import services as access
from governance.access.alerts import Finding, Window, alert_raise
from governance.audit import chain
from governance.retention import runner
from governance.retention import services as retention
from tests.compliance.conftest import run
from tests.retention.conftest import give_consent, set_policy

ROOT = Path(__file__).resolve().parents[2]
VERIFIER = ROOT / "tools" / "verify_audit_bundle.py"
DOCS = ROOT / "docs" / "compliance-exports.md"


@pytest.fixture
def customer_events(alice, petra, bob, store, events_dataset):
    """shop-events with everything an auditor asks about: a grant (approved, acknowledged), a
    retention policy, a hold, an erasure request completed by a run with its certificate, an
    alert naming the dataset and a consent snapshot of the purpose it serves."""
    store.fill(40, subjects=10, days=100)
    give_consent([f"c-{n}" for n in range(10)])
    set_policy(dataset=events_dataset, actor=alice, max_age_days=3650)
    request = access.access_request_create(
        requester=bob,
        dataset=events_dataset,
        purpose_slug="churn-model",
        fields=["customer_id"],
        duration_days=30,
        justification="Retrain the churn model on last quarter.",
    )
    access.access_request_approve(actor=alice, request=request)
    request.refresh_from_db()
    access.grant_acknowledge(actor=bob, grant=request.grant)
    retention.hold_place(
        actor=petra,
        reason="Litigation about one customer.",
        namespace="shop",
        external_id="c-2",
        dataset=events_dataset,
        reference="L-7",
    )
    retention.erasure_request_create(
        actor=petra,
        external_id="c-1",
        namespace="shop",
        received_on=date.today(),
        datasets=[events_dataset],
        reference="DSR-2026-001",
    )
    run = retention.run_start(dataset=events_dataset, actor=alice, kind="erasure")
    runner.run_execute(run_id=run.pk)
    now = timezone.now()
    alert_raise(
        finding=Finding(
            rule="restricted_off_hours",
            principal="user:bob",
            severity="high",
            summary="user:bob was allowed shop-events on a Saturday.",
            dataset="shop-events",
        ),
        window=Window(now - timedelta(hours=1), now),
    )
    consent.consent_filter(
        purpose="churn-model", subject_ids=["c-3"], actor=petra, namespace="shop"
    )
    return events_dataset


def verify(path: Path, keys: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, str(VERIFIER), str(path), "--public-keys", str(keys)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


@pytest.fixture
def keys(tmp_path, db):
    """The public checkpoint keys, as an auditor obtains them out of band."""
    path = tmp_path / "published-keys.json"
    path.write_text(json.dumps(chain.checkpoint_public_keys()))
    return path


def download(api_client, user, export, folder: Path) -> Path:
    api_client.force_authenticate(user)
    response = api_client.get(f"/api/v1/compliance/exports/{export.pk}/download")
    assert response.status_code == 200
    path = folder / export.file_name
    path.write_bytes(b"".join(response.streaming_content))
    return path


def rewrite(source: Path, target: Path, changes: dict[str, bytes]) -> Path:
    """A copy of a zip with some members replaced."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for name in original.namelist():
            copy.writestr(name, changes.get(name, original.read(name)))
    return target


def test_every_file_of_the_evidence_pack_is_backed_by_ledger_entries_in_the_pack(
    petra, customer_events
):
    # when
    export = run(petra, "evidence_pack", dataset="shop-events")

    # then
    with zipfile.ZipFile(export.file_path) as archive:
        entries = [json.loads(line) for line in archive.read("audit/entries.jsonl").splitlines()]
        pack = json.loads(archive.read("pack.json"))
        files = {name: archive.read(name) for name in pack["files"]}
    by_id = {entry["id"]: entry for entry in entries}
    assert {
        "access.requested",
        "access.request_approved",
        "access.granted",
        "access.acknowledged",
        "access.purpose_approved",
        "access.alert_raised",
        "consent.filtered",
        "retention.policy_set",
        "retention.hold_placed",
        "retention.erasure_requested",
        "retention.erasure_completed",
        "retention.run_queued",
        "retention.certificate_issued",
        "compliance.evidence_pack_sealed",
    } <= {entry["event"] for entry in entries}
    for name, info in pack["files"].items():
        assert hashlib.sha256(files[name]).hexdigest() == info["sha256"], name
        for item in info["records"]:
            assert item["entries"], (name, item)
            assert set(item["entries"]) <= set(by_id), (name, item)
            named = {f"{by_id[i]['content_type']}:{by_id[i]['object_pk']}" for i in item["entries"]}
            assert set(item.get("objects", [])) <= named, (name, item)
    records = {name: len(info["records"]) for name, info in pack["files"].items()}
    assert records["grants.json"] == 1
    assert records["retention/erasure-requests.json"] == 1
    assert records["retention/legal-holds.json"] == 1
    assert records["retention/runs.json"] == 1
    assert records["retention/deletion-certificates.jsonl"] == 1
    assert records["alerts.json"] == 1
    assert records["consent-snapshots.json"] == 1
    (grant,) = pack["files"]["grants.json"]["records"]
    assert {by_id[i]["event"] for i in grant["entries"]} >= {
        "access.requested",
        "access.request_approved",
        "access.granted",
        "access.acknowledged",
    }
    (erasure,) = pack["files"]["retention/erasure-requests.json"]["records"]
    assert {by_id[i]["event"] for i in erasure["entries"]} >= {
        "retention.erasure_requested",
        "retention.erasure_completed",
    }


def test_the_verifier_proves_a_downloaded_evidence_pack_on_its_own(
    api_client, petra, customer_events, keys, tmp_path
):
    # given the pack exactly as downloaded, and nothing else but the published keys
    export = run(petra, "evidence_pack", dataset="shop-events")
    pack = download(api_client, petra, export, tmp_path)

    # when
    result = verify(pack, keys)

    # then
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK: ")
    assert "evidence pack for dataset shop-events" in result.stdout


def test_the_verifier_fails_a_pack_whose_file_was_changed(
    api_client, petra, customer_events, keys, tmp_path
):
    export = run(petra, "evidence_pack", dataset="shop-events")
    pack = download(api_client, petra, export, tmp_path)
    with zipfile.ZipFile(pack) as archive:
        grants = json.loads(archive.read("grants.json"))
    grants[0]["grant"]["fields"] = ["customer_id", "email"]
    changed = rewrite(pack, tmp_path / "changed.zip", {"grants.json": json.dumps(grants).encode()})

    result = verify(changed, keys)

    assert result.returncode == 1
    assert result.stdout.startswith("FAIL")
    assert "grants.json" in result.stdout


def test_the_verifier_fails_a_pack_whose_manifest_was_rewritten_to_match(
    api_client, petra, customer_events, keys, tmp_path
):
    # given a changed file and a pack.json rewritten with its new hash
    export = run(petra, "evidence_pack", dataset="shop-events")
    pack = download(api_client, petra, export, tmp_path)
    with zipfile.ZipFile(pack) as archive:
        manifest = json.loads(archive.read("pack.json"))
    forged = b"[]"
    manifest["files"]["alerts.json"]["sha256"] = hashlib.sha256(forged).hexdigest()
    changed = rewrite(
        pack,
        tmp_path / "forged.zip",
        {"alerts.json": forged, "pack.json": json.dumps(manifest).encode()},
    )

    result = verify(changed, keys)

    assert result.returncode == 1
    assert result.stdout.startswith("FAIL")
    assert "pack.json" in result.stdout


def test_the_verifier_fails_a_pack_with_a_changed_ledger_entry(
    api_client, petra, customer_events, keys, tmp_path
):
    export = run(petra, "evidence_pack", dataset="shop-events")
    pack = download(api_client, petra, export, tmp_path)
    with zipfile.ZipFile(pack) as archive:
        entries = archive.read("audit/entries.jsonl")
    changed = rewrite(
        pack,
        tmp_path / "changed.zip",
        {"audit/entries.jsonl": entries.replace(b"DSR-2026-001", b"DSR-2026-999", 1)},
    )

    result = verify(changed, keys)

    assert result.returncode == 1
    assert result.stdout.startswith("FAIL at position")


def test_the_erasure_request_file_keeps_the_reference_and_the_subject_hash(petra, customer_events):
    export = run(petra, "evidence_pack", dataset="shop-events")

    with zipfile.ZipFile(export.file_path) as archive:
        (request,) = json.loads(archive.read("retention/erasure-requests.json"))

    assert request["reference"] == "DSR-2026-001"
    assert request["status"] == "completed"
    assert request["subject_sha256"] == hashlib.sha256(b"shop:c-1").hexdigest()


def test_the_downloaded_audit_log_zip_verifies_as_it_is(
    api_client, audrey, customer_events, keys, tmp_path
):
    # given
    now = timezone.now()
    export = run(audrey, "audit_log", start=now - timedelta(days=1), end=now + timedelta(hours=1))
    downloaded = download(api_client, audrey, export, tmp_path)

    # when
    result = verify(downloaded, keys)

    # then
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK: ")
    assert "audit-log.csv and audit-log.jsonl match" in result.stdout


def test_the_verifier_fails_an_audit_log_zip_whose_csv_was_changed(
    api_client, audrey, customer_events, keys, tmp_path
):
    now = timezone.now()
    export = run(audrey, "audit_log", start=now - timedelta(days=1), end=now + timedelta(hours=1))
    downloaded = download(api_client, audrey, export, tmp_path)
    with zipfile.ZipFile(downloaded) as archive:
        text = archive.read("audit-log.csv")
    changed = rewrite(
        downloaded,
        tmp_path / "changed.zip",
        {"audit-log.csv": text.replace(b"retention.erasure_requested", b"retention.previewed")},
    )

    result = verify(changed, keys)

    assert result.returncode == 1
    assert "audit-log.csv" in result.stdout


def test_the_export_documentation_names_every_file_of_the_evidence_pack(petra, customer_events):
    export = run(petra, "evidence_pack", dataset="shop-events")
    with zipfile.ZipFile(export.file_path) as archive:
        names = archive.namelist()
    docs = DOCS.read_text()

    missing = [name for name in names if f"`{name}`" not in docs]

    assert missing == []
    assert "not recorded by the registry yet" not in docs


def test_an_old_checkpoint_does_not_stand_in_for_the_packs_own(
    api_client, petra, customer_events, keys, tmp_path
):
    """The pack's checkpoint is signed after the pack's sealing entry: every entry it holds is
    covered, none is left 'not covered by a checkpoint'."""
    export = run(petra, "evidence_pack", dataset="shop-events")
    pack = download(api_client, petra, export, tmp_path)

    result = verify(pack, keys)

    assert "not covered by a checkpoint" not in result.stdout
    with zipfile.ZipFile(pack) as archive:
        checkpoints = [json.loads(x) for x in archive.read("audit/checkpoints.jsonl").splitlines()]
        manifest = json.loads(archive.read("audit/manifest.json"))
    assert max(c["size"] for c in checkpoints) == manifest["size"]
    assert datetime.fromisoformat(checkpoints[-1]["created_at"]) <= datetime.now(UTC)
