"""Portal pages of access governance: my access, the request form, the approvals inbox, a
request's page, a dataset's access page, purpose approvals and privacy training.

Every write goes through ``governance.access.services`` and every read through the selectors;
who may do what is governance/access/policy.py, whose answers the templates receive. Domain
errors become pages through governance.portal (404, 403 with the rule's message, or a form
error / message)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from consent.models import Purpose
from consent.policy import purposes_current
from datasets import selectors as catalog
from datasets.models import Dataset
from datasets.selectors import DatasetFilters
from governance.access import policy, selectors, services
from governance.access.models import AccessRequest, Grant, PurposeApproval
from governance.access.services.common import acknowledged_grant_ids, grant_terms
from governance.accounts import selectors as accounts
from governance.accounts.models import User
from governance.accounts.principal import Principal
from governance.accounts.roles import Role
from governance.policy import MAX_JUSTIFICATION
from governance.portal import attempt, domain_errors, refuse

MSG_DATASET_ACCESS_FORBIDDEN = policy.MSG_DATASET_ACCESS_FORBIDDEN
MSG_APPROVALS_VIEW_FORBIDDEN = policy.MSG_APPROVALS_VIEW_FORBIDDEN
MSG_APPROVAL_NOT_FOUND = "No such purpose approval."
MSG_UNKNOWN_ACTION = "Unknown action."
EXPIRING_SOON = timedelta(days=7)


# --- helpers --------------------------------------------------------------------------------


def _attempt(request, write, success) -> bool:
    return attempt(request, write, success=success)[0]


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


def _principal_value(user: User, principal: Principal) -> str:
    """The request form's ``principal`` value that asks for the same principal again."""
    if principal.kind == "user":
        return "self" if principal.user.pk == user.pk else ""
    return principal.label


def _principal_text(user: User, principal: Principal) -> str:
    if principal.kind == "user" and principal.user.pk == user.pk:
        return f"you ({user.username})"
    return principal.label


def _acknowledged_by_anyone(grants) -> set[int]:
    return acknowledged_grant_ids(grants)


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


_grant_state = policy.grant_state


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

    dataset = forms.ChoiceField(required=False)
    # Purpose and duration are checked by the service with everything else, so every problem
    # shows at once; the purpose choices are the purposes the chosen dataset is approved for.
    purpose = forms.CharField(required=False)
    fields = _NamesField(
        required=False, label="Fields", help_text="Field names, separated by commas."
    )
    duration_days = forms.CharField(
        label="Duration (days)", required=False, widget=forms.NumberInput(attrs={"min": 1})
    )
    justification = forms.CharField(
        required=False,
        # The browser stops at the limit; the service (``MAX_JUSTIFICATION``) refuses more.
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": MAX_JUSTIFICATION}),
        help_text=f"What you will train or analyse, and why these fields (20 to "
        f"{MAX_JUSTIFICATION:,} characters). Approvers read this.",
    )
    principal = forms.ChoiceField(label="Access for")

    def __init__(self, *args, datasets, principals, **kwargs):
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
        self.fields["principal"].choices = principals
        self.fields["duration_days"].help_text = "Longest grant by sensitivity: " + ", ".join(
            f"{level} {days} days" for level, days in settings.ACCESS_MAX_GRANT_DAYS.items()
        )


def _principal_choices(user: User) -> list[tuple[str, str]]:
    """What ``policy.requestable_principal`` accepts from this user, as form choices."""
    choices = [("self", f"Myself ({user.username})")]
    choices += [
        (Principal("role", role).label, f"Everyone with the role {Role(role).label}")
        for role in user.roles
    ]
    owned = accounts.service_account_list(viewer=user).filter(owner=user, revoked_at=None)
    choices += [
        (Principal("service_account", a.name).label, f"Service account {a.name}") for a in owned
    ]
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
    current = purposes_current(grant.purpose_slug for grant in grants)
    acknowledged = selectors.acknowledged_ids(user=user, grants=grants, current=current)
    rows = [_grant_row(user, grant, now, acknowledged, current) for grant in grants]
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
            "can_request": policy.may_request(user) is None,
        },
    )


