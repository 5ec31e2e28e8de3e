"""What is due for deletion in a dataset, now: the one computation behind a run's criteria,
the dry-run preview and the portal's retention page, so that what a person previews is what
the next run deletes.

Rules (docs/retention.md):
- Age: rows whose event time is older than the effective maximum age plus the grace period.
  The effective maximum age is the shortest of the policy's own and the retention periods of
  the purposes the dataset is approved for (the stricter wins).
- Expiry: from the policy's expiry date plus the grace period, every row.
- Withdrawal: a subject whose consent is no longer valid for any of the consent-based
  purposes the dataset serves (their latest state for each such purpose they have a record
  for ended: withdrawn, revoked, refused, invalidated or expired) is due for erasure; the
  erasure must happen within ``RETENTION_ERASURE_DEADLINE_DAYS`` of the moment consent ended.
- Erasure requests: open requests naming the dataset, for their subject.
- Legal holds: a hold on the dataset stops everything; a hold on a subject keeps that
  subject's rows out of every criterion.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from consent.models import ConsentState, Purpose, Subject
from consent.vocab import VALID_FOR_PROCESSING, ConsentStatus, LegalBasis
from datasets.connectors import ANONYMIZE, DELETE, Criteria, Layout
from datasets.models import Dataset
from datasets.taxonomy import Role
from governance.access.models import PurposeApproval
from governance.retention.models import (
    ErasureRequest,
    ErasureTarget,
    LegalHold,
    RetentionPolicy,
    RetentionRun,
)

ENDED = frozenset(
    {
        ConsentStatus.WITHDRAWN,
        ConsentStatus.REVOKED,
        ConsentStatus.REFUSED,
        ConsentStatus.INVALIDATED,
        ConsentStatus.EXPIRED,
    }
)

MSG_NO_POLICY = "The dataset has no retention policy."
MSG_POLICY_DISABLED = "The dataset's retention policy is switched off."
MSG_NEEDS_EVENT_TIME = (
    "A maximum age of {days} days applies ({source}), but the dataset names no event-time "
    "field: set one in the catalog, or nothing can be deleted by age."
)
MSG_NEEDS_SUBJECT_FIELD = (
    "{count} subject(s) are due for erasure, but the dataset names no subject-id field, so "
    "their rows cannot be found: set one in the catalog (deletion by age goes on)."
)


@dataclass(frozen=True)
class PurposeBound:
    slug: str
    version: int
    name: str
    retention_days: int
    consent_based: bool


@dataclass
class Plan:
    dataset: Dataset
    policy: RetentionPolicy | None
    now: datetime
    bounds: list[PurposeBound] = field(default_factory=list)
    max_age_days: int | None = None
    max_age_source: str = ""
    cutoff: datetime | None = None
    expires_at: datetime | None = None
    expired: bool = False
    dataset_holds: list[LegalHold] = field(default_factory=list)
    subject_holds: list[LegalHold] = field(default_factory=list)
    held_subjects: set[str] = field(default_factory=set)
    withdrawn: dict[str, datetime] = field(default_factory=dict)
    # When the registry knew of each withdrawal (see ``withdrawals``).
    withdrawn_known: dict[str, datetime] = field(default_factory=dict)
    requested: dict[str, list[int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # The problems that only stop deletion by age (an erasure run is not concerned).
    age_problems: list[str] = field(default_factory=list)
    # Shown, but stopping nothing: e.g. subjects due in a dataset without a subject-id field
    # (they cannot be found, so age and expiry are still enforced).
    warnings: list[str] = field(default_factory=list)

    @property
    def subject_ids(self) -> set[str]:
        if not self.dataset.subject_id_field:
            return set()
        return (set(self.withdrawn) | set(self.requested)) - self.held_subjects

    def problems_for(self, kind: str) -> list[str]:
        """The problems that stop a run of ``kind``: erasing subjects needs no event time."""
        if kind == RetentionRun.Kind.ERASURE:
            return [p for p in self.problems if p not in self.age_problems]
        return list(self.problems)

    @property
    def is_held(self) -> bool:
        return bool(self.dataset_holds)

    @property
    def action(self) -> str:
        return self.policy.action if self.policy else RetentionPolicy.Action.DELETE

    @cached_property
    def last_success_started_at(self) -> datetime | None:
        return (
            RetentionRun.objects.filter(dataset=self.dataset, status=RetentionRun.Status.SUCCEEDED)
            .order_by("-started_at")
            .values_list("started_at", flat=True)
            .first()
        )

    @cached_property
    def uncovered(self) -> set[str]:
        """Due subjects no successful run has covered yet: a withdrawal the registry learned
        of after the last successful run started (a subject erased before, who consented
        again and withdrew again, is due again), or an open erasure request."""
        last = self.last_success_started_at
        return {
            external_id
            for external_id in self.subject_ids
            if external_id in self.requested
            or last is None
            or self.withdrawn_known.get(external_id, self.now) >= last
        }

    @cached_property
    def erasure_due_by(self) -> datetime | None:
        """The deadline of the earliest withdrawal not yet covered by a successful run."""
        pending = [self.withdrawn[s] for s in self.uncovered if s in self.withdrawn]
        if not pending:
            return None
        return min(pending) + timedelta(days=settings.RETENTION_ERASURE_DEADLINE_DAYS)

    def layout(self) -> Layout:
        return layout_for(self.dataset)

    def operations(self, kind: str) -> list[tuple[str, Criteria]]:
        """The (operation, criteria) pairs a run of ``kind`` created now would perform."""
        retention = kind == RetentionRun.Kind.RETENTION
        return operations_for(
            action=self.action,
            cutoff=self.cutoff if retention else None,
            everything=self.expired and retention,
            subjects=self.subject_ids,
            keep=self.held_subjects,
        )


def operations_for(
    *, action: str, cutoff: datetime | None, everything: bool, subjects, keep
) -> list[tuple[str, Criteria]]:
    """Deletions first (erasure is always a deletion), then anonymisation of rows past their
    age when the policy says so. Criteria that match nothing by construction are left out."""
    subjects, keep = frozenset(subjects), frozenset(keep)
    if action == RetentionPolicy.Action.ANONYMIZE and not everything:
        pairs = [
            (DELETE, Criteria(subject_ids=subjects, keep_subject_ids=keep)),
            (ANONYMIZE, Criteria(older_than=cutoff, keep_subject_ids=keep)),
        ]
    else:
        pairs = [
            (
                DELETE,
                Criteria(
                    older_than=cutoff,
                    subject_ids=subjects,
                    everything=everything,
                    keep_subject_ids=keep,
                ),
            )
        ]
    return [(operation, criteria) for operation, criteria in pairs if not criteria.is_empty]


def layout_for(dataset: Dataset) -> Layout:
    """The columns a connector needs: subject id, event time, and what anonymising empties
    (the direct identifiers and the subject id)."""
    identifiers = list(
        dataset.fields.filter(role=Role.DIRECT_IDENTIFIER).values_list("name", flat=True)
    )
    if dataset.subject_id_field and dataset.subject_id_field not in identifiers:
        identifiers.append(dataset.subject_id_field)
    return Layout(
        subject_field=dataset.subject_id_field,
        event_time_field=dataset.event_time_field,
        identifier_fields=tuple(identifiers),
    )


def subjects_digest(ids) -> str:
    """SHA-256 over the sorted ids, one per line: what a certificate records instead of ids."""
    digest = hashlib.sha256()
    for value in sorted(ids):
        digest.update(f"{value}\n".encode())
    return digest.hexdigest()


def purpose_bounds(dataset: Dataset, at: datetime) -> list[PurposeBound]:
    """The purposes the dataset is approved for (live approvals), each as the version in force
    now (or the approved version when none is)."""
    approvals = PurposeApproval.objects.filter(dataset=dataset, revoked_at__isnull=True)
    slugs = {a.purpose_slug: a.purpose for a in approvals.select_related("purpose")}
    if not slugs:
        return []
    in_force = {
        p.slug: p
        for p in Purpose.objects.filter(slug__in=slugs, activated_at__lte=at)
        .filter(Q(retired_at__isnull=True) | Q(retired_at__gt=at))
        .order_by("slug", "activated_at")
    }
    bounds = []
    for slug, approved in sorted(slugs.items()):
        purpose = in_force.get(slug, approved)
        bounds.append(
            PurposeBound(
                slug=slug,
                version=purpose.version,
                name=purpose.name,
                retention_days=purpose.retention_days,
                consent_based=purpose.legal_basis == LegalBasis.CONSENT,
            )
        )
    return bounds


def withdrawn_subjects(*, slugs: list[str], namespace: str, at: datetime) -> dict[str, datetime]:
    """Subjects whose consent ended for every one of ``slugs`` they have a record for, with the
    moment the last of those ended. The latest state across a purpose's versions counts."""
    return {
        external_id: ended
        for external_id, (ended, _known) in withdrawals(
            slugs=slugs, namespace=namespace, at=at
        ).items()
    }


