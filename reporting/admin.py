from __future__ import annotations

from django.contrib import admin

from reporting.models import QueueReportingSettings, Survey


@admin.register(QueueReportingSettings)
class QueueReportingSettingsAdmin(admin.ModelAdmin):
    list_display = ["queue", "service_level_seconds", "service_level_goal", "abandon_treatment", "surveys_enabled"]


@admin.register(Survey)
class SurveyAdmin(admin.ModelAdmin):
    list_display = ["pk", "conversation", "channel", "sent_at", "answered_at", "csat", "nps", "ces"]
    readonly_fields = [
        *("conversation", "customer", "channel", "agent_id", "sent_at"),
        *("answered_at", "csat", "nps", "ces", "comment"),
    ]
