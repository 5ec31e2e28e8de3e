"""A governed PostgreSQL store (its own database, reached through RETENTION_CONNECTIONS like a
real warehouse), a dataset cataloged on it, approved for a consent-based purpose, and subjects
with consent."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from django.utils import timezone

from consent import services as consent
from datasets import services as catalog
from governance.access import services as access
from tests.consent.factories import event, make_purpose
from tests.datasets.factories import ANSWERS, make_dataset

ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"

EVENT_FIELDS = {
    "customer_id": ("user.unique_id.pseudonymous", "quasi_identifier", "", "keep"),
    "email": ("user.contact.email", "direct_identifier", "", "drop"),
}


@pytest.fixture(scope="session")
def store_database(django_db_setup):
    """A database beside the test database (named after it, so parallel suites on one server
    do not meet), standing in for a warehouse the registry governs."""
    from django.db import connection

    name = f"{connection.settings_dict['NAME']}_store"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if exists.fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgres://postgres@127.0.0.1:5432/{name}"


@pytest.fixture
def store(store_database, settings):
    """A fresh ``shop.events`` table; yields a helper to fill and read it."""
    settings.RETENTION_CONNECTIONS = {"warehouse": store_database}
    with psycopg.connect(store_database, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS shop CASCADE")
        conn.execute("CREATE SCHEMA shop")
        conn.execute(
            "CREATE TABLE shop.events (id bigint PRIMARY KEY, customer_id text, "
            "event_time timestamptz, email text, amount numeric)"
        )
    yield Store(store_database)
    with psycopg.connect(store_database, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS shop CASCADE")


class Store:
    """The governed table, filled by formula so a test can compute what must remain."""

    def __init__(self, url: str) -> None:
        self.url = url

    def fill(self, rows: int, *, subjects: int = 1000, days: int = 730) -> None:
        """Row g: customer c-(g mod subjects), event time now - (g mod days) days - 12 h."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO shop.events (id, customer_id, event_time, email, amount) "
                "SELECT g, 'c-' || (g %% %s), now() - (g %% %s) * interval '1 day' "
                "- interval '12 hours', 'c-' || (g %% %s) || '@example.com', g %% 97 "
                "FROM generate_series(1, %s) g",
                (subjects, days, subjects, rows),
            )

    def ids(self) -> set[int]:
        with psycopg.connect(self.url) as conn:
            return {row[0] for row in conn.execute("SELECT id FROM shop.events")}

    def count(self) -> int:
        with psycopg.connect(self.url) as conn:
            return conn.execute("SELECT count(*) FROM shop.events").fetchone()[0]

    def rows(self) -> list[tuple]:
        with psycopg.connect(self.url) as conn:
            return conn.execute(
                "SELECT id, customer_id, event_time, email FROM shop.events ORDER BY id"
            ).fetchall()


@pytest.fixture
def churn(alice):
    """An active consent-based purpose with a 365-day retention period."""
    return make_purpose(
        "churn-model",
        owner=alice,
        data_categories=["user.unique_id", "user.contact"],
        retention_days=365,
    )


@pytest.fixture
def events_dataset(alice, petra, churn, store_database, settings):
    """shop.events on the "warehouse" connection, cataloged (stewarded by alice), approved,
    and approved for churn-model."""
    settings.RETENTION_CONNECTIONS = {
        **(settings.RETENTION_CONNECTIONS or {}),
        "warehouse": store_database,
    }
    dataset = make_dataset(
        alice,
        slug="shop-events",
        fields=EVENT_FIELDS,
        storage_kind="postgres_table",
        location="shop.events",
        connection="warehouse",
        subject_id_field="customer_id",
        event_time_field="event_time",
    )
    catalog.dataset_submit(actor=alice, dataset=dataset, **ANSWERS)
    catalog.dataset_approve(actor=petra, dataset=dataset, note="Checked as described.")
    access.purpose_approval_create(actor=petra, dataset=dataset, purpose_slug="churn-model")
    dataset.refresh_from_db()
    return dataset


def give_consent(subjects: list[str], *, days_ago: int = 300) -> None:
    when = timezone.now() - timedelta(days=days_ago)
    consent.consent_record_batch(
        events=[event(s, "given", occurred_at=when) for s in subjects], actor=None
    )


def withdraw(subjects: list[str], *, days_ago: int = 2) -> None:
    when = timezone.now() - timedelta(days=days_ago)
    consent.consent_record_batch(
        events=[event(s, "withdrawn", occurred_at=when) for s in subjects], actor=None
    )


def set_policy(*, dataset, actor, **fields):
    """The policy through the service, in the test subjects' namespace (the store's connection
    is the dataset's, from the catalog)."""
    from governance.retention import services

    fields.setdefault("subject_namespace", "shop")
    return services.policy_set(dataset=dataset, actor=actor, **fields)
