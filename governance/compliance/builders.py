"""The contents of each export kind. Each builder writes one file at ``path`` and reports
progress through ``progress(percent)``; none writes to the database except the audit
export, which seals the ledger and signs a checkpoint first so the bundle covers every entry
committed before the export ran."""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string

from consent.models import ConsentSnapshot, Purpose
from datasets.models import Dataset
from governance.access.models import Grant, PurposeApproval
from governance.access.services.common import dataset_categories
from governance.audit import chain
from governance.audit.models import Checkpoint, LedgerEntry
from governance.compliance import cells
from governance.compliance.models import Export

Progress = Callable[[int], None]

DEFAULT_SECURITY_MEASURES = (
    "Encryption in transit (TLS) for every connection to the registry and its data stores; "
    "role-based access control with time-limited, purpose-bound grants, approvals and "
    "acknowledged terms; every access decision and change recorded in a tamper-evident, "
    "hash-chained audit ledger with Ed25519-signed checkpoints; privacy training required "
    "for restricted data; periodic review of grants and automatic expiry."
)

ROPA_COLUMNS = [
    ("controller", "Controller name"),
    ("controller_contact", "Controller contact"),
    ("dpo_contact", "DPO contact"),
    ("purpose", "Purpose of processing"),
    ("purpose_description", "Purpose description"),
    ("legal_basis", "Legal basis (Art. 6)"),
    ("art9_condition", "Art. 9 condition"),
    ("data_subject_categories", "Categories of data subjects"),
    ("data_categories", "Categories of personal data"),
    ("recipients", "Categories of recipients"),
    ("transfers", "Transfers to third countries"),
    ("retention", "Time limits for erasure"),
    ("security_measures", "Technical and organisational security measures"),
    ("dpia_reference", "DPIA reference"),
    ("purpose_slug", "Purpose id"),
    ("purpose_version", "Purpose version"),
    ("approved_datasets", "Datasets approved for the purpose"),
]

ACCESS_COLUMNS = [
    "time",
    "principal",
    "actor",
    "dataset",
    "purpose",
    "decision",
    "reasons",
    "grant",
    "fields",
    "decision_id",
    "ledger_entry",
]

AUDIT_CSV_COLUMNS = [
    "id",
    "timestamp",
    "event",
    "actor",
    "actor_id",
    "content_type",
    "object_pk",
    "object_repr",
    "cid",
    "remote_addr",
    "changes",
    "additional_data",
]


def _parse(moment: str | None) -> datetime | None:
    return datetime.fromisoformat(moment) if moment else None


def _json(value) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, sort_keys=True, ensure_ascii=False)


def _csv_bytes(header: list[str], rows: Iterable[list]) -> bytes:
    return cells.csv_bytes(header, rows)


def build(export: Export, path: Path, progress: Progress) -> None:
    builder = {
        Export.Kind.AUDIT_LOG: build_audit_log,
        Export.Kind.ROPA: build_ropa,
        Export.Kind.ACCESS_REPORT: build_access_report,
        Export.Kind.EVIDENCE_PACK: build_evidence_pack,
    }[export.kind]
    builder(export, path, progress)


# --- Audit log -------------------------------------------------------------------------------


def _ledger_in(start: datetime | None, end: datetime | None) -> QuerySet[LedgerEntry]:
    entries = LedgerEntry.objects.all()
    if start is not None:
        entries = entries.filter(timestamp__gte=start)
    if end is not None:
        entries = entries.filter(timestamp__lt=end)
    return entries.order_by("timestamp", "id")


def _audit_row(entry: LedgerEntry, labels: dict[int, str]) -> list:
    return [
        entry.pk,
        chain.format_time(entry.timestamp),
        entry.event,
        entry.actor_label,
        entry.actor_id or "",
        labels.get(entry.content_type_id, "") if entry.content_type_id else "",
        entry.object_pk,
        entry.object_repr,
        entry.cid or "",
        entry.remote_addr or "",
        _json(entry.changes) if entry.changes else "",
        _json(entry.additional_data) if entry.additional_data else "",
    ]


