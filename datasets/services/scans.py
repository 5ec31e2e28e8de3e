"""Scans: read a sample, propose a classification per column, queue the proposals for review.

A scan is started synchronously (the source is checked at once, so a bad file or an unknown
table is a 4xx and nothing is created) and run by a Celery worker, which records progress on
the Scan row. Re-scans keep a person's decision when the evidence for a column has not
changed, and show what changed when it has."""

from __future__ import annotations

import logging
import re
import uuid
from decimal import Decimal
from pathlib import Path

import psycopg
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from datasets import policy
from datasets.locations import physical_location, resolve_file, table_location
from datasets.models import DataCategory, Dataset, Field, Scan, Suggestion
from datasets.scanner import SampleError, SampleSource, read_sample, scan_sample
from datasets.services.catalog import _field_add, apply_classification
from governance.accounts.models import User
from governance.audit import services as audit
from governance.errors import ApplicationError, Conflict
from governance.policy import require

logger = logging.getLogger(__name__)

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}\.[A-Za-z_][A-Za-z0-9_]{0,62}$")

MSG_WRONG_TYPE = "Unsupported file type {name!r}: upload a .csv, .jsonl (.ndjson) or .parquet file."
MSG_TOO_LARGE = "The sample is {size} bytes; the limit is {limit} bytes."
MSG_PATH_OUTSIDE = "Scans may only read files under: {roots}."
MSG_PATH_MISSING = "No file at {path}."
MSG_NO_SOURCE = "Choose a sample: upload a file, name a file path, or a table."
MSG_UNKNOWN_CONNECTION = "Unknown connection {name!r}; configured: {known}."
MSG_TABLE_INVALID = "Name the table as schema.table (letters, digits, underscores)."
MSG_UNKNOWN_TABLE = "Table {table} does not exist on connection {name!r}."
MSG_CONNECTION_FAILED = "Could not connect to {name!r} to check the table."
MSG_MAX_ROWS = "max_rows must be between 1 and {limit}."
MSG_SCAN_RUNNING = "A scan of this dataset is already running."
MSG_DECIDED = "This suggestion was already decided ({status})."
MSG_INTERNAL = "The scan failed unexpectedly; the error was logged."
MSG_NEEDS_PERSON = (
    "The scanner left {field} to a person: edit the suggestion to classify it, or reject it."
)
MSG_NOT_IN_DATASET = "These ids are not suggestions of this dataset: {ids}."
MSG_ONE_DECIDED = "Suggestion for {field} was already decided ({status})."


def _format_of(name: str) -> str:
    fmt = FORMATS.get(Path(name).suffix.lower())
    if fmt is None:
        raise ApplicationError(MSG_WRONG_TYPE.format(name=Path(name).name), {"field": "file"})
    return fmt


def _check_sample(source: SampleSource) -> None:
    """Read one row now, so an unreadable, empty or mistyped sample is refused at once."""
    try:
        read_sample(source, max_rows=1, max_bytes=settings.SCANNER_MAX_UPLOAD_BYTES)
    except SampleError as error:
        raise ApplicationError(error.message, {"field": "file", "reason": error.code}) from None


def _source_of(scan: Scan) -> SampleSource:
    if scan.source_kind == Scan.SourceKind.POSTGRES_TABLE:
        return SampleSource(
            kind="postgres_table",
            table=scan.table,
            connection_url=settings.SCANNER_CONNECTIONS.get(scan.connection_name),
        )
    return SampleSource(kind=scan.file_format, path=scan.source_path)