def _grant_row(
    user: User, grant: Grant, now: datetime, acknowledged: set[int], current: dict
) -> dict:
    state = _grant_state(grant, now)
    live = state == Grant.Status.ACTIVE
    principal = Principal.of_row(grant)
    renew = {
        "dataset": grant.dataset.slug,
        "purpose": grant.purpose_slug,
        "fields": ",".join(grant.fields),
        "principal": _principal_value(user, principal),
    }
    return {
        "grant": grant,
        "state": state,
        "live": live,
        "principal": _principal_text(user, principal),
        "expiring": _expiring(grant, now),
        "acknowledged": grant.pk in acknowledged,
        "terms": grant_terms(grant, current)[1],
        "renew_url": f"{reverse('access:request-create')}?{urlencode(renew)}",
        "can_revoke": live and policy.may_revoke(user, grant) is None,
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
    refuse(policy.may_request(user))
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
        principals=_principal_choices(user),
    )
    picking = request.method == "POST" and "pick" in request.POST
    if picking:
        # Without JavaScript, "Show its fields and purposes" posts the form back: the same
        # page, filled in as it was, with the chosen dataset's fields and purposes (no errors).
        form = AccessRequestForm(
            initial={
                "dataset": request.POST.get("dataset", ""),
                "purpose": request.POST.get("purpose", ""),
                "fields": request.POST.getlist("fields"),
                "principal": request.POST.get("principal", "self"),
                "duration_days": request.POST.get("duration_days", ""),
                "justification": request.POST.get("justification", ""),
            },
            datasets=datasets,
            principals=_principal_choices(user),
        )
    elif request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        done, created = attempt(
            request,
            lambda: services.access_request_create(
                requester=user,
                # No dataset: the service reports that and every other problem at once.
                dataset=catalog.dataset_get_for(viewer=user, slug=data["dataset"])
                if data["dataset"]
                else None,
                purpose_slug=data["purpose"],
                fields=data["fields"],
                duration_days=_whole_number(data["duration_days"]),
                justification=data["justification"],
                principal=data["principal"],
            ),
            success=lambda r: (
                f"Request {r.pk} sent: the stewards of {r.dataset.slug} decide on it."
            ),
            form=form,
        )
        if done:
            return redirect("access:request", pk=created.pk)
    chosen = form["dataset"].value()
    selected = _names(form["fields"].value())
    return render(
        request,
        "access/request_form.html",
        {
            "form": form,
            **_picker_context(
                datasets,
                chosen,
                selected,
                form["fields"],
                purpose=form["purpose"].value() or "",
                purpose_field=form["purpose"],
            ),
        },
        status=400 if form.is_bound else 200,
    )


MSG_CHOOSE_DATASET = services.grants.MSG_CHOOSE_DATASET


def _whole_number(value) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _picker_context(
    datasets: list[Dataset],
    slug,
    selected: list[str],
    bound=None,
    *,
    purpose: str = "",
    purpose_field=None,
) -> dict:
    """The fields of the chosen dataset as checkboxes (with category, treatment and special
    category), the purposes it is approved for as the only purpose choices, and its longest
    grant; without a dataset, a text input for comma-separated names."""
    dataset = next((d for d in datasets if d.slug == slug), None)
    context = {
        "picked": dataset,
        "selected": selected,
        "names_field": bound,
        "purpose_field": purpose_field,
        "chosen_purpose": purpose,
        "purpose_choices": [],
    }
    if dataset is not None:
        approvals = list(
            selectors.purpose_approvals(dataset=dataset, live_only=True).select_related("purpose")
        )
        choices = [(a.purpose_slug, a.purpose.name) for a in approvals]
        context |= {
            "dataset_fields": catalog.dataset_fields(dataset=dataset),
            "approved_purposes": [slug for slug, _ in choices],
            "purpose_choices": choices,
            "chosen_purpose": purpose or (choices[0][0] if len(choices) == 1 else ""),
            "max_days": settings.ACCESS_MAX_GRANT_DAYS[dataset.sensitivity],
        }
    return context


@login_required
@require_GET
@domain_errors
def inbox(request):
    """Pending requests that wait for this user's approval."""
    waiting = selectors.requests_inbox(user=request.user).select_related(
        "principal_user__service_account", "steward_approved_by", "privacy_approved_by", "renews"
    )
    return render(request, "access/inbox.html", {"requests": _with_principals(waiting)})


def _with_principals(access_requests) -> list[AccessRequest]:
    """Each request with its principal spelled out and its requested fields as the catalog
    classifies them (category, treatment, special category): one query for all of them."""
    access_requests = list(access_requests)
    described = _described_fields(access_requests)
    for item in access_requests:
        item.principal_text = Principal.of_row(item).label
        item.field_rows = [
            described.get((item.dataset_id, name)) or {"name": name} for name in item.fields
        ]
    return access_requests


