"""Who may request and read compliance exports — the one owner of these rules.

Auditors, privacy officers and administrators request exports and see everyone's (auditors
review each other's exports); anyone else sees at most the exports they requested."""

from __future__ import annotations

from django.db.models import Q

from governance.accounts.models import User
from governance.accounts.policy import holds_role
from governance.accounts.roles import Role
from governance.compliance.models import Export
from governance.policy import Refusal, forbidden, not_found

EXPORT_ROLES = (Role.AUDITOR, Role.PRIVACY_OFFICER, Role.ADMIN)

MSG_NOT_PERMITTED = "Only auditors, privacy officers and administrators can request exports."
MSG_EXPORT_NOT_FOUND = "No such export."


def may_export(user: User | None) -> Refusal | None:
    if holds_role(user, *EXPORT_ROLES) and not user.is_service_account:
        return None
    return forbidden(MSG_NOT_PERMITTED)


def exports_visible_to(user: User | None) -> Q:
    if may_export(user) is None:
        return Q()
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return Q(pk__in=[])
    return Q(requested_by=user)


def may_see(user: User | None, export: Export) -> Refusal | None:
    """The requester, or anyone who may export; existence is not disclosed to others."""
    if may_export(user) is None:
        return None
    if user is not None and user.is_active and export.requested_by_id == user.pk:
        return None
    return not_found(MSG_EXPORT_NOT_FOUND)