@audit.records_refusal("dataset.scan_refused", target="dataset", actor="actor")
@transaction.atomic
def scan_start(
    *,
    actor: User,
    dataset: Dataset,
    upload=None,
    path: str = "",
    connection_name: str = "",
    table: str = "",
    max_rows: int | None = None,
) -> Scan:
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    require(policy.may_scan(actor, dataset))
    limit = settings.SCANNER_MAX_ROWS
    max_rows = limit if max_rows is None else max_rows
    if not 1 <= max_rows <= limit:
        raise ApplicationError(MSG_MAX_ROWS.format(limit=limit), {"field": "max_rows"})
    if dataset.scans.filter(status__in=[Scan.Status.QUEUED, Scan.Status.RUNNING]).exists():
        raise Conflict(MSG_SCAN_RUNNING)

    fields = {"dataset": dataset, "started_by": actor, "max_rows": max_rows}
    if upload is not None:
        fmt = _format_of(upload.name)
        if upload.size > settings.SCANNER_MAX_UPLOAD_BYTES:
            raise ApplicationError(
                MSG_TOO_LARGE.format(size=upload.size, limit=settings.SCANNER_MAX_UPLOAD_BYTES),
                {"field": "file", "reason": "too_large"},
            )
        settings.SCANNER_UPLOAD_DIR.mkdir(parents=True, exist_ok=True)
        stored = (
            settings.SCANNER_UPLOAD_DIR / f"{uuid.uuid4().hex}{Path(upload.name).suffix.lower()}"
        )
        with stored.open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        try:
            _check_sample(SampleSource(kind=fmt, path=str(stored)))
        except ApplicationError:
            stored.unlink(missing_ok=True)
            raise
        fields |= {
            "source_kind": Scan.SourceKind.UPLOAD,
            "file_format": fmt,
            "source_path": str(stored),
            "source_label": Path(upload.name).name[:1000],
        }
    elif path:
        fmt = _format_of(path)
        resolved = resolve_file(path)
        roots = settings.SCANNER_FILE_ROOTS
        if not any(resolved.is_relative_to(root) for root in roots):
            raise ApplicationError(
                MSG_PATH_OUTSIDE.format(roots=", ".join(str(r) for r in roots)), {"field": "path"}
            )
        if not resolved.is_file():
            raise ApplicationError(MSG_PATH_MISSING.format(path=path), {"field": "path"})
        require(
            policy.source_refusal(
                dataset, physical_location(storage_kind=fmt, location=str(resolved))
            )
        )
        if resolved.stat().st_size > settings.SCANNER_MAX_UPLOAD_BYTES:
            raise ApplicationError(
                MSG_TOO_LARGE.format(
                    size=resolved.stat().st_size, limit=settings.SCANNER_MAX_UPLOAD_BYTES
                ),
                {"field": "path", "reason": "too_large"},
            )
        _check_sample(SampleSource(kind=fmt, path=str(resolved)))
        fields |= {
            "source_kind": Scan.SourceKind.FILE,
            "file_format": fmt,
            "source_path": str(resolved),
            "source_label": path[:1000],
        }
    elif table or connection_name:
        url = settings.SCANNER_CONNECTIONS.get(connection_name)
        if url is None:
            known = ", ".join(sorted(settings.SCANNER_CONNECTIONS)) or "none"
            raise ApplicationError(
                MSG_UNKNOWN_CONNECTION.format(name=connection_name, known=known),
                {"field": "connection"},
            )
        if not TABLE.match(table or ""):
            raise ApplicationError(MSG_TABLE_INVALID, {"field": "table"})
        require(policy.source_refusal(dataset, table_location(url, table)))
        _check_table(url, connection_name, table)
        fields |= {
            "source_kind": Scan.SourceKind.POSTGRES_TABLE,
            "connection_name": connection_name,
            "table": table,
            "source_label": f"{connection_name}:{table}",
        }
    else:
        raise ApplicationError(MSG_NO_SOURCE)

    scan = Scan.objects.create(**fields)
    audit.record(
        action="dataset.scan_started",
        target=dataset,
        actor=actor,
        data={"scan": scan.pk, "source": scan.source_label, "max_rows": max_rows},
    )
    from datasets.tasks import scan_run_task

    transaction.on_commit(lambda: scan_run_task.delay(scan.pk))
    return scan


def _check_table(url: str, name: str, table: str) -> None:
    try:
        with psycopg.connect(url, connect_timeout=5) as connection:
            exists = connection.execute("SELECT to_regclass(%s)", [table]).fetchone()[0]
    except psycopg.Error:
        raise ApplicationError(
            MSG_CONNECTION_FAILED.format(name=name), {"field": "connection"}
        ) from None
    if exists is None:
        raise ApplicationError(
            MSG_UNKNOWN_TABLE.format(table=table, name=name),
            {"field": "table", "reason": "unknown_table"},
        )


