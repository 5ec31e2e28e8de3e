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


def dataset_actions(viewer: User, datasets) -> dict[int, list[tuple[str, str, str]]]:
    """What the catalog offers per dataset (datasets.apps hook): "Request access", prefilled,
    on approved datasets for people who may request access. No query per dataset."""
    if policy.may_request(viewer) is not None:
        return {}
    base = reverse("access:request-create")
    return {
        d.pk: [("Request access", f"{base}?dataset={d.slug}", "request-access")]
        for d in datasets
        if d.status == "approved"
    }


def dashboard_panels(user: User) -> list[dict]:
    """What needs this person now, each item a link to where they act: for engineers their
    grants with days left (renewed in one click), their open requests and service accounts;
    for approvers their inbox and the grants on their datasets that run out; alerts."""
    panels = []
    now = timezone.now()
    soon = now + timezone.timedelta(days=7)
    mine = list(grants_mine(user=user).filter(status=Grant.Status.ACTIVE, expires_at__gt=now)[:50])
    if holds_role(user, "engineer") or mine:
        todo = []
        for grant in sorted(mine, key=lambda g: g.expires_at)[:5]:
            days = max(0, (grant.expires_at - now).days)
            todo.append(
                {
                    "label": f"{grant.dataset.slug} for {grant.purpose_slug}: {days} day"
                    f"{'' if days == 1 else 's'} left",
                    "count": days,
                    "url": reverse("access:mine") + f"#grant-{grant.pk}",
                    "urgent": grant.expires_at <= soon,
                    "renew": reverse("access:grant-renew", args=[grant.pk])
                    if grant.request_id
                    else "",
                    "testid": "grant-days-left",
                }
            )
        pending = requests_mine(user=user).filter(status=AccessRequest.Status.PENDING).count()
        todo.append(
            {
                "label": "Your requests waiting for approval",
                "count": pending,
                "url": reverse("access:requests") + "?status=pending",
            }
        )
        from governance.accounts.selectors import service_account_list

        accounts = service_account_list(viewer=user).filter(owner=user, revoked_at=None).count()
        todo.append(
            {
                "label": "Your service accounts" if accounts else "Ask for a service account",
                "count": accounts,
                "url": reverse("service-account-list")
                if accounts
                else reverse("service-account-request"),
            }
        )
        panels.append(
            {
                "role": "Your access",
                "todo": todo,
                "empty": "No active grants.",
                "link": ("Request access to a dataset", reverse("datasets:list")),
                "testid": "engineer-panel",
            }
        )
    inbox = requests_inbox(user=user).count()
    if inbox or holds_role(user, "steward", "privacy_officer"):
        todo = [
            {
                "label": "Access requests waiting for your decision",
                "count": inbox,
                "url": reverse("access:inbox"),
                "urgent": inbox > 0,
                "testid": "inbox-count",
            }
        ]
        if holds_role(user, "steward"):
            expiring = (
                grants_visible(viewer=user)
                .filter(status=Grant.Status.ACTIVE, expires_at__gt=now, expires_at__lte=soon)
                .filter(dataset__in=Dataset.objects.filter(_stewarded(user)))
                .count()
            )
            todo.append(
                {
                    "label": "Grants on your datasets expiring within 7 days",
                    "count": expiring,
                    "url": reverse("access:grants") + "?state=active&sort=expires",
                }
            )
        panel = {"role": "Access requests", "todo": todo, "testid": "approver-panel"}
        if holds_role(user, "steward"):
            slugs = list(
                Dataset.objects.filter(_stewarded(user)).values_list("slug", flat=True)[:50]
            )
            if slugs:
                panel["chart"] = {
                    "bars": decisions_per_day(datasets=slugs),
                    "title": "Check decisions on your datasets, last 14 days",
                    "unit": "allowed",
                    "second": "denied",
                }
        panels.append(panel)
    if policy.may_view_alerts(user) is None:
        open_alerts = alerts_open(viewer=user)
        count = open_alerts.count()
        high = open_alerts.filter(severity="high").count() if count else 0
        panels.append(
            {
                "role": "Unusual access",
                "todo": [
                    {
                        "label": "Open alerts",
                        "count": count,
                        "url": reverse("access:alerts"),
                        "urgent": high > 0,
                    },
                    {
                        "label": "High severity",
                        "count": high,
                        "url": reverse("access:alerts"),
                        "urgent": high > 0,
                    },
                ],
                "testid": "alerts-panel",
            }
        )
    return panels


def _stewarded(user: User):
    from datasets.policy import stewarded_by

    return stewarded_by(user)


def decisions_per_day(*, datasets: list[str], days: int = 14) -> list[tuple[str, int, int]]:
    """Check decisions (allow, deny) per day over the last ``days`` for these datasets, read
    from the ledger in one grouped query: [(day label, allowed, denied)]."""
    from django.db.models import Count
    from django.db.models.functions import TruncDate

    from governance.audit.models import LedgerEntry

    today = timezone.now().date()
    first = today - timezone.timedelta(days=days - 1)
    rows = (
        LedgerEntry.objects.filter(
            event="access.check",
            timestamp__date__gte=first,
            additional_data__dataset__in=datasets,
        )
        .annotate(day=TruncDate("timestamp"))
        .values("day", "additional_data__decision")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict = {}
    for row in rows:
        counts[(row["day"], row["additional_data__decision"])] = row["n"]
    series = []
    for offset in range(days):
        day = first + timezone.timedelta(days=offset)
        series.append(
            (day.strftime("%d %b"), counts.get((day, "allow"), 0), counts.get((day, "deny"), 0))
        )
    return series


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
