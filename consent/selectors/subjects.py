"""Reads of subjects, their consent states and histories, and consent receipts.

Who may read a subject's history: holders of consent.view_consentevent (stewards, privacy
officers, auditors) and holders of consent.add_consentevent (the source systems that record
events, which show subjects their own choices). Anyone else gets 403 before the registry says
whether the subject exists, so ids cannot be probed.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from consent import policy
from consent.identifiers import namespace_problem, subject_id_problem
from consent.models import ConsentEvent, ConsentState, NoticeVersion, Purpose, Subject
from consent.vocab import (
    CONSENT_STATUS_DPV,
    SPECIAL_CATEGORY_GDPR,
    VALID_FOR_PROCESSING,
    ConsentStatus,
)
from governance.accounts.models import User
from governance.errors import ApplicationError, NotFound
from governance.policy import require

MSG_HISTORY_FORBIDDEN = policy.MSG_HISTORY_FORBIDDEN
MSG_SUBJECT_NOT_FOUND = "The registry has no subject '{external_id}' in namespace '{namespace}'."
MSG_NO_RECORD = "Subject '{subject}' has no consent record for purpose '{slug}'."

RECEIPT_SCHEMA = "consent-receipt/1.0"
# A fixed namespace for receipt ids: the same record in the same state has the same id.
_RECEIPT_NAMESPACE = uuid.UUID("2f0c3f7e-6a51-4b8e-9d3c-7c1f0e4b5a21")


def known_namespaces(limit: int = 20) -> list[str]:
    """The namespaces subjects live in, the most populated first (one grouped query): forms
    that name a subject default to the first instead of a namespace nobody uses."""
    from django.db.models import Count

    return list(
        Subject.objects.values("namespace")
        .annotate(n=Count("id"))
        .order_by("-n", "namespace")
        .values_list("namespace", flat=True)[:limit]
    )


def usual_namespace() -> str:
    from consent.identifiers import DEFAULT_NAMESPACE

    found = known_namespaces(limit=1)
    return found[0] if found else DEFAULT_NAMESPACE


def subject_get_for(*, viewer: User | None, namespace: str, external_id: str) -> Subject:
    require(policy.may_read_history(viewer))
    if problem := namespace_problem(namespace):
        raise ApplicationError(problem, {"field": "namespace"})
    if problem := subject_id_problem(external_id):
        raise ApplicationError(problem, {"field": "subject_id"})
    subject = Subject.objects.filter(namespace=namespace, external_id=external_id).first()
    if subject is None:
        raise NotFound(MSG_SUBJECT_NOT_FOUND.format(namespace=namespace, external_id=external_id))
    return subject


def subject_states(*, subject: Subject) -> list[ConsentState]:
    return list(
        ConsentState.objects.filter(subject=subject)
        .select_related("purpose", "event__notice")
        .order_by("purpose__slug", "-purpose__version")
    )


def subject_events(*, subject: Subject, purpose: Purpose | None = None) -> QuerySet[ConsentEvent]:
    """The full history, in the order that decides the state (occurred_at, then recording)."""
    events = ConsentEvent.objects.filter(subject=subject).select_related(
        "purpose", "notice", "recorded_by"
    )
    if purpose is not None:
        events = events.filter(purpose=purpose)
    return events.order_by("occurred_at", "id")


MSG_VERSION = "version must be a positive whole number."


def subject_record_purpose(*, subject: Subject, slug: str, version: str | int | None) -> Purpose:
    """The purpose version of the subject's record for ``slug``: ``version`` if given, else
    the latest version the subject has a record for."""
    states = ConsentState.objects.filter(subject=subject, purpose__slug=slug).select_related(
        "purpose"
    )
    if version not in (None, ""):
        if not str(version).isdigit() or int(version) < 1:
            raise ApplicationError(MSG_VERSION, {"field": "version"})
        states = states.filter(purpose__version=int(version))
    state = states.order_by("-purpose__version").first()
    if state is None:
        raise NotFound(MSG_NO_RECORD.format(subject=subject, slug=slug))
    return state.purpose


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _notice(notice: NoticeVersion | None) -> dict | None:
    if notice is None:
        return None
    return {
        "version": notice.version,
        "language": notice.language,
        "url": notice.url or None,
        "content_hash": {"algorithm": "sha256", "value": notice.content_hash},
        "effective_from": _iso(notice.effective_from),
    }


def receipt_build(*, subject: Subject, purpose: Purpose, at: datetime | None = None) -> dict:
    """A consent receipt in the spirit of ISO/IEC TS 27560 and the Kantara Consent Receipt:
    who (controller, subject), for what (purpose, legal basis, data), on which information
    (notice version and hash), what happened when (events), and how to withdraw."""
    at = at or timezone.now()
    state = (
        ConsentState.objects.select_related("event__notice")
        .filter(subject=subject, purpose=purpose)
        .first()
    )
    if state is None:
        raise NotFound(MSG_NO_RECORD.format(subject=subject, slug=purpose.slug))
    events = list(subject_events(subject=subject, purpose=purpose))
    affirmative = [e for e in events if e.status in VALID_FOR_PROCESSING]
    consent_event = affirmative[-1] if affirmative else state.event
    effective = state.effective_status(at)
    return {
        "schema": RECEIPT_SCHEMA,
        "receipt_id": str(uuid.uuid5(_RECEIPT_NAMESPACE, f"{state.record_id}/{state.event_id}")),
        "record_id": str(state.record_id),
        "generated_at": at.isoformat(),
        "jurisdiction": "EU",
        "law": "GDPR (Regulation (EU) 2016/679)",
        "controller": {"name": purpose.controller, "contact": purpose.controller_contact},
        "subject": {"namespace": subject.namespace, "id": subject.external_id},
        "purpose": {
            "slug": purpose.slug,
            "version": purpose.version,
            "name": purpose.name,
            "description": purpose.description,
            "data_categories": purpose.data_categories,
            "data_subject_categories": purpose.data_subject_categories,
            "recipients": purpose.recipients,
            "retention_days": purpose.retention_days,
            "dpia_reference": purpose.dpia_reference or None,
            "special_categories": purpose.special_categories,
            "special_category_condition": (
                {
                    "code": purpose.special_category_condition,
                    "iri": SPECIAL_CATEGORY_GDPR[purpose.special_category_condition],
                }
                if purpose.special_category_condition
                else None
            ),
            "consent_validity_months": purpose.consent_validity_months,
        },
        "legal_basis": {
            "code": purpose.legal_basis,
            "label": purpose.get_legal_basis_display(),
            "iri": purpose.legal_basis_iri,
            "gdpr_iri": purpose.legal_basis_gdpr_iri,
        },
        "notice": _notice(consent_event.notice),
        "state": {
            "status": state.status,
            "status_iri": CONSENT_STATUS_DPV[ConsentStatus(state.status)],
            "effective_status": effective,
            "valid": effective in VALID_FOR_PROCESSING,
            "since": _iso(state.occurred_at),
            "valid_until": _iso(state.valid_until),
        },
        "collection_method": consent_event.collection_method,
        "withdrawal_method": {
            "description": purpose.withdrawal_method or None,
            "api": 'POST /api/v1/consent/events with "status": "withdrawn"',
        },
        "events": [
            {
                "id": event.pk,
                "status": event.status,
                "status_iri": event.status_iri,
                "occurred_at": _iso(event.occurred_at),
                "recorded_at": _iso(event.recorded_at),
                "collection_method": event.collection_method,
                "notice_version": event.notice.version if event.notice else None,
                "notice_hash": event.notice.content_hash if event.notice else None,
                "expires_at": _iso(event.expires_at),
                "valid_until": _iso(event.valid_until),
                "evidence": event.evidence,
            }
            for event in events
        ],
    }
