from django.contrib import admin

from interactions.phone.models import Call, Callback, Disposition


@admin.register(Disposition)
class DispositionAdmin(admin.ModelAdmin):
    list_display = ["label", "code", "is_active", "position"]
    list_editable = ["is_active", "position"]


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    list_display = ["call_id", "direction", "number", "state", "result", "agent", "ringing_at", "ended_at"]
    list_filter = ["state", "result", "direction", "link_status"]
    search_fields = ["call_id", "number", "raw_number"]
    raw_id_fields = ["customer", "interaction", "conversation", "linked_conversation"]


@admin.register(Callback)
class CallbackAdmin(admin.ModelAdmin):
    list_display = ["number", "reason", "status", "attempts", "max_attempts", "next_attempt_at", "window_end"]
    list_filter = ["status", "reason"]
    raw_id_fields = ["customer", "call", "conversation"]
