from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from jwcrypto import jwk, jws
from jwcrypto.common import base64url_decode, base64url_encode
from rest_framework.test import APIRequestFactory

from governance.access import leases
from governance.access.leases import LeaseInvalid, LeaseKeysApi
from governance.audit.models import LedgerEntry
from tests.test_keyfile import other_public_x, private_member

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=30)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "leases.md"
PRINCIPAL = {"id": "service_account:fraud-training", "owner": "bob"}
OBLIGATIONS = {"fields": {"ticket_id": "keep", "email": "pseudonymize", "body": "mask"}}
AUD = "governance-data-gateway"


@pytest.fixture
def key_file(settings, tmp_path) -> Path:
    path = tmp_path / "keys" / "lease-signing.jwks.json"
    settings.ACCESS_LEASE_KEY_FILE = path
    settings.ACCESS_LEASE_ISSUER = "governance-registry"
    return path


def issue(**overrides) -> str:
    arguments = {
        "decision_id": "dec-0001",
        "principal": PRINCIPAL,
        "dataset": "support-tickets",
        "purpose": "fraud-model-training",
        "fields": ["ticket_id", "email", "body"],
        "obligations": OBLIGATIONS,
        "expires_at": LATER,
    }
    return leases.lease_issue(**(arguments | overrides))


def segment(value: dict) -> str:
    return base64url_encode(json.dumps(value).encode())


def decoded(part: str) -> dict:
    return json.loads(base64url_decode(part))


def reason_of(token: str, keyset: dict, **kwargs) -> str:
    with pytest.raises(LeaseInvalid) as raised:
        leases.lease_verify(token, keyset, **kwargs, audience=AUD)
    return raised.value.reason


def lease_keys(*args: str) -> str:
    """Run the management command (through call_command once the app is installed)."""
    from io import StringIO

    out = StringIO()
    if apps.is_installed("governance.access"):
        call_command("lease_keys", *args, stdout=out)
    else:
        from governance.access.management.commands.lease_keys import Command

        Command(stdout=out).run_from_argv(["manage.py", "lease_keys", *args])
    return out.getvalue()


def contains_member(document, name: str) -> bool:
    if isinstance(document, dict):
        return name in document or any(contains_member(v, name) for v in document.values())
    if isinstance(document, list):
        return any(contains_member(v, name) for v in document)
    return False


# --- The key file ---------------------------------------------------------------------------


def test_first_use_creates_a_private_key_file_once_and_then_reuses_it(key_file):
    # when
    first = leases.signing_keys()
    mtime = key_file.stat().st_mtime_ns
    second = leases.signing_keys()
    # then
    assert len(first) == 1
    assert first[0]["kid"] == first[0].thumbprint()
    assert [k["kid"] for k in second] == [first[0]["kid"]]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert key_file.stat().st_mtime_ns == mtime
    stored = json.loads(key_file.read_text())
    assert [member["kid"] for member in stored["keys"]] == [first[0]["kid"]]
    assert stored["keys"][0]["kty"] == "OKP"
    assert stored["keys"][0]["crv"] == "Ed25519"
    assert "d" in stored["keys"][0]
    assert sorted(os.listdir(key_file.parent)) == [key_file.name]


def test_processes_racing_to_create_the_key_file_all_use_the_one_that_won(key_file, caplog):
    # given
    racers = 8
    barrier = threading.Barrier(racers)
    kids: list[str] = []
    errors: list[BaseException] = []

    def first_use():
        barrier.wait()
        try:
            kids.append(leases.signing_keys()[0]["kid"])
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=first_use) for _ in range(racers)]
    # when
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then
    assert errors == []
    stored = json.loads(key_file.read_text())
    assert len(stored["keys"]) == 1
    assert kids == [stored["keys"][0]["kid"]] * racers
    assert sorted(os.listdir(key_file.parent)) == [key_file.name]  # no temporary files left
    created = [r for r in caplog.records if r.getMessage().startswith("Created the lease")]
    assert len(created) == 1


