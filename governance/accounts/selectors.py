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


def service_account_requests(*, viewer: User):
    """Requests for service accounts the viewer may see (``policy``: administrators all,
    everyone else their own), pending first."""
    from django.db.models import Case, IntegerField, Value, When

    from governance.accounts.models import ServiceAccountRequest

    return (
        ServiceAccountRequest.objects.filter(policy.service_account_requests_visible_to(viewer))
        .select_related("requested_by", "decided_by", "service_account")
        .annotate(
            pending_first=Case(
                When(status=ServiceAccountRequest.Status.PENDING, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
        .order_by("pending_first", "-created_at", "-id")
    )


def service_account_request_get_for(*, viewer: User, pk: int):
    from governance.errors import NotFound

    found = service_account_requests(viewer=viewer).filter(pk=pk).first()
    if found is None:
        raise NotFound(policy.MSG_SA_REQUEST_NOT_FOUND)
    return found
