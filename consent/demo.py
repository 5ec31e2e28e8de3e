"""Demo data for `manage.py seed_demo`: purposes under different legal bases and in every
status, notice versions, and a few thousand subjects with realistic consent histories (given,
renewed, withdrawn, re-consented, refused, expired).

Purposes go through the services (their activation is in the ledger, by the demo privacy
officer). The histories are bulk-inserted with their states computed here, as a migration
from a legacy consent tool would do it; one ledger event records the import. Idempotent: it
does nothing when the demo purposes exist.

The Python client's example job (clients/python/examples/train_churn.py) gets its own purpose,
`churn-model`, with consent from most customers in its data file and some withdrawals.
"""

from __future__ import annotations

import csv
import hashlib
import random
import sys
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from consent import services
from consent.identifiers import add_months, evidence_digest
from consent.models import ConsentEvent, ConsentState, NoticeVersion, Purpose, Subject
from consent.vocab import VALID_FOR_PROCESSING, ConsentStatus
from governance.accounts.models import User
from governance.audit import services as audit

NAMESPACE = "shop"
SUBJECTS = 3000
CONTROLLER = "Example Retail GmbH"
CONTACT = "privacy@example.org"
USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "ExampleRetail/7.4 (Android 15; Pixel 9)",
]


def _people() -> tuple[User | None, User | None]:
    people = User.objects.filter(kind=User.Kind.PERSON, is_active=True)
    officer = people.filter(groups__name="privacy_officer").order_by("pk").first()
    owner = people.filter(username="alice").first() or officer or people.order_by("pk").first()
    return owner, officer


def _purpose(owner: User, officer: User | None, *, activate_months_ago=None, notices=(), **fields):
    purpose = services.purpose_create(owner=owner, actor=None, **fields)
    return _advance(purpose, officer, activate_months_ago=activate_months_ago, notices=notices)


def _advance(purpose, officer, *, activate_months_ago=None, notices=(), status="active"):
    now = timezone.now()
    for months_ago, text in notices:
        services.notice_version_publish(
            purpose=purpose,
            actor=None,
            text=text,
            effective_from=add_months(now, -months_ago),
        )
    if status == "draft":
        return purpose
    purpose = services.purpose_submit(purpose=purpose, actor=None)
    if status == "submitted":
        return purpose
    purpose = services.purpose_activate(purpose=purpose, actor=officer)
    if activate_months_ago is not None:
        # Back-date the sign-off so questions about the past find the version in force then.
        Purpose.objects.filter(pk=purpose.pk).update(
            activated_at=add_months(now, -activate_months_ago) - timedelta(days=1)
        )
        purpose.refresh_from_db()
    return purpose


def _notice_text(name: str, version: int) -> str:
    return (
        f"{CONTROLLER} would like to use your order history to {name}. Version {version}. "
        "You can withdraw at any time in your account's privacy settings; withdrawing does not "
        "affect processing before it."
    )


class _History:
    """Collects events per (subject, purpose) and derives their states."""

    def __init__(self, now, rng):
        self.now = now
        self.rng = rng
        self.events: list[ConsentEvent] = []

    def add(self, subject, purpose, status, occurred_at, notice=None, method="web_form"):
        if occurred_at > self.now:
            return
        valid_until = None
        if status in VALID_FOR_PROCESSING:
            valid_until = add_months(occurred_at, purpose.consent_validity_months)
        key = f"demo-{purpose.slug}-v{purpose.version}-{subject.external_id}-{len(self.events)}"
        agent = self.rng.choice(USER_AGENTS)
        self.events.append(
            ConsentEvent(
                subject=subject,
                purpose=purpose,
                notice=notice,
                status=status,
                occurred_at=occurred_at,
                # Sources usually report within minutes; a few batches arrive days late.
                recorded_at=min(
                    self.now,
                    occurred_at
                    + timedelta(minutes=self.rng.randint(0, 30))
                    + (timedelta(days=3) if self.rng.random() < 0.03 else timedelta()),
                ),
                valid_until=valid_until,
                collection_method=method,
                evidence={
                    "form_id": "privacy-settings" if method == "web_form" else "app-consent",
                    "user_agent_hmac": evidence_digest("user_agent", agent),
                },
                idempotency_key=key,
                fingerprint=hashlib.sha256(key.encode()).hexdigest(),
            )
        )

    def states(self) -> list[ConsentState]:
        latest: dict[tuple[int, int], ConsentEvent] = {}
        for event in self.events:  # in insertion (id) order: a tie goes to the later one
            key = (event.subject_id, event.purpose_id)
            if key not in latest or event.occurred_at >= latest[key].occurred_at:
                latest[key] = event
        return [
            ConsentState(
                subject_id=e.subject_id,
                purpose_id=e.purpose_id,
                event=e,
                status=e.status,
                occurred_at=e.occurred_at,
                valid_until=e.valid_until,
                updated_at=self.now,
            )
            for e in latest.values()
        ]


