"""Cells of CSV and XLSX exports, safe to open in a spreadsheet (formula injection, CWE-1236).

A spreadsheet reads a cell that begins with ``=``, ``+``, ``-`` or ``@`` as a formula, and
some also after a leading tab or carriage return; a formula can fetch a URL with the other
cells' contents or run a command. Values in exports come from people and systems the reader
does not control (a username typed at the sign-in page, a dataset slug sent to the check API,
a purpose's name), so every text cell goes through ``safe_cell``:

- CSV: a text value beginning with one of those characters gets a leading apostrophe, which
  spreadsheets show as the start of a text cell (the OWASP recommendation). The value is
  otherwise unchanged; a reader of the raw CSV sees the apostrophe.
- XLSX: text is written as a string cell (never a formula), keeping its value exactly, with
  the "quote prefix" style so the spreadsheet keeps it as text when someone edits the cell.

Numbers, dates and empty values keep their type: a negative number is a number, not a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` for a CSV cell: text that would start a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(value) for value in values]


class SafeWriter:
    """``csv.writer`` whose rows go through ``safe_cell``."""

    def __init__(self, handle, **options) -> None:
        options.setdefault("lineterminator", "\r\n")
        self._writer = csv.writer(handle, **options)

    def writerow(self, values: Iterable[Any]) -> None:
        self._writer.writerow(safe_row(values))

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_bytes(header: list[str], rows: Iterable[Iterable[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = SafeWriter(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def xlsx_append(sheet, values: Iterable[Any]) -> None:
    """Append a row to an openpyxl sheet with every text cell written as text."""
    values = list(values)
    sheet.append([None if isinstance(v, str) else v for v in values])
    row = sheet.max_row
    for column, value in enumerate(values, start=1):
        if isinstance(value, str):
            xlsx_text(sheet.cell(row=row, column=column), value)


def xlsx_text(cell, value: str) -> None:
    """Write ``value`` into ``cell`` as a string, never a formula. Control characters XML
    cannot carry (a vertical tab pasted into a name) are replaced, so one stored string
    cannot make every later export of the sheet fail."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
    cell.value = value
    cell.data_type = "s"  # openpyxl makes any "=..." a formula; this keeps it text
    if value.startswith(FORMULA_STARTS):
        cell.quotePrefix = True
