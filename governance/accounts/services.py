"""Writes for people, roles and service accounts. Each writes its audit event in the same
transaction as the change."""

from __future__ import annotations

import re

from django.contrib.auth.models import Group
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import AccessToken, RefreshToken, get_application_model

from governance.accounts import policy
from governance.accounts.models import (
    SERVICE_USERNAME_PREFIX,
    ServiceAccount,
    ServiceAccountRequest,
    User,
)
from governance.accounts.roles import Role
from governance.audit import services as audit
from governance.errors import ApplicationError, Conflict
from governance.policy import require

SERVICE_ACCOUNT_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,62}[a-z0-9])$")

MSG_NAME_INVALID = (
    "A service account name is 3-64 characters of lowercase letters, digits and hyphens, "
    "starting and ending with a letter or digit."
)
MSG_NAME_TAKEN = "A service account with this name already exists."
MSG_CREATE_FORBIDDEN = policy.MSG_CREATE_SA_FORBIDDEN
MSG_MANAGE_FORBIDDEN = policy.MSG_MANAGE_SA_FORBIDDEN
MSG_ALREADY_REVOKED = "This service account is already revoked."
MSG_REASON_REQUIRED = "Give a reason for revoking the service account."
MSG_REASON = "Give a reason."
MSG_UNKNOWN_ROLE = "Unknown role: {role}."
MSG_ROLES_FORBIDDEN = policy.MSG_ROLES_FORBIDDEN
MSG_ALREADY_INACTIVE = "This account is already inactive."
MSG_SERVICE_USERNAME = f"Usernames starting with '{SERVICE_USERNAME_PREFIX}' are reserved."


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


roles_changed = Signal()  # sender=User, user, before: set[str], after: set[str], actor


def _drop_permission_caches(user: User) -> None:
    for attr in (
        "_perm_cache",
        "_user_perm_cache",
        "_group_perm_cache",
        "_roles_cache",
        "_governed_perms",
    ):
        user.__dict__.pop(attr, None)
    if hasattr(user, "_prefetched_objects_cache"):
        user._prefetched_objects_cache.pop("groups", None)


@audit.records_refusal("user.roles_refused", target="user", actor="actor")
@transaction.atomic
def user_roles_set(*, user: User, roles: list[str] | tuple[str, ...], actor: User | None) -> User:
    """Make ``roles`` exactly the user's roles. Admins become staff (Django admin access).
    Nobody changes their own roles. Apps drop powers tied to a removed role (the catalog's
    stewardships) through the ``roles_changed`` signal, inside this transaction."""
    require(policy.may_change_roles(actor, user))
    wanted = set(roles)
    unknown = wanted - set(Role.values)
    if unknown:
        raise ApplicationError(MSG_UNKNOWN_ROLE.format(role=", ".join(sorted(unknown))))
    caller_copy, user = user, User.objects.select_for_update().get(pk=user.pk)
    before = set(user.roles)
    role_groups = Group.objects.filter(name__in=Role.values)
    with policy.roles_service():
        user.groups.remove(*[g for g in role_groups if g.name not in wanted])
        user.groups.add(*[g for g in role_groups if g.name in wanted])
        is_staff = Role.ADMIN in wanted
        if user.is_staff != is_staff:
            user.is_staff = is_staff
            user.save(update_fields=["is_staff"])
    _drop_permission_caches(user)
    _drop_permission_caches(caller_copy)
    audit.record(
        action="user.roles_changed",
        target=user,
        actor=actor,
        data={"before": sorted(before), "after": sorted(wanted)},
    )
    roles_changed.send(sender=User, user=user, before=before, after=wanted, actor=actor)
    return user


@audit.records_refusal("user.superuser_refused", target="user", actor="actor")
@transaction.atomic
def user_superuser_set(*, user: User, value: bool, actor: User | None) -> User:
    """Grant or remove superuser status: only a superuser may, never for themself."""
    require(policy.may_set_superuser(actor, user))
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.is_superuser == value:
        return user
    with policy.roles_service():
        user.is_superuser = value
        user.save(update_fields=["is_superuser"])
    _drop_permission_caches(user)
    audit.record(
        action="user.superuser_changed", target=user, actor=actor, data={"superuser": value}
    )
    return user


