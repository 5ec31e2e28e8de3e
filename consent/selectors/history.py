"""Questions answered from the append-only history: who had valid consent for a purpose at
``as_of``, as far as the registry knew at ``known_at``.

For each subject the latest event with ``occurred_at <= as_of`` (and ``recorded_at <=
known_at``) decides, ties broken by recording order (``id``), exactly as the current state is
derived. Consent is valid when that event is ``given`` or ``renewed`` and its ``valid_until``
(validity period and the source's expiry, fixed when it was recorded) lies after ``as_of``.

PostgreSQL answers with ``DISTINCT ON`` over the (purpose, subject, occurred_at DESC, id DESC)
index; SQLite (the embedded ``make run`` database) with a window function.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection

from consent import policy
from consent.identifiers import canonical_subject, canonical_subjects
from consent.models import ConsentEvent, Purpose, Subject

EXPORT_CHUNK = 5000

# The advisory lock every consent writer holds (shared) while its events are being recorded.
# Two 32-bit keys: pg_locks shows them as classid / objid (objsubid 2).
WRITER_LOCK = (0x436F6E73, 1)  # "Cons", 1

MSG_WATERMARK = (
    "The registry cannot establish a consistent snapshot now (a writer's start is not "
    "visible); nothing was answered. Retry later."
)
MSG_WATERMARK_LAG = (
    "A consent write has been in flight for {seconds} s; until it ends the registry cannot "
    "answer with every recorded event, so nothing was answered. Retry later."
)
_IN_CHUNK = 900  # SQLite's classic limit is 999 host parameters per statement

# The SQL below is assembled from these table names and fixed fragments only (hence the
# S608 exemptions); every value travels as a query parameter.
_EVENTS = ConsentEvent._meta.db_table
_SUBJECTS = Subject._meta.db_table
_VALID = policy.valid_sql("latest")  # consent.policy owns "valid at T"


def database_now() -> datetime:
    """The database's clock: the one clock every writer and reader of consent shares, whatever
    host they run on."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]


def writing_moment() -> datetime:
    """A consent writer calls this first, inside its transaction: it registers as in flight
    (the shared writer lock, held until it commits or rolls back) and returns the moment its
    events are recorded at — read from the database clock after registering, so it is later
    than any watermark a reader computed before the writer was visible to it."""
    if connection.vendor != "postgresql":
        from django.utils import timezone

        return timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", list(WRITER_LOCK))
    return database_now()


