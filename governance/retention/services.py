"""Writes of the retention app: policies, legal holds, erasure requests, and starting runs.

Who may do what is governance/retention/policy.py, called here before every write: a
dataset's stewards, privacy officers and administrators manage its retention; only privacy
officers place holds and handle erasure requests; auditors read; retention touches only the
store of an approved dataset whose location is its own.

Subject ids never go into the ledger in clear: events carry ``subject_sha256`` (SHA-256 of
``namespace:external_id``), which an auditor can recompute for a subject they are asked about.
"""

from __future__ import annotations

import calendar
import hashlib
from dataclasses import replace
from datetime import date

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from consent.identifiers import namespace_problem, subject_id_problem
from datasets import policy as catalog
from datasets.connectors import CONNECTORS
from datasets.models import Dataset
from governance.accounts.models import User
from governance.audit import services as audit
from governance.errors import ApplicationError, Conflict, NotFound, Unavailable
from governance.policy import require
from governance.retention import planning, policy
from governance.retention.models import (
    ErasureRequest,
    ErasureTarget,
    LegalHold,
    RetentionPolicy,
    RetentionRun,
)

MSG_POLICY_FORBIDDEN = policy.MSG_POLICY_FORBIDDEN
MSG_VIEW_FORBIDDEN = policy.MSG_VIEW_FORBIDDEN
MSG_PRIVACY_ONLY = policy.MSG_PRIVACY_ONLY
MSG_NO_DATASET = "No dataset {slug!r}."
MSG_MAX_AGE = "The maximum age must be a whole number of days, at least 1 (or empty)."
MSG_GRACE = "The grace period must be between 0 and 3650 days."
MSG_NEEDS_EVENT_TIME = (
    "A maximum age needs the dataset's event-time field, and this dataset names none: set it "
    "in the catalog first."
)
MSG_NOTHING_TO_ENFORCE = "Give a maximum age, an expiry date, or both."
MSG_BAD_ACTION = "The action must be 'delete' or 'anonymize'."
MSG_NO_CONNECTOR = (
    "Retention cannot reach a dataset stored as {kind!r}: it supports PostgreSQL tables and "
    "CSV, JSON Lines or Parquet files."
)
MSG_NEEDS_CONNECTION = (
    "A PostgreSQL table needs a connection: set the dataset's connection in the catalog to one "
    "of RETENTION_CONNECTIONS ({known})."
)
MSG_UNKNOWN_CONNECTION = (
    "The dataset's connection {name!r} is not one of RETENTION_CONNECTIONS ({known}): "
    "retention cannot reach it."
)
MSG_CONNECTION_IS_CATALOG = (
    "The dataset lives on connection {current!r}: a connection is part of where a dataset "
    "lives, changed in the catalog (with a new review), not in its retention policy."
)
MSG_NO_LOCATION = "The dataset has no location; set it in the catalog first."
MSG_ANONYMIZE_NEEDS_FIELDS = (
    "Anonymising needs fields classified as direct identifiers or a subject-id field; this "
    "dataset has none."
)
MSG_HOLD_REASON = "Give the reason for the hold (for example the case or matter it serves)."
MSG_HOLD_SCOPE = "A hold covers a dataset, a subject, or a subject in one dataset: name one."
MSG_HOLD_NOT_FOUND = "No such legal hold."
MSG_HOLD_RELEASED = "The hold was already released."
MSG_RELEASE_REASON = "Give the reason for releasing the hold."
MSG_RECEIVED_FUTURE = "The received date lies in the future."
MSG_NO_TARGETS = (
    "No dataset to erase from: name the datasets, or catalog a subject-id field on them."
)
MSG_TARGET_NO_SUBJECT_FIELD = (
    "Dataset {slug!r} names no subject-id field, so a subject's rows cannot be found in it."
)
MSG_REQUEST_NOT_FOUND = "No such erasure request."
MSG_REQUEST_CLOSED = "The request is closed ({status}); nothing more can change."
MSG_ALREADY_EXTENDED = (
    "The deadline was already extended; Art. 12(3) allows one extension of two months."
)
MSG_EXTENSION_REASON = "Give the reason for the extension; the subject must be told it."
MSG_EXTENSION_LATE = (
    "The one-month deadline ({due}) has passed: Art. 12(3) allows an extension only if the "
    "subject is told within the first month."
)
MSG_EXPIRY_PAST = (
    "The expiry date lies in the past: the next run would delete the whole dataset. Give today "
    "or a later date (keep an expiry date that has already passed by leaving it unchanged)."
)
MSG_TARGET_NO_POLICY = (
    "Dataset {slug!r} has no enabled retention policy for namespace {namespace!r}, so no run "
    "would erase the subject there: set one first."
)
MSG_REJECTION_REASON = "Give the exemption (Art. 17(3)) that applies."
MSG_RUN_ACTIVE = "A run of this dataset is already queued or running (run {run})."
MSG_RUN_NO_POLICY = "The dataset has no retention policy: set one before running."
MSG_RUN_DISABLED = "The dataset's retention policy is switched off."