@audit.records_refusal("user.deactivation_refused", target="user", actor="actor")
@transaction.atomic
def user_deactivate(*, user: User, actor: User | None, reason: str) -> User:
    """A person leaves: the account can no longer sign in, its roles give nothing, and the
    service accounts it owns stop working until another owner is named. Kept for the audit
    trail (people are never deleted)."""
    require(policy.may_deactivate(actor, user))
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(MSG_REASON, {"field": "reason"})
    user = User.objects.select_for_update().get(pk=user.pk)
    if not user.is_active:
        raise Conflict(MSG_ALREADY_INACTIVE)
    user.is_active = False
    user.save(update_fields=["is_active"])
    owned = list(user.owned_service_accounts.filter(revoked_at=None).values_list("name", flat=True))
    audit.record(
        action="user.deactivated",
        target=user,
        actor=actor,
        data={"reason": reason, "service_accounts_stopped": owned},
    )
    return user


@audit.records_refusal("service_account.refused", actor="actor")
@transaction.atomic
def service_account_create(
    *,
    name: str,
    owner: User,
    actor: User | None,
    description: str = "",
    fulfils: ServiceAccountRequest | None = None,
) -> tuple[ServiceAccount, str]:
    """Create a service account and its OAuth2 client-credentials application. With
    ``fulfils``, the pending request it answers is marked created (its owner is the person who
    asked).

    Returns the account and its client secret. The secret is stored hashed and this is the only
    time it is available: show it once, never log it."""
    require(policy.may_create_service_account(actor))
    if fulfils is not None:
        fulfils = ServiceAccountRequest.objects.select_for_update().get(pk=fulfils.pk)
        if fulfils.status != ServiceAccountRequest.Status.PENDING:
            raise Conflict(MSG_SA_REQUEST_DECIDED)
        if owner.pk != fulfils.requested_by_id:
            raise ApplicationError(MSG_SA_REQUEST_OWNER, {"field": "owner"})
    if not SERVICE_ACCOUNT_NAME.match(name or ""):
        raise ApplicationError(MSG_NAME_INVALID, {"field": "name"})
    require(policy.may_own_service_account(owner))
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
        data={
            "owner": owner.username,
            "client_id": application.client_id,
            **({"request": fulfils.pk} if fulfils is not None else {}),
        },
    )
    if fulfils is not None:
        fulfils.status = ServiceAccountRequest.Status.CREATED
        fulfils.service_account = service_account
        fulfils.decided_by, fulfils.decided_at = actor, timezone.now()
        fulfils.save(update_fields=["status", "service_account", "decided_by", "decided_at"])
        audit.record(
            action="service_account.request_fulfilled",
            target=fulfils,
            actor=actor,
            data={"request": fulfils.pk, "service_account": name},
        )
        _notify_requester(
            fulfils,
            f"Service account {name} created",
            f"An administrator created the service account {name} you asked for. Rotate its "
            f"secret on its page to get credentials you alone have seen: "
            f"{_link('service-account-detail', name)}",
        )
    return service_account, secret


MSG_SA_REQUEST_DECIDED = "This service account request has already been decided."
MSG_SA_REQUEST_OWNER = "The account belongs to the person who asked for it."
MSG_SA_REQUEST_PENDING = "You already asked for a service account with this name."
MSG_SA_REQUEST_DESCRIPTION = (
    "Say which job will use the account and which datasets it will read (at least 20 characters)."
)


def _link(name: str, *args) -> str:
    from django.conf import settings
    from django.urls import reverse

    return f"{settings.SITE_URL.rstrip('/')}{reverse(name, args=args)}"


def _notify_requester(request: ServiceAccountRequest, subject: str, body: str) -> None:
    from django.conf import settings
    from django.core.mail import send_mail

    address = request.requested_by.email
    if address:
        transaction.on_commit(
            lambda: send_mail(
                f"[Governance] {subject}",
                body,
                settings.DEFAULT_FROM_EMAIL,
                [address],
                fail_silently=True,
            )
        )


