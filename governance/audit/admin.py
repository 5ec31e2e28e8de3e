from django.contrib import admin

from governance.audit.models import ChainLink, LedgerEntry

# auditlog registers its own admin for the LogEntry model; ours is read-only by construction.
if admin.site.is_registered(LedgerEntry):
    admin.site.unregister(LedgerEntry)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    list_display = ("timestamp", "event", "actor_label", "object_repr", "cid")
    list_filter = ("event",)
    search_fields = ("event", "actor_label", "object_repr", "cid")
    date_hierarchy = "timestamp"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in LedgerEntry._meta.fields]


@admin.register(ChainLink)
class ChainLinkAdmin(LedgerEntryAdmin):
    list_display = ("position", "entry", "chain_hash", "sealed_at")
    list_filter = ()
    search_fields = ("chain_hash",)
    date_hierarchy = None

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in ChainLink._meta.fields]
