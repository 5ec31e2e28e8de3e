"""Portal pages of the catalog. Who may do what is datasets/policy.py (called by the services
and selectors); views pass its answers to templates and turn domain errors into pages with
governance.portal."""

from __future__ import annotations

from django.apps import apps
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.module_loading import import_string
from django.views.decorators.http import require_http_methods, require_POST

from datasets import forms, policy, selectors, services
from datasets.models import Dataset, Field, Suggestion
from datasets.services.scans import suggestions_accept
from datasets.taxonomy import Role, Special
from governance.audit.humanize import readable
from governance.errors import ApplicationError, NotFound, NotPermitted
from governance.forms import SignOffForm
from governance.portal import attempt, domain_errors, form_error, refuse
from governance.tables import listing


def _dataset(request, slug) -> Dataset:
    return selectors.dataset_get_for(viewer=request.user, slug=slug)


@login_required
@domain_errors
def dataset_list(request):
    form = forms.DatasetFilterForm(request.GET or None)
    filters = selectors.DatasetFilters()
    if form.is_valid():
        filters = selectors.DatasetFilters(
            **{k: v or ("" if k != "mine" else False) for k, v in form.cleaned_data.items()}
        )
    table = listing(
        request,
        selectors.dataset_list(viewer=request.user, filters=filters),
        sorts=CATALOG_SORTS,
        default="name",
        keep=list(forms.DatasetFilterForm.base_fields),
    )
    datasets = list(table.rows)
    actions: dict[int, list] = {}
    for app_config in apps.get_app_configs():
        provider = getattr(app_config, "dataset_actions", None)
        if provider:
            for pk, found in import_string(provider)(request.user, datasets).items():
                actions.setdefault(pk, []).extend(found)
    for dataset in datasets:
        dataset.actions = actions.get(dataset.pk, [])
    return render(
        request,
        "datasets/list.html",
        {
            "form": form,
            "table": table,
            "datasets": datasets,
            "can_create": policy.may_create(request.user) is None,
        },
    )


CATALOG_SORTS = {
    "name": "name",
    "status": "status",
    "sensitivity": "sensitivity",
    "owner": "owner__username",
    "fields": "field_count",
    "updated": "updated_at",
}


@login_required
@require_http_methods(["GET", "POST"])
@domain_errors
def dataset_create(request):
    refuse(policy.may_create(request.user))
    form = forms.DatasetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        done, dataset = attempt(
            request,
            lambda: services.dataset_create(
                actor=request.user,
                slug=data["slug"],
                name=data["name"],
                storage_kind=data["storage_kind"],
                owner=data["owner"],
                description=data["description"],
                location=data["location"],
                connection=data["connection"],
                subject_id_field=data["subject_id_field"],
                subject_namespace=data["subject_namespace"],
                event_time_field=data["event_time_field"],
                tags=data["tags"],
            ),
            success=lambda d: f"Dataset {d.slug} created as a draft.",
            form=form,
        )
        if done:
            return redirect("datasets:detail", slug=dataset.slug)
    return render(request, "datasets/form.html", {"form": form, "title": "New dataset"})


@login_required
@domain_errors
def dataset_detail(request, slug):
    return _detail_page(request, _dataset(request, slug))


