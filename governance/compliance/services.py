"""Compliance exports: who may ask for which export, and running it.

An export is requested synchronously (bad input is a 4xx and nothing is created but the
refusal's ledger entry) and built by a Celery worker, which records progress on the Export
row with plain UPDATEs so the portal sees the bar move. Requesting, completing, failing and
every download are ledger events: an export of personal or audit data is itself something an
auditor must be able to see."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from datasets.models import Dataset
from governance.accounts.models import User
from governance.audit import services as audit
from governance.compliance import policy
from governance.compliance.models import Export
from governance.errors import ApplicationError, Conflict, NotFound
from governance.policy import require

logger = logging.getLogger(__name__)

EXPORT_ROLES = policy.EXPORT_ROLES
MAX_RANGE_DAYS = 400
FORMATS = {
    Export.Kind.AUDIT_LOG: ("zip",),
    Export.Kind.ROPA: ("xlsx", "csv"),
    Export.Kind.ACCESS_REPORT: ("csv",),
    Export.Kind.EVIDENCE_PACK: ("zip",),
    Export.Kind.REGISTERS: ("xlsx", "zip"),
}
RANGED_KINDS = {Export.Kind.AUDIT_LOG, Export.Kind.ACCESS_REPORT}

MSG_NOT_PERMITTED = policy.MSG_NOT_PERMITTED
MSG_UNKNOWN_KIND = "Unknown export kind {kind!r}; choose one of: {known}."
MSG_UNBOUNDED = "This export needs a time range: give both start and end."
MSG_INVERTED = "The time range is inverted: end ({end}) must be after start ({start})."
MSG_TOO_LONG = "The time range is {days} days; the limit is {limit} days per export."
MSG_NAIVE = "Give start and end with a time zone (e.g. 2026-01-01T00:00:00Z)."
MSG_NEED_DATASET = "An evidence pack is for one dataset: name it."
MSG_UNKNOWN_DATASET = "No dataset {slug!r}."
MSG_BAD_FORMAT = "Format {fmt!r} is not available for this export; choose one of: {known}."
MSG_EXPORT_NOT_FOUND = "No such export."
MSG_NOT_READY = "The export is not ready for download (status: {status})."
MSG_FILE_GONE = "The export's file is no longer on the server; request a new export."
MSG_INTERNAL = "The export failed unexpectedly; the error was logged."


def export_dir() -> Path:
    return Path(getattr(settings, "COMPLIANCE_EXPORT_DIR", settings.VAR_DIR / "exports"))


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and timezone.is_naive(moment):
        raise ApplicationError(MSG_NAIVE, {"field": "start"})
    return moment


@audit.records_refusal("compliance.export_refused", actor="actor")
@transaction.atomic(durable=True)
def export_request(
    *,
    actor: User,
    kind: str,
    start: datetime | None = None,
    end: datetime | None = None,
    dataset: str | Dataset | None = None,
    fmt: str | None = None,
) -> Export:
    """Validate and queue an export; the worker builds it after this transaction commits."""
    require(policy.may_export(actor))
    if kind not in Export.Kind.values:
        raise ApplicationError(
            MSG_UNKNOWN_KIND.format(kind=kind, known=", ".join(Export.Kind.values)),
            {"field": "kind"},
        )
    start, end = _aware(start), _aware(end)
    if kind in RANGED_KINDS and (start is None or end is None):
        raise ApplicationError(MSG_UNBOUNDED, {"field": "start", "reason": "unbounded"})
    if start is not None and end is not None:
        if end <= start:
            raise ApplicationError(
                MSG_INVERTED.format(start=start.isoformat(), end=end.isoformat()),
                {"field": "end", "reason": "inverted"},
            )
        if end - start > timedelta(days=MAX_RANGE_DAYS):
            raise ApplicationError(
                MSG_TOO_LONG.format(days=(end - start).days, limit=MAX_RANGE_DAYS),
                {"field": "end", "reason": "too_long"},
            )
    params: dict = {
        "start": start.isoformat() if start else None,
        "end": end.isoformat() if end else None,
    }
    if kind == Export.Kind.EVIDENCE_PACK:
        if not dataset:
            raise ApplicationError(MSG_NEED_DATASET, {"field": "dataset"})
        slug = dataset.slug if isinstance(dataset, Dataset) else str(dataset)
        found = Dataset.objects.filter(slug=slug).first()
        if found is None:
            raise ApplicationError(
                MSG_UNKNOWN_DATASET.format(slug=slug), {"field": "dataset", "reason": "unknown"}
            )
        params["dataset"] = found.slug
        params["dataset_id"] = found.pk
    known = FORMATS[kind]
    fmt = fmt or known[0]
    if fmt not in known:
        raise ApplicationError(
            MSG_BAD_FORMAT.format(fmt=fmt, known=", ".join(known)), {"field": "fmt"}
        )
    params["fmt"] = fmt
    export = Export.objects.create(kind=kind, params=params, requested_by=actor)
    audit.record(
        action="compliance.export_requested",
        target=export,
        actor=actor,
        data={"export": export.pk, "kind": kind, **params},
    )
    from governance.compliance.tasks import export_run_task

    transaction.on_commit(lambda: export_run_task.delay(export.pk))
    return export


def _progress(export_id: int, percent: int) -> None:
    # A plain UPDATE, committed at once, so the portal sees the bar move while the export runs.
    Export.objects.filter(pk=export_id).update(progress=percent)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def export_run(*, export_id: int) -> Export:
    """Build a queued export. Idempotent: a finished export is left alone; a redelivered one
    (worker crash) starts over and overwrites its partial file."""
    from governance.compliance import builders

    with transaction.atomic():
        export = Export.objects.select_for_update().get(pk=export_id)
        if export.is_finished:
            return export
        export.status = Export.Status.RUNNING
        export.started_at = timezone.now()
        export.progress = 1
        export.save(update_fields=["status", "started_at", "progress"])
    directory = export_dir()
    directory.mkdir(parents=True, exist_ok=True)
    stamp = export.started_at.strftime("%Y%m%dT%H%M%SZ")
    name = f"{export.kind.replace('_', '-')}-{export.pk}-{stamp}.{export.params['fmt']}"
    path = directory / name
    try:
        summary = builders.build(export, path, lambda percent: _progress(export.pk, percent))
        digest, size = _sha256(path), path.stat().st_size
    except Exception as error:  # any failure must end as a failed export, never a stuck one
        logger.exception("export %s failed", export_id)
        path.unlink(missing_ok=True)
        message = error.message if isinstance(error, ApplicationError) else MSG_INTERNAL
        return _finish_failed(export_id=export.pk, message=message)
    with transaction.atomic():
        export = Export.objects.select_for_update().get(pk=export_id)
        export.status = Export.Status.SUCCEEDED
        export.progress = 100
        export.file_path = str(path)
        export.file_name = name
        export.size = size
        export.sha256 = digest
        export.summary = summary
        export.finished_at = timezone.now()
        export.save(
            update_fields=[
                "status",
                "progress",
                "file_path",
                "file_name",
                "size",
                "sha256",
                "summary",
                "finished_at",
            ]
        )
        data = {"export": export.pk, "kind": export.kind, "size": size, "sha256": digest}
        if "rows" in summary:
            data["rows"] = summary["rows"]
        if summary.get("warnings"):
            data["warnings"] = len(summary["warnings"])
        audit.record(
            action="compliance.export_completed",
            target=export,
            actor=export.requested_by,
            data=data,
        )
    return export


@transaction.atomic
def _finish_failed(*, export_id: int, message: str) -> Export:
    export = Export.objects.select_for_update().get(pk=export_id)
    export.status = Export.Status.FAILED
    export.error = message
    export.finished_at = timezone.now()
    export.save(update_fields=["status", "error", "finished_at"])
    audit.record(
        action="compliance.export_failed",
        target=export,
        actor=export.requested_by,
        data={"export": export.pk, "kind": export.kind, "reason": message},
    )
    return export


# --- Reads -----------------------------------------------------------------------------------


def export_list(*, viewer: User) -> QuerySet[Export]:
    """Everyone's exports for those who may export; otherwise only the viewer's own."""
    return Export.objects.select_related("requested_by").filter(policy.exports_visible_to(viewer))


def export_get_for(*, viewer: User, export_id: int) -> Export:
    """An export the viewer may see; NotFound otherwise (existence is not disclosed)."""
    export = Export.objects.select_related("requested_by").filter(pk=export_id).first()
    if export is None:
        raise NotFound(MSG_EXPORT_NOT_FOUND)
    require(policy.may_see(viewer, export))
    return export


@transaction.atomic(durable=True)
def export_download(*, actor: User, export: Export) -> Path:
    """Record the download and return the file to stream. Every download is a ledger event."""
    require(policy.may_see(actor, export))
    if export.status != Export.Status.SUCCEEDED:
        raise Conflict(MSG_NOT_READY.format(status=export.status), {"reason": "not_ready"})
    path = Path(export.file_path)
    if not path.is_file():
        raise NotFound(MSG_FILE_GONE)
    audit.record(
        action="compliance.export_downloaded",
        target=export,
        actor=actor,
        data={"export": export.pk, "kind": export.kind, "sha256": export.sha256},
    )
    return path


def dashboard_panels(user: User) -> list[dict]:
    """Auditors and privacy officers: the latest exports, each a link to its page."""
    from django.urls import reverse

    if policy.may_export(user) is not None:
        return []
    recent = list(export_list(viewer=user).order_by("-created_at", "-id")[:5])
    return [
        {
            "role": "Recent exports",
            "todo": [
                {
                    "label": f"{e.get_kind_display()} · {e.get_status_display().lower()} · "
                    f"{e.created_at:%Y-%m-%d}",
                    "count": "",
                    "url": reverse("compliance:export", args=[e.pk]),
                    "urgent": e.status == Export.Status.FAILED,
                    "testid": "recent-export",
                }
                for e in recent
            ],
            "empty": "No exports yet.",
            "link": ("Request an export", reverse("compliance:exports")),
            "testid": "exports-panel",
        }
    ]