def _content_type_labels() -> dict[int, str]:
    return {ct.pk: f"{ct.app_label}.{ct.model}" for ct in ContentType.objects.all()}


def _write_audit_slice(archive: zipfile.ZipFile, entries: QuerySet[LedgerEntry], prefix: str):
    labels = _content_type_labels()
    with archive.open(f"{prefix}audit-log.csv", "w") as handle:
        text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
        writer = cells.SafeWriter(text)
        writer.writerow(AUDIT_CSV_COLUMNS)
        for entry in entries.iterator(chunk_size=2000):
            writer.writerow(_audit_row(entry, labels))
        text.flush()
        text.detach()
    with archive.open(f"{prefix}audit-log.jsonl", "w") as handle:
        # The canonical form: exactly the bytes the hash chain covers (docs/audit-verification.md).
        for entry in entries.iterator(chunk_size=2000):
            handle.write(chain.canonical_entry(entry) + b"\n")


def _add_bundle(archive: zipfile.ZipFile, start, end, prefix: str = "bundle/") -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "bundle"
        manifest = chain.audit_bundle_write(folder, start=start, end=end)
        for file in sorted(folder.iterdir()):
            archive.write(file, f"{prefix}{file.name}")
    return manifest


def _seal_and_sign(export: Export) -> None:
    chain.seal_all()
    chain.checkpoint_write(note=f"export {export.pk}")


def build_audit_log(export: Export, path: Path, progress: Progress) -> None:
    start, end = _parse(export.params.get("start")), _parse(export.params.get("end"))
    _seal_and_sign(export)
    progress(20)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        _write_audit_slice(archive, _ledger_in(start, end), prefix="")
        progress(60)
        manifest = _add_bundle(archive, start, end)
        progress(90)
        archive.writestr("README.txt", _audit_readme(export, manifest))


def _audit_readme(export: Export, manifest: dict) -> str:
    return (
        f"Audit log export {export.pk}: entries with timestamp in [{export.params.get('start')}, "
        f"{export.params.get('end')}).\n\n"
        "audit-log.csv    one row per ledger entry, for reading.\n"
        "audit-log.jsonl  the canonical entries, exactly the bytes the hash chain covers.\n"
        "bundle/          the verifiable bundle: chain, entries, signed checkpoints,\n"
        "                 public keys.\n\n"
        "Verify independently (needs Python 3.11+ and the cryptography package):\n"
        "  unzip this file, then\n"
        "  python tools/verify_audit_bundle.py bundle --public-keys bundle/public-keys.json\n"
        "Compare the public keys with ones obtained from the registry out of band.\n\n"
        f"Chain size at export: {manifest['size']}; "
        f"entries window: {manifest['entries_window']}.\n"
    )


# --- Records of Processing Activities -------------------------------------------------------


def _joined(values: Iterable[str]) -> str:
    return "; ".join(str(v) for v in values if v)


