"""A snapshot's as_of/known_at reproduce its answer exactly, whatever was being written when it
was taken (issue "Correct under faults", item 2): a source records large batches while a job
filters every 50 ms; every snapshot asked again later gives the same count and hash."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from consent import services
from tests.consent.factories import event, make_purpose

BATCHES = 4
PER_BATCH = 3000


@pytest.mark.django_db(transaction=True)
def test_every_snapshot_taken_during_concurrent_batches_reproduces_its_answer():
    make_purpose("churn-model")
    ids = [f"w{b}-{i}" for b in range(BATCHES) for i in range(PER_BATCH)]
    errors: list[BaseException] = []

    def source() -> None:
        try:
            for b in range(BATCHES):
                services.consent_record_batch(
                    events=[event(f"w{b}-{i}", "given") for i in range(PER_BATCH)], actor=None
                )
        except BaseException as error:  # reported by the test, not lost in the thread
            errors.append(error)
        finally:
            connection.close()

    writer = threading.Thread(target=source)
    writer.start()
    taken = []
    while writer.is_alive():
        answer = services.consent_filter(
            purpose="churn-model", subject_ids=ids, actor=None, namespace="shop"
        )
        taken.append(answer.snapshot)
        time.sleep(0.05)
    writer.join()
    assert not errors
    assert len(taken) >= 5  # the loop really ran while batches were being recorded
    # when each snapshot is asked again with its own as_of and known_at
    replayed = [
        services.consent_filter(
            purpose="churn-model",
            subject_ids=ids,
            actor=None,
            namespace="shop",
            as_of=snapshot.as_of,
            known_at=snapshot.known_at,
        ).snapshot
        for snapshot in taken
    ]
    # then every one gives exactly the same answer
    mismatches = [
        (s.as_of, s.known_at, s.count, again.count)
        for s, again in zip(taken, replayed, strict=True)
        if (s.count, s.sha256) != (again.count, again.sha256)
    ]
    assert mismatches == []
    assert {s.count for s in taken} != {0}  # some snapshots saw recorded batches


def _hold_writer_lock(database: str):
    """Another session in ``database`` registered as a consent writer, its transaction open."""
    import psycopg

    from consent.selectors.history import WRITER_LOCK

    session = psycopg.connect(f"postgres://postgres@127.0.0.1:5432/{database}")
    session.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", WRITER_LOCK)
    return session


@pytest.mark.django_db(transaction=True)
def test_a_writer_stuck_mid_transaction_makes_the_filter_refuse_not_answer_stale(settings):
    """A writer whose host lost the network stays "idle in transaction" holding the writer
    lock: answering below its start would hide every withdrawal recorded since."""
    from governance.errors import Unavailable

    make_purpose("churn-model")
    services.consent_record_batch(events=[event("c-1", "given")], actor=None)
    settings.CONSENT_WATERMARK_MAX_LAG_SECONDS = 1
    stuck = _hold_writer_lock(connection.settings_dict["NAME"])
    try:
        time.sleep(1.3)
        services.consent_record_batch(events=[event("c-1", "withdrawn")], actor=None)
        with pytest.raises(Unavailable):
            services.consent_filter(
                purpose="churn-model", subject_ids=["c-1"], actor=None, namespace="shop"
            )
    finally:
        stuck.close()
    answer = services.consent_filter(
        purpose="churn-model", subject_ids=["c-1"], actor=None, namespace="shop"
    )
    assert answer.subject_ids == []  # the withdrawal counts once the writer is gone


@pytest.mark.django_db(transaction=True)
def test_a_writer_in_another_database_on_the_server_does_not_hold_this_one_back(settings):
    make_purpose("churn-model")
    services.consent_record_batch(events=[event("c-1", "given")], actor=None)
    settings.CONSENT_WATERMARK_MAX_LAG_SECONDS = 1
    elsewhere = _hold_writer_lock("postgres")
    try:
        time.sleep(1.3)
        answer = services.consent_filter(
            purpose="churn-model", subject_ids=["c-1"], actor=None, namespace="shop"
        )
    finally:
        elsewhere.close()
    assert answer.subject_ids == ["c-1"]
