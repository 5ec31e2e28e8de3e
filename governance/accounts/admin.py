from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from governance.accounts.models import ServiceAccount, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "kind", "is_active", "is_staff", "last_login")
    list_filter = ("kind", "is_active", "is_staff", "groups")
    fieldsets = (*DjangoUserAdmin.fieldsets, ("Kind", {"fields": ("kind",)}))
    readonly_fields = ("kind", "last_login", "date_joined")

    def has_delete_permission(self, request, obj=None):
        # People leave: deactivate them. Deleting would orphan their audit trail (and the
        # ledger's PROTECT foreign key refuses it anyway).
        return False


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