def test_a_rewritten_key_file_is_picked_up_without_a_restart(key_file):
    # given
    old = leases.signing_keys()[0]["kid"]
    replacement = jwk.JWK.generate(kty="OKP", crv="Ed25519", kid="replacement")
    key_file.write_text(json.dumps({"keys": [replacement.export_private(as_dict=True)]}))
    # when
    kids = [key["kid"] for key in leases.signing_keys()]
    # then
    assert kids == ["replacement"]
    assert old != "replacement"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"not json {", "is not valid JSON."),
        (b'["a list"]', 'has no "keys" list.'),
        (b'{"keys": []}', "holds no keys."),
        (
            json.dumps({"keys": [private_member(d=None)]}).encode(),
            "(key 1) holds a public key only; signing needs the private key.",
        ),
        (
            json.dumps(
                {"keys": [jwk.JWK.generate(kty="EC", crv="P-256", kid="ec").export_private(True)]}
            ).encode(),
            "(key 1) holds a key that is not Ed25519 (kty OKP, crv Ed25519).",
        ),
        (
            json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}]}).encode(),
            "(key 1) holds a key that is not Ed25519 (kty OKP, crv Ed25519).",
        ),
        (
            json.dumps({"keys": [private_member(kid=None)]}).encode(),
            '(key 1) holds a key without a "kid".',
        ),
        (
            json.dumps({"keys": [private_member(), private_member()]}).encode(),
            "(key 2) repeats kid 'k1'.",
        ),
        (
            json.dumps({"keys": [private_member(x=other_public_x())]}).encode(),
            '(key 1) holds a key whose public "x" does not match its private "d".',
        ),
        (
            json.dumps({"keys": [private_member(d="not base64!")]}).encode(),
            "(key 1) holds a key that cannot be loaded.",
        ),
    ],
    ids=[
        "not-json",
        "no-keys-list",
        "empty",
        "public-only",
        "p256",
        "hmac",
        "no-kid",
        "repeated-kid",
        "mismatched-x",
        "bad-d",
    ],
)
def test_a_malformed_key_file_is_refused_naming_the_file(key_file, content, problem):
    # given
    key_file.parent.mkdir(mode=0o700)
    key_file.write_bytes(content)
    # when
    with pytest.raises(ImproperlyConfigured) as raised:
        leases.signing_keys()
    # then
    message = str(raised.value)
    assert message.startswith(f"The lease key file {key_file} {problem} ")
    for member in json.loads(content).get("keys", []) if content.startswith(b"{") else []:
        for secret in (member.get("d"), member.get("k")):
            if secret:
                assert secret not in message


# --- Issue and verify -----------------------------------------------------------------------


def test_an_issued_lease_verifies_with_exactly_the_claims_it_was_issued_with(key_file):
    # given
    with time_machine.travel(NOW, tick=False):
        token = issue()
        keyset = leases.jwks()
        # when
        claims = leases.lease_verify(token, keyset, audience=AUD)
    # then
    assert decoded(token.split(".")[0]) == {
        "alg": "Ed25519",
        "typ": "JWT",
        "kid": leases.signing_keys()[0]["kid"],
    }
    assert claims == {
        "iss": "governance-registry",
        "aud": "governance-data-gateway",
        "sub": "service_account:fraud-training",
        "iat": int(NOW.timestamp()),
        "nbf": int(NOW.timestamp()),
        "exp": int(LATER.timestamp()),
        "jti": "dec-0001",
        "lease": {
            "principal": {"id": "service_account:fraud-training", "owner": "bob"},
            "dataset": "support-tickets",
            "purpose": "fraud-model-training",
            "fields": ["ticket_id", "email", "body"],
            "obligations": OBLIGATIONS,
        },
    }


