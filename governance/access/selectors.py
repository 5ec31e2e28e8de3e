from __future__ import annotations

from django.db.models import F, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import get_objects_for_user

from datasets.models import Dataset
from governance.access.models import (
    AccessRequest,
    Acknowledgement,
    Alert,
    Grant,
    PurposeApproval,
    TrainingAttestation,
)
from governance.access.services.common import is_steward_of, principal_q
from governance.accounts.models import User
from governance.errors import NotFound, NotPermitted

MSG_REQUEST_NOT_FOUND = "No such access request."
MSG_GRANT_NOT_FOUND = "No such grant."
MSG_ALERT_NOT_FOUND = "No such alert."


def _stewarded(user: User) -> QuerySet:
    return get_objects_for_user(
        user, "datasets.change_dataset", klass=Dataset, accept_global_perms=False
    ).values("pk")


def _sees_all(user: User) -> bool:
    return user.has_role("privacy_officer", "auditor", "admin")


def grants_mine(*, user: User) -> QuerySet[Grant]:
    """Grants the user can use: their own, their roles', and those of service accounts they own."""
    owned = User.objects.filter(service_account__owner=user).values("pk")
    return (
        Grant.objects.filter(principal_q(user) | Q(principal_user__in=owned))
        .select_related(
            "dataset",
            "purpose",
            "principal_user",
            "principal_group",
            "principal_user__service_account",
        )
        .order_by("status", "expires_at")
    )


def grants_visible(*, viewer: User, dataset: Dataset | None = None) -> QuerySet[Grant]:
    queryset = Grant.objects.select_related(
        "dataset",
        "purpose",
        "principal_user",
        "principal_group",
        "granted_by",
        "principal_user__service_account",
    )
    if not _sees_all(viewer):
        queryset = queryset.filter(
            Q(dataset__in=_stewarded(viewer)) | Q(pk__in=grants_mine(user=viewer).values("pk"))
        )
    if dataset is not None:
        queryset = queryset.filter(dataset=dataset)
    return queryset.order_by("-created_at")


def grant_get_for(*, viewer: User, pk) -> Grant:
    try:
        return grants_visible(viewer=viewer).get(pk=pk)
    except (Grant.DoesNotExist, ValueError, TypeError):
        raise NotFound(MSG_GRANT_NOT_FOUND) from None


def acknowledged_ids(*, user: User, grants) -> set[int]:
    return set(
        Acknowledgement.objects.filter(user=user, grant__in=grants).values_list(
            "grant_id", flat=True
        )
    )


def requests_visible(*, viewer: User) -> QuerySet[AccessRequest]:
    queryset = AccessRequest.objects.select_related(
        "dataset",
        "requester",
        "principal_user",
        "principal_group",
        "steward_approved_by",
        "privacy_approved_by",
        "decided_by",
    )
    if _sees_all(viewer):
        return queryset
    return queryset.filter(Q(requester=viewer) | Q(dataset__in=_stewarded(viewer)))


def requests_mine(*, user: User) -> QuerySet[AccessRequest]:
    return requests_visible(viewer=user).filter(requester=user)


def requests_inbox(*, user: User) -> QuerySet[AccessRequest]:
    """Pending requests waiting for this user's approval."""
    waiting = (
        Q(dataset__in=_stewarded(user), steward_approved_by=None)
        if user.has_role("steward")
        else Q(pk__in=[])
    )
    if user.has_role("privacy_officer"):
        waiting |= Q(needs_privacy_officer=True, privacy_approved_by=None)
    return (
        requests_visible(viewer=user)
        .filter(status=AccessRequest.Status.PENDING)
        .filter(waiting)
        .exclude(requester=user)
        .exclude(steward_approved_by=user)
        .exclude(privacy_approved_by=user)
        .order_by("created_at")
    )


def request_get_for(*, viewer: User, pk) -> AccessRequest:
    try:
        return requests_visible(viewer=viewer).get(pk=pk)
    except (AccessRequest.DoesNotExist, ValueError, TypeError):
        raise NotFound(MSG_REQUEST_NOT_FOUND) from None


def purpose_approvals(
    *, dataset: Dataset | None = None, live_only: bool = False
) -> QuerySet[PurposeApproval]:
    queryset = PurposeApproval.objects.select_related("dataset", "purpose", "approved_by")
    if dataset is not None:
        queryset = queryset.filter(dataset=dataset)
    if live_only:
        queryset = queryset.filter(revoked_at=None)
    return queryset


