"""Answers for training jobs (filter, export) and receipts for people. Each answer is named by
a snapshot and written to the ledger, so a job can later prove which subject set it used and an
auditor can see who asked what.

``as_of`` is the moment the question is about; ``known_at`` is how much of the history counts
(events recorded at or before it). Both default to now. A snapshot stores both, so asking again
with the snapshot's as_of and known_at reproduces the answer, even after late events arrived.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from consent import policy
from consent.identifiers import subject_id_problems
from consent.models import ConsentSnapshot, Purpose, Subject
from consent.policy import purpose_in_force
from consent.selectors import history
from consent.selectors.subjects import receipt_build
from consent.services import snapshots
from consent.services.events import CLOCK_SKEW
from governance.accounts.models import User
from governance.audit import services as audit
from governance.deadline import database_deadline
from governance.errors import ApplicationError, PayloadTooLarge
from governance.policy import require

_ERRORS_SHOWN = 100

MSG_QUERY_FORBIDDEN = policy.MSG_QUERY_FORBIDDEN
MSG_RECEIPT_FORBIDDEN = policy.MSG_RECEIPT_FORBIDDEN
MSG_AS_OF_FUTURE = "as_of lies in the future: the registry answers about the past and the present."
MSG_KNOWN_AT_FUTURE = "known_at lies in the future."
MSG_KNOWN_AT_BEFORE = "known_at cannot be earlier than as_of."
MSG_FILTER_EMPTY = "Give at least one subject id."
MSG_FILTER_TOO_MANY = (
    "The filter takes at most {limit:,} subject ids per request (CONSENT_FILTER_MAX_IDS); "
    "split the list, or use the export for larger sets."
)
MSG_FILTER_IDS = "{count} subject id(s) are unacceptable; see details.items."


@dataclass(frozen=True)
class FilterAnswer:
    snapshot: ConsentSnapshot
    purpose: Purpose
    subject_ids: list[str]


def _require_query(actor: User | None) -> None:
    require(policy.may_query(actor))


def _moments(as_of: datetime | None, known_at: datetime | None) -> tuple[datetime, datetime]:
    """The question's moments, checked, then kept below the watermark: never later than the
    start of a consent write still in flight, so the answer cannot change afterwards and the
    snapshot's as_of/known_at reproduce it exactly (both are recorded as used)."""
    now = timezone.now()
    as_of = as_of or now
    known_at = known_at or now
    if as_of > now + CLOCK_SKEW:
        raise ApplicationError(MSG_AS_OF_FUTURE, {"field": "as_of"})
    if known_at > now + CLOCK_SKEW:
        raise ApplicationError(MSG_KNOWN_AT_FUTURE, {"field": "known_at"})
    if known_at < as_of:
        raise ApplicationError(MSG_KNOWN_AT_BEFORE, {"field": "known_at"})
    watermark = history.known_watermark()
    if watermark is not None:
        known_at = min(known_at, watermark)
        as_of = min(as_of, known_at)
    return as_of, known_at


@transaction.atomic(durable=True)
def consent_filter(
    *,
    purpose: str,
    subject_ids: Sequence[str],
    actor: User | None,
    namespace: str | None = None,
    as_of: datetime | None = None,
    known_at: datetime | None = None,
    snapshot: str | None = None,
) -> FilterAnswer:
    """Which of ``subject_ids`` had valid consent for ``purpose`` at ``as_of``. Unknown ids are
    simply not in the answer (no consent recorded); ids that look like direct identifiers are
    refused, naming their position.

    ``snapshot`` asks at an earlier answer's question (an access decision's snapshot): its
    purpose version, namespace, as_of and known_at. Without it, a left-out namespace is the
    registry's only one, or a 400 when subjects live in several."""
    _require_query(actor)
    basis = None
    if snapshot is not None:
        basis = snapshots.snapshot_basis(
            snapshot, purpose=purpose, namespace=namespace, as_of=as_of, known_at=known_at
        )
        if not basis.namespace:
            raise ApplicationError(snapshots.MSG_SNAPSHOT_NO_NAMESPACE, {"field": "namespace"})
        namespace, as_of, known_at = basis.namespace, basis.as_of, basis.known_at
    else:
        namespace = snapshots.question_namespace(namespace)
    if not subject_ids:
        raise ApplicationError(MSG_FILTER_EMPTY, {"field": "subject_ids"})
    limit = settings.CONSENT_FILTER_MAX_IDS
    if len(subject_ids) > limit:
        raise PayloadTooLarge(
            MSG_FILTER_TOO_MANY.format(limit=limit), {"field": "subject_ids", "limit": limit}
        )
    problems = [
        {"index": i, "errors": {"subject_id": [problem]}}
        for i, problem in subject_id_problems(subject_ids)
    ]
    if problems:
        raise ApplicationError(
            MSG_FILTER_IDS.format(count=len(problems)),
            {"field": "subject_ids", "items": problems[:_ERRORS_SHOWN]},
        )
    as_of, known_at = _moments(as_of, known_at)
    version = basis.purpose if basis else purpose_in_force(slug=purpose, at=as_of)
    asked = sorted(set(subject_ids))
    answer = history.valid_external_ids(
        purpose=version, as_of=as_of, known_at=known_at, namespace=namespace, external_ids=asked
    )
    now = timezone.now()
    snapshot = ConsentSnapshot.objects.create(
        kind=ConsentSnapshot.Kind.FILTER,
        purpose=version,
        namespace=namespace,
        as_of=as_of,
        known_at=known_at,
        requested_count=len(asked),
        requested_sha256=history.namespace_digest(namespace, asked),
        count=len(answer),
        sha256=history.namespace_digest(namespace, answer),
        created_by=actor,
        created_at=now,
        completed_at=now,
        basis=basis,
    )
    audit.record(
        action="consent.filtered",
        target=snapshot,
        actor=actor,
        data=_snapshot_summary(snapshot),
    )
    return FilterAnswer(snapshot=snapshot, purpose=version, subject_ids=answer)


