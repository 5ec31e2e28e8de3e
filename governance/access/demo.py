"""Demo access data for `manage.py seed_demo`: a purpose the approved demo dataset may serve,
bob's training job with an acknowledged grant, and a request waiting in alice's inbox.
Idempotent."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from consent import services as consent
from consent.models import Purpose
from datasets.models import Dataset
from governance.access import services
from governance.access.models import PurposeApproval
from governance.accounts.models import ServiceAccount, User
from governance.accounts.services import service_account_create

PURPOSE = "shop-analytics"


def seed(*, stdout) -> None:
    _seed_access(stdout=stdout)
    _seed_budget(stdout=stdout)


def _seed_budget(*, stdout) -> None:
    """A privacy budget on customer-events in 30-day data blocks since three months ago, with
    one committed and one locked claim of the churn job's (the budget page has something to
    chart). Written as rows with their ledger events: seed_demo runs in one transaction, and
    the budget services insist on durable transactions of their own."""
    from decimal import Decimal

    from governance.access.models import BudgetClaim, BudgetRequirement
    from governance.audit import services as audit

    dataset = Dataset.objects.filter(slug="customer-events", status="approved").first()
    account = ServiceAccount.objects.filter(name="churn-training").first()
    if dataset is None or account is None or BudgetRequirement.objects.exists():
        return
    now = timezone.now()
    requirement = BudgetRequirement.objects.create(
        dataset=dataset,
        epsilon=Decimal("3"),
        block_days=30,
        starts_at=now - timedelta(days=85),
        lock_seconds=3600,
        note="Aggregate features only; models trained on DP statistics.",
        created_by=User.objects.get(username="alice"),
    )
    audit.record(action="access.budget_requirement_set", target=requirement, actor=None)
    for epsilon, blocks, status in (("1.0", [0, 1, 2], "committed"), ("0.5", [2], "locked")):
        claim = BudgetClaim.objects.create(
            requirement=requirement,
            dataset=dataset,
            purpose_slug=PURPOSE,
            principal=account.user,
            epsilon=Decimal(epsilon),
            blocks=blocks,
            status=status,
            committed_at=now if status == "committed" else None,
            lock_expires_at=now + timedelta(hours=1),
            note="Weekly churn features (demo)",
        )
        audit.record(action=f"access.budget_claim_{status}", target=claim, actor=account.user)
    stdout.write("Demo privacy budget: customer-events, epsilon 3 per 30-day block, two claims")


@transaction.atomic
def _seed_access(*, stdout) -> None:
    dataset = Dataset.objects.filter(slug="customer-events", status="approved").first()
    if dataset is None or PurposeApproval.objects.filter(purpose_slug=PURPOSE).exists():
        stdout.write("Demo access: exists" if dataset else "Demo access: no demo catalog")
        return
    alice = User.objects.get(username="alice")
    petra = User.objects.get(username="petra")
    bob = User.objects.get(username="bob")
    admin = User.objects.get(username="admin")
    purpose = Purpose.objects.filter(slug=PURPOSE).first()
    if purpose is None:
        purpose = consent.purpose_create(
            slug=PURPOSE,
            name="Shop analytics and churn features",
            description="Build churn and basket features from web-shop events to keep "
            "customers informed about offers they are likely to want.",
            legal_basis="legitimate_interests",
            retention_days=365,
            controller="Example Retail GmbH",
            controller_contact="privacy@example.org",
            owner=alice,
            actor=alice,
            data_categories=[
                "user.unique_id",
                "user.contact",
                "user.device",
                "user.behavior",
                "system",
            ],
            data_subject_categories=["customer"],
            recipients=["Internal ML platform"],
            dpia_reference="DPIA-2026-04",
        )
        purpose = consent.purpose_submit(purpose=purpose, actor=alice)
        purpose = consent.purpose_activate(purpose=purpose, actor=petra)
    services.purpose_approval_create(
        actor=petra,
        dataset=dataset,
        purpose_slug=PURPOSE,
        note="Email dropped and IP masked per the catalog.",
    )
    services.training_record(
        actor=petra,
        user=bob,
        course="Privacy for ML engineers",
        completed_at=timezone.now() - timedelta(days=30),
    )
    account = ServiceAccount.objects.filter(name="churn-training").first()
    if account is None:
        account, secret = service_account_create(
            name="churn-training",
            owner=bob,
            actor=admin,
            description="Nightly churn model training",
        )
        stdout.write(
            f"Demo service account churn-training: client_id={account.client_id} "
            f"client_secret={secret}"
        )
    request = services.access_request_create(
        requester=bob,
        dataset=dataset,
        purpose_slug=PURPOSE,
        fields=["customer_id", "event_type", "event_time", "country", "amount_eur"],
        duration_days=30,
        justification="Nightly churn model training on last quarter's events.",
        principal="service_account:churn-training",
    )
    services.access_request_approve(actor=alice, request=request, note="Fields are minimal.")
    request.refresh_from_db()
    services.grant_acknowledge(actor=bob, grant=request.grant)
    services.access_request_create(
        requester=bob,
        dataset=dataset,
        purpose_slug=PURPOSE,
        fields=["customer_id", "email"],
        duration_days=14,
        justification="Join support tickets to events by email for labels.",
    )
    stdout.write(
        f"Demo access: {PURPOSE} approved for customer-events; grant for "
        "churn-training (acknowledged); one request waiting in alice's inbox"
    )