@audit.records_refusal("service_account.request_refused", actor="actor")
@transaction.atomic
def service_account_request_create(
    *, actor: User, name: str, description: str
) -> ServiceAccountRequest:
    """Ask an administrator for a service account the asker will own. Every problem is
    reported at once (``fields``)."""
    require(policy.may_request_service_account(actor))
    name = (name or "").strip()
    description = (description or "").strip()
    problems = {}
    if not SERVICE_ACCOUNT_NAME.match(name):
        problems["name"] = MSG_NAME_INVALID
    elif ServiceAccount.objects.filter(name=name).exists():
        problems["name"] = MSG_NAME_TAKEN
    elif ServiceAccountRequest.objects.filter(
        name=name, status=ServiceAccountRequest.Status.PENDING
    ).exists():
        problems["name"] = MSG_SA_REQUEST_PENDING
    if len(description) < 20:
        problems["description"] = MSG_SA_REQUEST_DESCRIPTION
    if problems:
        field, message = next(iter(problems.items()))
        raise ApplicationError(message, {"field": field, "fields": problems})
    request = ServiceAccountRequest.objects.create(
        name=name, description=description, requested_by=actor
    )
    audit.record(
        action="service_account.requested",
        target=request,
        actor=actor,
        data={"request": request.pk, "name": name},
    )
    admins = User.objects.filter(
        groups__name=Role.ADMIN, is_active=True, kind=User.Kind.PERSON
    ).exclude(email="")
    addresses = sorted(set(admins.values_list("email", flat=True)))
    if addresses:
        from django.conf import settings
        from django.core.mail import send_mail

        body = (
            f"{actor.username} asks for the service account {name}: {description}\n"
            f"Create it or decline: {_link('service-account-list')}"
        )
        transaction.on_commit(
            lambda: send_mail(
                f"[Governance] Service account requested: {name}",
                body,
                settings.DEFAULT_FROM_EMAIL,
                addresses,
                fail_silently=True,
            )
        )
    return request


@audit.records_refusal("service_account.request_refused", target="request", actor="actor")
@transaction.atomic
def service_account_request_decline(
    *, actor: User, request: ServiceAccountRequest, reason: str
) -> ServiceAccountRequest:
    request = ServiceAccountRequest.objects.select_for_update().get(pk=request.pk)
    require(policy.may_decide_service_account_request(actor, request))
    if request.status != ServiceAccountRequest.Status.PENDING:
        raise Conflict(MSG_SA_REQUEST_DECIDED)
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(MSG_REASON, {"field": "reason"})
    request.status = ServiceAccountRequest.Status.DECLINED
    request.decided_by, request.decided_at = actor, timezone.now()
    request.decision_reason = reason
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    audit.record(
        action="service_account.request_declined",
        target=request,
        actor=actor,
        data={"request": request.pk, "name": request.name, "reason": reason},
    )
    _notify_requester(
        request,
        f"Service account {request.name} declined",
        f"An administrator declined your request for {request.name}: {reason}",
    )
    return request


@audit.records_refusal("service_account.refused", target="service_account", actor="actor")
@transaction.atomic
def service_account_rotate_secret(*, service_account: ServiceAccount, actor: User | None) -> str:
    """Issue a new client secret; the old one and every token issued with it stop working."""
    service_account = ServiceAccount.objects.select_for_update().get(pk=service_account.pk)
    require(policy.may_manage_service_account(actor, service_account))
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


@audit.records_refusal("service_account.refused", target="service_account", actor="actor")
@transaction.atomic
def service_account_revoke(
    *, service_account: ServiceAccount, actor: User | None, reason: str
) -> ServiceAccount:
    """Revoke for good: tokens are deleted, the secret is replaced by one nobody knows, and the
    identity is deactivated. The account stays, so the audit trail keeps its actor."""
    service_account = ServiceAccount.objects.select_for_update().get(pk=service_account.pk)
    require(policy.may_manage_service_account(actor, service_account))
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


@audit.records_refusal("service_account.refused", target="service_account", actor="actor")
@transaction.atomic
def service_account_transfer(
    *, service_account: ServiceAccount, owner: User, actor: User | None, reason: str
) -> ServiceAccount:
    """Name a new accountable owner (an administrator's act, e.g. when the owner left). The
    secret stays; the new owner must acknowledge the terms of its grants before it is used."""
    service_account = ServiceAccount.objects.select_for_update().get(pk=service_account.pk)
    require(policy.may_transfer_service_account(actor, service_account, owner))
    if not service_account.is_active:
        raise Conflict(MSG_ALREADY_REVOKED)
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(MSG_REASON, {"field": "reason"})
    before = service_account.owner.username
    service_account.owner = owner
    service_account.save(update_fields=["owner"])
    application = service_account.application
    application.user = owner
    application.save(update_fields=["user", "updated"])
    audit.record(
        action="service_account.owner_changed",
        target=service_account,
        actor=actor,
        data={"before": before, "after": owner.username, "reason": reason},
    )
    return service_account