def _detail_page(request, dataset, *, signoff_form=None, field_form=None, status=200):
    fields = list(selectors.dataset_fields(dataset=dataset))
    blocker = policy.ready_for_review(fields) if dataset.status == Dataset.Status.DRAFT else None
    allowed = selectors.dataset_permissions(viewer=request.user, dataset=dataset)
    latest_scan = dataset.scans.first()
    # Other apps add links to this page (e.g. "Who has access") through their AppConfig.
    links, actions = [], []
    for app_config in apps.get_app_configs():
        provider = getattr(app_config, "dataset_page_links", None)
        if provider:
            links.extend(import_string(provider)(request.user, dataset))
        provider = getattr(app_config, "dataset_actions", None)
        if provider:
            actions.extend(import_string(provider)(request.user, [dataset]).get(dataset.pk, []))
    return render(
        request,
        "datasets/detail.html",
        {
            "dataset": dataset,
            "fields": fields,
            "submit_blocker": blocker.message if blocker else "",
            "stewards": services.dataset_stewards(dataset),
            "reviews": selectors.reviews_for(dataset),
            "history": readable(selectors.dataset_history(dataset=dataset, limit=30)),
            **allowed,
            "latest_scan": latest_scan,
            "links": links,
            "pending": selectors.suggestion_queue(viewer=request.user, dataset=dataset).count(),
            "field_form": field_form or forms.FieldForm(),
            "note_form": forms.NoteForm(),
            "stewards_form": forms.StewardsForm(
                initial={"stewards": services.dataset_stewards(dataset)}
            ),
            "signoff_form": signoff_form
            or (
                SignOffForm(
                    items=policy.signoff_checklist(dataset),
                    subject=policy.signoff_subject(dataset),
                )
                if allowed.get("can_approve")
                else None
            ),
            "note_required": policy.approval_note_required(dataset),
            "actions": actions,
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
@domain_errors
def dataset_edit(request, slug):
    dataset = _dataset(request, slug)
    refuse(policy.may_change(request.user, dataset, []))
    initial = {
        "name": dataset.name,
        "description": dataset.description,
        "owner": dataset.owner,
        "storage_kind": dataset.storage_kind,
        "location": dataset.location,
        "connection": dataset.connection,
        "subject_id_field": dataset.subject_id_field,
        "subject_namespace": dataset.subject_namespace,
        "event_time_field": dataset.event_time_field,
        "tags": ", ".join(t.name for t in dataset.tags.all()),
    }
    form = forms.DatasetEditForm(
        request.POST or None,
        initial=initial,
        location_editable=policy.may_change(request.user, dataset, ["location"]) is None,
    )
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        tags = data.pop("tags")
        if data["owner"] is None:
            data.pop("owner")
        done, _ = attempt(
            request,
            lambda: services.dataset_update(actor=request.user, dataset=dataset, tags=tags, **data),
            success="Dataset updated.",
            form=form,
        )
        if done:
            return redirect("datasets:detail", slug=slug)
    return render(
        request,
        "datasets/form.html",
        {"form": form, "title": f"Edit {dataset.slug}", "dataset": dataset},
    )


@login_required
@require_POST
@domain_errors
def dataset_stewards(request, slug):
    dataset = _dataset(request, slug)
    refuse(policy.may_manage(request.user, dataset))
    form = forms.StewardsForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose at least one steward.")
        return redirect("datasets:detail", slug=slug)
    attempt(
        request,
        lambda: services.dataset_stewards_set(
            actor=request.user, dataset=dataset, stewards=list(form.cleaned_data["stewards"])
        ),
        success="Stewards updated.",
    )
    return redirect("datasets:detail", slug=slug)


@login_required
@require_POST
@domain_errors
def field_create(request, slug):
    dataset = _dataset(request, slug)
    refuse(policy.may_manage(request.user, dataset))
    form = forms.FieldForm(request.POST)
    form.is_valid()
    # The service owns the rules for a name (datasets.policy.field_name_problem): its message,
    # next to what was typed, instead of a generic one.
    data = {
        "name": form.cleaned_data.get("name", ""),
        "data_type": form.cleaned_data.get("data_type", ""),
        "description": form.cleaned_data.get("description", ""),
    }
    done, _ = attempt(
        request,
        lambda: services.field_create(actor=request.user, dataset=dataset, **data),
        success=f"Field {data['name'].strip()} added.",
        form=form,
    )
    if done:
        return redirect("datasets:detail", slug=slug)
    return _detail_page(request, dataset, field_form=form, status=400)


@login_required
@require_http_methods(["GET", "POST"])
@domain_errors
def field_edit(request, slug, name):
    dataset = _dataset(request, slug)
    field = selectors.field_get_for(viewer=request.user, dataset=dataset, name=name)
    refuse(policy.may_manage(request.user, dataset))
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
        done, _ = attempt(
            request,
            lambda: services.field_classify(
                actor=request.user,
                field=field,
                category=data["category"],
                role=data["role"],
                special_category=data["special_category"],
                treatment=data["treatment"],
                description=data["description"],
            ),
            success=f"Field {field.name} classified.",
            form=form,
        )
        if done:
            return redirect("datasets:detail", slug=slug)
    return render(
        request, "datasets/field_form.html", {"form": form, "dataset": dataset, "field": field}
    )


@login_required
@require_http_methods(["GET", "POST"])
@domain_errors
def dataset_submit(request, slug):
    dataset = _dataset(request, slug)
    refuse(policy.may_manage(request.user, dataset))
    form = forms.SubmitForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        done, _ = attempt(
            request,
            lambda: services.dataset_submit(
                actor=request.user, dataset=dataset, **form.cleaned_data
            ),
            success="Submitted for privacy review.",
            form=form,
        )
        if done:
            return redirect("datasets:detail", slug=slug)
    blocker = policy.ready_for_review(dataset.fields.all())
    return render(
        request,
        "datasets/submit.html",
        {"form": form, "dataset": dataset, "blocker": blocker.message if blocker else ""},
    )


_TRANSITIONS = {
    "return": lambda u, d, n: services.dataset_return(actor=u, dataset=d, note=n),
    "reopen": lambda u, d, n: services.dataset_reopen(actor=u, dataset=d, reason=n),
    "retire": lambda u, d, n: services.dataset_retire(actor=u, dataset=d, reason=n),
}


@login_required
@require_POST
@domain_errors
def dataset_transition(request, slug, action):
    dataset = _dataset(request, slug)
    if action == "approve":
        return _approve(request, dataset)
    if action not in _TRANSITIONS:
        raise Http404
    form = forms.NoteForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    done, _ = attempt(request, lambda: _TRANSITIONS[action](request.user, dataset, note))
    if done:
        dataset.refresh_from_db()
        messages.success(request, f"Dataset is now {dataset.get_status_display().lower()}.")
    return redirect("datasets:detail", slug=slug)


def _approve(request, dataset):
    """The legal sign-off: a note and every item of ``policy.signoff_checklist``; what is
    missing comes back on the dataset page, all at once, and nothing changes."""
    # The service checks who may sign off first (and records a refusal) before the checklist.
    items = policy.signoff_checklist(dataset)
    form = SignOffForm(request.POST, items=items)
    form.is_valid()
    data = form.cleaned_data
    try:
        services.dataset_approve(
            actor=request.user,
            dataset=dataset,
            note=data.get("note", ""),
            checklist=data.get("checklist") or [],
            # What the page showed (our form always carries both): a page of an earlier
            # version or classification is refused.
            version=data.get("version"),
            fingerprint=data.get("fingerprint") or None,
        )
    except (NotFound, NotPermitted):
        raise
    except ApplicationError as error:
        if error.extra.get("stale_signoff"):
            dataset.refresh_from_db()
            form = SignOffForm.again(
                request.POST,
                items=policy.signoff_checklist(dataset),
                subject=policy.signoff_subject(dataset),
                error=error.message,
            )
            return _detail_page(request, dataset, signoff_form=form, status=409)
        form_error(form, error)
        return _detail_page(request, dataset, signoff_form=form, status=400)
    messages.success(request, "Dataset is now approved.")
    return redirect("datasets:detail", slug=dataset.slug)


@login_required
@require_http_methods(["GET", "POST"])
@domain_errors
def scan_create(request, slug):
    dataset = _dataset(request, slug)
    refuse(policy.may_manage(request.user, dataset))
    form = forms.ScanForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        done, scan = attempt(
            request,
            lambda: services.scan_start(
                actor=request.user,
                dataset=dataset,
                upload=data["file"],
                path=data["path"],
                connection_name=data["connection"],
                table=data["table"],
                max_rows=data["max_rows"],
            ),
            form=form,
        )
        if done:
            return redirect("datasets:scan", slug=slug, scan_id=scan.pk)
    return render(request, "datasets/scan_form.html", {"form": form, "dataset": dataset})


@login_required
@domain_errors
def scan_detail(request, slug, scan_id):
    dataset = _dataset(request, slug)
    scan = selectors.scan_get_for(viewer=request.user, dataset=dataset, scan_id=scan_id)
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
@domain_errors
def review_queue(request, slug):
    dataset = _dataset(request, slug)
    can_manage = policy.may_manage(request.user, dataset) is None
    if request.method == "POST":
        refuse(policy.may_manage(request.user, dataset))
        if request.POST.get("decision") == "accept_selected":
            return _accept_selected(request, dataset)
        if request.POST.get("decision") == "accept_confident":
            return _accept_confident(request, dataset)
        return _decide(request, dataset)
    status = request.GET.get("status", "suggested")
    if status not in Suggestion.Status.values and status != "all":
        status = "suggested"
    queue = selectors.suggestion_queue(
        viewer=request.user, dataset=dataset, status="" if status == "all" else status
    )
    confident = _confident(request.user, dataset)
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
            "progress": _progress(request.user, dataset),
            "confident_threshold": CONFIDENT,
            "confident_count": len(confident),
        },
    )