def dataset_for(*, viewer: User, slug: str, manage: bool = False) -> Dataset:
    """A dataset the viewer may see (or manage) the retention of; NotFound or NotPermitted."""
    dataset = Dataset.objects.filter(slug=slug).first()
    if dataset is None or catalog.may_view(viewer, dataset) is not None:
        raise NotFound(MSG_NO_DATASET.format(slug=slug))
    require(policy.may_manage(viewer, dataset) if manage else policy.may_view(viewer, dataset))
    return dataset


def subject_sha256(namespace: str, external_id: str) -> str:
    return hashlib.sha256(f"{namespace}:{external_id}".encode()).hexdigest()


# --- policies ---------------------------------------------------------------------------------


def _policy_problems(dataset: Dataset, fields: dict) -> dict[str, str]:
    from django.conf import settings

    problems: dict[str, str] = {}
    max_age = fields.get("max_age_days")
    if max_age is not None and (
        isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 1
    ):
        problems["max_age_days"] = MSG_MAX_AGE
    grace = fields.get("grace_days", 0)
    if isinstance(grace, bool) or not isinstance(grace, int) or not 0 <= grace <= 3650:
        problems["grace_days"] = MSG_GRACE
    if fields.get("action", "delete") not in RetentionPolicy.Action.values:
        problems["action"] = MSG_BAD_ACTION
    if max_age and not dataset.event_time_field:
        problems.setdefault("max_age_days", MSG_NEEDS_EVENT_TIME)
    # A purpose's retention period alone is enough once the dataset serves a purpose.
    if (
        not max_age
        and not fields.get("expires_on")
        and "max_age_days" not in problems
        and not planning.purpose_bounds(dataset, timezone.now())
    ):
        problems["max_age_days"] = MSG_NOTHING_TO_ENFORCE
    if dataset.storage_kind not in CONNECTORS:
        problems["storage_kind"] = MSG_NO_CONNECTOR.format(kind=dataset.storage_kind)
    elif not dataset.location:
        problems["location"] = MSG_NO_LOCATION
    asked = fields.get("connection") or ""
    if asked and asked != dataset.connection:
        problems["connection"] = MSG_CONNECTION_IS_CATALOG.format(
            current=dataset.connection or "(none)"
        )
    elif dataset.storage_kind == Dataset.StorageKind.POSTGRES_TABLE:
        connections = getattr(settings, "RETENTION_CONNECTIONS", {}) or {}
        known = ", ".join(sorted(connections)) or "none configured"
        if not dataset.connection:
            problems["connection"] = MSG_NEEDS_CONNECTION.format(known=known)
        elif dataset.connection not in connections:
            problems["connection"] = MSG_UNKNOWN_CONNECTION.format(
                name=dataset.connection, known=known
            )
    if fields.get("action") == RetentionPolicy.Action.ANONYMIZE:
        identifiers = dataset.fields.filter(role="direct_identifier").exists()
        if not identifiers and not dataset.subject_id_field:
            problems["action"] = MSG_ANONYMIZE_NEEDS_FIELDS
    if problem := namespace_problem(fields.get("subject_namespace") or "default"):
        problems["subject_namespace"] = problem
    return problems


