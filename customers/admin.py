from django.contrib import admin

from customers.models import Customer, Identity


class IdentityInline(admin.TabularInline):
    model = Identity
    extra = 0


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["id", "display_name", "language", "created_at"]
    search_fields = ["display_name", "identities__address"]
    inlines = [IdentityInline]


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    list_display = ["kind", "address", "customer", "verified", "created_at"]
    list_filter = ["kind", "verified"]
    search_fields = ["address"]
    raw_id_fields = ["customer"]
