from __future__ import annotations

import logging
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
    DeclineForm,
    LoginForm,
    ServiceAccountCreateForm,
    ServiceAccountRequestForm,
    ServiceAccountRevokeForm,
    ServiceAccountRotateForm,
    ServiceAccountTransferForm,
)
from governance.accounts.models import User
from governance.accounts.roles import Role
from governance.audit.models import LedgerEntry
from governance.audit.policy import may_read_ledger
from governance.portal import attempt, domain_errors, refuse

logger = logging.getLogger(__name__)


class LoginView(auth_views.LoginView):
    form_class = LoginForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        # Per address, whatever username it tries (the lockout is per username and address):
        # rotating usernames from one place meets 429 too.
        # The throttle counts in the cache; sign-in does not depend on the cache (sessions and
        # the lockout live in the database), so a cache that is down skips this extra layer.
        from governance.api.errors import is_unavailability
        from governance.api.throttling import AddressThrottle

        try:
            wait = AddressThrottle("login").hit(request)
        except Exception as error:  # only a dependency failure is tolerated
            if not is_unavailability(error):
                raise
            logger.warning("login throttle skipped: the cache is unavailable (%s)", error)
            wait = None
        if wait is not None:
            response = render(
                request, "registration/locked_out.html", {"cooloff_time": "a minute"}, status=429
            )
            response["Retry-After"] = str(max(1, int(wait)))
            return response
        return super().post(request, *args, **kwargs)


@login_required
def dashboard(request):
    user: User = request.user
    roles = set(user.roles)
    panels = []
    if Role.ADMIN in roles:
        waiting = selectors.service_account_requests(viewer=user).filter(status="pending")
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
                "todo": [
                    {
                        "label": "Service accounts people asked for",
                        "count": waiting.count(),
                        "url": reverse("service-account-list"),
                        "urgent": waiting.exists(),
                        "testid": "service-account-requests",
                    }
                ],
                "testid": "admin-panel",
            }
        )
    if roles & {Role.AUDITOR, Role.PRIVACY_OFFICER} and may_read_ledger(user) is None:
        panels.append(_ledger_panel(user, roles))
    # Apps contribute panels with ``dashboard_panels = "module.function"`` on their AppConfig:
    # function(user) -> list of {"role": title, "stats": [(label, value)], "link": (text, url)}.
    for app_config in apps.get_app_configs():
        provider = getattr(app_config, "dashboard_panels", None)
        if provider:
            panels.extend(import_string(provider)(user))
    # What needs the person now comes first: panels with something urgent, then those with
    # things to do, then figures (a stable sort keeps each app's order within a group).
    panels.sort(
        key=lambda p: (
            not any(item.get("urgent") for item in p.get("todo", [])),
            not p.get("todo"),
        )
    )
    return render(request, "accounts/dashboard.html", {"panels": panels, "roles": roles})


def _ledger_panel(user, roles) -> dict:
    """The ledger's state for auditors: the latest signed checkpoint and whether its signature
    verifies, entries not yet sealed, and failed sign-ins of the last day."""
    from governance.audit.models import ChainLink
    from governance.audit.selectors import _checkpoint_signature_ok, latest_checkpoint

    since = timezone.now() - timedelta(hours=24)
    checkpoint = latest_checkpoint()
    sealed = ChainLink.objects.count()
    unsealed = LedgerEntry.objects.count() - sealed
    verified = checkpoint is not None and _checkpoint_signature_ok(checkpoint)
    todo = [
        {
            "label": (
                f"Latest checkpoint: {checkpoint.size} entries, "
                f"{checkpoint.created_at:%Y-%m-%d %H:%M} UTC, signature "
                + ("verified" if verified else "NOT verified")
            )
            if checkpoint
            else "No checkpoint signed yet",
            "count": "✓" if verified else "!",
            "url": reverse("audit:log"),
            "urgent": not verified,
            "testid": "latest-checkpoint",
        },
        {
            "label": "Entries waiting to be sealed into the chain",
            "count": unsealed,
            "url": reverse("audit:log"),
        },
        {
            "label": "Failed sign-ins, last 24 h",
            "count": LedgerEntry.objects.filter(
                timestamp__gte=since, event="auth.login_failed"
            ).count(),
            "url": reverse("audit:log") + "?event=auth.login_failed",
        },
    ]
    return {
        "role": " / ".join(
            sorted(Role(r).label for r in roles & {Role.AUDITOR, Role.PRIVACY_OFFICER})
        )
        + ": the ledger",
        "todo": todo,
        "link": ("Audit log", reverse("audit:log")),
        "testid": "ledger-panel",
    }


