"""The retention connector for CSV, JSON Lines and Parquet files: one file, or every file of
the dataset's format under a folder (recursively, so Hive-style partition folders work).

How it changes files:
- ``plan`` reads each file as it is now and yields one batch per file with matching rows. A
  deletion that matches every row of a file inside a folder deletes the file whole (action
  ``unlink``). Otherwise the file's new content is written to a hidden scratch file beside
  it (``.<name>.retention-<random>.tmp``, fsynced) and the batch (action ``rewrite``) names
  both files with the SHA-256 of the current content (``before``) and of the new one
  (``after``). A dataset whose location is a single file is never unlinked: emptied, it keeps
  its header (CSV) or schema (Parquet), so the location stays valid for later runs.
- ``apply`` refuses a file whose content is no longer ``before`` and otherwise unlinks it or
  renames the scratch file over it (``os.replace``, atomic) and fsyncs the folder.
- Rewriting keeps the format: CSV and JSON Lines rows that stay are copied byte for byte
  (same delimiter, quoting, line endings, byte-order mark); rows that change are written
  again (CSV with the file's delimiter, minimal quoting and the row's line ending, JSON Lines
  with ``json.dumps``' default separators). Parquet is filtered row group by row group and
  written with the same schema and compression. CSV and JSON Lines are streamed line by line,
  never loaded whole.

Messages are constants (the tests assert them word for word); they name files relative to
the dataset's location and row numbers, never a row's values.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import io
import json
import os
import re
import secrets
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from django.conf import settings

from datasets.connectors.base import (
    ANONYMIZE,
    DELETE,
    Batch,
    Connector,
    ConnectorError,
    Criteria,
    Layout,
    Preview,
)
from datasets.scanner.readers import (
    _binary_type,
    _looks_like_jsonl,
    _sniff_delimiter,
    _unique_columns,
)

UNKNOWN_FORMAT = (
    'Retention cannot read "{format}" files; the file connector handles CSV, JSON Lines '
    "and Parquet."
)
UNSUPPORTED_OPERATION = 'The file connector cannot "{operation}"; it can delete or anonymise rows.'
NO_LOCATION = "The dataset names no file or folder."
OUTSIDE_ROOTS = '"{location}" is outside the folders retention may change (RETENTION_FILE_ROOTS).'
LINK_OUTSIDE_ROOTS = (
    '"{file}" links to a file outside the folders retention may change (RETENTION_FILE_ROOTS).'
)
LINK_OUTSIDE_LOCATION = (
    '"{file}" links to a file outside the dataset\'s own location; retention changes only the '
    "dataset's own files."
)
NOT_FOUND = '"{location}" does not exist.'
NOT_FILE_OR_FOLDER = '"{location}" is neither a file nor a folder.'
NO_PERMISSION = 'Retention is not allowed to read or change "{file}".'
READ_FAILED = 'Could not read "{file}": {reason}.'
NO_EVENT_TIME_FIELD = (
    "The catalog names no event time column for this dataset, so rows cannot be matched by age."
)
NO_SUBJECT_FIELD = (
    "The catalog names no subject column for this dataset, so rows cannot be matched or held "
    "by subject."
)
NO_IDENTIFIER_FIELDS = (
    "The catalog names no identifier columns for this dataset, so there is nothing to anonymise."
)
MISSING_COLUMN = '"{file}" has no column "{column}" (the {role} column in the catalog).'
NOT_TEXT = '"{file}" is not UTF-8 text; a {expected} file must be UTF-8 text.'
WRONG_TYPE = '"{file}" is a {found}, not a {expected} file.'
NOT_EXPECTED_TYPE = '"{file}" is not a {expected} file.'
CSV_MALFORMED = 'The CSV file "{file}" could not be parsed at line {line}: {reason}.'
JSONL_INVALID = (
    'Line {line} of "{file}" is not valid JSON; JSON Lines needs one complete object per line.'
)
JSONL_NOT_OBJECT = (
    'Line {line} of "{file}" is a JSON {found}, not an object; JSON Lines needs one object '
    "per line."
)
PARQUET_CORRUPT = 'The Parquet file "{file}" could not be read; it may be truncated or corrupt.'
EVENT_TIME_TYPE = (
    'The event time column "{column}" of "{file}" holds {found} values, not dates or timestamps.'
)
# ``row``: the data row (CSV: 1 is the first row after the header; Parquet: 1 is the first
# row), or for JSON Lines the line number.
BAD_EVENT_TIME = (
    'Row {row} of "{file}" has an event time that is not an ISO 8601 date or timestamp.'
)
CANNOT_EMPTY = (
    'The column "{column}" of "{file}" does not allow empty values, so it cannot be anonymised.'
)
CHANGED = '"{file}" changed since it was planned; it was left as it is and will be planned again.'
CRITERIA_CHANGED = (
    '"{file}" was planned under other criteria (a hold was placed since); it was left as it '
    "is and will be planned again."
)
SCRATCH_INVALID = (
    'The prepared copy of "{file}" is missing or damaged; the file was left as it is and '
    "will be planned again."
)
WRITE_FAILED = 'Could not change "{file}": {reason}.'
BAD_BATCH = "The batch does not describe a file change this connector prepared."

ROLE_EVENT_TIME = "event time"
ROLE_SUBJECT = "subject"
ROLE_IDENTIFIER = "identifier"

UNLINK = "unlink"
REWRITE = "rewrite"

_HEAD_BYTES = 8192
_SNIFF_CHARS = 64 * 1024
_HASH_CHUNK = 1024 * 1024
_SCRATCH_MARK = ".retention-"
_SCRATCH_SUFFIX = ".tmp"
_FRACTION = re.compile(r"(\.\d{6})\d+")
_JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


# --- Rows: what matches ------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _event_time(value: Any) -> datetime | None:
    """A cell's event time, or None when empty; ValueError when it is not a date or time."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, str):
        raise ValueError("not an ISO 8601 string")
    text = value.strip()
    if not text:
        return None
    # Python keeps microseconds; nanosecond timestamps (Go, pandas) lose the rest.
    return _utc(datetime.fromisoformat(_FRACTION.sub(r"\1", text, count=1)))