def _snapshot_summary(snapshot: ConsentSnapshot) -> dict:
    return {
        "snapshot": str(snapshot.pk),
        "kind": snapshot.kind,
        "purpose": snapshot.purpose.slug,
        "purpose_version": snapshot.purpose.version,
        "namespace": snapshot.namespace or None,
        "as_of": snapshot.as_of,
        "known_at": snapshot.known_at,
        "requested": snapshot.requested_count,
        "count": snapshot.count,
        "sha256": snapshot.sha256 or None,
        "basis": str(snapshot.basis_id) if snapshot.basis_id else None,
    }


@transaction.atomic(durable=True)
def consent_export_start(
    *,
    purpose: str,
    actor: User | None,
    namespace: str | None = None,
    as_of: datetime | None = None,
    known_at: datetime | None = None,
    snapshot: str | None = None,
) -> ConsentSnapshot:
    """Open an export: check the question, name it with a snapshot and write
    ``consent.export_started`` before the first id leaves. ``consent_export_complete`` adds
    the count and hash when the last one has been sent; an export cut short keeps only the
    start event, which is what an auditor needs to see."""
    _require_query(actor)
    basis = None
    if snapshot is not None:
        basis = snapshots.snapshot_basis(
            snapshot, purpose=purpose, namespace=namespace, as_of=as_of, known_at=known_at
        )
        namespace, as_of, known_at = basis.namespace, basis.as_of, basis.known_at
    else:
        namespace = snapshots.question_namespace(namespace, export=True)
    as_of, known_at = _moments(as_of, known_at)
    version = basis.purpose if basis else purpose_in_force(slug=purpose, at=as_of)
    snapshot = ConsentSnapshot.objects.create(
        kind=ConsentSnapshot.Kind.EXPORT,
        purpose=version,
        namespace=namespace,
        as_of=as_of,
        known_at=known_at,
        created_by=actor,
        basis=basis,
    )
    audit.record(
        action="consent.export_started",
        target=snapshot,
        actor=actor,
        data=_snapshot_summary(snapshot),
    )
    return snapshot


@transaction.atomic
def consent_export_complete(
    *, snapshot: ConsentSnapshot, count: int, sha256: str, actor: User | None
) -> ConsentSnapshot:
    """Seal an export's snapshot with what was sent. Written once: a second call changes
    nothing."""
    updated = ConsentSnapshot.objects.filter(pk=snapshot.pk, completed_at__isnull=True).update(
        count=count, sha256=sha256, completed_at=timezone.now()
    )
    if snapshot.basis_id and snapshot.kind == ConsentSnapshot.Kind.EXPORT:
        # The export read the whole set of the question it repeated: seal that snapshot too
        # (a decision's count and hash are computed by the first full read, never by the check).
        ConsentSnapshot.objects.filter(
            pk=snapshot.basis_id,
            completed_at__isnull=True,
            namespace=snapshot.namespace,
            purpose_id=snapshot.purpose_id,
            as_of=snapshot.as_of,
            known_at=snapshot.known_at,
        ).update(count=count, sha256=sha256, completed_at=timezone.now())
    snapshot.refresh_from_db()
    if updated:
        audit.record(
            action="consent.exported",
            target=snapshot,
            actor=actor,
            data=_snapshot_summary(snapshot),
        )
    return snapshot


def export_lines(
    snapshot: ConsentSnapshot, *, render, header: str = "", chunk_deadline: float | None = None
):
    """Yield the export body in chunks (``render(rows)`` turns a list of (namespace,
    external_id) into text), hashing as it goes, and seal the
    snapshot after the last chunk. The read runs in one transaction (the server-side cursor
    lives in it); the seal is written after it, in its own. When the client goes away the
    generator is closed: the cursor is closed, the read transaction ends, nothing is sealed.
    Each chunk is read within ``chunk_deadline`` seconds: a database that stops answering
    mid-stream cuts the stream (unsealed) instead of hanging the worker."""
    digest = hashlib.sha256()
    count = 0
    if header:
        yield header
    with transaction.atomic():
        stream = history.valid_subjects_stream(
            purpose=snapshot.purpose,
            as_of=snapshot.as_of,
            known_at=snapshot.known_at,
            namespace=snapshot.namespace,
        )
        try:
            while True:
                with database_deadline(chunk_deadline):
                    rows = next(stream, None)
                if rows is None:
                    break
                digest.update("".join([f"{ns}:{ext}\n" for ns, ext in rows]).encode())
                count += len(rows)
                yield render(rows)
        finally:
            stream.close()
    consent_export_complete(
        snapshot=snapshot, count=count, sha256=digest.hexdigest(), actor=snapshot.created_by
    )


@transaction.atomic
def receipt_issue(*, viewer: User | None, subject: Subject, purpose: Purpose) -> dict:
    """Build a subject's consent receipt for one purpose and note in the ledger who took it."""
    require(policy.may_read_receipts(viewer))
    receipt = receipt_build(subject=subject, purpose=purpose)
    audit.record(
        action="consent.receipt_issued",
        target=subject,
        actor=viewer,
        object_repr=f"receipt {receipt['receipt_id']}",
        data={
            "receipt": receipt["receipt_id"],
            "subject": subject.pk,
            "purpose": purpose.slug,
            "purpose_version": purpose.version,
        },
    )
    return receipt
