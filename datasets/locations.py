"""Where a dataset physically lives, as something two datasets can be compared on.

A catalog entry names its store the way people write it (a path, ``schema.table`` on a named
connection); two names can mean the same place (a symlink, ``..``, another connection name for
the same database, a table name in another case). ``physical_location`` turns a name into a
``Location`` that means the place itself:

- files and folders: the resolved absolute path (symlinks followed);
- PostgreSQL tables: the database the connection URL reaches (host, port, database) and the
  table, compared case-insensitively (conservative: two names that *might* be one table are
  treated as one);
- other stores (``s3://bucket/prefix``, ...): the location text, normalised.

``overlaps`` says whether two locations can touch the same data: equal, or one inside the other
(a folder and a file or sub-folder in it; a URI prefix and a longer one).

The rule that uses it — a physical location belongs to exactly one dataset — lives in
``datasets/policy.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from django.conf import settings

FILE, TABLE, URI, NONE = "file", "table", "uri", "none"
FILE_KINDS = {"csv", "jsonl", "parquet"}
_LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1", "[::1]"}


@dataclass(frozen=True)
class Location:
    kind: str  # file | table | uri | none
    # file: the resolved path; table: "host:port/database" ("?" when the connection is not
    # known); uri: the normalised text
    where: str = ""
    table: str = ""  # table: "schema.table", lowercased

    @property
    def is_known(self) -> bool:
        return self.kind != NONE

    def describe(self) -> str:
        if self.kind == TABLE:
            return f"{self.table} on {self.where}"
        return self.where


def connection_url(name: str) -> str | None:
    """The URL a connection name stands for, among every configured connection (retention's
    and the scanner's share one namespace of database identities)."""
    if not name:
        return None
    for mapping in (
        getattr(settings, "RETENTION_CONNECTIONS", {}) or {},
        getattr(settings, "SCANNER_CONNECTIONS", {}) or {},
    ):
        if name in mapping:
            return mapping[name]
    return None


def connection_names() -> list[str]:
    return sorted(
        set(getattr(settings, "RETENTION_CONNECTIONS", {}) or {})
        | set(getattr(settings, "SCANNER_CONNECTIONS", {}) or {})
    )


def database_of(url: str | None) -> str:
    """``host:port/database`` of a postgres URL; ``?`` when unknown."""
    if not url:
        return "?"
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    host = "localhost" if host in _LOCAL_HOSTS else host
    port = parts.port or 5432
    database = unquote(parts.path.lstrip("/")) or unquote(parts.username or "")
    return f"{host}:{port}/{database}"


def physical_location(*, storage_kind: str, location: str, connection: str = "") -> Location:
    location = (location or "").strip()
    if not location:
        return Location(NONE)
    if storage_kind in FILE_KINDS:
        if location.startswith("file://"):
            location = unquote(urlsplit(location).path)
        return Location(FILE, str(Path(location).expanduser().resolve()))
    if storage_kind == "postgres_table":
        return Location(TABLE, database_of(connection_url(connection)), location.lower())
    return Location(URI, location.rstrip("/").lower())


def overlaps(a: Location, b: Location) -> bool:
    if not (a.is_known and b.is_known) or a.kind != b.kind:
        return False
    if a.kind == TABLE:
        # An unknown database might be either one: conservative.
        same_database = a.where == b.where or "?" in (a.where, b.where)
        return same_database and a.table == b.table
    if a.kind == FILE:
        first, second = PurePosixPath(a.where), PurePosixPath(b.where)
        return first == second or first.is_relative_to(second) or second.is_relative_to(first)
    first, second = a.where, b.where
    return (
        first == second
        or first.startswith(second.rstrip("/") + "/")
        or second.startswith(first.rstrip("/") + "/")
    )
