"""Entry hashes stored at write time (``LedgerEntry.entry_sha256``, ADR 0015 addendum): the
INSERT stores exactly the hash of the entry as it reads back, the sealer links the stored hash,
and verification still recomputes every entry from its content."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection

from governance.audit import chain
from governance.audit import services as audit
from governance.audit.models import ChainLink, LedgerEntry
from tests.audit.test_chain import _tamper


@pytest.fixture(autouse=True)
def _checkpoint_keys(settings, tmp_path):
    settings.AUDIT_CHECKPOINT_KEY_FILE = tmp_path / "keys" / "audit-checkpoint.jwks.json"


def _recomputed(entry_id: int) -> str:
    return chain.entry_hash(chain.canonical_entry(LedgerEntry.objects.get(pk=entry_id)))


AWKWARD_DATA = {
    "é": 'ü\n\u2028\t"\\ \x01',
    "nested": {"b": [1, None, True, False, {"z": 0.1, "a": 1e-05}], "a": ""},
    "big": 10**30,
    "negative": -7,
    "float": 1234.5,
    "small": 5e-324,
    "emoji": "🔐",
    "when": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
}


def test_record_stores_the_hash_of_the_entry_as_it_reads_back(alice):
    # when
    entry = audit.record(
        action="test.event", target=alice, actor=alice, data=AWKWARD_DATA, object_repr="ä"
    )
    # then
    stored = LedgerEntry.objects.values_list("entry_sha256", flat=True).get(pk=entry.pk)
    assert stored is not None
    assert stored == _recomputed(entry.pk)


def test_model_changes_logged_by_auditlog_store_their_hash(alice):
    # given
    before = LedgerEntry.objects.count()
    # when a registered model changes (auditlog writes the diff through LedgerEntry.save)
    alice.first_name = "Alicia ⁂"
    alice.save()
    # then
    entry = LedgerEntry.objects.filter(event="model.updated").latest("id")
    assert LedgerEntry.objects.count() == before + 1
    assert entry.changes
    assert entry.entry_sha256 == _recomputed(entry.pk)


def test_bulk_created_entries_store_their_hash(db):
    # when
    created = LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(
                action=LedgerEntry.Action.EVENT,
                event="test.bulk",
                additional_data={"n": n},
                remote_addr="10.0.0.1",
                cid=f"c{n}",
            )
            for n in range(3)
        ]
    )
    # then
    ids = [entry.pk for entry in created]
    assert ids == sorted(ids)
    for entry_id in ids:
        assert LedgerEntry.objects.get(pk=entry_id).entry_sha256 == _recomputed(entry_id)


@pytest.mark.parametrize(
    "fields",
    [
        {"additional_data": {"f": 1e16}},  # jsonb prints it back as an integer
        {"additional_data": {"z": -0.0}},  # jsonb has no negative zero
        {"remote_addr": "2001:db8::1"},  # PostgreSQL may print an IPv6 address otherwise
        {"timestamp": datetime(2026, 1, 1, tzinfo=timezone(timedelta(seconds=30)))},
    ],
    ids=["float-exponent", "negative-zero", "ipv6", "odd-offset"],
)
def test_values_that_might_read_back_differently_leave_the_hash_to_the_sealer(db, fields):
    # given
    entry = LedgerEntry.objects.create(action=LedgerEntry.Action.EVENT, event="test.odd", **fields)
    assert LedgerEntry.objects.get(pk=entry.pk).entry_sha256 is None
    # when
    chain.seal()
    chain.checkpoint_write()
    # then the sealer hashed the row as it reads back
    assert ChainLink.objects.get(entry_id=entry.pk).entry_hash == _recomputed(entry.pk)
    assert chain.verify_database().ok


def test_entries_without_a_stored_hash_are_sealed_from_their_content(alice):
    # given an entry written before the column existed (or by raw SQL)
    chain.seal()
    audit.record(action="test.first", actor=alice)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_ledgerentry (timestamp, action, event, object_pk, object_repr, "
            "changes_text, actor_label, additional_data) VALUES "
            "(now(), 10, 'test.raw', '', '', '', '', '{\"k\": [1, 2]}'::jsonb) RETURNING id"
        )
        raw_id = cursor.fetchone()[0]
    assert LedgerEntry.objects.get(pk=raw_id).entry_sha256 is None
    # when
    result = chain.seal()
    chain.checkpoint_write()
    # then
    assert result.sealed == 2
    assert ChainLink.objects.get(entry_id=raw_id).entry_hash == _recomputed(raw_id)
    assert chain.verify_database().ok


def _three_unsealed(alice) -> list[int]:
    chain.seal()  # what the fixtures wrote
    return [audit.record(action="test.event", actor=alice, data={"n": n}).pk for n in range(3)]


def test_an_entry_edited_before_sealing_is_reported_by_verification(alice):
    # given an entry whose content changes between its INSERT and the sealer
    ids = _three_unsealed(alice)
    _tamper(
        "UPDATE audit_ledgerentry SET additional_data = '{\"n\": 99}'::jsonb WHERE id = %s",
        [ids[1]],
    )
    base = ChainLink.objects.count()
    # when
    chain.seal()
    result = chain.verify_database()
    # then the sealer linked the hash written with the entry, and the content no longer matches
    assert not result.ok
    assert result.first_bad_position == base + 1
    assert f"entry {ids[1]} does not match its sealed hash" in result.reason


def test_a_forged_stored_hash_is_reported_by_verification(alice):
    # given
    ids = _three_unsealed(alice)
    _tamper("UPDATE audit_ledgerentry SET entry_sha256 = %s WHERE id = %s", ["ab" * 32, ids[2]])
    base = ChainLink.objects.count()
    # when
    chain.seal()
    result = chain.verify_database()
    # then
    assert not result.ok
    assert result.first_bad_position == base + 2
    assert "does not match its sealed hash" in result.reason


def test_a_malformed_stored_hash_is_replaced_by_the_rows_own(alice):
    # given
    ids = _three_unsealed(alice)
    _tamper("UPDATE audit_ledgerentry SET entry_sha256 = %s WHERE id = %s", ["not hex", ids[0]])
    # when
    chain.seal()
    chain.checkpoint_write()
    # then
    assert ChainLink.objects.get(entry_id=ids[0]).entry_hash == _recomputed(ids[0])
    assert chain.verify_database().ok


# --- The canonical bytes did not change ------------------------------------------------------


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 28, 1, 8, tzinfo=UTC),
        datetime(2026, 11, 28, 1, 8, 0, 7, tzinfo=UTC),
        datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))),
        datetime(1, 1, 1, 0, 0, tzinfo=UTC),
        datetime(999, 12, 31, 12, 0, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_timestamps_are_formatted_exactly_as_before(moment):
    assert chain.format_time(moment) == moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_canonical_rows_are_the_documented_json_dumps(alice):
    # given
    entry = audit.record(action="test.event", target=alice, actor=alice, data=AWKWARD_DATA)
    values = chain.entry_values(LedgerEntry.objects.filter(pk=entry.pk)).get()
    document = dict(zip(chain.CANONICAL_FIELDS, values, strict=True))
    document["timestamp"] = values[1].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    document["content_type"] = "accounts.user"
    # when
    canonical = chain.canonical_row(values)
    # then
    assert canonical == json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
    assert hashlib.sha256(canonical).hexdigest() == entry.entry_sha256


def test_verification_reads_the_same_canonical_bytes_as_the_model_fields(alice):
    # given entries of every kind, sealed
    audit.record(action="test.event", target=alice, actor=alice, data=AWKWARD_DATA)
    alice.last_name = "Ünal"
    alice.save()
    LedgerEntry.objects.create(
        action=LedgerEntry.Action.EVENT,
        event="test.old",
        timestamp=datetime(999, 12, 31, 23, 59, 59, 5, tzinfo=UTC),
        remote_addr="2001:db8::1",
        remote_port=443,
    )
    chain.seal()
    # when both readers build the canonical bytes of every sealed entry
    fast = dict(chain._pg_sealed_entries())
    through_fields = dict(chain._db_entries(LedgerEntry.objects.filter(link__isnull=False)))
    # then
    assert fast == through_fields
    assert len(fast) == ChainLink.objects.count()
    assert {link.entry_id: link.entry_hash for link in ChainLink.objects.all()} == {
        entry_id: chain.entry_hash(canonical) for entry_id, canonical in fast.items()
    }
