"""Django admin for people and service accounts.

Roles, the staff and superuser flags and group memberships are read-only here: the "Roles"
field routes through the roles service (``user_roles_set``), which checks who may (an
administrator, never for themself), records ``user.roles_changed`` and ends stewardships of a
removed steward role. Deactivating goes through ``user_deactivate`` (the admin action). Neither
can be bypassed: ``governance.accounts.policy`` guards the writes themselves."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied

from governance.accounts import policy
from governance.accounts.models import ServiceAccount, User
from governance.accounts.roles import Role
from governance.accounts.services import user_deactivate, user_roles_set
from governance.audit.services import record_refusal
from governance.errors import ApplicationError

MSG_NO_PASSWORD_CHANGE = (
    "Passwords are not set in Django admin: people set their own; operators can run "  # noqa: S105
    "manage.py changepassword on the server."
)


class RolesUserChangeForm(UserChangeForm):
    roles = forms.MultipleChoiceField(
        choices=Role.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Changed through the roles service: recorded in the ledger; nobody changes "
        "their own roles.",
    )
    actor = None  # set per request by UserAdmin.get_form

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["roles"].initial = self.instance.roles

    def clean(self):
        """A refused role change refuses the whole form: nothing of it is saved."""
        cleaned = super().clean()
        if "roles" in self.changed_data and self.instance.pk is not None:
            refusal = policy.may_change_roles(self.actor, self.instance)
            if refusal is not None:
                record_refusal(
                    "user.roles_refused", refusal.error(), target=self.instance, actor=self.actor
                )
                self.add_error("roles", refusal.message)
        return cleaned


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = RolesUserChangeForm
    list_display = ("username", "email", "kind", "is_active", "is_staff", "last_login")
    list_filter = ("kind", "is_active", "is_staff", "groups")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        ("Roles", {"fields": ("roles",)}),
        (
            "Status (read-only here: roles service and deactivation action)",
            {"fields": ("kind", "is_active", "is_staff", "is_superuser", "groups")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    readonly_fields = (
        "kind",
        "is_active",
        "is_staff",
        "is_superuser",
        "groups",
        "user_permissions",
        "last_login",
        "date_joined",
    )
    actions = ["deactivate"]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if issubclass(form, RolesUserChangeForm):
            form = type(form.__name__, (form,), {"actor": request.user})
        return form

    def user_change_password(self, request, id, form_url=""):
        # People set their own passwords; an administrator who could set anyone's could sign
        # in as a privacy officer or a superuser. Operators: manage.py changepassword.
        raise PermissionDenied(MSG_NO_PASSWORD_CHANGE)

    def _superuser_account(self, request, obj) -> bool:
        return obj is not None and obj.is_superuser and not request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        if self._superuser_account(request, obj):
            return False
        return super().has_view_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        if self._superuser_account(request, obj):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        # People leave: deactivate them. Deleting would orphan their audit trail (and the
        # ledger's PROTECT foreign key refuses it anyway).
        return False

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if change and "roles" in form.changed_data:
            try:
                user_roles_set(
                    user=form.instance, roles=form.cleaned_data["roles"], actor=request.user
                )
            except ApplicationError as error:  # refused and recorded by the service
                self.message_user(request, error.message, level=messages.ERROR)

    @admin.action(description="Deactivate the selected accounts")
    def deactivate(self, request, queryset):
        for user in queryset:
            try:
                user_deactivate(
                    user=user,
                    actor=request.user,
                    reason=f"Deactivated in Django admin by {request.user.username}.",
                )
            except ApplicationError as error:
                self.message_user(request, f"{user.username}: {error.message}", messages.ERROR)


@admin.register(ServiceAccount)
class ServiceAccountAdmin(admin.ModelAdmin):
    """Read-only here: create, rotate and revoke in the portal, which shows the secret once
    and writes the audit events."""

    list_display = ("name", "owner", "created_at", "revoked_at")
    search_fields = ("name", "owner__username")
    readonly_fields = [f.name for f in ServiceAccount._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# Role groups' permissions are declared in code (roles.py) and re-applied on every migrate;
# editing them here would hand out powers no rule knows about.
admin.site.unregister(Group)


@admin.register(Group)
class RoleGroupAdmin(GroupAdmin):
    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.name in Role.values:
            return ("name", "permissions")
        return super().get_readonly_fields(request, obj)

    def has_delete_permission(self, request, obj=None):
        return obj is None or obj.name not in Role.values


# OAuth2 clients are service accounts: created, rotated and revoked through their services (which
# show a secret once and write the ledger), never edited here. Tokens are not browsable either.
def _unregister_oauth_models() -> None:
    from oauth2_provider.models import (
        get_access_token_model,
        get_application_model,
        get_grant_model,
        get_id_token_model,
        get_refresh_token_model,
    )

    for model in (
        get_application_model(),
        get_access_token_model(),
        get_refresh_token_model(),
        get_grant_model(),
        get_id_token_model(),
    ):
        if admin.site.is_registered(model):
            admin.site.unregister(model)


_unregister_oauth_models()


def _portal_login(request, extra_context=None):
    """Django admin signs in through the portal: one sign-in form, one lockout, one second
    factor for everyone."""
    from django.contrib.auth.views import redirect_to_login
    from django.core.exceptions import PermissionDenied
    from django.shortcuts import redirect
    from django.urls import reverse
    from django.utils.http import url_has_allowed_host_and_scheme

    if request.user.is_authenticated:
        if not request.user.is_staff:
            raise PermissionDenied("Django admin is for administrators.")
        target = request.GET.get("next") or reverse("admin:index")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = reverse("admin:index")
        return redirect(target)
    return redirect_to_login(request.GET.get("next") or reverse("admin:index"))


admin.site.login = _portal_login


# django-otp registers its devices in Django admin, where the TOTP seed (the shared secret)
# can be read and a device deleted without a record. Seeds are never shown after enrolment;
# a lost authenticator is reset with `manage.py second_factor_reset` (recorded).
try:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    admin.site.unregister(TOTPDevice)
except admin.sites.NotRegistered:  # pragma: no cover - already gone
    pass
