"""Read a bounded sample of rows from a file or a PostgreSQL table.

Every reader returns at most ``max_rows`` rows and never loads more of the source than it needs:
CSV and JSON Lines stream line by line, Parquet reads record batches from the first row groups,
PostgreSQL runs ``SELECT * ... LIMIT max_rows + 1`` in a read-only transaction. Bad input raises
``SampleError`` whose message is shown to the user as is, so messages name the problem in plain
words and never contain a file's content, a server path or a database password."""

from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

MAX_ROWS = 1000
MAX_BYTES = 50 * 1024 * 1024

KINDS = ("csv", "jsonl", "parquet", "postgres_table")
LABELS = {"csv": "CSV", "jsonl": "JSON Lines", "parquet": "Parquet"}

# Messages are constants so the portal, the API and the tests agree on them word for word.
UNSUPPORTED = (
    'Cannot read a sample from a "{kind}" source; '
    "use a CSV, JSON Lines or Parquet file, or a PostgreSQL table."
)
NO_FILE = "No file was given for this sample."
FILE_NOT_FOUND = "The sample file was not found."
NOT_A_FILE = "The sample path is a folder, not a file."
TOO_LARGE = "The sample file is {size}; the limit is {limit}. Upload a smaller sample."
NO_ROWS = "The sample has no data rows."
EMPTY_FILE = "The sample file is empty."
NOT_TEXT = "The file is not UTF-8 text; a {expected} sample must be a UTF-8 text file."
WRONG_TYPE = "The file is a {found}, not a {expected} file."
NOT_EXPECTED_TYPE = "The file is not a {expected} file."
CSV_MALFORMED = "The CSV file could not be parsed at line {line}: {reason}."
JSONL_INVALID = "Line {line} is not valid JSON; JSON Lines needs one complete object per line."
JSONL_NOT_OBJECT = (
    "Line {line} is a JSON {found}, not an object; JSON Lines needs one object per line."
)
PARQUET_CORRUPT = "The Parquet file could not be read; it may be truncated or corrupt."
BAD_TABLE_NAME = (
    '"{table}" is not a table name of the form schema.table '
    "(letters, digits and underscores, starting with a letter or underscore)."
)
UNKNOWN_TABLE = 'The table "{table}" does not exist or the database user cannot see it.'
TABLE_FORBIDDEN = 'The database user is not allowed to read the table "{table}".'
NO_CONNECTION = "No database connection is configured for this table."
BAD_CONNECTION_URL = "The database connection must be a postgres:// or postgresql:// URL."
CONNECT_FAILED = "Could not connect to the database {where}: {reason}"
QUERY_FAILED = 'Could not read the table "{table}": {reason}'

# A PostgreSQL identifier as written unquoted, capped at the server's 63-byte limit.
_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]{0,62}"
TABLE_NAME = re.compile(rf"^({_IDENTIFIER})\.({_IDENTIFIER})$")

_HEAD_BYTES = 8192
_SNIFF_CHARS = 64 * 1024
_MAGIC = (
    (b"PAR1", "Parquet file"),
    (b"PK\x03\x04", "ZIP archive (for example an Excel workbook)"),
    (b"\x1f\x8b", "gzip archive"),
    (b"%PDF", "PDF document"),
    (b"\x89PNG", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"SQLite format 3", "SQLite database"),
)


@dataclass(frozen=True)
class SampleSource:
    kind: str  # "csv" | "jsonl" | "parquet" | "postgres_table"
    path: str | None = None
    table: str | None = None  # "schema.table" for postgres_table
    connection_url: str | None = None  # postgres://... for postgres_table


@dataclass
class Sample:
    columns: list[str]
    rows: list[dict[str, object]]
    truncated: bool