def _subject(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text if text.strip() else None


def _is_set(value: Any) -> bool:
    return value is not None and value != ""


@dataclass(frozen=True)
class _File:
    path: Path  # resolved, inside a retention root
    name: str  # as shown in messages: relative to the dataset's location


class _Rules:
    """Which columns an operation needs, and whether a row matches."""

    def __init__(self, layout: Layout, criteria: Criteria, operation: str) -> None:
        self.criteria = criteria
        self.delete = operation == DELETE
        self.older_than = _utc(criteria.older_than) if criteria.older_than else None
        self.subject_field = layout.subject_field
        self.time_field = layout.event_time_field
        self.identifiers = (
            () if self.delete else tuple(dict.fromkeys(f for f in layout.identifier_fields if f))
        )
        self.required: dict[str, str] = {}
        if not criteria.is_empty:
            if self.older_than is not None:
                if not self.time_field:
                    raise ConnectorError("mismatch", NO_EVENT_TIME_FIELD)
                self.required[self.time_field] = ROLE_EVENT_TIME
            if criteria.subject_ids or criteria.keep_subject_ids:
                if not self.subject_field:
                    raise ConnectorError("mismatch", NO_SUBJECT_FIELD)
                self.required.setdefault(self.subject_field, ROLE_SUBJECT)
            if not self.delete:
                if not self.identifiers:
                    raise ConnectorError("mismatch", NO_IDENTIFIER_FIELDS)
                for name in self.identifiers:
                    self.required.setdefault(name, ROLE_IDENTIFIER)
        # Event times must all parse only when rows are matched by age; otherwise they are
        # read for the preview's "oldest" and an unreadable one is left out.
        self.strict_time = self.older_than is not None
        wanted = (self.subject_field, self.time_field, *self.identifiers)
        self.fields = tuple(dict.fromkeys(f for f in wanted if f))

    def present(self, file: _File, columns: list[str]) -> list[str]:
        """The wanted fields among ``columns``; mismatch when a required one is missing."""
        for name, role in self.required.items():
            if name not in columns:
                raise ConnectorError(
                    "mismatch", MISSING_COLUMN.format(file=file.name, column=name, role=role)
                )
        return [name for name in self.fields if name in columns]

    def match(self, values: dict[str, Any], file: _File, row: int):
        """``(subject, event time)`` of a matching row, None for a row left alone."""
        subject = _subject(values.get(self.subject_field)) if self.subject_field else None
        when = None
        if self.time_field:
            try:
                when = _event_time(values.get(self.time_field))
            except ValueError:
                if self.strict_time:
                    message = BAD_EVENT_TIME.format(row=row, file=file.name)
                    raise ConnectorError("mismatch", message) from None
        criteria = self.criteria
        if subject is not None and subject in criteria.keep_subject_ids:
            return None
        if not (
            criteria.everything
            or (self.older_than is not None and when is not None and when < self.older_than)
            or (subject is not None and subject in criteria.subject_ids)
        ):
            return None
        if self.identifiers and not any(_is_set(values.get(f)) for f in self.identifiers):
            return None  # already anonymised
        return subject, when


class _WholeRows(_Rules):
    """The rules of a subject read: the subject-id field is required, every column is read."""

    def present(self, file: _File, columns: list[str]) -> list[str]:
        super().present(file, columns)
        return list(columns)


@dataclass
class _Tally:
    rows: int = 0
    matched: int = 0
    oldest: datetime | None = None
    subjects: set[str] = field(default_factory=set)


# --- Reading and rewriting the formats -----------------------------------------------------------


def _read_error(file: _File, exc: OSError) -> ConnectorError:
    if isinstance(exc, PermissionError):
        return ConnectorError("forbidden", NO_PERMISSION.format(file=file.name))
    reason = (exc.strerror or type(exc).__name__).rstrip(".")
    return ConnectorError("unreachable", READ_FAILED.format(file=file.name, reason=reason))


def _head(file: _File) -> bytes:
    with open(file.path, "rb") as handle:
        return handle.read(_HEAD_BYTES)


def _check_text(file: _File, label: str) -> None:
    head = _head(file)
    found = _binary_type(head)
    if found:
        raise ConnectorError(
            "mismatch", WRONG_TYPE.format(file=file.name, found=found, expected=label)
        )
    if b"\x00" in head or head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConnectorError("mismatch", NOT_TEXT.format(file=file.name, expected=label))


def _line_end(raw):
    """The line terminator ``raw`` (str or bytes) ends with, empty for a last line without."""
    for end in ("\r\n", "\n", "\r"):
        ending = end if isinstance(raw, str) else end.encode()
        if raw.endswith(ending):
            return ending
    return raw[:0]


@dataclass
class _Item:
    """One record of a text file: ``values`` (the wanted fields) for a data row, None for a
    header, a blank line or anything else copied as is; ``raw`` exactly as read."""

    row: int
    values: dict[str, Any] | None
    raw: Any
    record: Any = None


class _Format(ABC):
    label = ""
    extensions: tuple[str, ...] = ()

    @abstractmethod
    def rows(self, file: _File, rules: _Rules) -> Iterator[tuple[int, dict[str, Any]]]:
        """(row number, wanted values) for every data row."""

    @abstractmethod
    def rewrite(self, file: _File, rules: _Rules, scratch: Path) -> int:
        """Write the file without (delete) or with emptied identifiers in (anonymize) the
        matching rows to ``scratch``; return how many rows changed."""


class _TextFormat(_Format):
    """A format read record by record (CSV, JSON Lines): rows come from ``_items``, which
    also yields what a rewrite copies as is."""

    def rows(self, file: _File, rules: _Rules) -> Iterator[tuple[int, dict[str, Any]]]:
        for item in self._items(file, rules):
            if item.values is not None:
                yield item.row, item.values

    @abstractmethod
    def _items(self, file: _File, rules: _Rules) -> Iterator[_Item]:
        """Every record of the file, as read."""


class _Csv(_TextFormat):
    label = "CSV"
    extensions = (".csv",)

    def _items(self, file: _File, rules: _Rules) -> Iterator[_Item]:
        _check_text(file, self.label)
        with open(file.path, encoding="utf-8", newline="") as handle:
            try:
                sample = handle.read(_SNIFF_CHARS).removeprefix("\ufeff")
                if _looks_like_jsonl(sample):
                    message = WRONG_TYPE.format(
                        file=file.name, found="JSON Lines file", expected=self.label
                    )
                    raise ConnectorError("mismatch", message)
                delimiter = _sniff_delimiter(sample)
                handle.seek(0)
                yield from self._records(file, rules, handle, delimiter)
            except UnicodeDecodeError:
                message = NOT_TEXT.format(file=file.name, expected=self.label)
                raise ConnectorError("mismatch", message) from None

    def _records(self, file: _File, rules: _Rules, handle, delimiter: str) -> Iterator[_Item]:
        pending: list[str] = []  # the physical lines of the record being parsed

        def lines():
            for number, line in enumerate(handle):
                pending.append(line)
                yield line.removeprefix("\ufeff") if number == 0 else line

        reader = csv.reader(lines(), delimiter=delimiter)
        positions: dict[str, int] | None = None
        row = 0
        try:
            for record in reader:
                raw = "".join(pending)
                pending.clear()
                if not any(cell.strip() for cell in record):  # a blank line: copied as is
                    yield _Item(row=row, values=None, raw=raw)
                    continue
                if positions is None:  # the header: the first line that is not blank
                    columns = _unique_columns(record)
                    present = rules.present(file, columns)
                    positions = {name: columns.index(name) for name in present}
                    yield _Item(row=row, values=None, raw=raw)
                    continue
                row += 1
                values = {
                    name: record[index] if index < len(record) else None
                    for name, index in positions.items()
                }
                yield _Item(row=row, values=values, raw=raw, record=(record, positions, delimiter))
            if pending:  # lines the parser read without making a record of them: kept
                yield _Item(row=row, values=None, raw="".join(pending))
        except csv.Error as exc:
            reason = str(exc).rstrip(".")
            message = CSV_MALFORMED.format(file=file.name, line=reader.line_num, reason=reason)
            raise ConnectorError("mismatch", message) from None

    def rewrite(self, file: _File, rules: _Rules, scratch: Path) -> int:
        changed = 0
        with open(scratch, "wb") as out:
            for item in self._items(file, rules):
                hit = None if item.values is None else rules.match(item.values, file, item.row)
                if hit is None:
                    out.write(item.raw.encode("utf-8"))
                    continue
                changed += 1
                if rules.delete:
                    continue
                record, positions, delimiter = item.record
                cells = list(record)
                for name in rules.identifiers:
                    index = positions.get(name)
                    if index is not None and index < len(cells):
                        cells[index] = ""
                buffer = io.StringIO()
                writer = csv.writer(buffer, delimiter=delimiter, lineterminator=_line_end(item.raw))
                writer.writerow(cells)
                out.write(buffer.getvalue().encode("utf-8"))
        return changed


class _JsonLines(_TextFormat):
    label = "JSON Lines"
    extensions = (".jsonl", ".ndjson", ".json")

    def _items(self, file: _File, rules: _Rules) -> Iterator[_Item]:
        _check_text(file, self.label)
        missing = dict(rules.required)
        objects = 0
        with open(file.path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    message = NOT_TEXT.format(file=file.name, expected=self.label)
                    raise ConnectorError("mismatch", message) from None
                text = text.removeprefix("\ufeff").strip() if number == 1 else text.strip()
                if not text:
                    yield _Item(row=number, values=None, raw=raw)
                    continue
                try:
                    value = json.loads(text)
                except ValueError:
                    if not objects and not text.startswith(("{", "[")):
                        message = NOT_EXPECTED_TYPE.format(file=file.name, expected=self.label)
                        raise ConnectorError("mismatch", message) from None
                    message = JSONL_INVALID.format(line=number, file=file.name)
                    raise ConnectorError("mismatch", message) from None
                if not isinstance(value, dict):
                    found = "null" if value is None else _JSON_TYPES[type(value)]
                    message = JSONL_NOT_OBJECT.format(line=number, file=file.name, found=found)
                    raise ConnectorError("mismatch", message)
                objects += 1
                for name in [name for name in missing if name in value]:
                    del missing[name]
                values = {name: value[name] for name in rules.fields if name in value}
                yield _Item(row=number, values=values, raw=raw, record=value)
        # A key absent from one object is an empty value there; absent from every object of
        # the file, it is a column the file does not have.
        if objects:
            for name, role in missing.items():
                message = MISSING_COLUMN.format(file=file.name, column=name, role=role)
                raise ConnectorError("mismatch", message)

    def rewrite(self, file: _File, rules: _Rules, scratch: Path) -> int:
        changed = 0
        with open(scratch, "wb") as out:
            for item in self._items(file, rules):
                hit = None if item.values is None else rules.match(item.values, file, item.row)
                if hit is None:
                    out.write(item.raw)
                    continue
                changed += 1
                if rules.delete:
                    continue
                record = item.record
                for name in rules.identifiers:
                    if name in record:
                        record[name] = None
                line = json.dumps(record, ensure_ascii=False).encode("utf-8")
                if item.row == 1 and item.raw.startswith(codecs.BOM_UTF8):
                    line = codecs.BOM_UTF8 + line
                out.write(line + _line_end(item.raw))
        return changed


class _Parquet(_Format):
    label = "Parquet"
    extensions = (".parquet",)

    def _open(self, file: _File):
        import pyarrow as pa
        import pyarrow.parquet as pq

        head = _head(file)
        if not head.startswith(b"PAR1"):
            found = _binary_type(head)
            if found is None and b"\x00" not in head:
                found = "text file"
            message = (
                WRONG_TYPE.format(file=file.name, found=found, expected=self.label)
                if found
                else NOT_EXPECTED_TYPE.format(file=file.name, expected=self.label)
            )
            raise ConnectorError("mismatch", message)
        try:
            return pq.ParquetFile(file.path)
        except (FileNotFoundError, PermissionError):
            raise
        except (pa.ArrowException, OSError, ValueError):
            raise self._corrupt(file) from None

    def _corrupt(self, file: _File) -> ConnectorError:
        return ConnectorError("mismatch", PARQUET_CORRUPT.format(file=file.name))

    def _present(self, file: _File, rules: _Rules, parquet) -> list[str]:
        import pyarrow as pa

        schema = parquet.schema_arrow
        present = rules.present(file, list(schema.names))
        if rules.time_field in present:
            kind = schema.field(rules.time_field).type
            if pa.types.is_dictionary(kind):
                kind = kind.value_type
            readable = (
                pa.types.is_timestamp(kind)
                or pa.types.is_date(kind)
                or pa.types.is_string(kind)
                or pa.types.is_large_string(kind)
                or pa.types.is_null(kind)
            )
            if not readable:
                if rules.strict_time:
                    message = EVENT_TIME_TYPE.format(
                        column=rules.time_field, file=file.name, found=str(kind)
                    )
                    raise ConnectorError("mismatch", message)
                present.remove(rules.time_field)
        for name in rules.identifiers:
            if name in present and not schema.field(name).nullable:
                raise ConnectorError("mismatch", CANNOT_EMPTY.format(column=name, file=file.name))
        return present

    def _columns(self, file: _File, rules: _Rules, table, present, first_row: int):
        """The wanted fields of a row group as Python lists; identifiers as True (set) or
        None (empty)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        columns: dict[str, list] = {}
        for name in present:
            column = table.column(name)
            if pa.types.is_dictionary(column.type):
                column = column.cast(column.type.value_type)
            if name in rules.identifiers and name not in (rules.subject_field, rules.time_field):
                is_set = pc.is_valid(column)
                if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                    is_set = pc.and_kleene(is_set, pc.not_equal(column, "")).fill_null(False)
                columns[name] = [True if flag else None for flag in is_set.to_pylist()]
                continue
            if name == rules.time_field and pa.types.is_timestamp(column.type):
                column = column.cast(pa.timestamp("us", column.type.tz), safe=False)
            try:
                columns[name] = column.to_pylist()
            except (ValueError, OverflowError):
                message = BAD_EVENT_TIME.format(row=first_row, file=file.name)
                raise ConnectorError("mismatch", message) from None
        return columns

    def _groups(self, file: _File, rules: _Rules, *, whole: bool):
        """(table, per-row values, number of the group's first row) for each row group."""
        import pyarrow as pa

        parquet = self._open(file)
        with parquet:
            present = self._present(file, rules, parquet)
            first_row = 1
            for group in range(parquet.num_row_groups):
                try:
                    table = parquet.read_row_group(group, columns=None if whole else present)
                    columns = self._columns(file, rules, table, present, first_row)
                except (pa.ArrowException, OSError):
                    raise self._corrupt(file) from None
                count = parquet.metadata.row_group(group).num_rows
                values = [
                    {name: column[index] for name, column in columns.items()}
                    for index in range(count)
                ]
                yield table, values, first_row
                first_row += count

    def rows(self, file: _File, rules: _Rules) -> Iterator[tuple[int, dict[str, Any]]]:
        for _table, values, first_row in self._groups(file, rules, whole=False):
            for offset, row_values in enumerate(values):
                yield first_row + offset, row_values

    def rewrite(self, file: _File, rules: _Rules, scratch: Path) -> int:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        with self._open(file) as parquet:
            schema = parquet.schema_arrow
            options = _writer_options(parquet)
        changed = 0
        with pq.ParquetWriter(str(scratch), schema=schema, **options) as writer:
            for table, values, first_row in self._groups(file, rules, whole=True):
                hits = [
                    rules.match(row_values, file, first_row + offset) is not None
                    for offset, row_values in enumerate(values)
                ]
                changed += sum(hits)
                mask = pa.array(hits, pa.bool_())
                if rules.delete:
                    table = table.filter(pc.invert(mask))
                else:
                    for name in rules.identifiers:
                        index = table.schema.get_field_index(name)
                        if index < 0:
                            continue
                        column = table.column(index)
                        emptied = pc.if_else(mask, pa.scalar(None, column.type), column)
                        table = table.set_column(index, table.schema.field(index), emptied)
                if table.num_rows:
                    writer.write_table(table)
        return changed


def _writer_options(parquet) -> dict[str, str]:
    """The compression and format version of the file being rewritten, where the writer
    knows them."""
    metadata = parquet.metadata
    options = {}
    if metadata.num_row_groups and metadata.num_columns:
        codec = str(metadata.row_group(0).column(0).compression).upper()
        codec = "NONE" if codec == "UNCOMPRESSED" else codec
        if codec in ("NONE", "SNAPPY", "GZIP", "BROTLI", "LZ4", "ZSTD"):
            options["compression"] = codec.lower()
    if metadata.format_version in ("1.0", "2.4", "2.6"):
        options["version"] = metadata.format_version
    return options


_FORMATS: dict[str, type[_Format]] = {"csv": _Csv, "jsonl": _JsonLines, "parquet": _Parquet}


# --- Files -------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _roots() -> list[Path]:
    return [Path(root).resolve() for root in settings.RETENTION_FILE_ROOTS]


def _inside_roots(path: Path) -> bool:
    return any(path == root or path.is_relative_to(root) for root in _roots())


def _is_scratch(name: str) -> bool:
    return name.startswith(".") and _SCRATCH_MARK in name and name.endswith(_SCRATCH_SUFFIX)


class FileConnector(Connector):
    """Retention on CSV, JSON Lines or Parquet files; see the module docstring."""

    operations = frozenset({DELETE, ANONYMIZE})
    kind = "file"

    def __init__(self, *, location: str, layout: Layout, options: dict | None = None) -> None:
        super().__init__(location=location, layout=layout, options=options)
        name = str(self.options.get("format", ""))
        if name not in _FORMATS:
            raise ConnectorError("unsupported", UNKNOWN_FORMAT.format(format=name))
        self.kind = name
        self.file_format = _FORMATS[name]()

    # --- the protocol ---

    def check(self, criteria: Criteria, operation: str = DELETE) -> None:
        rules = self._rules(criteria, operation)
        for file in self._files():
            self._tally(file, rules)

    def preview(self, criteria: Criteria, operation: str = DELETE) -> Preview:
        rules = self._rules(criteria, operation)
        whole_files = self._is_folder()
        total = _Tally()
        files = 0
        for file in self._files():
            tally = self._tally(file, rules, subjects=total.subjects)
            if tally is None:
                continue
            total.matched += tally.matched
            if tally.oldest is not None and (total.oldest is None or tally.oldest < total.oldest):
                total.oldest = tally.oldest
            if rules.delete and whole_files and tally.matched and tally.matched == tally.rows:
                files += 1
        return Preview(
            rows=total.matched, files=files, oldest=total.oldest, subjects=len(total.subjects)
        )

    def plan(self, criteria: Criteria, operation: str, *, batch_size: int) -> Iterator[Batch]:
        # Operation and columns are checked now; the files are read batch by batch.
        rules = self._rules(criteria, operation)
        return self._batches(rules)

    def apply(self, batch: Batch, criteria: Criteria | None = None) -> int:
        # A file batch is the whole rewritten file, computed from the criteria when it was
        # planned; it is applied only if it was planned under these criteria (the runner
        # discards and plans again when holds change) and the file did not change since.
        action, path, scratch, file = self._target(batch)
        payload = batch.payload
        if criteria is not None and payload.get("criteria") != criteria.digest():
            self.discard(batch)
            raise ConnectorError("failed", CRITERIA_CHANGED.format(file=file.name))
        try:
            if action == REWRITE and (not scratch.exists() or _sha256(scratch) != payload["after"]):
                scratch.unlink(missing_ok=True)
                raise ConnectorError("failed", SCRATCH_INVALID.format(file=file.name))
            if not path.exists() or _sha256(path) != payload["before"]:
                if scratch is not None:
                    scratch.unlink(missing_ok=True)
                raise ConnectorError("failed", CHANGED.format(file=file.name))
            if action == UNLINK:
                os.unlink(path)
            else:
                os.replace(scratch, path)
            _fsync(path.parent)
        except PermissionError:
            raise ConnectorError("forbidden", NO_PERMISSION.format(file=file.name)) from None
        except OSError as exc:
            reason = (exc.strerror or type(exc).__name__).rstrip(".")
            raise ConnectorError(
                "failed", WRITE_FAILED.format(file=file.name, reason=reason)
            ) from None
        return int(payload["rows"])

    def applied(self, batch: Batch, criteria: Criteria | None = None) -> int | None:
        action, path, scratch, _file = self._target(batch)
        rows = int(batch.payload["rows"])
        if action == UNLINK:
            return None if os.path.lexists(path) else rows
        if os.path.lexists(scratch) or not path.is_file():
            return None
        return rows if _sha256(path) == batch.payload["after"] else None

    def discard(self, batch: Batch) -> None:
        _action, _path, scratch, _file = self._target(batch)
        if scratch is not None:
            scratch.unlink(missing_ok=True)

    def remaining(self, criteria: Criteria, operation: str = DELETE) -> int:
        rules = self._rules(criteria, operation)
        return sum(tally.matched for file in self._files() if (tally := self._tally(file, rules)))

    def verification_method(self, operation: str = DELETE) -> str:
        what = "that match the criteria"
        if operation == ANONYMIZE:
            what += " and still have an identifier set"
        if self.resolved_location().is_dir():
            label = self.file_format.label
            return f"re-read of every {label} file under {self.location} counting rows {what}"
        return f"re-read of {self.location} counting rows {what}"

    def read_subject(
        self, subject_ids: frozenset[str], *, limit: int
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every column of the rows whose subject-id field holds one of ``subject_ids``, file
        by file in path order, at most ``limit``. Reads only; scratch files are never made."""
        rules = _WholeRows(self.layout, Criteria(subject_ids=frozenset(subject_ids)), DELETE)
        found = 0
        for file in self._files():
            try:
                for row, values in self._whole_rows(file, rules):
                    if rules.match(values, file, row) is None:
                        continue
                    yield file.name, values
                    found += 1
                    if found >= limit:
                        return
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise _read_error(file, exc) from None

    def _whole_rows(self, file: _File, rules: _Rules) -> Iterator[tuple[int, dict[str, Any]]]:
        if isinstance(self.file_format, _JsonLines):
            for item in self.file_format._items(file, rules):
                if item.values is not None:
                    yield item.row, dict(item.record)
            return
        yield from self.file_format.rows(file, rules)

    # --- helpers ---

    def _rules(self, criteria: Criteria, operation: str) -> _Rules:
        if operation not in self.operations:
            raise ConnectorError("unsupported", UNSUPPORTED_OPERATION.format(operation=operation))
        return _Rules(self.layout, criteria, operation)

    def resolved_location(self) -> Path:
        """The location as the catalog's location rule reads it (datasets.locations)."""
        from datasets.locations import resolve_file

        return resolve_file(self.location)

    def _location(self) -> Path:
        if not self.location:
            raise ConnectorError("unreachable", NO_LOCATION)
        location = self.resolved_location()
        if not _inside_roots(location):
            raise ConnectorError("forbidden", OUTSIDE_ROOTS.format(location=self.location))
        if not location.exists():
            raise ConnectorError("unreachable", NOT_FOUND.format(location=self.location))
        return location

    def _is_folder(self) -> bool:
        return self._location().is_dir()

    def _files(self) -> list[_File]:
        """The dataset's files now, sorted by their path under the location."""
        location = self._location()
        if location.is_file():
            return [_File(path=location, name=location.name)]
        if not location.is_dir():
            raise ConnectorError("unreachable", NOT_FILE_OR_FOLDER.format(location=self.location))

        def refuse(exc: OSError) -> None:
            failed = Path(exc.filename or location)
            name = (
                failed.relative_to(location).as_posix() if failed.is_relative_to(location) else "."
            )
            raise _read_error(_File(path=failed, name=name), exc)

        found: dict[Path, _File] = {}
        listed = []
        for folder, folders, names in os.walk(location, onerror=refuse):
            folders[:] = [name for name in folders if not name.startswith(".")]
            for name in names:
                if name.startswith(".") or _is_scratch(name):
                    continue
                if not name.lower().endswith(self.file_format.extensions):
                    continue
                listed.append(Path(folder) / name)
        for path in sorted(listed, key=lambda p: p.relative_to(location).as_posix()):
            name = path.relative_to(location).as_posix()
            real = path.resolve()
            if not _inside_roots(real):
                raise ConnectorError("forbidden", LINK_OUTSIDE_ROOTS.format(file=name))
            if not real.is_relative_to(location):
                # a link out of the dataset's own folder could reach another dataset's data
                raise ConnectorError("forbidden", LINK_OUTSIDE_LOCATION.format(file=name))
            if real.is_file() and real not in found:
                found[real] = _File(path=real, name=name)
        return list(found.values())

    def _display(self, path: Path) -> _File:
        try:
            location = self.resolved_location()
        except OSError:
            return _File(path=path, name=path.name)
        if location.is_dir() and path.is_relative_to(location):
            return _File(path=path, name=path.relative_to(location).as_posix())
        return _File(path=path, name=path.name)

    def _tally(self, file: _File, rules: _Rules, subjects: set[str] | None = None):
        """Count the file's rows and those matching; None when the file vanished."""
        tally = _Tally()
        try:
            for row, values in self.file_format.rows(file, rules):
                tally.rows += 1
                hit = rules.match(values, file, row)
                if hit is None:
                    continue
                tally.matched += 1
                subject, when = hit
                if when is not None and (tally.oldest is None or when < tally.oldest):
                    tally.oldest = when
                if subjects is not None and subject is not None:
                    subjects.add(subject)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _read_error(file, exc) from None
        return tally

    def _batches(self, rules: _Rules) -> Iterator[Batch]:
        unlink_whole = rules.delete and self._is_folder()
        for file in self._files():
            batch = self._plan_file(file, rules, unlink_whole=unlink_whole)
            if batch is not None:
                yield batch

    def _plan_file(self, file: _File, rules: _Rules, *, unlink_whole: bool) -> Batch | None:
        path = file.path
        try:
            before = _sha256(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _read_error(file, exc) from None
        tally = self._tally(file, rules)
        if tally is None or not tally.matched:
            return None
        if unlink_whole and tally.matched == tally.rows:
            payload = {
                "action": UNLINK,
                "path": str(path),
                "before": before,
                "rows": tally.matched,
                "criteria": rules.criteria.digest(),
            }
            return Batch(payload=payload, rows=tally.matched, files=1)
        scratch = path.with_name(
            f".{path.name}{_SCRATCH_MARK}{secrets.token_hex(8)}{_SCRATCH_SUFFIX}"
        )
        try:
            with open(scratch, "xb"):
                pass  # claim the name
            changed = self.file_format.rewrite(file, rules, scratch)
            _fsync(scratch)
            _keep_owner_and_mode(path, scratch)
            if _sha256(path) != before:
                raise ConnectorError("failed", CHANGED.format(file=file.name))
            after = _sha256(scratch)
        except BaseException as exc:
            scratch.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise _read_error(file, exc) from None
            raise
        if not changed:
            scratch.unlink(missing_ok=True)
            return None
        payload = {
            "action": REWRITE,
            "path": str(path),
            "scratch": str(scratch),
            "before": before,
            "after": after,
            "rows": changed,
            "criteria": rules.criteria.digest(),
        }
        return Batch(payload=payload, rows=changed, files=0)

    def _target(self, batch: Batch) -> tuple[str, Path, Path | None, _File]:
        """The action and files of a batch this connector planned; anything else is refused."""
        payload = batch.payload if isinstance(batch.payload, dict) else {}
        action = payload.get("action")
        raw_path = payload.get("path")
        if action not in (UNLINK, REWRITE) or not isinstance(raw_path, str):
            raise ConnectorError("failed", BAD_BATCH)
        path = Path(raw_path)
        if (
            not path.is_absolute()
            or Path(os.path.realpath(path.parent)) != path.parent
            or not _inside_roots(path.parent)
            or not isinstance(payload.get("before"), str)
            or not isinstance(payload.get("rows"), int)
        ):
            raise ConnectorError("failed", BAD_BATCH)
        scratch = None
        if action == REWRITE:
            raw_scratch = payload.get("scratch")
            if not isinstance(raw_scratch, str) or not isinstance(payload.get("after"), str):
                raise ConnectorError("failed", BAD_BATCH)
            scratch = Path(raw_scratch)
            if (
                scratch.parent != path.parent
                or not scratch.name.startswith(f".{path.name}{_SCRATCH_MARK}")
                or not _is_scratch(scratch.name)
            ):
                raise ConnectorError("failed", BAD_BATCH)
        return action, path, scratch, self._display(path)


def _keep_owner_and_mode(original: Path, scratch: Path) -> None:
    shutil.copymode(original, scratch)
    stat = original.stat()
    # Only a privileged process may give a file away; otherwise the new file is ours.
    with contextlib.suppress(OSError):
        os.chown(scratch, stat.st_uid, stat.st_gid)
