"""Writes of subject access (GDPR Art. 15), one service per verb: record a verified request,
produce its package, download it, extend the deadline, refuse or close the request. Each
writes its ledger event in its transaction; a refusal is recorded as
``subject_access.refused``. Subjects never go into the ledger in clear: events carry
``subject_sha256`` like the retention app's (SHA-256 of ``namespace:id``)."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from consent.identifiers import namespace_problem, subject_id_problem
from governance.accounts.models import User
from governance.audit import services as audit
from governance.errors import ApplicationError, Conflict, NotFound
from governance.policy import require
from governance.retention.services import add_months, subject_sha256
from governance.subject_access import package, policy
from governance.subject_access.models import SubjectAccessRequest

MSG_NOT_FOUND = "No such subject access request."
MSG_RECEIVED = "Give the date the request was received."
MSG_RECEIVED_FUTURE = "The received date lies in the future."
MSG_VERIFICATION = (
    "Say how the subject's identity was verified (Art. 12(6)): a package goes only to the "
    "person it is about."
)
MSG_ALREADY_EXTENDED = (
    "The deadline was already extended; Art. 12(3) allows one extension of two months."
)
MSG_EXTENSION_REASON = "Give the reason for the extension; the subject must be told it."
MSG_EXTENSION_LATE = (
    "The one-month deadline ({due}) has passed: Art. 12(3) allows an extension only if the "
    "subject is told within the first month."
)
MSG_REJECTION_REASON = (
    "Give the reason the request is refused (Art. 12(5): manifestly unfounded or excessive, "
    "or the identity could not be established)."
)
MSG_COMPLETE_NEEDS_PACKAGE = "Produce the package before closing the request as answered."
REFUSED = "subject_access.refused"


def package_dir() -> Path:
    return Path(getattr(settings, "SUBJECT_ACCESS_DIR", settings.VAR_DIR / "subject-access"))


def _summary(request: SubjectAccessRequest) -> dict:
    return {"request": request.pk, "reference": request.reference, "due_on": request.due_on}


def _locked(request_id: int) -> SubjectAccessRequest:
    request = SubjectAccessRequest.objects.select_for_update().filter(pk=request_id).first()
    if request is None:
        raise NotFound(MSG_NOT_FOUND)
    return request


@audit.records_refusal(REFUSED, actor="actor")
@transaction.atomic
def subject_access_request_create(
    *,
    actor: User,
    external_id: str,
    received_on: date | None,
    identity_verification: str,
    namespace: str = "default",
    reference: str = "",
    note: str = "",
) -> SubjectAccessRequest:
    """Record a verified Art. 15 request; due one month after receipt."""
    require(policy.may_handle(actor))
    namespace = namespace or "default"
    external_id = (external_id or "").strip()
    if problem := namespace_problem(namespace):
        raise ApplicationError(problem, {"field": "namespace"})
    if problem := subject_id_problem(external_id):
        raise ApplicationError(problem, {"field": "subject_id"})
    if received_on is None:
        raise ApplicationError(MSG_RECEIVED, {"field": "received_on"})
    if received_on > timezone.now().date():
        raise ApplicationError(MSG_RECEIVED_FUTURE, {"field": "received_on"})
    identity_verification = (identity_verification or "").strip()
    if not identity_verification:
        raise ApplicationError(MSG_VERIFICATION, {"field": "identity_verification"})
    request = SubjectAccessRequest.objects.create(
        namespace=namespace,
        external_id=external_id,
        received_on=received_on,
        due_on=add_months(received_on, 1),
        identity_verification=identity_verification,
        reference=(reference or "").strip()[:200],
        note=note or "",
        created_by=actor,
    )
    audit.record(
        action="subject_access.requested",
        target=request,
        actor=actor,
        data={
            **_summary(request),
            "subject_sha256": subject_sha256(namespace, external_id),
            "received_on": received_on,
            "identity_verified": True,
        },
    )
    return request


def subject_access_produce(*, actor: User, request: SubjectAccessRequest) -> SubjectAccessRequest:
    """Read every store and write the package; recorded with its SHA-256, what was searched
    and whether it came within the deadline. Producing again replaces the package (the ledger
    keeps both). The stores are read before the transaction that records the package, so no
    database lock is held while they are read."""
    try:
        with transaction.atomic():
            require(policy.may_change(actor, _locked(request.pk)))
    except ApplicationError as error:
        audit.record_refusal(REFUSED, error, target=request, actor=actor)
        raise
    content, summary = package.build(request)
    digest = hashlib.sha256(content).hexdigest()
    now = timezone.now()
    folder = package_dir()
    folder.mkdir(parents=True, exist_ok=True)
    name = f"subject-access-{request.pk}-{now:%Y%m%dT%H%M%SZ}.zip"
    path = folder / name
    path.write_bytes(content)
    try:
        with transaction.atomic():
            locked = _locked(request.pk)
            require(policy.may_change(actor, locked))
            previous = locked.package_path
            locked.package_name, locked.package_path = name, str(path)
            locked.package_sha256, locked.package_size = digest, len(content)
            locked.package_summary, locked.produced_at, locked.produced_by = summary, now, actor
            locked.save(
                update_fields=[
                    "package_name",
                    "package_path",
                    "package_sha256",
                    "package_size",
                    "package_summary",
                    "produced_at",
                    "produced_by",
                ]
            )
            audit.record(
                action="subject_access.package_produced",
                target=locked,
                actor=actor,
                data={
                    **_summary(locked),
                    "sha256": digest,
                    "size": len(content),
                    "produced_on": now.date(),
                    "on_time": now.date() <= locked.due_on,
                    **summary,
                },
            )
    except ApplicationError as error:
        path.unlink(missing_ok=True)
        audit.record_refusal(REFUSED, error, target=request, actor=actor)
        raise
    if previous and previous != str(path):
        _delete_on_commit(previous)
    return locked


def _delete_on_commit(path: str) -> None:
    # A file is removed only once the change that forgets it is committed: a rolled-back
    # change keeps both the record and its file.
    transaction.on_commit(lambda: Path(path).unlink(missing_ok=True))


@audit.records_refusal(REFUSED, target="request", actor="actor")
@transaction.atomic
def subject_access_package(*, actor: User, request: SubjectAccessRequest) -> Path:
    """The package to send to the subject; every download is a ledger event."""
    request = _locked(request.pk)
    require(policy.may_download(actor, request))
    path = Path(request.package_path)
    if not path.is_file():
        raise Conflict(policy.MSG_NO_PACKAGE)
    audit.record(
        action="subject_access.package_downloaded",
        target=request,
        actor=actor,
        data={**_summary(request), "sha256": request.package_sha256},
    )
    return path


@audit.records_refusal(REFUSED, target="request", actor="actor")
@transaction.atomic
def subject_access_extend(
    *, actor: User, request: SubjectAccessRequest, reason: str
) -> SubjectAccessRequest:
    """Two further months from receipt (Art. 12(3)), once, within the first month."""
    request = _locked(request.pk)
    require(policy.may_change(actor, request))
    if request.extended:
        raise Conflict(MSG_ALREADY_EXTENDED)
    if timezone.now().date() > request.due_on:
        raise Conflict(MSG_EXTENSION_LATE.format(due=request.due_on.isoformat()))
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(MSG_EXTENSION_REASON, {"field": "reason"})
    request.extended, request.extension_reason = True, reason
    request.due_on = add_months(request.received_on, 3)
    request.save(update_fields=["extended", "extension_reason", "due_on"])
    audit.record(
        action="subject_access.extended",
        target=request,
        actor=actor,
        data={**_summary(request), "reason": reason},
    )
    return request


def _close(request: SubjectAccessRequest, actor: User, status: str, fields: list[str]) -> None:
    if request.package_path:
        _delete_on_commit(request.package_path)
    request.package_path = ""
    request.status = status
    request.closed_by, request.closed_at = actor, timezone.now()
    request.save(update_fields=[*fields, "package_path", "status", "closed_by", "closed_at"])


@audit.records_refusal(REFUSED, target="request", actor="actor")
@transaction.atomic
def subject_access_reject(
    *, actor: User, request: SubjectAccessRequest, reason: str
) -> SubjectAccessRequest:
    request = _locked(request.pk)
    require(policy.may_change(actor, request))
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(MSG_REJECTION_REASON, {"field": "reason"})
    request.rejection_reason = reason
    _close(request, actor, SubjectAccessRequest.Status.REJECTED, ["rejection_reason"])
    audit.record(
        action="subject_access.rejected",
        target=request,
        actor=actor,
        data={**_summary(request), "reason": reason},
    )
    return request


@audit.records_refusal(REFUSED, target="request", actor="actor")
@transaction.atomic
def subject_access_complete(
    *, actor: User, request: SubjectAccessRequest, note: str = ""
) -> SubjectAccessRequest:
    """Close the request as answered once the package was sent: the package file is deleted
    and the subject's id replaced by its keyed hash; the ledger keeps the package's SHA-256
    and whether the answer came within the deadline."""
    request = _locked(request.pk)
    require(policy.may_change(actor, request))
    if not request.has_package:
        raise Conflict(MSG_COMPLETE_NEEDS_PACKAGE)
    request.completion_note = (note or "").strip()
    _close(request, actor, SubjectAccessRequest.Status.COMPLETED, ["completion_note"])
    today = request.closed_at.date()
    audit.record(
        action="subject_access.completed",
        target=request,
        actor=actor,
        data={
            **_summary(request),
            "package_sha256": request.package_sha256,
            "completed_on": today,
            "on_time": today <= request.due_on,
        },
    )
    return request


# --- reads ------------------------------------------------------------------------------------


def requests_visible(*, viewer: User) -> QuerySet[SubjectAccessRequest]:
    require(policy.may_read(viewer))
    return SubjectAccessRequest.objects.filter(policy.visible_to(viewer)).select_related(
        "created_by", "produced_by", "closed_by"
    )


def request_get_for(*, viewer: User, pk) -> SubjectAccessRequest:
    require(policy.may_read(viewer))
    request = SubjectAccessRequest.objects.filter(pk=pk).first() if str(pk).isdigit() else None
    if request is None:
        raise NotFound(MSG_NOT_FOUND)
    return request
