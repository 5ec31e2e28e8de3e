"""Reads of purposes and notices, with permission checks."""

from __future__ import annotations

from django.db.models import Count, Prefetch, QuerySet

from consent import policy
from consent.models import NoticeVersion, Purpose
from consent.policy import purpose_in_force  # noqa: F401  (re-exported)
from governance.accounts.models import User
from governance.errors import NotFound
from governance.policy import require

MSG_VIEW_FORBIDDEN = policy.MSG_VIEW_FORBIDDEN
MSG_PURPOSE_NOT_FOUND = policy.MSG_PURPOSE_NOT_FOUND
MSG_VERSION_NOT_FOUND = "Purpose '{slug}' has no version {version}."
MSG_NOT_IN_FORCE = policy.MSG_NOT_IN_FORCE
MSG_NOT_CONSENT = (
    "Purpose '{slug}' is processed under {basis}, not consent: there is no consent to filter on."
)


def _require_view(viewer: User | None) -> None:
    require(policy.may_view_purposes(viewer))


def purpose_list(*, viewer: User | None, status: str | None = None) -> QuerySet[Purpose]:
    """Every version of every purpose, newest version first within a slug, with its notice
    and event counts (one query)."""
    _require_view(viewer)
    queryset = (
        Purpose.objects.filter(policy.purposes_visible_to(viewer))
        .select_related("owner")
        .annotate(notice_count=Count("notices", distinct=True))
        .order_by("slug", "-version")
    )
    if status:
        queryset = queryset.filter(status=status)
    return queryset


def purpose_get_for(*, viewer: User | None, slug: str, version: int | None = None) -> Purpose:
    """One version; without ``version``, the one in use (active) or else the latest."""
    _require_view(viewer)
    versions = (
        Purpose.objects.filter(policy.purposes_visible_to(viewer))
        .select_related(
            "owner", "created_by", "submitted_by", "activated_by", "retired_by", "previous"
        )
        .filter(slug=slug)
    )
    if version is not None:
        purpose = versions.filter(version=version).first()
        if purpose is None:
            if not versions.exists():
                raise NotFound(MSG_PURPOSE_NOT_FOUND.format(slug=slug))
            raise NotFound(MSG_VERSION_NOT_FOUND.format(slug=slug, version=version))
        return purpose
    purpose = policy.purpose_current(slug) if versions.exists() else None
    if purpose is None:
        raise NotFound(MSG_PURPOSE_NOT_FOUND.format(slug=slug))
    return Purpose.objects.select_related(
        "owner", "created_by", "submitted_by", "activated_by", "retired_by", "previous"
    ).get(pk=purpose.pk)


def purpose_versions(*, purpose: Purpose) -> QuerySet[Purpose]:
    return Purpose.objects.filter(slug=purpose.slug).order_by("-version")


def notice_list(*, purpose: Purpose) -> QuerySet[NoticeVersion]:
    return purpose.notices.select_related("published_by").order_by("-version")


def purposes_with_notices(*, viewer: User | None, status: str | None = None) -> QuerySet[Purpose]:
    """For the API: purposes with their notices prefetched (two queries)."""
    _require_view(viewer)
    queryset = (
        Purpose.objects.filter(policy.purposes_visible_to(viewer))
        .select_related("owner")
        .prefetch_related(Prefetch("notices", queryset=NoticeVersion.objects.order_by("version")))
    )
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("slug", "-version")
