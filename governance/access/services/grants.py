"""Access requests (four eyes), grants (always expiring), acknowledgements, expiry."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from consent.models import Purpose
from consent.policy import purpose_current
from datasets.models import Dataset
from datasets.services import dataset_stewards
from governance.access import policy
from governance.access.models import (
    AccessRequest,
    Acknowledgement,
    Grant,
    PurposeApproval,
    RequestComment,
)
from governance.access.services.approvals import training_current_until
from governance.access.services.common import grant_terms, people_with_role
from governance.access.services.notifications import link, notify
from governance.accounts.models import User
from governance.accounts.principal import Principal
from governance.accounts.roles import Role
from governance.audit import services as audit
from governance.errors import ApplicationError, Conflict, NotFound, NotPermitted
from governance.policy import MAX_JUSTIFICATION, MAX_NOTE, require, text_too_long

logger = logging.getLogger(__name__)

MSG_REQUEST_FORBIDDEN = policy.MSG_REQUEST_FORBIDDEN
MSG_PRINCIPAL = policy.MSG_PRINCIPAL
MSG_DATASET = "No approved dataset with this slug."
MSG_PURPOSE = "No active purpose with this slug."
MSG_NOT_APPROVED_FOR_PURPOSE = "This dataset is not approved for this purpose."
MSG_FIELDS_EMPTY = "Name at least one field."
MSG_FIELDS_UNKNOWN = "The dataset has no fields named: {names}."
MSG_FIELDS_UNCLASSIFIED = (
    "Nobody classified these fields yet, so they cannot be granted: {names}. The dataset's "
    "stewards classify them (in a new review) first."
)
MSG_DURATION = "The duration must be 1-{max} days for a {sensitivity} dataset."
MSG_DURATION_ANY = "The duration is a whole number of days, at least 1."
MSG_CHOOSE_DATASET = "Choose the dataset you need."
MSG_JUSTIFICATION = "Explain why you need this access (at least 20 characters)."
MSG_DUPLICATE_PENDING = (
    "Request {id} for this principal, dataset and purpose is still waiting for approval; "
    "comment on it or withdraw it instead of asking twice."
)
MSG_IDEMPOTENCY_REUSED = (
    "This Idempotency-Key was already used for another request body; use a new key."
)
MSG_IDEMPOTENCY_KEY = "An Idempotency-Key is 1-200 printable ASCII characters."
MSG_SELF_APPROVAL = policy.MSG_SELF_APPROVAL
MSG_APPROVER = policy.MSG_APPROVER
MSG_NOT_PENDING = policy.MSG_NOT_PENDING
MSG_ALREADY_APPROVED_BY_YOU = policy.MSG_ALREADY_APPROVED_BY_YOU
MSG_TRAINING_MISSING = (
    "{username} holds no current privacy training, which restricted data requires."
)
MSG_REASON = "Give a reason."
MSG_COMMENT_FORBIDDEN = policy.MSG_COMMENT_FORBIDDEN
MSG_COMMENT_EMPTY = "Write a comment."
MSG_GRANT_DIRECT_FORBIDDEN = policy.MSG_GRANT_DIRECT_FORBIDDEN
MSG_EXPIRY_REQUIRED = "A grant needs an expiry after its start."
MSG_REVOKE_FORBIDDEN = policy.MSG_REVOKE_FORBIDDEN
MSG_GRANT_NOT_ACTIVE = "This grant is {status}."
MSG_ACK_FORBIDDEN = policy.MSG_ACK_FORBIDDEN
MSG_RETIRED = "The dataset is retired."


def _justification_problem(justification: str) -> str | None:
    if len((justification or "").strip()) < 20:
        return MSG_JUSTIFICATION
    return text_too_long(justification, limit=MAX_JUSTIFICATION)


def _max_days(dataset: Dataset) -> int:
    return settings.ACCESS_MAX_GRANT_DAYS[dataset.sensitivity]


def _check_fields(dataset: Dataset, fields: list[str]) -> list[str]:
    fields = list(dict.fromkeys(f.strip() for f in fields or [] if f and f.strip()))
    if not fields:
        raise ApplicationError(MSG_FIELDS_EMPTY, {"field": "fields"})
    known = dict(dataset.fields.values_list("name", "treatment"))
    unknown = [f for f in fields if f not in known]
    if unknown:
        raise ApplicationError(
            MSG_FIELDS_UNKNOWN.format(names=", ".join(unknown)),
            {"field": "fields", "unknown": unknown},
        )
    unclassified = [f for f in fields if not known[f]]
    if unclassified:
        raise ApplicationError(
            MSG_FIELDS_UNCLASSIFIED.format(names=", ".join(unclassified)),
            {"field": "fields", "unclassified": unclassified},
        )
    return fields


MSG_RENEWS_OTHER = "A renewal is of a grant of the same dataset and purpose."


def carried_conditions(request: AccessRequest) -> list[dict]:
    """The conditions of the grant a renewal renews, marked with where they come from: a
    renewal repeats the terms, conditions included (shown to the approvers before they
    decide)."""
    if request.renews_id is None:
        return []
    return [
        {**{k: v for k, v in c.items() if k != "carried_from"}, "carried_from": request.renews_id}
        for c in request.renews.conditions
    ]


def approval_conditions(request: AccessRequest) -> list[dict]:
    """The conditions carried from a renewed grant, then the approvers' notes in the order
    they approved: they become the grant's conditions and are shown with its terms wherever
    the grant is."""
    conditions = carried_conditions(request)
    if request.steward_note and request.steward_approved_by_id:
        conditions.append(
            {
                "as": "steward",
                "by": request.steward_approved_by.username,
                "note": request.steward_note,
            }
        )
    if request.privacy_note and request.privacy_approved_by_id:
        conditions.append(
            {
                "as": "privacy_officer",
                "by": request.privacy_approved_by.username,
                "note": request.privacy_note,
            }
        )
    return conditions


def _approvers(request: AccessRequest) -> list[User]:
    """Who may decide on the request now (for notifications): the same rule as the action."""
    people = list(dataset_stewards(request.dataset))
    if request.needs_privacy_officer:
        people += list(people_with_role(Role.PRIVACY_OFFICER))
    unique = {p.pk: p for p in people}.values()
    return [p for p in unique if policy.may_deny(p, request) is None]


@audit.records_refusal("access.request_refused", target="dataset", actor="requester")
@transaction.atomic
def access_request_create(
    *,
    requester: User,
    dataset: Dataset | None,
    purpose_slug: str,
    fields: list[str],
    duration_days: int,
    justification: str,
    principal: str = "self",
    idempotency_key: str | None = "",
    renews: Grant | None = None,
) -> AccessRequest:
    """Ask for access. Safe to retry: with an `idempotency_key`, the same body again returns
    the request created the first time (marked `replayed`), another body is a conflict; and a
    second pending request for the same principal, dataset and purpose is a conflict naming the
    first. Requests for one dataset are serialized by its row lock, so two concurrent
    submissions cannot both pass these checks."""
    require(policy.may_request(requester))
    if idempotency_key is None:  # the header was sent empty or blank
        raise ApplicationError(MSG_IDEMPOTENCY_KEY, {"field": "idempotency_key"})
    if idempotency_key and not (
        len(idempotency_key) <= 200 and idempotency_key.isascii() and idempotency_key.isprintable()
    ):
        raise ApplicationError(MSG_IDEMPOTENCY_KEY, {"field": "idempotency_key"})
    if dataset is None:  # the portal's form sent without a dataset: say what else is missing
        problems = {"dataset": MSG_CHOOSE_DATASET}
        purpose = purpose_current(purpose_slug) if purpose_slug else None
        if purpose is None or purpose.status != Purpose.Status.ACTIVE:
            problems["purpose"] = MSG_PURPOSE
        if not [f for f in fields or [] if f and f.strip()]:
            problems["fields"] = MSG_FIELDS_EMPTY
        if not isinstance(duration_days, int) or duration_days < 1:
            problems["duration_days"] = MSG_DURATION_ANY
        if problem := _justification_problem(justification):
            problems["justification"] = problem
        raise ApplicationError(problems["dataset"], {"field": "dataset", "fields": problems})
    fingerprint = _fingerprint(
        dataset.slug, purpose_slug, fields, duration_days, justification, principal
    )
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    if idempotency_key:
        earlier = AccessRequest.objects.filter(
            requester=requester, idempotency_key=idempotency_key
        ).first()
        if earlier is not None:
            if earlier.request_fingerprint != fingerprint:
                raise Conflict(
                    MSG_IDEMPOTENCY_REUSED, {"field": "idempotency_key", "request": earlier.pk}
                )
            earlier.replayed = True
            return earlier
    # Every problem with the request is reported at once (``fields``), the first as the message.
    problems: dict[str, str] = {}
    if dataset.status != Dataset.Status.APPROVED:
        problems["dataset"] = MSG_DATASET
    purpose = purpose_current(purpose_slug)
    if purpose is None or purpose.status != Purpose.Status.ACTIVE:
        problems["purpose"] = MSG_PURPOSE
    elif not PurposeApproval.objects.filter(
        dataset=dataset, purpose_slug=purpose_slug, revoked_at=None
    ).exists():
        problems["purpose"] = MSG_NOT_APPROVED_FOR_PURPOSE
    try:
        grantee = policy.requestable_principal(requester, principal)
    except (NotPermitted, Conflict):
        raise
    except ApplicationError as error:
        problems["principal"] = error.message
    try:
        fields = _check_fields(dataset, fields)
    except ApplicationError as error:
        problems["fields"] = error.message
    limit = _max_days(dataset)
    if not isinstance(duration_days, int) or not 1 <= duration_days <= limit:
        problems["duration_days"] = MSG_DURATION.format(max=limit, sensitivity=dataset.sensitivity)
    if problem := _justification_problem(justification):
        problems["justification"] = problem
    if renews is not None and (
        renews.dataset_id != dataset.pk or renews.purpose_slug != purpose_slug
    ):
        problems["renews"] = MSG_RENEWS_OTHER
    if problems:
        field, message = next(iter(problems.items()))
        extra = {"field": field, "fields": problems}
        if field == "duration_days":
            extra["max"] = limit
        raise ApplicationError(message, extra)
    pending = (
        AccessRequest.objects.filter(
            dataset=dataset, purpose_slug=purpose_slug, status=AccessRequest.Status.PENDING
        )
        .filter(**grantee.as_row())
        .values_list("pk", flat=True)
        .first()
    )
    if pending is not None:
        raise Conflict(MSG_DUPLICATE_PENDING.format(id=pending), {"request": pending})
    try:
        # A savepoint: the same key sent at once for two datasets takes two different row
        # locks, so both pass the lookup above; the unique constraint lets one win.
        with transaction.atomic():
            request = AccessRequest.objects.create(
                idempotency_key=idempotency_key,
                request_fingerprint=fingerprint if idempotency_key else "",
                requester=requester,
                **grantee.as_row(),
                dataset=dataset,
                purpose=purpose,
                purpose_slug=purpose_slug,
                fields=fields,
                duration_days=duration_days,
                justification=justification.strip(),
                needs_privacy_officer=dataset.sensitivity == Dataset.Sensitivity.RESTRICTED,
                renews=renews,
            )
    except IntegrityError:
        if not idempotency_key:
            raise
        earlier = AccessRequest.objects.filter(
            requester=requester, idempotency_key=idempotency_key
        ).first()
        raise Conflict(
            MSG_IDEMPOTENCY_REUSED,
            {"field": "idempotency_key", "request": earlier.pk if earlier else None},
        ) from None
    audit.record(
        action="access.requested",
        target=request,
        actor=requester,
        data={
            "dataset": dataset.slug,
            "purpose": purpose_slug,
            "fields": fields,
            "duration_days": duration_days,
            "principal": grantee.label,
        },
    )
    notify(
        to=[p.email for p in _approvers(request)],
        subject=f"Access request for {dataset.slug}",
        body=f"{requester.username} asks for {', '.join(fields)} of {dataset.slug} for "
        f"{purpose_slug}, {duration_days} days.\n\nDecide: "
        f"{link(reverse('access:request', args=[request.pk]))}",
    )
    return request


def _fingerprint(*parts) -> str:
    return hashlib.sha256(
        json.dumps(parts, sort_keys=True, default=str, separators=(",", ":")).encode()
    ).hexdigest()


def _lock_pending(request: AccessRequest) -> AccessRequest:
    request = (
        AccessRequest.objects.select_for_update(of=("self",))
        .select_related("dataset", "requester")
        .get(pk=request.pk)
    )
    if request.status != AccessRequest.Status.PENDING:
        raise Conflict(MSG_NOT_PENDING.format(status=request.get_status_display().lower()))
    return request


@audit.records_refusal("access.approval_refused", target="request", actor="actor")
@transaction.atomic
def access_request_approve(*, actor: User, request: AccessRequest, note: str = "") -> AccessRequest:
    """Record one approval. A dataset with special categories needs a steward and a privacy
    officer (two different people); the grant is created when every approval is in."""
    request = _lock_pending(request)
    require(policy.may_approve(actor, request))
    now = timezone.now()
    capacity = policy.approval_capacity(actor, request)
    note = (note or "").strip()
    if too_long := text_too_long(note, limit=MAX_NOTE):
        raise ApplicationError(too_long, {"field": "note"})
    if capacity == "steward":
        request.steward_approved_by, request.steward_approved_at = actor, now
        request.steward_note = note
    else:
        request.privacy_approved_by, request.privacy_approved_at = actor, now
        request.privacy_note = note
    recorded = [capacity]
    complete = request.steward_approved_by_id is not None and (
        not request.needs_privacy_officer or request.privacy_approved_by_id is not None
    )
    if complete and request.needs_privacy_officer and request.principal_user is not None:
        person = Principal.of(user=request.principal_user).accountable
        if training_current_until(person, now) is None:
            raise ApplicationError(
                MSG_TRAINING_MISSING.format(username=person.username),
                {"reason": "training_missing"},
            )
    update = [
        "steward_approved_by",
        "steward_approved_at",
        "steward_note",
        "privacy_approved_by",
        "privacy_approved_at",
        "privacy_note",
    ]
    if complete:
        request.status = AccessRequest.Status.APPROVED
        request.decided_by, request.decided_at = actor, now
        request.decision_reason = note
        update += ["status", "decided_by", "decided_at", "decision_reason"]
    request.save(update_fields=update)
    audit.record(
        action="access.request_approved",
        target=request,
        actor=actor,
        data={"as": recorded, "complete": complete, "note": note},
    )
    if complete:
        grant = Grant.objects.create(
            principal_user=request.principal_user,
            principal_group=request.principal_group,
            dataset=request.dataset,
            purpose=purpose_current(request.purpose_slug),
            purpose_slug=request.purpose_slug,
            fields=request.fields,
            starts_at=now,
            expires_at=now + timedelta(days=request.duration_days),
            request=request,
            granted_by=actor,
            conditions=approval_conditions(request),
        )
        audit.record(
            action="access.granted",
            target=grant,
            actor=actor,
            data={
                "request": request.pk,
                "dataset": request.dataset.slug,
                "purpose": request.purpose_slug,
                "fields": request.fields,
                "expires_at": grant.expires_at,
                "principal": Principal.of_row(grant).label,
                "conditions": grant.conditions,
            },
        )
        conditions = "".join(
            f"\n- {c['as'].replace('_', ' ')} {c['by']}: {c['note']}" for c in grant.conditions
        )
        notify(
            to=[request.requester.email],
            subject=f"Access to {request.dataset.slug} granted",
            body=f"Your request {request.pk} was approved until {grant.expires_at:%Y-%m-%d}. "
            + (f"Conditions of the approvers:{conditions}\n" if conditions else "")
            + f"Acknowledge the terms before use: {link(reverse('access:mine'))}",
        )
    elif note:
        # The steward's note travels to whoever approves next (a privacy officer).
        notify(
            to=[p.email for p in _approvers(request) if p.pk != actor.pk],
            subject=f"Access request {request.pk} approved by the steward",
            body=f"{actor.username} approved request {request.pk} ({request.dataset.slug} for "
            f"{request.purpose_slug}) with the note: {note}\n"
            f"Your approval is still needed: {link(reverse('access:request', args=[request.pk]))}",
        )
    return request


@audit.records_refusal("access.denial_refused", target="request", actor="actor")
@transaction.atomic
def access_request_deny(*, actor: User, request: AccessRequest, reason: str) -> AccessRequest:
    request = _lock_pending(request)
    require(policy.may_deny(actor, request))
    if not (reason or "").strip():
        raise ApplicationError(MSG_REASON, {"field": "reason"})
    if too_long := text_too_long(reason, limit=MAX_NOTE):
        raise ApplicationError(too_long, {"field": "reason"})
    request.status = AccessRequest.Status.DENIED
    request.decided_by, request.decided_at = actor, timezone.now()
    request.decision_reason = reason.strip()
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    audit.record(
        action="access.request_denied", target=request, actor=actor, data={"reason": reason.strip()}
    )
    notify(
        to=[request.requester.email],
        subject=f"Access to {request.dataset.slug} denied",
        body=f"Your request {request.pk} was denied: {reason.strip()}",
    )
    return request


@audit.records_refusal("access.withdrawal_refused", target="request", actor="actor")
@transaction.atomic
def access_request_withdraw(*, actor: User, request: AccessRequest) -> AccessRequest:
    request = _lock_pending(request)
    require(policy.may_withdraw(actor, request))
    request.status = AccessRequest.Status.WITHDRAWN
    request.decided_by, request.decided_at = actor, timezone.now()
    request.save(update_fields=["status", "decided_by", "decided_at"])
    audit.record(action="access.request_withdrawn", target=request, actor=actor)
    return request


@audit.records_refusal("access.comment_refused", target="request", actor="actor")
@transaction.atomic
def access_request_comment(*, actor: User, request: AccessRequest, body: str) -> RequestComment:
    require(policy.may_comment(actor, request))
    if not (body or "").strip():
        raise ApplicationError(MSG_COMMENT_EMPTY, {"field": "body"})
    if too_long := text_too_long(body, limit=MAX_NOTE):
        raise ApplicationError(too_long, {"field": "body"})
    comment = RequestComment.objects.create(request=request, author=actor, body=body.strip())
    audit.record(action="access.request_commented", target=request, actor=actor)
    others = [u.email for u in [request.requester, *_approvers(request)] if u.pk != actor.pk]
    notify(
        to=others,
        subject=f"Comment on access request {request.pk}",
        body=f"{actor.username} wrote:\n\n{body.strip()}\n\n"
        f"{link(reverse('access:request', args=[request.pk]))}",
    )
    return comment


@audit.records_refusal("access.grant_refused", target="dataset", actor="actor")
@transaction.atomic
def grant_create_direct(
    *,
    actor: User,
    dataset: Dataset,
    purpose_slug: str,
    fields: list[str],
    expires_at: datetime,
    reason: str,
    principal_user: User | None = None,
    principal_group: Group | None = None,
    starts_at: datetime | None = None,
) -> Grant:
    """An administrator grants without a request; recorded as such, same limits apply, and
    never to themselves (a role they hold, a service account they own)."""
    if (principal_user is None) == (principal_group is None):
        raise ApplicationError(MSG_PRINCIPAL, {"field": "principal"})
    grantee = Principal.of(user=principal_user, group=principal_group)
    require(policy.may_grant_directly(actor, grantee))
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    if dataset.status != Dataset.Status.APPROVED:
        raise ApplicationError(
            MSG_DATASET if dataset.status != "retired" else MSG_RETIRED, {"field": "dataset"}
        )
    purpose = purpose_current(purpose_slug)
    if purpose is None or purpose.status != Purpose.Status.ACTIVE:
        raise ApplicationError(MSG_PURPOSE, {"field": "purpose"})
    fields = _check_fields(dataset, fields)
    starts_at = starts_at or timezone.now()
    if expires_at is None or expires_at <= starts_at:
        raise ApplicationError(MSG_EXPIRY_REQUIRED, {"field": "expires_at"})
    limit = _max_days(dataset)
    if expires_at - starts_at > timedelta(days=limit):
        raise ApplicationError(
            MSG_DURATION.format(max=limit, sensitivity=dataset.sensitivity),
            {"field": "expires_at", "max": limit},
        )
    if not (reason or "").strip():
        raise ApplicationError(MSG_REASON, {"field": "reason"})
    grant = Grant.objects.create(
        principal_user=principal_user,
        principal_group=principal_group,
        dataset=dataset,
        purpose=purpose,
        purpose_slug=purpose_slug,
        fields=fields,
        starts_at=starts_at,
        expires_at=expires_at,
        direct=True,
        direct_reason=reason.strip(),
        granted_by=actor,
    )
    audit.record(
        action="access.granted",
        target=grant,
        actor=actor,
        data={
            "direct": True,
            "reason": reason.strip(),
            "dataset": dataset.slug,
            "purpose": purpose_slug,
            "fields": fields,
            "expires_at": expires_at,
            "principal": grantee.label,
        },
    )
    return grant


@audit.records_refusal("access.revocation_refused", target="grant", actor="actor")
@transaction.atomic
def grant_revoke(*, actor: User, grant: Grant, reason: str) -> Grant:
    grant = (
        Grant.objects.select_for_update(of=("self",))
        .select_related("dataset", "principal_user")
        .get(pk=grant.pk)
    )
    require(policy.may_revoke(actor, grant))
    if grant.state != Grant.Status.ACTIVE:  # expired the moment expires_at passed
        raise Conflict(MSG_GRANT_NOT_ACTIVE.format(status=grant.state_display.lower()))
    if not (reason or "").strip():
        raise ApplicationError(MSG_REASON, {"field": "reason"})
    if too_long := text_too_long(reason, limit=MAX_NOTE):
        raise ApplicationError(too_long, {"field": "reason"})
    grant.status = Grant.Status.REVOKED
    grant.revoked_at, grant.revoked_by = timezone.now(), actor
    grant.revoked_reason = reason.strip()
    grant.save(update_fields=["status", "revoked_at", "revoked_by", "revoked_reason"])
    audit.record(
        action="access.grant_revoked", target=grant, actor=actor, data={"reason": reason.strip()}
    )
    return grant


@audit.records_refusal("access.acknowledgement_refused", target="grant", actor="actor")
@transaction.atomic
def grant_acknowledge(*, actor: User, grant: Grant) -> Acknowledgement:
    grant = (
        Grant.objects.select_for_update(of=("self",))
        .select_related("dataset", "purpose", "principal_user")
        .get(pk=grant.pk)
    )
    if grant.state != Grant.Status.ACTIVE:  # expired the moment expires_at passed
        raise Conflict(MSG_GRANT_NOT_ACTIVE.format(status=grant.state_display.lower()))
    require(policy.may_acknowledge(actor, grant))
    version, text, digest = grant_terms(grant)
    existing = Acknowledgement.objects.filter(
        grant=grant, user=actor, terms_version=version
    ).first()
    if existing is not None:
        return existing
    ack = Acknowledgement.objects.create(
        grant=grant, user=actor, terms_version=version, terms_text=text, terms_sha256=digest
    )
    audit.record(
        action="access.acknowledged",
        target=grant,
        actor=actor,
        data={"terms_version": version, "terms_sha256": digest},
    )
    return ack


def grants_expire(*, now: datetime | None = None) -> dict:
    """Beat job body: mark grants past expiry as expired (one ledger event each) and remind
    owners of grants expiring within ACCESS_REMINDER_DAYS. Safe to run concurrently: rows are
    claimed with SKIP LOCKED, and each grant is handled in its own transaction."""
    now = now or timezone.now()
    expired = reminded = 0
    while True:
        with transaction.atomic():
            batch = list(
                Grant.objects.select_for_update(skip_locked=True)
                .filter(status=Grant.Status.ACTIVE, expires_at__lte=now)
                .order_by("pk")[:100]
            )
            if not batch:
                break
            for grant in batch:
                grant.status = Grant.Status.EXPIRED
                grant.expired_at = now
                grant.save(update_fields=["status", "expired_at"])
                audit.record(
                    action="access.grant_expired",
                    target=grant,
                    actor=None,
                    data={
                        "expires_at": grant.expires_at,
                        "dataset": grant.dataset_id,
                        "purpose": grant.purpose_slug,
                    },
                )
                expired += 1
    horizon = now + timedelta(days=settings.ACCESS_REMINDER_DAYS)
    while True:
        with transaction.atomic():
            batch = list(
                Grant.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("dataset", "principal_user", "request__requester")
                .filter(
                    status=Grant.Status.ACTIVE,
                    reminded_at=None,
                    expires_at__gt=now,
                    expires_at__lte=horizon,
                )
                .order_by("pk")[:100]
            )
            if not batch:
                break
            for grant in batch:
                grant.reminded_at = now
                grant.save(update_fields=["reminded_at"])
                recipients = _owners(grant)
                notify(
                    to=[u.email for u in recipients],
                    subject=f"Access to {grant.dataset.slug} expires {grant.expires_at:%Y-%m-%d}",
                    body=f"Grant {grant.pk} ({grant.purpose_slug}) expires on "
                    f"{grant.expires_at:%Y-%m-%d %H:%M} UTC. Request a renewal if it "
                    f"is still needed: {link(reverse('access:mine'))}",
                )
                audit.record(
                    action="access.expiry_reminder_sent",
                    target=grant,
                    actor=None,
                    data={"to": sorted(u.username for u in recipients)},
                )
                reminded += 1
    return {"expired": expired, "reminded": reminded}


def _owners(grant: Grant) -> list[User]:
    people = []
    if grant.principal_user is not None:
        people.append(Principal.of(user=grant.principal_user).accountable)
    if grant.request is not None:
        people.append(grant.request.requester)
    return list({p.pk: p for p in people}.values())


def grant_get(pk: int) -> Grant:
    try:
        return Grant.objects.select_related("dataset", "purpose").get(pk=pk)
    except (Grant.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such grant.") from None
