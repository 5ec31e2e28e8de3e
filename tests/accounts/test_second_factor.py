"""Sign-in hardening (issue "Hardening the edges", item 1): a TOTP second factor required for
administrators, privacy officers and stewards, with enrolment and recovery codes; lockout of
failed sign-ins per username and address with a cool-off, on every login form including
Django admin's; every sign-in event in the ledger."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from governance.accounts import second_factor
from governance.accounts.models import RecoveryCode
from governance.audit.models import LedgerEntry
from governance.errors import NotPermitted
from tests.accounts.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def _code(device: TOTPDevice) -> str:
    """What the authenticator app shows now."""
    value = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    return f"{value:0{device.digits}d}"


def _password(client, username: str, password: str = PASSWORD, address: str = "10.0.0.1"):
    return client.post(
        "/accounts/login/",
        {"username": username, "password": password},
        REMOTE_ADDR=address,
    )


def _enrol(client, user) -> tuple[TOTPDevice, list[str]]:
    """Enrol through the pages: open setup, confirm with the app's code."""
    assert client.get("/accounts/two-factor/setup/").status_code == 200
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    response = client.post("/accounts/two-factor/setup/", {"code": _code(device)})
    assert response.status_code == 200, response.content[:500]
    codes = list(response.context["codes"])
    device.refresh_from_db()
    return device, codes


# --- second factor --------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["steward", "privacy_officer", "admin"])
def test_a_role_that_decides_goes_from_the_password_to_enrolment_and_nowhere_else(client, role):
    UserFactory(username="pat", roles=[role])
    response = _password(client, "pat")
    assert response.status_code == 302
    # every page leads to enrolment until the second factor is on
    for path in ["/", "/datasets/", "/admin/", "/audit/"]:
        page = client.get(path)
        assert page.status_code == 302
        assert page["Location"].startswith("/accounts/two-factor/setup/")
    api = client.get("/api/v1/datasets/")
    assert api.status_code == 403
    assert api.json()["error"]["code"] == "second_factor_required"


def test_an_engineer_needs_no_second_factor(client, bob):
    _password(client, "bob")
    assert client.get("/").status_code == 200


def test_enrolment_verifies_the_session_gives_ten_single_use_codes_and_is_recorded(client):
    alice = UserFactory(username="alice", roles=["steward"])
    _password(client, "alice")
    device, codes = _enrol(client, alice)
    assert device.confirmed
    assert len(codes) == len(set(codes)) == 10
    assert client.get("/").status_code == 200
    # the codes are kept only as keyed digests
    stored = set(RecoveryCode.objects.filter(user=alice).values_list("digest", flat=True))
    assert not stored & set(codes)
    assert LedgerEntry.objects.filter(event="auth.second_factor_enrolled", actor=alice).exists()


def test_the_next_sign_in_asks_for_the_code_and_a_wrong_one_is_refused_and_recorded(client):
    alice = UserFactory(username="alice", roles=["steward"])
    _password(client, "alice")
    device, _ = _enrol(client, alice)
    client.post("/accounts/logout/")
    other = Client()
    _password(other, "alice")
    assert other.get("/")["Location"].startswith("/accounts/two-factor/verify/")
    wrong = other.post("/accounts/two-factor/verify/", {"code": "000000", "next": "/datasets/"})
    assert wrong.status_code == 200
    assert second_factor.MSG_WRONG_CODE in wrong.content.decode()
    assert other.get("/").status_code == 302
    assert LedgerEntry.objects.filter(event="auth.second_factor_failed").count() == 1
    # the back-off: right after a wrong code even the right one waits a moment
    with time_machine.travel(timezone.now() + timedelta(minutes=1)):
        ok = other.post("/accounts/two-factor/verify/", {"code": _code(device)})
        assert ok.status_code == 302, ok.content[:300]
        assert other.get("/").status_code == 200


def test_a_recovery_code_works_once(client):
    alice = UserFactory(username="alice", roles=["steward"])
    _password(client, "alice")
    _, codes = _enrol(client, alice)
    first = Client()
    _password(first, "alice")
    assert first.post("/accounts/two-factor/verify/", {"code": codes[3].lower()}).status_code == 302
    assert first.get("/").status_code == 200
    again = Client()
    _password(again, "alice")
    refused = again.post("/accounts/two-factor/verify/", {"code": codes[3]})
    assert refused.status_code == 200
    assert again.get("/").status_code == 302
    entry = LedgerEntry.objects.get(event="auth.recovery_code_used")
    assert entry.additional_data == {"codes_left": 9}


def test_a_reset_by_another_administrator_ends_every_verified_session(client, ada):
    alice = UserFactory(username="alice", roles=["steward"])
    _password(client, "alice")
    _enrol(client, alice)
    assert client.get("/").status_code == 200
    with pytest.raises(NotPermitted):
        second_factor.second_factor_reset(actor=alice, user=alice, reason="lost it")
    second_factor.second_factor_reset(actor=ada, user=alice, reason="Ticket 42, ID checked")
    # the verified session no longer counts: back to enrolment
    assert client.get("/")["Location"].startswith("/accounts/two-factor/setup/")
    assert not TOTPDevice.objects.filter(user=alice).exists()
    assert LedgerEntry.objects.filter(event="auth.second_factor_reset", actor=ada).exists()


def test_django_admin_signs_in_through_the_portal(client):
    admin_user = UserFactory(username="root", roles=["admin"])
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    # a POST to admin's own login form authenticates nobody
    client.post("/admin/login/", {"username": "root", "password": PASSWORD})
    assert "_auth_user_id" not in client.session
    assert admin_user.pk


# --- lockout --------------------------------------------------------------------------------


def test_five_failures_lock_the_username_from_that_address_only(client, bob):
    for _ in range(4):
        assert _password(client, "bob", "wrong").status_code == 200
    assert _password(client, "bob", "wrong").status_code == 429  # the fifth locks
    locked = _password(client, "bob")  # then even the right password waits
    assert locked.status_code == 429
    assert b"Too many failed sign-ins" in locked.content
    assert "_auth_user_id" not in client.session
    assert LedgerEntry.objects.filter(event="auth.locked_out").exists()
    # the same person from another address signs in: nobody can lock them out from elsewhere
    elsewhere = Client()
    assert _password(elsewhere, "bob", address="10.9.9.9").status_code == 302
    # and after the cool-off, from the first address too
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        assert _password(Client(), "bob").status_code == 302


def test_failures_from_django_admin_count_towards_the_same_lockout(client, ada):
    # admin's login form sends people to the portal's: there is no second door to guess at
    for _ in range(5):
        _password(client, "ada", "wrong")
    assert _password(client, "ada").status_code == 429
    assert client.get("/admin/login/").status_code == 302
