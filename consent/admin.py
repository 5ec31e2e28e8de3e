"""Read-only in the admin: purposes, notices and consent change only through the portal and the
API, whose services check permissions and write the ledger events."""

from django.contrib import admin

from consent.models import (
    ConsentEvent,
    ConsentSnapshot,
    ConsentState,
    NoticeVersion,
    Purpose,
    Subject,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Purpose)
class PurposeAdmin(ReadOnlyAdmin):
    list_display = ("slug", "version", "name", "legal_basis", "status", "owner", "activated_at")
    list_filter = ("status", "legal_basis")
    search_fields = ("slug", "name")


@admin.register(NoticeVersion)
class NoticeVersionAdmin(ReadOnlyAdmin):
    list_display = ("purpose", "version", "language", "effective_from", "content_hash")
    list_select_related = ("purpose",)


@admin.register(Subject)
class SubjectAdmin(ReadOnlyAdmin):
    list_display = ("namespace", "external_id", "created_at")
    search_fields = ("external_id",)
    list_filter = ("namespace",)


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "subject", "purpose", "status", "occurred_at", "recorded_at")
    list_filter = ("status", "collection_method")
    list_select_related = ("subject", "purpose")
    raw_id_fields = ("subject",)


@admin.register(ConsentState)
class ConsentStateAdmin(ReadOnlyAdmin):
    list_display = ("subject", "purpose", "status", "occurred_at", "valid_until")
    list_filter = ("status",)
    list_select_related = ("subject", "purpose")


@admin.register(ConsentSnapshot)
class ConsentSnapshotAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "purpose", "as_of", "count", "created_by", "created_at")
    list_filter = ("kind",)
    list_select_related = ("purpose", "created_by")