@audit.records_refusal("retention.policy_refused", target="dataset", actor="actor")
@transaction.atomic
def policy_set(
    *,
    dataset: Dataset,
    actor: User,
    max_age_days: int | None = None,
    grace_days: int = 0,
    expires_on: date | None = None,
    action: str = RetentionPolicy.Action.DELETE,
    connection: str = "",
    subject_namespace: str = "",
    enabled: bool = True,
) -> RetentionPolicy:
    """Create or replace the dataset's retention policy; every change is in the ledger.
    ``connection``, if given, must be the dataset's own (the catalog says where it lives).
    ``subject_namespace`` left empty is the dataset's own (the catalog's), else "default"."""
    require(policy.may_manage(actor, dataset))
    fields = {
        "max_age_days": max_age_days,
        "grace_days": grace_days,
        "expires_on": expires_on,
        "action": action,
        "subject_namespace": subject_namespace or dataset.subject_namespace or "default",
        "enabled": enabled,
    }
    problems = _policy_problems(dataset, {**fields, "connection": connection or ""})
    current = RetentionPolicy.objects.filter(dataset=dataset).first()
    if (
        expires_on is not None
        and expires_on < timezone.now().date()
        and (current is None or current.expires_on != expires_on)
    ):
        problems.setdefault("expires_on", MSG_EXPIRY_PAST)
    if problems:
        first = next(iter(problems))
        raise ApplicationError(problems[first], {"field": first, "fields": problems})
    now = timezone.now()
    record = RetentionPolicy.objects.select_for_update().filter(dataset=dataset).first()
    if record is None:
        record = RetentionPolicy(dataset=dataset, created_by=actor, created_at=now)
    for name, value in fields.items():
        setattr(record, name, value)
    record.updated_by = actor
    record.updated_at = now
    record.save()
    audit.record(
        action="retention.policy_set",
        target=dataset,
        actor=actor,
        data={"dataset": dataset.slug, "connection": dataset.connection, **fields},
    )
    return record


# --- legal holds ------------------------------------------------------------------------------


def _holds_exclusive(function):
    """Placing a hold takes the hold lock exclusively until its transaction has committed:
    on PostgreSQL the advisory lock inside the transaction (``_take_hold_lock``), elsewhere a
    file lock around it (``runner.hold_file_lock``)."""
    import functools

    @functools.wraps(function)
    def wrapped(*args, **kwargs):
        from governance.retention.runner import hold_file_lock

        with hold_file_lock(shared=False):
            return function(*args, **kwargs)

    return wrapped


@audit.records_refusal("retention.hold_refused", actor="actor")
@_holds_exclusive
@transaction.atomic
def hold_place(
    *,
    actor: User,
    reason: str,
    dataset: Dataset | None = None,
    namespace: str = "",
    external_id: str = "",
    reference: str = "",
) -> LegalHold:
    """Stop deletion of a dataset, or of a subject's rows (everywhere or in one dataset)."""
    require(policy.may_handle_holds(actor))
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(MSG_HOLD_REASON, {"field": "reason"})
    external_id = (external_id or "").strip()
    if dataset is None and not external_id:
        raise ApplicationError(MSG_HOLD_SCOPE, {"field": "dataset"})
    if external_id:
        namespace = namespace or "default"
        if problem := namespace_problem(namespace):
            raise ApplicationError(problem, {"field": "namespace"})
        if problem := subject_id_problem(external_id):
            raise ApplicationError(problem, {"field": "external_id"})
    else:
        namespace = ""
    # Waits for a batch being applied right now; every later batch sees this hold.
    _take_hold_lock()
    hold = LegalHold.objects.create(
        dataset=dataset,
        namespace=namespace,
        external_id=external_id,
        reason=reason,
        reference=(reference or "").strip()[:200],
        placed_by=actor,
    )
    audit.record(
        action="retention.hold_placed",
        target=hold,
        actor=actor,
        data=_hold_summary(hold),
    )
    # Pending erasures of the held subject (or in the held dataset) show the hold.
    _mark_targets_held(hold)
    return hold


