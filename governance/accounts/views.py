from __future__ import annotations

from datetime import timedelta

from django import forms
from django.apps import apps
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.module_loading import import_string
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods, require_POST

from governance.accounts import policy, second_factor, selectors, services
from governance.accounts.forms import (
    LoginForm,
    ServiceAccountCreateForm,
    ServiceAccountRevokeForm,
    ServiceAccountTransferForm,
)
from governance.accounts.models import User
from governance.accounts.roles import Role
from governance.audit.models import LedgerEntry
from governance.audit.policy import may_read_ledger
from governance.portal import attempt, domain_errors, refuse


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
    if roles & {Role.AUDITOR, Role.PRIVACY_OFFICER} and may_read_ledger(user) is None:
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
            "can_create": policy.may_create_service_account(request.user) is None,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
@domain_errors
def service_account_create(request):
    refuse(
        policy.may_create_service_account(request.user),
        record="service_account.refused" if request.method == "POST" else None,
        request=request,
    )
    form = ServiceAccountCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        done, created = attempt(
            request,
            lambda: services.service_account_create(
                name=form.cleaned_data["name"],
                owner=form.cleaned_data["owner"],
                description=form.cleaned_data["description"],
                actor=request.user,
            ),
            form=form,
        )
        if done:
            return _show_secret_once(request, *created)
    return render(request, "accounts/service_account_form.html", {"form": form})


def _show_secret_once(request, account, secret):
    response = render(
        request, "accounts/service_account_secret.html", {"account": account, "secret": secret}
    )
    response["Cache-Control"] = "no-store"
    return response


def _get_account(request, name):
    return selectors.service_account_get_for(viewer=request.user, name=name)


@login_required
@domain_errors
def service_account_detail(request, name):
    account = _get_account(request, name)
    entries = (
        LedgerEntry.objects.filter(
            content_type__app_label="accounts",
            content_type__model="serviceaccount",
            object_pk=str(account.pk),
        ).select_related("actor")[:20]
        if may_read_ledger(request.user) is None
        else []
    )
    can_manage = policy.may_manage_service_account(request.user, account) is None
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
            "can_transfer": account.is_active
            and policy.may_create_service_account(request.user) is None,
            "usable": policy.service_account_usable(account),
            "revoke_form": ServiceAccountRevokeForm(),
            "transfer_form": ServiceAccountTransferForm(),
            "sections": sections,
        },
    )


@login_required
@require_POST
@domain_errors
def service_account_revoke(request, name):
    account = _get_account(request, name)
    form = ServiceAccountRevokeForm(request.POST)
    if not form.is_valid():
        messages.error(request, services.MSG_REASON_REQUIRED)
        return redirect("service-account-detail", name=name)
    attempt(
        request,
        lambda: services.service_account_revoke(
            service_account=account, actor=request.user, reason=form.cleaned_data["reason"]
        ),
        success=f"Service account {account.name} revoked.",
    )
    return redirect("service-account-detail", name=name)


@login_required
@require_POST
@domain_errors
def service_account_rotate(request, name):
    account = _get_account(request, name)
    done, secret = attempt(
        request,
        lambda: services.service_account_rotate_secret(service_account=account, actor=request.user),
    )
    if not done:
        return redirect("service-account-detail", name=name)
    account.refresh_from_db()
    return _show_secret_once(request, account, secret)


@login_required
@require_POST
@domain_errors
def service_account_transfer(request, name):
    """An administrator names a new accountable owner (e.g. the owner left)."""
    account = _get_account(request, name)
    form = ServiceAccountTransferForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose the new owner and give a reason.")
        return redirect("service-account-detail", name=name)
    attempt(
        request,
        lambda: services.service_account_transfer(
            service_account=account,
            owner=form.cleaned_data["owner"],
            actor=request.user,
            reason=form.cleaned_data["reason"],
        ),
        success=f"Service account {account.name} now belongs to {form.cleaned_data['owner']}.",
    )
    return redirect("service-account-detail", name=name)


# --- second factor ----------------------------------------------------------------------------


class SecondFactorCodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=32,
        help_text="The 6-digit code your authenticator app shows, or one of your recovery codes.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True}),
    )


def _next_url(request, default: str = "dashboard") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse(default)


@login_required
@require_http_methods(["GET", "POST"])
def second_factor_verify(request):
    """Sign-in, step two: a code from the authenticator, or a recovery code."""
    user: User = request.user
    if (
        not second_factor.has_authenticator(user)
        and not user.recovery_codes.filter(used_at=None).exists()
    ):
        return redirect(f"{reverse('second-factor-setup')}?{request.GET.urlencode()}")
    form = SecondFactorCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        done, how = attempt(
            request,
            lambda: second_factor.verify(
                request=request, user=user, code=form.cleaned_data["code"]
            ),
            form=form,
        )
        if done:
            if how == "recovery":
                left = user.recovery_codes.filter(used_at=None).count()
                messages.warning(
                    request,
                    f"You signed in with a recovery code; {left} left. Make new ones on "
                    "the two-factor page if you are running out.",
                )
            return redirect(_next_url(request))
    return render(
        request,
        "registration/second_factor_verify.html",
        {"form": form, "next": _next_url(request)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def second_factor_setup(request):
    """Enrol an authenticator app: scan the QR code (or type the key), confirm with a code,
    keep the recovery codes shown once."""
    user: User = request.user
    if second_factor.has_authenticator(user) and not second_factor.is_verified(request):
        return redirect(f"{reverse('second-factor-verify')}?{request.GET.urlencode()}")
    device = second_factor.enrolment_start(user=user)
    form = SecondFactorCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        done, codes = attempt(
            request,
            lambda: second_factor.enrolment_confirm(
                request=request, user=user, code=form.cleaned_data["code"]
            ),
            form=form,
        )
        if done:
            return render(
                request,
                "registration/second_factor_codes.html",
                {"codes": codes, "next": _next_url(request)},
            )
    uri = second_factor.provisioning_uri(device)
    return render(
        request,
        "registration/second_factor_setup.html",
        {
            "form": form,
            "qr": mark_safe(second_factor.qr_svg(uri)),  # noqa: S308 - our own SVG
            "secret": second_factor.secret_for_display(device),
            "next": _next_url(request),
            "required": policy.requires_second_factor(user),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def second_factor_overview(request):
    """Status of my second factor; new recovery codes (the old ones stop working)."""
    user: User = request.user
    if request.method == "POST":
        done, codes = attempt(
            request, lambda: second_factor.recovery_codes_renew(request=request, user=user)
        )
        if done:
            return render(
                request,
                "registration/second_factor_codes.html",
                {"codes": codes, "next": reverse("second-factor")},
            )
    return render(
        request,
        "registration/second_factor.html",
        {
            "enrolled": second_factor.has_authenticator(user),
            "verified": second_factor.is_verified(request),
            "required": policy.requires_second_factor(user),
            "codes_left": user.recovery_codes.filter(used_at=None).count(),
        },
    )
