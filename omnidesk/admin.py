from django.contrib import admin

from omnidesk.models import Event, EventAudience


class EventAudienceInline(admin.TabularInline):
    model = EventAudience
    extra = 0
    readonly_fields = ["group"]


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["id", "type", "created_at"]
    list_filter = ["type"]
    readonly_fields = ["type", "data", "created_at"]
    inlines = [EventAudienceInline]