def _take_hold_lock() -> None:
    """Exclusive, until this transaction ends (see runner.hold_lock)."""
    from governance.retention.runner import HOLD_LOCK

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", list(HOLD_LOCK))


def _hold_summary(hold: LegalHold) -> dict:
    summary = {
        "hold": hold.pk,
        "dataset": hold.dataset.slug if hold.dataset_id else None,
        "reason": hold.reason,
        "reference": hold.reference,
    }
    if hold.external_id:
        summary["subject_sha256"] = subject_sha256(hold.namespace, hold.external_id)
    return summary


def _mark_targets_held(hold: LegalHold) -> None:
    targets = ErasureTarget.objects.filter(
        request__status=ErasureRequest.Status.OPEN, status=ErasureTarget.Status.PENDING
    )
    if hold.dataset_id:
        targets = targets.filter(dataset_id=hold.dataset_id)
    if hold.external_id:
        targets = targets.filter(
            request__namespace=hold.namespace, request__external_id=hold.external_id
        )
    targets.update(status=ErasureTarget.Status.HELD, updated_at=timezone.now())


@audit.records_refusal("retention.hold_refused", actor="actor")
@transaction.atomic
def hold_release(*, hold_id: int, actor: User, reason: str) -> LegalHold:
    require(policy.may_handle_holds(actor))
    hold = LegalHold.objects.select_for_update().filter(pk=hold_id).first()
    if hold is None:
        raise NotFound(MSG_HOLD_NOT_FOUND)
    if hold.released_at is not None:
        raise Conflict(MSG_HOLD_RELEASED)
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(MSG_RELEASE_REASON, {"field": "reason"})
    hold.released_at = timezone.now()
    hold.released_by = actor
    hold.release_reason = reason
    hold.save(update_fields=["released_at", "released_by", "release_reason"])
    audit.record(
        action="retention.hold_released",
        target=hold,
        actor=actor,
        data={**_hold_summary(hold), "release_reason": reason},
    )
    # Erasures that waited for this hold go back to the queue unless another hold still applies.
    held = ErasureTarget.objects.filter(
        request__status=ErasureRequest.Status.OPEN, status=ErasureTarget.Status.HELD
    ).select_related("request", "dataset")
    for target in held:
        plan_holds = planning.holds_for(target.dataset, target.request.namespace)
        still = plan_holds[0] or any(
            h.external_id == target.request.external_id for h in plan_holds[1]
        )
        if not still:
            target.status = ErasureTarget.Status.PENDING
            target.updated_at = timezone.now()
            target.save(update_fields=["status", "updated_at"])
    return hold


