"""The scheduler's side: which datasets get a run, the database lock two schedulers meet on,
erasure runs only for subjects not yet covered, resuming stale runs, and the withdrawal signal
that schedules an erasure dispatch at once."""

from __future__ import annotations

from datetime import date, timedelta
from unittest import mock

import pytest
from django.core.cache import cache
from django.utils import timezone

from datasets import services as catalog
from governance.retention import dispatch, planning, runner, services, tasks
from governance.retention.models import RetentionRun
from tests.accounts.factories import UserFactory
from tests.datasets.factories import ANSWERS, make_dataset
from tests.retention.conftest import EVENT_FIELDS, give_consent, set_policy, withdraw

pytestmark = pytest.mark.django_db

FAR = date(2030, 1, 1)


@pytest.fixture(autouse=True)
def _warehouse(settings):
    settings.RETENTION_CONNECTIONS = {"warehouse": "postgres://planner@127.0.0.1:1/none"}


def csv_dataset(steward, slug, *, approve=True, **extra):
    """A CSV dataset, approved by a privacy officer unless ``approve=False`` (retention acts
    only on approved datasets)."""
    dataset = make_dataset(
        steward,
        slug=slug,
        fields=EVENT_FIELDS,
        storage_kind="csv",
        location=f"/data/{slug}.csv",
        subject_id_field="customer_id",
        **extra,
    )
    if approve:
        catalog.dataset_submit(actor=steward, dataset=dataset, **ANSWERS)
        catalog.dataset_approve(
            actor=UserFactory(username="dispatch-officer", roles=["privacy_officer"]),
            dataset=dataset,
        )
        dataset.refresh_from_db()
    return dataset


# --- retention dispatch -----------------------------------------------------------------------


def test_the_daily_dispatch_creates_one_run_per_enabled_policy(events_dataset, alice):
    # given two enabled policies, one switched off, and a dataset without a policy
    tickets = csv_dataset(alice, "shop-tickets")
    paused = csv_dataset(alice, "shop-paused")
    csv_dataset(alice, "shop-unmanaged")
    set_policy(dataset=events_dataset, actor=alice, max_age_days=30)
    set_policy(dataset=tickets, actor=alice, expires_on=FAR)
    set_policy(dataset=paused, actor=alice, expires_on=FAR, enabled=False)
    # when
    outcome = dispatch.dispatch(kind="retention")
    # then
    runs = list(RetentionRun.objects.order_by("id"))
    assert outcome == {"created": [r.pk for r in runs], "busy": [], "resumed": []}
    assert [(r.dataset.slug, r.kind, r.trigger, r.status, r.requested_by) for r in runs] == [
        ("shop-events", "retention", "schedule", "queued", None),
        ("shop-tickets", "retention", "schedule", "queued", None),
    ]


def test_a_dataset_with_a_run_in_progress_is_skipped_as_busy(events_dataset, alice):
    # given
    set_policy(dataset=events_dataset, actor=alice, max_age_days=30)
    first = dispatch.dispatch(kind="retention")
    # when
    second = dispatch.dispatch(kind="retention")
    # then
    assert second == {"created": [], "busy": ["shop-events"], "resumed": []}
    assert RetentionRun.objects.get().pk == first["created"][0]


def test_the_database_refuses_a_second_unfinished_run_of_a_dataset(events_dataset, alice):
    # given a queued run (created without the service's check, as a second scheduler would)
    set_policy(dataset=events_dataset, actor=alice, max_age_days=30)
    create = services.run_create
    first = create(dataset=events_dataset, kind="retention", trigger="schedule", actor=None)
    # when
    second = create(dataset=events_dataset, kind="erasure", trigger="schedule", actor=None)
    # then
    assert first is not None
    assert second is None
    assert list(RetentionRun.objects.all()) == [first]
    # and once the first is finished, a new one may start
    RetentionRun.objects.filter(pk=first.pk).update(status=RetentionRun.Status.SUCCEEDED)
    third = create(dataset=events_dataset, kind="erasure", trigger="schedule", actor=None)
    assert third is not None and third.pk != first.pk


