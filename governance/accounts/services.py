"""Writes for people, roles and service accounts. Each writes its audit event in the same
transaction as the change."""

from __future__ import annotations

import re

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import AccessToken, RefreshToken, get_application_model

from governance.accounts.models import SERVICE_USERNAME_PREFIX, ServiceAccount, User
from governance.accounts.roles import Role
from governance.audit import services as audit
from governance.errors import ApplicationError, Conflict, NotPermitted

SERVICE_ACCOUNT_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,62}[a-z0-9])$")

MSG_NAME_INVALID = (
    "A service account name is 3-64 characters of lowercase letters, digits and hyphens, "
    "starting and ending with a letter or digit."
)
MSG_NAME_TAKEN = "A service account with this name already exists."
MSG_OWNER_NOT_PERSON = "The owner of a service account must be an active person, not a service."
MSG_CREATE_FORBIDDEN = "Only an administrator can create service accounts."
MSG_MANAGE_FORBIDDEN = "Only an administrator or the owner can manage this service account."
MSG_ALREADY_REVOKED = "This service account is already revoked."
MSG_REASON_REQUIRED = "Give a reason for revoking the service account."
MSG_UNKNOWN_ROLE = "Unknown role: {role}."
MSG_ROLES_FORBIDDEN = "Only an administrator can change roles."
MSG_SERVICE_USERNAME = f"Usernames starting with '{SERVICE_USERNAME_PREFIX}' are reserved."


def _can_manage(actor: User | None, service_account: ServiceAccount) -> bool:
    if actor is None:  # manage.py: whoever runs it has the server already
        return True
    return actor.has_perm("accounts.change_serviceaccount") or (
        service_account.owner_id == actor.pk
    )


@transaction.atomic
def user_create(
    *,
    username: str,
    email: str = "",
    password: str | None = None,
    roles: list[str] | tuple[str, ...] = (),
    first_name: str = "",
    last_name: str = "",
    actor: User | None = None,
) -> User:
    """Create a person. ``password=None`` leaves an unusable password (set it by reset)."""
    if username.startswith(SERVICE_USERNAME_PREFIX):
        raise ApplicationError(MSG_SERVICE_USERNAME, {"field": "username"})
    if User.objects.filter(username=username).exists():
        raise Conflict("A user with this username already exists.", {"field": "username"})
    user = User(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        kind=User.Kind.PERSON,
    )
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    user.save()
    audit.record(action="user.created", target=user, actor=actor)
    if roles:
        user_roles_set(user=user, roles=roles, actor=actor)
    return user


