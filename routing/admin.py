from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from routing.models import (
    AgentProfile,
    AgentSkill,
    Assignment,
    ConversationIntent,
    Intent,
    IntentCorrection,
    Offer,
    Queue,
    RoutingItem,
    Skill,
    Transfer,
)
from routing.services import recompute_ranks


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "confidential",
        "mode",
        "base_priority",
        "aging_acceleration",
        "overflow_queue",
        "created_at",
    ]
    list_filter = ["confidential"]
    filter_horizontal = ["members", "required_skills", "optional_skills"]

    def save_model(self, request: HttpRequest, obj: Queue, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # Base priority and acceleration are part of every waiting item's rank.
        if change and {"base_priority", "aging_acceleration"} & set(form.changed_data):
            recompute_ranks(queue=obj)


@admin.register(Skill)
class SkillAdmin(admin.ModelAdmin):
    list_display = ["name", "description"]
    search_fields = ["name"]


class AgentSkillInline(admin.TabularInline):
    model = AgentSkill
    extra = 1


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    list_display = [
        "user",
        "role",
        "presence",
        "chat_capacity",
        "voice_capacity",
        "email_capacity",
        "chat_load",
        "voice_load",
        "email_load",
        "capacity_units",
        "last_assigned_at",
    ]
    list_filter = ["role", "presence"]
    readonly_fields = ["chat_load", "voice_load", "email_load", "socket_count", "last_seen_at"]
    inlines = [AgentSkillInline]


@admin.register(Intent)
class IntentAdmin(admin.ModelAdmin):
    list_display = ["name", "key", "queue", "priority_boost", "live_wait_threshold_seconds", "is_default"]
    prepopulated_fields = {"key": ["name"]}
    filter_horizontal = ["required_skills"]


@admin.register(IntentCorrection)
class IntentCorrectionAdmin(admin.ModelAdmin):
    list_display = ["conversation", "previous", "corrected", "by", "created_at"]
    readonly_fields = ["conversation", "previous", "corrected", "text", "by", "created_at"]


@admin.register(ConversationIntent)
class ConversationIntentAdmin(admin.ModelAdmin):
    list_display = ["conversation", "intent", "detected_intent", "confidence", "detected_at"]


@admin.register(RoutingItem)
class RoutingItemAdmin(admin.ModelAdmin):
    list_display = ["conversation", "queue", "capacity_class", "state", "queued_at", "agent", "reason"]
    list_filter = ["state", "capacity_class", "queue"]
    readonly_fields = [f.name for f in RoutingItem._meta.fields]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["conversation", "agent", "queue", "capacity_class", "source", "started_at", "ended_at"]
    list_filter = ["source", "capacity_class"]


@admin.register(Offer)
class OfferAdmin(admin.ModelAdmin):
    list_display = ["item", "agent", "state", "created_at", "expires_at"]
    list_filter = ["state"]


@admin.register(Transfer)
class TransferAdmin(admin.ModelAdmin):
    list_display = ["conversation", "from_agent", "to_agent", "from_queue", "to_queue", "by", "created_at"]
