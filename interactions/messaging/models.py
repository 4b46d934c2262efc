"""Messaging channels' own records: refused webhooks (for admins) and receipts that arrived before their message."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from interactions.models import Channel

# The channel kinds this app serves, and the webhook provider each may use.
MESSAGING_KINDS = [
    Channel.Kind.SMS,
    Channel.Kind.WHATSAPP,
    Channel.Kind.MESSENGER,
    Channel.Kind.INSTAGRAM,
    Channel.Kind.TELEGRAM,
    Channel.Kind.API,
]
PROVIDERS_BY_KIND: dict[str, tuple[str, ...]] = {
    Channel.Kind.SMS: ("twilio",),
    Channel.Kind.WHATSAPP: ("meta", "twilio"),
    Channel.Kind.MESSENGER: ("meta",),
    Channel.Kind.INSTAGRAM: ("meta",),
    Channel.Kind.TELEGRAM: ("telegram",),
    Channel.Kind.API: ("api",),
}


class MessagingChannel(Channel):
    """The admin's view of the SMS, WhatsApp, Messenger, Instagram, Telegram and API channels."""

    class Meta:
        proxy = True
        verbose_name = _("messaging channel")
        verbose_name_plural = _("messaging channels")


class SignatureRejection(models.Model):
    """Webhook requests refused for a bad or missing signature, counted per channel, provider and day.

    Nothing of a refused request is stored but this count and the last reason: enough for an admin to see a
    misconfigured secret or an attack, without letting a flood of forgeries fill the database.
    """

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="signature_rejections")
    provider = models.CharField(_("provider"), max_length=32)
    day = models.DateField(_("day"))
    count = models.PositiveIntegerField(_("refused requests"), default=0)
    last_reason = models.CharField(_("last reason"), max_length=200, blank=True)
    last_at = models.DateTimeField(_("last refused at"))

    class Meta:
        verbose_name = _("refused webhook")
        verbose_name_plural = _("refused webhooks")
        constraints = [
            models.UniqueConstraint(fields=["channel", "provider", "day"], name="signaturerejection_unique_day")
        ]

    def __str__(self) -> str:
        return f"{self.channel_id} {self.provider} {self.day}: {self.count}"


class PendingReceipt(models.Model):
    """A delivery receipt that arrived before the provider's id of its outbound message was recorded.

    Applied (and deleted) when the sender records that id, so that a fast provider's "delivered" is never lost.
    """

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="pending_receipts")
    external_id = models.CharField(_("external id"), max_length=200)
    status = models.CharField(_("status"), max_length=16)
    error = models.TextField(_("error"), blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("pending receipt")
        verbose_name_plural = _("pending receipts")
        indexes = [models.Index(fields=["channel", "external_id"], name="pendingreceipt_lookup")]

    def __str__(self) -> str:
        return f"{self.external_id}: {self.status}"
