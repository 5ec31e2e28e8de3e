"""Who may do what with people, roles and service accounts — the one owner of these rules.

Roles are Django groups (governance/accounts/roles.py). A role gives its powers only while it
is held by an active account; every other app asks ``holds_role`` rather than reading groups.
Roles, the staff flag and the superuser flag change only through the roles service
(``governance.accounts.services.user_roles_set`` / ``user_superuser_set``): the guard at the end
of this module refuses any other write, so neither Django admin nor a shell shortcut can hand
out a privacy officer's sign-off.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from django.db.models import Q

from governance.accounts.models import ServiceAccount, User
from governance.accounts.roles import Role
from governance.policy import Refusal, forbidden, invalid

MSG_ROLES_FORBIDDEN = "Only an administrator can change roles."
MSG_ROLES_PEOPLE_ONLY = (
    "Roles are for people. A service account acts through its grants and the capabilities "
    "given to it (manage.py consent_grant), and answers to its owner."
)
MSG_TRANSFER_TO_SELF = (
    "Nobody names themselves the owner of a service account; another administrator must."
)
MSG_OWN_ROLES = "Nobody changes their own roles; ask another administrator."
MSG_SUPERUSER_ONLY = "Only a superuser grants or removes superuser status."
MSG_OWN_SUPERUSER = "Nobody changes their own superuser status."
MSG_DEACTIVATE_FORBIDDEN = "Only an administrator can deactivate accounts."
MSG_OWN_DEACTIVATION = "Nobody deactivates their own account; ask another administrator."
MSG_CREATE_SA_FORBIDDEN = "Only an administrator can create service accounts."
MSG_MANAGE_SA_FORBIDDEN = "Only an administrator or the owner can manage this service account."
MSG_OWNER_NOT_ELIGIBLE = (
    "The owner of a service account must be an active person holding one of the roles that "
    "may run jobs: {roles}."
)
MSG_OWNER_INACTIVE = (
    "This service account's owner is inactive or no longer holds a role that may run jobs; "
    "its owner must be changed before it can be used again."
)
MSG_SA_REVOKED = "This service account is revoked."
MSG_NO_DATA_ROLE = (
    "You hold no role that works with data (engineer, steward, privacy officer, administrator)."
)
MSG_ACCOUNT_INACTIVE = "This account is inactive."
MSG_RESET_SECOND_FACTOR_FORBIDDEN = "Only an administrator can reset someone's second factor."
MSG_OWN_SECOND_FACTOR_RESET = (
    "Nobody resets their own second factor; use a recovery code, or ask another administrator."
)
# The people who approve, sign off and delete sign in with a second factor.
SECOND_FACTOR_ROLES = (Role.ADMIN, Role.PRIVACY_OFFICER, Role.STEWARD)

#: Roles whose holders may own (be accountable for) a service account. Auditors only read.
SERVICE_ACCOUNT_OWNER_ROLES = (Role.ENGINEER, Role.STEWARD, Role.PRIVACY_OFFICER, Role.ADMIN)


# --- who someone is ----------------------------------------------------------------------------


def is_active_person(user: User | None) -> bool:
    return bool(
        user is not None
        and getattr(user, "is_authenticated", False)
        and user.is_active
        and not user.is_service_account
    )


def requires_second_factor(user: User | None) -> bool:
    """Administrators, privacy officers and stewards, and Django admin's staff, must sign in
    with a second factor (TOTP) — unless SECOND_FACTOR_REQUIRED is off (the local demo)."""
    from django.conf import settings

    if not settings.SECOND_FACTOR_REQUIRED or not is_active_person(user):
        return False
    return user.is_staff or user.is_superuser or user.has_role(*SECOND_FACTOR_ROLES)


def may_reset_second_factor(actor: User | None, user: User) -> Refusal | None:
    """A person who lost their authenticator and their recovery codes: another administrator
    resets it (recorded), never they themselves."""
    if not holds_role(actor, Role.ADMIN):
        return forbidden(MSG_RESET_SECOND_FACTOR_FORBIDDEN)
    if actor.pk == user.pk:
        return forbidden(MSG_OWN_SECOND_FACTOR_RESET)
    return None


def holds_role(user: User | None, *roles: str) -> bool:
    """An active *person* holds one of ``roles`` now. A role held by an inactive account, or by
    a service account's identity (roles are for people), gives nothing."""
    return bool(
        user is not None
        and getattr(user, "is_authenticated", False)
        and user.is_active
        and not user.is_service_account
        and user.has_role(*roles)
    )


