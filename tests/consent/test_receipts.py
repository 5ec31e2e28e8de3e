"""Consent receipts: what was agreed, on which notice, what happened since, how to withdraw."""

from __future__ import annotations

import uuid

import pytest
import time_machine

from consent import services
from consent.models import ConsentState, Subject
from governance.audit.models import LedgerEntry
from governance.errors import NotFound, NotPermitted
from tests.consent.factories import at, make_notice, make_purpose, record

NOW = at(2026, 6, 1, 12)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen_clock(database_clock_follows_time_machine):
    with time_machine.travel(NOW, tick=False):
        yield


def test_a_receipt_names_controller_purpose_basis_notice_events_and_withdrawal(audrey):
    # given a purpose with two notices and a subject who consented, withdrew and consented again
    purpose = make_purpose(
        "churn-model",
        data_categories=["user.behavior.purchase_history", "user.health_and_medical"],
        special_categories=True,
        special_category_condition="explicit_consent",
        dpia_reference="DPIA-7",
    )
    notice_2 = make_notice(purpose, text="Second notice", effective_from=at(2026, 2, 1))
    first = record("c-1", "given", occurred_at=at(2026, 1, 5), collection_method="web_form")
    withdrawal = record("c-1", "withdrawn", occurred_at=at(2026, 2, 10))
    again = record(
        "c-1", "given", occurred_at=at(2026, 3, 1), notice_version=2, collection_method="mobile_app"
    )
    subject = Subject.objects.get()
    state = ConsentState.objects.get()
    # when
    receipt = services.receipt_issue(viewer=audrey, subject=subject, purpose=purpose)
    # then
    assert receipt["receipt_id"] == str(
        uuid.uuid5(
            uuid.UUID("2f0c3f7e-6a51-4b8e-9d3c-7c1f0e4b5a21"), f"{state.record_id}/{again.pk}"
        )
    )
    assert receipt["record_id"] == str(state.record_id)
    assert receipt["generated_at"] == "2026-06-01T12:00:00+00:00"
    assert receipt["controller"] == {
        "name": "Example Retail GmbH",
        "contact": "privacy@example.org",
    }
    assert receipt["subject"] == {"namespace": "shop", "id": "c-1"}
    assert receipt["purpose"]["slug"] == "churn-model"
    assert receipt["purpose"]["version"] == 1
    assert receipt["purpose"]["special_category_condition"] == {
        "code": "explicit_consent",
        "iri": "https://w3id.org/dpv/legal/eu/gdpr#A9-2-a",
    }
    assert receipt["legal_basis"] == {
        "code": "consent",
        "label": "Consent — Art. 6(1)(a)",
        "iri": "https://w3id.org/dpv#Consent",
        "gdpr_iri": "https://w3id.org/dpv/legal/eu/gdpr#A6-1-a",
    }
    assert receipt["notice"] == {
        "version": 2,
        "language": "en",
        "url": None,
        "content_hash": {"algorithm": "sha256", "value": notice_2.content_hash},
        "effective_from": "2026-02-01T00:00:00+00:00",
    }
    assert receipt["state"] == {
        "status": "given",
        "status_iri": "https://w3id.org/dpv#ConsentGiven",
        "effective_status": "given",
        "valid": True,
        "since": "2026-03-01T00:00:00+00:00",
        "valid_until": "2028-03-01T00:00:00+00:00",
    }
    assert receipt["collection_method"] == "mobile_app"
    assert receipt["withdrawal_method"] == {
        "description": "Privacy settings, one click.",
        "api": 'POST /api/v1/consent/events with "status": "withdrawn"',
    }
    assert [(e["id"], e["status"], e["notice_version"]) for e in receipt["events"]] == [
        (first.pk, "given", 1),
        (withdrawal.pk, "withdrawn", 2),
        (again.pk, "given", 2),
    ]
    entry = LedgerEntry.objects.get(event="consent.receipt_issued")
    assert entry.actor == audrey
    assert entry.additional_data["receipt"] == receipt["receipt_id"]
    # the subject's id is not in the ledger's description of the receipt (only its uuid, which
    # may contain "c-1" by chance: compare the whole text)
    assert entry.object_repr == f"receipt {receipt['receipt_id']}"


def test_an_expired_consent_reads_as_expired_on_the_receipt(alice):
    purpose = make_purpose("churn-model", consent_validity_months=1)
    record("c-1", "given", occurred_at=at(2026, 1, 1))
    receipt = services.receipt_issue(viewer=alice, subject=Subject.objects.get(), purpose=purpose)
    assert (receipt["state"]["status"], receipt["state"]["effective_status"]) == (
        "given",
        "expired",
    )
    assert receipt["state"]["valid"] is False


def test_receipts_are_for_stewards_privacy_officers_and_auditors_only(bob, alice):
    purpose = make_purpose("churn-model")
    other = make_purpose("other-purpose")
    record("c-1", "given")
    subject = Subject.objects.get()
    with pytest.raises(NotPermitted):
        services.receipt_issue(viewer=bob, subject=subject, purpose=purpose)
    with pytest.raises(NotFound):
        services.receipt_issue(viewer=alice, subject=subject, purpose=other)
    assert not LedgerEntry.objects.filter(event="consent.receipt_issued").exists()