def _described_fields(access_requests) -> dict[tuple[int, str], dict]:
    from datasets.models import Field

    wanted = {(r.dataset_id, name) for r in access_requests for name in r.fields}
    if not wanted:
        return {}
    rows = Field.objects.filter(
        dataset_id__in={dataset for dataset, _ in wanted},
        name__in={name for _, name in wanted},
    ).select_related("category")
    return {
        (f.dataset_id, f.name): {
            "name": f.name,
            "category": f.category.key if f.category else "",
            "category_name": f.category.name if f.category else "",
            "role": f.get_role_display() if f.role else "unclassified",
            "treatment": f.get_treatment_display() if f.treatment else "",
            "special": f.get_special_category_display() if f.special_category else "",
        }
        for f in rows
    }


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
    item = _with_principals([item])[0]
    return render(
        request,
        "access/request_detail.html",
        {
            "item": item,
            "principal": Principal.of_row(item).label,
            "comments": _comments(item),
            "grant": _grant_of(user, item),
            "can_approve": policy.may_approve(user, item) is None,
            "can_deny": policy.may_deny(user, item) is None,
            "can_withdraw": policy.may_withdraw(user, item) is None,
            "can_comment": policy.may_comment(user, item) is None,
            "can_see_dataset_access": policy.may_see_dataset_access(user, item.dataset) is None,
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
    refuse(policy.may_see_dataset_access(user, dataset))
    can_manage = policy.may_manage_dataset_access(user, dataset) is None
    now = timezone.now()
    grants = list(selectors.grants_visible(viewer=user, dataset=dataset))
    acknowledged = _acknowledged_by_anyone(grants)
    rows = [
        {
            "grant": grant,
            "state": _grant_state(grant, now),
            "principal": Principal.of_row(grant).label,
            "expiring": _expiring(grant, now),
            "acknowledged": grant.pk in acknowledged,
        }
        for grant in grants
    ]
    approvals = list(selectors.purpose_approvals(viewer=user, dataset=dataset))
    is_officer = policy.may_approve_purpose_use(user) is None
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
            "decisions": selectors.decisions_per_day(datasets=[dataset.slug], days=30),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
@domain_errors
def purpose_approvals(request):
    """Which datasets may serve which purposes; privacy officers approve and revoke here."""
    user = request.user
    refuse(policy.may_view_purpose_approvals(user))
    is_officer = policy.may_approve_purpose_use(user) is None
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
            "approvals": selectors.purpose_approvals(viewer=user).select_related("revoked_by"),
            "form": form,
            "is_officer": is_officer,
        },
    )


def _approve_purpose(request, form, is_officer: bool):
    """A redirect when done (or when the form came from another page and failed); None to
    show the form's errors on the purpose approvals page."""
    back = _next_url(request, "")
    if not form.is_valid():
        refuse(policy.may_approve_purpose_use(request.user))
        if back:
            messages.error(request, "Choose an approved dataset and an active purpose.")
            return redirect(back)
        return None
    data = form.cleaned_data
    done, _ = attempt(
        request,
        lambda: services.purpose_approval_create(
            actor=request.user,
            dataset=catalog.dataset_get_for(viewer=request.user, slug=data["dataset"]),
            purpose_slug=data["purpose"],
            note=data["note"],
        ),
        success=lambda a: f"{a.dataset.slug} may now serve {a.purpose_slug}.",
        form=None if back else form,
    )
    if done or back:
        return redirect(back or reverse("access:purpose-approvals"))
    return None


# --- training -------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
@domain_errors
def training(request):
    """Privacy-training attestations: everyone sees their own; administrators, privacy officers
    and auditors see all; administrators and privacy officers record them."""
    user = request.user
    can_record = policy.may_record_training(user) is None
    form = TrainingForm(request.POST or None)
    if request.method == "POST":
        if not form.is_valid():
            refuse(policy.may_record_training(user))
        else:
            data = form.cleaned_data
            done, _ = attempt(
                request,
                lambda: services.training_record(
                    actor=user,
                    user=data["user"],
                    course=data["course"],
                    completed_at=_start_of_day(data["completed_at"]),
                    expires_at=_start_of_day(data["expires_at"]),
                    evidence=data["evidence"],
                ),
                success=lambda a: (
                    f"Training of {a.user.username} recorded, current until "
                    f"{a.expires_at:%Y-%m-%d}."
                ),
                form=form,
            )
            if done:
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


