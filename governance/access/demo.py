"""Demo access data for `manage.py seed_demo`: a purpose the approved demo dataset may serve,
bob's training job with an acknowledged grant, and a request waiting in alice's inbox; and
everything the Python client's example job (clients/python/examples/train_churn.py) needs:
`churn-model` approved for `churn-events`, a privacy budget on it, and an acknowledged grant
for the same service account. Idempotent."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from consent import services as consent
from consent.models import Purpose
from consent.services.grants import service_account_consent_grant
from datasets.models import Dataset
from governance.access import services
from governance.access.models import PurposeApproval
from governance.accounts.models import ServiceAccount, User
from governance.accounts.services import service_account_create

PURPOSE = "shop-analytics"
ACCOUNT = "churn-training"
EXAMPLE_DATASET = "churn-events"
EXAMPLE_PURPOSE = "churn-model"
EXAMPLE_FIELDS = [
    "customer_id",
    "email",
    "phone",
    "age",
    "country",
    "tenure_months",
    "monthly_spend",
    "support_calls",
    "support_notes",
    "event_time",
    "churned",
]


def seed(*, stdout) -> None:
    account, secret = _seed_account()
    _seed_access(stdout=stdout)
    _seed_budget(stdout=stdout)
    _seed_example(stdout=stdout)
    if account is not None:
        _print_credentials(account, secret, stdout=stdout)


@transaction.atomic
def _seed_account() -> tuple[ServiceAccount | None, str | None]:
    """bob's training job. Its secret exists in clear only now, the first time: later runs
    print how to get a new one."""
    account = ServiceAccount.objects.filter(name=ACCOUNT).first()
    if account is not None:
        return account, None
    bob = User.objects.filter(username="bob").first()
    admin = User.objects.filter(username="admin").first()
    if bob is None or admin is None:
        return None, None
    return service_account_create(
        name=ACCOUNT, owner=bob, actor=admin, description="Nightly churn model training"
    )


def _print_credentials(account: ServiceAccount, secret: str | None, *, stdout) -> None:
    stdout.write(
        "Example training job (clients/python/examples/train_churn.py), as service account "
        f"{ACCOUNT}:"
    )
    stdout.write(f"  export GOVERNANCE_URL={settings.SITE_URL.rstrip('/')}")
    stdout.write(f"  export GOVERNANCE_CLIENT_ID={account.client_id}")
    if secret:
        stdout.write(f"  export GOVERNANCE_CLIENT_SECRET={secret}")
        stdout.write("  (the secret is shown only this once: it is stored hashed)")
    else:
        stdout.write(
            "  export GOVERNANCE_CLIENT_SECRET=...   # shown only when seed_demo first created "
            f"the account; for a new one sign in as bob: Service accounts → {ACCOUNT} → "
            "Rotate secret"
        )


@transaction.atomic
def _seed_example(*, stdout) -> None:
    """What the example job needs, as tests/client/test_training_job_live.py sets it up."""
    from governance.access.models import BudgetRequirement
    from governance.audit import services as audit

    dataset = Dataset.objects.filter(slug=EXAMPLE_DATASET, status="approved").first()
    account = ServiceAccount.objects.filter(name=ACCOUNT).first()
    purpose = Purpose.objects.filter(slug=EXAMPLE_PURPOSE).first()
    if dataset is None or account is None or purpose is None:
        stdout.write("Demo access for the example job: no churn-events, churn-model or account")
        return
    if PurposeApproval.objects.filter(dataset=dataset, purpose_slug=EXAMPLE_PURPOSE).exists():
        stdout.write("Demo access for the example job: exists")
        return
    alice = User.objects.get(username="alice")
    petra = User.objects.get(username="petra")
    bob = User.objects.get(username="bob")
    services.purpose_approval_create(
        actor=petra,
        dataset=dataset,
        purpose_slug=EXAMPLE_PURPOSE,
        note="Consent-based; obligations per the catalog.",
    )
    # Its budget, as a row with its ledger event (see _seed_budget): ε 10 over all the data,
    # ten runs of the example at its default ε 1.
    requirement = BudgetRequirement.objects.create(
        dataset=dataset,
        epsilon=Decimal("10"),
        lock_seconds=settings.BUDGET_CLAIM_LOCK_SECONDS,
        note="The example job trains on differentially private statistics only.",
        created_by=alice,
    )
    audit.record(action="access.budget_requirement_set", target=requirement, actor=None)
    # The job reads the consent filter's snapshot export.
    service_account_consent_grant(service_account=account, capabilities=["query"], actor=None)
    request = services.access_request_create(
        requester=bob,
        dataset=dataset,
        purpose_slug=EXAMPLE_PURPOSE,
        fields=EXAMPLE_FIELDS,
        duration_days=30,
        justification="The example churn job (clients/python/examples/train_churn.py).",
        principal=f"service_account:{ACCOUNT}",
    )
    services.access_request_approve(actor=alice, request=request, note="As obligated.")
    request.refresh_from_db()
    services.grant_acknowledge(actor=bob, grant=request.grant)
    stdout.write(
        f"Demo access: {EXAMPLE_PURPOSE} approved for {EXAMPLE_DATASET}, privacy budget "
        f"epsilon 10, grant for {ACCOUNT} (acknowledged)"
    )


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
    if (
        dataset is None
        or account is None
        or BudgetRequirement.objects.filter(dataset=dataset).exists()
    ):
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