class SampleError(Exception):
    """The sample cannot be read. ``code`` is machine-readable; ``message`` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def read_sample(
    source: SampleSource, *, max_rows: int = MAX_ROWS, max_bytes: int = MAX_BYTES
) -> Sample:
    """Read at most ``max_rows`` rows; ``truncated`` tells whether the source had more.
    Files larger than ``max_bytes`` are refused before a byte is read."""
    if max_rows < 1:
        raise ValueError("max_rows must be at least 1")
    if source.kind == "postgres_table":
        return _read_postgres(source, max_rows)
    if source.kind not in LABELS:
        raise SampleError("unsupported", UNSUPPORTED.format(kind=source.kind))
    path = _checked_path(source.path, max_bytes)
    reader = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}[source.kind]
    sample = reader(path, max_rows)
    if not sample.rows:
        raise SampleError("empty", NO_ROWS)
    return sample


def _checked_path(path: str | None, max_bytes: int) -> str:
    if not path:
        raise SampleError("unreadable", NO_FILE)
    try:
        stat = os.stat(path)
    except OSError:
        raise SampleError("unreadable", FILE_NOT_FOUND) from None
    if os.path.isdir(path):
        raise SampleError("unreadable", NOT_A_FILE)
    if stat.st_size > max_bytes:
        message = TOO_LARGE.format(size=_human_size(stat.st_size), limit=_human_size(max_bytes))
        raise SampleError("too_large", message)
    if stat.st_size == 0:
        raise SampleError("empty", EMPTY_FILE)
    return path


def _human_size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def _head(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(_HEAD_BYTES)
    except OSError:
        raise SampleError("unreadable", FILE_NOT_FOUND) from None


def _binary_type(head: bytes) -> str | None:
    for magic, label in _MAGIC:
        if head.startswith(magic):
            return label
    return None


def _check_text(head: bytes, expected: str) -> None:
    """Refuse known binary formats by their magic bytes, and anything else that is not text."""
    found = _binary_type(head)
    if found:
        raise SampleError("wrong_type", WRONG_TYPE.format(found=found, expected=expected))
    if b"\x00" in head or head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SampleError("unreadable", NOT_TEXT.format(expected=expected))


def _open_text(path: str):
    # utf-8-sig drops a byte-order mark, which spreadsheet programs like to write.
    return open(path, encoding="utf-8-sig", newline="")


def _read_csv(path: str, max_rows: int) -> Sample:
    _check_text(_head(path), LABELS["csv"])
    reader = None
    try:
        with _open_text(path) as f:
            head = f.read(_SNIFF_CHARS)
            if _looks_like_jsonl(head):
                found = "JSON Lines file"
                raise SampleError("wrong_type", WRONG_TYPE.format(found=found, expected="CSV"))
            delimiter = _sniff_delimiter(head)
            f.seek(0)
            reader = csv.reader(f, delimiter=delimiter)
            header = next((r for r in reader if any(cell.strip() for cell in r)), None)
            if header is None:
                raise SampleError("empty", NO_ROWS)
            columns = _unique_columns(header)
            rows: list[dict[str, object]] = []
            for record in reader:
                if not any(cell.strip() for cell in record):
                    continue  # blank line
                if len(rows) == max_rows:
                    return Sample(columns=columns, rows=rows, truncated=True)
                padded = record + [None] * (len(columns) - len(record))
                rows.append(dict(zip(columns, padded, strict=False)))
    except UnicodeDecodeError:
        raise SampleError("unreadable", NOT_TEXT.format(expected="CSV")) from None
    except csv.Error as exc:
        line = reader.line_num if reader is not None else 1
        message = CSV_MALFORMED.format(line=line, reason=str(exc).rstrip("."))
        raise SampleError("unreadable", message) from None
    return Sample(columns=columns, rows=rows, truncated=False)


def _sniff_delimiter(head: str) -> str:
    # Sniff whole lines only: a line cut in half misleads the sniffer.
    complete = head[: head.rfind("\n") + 1] or head
    try:
        return csv.Sniffer().sniff(complete, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _looks_like_jsonl(head: str) -> bool:
    first = next((line.strip() for line in head.splitlines() if line.strip()), "")
    if not (first.startswith("{") and first.endswith("}")):
        return False
    try:
        return isinstance(json.loads(first), dict)
    except ValueError:
        return False


def _unique_columns(header: list[str]) -> list[str]:
    """Blank header cells get a positional name; repeated names get a suffix, so no column
    silently overwrites another in a row dict."""
    columns: list[str] = []
    seen: set[str] = set()
    for position, raw in enumerate(header, start=1):
        base = raw.strip() or f"column_{position}"
        name, suffix = base, 2
        while name in seen:
            name, suffix = f"{base}_{suffix}", suffix + 1
        seen.add(name)
        columns.append(name)
    return columns


_JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


def _read_jsonl(path: str, max_rows: int) -> Sample:
    _check_text(_head(path), LABELS["jsonl"])
    columns: dict[str, None] = {}  # an ordered set: keys in first-seen order
    objects: list[dict[str, Any]] = []
    truncated = False
    try:
        with _open_text(path) as f:
            for number, line in enumerate(f, start=1):
                text = line.strip()
                if not text:
                    continue
                if len(objects) == max_rows:
                    truncated = True
                    break
                try:
                    value = json.loads(text)
                except ValueError:
                    if not objects and not text.startswith(("{", "[")):
                        raise SampleError(
                            "wrong_type", NOT_EXPECTED_TYPE.format(expected="JSON Lines")
                        ) from None
                    raise SampleError("unreadable", JSONL_INVALID.format(line=number)) from None
                if not isinstance(value, dict):
                    found = "null" if value is None else _JSON_TYPES[type(value)]
                    message = JSONL_NOT_OBJECT.format(line=number, found=found)
                    raise SampleError("unreadable", message)
                columns.update(dict.fromkeys(value))
                objects.append(value)
    except UnicodeDecodeError:
        raise SampleError("unreadable", NOT_TEXT.format(expected="JSON Lines")) from None
    names = list(columns)
    rows = [{name: obj.get(name) for name in names} for obj in objects]
    return Sample(columns=names, rows=rows, truncated=truncated)


def _read_parquet(path: str, max_rows: int) -> Sample:
    import pyarrow as pa
    import pyarrow.parquet as pq

    head = _head(path)
    if not head.startswith(b"PAR1"):
        found = _binary_type(head)
        if found is None and b"\x00" not in head:
            found = "text file"
        message = (
            WRONG_TYPE.format(found=found, expected="Parquet")
            if found
            else NOT_EXPECTED_TYPE.format(expected="Parquet")
        )
        raise SampleError("wrong_type", message)
    try:
        with pq.ParquetFile(path) as parquet:
            columns = list(parquet.schema_arrow.names)
            total = parquet.metadata.num_rows
            rows: list[dict[str, object]] = []
            # Batches come row group by row group; stop as soon as there are enough rows, so
            # only the first row groups are ever read.
            for batch in parquet.iter_batches(batch_size=max_rows):
                rows.extend(batch.slice(0, max_rows - len(rows)).to_pylist())
                if len(rows) >= max_rows:
                    break
    except (pa.ArrowException, OSError, ValueError):
        raise SampleError("unreadable", PARQUET_CORRUPT) from None
    return Sample(columns=columns, rows=rows, truncated=total > len(rows))


def _read_postgres(source: SampleSource, max_rows: int) -> Sample:
    import psycopg
    from psycopg import errors, sql

    table = source.table or ""
    match = TABLE_NAME.match(table)
    if not match:
        raise SampleError("unknown_table", BAD_TABLE_NAME.format(table=table[:200]))
    if not source.connection_url:
        raise SampleError("unreadable", NO_CONNECTION)
    url = source.connection_url
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise SampleError("unreadable", BAD_CONNECTION_URL)
    query = sql.SQL("SELECT * FROM {}.{} LIMIT {}").format(
        sql.Identifier(match[1]), sql.Identifier(match[2]), sql.Literal(max_rows + 1)
    )
    try:
        conn = psycopg.connect(url, connect_timeout=10)
    except psycopg.Error as exc:
        where = _describe(parts)
        reason = _scrub(str(exc), url, parts)
        raise SampleError("unreadable", CONNECT_FAILED.format(where=where, reason=reason)) from None
    try:
        with conn:
            conn.read_only = True
            with conn.cursor() as cursor:
                cursor.execute("SET LOCAL statement_timeout = '30s'")
                cursor.execute(query)
                columns = [column.name for column in cursor.description or ()]
                records = cursor.fetchall()
    except (errors.UndefinedTable, errors.InvalidSchemaName):
        raise SampleError("unknown_table", UNKNOWN_TABLE.format(table=table)) from None
    except errors.InsufficientPrivilege:
        raise SampleError("unreadable", TABLE_FORBIDDEN.format(table=table)) from None
    except psycopg.Error as exc:
        reason = _scrub(str(exc), url, parts)
        raise SampleError("unreadable", QUERY_FAILED.format(table=table, reason=reason)) from None
    finally:
        conn.close()
    if not records:
        raise SampleError("empty", NO_ROWS)
    rows = [dict(zip(columns, record, strict=True)) for record in records[:max_rows]]
    return Sample(columns=columns, rows=rows, truncated=len(records) > max_rows)


def _describe(parts) -> str:
    """Where we tried to connect, without the password."""
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or "localhost"
    where = f"{host}:{port}" if port else host
    database = parts.path.lstrip("/")
    return f"at {where}/{database}" if database else f"at {where}"


def _scrub(text: str, url: str, parts) -> str:
    """The driver's first line, with the URL and the password cut out wherever they appear."""
    reason = (text.strip().splitlines() or ["unknown error"])[0].strip()
    for secret in (url, parts.password, unquote(parts.password or "")):
        if secret:
            reason = reason.replace(secret, "***")
    return reason[:300].rstrip(".") + "."