# --- erasure requests -------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, or the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@audit.records_refusal("retention.erasure_refused", actor="actor")
@transaction.atomic
def erasure_request_create(
    *,
    actor: User,
    external_id: str,
    received_on: date,
    namespace: str = "default",
    datasets: list[Dataset] | None = None,
    reference: str = "",
    note: str = "",
) -> ErasureRequest:
    """Record an Art. 17 request; due one month after receipt. Without ``datasets``, every
    dataset with a subject-id field and a retention policy in the subject's namespace."""
    require(policy.may_handle_erasure(actor))
    namespace = namespace or "default"
    external_id = (external_id or "").strip()
    if problem := namespace_problem(namespace):
        raise ApplicationError(problem, {"field": "namespace"})
    if problem := subject_id_problem(external_id):
        raise ApplicationError(problem, {"field": "external_id"})
    if received_on > timezone.now().date():
        raise ApplicationError(MSG_RECEIVED_FUTURE, {"field": "received_on"})
    if datasets:
        for dataset in datasets:
            if not dataset.subject_id_field:
                raise ApplicationError(
                    MSG_TARGET_NO_SUBJECT_FIELD.format(slug=dataset.slug),
                    {"field": "datasets"},
                )
            if not RetentionPolicy.objects.filter(
                dataset=dataset, enabled=True, subject_namespace=namespace
            ).exists():
                raise ApplicationError(
                    MSG_TARGET_NO_POLICY.format(slug=dataset.slug, namespace=namespace),
                    {"field": "datasets"},
                )
        chosen = list({d.pk: d for d in datasets}.values())
    else:
        chosen = list(
            Dataset.objects.exclude(subject_id_field="")
            .filter(
                retention_policy__subject_namespace=namespace,
                retention_policy__enabled=True,
            )
            .order_by("slug")
        )
    if not chosen:
        raise ApplicationError(MSG_NO_TARGETS, {"field": "datasets"})
    request = ErasureRequest.objects.create(
        namespace=namespace,
        external_id=external_id,
        received_on=received_on,
        due_on=add_months(received_on, 1),
        reference=(reference or "").strip()[:200],
        note=note or "",
        created_by=actor,
    )
    ErasureTarget.objects.bulk_create(
        ErasureTarget(request=request, dataset=dataset) for dataset in chosen
    )
    for dataset in chosen:
        dataset_holds, subject_holds = planning.holds_for(dataset, namespace)
        if dataset_holds or any(h.external_id == external_id for h in subject_holds):
            request.targets.filter(dataset=dataset).update(status=ErasureTarget.Status.HELD)
    audit.record(
        action="retention.erasure_requested",
        target=request,
        actor=actor,
        data={
            "request": request.pk,
            "subject_sha256": subject_sha256(namespace, external_id),
            "received_on": received_on,
            "due_on": request.due_on,
            "datasets": [d.slug for d in chosen],
            "reference": request.reference,
        },
    )
    from governance.retention.tasks import erasure_dispatch_task

    transaction.on_commit(lambda: erasure_dispatch_task.delay())
    return request


def _open_request(request_id: int) -> ErasureRequest:
    request = ErasureRequest.objects.select_for_update().filter(pk=request_id).first()
    if request is None:
        raise NotFound(MSG_REQUEST_NOT_FOUND)
    if request.status != ErasureRequest.Status.OPEN:
        raise Conflict(MSG_REQUEST_CLOSED.format(status=request.status))
    return request


@audit.records_refusal("retention.erasure_refused", actor="actor")
@transaction.atomic
def erasure_request_extend(*, request_id: int, actor: User, reason: str) -> ErasureRequest:
    """Extend the deadline by two further months (three from receipt), once, with a reason."""
    require(policy.may_handle_erasure(actor))
    request = _open_request(request_id)
    if request.extended:
        raise Conflict(MSG_ALREADY_EXTENDED)
    if timezone.now().date() > request.due_on:
        raise Conflict(MSG_EXTENSION_LATE.format(due=request.due_on.isoformat()))
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(MSG_EXTENSION_REASON, {"field": "reason"})
    request.extended = True
    request.extension_reason = reason
    request.due_on = add_months(request.received_on, 3)
    request.save(update_fields=["extended", "extension_reason", "due_on"])
    audit.record(
        action="retention.erasure_extended",
        target=request,
        actor=actor,
        data={"request": request.pk, "due_on": request.due_on, "reason": reason},
    )
    return request


@audit.records_refusal("retention.erasure_refused", actor="actor")
@transaction.atomic
def erasure_request_reject(*, request_id: int, actor: User, reason: str) -> ErasureRequest:
    require(policy.may_handle_erasure(actor))
    request = _open_request(request_id)
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(MSG_REJECTION_REASON, {"field": "reason"})
    request.status = ErasureRequest.Status.REJECTED
    request.rejection_reason = reason
    request.closed_at = timezone.now()
    request.closed_by = actor
    request.save(update_fields=["status", "rejection_reason", "closed_at", "closed_by"])
    audit.record(
        action="retention.erasure_rejected",
        target=request,
        actor=actor,
        data={"request": request.pk, "reason": reason},
    )
    return request


# --- runs -------------------------------------------------------------------------------------