def _progress(scan: Scan, percent: int, **extra) -> None:
    # A plain UPDATE, committed at once, so the portal sees the bar move while the scan runs.
    Scan.objects.filter(pk=scan.pk).update(progress=percent, **extra)


def _column_progress(scan: Scan):
    """Progress from 40% (sample read) to 85% (every column examined), one step per column;
    written only when the whole percentage changes, so a 500-column sample is not 500 UPDATEs."""
    last = [40]

    def advance(done: int, total: int) -> None:
        percent = round(40 + 45 * done / total)
        if percent != last[0] or done == total:
            last[0] = percent
            _progress(scan, percent, columns_done=done)

    return advance


def scan_run(*, scan_id: int) -> Scan:
    """Run a queued scan. Idempotent: a finished scan is left alone, and a scan redelivered
    after a worker crash starts over (proposals are saved in one transaction at the end)."""
    with transaction.atomic():
        scan = (
            Scan.objects.select_for_update(of=("self",)).select_related("dataset").get(pk=scan_id)
        )
        if scan.is_finished:
            return scan
        scan.status = Scan.Status.RUNNING
        scan.started_at = timezone.now()
        scan.progress = 5
        scan.save(update_fields=["status", "started_at", "progress"])
    try:
        sample = read_sample(
            _source_of(scan), max_rows=scan.max_rows, max_bytes=settings.SCANNER_MAX_UPLOAD_BYTES
        )
        _progress(
            scan,
            40,
            rows_sampled=len(sample.rows),
            truncated=sample.truncated,
            columns_total=len(sample.columns),
        )
        proposals = scan_sample(sample, progress=_column_progress(scan))
        result = _save_results(scan_id=scan.pk, sample=sample, proposals=proposals)
    except SampleError as error:
        result = _fail(scan_id=scan.pk, code=error.code, message=error.message)
    except Exception:
        logger.exception("scan %s failed", scan_id)
        result = _fail(scan_id=scan.pk, code="internal", message=MSG_INTERNAL)
    if scan.source_kind == Scan.SourceKind.UPLOAD:
        # Minimisation: an uploaded sample holds personal data and is not needed any more.
        Path(scan.source_path).unlink(missing_ok=True)
    return result


@transaction.atomic
def _fail(*, scan_id: int, code: str, message: str) -> Scan:
    scan = Scan.objects.select_for_update(of=("self",)).select_related("dataset").get(pk=scan_id)
    scan.status = Scan.Status.FAILED
    scan.error_code = code
    scan.error_message = message
    scan.finished_at = timezone.now()
    scan.save(update_fields=["status", "error_code", "error_message", "finished_at"])
    audit.record(
        action="dataset.scan_failed",
        target=scan.dataset,
        actor=scan.started_by,
        data={"scan": scan.pk, "reason": code, "message": message},
    )
    return scan


def _infer_type(values) -> str:
    seen = {type(v).__name__ for v in values if v not in (None, "")}
    if not seen:
        return ""
    if seen <= {"int"}:
        return "integer"
    if seen <= {"int", "float"}:
        return "number"
    if seen <= {"bool"}:
        return "boolean"
    if seen & {"datetime", "date", "Timestamp"}:
        return "timestamp"
    return "string"


def _classification(obj) -> dict:
    category = getattr(obj, "category", None)
    key = category.key if isinstance(category, DataCategory) else category
    return {
        "category": key,
        "role": obj.role or None,
        "special_category": obj.special_category or None,
    }