# --- erasure dispatch -------------------------------------------------------------------------


def test_the_erasure_dispatch_creates_nothing_when_no_subject_is_due(store, events_dataset, alice):
    # given
    give_consent(["c-1", "c-2"])
    set_policy(dataset=events_dataset, actor=alice, max_age_days=30)
    # when
    outcome = dispatch.dispatch(kind="erasure")
    # then
    assert outcome == {"created": [], "busy": [], "resumed": []}
    assert not RetentionRun.objects.exists()


def test_the_erasure_dispatch_runs_only_for_subjects_the_last_successful_run_did_not_cover(
    store, events_dataset, alice
):
    # given c-1 withdrew
    store.fill(500, subjects=10)
    give_consent([f"c-{i}" for i in range(10)])
    withdraw(["c-1"])
    set_policy(dataset=events_dataset, actor=alice, max_age_days=3650)
    # when
    first = dispatch.dispatch(kind="erasure")
    # then one erasure run for c-1
    (run,) = RetentionRun.objects.all()
    assert first["created"] == [run.pk]
    assert (run.kind, run.subjects_count) == ("erasure", 1)
    assert run.subjects_sha256 == planning.subjects_digest(["c-1"])
    # when it ran, and the dispatch comes again: nothing new is due
    done = runner.run_execute(run_id=run.pk)
    assert (done.status, done.rows_deleted) == ("succeeded", 50)
    assert dispatch.dispatch(kind="erasure") == {"created": [], "busy": [], "resumed": []}
    assert RetentionRun.objects.count() == 1
    # when c-2 withdraws too: a new run, for the new subject set
    withdraw(["c-2"])
    third = dispatch.dispatch(kind="erasure")
    newer = RetentionRun.objects.exclude(pk=run.pk).get()
    assert third["created"] == [newer.pk]
    assert newer.subjects_sha256 == planning.subjects_digest(["c-1", "c-2"])
    assert runner.run_execute(run_id=newer.pk).rows_deleted == 50
    assert store.count() == 400


def test_an_erasure_that_failed_is_tried_again_by_the_next_dispatch(
    store, events_dataset, alice, settings
):
    # given the erasure run of c-1 failed: the store was unreachable
    store.fill(100, subjects=10)
    give_consent([f"c-{i}" for i in range(10)])
    withdraw(["c-1"])
    set_policy(dataset=events_dataset, actor=alice, max_age_days=3650)
    dispatch.dispatch(kind="erasure")
    settings.RETENTION_CONNECTIONS = {"warehouse": "postgres://postgres@127.0.0.1:1/x"}
    failed = runner.run_execute(run_id=RetentionRun.objects.get().pk)
    settings.RETENTION_CONNECTIONS = {"warehouse": store.url}
    assert (failed.status, failed.error_code) == ("failed", "unreachable")
    # when
    outcome = dispatch.dispatch(kind="erasure")
    # then the same subjects are erased by a new run
    retry = RetentionRun.objects.exclude(pk=failed.pk).get()
    assert outcome["created"] == [retry.pk]
    assert retry.subjects_sha256 == failed.subjects_sha256
    assert runner.run_execute(run_id=retry.pk).rows_deleted == 10
    assert store.count() == 90


# --- stale runs -------------------------------------------------------------------------------