# "Accept all with confidence >= CONFIDENT": the scanner's calibrated high-confidence band.
CONFIDENT = 0.9


def _confident(viewer, dataset) -> list[int]:
    """Waiting suggestions the scanner is confident about and that name a role (columns left to
    a person are never accepted in bulk)."""
    return list(
        selectors.suggestion_queue(viewer=viewer, dataset=dataset)
        .filter(confidence__gte=CONFIDENT)
        .exclude(role="")
        .values_list("pk", flat=True)
    )


def _progress(viewer, dataset) -> dict:
    """What is left on the review page: suggestions to decide, fields unclassified, and
    whether the dataset is ready for the privacy review (``policy.ready_for_review``)."""
    fields = list(dataset.fields.only("name", "role"))
    return {
        "left": selectors.suggestion_queue(viewer=viewer, dataset=dataset).count(),
        "unclassified": sum(1 for f in fields if not f.is_classified),
        "ready": dataset.status == Dataset.Status.DRAFT and policy.ready_for_review(fields) is None,
    }


def _accept_confident(request, dataset):
    ids = _confident(request.user, dataset)
    if not ids:
        messages.error(request, MSG_NOTHING_CONFIDENT)
        return redirect("datasets:review", slug=dataset.slug)
    attempt(
        request,
        lambda: suggestions_accept(actor=request.user, dataset=dataset, suggestion_ids=ids),
        success=lambda accepted: (
            f"{len(accepted)} confident suggestion{'' if len(accepted) == 1 else 's'} accepted."
        ),
    )
    return redirect("datasets:review", slug=dataset.slug)


