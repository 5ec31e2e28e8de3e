"""Holds and withdrawals that arrive while runs happen (issue "Correct under faults", item 4):
a hold placed at any moment during a run stops deletion of the held rows from that moment,
and the certificate names it; the connector repeats the criteria in every change; a subject
erased before who consents again and withdraws again is erased again."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import psycopg
import pytest
from django.db import connections
from django.utils import timezone

from datasets.connectors import DELETE
from governance.retention import dispatch, planning, runner, services
from governance.retention.models import DeletionCertificate, RetentionRun, RunBatch
from tests.retention.conftest import give_consent, set_policy, withdraw

ROWS = 6000
SUBJECTS = 20


def _wait(predicate, *, timeout: float = 60, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _rows_of(store, subject: str) -> set[int]:
    with psycopg.connect(store.url) as conn:
        return {
            row[0]
            for row in conn.execute("SELECT id FROM shop.events WHERE customer_id = %s", (subject,))
        }


def _run_in_thread(run_id: int) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def execute():
        try:
            outcome["run"] = runner.run_execute(run_id=run_id)
        except Exception as error:  # reported by the test
            outcome["error"] = error
        finally:
            connections.close_all()

    thread = threading.Thread(target=execute, name="retention-run")
    thread.start()
    return thread, outcome


@pytest.fixture
def slow_runs(settings):
    """Small batches with a pause: a run lasts seconds, so a hold lands in the middle."""
    settings.RETENTION_BATCH_SIZE = 100
    settings.RETENTION_BATCH_PAUSE_MS = 40


@pytest.mark.django_db(transaction=True)
def test_a_subject_hold_placed_during_a_run_keeps_every_row_the_run_had_not_reached(
    store, events_dataset, alice, petra, slow_runs
):
    # given a run deleting every row older than 30 days, well under way
    store.fill(ROWS, subjects=SUBJECTS)
    set_policy(dataset=events_dataset, actor=alice, max_age_days=30)
    run = services.run_start(dataset=events_dataset, actor=alice)
    thread, outcome = _run_in_thread(run.pk)
    _wait(
        lambda: RunBatch.objects.filter(run_id=run.pk, state="done").count() >= 3,
        what="three batches",
    )
    # when a subject hold is placed (c-7's rows are spread over every batch)
    hold = services.hold_place(
        actor=petra, namespace="shop", external_id="c-7", reason="Litigation: case 12"
    )
    kept_at_hold = _rows_of(store, "c-7")
    thread.join(60)
    # then not one of c-7's rows left at that moment was deleted afterwards
    assert "error" not in outcome
    finished = outcome["run"]
    assert finished.status == RetentionRun.Status.SUCCEEDED
    assert kept_at_hold and _rows_of(store, "c-7") == kept_at_hold
    assert RunBatch.objects.filter(run=finished, state="done").count() >= 3
    # every other expired row is gone: the hold stopped only the held subject
    with psycopg.connect(store.url) as conn:
        others_old = conn.execute(
            "SELECT count(*) FROM shop.events WHERE customer_id <> 'c-7' "
            "AND event_time < now() - interval '30 days'"
        ).fetchone()[0]
    assert others_old == 0
    # and the certificate says a hold took effect during the run, without the subject's id
    document = DeletionCertificate.objects.get(run=finished).document
    assert [(h["hold"], h["scope"]) for h in document["holds_during_run"]] == [(hold.pk, "subject")]
    assert "c-7" not in str(document)


@pytest.mark.django_db(transaction=True)
def test_a_dataset_hold_placed_during_a_run_stops_it_at_the_next_batch(
    store, events_dataset, alice, petra, slow_runs
):
    store.fill(ROWS, subjects=SUBJECTS)
    set_policy(dataset=events_dataset, actor=alice, max_age_days=30)
    run = services.run_start(dataset=events_dataset, actor=alice)
    thread, outcome = _run_in_thread(run.pk)
    _wait(lambda: RunBatch.objects.filter(run_id=run.pk, state="done").count() >= 3, what="3")
    hold = services.hold_place(actor=petra, dataset=events_dataset, reason="Regulator inquiry")
    rows_at_hold = store.ids()
    thread.join(60)
    finished = outcome["run"]
    assert finished.status == RetentionRun.Status.HELD
    assert store.ids() == rows_at_hold
    document = DeletionCertificate.objects.get(run=finished).document
    assert [(h["hold"], h["scope"]) for h in document["holds_during_run"]] == [(hold.pk, "dataset")]
    assert document["rows_deleted"] == finished.rows_deleted > 0


@pytest.mark.django_db
def test_the_postgres_connector_repeats_the_criteria_when_it_applies_a_batch(
    store, events_dataset, alice
):
    """The window a lock cannot close from the registry's side: a batch planned before a
    subject was held, applied with the criteria in force now, leaves the subject's rows."""
    store.fill(200, subjects=4)
    set_policy(dataset=events_dataset, actor=alice, max_age_days=30)
    plan = planning.plan_for(events_dataset)
    connector = runner._connector(RetentionRun(dataset=events_dataset, plan={"action": "delete"}))
    (_, planned_under), *_ = plan.operations("retention")
    batch = next(connector.plan(planned_under, DELETE, batch_size=200))
    held_rows = _rows_of(store, "c-1") & set(connector.batch_keys(batch))
    now_criteria = planning.operations_for(
        action="delete",
        cutoff=planned_under.older_than,
        everything=False,
        subjects=set(),
        keep={"c-1"},
    )[0][1]
    # when
    changed = connector.apply(batch, now_criteria)
    # then
    assert held_rows and held_rows <= _rows_of(store, "c-1")
    assert changed == batch.rows - len(held_rows)
    # and after a crash, the batch reads as applied, counting only what it changed
    assert connector.applied(batch, now_criteria) == changed
    assert connector.applied(batch, planned_under) is None  # c-1's rows still match these
    connector.close()