def ropa_rows() -> list[dict[str, str]]:
    """One row per active purpose (GDPR Art. 30(1)(a)-(g)); categories of personal data are
    the purpose's own plus those of every dataset currently approved for it."""
    controller_fallback = getattr(settings, "GOVERNANCE_CONTROLLER", "")
    dpo = getattr(settings, "GOVERNANCE_DPO_CONTACT", "") or "Not designated"
    transfers = getattr(settings, "GOVERNANCE_THIRD_COUNTRY_TRANSFERS", "") or "None"
    security = getattr(settings, "GOVERNANCE_SECURITY_MEASURES", "") or DEFAULT_SECURITY_MEASURES
    approvals: dict[str, list[Dataset]] = {}
    for approval in PurposeApproval.objects.filter(revoked_at__isnull=True).select_related(
        "dataset"
    ):
        approvals.setdefault(approval.purpose_slug, []).append(approval.dataset)
    rows = []
    for purpose in Purpose.objects.filter(status=Purpose.Status.ACTIVE).order_by("slug"):
        datasets = sorted(approvals.get(purpose.slug, []), key=lambda d: d.slug)
        categories = set(purpose.data_categories or [])
        for dataset in datasets:
            categories |= dataset_categories(dataset)
        condition = (
            purpose.get_special_category_condition_display()
            if purpose.special_category_condition
            else "Not applicable: no special categories processed"
        )
        rows.append(
            {
                "controller": purpose.controller or controller_fallback,
                "controller_contact": purpose.controller_contact,
                "dpo_contact": dpo,
                "purpose": purpose.name,
                "purpose_description": purpose.description,
                "legal_basis": purpose.get_legal_basis_display(),
                "art9_condition": condition,
                "data_subject_categories": _joined(purpose.data_subject_categories or [])
                or "Not specified",
                "data_categories": _joined(sorted(categories)) or "None",
                "recipients": _joined(purpose.recipients or []) or "None outside the controller",
                "transfers": transfers,
                "retention": f"{purpose.retention_days} days, then erased",
                "security_measures": security,
                "dpia_reference": purpose.dpia_reference or "Not required",
                "purpose_slug": purpose.slug,
                "purpose_version": str(purpose.version),
                "approved_datasets": _joined(d.slug for d in datasets) or "None",
            }
        )
    return rows