@transaction.atomic
def _save_results(*, scan_id: int, sample, proposals) -> Scan:
    scan = Scan.objects.select_for_update(of=("self",)).select_related("dataset").get(pk=scan_id)
    if scan.is_finished:
        return scan
    dataset = Dataset.objects.select_for_update().get(pk=scan.dataset_id)
    categories = {c.key: c for c in DataCategory.objects.all()}
    existing = {f.name: f for f in dataset.fields.select_related("category")}
    counts = {status: 0 for status in Suggestion.Status.values}
    new_fields = 0
    unlisted: list[str] = []
    for proposal in proposals:
        field = existing.get(proposal.column)
        if field is None and dataset.status != Dataset.Status.DRAFT:
            # Fields change only in draft (with a new review): an approved dataset's new column
            # is reported, not added.
            unlisted.append(proposal.column)
            continue
        if field is None and policy.field_name_problem(proposal.column):
            # A column name that cannot be a field's name (a path, hidden characters) is
            # reported, not added: the steward renames the column or adds the field by hand.
            unlisted.append(proposal.column)
            continue
        if field is None:
            values = [row.get(proposal.column) for row in sample.rows]
            field = _field_add(dataset=dataset, name=proposal.column, data_type=_infer_type(values))
            new_fields += 1
        category = categories.get(proposal.category) if proposal.category else None
        proposed = {
            "category": proposal.category,
            "role": proposal.role,
            "special_category": proposal.special_category or None,
        }
        current = _classification(field)
        previous = (
            Suggestion.objects.filter(field=field)
            .exclude(status__in=[Suggestion.Status.SUGGESTED, Suggestion.Status.SUPERSEDED])
            .order_by("-scan__created_at", "-id")
            .first()
        )
        decided = (
            Suggestion.objects.filter(field=field, status__in=PERSON_DECISIONS)
            .order_by("-scan__created_at", "-id")
            .first()
        )
        Suggestion.objects.filter(field=field, status=Suggestion.Status.SUGGESTED).update(
            status=Suggestion.Status.SUPERSEDED
        )
        changes = {k: [current[k], proposed[k]] for k in proposed if current[k] != proposed[k]}
        if field.is_classified and not changes:
            status = Suggestion.Status.KEPT  # a person already decided the same thing
        elif previous is not None and previous.evidence == proposal.evidence:
            status = Suggestion.Status.KEPT  # same evidence as last decided: keep the decision
        else:
            status = Suggestion.Status.SUGGESTED
            if previous is not None:
                changes["evidence_changed"] = True
                # The steward's own decision, not a "kept" that an intermediate re-scan wrote.
                changes["previous_decision"] = (decided or previous).status
        Suggestion.objects.create(
            scan=scan,
            field=field,
            category=category,
            role=proposal.role,
            special_category=proposal.special_category or "",
            treatment=proposal.treatment,
            confidence=Decimal(str(proposal.confidence)).quantize(Decimal("0.01")),
            explanation=proposal.explanation(),
            evidence=proposal.evidence,
            status=status,
            changes=changes,
        )
        counts[status] += 1
    scan.status = Scan.Status.SUCCEEDED
    scan.progress = 100
    scan.columns_done = len(proposals)
    scan.rows_sampled = len(sample.rows)
    scan.truncated = sample.truncated
    scan.columns_total = len(sample.columns)
    scan.finished_at = timezone.now()
    scan.summary = {
        "suggested": counts["suggested"],
        "kept": counts["kept"],
        "new_fields": new_fields,
        "unlisted_columns": unlisted,
        "personal_columns": sum(1 for p in proposals if p.category),
        "unclassified": sum(1 for p in proposals if not p.role),
    }
    scan.save(
        update_fields=[
            "status",
            "progress",
            "columns_done",
            "rows_sampled",
            "truncated",
            "columns_total",
            "finished_at",
            "summary",
        ]
    )
    audit.record(
        action="dataset.scan_completed",
        target=dataset,
        actor=scan.started_by,
        data={"scan": scan.pk, **scan.summary, "rows_sampled": scan.rows_sampled},
    )
    return scan


def _decide(*, actor: User, suggestion: Suggestion) -> tuple[Suggestion, Field]:
    dataset = Dataset.objects.select_for_update().get(pk=suggestion.field.dataset_id)
    require(policy.may_manage(actor, dataset))
    suggestion = (
        Suggestion.objects.select_for_update(of=("self",))
        .select_related("field", "category")
        .get(pk=suggestion.pk)
    )
    if suggestion.status != Suggestion.Status.SUGGESTED:
        raise Conflict(MSG_DECIDED.format(status=suggestion.get_status_display().lower()))
    field = suggestion.field
    field.dataset = dataset
    return suggestion, field


