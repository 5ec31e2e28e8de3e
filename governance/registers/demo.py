"""Demo registers for `manage.py seed_demo`: a hosting processor with its contract, a
sub-processor in the US with standard contractual clauses, a DPIA of the customer events, and
security measures recorded for the fraud-detection purpose — the rest stays "Not recorded" so
the RoPA shows what a real one warns about. Idempotent."""

from __future__ import annotations

from datetime import date

from consent.policy import purpose_current
from datasets.models import Dataset
from governance.accounts.models import User
from governance.registers import services
from governance.registers.models import Recipient


def seed(*, stdout) -> None:
    petra = User.objects.filter(username="petra").first()
    if petra is None or Recipient.objects.exists():
        stdout.write("Demo registers: exists" if petra else "Demo registers: no demo people")
        return
    purposes = [
        slug for slug in ("churn-model-training", "fraud-detection") if purpose_current(slug)
    ]
    host = services.recipient_create(
        actor=petra,
        name="Example Cloud Hosting GmbH",
        role="processor",
        country="DE",
        purposes=purposes,
        contract_reference="DPA-2025-03",
        contract_signed_on=date(2025, 3, 1),
        contract_review_on=date(2027, 3, 1),
        security_measures="ISO 27001 certified data centres; encryption at rest (AES-256).",
    )
    support = services.recipient_create(
        actor=petra,
        name="Example Support Tools Inc.",
        role="sub_processor",
        parent=host,
        country="US",
        purposes=purposes[:1],
        contract_reference="DPA-2025-03 annex 2",
        contract_signed_on=date(2025, 3, 1),
    )
    services.transfer_create(
        actor=petra,
        recipient=support,
        country="US",
        safeguard="scc",
        safeguard_reference="SCC 2021/914 module 3",
        tia_completed_on=date(2025, 2, 20),
        purposes=purposes[:1],
        data_categories="Customer ids, support messages",
    )
    if Dataset.objects.filter(slug="customer-events").exists():
        services.dpia_create(
            actor=petra,
            reference="DPIA-2025-01",
            title="Customer events for churn and fraud models",
            purposes=purposes,
            datasets=["customer-events"],
            status="completed",
            residual_risk="medium",
            completed_on=date(2025, 1, 15),
            review_on=date(2027, 1, 15),
        )
    if "fraud-detection" in purposes:
        services.processing_record_set(
            actor=petra,
            purpose="fraud-detection",
            security_measures="Pseudonymised customer ids; access only through time-limited, "
            "purpose-bound grants; every decision in the signed audit ledger.",
        )
    stdout.write("Demo registers: created")
