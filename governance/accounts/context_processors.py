"""The navigation each role sees. Visibility here is convenience only: every view and
selector checks permissions again."""

from __future__ import annotations

from django.urls import reverse

from governance.accounts.roles import Role


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "user_roles": []}
    roles = set(user.roles)
    items = [("Dashboard", reverse("dashboard"), "dashboard")]
    if roles & {Role.ADMIN, Role.ENGINEER, Role.PRIVACY_OFFICER, Role.AUDITOR} or user.has_perm(
        "accounts.view_serviceaccount"
    ):
        items.append(("Service accounts", reverse("service-account-list"), "service-accounts"))
    items.append(("API docs", reverse("api-docs"), "api-docs"))
    if user.is_staff:
        items.append(("Admin", reverse("admin:index"), "admin"))
    role_labels = [Role(role).label for role in sorted(roles)]
    return {"nav_items": items, "user_roles": role_labels}
