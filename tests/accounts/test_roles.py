from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission

from governance.accounts.roles import NEVER_GRANTED, Role, declared_permissions, roles_sync
from governance.accounts.services import user_roles_set
from governance.audit.models import LedgerEntry
from governance.errors import ApplicationError, NotPermitted


def _perms(group_name: str) -> set[str]:
    group = Group.objects.get(name=group_name)
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in group.permissions.select_related("content_type")
    }


def test_migrations_create_the_five_role_groups(db):
    assert set(Group.objects.values_list("name", flat=True)) >= {
        "steward",
        "privacy_officer",
        "engineer",
        "auditor",
        "admin",
    }


@pytest.mark.parametrize("role", [r for r in Role if r != Role.ADMIN])
def test_each_role_holds_exactly_its_declared_permissions(db, role):
    assert _perms(role) == declared_permissions()[role] - NEVER_GRANTED


def test_admin_holds_every_permission_except_changing_the_ledger(db):
    every = {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Permission.objects.select_related("content_type")
    }
    assert _perms("admin") == every - NEVER_GRANTED
    assert "audit.delete_ledgerentry" not in _perms("admin")


def test_auditor_can_read_the_ledger_but_not_change_anything(audrey):
    assert audrey.has_perm("audit.view_ledgerentry")
    assert not audrey.has_perm("accounts.add_serviceaccount")
    # Requesting an export is the one thing an auditor adds: it changes no governed data.
    writes = {
        p
        for p in audrey.get_all_permissions()
        if p.split(".")[1].startswith(("add_", "change_", "delete_"))
    }
    assert writes <= {"compliance.add_export"}


def test_roles_sync_is_idempotent_and_repairs_hand_edits(db):
    # given a hand-edited group
    Group.objects.get(name="steward").permissions.add(
        Permission.objects.get(codename="delete_serviceaccount")
    )
    # when synced twice
    first = roles_sync()
    second = roles_sync()
    # then the declaration wins and nothing changes the second time
    assert first == second
    assert _perms("steward") == declared_permissions()[Role.STEWARD]


def test_becoming_admin_grants_django_admin_access_and_is_audited(ada, charlie):
    user_roles_set(user=charlie, roles=["admin"], actor=ada)
    charlie.refresh_from_db()
    assert charlie.is_staff is True
    assert charlie.roles == ["admin"]
    event = LedgerEntry.objects.get(
        event="user.roles_changed", object_pk=str(charlie.pk), actor=ada
    )
    assert event.additional_data == {"before": [], "after": ["admin"]}
    user_roles_set(user=charlie, roles=["auditor"], actor=ada)
    charlie.refresh_from_db()
    assert charlie.is_staff is False


def test_only_an_admin_changes_roles(alice, charlie):
    with pytest.raises(NotPermitted):
        user_roles_set(user=charlie, roles=["admin"], actor=alice)
    charlie.refresh_from_db()
    assert charlie.roles == []
    assert not charlie.is_staff


def test_unknown_roles_are_refused(ada, charlie):
    with pytest.raises(ApplicationError, match="Unknown role: wizard"):
        user_roles_set(user=charlie, roles=["wizard"], actor=ada)
    assert charlie.roles == []
