from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from customers.models import Customer, CustomerImport, ErasureRecord, Identity, MergeRecord, Organization


class IdentityInline(admin.TabularInline):
    model = Identity
    extra = 0


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["id", "display_name", "organization", "value_tier", "merged_into", "created_at"]
    list_filter = ["value_tier", ("merged_into", admin.EmptyFieldListFilter)]
    search_fields = ["display_name", "identities__address"]
    # Merging and unmerging go through customers.merge, which keeps the MergeRecord needed to undo them.
    readonly_fields = ["merged_into", "merged_at", "erased_at"]
    raw_id_fields = ["organization"]
    inlines = [IdentityInline]


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    list_display = ["kind", "address", "customer", "verified", "created_at"]
    list_filter = ["kind", "verified"]
    search_fields = ["address"]
    raw_id_fields = ["customer"]


@admin.register(MergeRecord)
class MergeRecordAdmin(admin.ModelAdmin):
    """The audit trail: editing a record by hand would make its unmerge restore the wrong state."""

    list_display = ["id", "source", "target", "merged_by", "merged_at", "unmerged_by", "unmerged_at"]
    list_filter = [("unmerged_at", admin.EmptyFieldListFilter)]
    list_select_related = ["source", "target", "merged_by", "unmerged_by"]
    search_fields = ["source__display_name", "target__display_name"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "domain", "created_at"]
    search_fields = ["name", "domain"]


@admin.register(ErasureRecord)
class ErasureRecordAdmin(admin.ModelAdmin):
    list_display = ["customer", "erased_by", "erased_at"]
    readonly_fields = ["customer", "erased_by", "erased_at", "counts"]


@admin.register(CustomerImport)
class CustomerImportAdmin(admin.ModelAdmin):
    list_display = ["id", "filename", "status", "processed_rows", "total_rows", "created_by", "created_at"]
    list_filter = ["status"]
    readonly_fields = ["errors"]
