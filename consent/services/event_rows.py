"""A batch's writes as set operations, on PostgreSQL (``consent_record_batch``).

The same writes as the ORM path in ``consent.services.events``, in the same order and under the
same locks, with one statement each instead of one object per row:

1. subjects: the batch's (namespace, id) pairs are copied (``COPY``) into a temporary table,
   the new ones inserted in code-point order (``ON CONFLICT DO NOTHING``, as ``bulk_create``
   with ``ignore_conflicts`` did), then the subjects that existed before are locked in
   primary-key order (``SELECT … FOR UPDATE``; the ones just inserted are invisible to other
   transactions until the commit, and an inserter of the same id waits on the unique index):
   two batches wait for each other, never deadlock, and no update is lost;
2. events: ids taken from the table's sequence and given out in submission order (the
   tie-break of the history is the id), the rows copied into a temporary table and inserted
   from it in one statement (the append-only triggers and constraints apply as to any insert;
   a concurrent insert of the same idempotency key is the same 409 as before);
3. states: the latest event of each (subject, purpose) in the batch (``DISTINCT ON``, ordered
   as the history is) upserted when it is later than the current state — the rule of
   ``events._apply_states``, read under the same subject locks.

Nothing here decides what is acceptable: every check ran before, on the same items.
SQLite (``make run``) keeps the ORM path.
"""

from __future__ import annotations

import json
from datetime import datetime

from django.db import IntegrityError, connection
from django.db.models.base import ModelState

from consent.models import ConsentEvent, ConsentState, Subject
from consent.services.event_checks import Item
from governance.accounts.models import User
from governance.errors import Conflict

# Temporary tables, dropped at the end of the batch (and at commit, whatever happens).
_SUBJECTS_IN = "consent_batch_subjects"
_EVENTS_IN = "consent_batch_events"

_SUBJECT = Subject._meta.db_table
_EVENT = ConsentEvent._meta.db_table
_STATE = ConsentState._meta.db_table
_EVENT_COLUMNS = (
    "id",
    "subject_id",
    "purpose_id",
    "notice_id",
    "status",
    "occurred_at",
    "recorded_at",
    "expires_at",
    "valid_until",
    "collection_method",
    "evidence",
    "recorded_by_id",
    "idempotency_key",
    "fingerprint",
)


# COPY's text format: a tab between columns, \N for NULL, and these four escaped in text.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text(value: str | None) -> str:
    return "\\N" if value is None else value.translate(_COPY_ESCAPES)


def _value(value) -> str:
    """An id, a datetime (``str`` gives ISO 8601 with its offset) or NULL."""
    return "\\N" if value is None else str(value)


def _evidence(value: dict[str, str], made: dict[tuple, str]) -> str:
    key = tuple(value.items())
    if key not in made:
        made[key] = _text(json.dumps(value))
    return made[key]


def _copy(cursor, table: str, columns: tuple[str, ...], lines: list[str]) -> None:
    """COPY rows already written in COPY's text format, in one write."""
    with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        copy.write("".join(lines))


def lock_subjects(items: list[Item], now: datetime) -> None:
    """Create the subjects that are new, then lock every subject of ``items`` in primary-key
    order; sets each item's ``subject_pk``."""
    pairs = sorted({(i.data.namespace, i.data.subject_id) for i in items})
    if not pairs:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {_SUBJECTS_IN} (namespace text, external_id text) "
            "ON COMMIT DROP"
        )
        columns = ("namespace", "external_id")
        _copy(cursor, _SUBJECTS_IN, columns, [f"{_text(n)}\t{_text(e)}\n" for n, e in pairs])
        # Code-point order, as sorted() gives the ORM path: writers of both paths insert new
        # subjects in one order. The rows inserted here need no lock: no other transaction
        # sees them before this one commits (one inserting the same id waits for it).
        cursor.execute(
            f"""
            INSERT INTO {_SUBJECT} (namespace, external_id, created_at)
            SELECT namespace, external_id, %s FROM {_SUBJECTS_IN}
            ORDER BY namespace COLLATE "C", external_id COLLATE "C"
            ON CONFLICT DO NOTHING
            RETURNING id, namespace, external_id
            """,  # noqa: S608
            [now],
        )
        found = {(namespace, external_id): pk for pk, namespace, external_id in cursor.fetchall()}
        existing = [pair for pair in pairs if pair not in found]
        if existing:
            # The subjects that were there before, locked in primary-key order (a new
            # statement: it sees subjects that a concurrent batch committed meanwhile).
            cursor.execute(f"TRUNCATE {_SUBJECTS_IN}")
            _copy(
                cursor,
                _SUBJECTS_IN,
                columns,
                [f"{_text(n)}\t{_text(e)}\n" for n, e in existing],
            )
            cursor.execute(
                f"""
                SELECT s.id, s.namespace, s.external_id
                FROM {_SUBJECT} s
                JOIN {_SUBJECTS_IN} b
                    ON b.namespace = s.namespace AND b.external_id = s.external_id
                ORDER BY s.id
                FOR UPDATE OF s
                """  # noqa: S608
            )
            found.update(
                ((namespace, external_id), pk) for pk, namespace, external_id in cursor.fetchall()
            )
        cursor.execute(f"DROP TABLE {_SUBJECTS_IN}")
    for item in items:
        item.subject_pk = found[(item.data.namespace, item.data.subject_id)]


