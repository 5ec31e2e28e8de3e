"""The hash chain, its signed checkpoints, and both verifiers (in-app and standalone)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone
from jwcrypto import jwk

from governance.audit import chain
from governance.audit import services as audit
from governance.audit.models import ChainLink, Checkpoint, LedgerEntry
from governance.audit.tasks import seal_task

ROOT = Path(__file__).resolve().parents[2]
VERIFIER = ROOT / "tools" / "verify_audit_bundle.py"


@pytest.fixture(autouse=True)
def _checkpoint_keys(settings, tmp_path):
    settings.AUDIT_CHECKPOINT_KEY_FILE = tmp_path / "keys" / "audit-checkpoint.jwks.json"


@pytest.fixture
def sealed(db, alice):
    """Six events, sealed and checkpointed."""
    for n in range(6):
        audit.record(action="test.event", target=alice, actor=alice, data={"n": n, "é": "ü"})
    chain.seal()
    chain.checkpoint_write()
    return list(ChainLink.objects.order_by("position"))


def _tamper(sql: str, params: list) -> None:
    """Run ``sql`` with the append-only triggers (and foreign-key checks) switched off, as an
    operator with superuser rights could."""
    with connection.cursor() as cursor:
        # Run the foreign-key checks already queued by this test's own inserts now; the
        # tampering itself queues none, as in a real attack with triggers disabled.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(sql, params)
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")


def _standalone(bundle: Path, keys: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    key_file = tmp_path / "trusted-keys.json"
    key_file.write_text(json.dumps(keys))
    return subprocess.run(
        [sys.executable, "-I", str(VERIFIER), str(bundle), "--public-keys", str(key_file)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _export_and_verify(tmp_path: Path, name: str = "bundle.zip") -> subprocess.CompletedProcess:
    bundle = tmp_path / name
    chain.audit_bundle_write(bundle)
    return _standalone(bundle, chain.checkpoint_public_keys(), tmp_path)


# --- Untouched log ---------------------------------------------------------------------------


def test_sealed_untouched_log_verifies_in_the_app_and_standalone(sealed, tmp_path):
    # when
    result = chain.verify_database()
    done = _export_and_verify(tmp_path)
    directory = _export_and_verify(tmp_path, "bundle-dir")
    # then
    assert result.ok, result.reason
    assert result.size == len(sealed) == LedgerEntry.objects.count()
    assert result.head == sealed[-1].chain_hash
    assert result.unsigned == 0
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"OK: {len(sealed)} entries in the chain")
    assert directory.returncode == 0, directory.stdout
    assert done.stderr == ""


def test_chain_hashes_follow_the_documented_format(sealed):
    first, second = sealed[0], sealed[1]
    canonical = chain.canonical_entry(first.entry)
    document = json.loads(canonical)
    assert canonical == json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    assert first.entry_hash == hashlib.sha256(canonical).hexdigest()
    assert first.chain_hash == chain.chain_hash("0" * 64, first.entry_hash)
    assert second.chain_hash == chain.chain_hash(first.chain_hash, second.entry_hash)
    assert sorted(document) == sorted(chain.CANONICAL_FIELDS)
    assert document["timestamp"].endswith("Z") and len(document["timestamp"]) == 27


def test_sealing_twice_seals_nothing_new_and_keeps_positions_contiguous(sealed, alice):
    # given
    assert chain.seal().sealed == 0
    audit.record(action="test.later", actor=alice)
    # when
    result = chain.seal()
    # then
    assert result.sealed == 1
    assert result.size == len(sealed) + 1
    positions = list(ChainLink.objects.values_list("position", flat=True))
    assert positions == list(range(len(sealed) + 1))


# --- Tampering -------------------------------------------------------------------------------


def _edit(links):
    _tamper(
        "UPDATE audit_ledgerentry SET additional_data = '{\"n\": 99}'::jsonb WHERE id = %s",
        [links[2].entry_id],
    )
    return 2, "does not match its sealed hash"


def _delete_entry(links):
    _tamper("DELETE FROM audit_ledgerentry WHERE id = %s", [links[2].entry_id])
    return 2, f"entry {links[2].entry_id} is missing"


def _delete_entry_and_link(links):
    _tamper("DELETE FROM audit_chainlink WHERE position = 2", [])
    _tamper("DELETE FROM audit_ledgerentry WHERE id = %s", [links[2].entry_id])
    return 2, "position 2 is missing from the chain"


def _swap_entry_contents(links):
    a, b = links[1].entry_id, links[3].entry_id
    _tamper(
        "UPDATE audit_ledgerentry e SET additional_data = o.additional_data "
        "FROM audit_ledgerentry o WHERE (e.id, o.id) IN ((%s, %s), (%s, %s))",
        [a, b, b, a],
    )
    return 1, "does not match its sealed hash"


def _swap_positions(links):
    # Move whole links: entries 1 and 3 trade places, hashes and all.
    a, b = links[1], links[3]
    _tamper("DELETE FROM audit_chainlink WHERE position IN (1, 3)", [])
    for position, link in ((1, b), (3, a)):
        _tamper(
            "INSERT INTO audit_chainlink (position, entry_id, entry_hash, chain_hash, sealed_at) "
            "VALUES (%s, %s, %s, %s, now())",
            [position, link.entry_id, link.entry_hash, link.chain_hash],
        )
    return 1, "the chain hash was changed"


def _tamper_chain_hash(links):
    _tamper("UPDATE audit_chainlink SET chain_hash = %s WHERE position = 4", ["f" * 64])
    return 4, "the chain hash was changed"


def _rewrite_and_rehash(links):
    # An edit that also recomputes every hash after it: only the signed checkpoint catches it.
    _edit(links)
    head = links[1].chain_hash
    for link in links[2:]:
        entry = LedgerEntry.objects.get(pk=link.entry_id)
        hashed = chain.entry_hash(chain.canonical_entry(entry))
        head = chain.chain_hash(head, hashed)
        _tamper(
            "UPDATE audit_chainlink SET entry_hash = %s, chain_hash = %s WHERE position = %s",
            [hashed, head, link.position],
        )
    return 0, "was rewritten together with the hashes after it"


def _drop_the_tail(links):
    _tamper("DELETE FROM audit_chainlink WHERE position >= 4", [])
    return 4, "links after position 3 were removed"


@pytest.mark.parametrize(
    "tamper",
    [
        _edit,
        _delete_entry,
        _delete_entry_and_link,
        _swap_entry_contents,
        _swap_positions,
        _tamper_chain_hash,
        _rewrite_and_rehash,
        _drop_the_tail,
    ],
)
def test_tampering_is_reported_at_its_position_by_both_verifiers(sealed, tmp_path, tamper):
    # given
    position, reason = tamper(sealed)
    # when
    result = chain.verify_database()
    done = _export_and_verify(tmp_path)
    # then
    assert not result.ok
    assert result.first_bad_position == position
    assert reason in result.reason
    assert done.returncode == 1
    assert done.stdout.startswith(f"FAIL at position {position}: "), done.stdout
    assert reason in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_a_tampered_checkpoint_signature_fails(sealed, tmp_path):
    # given
    checkpoint = Checkpoint.objects.get()
    forged = ("A" if checkpoint.signature[0] != "A" else "B") + checkpoint.signature[1:]
    _tamper("UPDATE audit_checkpoint SET signature = %s WHERE id = %s", [forged, checkpoint.pk])
    # when
    result = chain.verify_database()
    done = _export_and_verify(tmp_path)
    # then
    assert not result.ok
    assert "has a bad signature" in result.reason
    assert done.returncode == 1
    assert done.stdout.startswith(f"FAIL: checkpoint at size {len(sealed)} "), done.stdout


def test_a_checkpoint_from_another_key_fails_standalone(sealed, tmp_path):
    # given a bundle verified against keys that are not the operator's
    bundle = tmp_path / "bundle"
    chain.audit_bundle_write(bundle)
    other = {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "other", "x": "A" * 43}]}
    # when
    done = _standalone(bundle, other, tmp_path)
    # then
    assert done.returncode == 1
    assert "signed by a key that is not in the public keys" in done.stdout


def test_a_modified_bundle_fails_standalone(sealed, tmp_path):
    # given a fresh export that passes
    bundle = tmp_path / "bundle"
    chain.audit_bundle_write(bundle)
    assert _standalone(bundle, chain.checkpoint_public_keys(), tmp_path).returncode == 0
    lines = (bundle / "entries.jsonl").read_bytes().split(b"\n")
    # when one entry in the file is edited
    assert b'"n":5' in lines[-2]
    lines[-2] = lines[-2].replace(b'"n":5', b'"n":6')
    (bundle / "entries.jsonl").write_bytes(b"\n".join(lines))
    done = _standalone(bundle, chain.checkpoint_public_keys(), tmp_path)
    # then
    assert done.returncode == 1
    assert done.stdout.startswith(f"FAIL at position {len(sealed) - 1}: ")


def test_a_corrupted_bundle_is_reported_without_a_traceback(sealed, tmp_path):
    bundle = tmp_path / "bundle"
    chain.audit_bundle_write(bundle)
    (bundle / "chain.jsonl").write_bytes(b"{not json\n")
    done = _standalone(bundle, chain.checkpoint_public_keys(), tmp_path)
    assert done.returncode == 1
    assert done.stdout == "FAIL: chain.jsonl line 1 is not valid JSON.\n"
    assert done.stderr == ""
    (tmp_path / "garbage.zip").write_bytes(b"PK not a zip")
    done = _standalone(tmp_path / "garbage.zip", chain.checkpoint_public_keys(), tmp_path)
    assert done.returncode == 1
    assert done.stdout.startswith("FAIL: ")
    assert done.stderr == ""


def test_a_time_range_export_holds_the_whole_chain_and_the_entries_in_range(sealed, tmp_path):
    # given entries at known times
    timestamps = [link.entry.timestamp for link in sealed]
    start, end = timestamps[2], timestamps[4]
    bundle = tmp_path / "range"
    # when
    manifest = chain.audit_bundle_write(bundle, start=start, end=end)
    done = _standalone(bundle, chain.checkpoint_public_keys(), tmp_path)
    # then
    assert manifest["entries_window"] == {"from": 2, "to": 3}
    assert len((bundle / "chain.jsonl").read_bytes().splitlines()) == len(sealed)
    ids = [json.loads(line)["id"] for line in (bundle / "entries.jsonl").read_bytes().split()]
    assert ids == [sealed[2].entry_id, sealed[3].entry_id]
    assert done.returncode == 0, done.stdout
    assert "entries 2 to 3 checked" in done.stdout


# --- Keys, task and commands -----------------------------------------------------------------


def test_rotated_keys_sign_new_checkpoints_and_old_ones_still_verify(sealed, alice, tmp_path):
    # given
    old_kid = Checkpoint.objects.get().kid
    # when
    new_kid = chain.checkpoint_key_rotate()
    audit.record(action="test.after_rotation", actor=alice)
    chain.seal()
    checkpoint = chain.checkpoint_write()
    # then
    assert checkpoint.kid == new_kid != old_kid
    assert [key["kid"] for key in chain.checkpoint_public_keys()["keys"]] == [new_kid, old_kid]
    assert all("d" not in key for key in chain.checkpoint_public_keys()["keys"])
    assert chain.verify_database().ok
    assert _export_and_verify(tmp_path).returncode == 0


def test_seal_task_seals_and_checkpoints_only_when_needed(db, alice):
    # given
    audit.record(action="test.event", actor=alice)
    # when
    first = seal_task()
    second = seal_task()
    with time_machine.travel(timezone.now() + timedelta(days=1, minutes=1)):
        third = seal_task()
    # then
    assert first["sealed"] == LedgerEntry.objects.count()
    assert first["checkpoint"] is not None
    assert second == {**second, "sealed": 0, "checkpoint": None}
    assert third["sealed"] == 0 and third["checkpoint"] is not None
    assert Checkpoint.objects.count() == 2
    assert seal_task.acks_late is True


def test_verify_audit_command_prints_ok_and_counts_unsealed_entries(sealed, alice, capsys):
    # given
    audit.record(action="test.unsealed", actor=alice)
    # when
    call_command("verify_audit")
    # then
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"OK: {len(sealed)} entries, head {sealed[-1].chain_hash}")
    assert "verified" in out[0]
    assert out[1] == "1 entries are not sealed yet (manage.py seal_audit)."


def test_verify_audit_command_fails_with_exit_status_1(sealed, capsys):
    _edit(sealed)
    with pytest.raises(SystemExit) as exit_:
        call_command("verify_audit")
    assert exit_.value.code == 1
    assert capsys.readouterr().out.startswith("FAIL at position 2: entry ")


def test_seal_audit_and_export_commands(db, alice, tmp_path, capsys):
    audit.record(action="test.event", actor=alice)
    call_command("seal_audit")
    call_command("verify_audit", "--export", str(tmp_path / "b.zip"))
    out = capsys.readouterr().out
    assert "Sealed " in out and "checkpoint signed by" in out
    assert f"Wrote {tmp_path / 'b.zip'}: chain of" in out
    assert _standalone(tmp_path / "b.zip", chain.checkpoint_public_keys(), tmp_path).returncode == 0


# --- Concurrency (real transactions on separate connections) ---------------------------------


def _raw_connection() -> psycopg.Connection:
    params = connection.settings_dict
    return psycopg.connect(
        dbname=params["NAME"],
        user=params["USER"] or None,
        password=params["PASSWORD"] or None,
        host=params["HOST"] or None,
        port=params["PORT"] or None,
    )


def _in_thread(target) -> tuple[threading.Thread, list]:
    errors: list = []

    def run():
        try:
            target()
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


@pytest.mark.django_db(transaction=True)
def test_an_entry_committed_late_is_sealed_at_the_next_position_and_nothing_escapes(tmp_path):
    # given a sealed chain (whatever earlier setup left in the ledger)
    base = chain.seal().size
    # and T1 inserts an entry and stays open
    inserted, release = threading.Event(), threading.Event()
    late: list[int] = []

    def t1():
        with transaction.atomic():
            late.append(audit.record(action="test.late").pk)
            inserted.set()
            release.wait(10)

    thread, errors = _in_thread(t1)
    assert inserted.wait(10)
    # and T2 inserts after it (a higher id) and commits
    early = audit.record(action="test.early").pk
    assert early > late[0]
    # when the sealer runs while T1 is open
    first = chain.seal()
    # then it seals T2's entry only
    assert first.sealed == 1
    assert ChainLink.objects.get(entry_id=early).position == base
    # when T1 commits and the sealer runs again
    release.set()
    thread.join(10)
    assert errors == []
    second = chain.seal()
    # then T1's lower-id entry gets the next position, and the chain verifies
    assert second.sealed == 1
    assert ChainLink.objects.get(entry_id=late[0]).position == base + 1
    chain.checkpoint_write()
    assert chain.verify_database().ok
    assert chain.unsealed_count() == 0
    assert _export_and_verify(tmp_path).returncode == 0  # a snapshot export, outside a test atomic


@pytest.mark.django_db(transaction=True)
def test_concurrent_sealers_write_contiguous_positions_without_duplicates():
    # given
    LedgerEntry.objects.bulk_create(
        [LedgerEntry(action=LedgerEntry.Action.EVENT, event="test.bulk") for _ in range(300)]
    )
    barrier = threading.Barrier(2)

    def sealer():
        barrier.wait(5)
        while chain.seal(limit=40).sealed:
            pass

    # when
    threads = [_in_thread(sealer) for _ in range(2)]
    for thread, _ in threads:
        thread.join(30)
    # then
    assert [errors for _, errors in threads] == [[], []]
    total = LedgerEntry.objects.count()
    positions = list(ChainLink.objects.order_by("position").values_list("position", flat=True))
    assert positions == list(range(total))
    assert ChainLink.objects.values("entry_id").distinct().count() == total
    assert chain.verify_database().ok


@pytest.mark.django_db(transaction=True)
def test_appends_do_not_wait_for_the_sealers_lock():
    # given another connection holds the sealers' advisory lock
    with _raw_connection() as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", [chain.SEAL_LOCK_KEY])
        # when an append runs (it would fail after 2 s if it waited on that lock)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = 2000")
            entry = audit.record(action="test.append_while_sealing")
        # then it committed, while a sealer has to wait for the lock
        assert LedgerEntry.objects.filter(pk=entry.pk).exists()
        thread, errors = _in_thread(chain.seal)
        thread.join(0.5)
        assert thread.is_alive()
        holder.rollback()  # releases the lock
        thread.join(10)
    assert errors == []
    assert ChainLink.objects.filter(entry=entry).exists()


def test_audit_keys_command_shows_public_keys_and_rotates(db, capsys):
    call_command("audit_keys", "show")
    shown = json.loads(capsys.readouterr().out)
    call_command("audit_keys", "rotate")
    new_kid = capsys.readouterr().out.strip().rsplit(" ", 1)[-1]
    assert [key["kid"] for key in chain.checkpoint_public_keys()["keys"]] == [
        new_kid,
        shown["keys"][0]["kid"],
    ]
    assert "d" not in shown["keys"][0]


def test_the_checkpoint_key_file_is_created_private_and_rotation_keeps_it_so(settings):
    # given
    path = Path(settings.AUDIT_CHECKPOINT_KEY_FILE)
    old_kid = chain.checkpoint_signing_keys()[0]["kid"]
    # when
    new_kid = chain.checkpoint_key_rotate()
    # then
    stored = json.loads(path.read_text())["keys"]
    assert [member["kid"] for member in stored] == [new_kid, old_kid]
    assert all(isinstance(member["d"], str) for member in stored)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert sorted(os.listdir(path.parent)) == sorted([path.name, f".{path.name}.lock"])


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"not json {", "is not valid JSON."),
        (b'{"keys": []}', "holds no keys."),
        (
            json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}]}).encode(),
            "(key 1) holds a key that is not Ed25519 (kty OKP, crv Ed25519).",
        ),
        (
            json.dumps(
                {
                    "keys": [
                        {
                            **jwk.JWK.generate(kty="OKP", crv="Ed25519", kid="k").export_private(
                                as_dict=True
                            ),
                            "use": "enc",
                        }
                    ]
                }
            ).encode(),
            '(key 1) holds a key whose "alg"/"use" is not EdDSA/sig.',
        ),
    ],
    ids=["not-json", "empty", "hmac", "use-enc"],
)
def test_a_malformed_checkpoint_key_file_is_refused_naming_the_file(settings, content, problem):
    # given
    path = Path(settings.AUDIT_CHECKPOINT_KEY_FILE)
    path.parent.mkdir(mode=0o700)
    path.write_bytes(content)
    expected = (
        f"The checkpoint key file {path} {problem} It must be a JWK Set of private Ed25519 "
        "keys; `manage.py audit_keys rotate` writes a valid one."
    )
    # when / then
    with pytest.raises(ImproperlyConfigured) as raised:
        chain.checkpoint_public_keys()
    assert str(raised.value) == expected
    for action in ("show", "rotate"):
        with pytest.raises(CommandError) as failed:
            call_command("audit_keys", action)
        assert str(failed.value) == expected
    assert path.read_bytes() == content
