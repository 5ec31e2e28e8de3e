"""Recording consent events: the derived state, ordering, replays, expiry, bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from consent import services
from consent.identifiers import subject_id_problem
from consent.models import ConsentEvent, ConsentState, Subject
from consent.services import events as recording
from consent.signals import consent_withdrawn
from consent.vocab import ConsentStatus
from governance.audit.models import LedgerEntry
from governance.errors import ApplicationError, Conflict, NotPermitted
from tests.consent.factories import at, event, make_notice, make_purpose, record

NOW = at(2026, 6, 1, 12, 0)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen_clock(database_clock_follows_time_machine):
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def purpose(db):
    return make_purpose("churn-model")


def _state(subject_id="c-1", purpose_slug="churn-model") -> ConsentState:
    return ConsentState.objects.select_related("event").get(
        subject__namespace="shop", subject__external_id=subject_id, purpose__slug=purpose_slug
    )


def test_given_consent_creates_the_subject_the_event_and_a_valid_state(purpose):
    # when
    recorded = services.consent_record(
        event=event("c-1", "given", occurred_at=at(2026, 5, 1), collection_method="web_form"),
        actor=None,
    )
    # then
    consent = recorded.event
    assert recorded.replayed is False
    assert Subject.objects.get().external_id == "c-1"
    assert consent.status == "given"
    assert consent.notice.version == 1
    assert consent.recorded_at == NOW
    assert consent.valid_until == at(2028, 5, 1)
    state = _state()
    assert state.event_id == consent.pk
    assert state.is_valid() is True


def test_an_older_event_arriving_late_never_resurrects_a_withdrawn_consent(purpose):
    # given consent withdrawn on 1 May
    withdrawal = record("c-1", "withdrawn", occurred_at=at(2026, 5, 1))
    # when a grant from 1 April arrives afterwards
    late = record("c-1", "given", occurred_at=at(2026, 4, 1))
    # then it joins the history, but the state stays withdrawn
    assert ConsentEvent.objects.filter(subject__external_id="c-1").count() == 2
    state = _state()
    assert state.event_id == withdrawal.pk
    assert state.status == "withdrawn"
    assert late.pk > withdrawal.pk


def test_a_later_event_replaces_the_state_whatever_the_recording_order(purpose):
    record("c-1", "given", occurred_at=at(2026, 1, 1))
    withdrawal = record("c-1", "withdrawn", occurred_at=at(2026, 3, 1))
    assert _state().event_id == withdrawal.pk
    regiven = record("c-1", "given", occurred_at=at(2026, 4, 1))
    assert _state().event_id == regiven.pk


def test_withdrawal_then_re_consent_makes_consent_valid_again(purpose):
    # given
    record("c-1", "given", occurred_at=at(2026, 1, 1))
    record("c-1", "withdrawn", occurred_at=at(2026, 2, 1))
    assert _state().is_valid() is False
    # when
    again = record("c-1", "given", occurred_at=at(2026, 3, 1))
    # then
    state = _state()
    assert (state.event_id, state.status, state.is_valid()) == (again.pk, "given", True)
    assert state.valid_until == at(2028, 3, 1)


def test_a_tie_on_occurred_at_goes_to_the_event_recorded_last(purpose):
    record("c-1", "given", occurred_at=at(2026, 1, 1))
    withdrawal = record("c-1", "withdrawn", occurred_at=at(2026, 1, 1))
    assert _state().event_id == withdrawal.pk


def test_consent_past_its_validity_period_reads_as_expired_without_an_event(purpose):
    # given consent given 25 months ago for a purpose with a 24-month validity
    record("c-1", "given", occurred_at=at(2024, 5, 1))
    # then the state holds the grant, and reads as expired now
    state = _state()
    assert state.status == "given"
    assert state.valid_until == at(2026, 5, 1)
    assert state.effective_status() == "expired"
    assert state.is_valid() is False
    assert state.is_valid(at(2026, 4, 30)) is True
    assert ConsentEvent.objects.count() == 1


def test_the_sources_expiry_shortens_validity(purpose):
    given = record("c-1", "given", occurred_at=at(2026, 1, 1), expires_at=at(2026, 3, 1))
    assert given.valid_until == at(2026, 3, 1)
    assert _state().effective_status() == "expired"


def test_renewal_restarts_the_validity_period(purpose):
    record("c-1", "given", occurred_at=at(2024, 5, 1))
    record("c-1", "renewed", occurred_at=at(2026, 4, 1))
    state = _state()
    assert (state.status, state.valid_until, state.is_valid()) == ("renewed", at(2028, 4, 1), True)


def test_validity_months_end_on_the_last_day_of_a_shorter_month(db):
    make_purpose("churn-model", consent_validity_months=1)
    given = record("c-1", "given", occurred_at=at(2026, 1, 31, 10))
    assert given.valid_until == at(2026, 2, 28, 10)


def test_replay_with_the_same_key_and_body_returns_the_original_and_writes_nothing(purpose):
    # given
    original = services.consent_record(
        event=event("c-1", "given", idempotency_key="k-1", evidence={"user_agent": "UA"}),
        actor=None,
    )
    ledger_before = LedgerEntry.objects.count()
    # when the source sends it again (occurred_at left to the registry's clock both times)
    with time_machine.travel(NOW + timedelta(minutes=3), tick=False):
        replay = services.consent_record(
            event=event("c-1", "given", idempotency_key="k-1", evidence={"user_agent": "UA"}),
            actor=None,
        )
    # then
    assert replay.replayed is True
    assert replay.event.pk == original.event.pk
    assert ConsentEvent.objects.count() == 1
    assert LedgerEntry.objects.count() == ledger_before


def test_reusing_a_key_for_a_different_body_is_a_conflict_naming_the_key(purpose):
    record("c-1", "given", idempotency_key="k-1")
    with pytest.raises(Conflict) as raised:
        record("c-1", "withdrawn", idempotency_key="k-1")
    assert raised.value.message == recording.MSG_KEY_REUSED.format(key="k-1")
    assert raised.value.extra["field"] == "idempotency_key"
    assert ConsentEvent.objects.count() == 1
    assert _state().status == "given"


def test_idempotency_keys_are_scoped_to_the_source(purpose, alice, petra):
    first = record("c-1", "given", idempotency_key="k-1", actor=alice)
    second = record("c-1", "given", idempotency_key="k-1", actor=petra)
    assert first.pk != second.pk


def test_a_replay_is_answered_even_after_the_purpose_was_retired(purpose):
    original = record("c-1", "given", idempotency_key="k-1")
    services.purpose_retire(purpose=purpose, actor=None, reason="model retired")
    replay = services.consent_record(event=event("c-1", "given", idempotency_key="k-1"), actor=None)
    assert (replay.event.pk, replay.replayed) == (original.pk, True)


def test_evidence_keeps_user_agent_and_address_only_as_keyed_hashes(purpose):
    given = record(
        "c-1",
        "given",
        evidence={
            "form_id": "signup-v3",
            "user_agent": "Mozilla/5.0 (X11)",
            "ip_address": "203.0.113.7",
        },
    )
    stored = ConsentEvent.objects.get(pk=given.pk).evidence
    assert set(stored) == {"form_id", "user_agent_hmac", "ip_address_hmac"}
    assert stored["form_id"] == "signup-v3"
    assert len(stored["user_agent_hmac"]) == 64
    assert "203.0.113.7" not in str(stored)
    assert "Mozilla" not in str(stored)


def test_withdrawal_takes_one_call_and_is_a_ledger_event_and_a_signal(
    purpose, alice, django_capture_on_commit_callbacks
):
    # given
    record("c-1", "given", occurred_at=at(2026, 1, 1))
    received = []

    def receiver(sender, event_ids, **kwargs):
        received.extend(event_ids)

    consent_withdrawn.connect(receiver)
    try:
        # when
        with django_capture_on_commit_callbacks(execute=True):
            withdrawal = services.consent_withdraw(
                namespace="shop", subject_id="c-1", purpose="churn-model", actor=alice
            ).event
    finally:
        consent_withdrawn.disconnect(receiver)
    # then
    assert withdrawal.status == "withdrawn"
    assert withdrawal.collection_method == "portal"
    assert withdrawal.notice.version == 1  # the notice in effect, named without asking
    assert received == [withdrawal.pk]
    entry = LedgerEntry.objects.get(event="consent.withdrawn")
    assert entry.actor == alice
    assert entry.object_pk == str(withdrawal.pk)
    assert entry.additional_data["status"] == "withdrawn"
    assert "c-1" not in str(entry.additional_data)
    assert _state().is_valid() is False


def test_a_single_given_event_is_a_ledger_event_too(purpose, alice):
    given = record("c-1", "given", actor=alice)
    entry = LedgerEntry.objects.get(event="consent.recorded")
    assert (entry.actor, entry.object_pk) == (alice, str(given.pk))


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"purpose": "nope"}, "purpose", recording.MSG_PURPOSE_UNKNOWN.format(slug="nope")),
        ({"status": "maybe"}, "status", None),
        (
            {"occurred_at": NOW + timedelta(minutes=6)},
            "occurred_at",
            recording.MSG_OCCURRED_IN_FUTURE,
        ),
        (
            {"expires_at": at(2026, 1, 1), "occurred_at": at(2026, 2, 1)},
            "expires_at",
            recording.MSG_EXPIRES_BEFORE,
        ),
        ({"notice_version": None}, "notice_version", recording.MSG_NOTICE_REQUIRED),
        ({"notice_version": 7}, "notice_version", None),
        ({"evidence": {"email": "a@b.c"}}, "evidence", None),
        ({"evidence": {"ip_address": "not-an-ip"}}, "evidence", recording.MSG_EVIDENCE_IP),
        ({"idempotency_key": "has space"}, "idempotency_key", recording.MSG_KEY_FORMAT),
        ({"namespace": "Shop!"}, "namespace", None),
        ({"collection_method": "carrier-pigeon"}, "collection_method", None),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_records_nothing(purpose, fields, field, message):
    # when
    with pytest.raises(ApplicationError) as raised:
        record(**{"subject_id": "c-1", "status": "given", **fields})
    # then
    assert raised.value.status_code == 400
    assert raised.value.extra["field"] == field
    if message:
        assert raised.value.message == message
    assert ConsentEvent.objects.count() == 0
    assert Subject.objects.count() == 0
    assert ConsentState.objects.count() == 0


@pytest.mark.parametrize(
    "subject_id", ["ana@example.org", "+49 151 23456789", "0049 151 2345678", "(555) 123-4567"]
)
def test_direct_identifiers_as_subject_ids_are_refused_with_a_clear_message(purpose, subject_id):
    with pytest.raises(ApplicationError) as raised:
        record(subject_id, "given")
    assert raised.value.extra["field"] == "subject_id"
    assert "looks like" in raised.value.message
    assert "pseudonymous id" in raised.value.message
    assert Subject.objects.count() == 0


def test_inactive_and_not_consent_based_purposes_take_no_events(db):
    make_purpose("draft-purpose", status="draft")
    make_purpose("fraud", legal_basis="legitimate_interests", notices=0)
    with pytest.raises(ApplicationError) as draft:
        record("c-1", "given", purpose="draft-purpose")
    assert draft.value.message == recording.MSG_PURPOSE_INACTIVE.format(
        slug="draft-purpose", version=1, status="draft"
    )
    with pytest.raises(ApplicationError) as basis:
        record("c-1", "withdrawn", purpose="fraud")
    assert basis.value.message == recording.MSG_PURPOSE_NOT_CONSENT.format(
        slug="fraud", basis="Legitimate interests — Art. 6(1)(f)"
    )
    assert ConsentEvent.objects.count() == 0


def test_a_notice_not_yet_in_effect_when_the_subject_acted_is_refused(purpose):
    make_notice(purpose, text="Version two", effective_from=at(2026, 5, 1))
    with pytest.raises(ApplicationError) as raised:
        record("c-1", "given", notice_version=2, occurred_at=at(2026, 4, 1))
    assert raised.value.extra["field"] == "notice_version"
    assert "takes effect at 2026-05-01T00:00:00+00:00" in raised.value.message
    assert record("c-1", "given", notice_version=2, occurred_at=at(2026, 5, 2)).notice.version == 2


def test_people_without_the_permission_cannot_record_and_nothing_changes(purpose, bob, audrey):
    for person in (bob, audrey):
        with pytest.raises(NotPermitted) as raised:
            record("c-1", "given", actor=person)
        assert raised.value.message == recording.MSG_RECORD_FORBIDDEN
    assert ConsentEvent.objects.count() == 0
    assert Subject.objects.count() == 0


def test_stewards_and_privacy_officers_may_record(purpose, alice, petra):
    assert record("c-1", "given", actor=alice).recorded_by == alice
    assert record("c-2", "given", actor=petra).recorded_by == petra


def test_a_batch_is_all_or_nothing_and_reports_every_bad_item_by_index(purpose):
    # given a batch with two bad items among good ones
    batch = [
        event("c-1", "given"),
        event("ana@example.org", "given"),
        event("c-2", "given", purpose="nope"),
        event("c-3", "withdrawn"),
    ]
    # when
    with pytest.raises(recording.BatchRejected) as raised:
        services.consent_record_batch(events=batch, actor=None)
    # then
    assert raised.value.status_code == 400
    assert raised.value.message == recording.MSG_BATCH_REJECTED.format(rejected=2, total=4)
    assert raised.value.extra["items"] == [
        {"index": 1, "errors": {"subject_id": [subject_id_problem("ana@example.org")]}},
        {"index": 2, "errors": {"purpose": [recording.MSG_PURPOSE_UNKNOWN.format(slug="nope")]}},
    ]
    assert ConsentEvent.objects.count() == 0
    assert Subject.objects.count() == 0
    assert LedgerEntry.objects.filter(event__startswith="consent.").count() == 0


def test_a_batch_orders_ties_by_position_and_matches_duplicates_inside_it(purpose):
    # given the same grant twice (same key) and a withdrawal at the same moment
    batch = [
        event("c-1", "given", occurred_at=at(2026, 1, 1), idempotency_key="a"),
        event("c-1", "given", occurred_at=at(2026, 1, 1), idempotency_key="a"),
        event("c-1", "withdrawn", occurred_at=at(2026, 1, 1), idempotency_key="b"),
    ]
    # when
    results = services.consent_record_batch(events=batch, actor=None)
    # then
    assert [r.replayed for r in results] == [False, True, False]
    assert results[0].event.pk == results[1].event.pk
    assert ConsentEvent.objects.count() == 2
    assert _state().event_id == results[2].event.pk
    entry = LedgerEntry.objects.get(event="consent.batch_recorded")
    assert entry.additional_data["recorded"] == 2
    assert entry.additional_data["replayed"] == 1
    assert entry.additional_data["withdrawals"] == 1


def test_a_batch_whose_only_problem_is_reused_keys_is_a_conflict(purpose):
    record("c-1", "given", idempotency_key="a")
    with pytest.raises(recording.BatchConflict) as raised:
        services.consent_record_batch(
            events=[event("c-9", "given", idempotency_key="a"), event("c-2", "given")],
            actor=None,
        )
    assert raised.value.status_code == 409
    assert raised.value.extra["items"] == [
        {"index": 0, "errors": {"idempotency_key": [recording.MSG_KEY_REUSED.format(key="a")]}}
    ]
    assert ConsentEvent.objects.count() == 1


def test_batch_limits(purpose):
    with pytest.raises(ApplicationError) as empty:
        services.consent_record_batch(events=[], actor=None)
    assert empty.value.message == recording.MSG_BATCH_EMPTY
    with pytest.raises(ApplicationError) as large:
        services.consent_record_batch(events=[event("c-1")] * 10_001, actor=None)
    assert large.value.message == "A batch holds at most 10,000 events; this one has 10,001."
    assert ConsentEvent.objects.count() == 0


def test_every_status_is_a_dpv_consent_status(purpose):
    for number, status in enumerate(ConsentStatus.values):
        recorded = record(f"c-{number}", status)
        assert recorded.status_iri.startswith("https://w3id.org/dpv#")
    assert ConsentEvent.objects.count() == len(ConsentStatus.values)
