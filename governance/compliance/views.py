"""Portal pages: the export list with its request form, an export's progress, the download."""

from __future__ import annotations

from datetime import UTC

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from governance.compliance import policy, services
from governance.compliance.forms import ExportForm
from governance.compliance.models import Export
from governance.errors import ApplicationError, NotFound
from governance.portal import attempt, domain_errors, refuse
from governance.tables import listing


def _utc(moment):
    # The form's datetime-local has no zone; the page says UTC.
    if moment is not None and timezone.is_naive(moment):
        return moment.replace(tzinfo=UTC)
    return moment


@login_required
@require_http_methods(["GET", "POST"])
@domain_errors
def export_list(request):
    may_export = policy.may_export(request.user) is None
    form = ExportForm(request.POST or None) if may_export else None
    if request.method == "POST":
        refuse(policy.may_export(request.user), record="compliance.export_refused", request=request)
        if form.is_valid():
            data = form.cleaned_data
            done, export = attempt(
                request,
                lambda: services.export_request(
                    actor=request.user,
                    kind=data["kind"],
                    start=_utc(data["start"]),
                    end=_utc(data["end"]),
                    dataset=data["dataset"] or None,
                    fmt=data["fmt"] or None,
                ),
                form=form,
            )
            if done:
                return redirect("compliance:export", pk=export.pk)
    queryset = services.export_list(viewer=request.user)
    kind = request.GET.get("kind", "")
    if kind in Export.Kind.values:
        queryset = queryset.filter(kind=kind)
    state = request.GET.get("status", "")
    if state in Export.Status.values:
        queryset = queryset.filter(status=state)
    table = listing(
        request,
        queryset,
        sorts={"id": "id", "kind": "kind", "status": "status", "requested": "created_at"},
        default="-requested",
        keep=["kind", "status"],
    )
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "compliance/exports.html",
        {
            "form": form,
            "exports": table.rows,
            "table": table,
            "may_export": may_export,
            "kinds": Export.Kind.choices,
            "statuses": Export.Status.choices,
            "kind": kind,
            "status": state,
        },
        status=status,
    )


def _export(request, pk):
    return services.export_get_for(viewer=request.user, export_id=pk)


@login_required
@domain_errors
def export_detail(request, pk):
    export = _export(request, pk)
    template = "compliance/_progress.html" if request.htmx else "compliance/export.html"
    return render(request, template, {"export": export})


@login_required
@domain_errors
def export_download(request, pk):
    export = _export(request, pk)
    try:
        path = services.export_download(actor=request.user, export=export)
    except NotFound:
        raise Http404(services.MSG_FILE_GONE) from None
    except ApplicationError:  # not ready yet: the export's page says so
        return redirect("compliance:export", pk=export.pk)
    return FileResponse(path.open("rb"), as_attachment=True, filename=export.file_name)