def test_expiry_is_rounded_down_so_a_lease_never_outlives_its_grant(key_file):
    # given
    expires_at = LATER + timedelta(microseconds=999_999)
    with time_machine.travel(NOW, tick=False):
        token = issue(expires_at=expires_at)
    # then
    assert decoded(token.split(".")[1])["exp"] == int(LATER.timestamp())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"expires_at": datetime(2026, 12, 31, 9, 0)}, leases.MSG_EXPIRES_NAIVE),
        ({"expires_at": NOW}, leases.MSG_EXPIRES_PAST),
        ({"expires_at": NOW - timedelta(seconds=1)}, leases.MSG_EXPIRES_PAST),
        ({"issued_at": datetime(2026, 12, 1, 9, 0)}, leases.MSG_ISSUED_NAIVE),
        ({"issued_at": LATER + timedelta(days=1)}, leases.MSG_EXPIRES_BEFORE_ISSUE),
        ({"principal": {"name": "fraud-training"}}, leases.MSG_PRINCIPAL_ID),
        ({"principal": {"id": "fraud-training"}}, leases.MSG_PRINCIPAL_ID),
        ({"decision_id": ""}, leases.MSG_DECISION_ID),
        ({"fields": "email"}, leases.MSG_FIELDS),
    ],
    ids=[
        "naive",
        "now",
        "past",
        "naive-issued",
        "issued-after",
        "no-id",
        "id-without-kind",
        "no-decision",
        "fields-str",
    ],
)
def test_a_lease_that_would_be_ambiguous_or_already_over_is_not_issued(
    key_file, overrides, message
):
    with time_machine.travel(NOW, tick=False):
        with pytest.raises(ValueError) as raised:
            issue(**overrides)
    assert str(raised.value) == message


def test_a_tampered_payload_is_a_bad_signature(key_file):
    # given
    with time_machine.travel(NOW, tick=False):
        header, payload, signature = issue().split(".")
        claims = decoded(payload)
        claims["lease"]["fields"].append("ssn")
        claims["lease"]["obligations"] = {"fields": {}}
        forged = f"{header}.{segment(claims)}.{signature}"
        # when / then
        assert reason_of(forged, leases.jwks()) == "bad_signature"


def test_a_signature_by_another_key_under_a_published_kid_is_a_bad_signature(key_file):
    # given
    with time_machine.travel(NOW, tick=False):
        keyset = leases.jwks()
        genuine = issue()
        key = jwk.JWK.generate(kty="OKP", crv="Ed25519")
        header = {"alg": "EdDSA", "typ": "JWT", "kid": keyset["keys"][0]["kid"]}
        forged = jws.JWS(base64url_decode(genuine.split(".")[1]))
        forged.add_signature(key, alg="EdDSA", protected=json.dumps(header))
        # when / then
        assert reason_of(forged.serialize(compact=True), keyset) == "bad_signature"


def test_a_lease_is_valid_until_the_second_before_exp_and_expired_from_exp(key_file):
    # given
    with time_machine.travel(NOW, tick=False):
        token = issue()
        keyset = leases.jwks()
    # when / then
    with time_machine.travel(LATER - timedelta(seconds=1), tick=False):
        assert leases.lease_verify(token, keyset, audience=AUD)["jti"] == "dec-0001"
    with time_machine.travel(LATER, tick=False):
        assert reason_of(token, keyset) == "expired"
    assert reason_of(token, keyset, now=LATER + timedelta(days=1)) == "expired"


def test_a_lease_issued_for_later_is_not_yet_valid(key_file):
    # given
    with time_machine.travel(NOW, tick=False):
        token = issue(issued_at=NOW + timedelta(hours=1))
        keyset = leases.jwks()
        # when / then
        assert reason_of(token, keyset) == "not_yet_valid"
        assert leases.lease_verify(token, keyset, now=NOW + timedelta(hours=1), audience=AUD)["jti"]


def test_a_lease_from_another_issuer_is_refused(key_file, settings):
    # given
    with time_machine.travel(NOW, tick=False):
        settings.ACCESS_LEASE_ISSUER = "staging-registry"
        token = issue()
        keyset = leases.jwks()
        settings.ACCESS_LEASE_ISSUER = "governance-registry"
        # when / then
        assert reason_of(token, keyset) == "wrong_issuer"
        assert reason_of(token, keyset, issuer="governance-registry") == "wrong_issuer"
        assert leases.lease_verify(token, keyset, issuer="staging-registry", audience=AUD)[
            "iss"
        ] == ("staging-registry")