def _between(rng, start, end):
    return start + (end - start) * rng.random()


EXAMPLE_PURPOSE = "churn-model"


@transaction.atomic
def seed(stdout=None) -> None:
    stdout = stdout or sys.stdout
    _seed_histories(stdout)
    _seed_example(stdout)


def _seed_example(stdout) -> None:
    """`churn-model`: consent given by every customer in the example's data file but the last
    ten (never asked), then withdrawn by every tenth of them: 531 of 600 may be used."""
    from datasets.demo import CHURN_DATA

    if Purpose.objects.filter(slug=EXAMPLE_PURPOSE).exists():
        stdout.write(f"Consent demo data: {EXAMPLE_PURPOSE} exists")
        return
    owner, officer = _people()
    if owner is None:
        return
    now = timezone.now()
    rng = random.Random(16)  # noqa: S311 (the same demo every time, not a secret)
    purpose = _purpose(
        owner,
        officer,
        slug=EXAMPLE_PURPOSE,
        name="Churn model (example training job)",
        description="The Python client's example job: a differentially private churn model "
        "trained on the churn-events dataset.",
        legal_basis="consent",
        consent_validity_months=24,
        withdrawal_method="Account → Privacy settings → 'Use my data for model training', or "
        f"write to {CONTACT}. One click, no reason needed.",
        data_categories=[
            "user.unique_id",
            "user.contact",
            "user.demographic",
            "user.behavior",
            "user.content",
        ],
        data_subject_categories=["customer"],
        recipients=["Internal ML platform"],
        retention_days=730,
        activate_months_ago=3,
        notices=[(3, _notice_text("train a churn model", 1))],
        controller=CONTROLLER,
        controller_contact=CONTACT,
    )
    with CHURN_DATA.open(newline="") as data:
        ids = [row["customer_id"] for row in csv.DictReader(data)]
    existing = set(
        Subject.objects.filter(namespace=NAMESPACE, external_id__in=ids).values_list(
            "external_id", flat=True
        )
    )
    Subject.objects.bulk_create(
        [
            Subject(namespace=NAMESPACE, external_id=i, created_at=now)
            for i in ids
            if i not in existing
        ]
    )
    subjects = {
        s.external_id: s for s in Subject.objects.filter(namespace=NAMESPACE, external_id__in=ids)
    }
    notice = NoticeVersion.objects.get(purpose=purpose, version=1)
    history = _History(now, rng)
    asked = ids[:-10]
    withdrawn = set(asked[::10])
    for external_id in asked:
        given = _between(rng, add_months(now, -3), now - timedelta(days=2))
        history.add(subjects[external_id], purpose, ConsentStatus.GIVEN, given, notice)
        if external_id in withdrawn:
            history.add(
                subjects[external_id],
                purpose,
                ConsentStatus.WITHDRAWN,
                _between(rng, given, now - timedelta(days=1)),
            )
    ConsentEvent.objects.bulk_create(history.events, batch_size=1000)
    ConsentState.objects.bulk_create(history.states(), batch_size=1000)
    audit.record(
        action="consent.demo_seeded",
        actor=None,
        object_repr=f"consent demo data ({EXAMPLE_PURPOSE})",
        data={"subjects": len(asked), "events": len(history.events)},
    )
    stdout.write(
        f"Consent demo data: {EXAMPLE_PURPOSE}, {len(asked) - len(withdrawn)} of {len(ids)} "
        "customers of the example's data consenting"
    )


