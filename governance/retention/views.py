"""Portal pages: overview, a dataset's retention (policy editor, purpose bounds, holds, dry run,
run history), run detail with its certificate, legal holds, erasure requests with their SLA."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from datasets.models import Dataset
from governance.audit import services as audit
from governance.errors import ApplicationError, NotFound, NotPermitted
from governance.retention import planning, selectors, services
from governance.retention.forms import ErasureRequestForm, HoldForm, PolicyForm, ReasonForm
from governance.retention.models import RetentionPolicy, RetentionRun


def _dataset(request, slug, *, manage=False):
    try:
        return services.dataset_for(viewer=request.user, slug=slug, manage=manage)
    except NotFound:
        raise Http404 from None
    except NotPermitted:
        raise PermissionDenied from None


def _refuse(*, actor, message: str, dataset: Dataset | None = None):
    raise NotPermitted(message)


# A POST by someone who may not act is refused here (the form needs data the service would
# refuse anyway), and recorded in the ledger like the service's own refusals.
_policy_refused = audit.records_refusal("retention.policy_refused", target="dataset")(_refuse)
_hold_refused = audit.records_refusal("retention.hold_refused")(_refuse)
_erasure_refused = audit.records_refusal("retention.erasure_refused")(_refuse)


def _refused(recorder, request, **kwargs):
    """Record the refusal and answer 403 (``recorder`` always raises NotPermitted)."""
    try:
        recorder(actor=request.user, **kwargs)
    except NotPermitted:
        raise PermissionDenied from None


def _dataset_named(slug) -> Dataset:
    dataset = Dataset.objects.filter(slug=slug).first()
    if dataset is None:
        raise Http404
    return dataset


def _apply_error(form, error: ApplicationError) -> None:
    field = error.extra.get("field")
    for name, message in (error.extra.get("fields") or {field: error.message}).items():
        form.add_error(name if name in form.fields else None, message)


@login_required
def overview(request):
    if not request.user.has_perm("retention.view_retentionrun"):
        raise PermissionDenied
    datasets = selectors.datasets_visible(viewer=request.user)
    sees_all = selectors.sees_all(request.user)
    return render(
        request,
        "retention/overview.html",
        {
            "datasets": datasets,
            "sees_all": sees_all,
            "sla": selectors.sla_summary() if sees_all else None,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def dataset_retention(request, slug):
    if request.method == "POST":
        dataset = _dataset_named(slug)
        if not services.can_manage_retention(request.user, dataset):
            _refused(
                _policy_refused, request, dataset=dataset, message=services.MSG_POLICY_FORBIDDEN
            )
    dataset = _dataset(request, slug)
    can_manage = services.can_manage_retention(request.user, dataset)
    policy = RetentionPolicy.objects.filter(dataset=dataset).first()
    initial = {}
    if policy is not None:
        initial = {
            name: getattr(policy, name)
            for name in (
                "max_age_days",
                "grace_days",
                "expires_on",
                "action",
                "connection",
                "subject_namespace",
                "enabled",
            )
        }
    form = PolicyForm(request.POST or None, initial=initial) if can_manage else None
    status = 200
    if request.method == "POST":
        if not can_manage:
            raise PermissionDenied
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.policy_set(
                    dataset=dataset,
                    actor=request.user,
                    max_age_days=data["max_age_days"],
                    grace_days=data["grace_days"] if data["grace_days"] is not None else 0,
                    expires_on=data["expires_on"],
                    action=data["action"],
                    connection=data["connection"],
                    subject_namespace=data["subject_namespace"],
                    enabled=data["enabled"],
                )
            except ApplicationError as error:
                _apply_error(form, error)
            else:
                messages.success(request, "Retention policy saved.")
                return redirect("retention:dataset", slug=dataset.slug)
        status = 400
    runs = selectors.runs_for(dataset=dataset, limit=30)
    return render(
        request,
        "retention/dataset.html",
        {
            "dataset": dataset,
            "policy": policy,
            "plan": planning.plan_for(dataset),  # holds included
            "form": form,
            "can_manage": can_manage,
            "runs": runs,
            # Newest first, and at most one is unfinished.
            "active_run": next((r for r in runs if not r.is_finished), None),
        },
        status=status,
    )


@login_required
def preview(request, slug):
    dataset = _dataset_named(slug)  # the service checks who may preview, and records it
    kind = request.GET.get("kind", RetentionRun.Kind.RETENTION)
    if kind not in RetentionRun.Kind.values:
        kind = RetentionRun.Kind.RETENTION
    error = None
    result = None
    try:
        result = services.retention_preview(dataset=dataset, viewer=request.user, kind=kind)
    except NotPermitted:
        raise PermissionDenied from None
    except ApplicationError as problem:
        error = problem.message
    template = "retention/_preview.html" if request.htmx else "retention/preview.html"
    return render(
        request,
        template,
        {"dataset": dataset, "preview": result, "error": error, "kind": kind},
        status=200,
    )


@login_required
@require_POST
def run_start(request, slug):
    dataset = _dataset_named(slug)  # the service checks who may start a run, and records it
    kind = request.POST.get("kind", RetentionRun.Kind.RETENTION)
    try:
        run = services.run_start(dataset=dataset, actor=request.user, kind=kind)
    except NotPermitted:
        raise PermissionDenied from None
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("retention:dataset", slug=dataset.slug)
    messages.success(request, f"Run {run.pk} queued.")
    return redirect("retention:run", pk=run.pk)


@login_required
def run_detail(request, pk):
    try:
        run = selectors.run_get_for(viewer=request.user, run_id=pk)
    except NotFound:
        raise Http404 from None
    certificate = selectors.certificate_of(run)
    context = {"run": run, "certificate": certificate}
    template = "retention/_run_status.html" if request.htmx else "retention/run.html"
    return render(request, template, context)


@login_required
@require_http_methods(["GET", "POST"])
def holds(request):
    if request.method == "POST" and not services.is_privacy_officer(request.user):
        _refused(_hold_refused, request, message=services.MSG_PRIVACY_ONLY)
    try:
        all_holds = selectors.holds_visible(viewer=request.user)
    except NotPermitted:
        raise PermissionDenied from None
    may_place = services.is_privacy_officer(request.user)
    form = HoldForm(request.POST or None) if may_place else None
    status = 200
    if request.method == "POST":
        if not may_place:
            raise PermissionDenied
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.hold_place(
                    actor=request.user,
                    dataset=data["dataset"],
                    namespace=data["namespace"],
                    external_id=data["external_id"],
                    reason=data["reason"],
                    reference=data["reference"],
                )
            except ApplicationError as error:
                _apply_error(form, error)
            else:
                messages.success(request, "Legal hold placed: nothing it covers is deleted.")
                return redirect("retention:holds")
        status = 400
    return render(
        request,
        "retention/holds.html",
        {
            "holds": all_holds[:200],
            "form": form,
            "may_place": may_place,
            "release_form": ReasonForm(),
        },
        status=status,
    )


@login_required
@require_POST
def hold_release(request, pk):
    form = ReasonForm(request.POST)
    reason = form.data.get("reason", "")
    try:
        services.hold_release(hold_id=pk, actor=request.user, reason=reason)
    except NotPermitted:
        raise PermissionDenied from None
    except NotFound:
        raise Http404 from None
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Legal hold released.")
    return redirect("retention:holds")


@login_required
@require_http_methods(["GET", "POST"])
def requests(request):
    if request.method == "POST" and not services.is_privacy_officer(request.user):
        _refused(_erasure_refused, request, message=services.MSG_PRIVACY_ONLY)
    try:
        all_requests = selectors.erasure_requests_visible(viewer=request.user)
    except NotPermitted:
        raise PermissionDenied from None
    may_create = services.is_privacy_officer(request.user)
    form = ErasureRequestForm(request.POST or None) if may_create else None
    status = 200
    if request.method == "POST":
        if not may_create:
            raise PermissionDenied
        if form.is_valid():
            data = form.cleaned_data
            try:
                created = services.erasure_request_create(
                    actor=request.user,
                    namespace=data["namespace"],
                    external_id=data["external_id"],
                    received_on=data["received_on"],
                    datasets=list(data["datasets"]) or None,
                    reference=data["reference"],
                    note=data["note"],
                )
            except ApplicationError as error:
                _apply_error(form, error)
            else:
                messages.success(request, f"Erasure request {created.pk} recorded.")
                return redirect("retention:request", pk=created.pk)
        status = 400
    return render(
        request,
        "retention/requests.html",
        {
            "requests": all_requests[:200],
            "form": form,
            "sla": selectors.sla_summary(),
        },
        status=status,
    )


@login_required
def request_detail(request, pk):
    try:
        found = selectors.erasure_request_get_for(viewer=request.user, request_id=pk)
    except NotPermitted:
        raise PermissionDenied from None
    except NotFound:
        raise Http404 from None
    return render(
        request,
        "retention/request.html",
        {
            "erasure": found,
            "may_act": services.is_privacy_officer(request.user),
            "reason_form": ReasonForm(),
        },
    )


def _request_action(request, pk, service, done: str):
    reason = request.POST.get("reason", "")
    try:
        service(request_id=pk, actor=request.user, reason=reason)
    except NotPermitted:
        raise PermissionDenied from None
    except NotFound:
        raise Http404 from None
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, done)
    return redirect("retention:request", pk=pk)


@login_required
@require_POST
def request_extend(request, pk):
    return _request_action(
        request, pk, services.erasure_request_extend, "Deadline extended by two months."
    )


@login_required
@require_POST
def request_reject(request, pk):
    return _request_action(request, pk, services.erasure_request_reject, "Request rejected.")