def training_list(*, viewer: User) -> QuerySet[TrainingAttestation]:
    queryset = TrainingAttestation.objects.select_related("user", "recorded_by")
    if _sees_all(viewer):
        return queryset
    return queryset.filter(user=viewer)


def can_manage_access(viewer: User, dataset: Dataset) -> bool:
    """Who may revoke grants of a dataset: its stewards, privacy officers, administrators."""
    return viewer.has_role("privacy_officer", "admin") or is_steward_of(viewer, dataset)


def dataset_links(viewer: User, dataset: Dataset) -> list[tuple[str, str]]:
    """Links the catalog's dataset page shows (datasets.apps hook): who has access."""
    if can_manage_access(viewer, dataset) or viewer.has_role("auditor"):
        return [("Who has access", reverse("access:dataset", args=[dataset.slug]))]
    return []


def dashboard_panels(user: User) -> list[dict]:
    panels = []
    now = timezone.now()
    mine = grants_mine(user=user).filter(status=Grant.Status.ACTIVE, expires_at__gt=now)
    inbox = requests_inbox(user=user).count() if user.has_role("steward", "privacy_officer") else 0
    if user.has_role("engineer") or mine.exists():
        panels.append(
            {
                "role": "Your access",
                "stats": [
                    ("Active grants", mine.count()),
                    (
                        "Expiring within 7 days",
                        mine.filter(expires_at__lte=now + timezone.timedelta(days=7)).count(),
                    ),
                ],
                "link": ("My access", reverse("access:mine")),
            }
        )
    if inbox:
        panels.append(
            {
                "role": "Access requests",
                "stats": [("Waiting for you", inbox)],
                "link": ("Approvals inbox", reverse("access:inbox")),
            }
        )
    if user.has_role("steward", "privacy_officer"):
        open_alerts = alerts_open(viewer=user)
        count = open_alerts.count()
        if count:
            panels.append(
                {
                    "role": "Unusual access",
                    "stats": [
                        ("Open alerts", count),
                        ("High severity", open_alerts.filter(severity="high").count()),
                    ],
                    "link": ("Alerts", reverse("access:alerts")),
                }
            )
    return panels


# --- alerts ---------------------------------------------------------------------------------

MSG_ALERTS_FORBIDDEN = (
    "Only privacy officers, administrators, auditors and stewards see alerts on unusual access."
)


def stewarded_slugs(user: User) -> set[str]:
    return set(Dataset.objects.filter(pk__in=_stewarded(user)).values_list("slug", flat=True))


def alerts_can_view(viewer: User) -> bool:
    return viewer.is_active and viewer.has_role("privacy_officer", "admin", "auditor", "steward")


def alerts_visible(*, viewer: User) -> QuerySet[Alert]:
    """Alerts the viewer may see, open first: all of them for privacy officers, administrators
    and auditors; for stewards, those on their datasets (raises NotPermitted for others)."""
    if not alerts_can_view(viewer):
        raise NotPermitted(MSG_ALERTS_FORBIDDEN)
    queryset = Alert.objects.select_related("acknowledged_by").order_by(
        F("acknowledged_at").desc(nulls_first=True), "-created_at", "-id"
    )
    if _sees_all(viewer):
        return queryset
    slugs = sorted(stewarded_slugs(viewer))
    if not slugs:
        return queryset.none()
    return queryset.filter(Q(dataset__in=slugs) | Q(details__datasets__has_any_keys=slugs))


def alerts_open(*, viewer: User) -> QuerySet[Alert]:
    return alerts_visible(viewer=viewer).filter(acknowledged_at=None)


def alert_get_for(*, viewer: User, pk) -> Alert:
    try:
        return alerts_visible(viewer=viewer).get(pk=pk)
    except (Alert.DoesNotExist, ValueError, TypeError):
        raise NotFound(MSG_ALERT_NOT_FOUND) from None


def service_account_grants(viewer: User, account) -> dict:
    """The grants of a service account, for its page in the portal."""
    grants = grants_visible(viewer=viewer).filter(principal_user=account.user)
    return {"grants": grants, "now": timezone.now()}
