from django.contrib import admin

from routing.models import AgentProfile, Queue


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    filter_horizontal = ["members"]


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "presence", "chat_capacity", "last_assigned_at"]
    list_filter = ["role", "presence"]