@login_required
def service_account_list(request):
    user = request.user
    accounts = selectors.service_account_list(viewer=user).select_related("owner", "application")
    return render(
        request,
        "accounts/service_account_list.html",
        {
            "accounts": accounts,
            "can_create": policy.may_create_service_account(user) is None,
            "can_request": policy.may_request_service_account(user) is None,
            "requests": selectors.service_account_requests(viewer=user)[:50],
            "decline_form": DeclineForm(),
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
    fulfils = None
    pk = request.POST.get("request") or request.GET.get("request")
    if pk and str(pk).isdigit():
        fulfils = selectors.service_account_request_get_for(viewer=request.user, pk=int(pk))
    initial = {}
    if fulfils is not None:
        initial = {
            "name": fulfils.name,
            "owner": fulfils.requested_by.username,
            "description": fulfils.description,
            "request": fulfils.pk,
        }
    form = ServiceAccountCreateForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        done, created = attempt(
            request,
            lambda: services.service_account_create(
                name=form.cleaned_data["name"],
                owner=form.cleaned_data["owner"],
                description=form.cleaned_data["description"],
                actor=request.user,
                fulfils=fulfils,
            ),
            form=form,
        )
        if done:
            return _show_secret_once(request, *created)
    return render(request, "accounts/service_account_form.html", {"form": form, "fulfils": fulfils})


@login_required
@require_http_methods(["GET", "POST"])
@domain_errors
def service_account_request(request):
    """Ask an administrator for a service account (people who may own one)."""
    refuse(
        policy.may_request_service_account(request.user),
        record="service_account.request_refused" if request.method == "POST" else None,
        request=request,
    )
    form = ServiceAccountRequestForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        done, _ = attempt(
            request,
            lambda: services.service_account_request_create(
                actor=request.user,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
            ),
            success=lambda r: (
                f"Request for {r.name} sent: an administrator creates the account or answers."
            ),
            form=form,
        )
        if done:
            return redirect("service-account-list")
    return render(
        request,
        "accounts/service_account_request.html",
        {"form": form},
        status=400 if form.is_bound else 200,
    )


@login_required
@require_POST
@domain_errors
def service_account_request_decline(request, pk):
    found = selectors.service_account_request_get_for(viewer=request.user, pk=pk)
    form = DeclineForm(request.POST)
    attempt(
        request,
        lambda: services.service_account_request_decline(
            actor=request.user, request=found, reason=form.data.get("reason", "")
        ),
        success=f"Request for {found.name} declined.",
    )
    return redirect("service-account-list")


def _show_secret_once(request, account, secret):
    response = render(
        request, "accounts/service_account_secret.html", {"account": account, "secret": secret}
    )
    response["Cache-Control"] = "no-store"
    return response


def _get_account(request, name):
    return selectors.service_account_get_for(viewer=request.user, name=name)


def _sections(viewer, account) -> list[dict]:
    sections = []
    for app_config in apps.get_app_configs():
        section = getattr(app_config, "service_account_section", None)
        if section:
            template, provider = section
            sections.append(
                {"template": template, "context": import_string(provider)(viewer, account)}
            )
    return sections


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
    sections = _sections(request.user, account)
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


def _impact(request, account) -> dict:
    """What revoking or rotating stops: the account's live grants and its tokens."""
    from oauth2_provider.models import AccessToken

    tokens = AccessToken.objects.filter(
        application=account.application, expires__gt=timezone.now()
    ).count()
    grants = 0
    for section in _sections(request.user, account):
        grants += len([g for g in section["context"].get("grants", []) if g.status == "active"])
    return {"tokens": tokens, "grants": grants}


@login_required
@require_http_methods(["GET", "POST"])
@domain_errors
def service_account_revoke(request, name):
    account = _get_account(request, name)
    refuse(
        policy.may_manage_service_account(request.user, account),
        record="service_account.refused" if request.method == "POST" else None,
        request=request,
        target=account,
    )
    form = ServiceAccountRevokeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        done, _ = attempt(
            request,
            lambda: services.service_account_revoke(
                service_account=account, actor=request.user, reason=form.cleaned_data["reason"]
            ),
            success=f"Service account {account.name} revoked.",
            form=form,
        )
        if done:
            return redirect("service-account-detail", name=name)
    return render(
        request,
        "accounts/service_account_confirm.html",
        {
            "account": account,
            "form": form,
            "action": "revoke",
            "impact": _impact(request, account),
        },
        status=400 if form.is_bound else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
@domain_errors
def service_account_rotate(request, name):
    account = _get_account(request, name)
    refuse(
        policy.may_manage_service_account(request.user, account),
        record="service_account.refused" if request.method == "POST" else None,
        request=request,
        target=account,
    )
    form = ServiceAccountRotateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        done, secret = attempt(
            request,
            lambda: services.service_account_rotate_secret(
                service_account=account, actor=request.user
            ),
            form=form,
        )
        if done:
            account.refresh_from_db()
            return _show_secret_once(request, account, secret)
    return render(
        request,
        "accounts/service_account_confirm.html",
        {
            "account": account,
            "form": form,
            "action": "rotate",
            "impact": _impact(request, account),
        },
        status=400 if form.is_bound else 200,
    )


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


def locked_out(request, credentials=None, *args, **kwargs):
    """django-axes' lockout answer (AXES_LOCKOUT_CALLABLE): 429 with Retry-After."""
    from django.conf import settings

    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    response = render(
        request,
        "registration/locked_out.html",
        {"cooloff_time": f"{seconds // 60} minutes"},
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response
