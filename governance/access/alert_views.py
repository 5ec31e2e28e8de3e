"""The alerts page (/access/alerts/): alerts on unusual access, open first, with an
acknowledge form (the outcome and a note) for privacy officers, administrators and the
stewards of the dataset. Auditors read; everyone else gets 403. Reads go through the
selectors, writes through ``governance.access.alerts``."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from governance.access import policy, selectors
from governance.access.alerts import OUTCOMES, alert_acknowledge
from governance.access.models import Alert
from governance.portal import attempt, domain_errors

MSG_ALERT_ACKNOWLEDGED = "Alert acknowledged."


@login_required
@require_http_methods(["GET", "POST"])
@domain_errors
def alerts(request):
    user = request.user
    if request.method == "POST":
        alert = selectors.alert_get_for(viewer=user, pk=request.POST.get("alert"))
        attempt(
            request,
            lambda: alert_acknowledge(
                actor=user,
                alert=alert,
                outcome=request.POST.get("outcome", ""),
                note=request.POST.get("note", ""),
            ),
            success=MSG_ALERT_ACKNOWLEDGED,
        )
        return redirect("access:alerts")
    alert_list = list(selectors.alerts_visible(viewer=user)[:500])
    rows = [(alert, policy.may_acknowledge_alert(user, alert) is None) for alert in alert_list]
    return render(
        request,
        "access/alerts.html",
        {
            "rows": rows,
            "open_count": sum(1 for a in alert_list if a.acknowledged_at is None),
            "outcomes": [(value, Alert.Outcome(value).label) for value in OUTCOMES],
        },
    )
