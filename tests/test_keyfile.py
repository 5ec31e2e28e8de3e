from __future__ import annotations

import ast
import json
import logging
import os
import stat
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured
from jwcrypto import jwk

from governance import keyfile
from governance.keyfile import Ed25519KeyFile

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SOURCE = Path(keyfile.__file__)
T = TypeVar("T")


def make() -> Ed25519KeyFile:
    """A fresh manager, as in another process: its own cache."""
    return Ed25519KeyFile(
        setting="TEST_KEY_FILE",
        default_name="test.jwks.json",
        label="test key file",
        command="test_keys rotate",
    )


@pytest.fixture
def path(settings, tmp_path) -> Path:
    path = tmp_path / "keys" / "test.jwks.json"
    settings.TEST_KEY_FILE = path
    return path


@pytest.fixture
def keys() -> Ed25519KeyFile:
    return make()


def stored_kids(path: Path) -> list[str]:
    return [member["kid"] for member in json.loads(path.read_text())["keys"]]


def created_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith("Created the test key file")]


def at_once(count: int, work: Callable[[Ed25519KeyFile], T]) -> list[T]:
    """Run ``work`` in ``count`` threads released together, each with its own manager (as
    separate processes would be); their results, re-raising the first error."""
    barrier = threading.Barrier(count)

    def run() -> T:
        manager = make()
        barrier.wait()
        return work(manager)

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(run) for _ in range(count)]
    return [future.result() for future in futures]


# --- Boundaries -----------------------------------------------------------------------------


