"""The contents of each export kind. Each builder writes one file at ``path``, reports
progress through ``progress(percent)`` and returns a summary (``rows``, ``warnings``) that the
export keeps and its completion event records. None writes to the database except the audit
log and the evidence pack, which seal the ledger and sign a checkpoint so that their proofs
cover every entry they hold (the evidence pack also records its own sealing entry,
governance/compliance/evidence.py). Every CSV and XLSX cell goes through
``governance.compliance.cells`` (formula injection)."""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path

from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.utils import timezone

from governance.audit import chain
from governance.audit.models import Checkpoint, LedgerEntry
from governance.compliance import cells, ropa
from governance.compliance.models import Export

Progress = Callable[[int], None]

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


def build(export: Export, path: Path, progress: Progress) -> dict:
    """Build ``export`` at ``path``; the summary it returns is kept on the export."""
    from governance.compliance import registers_export
    from governance.compliance.evidence import build_evidence_pack

    builder = {
        Export.Kind.AUDIT_LOG: build_audit_log,
        Export.Kind.ROPA: build_ropa,
        Export.Kind.ACCESS_REPORT: build_access_report,
        Export.Kind.EVIDENCE_PACK: build_evidence_pack,
        Export.Kind.REGISTERS: registers_export.build,
    }[export.kind]
    return builder(export, path, progress) or {}


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


def _write_audit_slice(
    archive: zipfile.ZipFile, entries: QuerySet[LedgerEntry], prefix: str
) -> int:
    labels = _content_type_labels()
    count = 0
    with archive.open(f"{prefix}audit-log.csv", "w") as handle:
        text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
        writer = cells.SafeWriter(text)
        writer.writerow(AUDIT_CSV_COLUMNS)
        for entry in entries.iterator(chunk_size=2000):
            writer.writerow(_audit_row(entry, labels))
            count += 1
        text.flush()
        text.detach()
    with archive.open(f"{prefix}audit-log.jsonl", "w") as handle:
        # The canonical form: exactly the bytes the hash chain covers (docs/audit-verification.md).
        for entry in entries.iterator(chunk_size=2000):
            handle.write(chain.canonical_entry(entry) + b"\n")
    return count


def _add_bundle(archive: zipfile.ZipFile, start, end, prefix: str = "bundle/") -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "bundle"
        manifest = chain.audit_bundle_write(folder, start=start, end=end)
        for file in sorted(folder.iterdir()):
            archive.write(file, f"{prefix}{file.name}")
    return manifest


def _seal_and_sign(export: Export) -> Checkpoint:
    chain.seal_all()
    return chain.checkpoint_write(note=f"export {export.pk}")


def build_audit_log(export: Export, path: Path, progress: Progress) -> dict:
    start, end = _parse(export.params.get("start")), _parse(export.params.get("end"))
    checkpoint = _seal_and_sign(export)
    progress(20)
    # Only what the checkpoint covers: an entry committed while the export runs is in the
    # next export, so that every line of audit-log.jsonl is in the bundle beside it.
    entries = _ledger_in(start, end).filter(link__position__lt=checkpoint.size)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        rows = _write_audit_slice(archive, entries, prefix="")
        progress(60)
        manifest = _add_bundle(archive, start, end)
        progress(90)
        archive.writestr("README.txt", _audit_readme(export, manifest))
    return {"rows": rows}


def _audit_readme(export: Export, manifest: dict) -> str:
    return (
        f"Audit log export {export.pk}: entries with timestamp in [{export.params.get('start')}, "
        f"{export.params.get('end')}).\n\n"
        "audit-log.csv    one row per ledger entry, for reading.\n"
        "audit-log.jsonl  the canonical entries, exactly the bytes the hash chain covers.\n"
        "bundle/          the verifiable bundle: chain, entries, signed checkpoints,\n"
        "                 public keys.\n\n"
        "Verify independently (needs Python 3.11+ and the cryptography package), on this\n"
        "zip file as downloaded:\n"
        "  python tools/verify_audit_bundle.py THIS.zip --public-keys KEYS.json\n"
        "with public keys obtained from the registry out of band. It checks the bundle and\n"
        "that every line of audit-log.jsonl and audit-log.csv is a verified entry.\n\n"
        f"Chain size at export: {manifest['size']}; "
        f"entries window: {manifest['entries_window']}.\n"
    )


# --- Records of Processing Activities -------------------------------------------------------

ROPA_COLUMNS = ropa.ROPA_COLUMNS


def build_ropa(export: Export, path: Path, progress: Progress) -> dict:
    """Art. 30(1) records as XLSX (the record, an About sheet with the generation time, the
    registry version and the number of warnings, and a Warnings sheet) or CSV (every row
    carries the generation time and version; warnings are the "Not recorded" column)."""
    rows, warnings = ropa.ropa_rows()
    progress(50)
    header = [label for _, label in ROPA_COLUMNS]
    values = [[row[key] for key, _ in ROPA_COLUMNS] for row in rows]
    summary = {"rows": len(rows), "warnings": warnings, "format": ropa.FORMAT}
    if export.params.get("fmt") == "csv":
        path.write_bytes(cells.csv_bytes(header, values))
        return summary
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
    for line in (
        ["Generated at", rows[0]["generated_at"] if rows else chain.format_time(timezone.now())],
        ["Registry version", ropa.registry_version()],
        ["Format", ropa.FORMAT],
        ["Export", export.pk],
        ["Basis", "GDPR Art. 30(1); one row per active purpose"],
        ["Warnings", len(warnings)],
        ["Not recorded", 'A cell reading "Not recorded" states that nobody recorded it.'],
    ):
        cells.xlsx_append(about, line)
    notes = workbook.create_sheet("Warnings")
    for warning in warnings:
        cells.xlsx_append(notes, [warning])
    workbook.save(path)
    return summary


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


def build_access_report(export: Export, path: Path, progress: Progress) -> dict:
    start, end = _parse(export.params.get("start")), _parse(export.params.get("end"))
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = cells.SafeWriter(handle)
        writer.writerow(ACCESS_COLUMNS)
        for row in access_rows(start, end):
            writer.writerow(row)
            rows += 1
    progress(90)
    return {"rows": rows}


# --- Evidence pack ---------------------------------------------------------------------------
