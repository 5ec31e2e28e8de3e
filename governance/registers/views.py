"""Portal pages of the registers (/registers/): an overview with the breach clocks and review
dates, a list and a record form per register, one page per entry with its edit form, and the
processing records per purpose. Privacy officers write; auditors, administrators and
stewards (for their datasets) read."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from consent.models import Purpose
from governance.portal import attempt, domain_errors, refuse
from governance.registers import forms, policy, selectors, services
from governance.registers.kinds import KINDS, PROCESSING_COLUMNS

MSG_RECORDED = "Recorded."
MSG_SAVED = "Saved."


def _kind(slug: str):
    kind = KINDS.get(slug)
    if kind is None:
        raise Http404("No such register.")
    return kind


@login_required
@require_GET
@domain_errors
def overview(request):
    refuse(policy.may_read(request.user))
    now = timezone.now()
    counts = [
        (kind, selectors.entries_visible(viewer=request.user, kind=kind.slug).count())
        for kind in KINDS.values()
    ]
    breaches = selectors.open_breaches(viewer=request.user)
    dpias = [
        d for d in selectors.entries_visible(viewer=request.user, kind="dpias") if d.review_overdue
    ]
    return render(
        request,
        "registers/overview.html",
        {
            "counts": counts,
            "breaches": [(b, b.hours_to_deadline(now), b.authority_overdue(now)) for b in breaches],
            "dpias": dpias,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
@domain_errors
def register_list(request, kind: str):
    spec = _kind(kind)
    may_keep = policy.may_keep(request.user) is None
    form_class = forms.form_class(spec)
    form = form_class(request.POST or None) if may_keep else None
    status = 200
    if request.method == "POST":
        refuse(
            policy.may_keep(request.user),
            record=f"registers.{spec.entity}_refused",
            request=request,
        )
        status = 400
        if form.is_valid():
            done, entry = attempt(
                request,
                lambda: spec.create(
                    actor=request.user,
                    **forms.service_arguments(spec, form.cleaned_data, creating=True),
                ),
                form=form,
                success=MSG_RECORDED,
            )
            if done:
                return redirect("registers:entry", kind=spec.slug, pk=entry.pk)
    entries = list(selectors.entries_visible(viewer=request.user, kind=spec.slug)[:500])
    return render(
        request,
        "registers/list.html",
        {
            "kind": spec,
            "headers": [header for header, _ in spec.columns],
            "rows": list(zip(entries, spec.rows(entries), strict=True)),
            "form": form,
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
@domain_errors
def register_entry(request, kind: str, pk: int):
    spec = _kind(kind)
    entry = services.entry_get_for(viewer=request.user, kind=spec.slug, pk=pk)
    may_keep = policy.may_keep(request.user) is None
    form_class = forms.form_class(spec)
    form = None
    status = 200
    if request.method == "POST":
        refuse(
            policy.may_keep(request.user),
            record=f"registers.{spec.entity}_refused",
            request=request,
            target=entry,
        )
        form = form_class(request.POST)
        status = 400
        if form.is_valid():
            done, _ = attempt(
                request,
                lambda: spec.update(
                    actor=request.user,
                    **{spec.target: entry},
                    **forms.service_arguments(spec, form.cleaned_data),
                ),
                form=form,
                success=MSG_SAVED,
            )
            if done:
                return redirect("registers:entry", kind=spec.slug, pk=entry.pk)
    elif may_keep:
        form = form_class(initial=forms.initial(spec, entry))
    now = timezone.now()
    return render(
        request,
        "registers/entry.html",
        {
            "kind": spec,
            "entry": entry,
            "values": [(header, value(entry)) for header, value in spec.columns],
            "form": form,
            "clock": (entry.hours_to_deadline(now), entry.authority_overdue(now))
            if spec.slug == "breaches"
            else None,
        },
        status=status,
    )


@login_required
@require_GET
@domain_errors
def processing_list(request):
    records = {r.purpose_slug: r for r in selectors.processing_records_visible(viewer=request.user)}
    purposes = Purpose.objects.filter(
        policy.purposes_visible_to(request.user), status=Purpose.Status.ACTIVE
    ).order_by("slug")
    rows = [
        (purpose, [value(records[purpose.slug]) for _, value in PROCESSING_COLUMNS[1:]])
        if purpose.slug in records
        else (purpose, None)
        for purpose in purposes
    ]
    return render(
        request,
        "registers/processing.html",
        {"rows": rows, "headers": [h for h, _ in PROCESSING_COLUMNS[1:]]},
    )


@login_required
@require_http_methods(["GET", "POST"])
@domain_errors
def processing_entry(request, slug: str):
    refuse(policy.may_read(request.user))
    purpose = Purpose.objects.filter(
        policy.purposes_visible_to(request.user), slug=slug, status=Purpose.Status.ACTIVE
    ).first()
    if purpose is None:
        raise Http404("No such purpose.")
    record = (
        selectors.processing_records_visible(viewer=request.user).filter(purpose_slug=slug).first()
    )
    may_keep = policy.may_keep(request.user) is None
    form = None
    status = 200
    if request.method == "POST":
        refuse(
            policy.may_keep(request.user),
            record="registers.processing_record_refused",
            request=request,
        )
        form = forms.ProcessingRecordForm(request.POST)
        status = 400
        if form.is_valid():
            done, _ = attempt(
                request,
                lambda: services.processing_record_set(
                    actor=request.user, purpose=slug, **form.cleaned_data
                ),
                form=form,
                success=MSG_SAVED,
            )
            if done:
                return redirect("registers:processing-entry", slug=slug)
    elif may_keep:
        form = forms.ProcessingRecordForm(
            initial={
                "security_measures": record.security_measures if record else "",
                "no_transfers": record.no_transfers if record else False,
                "no_recipients": record.no_recipients if record else False,
            }
        )
    return render(
        request,
        "registers/processing_entry.html",
        {"purpose": purpose, "record": record, "form": form},
        status=status,
    )