@pytest.mark.django_db
def test_a_subject_erased_who_consents_again_and_withdraws_again_is_erased_again(
    store, events_dataset, alice
):
    # given c-1 withdrew and was erased
    store.fill(500, subjects=10)
    give_consent([f"c-{i}" for i in range(10)])
    withdraw(["c-1"])
    set_policy(dataset=events_dataset, actor=alice, max_age_days=3650)
    dispatch.dispatch(kind="erasure")
    first = runner.run_execute(run_id=RetentionRun.objects.get().pk)
    assert (first.status, first.rows_deleted) == ("succeeded", 50)
    assert _rows_of(store, "c-1") == set()
    # when c-1 consents again, new rows arrive, and c-1 withdraws again - recorded now, with
    # moments (occurred_at) that fall before the first run started
    give_consent(["c-1"], days_ago=1)
    with psycopg.connect(store.url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO shop.events (id, customer_id, event_time, email, amount) "
            "VALUES (100001, 'c-1', now(), 'c-1@example.com', 1)"
        )
    withdraw(["c-1"], days_ago=0)
    assert planning.plan_for(events_dataset).uncovered == {"c-1"}
    outcome = dispatch.dispatch(kind="erasure")
    # then the dispatch creates a run for the same subject set, and it erases the new row
    (second,) = RetentionRun.objects.exclude(pk=first.pk)
    assert outcome["created"] == [second.pk]
    assert runner.run_execute(run_id=second.pk).rows_deleted == 1
    assert _rows_of(store, "c-1") == set()
    # and the next dispatch has nothing left to do
    assert dispatch.dispatch(kind="erasure")["created"] == []


@pytest.mark.django_db
def test_a_backdated_withdrawal_recorded_after_the_last_run_is_not_taken_as_covered(
    store, events_dataset, alice
):
    store.fill(100, subjects=10)
    give_consent([f"c-{i}" for i in range(10)], days_ago=300)
    withdraw(["c-1"])
    set_policy(dataset=events_dataset, actor=alice, max_age_days=3650)
    dispatch.dispatch(kind="erasure")
    runner.run_execute(run_id=RetentionRun.objects.get().pk)
    # when c-2's withdrawal, which happened ten days ago, is recorded only now
    withdraw(["c-2"], days_ago=10)
    plan = planning.plan_for(events_dataset)
    # then it is due, with its deadline counted from when consent ended
    assert plan.uncovered == {"c-2"}
    ended = plan.withdrawn["c-2"]
    assert plan.erasure_due_by == ended + timedelta(days=30)
    assert ended < timezone.now() - timedelta(days=9)


@pytest.mark.django_db(transaction=True)
def test_a_withdrawal_is_erased_by_the_worker_without_waiting_for_the_beat_even_the_second_time(
    store, events_dataset, alice, celery_worker_thread
):
    """README: "the erasure run that a withdrawal triggers erases them within minutes" - on a
    real worker, through the consent API's signal, with no beat running; then again after the
    subject consented again, new rows arrived, and they withdrew again."""
    store.fill(300, subjects=10)
    give_consent([f"c-{i}" for i in range(10)])
    set_policy(dataset=events_dataset, actor=alice, max_age_days=3650)
    withdraw(["c-3"])
    _wait(lambda: not _rows_of(store, "c-3"), timeout=60, what="c-3 erased by the worker")
    _wait(
        lambda: RetentionRun.objects.filter(status="succeeded").count() == 1,
        what="the first run finished",
    )
    give_consent(["c-3"], days_ago=0)
    with psycopg.connect(store.url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO shop.events (id, customer_id, event_time, email, amount) "
            "VALUES (100001, 'c-3', now(), 'c-3@example.com', 1)"
        )
    withdraw(["c-3"], days_ago=0)
    _wait(lambda: not _rows_of(store, "c-3"), timeout=60, what="c-3 erased again")
    assert len(_rows_of(store, "c-4")) == 30