def _plan_summary(plan: planning.Plan, kind: str) -> dict:
    return {
        "kind": kind,
        "action": plan.action,
        "max_age_days": plan.max_age_days if kind == RetentionRun.Kind.RETENTION else None,
        "max_age_source": plan.max_age_source if kind == RetentionRun.Kind.RETENTION else "",
        "grace_days": plan.policy.grace_days if plan.policy else 0,
        "cutoff": plan.cutoff.isoformat()
        if plan.cutoff and kind == RetentionRun.Kind.RETENTION
        else None,
        "expires_at": plan.expires_at.isoformat() if plan.expires_at else None,
        "expired": plan.expired and kind == RetentionRun.Kind.RETENTION,
        "purposes": [
            {"slug": b.slug, "version": b.version, "retention_days": b.retention_days}
            for b in plan.bounds
        ],
        "withdrawn_subjects": len(set(plan.withdrawn) - plan.held_subjects),
        "requested_subjects": len(set(plan.requested) - plan.held_subjects),
        "held_subjects": len(plan.held_subjects),
        "dataset_holds": [h.pk for h in plan.dataset_holds],
        "namespace": plan.policy.subject_namespace if plan.policy else "",
        "problems": plan.problems_for(kind),
        "warnings": list(plan.warnings),
    }


def run_create(
    *,
    dataset: Dataset,
    kind: str,
    trigger: str,
    actor: User | None,
    plan: planning.Plan | None = None,
    confirmed: dict | None = None,
) -> RetentionRun | None:
    """Create a queued run with its criteria fixed, and enqueue it after commit. Returns None
    when another run of the dataset is already queued or running (the database's unique
    constraint is the lock two schedulers meet on)."""
    plan = plan or planning.plan_for(dataset)
    subject_ids = sorted(plan.subject_ids)
    request_ids = sorted(
        {pk for sid, pks in plan.requested.items() if sid in plan.subject_ids for pk in pks}
    )
    try:
        with transaction.atomic():
            run = RetentionRun.objects.create(
                dataset=dataset,
                kind=kind,
                trigger=trigger,
                requested_by=actor,
                plan=_plan_summary(plan, kind),
                subject_ids=subject_ids,
                held_subject_ids=sorted(plan.held_subjects),
                subjects_count=len(subject_ids),
                subjects_sha256=planning.subjects_digest(subject_ids),
                erasure_request_ids=request_ids,
            )
    except IntegrityError:
        return None
    audit.record(
        action="retention.run_queued",
        target=run,
        actor=actor,
        data={
            "run": run.pk,
            "dataset": dataset.slug,
            "kind": kind,
            "trigger": trigger,
            "subjects": len(subject_ids),
            "subjects_sha256": run.subjects_sha256,
            # What the person saw and confirmed before starting it (portal "Run now").
            **({"confirmed_preview": confirmed} if confirmed is not None else {}),
        },
    )
    from governance.retention.tasks import run_execute_task

    transaction.on_commit(lambda: run_execute_task.delay(run.pk))
    return run


@audit.records_refusal("retention.run_refused", target="dataset", actor="actor")
@transaction.atomic
def run_start(
    *, dataset: Dataset, actor: User, kind: str = "retention", confirmed: dict | None = None
) -> RetentionRun:
    """A person starts a run now (the portal's and the API's "Run now"): only for an approved
    dataset whose location is its own. The dataset row is locked, so a concurrent reopen
    (which locks it too) is either seen here or happens after the run is queued — and the
    runner checks again before it touches the store."""
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    require(policy.may_manage(actor, dataset))
    require(policy.store_refusal(dataset))
    if kind not in RetentionRun.Kind.values:
        raise ApplicationError(
            f"Unknown run kind {kind!r}; choose retention or erasure.", {"field": "kind"}
        )
    record = RetentionPolicy.objects.filter(dataset=dataset).first()
    if record is None:
        raise Conflict(MSG_RUN_NO_POLICY)
    if not record.enabled:
        raise Conflict(MSG_RUN_DISABLED)
    active = RetentionRun.objects.filter(dataset=dataset, status__in=["queued", "running"]).first()
    if active is not None:
        raise Conflict(MSG_RUN_ACTIVE.format(run=active.pk), {"run": active.pk})
    if confirmed is not None:
        # The portal's confirmation page: compare what the person saw with a dry run made now,
        # under the dataset's lock (ADR 0012 addendum).
        fresh = retention_preview(dataset=dataset, viewer=actor, kind=kind)
        require(policy.confirmation_refusal(confirmed, fresh))
    run = run_create(
        dataset=dataset,
        kind=kind,
        trigger=RetentionRun.Trigger.MANUAL,
        actor=actor,
        confirmed=confirmed,
    )
    if run is None:  # a scheduler won the race between our check and our insert
        raise Conflict(MSG_RUN_ACTIVE.format(run="?"))
    return run