def insert_events(items: list[Item], actor: User | None, recorded_at: datetime) -> None:
    """Insert the items' events (ids in submission order) and set each item's ``event``."""
    if not items:
        return
    actor_pk = actor.pk if actor is not None else None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [_EVENT, len(items)],
        )
        ids = sorted(row[0] for row in cursor.fetchall())
        cursor.execute(f"CREATE TEMPORARY TABLE {_EVENTS_IN} (LIKE {_EVENT}) ON COMMIT DROP")
        moment = str(recorded_at)
        actor_value = _value(actor_pk)
        evidence: dict[tuple, str] = {}  # the JSON of each distinct evidence, made once
        lines = []
        for pk, item in zip(ids, items, strict=True):
            data = item.data
            notice = item.notice
            # In _EVENT_COLUMNS' order.
            lines.append(
                f"{pk}\t{item.subject_pk}\t{item.purpose.pk}\t"
                f"{_value(notice.pk if notice is not None else None)}\t{data.status}\t"
                f"{item.occurred_at}\t{moment}\t{_value(data.expires_at)}\t"
                f"{_value(item.valid_until)}\t{data.collection_method}\t"
                f"{_evidence(item.evidence, evidence)}\t"
                f"{actor_value}\t{_text(data.idempotency_key)}\t{item.fingerprint}\n"
            )
        _copy(cursor, _EVENTS_IN, _EVENT_COLUMNS, lines)
        columns = ", ".join(_EVENT_COLUMNS)
        try:
            cursor.execute(
                f"INSERT INTO {_EVENT} ({columns}) SELECT {columns} FROM {_EVENTS_IN} ORDER BY id"  # noqa: S608
            )
        except IntegrityError as error:
            # As in the ORM path: only the idempotency constraint can fail here (everything
            # else was checked under the subject locks): a concurrent request inserted the
            # same key for another subject.
            from consent.services.events import MSG_KEY_RACE

            raise Conflict(MSG_KEY_RACE, {"field": "idempotency_key"}) from error
    # The instances the ORM path holds after bulk_create (read by the ledger entries and the
    # answer), made as Model.from_db makes them but without a field-by-field __init__: 10,000
    # of those cost more than the COPY.
    names = [field.attname for field in ConsentEvent._meta.concrete_fields]
    caches = [
        ConsentEvent._meta.get_field(name).cache_name
        for name in ("purpose", "notice", "recorded_by")
    ]
    alias = connection.alias
    new = ConsentEvent.__new__
    for pk, item in zip(ids, items, strict=True):
        data = item.data
        notice = item.notice
        state = ModelState()
        state.adding, state.db = False, alias
        state.fields_cache = dict(zip(caches, (item.purpose, notice, actor), strict=True))
        event = new(ConsentEvent)
        event.__dict__.update(
            zip(
                names,
                (
                    pk,
                    item.subject_pk,
                    item.purpose.pk,
                    notice.pk if notice is not None else None,
                    data.status,
                    item.occurred_at,
                    recorded_at,
                    data.expires_at,
                    item.valid_until,
                    data.collection_method,
                    item.evidence,
                    actor_pk,
                    data.idempotency_key,
                    item.fingerprint,
                ),
                strict=True,
            ),
            _state=state,
        )
        item.event = event


def apply_states(now: datetime) -> None:
    """Move each (subject, purpose) state the inserted events touch to its latest event (by
    occurred_at, then id), unless the current state is later still. Runs under the subject
    locks, so the states compared here cannot change before this transaction commits."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {_STATE} AS state (subject_id, purpose_id, event_id, status,
                occurred_at, valid_until, record_id, updated_at)
            SELECT DISTINCT ON (subject_id, purpose_id) subject_id, purpose_id, id, status,
                occurred_at, valid_until, gen_random_uuid(), %s
            FROM {_EVENTS_IN}
            ORDER BY subject_id, purpose_id, occurred_at DESC, id DESC
            ON CONFLICT (subject_id, purpose_id) DO UPDATE SET
                event_id = EXCLUDED.event_id,
                status = EXCLUDED.status,
                occurred_at = EXCLUDED.occurred_at,
                valid_until = EXCLUDED.valid_until,
                updated_at = EXCLUDED.updated_at
            WHERE (EXCLUDED.occurred_at, EXCLUDED.event_id) > (state.occurred_at, state.event_id)
            """,  # noqa: S608
            [now],
        )
        cursor.execute(f"DROP TABLE {_EVENTS_IN}")
