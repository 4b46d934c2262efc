from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from interactions import inbound_sweep
from interactions.models import Channel, Conversation, InboundEvent, Interaction

if TYPE_CHECKING:
    # _StrPromise exists only in django-stubs: named for the type checker, never imported at run time.
    from django.utils.functional import _StrPromise

    StrOrPromise = str | _StrPromise


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "public_key", "queue", "is_active"]
    list_filter = ["kind", "is_active"]
    readonly_fields = ["public_key"]
    # Write-only credentials: edited (never shown) on the messaging channels' admin page.
    exclude = ["secrets"]


class InteractionInline(admin.TabularInline):
    model = Interaction
    extra = 0
    fields = ["created_at", "direction", "kind", "author", "text"]
    readonly_fields = ["created_at", "direction", "kind", "author", "text"]


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["id", "customer", "channel", "status", "queue", "assignee", "last_message_at"]
    list_filter = ["status", "channel", "queue"]
    raw_id_fields = ["customer", "assignee"]
    inlines = [InteractionInline]


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = ["id", "conversation", "channel", "direction", "kind", "created_at"]
    list_filter = ["channel", "direction", "kind"]
    raw_id_fields = ["conversation", "customer", "author"]
    search_fields = ["text", "external_id"]


class DeadLetteredFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, StrOrPromise]]:
        return [("dead", _("Dead-lettered")), ("pending", _("Pending")), ("processed", _("Processed"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[InboundEvent]) -> QuerySet[InboundEvent]:
        if self.value() == "dead":
            return queryset.filter(dead_lettered_at__isnull=False)
        if self.value() == "pending":
            return queryset.filter(processed_at__isnull=True, dead_lettered_at__isnull=True)
        if self.value() == "processed":
            return queryset.filter(processed_at__isnull=False)
        return queryset


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin):
    list_display = ["id", "channel", "external_id", "received_at", "attempts", "processed_at", "dead_lettered_at"]
    list_filter = [DeadLetteredFilter, "channel"]
    search_fields = ["external_id"]
    readonly_fields = [
        "channel",
        "external_id",
        "payload",
        "received_at",
        "attempts",
        "last_attempt_at",
        "processed_at",
        "dead_lettered_at",
        "last_error",
    ]
    actions = ["retry_events"]

    @admin.action(description=_("Retry the selected events"))
    def retry_events(self, request: HttpRequest, queryset: QuerySet[InboundEvent]) -> None:
        ids = list(queryset.filter(processed_at__isnull=True).values_list("pk", flat=True))
        for event_id in ids:
            inbound_sweep.retry_inbound_event(event_id=event_id)
        self.message_user(
            request, ngettext("%d event retried.", "%d events retried.", len(ids)) % len(ids), messages.SUCCESS
        )