def role_holders(*roles: str) -> Q:
    """Active people holding one of ``roles`` (filter form of ``holds_role``)."""
    return Q(is_active=True, kind=User.Kind.PERSON, groups__name__in=list(roles))


def may_use_data(user: User | None) -> Refusal | None:
    """A person may use data (grants, filters) only while holding a role that works with it:
    engineer, steward, privacy officer or administrator."""
    if holds_role(user, *SERVICE_ACCOUNT_OWNER_ROLES):
        return None
    return forbidden(MSG_NO_DATA_ROLE)


def sign_off_refusal(
    actor: User | None,
    *,
    message: str,
    created_by_id=None,
    submitted_by_id=None,
    contributed: bool = False,
) -> Refusal | None:
    """Separation of duties: whoever created, changed (``contributed``) or submitted a subject
    of sign-off (a purpose version, a dataset and its classification) never signs it off.
    ``actor=None`` is the system (manage.py, demo data)."""
    if actor is None:
        return None
    if contributed or actor.pk in {created_by_id, submitted_by_id} - {None}:
        return forbidden(message)
    return None


# --- roles and flags ---------------------------------------------------------------------------


def may_change_roles(actor: User | None, user: User) -> Refusal | None:
    if user.is_service_account:
        return forbidden(MSG_ROLES_PEOPLE_ONLY)
    if actor is None:
        return None
    if not (holds_role(actor, Role.ADMIN) and not actor.is_service_account):
        return forbidden(MSG_ROLES_FORBIDDEN)
    if actor.pk == user.pk:
        return forbidden(MSG_OWN_ROLES)
    return None


def may_set_superuser(actor: User | None, user: User) -> Refusal | None:
    if actor is None:
        return None
    if not (actor.is_superuser and is_active_person(actor)):
        return forbidden(MSG_SUPERUSER_ONLY)
    if actor.pk == user.pk:
        return forbidden(MSG_OWN_SUPERUSER)
    return None


def may_deactivate(actor: User | None, user: User) -> Refusal | None:
    if actor is None:
        return None
    if not holds_role(actor, Role.ADMIN):
        return forbidden(MSG_DEACTIVATE_FORBIDDEN)
    if actor.pk == user.pk:
        return forbidden(MSG_OWN_DEACTIVATION)
    return None


# --- service accounts --------------------------------------------------------------------------


def service_account_owner_candidates() -> Q:
    """People who may own a service account (filter form of ``may_own_service_account``), for
    the owner choices of forms."""
    return role_holders(*SERVICE_ACCOUNT_OWNER_ROLES)


def may_own_service_account(user: User | None) -> Refusal | None:
    if is_active_person(user) and holds_role(user, *SERVICE_ACCOUNT_OWNER_ROLES):
        return None
    labels = ", ".join(Role(r).label.lower() for r in SERVICE_ACCOUNT_OWNER_ROLES)
    return invalid(MSG_OWNER_NOT_ELIGIBLE.format(roles=labels), field="owner")


def may_create_service_account(actor: User | None) -> Refusal | None:
    if actor is None or holds_role(actor, Role.ADMIN):
        return None
    return forbidden(MSG_CREATE_SA_FORBIDDEN)


MSG_SA_REQUEST_FORBIDDEN = (
    "Only people who may own a service account (engineers, stewards, privacy officers, "
    "administrators) can ask for one."
)
MSG_SA_REQUEST_NOT_FOUND = "No such service account request."


def may_request_service_account(actor: User | None) -> Refusal | None:
    """Anyone who may own a service account may ask an administrator for one."""
    if actor is not None and may_own_service_account(actor) is None:
        return None
    return forbidden(MSG_SA_REQUEST_FORBIDDEN)


def may_decide_service_account_request(actor: User | None, request) -> Refusal | None:
    """Creating the requested account or declining: an administrator (who may create service
    accounts at all)."""
    return may_create_service_account(actor)


def service_account_requests_visible_to(viewer: User) -> Q:
    """Administrators see every request; everyone else their own."""
    if holds_role(viewer, Role.ADMIN):
        return Q()
    return Q(requested_by=viewer)


