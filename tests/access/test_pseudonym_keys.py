"""Per-purpose pseudonymization (issue 16): a job with an allow gets the purpose's secret
through an audited endpoint; tokens are stable within a purpose and cannot be joined across
purposes; secrets are encrypted at rest and survive master-key and purpose-key rotation."""

from __future__ import annotations

import base64
import os
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.utils import timezone

from governance.access import pseudonyms, services
from governance.access.models import PurposeKey
from governance.audit.models import LedgerEntry
from tests.access.conftest import request_and_approve
from tests.accounts.factories import make_service_account
from tests.consent.factories import make_purpose
from tests.test_api_shell import _token_for

KEYS = "/api/v1/access/pseudonym-keys"


def master(raw: bytes | None = None) -> str:
    return base64.urlsafe_b64encode(raw or os.urandom(32)).decode().rstrip("=")


@pytest.fixture(autouse=True)
def _master_key(settings):
    settings.PSEUDONYM_MASTER_KEYS = {"m1": master()}


@pytest.fixture
def job(bob, alice, approved_for_routing, tickets):
    account, _ = make_service_account(bob, name="pseudo-job")
    request = request_and_approve(
        bob, alice, tickets, fields=("email",), principal="service_account:pseudo-job"
    )
    services.grant_acknowledge(actor=bob, grant=request.grant)
    return account


def keys_for(api_client, account, purpose="ticket-routing"):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {_token_for(account)}")
    return api_client.post(KEYS, {"dataset": "support-tickets", "purpose": purpose}, format="json")


def secret_of(body: dict) -> bytes:
    current = next(k for k in body["keys"] if k["current"])
    return base64.urlsafe_b64decode(current["secret"] + "==")


def test_a_job_with_an_allow_gets_the_purpose_key_and_the_issue_is_audited(api_client, job):
    response = keys_for(api_client, job)
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert (body["purpose"], body["algorithm"], body["token_bytes"]) == (
        "ticket-routing",
        "HMAC-SHA256-128",
        16,
    )
    assert [(k["version"], k["current"], k["usable_until"]) for k in body["keys"]] == [
        (1, True, None)
    ]
    assert len(secret_of(body)) == 32
    entry = LedgerEntry.objects.get(event="access.pseudonym_key_issued")
    assert entry.actor == job.user
    assert entry.additional_data["versions"] == [1]
    assert body["keys"][0]["secret"] not in str(entry.additional_data)


def test_no_grant_no_key(api_client, bob, approved_for_routing):
    stranger, _ = make_service_account(bob, name="stranger")
    entries = set(LedgerEntry.objects.values_list("pk", flat=True))
    response = keys_for(api_client, stranger)
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["details"] == {"reasons": ["no_grant"]}
    assert not PurposeKey.objects.exists()
    new = LedgerEntry.objects.exclude(pk__in=entries).values_list("event", flat=True)
    assert list(new) == ["access.pseudonym_key_refused"]


def test_same_id_and_purpose_same_token_another_purpose_another_token(api_client, job):
    secret = secret_of(keys_for(api_client, job).json())
    again = secret_of(keys_for(api_client, job).json())
    assert secret == again
    same = pseudonyms.pseudonym(secret, 1, "customer-42")
    assert same == pseudonyms.pseudonym(again, 1, "customer-42")
    assert same.startswith("v1.") and len(same) == 3 + 22
    # another purpose has its own random secret: tokens of one id do not match across purposes
    make_purpose("other-purpose", legal_basis="legitimate_interests")
    other = pseudonyms.purpose_keys("other-purpose")[0]
    assert other.secret != secret
    assert pseudonyms.pseudonym(other.secret, other.version, "customer-42") != same
    # and different ids never collide in practice
    tokens = {pseudonyms.pseudonym(secret, 1, f"customer-{i}") for i in range(5000)}
    assert len(tokens) == 5000


def test_secrets_are_encrypted_at_rest_bound_to_their_purpose(api_client, job):
    secret = secret_of(keys_for(api_client, job).json())
    row = PurposeKey.objects.get()
    assert secret not in bytes(row.ciphertext)
    assert row.master_kid == "m1"
    # a ciphertext copied onto another purpose does not decrypt
    PurposeKey.objects.create(
        purpose_slug="stolen", version=1, master_kid="m1", ciphertext=bytes(row.ciphertext)
    )
    with pytest.raises(ImproperlyConfigured, match="altered"):
        pseudonyms.purpose_keys("stolen")


def test_rotation_keeps_old_tokens_verifiable_for_the_grace_period(api_client, job, settings):
    settings.PSEUDONYM_KEY_GRACE_DAYS = 30
    old = secret_of(keys_for(api_client, job).json())
    old_token = pseudonyms.pseudonym(old, 1, "customer-42")
    call_command("pseudonym_keys", "rotate", "ticket-routing")
    body = keys_for(api_client, job).json()
    assert [(k["version"], k["current"]) for k in body["keys"]] == [(2, True), (1, False)]
    previous = next(k for k in body["keys"] if k["version"] == 1)
    assert base64.urlsafe_b64decode(previous["secret"] + "==") == old
    assert pseudonyms.pseudonym(old, 1, "customer-42") == old_token
    assert pseudonyms.pseudonym(secret_of(body), 2, "customer-42") != old_token
    assert LedgerEntry.objects.filter(event="access.pseudonym_key_rotated").count() == 1
    # after the grace period only the current version is handed out
    with time_machine.travel(timezone.now() + timedelta(days=31), tick=False):
        versions = [k.version for k in pseudonyms.purpose_keys("ticket-routing")]
    assert versions == [2]


