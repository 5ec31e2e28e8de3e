"""The database itself refuses to change the ledger, on PostgreSQL and on SQLite."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import DatabaseError, connection, transaction

from governance.audit import services as audit
from governance.audit.models import ChainLink, LedgerEntry

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def entry(db, alice):
    return audit.record(action="test.event", target=alice, actor=alice, data={"n": 1})


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_ledgerentry SET event = 'tampered' WHERE id = %s",
        "DELETE FROM audit_ledgerentry WHERE id = %s",
        "UPDATE audit_ledgerentry SET additional_data = '{}'::jsonb WHERE id = %s",
    ],
)
def test_raw_sql_update_and_delete_on_the_ledger_fail_on_postgresql(entry, statement):
    # when
    with pytest.raises(DatabaseError, match="append-only table audit_ledgerentry"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [entry.pk])
    # then
    entry_after = LedgerEntry.objects.get(pk=entry.pk)
    assert entry_after.event == "test.event"
    assert entry_after.additional_data == {"n": 1}


@pytest.mark.django_db(transaction=True)
def test_truncate_of_the_ledger_fails_on_postgresql(alice):
    # given a committed entry (TRUNCATE inside the transaction that wrote it fails for
    # another reason: pending foreign-key checks)
    entry = audit.record(action="test.event", target=alice, actor=alice)
    # when / then
    with pytest.raises(DatabaseError, match="TRUNCATE refused"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("TRUNCATE audit_ledgerentry CASCADE")
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()


def test_orm_cannot_resave_an_entry(entry):
    entry.event = "tampered"
    with pytest.raises(RuntimeError, match="append-only"):
        entry.save()


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_chainlink SET chain_hash = 'x'", "DELETE FROM audit_chainlink"],
)
def test_chain_links_are_append_only_too(entry, statement):
    # given a sealed entry
    link = ChainLink.objects.create(
        position=0, entry=entry, entry_hash="a" * 64, chain_hash="b" * 64, sealed_at=entry.timestamp
    )
    # when / then
    with pytest.raises(DatabaseError, match="append-only table audit_chainlink"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert ChainLink.objects.get(pk=link.pk).chain_hash == "b" * 64


@pytest.fixture(scope="module")
def sqlite_database(tmp_path_factory):
    """A fresh SQLite database migrated by manage.py, as `make run` creates it."""
    path = tmp_path_factory.mktemp("sqlite") / "ledger.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{path}",
        "DEBUG": "true",
        "CELERY_BROKER_URL": "filesystem://",
        "CACHE_URL": "locmem://",
        "VAR_DIR": str(path.parent),
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    subprocess.run(
        [sys.executable, "manage.py", "seed_demo"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    db = sqlite3.connect(path)
    with db:  # a sealed entry, so the chain table has a row to refuse changes to
        db.execute(
            "INSERT INTO audit_chainlink (position, entry_id, entry_hash, chain_hash, sealed_at) "
            "SELECT 0, min(id), 'a', 'b', '2026-01-01 00:00:00' FROM audit_ledgerentry"
        )
    db.close()
    return path


@pytest.mark.sqlite
@pytest.mark.parametrize(
    ("statement", "operation"),
    [
        ("UPDATE audit_ledgerentry SET event = 'tampered'", "UPDATE"),
        ("DELETE FROM audit_ledgerentry", "DELETE"),
        ("UPDATE audit_chainlink SET chain_hash = 'x'", "UPDATE"),
        ("DELETE FROM audit_chainlink", "DELETE"),
    ],
)
def test_raw_sql_update_and_delete_on_the_ledger_fail_on_sqlite(
    sqlite_database, statement, operation
):
    db = sqlite3.connect(sqlite_database)
    try:
        snapshot = (
            "SELECT (SELECT count(*) || group_concat(event) FROM audit_ledgerentry),"
            " (SELECT count(*) || group_concat(chain_hash) FROM audit_chainlink)"
        )
        before = db.execute(snapshot).fetchone()
        assert before[1] == "1b"  # the sealed entry is there
        with pytest.raises(sqlite3.IntegrityError, match=f"{operation} refused"):
            db.execute(statement)
        db.rollback()
        after = db.execute(snapshot).fetchone()
        assert after == before
    finally:
        db.close()


@pytest.mark.sqlite
def test_embedded_sqlite_database_runs_in_wal_mode(sqlite_database):
    db = sqlite3.connect(sqlite_database)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        db.close()
