"""Executing a retention run: journaled batches through a connector, resumable after a crash,
ending in a post-deletion verification and a deletion certificate.

Order of writes for each batch (each step commits before the next):
1. ``RunBatch`` row, state pending, with the batch's payload (the keys or the file);
2. the connector applies the batch in the store (one transaction / one atomic rename);
3. the batch is marked done and the run's counters are incremented, in one transaction.

A crash between 1 and 3 leaves a pending batch. The next attempt asks the connector whether
it was applied: if so it is counted (3), otherwise it is discarded and its rows are simply
planned again. So every row is deleted once and counted once, however often the worker dies.

Holds take effect at any moment, not only when an attempt starts. Placing a hold takes the
hold lock (``hold_lock``, exclusive); each batch is applied while the runner holds it shared
and has re-read the holds under it. So a hold committed before a batch is seen by that batch
(a dataset hold stops the run; a new subject hold discards the planned batch and the rest is
planned again with the subject kept), and a hold placed during a batch's apply waits for that
one batch. The connector repeats the criteria, keep list included, in every change it makes,
so a row that stopped matching (held, updated, no longer past retention) is not touched.

Only one worker executes a dataset's run at a time: a PostgreSQL session advisory lock keyed
by the dataset is held for the whole execution (released on return, or by the server when the
worker's connection dies). A redelivered task that finds the lock taken leaves the run to its
holder; one that finds the run finished does nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from itertools import count

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from datasets.connectors import ANONYMIZE, Batch, Connector, ConnectorError, connector_for
from governance.audit import services as audit
from governance.retention import planning
from governance.retention import policy as retention_policy
from governance.retention.models import (
    DeletionCertificate,
    ErasureRequest,
    ErasureTarget,
    LegalHold,
    RetentionPolicy,
    RetentionRun,
    RunBatch,
)

logger = logging.getLogger(__name__)

LOCK_CLASS = 0x52455445  # "RETE": the first key of pg_try_advisory_lock(int, int)
HOLD_LOCK = (0x484F4C44, 0)  # "HOLD": holds are placed exclusive, batches applied shared
MSG_INTERNAL = "The run failed unexpectedly; the error was logged. Nothing more was deleted."
MSG_HELD = "A legal hold on the dataset stopped the run: {reasons}"
MSG_VERIFY_FAILED = (
    "Verification found {count} row(s) still matching the criteria after the run "
    "({operation}); new rows may be arriving faster than they are deleted."
)
NOTE_NOTHING = "Nothing matched: every row the criteria cover was already deleted."


class _Held(Exception):
    pass


class _Unverified(Exception):
    pass


class _HoldsChanged(Exception):
    """New subject holds since the batch was planned: plan again with them kept."""

    def __init__(self, subjects: set[str]) -> None:
        super().__init__(f"{len(subjects)} subject(s) newly held")
        self.subjects = subjects


@contextmanager
def hold_file_lock(*, shared: bool):
    """The hold lock where there is no PostgreSQL (the embedded SQLite setup of `make run`,
    whose web workers and Celery worker are processes on one machine): an flock on a file
    under VAR_DIR. A no-op on PostgreSQL, where the advisory lock below is used."""
    if connection.vendor == "postgresql":
        yield
        return
    import fcntl

    path = settings.VAR_DIR / "locks" / "retention-holds.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def hold_lock(*, shared: bool):
    """A transaction holding the hold lock: exclusive for placing a hold, shared for applying
    a batch. Holds read inside a shared section stay true until it ends."""
    with hold_file_lock(shared=shared), transaction.atomic():
        if connection.vendor == "postgresql":
            function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT {function}(%s, %s)", list(HOLD_LOCK))
        yield


@contextmanager
def dataset_lock(dataset_id: int):
    """Yield True when this process holds the dataset's run lock (PostgreSQL), else False.
    The embedded SQLite setup runs one worker, so it needs no lock."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_CLASS, dataset_id])
        got = cursor.fetchone()[0]
    try:
        yield got
    finally:
        if got:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_CLASS, dataset_id])