def test_a_lease_signed_by_a_key_not_in_the_set_is_an_unknown_key(key_file, settings, tmp_path):
    # given
    with time_machine.travel(NOW, tick=False):
        token = issue()
        settings.ACCESS_LEASE_KEY_FILE = tmp_path / "other" / "keys.json"
        other_keyset = leases.jwks()
        # when / then
        assert reason_of(token, other_keyset) == "unknown_key"
        assert reason_of(token, {"keys": []}) == "unknown_key"


def test_a_key_of_the_right_kid_but_the_wrong_type_is_an_unknown_key(key_file):
    # given
    with time_machine.travel(NOW, tick=False):
        token = issue()
        kid = leases.jwks()["keys"][0]["kid"]
        hmac_keyset = {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": kid}]}
        # when / then
        assert reason_of(token, hmac_keyset) == "unknown_key"


@pytest.mark.parametrize("secret_form", ["raw", "x"])
def test_an_hs256_token_keyed_with_the_public_key_is_a_bad_algorithm(key_file, secret_form):
    """Algorithm confusion: a verifier that let the token choose HS256 would check the HMAC
    with the published public key, which anyone can do."""
    # given
    with time_machine.travel(NOW, tick=False):
        keyset = leases.jwks()
        published = keyset["keys"][0]
        raw = base64url_decode(published["x"]) if secret_form == "raw" else published["x"].encode()
        secret = jwk.JWK(kty="oct", k=base64url_encode(raw))
        claims = decoded(issue().split(".")[1])
        claims["lease"]["fields"] = ["everything"]
        forged = jws.JWS(json.dumps(claims).encode())
        forged.add_signature(
            secret,
            alg="HS256",
            protected=json.dumps({"alg": "HS256", "typ": "JWT", "kid": published["kid"]}),
        )
        # when / then
        assert reason_of(forged.serialize(compact=True), keyset) == "bad_algorithm"


@pytest.mark.parametrize(
    "alg", ["none", "None", "NONE", "HS512", "RS256", "ES256", "Ed448", "ed25519", "EDDSA"]
)
def test_a_token_that_names_any_algorithm_but_ed25519_or_eddsa_is_a_bad_algorithm(key_file, alg):
    # given
    with time_machine.travel(NOW, tick=False):
        keyset = leases.jwks()
        _, payload, signature = issue().split(".")
        forged_header = segment({"alg": alg, "typ": "JWT", "kid": keyset["keys"][0]["kid"]})
        # when / then
        assert reason_of(f"{forged_header}.{payload}.", keyset) == "bad_algorithm"
        assert reason_of(f"{forged_header}.{payload}.{signature}", keyset) == "bad_algorithm"


def _signed(claims: dict, alg: str = "Ed25519") -> str:
    key = leases.signing_keys()[0]
    token = jws.JWS(json.dumps(claims).encode())
    token.add_signature(key, alg=alg, protected=json.dumps({"alg": alg, "kid": key["kid"]}))
    return token.serialize(compact=True)


def test_a_lease_names_its_audience_and_verifies_only_for_it(key_file):
    # given
    with time_machine.travel(NOW, tick=False):
        token = issue(audience="lake-gateway")
        keyset = leases.jwks()
        # when / then
        assert decoded(token.split(".")[1])["aud"] == "lake-gateway"
        assert leases.lease_verify(token, keyset, audience="lake-gateway")["aud"] == "lake-gateway"
        assert reason_of(token, keyset) == "wrong_audience"  # AUD, the default gateway


def test_a_lease_without_an_audience_or_with_a_list_of_them_is_a_wrong_audience(key_file):
    # given: leases signed with the registry's own key, claims as an older or foreign issuer
    # would write them
    with time_machine.travel(NOW, tick=False):
        claims = decoded(issue().split(".")[1])
        keyset = leases.jwks()
        without = _signed({k: v for k, v in claims.items() if k != "aud"})
        as_list = _signed({**claims, "aud": [AUD, "other"]})
        # when / then
        assert reason_of(without, keyset) == "wrong_audience"
        assert reason_of(as_list, keyset) == "wrong_audience"


def test_a_verifier_must_name_its_audience(key_file):
    with time_machine.travel(NOW, tick=False):
        token = issue()
        with pytest.raises(ValueError, match="audience"):
            leases.lease_verify(token, leases.jwks(), audience="")


def test_the_audience_follows_the_dataset_connection_then_storage_kind(settings):
    settings.ACCESS_LEASE_AUDIENCE = "default-gateway"
    settings.ACCESS_LEASE_AUDIENCES = {"warehouse": "pg-gateway", "parquet": "lake-gateway"}
    assert leases.lease_audience(storage_kind="postgres_table", connection="warehouse") == (
        "pg-gateway"
    )
    assert leases.lease_audience(storage_kind="parquet", connection="") == "lake-gateway"
    assert leases.lease_audience(storage_kind="csv", connection="") == "default-gateway"


def test_leases_naming_the_deprecated_eddsa_verify_during_the_transition_only(key_file, settings):
    # given: a lease signed as before RFC 9864 (same key, same signature scheme)
    with time_machine.travel(NOW, tick=False):
        claims = decoded(issue().split(".")[1])
        old_style = _signed(claims, alg="EdDSA")
        keyset = leases.jwks()
        # when / then: accepted while ACCESS_LEASE_ACCEPT_EDDSA is on (the default)
        assert leases.lease_verify(old_style, keyset, audience=AUD)["jti"] == "dec-0001"
        settings.ACCESS_LEASE_ACCEPT_EDDSA = False
        assert reason_of(old_style, keyset) == "bad_algorithm"
        # and the fully specified name keeps verifying
        assert leases.lease_verify(issue(), keyset, audience=AUD)["jti"] == "dec-0001"


def test_a_registry_still_signing_with_eddsa_names_it_in_leases_and_keys(key_file, settings):
    settings.ACCESS_LEASE_ALGORITHM = "EdDSA"
    settings.ACCESS_LEASE_ACCEPT_EDDSA = False  # signing with it keeps it accepted
    with time_machine.travel(NOW, tick=False):
        token = issue()
        keyset = leases.jwks()
        assert decoded(token.split(".")[0])["alg"] == "EdDSA"
        assert {member["alg"] for member in keyset["keys"]} == {"EdDSA"}
        assert leases.lease_verify(token, keyset, audience=AUD)["jti"] == "dec-0001"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not-a-token",
        "a.b",
        "a.b.c.d",
        "eyJhbGciOiJFZERTQSJ9.e30.e30\n",
        '{"payload": "e30", "protected": "eyJhbGciOiJFZERTQSJ9", "signature": "AA"}',
        f"{base64url_encode(b'[1]')}.e30.AA",
        f"{base64url_encode(b'{not json')}.e30.AA",
    ],
    ids=["empty", "one-part", "two-parts", "four-parts", "newline", "json-form", "list", "junk"],
)
def test_something_that_is_not_a_compact_lease_is_malformed(key_file, token):
    with time_machine.travel(NOW, tick=False):
        assert reason_of(token, leases.jwks()) == "malformed"