def test_runs_without_a_recent_heartbeat_are_resumed(alice, settings):
    # given a run of each kind of staleness, each on its own dataset (one unfinished run each)
    settings.RETENTION_STALE_SECONDS = 600
    now = timezone.now()
    old, recent = now - timedelta(seconds=601), now - timedelta(seconds=30)

    def run(slug, status, **fields):
        dataset = csv_dataset(alice, slug)
        return RetentionRun.objects.create(
            dataset=dataset, kind="retention", trigger="schedule", status=status, **fields
        )

    dead = run("dead", "running", created_at=old, heartbeat_at=old)
    run("alive", "running", created_at=old, heartbeat_at=recent)
    lost = run("lost", "queued", created_at=old)
    run("waiting", "queued", created_at=recent)
    run("finished", "succeeded", created_at=old, heartbeat_at=old)
    run("failed", "failed", created_at=old, heartbeat_at=old)
    # when
    with mock.patch.object(tasks.run_execute_task, "delay") as enqueue:
        resumed = dispatch.resume_stale()
    # then
    assert sorted(resumed) == sorted([dead.pk, lost.pk])
    assert sorted(call.args for call in enqueue.call_args_list) == sorted([(dead.pk,), (lost.pk,)])


# --- the withdrawal signal --------------------------------------------------------------------


def test_a_withdrawal_schedules_the_erasure_dispatch_when_a_policy_is_enabled(
    events_dataset, alice, django_capture_on_commit_callbacks
):
    # given
    set_policy(dataset=events_dataset, actor=alice, max_age_days=30)
    give_consent(["c-1"])
    # when
    with mock.patch.object(tasks.erasure_dispatch_task, "delay") as enqueue:
        with django_capture_on_commit_callbacks(execute=True):
            withdraw(["c-1"])
    # then
    enqueue.assert_called_once_with()


@pytest.mark.parametrize("policy", [None, "disabled"])
def test_a_withdrawal_schedules_nothing_without_an_enabled_policy(
    events_dataset, alice, django_capture_on_commit_callbacks, policy
):
    # given
    if policy == "disabled":
        set_policy(dataset=events_dataset, actor=alice, max_age_days=30, enabled=False)
    give_consent(["c-1"])
    # when
    with mock.patch.object(tasks.erasure_dispatch_task, "delay") as enqueue:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            withdraw(["c-1"])
    # then the consent registry sent the signal, and nobody was enqueued
    assert len(callbacks) == 1
    enqueue.assert_not_called()


def test_giving_consent_schedules_nothing(
    events_dataset, alice, django_capture_on_commit_callbacks
):
    # given
    set_policy(dataset=events_dataset, actor=alice, max_age_days=30)
    # when
    with mock.patch.object(tasks.erasure_dispatch_task, "delay") as enqueue:
        with django_capture_on_commit_callbacks(execute=True):
            give_consent(["c-1"])
    # then
    enqueue.assert_not_called()


def test_an_erasure_request_gets_an_erasure_run_that_completes_it(
    store, events_dataset, alice, petra
):
    # given a request to erase c-4 everywhere
    store.fill(100, subjects=10)
    set_policy(dataset=events_dataset, actor=alice, max_age_days=3650)
    request = services.erasure_request_create(
        actor=petra, external_id="c-4", namespace="shop", received_on=date(2026, 11, 1)
    )
    # when
    outcome = dispatch.dispatch(kind="erasure")
    run = runner.run_execute(run_id=outcome["created"][0])
    # then
    assert (run.kind, run.erasure_request_ids, run.rows_deleted) == ("erasure", [request.pk], 10)
    request.refresh_from_db()
    assert request.status == "completed"
    assert dispatch.dispatch(kind="erasure")["created"] == []


# --- the tasks' locks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "lock", "kind"),
    [
        (tasks.retention_dispatch_task, tasks.RETENTION_LOCK, "retention"),
        (tasks.erasure_dispatch_task, tasks.ERASURE_LOCK, "erasure"),
    ],
)
def test_a_dispatch_task_does_nothing_while_another_holds_its_lock(
    events_dataset, alice, petra, task, lock, kind
):
    # given a policy and a subject due for erasure; another dispatch holds the lock
    set_policy(dataset=events_dataset, actor=alice, max_age_days=30)
    services.erasure_request_create(
        actor=petra, external_id="c-4", namespace="shop", received_on=date(2026, 11, 1)
    )
    cache.add(lock, "1", timeout=600)
    # when
    skipped = task()
    cache.delete(lock)
    done = task()
    # then
    assert skipped == {"skipped": "another dispatch holds the lock"}
    (run,) = RetentionRun.objects.all()
    assert done == {"created": [run.pk], "busy": [], "resumed": []}
    assert run.kind == kind
    assert cache.get(lock) is None


