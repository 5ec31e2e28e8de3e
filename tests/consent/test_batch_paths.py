"""The set-based batch path (PostgreSQL: COPY, SQL upserts) and the ORM path write the same
events and states, answer the same and refuse the same; the batch API's validation without a
serializer per item accepts and refuses exactly what EventInputSerializer does."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import pytest
import time_machine
from django.db import transaction

from consent import services
from consent.apis.events import EventInputSerializer, batch_events, to_event
from consent.models import ConsentEvent, ConsentState, Subject
from consent.services import event_rows
from consent.services import events as recording
from governance.audit.models import LedgerEntry
from governance.errors import Conflict
from tests.consent.factories import at, event, make_purpose, record
from tests.consent.test_concurrency import _in_thread, _waits_for_a_lock

NOW = at(2026, 6, 1, 12, 0)


class _Undo(Exception):
    pass


def _mixed_batch() -> list:
    """New and existing subjects, withdrawals, a late older event, ties at one moment, a
    duplicate inside the batch, a replay of an earlier key, evidence, expiry, two purposes."""
    return [
        event("c-1", "withdrawn", occurred_at=at(2026, 5, 1)),  # existing, later: wins
        event("c-2", "given", occurred_at=at(2026, 1, 1)),  # existing, older: state stays
        event("n-1", "given", occurred_at=at(2026, 5, 2), idempotency_key="k-new"),
        event("n-1", "given", occurred_at=at(2026, 5, 2), idempotency_key="k-new"),  # duplicate
        event("n-1", "withdrawn", occurred_at=at(2026, 5, 2)),  # tie: recorded later wins
        event("n-2", "given", occurred_at=at(2026, 5, 3), notice_version=2),
        event(
            "n-3",
            "given",
            occurred_at=at(2026, 5, 4),
            expires_at=at(2026, 8, 1),
            evidence={"form_id": "f-1", "user_agent": "UA/1", "ip_address": "192.0.2.7"},
        ),
        event("c-1", "given", occurred_at=at(2026, 2, 1), purpose="ads"),  # another purpose
        event("c-3", "given", occurred_at=at(2026, 3, 1), idempotency_key="k-old"),  # replay
        event("n-4", "refused"),  # occurred_at left to the registry's clock
    ]


def _invalid_batch() -> list:
    return [
        event("c-1", "given"),
        event("ana@example.org", "given"),
        event("c-2", "given", purpose="nope"),
        event("c-3", "given", notice_version=9),
        event("c-4", "given", idempotency_key="k-old", occurred_at=at(2026, 1, 2)),  # reused
        event("c-5", "given", occurred_at=at(2027, 1, 1)),
        event("c-6", "given", expires_at=at(2020, 1, 1)),
    ]


def _written() -> dict:
    """Everything the batch wrote, with database ids replaced by what they stand for."""
    events = list(
        ConsentEvent.objects.select_related("subject", "purpose", "notice").order_by("id")
    )
    position = {e.pk: n for n, e in enumerate(events)}
    return {
        "subjects": sorted(Subject.objects.values_list("namespace", "external_id", "created_at")),
        "events": [
            (
                e.subject.namespace,
                e.subject.external_id,
                e.purpose.slug,
                e.purpose.version,
                e.notice.version if e.notice else None,
                e.status,
                e.occurred_at,
                e.expires_at,
                e.valid_until,
                e.collection_method,
                e.evidence,
                e.recorded_by_id,
                e.idempotency_key,
                e.fingerprint,
            )
            for e in events
        ],
        "recorded_at": sorted({e.recorded_at == NOW for e in events}),
        "states": sorted(
            (
                s.subject.external_id,
                s.purpose.slug,
                position[s.event_id],
                s.status,
                s.occurred_at,
                s.valid_until,
                s.updated_at,
            )
            for s in ConsentState.objects.select_related("subject", "purpose")
        ),
        "ledger": sorted(
            (
                entry.event,
                json.dumps(
                    {
                        k: (position[v] if k in ("event", "first_event", "last_event") else v)
                        for k, v in entry.additional_data.items()
                        if k != "subject"
                    },
                    sort_keys=True,
                ),
            )
            for entry in LedgerEntry.objects.filter(event__startswith="consent.")
        ),
    }


def _through(path_is_set_based: bool, monkeypatch, batch: list, actor) -> dict:
    """Record ``batch`` through one path and return what it answered and wrote, then undo."""
    monkeypatch.setattr(recording, "_set_based", lambda: path_is_set_based)
    record_batch = services.consent_record_batch.__wrapped__
    outcome: dict = {}
    try:
        with transaction.atomic():
            try:
                # The service without its durable block (this one is undone afterwards), in
                # a savepoint that a refusal rolls back, as the durable block would.
                with transaction.atomic():
                    results = record_batch(events=batch, actor=actor)
            except services.BatchRejected as error:
                outcome["refused"] = (type(error), error.message, error.extra)
            else:
                ids = [r.event.pk for r in results]
                outcome["answer"] = [(ids.index(r.event.pk), r.replayed) for r in results]
                outcome["statuses"] = [r.event.status for r in results]
            outcome["written"] = _written()
            raise _Undo
    except _Undo:
        pass
    return outcome


@pytest.fixture
def history(db, database_clock_follows_time_machine):
    with time_machine.travel(NOW, tick=False):
        make_purpose("churn-model", notices=2)
        make_purpose("ads")
        record("c-1", "given", occurred_at=at(2026, 3, 1))
        record("c-2", "withdrawn", occurred_at=at(2026, 4, 1))
        record("c-3", "given", occurred_at=at(2026, 3, 1), idempotency_key="k-old")
        yield


@pytest.mark.parametrize("batch", [_mixed_batch, _invalid_batch], ids=["mixed", "invalid"])
def test_the_set_based_path_answers_and_writes_exactly_what_the_orm_path_does(
    history, monkeypatch, batch
):
    # given one batch, recorded once through each path on the same history
    with time_machine.travel(NOW, tick=False):
        # when
        orm = _through(False, monkeypatch, batch(), actor=None)
        sql = _through(True, monkeypatch, batch(), actor=None)
    # then the same answer (or refusal) and the same rows
    assert sql == orm
    if batch is _mixed_batch:
        assert orm["answer"][3] == (2, True)  # the duplicate answered with the first
        assert orm["answer"][8] == (8, True)  # the replay of an earlier request
        assert len(orm["written"]["events"]) == 3 + 8
    else:
        assert [item["index"] for item in orm["refused"][2]["items"]] == [1, 2, 3, 4, 5, 6]


def test_the_batch_service_takes_the_set_based_path_on_postgresql(history, monkeypatch):
    # given a spy on the set-based writes
    calls = []
    insert = event_rows.insert_events
    monkeypatch.setattr(
        event_rows, "insert_events", lambda *a, **k: calls.append(1) or insert(*a, **k)
    )
    # when a batch is recorded
    with time_machine.travel(NOW, tick=False):
        services.consent_record_batch(events=[event("n-9", "given")], actor=None)
    # then it went through them, and the state follows the event
    assert calls == [1]
    state = ConsentState.objects.get(subject__external_id="n-9")
    assert state.event_id == ConsentEvent.objects.get(subject__external_id="n-9").pk


@pytest.mark.django_db(transaction=True)
def test_two_set_based_batches_for_one_subject_wait_for_each_other_and_lose_no_update(
    monkeypatch,
):
    # given a first batch that pauses after locking its subjects
    make_purpose("churn-model")
    record("c-1", "given", occurred_at=at(2026, 1, 1))
    paused, proceed = threading.Event(), threading.Event()
    lock = event_rows.lock_subjects

    def slow_lock(items, now):
        lock(items, now)
        if threading.current_thread().name == "first":
            paused.set()
            assert proceed.wait(10)

    monkeypatch.setattr(event_rows, "lock_subjects", slow_lock)
    results: dict = {}
    first = _in_thread(
        lambda: services.consent_record_batch(
            events=[event("c-1", "withdrawn", occurred_at=at(2026, 3, 1)), event("c-2")],
            actor=None,
        ),
        results,
        "first",
    )
    assert paused.wait(10)
    # when a second batch for the same subject, with an older grant, starts meanwhile
    second = _in_thread(
        lambda: services.consent_record_batch(
            events=[event("c-1", "given", occurred_at=at(2026, 2, 1)), event("c-3")],
            actor=None,
        ),
        results,
        "second",
    )
    waited = _waits_for_a_lock(second)
    proceed.set()
    first.join(20)
    second.join(20)
    # then the second waited for the first's lock, both were recorded, and the later event
    # (the withdrawal) is the state whatever the order of commits
    assert waited
    assert not isinstance(results["first"], Exception), results["first"]
    assert not isinstance(results["second"], Exception), results["second"]
    withdrawal = results["first"][0].event
    state = ConsentState.objects.get(subject__external_id="c-1")
    assert (state.event_id, state.status) == (withdrawal.pk, "withdrawn")
    assert ConsentEvent.objects.filter(subject__external_id="c-1").count() == 3
    assert set(Subject.objects.values_list("external_id", flat=True)) == {"c-1", "c-2", "c-3"}


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_insert_of_the_same_key_is_a_conflict_on_the_set_based_path(
    monkeypatch, alice
):
    # given a batch whose key another request records (and commits) between the checks and
    # the insert
    make_purpose("churn-model")
    insert = event_rows.insert_events

    def racing_insert(items, actor, recorded_at):
        results: dict = {}
        other = _in_thread(
            lambda: record("other", "given", idempotency_key="k-race", actor=alice),
            results,
            "other",
        )
        other.join(20)
        assert not isinstance(results["other"], Exception), results["other"]
        insert(items, actor, recorded_at)

    monkeypatch.setattr(event_rows, "insert_events", racing_insert)
    # when
    with pytest.raises(Conflict) as raised:
        services.consent_record_batch(
            events=[event("n-1", "given", idempotency_key="k-race")], actor=alice
        )
    # then the same 409 as the ORM path's, and only the other request's event exists
    assert raised.value.message == recording.MSG_KEY_RACE
    assert list(ConsentEvent.objects.values_list("subject__external_id", flat=True)) == ["other"]
    assert not Subject.objects.filter(external_id="n-1").exists()


# --- the batch API's validation ---------------------------------------------------------------

_ITEMS = [
    {"subject_id": "c-1", "purpose": "p", "status": "given"},
    {
        "namespace": "shop",
        "subject_id": "c-2",
        "purpose": "p",
        "status": "withdrawn",
        "occurred_at": "2026-06-01T10:00:00Z",
        "expires_at": "2026-07-01T10:00:00+02:00",
        "notice_version": 3,
        "collection_method": "web_form",
        "evidence": {"form_id": "f", "reference": "", "user_agent": "UA/1"},
        "idempotency_key": "k-1",
        "unknown": "ignored",
    },
    {"subject_id": " c-3 ", "purpose": "p ", "status": "given"},  # trimmed by CharField
    {"subject_id": "c-4", "purpose": "p", "status": "given", "occurred_at": "2026-06-01 10:00"},
    {"subject_id": "c-5", "purpose": "p", "status": "given", "occurred_at": None},
    {"subject_id": "c-6", "purpose": "p", "status": "given", "evidence": {"form_id": " f "}},
    {"subject_id": "c-7", "purpose": "p", "status": "given", "notice_version": "2"},
    {"subject_id": "c-8", "purpose": "p", "status": "given", "idempotency_key": None},
    {"subject_id": "ü-9", "purpose": "p", "status": "given"},
]
_BAD_ITEMS = [
    {"purpose": "p", "status": "given"},
    {"subject_id": "", "purpose": "p", "status": "given"},
    {"subject_id": "c", "purpose": "p", "status": "maybe"},
    {"subject_id": "c", "purpose": "p", "status": "given", "occurred_at": "yesterday"},
    {"subject_id": "c", "purpose": "p", "status": "given", "notice_version": 0},
    {"subject_id": "c", "purpose": "p", "status": "given", "notice_version": True},
    {"subject_id": "c", "purpose": "p", "status": "given", "evidence": {"form_id": 3}},
    {"subject_id": "c", "purpose": "p", "status": "given", "evidence": None},
    {"subject_id": "c", "purpose": "p", "status": "given", "namespace": None},
    {"subject_id": "c", "purpose": "p", "status": "given", "idempotency_key": "k" * 129},
    {"subject_id": "c" * 257, "purpose": "p", "status": "given"},
    {"subject_id": ["c"], "purpose": "p", "status": "given"},
    {"subject_id": 12345, "purpose": "p", "status": "given"},
    {"subject_id": "c", "purpose": "p", "status": "given", "collection_method": "pigeon"},
    "not an object",
    7,
]


def _serializer(items):
    data = EventInputSerializer(data=items, many=True)
    assert data.is_valid(), data.errors
    return data


def test_the_batch_validation_returns_what_the_serializer_returns():
    # given items the serializer accepts, some only after converting them
    expected = [to_event(values) for values in _serializer(_ITEMS).validated_data]
    # when / then
    assert batch_events(_ITEMS) == expected


def test_the_batch_validation_refuses_what_the_serializer_refuses_with_its_messages():
    # given good items and bad ones of every kind, mixed
    items = [*_ITEMS, *_BAD_ITEMS]
    data = EventInputSerializer(data=items, many=True)
    assert not data.is_valid()
    # (DRF reports a list, one entry per item, or in newer versions {index: errors})
    errors = data.errors
    pairs = errors.items() if isinstance(errors, dict) else enumerate(errors)
    expected = [{"index": int(n), "errors": e} for n, e in sorted(pairs) if e]
    # when
    with pytest.raises(services.BatchRejected) as raised:
        batch_events(items)
    # then the same items, by index, with the same messages
    assert raised.value.extra["items"] == expected
    assert [item["index"] for item in expected] == list(range(len(_ITEMS), len(items)))
    assert raised.value.message == (
        f"{len(_BAD_ITEMS)} of {len(items)} events have invalid fields, so nothing was "
        "recorded; see details.items."
    )


def test_parsed_datetimes_are_the_serializers_aware_datetimes():
    [parsed] = batch_events(
        [
            {
                "subject_id": "c",
                "purpose": "p",
                "status": "given",
                "occurred_at": "2026-06-01T12:00:00+02:00",
            }
        ]
    )
    assert parsed.occurred_at == datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    assert parsed.occurred_at.utcoffset() is not None


def test_the_set_based_insert_writes_every_column_of_an_event_in_the_models_order():
    # (the rows and the instances are built positionally in this order)
    assert (
        tuple(field.column for field in ConsentEvent._meta.concrete_fields)
        == event_rows._EVENT_COLUMNS
    )
