"""The post-deletion verification (ADR 0008, 5): a count of the rows still matching, made after
the last batch. Rows that arrive during a run get one more pass and the count is made after
it; rows the store will not delete fail the run as unverified, with their count."""

from __future__ import annotations

import psycopg
import pytest

from governance.retention import runner, services
from governance.retention.models import DeletionCertificate, RetentionRun
from tests.retention.conftest import set_policy

pytestmark = pytest.mark.django_db


def _run(dataset, actor) -> RetentionRun:
    run = services.run_start(dataset=dataset, actor=actor)
    return runner.run_execute(run_id=run.pk)


def _expire_every_row(store) -> None:
    with psycopg.connect(store.url, autocommit=True) as conn:
        conn.execute("UPDATE shop.events SET event_time = now() - interval '400 days'")


def test_rows_arriving_during_a_run_get_one_more_pass_and_are_verified_after_it(
    store, events_dataset, alice
):
    # given 100 expired rows, and a writer that adds one more expired row (id 1000) right
    # after the run's first delete (a statement trigger on the store, firing once)
    store.fill(100, subjects=10)
    _expire_every_row(store)
    with psycopg.connect(store.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE shop.fired (once boolean PRIMARY KEY)")
        conn.execute(
            "CREATE FUNCTION shop.late_row() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN IF NOT EXISTS (SELECT FROM shop.fired) THEN INSERT INTO shop.fired VALUES "
            "(true); INSERT INTO shop.events (id, customer_id, event_time) VALUES "
            "(1000, 'c-1', now() - interval '400 days'); END IF; RETURN NULL; END $$"
        )
        conn.execute(
            "CREATE TRIGGER late_row AFTER DELETE ON shop.events "
            "FOR EACH STATEMENT EXECUTE FUNCTION shop.late_row()"
        )
    set_policy(dataset=events_dataset, actor=alice, max_age_days=365)
    # when
    run = _run(events_dataset, alice)
    # then the late row was deleted in a second pass, counted, and the count came after it
    assert run.status == RetentionRun.Status.SUCCEEDED
    assert store.ids() == set()
    assert run.rows_deleted == 101
    assert list(run.batches.values_list("rows_done", flat=True)) == [100, 1]
    document = DeletionCertificate.objects.get(run=run).document
    assert [v["remaining"] for v in document["verification"]] == [0]


def test_rows_the_store_will_not_delete_fail_the_run_as_unverified_with_their_count(
    store, events_dataset, alice
):
    # given 50 expired rows, two of which a trigger on the store silently keeps
    store.fill(50, subjects=5)
    _expire_every_row(store)
    with psycopg.connect(store.url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION shop.keep_some() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF OLD.id IN (7, 8) THEN RETURN NULL; END IF; RETURN OLD; END $$"
        )
        conn.execute(
            "CREATE TRIGGER keep_some BEFORE DELETE ON shop.events "
            "FOR EACH ROW EXECUTE FUNCTION shop.keep_some()"
        )
    set_policy(dataset=events_dataset, actor=alice, max_age_days=365)
    # when
    run = _run(events_dataset, alice)
    # then the run tried them once more, then failed as unverified; what it did delete is
    # certified and counted once
    assert store.ids() == {7, 8}
    assert run.status == RetentionRun.Status.FAILED
    assert run.error_code == "unverified"
    assert run.error == runner.MSG_VERIFY_FAILED.format(count=2, operation="delete")
    assert run.rows_deleted == 48
    assert list(run.batches.values_list("rows_done", flat=True)) == [48, 0]
    document = DeletionCertificate.objects.get(run=run).document
    assert [v["remaining"] for v in document["verification"]] == [2]
    assert document["rows_deleted"] == 48
