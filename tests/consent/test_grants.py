"""Giving service accounts a consent capability: sources record, training jobs query."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from consent.services.grants import service_account_consent_grant
from governance.accounts.services import service_account_revoke
from governance.audit.models import LedgerEntry
from governance.errors import NotPermitted
from tests.accounts.factories import make_service_account

pytestmark = pytest.mark.django_db


def test_the_command_grants_and_revokes_capabilities(bob):
    # given
    account, _ = make_service_account(bob, name="web-shop")
    out = io.StringIO()
    # when
    call_command("consent_grant", "web-shop", "--record", "--query", stdout=out)
    # then
    user = type(account.user).objects.get(pk=account.user_id)
    assert user.has_perm("consent.add_consentevent")
    assert user.has_perm("consent.query_consent")
    assert (
        out.getvalue().strip()
        == "web-shop: consent permissions now add_consentevent, query_consent"
    )
    call_command("consent_grant", "web-shop", "--query", "--revoke", stdout=io.StringIO())
    user = type(account.user).objects.get(pk=account.user_id)
    assert not user.has_perm("consent.query_consent")
    assert list(
        LedgerEntry.objects.filter(event__startswith="consent.capability")
        .values_list("event", flat=True)
        .order_by("id")
    ) == ["consent.capability_granted", "consent.capability_revoked"]


def test_the_command_refuses_unknown_or_revoked_accounts_and_missing_capabilities(ada, bob):
    with pytest.raises(CommandError, match="No service account named 'ghost'"):
        call_command("consent_grant", "ghost", "--record")
    account, _ = make_service_account(bob, name="old-job")
    with pytest.raises(CommandError, match="Name at least one of"):
        call_command("consent_grant", "old-job")
    service_account_revoke(service_account=account, actor=ada, reason="retired")
    with pytest.raises(CommandError, match=r"This service account is revoked\."):
        call_command("consent_grant", "old-job", "--record")


def test_only_administrators_grant_capabilities(alice, ada, bob):
    account, _ = make_service_account(bob, name="web-shop")
    with pytest.raises(NotPermitted):
        service_account_consent_grant(service_account=account, capabilities=["record"], actor=alice)
    held = service_account_consent_grant(
        service_account=account, capabilities=["record"], actor=ada
    )
    assert held == {"add_consentevent"}
