"""Bounded waiting on the database.

Connect, pool and statement timeouts bound a database that refuses or answers slowly. They do
not bound one that stops answering with the connection open (a frozen network path, a host
that is gone without a reset): the client waits on its socket for a reply that never comes.
``database_deadline`` bounds that too: a timer shuts the request's database socket down when
the deadline passes, so the call waiting on it fails at once (``OperationalError``), the
caller's fail-closed handling answers 503, and the broken connection is discarded by the pool.

``DeadlineMiddleware`` puts every request under the deadline of the longest matching prefix in
``REQUEST_DEADLINES``: the check and the token endpoints (3 s by default), the consent filter
and export (5 s; the export's stream re-arms one per chunk, see
``consent.services.queries.export_lines``), any other API call (10 s) and any page (30 s).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)


def _interrupt(wrapper) -> None:
    raw = getattr(wrapper, "connection", None)
    pgconn = getattr(raw, "pgconn", None)
    if pgconn is None:  # not connected, or not PostgreSQL (SQLite has no socket to cut)
        return
    try:
        duplicate = socket.socket(fileno=os.dup(pgconn.socket))
    except Exception:  # already closed: nothing to interrupt
        return
    try:
        duplicate.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        duplicate.close()


@contextmanager
def database_deadline(seconds: float | None) -> Iterator[threading.Event]:
    """Within the block, a database call still waiting after ``seconds`` fails instead of
    hanging. Yields an event that is set if the deadline passed. ``None`` or 0: no deadline."""
    expired = threading.Event()
    if not seconds or seconds <= 0:
        yield expired
        return
    # The connection wrappers of *this* thread, captured now: the timer runs in another one.
    wrappers = [connections[alias] for alias in connections]

    def expire() -> None:
        expired.set()
        logger.warning("database deadline of %.1f s passed: interrupting", seconds)
        for wrapper in wrappers:
            _interrupt(wrapper)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    try:
        yield expired
    finally:
        timer.cancel()


def deadline_for(path: str) -> float | None:
    """The deadline of the longest ``REQUEST_DEADLINES`` prefix that ``path`` starts with."""
    matches = [
        (len(prefix), seconds)
        for prefix, seconds in getattr(settings, "REQUEST_DEADLINES", {}).items()
        if path.startswith(prefix)
    ]
    return max(matches)[1] if matches else None


class DeadlineMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        seconds = deadline_for(request.path)
        if seconds is None:
            return self.get_response(request)
        with database_deadline(seconds):
            return self.get_response(request)


def statement_timeouts(statement_ms: int | None = None, lock_ms: int | None = None) -> None:
    """Inside a transaction on PostgreSQL: give up statements and lock waits that take longer
    (the server cancels them; the caller's fail-closed handling answers). Defaults:
    ``REQUEST_STATEMENT_TIMEOUT_MS`` and ``REQUEST_LOCK_TIMEOUT_MS``."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    statement_ms = statement_ms or settings.REQUEST_STATEMENT_TIMEOUT_MS
    lock_ms = lock_ms or settings.REQUEST_LOCK_TIMEOUT_MS
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('statement_timeout', %s, true), "
            "set_config('lock_timeout', %s, true)",
            [f"{int(statement_ms)}ms", f"{int(lock_ms)}ms"],
        )
