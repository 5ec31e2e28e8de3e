from __future__ import annotations

from django.db.models import QuerySet

from governance.accounts import policy
from governance.accounts.models import ServiceAccount, User
from governance.errors import NotFound

MSG_SERVICE_ACCOUNT_NOT_FOUND = "No such service account."


def service_account_list(*, viewer: User) -> QuerySet[ServiceAccount]:
    """Admins, privacy officers and auditors see every service account; anyone else only the
    ones they own."""
    queryset = ServiceAccount.objects.select_related("owner", "application", "user")
    return queryset.filter(policy.service_accounts_visible_to(viewer))


def service_account_get_for(*, viewer: User, name: str) -> ServiceAccount:
    """The account, if the viewer may see it. An invisible account is reported as missing,
    so names cannot be probed."""
    try:
        return service_account_list(viewer=viewer).get(name=name)
    except ServiceAccount.DoesNotExist:
        raise NotFound(MSG_SERVICE_ACCOUNT_NOT_FOUND) from None


def service_account_for_application(*, application_id: int) -> ServiceAccount | None:
    return (
        ServiceAccount.objects.select_related("user", "owner")
        .filter(application_id=application_id)
        .first()
    )


def person_choices() -> QuerySet[User]:
    return User.objects.filter(kind=User.Kind.PERSON, is_active=True).order_by("username")
