"""Runs executed in-process against a real PostgreSQL store: what is deleted, what is kept,
the certificate, holds, resuming a crashed run, failures recorded with their reason."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from datasets.connectors import DELETE, Batch, ConnectorError
from datasets.connectors.postgres import PostgresTableConnector
from governance.audit.models import LedgerEntry
from governance.retention import planning, runner, services
from governance.retention.models import (
    DeletionCertificate,
    RetentionRun,
    RunBatch,
)
from tests.retention.conftest import give_consent, set_policy, withdraw

pytestmark = pytest.mark.django_db


def _run(dataset, actor, kind="retention") -> RetentionRun:
    run = services.run_start(dataset=dataset, actor=actor, kind=kind)
    return runner.run_execute(run_id=run.pk)


def _expected_kept(rows: int, cutoff: datetime, erased: set[str], *, days=730, subjects=1000):
    """Ids of the rows the formula in Store.fill gives that survive ``cutoff`` and ``erased``."""
    now = timezone.now()
    kept = set()
    for g in range(1, rows + 1):
        moment = now - timedelta(days=g % days, hours=12)
        if moment >= cutoff and f"c-{g % subjects}" not in erased:
            kept.add(g)
    return kept


def test_retention_run_deletes_expired_rows_and_withdrawn_subjects_rows(
    store, events_dataset, alice
):
    # given 5,000 rows over two years of 100 subjects; c-1..c-5 withdrew consent
    store.fill(5000, subjects=100)
    give_consent([f"c-{i}" for i in range(100)])
    withdraw(["c-1", "c-2", "c-3", "c-4", "c-5"])
    set_policy(dataset=events_dataset, actor=alice, max_age_days=180, subject_namespace="shop")
    # when
    run = _run(events_dataset, alice)
    # then exactly the rows older than 180 days and every row of c-1..c-5 are gone
    cutoff = datetime.fromisoformat(run.plan["cutoff"])
    erased = {"c-1", "c-2", "c-3", "c-4", "c-5"}
    expected = _expected_kept(5000, cutoff, erased, subjects=100)
    assert store.ids() == expected
    assert run.status == RetentionRun.Status.SUCCEEDED
    assert run.rows_deleted == 5000 - len(expected)
    assert run.subject_ids == []  # the ids are not kept once the run is finished
    certificate = DeletionCertificate.objects.get(run=run)
    document = certificate.document
    assert document["rows_deleted"] == 5000 - len(expected)
    assert document["subjects"]["erased_count"] == 5
    assert document["subjects"]["erased_sha256"] == planning.subjects_digest(erased)
    assert "c-1" not in str(document)
    assert [v["remaining"] for v in document["verification"]] == [0]
    assert document["criteria"]["max_age_days"] == 180
    assert document["criteria"]["max_age_source"] == "the dataset's policy"
    entry = LedgerEntry.objects.get(event="retention.certificate_issued")
    assert entry.additional_data["sha256"] == certificate.sha256
    assert entry.additional_data["document"]["rows_deleted"] == run.rows_deleted


def test_a_second_run_deletes_nothing_more_and_says_so(store, events_dataset, alice):
    # given a completed run
    store.fill(2000, subjects=50)
    set_policy(dataset=events_dataset, actor=alice, max_age_days=90)
    first = _run(events_dataset, alice)
    left = store.ids()
    # when
    second = _run(events_dataset, alice)
    # then
    assert first.rows_deleted > 0
    assert store.ids() == left
    assert second.status == RetentionRun.Status.SUCCEEDED
    assert second.rows_deleted == 0
    assert second.certificate.document["note"] == runner.NOTE_NOTHING


def test_the_purpose_retention_period_bounds_a_longer_policy(store, events_dataset, alice):
    # given a policy of 600 days on a dataset approved for a purpose keeping data 365 days
    store.fill(1000, subjects=10)
    set_policy(dataset=events_dataset, actor=alice, max_age_days=600)
    # when
    run = _run(events_dataset, alice)
    # then the stricter (365 days, the purpose's) wins
    assert run.plan["max_age_days"] == 365
    assert run.plan["max_age_source"] == "purpose churn-model v1"
    cutoff = datetime.fromisoformat(run.plan["cutoff"])
    assert store.ids() == _expected_kept(1000, cutoff, set(), subjects=10)


def test_a_dataset_hold_stops_the_run_and_deletes_nothing(store, events_dataset, alice, petra):
    # given
    store.fill(1000, subjects=10)
    set_policy(dataset=events_dataset, actor=alice, max_age_days=30)
    services.hold_place(actor=petra, dataset=events_dataset, reason="Regulator inquiry 12")
    # when
    run = _run(events_dataset, alice)
    # then
    assert store.count() == 1000
    assert run.status == RetentionRun.Status.HELD
    assert run.error == runner.MSG_HELD.format(reasons="Regulator inquiry 12")
    assert run.certificate.document["outcome"] == "held"
    assert run.certificate.document["rows_deleted"] == 0
    assert LedgerEntry.objects.filter(event="retention.run_held").count() == 1


def test_a_subject_hold_keeps_that_subjects_rows_even_past_retention(
    store, events_dataset, alice, petra
):
    # given c-3 withdrew consent but is on legal hold
    store.fill(1000, subjects=10)
    give_consent([f"c-{i}" for i in range(10)])
    withdraw(["c-3"])
    set_policy(dataset=events_dataset, actor=alice, max_age_days=30, subject_namespace="shop")
    services.hold_place(
        actor=petra, namespace="shop", external_id="c-3", reason="Litigation: order dispute"
    )
    # when
    run = _run(events_dataset, alice)
    # then every row of c-3 survives; others past 30 days are gone
    kept = store.rows()
    assert {r[0] for r in kept if r[1] == "c-3"} == {g for g in range(1, 1001) if g % 10 == 3}
    cutoff = datetime.fromisoformat(run.plan["cutoff"])
    assert all(r[2] >= cutoff for r in kept if r[1] != "c-3")
    assert run.certificate.document["subjects"]["held_count"] == 1
    assert run.certificate.document["subjects"]["erased_count"] == 0


def test_anonymize_empties_identifiers_of_old_rows_and_deletes_withdrawn_subjects(
    store, events_dataset, alice
):
    # given
    store.fill(1000, subjects=10)
    give_consent([f"c-{i}" for i in range(10)])
    withdraw(["c-9"])
    set_policy(
        dataset=events_dataset,
        actor=alice,
        max_age_days=100,
        action="anonymize",
        subject_namespace="shop",
    )
    # when
    run = _run(events_dataset, alice)
    again = _run(events_dataset, alice)
    # then
    rows = store.rows()
    cutoff = datetime.fromisoformat(run.plan["cutoff"])
    assert not [r for r in rows if r[1] == "c-9"]
    old = [r for r in rows if r[2] < cutoff]
    assert old and all(r[1] is None and r[3] is None for r in old)
    assert all(r[1] is not None and r[3] is not None for r in rows if r[2] >= cutoff)
    assert run.rows_deleted == 100
    assert run.rows_anonymized == len(old)
    assert (again.rows_deleted, again.rows_anonymized) == (0, 0)


def test_dataset_expiry_deletes_every_row(store, events_dataset, alice):
    store.fill(300, subjects=5)
    set_policy(
        dataset=events_dataset,
        actor=alice,
        expires_on=timezone.now().date(),  # from midnight today, with no grace period
    )
    run = _run(events_dataset, alice)
    assert store.count() == 0
    assert run.rows_deleted == 300
    assert run.certificate.document["criteria"]["expired"] is True


def test_an_unreachable_store_fails_the_run_with_its_reason_and_deletes_nothing(
    store, events_dataset, alice, settings
):
    # given a connection to a port where no database listens
    store.fill(100, subjects=5)
    set_policy(dataset=events_dataset, actor=alice, max_age_days=30, connection="warehouse")
    settings.RETENTION_CONNECTIONS = {"warehouse": "postgres://postgres:s3cret@127.0.0.1:1/x"}
    # when
    run = _run(events_dataset, alice)
    # then
    assert run.status == RetentionRun.Status.FAILED
    assert run.error_code == "unreachable"
    assert run.error.startswith("Could not connect to the database at 127.0.0.1:1/x")
    assert "s3cret" not in run.error
    settings.RETENTION_CONNECTIONS = {"warehouse": store.url}
    assert store.count() == 100
    assert not DeletionCertificate.objects.filter(run=run).exists()
    failed = LedgerEntry.objects.get(event="retention.run_failed")
    assert failed.additional_data["reason"] == run.error


def test_a_table_that_is_not_what_the_catalog_says_fails_the_run(store, events_dataset, alice):
    # given the event-time column holds text, not timestamps
    import psycopg

    with psycopg.connect(store.url, autocommit=True) as conn:
        conn.execute("ALTER TABLE shop.events ALTER COLUMN event_time TYPE text")
    store_rows = 0
    set_policy(dataset=events_dataset, actor=alice, max_age_days=30)
    # when
    run = _run(events_dataset, alice)
    # then
    assert run.status == RetentionRun.Status.FAILED
    assert run.error_code == "mismatch"
    assert "event-time column" in run.error
    assert store.count() == store_rows


def _connector(dataset) -> PostgresTableConnector:
    return runner._connector(RetentionRun(dataset=dataset))


def test_a_crashed_run_resumes_without_deleting_twice_or_losing_count(store, events_dataset, alice):
    # given a run that died after the store committed its second batch but before the
    # registry marked that batch done, with a third batch journaled but never applied
    store.fill(3000, subjects=30)
    set_policy(dataset=events_dataset, actor=alice, max_age_days=60)
    run = services.run_start(dataset=events_dataset, actor=alice)
    cutoff = datetime.fromisoformat(run.plan["cutoff"])
    expected_kept = _expected_kept(3000, cutoff, set(), subjects=30)
    connector = _connector(events_dataset)
    criteria = run_criteria = planning.operations_for(
        action="delete", cutoff=cutoff, everything=False, subjects=set(), keep=set()
    )[0][1]
    batches = connector.plan(run_criteria, DELETE, batch_size=400)
    first = next(batches)
    journal = RunBatch.objects.create(
        run=run, seq=1, operation=DELETE, payload=first.payload, rows_planned=first.rows
    )
    runner._mark_done(run, journal, connector.apply(first, run_criteria), 0)
    second = next(batches)
    RunBatch.objects.create(
        run=run, seq=2, operation=DELETE, payload=second.payload, rows_planned=second.rows
    )
    connector.apply(
        second, run_criteria
    )  # the store committed; the worker died before recording it
    third = next(batches)
    RunBatch.objects.create(
        run=run, seq=3, operation=DELETE, payload=third.payload, rows_planned=third.rows
    )
    connector.close()
    RetentionRun.objects.filter(pk=run.pk).update(status="running", attempts=1)
    # when the run is resumed
    finished = runner.run_execute(run_id=run.pk)
    # then every expired row is gone, each counted once
    assert store.ids() == expected_kept
    assert finished.rows_deleted == 3000 - len(expected_kept)
    states = dict(finished.batches.values_list("seq", "state"))
    assert (states[1], states[2], states[3]) == ("done", "done", "discarded")
    assert sum(finished.batches.filter(state="done").values_list("rows_done", flat=True)) == (
        finished.rows_deleted
    )
    assert finished.attempts == 2
    assert DeletionCertificate.objects.filter(run=finished).count() == 1
    assert criteria.older_than == cutoff


def test_a_run_another_worker_executes_is_left_to_it(store, events_dataset, alice):
    # given the dataset's lock is held by another session
    import psycopg
    from django.db import connection

    set_policy(dataset=events_dataset, actor=alice, max_age_days=60)
    run = services.run_start(dataset=events_dataset, actor=alice)
    name = connection.settings_dict["NAME"]
    with psycopg.connect(f"postgres://postgres@127.0.0.1:5432/{name}", autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", (runner.LOCK_CLASS, events_dataset.pk))
        # when
        outcome = runner.run_execute(run_id=run.pk)
    # then
    assert outcome is None
    run.refresh_from_db()
    assert run.status == RetentionRun.Status.QUEUED


def test_applied_tells_an_applied_batch_from_an_unapplied_one(store, events_dataset, alice):
    store.fill(50, subjects=5)
    set_policy(dataset=events_dataset, actor=alice, max_age_days=10)
    connector = _connector(events_dataset)
    criteria = planning.operations_for(
        action="delete",
        cutoff=timezone.now() - timedelta(days=10),
        everything=False,
        subjects=set(),
        keep=set(),
    )[0][1]
    batch = next(connector.plan(criteria, DELETE, batch_size=10))
    assert connector.applied(batch, criteria) is None
    assert connector.apply(batch, criteria) == 10
    assert connector.applied(batch, criteria) == 10
    assert connector.apply(Batch(payload=batch.payload, rows=10), criteria) == 0
    connector.close()


def test_the_connector_refuses_an_unknown_connection_with_the_configured_names(
    events_dataset, settings
):
    settings.RETENTION_CONNECTIONS = {"warehouse": "postgres://x@127.0.0.1/y"}
    connector = PostgresTableConnector(
        location="shop.events",
        layout=planning.plan_for(events_dataset).layout(),
        options={"connection": "lake"},
    )
    with pytest.raises(ConnectorError) as raised:
        connector.shape()
    assert raised.value.code == "unreachable"
    assert raised.value.message == (
        "No retention connection named 'lake'; configured: warehouse. Add it to "
        "RETENTION_CONNECTIONS."
    )


def test_a_table_locked_by_a_long_writer_fails_the_run_and_the_next_run_finishes(
    store, events_dataset, alice
):
    # given a writer holding an exclusive lock on the table
    import psycopg

    store.fill(200, subjects=5)
    set_policy(dataset=events_dataset, actor=alice, max_age_days=30)
    with psycopg.connect(store.url) as writer:
        writer.execute("LOCK TABLE shop.events IN ACCESS EXCLUSIVE MODE")
        # when a run tries to delete (it gives up after lock_timeout instead of queueing)
        failed = _run(events_dataset, alice)
        writer.rollback()
    # then the run failed with the store's reason, and deleted nothing
    assert failed.status == RetentionRun.Status.FAILED
    assert failed.error_code == "failed"
    assert failed.error.startswith('The database refused a statement on "shop.events":')
    assert store.count() == 200
    # and the next run, with the lock gone, does the work
    finished = _run(events_dataset, alice)
    assert finished.status == RetentionRun.Status.SUCCEEDED
    assert finished.rows_deleted == 200 - store.count() > 0


# --- files ------------------------------------------------------------------------------------


def _csv_dataset(alice, petra, folder):
    from datasets import services as catalog
    from governance.access import services as access
    from tests.datasets.factories import ANSWERS, make_dataset
    from tests.retention.conftest import EVENT_FIELDS

    dataset = make_dataset(
        alice,
        slug="shop-files",
        fields=EVENT_FIELDS,
        storage_kind="csv",
        location=str(folder),
        subject_id_field="customer_id",
        event_time_field="event_time",
    )
    catalog.dataset_submit(actor=alice, dataset=dataset, **ANSWERS)
    catalog.dataset_approve(actor=petra, dataset=dataset, note="Checked as described.")
    access.purpose_approval_create(actor=petra, dataset=dataset, purpose_slug="churn-model")
    return dataset


def _write_month(folder, month: str, rows: list[tuple[str, datetime]]) -> None:
    part = folder / f"month={month}"
    part.mkdir(parents=True, exist_ok=True)
    lines = ["customer_id,email,event_time"]
    lines += [f"{c},{c}@example.com,{t.isoformat()}" for c, t in rows]
    (part / "events.csv").write_text("\n".join(lines) + "\n")


def test_a_run_on_csv_partitions_deletes_whole_expired_files_and_rewrites_the_rest(
    tmp_path, settings, churn, alice, petra
):
    # given three monthly partitions: one wholly past 100 days, one mixed, one recent;
    # c-9 withdrew consent
    settings.RETENTION_FILE_ROOTS = [tmp_path.resolve()]
    folder = tmp_path / "events"
    now = timezone.now()
    old, mixed_old, recent = (now - timedelta(days=d) for d in (300, 120, 5))
    _write_month(folder, "old", [("c-1", old), ("c-2", old)])
    _write_month(folder, "mixed", [("c-1", mixed_old), ("c-3", recent), ("c-9", recent)])
    _write_month(folder, "new", [("c-4", recent)])
    dataset = _csv_dataset(alice, petra, folder)
    give_consent(["c-1", "c-3", "c-4", "c-9"])
    withdraw(["c-9"])
    set_policy(dataset=dataset, actor=alice, max_age_days=100)
    # when
    run = _run(dataset, alice)
    again = _run(dataset, alice)
    # then
    assert not (folder / "month=old" / "events.csv").exists()
    assert (folder / "month=mixed" / "events.csv").read_text() == (
        f"customer_id,email,event_time\nc-3,c-3@example.com,{recent.isoformat()}\n"
    )
    assert (folder / "month=new" / "events.csv").read_text().count("\n") == 2
    assert (run.status, run.rows_deleted, run.files_deleted) == ("succeeded", 4, 1)
    verification = run.certificate.document["verification"][0]
    assert verification["remaining"] == 0
    assert verification["method"].startswith("re-read of every CSV file under")
    assert (again.rows_deleted, again.files_deleted) == (0, 0)


def test_a_file_that_is_not_what_the_dataset_says_fails_the_run_and_changes_nothing(
    tmp_path, settings, churn, alice, petra
):
    # given a "CSV" dataset whose folder holds a Parquet file renamed .csv
    settings.RETENTION_FILE_ROOTS = [tmp_path.resolve()]
    folder = tmp_path / "events"
    _write_month(folder, "old", [("c-1", timezone.now() - timedelta(days=300))])
    bogus = folder / "month=old" / "other.csv"
    bogus.write_bytes(b"PAR1\x00\x00garbage")
    dataset = _csv_dataset(alice, petra, folder)
    set_policy(dataset=dataset, actor=alice, max_age_days=100)
    before = {p: p.read_bytes() for p in folder.rglob("*.csv")}
    # when
    run = _run(dataset, alice)
    # then
    assert run.status == RetentionRun.Status.FAILED
    assert run.error_code == "mismatch"
    assert "other.csv" in run.error
    assert {p: p.read_bytes() for p in folder.rglob("*.csv")} == before
    assert LedgerEntry.objects.get(event="retention.run_failed").additional_data["code"] == (
        "mismatch"
    )
