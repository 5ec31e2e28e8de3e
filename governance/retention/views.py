"""Portal pages: overview, a dataset's retention (policy editor, purpose bounds, holds, dry run,
run history), run detail with its certificate, legal holds, erasure requests with their SLA."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from datasets import policy as catalog
from datasets.models import Dataset
from governance.errors import ApplicationError, NotFound, NotPermitted
from governance.portal import attempt, domain_errors, refuse
from governance.retention import planning, selectors, services
from governance.retention import policy as rules
from governance.retention.forms import (
    ErasureRequestForm,
    HoldForm,
    PolicyForm,
    ReasonForm,
    RunConfirmForm,
)
from governance.retention.models import ErasureRequest, RetentionPolicy, RetentionRun
from governance.tables import listing


def _dataset(request, slug, *, manage=False):
    return services.dataset_for(viewer=request.user, slug=slug, manage=manage)


def _dataset_named(request, slug) -> Dataset:
    """The dataset if the viewer may see it in the catalog (404 otherwise); the service decides
    who may act on its retention, and records refusals."""
    dataset = Dataset.objects.filter(slug=slug).first()
    if dataset is None or catalog.may_view(request.user, dataset) is not None:
        raise Http404
    return dataset


@login_required
@domain_errors
def overview(request):
    refuse(rules.may_open(request.user))
    datasets = selectors.datasets_visible(viewer=request.user)
    sees_all = rules.sees_all(request.user)
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
@domain_errors
def dataset_retention(request, slug):
    if request.method == "POST":
        dataset = _dataset_named(request, slug)
        refuse(
            rules.may_manage(request.user, dataset),
            record="retention.policy_refused",
            request=request,
            target=dataset,
        )
    dataset = _dataset(request, slug)
    can_manage = rules.may_manage(request.user, dataset) is None
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
                "subject_namespace",
                "enabled",
            )
        }
    elif dataset.subject_namespace:
        initial = {"subject_namespace": dataset.subject_namespace}
    form = PolicyForm(request.POST or None, initial=initial) if can_manage else None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            done, _ = attempt(
                request,
                lambda: services.policy_set(
                    dataset=dataset,
                    actor=request.user,
                    max_age_days=data["max_age_days"],
                    grace_days=data["grace_days"] if data["grace_days"] is not None else 0,
                    expires_on=data["expires_on"],
                    action=data["action"],
                    subject_namespace=data["subject_namespace"],
                    enabled=data["enabled"],
                ),
                success="Retention policy saved.",
                form=form,
            )
            if done:
                return redirect("retention:dataset", slug=dataset.slug)
        status = 400
    runs = selectors.runs_for(dataset=dataset, limit=30)
    table = listing(
        request,
        RetentionRun.objects.filter(dataset=dataset).select_related("requested_by", "certificate"),
        sorts={"run": "created_at", "status": "status", "deleted": "rows_deleted"},
        default="-run",
    )
    return render(
        request,
        "retention/dataset.html",
        {
            "dataset": dataset,
            "policy": policy,
            "plan": planning.plan_for(dataset),  # holds included
            "form": form,
            "can_manage": can_manage,
            "store_refusal": rules.store_refusal(dataset),
            "runs": table.rows,
            "table": table,
            "chart": [(f"#{r.pk}", r.rows_deleted) for r in reversed(runs[:20])],
            # Newest first, and at most one is unfinished.
            "active_run": next((r for r in runs if not r.is_finished), None),
        },
        status=status,
    )


@login_required
@domain_errors
def preview(request, slug):
    dataset = _dataset_named(request, slug)  # the service checks who may preview; records it
    kind = request.GET.get("kind", RetentionRun.Kind.RETENTION)
    if kind not in RetentionRun.Kind.values:
        kind = RetentionRun.Kind.RETENTION
    error = None
    result = None
    try:
        result = services.retention_preview(dataset=dataset, viewer=request.user, kind=kind)
    except NotPermitted:
        raise
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
@require_http_methods(["GET", "POST"])
@domain_errors
def run_start(request, slug):
    """ "Run now": a page that repeats the dry run's counts, then the run once the person typed
    the dataset's slug and ticked that the deletion cannot be undone."""
    dataset = _dataset_named(request, slug)
    refuse(
        rules.may_manage(request.user, dataset),
        record="retention.run_refused" if request.method == "POST" else None,
        request=request,
        target=dataset,
    )
    kind = request.POST.get("kind") or request.GET.get("kind") or RetentionRun.Kind.RETENTION
    if kind not in RetentionRun.Kind.values:
        kind = RetentionRun.Kind.RETENTION
    form = RunConfirmForm(
        request.POST if request.method == "POST" else None,
        slug=dataset.slug,
        initial={"kind": kind},
    )
    changed = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        confirmed = {
            "rows": data["expected_rows"],
            "files": data["expected_files"],
            "fingerprint": data["fingerprint"],
            "typed_slug": True,
        }
        try:
            run = services.run_start(
                dataset=dataset, actor=request.user, kind=data["kind"], confirmed=confirmed
            )
        except (NotPermitted, NotFound):
            raise
        except ApplicationError as problem:
            if not problem.extra.get("stale_confirmation"):
                messages.error(request, problem.message)
                return redirect("retention:dataset", slug=dataset.slug)
            # What the page showed is out of date: show the new counts and ask again.
            changed = problem.message
            form = RunConfirmForm(slug=dataset.slug, initial={"kind": kind})
        else:
            messages.success(request, f"Run {run.pk} queued.")
            return redirect("retention:run", pk=run.pk)
    error, result = None, None
    try:
        result = services.retention_preview(dataset=dataset, viewer=request.user, kind=kind)
    except NotPermitted:
        raise
    except ApplicationError as problem:
        error = problem.message
    if result is not None and not form.is_bound:
        form = RunConfirmForm(
            slug=dataset.slug,
            initial={
                "kind": kind,
                "expected_rows": result["totals"]["rows"],
                "expected_files": result["totals"]["files"],
                "fingerprint": result["fingerprint"],
            },
        )
    return render(
        request,
        "retention/confirm_run.html",
        {
            "dataset": dataset,
            "preview": result,
            "error": error,
            "form": form,
            "kind": kind,
            "changed": changed,
        },
        status=409 if changed else 400 if form.is_bound else 200,
    )