def test_the_module_imports_nothing_from_the_governance_apps():
    allowed = {"django", "jwcrypto", "cryptography", "__future__"} | set(sys.stdlib_module_names)
    imported = set()
    for node in ast.walk(ast.parse(SOURCE.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    assert {name.split(".")[0] for name in imported} <= allowed


def test_the_path_comes_from_the_setting_or_defaults_to_var_keys(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    if hasattr(settings, "TEST_KEY_FILE"):
        del settings.TEST_KEY_FILE
    assert make().path == tmp_path / "var" / "keys" / "test.jwks.json"
    settings.TEST_KEY_FILE = str(tmp_path / "elsewhere.json")
    assert make().path == tmp_path / "elsewhere.json"


# --- Creating -------------------------------------------------------------------------------


def test_first_use_creates_a_private_file_with_one_new_key_once(path, keys, caplog):
    # when
    with time_machine.travel(NOW, tick=False):
        first = keys.signing_keys()
    mtime = path.stat().st_mtime_ns
    second = make().signing_keys()
    # then
    assert [key["kid"] for key in first] == [first[0].thumbprint()]
    assert [key["kid"] for key in second] == stored_kids(path) == [first[0]["kid"]]
    assert path.stat().st_mtime_ns == mtime
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert sorted(os.listdir(path.parent)) == [path.name]
    member = json.loads(path.read_text())["keys"][0]
    assert member["kty"] == "OKP"
    assert member["crv"] == "Ed25519"
    assert isinstance(member["d"], str)
    assert (member["use"], member["alg"], member["created"]) == ("sig", "EdDSA", NOW.timestamp())
    assert len(created_records(caplog)) == 1
    assert created_records(caplog)[0].getMessage() == (
        f"Created the test key file {path} with one new key."
    )


def test_an_existing_directory_keeps_its_mode(path, keys):
    path.parent.mkdir(mode=0o755)
    os.chmod(path.parent, 0o755)  # noqa: S103 (a directory the operator chose)
    keys.signing_keys()
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o755
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_two_creators_racing_both_use_the_one_file_that_won(path, caplog):
    # when several processes (each manager has its own cache) start at once
    kids = at_once(8, lambda manager: manager.signing_keys()[0]["kid"])
    # then
    assert kids == stored_kids(path) * 8
    assert len(stored_kids(path)) == 1
    assert sorted(os.listdir(path.parent)) == [path.name]  # no temporary files left
    assert len(created_records(caplog)) == 1


def test_without_hard_links_the_file_is_created_exclusively(path, keys, monkeypatch, caplog):
    # given a filesystem that refuses link()
    def no_links(*args, **kwargs):
        raise PermissionError("hard links not supported")

    monkeypatch.setattr(keyfile.os, "link", no_links)
    # when
    kid = keys.signing_keys()[0]["kid"]
    # then
    assert stored_kids(path) == [kid]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(os.listdir(path.parent)) == [path.name]
    assert len(created_records(caplog)) == 1


def test_without_hard_links_a_creator_that_lost_leaves_the_winners_file(
    path, keys, monkeypatch, caplog
):
    # given another process created the file after this one found it missing
    winner = make()
    winner.signing_keys()
    before = path.read_bytes()
    caplog.clear()

    def no_links(*args, **kwargs):
        raise OSError("hard links not supported")

    monkeypatch.setattr(keyfile.os, "link", no_links)
    # when
    keys._create(path)
    # then
    assert path.read_bytes() == before
    assert sorted(os.listdir(path.parent)) == [path.name]
    assert created_records(caplog) == []


# --- Reading --------------------------------------------------------------------------------


def test_an_unchanged_file_is_served_from_the_cache(path, keys, monkeypatch):
    # given
    keys.signing_keys()
    parsed: list[Path] = []
    original = Ed25519KeyFile.parse
    monkeypatch.setattr(
        Ed25519KeyFile,
        "parse",
        lambda self, raw, path=None: parsed.append(path) or original(self, raw, path),
    )
    # when
    first = keys.signing_keys()
    second = keys.signing_keys()
    # then
    assert parsed == []
    assert [k["kid"] for k in first] == [k["kid"] for k in second]
    first.clear()  # callers get a copy; the cache is untouched
    assert len(keys.signing_keys()) == 1


def test_a_replaced_file_is_re_read_even_with_the_same_mtime_and_size(path, keys):
    # given
    old = keys.signing_keys()[0]["kid"]
    before = path.stat()
    replacement = keys.new_member()
    replacement["kid"] = old[::-1]  # same length, so the same file size
    # when
    keys.replace([replacement])
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    # then
    assert path.stat().st_size == before.st_size
    assert path.stat().st_mtime_ns == before.st_mtime_ns
    assert [key["kid"] for key in keys.signing_keys()] == [old[::-1]]


def test_a_rotation_by_another_process_is_picked_up_without_a_restart(path, keys):
    # given
    old = keys.signing_keys()[0]["kid"]
    other = make()
    # when
    with other.lock():
        new = other.new_member()
        other.replace([new, *other.members()])
    # then
    assert [key["kid"] for key in keys.signing_keys()] == [new["kid"], old]
    assert [key["kid"] for key in keys.public_keys()["keys"]] == [new["kid"], old]


def test_a_file_readable_by_others_is_used_with_a_warning(path, keys, caplog):
    # given
    keys.signing_keys()
    os.chmod(path, 0o644)
    reader = make()
    caplog.clear()
    # when
    with caplog.at_level(logging.WARNING, logger="governance.keyfile"):
        reader.signing_keys()
    # then
    assert [r.getMessage() for r in caplog.records if "by other users" in r.getMessage()] == [
        f"The test key file {path} is readable by other users; chmod 600 it."
    ]


def test_a_private_file_gives_no_warning(path, keys, caplog):
    keys.signing_keys()
    make().signing_keys()
    assert not [r for r in caplog.records if "by other users" in r.getMessage()]


def private_member(**changes) -> dict:
    """A private Ed25519 JWK member with kid "k1", with ``changes`` (None removes a member)."""
    member = jwk.JWK.generate(kty="OKP", crv="Ed25519", kid="k1").export_private(as_dict=True)
    member.update(changes)
    return {key: value for key, value in member.items() if value is not None}


def other_public_x() -> str:
    return jwk.JWK.generate(kty="OKP", crv="Ed25519").export_public(as_dict=True)["x"]


def _keys(*members) -> bytes:
    return json.dumps({"keys": list(members)}).encode()


_GOOD = private_member()
MALFORMED = {
    "not-json": (b"not json {", "is not valid JSON."),
    "not-utf8": (b"\xff\xfe{", "is not valid JSON."),
    "a-list": (b'["a list"]', 'has no "keys" list.'),
    "no-keys": (b'{"key": []}', 'has no "keys" list.'),
    "keys-not-list": (b'{"keys": {"kid": "k1"}}', 'has no "keys" list.'),
    "empty": (b'{"keys": []}', "holds no keys."),
    "not-object": (_keys("k1"), "(key 1) holds a key that is not a JSON object."),
    "p256": (
        _keys(jwk.JWK.generate(kty="EC", crv="P-256", kid="ec").export_private(as_dict=True)),
        "(key 1) holds a key that is not Ed25519 (kty OKP, crv Ed25519).",
    ),
    "hmac": (
        _keys({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}),
        "(key 1) holds a key that is not Ed25519 (kty OKP, crv Ed25519).",
    ),
    "x25519": (
        _keys(private_member(crv="X25519")),
        "(key 1) holds a key that is not Ed25519 (kty OKP, crv Ed25519).",
    ),
    "public-only": (
        _keys(private_member(d=None)),
        "(key 1) holds a public key only; signing needs the private key.",
    ),
    "d-not-string": (
        _keys(private_member(d=7)),
        "(key 1) holds a public key only; signing needs the private key.",
    ),
    "no-kid": (_keys(private_member(kid=None)), '(key 1) holds a key without a "kid".'),
    "empty-kid": (_keys(private_member(kid="")), '(key 1) holds a key without a "kid".'),
    "number-kid": (_keys(private_member(kid=1)), '(key 1) holds a key without a "kid".'),
    "repeated-kid": (_keys(private_member(), private_member()), "(key 2) repeats kid 'k1'."),
    "wrong-alg": (
        _keys(private_member(alg="ES256")),
        '(key 1) holds a key whose "alg"/"use" is not EdDSA/sig.',
    ),
    "wrong-use": (
        _keys(private_member(use="enc")),
        '(key 1) holds a key whose "alg"/"use" is not EdDSA/sig.',
    ),
    "mismatched-x": (
        _keys(private_member(x=other_public_x())),
        '(key 1) holds a key whose public "x" does not match its private "d".',
    ),
    "padded-x": (
        _keys(private_member(x=_GOOD["x"] + "=", d=_GOOD["d"])),
        '(key 1) holds a key whose public "x" does not match its private "d".',
    ),
    "bad-d": (_keys(private_member(d="not base64!")), "(key 1) holds a key that cannot be loaded."),
    "no-x": (_keys(private_member(x=None)), "(key 1) holds a key that cannot be loaded."),
    "x-not-string": (_keys(private_member(x=5)), "(key 1) holds a key that cannot be loaded."),
    "second-key-bad": (
        _keys(private_member(), private_member(kid="k2", alg="HS256")),
        '(key 2) holds a key whose "alg"/"use" is not EdDSA/sig.',
    ),
}


@pytest.mark.parametrize(("content", "problem"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_file_is_refused_naming_the_file_and_no_key_material(
    path, keys, content, problem
):
    # given
    path.parent.mkdir(mode=0o700)
    path.write_bytes(content)
    # when
    with pytest.raises(ImproperlyConfigured) as raised:
        keys.signing_keys()
    # then
    assert str(raised.value) == (
        f"The test key file {path} {problem} It must be a JWK Set of private Ed25519 keys; "
        "`manage.py test_keys rotate` writes a valid one."
    )
    with pytest.raises(ImproperlyConfigured) as again:
        keys.members()
    assert str(again.value) == str(raised.value)
    try:
        document = json.loads(content)
    except ValueError:
        document = {}
    for member in document.get("keys", []) if isinstance(document, dict) else []:
        for secret in (member.get("d"), member.get("k")) if isinstance(member, dict) else ():
            if isinstance(secret, str) and len(secret) > 4:
                assert secret not in str(raised.value)


def test_a_valid_file_without_alg_use_or_created_is_accepted(path, keys):
    member = private_member()
    path.parent.mkdir(mode=0o700)
    path.write_bytes(_keys(member))
    assert keys.members() == [member]
    assert [key["kid"] for key in keys.signing_keys()] == ["k1"]


# --- Writing --------------------------------------------------------------------------------


def test_a_new_member_is_a_private_ed25519_key_named_by_its_thumbprint(keys):
    with time_machine.travel(NOW, tick=False):
        member = keys.new_member()
    key = jwk.JWK(**member)
    assert member["kid"] == key.thumbprint()
    assert (member["kty"], member["crv"], member["use"], member["alg"]) == (
        "OKP",
        "Ed25519",
        "sig",
        "EdDSA",
    )
    assert member["created"] == int(NOW.timestamp())
    assert keys.parse(_keys(member)) == [member]
    assert keys.new_member()["kid"] != member["kid"]


def test_replace_writes_a_private_file_and_fsyncs_its_directory(path, keys, monkeypatch):
    # given
    keys.signing_keys()
    os.chmod(path, 0o644)
    synced: list[Path] = []
    original = keyfile._fsync_directory
    monkeypatch.setattr(keyfile, "_fsync_directory", lambda d: synced.append(d) or original(d))
    members = [keys.new_member(), *keys.members()]
    # when
    keys.replace(members)
    # then
    assert json.loads(path.read_text()) == {"keys": members}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert synced == [path.parent]
    assert sorted(os.listdir(path.parent)) == [path.name]


def test_a_failed_replace_leaves_the_file_and_no_temporary_file(path, keys, monkeypatch):
    # given
    keys.signing_keys()
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(keyfile.os, "replace", broken)
    # when
    with pytest.raises(OSError, match="disk full"):
        keys.replace([keys.new_member()])
    # then
    assert path.read_bytes() == before
    assert sorted(os.listdir(path.parent)) == [path.name]


def test_the_lock_is_a_private_dot_file_next_to_the_key_file(path, keys):
    keys.signing_keys()
    with keys.lock():
        lock = path.parent / f".{path.name}.lock"
        assert lock.exists()
        assert stat.S_IMODE(lock.stat().st_mode) == 0o600


def test_a_rotation_waits_for_the_lock_held_by_another(path, keys):
    # given
    keys.signing_keys()
    entered = threading.Event()
    done = threading.Event()

    def rotate():
        other = make()
        entered.set()
        with other.lock():
            other.replace([other.new_member(), *other.members()])
        done.set()

    # when
    with keys.lock():
        thread = threading.Thread(target=rotate)
        thread.start()
        entered.wait(5)
        blocked = not done.wait(0.3)
        unchanged = len(stored_kids(path)) == 1
    thread.join(5)
    # then
    assert blocked
    assert unchanged
    assert done.is_set()
    assert len(stored_kids(path)) == 2


def test_concurrent_rotations_under_the_lock_lose_no_key(path, keys):
    # given
    first = keys.signing_keys()[0]["kid"]

    def rotate(manager: Ed25519KeyFile) -> str:
        with manager.lock():
            members = manager.members()
            new = manager.new_member()
            manager.replace([new, *members])
        return new["kid"]

    # when
    new_kids = at_once(6, rotate)
    # then
    kids = stored_kids(path)
    assert len(kids) == 7
    assert kids[-1] == first
    assert sorted(kids[:-1]) == sorted(new_kids)
    assert [key["kid"] for key in keys.signing_keys()] == kids
    assert sorted(os.listdir(path.parent)) == sorted([path.name, f".{path.name}.lock"])


# --- Publishing -----------------------------------------------------------------------------


def test_public_keys_hold_only_allow_listed_members_signing_key_first(path, keys):
    # given
    keys.signing_keys()
    with keys.lock():
        keys.replace([keys.new_member(), *keys.members()])
    # when
    public = keys.public_keys()
    # then
    private = keys.members()
    assert [member["kid"] for member in public["keys"]] == [m["kid"] for m in private]
    for member, stored in zip(public["keys"], private, strict=True):
        assert member == {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": stored["x"],
            "kid": stored["kid"],
            "use": "sig",
            "alg": "EdDSA",
        }
