from django.contrib import admin

from interactions.mail.models import Acknowledgement, MailboxState, MessageReference


@admin.register(MailboxState)
class MailboxStateAdmin(admin.ModelAdmin):
    list_display = ["channel", "uidvalidity", "last_uid", "last_polled_at", "last_error"]
    readonly_fields = ["uidvalidity", "last_uid", "last_polled_at", "last_error"]


@admin.register(MessageReference)
class MessageReferenceAdmin(admin.ModelAdmin):
    list_display = ["message_id", "direction", "conversation", "interaction", "created_at"]
    list_filter = ["direction"]
    search_fields = ["message_id"]
    raw_id_fields = ["conversation", "interaction"]


@admin.register(Acknowledgement)
class AcknowledgementAdmin(admin.ModelAdmin):
    list_display = ["address", "channel", "sent_at"]
    search_fields = ["address"]