def test_a_header_with_duplicate_members_is_malformed(key_file):
    # given
    with time_machine.travel(NOW, tick=False):
        keyset = leases.jwks()
        _, payload, signature = issue().split(".")
        kid = keyset["keys"][0]["kid"]
        header = base64url_encode(f'{{"alg":"EdDSA","kid":"{kid}","alg":"none"}}'.encode())
        # when / then
        assert reason_of(f"{header}.{payload}.{signature}", keyset) == "malformed"


# --- Rotation -------------------------------------------------------------------------------


def test_after_rotation_old_leases_still_verify_and_new_leases_carry_the_new_kid(key_file, db):
    # given
    with time_machine.travel(NOW, tick=False):
        old_kid = leases.signing_keys()[0]["kid"]
        old_lease = issue(decision_id="dec-old")
        # when
        output = lease_keys("rotate")
        new_lease = issue(decision_id="dec-new")
        keyset = leases.jwks()
        # then
        new_kid = keyset["keys"][0]["kid"]
        assert output.startswith(f"New signing key: {new_kid}\n")
        assert [key["kid"] for key in keyset["keys"]] == [new_kid, old_kid]
        assert decoded(new_lease.split(".")[0])["kid"] == new_kid
        assert leases.lease_verify(old_lease, keyset, audience=AUD)["jti"] == "dec-old"
        assert leases.lease_verify(new_lease, keyset, audience=AUD)["jti"] == "dec-new"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    entry = LedgerEntry.objects.get(event="access.lease_key_rotated")
    assert entry.additional_data == {"kid": new_kid, "previous_kid": old_kid}