def run_execute(*, run_id: int) -> RetentionRun | None:
    """Execute (or resume) a run. Returns None when another worker holds the dataset's lock."""
    dataset_id = RetentionRun.objects.filter(pk=run_id).values_list("dataset_id", flat=True).first()
    if dataset_id is None:
        return None
    with dataset_lock(dataset_id) as locked:
        if not locked:
            logger.info("run %s: another worker holds dataset %s", run_id, dataset_id)
            return None
        with transaction.atomic():
            run = RetentionRun.objects.select_for_update().get(pk=run_id)
            if run.is_finished:
                return run
            now = timezone.now()
            resumed = run.status == RetentionRun.Status.RUNNING
            run.status = RetentionRun.Status.RUNNING
            run.started_at = run.started_at or now
            run.heartbeat_at = now
            run.attempts += 1
            run.save(update_fields=["status", "started_at", "heartbeat_at", "attempts"])
            audit.record(
                action="retention.run_resumed" if resumed else "retention.run_started",
                target=run,
                actor=run.requested_by,
                data={"run": run.pk, "dataset": run.dataset.slug, "attempt": run.attempts},
            )
        return _execute(run)


def _connector(run: RetentionRun) -> Connector:
    return connector_for(
        storage_kind=run.dataset.storage_kind,
        location=run.dataset.location,
        layout=planning.layout_for(run.dataset),
        options={"connection": run.dataset.connection},
    )


def _operations(run: RetentionRun, held: set[str]):
    cutoff = run.plan.get("cutoff")
    return planning.operations_for(
        action=run.plan.get("action", RetentionPolicy.Action.DELETE),
        cutoff=datetime.fromisoformat(cutoff) if cutoff else None,
        everything=bool(run.plan.get("expired")),
        subjects=set(run.subject_ids) - held,
        keep=held,
    )


def _execute(run: RetentionRun) -> RetentionRun:
    # The criteria are fixed on the run; only the policy (how to reach the store) and the
    # holds are read again, so a resumed attempt never recomputes who is due.
    policy = RetentionPolicy.objects.filter(dataset=run.dataset).first()
    if run.plan.get("problems"):
        return _fail(run, "invalid", " ".join(run.plan["problems"]), [])
    if policy is None:
        return _fail(run, "invalid", planning.MSG_NO_POLICY, [])
    # Between queueing and now the dataset may have been reopened (its location under review)
    # or its location may have come to overlap another dataset's: touch nothing then.
    refusal = retention_policy.store_refusal(run.dataset)
    if refusal is not None:
        if run.batches.filter(state=RunBatch.State.PENDING).exists():
            settling = _connector(run)
            try:
                _reconcile_quietly(run, settling)
            finally:
                settling.close()
        return _fail(run, "refused", refusal.message, [])
    namespace = policy.subject_namespace
    dataset_holds, subject_holds = planning.holds_for(run.dataset, namespace)
    # Holds placed after the run was created count too.
    held = set(run.held_subject_ids) | {hold.external_id for hold in subject_holds}
    operations = _operations(run, held)
    connector = None
    verification: list[dict] = []
    sequence = count((run.batches.aggregate(last=Max("seq"))["last"] or 0) + 1)
    try:
        if dataset_holds:
            raise _Held(dataset_holds)
        connector = _connector(run)
        for operation, criteria in operations:
            connector.check(criteria, operation)  # before anything changes
        _reconcile(run, connector, operations)
        while True:
            try:
                for operation, criteria in operations:
                    _drain(run, connector, operation, criteria, sequence, namespace)
                # Counted after the last batch of every operation, unless one more pass runs.
                counted = [_verified(connector, *pair) for pair in operations]
                again = False
                for (operation, criteria), check in zip(operations, counted, strict=True):
                    if check["remaining"]:  # rows that arrived during the run: one more pass
                        _drain(run, connector, operation, criteria, sequence, namespace)
                        again = True
                break
            except _HoldsChanged as change:
                held |= change.subjects
                operations = _operations(run, held)
        # The verification is a count made after the last batch. When the counts above found
        # nothing left, no batch ran after them: they are that count (one full count of the
        # criteria per run instead of two).
        if again:
            counted = [_verified(connector, *pair) for pair in operations]
        for check in counted:
            verification.append(check)
            if check["remaining"]:
                raise _Unverified(
                    MSG_VERIFY_FAILED.format(count=check["remaining"], operation=check["operation"])
                )
        return _complete(run, RetentionRun.Status.SUCCEEDED, operations, verification, held)
    except _Held as stop:
        holds = stop.args[0] if stop.args else _dataset_holds(run.dataset_id)
        reasons = "; ".join(h.reason for h in holds) or "hold placed"
        return _complete(
            run,
            RetentionRun.Status.HELD,
            operations,
            verification,
            held,
            error=MSG_HELD.format(reasons=reasons),
        )
    except _Unverified as error:
        return _fail(run, "unverified", str(error), verification, operations, held)
    except ConnectorError as error:
        if connector is not None:
            _reconcile_quietly(run, connector)
        return _fail(run, error.code, error.message, verification, operations, held)
    except Exception:
        logger.exception("retention run %s failed", run.pk)
        if connector is not None:
            _reconcile_quietly(run, connector)
        return _fail(run, "internal", MSG_INTERNAL, verification, operations, held)
    finally:
        if connector is not None:
            connector.close()