_WITHDRAWALS_SQL = """
WITH latest AS (
    SELECT s.external_id, st.status, st.occurred_at, st.valid_until, st.updated_at,
           ROW_NUMBER() OVER (
               PARTITION BY st.subject_id, p.slug ORDER BY st.occurred_at DESC, st.id DESC
           ) AS rank
    FROM {state} st
    JOIN {subject} s ON s.id = st.subject_id
    JOIN {purpose} p ON p.id = st.purpose_id
    WHERE s.namespace = %s AND p.slug IN ({slugs})
), judged AS (
    SELECT external_id, updated_at,
           CASE WHEN status IN ({valid}) AND (valid_until IS NULL OR valid_until > %s)
                THEN 1 ELSE 0 END AS still_valid,
           CASE WHEN status IN ({valid}) THEN valid_until
                WHEN status IN ({ended}) THEN occurred_at END AS ended_at
    FROM latest WHERE rank = 1
)
SELECT external_id, MAX(ended_at),
       MAX(CASE WHEN updated_at > ended_at THEN updated_at ELSE ended_at END)
FROM judged
GROUP BY external_id
HAVING MAX(still_valid) = 0 AND MAX(ended_at) IS NOT NULL
"""


def withdrawals(
    *, slugs: list[str], namespace: str, at: datetime
) -> dict[str, tuple[datetime, datetime]]:
    """``withdrawn_subjects`` with, for each subject, also the moment the registry knew: the
    latest of when its ending state was recorded and when it ended (a withdrawal recorded
    today with an earlier occurred_at was known today). Computed in the database, one row per
    withdrawn subject streamed back, never every state of the namespace."""
    if not slugs:
        return {}
    valid = sorted(VALID_FOR_PROCESSING)
    ended = sorted(ENDED)
    query = _WITHDRAWALS_SQL.format(
        state=connection.ops.quote_name(ConsentState._meta.db_table),
        subject=connection.ops.quote_name(Subject._meta.db_table),
        purpose=connection.ops.quote_name(Purpose._meta.db_table),
        slugs=", ".join(["%s"] * len(slugs)),
        valid=", ".join(["%s"] * len(valid)),
        ended=", ".join(["%s"] * len(ended)),
    )
    at_param = _db_datetime(at)
    params = [namespace, *slugs, *valid, at_param, *valid, *ended]
    found: dict[str, tuple[datetime, datetime]] = {}
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        while rows := cursor.fetchmany(5000):
            for external_id, ended_at, known_at in rows:
                found[external_id] = (_aware(ended_at), _aware(known_at))
    return found


