"""Which purposes a dataset may serve (privacy officer), and privacy-training attestations."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from consent.models import Purpose
from consent.policy import purpose_current
from datasets.models import Dataset
from governance.access import policy
from governance.access.decision import category_permitted
from governance.access.models import PurposeApproval, TrainingAttestation
from governance.access.services.common import dataset_categories, dataset_has_special
from governance.accounts.models import User
from governance.audit import services as audit
from governance.errors import ApplicationError, Conflict
from governance.policy import require

MSG_APPROVAL_FORBIDDEN = policy.MSG_PURPOSE_APPROVAL_FORBIDDEN
MSG_DATASET_NOT_APPROVED = "Only an approved dataset can be approved for a purpose."
MSG_PURPOSE_UNKNOWN = "No purpose with this slug."
MSG_PURPOSE_INACTIVE = "Only an active purpose can be served."
MSG_CATEGORIES = "The purpose does not permit these data categories of the dataset: {categories}."
MSG_SPECIAL = (
    "The dataset holds special-category data and the purpose names no Art. 9(2) condition."
)
MSG_APPROVAL_EXISTS = "This dataset is already approved for this purpose."
MSG_ALREADY_REVOKED = "This approval is already revoked."
MSG_REASON = "Give a reason."
MSG_TRAINING_FORBIDDEN = policy.MSG_TRAINING_FORBIDDEN
MSG_TRAINING_PERSON = "Training is recorded for people, not service accounts."
MSG_TRAINING_DATES = "The expiry must be after the completion date."


def purpose_approval_problems(dataset: Dataset, purpose: Purpose) -> list[str]:
    problems = []
    outside = sorted(
        c
        for c in dataset_categories(dataset)
        if not category_permitted(c, purpose.data_categories or [])
    )
    if outside:
        problems.append(MSG_CATEGORIES.format(categories=", ".join(outside)))
    if dataset_has_special(dataset) and not purpose.special_category_condition:
        problems.append(MSG_SPECIAL)
    return problems


@audit.records_refusal("access.purpose_approval_refused", target="dataset")
@transaction.atomic
def purpose_approval_create(
    *, actor: User, dataset: Dataset, purpose_slug: str, note: str = ""
) -> PurposeApproval:
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    require(policy.may_approve_purpose_use(actor))
    if dataset.status != Dataset.Status.APPROVED:
        raise ApplicationError(MSG_DATASET_NOT_APPROVED, {"field": "dataset"})
    purpose = purpose_current(purpose_slug)
    if purpose is None:
        raise ApplicationError(MSG_PURPOSE_UNKNOWN, {"field": "purpose"})
    if purpose.status != Purpose.Status.ACTIVE:
        raise ApplicationError(MSG_PURPOSE_INACTIVE, {"field": "purpose"})
    problems = purpose_approval_problems(dataset, purpose)
    if problems:
        raise ApplicationError(" ".join(problems), {"field": "purpose", "problems": problems})
    if PurposeApproval.objects.filter(
        dataset=dataset, purpose_slug=purpose_slug, revoked_at=None
    ).exists():
        raise Conflict(MSG_APPROVAL_EXISTS)
    approval = PurposeApproval.objects.create(
        dataset=dataset, purpose=purpose, purpose_slug=purpose_slug, note=note, approved_by=actor
    )
    audit.record(
        action="access.purpose_approved",
        target=approval,
        actor=actor,
        data={"dataset": dataset.slug, "purpose": purpose_slug, "purpose_version": purpose.version},
    )
    return approval


@audit.records_refusal("access.purpose_approval_revocation_refused", target="approval")
@transaction.atomic
def purpose_approval_revoke(
    *, actor: User, approval: PurposeApproval, reason: str
) -> PurposeApproval:
    approval = PurposeApproval.objects.select_for_update().get(pk=approval.pk)
    require(policy.may_approve_purpose_use(actor))
    if approval.revoked_at is not None:
        raise Conflict(MSG_ALREADY_REVOKED)
    if not (reason or "").strip():
        raise ApplicationError(MSG_REASON, {"field": "reason"})
    approval.revoked_at = timezone.now()
    approval.revoked_by = actor
    approval.revoked_reason = reason.strip()
    approval.save(update_fields=["revoked_at", "revoked_by", "revoked_reason"])
    audit.record(
        action="access.purpose_approval_revoked",
        target=approval,
        actor=actor,
        data={"reason": reason.strip()},
    )
    return approval


@audit.records_refusal("access.training_refused", target="user")
@transaction.atomic
def training_record(
    *,
    actor: User,
    user: User,
    course: str,
    completed_at: datetime,
    expires_at: datetime | None = None,
    evidence: str = "",
) -> TrainingAttestation:
    require(policy.may_record_training(actor, user))
    if user.is_service_account:
        raise ApplicationError(MSG_TRAINING_PERSON, {"field": "user"})
    if not (course or "").strip():
        raise ApplicationError("Name the course.", {"field": "course"})
    expires_at = expires_at or completed_at + timedelta(days=settings.TRAINING_VALIDITY_DAYS)
    if expires_at <= completed_at:
        raise ApplicationError(MSG_TRAINING_DATES, {"field": "expires_at"})
    attestation = TrainingAttestation.objects.create(
        user=user,
        course=course.strip(),
        completed_at=completed_at,
        expires_at=expires_at,
        evidence=evidence,
        recorded_by=actor,
    )
    audit.record(
        action="access.training_recorded",
        target=attestation,
        actor=actor,
        data={"user": user.username, "expires_at": expires_at},
    )
    return attestation


def training_current_until(user: User, at: datetime) -> datetime | None:
    """When the user's current training expires, or None if none is current at ``at``."""
    return (
        TrainingAttestation.objects.filter(user=user, completed_at__lte=at, expires_at__gt=at)
        .order_by("-expires_at")
        .values_list("expires_at", flat=True)
        .first()
    )
