"""Purposes, notices and consent events for tests, made through the services."""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib.auth.models import Permission

from consent import services
from consent.models import NoticeVersion, Purpose
from consent.services import EventInput
from tests.accounts.factories import UserFactory

# Purposes and their notices exist from here on unless a test says otherwise, so events at any
# later moment find the purpose in force and the notice in effect.
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)

PURPOSE_DEFAULTS = {
    "name": "Train the churn model",
    "description": "Predict which customers are about to leave.",
    "controller": "Example Retail GmbH",
    "controller_contact": "privacy@example.org",
    "data_categories": ["user.behavior.purchase_history"],
    "data_subject_categories": ["customer"],
    "recipients": ["Internal ML platform"],
    "retention_days": 365,
}


def make_purpose(
    slug: str = "churn-model",
    *,
    legal_basis: str = "consent",
    status: str = "active",
    owner=None,
    consent_validity_months: int | None = 24,
    notices: int = 1,
    activated_at: datetime = LONG_AGO,
    **overrides,
) -> Purpose:
    """A purpose in ``status`` with ``notices`` notice versions in effect since LONG_AGO."""
    owner = owner or UserFactory(username="owner", roles=["steward"])
    fields = PURPOSE_DEFAULTS | overrides
    if legal_basis == "consent":
        fields.setdefault("withdrawal_method", "Privacy settings, one click.")
    purpose = services.purpose_create(
        slug=slug,
        legal_basis=legal_basis,
        owner=owner,
        actor=None,
        consent_validity_months=consent_validity_months if legal_basis == "consent" else None,
        **fields,
    )
    for number in range(notices):
        make_notice(purpose, text=f"Notice {number + 1} for {slug}.")
    return advance(purpose, status, activated_at=activated_at)


def advance(purpose: Purpose, status: str, *, activated_at: datetime = LONG_AGO) -> Purpose:
    if status == "draft":
        return purpose
    purpose = services.purpose_submit(purpose=purpose, actor=None)
    if status == "submitted":
        return purpose
    purpose = services.purpose_activate(purpose=purpose, actor=None)
    Purpose.objects.filter(pk=purpose.pk).update(activated_at=activated_at)
    purpose.refresh_from_db()
    if status == "retired":
        purpose = services.purpose_retire(purpose=purpose, actor=None, reason="test")
    return purpose


def make_notice(
    purpose: Purpose, *, text: str = "Notice.", effective_from=LONG_AGO
) -> NoticeVersion:
    return services.notice_version_publish(
        purpose=purpose, actor=None, text=text, effective_from=effective_from
    )


def event(subject_id: str = "c-1", status: str = "given", **fields) -> EventInput:
    fields.setdefault("purpose", "churn-model")
    fields.setdefault("namespace", "shop")
    if status in ("given", "renewed"):
        fields.setdefault("notice_version", 1)
    return EventInput(subject_id=subject_id, status=status, **fields)


def record(subject_id: str = "c-1", status: str = "given", *, actor=None, **fields):
    """Record one event as the system; returns the ConsentEvent."""
    return services.consent_record(event=event(subject_id, status, **fields), actor=actor).event


def grant(user, *codenames: str):
    """Give a user (e.g. a service account's identity) consent permissions directly."""
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="consent", codename__in=codenames)
    )
    for attr in ("_perm_cache", "_user_perm_cache", "_group_perm_cache", "_governed_perms"):
        user.__dict__.pop(attr, None)
    return user


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)
