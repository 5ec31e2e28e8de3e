"""The database refuses to change consent history and notices, whoever asks."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from consent.models import ConsentEvent, NoticeVersion
from tests.consent.factories import make_purpose, record


@pytest.fixture
def history(db):
    make_purpose("churn-model")
    return record("c-1", "given")


@pytest.mark.parametrize(
    ("statement", "table"),
    [
        ("UPDATE consent_consentevent SET status = 'withdrawn'", "consent_consentevent"),
        (
            "UPDATE consent_consentevent SET occurred_at = now() - interval '1 day'",
            "consent_consentevent",
        ),
        ("DELETE FROM consent_consentevent", "consent_consentevent"),
        ("UPDATE consent_noticeversion SET text = 'edited'", "consent_noticeversion"),
        ("DELETE FROM consent_noticeversion", "consent_noticeversion"),
    ],
)
def test_update_and_delete_of_consent_history_fail_in_the_database(history, statement, table):
    # when
    with pytest.raises(DatabaseError, match=f"append-only table {table}"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    # then
    event = ConsentEvent.objects.get()
    assert (event.pk, event.status) == (history.pk, "given")
    assert NoticeVersion.objects.get().text == "Notice 1 for churn-model."


def test_the_orm_cannot_rewrite_an_event_either(history):
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic():
            ConsentEvent.objects.filter(pk=history.pk).update(status="withdrawn")
    assert ConsentEvent.objects.get().status == "given"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("table", ["consent_consentevent", "consent_noticeversion"])
def test_truncate_of_consent_history_fails(table):
    # given committed rows
    make_purpose("churn-model")
    record("c-1", "given")
    # when / then
    with pytest.raises(DatabaseError, match="TRUNCATE refused"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {table} CASCADE")
    assert ConsentEvent.objects.count() == 1
    assert NoticeVersion.objects.count() == 1
