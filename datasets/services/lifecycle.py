"""The dataset lifecycle: draft → in_review → approved → retired, with a privacy-by-design
review on every submission and a privacy officer's sign-off."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from datasets import policy
from datasets.models import Dataset, DatasetReview
from datasets.rules import transition_target
from datasets.services.common import lock_locations
from governance.accounts.models import User
from governance.audit import services as audit
from governance.errors import ApplicationError, Conflict
from governance.policy import require, signoff_problems, visible_text

MIN_ANSWER = 10
MSG_TRANSITION = "A dataset that is {status} cannot be {verb}."
MSG_ANSWER_REQUIRED = "Answer the question in at least {n} characters: {question}"
MSG_NO_FIELDS = policy.MSG_NO_FIELDS
MSG_UNCLASSIFIED = policy.MSG_UNCLASSIFIED
MSG_APPROVE_FORBIDDEN = policy.MSG_APPROVE_FORBIDDEN
MSG_OWN_SUBMISSION = policy.MSG_OWN_SIGN_OFF
MSG_NOTE_REQUIRED = "Give a reason."

QUESTIONS = {
    "personal_fields_need": "Why is each personal field needed?",
    "anonymization": "Can the data be anonymized or pseudonymized, and if not, why not?",
    "access_and_duration": "Who needs access, and for how long?",
}
_VERBS = {
    "submit": "submitted for review",
    "approve": "approved",
    "return": "returned",
    "reopen": "reopened",
    "retire": "retired",
}


def _lock(dataset: Dataset) -> Dataset:
    return Dataset.objects.select_for_update().get(pk=dataset.pk)


def _move(dataset: Dataset, action: str) -> tuple[str, str]:
    target = transition_target(action, dataset.status)
    if target is None:
        raise Conflict(
            MSG_TRANSITION.format(status=dataset.get_status_display().lower(), verb=_VERBS[action]),
            {"status": dataset.status, "action": action},
        )
    before = dataset.status
    dataset.status = target
    dataset.updated_at = timezone.now()
    return before, target


def _snapshot(dataset: Dataset) -> list[dict]:
    return [
        {
            "name": f.name,
            "category": f.category.key if f.category else None,
            "role": f.role,
            "special_category": f.special_category,
            "treatment": f.treatment,
        }
        for f in dataset.fields.select_related("category")
    ]


@audit.records_refusal("dataset.submission_refused", target="dataset", actor="actor")
@transaction.atomic
def dataset_submit(
    *,
    actor: User,
    dataset: Dataset,
    personal_fields_need: str,
    anonymization: str,
    access_and_duration: str,
) -> DatasetReview:
    dataset = _lock(dataset)
    require(policy.may_manage(actor, dataset))
    answers = {
        "personal_fields_need": personal_fields_need,
        "anonymization": anonymization,
        "access_and_duration": access_and_duration,
    }
    transition_ok = transition_target("submit", dataset.status)
    if transition_ok is None:
        _move(dataset, "submit")  # raises the transition error
    for key, value in answers.items():
        if len((value or "").strip()) < MIN_ANSWER:
            raise ApplicationError(
                MSG_ANSWER_REQUIRED.format(n=MIN_ANSWER, question=QUESTIONS[key]), {"field": key}
            )
    require(policy.ready_for_review(dataset.fields.all()))
    before, after = _move(dataset, "submit")
    dataset.save(update_fields=["status", "updated_at"])
    version = (
        dataset.reviews.order_by("-version").values_list("version", flat=True).first() or 0
    ) + 1
    review = DatasetReview.objects.create(
        dataset=dataset,
        version=version,
        submitted_by=actor,
        fields_snapshot=_snapshot(dataset),
        **{k: v.strip() for k, v in answers.items()},
    )
    audit.record(
        action="dataset.submitted",
        target=dataset,
        actor=actor,
        data={
            "from": before,
            "to": after,
            "review_version": version,
            "sensitivity": dataset.sensitivity,
        },
    )
    return review


@audit.records_refusal("dataset.approval_refused", target="dataset", actor="actor")
@transaction.atomic
def dataset_approve(
    *,
    actor: User,
    dataset: Dataset,
    note: str = "",
    checklist: Iterable[str] | None = None,
    version: int | None = None,
    fingerprint: str | None = None,
) -> Dataset:
    """Legal sign-off by a privacy officer, never by the person who submitted the review.
    Restricted data needs a note; through the portal every item of
    ``policy.signoff_checklist`` is confirmed too (``checklist``), and both go on record.
    ``version`` and ``fingerprint`` name what was reviewed (the portal always gives both, the
    API the version if its client names one): a sign-off of anything else is refused (409)."""
    dataset = _lock(dataset)
    require(policy.may_approve(actor, dataset))
    require(policy.stale_signoff_refusal(dataset, version=version, seen_fingerprint=fingerprint))
    note = (note or "").strip()
    problems = {}
    if checklist is not None:
        checklist = sorted(set(checklist))
        problems = signoff_problems(
            policy.signoff_checklist(dataset), note=note, confirmed=checklist
        )
    elif policy.approval_note_required(dataset) and not visible_text(note):
        problems = {"note": policy.MSG_RESTRICTED_NOTE}
    if problems:
        field, message = next(iter(problems.items()))
        raise ApplicationError(message, {"field": field, "fields": problems})
    review = dataset.reviews.order_by("-version").first()
    before, after = _move(dataset, "approve")
    now = timezone.now()
    dataset.approved_at = now
    dataset.approved_by = actor
    dataset.save(update_fields=["status", "updated_at", "approved_at", "approved_by"])
    if review is not None:
        review.decision = DatasetReview.Decision.APPROVED
        review.decided_by = actor
        review.decided_at = now
        review.decision_note = note
        review.save(update_fields=["decision", "decided_by", "decided_at", "decision_note"])
    audit.record(
        action="dataset.approved",
        target=dataset,
        actor=actor,
        data={
            "from": before,
            "to": after,
            "note": note,
            "checklist": checklist,
            "review_version": review.version if review else None,
            "sensitivity": dataset.sensitivity,
        },
    )
    return dataset


@audit.records_refusal("dataset.return_refused", target="dataset", actor="actor")
@transaction.atomic
def dataset_return(*, actor: User, dataset: Dataset, note: str) -> Dataset:
    """Send a dataset in review back to draft (a privacy officer asking for changes, or a
    steward withdrawing the submission)."""
    dataset = _lock(dataset)
    require(policy.may_return(actor, dataset))
    if not (note or "").strip():
        raise ApplicationError(MSG_NOTE_REQUIRED, {"field": "note"})
    before, after = _move(dataset, "return")
    dataset.save(update_fields=["status", "updated_at"])
    review = dataset.reviews.order_by("-version").first()
    if review is not None and review.decision == DatasetReview.Decision.PENDING:
        review.decision = DatasetReview.Decision.RETURNED
        review.decided_by = actor
        review.decided_at = timezone.now()
        review.decision_note = note.strip()
        review.save(update_fields=["decision", "decided_by", "decided_at", "decision_note"])
    audit.record(
        action="dataset.returned",
        target=dataset,
        actor=actor,
        data={"from": before, "to": after, "note": note.strip()},
    )
    return dataset


@audit.records_refusal("dataset.reopen_refused", target="dataset", actor="actor")
@transaction.atomic
def dataset_reopen(*, actor: User, dataset: Dataset, reason: str) -> Dataset:
    """Back to draft to change it; approving it again takes a new review. A retired dataset
    gave up its location: it claims it again, if no other dataset holds it meanwhile."""
    dataset = _lock(dataset)
    require(policy.may_manage(actor, dataset))
    if not (reason or "").strip():
        raise ApplicationError(MSG_NOTE_REQUIRED, {"field": "reason"})
    if dataset.status == Dataset.Status.RETIRED:
        lock_locations()
        require(policy.location_refusal(policy.location_of(dataset), dataset=dataset))
    before, after = _move(dataset, "reopen")
    dataset.approved_at = None
    dataset.approved_by = None
    dataset.save(update_fields=["status", "updated_at", "approved_at", "approved_by"])
    audit.record(
        action="dataset.reopened",
        target=dataset,
        actor=actor,
        data={"from": before, "to": after, "reason": reason.strip()},
    )
    return dataset


@audit.records_refusal("dataset.retire_refused", target="dataset", actor="actor")
@transaction.atomic
def dataset_retire(*, actor: User, dataset: Dataset, reason: str) -> Dataset:
    dataset = _lock(dataset)
    require(policy.may_manage(actor, dataset))
    if not (reason or "").strip():
        raise ApplicationError(MSG_NOTE_REQUIRED, {"field": "reason"})
    before, after = _move(dataset, "retire")
    dataset.save(update_fields=["status", "updated_at"])
    audit.record(
        action="dataset.retired",
        target=dataset,
        actor=actor,
        data={"from": before, "to": after, "reason": reason.strip()},
    )
    return dataset
