"""Portal pages of the catalog. Permission rules live in selectors and services; views turn
domain errors into 404/403 or form errors."""

from __future__ import annotations

from django.apps import apps
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.module_loading import import_string
from django.views.decorators.http import require_http_methods, require_POST

from datasets import forms, selectors, services
from datasets.models import Dataset, Field, Suggestion
from datasets.services.scans import suggestions_accept
from datasets.taxonomy import Role
from governance.errors import ApplicationError, NotFound, NotPermitted


def _dataset(request, slug) -> Dataset:
    try:
        return selectors.dataset_get_for(viewer=request.user, slug=slug)
    except NotFound:
        raise Http404(selectors.MSG_DATASET_NOT_FOUND) from None


def _form_error(form, error: ApplicationError) -> None:
    field = error.extra.get("field")
    form.add_error(field if field in form.fields else None, error.message)


@login_required
def dataset_list(request):
    form = forms.DatasetFilterForm(request.GET or None)
    filters = selectors.DatasetFilters()
    if form.is_valid():
        filters = selectors.DatasetFilters(
            **{k: v or ("" if k != "mine" else False) for k, v in form.cleaned_data.items()}
        )
    datasets = selectors.dataset_list(viewer=request.user, filters=filters)
    return render(
        request,
        "datasets/list.html",
        {
            "form": form,
            "datasets": datasets,
            "can_create": request.user.has_perm("datasets.add_dataset"),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def dataset_create(request):
    if not request.user.has_perm("datasets.add_dataset"):
        raise PermissionDenied
    form = forms.DatasetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            dataset = services.dataset_create(
                actor=request.user,
                slug=data["slug"],
                name=data["name"],
                storage_kind=data["storage_kind"],
                owner=data["owner"],
                description=data["description"],
                location=data["location"],
                subject_id_field=data["subject_id_field"],
                event_time_field=data["event_time_field"],
                tags=data["tags"],
            )
        except ApplicationError as error:
            _form_error(form, error)
        else:
            messages.success(request, f"Dataset {dataset.slug} created as a draft.")
            return redirect("datasets:detail", slug=dataset.slug)
    return render(request, "datasets/form.html", {"form": form, "title": "New dataset"})


@login_required
def dataset_detail(request, slug):
    dataset = _dataset(request, slug)
    can_manage = services.can_manage(request.user, dataset)
    latest_scan = dataset.scans.first()
    # Other apps add links to this page (e.g. "Who has access") through their AppConfig.
    links = []
    for app_config in apps.get_app_configs():
        provider = getattr(app_config, "dataset_page_links", None)
        if provider:
            links.extend(import_string(provider)(request.user, dataset))
    return render(
        request,
        "datasets/detail.html",
        {
            "dataset": dataset,
            "fields": selectors.dataset_fields(dataset=dataset),
            "stewards": services.dataset_stewards(dataset),
            "reviews": selectors.reviews_for(dataset),
            "history": selectors.dataset_history(dataset=dataset, limit=30),
            "can_manage": can_manage,
            "can_approve": request.user.has_role("privacy_officer"),
            "latest_scan": latest_scan,
            "links": links,
            "pending": selectors.suggestion_queue(viewer=request.user, dataset=dataset).count(),
            "field_form": forms.FieldForm(),
            "note_form": forms.NoteForm(),
            "stewards_form": forms.StewardsForm(
                initial={"stewards": services.dataset_stewards(dataset)}
            ),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def dataset_edit(request, slug):
    dataset = _dataset(request, slug)
    if not services.can_manage(request.user, dataset):
        raise PermissionDenied
    initial = {
        "name": dataset.name,
        "description": dataset.description,
        "owner": dataset.owner,
        "storage_kind": dataset.storage_kind,
        "location": dataset.location,
        "subject_id_field": dataset.subject_id_field,
        "event_time_field": dataset.event_time_field,
        "tags": ", ".join(t.name for t in dataset.tags.all()),
    }
    form = forms.DatasetEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        tags = data.pop("tags")
        if data["owner"] is None:
            data.pop("owner")
        try:
            services.dataset_update(actor=request.user, dataset=dataset, tags=tags, **data)
        except ApplicationError as error:
            _form_error(form, error)
        else:
            messages.success(request, "Dataset updated.")
            return redirect("datasets:detail", slug=slug)
    return render(
        request,
        "datasets/form.html",
        {"form": form, "title": f"Edit {dataset.slug}", "dataset": dataset},
    )


@login_required
@require_POST
def dataset_stewards(request, slug):
    dataset = _dataset(request, slug)
    form = forms.StewardsForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose at least one steward.")
        return redirect("datasets:detail", slug=slug)
    try:
        services.dataset_stewards_set(
            actor=request.user, dataset=dataset, stewards=list(form.cleaned_data["stewards"])
        )
    except NotPermitted as error:
        raise PermissionDenied(error.message) from None
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Stewards updated.")
    return redirect("datasets:detail", slug=slug)


@login_required
@require_POST
def field_create(request, slug):
    dataset = _dataset(request, slug)
    form = forms.FieldForm(request.POST)
    if form.is_valid():
        try:
            services.field_create(actor=request.user, dataset=dataset, **form.cleaned_data)
        except NotPermitted as error:
            raise PermissionDenied(error.message) from None
        except ApplicationError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"Field {form.cleaned_data['name']} added.")
    else:
        messages.error(request, "Give the field a name.")
    return redirect("datasets:detail", slug=slug)


@login_required
@require_http_methods(["GET", "POST"])
def field_edit(request, slug, name):
    dataset = _dataset(request, slug)
    try:
        field = selectors.field_get_for(viewer=request.user, dataset=dataset, name=name)
    except NotFound:
        raise Http404 from None
    if not services.can_manage(request.user, dataset):
        raise PermissionDenied
    form = forms.ClassificationForm(
        request.POST or None,
        initial={
            "category": field.category,
            "role": field.role or "non_personal",
            "special_category": field.special_category,
            "treatment": field.treatment or "keep",
            "description": field.description,
        },
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.field_classify(
                actor=request.user,
                field=field,
                category=data["category"],
                role=data["role"],
                special_category=data["special_category"],
                treatment=data["treatment"],
                description=data["description"],
            )
        except ApplicationError as error:
            _form_error(form, error)
        else:
            messages.success(request, f"Field {field.name} classified.")
            return redirect("datasets:detail", slug=slug)
    return render(
        request, "datasets/field_form.html", {"form": form, "dataset": dataset, "field": field}
    )


@login_required
@require_http_methods(["GET", "POST"])
def dataset_submit(request, slug):
    dataset = _dataset(request, slug)
    if not services.can_manage(request.user, dataset):
        raise PermissionDenied
    form = forms.SubmitForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.dataset_submit(actor=request.user, dataset=dataset, **form.cleaned_data)
        except ApplicationError as error:
            _form_error(form, error)
        else:
            messages.success(request, "Submitted for privacy review.")
            return redirect("datasets:detail", slug=slug)
    return render(request, "datasets/submit.html", {"form": form, "dataset": dataset})


_TRANSITIONS = {
    "approve": lambda u, d, n: services.dataset_approve(actor=u, dataset=d, note=n),
    "return": lambda u, d, n: services.dataset_return(actor=u, dataset=d, note=n),
    "reopen": lambda u, d, n: services.dataset_reopen(actor=u, dataset=d, reason=n),
    "retire": lambda u, d, n: services.dataset_retire(actor=u, dataset=d, reason=n),
}


@login_required
@require_POST
def dataset_transition(request, slug, action):
    dataset = _dataset(request, slug)
    if action not in _TRANSITIONS:
        raise Http404
    form = forms.NoteForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        _TRANSITIONS[action](request.user, dataset, note)
    except NotPermitted as error:
        raise PermissionDenied(error.message) from None
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        dataset.refresh_from_db()
        messages.success(request, f"Dataset is now {dataset.get_status_display().lower()}.")
    return redirect("datasets:detail", slug=slug)


@login_required
@require_http_methods(["GET", "POST"])
def scan_create(request, slug):
    dataset = _dataset(request, slug)
    if not services.can_manage(request.user, dataset):
        raise PermissionDenied
    form = forms.ScanForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            scan = services.scan_start(
                actor=request.user,
                dataset=dataset,
                upload=data["file"],
                path=data["path"],
                connection_name=data["connection"],
                table=data["table"],
                max_rows=data["max_rows"],
            )
        except ApplicationError as error:
            _form_error(form, error)
        else:
            return redirect("datasets:scan", slug=slug, scan_id=scan.pk)
    return render(request, "datasets/scan_form.html", {"form": form, "dataset": dataset})


@login_required
def scan_detail(request, slug, scan_id):
    dataset = _dataset(request, slug)
    try:
        scan = selectors.scan_get_for(viewer=request.user, dataset=dataset, scan_id=scan_id)
    except NotFound:
        raise Http404 from None
    context = {
        "dataset": dataset,
        "scan": scan,
        "suggestions": scan.suggestions.select_related("field", "category")
        if scan.is_finished
        else [],
    }
    if request.htmx:
        return render(request, "datasets/_scan_progress.html", context)
    return render(request, "datasets/scan.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def review_queue(request, slug):
    dataset = _dataset(request, slug)
    can_manage = services.can_manage(request.user, dataset)
    if request.method == "POST":
        if not can_manage:
            raise PermissionDenied
        if request.POST.get("decision") == "accept_selected":
            return _accept_selected(request, dataset)
        return _decide(request, dataset)
    status = request.GET.get("status", "suggested")
    if status not in Suggestion.Status.values and status != "all":
        status = "suggested"
    queue = selectors.suggestion_queue(
        viewer=request.user, dataset=dataset, status="" if status == "all" else status
    )
    return render(
        request,
        "datasets/review.html",
        {
            "dataset": dataset,
            "queue": _with_decisions(queue),
            "status": status,
            "can_manage": can_manage,
            "statuses": Suggestion.Status.choices,
            "classification_form": forms.ClassificationForm(),
        },
    )


MSG_NOTHING_TICKED = "Tick the suggestions to accept first."


def _accept_selected(request, dataset):
    """The review page's "Accept selected": the ticked suggestions, all or none."""
    try:
        ids = [int(value) for value in request.POST.getlist("selected")]
    except ValueError:
        ids = []
    if not ids:
        messages.error(request, MSG_NOTHING_TICKED)
        return redirect("datasets:review", slug=dataset.slug)
    try:
        accepted = suggestions_accept(actor=request.user, dataset=dataset, suggestion_ids=ids)
    except NotPermitted as error:
        raise PermissionDenied(error.message) from None
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        plural = "" if len(accepted) == 1 else "s"
        messages.success(request, f"{len(accepted)} suggestion{plural} accepted.")
    return redirect("datasets:review", slug=dataset.slug)


ROLE_LABELS = dict(Role.CHOICES)
TREATMENT_LABELS = dict(Field.Treatment.choices)


def _with_decisions(queue) -> list[Suggestion]:
    """The queue with the steward's choice spelled out for the history (``s.chosen``)."""
    suggestions = list(queue)
    for suggestion in suggestions:
        decision = suggestion.decision or {}
        suggestion.chosen = decision and {
            "category": decision.get("category"),
            "role": ROLE_LABELS.get(decision.get("role"), ""),
            "treatment": TREATMENT_LABELS.get(decision.get("treatment"), ""),
        }
    return suggestions


def _decide(request, dataset):
    try:
        suggestion = selectors.suggestion_get_for(
            viewer=request.user, suggestion_id=request.POST.get("suggestion")
        )
    except NotFound:
        raise Http404 from None
    if suggestion.field.dataset_id != dataset.pk:
        raise Http404
    decision = request.POST.get("decision")
    try:
        if decision == "accept":
            services.suggestion_accept(actor=request.user, suggestion=suggestion)
        elif decision == "reject":
            services.suggestion_reject(
                actor=request.user, suggestion=suggestion, note=request.POST.get("note", "")
            )
        elif decision == "edit":
            form = forms.ClassificationForm(request.POST)
            if not form.is_valid():
                messages.error(
                    request,
                    "Check the edited classification: "
                    + "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()),
                )
                return redirect(reverse("datasets:review", args=[dataset.slug]))
            data = form.cleaned_data
            services.suggestion_edit(
                actor=request.user,
                suggestion=suggestion,
                category=data["category"],
                role=data["role"],
                special_category=data["special_category"],
                treatment=data["treatment"],
            )
        else:
            messages.error(request, "Unknown decision.")
            return redirect("datasets:review", slug=dataset.slug)
    except NotPermitted as error:
        raise PermissionDenied(error.message) from None
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{suggestion.field.name}: {decision}ed.".replace("eed", "ed"))
    return redirect("datasets:review", slug=dataset.slug)
