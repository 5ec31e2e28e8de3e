"""Portal pages of access governance: my access, the request form, the approvals inbox, a
request's page, a dataset's access page, purpose approvals and privacy training.

Every write goes through ``governance.access.services`` and every read through the selectors,
which check permissions; what a template shows or hides is convenience only. Domain errors
become pages: NotFound → 404, NotPermitted → 403 (the services record the refusal), any other
ApplicationError → a form error next to the field it names, or a message on the page the user
returns to."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from functools import wraps
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from consent.models import Purpose
from datasets import selectors as catalog
from datasets.models import Dataset
from datasets.selectors import DatasetFilters
from governance.access import selectors, services
from governance.access.models import AccessRequest, Acknowledgement, Grant, PurposeApproval
from governance.access.services.approvals import MSG_APPROVAL_FORBIDDEN, MSG_TRAINING_FORBIDDEN
from governance.access.services.common import (
    is_privacy_officer,
    is_steward_of,
    principal_label,
    terms_for,
)
from governance.access.services.grants import MSG_REQUEST_FORBIDDEN
from governance.accounts import selectors as accounts
from governance.accounts.models import User
from governance.accounts.roles import Role
from governance.errors import ApplicationError, NotFound, NotPermitted

MSG_DATASET_ACCESS_FORBIDDEN = (
    "Only the dataset's stewards, privacy officers, administrators and auditors see who may "
    "read it."
)
MSG_APPROVALS_VIEW_FORBIDDEN = (
    "Only stewards, privacy officers, administrators and auditors see purpose approvals."
)
MSG_APPROVAL_NOT_FOUND = "No such purpose approval."
MSG_UNKNOWN_ACTION = "Unknown action."
EXPIRING_SOON = timedelta(days=7)


# --- helpers --------------------------------------------------------------------------------


def domain_errors(view):
    """Missing objects become 404 pages and refusals 403 pages."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except NotFound as error:
            raise Http404(error.message) from None
        except NotPermitted as error:
            raise PermissionDenied(error.message) from None

    return wrapped


def _form_error(form, error: ApplicationError) -> None:
    field = error.extra.get("field")
    form.add_error(field if field in form.fields else None, error.message)


def _attempt(request, write: Callable, success: str | Callable) -> bool:
    """Run one write. A refusal that is neither 403 nor 404 becomes an error message; success
    becomes a success message (``success`` may be a function of the write's result)."""
    try:
        result = write()
    except (NotFound, NotPermitted):
        raise
    except ApplicationError as error:
        messages.error(request, error.message)
        return False
    messages.success(request, success(result) if callable(success) else success)
    return True


def _next_url(request, default: str) -> str:
    """Where to return after a POST: the form's ``next`` if it is a local URL."""
    candidate = request.POST.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default


def _active_purposes():
    return Purpose.objects.filter(status=Purpose.Status.ACTIVE).order_by("slug", "-version")


def _approved_datasets(user: User):
    return catalog.dataset_list(viewer=user, filters=DatasetFilters(status="approved"))


def _principal_value(user: User, *, principal_user, principal_group) -> str:
    """The request form's ``principal`` value that asks for the same principal again."""
    if principal_group is not None:
        return f"role:{principal_group.name}"
    if principal_user is not None and principal_user.is_service_account:
        return f"service_account:{principal_user.service_account.name}"
    if principal_user is not None and principal_user.pk == user.pk:
        return "self"
    return ""


def _principal_text(user: User, *, principal_user, principal_group) -> str:
    if principal_user is not None and principal_user.pk == user.pk:
        return f"you ({user.username})"
    return principal_label(user=principal_user, group=principal_group)


def _owns_principal(user: User, grant: Grant) -> bool:
    principal = grant.principal_user
    if principal is None:
        return False
    if principal.pk == user.pk:
        return True
    return principal.is_service_account and principal.service_account.owner_id == user.pk


