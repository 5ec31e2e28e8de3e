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