def test_retire_refuses_the_signing_key_and_leaves_the_file_unchanged(key_file, db):
    # given
    with time_machine.travel(NOW, tick=False):
        lease_keys("rotate")
        before = key_file.read_bytes()
        signing_kid = leases.signing_keys()[0]["kid"]
        # when
        with pytest.raises(CommandError) as raised:
            lease_keys("retire", "--", signing_kid)
    # then
    assert str(raised.value) == leases.MSG_RETIRE_SIGNING.format(kid=signing_kid)
    assert key_file.read_bytes() == before
    assert not LedgerEntry.objects.filter(event="access.lease_key_retired").exists()


def test_retire_refuses_the_last_key(key_file, db):
    # given
    with time_machine.travel(NOW, tick=False):
        only_kid = leases.signing_keys()[0]["kid"]
        # when / then
        with pytest.raises(CommandError):
            lease_keys("retire", "--", only_kid)
    assert [key["kid"] for key in leases.signing_keys()] == [only_kid]


def test_retire_refuses_an_unknown_kid(key_file, db):
    with time_machine.travel(NOW, tick=False):
        leases.signing_keys()
        with pytest.raises(CommandError) as raised:
            lease_keys("retire", "no-such-kid")
    assert str(raised.value) == leases.MSG_RETIRE_UNKNOWN.format(kid="no-such-kid", path=key_file)


def test_an_old_key_is_retired_only_after_the_longest_lease_it_signed_has_expired(
    key_file, db, settings
):
    # given
    settings.ACCESS_MAX_GRANT_DAYS = {"public": 365, "restricted": 30}
    rotated_at = NOW + timedelta(days=10)
    with time_machine.travel(NOW, tick=False):
        old_kid = leases.signing_keys()[0]["kid"]
    with time_machine.travel(rotated_at, tick=False):
        # the last lease the old key signs, as long as any grant can be
        old_lease = issue(expires_at=rotated_at + timedelta(days=365))
        lease_keys("rotate")
        new_kid = leases.signing_keys()[0]["kid"]
    # when: a day before the last lease the old key signed can have expired
    with time_machine.travel(NOW + timedelta(days=10 + 364), tick=False):
        with pytest.raises(CommandError) as raised:
            lease_keys("retire", "--", old_kid)
        assert leases.lease_verify(old_lease, leases.jwks(), audience=AUD)["jti"] == "dec-0001"
    # then
    assert str(raised.value).startswith(f"Key '{old_kid}' stopped signing at 2026-12-11 09:00 UTC")
    # when: once it has
    with time_machine.travel(NOW + timedelta(days=10 + 365), tick=False):
        output = lease_keys("retire", "--", old_kid)
        keyset = leases.jwks()
    # then
    assert output == f"Retired key: {old_kid}\n"
    assert [key["kid"] for key in keyset["keys"]] == [new_kid]
    assert reason_of(old_lease, keyset, now=NOW) == "unknown_key"
    entry = LedgerEntry.objects.get(event="access.lease_key_retired")
    assert entry.additional_data == {"kid": old_kid, "forced": False}


