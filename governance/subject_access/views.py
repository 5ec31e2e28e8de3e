"""Portal pages of subject access (/subject-access/): the requests with their one-month clock
and a record form, one page per request with its actions (produce, download, extend, refuse,
close). Privacy officers act; auditors and administrators read."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from governance.portal import attempt, domain_errors, refuse
from governance.subject_access import policy, services
from governance.subject_access.forms import CompleteForm, ReasonForm, RequestForm

REFUSED = services.REFUSED


@login_required
@require_http_methods(["GET", "POST"])
@domain_errors
def requests(request):
    may_handle = policy.may_handle(request.user) is None
    form = RequestForm(request.POST or None) if may_handle else None
    status = 200
    if request.method == "POST":
        refuse(policy.may_handle(request.user), record=REFUSED, request=request)
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            done, created = attempt(
                request,
                lambda: services.subject_access_request_create(
                    actor=request.user,
                    namespace=data["namespace"],
                    external_id=data["subject_id"],
                    received_on=data["received_on"],
                    identity_verification=data["identity_verification"],
                    reference=data["reference"],
                    note=data["note"],
                ),
                form=form,
                success="Request recorded.",
            )
            if done:
                return redirect("subject_access:request", pk=created.pk)
    found = services.requests_visible(viewer=request.user)[:500]
    return render(
        request,
        "subject_access/requests.html",
        {"requests": found, "form": form},
        status=status,
    )


@login_required
@require_GET
@domain_errors
def request_detail(request, pk: int):
    found = services.request_get_for(viewer=request.user, pk=pk)
    return render(
        request,
        "subject_access/request.html",
        {
            "item": found,
            "can_change": policy.may_change(request.user, found) is None,
            "can_download": policy.may_download(request.user, found) is None,
            "reason_form": ReasonForm(),
            "complete_form": CompleteForm(),
        },
    )


def _act(request, pk: int, write, success: str):
    found = services.request_get_for(viewer=request.user, pk=pk)
    refuse(policy.may_handle(request.user), record=REFUSED, request=request, target=found)
    attempt(request, lambda: write(found), success=success)
    return redirect("subject_access:request", pk=found.pk)


@login_required
@require_POST
@domain_errors
def request_produce(request, pk: int):
    return _act(
        request,
        pk,
        lambda found: services.subject_access_produce(actor=request.user, request=found),
        "Package produced.",
    )


@login_required
@require_POST
@domain_errors
def request_extend(request, pk: int):
    return _act(
        request,
        pk,
        lambda found: services.subject_access_extend(
            actor=request.user, request=found, reason=request.POST.get("reason", "")
        ),
        "Deadline extended.",
    )


@login_required
@require_POST
@domain_errors
def request_reject(request, pk: int):
    return _act(
        request,
        pk,
        lambda found: services.subject_access_reject(
            actor=request.user, request=found, reason=request.POST.get("reason", "")
        ),
        "Request refused.",
    )


@login_required
@require_POST
@domain_errors
def request_complete(request, pk: int):
    return _act(
        request,
        pk,
        lambda found: services.subject_access_complete(
            actor=request.user, request=found, note=request.POST.get("note", "")
        ),
        "Request closed as answered; the package was deleted.",
    )


@login_required
@require_GET
@domain_errors
def request_package(request, pk: int):
    found = services.request_get_for(viewer=request.user, pk=pk)
    done, path = attempt(
        request, lambda: services.subject_access_package(actor=request.user, request=found)
    )
    if not done:
        return redirect("subject_access:request", pk=found.pk)
    return FileResponse(path.open("rb"), as_attachment=True, filename=found.package_name)
