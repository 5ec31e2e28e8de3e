"""Where a dataset physically lives, as something two datasets can be compared on.

A catalog entry names its store the way people write it (a path, ``schema.table`` on a named
connection); two names can mean the same place (a symlink, ``..``, another connection name for
the same database, a table name in another case). ``physical_location`` turns a name into a
``Location`` that means the place itself:

- files and folders: the resolved absolute path (symlinks followed);
- PostgreSQL tables: the database the connection URL reaches — its host's addresses (resolved,
  every loopback address being one machine), port and database name, with libpq's query
  overrides (``?dbname=``, ``?port=``, ``?host=``) applied — and the table, compared
  case-insensitively (conservative: two names that *might* be one table are treated as one);
- other stores (``s3://bucket/prefix``, ...): the location text, normalised.

``overlaps`` says whether two locations can touch the same data: equal, or one inside the other
(a folder and a file or sub-folder in it; a URI prefix and a longer one).

The rule that uses it — a physical location belongs to exactly one dataset — lives in
``datasets/policy.py``.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from django.conf import settings

FILE, TABLE, URI, NONE = "file", "table", "uri", "none"
FILE_KINDS = {"csv", "jsonl", "parquet"}
_LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1", "[::1]"}


@dataclass(frozen=True)
class Location:
    kind: str  # file | table | uri | none
    # file: the resolved path; table: "port/database" ("?" when the connection is not known);
    # uri: the normalised text
    where: str = ""
    table: str = ""  # table: "schema.table", lowercased
    addresses: frozenset[str] = field(default_factory=frozenset)  # table: the host's addresses

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


@functools.lru_cache(maxsize=256)
def _addresses(host: str) -> frozenset[str]:
    """The addresses a host name reaches; every loopback address (and a Unix socket) is this
    machine, ``local``."""
    if not host or host.startswith("/") or host.lower() in _LOCAL_HOSTS:
        return frozenset({"local"})
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return frozenset({host.lower()})
    found = set()
    for info in infos:
        try:
            address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        except ValueError:
            continue
        found.add("local" if address.is_loopback else str(address))
    return frozenset(found or {host.lower()})


def database_of(url: str | None) -> tuple[frozenset[str], str]:
    """(host addresses, "port/database") of a postgres URL, libpq's query overrides applied;
    (∅, "?") when unknown."""
    if not url:
        return frozenset(), "?"
    try:
        from psycopg.conninfo import conninfo_to_dict

        params = conninfo_to_dict(url)
    except Exception:  # not a URL libpq understands: compare it as text
        parts = urlsplit(url)
        params = {
            "host": parts.hostname or "",
            "port": parts.port,
            "dbname": unquote(parts.path.lstrip("/")),
            "user": unquote(parts.username or ""),
        }
    hosts = [h for h in str(params.get("hostaddr") or params.get("host") or "").split(",")]
    addresses = frozenset().union(*(_addresses(h.strip()) for h in hosts)) if hosts else {"local"}
    port = str(params.get("port") or 5432).split(",")[0]
    database = str(params.get("dbname") or params.get("user") or "")
    return frozenset(addresses), f"{port}/{database}"


def resolve_file(location: str) -> Path:
    """The file or folder a location names — the one reading shared by the location rule, the
    retention connectors and the scanner. ``file://`` URIs are paths; a relative path is
    relative to the project directory (the same for the web process and the workers,
    whatever their working directory); symlinks are followed. ``~`` is not expanded (it would
    mean another folder for each process user): catalog services refuse it."""
    location = (location or "").strip()
    if location.lower().startswith("file:"):
        location = unquote(urlsplit(location).path)
    path = Path(location)
    if not path.is_absolute():
        path = Path(settings.BASE_DIR) / path
    return path.resolve()


def table_location(url: str | None, table: str) -> Location:
    """A table on the database ``url`` reaches."""
    addresses, where = database_of(url)
    return Location(TABLE, where, table.strip().lower(), addresses)


def physical_location(*, storage_kind: str, location: str, connection: str = "") -> Location:
    location = (location or "").strip()
    if not location:
        return Location(NONE)
    if storage_kind in FILE_KINDS:
        return Location(FILE, str(resolve_file(location)))
    if storage_kind == "postgres_table":
        return table_location(connection_url(connection), location)
    return Location(URI, location.rstrip("/").lower())


def overlaps(a: Location, b: Location) -> bool:
    if not (a.is_known and b.is_known) or a.kind != b.kind:
        return False
    if a.kind == TABLE:
        # An unknown database might be either one: conservative.
        if "?" in (a.where, b.where):
            return a.table == b.table
        return a.where == b.where and bool(a.addresses & b.addresses) and a.table == b.table
    if a.kind == FILE:
        first, second = PurePosixPath(a.where), PurePosixPath(b.where)
        return first == second or first.is_relative_to(second) or second.is_relative_to(first)
    first, second = a.where, b.where
    return (
        first == second
        or first.startswith(second.rstrip("/") + "/")
        or second.startswith(first.rstrip("/") + "/")
    )
