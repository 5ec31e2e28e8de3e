"""Access requests (four eyes), grants (always expiring), acknowledgements, expiry."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from consent.models import Purpose
from datasets.models import Dataset
from datasets.services import dataset_stewards
from governance.access.models import (
    AccessRequest,
    Acknowledgement,
    Grant,
    PurposeApproval,
    RequestComment,
)
from governance.access.services.approvals import training_current_until
from governance.access.services.common import (
    is_privacy_officer,
    is_steward_of,
    people_with_role,
    person_behind,
    principal_label,
    purpose_current,
    terms_for,
)
from governance.access.services.notifications import link, notify
from governance.accounts.models import ServiceAccount, User
from governance.accounts.roles import Role
from governance.audit import services as audit
from governance.errors import ApplicationError, Conflict, NotFound, NotPermitted

logger = logging.getLogger(__name__)

MSG_REQUEST_FORBIDDEN = "Only people with a role that may request access can request it."
MSG_PRINCIPAL = (
    "Request for yourself ('self'), for a role you hold ('role:NAME'), or for a "
    "service account you own ('service_account:NAME')."
)
MSG_DATASET = "No approved dataset with this slug."
MSG_PURPOSE = "No active purpose with this slug."
MSG_NOT_APPROVED_FOR_PURPOSE = "This dataset is not approved for this purpose."
MSG_FIELDS_EMPTY = "Name at least one field."
MSG_FIELDS_UNKNOWN = "The dataset has no fields named: {names}."
MSG_DURATION = "The duration must be 1-{max} days for a {sensitivity} dataset."
MSG_JUSTIFICATION = "Explain why you need this access (at least 20 characters)."
MSG_SELF_APPROVAL = "You requested this access; someone else must approve it."
MSG_APPROVER = (
    "Only a steward of this dataset, or a privacy officer when the dataset holds "
    "special categories, can decide on this request."
)
MSG_NOT_PENDING = "This request is {status}."
MSG_ALREADY_APPROVED_BY_YOU = "You already approved this request; it waits for another approver."
MSG_TRAINING_MISSING = (
    "{username} holds no current privacy training, which restricted data requires."
)
MSG_REASON = "Give a reason."
MSG_COMMENT_FORBIDDEN = "Only the requester and the approvers can comment."
MSG_COMMENT_EMPTY = "Write a comment."
MSG_GRANT_DIRECT_FORBIDDEN = "Only administrators grant access without a request."
MSG_EXPIRY_REQUIRED = "A grant needs an expiry after its start."
MSG_REVOKE_FORBIDDEN = (
    "Only the dataset's stewards, privacy officers, administrators or the "
    "grantee can revoke a grant."
)
MSG_GRANT_NOT_ACTIVE = "This grant is {status}."
MSG_ACK_FORBIDDEN = "Only the grantee (for a service account: its owner) acknowledges a grant."
MSG_RETIRED = "The dataset is retired."


def _max_days(dataset: Dataset) -> int:
    return settings.ACCESS_MAX_GRANT_DAYS[dataset.sensitivity]


def _resolve_principal(requester: User, principal: str) -> tuple[User | None, Group | None]:
    principal = (principal or "self").strip()
    if principal == "self":
        return requester, None
    kind, _, name = principal.partition(":")
    if kind == "role" and name in requester.roles:
        return None, Group.objects.get(name=name)
    if kind == "service_account":
        account = (
            ServiceAccount.objects.select_related("user")
            .filter(name=name, owner=requester, revoked_at=None)
            .first()
        )
        if account is not None:
            return account.user, None
    raise ApplicationError(MSG_PRINCIPAL, {"field": "principal"})


def _check_fields(dataset: Dataset, fields: list[str]) -> list[str]:
    fields = list(dict.fromkeys(f.strip() for f in fields or [] if f and f.strip()))
    if not fields:
        raise ApplicationError(MSG_FIELDS_EMPTY, {"field": "fields"})
    known = set(dataset.fields.values_list("name", flat=True))
    unknown = [f for f in fields if f not in known]
    if unknown:
        raise ApplicationError(
            MSG_FIELDS_UNKNOWN.format(names=", ".join(unknown)),
            {"field": "fields", "unknown": unknown},
        )
    return fields


def _approvers(request: AccessRequest) -> list[User]:
    people = list(dataset_stewards(request.dataset))
    if request.needs_privacy_officer:
        people += list(people_with_role(Role.PRIVACY_OFFICER))
    return [p for p in people if p.pk != request.requester_id]


@audit.records_refusal("access.request_refused", target="dataset", actor="requester")
@transaction.atomic
def access_request_create(
    *,
    requester: User,
    dataset: Dataset,
    purpose_slug: str,
    fields: list[str],
    duration_days: int,
    justification: str,
    principal: str = "self",
) -> AccessRequest:
    if not requester.has_perm("access.add_accessrequest") or requester.is_service_account:
        raise NotPermitted(MSG_REQUEST_FORBIDDEN)
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    if dataset.status != Dataset.Status.APPROVED:
        raise ApplicationError(MSG_DATASET, {"field": "dataset"})
    purpose = purpose_current(purpose_slug)
    if purpose is None or purpose.status != Purpose.Status.ACTIVE:
        raise ApplicationError(MSG_PURPOSE, {"field": "purpose"})
    if not PurposeApproval.objects.filter(
        dataset=dataset, purpose_slug=purpose_slug, revoked_at=None
    ).exists():
        raise ApplicationError(MSG_NOT_APPROVED_FOR_PURPOSE, {"field": "purpose"})
    principal_user, principal_group = _resolve_principal(requester, principal)
    fields = _check_fields(dataset, fields)
    limit = _max_days(dataset)
    if not isinstance(duration_days, int) or not 1 <= duration_days <= limit:
        raise ApplicationError(
            MSG_DURATION.format(max=limit, sensitivity=dataset.sensitivity),
            {"field": "duration_days", "max": limit},
        )
    if len((justification or "").strip()) < 20:
        raise ApplicationError(MSG_JUSTIFICATION, {"field": "justification"})
    request = AccessRequest.objects.create(
        requester=requester,
        principal_user=principal_user,
        principal_group=principal_group,
        dataset=dataset,
        purpose=purpose,
        purpose_slug=purpose_slug,
        fields=fields,
        duration_days=duration_days,
        justification=justification.strip(),
        needs_privacy_officer=dataset.sensitivity == Dataset.Sensitivity.RESTRICTED,
    )
    audit.record(
        action="access.requested",
        target=request,
        actor=requester,
        data={
            "dataset": dataset.slug,
            "purpose": purpose_slug,
            "fields": fields,
            "duration_days": duration_days,
            "principal": principal_label(user=principal_user, group=principal_group),
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


def _lock_pending(request: AccessRequest) -> AccessRequest:
    request = (
        AccessRequest.objects.select_for_update(of=("self",))
        .select_related("dataset", "requester")
        .get(pk=request.pk)
    )
    if request.status != AccessRequest.Status.PENDING:
        raise Conflict(MSG_NOT_PENDING.format(status=request.get_status_display().lower()))
    return request


def _deciding_as(actor: User, request: AccessRequest) -> set[str]:
    if actor.pk == request.requester_id or actor.pk == request.principal_user_id:
        raise NotPermitted(MSG_SELF_APPROVAL)
    capacities = set()
    if is_steward_of(actor, request.dataset):
        capacities.add("steward")
    if request.needs_privacy_officer and is_privacy_officer(actor):
        capacities.add("privacy_officer")
    if not capacities:
        raise NotPermitted(MSG_APPROVER)
    return capacities


def _acknowledger(grant_user: User | None) -> User | None:
    return person_behind(grant_user) if grant_user is not None else None


@audit.records_refusal("access.approval_refused", target="request", actor="actor")
@transaction.atomic
def access_request_approve(*, actor: User, request: AccessRequest, note: str = "") -> AccessRequest:
    """Record one approval. A dataset with special categories needs a steward and a privacy
    officer (two different people); the grant is created when every approval is in."""
    request = _lock_pending(request)
    capacities = _deciding_as(actor, request)
    now = timezone.now()
    recorded = []
    if (
        "steward" in capacities
        and request.steward_approved_by_id is None
        and (request.privacy_approved_by_id != actor.pk)
    ):
        request.steward_approved_by, request.steward_approved_at = actor, now
        recorded.append("steward")
    elif (
        "privacy_officer" in capacities
        and request.privacy_approved_by_id is None
        and request.steward_approved_by_id != actor.pk
    ):
        request.privacy_approved_by, request.privacy_approved_at = actor, now
        recorded.append("privacy_officer")
    if not recorded:
        raise Conflict(MSG_ALREADY_APPROVED_BY_YOU)
    complete = request.steward_approved_by_id is not None and (
        not request.needs_privacy_officer or request.privacy_approved_by_id is not None
    )
    if complete and request.needs_privacy_officer:
        person = _acknowledger(request.principal_user) or actor
        if request.principal_user is not None and training_current_until(person, now) is None:
            raise ApplicationError(
                MSG_TRAINING_MISSING.format(username=person.username),
                {"reason": "training_missing"},
            )
    update = [
        "steward_approved_by",
        "steward_approved_at",
        "privacy_approved_by",
        "privacy_approved_at",
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
                "principal": principal_label(
                    user=grant.principal_user, group=grant.principal_group
                ),
            },
        )
        notify(
            to=[request.requester.email],
            subject=f"Access to {request.dataset.slug} granted",
            body=f"Your request {request.pk} was approved until {grant.expires_at:%Y-%m-%d}. "
            f"Acknowledge the terms before use: {link(reverse('access:mine'))}",
        )
    return request


@audit.records_refusal("access.denial_refused", target="request", actor="actor")
@transaction.atomic
def access_request_deny(*, actor: User, request: AccessRequest, reason: str) -> AccessRequest:
    request = _lock_pending(request)
    _deciding_as(actor, request)
    if not (reason or "").strip():
        raise ApplicationError(MSG_REASON, {"field": "reason"})
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
    if actor.pk != request.requester_id:
        raise NotPermitted("Only the requester withdraws a request.")
    request.status = AccessRequest.Status.WITHDRAWN
    request.decided_by, request.decided_at = actor, timezone.now()
    request.save(update_fields=["status", "decided_by", "decided_at"])
    audit.record(action="access.request_withdrawn", target=request, actor=actor)
    return request


def can_see_request(user: User, request: AccessRequest) -> bool:
    return (
        user.pk == request.requester_id
        or is_steward_of(user, request.dataset)
        or user.has_role("privacy_officer", "auditor", "admin")
    )


@audit.records_refusal("access.comment_refused", target="request", actor="actor")
@transaction.atomic
def access_request_comment(*, actor: User, request: AccessRequest, body: str) -> RequestComment:
    if not (
        actor.pk == request.requester_id
        or is_steward_of(actor, request.dataset)
        or is_privacy_officer(actor)
    ):
        raise NotPermitted(MSG_COMMENT_FORBIDDEN)
    if not (body or "").strip():
        raise ApplicationError(MSG_COMMENT_EMPTY, {"field": "body"})
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
    """An administrator grants without a request; recorded as such, same limits apply."""
    if not actor.has_role("admin"):
        raise NotPermitted(MSG_GRANT_DIRECT_FORBIDDEN)
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    if dataset.status != Dataset.Status.APPROVED:
        raise ApplicationError(
            MSG_DATASET if dataset.status != "retired" else MSG_RETIRED, {"field": "dataset"}
        )
    purpose = purpose_current(purpose_slug)
    if purpose is None or purpose.status != Purpose.Status.ACTIVE:
        raise ApplicationError(MSG_PURPOSE, {"field": "purpose"})
    if (principal_user is None) == (principal_group is None):
        raise ApplicationError(MSG_PRINCIPAL, {"field": "principal"})
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
            "principal": principal_label(user=principal_user, group=principal_group),
        },
    )
    return grant


def _can_revoke(actor: User, grant: Grant) -> bool:
    return (
        actor.has_role("admin")
        or is_privacy_officer(actor)
        or is_steward_of(actor, grant.dataset)
        or grant.principal_user_id == actor.pk
        or (
            grant.principal_user is not None
            and grant.principal_user.is_service_account
            and grant.principal_user.service_account.owner_id == actor.pk
        )
    )


@audit.records_refusal("access.revocation_refused", target="grant", actor="actor")
@transaction.atomic
def grant_revoke(*, actor: User, grant: Grant, reason: str) -> Grant:
    grant = (
        Grant.objects.select_for_update(of=("self",))
        .select_related("dataset", "principal_user")
        .get(pk=grant.pk)
    )
    if not _can_revoke(actor, grant):
        raise NotPermitted(MSG_REVOKE_FORBIDDEN)
    if grant.status != Grant.Status.ACTIVE:
        raise Conflict(MSG_GRANT_NOT_ACTIVE.format(status=grant.get_status_display().lower()))
    if not (reason or "").strip():
        raise ApplicationError(MSG_REASON, {"field": "reason"})
    grant.status = Grant.Status.REVOKED
    grant.revoked_at, grant.revoked_by = timezone.now(), actor
    grant.revoked_reason = reason.strip()
    grant.save(update_fields=["status", "revoked_at", "revoked_by", "revoked_reason"])
    audit.record(
        action="access.grant_revoked", target=grant, actor=actor, data={"reason": reason.strip()}
    )
    return grant


def acknowledger_for(grant: Grant, caller: User) -> User | None:
    """Who must acknowledge this grant for ``caller`` to use it: a person grantee themself, a
    service account's owner, or for a role grant the calling member (or their owner)."""
    if grant.principal_user_id is not None:
        return person_behind(grant.principal_user)
    return person_behind(caller)


@audit.records_refusal("access.acknowledgement_refused", target="grant", actor="actor")
@transaction.atomic
def grant_acknowledge(*, actor: User, grant: Grant) -> Acknowledgement:
    grant = (
        Grant.objects.select_for_update(of=("self",))
        .select_related("dataset", "purpose", "principal_user")
        .get(pk=grant.pk)
    )
    if grant.status != Grant.Status.ACTIVE:
        raise Conflict(MSG_GRANT_NOT_ACTIVE.format(status=grant.get_status_display().lower()))
    if grant.principal_user_id is not None:
        allowed = acknowledger_for(grant, actor).pk == actor.pk
    else:
        allowed = grant.principal_group.user_set.filter(pk=actor.pk).exists()
    if not allowed or actor.is_service_account:
        raise NotPermitted(MSG_ACK_FORBIDDEN)
    version, text, digest = terms_for(grant.purpose, grant.dataset)
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
        people.append(person_behind(grant.principal_user))
    if grant.request is not None:
        people.append(grant.request.requester)
    return list({p.pk: p for p in people}.values())


def grant_get(pk: int) -> Grant:
    try:
        return Grant.objects.select_related("dataset", "purpose").get(pk=pk)
    except (Grant.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such grant.") from None
