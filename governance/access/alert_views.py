"""The alerts page (/access/alerts/): alerts on unusual access, open first, with an
acknowledge button for privacy officers, administrators and the stewards of the dataset.
Auditors read; everyone else gets 403. Reads go through the selectors, writes through
``governance.access.alerts``."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from governance.access import selectors
from governance.access.alerts import alert_acknowledge, can_acknowledge
from governance.errors import ApplicationError, NotFound, NotPermitted

MSG_ALERT_ACKNOWLEDGED = "Alert acknowledged."


@login_required
@require_http_methods(["GET", "POST"])
def alerts(request):
    user = request.user
    try:
        if request.method == "POST":
            alert = selectors.alert_get_for(viewer=user, pk=request.POST.get("alert"))
            try:
                alert_acknowledge(actor=user, alert=alert)
            except NotPermitted:
                raise
            except ApplicationError as error:
                messages.error(request, error.message)
            else:
                messages.success(request, MSG_ALERT_ACKNOWLEDGED)
            return redirect("access:alerts")
        alert_list = list(selectors.alerts_visible(viewer=user)[:500])
    except NotFound as error:
        raise Http404(error.message) from None
    except NotPermitted as error:
        raise PermissionDenied(error.message) from None
    rows = [(alert, can_acknowledge(user, alert)) for alert in alert_list]
    return render(
        request,
        "access/alerts.html",
        {"rows": rows, "open_count": sum(1 for a in alert_list if a.acknowledged_at is None)},
    )
