"""The registers export (compliance export kind ``registers``): one XLSX sheet per register
(governance/registers/kinds.py says which columns), or a zip of one CSV per register, every
cell formula-safe, with the generation time and the registry's version."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from django.utils import timezone

from governance.compliance import cells
from governance.compliance.ropa import registry_version
from governance.registers.kinds import KINDS, PROCESSING_COLUMNS
from governance.registers.models import ProcessingRecord


def _tables() -> list[tuple[str, list[str], list[list]]]:
    tables = []
    for kind in KINDS.values():
        entries = kind.model.objects.select_related(*kind.related).prefetch_related(*kind.prefetch)
        tables.append((kind.label, [h for h, _ in kind.columns], kind.rows(entries)))
    records = ProcessingRecord.objects.select_related("updated_by")
    tables.append(
        (
            "Processing records",
            [h for h, _ in PROCESSING_COLUMNS],
            [[value(r) for _, value in PROCESSING_COLUMNS] for r in records],
        )
    )
    return tables


def build(export, path: Path, progress) -> dict:
    generated = timezone.now().isoformat()
    tables = [t for t in _tables() if t[0] != "Processing records"]
    rows = sum(len(t[2]) for t in tables)
    if export.params.get("fmt") == "zip":
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for label, header, values in tables:
                name = label.lower().replace(" ", "-") + ".csv"
                archive.writestr(name, cells.csv_bytes(header, values))
            archive.writestr(
                "README.txt",
                f"Registers export {export.pk}, generated at {generated}, registry version "
                f"{registry_version()}. One CSV per register.\n",
            )
        return {"rows": rows}
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    workbook.remove(workbook.active)
    for label, header, values in tables:
        sheet = workbook.create_sheet(label)
        cells.xlsx_append(sheet, header)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in values:
            cells.xlsx_append(sheet, row)
        sheet.freeze_panes = "A2"
    about = workbook.create_sheet("About")
    for row in (
        ["Generated at", generated],
        ["Registry version", registry_version()],
        ["Export", export.pk],
    ):
        cells.xlsx_append(about, row)
    progress(90)
    buffer = io.BytesIO()
    workbook.save(buffer)
    path.write_bytes(buffer.getvalue())
    return {"rows": rows}