def test_master_key_rotation_reencrypts_without_changing_any_secret(api_client, job, settings):
    secret = secret_of(keys_for(api_client, job).json())
    call_command("pseudonym_keys", "rotate", "ticket-routing")
    before = {k.version: k.secret for k in pseudonyms.purpose_keys("ticket-routing")}
    # a new master key first: rows under the old one still decrypt meanwhile
    settings.PSEUDONYM_MASTER_KEYS = {"m2": master(), **settings.PSEUDONYM_MASTER_KEYS}
    assert {k.version: k.secret for k in pseudonyms.purpose_keys("ticket-routing")} == before
    call_command("pseudonym_keys", "reencrypt")
    assert set(PurposeKey.objects.values_list("master_kid", flat=True)) == {"m2"}
    # the old master key can go
    settings.PSEUDONYM_MASTER_KEYS = {"m2": settings.PSEUDONYM_MASTER_KEYS["m2"]}
    assert {k.version: k.secret for k in pseudonyms.purpose_keys("ticket-routing")} == before
    assert before[1] == secret
    assert LedgerEntry.objects.filter(event="access.pseudonym_key_reencrypted").count() == 2


def test_a_missing_master_key_is_named_not_guessed(api_client, job, settings):
    keys_for(api_client, job)
    settings.PSEUDONYM_MASTER_KEYS = {"m9": master()}
    with pytest.raises(ImproperlyConfigured, match="'m1'"):
        pseudonyms.purpose_keys("ticket-routing")


@pytest.mark.parametrize("value", ["short", "!!!!", master(b"x" * 16)])
def test_malformed_master_keys_are_refused(settings, value):
    with pytest.raises(ImproperlyConfigured):
        pseudonyms.parse_master_keys({"bad": value})


def test_the_python_client_makes_the_same_tokens_as_the_registry():
    governance_client = pytest.importorskip("governance_client")
    secret = bytes(range(32))
    for value in ["customer-42", "ann@example.org", "ü-ñ", ""]:
        assert governance_client.pseudonym(secret, 3, value) == pseudonyms.pseudonym(
            secret, 3, value
        )


NEW_SECRET_KEY = "a-rotated-secret-key-for-tests-0123456789-abcdefghijklmnopqrstuvwxyz"


def test_moving_from_the_derived_master_key_to_configured_ones_needs_no_downtime(
    api_client, job, settings
):
    # the embedded setup: no PSEUDONYM_MASTER_KEYS, the master key derived from SECRET_KEY
    settings.PSEUDONYM_MASTER_KEYS = {}
    secret = secret_of(keys_for(api_client, job).json())
    assert PurposeKey.objects.get().master_kid.startswith("derived-")
    # production sets master keys: the derived key still decrypts until reencrypt
    settings.PSEUDONYM_MASTER_KEYS = {"m2": master()}
    assert secret_of(keys_for(api_client, job).json()) == secret
    call_command("pseudonym_keys", "reencrypt")
    assert set(PurposeKey.objects.values_list("master_kid", flat=True)) == {"m2"}
    # and SECRET_KEY can then rotate without touching the secrets
    settings.SECRET_KEY = NEW_SECRET_KEY
    assert secret_of(keys_for(api_client, job).json()) == secret


def test_rotating_secret_key_keeps_derived_secrets_through_the_fallbacks(api_client, job, settings):
    settings.PSEUDONYM_MASTER_KEYS = {}
    secret = secret_of(keys_for(api_client, job).json())
    old = settings.SECRET_KEY
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW_SECRET_KEY, [old]
    assert secret_of(keys_for(api_client, job).json()) == secret
    assert call_command("pseudonym_keys", "reencrypt") is None
    settings.SECRET_KEY_FALLBACKS = []
    assert secret_of(keys_for(api_client, job).json()) == secret


def test_secrets_written_under_the_unnamed_derived_key_still_decrypt(db, settings):
    settings.PSEUDONYM_MASTER_KEYS = {}
    pseudonyms.purpose_keys("legacy-purpose")
    row = PurposeKey.objects.get(purpose_slug="legacy-purpose")
    secret = pseudonyms.purpose_keys("legacy-purpose")[0].secret
    PurposeKey.objects.filter(pk=row.pk).update(master_kid=pseudonyms.DERIVED_KID)
    old = settings.SECRET_KEY
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW_SECRET_KEY, [old]
    assert pseudonyms.purpose_keys("legacy-purpose")[0].secret == secret


def test_a_secret_no_configured_key_decrypts_is_a_503_not_a_500_and_nothing_is_handed_out(
    api_client, job, settings
):
    keys_for(api_client, job)
    settings.PSEUDONYM_MASTER_KEYS = {"m9": master()}  # m1 removed before reencrypt
    response = keys_for(api_client, job)
    assert response.status_code == 503, response.content[:300]
    body = response.json()
    assert body["error"]["code"] == "unavailable"
    assert "keys" not in body
    assert response["Retry-After"]