# --- dry run ----------------------------------------------------------------------------------

MSG_PREVIEW_STORE = "The dry run could not read the dataset's store: {reason}"


@audit.records_refusal("retention.preview_refused", target="dataset", actor="viewer")
@transaction.atomic
def retention_preview(
    *, dataset: Dataset, viewer: User, kind: str = RetentionRun.Kind.RETENTION
) -> dict:
    """What a run of ``kind`` started now would delete, read from the store without changing
    it: counts per operation, the oldest matching row, the number of subjects affected, and
    every hold that would stop or narrow it. The preview itself is a ledger event."""
    from datasets.connectors import DELETE, ConnectorError, connector_for

    dataset = Dataset.objects.get(pk=dataset.pk)
    require(policy.may_view(viewer, dataset))
    require(policy.store_refusal(dataset))
    plan = planning.plan_for(dataset)
    summary = _plan_summary(plan, kind)
    last_run = RetentionRun.objects.filter(dataset=dataset).order_by("-pk").first()
    result: dict = {
        "dataset": dataset.slug,
        # What a confirmation of this preview is about (the portal's "Run now" carries it).
        "fingerprint": policy.confirmation_fingerprint(
            summary, last_run=last_run.pk if last_run else None
        ),
        "at": plan.now,
        "kind": kind,
        "held": plan.is_held,
        "holds": [
            {"id": h.pk, "reason": h.reason, "placed_by": h.placed_by.username}
            for h in plan.dataset_holds
        ],
        "erasure_due_by": plan.erasure_due_by,
        **summary,
        "operations": [],
        "totals": {"rows": 0, "files": 0, "subjects": 0},
    }
    if plan.policy is not None and not summary["problems"]:
        connector = connector_for(
            storage_kind=dataset.storage_kind,
            location=dataset.location,
            layout=plan.layout(),
            options={"connection": dataset.connection},
        )
        try:
            # A run applies its operations in turn: rows of the subjects an earlier deletion
            # erased are gone before a later operation (anonymisation) reads the store, so
            # they are counted once, by the deletion.
            erased: frozenset[str] = frozenset()
            for operation, criteria in plan.operations(kind):
                counted = criteria
                if erased:
                    counted = replace(criteria, keep_subject_ids=criteria.keep_subject_ids | erased)
                found = connector.preview(counted, operation)
                if operation == DELETE:
                    erased |= criteria.subject_ids
                result["operations"].append(
                    {
                        "operation": operation,
                        "criteria": criteria.describe(),
                        "rows": found.rows,
                        "files": found.files,
                        "oldest": found.oldest,
                        "subjects": found.subjects,
                    }
                )
                result["totals"]["rows"] += found.rows
                result["totals"]["files"] += found.files
                result["totals"]["subjects"] += found.subjects
        except ConnectorError as error:
            message = MSG_PREVIEW_STORE.format(reason=error.message)
            details = {"connector_code": error.code}
            if error.code == "unreachable":
                raise Unavailable(message, details) from None
            raise Conflict(message, details) from None
        finally:
            connector.close()
    audit.record(
        action="retention.previewed",
        target=dataset,
        actor=viewer,
        data={"dataset": dataset.slug, "kind": kind, "totals": result["totals"]},
    )
    return result
