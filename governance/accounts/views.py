from __future__ import annotations

from datetime import timedelta

from django.apps import apps
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.module_loading import import_string
from django.views.decorators.http import require_http_methods, require_POST

from governance.accounts import selectors, services
from governance.accounts.forms import (
    LoginForm,
    ServiceAccountCreateForm,
    ServiceAccountRevokeForm,
)
from governance.accounts.models import User
from governance.accounts.roles import Role
from governance.audit.models import LedgerEntry
from governance.errors import ApplicationError, NotFound, NotPermitted


class LoginView(auth_views.LoginView):
    form_class = LoginForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True


@login_required
def dashboard(request):
    user: User = request.user
    roles = set(user.roles)
    panels = []
    if Role.ADMIN in roles:
        panels.append(
            {
                "role": Role.ADMIN.label,
                "stats": [
                    ("People", User.objects.filter(kind=User.Kind.PERSON, is_active=True).count()),
                    (
                        "Active service accounts",
                        selectors.service_account_list(viewer=user).filter(revoked_at=None).count(),
                    ),
                ],
            }
        )
    if Role.ENGINEER in roles:
        owned = selectors.service_account_list(viewer=user).filter(owner=user)
        panels.append(
            {
                "role": Role.ENGINEER.label,
                "stats": [("Your service accounts", owned.filter(revoked_at=None).count())],
            }
        )
    if roles & {Role.AUDITOR, Role.PRIVACY_OFFICER} and user.has_perm("audit.view_ledgerentry"):
        since = timezone.now() - timedelta(hours=24)
        recent = LedgerEntry.objects.filter(timestamp__gte=since)
        panels.append(
            {
                "role": " / ".join(
                    sorted(Role(r).label for r in roles & {Role.AUDITOR, Role.PRIVACY_OFFICER})
                ),
                "stats": [
                    ("Ledger entries, last 24 h", recent.count()),
                    (
                        "Failed sign-ins, last 24 h",
                        recent.filter(event="auth.login_failed").count(),
                    ),
                ],
            }
        )
    # Apps contribute panels with ``dashboard_panels = "module.function"`` on their AppConfig:
    # function(user) -> list of {"role": title, "stats": [(label, value)], "link": (text, url)}.
    for app_config in apps.get_app_configs():
        provider = getattr(app_config, "dashboard_panels", None)
        if provider:
            panels.extend(import_string(provider)(user))
    return render(request, "accounts/dashboard.html", {"panels": panels, "roles": roles})


@login_required
def service_account_list(request):
    accounts = selectors.service_account_list(viewer=request.user)
    return render(
        request,
        "accounts/service_account_list.html",
        {
            "accounts": accounts,
            "can_create": request.user.has_perm("accounts.add_serviceaccount"),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def service_account_create(request):
    if not request.user.has_perm("accounts.add_serviceaccount"):
        raise PermissionDenied(services.MSG_CREATE_FORBIDDEN)
    form = ServiceAccountCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account, secret = services.service_account_create(
                name=form.cleaned_data["name"],
                owner=form.cleaned_data["owner"],
                description=form.cleaned_data["description"],
                actor=request.user,
            )
        except ApplicationError as error:
            form.add_error(error.extra.get("field"), error.message)
        else:
            return _show_secret_once(request, account, secret)
    return render(request, "accounts/service_account_form.html", {"form": form})


def _show_secret_once(request, account, secret):
    response = render(
        request, "accounts/service_account_secret.html", {"account": account, "secret": secret}
    )
    response["Cache-Control"] = "no-store"
    return response


def _get_account(request, name):
    try:
        return selectors.service_account_get_for(viewer=request.user, name=name)
    except NotFound:
        raise Http404(selectors.MSG_SERVICE_ACCOUNT_NOT_FOUND) from None


@login_required
def service_account_detail(request, name):
    account = _get_account(request, name)
    entries = (
        LedgerEntry.objects.filter(
            content_type__app_label="accounts",
            content_type__model="serviceaccount",
            object_pk=str(account.pk),
        ).select_related("actor")[:20]
        if request.user.has_perm("audit.view_ledgerentry")
        else []
    )
    can_manage = request.user.has_perm("accounts.change_serviceaccount") or (
        account.owner_id == request.user.pk
    )
    # Other apps add sections (e.g. the account's grants) through
    # ``service_account_section = ("template.html", "module.context_function")`` on their
    # AppConfig; the function takes (viewer, account) and returns the template's context.
    sections = []
    for app_config in apps.get_app_configs():
        section = getattr(app_config, "service_account_section", None)
        if section:
            template, provider = section
            sections.append(
                {"template": template, "context": import_string(provider)(request.user, account)}
            )
    return render(
        request,
        "accounts/service_account_detail.html",
        {
            "account": account,
            "entries": entries,
            "can_manage": can_manage and account.is_active,
            "revoke_form": ServiceAccountRevokeForm(),
            "sections": sections,
        },
    )


@login_required
@require_POST
def service_account_revoke(request, name):
    account = _get_account(request, name)
    form = ServiceAccountRevokeForm(request.POST)
    if not form.is_valid():
        messages.error(request, services.MSG_REASON_REQUIRED)
        return redirect("service-account-detail", name=name)
    try:
        services.service_account_revoke(
            service_account=account, actor=request.user, reason=form.cleaned_data["reason"]
        )
    except NotPermitted as error:
        raise PermissionDenied(error.message) from None
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Service account {account.name} revoked.")
    return redirect("service-account-detail", name=name)


@login_required
@require_POST
def service_account_rotate(request, name):
    account = _get_account(request, name)
    try:
        secret = services.service_account_rotate_secret(service_account=account, actor=request.user)
    except NotPermitted as error:
        raise PermissionDenied(error.message) from None
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("service-account-detail", name=name)
    account.refresh_from_db()
    return _show_secret_once(request, account, secret)