def test_a_compromised_key_can_be_retired_at_once_with_force(key_file, db):
    # given
    with time_machine.travel(NOW, tick=False):
        compromised = leases.signing_keys()[0]["kid"]
        lease_keys("rotate")
        # when
        # (a kid may start with "-": "--" ends the options, as an operator would type it)
        lease_keys("retire", "--force", "--", compromised)
        # then
        assert compromised not in [key["kid"] for key in leases.jwks()["keys"]]
    entry = LedgerEntry.objects.get(event="access.lease_key_retired")
    assert entry.additional_data == {"kid": compromised, "forced": True}


@pytest.mark.parametrize("action", ["rotate", "retire"])
def test_a_failed_key_file_write_rolls_back_the_audit_event(key_file, db, monkeypatch, action):
    # given
    with time_machine.travel(NOW, tick=False):
        old_kid = leases.signing_keys()[0]["kid"]
        lease_keys("rotate")
    before = key_file.read_bytes()
    events = set(LedgerEntry.objects.values_list("id", flat=True))

    def full_disk(members):
        raise OSError("No space left on device")

    monkeypatch.setattr(leases.KEY_FILE, "replace", full_disk)
    # when
    with pytest.raises(OSError, match="No space left"):
        if action == "rotate":
            leases.lease_key_rotate(actor=None)
        else:
            leases.lease_key_retire(kid=old_kid, actor=None, force=True)
    # then
    assert key_file.read_bytes() == before
    assert not LedgerEntry.objects.exclude(id__in=events).exists()


@pytest.mark.parametrize("args", [("rotate",), ("retire", "k1", "--force")])
def test_rotating_or_retiring_a_malformed_key_file_fails_naming_it(key_file, db, args):
    # given
    key_file.parent.mkdir(mode=0o700)
    key_file.write_bytes(b'{"keys": []}')
    # when
    with pytest.raises(CommandError) as raised:
        lease_keys(*args)
    # then
    assert str(raised.value) == (
        f"The lease key file {key_file} holds no keys. It must be a JWK Set of private Ed25519 "
        "keys; `manage.py lease_keys rotate` writes a valid one."
    )
    assert key_file.read_bytes() == b'{"keys": []}'
    assert not LedgerEntry.objects.filter(event__startswith="access.lease_key").exists()


def test_show_prints_the_public_key_set(key_file):
    # when
    output = lease_keys("show")
    # then
    assert json.loads(output) == leases.jwks()
    assert not contains_member(json.loads(output), "d")


# --- The JWKS endpoint ----------------------------------------------------------------------


def test_the_keys_endpoint_publishes_only_public_members_to_anyone(key_file, db):
    # given
    with time_machine.travel(NOW, tick=False):
        lease_keys("rotate")
    keys = leases.signing_keys()
    request = APIRequestFactory().get("/api/v1/access/keys")
    # when
    response = LeaseKeysApi.as_view()(request)
    response.render()
    # then
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=300"
    body = json.loads(response.content)
    assert body == {
        "keys": [
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "x": key.export_public(as_dict=True)["x"],
                "kid": key["kid"],
                "use": "sig",
                "alg": "Ed25519",
            }
            for key in keys
        ]
    }
    assert not contains_member(body, "d")
    for key in keys:
        assert key.export_private(as_dict=True)["d"] not in response.content.decode()


def test_the_keys_endpoint_ignores_credentials_it_does_not_need(key_file):
    # given: a bearer token that would be refused (401) on an authenticated endpoint
    request = APIRequestFactory().get(
        "/api/v1/access/keys", HTTP_AUTHORIZATION="Bearer expired-or-unknown-token"
    )
    # when
    response = LeaseKeysApi.as_view()(request)
    response.render()
    # then
    assert response.status_code == 200
    assert json.loads(response.content) == leases.jwks()


def test_get_access_keys_serves_the_public_key_set_without_credentials(key_file, client, db):
    # when
    response = client.get("/api/v1/access/keys")
    # then
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=300"
    assert response.json() == leases.jwks()
    assert not contains_member(response.json(), "d")


# --- A gateway verifies without Django -------------------------------------------------------

