"""The enforcement jobs on a real Celery worker with Redis: a governed PostgreSQL table of
100,000 rows of mixed ages and subjects; exact deletion, idempotence, holds, and a worker
killed with SIGKILL mid-run whose run is finished by the next worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from governance.retention import services, tasks
from governance.retention.models import DeletionCertificate, RetentionRun, RunBatch
from tests.retention.conftest import give_consent, set_policy, withdraw

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = 100_000
SUBJECTS = 1000
WITHDRAWN = [f"c-{i}" for i in range(0, SUBJECTS, 40)]  # 25 subjects


def _wait(predicate, *, timeout: float = 120, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _finished_run(dataset, *, exclude=()) -> RetentionRun:
    def finished():
        run = (
            RetentionRun.objects.filter(dataset=dataset)
            .exclude(pk__in=exclude)
            .order_by("-id")
            .first()
        )
        return run if run is not None and run.is_finished else None

    return _wait(finished, what="a finished run")


def _expected_kept(cutoff: datetime, erased: set[str], *, now: datetime) -> set[int]:
    # Store.fill: row g is customer c-(g % 1000) at now - (g % 730) days - 12 h. ``now`` is
    # the fill's moment; rows land at least 12 h away from any whole-day cutoff, so a few
    # seconds between filling and the run cannot move a row across it.
    kept = set()
    for g in range(1, ROWS + 1):
        if f"c-{g % SUBJECTS}" in erased:
            continue
        if now - timedelta(days=g % 730, hours=12) >= cutoff:
            kept.add(g)
    return kept


@pytest.fixture
def governed(store, events_dataset, alice):
    filled_at = timezone.now()
    store.fill(ROWS, subjects=SUBJECTS)
    give_consent([f"c-{i}" for i in range(SUBJECTS)])
    withdraw(WITHDRAWN)
    set_policy(dataset=events_dataset, actor=alice, max_age_days=200)
    return filled_at


def test_daily_run_on_a_worker_deletes_exactly_the_expired_and_withdrawn_rows_once(
    governed, store, events_dataset, alice, petra, celery_worker_thread
):
    # when the beat's daily dispatch runs
    tasks.retention_dispatch_task.delay()
    run = _finished_run(events_dataset)
    # then exactly the rows older than 200 days and every row of the 25 withdrawn subjects
    cutoff = datetime.fromisoformat(run.plan["cutoff"])
    expected = _expected_kept(cutoff, set(WITHDRAWN), now=governed)
    assert run.status == RetentionRun.Status.SUCCEEDED
    assert store.ids() == expected
    assert run.rows_deleted == ROWS - len(expected)
    certificate = DeletionCertificate.objects.get(run=run)
    assert certificate.document["rows_deleted"] == ROWS - len(expected)
    assert certificate.document["subjects"]["erased_count"] == len(WITHDRAWN)
    assert certificate.document["verification"][0]["remaining"] == 0

    # when it runs again: nothing more, and the certificate says so
    tasks.retention_dispatch_task.delay()
    second = _finished_run(events_dataset, exclude=[run.pk])
    assert second.status == RetentionRun.Status.SUCCEEDED
    assert second.rows_deleted == 0
    assert (
        second.certificate.document["note"]
        == "Nothing matched: every row the criteria cover was already deleted."
    )
    assert store.ids() == expected

    # when a hold is placed and more rows have aged past retention: nothing is deleted
    import psycopg

    with psycopg.connect(store.url, autocommit=True) as conn:
        conn.execute(
            "UPDATE shop.events SET event_time = event_time - interval '400 days' WHERE id % 7 = 0"
        )
    services.hold_place(actor=petra, dataset=events_dataset, reason="Audit by the regulator")
    tasks.retention_dispatch_task.delay()
    held = _finished_run(events_dataset, exclude=[run.pk, second.pk])
    assert held.status == RetentionRun.Status.HELD
    assert store.ids() == expected


def _worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "governance",
            "worker",
            "--pool",
            "solo",
            "--concurrency",
            "1",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "WARNING",
        ],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def test_a_worker_killed_mid_run_is_resumed_and_each_row_is_deleted_once(
    governed, store, events_dataset, alice, settings
):
    # given a worker in its own process, on the test database, throttled so the run takes a
    # while (500 rows per batch, 30 ms between batches)
    from governance.celery import app

    app.control.purge()
    database = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": "postgres://{user}@{host}:{port}/{name}".format(
            user=database["USER"] or "postgres",
            host=database["HOST"] or "127.0.0.1",
            port=database["PORT"] or 5432,
            name=database["NAME"],
        ),
        "RETENTION_CONNECTIONS": f"warehouse={store.url}",
        "RETENTION_BATCH_SIZE": "500",
        "RETENTION_BATCH_PAUSE_MS": "30",
        "RETENTION_STALE_SECONDS": "1",
    }
    settings.RETENTION_STALE_SECONDS = 1
    first = _worker(env)
    try:
        run = services.run_start(dataset=events_dataset, actor=alice)
        # when the worker is killed after some batches were deleted
        _wait(
            lambda: RunBatch.objects.filter(run=run, state="done").count() >= 15,
            what="15 batches",
        )
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    run.refresh_from_db()
    assert run.status == RetentionRun.Status.RUNNING
    deleted_before_restart = ROWS - store.count()
    assert deleted_before_restart > 0
    # and a new worker starts; the hourly dispatch finds the run stale and resumes it
    second = _worker(env)
    try:
        time.sleep(1.5)
        tasks.erasure_dispatch_task.delay()
        finished = _finished_run(events_dataset)
    finally:
        os.killpg(second.pid, signal.SIGKILL)
        second.wait(timeout=30)
    # then the run finished with every expired row deleted exactly once and counted once
    cutoff = datetime.fromisoformat(finished.plan["cutoff"])
    expected = _expected_kept(cutoff, set(WITHDRAWN), now=governed)
    assert finished.pk == run.pk
    assert finished.status == RetentionRun.Status.SUCCEEDED
    assert finished.attempts == 2
    assert store.ids() == expected
    assert finished.rows_deleted == ROWS - len(expected)
    done = RunBatch.objects.filter(run=finished, state="done")
    assert sum(done.values_list("rows_done", flat=True)) == finished.rows_deleted
    assert not RunBatch.objects.filter(run=finished, state="pending").exists()
    assert DeletionCertificate.objects.filter(run=finished).count() == 1
    assert finished.certificate.document["rows_deleted"] == ROWS - len(expected)
    assert RetentionRun.objects.filter(dataset=events_dataset).count() == 1
