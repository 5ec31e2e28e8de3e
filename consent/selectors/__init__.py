"""Reads for the consent app. Split by subject: purposes, subjects (states, histories,
receipts), history (as_of questions), stats (portal charts)."""

from __future__ import annotations

from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from consent import policy
from consent.models import ConsentState, Purpose
from consent.selectors.history import answer_digest, valid_subject_pks, valid_subjects_stream
from consent.selectors.purposes import (
    notice_list,
    purpose_get_for,
    purpose_in_force,
    purpose_list,
    purpose_versions,
    purposes_with_notices,
)
from consent.selectors.stats import line_chart, monthly_flows, state_summary
from consent.selectors.subjects import (
    known_namespaces,
    receipt_build,
    subject_events,
    subject_get_for,
    subject_record_purpose,
    subject_states,
    usual_namespace,
)
from governance.accounts.models import User
from governance.accounts.policy import holds_role
from governance.accounts.roles import Role

__all__ = [
    "answer_digest",
    "dashboard_panels",
    "known_namespaces",
    "line_chart",
    "monthly_flows",
    "notice_list",
    "purpose_get_for",
    "purpose_in_force",
    "purpose_list",
    "purpose_versions",
    "purposes_with_notices",
    "receipt_build",
    "state_summary",
    "subject_events",
    "subject_get_for",
    "subject_record_purpose",
    "subject_states",
    "usual_namespace",
    "valid_subject_pks",
    "valid_subjects_stream",
]


def dashboard_panels(user: User) -> list[dict]:
    """The dashboard's consent panel, for whoever may see purposes."""
    if policy.may_view_purposes(user) is not None:
        return []
    counts = {
        row["status"]: row["n"]
        for row in Purpose.objects.values("status").annotate(n=Count("id")).order_by()
    }
    stats = [
        ("Active purposes", counts.get(Purpose.Status.ACTIVE, 0)),
        ("Purposes awaiting activation", counts.get(Purpose.Status.SUBMITTED, 0)),
    ]
    todo = []
    if holds_role(user, Role.PRIVACY_OFFICER):
        for slug, version, name in (
            Purpose.objects.filter(policy.activatable_by(user))
            .order_by("submitted_at")
            .values_list("slug", "version", "name")[:10]
        ):
            todo.append(
                {
                    "label": f"Activate {name} (v{version}): legal sign-off",
                    "count": "",
                    "url": reverse("consent:purpose-version", args=[slug, version]) + "#sign-off",
                    "urgent": True,
                    "testid": "activate-purpose",
                }
            )
    if policy.may_see_stats(user) is None:
        valid = (
            ConsentState.objects.filter(purpose__status=Purpose.Status.ACTIVE)
            .filter(policy.valid_at_q(timezone.now()))
            .count()
        )
        stats.append(("Valid consents (active purposes)", valid))
    if policy.may_see_stats(user) is None:
        for slug, version, name in (
            Purpose.objects.filter(status=Purpose.Status.ACTIVE, legal_basis="consent")
            .order_by("slug")
            .values_list("slug", "version", "name")[:3]
        ):
            todo.append(
                {
                    "label": f"Consent over time: {name}",
                    "count": "",
                    "url": reverse("consent:purpose-stats", args=[slug, version]),
                    "testid": "consent-chart-link",
                }
            )
    return [
        {
            "role": "Purposes and consent",
            "stats": stats,
            "todo": todo,
            "link": ("Purposes registry", reverse("consent:purpose-list")),
            "testid": "consent-panel",
        }
    ]
