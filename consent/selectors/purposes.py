"""Reads of purposes and notices, with permission checks."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Prefetch, Q, QuerySet

from consent.models import NoticeVersion, Purpose
from governance.accounts.models import User
from governance.errors import ApplicationError, NotFound, NotPermitted

MSG_VIEW_FORBIDDEN = "You do not have permission to see purposes."
MSG_PURPOSE_NOT_FOUND = "There is no purpose '{slug}'."
MSG_VERSION_NOT_FOUND = "Purpose '{slug}' has no version {version}."
MSG_NOT_IN_FORCE = "Purpose '{slug}' was not active at {moment}; no version of it was in force."
MSG_NOT_CONSENT = (
    "Purpose '{slug}' is processed under {basis}, not consent: there is no consent to filter on."
)


def _require_view(viewer: User | None) -> None:
    if viewer is not None and not viewer.has_perm("consent.view_purpose"):
        raise NotPermitted(MSG_VIEW_FORBIDDEN)


def purpose_list(*, viewer: User | None, status: str | None = None) -> QuerySet[Purpose]:
    """Every version of every purpose, newest version first within a slug, with its notice
    and event counts (one query)."""
    _require_view(viewer)
    queryset = (
        Purpose.objects.select_related("owner")
        .annotate(notice_count=Count("notices", distinct=True))
        .order_by("slug", "-version")
    )
    if status:
        queryset = queryset.filter(status=status)
    return queryset


def purpose_get_for(*, viewer: User | None, slug: str, version: int | None = None) -> Purpose:
    """One version; without ``version``, the one in use (active) or else the latest."""
    _require_view(viewer)
    versions = Purpose.objects.select_related(
        "owner", "created_by", "submitted_by", "activated_by", "retired_by", "previous"
    ).filter(slug=slug)
    if version is not None:
        purpose = versions.filter(version=version).first()
        if purpose is None:
            if not versions.exists():
                raise NotFound(MSG_PURPOSE_NOT_FOUND.format(slug=slug))
            raise NotFound(MSG_VERSION_NOT_FOUND.format(slug=slug, version=version))
        return purpose
    purpose = (
        versions.filter(status=Purpose.Status.ACTIVE).first()
        or versions.order_by("-version").first()
    )
    if purpose is None:
        raise NotFound(MSG_PURPOSE_NOT_FOUND.format(slug=slug))
    return purpose


def purpose_versions(*, purpose: Purpose) -> QuerySet[Purpose]:
    return Purpose.objects.filter(slug=purpose.slug).order_by("-version")


def notice_list(*, purpose: Purpose) -> QuerySet[NoticeVersion]:
    return purpose.notices.select_related("published_by").order_by("-version")


def purpose_in_force(*, slug: str, at: datetime, consent_only: bool = True) -> Purpose:
    """The version of ``slug`` that was active at ``at``: what a question about that moment is
    answered with. Raises a domain error naming the purpose when there is none."""
    versions = Purpose.objects.filter(slug=slug)
    purpose = (
        versions.filter(activated_at__lte=at)
        .filter(Q(retired_at__isnull=True) | Q(retired_at__gt=at))
        .order_by("-activated_at")
        .first()
    )
    if purpose is None:
        if not versions.exists():
            raise ApplicationError(MSG_PURPOSE_NOT_FOUND.format(slug=slug), {"field": "purpose"})
        raise ApplicationError(
            MSG_NOT_IN_FORCE.format(slug=slug, moment=at.isoformat()), {"field": "purpose"}
        )
    if consent_only and not purpose.is_consent_based:
        raise ApplicationError(
            MSG_NOT_CONSENT.format(slug=slug, basis=purpose.get_legal_basis_display()),
            {"field": "purpose"},
        )
    return purpose


def purposes_with_notices(*, viewer: User | None, status: str | None = None) -> QuerySet[Purpose]:
    """For the API: purposes with their notices prefetched (two queries)."""
    _require_view(viewer)
    queryset = Purpose.objects.select_related("owner").prefetch_related(
        Prefetch("notices", queryset=NoticeVersion.objects.order_by("version"))
    )
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("slug", "-version")
