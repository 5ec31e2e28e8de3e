"""How portal views turn domain errors into responses — one helper for every app.

- ``NotFound`` → a 404 page; ``NotPermitted`` → a 403 page with the rule's message (the
  service already recorded the refusal in the ledger);
- any other ``ApplicationError`` (bad input, a conflict) → an error next to the form field it
  names (every field it names, when it carries ``fields``), or a message on the page the user
  returns to.

Views wrap themselves in ``@domain_errors`` and run each write through ``attempt``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse

from governance.errors import ApplicationError, NotFound, NotPermitted
from governance.policy import Refusal


def domain_errors(view):
    """Missing objects become 404 pages, refusals 403 pages (recorded in the ledger unless a
    service did already), and any other refusal that reaches the view (a conflict, bad input
    in the address) a page with its status and message — never a 500."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except NotFound as error:
            raise Http404(error.message) from None
        except NotPermitted as error:
            record_unrecorded(request, error)
            raise PermissionDenied(error.message) from None
        except ApplicationError as error:
            return TemplateResponse(
                request,
                "errors/refused.html",
                {"reason": error.message, "status": error.status_code},
                status=error.status_code,
            )

    return wrapped


def record_unrecorded(request, error: ApplicationError) -> None:
    """Put a refusal in the ledger unless the service that raised it did (``records_refusal``
    marks what it recorded): every refusal ends up there exactly once."""
    if getattr(error, "recorded", False):
        return
    from governance.audit.services import record_refusal

    user = getattr(request, "user", None)
    record_refusal(
        "portal.refused" if not request.path.startswith("/api/") else "api.refused",
        error,
        actor=user if getattr(user, "is_authenticated", False) else None,
        data={"method": request.method, "path": request.path[:300]},
    )
    error.recorded = True


def refuse(
    refusal: Refusal | None, *, record: str | None = None, request=None, target=None
) -> None:
    """In a view: stop with the page a refusal becomes (403, 404, or a 409-style message is
    raised as its error for ``domain_errors``/``attempt`` to show). With ``record``, the
    refusal is also a ledger event (for writes refused before they reach a service)."""
    if refusal is None:
        return
    error = refusal.error()
    if record:
        from governance.audit.services import record_refusal

        record_refusal(record, error, target=target, actor=getattr(request, "user", None))
    raise error


def form_error(form, error: ApplicationError) -> None:
    """Put a domain error next to the field(s) it names, or at the top of the form."""
    problems = error.extra.get("fields")
    if isinstance(problems, dict) and problems:
        for name, message in problems.items():
            form.add_error(name if name in form.fields else None, message)
        return
    field = error.extra.get("field")
    form.add_error(field if field in form.fields else None, error.message)


def attempt(
    request,
    write: Callable[[], Any],
    *,
    success: str | Callable[[Any], str] | None = None,
    form=None,
) -> tuple[bool, Any]:
    """Run one write. 404 and 403 propagate (to ``domain_errors``); any other refusal becomes
    a form error (with ``form``) or an error message. Returns (succeeded, result)."""
    try:
        result = write()
    except (NotFound, NotPermitted):
        raise
    except ApplicationError as error:
        if form is not None:
            form_error(form, error)
        else:
            messages.error(request, error.message)
        return False, None
    if success:
        messages.success(request, success(result) if callable(success) else success)
    return True, result