def may_transfer_service_account(
    actor: User | None, account: ServiceAccount, owner: User
) -> Refusal | None:
    """Naming a new accountable owner: an administrator, never themselves, never someone who
    granted or approved the account's access (apps that hand out access say who did, through
    ``service_account_owner_conflict`` on their AppConfig)."""
    if refusal := may_create_service_account(actor):
        return refusal
    if actor is not None and actor.pk == owner.pk:
        return forbidden(MSG_TRANSFER_TO_SELF)
    if refusal := may_own_service_account(owner):
        return refusal
    from django.apps import apps
    from django.utils.module_loading import import_string

    for app_config in apps.get_app_configs():
        check = getattr(app_config, "service_account_owner_conflict", None)
        if check and (refusal := import_string(check)(account, owner)):
            return refusal
    return None


def may_manage_service_account(actor: User | None, account: ServiceAccount) -> Refusal | None:
    """Rotate the secret or revoke: administrators and the owner (while they may own it)."""
    if actor is None or holds_role(actor, Role.ADMIN):
        return None
    if actor.pk == account.owner_id and may_own_service_account(actor) is None:
        return None
    return forbidden(MSG_MANAGE_SA_FORBIDDEN)


def service_accounts_visible_to(viewer: User) -> Q:
    """Administrators, privacy officers and auditors see every service account; owners see
    their own."""
    if holds_role(viewer, Role.ADMIN, Role.PRIVACY_OFFICER, Role.AUDITOR):
        return Q()
    if is_active_person(viewer):
        return Q(owner=viewer)
    return Q(pk__in=[])


def service_account_usable(account: ServiceAccount) -> Refusal | None:
    """A service account acts only while it is not revoked and its accountable owner is an
    active person holding a role that may run jobs."""
    if not account.is_active or not account.user.is_active:
        return forbidden(MSG_SA_REVOKED)
    if may_own_service_account(account.owner) is not None:
        return forbidden(MSG_OWNER_INACTIVE)
    return None


def principal_usable(user: User) -> Refusal | None:
    """Whether the caller may act at all: a person while active, a service account while
    ``service_account_usable``."""
    if not user.is_active:
        return forbidden(MSG_SA_REVOKED if user.is_service_account else MSG_ACCOUNT_INACTIVE)
    if user.is_service_account:
        return service_account_usable(user.service_account)
    return None


# --- the guard: roles and flags change only through the roles service ------------------------


class RolesOutsideService(RuntimeError):
    """A write to role groups, the staff flag or the superuser flag that did not go through
    governance.accounts.services (which checks who may, and records the change)."""


_in_service: contextvars.ContextVar[bool] = contextvars.ContextVar("roles_service", default=False)

MSG_OUTSIDE = (
    "Roles, the staff flag and the superuser flag change only through the roles service "
    "(governance.accounts.services), which checks who may and records the change."
)


@contextmanager
def roles_service() -> Iterator[None]:
    """The roles service's writes happen inside this block."""
    token = _in_service.set(True)
    try:
        yield
    finally:
        _in_service.reset(token)


def guard_role_groups(sender, instance, action, reverse, model, pk_set, **kwargs) -> None:
    """m2m_changed on User.groups: refuse role-group changes outside the roles service."""
    if action not in ("pre_add", "pre_remove", "pre_clear") or _in_service.get():
        return
    from django.contrib.auth.models import Group

    if reverse:  # group.user_set.add(...): ``instance`` is the group
        touched = instance.name in Role.values
    elif action == "pre_clear":
        touched = instance.groups.filter(name__in=Role.values).exists()
    else:
        touched = Group.objects.filter(pk__in=pk_set or (), name__in=Role.values).exists()
    if touched:
        raise RolesOutsideService(MSG_OUTSIDE)


def guard_flags(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    """pre_save on User: refuse changes of is_staff / is_superuser outside the roles service.
    A new account (createsuperuser) is not a change."""
    if raw or instance.pk is None or _in_service.get():
        return
    if update_fields is not None and not {"is_staff", "is_superuser"} & set(update_fields):
        return
    stored = User.objects.filter(pk=instance.pk).values("is_staff", "is_superuser").first()
    if stored is None:
        return
    if (stored["is_staff"], stored["is_superuser"]) != (instance.is_staff, instance.is_superuser):
        raise RolesOutsideService(MSG_OUTSIDE)
