"""What an outside review of the hardened edges broke, each as the attack that broke it: a
client that names another client with a wrong secret, an address rotated in X-Forwarded-For,
NUL bytes where Django decodes them (cookies, Basic credentials), NaN in NDJSON, bodies over
Django's limits, forged form posts, a flood of sign-ins from one address, the second factor
edited through Django admin, recovery codes after a key rotation, control characters in a
spreadsheet cell."""

from __future__ import annotations

import base64
import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client, RequestFactory

from governance.accounts import second_factor
from governance.accounts.models import RecoveryCode
from governance.audit.middleware import client_address
from governance.audit.models import LedgerEntry
from tests.accounts.factories import PASSWORD, UserFactory, make_service_account
from tests.test_api_shell import _token_for

pytestmark = pytest.mark.django_db


def _basic(client_id: str, secret: str) -> dict:
    pair = f"{client_id}:{secret}".encode()
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(pair).decode()}


# --- introspection ------------------------------------------------------------------------


def test_naming_another_client_with_a_wrong_secret_learns_nothing_about_its_token(bob):
    victim, _ = make_service_account(bob, name="victim-job")
    attacker, attacker_secret = make_service_account(bob, name="attacker-job")
    victim_token = _token_for(victim)
    client = Client()
    # Basic names the victim (wrong secret); the form carries the attacker's real credentials
    response = client.post(
        "/o/introspect/",
        {
            "token": victim_token,
            "client_id": attacker.application.client_id,
            "client_secret": attacker_secret,
        },
        **_basic(victim.application.client_id, "wrong-secret"),
    )
    assert response.status_code in {200, 401, 403}
    if response.status_code == 200:
        assert response.json() == {"active": False}


def test_introspection_by_post_works_without_a_csrf_token(bob):
    account, secret = make_service_account(bob, name="own-job")
    token = _token_for(account)
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/o/introspect/", {"token": token}, **_basic(account.application.client_id, secret)
    )
    assert response.status_code == 200, response.content[:200]
    assert response.json()["active"] is True


def test_a_revoked_bearer_token_is_nobody_when_introspecting(bob):
    from oauth2_provider.models import AccessToken

    account, _ = make_service_account(bob, name="caller-job")
    caller_token = _token_for(account)
    AccessToken.objects.filter(application=account.application).update(
        expires="2000-01-01T00:00:00Z"
    )
    response = Client().post(
        "/o/introspect/",
        {"token": caller_token},
        HTTP_AUTHORIZATION=f"Bearer {caller_token}",
    )
    assert response.status_code in {200, 401, 403}
    if response.status_code == 200:
        assert response.json() == {"active": False}


# --- the client address -------------------------------------------------------------------


def test_behind_the_proxy_the_address_is_the_one_the_proxy_appended(settings):
    settings.USE_X_FORWARDED_FOR = True
    factory = RequestFactory()
    for forged in ["1.1.1.1", "2.2.2.2", "3.3.3.3"]:
        request = factory.get(
            "/", HTTP_X_FORWARDED_FOR=f"{forged}, 203.0.113.7", REMOTE_ADDR="10.0.0.2"
        )
        assert client_address(request) == "203.0.113.7"
    settings.USE_X_FORWARDED_FOR = False
    request = factory.get("/", HTTP_X_FORWARDED_FOR="1.1.1.1", REMOTE_ADDR="10.0.0.2")
    assert client_address(request) == "10.0.0.2"


def test_rotating_forged_forwarded_addresses_does_not_escape_the_sign_in_lockout(settings, bob):
    settings.USE_X_FORWARDED_FOR = True
    client = Client()
    answers = []
    for attempt in range(8):
        response = client.post(
            "/accounts/login/",
            {"username": bob.username, "password": "wrong"},
            HTTP_X_FORWARDED_FOR=f"198.51.100.{attempt}, 203.0.113.7",
        )
        answers.append(response.status_code)
    assert answers[-1] == 429, answers
    # the right password does not get in from that address while locked
    locked = client.post(
        "/accounts/login/",
        {"username": bob.username, "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="198.51.100.99, 203.0.113.7",
    )
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) > 0


def test_sign_ins_from_one_address_are_throttled_whatever_the_username(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "login": "3/min",
        },
    }
    client = Client()
    answers = [
        client.post(
            "/accounts/login/", {"username": f"user{i}", "password": "x"}, REMOTE_ADDR="10.9.9.9"
        ).status_code
        for i in range(4)
    ]
    assert answers[:3] == [200, 200, 200]
    assert answers[3] == 429
    # another address still signs in
    other = client.post(
        "/accounts/login/", {"username": "user9", "password": "x"}, REMOTE_ADDR="10.9.9.10"
    )
    assert other.status_code == 200


# --- bytes Django decodes -----------------------------------------------------------------