def known_watermark() -> datetime | None:
    """The latest ``known_at`` whose answer can no longer change: now, or just before the start
    of the oldest consent write still in flight. Events recorded at or before it are all
    committed (a writer registers before it takes its recording moment, and its moment is
    after its transaction's start), so a snapshot at it reproduces exactly.

    None on SQLite (the embedded demo: one process writes at a time)."""
    if connection.vendor != "postgresql":
        return None
    # Now first, then the writers in flight: a writer not yet visible registers later, and
    # takes its recording moment later still, so after this now.
    now = database_now()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT min(a.xact_start),
                   count(*) FILTER (WHERE a.xact_start IS NULL)
            FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.classid = %s AND l.objid = %s
                AND l.objsubid = 2 AND l.granted AND l.pid <> pg_backend_pid()
                -- advisory locks are cluster-wide: only writers of this database count
                AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            """,
            list(WRITER_LOCK),
        )
        oldest, hidden = cursor.fetchone()
    if hidden:  # a writer under another database role: its start cannot be seen
        from governance.errors import Unavailable

        raise Unavailable(MSG_WATERMARK)
    if oldest is None:
        return now
    watermark = min(now, oldest - timedelta(microseconds=1))
    # A writer stuck mid-transaction (its host lost the network, a debugger) would pin every
    # answer in the past: withdrawals recorded since would be ignored. Past the bound, refuse.
    if (now - watermark).total_seconds() > settings.CONSENT_WATERMARK_MAX_LAG_SECONDS:
        from governance.errors import Unavailable

        raise Unavailable(MSG_WATERMARK_LAG.format(seconds=int((now - watermark).total_seconds())))
    return watermark


def _latest_events_sql(*, subject_filter: str = "") -> str:
    if connection.vendor == "postgresql":
        return f"""
            SELECT DISTINCT ON (e.subject_id) e.subject_id, e.status, e.valid_until
            FROM {_EVENTS} e
            WHERE e.purpose_id = %s AND e.occurred_at <= %s AND e.recorded_at <= %s
                {subject_filter}
            ORDER BY e.subject_id, e.occurred_at DESC, e.id DESC
        """  # noqa: S608
    return f"""
        SELECT subject_id, status, valid_until FROM (
            SELECT e.subject_id, e.status, e.valid_until, ROW_NUMBER() OVER (
                PARTITION BY e.subject_id ORDER BY e.occurred_at DESC, e.id DESC
            ) AS position
            FROM {_EVENTS} e
            WHERE e.purpose_id = %s AND e.occurred_at <= %s AND e.recorded_at <= %s
                {subject_filter}
        ) ranked WHERE position = 1
    """  # noqa: S608


def _moment(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def valid_subject_pks(
    *, purpose: Purpose, as_of: datetime, known_at: datetime, subject_pks: Iterable[int]
) -> set[int]:
    """Which of these subjects had valid consent for ``purpose`` at ``as_of``."""
    pks = list(subject_pks)
    if connection.vendor == "postgresql":
        # One statement, the ids as one array parameter.
        # The ids bound as bigint[] (the column's type), so the index is used.
        batches = [("AND e.subject_id = ANY(%s::bigint[])", [pks])] if pks else []
    else:
        chunks = [pks[i : i + _IN_CHUNK] for i in range(0, len(pks), _IN_CHUNK)]
        batches = [
            (f"AND e.subject_id IN ({', '.join(['%s'] * len(chunk))})", chunk) for chunk in chunks
        ]
    found: set[int] = set()
    with connection.cursor() as cursor:
        for subject_filter, subject_params in batches:
            sql = f"""
                SELECT latest.subject_id
                FROM ({_latest_events_sql(subject_filter=subject_filter)}) latest
                WHERE {_VALID}
            """  # noqa: S608
            moments = [_moment(as_of), _moment(known_at)]
            cursor.execute(sql, [purpose.pk, *moments, *subject_params, _moment(as_of)])
            found.update(row[0] for row in cursor.fetchall())
    return found


def valid_external_ids(
    *,
    purpose: Purpose,
    as_of: datetime,
    known_at: datetime,
    namespace: str,
    external_ids: Sequence[str],
) -> list[str]:
    """Which of these subjects (by their ids in ``namespace``) had valid consent for ``purpose``
    at ``as_of``, sorted. On PostgreSQL one statement: the ids bound as one ``text[]`` against
    the subject index, and each subject's latest event found through the history index (a
    LATERAL lookup, so the cost grows with the ids asked, not with the purpose's history)."""
    if not external_ids:
        return []
    if connection.vendor != "postgresql":
        pks = dict(
            Subject.objects.filter(namespace=namespace, external_id__in=external_ids).values_list(
                "pk", "external_id"
            )
        )
        valid = valid_subject_pks(purpose=purpose, as_of=as_of, known_at=known_at, subject_pks=pks)
        return sorted(pks[pk] for pk in valid)
    sql = f"""
        SELECT s.external_id
        FROM {_SUBJECTS} s
        CROSS JOIN LATERAL (
            SELECT e.status, e.valid_until FROM {_EVENTS} e
            WHERE e.purpose_id = %s AND e.subject_id = s.id
                AND e.occurred_at <= %s AND e.recorded_at <= %s
            ORDER BY e.occurred_at DESC, e.id DESC
            LIMIT 1
        ) latest
        WHERE s.namespace = %s AND s.external_id = ANY(%s::text[]) AND {_VALID}
    """  # noqa: S608
    params = [
        purpose.pk,
        _moment(as_of),
        _moment(known_at),
        namespace,
        list(external_ids),
        _moment(as_of),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted(row[0] for row in cursor.fetchall())


def valid_subjects_stream(
    *, purpose: Purpose, as_of: datetime, known_at: datetime, namespace: str = ""
) -> Iterator[list[tuple[str, str]]]:
    """Every subject with valid consent, as chunks of (namespace, external_id) sorted by
    namespace then id in code-point order (the order of the answer hash). Read through a
    server-side cursor on PostgreSQL, so memory stays bounded whatever the number of subjects.
    Call it inside a transaction (the cursor lives as long as the transaction)."""
    namespace_filter = "AND s.namespace = %s" if namespace else ""
    collate = ' COLLATE "C"' if connection.vendor == "postgresql" else ""
    sql = f"""
        SELECT s.namespace, s.external_id
        FROM ({_latest_events_sql()}) latest
        JOIN {_SUBJECTS} s ON s.id = latest.subject_id
        WHERE {_VALID}
            {namespace_filter}
        ORDER BY s.namespace{collate}, s.external_id{collate}
    """  # noqa: S608
    params = [purpose.pk, _moment(as_of), _moment(known_at), _moment(as_of)]
    if namespace:
        params.append(namespace)
    cursor = connection.chunked_cursor()
    try:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(EXPORT_CHUNK):
            yield rows
    finally:
        cursor.close()


def answer_digest(pairs: Iterable[tuple[str, str]]) -> str:
    """SHA-256 over ``namespace:external_id\\n`` for each subject, in sorted order: what a
    snapshot records, and what a training job recomputes from its own list to prove that it
    used exactly that answer."""
    digest = hashlib.sha256()
    lines: list[str] = []
    for namespace, external_id in pairs:
        lines.append(canonical_subject(namespace, external_id))
        if len(lines) == 10_000:  # hashed in chunks: one update per line cost more than the hash
            digest.update("".join(lines).encode())
            lines.clear()
    digest.update("".join(lines).encode())
    return digest.hexdigest()


def namespace_digest(namespace: str, external_ids: list[str]) -> str:
    """``answer_digest`` of sorted ``external_ids`` all in ``namespace``: the same lines,
    built with one join and hashed in one update (the filter hashes two lists per answer)."""
    return hashlib.sha256(canonical_subjects(namespace, external_ids).encode()).hexdigest()


def answer_unchanged(
    *, purpose: Purpose, since: datetime, until: datetime, skew: timedelta
) -> bool:
    """Whether the valid set of ``purpose`` at ``until`` is the one at ``since`` (both taken
    as as_of = known_at, ``until`` at or below the watermark): true when no event of the
    purpose was recorded after ``since - skew`` (an event may be dated up to ``skew`` after it
    was recorded, so one recorded just before ``since`` could still take effect after it) and
    no consent of the purpose ran out of validity in (since, until]. Two index probes; never a
    scan of the purpose's subjects."""
    if connection.vendor == "postgresql":
        sql = f"""
            SELECT EXISTS (
                SELECT 1 FROM {_EVENTS} WHERE purpose_id = %s AND recorded_at > %s
            ) OR EXISTS (
                SELECT 1 FROM {_EVENTS}
                WHERE purpose_id = %s AND valid_until > %s AND valid_until <= %s
            )
        """  # noqa: S608
        params = [
            purpose.pk,
            _moment(since - skew),
            purpose.pk,
            _moment(since),
            _moment(until),
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return not cursor.fetchone()[0]
    events = ConsentEvent.objects.filter(purpose=purpose)
    return not (
        events.filter(recorded_at__gt=since - skew).exists()
        or events.filter(valid_until__gt=since, valid_until__lte=until).exists()
    )


def reusable_decision_snapshot(
    *, purpose: Purpose, namespace: str, until: datetime, skew: timedelta
):
    """The latest decision snapshot of ``purpose`` and ``namespace`` whose answer still holds
    up to ``until`` (``answer_unchanged``), or None — in one statement on PostgreSQL.

    ``until`` may be now rather than the watermark: an event still in flight is not visible
    here, but it is not visible to a fresh snapshot either (that one is taken below it), so
    the old answer is still the answer a fresh snapshot would give."""
    from consent.models import ConsentSnapshot

    if connection.vendor != "postgresql":
        latest = (
            ConsentSnapshot.objects.filter(kind="decision", purpose=purpose, namespace=namespace)
            .order_by("-created_at")
            .first()
        )
        if latest is not None and answer_unchanged(
            purpose=purpose, since=latest.known_at, until=until, skew=skew
        ):
            return latest
        return None
    snapshots = ConsentSnapshot._meta.db_table
    sql = f"""
        SELECT s.id, s.as_of, s.known_at, s.count, s.sha256, s.created_at, s.completed_at
        FROM (
            SELECT id, as_of, known_at, count, sha256, created_at, completed_at FROM {snapshots}
            WHERE kind = 'decision' AND purpose_id = %s AND namespace = %s
            ORDER BY created_at DESC LIMIT 1
        ) s
        WHERE s.known_at <= %s
          AND NOT EXISTS (
            SELECT 1 FROM {_EVENTS} e
            WHERE e.purpose_id = %s AND e.recorded_at > s.known_at - %s
          )
          AND NOT EXISTS (
            SELECT 1 FROM {_EVENTS} e
            WHERE e.purpose_id = %s AND e.valid_until > s.known_at AND e.valid_until <= %s
          )
    """  # noqa: S608
    params = [purpose.pk, namespace, _moment(until), purpose.pk, skew, purpose.pk, _moment(until)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    snapshot_id, as_of, known_at, count, sha256, created_at, completed_at = row
    return ConsentSnapshot(
        id=snapshot_id,
        kind="decision",
        purpose=purpose,
        namespace=namespace,
        as_of=as_of,
        known_at=known_at,
        count=count,
        sha256=sha256,
        created_at=created_at,
        completed_at=completed_at,
    )


def namespaces(limit: int) -> list[str]:
    """Up to ``limit`` namespaces that hold subjects, sorted. On PostgreSQL a skip scan over
    the (namespace, external_id) index: one probe per namespace, whatever the number of
    subjects."""
    if connection.vendor != "postgresql":
        return list(
            Subject.objects.order_by("namespace")
            .values_list("namespace", flat=True)
            .distinct()[:limit]
        )
    sql = f"""
        WITH RECURSIVE found(namespace, n) AS (
            (SELECT namespace, 1 FROM {_SUBJECTS} ORDER BY namespace LIMIT 1)
            UNION ALL
            SELECT (SELECT s.namespace FROM {_SUBJECTS} s WHERE s.namespace > found.namespace
                    ORDER BY s.namespace LIMIT 1), n + 1
            FROM found WHERE found.namespace IS NOT NULL AND n < %s
        )
        SELECT namespace FROM found WHERE namespace IS NOT NULL
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [limit])
        return [row[0] for row in cursor.fetchall()]
