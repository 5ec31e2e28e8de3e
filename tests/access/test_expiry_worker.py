"""A real Celery worker on Redis runs the expiry job."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from datasets import services as catalog
from governance.access import services
from governance.access.models import Grant
from governance.access.tasks import grants_expire_task
from governance.audit.models import LedgerEntry
from tests.accounts.factories import UserFactory
from tests.consent.factories import make_purpose
from tests.datasets.factories import ANSWERS, BASIC_FIELDS, make_dataset

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_worker_expires_grants_and_records_each_expiry(celery_worker_thread):
    alice = UserFactory(username="alice", roles=["steward"])
    petra = UserFactory(username="petra", roles=["privacy_officer"])
    ada = UserFactory(username="ada", roles=["admin"])
    bob = UserFactory(username="bob", roles=["engineer"])
    dataset = make_dataset(alice, fields=BASIC_FIELDS)
    catalog.dataset_submit(actor=alice, dataset=dataset, **ANSWERS)
    catalog.dataset_approve(actor=petra, dataset=dataset, note="Checked as described.")
    make_purpose(
        "ticket-routing",
        legal_basis="legitimate_interests",
        owner=alice,
        data_categories=["user.contact"],
    )
    services.purpose_approval_create(actor=petra, dataset=dataset, purpose_slug="ticket-routing")
    start = timezone.now() - timedelta(days=3)
    grant = services.grant_create_direct(
        actor=ada,
        dataset=dataset,
        purpose_slug="ticket-routing",
        fields=["email"],
        principal_user=bob,
        reason="pilot",
        starts_at=start,
        expires_at=start + timedelta(days=1),
    )
    # when the beat job's task runs on the worker
    grants_expire_task.delay()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and Grant.objects.get(pk=grant.pk).status == "active":
        time.sleep(0.1)
    # then
    assert Grant.objects.get(pk=grant.pk).status == "expired"
    assert (
        LedgerEntry.objects.filter(event="access.grant_expired", object_pk=str(grant.pk)).count()
        == 1
    )
