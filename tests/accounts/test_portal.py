"""Portal pages: login, navigation per role, service-account pages with object-level checks."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from django.contrib.auth.hashers import check_password
from django.core.management import CommandError, call_command

from governance.accounts.models import ServiceAccount, User
from governance.audit.models import LedgerEntry
from tests.accounts.factories import PASSWORD, UserFactory, make_service_account


def test_login_records_the_event_and_lands_on_the_dashboard(client, bob):
    # (an engineer: stewards go through the second factor, tests/accounts/test_second_factor.py)
    response = client.post(
        "/accounts/login/", {"username": "bob", "password": PASSWORD}, follow=True
    )
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == "/"
    assert b"Dashboard" in response.content
    assert LedgerEntry.objects.filter(event="auth.login", actor=bob).count() == 1


def test_failed_login_shows_a_form_error_and_is_recorded(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    entry = LedgerEntry.objects.get(event="auth.login_failed")
    assert entry.additional_data == {"username": "alice"}
    assert entry.actor is None
    assert "wrong" not in str(entry.additional_data)


def test_logout_is_recorded(client, alice):
    client.force_login(alice)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert LedgerEntry.objects.filter(event="auth.logout", actor=alice).exists()


def test_service_account_identities_cannot_sign_in(client, bob):
    account, secret = make_service_account(bob, name="no-portal")
    response = client.post(
        "/accounts/login/", {"username": account.user.username, "password": secret}
    )
    assert b"Please enter a correct username" in response.content
    assert "_auth_user_id" not in client.session


def test_dashboard_needs_a_login(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(
    ("persona", "visible", "hidden"),
    [
        ("alice", [], ["service-accounts", "admin"]),
        ("bob", ["service-accounts"], ["admin"]),
        ("audrey", ["service-accounts"], ["admin"]),
        ("ada", ["service-accounts", "admin"], []),
    ],
)
def test_navigation_shows_each_role_what_it_may_use(client, request, persona, visible, hidden):
    client.force_login(request.getfixturevalue(persona))
    html = client.get("/").content.decode()
    for key in ["dashboard", "api-docs", *visible]:
        assert f'data-nav="{key}"' in html
    for key in hidden:
        assert f'data-nav="{key}"' not in html


def test_admin_creates_a_service_account_and_sees_the_secret_once(client, ada, bob):
    client.force_login(ada)
    response = client.post(
        "/accounts/service-accounts/new/",
        {"name": "churn-model", "owner": "bob", "description": ""},
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    account = ServiceAccount.objects.get(name="churn-model")
    html = response.content.decode()
    secret = html.split('data-testid="client-secret">')[1].split("<")[0]
    assert check_password(secret, account.application.client_secret)
    detail = client.get("/accounts/service-accounts/churn-model/").content.decode()
    assert secret not in detail


def test_create_form_shows_errors_and_creates_nothing(client, ada, bob):
    client.force_login(ada)
    response = client.post("/accounts/service-accounts/new/", {"name": "Bad Name", "owner": "bob"})
    assert response.status_code == 200
    assert b"3-64 characters" in response.content
    response = client.post("/accounts/service-accounts/new/", {"name": "ok-name", "owner": "ghost"})
    assert b"Select a valid choice" in response.content
    assert ServiceAccount.objects.count() == 0


def test_engineer_cannot_open_the_create_page(client, bob):
    client.force_login(bob)
    assert client.get("/accounts/service-accounts/new/").status_code == 403
    response = client.post("/accounts/service-accounts/new/", {"name": "x-y-z", "owner": "bob"})
    assert response.status_code == 403
    assert ServiceAccount.objects.count() == 0


def test_engineers_see_only_their_own_accounts(client, bob):
    eve = UserFactory(username="eve", roles=["engineer"])
    make_service_account(bob, name="bobs-job")
    make_service_account(eve, name="charlies-job")
    client.force_login(bob)
    html = client.get("/accounts/service-accounts/").content.decode()
    assert "bobs-job" in html
    assert "charlies-job" not in html
    assert client.get("/accounts/service-accounts/charlies-job/").status_code == 404
    response = client.post("/accounts/service-accounts/charlies-job/revoke/", {"reason": "x"})
    assert response.status_code == 404
    assert ServiceAccount.objects.get(name="charlies-job").is_active


def test_owner_revokes_from_the_portal_after_confirming(client, bob):
    make_service_account(bob, name="bobs-job")
    client.force_login(bob)
    page = client.get("/accounts/service-accounts/bobs-job/revoke/").content.decode()
    assert 'data-testid="impact-tokens"' in page
    refused = client.post("/accounts/service-accounts/bobs-job/revoke/", {"reason": "retired"})
    assert refused.status_code == 400
    assert "Tick the box to confirm" in refused.content.decode()
    assert ServiceAccount.objects.get(name="bobs-job").is_active
    response = client.post(
        "/accounts/service-accounts/bobs-job/revoke/",
        {"reason": "model retired", "understood": "on"},
        follow=True,
    )
    assert b"revoked" in response.content
    assert ServiceAccount.objects.get(name="bobs-job").revoked_reason == "model retired"


def test_service_account_list_uses_a_fixed_number_of_queries(
    client, ada, django_assert_max_num_queries
):
    for i in range(5):
        make_service_account(ada, name=f"job-{i}")
    client.force_login(ada)
    client.get("/accounts/service-accounts/")  # warm caches (content types, permissions)
    with django_assert_max_num_queries(8):
        response = client.get("/accounts/service-accounts/")
    assert response.content.decode().count("/accounts/service-accounts/job-") == 5


def test_seed_demo_is_idempotent_and_refuses_without_debug(db, settings, capsys):
    with pytest.raises(CommandError, match="only with DEBUG=true"):
        call_command("seed_demo")
    settings.DEBUG = True
    call_command("seed_demo")
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert "alice    alice-demo-2026" in out
    users = User.objects.filter(username__in=["alice", "petra", "bob", "audrey", "admin"])
    assert {u.username: u.roles for u in users} == {
        "alice": ["steward"],
        "petra": ["privacy_officer"],
        "bob": ["engineer"],
        "audrey": ["auditor"],
        "admin": ["admin"],
    }
    assert User.objects.get(username="admin").is_staff


def test_the_demo_retention_speaks_the_namespace_and_ids_of_the_demo_consent(
    db, settings, tmp_path
):
    """A withdrawal of a demo subject can reach the demo files: same namespace, same ids."""
    import csv

    from consent.models import Subject
    from datasets.models import Dataset
    from governance.retention.models import ErasureRequest, LegalHold, RetentionPolicy

    settings.DEBUG = True
    settings.RETENTION_FILE_ROOTS = [tmp_path]
    call_command("seed_demo")
    dataset = Dataset.objects.get(slug="customer-events")
    policy = RetentionPolicy.objects.get(dataset=dataset)
    assert policy.subject_namespace == dataset.subject_namespace == "shop"
    assert set(LegalHold.objects.values_list("namespace", flat=True)) <= {"", "shop"}
    assert set(ErasureRequest.objects.values_list("namespace", flat=True)) == {"shop"}
    ids = set()
    for path in Path(dataset.location).rglob("*.csv"):
        with path.open() as handle:
            ids |= {row["customer_id"] for row in csv.DictReader(handle)}
    known = set(Subject.objects.filter(namespace="shop").values_list("external_id", flat=True))
    assert ids and ids <= known


@pytest.mark.django_db
def test_a_service_account_request_shows_every_problem_at_once_and_keeps_the_input(client, bob):
    from governance.accounts.models import ServiceAccountRequest
    from governance.accounts.services import MSG_NAME_INVALID, MSG_SA_REQUEST_DESCRIPTION

    client.force_login(bob)
    response = client.post(
        "/accounts/service-accounts/request/", {"name": "Bad Name!", "description": ""}
    )
    assert response.status_code == 400
    page = html.unescape(response.content.decode())
    assert MSG_NAME_INVALID in page and MSG_SA_REQUEST_DESCRIPTION in page
    assert 'value="Bad Name!"' in page
    assert not ServiceAccountRequest.objects.exists()