_DRIVER = """
import sys

request = json.loads(sys.stdin.read())
results = []
for case in request["cases"]:
    try:
        claims = verify_lease(
            case["token"], request["jwks"], case["audience"], issuer=case["issuer"], now=case["now"]
        )
        results.append({"claims": claims})
    except LeaseRejected as rejected:
        results.append({"rejected": rejected.reason})
loaded = sorted(name for name in sys.modules if name.split(".")[0] in {"django", "governance"})
print(json.dumps({"results": results, "loaded": loaded}))
"""


def _gateway_snippet() -> str:
    text = DOCS.read_text()
    found = re.search(r"<!-- gateway-verifier[^>]*-->\n```python\n(.*?)```", text, re.DOTALL)
    assert found, "docs/leases.md lost its gateway-verifier block"
    return found.group(1)


def test_the_documented_gateway_snippet_imports_only_jwcrypto_json_and_time():
    imports = re.findall(r"^(?:import|from) (\S+)", _gateway_snippet(), re.MULTILINE)
    assert sorted(set(imports)) == ["json", "jwcrypto", "jwcrypto.common", "time"]


def test_the_documented_gateway_snippet_verifies_leases_in_a_process_without_django(key_file):
    # given
    with time_machine.travel(NOW, tick=False):
        token = issue()
        keyset = leases.jwks()
        expected = leases.lease_verify(token, keyset, audience=AUD)
        header, payload, signature = token.split(".")
        claims = decoded(payload)
        claims["lease"]["fields"].append("ssn")
        tampered = f"{header}.{segment(claims)}.{signature}"
        published = keyset["keys"][0]
        confused = jws.JWS(base64url_decode(payload))
        confused.add_signature(
            jwk.JWK(kty="oct", k=base64url_encode(base64url_decode(published["x"]))),
            alg="HS256",
            protected=json.dumps({"alg": "HS256", "kid": published["kid"]}),
        )
        unsigned = f"{segment({'alg': 'none', 'kid': published['kid']})}.{payload}."
        retired_kid = f"{segment({'alg': 'Ed25519', 'kid': 'retired'})}.{payload}.{signature}"
        old_style = _signed(decoded(payload), alg="EdDSA")
        expected_old = leases.lease_verify(old_style, keyset, audience=AUD)
    now = NOW.timestamp()
    issuer = "governance-registry"
    cases = [
        {"token": token, "issuer": issuer, "now": now},
        {"token": token, "issuer": issuer, "now": LATER.timestamp() - 1},
        {"token": token, "issuer": issuer, "now": LATER.timestamp()},
        {"token": token, "issuer": issuer, "now": now - 1},
        {"token": token, "issuer": "someone-else", "now": now},
        {"token": tampered, "issuer": issuer, "now": now},
        {"token": confused.serialize(compact=True), "issuer": issuer, "now": now},
        {"token": unsigned, "issuer": issuer, "now": now},
        {"token": retired_kid, "issuer": issuer, "now": now},
        {"token": "a.b", "issuer": issuer, "now": now},
        {"token": token, "issuer": issuer, "now": now, "audience": "another-gateway"},
        {"token": old_style, "issuer": issuer, "now": now},
    ]
    for case in cases:
        case.setdefault("audience", AUD)
    # when: the block from the docs, as written, in an isolated interpreter (no PYTHONPATH,
    # no working directory on sys.path, no Django settings)
    completed = subprocess.run(
        [sys.executable, "-I", "-c", _gateway_snippet() + _DRIVER],
        input=json.dumps({"jwks": keyset, "cases": cases}),
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ.get("PATH", "")},
        check=False,
    )
    # then
    assert completed.returncode == 0, completed.stderr
    answer = json.loads(completed.stdout)
    assert answer["loaded"] == []
    assert answer["results"] == [
        {"claims": expected},
        {"claims": expected},
        {"rejected": "expired"},
        {"rejected": "not_yet_valid"},
        {"rejected": "wrong_issuer"},
        {"rejected": "bad_signature"},
        {"rejected": "bad_algorithm"},
        {"rejected": "bad_algorithm"},
        {"rejected": "unknown_key"},
        {"rejected": "malformed"},
        {"rejected": "wrong_audience"},
        {"claims": expected_old},
    ]
