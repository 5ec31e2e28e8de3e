"""Content negotiation after the permission check: a caller who may not call an operation
learns 401/403, not which media types it would have been answered in (406)."""

from __future__ import annotations

from rest_framework.negotiation import DefaultContentNegotiation


class PermissionFirstNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        view = (getattr(request, "parser_context", None) or {}).get("view")
        if view is not None:
            view.check_permissions(request)  # raises NotAuthenticated / PermissionDenied
        return super().select_renderer(request, renderers, format_suffix)