def _acknowledged_by_anyone(grants) -> set[int]:
    return set(Acknowledgement.objects.filter(grant__in=grants).values_list("grant_id", flat=True))


def _comments(access_request: AccessRequest):
    return access_request.comments.select_related("author")


def _grant_of(user: User, access_request: AccessRequest) -> Grant | None:
    if access_request.status != AccessRequest.Status.APPROVED:
        return None
    return selectors.grants_visible(viewer=user).filter(request=access_request).first()


def _approval(pk) -> PurposeApproval:
    try:
        approval = selectors.purpose_approvals().filter(pk=int(pk)).first()
    except (TypeError, ValueError):
        approval = None
    if approval is None:
        raise Http404(MSG_APPROVAL_NOT_FOUND)
    return approval


def _grant_state(grant: Grant, now: datetime) -> str:
    """The status a person should see: an active grant past its expiry is expired even before
    the beat job marks it."""
    if grant.status == Grant.Status.ACTIVE and grant.expires_at <= now:
        return Grant.Status.EXPIRED
    return grant.status


def _expiring(grant: Grant, now: datetime) -> bool:
    soon = now + EXPIRING_SOON
    return _grant_state(grant, now) == Grant.Status.ACTIVE and grant.expires_at <= soon


# --- forms ----------------------------------------------------------------------------------


class _NamesInput(forms.TextInput):
    """Field names typed comma-separated, or ticked as checkboxes sharing the name."""

    def value_from_datadict(self, data, files, name):
        return data.getlist(name) if hasattr(data, "getlist") else data.get(name)

    def format_value(self, value):
        if isinstance(value, list | tuple):
            return ", ".join(str(v) for v in value if v)
        return super().format_value(value)


class _NamesField(forms.Field):
    widget = _NamesInput

    def to_python(self, value):
        items = value if isinstance(value, list | tuple) else [value or ""]
        names = (name.strip() for item in items for name in str(item).split(","))
        return list(dict.fromkeys(name for name in names if name))


def _names(value) -> list[str]:
    return _NamesField().to_python(value)


class AccessRequestForm(forms.Form):
    """The rules (approved dataset, approved purpose, known fields, duration limit, length of
    the justification) live in services.access_request_create; its errors land on the field
    they name."""

    dataset = forms.ChoiceField()
    purpose = forms.ChoiceField()
    fields = _NamesField(
        required=False, label="Fields", help_text="Field names, separated by commas."
    )
    duration_days = forms.IntegerField(label="Duration (days)", min_value=1)
    justification = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What you will train or analyse, and why these fields (at least 20 "
        "characters). Approvers read this.",
    )
    principal = forms.ChoiceField(label="Access for")

    def __init__(self, *args, datasets, purposes, principals, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dataset"].choices = [("", "— choose a dataset —")] + [
            (d.slug, f"{d.name} ({d.slug})") for d in datasets
        ]
        # Choosing a dataset swaps the field input for checkboxes of its fields (htmx).
        self.fields["dataset"].widget.attrs.update(
            {
                "hx-get": f"{reverse('access:request-create')}?picker=1",
                "hx-target": "#field-picker",
                "hx-swap": "outerHTML",
                "hx-trigger": "change",
            }
        )
        self.fields["purpose"].choices = [("", "— choose a purpose —")] + [
            (p.slug, f"{p.name} ({p.slug})") for p in purposes
        ]
        self.fields["principal"].choices = principals
        self.fields["duration_days"].help_text = "Longest grant by sensitivity: " + ", ".join(
            f"{level} {days} days" for level, days in settings.ACCESS_MAX_GRANT_DAYS.items()
        )


def _principal_choices(user: User) -> list[tuple[str, str]]:
    choices = [("self", f"Myself ({user.username})")]
    choices += [
        (f"role:{role}", f"Everyone with the role {Role(role).label}") for role in user.roles
    ]
    owned = accounts.service_account_list(viewer=user).filter(owner=user, revoked_at=None)
    choices += [(f"service_account:{a.name}", f"Service account {a.name}") for a in owned]
    return choices