def _verified(connector: Connector, operation: str, criteria) -> dict:
    """The post-deletion verification of one operation: how many rows still match."""
    return {
        "operation": operation,
        "criteria": criteria.describe(),
        "remaining": connector.remaining(criteria, operation),
        "method": connector.verification_method(operation),
        "checked_at": timezone.now().isoformat(),
    }


def _dataset_holds(dataset_id: int) -> list[LegalHold]:
    return list(
        LegalHold.objects.filter(dataset_id=dataset_id, external_id="", released_at__isnull=True)
    )


def _reconcile(run: RetentionRun, connector: Connector, operations=None) -> None:
    """Settle batches journaled by an attempt that died: count the applied, drop the rest."""
    if operations is None:
        policy = RetentionPolicy.objects.filter(dataset=run.dataset).first()
        namespace = policy.subject_namespace if policy else ""
        held = set(run.held_subject_ids) | {
            hold.external_id for hold in planning.holds_for(run.dataset, namespace)[1]
        }
        operations = _operations(run, held)
    criteria_of = dict(operations)
    for journal in run.batches.filter(state=RunBatch.State.PENDING).order_by("seq"):
        batch = Batch(
            payload=journal.payload, rows=journal.rows_planned, files=journal.files_planned
        )
        criteria = criteria_of.get(journal.operation)
        changed = None if criteria is None else connector.applied(batch, criteria)
        if changed is not None:
            _mark_done(run, journal, changed, journal.files_planned)
        else:
            connector.discard(batch)
            _mark_discarded(journal)


def _reconcile_quietly(run: RetentionRun, connector: Connector) -> None:
    try:
        _reconcile(run, connector)
    except Exception:  # the store may be gone; the next attempt settles the batch
        logger.warning("run %s: could not settle pending batches", run.pk, exc_info=True)


def _drain(
    run: RetentionRun,
    connector: Connector,
    operation: str,
    criteria,
    sequence: Iterator[int],
    namespace: str,
) -> None:
    pause = settings.RETENTION_BATCH_PAUSE_MS / 1000
    for batch in connector.plan(criteria, operation, batch_size=settings.RETENTION_BATCH_SIZE):
        journal = RunBatch.objects.create(
            run=run,
            seq=next(sequence),
            operation=operation,
            payload=batch.payload,
            rows_planned=batch.rows,
            files_planned=batch.files,
        )
        changed = None
        with hold_lock(shared=True):
            dataset_holds, subject_holds = planning.holds_for(run.dataset, namespace, related=False)
            newly_held = {h.external_id for h in subject_holds} - criteria.keep_subject_ids
            if not dataset_holds and not newly_held:
                changed = connector.apply(batch, criteria)
                # In the hold lock's transaction: one registry commit per batch, not two. If
                # it does not commit after the store did, the batch stays pending and the next
                # attempt counts it through ``applied`` (step 3 of the module docstring).
                _mark_done(run, journal, changed, batch.files)
        if changed is None:
            connector.discard(batch)
            _mark_discarded(journal)
            if dataset_holds:
                raise _Held(dataset_holds)
            raise _HoldsChanged(newly_held)
        if pause:
            time.sleep(pause)


def _mark_discarded(journal: RunBatch) -> None:
    journal.state = RunBatch.State.DISCARDED
    journal.done_at = timezone.now()
    journal.save(update_fields=["state", "done_at"])


