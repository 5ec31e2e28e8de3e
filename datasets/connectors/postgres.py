"""Retention connector for a PostgreSQL table.

The connection comes from ``RETENTION_CONNECTIONS`` by name (``options["connection"]``); the
dataset's location is ``schema.table``. The table needs a single-column primary key: rows are
selected in primary-key order, ``batch_size`` at a time, and each batch is deleted (or its
identifier columns set to NULL) in its own short transaction with ``lock_timeout`` set, so a
retention run never holds locks on more than one batch of rows, and a long run never blocks the
pipelines writing to the table.

Every statement is built from ``psycopg.sql.Identifier``s and carries values as parameters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import urlsplit

import psycopg
from django.conf import settings
from psycopg import errors, sql

from datasets.connectors.base import (
    ANONYMIZE,
    DELETE,
    Batch,
    Connector,
    ConnectorError,
    Criteria,
    Preview,
)
from datasets.scanner.readers import TABLE_NAME, _describe, _scrub

MSG_NO_CONNECTION_NAME = (
    "A PostgreSQL table needs a connection: name one of RETENTION_CONNECTIONS in the policy."
)
MSG_UNKNOWN_CONNECTION = (
    "No retention connection named {name!r}; configured: {known}. Add it to RETENTION_CONNECTIONS."
)
MSG_BAD_URL = "The retention connection {name!r} must be a postgres:// or postgresql:// URL."
MSG_BAD_TABLE = (
    'The dataset location "{table}" is not a table name; give it as schema.table '
    "(letters, digits and underscores)."
)
MSG_CONNECT_FAILED = "Could not connect to the database {where}: {reason}"
MSG_NO_TABLE = 'The table "{table}" does not exist or the connection\'s role cannot see it.'
MSG_NO_PRIMARY_KEY = (
    'The table "{table}" has no single-column primary key; retention deletes in batches by '
    "primary key."
)
MSG_NO_COLUMN = 'The table "{table}" has no column "{column}" (the catalog names it as the {what}).'
MSG_EVENT_TIME_TYPE = (
    'The event-time column "{column}" is of type {type}; retention by age needs a date, '
    "timestamp or timestamptz column."
)
MSG_NOT_NULLABLE = (
    'The column "{column}" is NOT NULL, so it cannot be emptied: anonymising needs nullable '
    "identifier columns (or use the delete action)."
)
MSG_NO_PRIVILEGE = 'The connection\'s role may not {privilege} rows of "{table}".'
MSG_QUERY_FAILED = 'The database refused a statement on "{table}": {reason}'
MSG_UNSUPPORTED = "The PostgreSQL connector cannot {operation}."

_TIME_TYPES = {
    "date",
    "timestamp without time zone",
    "timestamp with time zone",
}
_TEXT_TYPES = {"text", "character varying", "character"}
_INTEGER_TYPES = {"smallint", "integer", "bigint"}
# The text forms PostgreSQL writes for a batch's keys, read back only to list them (tests,
# support), never to build SQL: one range of an int8multirange ("[low,high)", canonical), and
# one element of an array (array_out: a double-quoted string with backslash escapes, or a
# bare word).
_RANGE = re.compile(r"\[(-?\d+),(-?\d+)\)")
_ARRAY_ELEMENT = re.compile(r'"((?:[^"\\]|\\.)*)"|([^{},"]+)')


class PostgresTableConnector(Connector):
    kind = "postgres_table"
    operations = frozenset({DELETE, ANONYMIZE})

    def __init__(self, *, location, layout, options=None) -> None:
        super().__init__(location=location, layout=layout, options=options)
        self._conn: psycopg.Connection | None = None
        self._shape: dict[str, Any] | None = None
        match = TABLE_NAME.match(location or "")
        self._schema, self._table = (match[1], match[2]) if match else ("", "")

    # --- connection and shape ---------------------------------------------------------------

    def _url(self) -> tuple[str, str]:
        name = self.options.get("connection") or ""
        if not name:
            raise ConnectorError("unreachable", MSG_NO_CONNECTION_NAME)
        connections = getattr(settings, "RETENTION_CONNECTIONS", {}) or {}
        if name not in connections:
            known = ", ".join(sorted(connections)) or "none"
            raise ConnectorError(
                "unreachable", MSG_UNKNOWN_CONNECTION.format(name=name, known=known)
            )
        url = connections[name]
        if urlsplit(url).scheme not in ("postgres", "postgresql"):
            raise ConnectorError("unreachable", MSG_BAD_URL.format(name=name))
        return name, url

    def _connection(self) -> psycopg.Connection:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        if not self._schema:
            raise ConnectorError("mismatch", MSG_BAD_TABLE.format(table=self.location[:200]))
        _, url = self._url()
        parts = urlsplit(url)
        try:
            conn = psycopg.connect(
                url, connect_timeout=10, autocommit=True, application_name="governance-retention"
            )
        except psycopg.Error as exc:
            raise ConnectorError(
                "unreachable",
                MSG_CONNECT_FAILED.format(
                    where=_describe(parts), reason=_scrub(str(exc), url, parts)
                ),
            ) from None
        conn.execute("SET TIME ZONE 'UTC'")
        # Every statement, reads included, gives up behind a lock instead of queueing (a run
        # fails with the store's reason and the next one retries); none runs unbounded.
        conn.execute("SET lock_timeout = '5s'")
        conn.execute("SET statement_timeout = '300s'")
        self._conn = conn
        return conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @contextmanager
    def _translated(self):
        """Database errors become ConnectorErrors, without values in them. A lock or statement
        timeout is a refused change (the next run retries); a lost connection is unreachable."""
        try:
            yield
        except (errors.LockNotAvailable, errors.QueryCanceled) as exc:
            raise ConnectorError("failed", self._failed(exc)) from None
        except psycopg.OperationalError as exc:
            self.close()
            raise ConnectorError("unreachable", self._failed(exc)) from None
        except errors.InsufficientPrivilege as exc:
            raise ConnectorError("forbidden", self._failed(exc)) from None
        except psycopg.Error as exc:
            raise ConnectorError("failed", self._failed(exc)) from None

    def _run(self, query, params=(), *, fetch: str = "all"):
        """One statement in autocommit."""
        conn = self._connection()
        with self._translated(), conn.cursor() as cursor:
            cursor.execute(query, params)
            if fetch == "one":
                return cursor.fetchone()
            return cursor.fetchall()

    def _failed(self, exc: Exception) -> str:
        # The driver's first line only: PostgreSQL puts no row values in it for these
        # statements except in DETAIL lines, which are cut.
        _, url = self._url()
        parts = urlsplit(url)
        return MSG_QUERY_FAILED.format(table=self.location, reason=_scrub(str(exc), url, parts))

    def shape(self) -> dict[str, Any]:
        """Columns (name → (type, nullable)), the primary key, and privileges; cached."""
        if self._shape is not None:
            return self._shape
        table = f"{self._schema}.{self._table}"
        found = self._run(
            "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')",
            (self._schema, self._table),
            fetch="one",
        )
        if found is None:
            raise ConnectorError("unreachable", MSG_NO_TABLE.format(table=table))
        oid = found[0]
        columns = {
            name: (data_type, nullable)
            for name, data_type, nullable in self._run(
                "SELECT a.attname, format_type(a.atttypid, NULL), NOT a.attnotnull "
                "FROM pg_attribute a WHERE a.attrelid = %s AND a.attnum > 0 "
                "AND NOT a.attisdropped",
                (oid,),
            )
        }
        keys = self._run(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_index i "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = %s AND i.indisprimary",
            (oid,),
        )
        if len(keys) != 1:
            raise ConnectorError("mismatch", MSG_NO_PRIMARY_KEY.format(table=table))
        privileges = self._run(
            "SELECT has_table_privilege(%s::oid, 'SELECT'), has_table_privilege(%s::oid, "
            "'DELETE'), has_table_privilege(%s::oid, 'UPDATE')",
            (oid, oid, oid),
            fetch="one",
        )
        self._shape = {
            "table": table,
            "columns": columns,
            "pk": keys[0][0],
            "pk_type": keys[0][1],
            "privileges": dict(zip(("select", "delete", "update"), privileges, strict=True)),
        }
        return self._shape

    # --- SQL fragments ----------------------------------------------------------------------

    def _relation(self) -> sql.Composable:
        return sql.Identifier(self._schema, self._table)

    def _subject_expr(self) -> sql.Composable:
        column = sql.Identifier(self.layout.subject_field)
        data_type = self.shape()["columns"][self.layout.subject_field][0]
        if data_type.split("(")[0] in _TEXT_TYPES:
            return column
        return sql.SQL("{}::text").format(column)

    def _where(self, criteria: Criteria, operation: str) -> tuple[sql.Composable, list]:
        """The match condition of ``criteria`` (see base.Criteria) and its parameters."""
        parts: list[sql.Composable] = []
        params: list = []
        if criteria.everything:
            parts.append(sql.SQL("TRUE"))
        if criteria.older_than is not None:
            parts.append(sql.SQL("{} < %s").format(sql.Identifier(self.layout.event_time_field)))
            params.append(criteria.older_than)
        if criteria.subject_ids:
            parts.append(sql.SQL("{} = ANY(%s::text[])").format(self._subject_expr()))
            params.append(sorted(criteria.subject_ids))
        condition = sql.SQL("({})").format(sql.SQL(" OR ").join(parts or [sql.SQL("FALSE")]))
        if criteria.keep_subject_ids:
            condition = sql.SQL("{} AND NOT COALESCE({} = ANY(%s::text[]), FALSE)").format(
                condition, self._subject_expr()
            )
            params.append(sorted(criteria.keep_subject_ids))
        if operation == ANONYMIZE:
            condition = sql.SQL("{} AND ({})").format(condition, self._identifiers_set())
        return condition, params

    def _identifiers_set(self) -> sql.Composable:
        return sql.SQL(" OR ").join(
            sql.SQL("{} IS NOT NULL").format(sql.Identifier(name))
            for name in self.layout.identifier_fields
        )

    # --- the protocol -----------------------------------------------------------------------

    def check(self, criteria: Criteria, operation: str = DELETE) -> None:
        if operation not in self.operations:
            raise ConnectorError("unsupported", MSG_UNSUPPORTED.format(operation=operation))
        shape = self.shape()
        table, columns = shape["table"], shape["columns"]
        needed: list[tuple[str, str]] = []
        if criteria.older_than is not None:
            needed.append((self.layout.event_time_field, "event-time field"))
        if criteria.subject_ids or criteria.keep_subject_ids:
            needed.append((self.layout.subject_field, "subject-id field"))
        if operation == ANONYMIZE:
            needed.extend((name, "identifier field") for name in self.layout.identifier_fields)
        for column, what in needed:
            if not column or column not in columns:
                raise ConnectorError(
                    "mismatch", MSG_NO_COLUMN.format(table=table, column=column, what=what)
                )
        if criteria.older_than is not None:
            data_type = columns[self.layout.event_time_field][0]
            if data_type not in _TIME_TYPES:
                raise ConnectorError(
                    "mismatch",
                    MSG_EVENT_TIME_TYPE.format(column=self.layout.event_time_field, type=data_type),
                )
        if operation == ANONYMIZE:
            for name in self.layout.identifier_fields:
                if not columns[name][1] and name != shape["pk"]:
                    raise ConnectorError("mismatch", MSG_NOT_NULLABLE.format(column=name))
        privilege = "delete" if operation == DELETE else "update"
        for needed_privilege in ("select", privilege):
            if not shape["privileges"][needed_privilege]:
                raise ConnectorError(
                    "forbidden",
                    MSG_NO_PRIVILEGE.format(privilege=needed_privilege.upper(), table=table),
                )

    def preview(self, criteria: Criteria, operation: str = DELETE) -> Preview:
        if criteria.is_empty:
            return Preview()
        self.check(criteria, operation)
        where, params = self._where(criteria, operation)
        oldest = (
            sql.SQL("min({})").format(sql.Identifier(self.layout.event_time_field))
            if self.layout.event_time_field in self.shape()["columns"]
            else sql.SQL("NULL")
        )
        subjects = (
            sql.SQL("count(DISTINCT {})").format(sql.Identifier(self.layout.subject_field))
            if self.layout.subject_field in self.shape()["columns"]
            else sql.SQL("0")
        )
        query = sql.SQL("SELECT count(*), {}, {} FROM {} WHERE {}").format(
            oldest, subjects, self._relation(), where
        )
        rows, first, distinct = self._run(query, params, fetch="one")
        return Preview(rows=rows, oldest=_aware(first), subjects=distinct or 0)

    def plan(self, criteria: Criteria, operation: str, *, batch_size: int) -> Iterator[Batch]:
        if criteria.is_empty:
            return
        self.check(criteria, operation)
        shape = self.shape()
        pk = sql.Identifier(shape["pk"])
        pk_type = sql.SQL(shape["pk_type"])
        where, params = self._where(criteria, operation)
        # The batch's keys, written by PostgreSQL as text that it reads back as exactly these
        # keys: integer keys as a multirange (runs of consecutive keys, usually a few hundred
        # bytes for 10,000 keys), any other key type as an array of that type. No key passes
        # through Python one by one (ADR 0015, retention addendum).
        if self._integer_keys():
            keys = sql.SQL("range_agg(int8range(k::bigint, k::bigint, '[]'))::text")
        else:
            keys = sql.SQL("array_agg(k ORDER BY k)::text")
        last = None
        while True:
            # Keyset pagination: every batch starts after the last planned key, so a row the
            # store refuses to change (a trigger, a concurrent writer) cannot loop a run.
            after = sql.SQL("") if last is None else sql.SQL(" AND {} > %s::{}").format(pk, pk_type)
            query = sql.SQL(
                "SELECT count(*), min(k)::text, max(k)::text, {} "
                "FROM (SELECT {} AS k FROM {} WHERE {}{} ORDER BY {} LIMIT %s) AS batch"
            ).format(keys, pk, self._relation(), where, after, pk)
            rows, first, last, encoded = self._run(
                query, [*params, *([last] if last is not None else []), batch_size], fetch="one"
            )
            if not rows:
                return
            yield Batch(
                payload={
                    "operation": operation,
                    "key_ranges" if self._integer_keys() else "key_array": encoded,
                    "first_key": first,
                    "last_key": last,
                },
                rows=rows,
            )
            if rows < batch_size:
                # That was the last batch. Rows that arrive from now on are found by the
                # runner's ``remaining`` check, which plans again (from the first key).
                return

    def _integer_keys(self) -> bool:
        """Integer keys are journaled as multiranges (PostgreSQL 14 and later)."""
        multiranges = self._connection().info.server_version >= 140000
        return multiranges and self.shape()["pk_type"] in _INTEGER_TYPES

    @staticmethod
    def batch_keys(batch: Batch) -> list:
        """The batch's primary keys in key order (for tests and support): integers for an
        integer key, else their text. Journals written before the compact forms hold a list."""
        payload = batch.payload
        if "key_ranges" in payload:
            return [
                key
                for low, high in _RANGE.findall(payload["key_ranges"])
                for key in range(int(low), int(high))
            ]
        if "key_array" in payload:
            return [
                re.sub(r"\\(.)", r"\1", quoted) if quoted else bare
                for quoted, bare in _ARRAY_ELEMENT.findall(payload["key_array"])
            ]
        return list(payload["keys"])

    def _keys(self, batch: Batch) -> tuple[sql.Composable, list]:
        """The batch's rows: its journaled keys and, true of every one of them and a hint for
        the planner, between its first and last key, so that the statement walks one range of
        the primary-key index (never a scan by the criteria, and no lookup per key)."""
        shape = self.shape()
        pk, pk_type = sql.Identifier(shape["pk"]), sql.SQL(shape["pk_type"])
        payload = batch.payload
        if "key_ranges" in payload:
            keys = sql.SQL("{}::bigint <@ %s::int8multirange").format(pk)
            encoded = payload["key_ranges"]
        elif "key_array" in payload:
            keys = sql.SQL("{} = ANY(%s::{}[])").format(pk, pk_type)
            encoded = payload["key_array"]
        else:  # journaled before the compact forms: a JSON list of keys
            condition = sql.SQL("{} = ANY(%s::{}[])").format(pk, pk_type)
            return condition, [payload["keys"]]
        condition = sql.SQL("{} AND {} >= %s::{} AND {} <= %s::{}").format(
            keys, pk, pk_type, pk, pk_type
        )
        return condition, [encoded, payload["first_key"], payload["last_key"]]

    def apply(self, batch: Batch, criteria: Criteria) -> int:
        # The batch's keys AND the criteria, keep list included: a row that stopped matching
        # since it was planned (its subject held, its event time moved, its identifiers
        # emptied by someone else) is not touched.
        keys, params = self._keys(batch)
        where, where_params = self._where(criteria, batch.payload["operation"])
        params = [*params, *where_params]
        if batch.payload["operation"] == ANONYMIZE:
            assignments = sql.SQL(", ").join(
                sql.SQL("{} = NULL").format(sql.Identifier(name))
                for name in self.layout.identifier_fields
            )
            statement = sql.SQL("UPDATE {} SET {} WHERE {} AND {}").format(
                self._relation(), assignments, keys, where
            )
        else:
            statement = sql.SQL("DELETE FROM {} WHERE {} AND {}").format(
                self._relation(), keys, where
            )
        conn = self._connection()
        with self._translated(), conn.transaction(), conn.cursor() as cursor:
            # Short locks: give up rather than queue behind a long writer; the run fails
            # with its reason recorded and the next run picks the batch up again.
            cursor.execute("SET LOCAL statement_timeout = '120s'")
            cursor.execute(statement, params)
            return cursor.rowcount

    def applied(self, batch: Batch, criteria: Criteria) -> int | None:
        # Applied when no row of the batch still matches; it changed the batch's rows that are
        # gone (delete) or emptied (anonymize) - the rest were kept by the criteria.
        keys, params = self._keys(batch)
        operation = batch.payload["operation"]
        where, where_params = self._where(criteria, operation)
        left = sql.SQL("count(*)")
        if operation == ANONYMIZE:
            left = sql.SQL("count(*) FILTER (WHERE {})").format(self._identifiers_set())
        query = sql.SQL("SELECT count(*) FILTER (WHERE {}), {} FROM {} WHERE {}").format(
            where, left, self._relation(), keys
        )
        matching, untouched = self._run(query, [*where_params, *params], fetch="one")
        if matching:
            return None
        return max(batch.rows - untouched, 0)

    def remaining(self, criteria: Criteria, operation: str = DELETE) -> int:
        if criteria.is_empty:
            return 0
        where, params = self._where(criteria, operation)
        query = sql.SQL("SELECT count(*) FROM {} WHERE {}").format(self._relation(), where)
        return self._run(query, params, fetch="one")[0]

    def read_subject(
        self, subject_ids: frozenset[str], *, limit: int
    ) -> Iterator[tuple[str, dict]]:
        """Every column of the rows whose subject-id column holds one of ``subject_ids``, in
        primary-key order, at most ``limit`` (one SELECT; needs only the SELECT privilege)."""
        shape = self.shape()
        table, column = shape["table"], self.layout.subject_field
        if not column or column not in shape["columns"]:
            raise ConnectorError(
                "mismatch",
                MSG_NO_COLUMN.format(table=table, column=column, what="subject-id field"),
            )
        if not shape["privileges"]["select"]:
            raise ConnectorError(
                "forbidden", MSG_NO_PRIVILEGE.format(privilege="SELECT", table=table)
            )
        query = sql.SQL("SELECT * FROM {} WHERE {} = ANY(%s::text[]) ORDER BY {} LIMIT %s").format(
            self._relation(), self._subject_expr(), sql.Identifier(shape["pk"])
        )
        conn = self._connection()
        with self._translated(), conn.cursor() as cursor:
            cursor.execute(query, [sorted(subject_ids), limit])
            names = [described.name for described in cursor.description]
            rows = cursor.fetchall()
        for row in rows:
            yield table, dict(zip(names, row, strict=True))

    def verification_method(self, operation: str = DELETE) -> str:
        what = "rows matching the criteria"
        if operation == ANONYMIZE:
            what += " that still hold an identifier"
        return f'SELECT count(*) on "{self._schema}"."{self._table}" of {what}, after the run.'


def _aware(value) -> datetime | None:
    """Dates and naive timestamps read as UTC (the connection's time zone)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        return datetime.combine(value, time.min, tzinfo=UTC) if isinstance(value, date) else None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