# --- renewal and lists ------------------------------------------------------------------------


@login_required
@require_POST
@domain_errors
def grant_renew(request, pk):
    """One click on a grant that runs out: a new request with the same dataset, purpose, fields,
    principal and duration, for the approvers to decide again. A grant made directly (no
    request to repeat) or a renewal the rules refuse goes to the prefilled form instead."""
    user = request.user
    grant = selectors.grant_get_for(viewer=user, pk=pk)
    refuse(policy.may_request(user), record="access.request_refused", request=request)
    row = _grant_row(user, grant, timezone.now(), set(), {})
    original = grant.request
    if original is None:
        return redirect(row["renew_url"])
    limit = settings.ACCESS_MAX_GRANT_DAYS[grant.dataset.sensitivity]
    done, created = attempt(
        request,
        lambda: services.access_request_create(
            requester=user,
            dataset=grant.dataset,
            purpose_slug=grant.purpose_slug,
            fields=list(grant.fields),
            duration_days=min(original.duration_days, limit),
            justification=f"Renewal of grant #{grant.pk}: {original.justification}"[:4000],
            principal=_principal_value(user, Principal.of_row(grant)) or "self",
            renews=grant,
        ),
        success=lambda r: f"Renewal requested: request {r.pk} waits for the approvers.",
    )
    if not done:
        return redirect(row["renew_url"])
    return redirect("access:request", pk=created.pk)


REQUEST_SORTS = {
    "id": "id",
    "dataset": "dataset__slug",
    "purpose": "purpose_slug",
    "requester": "requester__username",
    "status": "status",
    "sent": "created_at",
}


@login_required
@require_GET
@domain_errors
def request_list(request):
    """Every access request the viewer may see (``policy.requests_visible_to``): sortable,
    filterable by status, dataset and requester, paginated."""
    from governance.tables import listing

    user = request.user
    queryset = selectors.requests_visible(viewer=user).select_related(
        "principal_user__service_account"
    )
    status = request.GET.get("status", "")
    if status in AccessRequest.Status.values:
        queryset = queryset.filter(status=status)
    query = (request.GET.get("q") or "").strip()[:100]
    if query:
        queryset = queryset.filter(
            Q(dataset__slug__icontains=query)
            | Q(purpose_slug__icontains=query)
            | Q(requester__username__icontains=query)
        )
    table = listing(request, queryset, sorts=REQUEST_SORTS, default="-sent", keep=["status", "q"])
    return render(
        request,
        "access/request_list.html",
        {
            "table": table,
            "rows": _with_principals(table.rows),
            "status": status,
            "q": query,
            "statuses": AccessRequest.Status.choices,
        },
    )


GRANT_SORTS = {
    "dataset": "dataset__slug",
    "purpose": "purpose_slug",
    "expires": "expires_at",
    "granted": "created_at",
}
GRANT_STATES = {
    "active": "Active",
    "expired": "Expired",
    "revoked": "Revoked",
}


@login_required
@require_GET
@domain_errors
def grant_list(request):
    """Every grant the viewer may see (``policy.grants_visible_to``), with its state as of now:
    sortable, filterable by state and dataset, paginated."""
    from governance.tables import listing

    user = request.user
    now = timezone.now()
    queryset = selectors.grants_visible(viewer=user)
    state = request.GET.get("state", "")
    if state == "active":
        queryset = queryset.filter(status=Grant.Status.ACTIVE, expires_at__gt=now)
    elif state == "expired":
        queryset = queryset.filter(
            Q(status=Grant.Status.EXPIRED) | Q(status=Grant.Status.ACTIVE, expires_at__lte=now)
        )
    elif state == "revoked":
        queryset = queryset.filter(status=Grant.Status.REVOKED)
    else:
        state = ""
    query = (request.GET.get("q") or "").strip()[:100]
    if query:
        queryset = queryset.filter(
            Q(dataset__slug__icontains=query) | Q(purpose_slug__icontains=query)
        )
    table = listing(request, queryset, sorts=GRANT_SORTS, default="expires", keep=["state", "q"])
    rows = [
        {
            "grant": grant,
            "state": _grant_state(grant, now),
            "principal": Principal.of_row(grant).label,
            "expiring": _expiring(grant, now),
        }
        for grant in table.rows
    ]
    return render(
        request,
        "access/grant_list.html",
        {"table": table, "rows": rows, "state": state, "q": query, "states": GRANT_STATES},
    )