def _db_datetime(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _aware(value) -> datetime:
    """Datetimes as the database driver returns them (SQLite: text) as aware UTC."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value


def holds_for(
    dataset: Dataset, namespace: str, *, related: bool = True
) -> tuple[list[LegalHold], list[LegalHold]]:
    """The active holds on ``dataset``: on the whole dataset, and on subjects of ``namespace``
    (in this dataset or in every dataset). One short query: a run reads them before every
    batch, without their dataset and author (``related=False``), which it does not show."""
    active = LegalHold.objects.filter(released_at__isnull=True).filter(
        Q(dataset=dataset) | Q(dataset__isnull=True)
    )
    if related:
        active = active.select_related("dataset", "placed_by")
    holds = list(active)
    dataset_holds = [h for h in holds if not h.external_id and h.dataset_id == dataset.pk]
    subject_holds = [h for h in holds if h.external_id and h.namespace == namespace]
    return dataset_holds, subject_holds


def plan_for(dataset: Dataset, *, now: datetime | None = None) -> Plan:
    """Everything due in ``dataset`` at ``now``. Reads only the registry, never the store."""
    now = now or timezone.now()
    policy = RetentionPolicy.objects.filter(dataset=dataset).first()
    plan = Plan(dataset=dataset, policy=policy, now=now)
    plan.bounds = purpose_bounds(dataset, now)
    namespace = policy.subject_namespace if policy else ""
    plan.dataset_holds, plan.subject_holds = holds_for(dataset, namespace)
    plan.held_subjects = {h.external_id for h in plan.subject_holds}
    if policy is None:
        plan.problems.append(MSG_NO_POLICY)
        return plan
    if not policy.enabled:
        plan.problems.append(MSG_POLICY_DISABLED)
    grace = timedelta(days=policy.grace_days)
    candidates = [(b.retention_days, f"purpose {b.slug} v{b.version}") for b in plan.bounds]
    if policy.max_age_days:
        candidates.append((policy.max_age_days, "the dataset's policy"))
    if candidates:
        plan.max_age_days, plan.max_age_source = min(candidates, key=lambda c: c[0])
        if dataset.event_time_field:
            plan.cutoff = now - timedelta(days=plan.max_age_days) - grace
        else:
            problem = MSG_NEEDS_EVENT_TIME.format(
                days=plan.max_age_days, source=plan.max_age_source
            )
            plan.problems.append(problem)
            plan.age_problems.append(problem)
    if policy.expires_on:
        plan.expires_at = _midnight(policy.expires_on) + grace
        plan.expired = now >= plan.expires_at
    consent_slugs = [b.slug for b in plan.bounds if b.consent_based]
    found = withdrawals(slugs=consent_slugs, namespace=namespace, at=now)
    plan.withdrawn = {external_id: ended for external_id, (ended, _) in found.items()}
    plan.withdrawn_known = {external_id: known for external_id, (_, known) in found.items()}
    targets = ErasureTarget.objects.filter(
        dataset=dataset,
        request__status=ErasureRequest.Status.OPEN,
        request__namespace=namespace,
    ).exclude(status=ErasureTarget.Status.ERASED)
    for request_id, external_id in targets.values_list("request_id", "request__external_id"):
        plan.requested.setdefault(external_id, []).append(request_id)
    due = (set(plan.withdrawn) | set(plan.requested)) - plan.held_subjects
    if due and not dataset.subject_id_field:
        plan.warnings.append(MSG_NEEDS_SUBJECT_FIELD.format(count=len(due)))
    return plan


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)