def build_ropa(export: Export, path: Path, progress: Progress) -> None:
    rows = ropa_rows()
    progress(50)
    header = [label for _, label in ROPA_COLUMNS]
    values = [[row[key] for key, _ in ROPA_COLUMNS] for row in rows]
    if export.params.get("fmt") == "csv":
        path.write_bytes(_csv_bytes(header, values))
        return
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Art. 30(1) record"
    cells.xlsx_append(sheet, header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in values:
        cells.xlsx_append(sheet, row)
    for column in sheet.columns:
        sheet.column_dimensions[column[0].column_letter].width = 30
        for cell in column[1:]:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "A2"
    about = workbook.create_sheet("About")
    cells.xlsx_append(about, ["Generated at", chain.format_time(timezone.now())])
    cells.xlsx_append(about, ["Export", export.pk])
    cells.xlsx_append(about, ["Basis", "GDPR Art. 30(1); one row per active purpose"])
    workbook.save(path)


# --- Access report ---------------------------------------------------------------------------


def access_rows(start: datetime | None, end: datetime | None) -> Iterator[list]:
    entries = _ledger_in(start, end).filter(event="access.check")
    for entry in entries.iterator(chunk_size=2000):
        data = entry.additional_data or {}
        yield [
            chain.format_time(entry.timestamp),
            data.get("principal", ""),
            entry.actor_label,
            data.get("dataset", ""),
            data.get("purpose", ""),
            data.get("decision", ""),
            ";".join(data.get("reasons") or []),
            "" if data.get("grant") is None else data["grant"],
            ";".join(data.get("fields") or []),
            data.get("decision_id", ""),
            entry.pk,
        ]


def build_access_report(export: Export, path: Path, progress: Progress) -> None:
    start, end = _parse(export.params.get("start")), _parse(export.params.get("end"))
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = cells.SafeWriter(handle)
        writer.writerow(ACCESS_COLUMNS)
        writer.writerows(access_rows(start, end))
    progress(90)


# --- Evidence pack ---------------------------------------------------------------------------


def _dataset_ledger(dataset: Dataset) -> QuerySet[LedgerEntry]:
    dataset_type = ContentType.objects.get_for_model(Dataset)
    grant_type = ContentType.objects.get_for_model(Grant)
    grant_ids = [str(pk) for pk in dataset.grants.values_list("pk", flat=True)]
    return LedgerEntry.objects.filter(
        Q(content_type=dataset_type, object_pk=str(dataset.pk))
        | Q(additional_data__dataset=dataset.slug)
        | Q(content_type=grant_type, object_pk__in=grant_ids)
    ).order_by("timestamp", "id")


def _user(user) -> str | None:
    return None if user is None else user.username


def _grant_document(grant: Grant) -> dict:
    request = grant.request
    return {
        "grant": {
            "id": grant.pk,
            "principal_user": _user(grant.principal_user),
            "principal_group": grant.principal_group.name if grant.principal_group else None,
            "purpose": grant.purpose_slug,
            "purpose_version": grant.purpose.version,
            "fields": grant.fields,
            "starts_at": grant.starts_at,
            "expires_at": grant.expires_at,
            "status": grant.status,
            "direct": grant.direct,
            "direct_reason": grant.direct_reason,
            "granted_by": _user(grant.granted_by),
            "created_at": grant.created_at,
            "revoked_at": grant.revoked_at,
            "revoked_by": _user(grant.revoked_by),
            "revoked_reason": grant.revoked_reason,
            "expired_at": grant.expired_at,
        },
        "request": None
        if request is None
        else {
            "id": request.pk,
            "requester": _user(request.requester),
            "purpose": request.purpose_slug,
            "fields": request.fields,
            "duration_days": request.duration_days,
            "justification": request.justification,
            "status": request.status,
            "created_at": request.created_at,
            "needs_privacy_officer": request.needs_privacy_officer,
            "decision_reason": request.decision_reason,
            "decided_at": request.decided_at,
            "decided_by": _user(request.decided_by),
            "comments": [
                {"author": _user(c.author), "body": c.body, "created_at": c.created_at}
                for c in request.comments.all()
            ],
        },
        "approvals": []
        if request is None
        else [
            {"role": role, "by": _user(by), "at": at}
            for role, by, at in (
                ("steward", request.steward_approved_by, request.steward_approved_at),
                ("privacy_officer", request.privacy_approved_by, request.privacy_approved_at),
            )
            if by is not None
        ],
        "acknowledgements": [
            {
                "user": _user(a.user),
                "terms_version": a.terms_version,
                "terms_sha256": a.terms_sha256,
                "terms_text": a.terms_text,
                "acknowledged_at": a.acknowledged_at,
            }
            for a in grant.acknowledgements.all()
        ],
    }


def build_evidence_pack(export: Export, path: Path, progress: Progress) -> None:
    dataset = Dataset.objects.get(pk=export.params["dataset_id"])
    _seal_and_sign(export)
    progress(10)
    fields = [
        {
            "name": f.name,
            "data_type": f.data_type,
            "category": None if f.category is None else f.category.key,
            "role": f.role,
            "special_category": f.special_category,
            "treatment": f.treatment,
            "classification_source": f.classification_source,
            "classified_by": _user(f.classified_by),
            "classified_at": f.classified_at,
        }
        for f in dataset.fields.select_related("category", "classified_by")
    ]
    reviews = [
        {
            "version": r.version,
            "personal_fields_need": r.personal_fields_need,
            "anonymization": r.anonymization,
            "access_and_duration": r.access_and_duration,
            "fields_snapshot": r.fields_snapshot,
            "submitted_by": _user(r.submitted_by),
            "submitted_at": r.submitted_at,
            "decision": r.decision,
            "decided_by": _user(r.decided_by),
            "decided_at": r.decided_at,
            "decision_note": r.decision_note,
        }
        for r in dataset.reviews.select_related("submitted_by", "decided_by").order_by("version")
    ]
    approvals = list(
        PurposeApproval.objects.filter(dataset=dataset).select_related(
            "purpose", "approved_by", "revoked_by"
        )
    )
    approval_docs = [
        {
            "id": a.pk,
            "purpose": a.purpose_slug,
            "purpose_version": a.purpose.version,
            "note": a.note,
            "approved_by": _user(a.approved_by),
            "approved_at": a.approved_at,
            "revoked_at": a.revoked_at,
            "revoked_by": _user(a.revoked_by),
            "revoked_reason": a.revoked_reason,
        }
        for a in approvals
    ]
    grants = (
        Grant.objects.filter(dataset=dataset)
        .select_related(
            "principal_user",
            "principal_group",
            "purpose",
            "granted_by",
            "revoked_by",
            "request__requester",
            "request__steward_approved_by",
            "request__privacy_approved_by",
            "request__decided_by",
        )
        .prefetch_related("acknowledgements__user", "request__comments__author")
        .order_by("created_at", "id")
    )
    grant_docs = [_grant_document(g) for g in grants]
    progress(40)
    counts: Counter[tuple[str, str]] = Counter()
    for data in LedgerEntry.objects.filter(
        event="access.check", additional_data__dataset=dataset.slug
    ).values_list("additional_data", flat=True):
        counts[(data.get("purpose", ""), data.get("decision", ""))] += 1
    purpose_ids = {a.purpose_id for a in approvals}
    approved_slugs = {a.purpose_slug for a in approvals}
    snapshots = [
        {
            "id": str(s.id),
            "kind": s.kind,
            "purpose": s.purpose.slug,
            "purpose_version": s.purpose.version,
            "namespace": s.namespace,
            "as_of": s.as_of,
            "known_at": s.known_at,
            "count": s.count,
            "sha256": s.sha256,
            "created_by": _user(s.created_by),
            "created_at": s.created_at,
            "completed_at": s.completed_at,
        }
        for s in ConsentSnapshot.objects.filter(
            Q(purpose_id__in=purpose_ids) | Q(purpose__slug__in=approved_slugs)
        )
        .select_related("purpose", "created_by")
        .order_by("created_at")
    ]
    progress(60)
    latest = Checkpoint.objects.order_by("-size", "-id").first()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "dataset.json",
            _json(
                {
                    "slug": dataset.slug,
                    "name": dataset.name,
                    "status": dataset.status,
                    "sensitivity": dataset.sensitivity,
                    "location": dataset.location,
                    "approved_at": dataset.approved_at,
                }
            ),
        )
        archive.writestr("classification.json", _json(fields))
        archive.writestr(
            "classification.csv",
            _csv_bytes(
                list(fields[0].keys()) if fields else ["name"],
                [[("" if v is None else v) for v in f.values()] for f in fields],
            ),
        )
        archive.writestr("reviews.json", _json(reviews))
        archive.writestr("purpose-approvals.json", _json(approval_docs))
        archive.writestr("grants.json", _json(grant_docs))
        archive.writestr(
            "decision-counts.csv",
            _csv_bytes(
                ["purpose", "decision", "count"],
                [[p, d, n] for (p, d), n in sorted(counts.items())],
            ),
        )
        archive.writestr("consent-snapshots.json", _json(snapshots))
        _write_audit_slice(archive, _dataset_ledger(dataset), prefix="audit/")
        progress(80)
        archive.writestr(
            "audit/checkpoint.json",
            _json(None if latest is None else chain.checkpoint_document(latest)),
        )
        archive.writestr("audit/public-keys.json", _json(chain.checkpoint_public_keys()))
        # Other apps add their evidence (retention: policy, holds, runs, deletion
        # certificates) through ``evidence_pack_files = "module.function"`` on their AppConfig.
        for app_config in apps.get_app_configs():
            provider = getattr(app_config, "evidence_pack_files", None)
            if provider:
                for name, content in import_string(provider)(dataset).items():
                    if isinstance(content, dict):
                        content = content["content"]
                    archive.writestr(name, content)
        archive.writestr(
            "README.txt",
            f"Evidence pack for dataset {dataset.slug} (export {export.pk}).\n"
            "retention/ holds the retention policy, legal holds, erasure requests (subjects as\n"
            "SHA-256 of namespace:id), every run, and every deletion certificate as issued\n"
            "(each also a retention.certificate_issued entry in the audit ledger).\n"
            "audit/audit-log.jsonl holds canonical ledger entries; check any of them against a\n"
            "full audit-log export's bundle with tools/verify_audit_bundle.py.\n",
        )