@transaction.atomic
def user_roles_set(*, user: User, roles: list[str] | tuple[str, ...], actor: User | None) -> User:
    """Make ``roles`` exactly the user's roles. Admins become staff (Django admin access)."""
    if actor is not None and not actor.has_perm("auth.change_group"):
        raise NotPermitted(MSG_ROLES_FORBIDDEN)
    wanted = set(roles)
    unknown = wanted - set(Role.values)
    if unknown:
        raise ApplicationError(MSG_UNKNOWN_ROLE.format(role=", ".join(sorted(unknown))))
    before = set(user.roles)
    role_groups = Group.objects.filter(name__in=Role.values)
    user.groups.remove(*[g for g in role_groups if g.name not in wanted])
    user.groups.add(*[g for g in role_groups if g.name in wanted])
    is_staff = Role.ADMIN in wanted
    if user.is_staff != is_staff:
        user.is_staff = is_staff
        user.save(update_fields=["is_staff"])
    # Drop cached permissions and prefetched groups.
    for attr in ("_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        user.__dict__.pop(attr, None)
    if hasattr(user, "_prefetched_objects_cache"):
        user._prefetched_objects_cache.pop("groups", None)
    audit.record(
        action="user.roles_changed",
        target=user,
        actor=actor,
        data={"before": sorted(before), "after": sorted(wanted)},
    )
    return user


@transaction.atomic
def service_account_create(
    *, name: str, owner: User, actor: User | None, description: str = ""
) -> tuple[ServiceAccount, str]:
    """Create a service account and its OAuth2 client-credentials application.

    Returns the account and its client secret. The secret is stored hashed and this is the only
    time it is available: show it once, never log it."""
    if actor is not None and not actor.has_perm("accounts.add_serviceaccount"):
        raise NotPermitted(MSG_CREATE_FORBIDDEN)
    if not SERVICE_ACCOUNT_NAME.match(name or ""):
        raise ApplicationError(MSG_NAME_INVALID, {"field": "name"})
    if owner is None or owner.is_service_account or not owner.is_active:
        raise ApplicationError(MSG_OWNER_NOT_PERSON, {"field": "owner"})
    username = f"{SERVICE_USERNAME_PREFIX}{name}"
    if (
        ServiceAccount.objects.filter(name=name).exists()
        or User.objects.filter(username=username).exists()
    ):
        raise Conflict(MSG_NAME_TAKEN, {"field": "name"})

    user = User(username=username, kind=User.Kind.SERVICE)
    user.set_unusable_password()
    user.save()
    secret = generate_client_secret()
    Application = get_application_model()
    application = Application.objects.create(
        name=name,
        user=owner,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=secret,  # hashed on save (hash_client_secret=True)
        hash_client_secret=True,
        skip_authorization=True,
    )
    service_account = ServiceAccount.objects.create(
        name=name,
        description=description,
        user=user,
        owner=owner,
        application=application,
        created_by=actor,
    )
    audit.record(
        action="service_account.created",
        target=service_account,
        actor=actor,
        data={"owner": owner.username, "client_id": application.client_id},
    )
    return service_account, secret


@transaction.atomic
def service_account_rotate_secret(*, service_account: ServiceAccount, actor: User | None) -> str:
    """Issue a new client secret; the old one and every token issued with it stop working."""
    service_account = ServiceAccount.objects.select_for_update().get(pk=service_account.pk)
    if not _can_manage(actor, service_account):
        raise NotPermitted(MSG_MANAGE_FORBIDDEN)
    if not service_account.is_active:
        raise Conflict(MSG_ALREADY_REVOKED)
    secret = generate_client_secret()
    application = service_account.application
    application.client_secret = secret
    application.save(update_fields=["client_secret", "updated"])
    revoked = _revoke_tokens(application)
    audit.record(
        action="service_account.secret_rotated",
        target=service_account,
        actor=actor,
        data={"tokens_revoked": revoked},
    )
    return secret


@transaction.atomic
def service_account_revoke(
    *, service_account: ServiceAccount, actor: User | None, reason: str
) -> ServiceAccount:
    """Revoke for good: tokens are deleted, the secret is replaced by one nobody knows, and the
    identity is deactivated. The account stays, so the audit trail keeps its actor."""
    service_account = ServiceAccount.objects.select_for_update().get(pk=service_account.pk)
    if not _can_manage(actor, service_account):
        raise NotPermitted(MSG_MANAGE_FORBIDDEN)
    if not service_account.is_active:
        raise Conflict(MSG_ALREADY_REVOKED)
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(MSG_REASON_REQUIRED, {"field": "reason"})
    application = service_account.application
    application.client_secret = generate_client_secret()
    application.save(update_fields=["client_secret", "updated"])
    revoked = _revoke_tokens(application)
    service_account.revoked_at = timezone.now()
    service_account.revoked_reason = reason
    service_account.save(update_fields=["revoked_at", "revoked_reason"])
    service_account.user.is_active = False
    service_account.user.save(update_fields=["is_active"])
    audit.record(
        action="service_account.revoked",
        target=service_account,
        actor=actor,
        data={"reason": reason, "tokens_revoked": revoked},
    )
    return service_account


def _revoke_tokens(application) -> int:
    RefreshToken.objects.filter(application=application).delete()
    count, _ = AccessToken.objects.filter(application=application).delete()
    return count
