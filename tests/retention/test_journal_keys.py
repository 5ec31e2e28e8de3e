"""The PostgreSQL connector journals a batch's keys in PostgreSQL's own text forms (integer keys
as a multirange, other keys as an array of the key's type) and gives the same text back to
PostgreSQL: the batch changes exactly the keys it planned, a resumed run can tell whether it
was applied, and a batch journaled in the older form (a JSON list of keys) still settles."""

from __future__ import annotations

import json
from datetime import timedelta

import psycopg
import pytest
from django.utils import timezone

from datasets.connectors import DELETE, Batch, Criteria, Layout
from datasets.connectors.postgres import PostgresTableConnector

pytestmark = pytest.mark.django_db

# Keys PostgreSQL must quote in an array's text form, or that look like something else there.
AWKWARD_KEYS = [
    "plain",
    "with space",
    'a "quoted" key',
    "comma,inside",
    "{braces}",
    "back\\slash",
    "NULL",
    "",
    "ünïcødé",
]


def _connector(table: str = "shop.events") -> PostgresTableConnector:
    return PostgresTableConnector(
        location=table,
        layout=Layout(subject_field="customer_id", event_time_field="event_time"),
        options={"connection": "warehouse"},
    )


def _older_than(days: int) -> Criteria:
    return Criteria(older_than=timezone.now() - timedelta(days=days))


@pytest.fixture
def notes(store):
    """shop.notes: a text primary key holding every awkward key, all of them expired, and one
    recent row with an ordinary key."""
    with psycopg.connect(store.url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE shop.notes (key text PRIMARY KEY, customer_id text, "
            "event_time timestamptz)"
        )
        for key in AWKWARD_KEYS:
            conn.execute(
                "INSERT INTO shop.notes VALUES (%s, 'c-1', now() - interval '400 days')", (key,)
            )
        conn.execute("INSERT INTO shop.notes VALUES ('recent', 'c-1', now())")
    return store


def _note_keys(store) -> set[str]:
    with psycopg.connect(store.url) as conn:
        return {row[0] for row in conn.execute("SELECT key FROM shop.notes")}


def test_integer_keys_are_journaled_as_the_ranges_of_exactly_the_planned_keys(store):
    # given rows 1..3000 whose event time is (id mod 730) days ago: runs of consecutive ids
    store.fill(3000, subjects=30)
    connector = _connector()
    criteria = _older_than(365)
    with psycopg.connect(store.url) as conn:
        expected = [
            row[0]
            for row in conn.execute(
                "SELECT id FROM shop.events WHERE event_time < %s ORDER BY id LIMIT 1000",
                (criteria.older_than,),
            )
        ]
    # when the first batch is planned
    batch = next(connector.plan(criteria, DELETE, batch_size=1000))
    # then the journal holds a few ranges (not 1,000 numbers), and they list exactly those keys
    assert batch.rows == 1000
    assert set(batch.payload) == {"operation", "key_ranges", "first_key", "last_key"}
    assert batch.payload["key_ranges"].count("[") == 3
    assert len(json.dumps(batch.payload)) < 200
    assert connector.batch_keys(batch) == expected
    assert (batch.payload["first_key"], batch.payload["last_key"]) == (
        str(expected[0]),
        str(expected[-1]),
    )
    # and applying it deletes exactly those rows
    before = store.ids()
    assert connector.apply(batch, criteria) == 1000
    assert store.ids() == before - set(expected)
    connector.close()


def test_text_keys_that_need_quoting_are_deleted_exactly_through_the_journal(notes):
    connector = _connector("shop.notes")
    criteria = _older_than(365)
    # when a batch is planned, stored as the journal stores it, and applied from there
    (planned,) = list(connector.plan(criteria, DELETE, batch_size=100))
    journaled = Batch(payload=json.loads(json.dumps(planned.payload)), rows=planned.rows)
    assert "key_array" in journaled.payload
    assert sorted(connector.batch_keys(journaled)) == sorted(AWKWARD_KEYS)
    assert connector.applied(journaled, criteria) is None  # not applied yet
    changed = connector.apply(journaled, criteria)
    # then every awkward key is gone, the recent row stays, and a resume counts the batch once
    assert changed == len(AWKWARD_KEYS)
    assert _note_keys(notes) == {"recent"}
    assert connector.applied(journaled, criteria) == len(AWKWARD_KEYS)
    connector.close()


def test_a_batch_changes_no_row_outside_its_keys_even_inside_its_key_range(store):
    # given a batch planned over ids 1..10, and then an expired row inserted in that range
    store.fill(10, subjects=2, days=1)  # every row is 12 hours old
    with psycopg.connect(store.url, autocommit=True) as conn:
        conn.execute("UPDATE shop.events SET event_time = now() - interval '400 days'")
        conn.execute("DELETE FROM shop.events WHERE id = 5")
    connector = _connector()
    criteria = _older_than(365)
    batch = next(connector.plan(criteria, DELETE, batch_size=100))
    assert connector.batch_keys(batch) == [1, 2, 3, 4, 6, 7, 8, 9, 10]
    with psycopg.connect(store.url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO shop.events (id, customer_id, event_time) "
            "VALUES (5, 'c-1', now() - interval '400 days')"
        )
    # when the batch is applied
    changed = connector.apply(batch, criteria)
    # then only the planned rows went; the new row is left for the next batch
    assert changed == 9
    assert store.ids() == {5}
    connector.close()


def test_a_batch_journaled_as_a_list_of_keys_still_settles_and_applies(store):
    # given a batch journaled before the compact forms: the keys as a JSON list
    store.fill(20, subjects=2, days=1)
    with psycopg.connect(store.url, autocommit=True) as conn:
        conn.execute("UPDATE shop.events SET event_time = now() - interval '400 days'")
    connector = _connector()
    criteria = _older_than(365)
    legacy = Batch(payload={"operation": DELETE, "keys": [1, 2, 3, 4]}, rows=4)
    # when a resumed run settles it, and applies it
    assert connector.applied(legacy, criteria) is None
    assert connector.batch_keys(legacy) == [1, 2, 3, 4]
    assert connector.apply(legacy, criteria) == 4
    # then exactly those rows went, and it reads as applied, counted once
    assert store.ids() == set(range(5, 21))
    assert connector.applied(legacy, criteria) == 4
    connector.close()
