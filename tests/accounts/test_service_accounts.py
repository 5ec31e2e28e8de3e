from __future__ import annotations

import pytest
from django.contrib.auth.hashers import check_password
from django.core.management import CommandError, call_command
from oauth2_provider.models import Application

from governance.accounts import services
from governance.accounts.models import ServiceAccount, User
from governance.audit.models import LedgerEntry
from governance.errors import ApplicationError, Conflict, NotPermitted
from tests.accounts.factories import make_service_account


def test_admin_creates_a_client_credentials_application_owned_by_a_person(ada, bob):
    # when
    account, secret = services.service_account_create(
        name="fraud-training", owner=bob, actor=ada, description="nightly"
    )
    # then
    application = account.application
    assert application.authorization_grant_type == Application.GRANT_CLIENT_CREDENTIALS
    assert application.client_type == Application.CLIENT_CONFIDENTIAL
    assert account.owner == bob
    assert account.user.kind == User.Kind.SERVICE
    assert account.user.username == "svc.fraud-training"
    assert not account.user.has_usable_password()
    # the secret is stored hashed, never in clear
    assert application.client_secret != secret
    assert check_password(secret, application.client_secret)
    event = LedgerEntry.objects.get(event="service_account.created")
    assert event.actor == ada
    assert event.additional_data == {"owner": "bob", "client_id": application.client_id}
    assert secret not in str(LedgerEntry.objects.values_list("changes", "additional_data"))


def test_non_admin_cannot_create_and_nothing_is_written(bob):
    with pytest.raises(NotPermitted, match="Only an administrator"):
        services.service_account_create(name="mine", owner=bob, actor=bob)
    assert ServiceAccount.objects.count() == 0
    assert Application.objects.count() == 0
    assert not User.objects.filter(kind=User.Kind.SERVICE).exists()


@pytest.mark.parametrize("name", ["ab", "Upper", "with space", "-lead", "trail-", "a" * 65, ""])
def test_bad_names_are_refused(ada, bob, name):
    with pytest.raises(ApplicationError, match="3-64 characters"):
        services.service_account_create(name=name, owner=bob, actor=ada)
    assert ServiceAccount.objects.count() == 0


def test_duplicate_name_is_a_conflict(ada, bob):
    make_service_account(bob, name="dup")
    with pytest.raises(Conflict, match="already exists"):
        services.service_account_create(name="dup", owner=bob, actor=ada)
    assert ServiceAccount.objects.count() == 1


def test_a_service_account_cannot_own_another(ada, bob):
    account, _ = make_service_account(bob, name="parent")
    with pytest.raises(ApplicationError, match="must be an active person"):
        services.service_account_create(name="child", owner=account.user, actor=ada)


def test_people_cannot_take_service_usernames(ada):
    with pytest.raises(ApplicationError, match="reserved"):
        services.user_create(username="svc.fake", actor=ada)


def test_owner_revokes_their_account_and_its_identity_is_deactivated(bob):
    account, secret = make_service_account(bob, name="to-revoke")
    old_hash = account.application.client_secret
    services.service_account_revoke(service_account=account, actor=bob, reason="done")
    account.refresh_from_db()
    account.application.refresh_from_db()
    assert account.revoked_at is not None
    assert account.revoked_reason == "done"
    assert account.user.is_active is False
    assert account.application.client_secret != old_hash
    assert not check_password(secret, account.application.client_secret)
    assert LedgerEntry.objects.filter(event="service_account.revoked", actor=bob).exists()


def test_revoking_needs_a_reason_and_happens_once(bob):
    account, _ = make_service_account(bob, name="once")
    with pytest.raises(ApplicationError, match="Give a reason"):
        services.service_account_revoke(service_account=account, actor=bob, reason="  ")
    account.refresh_from_db()
    assert account.is_active
    services.service_account_revoke(service_account=account, actor=bob, reason="r")
    with pytest.raises(Conflict, match="already revoked"):
        services.service_account_revoke(service_account=account, actor=bob, reason="r")


def test_another_engineer_cannot_manage_bobs_account(bob):
    mallory = User.objects.create(username="mallory")
    services.user_roles_set(user=mallory, roles=["engineer"], actor=None)
    account, _ = make_service_account(bob, name="bobs")
    with pytest.raises(NotPermitted):
        services.service_account_revoke(service_account=account, actor=mallory, reason="x")
    with pytest.raises(NotPermitted):
        services.service_account_rotate_secret(service_account=account, actor=mallory)
    account.refresh_from_db()
    assert account.is_active


def test_rotating_the_secret_invalidates_the_old_one(bob):
    account, old = make_service_account(bob, name="rotate-me")
    new = services.service_account_rotate_secret(service_account=account, actor=bob)
    account.application.refresh_from_db()
    assert new != old
    assert check_password(new, account.application.client_secret)
    assert not check_password(old, account.application.client_secret)


def test_command_prints_client_id_and_secret_once(bob, capsys):
    call_command("create_service_account", "cli-job", "--owner", "bob")
    out = capsys.readouterr().out
    account = ServiceAccount.objects.get(name="cli-job")
    assert f"client_id:     {account.client_id}" in out
    secret = out.split("client_secret: ")[1].split()[0]
    assert check_password(secret, account.application.client_secret)
    assert account.created_by is None


def test_command_reports_bad_input_without_creating(bob):
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        call_command("create_service_account", "cli-job", "--owner", "nobody")
    with pytest.raises(CommandError, match="3-64 characters"):
        call_command("create_service_account", "Bad!", "--owner", "bob")
    assert ServiceAccount.objects.count() == 0