def _refused(response) -> None:
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]["code"] == "bad_request"


def test_a_nul_byte_in_a_cookie_is_refused():
    client = Client()
    client.cookies["tracking"] = "a\x00b"
    _refused(client.get("/api/v1/datasets/", HTTP_ACCEPT="application/json"))


def test_a_nul_byte_in_basic_credentials_is_refused():
    _refused(
        Client().post(
            "/o/token/",
            {"grant_type": "client_credentials"},
            HTTP_ACCEPT="application/json",
            **_basic("job\x00", "secret"),
        )
    )


def test_nan_in_an_ndjson_batch_is_refused_and_nothing_is_recorded(client):
    from consent.models import ConsentEvent

    client.force_login(UserFactory(username="pia", roles=["privacy_officer"]))
    body = json.dumps({"subject_id": "s-1"})[:-1] + ', "weight": NaN}\n'
    before = ConsentEvent.objects.count()
    response = client.post(
        "/api/v1/consent/events/batch",
        body,
        content_type="application/x-ndjson",
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 400, response.content[:300]
    assert "NaN" in response.json()["error"]["message"]
    assert ConsentEvent.objects.count() == before


def test_a_form_body_over_the_limit_is_a_413_naming_it(settings, client):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client.force_login(UserFactory(username="sam", roles=["steward"]))
    response = client.post(
        "/api/v1/datasets/create",
        "name=" + "x" * 5000,
        content_type="application/x-www-form-urlencoded",
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 413, response.content[:300]
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert error["details"]["limit_bytes"] == 1000


def test_a_forged_form_post_is_refused_by_a_page_without_inline_style():
    user = UserFactory(username="eve", roles=["engineer"])
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    before = LedgerEntry.objects.count()
    response = client.post("/consent/purposes/new/", {"slug": "forged", "name": "Forged"})
    assert response.status_code == 403
    page = response.content.decode()
    assert "style=" not in page and "<style" not in page
    assert "reload the page" in page
    assert LedgerEntry.objects.count() == before
    api = client.post("/api/v1/datasets/create", {}, HTTP_ACCEPT="application/json")
    assert api.status_code in {401, 403}


# --- the second factor --------------------------------------------------------------------


def test_django_admin_offers_no_way_to_edit_a_second_factor(client):
    admin = UserFactory(username="root2", roles=["admin"], is_staff=True, is_superuser=True)
    client.force_login(admin)
    assert client.get("/admin/otp_totp/totpdevice/").status_code == 404


def test_a_second_factor_is_reset_by_command_by_another_admin_with_the_reason():
    UserFactory(username="ada2", roles=["admin"])
    pat = UserFactory(username="pat2", roles=["steward"])
    RecoveryCode.objects.create(user=pat, digest="x" * 64)
    call_command("second_factor_reset", "pat2", "--by", "ada2", "--reason", "ticket 42")
    assert not RecoveryCode.objects.filter(user=pat).exists()
    entry = LedgerEntry.objects.get(event="auth.second_factor_reset")
    assert entry.additional_data["reason"] == "ticket 42"
    assert entry.actor.username == "ada2"
    with pytest.raises(CommandError):
        call_command("second_factor_reset", "pat2", "--by", "nobody", "--reason", "x")
    with pytest.raises(CommandError):  # nobody resets their own
        call_command("second_factor_reset", "ada2", "--by", "ada2", "--reason", "lost phone")


def test_recovery_codes_work_after_the_secret_key_is_rotated(settings):
    user = UserFactory(username="rot", roles=["steward"])
    codes = second_factor._new_recovery_codes(user)
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-secret-key-after-rotation-0123456789-abcdefghijklmnopqrstuvwx"
    settings.SECRET_KEY_FALLBACKS = [old_key]
    digests = second_factor._digests(user, codes[0])
    assert RecoveryCode.objects.filter(user=user, digest__in=digests).exists()
    settings.SECRET_KEY_FALLBACKS = []
    digests = second_factor._digests(user, codes[0])
    assert not RecoveryCode.objects.filter(user=user, digest__in=digests).exists()


# --- spreadsheets -------------------------------------------------------------------------


def test_a_control_character_in_a_stored_name_does_not_break_a_spreadsheet(tmp_path):
    from openpyxl import Workbook, load_workbook

    from governance.compliance.cells import xlsx_text

    book = Workbook()
    cell = book.active["A1"]
    xlsx_text(cell, "name\x0bwith a vertical tab")
    xlsx_text(book.active["A2"], "=HYPERLINK(1)")
    path = tmp_path / "out.xlsx"
    book.save(path)
    reread = load_workbook(path).active
    assert reread["A1"].value == "name\ufffdwith a vertical tab"
    assert reread["A2"].value == "=HYPERLINK(1)"
    assert reread["A2"].data_type == "s"
