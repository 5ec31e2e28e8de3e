from __future__ import annotations

import pytest

from datasets import services as catalog
from governance.access import services
from tests.accounts.factories import UserFactory, make_service_account
from tests.consent.factories import make_purpose
from tests.datasets.factories import ANSWERS, make_dataset

TICKET_FIELDS = {
    "ticket_id": (None, "non_personal", "", "keep"),
    "email": ("user.contact.email", "direct_identifier", "", "pseudonymize"),
    "message": ("user.content.private", "sensitive", "", "mask"),
}
SURVEY_FIELDS = {
    "respondent_id": ("user.unique_id.pseudonymous", "quasi_identifier", "", "keep"),
    "diagnosis": ("user.health_and_medical.diagnosis", "sensitive", "health", "drop"),
}


@pytest.fixture(autouse=True)
def _lease_keys(settings, tmp_path):
    settings.ACCESS_LEASE_KEY_FILE = tmp_path / "keys" / "lease.jwks.json"


@pytest.fixture
def carol(db):
    """A second steward, of other datasets."""
    return UserFactory(username="carol", roles=["steward"])


@pytest.fixture
def tickets(alice, petra):
    """An approved dataset, stewarded by alice."""
    dataset = make_dataset(alice, slug="support-tickets", fields=TICKET_FIELDS)
    catalog.dataset_submit(actor=alice, dataset=dataset, **ANSWERS)
    catalog.dataset_approve(actor=petra, dataset=dataset, note="Checked as described.")
    dataset.refresh_from_db()
    return dataset


@pytest.fixture
def router_purpose(db, alice):
    """An active purpose with legitimate interests as its basis."""
    return make_purpose(
        "ticket-routing",
        legal_basis="legitimate_interests",
        owner=alice,
        data_categories=["user.contact", "user.content"],
    )


@pytest.fixture
def consent_purpose(db, alice):
    return make_purpose(
        "churn-model",
        legal_basis="consent",
        owner=alice,
        data_categories=["user.contact", "user.content"],
    )


@pytest.fixture
def approved_for_routing(tickets, router_purpose, petra):
    return services.purpose_approval_create(
        actor=petra, dataset=tickets, purpose_slug="ticket-routing"
    )


def request_and_approve(
    requester,
    approver,
    dataset,
    purpose="ticket-routing",
    fields=("email",),
    principal="self",
    days=30,
):
    request = services.access_request_create(
        requester=requester,
        dataset=dataset,
        purpose_slug=purpose,
        fields=list(fields),
        duration_days=days,
        justification="Train the ticket router on last year's tickets.",
        principal=principal,
    )
    services.access_request_approve(actor=approver, request=request)
    request.refresh_from_db()
    return request


def router_job(bob, alice, tickets, fields=("ticket_id", "email")):
    """A service account of bob's (``router-training``) with an acknowledged grant on
    support-tickets for ticket-routing: (account, grant)."""
    account, _ = make_service_account(bob, name="router-training")
    request = request_and_approve(
        bob, alice, tickets, fields=fields, principal="service_account:router-training"
    )
    services.grant_acknowledge(actor=bob, grant=request.grant)
    return account, request.grant