MSG_NOTHING_CONFIDENT = "No waiting suggestion has a confidence of 0.9 or more."


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
    attempt(
        request,
        lambda: suggestions_accept(actor=request.user, dataset=dataset, suggestion_ids=ids),
        success=lambda accepted: (
            f"{len(accepted)} suggestion{'' if len(accepted) == 1 else 's'} accepted."
        ),
    )
    return redirect("datasets:review", slug=dataset.slug)


ROLE_LABELS = dict(Role.CHOICES)
TREATMENT_LABELS = dict(Field.Treatment.choices)
SPECIAL_LABELS = dict(Special.CHOICES)


def _with_decisions(queue) -> list[Suggestion]:
    """The queue with the steward's choice spelled out for the history (``s.chosen``)."""
    suggestions = list(queue)
    for suggestion in suggestions:
        decision = suggestion.decision or {}
        suggestion.chosen = decision and {
            "category": decision.get("category"),
            "role": ROLE_LABELS.get(decision.get("role"), ""),
            "non_personal": decision.get("role") == Role.NON_PERSONAL,
            "special": SPECIAL_LABELS.get(decision.get("special_category") or "", ""),
            "treatment": TREATMENT_LABELS.get(decision.get("treatment"), ""),
        }
    return suggestions


def _decide(request, dataset):
    suggestion = selectors.suggestion_get_for(
        viewer=request.user, suggestion_id=request.POST.get("suggestion")
    )
    if suggestion.field.dataset_id != dataset.pk:
        raise Http404
    decision = request.POST.get("decision")
    if decision == "accept":
        write = lambda: services.suggestion_accept(actor=request.user, suggestion=suggestion)  # noqa: E731
    elif decision == "reject":
        write = lambda: services.suggestion_reject(  # noqa: E731
            actor=request.user, suggestion=suggestion, note=request.POST.get("note", "")
        )
    elif decision == "edit":
        form = forms.ClassificationForm(request.POST)
        if not form.is_valid():
            problem = "Check the edited classification: " + "; ".join(
                f"{k}: {' '.join(v)}" for k, v in form.errors.items()
            )
            if request.htmx:

                def refuse_edit():
                    raise ApplicationError(problem)

                return _decided_in_place(request, dataset, suggestion, refuse_edit)
            messages.error(request, problem)
            return redirect(reverse("datasets:review", args=[dataset.slug]))
        data = form.cleaned_data
        write = lambda: services.suggestion_edit(  # noqa: E731
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
    if request.htmx:
        return _decided_in_place(request, dataset, suggestion, write)
    attempt(
        request,
        write,
        success=f"{suggestion.field.name}: {decision}ed.".replace("eed", "ed"),
    )
    return redirect("datasets:review", slug=dataset.slug)


def _decided_in_place(request, dataset, suggestion, write):
    """htmx: the decided suggestion replaces itself (no reload, no jump to the top), and the
    progress line updates out of band; a refusal shows inside the suggestion, nothing changed."""
    from governance.errors import ApplicationError, NotFound, NotPermitted

    error = None
    try:
        write()
    except (NotFound, NotPermitted):
        raise
    except ApplicationError as problem:
        error = problem.message
    fresh = _with_decisions(
        selectors.suggestion_queue(viewer=request.user, dataset=dataset, status="").filter(
            pk=suggestion.pk
        )
    )[0]
    return render(
        request,
        "datasets/_decided.html",
        {
            "s": fresh,
            "dataset": dataset,
            "can_manage": True,
            "error": error,
            "classification_form": forms.ClassificationForm(),
            "progress": _progress(request.user, dataset),
            "oob": True,
            "status": "suggested",
        },
    )
