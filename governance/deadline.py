"""Bounded waiting on the database.

Connect, pool and statement timeouts bound a database that refuses or answers slowly. They do
not bound one that stops answering with the connection open (a frozen network path, a host
that is gone without a reset): the client waits on its socket for a reply that never comes.
``database_deadline`` bounds that too: a watchdog thread shuts the request's database socket
down when the deadline passes, so the call waiting on it fails at once (``OperationalError``), the
caller's fail-closed handling answers 503, and the broken connection is discarded by the pool.

``DeadlineMiddleware`` puts every request under the deadline of the longest matching prefix in
``REQUEST_DEADLINES``: the check and the token endpoints (3 s by default), the consent filter
and export (5 s; the export's stream re-arms one per chunk, see
``consent.services.queries.export_lines``), any other API call (10 s) and any page (30 s).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
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


class _Watchdog:
    """One thread per process fires every armed deadline, instead of a timer thread started
    (and cancelled) by every request: starting a thread cost more than the rest of an
    authenticated no-op (issue 14). Cancelled deadlines are dropped when they come due."""

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._due: list[tuple[float, int, list]] = []
        self._order = itertools.count()
        self._owner: int | None = None  # the process that started the thread (not a fork)

    def arm(self, seconds: float, fire: Callable[[], str | None]) -> list:
        """Call ``fire`` (in the watchdog's thread) after ``seconds`` unless disarmed; what it
        returns is logged as a warning, outside the watchdog's lock."""
        handle = [fire]
        when = time.monotonic() + seconds
        with self._wake:
            if self._owner != os.getpid():
                self._owner = os.getpid()
                self._due = []
                threading.Thread(target=self._run, name="database-deadline", daemon=True).start()
            heapq.heappush(self._due, (when, next(self._order), handle))
            if self._due[0][2] is handle:
                self._wake.notify()
        return handle

    def disarm(self, handle: list) -> None:
        # Under the lock the watchdog fires with: once this returns, the deadline cannot fire
        # on a connection the request has already given back to the pool.
        with self._wake:
            handle[0] = None

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._due or self._due[0][0] > time.monotonic():
                    timeout = self._due[0][0] - time.monotonic() if self._due else None
                    self._wake.wait(timeout)
                _, _, handle = heapq.heappop(self._due)
                if handle[0] is None:
                    continue
                report, failure = None, None
                try:
                    report = handle[0]()
                except Exception as error:  # the watchdog outlives any one request's failure
                    failure = error
            # Outside the lock: a slow log sink delays neither an interrupt nor any request
            # arming or disarming its deadline.
            if failure is not None:
                logger.error("database deadline: interrupting failed", exc_info=failure)
            elif report:
                logger.warning(report)


_watchdog = _Watchdog()


@contextmanager
def database_deadline(seconds: float | None) -> Iterator[threading.Event]:
    """Within the block, a database call still waiting after ``seconds`` fails instead of
    hanging. Yields an event that is set if the deadline passed. ``None`` or 0: no deadline."""
    expired = threading.Event()
    if not seconds or seconds <= 0:
        yield expired
        return
    # The connection wrappers of *this* thread, captured now: the watchdog runs in another one.
    wrappers = [connections[alias] for alias in connections]

    def expire() -> str:
        # The socket first: the 503 within the deadline must not wait for anything else.
        for wrapper in wrappers:
            _interrupt(wrapper)
        expired.set()
        return f"database deadline of {seconds:.1f} s passed: interrupted"

    handle = _watchdog.arm(seconds, expire)
    try:
        yield expired
    finally:
        _watchdog.disarm(handle)


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