def _seed_histories(stdout) -> None:
    if Purpose.objects.filter(slug="churn-model-training").exists():
        stdout.write("Consent demo data: exists")
        return
    owner, officer = _people()
    if owner is None:
        stdout.write("Consent demo data: skipped (no person to own the purposes yet)")
        return
    now = timezone.now()
    rng = random.Random(4)  # noqa: S311 (the same demo every time, not a secret)

    common = {"controller": CONTROLLER, "controller_contact": CONTACT}
    withdraw = (
        "Account → Privacy settings → 'Use my data for model training', or write to "
        f"{CONTACT}. One click, no reason needed."
    )
    churn = _purpose(
        owner,
        officer,
        slug="churn-model-training",
        name="Train the churn prediction model",
        description="Predict which customers are about to leave, to offer them better terms.",
        legal_basis="consent",
        consent_validity_months=24,
        withdrawal_method=withdraw,
        data_categories=["user.behavior.purchase_history", "user.demographic.age_range"],
        data_subject_categories=["customer"],
        recipients=["Internal ML platform"],
        retention_days=730,
        activate_months_ago=30,
        notices=[
            (30, _notice_text("train a churn model", 1)),
            (10, _notice_text("train a churn model", 2)),
        ],
        **common,
    )
    health = _purpose(
        owner,
        officer,
        slug="health-insights-research",
        name="Health insights research",
        description="Study how product use relates to self-reported wellbeing, in aggregate.",
        legal_basis="consent",
        consent_validity_months=12,
        withdrawal_method=withdraw,
        special_categories=True,
        special_category_condition="explicit_consent",
        dpia_reference="DPIA-2025-07",
        data_categories=["user.health_and_medical", "user.demographic.age_range"],
        data_subject_categories=["customer", "study_participant"],
        recipients=["Internal ML platform", "University research partner (processor)"],
        retention_days=365,
        activate_months_ago=18,
        notices=[(18, _notice_text("study wellbeing (explicit consent, Art. 9)", 1))],
        **common,
    )
    _purpose(
        owner,
        officer,
        slug="fraud-detection",
        name="Fraud detection model",
        description="Detect fraudulent orders before they ship.",
        legal_basis="legitimate_interests",
        data_categories=["user.behavior.purchase_history", "user.device.device_id"],
        data_subject_categories=["customer"],
        recipients=["Internal ML platform", "Payment provider"],
        retention_days=1095,
        activate_months_ago=24,
        **common,
    )
    newsletter_v1 = _purpose(
        owner,
        officer,
        slug="newsletter-propensity",
        name="Newsletter propensity model",
        description="Choose which newsletter topics each subscriber sees.",
        legal_basis="consent",
        consent_validity_months=12,
        withdrawal_method="Unsubscribe link in every newsletter.",
        data_categories=["user.behavior.browsing_history"],
        data_subject_categories=["newsletter_subscriber"],
        retention_days=365,
        activate_months_ago=14,
        notices=[(14, _notice_text("choose newsletter topics", 1))],
        **common,
    )
    draft = services.purpose_new_version(purpose=newsletter_v1, actor=None)
    services.purpose_update(
        purpose=draft,
        actor=None,
        data_categories=["user.behavior.browsing_history", "user.behavior.purchase_history"],
        description="Choose newsletter topics from browsing and purchase history.",
    )
    newsletter = _advance(
        draft,
        officer,
        notices=[(6, _notice_text("choose newsletter topics from your purchases", 1))],
        activate_months_ago=6,
    )
    Purpose.objects.filter(pk=newsletter_v1.pk).update(retired_at=newsletter.activated_at)
    _advance(
        services.purpose_create(
            owner=owner,
            actor=None,
            slug="recommendations-personalisation",
            name="Personalised recommendations",
            description="Recommend products from what similar customers bought.",
            legal_basis="consent",
            consent_validity_months=24,
            withdrawal_method=withdraw,
            data_categories=["user.behavior.purchase_history"],
            data_subject_categories=["customer"],
            recipients=["Internal ML platform"],
            retention_days=730,
            **common,
        ),
        officer,
        notices=[(0, _notice_text("recommend products", 1))],
        status="submitted",
    )
    services.purpose_create(
        owner=owner,
        actor=None,
        slug="order-volume-forecasting",
        name="Order volume forecasting",
        description="Forecast order volumes per region to plan warehouse staff.",
        legal_basis="contract",
        data_categories=["user.behavior.purchase_history", "user.location.imprecise"],
        data_subject_categories=["customer"],
        retention_days=365,
        **common,
    )

    subjects = [
        Subject(namespace=NAMESPACE, external_id=f"c-{i:06d}", created_at=now)
        for i in range(1, SUBJECTS + 1)
    ]
    Subject.objects.bulk_create(subjects, batch_size=1000)
    subjects = list(Subject.objects.filter(namespace=NAMESPACE).order_by("external_id"))
    notices = {
        (n.purpose_id, n.version): n
        for n in NoticeVersion.objects.filter(
            purpose__in=[churn, health, newsletter, newsletter_v1]
        )
    }
    history = _History(now, rng)
    start_churn = add_months(now, -30)
    for subject in subjects:
        roll = rng.random()
        if roll < 0.70:
            given = _between(rng, start_churn, now - timedelta(days=1))
            notice = notices[(churn.pk, 2 if given >= add_months(now, -10) else 1)]
            history.add(subject, churn, ConsentStatus.GIVEN, given, notice)
            later = rng.random()
            if later < 0.15:
                withdrawn = _between(rng, given, now)
                history.add(subject, churn, ConsentStatus.WITHDRAWN, withdrawn)
                if rng.random() < 0.3:
                    again = _between(rng, withdrawn, now)
                    version = 2 if again >= add_months(now, -10) else 1
                    history.add(
                        subject, churn, ConsentStatus.GIVEN, again, notices[(churn.pk, version)]
                    )
            elif later < 0.35:
                renewal = add_months(given, 22)
                history.add(
                    subject,
                    churn,
                    ConsentStatus.RENEWED,
                    renewal,
                    notices[(churn.pk, 2)],
                    "mobile_app",
                )
        elif roll < 0.85:
            history.add(subject, churn, ConsentStatus.REFUSED, _between(rng, start_churn, now))
        if rng.random() < 0.25:
            given = _between(rng, add_months(now, -18), now - timedelta(days=1))
            history.add(
                subject, health, ConsentStatus.GIVEN, given, notices[(health.pk, 1)], "mobile_app"
            )
            if rng.random() < 0.1:
                history.add(subject, health, ConsentStatus.WITHDRAWN, _between(rng, given, now))
        if rng.random() < 0.2:
            given = _between(rng, add_months(now, -14), add_months(now, -7))
            history.add(
                subject, newsletter_v1, ConsentStatus.GIVEN, given, notices[(newsletter_v1.pk, 1)]
            )
        if rng.random() < 0.3:
            given = _between(rng, add_months(now, -6), now - timedelta(days=1))
            history.add(
                subject, newsletter, ConsentStatus.GIVEN, given, notices[(newsletter.pk, 1)]
            )

    ConsentEvent.objects.bulk_create(history.events, batch_size=1000)
    ConsentState.objects.bulk_create(history.states(), batch_size=1000)
    audit.record(
        action="consent.demo_seeded",
        actor=None,
        object_repr="consent demo data",
        data={"subjects": len(subjects), "events": len(history.events)},
    )
    stdout.write(
        f"Consent demo data: 6 purposes, {len(subjects)} subjects, {len(history.events)} events"
    )