def test_a_broker_that_cannot_be_reached_does_not_fail_the_withdrawal(
    events_dataset, alice, django_capture_on_commit_callbacks, caplog
):
    # given
    from kombu.exceptions import OperationalError

    from consent.models import ConsentState

    set_policy(dataset=events_dataset, actor=alice, max_age_days=30)
    give_consent(["c-1"])
    # when
    with mock.patch.object(
        tasks.erasure_dispatch_task, "delay", side_effect=OperationalError("Connection refused")
    ) as enqueue:
        with django_capture_on_commit_callbacks(execute=True):
            withdraw(["c-1"])
    # then the withdrawal stands, and the missed enqueue is logged
    enqueue.assert_called_once_with()
    assert ConsentState.objects.get(subject__external_id="c-1").status == "withdrawn"
    (warning,) = [r for r in caplog.records if r.name == "governance.retention.signals"]
    assert warning.getMessage().startswith("could not enqueue the erasure dispatch")


def test_a_dataset_on_legal_hold_gets_no_erasure_run_until_the_hold_is_released(
    store, events_dataset, alice, petra
):
    # given c-1 withdrew, and the dataset is on legal hold
    store.fill(100, subjects=10)
    give_consent([f"c-{i}" for i in range(10)])
    withdraw(["c-1"])
    set_policy(dataset=events_dataset, actor=alice, max_age_days=3650)
    hold = services.hold_place(actor=petra, dataset=events_dataset, reason="Regulator inquiry")
    # when the hourly dispatch runs: nothing (the daily retention run records the hold)
    assert dispatch.dispatch(kind="erasure")["created"] == []
    held = dispatch.dispatch(kind="retention")["created"]
    assert runner.run_execute(run_id=held[0]).status == RetentionRun.Status.HELD
    assert dispatch.dispatch(kind="erasure")["created"] == []
    # when the hold is released: the next dispatch erases c-1
    services.hold_release(hold_id=hold.pk, actor=petra, reason="Inquiry closed.")
    (created,) = dispatch.dispatch(kind="erasure")["created"]
    assert runner.run_execute(run_id=created).rows_deleted == 10
    assert RetentionRun.objects.count() == 2


def test_a_subject_held_after_its_run_was_queued_is_erased_once_the_hold_is_released(
    store, events_dataset, alice, petra, settings
):
    # given a queued erasure run for c-1 and c-2, then a hold on c-2 before it executes
    settings.RETENTION_CONNECTIONS = {"warehouse": store.url}
    store.fill(100, subjects=10)
    give_consent([f"c-{i}" for i in range(10)])
    withdraw(["c-1", "c-2"])
    set_policy(dataset=events_dataset, actor=alice, max_age_days=3650)
    run_id = dispatch.dispatch(kind="erasure")["created"][0]
    hold = services.hold_place(actor=petra, namespace="shop", external_id="c-2", reason="Case")
    first = runner.run_execute(run_id=run_id)
    assert (first.subjects_count, first.subjects_sha256) == (1, planning.subjects_digest(["c-1"]))
    assert {row[1] for row in store.rows()} == {f"c-{i}" for i in range(10)} - {"c-1"}
    assert dispatch.dispatch(kind="erasure")["created"] == []  # c-2 still held
    # when the hold is released
    services.hold_release(hold_id=hold.pk, actor=petra, reason="Case closed.")
    second_id = dispatch.dispatch(kind="erasure")["created"][0]
    second = runner.run_execute(run_id=second_id)
    # then c-2's rows go too
    assert second.rows_deleted == 10
    assert {row[1] for row in store.rows()} == {f"c-{i}" for i in range(10)} - {"c-1", "c-2"}
