"""The default API permission: an authenticated caller that may act now.

A service account whose accountable owner left (or lost every role that may run jobs) still
authenticates — so the check API can answer ``deny`` with ``owner_inactive`` and record it —
but every other operation refuses it with the rule's message
(``governance.accounts.policy.principal_usable``)."""

from __future__ import annotations

from rest_framework.permissions import IsAuthenticated

from governance.accounts.policy import principal_usable


class IsUsablePrincipal(IsAuthenticated):
    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        refusal = principal_usable(request.user)
        if refusal is not None:
            self.message = refusal.message
            return False
        return True
