"""The filter: who had valid consent at as_of, read from the history, named by a snapshot."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import time_machine
from django.db import connection

from consent import services
from consent.models import ConsentSnapshot, Purpose, Subject
from consent.selectors.history import answer_digest
from consent.services import queries
from governance.audit.models import LedgerEntry
from governance.errors import ApplicationError, NotPermitted
from tests.consent.factories import at, make_purpose, record

NOW = at(2026, 6, 1, 12, 0)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen_clock(database_clock_follows_time_machine):
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def purpose(db):
    return make_purpose("churn-model")


def _filter(ids, **kwargs):
    kwargs.setdefault("purpose", "churn-model")
    kwargs.setdefault("namespace", "shop")
    return services.consent_filter(subject_ids=ids, actor=None, **kwargs)


def test_filter_answers_with_the_subjects_whose_consent_is_valid_now(purpose):
    # given
    record("c-1", "given", occurred_at=at(2026, 1, 1))
    record("c-2", "given", occurred_at=at(2026, 1, 1))
    record("c-2", "withdrawn", occurred_at=at(2026, 2, 1))
    record("c-3", "refused", occurred_at=at(2026, 1, 1))
    record("c-4", "given", occurred_at=at(2024, 1, 1))  # past its 24 months
    record("c-5", "renewed", occurred_at=at(2026, 3, 1))
    # when
    answer = _filter(["c-5", "c-1", "c-2", "c-3", "c-4", "c-404", "c-1"])
    # then
    assert answer.subject_ids == ["c-1", "c-5"]
    snapshot = answer.snapshot
    assert snapshot.kind == "filter"
    assert (snapshot.as_of, snapshot.known_at) == (NOW, NOW)
    assert snapshot.count == 2
    assert snapshot.requested_count == 6
    assert snapshot.sha256 == hashlib.sha256(b"shop:c-1\nshop:c-5\n").hexdigest()
    assert snapshot.requested_sha256 == answer_digest(
        ("shop", x) for x in ["c-1", "c-2", "c-3", "c-4", "c-404", "c-5"]
    )
    entry = LedgerEntry.objects.get(event="consent.filtered")
    assert entry.object_pk == str(snapshot.pk)
    assert entry.additional_data["count"] == 2
    assert entry.additional_data["sha256"] == snapshot.sha256


def test_as_of_in_the_past_answers_as_it_would_have_then(purpose):
    # given a history over several months
    record("c-1", "given", occurred_at=at(2026, 1, 10))
    record("c-1", "withdrawn", occurred_at=at(2026, 3, 10))
    record("c-1", "given", occurred_at=at(2026, 5, 10))
    record("c-2", "given", occurred_at=at(2026, 2, 10))
    record("c-3", "given", occurred_at=at(2024, 2, 1))  # expires 2026-02-01
    ids = ["c-1", "c-2", "c-3"]
    # then each moment gets its own answer
    assert _filter(ids, as_of=at(2026, 1, 1)).subject_ids == ["c-3"]
    assert _filter(ids, as_of=at(2026, 1, 31)).subject_ids == ["c-1", "c-3"]
    assert _filter(ids, as_of=at(2026, 2, 15)).subject_ids == ["c-1", "c-2"]
    assert _filter(ids, as_of=at(2026, 4, 1)).subject_ids == ["c-2"]
    assert _filter(ids).subject_ids == ["c-1", "c-2"]


def test_known_at_reproduces_a_snapshot_after_a_late_withdrawal_arrives(purpose):
    # given a job's answer at 1 March
    with time_machine.travel(at(2026, 1, 1), tick=False):
        record("c-1", "given")
    with time_machine.travel(at(2026, 3, 1), tick=False):
        first = _filter(["c-1"])
    assert first.subject_ids == ["c-1"]
    # when a withdrawal dated 15 February is recorded on 10 March
    with time_machine.travel(at(2026, 3, 10), tick=False):
        record("c-1", "withdrawn", occurred_at=at(2026, 2, 15))
    # then the truth about 1 March has changed...
    assert _filter(["c-1"], as_of=at(2026, 3, 1)).subject_ids == []
    # ...but the snapshot's own question still gives the snapshot's answer
    again = _filter(["c-1"], as_of=first.snapshot.as_of, known_at=first.snapshot.known_at)
    assert again.subject_ids == ["c-1"]
    assert again.snapshot.sha256 == first.snapshot.sha256


def test_a_retired_purpose_is_still_answered_for_the_time_it_was_in_force(purpose):
    record("c-1", "given", occurred_at=at(2026, 1, 1))
    with time_machine.travel(at(2026, 4, 1), tick=False):
        services.purpose_retire(purpose=purpose, actor=None, reason="model retired")
    assert _filter(["c-1"], as_of=at(2026, 3, 1)).subject_ids == ["c-1"]
    with pytest.raises(ApplicationError) as raised:
        _filter(["c-1"])
    assert raised.value.message == (
        "Purpose 'churn-model' was not active at 2026-06-01T12:00:00+00:00; no version of it "
        "was in force."
    )


def test_consent_to_one_version_does_not_count_for_the_next(purpose):
    # given consent to v1, then v2 activated on 1 April
    record("c-1", "given", occurred_at=at(2026, 1, 1))
    draft = services.purpose_new_version(purpose=purpose, actor=None)
    services.notice_version_publish(
        purpose=draft, actor=None, text="v2 notice", effective_from=at(2026, 3, 1)
    )
    services.purpose_submit(purpose=draft, actor=None)
    with time_machine.travel(at(2026, 4, 1), tick=False):
        services.purpose_activate(purpose=draft, actor=None)
    # then before v2 the subject counts, after it not until they consent again
    assert _filter(["c-1"], as_of=at(2026, 3, 15)).subject_ids == ["c-1"]
    assert _filter(["c-1"]).subject_ids == []
    record("c-1", "given", occurred_at=at(2026, 5, 1))
    answer = _filter(["c-1"])
    assert (answer.subject_ids, answer.purpose.version) == (["c-1"], 2)
    assert Purpose.objects.get(slug="churn-model", version=1).status == "retired"


def test_filter_with_ten_thousand_ids(purpose):
    # given 10,000 subjects, every third without valid consent
    events = ConsentBulk(purpose)
    events.add(10_000, lambda i: "withdrawn" if i % 3 == 0 else "given")
    ids = [f"s-{i:05d}" for i in range(10_000)]
    # when
    answer = _filter(ids)
    # then
    expected = [f"s-{i:05d}" for i in range(10_000) if i % 3 != 0]
    assert answer.subject_ids == expected
    assert answer.snapshot.count == len(expected) == 6666
    assert answer.snapshot.sha256 == answer_digest(("shop", x) for x in expected)


def test_filter_with_a_hundred_thousand_ids_through_the_api(purpose, client, settings):
    """The ids are bound as one text[] against the subject index and each subject's latest
    event is found through the history index; the answer is exact (its time is measured by
    `make bench`, against the floor of the same lookup by primary key)."""
    from tests.accounts.factories import UserFactory
    from tests.consent.factories import grant

    # given 80,000 subjects, every third withdrawn, and 20,000 ids nobody recorded
    ConsentBulk(purpose).add(80_000, lambda i: "withdrawn" if i % 3 == 0 else "given")
    job = UserFactory(username="bulk-job", roles=["engineer"])
    grant(job, "query_consent")
    client.force_login(job)
    ids = [f"s-{i:05d}" for i in range(100_000)]
    # when
    response = client.post(
        "/api/v1/consent/filter",
        {"purpose": "churn-model", "namespace": "shop", "subject_ids": ids},
        content_type="application/json",
    )
    # then
    assert response.status_code == 200, response.content[:300]
    expected = [f"s-{i:05d}" for i in range(80_000) if i % 3 != 0]
    body = response.json()
    assert body["subject_ids"] == expected
    assert body["snapshot"]["count"] == len(expected)


def test_more_ids_than_the_setting_allows_is_a_413_naming_the_limit(purpose, client, settings):
    from tests.accounts.factories import UserFactory
    from tests.consent.factories import grant

    settings.CONSENT_FILTER_MAX_IDS = 5
    job = UserFactory(username="bulk-job", roles=["engineer"])
    grant(job, "query_consent")
    client.force_login(job)
    response = client.post(
        "/api/v1/consent/filter",
        {
            "purpose": "churn-model",
            "namespace": "shop",
            "subject_ids": [f"c-{i}" for i in range(6)],
        },
        content_type="application/json",
    )
    assert response.status_code == 413
    error = response.json()["error"]
    assert (error["code"], error["details"]["limit"]) == ("payload_too_large", 5)
    assert error["message"] == queries.MSG_FILTER_TOO_MANY.format(limit=5)
    assert ConsentSnapshot.objects.count() == 0


class ConsentBulk:
    """Many subjects with one event each, inserted in SQL (the services are tested elsewhere)."""

    def __init__(self, purpose: Purpose):
        self.purpose = purpose

    def add(self, count: int, status_of) -> None:
        statuses = [status_of(i) for i in range(count)]
        notice = self.purpose.notices.get(version=1)
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO consent_subject (namespace, external_id, created_at) "
                "SELECT 'shop', 's-' || lpad(g::text, 5, '0'), now() FROM generate_series(0, %s) g",
                [count - 1],
            )
            cursor.execute(
                """
                INSERT INTO consent_consentevent (subject_id, purpose_id, notice_id, status,
                    occurred_at, recorded_at, valid_until, collection_method, evidence,
                    fingerprint)
                SELECT s.id, %s, %s, st.status, %s, %s,
                    CASE WHEN st.status = 'given' THEN %s::timestamptz END,
                    'import', '{}', md5(s.external_id)
                FROM consent_subject s
                JOIN unnest(%s::text[]) WITH ORDINALITY AS st(status, n)
                    ON s.external_id = 's-' || lpad((st.n - 1)::text, 5, '0')
                """,
                [
                    self.purpose.pk,
                    notice.pk,
                    at(2026, 1, 1),
                    at(2026, 1, 1),
                    at(2028, 1, 1),
                    statuses,
                ],
            )


def test_ids_that_look_like_direct_identifiers_are_refused_by_position(purpose):
    with pytest.raises(ApplicationError) as raised:
        _filter(["c-1", "ana@example.org", "c-2", "+44 20 7946 0958"])
    assert raised.value.message == queries.MSG_FILTER_IDS.format(count=2)
    assert [item["index"] for item in raised.value.extra["items"]] == [1, 3]
    assert ConsentSnapshot.objects.count() == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"as_of": NOW + timedelta(hours=1)}, queries.MSG_AS_OF_FUTURE),
        ({"known_at": NOW + timedelta(hours=1)}, queries.MSG_KNOWN_AT_FUTURE),
        ({"as_of": at(2026, 5, 1), "known_at": at(2026, 4, 1)}, queries.MSG_KNOWN_AT_BEFORE),
        ({"purpose": "nope"}, "There is no purpose 'nope'."),
        ({"namespace": "Not Valid"}, None),
    ],
)
def test_bad_questions_are_refused_and_leave_no_snapshot(purpose, kwargs, message):
    with pytest.raises(ApplicationError) as raised:
        _filter(["c-1"], **kwargs)
    if message:
        assert raised.value.message == message
    assert ConsentSnapshot.objects.count() == 0


def test_non_consent_purposes_have_nothing_to_filter(db):
    make_purpose("fraud", legal_basis="legitimate_interests", notices=0)
    with pytest.raises(ApplicationError) as raised:
        _filter(["c-1"], purpose="fraud")
    assert raised.value.message.startswith("Purpose 'fraud' is processed under Legitimate")


def test_only_holders_of_query_consent_may_filter(purpose, alice, audrey, bob, petra):
    for person in (alice, audrey):
        with pytest.raises(NotPermitted):
            services.consent_filter(purpose="churn-model", subject_ids=["c-1"], actor=person)
    assert ConsentSnapshot.objects.count() == 0
    for person in (bob, petra):
        services.consent_filter(
            purpose="churn-model", namespace="shop", subject_ids=["c-1"], actor=person
        )
    assert ConsentSnapshot.objects.count() == 2


def test_unknown_subjects_are_not_created_by_a_filter(purpose):
    _filter(["c-404"])
    assert Subject.objects.count() == 0


def _api_filter(client, ids):
    from tests.accounts.factories import UserFactory
    from tests.consent.factories import grant

    job = UserFactory(username="input-job", roles=["engineer"])
    grant(job, "query_consent")
    client.force_login(job)
    return client.post(
        "/api/v1/consent/filter",
        {"purpose": "churn-model", "namespace": "shop", "subject_ids": ids},
        content_type="application/json",
    )


def test_plain_ids_and_ids_needing_conversion_get_the_same_answer(purpose, client):
    """Plain string ids skip the per-item field (issue 14); anything else is still converted
    and checked item by item as before: surrounding whitespace is trimmed."""
    # given
    record("c-1", "given", occurred_at=at(2026, 1, 1))
    record("42", "given", occurred_at=at(2026, 1, 1))
    # when
    plain = _api_filter(client, ["c-1", "42"])
    converted = _api_filter(client, [" c-1 ", "42\t"])
    # then
    assert (plain.status_code, converted.status_code) == (200, 200), converted.content
    assert plain.json()["subject_ids"] == converted.json()["subject_ids"] == ["42", "c-1"]


@pytest.mark.parametrize(
    ("ids", "index", "message"),
    [
        (["c-1", ""], "1", "This field may not be blank."),
        (["c-1", "x" * 257], "1", "Ensure this field has no more than 256 characters."),
        ([None, "c-1"], "0", "This field may not be null."),
        ([{"id": 1}], "0", "Not a valid string."),
        (["c-1", 42], "1", "Not a valid string."),
    ],
)
def test_ids_that_are_not_plain_strings_are_refused_by_position(
    purpose, client, ids, index, message
):
    # when
    response = _api_filter(client, ids)
    # then
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["details"]["subject_ids"][index] == [message]
    assert ConsentSnapshot.objects.count() == 0
