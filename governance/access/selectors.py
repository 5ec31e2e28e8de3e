"""Reads of access governance. Who sees what is governance/access/policy.py (its filter
forms), applied here, never in templates."""

from __future__ import annotations

from django.db.models import F, QuerySet
from django.urls import reverse
from django.utils import timezone

from datasets.models import Dataset
from governance.access import policy
from governance.access.models import (
    AccessRequest,
    Alert,
    Grant,
    PurposeApproval,
    TrainingAttestation,
)
from governance.access.services.common import acknowledged_grant_ids
from governance.accounts.models import User
from governance.accounts.policy import holds_role
from governance.errors import NotFound
from governance.policy import require

MSG_REQUEST_NOT_FOUND = "No such access request."
MSG_GRANT_NOT_FOUND = "No such grant."
MSG_ALERT_NOT_FOUND = "No such alert."
MSG_ALERTS_FORBIDDEN = policy.MSG_ALERTS_FORBIDDEN


def grants_mine(*, user: User) -> QuerySet[Grant]:
    """Grants the user can use: their own, their roles', and those of service accounts they own."""
    return (
        Grant.objects.filter(policy.grants_of(user))
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
    queryset = queryset.filter(policy.grants_visible_to(viewer))
    if dataset is not None:
        queryset = queryset.filter(dataset=dataset)
    return queryset.order_by("-created_at")


def grant_get_for(*, viewer: User, pk) -> Grant:
    try:
        return grants_visible(viewer=viewer).get(pk=pk)
    except (Grant.DoesNotExist, ValueError, TypeError):
        raise NotFound(MSG_GRANT_NOT_FOUND) from None


def acknowledged_ids(*, user: User, grants, current=None) -> set[int]:
    """Grants whose current terms `user` acknowledged."""
    return acknowledged_grant_ids(grants, user=user, current=current)


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
    return queryset.filter(policy.requests_visible_to(viewer))


def requests_mine(*, user: User) -> QuerySet[AccessRequest]:
    return requests_visible(viewer=user).filter(requester=user)


def requests_inbox(*, user: User) -> QuerySet[AccessRequest]:
    """Pending requests this user may approve now: ``policy.approvable_by``, the same rule as
    the approve button."""
    return requests_visible(viewer=user).filter(policy.approvable_by(user)).order_by("created_at")


def request_get_for(*, viewer: User, pk) -> AccessRequest:
    try:
        return requests_visible(viewer=viewer).get(pk=pk)
    except (AccessRequest.DoesNotExist, ValueError, TypeError):
        raise NotFound(MSG_REQUEST_NOT_FOUND) from None


def purpose_approvals(
    *, viewer: User | None = None, dataset: Dataset | None = None, live_only: bool = False
) -> QuerySet[PurposeApproval]:
    queryset = PurposeApproval.objects.select_related("dataset", "purpose", "approved_by")
    if viewer is not None:
        queryset = queryset.filter(policy.purpose_approvals_visible_to(viewer))
    if dataset is not None:
        queryset = queryset.filter(dataset=dataset)
    if live_only:
        queryset = queryset.filter(revoked_at=None)
    return queryset


def training_list(*, viewer: User) -> QuerySet[TrainingAttestation]:
    queryset = TrainingAttestation.objects.select_related("user", "recorded_by")
    return queryset.filter(policy.training_visible_to(viewer))


def dataset_links(viewer: User, dataset: Dataset) -> list[tuple[str, str]]:
    """Links the catalog's dataset page shows (datasets.apps hook): who has access."""
    links = []
    if policy.may_see_dataset_access(viewer, dataset) is None:
        links.append(("Who has access", reverse("access:dataset", args=[dataset.slug])))
    if policy.may_view_budget(viewer, dataset) is None:
        links.append(("Privacy budget", reverse("access:budget", args=[dataset.slug])))
    return links


def dashboard_panels(user: User) -> list[dict]:
    panels = []
    now = timezone.now()
    mine = grants_mine(user=user).filter(status=Grant.Status.ACTIVE, expires_at__gt=now)
    inbox = requests_inbox(user=user).count()
    if holds_role(user, "engineer") or mine.exists():
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
    if holds_role(user, "steward", "privacy_officer"):
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


def alerts_visible(*, viewer: User) -> QuerySet[Alert]:
    """Alerts the viewer may see (``policy.alerts_visible_to``), open first; NotPermitted for
    people who see no alerts at all."""
    require(policy.may_view_alerts(viewer))
    return (
        Alert.objects.select_related("acknowledged_by")
        .filter(policy.alerts_visible_to(viewer))
        .order_by(F("acknowledged_at").desc(nulls_first=True), "-created_at", "-id")
    )


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
