"""Concurrent events for one subject, on real PostgreSQL connections: no update is lost."""

from __future__ import annotations

import random
import threading
import time

import pytest
from django.db import connection, connections

from consent import services
from consent.models import ConsentEvent, ConsentState
from consent.services import events as recording
from tests.consent.factories import at, event, make_purpose, record

pytestmark = pytest.mark.django_db(transaction=True)


def _in_thread(target, results, name):
    def run():
        try:
            results[name] = target()
        except Exception as error:  # reported by the test
            results[name] = error
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread


def _waits_for_a_lock(thread: threading.Thread, timeout: float = 10.0) -> bool:
    """True once some connection waits for a lock; False if ``thread`` finishes first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and thread.is_alive():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return True
        time.sleep(0.02)
    return False


def _race(monkeypatch, first_at, second_at):
    """The first recorder reads the current state and pauses before writing the new one; the
    second starts meanwhile. Returns both events and whether the second had to wait."""
    paused, proceed = threading.Event(), threading.Event()
    current_states = recording._current_states

    def slow_read(events):
        states = current_states(events)
        if threading.current_thread().name == "first":
            paused.set()
            assert proceed.wait(10)
        return states

    monkeypatch.setattr(recording, "_current_states", slow_read)
    results: dict = {}
    first = _in_thread(
        lambda: record(
            "c-1", "given" if first_at > second_at else "withdrawn", occurred_at=first_at
        ),
        results,
        "first",
    )
    assert paused.wait(10)
    second = _in_thread(
        lambda: record(
            "c-1", "withdrawn" if first_at > second_at else "given", occurred_at=second_at
        ),
        results,
        "second",
    )
    waited = _waits_for_a_lock(second)
    proceed.set()
    first.join(20)
    second.join(20)
    assert not isinstance(results["first"], Exception), results["first"]
    assert not isinstance(results["second"], Exception), results["second"]
    return results["first"], results["second"], waited


def test_a_concurrent_older_event_does_not_overwrite_a_newer_one(monkeypatch):
    # given consent given at 09:00
    make_purpose("churn-model")
    record("c-1", "given", occurred_at=at(2026, 1, 1, 9))
    # when a grant at 11:00 and a withdrawal at 10:00 are recorded at the same time
    newer, older, waited = _race(monkeypatch, at(2026, 1, 1, 11), at(2026, 1, 1, 10))
    # then the state is the 11:00 grant, and both events are in the history
    state = ConsentState.objects.get()
    assert state.event_id == newer.pk
    assert state.status == "given"
    assert ConsentEvent.objects.count() == 3
    assert older.pk > newer.pk
    # because the second recorder waited for the subject's row lock
    assert waited


def test_a_concurrent_newer_event_waits_and_then_wins(monkeypatch):
    # given consent given at 09:00
    make_purpose("churn-model")
    record("c-1", "given", occurred_at=at(2026, 1, 1, 9))
    # when a withdrawal at 10:00 has read the state (09:00) and a grant at 11:00 arrives
    older, newer, waited = _race(monkeypatch, at(2026, 1, 1, 10), at(2026, 1, 1, 11))
    # then the withdrawal did not overwrite the grant with what it read before (a lost update)
    state = ConsentState.objects.get()
    assert state.event_id == newer.pk
    assert state.status == "given"
    assert older.status == "withdrawn"
    assert waited


def test_many_recorders_for_one_subject_end_in_the_state_the_history_decides():
    # given
    make_purpose("churn-model")
    rng = random.Random(7)
    plans = [
        [
            (
                rng.choice(["given", "withdrawn", "renewed", "refused"]),
                at(2026, 1, rng.randint(1, 28), rng.randint(0, 23)),
            )
            for _ in range(8)
        ]
        for _ in range(6)
    ]
    results: dict = {}

    def worker(plan):
        def run():
            for status, moment in plan:
                services.consent_record(event=event("c-1", status, occurred_at=moment), actor=None)
            return len(plan)

        return run

    # when six threads record eight events each, as fast as they can
    threads = [_in_thread(worker(plan), results, f"w{i}") for i, plan in enumerate(plans)]
    for thread in threads:
        thread.join(60)
    # then nothing failed and the state is the latest event by (occurred_at, id)
    assert all(value == 8 for value in results.values()), results
    latest = ConsentEvent.objects.order_by("-occurred_at", "-id").first()
    assert ConsentEvent.objects.count() == 48
    assert ConsentState.objects.get().event_id == latest.pk
