"""Portal pages: the purposes registry, notices, consent statistics, subject lookup and
receipts. Who may do what is consent/policy.py (called by the services and selectors); views
pass its answers to templates and turn domain errors into pages with governance.portal."""

from __future__ import annotations

import json
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from consent import policy, selectors, services
from consent.forms import (
    NoticeForm,
    PurposeForm,
    ReasonForm,
    SignOffForm,
    SubjectLookupForm,
    WithdrawForm,
)
from consent.models import Purpose
from consent.taxonomy import category_names
from consent.vocab import WITHDRAWALS
from governance.errors import ApplicationError, Conflict, NotFound, NotPermitted
from governance.portal import attempt, domain_errors, form_error, refuse
from governance.tables import listing


def _purpose(request, slug: str, version: int | None = None) -> Purpose:
    return selectors.purpose_get_for(viewer=request.user, slug=slug, version=version)


def _detail_url(purpose: Purpose) -> str:
    return reverse("consent:purpose-version", args=[purpose.slug, purpose.version])


@login_required
@require_GET
@domain_errors
def purpose_list(request):
    status = request.GET.get("status") or None
    if status not in (None, *Purpose.Status.values):
        status = None
    queryset = selectors.purpose_list(viewer=request.user, status=status)
    query = (request.GET.get("q") or "").strip()[:100]
    if query:
        queryset = queryset.filter(Q(slug__icontains=query) | Q(name__icontains=query))
    table = listing(
        request,
        queryset,
        sorts={
            "name": "name",
            "version": ["slug", "-version"],
            "basis": "legal_basis",
            "status": "status",
            "notices": "notice_count",
            "owner": "owner__username",
        },
        default="version",
        keep=["status", "q"],
    )
    return render(
        request,
        "consent/purpose_list.html",
        {
            "purposes": table.rows,
            "table": table,
            "q": query,
            "status": status,
            "statuses": Purpose.Status.choices,
            "can_create": policy.may_create_purpose(request.user) is None,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
@domain_errors
def purpose_create(request):
    refuse(policy.may_create_purpose(request.user))
    form = PurposeForm(request.POST or None, initial={"owner": request.user.username})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        done, purpose = attempt(
            request,
            lambda: services.purpose_create(
                slug=data["slug"],
                actor=request.user,
                **{name: data[name] for name in services.EDITABLE_FIELDS},
            ),
            success=lambda p: f"Purpose {p.slug} registered as a draft.",
            form=form,
        )
        if done:
            return redirect(_detail_url(purpose))
    return render(request, "consent/purpose_form.html", {"form": form, "purpose": None})


@login_required
@require_GET
@domain_errors
def purpose_detail(request, slug, version=None):
    return _detail_page(request, _purpose(request, slug, version))


def _detail_page(request, purpose, *, signoff_form=None, status=200):
    user = request.user
    can_change = policy.may_change_purpose(user, purpose) is None
    versions = selectors.purpose_versions(purpose=purpose)
    open_version = next(
        (v for v in versions if v.status in (Purpose.Status.DRAFT, Purpose.Status.SUBMITTED)),
        None,
    )
    can_activate = (
        purpose.status == Purpose.Status.SUBMITTED and policy.may_activate(user, purpose) is None
    )
    if signoff_form is None and can_activate:
        signoff_form = SignOffForm(
            items=policy.activation_checklist(purpose), subject=policy.signoff_subject(purpose)
        )
    return render(
        request,
        "consent/purpose_detail.html",
        {
            "purpose": purpose,
            "notices": selectors.notice_list(purpose=purpose),
            "versions": versions,
            "open_version": open_version,
            "can_edit": can_change and purpose.status == Purpose.Status.DRAFT,
            "can_submit": can_change and purpose.status == Purpose.Status.DRAFT,
            "can_activate": can_activate,
            "can_return": purpose.status == Purpose.Status.SUBMITTED
            and policy.may_return(user) is None,
            "can_retire": can_change and purpose.status != Purpose.Status.RETIRED,
            "can_version": policy.may_version_purpose(user, purpose) is None
            and purpose.status in (Purpose.Status.ACTIVE, Purpose.Status.RETIRED)
            and open_version is None,
            "can_publish_notice": policy.may_publish_notice(user, purpose) is None
            and purpose.status != Purpose.Status.RETIRED,
            "can_see_stats": policy.may_see_stats(user) is None and purpose.is_consent_based,
            # Two forms on the page ask for a reason: distinct ids for their labels.
            "return_form": ReasonForm(auto_id="id_return_%s"),
            "retire_form": ReasonForm(auto_id="id_retire_%s"),
            "signoff_form": signoff_form,
            "category_names": category_names(purpose.data_categories),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
@domain_errors
def purpose_edit(request, slug, version):
    purpose = _purpose(request, slug, version)
    refuse(policy.may_change_purpose(request.user, purpose))
    if purpose.status != Purpose.Status.DRAFT:
        messages.error(
            request,
            services.purposes.MSG_NOT_DRAFT.format(status=purpose.get_status_display().lower()),
        )
        return redirect(_detail_url(purpose))
    form = PurposeForm(
        request.POST or None, initial=PurposeForm.initial_from(purpose), editing=True
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        done, _ = attempt(
            request,
            lambda: services.purpose_update(
                purpose=purpose,
                actor=request.user,
                **{name: data[name] for name in services.EDITABLE_FIELDS},
            ),
            success="Draft saved.",
            form=form,
        )
        if done:
            return redirect(_detail_url(purpose))
    return render(request, "consent/purpose_form.html", {"form": form, "purpose": purpose})


def _transition(request, slug, version, action, success: str, *, with_reason=False):
    purpose = _purpose(request, slug, version)
    kwargs = {}
    if with_reason:
        form = ReasonForm(request.POST)
        if not form.is_valid():
            messages.error(request, services.purposes.MSG_REASON_REQUIRED)
            return redirect(_detail_url(purpose))
        kwargs["reason"] = form.cleaned_data["reason"]
    done, result = attempt(
        request,
        lambda: action(purpose=purpose, actor=request.user, **kwargs),
        success=lambda r: success.format(purpose=r),
    )
    return redirect(_detail_url(result if done else purpose))


@login_required
@require_POST
@domain_errors
def purpose_submit(request, slug, version):
    return _transition(
        request,
        slug,
        version,
        services.purpose_submit,
        "{purpose} submitted: a privacy officer will review and activate it.",
    )


@login_required
@require_POST
@domain_errors
def purpose_activate(request, slug, version):
    """The legal sign-off: a note and every item of ``policy.activation_checklist``; what is
    missing comes back next to the form, all at once, and nothing changes."""
    purpose = _purpose(request, slug, version)
    # The service checks who may sign off first (and records a refusal) before the checklist.
    form = SignOffForm(request.POST, items=policy.activation_checklist(purpose))
    form.is_valid()
    data = form.cleaned_data
    try:
        services.purpose_activate(
            purpose=purpose,
            actor=request.user,
            note=data.get("note", ""),
            checklist=data.get("checklist") or [],
            fingerprint=data.get("fingerprint") or None,
        )
    except (NotFound, NotPermitted):
        raise
    except ApplicationError as error:
        if error.extra.get("stale_signoff"):
            purpose.refresh_from_db()
            form = SignOffForm.again(
                request.POST,
                items=policy.activation_checklist(purpose),
                subject=policy.signoff_subject(purpose),
                error=error.message,
            )
            return _detail_page(request, purpose, signoff_form=form, status=409)
        form_error(form, error)
        return _detail_page(request, purpose, signoff_form=form, status=400)
    messages.success(request, f"{purpose} is active.")
    return redirect(_detail_url(purpose))


@login_required
@require_POST
@domain_errors
def purpose_return(request, slug, version):
    return _transition(
        request,
        slug,
        version,
        services.purpose_return,
        "{purpose} returned to its authors as a draft.",
        with_reason=True,
    )


@login_required
@require_POST
@domain_errors
def purpose_retire(request, slug, version):
    return _transition(
        request, slug, version, services.purpose_retire, "{purpose} retired.", with_reason=True
    )


@login_required
@require_POST
@domain_errors
def purpose_new_version(request, slug, version):
    return _transition(
        request,
        slug,
        version,
        services.purpose_new_version,
        "Draft {purpose} created: change it, then submit it for activation.",
    )


@login_required
@require_http_methods(["GET", "POST"])
@domain_errors
def notice_create(request, slug, version):
    purpose = _purpose(request, slug, version)
    refuse(policy.may_publish_notice(request.user, purpose))
    form = NoticeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        done, _ = attempt(
            request,
            lambda: services.notice_version_publish(
                purpose=purpose,
                actor=request.user,
                text=data["text"],
                url=data["url"],
                content_hash=data["content_hash"],
                language=data["language"],
                effective_from=data["effective_from"],
            ),
            success=lambda notice: f"Notice version {notice.version} published.",
            form=form,
        )
        if done:
            return redirect(_detail_url(purpose))
    return render(request, "consent/notice_form.html", {"form": form, "purpose": purpose})


@login_required
@require_GET
@domain_errors
def purpose_stats(request, slug, version):
    purpose = _purpose(request, slug, version)
    refuse(policy.may_see_stats(request.user))
    try:
        months = int(request.GET.get("months", 12))
    except ValueError:
        months = 12
    months = max(1, min(months, selectors.stats.MAX_MONTHS))
    now = timezone.now()
    buckets, series = selectors.monthly_flows(purpose=purpose, months=months, now=now)
    return render(
        request,
        "consent/purpose_stats.html",
        {
            "purpose": purpose,
            "months": months,
            "summary": selectors.state_summary(purpose=purpose, now=now),
            "chart": selectors.line_chart(buckets, series),
            "rows": [
                {"month": bucket, "values": [s.values[i] for s in series]}
                for i, bucket in enumerate(buckets)
            ],
            "series": series,
        },
    )


@login_required
@require_GET
@domain_errors
def subject_lookup(request):
    refuse(policy.may_read_history(request.user))
    form = SubjectLookupForm(request.GET or None)
    if request.GET and form.is_valid():
        return redirect(
            "consent:subject-detail",
            namespace=form.cleaned_data["namespace"],
            subject_id=form.cleaned_data["subject_id"],
        )
    return render(request, "consent/subject_lookup.html", {"form": form})


@login_required
@require_GET
@domain_errors
def subject_detail(request, namespace, subject_id):
    try:
        subject = selectors.subject_get_for(
            viewer=request.user, namespace=namespace, external_id=subject_id
        )
    except NotPermitted:
        raise
    except NotFound as error:
        form = SubjectLookupForm(initial={"namespace": namespace, "subject_id": subject_id})
        return render(
            request,
            "consent/subject_lookup.html",
            {"form": form, "not_found": error.message},
            status=404,
        )
    except ApplicationError as error:
        form = SubjectLookupForm({"namespace": namespace, "subject_id": subject_id})
        form.is_valid()
        return render(
            request,
            "consent/subject_lookup.html",
            {"form": form, "not_found": error.message},
            status=400,
        )
    now = timezone.now()
    states = selectors.subject_states(subject=subject)
    for state in states:
        state.effective = state.effective_status(now)
        state.valid = state.is_valid(now)
        state.withdrawable = state.valid and state.purpose.status == Purpose.Status.ACTIVE
    return render(
        request,
        "consent/subject_detail.html",
        {
            "subject": subject,
            "states": states,
            "events": selectors.subject_events(subject=subject),
            "can_receipt": policy.may_read_receipts(request.user) is None,
            "can_withdraw": policy.may_record(request.user) is None,
            "withdrawals": WITHDRAWALS,
            "idempotency_key": f"portal-{uuid.uuid4().hex}",
        },
    )


@login_required
@require_GET
@domain_errors
def receipt_download(request, namespace, subject_id, slug, version):
    try:
        subject = selectors.subject_get_for(
            viewer=request.user, namespace=namespace, external_id=subject_id
        )
        purpose = selectors.subject_record_purpose(subject=subject, slug=slug, version=version)
        receipt = services.receipt_issue(viewer=request.user, subject=subject, purpose=purpose)
    except (NotFound, NotPermitted):
        raise  # pages for these come from @domain_errors
    except ApplicationError as error:  # an id in the address that the registry never accepts
        raise Http404(error.message) from None
    response = HttpResponse(
        json.dumps(receipt, indent=2, ensure_ascii=False), content_type="application/json"
    )
    name = f"consent-receipt-{namespace}-{subject_id}-{slug}-v{purpose.version}.json"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
@domain_errors
def subject_withdraw(request, namespace, subject_id, slug):
    """A withdrawal on the subject's request (Art. 7(3)): a page that says what it sets off,
    then the event, with the channel the subject used and the request's reference."""
    detail = reverse("consent:subject-detail", args=[namespace, subject_id])
    refuse(
        policy.may_record(request.user),
        record="consent.withdrawal_refused" if request.method == "POST" else None,
        request=request,
    )
    subject = selectors.subject_get_for(
        viewer=request.user, namespace=namespace, external_id=subject_id
    )
    purpose = selectors.purpose_get_for(viewer=request.user, slug=slug)
    form = WithdrawForm(
        request.POST if request.method == "POST" else None,
        initial={"idempotency_key": f"portal-{uuid.uuid4().hex}"},
    )
    status = 400 if form.is_bound else 200
    nothing = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            result = services.consent_withdraw(
                namespace=namespace,
                subject_id=subject_id,
                purpose=slug,
                actor=request.user,
                collection_method=data["channel"],
                idempotency_key=data["idempotency_key"] or None,
                evidence={"reference": data["reference"]},
            )
        except (NotFound, NotPermitted):
            raise
        except Conflict as error:  # nothing to withdraw (any more): say so, without the form
            nothing, status = error.message, 409
        except ApplicationError as error:
            form_error(form, error)
        else:
            if not result.replayed:
                messages.success(request, f"Consent for {slug} withdrawn.")
            return redirect(detail)
    if request.method == "GET":
        state = next(
            (s for s in selectors.subject_states(subject=subject) if s.purpose.slug == slug), None
        )
        refusal = policy.withdrawal_refusal(state, at=timezone.now())
        nothing = refusal.message if refusal else None
    return render(
        request,
        "consent/withdraw_confirm.html",
        {
            "subject": subject,
            "purpose": purpose,
            "form": form,
            "nothing": nothing,
            "impacts": _withdrawal_impacts(subject, purpose) if not nothing else [],
        },
        status=status,
    )


def _withdrawal_impacts(subject, purpose) -> list[str]:
    """What other apps will do once the withdrawal is recorded (``withdrawal_impact`` on their
    AppConfig: function(subject, purpose) -> list of sentences), e.g. which datasets erase."""
    from django.apps import apps
    from django.utils.module_loading import import_string

    lines = []
    for app_config in apps.get_app_configs():
        provider = getattr(app_config, "withdrawal_impact", None)
        if provider:
            lines.extend(import_string(provider)(subject, purpose))
    return lines