class PurposeApprovalForm(forms.Form):
    dataset = forms.ChoiceField()
    purpose = forms.ChoiceField()
    note = forms.CharField(required=False, max_length=1000, label="Note (optional)")

    def __init__(self, *args, datasets, purposes, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dataset"].choices = [("", "— approved dataset —")] + [
            (d.slug, d.slug) for d in datasets
        ]
        self.fields["purpose"].choices = [("", "— active purpose —")] + [
            (p.slug, f"{p.name} ({p.slug})") for p in purposes
        ]


class TrainingForm(forms.Form):
    user = forms.ModelChoiceField(
        queryset=User.objects.none(), to_field_name="username", label="Person"
    )
    course = forms.CharField(max_length=200, required=False)
    completed_at = forms.DateField(
        label="Completed on", widget=forms.DateInput(attrs={"type": "date"})
    )
    expires_at = forms.DateField(
        label="Expires on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=f"Empty: {settings.TRAINING_VALIDITY_DAYS} days after completion.",
    )
    evidence = forms.CharField(
        max_length=500,
        required=False,
        label="Evidence (optional)",
        help_text="Certificate number or link.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = accounts.person_choices()


def _start_of_day(day) -> datetime | None:
    if day is None:
        return None
    return timezone.make_aware(datetime.combine(day, time.min))


# --- my access ------------------------------------------------------------------------------


@login_required
@require_GET
@domain_errors
def mine(request):
    """Grants I can use (mine, my roles', my service accounts'), my requests, my accounts."""
    user = request.user
    now = timezone.now()
    grants = list(selectors.grants_mine(user=user))
    acknowledged = selectors.acknowledged_ids(user=user, grants=grants)
    rows = [_grant_row(user, grant, now, acknowledged) for grant in grants]
    owned = list(accounts.service_account_list(viewer=user).filter(owner=user))
    for account in owned:
        account.live_grants = sum(
            1 for row in rows if row["live"] and row["grant"].principal_user_id == account.user_id
        )
    return render(
        request,
        "access/mine.html",
        {
            "current": [row for row in rows if row["live"]],
            "past": [row for row in rows if not row["live"]],
            "requests": selectors.requests_mine(user=user).select_related(
                "principal_user__service_account"
            ),
            "service_accounts": owned,
            "can_request": user.has_perm("access.add_accessrequest"),
        },
    )


def _grant_row(user: User, grant: Grant, now: datetime, acknowledged: set[int]) -> dict:
    state = _grant_state(grant, now)
    live = state == Grant.Status.ACTIVE
    principal = {"principal_user": grant.principal_user, "principal_group": grant.principal_group}
    renew = {
        "dataset": grant.dataset.slug,
        "purpose": grant.purpose_slug,
        "fields": ",".join(grant.fields),
        "principal": _principal_value(user, **principal),
    }
    return {
        "grant": grant,
        "state": state,
        "live": live,
        "principal": _principal_text(user, **principal),
        "expiring": _expiring(grant, now),
        "acknowledged": grant.pk in acknowledged,
        "terms": terms_for(grant.purpose, grant.dataset)[1],
        "renew_url": f"{reverse('access:request-create')}?{urlencode(renew)}",
        "can_revoke": live and _owns_principal(user, grant),
    }


@login_required
@require_POST
@domain_errors
def grant_acknowledge(request, pk):
    grant = selectors.grant_get_for(viewer=request.user, pk=pk)
    _attempt(
        request,
        lambda: services.grant_acknowledge(actor=request.user, grant=grant),
        f"You acknowledged the terms of your access to {grant.dataset.slug} for "
        f"{grant.purpose_slug}.",
    )
    return redirect(_next_url(request, reverse("access:mine")))


@login_required
@require_POST
@domain_errors
def grant_revoke(request, pk):
    grant = selectors.grant_get_for(viewer=request.user, pk=pk)
    _attempt(
        request,
        lambda: services.grant_revoke(
            actor=request.user, grant=grant, reason=request.POST.get("reason", "")
        ),
        f"Grant {grant.pk} ({grant.dataset.slug} for {grant.purpose_slug}) revoked.",
    )
    return redirect(_next_url(request, reverse("access:mine")))


# --- requests -------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
@domain_errors
def request_create(request):
    user = request.user
    if not user.has_perm("access.add_accessrequest") or user.is_service_account:
        raise PermissionDenied(MSG_REQUEST_FORBIDDEN)
    datasets = list(_approved_datasets(user))
    if request.htmx and request.GET.get("picker"):
        return render(
            request,
            "access/_field_picker.html",
            _picker_context(datasets, request.GET.get("dataset"), selected=[]),
        )
    initial = {
        "dataset": request.GET.get("dataset", ""),
        "purpose": request.GET.get("purpose", ""),
        "fields": _names(request.GET.get("fields", "")),
        "principal": request.GET.get("principal", "self"),
        "duration_days": 30,
    }
    form = AccessRequestForm(
        request.POST or None,
        initial=initial,
        datasets=datasets,
        purposes=_active_purposes(),
        principals=_principal_choices(user),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            created = services.access_request_create(
                requester=user,
                dataset=catalog.dataset_get_for(viewer=user, slug=data["dataset"]),
                purpose_slug=data["purpose"],
                fields=data["fields"],
                duration_days=data["duration_days"],
                justification=data["justification"],
                principal=data["principal"],
            )
        except (NotFound, NotPermitted):
            raise
        except ApplicationError as error:
            _form_error(form, error)
        else:
            messages.success(
                request,
                f"Request {created.pk} sent: the stewards of {created.dataset.slug} decide on it.",
            )
            return redirect("access:request", pk=created.pk)
    chosen = form["dataset"].value()
    selected = _names(form["fields"].value())
    return render(
        request,
        "access/request_form.html",
        {"form": form, **_picker_context(datasets, chosen, selected, form["fields"])},
    )


def _picker_context(datasets: list[Dataset], slug, selected: list[str], bound=None) -> dict:
    """The fields of the chosen dataset as checkboxes, with the purposes it is approved for and
    its longest grant; without a dataset, a text input for comma-separated names."""
    dataset = next((d for d in datasets if d.slug == slug), None)
    context = {"picked": dataset, "selected": selected, "names_field": bound}
    if dataset is not None:
        context |= {
            "dataset_fields": catalog.dataset_fields(dataset=dataset),
            "approved_purposes": [
                a.purpose_slug for a in selectors.purpose_approvals(dataset=dataset, live_only=True)
            ],
            "max_days": settings.ACCESS_MAX_GRANT_DAYS[dataset.sensitivity],
        }
    return context


@login_required
@require_GET
@domain_errors
def inbox(request):
    """Pending requests that wait for this user's approval."""
    waiting = selectors.requests_inbox(user=request.user).select_related(
        "principal_user__service_account"
    )
    return render(request, "access/inbox.html", {"requests": _with_principals(waiting)})


def _with_principals(access_requests) -> list[AccessRequest]:
    access_requests = list(access_requests)
    for item in access_requests:
        item.principal_text = principal_label(user=item.principal_user, group=item.principal_group)
    return access_requests


_REQUEST_ACTIONS = {
    "approve": lambda request, item: services.access_request_approve(
        actor=request.user, request=item, note=request.POST.get("note", "").strip()
    ),
    "deny": lambda request, item: services.access_request_deny(
        actor=request.user, request=item, reason=request.POST.get("reason", "")
    ),
    "withdraw": lambda request, item: services.access_request_withdraw(
        actor=request.user, request=item
    ),
    "comment": lambda request, item: services.access_request_comment(
        actor=request.user, request=item, body=request.POST.get("body", "")
    ),
}


def _request_done(action: str, result) -> str:
    if action == "comment":
        return "Comment added."
    if action != "approve":
        return f"Request {result.pk} {result.status}."
    if result.status == AccessRequest.Status.APPROVED:
        until = f"{result.grant.expires_at:%Y-%m-%d %H:%M}"
        return f"Request {result.pk} approved: the grant is active until {until} UTC."
    waiting = "a privacy officer" if result.privacy_approved_by_id is None else "a steward"
    return f"Your approval of request {result.pk} is recorded; it now waits for {waiting}."


@login_required
@require_http_methods(["GET", "POST"])
@domain_errors
def request_detail(request, pk):
    user = request.user
    item = selectors.request_get_for(viewer=user, pk=pk)
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action not in _REQUEST_ACTIONS:
            messages.error(request, MSG_UNKNOWN_ACTION)
        else:
            _attempt(
                request,
                lambda: _REQUEST_ACTIONS[action](request, item),
                lambda result: _request_done(action, result),
            )
        return redirect(_next_url(request, reverse("access:request", args=[item.pk])))
    pending = item.status == AccessRequest.Status.PENDING
    own = user.pk in (item.requester_id, item.principal_user_id)
    steward = is_steward_of(user, item.dataset)
    officer = item.needs_privacy_officer and is_privacy_officer(user)
    may_approve = (
        steward and item.steward_approved_by_id is None and item.privacy_approved_by_id != user.pk
    ) or (
        officer and item.privacy_approved_by_id is None and item.steward_approved_by_id != user.pk
    )
    return render(
        request,
        "access/request_detail.html",
        {
            "item": item,
            "principal": principal_label(user=item.principal_user, group=item.principal_group),
            "comments": _comments(item),
            "grant": _grant_of(user, item),
            "can_approve": pending and not own and may_approve,
            "can_deny": pending and not own and (steward or officer),
            "can_withdraw": pending and user.pk == item.requester_id,
            "can_comment": user.pk == item.requester_id or steward or is_privacy_officer(user),
            "can_see_dataset_access": selectors.can_manage_access(user, item.dataset)
            or user.has_role(Role.AUDITOR),
        },
    )


# --- datasets and purposes ------------------------------------------------------------------


@login_required
@require_GET
@domain_errors
def dataset_access(request, slug):
    """Who may read the dataset, for which purpose, until when; the purposes it may serve."""
    user = request.user
    dataset = catalog.dataset_get_for(viewer=user, slug=slug)
    can_manage = selectors.can_manage_access(user, dataset)
    if not (can_manage or user.has_role(Role.AUDITOR)):
        raise PermissionDenied(MSG_DATASET_ACCESS_FORBIDDEN)
    now = timezone.now()
    grants = list(selectors.grants_visible(viewer=user, dataset=dataset))
    acknowledged = _acknowledged_by_anyone(grants)
    rows = [
        {
            "grant": grant,
            "state": _grant_state(grant, now),
            "principal": principal_label(user=grant.principal_user, group=grant.principal_group),
            "expiring": _expiring(grant, now),
            "acknowledged": grant.pk in acknowledged,
        }
        for grant in grants
    ]
    approvals = list(selectors.purpose_approvals(dataset=dataset))
    is_officer = user.has_role(Role.PRIVACY_OFFICER)
    live = {a.purpose_slug for a in approvals if a.revoked_at is None}
    open_requests = (
        selectors.requests_visible(viewer=user)
        .filter(dataset=dataset, status=AccessRequest.Status.PENDING)
        .order_by("created_at")
    )
    return render(
        request,
        "access/dataset.html",
        {
            "dataset": dataset,
            "rows": rows,
            "approvals": approvals,
            "open_requests": open_requests,
            "can_manage": can_manage,
            "is_officer": is_officer,
            "can_approve_purpose": is_officer and dataset.status == Dataset.Status.APPROVED,
            "other_purposes": [p for p in _active_purposes() if p.slug not in live],
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
@domain_errors
def purpose_approvals(request):
    """Which datasets may serve which purposes; privacy officers approve and revoke here."""
    user = request.user
    if not user.has_perm("access.view_purposeapproval"):
        raise PermissionDenied(MSG_APPROVALS_VIEW_FORBIDDEN)
    is_officer = user.has_role(Role.PRIVACY_OFFICER)
    action = request.POST.get("action") if request.method == "POST" else None
    if action == "revoke":
        approval = _approval(request.POST.get("approval"))
        _attempt(
            request,
            lambda: services.purpose_approval_revoke(
                actor=user, approval=approval, reason=request.POST.get("reason", "")
            ),
            f"{approval.dataset.slug} may no longer serve {approval.purpose_slug}.",
        )
        return redirect(_next_url(request, reverse("access:purpose-approvals")))
    form = PurposeApprovalForm(
        request.POST if action == "approve" else None,
        datasets=_approved_datasets(user),
        purposes=_active_purposes(),
    )
    if request.method == "POST" and action != "approve":
        messages.error(request, MSG_UNKNOWN_ACTION)
        return redirect("access:purpose-approvals")
    if action == "approve":
        response = _approve_purpose(request, form, is_officer)
        if response is not None:
            return response
    return render(
        request,
        "access/purpose_approvals.html",
        {
            "approvals": selectors.purpose_approvals().select_related("revoked_by"),
            "form": form,
            "is_officer": is_officer,
        },
    )


def _approve_purpose(request, form, is_officer: bool):
    """A redirect when done (or when the form came from another page and failed); None to
    show the form's errors on the purpose approvals page."""
    back = _next_url(request, "")
    if not form.is_valid():
        if not is_officer:
            raise PermissionDenied(MSG_APPROVAL_FORBIDDEN)
        if back:
            messages.error(request, "Choose an approved dataset and an active purpose.")
            return redirect(back)
        return None
    data = form.cleaned_data
    try:
        approval = services.purpose_approval_create(
            actor=request.user,
            dataset=catalog.dataset_get_for(viewer=request.user, slug=data["dataset"]),
            purpose_slug=data["purpose"],
            note=data["note"],
        )
    except (NotFound, NotPermitted):
        raise
    except ApplicationError as error:
        if back:
            messages.error(request, error.message)
            return redirect(back)
        _form_error(form, error)
        return None
    messages.success(request, f"{approval.dataset.slug} may now serve {approval.purpose_slug}.")
    return redirect(back or reverse("access:purpose-approvals"))


# --- training -------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
@domain_errors
def training(request):
    """Privacy-training attestations: everyone sees their own; administrators, privacy officers
    and auditors see all; administrators and privacy officers record them."""
    user = request.user
    can_record = user.has_role(Role.ADMIN) or is_privacy_officer(user)
    form = TrainingForm(request.POST or None)
    if request.method == "POST":
        if not form.is_valid() and not can_record:
            raise PermissionDenied(MSG_TRAINING_FORBIDDEN)
        if form.is_valid():
            data = form.cleaned_data
            try:
                attestation = services.training_record(
                    actor=user,
                    user=data["user"],
                    course=data["course"],
                    completed_at=_start_of_day(data["completed_at"]),
                    expires_at=_start_of_day(data["expires_at"]),
                    evidence=data["evidence"],
                )
            except (NotFound, NotPermitted):
                raise
            except ApplicationError as error:
                _form_error(form, error)
            else:
                messages.success(
                    request,
                    f"Training of {attestation.user.username} recorded, current until "
                    f"{attestation.expires_at:%Y-%m-%d}.",
                )
                return redirect("access:training")
    return render(
        request,
        "access/training.html",
        {
            "attestations": selectors.training_list(viewer=user),
            "now": timezone.now(),
            "form": form if can_record else None,
        },
    )
