"""The navigation each role sees. Visibility here is convenience only: every view and
selector checks permissions again."""

from __future__ import annotations

from django.apps import apps
from django.urls import NoReverseMatch, reverse

from governance.accounts.roles import Role
from governance.policy import holds_permission


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "user_roles": []}
    roles = set(user.roles)
    items = [("Dashboard", reverse("dashboard"), "dashboard")]
    if roles & {Role.ADMIN, Role.ENGINEER, Role.PRIVACY_OFFICER, Role.AUDITOR} or holds_permission(
        user, "accounts.view_serviceaccount"
    ):
        items.append(("Service accounts", reverse("service-account-list"), "service-accounts"))
    items.extend(_app_navigation(user))
    items.append(("API docs", reverse("api-docs"), "api-docs"))
    if user.is_staff:
        items.append(("Admin", reverse("admin:index"), "admin"))
    role_labels = [Role(role).label for role in sorted(roles)]
    return {"nav_items": items, "user_roles": role_labels}


def _app_navigation(user) -> list[tuple[str, str, str]]:
    """Entries apps contribute with ``portal_nav = [{"label", "url", "key", "perm"}]`` on their
    AppConfig; shown to users holding ``perm`` (any of them, if a list)."""
    items = []
    for app_config in apps.get_app_configs():
        for entry in getattr(app_config, "portal_nav", []):
            perms = entry.get("perm") or []
            perms = [perms] if isinstance(perms, str) else list(perms)
            if perms and not any(holds_permission(user, p) for p in perms):
                continue
            try:
                items.append((entry["label"], reverse(entry["url"]), entry["key"]))
            except NoReverseMatch:
                continue
    return items
