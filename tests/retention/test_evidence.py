"""Retention in the compliance evidence pack (policy, holds, erasure requests, runs and the
deletion certificates as issued, subjects only as hashes), and certificates that the database
itself refuses to change."""

from __future__ import annotations

import hashlib
import json
import zipfile
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from governance.compliance import services as compliance
from governance.retention import planning, runner, services
from governance.retention.models import DeletionCertificate, ErasureRequest, RetentionRun
from tests.retention.conftest import give_consent, set_policy, withdraw

pytestmark = pytest.mark.django_db

RETENTION_FILES = {
    "retention/policy.json",
    "retention/legal-holds.json",
    "retention/erasure-requests.json",
    "retention/runs.json",
    "retention/deletion-certificates.jsonl",
}
# Subject ids that must never leave the registry in clear.
HELD_HERE, HELD_EVERYWHERE, REQUESTED = "vip-4711", "vip-0815", "gone-2024"


@pytest.fixture(autouse=True)
def _export_settings(settings, tmp_path):
    settings.COMPLIANCE_EXPORT_DIR = tmp_path / "exports"
    settings.AUDIT_CHECKPOINT_KEY_FILE = tmp_path / "keys" / "audit-checkpoint.jwks.json"
    settings.ACCESS_LEASE_KEY_FILE = tmp_path / "keys" / "lease.jwks.json"


def sha(namespace: str, external_id: str) -> str:
    return hashlib.sha256(f"{namespace}:{external_id}".encode()).hexdigest()


@pytest.fixture
def finished_run(store, events_dataset, alice, petra) -> RetentionRun:
    """A run on shop.events that erased c-1 (withdrawn) and gone-2024 (an erasure request),
    with vip-4711 on hold in this dataset and vip-0815 on hold everywhere."""
    store.fill(500, subjects=10)
    give_consent([f"c-{i}" for i in range(10)])
    withdraw(["c-1"])
    set_policy(dataset=events_dataset, actor=alice, max_age_days=180)
    services.hold_place(
        actor=petra,
        dataset=events_dataset,
        namespace="shop",
        external_id=HELD_HERE,
        reason="Litigation: order dispute",
        reference="CASE-12",
    )
    services.hold_place(
        actor=petra, namespace="shop", external_id=HELD_EVERYWHERE, reason="Fraud inquiry"
    )
    services.erasure_request_create(
        actor=petra,
        external_id=REQUESTED,
        namespace="shop",
        received_on=timezone.now().date() - timedelta(days=3),
        reference="DSR-9",
    )
    run = services.run_start(dataset=events_dataset, actor=alice)
    run = runner.run_execute(run_id=run.pk)
    assert run.status == RetentionRun.Status.SUCCEEDED
    return run


def _evidence_pack(actor, dataset):
    export = compliance.export_request(actor=actor, kind="evidence_pack", dataset=dataset.slug)
    export = compliance.export_run(export_id=export.pk)
    assert export.status == "succeeded", export.error
    return export


def test_the_evidence_pack_holds_the_retention_record_of_the_dataset(
    finished_run, events_dataset, audrey
):
    # given
    certificate = DeletionCertificate.objects.get(run=finished_run)
    request = ErasureRequest.objects.get()
    # when
    export = _evidence_pack(audrey, events_dataset)
    # then
    with zipfile.ZipFile(export.file_path) as archive:
        assert set(archive.namelist()) >= RETENTION_FILES
        read = lambda name: json.loads(archive.read(name))  # noqa: E731
        (line,) = archive.read("retention/deletion-certificates.jsonl").decode().splitlines()
        issued = json.loads(line)
        assert issued == {
            "id": certificate.pk,
            "run": finished_run.pk,
            "sha256": certificate.sha256,
            "document": certificate.document,
        }
        assert hashlib.sha256(runner.canonical(issued["document"])).hexdigest() == (
            certificate.sha256
        )
        assert issued["document"]["subjects"]["erased_count"] == 2
        assert issued["document"]["subjects"]["erased_sha256"] == planning.subjects_digest(
            ["c-1", REQUESTED]
        )
        policy = read("retention/policy.json")
        assert {k: v for k, v in policy.items() if k != "updated_at"} == {
            "max_age_days": 180,
            "grace_days": 0,
            "expires_on": None,
            "action": "delete",
            "connection": "warehouse",
            "subject_namespace": "shop",
            "enabled": True,
            "updated_by": "alice",
        }
        holds = read("retention/legal-holds.json")
        assert [(h["scope"], h["subject_sha256"], h["reason"]) for h in holds] == [
            ("subject", sha("shop", HELD_HERE), "Litigation: order dispute"),
            ("subject", sha("shop", HELD_EVERYWHERE), "Fraud inquiry"),
        ]
        assert holds[0]["placed_by"] == "petra"
        assert holds[0]["reference"] == "CASE-12"
        (requested,) = read("retention/erasure-requests.json")
        assert requested["id"] == request.pk
        assert requested["subject_sha256"] == sha("shop", REQUESTED)
        assert (requested["status"], requested["target_status"], requested["run"]) == (
            "completed",
            "erased",
            finished_run.pk,
        )
        (run,) = read("retention/runs.json")
        assert (run["id"], run["status"], run["rows_deleted"]) == (
            finished_run.pk,
            "succeeded",
            finished_run.rows_deleted,
        )
        assert (run["subjects_count"], run["subjects_sha256"]) == (
            2,
            planning.subjects_digest(["c-1", REQUESTED]),
        )
        # no subject id in clear anywhere in the pack
        everything = b"".join(archive.read(name) for name in archive.namelist())
        for subject in (HELD_HERE, HELD_EVERYWHERE, REQUESTED, "c-1"):
            assert subject.encode() not in everything, subject


def test_the_pack_of_a_dataset_without_retention_says_so(events_dataset, petra):
    # when
    export = _evidence_pack(petra, events_dataset)
    # then
    with zipfile.ZipFile(export.file_path) as archive:
        assert json.loads(archive.read("retention/policy.json")) is None
        for name in ("legal-holds", "erasure-requests", "runs"):
            assert json.loads(archive.read(f"retention/{name}.json")) == []
        assert archive.read("retention/deletion-certificates.jsonl") == b""


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE retention_deletioncertificate SET sha256 = repeat('0', 64) WHERE id = %s",
        "UPDATE retention_deletioncertificate SET document = '{}'::jsonb WHERE id = %s",
        "DELETE FROM retention_deletioncertificate WHERE id = %s",
    ],
)
def test_deletion_certificates_are_append_only_in_postgresql(finished_run, statement):
    # given
    certificate = DeletionCertificate.objects.get(run=finished_run)
    # when
    with pytest.raises(DatabaseError, match="append-only table retention_deletioncertificate"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [certificate.pk])
    # then
    after = DeletionCertificate.objects.get(pk=certificate.pk)
    assert (after.sha256, after.document) == (certificate.sha256, certificate.document)