@transaction.atomic(savepoint=False)  # inside the hold lock's transaction: no savepoint
def _mark_done(run: RetentionRun, journal: RunBatch, rows: int, files: int) -> None:
    journal.state = RunBatch.State.DONE
    journal.rows_done = rows
    journal.files_done = files
    journal.done_at = timezone.now()
    journal.save(update_fields=["state", "rows_done", "files_done", "done_at"])
    counter = "rows_anonymized" if journal.operation == ANONYMIZE else "rows_deleted"
    RetentionRun.objects.filter(pk=run.pk).update(
        **{counter: F(counter) + rows},
        files_deleted=F("files_deleted") + files,
        batches_done=F("batches_done") + 1,
        heartbeat_at=timezone.now(),
    )


def canonical(document: dict) -> bytes:
    return json.dumps(
        document, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":")
    ).encode()


def _certificate_document(
    run: RetentionRun, outcome: str, operations, verification, held: set[str], error: str
) -> dict:
    dataset = run.dataset
    erased = sorted(set(run.subject_ids) - held)
    document = {
        "type": "deletion-certificate",
        "version": 1,
        "run": run.pk,
        "outcome": outcome,
        "dataset": {
            "slug": dataset.slug,
            "name": dataset.name,
            "storage_kind": dataset.storage_kind,
            "location": dataset.location,
        },
        "kind": run.kind,
        "trigger": run.trigger,
        "requested_by": run.requested_by.username if run.requested_by_id else None,
        "criteria": {
            "action": run.plan.get("action"),
            "max_age_days": run.plan.get("max_age_days"),
            "max_age_source": run.plan.get("max_age_source"),
            "grace_days": run.plan.get("grace_days"),
            "cutoff": run.plan.get("cutoff"),
            "expired": run.plan.get("expired"),
            "purposes": run.plan.get("purposes", []),
            "warnings": run.plan.get("warnings", []),
            "operations": [
                {"operation": operation, **criteria.describe()}
                for operation, criteria in operations
            ],
        },
        "rows_deleted": run.rows_deleted,
        "rows_anonymized": run.rows_anonymized,
        "files_deleted": run.files_deleted,
        "batches": run.batches_done,
        "attempts": run.attempts,
        "subjects": {
            "erased_count": len(erased),
            "erased_sha256": planning.subjects_digest(erased),
            "digest": "SHA-256 over the sorted subject ids, one per line ('id\\n').",
            "withdrawn_count": run.plan.get("withdrawn_subjects", 0),
            "requested_count": run.plan.get("requested_subjects", 0),
            "held_count": len(held),
            "erasure_requests": run.erasure_request_ids,
            "namespace": run.plan.get("namespace", ""),
        },
        "holds_during_run": _holds_during_run(run),
        "started_at": run.started_at,
        "finished_at": timezone.now(),
        "verification": verification,
    }
    if error:
        document["stopped_because"] = error
    if (
        outcome == RetentionRun.Status.SUCCEEDED
        and not run.rows_deleted
        and not run.rows_anonymized
        and not run.files_deleted
    ):
        document["note"] = NOTE_NOTHING
    return document


def _holds_during_run(run: RetentionRun) -> list[dict]:
    """Holds placed after the run started that applied to it: from the batch after their
    placement on, their rows were kept (a dataset hold stopped the run)."""
    if run.started_at is None:
        return []
    namespace = run.plan.get("namespace", "")
    holds = LegalHold.objects.filter(placed_at__gte=run.started_at).filter(
        Q(dataset=run.dataset, external_id="")
        | (
            ~Q(external_id="")
            & Q(namespace=namespace)
            & (Q(dataset__isnull=True) | Q(dataset=run.dataset))
        )
    )
    return [
        {
            "hold": hold.pk,
            "scope": "subject" if hold.external_id else "dataset",
            "placed_at": hold.placed_at,
            "reference": hold.reference,
        }
        for hold in holds.order_by("placed_at", "pk")
    ]