def _mark(
    suggestion: Suggestion, status: str, actor: User, note: str = "", decision: dict | None = None
) -> None:
    suggestion.status = status
    suggestion.decided_by = actor
    suggestion.decided_at = timezone.now()
    suggestion.decision_note = note
    suggestion.decision = decision or {}
    suggestion.save(
        update_fields=["status", "decided_by", "decided_at", "decision_note", "decision"]
    )


PERSON_DECISIONS = (
    Suggestion.Status.ACCEPTED,
    Suggestion.Status.EDITED,
    Suggestion.Status.REJECTED,
)


def _chosen(category, role: str, special_category: str, treatment: str) -> dict:
    """The classification a steward chose, as stored on the suggestion and shown in history."""
    return {
        "category": category.key if category is not None else None,
        "role": role,
        "special_category": special_category or "",
        "treatment": treatment,
    }


def _require_classified(suggestion: Suggestion) -> None:
    if not suggestion.role:
        raise ApplicationError(
            MSG_NEEDS_PERSON.format(field=suggestion.field.name),
            {"suggestion": suggestion.pk, "reason": "unclassified"},
        )


def _accept(suggestion: Suggestion, field: Field, actor: User) -> None:
    apply_classification(
        field=field,
        actor=actor,
        category=suggestion.category,
        role=suggestion.role,
        special_category=suggestion.special_category,
        treatment=suggestion.treatment,
        source=Field.Source.SCAN_ACCEPTED,
    )
    decision = _chosen(
        suggestion.category, suggestion.role, suggestion.special_category, suggestion.treatment
    )
    _mark(suggestion, Suggestion.Status.ACCEPTED, actor, decision=decision)


@transaction.atomic
def suggestion_accept(*, actor: User, suggestion: Suggestion) -> Suggestion:
    suggestion, field = _decide(actor=actor, suggestion=suggestion)
    require(policy.may_classify(actor, field.dataset))
    _require_classified(suggestion)
    _accept(suggestion, field, actor)
    return suggestion


@transaction.atomic
def suggestions_accept(
    *, actor: User, dataset: Dataset, suggestion_ids: list[int]
) -> list[Suggestion]:
    """Accept the selected suggestions of one dataset together: all of them or, if one is not
    a waiting suggestion of this dataset or was left to a person, none."""
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    require(policy.may_classify(actor, dataset))
    wanted = list(dict.fromkeys(suggestion_ids))
    found = {
        s.pk: s
        for s in Suggestion.objects.select_for_update(of=("self",))
        .select_related("field", "category")
        .filter(pk__in=wanted, field__dataset=dataset)
        .order_by("pk")
    }
    missing = [str(pk) for pk in wanted if pk not in found]
    if missing:
        raise ApplicationError(MSG_NOT_IN_DATASET.format(ids=", ".join(missing)), {"field": "ids"})
    chosen = [found[pk] for pk in wanted]
    for suggestion in chosen:
        if suggestion.status != Suggestion.Status.SUGGESTED:
            raise Conflict(
                MSG_ONE_DECIDED.format(
                    field=suggestion.field.name,
                    status=suggestion.get_status_display().lower(),
                )
            )
        _require_classified(suggestion)
    for suggestion in chosen:
        field = suggestion.field
        field.dataset = dataset
        _accept(suggestion, field, actor)
    return chosen


@transaction.atomic
def suggestion_edit(
    *,
    actor: User,
    suggestion: Suggestion,
    category: DataCategory | None,
    role: str,
    special_category: str,
    treatment: str,
    note: str = "",
) -> Suggestion:
    suggestion, field = _decide(actor=actor, suggestion=suggestion)
    require(policy.may_classify(actor, field.dataset))
    apply_classification(
        field=field,
        actor=actor,
        category=category,
        role=role,
        special_category=special_category,
        treatment=treatment,
        source=Field.Source.SCAN_EDITED,
    )
    decision = _chosen(category, role, special_category, treatment)
    _mark(suggestion, Suggestion.Status.EDITED, actor, note, decision=decision)
    return suggestion


@transaction.atomic
def suggestion_reject(*, actor: User, suggestion: Suggestion, note: str = "") -> Suggestion:
    suggestion, _ = _decide(actor=actor, suggestion=suggestion)
    _mark(suggestion, Suggestion.Status.REJECTED, actor, note)
    return suggestion