@login_required
@domain_errors
def run_detail(request, pk):
    run = selectors.run_get_for(viewer=request.user, run_id=pk)
    certificate = selectors.certificate_of(run)
    context = {"run": run, "certificate": certificate}
    template = "retention/_run_status.html" if request.htmx else "retention/run.html"
    return render(request, template, context)


@login_required
@require_http_methods(["GET", "POST"])
@domain_errors
def holds(request):
    if request.method == "POST":
        refuse(
            rules.may_handle_holds(request.user), record="retention.hold_refused", request=request
        )
    all_holds = selectors.holds_visible(viewer=request.user)
    shown = request.GET.get("show", "")
    if shown == "active":
        all_holds = all_holds.filter(released_at__isnull=True)
    elif shown == "released":
        all_holds = all_holds.filter(released_at__isnull=False)
    table = listing(
        request,
        all_holds,
        sorts={
            "placed": "placed_at",
            "released": "released_at",
            "dataset": "dataset__slug",
            "by": "placed_by__username",
        },
        default="-placed",
        keep=["show"],
    )
    may_place = rules.may_handle_holds(request.user) is None
    form = HoldForm(request.POST or None) if may_place else None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            done, _ = attempt(
                request,
                lambda: services.hold_place(
                    actor=request.user,
                    dataset=data["dataset"],
                    namespace=data["namespace"],
                    external_id=data["external_id"],
                    reason=data["reason"],
                    reference=data["reference"],
                ),
                success="Legal hold placed: nothing it covers is deleted.",
                form=form,
            )
            if done:
                return redirect("retention:holds")
        status = 400
    return render(
        request,
        "retention/holds.html",
        {
            "holds": table.rows,
            "table": table,
            "show": shown,
            "form": form,
            "may_place": may_place,
            "release_form": ReasonForm(),
        },
        status=status,
    )


@login_required
@require_POST
@domain_errors
def hold_release(request, pk):
    form = ReasonForm(request.POST)
    reason = form.data.get("reason", "")
    attempt(
        request,
        lambda: services.hold_release(hold_id=pk, actor=request.user, reason=reason),
        success="Legal hold released.",
    )
    return redirect("retention:holds")


@login_required
@require_http_methods(["GET", "POST"])
@domain_errors
def requests(request):
    if request.method == "POST":
        refuse(
            rules.may_handle_erasure(request.user),
            record="retention.erasure_refused",
            request=request,
        )
    all_requests = selectors.erasure_requests_visible(viewer=request.user)
    state = request.GET.get("status", "")
    if state in ErasureRequest.Status.values:
        all_requests = all_requests.filter(status=state)
    table = listing(
        request,
        all_requests,
        sorts={"id": "id", "received": "received_on", "due": "due_on", "status": "status"},
        default="due",
        keep=["status"],
    )
    may_create = rules.may_handle_erasure(request.user) is None
    form = ErasureRequestForm(request.POST or None) if may_create else None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            done, created = attempt(
                request,
                lambda: services.erasure_request_create(
                    actor=request.user,
                    namespace=data["namespace"],
                    external_id=data["external_id"],
                    received_on=data["received_on"],
                    datasets=list(data["datasets"]) or None,
                    reference=data["reference"],
                    note=data["note"],
                ),
                success=lambda r: f"Erasure request {r.pk} recorded.",
                form=form,
            )
            if done:
                return redirect("retention:request", pk=created.pk)
        status = 400
    return render(
        request,
        "retention/requests.html",
        {
            "requests": table.rows,
            "table": table,
            "statuses": ErasureRequest.Status.choices,
            "status_filter": state,
            "form": form,
            "sla": selectors.sla_summary(),
        },
        status=status,
    )


@login_required
@domain_errors
def request_detail(request, pk):
    found = selectors.erasure_request_get_for(viewer=request.user, request_id=pk)
    return render(
        request,
        "retention/request.html",
        {
            "erasure": found,
            "may_act": rules.may_handle_erasure(request.user) is None,
            "reason_form": ReasonForm(),
        },
    )


def _request_action(request, pk, service, done: str):
    reason = request.POST.get("reason", "")
    attempt(
        request, lambda: service(request_id=pk, actor=request.user, reason=reason), success=done
    )
    return redirect("retention:request", pk=pk)


@login_required
@require_POST
@domain_errors
def request_extend(request, pk):
    return _request_action(
        request, pk, services.erasure_request_extend, "Deadline extended by two months."
    )


@login_required
@require_POST
@domain_errors
def request_reject(request, pk):
    return _request_action(request, pk, services.erasure_request_reject, "Request rejected.")