def _complete(
    run: RetentionRun,
    status: str,
    operations,
    verification: list[dict],
    held: set[str],
    error: str = "",
) -> RetentionRun:
    """Finish the run and issue its certificate, in one transaction."""
    with transaction.atomic():
        run = RetentionRun.objects.select_for_update().select_related("dataset").get(pk=run.pk)
        if run.is_finished:
            return run
        document = _certificate_document(run, status, operations, verification, held, error)
        document = json.loads(canonical(document))  # datetimes as ISO 8601 strings
        digest = hashlib.sha256(canonical(document)).hexdigest()
        certificate = DeletionCertificate.objects.create(
            run=run, dataset=run.dataset, document=document, sha256=digest
        )
        if status == RetentionRun.Status.SUCCEEDED:
            _settle_requests(run, held)
        run.status = status
        run.error = error
        run.error_code = "held" if status == RetentionRun.Status.HELD else ""
        run.finished_at = timezone.now()
        # What was erased (subjects held since creation are not), so the next dispatch sees
        # them as still due once their hold is released.
        erased = set(run.subject_ids) - held
        run.subjects_count = len(erased)
        run.subjects_sha256 = planning.subjects_digest(erased)
        run.subject_ids = []  # the certificate keeps the count and the hash
        run.held_subject_ids = []
        run.save(
            update_fields=[
                "status",
                "error",
                "error_code",
                "finished_at",
                "subjects_count",
                "subjects_sha256",
                "subject_ids",
                "held_subject_ids",
            ]
        )
        audit.record(
            action="retention.certificate_issued",
            target=certificate,
            actor=run.requested_by,
            data={
                "certificate": certificate.pk,
                "sha256": digest,
                "dataset": run.dataset.slug,
                "document": document,
            },
        )
        if status == RetentionRun.Status.HELD:
            audit.record(
                action="retention.run_held",
                target=run,
                actor=run.requested_by,
                data={"run": run.pk, "dataset": run.dataset.slug, "reason": error},
            )
    return run


def _settle_requests(run: RetentionRun, held: set[str]) -> None:
    """Mark the run's erasure-request targets erased; complete requests erased everywhere."""
    if not run.erasure_request_ids:
        return
    now = timezone.now()
    targets = ErasureTarget.objects.filter(
        request_id__in=run.erasure_request_ids, dataset=run.dataset
    ).select_related("request")
    for target in targets:
        if target.request.external_id in held:
            target.status = ErasureTarget.Status.HELD
        else:
            target.status = ErasureTarget.Status.ERASED
            target.run = run
        target.updated_at = now
        target.save(update_fields=["status", "run", "updated_at"])
    for request in ErasureRequest.objects.select_for_update().filter(
        pk__in=run.erasure_request_ids, status=ErasureRequest.Status.OPEN
    ):
        if request.targets.exclude(status=ErasureTarget.Status.ERASED).exists():
            continue
        request.status = ErasureRequest.Status.COMPLETED
        request.closed_at = now
        request.save(update_fields=["status", "closed_at"])
        audit.record(
            action="retention.erasure_completed",
            target=request,
            actor=None,
            data={
                "request": request.pk,
                "due_on": request.due_on,
                "completed_on": now.date(),
                "on_time": now.date() <= request.due_on,
                "runs": sorted(request.targets.values_list("run_id", flat=True)),
            },
        )


def _fail(
    run: RetentionRun,
    code: str,
    message: str,
    verification: list[dict],
    operations=(),
    held: set[str] | None = None,
) -> RetentionRun:
    """Record the failure and its reason. A run that changed rows before failing still gets
    a certificate for what it did change."""
    run.refresh_from_db()
    changed = run.rows_deleted or run.rows_anonymized or run.files_deleted
    if changed:
        run = _complete(
            run, RetentionRun.Status.FAILED, operations, verification, held or set(), message
        )
        RetentionRun.objects.filter(pk=run.pk).update(error_code=code)
        run.error_code = code
    with transaction.atomic():
        run = RetentionRun.objects.select_for_update().select_related("dataset").get(pk=run.pk)
        if not changed:
            if run.is_finished:
                return run
            run.status = RetentionRun.Status.FAILED
            run.error_code = code
            run.error = message
            run.finished_at = timezone.now()
            run.subject_ids = []
            run.held_subject_ids = []
            run.save(
                update_fields=[
                    "status",
                    "error_code",
                    "error",
                    "finished_at",
                    "subject_ids",
                    "held_subject_ids",
                ]
            )
        audit.record(
            action="retention.run_failed",
            target=run,
            actor=run.requested_by,
            data={
                "run": run.pk,
                "dataset": run.dataset.slug,
                "code": code,
                "reason": message,
                "rows_deleted": run.rows_deleted,
                "rows_anonymized": run.rows_anonymized,
                "files_deleted": run.files_deleted,
            },
        )
    return run
